/*
 * edid: the EDID an HDMI capture bridge shows to the target (see source_v4l2.h).
 *
 * Two jobs: reading an EDID the administrator supplies as hex text (the way edid-decode,
 * v4l2-ctl and vendor tools print them, so people can paste what they have), and the two
 * bundled presets. The presets exist because a bridge like the TC358743 captures only what
 * its CSI-2 link can carry: advertising exactly one preferred mode (1080p60 for 4-lane
 * boards, 1080p50 for 2-lane ones) makes the target pick a mode we can capture instead of
 * whatever its GPU likes best.
 *
 * The presets are written out byte by byte (not generated at run time) so they can be read
 * against the VESA E-EDID 1.3 and CEA-861 tables; the unit test decodes them independently
 * and checks the checksums.
 */
#define LOG_TAG "edid"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "video/source_v4l2.h"

#include "core/util.h"

#define EDID_BLOCK 128

/*
 * Preset layout (both presets share it; the differences are marked "60:" / "50:").
 *
 * Block 0, VESA E-EDID 1.3 base block:
 *   0-7    header 00 ff ff ff ff ff ff 00
 *   8-9    manufacturer "IPK": three 5-bit letters (A=1), big-endian:
 *          I=9, P=16, K=11 -> (9<<10)|(16<<5)|11 = 0x260b
 *   10-11  product code, little-endian: 0x0160 (60) / 0x0150 (50)
 *   12-15  serial number 0 (unused)
 *   16     week of manufacture 1; 17 year 2024 - 1990 = 34 (0x22)
 *   18-19  EDID version 1, revision 3
 *   20     video input: digital (bit 7)
 *   21-22  screen size 53 x 30 cm (a plausible 24" 16:9; some OSes derive DPI from it)
 *   23     gamma 2.2 -> (2.2 * 100) - 100 = 120 (0x78)
 *   24     features 0x0e: RGB colour display (bits 4-3 = 01), sRGB default colour space
 *          (bit 2), preferred timing is the first DTD (bit 1, required in 1.3), no GTF
 *   25-34  chromaticity of sRGB in 10-bit fixed point: R 0.640/0.330, G 0.300/0.600,
 *          B 0.150/0.060, white D65 0.3127/0.3290
 *   35-37  established timings: 640x480@60 (35 bit 5), 800x600@60 (35 bit 0),
 *          1024x768@60 (36 bit 3)
 *   38-53  standard timings: all unused (01 01)
 *   54-71  descriptor 1: preferred detailed timing, 1920x1080 at 148.5 MHz:
 *            0-1   pixel clock / 10 kHz, little-endian: 14850 = 0x3a02
 *            2     h active low 8 bits (1920 = 0x780)
 *            3     h blanking low 8 bits: 60: 280 = 0x118, 50: 720 = 0x2d0
 *            4     h active bits 11-8 << 4 | h blanking bits 11-8
 *            5     v active low 8 bits (1080 = 0x438)
 *            6     v blanking low 8 bits (45)
 *            7     v active bits 11-8 << 4 | v blanking bits 11-8
 *            8     h sync offset low 8 bits: 60: 88, 50: 528 = 0x210
 *            9     h sync width low 8 bits: 44
 *            10    v sync offset (4) << 4 | v sync width (5)
 *            11    bits 9-8 of h offset (7-6), h width (5-4); bits 5-4 of v offset (3-2),
 *                  v width (1-0): 60: 0x00, 50: 0x80 (528 >> 8 = 2)
 *            12-14 image size 531 x 299 mm (low bytes, then the high nibbles)
 *            15-16 no border
 *            17    0x1e: progressive, no stereo, digital separate sync (bits 4-3 = 11),
 *                  +vsync (bit 2), +hsync (bit 1)
 *          Totals: 60: 2200 x 1125, 148.5 MHz / 2475000 = 60.00 Hz;
 *                  50: 2640 x 1125, 148.5 MHz / 2970000 = 50.00 Hz.
 *   72-89  descriptor 2: range limits (tag 0xfd): vertical 59-61 Hz (50: 49-61 Hz, 640x480@60
 *          stays listed), horizontal 31-68 kHz (50: 31-57 kHz), max pixel clock 150 MHz
 *          (15 x 10 MHz), no secondary timing formula (00 0a 20 20 20 20 20 20)
 *   90-107 descriptor 3: monitor name (tag 0xfc) "ipkvm 1080p60" / "ipkvm 1080p50" (13
 *          characters fill the field, so no 0x0a terminator)
 *   108-125 descriptor 4: dummy (tag 0x10)
 *   126    one extension block
 *   127    checksum: the 128 bytes sum to 0 mod 256
 *
 * Block 1, CEA-861 extension (revision 3):
 *   0      tag 0x02; 1 revision 3
 *   2      13: detailed timings would start at byte 13 (there are none here)
 *   3      0x81: underscans IT formats by default (bit 7; a KVM wants every pixel), no basic
 *          audio, no YCbCr (RGB only), one native DTD (bits 3-0)
 *   4      video data block: tag 2 (bits 7-5), length 5
 *   5-9    short video descriptors, bit 7 = native:
 *            60: VIC 16 1080p60 (native), VIC 4 720p60, VIC 3 480p60 16:9, VIC 2 480p60 4:3,
 *                VIC 1 640x480p60
 *            50: VIC 31 1080p50 (native), VIC 19 720p50, VIC 17 576p50 4:3,
 *                VIC 18 576p50 16:9, VIC 1 640x480p60
 *   10-12  video capability data block: tag 7 (extended), length 2, extended tag 0x00;
 *          0x4a: RGB quantization range selectable (QS, bit 6), S_PT 0 (see S_IT/S_CE),
 *          IT and CE formats always underscanned (S_IT = S_CE = 10). Sources are told they
 *          may pick the range (and send full range to a DVI sink); without the block
 *          edid-decode reports an interoperability failure.
 *   13-126 padding 0
 *   127    checksum
 * edid-decode passes both presets; its one warning ("multiple native progressive
 * timings") comes from marking the VIC native although the native DTD already is that
 * same timing.
 * There is deliberately no HDMI vendor-specific block: the target then treats the bridge
 * as a DVI sink and sends full-range RGB without audio or InfoFrames, which the bridges
 * digest most reliably.
 */
/* clang-format off */
static const uint8_t edid_1080p60[256] = {
	/* block 0: header */
	0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
	/* "IPK", product 0x0160, serial 0 */
	0x26, 0x0b, 0x60, 0x01, 0x00, 0x00, 0x00, 0x00,
	/* week 1 of 2024, EDID 1.3, digital, 53 x 30 cm, gamma 2.2, features */
	0x01, 0x22, 0x01, 0x03, 0x80, 0x35, 0x1e, 0x78, 0x0e,
	/* sRGB chromaticity */
	0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54,
	/* established timings */
	0x21, 0x08, 0x00,
	/* standard timings: unused */
	0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
	0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
	/* DTD 1920x1080p60 */
	0x02, 0x3a, 0x80, 0x18, 0x71, 0x38, 0x2d, 0x40, 0x58,
	0x2c, 0x45, 0x00, 0x13, 0x2b, 0x21, 0x00, 0x00, 0x1e,
	/* range limits: 59-61 Hz, 31-68 kHz, 150 MHz */
	0x00, 0x00, 0x00, 0xfd, 0x00, 0x3b, 0x3d, 0x1f, 0x44,
	0x0f, 0x00, 0x0a, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	/* monitor name "ipkvm 1080p60" */
	0x00, 0x00, 0x00, 0xfc, 0x00, 'i', 'p', 'k', 'v',
	'm', ' ', '1', '0', '8', '0', 'p', '6', '0',
	/* dummy descriptor */
	0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* one extension, checksum */
	0x01, 0xb3,
	/* block 1, CEA-861: tag, revision 3, DTDs at 13, underscan, RGB only, 1 native DTD */
	[128] = 0x02, 0x03, 0x0d, 0x81,
	/* video data block: VIC 16 (native), 4, 3, 2, 1 */
	0x45, 0x90, 0x04, 0x03, 0x02, 0x01,
	/* video capability data block: QS, IT/CE underscanned */
	0xe2, 0x00, 0x4a,
	/* zero padding up to the checksum */
	[255] = 0x62,
};
/* clang-format on */

/* clang-format off */
static const uint8_t edid_1080p50[256] = {
	/* block 0: header */
	0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
	/* "IPK", product 0x0150, serial 0 */
	0x26, 0x0b, 0x50, 0x01, 0x00, 0x00, 0x00, 0x00,
	/* week 1 of 2024, EDID 1.3, digital, 53 x 30 cm, gamma 2.2, features */
	0x01, 0x22, 0x01, 0x03, 0x80, 0x35, 0x1e, 0x78, 0x0e,
	/* sRGB chromaticity */
	0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54,
	/* established timings */
	0x21, 0x08, 0x00,
	/* standard timings: unused (50 Hz cannot be expressed there) */
	0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
	0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
	/* DTD 1920x1080p50 */
	0x02, 0x3a, 0x80, 0xd0, 0x72, 0x38, 0x2d, 0x40, 0x10,
	0x2c, 0x45, 0x80, 0x13, 0x2b, 0x21, 0x00, 0x00, 0x1e,
	/* range limits: 49-61 Hz, 31-57 kHz, 150 MHz */
	0x00, 0x00, 0x00, 0xfd, 0x00, 0x31, 0x3d, 0x1f, 0x39,
	0x0f, 0x00, 0x0a, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	/* monitor name "ipkvm 1080p50" */
	0x00, 0x00, 0x00, 0xfc, 0x00, 'i', 'p', 'k', 'v',
	'm', ' ', '1', '0', '8', '0', 'p', '5', '0',
	/* dummy descriptor */
	0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* one extension, checksum */
	0x01, 0xe8,
	/* block 1, CEA-861: tag, revision 3, DTDs at 13, underscan, RGB only, 1 native DTD */
	[128] = 0x02, 0x03, 0x0d, 0x81,
	/* video data block: VIC 31 (native), 19, 17, 18, 1 */
	0x45, 0x9f, 0x13, 0x11, 0x12, 0x01,
	/* video capability data block: QS, IT/CE underscanned */
	0xe2, 0x00, 0x4a,
	/* zero padding up to the checksum */
	[255] = 0x26,
};
/* clang-format on */

int ipkvm_edid_preset(const char *name, const uint8_t **data)
{
	if (name && strcmp(name, "1080p60") == 0) {
		*data = edid_1080p60;
		return (int)sizeof(edid_1080p60);
	}
	if (name && strcmp(name, "1080p50") == 0) {
		*data = edid_1080p50;
		return (int)sizeof(edid_1080p50);
	}
	return -ENOENT;
}

/*
 * The text is read as one stream of hex digits, two per byte, so both "00 ff ff" and
 * "00ffff" (and pairs split across lines) work. Separators are whitespace and commas (C
 * array dumps); "0x" is skipped where a token starts; '#' comments run to the end of the
 * line.
 */
int ipkvm_edid_parse_hex(const char *text, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	size_t ndigits = 0;
	unsigned line = 1;
	int hi = 0;
	bool token_start = true;

	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n') {
			line++;
			token_start = true;
			continue;
		}
		if (c == '#') {
			while (p[1] && p[1] != '\n')
				p++;
			continue;
		}
		if (isspace(c) || c == ',') {
			token_start = true;
			continue;
		}
		if (token_start && c == '0' && (p[1] == 'x' || p[1] == 'X')) {
			p++;
			token_start = false;
			continue;
		}
		token_start = false;
		int v = ipkvm_hex_digit(c);
		if (v < 0) {
			if (isprint(c))
				ipkvm_errf(err, errlen, "line %u: bad hex digit '%c'", line, c);
			else
				ipkvm_errf(err, errlen, "line %u: bad hex digit '\\x%02x'", line,
					   c);
			return -EINVAL;
		}
		if (ndigits % 2 == 0) {
			hi = v;
		} else {
			size_t i = ndigits / 2;
			if (i < outlen)
				out[i] = (uint8_t)(hi << 4 | v);
		}
		ndigits++;
	}

	if (ndigits % 2) {
		ipkvm_errf(err, errlen, "odd number of hex digits (%zu)", ndigits);
		return -EINVAL;
	}
	size_t n = ndigits / 2;
	if (n != EDID_BLOCK && n != 2 * EDID_BLOCK) {
		ipkvm_errf(err, errlen, "EDID is %zu bytes, must be 128 or 256", n);
		return -EINVAL;
	}
	if (n > outlen) {
		ipkvm_errf(err, errlen, "EDID is %zu bytes, only room for %zu", n, outlen);
		return -ENOSPC;
	}
	static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	if (memcmp(out, header, sizeof(header)) != 0) {
		ipkvm_errf(err, errlen, "bad EDID header (must start 00 ff ff ff ff ff ff 00)");
		return -EINVAL;
	}
	for (size_t b = 0; b < n / EDID_BLOCK; b++) {
		uint8_t sum = 0;
		for (size_t i = 0; i < EDID_BLOCK; i++)
			sum = (uint8_t)(sum + out[b * EDID_BLOCK + i]);
		if (sum != 0) {
			ipkvm_errf(err, errlen, "block %zu checksum is 0x%02x, must be 0", b, sum);
			return -EINVAL;
		}
	}
	/* Byte 126 counts the extension blocks; a device loads what we hand it, so a mismatch
	 * (a truncated dump, or one with a stray extension) would show the target a broken
	 * EDID. */
	if (out[126] != n / EDID_BLOCK - 1) {
		ipkvm_errf(err, errlen, "block 0 announces %u extension blocks, the data has %zu",
			   out[126], n / EDID_BLOCK - 1);
		return -EINVAL;
	}
	return (int)n;
}
