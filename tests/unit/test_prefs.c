/*
 * Unit tests for auth/prefs, the per-user preferences file (name:language): which language
 * tags are accepted, load and save round trip with mode 0600, the parse errors (naming the
 * line), set/replace/clear, and dropping a deleted user's line from the file.
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

#include "auth/prefs.h"
#include "core/util.h"

static char dir[64], path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/ipkvm-test-prefs-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, IPKVM_PREFS_FILE);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

static void write_text(const char *text)
{
	assert_int_equal(ipkvm_write_file_atomic(path, text, strlen(text), 0600), 0);
}

static char *read_text(void)
{
	char *s = NULL;
	assert_int_equal(ipkvm_read_file(path, 4096, &s, NULL), 0);
	return s;
}

static void test_language_tags(void **state)
{
	static const char *const good[] = {"ja",	 "en",	    "fil",     "pt-BR",
					   "zh-Hant-TW", "de-1996", "sr-Latn", "en-a-12345678"};
	static const char *const bad[] = {
	    "",	     "j",     "jpan",  "JA",	  "Ja",	  "ja-",  "ja--JP", "ja_JP", "ja-123456789",
	    "ja JP", "ja/..", "../ja", "ja.json", "ja:x", "ja\n", "-ja",    "ja-Ü"};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(good); i++)
		assert_true(ipkvm_language_valid(good[i]));
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(bad); i++)
		assert_false(ipkvm_language_valid(bad[i]));
	assert_false(ipkvm_language_valid(NULL));
	/* 35 characters at most */
	assert_true(ipkvm_language_valid("en-aaaaaaaa-bbbbbbbb-cccccccc-ddddd")); /* 35 */
	assert_false(ipkvm_language_valid("en-aaaaaaaa-bbbbbbbb-cccccccc-dddddd"));
}

static void test_set_save_load(void **state)
{
	struct ipkvm_prefs p, q;
	ipkvm_prefs_init(&p);
	ipkvm_prefs_init(&q);
	assert_int_equal(ipkvm_prefs_load(&q, path, NULL, 0), -ENOENT);
	assert_null(ipkvm_prefs_language(&p, "admin"));
	assert_int_equal(ipkvm_prefs_set_language(&p, "admin", "ja"), 0);
	assert_int_equal(ipkvm_prefs_set_language(&p, "oper", "en"), 0);
	assert_int_equal(ipkvm_prefs_set_language(&p, "oper", "pt-BR"), 0); /* replaces */
	assert_int_equal(ipkvm_prefs_set_language(&p, "view", "en"), 0);
	assert_int_equal(ipkvm_prefs_set_language(&p, "view", NULL), 0); /* clears */
	assert_int_equal(ipkvm_prefs_set_language(&p, "nobody", NULL), 0);
	assert_int_equal(ipkvm_prefs_set_language(&p, "admin", "JA"), -EINVAL);
	assert_int_equal(ipkvm_prefs_set_language(&p, "Bad Name", "ja"), -EINVAL);
	assert_int_equal(p.n, 2);
	assert_int_equal(ipkvm_prefs_save(&p, path), 0);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *text = read_text();
	assert_string_equal(text, "admin:ja\noper:pt-BR\n");
	free(text);

	assert_int_equal(ipkvm_prefs_load(&q, path, NULL, 0), 0);
	assert_int_equal(q.n, 2);
	assert_string_equal(ipkvm_prefs_language(&q, "admin"), "ja");
	assert_string_equal(ipkvm_prefs_language(&q, "oper"), "pt-BR");
	assert_null(ipkvm_prefs_language(&q, "view"));
	assert_true(ipkvm_prefs_del_user(&q, "admin"));
	assert_false(ipkvm_prefs_del_user(&q, "admin"));
	assert_null(ipkvm_prefs_language(&q, "admin"));
	assert_string_equal(ipkvm_prefs_language(&q, "oper"), "pt-BR");
	ipkvm_prefs_free(&p);
	ipkvm_prefs_free(&q);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
	    {"admin\n", "p:1: expected name:language"},
	    {"# c\nadmin:ja:x\n", "p:2: expected name:language"},
	    {"Admin:ja\n", "p:1: invalid user name"},
	    {"admin:JA\n", "p:1: invalid language (expected a tag such as ja or pt-BR)"},
	    {"admin:\n", "p:1: invalid language (expected a tag such as ja or pt-BR)"},
	    {"admin:ja\n\nadmin:en\n", "p:3: duplicate user 'admin'"},
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(cases); i++) {
		struct ipkvm_prefs p;
		char err[256] = "", *text = strdup(cases[i].text);
		ipkvm_prefs_init(&p);
		assert_int_equal(ipkvm_prefs_set_language(&p, "keep", "ja"), 0);
		assert_int_equal(ipkvm_prefs_parse(&p, text, strlen(text), "p", err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, cases[i].err);
		assert_int_equal(p.n, 0); /* nothing half-loaded */
		free(text);
		ipkvm_prefs_free(&p);
	}
	/* comments, blank lines and CRLF are fine */
	struct ipkvm_prefs p;
	ipkvm_prefs_init(&p);
	char text[] = "# who chose what\r\n\r\nadmin:ja\r\nx.y-z_1:zh-Hant\n";
	assert_int_equal(ipkvm_prefs_parse(&p, text, strlen(text), "p", NULL, 0), 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(ipkvm_prefs_language(&p, "x.y-z_1"), "zh-Hant");
	ipkvm_prefs_free(&p);
}

static void test_drop_user(void **state)
{
	char err[256] = "";
	/* no file: nothing to do, and none is made */
	assert_int_equal(ipkvm_prefs_drop_user(path, "admin", err, sizeof(err)), 0);
	assert_int_equal(access(path, F_OK), -1);
	write_text("admin:ja\noper:en\n");
	assert_int_equal(ipkvm_prefs_drop_user(path, "admin", err, sizeof(err)), 0);
	char *text = read_text();
	assert_string_equal(text, "oper:en\n");
	free(text);
	assert_int_equal(ipkvm_prefs_drop_user(path, "nobody", err, sizeof(err)), 0);
	/* a file that does not parse is left as it is */
	write_text("oper:en\nbroken\n");
	assert_int_equal(ipkvm_prefs_drop_user(path, "oper", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: expected name:language"));
	text = read_text();
	assert_string_equal(text, "oper:en\nbroken\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_language_tags),
	    cmocka_unit_test_setup_teardown(test_set_save_load, setup, teardown),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test_setup_teardown(test_drop_user, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
