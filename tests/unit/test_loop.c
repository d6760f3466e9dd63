/*
 * test_loop: the loop adapter on a real libwebsockets loop: fd watches on pipes and
 * socketpairs (readable, writable, events changed, ended from inside the callback), one-shot
 * and periodic timers, and wakes triggered from another thread that call only their own
 * consumer. Every test has a watchdog timer that stops a loop that would hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "daemon/loop.h"

struct t {
	struct ipkvm_loop *loop;
	struct ipkvm_loop_timer *watchdog;
	bool timed_out;
	int reads, writes, fired, other;
	unsigned last_events;
	struct ipkvm_loop_watch *watch;
	struct ipkvm_loop_timer *timer;
	struct ipkvm_loop_wake *wake, *wake2;
	int stop_after;
};

static void watchdog(void *ctx)
{
	struct t *t = ctx;
	t->timed_out = true;
	ipkvm_loop_stop(t->loop);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->loop = ipkvm_loop_create(NULL);
	assert_non_null(t->loop);
	assert_non_null(ipkvm_loop_lws(t->loop));
	t->watchdog = ipkvm_loop_timer_new(t->loop, watchdog, t);
	assert_non_null(t->watchdog);
	ipkvm_loop_timer_start(t->watchdog, 3000, 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	ipkvm_loop_destroy(t->loop);
	free(t);
	return 0;
}

static void on_read(void *ctx, int fd, unsigned events)
{
	struct t *t = ctx;
	char buf[16];
	t->last_events = events;
	if (read(fd, buf, sizeof(buf)) > 0)
		t->reads++;
	if (t->reads >= t->stop_after)
		ipkvm_loop_stop(t->loop);
}

static void test_watch_readable(void **state)
{
	struct t *t = *state;
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	t->stop_after = 1;
	t->watch = ipkvm_loop_watch(t->loop, p[0], IPKVM_LOOP_READ, on_read, t);
	assert_non_null(t->watch);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(ipkvm_loop_run(t->loop), 0);
	assert_false(t->timed_out);
	assert_int_equal(t->reads, 1);
	assert_int_equal(t->last_events, IPKVM_LOOP_READ);
	ipkvm_loop_unwatch(t->watch);
	/* The caller's fd is still its own. */
	assert_int_equal(write(p[1], "y", 1), 1);
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
}

/* READ off: nothing is delivered though the fd is readable; on again: it is. */
static void stop_timer(void *ctx)
{
	struct t *t = ctx;
	t->fired++;
	ipkvm_loop_stop(t->loop);
}

static void test_watch_read_off_and_on(void **state)
{
	struct t *t = *state;
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	t->stop_after = 1;
	t->watch = ipkvm_loop_watch(t->loop, p[0], 0, on_read, t);
	assert_non_null(t->watch);
	assert_int_equal(write(p[1], "x", 1), 1);
	t->timer = ipkvm_loop_timer_new(t->loop, stop_timer, t);
	ipkvm_loop_timer_start(t->timer, 100, 0);
	ipkvm_loop_run(t->loop);
	assert_int_equal(t->fired, 1);
	assert_int_equal(t->reads, 0);
	ipkvm_loop_destroy(t->loop); /* a stopped loop stays stopped: a new one */
	t->loop = ipkvm_loop_create(NULL);
	t->watchdog = ipkvm_loop_timer_new(t->loop, watchdog, t);
	ipkvm_loop_timer_start(t->watchdog, 3000, 0);
	t->watch = ipkvm_loop_watch(t->loop, p[0], 0, on_read, t);
	ipkvm_loop_watch_set(t->watch, IPKVM_LOOP_READ);
	ipkvm_loop_run(t->loop);
	assert_false(t->timed_out);
	assert_int_equal(t->reads, 1);
	close(p[0]);
	close(p[1]);
}

/* WRITE: delivered while asked for, again after each callback, and not after it is off. */
static void on_write(void *ctx, int fd, unsigned events)
{
	struct t *t = ctx;
	assert_true(events & IPKVM_LOOP_WRITE);
	if (++t->writes == 3) {
		ipkvm_loop_watch_set(t->watch, IPKVM_LOOP_READ);
		ipkvm_loop_timer_start(t->timer, 100, 0);
	}
}

static void test_watch_writable(void **state)
{
	struct t *t = *state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	t->timer = ipkvm_loop_timer_new(t->loop, stop_timer, t);
	t->watch = ipkvm_loop_watch(t->loop, sv[0], IPKVM_LOOP_WRITE, on_write, t);
	assert_non_null(t->watch);
	ipkvm_loop_run(t->loop);
	assert_false(t->timed_out);
	assert_int_equal(t->writes, 3);
	close(sv[0]);
	close(sv[1]);
}

/* A watch ended (and freed) from inside its own callback. */
static void on_read_unwatch(void *ctx, int fd, unsigned events)
{
	struct t *t = ctx;
	t->reads++;
	ipkvm_loop_unwatch(t->watch);
	t->watch = NULL;
	ipkvm_loop_timer_start(t->timer, 100, 0);
}

static void test_unwatch_inside_callback(void **state)
{
	struct t *t = *state;
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	t->timer = ipkvm_loop_timer_new(t->loop, stop_timer, t);
	t->watch = ipkvm_loop_watch(t->loop, p[0], IPKVM_LOOP_READ, on_read_unwatch, t);
	assert_int_equal(write(p[1], "x", 1), 1); /* never read: still readable */
	ipkvm_loop_run(t->loop);
	assert_false(t->timed_out);
	assert_int_equal(t->reads, 1);
	assert_int_equal(t->fired, 1);
	close(p[0]);
	close(p[1]);
}

static void periodic(void *ctx)
{
	struct t *t = ctx;
	if (++t->fired == 3) {
		ipkvm_loop_timer_stop(t->timer);
		assert_false(ipkvm_loop_timer_pending(t->timer));
		ipkvm_loop_stop(t->loop);
	}
}

static void test_timers(void **state)
{
	struct t *t = *state;
	t->timer = ipkvm_loop_timer_new(t->loop, periodic, t);
	assert_false(ipkvm_loop_timer_pending(t->timer));
	int64_t t0 = ipkvm_mono_ms();
	ipkvm_loop_timer_start(t->timer, 20, 20);
	assert_true(ipkvm_loop_timer_pending(t->timer));
	ipkvm_loop_run(t->loop);
	int64_t ms = ipkvm_mono_ms() - t0;
	assert_false(t->timed_out);
	assert_int_equal(t->fired, 3);
	assert_true(ms >= 55);
	/* A one-shot fires once; restarting moves it; freeing a pending one is fine. */
	struct ipkvm_loop_timer *once = ipkvm_loop_timer_new(t->loop, stop_timer, t);
	ipkvm_loop_timer_start(once, 5000, 0);
	ipkvm_loop_timer_start(once, 0, 0);
	ipkvm_loop_destroy(t->loop);
	t->loop = ipkvm_loop_create(NULL);
	t->fired = 0;
	once = ipkvm_loop_timer_new(t->loop, stop_timer, t);
	ipkvm_loop_timer_set(once, 5000);
	ipkvm_loop_timer_set(once, -1);
	assert_false(ipkvm_loop_timer_pending(once));
	ipkvm_loop_timer_set(NULL, 0); /* ignored */
	ipkvm_loop_timer_set(once, 10);
	ipkvm_loop_run(t->loop);
	assert_int_equal(t->fired, 1);
	assert_false(ipkvm_loop_timer_pending(once));
	ipkvm_loop_timer_free(once);
}

static void on_wake(void *ctx)
{
	struct t *t = ctx;
	t->fired++;
	ipkvm_loop_stop(t->loop);
}

static void on_other(void *ctx)
{
	struct t *t = ctx;
	t->other++;
}

static void *producer(void *arg)
{
	struct t *t = arg;
	usleep(20 * 1000);
	for (int i = 0; i < 100; i++)
		ipkvm_loop_wake(t->wake); /* coalesce into one call, or a few */
	return NULL;
}

static void test_wake_from_another_thread(void **state)
{
	struct t *t = *state;
	t->wake = ipkvm_loop_wake_new(t->loop, on_wake, t);
	t->wake2 = ipkvm_loop_wake_new(t->loop, on_other, t);
	assert_non_null(t->wake);
	assert_non_null(t->wake2);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, producer, t), 0);
	ipkvm_loop_run(t->loop);
	pthread_join(th, NULL);
	assert_false(t->timed_out);
	assert_in_range(t->fired, 1, 100);
	assert_int_equal(t->other, 0); /* only the consumer that was woken */
	ipkvm_loop_wake_free(t->wake2);
}

/* The run ends on a stop asked for before it started, and counts its passes. */
static void test_stop_before_run(void **state)
{
	struct t *t = *state;
	uint64_t before = ipkvm_loop_passes(t->loop);
	ipkvm_loop_stop(t->loop);
	assert_int_equal(ipkvm_loop_run(t->loop), 0);
	assert_int_equal(ipkvm_loop_passes(t->loop), before);
	ipkvm_loop_shutdown(t->loop);
	assert_null(ipkvm_loop_lws(t->loop));
	/* After shutdown, timers and wakes are inert. */
	struct ipkvm_loop_timer *tm = ipkvm_loop_timer_new(t->loop, stop_timer, t);
	ipkvm_loop_timer_start(tm, 0, 0);
	struct ipkvm_loop_wake *w = ipkvm_loop_wake_new(t->loop, on_wake, t);
	ipkvm_loop_wake(w);
	assert_int_equal(t->fired, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_watch_readable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_read_off_and_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_writable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unwatch_inside_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wake_from_another_thread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_before_run, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
