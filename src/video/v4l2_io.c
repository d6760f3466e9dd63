/*
 * v4l2_io: the one table of V4L2 system calls (see v4l2_io.h), shared by the capture source
 * and the M2M encoder so both are faked the same way in tests and retry ioctls alike.
 */
#include "video/v4l2_io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/util.h"

static int real_open(const char *path, int flags)
{
	return open(path, flags);
}

static int real_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

static int real_poll(struct pollfd *fds, unsigned long nfds, int timeout_ms)
{
	return poll(fds, (nfds_t)nfds, timeout_ms);
}

static const struct ipkvm_v4l2_io real_io = {
    .open = real_open,
    .close = close,
    .ioctl = real_ioctl,
    .mmap = mmap,
    .munmap = munmap,
    .poll = real_poll,
    .mono_ms = ipkvm_mono_ms,
};

static const struct ipkvm_v4l2_io *io = &real_io;

void ipkvm_v4l2_set_io(const struct ipkvm_v4l2_io *table)
{
	io = table ? table : &real_io;
}

const struct ipkvm_v4l2_io *ipkvm_v4l2_sys(void)
{
	return io;
}

int64_t ipkvm_v4l2_mono_ms(void)
{
	return io->mono_ms ? io->mono_ms() : ipkvm_mono_ms();
}

int ipkvm_v4l2_xioctl(int fd, unsigned long request, void *arg)
{
	int r;
	do {
		r = io->ioctl(fd, request, arg);
	} while (r == -1 && errno == EINTR);
	if (r < 0)
		return errno > 0 ? -errno : -EIO;
	return 0;
}
