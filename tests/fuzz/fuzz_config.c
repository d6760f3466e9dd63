/*
 * config: the INI config file (src/core/config.c on inih) from memory, through
 * ipkvm_config_load_buffer(), the same reader the file loader uses.
 *
 * Beyond "no crash, no sanitizer report", each run checks what the loader promises:
 *  - an error is -EINVAL or -ENOMEM with a message naming the file;
 *  - a config it accepts has every value inside its key's rules (range, choice, address,
 *    absolute path), read back from the table that drives the parser;
 *  - what it accepts survives a round trip: written back out as INI text, one key per line,
 *    and loaded again, it gives the same values.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.ini"

static void fail(const char *what, const struct ipkvm_config_key *k, const char *err)
{
	fprintf(stderr, "config harness: %s%s%s%s%s: %s\n", what, k ? " [" : "",
		k ? k->section : "", k ? "] " : "", k ? k->name : "", err ? err : "");
	abort();
}

/* The names ipkvm_log_level_parse() takes, by level, to write a level back out. */
static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

static void *field(struct ipkvm_config *cfg, const struct ipkvm_config_key *k)
{
	return (char *)cfg + k->offset;
}

static bool is_string(enum ipkvm_config_type t)
{
	return t == IPKVM_CFG_STRING || t == IPKVM_CFG_ADDRESS || t == IPKVM_CFG_PATH;
}

/* A choice field holds the index of one of its key's words. */
static bool choice_ok(const struct ipkvm_config_key *k, int v)
{
	return v >= 0 && ipkvm_config_choice_name(k->section, k->name, v) != NULL;
}

/* Every accepted value obeys its key's rules. */
static void check_values(struct ipkvm_config *cfg)
{
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		void *f = field(cfg, k);
		const char *s = is_string(k->type) ? *(char **)f : NULL;
		switch (k->type) {
		case IPKVM_CFG_PORT:
		case IPKVM_CFG_INT:
		case IPKVM_CFG_DURATION: {
			int v = *(int *)f;
			if (v < k->min || v > k->max)
				fail("value out of range", k, NULL);
			break;
		}
		case IPKVM_CFG_SIZE:
			if (*(int64_t *)f < 0 || *(int64_t *)f > (INT64_C(1) << 60))
				fail("size out of range", k, NULL);
			break;
		case IPKVM_CFG_LOGLEVEL:
			if (*(int *)f < IPKVM_LOG_ERROR || *(int *)f > IPKVM_LOG_DEBUG)
				fail("bad log level", k, NULL);
			break;
		case IPKVM_CFG_ADDRESS: {
			unsigned char buf[16];
			if (s && *s && inet_pton(AF_INET, s, buf) != 1 &&
			    inet_pton(AF_INET6, s, buf) != 1)
				fail("not an address", k, s);
			break;
		}
		case IPKVM_CFG_PATH:
			if (s && s[0] != '/')
				fail("not an absolute path", k, s);
			if (!s && k->min > 0)
				fail("required path missing", k, NULL);
			break;
		case IPKVM_CFG_CHOICE:
			if (!choice_ok(k, *(int *)f))
				fail("not one of the choices", k, NULL);
			break;
		case IPKVM_CFG_STRING:
			break;
		}
	}
}

/* The config as INI text, one key per line in the table's order, "name=value" (no longer
 * than the line it was read from). */
static char *render(struct ipkvm_config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	const char *section = "";
	if (!f)
		abort();
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		void *p = field(cfg, k);
		if (strcmp(section, k->section) != 0)
			fprintf(f, "[%s]\n", section = k->section);
		switch (k->type) {
		case IPKVM_CFG_PORT:
		case IPKVM_CFG_INT:
		case IPKVM_CFG_DURATION:
			fprintf(f, "%s=%d\n", k->name, *(int *)p);
			break;
		case IPKVM_CFG_SIZE:
			fprintf(f, "%s=%lld\n", k->name, (long long)*(int64_t *)p);
			break;
		case IPKVM_CFG_LOGLEVEL:
			fprintf(f, "%s=%s\n", k->name, log_level_names[*(enum ipkvm_log_level *)p]);
			break;
		case IPKVM_CFG_CHOICE:
			fprintf(f, "%s=%s\n", k->name,
				ipkvm_config_choice_name(k->section, k->name, *(int *)p));
			break;
		default:
			fprintf(f, "%s=%s\n", k->name, *(char **)p ? *(char **)p : "");
		}
	}
	fclose(f);
	return text;
}

static void compare(struct ipkvm_config *a, struct ipkvm_config *b)
{
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		void *x = field(a, k), *y = field(b, k);
		bool same;
		if (is_string(k->type)) {
			const char *s = *(char **)x, *t = *(char **)y;
			/* An empty free-text or path value reads back as unset (NULL). */
			same = strcmp(s ? s : "", t ? t : "") == 0;
		} else if (k->type == IPKVM_CFG_SIZE) {
			same = *(int64_t *)x == *(int64_t *)y;
		} else {
			same = *(int *)x == *(int *)y;
		}
		if (!same)
			fail("value changed in a round trip", k, NULL);
	}
}

/* ipkvm_config_init() runs every default through the parser (most of a run's time):
 * done once, and each run starts from a copy. */
static struct ipkvm_config defaults;

static void init_config(struct ipkvm_config *cfg)
{
	*cfg = defaults;
	for (const struct ipkvm_config_key *k = ipkvm_config_keys; k->name; k++) {
		char **p = field(cfg, k);
		if (is_string(k->type) && *p && !(*p = strdup(*p)))
			abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	ipkvm_config_init(&defaults);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipkvm_config cfg;
	char err[1024] = "";
	init_config(&cfg);
	int r = ipkvm_config_load_buffer(&cfg, (const char *)data, size, NAME, err, sizeof(err));
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			fail("unexpected error code", NULL, err);
		if (strncmp(err, NAME ":", strlen(NAME ":")) != 0)
			fail("error message does not name the file", NULL, err);
	} else {
		check_values(&cfg);
		size_t len = 0;
		char *text = render(&cfg, &len);
		struct ipkvm_config again;
		init_config(&again);
		if (ipkvm_config_load_buffer(&again, text, len, NAME, err, sizeof(err)) < 0)
			fail("the config written back does not load", NULL, err);
		compare(&cfg, &again);
		ipkvm_config_free(&again);
		free(text);
	}
	ipkvm_config_free(&cfg);
	return 0;
}
