/*
 * test_placeholder: the no-video picture: size and format, the title's text really drawn
 * (the title band holds light pixels, the rest of the frame is the dark background), and
 * different states give different pictures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "video/placeholder.h"

static struct ipkvm_frame *render(enum ipkvm_signal state, const char *reason, unsigned w,
				  unsigned h)
{
	struct ipkvm_signal_info info = {.state = state};
	snprintf(info.reason, sizeof(info.reason), "%s", reason);
	struct ipkvm_frame *f = ipkvm_placeholder_render(&info, w, h);
	assert_non_null(f);
	return f;
}

/* Rows that contain at least one pixel of luma above 150 (text is light on dark). */
static int light_rows(const struct ipkvm_frame *f, unsigned from, unsigned to)
{
	int n = 0;
	for (unsigned y = from; y < to; y++) {
		const uint8_t *row = f->data + (size_t)y * f->stride;
		for (unsigned x = 0; x < f->width; x++) {
			if (row[2 * x] > 150) {
				n++;
				break;
			}
		}
	}
	return n;
}

static void test_geometry_and_text(void **state)
{
	struct ipkvm_frame *f = render(IPKVM_SIGNAL_NO_SIGNAL, "the target is off", 0, 0);
	assert_int_equal(f->format, IPKVM_FMT_YUYV);
	assert_int_equal(f->width, 1280);
	assert_int_equal(f->height, 720);
	/* Corners are background. */
	assert_true(f->data[0] < 40);
	assert_true(f->data[(size_t)719 * f->stride] < 40);
	/* The title (scale 4: 64 px high) and the reason line are in the middle third. */
	assert_true(light_rows(f, 240, 480) >= 40);
	assert_int_equal(light_rows(f, 0, 200), 0);
	ipkvm_frame_unref(f);
	assert_string_equal(ipkvm_placeholder_title(IPKVM_SIGNAL_NO_SIGNAL), "NO SIGNAL");
	assert_string_equal(ipkvm_placeholder_title(IPKVM_SIGNAL_NO_DEVICE), "NO CAPTURE DEVICE");
}

static void test_states_differ(void **state)
{
	struct ipkvm_frame *a = render(IPKVM_SIGNAL_NO_SIGNAL, "x", 640, 360);
	struct ipkvm_frame *b = render(IPKVM_SIGNAL_UNSUPPORTED, "x", 640, 360);
	struct ipkvm_frame *c = render(IPKVM_SIGNAL_NO_SIGNAL, "another reason", 640, 360);
	struct ipkvm_frame *d = render(IPKVM_SIGNAL_NO_SIGNAL, "x", 640, 360);
	assert_int_equal(a->size, b->size);
	assert_memory_not_equal(a->data, b->data, a->size);
	assert_memory_not_equal(a->data, c->data, a->size);
	assert_memory_equal(a->data, d->data, a->size); /* deterministic */
	ipkvm_frame_unref(a);
	ipkvm_frame_unref(b);
	ipkvm_frame_unref(c);
	ipkvm_frame_unref(d);
}

static void test_long_reason_and_small_frames(void **state)
{
	char reason[180];
	memset(reason, 'w', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	struct ipkvm_frame *f = render(IPKVM_SIGNAL_ERROR, reason, 161, 40); /* odd width */
	assert_int_equal(f->width, 162);
	ipkvm_frame_unref(f);
	f = render(IPKVM_SIGNAL_UNSUPPORTED,
		   "1920x1080@75 is not supported: set the target to 1080p60 or 1080p50", 320, 240);
	assert_true(light_rows(f, 0, 240) > 0);
	ipkvm_frame_unref(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_geometry_and_text),
	    cmocka_unit_test(test_states_differ),
	    cmocka_unit_test(test_long_reason_and_small_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
