/*
 * test_paste: the paste state machine without a server: a real ipkvm_hid whose gadget nodes
 * are socketpairs, the timer and the clock injected, the progress events read from a real
 * event bus. Checks the reports the target gets (modifiers around each key), back-pressure
 * (nothing is sent while the output holds a report; "drained" resumes it), progress, cancel
 * and the refusals.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/events.h"
#include "hid/hid.h"
#include "hid/paste.h"

struct t {
	struct ipkvm_events *events;
	struct ipkvm_hid *hid;
	struct ipkvm_paste *paste;
	int host[4]; /* the target's ends: keyboard, mouse abs, mouse rel, consumer */
	int dev[4];  /* the output's ends */
	int nopen;
	int64_t timer; /* what the paste asked for: -2 nothing yet, -1 stop, else ms */
	int64_t now;
	char states[16][16];
	size_t nstates;
};

static int open_node(void *ctx, const char *path)
{
	struct t *t = ctx;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	t->dev[t->nopen] = sv[0];
	t->host[t->nopen++] = sv[1];
	return sv[0];
}

static void on_timer(void *ctx, int64_t delay_ms)
{
	struct t *t = ctx;
	t->timer = delay_ms;
}

static int64_t now_ms(void *ctx)
{
	struct t *t = ctx;
	return t->now;
}

static void on_event(void *ctx, const char *event, struct ipkvm_buf *msg)
{
	struct t *t = ctx;
	if (strcmp(event, "hid_type") != 0 || t->nstates == 16)
		return;
	json_t *j = json_loadb((const char *)msg->data, msg->len, 0, NULL);
	const char *st = json_string_value(json_object_get(json_object_get(j, "data"), "state"));
	snprintf(t->states[t->nstates++], sizeof(t->states[0]), "%s", st ? st : "?");
	json_decref(j);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->events = ipkvm_events_create();
	assert_true(ipkvm_events_subscribe(t->events, on_event, t) >= 0);
	struct ipkvm_hid_config hc = {.output = "gadget",
				      .keyboard = "kbd",
				      .mouse_abs = "abs",
				      .mouse_rel = "rel",
				      .consumer = "cons",
				      .open_fn = open_node,
				      .open_ctx = t};
	t->hid = ipkvm_hid_create(&hc);
	assert_non_null(t->hid);
	struct ipkvm_paste_config pc = {
	    .hid = t->hid, .events = t->events, .ctx = t, .timer = on_timer, .now_ms = now_ms};
	t->paste = ipkvm_paste_create(&pc);
	assert_non_null(t->paste);
	t->timer = -2;
	t->now = 1000;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	ipkvm_paste_destroy(t->paste);
	ipkvm_hid_destroy(t->hid);
	ipkvm_events_destroy(t->events);
	for (int i = 0; i < t->nopen; i++)
		close(t->host[i]);
	free(t);
	return 0;
}

/* The keyboard reports the target got so far: modifiers and first key of each. */
static size_t read_reports(struct t *t, uint8_t mods[], uint8_t keys[], size_t max)
{
	uint8_t r[32];
	size_t n = 0;
	ssize_t len;
	while (n < max && (len = read(t->host[0], r, sizeof(r))) > 0) {
		mods[n] = r[0];
		keys[n] = r[2];
		n++;
	}
	return n;
}

/* Runs the timer until the paste ends (the output writes at once: nothing waits). */
static void run(struct t *t)
{
	for (int i = 0; i < 100 && ipkvm_paste_busy(t->paste); i++) {
		assert_true(t->timer >= 0);
		t->now += t->timer;
		t->timer = -2;
		ipkvm_paste_tick(t->paste);
	}
	assert_false(ipkvm_paste_busy(t->paste));
}

static void test_types_strokes_with_their_modifiers(void **state)
{
	struct t *t = *state;
	uint64_t id;
	size_t n;
	json_t *untyped = NULL;
	assert_int_equal(ipkvm_paste_start(t->paste, "Ab", "us", 20, &id, &n, &untyped), 0);
	assert_int_equal(n, 2);
	assert_int_equal(json_array_size(untyped), 0);
	json_decref(untyped);
	assert_int_equal(t->timer, 0); /* the first step at once */
	assert_true(ipkvm_paste_busy(t->paste));
	int64_t t0 = t->now;
	run(t);
	assert_true(t->now - t0 >= 20); /* strokes delay_ms apart */
	uint8_t mods[16], keys[16];
	size_t k = read_reports(t, mods, keys, 16);
	/* Shift down, A down, A up, Shift up, b down, b up. */
	assert_int_equal(k, 6);
	assert_int_equal(mods[0], 0x02);
	assert_int_equal(keys[0], 0);
	assert_int_equal(mods[1], 0x02);
	assert_int_equal(keys[1], 0x04);
	assert_int_equal(keys[2], 0);
	assert_int_equal(mods[3], 0);
	assert_int_equal(keys[4], 0x05);
	assert_int_equal(keys[5], 0);
	assert_int_equal(t->timer, -1); /* no timer left behind */
	assert_string_equal(t->states[t->nstates - 1], "done");
	assert_string_equal(t->states[0], "typing");
}

static void test_untyped_and_refusals(void **state)
{
	struct t *t = *state;
	uint64_t id;
	size_t n;
	json_t *untyped = NULL;
	assert_int_equal(ipkvm_paste_start(t->paste, "a", "klingon", 5, &id, &n, NULL), -ENOENT);
	assert_int_equal(ipkvm_paste_start(t->paste, "a", NULL, -1, &id, &n, NULL), -EINVAL);
	assert_int_equal(ipkvm_paste_start(t->paste, "a", NULL, 1001, &id, &n, NULL), -EINVAL);
	assert_int_equal(ipkvm_paste_start(t->paste, "\xff\xfe", NULL, 5, &id, &n, NULL), -EILSEQ);
	/* A character the layout cannot type is reported, the rest typed. */
	assert_int_equal(ipkvm_paste_start(t->paste, "a\xe2\x82\xac", "us", 0, &id, &n, &untyped),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(json_array_size(untyped), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(untyped, 0), "index")),
			 1);
	json_decref(untyped);
	uint64_t id2;
	assert_int_equal(ipkvm_paste_start(t->paste, "b", NULL, 0, &id2, &n, NULL), -EBUSY);
	run(t);
	/* Nothing to type: done at once, no timer. */
	t->timer = -2;
	assert_int_equal(ipkvm_paste_start(t->paste, "", NULL, 0, &id2, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_true(id2 > id);
	assert_false(ipkvm_paste_busy(t->paste));
	assert_int_equal(t->timer, -2);
	assert_string_equal(t->states[t->nstates - 1], "done");
}

static void test_cancel(void **state)
{
	struct t *t = *state;
	uint64_t id, cid;
	size_t n, typed, total;
	assert_int_equal(ipkvm_paste_start(t->paste, "hello", NULL, 100, &id, &n, NULL), 0);
	for (int i = 0; i < 4; i++) /* one stroke */
		ipkvm_paste_tick(t->paste);
	assert_int_equal(ipkvm_paste_cancel(t->paste, &cid, &typed, &total), 0);
	assert_int_equal(cid, id);
	assert_int_equal(typed, 1);
	assert_int_equal(total, 5);
	assert_int_equal(t->timer, -1);
	assert_false(ipkvm_paste_busy(t->paste));
	assert_string_equal(t->states[t->nstates - 1], "cancelled");
	assert_int_equal(ipkvm_paste_cancel(t->paste, &cid, &typed, &total), -ENOENT);
	/* Destroying with a paste under way cancels it. */
	assert_int_equal(ipkvm_paste_start(t->paste, "x", NULL, 0, &id, &n, NULL), 0);
	ipkvm_paste_destroy(t->paste);
	t->paste = NULL;
	assert_string_equal(t->states[t->nstates - 1], "cancelled");
}

/* The target stops reading: the paste waits for the output (no timer), then goes on when
 * the output says it wrote everything. */
static void test_back_pressure(void **state)
{
	struct t *t = *state;
	/* Fill the keyboard socket so the next report has to wait in the output. */
	int sz = 1;
	setsockopt(t->dev[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	uint64_t id;
	size_t n;
	assert_int_equal(ipkvm_paste_start(t->paste, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
					   NULL, 0, &id, &n, NULL),
			 0);
	int i;
	for (i = 0; i < 400 && t->timer >= 0; i++) {
		t->timer = -2;
		ipkvm_paste_tick(t->paste);
	}
	assert_true(ipkvm_paste_busy(t->paste));
	assert_true(ipkvm_hid_pending(t->hid) > 0);
	assert_int_equal(t->timer, -2); /* waiting, not polling */
	/* The target reads again; the output drains on writable and says so. */
	uint8_t mods[64], keys[64];
	while (ipkvm_paste_busy(t->paste)) {
		read_reports(t, mods, keys, 64);
		struct pollfd fds[8];
		size_t nf = ipkvm_hid_pollfds(t->hid, fds, 8);
		for (size_t k = 0; k < nf; k++)
			if (fds[k].events & POLLOUT)
				ipkvm_hid_fd_ready(t->hid, fds[k].fd, POLLOUT);
		if (t->timer == 0) {
			t->timer = -2;
			ipkvm_paste_tick(t->paste);
		} else if (ipkvm_hid_pending(t->hid) == 0) {
			ipkvm_paste_drained(t->paste);
		}
	}
	assert_string_equal(t->states[t->nstates - 1], "done");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_types_strokes_with_their_modifiers, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_untyped_and_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
