/*
 * Unit tests for tls/cert: ipkvm_cert_ensure makes a matching pair in a new directory (key
 * mode 0600, EC prime256v1, self-signed v3 leaf, CA:FALSE critical, digitalSignature,
 * serverAuth, SANs for localhost, the hostname, 127.0.0.1, ::1 and the listen address,
 * valid for ~10 years), leaves an existing pair byte for byte alone, and makes a fresh
 * matching pair when either file is missing. The files are parsed back with OpenSSL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "tls/cert.h"

static char tmpdir[256], tlsdir[512], certpath[600], keypath[600];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ipkvm-test-cert-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* A directory that does not exist yet: ensure creates it. */
	snprintf(tlsdir, sizeof(tlsdir), "%s/state/tls", tmpdir);
	snprintf(certpath, sizeof(certpath), "%s/cert.pem", tlsdir);
	snprintf(keypath, sizeof(keypath), "%s/key.pem", tlsdir);
	return 0;
}

static int teardown_dir(void **state)
{
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *slurp(const char *path, size_t *len)
{
	char *buf = NULL;
	assert_int_equal(ipkvm_read_file(path, 1 << 20, &buf, len), 0);
	return buf;
}

static X509 *load_cert(void)
{
	FILE *f = fopen(certpath, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *load_key(void)
{
	FILE *f = fopen(keypath, "r");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

/* The SANs as "DNS:name" / "IP:addr" strings (inet_ntop form), up to max. */
static int load_sans(X509 *x, char out[][80], int max)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	int n = 0;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		assert_true(n < max);
		if (g->type == GEN_DNS) {
			snprintf(out[n++], 80, "DNS:%s",
				 (const char *)ASN1_STRING_get0_data(g->d.dNSName));
		} else if (g->type == GEN_IPADD) {
			char a[INET6_ADDRSTRLEN] = "";
			int len = ASN1_STRING_length(g->d.iPAddress);
			const uint8_t *p = ASN1_STRING_get0_data(g->d.iPAddress);
			assert_true(len == 4 || len == 16);
			inet_ntop(len == 4 ? AF_INET : AF_INET6, p, a, sizeof(a));
			snprintf(out[n++], 80, "IP:%s", a);
		} else {
			fail_msg("unexpected SAN type %d", g->type);
		}
	}
	GENERAL_NAMES_free(gens);
	return n;
}

static bool has_san(char sans[][80], int n, const char *want)
{
	for (int i = 0; i < n; i++)
		if (strcmp(sans[i], want) == 0)
			return true;
	return false;
}

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void test_new_pair(void **state)
{
	mode_t old = umask(0); /* the key must be 0600 even so */
	int r = ipkvm_cert_ensure(tlsdir, "127.0.0.2");
	umask(old);
	assert_int_equal(r, 0);
	struct stat st;
	assert_int_equal(stat(keypath, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(certpath, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(stat(tlsdir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(dir_entries(tlsdir), 2); /* no temp files */

	/* The key: EC on prime256v1. */
	EVP_PKEY *key = load_key();
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
	char group[64] = "";
	assert_int_equal(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
							sizeof(group), NULL),
			 1);
	assert_string_equal(group, "prime256v1");
	assert_int_equal(EVP_PKEY_get_bits(key), 256);

	/* The certificate: v3, self-signed by that key. */
	X509 *x = load_cert();
	assert_int_equal(X509_get_version(x), 2);
	assert_int_equal(X509_verify(x, key), 1);
	assert_int_equal(X509_check_private_key(x, key), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
	assert_int_equal(X509_self_signed(x, 1), 1); /* self-issued and its signature verifies */
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);

	/* Serial: positive and not zero. */
	BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_non_null(serial);
	assert_false(BN_is_negative(serial));
	assert_false(BN_is_zero(serial));
	BN_free(serial);

	/* Extensions: CA:FALSE (critical), digitalSignature, serverAuth. */
	int crit = -1;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(bc->ca, 0);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_true(X509_get_extension_flags(x) & EXFLAG_KUSAGE);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_true(X509_get_extension_flags(x) & EXFLAG_XKUSAGE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	assert_false(X509_get_extension_flags(x) & EXFLAG_CA);

	/* SANs. */
	char sans[64][80];
	int n = load_sans(x, sans, 64);
	assert_true(has_san(sans, n, "DNS:localhost"));
	assert_true(has_san(sans, n, "IP:127.0.0.1"));
	assert_true(has_san(sans, n, "IP:::1"));
	assert_true(has_san(sans, n, "IP:127.0.0.2"));
	char host[256] = "", want[300];
	if (gethostname(host, sizeof(host)) == 0 && host[0]) {
		snprintf(want, sizeof(want), "DNS:%s", host);
		assert_true(has_san(sans, n, want));
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			assert_string_not_equal(sans[i], sans[j]);
	/* A specific listen address: no interface enumeration, so exactly these. */
	assert_int_equal(n, host[0] ? 5 : 4);
	/* The certificate checks out for those names with OpenSSL's own matching. */
	assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.2", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.3", 0), 0);

	/* Validity: from (a little before) now to ~10 years ahead. */
	int days = 0, secs = 0;
	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)), 1);
	assert_true(days >= 3649 && days <= 3651);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), NULL), 1);
	assert_true(days == 0 && secs >= 0 && secs < 2 * 3600);

	X509_free(x);
	EVP_PKEY_free(key);
}

static void test_ipv6_listen(void **state)
{
	assert_int_equal(ipkvm_cert_ensure(tlsdir, "fd00::1:2"), 0);
	X509 *x = load_cert();
	char sans[64][80];
	int n = load_sans(x, sans, 64);
	assert_true(has_san(sans, n, "IP:fd00::1:2"));
	assert_true(has_san(sans, n, "IP:127.0.0.1"));
	X509_free(x);
}

static void test_existing_left_alone(void **state)
{
	assert_int_equal(ipkvm_cert_ensure(tlsdir, "127.0.0.2"), 0);
	size_t cl, kl;
	char *c1 = slurp(certpath, &cl), *k1 = slurp(keypath, &kl);
	struct stat st1, st2;
	assert_int_equal(stat(certpath, &st1), 0);
	/* Even with another listen address: existing files win. */
	assert_int_equal(ipkvm_cert_ensure(tlsdir, "10.1.2.3"), 0);
	size_t cl2, kl2;
	char *c2 = slurp(certpath, &cl2), *k2 = slurp(keypath, &kl2);
	assert_int_equal(cl, cl2);
	assert_int_equal(kl, kl2);
	assert_memory_equal(c1, c2, cl);
	assert_memory_equal(k1, k2, kl);
	assert_int_equal(stat(certpath, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino); /* not rewritten */
	free(c1);
	free(c2);
	free(k1);
	free(k2);
}

/* Removes one of the files, calls ensure, and checks a fresh matching pair was made. */
static void check_remade(const char *removed)
{
	assert_int_equal(ipkvm_cert_ensure(tlsdir, "127.0.0.2"), 0);
	size_t cl, kl;
	char *c1 = slurp(certpath, &cl), *k1 = slurp(keypath, &kl);
	assert_int_equal(unlink(removed), 0);
	assert_int_equal(ipkvm_cert_ensure(tlsdir, "127.0.0.2"), 0);
	size_t cl2, kl2;
	char *c2 = slurp(certpath, &cl2), *k2 = slurp(keypath, &kl2);
	/* Both are new. */
	assert_false(cl == cl2 && memcmp(c1, c2, cl) == 0);
	assert_false(kl == kl2 && memcmp(k1, k2, kl) == 0);
	struct stat st;
	assert_int_equal(stat(keypath, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	X509 *x = load_cert();
	EVP_PKEY *key = load_key();
	assert_int_equal(X509_check_private_key(x, key), 1);
	assert_int_equal(X509_verify(x, key), 1);
	X509_free(x);
	EVP_PKEY_free(key);
	/* The old key does not match the new certificate. */
	BIO *b = BIO_new_mem_buf(k1, (int)kl);
	EVP_PKEY *oldkey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(oldkey);
	x = load_cert();
	ERR_set_mark();
	assert_int_equal(X509_check_private_key(x, oldkey), 0);
	ERR_pop_to_mark();
	X509_free(x);
	EVP_PKEY_free(oldkey);
	free(c1);
	free(c2);
	free(k1);
	free(k2);
	assert_int_equal(dir_entries(tlsdir), 2);
}

static void test_only_key_present(void **state)
{
	check_remade(certpath);
}

static void test_only_cert_present(void **state)
{
	check_remade(keypath);
}

/* Every non-loopback IPv4 address of the machine's interfaces is in sans. (IPv6 is left
 * out here: which of those are listed depends on their scope.) */
static void assert_interfaces_listed(char sans[][80], int n)
{
	struct ifaddrs *ifa = NULL;
	assert_int_equal(getifaddrs(&ifa), 0);
	char want[8][80];
	int nwant = 0;
	for (struct ifaddrs *i = ifa; i && nwant < 8; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK) ||
		    i->ifa_addr->sa_family != AF_INET)
			continue;
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof(a));
		snprintf(want[nwant++], sizeof(want[0]), "IP:%s", a);
	}
	freeifaddrs(ifa);
	for (int i = 0; i < nwant; i++)
		assert_true(has_san(sans, n, want[i]));
}

static void test_every_address(void **state)
{
	/* listen "" (every address): the interfaces' addresses, no loopback beyond the fixed
	 * two, no link-local IPv6. */
	assert_int_equal(ipkvm_cert_ensure(tlsdir, ""), 0);
	X509 *x = load_cert();
	char sans[64][80];
	int n = load_sans(x, sans, 64);
	X509_free(x);
	assert_true(has_san(sans, n, "DNS:localhost"));
	assert_true(has_san(sans, n, "IP:127.0.0.1"));
	assert_true(has_san(sans, n, "IP:::1"));
	assert_interfaces_listed(sans, n);
	for (int i = 0; i < n; i++) {
		assert_true(strncmp(sans[i], "IP:fe80:", 8) != 0);
		assert_string_not_equal(sans[i], "IP:0.0.0.0");
	}
}

/* BUG (reported): cert.h says the listen address goes in only "when it is a specific
 * address" and the interfaces' addresses are used "when listening on every address", but
 * the code treats every non-empty listen as specific: `--listen 0.0.0.0` or `--listen ::`
 * (both accepted by the config as addresses) yields a certificate with IP:0.0.0.0 / IP::: and
 * none of the machine's real addresses. */
static void test_wildcard_listen(void **state)
{
	static const char *const wild[] = {"0.0.0.0", "::"};
	for (size_t w = 0; w < IPKVM_ARRAY_SIZE(wild); w++) {
		unlink(certpath);
		assert_int_equal(ipkvm_cert_ensure(tlsdir, wild[w]), 0);
		X509 *x = load_cert();
		char sans[64][80];
		int n = load_sans(x, sans, 64);
		X509_free(x);
		assert_false(has_san(sans, n, "IP:0.0.0.0"));
		assert_false(has_san(sans, n, "IP:::"));
		assert_interfaces_listed(sans, n);
	}
}

/* BUG (reported): san_append drops an entry when it is a substring of the list so far
 * (strstr "crude but enough"), so a name that is a prefix of an earlier one is lost: host
 * name "local" (prefix of DNS:localhost), or interface 192.168.1.1 after 192.168.1.10.
 * Shown with the host name, set in a private UTS namespace of a child process (skipped where
 * that is not permitted). */
static void test_san_prefix_not_dropped(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWUTS) < 0 || sethostname("local", 5) < 0)
			_exit(77);
		_exit(ipkvm_cert_ensure(tlsdir, "127.0.0.2") == 0 ? 0 : 1);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
	X509 *x = load_cert();
	char sans[64][80];
	int n = load_sans(x, sans, 64);
	X509_free(x);
	assert_true(has_san(sans, n, "DNS:localhost"));
	assert_true(has_san(sans, n, "DNS:local"));
}

static void test_errors(void **state)
{
	/* The directory cannot be made: a regular file is in the way. */
	char file[600], dir[700];
	snprintf(file, sizeof(file), "%s/plain", tmpdir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(dir, sizeof(dir), "%s/tls", file);
	assert_int_equal(ipkvm_cert_ensure(dir, "127.0.0.1"), -ENOTDIR);
	/* Not an IP address: the SAN cannot be built and nothing is written. */
	assert_true(ipkvm_cert_ensure(tlsdir, "not-an-address") < 0);
	assert_int_equal(access(certpath, F_OK), -1);
}

int main(void)
{
	ipkvm_log_set_level(IPKVM_LOG_WARN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_pair, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_ipv6_listen, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_existing_left_alone, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_only_key_present, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_only_cert_present, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_every_address, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_wildcard_listen, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_san_prefix_not_dropped, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_errors, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
