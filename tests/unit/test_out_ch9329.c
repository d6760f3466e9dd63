/*
 * Unit tests for hid/out_ch9329. A SOCK_STREAM socketpair plays the serial line (a byte
 * stream, like a UART), injected through the config's open_fn seam; time is injected through
 * the now_ms callback. Expected frames are written out by hand with their checksums computed in
 * the comments. Covered: frame bytes for every command, absolute scaling to 0..4095, NKRO to
 * boot translation, one command in flight until its ACK, error answers (cmd | 0xC0 and a bad
 * status) counted, ACK timeout → one resend → counted timeout, answers split across reads and
 * behind garbage, coalescing while the chip is busy, EOF → offline, and termios on a pty.
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
#include <termios.h>
#include <unistd.h>

#include "hid/output.h"

struct fake {
	int ours;
	int chip; /* the "CH9329" end */
	int64_t now;
	int written[IPKVM_HID_KIND_COUNT];
	int state_calls;
	bool last_online;
	char pty_path[128];
	int timer_calls;
	int64_t timer_delay;
	struct ipkvm_hid_output *out;
};

static int fake_open(void *ctx, const char *path)
{
	struct fake *f = ctx;
	int fd = f->ours;

	if (fd < 0)
		return -ENOENT;
	f->ours = -1;
	return fd;
}

static void cb_written(void *ctx, struct ipkvm_hid_output *out, enum ipkvm_hid_kind kind)
{
	struct fake *f = ctx;
	f->written[kind]++;
}

static void cb_state(void *ctx, struct ipkvm_hid_output *out, bool online, const char *reason)
{
	struct fake *f = ctx;
	f->state_calls++;
	f->last_online = online;
}

static void cb_timer(void *ctx, struct ipkvm_hid_output *out, int64_t delay)
{
	struct fake *f = ctx;
	f->timer_calls++;
	f->timer_delay = delay;
}

static int64_t cb_now(void *ctx)
{
	struct fake *f = ctx;
	return f->now;
}

static struct fake *make(uint8_t addr)
{
	struct fake *f = calloc(1, sizeof(*f));
	int sv[2];
	struct ipkvm_hid_ch9329_config cfg = {.path = "/dev/ttyFAKE",
					      .baud = 115200,
					      .addr = addr,
					      .ack_timeout_ms = 100,
					      .open_fn = fake_open};
	struct ipkvm_hid_output_cb cb = {
	    .state = cb_state, .written = cb_written, .timer = cb_timer, .now_ms = cb_now};

	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->ours = sv[0];
	f->chip = sv[1];
	assert_int_equal(fcntl(f->chip, F_SETFL, O_NONBLOCK), 0);
	f->now = 5000;
	cfg.open_ctx = f;
	cb.ctx = f;
	assert_int_equal(ipkvm_hid_ch9329_create(&cfg, &cb, &f->out), 0);
	assert_int_equal(ipkvm_hid_output_start(f->out), 0);
	assert_true(f->out->online);
	return f;
}

static int setup(void **state)
{
	*state = make(0x00);
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	ipkvm_hid_output_destroy(f->out);
	if (f->ours >= 0)
		close(f->ours);
	if (f->chip >= 0)
		close(f->chip);
	free(f);
	return 0;
}

static int out_fd(struct fake *f)
{
	struct pollfd fds[IPKVM_HID_OUT_MAX_FDS];
	assert_int_equal(ipkvm_hid_output_pollfds(f->out, fds, IPKVM_HID_OUT_MAX_FDS), 1);
	assert_true(fds[0].events & POLLIN);
	return fds[0].fd;
}

/* What the chip received since the last call. */
static size_t chip_read(struct fake *f, uint8_t *buf, size_t len)
{
	ssize_t n = read(f->chip, buf, len);
	return n < 0 ? 0 : (size_t)n;
}

static void expect_frame(struct fake *f, const uint8_t *exp, size_t len)
{
	uint8_t buf[128];
	size_t n = chip_read(f, buf, sizeof(buf));
	assert_int_equal(n, len);
	assert_memory_equal(buf, exp, len);
}

static void chip_says(struct fake *f, const uint8_t *bytes, size_t len)
{
	assert_int_equal(write(f->chip, bytes, len), (ssize_t)len);
	assert_int_equal(ipkvm_hid_output_on_readable(f->out, out_fd(f)), 0);
}

/* 57 AB 00 82 01 00, sum 0x57+0xAB+0x82+0x01 = 0x185 → 0x85 */
static const uint8_t ack_kbd[7] = {0x57, 0xAB, 0x00, 0x82, 0x01, 0x00, 0x85};

static void test_frame_helper_and_scale(void **state)
{
	const uint8_t rep[8] = {0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00};
	const uint8_t exp[14] = {0x57, 0xAB, 0x00, 0x02, 0x08, 0x00, 0x00,
				 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
	uint8_t buf[80];

	assert_int_equal(ipkvm_hid_ch9329_frame(0x00, 0x02, rep, 8, buf), 14);
	assert_memory_equal(buf, exp, 14);
	/* GET_INFO (no data): 57 AB 00 01 00, sum 0x103 → 0x03 */
	const uint8_t info[6] = {0x57, 0xAB, 0x00, 0x01, 0x00, 0x03};
	assert_int_equal(ipkvm_hid_ch9329_frame(0x00, 0x01, NULL, 0, buf), 6);
	assert_memory_equal(buf, info, 6);

	assert_int_equal(ipkvm_hid_ch9329_scale(0), 0);
	assert_int_equal(ipkvm_hid_ch9329_scale(32767), 4095);
	assert_int_equal(ipkvm_hid_ch9329_scale(16384), 2048);
	assert_int_equal(ipkvm_hid_ch9329_scale(8), 1);	       /* 8*4095/32767 = 0.9998 → 1 */
	assert_int_equal(ipkvm_hid_ch9329_scale(4), 0);	       /* 0.4999 → 0 */
	assert_int_equal(ipkvm_hid_ch9329_scale(65535), 4095); /* clamped */
}

static void test_keyboard_frame_and_one_in_flight(void **state)
{
	struct fake *f = *state;
	const uint8_t kbd[8] = {0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00};
	const uint8_t kbd_frame[14] = {0x57, 0xAB, 0x00, 0x02, 0x08, 0x00, 0x00,
				       0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
	/* buttons 1, x 32767 → 4095 (FF 0F), y 16384 → 2048 (00 08), wheel -1, hwheel dropped.
	 * sum 57+AB+00+04+07+02+01+FF+0F+00+08+FF = 0x325 → 0x25 */
	const uint8_t abs[7] = {0x01, 0xFF, 0x7F, 0x00, 0x40, 0xFF, 0x03};
	const uint8_t abs_frame[13] = {0x57, 0xAB, 0x00, 0x04, 0x07, 0x02, 0x01,
				       0xFF, 0x0F, 0x00, 0x08, 0xFF, 0x25};
	/* sum 57+AB+00+84+01+00 = 0x187 → 0x87 */
	const uint8_t ack_abs[7] = {0x57, 0xAB, 0x00, 0x84, 0x01, 0x00, 0x87};

	assert_int_equal(f->timer_calls, 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	expect_frame(f, kbd_frame, 14);
	/* The loop is told when the ACK timeout is due. */
	assert_int_equal(f->timer_calls, 1);
	assert_int_equal(f->timer_delay, 100);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_ABS, abs, 7), 0);
	/* Not written before the keyboard command is acknowledged. */
	uint8_t buf[32];
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 0);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 2);
	assert_int_equal(f->out->counters.queued, 1);

	/* An answer to another command is ignored. */
	chip_says(f, ack_abs, 7);
	assert_int_equal(f->written[IPKVM_HID_KEYBOARD], 0);
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 0);

	chip_says(f, ack_kbd, 7);
	assert_int_equal(f->written[IPKVM_HID_KEYBOARD], 1);
	expect_frame(f, abs_frame, 13);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 1);
	chip_says(f, ack_abs, 7);
	assert_int_equal(f->written[IPKVM_HID_MOUSE_ABS], 1);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 0);
	assert_int_equal(f->out->counters.written, 2);
	assert_int_equal(f->out->counters.errors, 0);
	assert_int_equal(ipkvm_hid_output_tick(f->out), -1); /* nothing in flight */
	assert_int_equal(f->timer_delay, -1);
}

static void test_rel_media_system_frames(void **state)
{
	struct fake *f = *state;
	/* 57 AB 00 05 05 01 01 05 FB 01: sum 0x20F → 0x0F */
	const uint8_t rel[5] = {0x01, 0x05, 0xFB, 0x01, 0x00};
	const uint8_t rel_frame[11] = {0x57, 0xAB, 0x00, 0x05, 0x05, 0x01,
				       0x01, 0x05, 0xFB, 0x01, 0x0F};
	const uint8_t ack_rel[7] = {0x57, 0xAB, 0x00, 0x85, 0x01, 0x00, 0x88};
	/* Volume Increment (0xE9) → multimedia byte 1 bit 0: 57 AB 00 03 04 02 01 00 00, 0x0C */
	const uint8_t vol[3] = {0x01, 0xE9, 0x00};
	const uint8_t vol_frame[10] = {0x57, 0xAB, 0x00, 0x03, 0x04, 0x02, 0x01, 0x00, 0x00, 0x0C};
	/* AL Calculator (0x192) → byte 3 bit 2: 57 AB 00 03 04 02 00 00 04, sum 0x10F → 0x0F */
	const uint8_t calc[3] = {0x01, 0x92, 0x01};
	const uint8_t calc_frame[10] = {0x57, 0xAB, 0x00, 0x03, 0x04, 0x02, 0x00, 0x00, 0x04, 0x0F};
	/* ACK of 0x03: 57 AB 00 83 01 00, 0x186 → 0x86 */
	const uint8_t ack_media[7] = {0x57, 0xAB, 0x00, 0x83, 0x01, 0x00, 0x86};
	/* System power: 57 AB 00 03 02 01 01, sum 0x109 → 0x09 */
	const uint8_t pwr[2] = {0x02, 0x01};
	const uint8_t pwr_frame[8] = {0x57, 0xAB, 0x00, 0x03, 0x02, 0x01, 0x01, 0x09};

	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_REL, rel, 5), 0);
	expect_frame(f, rel_frame, 11);
	chip_says(f, ack_rel, 7);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_CONSUMER, vol, 3), 0);
	expect_frame(f, vol_frame, 10);
	chip_says(f, ack_media, 7);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_CONSUMER, calc, 3), 0);
	expect_frame(f, calc_frame, 10);
	chip_says(f, ack_media, 7);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_SYSTEM, pwr, 2), 0);
	expect_frame(f, pwr_frame, 8);
	chip_says(f, ack_media, 7);
	assert_int_equal(f->out->counters.written, 4);

	/* A consumer usage the chip has no bit for is refused up front. */
	const uint8_t bright[3] = {0x01, 0x6F, 0x00};
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_CONSUMER, bright, 3), -EOPNOTSUPP);
	const uint8_t short_kbd[4] = {0};
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, short_kbd, 4), -EINVAL);
}

static void test_nkro_as_boot(void **state)
{
	struct fake *f = *state;
	uint8_t nkro[29] = {0};
	/* LeftShift + A (0x04) + Z (0x1D): boot report 02 00 04 1D 00 00 00 00
	 * frame 57 AB 00 02 08 02 00 04 1D 00 00 00 00, sum 0x10C+2+4+0x1D = 0x12F → 0x2F */
	const uint8_t frame[14] = {0x57, 0xAB, 0x00, 0x02, 0x08, 0x02, 0x00,
				   0x04, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x2F};

	nkro[0] = 0x02;
	nkro[1 + 0x04 / 8] |= 1u << (0x04 % 8);
	nkro[1 + 0x1D / 8] |= 1u << (0x1D % 8);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, nkro, 29), 0);
	expect_frame(f, frame, 14);
	chip_says(f, ack_kbd, 7);

	/* Seven keys: phantom state 01 x6, modifiers kept.
	 * 57 AB 00 02 08 02 00 01 01 01 01 01 01, sum 0x10C+2+6 = 0x114 → 0x14 */
	const uint8_t phantom[14] = {0x57, 0xAB, 0x00, 0x02, 0x08, 0x02, 0x00,
				     0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x14};
	for (unsigned u = 0x04; u < 0x04 + 7; u++)
		nkro[1 + u / 8] |= (uint8_t)(1u << (u % 8));
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, nkro, 29), 0);
	expect_frame(f, phantom, 14);
}

static void test_error_answers_counted(void **state)
{
	struct fake *f = *state;
	const uint8_t kbd[8] = {0};
	uint8_t buf[32];
	/* Error frame cmd|0xC0 with status E1: 57 AB 00 C2 01 E1, sum 0x2A6 → 0xA6 */
	const uint8_t err_frame[7] = {0x57, 0xAB, 0x00, 0xC2, 0x01, 0xE1, 0xA6};
	/* ACK frame with parameter error status E5: 57 AB 00 82 01 E5, 0x26A → 0x6A */
	const uint8_t bad_status[7] = {0x57, 0xAB, 0x00, 0x82, 0x01, 0xE5, 0x6A};

	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 14);
	chip_says(f, err_frame, 7);
	assert_int_equal(f->out->counters.errors, 1);
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 14); /* next one went out, no resend */
	chip_says(f, bad_status, 7);
	assert_int_equal(f->out->counters.errors, 2);
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 14);
	chip_says(f, ack_kbd, 7);
	assert_int_equal(f->out->counters.errors, 2);
	assert_int_equal(f->out->counters.written, 1);
	assert_int_equal(f->written[IPKVM_HID_KEYBOARD], 1);
	assert_int_equal(ipkvm_hid_output_pending(f->out), 0);
}

static void test_answer_split_garbage_bad_sum(void **state)
{
	struct fake *f = *state;
	const uint8_t kbd[8] = {0};
	uint8_t buf[32];

	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 14);
	/* Line noise, then an ACK with a wrong checksum: neither completes the command. */
	const uint8_t noise[3] = {0x00, 0x57, 0x12};
	const uint8_t bad_sum[7] = {0x57, 0xAB, 0x00, 0x82, 0x01, 0x00, 0x86};
	chip_says(f, noise, 3);
	chip_says(f, bad_sum, 7);
	assert_int_equal(f->out->counters.written, 0);
	assert_int_equal(f->out->counters.errors, 1);
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 0);
	/* The good ACK in three pieces. */
	chip_says(f, ack_kbd, 2);
	chip_says(f, ack_kbd + 2, 3);
	assert_int_equal(f->out->counters.written, 0);
	chip_says(f, ack_kbd + 5, 2);
	assert_int_equal(f->out->counters.written, 1);
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 14);
}

static void test_timeout_resend_once(void **state)
{
	struct fake *f = *state;
	const uint8_t kbd1[8] = {0, 0, 0x04, 0, 0, 0, 0, 0};
	const uint8_t kbd2[8] = {0};
	const uint8_t frame1[14] = {0x57, 0xAB, 0x00, 0x02, 0x08, 0x00, 0x00,
				    0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
	/* all-zero report: sum 0x10C → 0x0C */
	const uint8_t frame2[14] = {0x57, 0xAB, 0x00, 0x02, 0x08, 0x00, 0x00,
				    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0C};

	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd1, 8), 0);
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd2, 8), 0);
	expect_frame(f, frame1, 14);
	assert_int_equal(ipkvm_hid_output_tick(f->out), 100);
	f->now += 99;
	assert_int_equal(ipkvm_hid_output_tick(f->out), 1);
	f->now += 1;
	/* Timeout: the same frame once more, a new 100 ms deadline. */
	assert_int_equal(ipkvm_hid_output_tick(f->out), 100);
	assert_int_equal(f->out->counters.resends, 1);
	expect_frame(f, frame1, 14);
	f->now += 100;
	/* Second timeout: counted, skipped, the next report goes out. */
	assert_int_equal(ipkvm_hid_output_tick(f->out), 100);
	assert_int_equal(f->out->counters.timeouts, 1);
	assert_int_equal(f->out->counters.resends, 1);
	expect_frame(f, frame2, 14);
	/* A resend that is then acknowledged counts as written, not as a timeout. */
	f->now += 100;
	assert_int_equal(ipkvm_hid_output_tick(f->out), 100);
	expect_frame(f, frame2, 14);
	chip_says(f, ack_kbd, 7);
	assert_int_equal(f->out->counters.written, 1);
	assert_int_equal(f->out->counters.resends, 2);
	assert_int_equal(f->out->counters.timeouts, 1);
	assert_int_equal(ipkvm_hid_output_tick(f->out), -1);
}

static void test_silent_chip_goes_offline(void **state)
{
	struct fake *f = *state;
	uint8_t buf[64];

	for (int i = 0; i < 4; i++) {
		const uint8_t kbd[8] = {0, 0, (uint8_t)(4 + i), 0, 0, 0, 0, 0};
		assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(chip_read(f, buf, sizeof(buf)), 14);
		assert_int_equal(buf[7], 4 + i);
		f->now += 100;
		ipkvm_hid_output_tick(f->out); /* resend */
		assert_int_equal(chip_read(f, buf, sizeof(buf)), 14);
		assert_true(f->out->online);
		f->now += 100;
		ipkvm_hid_output_tick(f->out); /* timeout */
	}
	assert_int_equal(f->out->counters.timeouts, 3);
	assert_false(f->out->online);
	assert_false(f->last_online);
	assert_string_equal(f->out->reason, "/dev/ttyFAKE: no answer from the CH9329");
	assert_int_equal(f->out->counters.dropped, 1); /* the 4th report, never sent */
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 0);
	assert_int_equal(f->timer_delay, IPKVM_HID_RETRY_MIN_MS);
}

static void test_coalesce_while_busy(void **state)
{
	struct fake *f = *state;
	const uint8_t kbd[8] = {0};
	uint8_t buf[32];

	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 14);
	for (int i = 0; i < 20; i++) {
		uint8_t r[5] = {0x00, 3, (uint8_t)-2, 0, 0};
		assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_MOUSE_REL, r, 5), 0);
	}
	assert_int_equal(ipkvm_hid_output_pending(f->out), 2);
	assert_int_equal(f->out->counters.coalesced, 19);
	chip_says(f, ack_kbd, 7);
	/* dx 60 (0x3C), dy -40 (0xD8): 57 AB 00 05 05 01 00 3C D8 00, sum 0x10C+1+0x3C+0xD8 =
	 * 0x221 → 0x21 */
	const uint8_t exp[11] = {0x57, 0xAB, 0x00, 0x05, 0x05, 0x01, 0x00, 0x3C, 0xD8, 0x00, 0x21};
	expect_frame(f, exp, 11);
}

static void test_address_in_frames(void **state)
{
	struct fake *f = make(0x01);
	const uint8_t kbd[8] = {0};
	/* 57 AB 01 02 08 00.. sum 0x10D → 0x0D */
	const uint8_t frame[14] = {0x57, 0xAB, 0x01, 0x02, 0x08, 0x00, 0x00,
				   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0D};
	/* ACK from address 1: 57 AB 01 82 01 00, 0x186 → 0x86 */
	const uint8_t ack[7] = {0x57, 0xAB, 0x01, 0x82, 0x01, 0x00, 0x86};

	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	expect_frame(f, frame, 14);
	chip_says(f, ack, 7);
	assert_int_equal(f->out->counters.written, 1);
	teardown((void **)&f);
}

static void test_eof_offline(void **state)
{
	struct fake *f = *state;
	const uint8_t kbd[8] = {0};
	int fd = out_fd(f);

	uint8_t buf[32];
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(chip_read(f, buf, sizeof(buf)), 14); /* unread data would be ECONNRESET */
	close(f->chip);
	f->chip = -1;
	assert_int_equal(ipkvm_hid_output_on_readable(f->out, fd), -EPIPE);
	assert_false(f->out->online);
	assert_false(f->last_online);
	assert_int_equal(f->out->counters.dropped, 1);
	assert_int_equal(f->timer_delay, IPKVM_HID_RETRY_MIN_MS); /* reopen scheduled */
	assert_string_equal(f->out->reason, "read /dev/ttyFAKE: end of file");
	assert_int_equal(ipkvm_hid_output_send(f->out, IPKVM_HID_KEYBOARD, kbd, 8), -ENOTCONN);
}

static int pty_open(void *ctx, const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void test_pty_termios(void **state)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct ipkvm_hid_output *out;
	struct termios t;

	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	const char *slave = ptsname(master);
	assert_non_null(slave);
	struct ipkvm_hid_ch9329_config cfg = {.path = slave, .baud = 115200, .open_fn = pty_open};
	assert_int_equal(ipkvm_hid_ch9329_create(&cfg, NULL, &out), 0);
	assert_int_equal(ipkvm_hid_output_start(out), 0);
	struct pollfd fds[1];
	assert_int_equal(ipkvm_hid_output_pollfds(out, fds, 1), 1);
	assert_int_equal(tcgetattr(fds[0].fd, &t), 0);
	assert_int_equal(cfgetospeed(&t), B115200);
	assert_int_equal(t.c_lflag & (ICANON | ECHO | ISIG), 0);
	assert_int_equal(t.c_cflag & CSIZE, CS8);
	assert_int_equal(t.c_oflag & OPOST, 0);

	/* Bytes reach the master unchanged (no output processing). */
	const uint8_t kbd[8] = {0, 0, 0x04, 0, 0, 0, 0, 0};
	const uint8_t frame[14] = {0x57, 0xAB, 0x00, 0x02, 0x08, 0x00, 0x00,
				   0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
	uint8_t buf[32];
	assert_int_equal(ipkvm_hid_output_send(out, IPKVM_HID_KEYBOARD, kbd, 8), 0);
	assert_int_equal(read(master, buf, sizeof(buf)), 14);
	assert_memory_equal(buf, frame, 14);
	ipkvm_hid_output_destroy(out);
	close(master);

	/* Bad configurations. */
	cfg.baud = 12345;
	assert_int_equal(ipkvm_hid_ch9329_create(&cfg, NULL, &out), -EINVAL);
	cfg.baud = 0;
	cfg.path = "";
	assert_int_equal(ipkvm_hid_ch9329_create(&cfg, NULL, &out), -EINVAL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_helper_and_scale),
	    cmocka_unit_test_setup_teardown(test_keyboard_frame_and_one_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rel_media_system_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nkro_as_boot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_answers_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_answer_split_garbage_bad_sum, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_resend_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_coalesce_while_busy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_silent_chip_goes_offline, setup, teardown),
	    cmocka_unit_test(test_address_in_frames),
	    cmocka_unit_test_setup_teardown(test_eof_offline, setup, teardown),
	    cmocka_unit_test(test_pty_termios),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
