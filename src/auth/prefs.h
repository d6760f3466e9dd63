/*
 * prefs: what each user chose for the console and the device remembers for them, so it
 * follows them to any browser. Kept in <state>/preferences, one line per user:
 *     name:language
 * where language is a language tag as the web UI's catalogs are named ("ja", "en",
 * "pt-BR"). Users without a choice have no line. Lines starting with '#' and blank lines are
 * ignored on load and not preserved. The file has the life cycle of the users file: written
 * atomically with mode 0600 under the users lock, and a deleted user's line goes with it.
 */
#ifndef IPKVM_AUTH_PREFS_H
#define IPKVM_AUTH_PREFS_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/users.h"

#define IPKVM_PREFS_FILE   "preferences"
#define IPKVM_LANGUAGE_MAX 35 /* characters of a language tag */

struct ipkvm_pref {
	char user[IPKVM_USER_NAME_MAX + 1];
	char language[IPKVM_LANGUAGE_MAX + 1];
};

struct ipkvm_prefs {
	struct ipkvm_pref *v;
	size_t n, cap;
};

/* A language tag as the catalogs are named: ^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$, at most
 * IPKVM_LANGUAGE_MAX characters. */
bool ipkvm_language_valid(const char *code);

void ipkvm_prefs_init(struct ipkvm_prefs *p);
void ipkvm_prefs_free(struct ipkvm_prefs *p);
/* Loads path, replacing p's contents. Returns 0, -ENOENT (p left empty), or -EINVAL with
 * err = "PATH:LINE: what is wrong" (bad field count, bad user name, bad language, a user
 * twice). */
int ipkvm_prefs_load(struct ipkvm_prefs *p, const char *path, char *err, size_t errlen);
/* The same on the file's text in memory (len bytes plus one writable byte after them, see
 * ipkvm_parse_records); name stands for the path. */
int ipkvm_prefs_parse(struct ipkvm_prefs *p, char *text, size_t len, const char *name, char *err,
		      size_t errlen);
/* Writes p to path atomically, mode 0600, under the users lock (temp files an interrupted
 * earlier write left are removed first). Returns 0 or -errno. */
int ipkvm_prefs_save(const struct ipkvm_prefs *p, const char *path);
/* The user's language, or NULL when they chose none. */
const char *ipkvm_prefs_language(const struct ipkvm_prefs *p, const char *user);
/* Sets (language != NULL) or clears (NULL) the user's language. Returns 0, -EINVAL (bad
 * user name or language) or -ENOMEM. */
int ipkvm_prefs_set_language(struct ipkvm_prefs *p, const char *user, const char *language);
/* Forgets everything about user (deleted). Returns whether there was something. */
bool ipkvm_prefs_del_user(struct ipkvm_prefs *p, const char *user);
/* The same in the file at path (rewritten only when it had a line of user; no file is
 * nothing to do). Call with the users lock held. Returns 0, or -errno with err set (a file
 * that does not parse is left alone and refused: -EINVAL). */
int ipkvm_prefs_drop_user(const char *path, const char *user, char *err, size_t errlen);

#endif
