/*
 * util: small helpers shared by every module: random bytes, hex, atomic file writes,
 * string copies that cannot overflow, and time.
 */
#ifndef IPKVM_CORE_UTIL_H
#define IPKVM_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IPKVM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fills buf from the kernel CSPRNG (getrandom). Returns 0 or -errno. */
int ipkvm_random_bytes(void *buf, size_t len);

/* Lower-case hex of len bytes into out (needs 2*len+1). */
void ipkvm_hex_encode(const uint8_t *in, size_t len, char *out);
/* The value of hex digit c (either case), or -1. */
int ipkvm_hex_digit(int c);

/* base64url without padding of len bytes into out (needs 4*ceil(len/3)+1). */
void ipkvm_base64url_encode(const uint8_t *in, size_t len, char *out);

/* Copies src into dst (size dstsz), always NUL-terminated. Returns -ENAMETOOLONG when src
 * did not fit (dst then holds a truncated copy), 0 otherwise. */
int ipkvm_strlcpy(char *dst, const char *src, size_t dstsz);

/* Writes len bytes to path atomically: a temp file in the same directory with the given
 * mode, fsync, rename over path, fsync of the directory. Nothing is left behind on failure.
 * Returns 0 or -errno. */
int ipkvm_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Removes the temp files that writes of path killed midway (power loss, SIGKILL) left in its
 * directory: "<name>.tmp-" + 12 hex digits, exactly what ipkvm_write_file_atomic() makes.
 * A write in progress has such a file too: call this only where no other writer of path can
 * be at work (under the lock every writer of path holds). Returns how many were removed, or
 * -errno. */
int ipkvm_remove_atomic_leftovers(const char *path);

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer. Refuses files larger
 * than max bytes with -EFBIG. Returns 0 or -errno; *out_len may be NULL. */
int ipkvm_read_file(const char *path, size_t max, char **out, size_t *out_len);

/* Writes a sysfs or configfs attribute: the whole value in one write(), since the kernel
 * takes each write as one complete value (a short write is -EIO, a failed close counts).
 * create makes the file (0644) when absent, for a plain directory standing in for configfs;
 * without it a missing attribute is -ENOENT, as the kernel makes every attribute its object
 * has. Returns 0 or -errno. */
int ipkvm_write_attr(const char *path, const void *data, size_t len, bool create);
/* Reads a one-line attribute into out (size len) without its trailing newline. Returns 0,
 * -ENAMETOOLONG when it did not fit (out then holds a truncated copy) or another -errno. */
int ipkvm_read_attr(const char *path, char *out, size_t len);

/* snprintf into an optional error buffer: nothing happens when err is NULL or errlen 0. */
void ipkvm_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads a small file of one record per line ('#' comments and blank lines skipped, CRLF
 * accepted, NUL bytes refused) and calls fn(ctx, line, msg, msglen) for each record; fn
 * returns 0, or a negative errno with msg saying what is wrong with the line. Returns 0,
 * -ENOENT, -EFBIG (over max bytes), another -errno, or fn's error; err (may be NULL) then
 * reads "PATH: what" or "PATH:LINE: what". The file's bytes are wiped before being freed. */
int ipkvm_read_records(const char *path, size_t max,
		       int (*fn)(void *ctx, char *line, char *msg, size_t msglen), void *ctx,
		       char *err, size_t errlen);
/* The same on text already in memory (a file's bytes, or a fuzzer's input): buf holds len
 * bytes and one more writable byte after them (lines are cut in place, the last one at
 * buf[len]); name stands for the path in err. */
int ipkvm_parse_records(char *buf, size_t len, const char *name,
			int (*fn)(void *ctx, char *line, char *msg, size_t msglen), void *ctx,
			char *err, size_t errlen);

/* out = dir + "/" + name. Returns 0 or -ENAMETOOLONG. */
int ipkvm_path_join(char *out, size_t len, const char *dir, const char *name);

/* Creates dir (and missing parents) with mode. Returns 0 or -errno. */
int ipkvm_mkdir_p(const char *dir, mode_t mode);

/* The clocks, read in one place: seconds since the epoch; CLOCK_MONOTONIC in microseconds
 * (frame capture times, pacing, rate windows) and in milliseconds (timers, deadlines);
 * CLOCK_REALTIME in microseconds; the wall-clock time of a CLOCK_MONOTONIC microsecond
 * timestamp (when a frame was captured, for the clients' latency figures). */
int64_t ipkvm_now(void);
int64_t ipkvm_mono_us(void);
int64_t ipkvm_mono_ms(void);
int64_t ipkvm_wall_us(void);
int64_t ipkvm_mono_to_wall_us(int64_t mono_us);

/* Whether this CPU has AES instructions (x86 AES-NI, the Armv8 Cryptography Extension);
 * false on CPUs we cannot tell about, where software AES is slow too. */
bool ipkvm_cpu_has_aes(void);

/* Constant-time comparison of two equal-length buffers. */
bool ipkvm_memeq_ct(const void *a, const void *b, size_t len);

/* The client a connection or a login attempt is counted as: an IPv4 address as it is (also
 * when it comes IPv4-mapped, "::ffff:a.b.c.d"), an IPv6 address as its /64
 * ("2001:db8:1:2::/64"), since one host owns a whole /64. Other text is copied. */
#define IPKVM_CLIENT_KEY_MAX 48
void ipkvm_client_key(const char *addr, char *out, size_t len);

#endif
