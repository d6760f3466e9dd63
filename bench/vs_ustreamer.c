/*
 * vs_ustreamer: Debian's uStreamer and ipkvmd side by side, one after the other in one run,
 * on the same fake V4L2 capture device (vsb_producer + the LD_PRELOAD shim libvsb_shim.so,
 * see vsb.h), which both open unmodified.
 *
 *   vs_ustreamer BUILD_DIR [--seconds N] [--ustreamer PATH]
 *                [--source yuyv,mjpeg,hdmi|both|all] [--cpus LIST] [--subsampling 422|420]
 * --cpus pins both daemons to those CPUs (as `taskset -c LIST` would), to see how they scale
 * with cores.
 *
 * For each source (1920x1080 at 60 fps, the desktop scene with typing: "yuyv", a USB dongle's
 * YUYV, encoded by the daemon; "mjpeg", the same scene precompressed, passed through as a
 * USB dongle's would be; "hdmi", not run by default, an HDMI bridge's UYVY with DV timings,
 * as on a Pi with a TC358743) and each daemon it measures N clients reading the multipart stream
 * over plain HTTP on loopback (mjpeg_client.c: epoll, one thread, bodies discarded in the kernel):
 *   - delivered fps per client, capture->client latency (the frame's V4L2 buffer timestamp
 *     to the arrival of the last byte of its part), the daemon's CPU (utime+stime of all
 *     its threads over the window) and its CPU per delivered frame;
 *   - frames lost (sequence gaps) and reordered at each client;
 *   - anonymous + shared memory (RssAnon + RssShmem) with 16 clients, less the fake
 *     device's buffers the daemon has mapped (real capture buffers are not counted there);
 *   - a still screen (the same picture every frame), 1 client, CPU;
 *   - ipkvmd over HTTPS (TLS 1.3) at 32 clients (uStreamer has no TLS).
 * Each part is matched to the device frame it shows through the shim's log of every DQBUF
 * (the buffer's sequence number and timestamp, and when it was dequeued on both monotonic
 * clocks): ipkvmd passes the buffer timestamp on (X-Capture-Us; its X-Sequence counts its
 * own pictures, not the device's frames); uStreamer 4.9 does not, but with
 * ?extra_headers=1 it says when it dequeued the buffer (X-UStreamer-Grab-Time,
 * CLOCK_MONOTONIC_RAW rounded to the ms), and the dequeue nearest that time is the frame.
 * "Lost" counts device frames a client never got (dropped anywhere: by the daemon's capture,
 * its encoders or its fan-out); "reordered" a frame older than the one before it.
 *
 * The daemons' settings are printed with the table. The load average is printed before and
 * after: figures taken on a busy machine are recognisable as such.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "mjpeg_client.h"
#include "vsb.h"
#include "bench_util.h"

enum {
	MAX_CLIENTS = 64,
	MAX_EVENTS = 128,
	WARMUP_MS = 1000,
	STILL_SETTLE_MS = 2000,
	START_TIMEOUT_MS = 20000,
	MATCH_US = 1500, /* a grab time within this of a dequeue is that dequeue */
};

static const char *build_dir, *ustreamer = "/usr/bin/ustreamer";
static char ipkvmd[512], producer[512], shim[512];
static char tmpdir[64], sock_path[128], shm_path[128], state_dir[128], cfg_path[128];
static int window_s = 3;
static const char *cpus; /* --cpus: the daemons run on these CPUs only */
/* --subsampling: ipkvmd's [jpeg] subsampling. uStreamer's libjpeg encoder makes 4:2:0 (the
 * library's defaults); ipkvmd makes 4:2:2 unless told, about a third more chroma to encode. */
static const char *subsampling = "422";
static cpu_set_t cpu_set;
static pid_t producer_pid, daemon_pid;
static int https_port, plain_port;
static char token[256];
static SSL_CTX *tls_ctx;
static const struct vsb_shm *shm;
static volatile sig_atomic_t interrupted;

/* --- exits and clean-up ------------------------------------------------------------- */

static void stop_pid(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	pid_t r = 0;
	for (int i = 0; i < 100 && (r = waitpid(*pid, NULL, WNOHANG)) == 0; i++)
		usleep(50000);
	if (r == 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

static void cleanup(void)
{
	stop_pid(&daemon_pid);
	stop_pid(&producer_pid);
	if (shm) {
		munmap((void *)shm, VSB_HDR_SIZE);
		shm = NULL;
	}
	if (shm_path[0])
		unlink(shm_path);
	if (tmpdir[0]) {
		bench_rm_tree(tmpdir);
		tmpdir[0] = '\0';
	}
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "vs_ustreamer: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	/* the daemons' own words, before the temporary directory goes */
	static const char *const logs[] = {"ustreamer.log", "ipkvmd.log", "producer.log"};
	for (size_t i = 0; tmpdir[0] && i < sizeof(logs) / sizeof(logs[0]); i++) {
		char path[192], line[512];
		snprintf(path, sizeof(path), "%s/%s", tmpdir, logs[i]);
		FILE *f = fopen(path, "r");
		long n = 0;
		while (f && fgets(line, sizeof(line), f))
			n++;
		if (f && n) {
			fprintf(stderr, "vs_ustreamer: the last lines of %s:\n", logs[i]);
			rewind(f);
			for (long k = 0; fgets(line, sizeof(line), f); k++)
				if (k >= n - 8)
					fprintf(stderr, "  %s", line);
		}
		if (f)
			fclose(f);
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

static void sleep_ms(int ms)
{
	int64_t end = mjc_mono_us() + (int64_t)ms * 1000;
	for (int64_t now; (now = mjc_mono_us()) < end;) {
		check_interrupted();
		usleep((useconds_t)(end - now < 100000 ? end - now : 100000));
	}
}

/* --- /proc ---------------------------------------------------------------------------- */

/* utime + stime of a process (all its threads, ended ones included), in seconds. */
static double pid_cpu_s(pid_t pid)
{
	double s;
	if (bench_proc_cpu_s(pid, &s) < 0)
		die("cannot read /proc/%d/stat (did the %s die?)", (int)pid,
		    pid == producer_pid ? "frame producer" : "daemon");
	return s;
}

/* A "Key:" line of /proc/PID/status in kB, or -1. */
static double status_kb(const char *key)
{
	char path[64], line[256];
	double kb = -1;
	size_t klen = strlen(key);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)daemon_pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0)
			kb = strtod(line + klen, NULL);
	if (f)
		fclose(f);
	return kb;
}

/* Resident kB of the daemon's mappings of the fake device's buffers (/proc/PID/smaps). */
static double device_rss_kb(void)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)daemon_pid);
	FILE *f = fopen(path, "r");
	bool in = false;
	double kb = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') && line[0] != ' ' &&
		    strncmp(line, "Rss:", 4) != 0 && strchr("0123456789abcdef", line[0])) {
			in = strstr(line, shm_path) != NULL;
			continue;
		}
		if (in && strncmp(line, "Rss:", 4) == 0)
			kb += strtod(line + 4, NULL);
	}
	if (f)
		fclose(f);
	return kb;
}

static void loadavg(char *out, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double a = 0, b = 0, c = 0;
	if (!f || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
		a = b = c = -1;
	if (f)
		fclose(f);
	snprintf(out, len, "%.2f %.2f %.2f", a, b, c);
}

/* What the fake device is. */
struct source {
	const char *name;     /* --source */
	const char *format;   /* vsb_producer --format */
	const char *input;    /* vsb_producer --input */
	const char *us_flags; /* uStreamer's matching flags */
	const char *title;
};

static const struct source sources[] = {
    {"yuyv", "yuyv", "usb", "--format=YUYV", "YUYV from a USB dongle (encoded by the daemon)"},
    {"mjpeg", "mjpeg", "usb", "--format=MJPEG", "MJPEG from a USB dongle (passed through)"},
    {"hdmi", "uyvy", "hdmi", "--format=UYVY --dv-timings",
     "UYVY from an HDMI bridge with DV timings (encoded by the daemon)"},
};

/* --- processes ---------------------------------------------------------------------- */

/* Forks and execs argv with the shim preloaded when preload is set; stdout to /dev/null,
 * stderr to log (appended). */
static pid_t spawn(char *const argv[], bool preload, const char *log, int out_pipe)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_RDWR);
		int lf = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
		dup2(null, STDIN_FILENO);
		dup2(out_pipe >= 0 ? out_pipe : null, STDOUT_FILENO);
		if (lf >= 0)
			dup2(lf, STDERR_FILENO);
		if (preload && cpus)
			sched_setaffinity(0, sizeof(cpu_set), &cpu_set);
		if (preload) {
			setenv("LD_PRELOAD", shim, 1);
			setenv("VSB_SOCKET", sock_path, 1);
			setenv("VSB_DEVICE", VSB_DEFAULT_DEV, 1);
		}
		execv(argv[0], argv);
		fprintf(stderr, "vs_ustreamer: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static void start_producer(const struct source *src, const char *scene)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	char *argv[] = {producer,	    "--socket", sock_path,	     "--shm",
			shm_path,	    "--format", (char *)src->format, "--input",
			(char *)src->input, "--scene",	(char *)scene,	     NULL};
	char log[160];
	snprintf(log, sizeof(log), "%s/producer.log", tmpdir);
	producer_pid = spawn(argv, false, log, p[1]);
	close(p[1]);
	char buf[16] = {0};
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	if (n < 5 || strncmp(buf, "ready", 5) != 0)
		die("the frame producer did not start");
	/* the header only: the counters and the dequeue log */
	int fd = open(shm_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s", shm_path, strerror(errno));
	shm = mmap(NULL, VSB_HDR_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (shm == MAP_FAILED) {
		shm = NULL;
		die("mmap %s: %s", shm_path, strerror(errno));
	}
}

static void stop_producer(void)
{
	stop_pid(&producer_pid);
	if (shm)
		munmap((void *)shm, VSB_HDR_SIZE);
	shm = NULL;
}

/* --- the daemons -------------------------------------------------------------------- */

enum daemon_kind { USTREAMER, IPKVMD };

struct daemon {
	enum daemon_kind kind;
	const struct source *src;
	int workers;	/* uStreamer: 0 = its default */
	bool drop_same; /* uStreamer: --drop-same-frames=60 */
};

static void write_ipkvmd_config(void)
{
	FILE *f = fopen(cfg_path, "w");
	if (!f)
		die("cannot write %s: %s", cfg_path, strerror(errno));
	fprintf(f,
		"[server]\nlisten = 127.0.0.1\nport = %d\nplain_port = %d\nstate_dir = %s\n"
		"max_connections_per_address = 256\nmax_unauth_per_address = 256\n\n"
		"[video]\nsource = v4l2\ndevice = %s\nwidth = 1920\nheight = 1080\nfps = 60\n\n"
		"[jpeg]\nquality = 80\nmax_fps = 60\nsubsampling = %s\n\n[h264]\nbackend = none\n\n"
		"[log]\nlevel = warn\n",
		https_port, plain_port, state_dir, VSB_DEFAULT_DEV, subsampling);
	if (fclose(f) != 0)
		die("cannot write %s: %s", cfg_path, strerror(errno));
}

/* `ipkvmd user token admin`: the first stdout line is the token. */
static void make_token(void)
{
	for (int attempt = 0; attempt < 10; attempt++) {
		int pfd[2];
		if (pipe2(pfd, O_CLOEXEC) < 0)
			die("pipe: %s", strerror(errno));
		char *argv[] = {ipkvmd,	 "--config", cfg_path,	"--state-dir",	state_dir, "user",
				"token", "admin",    "--label", "vs_ustreamer", NULL};
		pid_t pid = spawn(argv, false, NULL, pfd[1]);
		close(pfd[1]);
		char out[1024];
		size_t got = 0;
		ssize_t n;
		while ((n = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0)
			got += (size_t)n;
		close(pfd[0]);
		out[got] = '\0';
		int status;
		waitpid(pid, &status, 0);
		out[strcspn(out, "\r\n")] = '\0';
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && out[0] &&
		    strlen(out) < sizeof(token)) {
			strcpy(token, out);
			return;
		}
		sleep_ms(300);
	}
	die("`ipkvmd user token admin` failed");
}

static void stream_request(const struct daemon *d, bool tls, char *req, size_t len)
{
	if (d->kind == USTREAMER)
		snprintf(req, len,
			 "GET /stream?extra_headers=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
			 plain_port);
	else
		snprintf(req, len,
			 "GET /api/streamer/stream HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Authorization: Bearer %s\r\n\r\n",
			 tls ? https_port : plain_port, token);
}

/* A blocking GET on the plain port (the connection closed by the daemon after the answer,
 * or after the body's Content-Length). The whole answer in out, or -1. */
static int http_get(const char *path, char *out, size_t len)
{
	char req[512];
	int fd = mjc_connect_loopback(plain_port, 2);
	if (fd < 0)
		return -1;
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%sConnection: close\r\n\r\n",
			 path, plain_port, token[0] ? "Authorization: Bearer " : "", token,
			 token[0] ? "\r\n" : "");
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	ssize_t r;
	while (got < len - 1 && (r = recv(fd, out + got, len - 1 - got, 0)) > 0) {
		got += (size_t)r;
		out[got] = '\0';
		char *end = strstr(out, "\r\n\r\n"), *cl = strcasestr(out, "content-length:");
		if (end && cl && cl < end &&
		    got - (size_t)(end + 4 - out) >= strtoul(cl + 15, NULL, 10))
			break;
	}
	close(fd);
	out[got] = '\0';
	return got ? 0 : -1;
}

/* A number after "key": in JSON text, or -1. */
/* Waits until the daemon captures from the device, asking its status API (not a stream: a
 * stream client leaving just before a measurement would be measured too). */
static void wait_capturing(const struct daemon *d, const char *what)
{
	int64_t deadline = mjc_mono_us() + (int64_t)START_TIMEOUT_MS * 1000;
	char body[8192];
	while (mjc_mono_us() < deadline) {
		check_interrupted();
		if (waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid) {
			daemon_pid = 0;
			die("%s exited while starting", what);
		}
		if (d->kind == USTREAMER) {
			if (http_get("/state", body, sizeof(body)) == 0 &&
			    strstr(body, "\"online\": true") &&
			    mjc_json_num(body, "captured_fps") > 0)
				return;
		} else if (http_get("/api/streamer", body, sizeof(body)) == 0 &&
			   strstr(body, "\"state\":\"ok\"") &&
			   mjc_json_num(body, "capture_fps") > 0) {
			return;
		}
		sleep_ms(200);
	}
	die("%s does not capture from the fake device within %d s", what, START_TIMEOUT_MS / 1000);
}

static void start_daemon(const struct daemon *d)
{
	int ports[2];
	int r = bench_free_ports(ports, 2);
	if (r < 0)
		die("cannot find a free port: %s", strerror(-r));
	https_port = ports[0];
	plain_port = ports[1];
	char log[160];
	token[0] = '\0';
	if (d->kind == USTREAMER) {
		char port[16], workers[32];
		snprintf(port, sizeof(port), "%d", plain_port);
		snprintf(workers, sizeof(workers), "--workers=%d", d->workers);
		char *argv[16] = {(char *)ustreamer,
				  "--device=" VSB_DEFAULT_DEV,
				  "--resolution=1920x1080",
				  "--quality=80",
				  "--host=127.0.0.1",
				  "--port",
				  port,
				  NULL};
		int a = 7;
		char flags[64];
		snprintf(flags, sizeof(flags), "%s", d->src->us_flags);
		for (char *save = NULL, *f = strtok_r(flags, " ", &save); f;
		     f = strtok_r(NULL, " ", &save))
			argv[a++] = f;
		if (d->workers)
			argv[a++] = workers;
		if (d->drop_same)
			argv[a++] = "--drop-same-frames=60";
		snprintf(log, sizeof(log), "%s/ustreamer.log", tmpdir);
		daemon_pid = spawn(argv, true, log, -1);
	} else {
		write_ipkvmd_config();
		char *argv[] = {ipkvmd, "--config", cfg_path, NULL};
		snprintf(log, sizeof(log), "%s/ipkvmd.log", tmpdir);
		daemon_pid = spawn(argv, true, log, -1);
		/* the token first: the stream wants it */
		int64_t deadline = mjc_mono_us() + (int64_t)START_TIMEOUT_MS * 1000;
		for (;;) {
			int fd = mjc_connect_loopback(plain_port, 2);
			if (fd >= 0) {
				close(fd);
				break;
			}
			if (mjc_mono_us() > deadline || waitpid(daemon_pid, NULL, WNOHANG) != 0)
				die("ipkvmd did not start (see %s)", log);
			sleep_ms(50);
		}
		make_token();
	}
	wait_capturing(d, d->kind == USTREAMER ? "ustreamer" : "ipkvmd");
}

/* --- one measurement ---------------------------------------------------------------- */

struct run {
	const struct daemon *d;
	bool measuring;
	int64_t win_end;
	int64_t *lat;
	size_t n_lat, cap_lat;
	uint64_t parts, bytes, repeats, lost, reordered, unmatched, ambiguous;
};

/* The dequeue uStreamer's grab time (CLOCK_MONOTONIC_RAW, s, rounded to the ms) stands for,
 * or NULL. When uStreamer dequeued two buffers within the rounding (it fell behind and took
 * two ready ones in a row), the older one this client has not had yet is taken: a client
 * gets frames in order. *ambiguous says whether there was such a choice. */
static const struct vsb_dq *match_grab(double grab_s, const struct mjc_client *c, bool *ambiguous)
{
	int64_t g = (int64_t)(grab_s * 1e6 + 0.5);
	uint64_t n = __atomic_load_n(&shm->dq_count, __ATOMIC_ACQUIRE);
	const struct vsb_dq *nearest = NULL, *next = NULL;
	int64_t nearest_d = MATCH_US + 1;
	int candidates = 0;
	for (uint64_t k = 0; k < 1024 && k < n && k < VSB_DQ_RING; k++) {
		const struct vsb_dq *q = &shm->dq[(n - 1 - k) % VSB_DQ_RING];
		int64_t dd = g - q->dq_raw_us;
		if (dd > 100000)
			break; /* older ones are further away still */
		if (dd < 0)
			dd = -dd;
		if (dd > MATCH_US)
			continue;
		candidates++;
		if (dd < nearest_d) {
			nearest_d = dd;
			nearest = q;
		}
		if ((!c->have_last || q->sequence > c->last_seq) &&
		    (!next || q->sequence < next->sequence))
			next = q;
	}
	*ambiguous = candidates > 1;
	return candidates > 1 && next ? next : nearest;
}

/* The dequeue of the buffer whose timestamp ipkvmd passed on (X-Capture-Us), or NULL. */
static const struct vsb_dq *match_capture(int64_t capture_us)
{
	uint64_t n = __atomic_load_n(&shm->dq_count, __ATOMIC_ACQUIRE);
	for (uint64_t k = 0; k < 1024 && k < n && k < VSB_DQ_RING; k++) {
		const struct vsb_dq *q = &shm->dq[(n - 1 - k) % VSB_DQ_RING];
		if (q->ts_us == capture_us)
			return q;
		if (q->ts_us < capture_us - 1000000)
			break;
	}
	return NULL;
}

static void add_lat(struct run *r, int64_t us)
{
	if (r->n_lat == r->cap_lat) {
		size_t cap = r->cap_lat ? r->cap_lat * 2 : 4096;
		int64_t *grown = realloc(r->lat, cap * sizeof(*grown));
		if (!grown)
			die("out of memory");
		r->lat = grown;
		r->cap_lat = cap;
	}
	r->lat[r->n_lat++] = us;
}

static int on_part(struct mjc_client *c, int64_t now, void *arg, char *err, size_t errlen)
{
	struct run *r = arg;
	/* The device's sequence number and capture time of the part's frame: ipkvmd passes the
	 * buffer timestamp on (its X-Sequence counts its own pictures), uStreamer when it
	 * dequeued the buffer. */
	const struct vsb_dq *q;
	if (r->d->kind == IPKVMD) {
		if (!c->has_capture) {
			snprintf(err, errlen, "a part without X-Capture-Us");
			return -1;
		}
		q = match_capture(c->capture_us);
	} else {
		if (!c->has_grab) {
			snprintf(err, errlen, "a part without X-UStreamer-Grab-Time");
			return -1;
		}
		bool ambiguous;
		q = match_grab(c->grab_s, c, &ambiguous);
		if (ambiguous && r->measuring && now < r->win_end)
			r->ambiguous++;
	}
	if (!q) {
		if (r->measuring && now < r->win_end)
			r->unmatched++;
		return 0; /* a placeholder picture, or no such dequeue */
	}
	uint64_t seq = q->sequence;
	int64_t capture_us = q->ts_us;
	if (r->measuring && now < r->win_end) {
		c->parts++;
		r->parts++;
		r->bytes += c->body_len;
		if (c->have_last && seq == c->last_seq) {
			r->repeats++; /* a still picture sent again: no latency */
		} else {
			if (c->have_last && seq > c->last_seq + 1)
				r->lost += seq - c->last_seq - 1;
			if (c->have_last && seq < c->last_seq)
				r->reordered++;
			add_lat(r, now - capture_us);
		}
	}
	c->last_seq = seq;
	c->have_last = true;
	return 0;
}

struct result {
	int n;
	bool tls;
	double fps_min, fps_med, lat_p50, lat_p95, cpu_pct, cpu_ms_per_frame;
	double mem_mb, window_s;
	uint64_t parts, lost, reordered, unmatched, repeats;
	double lost_pct;
};

static void measure(const struct daemon *d, int n, bool tls, int warm_ms, struct result *out)
{
	static struct mjc_client clients[MAX_CLIENTS];
	static char rbuf[MJC_RBUF];
	struct run r = {.d = d};
	struct mjc_handler h = {.on_part = on_part, .arg = &r};
	struct epoll_event evs[MAX_EVENTS];
	char req[512], err[256];
	memset(out, 0, sizeof(*out));
	out->n = n;
	out->tls = tls;
	stream_request(d, tls, req, sizeof(req));

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		check_interrupted();
		if (mjc_open(&clients[i], tls ? https_port : plain_port, tls ? tls_ctx : NULL, req,
			     err, sizeof(err)) < 0)
			die("client %d: %s", i, err);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &clients[i]};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, clients[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
	}
	int64_t warm_end = mjc_mono_us() + (int64_t)warm_ms * 1000, start = 0, end = 0;
	double cpu0 = 0, cpu1 = 0, prod0 = 0, prod1 = 0, self0 = 0, self1 = 0;
	for (;;) {
		check_interrupted();
		int64_t now = mjc_mono_us();
		if (!r.measuring && now >= warm_end) {
			r.measuring = true;
			start = now;
			r.win_end = now + (int64_t)window_s * 1000000;
			cpu0 = pid_cpu_s(daemon_pid);
			prod0 = pid_cpu_s(producer_pid);
			self0 = bench_self_cpu_s();
		} else if (r.measuring && now >= r.win_end) {
			end = now;
			cpu1 = pid_cpu_s(daemon_pid);
			prod1 = pid_cpu_s(producer_pid);
			self1 = bench_self_cpu_s();
			break;
		}
		int64_t next = r.measuring ? r.win_end : warm_end;
		int ne = epoll_wait(ep, evs, MAX_EVENTS, (int)((next - now + 999) / 1000));
		if (ne < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < ne; i++) {
			struct mjc_client *c = evs[i].data.ptr;
			if (mjc_service(ep, c, &h, rbuf) < 0)
				die("%d clients: client %d: %s", n, (int)(c - clients), h.err);
		}
	}
	char load[64];
	loadavg(load, sizeof(load));
	/* memory while the clients are still there */
	double anon = status_kb("RssAnon:"), shmem = status_kb("RssShmem:"), devb = device_rss_kb();
	out->mem_mb = (anon + shmem - devb) / 1024.0;

	double fps[MAX_CLIENTS];
	out->window_s = (double)(end - start) / 1e6;
	for (int i = 0; i < n; i++) {
		fps[i] = clients[i].parts / out->window_s;
		mjc_close(&clients[i]);
	}
	close(ep);
	qsort(fps, (size_t)n, sizeof(fps[0]), bench_cmp_double);
	out->fps_min = fps[0];
	out->fps_med = n % 2 ? fps[n / 2] : (fps[n / 2 - 1] + fps[n / 2]) / 2;
	qsort(r.lat, r.n_lat, sizeof(r.lat[0]), bench_cmp_i64);
	out->lat_p50 = bench_pct_ms(r.lat, r.n_lat, 50);
	out->lat_p95 = bench_pct_ms(r.lat, r.n_lat, 95);
	free(r.lat);
	out->parts = r.parts;
	out->lost = r.lost;
	out->reordered = r.reordered;
	out->unmatched = r.unmatched;
	out->repeats = r.repeats;
	out->lost_pct = r.parts + r.lost ? 100.0 * (double)r.lost / (double)(r.parts + r.lost) : 0;
	out->cpu_pct = (cpu1 - cpu0) / out->window_s * 100;
	out->cpu_ms_per_frame = r.parts ? (cpu1 - cpu0) * 1e3 / (double)r.parts : 0;
	if (r.parts == 0)
		die("%d clients: no picture arrived in %d s", n, window_s);
	char who[48];
	snprintf(who, sizeof(who), "%s%s%s%s %s", d->kind == USTREAMER ? "ustreamer" : "ipkvmd",
		 d->workers == 1 ? " --workers=1" : "", d->drop_same ? " --drop-same-frames" : "",
		 tls ? " HTTPS" : "", d->src->name);
	printf("  %-34s %2d client%s: %5.1f fps each (min %5.1f), latency p50 %6.2f / p95 "
	       "%6.2f ms, CPU %5.1f %% (%.2f ms/frame), lost %llu (%.1f %%), reordered %llu%s\n",
	       who, n, n == 1 ? " " : "s", out->fps_med, out->fps_min, out->lat_p50, out->lat_p95,
	       out->cpu_pct, out->cpu_ms_per_frame, (unsigned long long)r.lost, out->lost_pct,
	       (unsigned long long)r.reordered, r.unmatched ? " (unmatched parts!)" : "");
	if (r.ambiguous)
		printf("  %-34s (%llu parts matched to one of two dequeues within %d µs)\n", "",
		       (unsigned long long)r.ambiguous, MATCH_US);
	if (n == 16 && !tls)
		printf(
		    "  %-34s memory with 16 clients: RssAnon %.1f + RssShmem %.1f - the device's "
		    "buffers %.1f = %.1f MB\n",
		    who, anon / 1024, shmem / 1024, devb / 1024, out->mem_mb);
	/* The daemon's CPU in the second after the clients left (it should fall to the
	 * no-client figure at once), and the pause before the next run. */
	double gone0 = pid_cpu_s(daemon_pid);
	int64_t t0 = mjc_mono_us();
	sleep_ms(1000);
	double gone = (pid_cpu_s(daemon_pid) - gone0) / ((double)(mjc_mono_us() - t0) / 1e6) * 100;
	printf("  %-34s (the clients' CPU %.0f %%, the frame producer's %.0f %%; load average %s; "
	       "the daemon's CPU in the second after the clients left %.0f %%)\n",
	       "", (self1 - self0) / out->window_s * 100, (prod1 - prod0) / out->window_s * 100,
	       load, gone);
	fflush(stdout);
}

/* --- the table ---------------------------------------------------------------------- */

struct side {
	struct result c1, c1w1, c16, c32, c64, still, still_dsf, https32;
};

static void ratio(char *out, size_t len, double ip, double us)
{
	if (us > 0 && ip > 0)
		snprintf(out, len, "%.2fx", ip / us);
	else
		snprintf(out, len, "-");
}

static void print_table(const char *source, const struct side *u, const struct side *k)
{
	char a[96], b[96], r[64];
	printf("\n### %s source: uStreamer vs ipkvmd\n\n", source);
	printf("| figure | uStreamer | ipkvmd | ratio |\n|---|---|---|---|\n");
	snprintf(a, sizeof(a), "%.1f / %.1f ms (default workers); %.1f / %.1f ms (1 worker)",
		 u->c1.lat_p50, u->c1.lat_p95, u->c1w1.lat_p50, u->c1w1.lat_p95);
	snprintf(b, sizeof(b), "%.1f / %.1f ms", k->c1.lat_p50, k->c1.lat_p95);
	char r2[32];
	ratio(r, sizeof(r), k->c1.lat_p50, u->c1.lat_p50);
	ratio(r2, sizeof(r2), k->c1.lat_p50, u->c1w1.lat_p50);
	printf("| 1 client, latency p50 / p95 | %s | %s | %s (%s vs 1 worker) |\n", a, b, r, r2);
	snprintf(a, sizeof(a), "%.0f %% (1 worker: %.0f %%)", u->c1.cpu_pct, u->c1w1.cpu_pct);
	ratio(r, sizeof(r), k->c1.cpu_pct, u->c1.cpu_pct);
	printf("| 1 client, daemon CPU | %s | %.0f %% | %s |\n", a, k->c1.cpu_pct, r);
	ratio(r, sizeof(r), k->c16.cpu_pct, u->c16.cpu_pct);
	printf("| 16 clients: fps each, latency p50, CPU | %.1f, %.1f ms, %.0f %% | %.1f, %.1f ms, "
	       "%.0f %% | CPU %s |\n",
	       u->c16.fps_med, u->c16.lat_p50, u->c16.cpu_pct, k->c16.fps_med, k->c16.lat_p50,
	       k->c16.cpu_pct, r);
	ratio(r, sizeof(r), k->c32.fps_med, u->c32.fps_med);
	printf("| 32 clients: fps each | %.1f | %.1f | %s |\n", u->c32.fps_med, k->c32.fps_med, r);
	ratio(r, sizeof(r), k->c64.fps_med, u->c64.fps_med);
	printf("| 64 clients: fps each, latency p50 | %.1f, %.1f ms | %.1f, %.1f ms | %s |\n",
	       u->c64.fps_med, u->c64.lat_p50, k->c64.fps_med, k->c64.lat_p50, r);
	ratio(r, sizeof(r), k->still.cpu_pct, u->still.cpu_pct);
	ratio(r2, sizeof(r2), k->still.cpu_pct, u->still_dsf.cpu_pct);
	printf("| still screen, 1 client, CPU | %.1f %% (%.1f %% with --drop-same-frames=60) | "
	       "%.1f %% | %s (%s) |\n",
	       u->still.cpu_pct, u->still_dsf.cpu_pct, k->still.cpu_pct, r, r2);
	ratio(r, sizeof(r), k->c16.mem_mb, u->c16.mem_mb);
	printf("| anonymous + shared memory after 16 clients | %.1f MB | %.1f MB | %s |\n",
	       u->c16.mem_mb, k->c16.mem_mb, r);
	ratio(r, sizeof(r), k->c1.cpu_ms_per_frame, u->c1.cpu_ms_per_frame);
	ratio(r2, sizeof(r2), k->c16.cpu_ms_per_frame, u->c16.cpu_ms_per_frame);
	printf("| CPU per delivered frame, 1 / 16 clients | %.2f / %.3f ms | %.2f / %.3f ms | %s "
	       "/ %s |\n",
	       u->c1.cpu_ms_per_frame, u->c16.cpu_ms_per_frame, k->c1.cpu_ms_per_frame,
	       k->c16.cpu_ms_per_frame, r, r2);
	printf("| frames lost / reordered at the clients, 1-16-32-64 | %llu-%llu-%llu-%llu / "
	       "%llu | %llu-%llu-%llu-%llu / %llu | |\n",
	       (unsigned long long)u->c1.lost, (unsigned long long)u->c16.lost,
	       (unsigned long long)u->c32.lost, (unsigned long long)u->c64.lost,
	       (unsigned long long)(u->c1.reordered + u->c16.reordered + u->c32.reordered +
				    u->c64.reordered),
	       (unsigned long long)k->c1.lost, (unsigned long long)k->c16.lost,
	       (unsigned long long)k->c32.lost, (unsigned long long)k->c64.lost,
	       (unsigned long long)(k->c1.reordered + k->c16.reordered + k->c32.reordered +
				    k->c64.reordered));
	printf("| over HTTPS: 32 clients, fps each, latency p50, CPU | (no TLS) | %.1f, %.1f ms, "
	       "%.0f %% | |\n",
	       k->https32.fps_med, k->https32.lat_p50, k->https32.cpu_pct);
	fflush(stdout);
}

static void run_source(const struct source *src, struct side *u, struct side *k)
{
	struct daemon us = {USTREAMER, src, 0, false}, us1 = {USTREAMER, src, 1, false},
		      usd = {USTREAMER, src, 0, true}, ip = {IPKVMD, src, 0, false};
	printf("\n== %s source, desktop scene with typing ==\n", src->name);
	fflush(stdout);
	start_producer(src, "desktop");

	start_daemon(&us);
	measure(&us, 1, false, WARMUP_MS, &u->c1);
	measure(&us, 16, false, WARMUP_MS, &u->c16);
	measure(&us, 32, false, WARMUP_MS, &u->c32);
	measure(&us, 64, false, WARMUP_MS, &u->c64);
	stop_pid(&daemon_pid);
	start_daemon(&us1);
	measure(&us1, 1, false, WARMUP_MS, &u->c1w1);
	stop_pid(&daemon_pid);

	start_daemon(&ip);
	measure(&ip, 1, false, WARMUP_MS, &k->c1);
	measure(&ip, 16, false, WARMUP_MS, &k->c16);
	measure(&ip, 32, false, WARMUP_MS, &k->c32);
	measure(&ip, 64, false, WARMUP_MS, &k->c64);
	measure(&ip, 32, true, WARMUP_MS, &k->https32);
	stop_pid(&daemon_pid);
	stop_producer();

	printf("== %s source, still screen ==\n", src->name);
	fflush(stdout);
	start_producer(src, "static");
	start_daemon(&us);
	measure(&us, 1, false, STILL_SETTLE_MS, &u->still);
	stop_pid(&daemon_pid);
	start_daemon(&usd);
	measure(&usd, 1, false, STILL_SETTLE_MS, &u->still_dsf);
	stop_pid(&daemon_pid);
	start_daemon(&ip);
	measure(&ip, 1, false, STILL_SETTLE_MS, &k->still);
	stop_pid(&daemon_pid);
	stop_producer();
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vs_ustreamer BUILD_DIR [--seconds N] [--ustreamer PATH] "
		"[--source yuyv,mjpeg,hdmi|both|all] [--cpus LIST] [--subsampling 422|420]\n");
	exit(2);
}

/* "yuyv,mjpeg,hdmi" (any of them), "both" (yuyv and mjpeg) or "all". */
static int parse_sources(const char *list, bool *want)
{
	size_t n = sizeof(sources) / sizeof(sources[0]);
	for (size_t i = 0; i < n; i++)
		want[i] = strcmp(list, "all") == 0 || (strcmp(list, "both") == 0 && i < 2);
	if (strcmp(list, "all") == 0 || strcmp(list, "both") == 0)
		return 0;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		size_t i = 0;
		while (i < n && strcmp(w, sources[i].name) != 0)
			i++;
		if (i == n)
			return -1;
		want[i] = true;
	}
	return 0;
}

/* "0", "0,1", "0-1": the CPUs the daemons may run on (as taskset -c takes them). */
static int parse_cpus(const char *list)
{
	CPU_ZERO(&cpu_set);
	const char *p = list;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p || a < 0 || a >= CPU_SETSIZE)
			return -1;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
			if (end == p || b < a || b >= CPU_SETSIZE)
				return -1;
		}
		for (long c = a; c <= b; c++)
			CPU_SET((int)c, &cpu_set);
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		p = end;
	}
	return CPU_COUNT(&cpu_set) ? 0 : -1;
}

int main(int argc, char **argv)
{
	bool want[sizeof(sources) / sizeof(sources[0])] = {true, true, false};
	if (argc < 2 || argv[1][0] == '-')
		usage();
	build_dir = argv[1];
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--seconds") == 0) {
			window_s = atoi(argv[++i]);
			if (window_s < 1 || window_s > 600)
				usage();
		} else if (strcmp(argv[i], "--cpus") == 0) {
			cpus = argv[++i];
			if (parse_cpus(cpus) < 0)
				usage();
		} else if (strcmp(argv[i], "--subsampling") == 0) {
			subsampling = argv[++i];
			if (strcmp(subsampling, "422") != 0 && strcmp(subsampling, "420") != 0)
				usage();
		} else if (strcmp(argv[i], "--ustreamer") == 0) {
			ustreamer = argv[++i];
		} else if (strcmp(argv[i], "--source") == 0) {
			if (parse_sources(argv[++i], want) < 0)
				usage();
		} else {
			usage();
		}
	}
	snprintf(ipkvmd, sizeof(ipkvmd), "%s/ipkvmd", build_dir);
	snprintf(producer, sizeof(producer), "%s/bench/vsb_producer", build_dir);
	if (!realpath(build_dir, shim))
		die("%s: %s", build_dir, strerror(errno));
	strncat(shim, "/bench/libvsb_shim.so", sizeof(shim) - strlen(shim) - 1);
	const char *need[] = {ipkvmd, producer, shim, ustreamer};
	for (size_t i = 0; i < 4; i++)
		if (access(need[i], i == 2 ? R_OK : X_OK) != 0)
			die("%s: %s%s", need[i], strerror(errno),
			    i == 3 ? " (Debian's ustreamer package: scripts/deps.sh --test)" : "");

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	strcpy(tmpdir, "/tmp/ipkvm-vsbench-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = '\0';
		die("mkdtemp: %s", strerror(errno));
	}
	snprintf(sock_path, sizeof(sock_path), "%s/dev.sock", tmpdir);
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/ipkvm-vsbench-%d", (int)getpid());
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	snprintf(cfg_path, sizeof(cfg_path), "%s/ipkvm.ini", tmpdir);
	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx || !SSL_CTX_set_min_proto_version(tls_ctx, TLS1_3_VERSION))
		die("cannot make a TLS 1.3 client context");
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_read_ahead(tls_ctx, 1);

	char load0[64], load1[64], when[64];
	time_t t = time(NULL);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&t));
	loadavg(load0, sizeof(load0));
	printf("vs_ustreamer: %s; %ld cores; load average before: %s\n", when,
	       sysconf(_SC_NPROCESSORS_ONLN), load0);
	printf("fake V4L2 device: 1920x1080 at 60 fps (vsb_producer, its own process), %d s "
	       "windows after %d ms warm-up\n",
	       window_s, WARMUP_MS);
	if (cpus)
		printf("the daemons run on CPUs %s only (%d of them; the clients and the producer "
		       "are not pinned)\n",
		       cpus, CPU_COUNT(&cpu_set));
	printf("ustreamer (%s): --format=YUYV|MJPEG (|UYVY --dv-timings) --resolution=1920x1080 "
	       "--quality=80, default "
	       "workers and buffers; --workers=1 for the second 1-client figure and "
	       "--drop-same-frames=60 for the second still-screen one; "
	       "/stream?extra_headers=1\n",
	       ustreamer);
	printf("ipkvmd (%s): [video] source = v4l2, 1920x1080, fps = 60; [jpeg] quality = 80, "
	       "subsampling = %s, max_fps = 60, default workers; [h264] backend = none\n",
	       ipkvmd, subsampling);
	fflush(stdout);

	static struct side u[sizeof(sources) / sizeof(sources[0])],
	    k[sizeof(sources) / sizeof(sources[0])];
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
		if (want[i])
			run_source(&sources[i], &u[i], &k[i]);
	loadavg(load1, sizeof(load1));
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
		if (want[i])
			print_table(sources[i].title, &u[i], &k[i]);
	printf("\nload average before: %s; after: %s\n", load0, load1);
	SSL_CTX_free(tls_ctx);
	cleanup();
	return 0;
}
