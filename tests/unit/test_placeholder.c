/*
 * Unit tests for video/placeholder: titles per state, frame size and format (default size,
 * odd widths), the background colour, the title drawn large and centred in the middle of the
 * frame, the reason line below it (wrapped within the margins when long), that different
 * states give different pictures and the same input the same picture, and tiny frames.
 * Pixels are recognised by their exact BT.601 luma: title (236,238,242) → Y 220, reason
 * (170,176,188) → Y 167, background (16,18,22) → Y 31/U 130/V 127.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "video/placeholder.h"

#define Y_TITLE	 220
#define Y_REASON 167

static struct ipkvm_signal_info info(enum ipkvm_signal st, const char *reason)
{
	struct ipkvm_signal_info si = {.state = st};
	snprintf(si.reason, sizeof(si.reason), "%s", reason);
	return si;
}

static uint8_t Y_at(const struct ipkvm_frame *f, unsigned x, unsigned y)
{
	return f->data[(size_t)y * f->stride + (size_t)x * 2];
}

/* Rows [*first, *last] and columns [*left, *right] holding luma y; false when none. */
static bool extent(const struct ipkvm_frame *f, uint8_t y, int *first, int *last, int *left,
		   int *right)
{
	*first = *left = 1 << 30;
	*last = *right = -1;
	for (unsigned r = 0; r < f->height; r++)
		for (unsigned x = 0; x < f->width; x++)
			if (Y_at(f, x, r) == y) {
				if ((int)r < *first)
					*first = (int)r;
				*last = (int)r;
				if ((int)x < *left)
					*left = (int)x;
				if ((int)x > *right)
					*right = (int)x;
			}
	return *last >= 0;
}

static void test_titles(void **state)
{
	assert_string_equal(ipkvm_placeholder_title(IPKVM_SIGNAL_NO_SIGNAL), "NO SIGNAL");
	assert_string_equal(ipkvm_placeholder_title(IPKVM_SIGNAL_NO_DEVICE), "NO CAPTURE DEVICE");
	assert_string_equal(ipkvm_placeholder_title(IPKVM_SIGNAL_NO_SYNC), "NO SYNC");
	assert_string_equal(ipkvm_placeholder_title(IPKVM_SIGNAL_UNSUPPORTED),
			    "UNSUPPORTED VIDEO MODE");
	assert_string_equal(ipkvm_placeholder_title(IPKVM_SIGNAL_BUSY), "CAPTURE DEVICE BUSY");
	assert_string_equal(ipkvm_placeholder_title(IPKVM_SIGNAL_ERROR), "VIDEO ERROR");
	assert_string_equal(ipkvm_placeholder_title((enum ipkvm_signal)99), "VIDEO ERROR");
}

static void test_size_format(void **state)
{
	struct ipkvm_signal_info si = info(IPKVM_SIGNAL_NO_SIGNAL, "nothing connected");
	struct ipkvm_frame *f = ipkvm_placeholder_render(&si, 0, 0);
	assert_non_null(f);
	assert_int_equal(f->format, IPKVM_FMT_YUYV);
	assert_int_equal(f->width, 1280);
	assert_int_equal(f->height, 720);
	assert_int_equal(f->stride, 2560);
	assert_int_equal(f->size, 2560 * 720);
	assert_int_equal(f->seq, 0);
	assert_int_equal(f->ts_us, 0);
	assert_int_equal(f->refs, 1);
	/* Background in the corner, exact. */
	assert_int_equal(f->data[0], 31);
	assert_int_equal(f->data[1], 130);
	assert_int_equal(f->data[2], 31);
	assert_int_equal(f->data[3], 127);
	ipkvm_frame_unref(f);

	f = ipkvm_placeholder_render(&si, 1921, 1080); /* odd width is made even */
	assert_non_null(f);
	assert_int_equal(f->width, 1922);
	assert_int_equal(f->height, 1080);
	assert_int_equal(f->stride, 1922 * 2);
	ipkvm_frame_unref(f);

	f = ipkvm_placeholder_render(&si, 640, 0); /* either 0 → the default */
	assert_non_null(f);
	assert_int_equal(f->width, 1280);
	assert_int_equal(f->height, 720);
	ipkvm_frame_unref(f);
}

static void test_layout(void **state)
{
	struct ipkvm_signal_info si = info(IPKVM_SIGNAL_NO_SIGNAL, "nothing connected");
	struct ipkvm_frame *f = ipkvm_placeholder_render(&si, 1280, 720);
	assert_non_null(f);
	int t0, t1, tl, tr, r0, r1, rl, rr;
	assert_true(extent(f, Y_TITLE, &t0, &t1, &tl, &tr));
	/* "NO SIGNAL" at scale 4: 9 cells of 32 px = 288 px; glyph ink spans at most 64 rows. */
	assert_true(t1 - t0 < 64);
	assert_true(t1 - t0 >= 30);
	assert_true(tr - tl < 288 && tr - tl > 250);
	assert_in_range((tl + tr) / 2, 640 - 8, 640 + 8); /* centred */
	assert_true(t0 > 200 && t1 < 360);		  /* upper middle */
	/* Reason below the title, at scale 2, centred. */
	assert_true(extent(f, Y_REASON, &r0, &r1, &rl, &rr));
	assert_true(r0 > t1);
	assert_true(r1 - r0 < 32);
	assert_in_range((rl + rr) / 2, 640 - 8, 640 + 8);
	assert_true(rr - rl < 17 * 16 && rr - rl > 15 * 16);
	ipkvm_frame_unref(f);
}

static void test_wrap(void **state)
{
	struct ipkvm_signal_info si =
	    info(IPKVM_SIGNAL_UNSUPPORTED, "1920x1080@75 is not supported: set the target to "
					   "1080p60 or 1080p50, or change the EDID the capture "
					   "device advertises");
	struct ipkvm_frame *f = ipkvm_placeholder_render(&si, 640, 480);
	assert_non_null(f);
	int t0, t1, tl, tr, r0, r1, rl, rr;
	/* The title (22 characters) no longer fits at scale 4 in 640 px: still all inside. */
	assert_true(extent(f, Y_TITLE, &t0, &t1, &tl, &tr));
	assert_true(tl >= 40 && tr < 600);
	/* The reason wraps within the margins (640 / 16 = 40 px each side) over several lines. */
	assert_true(extent(f, Y_REASON, &r0, &r1, &rl, &rr));
	assert_true(rl >= 40);
	assert_true(rr < 600);
	assert_true(r1 - r0 > 3 * 32);
	/* Count the separate bands of reason rows. */
	int bands = 0;
	bool prev = false;
	for (unsigned y = 0; y < f->height; y++) {
		bool any = false;
		for (unsigned x = 0; x < f->width && !any; x++)
			any = Y_at(f, x, y) == Y_REASON;
		if (any && !prev)
			bands++;
		prev = any;
	}
	assert_true(bands >= 4);
	ipkvm_frame_unref(f);
}

static void test_states_differ(void **state)
{
	enum ipkvm_signal st[] = {IPKVM_SIGNAL_NO_DEVICE, IPKVM_SIGNAL_NO_SIGNAL,
				  IPKVM_SIGNAL_NO_SYNC,	  IPKVM_SIGNAL_UNSUPPORTED,
				  IPKVM_SIGNAL_BUSY,	  IPKVM_SIGNAL_ERROR};
	struct ipkvm_frame *fr[6];
	for (int i = 0; i < 6; i++) {
		struct ipkvm_signal_info si = info(st[i], "same reason");
		fr[i] = ipkvm_placeholder_render(&si, 320, 240);
		assert_non_null(fr[i]);
		assert_int_equal(fr[i]->size, 320 * 240 * 2);
	}
	for (int i = 0; i < 6; i++)
		for (int j = i + 1; j < 6; j++)
			assert_memory_not_equal(fr[i]->data, fr[j]->data, fr[i]->size);
	/* Same input, same picture; another reason, another picture. */
	struct ipkvm_signal_info si = info(st[0], "same reason");
	struct ipkvm_frame *again = ipkvm_placeholder_render(&si, 320, 240);
	assert_memory_equal(again->data, fr[0]->data, again->size);
	si = info(st[0], "other reason");
	struct ipkvm_frame *other = ipkvm_placeholder_render(&si, 320, 240);
	assert_memory_not_equal(other->data, fr[0]->data, other->size);
	ipkvm_frame_unref(other);
	ipkvm_frame_unref(again);
	for (int i = 0; i < 6; i++)
		ipkvm_frame_unref(fr[i]);
}

static void test_edge_cases(void **state)
{
	/* Tiny frames, a reason that is one long word, no info, an empty reason. */
	char word[191];
	memset(word, 'x', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	struct ipkvm_signal_info si = info(IPKVM_SIGNAL_BUSY, word);
	unsigned sizes[][2] = {{2, 2}, {16, 16}, {18, 7}, {100, 40}, {640, 48}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct ipkvm_frame *f = ipkvm_placeholder_render(&si, sizes[i][0], sizes[i][1]);
		assert_non_null(f);
		assert_int_equal(f->width, sizes[i][0]);
		ipkvm_frame_unref(f);
	}
	struct ipkvm_frame *f = ipkvm_placeholder_render(NULL, 320, 240);
	assert_non_null(f);
	si = info(IPKVM_SIGNAL_ERROR, "");
	struct ipkvm_frame *g = ipkvm_placeholder_render(&si, 320, 240);
	assert_memory_equal(f->data, g->data, f->size); /* NULL info = error, no reason */
	int r0, r1, rl, rr;
	assert_false(extent(g, Y_REASON, &r0, &r1, &rl, &rr));
	ipkvm_frame_unref(g);
	ipkvm_frame_unref(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_titles),	  cmocka_unit_test(test_size_format),
	    cmocka_unit_test(test_layout),	  cmocka_unit_test(test_wrap),
	    cmocka_unit_test(test_states_differ), cmocka_unit_test(test_edge_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
