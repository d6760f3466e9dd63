/*
 * config-doc: writes the documentation of the daemon's settings from the one table that also
 * parses them (ipkvm_config_keys[] in src/core/config.c), so the docs cannot drift from
 * what the daemon accepts:
 *
 *   config-doc ini                     data/ipkvm.ini: every key commented out at its default,
 *                                      under its paragraph (the table's doc text, wrapped)
 *   config-doc readme                  the README's table of keys (section, key, default,
 *                                      the table's one-line help)
 *   config-doc check README INI        exit 1, naming the file, when either differs from what
 *                                      the table makes (`make check` runs this)
 *   config-doc update README INI       rewrites both (the README between its markers)
 *
 * Why a C tool rather than a script: the table is C data (defaults come from macros, and
 * test_config.c proves each default parses), so reading it by linking config.c is the only
 * way that cannot misread it. The header of the .ini and the intro of a section are about
 * the file, not about a key, so they live here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

#define WIDTH 92 /* columns of a comment line in the .ini */

#define README_BEGIN "<!-- BEGIN GENERATED CONFIG TABLE: tests/tools/config_doc.c -->\n"
#define README_END   "<!-- END GENERATED CONFIG TABLE -->\n"

static const char ini_header[] =
    "# ipkvm.ini: settings for ipkvmd (read from /etc/ipkvm/ipkvm.ini, or --config PATH).\n"
    "#\n"
    "# Every key is listed below, commented out and set to its default: remove the leading '#'\n"
    "# and change the value to override it. Command-line options (--listen, --port, "
    "--http-port,\n"
    "# --state-dir, --web-root, --log-level) override this file.\n"
    "#\n"
    "# Syntax: [section] headers, then \"key = value\" lines. Lines starting with '#' or ';' "
    "are\n"
    "# comments; a ';' after white space ends a value. Do not indent keys: an indented line "
    "is\n"
    "# read as the continuation of the previous value and is rejected. Each key may appear "
    "once.\n"
    "# Unknown sections and keys are errors, so a typo never goes unnoticed.\n"
    "#\n"
    "# Durations are a whole number of seconds, or a number followed by a unit:\n"
    "# s (seconds), m (minutes), h (hours) or d (days), e.g. 90, 90s, 15m, 12h, 7d.\n"
    "# Paths must be absolute.\n"
    "#\n"
    "# Generated from the daemon's table of keys (src/core/config.c) by tests/tools/config_doc.c:\n"
    "# edit the table, build, then run build/tests/tools/config-doc update README.md\n"
    "# data/ipkvm.ini (make check fails while they differ).\n";

/* What a section is for, when its keys alone do not say it. */
static const struct {
	const char *section, *intro;
} intros[] = {
    {"target",
     "The built-in virtual target: a computer inside ipkvmd that parses the exact HID reports "
     "a USB host would receive, shows a firmware setup screen and then a text console, and "
     "has a power button and LEDs. ipkvmd drives it when [video] source, [hid] output or "
     "[atx] driver say virtual (the defaults), so everything can be tried without hardware."},
};

/* A growing string. */
struct out {
	char *s;
	size_t len, cap;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if (o->len + (size_t)n + 1 > o->cap) {
		o->cap = (o->len + (size_t)n + 1) * 2;
		o->s = realloc(o->s, o->cap);
		if (!o->s)
			abort();
	}
	va_start(ap, fmt);
	vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

/* text as "# " comment lines of at most WIDTH columns, broken at spaces. */
static void wrap(struct out *o, const char *text)
{
	const char *p = text;
	while (*p) {
		size_t room = WIDTH - 2, n = strlen(p);
		if (n > room) {
			n = room;
			while (n > 0 && p[n] != ' ')
				n--;
			if (n == 0) /* one word longer than a line */
				n = strcspn(p, " ");
		}
		put(o, "# %.*s\n", (int)n, p);
		p += n;
		while (*p == ' ')
			p++;
	}
}

static void make_ini(struct out *o)
{
	const char *section = "";
	put(o, "%s", ini_header);
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		if (strcmp(k->section, section) != 0) {
			section = k->section;
			put(o, "\n[%s]\n", section);
			for (size_t i = 0; i < sizeof(intros) / sizeof(intros[0]); i++) {
				if (strcmp(intros[i].section, section) == 0) {
					put(o, "\n");
					wrap(o, intros[i].intro);
				}
			}
		}
		if (k->doc) {
			put(o, "\n");
			wrap(o, k->doc);
		}
		if (k->def && *k->def)
			put(o, "#%s = %s\n", k->name, k->def);
		else
			put(o, "#%s =\n", k->name);
	}
}

/* A table cell: '|' would end it and '<' start an HTML tag. */
static void cell(struct out *o, const char *text)
{
	for (const char *p = text; *p; p++) {
		if (*p == '|')
			put(o, "\\|");
		else if (*p == '<')
			put(o, "&lt;");
		else if (*p == '>')
			put(o, "&gt;");
		else
			put(o, "%c", *p);
	}
}

static void make_readme(struct out *o)
{
	put(o, "| key | default | meaning |\n|---|---|---|\n");
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		put(o, "| `[%s] %s` | ", k->section, k->name);
		if (k->def && *k->def)
			put(o, "`%s`", k->def);
		else
			put(o, "empty");
		put(o, " | ");
		cell(o, k->help);
		put(o, " |\n");
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "config-doc: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	struct out o = {0};
	char buf[4096];
	size_t n;
	put(&o, "%s", "");
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		put(&o, "%.*s", (int)n, buf);
	fclose(f);
	return o.s;
}

static int spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "config-doc: writing %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The README with its table replaced by table; NULL when the markers are missing. */
static char *readme_with(const char *readme, const char *path, const char *table)
{
	const char *b = strstr(readme, README_BEGIN), *e = b ? strstr(b, README_END) : NULL;
	if (!e) {
		fprintf(stderr, "config-doc: %s: no \"%.*s\" ... \"%.*s\" markers\n", path,
			(int)strlen(README_BEGIN) - 1, README_BEGIN, (int)strlen(README_END) - 1,
			README_END);
		return NULL;
	}
	struct out o = {0};
	b += strlen(README_BEGIN);
	put(&o, "%.*s%s%s", (int)(b - readme), readme, table, e);
	return o.s;
}

static int usage(void)
{
	fprintf(stderr, "usage: config-doc ini | readme | check README INI | update README INI\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct out ini = {0}, table = {0};
	char *readme = NULL, *cur_ini = NULL, *new_readme = NULL;
	int rc = 0;
	make_ini(&ini);
	make_readme(&table);
	if (argc == 2 && strcmp(argv[1], "ini") == 0) {
		fputs(ini.s, stdout);
		goto out;
	}
	if (argc == 2 && strcmp(argv[1], "readme") == 0) {
		fputs(table.s, stdout);
		goto out;
	}
	if (argc != 4 || (strcmp(argv[1], "check") != 0 && strcmp(argv[1], "update") != 0)) {
		rc = usage();
		goto out;
	}
	bool update = strcmp(argv[1], "update") == 0;
	readme = slurp(argv[2]);
	cur_ini = slurp(argv[3]);
	new_readme = readme ? readme_with(readme, argv[2], table.s) : NULL;
	if (!new_readme || !cur_ini) {
		rc = 1;
		goto out;
	}
	const char *paths[2] = {argv[2], argv[3]}, *now[2] = {readme, cur_ini},
		   *want[2] = {new_readme, ini.s};
	for (int i = 0; i < 2; i++) {
		if (strcmp(now[i], want[i]) == 0)
			continue;
		if (update && spit(paths[i], want[i]) == 0)
			continue;
		if (!update)
			fprintf(
			    stderr,
			    "config-doc: %s differs from the table of keys in src/core/config.c "
			    "(run config-doc update)\n",
			    paths[i]);
		rc = 1;
	}
out:
	free(readme);
	free(cur_ini);
	free(new_readme);
	free(ini.s);
	free(table.s);
	return rc;
}
