/* Unit tests for atx/wol.c: MAC parsing, the magic packet's bytes, and a packet actually
 * sent over UDP to a socket of the test's on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "atx/wol.h"

static void test_parse_mac(void **state)
{
	uint8_t mac[6];
	assert_int_equal(ipkvm_wol_parse_mac("00:1A:2b:3C:4d:5E", mac), 0);
	static const uint8_t want[6] = {0x00, 0x1A, 0x2B, 0x3C, 0x4D, 0x5E};
	assert_memory_equal(mac, want, 6);
	assert_int_equal(ipkvm_wol_parse_mac("00-1a-2b-3c-4d-5e", mac), 0);
	assert_memory_equal(mac, want, 6);
	const char *bad[] = {"",
			     "00:1a:2b:3c:4d",
			     "00:1a:2b:3c:4d:5e:6f",
			     "00:1a-2b:3c:4d:5e",
			     "00:1a:2b:3c:4d:5g",
			     "001a2b3c4d5e",
			     "00.1a.2b.3c.4d.5e"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ipkvm_wol_parse_mac(bad[i], mac), -EINVAL);
	assert_int_equal(ipkvm_wol_parse_mac(NULL, mac), -EINVAL);
}

static void test_packet_and_send(void **state)
{
	static const uint8_t mac[6] = {0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01};
	uint8_t pkt[IPKVM_WOL_PACKET_LEN];
	ipkvm_wol_packet(mac, pkt);
	for (int i = 0; i < 6; i++)
		assert_int_equal(pkt[i], 0xFF);
	for (int i = 0; i < 16; i++)
		assert_memory_equal(pkt + 6 + i * 6, mac, 6);

	int rx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t alen = sizeof(a);
	assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &alen), 0);
	char err[128] = "";
	assert_int_equal(ipkvm_wol_send(mac, "127.0.0.1", ntohs(a.sin_port), err, sizeof(err)), 0);
	uint8_t got[200];
	assert_int_equal(recv(rx, got, sizeof(got), 0), IPKVM_WOL_PACKET_LEN);
	assert_memory_equal(got, pkt, IPKVM_WOL_PACKET_LEN);
	close(rx);
	assert_int_equal(ipkvm_wol_send(mac, "not-an-ip", 9, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an IPv4 address"));
	assert_int_equal(ipkvm_wol_send(mac, "127.0.0.1", 0, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_mac),
	    cmocka_unit_test(test_packet_and_send),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
