/*
 * vncauth: the challenge and response of RFB's "VNC Authentication" (security type 2).
 *
 * The server sends 16 random bytes; the client encrypts each 8-byte half with DES (ECB)
 * under its password and sends the 16 bytes back. The key is the password's first 8 bytes,
 * padded with zeros, with the bits of each byte reversed (RFB takes a byte's lowest bit as
 * DES's first key bit; DES libraries take the highest). Weak by design (8 characters,
 * replayable by anyone who saw the exchange): offered only when the operator configured it.
 * Pure functions; the comparison takes the same time whether and where the bytes differ.
 */
#ifndef IPKVM_VNC_VNCAUTH_H
#define IPKVM_VNC_VNCAUTH_H

#include <stdbool.h>
#include <stdint.h>

#define IPKVM_VNCAUTH_CHALLENGE_LEN 16

/* A fresh random challenge (the kernel's CSPRNG). 0 or -errno. */
int ipkvm_vncauth_challenge(uint8_t challenge[IPKVM_VNCAUTH_CHALLENGE_LEN]);
/* The response a client with password (NUL-terminated; bytes past the 8th ignored) sends
 * for challenge. */
void ipkvm_vncauth_response(const char *password,
			    const uint8_t challenge[IPKVM_VNCAUTH_CHALLENGE_LEN],
			    uint8_t response[IPKVM_VNCAUTH_CHALLENGE_LEN]);
/* Whether response is what password gives for challenge, in constant time. */
bool ipkvm_vncauth_check(const char *password, const uint8_t challenge[IPKVM_VNCAUTH_CHALLENGE_LEN],
			 const uint8_t response[IPKVM_VNCAUTH_CHALLENGE_LEN]);

#endif
