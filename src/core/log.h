/*
 * log: one line per message on stderr (journald adds its own timestamps when run as a
 * service, so we print a monotonic-ish wall clock only when stderr is a terminal).
 *
 * Each source file defines LOG_TAG (a short module name) before including this header and
 * logs through the LOG_* macros, so every line says where it came from.
 */
#ifndef IPKVM_CORE_LOG_H
#define IPKVM_CORE_LOG_H

enum ipkvm_log_level {
	IPKVM_LOG_ERROR = 0,
	IPKVM_LOG_WARN = 1,
	IPKVM_LOG_INFO = 2,
	IPKVM_LOG_DEBUG = 3,
};

void ipkvm_log_set_level(enum ipkvm_log_level level);
/* "error", "warn", "info", "debug"; returns 0 or -EINVAL. */
int ipkvm_log_level_parse(const char *s, enum ipkvm_log_level *out);

void ipkvm_log(enum ipkvm_log_level level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifndef LOG_TAG
#define LOG_TAG "ipkvm"
#endif
#define LOG_ERROR(...) ipkvm_log(IPKVM_LOG_ERROR, LOG_TAG, __VA_ARGS__)
#define LOG_WARN(...)  ipkvm_log(IPKVM_LOG_WARN, LOG_TAG, __VA_ARGS__)
#define LOG_INFO(...)  ipkvm_log(IPKVM_LOG_INFO, LOG_TAG, __VA_ARGS__)
#define LOG_DEBUG(...) ipkvm_log(IPKVM_LOG_DEBUG, LOG_TAG, __VA_ARGS__)

#endif
