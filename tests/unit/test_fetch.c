/*
 * Unit tests for msd/fetch: downloads from a tiny HTTP/1.1 server that runs on a thread of
 * this test on 127.0.0.1 (ephemeral port), serving generated bodies: with Content-Length,
 * close-delimited, chunked, empty, a 404, redirects (to http and to ftp), a body cut short,
 * and a slow one for cancel. A second listener on 127.0.0.2 stands for a host outside this
 * machine's network (through the fetcher's address check seam), so a redirect from an
 * allowed host to a refused address can be shown. Each download is followed to its final
 * state through the wake
 * callback (a pipe, the way the daemon's loop is woken) and ipkvm_fetch_poll(), and the store
 * directory is then compared exactly: a failed or cancelled download must leave no file.
 *
 * The server answers one connection at a time and closes each after one response, so curl
 * never reuses a connection and every request is seen from its first byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "msd/fetch.h"
#include "msd/store.h"

#define BIG_SIZE   (3 * 1024 * 1024)
#define CLOSE_SIZE (1024 * 1024)
#define CHUNK_SIZE 300000
#define SLOW_SIZE  (10 * 1024 * 1024)

/* ---- the HTTP server ---- */

static int srv_fd = -1, srv2_fd = -1; /* 127.0.0.1, 127.0.0.2 */
static int srv_port, srv2_port;
static pthread_t srv_thread;
static atomic_bool srv_stop;

static uint8_t body_byte(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 10));
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

/* Sends body bytes [from, to) of the generated body. */
static int send_body(int fd, size_t from, size_t to)
{
	uint8_t buf[65536];
	while (from < to) {
		size_t n = to - from < sizeof(buf) ? to - from : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = body_byte(from + i);
		if (send_all(fd, buf, n) < 0)
			return -1;
		from += n;
	}
	return 0;
}

static void send_head(int fd, const char *status, long long length, const char *extra)
{
	char h[512];
	if (length >= 0)
		snprintf(h, sizeof(h),
			 "HTTP/1.1 %s\r\nContent-Length: %lld\r\nConnection: close\r\n%s\r\n",
			 status, length, extra);
	else
		snprintf(h, sizeof(h), "HTTP/1.1 %s\r\nConnection: close\r\n%s\r\n", status, extra);
	send_str(fd, h);
}

static bool peer_closed(int fd)
{
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
	return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void serve_slow(int fd)
{
	send_head(fd, "200 OK", SLOW_SIZE, "");
	if (send_body(fd, 0, 65536) < 0)
		return;
	/* One byte every 20 ms until the client goes away; 15 s at most. */
	for (size_t off = 65536; off < 65536 + 750 && !atomic_load(&srv_stop); off++) {
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
		if (peer_closed(fd) || send_body(fd, off, off + 1) < 0)
			return;
	}
}

static void serve_chunked(int fd)
{
	send_head(fd, "200 OK", -1, "Transfer-Encoding: chunked\r\n");
	for (size_t off = 0; off < CHUNK_SIZE; off += 10000) {
		char h[32];
		size_t n = CHUNK_SIZE - off < 10000 ? CHUNK_SIZE - off : 10000;
		snprintf(h, sizeof(h), "%zx\r\n", n);
		if (send_str(fd, h) < 0 || send_body(fd, off, off + n) < 0 || send_str(fd, "\r\n"))
			return;
	}
	send_str(fd, "0\r\n\r\n");
}

static void serve(int fd)
{
	char req[4096];
	size_t len = 0;
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (len < sizeof(req) - 1) {
		ssize_t r = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (r <= 0)
			return;
		len += (size_t)r;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	char path[256] = "";
	if (sscanf(req, "GET %255s HTTP/1.1", path) != 1)
		return;
	if (!strcmp(path, "/big")) {
		send_head(fd, "200 OK", BIG_SIZE, "");
		send_body(fd, 0, BIG_SIZE);
	} else if (!strcmp(path, "/close")) {
		send_head(fd, "200 OK", -1, "");
		send_body(fd, 0, CLOSE_SIZE);
	} else if (!strcmp(path, "/chunked")) {
		serve_chunked(fd);
	} else if (!strcmp(path, "/empty")) {
		send_head(fd, "200 OK", 0, "");
	} else if (!strcmp(path, "/short")) {
		send_head(fd, "200 OK", 1000, "");
		send_body(fd, 0, 500);
	} else if (!strcmp(path, "/slow")) {
		serve_slow(fd);
	} else if (!strcmp(path, "/redirect")) {
		send_head(fd, "302 Found", 0, "Location: /big\r\n");
	} else if (!strcmp(path, "/redirect-ftp")) {
		send_head(fd, "302 Found", 0, "Location: ftp://127.0.0.1:1/x.iso\r\n");
	} else if (!strcmp(path, "/redirect-loopback")) {
		char loc[128];
		snprintf(loc, sizeof(loc), "Location: http://127.0.0.1:%d/big\r\n", srv_port);
		send_head(fd, "302 Found", 0, loc);
	} else {
		send_head(fd, "404 Not Found", 10, "");
		send_str(fd, "not found\n");
	}
}

static void *server_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&srv_stop)) {
		struct pollfd p[2] = {{srv_fd, POLLIN, 0}, {srv2_fd, POLLIN, 0}};
		if (poll(p, 2, 50) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			int c = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			serve(c);
			shutdown(c, SHUT_WR);
			close(c);
		}
	}
	return NULL;
}

/* ---- fixture ---- */

static int wake_pipe[2] = {-1, -1};
static atomic_int nwake;
static char big_sha[65];
static char root[64];
static struct ipkvm_store *store;
static struct ipkvm_fetcher *fetcher;
/* Final states polled while waiting for another download. */
static struct ipkvm_fetch_status finals[8];
static size_t nfinals;

static void wake(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&nwake, 1);
	char c = 1;
	ssize_t r = write(wake_pipe[1], &c, 1); /* full pipe: a wake is already pending */
	(void)r;
}

static int group_setup(void **state)
{
	(void)state;
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	srv_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	if (srv_fd < 0 || bind(srv_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(srv_fd, 8) < 0 || getsockname(srv_fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	srv_port = ntohs(a.sin_port);
	srv2_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a2 = {.sin_family = AF_INET, .sin_port = 0};
	a2.sin_addr.s_addr = htonl(0x7f000002);
	alen = sizeof(a2);
	if (srv2_fd < 0 || bind(srv2_fd, (struct sockaddr *)&a2, sizeof(a2)) < 0 ||
	    listen(srv2_fd, 8) < 0 || getsockname(srv2_fd, (struct sockaddr *)&a2, &alen) < 0)
		return -1;
	srv2_port = ntohs(a2.sin_port);
	if (pthread_create(&srv_thread, NULL, server_main, NULL) != 0)
		return -1;
	if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;

	/* The expected digest of /big, computed here independently of the fetcher. */
	unsigned char md[32];
	unsigned int mdlen;
	uint8_t *body = malloc(BIG_SIZE);
	for (size_t i = 0; i < BIG_SIZE; i++)
		body[i] = body_byte(i);
	EVP_Digest(body, BIG_SIZE, md, &mdlen, EVP_sha256(), NULL);
	free(body);
	ipkvm_hex_encode(md, 32, big_sha);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	atomic_store(&srv_stop, true);
	pthread_join(srv_thread, NULL);
	close(srv_fd);
	close(srv2_fd);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	return 0;
}

static void make_fetcher(int max_active)
{
	struct ipkvm_fetch_config cfg;
	ipkvm_fetch_config_defaults(&cfg);
	cfg.max_active = max_active;
	cfg.progress_interval_ms = 50;
	cfg.connect_timeout_s = 5;
	cfg.low_speed_time_s = 10;
	cfg.allow_private = true; /* the test server is on loopback */
	fetcher = ipkvm_fetch_create(&cfg, store, wake, NULL);
	assert_non_null(fetcher);
}

static int setup(void **state)
{
	(void)state;
	char err[256], dir[128];
	nfinals = 0;
	strcpy(root, "/tmp/test_fetch.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/images", root);
	assert_int_equal(ipkvm_store_open(dir, &store, err, sizeof(err)), 0);
	make_fetcher(2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char p[256];
	ipkvm_fetch_destroy(fetcher);
	fetcher = NULL;
	ipkvm_store_destroy(store);
	store = NULL;
	snprintf(p, sizeof(p), "%s/images", root);
	DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char f[512];
		snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
		unlink(f);
	}
	if (d)
		closedir(d);
	rmdir(p);
	rmdir(root);
	return 0;
}

static void url(char *out, size_t len, const char *path)
{
	snprintf(out, len, "http://127.0.0.1:%d%s", srv_port, path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The store directory's entries, sorted, joined with ','. */
static const char *dir_entries(void)
{
	static char out[1024];
	char *names[32];
	size_t n = 0;
	DIR *d = opendir(ipkvm_store_dir(store));
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		assert_true(n < 32);
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, names[i]);
		free(names[i]);
	}
	return out;
}

/* Polls until download id reports a final state (15 s at most); checks that it is
 * reported once, and gone from the list after that. */
static void wait_final(uint64_t id, struct ipkvm_fetch_status *out)
{
	int64_t deadline = ipkvm_mono_ms() + 15000;
	struct ipkvm_fetch_status st[8];
	bool found = false;
	while (!found && ipkvm_mono_ms() < deadline) {
		for (size_t i = 0; i < nfinals; i++) {
			if (finals[i].id != id)
				continue;
			assert_false(found);
			*out = finals[i];
			finals[i--] = finals[--nfinals];
			found = true;
		}
		if (found)
			break;
		struct pollfd p = {wake_pipe[0], POLLIN, 0};
		poll(&p, 1, 200);
		char buf[64];
		while (read(wake_pipe[0], buf, sizeof(buf)) > 0) {
		}
		size_t n = ipkvm_fetch_poll(fetcher, st, 8);
		for (size_t i = 0; i < n; i++) {
			if (st[i].state == IPKVM_FETCH_RUNNING)
				continue;
			assert_true(nfinals < 8);
			finals[nfinals++] = st[i];
		}
	}
	if (!found)
		fail_msg("download %llu did not finish", (unsigned long long)id);
	size_t nl = ipkvm_fetch_list(fetcher, st, 8);
	for (size_t k = 0; k < nl; k++)
		assert_true(st[k].id != id);
	assert_int_equal(ipkvm_fetch_cancel(fetcher, id, NULL), -ENOENT);
}

static uint64_t start(const char *path, const char *name, const char *sha, int64_t max)
{
	char u[128], err[256];
	uint64_t id = 0;
	url(u, sizeof(u), path);
	struct ipkvm_fetch_request req = {u, name, sha, max, false, NULL};
	int r = ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err));
	if (r != 0)
		fail_msg("start %s: %d %s", path, r, err);
	return id;
}

static void assert_status(const struct ipkvm_fetch_status *st, const char *name,
			  enum ipkvm_fetch_state state, long long bytes, long long total, int error,
			  const char *message)
{
	assert_string_equal(st->name, name);
	assert_string_equal(ipkvm_fetch_state_name(st->state), ipkvm_fetch_state_name(state));
	assert_int_equal(st->bytes, bytes);
	assert_int_equal(st->total, total);
	assert_int_equal(st->error, error);
	assert_string_equal(st->message, message);
}

/* sha256 of an image in the store. */
static void image_sha(const char *name, char *hex)
{
	int fd = ipkvm_store_open_image(store, name, O_RDONLY);
	assert_true(fd >= 0);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	char buf[65536];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(md, buf, (size_t)r);
	close(fd);
	unsigned char d[32];
	unsigned int dlen;
	EVP_DigestFinal_ex(md, d, &dlen);
	EVP_MD_CTX_free(md);
	ipkvm_hex_encode(d, 32, hex);
}

/* ---- tests ---- */

static void test_start_refused(void **state)
{
	(void)state;
	char err[256], u[128];
	uint64_t id = 0;
	url(u, sizeof(u), "/big");
	const struct {
		const char *url, *name, *sha;
		int ret;
		const char *err;
	} cases[] = {
	    {"file:///etc/passwd", "a.iso", NULL, -EINVAL,
	     "url must start with http:// or https://"},
	    {"ftp://127.0.0.1/a.iso", "a.iso", NULL, -EINVAL,
	     "url must start with http:// or https://"},
	    {"gopher://127.0.0.1/a", "a.iso", NULL, -EINVAL,
	     "url must start with http:// or https://"},
	    {"not a url", "a.iso", NULL, -EINVAL, "invalid url"},
	    {"", "a.iso", NULL, -EINVAL, "invalid url"},
	    {NULL, "a.iso", NULL, -EINVAL, "invalid url"},
	    {u, "../a.iso", NULL, -EINVAL, "invalid image name: name must not start with '.'"},
	    {u, "a/b", NULL, -EINVAL, "invalid image name: name must not contain '/'"},
	    {u, "a.iso", "abc", -EINVAL, "sha256 must be 64 hex digits"},
	    {u, "a.iso", "zz00000000000000000000000000000000000000000000000000000000000000",
	     -EINVAL, "sha256 must be 64 hex digits"},
	    {u, "a.iso", "00000000000000000000000000000000000000000000000000000000000000000",
	     -EINVAL, "sha256 must be 64 hex digits"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ipkvm_fetch_request req = {cases[i].url, cases[i].name, cases[i].sha, 0,
						  false,	NULL};
		int r = ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err));
		if (r != cases[i].ret || strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu: got %d '%s', want %d '%s'", i, r, err, cases[i].ret,
				 cases[i].err);
	}
	assert_string_equal(dir_entries(), "");

	/* The name is being uploaded. */
	struct ipkvm_store_session *ss;
	assert_int_equal(ipkvm_store_begin(store, "busy.iso", -1, 0, &ss, err, sizeof(err)), 0);
	struct ipkvm_fetch_request req = {u, "busy.iso", NULL, 0, false, NULL};
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), -EBUSY);
	assert_string_equal(err, "busy.iso is already being uploaded or downloaded");
	ipkvm_store_abort(ss);
	assert_int_equal(ipkvm_fetch_cancel(fetcher, 12345, "alice"), -ENOENT);
	assert_int_equal(ipkvm_fetch_poll(fetcher, NULL, 0), 0);
}

static void test_download_with_length_and_sha(void **state)
{
	(void)state;
	struct ipkvm_fetch_status st;
	/* Upper-case digits are accepted. */
	char upper[65];
	for (int i = 0; i < 65; i++)
		upper[i] = (char)(big_sha[i] >= 'a' ? big_sha[i] - 32 : big_sha[i]);
	atomic_store(&nwake, 0);
	uint64_t id = start("/big", "big.iso", upper, 0);
	assert_true(id > 0);
	wait_final(id, &st);
	assert_int_equal(st.id, id);
	assert_status(&st, "big.iso", IPKVM_FETCH_DONE, BIG_SIZE, BIG_SIZE, 0, "");
	assert_true(atomic_load(&nwake) >= 1);
	assert_string_equal(dir_entries(), "big.iso");
	char got[65];
	image_sha("big.iso", got);
	assert_string_equal(got, big_sha);

	json_t *j = ipkvm_fetch_status_json(&st, true);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	char want[256];
	snprintf(want, sizeof(want),
		 "{\"bytes\":3145728,\"id\":%llu,\"name\":\"big.iso\",\"state\":\"done\","
		 "\"total\":3145728}",
		 (unsigned long long)id);
	assert_string_equal(s, want);
	free(s);
	json_decref(j);

	/* The name now exists: refused unless replacing. */
	char u[128], err[256];
	url(u, sizeof(u), "/big");
	struct ipkvm_fetch_request req = {u, "big.iso", NULL, 0, false, NULL};
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "image big.iso already exists");
	req.replace = true;
	req.url = u;
	url(u, sizeof(u), "/chunked");
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), 0);
	wait_final(id, &st);
	assert_status(&st, "big.iso", IPKVM_FETCH_DONE, CHUNK_SIZE, -1, 0, "");
	assert_string_equal(dir_entries(), "big.iso");
}

static void test_wrong_sha(void **state)
{
	(void)state;
	struct ipkvm_fetch_status st;
	const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
	uint64_t id = start("/big", "bad.iso", zero, 0);
	wait_final(id, &st);
	char msg[256];
	snprintf(msg, sizeof(msg), "sha256 mismatch: expected %s got %s", zero, big_sha);
	assert_status(&st, "bad.iso", IPKVM_FETCH_FAILED, BIG_SIZE, BIG_SIZE, -EBADMSG, msg);
	assert_string_equal(dir_entries(), "");

	assert_string_equal(st.reason, "sha256 mismatch");
	/* Everyone gets the reason; the owner's view adds the message. */
	json_t *j = ipkvm_fetch_status_json(&st, false);
	assert_string_equal(json_string_value(json_object_get(j, "error")), "sha256 mismatch");
	assert_string_equal(json_string_value(json_object_get(j, "error_code")), "sha256");
	assert_null(json_object_get(j, "detail"));
	assert_string_equal(json_string_value(json_object_get(j, "state")), "failed");
	json_decref(j);
	j = ipkvm_fetch_status_json(&st, true);
	assert_string_equal(json_string_value(json_object_get(j, "error")), "sha256 mismatch");
	assert_string_equal(json_string_value(json_object_get(j, "detail")), msg);
	json_decref(j);
}

static void test_without_length(void **state)
{
	(void)state;
	struct ipkvm_fetch_status st;
	uint64_t a = start("/close", "close.img", NULL, 0);
	uint64_t b = start("/chunked", "chunked.img", NULL, 0);
	wait_final(a, &st);
	assert_status(&st, "close.img", IPKVM_FETCH_DONE, CLOSE_SIZE, -1, 0, "");
	wait_final(b, &st);
	assert_status(&st, "chunked.img", IPKVM_FETCH_DONE, CHUNK_SIZE, -1, 0, "");
	/* Schemes are case-insensitive. */
	char u[128], err[256];
	snprintf(u, sizeof(u), "HTTP://127.0.0.1:%d/close", srv_port);
	struct ipkvm_fetch_request req = {u, "upper.img", NULL, 0, false, NULL};
	uint64_t d;
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &d, err, sizeof(err)), 0);
	wait_final(d, &st);
	assert_status(&st, "upper.img", IPKVM_FETCH_DONE, CLOSE_SIZE, -1, 0, "");
	assert_int_equal(ipkvm_store_delete(store, "upper.img"), 0);
	uint64_t c = start("/empty", "empty.img", NULL, 0);
	wait_final(c, &st);
	assert_status(&st, "empty.img", IPKVM_FETCH_DONE, 0, 0, 0, "");
	assert_string_equal(dir_entries(), "chunked.img,close.img,empty.img");
	struct ipkvm_store_image im;
	assert_int_equal(ipkvm_store_stat(store, "close.img", &im), 0);
	assert_int_equal(im.size, CLOSE_SIZE);
}

static void test_http_errors(void **state)
{
	(void)state;
	struct ipkvm_fetch_status st;
	uint64_t id = start("/missing", "missing.iso", NULL, 0);
	wait_final(id, &st);
	assert_status(&st, "missing.iso", IPKVM_FETCH_FAILED, 0, -1, -EPROTO, "HTTP 404");
	assert_string_equal(st.reason, "HTTP 404");
	assert_string_equal(ipkvm_fetch_error_code(st.error), "http");

	id = start("/short", "short.iso", NULL, 0);
	wait_final(id, &st);
	assert_int_equal(st.state, IPKVM_FETCH_FAILED);
	assert_int_equal(st.error, -EMSGSIZE);
	assert_string_equal(st.reason, "the server sent fewer bytes than it announced");
	assert_string_equal(ipkvm_fetch_error_code(st.error), "short");
	assert_int_equal(st.bytes, 500);
	assert_int_equal(st.total, 1000);

	id = start("/redirect", "redirected.iso", big_sha, 0);
	wait_final(id, &st);
	assert_status(&st, "redirected.iso", IPKVM_FETCH_DONE, BIG_SIZE, BIG_SIZE, 0, "");

	id = start("/redirect-ftp", "ftp.iso", NULL, 0);
	wait_final(id, &st);
	assert_int_equal(st.state, IPKVM_FETCH_FAILED);
	assert_int_equal(st.error, -EPROTONOSUPPORT);

	/* A port nobody listens on. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	close(s);
	char u[128], err[256];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/x", ntohs(a.sin_port));
	struct ipkvm_fetch_request req = {u, "refused.iso", NULL, 0, false, NULL};
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), 0);
	wait_final(id, &st);
	assert_int_equal(st.state, IPKVM_FETCH_FAILED);
	assert_int_equal(st.error, -ECONNREFUSED);
	/* curl's text (closed port, address) is the owner's; everyone else reads a phrase that
	 * is the same for a closed, a filtered and an unknown host. */
	assert_non_null(strstr(st.message, "127.0.0.1"));
	assert_string_equal(st.reason, "the transfer failed");
	json_t *j = ipkvm_fetch_status_json(&st, false);
	assert_string_equal(json_string_value(json_object_get(j, "error_code")), "transfer");
	json_decref(j);
	snprintf(u, sizeof(u), "http://no-such-host.invalid/x");
	req.name = "unknown.iso";
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), 0);
	wait_final(id, &st);
	/* -ETIMEDOUT where no resolver answers within the connect timeout */
	assert_true(st.error == -EHOSTUNREACH || st.error == -ETIMEDOUT);
	assert_string_equal(st.reason, "the transfer failed");

	assert_string_equal(dir_entries(), "redirected.iso");
}

static void test_size_limit(void **state)
{
	(void)state;
	struct ipkvm_fetch_status st;
	/* Content-Length over the limit: refused before a byte is written. */
	uint64_t id = start("/big", "big.iso", NULL, 1024 * 1024);
	wait_final(id, &st);
	assert_status(&st, "big.iso", IPKVM_FETCH_FAILED, 0, -1, -EFBIG,
		      "download is larger than the limit of 1048576 bytes");
	/* No Content-Length: cut off when the stream passes the limit. */
	id = start("/close", "close.iso", NULL, 100000);
	wait_final(id, &st);
	assert_status(&st, "close.iso", IPKVM_FETCH_FAILED, st.bytes, -1, -EFBIG,
		      "download is larger than the limit of 100000 bytes");
	assert_true(st.bytes <= 100000);
	assert_string_equal(dir_entries(), "");
}

/* The store's io seam: 1 MiB free, and writes that fail with ENOSPC past a budget. */
static atomic_llong write_budget = -1;

static int small_fstatvfs(int fd, struct statvfs *st)
{
	(void)fd;
	memset(st, 0, sizeof(*st));
	st->f_frsize = 4096;
	st->f_bavail = 256;
	st->f_blocks = 1000;
	return 0;
}

static ssize_t budget_write(int fd, const void *buf, size_t len)
{
	long long left = atomic_load(&write_budget);
	if (left >= 0 && (long long)len > left) {
		errno = ENOSPC;
		return -1;
	}
	if (left >= 0)
		atomic_fetch_sub(&write_budget, (long long)len);
	return write(fd, buf, len);
}

static void test_no_space(void **state)
{
	(void)state;
	struct ipkvm_fetch_status st;
	struct ipkvm_store_io io = {small_fstatvfs, budget_write};
	ipkvm_store_set_io(store, &io);
	/* Content-Length bigger than the free space: refused before writing. */
	uint64_t id = start("/big", "big.iso", NULL, 0);
	wait_final(id, &st);
	assert_status(&st, "big.iso", IPKVM_FETCH_FAILED, 0, -1, -ENOSPC,
		      "not enough free space: 3145728 bytes needed, 1048576 free");
	/* No Content-Length: the disk fills up while writing. */
	atomic_store(&write_budget, 100000);
	id = start("/close", "close.iso", NULL, 0);
	wait_final(id, &st);
	assert_status(&st, "close.iso", IPKVM_FETCH_FAILED, st.bytes, -1, -ENOSPC,
		      "cannot write close.iso: No space left on device");
	assert_true(st.bytes <= 100000);
	atomic_store(&write_budget, -1);
	ipkvm_store_set_io(store, NULL);
	assert_string_equal(dir_entries(), "");
}

static void test_cancel(void **state)
{
	(void)state;
	struct ipkvm_fetch_status st[4];
	uint64_t id = start("/slow", "slow.iso", NULL, 0);
	/* Wait until the first 64 KiB are in (the .part exists and is listed). */
	int64_t deadline = ipkvm_mono_ms() + 10000;
	for (;;) {
		assert_true(ipkvm_mono_ms() < deadline);
		assert_int_equal(ipkvm_fetch_list(fetcher, st, 4), 1);
		if (st[0].bytes >= 65536)
			break;
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(st[0].state, IPKVM_FETCH_RUNNING);
	assert_int_equal(st[0].total, SLOW_SIZE);
	assert_string_equal(dir_entries(), ".slow.iso.part");
	struct ipkvm_store_image *v;
	size_t n;
	assert_int_equal(ipkvm_store_list(store, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_false(v[0].complete);
	assert_int_equal(v[0].expected, SLOW_SIZE);
	free(v);

	int64_t t0 = ipkvm_mono_ms();
	assert_int_equal(ipkvm_fetch_cancel(fetcher, id, "carol"), 0);
	/* Asked again by someone else before it ended: still carol's cancel. */
	if (ipkvm_fetch_cancel(fetcher, id, "dave") == 0) {
		struct ipkvm_fetch_status now;
		assert_int_equal(ipkvm_fetch_get(fetcher, id, &now), 0);
		assert_string_equal(now.cancelled_by, "carol");
	}
	wait_final(id, &st[0]);
	assert_true(ipkvm_mono_ms() - t0 < 5000);
	assert_int_equal(st[0].state, IPKVM_FETCH_CANCELLED);
	assert_int_equal(st[0].error, 0);
	assert_string_equal(st[0].message, "");
	assert_string_equal(st[0].reason, "");
	assert_string_equal(st[0].cancelled_by, "carol");
	json_t *j = ipkvm_fetch_status_json(&st[0], true);
	assert_string_equal(json_string_value(json_object_get(j, "cancelled_by")), "carol");
	json_decref(j);
	j = ipkvm_fetch_status_json(&st[0], false);
	assert_null(json_object_get(j, "cancelled_by"));
	json_decref(j);
	assert_string_equal(dir_entries(), "");
}

static void test_max_active_and_destroy(void **state)
{
	(void)state;
	char u[128], err[256];
	uint64_t id;
	ipkvm_fetch_destroy(fetcher);
	make_fetcher(1);
	start("/slow", "one.iso", NULL, 0);
	url(u, sizeof(u), "/big");
	struct ipkvm_fetch_request req = {u, "two.iso", NULL, 0, false, NULL};
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), -EAGAIN);
	assert_string_equal(err, "1 downloads are already running");
	/* Destroy cancels the running download and removes its partial file. */
	int64_t t0 = ipkvm_mono_ms();
	ipkvm_fetch_destroy(fetcher);
	fetcher = NULL;
	assert_true(ipkvm_mono_ms() - t0 < 5000);
	assert_string_equal(dir_entries(), "");
}

static void test_low_speed_timeout(void **state)
{
	(void)state;
	struct ipkvm_fetch_config cfg;
	struct ipkvm_fetch_status st;
	ipkvm_fetch_destroy(fetcher);
	ipkvm_fetch_config_defaults(&cfg);
	cfg.low_speed_bytes = 1000000;
	cfg.low_speed_time_s = 1;
	cfg.allow_private = true;
	fetcher = ipkvm_fetch_create(&cfg, store, wake, NULL);
	assert_non_null(fetcher);
	int64_t t0 = ipkvm_mono_ms();
	uint64_t id = start("/slow", "stalled.iso", NULL, 0);
	wait_final(id, &st);
	assert_true(ipkvm_mono_ms() - t0 < 5000);
	assert_int_equal(st.state, IPKVM_FETCH_FAILED);
	assert_int_equal(st.error, -ETIMEDOUT);
	assert_string_equal(dir_entries(), "");
}

static void test_bad_config(void **state)
{
	(void)state;
	struct ipkvm_fetch_config cfg;
	ipkvm_fetch_config_defaults(&cfg);
	cfg.max_active = 0;
	assert_null(ipkvm_fetch_create(&cfg, store, wake, NULL));
	ipkvm_fetch_config_defaults(&cfg);
	cfg.max_bytes = 0;
	assert_null(ipkvm_fetch_create(&cfg, store, wake, NULL));
	ipkvm_fetch_destroy(NULL);
}

static int check_v4(const char *text, char *why, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, text, &a.sin_addr), 1);
	return ipkvm_fetch_address_check((const struct sockaddr *)&a, sizeof(a), why, len);
}

static int check_v6(const char *text, char *why, size_t len)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6};
	assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
	return ipkvm_fetch_address_check((const struct sockaddr *)&a, sizeof(a), why, len);
}

/* The classifier, address by address, and every address of this machine's interfaces. */
static void test_address_check(void **state)
{
	(void)state;
	static const struct {
		const char *addr, *why; /* why NULL: allowed */
	} cases[] = {
	    {"0.0.0.0", "0.0.0.0 is an unspecified (\"this network\") address"},
	    {"0.1.2.3", "0.1.2.3 is an unspecified (\"this network\") address"},
	    {"127.0.0.1", "127.0.0.1 is a loopback address"},
	    {"127.255.0.9", "127.255.0.9 is a loopback address"},
	    {"10.0.0.1", "10.0.0.1 is a private (RFC 1918) address"},
	    {"172.16.0.1", "172.16.0.1 is a private (RFC 1918) address"},
	    {"172.31.255.255", "172.31.255.255 is a private (RFC 1918) address"},
	    {"172.32.0.1", NULL},
	    {"172.15.255.255", NULL},
	    {"192.168.1.10", "192.168.1.10 is a private (RFC 1918) address"},
	    {"192.169.0.1", NULL},
	    {"100.64.0.1", "100.64.0.1 is a shared (CGNAT, RFC 6598) address"},
	    {"100.127.255.254", "100.127.255.254 is a shared (CGNAT, RFC 6598) address"},
	    {"100.128.0.1", NULL},
	    {"169.254.169.254", "169.254.169.254 is a link-local address"},
	    {"224.0.0.251", "224.0.0.251 is a multicast address"},
	    {"239.255.255.250", "239.255.255.250 is a multicast address"},
	    {"255.255.255.255", "255.255.255.255 is a reserved or broadcast address"},
	    {"8.8.8.8", NULL},
	    {"1.1.1.1", NULL},
	    {"::", ":: is an unspecified address"},
	    {"::1", "::1 is a loopback address"},
	    {"::ffff:127.0.0.1", "::ffff:127.0.0.1 is a loopback address"},
	    {"::ffff:10.1.2.3", "::ffff:10.1.2.3 is a private (RFC 1918) address"},
	    {"::ffff:169.254.169.254", "::ffff:169.254.169.254 is a link-local address"},
	    {"::ffff:8.8.8.8", NULL},
	    {"::127.0.0.1", "::127.0.0.1 is a loopback address"},
	    {"64:ff9b::c0a8:101", "64:ff9b::c0a8:101 is a private (RFC 1918) address"},
	    {"64:ff9b::808:808", NULL},
	    {"fc00::1", "fc00::1 is a unique local (fc00::/7) address"},
	    {"fd12:3456::1", "fd12:3456::1 is a unique local (fc00::/7) address"},
	    {"fe80::1", "fe80::1 is a link-local address"},
	    {"febf::1", "febf::1 is a link-local address"},
	    {"fec0::1", "fec0::1 is a site-local address"},
	    {"ff02::1", "ff02::1 is a multicast address"},
	    {"2001:4860:4860::8888", NULL},
	    {"2606:4700::1111", NULL},
	};
	char why[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool v6 = strchr(cases[i].addr, ':') != NULL;
		strcpy(why, "x");
		int r = v6 ? check_v6(cases[i].addr, why, sizeof(why))
			   : check_v4(cases[i].addr, why, sizeof(why));
		if (r != (cases[i].why ? -EACCES : 0) ||
		    strcmp(why, cases[i].why ? cases[i].why : "") != 0)
			fail_msg("%s: got %d '%s', want '%s'", cases[i].addr, r, why,
				 cases[i].why ? cases[i].why : "");
	}
	/* Every address of this machine (a public one too) is its own network. */
	struct ifaddrs *ifs;
	assert_int_equal(getifaddrs(&ifs), 0);
	int seen = 0;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		unsigned len = i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
								 : sizeof(struct sockaddr_in6);
		assert_int_equal(ipkvm_fetch_address_check(i->ifa_addr, len, why, sizeof(why)),
				 -EACCES);
		seen++;
	}
	freeifaddrs(ifs);
	assert_true(seen >= 1); /* lo at least */
	struct sockaddr un = {.sa_family = AF_UNIX};
	assert_int_equal(ipkvm_fetch_address_check(&un, sizeof(un), why, sizeof(why)), -EACCES);
	assert_string_equal(why, "address family 1 is not IPv4 or IPv6");
}

/* The default ([msd] fetch_allow_private = 0): a literal loopback URL is refused by the
 * start itself; a name that resolves to loopback is refused at connect time. */
static void test_private_refused(void **state)
{
	(void)state;
	struct ipkvm_fetch_config cfg;
	struct ipkvm_fetch_status st;
	char u[128], err[256];
	uint64_t id = 0;
	ipkvm_fetch_destroy(fetcher);
	ipkvm_fetch_config_defaults(&cfg);
	assert_false(cfg.allow_private);
	cfg.connect_timeout_s = 5;
	fetcher = ipkvm_fetch_create(&cfg, store, wake, NULL);
	assert_non_null(fetcher);
	static const struct {
		const char *scheme, *host, *err;
	} literal[] = {
	    {"http", "127.0.0.1",
	     "url: 127.0.0.1 is a loopback address: downloads from this "
	     "machine's own network are off ([msd] fetch_allow_private)"},
	    {"http", "[::1]",
	     "url: ::1 is a loopback address: downloads from this machine's own "
	     "network are off ([msd] fetch_allow_private)"},
	    {"https", "169.254.169.254",
	     "url: 169.254.169.254 is a link-local address: downloads from this machine's own "
	     "network are off ([msd] fetch_allow_private)"},
	    {"http", "[::ffff:192.168.0.1]",
	     "url: ::ffff:192.168.0.1 is a private (RFC 1918) address: downloads from this "
	     "machine's own network are off ([msd] fetch_allow_private)"},
	};
	for (size_t i = 0; i < sizeof(literal) / sizeof(literal[0]); i++) {
		snprintf(u, sizeof(u), "%s://%s:%d/big", literal[i].scheme, literal[i].host,
			 srv_port);
		struct ipkvm_fetch_request req = {u, "x.iso", NULL, 0, false, "alice"};
		int r = ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err));
		if (r != -EACCES || strcmp(err, literal[i].err) != 0)
			fail_msg("%s: got %d '%s'", u, r, err);
	}
	assert_string_equal(dir_entries(), "");

	/* "localhost" is a name: it passes the start, and every address it resolves to (127.0.0.1,
	 * ::1) is refused when curl is about to connect. */
	snprintf(u, sizeof(u), "http://localhost:%d/big", srv_port);
	struct ipkvm_fetch_request req = {u, "local.iso", NULL, 0, false, "alice"};
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), 0);
	wait_final(id, &st);
	assert_int_equal(st.state, IPKVM_FETCH_FAILED);
	assert_int_equal(st.error, -EACCES);
	assert_int_equal(st.bytes, 0);
	assert_true(strncmp(st.message, "refused to connect: ", 20) == 0);
	assert_non_null(strstr(st.message, " is a loopback address: downloads from this machine's "
					   "own network are off ([msd] fetch_allow_private)"));
	assert_string_equal(st.reason,
			    "the server's address is on this machine's own network: refused");
	assert_string_equal(st.owner, "alice");
	assert_string_equal(dir_entries(), "");
}

/* Only 127.0.0.2 counts as outside; everything else is judged by the real check. */
static int outside_is_127_0_0_2(const struct sockaddr *sa, unsigned len, char *why, size_t wl)
{
	const struct sockaddr_in *in = (const void *)sa;
	if (sa->sa_family == AF_INET && in->sin_addr.s_addr == htonl(0x7f000002)) {
		if (why && wl)
			why[0] = '\0';
		return 0;
	}
	return ipkvm_fetch_address_check(sa, len, why, wl);
}

/* A redirect is checked like the first connection: an allowed host that redirects to
 * loopback gets the download refused, and nothing is stored. */
static void test_redirect_to_private_refused(void **state)
{
	(void)state;
	struct ipkvm_fetch_config cfg;
	struct ipkvm_fetch_status st;
	char u[128], err[256];
	uint64_t id = 0;
	ipkvm_fetch_destroy(fetcher);
	ipkvm_fetch_config_defaults(&cfg);
	cfg.connect_timeout_s = 5;
	fetcher = ipkvm_fetch_create(&cfg, store, wake, NULL);
	assert_non_null(fetcher);
	ipkvm_fetch_set_address_check(fetcher, outside_is_127_0_0_2);

	/* The allowed host works... */
	snprintf(u, sizeof(u), "http://127.0.0.2:%d/big", srv2_port);
	struct ipkvm_fetch_request req = {u, "outside.iso", big_sha, 0, false, "bob"};
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), 0);
	wait_final(id, &st);
	assert_status(&st, "outside.iso", IPKVM_FETCH_DONE, BIG_SIZE, BIG_SIZE, 0, "");
	/* ...the loopback one is refused up front through the same check... */
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/big", srv_port);
	req.name = "direct.iso";
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), -EACCES);
	/* ...and so is a redirect from the allowed host to it. */
	snprintf(u, sizeof(u), "http://127.0.0.2:%d/redirect-loopback", srv2_port);
	req.name = "redirected.iso";
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), 0);
	wait_final(id, &st);
	assert_status(&st, "redirected.iso", IPKVM_FETCH_FAILED, 0, -1, -EACCES,
		      "refused to connect: 127.0.0.1 is a loopback address: downloads from this "
		      "machine's own network are off ([msd] fetch_allow_private)");
	assert_string_equal(st.reason,
			    "the server's address is on this machine's own network: refused");
	assert_string_equal(dir_entries(), "outside.iso");

	/* With allow_private the seam is not even consulted: the redirect is followed. */
	ipkvm_fetch_destroy(fetcher);
	cfg.allow_private = true;
	fetcher = ipkvm_fetch_create(&cfg, store, wake, NULL);
	assert_non_null(fetcher);
	ipkvm_fetch_set_address_check(fetcher, outside_is_127_0_0_2);
	assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), 0);
	wait_final(id, &st);
	assert_status(&st, "redirected.iso", IPKVM_FETCH_DONE, BIG_SIZE, BIG_SIZE, 0, "");
}

/* The owner's view: a finished download stays readable (whole message) after poll reported
 * it, for the last IPKVM_FETCH_RECENT downloads. */
static void test_get_after_the_end(void **state)
{
	(void)state;
	struct ipkvm_fetch_status st, got;
	char u[128], err[256];
	uint64_t first = 0, id = 0;
	url(u, sizeof(u), "/missing");
	assert_int_equal(ipkvm_fetch_get(fetcher, 1, &got), -ENOENT);
	for (int i = 0; i <= IPKVM_FETCH_RECENT; i++) {
		char name[32];
		snprintf(name, sizeof(name), "m%d.iso", i);
		struct ipkvm_fetch_request req = {u, name, NULL, 0, false, "erin"};
		assert_int_equal(ipkvm_fetch_start(fetcher, &req, &id, err, sizeof(err)), 0);
		if (i == 0)
			first = id;
		wait_final(id, &st);
		assert_int_equal(ipkvm_fetch_get(fetcher, id, &got), 0);
		assert_string_equal(got.name, name);
		assert_string_equal(got.owner, "erin");
		assert_string_equal(got.message, "HTTP 404");
		assert_int_equal(got.state, IPKVM_FETCH_FAILED);
	}
	/* The oldest fell out of the ring. */
	assert_int_equal(ipkvm_fetch_get(fetcher, first, &got), -ENOENT);
	assert_int_equal(ipkvm_fetch_get(fetcher, first + 1, &got), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_start_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_download_with_length_and_sha, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_sha, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_without_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_space, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_active_and_destroy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_low_speed_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_address_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_private_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_redirect_to_private_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_after_the_end, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
