/*
 * Unit tests for auth/totp: RFC 4226 appendix D HOTP values, RFC 6238 appendix B TOTP values
 * (SHA-1, 8 digits), the +-1 step window and replay refusal of ipkvm_totp_verify, and RFC 4648
 * base32 (test vectors, round trips, lenient decoding, bad input).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/totp.h"
#include "core/util.h"

static const uint8_t rfc_key[] = "12345678901234567890"; /* 20 bytes + NUL */
#define RFC_KEYLEN 20

static void test_hotp_rfc4226(void **state)
{
	static const uint32_t want[] = {755224, 287082, 359152, 969429, 338314,
					254676, 287922, 162583, 399871, 520489};
	for (uint64_t c = 0; c < IPKVM_ARRAY_SIZE(want); c++)
		assert_int_equal(ipkvm_hotp(rfc_key, RFC_KEYLEN, c, 6), want[c]);
}

static void test_totp_rfc6238(void **state)
{
	static const struct {
		int64_t t;
		uint32_t code;
	} want[] = {
	    {59, 94287082},	    {1111111109, 7081804},  {1111111111, 14050471},
	    {1234567890, 89005924}, {2000000000, 69279037}, {20000000000, 65353130},
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(want); i++) {
		uint64_t step = (uint64_t)(want[i].t / IPKVM_TOTP_STEP);
		assert_int_equal(ipkvm_hotp(rfc_key, RFC_KEYLEN, step, 8), want[i].code);
		/* The same value printed with leading zeros, as the RFC lists it. */
		char buf[16];
		snprintf(buf, sizeof(buf), "%08u", ipkvm_hotp(rfc_key, RFC_KEYLEN, step, 8));
		if (i == 1)
			assert_string_equal(buf, "07081804");
	}
	/* 7 digits is the 8-digit value mod 10^7. */
	assert_int_equal(ipkvm_hotp(rfc_key, RFC_KEYLEN, 1, 7), 4287082);
}

/* The RFC key in base32 and the 6-digit code for a unix time. */
static void rfc_secret(char *out)
{
	ipkvm_base32_encode(rfc_key, RFC_KEYLEN, out);
}

static void code_at(int64_t t, char *out)
{
	snprintf(out, 8, "%06u",
		 ipkvm_hotp(rfc_key, RFC_KEYLEN, (uint64_t)(t / IPKVM_TOTP_STEP), 6));
}

/* A 6-digit code that is valid at none of the steps around t. */
static void wrong_code_at(int64_t t, char *out)
{
	uint32_t valid[3];
	for (int d = -1; d <= 1; d++)
		valid[d + 1] =
		    ipkvm_hotp(rfc_key, RFC_KEYLEN, (uint64_t)(t / IPKVM_TOTP_STEP + d), 6);
	uint32_t c = 0;
	while (c == valid[0] || c == valid[1] || c == valid[2])
		c++;
	snprintf(out, 8, "%06u", c);
}

static void test_verify_window(void **state)
{
	char secret[40], code[8];
	rfc_secret(secret);
	assert_string_equal(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	const int64_t now = 1111111111; /* step 37037037, 1 s into it */
	/* RFC value at T=59 truncated to 6 digits. */
	assert_int_equal(ipkvm_totp_verify(secret, "287082", 59, NULL), 0);
	for (int d = -1; d <= 1; d++) {
		code_at(now + d * IPKVM_TOTP_STEP, code);
		assert_int_equal(ipkvm_totp_verify(secret, code, now, NULL), 0);
	}
	for (int d = -3; d <= 3; d += 6) {
		code_at(now + d * IPKVM_TOTP_STEP, code);
		assert_int_equal(ipkvm_totp_verify(secret, code, now, NULL), -EACCES);
	}
	code_at(now - 2 * IPKVM_TOTP_STEP, code);
	assert_int_equal(ipkvm_totp_verify(secret, code, now, NULL), -EACCES);
	wrong_code_at(now, code);
	assert_int_equal(ipkvm_totp_verify(secret, code, now, NULL), -EACCES);
	code_at(now + 2 * IPKVM_TOTP_STEP, code);
	assert_int_equal(ipkvm_totp_verify(secret, code, now, NULL), -EACCES);
	/* Lower-case secret with spaces works too. */
	code_at(now, code);
	assert_int_equal(
	    ipkvm_totp_verify("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", code, now, NULL), 0);
}

static void test_verify_replay(void **state)
{
	char secret[40], code[8];
	rfc_secret(secret);
	const int64_t now = 1234567890;
	const int64_t step = now / IPKVM_TOTP_STEP;
	int64_t last = 0;
	code_at(now, code);
	assert_int_equal(ipkvm_totp_verify(secret, code, now, &last), 0);
	assert_int_equal(last, step);
	/* The same code again: refused, last unchanged. */
	assert_int_equal(ipkvm_totp_verify(secret, code, now, &last), -EACCES);
	assert_int_equal(ipkvm_totp_verify(secret, code, now + 10, &last), -EACCES);
	assert_int_equal(last, step);
	/* The previous step's code is older than the last used one: refused. */
	code_at(now - IPKVM_TOTP_STEP, code);
	assert_int_equal(ipkvm_totp_verify(secret, code, now, &last), -EACCES);
	/* The next step's code is fine once, and moves last along. */
	code_at(now + IPKVM_TOTP_STEP, code);
	assert_int_equal(ipkvm_totp_verify(secret, code, now, &last), 0);
	assert_int_equal(last, step + 1);
	assert_int_equal(ipkvm_totp_verify(secret, code, now + IPKVM_TOTP_STEP, &last), -EACCES);
	/* A previous step's code is accepted when it is newer than last. */
	last = step - 5;
	code_at(now - IPKVM_TOTP_STEP, code);
	assert_int_equal(ipkvm_totp_verify(secret, code, now, &last), 0);
	assert_int_equal(last, step - 1);
	/* A wrong code leaves last alone. */
	wrong_code_at(now + 1000, code);
	assert_int_equal(ipkvm_totp_verify(secret, code, now + 1000, &last), -EACCES);
	assert_int_equal(last, step - 1);
}

static void test_verify_malformed(void **state)
{
	char secret[40];
	rfc_secret(secret);
	static const char *const bad_codes[] = {"",
						"12345",
						"1234567",
						"12345a",
						" 12345",
						"12345 ",
						"-12345",
						"+12345",
						"\xef\xbc\x91"
						"23456",
						"123\x00"
						"56"};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(bad_codes); i++)
		assert_int_equal(ipkvm_totp_verify(secret, bad_codes[i], 59, NULL), -EINVAL);
	assert_int_equal(ipkvm_totp_verify(secret, NULL, 59, NULL), -EINVAL);
	assert_int_equal(ipkvm_totp_verify("GEZD1", "287082", 59, NULL), -EINVAL);
	assert_int_equal(ipkvm_totp_verify("", "287082", 59, NULL), -EINVAL);
	assert_int_equal(ipkvm_totp_verify(NULL, "287082", 59, NULL), -EINVAL);
}

static void test_base32_vectors(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
	    {"", ""},
	    {"f", "MY"},
	    {"fo", "MZXQ"},
	    {"foo", "MZXW6"},
	    {"foob", "MZXW6YQ"},
	    {"fooba", "MZXW6YTB"},
	    {"foobar", "MZXW6YTBOI"},
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(v); i++) {
		char enc[32];
		uint8_t dec[32];
		size_t len = strlen(v[i].in);
		ipkvm_base32_encode((const uint8_t *)v[i].in, len, enc);
		assert_string_equal(enc, v[i].out);
		assert_int_equal(ipkvm_base32_decode(v[i].out, dec, sizeof(dec)), (int)len);
		assert_memory_equal(dec, v[i].in, len);
	}
	/* RFC 4648 spells them with padding. */
	static const struct {
		const char *in, *out;
	} padded[] = {
	    {"MY======", "f"},	  {"MZXQ====", "fo"},	 {"MZXW6===", "foo"},
	    {"MZXW6YQ=", "foob"}, {"MZXW6YTB", "fooba"}, {"MZXW6YTBOI======", "foobar"},
	};
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(padded); i++) {
		uint8_t dec[32];
		size_t len = strlen(padded[i].out);
		assert_int_equal(ipkvm_base32_decode(padded[i].in, dec, sizeof(dec)), (int)len);
		assert_memory_equal(dec, padded[i].out, len);
	}
}

static void test_base32_roundtrip(void **state)
{
	uint8_t in[64], dec[64];
	char enc[128];
	for (size_t len = 0; len <= sizeof(in); len++) {
		assert_int_equal(ipkvm_random_bytes(in, len), 0);
		ipkvm_base32_encode(in, len, enc);
		assert_int_equal(strlen(enc), (8 * len + 4) / 5);
		assert_int_equal(ipkvm_base32_decode(enc, dec, sizeof(dec)), (int)len);
		assert_memory_equal(dec, in, len);
	}
}

static void test_base32_lenient_and_bad(void **state)
{
	uint8_t dec[32];
	assert_int_equal(ipkvm_base32_decode("mzxw6ytboi", dec, sizeof(dec)), 6);
	assert_memory_equal(dec, "foobar", 6);
	assert_int_equal(ipkvm_base32_decode("MZXW 6YTB OI", dec, sizeof(dec)), 6);
	assert_memory_equal(dec, "foobar", 6);
	assert_int_equal(ipkvm_base32_decode(" mZxW6yTbOi====== ", dec, sizeof(dec)), 6);
	assert_memory_equal(dec, "foobar", 6);
	/* Characters outside the alphabet. */
	assert_int_equal(ipkvm_base32_decode("MZXW0YTB", dec, sizeof(dec)), -EINVAL);
	assert_int_equal(ipkvm_base32_decode("MZXW1YTB", dec, sizeof(dec)), -EINVAL);
	assert_int_equal(ipkvm_base32_decode("MZXW8YTB", dec, sizeof(dec)), -EINVAL);
	assert_int_equal(ipkvm_base32_decode("MZXW-YTB", dec, sizeof(dec)), -EINVAL);
	assert_int_equal(ipkvm_base32_decode("MZXW\tYTB", dec, sizeof(dec)), -EINVAL);
	assert_int_equal(ipkvm_base32_decode("MZXW\xc3\x9c", dec, sizeof(dec)), -EINVAL);
	/* Data after padding. */
	assert_int_equal(ipkvm_base32_decode("MY==MY", dec, sizeof(dec)), -EINVAL);
	/* Lengths no encoder makes. */
	assert_int_equal(ipkvm_base32_decode("M", dec, sizeof(dec)), -EINVAL);
	assert_int_equal(ipkvm_base32_decode("MZX", dec, sizeof(dec)), -EINVAL);
	assert_int_equal(ipkvm_base32_decode("MZXW6Y", dec, sizeof(dec)), -EINVAL);
	/* Output too small. */
	assert_int_equal(ipkvm_base32_decode("MZXW6YTBOI", dec, 5), -ENOSPC);
	assert_int_equal(ipkvm_base32_decode("MZXW6YTBOI", dec, 6), 6);
}

static void test_generate_secret(void **state)
{
	char a[33], b[33];
	uint8_t key[32];
	assert_int_equal(ipkvm_totp_generate_secret(a, sizeof(a)), 0);
	assert_int_equal(ipkvm_totp_generate_secret(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32);
	assert_string_not_equal(a, b);
	assert_int_equal(ipkvm_base32_decode(a, key, sizeof(key)), 20);
	char small[32];
	assert_int_equal(ipkvm_totp_generate_secret(small, sizeof(small)), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hotp_rfc4226),     cmocka_unit_test(test_totp_rfc6238),
	    cmocka_unit_test(test_verify_window),    cmocka_unit_test(test_verify_replay),
	    cmocka_unit_test(test_verify_malformed), cmocka_unit_test(test_base32_vectors),
	    cmocka_unit_test(test_base32_roundtrip), cmocka_unit_test(test_base32_lenient_and_bad),
	    cmocka_unit_test(test_generate_secret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
