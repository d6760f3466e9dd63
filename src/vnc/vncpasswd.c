/*
 * vncpasswd: see vncpasswd.h. The file is opened once and its mode checked on that open
 * file (fstat), so what is read is what was checked. Password bytes are wiped wherever they
 * were held.
 */
#define LOG_TAG "vnc"
#include "vnc/vncpasswd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/authsvc.h"
#include "core/log.h"
#include "core/util.h"

/* Largest file read: 64 entries of the longest lines, with room for comments. */
#define FILE_MAX 65536

struct parse_ctx {
	const struct ipkvm_authsvc *auth;
	struct ipkvm_rfb_vncauth_entry *e; /* IPKVM_VNCPASSWD_MAX of them */
	size_t n;
	const char *name;
};

static int parse_line(void *ctx, char *line, char *msg, size_t msglen)
{
	struct parse_ctx *p = ctx;
	char *colon = strchr(line, ':');
	if (!colon) {
		ipkvm_errf(msg, msglen, "expected user:password");
		return -EINVAL;
	}
	*colon = '\0';
	const char *user = line, *pw = colon + 1;
	if (!ipkvm_user_name_valid(user)) {
		ipkvm_errf(msg, msglen, "\"%s\" is not a valid user name", user);
		return -EINVAL;
	}
	if (p->auth && !ipkvm_authsvc_user(p->auth, user)) {
		ipkvm_errf(msg, msglen,
			   "no ipkvm user \"%s\" (each entry names an existing user, whose role "
			   "the VNC client gets; add one with `ipkvmd user add`)",
			   user);
		return -ENOENT;
	}
	if (!*pw) {
		ipkvm_errf(msg, msglen, "empty password for %s", user);
		return -EINVAL;
	}
	if (p->n == IPKVM_VNCPASSWD_MAX) {
		ipkvm_errf(msg, msglen, "more than %d entries", IPKVM_VNCPASSWD_MAX);
		return -E2BIG;
	}
	struct ipkvm_rfb_vncauth_entry *e = &p->e[p->n];
	memset(e, 0, sizeof(*e));
	ipkvm_strlcpy(e->user, user, sizeof(e->user));
	/* VncAuth keys DES with the first 8 bytes; the rest would never be checked. */
	size_t pl = strlen(pw);
	memcpy(e->password, pw, pl < 8 ? pl : 8);
	for (size_t i = 0; i < p->n; i++) {
		if (memcmp(p->e[i].password, e->password, sizeof(e->password)) == 0) {
			explicit_bzero(e, sizeof(*e));
			ipkvm_errf(msg, msglen,
				   "%s's password is the same as %s's in its first 8 characters "
				   "(VncAuth sends no user name: the password alone must tell who "
				   "connects)",
				   user, p->e[i].user);
			return -EINVAL;
		}
	}
	if (pl > 8)
		LOG_WARN("%s: %s's password is %zu characters long; VncAuth checks only the "
			 "first 8",
			 p->name, user, pl);
	p->n++;
	return 0;
}

int ipkvm_vncpasswd_parse(char *buf, size_t len, const char *name, const struct ipkvm_authsvc *auth,
			  struct ipkvm_rfb_vncauth_entry **out, size_t *n, char *err, size_t errlen)
{
	struct parse_ctx p = {.auth = auth, .name = name};
	*out = NULL;
	*n = 0;
	p.e = calloc(IPKVM_VNCPASSWD_MAX, sizeof(*p.e));
	if (!p.e) {
		ipkvm_errf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	int r = ipkvm_parse_records(buf, len, name, parse_line, &p, err, errlen);
	if (r == 0 && p.n == 0) {
		ipkvm_errf(err, errlen, "%s: no user:password entry", name);
		r = -EINVAL;
	}
	if (r < 0) {
		ipkvm_vncpasswd_free(p.e, IPKVM_VNCPASSWD_MAX);
		return r;
	}
	*out = p.e;
	*n = p.n;
	return 0;
}

int ipkvm_vncpasswd_load(const char *path, const struct ipkvm_authsvc *auth,
			 struct ipkvm_rfb_vncauth_entry **out, size_t *n, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int r;
	*out = NULL;
	*n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		ipkvm_errf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		ipkvm_errf(err, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		ipkvm_errf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		r = -EPERM;
		ipkvm_errf(err, errlen,
			   "%s holds passwords in the clear but group or others may access it "
			   "(mode %03o): chmod 600 it",
			   path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (st.st_size > FILE_MAX) {
		r = -EFBIG;
		ipkvm_errf(err, errlen, "%s: file is larger than %d bytes", path, FILE_MAX);
		goto out;
	}
	buf = malloc(FILE_MAX + 1);
	if (!buf) {
		r = -ENOMEM;
		ipkvm_errf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t k = read(fd, buf + len, FILE_MAX + 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			ipkvm_errf(err, errlen, "%s: %s", path, strerror(-r));
			goto out;
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > FILE_MAX) {
			r = -EFBIG;
			ipkvm_errf(err, errlen, "%s: file is larger than %d bytes", path, FILE_MAX);
			goto out;
		}
	}
	r = ipkvm_vncpasswd_parse(buf, len, path, auth, out, n, err, errlen);
out:
	if (buf) {
		explicit_bzero(buf, FILE_MAX + 1);
		free(buf);
	}
	close(fd);
	return r;
}

void ipkvm_vncpasswd_free(struct ipkvm_rfb_vncauth_entry *entries, size_t n)
{
	if (!entries)
		return;
	explicit_bzero(entries, n * sizeof(*entries));
	free(entries);
}
