/*
 * server: builds the daemon's single event loop (libwebsockets) and the state every
 * request needs, then runs it until a terminating signal.
 *
 * - One HTTPS vhost: HTTP/1.1 only (ALPN), TLS 1.2 and newer with forward-secret AEAD
 *   ciphers. HTTP/2 is left off on purpose: long-lived streams (MJPEG, WebSockets) are
 *   simplest and best supported over HTTP/1.1 in lws 4.1, and nothing here gains from h2.
 * - An optional plain-HTTP vhost that only redirects to HTTPS.
 * - Signals arrive through a signalfd adopted into the loop (no async-signal races):
 *   SIGTERM/SIGINT stop, SIGHUP re-reads the users and tokens files and the TLS files.
 * - A one-second timer expires sessions and closes WebSockets whose session ended.
 * - The worker thread (password hashing) wakes the loop with lws_cancel_service().
 */
#define LOG_TAG "server"
#include "web/server.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atx/atx.h"
#include "atx/gpio.h"
#include "atx/wol.h"
#include "build_config.h"
#include "core/log.h"
#include "core/util.h"
#include "hid/hid.h"
#include "msd/drive.h"
#include "msd/fetch.h"
#include "msd/store.h"
#include "usb/gadgetcmd.h"
#include "target/virtual.h"
#include "video/video.h"
#include "web/cert.h"
#include "web/conn.h"
#include "web/web.h"

static int raw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len);

static const struct lws_protocols https_protocols[] = {
    {"ipkvm", ipkvm_http_callback, sizeof(struct ipkvm_pss), 4096, 0, NULL, 0},
    {"ipkvm-raw", raw_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_protocols redirect_protocols[] = {
    {"ipkvm-redirect", ipkvm_redirect_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws's own messages. One that repeats (a failing accept() is retried at once, in a loop)
 * is written once, then counted: at most one line about it every LOG_REPEAT_MS. Runs on
 * the loop's thread only. */
#define LOG_REPEAT_MS 10000
static void lws_log_emit(int level, const char *line)
{
	static char last[256];
	static unsigned repeated;
	static int64_t last_ms;
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	enum ipkvm_log_level lvl = level == LLL_ERR ? IPKVM_LOG_ERROR : IPKVM_LOG_WARN;
	int64_t now = ipkvm_mono_ms();
	if (n < sizeof(last) && strncmp(last, line, n) == 0 && last[n] == '\0') {
		if (now - last_ms < LOG_REPEAT_MS) {
			repeated++;
			return;
		}
		if (repeated)
			ipkvm_log(lvl, "lws", "%s (%u more times in %llds)", last, repeated,
				  (long long)(now - last_ms) / 1000);
		else
			ipkvm_log(lvl, "lws", "%s", last);
		repeated = 0;
		last_ms = now;
		return;
	}
	if (repeated)
		ipkvm_log(lvl, "lws", "%s (%u more times)", last, repeated);
	repeated = 0;
	last_ms = now;
	snprintf(last, sizeof(last), "%.*s", (int)n, line);
	ipkvm_log(lvl, "lws", "%.*s", (int)n, line);
}

/* Replaces the certificate and key of the running TLS context, new handshakes first. The
 * pair is loaded and checked on the side so a bad file never leaves the context half
 * changed. */
static void reload_tls(struct ipkvm_server *srv)
{
	SSL_CTX *ctx = srv->ssl_ctx;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	FILE *f;
	if (!ctx)
		return;
	if ((f = fopen(srv->cert_path, "r"))) {
		cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if ((f = fopen(srv->key_path, "r"))) {
		key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!cert || !key || !X509_check_private_key(cert, key)) {
		LOG_ERROR("TLS reload: %s and %s are not a readable, matching pair; keeping the "
			  "current ones",
			  srv->cert_path, srv->key_path);
	} else if (SSL_CTX_use_certificate_chain_file(ctx, srv->cert_path) != 1 ||
		   SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		LOG_ERROR("TLS reload failed for %s", srv->cert_path);
	} else {
		LOG_INFO("TLS certificate reloaded from %s", srv->cert_path);
	}
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void on_signal(struct ipkvm_server *srv, int sig)
{
	if (sig == SIGHUP) {
		LOG_INFO("SIGHUP: reloading users, tokens and TLS files");
		ipkvm_authsvc_refresh(srv->auth, true);
		ipkvm_ws_sweep(srv);
		reload_tls(srv);
		return;
	}
	LOG_INFO("%s: shutting down", strsignal(sig));
	srv->stop = true;
	lws_cancel_service(srv->ctx);
}

static int raw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len)
{
	struct ipkvm_server *srv = lws_context_user(lws_get_context(wsi));
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	int fd = lws_get_socket_fd(wsi);
	if (fd != srv->sigfd) {
		for (size_t i = 0; i < srv->n_watched; i++) {
			const struct ipkvm_watched_fd *w = &srv->watched[i];
			if (w->fd != fd)
				continue;
			if (!w->gpio)
				ipkvm_vtarget_hid_readable(srv->vtarget, w->orig);
			else if (ipkvm_gpio_readable(srv->gpio, w->orig))
				ipkvm_atx_leds_changed(srv->atx);
		}
		return 0;
	}
	struct signalfd_siginfo si;
	while (read(srv->sigfd, &si, sizeof(si)) == sizeof(si))
		on_signal(srv, (int)si.ssi_signo);
	return 0;
}

static void tick(lws_sorted_usec_list_t *sul)
{
	struct ipkvm_server *srv = lws_container_of(sul, struct ipkvm_server, tick);
	ipkvm_authsvc_tick(srv->auth);
	ipkvm_conns_sweep(srv->conns);
	ipkvm_ws_sweep(srv);
	ipkvm_stream_tick(srv);
	ipkvm_h264ws_tick(srv);
	lws_sul_schedule(srv->ctx, 0, &srv->tick, tick, LWS_US_PER_SEC);
}

static void wake_loop(void *ctx)
{
	struct ipkvm_server *srv = ctx;
	if (srv->ctx)
		lws_cancel_service(srv->ctx);
}

/* The auth service ended sessions or changed credentials: cut the event sockets that no
 * longer hold. */
static void credentials_changed(void *ctx)
{
	ipkvm_ws_sweep(ctx);
}

static int prepare_state(struct ipkvm_server *srv)
{
	const struct ipkvm_config *cfg = srv->cfg;
	int r = ipkvm_mkdir_p(srv->state_dir, 0700);
	if (r < 0) {
		LOG_ERROR("cannot create the state directory %s: %s", srv->state_dir, strerror(-r));
		return r;
	}
	char dir[PATH_MAX];
	if (ipkvm_path_join(dir, sizeof(dir), srv->state_dir, "tls") < 0 ||
	    ipkvm_path_join(srv->cert_path, sizeof(srv->cert_path), dir, "cert.pem") < 0 ||
	    ipkvm_path_join(srv->key_path, sizeof(srv->key_path), dir, "key.pem") < 0) {
		LOG_ERROR("state directory path too long: %s", srv->state_dir);
		return -ENAMETOOLONG;
	}
	if ((r = ipkvm_authsvc_open(srv->auth)) < 0)
		return r;

	if (cfg->tls_cert) {
		ipkvm_strlcpy(srv->cert_path, cfg->tls_cert, sizeof(srv->cert_path));
		ipkvm_strlcpy(srv->key_path, cfg->tls_key, sizeof(srv->key_path));
	} else if ((r = ipkvm_cert_ensure(dir, cfg->listen)) < 0) {
		return r;
	}
	if (access(srv->cert_path, R_OK) < 0 || access(srv->key_path, R_OK) < 0) {
		LOG_ERROR("cannot read the TLS files %s and %s: %s", srv->cert_path, srv->key_path,
			  strerror(errno));
		return -errno;
	}
	return 0;
}

/* Whether addr (IPv4 or IPv6 text) belongs to this machine: a socket can bind to it. */
static bool address_is_local(const char *addr)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		len = sizeof(*a6);
	} else {
		return false;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true; /* cannot tell: let lws try */
	bool ok = bind(fd, (struct sockaddr *)&ss, len) == 0 || errno != EADDRNOTAVAIL;
	close(fd);
	return ok;
}

static int create_loop(struct ipkvm_server *srv)
{
	const struct ipkvm_config *cfg = srv->cfg;
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.user = srv;
	info.max_http_header_data = 8192;
	info.timeout_secs = 20;
	info.keepalive_timeout = 60;
	srv->ctx = lws_create_context(&info);
	if (!srv->ctx) {
		LOG_ERROR("cannot create the event loop");
		return -ENOMEM;
	}

	info.vhost_name = "https";
	info.port = cfg->port;
	info.iface = cfg->listen && cfg->listen[0] ? cfg->listen : NULL;
	/* lws falls back to another address when the one asked for is not on this machine
	 * (yet: a VPN interface still coming up): refuse instead, so nothing listens where it
	 * was not asked to and the service manager retries. */
	if (info.iface && !address_is_local(info.iface)) {
		LOG_ERROR("[server] listen = %s: no interface of this machine has that address",
			  info.iface);
		return -EADDRNOTAVAIL;
	}
	/* lws binds an IPv6 socket unless told otherwise, and then takes an IPv4 iface as
	 * "any": an IPv4 listen address needs an IPv4 socket to be honoured. */
	if (info.iface && strchr(info.iface, '.'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.protocols = https_protocols;
	info.ssl_cert_filepath = srv->cert_path;
	info.ssl_private_key_filepath = srv->key_path;
	info.alpn = "http/1.1";
	info.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
			       SSL_OP_NO_TLSv1_1 | SSL_OP_CIPHER_SERVER_PREFERENCE;
	info.ssl_cipher_list = "ECDHE+AESGCM:ECDHE+CHACHA20";
	info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	srv->vhost = lws_create_vhost(srv->ctx, &info);
	if (!srv->vhost) {
		LOG_ERROR("cannot listen on %s port %d (in use, or no permission?)",
			  info.iface ? info.iface : "every address", cfg->port);
		return -EADDRINUSE;
	}
	if (!srv->ssl_ctx)
		LOG_WARN("no TLS context seen: SIGHUP will not reload the certificate");

	if (cfg->http_port) {
		struct lws_context_creation_info rinfo;
		memset(&rinfo, 0, sizeof(rinfo));
		rinfo.vhost_name = "http-redirect";
		rinfo.port = cfg->http_port;
		rinfo.iface = info.iface;
		rinfo.options = info.options & LWS_SERVER_OPTION_DISABLE_IPV6;
		rinfo.protocols = redirect_protocols;
		srv->redirect_vhost = lws_create_vhost(srv->ctx, &rinfo);
		if (!srv->redirect_vhost) {
			LOG_ERROR("cannot listen on HTTP port %d", cfg->http_port);
			return -EADDRINUSE;
		}
	}

	if (cfg->plain_port) {
		struct lws_context_creation_info pinfo;
		memset(&pinfo, 0, sizeof(pinfo));
		pinfo.vhost_name = "plain";
		pinfo.port = cfg->plain_port;
		pinfo.iface = cfg->plain_listen;
		if (strchr(pinfo.iface, '.'))
			pinfo.options = LWS_SERVER_OPTION_DISABLE_IPV6;
		pinfo.protocols = https_protocols;
		srv->plain_vhost = lws_create_vhost(srv->ctx, &pinfo);
		if (!srv->plain_vhost) {
			LOG_ERROR("cannot listen on plain-HTTP port %s:%d", pinfo.iface,
				  cfg->plain_port);
			return -EADDRINUSE;
		}
		LOG_INFO("plain HTTP (same routes and logins) on %s port %d", pinfo.iface,
			 cfg->plain_port);
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	srv->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (srv->sigfd < 0) {
		LOG_ERROR("signalfd: %s", strerror(errno));
		return -errno;
	}
	lws_sock_file_fd_type fd = {.filefd = srv->sigfd};
	if (!lws_adopt_descriptor_vhost(srv->vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "ipkvm-raw",
					NULL)) {
		LOG_ERROR("cannot watch signals");
		return -EIO;
	}
	/* Device fds: the virtual target's ends of its USB interfaces (reports are read as
	 * they arrive) and the GPIO LED lines' events. */
	int fds[IPKVM_ARRAY_SIZE(srv->watched)];
	size_t n = 0;
	if (srv->vtarget) {
		ipkvm_vtarget_hid_fds(srv->vtarget, fds);
		for (; n < IPKVM_VTARGET_HID_FDS; n++)
			srv->watched[n] = (struct ipkvm_watched_fd){.orig = fds[n], .gpio = false};
	}
	if (srv->gpio) {
		size_t k = ipkvm_gpio_fds(srv->gpio, fds, IPKVM_ARRAY_SIZE(fds) - n);
		for (size_t i = 0; i < k; i++)
			srv->watched[n++] = (struct ipkvm_watched_fd){.orig = fds[i], .gpio = true};
	}
	for (size_t i = 0; i < n; i++) {
		struct ipkvm_watched_fd *w = &srv->watched[i];
		w->fd = fcntl(w->orig, F_DUPFD_CLOEXEC, 0);
		srv->n_watched = i + 1;
		lws_sock_file_fd_type wfd = {.filefd = w->fd};
		if (w->fd < 0 || !lws_adopt_descriptor_vhost(srv->vhost, LWS_ADOPT_RAW_FILE_DESC,
							     wfd, "ipkvm-raw", NULL)) {
			LOG_ERROR("cannot watch the %s", w->gpio ? "GPIO lines" : "virtual target");
			return -EIO;
		}
	}
	lws_sul_schedule(srv->ctx, 0, &srv->tick, tick, LWS_US_PER_SEC);
	return 0;
}

/* The plain-HTTP port carries logins and pictures in the clear: loopback only. */
static bool loopback_address(const char *a)
{
	return a && (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0);
}

static bool is_virtual(const char *setting)
{
	return setting && strcmp(setting, "virtual") == 0;
}

static void vtarget_tick(lws_sorted_usec_list_t *sul)
{
	struct ipkvm_server *srv = lws_container_of(sul, struct ipkvm_server, vtarget_timer);
	ipkvm_vtarget_tick(srv->vtarget);
}

static void vtarget_timer(void *ctx, int64_t delay_ms)
{
	struct ipkvm_server *srv = ctx;
	if (!srv->ctx) /* still starting: nothing runs on its own before power-on */
		return;
	if (delay_ms < 0)
		lws_sul_cancel(&srv->vtarget_timer);
	else
		lws_sul_schedule(srv->ctx, 0, &srv->vtarget_timer, vtarget_tick,
				 delay_ms * LWS_US_PER_MS);
}

static void vtarget_leds(void *ctx)
{
	struct ipkvm_server *srv = ctx;
	if (srv->atx)
		ipkvm_atx_leds_changed(srv->atx);
}

/* Makes the built-in virtual target when any part of the config drives it. */
static int make_target(struct ipkvm_server *srv)
{
	const struct ipkvm_config *cfg = srv->cfg;
	if (!is_virtual(cfg->video_source) && !is_virtual(cfg->hid_output) &&
	    !is_virtual(cfg->atx_driver))
		return 0;
	/* [target] media: comma-separated paths. */
	char *list = cfg->target_media ? strdup(cfg->target_media) : NULL;
	const char *media[16];
	size_t n = 0;
	char *save = NULL;
	for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		char *end = tok + strlen(tok);
		while (end > tok && end[-1] == ' ')
			*--end = '\0';
		if (!*tok)
			continue;
		if (tok[0] != '/' || n == IPKVM_ARRAY_SIZE(media)) {
			LOG_ERROR("[target] media: '%s': %s", tok,
				  tok[0] != '/' ? "not an absolute path" : "at most 16 images");
			free(list);
			return -EINVAL;
		}
		media[n++] = tok;
	}
	struct ipkvm_vtarget_config vc = {.width = cfg->target_width,
					  .height = cfg->target_height,
					  .fps = cfg->target_fps,
					  .layout = cfg->target_layout,
					  .autoboot_ms = cfg->target_autoboot * 1000,
					  .media = media,
					  .n_media = n,
					  .ctx = srv,
					  .leds = vtarget_leds,
					  .timer = vtarget_timer};
	ipkvm_pixfmt_parse(cfg->target_format, &vc.format);
	char err[256];
	srv->vtarget = ipkvm_vtarget_create(&vc, err, sizeof(err));
	free(list);
	if (!srv->vtarget) {
		LOG_ERROR("[target]: %s", err);
		return -EINVAL;
	}
	return 0;
}

static void atx_tick(lws_sorted_usec_list_t *sul)
{
	struct ipkvm_server *srv = lws_container_of(sul, struct ipkvm_server, atx_timer);
	ipkvm_atx_tick(srv->atx);
}

static void atx_timer(void *ctx, int64_t delay_ms)
{
	struct ipkvm_server *srv = ctx;
	if (delay_ms < 0)
		lws_sul_cancel(&srv->atx_timer);
	else if (srv->ctx)
		lws_sul_schedule(srv->ctx, 0, &srv->atx_timer, atx_tick, delay_ms * LWS_US_PER_MS);
}

/* An HDD LED flickers hundreds of times a second under load: `atx` events go out at most
 * every ATX_EVENT_MS, the last change always included. */
#define ATX_EVENT_MS 100

static void atx_publish(lws_sorted_usec_list_t *sul)
{
	struct ipkvm_server *srv = lws_container_of(sul, struct ipkvm_server, atx_event_timer);
	srv->atx_event_ms = ipkvm_mono_ms();
	ipkvm_events_publish(srv->events, "atx", ipkvm_atx_state(srv->atx));
}

static void atx_changed(void *ctx)
{
	struct ipkvm_server *srv = ctx;
	if (!srv->atx || !srv->ctx)
		return;
	int64_t wait = srv->atx_event_ms + ATX_EVENT_MS - ipkvm_mono_ms();
	if (wait <= 0) {
		lws_sul_cancel(&srv->atx_event_timer);
		atx_publish(&srv->atx_event_timer);
	} else if (!lws_dll2_is_detached(&srv->atx_event_timer.list)) {
		return; /* a publish is already on its way */
	} else {
		lws_sul_schedule(srv->ctx, 0, &srv->atx_event_timer, atx_publish,
				 wait * LWS_US_PER_MS);
	}
}

/* Front-panel control: GPIO lines, or the virtual target's. */
static int make_atx(struct ipkvm_server *srv)
{
	const struct ipkvm_config *cfg = srv->cfg;
	bool gpio = strcmp(cfg->atx_driver, "gpio") == 0;
	bool want = gpio || is_virtual(cfg->atx_driver) ||
		    (strcmp(cfg->atx_driver, "auto") == 0 && srv->vtarget);
	if (!want)
		return 0;
	const struct ipkvm_atx_lines *lines;
	if (gpio) {
		struct ipkvm_gpio_config gc = {.chip = cfg->atx_chip};
		const char *specs[IPKVM_ATX_LINE_COUNT] = {cfg->atx_power_button,
							   cfg->atx_reset_button,
							   cfg->atx_power_led, cfg->atx_hdd_led};
		const bool low[IPKVM_ATX_LINE_COUNT] = {
		    cfg->atx_buttons_active_low, cfg->atx_buttons_active_low,
		    cfg->atx_power_led_active_low, cfg->atx_hdd_led_active_low};
		for (int i = 0; i < IPKVM_ATX_LINE_COUNT; i++)
			gc.lines[i] = (struct ipkvm_gpio_line_config){specs[i], low[i]};
		char err[256];
		srv->gpio = ipkvm_gpio_create(&gc, err, sizeof(err));
		if (!srv->gpio) {
			LOG_ERROR("[atx] gpio: %s", err);
			return -EINVAL;
		}
		lines = ipkvm_gpio_lines(srv->gpio);
	} else {
		lines = ipkvm_vtarget_atx_lines(srv->vtarget);
	}
	struct ipkvm_atx_config ac = {.click_ms = cfg->atx_click_ms,
				      .long_click_ms = cfg->atx_long_click_ms};
	struct ipkvm_atx_cb cb = {.ctx = srv, .changed = atx_changed, .timer = atx_timer};
	srv->atx = ipkvm_atx_create(&ac, lines, &cb);
	if (!srv->atx) {
		LOG_ERROR("[atx]: cannot set up power control");
		return -EINVAL;
	}
	return 0;
}

/* Virtual media: the image store ([msd] dir, or images/ in the state directory), the
 * downloader, and the drives images are attached to. */
static int make_store(struct ipkvm_server *srv)
{
	const struct ipkvm_config *cfg = srv->cfg;
	char dir[PATH_MAX], err[256];
	if (cfg->msd_dir)
		ipkvm_strlcpy(dir, cfg->msd_dir, sizeof(dir));
	else if (ipkvm_path_join(dir, sizeof(dir), srv->state_dir, "images") < 0)
		return -ENAMETOOLONG;
	int r = ipkvm_store_open(dir, &srv->store, err, sizeof(err));
	if (r < 0) {
		LOG_ERROR("[msd] %s: %s", dir, err);
		return r;
	}
	struct ipkvm_fetch_config fc;
	ipkvm_fetch_config_defaults(&fc);
	fc.max_bytes = (int64_t)cfg->msd_max_download_gib << 30;
	fc.user_agent = "ipkvm/" IPKVM_VERSION;
	fc.allow_private = cfg->msd_fetch_allow_private != 0;
	ipkvm_store_set_quota(srv->store, cfg->msd_max_size);
	srv->fetcher = ipkvm_fetch_create(&fc, srv->store, wake_loop, srv);
	if (!srv->fetcher)
		return -ENOMEM;

	const char *drives = cfg->msd_drives;
	bool gadget = strcmp(drives, "gadget") == 0 ||
		      (strcmp(drives, "auto") == 0 && cfg->usb_setup && cfg->usb_luns > 0);
	bool virt = !gadget && (strcmp(drives, "virtual") == 0 ||
				(strcmp(drives, "auto") == 0 && srv->vtarget));
	if (gadget) {
		struct ipkvm_gadget_config gc;
		ipkvm_gadget_config_from(&gc, cfg);
		if (ipkvm_gadget_msd_dir(&gc, dir, sizeof(dir)) < 0)
			return -ENAMETOOLONG;
		srv->drives = ipkvm_drives_create_gadget(dir, (unsigned)cfg->usb_luns);
	} else if (virt && srv->vtarget) {
		static const struct ipkvm_drive_ops vops = {.attach = ipkvm_vtarget_attach,
							    .eject = ipkvm_vtarget_eject};
		srv->drives = ipkvm_drives_create_ops(&vops, srv->vtarget, IPKVM_VTARGET_DRIVES);
	} else if (virt) {
		LOG_ERROR("[msd] drives = virtual needs the virtual target");
		return -EINVAL;
	}
	if ((gadget || virt) && !srv->drives)
		return -ENOMEM;
	/* The LUN files, not our memory, say what the target is served: an image attached
	 * before a restart that kept the gadget must not be deleted or replaced either. */
	if (srv->drives)
		ipkvm_drives_guard_store(srv->drives, srv->store);
	return 0;
}

/* [usb] setup = 1: the gadget is made (or checked) before the HID output opens its nodes. */
static int setup_gadget(struct ipkvm_server *srv)
{
	if (!srv->cfg->usb_setup)
		return 0;
	struct ipkvm_gadget_config gc;
	ipkvm_gadget_config_from(&gc, srv->cfg);
	char err[512];
	int r = ipkvm_gadget_up(&gc, err, sizeof(err));
	if (r < 0)
		LOG_ERROR("[usb] gadget: %s", err);
	else
		LOG_INFO("USB gadget %s is up", gc.name);
	return r;
}

/* Makes the video pipeline the config asks for; srv->video stays NULL for "none". */
static int make_video(struct ipkvm_server *srv)
{
	const struct ipkvm_config *cfg = srv->cfg;
	char err[256];
	if (!cfg->video_source || strcmp(cfg->video_source, "none") == 0)
		return 0;
	struct ipkvm_video_config vc = {
	    .source = cfg->video_source,
	    .vtarget = srv->vtarget,
	    .quality = cfg->jpeg_quality,
	    .max_fps = cfg->jpeg_max_fps,
	    .workers = (unsigned)cfg->jpeg_workers,
	    .subsample420 = cfg->jpeg_subsampling && strcmp(cfg->jpeg_subsampling, "420") == 0,
	    .pattern = {.width = cfg->video_width ? (unsigned)cfg->video_width : 1920,
			.height = cfg->video_height ? (unsigned)cfg->video_height : 1080,
			.fps = cfg->video_fps ? (unsigned)cfg->video_fps : 60,
			.scene = cfg->video_scene},
	    .v4l2 = {.device = cfg->video_device,
		     .width = (unsigned)cfg->video_width,
		     .height = (unsigned)cfg->video_height,
		     .fps = (unsigned)cfg->video_fps,
		     .allow_mjpeg = cfg->video_mjpeg != 0,
		     .edid = cfg->video_edid,
		     .buffers = (unsigned)cfg->video_buffers},
	};
	if (cfg->video_format)
		ipkvm_pixfmt_parse(cfg->video_format, &vc.pattern.format);
	vc.h264 = (struct ipkvm_h264_config){.backend = cfg->h264_backend,
					     .m2m_device = cfg->h264_device,
					     .bitrate_kbps = cfg->h264_bitrate,
					     .max_fps = cfg->h264_fps,
					     .gop = cfg->h264_gop};
	srv->video = ipkvm_video_create(&vc, wake_loop, srv, err, sizeof(err));
	if (!srv->video) {
		LOG_ERROR("[video]: %s", err);
		return -EINVAL;
	}
	return 0;
}

static void hid_changed(void *ctx)
{
	struct ipkvm_server *srv = ctx;
	if (srv->hid) /* not while it is being created */
		ipkvm_events_publish(srv->events, "hid", ipkvm_hid_state(srv->hid));
}

/* Writes what had to wait and reads LED reports back; 10 ms keeps a waiting report's delay
 * small at a cost of 100 cheap wake-ups a second (only with a HID output). */
static void hid_tick(lws_sorted_usec_list_t *sul)
{
	struct ipkvm_server *srv = lws_container_of(sul, struct ipkvm_server, hid_timer);
	ipkvm_hid_service(srv->hid);
	lws_sul_schedule(srv->ctx, 0, &srv->hid_timer, hid_tick, 10 * LWS_US_PER_MS);
}

static int make_hid(struct ipkvm_server *srv)
{
	const struct ipkvm_config *cfg = srv->cfg;
	if (!cfg->hid_output || strcmp(cfg->hid_output, "none") == 0)
		return 0;
	struct ipkvm_hid_config hc = {.output = cfg->hid_output,
				      .serial = cfg->hid_serial,
				      .baud = (unsigned)cfg->hid_baud,
				      .keyboard = cfg->hid_keyboard,
				      .mouse_abs = cfg->hid_mouse_abs,
				      .mouse_rel = cfg->hid_mouse_rel,
				      .consumer = cfg->hid_consumer,
				      .changed = hid_changed,
				      .ctx = srv};
	if (is_virtual(cfg->hid_output)) {
		/* The gadget protocol over the virtual target's socketpairs. */
		hc.keyboard = IPKVM_VTARGET_HID_KEYBOARD;
		hc.mouse_abs = IPKVM_VTARGET_HID_MOUSE_ABS;
		hc.mouse_rel = IPKVM_VTARGET_HID_MOUSE_REL;
		hc.consumer = IPKVM_VTARGET_HID_CONSUMER;
		hc.open_fn = ipkvm_vtarget_hid_open;
		hc.open_ctx = srv->vtarget;
	}
	srv->hid = ipkvm_hid_create(&hc);
	if (!srv->hid) {
		LOG_ERROR("[hid]: cannot create the output");
		return -ENOMEM;
	}
	ipkvm_hid_set_jiggler(srv->hid, cfg->hid_jiggler);
	return 0;
}

struct ipkvm_server *ipkvm_server_create(const struct ipkvm_config *cfg)
{
	struct ipkvm_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->cfg = cfg;
	srv->sigfd = -1;
	srv->started = ipkvm_now();
	if (gethostname(srv->hostname, sizeof(srv->hostname)) < 0)
		strcpy(srv->hostname, "localhost");
	srv->hostname[sizeof(srv->hostname) - 1] = '\0';
	ipkvm_strlcpy(srv->state_dir, cfg->state_dir, sizeof(srv->state_dir));

	const char *web = cfg->web_root;
	struct stat st;
	if (!web)
		web = stat(IPKVM_INSTALLED_WEB_ROOT, &st) == 0 ? IPKVM_INSTALLED_WEB_ROOT
							       : IPKVM_SOURCE_WEB_ROOT;
	if (!realpath(web, srv->web_root)) {
		LOG_ERROR("web root %s: %s", web, strerror(errno));
		goto err;
	}

	/* Signals are read from a signalfd: block them before any thread starts so every
	 * thread inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	lws_set_log_level(getenv("IPKVM_LWS_DEBUG") ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO
						    : LLL_ERR | LLL_WARN,
			  lws_log_emit);
	/* The worker hashes passwords for the auth service, so it comes first. */
	srv->worker = ipkvm_worker_create(wake_loop, srv);
	if (!srv->worker)
		goto err;
	struct ipkvm_authsvc_config ac = {
	    .state_dir = cfg->state_dir,
	    .session_idle = cfg->session_idle,
	    .session_lifetime = cfg->session_lifetime,
	    .max_sessions = (size_t)cfg->max_sessions,
	    .max_sessions_per_user = (size_t)cfg->max_sessions_per_user,
	    .login_max_failures = cfg->login_max_failures,
	    .login_backoff_max = cfg->login_backoff_max,
	    .worker = srv->worker,
	};
	srv->auth = ipkvm_authsvc_create(&ac);
	srv->events = ipkvm_events_create();
	srv->conns = ipkvm_conns_create(cfg); /* raises the open-files limit: before lws */
	if (!srv->auth || !srv->events || !srv->conns ||
	    ipkvm_authsvc_watch(srv->auth, credentials_changed, srv) < 0)
		goto err;
	if (cfg->plain_port && !loopback_address(cfg->plain_listen)) {
		LOG_ERROR("[server] plain_listen = %s: the plain-HTTP port may only listen on a "
			  "loopback address (127.0.0.1, ::1)",
			  cfg->plain_listen ? cfg->plain_listen : "");
		goto err;
	}
	uint8_t mac[6];
	if (cfg->atx_wol_mac && ipkvm_wol_parse_mac(cfg->atx_wol_mac, mac) < 0) {
		LOG_ERROR("[atx] wol_mac = %s: not a MAC address (aa:bb:cc:dd:ee:ff)",
			  cfg->atx_wol_mac);
		goto err;
	}
	if (prepare_state(srv) < 0 || setup_gadget(srv) < 0 || make_target(srv) < 0 ||
	    make_atx(srv) < 0 || make_video(srv) < 0 || make_hid(srv) < 0)
		goto err;
	srv->io_worker = ipkvm_worker_create(wake_loop, srv);
	if (!srv->io_worker || make_store(srv) < 0 || create_loop(srv) < 0)
		goto err;
	if (srv->hid)
		lws_sul_schedule(srv->ctx, 0, &srv->hid_timer, hid_tick, 10 * LWS_US_PER_MS);
	if (srv->video && ipkvm_video_start(srv->video) < 0) {
		LOG_ERROR("cannot start the video threads");
		goto err;
	}
	const char *host = cfg->listen && cfg->listen[0] ? cfg->listen : "localhost";
	bool v6 = strchr(host, ':') != NULL;
	LOG_INFO("ipkvmd %s serving https://%s%s%s:%d/ (state %s, web %s)", IPKVM_VERSION,
		 v6 ? "[" : "", host, v6 ? "]" : "", cfg->port, srv->state_dir, srv->web_root);
	return srv;
err:
	ipkvm_server_destroy(srv);
	return NULL;
}

int ipkvm_server_run(struct ipkvm_server *srv)
{
	while (!srv->stop) {
		srv->loop_pass++; /* streams share a byte budget per pass (api_streamer.c) */
		if (lws_service(srv->ctx, 0) < 0)
			return 1;
	}
	return 0;
}

void ipkvm_server_destroy(struct ipkvm_server *srv)
{
	if (!srv)
		return;
	/* Video threads first (they wake the loop), then the worker: its last jobs may still
	 * answer requests of live connections. */
	ipkvm_video_destroy(srv->video);
	srv->video = NULL;
	ipkvm_worker_destroy(srv->worker);
	srv->worker = NULL;
	ipkvm_worker_destroy(srv->io_worker); /* an upload being committed finishes first */
	srv->io_worker = NULL;
	ipkvm_fetch_destroy(srv->fetcher); /* its threads wake the loop until joined */
	srv->fetcher = NULL;
	if (srv->ctx) {
		ipkvm_hid_typing_stop(srv);
		lws_sul_cancel(&srv->tick);
		lws_sul_cancel(&srv->hid_timer);
		lws_sul_cancel(&srv->vtarget_timer);
		lws_sul_cancel(&srv->atx_timer);
		lws_sul_cancel(&srv->atx_event_timer);
		lws_sul_cancel(&srv->rebind_timer);
		lws_context_destroy(srv->ctx);
	}
	if (srv->sigfd >= 0)
		close(srv->sigfd);
	for (size_t i = 0; i < srv->n_watched; i++) {
		if (srv->watched[i].fd >= 0)
			close(srv->watched[i].fd);
	}
	ipkvm_hid_destroy(srv->hid);
	if (srv->drives && ipkvm_drives_rebind_pending(srv->drives))
		ipkvm_drives_rebind(srv->drives); /* never leave the target unplugged */
	ipkvm_drives_destroy(srv->drives);
	ipkvm_store_destroy(srv->store);
	ipkvm_atx_destroy(srv->atx);
	ipkvm_gpio_destroy(srv->gpio);
	ipkvm_vtarget_destroy(srv->vtarget);
	ipkvm_events_destroy(srv->events);
	ipkvm_conns_destroy(srv->conns);  /* after the loop: closing connections remove rows */
	ipkvm_authsvc_destroy(srv->auth); /* after the worker: its calls finished there */
	free(srv);
}
