/*
 * log: leveled logging to stderr. Thread-safe: each message is formatted into one buffer
 * and written with a single write(2), so lines from the capture and encoder threads never
 * interleave mid-line.
 */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum ipkvm_log_level log_level = IPKVM_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void ipkvm_log_set_level(enum ipkvm_log_level level)
{
	log_level = level;
}

int ipkvm_log_level_parse(const char *s, enum ipkvm_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum ipkvm_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void ipkvm_log(enum ipkvm_log_level level, const char *tag, const char *fmt, ...)
{
	if (level > log_level)
		return;
	int saved_errno = errno;
	char line[2048];
	size_t n = 0;
	if (isatty(STDERR_FILENO)) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ld ", ts.tv_nsec / 1000000);
	}
	int r = snprintf(line + n, sizeof(line) - n, "%-5s %-6s ", level_names[level], tag);
	if (r > 0)
		n += (size_t)r;
	va_list ap;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	errno = saved_errno;
}
