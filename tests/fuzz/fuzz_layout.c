/*
 * layout: text to key strokes (POST /api/hid/type, src/hid/layout.c) for every bundled
 * layout, and the key table's lookups by name and by usage (src/hid/keymap, generated).
 *
 * The first byte sizes the output arrays of a second call (allocated exactly); the rest is
 * the text (cut at its first NUL, as the JSON layer hands it over). For each layout:
 *  - -EINVAL exactly when the text is not strict UTF-8 (checked against a decoder of our
 *    own: overlong forms, surrogates, > U+10FFFF, truncated sequences);
 *  - otherwise every stroke names a key of the table whose usage it carries, on the
 *    keyboard page, with only ctrl/shift/AltGr as modifiers; every untyped character has
 *    a rising index below the text's length in characters and its own UTF-8;
 *  - a call with smaller arrays gives -ENOSPC, the same counts, and the same first strokes.
 * The text is also looked up as a layout name and as a KeyboardEvent.code, and two of its
 * bytes as a (page, usage) pair: what is found must be what was asked for.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "hid/keymap.h"
#include "hid/layout.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *layout)
{
	fprintf(stderr, "layout harness: %s (layout %s)\n", what, layout ? layout : "-");
	abort();
}

/* Code points of strict UTF-8 text, or -1 when it is not. */
static long utf8_count(const unsigned char *s)
{
	long n = 0;
	while (*s) {
		unsigned c = *s, len, min;
		uint32_t cp;
		if (c < 0x80)
			len = 1, min = 0, cp = c;
		else if (c >= 0xC2 && c <= 0xDF)
			len = 2, min = 0x80, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3, min = 0x800, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4, min = 0x10000, cp = c & 0x07;
		else
			return -1;
		for (unsigned i = 1; i < len; i++) {
			if ((s[i] & 0xC0) != 0x80)
				return -1;
			cp = cp << 6 | (s[i] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return -1;
		s += len;
		n++;
	}
	return n;
}

static void check_strokes(const char *name, const struct ipkvm_stroke *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct ipkvm_key *k = ipkvm_key_by_code(s[i].code);
		if (!k || k->page != 0x07 || k->usage != s[i].usage)
			fail("a stroke's code and usage disagree with the key table", name);
		if (s[i].mods &
		    ~(IPKVM_LAYOUT_MOD_CTRL | IPKVM_LAYOUT_MOD_SHIFT | IPKVM_LAYOUT_MOD_ALTGR))
			fail("a stroke holds an unexpected modifier", name);
	}
}

static void check_untyped(const char *name, const struct ipkvm_untyped *u, size_t n, long chars)
{
	for (size_t i = 0; i < n; i++) {
		if ((long)u[i].index >= chars || (i && u[i].index <= u[i - 1].index))
			fail("untyped index out of order or range", name);
		if (utf8_count((const unsigned char *)u[i].utf8) != 1)
			fail("untyped character's UTF-8 is not one character", name);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sizing = data[0];
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	long chars = utf8_count((const unsigned char *)text);

	const struct ipkvm_layout *l;
	for (size_t i = 0; (l = ipkvm_layout_at(i)); i++) {
		const char *name = ipkvm_layout_name(l);
		if (ipkvm_layout_find(name) != l)
			fail("a layout is not found by its own name", name);
		size_t n = 0, nu = 0;
		int r = ipkvm_layout_type(l, text, NULL, 0, &n, NULL, 0, &nu);
		if ((r == -EINVAL) != (chars < 0))
			fail(chars < 0 ? "invalid UTF-8 accepted" : "valid UTF-8 refused", name);
		if (r == -EINVAL)
			continue;
		if (r != ((n || nu) ? -ENOSPC : 0))
			fail("sizing call returned the wrong code", name);
		struct ipkvm_stroke *s = malloc(n * sizeof(*s));
		struct ipkvm_untyped *u = malloc(nu * sizeof(*u));
		size_t n2, nu2;
		r = ipkvm_layout_type(l, text, s, n, &n2, u, nu, &nu2);
		if (r != 0 || n2 != n || nu2 != nu)
			fail("a call with room enough did not fit", name);
		check_strokes(name, s, n);
		check_untyped(name, u, nu, chars);
		/* Smaller arrays: the counts stay, the strokes that fit are the same. */
		size_t max = n ? sizing % n : 0, umax = nu ? sizing % nu : 0;
		if (max < n || umax < nu) {
			struct ipkvm_stroke *s3 = malloc(max * sizeof(*s3));
			struct ipkvm_untyped *u3 = malloc(umax * sizeof(*u3));
			size_t n3, nu3;
			r = ipkvm_layout_type(l, text, s3, max, &n3, u3, umax, &nu3);
			if (r != -ENOSPC || n3 != n || nu3 != nu)
				fail("a call with too little room did not say so", name);
			for (size_t k = 0; k < max; k++)
				if (s3[k].usage != s[k].usage || s3[k].mods != s[k].mods ||
				    strcmp(s3[k].code, s[k].code) != 0)
					fail("strokes differ with less room", name);
			free(s3);
			free(u3);
		}
		free(s);
		free(u);
	}

	/* Lookups by name and by usage. */
	const struct ipkvm_layout *byname = ipkvm_layout_find(text);
	if (byname && strcmp(ipkvm_layout_name(byname), text) != 0)
		fail("layout lookup found another name", text);
	const struct ipkvm_key *k = ipkvm_key_by_code(text);
	if (k && strcmp(k->code, text) != 0)
		fail("key lookup found another code", text);
	if (size >= 3) {
		static const uint16_t pages[] = {0x01, 0x07, 0x0C};
		uint16_t page = pages[data[1] % 3],
			 usage = (uint16_t)(data[2] | (data[1] >> 2) << 8);
		k = ipkvm_key_by_usage(page, usage);
		if (k && (k->page != page || k->usage != usage || ipkvm_key_by_code(k->code) != k))
			fail("usage lookup found another key", NULL);
		if (ipkvm_key_modifier_bit(k) && !ipkvm_key_is_modifier(k))
			fail("a modifier bit for a key that is no modifier", NULL);
	}
	free(text);
	return 0;
}
