/*
 * users: the users file and password hashing.
 *
 * The file is plain text, one `name:hash:role[:totp]` line per user, so an administrator can
 * read it and the CLI can edit it without a database. Both the daemon and `ipkvmd user`
 * rewrite it whole (temp file + rename, mode 0600) while holding an flock on a separate lock
 * file: readers never see a half-written file, and writers never lose each other's changes.
 *
 * Passwords use libxcrypt's yescrypt ($y$) through the re-entrant crypt_rn() with a
 * heap-allocated struct crypt_data (about 32 KiB, too big for some thread stacks), so the
 * daemon may verify passwords from worker threads. Verification always runs one full
 * yescrypt computation, also for malformed hashes and unknown users (through the dummy
 * hash), so the time a login takes does not tell whether the user exists.
 */
#define LOG_TAG "users"

#include "auth/users.h"
#include "auth/prefs.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

/* Larger users files are refused: even thousands of users fit easily. */
#define USERS_FILE_MAX (1024 * 1024)
/* libxcrypt refuses passphrases of CRYPT_MAX_PASSPHRASE_SIZE (512) bytes or more with ERANGE,
 * so the longest usable password is the smaller of that and IPKVM_PASSWORD_MAX. */
#define PASSWORD_LIMIT                                                                             \
	(IPKVM_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE - 1 ? IPKVM_PASSWORD_MAX                   \
							    : CRYPT_MAX_PASSPHRASE_SIZE - 1)
/* Shortest TOTP secret we accept from the file: 16 base32 characters = 80 bits. */
#define TOTP_B32_MIN 16

static const char *const role_names[] = {
    [IPKVM_ROLE_VIEWER] = "viewer",
    [IPKVM_ROLE_OPERATOR] = "operator",
    [IPKVM_ROLE_ADMIN] = "admin",
};

const char *ipkvm_role_name(enum ipkvm_role role)
{
	if ((unsigned)role < IPKVM_ARRAY_SIZE(role_names))
		return role_names[role];
	return "?";
}

int ipkvm_role_parse(const char *s, enum ipkvm_role *out)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(role_names); i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum ipkvm_role)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool ipkvm_user_name_valid(const char *name)
{
	if (!name || !name[0])
		return false;
	size_t n = 0;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (n >= IPKVM_USER_NAME_MAX)
			return false;
		if (alnum)
			continue;
		/* '.', '_' and '-' are fine, but not first (no "-x" that looks like an option,
		 * no ".hidden"). */
		if (n > 0 && (c == '.' || c == '_' || c == '-'))
			continue;
		return false;
	}
	return true;
}

/* Checks the password rules shared by hashing: length within limits, no line breaks (the
 * CLI reads passwords line by line, so such a password could never be typed again). */
static int password_acceptable(const char *password)
{
	if (!password)
		return -EINVAL;
	size_t n = strnlen(password, PASSWORD_LIMIT + 1);
	if (n < IPKVM_PASSWORD_MIN || n > PASSWORD_LIMIT)
		return -EINVAL;
	if (memchr(password, '\n', n) || memchr(password, '\r', n))
		return -EINVAL;
	return 0;
}

int ipkvm_password_hash(const char *password, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = NULL;
	int r = password_acceptable(password);
	if (r < 0)
		goto out;
	/* NULL random bytes: libxcrypt reads the salt from the kernel CSPRNG itself. Count 0
	 * selects yescrypt's default cost. */
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt))) {
		r = errno ? -errno : -EINVAL;
		LOG_ERROR("crypt_gensalt_rn failed: %s", strerror(-r));
		goto out;
	}
	cd = calloc(1, sizeof(*cd));
	if (!cd) {
		r = -ENOMEM;
		goto out;
	}
	const char *h = crypt_rn(password, salt, cd, sizeof(*cd));
	if (!h || h[0] != '$') {
		r = errno ? -errno : -EINVAL;
		LOG_ERROR("crypt_rn failed: %s", strerror(-r));
		goto out;
	}
	if (strlen(h) >= IPKVM_HASH_MAX || strchr(h, ':')) {
		r = -EINVAL;
		goto out;
	}
	if (ipkvm_strlcpy(out, h, outlen) < 0) {
		r = -ENOSPC;
		goto out;
	}
	r = 0;
out:
	if (cd) {
		explicit_bzero(cd, sizeof(*cd));
		free(cd);
	}
	return r;
}

/* One crypt run of password against hash: 1 on an exact match, 0 on a mismatch, -1 when
 * crypt_rn cannot use the hash (it then returns quickly). */
static int crypt_check(const char *password, const char *hash)
{
	int res = -1;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -1;
	const char *h = crypt_rn(password, hash, cd, sizeof(*cd));
	/* crypt_rn returns NULL on failure; older variants return a '*' failure token. */
	if (h && h[0] != '*') {
		size_t hl = strlen(h), sl = strlen(hash);
		res = hl == sl && ipkvm_memeq_ct(h, hash, hl);
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return res;
}

static bool hash_plausible(const char *hash)
{
	return hash && hash[0] == '$' && strnlen(hash, IPKVM_HASH_MAX) < IPKVM_HASH_MAX;
}

bool ipkvm_password_verify(const char *password, const char *hash)
{
	int res = -1;
	if (!password)
		password = "";
	if (hash_plausible(hash) && strnlen(password, PASSWORD_LIMIT + 1) <= PASSWORD_LIMIT)
		res = crypt_check(password, hash);
	/* Whatever made the check impossible (malformed hash, overlong password), spend the
	 * time of a real check on the dummy hash before failing. */
	if (res < 0)
		(void)crypt_check("not the password", ipkvm_password_dummy_hash());
	return res == 1;
}

static char dummy_hash[IPKVM_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
	uint8_t rnd[24];
	char pw[2 * sizeof(rnd) + 1];
	int r = ipkvm_random_bytes(rnd, sizeof(rnd));
	if (r == 0) {
		ipkvm_hex_encode(rnd, sizeof(rnd), pw);
		r = ipkvm_password_hash(pw, dummy_hash, sizeof(dummy_hash));
	}
	if (r < 0) {
		/* Stays "": verification against it fails at once. Only reachable when the
		 * CSPRNG or libxcrypt are broken, and then nothing else works either. */
		dummy_hash[0] = '\0';
		LOG_ERROR("cannot make the dummy password hash: %s", strerror(-r));
	}
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(pw, sizeof(pw));
}

const char *ipkvm_password_dummy_hash(void)
{
	pthread_once(&dummy_once, dummy_init);
	return dummy_hash;
}

int ipkvm_password_generate(char *out, size_t outlen)
{
	/* No 0/O, 1/l/I: the password is read off a log line or a terminal and typed. */
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ"
				       "abcdefghijkmnopqrstuvwxyz"
				       "23456789";
	const unsigned n = sizeof(alphabet) - 1; /* 57 */
	/* Rejection sampling: only bytes below the largest multiple of n map uniformly. */
	const unsigned limit = 256 - 256 % n;
	const size_t len = 20;
	uint8_t buf[32];
	size_t o = 0;
	int r = 0;
	if (outlen < len + 1)
		return -ENOSPC;
	while (o < len) {
		r = ipkvm_random_bytes(buf, sizeof(buf));
		if (r < 0)
			goto out;
		for (size_t i = 0; i < sizeof(buf) && o < len; i++) {
			if (buf[i] < limit)
				out[o++] = alphabet[buf[i] % n];
		}
	}
	out[o] = '\0';
out:
	explicit_bzero(buf, sizeof(buf));
	if (r < 0)
		out[0] = '\0';
	return r;
}

void ipkvm_users_init(struct ipkvm_users *u)
{
	u->v = NULL;
	u->n = u->cap = 0;
}

void ipkvm_users_free(struct ipkvm_users *u)
{
	if (u->v)
		explicit_bzero(u->v, u->cap * sizeof(*u->v));
	free(u->v);
	ipkvm_users_init(u);
}

size_t ipkvm_users_count_admins(const struct ipkvm_users *u)
{
	size_t n = 0;
	for (size_t i = 0; i < u->n; i++)
		n += u->v[i].role == IPKVM_ROLE_ADMIN;
	return n;
}

struct ipkvm_user *ipkvm_users_find(const struct ipkvm_users *u, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < u->n; i++) {
		if (strcmp(u->v[i].name, name) == 0)
			return &u->v[i];
	}
	return NULL;
}

int ipkvm_users_add(struct ipkvm_users *u, const struct ipkvm_user *user)
{
	if (!ipkvm_user_name_valid(user->name))
		return -EINVAL;
	if (ipkvm_users_find(u, user->name))
		return -EEXIST;
	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 8;
		struct ipkvm_user *v = realloc(u->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		u->v = v;
		u->cap = cap;
	}
	u->v[u->n++] = *user;
	return 0;
}

int ipkvm_users_del(struct ipkvm_users *u, const char *name)
{
	struct ipkvm_user *p = ipkvm_users_find(u, name);
	if (!p)
		return -ENOENT;
	size_t i = (size_t)(p - u->v);
	/* Keep the order: the file lists users in the order they were added. */
	memmove(&u->v[i], &u->v[i + 1], (u->n - i - 1) * sizeof(*u->v));
	u->n--;
	explicit_bzero(&u->v[u->n], sizeof(*u->v));
	return 0;
}

/* A crypt(3) hash as it may appear in the file: "$id$...", printable, no ':'. */
static bool hash_field_valid(const char *h, size_t len)
{
	if (len < 2 || len >= IPKVM_HASH_MAX || h[0] != '$')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c <= ' ' || c >= 0x7f || c == ':')
			return false;
	}
	return true;
}

/* The canonical stored form of a TOTP secret: upper-case base32 without padding. */
static bool totp_field_valid(const char *s, size_t len)
{
	if (len < TOTP_B32_MIN || len > IPKVM_TOTP_B32_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')))
			return false;
	}
	/* Lengths that no encoder produces (1, 3 or 6 characters in the last group). */
	size_t rem = len % 8;
	return rem != 1 && rem != 3 && rem != 6;
}

/* Parses one non-blank, non-comment line (NUL-terminated, no newline) into *out. Returns
 * NULL or a static description of what is wrong. */
static const char *parse_line(char *line, struct ipkvm_user *out)
{
	char *f[5];
	size_t nf = 0;
	char *p = line;
	for (;;) {
		if (nf == IPKVM_ARRAY_SIZE(f))
			return "expected name:hash:role[:totp]";
		f[nf++] = p;
		char *c = strchr(p, ':');
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	if (nf < 3 || nf > 4)
		return "expected name:hash:role[:totp]";
	memset(out, 0, sizeof(*out));
	if (!ipkvm_user_name_valid(f[0]))
		return "invalid user name";
	if (!hash_field_valid(f[1], strlen(f[1])))
		return "password hash is not a crypt(3) hash";
	if (ipkvm_role_parse(f[2], &out->role) < 0)
		return "unknown role (expected admin, operator or viewer)";
	if (nf == 4 && !totp_field_valid(f[3], strlen(f[3])))
		return "bad base32 TOTP secret";
	ipkvm_strlcpy(out->name, f[0], sizeof(out->name));
	ipkvm_strlcpy(out->hash, f[1], sizeof(out->hash));
	if (nf == 4)
		ipkvm_strlcpy(out->totp, f[3], sizeof(out->totp));
	return NULL;
}

static int load_line(void *ctx, char *line, char *msg, size_t msglen)
{
	struct ipkvm_users *nu = ctx;
	struct ipkvm_user user;
	const char *what = parse_line(line, &user);
	if (what) {
		snprintf(msg, msglen, "%s", what);
		return -EINVAL;
	}
	int r = ipkvm_users_add(nu, &user);
	if (r == -EEXIST) {
		snprintf(msg, msglen, "duplicate user '%s'", user.name);
		r = -EINVAL;
	}
	explicit_bzero(&user, sizeof(user));
	return r;
}

/* Whatever happened, u ends up holding exactly what was loaded (nothing on error), never a
 * mix of old and new users. */
static int load_result(struct ipkvm_users *u, struct ipkvm_users *nu, int r)
{
	ipkvm_users_free(u);
	if (r == 0)
		*u = *nu;
	else
		ipkvm_users_free(nu);
	return r;
}

int ipkvm_users_load(struct ipkvm_users *u, const char *path, char *err, size_t errlen)
{
	struct ipkvm_users nu;
	ipkvm_users_init(&nu);
	int r = ipkvm_read_records(path, USERS_FILE_MAX, load_line, &nu, err, errlen);
	return load_result(u, &nu, r);
}

int ipkvm_users_parse(struct ipkvm_users *u, char *text, size_t len, const char *name, char *err,
		      size_t errlen)
{
	struct ipkvm_users nu;
	ipkvm_users_init(&nu);
	int r = ipkvm_parse_records(text, len, name, load_line, &nu, err, errlen);
	return load_result(u, &nu, r);
}

int ipkvm_users_save(const struct ipkvm_users *u, const char *path)
{
	/* Upper bound per line: name, hash, longest role, secret, 3 colons, newline. */
	size_t cap = u->n * (IPKVM_USER_NAME_MAX + IPKVM_HASH_MAX + 8 + IPKVM_TOTP_B32_MAX + 4) + 1;
	char *buf = malloc(cap);
	size_t o = 0;
	int r = 0;
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < u->n; i++) {
		const struct ipkvm_user *x = &u->v[i];
		/* Refuse to write what we could not read back. */
		if (!ipkvm_user_name_valid(x->name) ||
		    !hash_field_valid(x->hash, strlen(x->hash)) ||
		    (x->totp[0] && !totp_field_valid(x->totp, strlen(x->totp))) ||
		    (unsigned)x->role >= IPKVM_ARRAY_SIZE(role_names)) {
			LOG_ERROR("refusing to save invalid entry for user '%s'", x->name);
			r = -EINVAL;
			goto out;
		}
		int n = snprintf(buf + o, cap - o, "%s:%s:%s%s%s\n", x->name, x->hash,
				 ipkvm_role_name(x->role), x->totp[0] ? ":" : "", x->totp);
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
	explicit_bzero(buf, cap);
	free(buf);
	return r;
}

int ipkvm_users_remove_leftovers(const char *state_dir)
{
	static const char *const files[] = {IPKVM_USERS_FILE, IPKVM_TOKENS_FILE,
					    IPKVM_INITIAL_PASSWORD_FILE, IPKVM_PREFS_FILE};
	int removed = 0;
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(files); i++) {
		char path[4096];
		if (ipkvm_path_join(path, sizeof(path), state_dir, files[i]) < 0)
			continue;
		int r = ipkvm_remove_atomic_leftovers(path);
		if (r > 0) {
			LOG_WARN("removed %d temp file%s of %s left by an interrupted write", r,
				 r == 1 ? "" : "s", path);
			removed += r;
		} else if (r < 0 && r != -ENOENT) {
			LOG_WARN("cannot look for temp files of %s: %s", path, strerror(-r));
		}
	}
	return removed;
}

int ipkvm_users_lock(const char *state_dir)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, IPKVM_USERS_LOCK_FILE) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}
