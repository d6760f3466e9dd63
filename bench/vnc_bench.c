/*
 * vnc_bench: the VNC server's fan-out, measured end to end through the real ipkvmd on
 * 127.0.0.1: N VNC clients (Debian's libvncclient, Tight JPEG) and N MJPEG clients at once on
 * the pattern source's typing scene (desktop, 1920x1080 at 60 fps), and the same with the
 * VNC clients alone:
 *   - delivered fps per client (min / median / max), VNC and MJPEG apart;
 *   - capture-to-client latency of the VNC clients (and of the MJPEG ones);
 *   - the daemon's CPU (% of one core), the bench's own, the machine's load;
 *   - JPEG encodes per second (GET /api/streamer: one per frame whatever the client count,
 *     when the VNC clients ask the configured quality).
 *
 *   vnc_bench PATH/TO/ipkvmd [--clients N] [--seconds S] [--quality LEVEL] [--tls]
 *
 * How the capture time reaches a VNC client. RFB carries no time stamps, but ipkvmd's Tight
 * JPEG rectangle is the pipeline's shared JPEG, byte for byte the image an MJPEG client
 * receives with X-Sequence and X-Capture-Us (CLOCK_MONOTONIC, the same clock here). The MJPEG
 * clients running at the same time record every image's length, sequence number and
 * capture time; each VNC client records the length and the arrival time of every JPEG
 * rectangle (libvncclient's GotJpeg hook, with no decoding: a decode of 1080p per frame per
 * client would measure this machine's JPEG decoder, not the server). Afterwards each VNC
 * arrival is matched to the image of that length captured last before it (within 1 s);
 * lengths that two images within that second share are ambiguous and left out (counted).
 * The typing scene's frame counter and text change every frame, so consecutive JPEGs differ
 * in length practically always. A client asking another quality gets another image, which
 * no MJPEG part carries: such arrivals are counted as unmatched, never guessed.
 *
 * VNC clients: one thread each (libvncclient reads blocking), connected one after another
 * (its TLS set-up is not thread-safe), then all pumping at once. Security: VncAuth without
 * TLS by default, the cheapest client, as the MJPEG clients use the plain-HTTP port (the
 * bench should take as little CPU from the daemon as it can; video_bench has the TLS
 * figures of MJPEG); --tls uses VeNCrypt X509Plain for both.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

#include "mjpeg_client.h"
#include "bench_util.h"

enum {
	MAX_CLIENTS = 64,
	MAX_EVENTS = 128,
	WARMUP_MS = 2000,
	START_TIMEOUT_MS = 20000,
	MATCH_WINDOW_US = 1000000,
};

static const char *ipkvmd;
static char tmpdir[64], state_dir[128], cfg_path[128], vncauth_path[160], cert_path[160];
static char admin_password[128], vnc_password[16] = "vncbench";
static pid_t daemon_pid;
static int https_port, plain_port, vnc_port;
static char token[256];
static bool use_tls;
static int quality_level = 6;
static volatile sig_atomic_t interrupted;

/* --- exits ------------------------------------------------------------------------ */

static void stop_daemon(void)
{
	if (daemon_pid <= 0)
		return;
	kill(daemon_pid, SIGTERM);
	int status;
	for (int i = 0; i < 100; i++) {
		if (waitpid(daemon_pid, &status, WNOHANG) == daemon_pid) {
			daemon_pid = 0;
			return;
		}
		usleep(50000);
	}
	kill(daemon_pid, SIGKILL);
	waitpid(daemon_pid, &status, 0);
	daemon_pid = 0;
}

static void cleanup(void)
{
	stop_daemon();
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
	fprintf(stderr, "vnc_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	cleanup();
	exit(1);
}

static void on_signal(int sig)
{
	interrupted = 1;
}

/* --- helpers ------------------------------------------------------------------------ */

static double daemon_cpu_s(void)
{
	double s;
	if (bench_proc_cpu_s(daemon_pid, &s) < 0)
		die("cannot read /proc/%d/stat (did ipkvmd die?)", (int)daemon_pid);
	return s;
}

/* Runs ipkvmd ARGS... with stdout captured into out (first line kept); the exit status. */
static int run_cli(char *out, size_t outlen, const char *input, char *const args[])
{
	int po[2], pi[2];
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pi, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pi[0], STDIN_FILENO);
		dup2(po[1], STDOUT_FILENO);
		execv(ipkvmd, args);
		_exit(127);
	}
	close(po[1]);
	close(pi[0]);
	if (input && write(pi[1], input, strlen(input)) < 0)
		die("write: %s", strerror(errno));
	close(pi[1]);
	size_t got = 0;
	ssize_t n;
	while ((n = read(po[0], out + got, outlen - 1 - got)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			got += (size_t)n;
	close(po[0]);
	out[got] = '\0';
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* --- the daemon --------------------------------------------------------------------- */

static void start_daemon(int jpeg_quality)
{
	int ports[3];
	int r = bench_free_ports(ports, 3);
	if (r < 0)
		die("cannot find a free port: %s", strerror(-r));
	https_port = ports[0];
	plain_port = ports[1];
	vnc_port = ports[2];
	if (https_port == plain_port || plain_port == vnc_port || https_port == vnc_port)
		die("the same free port twice; run again");
	FILE *f = fopen(vncauth_path, "w");
	if (!f || fprintf(f, "admin:%s\n", vnc_password) < 0 || fclose(f) != 0)
		die("cannot write %s", vncauth_path);
	chmod(vncauth_path, 0600);
	f = fopen(cfg_path, "w");
	if (!f)
		die("cannot write %s: %s", cfg_path, strerror(errno));
	fprintf(f,
		"[server]\nlisten = 127.0.0.1\nport = %d\nplain_port = %d\nstate_dir = %s\n"
		"max_connections_per_address = 256\nmax_unauth_per_address = 256\n\n"
		"[video]\nsource = pattern\nscene = desktop\nwidth = 1920\nheight = 1080\n"
		"fps = 60\n\n[jpeg]\nquality = %d\n\n"
		/* every VNC login is a session of admin */
		"[auth]\nmax_sessions_per_user = 1000\n\n"
		"[vnc]\nenabled = 1\nlisten = 127.0.0.1\nport = %d\nmax_clients = %d\n"
		"vncauth_password_file = %s\n\n[log]\nlevel = %s\n",
		https_port, plain_port, state_dir, jpeg_quality, vnc_port, MAX_CLIENTS + 4,
		vncauth_path, getenv("VNC_BENCH_LOG") ? getenv("VNC_BENCH_LOG") : "error");
	if (fclose(f) != 0)
		die("cannot write %s", cfg_path);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		execl(ipkvmd, ipkvmd, "--config", cfg_path, (char *)NULL);
		_exit(127);
	}
	daemon_pid = pid;
	int64_t deadline = bench_mono_us() + (int64_t)START_TIMEOUT_MS * 1000;
	while (bench_mono_us() < deadline) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			daemon_pid = 0;
			die("ipkvmd ended while starting (status 0x%x)", status);
		}
		int fd = mjc_connect_loopback(vnc_port, 1);
		if (fd >= 0) {
			close(fd);
			break;
		}
		usleep(50000);
	}
	char path[256];
	snprintf(path, sizeof(path), "%s/initial-admin-password", state_dir);
	f = fopen(path, "r");
	if (!f || !fgets(admin_password, sizeof(admin_password), f))
		die("cannot read %s", path);
	fclose(f);
	admin_password[strcspn(admin_password, "\r\n")] = '\0';
	char *const args[] = {(char *)ipkvmd, "--config",  cfg_path, "--state-dir",
			      state_dir,      "user",	   "token",  "admin",
			      "--label",      "vnc_bench", NULL};
	char out[1024];
	if (run_cli(out, sizeof(out), NULL, args) != 0)
		die("`ipkvmd user token admin` failed");
	out[strcspn(out, "\r\n")] = '\0';
	if (!out[0] || strlen(out) >= sizeof(token))
		die("`ipkvmd user token admin` printed no token line");
	memcpy(token, out, strlen(out) + 1);
}

/* GET path on the plain port with the token; the body, or -1. */
/* --- the run's shared state ------------------------------------------------------------ */

static atomic_bool stop_threads;
static atomic_int_fast64_t win_start_us, win_end_us; /* 0 until measuring */

struct arrival {
	int64_t recv_us;
	uint32_t len;
};

struct vclient {
	rfbClient *cl;
	pthread_t thread;
	bool running;
	struct arrival *arr;
	size_t n_arr, cap_arr;
	uint64_t updates; /* inside the window */
	bool failed;
	int sub_auth;
};

struct image {
	uint64_t seq;
	int64_t capture_us;
	uint32_t len;
};

static struct image *images; /* from the MJPEG clients, warm-up included */
static size_t n_images, cap_images;

static bool in_window(int64_t now)
{
	int64_t s = atomic_load(&win_start_us), e = atomic_load(&win_end_us);
	return s && now >= s && now < e;
}

static char *vnc_get_password(rfbClient *cl)
{
	return strdup(vnc_password);
}

static rfbCredential *vnc_get_credential(rfbClient *cl, int type)
{
	rfbCredential *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (type == rfbCredentialTypeUser) {
		c->userCredential.username = strdup("admin");
		c->userCredential.password = strdup(admin_password);
	} else {
		c->x509Credential.x509CACertFile = strdup(cert_path);
	}
	return c;
}

static rfbBool vnc_got_jpeg(rfbClient *cl, const uint8_t *buf, int len, int x, int y, int w, int h)
{
	struct vclient *v = rfbClientGetClientData(cl, (void *)vnc_got_jpeg);
	int64_t now = bench_mono_us();
	free((void *)buf); /* the hook owns it; not decoded (see the top comment) */
	if (!in_window(now))
		return TRUE;
	if (v->n_arr == v->cap_arr) {
		size_t cap = v->cap_arr ? v->cap_arr * 2 : 1024;
		struct arrival *grown = realloc(v->arr, cap * sizeof(*grown));
		if (!grown)
			return FALSE;
		v->arr = grown;
		v->cap_arr = cap;
	}
	v->arr[v->n_arr++] = (struct arrival){now, (uint32_t)len};
	return TRUE;
}

static void vnc_finished(rfbClient *cl)
{
	struct vclient *v = rfbClientGetClientData(cl, (void *)vnc_got_jpeg);
	if (in_window(bench_mono_us()))
		v->updates++;
}

static void quiet_log(const char *fmt, ...)
{
}

static bool pending(rfbClient *cl)
{
	return cl->buffered > 0 || (cl->tlsSession && gnutls_record_check_pending(
							  (gnutls_session_t)cl->tlsSession) > 0);
}

static void *vnc_thread(void *arg)
{
	struct vclient *v = arg;
	while (!atomic_load(&stop_threads)) {
		int ready = pending(v->cl) ? 1 : WaitForMessage(v->cl, 50000);
		if (ready > 0 && !HandleRFBServerMessage(v->cl)) {
			v->failed = true;
			break;
		}
	}
	return NULL;
}

static void vnc_connect(struct vclient *v, int idx)
{
	rfbClient *cl = rfbGetClient(8, 3, 4);
	if (!cl)
		die("rfbGetClient failed");
	free(cl->serverHost);
	cl->serverHost = strdup("127.0.0.1");
	cl->serverPort = vnc_port;
	cl->appData.encodingsString = "tight";
	cl->appData.enableJPEG = TRUE;
	cl->appData.qualityLevel = quality_level;
	cl->appData.compressLevel = 1;
	cl->GetPassword = vnc_get_password;
	cl->GetCredential = vnc_get_credential;
	cl->GotJpeg = vnc_got_jpeg;
	cl->FinishedFrameBufferUpdate = vnc_finished;
	cl->readTimeout = 10;
	uint32_t types[] = {use_tls ? rfbVeNCrypt : rfbVncAuth};
	SetClientAuthSchemes(cl, types, 1);
	rfbClientSetClientData(cl, (void *)vnc_got_jpeg, v);
	v->cl = cl;
	if (!rfbInitClient(cl, NULL, NULL)) {
		v->cl = NULL;
		die("VNC client %d could not connect (security %s)", idx,
		    use_tls ? "VeNCrypt" : "VncAuth");
	}
	v->sub_auth = (int)cl->subAuthScheme;
}

/* --- MJPEG ---------------------------------------------------------------------------- */

struct mrun {
	uint64_t parts[MAX_CLIENTS];
	int64_t *lat;
	size_t n_lat, cap_lat;
};

static struct mjc_client mclients[MAX_CLIENTS];

static int mjpeg_part(struct mjc_client *c, int64_t now, void *arg, char *err, size_t errlen)
{
	struct mrun *r = arg;
	if (!c->has_capture || !c->has_seq) {
		snprintf(err, errlen, "a part without X-Capture-Us or X-Sequence");
		return -1;
	}
	bool fresh = !c->have_last || c->seq != c->last_seq;
	c->last_seq = c->seq;
	c->have_last = true;
	if (!fresh)
		return 0;
	if (n_images == cap_images) {
		size_t cap = cap_images ? cap_images * 2 : 8192;
		struct image *g = realloc(images, cap * sizeof(*g));
		if (!g)
			die("out of memory");
		images = g;
		cap_images = cap;
	}
	images[n_images++] = (struct image){c->seq, c->capture_us, (uint32_t)c->body_len};
	if (in_window(now)) {
		r->parts[c - mclients]++;
		if (r->n_lat == r->cap_lat) {
			size_t cap = r->cap_lat ? r->cap_lat * 2 : 8192;
			int64_t *g = realloc(r->lat, cap * sizeof(*g));
			if (!g)
				die("out of memory");
			r->lat = g;
			r->cap_lat = cap;
		}
		r->lat[r->n_lat++] = now - c->capture_us;
	}
	return 0;
}

/* --- matching ------------------------------------------------------------------------- */

static int cmp_image_len(const void *a, const void *b)
{
	const struct image *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* Unique images (one per seq) sorted by length then seq. */
static size_t unique_images(void)
{
	qsort(images, n_images, sizeof(*images), cmp_image_len);
	size_t k = 0;
	for (size_t i = 0; i < n_images; i++)
		if (k == 0 || images[k - 1].seq != images[i].seq ||
		    images[k - 1].len != images[i].len)
			images[k++] = images[i];
	return k;
}

/* The capture time of the image of length len captured last before recv (within the match
 * window): 1 found, 0 none, -1 ambiguous. */
static int match(size_t n, uint32_t len, int64_t recv, int64_t *capture)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (images[mid].len < len)
			lo = mid + 1;
		else
			hi = mid;
	}
	int found = 0;
	for (size_t i = lo; i < n && images[i].len == len; i++) {
		int64_t c = images[i].capture_us;
		if (c > recv || recv - c > MATCH_WINDOW_US)
			continue;
		if (found)
			return -1;
		found = 1;
		*capture = c;
	}
	return found;
}

/* --- a run ------------------------------------------------------------------------------ */

struct result {
	double vnc_fps[3], mjpeg_fps[3];
	double vnc_lat[4], mjpeg_lat[4]; /* p50 p95 p99 max */
	size_t vnc_matched, vnc_unmatched, vnc_ambiguous, n_mjpeg_lat;
	double cpu_pct, self_pct, window_s;
	double encodes_per_s, capture_fps;
	char extras[64];
	char load[64];
	int sub_auth;
};

static void fps_stats(double *fps, int n, double out[3])
{
	if (n == 0)
		return;
	qsort(fps, (size_t)n, sizeof(*fps), bench_cmp_double);
	out[0] = fps[0];
	out[1] = n % 2 ? fps[n / 2] : (fps[n / 2 - 1] + fps[n / 2]) / 2;
	out[2] = fps[n - 1];
}

static void run(int n_vnc, int n_mjpeg, int window_s, struct result *res)
{
	static struct vclient vc[MAX_CLIENTS];
	static char rbuf[MJC_RBUF];
	struct mrun mr = {0};
	memset(res, 0, sizeof(*res));
	memset(vc, 0, sizeof(vc));
	n_images = 0;
	atomic_store(&win_start_us, 0);
	atomic_store(&win_end_us, 0);
	atomic_store(&stop_threads, false);

	for (int i = 0; i < n_vnc; i++)
		vnc_connect(&vc[i], i);
	res->sub_auth = n_vnc ? vc[0].sub_auth : 0;
	for (int i = 0; i < n_vnc; i++) {
		if (pthread_create(&vc[i].thread, NULL, vnc_thread, &vc[i]) != 0)
			die("pthread_create failed");
		vc[i].running = true;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	struct mjc_handler h = {.on_part = mjpeg_part, .arg = &mr};
	for (int i = 0; i < n_mjpeg; i++) {
		char req[512], err[256];
		snprintf(req, sizeof(req),
			 "GET /api/streamer/stream HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Authorization: Bearer %s\r\n\r\n",
			 plain_port, token);
		memset(&mclients[i], 0, sizeof(mclients[i]));
		if (mjc_open(&mclients[i], plain_port, NULL, req, err, sizeof(err)) < 0)
			die("MJPEG client %d: %s", i, err);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &mclients[i]};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, mclients[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
	}
	int64_t warm_end = bench_mono_us() + WARMUP_MS * 1000, end = 0;
	double cpu0 = 0, self0 = 0, cpu1 = 0, self1 = 0;
	char body[8192] = "";
	for (;;) {
		if (interrupted)
			die("interrupted");
		int64_t now = bench_mono_us();
		if (!atomic_load(&win_start_us) && now >= warm_end) {
			cpu0 = daemon_cpu_s();
			self0 = bench_self_cpu_s();
			atomic_store(&win_end_us, now + (int64_t)window_s * 1000000);
			atomic_store(&win_start_us, now);
		} else if (atomic_load(&win_start_us) && now >= atomic_load(&win_end_us)) {
			end = now;
			cpu1 = daemon_cpu_s();
			self1 = bench_self_cpu_s();
			/* The pipeline's view while every client still watches. */
			if (mjc_http_get(plain_port, token, "/api/streamer", body, sizeof(body)) !=
			    0)
				body[0] = '\0';
			break;
		}
		int64_t next = atomic_load(&win_start_us) ? atomic_load(&win_end_us) : warm_end;
		int ne;
		if (n_mjpeg) {
			struct epoll_event evs[MAX_EVENTS];
			ne = epoll_wait(ep, evs, MAX_EVENTS, (int)((next - now + 999) / 1000));
			if (ne < 0 && errno != EINTR)
				die("epoll_wait: %s", strerror(errno));
			for (int i = 0; i < ne; i++)
				if (mjc_service(ep, evs[i].data.ptr, &h, rbuf) < 0)
					die("MJPEG client: %s", h.err);
		} else {
			usleep((useconds_t)(next - now > 100000 ? 100000 : next - now));
		}
		for (int i = 0; i < n_vnc; i++)
			if (vc[i].failed)
				die("VNC client %d: the connection ended", i);
	}
	atomic_store(&stop_threads, true);
	for (int i = 0; i < n_vnc; i++)
		if (vc[i].running)
			pthread_join(vc[i].thread, NULL);
	int64_t ws = atomic_load(&win_start_us);
	res->window_s = (double)(atomic_load(&win_end_us) - ws) / 1e6;
	double wall = (double)(end - ws) / 1e6;
	res->cpu_pct = (cpu1 - cpu0) / wall * 100;
	res->self_pct = (self1 - self0) / wall * 100;
	res->encodes_per_s = mjc_json_num(body, "encodes_per_s");
	res->capture_fps = mjc_json_num(body, "capture_fps");
	const char *ex = strstr(body, "\"extra_qualities\":");
	snprintf(res->extras, sizeof(res->extras), "%.*s", ex ? (int)strcspn(ex + 18, "]") + 1 : 1,
		 ex ? ex + 18 : "?");
	FILE *lf = fopen("/proc/loadavg", "r");
	double l1 = 0, l5 = 0, l15 = 0;
	if (lf && fscanf(lf, "%lf %lf %lf", &l1, &l5, &l15) == 3)
		snprintf(res->load, sizeof(res->load), "%.2f %.2f %.2f", l1, l5, l15);
	if (lf)
		fclose(lf);

	double fps[MAX_CLIENTS];
	for (int i = 0; i < n_vnc; i++)
		fps[i] = (double)vc[i].updates / res->window_s;
	fps_stats(fps, n_vnc, res->vnc_fps);
	for (int i = 0; i < n_mjpeg; i++)
		fps[i] = (double)mr.parts[i] / res->window_s;
	fps_stats(fps, n_mjpeg, res->mjpeg_fps);

	size_t nu = unique_images();
	size_t total = 0;
	for (int i = 0; i < n_vnc; i++)
		total += vc[i].n_arr;
	int64_t *lat = malloc((total ? total : 1) * sizeof(*lat));
	if (!lat)
		die("out of memory");
	size_t nl = 0;
	for (int i = 0; i < n_vnc; i++)
		for (size_t k = 0; k < vc[i].n_arr; k++) {
			int64_t cap;
			int m =
			    n_mjpeg ? match(nu, vc[i].arr[k].len, vc[i].arr[k].recv_us, &cap) : 0;
			if (m > 0)
				lat[nl++] = vc[i].arr[k].recv_us - cap;
			else if (m < 0)
				res->vnc_ambiguous++;
			else
				res->vnc_unmatched++;
		}
	res->vnc_matched = nl;
	qsort(lat, nl, sizeof(*lat), bench_cmp_i64);
	double ps[4] = {50, 95, 99, 100};
	for (int i = 0; i < 4; i++)
		res->vnc_lat[i] = bench_pct_ms(lat, nl, ps[i]);
	free(lat);
	qsort(mr.lat, mr.n_lat, sizeof(*mr.lat), bench_cmp_i64);
	for (int i = 0; i < 4; i++)
		res->mjpeg_lat[i] = bench_pct_ms(mr.lat, mr.n_lat, ps[i]);
	res->n_mjpeg_lat = mr.n_lat;
	free(mr.lat);

	for (int i = 0; i < n_vnc; i++) {
		free(vc[i].arr);
		free(vc[i].cl->frameBuffer); /* the application's (MallocFrameBuffer's) */
		rfbClientCleanup(vc[i].cl);
	}
	for (int i = 0; i < n_mjpeg; i++)
		mjc_close(&mclients[i]);
	close(ep);
	usleep(500000); /* let the daemon see the clients go */
}

static void print_run(const char *label, int n_vnc, int n_mjpeg, const struct result *r)
{
	printf("== %s: %d VNC + %d MJPEG clients (%.0f s measured) ==\n", label, n_vnc, n_mjpeg,
	       r->window_s);
	if (n_vnc) {
		printf("  VNC fps per client: min %.1f / median %.1f / max %.1f (security %s)\n",
		       r->vnc_fps[0], r->vnc_fps[1], r->vnc_fps[2],
		       use_tls ? (r->sub_auth == rfbVeNCryptX509Plain ? "VeNCrypt X509Plain"
								      : "VeNCrypt TLSPlain")
			       : "VncAuth");
		if (r->vnc_matched)
			printf(
			    "  VNC capture-to-client latency: p50 %.2f ms, p95 %.2f ms, p99 %.2f "
			    "ms, max %.2f ms (%zu frames matched, %zu unmatched, %zu "
			    "ambiguous)\n",
			    r->vnc_lat[0], r->vnc_lat[1], r->vnc_lat[2], r->vnc_lat[3],
			    r->vnc_matched, r->vnc_unmatched, r->vnc_ambiguous);
		else
			printf("  VNC capture-to-client latency: not measured (no MJPEG client "
			       "gives the capture times; %zu frames)\n",
			       r->vnc_unmatched + r->vnc_ambiguous);
	}
	if (n_mjpeg) {
		printf("  MJPEG fps per client: min %.1f / median %.1f / max %.1f\n",
		       r->mjpeg_fps[0], r->mjpeg_fps[1], r->mjpeg_fps[2]);
		printf("  MJPEG capture-to-client latency: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, "
		       "max %.2f ms (%zu parts)\n",
		       r->mjpeg_lat[0], r->mjpeg_lat[1], r->mjpeg_lat[2], r->mjpeg_lat[3],
		       r->n_mjpeg_lat);
	}
	printf("  daemon CPU: %.1f %% of one core; bench's own: %.1f %%; load average %s\n",
	       r->cpu_pct, r->self_pct, r->load);
	printf("  JPEG encodes per second: %.1f at capture %.1f fps (extra qualities: %s)\n",
	       r->encodes_per_s, r->capture_fps, r->extras);
	fflush(stdout);
}

#define USAGE                                                                                      \
	"usage: vnc_bench PATH/TO/ipkvmd [--clients N] [--seconds S] [--quality LEVEL] [--tls]\n"  \
	"  --clients N: VNC clients and MJPEG clients each (default 32, at most 64)\n"             \
	"  --quality LEVEL: the VNC clients' Tight JPEG quality level 0..9 (default 6)\n"          \
	"  --tls: VeNCrypt (X509Plain or TLSPlain, as libvncclient picks) instead of VncAuth\n"

int main(int argc, char **argv)
{
	int n = 32, window_s = 10;
	if (argc < 2 || argv[1][0] == '-') {
		fputs(USAGE, stderr);
		return 2;
	}
	ipkvmd = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
			n = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			window_s = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--quality") == 0 && i + 1 < argc) {
			quality_level = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--tls") == 0) {
			use_tls = true;
		} else {
			fputs(USAGE, stderr);
			return 2;
		}
	}
	if (n < 1 || n > MAX_CLIENTS || window_s < 1 || quality_level < 0 || quality_level > 9) {
		fputs(USAGE, stderr);
		return 2;
	}
	if (access(ipkvmd, X_OK) != 0) {
		fprintf(stderr, "vnc_bench: %s: %s\n", ipkvmd, strerror(errno));
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rfbClientLog = quiet_log;
	rfbClientErr = quiet_log;
	strcpy(tmpdir, "/tmp/ipkvm-vncbench-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = '\0';
		die("mkdtemp: %s", strerror(errno));
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	snprintf(cfg_path, sizeof(cfg_path), "%s/ipkvm.ini", tmpdir);
	snprintf(vncauth_path, sizeof(vncauth_path), "%s/vncauth", tmpdir);
	snprintf(cert_path, sizeof(cert_path), "%s/tls/cert.pem", state_dir);

	/* The JPEG quality the VNC clients' level asks (src/vnc/rfb.c's Tight level -> quality
	 * table), configured as the pipeline's own, so one encode per frame serves every client
	 * (level 6 is 79, next to the default 80). */
	static const int level_quality[10] = {15, 29, 41, 42, 62, 77, 79, 86, 92, 100};
	int q = level_quality[quality_level];
	start_daemon(q);
	cpu_set_t cpus;
	printf("ipkvmd %s: pattern source, desktop (typing) scene, 1920x1080 at 60 fps, JPEG "
	       "quality %d (Tight level %d); %d cores usable\n",
	       ipkvmd, q, quality_level,
	       sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : -1);
	fflush(stdout);
	struct result r;
	run(n, n, window_s, &r);
	print_run("VNC and MJPEG together", n, n, &r);
	run(n, 1, window_s, &r);
	print_run("VNC alone (one MJPEG client for the capture times)", n, 1, &r);
	run(0, n, window_s, &r);
	print_run("MJPEG alone", 0, n, &r);
	stop_daemon();
	cleanup();
	return 0;
}
