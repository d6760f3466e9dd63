/*
 * fetch: image downloads with libcurl, one thread per download (see fetch.h for the
 * contract).
 *
 * Shape: the fetcher keeps a list of jobs under one mutex. A job's status (state, bytes,
 * total, error) is the only thing two threads share, and it is only touched under that
 * mutex; everything else in a job belongs to its thread while it runs (the curl handle, the
 * store session, the digest) or is fixed before the thread starts (URL, name, limits). The
 * cancel flag is an atomic the curl callbacks read, so a cancel needs no lock and no wait.
 *
 * A job's last act is to publish its final state; poll() then reports it, joins the thread
 * (which is only returning by then) and frees the job. The session is committed or aborted
 * before that, so by the time "done", "failed" or "cancelled" is seen the store already
 * reflects it.
 */
#define LOG_TAG "fetch"

#include "msd/fetch.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/util.h"

#define URL_MAX 8192

struct job {
	struct ipkvm_fetcher *f;
	struct job *next;
	char *url;
	char host[256];	 /* for the log: the URL may carry credentials or tokens */
	char sha256[65]; /* lower-case hex, "" = not checked */
	int64_t max_bytes;
	pthread_t thread;
	atomic_bool cancel;

	/* The job's thread only. */
	struct ipkvm_store_session *session;
	EVP_MD_CTX *md;
	CURL *curl;
	bool length_checked;
	int fail; /* set by a callback that stopped the transfer */
	char fail_msg[256];
	char refused[160]; /* the last address the address check refused, and why */
	int64_t bytes;
	int64_t total; /* Content-Length once known, else -1 */
	int64_t last_wake_ms;
	bool unwoken; /* progress published but no wake sent yet */

	/* Under f->lock. */
	struct ipkvm_fetch_status st;
	bool dirty;
};

struct ipkvm_fetcher {
	struct ipkvm_fetch_config cfg;
	char *ca_file, *user_agent;
	struct ipkvm_store *store;
	void (*wake)(void *ctx);
	void *ctx;
	ipkvm_fetch_address_fn check; /* NULL: no check (cfg.allow_private) */
	pthread_mutex_t lock;
	struct job *jobs; /* oldest first */
	uint64_t next_id;
	/* Under lock: the last downloads poll forgot, for ipkvm_fetch_get; a ring. */
	struct ipkvm_fetch_status recent[IPKVM_FETCH_RECENT];
	size_t nrecent, recent_next;
};

void ipkvm_fetch_config_defaults(struct ipkvm_fetch_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_active = 2;
	cfg->connect_timeout_s = 30;
	cfg->low_speed_bytes = 1024;
	cfg->low_speed_time_s = 60;
	cfg->max_redirects = 5;
	cfg->max_bytes = INT64_C(64) << 30;
	cfg->progress_interval_ms = 500;
	cfg->ca_file = NULL;
	cfg->user_agent = "ipkvm";
	cfg->allow_private = false;
}

const char *ipkvm_fetch_state_name(enum ipkvm_fetch_state state)
{
	switch (state) {
	case IPKVM_FETCH_RUNNING:
		return "running";
	case IPKVM_FETCH_DONE:
		return "done";
	case IPKVM_FETCH_FAILED:
		return "failed";
	case IPKVM_FETCH_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

/* Each kind of failure: its word for programs and its phrase for everyone. */
static const struct {
	int error;
	const char *code, *phrase; /* phrase NULL: the message ("HTTP 404") says it */
} failures[] = {
    {-EPROTO, "http", NULL},
    {-EFBIG, "too_large", "the download is larger than the size limit"},
    {-ENOSPC, "no_space", "not enough space in the image store"},
    {-EDQUOT, "no_space", "not enough space in the image store"},
    {-EBADMSG, "sha256", "sha256 mismatch"},
    {-EPROTONOSUPPORT, "bad_redirect", "redirected to a URL that is not http or https"},
    {-ELOOP, "redirects", "too many redirects"},
    {-EACCES, "private", "the server's address is on this machine's own network: refused"},
    {-EPERM, "tls", "TLS verification failed"},
    {-EMSGSIZE, "short", "the server sent fewer bytes than it announced"},
    {-EBUSY, "attached", "the image is attached to a drive"},
    {-EEXIST, "exists", "an image of that name exists"},
    {-ENOMEM, "memory", "out of memory"},
};

const char *ipkvm_fetch_error_code(int error)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(failures); i++)
		if (failures[i].error == error)
			return failures[i].code;
	return "transfer"; /* connection refused, timed out, name not found, cut off, ... */
}

json_t *ipkvm_fetch_status_json(const struct ipkvm_fetch_status *st, bool detail)
{
	json_t *o =
	    json_pack("{s:I, s:s, s:s, s:I, s:o}", "id", (json_int_t)st->id, "name", st->name,
		      "state", ipkvm_fetch_state_name(st->state), "bytes", (json_int_t)st->bytes,
		      "total", st->total >= 0 ? json_integer(st->total) : json_null());
	if (o && st->state == IPKVM_FETCH_FAILED) {
		json_object_set_new(o, "error", json_string(st->reason));
		json_object_set_new(o, "error_code",
				    json_string(ipkvm_fetch_error_code(st->error)));
		if (detail)
			json_object_set_new(o, "detail", json_string(st->message));
	}
	if (o && detail && st->state == IPKVM_FETCH_CANCELLED)
		json_object_set_new(o, "cancelled_by", json_string(st->cancelled_by));
	return o;
}

/* ---- the address check ---- */

/* What an IPv4 address (host byte order) is, when it is this machine's own network. */
static const char *v4_kind(uint32_t a)
{
	static const struct {
		uint32_t net, mask;
		const char *kind;
	} nets[] = {
	    {0x00000000, 0xff000000, "an unspecified (\"this network\")"},
	    {0x7f000000, 0xff000000, "a loopback"},
	    {0x0a000000, 0xff000000, "a private (RFC 1918)"},
	    {0xac100000, 0xfff00000, "a private (RFC 1918)"},
	    {0xc0a80000, 0xffff0000, "a private (RFC 1918)"},
	    {0x64400000, 0xffc00000, "a shared (CGNAT, RFC 6598)"},
	    {0xa9fe0000, 0xffff0000, "a link-local"},
	    {0xe0000000, 0xf0000000, "a multicast"},
	    {0xf0000000, 0xf0000000, "a reserved or broadcast"},
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(nets); i++)
		if ((a & nets[i].mask) == nets[i].net)
			return nets[i].kind;
	return NULL;
}

/* Whether the address is one of this machine's interfaces' (v4 in host byte order, or v6). */
static bool own_address(const uint32_t *v4, const struct in6_addr *v6)
{
	struct ifaddrs *ifs, *i;
	bool own = false;
	/* Unreadable: nothing is known to be ours; the kinds above still apply. */
	if (getifaddrs(&ifs) < 0)
		return false;
	for (i = ifs; i && !own; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (v4 && i->ifa_addr->sa_family == AF_INET)
			own = ntohl(((const struct sockaddr_in *)(const void *)i->ifa_addr)
					->sin_addr.s_addr) == *v4;
		else if (v6 && i->ifa_addr->sa_family == AF_INET6)
			own = memcmp(&((const struct sockaddr_in6 *)(const void *)i->ifa_addr)
					  ->sin6_addr,
				     v6, sizeof(*v6)) == 0;
	}
	freeifaddrs(ifs);
	return own;
}

static int refuse(char *why, size_t whylen, const char *text, const char *kind)
{
	if (why)
		snprintf(why, whylen, "%s is %s address", text, kind);
	return -EACCES;
}

int ipkvm_fetch_address_check(const struct sockaddr *sa, unsigned salen, char *why, size_t whylen)
{
	char text[INET6_ADDRSTRLEN] = "?";
	if (why && whylen)
		why[0] = '\0';
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sa;
		uint32_t a = ntohl(in->sin_addr.s_addr);
		const char *kind = v4_kind(a);
		inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
		if (kind)
			return refuse(why, whylen, text, kind);
		if (own_address(&a, NULL))
			return refuse(why, whylen, text, "this machine's own");
		return 0;
	}
	if (sa->sa_family != AF_INET6 || salen < sizeof(struct sockaddr_in6)) {
		if (why)
			snprintf(why, whylen, "address family %d is not IPv4 or IPv6",
				 (int)sa->sa_family);
		return -EACCES;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	const uint8_t *b = a6->s6_addr;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t compat[12] = {0};
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
	inet_ntop(AF_INET6, a6, text, sizeof(text));
	if (IN6_IS_ADDR_UNSPECIFIED(a6))
		return refuse(why, whylen, text, "an unspecified");
	if (IN6_IS_ADDR_LOOPBACK(a6))
		return refuse(why, whylen, text, "a loopback");
	/* An IPv4 address carried in IPv6 reaches that IPv4 address (here, or from a NAT64
	 * gateway's network), so it is judged as one. */
	if (!memcmp(b, mapped, 12) || !memcmp(b, compat, 12) || !memcmp(b, nat64, 12)) {
		uint32_t a =
		    (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
		const char *kind = v4_kind(a);
		if (kind)
			return refuse(why, whylen, text, kind);
		if (own_address(&a, NULL))
			return refuse(why, whylen, text, "this machine's own");
	}
	if ((b[0] & 0xfe) == 0xfc)
		return refuse(why, whylen, text, "a unique local (fc00::/7)");
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return refuse(why, whylen, text, "a link-local");
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return refuse(why, whylen, text, "a site-local");
	if (b[0] == 0xff)
		return refuse(why, whylen, text, "a multicast");
	if (own_address(NULL, a6))
		return refuse(why, whylen, text, "this machine's own");
	return 0;
}

void ipkvm_fetch_set_address_check(struct ipkvm_fetcher *f, ipkvm_fetch_address_fn fn)
{
	if (!f->cfg.allow_private)
		f->check = fn ? fn : ipkvm_fetch_address_check;
}

/* ---- create / destroy ---- */

struct ipkvm_fetcher *ipkvm_fetch_create(const struct ipkvm_fetch_config *cfg,
					 struct ipkvm_store *store, void (*wake)(void *ctx),
					 void *ctx)
{
	struct ipkvm_fetch_config def;
	if (!cfg) {
		ipkvm_fetch_config_defaults(&def);
		cfg = &def;
	}
	if (cfg->max_active < 1 || cfg->max_active > 16 || cfg->connect_timeout_s < 1 ||
	    cfg->low_speed_bytes < 0 || cfg->low_speed_time_s < 0 || cfg->max_redirects < 0 ||
	    cfg->max_bytes < 1 || cfg->progress_interval_ms < 0) {
		LOG_ERROR("invalid download settings");
		return NULL;
	}
	struct ipkvm_fetcher *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cfg = *cfg;
	f->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
	f->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "ipkvm");
	if ((cfg->ca_file && !f->ca_file) || !f->user_agent)
		goto err;
	f->cfg.ca_file = f->ca_file;
	f->cfg.user_agent = f->user_agent;
	f->store = store;
	f->wake = wake;
	f->ctx = ctx;
	f->next_id = 1;
	f->check = cfg->allow_private ? NULL : ipkvm_fetch_address_check;
	/* Not thread-safe in libcurl 7.88, so here, before any fetch thread exists. curl
	 * counts the calls; destroy balances this one. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		LOG_ERROR("curl_global_init failed");
		goto err;
	}
	pthread_mutex_init(&f->lock, NULL);
	return f;
err:
	free(f->ca_file);
	free(f->user_agent);
	free(f);
	return NULL;
}

static void free_job(struct job *j)
{
	free(j->url);
	free(j);
}

void ipkvm_fetch_destroy(struct ipkvm_fetcher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	for (struct job *j = f->jobs; j; j = j->next)
		atomic_store(&j->cancel, true);
	pthread_mutex_unlock(&f->lock);
	/* The threads take the lock to publish, so they are joined without it. */
	while (f->jobs) {
		struct job *j = f->jobs;
		f->jobs = j->next;
		pthread_join(j->thread, NULL);
		free_job(j);
	}
	pthread_mutex_destroy(&f->lock);
	curl_global_cleanup();
	free(f->ca_file);
	free(f->user_agent);
	free(f);
}

/* ---- status publishing (fetch thread) ---- */

static void wake_main(struct job *j)
{
	j->last_wake_ms = ipkvm_mono_ms();
	j->unwoken = false;
	if (j->f->wake)
		j->f->wake(j->f->ctx);
}

/* Progress: the bytes are always current for poll and list, the wake is rate-limited. */
static void publish_progress(struct job *j, int64_t total)
{
	struct ipkvm_fetcher *f = j->f;
	pthread_mutex_lock(&f->lock);
	j->st.bytes = j->bytes;
	if (total >= 0)
		j->st.total = total;
	j->dirty = true;
	pthread_mutex_unlock(&f->lock);
	j->unwoken = true;
	if (ipkvm_mono_ms() - j->last_wake_ms >= f->cfg.progress_interval_ms)
		wake_main(j);
}

/* The phrase every event-socket client may see for a failure. Never curl's own text: that
 * tells a refused port from a filtered one and an unknown name from a known one, which
 * would make the download a scanner of whatever the device can reach. */
static const char *reason_for(int error, const char *msg)
{
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(failures); i++)
		if (failures[i].error == error)
			/* our own "HTTP 404": what the server answered, nothing about ports */
			return failures[i].phrase ? failures[i].phrase : msg;
	return "the transfer failed";
}

static void publish_final(struct job *j, enum ipkvm_fetch_state state, int error, const char *msg)
{
	struct ipkvm_fetcher *f = j->f;
	pthread_mutex_lock(&f->lock);
	j->st.bytes = j->bytes;
	if (j->total >= 0)
		j->st.total = j->total;
	j->st.state = state;
	j->st.error = error;
	ipkvm_strlcpy(j->st.message, msg ? msg : "", sizeof(j->st.message));
	ipkvm_strlcpy(j->st.reason,
		      state == IPKVM_FETCH_FAILED ? reason_for(error, j->st.message) : "",
		      sizeof(j->st.reason));
	j->dirty = true;
	pthread_mutex_unlock(&f->lock);
	/* j may be freed by poll from here on: only f is used. */
	if (f->wake)
		f->wake(f->ctx);
}

/* ---- curl callbacks (fetch thread) ---- */

static size_t fail_transfer(struct job *j, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static size_t fail_transfer(struct job *j, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->fail_msg, sizeof(j->fail_msg), fmt, ap);
	va_end(ap);
	j->fail = err;
	return 0; /* to curl: a short write, the transfer stops with CURLE_WRITE_ERROR */
}

/* The first body bytes: the response that will be stored is known now (redirects and error
 * statuses never reach the write callback), so its Content-Length is checked against the
 * limit and the free space before anything is written. */
static size_t check_length(struct job *j)
{
	curl_off_t cl = -1;
	char err[256];
	j->length_checked = true;
	if (curl_easy_getinfo(j->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK ||
	    cl < 0)
		return 1;
	if (cl > j->max_bytes)
		return fail_transfer(j, -EFBIG, "download is larger than the limit of %lld bytes",
				     (long long)j->max_bytes);
	int r = ipkvm_store_expect(j->session, cl, err, sizeof(err));
	if (r < 0)
		return fail_transfer(j, r, "%s", err);
	j->total = cl;
	publish_progress(j, cl);
	return 1;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	struct job *j = ud;
	size_t len = size * nmemb;
	if (atomic_load(&j->cancel))
		return 0;
	if (!j->length_checked && check_length(j) == 0)
		return 0;
	if ((uint64_t)len > (uint64_t)(j->max_bytes - j->bytes))
		return fail_transfer(j, -EFBIG, "download is larger than the limit of %lld bytes",
				     (long long)j->max_bytes);
	int r = ipkvm_store_write(j->session, data, len);
	if (r < 0)
		return fail_transfer(j, r, "cannot write %s: %s", j->st.name, strerror(-r));
	if (j->md && EVP_DigestUpdate(j->md, data, len) != 1)
		return fail_transfer(j, -ENOMEM, "sha256 computation failed");
	j->bytes += (int64_t)len;
	publish_progress(j, -1);
	return len;
}

/* Called by curl at least once a second even when no data flows, so a cancel is seen
 * promptly on a stalled server; non-zero stops the transfer. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct job *j = ud;
	if (atomic_load(&j->cancel))
		return 1;
	if (j->unwoken && ipkvm_mono_ms() - j->last_wake_ms >= j->f->cfg.progress_interval_ms)
		wake_main(j);
	return 0;
}

/* Every connection, the first and each redirect's, after the name was resolved: the address
 * check sees the address curl is about to connect to, so neither a name that resolves to
 * this machine's network (DNS rebinding included) nor a redirect there gets through. A
 * refused address fails only that attempt: curl goes on to the host's next address, if any,
 * and the refusal explains the failure when none was left. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct job *j = ud;
	char why[128];
	(void)purpose;
	if (j->f->check && j->f->check(&a->addr, a->addrlen, why, sizeof(why)) < 0) {
		snprintf(j->refused, sizeof(j->refused), "%s", why);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- the transfer (fetch thread) ---- */

static int setup_handle(struct job *j, char *errbuf)
{
	const struct ipkvm_fetch_config *cfg = &j->f->cfg;
	CURL *c = j->curl;
	CURLcode e = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (e == CURLE_OK)                                                                 \
			e = curl_easy_setopt(c, opt, val);                                         \
	} while (0)
	SET(CURLOPT_URL, j->url);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	/* Threads: no SIGALRM-based DNS timeouts. */
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)cfg->max_redirects);
	/* The defaults, stated: this is the point of the feature. */
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->ca_file)
		SET(CURLOPT_CAINFO, cfg->ca_file);
	SET(CURLOPT_FAILONERROR, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, (long)cfg->connect_timeout_s);
	SET(CURLOPT_LOW_SPEED_LIMIT, (long)cfg->low_speed_bytes);
	SET(CURLOPT_LOW_SPEED_TIME, (long)cfg->low_speed_time_s);
	/* curl refuses a Content-Length over this before the body starts. */
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)j->max_bytes);
	SET(CURLOPT_USERAGENT, cfg->user_agent);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	/* Larger reads mean fewer writes into the store; 128 KiB per download is cheap. */
	SET(CURLOPT_BUFFERSIZE, 128L * 1024);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, j);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, j);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SET(CURLOPT_OPENSOCKETDATA, j);
#undef SET
	return e == CURLE_OK ? 0 : -EINVAL;
}

static int curl_errno(CURLcode e)
{
	switch (e) {
	case CURLE_HTTP_RETURNED_ERROR:
		return -EPROTO;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPERM;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTONOSUPPORT;
	case CURLE_PARTIAL_FILE:
		return -EMSGSIZE;
	case CURLE_TOO_MANY_REDIRECTS:
		return -ELOOP;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* What the transfer came to, when curl said it failed. */
static int transfer_error(struct job *j, CURLcode e, const char *errbuf, char *msg, size_t msglen)
{
	if (j->fail) {
		ipkvm_strlcpy(msg, j->fail_msg, msglen);
		return j->fail;
	}
	if (e == CURLE_COULDNT_CONNECT && j->refused[0]) {
		ipkvm_errf(msg, msglen,
			   "refused to connect: %s: downloads from this machine's own network are "
			   "off ([msd] fetch_allow_private)",
			   j->refused);
		return -EACCES;
	}
	if (e == CURLE_HTTP_RETURNED_ERROR) {
		long code = 0;
		curl_easy_getinfo(j->curl, CURLINFO_RESPONSE_CODE, &code);
		snprintf(msg, msglen, "HTTP %ld", code);
	} else if (e == CURLE_FILESIZE_EXCEEDED) {
		snprintf(msg, msglen, "download is larger than the limit of %lld bytes",
			 (long long)j->max_bytes);
	} else {
		ipkvm_strlcpy(msg, errbuf[0] ? errbuf : curl_easy_strerror(e), msglen);
	}
	return curl_errno(e);
}

static int verify_sha256(struct job *j, char *msg, size_t msglen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char got[2 * EVP_MAX_MD_SIZE + 1];
	if (EVP_DigestFinal_ex(j->md, md, &mdlen) != 1 || mdlen != 32) {
		ipkvm_strlcpy(msg, "sha256 computation failed", msglen);
		return -ENOMEM;
	}
	ipkvm_hex_encode(md, mdlen, got);
	if (strcmp(got, j->sha256) != 0) {
		snprintf(msg, msglen, "sha256 mismatch: expected %s got %s", j->sha256, got);
		return -EBADMSG;
	}
	return 0;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	char errbuf[CURL_ERROR_SIZE] = "", msg[256] = "";
	enum ipkvm_fetch_state state = IPKVM_FETCH_FAILED;
	int r = 0;
	j->last_wake_ms = ipkvm_mono_ms();
	j->curl = curl_easy_init();
	if (!j->curl) {
		r = -ENOMEM;
		ipkvm_strlcpy(msg, "cannot create a curl handle", sizeof(msg));
		goto end;
	}
	r = setup_handle(j, errbuf);
	if (r < 0) {
		ipkvm_strlcpy(msg, "cannot set up the transfer", sizeof(msg));
		goto end;
	}
	CURLcode e = curl_easy_perform(j->curl);
	curl_off_t cl = -1;
	/* An empty body never reached on_data: its length comes from here. */
	if (e == CURLE_OK &&
	    curl_easy_getinfo(j->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
	    cl >= 0)
		j->total = cl;
	if (atomic_load(&j->cancel)) {
		state = IPKVM_FETCH_CANCELLED;
		goto end;
	}
	if (e != CURLE_OK) {
		r = transfer_error(j, e, errbuf, msg, sizeof(msg));
		goto end;
	}
	if (j->sha256[0]) {
		r = verify_sha256(j, msg, sizeof(msg));
		if (r < 0)
			goto end;
	}
	/* A last look: a cancel that came after the last byte still wins over commit. */
	if (atomic_load(&j->cancel)) {
		state = IPKVM_FETCH_CANCELLED;
		goto end;
	}
	r = ipkvm_store_commit(j->session, msg, sizeof(msg));
	j->session = NULL;
	if (r == 0)
		state = IPKVM_FETCH_DONE;
end:
	ipkvm_store_abort(j->session);
	j->session = NULL;
	if (j->curl)
		curl_easy_cleanup(j->curl);
	j->curl = NULL;
	EVP_MD_CTX_free(j->md);
	j->md = NULL;
	if (state == IPKVM_FETCH_DONE)
		LOG_INFO("download %llu: %s from %s done, %lld bytes", (unsigned long long)j->st.id,
			 j->st.name, j->host, (long long)j->bytes);
	else if (state == IPKVM_FETCH_CANCELLED)
		LOG_INFO("download %llu: %s cancelled", (unsigned long long)j->st.id, j->st.name);
	else
		LOG_WARN("download %llu: %s from %s failed: %s", (unsigned long long)j->st.id,
			 j->st.name, j->host, msg);
	publish_final(j, state, state == IPKVM_FETCH_FAILED ? (r < 0 ? r : -EIO) : 0,
		      state == IPKVM_FETCH_FAILED ? msg : "");
	return NULL;
}

/* ---- start / cancel (main thread) ---- */

/* Accepts only absolute http and https URLs; host (for logs) is set on success. */
static int check_url(const char *url, char *host, size_t hostlen, char *err, size_t errlen)
{
	int r = -EINVAL;
	char *scheme = NULL, *h = NULL;
	if (!url || strlen(url) > URL_MAX) {
		ipkvm_errf(err, errlen, "invalid url");
		return -EINVAL;
	}
	CURLU *u = curl_url();
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		ipkvm_errf(err, errlen, "invalid url");
		goto out;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		ipkvm_errf(err, errlen, "url must start with http:// or https://");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK) {
		ipkvm_errf(err, errlen, "url has no host");
		goto out;
	}
	ipkvm_strlcpy(host, h, hostlen);
	r = 0;
out:
	curl_free(scheme);
	curl_free(h);
	curl_url_cleanup(u);
	return r;
}

/* A URL whose host is a literal address is judged at once, so the requester hears "refused"
 * from the POST itself; names are judged at connect time (open_socket). */
static int check_literal(struct ipkvm_fetcher *f, const char *host, char *err, size_t errlen)
{
	char h[256], why[128];
	size_t n = strlen(host);
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	int r = 0;
	if (!f->check)
		return 0;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		snprintf(h, sizeof(h), "%.*s", (int)(n - 2), host + 1);
	else
		ipkvm_strlcpy(h, host, sizeof(h));
	if (inet_pton(AF_INET, h, &in.sin_addr) == 1)
		r = f->check((const struct sockaddr *)&in, sizeof(in), why, sizeof(why));
	else if (inet_pton(AF_INET6, h, &in6.sin6_addr) == 1)
		r = f->check((const struct sockaddr *)&in6, sizeof(in6), why, sizeof(why));
	if (r < 0)
		ipkvm_errf(err, errlen,
			   "url: %s: downloads from this machine's own network are off ([msd] "
			   "fetch_allow_private)",
			   why);
	return r;
}

static int check_sha256(const char *in, char *out, char *err, size_t errlen)
{
	out[0] = '\0';
	if (!in)
		return 0;
	size_t len = strlen(in);
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)in[i]) || i >= 64)
			goto bad;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	if (len != 64)
		goto bad;
	out[64] = '\0';
	return 0;
bad:
	out[0] = '\0';
	ipkvm_errf(err, errlen, "sha256 must be 64 hex digits");
	return -EINVAL;
}

static int count_running_locked(struct ipkvm_fetcher *f)
{
	int n = 0;
	for (struct job *j = f->jobs; j; j = j->next)
		n += j->st.state == IPKVM_FETCH_RUNNING;
	return n;
}

int ipkvm_fetch_start(struct ipkvm_fetcher *f, const struct ipkvm_fetch_request *req, uint64_t *id,
		      char *err, size_t errlen)
{
	int r;
	int flags = req->replace ? IPKVM_STORE_REPLACE : 0;
	struct job *j = calloc(1, sizeof(*j));
	ipkvm_errf(err, errlen, "%s", "");
	if (!j) {
		ipkvm_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	j->f = f;
	j->total = -1;
	atomic_init(&j->cancel, false);
	r = check_url(req->url, j->host, sizeof(j->host), err, errlen);
	if (r == 0)
		r = check_literal(f, j->host, err, errlen);
	if (r < 0)
		goto err;
	r = check_sha256(req->sha256, j->sha256, err, errlen);
	if (r < 0)
		goto err;
	j->url = strdup(req->url);
	if (!j->url) {
		r = -ENOMEM;
		goto err;
	}
	j->max_bytes = req->max_bytes > 0 && req->max_bytes < f->cfg.max_bytes ? req->max_bytes
									       : f->cfg.max_bytes;
	if (j->sha256[0]) {
		j->md = EVP_MD_CTX_new();
		if (!j->md || EVP_DigestInit_ex(j->md, EVP_sha256(), NULL) != 1) {
			r = -ENOMEM;
			ipkvm_errf(err, errlen, "sha256 unavailable");
			goto err;
		}
	}

	pthread_mutex_lock(&f->lock);
	if (count_running_locked(f) >= f->cfg.max_active) {
		pthread_mutex_unlock(&f->lock);
		r = -EAGAIN;
		ipkvm_errf(err, errlen, "%d downloads are already running", f->cfg.max_active);
		goto err;
	}
	pthread_mutex_unlock(&f->lock);
	/* The session answers -EINVAL (name), -EEXIST and -EBUSY now, not as a later event. */
	r = ipkvm_store_begin(f->store, req->name, -1, flags, &j->session, err, errlen);
	if (r < 0)
		goto err;
	ipkvm_strlcpy(j->st.name, req->name, sizeof(j->st.name));
	ipkvm_strlcpy(j->st.owner, req->owner ? req->owner : "", sizeof(j->st.owner));
	j->st.state = IPKVM_FETCH_RUNNING;
	j->st.total = -1;
	j->dirty = true; /* the first poll announces it */

	/* The thread gets every signal blocked: the daemon takes its signals through a
	 * signalfd on the main thread, and a blocked SIGPIPE turns a write to a closed
	 * socket into EPIPE instead of killing the process. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_mutex_lock(&f->lock);
	j->st.id = f->next_id++;
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&j->thread, NULL, job_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pthread_mutex_unlock(&f->lock);
		ipkvm_errf(err, errlen, "cannot start a thread: %s", strerror(-r));
		goto err;
	}
	struct job **pp = &f->jobs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = j;
	*id = j->st.id;
	pthread_mutex_unlock(&f->lock);
	LOG_INFO("download %llu: %s from %s", (unsigned long long)*id, req->name, j->host);
	return 0;
err:
	ipkvm_store_abort(j->session);
	EVP_MD_CTX_free(j->md);
	free_job(j);
	return r;
}

int ipkvm_fetch_cancel(struct ipkvm_fetcher *f, uint64_t id, const char *by)
{
	int r = -ENOENT;
	pthread_mutex_lock(&f->lock);
	for (struct job *j = f->jobs; j; j = j->next) {
		if (j->st.id == id && j->st.state == IPKVM_FETCH_RUNNING) {
			/* The first to ask is the one who cancelled it. */
			if (!atomic_exchange(&j->cancel, true))
				ipkvm_strlcpy(j->st.cancelled_by, by ? by : "",
					      sizeof(j->st.cancelled_by));
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* ---- poll / list (main thread) ---- */

size_t ipkvm_fetch_poll(struct ipkvm_fetcher *f, struct ipkvm_fetch_status *out, size_t max)
{
	struct job *finished = NULL, **ftail = &finished;
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	for (struct job **pp = &f->jobs; *pp && n < max;) {
		struct job *j = *pp;
		if (!j->dirty) {
			pp = &j->next;
			continue;
		}
		out[n++] = j->st;
		j->dirty = false;
		if (j->st.state == IPKVM_FETCH_RUNNING) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		j->next = NULL;
		*ftail = j;
		ftail = &j->next;
		f->recent[f->recent_next] = j->st;
		f->recent_next = (f->recent_next + 1) % IPKVM_FETCH_RECENT;
		if (f->nrecent < IPKVM_FETCH_RECENT)
			f->nrecent++;
	}
	pthread_mutex_unlock(&f->lock);
	/* Their final state is the last thing they publish: the join is only waiting for
	 * the function to return. */
	while (finished) {
		struct job *j = finished;
		finished = j->next;
		pthread_join(j->thread, NULL);
		free_job(j);
	}
	return n;
}

int ipkvm_fetch_get(struct ipkvm_fetcher *f, uint64_t id, struct ipkvm_fetch_status *out)
{
	int r = -ENOENT;
	pthread_mutex_lock(&f->lock);
	for (struct job *j = f->jobs; j && r < 0; j = j->next)
		if (j->st.id == id)
			*out = j->st, r = 0;
	for (size_t i = 0; i < f->nrecent && r < 0; i++)
		if (f->recent[i].id == id)
			*out = f->recent[i], r = 0;
	pthread_mutex_unlock(&f->lock);
	return r;
}

size_t ipkvm_fetch_list(struct ipkvm_fetcher *f, struct ipkvm_fetch_status *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	for (struct job *j = f->jobs; j && n < max; j = j->next)
		out[n++] = j->st;
	pthread_mutex_unlock(&f->lock);
	return n;
}
