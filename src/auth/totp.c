/*
 * totp: one-time codes for the optional second factor.
 *
 * HOTP (RFC 4226) is HMAC-SHA1 over a big-endian 64-bit counter followed by "dynamic
 * truncation"; TOTP (RFC 6238) uses the 30-second step number as the counter. We take HMAC
 * from OpenSSL rather than carrying our own SHA-1. Secrets travel in RFC 4648 base32, the
 * format authenticator apps scan from otpauth:// URIs; the decoder is lenient about what
 * people type (case, spaces, padding), the encoder produces the canonical form.
 */
#define LOG_TAG "totp"

#include "auth/totp.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/log.h"
#include "core/util.h"

/* Decoded secrets longer than this are refused (the users file holds at most 64 base32
 * characters = 40 bytes). */
#define TOTP_KEY_MAX 64

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void ipkvm_base32_encode(const uint8_t *in, size_t len, char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

static int b32_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int ipkvm_base32_decode(const char *in, uint8_t *out, size_t outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0, nchars = 0;
	bool padding = false;
	for (const char *p = in; *p; p++) {
		if (*p == ' ')
			continue;
		if (*p == '=') {
			padding = true;
			continue;
		}
		int v = b32_value(*p);
		/* Data after padding is as wrong as a character outside the alphabet. */
		if (v < 0 || padding)
			return -EINVAL;
		nchars++;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			if (o >= outlen)
				return -ENOSPC;
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	/* A last group of 1, 3 or 6 characters cannot come from any input: it holds fewer
	 * than 8 bits beyond a whole byte boundary that an encoder would have written. */
	size_t rem = nchars % 8;
	if (rem == 1 || rem == 3 || rem == 6)
		return -EINVAL;
	return (int)o;
}

uint32_t ipkvm_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits)
{
	static const uint8_t empty_key[1];
	uint8_t msg[8], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint32_t mod = 1;
	if (digits < 6 || digits > 8)
		digits = 6;
	for (int i = 0; i < digits; i++)
		mod *= 10;
	for (int i = 7; i >= 0; i--) {
		msg[i] = (uint8_t)counter;
		counter >>= 8;
	}
	if (!HMAC(EVP_sha1(), keylen ? key : empty_key, (int)keylen, msg, sizeof(msg), md,
		  &mdlen) ||
	    mdlen != 20) {
		LOG_ERROR("HMAC-SHA1 failed");
		/* Not a possible code of any length, so it never verifies. */
		return UINT32_MAX;
	}
	/* Dynamic truncation: the low nibble of the last byte picks 4 bytes, top bit dropped. */
	unsigned off = md[19] & 0x0f;
	uint32_t bin = ((uint32_t)(md[off] & 0x7f) << 24) | ((uint32_t)md[off + 1] << 16) |
		       ((uint32_t)md[off + 2] << 8) | md[off + 3];
	OPENSSL_cleanse(md, sizeof(md));
	return bin % mod;
}

int ipkvm_totp_verify(const char *secret_b32, const char *code, int64_t now, int64_t *last_step)
{
	uint8_t key[TOTP_KEY_MAX];
	uint32_t want = 0;
	int r;
	if (!code || !secret_b32)
		return -EINVAL;
	for (int i = 0; i < IPKVM_TOTP_DIGITS; i++) {
		if (code[i] < '0' || code[i] > '9')
			return -EINVAL;
		want = want * 10 + (uint32_t)(code[i] - '0');
	}
	if (code[IPKVM_TOTP_DIGITS] != '\0')
		return -EINVAL;
	int klen = ipkvm_base32_decode(secret_b32, key, sizeof(key));
	if (klen <= 0) {
		r = -EINVAL;
		goto out;
	}
	/* Floor division, so times before 1970 do not share step 0 with the first 30 s. */
	int64_t step =
	    now >= 0 ? now / IPKVM_TOTP_STEP : -((-now + IPKVM_TOTP_STEP - 1) / IPKVM_TOTP_STEP);
	int64_t matched = INT64_MIN;
	/* Every candidate step is computed and compared; the choice is made afterwards without
	 * an early return, so timing does not tell which step (if any) matched. The earliest
	 * acceptable step wins, leaving the later ones usable for the next login. */
	for (int64_t s = step + 1; s >= step - 1; s--) {
		uint32_t got = ipkvm_hotp(key, (size_t)klen, (uint64_t)s, IPKVM_TOTP_DIGITS);
		uint32_t diff = got ^ want;
		bool fresh = !last_step || s > *last_step;
		if (diff == 0 && fresh && s >= 0)
			matched = s;
	}
	if (matched == INT64_MIN) {
		r = -EACCES;
		goto out;
	}
	if (last_step)
		*last_step = matched;
	r = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

int ipkvm_totp_generate_secret(char *out, size_t outlen)
{
	uint8_t key[20];
	if (outlen < 33)
		return -ENOSPC;
	int r = ipkvm_random_bytes(key, sizeof(key));
	if (r == 0)
		ipkvm_base32_encode(key, sizeof(key), out);
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}
