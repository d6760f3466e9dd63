/*
 * hid/out_ch9329: HID output through a WCH CH9329 UART-to-USB-HID bridge, for boards without
 * a USB device controller.
 *
 * Protocol (CH9329 serial protocol): frames `57 AB addr cmd len data[len] sum`, sum = low byte
 * of the sum of every previous byte. Commands used: 0x02 keyboard (8-byte boot report),
 * 0x03 media keys (ACPI: 01 + bits; multimedia: 02 + 3-byte bitmap), 0x04 absolute mouse
 * (02, buttons, x lo/hi, y lo/hi in 0..4095, wheel), 0x05 relative mouse (01, buttons, dx, dy,
 * wheel). The chip answers each command with cmd | 0x80 and a status byte (0x00 = success) or
 * cmd | 0xC0 on error.
 *
 * Shape: reports are queued exactly as for the gadget (output.c: key FIFO, coalesced mouse
 * motion) and translated into a frame only when they become the one command in flight — so
 * motion keeps coalescing while the chip is busy and the serial line never carries stale
 * positions. Exactly one command is in flight: the next frame is written only after the ACK
 * or error answer, or after ack_timeout_ms twice (one resend, then a counted timeout); a
 * silent chip (three commands lost in a row) takes the output offline. All I/O
 * is non-blocking and driven by the main loop; the serial line is a byte stream, so partial
 * writes are resumed on POLLOUT and answers are reassembled from whatever read() returns.
 */
#define LOG_TAG "ch9329"
#include "core/log.h"
#include "core/util.h"
#include "hid/output.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#define CH_HEAD0	 0x57
#define CH_HEAD1	 0xAB
#define CH_CMD_KEYBOARD	 0x02
#define CH_CMD_MEDIA	 0x03
#define CH_CMD_MOUSE_ABS 0x04
#define CH_CMD_MOUSE_REL 0x05
#define CH_ACK		 0x80
#define CH_ERR		 0xC0
#define CH_DATA_MAX	 64 /* longest frame the chip sends or takes */
#define CH_FRAME_MAX	 (6 + CH_DATA_MAX)
#define CH_PATH_MAX	 256
/* Commands in a row that got no answer even after their resend before the output is declared
 * offline: the chip is powered by the target's USB port, so silence means target off or
 * unplugged (or a wrong baud rate) - the serial-side equivalent of the gadget's ESHUTDOWN. */
#define CH_SILENT_OFFLINE 3

struct ch9329 {
	struct ipkvm_hid_output base; /* first: the interface pointer is the object */
	char path[CH_PATH_MAX];
	unsigned baud;
	uint8_t addr;
	unsigned ack_timeout_ms;
	ipkvm_hid_open_fn open_fn;
	void *open_ctx;
	int fd;
	struct ipkvm_hid_queue q;
	/* The command in flight. */
	bool busy;
	enum ipkvm_hid_kind busy_kind;
	uint8_t tx[CH_FRAME_MAX];
	size_t tx_len;
	size_t tx_off;	  /* bytes of tx written so far */
	int64_t deadline; /* ACK due by (valid once tx_off == tx_len) */
	bool resent;
	unsigned silent; /* consecutive commands lost to timeouts */
	/* Answer reassembly. */
	uint8_t rx[2 * CH_FRAME_MAX];
	size_t rx_len;
};

static struct ch9329 *to_ch(struct ipkvm_hid_output *out)
{
	return (struct ch9329 *)out;
}

uint16_t ipkvm_hid_ch9329_scale(uint16_t v)
{
	if (v > 32767)
		v = 32767;
	return (uint16_t)(((uint32_t)v * 4095 + 16383) / 32767);
}

size_t ipkvm_hid_ch9329_frame(uint8_t addr, uint8_t cmd, const uint8_t *data, uint8_t len,
			      uint8_t *out)
{
	uint8_t sum = 0;
	size_t n = 0;

	out[n++] = CH_HEAD0;
	out[n++] = CH_HEAD1;
	out[n++] = addr;
	out[n++] = cmd;
	out[n++] = len;
	if (len)
		memcpy(out + n, data, len);
	n += len;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + out[i]);
	out[n++] = sum;
	return n;
}

/* Consumer page usages the chip's multimedia bitmap can express: (byte, bit) of the 3 bytes
 * after the 0x02 report ID, per the CH9329 protocol's multimedia key table. */
static const struct {
	uint16_t usage;
	uint8_t byte;
	uint8_t bit;
} media_map[] = {
    {0x00E9, 0, 0}, /* Volume Increment */
    {0x00EA, 0, 1}, /* Volume Decrement */
    {0x00E2, 0, 2}, /* Mute */
    {0x00CD, 0, 3}, /* Play/Pause */
    {0x00B5, 0, 4}, /* Scan Next Track */
    {0x00B6, 0, 5}, /* Scan Previous Track */
    {0x00B7, 0, 6}, /* Stop (CD stop) */
    {0x00B8, 0, 7}, /* Eject */
    {0x018A, 1, 0}, /* AL Email Reader */
    {0x0221, 1, 1}, /* AC Search */
    {0x022A, 1, 2}, /* AC Bookmarks (favorites) */
    {0x0223, 1, 3}, /* AC Home */
    {0x0224, 1, 4}, /* AC Back */
    {0x0225, 1, 5}, /* AC Forward */
    {0x0226, 1, 6}, /* AC Stop */
    {0x0227, 1, 7}, /* AC Refresh */
    {0x0183, 2, 0}, /* AL Consumer Control Configuration (media player) */
    {0x0196, 2, 1}, /* AL Internet Browser (explorer) */
    {0x0192, 2, 2}, /* AL Calculator */
    {0x019E, 2, 3}, /* AL Terminal Lock/Screensaver */
    {0x0194, 2, 4}, /* AL Local Machine Browser (my computer) */
    {0x0206, 2, 5}, /* AC Minimize */
    {0x00B2, 2, 6}, /* Record */
    {0x00B4, 2, 7}, /* Rewind */
};

/* An NKRO report (mods + bitmap) as the boot report the chip takes: first six keys by usage,
 * phantom state (0x01 x6) past six. */
static void nkro_to_boot(const uint8_t *r, size_t len, uint8_t boot[8])
{
	int n = 0;

	memset(boot, 0, 8);
	boot[0] = r[0];
	for (unsigned u = 4; u < 0xE0 && 1 + u / 8 < len; u++) {
		if (!(r[1 + u / 8] & (1u << (u % 8))))
			continue;
		if (n == 6) {
			memset(boot + 2, 0x01, 6);
			return;
		}
		boot[2 + n++] = (uint8_t)u;
	}
}

/* Translates one report into the chip's command + data. Returns data length or -errno. */
static int translate(enum ipkvm_hid_kind kind, const uint8_t *r, size_t len, uint8_t *cmd,
		     uint8_t *data)
{
	switch (kind) {
	case IPKVM_HID_KEYBOARD:
		*cmd = CH_CMD_KEYBOARD;
		if (len == 8) {
			memcpy(data, r, 8);
			return 8;
		}
		if (len == 29) {
			nkro_to_boot(r, len, data);
			return 8;
		}
		return -EINVAL;
	case IPKVM_HID_MOUSE_ABS: {
		if (len < 6)
			return -EINVAL;
		uint16_t x = ipkvm_hid_ch9329_scale((uint16_t)(r[1] | r[2] << 8));
		uint16_t y = ipkvm_hid_ch9329_scale((uint16_t)(r[3] | r[4] << 8));
		*cmd = CH_CMD_MOUSE_ABS;
		data[0] = 0x02;
		data[1] = r[0];
		data[2] = (uint8_t)(x & 0xFF);
		data[3] = (uint8_t)(x >> 8);
		data[4] = (uint8_t)(y & 0xFF);
		data[5] = (uint8_t)(y >> 8);
		data[6] = r[5]; /* the chip has no horizontal wheel: r[6] is dropped */
		return 7;
	}
	case IPKVM_HID_MOUSE_REL:
		if (len < 4)
			return -EINVAL;
		*cmd = CH_CMD_MOUSE_REL;
		data[0] = 0x01;
		data[1] = r[0];
		data[2] = r[1];
		data[3] = r[2];
		data[4] = r[3];
		return 5;
	case IPKVM_HID_CONSUMER: {
		if (len != 3 || r[0] != 0x01)
			return -EINVAL;
		uint16_t usage = (uint16_t)(r[1] | r[2] << 8);
		*cmd = CH_CMD_MEDIA;
		data[0] = 0x02;
		data[1] = data[2] = data[3] = 0;
		if (usage == 0)
			return 4;
		for (size_t i = 0; i < IPKVM_ARRAY_SIZE(media_map); i++) {
			if (media_map[i].usage == usage) {
				data[1 + media_map[i].byte] = (uint8_t)(1u << media_map[i].bit);
				return 4;
			}
		}
		return -EOPNOTSUPP;
	}
	case IPKVM_HID_SYSTEM:
		if (len != 2 || r[0] != 0x02)
			return -EINVAL;
		/* Same bit order as the chip's ACPI byte: power, sleep, wake. */
		*cmd = CH_CMD_MEDIA;
		data[0] = 0x01;
		data[1] = r[1] & 0x07;
		return 2;
	default:
		return -EINVAL;
	}
}

static int default_open(void *ctx, const char *path)
{
	int fd = open(path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int baud_to_speed(unsigned baud, speed_t *sp)
{
	switch (baud) {
	case 1200:
		*sp = B1200;
		return 0;
	case 2400:
		*sp = B2400;
		return 0;
	case 4800:
		*sp = B4800;
		return 0;
	case 9600:
		*sp = B9600;
		return 0;
	case 19200:
		*sp = B19200;
		return 0;
	case 38400:
		*sp = B38400;
		return 0;
	case 57600:
		*sp = B57600;
		return 0;
	case 115200:
		*sp = B115200;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Raw 8N1, no flow control. VMIN 1: with O_NONBLOCK an empty port then reads as EAGAIN;
 * with VMIN 0 it reads as 0 bytes, which is indistinguishable from end of file (found by
 * the daemon test on a pty: the output kept going offline). */
static int setup_serial(int fd, unsigned baud)
{
	struct termios t;
	speed_t sp;
	int ret = baud_to_speed(baud, &sp);

	if (ret < 0)
		return ret;
	if (tcgetattr(fd, &t) < 0)
		return -errno;
	cfmakeraw(&t);
	t.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
	t.c_cflag |= CLOCAL | CREAD | CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, sp) < 0 || cfsetospeed(&t, sp) < 0)
		return -errno;
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		return -errno;
	tcflush(fd, TCIOFLUSH);
	return 0;
}

static void ch_close(struct ipkvm_hid_output *out)
{
	struct ch9329 *c = to_ch(out);

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	out->counters.dropped += c->q.count + (c->busy ? 1 : 0);
	c->q.head = c->q.count = 0;
	c->q.overflow_logged = false;
	c->busy = false;
	c->rx_len = 0;
	c->silent = 0;
}

static int ch_open(struct ipkvm_hid_output *out)
{
	struct ch9329 *c = to_ch(out);
	int fd, fl, ret = 0;

	ch_close(out);
	fd = c->open_fn(c->open_ctx, c->path);
	if (fd < 0)
		return fd;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		ret = -errno;
		goto out;
	}
	/* A pty or a real UART gets termios; test socketpairs are not ttys. */
	if (isatty(fd)) {
		ret = setup_serial(fd, c->baud);
		if (ret < 0) {
			LOG_ERROR("%s: serial setup at %u baud: %s", c->path, c->baud,
				  strerror(-ret));
			goto out;
		}
	}
	c->fd = fd;
out:
	if (ret < 0)
		close(fd);
	return ret;
}

static int ch_gone(struct ch9329 *c, const char *op, int err)
{
	char why[CH_PATH_MAX + 64];

	if (err)
		snprintf(why, sizeof(why), "%s %s: %s", op, c->path, strerror(err));
	else
		snprintf(why, sizeof(why), "%s %s: end of file", op, c->path);
	ch_close(&c->base);
	ipkvm_hid_output_set_offline(&c->base, why);
	return -(err ? err : EPIPE);
}

/* Writes what is left of the frame in flight; arms the ACK deadline once it is all out. */
static int ch_flush(struct ch9329 *c)
{
	while (c->busy && c->tx_off < c->tx_len) {
		ssize_t n = write(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			if (ipkvm_hid_output_err_is_gone(errno))
				return ch_gone(c, "write", errno);
			c->base.counters.errors++;
			LOG_ERROR("write %s: %s", c->path, strerror(errno));
			return -errno;
		}
		c->tx_off += (size_t)n;
		if (c->tx_off == c->tx_len)
			c->deadline = ipkvm_hid_output_now(&c->base) + c->ack_timeout_ms;
	}
	return 0;
}

/* Starts the next pending report when nothing is in flight. */
static int ch_pump(struct ch9329 *c)
{
	struct ipkvm_hid_report *r;

	while (!c->busy && (r = ipkvm_hid_queue_peek(&c->q)) != NULL) {
		uint8_t cmd = 0, data[CH_DATA_MAX];
		int len = translate((enum ipkvm_hid_kind)r->kind, r->data, r->len, &cmd, data);
		enum ipkvm_hid_kind kind = (enum ipkvm_hid_kind)r->kind;

		ipkvm_hid_queue_pop(&c->q);
		if (len < 0)
			continue; /* validated in send(); cannot happen */
		c->tx_len = ipkvm_hid_ch9329_frame(c->addr, cmd, data, (uint8_t)len, c->tx);
		c->tx_off = 0;
		c->busy = true;
		c->busy_kind = kind;
		c->resent = false;
	}
	return ch_flush(c);
}

static void ch_done(struct ch9329 *c)
{
	c->busy = false;
	c->tx_len = c->tx_off = 0;
}

static int ch_send(struct ipkvm_hid_output *out, enum ipkvm_hid_kind kind, const uint8_t *bytes,
		   size_t len)
{
	struct ch9329 *c = to_ch(out);
	uint8_t cmd, data[CH_DATA_MAX];
	int ret = translate(kind, bytes, len, &cmd, data);

	if (ret < 0)
		return ret; /* refuse now: the caller learns what the chip cannot do */
	ret = ipkvm_hid_output_enqueue(out, &c->q, c->path, kind, bytes, len);
	if (ret < 0)
		return ret;
	if (ret == 0 && (c->busy || c->q.count > 1))
		out->counters.queued++;
	return ch_pump(c);
}

/* Handles one complete, checksummed answer frame. */
static void ch_answer(struct ch9329 *c, uint8_t cmd, const uint8_t *data, uint8_t len)
{
	uint8_t sent_cmd = c->busy ? c->tx[3] : 0;

	if (!c->busy || c->tx_off < c->tx_len ||
	    (cmd != (sent_cmd | CH_ACK) && cmd != (sent_cmd | CH_ERR))) {
		LOG_DEBUG("%s: unexpected answer cmd 0x%02x", c->path, cmd);
		return;
	}
	if (cmd == (sent_cmd | CH_ACK) && (len == 0 || data[0] == 0x00)) {
		c->base.counters.written++;
		ch_done(c);
		if (c->base.cb.written)
			c->base.cb.written(c->base.cb.ctx, &c->base, c->busy_kind);
		return;
	}
	/* Error status (0xE1 timeout, 0xE2 header, 0xE3 command, 0xE4 checksum, 0xE5 parameter,
	 * 0xE6 operation) or an error frame: the chip refused this command; not resent. */
	c->base.counters.errors++;
	LOG_WARN("%s: command 0x%02x refused (answer 0x%02x status 0x%02x)", c->path, sent_cmd, cmd,
		 len ? data[0] : 0);
	ch_done(c);
}

/* Extracts every complete frame from rx; resynchronises on garbage and bad checksums. */
static void ch_parse(struct ch9329 *c)
{
	size_t off = 0;

	while (c->rx_len - off >= 2) {
		uint8_t *p = c->rx + off;
		if (p[0] != CH_HEAD0 || p[1] != CH_HEAD1) {
			off++;
			continue;
		}
		if (c->rx_len - off < 5)
			break;
		size_t flen = 6 + (size_t)p[4];
		if (p[4] > CH_DATA_MAX) {
			off++;
			continue;
		}
		if (c->rx_len - off < flen)
			break;
		uint8_t sum = 0;
		for (size_t i = 0; i < flen - 1; i++)
			sum = (uint8_t)(sum + p[i]);
		if (sum != p[flen - 1]) {
			c->base.counters.errors++;
			LOG_WARN("%s: answer with bad checksum dropped", c->path);
			off++;
			continue;
		}
		c->silent = 0; /* the chip is alive, whatever it said */
		ch_answer(c, p[3], p + 5, p[4]);
		off += flen;
		if (c->fd < 0)
			return; /* a written callback's send() found the port gone: rx reset */
	}
	memmove(c->rx, c->rx + off, c->rx_len - off);
	c->rx_len -= off;
}

static int ch_on_readable(struct ipkvm_hid_output *out, int fd)
{
	struct ch9329 *c = to_ch(out);

	if (fd != c->fd)
		return -EBADF;
	for (;;) {
		if (c->rx_len == sizeof(c->rx)) {
			/* Cannot hold a frame start: garbage. Keep the last byte (maybe 0x57). */
			c->rx[0] = c->rx[c->rx_len - 1];
			c->rx_len = 1;
		}
		ssize_t n = read(fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			if (ipkvm_hid_output_err_is_gone(errno))
				return ch_gone(c, "read", errno);
			out->counters.errors++;
			LOG_ERROR("read %s: %s", c->path, strerror(errno));
			return -errno;
		}
		if (n == 0)
			return ch_gone(c, "read", 0);
		c->rx_len += (size_t)n;
		ch_parse(c);
		if (c->fd < 0)
			return -EPIPE;
	}
	return ch_pump(c);
}

static int ch_on_writable(struct ipkvm_hid_output *out, int fd)
{
	struct ch9329 *c = to_ch(out);

	if (fd != c->fd)
		return -EBADF;
	return ch_pump(c);
}

static int64_t ch_tick(struct ipkvm_hid_output *out, int64_t now)
{
	struct ch9329 *c = to_ch(out);

	if (!c->busy || c->tx_off < c->tx_len)
		return -1; /* idle, or waiting for POLLOUT */
	if (now < c->deadline)
		return c->deadline - now;
	if (!c->resent) {
		/* The frame or its ACK was lost on the line: send the same frame once more. */
		c->resent = true;
		c->tx_off = 0;
		out->counters.resends++;
		LOG_DEBUG("%s: no ACK for command 0x%02x, resending", c->path, c->tx[3]);
	} else {
		out->counters.timeouts++;
		out->counters.errors++;
		LOG_WARN("%s: no ACK for command 0x%02x after resend, skipped", c->path, c->tx[3]);
		ch_done(c);
		if (++c->silent >= CH_SILENT_OFFLINE) {
			char why[CH_PATH_MAX + 64];
			snprintf(why, sizeof(why), "%s: no answer from the CH9329", c->path);
			ch_close(out);
			ipkvm_hid_output_set_offline(out, why);
			return -1;
		}
	}
	if (ch_pump(c) < 0 || !c->busy || c->tx_off < c->tx_len)
		return -1;
	return c->deadline > now ? c->deadline - now : 0;
}

static int64_t ch_deadline(struct ipkvm_hid_output *out)
{
	struct ch9329 *c = to_ch(out);

	return c->busy && c->tx_off == c->tx_len ? c->deadline : -1;
}

static size_t ch_pollfds(struct ipkvm_hid_output *out, struct pollfd *fds, size_t max)
{
	struct ch9329 *c = to_ch(out);

	if (c->fd < 0 || max == 0)
		return 0;
	fds[0].fd = c->fd;
	fds[0].events = POLLIN;
	fds[0].revents = 0;
	if (c->busy && c->tx_off < c->tx_len)
		fds[0].events |= POLLOUT;
	return 1;
}

static size_t ch_pending(struct ipkvm_hid_output *out)
{
	struct ch9329 *c = to_ch(out);
	return c->q.count + (c->busy ? 1 : 0);
}

static void ch_destroy(struct ipkvm_hid_output *out)
{
	ch_close(out);
	free(out);
}

static const struct ipkvm_hid_output_ops ch_ops = {
    .name = "ch9329",
    .open = ch_open,
    .close = ch_close,
    .pollfds = ch_pollfds,
    .send = ch_send,
    .on_writable = ch_on_writable,
    .on_readable = ch_on_readable,
    .tick = ch_tick,
    .deadline = ch_deadline,
    .pending = ch_pending,
    .destroy = ch_destroy,
};

int ipkvm_hid_ch9329_create(const struct ipkvm_hid_ch9329_config *cfg,
			    const struct ipkvm_hid_output_cb *cb, struct ipkvm_hid_output **out)
{
	struct ch9329 *c;
	speed_t sp;
	int ret = 0;

	*out = NULL;
	if (!cfg->path || !*cfg->path)
		return -EINVAL;
	if (baud_to_speed(cfg->baud ? cfg->baud : 9600, &sp) < 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &ch_ops;
	if (cb)
		c->base.cb = *cb;
	ret = ipkvm_strlcpy(c->path, cfg->path, sizeof(c->path));
	if (ret < 0)
		goto out;
	c->baud = cfg->baud ? cfg->baud : 9600;
	c->addr = cfg->addr;
	c->ack_timeout_ms = cfg->ack_timeout_ms ? cfg->ack_timeout_ms : 100;
	c->open_fn = cfg->open_fn ? cfg->open_fn : default_open;
	c->open_ctx = cfg->open_ctx;
	c->fd = -1;
	c->base.last_deadline = -1;
	*out = &c->base;
out:
	if (ret < 0)
		free(c);
	return ret;
}
