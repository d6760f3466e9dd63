/*
 * tokens: API tokens for scripts (Authorization: Bearer). The tokens file in the state dir
 * holds one line per token:  id:sha256-hex:user:created:expires:label
 * Only the SHA-256 of a token is stored, so a leaked file does not leak tokens. The id is the
 * first 12 hex digits of that hash; it names the token in listings and for revocation.
 * created/expires are unix seconds (expires 0 = never). The label is free text without ':'
 * or newlines (may be empty). A token acts with its user's current role; deleting the user
 * ends its tokens.
 */
#ifndef IPKVM_AUTH_TOKENS_H
#define IPKVM_AUTH_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "auth/users.h"

#define IPKVM_TOKEN_PREFIX    "ipk_"
#define IPKVM_TOKEN_LEN	      (4 + 43) /* prefix + base64url of 32 random bytes */
#define IPKVM_TOKEN_ID_LEN    12
#define IPKVM_TOKEN_LABEL_MAX 64

struct ipkvm_token {
	char id[IPKVM_TOKEN_ID_LEN + 1];
	char sha256[65];
	char user[IPKVM_USER_NAME_MAX + 1];
	int64_t created, expires;
	char label[IPKVM_TOKEN_LABEL_MAX + 1];
};

struct ipkvm_tokens {
	struct ipkvm_token *v;
	size_t n, cap;
};

void ipkvm_tokens_init(struct ipkvm_tokens *t);
void ipkvm_tokens_free(struct ipkvm_tokens *t);
/* Returns 0, -ENOENT (t left empty) or -EINVAL with err = "PATH:LINE: what is wrong". */
int ipkvm_tokens_load(struct ipkvm_tokens *t, const char *path, char *err, size_t errlen);
/* The same on the file's text in memory (len bytes plus one writable byte after them, see
 * ipkvm_parse_records); name stands for the path. */
int ipkvm_tokens_parse(struct ipkvm_tokens *t, char *text, size_t len, const char *name, char *err,
		       size_t errlen);
/* Atomic write, mode 0600. Call with the users lock held: temp files that an interrupted
 * earlier write of path left are removed first. Returns 0 or -errno. */
int ipkvm_tokens_save(const struct ipkvm_tokens *t, const char *path);

/* Makes a new token for user (expires 0 = never) and appends it to t. The token text
 * (IPKVM_TOKEN_LEN chars) goes to token_out (needs IPKVM_TOKEN_LEN+1); it exists nowhere else.
 * Returns 0, -EINVAL (bad label) or -errno. */
int ipkvm_tokens_create(struct ipkvm_tokens *t, const char *user, int64_t now, int64_t expires,
			const char *label, char *token_out, size_t token_out_len);

/* Finds the entry matching a presented token (constant-time hash compare) that has not
 * expired at now. Returns NULL when none. */
const struct ipkvm_token *ipkvm_tokens_match(const struct ipkvm_tokens *t, const char *token,
					     int64_t now);

/* Removes the token with this id. Returns 0 or -ENOENT. */
int ipkvm_tokens_del(struct ipkvm_tokens *t, const char *id);
/* Removes every token of user; returns how many. */
size_t ipkvm_tokens_del_user(struct ipkvm_tokens *t, const char *user);

#endif
