/*
 * auth (web): who is asking, in HTTP terms. A request carries either the session cookie or
 * an API token (Authorization: Bearer); this file takes them out of the headers and asks
 * the auth service (auth/authsvc.h), which holds the users, tokens and sessions and the
 * rules on them. It also checks Origin and writes the session cookie: the parts that only
 * a web front end has.
 */
#define LOG_TAG "auth"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "web/web.h"

int ipkvm_web_authenticate(struct ipkvm_server *srv, struct lws *wsi, struct ipkvm_auth *out,
			   bool touch)
{
	char value[512];
	memset(out, 0, sizeof(*out));

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
		/* A request that names a token stands or falls by it; no cookie fallback, also
		 * not when the header is too long to be a token of ours. */
		if (lws_hdr_copy(wsi, value, sizeof(value), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
		    strncasecmp(value, "Bearer ", 7) != 0)
			return -EACCES;
		const char *tok = value + 7;
		while (*tok == ' ')
			tok++;
		return ipkvm_authsvc_token_auth(srv->svc->auth, tok, out);
	}
	size_t len = sizeof(value);
	if (lws_http_cookie_get(wsi, IPKVM_COOKIE_NAME, value, &len) == 0)
		return ipkvm_authsvc_session_auth(srv->svc->auth, value, touch, out);
	return -EACCES;
}

int ipkvm_web_check_origin(struct lws *wsi)
{
	char origin[300], host[256], want[300];
	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return 0; /* not a browser, or a same-origin GET: nothing to check */
	/* An Origin (or Host) too long to compare is refused, never taken as absent. */
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0 ||
	    lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		return -EPERM;
	/* The plain-HTTP port (loopback only) is a legitimate origin of its own. */
	snprintf(want, sizeof(want), "%s://%s", lws_is_ssl(wsi) ? "https" : "http", host);
	return strcasecmp(origin, want) == 0 ? 0 : -EPERM;
}

void ipkvm_web_cookie(const struct ipkvm_server *srv, const char *token, char *out, size_t len)
{
	snprintf(out, len, "%s=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Strict",
		 IPKVM_COOKIE_NAME, token ? token : "", token ? srv->cfg->session_lifetime : 0);
}
