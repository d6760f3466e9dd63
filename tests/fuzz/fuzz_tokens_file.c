/*
 * tokens_file: the API tokens file (id:sha256:user:created:expires:label,
 * src/auth/tokens.c) from memory, through ipkvm_tokens_parse(), the parser
 * ipkvm_tokens_load() uses.
 *
 * Checked on every run: an error is -EINVAL with a "tokens:LINE: ..." message and leaves
 * the list empty; an accepted file holds ids that are the first 12 hex digits of their
 * hash, distinct, valid user names and labels without ':' or line breaks, and survives a
 * round trip through ipkvm_tokens_save() and ipkvm_tokens_load() unchanged. A token made
 * for the first entry's user is then found by ipkvm_tokens_match().
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/tokens.h"
#include "core/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "tokens_file harness: %s: %s\n", what, detail ? detail : "");
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
	snprintf(path, sizeof(path), "%s/ipkvm-fuzz-%d-tokens", dir, (int)getpid());
	atexit(remove_file);
	return 0;
}

static void check_token(const struct ipkvm_token *t)
{
	if (strlen(t->id) != IPKVM_TOKEN_ID_LEN || strlen(t->sha256) != 64 ||
	    strncmp(t->id, t->sha256, IPKVM_TOKEN_ID_LEN) != 0)
		fail("id is not the start of the hash", t->id);
	if (strspn(t->sha256, "0123456789abcdef") != 64)
		fail("hash is not lower-case hex", t->sha256);
	if (!ipkvm_user_name_valid(t->user))
		fail("invalid user accepted", t->user);
	if (strpbrk(t->label, ":\r\n"))
		fail("invalid label accepted", t->label);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1); /* one byte more: the last line is cut there */
	memcpy(text, data, size);
	char err[512];
	struct ipkvm_tokens t;
	ipkvm_tokens_init(&t);
	int r = ipkvm_tokens_parse(&t, text, size, "tokens", err, sizeof(err));
	free(text);
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			fail("unexpected error code", err);
		if (strncmp(err, "tokens:", 7) != 0 || t.n != 0)
			fail("bad error result", err);
		ipkvm_tokens_free(&t);
		return 0;
	}
	for (size_t i = 0; i < t.n; i++) {
		check_token(&t.v[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(t.v[i].id, t.v[j].id) == 0)
				fail("duplicate id accepted", t.v[i].id);
	}
	if (t.n) {
		struct ipkvm_tokens again;
		ipkvm_tokens_init(&again);
		if (ipkvm_tokens_save(&t, path) < 0 ||
		    ipkvm_tokens_load(&again, path, err, sizeof(err)) < 0)
			fail("a saved file does not load", err);
		if (again.n != t.n)
			fail("round trip changed the count", NULL);
		for (size_t i = 0; i < t.n; i++)
			if (strcmp(again.v[i].id, t.v[i].id) != 0 ||
			    strcmp(again.v[i].sha256, t.v[i].sha256) != 0 ||
			    strcmp(again.v[i].user, t.v[i].user) != 0 ||
			    again.v[i].created != t.v[i].created ||
			    again.v[i].expires != t.v[i].expires ||
			    strcmp(again.v[i].label, t.v[i].label) != 0)
				fail("round trip changed a token", t.v[i].id);
		ipkvm_tokens_free(&again);
		/* A fresh token for a user of the file matches, and only itself. */
		char tok[IPKVM_TOKEN_LEN + 1];
		if (ipkvm_tokens_create(&t, t.v[0].user, 1000, 0, "fuzz", tok, sizeof(tok)) == 0) {
			const struct ipkvm_token *m = ipkvm_tokens_match(&t, tok, 1000);
			if (!m || m != &t.v[t.n - 1])
				fail("a new token does not match itself", tok);
		}
	}
	ipkvm_tokens_free(&t);
	return 0;
}
