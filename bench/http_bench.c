/*
 * http_bench: figures for the daemon's foundation, measured against the real ipkvmd over
 * real TLS on 127.0.0.1:
 *   - new connection: TLS handshake + one authenticated GET, ms
 *   - keep-alive authenticated GET /api/auth/check: latency and requests per second
 *   - login (yescrypt on the worker thread): ms
 *   - event-loop responsiveness while 4 logins hash at once: GET latency (4: from one
 *     address, a fifth login in flight would be held back by the login throttle)
 *   - the daemon's peak RSS
 * It starts its own daemon in a temporary state directory and prints one figure a line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static int port;
static char cookie[128];
static pid_t daemon_pid;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "http_bench: %s failed (%s)\n", what, errno ? strerror(errno) : "");
	if (daemon_pid > 0)
		kill(daemon_pid, SIGTERM);
	exit(1);
}

static SSL *connect_tls(SSL_CTX *ctx)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

static void close_tls(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
}

/* Reads one response with a Content-Length body. Returns the status or -1. */
static int read_response(SSL *ssl, char *body, size_t bodylen)
{
	char buf[16384];
	size_t got = 0;
	for (;;) {
		int n = SSL_read(ssl, buf + got, (int)(sizeof(buf) - 1 - got));
		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		char *cl = strcasestr(buf, "content-length:");
		size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
		size_t have = got - (size_t)(end + 4 - buf);
		if (have < want)
			continue;
		if (body) {
			size_t n2 = want < bodylen - 1 ? want : bodylen - 1;
			memcpy(body, end + 4, n2);
			body[n2] = '\0';
		}
		char *c = strcasestr(buf, "set-cookie: ipkvm_session=");
		if (c)
			sscanf(c + 26, "%127[^;]", cookie);
		return atoi(buf + 9);
	}
}

static int send_all(SSL *ssl, const char *s)
{
	return SSL_write(ssl, s, (int)strlen(s)) == (int)strlen(s) ? 0 : -1;
}

static int get_check(SSL *ssl)
{
	char req[512];
	snprintf(req, sizeof(req),
		 "GET /api/auth/check HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: "
		 "ipkvm_session=%s\r\n\r\n",
		 port, cookie);
	if (send_all(ssl, req) < 0)
		return -1;
	return read_response(ssl, NULL, 0);
}

static void send_login(SSL *ssl, const char *password)
{
	char body[256], req[1024];
	int n = snprintf(body, sizeof(body), "{\"user\":\"admin\",\"password\":\"%s\"}", password);
	snprintf(req, sizeof(req),
		 "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: "
		 "application/json\r\nContent-Length: %d\r\n\r\n%s",
		 port, n, body);
	if (send_all(ssl, req) < 0)
		die("send login");
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	int i = (int)(p / 100.0 * (n - 1) + 0.5);
	return v[i];
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: http_bench PATH/TO/ipkvmd\n");
		return 2;
	}
	char dir[] = "/tmp/ipkvm-bench-XXXXXX", path[512], password[64] = "";
	if (!mkdtemp(dir))
		die("mkdtemp");
	if (bench_free_ports(&port, 1) < 0)
		die("free port");
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	pid_t pid = daemon_pid = fork();
	if (pid == 0) {
		execl(argv[1], argv[1], "--state-dir", dir, "--listen", "127.0.0.1", "--port",
		      portstr, "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	snprintf(path, sizeof(path), "%s/initial-admin-password", dir);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	for (int i = 0; i < 100 && !ssl; i++) {
		usleep(50000);
		ssl = connect_tls(ctx);
	}
	FILE *f = fopen(path, "r");
	if (!ssl || !f || !fgets(password, sizeof(password), f))
		die("daemon did not come up");
	fclose(f);
	password[strcspn(password, "\n")] = '\0';

	/* login */
	enum { LOGINS = 10, GETS = 3000, CONNS = 50, STORM = 4, STORM_GETS = 300 };
	double t[GETS];
	for (int i = 0; i < LOGINS; i++) {
		double t0 = now_ms();
		send_login(ssl, password);
		if (read_response(ssl, NULL, 0) != 200)
			die("login");
		t[i] = now_ms() - t0;
	}
	printf("login (yescrypt on the worker thread): p50 %.2f ms, max %.2f ms (%d logins)\n",
	       pct(t, LOGINS, 50), pct(t, LOGINS, 100), LOGINS);

	/* keep-alive GETs */
	double start = now_ms();
	for (int i = 0; i < GETS; i++) {
		double t0 = now_ms();
		if (get_check(ssl) != 200)
			die("check");
		t[i] = now_ms() - t0;
	}
	double total = now_ms() - start;
	printf("keep-alive GET /api/auth/check: p50 %.3f ms, p99 %.3f ms, %.0f requests/s (one "
	       "connection, %d requests)\n",
	       pct(t, GETS, 50), pct(t, GETS, 99), GETS / (total / 1e3), GETS);

	/* new connections */
	for (int i = 0; i < CONNS; i++) {
		double t0 = now_ms();
		SSL *s = connect_tls(ctx);
		if (!s || get_check(s) != 200)
			die("new connection");
		t[i] = now_ms() - t0;
		close_tls(s);
	}
	printf("new TLS connection + GET: p50 %.2f ms, p95 %.2f ms (%d connections)\n",
	       pct(t, CONNS, 50), pct(t, CONNS, 95), CONNS);

	/* responsiveness while logins hash */
	SSL *storm[STORM];
	for (int i = 0; i < STORM; i++) {
		storm[i] = connect_tls(ctx);
		if (!storm[i])
			die("storm connect");
	}
	double s0 = now_ms();
	for (int i = 0; i < STORM; i++)
		send_login(storm[i], password);
	int n = 0;
	while (n < STORM_GETS && now_ms() - s0 < 5000) {
		double t0 = now_ms();
		if (get_check(ssl) != 200)
			die("check during storm");
		t[n++] = now_ms() - t0;
	}
	for (int i = 0; i < STORM; i++) {
		if (read_response(storm[i], NULL, 0) != 200)
			die("storm login");
		close_tls(storm[i]);
	}
	double storm_ms = now_ms() - s0;
	printf("GET latency while %d logins hash: p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d GETs, "
	       "storm %.0f ms)\n",
	       STORM, pct(t, n, 50), pct(t, n, 99), pct(t, n, 100), n, storm_ms);
	close_tls(ssl);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			printf("daemon peak RSS: %s", line + 6 + strspn(line + 6, " \t"));
	if (f)
		fclose(f);
	kill(pid, SIGTERM);
	int status;
	waitpid(pid, &status, 0);
	SSL_CTX_free(ctx);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "http_bench: could not remove %s\n", dir);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
