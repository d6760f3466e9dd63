/*
 * test_v4l2_io: the shared V4L2 system-call table: the setter swaps it and NULL restores the
 * real calls, and ipkvm_v4l2_xioctl retries EINTR and turns failures into -errno.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/ioctl.h>
#include <errno.h>

#include "video/v4l2_io.h"

static int calls, eintr_left, fail_errno; /* fail_errno -1: the call succeeds */

static int fake_ioctl(int fd, unsigned long request, void *arg)
{
	(void)fd;
	(void)request;
	(void)arg;
	calls++;
	if (eintr_left > 0) {
		eintr_left--;
		errno = EINTR;
		return -1;
	}
	if (fail_errno >= 0) {
		errno = fail_errno;
		return -1;
	}
	return 0;
}

static const struct ipkvm_v4l2_io fake = {.ioctl = fake_ioctl};

static int setup(void **state)
{
	(void)state;
	calls = eintr_left = 0;
	fail_errno = -1;
	ipkvm_v4l2_set_io(&fake);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ipkvm_v4l2_set_io(NULL);
	return 0;
}

static void test_table_is_swapped_and_restored(void **state)
{
	assert_ptr_equal(ipkvm_v4l2_sys(), &fake);
	ipkvm_v4l2_set_io(NULL);
	const struct ipkvm_v4l2_io *real = ipkvm_v4l2_sys();
	assert_ptr_not_equal(real, &fake);
	assert_non_null(real->open);
	assert_non_null(real->close);
	assert_non_null(real->ioctl);
	assert_non_null(real->mmap);
	assert_non_null(real->munmap);
	assert_non_null(real->poll);
	/* the real ioctl on a closed descriptor (a request every emulator knows: qemu-user
	 * answers ENOSYS for the ones it does not translate) */
	int n = 0;
	assert_int_equal(ipkvm_v4l2_xioctl(-1, FIONREAD, &n), -EBADF);
}

static void test_xioctl_succeeds(void **state)
{
	assert_int_equal(ipkvm_v4l2_xioctl(3, 1, NULL), 0);
	assert_int_equal(calls, 1);
}

static void test_xioctl_retries_eintr(void **state)
{
	eintr_left = 3;
	assert_int_equal(ipkvm_v4l2_xioctl(3, 1, NULL), 0);
	assert_int_equal(calls, 4);
}

static void test_xioctl_returns_minus_errno(void **state)
{
	fail_errno = EBUSY;
	assert_int_equal(ipkvm_v4l2_xioctl(3, 1, NULL), -EBUSY);
	assert_int_equal(calls, 1); /* no retry for anything but EINTR */
}

static void test_xioctl_failure_without_errno_is_eio(void **state)
{
	fail_errno = 0;
	assert_int_equal(ipkvm_v4l2_xioctl(3, 1, NULL), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_table_is_swapped_and_restored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_xioctl_succeeds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_xioctl_retries_eintr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_xioctl_returns_minus_errno, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_xioctl_failure_without_errno_is_eio, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
