/*
 * hid/output: the backend-independent half of the HID output interface — the public wrappers
 * the main loop calls, online/offline state with reopen back-off, the fds_changed
 * announcements, and the pending-report FIFO with its coalescing rules (see output.h).
 *
 * It lives apart from the backends so that gadget, CH9329 and the later virtual target share
 * exactly one implementation of "key reports are never dropped or reordered, mouse moves
 * coalesce".
 */
#define LOG_TAG "hidout"
#include "core/log.h"
#include "core/util.h"
#include "hid/output.h"

#include <stdio.h>

const char *ipkvm_hid_kind_name(enum ipkvm_hid_kind kind)
{
	switch (kind) {
	case IPKVM_HID_KEYBOARD:
		return "keyboard";
	case IPKVM_HID_MOUSE_ABS:
		return "mouse-abs";
	case IPKVM_HID_MOUSE_REL:
		return "mouse-rel";
	case IPKVM_HID_CONSUMER:
		return "consumer";
	case IPKVM_HID_SYSTEM:
		return "system";
	default:
		return "?";
	}
}

/* ---- FIFO ---------------------------------------------------------------------------- */

static struct ipkvm_hid_report *queue_at(struct ipkvm_hid_queue *q, unsigned i)
{
	return &q->r[(q->head + i) % IPKVM_HID_QUEUE_LEN];
}

/* Tries to merge a mouse report into the newest pending one. Only the tail is a candidate:
 * merging further back would move motion across a later click or key. */
static bool queue_coalesce(struct ipkvm_hid_queue *q, enum ipkvm_hid_kind kind, const uint8_t *data,
			   size_t len)
{
	struct ipkvm_hid_report *t;

	if (q->count == 0 || (kind != IPKVM_HID_MOUSE_ABS && kind != IPKVM_HID_MOUSE_REL))
		return false;
	t = queue_at(q, q->count - 1);
	if (t->kind != kind || t->len != len || t->data[0] != data[0])
		return false; /* different kind, format or buttons: a click must stay a click */
	if (kind == IPKVM_HID_MOUSE_ABS) {
		/* Bytes 5.. are wheels: a pending wheel step would be lost by a replace. */
		for (size_t i = 5; i < len; i++) {
			if (t->data[i] != 0)
				return false;
		}
		memcpy(t->data, data, len);
		return true;
	}
	/* Relative: every delta (bytes 1..) must still fit a signed byte, never clipped. */
	for (size_t i = 1; i < len; i++) {
		int sum = (int8_t)t->data[i] + (int8_t)data[i];
		if (sum < -127 || sum > 127)
			return false;
	}
	for (size_t i = 1; i < len; i++)
		t->data[i] = (uint8_t)(int8_t)((int8_t)t->data[i] + (int8_t)data[i]);
	return true;
}

int ipkvm_hid_queue_push(struct ipkvm_hid_queue *q, enum ipkvm_hid_kind kind, const uint8_t *data,
			 size_t len)
{
	struct ipkvm_hid_report *r;

	if (len == 0 || len > IPKVM_HID_REPORT_MAX)
		return -EINVAL;
	if (queue_coalesce(q, kind, data, len))
		return 1;
	if (q->count == IPKVM_HID_QUEUE_LEN)
		return -ENOBUFS;
	r = queue_at(q, q->count);
	r->kind = (uint8_t)kind;
	r->len = (uint8_t)len;
	memcpy(r->data, data, len);
	q->count++;
	return 0;
}

int ipkvm_hid_output_enqueue(struct ipkvm_hid_output *out, struct ipkvm_hid_queue *q,
			     const char *path, enum ipkvm_hid_kind kind, const uint8_t *bytes,
			     size_t len)
{
	int ret = ipkvm_hid_queue_push(q, kind, bytes, len);
	if (ret == -ENOBUFS) {
		out->counters.overflows++;
		if (!q->overflow_logged) {
			q->overflow_logged = true;
			LOG_ERROR("%s: %u reports pending, refusing %s reports", path, q->count,
				  ipkvm_hid_kind_name(kind));
		}
		return ret;
	}
	if (ret < 0)
		return ret;
	out->counters.sent++;
	if (ret == 1)
		out->counters.coalesced++;
	return ret;
}

struct ipkvm_hid_report *ipkvm_hid_queue_peek(struct ipkvm_hid_queue *q)
{
	return q->count ? queue_at(q, 0) : NULL;
}

void ipkvm_hid_queue_pop(struct ipkvm_hid_queue *q)
{
	if (q->count == 0)
		return;
	q->head = (q->head + 1) % IPKVM_HID_QUEUE_LEN;
	q->count--;
	if (q->count == 0)
		q->overflow_logged = false; /* episode over: log the next overflow again */
}

/* ---- state --------------------------------------------------------------------------- */

int64_t ipkvm_hid_output_now(struct ipkvm_hid_output *out)
{
	return out->cb.now_ms ? out->cb.now_ms(out->cb.ctx) : ipkvm_mono_ms();
}

bool ipkvm_hid_output_err_is_gone(int err)
{
	return err == ESHUTDOWN || err == EPIPE || err == ENODEV || err == ENXIO || err == EIO ||
	       err == ECONNRESET || err == EBADF;
}

static void set_state(struct ipkvm_hid_output *out, bool online, const char *reason)
{
	bool changed = out->online != online || strcmp(out->reason, reason) != 0;

	out->online = online;
	ipkvm_strlcpy(out->reason, reason, sizeof(out->reason));
	if (changed) {
		if (online)
			LOG_INFO("%s output online (%s)", out->ops->name, reason);
		else
			LOG_WARN("%s output offline (%s)", out->ops->name, reason);
		if (out->cb.state)
			out->cb.state(out->cb.ctx, out, online, out->reason);
	}
}

void ipkvm_hid_output_set_online(struct ipkvm_hid_output *out, const char *reason)
{
	out->retry_delay = 0;
	out->retry_at = 0;
	set_state(out, true, reason);
}

void ipkvm_hid_output_set_offline(struct ipkvm_hid_output *out, const char *reason)
{
	/* Back-off doubles on every failure until a successful open resets it. */
	if (out->retry_delay == 0)
		out->retry_delay = IPKVM_HID_RETRY_MIN_MS;
	else if (out->retry_delay < IPKVM_HID_RETRY_MAX_MS)
		out->retry_delay *= 2;
	if (out->retry_delay > IPKVM_HID_RETRY_MAX_MS)
		out->retry_delay = IPKVM_HID_RETRY_MAX_MS;
	out->retry_at = ipkvm_hid_output_now(out) + out->retry_delay;
	set_state(out, false, reason);
}

void ipkvm_hid_output_check_fds(struct ipkvm_hid_output *out)
{
	struct pollfd fds[IPKVM_HID_OUT_MAX_FDS];
	size_t n = out->ops->pollfds(out, fds, IPKVM_HID_OUT_MAX_FDS);

	int64_t deadline;

	if (n != out->last_nfds || memcmp(fds, out->last_fds, n * sizeof(fds[0])) != 0) {
		memcpy(out->last_fds, fds, n * sizeof(fds[0]));
		out->last_nfds = n;
		if (out->cb.fds_changed)
			out->cb.fds_changed(out->cb.ctx, out);
	}
	if (!out->online)
		deadline = out->retry_at;
	else
		deadline = out->ops->deadline ? out->ops->deadline(out) : -1;
	if (deadline != out->last_deadline) {
		out->last_deadline = deadline;
		if (out->cb.timer) {
			int64_t now = ipkvm_hid_output_now(out);
			out->cb.timer(out->cb.ctx, out,
				      deadline < 0 ? -1 : (deadline > now ? deadline - now : 0));
		}
	}
}

/* ---- public wrappers ----------------------------------------------------------------- */

int ipkvm_hid_output_start(struct ipkvm_hid_output *out)
{
	int ret = out->ops->open(out);

	if (ret < 0) {
		char why[128];
		snprintf(why, sizeof(why), "open: %s", strerror(-ret));
		ipkvm_hid_output_set_offline(out, why);
	} else {
		ipkvm_hid_output_set_online(out, "open");
	}
	ipkvm_hid_output_check_fds(out);
	return ret;
}

int ipkvm_hid_output_send(struct ipkvm_hid_output *out, enum ipkvm_hid_kind kind,
			  const uint8_t *bytes, size_t len)
{
	int ret;

	if ((unsigned)kind >= IPKVM_HID_KIND_COUNT || !bytes || len == 0 ||
	    len > IPKVM_HID_REPORT_MAX)
		return -EINVAL;
	if (!out->online)
		return -ENOTCONN;
	ret = out->ops->send(out, kind, bytes, len);
	ipkvm_hid_output_check_fds(out);
	return ret;
}

size_t ipkvm_hid_output_pollfds(struct ipkvm_hid_output *out, struct pollfd *fds, size_t max)
{
	return out->ops->pollfds(out, fds, max);
}

int ipkvm_hid_output_on_writable(struct ipkvm_hid_output *out, int fd)
{
	int ret = out->online ? out->ops->on_writable(out, fd) : 0;

	ipkvm_hid_output_check_fds(out);
	return ret;
}

int ipkvm_hid_output_on_readable(struct ipkvm_hid_output *out, int fd)
{
	int ret = out->online ? out->ops->on_readable(out, fd) : 0;

	ipkvm_hid_output_check_fds(out);
	return ret;
}

int64_t ipkvm_hid_output_tick(struct ipkvm_hid_output *out)
{
	int64_t now = ipkvm_hid_output_now(out);
	int64_t next = -1;

	if (!out->online && now >= out->retry_at) {
		int ret;
		out->counters.reopens++;
		ret = out->ops->open(out);
		if (ret < 0) {
			char why[128];
			snprintf(why, sizeof(why), "reopen: %s", strerror(-ret));
			ipkvm_hid_output_set_offline(out, why);
		} else {
			ipkvm_hid_output_set_online(out, "reopened");
		}
	}
	if (out->online && out->ops->tick)
		next = out->ops->tick(out, now);
	/* The backend tick may itself have taken the output offline. */
	if (!out->online)
		next = out->retry_at > now ? out->retry_at - now : 0;
	ipkvm_hid_output_check_fds(out);
	return next;
}

size_t ipkvm_hid_output_pending(struct ipkvm_hid_output *out)
{
	return out->ops->pending(out);
}

void ipkvm_hid_output_destroy(struct ipkvm_hid_output *out)
{
	if (out)
		out->ops->destroy(out);
}
