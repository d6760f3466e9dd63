/*
 * video_bench: figures for the picture path, measured end to end through the real ipkvmd
 * (pattern source -> change check -> JPEG encoders -> stream hub -> sockets) on 127.0.0.1:
 *   - for 1, 4, 16 and 64 MJPEG clients over the loopback plain-HTTP port, and for 1, 16
 *     and 64 over HTTPS (TLS 1.3): delivered fps per client, capture-to-client latency
 *     (receive time of a part's last byte minus its X-Capture-Us; both CLOCK_MONOTONIC on
 *     the same machine), the daemon's CPU (% of one core, and ms per delivered frame),
 *     the mean JPEG size and the daemon's peak RSS;
 *   - the daemon's CPU with no clients, and with one client watching a static screen.
 * It starts its own daemon (a config file and a state directory in a temporary directory),
 * makes an API token with `ipkvmd user token admin` and prints one figure a line.
 *
 * The clients (mjpeg_client.c, shared with vs_ustreamer) all live on one thread around
 * epoll and discard JPEG bodies in the kernel over plain HTTP, so the bench takes as little
 * CPU from the daemon as it can. The bench's own CPU is printed as well, so a starved daemon
 * can be told from a slow one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mjpeg_client.h"
#include "bench_util.h"

enum {
	MAX_CLIENTS = 64,
	MAX_EVENTS = 128,
	WARMUP_MS = 1000,
	STATIC_SETTLE_MS = 3000,
	START_TIMEOUT_MS = 20000,
};

static const char *ipkvmd;
static char tmpdir[64], state_dir[128], cfg_path[128];
static pid_t daemon_pid;
static int https_port, plain_port;
static char token[256];
static SSL_CTX *tls_ctx;
static double hwm_total_mb; /* VmHWM since the daemon started, across resets */
static volatile sig_atomic_t interrupted;

/* --- exits and clean-up ------------------------------------------------------------- */

/* Stops the daemon (SIGTERM, then SIGKILL after 5 s). When report is set, an unclean exit
 * is said on stderr: it is a finding about the daemon. */
static void stop_daemon(bool report)
{
	if (daemon_pid <= 0)
		return;
	int status = 0;
	pid_t r = 0;
	kill(daemon_pid, SIGTERM);
	for (int i = 0; i < 100 && (r = waitpid(daemon_pid, &status, WNOHANG)) == 0; i++)
		usleep(50000);
	if (r == 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, &status, 0);
		if (report)
			fprintf(stderr, "video_bench: note: ipkvmd did not exit within 5 s of "
					"SIGTERM (killed)\n");
	} else if (report && r > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "video_bench: note: ipkvmd died of signal %d on SIGTERM\n",
				WTERMSIG(status));
		else
			fprintf(stderr,
				"video_bench: note: ipkvmd exited with status %d on SIGTERM\n",
				WEXITSTATUS(status));
	}
	daemon_pid = 0;
}

static void cleanup(void)
{
	stop_daemon(false);
	if (tmpdir[0]) {
		bench_rm_tree(tmpdir);
		tmpdir[0] = '\0';
	}
}

/* Prints the error (and whether the daemon is gone), cleans up and exits 1. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "video_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	int status;
	if (daemon_pid > 0 && waitpid(daemon_pid, &status, WNOHANG) == daemon_pid) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "video_bench: ipkvmd died of signal %d\n",
				WTERMSIG(status));
		else
			fprintf(stderr, "video_bench: ipkvmd exited with status %d\n",
				WEXITSTATUS(status));
		daemon_pid = 0;
	}
	cleanup();
	exit(1);
}

static void on_signal(int sig)
{
	interrupted = 1;
}

static void check_interrupted(void)
{
	if (interrupted)
		die("interrupted");
}

/* --- small helpers ------------------------------------------------------------------ */

static void sleep_ms(int ms)
{
	int64_t end = bench_mono_us() + (int64_t)ms * 1000;
	for (int64_t now; (now = bench_mono_us()) < end;) {
		check_interrupted();
		usleep((useconds_t)(end - now < 100000 ? end - now : 100000));
	}
}

/* utime + stime of the daemon, in seconds (threads that ended included). */
static double daemon_cpu_s(void)
{
	double s;
	if (bench_proc_cpu_s(daemon_pid, &s) < 0)
		die("cannot read /proc/%d/stat (did ipkvmd die?)", (int)daemon_pid);
	return s;
}

/* A "Vm...:" line of /proc/PID/status, in MB; -1 when missing. */
static double daemon_status_mb(const char *key)
{
	char path[64], line[256];
	double mb = -1;
	size_t klen = strlen(key);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)daemon_pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0)
			mb = strtod(line + klen, NULL) / 1024.0;
	if (f)
		fclose(f);
	return mb;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0), so the next reading is this run's peak.
 * The peak so far is kept first. False when the kernel refuses. */
static bool reset_hwm(void)
{
	char path[64];
	double hwm = daemon_status_mb("VmHWM:");
	if (hwm > hwm_total_mb)
		hwm_total_mb = hwm;
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)daemon_pid);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, "5", 1) == 1;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* --- the daemon --------------------------------------------------------------------- */

static int jpeg_strips = -1, jpeg_workers = -1; /* -1: the daemon's default */

static void write_config(const char *scene)
{
	int ports[2];
	int r = bench_free_ports(ports, 2);
	if (r < 0)
		die("cannot find a free port: %s", strerror(-r));
	https_port = ports[0];
	plain_port = ports[1];
	FILE *f = fopen(cfg_path, "w");
	if (!f)
		die("cannot write %s: %s", cfg_path, strerror(errno));
	fprintf(f,
		"[server]\nlisten = 127.0.0.1\nport = %d\nplain_port = %d\nstate_dir = %s\n"
		/* every client comes from 127.0.0.1 and connects before its first request */
		"max_connections_per_address = 256\nmax_unauth_per_address = 256\n\n"
		"[video]\nsource = pattern\nscene = %s\nwidth = 1920\nheight = 1080\nfps = 60\n\n"
		"[log]\nlevel = error\n",
		https_port, plain_port, state_dir, scene);
	if (jpeg_strips >= 0 || jpeg_workers >= 0)
		fprintf(f, "\n[jpeg]\n");
	if (jpeg_strips >= 0)
		fprintf(f, "strips = %d\n", jpeg_strips);
	if (jpeg_workers >= 0)
		fprintf(f, "workers = %d\n", jpeg_workers);
	if (fclose(f) != 0)
		die("cannot write %s: %s", cfg_path, strerror(errno));
}

/* Starts ipkvmd with the given scene and waits until it completes a TLS handshake. */
static void start_daemon(const char *scene)
{
	write_config(scene);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* The daemon must not outlive the bench, however the bench ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		execl(ipkvmd, ipkvmd, "--config", cfg_path, (char *)NULL);
		fprintf(stderr, "video_bench: cannot run %s: %s\n", ipkvmd, strerror(errno));
		_exit(127);
	}
	daemon_pid = pid;
	int64_t deadline = bench_mono_us() + (int64_t)START_TIMEOUT_MS * 1000;
	while (bench_mono_us() < deadline) {
		check_interrupted();
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			daemon_pid = 0;
			if (WIFSIGNALED(status))
				die("ipkvmd died of signal %d while starting", WTERMSIG(status));
			die("ipkvmd exited with status %d while starting", WEXITSTATUS(status));
		}
		int fd = mjc_connect_loopback(https_port, 5);
		if (fd >= 0) {
			SSL *ssl = mjc_tls_on(tls_ctx, fd);
			if (ssl) {
				mjc_tls_close(ssl);
				return;
			}
		}
		usleep(50000);
	}
	die("ipkvmd did not answer TLS on 127.0.0.1:%d within %d s", https_port,
	    START_TIMEOUT_MS / 1000);
}

/* `ipkvmd user token admin`: the first stdout line is the token. -1 with msg set. */
static int try_make_token(char *msg, size_t msglen)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		execl(ipkvmd, ipkvmd, "--config", cfg_path, "--state-dir", state_dir, "user",
		      "token", "admin", "--label", "video_bench", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char out[1024];
	size_t got = 0;
	ssize_t n;
	while ((n = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			got += (size_t)n;
	close(pfd[0]);
	out[got] = '\0';
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(msg, msglen, "`ipkvmd user token admin` failed (status %d)",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	out[strcspn(out, "\r\n")] = '\0';
	if (!out[0] || strlen(out) >= sizeof(token) || strpbrk(out, " \t")) {
		snprintf(msg, msglen, "`ipkvmd user token admin` printed no token line");
		return -1;
	}
	strcpy(token, out);
	return 0;
}

static void make_token(void)
{
	char msg[256];
	for (int i = 0; i < 10; i++) {
		if (try_make_token(msg, sizeof(msg)) == 0)
			return;
		sleep_ms(300);
	}
	die("%s", msg);
}

/* A blocking GET over the plain port (Connection: close). The body, or -1. */
/* --- stream clients ----------------------------------------------------------------- */

struct run {
	bool measuring;
	int64_t win_start, win_end;
	int64_t *lat; /* µs, one per fresh part inside the window */
	size_t n_lat, cap_lat;
	uint64_t parts, jpeg_bytes, repeats, gaps;
};

/* mjc_part_fn: a part arrived whole. */
static int part_done(struct mjc_client *c, int64_t now, void *arg, char *err, size_t errlen)
{
	struct run *r = arg;
	if (!c->has_capture || !c->has_seq) {
		snprintf(err, errlen, "a part without X-Capture-Us or X-Sequence");
		return -1;
	}
	bool repeat = c->have_last && c->seq == c->last_seq;
	if (r->measuring && now < r->win_end) {
		c->parts++;
		r->parts++;
		r->jpeg_bytes += c->body_len;
		if (repeat) {
			/* a still picture sent again: its capture time is old, no latency */
			r->repeats++;
		} else {
			if (c->have_last && c->seq > c->last_seq + 1)
				r->gaps += c->seq - c->last_seq - 1;
			if (r->n_lat == r->cap_lat) {
				size_t cap = r->cap_lat ? r->cap_lat * 2 : 4096;
				int64_t *grown = realloc(r->lat, cap * sizeof(*grown));
				if (!grown)
					die("out of memory");
				r->lat = grown;
				r->cap_lat = cap;
			}
			r->lat[r->n_lat++] = now - c->capture_us;
		}
	}
	c->last_seq = c->seq;
	c->have_last = true;
	return 0;
}

/* Connects, sends the stream request, then makes the socket non-blocking. */
static void open_client(struct mjc_client *c, bool tls, int idx)
{
	char req[512], err[256];
	int port = tls ? https_port : plain_port;
	snprintf(req, sizeof(req),
		 "GET /api/streamer/stream HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		 "Authorization: Bearer %s\r\n\r\n",
		 port, token);
	if (mjc_open(c, port, tls ? tls_ctx : NULL, req, err, sizeof(err)) < 0)
		die("client %d: %s", idx, err);
}

/* --- runs --------------------------------------------------------------------------- */

struct result {
	double fps_min, fps_med, fps_max;
	double lat_p50, lat_p95, lat_p99, lat_max;
	size_t n_lat;
	double window_s, cpu_pct, cpu_ms_per_frame, self_pct, bytes_per_frame;
	uint64_t parts, repeats, gaps;
	double hwm_mb, anon_mb, shmem_mb;
	bool hwm_reset;
	char pipeline[256];
	char loadavg[64]; /* the machine's, at the end of the run (other work skews figures) */
};

static void read_loadavg(char *out, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double a = 0, b = 0, c = 0;
	if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(out, len, "%.2f %.2f %.2f", a, b, c);
	else
		snprintf(out, len, "unknown");
	if (f)
		fclose(f);
}

/* n clients stream for warm_ms, then window_s seconds are measured. */
static void run(const char *label, int n, bool tls, int warm_ms, int window_s, struct result *out)
{
	static struct mjc_client clients[MAX_CLIENTS];
	static char rbuf[MJC_RBUF];
	struct run r = {0};
	struct mjc_handler h = {.on_part = part_done, .arg = &r};
	struct epoll_event evs[MAX_EVENTS];
	memset(out, 0, sizeof(*out));
	out->hwm_reset = reset_hwm();

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		check_interrupted();
		open_client(&clients[i], tls, i);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &clients[i]};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, clients[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
	}

	int64_t warm_end = bench_mono_us() + (int64_t)warm_ms * 1000, end_us = 0;
	double cpu0 = 0, cpu1, self0 = 0, self1;
	for (;;) {
		check_interrupted();
		int64_t now = bench_mono_us();
		if (!r.measuring && now >= warm_end) {
			r.measuring = true;
			r.win_start = now;
			r.win_end = now + (int64_t)window_s * 1000000;
			cpu0 = daemon_cpu_s();
			self0 = bench_self_cpu_s();
		} else if (r.measuring && now >= r.win_end) {
			end_us = now;
			cpu1 = daemon_cpu_s();
			self1 = bench_self_cpu_s();
			break;
		}
		int64_t next = r.measuring ? r.win_end : warm_end;
		int timeout = (int)((next - now + 999) / 1000);
		int ne = epoll_wait(ep, evs, MAX_EVENTS, timeout);
		if (ne < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < ne; i++) {
			struct mjc_client *c = evs[i].data.ptr;
			if (mjc_service(ep, c, &h, rbuf) < 0)
				die("%s: client %d: %s", label, (int)(c - clients), h.err);
		}
	}

	/* While the clients are still connected: the pipeline's own view. */
	char body[8192];
	if (mjc_http_get(plain_port, token, "/api/streamer", body, sizeof(body)) == 0)
		snprintf(out->pipeline, sizeof(out->pipeline),
			 "capture %.1f fps, encoded %.1f fps, %.0f dropped in the mailbox so far, "
			 "%.0f encoder workers, %.0f clients",
			 mjc_json_num(body, "capture_fps"), mjc_json_num(body, "encoded_fps"),
			 mjc_json_num(body, "dropped"), mjc_json_num(body, "workers"),
			 mjc_json_num(body, "clients"));
	else
		snprintf(out->pipeline, sizeof(out->pipeline), "GET /api/streamer failed");
	read_loadavg(out->loadavg, sizeof(out->loadavg));
	out->hwm_mb = daemon_status_mb("VmHWM:");
	out->anon_mb = daemon_status_mb("RssAnon:");
	out->shmem_mb = daemon_status_mb("RssShmem:");
	if (out->hwm_mb > hwm_total_mb)
		hwm_total_mb = out->hwm_mb;

	double fps[MAX_CLIENTS];
	out->window_s = (double)(r.win_end - r.win_start) / 1e6;
	for (int i = 0; i < n; i++) {
		fps[i] = clients[i].parts / out->window_s;
		mjc_close(&clients[i]);
	}
	close(ep);
	if (n > 0) {
		qsort(fps, (size_t)n, sizeof(fps[0]), bench_cmp_double);
		out->fps_min = fps[0];
		out->fps_med = n % 2 ? fps[n / 2] : (fps[n / 2 - 1] + fps[n / 2]) / 2;
		out->fps_max = fps[n - 1];
	}
	if (r.n_lat) {
		qsort(r.lat, r.n_lat, sizeof(r.lat[0]), bench_cmp_i64);
		out->lat_p50 = bench_pct_ms(r.lat, r.n_lat, 50);
		out->lat_p95 = bench_pct_ms(r.lat, r.n_lat, 95);
		out->lat_p99 = bench_pct_ms(r.lat, r.n_lat, 99);
		out->lat_max = bench_pct_ms(r.lat, r.n_lat, 100);
	}
	free(r.lat);
	double wall = (double)(end_us - r.win_start) / 1e6;
	out->n_lat = r.n_lat;
	out->parts = r.parts;
	out->repeats = r.repeats;
	out->gaps = r.gaps;
	out->cpu_pct = (cpu1 - cpu0) / wall * 100;
	out->self_pct = (self1 - self0) / wall * 100;
	out->cpu_ms_per_frame = r.parts ? (cpu1 - cpu0) * 1e3 / (double)r.parts : 0;
	out->bytes_per_frame = r.parts ? (double)r.jpeg_bytes / (double)r.parts : 0;
	if (n > 0 && r.parts == 0)
		die("%s: no picture arrived in %d s (is the pattern source streaming?)", label,
		    window_s);
	/* Let the daemon see the clients go before the next run. */
	sleep_ms(300);
}

/* Anonymous + shared memory with the clients still connected (issue 17's memory figure). */
static void print_mem(const struct result *s)
{
	printf("  daemon RssAnon + RssShmem (clients connected): %.1f + %.1f = %.1f MB\n",
	       s->anon_mb, s->shmem_mb, s->anon_mb + s->shmem_mb);
}

static void print_stream(const char *label, int n, const struct result *s)
{
	printf("== %s, %d client%s (%.0f s measured) ==\n", label, n, n == 1 ? "" : "s",
	       s->window_s);
	printf("  delivered fps per client: min %.1f / median %.1f / max %.1f\n", s->fps_min,
	       s->fps_med, s->fps_max);
	printf("  capture-to-client latency: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms "
	       "(%zu fresh parts)\n",
	       s->lat_p50, s->lat_p95, s->lat_p99, s->lat_max, s->n_lat);
	printf("  daemon CPU: %.1f %% of one core\n", s->cpu_pct);
	printf("  daemon CPU per delivered frame: %.3f ms (%llu parts to all clients)\n",
	       s->cpu_ms_per_frame, (unsigned long long)s->parts);
	printf("  bytes per frame (mean JPEG): %.0f\n", s->bytes_per_frame);
	printf("  daemon peak RSS: %.1f MB %s\n", s->hwm_mb,
	       s->hwm_reset ? "during this run" : "since daemon start (VmHWM reset refused)");
	print_mem(s);
	printf("  sequence gaps: %.1f per client per s; resends of an unchanged image: %llu\n",
	       n ? (double)s->gaps / n / s->window_s : 0.0, (unsigned long long)s->repeats);
	printf("  pipeline (GET /api/streamer): %s\n", s->pipeline);
	printf("  bench's own CPU: %.1f %% of one core; machine load average %s\n", s->self_pct,
	       s->loadavg);
	fflush(stdout);
}

#define USAGE                                                                                      \
	"usage: video_bench PATH/TO/ipkvmd [--seconds N] [--static-only] [--one-client]\n"         \
	"                   [--strips N] [--workers N]\n"                                          \
	"  --one-client: only the 1-client plain-HTTP figures (latency) of the desktop scene\n"    \
	"  --strips, --workers: the daemon's [jpeg] strips and workers (default: its own)\n"

/* A number in lo..hi after option argv[i], or exit 2. */
static int int_arg(char **argv, int i, long lo, long hi)
{
	char *end;
	long v = strtol(argv[i + 1], &end, 10);
	if (*end || v < lo || v > hi) {
		fprintf(stderr, "video_bench: %s wants %ld to %ld\n", argv[i], lo, hi);
		exit(2);
	}
	return (int)v;
}

/* The machine: cores we may use (taskset), the load, the encoder settings. */
static void print_setup(void)
{
	cpu_set_t cpus;
	double load[3] = {-1, -1, -1};
	if (getloadavg(load, 3) < 0)
		load[0] = load[1] = load[2] = -1;
	printf("cores this bench and its daemon may use (affinity): %d; load average %.2f %.2f "
	       "%.2f\n",
	       sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : -1, load[0],
	       load[1], load[2]);
	char sv[16] = "default", wv[16] = "default";
	if (jpeg_strips >= 0)
		snprintf(sv, sizeof(sv), "%d", jpeg_strips);
	if (jpeg_workers >= 0)
		snprintf(wv, sizeof(wv), "%d", jpeg_workers);
	printf("[jpeg] strips: %s, workers: %s\n", sv, wv);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int window_s = 5;
	bool static_only = false, one_client = false;
	if (argc < 2 || argv[1][0] == '-') {
		fputs(USAGE, stderr);
		return 2;
	}
	ipkvmd = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			window_s = int_arg(argv, i++, 1, 600);
		} else if (strcmp(argv[i], "--static-only") == 0) {
			static_only = true;
		} else if (strcmp(argv[i], "--one-client") == 0) {
			one_client = true;
		} else if (strcmp(argv[i], "--strips") == 0 && i + 1 < argc) {
			jpeg_strips = int_arg(argv, i++, 0, 16);
		} else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
			jpeg_workers = int_arg(argv, i++, 0, 4);
		} else {
			fputs(USAGE, stderr);
			return 2;
		}
	}
	if (access(ipkvmd, X_OK) != 0) {
		fprintf(stderr, "video_bench: %s: %s\n", ipkvmd, strerror(errno));
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	strcpy(tmpdir, "/tmp/ipkvm-vbench-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = '\0';
		die("mkdtemp: %s", strerror(errno));
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	snprintf(cfg_path, sizeof(cfg_path), "%s/ipkvm.ini", tmpdir);

	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx || !SSL_CTX_set_min_proto_version(tls_ctx, TLS1_3_VERSION))
		die("cannot make a TLS 1.3 client context");
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL); /* the daemon's self-signed cert */
	SSL_CTX_set_read_ahead(tls_ctx, 1);

	struct result res;
	if (!static_only) {
		start_daemon("desktop");
		make_token();
		printf("ipkvmd %s: pattern source, desktop scene, 1920x1080 at 60 fps; %ld cores\n",
		       ipkvmd, sysconf(_SC_NPROCESSORS_ONLN));
		print_setup();
		if (one_client) {
			run("plain HTTP", 1, false, WARMUP_MS, window_s, &res);
			print_stream("plain HTTP", 1, &res);
			stop_daemon(true);
			SSL_CTX_free(tls_ctx);
			cleanup();
			return 0;
		}

		run("desktop scene, no clients", 0, false, WARMUP_MS, window_s, &res);
		printf("== desktop scene, no clients ==\n  daemon CPU: %.1f %% of one core\n",
		       res.cpu_pct);
		print_mem(&res);
		fflush(stdout);

		static const int plain_n[] = {1, 4, 16, 64}, tls_n[] = {1, 16, 64};
		for (size_t i = 0; i < sizeof(plain_n) / sizeof(plain_n[0]); i++) {
			run("plain HTTP", plain_n[i], false, WARMUP_MS, window_s, &res);
			print_stream("plain HTTP", plain_n[i], &res);
		}
		for (size_t i = 0; i < sizeof(tls_n) / sizeof(tls_n[0]); i++) {
			run("HTTPS (TLS 1.3)", tls_n[i], true, WARMUP_MS, window_s, &res);
			print_stream("HTTPS (TLS 1.3)", tls_n[i], &res);
		}
		stop_daemon(true);
	}

	/* Static screen: a fresh daemon whose picture never changes. */
	start_daemon("static");
	if (static_only) {
		make_token();
		printf("ipkvmd %s: pattern source, static scene, 1920x1080 at 60 fps; %ld cores\n",
		       ipkvmd, sysconf(_SC_NPROCESSORS_ONLN));
		print_setup();
	}
	static const int static_n[] = {1, 16};
	for (size_t i = 0; i < sizeof(static_n) / sizeof(static_n[0]); i++) {
		int n = static_n[i];
		run("static scene", n, false, STATIC_SETTLE_MS, window_s, &res);
		printf("== static scene, %d plain-HTTP client%s (after %d s settling) ==\n", n,
		       n == 1 ? "" : "s", STATIC_SETTLE_MS / 1000);
		printf("  daemon CPU: %.2f %% of one core (target <= 3 %%)\n", res.cpu_pct);
		printf("  parts delivered: %.2f per s (%llu resends of an unchanged image)\n",
		       (double)res.parts / res.window_s, (unsigned long long)res.repeats);
		printf("  bytes per frame (mean JPEG): %.0f\n", res.bytes_per_frame);
		printf("  daemon peak RSS: %.1f MB %s\n", res.hwm_mb,
		       res.hwm_reset ? "during this run" : "since daemon start");
		print_mem(&res);
		printf("  pipeline (GET /api/streamer): %s\n", res.pipeline);
		fflush(stdout);
	}
	printf("highest daemon peak RSS seen (VmHWM, either daemon): %.1f MB\n", hwm_total_mb);
	fflush(stdout);

	stop_daemon(true);
	SSL_CTX_free(tls_ctx);
	cleanup();
	return 0;
}
