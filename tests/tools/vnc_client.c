/*
 * vnc-client: a real VNC client (Debian's libvncclient) for the VNC server's integration
 * tests. One connection, a list of actions run in order, one JSON line at the end.
 *
 *   vnc-client [OPTIONS] HOST PORT ACTION...
 *   vnc-client --jpeg-to-ppm IN.jpg OUT.ppm
 *
 * Options:
 *   --security x509plain|tlsplain|vncauth|none   the only security type the client accepts
 *                         (default tlsplain)
 *   --user NAME           VeNCrypt Plain user name (default admin)
 *   --password PW         the password (VeNCrypt Plain or VncAuth); default: $VNC_PASSWORD
 *   --ca FILE             X509Plain: the CA certificate that must have signed the server's
 *                         (the daemon's own cert.pem); the host name is checked against it
 *   --encodings LIST      libvncclient's encodings string, space-separated ("tight", "zrle",
 *                         "raw", ...); "h264" asks for Open H.264 (50) first, which
 *                         libvncclient cannot decode: its rectangles are counted and their
 *                         access units written to --h264-out
 *   --quality N           Tight JPEG quality level 0..9 (-1: do not ask; default 8)
 *   --compress N          compression level 0..9 (default 1)
 *   --h264-out FILE       the Open H.264 access units received, as an Annex-B stream
 *   --timeout S           bound of every wait (default 10 s)
 *   --verbose             libvncclient's log on stderr
 * Actions:
 *   updates:N             wait for N more framebuffer updates
 *   jpegs:N               wait until N Tight JPEG rectangles have arrived in all
 *   h264:N                wait until N Open H.264 rectangles have arrived in all
 *   save:FILE             write the framebuffer as a binary PPM (P6)
 *   key:SYM, keydown:SYM, keyup:SYM   KeyEvent by keysym (0x... hex, a name such as Return,
 *                         Caps_Lock, Shift_L, or one printable character); key = down + up
 *   type:TEXT             KeyEvent down + up per character (its Latin-1 keysym)
 *   ext:QNUM[:SYM], extdown:..., extup:...   QEMU Extended Key Event (XT scancode "qnum",
 *                         and the keysym, 0 when absent); fails unless the server
 *                         acknowledged the pseudo-encoding first
 *   pointer:X,Y,MASK      PointerEvent
 *   cut:TEXT              ClientCutText
 *   led:MASK              wait until the server reports these lock LEDs (QEMU LED State
 *                         order: 1 Scroll, 2 Num, 4 Caps; VMware LED State when that is all
 *                         the server sent)
 *   size:WxH              wait until the framebuffer is W x H (DesktopSize/ExtendedDesktopSize)
 *   hold:MS               keep serving the connection for MS milliseconds
 *   fps:MS                the same, and report the framebuffer updates per second over it
 *   mark                  print {"event":"mark",...} at once (flushed): the test knows the
 *                         session is up and acts meanwhile (deletes the user, ...)
 *   closed                wait until the server closes the connection (close_ms: since the
 *                         last mark)
 *   keylat:N              key -> pixel: N keys ('a' and BackSpace in turn), each timed from
 *                         its KeyEvent to the first update that changed the framebuffer
 *                         (keylat: p50/p95/max of when its JPEG arrived and was decoded)
 * The JSON line: ok, error, security (the type used: "x509plain", "tlsplain", "vncauth",
 * "none"), security_type and vencrypt_subtype (numbers), offered and vencrypt_offered (what
 * the server listed), auth_failed and reason (the server's failure reason), desktop, width,
 * height, sizes (every framebuffer size, in order), updates, rects, jpeg_rects, h264_rects,
 * h264_bytes, qemu_ext_key (the server acknowledged Extended Key Events), led, vmware_led
 * (-1: never reported), server_cut_text (bytes), fps, keylat, closed_by_server, close_ms, log (the
 * last lines of libvncclient's log).
 * Exit status: 0 when every action succeeded, 1 when one failed (the JSON says why), 2 on
 * usage errors.
 *
 * Shape. libvncclient picks a VeNCrypt subtype by itself (the first encrypted one the server
 * lists) and has no API to restrict it, so the client talks to the server through a small
 * relay thread on a socketpair: the relay passes every byte, reads the security lists on the
 * way (plain text before TLS starts) and narrows the server's VeNCrypt subtype list to the
 * one asked for, so the test proves which subtype was used (and that the server lists it).
 * Top-level types are restricted with SetClientAuthSchemes(). libvncclient knows neither the
 * QEMU nor the VMware LED State pseudo-encoding (its own "KeyboardLedState" is LibVNCServer's
 * 0xFFFE0000), nor Open H.264: a protocol extension announces and reads them. Tight JPEG
 * rectangles are decoded here (the GotJpeg hook, with libjpeg) so they can be counted.
 * libvncclient's WaitForMessage() looks only at the socket, so the pump also serves what is
 * already buffered in the client and in GnuTLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>
#include <rfb/rfbclient.h>
#include <setjmp.h>

enum {
	LOG_LINES = 24,
	LOG_LINE_MAX = 240,
	MAX_SIZES = 16,
	MAX_OFFERED = 32,
	ENC_QEMU_LED = -261,
	ENC_VMWARE_LED = 0x574d5668,
	ENC_OPEN_H264 = 50,
};

enum security { SEC_TLSPLAIN, SEC_X509PLAIN, SEC_VNCAUTH, SEC_NONE };
static const char *const security_names[] = {"tlsplain", "x509plain", "vncauth", "none"};

struct options {
	const char *host;
	int port;
	enum security security;
	const char *user, *password, *ca;
	const char *encodings;
	bool h264;
	int quality, compress;
	const char *h264_out;
	int timeout_ms;
	bool verbose;
};

/* The relay between libvncclient's end of the socketpair and the server. */
struct relay {
	int lib_fd, srv_fd;
	uint32_t want_subtype; /* 0: pass the VeNCrypt list unchanged */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* the fields below */
	uint8_t offered[MAX_OFFERED];
	int n_offered;
	uint32_t vencrypt_offered[MAX_OFFERED];
	int n_vencrypt_offered;
	char error[256];
};

struct state {
	struct options opt;
	rfbClient *cl;
	struct relay relay;
	MallocFrameBufferProc orig_malloc;
	FILE *h264;
	unsigned long updates, rects, jpeg_rects, h264_rects, h264_bytes, server_cut;
	int led, vmware_led, led_libvnc;
	char sizes[MAX_SIZES][24];
	int n_sizes;
	bool connected, closed;
	int64_t mark_ms, close_ms;
	double fps;
	bool have_fps;
	int64_t jpeg_in_us, jpeg_done_us; /* the last Tight JPEG: arrived, decoded */
	double *keylat_recv, *keylat_shown;
	int n_keylat;
	char error[512];
	char log[LOG_LINES][LOG_LINE_MAX];
	unsigned n_log;
};

static struct state st;

/* LeakSanitizer (the ASan build): libvncclient 0.9.14 never frees the GnuTLS certificate
 * credentials of an X509 VeNCrypt handshake (its allocations live in GnuTLS and libtasn1).
 * The client's own allocations stay checked. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libgnutls.so\nleak:libtasn1.so\n";
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

__attribute__((format(printf, 1, 2))) static void set_error(const char *fmt, ...)
{
	if (st.error[0])
		return; /* the first failure is the one that counts */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st.error, sizeof(st.error), fmt, ap);
	va_end(ap);
}

/* libvncclient's log: kept (the last lines go into the JSON), on stderr with --verbose. */
__attribute__((format(printf, 1, 2))) static void client_log(const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	if (st.opt.verbose)
		fprintf(stderr, "libvncclient: %s\n", line);
	memcpy(st.log[st.n_log % LOG_LINES], line, n + 1);
	st.n_log++;
}

/* ---- JSON output ------------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void print_keylat(FILE *f)
{
	int n = st.n_keylat;
	if (!n) {
		fputs("null", f);
		return;
	}
	qsort(st.keylat_recv, (size_t)n, sizeof(double), cmp_double);
	qsort(st.keylat_shown, (size_t)n, sizeof(double), cmp_double);
	int p95 = (int)(0.95 * (n - 1) + 0.5);
	fprintf(f,
		"{\"n\":%d,\"recv_p50\":%.2f,\"recv_p95\":%.2f,\"recv_max\":%.2f,"
		"\"shown_p50\":%.2f,\"shown_p95\":%.2f,\"shown_max\":%.2f}",
		n, st.keylat_recv[n / 2], st.keylat_recv[p95], st.keylat_recv[n - 1],
		st.keylat_shown[n / 2], st.keylat_shown[p95], st.keylat_shown[n - 1]);
}

static void print_result(bool ok)
{
	FILE *f = stdout;
	struct relay *r = &st.relay;
	pthread_mutex_lock(&r->lock);
	if (r->error[0])
		set_error("%s", r->error);
	fprintf(f, "{\"ok\":%s,\"error\":", ok ? "true" : "false");
	if (st.error[0])
		json_str(f, st.error);
	else
		fputs("null", f);
	rfbClient *cl = st.cl;
	bool authed = st.connected && cl;
	fputs(",\"security\":", f);
	if (authed)
		json_str(f, security_names[st.opt.security]);
	else
		fputs("null", f);
	fprintf(f, ",\"security_type\":%d,\"vencrypt_subtype\":%d",
		authed ? (int)cl->authScheme : 0, authed ? (int)cl->subAuthScheme : 0);
	fputs(",\"offered\":[", f);
	for (int i = 0; i < r->n_offered; i++)
		fprintf(f, "%s%u", i ? "," : "", r->offered[i]);
	fputs("],\"vencrypt_offered\":[", f);
	for (int i = 0; i < r->n_vencrypt_offered; i++)
		fprintf(f, "%s%u", i ? "," : "", r->vencrypt_offered[i]);
	pthread_mutex_unlock(&r->lock);
	/* The server's failure reason, as libvncclient logged it. */
	const char *reason = NULL;
	bool auth_failed = false;
	unsigned first = st.n_log > LOG_LINES ? st.n_log - LOG_LINES : 0;
	for (unsigned i = first; i < st.n_log; i++) {
		const char *l = st.log[i % LOG_LINES];
		if (strncmp(l, "VNC connection failed: ", 23) == 0) {
			reason = l + 23;
			auth_failed = true;
		} else if (strstr(l, "VNC authentication failed")) {
			auth_failed = true;
		}
	}
	fprintf(f, "],\"auth_failed\":%s,\"reason\":", auth_failed ? "true" : "false");
	if (reason)
		json_str(f, reason);
	else
		fputs("null", f);
	fputs(",\"desktop\":", f);
	if (authed && cl->desktopName)
		json_str(f, cl->desktopName);
	else
		fputs("null", f);
	fprintf(f, ",\"width\":%d,\"height\":%d,\"sizes\":[", authed ? cl->width : 0,
		authed ? cl->height : 0);
	for (int i = 0; i < st.n_sizes; i++) {
		if (i)
			fputc(',', f);
		json_str(f, st.sizes[i]);
	}
	fprintf(f,
		"],\"updates\":%lu,\"rects\":%lu,\"jpeg_rects\":%lu,\"h264_rects\":%lu,"
		"\"h264_bytes\":%lu,\"qemu_ext_key\":%s,\"led\":%d,\"vmware_led\":%d,"
		"\"libvnc_led\":%d,\"server_cut_text\":%lu,\"fps\":",
		st.updates, st.rects, st.jpeg_rects, st.h264_rects, st.h264_bytes,
		authed && SupportsClient2Server(cl, rfbQemuEvent) ? "true" : "false", st.led,
		st.vmware_led, st.led_libvnc, st.server_cut);
	if (st.have_fps)
		fprintf(f, "%.2f", st.fps);
	else
		fputs("null", f);
	fputs(",\"keylat\":", f);
	print_keylat(f);
	fprintf(f, ",\"closed_by_server\":%s,\"close_ms\":", st.closed ? "true" : "false");
	if (st.closed && st.close_ms >= 0)
		fprintf(f, "%lld", (long long)st.close_ms);
	else
		fputs("null", f);
	fputs(",\"log\":[", f);
	for (unsigned i = first; i < st.n_log; i++) {
		if (i != first)
			fputc(',', f);
		json_str(f, st.log[i % LOG_LINES]);
	}
	fputs("]}\n", f);
	fflush(f);
}

/* ---- the relay ---------------------------------------------------------------------------- */

static int relay_read(struct relay *r, int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	int64_t deadline = mono_ms() + st.opt.timeout_ms;
	while (n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		ssize_t k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ECONNRESET;
		p += k;
		n -= (size_t)k;
	}
	(void)r;
	return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Copies n bytes from one side to the other (into out when set). */
static int relay_copy(struct relay *r, int from, int to, void *out, size_t n)
{
	uint8_t tmp[1024];
	uint8_t *buf = out ? out : tmp;
	if (n > sizeof(tmp) && !out)
		return -EINVAL;
	int ret = relay_read(r, from, buf, n);
	if (ret == 0)
		ret = write_all(to, buf, n);
	return ret;
}

__attribute__((format(printf, 2, 3))) static void relay_fail(struct relay *r, const char *fmt, ...)
{
	pthread_mutex_lock(&r->lock);
	if (!r->error[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->error, sizeof(r->error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&r->lock);
}

static const char *subtype_name(uint32_t t)
{
	switch (t) {
	case rfbVeNCryptTLSPlain:
		return "TLSPlain";
	case rfbVeNCryptX509Plain:
		return "X509Plain";
	default:
		return "?";
	}
}

/* The plain-text part of the handshake: security lists read, the VeNCrypt one narrowed. */
static int relay_handshake(struct relay *r)
{
	int L = r->lib_fd, S = r->srv_fd, ret;
	char ver[13] = {0};
	if ((ret = relay_copy(r, S, L, ver, 12)) || (ret = relay_copy(r, L, S, ver, 12)))
		return ret;
	int major = 0, minor = 0;
	if (sscanf(ver, "RFB %d.%d", &major, &minor) != 2)
		return -EPROTO;
	if (major == 3 && minor < 7) {
		uint8_t t[4];
		return relay_copy(r, S, L, t, 4); /* 3.3: the server chose; nothing to narrow */
	}
	uint8_t n = 0, types[255];
	if ((ret = relay_copy(r, S, L, &n, 1)))
		return ret;
	if (n == 0)
		return 0; /* a failure reason follows: passed through */
	if ((ret = relay_copy(r, S, L, types, n)))
		return ret;
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < n && i < MAX_OFFERED; i++)
		r->offered[r->n_offered++] = types[i];
	pthread_mutex_unlock(&r->lock);
	uint8_t choice = 0;
	if ((ret = relay_copy(r, L, S, &choice, 1)))
		return ret;
	if (choice != rfbVeNCrypt)
		return 0;
	uint8_t v[2], status = 0;
	if ((ret = relay_copy(r, S, L, v, 2)) || (ret = relay_copy(r, L, S, v, 2)) ||
	    (ret = relay_copy(r, S, L, &status, 1)))
		return ret;
	if (status != 0)
		return 0;
	uint8_t count = 0;
	if ((ret = relay_read(r, S, &count, 1)))
		return ret;
	uint32_t subs[255];
	if (count && (ret = relay_read(r, S, subs, (size_t)count * 4)))
		return ret;
	bool found = false;
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < count; i++) {
		uint32_t t = ntohl(subs[i]);
		if (r->n_vencrypt_offered < MAX_OFFERED)
			r->vencrypt_offered[r->n_vencrypt_offered++] = t;
		found |= t == r->want_subtype;
	}
	pthread_mutex_unlock(&r->lock);
	if (r->want_subtype && !found) {
		relay_fail(r, "the server does not offer VeNCrypt %s",
			   subtype_name(r->want_subtype));
		uint8_t zero = 0;
		write_all(L, &zero, 1); /* libvncclient gives up on an empty list */
		return -ENOENT;
	}
	if (r->want_subtype) {
		uint8_t msg[5] = {1};
		uint32_t be = htonl(r->want_subtype);
		memcpy(msg + 1, &be, 4);
		return write_all(L, msg, sizeof(msg));
	}
	if ((ret = write_all(L, &count, 1)))
		return ret;
	return write_all(L, subs, (size_t)count * 4);
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	int ret = relay_handshake(r);
	if (ret && ret != -ENOENT && ret != -ECONNRESET)
		relay_fail(r, "handshake relay: %s", strerror(-ret));
	if (ret == 0) {
		static uint8_t buf[1 << 16];
		struct pollfd p[2] = {{.fd = r->lib_fd, .events = POLLIN},
				      {.fd = r->srv_fd, .events = POLLIN}};
		for (;;) {
			int pr = poll(p, 2, -1);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr < 0)
				break;
			int i = (p[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 0 : 1;
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t k = read(p[i].fd, buf, sizeof(buf));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0 || write_all(p[1 - i].fd, buf, (size_t)k) < 0)
				break;
		}
	}
	/* Either side ended: both do. libvncclient sees the end on its next read. */
	shutdown(r->lib_fd, SHUT_RDWR);
	shutdown(r->srv_fd, SHUT_RDWR);
	return NULL;
}

static int connect_server(const char *host, int port)
{
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (getaddrinfo(host, portstr, &hints, &res) != 0)
		return -1;
	int fd = -1;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			/* As libvncclient does on its own sockets: a key event must not wait for
			 * the ACK of the update request before it (Nagle). */
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* ---- libvncclient hooks ---------------------------------------------------------------- */

static char *get_password(rfbClient *cl)
{
	(void)cl;
	return strdup(st.opt.password ? st.opt.password : "");
}

static rfbCredential *get_credential(rfbClient *cl, int type)
{
	(void)cl;
	rfbCredential *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (type == rfbCredentialTypeUser) {
		c->userCredential.username = strdup(st.opt.user);
		c->userCredential.password = strdup(st.opt.password ? st.opt.password : "");
		return c;
	}
	if (type == rfbCredentialTypeX509 && st.opt.security == SEC_X509PLAIN && st.opt.ca) {
		c->x509Credential.x509CACertFile = strdup(st.opt.ca);
		return c;
	}
	free(c);
	return NULL;
}

static rfbBool malloc_fb(rfbClient *cl)
{
	if (st.n_sizes < MAX_SIZES)
		snprintf(st.sizes[st.n_sizes++], sizeof(st.sizes[0]), "%dx%d", cl->width,
			 cl->height);
	return st.orig_malloc(cl);
}

static void got_update(rfbClient *cl, int x, int y, int w, int h)
{
	(void)cl, (void)x, (void)y, (void)w, (void)h;
	st.rects++;
}

static void finished_update(rfbClient *cl)
{
	(void)cl;
	st.updates++;
}

/* ---- JPEG (libjpeg: libvncclient exports an old TurboJPEG API of its own, whose symbols
 * would shadow libturbojpeg's) ------------------------------------------------------------- */

struct jpeg_err {
	struct jpeg_error_mgr mgr;
	jmp_buf jump;
	char msg[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr c)
{
	struct jpeg_err *e = (struct jpeg_err *)c->err;
	c->err->format_message(c, e->msg);
	longjmp(e->jump, 1);
}

/* Decodes a JPEG of exactly w x h into dst (pitch bytes a row; 4 bytes a pixel, RGBX, or 3,
 * RGB, as bpp says). 0, or -1 with msg set. */
static int jpeg_decode(const uint8_t *buf, size_t len, int w, int h, uint8_t *dst, size_t pitch,
		       int bpp, char *msg, size_t msglen)
{
	struct jpeg_decompress_struct d;
	struct jpeg_err e = {0};
	d.err = jpeg_std_error(&e.mgr);
	e.mgr.error_exit = jpeg_fail;
	if (setjmp(e.jump)) {
		snprintf(msg, msglen, "%s", e.msg);
		jpeg_destroy_decompress(&d);
		return -1;
	}
	jpeg_create_decompress(&d);
	jpeg_mem_src(&d, buf, (unsigned long)len);
	jpeg_read_header(&d, TRUE);
	if ((w > 0 && (int)d.image_width != w) || (h > 0 && (int)d.image_height != h)) {
		snprintf(msg, msglen, "a JPEG of %ux%u in a %dx%d rectangle", d.image_width,
			 d.image_height, w, h);
		jpeg_destroy_decompress(&d);
		return -1;
	}
	d.out_color_space = bpp == 4 ? JCS_EXT_RGBX : JCS_RGB;
	jpeg_start_decompress(&d);
	while (d.output_scanline < d.output_height) {
		JSAMPROW row = dst + (size_t)d.output_scanline * pitch;
		jpeg_read_scanlines(&d, &row, 1);
	}
	jpeg_finish_decompress(&d);
	jpeg_destroy_decompress(&d);
	return 0;
}

static rfbBool got_jpeg(rfbClient *cl, const uint8_t *buf, int len, int x, int y, int w, int h)
{
	rfbBool ok = FALSE;
	char msg[JMSG_LENGTH_MAX + 64];
	st.jpeg_in_us = mono_us();
	if (x < 0 || y < 0 || x + w > cl->width || y + h > cl->height) {
		client_log("Tight JPEG rectangle %dx%d+%d+%d outside the %dx%d framebuffer", w, h,
			   x, y, cl->width, cl->height);
		goto out;
	}
	size_t pitch = (size_t)cl->width * 4;
	if (jpeg_decode(buf, (size_t)len, w, h, cl->frameBuffer + y * pitch + (size_t)x * 4, pitch,
			4, msg, sizeof(msg)) != 0) {
		client_log("Tight JPEG: %s", msg);
		goto out;
	}
	st.jpeg_rects++;
	st.jpeg_done_us = mono_us();
	ok = TRUE;
out:
	free((void *)buf); /* the hook owns the buffer */
	return ok;
}

static void got_cut_text(rfbClient *cl, const char *text, int len)
{
	(void)cl, (void)text;
	st.server_cut += (unsigned long)len;
}

static void led_libvnc(rfbClient *cl, int value, int pad)
{
	(void)cl, (void)pad;
	st.led_libvnc = value;
}

static int ext_encodings[4];

static rfbBool ext_handle(rfbClient *cl, rfbFramebufferUpdateRectHeader *rect)
{
	if (rect->encoding == (uint32_t)ENC_QEMU_LED) {
		uint8_t v;
		if (!ReadFromRFBServer(cl, (char *)&v, 1))
			return FALSE;
		st.led = v;
		return TRUE;
	}
	if (rect->encoding == (uint32_t)ENC_VMWARE_LED) {
		uint32_t v;
		if (!ReadFromRFBServer(cl, (char *)&v, 4))
			return FALSE;
		st.vmware_led = (int)ntohl(v);
		return TRUE;
	}
	if (rect->encoding == (uint32_t)ENC_OPEN_H264 && st.opt.h264) {
		uint32_t hdr[2];
		if (!ReadFromRFBServer(cl, (char *)hdr, 8))
			return FALSE;
		uint32_t len = ntohl(hdr[0]);
		if (len > (64u << 20)) {
			client_log("Open H.264 rectangle of %u bytes", len);
			return FALSE;
		}
		char *data = malloc(len ? len : 1);
		if (!data || !ReadFromRFBServer(cl, data, len)) {
			free(data);
			return FALSE;
		}
		if (st.h264 && len && fwrite(data, 1, len, st.h264) != len)
			client_log("writing %s failed", st.opt.h264_out);
		free(data);
		st.h264_rects++;
		st.h264_bytes += len;
		return TRUE;
	}
	return FALSE;
}

static rfbClientProtocolExtension extension = {
    .encodings = ext_encodings,
    .handleEncoding = ext_handle,
};

/* ---- the pump --------------------------------------------------------------------------- */

static bool pending(rfbClient *cl)
{
	return cl->buffered > 0 || (cl->tlsSession && gnutls_record_check_pending(
							  (gnutls_session_t)cl->tlsSession) > 0);
}

typedef bool (*cond_fn)(void *arg);

/* Serves the server's messages until cond(arg) holds (NULL: until deadline). 0 when it holds
 * (or at the deadline without cond), -ETIMEDOUT, or -ECONNRESET when the server closed. */
static int pump(int64_t deadline, cond_fn cond, void *arg)
{
	rfbClient *cl = st.cl;
	for (;;) {
		if (cond && cond(arg))
			return 0;
		if (st.closed)
			return -ECONNRESET;
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return cond ? -ETIMEDOUT : 0;
		int ready = pending(cl)
				? 1
				: WaitForMessage(cl, (unsigned)(left > 100 ? 100 : left) * 1000);
		if (ready <= 0)
			continue;
		if (!HandleRFBServerMessage(cl)) {
			st.closed = true;
			st.close_ms = st.mark_ms ? mono_ms() - st.mark_ms : -1;
			return -ECONNRESET;
		}
	}
}

static bool cond_updates(void *arg)
{
	return st.updates >= *(unsigned long *)arg;
}

static bool cond_jpegs(void *arg)
{
	return st.jpeg_rects >= *(unsigned long *)arg;
}

static bool cond_h264(void *arg)
{
	return st.h264_rects >= *(unsigned long *)arg;
}

static bool cond_led(void *arg)
{
	int want = *(int *)arg;
	return st.led >= 0 ? st.led == want : st.vmware_led == want;
}

static bool cond_size(void *arg)
{
	int *wh = arg;
	return st.cl->width == wh[0] && st.cl->height == wh[1];
}

struct change {
	unsigned long updates; /* the count when the key was sent */
	const uint8_t *before; /* the framebuffer then */
};

static bool cond_changed(void *arg)
{
	const struct change *c = arg;
	rfbClient *cl = st.cl;
	return st.updates > c->updates &&
	       memcmp(c->before, cl->frameBuffer, (size_t)cl->width * cl->height * 4) != 0;
}

/* keylat:N: N keys, 'a' and BackSpace in turn, each timed from its KeyEvent to the first
 * update that changed the framebuffer: when its JPEG arrived and when it was decoded (on
 * screen, for a viewer). Each key's release follows, then 20 ms pass (a fast typist). */
static int key_latency(int n)
{
	rfbClient *cl = st.cl;
	size_t size = (size_t)cl->width * cl->height * 4;
	uint8_t *before = malloc(size);
	st.keylat_recv = calloc((size_t)n, sizeof(double));
	st.keylat_shown = calloc((size_t)n, sizeof(double));
	if (!before || !st.keylat_recv || !st.keylat_shown) {
		free(before);
		set_error("keylat: out of memory");
		return -ENOMEM;
	}
	int ret = 0;
	for (int i = 0; i < n && !ret; i++) {
		uint32_t sym = i % 2 ? 0xff08 : 'a';
		memcpy(before, cl->frameBuffer, size);
		struct change c = {st.updates, before};
		int64_t t0 = mono_us();
		if (!SendKeyEvent(cl, sym, TRUE)) {
			set_error("keylat: send failed");
			ret = -EIO;
			break;
		}
		if ((ret = pump(mono_ms() + st.opt.timeout_ms, cond_changed, &c))) {
			set_error("keylat: key %d changed nothing within %d ms", i,
				  st.opt.timeout_ms);
			break;
		}
		st.keylat_recv[i] = (double)(st.jpeg_in_us - t0) / 1000.0;
		st.keylat_shown[i] = (double)(st.jpeg_done_us - t0) / 1000.0;
		st.n_keylat = i + 1;
		if (!SendKeyEvent(cl, sym, FALSE)) {
			set_error("keylat: send failed");
			ret = -EIO;
			break;
		}
		ret = pump(mono_ms() + 20, NULL, NULL);
	}
	free(before);
	return ret;
}

/* ---- actions ------------------------------------------------------------------------------ */

static const struct {
	const char *name;
	uint32_t sym;
} keysym_names[] = {
    {"Return", 0xff0d},	 {"BackSpace", 0xff08}, {"Tab", 0xff09},       {"Escape", 0xff1b},
    {"Delete", 0xffff},	 {"Caps_Lock", 0xffe5}, {"Num_Lock", 0xff7f},  {"Scroll_Lock", 0xff14},
    {"Shift_L", 0xffe1}, {"Shift_R", 0xffe2},	{"Control_L", 0xffe3}, {"Control_R", 0xffe4},
    {"Alt_L", 0xffe9},	 {"Alt_R", 0xffea},	{"Super_L", 0xffeb},   {"ISO_Level3_Shift", 0xfe03},
    {"Left", 0xff51},	 {"Up", 0xff52},	{"Right", 0xff53},     {"Down", 0xff54},
    {"Home", 0xff50},	 {"End", 0xff57},	{"F1", 0xffbe},	       {"F12", 0xffc9},
    {"space", 0x20},
};

static int parse_keysym(const char *s, uint32_t *out)
{
	for (size_t i = 0; i < sizeof(keysym_names) / sizeof(keysym_names[0]); i++)
		if (strcmp(s, keysym_names[i].name) == 0) {
			*out = keysym_names[i].sym;
			return 0;
		}
	if (s[0] && !s[1]) {
		*out = (unsigned char)s[0];
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > 0xffffffffUL)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int save_ppm(const char *path)
{
	rfbClient *cl = st.cl;
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	fprintf(f, "P6\n%d %d\n255\n", cl->width, cl->height);
	uint8_t *row = malloc((size_t)cl->width * 3);
	int ret = row ? 0 : -ENOMEM;
	for (int y = 0; !ret && y < cl->height; y++) {
		const uint8_t *p = cl->frameBuffer + (size_t)y * cl->width * 4;
		for (int x = 0; x < cl->width; x++)
			memcpy(row + x * 3, p + x * 4, 3); /* RGBX in memory */
		if (fwrite(row, 3, (size_t)cl->width, f) != (size_t)cl->width)
			ret = -EIO;
	}
	free(row);
	if (fclose(f) != 0 && !ret)
		ret = -EIO;
	return ret;
}

static bool send_key(uint32_t sym, int how) /* how: 1 down, 0 up, 2 both */
{
	if (how != 0 && !SendKeyEvent(st.cl, sym, TRUE))
		return false;
	return how == 1 || SendKeyEvent(st.cl, sym, FALSE);
}

/* With "h264": libvncclient puts its protocol extensions' encodings after its own, so the
 * client sends a SetEncodings of its own right after the handshake, Open H.264 first (the
 * server goes by the client's order), then Tight and the pseudo-encodings the client reads.
 * The server takes the last SetEncodings. */
static bool send_h264_encodings(rfbClient *cl)
{
	const int32_t encs[] = {ENC_OPEN_H264,
				rfbEncodingTight,
				(int32_t)rfbEncodingQualityLevel0 +
				    (st.opt.quality >= 0 ? st.opt.quality : 8),
				(int32_t)rfbEncodingQemuExtendedKeyEvent,
				ENC_QEMU_LED,
				(int32_t)rfbEncodingNewFBSize,
				(int32_t)rfbEncodingExtDesktopSize,
				(int32_t)rfbEncodingLastRect};
	uint8_t msg[4 + sizeof(encs)] = {rfbSetEncodings, 0, 0, sizeof(encs) / 4};
	for (size_t i = 0; i < sizeof(encs) / 4; i++) {
		uint32_t be = htonl((uint32_t)encs[i]);
		memcpy(msg + 4 + 4 * i, &be, 4);
	}
	return WriteToRFBServer(cl, (const char *)msg, sizeof(msg));
}

static int run_action(const char *a)
{
	rfbClient *cl = st.cl;
	const char *colon = strchr(a, ':');
	size_t nlen = colon ? (size_t)(colon - a) : strlen(a);
	const char *arg = colon ? colon + 1 : "";
	char name[16];
	if (nlen >= sizeof(name)) {
		set_error("unknown action %s", a);
		return -EINVAL;
	}
	memcpy(name, a, nlen);
	name[nlen] = 0;
	int64_t deadline = mono_ms() + st.opt.timeout_ms;
	int ret;

	if (strcmp(name, "updates") == 0) {
		unsigned long want = st.updates + strtoul(arg, NULL, 10);
		if ((ret = pump(deadline, cond_updates, &want)))
			set_error("%s: %lu of %lu updates (%s)", a, st.updates, want,
				  ret == -ETIMEDOUT ? "timed out" : "connection closed");
		return ret;
	}
	if (strcmp(name, "jpegs") == 0) {
		unsigned long want = strtoul(arg, NULL, 10);
		if ((ret = pump(deadline, cond_jpegs, &want)))
			set_error("%s: %lu of %lu Tight JPEG rectangles (%s)", a, st.jpeg_rects,
				  want, ret == -ETIMEDOUT ? "timed out" : "connection closed");
		return ret;
	}
	if (strcmp(name, "h264") == 0) {
		unsigned long want = strtoul(arg, NULL, 10);
		if ((ret = pump(deadline, cond_h264, &want)))
			set_error("%s: %lu of %lu Open H.264 rectangles (%s)", a, st.h264_rects,
				  want, ret == -ETIMEDOUT ? "timed out" : "connection closed");
		return ret;
	}
	if (strcmp(name, "save") == 0) {
		if ((ret = save_ppm(arg)))
			set_error("%s: %s", a, strerror(-ret));
		return ret;
	}
	if (strcmp(name, "key") == 0 || strcmp(name, "keydown") == 0 ||
	    strcmp(name, "keyup") == 0) {
		uint32_t sym;
		if (parse_keysym(arg, &sym)) {
			set_error("%s: not a keysym", a);
			return -EINVAL;
		}
		int how = name[3] == 0 ? 2 : name[3] == 'd' ? 1 : 0;
		if (!send_key(sym, how)) {
			set_error("%s: send failed", a);
			return -EIO;
		}
		return 0;
	}
	if (strcmp(name, "type") == 0) {
		for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
			if (!send_key(*p, 2)) {
				set_error("%s: send failed", a);
				return -EIO;
			}
		return 0;
	}
	if (strcmp(name, "ext") == 0 || strcmp(name, "extdown") == 0 ||
	    strcmp(name, "extup") == 0) {
		char *end;
		unsigned long qnum = strtoul(arg, &end, 0);
		uint32_t sym = 0;
		if (end == arg || (*end && (*end != ':' || parse_keysym(end + 1, &sym)))) {
			set_error("%s: expected ext:QNUM[:KEYSYM]", a);
			return -EINVAL;
		}
		if (!SupportsClient2Server(cl, rfbQemuEvent)) {
			set_error("%s: the server did not acknowledge QEMU Extended Key Events", a);
			return -ENOTSUP;
		}
		int how = name[3] == 0 ? 2 : name[3] == 'd' ? 1 : 0;
		if ((how != 0 && !SendExtendedKeyEvent(cl, sym, (uint32_t)qnum, TRUE)) ||
		    (how != 1 && !SendExtendedKeyEvent(cl, sym, (uint32_t)qnum, FALSE))) {
			set_error("%s: send failed", a);
			return -EIO;
		}
		return 0;
	}
	if (strcmp(name, "pointer") == 0) {
		int x, y, mask;
		if (sscanf(arg, "%d,%d,%d", &x, &y, &mask) != 3) {
			set_error("%s: expected pointer:X,Y,MASK", a);
			return -EINVAL;
		}
		if (!SendPointerEvent(cl, x, y, mask)) {
			set_error("%s: send failed", a);
			return -EIO;
		}
		return 0;
	}
	if (strcmp(name, "cut") == 0) {
		if (!SendClientCutText(cl, (char *)arg, (int)strlen(arg))) {
			set_error("%s: send failed", a);
			return -EIO;
		}
		return 0;
	}
	if (strcmp(name, "led") == 0) {
		int want = (int)strtol(arg, NULL, 0);
		if ((ret = pump(deadline, cond_led, &want)))
			set_error("%s: LEDs %d (VMware %d) %s", a, st.led, st.vmware_led,
				  ret == -ETIMEDOUT ? "at the timeout"
						    : "when the connection closed");
		return ret;
	}
	if (strcmp(name, "size") == 0) {
		int wh[2];
		if (sscanf(arg, "%dx%d", &wh[0], &wh[1]) != 2) {
			set_error("%s: expected size:WxH", a);
			return -EINVAL;
		}
		if ((ret = pump(deadline, cond_size, wh)))
			set_error("%s: still %dx%d (%s)", a, cl->width, cl->height,
				  ret == -ETIMEDOUT ? "timed out" : "connection closed");
		return ret;
	}
	if (strcmp(name, "hold") == 0 || strcmp(name, "fps") == 0) {
		int64_t ms = strtoll(arg, NULL, 10), t0 = mono_ms();
		unsigned long u0 = st.updates;
		if ((ret = pump(t0 + ms, NULL, NULL))) {
			set_error("%s: connection closed", a);
			return ret;
		}
		if (name[0] == 'f') {
			int64_t el = mono_ms() - t0;
			st.fps = el > 0 ? (double)(st.updates - u0) * 1000.0 / (double)el : 0;
			st.have_fps = true;
		}
		return 0;
	}
	if (strcmp(name, "keylat") == 0) {
		int n = atoi(arg);
		if (n < 1 || n > 100000) {
			set_error("%s: expected keylat:N", a);
			return -EINVAL;
		}
		return key_latency(n);
	}
	if (strcmp(name, "mark") == 0) {
		st.mark_ms = mono_ms();
		printf("{\"event\":\"mark\",\"updates\":%lu,\"width\":%d,\"height\":%d}\n",
		       st.updates, cl->width, cl->height);
		fflush(stdout);
		return 0;
	}
	if (strcmp(name, "closed") == 0) {
		ret = pump(deadline, NULL, NULL);
		if (ret == -ECONNRESET)
			return 0;
		set_error("%s: the server kept the connection open for %d ms", a,
			  st.opt.timeout_ms);
		return -ETIMEDOUT;
	}
	set_error("unknown action %s", a);
	return -EINVAL;
}

/* ---- main --------------------------------------------------------------------------------- */

static int jpeg_to_ppm(const char *in, const char *out)
{
	FILE *f = fopen(in, "rb");
	if (!f) {
		perror(in);
		return 1;
	}
	static uint8_t buf[32 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	/* The size first: a header-only decode of 0 x 0 fails and says it. */
	struct jpeg_decompress_struct d;
	struct jpeg_err e = {0};
	d.err = jpeg_std_error(&e.mgr);
	e.mgr.error_exit = jpeg_fail;
	if (setjmp(e.jump)) {
		fprintf(stderr, "%s: %s\n", in, e.msg);
		jpeg_destroy_decompress(&d);
		return 1;
	}
	jpeg_create_decompress(&d);
	jpeg_mem_src(&d, buf, (unsigned long)n);
	jpeg_read_header(&d, TRUE);
	int w = (int)d.image_width, h = (int)d.image_height;
	jpeg_destroy_decompress(&d);
	char msg[JMSG_LENGTH_MAX + 64];
	uint8_t *rgb = malloc((size_t)w * h * 3);
	int ret = 1;
	if (!rgb || jpeg_decode(buf, n, w, h, rgb, (size_t)w * 3, 3, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "%s: %s\n", in, rgb ? msg : "out of memory");
		goto done;
	}
	FILE *o = fopen(out, "wb");
	if (!o) {
		perror(out);
		goto done;
	}
	fprintf(o, "P6\n%d %d\n255\n", w, h);
	ret = fwrite(rgb, 3, (size_t)w * h, o) == (size_t)w * h ? 0 : 1;
	if (fclose(o) != 0)
		ret = 1;
done:
	free(rgb);
	return ret;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vnc-client [--security x509plain|tlsplain|vncauth|none] [--user U]"
		" [--password P] [--ca FILE] [--encodings LIST] [--quality N] [--compress N]"
		" [--h264-out FILE] [--timeout S] [--verbose] HOST PORT ACTION...\n"
		"       vnc-client --jpeg-to-ppm IN OUT\n");
}

static int parse_options(int argc, char **argv, struct options *o, int *first_action)
{
	*o = (struct options){.security = SEC_TLSPLAIN,
			      .user = "admin",
			      .encodings = "tight",
			      .quality = 8,
			      .compress = 1,
			      .timeout_ms = 10000};
	o->password = getenv("VNC_PASSWORD");
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *k = argv[i];
		if (strcmp(k, "--verbose") == 0) {
			o->verbose = true;
			continue;
		}
		if (i + 1 >= argc)
			return -1;
		const char *v = argv[++i];
		if (strcmp(k, "--security") == 0) {
			int s = -1;
			for (int j = 0; j < 4; j++)
				if (strcmp(v, security_names[j]) == 0)
					s = j;
			if (s < 0)
				return -1;
			o->security = (enum security)s;
		} else if (strcmp(k, "--user") == 0) {
			o->user = v;
		} else if (strcmp(k, "--password") == 0) {
			o->password = v;
		} else if (strcmp(k, "--ca") == 0) {
			o->ca = v;
		} else if (strcmp(k, "--encodings") == 0) {
			o->encodings = v;
		} else if (strcmp(k, "--quality") == 0) {
			o->quality = atoi(v);
		} else if (strcmp(k, "--compress") == 0) {
			o->compress = atoi(v);
		} else if (strcmp(k, "--h264-out") == 0) {
			o->h264_out = v;
		} else if (strcmp(k, "--timeout") == 0) {
			o->timeout_ms = (int)(atof(v) * 1000);
		} else {
			return -1;
		}
	}
	if (argc - i < 2)
		return -1;
	o->host = argv[i];
	o->port = atoi(argv[i + 1]);
	if (o->port <= 0 || o->port > 65535 || o->timeout_ms <= 0)
		return -1;
	*first_action = i + 2;
	return 0;
}

/* libvncclient's encodings string without "h264" (announced by the extension instead). */
static char *lib_encodings(struct options *o)
{
	char *out = calloc(1, strlen(o->encodings) + 1);
	char *copy = strdup(o->encodings);
	if (!out || !copy) {
		free(out);
		free(copy);
		return NULL;
	}
	char *save = NULL;
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (strcmp(t, "h264") == 0) {
			o->h264 = true;
			continue;
		}
		if (out[0])
			strcat(out, " ");
		strcat(out, t);
	}
	free(copy);
	return out;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--jpeg-to-ppm") == 0)
		return jpeg_to_ppm(argv[2], argv[3]);
	int first = 0;
	if (parse_options(argc, argv, &st.opt, &first) != 0) {
		usage();
		return 2;
	}
	st.led = st.vmware_led = st.led_libvnc = -1;
	st.close_ms = -1;
	pthread_mutex_init(&st.relay.lock, NULL);
	rfbClientLog = client_log;
	rfbClientErr = client_log;
	bool ok = false;
	char *encodings = lib_encodings(&st.opt);
	if (!encodings) {
		set_error("out of memory");
		goto out;
	}
	int ne = 0;
	ext_encodings[ne++] = ENC_QEMU_LED;
	ext_encodings[ne++] = ENC_VMWARE_LED;
	if (st.opt.h264)
		ext_encodings[ne++] = ENC_OPEN_H264;
	ext_encodings[ne] = 0;
	rfbClientRegisterExtension(&extension);
	if (st.opt.h264_out && !(st.h264 = fopen(st.opt.h264_out, "wb"))) {
		set_error("%s: %s", st.opt.h264_out, strerror(errno));
		goto out;
	}

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		set_error("socketpair: %s", strerror(errno));
		goto out;
	}
	st.relay.lib_fd = sv[1];
	st.relay.srv_fd = connect_server(st.opt.host, st.opt.port);
	if (st.relay.srv_fd < 0) {
		set_error("cannot connect to %s port %d", st.opt.host, st.opt.port);
		close(sv[0]);
		close(sv[1]);
		goto out;
	}
	st.relay.want_subtype = st.opt.security == SEC_TLSPLAIN	   ? rfbVeNCryptTLSPlain
				: st.opt.security == SEC_X509PLAIN ? rfbVeNCryptX509Plain
								   : 0;
	if (pthread_create(&st.relay.thread, NULL, relay_main, &st.relay) != 0) {
		set_error("pthread_create failed");
		close(sv[0]);
		goto out;
	}
	st.relay.started = true;

	rfbClient *cl = rfbGetClient(8, 3, 4);
	if (!cl) {
		set_error("rfbGetClient failed");
		close(sv[0]);
		goto out;
	}
	/* The connection is made here (through the relay); libvncclient starts at the version
	 * handshake, as for a connection it accepted. */
	cl->sock = sv[0];
	cl->listenSpecified = TRUE;
	free(cl->serverHost);
	cl->serverHost = strdup(st.opt.host); /* X509: the name the certificate must carry */
	cl->serverPort = st.opt.port;
	cl->readTimeout = (st.opt.timeout_ms + 999) / 1000;
	cl->appData.encodingsString = encodings;
	cl->appData.qualityLevel = st.opt.quality;
	cl->appData.enableJPEG = st.opt.quality >= 0;
	cl->appData.compressLevel = st.opt.compress;
	cl->appData.shareDesktop = TRUE;
	cl->canHandleNewFBSize = TRUE;
	cl->GetPassword = get_password;
	cl->GetCredential = get_credential;
	cl->GotFrameBufferUpdate = got_update;
	cl->FinishedFrameBufferUpdate = finished_update;
	cl->GotJpeg = got_jpeg;
	cl->GotXCutText = got_cut_text;
	cl->HandleKeyboardLedState = led_libvnc;
	st.orig_malloc = cl->MallocFrameBuffer;
	cl->MallocFrameBuffer = malloc_fb;
	static const uint32_t tls_types[] = {rfbVeNCrypt}, vnc_types[] = {rfbVncAuth},
			      none_types[] = {rfbNoAuth};
	SetClientAuthSchemes(cl,
			     st.opt.security == SEC_VNCAUTH ? vnc_types
			     : st.opt.security == SEC_NONE  ? none_types
							    : tls_types,
			     1);
	if (!rfbInitClient(cl, NULL, NULL)) {
		/* rfbInitClient freed the client and closed its socket. */
		set_error("the connection failed (see log)");
		goto out;
	}
	st.cl = cl;
	st.connected = true;
	ok = true;
	if (st.opt.h264 && !send_h264_encodings(cl)) {
		set_error("sending SetEncodings failed");
		ok = false;
	}
	for (int i = first; i < argc && ok; i++)
		ok = run_action(argv[i]) == 0;
out:
	print_result(ok);
	if (st.cl) {
		free(st.cl->frameBuffer); /* the application's (MallocFrameBuffer's) */
		rfbClientCleanup(st.cl);
	}
	if (st.relay.started)
		pthread_join(st.relay.thread, NULL);
	if (st.relay.srv_fd > 0)
		close(st.relay.srv_fd);
	if (st.relay.lib_fd > 0)
		close(st.relay.lib_fd);
	if (st.h264)
		fclose(st.h264);
	free(encodings);
	free(st.keylat_recv);
	free(st.keylat_shown);
	return ok ? 0 : 1;
}
