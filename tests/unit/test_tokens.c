/*
 * Unit tests for auth/tokens: token format, matching (right, wrong, expired, malformed),
 * removal by id and by user, the file round trip and its error messages, and that the token
 * text itself never reaches the file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "auth/tokens.h"
#include "core/util.h"

static char tmpdir[256];

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ipkvm-test-tokens-XXXXXX");
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
	assert_int_equal(ipkvm_read_file(path, 1 << 20, &buf, NULL), 0);
	return buf;
}

static void test_create_match(void **state)
{
	struct ipkvm_tokens t;
	char tok[IPKVM_TOKEN_LEN + 1], tok2[IPKVM_TOKEN_LEN + 1];
	ipkvm_tokens_init(&t);
	assert_int_equal(ipkvm_tokens_create(&t, "alice", 1000, 0, "ci", tok, sizeof(tok)), 0);
	assert_int_equal(ipkvm_tokens_create(&t, "bob", 1001, 0, NULL, tok2, sizeof(tok2)), 0);
	assert_int_equal(t.n, 2);
	assert_int_equal(strlen(tok), 47);
	assert_memory_equal(tok, "ipk_", 4);
	assert_int_equal(strspn(tok + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789-_"),
			 43);
	assert_string_not_equal(tok, tok2);

	/* Stored: the SHA-256 of the token text, the id its first 12 hex digits. */
	uint8_t md[32];
	char hex[65];
	SHA256((const unsigned char *)tok, strlen(tok), md);
	ipkvm_hex_encode(md, sizeof(md), hex);
	assert_string_equal(t.v[0].sha256, hex);
	assert_int_equal(strlen(t.v[0].id), 12);
	assert_memory_equal(t.v[0].id, hex, 12);
	assert_string_equal(t.v[0].user, "alice");
	assert_string_equal(t.v[0].label, "ci");
	assert_int_equal(t.v[0].created, 1000);
	assert_int_equal(t.v[0].expires, 0);
	assert_string_equal(t.v[1].label, "");

	const struct ipkvm_token *m = ipkvm_tokens_match(&t, tok, 5000);
	assert_ptr_equal(m, &t.v[0]);
	m = ipkvm_tokens_match(&t, tok2, 5000);
	assert_ptr_equal(m, &t.v[1]);

	/* Wrong tokens: one character off, truncated, longer, other prefix, garbage. */
	char bad[64];
	strcpy(bad, tok);
	bad[20] = bad[20] == 'A' ? 'B' : 'A';
	assert_null(ipkvm_tokens_match(&t, bad, 5000));
	strcpy(bad, tok);
	bad[46] = '\0';
	assert_null(ipkvm_tokens_match(&t, bad, 5000));
	snprintf(bad, sizeof(bad), "%sA", tok);
	assert_null(ipkvm_tokens_match(&t, bad, 5000));
	strcpy(bad, tok);
	bad[0] = 'x';
	assert_null(ipkvm_tokens_match(&t, bad, 5000));
	assert_null(ipkvm_tokens_match(&t, "", 5000));
	assert_null(ipkvm_tokens_match(&t, NULL, 5000));
	assert_null(ipkvm_tokens_match(&t, t.v[0].sha256, 5000));
	ipkvm_tokens_free(&t);
	assert_null(t.v);
	assert_int_equal(t.n, 0);
}

static void test_create_errors(void **state)
{
	struct ipkvm_tokens t;
	char tok[IPKVM_TOKEN_LEN + 1];
	char label[80];
	ipkvm_tokens_init(&t);
	assert_int_equal(ipkvm_tokens_create(&t, "Alice", 1, 0, "", tok, sizeof(tok)), -EINVAL);
	assert_int_equal(ipkvm_tokens_create(&t, "", 1, 0, "", tok, sizeof(tok)), -EINVAL);
	assert_int_equal(ipkvm_tokens_create(&t, "a", 1, 0, "x:y", tok, sizeof(tok)), -EINVAL);
	assert_int_equal(ipkvm_tokens_create(&t, "a", 1, 0, "x\ny", tok, sizeof(tok)), -EINVAL);
	assert_int_equal(ipkvm_tokens_create(&t, "a", 1, 0, "x\ry", tok, sizeof(tok)), -EINVAL);
	assert_int_equal(ipkvm_tokens_create(&t, "a", 1, -1, "", tok, sizeof(tok)), -EINVAL);
	memset(label, 'l', 65);
	label[65] = '\0';
	assert_int_equal(ipkvm_tokens_create(&t, "a", 1, 0, label, tok, sizeof(tok)), -EINVAL);
	assert_int_equal(ipkvm_tokens_create(&t, "a", 1, 0, "", tok, 47), -ENOSPC);
	assert_int_equal(t.n, 0);
	label[64] = '\0';
	assert_int_equal(ipkvm_tokens_create(&t, "a", 1, 0, label, tok, sizeof(tok)), 0);
	assert_int_equal(ipkvm_tokens_create(&t, "a", 1, 0, "caf\xc3\xa9 #1", tok, sizeof(tok)), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.v[0].label, label);
	ipkvm_tokens_free(&t);
}

static void test_expiry(void **state)
{
	struct ipkvm_tokens t;
	char tok[IPKVM_TOKEN_LEN + 1];
	ipkvm_tokens_init(&t);
	assert_int_equal(ipkvm_tokens_create(&t, "alice", 1000, 2000, "", tok, sizeof(tok)), 0);
	assert_non_null(ipkvm_tokens_match(&t, tok, 1000));
	assert_non_null(ipkvm_tokens_match(&t, tok, 1999));
	assert_null(ipkvm_tokens_match(&t, tok, 2000));
	assert_null(ipkvm_tokens_match(&t, tok, 100000));
	ipkvm_tokens_free(&t);
}

static void test_del(void **state)
{
	struct ipkvm_tokens t;
	char tok[5][IPKVM_TOKEN_LEN + 1];
	static const char *const users[] = {"alice", "bob", "alice", "carol", "alice"};
	ipkvm_tokens_init(&t);
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		    ipkvm_tokens_create(&t, users[i], 100 + i, 0, "", tok[i], sizeof(tok[i])), 0);
	char id1[16];
	strcpy(id1, t.v[1].id);
	assert_int_equal(ipkvm_tokens_del(&t, id1), 0);
	assert_int_equal(ipkvm_tokens_del(&t, id1), -ENOENT);
	assert_int_equal(ipkvm_tokens_del(&t, "000000000000"), -ENOENT);
	assert_int_equal(ipkvm_tokens_del(&t, NULL), -ENOENT);
	assert_int_equal(t.n, 4);
	assert_null(ipkvm_tokens_match(&t, tok[1], 200));
	assert_non_null(ipkvm_tokens_match(&t, tok[3], 200));

	assert_int_equal(ipkvm_tokens_del_user(&t, "alice"), 3);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0].user, "carol");
	assert_null(ipkvm_tokens_match(&t, tok[0], 200));
	assert_null(ipkvm_tokens_match(&t, tok[4], 200));
	assert_non_null(ipkvm_tokens_match(&t, tok[3], 200));
	assert_int_equal(ipkvm_tokens_del_user(&t, "alice"), 0);
	ipkvm_tokens_free(&t);
}

static void test_save_load(void **state)
{
	struct ipkvm_tokens t, l;
	char tok[3][IPKVM_TOKEN_LEN + 1];
	char path[512], err[512], want[2048];
	snprintf(path, sizeof(path), "%s/tokens", tmpdir);
	ipkvm_tokens_init(&t);
	ipkvm_tokens_init(&l);
	assert_int_equal(
	    ipkvm_tokens_create(&t, "alice", 1700000000, 0, "backup job", tok[0], sizeof(tok[0])),
	    0);
	assert_int_equal(
	    ipkvm_tokens_create(&t, "bob", 1700000001, 1800000000, "", tok[1], sizeof(tok[1])), 0);
	assert_int_equal(ipkvm_tokens_create(&t, "alice", 0, 0, "x", tok[2], sizeof(tok[2])), 0);
	mode_t old = umask(0);
	assert_int_equal(ipkvm_tokens_save(&t, path), 0);
	umask(old);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	snprintf(want, sizeof(want),
		 "%s:%s:alice:1700000000:0:backup job\n"
		 "%s:%s:bob:1700000001:1800000000:\n"
		 "%s:%s:alice:0:0:x\n",
		 t.v[0].id, t.v[0].sha256, t.v[1].id, t.v[1].sha256, t.v[2].id, t.v[2].sha256);
	char *file = read_text(path);
	assert_string_equal(file, want);
	/* The tokens themselves are nowhere in the file. */
	for (int i = 0; i < 3; i++) {
		assert_null(strstr(file, tok[i]));
		assert_null(strstr(file, tok[i] + 4));
	}
	free(file);

	assert_int_equal(ipkvm_tokens_load(&l, path, err, sizeof(err)), 0);
	assert_int_equal(l.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(l.v[i].id, t.v[i].id);
		assert_string_equal(l.v[i].sha256, t.v[i].sha256);
		assert_string_equal(l.v[i].user, t.v[i].user);
		assert_int_equal(l.v[i].created, t.v[i].created);
		assert_int_equal(l.v[i].expires, t.v[i].expires);
		assert_string_equal(l.v[i].label, t.v[i].label);
		assert_ptr_equal(ipkvm_tokens_match(&l, tok[i], 1750000000), &l.v[i]);
	}
	assert_null(ipkvm_tokens_match(&l, tok[1], 1800000000));

	/* Saved again, byte for byte the same. */
	char path2[600];
	snprintf(path2, sizeof(path2), "%s/tokens2", tmpdir);
	assert_int_equal(ipkvm_tokens_save(&l, path2), 0);
	file = read_text(path2);
	assert_string_equal(file, want);
	free(file);

	/* Comments, blank lines and CRLF are accepted on load. */
	char in[2048];
	snprintf(in, sizeof(in), "# tokens\n\n%s:%s:alice:5:6:lbl\r\n", t.v[0].id, t.v[0].sha256);
	write_text(path, in, strlen(in));
	assert_int_equal(ipkvm_tokens_load(&l, path, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].created, 5);
	assert_int_equal(l.v[0].expires, 6);
	assert_string_equal(l.v[0].label, "lbl");

	snprintf(path2, sizeof(path2), "%s/none", tmpdir);
	assert_int_equal(ipkvm_tokens_load(&l, path2, err, sizeof(err)), -ENOENT);
	assert_int_equal(l.n, 0);
	ipkvm_tokens_free(&l);
	ipkvm_tokens_free(&t);
}

static void test_load_errors(void **state)
{
#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID  "0123456789ab"
	static const struct {
		const char *text, *msg;
	} cases[] = {
	    {ID ":" SHA ":alice:1:0\n", ":1: expected id:sha256:user:created:expires:label"},
	    {ID ":" SHA ":alice:1:0:a:b\n", ":1: expected id:sha256:user:created:expires:label"},
	    {"# x\n" ID ":" SHA "0:alice:1:0:\n",
	     ":2: bad sha256 (expected 64 lower-case hex digits)"},
	    {ID ":"
		"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
		":alice:1:0:\n",
	     ":1: bad sha256 (expected 64 lower-case hex digits)"},
	    {"0123456789ac:" SHA ":alice:1:0:\n",
	     ":1: bad id (must be the first 12 hex digits of the sha256)"},
	    {"0123456789a:" SHA ":alice:1:0:\n",
	     ":1: bad id (must be the first 12 hex digits of the sha256)"},
	    {ID ":" SHA ":Alice:1:0:\n", ":1: invalid user name"},
	    {ID ":" SHA ":alice:-1:0:\n", ":1: bad created time"},
	    {ID ":" SHA ":alice::0:\n", ":1: bad created time"},
	    {ID ":" SHA ":alice:01:0:\n", ":1: bad created time"},
	    {ID ":" SHA ":alice:1:x:\n", ":1: bad expiry time"},
	    {ID ":" SHA ":alice:1:99999999999999999999:\n", ":1: bad expiry time"},
	    {ID ":" SHA ":alice:1:0:tab\there\n", ":1: bad label"},
	    {ID ":" SHA ":alice:1:0:"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	     ":1: bad label"},
	    {ID ":" SHA ":alice:1:0:\n" ID ":" SHA ":bob:1:0:\n", ":2: duplicate token id"},
	};
	char path[512], err[1024], want[1024];
	snprintf(path, sizeof(path), "%s/tokens-bad", tmpdir);
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(cases); i++) {
		struct ipkvm_tokens t;
		char tok[IPKVM_TOKEN_LEN + 1];
		ipkvm_tokens_init(&t);
		assert_int_equal(ipkvm_tokens_create(&t, "old", 1, 0, "", tok, sizeof(tok)), 0);
		write_text(path, cases[i].text, strlen(cases[i].text));
		int r = ipkvm_tokens_load(&t, path, err, sizeof(err));
		snprintf(want, sizeof(want), "%s%s", path, cases[i].msg);
		if (r != -EINVAL || strcmp(err, want) != 0)
			fail_msg("case %zu: r=%d err='%s' want '%s'", i, r, err, want);
		assert_int_equal(t.n, 0);
		/* The same text from memory (the fuzzer's entry): the same answer, named by
		 * the name given; the buffer is exactly the text plus the one byte allowed. */
		size_t len = strlen(cases[i].text);
		char *text = malloc(len + 1);
		memcpy(text, cases[i].text, len);
		assert_int_equal(ipkvm_tokens_create(&t, "old", 1, 0, "", tok, sizeof(tok)), 0);
		r = ipkvm_tokens_parse(&t, text, len, "mem", err, sizeof(err));
		snprintf(want, sizeof(want), "mem%s", cases[i].msg);
		if (r != -EINVAL || strcmp(err, want) != 0)
			fail_msg("case %zu from memory: r=%d err='%s' want '%s'", i, r, err, want);
		assert_int_equal(t.n, 0);
		free(text);
		ipkvm_tokens_free(&t);
	}
	/* A valid version of the same line loads, from a file and from memory (without its
	 * newline: the last line is cut at text[len]). */
	struct ipkvm_tokens t;
	ipkvm_tokens_init(&t);
	write_text(path, ID ":" SHA ":alice:1:0:\n", strlen(ID ":" SHA ":alice:1:0:\n"));
	assert_int_equal(ipkvm_tokens_load(&t, path, err, sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	static const char line[] = ID ":" SHA ":alice:1:0:label";
	char *text = malloc(sizeof(line));
	memcpy(text, line, sizeof(line) - 1);
	assert_int_equal(ipkvm_tokens_parse(&t, text, sizeof(line) - 1, "mem", err, sizeof(err)),
			 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0].user, "alice");
	assert_string_equal(t.v[0].label, "label");
	free(text);
	ipkvm_tokens_free(&t);
#undef SHA
#undef ID
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_match),
	    cmocka_unit_test(test_create_errors),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_del),
	    cmocka_unit_test_setup_teardown(test_save_load, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_load_errors, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
