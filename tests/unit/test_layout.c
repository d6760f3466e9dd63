/*
 * Tests for hid/layout: every character of each layout's printable set round-trips through
 * text -> strokes -> an independent reference decoder -> text.
 *
 * The reference decoder below has its own per-layout key tables (what each physical key
 * types at each level on the real OS layout, with dead keys and their compositions), written
 * from the layouts themselves and not from data/layouts/, plus its own code -> HID usage
 * table, so a mistake in the data files shows up as a mismatch rather than being echoed.
 * Also the one-character and dead-key lookups keysym input uses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hid/layout.h"

/* ---- reference: code -> HID usage (keyboard page) ---- */

static int ref_usage(const char *code)
{
	static const struct {
		const char *code;
		int usage;
	} other[] = {
	    {"Digit0", 0x27},	     {"Enter", 0x28},	     {"Tab", 0x2B},
	    {"Space", 0x2C},	     {"Minus", 0x2D},	     {"Equal", 0x2E},
	    {"BracketLeft", 0x2F},   {"BracketRight", 0x30}, {"Backslash", 0x31},
	    {"Semicolon", 0x33},     {"Quote", 0x34},	     {"Backquote", 0x35},
	    {"Comma", 0x36},	     {"Period", 0x37},	     {"Slash", 0x38},
	    {"IntlBackslash", 0x64}, {"IntlRo", 0x87},	     {"IntlYen", 0x89},
	};
	if (strncmp(code, "Key", 3) == 0 && code[3] >= 'A' && code[3] <= 'Z' && !code[4])
		return 0x04 + (code[3] - 'A');
	if (strncmp(code, "Digit", 5) == 0 && code[5] >= '1' && code[5] <= '9' && !code[6])
		return 0x1E + (code[5] - '1');
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (strcmp(other[i].code, code) == 0)
			return other[i].usage;
	return -1;
}

/* ---- reference layouts ---- */

/* lv[0] plain, lv[1] Shift, lv[2] AltGr; NULL = nothing. dead bit i: level i is a dead key
 * whose accent is lv[i]. */
struct ref_key {
	const char *code;
	const char *lv[3];
	unsigned dead;
};

struct ref_compose {
	const char *accent;
	const char *bases;   /* UTF-8, one character each ... */
	const char *results; /* ... paired in order with these */
};

struct ref_layout {
	const char *name;
	const char *letters; /* what KeyA..KeyZ type (lower case; Shift = upper); '.' = see keys */
	const struct ref_key *keys;
	const struct ref_compose *compose;
	const char *extra; /* printable set beyond ASCII 0x20..0x7E, \n, \t */
};

#define COMMON                                                                                     \
	{"Enter", {"\n"}, 0}, {"Tab", {"\t"}, 0},                                                  \
	{                                                                                          \
		"Space", {" "}, 0                                                                  \
	}

static const struct ref_key us_keys[] = {
    COMMON,
    {"Backquote", {"`", "~"}, 0},
    {"Digit1", {"1", "!"}, 0},
    {"Digit2", {"2", "@"}, 0},
    {"Digit3", {"3", "#"}, 0},
    {"Digit4", {"4", "$"}, 0},
    {"Digit5", {"5", "%"}, 0},
    {"Digit6", {"6", "^"}, 0},
    {"Digit7", {"7", "&"}, 0},
    {"Digit8", {"8", "*"}, 0},
    {"Digit9", {"9", "("}, 0},
    {"Digit0", {"0", ")"}, 0},
    {"Minus", {"-", "_"}, 0},
    {"Equal", {"=", "+"}, 0},
    {"BracketLeft", {"[", "{"}, 0},
    {"BracketRight", {"]", "}"}, 0},
    {"Backslash", {"\\", "|"}, 0},
    {"Semicolon", {";", ":"}, 0},
    {"Quote", {"'", "\""}, 0},
    {"Comma", {",", "<"}, 0},
    {"Period", {".", ">"}, 0},
    {"Slash", {"/", "?"}, 0},
    {NULL, {NULL}, 0},
};

static const struct ref_key uk_keys[] = {
    COMMON,
    {"Backquote", {"`", "¬"}, 0},
    {"Digit1", {"1", "!"}, 0},
    {"Digit2", {"2", "\""}, 0},
    {"Digit3", {"3", "£"}, 0},
    {"Digit4", {"4", "$", "€"}, 0},
    {"Digit5", {"5", "%"}, 0},
    {"Digit6", {"6", "^"}, 0},
    {"Digit7", {"7", "&"}, 0},
    {"Digit8", {"8", "*"}, 0},
    {"Digit9", {"9", "("}, 0},
    {"Digit0", {"0", ")"}, 0},
    {"Minus", {"-", "_"}, 0},
    {"Equal", {"=", "+"}, 0},
    {"BracketLeft", {"[", "{"}, 0},
    {"BracketRight", {"]", "}"}, 0},
    {"Semicolon", {";", ":"}, 0},
    {"Quote", {"'", "@"}, 0},
    {"Backslash", {"#", "~"}, 0},
    {"IntlBackslash", {"\\", "|"}, 0},
    {"Comma", {",", "<"}, 0},
    {"Period", {".", ">"}, 0},
    {"Slash", {"/", "?"}, 0},
    {NULL, {NULL}, 0},
};

static const struct ref_key de_keys[] = {
    COMMON,
    {"Backquote", {"^", "°"}, 1},
    {"Digit1", {"1", "!"}, 0},
    {"Digit2", {"2", "\"", "²"}, 0},
    {"Digit3", {"3", "§", "³"}, 0},
    {"Digit4", {"4", "$"}, 0},
    {"Digit5", {"5", "%"}, 0},
    {"Digit6", {"6", "&"}, 0},
    {"Digit7", {"7", "/", "{"}, 0},
    {"Digit8", {"8", "(", "["}, 0},
    {"Digit9", {"9", ")", "]"}, 0},
    {"Digit0", {"0", "=", "}"}, 0},
    {"Minus", {"ß", "?", "\\"}, 0},
    {"Equal", {"´", "`"}, 1 | 2},
    {"KeyQ", {"q", "Q", "@"}, 0},
    {"KeyE", {"e", "E", "€"}, 0},
    {"KeyM", {"m", "M", "µ"}, 0},
    {"BracketLeft", {"ü", "Ü"}, 0},
    {"BracketRight", {"+", "*", "~"}, 0},
    {"Semicolon", {"ö", "Ö"}, 0},
    {"Quote", {"ä", "Ä"}, 0},
    {"Backslash", {"#", "'"}, 0},
    {"IntlBackslash", {"<", ">", "|"}, 0},
    {"Comma", {",", ";"}, 0},
    {"Period", {".", ":"}, 0},
    {"Slash", {"-", "_"}, 0},
    {NULL, {NULL}, 0},
};

static const struct ref_compose de_compose[] = {
    {"^", "aeiouAEIOU", "âêîôûÂÊÎÔÛ"},
    {"´", "aeiouyAEIOUY", "áéíóúýÁÉÍÓÚÝ"},
    {"`", "aeiouAEIOU", "àèìòùÀÈÌÒÙ"},
    {NULL, NULL, NULL},
};

/* Windows French (KBDFR) */
static const struct ref_key fr_keys[] = {
    COMMON,
    {"Backquote", {"²"}, 0},
    {"Digit1", {"&", "1"}, 0},
    {"Digit2", {"é", "2", "~"}, 4},
    {"Digit3", {"\"", "3", "#"}, 0},
    {"Digit4", {"'", "4", "{"}, 0},
    {"Digit5", {"(", "5", "["}, 0},
    {"Digit6", {"-", "6", "|"}, 0},
    {"Digit7", {"è", "7", "`"}, 4},
    {"Digit8", {"_", "8", "\\"}, 0},
    {"Digit9", {"ç", "9", "^"}, 0},
    {"Digit0", {"à", "0", "@"}, 0},
    {"Minus", {")", "°", "]"}, 0},
    {"Equal", {"=", "+", "}"}, 0},
    {"KeyE", {"e", "E", "€"}, 0},
    {"BracketLeft", {"^", "¨"}, 1 | 2},
    {"BracketRight", {"$", "£", "¤"}, 0},
    {"Semicolon", {"m", "M"}, 0},
    {"Quote", {"ù", "%"}, 0},
    {"Backslash", {"*", "µ"}, 0},
    {"IntlBackslash", {"<", ">"}, 0},
    {"KeyM", {",", "?"}, 0},
    {"Comma", {";", "."}, 0},
    {"Period", {":", "/"}, 0},
    {"Slash", {"!", "§"}, 0},
    {NULL, {NULL}, 0},
};

static const struct ref_compose fr_compose[] = {
    {"^", "aeiouAEIOU", "âêîôûÂÊÎÔÛ"},
    {"¨", "aeiouyAEIOU", "äëïöüÿÄËÏÖÜ"},
    {"~", "aonAON", "ãõñÃÕÑ"},
    {"`", "aeiouAEIOU", "àèìòùÀÈÌÒÙ"},
    {NULL, NULL, NULL},
};

/* JIS 106/109 */
static const struct ref_key jp_keys[] = {
    COMMON,
    {"Digit1", {"1", "!"}, 0},
    {"Digit2", {"2", "\""}, 0},
    {"Digit3", {"3", "#"}, 0},
    {"Digit4", {"4", "$"}, 0},
    {"Digit5", {"5", "%"}, 0},
    {"Digit6", {"6", "&"}, 0},
    {"Digit7", {"7", "'"}, 0},
    {"Digit8", {"8", "("}, 0},
    {"Digit9", {"9", ")"}, 0},
    {"Digit0", {"0"}, 0},
    {"Minus", {"-", "="}, 0},
    {"Equal", {"^", "~"}, 0},
    {"IntlYen", {"\\", "|"}, 0},
    {"BracketLeft", {"@", "`"}, 0},
    {"BracketRight", {"[", "{"}, 0},
    {"Semicolon", {";", "+"}, 0},
    {"Quote", {":", "*"}, 0},
    {"Backslash", {"]", "}"}, 0},
    {"Comma", {",", "<"}, 0},
    {"Period", {".", ">"}, 0},
    {"Slash", {"/", "?"}, 0},
    {"IntlRo", {"\\", "_"}, 0},
    {NULL, {NULL}, 0},
};

static const struct ref_compose no_compose[] = {{NULL, NULL, NULL}};

static const struct ref_layout ref_layouts[] = {
    {"us", "abcdefghijklmnopqrstuvwxyz", us_keys, no_compose, ""},
    {"uk", "abcdefghijklmnopqrstuvwxyz", uk_keys, no_compose, "£¬€"},
    {"de", "abcdefghijklmnopqrstuvwxzy", de_keys, de_compose,
     "§°²³ßüöäÜÖÄ€µ´âêîôûÂÊÎÔÛáéíóúýÁÉÍÓÚÝàèìòùÀÈÌÒÙ"},
    {"fr", "qbcdefghijkl.noparstuvzxyw", fr_keys, fr_compose,
     "éèçàù²°£¤µ§€¨âêîôûÂÊÎÔÛäëïöüÿÄËÏÖÜãõñÃÕÑìò"},
    {"jp", "abcdefghijklmnopqrstuvwxyz", jp_keys, no_compose, ""},
};

/* ---- reference decoder ---- */

static size_t u8len(const char *s)
{
	unsigned char c = (unsigned char)s[0];
	return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* What key `code` types at `level` on `r`: sets *out (static or into buf) and *dead. */
static bool ref_lookup(const struct ref_layout *r, const char *code, int level, char buf[2],
		       const char **out, bool *dead)
{
	for (const struct ref_key *k = r->keys; k->code; k++) {
		if (strcmp(k->code, code) == 0) {
			*out = k->lv[level];
			*dead = (k->dead >> level) & 1;
			return *out != NULL;
		}
	}
	if (strncmp(code, "Key", 3) == 0 && code[3] >= 'A' && code[3] <= 'Z' && !code[4] &&
	    level < 2) {
		char c = r->letters[code[3] - 'A'];
		if (c == '.')
			return false;
		buf[0] = (char)(level ? c - 'a' + 'A' : c);
		buf[1] = 0;
		*out = buf;
		*dead = false;
		return true;
	}
	return false;
}

static bool ref_compose(const struct ref_layout *r, const char *accent, const char *base, char *out,
			size_t outsz)
{
	for (const struct ref_compose *c = r->compose; c->accent; c++) {
		if (strcmp(c->accent, accent) != 0)
			continue;
		const char *b = c->bases, *res = c->results;
		while (*b) {
			size_t bl = u8len(b), rl = u8len(res);
			if (strlen(base) == bl && memcmp(b, base, bl) == 0) {
				snprintf(out, outsz, "%.*s", (int)rl, res);
				return true;
			}
			b += bl;
			res += rl;
		}
	}
	return false;
}

/* Decodes strokes as the target OS would; returns false (with a message) on anything a
 * real target would not turn into text. */
static bool ref_decode(const struct ref_layout *r, const struct ipkvm_stroke *s, size_t n,
		       char *out, size_t outsz)
{
	const char *pending = NULL;
	size_t len = 0;

	out[0] = 0;
	for (size_t i = 0; i < n; i++) {
		int level;
		const char *txt;
		char buf[2], comp[8];
		bool dead;

		if (ref_usage(s[i].code) != s[i].usage) {
			print_error("stroke %zu: code %s usage 0x%x\n", i, s[i].code, s[i].usage);
			return false;
		}
		if (s[i].mods == 0)
			level = 0;
		else if (s[i].mods == IPKVM_LAYOUT_MOD_SHIFT)
			level = 1;
		else if (s[i].mods == IPKVM_LAYOUT_MOD_ALTGR)
			level = 2;
		else
			return false;
		if (!ref_lookup(r, s[i].code, level, buf, &txt, &dead)) {
			print_error("stroke %zu: %s level %d types nothing\n", i, s[i].code, level);
			return false;
		}
		if (pending) {
			if (strcmp(s[i].code, "Space") == 0) {
				txt = pending;
			} else if (!dead && ref_compose(r, pending, txt, comp, sizeof(comp))) {
				txt = comp;
			} else {
				print_error("stroke %zu: dead %s + %s\n", i, pending, txt);
				return false;
			}
			pending = NULL;
		} else if (dead) {
			pending = txt;
			continue;
		}
		if (len + strlen(txt) + 1 > outsz)
			return false;
		memcpy(out + len, txt, strlen(txt) + 1);
		len += strlen(txt);
	}
	return pending == NULL;
}

/* ---- helpers ---- */

static size_t type_ok(const char *layout, const char *text, struct ipkvm_stroke *out, size_t max)
{
	const struct ipkvm_layout *l = ipkvm_layout_find(layout);
	struct ipkvm_untyped u[4];
	size_t n = 99, nu = 99;

	assert_non_null(l);
	assert_int_equal(ipkvm_layout_type(l, text, out, max, &n, u, 4, &nu), 0);
	assert_int_equal(nu, 0);
	return n;
}

static void assert_stroke(const struct ipkvm_stroke *s, const char *code, int usage, int mods)
{
	assert_string_equal(s->code, code);
	assert_int_equal(s->usage, usage);
	assert_int_equal(s->mods, mods);
}

static void append_cp(char *buf, uint32_t c)
{
	size_t l = strlen(buf);
	if (c < 0x80) {
		buf[l++] = (char)c;
	} else if (c < 0x800) {
		buf[l++] = (char)(0xC0 | (c >> 6));
		buf[l++] = (char)(0x80 | (c & 0x3F));
	} else {
		buf[l++] = (char)(0xE0 | (c >> 12));
		buf[l++] = (char)(0x80 | ((c >> 6) & 0x3F));
		buf[l++] = (char)(0x80 | (c & 0x3F));
	}
	buf[l] = 0;
}

static void roundtrip_layout(const struct ref_layout *r)
{
	const struct ipkvm_layout *l = ipkvm_layout_find(r->name);
	char set[1024] = "\n\t", dec[2048];
	struct ipkvm_stroke st[512];
	struct ipkvm_untyped u[8];
	size_t n, nu;

	assert_non_null(l);
	for (uint32_t c = 0x20; c < 0x7F; c++)
		append_cp(set, c);
	strcat(set, r->extra);

	/* the whole set at once */
	assert_int_equal(ipkvm_layout_type(l, set, st, 512, &n, u, 8, &nu), 0);
	if (nu)
		print_error("%s: untyped %s at %zu\n", r->name, u[0].utf8, u[0].index);
	assert_int_equal(nu, 0);
	assert_true(ref_decode(r, st, n, dec, sizeof(dec)));
	assert_string_equal(dec, set);

	/* each character alone, so one bad stroke cannot hide behind a neighbour */
	for (const char *p = set; *p; p += u8len(p)) {
		char one[5] = {0};
		memcpy(one, p, u8len(p));
		assert_int_equal(ipkvm_layout_type(l, one, st, 512, &n, u, 8, &nu), 0);
		assert_int_equal(nu, 0);
		assert_true(n == 1 || n == 2);
		if (!ref_decode(r, st, n, dec, sizeof(dec)))
			fail_msg("%s: %s does not decode", r->name, one);
		assert_string_equal(dec, one);
	}

	/* and nothing beyond the set is typed wrongly: every character the layout claims
	 * (U+0001..U+2FFF) decodes back to itself */
	for (uint32_t c = 1; c < 0x3000; c++) {
		char one[5] = "";
		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		append_cp(one, c);
		assert_int_equal(ipkvm_layout_type(l, one, st, 512, &n, u, 8, &nu), 0);
		if (nu) {
			assert_int_equal(nu, 1);
			assert_int_equal(n, 0);
			assert_int_equal(u[0].cp, c);
			assert_string_equal(u[0].utf8, one);
			assert_null(strstr(set, one));
			continue;
		}
		if (c == '\r') /* typed as Enter */
			continue;
		if (!ref_decode(r, st, n, dec, sizeof(dec)) || strcmp(dec, one) != 0)
			fail_msg("%s: U+%04X typed but decodes wrongly", r->name, (unsigned)c);
		if (c >= 0x80)
			assert_non_null(strstr(r->extra, one)); /* the test's set is complete */
	}
}

/* ---- tests ---- */

static void test_roundtrip_us(void **state)
{
	roundtrip_layout(&ref_layouts[0]);
}

static void test_roundtrip_uk(void **state)
{
	roundtrip_layout(&ref_layouts[1]);
}

static void test_roundtrip_de(void **state)
{
	roundtrip_layout(&ref_layouts[2]);
}

static void test_roundtrip_fr(void **state)
{
	roundtrip_layout(&ref_layouts[3]);
}

static void test_roundtrip_jp(void **state)
{
	roundtrip_layout(&ref_layouts[4]);
}

static void test_find(void **state)
{
	const char *names[] = {"de", "fr", "jp", "uk", "us"};
	size_t i;

	for (i = 0; ipkvm_layout_at(i); i++) {
		assert_true(i < 5);
		assert_string_equal(ipkvm_layout_name(ipkvm_layout_at(i)), names[i]);
		assert_ptr_equal(ipkvm_layout_find(names[i]), ipkvm_layout_at(i));
		assert_true(strlen(ipkvm_layout_description(ipkvm_layout_at(i))) > 2);
	}
	assert_int_equal(i, 5);
	assert_null(ipkvm_layout_find("US"));
	assert_null(ipkvm_layout_find("xx"));
	assert_null(ipkvm_layout_find(""));
	assert_null(ipkvm_layout_find(NULL));
	assert_string_equal(ipkvm_layout_description(ipkvm_layout_find("jp")),
			    "Japanese (JIS 106/109)");
}

static void test_jp_specifics(void **state)
{
	struct ipkvm_stroke s[16];
	const int S = IPKVM_LAYOUT_MOD_SHIFT;

	/* \ goes on IntlRo (see data/layouts/jp.txt for why not IntlYen) */
	assert_int_equal(type_ok("jp", "\\_|@[]:^~`=", s, 16), 11);
	assert_stroke(&s[0], "IntlRo", 0x87, 0);
	assert_stroke(&s[1], "IntlRo", 0x87, S);
	assert_stroke(&s[2], "IntlYen", 0x89, S);
	assert_stroke(&s[3], "BracketLeft", 0x2F, 0);
	assert_stroke(&s[4], "BracketRight", 0x30, 0);
	assert_stroke(&s[5], "Backslash", 0x31, 0);
	assert_stroke(&s[6], "Quote", 0x34, 0);
	assert_stroke(&s[7], "Equal", 0x2E, 0);
	assert_stroke(&s[8], "Equal", 0x2E, S);
	assert_stroke(&s[9], "BracketLeft", 0x2F, S);
	assert_stroke(&s[10], "Minus", 0x2D, S);
	assert_int_equal(type_ok("jp", "\"'(", s, 16), 3);
	assert_stroke(&s[0], "Digit2", 0x1F, S);
	assert_stroke(&s[1], "Digit7", 0x24, S);
	assert_stroke(&s[2], "Digit8", 0x25, S);
}

static void test_uk_specifics(void **state)
{
	struct ipkvm_stroke s[16];
	const int S = IPKVM_LAYOUT_MOD_SHIFT;

	assert_int_equal(type_ok("uk", "£@\"#~\\|¬€", s, 16), 9);
	assert_stroke(&s[0], "Digit3", 0x20, S);
	assert_stroke(&s[1], "Quote", 0x34, S);
	assert_stroke(&s[2], "Digit2", 0x1F, S);
	assert_stroke(&s[3], "Backslash", 0x31, 0);
	assert_stroke(&s[4], "Backslash", 0x31, S);
	assert_stroke(&s[5], "IntlBackslash", 0x64, 0);
	assert_stroke(&s[6], "IntlBackslash", 0x64, S);
	assert_stroke(&s[7], "Backquote", 0x35, S);
	assert_stroke(&s[8], "Digit4", 0x21, IPKVM_LAYOUT_MOD_ALTGR);
}

static void test_de_altgr_dead(void **state)
{
	struct ipkvm_stroke s[32];
	const int S = IPKVM_LAYOUT_MOD_SHIFT, A = IPKVM_LAYOUT_MOD_ALTGR;

	assert_int_equal(type_ok("de", "@€{[]}\\~|zyß", s, 32), 12);
	assert_stroke(&s[0], "KeyQ", 0x14, A);
	assert_stroke(&s[1], "KeyE", 0x08, A);
	assert_stroke(&s[2], "Digit7", 0x24, A);
	assert_stroke(&s[3], "Digit8", 0x25, A);
	assert_stroke(&s[4], "Digit9", 0x26, A);
	assert_stroke(&s[5], "Digit0", 0x27, A);
	assert_stroke(&s[6], "Minus", 0x2D, A);
	assert_stroke(&s[7], "BracketRight", 0x30, A);
	assert_stroke(&s[8], "IntlBackslash", 0x64, A);
	assert_stroke(&s[9], "KeyY", 0x1C, 0);
	assert_stroke(&s[10], "KeyZ", 0x1D, 0);
	assert_stroke(&s[11], "Minus", 0x2D, 0);

	/* dead keys: accent + base, accent + Space for the accent itself */
	assert_int_equal(type_ok("de", "âéÈ^`´", s, 32), 12);
	assert_stroke(&s[0], "Backquote", 0x35, 0);
	assert_stroke(&s[1], "KeyA", 0x04, 0);
	assert_stroke(&s[2], "Equal", 0x2E, 0);
	assert_stroke(&s[3], "KeyE", 0x08, 0);
	assert_stroke(&s[4], "Equal", 0x2E, S);
	assert_stroke(&s[5], "KeyE", 0x08, S);
	assert_stroke(&s[6], "Backquote", 0x35, 0);
	assert_stroke(&s[7], "Space", 0x2C, 0);
	assert_stroke(&s[8], "Equal", 0x2E, S);
	assert_stroke(&s[9], "Space", 0x2C, 0);
	assert_stroke(&s[10], "Equal", 0x2E, 0);
	assert_stroke(&s[11], "Space", 0x2C, 0);
}

static void test_fr_altgr_dead(void **state)
{
	struct ipkvm_stroke s[32];
	struct ipkvm_untyped u[4];
	size_t n, nu;
	const int S = IPKVM_LAYOUT_MOD_SHIFT, A = IPKVM_LAYOUT_MOD_ALTGR;

	assert_int_equal(type_ok("fr", "aqzwm,1éèçà#@]^", s, 32), 15);
	assert_stroke(&s[0], "KeyQ", 0x14, 0);
	assert_stroke(&s[1], "KeyA", 0x04, 0);
	assert_stroke(&s[2], "KeyW", 0x1A, 0);
	assert_stroke(&s[3], "KeyZ", 0x1D, 0);
	assert_stroke(&s[4], "Semicolon", 0x33, 0);
	assert_stroke(&s[5], "KeyM", 0x10, 0);
	assert_stroke(&s[6], "Digit1", 0x1E, S);
	assert_stroke(&s[7], "Digit2", 0x1F, 0);
	assert_stroke(&s[8], "Digit7", 0x24, 0);
	assert_stroke(&s[9], "Digit9", 0x26, 0);
	assert_stroke(&s[10], "Digit0", 0x27, 0);
	assert_stroke(&s[11], "Digit3", 0x20, A);
	assert_stroke(&s[12], "Digit0", 0x27, A);
	assert_stroke(&s[13], "Minus", 0x2D, A);
	assert_stroke(&s[14], "Digit9", 0x26, A);

	assert_int_equal(type_ok("fr", "êëÛ~¨", s, 32), 10);
	assert_stroke(&s[0], "BracketLeft", 0x2F, 0);
	assert_stroke(&s[1], "KeyE", 0x08, 0);
	assert_stroke(&s[2], "BracketLeft", 0x2F, S);
	assert_stroke(&s[3], "KeyE", 0x08, 0);
	assert_stroke(&s[4], "BracketLeft", 0x2F, 0);
	assert_stroke(&s[5], "KeyU", 0x18, S);
	assert_stroke(&s[6], "Digit2", 0x1F, A);
	assert_stroke(&s[7], "Space", 0x2C, 0);
	assert_stroke(&s[8], "BracketLeft", 0x2F, S);
	assert_stroke(&s[9], "Space", 0x2C, 0);

	/* capital É has no key on AZERTY: reported, not dropped, not replaced */
	assert_int_equal(ipkvm_layout_type(ipkvm_layout_find("fr"), "Été", s, 32, &n, u, 4, &nu),
			 0);
	assert_int_equal(n, 2);
	assert_stroke(&s[0], "KeyT", 0x17, 0);
	assert_stroke(&s[1], "Digit2", 0x1F, 0);
	assert_int_equal(nu, 1);
	assert_int_equal(u[0].index, 0);
	assert_int_equal(u[0].cp, 0xC9);
	assert_string_equal(u[0].utf8, "É");
}

static void test_untyped(void **state)
{
	const struct ipkvm_layout *us = ipkvm_layout_find("us"), *jp = ipkvm_layout_find("jp");
	struct ipkvm_stroke s[8];
	struct ipkvm_untyped u[4];
	size_t n, nu;

	assert_int_equal(ipkvm_layout_type(us, "a€b", s, 8, &n, u, 4, &nu), 0);
	assert_int_equal(n, 2);
	assert_stroke(&s[0], "KeyA", 0x04, 0);
	assert_stroke(&s[1], "KeyB", 0x05, 0);
	assert_int_equal(nu, 1);
	assert_int_equal(u[0].index, 1);
	assert_int_equal(u[0].cp, 0x20AC);
	assert_string_equal(u[0].utf8, "\xE2\x82\xAC");

	/* indexes count characters, not bytes; 4-byte characters too */
	assert_int_equal(ipkvm_layout_type(jp, "日本x\xF0\x9F\x98\x80y¥", s, 8, &n, u, 4, &nu), 0);
	assert_int_equal(n, 2);
	assert_stroke(&s[0], "KeyX", 0x1B, 0);
	assert_stroke(&s[1], "KeyY", 0x1C, 0);
	assert_int_equal(nu, 4);
	assert_int_equal(u[0].index, 0);
	assert_string_equal(u[0].utf8, "日");
	assert_int_equal(u[1].index, 1);
	assert_string_equal(u[1].utf8, "本");
	assert_int_equal(u[2].index, 3);
	assert_int_equal(u[2].cp, 0x1F600);
	assert_string_equal(u[2].utf8, "\xF0\x9F\x98\x80");
	assert_int_equal(u[3].index, 5);
	assert_int_equal(u[3].cp, 0xA5);

	/* control characters other than \n \r \t are reported too */
	assert_int_equal(ipkvm_layout_type(us, "\x1b", s, 8, &n, u, 4, &nu), 0);
	assert_int_equal(n, 0);
	assert_int_equal(nu, 1);
	assert_int_equal(u[0].cp, 0x1B);
}

static void test_line_breaks(void **state)
{
	struct ipkvm_stroke s[8];
	const struct ipkvm_layout *de = ipkvm_layout_find("de");
	struct ipkvm_untyped u[1];
	size_t n, nu;

	assert_int_equal(ipkvm_layout_type(de, "a\r\nb\rc\n\n\t", s, 8, &n, u, 1, &nu), 0);
	assert_int_equal(nu, 0);
	assert_int_equal(n, 8);
	assert_stroke(&s[0], "KeyA", 0x04, 0);
	assert_stroke(&s[1], "Enter", 0x28, 0);
	assert_stroke(&s[2], "KeyB", 0x05, 0);
	assert_stroke(&s[3], "Enter", 0x28, 0);
	assert_stroke(&s[4], "KeyC", 0x06, 0);
	assert_stroke(&s[5], "Enter", 0x28, 0);
	assert_stroke(&s[6], "Enter", 0x28, 0);
	assert_stroke(&s[7], "Tab", 0x2B, 0);
}

static void test_invalid_utf8(void **state)
{
	const struct ipkvm_layout *us = ipkvm_layout_find("us");
	const char *bad[] = {
	    "ab\xC3",		    /* truncated */
	    "\xC3(",		    /* bad continuation */
	    "\xC0\xAF",		    /* overlong '/' */
	    "\xE0\x80\xAF",	    /* overlong '/' */
	    "\xED\xA0\x80",	    /* surrogate D800 */
	    "\xF4\x90\x80\x80",	    /* > U+10FFFF */
	    "\xF8\x88\x80\x80\x80", /* 5-byte form */
	    "\xFF",
	    "x\x80y", /* lone continuation */
	};
	struct ipkvm_stroke s[8];
	struct ipkvm_untyped u[4];
	size_t n, nu;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ipkvm_layout_type(us, bad[i], s, 8, &n, u, 4, &nu), -EINVAL);
	assert_int_equal(ipkvm_layout_type(NULL, "a", s, 8, &n, u, 4, &nu), -EINVAL);
	assert_int_equal(ipkvm_layout_type(us, NULL, s, 8, &n, u, 4, &nu), -EINVAL);
	/* the largest valid code point is fine (and untyped) */
	assert_int_equal(ipkvm_layout_type(us, "\xF4\x8F\xBF\xBF", s, 8, &n, u, 4, &nu), 0);
	assert_int_equal(nu, 1);
	assert_int_equal(u[0].cp, 0x10FFFF);
}

static void test_sizing_and_nospc(void **state)
{
	const struct ipkvm_layout *de = ipkvm_layout_find("de");
	struct ipkvm_stroke s[3];
	struct ipkvm_untyped u[1];
	size_t n, nu;

	/* sizing call */
	assert_int_equal(ipkvm_layout_type(de, "éa¥✓", NULL, 0, &n, NULL, 0, &nu), -ENOSPC);
	assert_int_equal(n, 3);
	assert_int_equal(nu, 2);
	assert_int_equal(ipkvm_layout_type(de, "", NULL, 0, &n, NULL, 0, &nu), 0);
	assert_int_equal(n, 0);
	assert_int_equal(nu, 0);
	/* too few strokes: the first ones are still valid */
	assert_int_equal(ipkvm_layout_type(de, "éab", s, 3, &n, u, 1, &nu), -ENOSPC);
	assert_int_equal(n, 4);
	assert_stroke(&s[0], "Equal", 0x2E, 0);
	assert_stroke(&s[1], "KeyE", 0x08, 0);
	assert_stroke(&s[2], "KeyA", 0x04, 0);
	/* too few untyped slots */
	assert_int_equal(ipkvm_layout_type(de, "¥¥", s, 3, &n, u, 1, &nu), -ENOSPC);
	assert_int_equal(nu, 2);
	assert_int_equal(u[0].index, 0);
}

/* One character and one dead key at a time (keysym input). */
static void test_char_and_dead_key(void **state)
{
	const struct ipkvm_layout *de = ipkvm_layout_find("de"), *fr = ipkvm_layout_find("fr"),
				  *us = ipkvm_layout_find("us");
	struct ipkvm_stroke s[2];

	assert_int_equal(ipkvm_layout_char(de, '@', s), 1);
	assert_stroke(&s[0], "KeyQ", 0x14, IPKVM_LAYOUT_MOD_ALTGR);
	assert_int_equal(ipkvm_layout_char(de, 0xE9, s), 2); /* é: dead ´, e */
	assert_stroke(&s[0], "Equal", 0x2E, 0);
	assert_stroke(&s[1], "KeyE", 0x08, 0);
	assert_int_equal(ipkvm_layout_char(de, '^', s), 2); /* dead ^, Space */
	assert_stroke(&s[0], "Backquote", 0x35, 0);
	assert_stroke(&s[1], "Space", 0x2C, 0);
	assert_int_equal(ipkvm_layout_char(us, '\n', s), 1);
	assert_stroke(&s[0], "Enter", 0x28, 0);
	assert_int_equal(ipkvm_layout_char(us, 0xE9, s), -ENOENT);
	assert_int_equal(ipkvm_layout_char(us, 0, s), -ENOENT);
	assert_int_equal(ipkvm_layout_char(us, 0xFFFFFFFFu, s), -ENOENT);

	assert_int_equal(ipkvm_layout_dead_key(de, 0xB4, s), 0);
	assert_stroke(&s[0], "Equal", 0x2E, 0);
	assert_int_equal(ipkvm_layout_dead_key(de, '`', s), 0);
	assert_stroke(&s[0], "Equal", 0x2E, IPKVM_LAYOUT_MOD_SHIFT);
	assert_int_equal(ipkvm_layout_dead_key(fr, 0xA8, s), 0);
	assert_stroke(&s[0], "BracketLeft", 0x2F, IPKVM_LAYOUT_MOD_SHIFT);
	assert_int_equal(ipkvm_layout_dead_key(fr, '~', s), 0);
	assert_stroke(&s[0], "Digit2", 0x1F, IPKVM_LAYOUT_MOD_ALTGR);
	assert_int_equal(ipkvm_layout_dead_key(de, 0xA8, s), -ENOENT);
	assert_int_equal(ipkvm_layout_dead_key(us, '^', s), -ENOENT);
	assert_int_equal(ipkvm_layout_dead_key(us, 0, s), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_us),      cmocka_unit_test(test_roundtrip_uk),
	    cmocka_unit_test(test_roundtrip_de),      cmocka_unit_test(test_roundtrip_fr),
	    cmocka_unit_test(test_roundtrip_jp),      cmocka_unit_test(test_find),
	    cmocka_unit_test(test_jp_specifics),      cmocka_unit_test(test_uk_specifics),
	    cmocka_unit_test(test_de_altgr_dead),     cmocka_unit_test(test_fr_altgr_dead),
	    cmocka_unit_test(test_untyped),	      cmocka_unit_test(test_line_breaks),
	    cmocka_unit_test(test_invalid_utf8),      cmocka_unit_test(test_sizing_and_nospc),
	    cmocka_unit_test(test_char_and_dead_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
