/*
 * Unit tests for hid/out_gadget (and the shared FIFO/state code in hid/output.c).
 * SOCK_SEQPACKET socketpairs stand in for /dev/hidgN (one datagram = one report, like f_hid),
 * injected through the config's open_fn seam. Covered: exact bytes written per kind, consumer
 * and system sharing one node, a full device (EAGAIN) queueing key reports in order with none
 * lost while the reader drains, overflow of the bounded FIFO, absolute motion coalescing to the
 * newest position (a click is kept), relative deltas summing (never clipped), POLLOUT only
 * while pending, EPIPE → offline state callback → reopen with back-off via tick(), and the
 * keyboard LED output report reaching the LED callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hid/output.h"

#define NPATH 4
static const char *const paths[NPATH] = {"kbd", "abs", "rel", "ext"};

/* The fake gadget: per node, our end (handed to the output) and the "host" end we read. */
struct fake {
	int ours[NPATH];
	int host[NPATH];
	int opens;
	int fail_open; /* -errno returned by open_fn when set */
	/* callback records */
	int state_calls;
	bool last_online;
	char last_reason[128];
	int led_calls;
	uint8_t last_led;
	int written[IPKVM_HID_KIND_COUNT];
	int fds_changed;
	int64_t timer_delay;
	int64_t now;
	struct ipkvm_hid_output *out;
};

static int path_index(const char *p)
{
	for (int i = 0; i < NPATH; i++) {
		if (strcmp(paths[i], p) == 0)
			return i;
	}
	return -1;
}

static void make_pair(struct fake *f, int i)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	/* A small send buffer so the "device" fills after a few reports. */
	int sz = 4096;
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	f->ours[i] = sv[0];
	f->host[i] = sv[1];
}

static int fake_open(void *ctx, const char *path)
{
	struct fake *f = ctx;
	int i = path_index(path);

	if (f->fail_open)
		return f->fail_open;
	if (i < 0)
		return -ENOENT;
	f->opens++;
	if (f->ours[i] < 0)
		make_pair(f, i);
	/* The output owns what it gets: hand over our end (the test keeps the host end). */
	int fd = f->ours[i];
	f->ours[i] = -1;
	return fd;
}

static void cb_state(void *ctx, struct ipkvm_hid_output *out, bool online, const char *reason)
{
	struct fake *f = ctx;
	f->state_calls++;
	f->last_online = online;
	snprintf(f->last_reason, sizeof(f->last_reason), "%s", reason);
}

static void cb_leds(void *ctx, struct ipkvm_hid_output *out, uint8_t leds)
{
	struct fake *f = ctx;
	f->led_calls++;
	f->last_led = leds;
}

static void cb_written(void *ctx, struct ipkvm_hid_output *out, enum ipkvm_hid_kind kind)
{
	struct fake *f = ctx;
	f->written[kind]++;
}

static void cb_fds(void *ctx, struct ipkvm_hid_output *out)
{
	struct fake *f = ctx;
	f->fds_changed++;
}

static void cb_timer(void *ctx, struct ipkvm_hid_output *out, int64_t delay)
{
	struct fake *f = ctx;
	f->timer_delay = delay;
}

static int64_t cb_now(void *ctx)
{
	struct fake *f = ctx;
	return f->now;
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct ipkvm_hid_gadget_config cfg;
	struct ipkvm_hid_output_cb cb = {.ctx = f,
					 .state = cb_state,
					 .leds = cb_leds,
					 .written = cb_written,
					 .fds_changed = cb_fds,
					 .timer = cb_timer,
					 .now_ms = cb_now};

	assert_non_null(f);
	for (int i = 0; i < NPATH; i++)
		f->ours[i] = f->host[i] = -1;
	f->now = 1000;
	memset(&cfg, 0, sizeof(cfg));
	cfg.path[IPKVM_HID_KEYBOARD] = "kbd";
	cfg.path[IPKVM_HID_MOUSE_ABS] = "abs";
	cfg.path[IPKVM_HID_MOUSE_REL] = "rel";
	cfg.path[IPKVM_HID_CONSUMER] = "ext";
	cfg.path[IPKVM_HID_SYSTEM] = "ext";
	cfg.open_fn = fake_open;
	cfg.open_ctx = f;
	assert_int_equal(ipkvm_hid_gadget_create(&cfg, &cb, &f->out), 0);
	assert_int_equal(ipkvm_hid_output_start(f->out), 0);
	assert_true(f->out->online);
	assert_int_equal(f->state_calls, 1);
	assert_string_equal(f->last_reason, "open");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	ipkvm_hid_output_destroy(f->out);
	for (int i = 0; i < NPATH; i++) {
		if (f->ours[i] >= 0)
			close(f->ours[i]);
		if (f->host[i] >= 0)
			close(f->host[i]);
	}
	free(f);
	return 0;
}

/* Reads one datagram from the host end of node i; returns its length, -1 when none. */
static ssize_t host_read(struct fake *f, int i, uint8_t *buf, size_t len)
{
	ssize_t n = read(f->host[i], buf, len);
	return n < 0 ? -1 : n;
}

static int fd_for(struct fake *f, int node_fd_events, short *events_out)
{
	struct pollfd fds[IPKVM_HID_OUT_MAX_FDS];
	size_t n = ipkvm_hid_output_pollfds(f->out, fds, IPKVM_HID_OUT_MAX_FDS);
	for (size_t i = 0; i < n; i++) {
		if (fds[i].events & node_fd_events) {
			if (events_out)
				*events_out = fds[i].events;
			return fds[i].fd;
		}
	}
	return -1;
}

/* Sends keyboard reports numbered from *seq until one had to be queued (device full). */
static void fill_keyboard(struct fake *f, unsigned *seq)
{
	for (int guard = 0; guard < 100000; guard++) {
		uint8_t r[8] = {0, 0, (uint8_t)(*seq & 0xFF), (uint8_t)(*seq >> 8), 0, 0, 0, 0};
		uint64_t q = f->out->counters.queued;
		assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, r, 8), 0);
		(*seq)++;
		if (f->out->counters.queued > q)
			return;
	}
	fail_msg("device never filled");
}

static void test_exact_bytes_each_kind(void **state)
{
	struct fake *f = *state;
	const uint8_t kbd[8] = {0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00};
	const uint8_t abs[7] = {0x01, 0xFF, 0x7F, 0x00, 0x40, 0x00, 0x00};
	const uint8_t rel[5] = {0x00, 0x05, 0xFB, 0x01, 0x00};
	const uint8_t cons[3] = {0x01, 0xE9, 0x00};
	const uint8_t sys[2] = {0x02, 0x01};
	uint8_t buf[64];

	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_ABS, abs, 7), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_REL, rel, 5), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_CONSUMER, cons, 3), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_SYSTEM, sys, 2), 0);

	assert_int_equal(host_read(f, 0, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, kbd, 8);
	assert_int_equal(host_read(f, 1, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, abs, 7);
	assert_int_equal(host_read(f, 2, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, rel, 5);
	/* consumer and system share node "ext", in send order */
	assert_int_equal(host_read(f, 3, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, cons, 3);
	assert_int_equal(host_read(f, 3, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, sys, 2);
	for (int i = 0; i < NPATH; i++)
		assert_int_equal(host_read(f, i, buf, sizeof(buf)), -1);

	assert_int_equal(f->out->counters.sent, 5);
	assert_int_equal(f->out->counters.written, 5);
	assert_int_equal(f->out->counters.queued, 0);
	assert_int_equal(f->written[IPKVM_HID_KEYBOARD], 1);
	assert_int_equal(f->written[IPKVM_HID_SYSTEM], 1);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 0);
	/* Four nodes: only the keyboard asks for POLLIN (LEDs), nobody for POLLOUT. */
	struct pollfd fds[IPKVM_HID_OUT_MAX_FDS];
	assert_int_equal(ipkvm_hid_output_pollfds(f->out, fds, IPKVM_HID_OUT_MAX_FDS), 4);
	assert_int_equal(fds[0].events, POLLIN);
	assert_int_equal(fds[1].events, 0);
	assert_int_equal(fds[3].events, 0);
	/* Bad arguments. */
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 0), -EINVAL);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KIND_COUNT, kbd, 8), -EINVAL);
}

static void test_kind_not_configured(void **state)
{
	struct ipkvm_hid_gadget_config cfg;
	struct ipkvm_hid_output *out;
	struct fake *f = *state;

	memset(&cfg, 0, sizeof(cfg));
	cfg.path[IPKVM_HID_KEYBOARD] = "kbd";
	cfg.open_fn = fake_open;
	cfg.open_ctx = f;
	f->fail_open = 0;
	/* "kbd" pair was handed out by setup(): give this output its own. */
	assert_int_equal(ipkvm_hid_gadget_create(&cfg, NULL, &out), 0);
	close(f->host[0]);
	make_pair(f, 0);
	assert_int_equal(ipkvm_hid_output_start(out), 0);
	const uint8_t rel[5] = {0};
	assert_int_equal(ipkvm_hid_output_send(out, IPKVM_HID_MOUSE_REL, rel, 5), -ENODEV);
	ipkvm_hid_output_destroy(out);

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(ipkvm_hid_gadget_create(&cfg, NULL, &out), -EINVAL);
	assert_null(out);
}

static void test_keys_queue_in_order_none_lost(void **state)
{
	struct fake *f = *state;
	unsigned seq = 0, next = 0;
	uint8_t buf[64];
	short ev = 0;

	fill_keyboard(f, &seq);
	/* 200 more key reports while the host does not read: all queued. */
	for (int i = 0; i < 200; i++) {
		uint8_t r[8] = {0, 0, (uint8_t)(seq & 0xFF), (uint8_t)(seq >> 8), 0, 0, 0, 0};
		assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, r, 8), 0);
		seq++;
	}
	assert_int_equal(ipkvm_hid_output_pending(f->out), 201);
	assert_int_equal(f->out->counters.queued, 201);
	int kfd = fd_for(f, POLLOUT, &ev);
	assert_true(kfd >= 0);
	assert_int_equal(ev, POLLIN | POLLOUT);
	assert_true(f->fds_changed >= 2); /* open, then POLLOUT wanted */

	/* The host drains a little at a time; the loop calls on_writable each time. */
	while (next < seq) {
		int got = 0;
		ssize_t n;
		while (got < 7 && (n = host_read(f, 0, buf, sizeof(buf))) >= 0) {
			assert_int_equal(n, 8);
			assert_int_equal(buf[2] | buf[3] << 8, (int)(next & 0xFFFF));
			next++;
			got++;
		}
		if (got == 0)
			assert_int_equal(ipkvm_hid_output_pending(f->out), 0);
		if (ipkvm_hid_output_pending(f->out))
			assert_int_equal(ipkvm_hid_output_on_writable(f->out, kfd), 0);
		else if (got == 0)
			break;
	}
	assert_int_equal(next, seq);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 0);
	assert_int_equal(f->out->counters.written, seq);
	assert_int_equal(f->written[IPKVM_HID_KEYBOARD], (int)seq);
	/* Nothing pending: POLLOUT no longer requested. */
	assert_int_equal(fd_for(f, POLLOUT, NULL), -1);
}

static void test_key_fifo_overflow(void **state)
{
	struct fake *f = *state;
	unsigned seq = 0;
	const uint8_t r[8] = {0};

	fill_keyboard(f, &seq);
	for (int i = 1; i < IPKVM_HID_QUEUE_LEN; i++)
		assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, r, 8), 0);
	assert_int_equal(ipkvm_hid_output_pending(f->out), IPKVM_HID_QUEUE_LEN);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, r, 8), -ENOBUFS);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, r, 8), -ENOBUFS);
	assert_int_equal(f->out->counters.overflows, 2);
	assert_int_equal(ipkvm_hid_output_pending(f->out), IPKVM_HID_QUEUE_LEN);
	/* The other nodes are unaffected. */
	const uint8_t rel[5] = {0, 1, 1, 0, 0};
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_REL, rel, 5), 0);
}

/* Fills node "abs"/"rel" with reports of kind until one is queued. */
static void fill_mouse(struct fake *f, enum ipkvm_hid_kind kind, const uint8_t *r, size_t len)
{
	for (int guard = 0; guard < 100000; guard++) {
		uint64_t q = f->out->counters.queued;
		assert_int_equal(ipkvm_hid_output_send(f->out, kind, r, len), 0);
		if (f->out->counters.queued > q)
			return;
	}
	fail_msg("device never filled");
}

/* Reads every datagram of node i; returns how many, last one in last. */
static int drain_node(struct fake *f, int i, uint8_t *all, size_t reclen, size_t max)
{
	int count = 0;
	uint8_t buf[64];
	ssize_t n;

	for (;;) {
		while ((n = host_read(f, i, buf, sizeof(buf))) >= 0) {
			assert_int_equal((size_t)n, reclen);
			if ((size_t)count < max)
				memcpy(all + (size_t)count * reclen, buf, reclen);
			count++;
		}
		if (ipkvm_hid_output_pending(f->out) == 0)
			break;
		int fd = fd_for(f, POLLOUT, NULL);
		assert_true(fd >= 0);
		assert_int_equal(ipkvm_hid_output_on_writable(f->out, fd), 0);
	}
	return count;
}

static void test_abs_coalesces_to_newest(void **state)
{
	struct fake *f = *state;
	const uint8_t first[7] = {0x00, 0x10, 0x00, 0x20, 0x00, 0x00, 0x00};
	uint8_t r[7] = {0x00, 0, 0, 0, 0, 0, 0};
	static uint8_t all[4096 * 7];

	fill_mouse(f, IPKVM_HID_MOUSE_ABS, first, 7);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 1);
	/* 50 moves with the same buttons: still one pending, holding the newest. */
	for (int i = 1; i <= 50; i++) {
		r[1] = (uint8_t)i;
		r[3] = (uint8_t)(100 + i);
		assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_ABS, r, 7), 0);
	}
	assert_int_equal(ipkvm_hid_output_pending(f->out), 1);
	assert_int_equal(f->out->counters.coalesced, 50);
	/* A click (button change) is appended, and the release after it too. */
	const uint8_t click[7] = {0x01, 50, 0, 150, 0, 0, 0};
	const uint8_t release[7] = {0x00, 50, 0, 150, 0, 0, 0};
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_ABS, click, 7), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_ABS, release, 7), 0);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 3);

	int n = drain_node(f, 1, all, 7, sizeof(all) / 7);
	assert_true(n >= 4 && (size_t)n <= sizeof(all) / 7);
	const uint8_t newest[7] = {0x00, 50, 0, 150, 0, 0, 0};
	assert_memory_equal(all + (size_t)(n - 3) * 7, newest, 7);
	assert_memory_equal(all + (size_t)(n - 2) * 7, click, 7);
	assert_memory_equal(all + (size_t)(n - 1) * 7, release, 7);
	assert_memory_equal(all + (size_t)(n - 4) * 7, first, 7);
}

static void test_rel_deltas_sum(void **state)
{
	struct fake *f = *state;
	const uint8_t base[5] = {0x00, 0x01, 0x00, 0x00, 0x00};
	static uint8_t all[4096 * 5];

	fill_mouse(f, IPKVM_HID_MOUSE_REL, base, 5);
	const uint8_t a[5] = {0x00, 5, (uint8_t)-3, 0, 0};
	const uint8_t b[5] = {0x00, 10, 4, 1, (uint8_t)-2};
	const uint8_t c[5] = {0x00, 120, 0, 0, 0};	   /* 1+5+10+120 > 127: must not clip */
	const uint8_t d[5] = {0x02, (uint8_t)-7, 0, 0, 0}; /* other buttons */
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_REL, a, 5), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_REL, b, 5), 0);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 1);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_REL, c, 5), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_REL, d, 5), 0);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 3);
	assert_int_equal(f->out->counters.coalesced, 2);

	int n = drain_node(f, 2, all, 5, sizeof(all) / 5);
	assert_true(n >= 3);
	const uint8_t sum[5] = {0x00, 1 + 5 + 10, 1, 1, (uint8_t)-2};
	assert_memory_equal(all + (size_t)(n - 3) * 5, sum, 5);
	assert_memory_equal(all + (size_t)(n - 2) * 5, c, 5);
	assert_memory_equal(all + (size_t)(n - 1) * 5, d, 5);
	/* Total motion preserved: every report before is the base one. */
	for (int i = 0; i < n - 3; i++)
		assert_memory_equal(all + (size_t)i * 5, base, 5);
}

static void test_epipe_offline_then_reopen(void **state)
{
	struct fake *f = *state;
	const uint8_t kbd[8] = {0, 0, 0x04, 0, 0, 0, 0, 0};
	uint8_t buf[16];

	int calls = f->state_calls;
	close(f->host[0]);
	f->host[0] = -1;
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), -EPIPE);
	assert_false(f->out->online);
	assert_int_equal(f->state_calls, calls + 1);
	assert_false(f->last_online);
	assert_string_equal(f->last_reason, "write kbd: Broken pipe");
	assert_int_equal(f->timer_delay, IPKVM_HID_RETRY_MIN_MS);
	/* Offline: nothing polled, sends refused. */
	struct pollfd fds[IPKVM_HID_OUT_MAX_FDS];
	assert_int_equal(ipkvm_hid_output_pollfds(f->out, fds, IPKVM_HID_OUT_MAX_FDS), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), -ENOTCONN);

	/* Retry after the minimum back-off, not before. */
	assert_int_equal(ipkvm_hid_output_tick(f->out), IPKVM_HID_RETRY_MIN_MS);
	f->now += IPKVM_HID_RETRY_MIN_MS - 1;
	assert_int_equal(ipkvm_hid_output_tick(f->out), 1);
	assert_int_equal(f->out->counters.reopens, 0);
	/* First reopen fails (device node gone): back-off doubles. */
	f->now += 1;
	f->fail_open = -ENOENT;
	assert_int_equal(ipkvm_hid_output_tick(f->out), 2 * IPKVM_HID_RETRY_MIN_MS);
	assert_int_equal(f->out->counters.reopens, 1);
	assert_false(f->out->online);
	assert_string_equal(f->last_reason, "reopen: No such file or directory");
	/* Then the target comes back. */
	f->fail_open = 0;
	for (int i = 0; i < NPATH; i++) {
		if (f->host[i] >= 0)
			close(f->host[i]);
		f->host[i] = -1;
	}
	f->now += 2 * IPKVM_HID_RETRY_MIN_MS;
	assert_int_equal(ipkvm_hid_output_tick(f->out), -1);
	assert_true(f->out->online);
	assert_true(f->last_online);
	assert_string_equal(f->last_reason, "reopened");
	assert_int_equal(f->timer_delay, -1);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(host_read(f, 0, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, kbd, 8);
}

static void test_offline_drops_pending(void **state)
{
	struct fake *f = *state;
	unsigned seq = 0;

	fill_keyboard(f, &seq);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 1);
	close(f->host[0]);
	f->host[0] = -1;
	int kfd = fd_for(f, POLLOUT, NULL);
	assert_true(kfd >= 0);
	/* The peer closed with unread reports: the socket says ECONNRESET, also "gone". */
	assert_int_equal(ipkvm_hid_output_on_writable(f->out, kfd), -ECONNRESET);
	assert_false(f->out->online);
	assert_int_equal(f->out->counters.dropped, 1);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 0);
}

static void test_led_report(void **state)
{
	struct fake *f = *state;
	const uint8_t caps = 0x02, num_scroll = 0x05;

	int kfd = fd_for(f, POLLIN, NULL);
	assert_true(kfd >= 0);
	assert_int_equal(ipkvm_hid_output_on_readable(f->out, kfd), 0); /* nothing yet */
	assert_int_equal(f->led_calls, 0);
	assert_int_equal(write(f->host[0], &caps, 1), 1);
	assert_int_equal(ipkvm_hid_output_on_readable(f->out, kfd), 0);
	assert_int_equal(f->led_calls, 1);
	assert_int_equal(f->last_led, 0x02);
	assert_int_equal(write(f->host[0], &num_scroll, 1), 1);
	assert_int_equal(ipkvm_hid_output_on_readable(f->out, kfd), 0);
	assert_int_equal(f->led_calls, 2);
	assert_int_equal(f->last_led, 0x05);
	assert_int_equal(f->out->counters.leds, 2);
	/* Host end closed: EOF on read takes the output offline. */
	close(f->host[0]);
	f->host[0] = -1;
	assert_int_equal(ipkvm_hid_output_on_readable(f->out, kfd), -EPIPE);
	assert_false(f->out->online);
	assert_string_equal(f->last_reason, "read kbd: end of file");
}

static void test_start_failure_retries(void **state)
{
	struct fake *f = *state;
	struct ipkvm_hid_gadget_config cfg;
	struct ipkvm_hid_output *out;
	struct ipkvm_hid_output_cb cb = {.ctx = f, .state = cb_state, .now_ms = cb_now};

	ipkvm_hid_gadget_config_default(&cfg);
	assert_string_equal(cfg.path[IPKVM_HID_KEYBOARD], "/dev/hidg0");
	assert_string_equal(cfg.path[IPKVM_HID_CONSUMER], "/dev/hidg3");
	assert_string_equal(cfg.path[IPKVM_HID_SYSTEM], "/dev/hidg3");
	cfg.open_fn = fake_open;
	cfg.open_ctx = f;
	f->fail_open = -ENOENT;
	assert_int_equal(ipkvm_hid_gadget_create(&cfg, &cb, &out), 0);
	int calls = f->state_calls;
	assert_int_equal(ipkvm_hid_output_start(out), -ENOENT);
	assert_false(out->online);
	assert_int_equal(f->state_calls, calls + 1);
	assert_string_equal(out->reason, "open: No such file or directory");
	assert_int_equal(ipkvm_hid_output_tick(out), IPKVM_HID_RETRY_MIN_MS);
	/* Back-off caps at the maximum. */
	for (int i = 0; i < 20; i++) {
		f->now += IPKVM_HID_RETRY_MAX_MS;
		ipkvm_hid_output_tick(out);
	}
	assert_int_equal(out->retry_delay, IPKVM_HID_RETRY_MAX_MS);
	f->fail_open = 0;
	ipkvm_hid_output_destroy(out);
}

int main(void)
{
	/* A closed socket peer raises SIGPIPE on write; the daemon ignores it likewise. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exact_bytes_each_kind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kind_not_configured, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_queue_in_order_none_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_fifo_overflow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abs_coalesces_to_newest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rel_deltas_sum, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_epipe_offline_then_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offline_drops_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_led_report, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_failure_retries, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
