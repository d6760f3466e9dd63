/*
 * vsb_producer: the "driver" behind the fake V4L2 device of bench/vs_ustreamer (vsb.h says
 * how it shares buffers with the LD_PRELOAD shim in the daemon). A process of its own, so
 * the CPU it spends making frames is counted against neither daemon.
 *
 *   vsb_producer --socket PATH --shm PATH [--format yuyv|uyvy|mjpeg]
 *                [--scene desktop|static] [--input usb|hdmi] [--quality N]
 *
 * Frames come from the pattern source's scenes (src/video/source_pattern.c) at 1920x1080,
 * 60 fps, paced by its timer. YUYV or UYVY: each frame is copied into the oldest buffer the
 * daemon has queued. --input hdmi makes the device an HDMI bridge's (DV timings, see the
 * shim) instead of a UVC dongle's. MJPEG (a USB dongle): 2 s of the scene are encoded once at start
 * (quality 80, 4:2:2) and cycled. A frame is written only into a queued buffer; when none is queued
 * the frame is dropped, as a driver does, and its sequence number is skipped. The buffer's
 * timestamp is CLOCK_MONOTONIC when the copy is complete.
 *
 * Prints "ready" (with where the dequeue log lies in the shm file) on stdout once it listens.
 * Serves one daemon at a time; a daemon going away (its connection closes) resets the device for
 * the next one. Ends on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
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

#include "core/buf.h"
#include "core/log.h"
#include "vsb.h"
#include "video/jpeg.h"
#include "video/source_pattern.h"

enum { WIDTH = 1920, HEIGHT = 1080, FPS = 60, MJPEG_FRAMES = 120 };

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "vsb_producer: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void lock(struct vsb_shm *s)
{
	if (pthread_mutex_lock(&s->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&s->lock);
}

static void unlock(struct vsb_shm *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* The device is gone from the daemon: every buffer back, nothing streaming. */
static void reset(struct vsb_shm *s)
{
	lock(s);
	s->streaming = 0;
	s->nbufs = 0;
	for (unsigned i = 0; i < VSB_MAX_BUFS; i++)
		s->bufs[i].state = VSB_USER;
	unlock(s);
}

/* Sends the shm fd and a new pipe's read end; returns the write end, or -1. */
static int accept_daemon(int conn, int shmfd)
{
	int p[2];
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	int fds[2] = {shmfd, p[0]};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(fds))];
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct iovec iov = {.iov_base = "ok", .iov_len = 2};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cm.buf,
			    .msg_controllen = sizeof(cm.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	ssize_t n = sendmsg(conn, &mh, MSG_NOSIGNAL);
	close(p[0]);
	if (n != 2) {
		close(p[1]);
		return -1;
	}
	return p[1];
}

/* Writes one frame into the oldest queued buffer, or counts it dropped. */
static void deliver(struct vsb_shm *s, uint8_t *bufs, int pipe_w, const uint8_t *data, size_t len,
		    uint32_t seq)
{
	lock(s);
	s->frames++;
	int best = -1;
	if (s->streaming)
		for (unsigned i = 0; i < s->nbufs; i++)
			if (s->bufs[i].state == VSB_QUEUED &&
			    (best < 0 || s->bufs[i].order < s->bufs[best].order))
				best = (int)i;
	if (best < 0 || pipe_w < 0) {
		s->dropped++;
		unlock(s);
		return;
	}
	struct vsb_buf *b = &s->bufs[best];
	b->state = VSB_FILLING;
	unlock(s);

	if (len > s->sizeimage)
		len = s->sizeimage;
	memcpy(bufs + (size_t)best * s->buf_stride, data, len);
	int64_t ts = mono_us();

	lock(s);
	b->state = VSB_DONE;
	b->order = s->next_order++;
	b->bytesused = (uint32_t)len;
	b->sequence = seq;
	b->ts_us = ts;
	s->filled++;
	/* A failed write means the daemon is gone; its connection's hang-up resets the device. */
	ssize_t w = write(pipe_w, "f", 1);
	(void)w;
	unlock(s);
}

int main(int argc, char **argv)
{
	const char *sock_path = NULL, *shm_path = NULL, *format = "yuyv", *scene = "desktop";
	const char *input = "usb";
	int quality = 80;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			goto usage;
		if (strcmp(a, "--socket") == 0)
			sock_path = v;
		else if (strcmp(a, "--shm") == 0)
			shm_path = v;
		else if (strcmp(a, "--format") == 0)
			format = v;
		else if (strcmp(a, "--scene") == 0)
			scene = v;
		else if (strcmp(a, "--input") == 0)
			input = v;
		else if (strcmp(a, "--quality") == 0)
			quality = atoi(v);
		else
			goto usage;
	}
	bool mjpeg = strcmp(format, "mjpeg") == 0, uyvy = strcmp(format, "uyvy") == 0;
	bool hdmi = strcmp(input, "hdmi") == 0;
	if (!sock_path || !shm_path || (!mjpeg && !uyvy && strcmp(format, "yuyv") != 0) ||
	    (!hdmi && strcmp(input, "usb") != 0) || quality < 1 || quality > 100)
		goto usage;
	ipkvm_log_set_level(IPKVM_LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* the scene */
	char err[256];
	struct ipkvm_pattern_config pc = {.width = WIDTH,
					  .height = HEIGHT,
					  .fps = FPS,
					  .format = uyvy ? IPKVM_FMT_UYVY : IPKVM_FMT_YUYV,
					  .scene = scene};
	struct ipkvm_source *src = ipkvm_source_pattern_create(&pc, err, sizeof(err));
	if (!src) {
		fprintf(stderr, "vsb_producer: %s\n", err);
		return 1;
	}
	if (src->ops->open(src) < 0 || src->ops->start(src) < 0) {
		fprintf(stderr, "vsb_producer: the pattern source does not start\n");
		return 1;
	}
	struct pollfd sp = {.fd = src->ops->fd(src), .events = POLLIN};

	/* MJPEG: the scene's first 2 s, encoded once */
	struct ipkvm_buf *jpegs[MJPEG_FRAMES] = {0};
	unsigned njpeg = 0;
	size_t max_jpeg = 0;
	if (mjpeg) {
		struct ipkvm_jpeg *enc = ipkvm_jpeg_create();
		unsigned want = strcmp(scene, "static") == 0 ? 1 : MJPEG_FRAMES;
		while (enc && njpeg < want) {
			struct ipkvm_frame *f = NULL;
			if (poll(&sp, 1, 1000) <= 0 || src->ops->next(src, &f) < 0 || !f)
				continue;
			if (ipkvm_jpeg_encode(enc, f, quality, false, &jpegs[njpeg]) < 0) {
				fprintf(stderr, "vsb_producer: JPEG encoding failed\n");
				return 1;
			}
			if (jpegs[njpeg]->len > max_jpeg)
				max_jpeg = jpegs[njpeg]->len;
			njpeg++;
			ipkvm_frame_unref(f);
		}
		ipkvm_jpeg_destroy(enc);
		if (njpeg < want) {
			fprintf(stderr, "vsb_producer: cannot make the MJPEG frames\n");
			return 1;
		}
	}

	/* the shared memory */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t sizeimage = mjpeg ? max_jpeg + 64 * 1024 : (size_t)WIDTH * HEIGHT * 2;
	size_t stride = (sizeimage + page - 1) / page * page;
	size_t total = VSB_HDR_SIZE + VSB_MAX_BUFS * stride;
	int shmfd = open(shm_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (shmfd < 0)
		die(shm_path);
	if (ftruncate(shmfd, (off_t)total) < 0)
		die("ftruncate");
	uint8_t *mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, shmfd, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	struct vsb_shm *s = (struct vsb_shm *)mem;
	uint8_t *bufs = mem + VSB_HDR_SIZE;
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&s->lock, &ma);
	s->pixfmt = mjpeg ? V4L2_PIX_FMT_MJPEG : uyvy ? V4L2_PIX_FMT_UYVY : V4L2_PIX_FMT_YUYV;
	s->dv = hdmi;
	s->width = WIDTH;
	s->height = HEIGHT;
	s->fps = FPS;
	s->bytesperline = mjpeg ? 0 : WIDTH * 2;
	s->sizeimage = (uint32_t)sizeimage;
	s->buf_stride = (uint32_t)stride;
	s->magic = VSB_MAGIC;

	/* the socket */
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "vsb_producer: socket path too long\n");
		return 1;
	}
	strcpy(sun.sun_path, sock_path);
	unlink(sock_path);
	int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(ls, 4) < 0)
		die(sock_path);
	/* where the dequeue log is, for tests that read it (vsb.h) */
	printf("ready dq_count=%zu dq=%zu dq_size=%zu\n", offsetof(struct vsb_shm, dq_count),
	       offsetof(struct vsb_shm, dq), sizeof(struct vsb_dq));
	fflush(stdout);

	int conn = -1, pipe_w = -1;
	while (!stop) {
		struct pollfd p[3] = {{.fd = sp.fd, .events = POLLIN},
				      {.fd = ls, .events = POLLIN},
				      {.fd = conn, .events = POLLIN}};
		int n = poll(p, conn >= 0 ? 3 : 2, 1000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[1].revents & POLLIN) {
			int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0 && conn >= 0) {
				send(c, "busy", 4, MSG_NOSIGNAL);
				close(c);
			} else if (c >= 0) {
				reset(s);
				pipe_w = accept_daemon(c, shmfd);
				if (pipe_w < 0)
					close(c);
				else
					conn = c;
			}
		}
		if (conn >= 0 && p[2].revents) {
			char b[16];
			if (recv(conn, b, sizeof(b), MSG_DONTWAIT) <= 0) {
				reset(s);
				close(conn);
				close(pipe_w);
				conn = pipe_w = -1;
			}
		}
		if (p[0].revents & POLLIN) {
			struct ipkvm_frame *f = NULL;
			if (src->ops->next(src, &f) < 0 || !f)
				continue;
			if (mjpeg) {
				const struct ipkvm_buf *j = jpegs[f->seq % njpeg];
				deliver(s, bufs, pipe_w, j->data, j->len, (uint32_t)f->seq);
			} else {
				deliver(s, bufs, pipe_w, f->data, f->size, (uint32_t)f->seq);
			}
			ipkvm_frame_unref(f);
		}
	}
	if (conn >= 0)
		close(conn);
	unlink(sock_path);
	src->ops->stop(src);
	src->ops->close(src);
	src->ops->destroy(src);
	for (unsigned i = 0; i < njpeg; i++)
		ipkvm_buf_unref(jpegs[i]);
	return 0;
usage:
	fprintf(stderr, "usage: vsb_producer --socket PATH --shm PATH [--format yuyv|uyvy|mjpeg] "
			"[--scene desktop|static] [--input usb|hdmi] [--quality N]\n");
	return 2;
}
