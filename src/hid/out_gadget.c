/*
 * hid/out_gadget: HID output to the USB gadget's /dev/hidgN character devices.
 *
 * Each f_hid function of the gadget is one node; one write(2) of a whole report is one input
 * report to the host, a read(2) on the keyboard's node gives its 1-byte LED output report.
 * The nodes are opened O_RDWR | O_NONBLOCK and served by the main loop: a write that would
 * block leaves the report in the node's FIFO (output.c coalesces mouse motion there) and the
 * loop is asked for POLLOUT; nothing here ever blocks or sleeps.
 *
 * Kinds configured with the same path share one device (one fd, one FIFO, order kept between
 * them) — that is how consumer and system control share hidg3 with report IDs 1 and 2.
 *
 * When the host goes away f_hid answers ESHUTDOWN (EPIPE / EOF from test sockets); the whole
 * output then goes offline: every node is closed (the gadget disappears as a unit when the
 * target is unplugged or powered off) and output.c reopens them with back-off.
 */
#define LOG_TAG "hidg"
#include "core/log.h"
#include "core/util.h"
#include "hid/output.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define GADGET_PATH_MAX 256

struct gadget_dev {
	char path[GADGET_PATH_MAX];
	int fd;
	unsigned kinds; /* bit per enum ipkvm_hid_kind served by this node */
	struct ipkvm_hid_queue q;
};

struct gadget {
	struct ipkvm_hid_output base; /* first: the interface pointer is the object */
	ipkvm_hid_open_fn open_fn;
	void *open_ctx;
	size_t ndev;
	int kind_dev[IPKVM_HID_KIND_COUNT]; /* index into dev, -1 = kind not offered */
	struct gadget_dev dev[IPKVM_HID_KIND_COUNT];
};

static struct gadget *to_gadget(struct ipkvm_hid_output *out)
{
	return (struct gadget *)out;
}

static int default_open(void *ctx, const char *path)
{
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void gadget_close(struct ipkvm_hid_output *out)
{
	struct gadget *g = to_gadget(out);

	for (size_t i = 0; i < g->ndev; i++) {
		struct gadget_dev *d = &g->dev[i];
		if (d->fd >= 0)
			close(d->fd);
		d->fd = -1;
		out->counters.dropped += d->q.count;
		d->q.head = 0;
		d->q.count = 0;
		d->q.overflow_logged = false;
	}
}

static int gadget_open(struct ipkvm_hid_output *out)
{
	struct gadget *g = to_gadget(out);
	int ret = 0;

	gadget_close(out);
	for (size_t i = 0; i < g->ndev; i++) {
		struct gadget_dev *d = &g->dev[i];
		int fd = g->open_fn(g->open_ctx, d->path);
		if (fd < 0) {
			ret = fd;
			LOG_DEBUG("open %s: %s", d->path, strerror(-ret));
			goto out;
		}
		/* Injected fds (tests) may be blocking; the loop must never block on them. */
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			ret = -errno;
			close(fd);
			goto out;
		}
		d->fd = fd;
	}
out:
	if (ret < 0)
		gadget_close(out);
	return ret;
}

/* The device went away (target off / unplugged): close everything, report, retry later. */
static int gadget_gone(struct gadget *g, struct gadget_dev *d, const char *op, int err)
{
	char why[GADGET_PATH_MAX + 64];

	if (err)
		snprintf(why, sizeof(why), "%s %s: %s", op, d->path, strerror(err));
	else
		snprintf(why, sizeof(why), "%s %s: end of file", op, d->path);
	gadget_close(&g->base);
	ipkvm_hid_output_set_offline(&g->base, why);
	return -(err ? err : EPIPE);
}

/* One write attempt. Returns 1 written, 0 would block, -errno (output may be offline now). */
static int dev_write(struct gadget *g, struct gadget_dev *d, enum ipkvm_hid_kind kind,
		     const uint8_t *data, size_t len)
{
	ssize_t n = write(d->fd, data, len);

	if (n == (ssize_t)len) {
		g->base.counters.written++;
		if (g->base.cb.written)
			g->base.cb.written(g->base.cb.ctx, &g->base, kind);
		return 1;
	}
	if (n >= 0) {
		/* f_hid and SEQPACKET sockets take whole reports; a short write means a report
		 * larger than the function's report length — a configuration error. */
		g->base.counters.errors++;
		LOG_ERROR("short write to %s (%zd of %zu bytes)", d->path, n, len);
		return -EMSGSIZE;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	if (ipkvm_hid_output_err_is_gone(errno))
		return gadget_gone(g, d, "write", errno);
	g->base.counters.errors++;
	LOG_ERROR("write %s: %s", d->path, strerror(errno));
	return -errno;
}

static int gadget_send(struct ipkvm_hid_output *out, enum ipkvm_hid_kind kind, const uint8_t *bytes,
		       size_t len)
{
	struct gadget *g = to_gadget(out);
	struct gadget_dev *d;
	int ret;

	if (g->kind_dev[kind] < 0)
		return -ENODEV;
	d = &g->dev[g->kind_dev[kind]];
	/* Nothing pending: try the device directly (the common, zero-copy path). */
	if (d->q.count == 0) {
		ret = dev_write(g, d, kind, bytes, len);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			out->counters.sent++;
			return 0;
		}
	}
	ret = ipkvm_hid_output_enqueue(out, &d->q, d->path, kind, bytes, len);
	if (ret < 0)
		return ret;
	if (ret == 0)
		out->counters.queued++;
	return 0;
}

static struct gadget_dev *dev_by_fd(struct gadget *g, int fd)
{
	for (size_t i = 0; i < g->ndev; i++) {
		if (g->dev[i].fd >= 0 && g->dev[i].fd == fd)
			return &g->dev[i];
	}
	return NULL;
}

static int gadget_on_writable(struct ipkvm_hid_output *out, int fd)
{
	struct gadget *g = to_gadget(out);
	struct gadget_dev *d = dev_by_fd(g, fd);
	struct ipkvm_hid_report *r;

	if (!d)
		return -EBADF;
	while ((r = ipkvm_hid_queue_peek(&d->q)) != NULL) {
		int ret = dev_write(g, d, (enum ipkvm_hid_kind)r->kind, r->data, r->len);
		if (ret == 0)
			break; /* still full: keep POLLOUT */
		if (ret == -EMSGSIZE || (ret < 0 && out->online)) {
			/* Not the device going away: this report can never be written. */
			ipkvm_hid_queue_pop(&d->q);
			continue;
		}
		if (ret < 0)
			return ret; /* offline: queues already cleared */
		ipkvm_hid_queue_pop(&d->q);
	}
	return 0;
}

static int gadget_on_readable(struct ipkvm_hid_output *out, int fd)
{
	struct gadget *g = to_gadget(out);
	struct gadget_dev *d = dev_by_fd(g, fd);
	uint8_t buf[64];

	if (!d)
		return -EBADF;
	/* Drain everything available; the newest LED state wins but each is reported. */
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			if (ipkvm_hid_output_err_is_gone(errno))
				return gadget_gone(g, d, "read", errno);
			out->counters.errors++;
			LOG_ERROR("read %s: %s", d->path, strerror(errno));
			return -errno;
		}
		if (n == 0)
			return gadget_gone(g, d, "read", 0);
		if (!(d->kinds & (1u << IPKVM_HID_KEYBOARD))) {
			LOG_DEBUG("%s: ignoring %zd unexpected bytes", d->path, n);
			continue;
		}
		/* LED output report: 1 byte, no report ID (boot and NKRO keyboards alike). */
		out->counters.leds++;
		if (out->cb.leds)
			out->cb.leds(out->cb.ctx, out, buf[0]);
	}
}

static size_t gadget_pollfds(struct ipkvm_hid_output *out, struct pollfd *fds, size_t max)
{
	struct gadget *g = to_gadget(out);
	size_t n = 0;

	for (size_t i = 0; i < g->ndev && n < max; i++) {
		struct gadget_dev *d = &g->dev[i];
		if (d->fd < 0)
			continue;
		fds[n].fd = d->fd;
		fds[n].events = 0;
		fds[n].revents = 0;
		if (d->kinds & (1u << IPKVM_HID_KEYBOARD))
			fds[n].events |= POLLIN;
		if (d->q.count)
			fds[n].events |= POLLOUT;
		n++;
	}
	return n;
}

static size_t gadget_pending(struct ipkvm_hid_output *out)
{
	struct gadget *g = to_gadget(out);
	size_t n = 0;

	for (size_t i = 0; i < g->ndev; i++)
		n += g->dev[i].q.count;
	return n;
}

static void gadget_destroy(struct ipkvm_hid_output *out)
{
	gadget_close(out);
	free(out);
}

static const struct ipkvm_hid_output_ops gadget_ops = {
    .name = "gadget",
    .open = gadget_open,
    .close = gadget_close,
    .pollfds = gadget_pollfds,
    .send = gadget_send,
    .on_writable = gadget_on_writable,
    .on_readable = gadget_on_readable,
    .tick = NULL,
    .deadline = NULL,
    .pending = gadget_pending,
    .destroy = gadget_destroy,
};

void ipkvm_hid_gadget_config_default(struct ipkvm_hid_gadget_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->path[IPKVM_HID_KEYBOARD] = "/dev/hidg0";
	cfg->path[IPKVM_HID_MOUSE_ABS] = "/dev/hidg1";
	cfg->path[IPKVM_HID_MOUSE_REL] = "/dev/hidg2";
	cfg->path[IPKVM_HID_CONSUMER] = "/dev/hidg3";
	cfg->path[IPKVM_HID_SYSTEM] = "/dev/hidg3";
}

int ipkvm_hid_gadget_create(const struct ipkvm_hid_gadget_config *cfg,
			    const struct ipkvm_hid_output_cb *cb, struct ipkvm_hid_output **out)
{
	struct gadget *g;
	int ret = 0;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->base.ops = &gadget_ops;
	g->base.last_deadline = -1;
	if (cb)
		g->base.cb = *cb;
	g->open_fn = cfg->open_fn ? cfg->open_fn : default_open;
	g->open_ctx = cfg->open_ctx;
	for (int k = 0; k < IPKVM_HID_KIND_COUNT; k++) {
		const char *p = cfg->path[k];
		g->kind_dev[k] = -1;
		if (!p || !*p)
			continue;
		for (size_t i = 0; i < g->ndev; i++) {
			if (strcmp(g->dev[i].path, p) == 0)
				g->kind_dev[k] = (int)i;
		}
		if (g->kind_dev[k] < 0) {
			struct gadget_dev *d = &g->dev[g->ndev];
			ret = ipkvm_strlcpy(d->path, p, sizeof(d->path));
			if (ret < 0)
				goto out;
			d->fd = -1;
			g->kind_dev[k] = (int)g->ndev++;
		}
		g->dev[g->kind_dev[k]].kinds |= 1u << k;
	}
	if (g->ndev == 0) {
		ret = -EINVAL;
		goto out;
	}
	for (size_t i = g->ndev; i < IPKVM_HID_KIND_COUNT; i++)
		g->dev[i].fd = -1;
	*out = &g->base;
out:
	if (ret < 0)
		free(g);
	return ret;
}
