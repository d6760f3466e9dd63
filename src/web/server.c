/*
 * server: the web front end on the daemon's loop: the HTTPS vhost (API, static UI,
 * WebSockets), the optional plain-HTTP redirect vhost and the loopback plain-HTTP vhost.
 *
 * - One HTTPS vhost: HTTP/1.1 only (ALPN), TLS 1.2 and newer with forward-secret AEAD
 *   ciphers. HTTP/2 is left off on purpose: long-lived streams (MJPEG, WebSockets) are
 *   simplest and best supported over HTTP/1.1 in lws 4.1, and nothing here gains from h2.
 * - The vhosts are added to the loop's lws context (daemon/loop.h owns it); each carries
 *   this server as its vhost user, which every callback reads back.
 * - It makes no device: the composition root (daemon/) passes them in (services.h) and
 *   calls back once a second, on SIGHUP and when a producer thread woke the loop for it.
 */
#define LOG_TAG "server"
#include "web/server.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_config.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/loop.h"
#include "tls/tls.h"
#include "web/conn.h"
#include "web/web.h"

/* "binary": the subprotocol RFB-over-WebSocket clients may ask for (noVNC up to 1.x named
 * it; lws refuses an upgrade naming a subprotocol it has no row for). The same callback and
 * data: which endpoints accept it is the route's business (http.c, confirm_upgrade). */
static const struct lws_protocols https_protocols[] = {
    {"ipkvm", ipkvm_http_callback, sizeof(struct ipkvm_pss), 4096, 0, NULL, 0},
    {"binary", ipkvm_http_callback, sizeof(struct ipkvm_pss), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_protocols redirect_protocols[] = {
    {"ipkvm-redirect", ipkvm_redirect_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* No lws keep-alive pings on WebSockets: lws would write its ping in front of the next
 * writable pass, also into the middle of an H.264 message written by rawwrite.h. Clients
 * of /api/ws ping the server themselves, and an H.264 client gets a message every second. */
static const lws_retry_bo_t no_validity_pings = {.secs_since_valid_ping = 0,
						 .secs_since_valid_hangup = 0};

/* The auth service ended sessions or changed credentials: cut the event sockets that no
 * longer hold. */
static void credentials_changed(void *ctx)
{
	ipkvm_ws_sweep(ctx);
	ipkvm_vncws_sweep(ctx);
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

/* Adds the listeners to the loop's context. */
static int create_vhosts(struct ipkvm_server *srv)
{
	const struct ipkvm_config *cfg = srv->cfg;
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.user = srv;
	info.keepalive_timeout = 60;
	info.retry_and_idle_policy = &no_validity_pings;
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
	info.ssl_cert_filepath = srv->tls_files.cert;
	info.ssl_private_key_filepath = srv->tls_files.key;
	info.alpn = "http/1.1";
	/* The cipher policy every TLS front end shares (tls/tls.h): TLS 1.2 and newer, ECDHE
	 * with AEAD only, the server's order with the cipher this CPU is fastest at first;
	 * SSL_OP_PRIORITIZE_CHACHA: a client that asks for ChaCha20 first (it lacks AES
	 * instructions itself) gets it either way. */
	struct ipkvm_tls_policy policy;
	ipkvm_tls_policy(cfg, &policy);
	srv->tls_chacha = policy.chacha;
	info.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
			       SSL_OP_NO_TLSv1_1 | SSL_OP_CIPHER_SERVER_PREFERENCE |
			       SSL_OP_PRIORITIZE_CHACHA;
	info.ssl_cipher_list = policy.ciphers12;
	info.tls1_3_plus_cipher_list = policy.ciphers13;
	LOG_INFO("TLS: %s preferred (%s)", policy.chacha ? "ChaCha20-Poly1305" : "AES-GCM",
		 policy.why);
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
		rinfo.user = srv;
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
		pinfo.retry_and_idle_policy = &no_validity_pings;
		pinfo.user = srv;
		srv->plain_vhost = lws_create_vhost(srv->ctx, &pinfo);
		if (!srv->plain_vhost) {
			LOG_ERROR("cannot listen on plain-HTTP port %s:%d", pinfo.iface,
				  cfg->plain_port);
			return -EADDRINUSE;
		}
		LOG_INFO("plain HTTP (same routes and logins) on %s port %d", pinfo.iface,
			 cfg->plain_port);
	}

	return 0;
}

/* The plain-HTTP port carries logins and pictures in the clear: loopback only. */
static bool loopback_address(const char *a)
{
	return a && (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0);
}

struct ipkvm_server *ipkvm_server_create(const struct ipkvm_services *svc)
{
	const struct ipkvm_config *cfg = svc->cfg;
	struct ipkvm_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->cfg = cfg;
	srv->svc = svc;
	srv->ctx = ipkvm_loop_lws(svc->loop);
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
	srv->conns = ipkvm_conns_create(cfg);
	if (!srv->conns || ipkvm_authsvc_watch(svc->auth, credentials_changed, srv) < 0)
		goto err;
	if (cfg->plain_port && !loopback_address(cfg->plain_listen)) {
		LOG_ERROR("[server] plain_listen = %s: the plain-HTTP port may only listen on a "
			  "loopback address (127.0.0.1, ::1)",
			  cfg->plain_listen ? cfg->plain_listen : "");
		goto err;
	}
	if (ipkvm_tls_files(cfg, &srv->tls_files) < 0 || create_vhosts(srv) < 0)
		goto err;
	const char *host = cfg->listen && cfg->listen[0] ? cfg->listen : "localhost";
	bool v6 = strchr(host, ':') != NULL;
	LOG_INFO("ipkvmd %s serving https://%s%s%s:%d/ (state %s, web %s)", IPKVM_VERSION,
		 v6 ? "[" : "", host, v6 ? "]" : "", cfg->port, srv->state_dir, srv->web_root);
	return srv;
err:
	ipkvm_server_destroy(srv);
	return NULL;
}

void ipkvm_server_tick(struct ipkvm_server *srv)
{
	ipkvm_conns_sweep(srv->conns);
	ipkvm_ws_sweep(srv);
	ipkvm_stream_tick(srv);
	ipkvm_h264ws_tick(srv);
	ipkvm_vncws_tick(srv);
}

void ipkvm_server_reload(struct ipkvm_server *srv)
{
	ipkvm_ws_sweep(srv);
	ipkvm_vncws_sweep(srv);
	if (srv->ssl_ctx)
		ipkvm_tls_reload(srv->ssl_ctx, &srv->tls_files);
}

void ipkvm_server_frames_ready(struct ipkvm_server *srv)
{
	ipkvm_stream_wake(srv);
}

void ipkvm_server_h264_ready(struct ipkvm_server *srv)
{
	ipkvm_h264ws_wake(srv);
}

void ipkvm_server_fetch_progress(struct ipkvm_server *srv)
{
	ipkvm_msd_fetch_poll(srv);
}

void ipkvm_server_stop(struct ipkvm_server *srv)
{
	if (!srv)
		return;
}

void ipkvm_server_destroy(struct ipkvm_server *srv)
{
	if (!srv)
		return;
	ipkvm_authsvc_unwatch(srv->svc->auth, credentials_changed, srv);
	ipkvm_conns_destroy(srv->conns); /* after the loop: closing connections remove rows */
	free(srv);
}
