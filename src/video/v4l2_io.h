/*
 * v4l2_io: the system calls source_v4l2.c makes, behind a table so the unit tests can put a
 * fake V4L2 device behind them (no capture hardware exists where the tests run).
 *
 * Production code never calls the setter; the default table points at the real open,
 * close, ioctl, mmap and munmap. A table rather than linker --wrap keeps the build plain and
 * leaves ASan's own interceptors for those calls alone.
 */
#ifndef IPKVM_VIDEO_V4L2_IO_H
#define IPKVM_VIDEO_V4L2_IO_H

#include <stddef.h>
#include <sys/types.h>

struct ipkvm_v4l2_io {
	int (*open)(const char *path, int flags);
	int (*close)(int fd);
	/* Same contract as ioctl(2): -1 with errno set on failure. */
	int (*ioctl)(int fd, unsigned long request, void *arg);
	void *(*mmap)(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
	int (*munmap)(void *addr, size_t length);
};

/* Replaces the table (tests only); NULL restores the real calls. Not synchronised: call it
 * while no V4L2 source is in use. */
void ipkvm_v4l2_set_io(const struct ipkvm_v4l2_io *io);

#endif
