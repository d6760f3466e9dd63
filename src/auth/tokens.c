/*
 * tokens: long-lived API tokens for scripts, kept in <state>/tokens.
 *
 * A token is "ipk_" + base64url(32 random bytes); the prefix lets secret scanners and humans
 * recognise it. Only its SHA-256 is stored: the token has 256 bits of entropy, so a fast
 * unsalted hash is enough to make the file useless to a thief, and it keeps the check per
 * request cheap (unlike a password hash). Matching compares the hash against every entry in
 * constant time and does not stop at the first hit.
 *
 * The file has the same shape and life cycle as the users file (text lines, rewritten
 * atomically under the users lock), so the CLI and the daemon handle both the same way.
 */
#define LOG_TAG "tokens"

#include "auth/tokens.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "core/log.h"
#include "core/util.h"

#define TOKENS_FILE_MAX (4 * 1024 * 1024)
#define TOKEN_RANDOM	32

void ipkvm_tokens_init(struct ipkvm_tokens *t)
{
	t->v = NULL;
	t->n = t->cap = 0;
}

void ipkvm_tokens_free(struct ipkvm_tokens *t)
{
	free(t->v);
	ipkvm_tokens_init(t);
}

static bool label_valid(const char *label)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)label; *p; p++, n++) {
		/* ':' separates fields; control characters would break lines and listings. */
		if (n >= IPKVM_TOKEN_LABEL_MAX || *p == ':' || *p < ' ' || *p == 0x7f)
			return false;
	}
	return true;
}

static bool hex_valid(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* Non-negative decimal without sign, spaces or leading zeros beyond "0". */
static bool parse_time(const char *s, int64_t *out)
{
	int64_t v = 0;
	if (!s[0] || (s[0] == '0' && s[1]))
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return true;
}

static const struct ipkvm_token *find_id(const struct ipkvm_tokens *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].id, id) == 0)
			return &t->v[i];
	}
	return NULL;
}

static int append(struct ipkvm_tokens *t, const struct ipkvm_token *tok)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 8;
		struct ipkvm_token *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = *tok;
	return 0;
}

/* Parses one line (NUL-terminated, no newline). Returns NULL or what is wrong. */
static const char *parse_line(char *line, struct ipkvm_token *out)
{
	char *f[6];
	size_t nf = 0;
	char *p = line;
	for (;;) {
		if (nf == IPKVM_ARRAY_SIZE(f))
			return "expected id:sha256:user:created:expires:label";
		f[nf++] = p;
		char *c = strchr(p, ':');
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	if (nf != 6)
		return "expected id:sha256:user:created:expires:label";
	memset(out, 0, sizeof(*out));
	if (!hex_valid(f[1], 64))
		return "bad sha256 (expected 64 lower-case hex digits)";
	if (!hex_valid(f[0], IPKVM_TOKEN_ID_LEN) || memcmp(f[0], f[1], IPKVM_TOKEN_ID_LEN) != 0)
		return "bad id (must be the first 12 hex digits of the sha256)";
	if (!ipkvm_user_name_valid(f[2]))
		return "invalid user name";
	if (!parse_time(f[3], &out->created))
		return "bad created time";
	if (!parse_time(f[4], &out->expires))
		return "bad expiry time";
	if (!label_valid(f[5]))
		return "bad label";
	ipkvm_strlcpy(out->id, f[0], sizeof(out->id));
	ipkvm_strlcpy(out->sha256, f[1], sizeof(out->sha256));
	ipkvm_strlcpy(out->user, f[2], sizeof(out->user));
	ipkvm_strlcpy(out->label, f[5], sizeof(out->label));
	return NULL;
}

static int load_line(void *ctx, char *line, char *msg, size_t msglen)
{
	struct ipkvm_tokens *nt = ctx;
	struct ipkvm_token tok;
	const char *what = parse_line(line, &tok);
	if (!what && find_id(nt, tok.id))
		what = "duplicate token id";
	if (what) {
		snprintf(msg, msglen, "%s", what);
		return -EINVAL;
	}
	return append(nt, &tok);
}

/* Like the users file: on any error t ends up empty, never half old, half new. */
static int load_result(struct ipkvm_tokens *t, struct ipkvm_tokens *nt, int r)
{
	ipkvm_tokens_free(t);
	if (r == 0)
		*t = *nt;
	else
		ipkvm_tokens_free(nt);
	return r;
}

int ipkvm_tokens_load(struct ipkvm_tokens *t, const char *path, char *err, size_t errlen)
{
	struct ipkvm_tokens nt;
	ipkvm_tokens_init(&nt);
	int r = ipkvm_read_records(path, TOKENS_FILE_MAX, load_line, &nt, err, errlen);
	return load_result(t, &nt, r);
}

int ipkvm_tokens_parse(struct ipkvm_tokens *t, char *text, size_t len, const char *name, char *err,
		       size_t errlen)
{
	struct ipkvm_tokens nt;
	ipkvm_tokens_init(&nt);
	int r = ipkvm_parse_records(text, len, name, load_line, &nt, err, errlen);
	return load_result(t, &nt, r);
}

int ipkvm_tokens_save(const struct ipkvm_tokens *t, const char *path)
{
	/* id, hash, user, two int64 (<= 19 digits), label, 5 colons, newline. */
	size_t per =
	    IPKVM_TOKEN_ID_LEN + 64 + IPKVM_USER_NAME_MAX + 2 * 20 + IPKVM_TOKEN_LABEL_MAX + 6;
	size_t cap = t->n * per + 1;
	char *buf = malloc(cap);
	size_t o = 0;
	int r = 0;
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		const struct ipkvm_token *x = &t->v[i];
		if (!hex_valid(x->sha256, 64) || !hex_valid(x->id, IPKVM_TOKEN_ID_LEN) ||
		    !ipkvm_user_name_valid(x->user) || x->created < 0 || x->expires < 0 ||
		    !label_valid(x->label)) {
			LOG_ERROR("refusing to save invalid token entry '%s'", x->id);
			r = -EINVAL;
			goto out;
		}
		int n = snprintf(buf + o, cap - o, "%s:%s:%s:%" PRId64 ":%" PRId64 ":%s\n", x->id,
				 x->sha256, x->user, x->created, x->expires, x->label);
		if (n < 0 || (size_t)n >= cap - o) {
			r = -EOVERFLOW;
			goto out;
		}
		o += (size_t)n;
	}
	/* Every writer of path holds the users lock, so a temp file of path seen now was left
	 * by a killed writer. */
	ipkvm_remove_atomic_leftovers(path);
	r = ipkvm_write_file_atomic(path, buf, o, 0600);
	if (r < 0)
		LOG_ERROR("cannot write %s: %s", path, strerror(-r));
out:
	free(buf);
	return r;
}

/* Lower-case hex SHA-256 of the token text into out (65 bytes). */
static void token_digest(const char *token, size_t len, char *out)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)token, len, md);
	ipkvm_hex_encode(md, sizeof(md), out);
	OPENSSL_cleanse(md, sizeof(md));
}

int ipkvm_tokens_create(struct ipkvm_tokens *t, const char *user, int64_t now, int64_t expires,
			const char *label, char *token_out, size_t token_out_len)
{
	uint8_t rnd[TOKEN_RANDOM];
	char text[IPKVM_TOKEN_LEN + 1];
	struct ipkvm_token tok;
	int r;
	if (!label)
		label = "";
	memset(&tok, 0, sizeof(tok));
	if (!ipkvm_user_name_valid(user) || !label_valid(label) || expires < 0 || now < 0) {
		r = -EINVAL;
		goto out;
	}
	if (token_out_len < IPKVM_TOKEN_LEN + 1) {
		r = -ENOSPC;
		goto out;
	}
	/* A 48-bit id collision is astronomically unlikely, but ids must be unique to revoke
	 * the right token, so draw again rather than assume. */
	do {
		r = ipkvm_random_bytes(rnd, sizeof(rnd));
		if (r < 0)
			goto out;
		memcpy(text, IPKVM_TOKEN_PREFIX, 4);
		ipkvm_base64url_encode(rnd, sizeof(rnd), text + 4);
		token_digest(text, IPKVM_TOKEN_LEN, tok.sha256);
		memcpy(tok.id, tok.sha256, IPKVM_TOKEN_ID_LEN);
		tok.id[IPKVM_TOKEN_ID_LEN] = '\0';
	} while (find_id(t, tok.id));
	ipkvm_strlcpy(tok.user, user, sizeof(tok.user));
	ipkvm_strlcpy(tok.label, label, sizeof(tok.label));
	tok.created = now;
	tok.expires = expires;
	r = append(t, &tok);
	if (r < 0)
		goto out;
	memcpy(token_out, text, IPKVM_TOKEN_LEN + 1);
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	OPENSSL_cleanse(text, sizeof(text));
	return r;
}

const struct ipkvm_token *ipkvm_tokens_match(const struct ipkvm_tokens *t, const char *token,
					     int64_t now)
{
	char digest[65];
	const struct ipkvm_token *found = NULL;
	/* Length and prefix are not secret: reject what cannot be a token without hashing. */
	if (!token || strnlen(token, IPKVM_TOKEN_LEN + 1) != IPKVM_TOKEN_LEN ||
	    memcmp(token, IPKVM_TOKEN_PREFIX, 4) != 0)
		return NULL;
	token_digest(token, IPKVM_TOKEN_LEN, digest);
	for (size_t i = 0; i < t->n; i++) {
		if (ipkvm_memeq_ct(digest, t->v[i].sha256, 64))
			found = &t->v[i];
	}
	if (found && found->expires != 0 && now >= found->expires)
		found = NULL;
	return found;
}

int ipkvm_tokens_del(struct ipkvm_tokens *t, const char *id)
{
	const struct ipkvm_token *p = id ? find_id(t, id) : NULL;
	if (!p)
		return -ENOENT;
	size_t i = (size_t)(p - t->v);
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
	t->n--;
	return 0;
}

size_t ipkvm_tokens_del_user(struct ipkvm_tokens *t, const char *user)
{
	size_t o = 0, removed = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].user, user) == 0) {
			removed++;
			continue;
		}
		if (o != i)
			t->v[o] = t->v[i];
		o++;
	}
	t->n = o;
	return removed;
}
