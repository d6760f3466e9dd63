/* Unit tests for web/conn.c's client key (and so core/util.c's ipkvm_client_key, which the
 * login throttle shares): an IPv4 address as is, also when it comes IPv4-mapped over the
 * dual-stack socket; an IPv6 address by its /64. The table's behaviour on the wire is
 * tested by tests/integration/test_hardening.py. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/util.h"
#include "web/conn.h"

static const char *key_of(const char *addr)
{
	static char out[IPKVM_CLIENT_KEY_MAX];
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
	}
	ipkvm_conn_client_key((struct sockaddr *)&ss, out, sizeof(out));
	return out;
}

static void test_ipv4_and_mapped_are_one_client(void **state)
{
	assert_string_equal(key_of("192.0.2.7"), "192.0.2.7");
	assert_string_equal(key_of("::ffff:192.0.2.7"), "192.0.2.7");
	assert_string_equal(key_of("192.0.2.8"), "192.0.2.8");
}

static void test_ipv6_counts_by_its_64(void **state)
{
	assert_string_equal(key_of("2001:db8:1:2::1"), "2001:db8:1:2::/64");
	assert_string_equal(key_of("2001:db8:1:2:ffff:eeee:dddd:cccc"), "2001:db8:1:2::/64");
	assert_string_equal(key_of("2001:db8:1:3::1"), "2001:db8:1:3::/64");
	assert_string_equal(key_of("::1"), "::/64");
}

static void test_text_keys(void **state)
{
	char out[IPKVM_CLIENT_KEY_MAX];
	ipkvm_client_key("fe80::1:2:3:4", out, sizeof(out));
	assert_string_equal(out, "fe80::/64");
	ipkvm_client_key("not an address", out, sizeof(out));
	assert_string_equal(out, "not an address");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4_and_mapped_are_one_client),
	    cmocka_unit_test(test_ipv6_counts_by_its_64),
	    cmocka_unit_test(test_text_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
