/*
 * test_source_virtual: the virtual target's screen as a video source (target/source_virtual.c)
 * on a real virtual target: its name and fd, a frame per change and none while unchanged,
 * "nothing yet" rather than an error while the target is off, the first picture again after
 * a power cycle or a reopen, and the signal the target reports.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "target/virtual.h"

static int64_t now_ms = 1000;

static int64_t t_now(void *ctx)
{
	(void)ctx;
	return now_ms;
}

static void t_timer(void *ctx, int64_t ms)
{
	(void)ctx;
	(void)ms;
}

static void press_power(struct ipkvm_vtarget *vt)
{
	const struct ipkvm_atx_lines *l = ipkvm_vtarget_atx_lines(vt);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_BUTTON, true), 0);
	now_ms += 200;
	ipkvm_vtarget_tick(vt);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_BUTTON, false), 0);
}

static void test_virtual_source(void **state)
{
	(void)state;
	struct ipkvm_vtarget_config cfg = {.width = 1920,
					   .height = 1080,
					   .fps = 60,
					   .format = IPKVM_FMT_YUYV,
					   .layout = "us",
					   .timer = t_timer,
					   .now_ms = t_now};
	char err[128] = "";
	struct ipkvm_vtarget *vt = ipkvm_vtarget_create(&cfg, err, sizeof(err));
	assert_non_null(vt);
	struct ipkvm_source *s = ipkvm_source_virtual_create(vt);
	assert_non_null(s);
	const struct ipkvm_source_ops *ops = s->ops;
	assert_string_equal(ops->name, "virtual");
	assert_int_equal(ops->fd(s), ipkvm_vtarget_video_fd(vt));
	assert_int_equal(ops->open(s), 0);
	assert_int_equal(ops->start(s), 0);

	/* Off: no signal, and no frame without it being an error (the capture goes on). */
	struct ipkvm_signal_info sig = {0};
	ops->signal(s, &sig);
	assert_int_equal(sig.state, IPKVM_SIGNAL_NO_SIGNAL);
	assert_int_equal(sig.capture, IPKVM_CAPTURE_VIRTUAL);
	struct ipkvm_frame *f = NULL;
	assert_int_equal(ops->next(s, &f), -EAGAIN);
	assert_null(f);

	/* On: the firmware's picture once, then nothing while it does not change. */
	press_power(vt);
	ops->signal(s, &sig);
	assert_int_equal(sig.state, IPKVM_SIGNAL_OK);
	assert_int_equal(sig.capture, IPKVM_CAPTURE_VIRTUAL);
	assert_string_equal(ipkvm_capture_name(sig.capture), "virtual");
	assert_int_equal(sig.width, 1024);
	assert_int_equal(ops->next(s, &f), 0);
	assert_non_null(f);
	assert_int_equal(f->width, 1024);
	assert_int_equal(f->height, 768);
	assert_int_equal(f->format, IPKVM_FMT_YUYV);
	ipkvm_frame_unref(f);
	f = NULL;
	assert_int_equal(ops->next(s, &f), -EAGAIN);

	/* A reopened source starts with the picture as it is. */
	ops->stop(s);
	ops->close(s);
	assert_int_equal(ops->open(s), 0);
	assert_int_equal(ops->start(s), 0);
	assert_int_equal(ops->next(s, &f), 0);
	ipkvm_frame_unref(f);
	f = NULL;
	assert_int_equal(ops->next(s, &f), -EAGAIN);

	/* Off (held past the forced power-off) and on again: the first picture comes again. */
	const struct ipkvm_atx_lines *l = ipkvm_vtarget_atx_lines(vt);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_BUTTON, true), 0);
	now_ms += 6000;
	ipkvm_vtarget_tick(vt);
	assert_int_equal(l->set(l->ctx, IPKVM_ATX_POWER_BUTTON, false), 0);
	ops->signal(s, &sig);
	assert_int_equal(sig.state, IPKVM_SIGNAL_NO_SIGNAL);
	assert_int_equal(ops->next(s, &f), -EAGAIN);
	now_ms += 1000;
	press_power(vt);
	assert_int_equal(ops->next(s, &f), 0);
	assert_int_equal(f->width, 1024);
	ipkvm_frame_unref(f);

	ops->stop(s);
	ops->close(s);
	ops->destroy(s);
	ipkvm_vtarget_destroy(vt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_virtual_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
