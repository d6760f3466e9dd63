/*
 * mjpeg_client: see mjpeg_client.h.
 */
#include "mjpeg_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int64_t mjc_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int mjc_connect_loopback(int port, int timeout_s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = timeout_s};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

SSL *mjc_tls_on(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl) {
		close(fd);
		return NULL;
	}
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

/* Closes without a close_notify. With lws 4.1.6 as ipkvmd drives it, a client that sends
 * close_notify and closes at once leaves the daemon's main thread retrying the reply alert
 * into the dead socket (EPIPE, POLLHUP, again) at 100 % of a core until the 20 s connection
 * timeout; a bench must not measure that on top of the video path. */
void mjc_tls_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);
	SSL_free(ssl);
	close(fd);
}

int mjc_open(struct mjc_client *c, int port, SSL_CTX *ctx, const char *request, char *err,
	     size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->fd = mjc_connect_loopback(port, 5);
	if (c->fd < 0) {
		snprintf(err, errlen, "cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
		return -1;
	}
	int n = (int)strlen(request);
	if (ctx) {
		c->ssl = mjc_tls_on(ctx, c->fd);
		if (!c->ssl) {
			snprintf(err, errlen, "TLS handshake failed: %s",
				 ERR_error_string(ERR_get_error(), NULL));
			c->fd = -1;
			return -1;
		}
		if (SSL_write(c->ssl, request, n) != n) {
			snprintf(err, errlen, "cannot send the request");
			mjc_close(c);
			return -1;
		}
	} else if (send(c->fd, request, (size_t)n, MSG_NOSIGNAL) != n) {
		snprintf(err, errlen, "cannot send the request: %s", strerror(errno));
		mjc_close(c);
		return -1;
	}
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		mjc_close(c);
		return -1;
	}
	return 0;
}

void mjc_close(struct mjc_client *c)
{
	if (c->ssl)
		mjc_tls_close(c->ssl);
	else if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

static int part_done(struct mjc_client *c, int64_t now, struct mjc_handler *h)
{
	c->state = MJC_PART_HEADER;
	return h->on_part ? h->on_part(c, now, h->arg, h->err, sizeof(h->err)) : 0;
}

/* k body bytes of the current part arrived (now: when the read returned). */
static int body_bytes(struct mjc_client *c, size_t k, int64_t now, struct mjc_handler *h)
{
	c->body_left -= k;
	return c->body_left == 0 ? part_done(c, now, h) : 0;
}

static int response_header(struct mjc_client *c, struct mjc_handler *h)
{
	if (strncmp(c->hdr, "HTTP/1.1 200", 12) != 0 && strncmp(c->hdr, "HTTP/1.0 200", 12) != 0) {
		snprintf(h->err, sizeof(h->err), "the stream answered \"%.*s\"",
			 (int)strcspn(c->hdr, "\r\n"), c->hdr);
		return -1;
	}
	const char *ct = strcasestr(c->hdr, "\ncontent-type:");
	if (!ct || !strcasestr(ct, "multipart/x-mixed-replace")) {
		snprintf(h->err, sizeof(h->err), "the stream is not multipart/x-mixed-replace");
		return -1;
	}
	if (strcasestr(c->hdr, "\ntransfer-encoding:")) {
		snprintf(h->err, sizeof(h->err),
			 "the stream uses a transfer-encoding (not expected, not handled)");
		return -1;
	}
	c->state = MJC_PART_HEADER;
	return 0;
}

/* A header field's value (just after "name:"), or NULL. Fields start a line. */
static const char *field(const char *hdr, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = hdr; (p = strcasestr(p, name)) != NULL; p++)
		if ((p == hdr || p[-1] == '\n') && p[len] == ':')
			return p + len + 1;
	return NULL;
}

static int part_header(struct mjc_client *c, struct mjc_handler *h)
{
	const char *cl = field(c->hdr, "content-length");
	if (!cl) {
		snprintf(h->err, sizeof(h->err), "malformed part header \"%.*s\"", 200, c->hdr);
		return -1;
	}
	c->body_len = c->body_left = strtoull(cl, NULL, 10);
	const char *v = field(c->hdr, "x-capture-us");
	c->has_capture = v != NULL;
	c->capture_us = v ? strtoll(v, NULL, 10) : 0;
	v = field(c->hdr, "x-sequence");
	c->has_seq = v != NULL;
	c->seq = v ? strtoull(v, NULL, 10) : 0;
	v = field(c->hdr, "x-ustreamer-grab-time");
	c->has_grab = v != NULL;
	c->grab_s = v ? strtod(v, NULL) : 0;
	if (c->body_len == 0) {
		snprintf(h->err, sizeof(h->err), "a part with Content-Length 0");
		return -1;
	}
	c->state = MJC_BODY;
	return 0;
}

/* Feeds n received bytes into the connection's parser. 0, or -1 with h->err set. */
static int feed(struct mjc_client *c, const char *p, size_t n, int64_t now, struct mjc_handler *h)
{
	while (n > 0) {
		if (c->state == MJC_BODY) {
			size_t k = n < c->body_left ? n : c->body_left;
			if (body_bytes(c, k, now, h) < 0)
				return -1;
			p += k;
			n -= k;
			continue;
		}
		/* A header: gather it until its blank line. Only the bytes that belong to it are
		 * taken; the rest of p is the body or the next header. */
		size_t old = c->hlen, room = MJC_HDR_MAX - 1 - old, k = n < room ? n : room;
		memcpy(c->hdr + old, p, k);
		c->hlen += k;
		size_t from = old >= 3 ? old - 3 : 0;
		char *end = memmem(c->hdr + from, c->hlen - from, "\r\n\r\n", 4);
		if (!end) {
			if (c->hlen == MJC_HDR_MAX - 1) {
				snprintf(h->err, sizeof(h->err), "a header longer than %d bytes",
					 MJC_HDR_MAX);
				return -1;
			}
			p += k;
			n -= k;
			continue;
		}
		size_t hend = (size_t)(end + 4 - c->hdr), used = hend - old;
		c->hdr[hend] = '\0';
		c->hlen = 0;
		p += used;
		n -= used;
		if (c->state == MJC_RESPONSE ? response_header(c, h) < 0 : part_header(c, h) < 0)
			return -1;
	}
	return 0;
}

static void set_events(int ep, struct mjc_client *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

int mjc_service(int ep, struct mjc_client *c, struct mjc_handler *h, char *rbuf)
{
	if (c->ssl) {
		/* Until WANT_READ: bytes OpenSSL has already decrypted (or read ahead) would
		 * never wake epoll again. */
		for (;;) {
			int n = SSL_read(c->ssl, rbuf, MJC_RBUF);
			if (n > 0) {
				if (c->want_write) {
					c->want_write = false;
					set_events(ep, c, EPOLLIN);
				}
				if (feed(c, rbuf, (size_t)n, mjc_mono_us(), h) < 0)
					return -1;
				continue;
			}
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ)
				return 0;
			if (e == SSL_ERROR_WANT_WRITE) {
				if (!c->want_write) {
					c->want_write = true;
					set_events(ep, c, EPOLLIN | EPOLLOUT);
				}
				return 0;
			}
			if (e == SSL_ERROR_ZERO_RETURN ||
			    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
				snprintf(h->err, sizeof(h->err), "the daemon closed the stream");
			else
				snprintf(h->err, sizeof(h->err), "TLS read failed: %s",
					 ERR_error_string(ERR_get_error(), NULL));
			return -1;
		}
	}
	/* Plain: a header is read in small pieces; a body is discarded in the kernel, up to
	 * its end, so a read never runs past the part and its time is the part's arrival. */
	for (int i = 0; i < 64; i++) {
		size_t want;
		ssize_t n;
		if (c->state == MJC_BODY) {
			want = c->body_left;
			n = recv(c->fd, NULL, want, MSG_TRUNC | MSG_DONTWAIT);
		} else {
			want = MJC_HDR_READ;
			n = recv(c->fd, rbuf, want, MSG_DONTWAIT);
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			snprintf(h->err, sizeof(h->err), "read failed: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			snprintf(h->err, sizeof(h->err), "the daemon closed the stream");
			return -1;
		}
		int64_t now = mjc_mono_us();
		if (c->state == MJC_BODY ? body_bytes(c, (size_t)n, now, h) < 0
					 : feed(c, rbuf, (size_t)n, now, h) < 0)
			return -1;
		if ((size_t)n < want)
			return 0; /* drained for now: epoll (level-triggered) says when there is
				     more */
	}
	return 0;
}

int mjc_http_get(int port, const char *token, const char *path, char *body, size_t bodylen)
{
	char req[512], resp[16384];
	int fd = mjc_connect_loopback(port, 3);
	if (fd < 0)
		return -1;
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%sConnection: close\r\n\r\n",
			 path, port, token ? "Authorization: Bearer " : "", token ? token : "",
			 token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		close(fd);
		return -1;
	}
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	ssize_t r;
	while (got < sizeof(resp) - 1 &&
	       (r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0)) > 0) {
		got += (size_t)r;
		resp[got] = '\0';
		char *end = strstr(resp, "\r\n\r\n"), *cl = strcasestr(resp, "content-length:");
		if (end && cl && cl < end &&
		    got - (size_t)(end + 4 - resp) >= strtoul(cl + 15, NULL, 10))
			break;
	}
	close(fd);
	resp[got] = '\0';
	char *end = strstr(resp, "\r\n\r\n");
	if (!end || strncmp(resp, "HTTP/1.1 200", 12) != 0)
		return -1;
	snprintf(body, bodylen, "%s", end + 4);
	return 0;
}

double mjc_json_num(const char *json, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\"", key);
	const char *p = strstr(json, k);
	if (!p || !(p = strchr(p + strlen(k), ':')))
		return -1;
	return strtod(p + 1, NULL);
}
