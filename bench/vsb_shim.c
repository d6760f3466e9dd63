/*
 * vsb_shim: an LD_PRELOAD library that makes one path (VSB_DEVICE, default
 * /dev/video-bench) a V4L2 single-planar capture device with MMAP streaming, backed by the
 * frame producer vsb_producer (see vsb.h for how the two share buffers). The daemon under
 * test runs unmodified: its open, close, ioctl and mmap calls on that path land here; every
 * other call goes to the C library.
 *
 * The device looks like a UVC dongle: one input, one pixel format (the producer's: YUYV,
 * UYVY or MJPEG), one frame size and one frame rate. Or, when the producer says so, like an
 * HDMI-to-CSI bridge (TC358743 and the like): the input reports DV timings, which always
 * read 1920x1080 at 60 Hz (CEA-861 VIC 16), and source-change events can be subscribed to
 * (none ever comes). Ioctls the device does not know answer ENOTTY, as a driver without
 * them would.
 *
 * One fake device per process, opened at most once at a time (a second open gets EBUSY, as a
 * busy capture device would).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "vsb.h"

/* The exported entry points: named by their symbol, so whatever the C library's headers
 * redirect (open to open64 and the like) there is one definition per symbol. */
int vsb_open(const char *path, int flags, ...) __asm__("open");
int vsb_open64(const char *path, int flags, ...) __asm__("open64");
int vsb_open_2(const char *path, int flags) __asm__("__open_2");
int vsb_open64_2(const char *path, int flags) __asm__("__open64_2");
int vsb_openat(int dirfd, const char *path, int flags, ...) __asm__("openat");
int vsb_openat64(int dirfd, const char *path, int flags, ...) __asm__("openat64");
int vsb_close(int fd) __asm__("close");
int vsb_access(const char *path, int mode) __asm__("access");
int vsb_faccessat(int dirfd, const char *path, int mode, int flags) __asm__("faccessat");
int vsb_ioctl(int fd, unsigned long request, ...) __asm__("ioctl");
void *vsb_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) __asm__("mmap");
void *vsb_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __asm__("mmap64");

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*close_fn)(int);
typedef int (*access_fn)(const char *, int);
typedef int (*faccessat_fn)(int, const char *, int, int);
typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

static struct {
	open_fn open, open64;
	openat_fn openat, openat64;
	close_fn close;
	access_fn access;
	faccessat_fn faccessat;
	ioctl_fn ioctl;
	mmap_fn mmap, mmap64;
} real;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *dev_path = VSB_DEFAULT_DEV;

/* The open fake device (fd -1: none). */
static struct {
	int fd;	   /* the pipe's read end: what the application holds */
	int sock;  /* the connection to the producer (closing it tells the producer) */
	int memfd; /* the producer's shared memory */
	bool nonblock;
	struct vsb_shm *shm;
} dev = {.fd = -1, .sock = -1, .memfd = -1};

static void init(void)
{
	real.open = (open_fn)dlsym(RTLD_NEXT, "open");
	real.open64 = (open_fn)dlsym(RTLD_NEXT, "open64");
	real.openat = (openat_fn)dlsym(RTLD_NEXT, "openat");
	real.openat64 = (openat_fn)dlsym(RTLD_NEXT, "openat64");
	real.close = (close_fn)dlsym(RTLD_NEXT, "close");
	real.access = (access_fn)dlsym(RTLD_NEXT, "access");
	real.faccessat = (faccessat_fn)dlsym(RTLD_NEXT, "faccessat");
	real.ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
	real.mmap = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
	real.mmap64 = (mmap_fn)dlsym(RTLD_NEXT, "mmap64");
	const char *p = getenv("VSB_DEVICE");
	if (p && *p)
		dev_path = p;
}

static void ensure_init(void)
{
	pthread_once(&once, init);
}

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void shm_lock(struct vsb_shm *s)
{
	if (pthread_mutex_lock(&s->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&s->lock);
}

static void shm_unlock(struct vsb_shm *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* ---- open / close ------------------------------------------------------------------ */

/* Connects to the producer and takes its memfd and pipe end. The new fd, or -1 with errno. */
static int fake_open(int flags)
{
	pthread_mutex_lock(&dev_lock);
	if (dev.fd >= 0) {
		pthread_mutex_unlock(&dev_lock);
		errno = EBUSY;
		return -1;
	}
	const char *sp = getenv("VSB_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!sp || !*sp || strlen(sp) >= sizeof(sa.sun_path)) {
		pthread_mutex_unlock(&dev_lock);
		errno = ENODEV; /* no producer: the device is not there */
		return -1;
	}
	strcpy(sa.sun_path, sp);
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (sock >= 0)
			real.close(sock);
		pthread_mutex_unlock(&dev_lock);
		errno = ENODEV;
		return -1;
	}
	char msg[16] = {0};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} cm;
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg) - 1};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cm.buf,
			    .msg_controllen = sizeof(cm.buf)};
	ssize_t n;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (n <= 0 || strncmp(msg, "ok", 2) != 0 || !c || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(2 * sizeof(int))) {
		real.close(sock);
		pthread_mutex_unlock(&dev_lock);
		errno = n > 0 && strncmp(msg, "busy", 4) == 0 ? EBUSY : ENODEV;
		return -1;
	}
	int fds[2];
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	struct vsb_shm *shm =
	    real.mmap(NULL, VSB_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (shm == MAP_FAILED || shm->magic != VSB_MAGIC) {
		if (shm != MAP_FAILED)
			munmap(shm, VSB_HDR_SIZE);
		real.close(fds[0]);
		real.close(fds[1]);
		real.close(sock);
		pthread_mutex_unlock(&dev_lock);
		errno = ENODEV;
		return -1;
	}
	if (!(flags & O_CLOEXEC))
		fcntl(fds[1], F_SETFD, 0);
	dev.memfd = fds[0];
	dev.fd = fds[1];
	dev.sock = sock;
	dev.shm = shm;
	dev.nonblock = flags & O_NONBLOCK;
	int fd = dev.fd;
	pthread_mutex_unlock(&dev_lock);
	return fd;
}

static bool is_dev_path(const char *path)
{
	ensure_init();
	return path && strcmp(path, dev_path) == 0;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int vsb_open(const char *path, int flags, ...)
{
	if (is_dev_path(path))
		return fake_open(flags);
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return real.open(path, flags, mode);
}

int vsb_open64(const char *path, int flags, ...)
{
	if (is_dev_path(path))
		return fake_open(flags);
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return real.open64(path, flags, mode);
}

int vsb_open_2(const char *path, int flags)
{
	if (is_dev_path(path))
		return fake_open(flags);
	return real.open(path, flags);
}

int vsb_open64_2(const char *path, int flags)
{
	if (is_dev_path(path))
		return fake_open(flags);
	return real.open64(path, flags);
}

int vsb_openat(int dirfd, const char *path, int flags, ...)
{
	if (is_dev_path(path))
		return fake_open(flags);
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return real.openat(dirfd, path, flags, mode);
}

int vsb_openat64(int dirfd, const char *path, int flags, ...)
{
	if (is_dev_path(path))
		return fake_open(flags);
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return real.openat64(dirfd, path, flags, mode);
}

/* The device node exists and may be read and written (uStreamer checks before it opens). */
int vsb_access(const char *path, int mode)
{
	return is_dev_path(path) ? 0 : real.access(path, mode);
}

int vsb_faccessat(int dirfd, const char *path, int mode, int flags)
{
	return is_dev_path(path) ? 0 : real.faccessat(dirfd, path, mode, flags);
}

/* Returns every buffer to the application and empties the pipe (STREAMOFF), waiting for a
 * frame the producer is writing to be finished first. Called with the shm lock held. */
static void stream_off_locked(void)
{
	struct vsb_shm *s = dev.shm;
	for (;;) {
		bool filling = false;
		for (unsigned i = 0; i < VSB_MAX_BUFS; i++)
			filling |= s->bufs[i].state == VSB_FILLING;
		if (!filling)
			break;
		shm_unlock(s);
		usleep(200);
		shm_lock(s);
	}
	for (unsigned i = 0; i < VSB_MAX_BUFS; i++)
		s->bufs[i].state = VSB_USER;
	s->streaming = 0;
	char sink[64];
	while (read(dev.fd, sink, sizeof(sink)) > 0)
		;
}

int vsb_close(int fd)
{
	ensure_init();
	pthread_mutex_lock(&dev_lock);
	if (fd >= 0 && fd == dev.fd) {
		shm_lock(dev.shm);
		stream_off_locked();
		dev.shm->nbufs = 0;
		shm_unlock(dev.shm);
		munmap(dev.shm, VSB_HDR_SIZE);
		real.close(dev.memfd);
		real.close(dev.sock);
		dev.shm = NULL;
		dev.fd = dev.sock = dev.memfd = -1;
		pthread_mutex_unlock(&dev_lock);
		return real.close(fd);
	}
	pthread_mutex_unlock(&dev_lock);
	return real.close(fd);
}

/* ---- mmap -------------------------------------------------------------------------- */

static void *fake_mmap(void *addr, size_t len, int prot, int flags, off_t off)
{
	struct vsb_shm *s = dev.shm;
	if (off < 0 || off % s->buf_stride != 0 || (uint64_t)off / s->buf_stride >= s->nbufs ||
	    len > s->buf_stride || !(flags & MAP_SHARED)) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	return real.mmap(addr, len, prot, flags, dev.memfd, (off_t)VSB_HDR_SIZE + off);
}

void *vsb_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	ensure_init();
	if (fd >= 0 && fd == dev.fd)
		return fake_mmap(addr, len, prot, flags, off);
	return real.mmap(addr, len, prot, flags, fd, off);
}

void *vsb_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	ensure_init();
	if (fd >= 0 && fd == dev.fd)
		return fake_mmap(addr, len, prot, flags, off);
	return real.mmap64(addr, len, prot, flags, fd, off);
}

/* ---- ioctl ------------------------------------------------------------------------- */

static void fill_pix(const struct vsb_shm *s, struct v4l2_pix_format *p)
{
	memset(p, 0, sizeof(*p));
	p->width = s->width;
	p->height = s->height;
	p->pixelformat = s->pixfmt;
	p->field = V4L2_FIELD_NONE;
	p->bytesperline = s->bytesperline;
	p->sizeimage = s->sizeimage;
	p->colorspace = V4L2_COLORSPACE_SRGB;
}

/* The bridge's timings: 1920x1080p60 (148.5 MHz pixel clock, 2200x1125 total). */
static void fill_timings(const struct vsb_shm *s, struct v4l2_dv_timings *t)
{
	memset(t, 0, sizeof(*t));
	t->type = V4L2_DV_BT_656_1120;
	struct v4l2_bt_timings *bt = &t->bt;
	bt->width = s->width;
	bt->height = s->height;
	bt->polarities = V4L2_DV_VSYNC_POS_POL | V4L2_DV_HSYNC_POS_POL;
	bt->hfrontporch = 88;
	bt->hsync = 44;
	bt->hbackporch = 2200 - s->width - 88 - 44;
	bt->vfrontporch = 4;
	bt->vsync = 5;
	bt->vbackporch = 1125 - s->height - 4 - 5;
	bt->pixelclock = (uint64_t)2200 * 1125 * s->fps;
	bt->standards = V4L2_DV_BT_STD_CEA861;
	bt->flags = V4L2_DV_FL_IS_CE_VIDEO;
}

static void fill_buffer(const struct vsb_shm *s, unsigned i, struct v4l2_buffer *b)
{
	const struct vsb_buf *vb = &s->bufs[i];
	memset(b, 0, sizeof(*b));
	b->index = i;
	b->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	b->memory = V4L2_MEMORY_MMAP;
	b->flags =
	    V4L2_BUF_FLAG_MAPPED | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | V4L2_BUF_FLAG_TSTAMP_SRC_EOF;
	if (vb->state == VSB_QUEUED || vb->state == VSB_FILLING)
		b->flags |= V4L2_BUF_FLAG_QUEUED;
	if (vb->state == VSB_DONE)
		b->flags |= V4L2_BUF_FLAG_DONE;
	b->field = V4L2_FIELD_NONE;
	b->m.offset = i * s->buf_stride;
	b->length = s->sizeimage;
}

static int dqbuf(struct v4l2_buffer *b)
{
	struct vsb_shm *s = dev.shm;
	if (b->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || b->memory != V4L2_MEMORY_MMAP)
		return -EINVAL;
	for (;;) {
		shm_lock(s);
		if (!s->streaming) {
			shm_unlock(s);
			return -EINVAL;
		}
		int best = -1;
		for (unsigned i = 0; i < s->nbufs; i++)
			if (s->bufs[i].state == VSB_DONE &&
			    (best < 0 || s->bufs[i].order < s->bufs[best].order))
				best = (int)i;
		if (best >= 0) {
			char c;
			if (read(dev.fd, &c, 1) != 1) {
				/* cannot happen while the counts agree; say so loudly */
				shm_unlock(s);
				return -EIO;
			}
			struct vsb_buf *vb = &s->bufs[best];
			vb->state = VSB_USER;
			fill_buffer(s, (unsigned)best, b);
			b->bytesused = vb->bytesused;
			b->sequence = vb->sequence;
			b->timestamp.tv_sec = vb->ts_us / 1000000;
			b->timestamp.tv_usec = vb->ts_us % 1000000;
			struct vsb_dq *d = &s->dq[s->dq_count % VSB_DQ_RING];
			d->sequence = vb->sequence;
			d->index = (uint32_t)best;
			d->ts_us = vb->ts_us;
			d->dq_mono_us = clock_us(CLOCK_MONOTONIC);
			d->dq_raw_us = clock_us(CLOCK_MONOTONIC_RAW);
			s->dq_count++;
			shm_unlock(s);
			return 0;
		}
		shm_unlock(s);
		if (dev.nonblock)
			return -EAGAIN;
		struct pollfd p = {.fd = dev.fd, .events = POLLIN};
		poll(&p, 1, 1000);
	}
}

static int fake_ioctl(unsigned long request, void *arg)
{
	struct vsb_shm *s = dev.shm;
	/* The kernel takes the request as 32 bits: a caller passing it through an int
	 * (uStreamer does) hands over a sign-extended value. */
	uint32_t req = (uint32_t)request;
	switch (req) {
	case VIDIOC_QUERYCAP: {
		struct v4l2_capability *c = arg;
		memset(c, 0, sizeof(*c));
		snprintf((char *)c->driver, sizeof(c->driver), "vsbench");
		snprintf((char *)c->card, sizeof(c->card), "vsbench fake capture");
		snprintf((char *)c->bus_info, sizeof(c->bus_info), "platform:vsbench");
		c->version = 0x060100;
		c->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
		c->capabilities = c->device_caps | V4L2_CAP_DEVICE_CAPS;
		return 0;
	}
	case VIDIOC_ENUMINPUT: {
		struct v4l2_input *in = arg;
		if (in->index != 0)
			return -EINVAL;
		memset(in, 0, sizeof(*in));
		snprintf((char *)in->name, sizeof(in->name), s->dv ? "HDMI" : "Camera 1");
		in->type = V4L2_INPUT_TYPE_CAMERA;
		in->capabilities = s->dv ? V4L2_IN_CAP_DV_TIMINGS : 0;
		return 0;
	}
	case VIDIOC_G_INPUT:
		*(int *)arg = 0;
		return 0;
	case VIDIOC_S_INPUT:
		return *(int *)arg == 0 ? 0 : -EINVAL;
	case VIDIOC_ENUM_FMT: {
		struct v4l2_fmtdesc *d = arg;
		if (d->index != 0 || d->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
			return -EINVAL;
		uint32_t type = d->type;
		memset(d, 0, sizeof(*d));
		d->type = type;
		d->pixelformat = s->pixfmt;
		if (s->pixfmt == V4L2_PIX_FMT_MJPEG) {
			d->flags = V4L2_FMT_FLAG_COMPRESSED;
			snprintf((char *)d->description, sizeof(d->description), "Motion-JPEG");
		} else {
			snprintf((char *)d->description, sizeof(d->description), "%s 4:2:2",
				 s->pixfmt == V4L2_PIX_FMT_UYVY ? "UYVY" : "YUYV");
		}
		return 0;
	}
	case VIDIOC_G_FMT:
	case VIDIOC_S_FMT:
	case VIDIOC_TRY_FMT: {
		struct v4l2_format *f = arg;
		if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
			return -EINVAL;
		if (req == VIDIOC_S_FMT && s->nbufs)
			return -EBUSY;
		fill_pix(s, &f->fmt.pix); /* one format, one size: whatever was asked */
		return 0;
	}
	case VIDIOC_ENUM_FRAMESIZES: {
		struct v4l2_frmsizeenum *fs = arg;
		if (fs->index != 0 || fs->pixel_format != s->pixfmt)
			return -EINVAL;
		fs->type = V4L2_FRMSIZE_TYPE_DISCRETE;
		fs->discrete.width = s->width;
		fs->discrete.height = s->height;
		return 0;
	}
	case VIDIOC_ENUM_FRAMEINTERVALS: {
		struct v4l2_frmivalenum *iv = arg;
		if (iv->index != 0 || iv->pixel_format != s->pixfmt || iv->width != s->width ||
		    iv->height != s->height)
			return -EINVAL;
		iv->type = V4L2_FRMIVAL_TYPE_DISCRETE;
		iv->discrete.numerator = 1;
		iv->discrete.denominator = s->fps;
		return 0;
	}
	case VIDIOC_G_PARM:
	case VIDIOC_S_PARM: {
		struct v4l2_streamparm *p = arg;
		if (p->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
			return -EINVAL;
		memset(&p->parm, 0, sizeof(p->parm));
		p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
		p->parm.capture.timeperframe.numerator = 1;
		p->parm.capture.timeperframe.denominator = s->fps; /* a fixed-rate device */
		p->parm.capture.readbuffers = 0;
		return 0;
	}
	case VIDIOC_REQBUFS: {
		struct v4l2_requestbuffers *rb = arg;
		if (rb->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || rb->memory != V4L2_MEMORY_MMAP)
			return -EINVAL;
		shm_lock(s);
		if (s->streaming) {
			shm_unlock(s);
			return -EBUSY;
		}
		uint32_t n = rb->count > VSB_MAX_BUFS ? VSB_MAX_BUFS : rb->count;
		for (unsigned i = 0; i < VSB_MAX_BUFS; i++)
			s->bufs[i].state = VSB_USER;
		s->nbufs = n;
		shm_unlock(s);
		rb->count = n;
		rb->capabilities = V4L2_BUF_CAP_SUPPORTS_MMAP;
		return 0;
	}
	case VIDIOC_QUERYBUF: {
		struct v4l2_buffer *b = arg;
		if (b->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || b->index >= s->nbufs)
			return -EINVAL;
		shm_lock(s);
		fill_buffer(s, b->index, b);
		shm_unlock(s);
		return 0;
	}
	case VIDIOC_QBUF: {
		struct v4l2_buffer *b = arg;
		if (b->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || b->memory != V4L2_MEMORY_MMAP)
			return -EINVAL;
		shm_lock(s);
		if (b->index >= s->nbufs || s->bufs[b->index].state != VSB_USER) {
			shm_unlock(s);
			return -EINVAL;
		}
		s->bufs[b->index].state = VSB_QUEUED;
		s->bufs[b->index].order = s->next_order++;
		fill_buffer(s, b->index, b);
		shm_unlock(s);
		return 0;
	}
	case VIDIOC_DQBUF:
		return dqbuf(arg);
	case VIDIOC_STREAMON:
	case VIDIOC_STREAMOFF: {
		if (*(int *)arg != V4L2_BUF_TYPE_VIDEO_CAPTURE)
			return -EINVAL;
		shm_lock(s);
		if (req == VIDIOC_STREAMON)
			s->streaming = s->nbufs > 0;
		else
			stream_off_locked();
		int r = req == VIDIOC_STREAMON && !s->streaming ? -EINVAL : 0;
		shm_unlock(s);
		return r;
	}
	case VIDIOC_QUERY_DV_TIMINGS:
	case VIDIOC_G_DV_TIMINGS:
		if (!s->dv)
			return -ENOTTY;
		fill_timings(s, arg);
		return 0;
	case VIDIOC_S_DV_TIMINGS: {
		struct v4l2_dv_timings *t = arg;
		if (!s->dv)
			return -ENOTTY;
		if (s->nbufs)
			return -EBUSY;
		if (t->type != V4L2_DV_BT_656_1120 || t->bt.width != s->width ||
		    t->bt.height != s->height)
			return -EINVAL; /* the only timings the source sends */
		fill_timings(s, t);
		return 0;
	}
	case VIDIOC_SUBSCRIBE_EVENT:
	case VIDIOC_UNSUBSCRIBE_EVENT: {
		const struct v4l2_event_subscription *sub = arg;
		return s->dv && sub->type == V4L2_EVENT_SOURCE_CHANGE ? 0 : -EINVAL;
	}
	case VIDIOC_QUERYCTRL:
	case VIDIOC_G_CTRL:
	case VIDIOC_S_CTRL:
		return -EINVAL; /* no controls */
	case VIDIOC_DQEVENT:
		return -ENOENT;
	case VIDIOC_G_STD:
	case VIDIOC_S_STD:
	case VIDIOC_QUERYSTD:
		return -ENODATA; /* not an analog TV input */
	default:
		return -ENOTTY;
	}
}

int vsb_ioctl(int fd, unsigned long request, ...)
{
	ensure_init();
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (fd < 0 || fd != dev.fd)
		return real.ioctl(fd, request, arg);
	int r = fake_ioctl(request, arg);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}
