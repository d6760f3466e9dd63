/*
 * Unit tests for core/worker: run() executes on the worker thread, done() on the thread that
 * drains and in submission order, the wake callback fires for finished jobs (from the worker
 * thread), done() waits for a drain, and destroy finishes queued jobs and calls their done().
 * The wake callback writes to a pipe, the way the daemon's main loop is woken, so the tests
 * wait with poll() instead of sleeping blindly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/worker.h"

struct test_job {
	struct ipkvm_job job; /* first: the worker hands back this pointer */
	int index;
	int delay_ms; /* run() sleeps this long */
	pthread_t run_thread, done_thread;
	atomic_bool ran;
	bool ran_before_done;
};

static pthread_t main_thread;
static int run_order[64], done_order[64];
static atomic_int nrun;
static int ndone;
static int wake_pipe[2];
static atomic_int nwake;
static atomic_bool wake_on_main, wake_bad_ctx;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void job_run(struct ipkvm_job *job)
{
	struct test_job *j = (struct test_job *)job;
	if (j->delay_ms)
		sleep_ms(j->delay_ms);
	j->run_thread = pthread_self();
	int i = atomic_fetch_add(&nrun, 1);
	if (i < 64)
		run_order[i] = j->index;
	atomic_store(&j->ran, true);
}

static void job_done(struct ipkvm_job *job)
{
	struct test_job *j = (struct test_job *)job;
	j->done_thread = pthread_self();
	j->ran_before_done = atomic_load(&j->ran);
	/* Checked here, where the job is still alive; the job is freed by its done(). */
	assert_true(pthread_equal(j->done_thread, main_thread));
	assert_false(pthread_equal(j->run_thread, main_thread));
	assert_true(j->ran_before_done);
	if (ndone < 64)
		done_order[ndone] = j->index;
	ndone++;
	free(j);
}

static void wake(void *ctx)
{
	/* Worker thread: no cmocka asserts here, only flags the main thread checks. */
	if (ctx != (void *)&wake_pipe)
		atomic_store(&wake_bad_ctx, true);
	if (pthread_equal(pthread_self(), main_thread))
		atomic_store(&wake_on_main, true);
	atomic_fetch_add(&nwake, 1);
	char c = 'w';
	ssize_t w = write(wake_pipe[1], &c, 1);
	(void)w;
}

static int setup(void **state)
{
	main_thread = pthread_self();
	atomic_store(&nrun, 0);
	atomic_store(&nwake, 0);
	atomic_store(&wake_on_main, false);
	atomic_store(&wake_bad_ctx, false);
	ndone = 0;
	memset(run_order, -1, sizeof(run_order));
	memset(done_order, -1, sizeof(done_order));
	return pipe(wake_pipe);
}

static int teardown(void **state)
{
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	return 0;
}

static struct test_job *new_job(int index, int delay_ms)
{
	struct test_job *j = calloc(1, sizeof(*j));
	assert_non_null(j);
	j->job.run = job_run;
	j->job.done = job_done;
	j->index = index;
	j->delay_ms = delay_ms;
	return j;
}

/* Waits (at most 10 s) for a wake, and consumes the byte it wrote. */
static void wait_wake(void)
{
	struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};
	assert_int_equal(poll(&p, 1, 10000), 1);
	char c;
	assert_int_equal(read(wake_pipe[0], &c, 1), 1);
	assert_int_equal(c, 'w');
}

static void test_one_job(void **state)
{
	struct ipkvm_worker *w = ipkvm_worker_create(wake, &wake_pipe);
	assert_non_null(w);
	ipkvm_worker_submit(w, &new_job(7, 0)->job);
	wait_wake();
	assert_int_equal(atomic_load(&nrun), 1);
	assert_int_equal(atomic_load(&nwake), 1);
	assert_false(atomic_load(&wake_on_main));
	assert_false(atomic_load(&wake_bad_ctx));
	/* Finished, but done() waits for the drain. */
	sleep_ms(20);
	assert_int_equal(ndone, 0);
	ipkvm_worker_drain(w);
	assert_int_equal(ndone, 1);
	assert_int_equal(done_order[0], 7);
	/* Nothing left: another drain calls nothing. */
	ipkvm_worker_drain(w);
	assert_int_equal(ndone, 1);
	ipkvm_worker_destroy(w);
	assert_int_equal(ndone, 1);
}

static void test_order(void **state)
{
	enum { N = 20 };
	struct ipkvm_worker *w = ipkvm_worker_create(wake, &wake_pipe);
	assert_non_null(w);
	/* Varying run times must not change the order. */
	for (int i = 0; i < N; i++)
		ipkvm_worker_submit(w, &new_job(i, (i * 7) % 5)->job);
	/* Drain as wakes come in, the way the main loop does. */
	for (int woken = 0; woken < N; woken++) {
		wait_wake();
		ipkvm_worker_drain(w);
	}
	ipkvm_worker_drain(w);
	assert_int_equal(atomic_load(&nrun), N);
	assert_int_equal(atomic_load(&nwake), N);
	assert_int_equal(ndone, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(run_order[i], i);
		assert_int_equal(done_order[i], i);
	}
	ipkvm_worker_destroy(w);
	assert_int_equal(ndone, N);
	assert_false(atomic_load(&wake_on_main));
}

static void test_no_wake_callback(void **state)
{
	struct ipkvm_worker *w = ipkvm_worker_create(NULL, NULL);
	assert_non_null(w);
	for (int i = 0; i < 3; i++)
		ipkvm_worker_submit(w, &new_job(i, 0)->job);
	for (int tries = 0; ndone < 3 && tries < 1000; tries++) {
		ipkvm_worker_drain(w);
		if (ndone < 3)
			sleep_ms(10);
	}
	assert_int_equal(ndone, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(done_order[i], i);
	ipkvm_worker_destroy(w);
}

static void test_destroy_finishes_queued(void **state)
{
	enum { N = 6 };
	struct ipkvm_worker *w = ipkvm_worker_create(wake, &wake_pipe);
	assert_non_null(w);
	/* The first job takes a while, so the others are still queued at destroy. */
	ipkvm_worker_submit(w, &new_job(0, 100)->job);
	for (int i = 1; i < N; i++)
		ipkvm_worker_submit(w, &new_job(i, 0)->job);
	assert_int_equal(ndone, 0);
	assert_true(atomic_load(&nrun) < N);
	ipkvm_worker_destroy(w);
	assert_int_equal(atomic_load(&nrun), N);
	assert_int_equal(ndone, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(run_order[i], i);
		assert_int_equal(done_order[i], i);
	}
	ipkvm_worker_destroy(NULL);
}

static void test_destroy_idle(void **state)
{
	struct ipkvm_worker *w = ipkvm_worker_create(wake, &wake_pipe);
	assert_non_null(w);
	ipkvm_worker_destroy(w);
	assert_int_equal(ndone, 0);
	assert_int_equal(atomic_load(&nwake), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_one_job, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_wake_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_destroy_finishes_queued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_destroy_idle, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
