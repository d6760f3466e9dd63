/*
 * ch9329: the CH9329 serial bridge's answers (src/hid/out_ch9329.c: reassembly of frames
 * from whatever read() returns, resynchronisation on garbage and bad checksums, ACK and
 * error matching against the command in flight, timeouts and resends, going offline),
 * driven through the output's public interface with a socketpair as the serial port and a
 * clock the input moves.
 *
 * The input is a script of operations, each starting with one byte (its low 3 bits pick
 * the operation):
 *   0  send a report: kind, length (0..32), bytes                     (ipkvm_hid_output_send)
 *   1  the chip says n (0..63) raw bytes                               (-> on_readable)
 *   2  the chip answers the command in flight with a well-formed frame: ACK or error,
 *      with a status byte, split at a position the input picks; so the fuzzer reaches
 *      the states after an answer without having to learn checksums
 *   3  time passes (0..1020 ms), then tick
 *   4  the port is writable                                             (on_writable)
 *   5  the port goes away (the chip's end closes), then time for a reopen
 * After each operation the bytes the output wrote are checked: complete frames
 * 57 AB addr cmd len data sum with a correct checksum, a known command and that command's
 * data length; and the count of pending reports stays within the queue's bound.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "hid/output.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int peer = -1;	   /* the chip's end of the serial line */
static int64_t clock_ms;   /* the output's clock */
static uint8_t wire[4096]; /* bytes the output wrote, not yet checked */
static size_t wire_len;
static uint8_t last_cmd; /* command of the last complete frame written */
static uint8_t addr;

static void fail(const char *what)
{
	fprintf(stderr, "ch9329 harness: %s\n", what);
	abort();
}

static int open_port(void *ctx, const char *path)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (peer >= 0)
		close(peer);
	peer = sv[1];
	wire_len = 0; /* a new line: nothing of the old one is checked against it */
	return sv[0];
}

static int64_t now_ms(void *ctx)
{
	return clock_ms;
}

/* Reads what the output wrote and checks every complete frame in it. */
static void check_wire(void)
{
	ssize_t n;
	while (peer >= 0 && wire_len < sizeof(wire) &&
	       (n = read(peer, wire + wire_len, sizeof(wire) - wire_len)) > 0)
		wire_len += (size_t)n;
	size_t off = 0;
	while (wire_len - off >= 5) {
		const uint8_t *f = wire + off;
		if (f[0] != 0x57 || f[1] != 0xAB || f[2] != addr)
			fail("frame without the 57 AB addr header");
		size_t len = f[4];
		if (wire_len - off < 6 + len)
			break;
		uint8_t sum = 0;
		for (size_t i = 0; i < 5 + len; i++)
			sum = (uint8_t)(sum + f[i]);
		if (sum != f[5 + len])
			fail("frame with a wrong checksum");
		bool ok = (f[3] == 0x02 && len == 8) || (f[3] == 0x03 && (len == 2 || len == 4)) ||
			  (f[3] == 0x04 && len == 7) || (f[3] == 0x05 && len == 5);
		if (!ok)
			fail("unknown command or wrong data length");
		last_cmd = f[3];
		off += 6 + len;
	}
	if (off == 0 && wire_len == sizeof(wire))
		fail("output wrote garbage");
	memmove(wire, wire + off, wire_len - off);
	wire_len -= off;
}

static void chip_says(struct ipkvm_hid_output *out, const uint8_t *bytes, size_t n)
{
	if (peer >= 0 && n && write(peer, bytes, n) < 0)
		return;
	struct pollfd pfd;
	if (ipkvm_hid_output_pollfds(out, &pfd, 1) == 1)
		ipkvm_hid_output_on_readable(out, pfd.fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	/* As in the daemon: a write to a line whose far end is gone is an error, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	if (size < 1)
		return 0;
	addr = *p++;
	clock_ms = 1000000;
	wire_len = 0;
	last_cmd = 0;
	struct ipkvm_hid_ch9329_config cfg = {.path = "fuzz-serial",
					      .baud = 9600,
					      .addr = addr,
					      .ack_timeout_ms = 100,
					      .open_fn = open_port};
	struct ipkvm_hid_output_cb cb = {.now_ms = now_ms};
	struct ipkvm_hid_output *out;
	if (ipkvm_hid_ch9329_create(&cfg, &cb, &out) < 0)
		fail("create");
	ipkvm_hid_output_start(out);

	while (p < end) {
		uint8_t op = *p++;
		switch (op & 7) {
		case 0: { /* send a report */
			if (end - p < 2)
				break;
			enum ipkvm_hid_kind kind =
			    (enum ipkvm_hid_kind)(p[0] % IPKVM_HID_KIND_COUNT);
			size_t len = p[1] % (IPKVM_HID_REPORT_MAX + 1);
			p += 2;
			uint8_t report[IPKVM_HID_REPORT_MAX] = {0};
			size_t have = (size_t)(end - p) < len ? (size_t)(end - p) : len;
			memcpy(report, p, have);
			p += have;
			ipkvm_hid_output_send(out, kind, report, len);
			break;
		}
		case 1: { /* raw bytes from the chip */
			size_t n = op >> 3;
			n = (size_t)(end - p) < n ? (size_t)(end - p) : n;
			chip_says(out, p, n);
			p += n;
			break;
		}
		case 2: { /* a well-formed answer to the last command, maybe in two pieces */
			if (end - p < 2)
				break;
			uint8_t status = p[0], cut = p[1];
			p += 2;
			uint8_t cmd = (uint8_t)(last_cmd | (op & 0x08 ? 0xC0 : 0x80)), frame[8];
			size_t n =
			    ipkvm_hid_ch9329_frame(addr, cmd, &status, op & 0x10 ? 0 : 1, frame);
			size_t first = cut % (n + 1);
			chip_says(out, frame, first);
			chip_says(out, frame + first, n - first);
			break;
		}
		case 3: /* time passes */
			clock_ms += (op >> 3) * 33;
			ipkvm_hid_output_tick(out);
			break;
		case 4: {
			struct pollfd pfd;
			if (ipkvm_hid_output_pollfds(out, &pfd, 1) == 1)
				ipkvm_hid_output_on_writable(out, pfd.fd);
			break;
		}
		case 5: /* the port goes away */
			if (peer >= 0) {
				close(peer);
				peer = -1;
			}
			chip_says(out, NULL, 0);
			wire_len = 0;
			clock_ms += IPKVM_HID_RETRY_MAX_MS;
			ipkvm_hid_output_tick(out);
			break;
		default:
			break;
		}
		check_wire();
		if (ipkvm_hid_output_pending(out) > IPKVM_HID_QUEUE_LEN + 1)
			fail("more pending than the queue holds");
	}
	ipkvm_hid_output_destroy(out);
	if (peer >= 0)
		close(peer);
	peer = -1;
	return 0;
}
