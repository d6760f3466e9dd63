/*
 * Unit tests for tls/tls: the files of a config (generated in <state_dir>/tls/ or the
 * configured pair, refused when unreadable), the cipher policy by [server] tls_ciphers, a
 * server context that allows TLS 1.2 and newer and only ECDHE (or TLS 1.3) AEAD suites with a
 * certificate (never an anonymous one), one connection allowed anonymous suites after those
 * (security level 0 on it alone), and the reload: a new pair is taken, a bad one leaves
 * the context's certificate as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "tls/cert.h"
#include "tls/tls.h"

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ipkvm-test-tls-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void config_in(struct ipkvm_config *cfg, const char *state)
{
	char err[256];
	ipkvm_config_init(cfg);
	assert_int_equal(ipkvm_config_set(cfg, "server", "state_dir", state, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_config_set(cfg, "server", "listen", "127.0.0.1", err, sizeof(err)),
			 0);
}

/* The SHA-256 of a context's certificate. */
static void ctx_fingerprint(SSL_CTX *ctx, unsigned char md[32])
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	assert_non_null(x);
	unsigned len = 0;
	assert_int_equal(X509_digest(x, EVP_sha256(), md, &len), 1);
	assert_int_equal(len, 32);
}

static void test_files_generated(void **state)
{
	struct ipkvm_config cfg;
	struct ipkvm_tls_files f;
	char state_dir[512], want[600];
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	config_in(&cfg, state_dir);
	assert_int_equal(ipkvm_tls_files(&cfg, &f), 0);
	snprintf(want, sizeof(want), "%s/tls/cert.pem", state_dir);
	assert_string_equal(f.cert, want);
	assert_int_equal(access(f.cert, R_OK), 0);
	snprintf(want, sizeof(want), "%s/tls/key.pem", state_dir);
	assert_string_equal(f.key, want);
	assert_int_equal(access(f.key, R_OK), 0);
	ipkvm_config_free(&cfg);
}

static void test_files_configured(void **state)
{
	struct ipkvm_config cfg;
	struct ipkvm_tls_files f;
	char state_dir[512], other[512], cert[600], key[600], err[256];
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	snprintf(other, sizeof(other), "%s/mine", tmpdir);
	assert_int_equal(ipkvm_cert_ensure(other, "127.0.0.1"), 0);
	snprintf(cert, sizeof(cert), "%s/cert.pem", other);
	snprintf(key, sizeof(key), "%s/key.pem", other);
	config_in(&cfg, state_dir);
	assert_int_equal(ipkvm_config_set(&cfg, "server", "tls_cert", cert, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_config_set(&cfg, "server", "tls_key", key, err, sizeof(err)), 0);
	assert_int_equal(ipkvm_tls_files(&cfg, &f), 0);
	assert_string_equal(f.cert, cert);
	assert_string_equal(f.key, key);
	/* Nothing generated when the pair is given. */
	char gen[600];
	snprintf(gen, sizeof(gen), "%s/tls/cert.pem", state_dir);
	assert_int_equal(access(gen, F_OK), -1);
	/* A configured file that is not there is an error, not a fallback. */
	assert_int_equal(unlink(key), 0);
	assert_int_equal(ipkvm_tls_files(&cfg, &f), -ENOENT);
	ipkvm_config_free(&cfg);
}

static void test_policy(void **state)
{
	struct ipkvm_config cfg;
	struct ipkvm_tls_policy p;
	char err[256];
	ipkvm_config_init(&cfg);
	assert_int_equal(
	    ipkvm_config_set(&cfg, "server", "tls_ciphers", "aes-gcm", err, sizeof(err)), 0);
	ipkvm_tls_policy(&cfg, &p);
	assert_false(p.chacha);
	assert_string_equal(p.why, "[server] tls_ciphers");
	assert_int_equal(strncmp(p.ciphers12, "ECDHE+AES128+AESGCM:", 20), 0);
	assert_int_equal(strncmp(p.ciphers13, "TLS_AES_128_GCM_SHA256:", 23), 0);
	assert_int_equal(
	    ipkvm_config_set(&cfg, "server", "tls_ciphers", "chacha20", err, sizeof(err)), 0);
	ipkvm_tls_policy(&cfg, &p);
	assert_true(p.chacha);
	assert_int_equal(strncmp(p.ciphers12, "ECDHE+CHACHA20:", 15), 0);
	assert_int_equal(strncmp(p.ciphers13, "TLS_CHACHA20_POLY1305_SHA256:", 29), 0);
	assert_int_equal(ipkvm_config_set(&cfg, "server", "tls_ciphers", "auto", err, sizeof(err)),
			 0);
	ipkvm_tls_policy(&cfg, &p);
	assert_int_equal(p.chacha, !ipkvm_cpu_has_aes());
	ipkvm_config_free(&cfg);
}

/* Every suite the context would agree to: TLS 1.3 ones, or TLS 1.2 ECDHE ones, all AEAD and
 * all authenticated by the certificate. */
static void assert_suites(SSL_CTX *ctx)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	assert_non_null(sk);
	int n = sk_SSL_CIPHER_num(sk);
	assert_true(n >= 6);
	for (int i = 0; i < n; i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
		int kx = SSL_CIPHER_get_kx_nid(c), auth = SSL_CIPHER_get_auth_nid(c);
		assert_true(SSL_CIPHER_is_aead(c));
		assert_true(kx == NID_kx_ecdhe || kx == NID_kx_any);
		assert_int_not_equal(auth, NID_auth_null);
	}
}

static void test_server_ctx(void **state)
{
	struct ipkvm_config cfg;
	struct ipkvm_tls_files f;
	struct ipkvm_tls_policy p;
	char state_dir[512];
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	config_in(&cfg, state_dir);
	assert_int_equal(ipkvm_tls_files(&cfg, &f), 0);
	ipkvm_tls_policy(&cfg, &p);
	SSL_CTX *ctx = ipkvm_tls_server_ctx(&f, &p);
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE);
	assert_suites(ctx);

	/* One connection allowed anonymous TLS: the certificate suites first, in the policy's
	 * order, then anonymous ones only; security level 0 on it alone. */
	SSL *plain = SSL_new(ctx), *anon = SSL_new(ctx);
	assert_non_null(plain);
	assert_non_null(anon);
	int level = SSL_get_security_level(plain);
	assert_int_equal(ipkvm_tls_allow_anonymous(anon, &p), 0);
	assert_int_equal(SSL_get_security_level(anon), 0);
	assert_int_equal(SSL_get_security_level(plain), level);
	assert_int_equal(SSL_CTX_get_security_level(ctx), level);
	STACK_OF(SSL_CIPHER) *sp = SSL_get_ciphers(plain), *sa = SSL_get_ciphers(anon);
	int np = sk_SSL_CIPHER_num(sp), na = sk_SSL_CIPHER_num(sa), n_null = 0;
	for (int i = 0; i < np; i++)
		assert_int_not_equal(SSL_CIPHER_get_auth_nid(sk_SSL_CIPHER_value(sp, i)),
				     NID_auth_null);
	assert_true(na > np);
	for (int i = 0; i < na; i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sa, i);
		if (i < np) /* the same certificate suites, in the same order */
			assert_int_equal(SSL_CIPHER_get_id(c),
					 SSL_CIPHER_get_id(sk_SSL_CIPHER_value(sp, i)));
		else
			assert_int_equal(SSL_CIPHER_get_auth_nid(c), NID_auth_null);
		n_null += SSL_CIPHER_get_auth_nid(c) == NID_auth_null;
	}
	assert_int_equal(n_null, na - np);
	assert_false(ipkvm_tls_is_anonymous(anon)); /* no handshake yet */
	SSL_free(plain);
	SSL_free(anon);
	SSL_CTX_free(ctx);

	/* A key that is not the certificate's: no context. */
	char other[512];
	struct ipkvm_tls_files mixed = f;
	snprintf(other, sizeof(other), "%s/other", tmpdir);
	assert_int_equal(ipkvm_cert_ensure(other, "127.0.0.1"), 0);
	snprintf(mixed.key, sizeof(mixed.key), "%s/key.pem", other);
	assert_null(ipkvm_tls_server_ctx(&mixed, &p));
	ipkvm_config_free(&cfg);
}

static void test_reload(void **state)
{
	struct ipkvm_config cfg;
	struct ipkvm_tls_files f;
	struct ipkvm_tls_policy p;
	char state_dir[512], other[512], path[600];
	unsigned char before[32], after[32];
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	config_in(&cfg, state_dir);
	assert_int_equal(ipkvm_tls_files(&cfg, &f), 0);
	ipkvm_tls_policy(&cfg, &p);
	SSL_CTX *ctx = ipkvm_tls_server_ctx(&f, &p);
	assert_non_null(ctx);
	ctx_fingerprint(ctx, before);

	/* A broken key file: refused, the context keeps its certificate. */
	char *good_key = NULL;
	size_t good_len = 0;
	assert_int_equal(ipkvm_read_file(f.key, 1 << 16, &good_key, &good_len), 0);
	assert_int_equal(ipkvm_write_file_atomic(f.key, "not a key\n", 10, 0600), 0);
	assert_true(ipkvm_tls_reload(ctx, &f) < 0);
	ctx_fingerprint(ctx, after);
	assert_memory_equal(before, after, 32);
	assert_int_equal(ipkvm_write_file_atomic(f.key, good_key, good_len, 0600), 0);
	free(good_key);

	/* A new pair in place of the old one: taken. */
	snprintf(other, sizeof(other), "%s/other", tmpdir);
	assert_int_equal(ipkvm_cert_ensure(other, "127.0.0.1"), 0);
	snprintf(path, sizeof(path), "%s/cert.pem", other);
	assert_int_equal(rename(path, f.cert), 0);
	snprintf(path, sizeof(path), "%s/key.pem", other);
	assert_int_equal(rename(path, f.key), 0);
	assert_int_equal(ipkvm_tls_reload(ctx, &f), 0);
	ctx_fingerprint(ctx, after);
	assert_memory_not_equal(before, after, 32);
	assert_suites(ctx);

	/* One connection allowed anonymous TLS: the certificate suites first, in the policy's
	 * order, then anonymous ones only; security level 0 on it alone. */
	SSL *plain = SSL_new(ctx), *anon = SSL_new(ctx);
	assert_non_null(plain);
	assert_non_null(anon);
	int level = SSL_get_security_level(plain);
	assert_int_equal(ipkvm_tls_allow_anonymous(anon, &p), 0);
	assert_int_equal(SSL_get_security_level(anon), 0);
	assert_int_equal(SSL_get_security_level(plain), level);
	assert_int_equal(SSL_CTX_get_security_level(ctx), level);
	STACK_OF(SSL_CIPHER) *sp = SSL_get_ciphers(plain), *sa = SSL_get_ciphers(anon);
	int np = sk_SSL_CIPHER_num(sp), na = sk_SSL_CIPHER_num(sa), n_null = 0;
	for (int i = 0; i < np; i++)
		assert_int_not_equal(SSL_CIPHER_get_auth_nid(sk_SSL_CIPHER_value(sp, i)),
				     NID_auth_null);
	assert_true(na > np);
	for (int i = 0; i < na; i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sa, i);
		if (i < np) /* the same certificate suites, in the same order */
			assert_int_equal(SSL_CIPHER_get_id(c),
					 SSL_CIPHER_get_id(sk_SSL_CIPHER_value(sp, i)));
		else
			assert_int_equal(SSL_CIPHER_get_auth_nid(c), NID_auth_null);
		n_null += SSL_CIPHER_get_auth_nid(c) == NID_auth_null;
	}
	assert_int_equal(n_null, na - np);
	assert_false(ipkvm_tls_is_anonymous(anon)); /* no handshake yet */
	SSL_free(plain);
	SSL_free(anon);
	SSL_CTX_free(ctx);
	ipkvm_config_free(&cfg);
}

int main(void)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_files_generated, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_configured, setup_dir, teardown_dir),
	    cmocka_unit_test(test_policy),
	    cmocka_unit_test_setup_teardown(test_server_ctx, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_reload, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
