/*
 * tls: the daemon's server side of TLS, shared by every front end that speaks it (the web
 * front end's HTTPS, the VNC front end's VeNCrypt), so both present the same certificate
 * under the same rules:
 *   - the files: [server] tls_cert / tls_key, or the self-signed pair made on first start in
 *     <state_dir>/tls/ (cert.c);
 *   - the policy: TLS 1.2 or newer, forward-secret AEAD suites only (ECDHE with AES-GCM or
 *     ChaCha20-Poly1305; never an anonymous suite), the server's order, with the cipher this
 *     CPU encrypts fastest first ([server] tls_ciphers, ipkvm_cpu_has_aes());
 *   - a context made from both (VNC; libwebsockets makes the web's from the same strings),
 *     and the SIGHUP reload of a running context, checked on the side first;
 *   - the one exception, per connection and only where asked: anonymous TLS for VNC clients
 *     of VeNCrypt TLSPlain that cannot check a certificate ([vnc] anonymous_tls).
 *
 * Why a folder of its own: a front end never includes another front end, so what both need
 * cannot stay in web/; auth/ (users, sessions) links libcrypto but no TLS, and core/ has no
 * network at all. This layer sits below the front ends and links OpenSSL only.
 */
#ifndef IPKVM_TLS_TLS_H
#define IPKVM_TLS_TLS_H

#include <limits.h>
#include <stdbool.h>

#include "core/config.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/* Where the certificate chain and its key are. */
struct ipkvm_tls_files {
	char cert[PATH_MAX];
	char key[PATH_MAX];
};

/* The files of cfg: [server] tls_cert / tls_key, or <state_dir>/tls/cert.pem and key.pem,
 * made when missing (for [server] listen's addresses). Both must be readable. 0 or -errno
 * (logged). */
int ipkvm_tls_files(const struct ipkvm_config *cfg, struct ipkvm_tls_files *out);

/* The anonymous suites one connection may also agree to: ephemeral DH or ECDH without a
 * certificate, AEAD first. */
#define IPKVM_TLS_ANONYMOUS_CIPHERS "ADH+AESGCM:AECDH+AES"

/* The cipher policy of cfg ([server] tls_ciphers and this CPU). */
struct ipkvm_tls_policy {
	bool chacha;	       /* ChaCha20-Poly1305 first (else AES-GCM first) */
	const char *why;       /* for the log: what decided it */
	const char *ciphers12; /* OpenSSL cipher list for TLS 1.2 */
	/* ciphers12's certificate suites, then IPKVM_TLS_ANONYMOUS_CIPHERS (one connection's,
	 * ipkvm_tls_allow_anonymous) */
	const char *ciphers12_anonymous;
	const char *ciphers13; /* TLS 1.3 cipher suites */
};
void ipkvm_tls_policy(const struct ipkvm_config *cfg, struct ipkvm_tls_policy *out);

/* A server context with the policy and the files' pair loaded (TLS 1.2 minimum, no
 * renegotiation). NULL (logged) when the pair does not load or match. */
SSL_CTX *ipkvm_tls_server_ctx(const struct ipkvm_tls_files *files,
			      const struct ipkvm_tls_policy *policy);

/* Lets one server connection of a context made above also agree to anonymous TLS 1.2
 * (IPKVM_TLS_ANONYMOUS_CIPHERS after the policy's certificate suites, so a client that
 * offers both gets the certificate; security level 0 and automatic DH parameters on this
 * connection only). A client that offers anonymous suites and no certificate suite is held
 * to TLS 1.2, which it would otherwise get as TLS 1.3 with a certificate it cannot use. Call
 * before the handshake. Anonymous TLS hides the traffic from eavesdroppers, not from a man in
 * the middle. 0 or -errno. */
int ipkvm_tls_allow_anonymous(SSL *ssl, const struct ipkvm_tls_policy *policy);
/* The handshake of ssl, done, used no certificate. */
bool ipkvm_tls_is_anonymous(const SSL *ssl);

/* Re-reads the files into a running context (SIGHUP): new handshakes get the new pair,
 * connections already up keep theirs. The pair is loaded and checked on the side, so a bad
 * file leaves the context as it was. 0 or -errno (logged). */
int ipkvm_tls_reload(SSL_CTX *ctx, const struct ipkvm_tls_files *files);

#endif
