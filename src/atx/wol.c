/*
 * atx/wol: Wake-on-LAN magic packets (see wol.h).
 *
 * SO_BROADCAST is set whatever the address: sending to a subnet's broadcast address needs it,
 * and it is harmless for a unicast one (some routers forward directed packets only).
 */
#define LOG_TAG "wol"
#include "atx/wol.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

int ipkvm_wol_parse_mac(const char *s, uint8_t mac[6])
{
	if (!s || strlen(s) != 17)
		return -EINVAL;
	char sep = s[2];
	if (sep != ':' && sep != '-')
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = s + i * 3;
		int hi = ipkvm_hex_digit(p[0]), lo = ipkvm_hex_digit(p[1]);
		if (hi < 0 || lo < 0 || (i < 5 && p[2] != sep))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void ipkvm_wol_packet(const uint8_t mac[6], uint8_t out[IPKVM_WOL_PACKET_LEN])
{
	memset(out, 0xFF, 6);
	for (int i = 0; i < 16; i++)
		memcpy(out + 6 + i * 6, mac, 6);
}

int ipkvm_wol_send(const uint8_t mac[6], const char *addr, int port, char *err, size_t errlen)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (port < 1 || port > 65535 || inet_pton(AF_INET, addr, &to.sin_addr) != 1) {
		snprintf(err, errlen, "'%s' port %d is not an IPv4 address and port", addr, port);
		return -EINVAL;
	}
	uint8_t pkt[IPKVM_WOL_PACKET_LEN];
	ipkvm_wol_packet(mac, pkt);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	int one = 1, r = 0;
	setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) != sizeof(pkt)) {
		r = -errno;
		snprintf(err, errlen, "sending to %s:%d: %s", addr, port, strerror(errno));
	}
	close(fd);
	return r;
}
