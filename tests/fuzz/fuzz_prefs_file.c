/*
 * prefs_file: the per-user preferences file (name:language, src/auth/prefs.c) from memory,
 * through ipkvm_prefs_parse(), the parser ipkvm_prefs_load() uses.
 *
 * Checked on every run: an error is -EINVAL with a "preferences:LINE: ..." message and
 * leaves the list empty; an accepted file holds distinct valid user names with valid
 * language tags, and survives a round trip through ipkvm_prefs_save() and
 * ipkvm_prefs_load() unchanged; clearing the first user's language removes exactly that
 * entry.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/prefs.h"
#include "core/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "prefs_file harness: %s: %s\n", what, detail ? detail : "");
	abort();
}

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(path, sizeof(path), "%s/ipkvm-fuzz-%d-preferences", dir, (int)getpid());
	atexit(remove_file);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1); /* one byte more: the last line is cut there */
	memcpy(text, data, size);
	char err[512];
	struct ipkvm_prefs p;
	ipkvm_prefs_init(&p);
	int r = ipkvm_prefs_parse(&p, text, size, "preferences", err, sizeof(err));
	free(text);
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			fail("unexpected error code", err);
		if (strncmp(err, "preferences:", 12) != 0 || p.n != 0)
			fail("bad error result", err);
		ipkvm_prefs_free(&p);
		return 0;
	}
	for (size_t i = 0; i < p.n; i++) {
		if (!ipkvm_user_name_valid(p.v[i].user))
			fail("invalid user accepted", p.v[i].user);
		if (!ipkvm_language_valid(p.v[i].language) || strpbrk(p.v[i].language, ":\r\n"))
			fail("invalid language accepted", p.v[i].language);
		if (ipkvm_prefs_language(&p, p.v[i].user) != p.v[i].language)
			fail("a user is found elsewhere", p.v[i].user);
		for (size_t j = 0; j < i; j++)
			if (strcmp(p.v[i].user, p.v[j].user) == 0)
				fail("duplicate user accepted", p.v[i].user);
	}
	if (p.n) {
		struct ipkvm_prefs again;
		ipkvm_prefs_init(&again);
		if (ipkvm_prefs_save(&p, path) < 0 ||
		    ipkvm_prefs_load(&again, path, err, sizeof(err)) < 0)
			fail("a saved file does not load", err);
		if (again.n != p.n)
			fail("round trip changed the count", NULL);
		for (size_t i = 0; i < p.n; i++)
			if (strcmp(again.v[i].user, p.v[i].user) != 0 ||
			    strcmp(again.v[i].language, p.v[i].language) != 0)
				fail("round trip changed an entry", p.v[i].user);
		ipkvm_prefs_free(&again);
		char first[IPKVM_USER_NAME_MAX + 1];
		snprintf(first, sizeof(first), "%s", p.v[0].user);
		size_t n = p.n;
		if (ipkvm_prefs_set_language(&p, first, NULL) != 0 || p.n != n - 1 ||
		    ipkvm_prefs_language(&p, first))
			fail("clearing a language did not remove its entry", first);
	}
	ipkvm_prefs_free(&p);
	return 0;
}
