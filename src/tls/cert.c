/*
 * cert: see cert.h. Built on OpenSSL 3's EVP API. The certificate is a leaf that signs
 * itself (CA:FALSE, serverAuth): browsers show one warning, and an operator who wants no
 * warning can pin it or replace it with [server] tls_cert / tls_key.
 */
#define LOG_TAG "cert"
#include "tls/cert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

static void san_append(char *san, size_t len, const char *kind, const char *value)
{
	char item[300];
	snprintf(item, sizeof(item), "%s:%s", kind, value);
	/* No duplicates: compare whole items, so "DNS:local" is not taken for a prefix of
	 * "DNS:localhost". */
	size_t il = strlen(item);
	for (const char *p = san; *p;) {
		size_t seg = strcspn(p, ",");
		if (seg == il && strncmp(p, item, il) == 0)
			return;
		p += seg + (p[seg] == ',');
	}
	size_t n = strlen(san);
	snprintf(san + n, len - n, "%s%s", n ? "," : "", item);
}

static void build_san(char *san, size_t len, const char *listen)
{
	char host[256];
	san[0] = '\0';
	san_append(san, len, "DNS", "localhost");
	if (gethostname(host, sizeof(host)) == 0 && host[0]) {
		host[sizeof(host) - 1] = '\0';
		san_append(san, len, "DNS", host);
	}
	san_append(san, len, "IP", "127.0.0.1");
	san_append(san, len, "IP", "::1");
	/* A specific address is the only one clients can use; a wildcard means every address
	 * of the machine. */
	if (listen && listen[0] && strcmp(listen, "0.0.0.0") != 0 && strcmp(listen, "::") != 0) {
		san_append(san, len, "IP", listen);
		return;
	}
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) < 0)
		return;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		char addr[INET6_ADDRSTRLEN];
		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr,
				  sizeof(addr));
		else if (i->ifa_addr->sa_family == AF_INET6 &&
			 !IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, addr,
				  sizeof(addr));
		else
			continue;
		san_append(san, len, "IP", addr);
	}
	freeifaddrs(ifa);
}

static int write_pem(const char *path, int (*fn)(BIO *, void *), void *obj)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio)
		return -ENOMEM;
	int r = -EIO;
	char *data;
	if (fn(bio, obj)) {
		long len = BIO_get_mem_data(bio, &data);
		r = ipkvm_write_file_atomic(path, data, (size_t)len, 0600);
	}
	BIO_free(bio);
	return r;
}

static int pem_key(BIO *b, void *k)
{
	return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

static int pem_cert(BIO *b, void *x)
{
	return PEM_write_bio_X509(b, x);
}

int ipkvm_cert_ensure(const char *dir, const char *listen)
{
	char cert_path[4096], key_path[4096], san[4096], host[256] = "ipkvm";
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	if (access(cert_path, F_OK) == 0 && access(key_path, F_OK) == 0)
		return 0;
	int r = ipkvm_mkdir_p(dir, 0700);
	if (r < 0) {
		LOG_ERROR("cannot create %s: %s", dir, strerror(-r));
		return r;
	}

	r = -EIO;
	X509 *x = NULL;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	if (!key)
		goto out;
	x = X509_new();
	if (!x)
		goto out;
	uint8_t serial[16];
	if (ipkvm_random_bytes(serial, sizeof(serial)) < 0)
		goto out;
	serial[0] &= 0x7f; /* a positive INTEGER */
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
		BN_free(bn);
		goto out;
	}
	BN_free(bn);
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	char cn[300];
	snprintf(cn, sizeof(cn), "ipkvm %.200s", host);
	X509_NAME *name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const uint8_t *)"ipkvm", -1, -1,
					0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const uint8_t *)cn, -1, -1,
					0) ||
	    !X509_set_issuer_name(x, name) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600) ||
	    !X509_set_pubkey(x, key))
		goto out;
	build_san(san, sizeof(san), listen);
	if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, NID_subject_alt_name, san) < 0)
		goto out;
	if (!X509_sign(x, key, EVP_sha256()))
		goto out;
	/* Key first: a crash between the two writes leaves no certificate, so the next start
	 * makes a fresh pair instead of pairing a new key with an old certificate. */
	unlink(cert_path);
	if ((r = write_pem(key_path, pem_key, key)) < 0 ||
	    (r = write_pem(cert_path, pem_cert, x)) < 0)
		goto out;
	LOG_INFO("made a self-signed certificate in %s (%s)", dir, san);
	r = 0;
out:
	if (r == -EIO)
		LOG_ERROR("cannot make a TLS certificate in %s", dir);
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}
