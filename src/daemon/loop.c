/*
 * loop: the loop adapter over the libwebsockets event loop (see loop.h for what it offers
 * and why it owns the lws context).
 *
 * How each piece sits on lws 4.1:
 *   - A watched fd is a dup of the caller's fd, adopted as an lws "raw file" on the loop's
 *     private vhost (lws closes what it adopted; the dup keeps the caller's fd its own).
 *     lws always polls a raw file for input: READ off is rx flow control. WRITE asks lws for
 *     one writable callback; lws clears POLLOUT after that callback, so a watch that still
 *     wants WRITE re-arms from a zero-delay timer, which runs before the next poll.
 *     Ending a watch detaches it at once and lets lws close the dup on its next pass.
 *   - A timer is an lws sorted-usec-list entry; a periodic one re-schedules itself before
 *     its callback runs (the callback may stop it).
 *   - A wake is an atomic flag. ipkvm_loop_wake() sets it and, when it was clear, calls
 *     lws_cancel_service() (a write to lws' own pipe: safe from any thread). The loop's
 *     vhost protocol gets LWS_CALLBACK_EVENT_WAIT_CANCELLED and calls the consumers whose
 *     flag it clears, and only those.
 * lws' own log lines go through core/log here too, rate-limited.
 */
#define LOG_TAG "loop"
#include "daemon/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

struct ipkvm_loop_watch {
	struct ipkvm_loop *loop;
	struct lws *wsi; /* NULL once lws closed it */
	int fd;		 /* the caller's */
	unsigned events;
	ipkvm_loop_fd_fn fn;
	void *ctx;
	lws_sorted_usec_list_t rearm; /* WRITE again after a writable callback */
	struct ipkvm_loop_watch *next;
};

struct ipkvm_loop_timer {
	struct ipkvm_loop *loop;
	lws_sorted_usec_list_t sul;
	int64_t period_ms;
	void (*fn)(void *ctx);
	void *ctx;
	struct ipkvm_loop_timer *next;
};

struct ipkvm_loop_wake {
	struct ipkvm_loop *loop;
	atomic_bool pending;
	void (*fn)(void *ctx);
	void *ctx;
	struct ipkvm_loop_wake *next;
};

struct ipkvm_loop {
	struct lws_context *ctx;
	struct lws_vhost *vhost; /* private, listens on nothing: watched fds, wakes */
	atomic_bool stop;
	atomic_bool alive; /* the context exists: wakes may cancel its service */
	uint64_t passes;
	struct ipkvm_loop_watch *watches;
	struct ipkvm_loop_timer *timers;
	struct ipkvm_loop_wake *wakes;
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

static void run_wakes(struct ipkvm_loop *l)
{
	struct ipkvm_loop_wake *next;
	for (struct ipkvm_loop_wake *w = l->wakes; w; w = next) {
		next = w->next;
		if (atomic_exchange(&w->pending, false))
			w->fn(w->ctx);
	}
}

static void rearm(lws_sorted_usec_list_t *sul)
{
	struct ipkvm_loop_watch *w = lws_container_of(sul, struct ipkvm_loop_watch, rearm);
	if (w->wsi && (w->events & IPKVM_LOOP_WRITE))
		lws_callback_on_writable(w->wsi);
}

static int loop_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	struct lws_vhost *vh = wsi ? lws_get_vhost(wsi) : NULL;
	struct ipkvm_loop *l = vh ? lws_vhost_user(vh) : NULL;
	struct ipkvm_loop_watch *w;
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (l)
			run_wakes(l);
		return 0;
	case LWS_CALLBACK_RAW_RX_FILE:
		w = lws_get_opaque_user_data(wsi);
		if (w && (w->events & IPKVM_LOOP_READ))
			w->fn(w->ctx, w->fd, IPKVM_LOOP_READ);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		w = lws_get_opaque_user_data(wsi);
		if (!w || !(w->events & IPKVM_LOOP_WRITE))
			return 0;
		w->fn(w->ctx, w->fd, IPKVM_LOOP_WRITE);
		/* The callback may have ended the watch: look again. */
		w = lws_get_opaque_user_data(wsi);
		if (w && (w->events & IPKVM_LOOP_WRITE) && w->loop->ctx)
			lws_sul_schedule(w->loop->ctx, 0, &w->rearm, rearm, 0);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		w = lws_get_opaque_user_data(wsi);
		if (w) {
			/* lws closed it on its own (a hang-up): the owner reads the error. */
			w->wsi = NULL;
			lws_sul_cancel(&w->rearm);
			lws_set_opaque_user_data(wsi, NULL);
			if (!atomic_load(&w->loop->stop) && atomic_load(&w->loop->alive))
				w->fn(w->ctx, w->fd, IPKVM_LOOP_READ);
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols loop_protocols[] = {
    {"ipkvm-loop", loop_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Raises the open-files limit towards want (up to the hard limit). */
static void raise_fd_limit(unsigned want)
{
	struct rlimit rl;
	if (!want || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl); /* the front ends check what they got */
	}
}

struct ipkvm_loop *ipkvm_loop_create(const struct ipkvm_loop_config *cfg)
{
	struct ipkvm_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	lws_set_log_level(getenv("IPKVM_LWS_DEBUG") ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO
						    : LLL_ERR | LLL_WARN,
			  lws_log_emit);
	raise_fd_limit(cfg ? cfg->max_fds : 0);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.max_http_header_data =
	    cfg && cfg->max_http_header_data ? (unsigned short)cfg->max_http_header_data : 8192;
	info.timeout_secs = cfg ? cfg->timeout_secs : 0;
	l->ctx = lws_create_context(&info);
	if (!l->ctx) {
		LOG_ERROR("cannot create the event loop");
		free(l);
		return NULL;
	}
	atomic_store(&l->alive, true);
	struct lws_context_creation_info vinfo;
	memset(&vinfo, 0, sizeof(vinfo));
	vinfo.vhost_name = "loop";
	vinfo.port = CONTEXT_PORT_NO_LISTEN;
	vinfo.protocols = loop_protocols;
	vinfo.user = l;
	l->vhost = lws_create_vhost(l->ctx, &vinfo);
	if (!l->vhost) {
		LOG_ERROR("cannot create the event loop's vhost");
		ipkvm_loop_destroy(l);
		return NULL;
	}
	return l;
}

struct lws_context *ipkvm_loop_lws(struct ipkvm_loop *l)
{
	return l->ctx;
}

int ipkvm_loop_run(struct ipkvm_loop *l)
{
	uint64_t first = l->passes;
	int64_t started = ipkvm_mono_ms();
	int r = 0;
	while (!atomic_load(&l->stop) && l->ctx) {
		l->passes++;
		if (lws_service(l->ctx, 0) < 0) {
			r = 1;
			break;
		}
	}
	/* The wake-up figure (docs/performance.md): an idle daemon wakes at most once a
	 * second. */
	int64_t ms = ipkvm_mono_ms() - started;
	LOG_INFO("%llu wake-ups in %lld.%03lld s", (unsigned long long)(l->passes - first),
		 (long long)ms / 1000, (long long)ms % 1000);
	return r;
}

void ipkvm_loop_stop(struct ipkvm_loop *l)
{
	atomic_store(&l->stop, true);
	if (atomic_load(&l->alive))
		lws_cancel_service(l->ctx);
}

uint64_t ipkvm_loop_passes(const struct ipkvm_loop *l)
{
	return l->passes;
}

void ipkvm_loop_shutdown(struct ipkvm_loop *l)
{
	if (!l || !l->ctx)
		return;
	atomic_store(&l->stop, true);
	for (struct ipkvm_loop_timer *t = l->timers; t; t = t->next)
		lws_sul_cancel(&t->sul);
	for (struct ipkvm_loop_watch *w = l->watches; w; w = w->next)
		lws_sul_cancel(&w->rearm);
	atomic_store(&l->alive, false);
	lws_context_destroy(l->ctx); /* closes the watched dups: their wsi become NULL */
	l->ctx = NULL;
	l->vhost = NULL;
}

void ipkvm_loop_destroy(struct ipkvm_loop *l)
{
	if (!l)
		return;
	ipkvm_loop_shutdown(l);
	while (l->watches)
		ipkvm_loop_unwatch(l->watches);
	while (l->timers)
		ipkvm_loop_timer_free(l->timers);
	while (l->wakes)
		ipkvm_loop_wake_free(l->wakes);
	free(l);
}

/* ---- fd watches ---------------------------------------------------------------------- */

static void apply_events(struct ipkvm_loop_watch *w, unsigned old)
{
	if (!w->wsi)
		return;
	if ((w->events ^ old) & IPKVM_LOOP_READ)
		lws_rx_flow_control(w->wsi, (w->events & IPKVM_LOOP_READ) ? 1 : 0);
	if (w->events & IPKVM_LOOP_WRITE)
		lws_callback_on_writable(w->wsi);
	else
		lws_sul_cancel(&w->rearm);
	/* Dropping WRITE leaves POLLOUT set until one more (ignored) writable callback. */
}

struct ipkvm_loop_watch *ipkvm_loop_watch(struct ipkvm_loop *l, int fd, unsigned events,
					  ipkvm_loop_fd_fn fn, void *ctx)
{
	if (!l->ctx)
		return NULL;
	struct ipkvm_loop_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	*w = (struct ipkvm_loop_watch){
	    .loop = l, .fd = fd, .events = IPKVM_LOOP_READ, .fn = fn, .ctx = ctx};
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup < 0) {
		LOG_ERROR("watch fd %d: %s", fd, strerror(errno));
		free(w);
		return NULL;
	}
	lws_adopt_desc_t ad = {.vh = l->vhost,
			       .type = LWS_ADOPT_RAW_FILE_DESC,
			       .fd = {.filefd = dup},
			       .vh_prot_name = "ipkvm-loop",
			       .opaque = w};
	w->wsi = lws_adopt_descriptor_vhost_via_info(&ad); /* closes dup on failure */
	if (!w->wsi) {
		LOG_ERROR("watch fd %d: the loop refused it", fd);
		free(w);
		return NULL;
	}
	w->next = l->watches;
	l->watches = w;
	ipkvm_loop_watch_set(w, events);
	return w;
}

void ipkvm_loop_watch_set(struct ipkvm_loop_watch *w, unsigned events)
{
	unsigned old = w->events;
	w->events = events;
	apply_events(w, old);
}

void ipkvm_loop_unwatch(struct ipkvm_loop_watch *w)
{
	if (!w)
		return;
	struct ipkvm_loop *l = w->loop;
	for (struct ipkvm_loop_watch **p = &l->watches; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	lws_sul_cancel(&w->rearm);
	if (w->wsi) {
		/* Detached now, closed by lws on its next pass (this may run inside the wsi's
		 * own callback, where closing it at once would pull it from under lws). */
		lws_set_opaque_user_data(w->wsi, NULL);
		lws_set_timeout(w->wsi, PENDING_TIMEOUT_USER_REASON_BASE, LWS_TO_KILL_ASYNC);
	}
	free(w);
}

/* ---- timers -------------------------------------------------------------------------- */

static void timer_fire(lws_sorted_usec_list_t *sul)
{
	struct ipkvm_loop_timer *t = lws_container_of(sul, struct ipkvm_loop_timer, sul);
	if (t->period_ms > 0 && t->loop->ctx)
		lws_sul_schedule(t->loop->ctx, 0, &t->sul, timer_fire,
				 t->period_ms * LWS_US_PER_MS);
	t->fn(t->ctx);
}

struct ipkvm_loop_timer *ipkvm_loop_timer_new(struct ipkvm_loop *l, void (*fn)(void *ctx),
					      void *ctx)
{
	struct ipkvm_loop_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->loop = l;
	t->fn = fn;
	t->ctx = ctx;
	t->next = l->timers;
	l->timers = t;
	return t;
}

void ipkvm_loop_timer_start(struct ipkvm_loop_timer *t, int64_t delay_ms, int64_t period_ms)
{
	if (!t->loop->ctx)
		return;
	t->period_ms = period_ms;
	lws_sul_schedule(t->loop->ctx, 0, &t->sul, timer_fire,
			 (delay_ms > 0 ? delay_ms : 0) * LWS_US_PER_MS);
}

void ipkvm_loop_timer_stop(struct ipkvm_loop_timer *t)
{
	t->period_ms = 0;
	lws_sul_cancel(&t->sul);
}

void ipkvm_loop_timer_set(struct ipkvm_loop_timer *t, int64_t delay_ms)
{
	if (!t)
		return;
	if (delay_ms < 0)
		ipkvm_loop_timer_stop(t);
	else
		ipkvm_loop_timer_start(t, delay_ms, 0);
}

bool ipkvm_loop_timer_pending(const struct ipkvm_loop_timer *t)
{
	return !lws_dll2_is_detached(&t->sul.list);
}

void ipkvm_loop_timer_free(struct ipkvm_loop_timer *t)
{
	if (!t)
		return;
	lws_sul_cancel(&t->sul);
	for (struct ipkvm_loop_timer **p = &t->loop->timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	free(t);
}

/* ---- wakes --------------------------------------------------------------------------- */

struct ipkvm_loop_wake *ipkvm_loop_wake_new(struct ipkvm_loop *l, void (*fn)(void *ctx), void *ctx)
{
	struct ipkvm_loop_wake *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->loop = l;
	w->fn = fn;
	w->ctx = ctx;
	atomic_init(&w->pending, false);
	w->next = l->wakes;
	l->wakes = w;
	return w;
}

void ipkvm_loop_wake(void *wake)
{
	struct ipkvm_loop_wake *w = wake;
	if (!w || atomic_exchange(&w->pending, true))
		return; /* already on its way */
	if (atomic_load(&w->loop->alive))
		lws_cancel_service(w->loop->ctx);
}

void ipkvm_loop_wake_free(struct ipkvm_loop_wake *w)
{
	if (!w)
		return;
	for (struct ipkvm_loop_wake **p = &w->loop->wakes; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	free(w);
}
