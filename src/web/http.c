/*
 * http: request handling for the HTTPS vhost: method and path checks, authentication
 * before routing (an unauthenticated client learns nothing about which paths exist),
 * routing by the table of routes.c with each row's roles, Origin checks and hooks (a
 * handler, a streamed upload, a WebSocket endpoint), bounded JSON bodies, the static UI,
 * and the response writer.
 *
 * A request is answered by queueing a complete response on the connection (status,
 * headers, body) and writing it on the next WRITEABLE callback; handlers that need the
 * worker thread (login) queue theirs later. Bodies the server refuses (too large, wrong
 * type) are read and discarded up to a bound before the error is sent, so the client sees
 * the error instead of a connection reset.
 */
#define LOG_TAG "http"
#include <errno.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "web/conn.h"
#include "web/web.h"

/* Refused bodies of logged-in clients up to this size (on public routes: up to max_body)
 * are drained so the error reaches the client; beyond it, and after every 401, the
 * connection is closed after the error. */
#define DRAIN_MAX (16u << 20)

static const char security_headers[] =
    "x-content-type-options: nosniff\r\n"
    "x-frame-options: DENY\r\n"
    "referrer-policy: no-referrer\r\n"
    "cross-origin-opener-policy: same-origin\r\n"
    "content-security-policy: default-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\n";
static const char hsts_header[] = IPKVM_HSTS_HEADER;

static const struct {
	enum ipkvm_method m;
	enum lws_token_indexes tok;
	const char *name;
} methods[] = {
    {IPKVM_GET, WSI_TOKEN_GET_URI, "GET"},	 {IPKVM_POST, WSI_TOKEN_POST_URI, "POST"},
    {IPKVM_PUT, WSI_TOKEN_PUT_URI, "PUT"},	 {IPKVM_DELETE, WSI_TOKEN_DELETE_URI, "DELETE"},
    {IPKVM_PATCH, WSI_TOKEN_PATCH_URI, "PATCH"}, {IPKVM_OPTIONS, WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
    {IPKVM_HEAD, WSI_TOKEN_HEAD_URI, "HEAD"},
};

static enum ipkvm_method request_method(struct lws *wsi)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(methods); i++)
		if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
			return methods[i].m;
	return 0;
}

static void allow_header(struct ipkvm_http_req *req, unsigned mask)
{
	char allow[64] = "";
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(methods); i++) {
		if (!(mask & methods[i].m))
			continue;
		size_t n = strlen(allow);
		snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "", methods[i].name);
	}
	ipkvm_http_header(req, "allow", "%s", allow);
}

void ipkvm_web_peer_addr(struct lws *wsi, char *out, size_t len)
{
	out[0] = '\0';
	lws_get_peer_simple(wsi, out, len);
	if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.'))
		memmove(out, out + 7, strlen(out + 7) + 1);
}

static void req_reset(struct ipkvm_http_req *req)
{
	if (req->job)
		req->job_detach(req);
	if (req->upload)
		req->upload_ops->abort(req); /* the client went away mid-body */
	ipkvm_stream_detach(req);
	free(req->body);
	free(req->resp);
	memset(req, 0, sizeof(*req));
}

void ipkvm_http_header(struct ipkvm_http_req *req, const char *name, const char *fmt, ...)
{
	char value[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	int n = snprintf(req->headers + req->headers_len, sizeof(req->headers) - req->headers_len,
			 "%s: %s\r\n", name, value);
	if (n < 0 || (size_t)n >= sizeof(req->headers) - req->headers_len) {
		LOG_ERROR("response headers overflow at %s", name);
		req->headers[req->headers_len] = '\0';
		return;
	}
	req->headers_len += (size_t)n;
}

void ipkvm_http_reply(struct ipkvm_http_req *req, int status, const char *content_type,
		      const void *body, size_t len)
{
	free(req->resp);
	req->resp = malloc(LWS_PRE + len + 1);
	if (!req->resp) {
		req->resp_len = 0;
		status = 500;
	} else {
		if (len)
			memcpy(req->resp + LWS_PRE, body, len);
		req->resp_len = len;
	}
	req->status = status;
	req->content_type = content_type;
	req->ready = true;
	if (req->wsi)
		lws_callback_on_writable(req->wsi);
}

static void reply_json(struct ipkvm_http_req *req, int status, json_t *j)
{
	size_t len = 0;
	char *text = j ? ipkvm_json_dump(j, &len) : NULL;
	json_decref(j);
	if (!text) {
		static const char oom[] = "{\"ok\":false,\"error\":{\"code\":\"internal\","
					  "\"message\":\"out of memory\"}}";
		ipkvm_http_reply(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	ipkvm_http_reply(req, status, "application/json", text, len);
	free(text);
}

void ipkvm_http_reply_ok(struct ipkvm_http_req *req, int status, json_t *result)
{
	reply_json(req, status, ipkvm_json_ok(result));
}

void ipkvm_http_reply_error(struct ipkvm_http_req *req, int status, const char *code, json_t *extra,
			    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status >= 500)
		LOG_ERROR("%s %s: %s", req->addr, req->path, msg);
	else
		LOG_DEBUG("%s %s: %d %s: %s", req->addr, req->path, status, code, msg);
	reply_json(req, status, ipkvm_json_error(code, msg, extra));
}

json_t *ipkvm_http_body_json(struct ipkvm_http_req *req, const struct ipkvm_json_field *fields,
			     size_t nfields)
{
	char err[256];
	json_t *j =
	    ipkvm_json_parse_object(req->body ? req->body : "", req->body_len, err, sizeof(err));
	if (!j) {
		ipkvm_http_reply_error(req, 400, "bad_json", NULL, "%s", err);
		return NULL;
	}
	if (ipkvm_json_check(j, fields, nfields, err, sizeof(err)) < 0) {
		json_decref(j);
		ipkvm_http_reply_error(req, 400, "bad_request", NULL, "%s", err);
		return NULL;
	}
	return j;
}

/* Writes the queued response. Returns what the lws callback should return. */
static int write_response(struct ipkvm_http_req *req, bool close_after)
{
	struct lws *wsi = req->wsi;
	uint8_t hbuf[LWS_PRE + 2048 + IPKVM_RESP_HEADERS];
	uint8_t *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf) - 1;
	req->ready = false;
	/* No keep-alive for clients without a session: a stranger gets one request per
	 * connection. lws 4.1 spins without end on a pipelined request with a body behind an
	 * answered one (found by tests/fuzz), so strangers must never get one parsed. */
	if (req->auth.kind == IPKVM_AUTH_NONE)
		close_after = true;
	if (lws_add_http_common_headers(wsi, (unsigned)req->status, req->content_type,
					req->resp_len, &p, end))
		return -1;
	size_t extra = strlen(security_headers) + sizeof(hsts_header) + req->headers_len + 64;
	if ((size_t)(end - p) < extra)
		return -1;
	memcpy(p, security_headers, strlen(security_headers));
	p += strlen(security_headers);
	if (lws_is_ssl(wsi)) {
		memcpy(p, hsts_header, sizeof(hsts_header) - 1);
		p += sizeof(hsts_header) - 1;
	}
	if (strncmp(req->path, "/api/", 5) == 0 || req->status >= 300) {
		static const char nostore[] = "cache-control: no-store\r\n";
		memcpy(p, nostore, sizeof(nostore) - 1);
		p += sizeof(nostore) - 1;
	}
	memcpy(p, req->headers, req->headers_len);
	p += req->headers_len;
	if (close_after) {
		static const char conn_close[] = "connection: close\r\n";
		memcpy(p, conn_close, sizeof(conn_close) - 1);
		p += sizeof(conn_close) - 1;
	}
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (req->resp_len && lws_write(wsi, (uint8_t *)req->resp + LWS_PRE, req->resp_len,
				       LWS_WRITE_HTTP_FINAL) != (int)req->resp_len)
		return -1;
	LOG_DEBUG("%s %s -> %d (%zu bytes)", req->addr, req->path, req->status, req->resp_len);
	/* Closed at once, also when the client is still sending a body: waiting with reads
	 * stopped while lws holds pipelined bytes makes lws 4.1 spin. A client that sends a
	 * body nobody asked for may see a reset instead of the answer. */
	if (close_after)
		return -1;
	/* Keep-alive: the next request on this connection starts from a clean slate. */
	free(req->resp);
	free(req->body);
	req->resp = req->body = NULL;
	req->body_cap = 0;
	req->headers_len = 0;
	if (req->srv->conns)
		ipkvm_conns_idle(req->srv->conns, wsi);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static const char *mime_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".json", "application/json; charset=utf-8"},
	    {".woff2", "font/woff2"},
	    {".woff", "font/woff"},
	    {".ttf", "font/ttf"},
	    {".oga", "audio/ogg"},
	    {".mp3", "audio/mpeg"},
	    {".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(path, '.');
	if (dot)
		for (size_t i = 0; i < IPKVM_ARRAY_SIZE(types); i++)
			if (strcmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

/* Appends s to out (at *o, room for len) percent-encoded: only [A-Za-z0-9-._~] and the
 * characters of keep stay as they are. false when it does not fit. */
static bool append_encoded(char *out, size_t len, size_t *o, const char *s, size_t n,
			   const char *keep)
{
	static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				    "-._~";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool as_is = c && (strchr(plain, c) || strchr(keep, c));
		if (*o + (as_is ? 1 : 3) >= len)
			return false;
		if (as_is)
			out[(*o)++] = (char)c;
		else
			*o += (size_t)snprintf(out + *o, len - *o, "%%%02X", c);
	}
	out[*o] = '\0';
	return true;
}

/* Appends one character to out (at *o, room for len). false when it does not fit. */
static bool append_char(char *out, size_t len, size_t *o, char c)
{
	if (*o + 1 >= len)
		return false;
	out[(*o)++] = c;
	out[*o] = '\0';
	return true;
}

/* The request's query as "?a=b&c=d", percent-encoded again (lws hands it over decoded, one
 * fragment per parameter); "" when there is none or it does not fit. */
static void request_query(struct lws *wsi, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (int i = 0; i < 32; i++) {
		char frag[512];
		int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n <= 0)
			return;
		/* The first '=' separates the name from the value; any other is encoded. */
		const char *eq = memchr(frag, '=', (size_t)n);
		size_t name = eq ? (size_t)(eq - frag) : (size_t)n;
		bool ok = append_char(out, len, &o, i ? '&' : '?') &&
			  append_encoded(out, len, &o, frag, name, "/");
		if (ok && eq)
			ok = append_char(out, len, &o, '=') &&
			     append_encoded(out, len, &o, eq + 1, (size_t)n - name - 1, "/");
		if (!ok) {
			out[0] = '\0';
			return;
		}
	}
}

static void reply_login_redirect(struct ipkvm_http_req *req)
{
	/* 401, as for every protected path, with a body that takes a browser to the login
	 * page and back to the page it asked for, query included (noVNC's settings come in
	 * it). The path passed ipkvm_path_ok() and the rest is percent-encoded, so both are
	 * safe in a URL and in HTML. */
	char query[IPKVM_URL_MAX], next[3 * IPKVM_URL_MAX];
	size_t o = 0;
	request_query(req->wsi, query, sizeof(query));
	if (!append_encoded(next, sizeof(next), &o, req->path, strlen(req->path), "/") ||
	    !append_encoded(next, sizeof(next), &o, query, strlen(query), "/"))
		ipkvm_strlcpy(next, "/", sizeof(next));
	char body[2 * sizeof(next) + 256];
	int n = snprintf(body, sizeof(body),
			 "<!doctype html><meta charset=\"utf-8\"><title>ipkvm: log in</title>"
			 "<meta http-equiv=\"refresh\" content=\"0;url=/login?next=%s\">"
			 "<p><a href=\"/login?next=%s\">Log in</a></p>\n",
			 next, next);
	ipkvm_http_reply(req, 401, "text/html; charset=utf-8", body, (size_t)n);
}

/* Serves a file of the UI. -1 to hang up, 0, or 1 when the transaction is already over
 * (req may be freed). */
static int serve_static(struct ipkvm_http_req *req)
{
	struct ipkvm_server *srv = req->srv;
	const char *rel = req->path;
	if (strcmp(rel, "/") == 0)
		rel = "/index.html";
	else if (strcmp(rel, "/login") == 0)
		rel = "/login.html";
	/* No dot files or "..": every segment must start with a normal character. */
	if (strstr(rel, "/.") || strstr(rel, "//")) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no such file");
		return 0;
	}
	char file[PATH_MAX];
	struct stat st;
	if (snprintf(file, sizeof(file), "%s%s", srv->web_root, rel) >= (int)sizeof(file) ||
	    stat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no such file: %s", req->path);
		return 0;
	}
	return ipkvm_http_serve_file(req, file, rel);
}

int ipkvm_http_serve_file(struct ipkvm_http_req *req, const char *path, const char *type_name)
{
	struct ipkvm_server *srv = req->srv;
	if (!(req->method & (IPKVM_GET | IPKVM_HEAD))) {
		allow_header(req, IPKVM_GET | IPKVM_HEAD);
		ipkvm_http_reply_error(req, 405, "method_not_allowed", NULL, "use GET");
		return 0;
	}
	char headers[sizeof(security_headers) + sizeof(hsts_header) + 64];
	int n = snprintf(headers, sizeof(headers), "%s%scache-control: no-cache\r\n",
			 security_headers, lws_is_ssl(req->wsi) ? hsts_header : "");
	/* lws ends the transaction itself for a HEAD (no body to send), and ending it frees
	 * the connection's data, req included: from here on only the locals are used. */
	struct lws *wsi = req->wsi;
	struct ipkvm_conns *conns = srv->conns;
	bool head = req->method == IPKVM_HEAD, stranger = req->auth.kind == IPKVM_AUTH_NONE;
	int r = lws_serve_http_file(wsi, path, mime_type(type_name), headers, n);
	if (r < 0 || (head && stranger))
		return -1; /* no keep-alive for strangers (see write_response) */
	if (!head && r == 0)
		return 0; /* the file follows; HTTP_FILE_COMPLETION ends the transaction */
	ipkvm_conns_idle(conns, wsi);
	if (!head && lws_http_transaction_completed(wsi))
		return -1;
	return 1;
}

static bool has_json_content_type(struct lws *wsi)
{
	char ct[128];
	if (lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
		return false;
	size_t n = strlen("application/json");
	return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

/* Content-Length as RFC 9110 has it: one header, digits only, at most INT64_MAX. Anything
 * else would leave the body's end to guesswork (and lws would read "-1" as a length of its
 * own). 1 with *out set, 0 when there is none, -1 when it is malformed. */
static int content_length(struct lws *wsi, size_t *out)
{
	char v[32];
	int n = lws_hdr_copy_fragment(wsi, v, sizeof(v), WSI_TOKEN_HTTP_CONTENT_LENGTH, 0);
	if (n < 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
		return 0; /* absent (a value too long to copy is malformed below) */
	/* lws keeps a repeated header as a second fragment of the same token */
	if (n <= 0 || n > 19 || lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) > 0)
		return -1;
	uint64_t len = 0;
	for (int i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		len = len * 10 + (uint64_t)(v[i] - '0'); /* 19 digits cannot wrap */
	}
	if (len > INT64_MAX || len > SIZE_MAX)
		return -1;
	*out = (size_t)len;
	return 1;
}

/* LWS_CALLBACK_HTTP: a new request's headers are in. */
static int http_request(struct ipkvm_server *srv, struct ipkvm_http_req *req, struct lws *wsi,
			const char *uri)
{
	req_reset(req);
	req->srv = srv;
	req->wsi = wsi;
	ipkvm_web_peer_addr(wsi, req->addr, sizeof(req->addr));
	req->method = request_method(wsi);
	/* Every request, login included, sees the users and tokens files as they are now. */
	ipkvm_authsvc_refresh(srv->svc->auth, false);
	if (ipkvm_strlcpy(req->path, uri, sizeof(req->path)) < 0 || !ipkvm_path_ok(req->path) ||
	    req->path[0] != '/') {
		req->path[0] = '\0';
		ipkvm_http_reply_error(req, 400, "bad_request", NULL, "invalid request path");
		req->close_after = true;
		return 0;
	}
	int cl = content_length(wsi, &req->content_length);
	if (cl < 0) {
		ipkvm_http_reply_error(req, 400, "bad_request", NULL,
				       "Content-Length must be one header of digits, at most %lld",
				       (long long)INT64_MAX);
		req->close_after = true; /* where the body ends is unknown */
		return 0;
	}
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		/* Chunked request bodies are not read: say so instead of seeing no body. */
		ipkvm_http_reply_error(req, 411, "length_required", NULL,
				       "send request bodies with a Content-Length");
		req->close_after = true;
		return 0;
	}

	bool api = strncmp(req->path, "/api/", 5) == 0;
	bool novnc = ipkvm_novnc_path(req->path);
	const struct ipkvm_route *route = api ? ipkvm_route_find(req->path, &req->rest) : NULL;
	bool public = api ? route && route->public : ipkvm_public_file(req->path);

	if (!public && ipkvm_web_authenticate(srv, wsi, &req->auth, true) < 0) {
		/* Nothing of a stranger's body is read: the connection ends after the 401. */
		if (!api && (req->method & (IPKVM_GET | IPKVM_HEAD))) {
			reply_login_redirect(req);
			return 0;
		}
		ipkvm_http_reply_error(req, 401, "unauthorized", NULL, "log in first");
		return 0;
	}
	if (!public)
		ipkvm_conns_request(srv->conns, wsi, true, req->content_length > 0);
	if (novnc)
		return ipkvm_novnc_serve(req);
	if (!api)
		return serve_static(req);
	if (!route) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no such API path: %s",
				       req->path);
		return 0;
	}
	if (!(req->method & route->methods)) {
		allow_header(req, route->methods);
		ipkvm_http_reply_error(req, 405, "method_not_allowed", NULL,
				       "method not allowed on %s", route->path);
		return 0;
	}
	bool writes = req->method != IPKVM_GET && req->method != IPKVM_HEAD;
	if (!public &&
	    !ipkvm_auth_allows(&req->auth, writes ? route->write_role : route->read_role)) {
		ipkvm_http_reply_error(req, 403, "forbidden", NULL, "the %s role may not do this",
				       ipkvm_role_name(req->auth.role));
		return 0;
	}
	/* Cross-site requests cannot carry our SameSite=Strict cookie, and JSON bodies need a
	 * CORS preflight we never grant; checking Origin on writes closes the remaining gap
	 * (same-site subdomains) and holds for bearer tokens too. */
	if (writes && ipkvm_web_check_origin(wsi) < 0) {
		ipkvm_http_reply_error(req, 403, "bad_origin", NULL,
				       "the request's Origin is not this host");
		return 0;
	}
	const char *off = NULL;
	if (route->ws && route->ws->available && !route->ws->available(srv, &off)) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "%s", off);
		return 0;
	}
	if (route->ws) {
		ipkvm_http_reply_error(
		    req, 426, "upgrade_required", NULL,
		    "this is a WebSocket endpoint: connect with an Upgrade request");
		return 0;
	}
	const struct ipkvm_upload_ops *upload = req->method == IPKVM_PUT ? route->upload : NULL;
	if (upload) {
		if (!req->content_length) {
			ipkvm_http_reply_error(req, 411, "length_required", NULL,
					       "send the image with its Content-Length");
			return 0;
		}
		req->upload_ops = upload;
		upload->begin(req); /* replies at once when it refuses */
		if (req->upload)    /* streamed by a logged-in user: no deadline, lws's idle one */
			ipkvm_conns_busy(srv->conns, wsi);
		return 0;
	}
	if (req->content_length > 0) {
		if (req->content_length > (size_t)srv->cfg->max_body)
			ipkvm_http_reply_error(
			    req, 413, "too_large", NULL,
			    "request body of %zu bytes is over the %d byte limit",
			    req->content_length, srv->cfg->max_body);
		else if (!has_json_content_type(wsi))
			ipkvm_http_reply_error(req, 415, "unsupported_media_type", NULL,
					       "request bodies must be application/json");
		if (!req->ready)
			req->body_expected = true; /* the handler runs at BODY_COMPLETION */
		return 0;
	}
	route->fn(req);
	return 0;
}

static int http_body(struct ipkvm_http_req *req, const void *in, size_t len)
{
	if (req->body_refused) {
		req->body_len += len; /* drained, counted so the completion can be checked */
		return 0;
	}
	if (req->upload)
		return req->upload_ops->chunk(req, in, len);
	if (!req->body_expected || req->body_done || req->body_len + len > req->content_length)
		return -1; /* more than Content-Length said: drop the connection */
	/* The buffer grows with the bytes that came, not with what was announced: a client
	 * that announces 64 KiB and sends a byte now and then holds a few bytes. */
	size_t need = req->body_len + len + 1;
	if (need > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap : 1024;
		while (cap < need)
			cap *= 2;
		if (cap > req->content_length + 1)
			cap = req->content_length + 1;
		char *grown = realloc(req->body, cap);
		if (!grown)
			return -1;
		req->body = grown;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, in, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return 0;
}

static int http_body_done(struct ipkvm_http_req *req)
{
	/* lws 4.1 says BODY_COMPLETION again, on every pass and without polling in between,
	 * when bytes follow the body in the same read or a request is pipelined behind
	 * another: a body completes once, and a connection lws got confused about ends at
	 * the first repeat. An answer that is ready goes out first; one still being worked
	 * out (a login's hash) is lost with the connection, as the loop cannot wait for it
	 * while lws spins. An early completion (fewer bytes than announced) ends it too. */
	if (req->body_done)
		return req->ready ? write_response(req, true) : -1;
	if (!req->upload && req->body_len < req->content_length)
		return -1;
	req->body_done = true;
	ipkvm_conns_busy(req->srv->conns, req->wsi);
	if (req->body_refused) {
		req->ready = true;
		lws_callback_on_writable(req->wsi);
		return 0;
	}
	if (req->upload) {
		req->upload_ops->end(req);
		return 0;
	}
	const struct ipkvm_route *route = ipkvm_route_find(req->path, &req->rest);
	if (!route || !route->fn || !req->body_expected)
		return -1;
	route->fn(req);
	return 0;
}

/* A connection's life in the connection table (see conn.c); every vhost's, the redirect's
 * too. Returns what the lws callback should return. */
static int conn_event(struct ipkvm_server *srv, struct lws *wsi, enum lws_callback_reasons reason,
		      void *user)
{
	if (!srv || !srv->conns)
		return 0;
	if (reason == LWS_CALLBACK_FILTER_NETWORK_CONNECTION) {
		/* Right after accept(), before TLS: wsi is the listener, user the new peer. */
		const struct lws_filter_network_conn_args *a = user;
		return ipkvm_conns_admit(srv->conns, (const struct sockaddr *)&a->cli_addr) < 0;
	}
	if (reason == LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED)
		ipkvm_conns_add(srv->conns, wsi);
	else
		ipkvm_conns_remove(srv->conns, wsi);
	return 0;
}

/* Whether the subprotocols an upgrade lists, if any, include the one the endpoint speaks
 * (lws would otherwise bind the connection to whichever of its protocols the list names, or
 * drop it without an answer when it names none). */
static bool subprotocol_ok(struct lws *wsi, const struct ipkvm_ws_ops *ws)
{
	char list[256];
	if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) <= 0)
		return true;
	if (!ws->subprotocol || lws_hdr_copy(wsi, list, sizeof(list), WSI_TOKEN_PROTOCOL) <= 0)
		return false;
	char *save = NULL;
	for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
		if (strcmp(t, ws->subprotocol) == 0)
			return true;
	return false;
}

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: decide on a WebSocket upgrade while its headers are
 * at hand. lws has not allocated the connection's data yet, so the refusal is built on the
 * stack. Returns 0 to allow, 1 when a refusal was written, -1 to hang up. */
static int confirm_upgrade(struct ipkvm_server *srv, struct lws *wsi)
{
	struct ipkvm_http_req req = {.srv = srv, .wsi = wsi, .method = IPKVM_GET};
	char uri[IPKVM_URL_MAX];
	ipkvm_web_peer_addr(wsi, req.addr, sizeof(req.addr));
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return -1;
	bool path_ok = ipkvm_path_ok(uri);
	ipkvm_strlcpy(req.path, path_ok ? uri : "/", sizeof(req.path));
	const struct ipkvm_route *route = path_ok ? ipkvm_route_find(uri, NULL) : NULL;
	const char *off = NULL;
	ipkvm_authsvc_refresh(srv->svc->auth, false);
	if (ipkvm_web_authenticate(srv, wsi, &req.auth, true) < 0)
		ipkvm_http_reply_error(&req, 401, "unauthorized", NULL, "log in first");
	else if (!route || !route->ws)
		ipkvm_http_reply_error(&req, 404, "not_found", NULL, "no WebSocket endpoint here");
	else if (route->ws->available && !route->ws->available(srv, &off))
		ipkvm_http_reply_error(&req, 404, "not_found", NULL, "%s", off);
	else if (!ipkvm_auth_allows(&req.auth, route->read_role))
		ipkvm_http_reply_error(&req, 403, "forbidden", NULL, "the %s role may not do this",
				       ipkvm_role_name(req.auth.role));
	else if (ipkvm_web_check_origin(wsi) < 0)
		ipkvm_http_reply_error(&req, 403, "bad_origin", NULL,
				       "the WebSocket's Origin is not this host");
	else if (!subprotocol_ok(wsi, route->ws))
		ipkvm_http_reply_error(&req, 400, "bad_request", NULL,
				       "WebSocket subprotocols this endpoint speaks: %s",
				       route->ws->subprotocol ? route->ws->subprotocol : "none");
	if (!req.ready)
		return 0;
	write_response(&req, true);
	free(req.resp);
	return 1;
}

/* The server a connection belongs to: its vhost's user (NULL for lws' context-wide calls,
 * which carry no vhost). */
static struct ipkvm_server *server_of(struct lws *wsi)
{
	struct lws_vhost *vh = wsi ? lws_get_vhost(wsi) : NULL;
	return vh ? lws_vhost_user(vh) : NULL;
}

int ipkvm_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len)
{
	struct ipkvm_pss *pss = user;
	struct ipkvm_server *srv = server_of(wsi);
	if (!srv)
		return lws_callback_http_dummy(wsi, reason, user, in, len);

	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		pss->ws = NULL;
		int r = http_request(srv, &pss->req, wsi, in);
		if (r)
			return r < 0 ? -1 : 0; /* 1: over, and pss may be gone */
		if (!pss->req.ready)
			return 0; /* a body to read, or a worker job under way */
		if (pss->req.content_length > 0 && !pss->req.body_expected && !pss->req.upload) {
			/* Answered before its body was read (401, 413, 415 …): the answer
			 * waits until the body is drained (see the top of the file), up to
			 * DRAIN_MAX for a logged-in client and max_body on a public route;
			 * a 401 or a bigger body ends the connection at once. */
			pss->req.body_refused = true;
			size_t drain = pss->req.auth.kind == IPKVM_AUTH_NONE
					   ? (size_t)srv->cfg->max_body
					   : DRAIN_MAX;
			if (pss->req.status == 401 || pss->req.content_length > drain)
				return write_response(&pss->req, true);
			pss->req.ready = false;
			return 0;
		}
		/* Answered at once: write it now; lws does not always offer WRITEABLE to a
		 * request whose body it still expects (a POST with Content-Length: 0). */
		return write_response(&pss->req, pss->req.close_after);
	}
	case LWS_CALLBACK_HTTP_BODY:
		return http_body(&pss->req, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return http_body_done(&pss->req);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss && !pss->ws && pss->req.stream)
			return ipkvm_stream_writeable(&pss->req);
		if (pss && !pss->ws && pss->req.ready)
			return write_response(&pss->req, pss->req.close_after);
		return 0;
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		if (pss->req.auth.kind == IPKVM_AUTH_NONE)
			return -1; /* no keep-alive for strangers (see write_response) */
		ipkvm_conns_idle(srv->conns, wsi);
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		/* lws does not call CLOSED_HTTP for every connection it drops (context
		 * teardown): DROP_PROTOCOL comes before it frees our data in every case. */
		if (pss && !pss->ws)
			req_reset(&pss->req);
		return 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(srv, wsi);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* The upgrade was allowed a moment ago; now there is a place to keep who it is. */
		if (ipkvm_web_authenticate(srv, wsi, &pss->ws_auth, false) < 0)
			return 1;
		ipkvm_conns_request(srv->conns, wsi, true, false);
		return 0;
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
	case LWS_CALLBACK_WSI_DESTROY:
		return conn_event(srv, wsi, reason, user);
	case LWS_CALLBACK_ESTABLISHED: {
		/* The upgrade's route (confirm_upgrade let only WebSocket routes through). */
		char uri[IPKVM_URL_MAX] = "";
		lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
		const struct ipkvm_route *route = ipkvm_route_find(uri, NULL);
		req_reset(&pss->req);
		if (!route || !route->ws)
			return -1;
		pss->ws = route->ws;
		return pss->ws->established(&pss->client, srv, wsi, &pss->ws_auth);
	}
	case LWS_CALLBACK_RECEIVE:
		return pss->ws ? pss->ws->receive(&pss->client, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss->ws ? pss->ws->writeable(&pss->client) : -1;
	case LWS_CALLBACK_CLOSED:
		if (pss->ws)
			pss->ws->closed(&pss->client);
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* lws hands over the vhost's SSL_CTX here (4.1 has no getter): keep it for
		 * certificate reloads, and hold the TLS floor at 1.2 whatever lws defaults to. */
		if (srv && user) {
			srv->ssl_ctx = user;
			SSL_CTX_set_min_proto_version(user, TLS1_2_VERSION);
			/* No close_notify of ours on shutdown: lws 4.1 otherwise keeps writing
			 * the alert to a peer that sent close_notify and left, ~3700 times a
			 * second until its timeout (a core per such client). Nothing depends
			 * on our close_notify: every response is length-delimited. */
			SSL_CTX_set_quiet_shutdown(user, 1);
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* The plain-HTTP vhost: every request is sent to the same path on HTTPS. */
int ipkvm_redirect_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			    size_t len)
{
	struct ipkvm_server *srv = server_of(wsi);
	if (!srv)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	if (reason == LWS_CALLBACK_FILTER_NETWORK_CONNECTION ||
	    reason == LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED ||
	    reason == LWS_CALLBACK_WSI_DESTROY)
		return conn_event(srv, wsi, reason, user);
	if (reason != LWS_CALLBACK_HTTP)
		return lws_callback_http_dummy(wsi, reason, user, in, len);

	char host[256] = "", args[IPKVM_URL_MAX] = "", loc[2 * IPKVM_URL_MAX + 300];
	const char *path = in;
	if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0 || host[0] == '\0')
		ipkvm_strlcpy(host, srv->hostname, sizeof(host));
	/* Drop the port: "[::1]:80" → "[::1]", "host:80" → "host". Refuse odd characters so
	 * the Location header cannot be used to inject anything. */
	char *colon = host[0] == '[' ? strchr(host, ']') : host;
	colon = colon ? strchr(colon, ':') : NULL;
	if (colon)
		*colon = '\0';
	for (const char *c = host; *c; c++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-[]:",
			    *c))
			return lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, NULL) ? -1 : 0;
	if (!path || path[0] != '/' || !ipkvm_path_ok(path))
		path = "/";
	/* The query, percent-encoded again (lws hands it over decoded, in fragments). */
	for (int i = 0; i < 32; i++) {
		char frag[512];
		int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n <= 0)
			break;
		size_t o = strlen(args);
		if (o + 3 * (size_t)n + 2 >= sizeof(args))
			break;
		args[o++] = i ? '&' : '?';
		for (int k = 0; k < n; k++) {
			unsigned char c = (unsigned char)frag[k];
			if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
				   "._~=",
				   c) &&
			    c)
				args[o++] = (char)c;
			else
				o += (size_t)sprintf(args + o, "%%%02X", c);
		}
		args[o] = '\0';
	}
	int n = snprintf(loc, sizeof(loc), "https://%s:%d%s%s", host, srv->cfg->port, path, args);
	if (n < 0 || (size_t)n >= sizeof(loc))
		return -1;
	uint8_t buf[LWS_PRE + sizeof(loc) + 512];
	uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	if (lws_add_http_common_headers(wsi, HTTP_STATUS_MOVED_PERMANENTLY, "text/plain", 0, &p,
					end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_LOCATION, (uint8_t *)loc, n, &p,
					 end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	return -1; /* one request per connection (see write_response) */
}

bool ipkvm_http_method_ok(struct ipkvm_http_req *req, unsigned allowed)
{
	/* The route table already refuses other methods; this holds when a handler is reached
	 * some other way (a body completion delivered again, a route table mistake), so a
	 * handler never does one method's work for another. */
	if (req->method & allowed)
		return true;
	allow_header(req, allowed);
	ipkvm_http_reply_error(req, 405, "method_not_allowed", NULL, "method not allowed on %s",
			       req->path);
	return false;
}
