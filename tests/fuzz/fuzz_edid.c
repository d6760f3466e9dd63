/*
 * edid: EDID hex files ([video] edid = /path, src/video/edid.c), as the administrator pastes
 * them from edid-decode, v4l2-ctl or a C array.
 *
 * The first byte picks the size of the output buffer (allocated exactly: the parser must
 * never write past it whatever the text says), the rest is the text. An accepted EDID is
 * 128 or 256 bytes that fit the buffer, starts with the fixed header, has every block's
 * checksum zero and announces as many extension blocks as it has. The input is also looked
 * up as a preset name, which must give one of the two bundled EDIDs or nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "video/source_v4l2.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "edid harness: %s: %s\n", what, detail ? detail : "");
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t sizes[] = {0, 8, 127, 128, 200, 255, 256, 512};
	if (size < 1)
		return 0;
	size_t outlen = sizes[data[0] % (sizeof(sizes) / sizeof(sizes[0]))];
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	uint8_t *out = malloc(outlen);
	char err[256] = "";
	int r = ipkvm_edid_parse_hex(text, out, outlen, err, sizeof(err));
	if (r > 0) {
		static const uint8_t header[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
		if ((r != 128 && r != 256) || (size_t)r > outlen)
			fail("bad length accepted", NULL);
		if (memcmp(out, header, 8) != 0)
			fail("bad header accepted", NULL);
		for (int b = 0; b < r / 128; b++) {
			uint8_t sum = 0;
			for (int i = 0; i < 128; i++)
				sum = (uint8_t)(sum + out[b * 128 + i]);
			if (sum)
				fail("bad checksum accepted", NULL);
		}
		if (out[126] != r / 128 - 1)
			fail("extension count disagrees", NULL);
	} else if ((r != -EINVAL && r != -ENOSPC) || !err[0]) {
		fail("bad error result", err);
	}
	const uint8_t *preset = NULL;
	int p = ipkvm_edid_preset(text, &preset);
	if (p >= 0 && (p != 256 || !preset || (strcmp(text, "1080p60") && strcmp(text, "1080p50"))))
		fail("bad preset lookup", text);
	free(out);
	free(text);
	return 0;
}
