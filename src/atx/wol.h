/*
 * atx/wol: Wake-on-LAN, the other way to switch a machine on: a UDP "magic packet" (six
 * 0xFF bytes, then the target's MAC address sixteen times) that the target's network card
 * answers by powering the board on, when its firmware allows it.
 */
#ifndef IPKVM_ATX_WOL_H
#define IPKVM_ATX_WOL_H

#include <stddef.h>
#include <stdint.h>

#define IPKVM_WOL_PACKET_LEN 102

/* "aa:bb:cc:dd:ee:ff" or with '-' separators, case-insensitive. 0 or -EINVAL. */
int ipkvm_wol_parse_mac(const char *s, uint8_t mac[6]);
/* The magic packet for mac. */
void ipkvm_wol_packet(const uint8_t mac[6], uint8_t out[IPKVM_WOL_PACKET_LEN]);
/* Sends it to addr (an IPv4 address, normally a broadcast one) and port over UDP. 0 or
 * -errno (-EINVAL for a bad address) with err set. */
int ipkvm_wol_send(const uint8_t mac[6], const char *addr, int port, char *err, size_t errlen);

#endif
