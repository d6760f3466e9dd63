/*
 * Unit tests for core/json: parse_object (syntax errors with their position, non-objects,
 * duplicate keys, NUL escapes, the length argument), the field checks with their exact
 * messages for every type, ipkvm_json_str, and the exact bytes of the ok/error envelopes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"

static json_t *parse(const char *text, char *err, size_t errlen)
{
	return ipkvm_json_parse_object(text, strlen(text), err, errlen);
}

/* Serialises j (reference stolen) and compares with want. */
static void assert_dump(json_t *j, const char *want)
{
	assert_non_null(j);
	size_t len = 0;
	char *s = ipkvm_json_dump(j, &len);
	json_decref(j);
	assert_non_null(s);
	assert_string_equal(s, want);
	assert_int_equal(len, strlen(want));
	free(s);
}

/* ---- parse ---- */

static void test_parse_ok(void **state)
{
	char err[200] = "";
	json_t *j = parse("{\"a\":1,\"b\":\"x\"}", err, sizeof(err));
	assert_non_null(j);
	assert_true(json_is_object(j));
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "b")), "x");
	json_decref(j);

	/* Only len bytes are parsed. */
	const char *text = "{\"a\":2}trailing garbage";
	j = ipkvm_json_parse_object(text, 7, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 2);
	json_decref(j);

	/* Whitespace around the object is fine. */
	j = parse(" \n{ }\n ", err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
}

static void test_parse_errors(void **state)
{
	char err[200];
	static const char *const bad[] = {
	    "{\"a\":",	   "{\"a\" 1}",	  "{a:1}", "{\"a\":1,}",
	    "{\"a\":1} x", "{\"a\":1}{}", "",	   "{\"a\":\"\xff\"}", /* invalid UTF-8 */
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(bad); i++) {
		memset(err, 0, sizeof(err));
		assert_null(parse(bad[i], err, sizeof(err)));
		assert_non_null(strstr(err, "line 1, column "));
		assert_true(strlen(err) > strlen("line 1, column "));
	}
	/* The line number follows the input. */
	assert_null(parse("{\n\"a\": 1,\n\"b\": }", err, sizeof(err)));
	assert_non_null(strstr(err, "line 3, column "));
	/* A small error buffer is still terminated. */
	char small[8];
	memset(small, 'X', sizeof(small));
	assert_null(parse("{", small, sizeof(small)));
	assert_true(memchr(small, '\0', sizeof(small)) != NULL);
}

static void test_parse_not_object(void **state)
{
	static const char *const arrays[] = {"[1,2]", "[]", " [{}] "};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(arrays); i++) {
		char err[200] = "";
		assert_null(parse(arrays[i], err, sizeof(err)));
		assert_string_equal(err, "expected a JSON object");
	}
	/* Bare scalars are refused too (jansson stops them as a syntax error). */
	static const char *const scalars[] = {"\"x\"", "1", "true", "null"};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(scalars); i++) {
		char err[200] = "";
		assert_null(parse(scalars[i], err, sizeof(err)));
		assert_true(strcmp(err, "expected a JSON object") == 0 ||
			    strstr(err, "line 1, column ") != NULL);
	}
}

static void test_parse_duplicates_and_nul(void **state)
{
	char err[200] = "";
	assert_null(parse("{\"a\":1,\"a\":2}", err, sizeof(err)));
	assert_non_null(strstr(err, "line 1"));
	assert_non_null(strstr(err, "duplicate"));
	/* Nested duplicates too. */
	assert_null(parse("{\"o\":{\"k\":1,\"k\":1}}", err, sizeof(err)));
	/* A NUL escape in a string or a key is refused. */
	assert_null(parse("{\"a\":\"x\\u0000y\"}", err, sizeof(err)));
	assert_non_null(strstr(err, "line 1"));
	assert_null(parse("{\"a\\u0000\":1}", err, sizeof(err)));
	/* Other escapes are fine. */
	json_t *j = parse("{\"a\":\"\\u00e9\\n\"}", err, sizeof(err));
	assert_non_null(j);
	assert_string_equal(ipkvm_json_str(j, "a"), "\xc3\xa9\n");
	json_decref(j);
}

/* ---- check ---- */

static const struct ipkvm_json_field login_fields[] = {
    {"user", IPKVM_JSON_STRING, true},
    {"password", IPKVM_JSON_STRING, true},
    {"totp", IPKVM_JSON_STRING, false},
};

static int check_text(const char *text, const struct ipkvm_json_field *f, size_t n, char *err,
		      size_t errlen)
{
	char perr[200];
	json_t *j = parse(text, perr, sizeof(perr));
	assert_non_null(j);
	err[0] = '\0';
	int r = ipkvm_json_check(j, f, n, err, errlen);
	json_decref(j);
	return r;
}

#define CHECK_LOGIN(text, err) check_text(text, login_fields, 3, err, sizeof(err))

static void test_check_login(void **state)
{
	char err[200];
	assert_int_equal(CHECK_LOGIN("{\"user\":\"a\",\"password\":\"b\"}", err), 0);
	assert_string_equal(err, "");
	assert_int_equal(
	    CHECK_LOGIN("{\"password\":\"b\",\"user\":\"a\",\"totp\":\"123456\"}", err), 0);

	assert_int_equal(CHECK_LOGIN("{\"user\":\"a\",\"password\":\"b\",\"x\":1}", err), -EINVAL);
	assert_string_equal(err, "unknown field 'x'");
	assert_int_equal(CHECK_LOGIN("{\"user\":5,\"password\":\"b\"}", err), -EINVAL);
	assert_string_equal(err, "field 'user' must be a string");
	assert_int_equal(CHECK_LOGIN("{\"user\":null,\"password\":\"b\"}", err), -EINVAL);
	assert_string_equal(err, "field 'user' must be a string");
	assert_int_equal(CHECK_LOGIN("{\"user\":\"a\",\"password\":[\"b\"]}", err), -EINVAL);
	assert_string_equal(err, "field 'password' must be a string");
	assert_int_equal(CHECK_LOGIN("{\"user\":\"a\"}", err), -EINVAL);
	assert_string_equal(err, "missing field 'password'");
	assert_int_equal(CHECK_LOGIN("{}", err), -EINVAL);
	assert_string_equal(err, "missing field 'user'");
	assert_int_equal(CHECK_LOGIN("{\"user\":\"a\",\"password\":\"b\",\"totp\":123456}", err),
			 -EINVAL);
	assert_string_equal(err, "field 'totp' must be a string");
	/* Names are case-sensitive. */
	assert_int_equal(CHECK_LOGIN("{\"User\":\"a\",\"password\":\"b\"}", err), -EINVAL);
	assert_string_equal(err, "unknown field 'User'");
}

static void test_check_types(void **state)
{
	static const struct ipkvm_json_field f[] = {
	    {"b", IPKVM_JSON_BOOL, false},   {"i", IPKVM_JSON_INTEGER, false},
	    {"n", IPKVM_JSON_NUMBER, false}, {"o", IPKVM_JSON_OBJECT, false},
	    {"v", IPKVM_JSON_ANY, false},
	};
	static const struct {
		const char *text;
		const char *err; /* NULL: accepted */
	} cases[] = {
	    {"{\"b\":true}", NULL},
	    {"{\"b\":false}", NULL},
	    {"{\"b\":1}", "field 'b' must be a boolean"},
	    {"{\"b\":\"true\"}", "field 'b' must be a boolean"},
	    {"{\"b\":null}", "field 'b' must be a boolean"},
	    {"{\"i\":5}", NULL},
	    {"{\"i\":-9007199254740993}", NULL},
	    {"{\"i\":5.5}", "field 'i' must be an integer"},
	    {"{\"i\":5.0}", "field 'i' must be an integer"},
	    {"{\"i\":\"5\"}", "field 'i' must be an integer"},
	    {"{\"i\":true}", "field 'i' must be an integer"},
	    {"{\"n\":5}", NULL},
	    {"{\"n\":5.5}", NULL},
	    {"{\"n\":-1e3}", NULL},
	    {"{\"n\":\"5\"}", "field 'n' must be a number"},
	    {"{\"n\":false}", "field 'n' must be a number"},
	    {"{\"o\":{}}", NULL},
	    {"{\"o\":{\"x\":[1]}}", NULL},
	    {"{\"o\":[]}", "field 'o' must be an object"},
	    {"{\"o\":null}", "field 'o' must be an object"},
	    {"{\"v\":null}", NULL},
	    {"{\"v\":[1,\"x\"]}", NULL},
	    {"{\"v\":{}}", NULL},
	    {"{\"b\":true,\"i\":1,\"n\":2.5,\"o\":{},\"v\":0}", NULL},
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(cases); i++) {
		char err[200];
		int r = check_text(cases[i].text, f, IPKVM_ARRAY_SIZE(f), err, sizeof(err));
		if (cases[i].err) {
			assert_int_equal(r, -EINVAL);
			assert_string_equal(err, cases[i].err);
		} else {
			assert_int_equal(r, 0);
		}
	}
}

static void test_check_nul_in_string(void **state)
{
	/* JSON text with \u0000 never parses, but a built object can hold a NUL. */
	json_t *j = json_object();
	json_object_set_new(j, "user", json_stringn("ad\0min", 6));
	json_object_set_new(j, "password", json_string("b"));
	char err[200] = "";
	assert_int_equal(ipkvm_json_check(j, login_fields, 3, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "field 'user' must be a string");
	/* A NUL at the very end is still a NUL. */
	json_object_set_new(j, "user", json_stringn("admin\0", 6));
	assert_int_equal(ipkvm_json_check(j, login_fields, 3, err, sizeof(err)), -EINVAL);
	json_object_set_new(j, "user", json_string("admin"));
	assert_int_equal(ipkvm_json_check(j, login_fields, 3, err, sizeof(err)), 0);
	json_decref(j);
}

static void test_check_long_unknown_name(void **state)
{
	/* The unknown name is cut at 64 characters in the message. */
	char name[101], text[200], want[120];
	memset(name, 'k', 100);
	name[100] = '\0';
	snprintf(text, sizeof(text), "{\"%s\":1}", name);
	char err[200];
	assert_int_equal(check_text(text, login_fields, 3, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "unknown field '%.64s'", name);
	assert_string_equal(err, want);
	assert_int_equal(strlen(err), strlen("unknown field ''") + 64);
}

static void test_json_str(void **state)
{
	json_t *j = json_pack("{s:s, s:i, s:n}", "a", "x", "b", 1, "c");
	assert_string_equal(ipkvm_json_str(j, "a"), "x");
	assert_null(ipkvm_json_str(j, "b"));
	assert_null(ipkvm_json_str(j, "c"));
	assert_null(ipkvm_json_str(j, "missing"));
	json_decref(j);
}

/* ---- envelopes ---- */

static void test_envelope_ok(void **state)
{
	assert_dump(ipkvm_json_ok(json_pack("{s:i}", "a", 1)),
		    "{\"ok\":true,\"result\":{\"a\":1}}");
	assert_dump(ipkvm_json_ok(NULL), "{\"ok\":true,\"result\":{}}");
	assert_dump(ipkvm_json_ok(json_pack("{s:s, s:[i, b]}", "u",
					    "\xc3\xa9"
					    "\"\n",
					    "l", 1, 0)),
		    "{\"ok\":true,\"result\":{\"u\":\"\xc3\xa9\\\"\\n\",\"l\":[1,false]}}");
}

static void test_envelope_error(void **state)
{
	assert_dump(ipkvm_json_error("bad_request", "missing field 'user'", NULL),
		    "{\"ok\":false,\"error\":{\"code\":\"bad_request\",\"message\":\"missing "
		    "field 'user'\"}}");
	assert_dump(ipkvm_json_error("throttled", "wait", json_pack("{s:i}", "retry_after", 3)),
		    "{\"ok\":false,\"error\":{\"code\":\"throttled\",\"message\":\"wait\","
		    "\"retry_after\":3}}");
	assert_dump(
	    ipkvm_json_error("x", "y", json_pack("{s:i, s:s}", "a", 1, "b", "c")),
	    "{\"ok\":false,\"error\":{\"code\":\"x\",\"message\":\"y\",\"a\":1,\"b\":\"c\"}}");
	assert_dump(ipkvm_json_error("x", "y", json_object()),
		    "{\"ok\":false,\"error\":{\"code\":\"x\",\"message\":\"y\"}}");
}

static void test_dump(void **state)
{
	json_t *j = json_pack("{s:[i,i], s:{}}", "a", 1, 2, "b");
	size_t len = 99;
	char *s = ipkvm_json_dump(j, &len);
	assert_string_equal(s, "{\"a\":[1,2],\"b\":{}}");
	assert_int_equal(len, 18);
	free(s);
	s = ipkvm_json_dump(j, NULL);
	assert_string_equal(s, "{\"a\":[1,2],\"b\":{}}");
	free(s);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_parse_not_object),
	    cmocka_unit_test(test_parse_duplicates_and_nul),
	    cmocka_unit_test(test_check_login),
	    cmocka_unit_test(test_check_types),
	    cmocka_unit_test(test_check_nul_in_string),
	    cmocka_unit_test(test_check_long_unknown_name),
	    cmocka_unit_test(test_json_str),
	    cmocka_unit_test(test_envelope_ok),
	    cmocka_unit_test(test_envelope_error),
	    cmocka_unit_test(test_dump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
