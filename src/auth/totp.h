/*
 * totp: RFC 4226 HOTP and RFC 6238 TOTP (HMAC-SHA1, 30 s steps) on OpenSSL, and the RFC 4648
 * base32 that authenticator apps use for secrets.
 */
#ifndef IPKVM_AUTH_TOTP_H
#define IPKVM_AUTH_TOTP_H

#include <stddef.h>
#include <stdint.h>

#define IPKVM_TOTP_STEP	  30
#define IPKVM_TOTP_DIGITS 6

/* Base32 (A-Z2-7) without padding. out needs ceil(8*len/5)+1 bytes. */
void ipkvm_base32_encode(const uint8_t *in, size_t len, char *out);
/* Accepts upper or lower case, ignores spaces and trailing '=' padding. Returns the number
 * of bytes written, or -EINVAL (bad character) / -ENOSPC (out too small). */
int ipkvm_base32_decode(const char *in, uint8_t *out, size_t outlen);

/* HOTP value (already reduced mod 10^digits), digits 6..8. */
uint32_t ipkvm_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits);

/* Checks a 6-digit code against secret_b32 at unix time now, accepting the steps
 * now-1 .. now+1. Codes whose step is <= *last_step are refused (replay); on success
 * *last_step is set to the matched step. Pass last_step = NULL to skip replay protection.
 * Returns 0 when accepted, -EACCES when wrong, -EINVAL for a malformed code or secret. */
int ipkvm_totp_verify(const char *secret_b32, const char *code, int64_t now, int64_t *last_step);

/* A fresh 160-bit secret in base32 (32 characters) into out (needs 33). */
int ipkvm_totp_generate_secret(char *out, size_t outlen);

#endif
