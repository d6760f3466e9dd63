/*
 * Unit tests for video/edid: hex parsing in the spellings people paste (spaces, newlines,
 * "0x", commas, comments, either case), every error with its exact message, and the two
 * presets, which are decoded here from the raw bytes (independently of how edid.c writes
 * them) to prove they say 1920x1080 at 148.5 MHz and 60.00 / 50.00 Hz.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "video/source_v4l2.h"

/* Renders bytes as hex text in one of several styles. Caller frees. */
enum style { PLAIN, PREFIXED_UPPER, COMMENTED, SPLIT_PAIRS, C_ARRAY };

static char *to_hex(const uint8_t *b, size_t n, enum style st)
{
	size_t cap = n * 16 + 256;
	char *s = malloc(cap);
	assert_non_null(s);
	size_t o = 0;
	if (st == COMMENTED)
		o += (size_t)snprintf(s + o, cap - o, "# EDID dump\n\n");
	for (size_t i = 0; i < n; i++) {
		switch (st) {
		case PLAIN:
			o += (size_t)snprintf(s + o, cap - o, "%02x%s", b[i],
					      i % 16 == 15 ? "\n" : " ");
			break;
		case PREFIXED_UPPER:
			o += (size_t)snprintf(s + o, cap - o, "0x%02X%s", b[i],
					      i % 8 == 7 ? "\r\n" : "\t");
			break;
		case COMMENTED:
			if (i % 16 == 0)
				o += (size_t)snprintf(s + o, cap - o, "# row %zu\n", i / 16);
			o += (size_t)snprintf(s + o, cap - o, "%02x", b[i]);
			if (i % 16 == 15)
				o += (size_t)snprintf(s + o, cap - o, "  # end of row\n");
			break;
		case SPLIT_PAIRS:
			/* a digit pair split across a line break */
			o += (size_t)snprintf(s + o, cap - o, "%x\n%X ", b[i] >> 4, b[i] & 15);
			break;
		case C_ARRAY:
			o += (size_t)snprintf(s + o, cap - o, "0X%02x,%s", b[i],
					      i % 12 == 11 ? "\n" : " ");
			break;
		}
	}
	return s;
}

static void fix_checksum(uint8_t *block)
{
	uint8_t sum = 0;
	for (int i = 0; i < 127; i++)
		sum = (uint8_t)(sum + block[i]);
	block[127] = (uint8_t)(0x100 - sum);
}

/* A minimal valid one-block EDID. */
static void make_block(uint8_t *b)
{
	static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	memset(b, 0, 128);
	memcpy(b, header, 8);
	b[18] = 1;
	b[19] = 3;
	fix_checksum(b);
}

static void test_parse_styles(void **state)
{
	const uint8_t *preset;
	assert_int_equal(ipkvm_edid_preset("1080p60", &preset), 256);
	const enum style styles[] = {PLAIN, PREFIXED_UPPER, COMMENTED, SPLIT_PAIRS, C_ARRAY};
	for (size_t k = 0; k < sizeof(styles) / sizeof(styles[0]); k++) {
		char *text = to_hex(preset, 256, styles[k]);
		uint8_t out[256];
		char err[128] = "";
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(ipkvm_edid_parse_hex(text, out, sizeof(out), err, sizeof(err)),
				 256);
		assert_memory_equal(out, preset, 256);
		assert_string_equal(err, "");
		free(text);
	}
}

static void test_parse_one_block(void **state)
{
	uint8_t b[128];
	make_block(b);
	char *text = to_hex(b, 128, PLAIN);
	uint8_t out[256];
	char err[128];
	assert_int_equal(ipkvm_edid_parse_hex(text, out, sizeof(out), err, sizeof(err)), 128);
	assert_memory_equal(out, b, 128);
	free(text);

	/* comment lines may contain anything, including non-hex letters and '0x' */
	const char *commented = "# hello world, xyz 0xZZ\n";
	size_t len = strlen(commented) + 128 * 3 + 1;
	char *t2 = malloc(len);
	assert_non_null(t2);
	text = to_hex(b, 128, PLAIN);
	snprintf(t2, len, "%s%s", commented, text);
	assert_int_equal(ipkvm_edid_parse_hex(t2, out, sizeof(out), err, sizeof(err)), 128);
	assert_memory_equal(out, b, 128);
	free(t2);
	free(text);
}

static void expect_error(const char *text, int rc, const char *msg)
{
	uint8_t out[256];
	char err[128] = "";
	assert_int_equal(ipkvm_edid_parse_hex(text, out, sizeof(out), err, sizeof(err)), rc);
	assert_string_equal(err, msg);
}

static void test_parse_errors(void **state)
{
	expect_error("00 ff\nff ff # fine\n  fg", -EINVAL, "line 3: bad hex digit 'g'");
	expect_error("00 ff\n\n\n0x0\x01", -EINVAL, "line 4: bad hex digit '\\x01'");
	/* "0x" is only a prefix where a token starts */
	expect_error("000x01", -EINVAL, "line 1: bad hex digit 'x'");
	expect_error("0", -EINVAL, "odd number of hex digits (1)");
	expect_error("00 ff f", -EINVAL, "odd number of hex digits (5)");
	expect_error("", -EINVAL, "EDID is 0 bytes, must be 128 or 256");
	expect_error("# only a comment\n", -EINVAL, "EDID is 0 bytes, must be 128 or 256");

	uint8_t b[256];
	make_block(b);
	char *text = to_hex(b, 127, PLAIN);
	expect_error(text, -EINVAL, "EDID is 127 bytes, must be 128 or 256");
	free(text);

	/* bad header */
	make_block(b);
	b[7] = 0x01;
	fix_checksum(b);
	text = to_hex(b, 128, PLAIN);
	expect_error(text, -EINVAL, "bad EDID header (must start 00 ff ff ff ff ff ff 00)");
	free(text);

	/* bad checksum in block 0: the sum is off by 0x12 */
	make_block(b);
	b[127] = (uint8_t)(b[127] + 0x12);
	text = to_hex(b, 128, PLAIN);
	expect_error(text, -EINVAL, "block 0 checksum is 0x12, must be 0");
	free(text);

	/* bad checksum in block 1 */
	const uint8_t *preset;
	assert_int_equal(ipkvm_edid_preset("1080p50", &preset), 256);
	memcpy(b, preset, 256);
	b[200] ^= 0x01; /* 0x00 -> 0x01 */
	text = to_hex(b, 256, PLAIN);
	expect_error(text, -EINVAL, "block 1 checksum is 0x01, must be 0");
	free(text);

	/* extension count disagrees with the length */
	memcpy(b, preset, 128); /* base block only, still announcing its extension */
	text = to_hex(b, 128, PLAIN);
	expect_error(text, -EINVAL, "block 0 announces 1 extension blocks, the data has 0");
	free(text);
	memcpy(b, preset, 256);
	b[126] = 0;
	fix_checksum(b);
	text = to_hex(b, 256, PLAIN);
	expect_error(text, -EINVAL, "block 0 announces 0 extension blocks, the data has 1");
	free(text);

	/* no room */
	memcpy(b, preset, 256);
	text = to_hex(b, 256, PLAIN);
	uint8_t small[128];
	char err[128];
	assert_int_equal(ipkvm_edid_parse_hex(text, small, sizeof(small), err, sizeof(err)),
			 -ENOSPC);
	assert_string_equal(err, "EDID is 256 bytes, only room for 128");
	free(text);

	/* err may be NULL */
	assert_int_equal(ipkvm_edid_parse_hex("zz", small, sizeof(small), NULL, 0), -EINVAL);
}

/* ---- preset decoding, written from the E-EDID 1.3 / CEA-861 tables ---- */

struct dtd {
	unsigned long pclk_hz;
	unsigned hact, hblank, hoff, hsync, vact, vblank, voff, vsync;
	unsigned hmm, vmm;
	uint8_t flags;
};

static struct dtd decode_dtd(const uint8_t *d)
{
	struct dtd t;
	t.pclk_hz = (unsigned long)(d[0] | d[1] << 8) * 10000UL;
	t.hact = d[2] | (unsigned)(d[4] >> 4) << 8;
	t.hblank = d[3] | (unsigned)(d[4] & 0x0f) << 8;
	t.vact = d[5] | (unsigned)(d[7] >> 4) << 8;
	t.vblank = d[6] | (unsigned)(d[7] & 0x0f) << 8;
	t.hoff = d[8] | (unsigned)(d[11] >> 6) << 8;
	t.hsync = d[9] | (unsigned)((d[11] >> 4) & 3) << 8;
	t.voff = (unsigned)(d[10] >> 4) | (unsigned)((d[11] >> 2) & 3) << 4;
	t.vsync = (unsigned)(d[10] & 0x0f) | (unsigned)(d[11] & 3) << 4;
	t.hmm = d[12] | (unsigned)(d[14] >> 4) << 8;
	t.vmm = d[13] | (unsigned)(d[14] & 0x0f) << 8;
	t.flags = d[17];
	return t;
}

static void check_preset(const char *name, unsigned hz, unsigned hblank, unsigned hoff,
			 uint8_t native_vic, const uint8_t *vics, size_t nvics)
{
	const uint8_t *e;
	assert_int_equal(ipkvm_edid_preset(name, &e), 256);

	/* header, per-block checksums, one extension */
	static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	assert_memory_equal(e, header, 8);
	for (int b = 0; b < 2; b++) {
		unsigned sum = 0;
		for (int i = 0; i < 128; i++)
			sum += e[b * 128 + i];
		assert_int_equal(sum % 256, 0);
	}
	assert_int_equal(e[126], 1);

	/* manufacturer "IPK", EDID 1.3, digital input, preferred timing bit */
	char mfg[4] = {(char)('@' + ((e[8] >> 2) & 31)),
		       (char)('@' + (((e[8] & 3) << 3) | (e[9] >> 5))), (char)('@' + (e[9] & 31)),
		       0};
	assert_string_equal(mfg, "IPK");
	assert_int_equal(e[18], 1);
	assert_int_equal(e[19], 3);
	assert_true(e[20] & 0x80);
	assert_true(e[24] & 0x02);

	/* the same edid must parse back through the hex reader */
	char *text = to_hex(e, 256, PLAIN);
	uint8_t out[256];
	char err[128];
	assert_int_equal(ipkvm_edid_parse_hex(text, out, sizeof(out), err, sizeof(err)), 256);
	free(text);

	/* preferred DTD */
	const uint8_t *d = e + 54;
	assert_true(d[0] || d[1]); /* a timing, not a display descriptor */
	struct dtd t = decode_dtd(d);
	assert_int_equal(t.pclk_hz, 148500000UL);
	assert_int_equal(t.hact, 1920);
	assert_int_equal(t.hblank, hblank);
	assert_int_equal(t.hoff, hoff);
	assert_int_equal(t.hsync, 44);
	assert_int_equal(t.vact, 1080);
	assert_int_equal(t.vblank, 45);
	assert_int_equal(t.voff, 4);
	assert_int_equal(t.vsync, 5);
	assert_int_equal(t.hmm, 531);
	assert_int_equal(t.vmm, 299);
	assert_int_equal(t.flags & 0x80, 0);	/* progressive */
	assert_int_equal(t.flags & 0x18, 0x18); /* digital separate sync */
	assert_int_equal(t.flags & 0x06, 0x06); /* +vsync +hsync */
	double refresh =
	    (double)t.pclk_hz / ((double)(t.hact + t.hblank) * (double)(t.vact + t.vblank));
	char rate[16];
	snprintf(rate, sizeof(rate), "%.2f", refresh);
	char want[16];
	snprintf(want, sizeof(want), "%u.00", hz);
	assert_string_equal(rate, want);

	/* descriptors 2-4: range limits, monitor name, dummy */
	const uint8_t *rl = e + 72;
	assert_int_equal(rl[0] | rl[1] | rl[2], 0);
	assert_int_equal(rl[3], 0xfd);
	assert_true(rl[5] <= hz && rl[6] >= hz);	      /* vertical Hz */
	unsigned hkhz = (unsigned)(148500 / (1920 + hblank)); /* kHz */
	assert_true(rl[7] <= hkhz && rl[8] >= hkhz);
	assert_true(rl[9] * 10 >= 149); /* max pixel clock in 10 MHz */
	const uint8_t *nm = e + 90;
	assert_int_equal(nm[3], 0xfc);
	char mname[14];
	memcpy(mname, nm + 5, 13);
	mname[13] = 0;
	char want_name[32];
	snprintf(want_name, sizeof(want_name), "ipkvm 1080p%u", hz);
	assert_string_equal(mname, want_name);
	assert_int_equal(e[108 + 3], 0x10);

	/* CEA extension: video data block with the native VIC first */
	const uint8_t *c = e + 128;
	assert_int_equal(c[0], 0x02);
	assert_int_equal(c[1], 0x03);
	unsigned dtd_off = c[2];
	assert_true(dtd_off >= 4 && dtd_off <= 127);
	bool found_vdb = false;
	for (unsigned i = 4; i < dtd_off;) {
		unsigned tag = c[i] >> 5, len = c[i] & 31;
		if (tag == 2) {
			found_vdb = true;
			assert_int_equal(len, nvics);
			assert_int_equal(c[i + 1], 0x80 | native_vic);
			for (size_t k = 0; k < nvics; k++)
				assert_int_equal(c[i + 1 + k] & 0x7f, vics[k]);
			/* exactly one native */
			for (size_t k = 1; k < nvics; k++)
				assert_int_equal(c[i + 1 + k] & 0x80, 0);
		}
		i += 1 + len;
	}
	assert_true(found_vdb);
}

static void test_preset_1080p60(void **state)
{
	const uint8_t vics[] = {16, 4, 3, 2, 1};
	check_preset("1080p60", 60, 280, 88, 16, vics, sizeof(vics));
}

static void test_preset_1080p50(void **state)
{
	const uint8_t vics[] = {31, 19, 17, 18, 1};
	check_preset("1080p50", 50, 720, 528, 31, vics, sizeof(vics));
}

static void test_preset_unknown(void **state)
{
	const uint8_t *e = NULL;
	assert_int_equal(ipkvm_edid_preset("1080p30", &e), -ENOENT);
	assert_int_equal(ipkvm_edid_preset("", &e), -ENOENT);
	assert_int_equal(ipkvm_edid_preset(NULL, &e), -ENOENT);
	assert_null(e);
	/* the two presets differ */
	const uint8_t *a, *b;
	ipkvm_edid_preset("1080p60", &a);
	ipkvm_edid_preset("1080p50", &b);
	assert_true(memcmp(a, b, 256) != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_styles),   cmocka_unit_test(test_parse_one_block),
	    cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_preset_1080p60),
	    cmocka_unit_test(test_preset_1080p50), cmocka_unit_test(test_preset_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
