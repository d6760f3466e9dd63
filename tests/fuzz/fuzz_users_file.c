/*
 * users_file: the users file (name:hash:role[:totp-secret], src/auth/users.c) from memory,
 * through ipkvm_users_parse(), the parser ipkvm_users_load() uses.
 *
 * Checked on every run: an error is -EINVAL with a "users:LINE: ..." message and leaves
 * the list empty; an accepted file holds only valid, distinct names, crypt(3)-looking
 * hashes, known roles and canonical base32 secrets, and survives a round trip through
 * ipkvm_users_save() and ipkvm_users_load() unchanged.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/users.h"
#include "core/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "users_file harness: %s: %s\n", what, detail ? detail : "");
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
	snprintf(path, sizeof(path), "%s/ipkvm-fuzz-%d-users", dir, (int)getpid());
	atexit(remove_file);
	return 0;
}

static void check_user(const struct ipkvm_user *u)
{
	if (!ipkvm_user_name_valid(u->name))
		fail("invalid name accepted", u->name);
	if (u->hash[0] != '$' || strchr(u->hash, ':') || strlen(u->hash) < 2)
		fail("invalid hash accepted", u->hash);
	if (u->role < IPKVM_ROLE_VIEWER || u->role > IPKVM_ROLE_ADMIN)
		fail("invalid role accepted", u->name);
	for (const char *p = u->totp; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '2' && *p <= '7')))
			fail("invalid TOTP secret accepted", u->totp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One byte more than the text: the parser cuts the last line there. */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	char err[512];
	struct ipkvm_users u;
	ipkvm_users_init(&u);
	int r = ipkvm_users_parse(&u, text, size, "users", err, sizeof(err));
	free(text);
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			fail("unexpected error code", err);
		if (strncmp(err, "users:", 6) != 0 || u.n != 0)
			fail("bad error result", err);
		ipkvm_users_free(&u);
		return 0;
	}
	for (size_t i = 0; i < u.n; i++) {
		check_user(&u.v[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(u.v[i].name, u.v[j].name) == 0)
				fail("duplicate user accepted", u.v[i].name);
	}
	if (u.n) {
		struct ipkvm_users again;
		ipkvm_users_init(&again);
		if (ipkvm_users_save(&u, path) < 0 ||
		    ipkvm_users_load(&again, path, err, sizeof(err)) < 0)
			fail("a saved file does not load", err);
		if (again.n != u.n)
			fail("round trip changed the count", NULL);
		for (size_t i = 0; i < u.n; i++)
			if (strcmp(again.v[i].name, u.v[i].name) != 0 ||
			    strcmp(again.v[i].hash, u.v[i].hash) != 0 ||
			    again.v[i].role != u.v[i].role ||
			    strcmp(again.v[i].totp, u.v[i].totp) != 0)
				fail("round trip changed a user", u.v[i].name);
		ipkvm_users_free(&again);
	}
	ipkvm_users_free(&u);
	return 0;
}
