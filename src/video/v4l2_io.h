/*
 * v4l2_io: the system calls the V4L2 code makes (the capture source, source_v4l2.c, and the
 * hardware encoders through v4l2_m2m.c), behind one table so the unit tests can put a fake
 * V4L2 device behind them (no capture or encoder hardware exists where the tests run).
 *
 * Production code never calls the setter; the default table points at the real open,
 * close, ioctl, mmap, munmap, poll and the monotonic clock. A table rather than linker --wrap keeps
 * the build plain and leaves ASan's own interceptors for those calls alone.
 */
#ifndef IPKVM_VIDEO_V4L2_IO_H
#define IPKVM_VIDEO_V4L2_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pollfd;

struct ipkvm_v4l2_io {
	int (*open)(const char *path, int flags);
	int (*close)(int fd);
	/* Same contracts as ioctl(2) and poll(2): -1 with errno set on failure. */
	int (*ioctl)(int fd, unsigned long request, void *arg);
	void *(*mmap)(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
	int (*munmap)(void *addr, size_t length);
	int (*poll)(struct pollfd *fds, unsigned long nfds, int timeout_ms);
	/* CLOCK_MONOTONIC in milliseconds (how long a device has sent nothing); NULL in a
	 * table is the real clock. */
	int64_t (*mono_ms)(void);
};

/* Replaces the table (tests only); NULL restores the real calls. Not synchronised: call it
 * while no V4L2 device is in use. */
void ipkvm_v4l2_set_io(const struct ipkvm_v4l2_io *io);

/* The table in use. */
const struct ipkvm_v4l2_io *ipkvm_v4l2_sys(void);

/* The clock through the table. */
int64_t ipkvm_v4l2_mono_ms(void);

/* ioctl through the table: 0 or -errno (-EIO when the call failed without errno), retried
 * on EINTR. */
int ipkvm_v4l2_xioctl(int fd, unsigned long request, void *arg);

#endif
