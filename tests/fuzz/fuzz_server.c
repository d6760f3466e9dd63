/*
 * fuzz_server: the in-process ipkvmd of the server harnesses; see fuzz_server.h.
 */
#include "fuzz_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/session.h"
#include "auth/tokens.h"
#include "auth/users.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/daemon.h"
#include "hid/paste.h"
#include "msd/msd.h"
#include "web/server.h"
#include "web/web.h"

#define PASSWORD "fuzz-password-1"

static struct {
	struct ipkvm_config cfg;
	struct ipkvm_daemon *daemon;
	struct ipkvm_server *srv; /* the daemon's web front end */
	char dir[PATH_MAX];
	char users_path[PATH_MAX], tokens_path[PATH_MAX], audit_path[PATH_MAX];
	char *users_text, *tokens_text; /* the files as made at start */
	size_t users_len, tokens_len;
	struct stat users_st, tokens_st;
	char tok_admin[IPKVM_TOKEN_LEN + 1], tok_oper[IPKVM_TOKEN_LEN + 1];
	char tok_view[IPKVM_TOKEN_LEN + 1];
	char session[IPKVM_SESSION_TOKEN_LEN + 1];
	uint64_t runs;
} fs;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_server: %s\n", what);
	exit(1);
}

bool fuzz_tracing(void)
{
	static int on = -1;
	if (on < 0)
		on = getenv("FUZZ_TRACE") != NULL;
	return on;
}

void fuzz_trace(char dir, const void *buf, size_t len)
{
	if (fuzz_tracing() && len)
		fprintf(stderr, "%c %zu bytes:\n%.*s\n", dir, len, (int)len, (const char *)buf);
}

int64_t fuzz_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* State directories of harness processes that died (a crash skips atexit): only names
 * this file makes, "ipkvm-fuzz-PID-...", whose process is gone. */
static void rm_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int pid;
		if (sscanf(e->d_name, "ipkvm-fuzz-%d-", &pid) == 1 && pid > 0 && kill(pid, 0) < 0 &&
		    errno == ESRCH) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/%s", base, e->d_name);
			rm_tree(p);
		}
	}
	if (d)
		closedir(d);
}

static void at_exit(void)
{
	if (fs.daemon) {
		ipkvm_daemon_destroy(fs.daemon);
		fs.daemon = NULL;
		fs.srv = NULL;
	}
	ipkvm_config_free(&fs.cfg);
	if (fs.dir[0])
		rm_tree(fs.dir);
}

static char *slurp(const char *path, size_t *len)
{
	char *buf = NULL;
	if (ipkvm_read_file(path, 1 << 20, &buf, len) < 0)
		die("cannot read back a credentials file");
	return buf;
}

static void set(const char *section, const char *key, const char *value, bool required)
{
	char err[256];
	if (ipkvm_config_set(&fs.cfg, section, key, value, err, sizeof(err)) < 0 && required)
		die(err);
}

/* A TCP port free on 127.0.0.1 right now. */
static int loopback_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("no free loopback port");
	close(fd);
	return ntohs(a.sin_port);
}

static void make_credentials(void)
{
	static const struct {
		const char *name;
		enum ipkvm_role role;
	} who[] = {{"admin", IPKVM_ROLE_ADMIN},
		   {"oper", IPKVM_ROLE_OPERATOR},
		   {"view", IPKVM_ROLE_VIEWER}};
	char *toks[] = {fs.tok_admin, fs.tok_oper, fs.tok_view};
	struct ipkvm_users users;
	struct ipkvm_tokens tokens;
	ipkvm_users_init(&users);
	ipkvm_tokens_init(&tokens);
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(who); i++) {
		struct ipkvm_user u = {.role = who[i].role};
		strcpy(u.name, who[i].name);
		if (ipkvm_password_hash(PASSWORD, u.hash, sizeof(u.hash)) < 0 ||
		    ipkvm_users_add(&users, &u) < 0 ||
		    ipkvm_tokens_create(&tokens, u.name, ipkvm_now(), 0, "fuzz", toks[i],
					IPKVM_TOKEN_LEN + 1) < 0)
			die("cannot make the users and tokens");
	}
	if (ipkvm_users_save(&users, fs.users_path) < 0 ||
	    ipkvm_tokens_save(&tokens, fs.tokens_path) < 0)
		die("cannot write the users and tokens files");
	ipkvm_users_free(&users);
	ipkvm_tokens_free(&tokens);
	fs.users_text = slurp(fs.users_path, &fs.users_len);
	fs.tokens_text = slurp(fs.tokens_path, &fs.tokens_len);
	stat(fs.users_path, &fs.users_st);
	stat(fs.tokens_path, &fs.tokens_st);
}

static void new_session(void)
{
	if (ipkvm_authsvc_session_open(fs.srv->svc->auth, "admin", fs.session, NULL, NULL) < 0)
		die("cannot start a session");
}

struct ipkvm_server *fuzz_server_start(const char *harness, unsigned flags)
{
	if (fs.srv)
		return fs.srv;
	/* /dev/shm: fsync is free there, and nothing wears a disk. */
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	rm_stale(base);
	snprintf(fs.dir, sizeof(fs.dir), "%s/ipkvm-fuzz-%d-%s-XXXXXX", base, (int)getpid(),
		 harness);
	if (!mkdtemp(fs.dir))
		die("mkdtemp failed");
	atexit(at_exit);
	snprintf(fs.users_path, sizeof(fs.users_path), "%s/%s", fs.dir, IPKVM_USERS_FILE);
	snprintf(fs.tokens_path, sizeof(fs.tokens_path), "%s/%s", fs.dir, IPKVM_TOKENS_FILE);
	snprintf(fs.audit_path, sizeof(fs.audit_path), "%s/audit.log", fs.dir);

	/* Log errors only, unless asked: a fuzzer prints millions of requests. */
	const char *level = getenv("FUZZ_LOG");
	enum ipkvm_log_level lv = IPKVM_LOG_ERROR;
	if (level)
		ipkvm_log_level_parse(level, &lv);
	ipkvm_config_init(&fs.cfg);
	set("server", "state_dir", fs.dir, true);
	set("server", "plain_listen", "127.0.0.1", true);
	set("video", "source", flags & FUZZ_SERVER_VIDEO ? "virtual" : "none", true);
	set("h264", "backend", "none", true);
	set("jpeg", "workers", "1", true);
	set("target", "width", "640", true);
	set("target", "height", "480", true);
	set("target", "fps", "10", true);
	set("target", "autoboot", "1", true);
	/* Uploads land in RAM on /dev/shm: a quota keeps a run of them small. */
	set("msd", "max_size", "64M", false);
	/* Connections are adopted socketpairs (see the header), so no vhost needs to listen.
	 * But lws moves a request to the first vhost with the same listen port when its Host
	 * names no vhost, as the real ports keep HTTPS, plain and redirect apart: each vhost
	 * gets a port of its own. HTTPS (never used here): no listener at all; plain: no
	 * listener, but server-side; the redirect: an unused port on loopback. */
	fs.cfg.port = CONTEXT_PORT_NO_LISTEN;
	fs.cfg.plain_port = CONTEXT_PORT_NO_LISTEN_SERVER;
	set("server", "listen", "127.0.0.1", true);
	fs.cfg.http_port = loopback_port();
	fs.cfg.log_level = lv;
	ipkvm_log_set_level(lv);
	/* Downloads never leave the machine: every URL goes through a proxy that refuses. */
	setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
	setenv("all_proxy", "http://127.0.0.1:9", 1);
	unsetenv("NO_PROXY");
	unsetenv("no_proxy");

	/* Connections the server closes on its own timer (lingering after an answer that ends
	 * them) pile up for a second at thousands of inputs a second: all the fds allowed. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	make_credentials();
	fs.daemon = ipkvm_daemon_create(&fs.cfg);
	if (!fs.daemon)
		die("ipkvm_daemon_create failed (FUZZ_LOG=info says why)");
	fs.srv = ipkvm_daemon_web(fs.daemon);
	/* The daemon blocks the termination signals for its signalfd; the fuzzer wants
	 * SIGINT and SIGTERM back for its own handlers (the threads keep them blocked). */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
	new_session();
	return fs.srv;
}

void fuzz_service(bool block)
{
	lws_service(fs.srv->ctx, block ? 0 : -1);
}

const char *fuzz_token(char role)
{
	return role == 'A' ? fs.tok_admin : role == 'O' ? fs.tok_oper : fs.tok_view;
}

const char *fuzz_session(void)
{
	return fs.session;
}

char *fuzz_substitute(const uint8_t *in, size_t len, size_t *out_len)
{
	/* Each placeholder (2 bytes) grows into at most IPKVM_TOKEN_LEN bytes. */
	char *out = malloc(len / 2 * IPKVM_TOKEN_LEN + len + 1);
	size_t o = 0;
	if (!out)
		abort();
	for (size_t i = 0; i < len; i++) {
		const char *sub = NULL;
		if (in[i] == '$' && i + 1 < len) {
			switch (in[i + 1]) {
			case 'A':
			case 'O':
			case 'V':
				sub = fuzz_token((char)in[i + 1]);
				break;
			case 'S':
				sub = fs.session;
				break;
			}
		}
		if (sub) {
			memcpy(out + o, sub, strlen(sub));
			o += strlen(sub);
			i++;
		} else {
			out[o++] = (char)in[i];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* ---- restoring state between inputs ---- */

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void put_back(const char *path, const char *text, size_t len, struct stat *st)
{
	struct stat now;
	if (stat(path, &now) == 0 && same_stat(&now, st))
		return;
	/* The server's own atomic writer; the server sees a new file identity and reloads. */
	if (ipkvm_write_file_atomic(path, text, len, 0600) < 0)
		die("cannot restore a credentials file");
	stat(path, st);
}

static void trim_store(void)
{
	struct ipkvm_store *store = fs.srv->svc->msd ? ipkvm_msd_store(fs.srv->svc->msd) : NULL;
	struct ipkvm_store_image *v = NULL;
	size_t n = 0;
	if (!store || ipkvm_store_list(store, &v, &n) < 0)
		return;
	for (size_t i = 0; n > 32 && i < n; i++) {
		if (v[i].complete && !ipkvm_store_held(store, v[i].name))
			ipkvm_store_delete(store, v[i].name);
	}
	free(v);
}

void fuzz_server_restore(void)
{
	struct ipkvm_server *srv = fs.srv;
	uint64_t id;
	size_t typed, total;
	if (srv->svc->paste)
		ipkvm_paste_cancel(srv->svc->paste, &id, &typed, &total);
	struct ipkvm_fetcher *fetcher = srv->svc->msd ? ipkvm_msd_fetcher(srv->svc->msd) : NULL;
	if (fetcher) {
		struct ipkvm_fetch_status st[8];
		size_t n = ipkvm_fetch_list(fetcher, st, IPKVM_ARRAY_SIZE(st));
		for (size_t i = 0; i < n; i++)
			if (st[i].state == IPKVM_FETCH_RUNNING)
				ipkvm_fetch_cancel(fetcher, st[i].id, "fuzz");
	}
	put_back(fs.users_path, fs.users_text, fs.users_len, &fs.users_st);
	put_back(fs.tokens_path, fs.tokens_text, fs.tokens_len, &fs.tokens_st);
	/* Picks the restored files up now, so the session check below sees them. */
	ipkvm_authsvc_refresh(srv->svc->auth, false);
	struct ipkvm_auth auth;
	if (ipkvm_authsvc_session_auth(srv->svc->auth, fs.session, false, &auth) < 0)
		new_session();
	if (++fs.runs % 256 == 0) {
		struct stat st;
		if (stat(fs.audit_path, &st) == 0 && st.st_size > (1 << 20))
			truncate(fs.audit_path, 0);
		trim_store();
	}
}

/* ---- connections ---- */

static int conn_open(struct fuzz_conn *c, struct lws_vhost *vh)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair failed");
	c->fd = sv[1];
	c->lws_fd = sv[0];
	if (!lws_adopt_socket_vhost(vh, sv[0])) {
		/* lws closes the fd it refused. */
		close(sv[1]);
		c->fd = c->lws_fd = -1;
		return -1;
	}
	return 0;
}

int fuzz_conn_open(struct fuzz_conn *c)
{
	return conn_open(c, fs.srv->plain_vhost);
}

int fuzz_conn_open_redirect(struct fuzz_conn *c)
{
	return conn_open(c, fs.srv->redirect_vhost);
}

int fuzz_conn_write(struct fuzz_conn *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	int64_t deadline = fuzz_now_ms() + 5000;
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			fuzz_trace('>', p, (size_t)n);
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		/* Full: let the server read (or notice it stopped reading). */
		fuzz_service(false);
		char sink[4096];
		if (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) == 0)
			return -1;
		if (fuzz_now_ms() > deadline)
			return -1; /* it stopped reading (flow control): the rest does not matter */
	}
	return 0;
}

ssize_t fuzz_conn_read(struct fuzz_conn *c, void *buf, size_t cap)
{
	ssize_t n = recv(c->fd, buf, cap, MSG_DONTWAIT);
	if (n > 0) {
		fuzz_trace('<', buf, (size_t)n);
		return n;
	}
	if (n == 0)
		return -1;
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

void fuzz_conn_close(struct fuzz_conn *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	/* lws sees the hang-up on its next pass (a response it was writing fails then) and
	 * closes, except a connection it stopped reading on purpose (lingering after an
	 * answer that ends it): that one it closes from its own timer, during later inputs,
	 * as it would for a real client. */
	int i = 0;
	for (; i < 20 && fd_open(c->lws_fd); i++)
		fuzz_service(false);
	if (fuzz_tracing())
		fprintf(stderr, "lws %s its end after %d passes\n",
			fd_open(c->lws_fd) ? "had not closed" : "closed", i);
	c->fd = c->lws_fd = -1;
}

int fuzz_http_exchange(struct fuzz_conn *c, const void *req, size_t len, int timeout_ms,
		       const char **body, size_t *body_len)
{
	static char resp[1 << 20];
	size_t have = 0;
	if (fuzz_conn_write(c, req, len) < 0) {
		fuzz_conn_close(c);
		return 0;
	}
	int64_t deadline = fuzz_now_ms() + timeout_ms;
	for (;;) {
		fuzz_service(true);
		bool eof = false;
		while (have < sizeof(resp) - 1) {
			ssize_t n = fuzz_conn_read(c, resp + have, sizeof(resp) - 1 - have);
			if (n <= 0) {
				eof = n < 0;
				break;
			}
			have += (size_t)n;
		}
		resp[have] = '\0';
		/* memmem, bounded: strstr would run over the whole body once per header line. */
		char *end = memmem(resp, have, "\r\n\r\n", 4);
		if (end) {
			/* Headers are in: lws writes content-length on every response here. */
			size_t hlen = (size_t)(end + 4 - resp), clen = 0;
			/* HTTP/1.0 (lws answers so when it could not read the version) ends the
			 * connection after the response as well. */
			bool close_after = strncmp(resp, "HTTP/1.0 ", 9) == 0;
			for (char *p = resp; p < end;
			     p = (char *)memmem(p, (size_t)(end + 2 - p), "\r\n", 2) + 2) {
				if (strncasecmp(p, "content-length:", 15) == 0)
					clen = strtoul(p + 15, NULL, 10);
				if (strncasecmp(p, "connection: close\r\n", 19) == 0)
					close_after = true;
			}
			if (have >= hlen + clen) {
				int status = 0;
				sscanf(resp, "HTTP/1.%*d %d", &status);
				if (fuzz_tracing())
					fprintf(stderr, "answer %d after %lld ms\n", status,
						(long long)(fuzz_now_ms() - deadline + timeout_ms));
				if (body)
					*body = resp + hlen;
				if (body_len)
					*body_len = clen;
				if (have > hlen + clen) {
					fprintf(stderr,
						"fuzz_server: %zu bytes after the response\n",
						have - hlen - clen);
					abort();
				}
				/* As a client does: the server reads nothing more here. */
				if (close_after)
					fuzz_conn_close(c);
				return status;
			}
		}
		if (eof || have == sizeof(resp) - 1) {
			fuzz_conn_close(c);
			return 0;
		}
		if (fuzz_now_ms() > deadline) {
			fprintf(stderr,
				"fuzz_server: no complete answer within %d ms (%zu bytes so far): "
				"the server hangs on this request\n",
				timeout_ms, have);
			abort();
		}
	}
}
