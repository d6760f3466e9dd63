/*
 * util: the few helpers every module needs. Kept free of any module state so the unit
 * tests and the CLI subcommands can use them without a running daemon.
 */
#include "core/util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h> /* HWCAP_AES from glibc's bits/hwcap.h */
#elif defined(__arm__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

int ipkvm_random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t r = getrandom(p, len, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

void ipkvm_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int ipkvm_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void ipkvm_base64url_encode(const uint8_t *in, size_t len, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = tab[(v >> 6) & 63];
		if (i + 2 < len)
			out[o++] = tab[v & 63];
	}
	out[o] = '\0';
}

int ipkvm_strlcpy(char *dst, const char *src, size_t dstsz)
{
	size_t n = strlen(src);
	if (dstsz == 0)
		return -ENAMETOOLONG;
	if (n >= dstsz) {
		memcpy(dst, src, dstsz - 1);
		dst[dstsz - 1] = '\0';
		return -ENAMETOOLONG;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[4096];
	if (ipkvm_strlcpy(dir, path, sizeof(dir)) < 0)
		return -ENAMETOOLONG;
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* The temp file of an atomic write is "<path>" ATOMIC_TMP_SUFFIX + ATOMIC_TMP_RANDOM random
 * bytes in lower-case hex; ipkvm_remove_atomic_leftovers() recognises exactly that. */
#define ATOMIC_TMP_SUFFIX ".tmp-"
#define ATOMIC_TMP_RANDOM 6

int ipkvm_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4096];
	uint8_t rnd[ATOMIC_TMP_RANDOM];
	char rhex[2 * ATOMIC_TMP_RANDOM + 1];
	int r = ipkvm_random_bytes(rnd, sizeof(rnd));
	if (r < 0)
		return r;
	ipkvm_hex_encode(rnd, sizeof(rnd), rhex);
	if (snprintf(tmp, sizeof(tmp), "%s" ATOMIC_TMP_SUFFIX "%s", path, rhex) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* open() honours the umask; the caller's mode is what it asked for. */
	if (fchmod(fd, mode) < 0)
		goto err;
	const uint8_t *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto err;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto err;
	if (close(fd) < 0) {
		fd = -1;
		goto err;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto err;
	fsync_dir_of(path);
	return 0;
err:
	r = -errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

/* Whether name is base + ATOMIC_TMP_SUFFIX + the hex of ATOMIC_TMP_RANDOM bytes. */
static bool is_atomic_tmp_of(const char *name, const char *base)
{
	size_t bl = strlen(base), sl = strlen(ATOMIC_TMP_SUFFIX);
	if (strncmp(name, base, bl) != 0 || strncmp(name + bl, ATOMIC_TMP_SUFFIX, sl) != 0)
		return false;
	const char *hex = name + bl + sl;
	if (strlen(hex) != 2 * ATOMIC_TMP_RANDOM)
		return false;
	for (; *hex; hex++)
		if (!((*hex >= '0' && *hex <= '9') || (*hex >= 'a' && *hex <= 'f')))
			return false;
	return true;
}

int ipkvm_remove_atomic_leftovers(const char *path)
{
	char dir[4096];
	if (ipkvm_strlcpy(dir, path, sizeof(dir)) < 0)
		return -ENAMETOOLONG;
	char base[256];
	char *slash = strrchr(dir, '/');
	if (ipkvm_strlcpy(base, slash ? slash + 1 : dir, sizeof(base)) < 0)
		return -ENAMETOOLONG;
	if (!base[0])
		return -EINVAL;
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int r = -errno;
		close(dfd);
		return r;
	}
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_atomic_tmp_of(de->d_name, base))
			continue;
		/* unlinkat() without AT_REMOVEDIR never follows a symlink nor removes a
		 * directory: at worst a stray name is refused and stays. */
		if (unlinkat(dfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int ipkvm_write_attr(const char *path, const void *data, size_t len, bool create)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
	if (fd < 0)
		return -errno;
	int r = 0;
	ssize_t n = write(fd, data, len);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/* sysfs and configfs attributes claim a page (4096 bytes); a test tree may hold more. */
#define ATTR_READ_MAX 65536

int ipkvm_read_attr(const char *path, char *out, size_t len)
{
	char *buf = NULL;
	size_t got = 0;
	int r = ipkvm_read_file(path, ATTR_READ_MAX, &buf, &got);
	if (r < 0)
		return r;
	if (got > 0 && buf[got - 1] == '\n')
		buf[--got] = '\0';
	r = ipkvm_strlcpy(out, buf, len);
	free(buf);
	return r;
}

int ipkvm_read_file(const char *path, size_t max, char **out, size_t *out_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = 0;
	char *buf = NULL;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		r = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	if (out_len)
		*out_len = got;
out:
	free(buf);
	close(fd);
	return r;
}

void ipkvm_errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int ipkvm_parse_records(char *buf, size_t len, const char *name,
			int (*fn)(void *ctx, char *line, char *msg, size_t msglen), void *ctx,
			char *err, size_t errlen)
{
	char msg[256];
	size_t lineno = 0;
	int r = 0;
	ipkvm_errf(err, errlen, "%s", "");
	for (char *p = buf, *end = buf + len; r == 0 && p < end;) {
		char *le = memchr(p, '\n', (size_t)(end - p));
		le = le ? le : end;
		lineno++;
		*le = '\0';
		size_t ll = (size_t)(le - p);
		if (ll > 0 && p[ll - 1] == '\r')
			p[--ll] = '\0';
		if (strlen(p) != ll) {
			ipkvm_errf(err, errlen, "%s:%zu: NUL byte in line", name, lineno);
			r = -EINVAL;
		} else if (ll > 0 && p[0] != '#' && strspn(p, " \t") != ll) {
			msg[0] = '\0';
			r = fn(ctx, p, msg, sizeof(msg));
			if (r < 0)
				ipkvm_errf(err, errlen, "%s:%zu: %s", name, lineno,
					   msg[0] ? msg : strerror(-r));
		}
		p = le + 1;
	}
	return r;
}

int ipkvm_read_records(const char *path, size_t max,
		       int (*fn)(void *ctx, char *line, char *msg, size_t msglen), void *ctx,
		       char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	ipkvm_errf(err, errlen, "%s", "");
	int r = ipkvm_read_file(path, max, &buf, &len);
	if (r == -EFBIG)
		ipkvm_errf(err, errlen, "%s: file is larger than %zu bytes", path, max);
	else if (r < 0)
		ipkvm_errf(err, errlen, "%s: %s", path, strerror(-r));
	else
		r = ipkvm_parse_records(buf, len, path, fn, ctx, err, errlen);
	if (buf) {
		explicit_bzero(buf, len);
		free(buf);
	}
	return r;
}

int ipkvm_path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int ipkvm_mkdir_p(const char *dir, mode_t mode)
{
	char path[4096];
	if (ipkvm_strlcpy(path, dir, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, mode) < 0) {
		struct stat st;
		if (errno != EEXIST)
			return -errno;
		if (stat(path, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return 0;
}

int64_t ipkvm_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

int64_t ipkvm_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ipkvm_mono_ms(void)
{
	return ipkvm_mono_us() / 1000;
}

int64_t ipkvm_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ipkvm_mono_to_wall_us(int64_t mono_us)
{
	return ipkvm_wall_us() - (ipkvm_mono_us() - mono_us);
}

bool ipkvm_memeq_ct(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void ipkvm_client_key(const char *addr, char *out, size_t len)
{
	struct in6_addr a6;
	char text[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET6, addr, &a6) != 1) {
		snprintf(out, len, "%s", addr); /* IPv4, or no address at all */
		return;
	}
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof(text));
		snprintf(out, len, "%s", text);
		return;
	}
	memset(&a6.s6_addr[8], 0, 8);
	inet_ntop(AF_INET6, &a6, text, sizeof(text));
	snprintf(out, len, "%s/64", text);
}

bool ipkvm_cpu_has_aes(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_AES);
#elif defined(__aarch64__)
	return (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
#elif defined(__arm__) && defined(HWCAP2_AES)
	return (getauxval(AT_HWCAP2) & HWCAP2_AES) != 0;
#else
	return false;
#endif
}
