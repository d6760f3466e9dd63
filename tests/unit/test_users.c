/*
 * Unit tests for auth/users (names, roles, password hashing, the users file, the lock) and
 * for auth/usercmd (`ipkvmd user ...`), which is driven here with a temporary state
 * directory and stdin/stdout/stderr redirected to files, checking exit codes, printed output
 * and the resulting users, tokens and audit files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/tokens.h"
#include "auth/totp.h"
#include "auth/usercmd.h"
#include "auth/users.h"
#include "core/util.h"

/* Hash-shaped strings for file tests that need no real hashing. */
#define H1 "$y$j9T$F5Jx5fExrKuJdvA4hcl1E1$ZkoCLhrEy2m6e5GdSMVpVqWhTD8b9UoBtOdN0cJmM.B"
#define H2 "$y$j9T$abcdefghijklmnopqrstuv$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg"

static char tmpdir[256];

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ipkvm-test-users-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", tmpdir, name);
}

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
	char *buf = NULL;
	int r = ipkvm_read_file(path, 1 << 20, &buf, NULL);
	assert_int_equal(r, 0);
	return buf;
}

/* ---- names and roles ---- */

static void test_name_valid(void **state)
{
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
	    {"admin", true},
	    {"a", true},
	    {"0", true},
	    {"bob.smith", true},
	    {"bob_smith-2", true},
	    {"9lives", true},
	    {"abcdefghijabcdefghijabcdefghij12", true},	  /* 32 */
	    {"abcdefghijabcdefghijabcdefghij123", false}, /* 33 */
	    {"", false},
	    {"Admin", false},
	    {"-bob", false},
	    {".bob", false},
	    {"_bob", false},
	    {"bob smith", false},
	    {"bob:x", false},
	    {"bob/x", false},
	    {"b\xc3\xb6"
	     "b",
	     false},
	    {"bob\n", false},
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(cases); i++) {
		if (ipkvm_user_name_valid(cases[i].name) != cases[i].ok)
			fail_msg("name '%s': expected %d", cases[i].name, cases[i].ok);
	}
	assert_false(ipkvm_user_name_valid(NULL));
}

static void test_roles(void **state)
{
	enum ipkvm_role r = IPKVM_ROLE_VIEWER;
	assert_int_equal(ipkvm_role_parse("admin", &r), 0);
	assert_int_equal(r, IPKVM_ROLE_ADMIN);
	assert_int_equal(ipkvm_role_parse("operator", &r), 0);
	assert_int_equal(r, IPKVM_ROLE_OPERATOR);
	assert_int_equal(ipkvm_role_parse("viewer", &r), 0);
	assert_int_equal(r, IPKVM_ROLE_VIEWER);
	assert_int_equal(ipkvm_role_parse("Admin", &r), -EINVAL);
	assert_int_equal(ipkvm_role_parse("root", &r), -EINVAL);
	assert_int_equal(ipkvm_role_parse("", &r), -EINVAL);
	assert_string_equal(ipkvm_role_name(IPKVM_ROLE_ADMIN), "admin");
	assert_string_equal(ipkvm_role_name(IPKVM_ROLE_OPERATOR), "operator");
	assert_string_equal(ipkvm_role_name(IPKVM_ROLE_VIEWER), "viewer");
	assert_string_equal(ipkvm_role_name((enum ipkvm_role)7), "?");
}

/* ---- passwords ---- */

static void test_hash_verify(void **state)
{
	char h1[IPKVM_HASH_MAX], h2[IPKVM_HASH_MAX];
	assert_int_equal(ipkvm_password_hash("correct horse", h1, sizeof(h1)), 0);
	assert_int_equal(ipkvm_password_hash("correct horse", h2, sizeof(h2)), 0);
	assert_memory_equal(h1, "$y$", 3);
	assert_null(strchr(h1, ':'));
	assert_string_not_equal(h1, h2); /* fresh salt each time */
	assert_true(ipkvm_password_verify("correct horse", h1));
	assert_true(ipkvm_password_verify("correct horse", h2));
	assert_false(ipkvm_password_verify("correct horsE", h1));
	assert_false(ipkvm_password_verify("correct hors", h1));
	assert_false(ipkvm_password_verify("", h1));
	/* Broken hashes never verify. */
	assert_false(ipkvm_password_verify("correct horse", ""));
	assert_false(ipkvm_password_verify("correct horse", "*"));
	assert_false(ipkvm_password_verify("correct horse", "x$y$abc"));
	assert_false(ipkvm_password_verify("correct horse", "$y$garbage"));
	assert_false(ipkvm_password_verify("correct horse", NULL));
	/* A truncated hash does not verify. */
	h1[strlen(h1) - 1] = '\0';
	assert_false(ipkvm_password_verify("correct horse", h1));
}

static void test_hash_limits(void **state)
{
	char h[IPKVM_HASH_MAX];
	char *big = malloc(IPKVM_PASSWORD_MAX + 2);
	assert_non_null(big);
	assert_int_equal(ipkvm_password_hash("1234567", h, sizeof(h)), -EINVAL);
	assert_int_equal(ipkvm_password_hash("", h, sizeof(h)), -EINVAL);
	assert_int_equal(ipkvm_password_hash(NULL, h, sizeof(h)), -EINVAL);
	assert_int_equal(ipkvm_password_hash("12345678\n", h, sizeof(h)), -EINVAL);
	assert_int_equal(ipkvm_password_hash("1234\r5678", h, sizeof(h)), -EINVAL);
	assert_int_equal(ipkvm_password_hash("12345678", h, sizeof(h)), 0);
	/* libxcrypt takes at most CRYPT_MAX_PASSPHRASE_SIZE - 1 bytes. */
	const size_t limit = IPKVM_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE - 1
				 ? IPKVM_PASSWORD_MAX
				 : CRYPT_MAX_PASSPHRASE_SIZE - 1;
	memset(big, 'x', IPKVM_PASSWORD_MAX + 1);
	big[IPKVM_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(ipkvm_password_hash(big, h, sizeof(h)), -EINVAL);
	big[limit + 1] = '\0';
	assert_int_equal(ipkvm_password_hash(big, h, sizeof(h)), -EINVAL);
	big[limit] = '\0';
	assert_int_equal(ipkvm_password_hash(big, h, sizeof(h)), 0);
	assert_true(ipkvm_password_verify(big, h));
	big[limit - 1] = '\0';
	assert_false(ipkvm_password_verify(big, h));
	/* Output buffer too small. */
	char tiny[8];
	assert_int_equal(ipkvm_password_hash("12345678", tiny, sizeof(tiny)), -ENOSPC);
	free(big);
}

static void test_dummy_hash(void **state)
{
	const char *d = ipkvm_password_dummy_hash();
	assert_non_null(d);
	assert_memory_equal(d, "$y$", 3);
	assert_ptr_equal(d, ipkvm_password_dummy_hash()); /* made once */
	char guess[32];
	assert_int_equal(ipkvm_password_generate(guess, sizeof(guess)), 0);
	assert_false(ipkvm_password_verify(guess, d));
	assert_false(ipkvm_password_verify("password", d));
	assert_false(ipkvm_password_verify("", d));
}

static void test_generate(void **state)
{
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
	char pw[21], prev[21] = "";
	int seen[256] = {0};
	for (int k = 0; k < 200; k++) {
		assert_int_equal(ipkvm_password_generate(pw, sizeof(pw)), 0);
		assert_int_equal(strlen(pw), 20);
		assert_string_not_equal(pw, prev);
		for (int i = 0; i < 20; i++) {
			assert_non_null(strchr(alphabet, pw[i]));
			seen[(unsigned char)pw[i]]++;
		}
		memcpy(prev, pw, sizeof(pw));
	}
	assert_int_equal(seen['0'] + seen['O'] + seen['1'] + seen['l'] + seen['I'], 0);
	/* 4000 draws from 57 symbols: every symbol shows up. */
	for (const char *p = alphabet; *p; p++)
		assert_true(seen[(unsigned char)*p] > 0);
	char small[20];
	assert_int_equal(ipkvm_password_generate(small, sizeof(small)), -ENOSPC);
}

/* ---- the users file ---- */

static void test_add_del_find(void **state)
{
	struct ipkvm_users u;
	struct ipkvm_user x;
	ipkvm_users_init(&u);
	memset(&x, 0, sizeof(x));
	strcpy(x.hash, H1);
	for (int i = 0; i < 20; i++) {
		snprintf(x.name, sizeof(x.name), "user%d", i);
		x.role = (enum ipkvm_role)(i % 3);
		assert_int_equal(ipkvm_users_add(&u, &x), 0);
	}
	assert_int_equal(u.n, 20);
	assert_int_equal(ipkvm_users_add(&u, &x), -EEXIST);
	strcpy(x.name, "Bad");
	assert_int_equal(ipkvm_users_add(&u, &x), -EINVAL);
	struct ipkvm_user *f = ipkvm_users_find(&u, "user7");
	assert_non_null(f);
	assert_string_equal(f->name, "user7");
	assert_int_equal(f->role, IPKVM_ROLE_OPERATOR);
	assert_null(ipkvm_users_find(&u, "user20"));
	assert_null(ipkvm_users_find(&u, "user"));
	assert_int_equal(ipkvm_users_del(&u, "user7"), 0);
	assert_int_equal(ipkvm_users_del(&u, "user7"), -ENOENT);
	assert_null(ipkvm_users_find(&u, "user7"));
	assert_int_equal(u.n, 19);
	/* Order kept. */
	assert_string_equal(u.v[6].name, "user6");
	assert_string_equal(u.v[7].name, "user8");
	assert_string_equal(u.v[18].name, "user19");
	ipkvm_users_free(&u);
	assert_int_equal(u.n, 0);
	assert_null(u.v);
}

static void test_count_admins(void **state)
{
	struct ipkvm_users u;
	struct ipkvm_user x = {.hash = H1};
	ipkvm_users_init(&u);
	assert_int_equal(ipkvm_users_count_admins(&u), 0);
	for (int i = 0; i < 9; i++) {
		snprintf(x.name, sizeof(x.name), "user%d", i);
		x.role = (enum ipkvm_role)(i % 3); /* user2, user5, user8 are admins */
		assert_int_equal(ipkvm_users_add(&u, &x), 0);
	}
	assert_int_equal(ipkvm_users_count_admins(&u), 3);
	assert_int_equal(ipkvm_users_del(&u, "user5"), 0);
	assert_int_equal(ipkvm_users_del(&u, "user4"), 0);
	assert_int_equal(ipkvm_users_count_admins(&u), 2);
	ipkvm_users_free(&u);
}

static void test_load_save_roundtrip(void **state)
{
	char p1[512], p2[512], err[512];
	path_of(p1, sizeof(p1), "users-in");
	path_of(p2, sizeof(p2), "users-out");
	const char *in = "# users of this box\n"
			 "\n"
			 "admin:" H1 ":admin\n"
			 "   \n"
			 "bob.s:" H2 ":operator:JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\r\n"
			 "carol:" H1 ":viewer";
	const char *want = "admin:" H1 ":admin\n"
			   "bob.s:" H2 ":operator:JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n"
			   "carol:" H1 ":viewer\n";
	write_text(p1, in, strlen(in));
	chmod(p1, 0644); /* too open, still loads */
	struct ipkvm_users u;
	ipkvm_users_init(&u);
	assert_int_equal(ipkvm_users_load(&u, p1, err, sizeof(err)), 0);
	assert_int_equal(u.n, 3);
	assert_string_equal(u.v[0].name, "admin");
	assert_string_equal(u.v[0].hash, H1);
	assert_int_equal(u.v[0].role, IPKVM_ROLE_ADMIN);
	assert_string_equal(u.v[0].totp, "");
	assert_string_equal(u.v[1].name, "bob.s");
	assert_string_equal(u.v[1].hash, H2);
	assert_int_equal(u.v[1].role, IPKVM_ROLE_OPERATOR);
	assert_string_equal(u.v[1].totp, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
	assert_int_equal(u.v[2].role, IPKVM_ROLE_VIEWER);

	write_text(p2, "old", 3);
	chmod(p2, 0644);
	mode_t old = umask(0);
	assert_int_equal(ipkvm_users_save(&u, p2), 0);
	umask(old);
	char *out = read_text(p2);
	assert_string_equal(out, want);
	free(out);
	struct stat st;
	assert_int_equal(stat(p2, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* Load of the saved file gives the same bytes again. */
	assert_int_equal(ipkvm_users_load(&u, p2, err, sizeof(err)), 0);
	assert_int_equal(u.n, 3);
	assert_int_equal(ipkvm_users_save(&u, p1), 0);
	out = read_text(p1);
	assert_string_equal(out, want);
	free(out);

	/* Empty set: empty file. */
	ipkvm_users_free(&u);
	assert_int_equal(ipkvm_users_save(&u, p2), 0);
	out = read_text(p2);
	assert_string_equal(out, "");
	free(out);
	/* Saving something unreadable is refused and leaves the file alone. */
	struct ipkvm_user bad = {.name = "dave", .hash = "$y$a:b", .role = IPKVM_ROLE_ADMIN};
	assert_int_equal(ipkvm_users_add(&u, &bad), 0);
	assert_int_equal(ipkvm_users_save(&u, p1), -EINVAL);
	out = read_text(p1);
	assert_string_equal(out, want);
	free(out);
	ipkvm_users_free(&u);
}

static void test_load_errors(void **state)
{
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		const char *msg;
	} cases[] = {
	    {"alice:" H1 "\n", 0, ":1: expected name:hash:role[:totp]"},
	    {"# c\n\nalice:" H1 ":admin:JBSWY3DPEHPK3PXP:x\n", 0,
	     ":3: expected name:hash:role[:totp]"},
	    {"alice\n", 0, ":1: expected name:hash:role[:totp]"},
	    {"Alice:" H1 ":admin\n", 0, ":1: invalid user name"},
	    {":" H1 ":admin\n", 0, ":1: invalid user name"},
	    {"alice:secret:admin\n", 0, ":1: password hash is not a crypt(3) hash"},
	    {"alice::admin\n", 0, ":1: password hash is not a crypt(3) hash"},
	    {"alice:$y$a b:admin\n", 0, ":1: password hash is not a crypt(3) hash"},
	    {"alice:" H1 ":root\n", 0, ":1: unknown role (expected admin, operator or viewer)"},
	    {"alice:" H1 ":Admin\n", 0, ":1: unknown role (expected admin, operator or viewer)"},
	    {"alice:" H1 ":admin\nbob:" H1 ":viewer\nalice:" H2 ":viewer\n", 0,
	     ":3: duplicate user 'alice'"},
	    {"alice:" H1 ":admin:JBSWY3DPEHPK3PX1\n", 0, ":1: bad base32 TOTP secret"},
	    {"alice:" H1 ":admin:jbswy3dpehpk3pxp\n", 0, ":1: bad base32 TOTP secret"},
	    {"alice:" H1 ":admin:JBSWY3DP\n", 0, ":1: bad base32 TOTP secret"},
	    {"alice:" H1 ":admin:\n", 0, ":1: bad base32 TOTP secret"},
	    {"bob:" H1 ":admin\nalice:" H1 ":ad\0min\n", 0, NULL},
	};
	char path[512], err[1024], want[1024];
	path_of(path, sizeof(path), "users-bad");
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(cases); i++) {
		const char *msg = cases[i].msg;
		size_t len = strlen(cases[i].text);
		if (!msg) {
			/* The NUL case: its length is known from the literal. */
			len = sizeof("bob:" H1 ":admin\nalice:" H1 ":ad\0min\n") - 1;
			msg = ":2: NUL byte in line";
		}
		write_text(path, cases[i].text, len);
		struct ipkvm_users u;
		struct ipkvm_user keep = {.name = "old", .hash = H1};
		ipkvm_users_init(&u);
		assert_int_equal(ipkvm_users_add(&u, &keep), 0);
		err[0] = '\0';
		int r = ipkvm_users_load(&u, path, err, sizeof(err));
		snprintf(want, sizeof(want), "%s%s", path, msg);
		if (r != -EINVAL || strcmp(err, want) != 0)
			fail_msg("case %zu: r=%d err='%s', want '%s'", i, r, err, want);
		assert_int_equal(u.n, 0); /* nothing half-loaded, old contents gone */
		/* The same text from memory (the fuzzer's entry), in a buffer of exactly the
		 * text and the one byte allowed after it: the same answer, named by name. */
		char *text = malloc(len + 1);
		memcpy(text, cases[i].text, len);
		assert_int_equal(ipkvm_users_add(&u, &keep), 0);
		r = ipkvm_users_parse(&u, text, len, "mem", err, sizeof(err));
		snprintf(want, sizeof(want), "mem%s", msg);
		if (r != -EINVAL || strcmp(err, want) != 0)
			fail_msg("case %zu from memory: r=%d err='%s', want '%s'", i, r, err, want);
		assert_int_equal(u.n, 0);
		free(text);
		ipkvm_users_free(&u);
	}
	/* A valid file from memory, its last line without a newline. */
	static const char good[] =
	    "# users\r\nalice:" H1 ":admin\r\nbob:" H2 ":viewer:JBSWY3DPEHPK3PXP";
	char *text = malloc(sizeof(good));
	memcpy(text, good, sizeof(good) - 1);
	struct ipkvm_users mem;
	ipkvm_users_init(&mem);
	assert_int_equal(ipkvm_users_parse(&mem, text, sizeof(good) - 1, "mem", err, sizeof(err)),
			 0);
	assert_int_equal(mem.n, 2);
	assert_string_equal(mem.v[0].hash, H1);
	assert_int_equal(mem.v[1].role, IPKVM_ROLE_VIEWER);
	assert_string_equal(mem.v[1].totp, "JBSWY3DPEHPK3PXP");
	ipkvm_users_free(&mem);
	free(text);
	/* Missing file. */
	struct ipkvm_users u;
	ipkvm_users_init(&u);
	path_of(path, sizeof(path), "nope");
	assert_int_equal(ipkvm_users_load(&u, path, err, sizeof(err)), -ENOENT);
	assert_int_equal(u.n, 0);
	/* A NULL err buffer is fine. */
	path_of(path, sizeof(path), "users-bad");
	write_text(path, "x\n", 2);
	assert_int_equal(ipkvm_users_load(&u, path, NULL, 0), -EINVAL);
	ipkvm_users_free(&u);
}

static void test_lock(void **state)
{
	char path[512];
	path_of(path, sizeof(path), IPKVM_USERS_LOCK_FILE);
	int fd = ipkvm_users_lock(tmpdir);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0);
	/* Another open file description cannot take the lock while fd holds it. */
	int other = open(path, O_RDWR | O_CLOEXEC);
	assert_true(other >= 0);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	close(fd);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
	/* And a second ipkvm_users_lock after release works. */
	fd = ipkvm_users_lock(tmpdir);
	assert_true(fd >= 0);
	close(fd);
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
	assert_int_equal(ipkvm_users_lock(missing), -ENOENT);
}

static bool file_exists(const char *name)
{
	char path[512];
	path_of(path, sizeof(path), name);
	return access(path, F_OK) == 0;
}

static void put(const char *name, const char *text)
{
	char path[512];
	path_of(path, sizeof(path), name);
	write_text(path, text, strlen(text));
}

/* A writer killed between making its temp file and renaming it leaves "users.tmp-XXXX":
 * the next write of that file (always under the users lock) removes it, and only its own
 * file's leftovers. */
static void test_save_removes_leftovers(void **state)
{
	char path[512];
	put("users.tmp-0123456789ab", "half a users file");
	put("tokens.tmp-abcdef012345", "half a tokens file");
	put("users.tmp-notes", "not ours");
	struct ipkvm_users u;
	ipkvm_users_init(&u);
	struct ipkvm_user a = {.name = "alice", .hash = H1, .role = IPKVM_ROLE_ADMIN};
	assert_int_equal(ipkvm_users_add(&u, &a), 0);
	path_of(path, sizeof(path), IPKVM_USERS_FILE);
	assert_int_equal(ipkvm_users_save(&u, path), 0);
	ipkvm_users_free(&u);
	assert_false(file_exists("users.tmp-0123456789ab"));
	assert_true(file_exists("tokens.tmp-abcdef012345"));
	assert_true(file_exists("users.tmp-notes"));

	struct ipkvm_tokens t;
	ipkvm_tokens_init(&t);
	path_of(path, sizeof(path), IPKVM_TOKENS_FILE);
	assert_int_equal(ipkvm_tokens_save(&t, path), 0);
	assert_false(file_exists("tokens.tmp-abcdef012345"));
	assert_true(file_exists("users.tmp-notes"));
	assert_true(file_exists(IPKVM_USERS_FILE));
	assert_true(file_exists(IPKVM_TOKENS_FILE));
}

/* At start, under the lock: the leftovers of every file the users lock guards go (the
 * initial password's holds a password in clear), nothing else does. */
static void test_remove_leftovers(void **state)
{
	put(IPKVM_USERS_FILE, "alice:" H1 ":admin\n");
	put("users.tmp-000000000000", "x");
	put("users.tmp-111111111111", "x");
	put("tokens.tmp-222222222222", "x");
	put("initial-admin-password.tmp-333333333333", "secret\n");
	put("audit.log.tmp-444444444444", "not a file the lock guards");
	put("tokens.tmp-22222222222", "too short");
	int lock = ipkvm_users_lock(tmpdir);
	assert_true(lock >= 0);
	assert_int_equal(ipkvm_users_remove_leftovers(tmpdir), 4);
	close(lock);
	assert_false(file_exists("users.tmp-000000000000"));
	assert_false(file_exists("users.tmp-111111111111"));
	assert_false(file_exists("tokens.tmp-222222222222"));
	assert_false(file_exists("initial-admin-password.tmp-333333333333"));
	assert_true(file_exists("audit.log.tmp-444444444444"));
	assert_true(file_exists("tokens.tmp-22222222222"));
	assert_true(file_exists(IPKVM_USERS_FILE));
	assert_int_equal(ipkvm_users_remove_leftovers(tmpdir), 0);
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
	assert_int_equal(ipkvm_users_remove_leftovers(missing), 0);
}

/* ---- usercmd ---- */

struct run {
	int rc;
	char *out;
	char *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* Runs `ipkvmd --state-dir dir user ARGS...` with input on stdin; NULL ends the args. */
static struct run run_user(const char *dir, const char *input, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;
	argv[argc++] = (char *)"user";
	va_start(ap, input);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	char in_path[512], out_path[512], err_path[512];
	path_of(in_path, sizeof(in_path), "stdin.txt");
	path_of(out_path, sizeof(out_path), "stdout.txt");
	path_of(err_path, sizeof(err_path), "stderr.txt");
	write_text(in_path, input ? input : "", input ? strlen(input) : 0);
	fflush(stdout);
	fflush(stderr);
	int saved[3] = {dup(0), dup(1), dup(2)};
	int in = open(in_path, O_RDONLY);
	int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(in >= 0 && out >= 0 && err >= 0);
	dup2(in, 0);
	dup2(out, 1);
	dup2(err, 2);
	close(in);
	close(out);
	close(err);
	struct run r;
	r.rc = ipkvm_usercmd_main(dir, argc, argv);
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 3; i++) {
		dup2(saved[i], i);
		close(saved[i]);
	}
	r.out = read_text(out_path);
	r.err = read_text(err_path);
	return r;
}

static void expect(struct run *r, int rc, const char *out, const char *err_part)
{
	if (r->rc != rc)
		fail_msg("exit %d, want %d; stdout '%s' stderr '%s'", r->rc, rc, r->out, r->err);
	if (out)
		assert_string_equal(r->out, out);
	if (err_part && !strstr(r->err, err_part))
		fail_msg("stderr '%s' lacks '%s'", r->err, err_part);
	run_free(r);
}

static void load_state_users(const char *dir, struct ipkvm_users *u)
{
	char path[600], err[1024];
	assert_int_equal(ipkvm_path_join(path, sizeof(path), dir, "users"), 0);
	ipkvm_users_init(u);
	assert_int_equal(ipkvm_users_load(u, path, err, sizeof(err)), 0);
}

/* Each audit.log line as JSON; returns how many records have this event, user and via. */
static int audit_count(const char *dir, const char *event, const char *user)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	char *buf = NULL;
	if (ipkvm_read_file(path, 1 << 20, &buf, NULL) < 0)
		return 0;
	int n = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *j = json_loads(line, 0, NULL);
		assert_non_null(j);
		const char *e = json_string_value(json_object_get(j, "event"));
		const char *us = json_string_value(json_object_get(j, "user"));
		const char *via = json_string_value(json_object_get(j, "via"));
		if (e && us && via && strcmp(e, event) == 0 && strcmp(us, user) == 0 &&
		    strcmp(via, "cli") == 0 && json_is_true(json_object_get(j, "ok")))
			n++;
		json_decref(j);
	}
	free(buf);
	return n;
}

static void test_cmd_add_list(void **state)
{
	char dir[600], path[700];
	snprintf(dir, sizeof(dir), "%s/new/state", tmpdir);
	/* add creates the missing state dir, 0700. */
	struct run r = run_user(dir, "s3cret-pass\n", "add", "admin", "--role", "admin", NULL);
	expect(&r, 0, "", "added user admin (role admin)");
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/users", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	r = run_user(dir, "another-pass\r\n", "add", "alice", NULL);
	expect(&r, 0, "", NULL);
	r = run_user(dir, "", "add", "--role=viewer", "vic", "--generate", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(strlen(r.out), strlen("password: ") + 20 + 1);
	assert_memory_equal(r.out, "password: ", 10);
	char vicpw[32];
	memcpy(vicpw, r.out + 10, 20);
	vicpw[20] = '\0';
	run_free(&r);

	struct ipkvm_users u;
	load_state_users(dir, &u);
	assert_int_equal(u.n, 3);
	assert_string_equal(u.v[0].name, "admin");
	assert_int_equal(u.v[0].role, IPKVM_ROLE_ADMIN);
	assert_true(ipkvm_password_verify("s3cret-pass", u.v[0].hash));
	assert_string_equal(u.v[1].name, "alice");
	assert_int_equal(u.v[1].role, IPKVM_ROLE_OPERATOR);
	assert_true(ipkvm_password_verify("another-pass", u.v[1].hash));
	assert_string_equal(u.v[2].name, "vic");
	assert_int_equal(u.v[2].role, IPKVM_ROLE_VIEWER);
	assert_true(ipkvm_password_verify(vicpw, u.v[2].hash));
	/* The file is exactly name:hash:role lines. */
	char want[2048];
	snprintf(want, sizeof(want), "admin:%s:admin\nalice:%s:operator\nvic:%s:viewer\n",
		 u.v[0].hash, u.v[1].hash, u.v[2].hash);
	char *file = read_text(path);
	assert_string_equal(file, want);
	free(file);
	ipkvm_users_free(&u);
	assert_int_equal(audit_count(dir, "user_add", "admin"), 1);
	assert_int_equal(audit_count(dir, "user_add", "vic"), 1);

	r = run_user(dir, NULL, "list", NULL);
	expect(&r, 0,
	       "NAME   ROLE      TOTP  TOKENS\n"
	       "admin  admin     no    0\n"
	       "alice  operator  no    0\n"
	       "vic    viewer    no    0\n",
	       NULL);

	/* Failures: nothing changes. */
	file = read_text(path);
	r = run_user(dir, "whatever-pass\n", "add", "alice", NULL);
	expect(&r, 1, "", "user 'alice' already exists");
	r = run_user(dir, "whatever-pass\n", "add", "Bob", NULL);
	expect(&r, 1, "",
	       "invalid user name 'Bob': use 1 to 32 characters from a-z, 0-9, '.', '_' and '-', "
	       "starting with a letter or digit");
	r = run_user(dir, "whatever-pass\n", "add", "bob", "--role", "root", NULL);
	expect(&r, 1, "", "unknown role 'root' (use admin, operator or viewer)");
	r = run_user(dir, "short\n", "add", "bob", NULL);
	expect(&r, 1, "", "password too short: use at least 8 characters");
	r = run_user(dir, "", "add", "bob", NULL);
	expect(&r, 1, "", "no password given on standard input");
	r = run_user(dir, "\n", "add", "bob", NULL);
	expect(&r, 1, "", "empty password");
	char *again = read_text(path);
	assert_string_equal(again, file);
	free(again);
	free(file);
}

static void test_cmd_usage(void **state)
{
	struct run r = run_user(tmpdir, NULL, NULL);
	expect(&r, 2, "", "usage: ipkvmd [--state-dir DIR] user COMMAND");
	r = run_user(tmpdir, NULL, "frob", NULL);
	expect(&r, 2, "", "unknown command 'frob'");
	r = run_user(tmpdir, NULL, "add", NULL);
	expect(&r, 2, "", "'add' needs 1 argument");
	r = run_user(tmpdir, NULL, "add", "a", "b", NULL);
	expect(&r, 2, "", "too many arguments for 'add'");
	r = run_user(tmpdir, NULL, "add", "bob", "--disable", NULL);
	expect(&r, 2, "", "'add' does not take option '--disable'");
	r = run_user(tmpdir, NULL, "add", "bob", "--role", NULL);
	expect(&r, 2, "", "option '--role' needs a value");
	r = run_user(tmpdir, NULL, "add", "bob", "-x", NULL);
	expect(&r, 2, "", "unknown option '-x'");
	r = run_user(tmpdir, NULL, "role", "bob", NULL);
	expect(&r, 2, "", "'role' needs 2 arguments");
	r = run_user(tmpdir, NULL, "list", "extra", NULL);
	expect(&r, 2, "", "too many arguments for 'list'");
	r = run_user(tmpdir, NULL, "add", "--help", NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "token NAME [--label TEXT] [--expires DAYS]"));
	run_free(&r);
	/* Commands other than add need an existing state dir. */
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
	r = run_user(missing, NULL, "list", NULL);
	expect(&r, 1, "", "state directory '");
	r = run_user(missing, "password123\n", "passwd", "admin", NULL);
	expect(&r, 1, "", "does not exist");
	struct stat st;
	assert_int_equal(stat(missing, &st), -1);
}

static void test_cmd_passwd(void **state)
{
	char ipw[600], upath[600];
	struct run r = run_user(tmpdir, "first-pass-1\n", "add", "admin", "--role", "admin", NULL);
	expect(&r, 0, "", NULL);
	r = run_user(tmpdir, "bob-pass-123\n", "add", "bob", NULL);
	expect(&r, 0, "", NULL);
	path_of(ipw, sizeof(ipw), IPKVM_INITIAL_PASSWORD_FILE);
	path_of(upath, sizeof(upath), "users");
	write_text(ipw, "first-pass-1\n", 13);

	struct ipkvm_users before, after;
	load_state_users(tmpdir, &before);
	/* Another user's password change keeps the admin's initial password file. */
	r = run_user(tmpdir, "bob-pass-456\n", "passwd", "bob", NULL);
	expect(&r, 0, "", "changed the password of bob");
	assert_int_equal(access(ipw, F_OK), 0);
	r = run_user(tmpdir, "second-pass-2\n", "passwd", "admin", NULL);
	expect(&r, 0, "", NULL);
	assert_int_equal(access(ipw, F_OK), -1);
	load_state_users(tmpdir, &after);
	assert_string_not_equal(before.v[0].hash, after.v[0].hash);
	assert_false(ipkvm_password_verify("first-pass-1", after.v[0].hash));
	assert_true(ipkvm_password_verify("second-pass-2", after.v[0].hash));
	assert_true(ipkvm_password_verify("bob-pass-456", after.v[1].hash));
	assert_int_equal(after.v[0].role, IPKVM_ROLE_ADMIN);
	ipkvm_users_free(&before);
	ipkvm_users_free(&after);
	assert_int_equal(audit_count(tmpdir, "user_passwd", "admin"), 1);
	assert_int_equal(audit_count(tmpdir, "user_passwd", "bob"), 1);

	r = run_user(tmpdir, "", "passwd", "bob", "--generate", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(strlen(r.out), 31);
	char pw[21];
	memcpy(pw, r.out + 10, 20);
	pw[20] = '\0';
	run_free(&r);
	load_state_users(tmpdir, &after);
	assert_true(ipkvm_password_verify(pw, after.v[1].hash));
	ipkvm_users_free(&after);

	r = run_user(tmpdir, "whatever-1\n", "passwd", "nobody", NULL);
	expect(&r, 1, "", "no such user 'nobody'");
	r = run_user(tmpdir, "short\n", "passwd", "bob", NULL);
	expect(&r, 1, "", "password too short");
}

static void test_cmd_del_role(void **state)
{
	struct run r = run_user(tmpdir, "admin-pass-1\n", "add", "admin", "--role", "admin", NULL);
	expect(&r, 0, "", NULL);
	r = run_user(tmpdir, "alice-pass-1\n", "add", "alice", NULL);
	expect(&r, 0, "", NULL);

	r = run_user(tmpdir, NULL, "del", "admin", NULL);
	expect(&r, 1, "", "refusing to delete 'admin': it is the last admin");
	r = run_user(tmpdir, NULL, "role", "admin", "operator", NULL);
	expect(&r, 1, "", "refusing to change the role of 'admin': it is the last admin");
	r = run_user(tmpdir, NULL, "role", "alice", "boss", NULL);
	expect(&r, 1, "", "unknown role 'boss'");
	r = run_user(tmpdir, NULL, "role", "nobody", "viewer", NULL);
	expect(&r, 1, "", "no such user 'nobody'");
	r = run_user(tmpdir, NULL, "del", "nobody", NULL);
	expect(&r, 1, "", "no such user 'nobody'");

	r = run_user(tmpdir, NULL, "role", "alice", "admin", NULL);
	expect(&r, 0, "", "alice now has role admin (was operator)");
	r = run_user(tmpdir, NULL, "role", "alice", "admin", NULL);
	expect(&r, 0, "", "already has role admin");
	assert_int_equal(audit_count(tmpdir, "user_role", "alice"), 1);
	/* With two admins, one may go. */
	r = run_user(tmpdir, NULL, "role", "admin", "viewer", NULL);
	expect(&r, 0, "", NULL);
	struct ipkvm_users u;
	load_state_users(tmpdir, &u);
	assert_int_equal(u.v[0].role, IPKVM_ROLE_VIEWER);
	assert_int_equal(u.v[1].role, IPKVM_ROLE_ADMIN);
	ipkvm_users_free(&u);
	r = run_user(tmpdir, NULL, "del", "alice", NULL);
	expect(&r, 1, "", "last admin");

	/* del removes the user's tokens, not others'. */
	r = run_user(tmpdir, NULL, "token", "admin", NULL);
	expect(&r, 0, NULL, NULL);
	r = run_user(tmpdir, NULL, "token", "admin", NULL);
	expect(&r, 0, NULL, NULL);
	r = run_user(tmpdir, NULL, "token", "alice", NULL);
	expect(&r, 0, NULL, NULL);
	r = run_user(tmpdir, NULL, "del", "admin", NULL);
	expect(&r, 0, "", "deleted user admin and 2 tokens");
	load_state_users(tmpdir, &u);
	assert_int_equal(u.n, 1);
	assert_string_equal(u.v[0].name, "alice");
	ipkvm_users_free(&u);
	struct ipkvm_tokens t;
	char tpath[600], err[1024];
	path_of(tpath, sizeof(tpath), "tokens");
	ipkvm_tokens_init(&t);
	assert_int_equal(ipkvm_tokens_load(&t, tpath, err, sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0].user, "alice");
	ipkvm_tokens_free(&t);
	assert_int_equal(audit_count(tmpdir, "user_del", "admin"), 1);
}

static void test_cmd_totp(void **state)
{
	struct run r = run_user(tmpdir, "admin-pass-1\n", "add", "admin", "--role", "admin", NULL);
	expect(&r, 0, "", NULL);
	r = run_user(tmpdir, NULL, "totp", "admin", NULL);
	assert_int_equal(r.rc, 0);
	char secret[64], want[512];
	assert_int_equal(sscanf(r.out, "secret: %63[A-Z2-7]\n", secret), 1);
	assert_int_equal(strlen(secret), 32);
	snprintf(want, sizeof(want),
		 "secret: %s\nuri: otpauth://totp/ipkvm:admin?secret=%s&issuer=ipkvm&"
		 "algorithm=SHA1&digits=6&period=30\n",
		 secret, secret);
	assert_string_equal(r.out, want);
	run_free(&r);

	struct ipkvm_users u;
	load_state_users(tmpdir, &u);
	assert_string_equal(u.v[0].totp, secret);
	ipkvm_users_free(&u);

	/* The secret works: a code computed now verifies. */
	uint8_t key[40];
	int klen = ipkvm_base32_decode(secret, key, sizeof(key));
	assert_int_equal(klen, 20);
	int64_t now = ipkvm_now();
	char code[16];
	snprintf(code, sizeof(code), "%06u",
		 ipkvm_hotp(key, (size_t)klen, (uint64_t)(now / 30), 6));
	assert_int_equal(ipkvm_totp_verify(secret, code, now, NULL), 0);

	r = run_user(tmpdir, NULL, "list", NULL);
	expect(&r, 0, "NAME   ROLE      TOTP  TOKENS\nadmin  admin     yes   0\n", NULL);
	r = run_user(tmpdir, NULL, "totp", "admin", "--disable", NULL);
	expect(&r, 0, "", "TOTP is now off for admin");
	r = run_user(tmpdir, NULL, "totp", "admin", "--disable", NULL);
	expect(&r, 0, "", "TOTP is already off for admin");
	load_state_users(tmpdir, &u);
	assert_string_equal(u.v[0].totp, "");
	ipkvm_users_free(&u);
	assert_int_equal(audit_count(tmpdir, "user_totp", "admin"), 2);
	r = run_user(tmpdir, NULL, "totp", "nobody", NULL);
	expect(&r, 1, "", "no such user 'nobody'");
}

static void test_cmd_tokens(void **state)
{
	struct run r = run_user(tmpdir, "admin-pass-1\n", "add", "admin", "--role", "admin", NULL);
	expect(&r, 0, "", NULL);
	int64_t now = ipkvm_now();
	r = run_user(tmpdir, NULL, "token", "admin", "--label", "backup script", "--expires", "7",
		     NULL);
	assert_int_equal(r.rc, 0);
	char token[64], id[32];
	assert_int_equal(sscanf(r.out, "%63s\nid: %31s\n", token, id), 2);
	assert_int_equal(strlen(token), IPKVM_TOKEN_LEN);
	assert_memory_equal(token, "ipk_", 4);
	assert_int_equal(strlen(id), 12);
	char want[256];
	snprintf(want, sizeof(want), "%s\nid: %s\n", token, id);
	assert_string_equal(r.out, want);
	run_free(&r);

	char tpath[600], err[1024];
	path_of(tpath, sizeof(tpath), "tokens");
	char *file = read_text(tpath);
	assert_null(strstr(file, token + 4));
	assert_memory_equal(file, id, 12);
	free(file);
	struct ipkvm_tokens t;
	ipkvm_tokens_init(&t);
	assert_int_equal(ipkvm_tokens_load(&t, tpath, err, sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	const struct ipkvm_token *m = ipkvm_tokens_match(&t, token, now);
	assert_non_null(m);
	assert_string_equal(m->id, id);
	assert_string_equal(m->user, "admin");
	assert_string_equal(m->label, "backup script");
	assert_true(m->created >= now && m->created <= now + 5);
	assert_int_equal(m->expires, m->created + 7 * 86400);
	char created[16], expires[16];
	time_t tc = (time_t)m->created, te = (time_t)m->expires;
	struct tm tm;
	strftime(created, sizeof(created), "%Y-%m-%d", gmtime_r(&tc, &tm));
	strftime(expires, sizeof(expires), "%Y-%m-%d", gmtime_r(&te, &tm));
	ipkvm_tokens_free(&t);

	r = run_user(tmpdir, NULL, "token", "admin", NULL);
	assert_int_equal(r.rc, 0);
	char id2[32];
	assert_int_equal(sscanf(r.out, "%*s\nid: %31s\n", id2), 1);
	run_free(&r);

	char table[1024];
	snprintf(table, sizeof(table),
		 "ID            USER   CREATED     EXPIRES     LABEL\n"
		 "%s  admin  %s  %s  backup script\n"
		 "%s  admin  %s  never\n",
		 id, created, expires, id2, created);
	r = run_user(tmpdir, NULL, "tokens", NULL);
	expect(&r, 0, table, NULL);
	r = run_user(tmpdir, NULL, "list", NULL);
	expect(&r, 0, "NAME   ROLE      TOTP  TOKENS\nadmin  admin     no    2\n", NULL);
	assert_int_equal(audit_count(tmpdir, "token_add", "admin"), 2);

	r = run_user(tmpdir, NULL, "revoke", id, NULL);
	expect(&r, 0, "", NULL);
	r = run_user(tmpdir, NULL, "revoke", id, NULL);
	expect(&r, 1, "", "no token with id");
	assert_int_equal(audit_count(tmpdir, "token_revoke", "admin"), 1);
	ipkvm_tokens_init(&t);
	assert_int_equal(ipkvm_tokens_load(&t, tpath, err, sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0].id, id2);
	ipkvm_tokens_free(&t);

	r = run_user(tmpdir, NULL, "token", "admin", "--label", "a:b", NULL);
	expect(&r, 1, "", "invalid label");
	r = run_user(tmpdir, NULL, "token", "admin", "--expires", "0", NULL);
	expect(&r, 1, "", "--expires wants a whole number of days");
	r = run_user(tmpdir, NULL, "token", "admin", "--expires", "3x", NULL);
	expect(&r, 1, "", "--expires wants");
	r = run_user(tmpdir, NULL, "token", "nobody", NULL);
	expect(&r, 1, "", "no such user 'nobody'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_valid),
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_hash_verify),
	    cmocka_unit_test(test_hash_limits),
	    cmocka_unit_test(test_dummy_hash),
	    cmocka_unit_test(test_generate),
	    cmocka_unit_test(test_add_del_find),
	    cmocka_unit_test(test_count_admins),
	    cmocka_unit_test_setup_teardown(test_load_save_roundtrip, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_load_errors, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_lock, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_save_removes_leftovers, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_remove_leftovers, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_cmd_add_list, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_cmd_usage, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_cmd_passwd, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_cmd_del_role, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_cmd_totp, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_cmd_tokens, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
