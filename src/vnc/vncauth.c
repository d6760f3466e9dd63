/*
 * vncauth: RFB's VNC Authentication (see vncauth.h). DES comes from OpenSSL's libcrypto
 * (its low-level DES_* functions, deprecated in OpenSSL 3 for new protocols but still the
 * one DES every Debian system has; RFB fixes the cipher, so there is no better choice).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "vnc/vncauth.h"

#include <openssl/crypto.h>
#include <openssl/des.h>
#include <string.h>

#include "core/util.h"

int ipkvm_vncauth_challenge(uint8_t challenge[IPKVM_VNCAUTH_CHALLENGE_LEN])
{
	return ipkvm_random_bytes(challenge, IPKVM_VNCAUTH_CHALLENGE_LEN);
}

static uint8_t reverse_bits(uint8_t b)
{
	uint8_t r = 0;
	for (int i = 0; i < 8; i++)
		if (b & (1u << i))
			r |= (uint8_t)(0x80u >> i);
	return r;
}

void ipkvm_vncauth_response(const char *password,
			    const uint8_t challenge[IPKVM_VNCAUTH_CHALLENGE_LEN],
			    uint8_t response[IPKVM_VNCAUTH_CHALLENGE_LEN])
{
	DES_cblock key = {0};
	for (size_t i = 0; i < sizeof(key) && password[i]; i++)
		key[i] = reverse_bits((uint8_t)password[i]);
	DES_key_schedule ks;
	/* Unchecked: RFB keys have no parity and may be weak keys; the protocol allows both. */
	DES_set_key_unchecked(&key, &ks);
	for (size_t half = 0; half < IPKVM_VNCAUTH_CHALLENGE_LEN; half += 8) {
		DES_cblock in, out;
		memcpy(in, challenge + half, 8);
		DES_ecb_encrypt(&in, &out, &ks, DES_ENCRYPT);
		memcpy(response + half, out, 8);
	}
	OPENSSL_cleanse(&ks, sizeof(ks));
	OPENSSL_cleanse(key, sizeof(key));
}

bool ipkvm_vncauth_check(const char *password, const uint8_t challenge[IPKVM_VNCAUTH_CHALLENGE_LEN],
			 const uint8_t response[IPKVM_VNCAUTH_CHALLENGE_LEN])
{
	uint8_t want[IPKVM_VNCAUTH_CHALLENGE_LEN];
	ipkvm_vncauth_response(password, challenge, want);
	bool ok = CRYPTO_memcmp(want, response, sizeof(want)) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}
