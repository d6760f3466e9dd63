/*
 * v4l2_m2m: the mem2mem plumbing of the hardware encoders (see v4l2_m2m.h).
 */
#include "video/v4l2_m2m.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>

#include "video/v4l2_io.h"

int ipkvm_m2m_enum_formats(int fd, uint32_t type, uint32_t *list, unsigned max, unsigned *n)
{
	*n = 0;
	for (unsigned i = 0; i < 64 && *n < max; i++) {
		struct v4l2_fmtdesc d = {.index = i, .type = type};
		int r = ipkvm_v4l2_xioctl(fd, VIDIOC_ENUM_FMT, &d);
		if (r == -EINVAL)
			break;
		if (r < 0)
			return r;
		list[(*n)++] = d.pixelformat;
	}
	return 0;
}

void ipkvm_m2m_buf_init(bool mplane, struct v4l2_buffer *b, struct v4l2_plane *plane, uint32_t type,
			unsigned i)
{
	memset(b, 0, sizeof(*b));
	memset(plane, 0, sizeof(*plane));
	b->type = type;
	b->memory = V4L2_MEMORY_MMAP;
	b->index = i;
	if (mplane) {
		b->m.planes = plane;
		b->length = 1;
	}
}

int ipkvm_m2m_set_format(int fd, bool mplane, uint32_t type, uint32_t fourcc, unsigned w,
			 unsigned h, unsigned extra_h, size_t *bpl, size_t *sizeimage,
			 unsigned *got_h)
{
	struct v4l2_format fmt = {.type = type};
	if (mplane) {
		fmt.fmt.pix_mp.width = w;
		fmt.fmt.pix_mp.height = h;
		fmt.fmt.pix_mp.pixelformat = fourcc;
		fmt.fmt.pix_mp.field = V4L2_FIELD_NONE;
		fmt.fmt.pix_mp.num_planes = 1;
	} else {
		fmt.fmt.pix.width = w;
		fmt.fmt.pix.height = h;
		fmt.fmt.pix.pixelformat = fourcc;
		fmt.fmt.pix.field = V4L2_FIELD_NONE;
	}
	int r = ipkvm_v4l2_xioctl(fd, VIDIOC_S_FMT, &fmt);
	if (r < 0)
		return r;
	uint32_t gw = mplane ? fmt.fmt.pix_mp.width : fmt.fmt.pix.width;
	uint32_t gh = mplane ? fmt.fmt.pix_mp.height : fmt.fmt.pix.height;
	uint32_t gf = mplane ? fmt.fmt.pix_mp.pixelformat : fmt.fmt.pix.pixelformat;
	if (gw != w || gh < h || gh > h + extra_h || gf != fourcc)
		return -ERANGE;
	if (bpl)
		*bpl = mplane ? fmt.fmt.pix_mp.plane_fmt[0].bytesperline : fmt.fmt.pix.bytesperline;
	if (sizeimage)
		*sizeimage = mplane ? fmt.fmt.pix_mp.plane_fmt[0].sizeimage : fmt.fmt.pix.sizeimage;
	if (got_h)
		*got_h = gh;
	return 0;
}

int ipkvm_m2m_map(int fd, bool mplane, uint32_t type, struct ipkvm_m2m_buf *bufs, unsigned want,
		  unsigned *n)
{
	struct v4l2_requestbuffers rb = {.count = want, .type = type, .memory = V4L2_MEMORY_MMAP};
	int r = ipkvm_v4l2_xioctl(fd, VIDIOC_REQBUFS, &rb);
	if (r < 0)
		return r;
	if (rb.count == 0)
		return -ENOMEM;
	/* The driver may give more than asked (bcm2835: its minimum): all of them are the
	 * device's, but only the first `want` are used. */
	*n = rb.count < want ? rb.count : want;
	for (unsigned i = 0; i < *n; i++) {
		struct v4l2_buffer b;
		struct v4l2_plane p;
		ipkvm_m2m_buf_init(mplane, &b, &p, type, i);
		r = ipkvm_v4l2_xioctl(fd, VIDIOC_QUERYBUF, &b);
		if (r < 0)
			return r;
		size_t len = mplane ? p.length : b.length;
		off_t off = mplane ? (off_t)p.m.mem_offset : (off_t)b.m.offset;
		void *addr =
		    ipkvm_v4l2_sys()->mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
		if (addr == MAP_FAILED)
			return errno > 0 ? -errno : -ENOMEM;
		bufs[i].start = addr;
		bufs[i].length = len;
	}
	return 0;
}

int ipkvm_m2m_queue_cap(int fd, bool mplane, uint32_t type, struct ipkvm_m2m_buf *bufs, unsigned i)
{
	struct v4l2_buffer b;
	struct v4l2_plane p;
	ipkvm_m2m_buf_init(mplane, &b, &p, type, i);
	if (mplane)
		p.length = (uint32_t)bufs[i].length;
	else
		b.length = (uint32_t)bufs[i].length;
	int r = ipkvm_v4l2_xioctl(fd, VIDIOC_QBUF, &b);
	if (r == 0)
		bufs[i].queued = true;
	return r;
}

void ipkvm_m2m_release(int fd, uint32_t out_type, uint32_t cap_type, bool *streaming,
		       struct ipkvm_m2m_buf *out, unsigned *n_out, size_t out_size,
		       struct ipkvm_m2m_buf *cap, unsigned *n_cap, size_t cap_size)
{
	if (*streaming) {
		int t = (int)out_type;
		ipkvm_v4l2_xioctl(fd, VIDIOC_STREAMOFF, &t);
		t = (int)cap_type;
		ipkvm_v4l2_xioctl(fd, VIDIOC_STREAMOFF, &t);
		*streaming = false;
	}
	for (unsigned i = 0; i < *n_out; i++)
		if (out[i].start)
			ipkvm_v4l2_sys()->munmap(out[i].start, out[i].length);
	for (unsigned i = 0; i < *n_cap; i++)
		if (cap[i].start)
			ipkvm_v4l2_sys()->munmap(cap[i].start, cap[i].length);
	if (*n_out || *n_cap) {
		struct v4l2_requestbuffers rb = {.count = 0, .memory = V4L2_MEMORY_MMAP};
		rb.type = out_type;
		ipkvm_v4l2_xioctl(fd, VIDIOC_REQBUFS, &rb);
		rb.type = cap_type;
		rb.count = 0;
		ipkvm_v4l2_xioctl(fd, VIDIOC_REQBUFS, &rb);
	}
	memset(out, 0, out_size);
	memset(cap, 0, cap_size);
	*n_out = *n_cap = 0;
}

void ipkvm_m2m_reclaim_out(int fd, bool mplane, uint32_t out_type, struct ipkvm_m2m_buf *out,
			   unsigned n_out)
{
	for (;;) {
		struct v4l2_buffer b;
		struct v4l2_plane p;
		ipkvm_m2m_buf_init(mplane, &b, &p, out_type, 0);
		if (ipkvm_v4l2_xioctl(fd, VIDIOC_DQBUF, &b) < 0 || b.index >= n_out)
			return;
		out[b.index].queued = false;
	}
}

int ipkvm_m2m_free_out(int fd, bool mplane, uint32_t out_type, struct ipkvm_m2m_buf *out,
		       unsigned n_out, int wait_ms)
{
	for (int tries = 0; tries < 2; tries++) {
		ipkvm_m2m_reclaim_out(fd, mplane, out_type, out, n_out);
		for (unsigned i = 0; i < n_out; i++)
			if (!out[i].queued)
				return (int)i;
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		if (ipkvm_v4l2_sys()->poll(&pfd, 1, wait_ms) <= 0)
			break;
	}
	return -ETIMEDOUT;
}
