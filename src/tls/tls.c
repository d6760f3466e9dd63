/*
 * tls: see tls.h. The web front end hands the policy's strings to libwebsockets, which makes
 * its context; VNC makes its own here. Both reload through ipkvm_tls_reload().
 */
#define LOG_TAG "tls"
#include "tls/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "tls/cert.h"

int ipkvm_tls_files(const struct ipkvm_config *cfg, struct ipkvm_tls_files *out)
{
	char dir[PATH_MAX];
	int r;
	if (ipkvm_path_join(dir, sizeof(dir), cfg->state_dir, "tls") < 0 ||
	    ipkvm_path_join(out->cert, sizeof(out->cert), dir, "cert.pem") < 0 ||
	    ipkvm_path_join(out->key, sizeof(out->key), dir, "key.pem") < 0) {
		LOG_ERROR("state directory path too long: %s", cfg->state_dir);
		return -ENAMETOOLONG;
	}
	if (cfg->tls_cert) {
		ipkvm_strlcpy(out->cert, cfg->tls_cert, sizeof(out->cert));
		ipkvm_strlcpy(out->key, cfg->tls_key, sizeof(out->key));
	} else if ((r = ipkvm_cert_ensure(dir, cfg->listen)) < 0) {
		return r;
	}
	if (access(out->cert, R_OK) < 0 || access(out->key, R_OK) < 0) {
		r = -errno;
		LOG_ERROR("cannot read the TLS files %s and %s: %s", out->cert, out->key,
			  strerror(-r));
		return r;
	}
	return 0;
}

void ipkvm_tls_policy(const struct ipkvm_config *cfg, struct ipkvm_tls_policy *out)
{
	/* AES-GCM with AES instructions, ChaCha20-Poly1305 without (a Raspberry Pi 4 has
	 * none, and video is the bulk of what is encrypted). Every suite is ECDHE (forward
	 * secret, authenticated by the certificate: "ECDHE" never matches an anonymous suite,
	 * and "!aNULL" says so once more) with an AEAD. */
	out->chacha = cfg->tls_ciphers == IPKVM_TLS_CIPHERS_CHACHA20 ||
		      (cfg->tls_ciphers == IPKVM_TLS_CIPHERS_AUTO && !ipkvm_cpu_has_aes());
	out->why = cfg->tls_ciphers != IPKVM_TLS_CIPHERS_AUTO ? "[server] tls_ciphers"
		   : out->chacha			      ? "this CPU has no AES instructions"
							      : "this CPU has AES instructions";
#define CHACHA_FIRST "ECDHE+CHACHA20:ECDHE+AES128+AESGCM:ECDHE+AESGCM"
#define AES_FIRST    "ECDHE+AES128+AESGCM:ECDHE+AESGCM:ECDHE+CHACHA20"
	out->ciphers12 = out->chacha ? CHACHA_FIRST ":!aNULL" : AES_FIRST ":!aNULL";
	/* "!aNULL" would delete the anonymous suites for good: this list ends without it. */
	out->ciphers12_anonymous = out->chacha ? CHACHA_FIRST ":" IPKVM_TLS_ANONYMOUS_CIPHERS
					       : AES_FIRST ":" IPKVM_TLS_ANONYMOUS_CIPHERS;
#undef CHACHA_FIRST
#undef AES_FIRST
	out->ciphers13 =
	    out->chacha
		? "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
		: "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
}

/* The ex_data slot of a connection allowed anonymous TLS (any non-NULL value), made once. */
static int anonymous_index = -1;

static bool anonymous_allowed(const SSL *ssl)
{
	return anonymous_index >= 0 && SSL_get_ex_data(ssl, anonymous_index) != NULL;
}

/* Before the version is chosen: a connection allowed anonymous TLS whose client offers no
 * suite with a certificate (GnuTLS's anonymous clients still offer TLS 1.3, which has no
 * anonymous suite) stays at TLS 1.2, where the anonymous suites are. */
static int client_hello(SSL *ssl, int *alert, void *arg)
{
	(void)alert;
	(void)arg;
	if (!anonymous_allowed(ssl))
		return SSL_CLIENT_HELLO_SUCCESS;
	const unsigned char *ids;
	size_t len = SSL_client_hello_get0_ciphers(ssl, &ids);
	for (size_t i = 0; i + 2 <= len; i += 2) {
		const SSL_CIPHER *c = SSL_CIPHER_find(ssl, ids + i);
		int auth = c ? SSL_CIPHER_get_auth_nid(c) : NID_undef;
		/* TLS 1.3's suites name no authentication: only 1.2's say it. */
		if (auth != NID_undef && auth != NID_auth_null && auth != NID_auth_any)
			return SSL_CLIENT_HELLO_SUCCESS;
	}
	if (SSL_set_max_proto_version(ssl, TLS1_2_VERSION) != 1) {
		ERR_clear_error();
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

int ipkvm_tls_allow_anonymous(SSL *ssl, const struct ipkvm_tls_policy *policy)
{
	if (anonymous_index < 0)
		return -EINVAL;
	/* The anonymous suites exist only at security level 0; the cipher list, TLS 1.2 as
	 * the minimum and the context's options still hold. */
	SSL_set_security_level(ssl, 0);
	if (SSL_set_cipher_list(ssl, policy->ciphers12_anonymous) != 1 ||
	    SSL_set_dh_auto(ssl, 1) != 1 || SSL_set_ex_data(ssl, anonymous_index, ssl) != 1) {
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

bool ipkvm_tls_is_anonymous(const SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	return c && SSL_CIPHER_get_auth_nid(c) == NID_auth_null;
}

/* The pair of files, read and checked against each other without touching any context. */
static int load_pair(const struct ipkvm_tls_files *files, X509 **cert, EVP_PKEY **key)
{
	FILE *f;
	*cert = NULL;
	*key = NULL;
	if ((f = fopen(files->cert, "re"))) {
		*cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if ((f = fopen(files->key, "re"))) {
		*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!*cert || !*key || !X509_check_private_key(*cert, *key)) {
		X509_free(*cert);
		EVP_PKEY_free(*key);
		*cert = NULL;
		*key = NULL;
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

/* The chain from the certificate file (intermediates included) and the key checked by
 * load_pair(). */
static int use_pair(SSL_CTX *ctx, const struct ipkvm_tls_files *files, EVP_PKEY *key)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, files->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

SSL_CTX *ipkvm_tls_server_ctx(const struct ipkvm_tls_files *files,
			      const struct ipkvm_tls_policy *policy)
{
	X509 *cert;
	EVP_PKEY *key;
	if (load_pair(files, &cert, &key) < 0) {
		LOG_ERROR("%s and %s are not a readable, matching certificate and key", files->cert,
			  files->key);
		return NULL;
	}
	if (anonymous_index < 0)
		anonymous_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || anonymous_index < 0)
		goto fail;
	SSL_CTX_set_client_hello_cb(ctx, client_hello, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
				     SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* Partial writes from a buffer that may move between retries: the callers write
	 * shared images in pieces, and a session's own buffer may grow between two tries. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, policy->ciphers12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, policy->ciphers13) != 1 || use_pair(ctx, files, key) < 0)
		goto fail;
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
fail:
	LOG_ERROR("cannot make a TLS context from %s", files->cert);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	return NULL;
}

int ipkvm_tls_reload(SSL_CTX *ctx, const struct ipkvm_tls_files *files)
{
	X509 *cert;
	EVP_PKEY *key;
	int r = load_pair(files, &cert, &key);
	if (r < 0) {
		LOG_ERROR("TLS reload: %s and %s are not a readable, matching pair; keeping the "
			  "current ones",
			  files->cert, files->key);
		return r;
	}
	r = use_pair(ctx, files, key);
	if (r < 0)
		LOG_ERROR("TLS reload failed for %s", files->cert);
	else
		LOG_INFO("TLS certificate reloaded from %s", files->cert);
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}
