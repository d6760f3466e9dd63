/*
 * fake_m2m: an LD_PRELOAD library that puts a fake V4L2 mem2mem JPEG encoder behind one
 * device path, for the integration tests of the daemon's hardware JPEG encoder (no such
 * hardware exists where they run). It answers like bcm2835-codec's encode_image does:
 * multi-planar API, YUYV/UYVY on the OUTPUT queue (height rounded up to 16, lines to 64
 * bytes), JPEG on the CAPTURE queue, V4L2_CID_JPEG_COMPRESSION_QUALITY, MMAP buffers.
 *
 * Its "JPEG" is a real one (libturbojpeg, greyscale from the frame's luma) with a comment
 * segment right after SOI, "ipkvm-fake-m2m frame=N q=Q", so a test tells the device's
 * images from the software encoder's and sees the quality it was given.
 *
 * Environment:
 *   IPKVM_FAKE_M2M_DEV  the device path it claims (nothing else is touched)
 *   IPKVM_FAKE_M2M_CTL  a file whose first word, read at every open and frame, says how it
 *                       behaves: ok; fail (QBUF fails with ENODEV, as an unplugged device);
 *                       stall (frames go in, nothing comes out); gone (open fails with
 *                       ENOENT and every ioctl of an open one with ENODEV)
 *
 * Every other file descriptor and path goes to the real calls (dlsym RTLD_NEXT).
 */
/* The real names (open, mmap) rather than the 64-bit-offset redirects (open64, mmap64)
 * the build's _FILE_OFFSET_BITS would make of them: both are defined below. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>
#include <turbojpeg.h>

#define NBUF	4
#define CAP_LEN (4u << 20)
#define CAP_OFF 0x10000000u

struct buf {
	uint8_t *mem;
	size_t len;
	bool queued;
	uint32_t bytesused, flags;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int the_fd = -1;
static struct {
	uint32_t out_fmt;
	unsigned w, h, h_aligned, bpl;
	size_t sizeimage;
	struct buf out[NBUF], cap[NBUF];
	unsigned n_out, n_cap;
	int done_out[NBUF * 2], n_done_out, done_cap[NBUF * 2], n_done_cap;
	bool on_out, on_cap;
	int quality, frames;
} st;

#define REAL(name, ret, ...)                                                                       \
	static ret (*real_##name)(__VA_ARGS__);                                                    \
	if (!real_##name)                                                                          \
		real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);

static const char *dev_path(void)
{
	return getenv("IPKVM_FAKE_M2M_DEV");
}

static void mode(char *out, size_t n)
{
	snprintf(out, n, "ok");
	const char *p = getenv("IPKVM_FAKE_M2M_CTL");
	FILE *f = p ? fopen(p, "re") : NULL;
	if (!f)
		return;
	char w[16] = "";
	if (fscanf(f, "%15s", w) == 1)
		snprintf(out, n, "%s", w);
	fclose(f);
}

static bool is_mode(const char *m)
{
	char cur[16];
	mode(cur, sizeof(cur));
	return strcmp(cur, m) == 0;
}

static int fail(int e)
{
	errno = e;
	return -1;
}

static void free_bufs(struct buf *b, unsigned *n)
{
	for (unsigned i = 0; i < *n; i++) {
		REAL(munmap, int, void *, size_t);
		real_munmap(b[i].mem, b[i].len);
		b[i] = (struct buf){0};
	}
	*n = 0;
}

static int claim(const char *path)
{
	const char *d = dev_path();
	if (!d || !path || strcmp(path, d) != 0)
		return -2; /* not ours */
	if (is_mode("gone"))
		return fail(ENOENT);
	pthread_mutex_lock(&lock);
	if (the_fd >= 0) {
		pthread_mutex_unlock(&lock);
		return fail(EBUSY);
	}
	the_fd = eventfd(0, EFD_CLOEXEC);
	memset(&st, 0, sizeof(st));
	st.quality = 80;
	int fd = the_fd;
	pthread_mutex_unlock(&lock);
	return fd;
}

int open(const char *path, int flags, ...)
{
	int r = claim(path);
	if (r != -2)
		return r;
	va_list ap;
	va_start(ap, flags);
	mode_t m = (mode_t)va_arg(ap, int);
	va_end(ap);
	REAL(open, int, const char *, int, ...);
	return real_open(path, flags, m);
}

int open64(const char *path, int flags, ...)
{
	int r = claim(path);
	if (r != -2)
		return r;
	va_list ap;
	va_start(ap, flags);
	mode_t m = (mode_t)va_arg(ap, int);
	va_end(ap);
	REAL(open64, int, const char *, int, ...);
	return real_open64(path, flags, m);
}

int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
	int r = claim(path);
	if (r != -2)
		return r;
	REAL(__open_2, int, const char *, int);
	return real___open_2(path, flags);
}

int __open64_2(const char *path, int flags);
int __open64_2(const char *path, int flags)
{
	int r = claim(path);
	if (r != -2)
		return r;
	REAL(__open64_2, int, const char *, int);
	return real___open64_2(path, flags);
}

int close(int fd)
{
	REAL(close, int, int);
	pthread_mutex_lock(&lock);
	if (fd >= 0 && fd == the_fd) {
		free_bufs(st.out, &st.n_out);
		free_bufs(st.cap, &st.n_cap);
		the_fd = -1;
	}
	pthread_mutex_unlock(&lock);
	return real_close(fd);
}

/* The "encode": a greyscale JPEG of the luma, with the marker comment. */
static void process(unsigned i)
{
	st.out[i].queued = false;
	st.done_out[st.n_done_out++] = (int)i;
	if (is_mode("stall"))
		return;
	unsigned c = 0;
	while (c < st.n_cap && !st.cap[c].queued)
		c++;
	if (c == st.n_cap)
		return;
	uint8_t *y = malloc((size_t)st.w * st.h);
	if (!y)
		return;
	unsigned off = st.out_fmt == V4L2_PIX_FMT_UYVY ? 1 : 0;
	for (unsigned r = 0; r < st.h; r++)
		for (unsigned x = 0; x < st.w; x++)
			y[(size_t)r * st.w + x] = st.out[i].mem[(size_t)r * st.bpl + 2 * x + off];
	tjhandle tj = tjInitCompress();
	unsigned char *jpg = NULL;
	unsigned long len = 0;
	int r = tj ? tjCompress2(tj, y, (int)st.w, 0, (int)st.h, TJPF_GRAY, &jpg, &len, TJSAMP_GRAY,
				 st.quality, 0)
		   : -1;
	free(y);
	struct buf *cb = &st.cap[c];
	char com[64];
	int cl = snprintf(com, sizeof(com), "ipkvm-fake-m2m frame=%d q=%d", st.frames, st.quality);
	if (r == 0 && len + 4 + (size_t)cl <= cb->len) {
		memcpy(cb->mem, jpg, 2); /* SOI */
		uint8_t seg[4] = {0xff, 0xfe, (uint8_t)((cl + 2) >> 8), (uint8_t)(cl + 2)};
		memcpy(cb->mem + 2, seg, 4);
		memcpy(cb->mem + 6, com, (size_t)cl);
		memcpy(cb->mem + 6 + cl, jpg + 2, len - 2);
		cb->bytesused = (uint32_t)(len + 4 + (size_t)cl);
		cb->flags = 0;
	} else {
		cb->bytesused = 0;
		cb->flags = V4L2_BUF_FLAG_ERROR;
	}
	if (jpg)
		tjFree(jpg);
	if (tj)
		tjDestroy(tj);
	cb->queued = false;
	st.done_cap[st.n_done_cap++] = (int)c;
	st.frames++;
}

static bool mp_type(uint32_t t)
{
	return t == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE || t == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
}

static int fake_ioctl(unsigned long req, void *arg)
{
	if (is_mode("gone"))
		return fail(ENODEV);
	switch (req) {
	case VIDIOC_QUERYCAP: {
		struct v4l2_capability *c = arg;
		memset(c, 0, sizeof(*c));
		snprintf((char *)c->driver, sizeof(c->driver), "fake-m2m");
		snprintf((char *)c->card, sizeof(c->card), "fake-m2m-jpeg");
		c->device_caps = V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_STREAMING;
		c->capabilities = c->device_caps | V4L2_CAP_DEVICE_CAPS;
		return 0;
	}
	case VIDIOC_ENUM_FMT: {
		struct v4l2_fmtdesc *d = arg;
		static const uint32_t outs[] = {V4L2_PIX_FMT_YUV420, V4L2_PIX_FMT_YUYV,
						V4L2_PIX_FMT_UYVY};
		if (d->type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE && d->index < 3) {
			d->pixelformat = outs[d->index];
			return 0;
		}
		if (d->type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE && d->index == 0) {
			d->pixelformat = V4L2_PIX_FMT_JPEG;
			return 0;
		}
		return fail(EINVAL);
	}
	case VIDIOC_S_FMT: {
		struct v4l2_format *f = arg;
		struct v4l2_pix_format_mplane *p = &f->fmt.pix_mp;
		if (!mp_type(f->type))
			return fail(EINVAL);
		if (f->type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE) {
			if (st.on_out)
				return fail(EBUSY);
			if (p->pixelformat != V4L2_PIX_FMT_UYVY)
				p->pixelformat = V4L2_PIX_FMT_YUYV; /* YUV420 is listed, not done */
			st.out_fmt = p->pixelformat;
			st.w = p->width;
			st.h = p->height;
			st.h_aligned = (p->height + 15) & ~15u;
			st.bpl = (p->width * 2 + 63) & ~63u;
			st.sizeimage = (size_t)st.bpl * st.h_aligned;
			p->height = st.h_aligned;
			p->plane_fmt[0].bytesperline = st.bpl;
			p->plane_fmt[0].sizeimage = (uint32_t)st.sizeimage;
		} else {
			p->pixelformat = V4L2_PIX_FMT_JPEG;
			p->plane_fmt[0].bytesperline = 0;
			p->plane_fmt[0].sizeimage = CAP_LEN;
		}
		p->num_planes = 1;
		p->field = V4L2_FIELD_NONE;
		return 0;
	}
	case VIDIOC_S_CTRL: {
		struct v4l2_control *c = arg;
		if (c->id != V4L2_CID_JPEG_COMPRESSION_QUALITY || c->value < 1 || c->value > 100)
			return fail(EINVAL);
		st.quality = c->value;
		return 0;
	}
	case VIDIOC_REQBUFS: {
		struct v4l2_requestbuffers *rb = arg;
		if (!mp_type(rb->type) || rb->memory != V4L2_MEMORY_MMAP)
			return fail(EINVAL);
		bool out = rb->type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
		struct buf *b = out ? st.out : st.cap;
		unsigned *n = out ? &st.n_out : &st.n_cap;
		if (out ? st.on_out : st.on_cap)
			return fail(EBUSY);
		free_bufs(b, n);
		unsigned want = rb->count > NBUF ? NBUF : rb->count;
		REAL(mmap, void *, void *, size_t, int, int, int, off_t);
		for (unsigned i = 0; i < want; i++) {
			b[i].len = out ? st.sizeimage : CAP_LEN;
			b[i].mem = real_mmap(NULL, b[i].len, PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (b[i].mem == MAP_FAILED) {
				b[i] = (struct buf){0};
				return fail(ENOMEM);
			}
			*n = i + 1;
		}
		rb->count = *n;
		return 0;
	}
	case VIDIOC_QUERYBUF:
	case VIDIOC_QBUF:
	case VIDIOC_DQBUF: {
		struct v4l2_buffer *b = arg;
		if (!mp_type(b->type) || b->memory != V4L2_MEMORY_MMAP || !b->m.planes ||
		    b->length < 1)
			return fail(EINVAL);
		bool out = b->type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
		struct buf *bufs = out ? st.out : st.cap;
		unsigned n = out ? st.n_out : st.n_cap;
		if (req == VIDIOC_DQBUF) {
			int *q = out ? st.done_out : st.done_cap;
			int *nq = out ? &st.n_done_out : &st.n_done_cap;
			if (*nq == 0)
				return fail(EAGAIN);
			unsigned i = (unsigned)q[0];
			memmove(q, q + 1, (size_t)(*nq - 1) * sizeof(int));
			(*nq)--;
			b->index = i;
			b->flags = bufs[i].flags;
			b->m.planes[0].bytesused = bufs[i].bytesused;
			b->m.planes[0].data_offset = 0;
			return 0;
		}
		if (b->index >= n)
			return fail(EINVAL);
		if (req == VIDIOC_QUERYBUF) {
			b->m.planes[0].length = (uint32_t)bufs[b->index].len;
			b->m.planes[0].m.mem_offset = (out ? 0 : CAP_OFF) + b->index * 0x1000000u;
			return 0;
		}
		if (bufs[b->index].queued)
			return fail(EINVAL);
		if (out && is_mode("fail"))
			return fail(ENODEV);
		bufs[b->index].queued = true;
		if (out)
			process(b->index);
		return 0;
	}
	case VIDIOC_STREAMON:
	case VIDIOC_STREAMOFF: {
		uint32_t t = (uint32_t) * (int *)arg;
		if (!mp_type(t))
			return fail(EINVAL);
		bool out = t == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, on = req == VIDIOC_STREAMON;
		*(out ? &st.on_out : &st.on_cap) = on;
		if (!on) {
			struct buf *b = out ? st.out : st.cap;
			for (unsigned i = 0; i < (out ? st.n_out : st.n_cap); i++)
				b[i].queued = false;
			*(out ? &st.n_done_out : &st.n_done_cap) = 0;
		}
		return 0;
	}
	default:
		return fail(ENOTTY);
	}
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	pthread_mutex_lock(&lock);
	if (fd >= 0 && fd == the_fd) {
		int r = fake_ioctl(req, arg);
		int e = errno;
		pthread_mutex_unlock(&lock);
		errno = e;
		return r;
	}
	pthread_mutex_unlock(&lock);
	REAL(ioctl, int, int, unsigned long, ...);
	return real_ioctl(fd, req, arg);
}

static void *fake_mmap(int fd, off_t off, size_t len, bool *mine)
{
	*mine = false;
	pthread_mutex_lock(&lock);
	void *r = MAP_FAILED;
	if (fd >= 0 && fd == the_fd) {
		*mine = true;
		bool cap = (uint64_t)off >= CAP_OFF;
		unsigned i = (unsigned)(((uint64_t)off - (cap ? CAP_OFF : 0)) / 0x1000000u);
		struct buf *b = cap ? st.cap : st.out;
		if (i < (cap ? st.n_cap : st.n_out) && len == b[i].len)
			r = b[i].mem;
		else
			errno = EINVAL;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	bool mine;
	void *r = fake_mmap(fd, off, len, &mine);
	if (mine)
		return r;
	REAL(mmap, void *, void *, size_t, int, int, int, off_t);
	return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	bool mine;
	void *r = fake_mmap(fd, off, len, &mine);
	if (mine)
		return r;
	REAL(mmap64, void *, void *, size_t, int, int, int, off_t);
	return real_mmap64(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; the_fd >= 0 && i < NBUF; i++) {
		if ((st.out[i].mem && st.out[i].mem == addr) ||
		    (st.cap[i].mem && st.cap[i].mem == addr)) {
			pthread_mutex_unlock(&lock);
			return 0; /* the buffer stays the device's until REQBUFS 0 or close */
		}
	}
	pthread_mutex_unlock(&lock);
	REAL(munmap, int, void *, size_t);
	return real_munmap(addr, len);
}

static int fake_poll(struct pollfd *fds, nfds_t n, int timeout, bool *mine)
{
	*mine = false;
	pthread_mutex_lock(&lock);
	if (n != 1 || fds[0].fd < 0 || fds[0].fd != the_fd) {
		pthread_mutex_unlock(&lock);
		return 0;
	}
	*mine = true;
	fds[0].revents = 0;
	if ((fds[0].events & POLLIN) && st.n_done_cap)
		fds[0].revents |= POLLIN;
	if ((fds[0].events & POLLOUT) && st.n_done_out)
		fds[0].revents |= POLLOUT;
	pthread_mutex_unlock(&lock);
	if (fds[0].revents)
		return 1;
	if (timeout > 0) { /* nothing will come: a stalled device */
		struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return 0;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	bool mine;
	int r = fake_poll(fds, n, timeout, &mine);
	if (mine)
		return r;
	REAL(poll, int, struct pollfd *, nfds_t, int);
	return real_poll(fds, n, timeout);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	bool mine;
	int r = fake_poll(fds, n, timeout, &mine);
	if (mine)
		return r;
	REAL(__poll_chk, int, struct pollfd *, nfds_t, int, size_t);
	return real___poll_chk(fds, n, timeout, fdslen);
}
