/*
 * users: the users file, one line per user:  name:hash:role[:totp-secret]
 * The hash is yescrypt ($y$, libxcrypt); the TOTP secret is RFC 4648 base32.
 * Lines starting with '#' and blank lines are ignored on load and not preserved.
 * The file is always written atomically (temp file + rename) with mode 0600.
 */
#ifndef IPKVM_AUTH_USERS_H
#define IPKVM_AUTH_USERS_H

#include <stdbool.h>
#include <stddef.h>

enum ipkvm_role {
	IPKVM_ROLE_VIEWER = 0,	 /* may watch */
	IPKVM_ROLE_OPERATOR = 1, /* may also send input and change target state */
	IPKVM_ROLE_ADMIN = 2,	 /* may also manage the device */
};

#define IPKVM_USER_NAME_MAX 32 /* characters */
#define IPKVM_HASH_MAX	    256
#define IPKVM_TOTP_B32_MAX  64
#define IPKVM_PASSWORD_MIN  8
#define IPKVM_PASSWORD_MAX  511 /* libxcrypt refuses 512 bytes and more */

/* File names inside the state directory. */
#define IPKVM_USERS_FILE	    "users"
#define IPKVM_TOKENS_FILE	    "tokens"
#define IPKVM_INITIAL_PASSWORD_FILE "initial-admin-password"
#define IPKVM_USERS_LOCK_FILE	    ".users.lock"

struct ipkvm_user {
	char name[IPKVM_USER_NAME_MAX + 1];
	char hash[IPKVM_HASH_MAX];
	enum ipkvm_role role;
	char totp[IPKVM_TOTP_B32_MAX + 1]; /* "" when TOTP is off */
};

struct ipkvm_users {
	struct ipkvm_user *v;
	size_t n, cap;
};

const char *ipkvm_role_name(enum ipkvm_role role);
/* "admin", "operator", "viewer". Returns 0 or -EINVAL. */
int ipkvm_role_parse(const char *s, enum ipkvm_role *out);

/* A user name is 1..32 of [a-z0-9._-], starting with a letter or digit. */
bool ipkvm_user_name_valid(const char *name);

/* Hashes password with yescrypt and a fresh random salt. Returns 0, -EINVAL for a password
 * shorter than IPKVM_PASSWORD_MIN or longer than IPKVM_PASSWORD_MAX, or -errno. */
int ipkvm_password_hash(const char *password, char *out, size_t outlen);
/* True when password matches hash. Takes about as long for a bad hash as for a good one:
 * callers verify against a dummy hash for unknown users so timing does not reveal them. */
bool ipkvm_password_verify(const char *password, const char *hash);
/* A valid yescrypt hash of a random password, made once per process, for the above. */
const char *ipkvm_password_dummy_hash(void);
/* A random password of 20 characters from an unambiguous alphabet into out (needs 21). */
int ipkvm_password_generate(char *out, size_t outlen);

void ipkvm_users_init(struct ipkvm_users *u);
void ipkvm_users_free(struct ipkvm_users *u);
/* Loads path, replacing u's contents. Returns 0, -ENOENT (u left empty), or -EINVAL with
 * err = "PATH:LINE: what is wrong" (bad field count, bad name, unknown role, duplicate user,
 * hash that is not a crypt(3) hash, bad base32 secret). */
int ipkvm_users_load(struct ipkvm_users *u, const char *path, char *err, size_t errlen);
/* The same on the file's text in memory (len bytes plus one writable byte after them, see
 * ipkvm_parse_records; the text is cut into lines in place); name stands for the path. */
int ipkvm_users_parse(struct ipkvm_users *u, char *text, size_t len, const char *name, char *err,
		      size_t errlen);
/* Writes u to path atomically, mode 0600. Call with the users lock held: temp files that
 * an interrupted earlier write of path left are removed first. Returns 0 or -errno. */
int ipkvm_users_save(const struct ipkvm_users *u, const char *path);
/* Takes an exclusive flock on <state_dir>/.users.lock (created 0600), serializing every
 * writer of the users and tokens files (the CLI and the daemon). Returns an fd to close to
 * unlock, or -errno. */
int ipkvm_users_lock(const char *state_dir);
/* Removes the temp files that writes killed midway left of the files the users lock guards
 * (users, tokens, initial-admin-password, preferences; the third holds a password in clear). Call
 * with the users lock held, so no writer is at work. Returns how many were removed. */
int ipkvm_users_remove_leftovers(const char *state_dir);
struct ipkvm_user *ipkvm_users_find(const struct ipkvm_users *u, const char *name);
/* How many users hold the admin role (the last one may neither go nor step down). */
size_t ipkvm_users_count_admins(const struct ipkvm_users *u);
/* Appends a copy of user. Returns 0, -EEXIST, -EINVAL (bad name) or -ENOMEM. */
int ipkvm_users_add(struct ipkvm_users *u, const struct ipkvm_user *user);
/* Returns 0 or -ENOENT. */
int ipkvm_users_del(struct ipkvm_users *u, const char *name);

#endif
