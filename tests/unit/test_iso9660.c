/*
 * Unit tests for target/iso9660: the volume label of tiny ISO 9660 images built here, byte
 * by byte (primary descriptor at sector 16 with a terminator after it; a supplementary
 * descriptor and a boot record before the primary one), read from memory and from files.
 * Then every way an image can be wrong, each with its exact error and code: every cut
 * length around the descriptors, garbage, wrong identifiers, no primary descriptor, a bad
 * descriptor version, non-printable label bytes, too small a label buffer, paths that are
 * not images. Files live in a mkdtemp() directory removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/iso9660.h"

#define SS IPKVM_ISO9660_SECTOR_SIZE

static char tmpdir[256];

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ipkvm-test-iso9660-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/image.iso", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dir", tmpdir);
	rmdir(path);
	return rmdir(tmpdir);
}

/* An image of nsect zeroed sectors. */
static uint8_t *image_new(size_t nsect)
{
	uint8_t *img = calloc(nsect, SS);
	assert_non_null(img);
	return img;
}

/* Writes a volume descriptor header (type, "CD001", version 1) into sector s. */
static void put_desc(uint8_t *img, size_t s, uint8_t type)
{
	uint8_t *d = img + s * SS;
	d[0] = type;
	memcpy(d + 1, "CD001", 5);
	d[6] = 1;
}

/* A descriptor with a volume identifier: id space-padded to 32 bytes at offset 40. */
static void put_desc_id(uint8_t *img, size_t s, uint8_t type, const char *id)
{
	put_desc(img, s, type);
	memset(img + s * SS + 40, ' ', 32);
	memcpy(img + s * SS + 40, id, strlen(id));
}

/* The basic image: PVD labelled IPKVM_TEST at 16, terminator at 17. */
static uint8_t *image_basic(size_t *size)
{
	uint8_t *img = image_new(18);
	put_desc_id(img, 16, 1, "IPKVM_TEST");
	put_desc(img, 17, 255);
	*size = 18 * SS;
	return img;
}

/* Joliet-style SVD at 16 (its UCS-2 identifier would be refused if it were read as the
 * label), PVD at 17, terminator at 18. */
static uint8_t *image_svd_first(size_t *size)
{
	uint8_t *img = image_new(19);
	put_desc(img, 16, 2);
	memcpy(img + 16 * SS + 40, "\0J\0O\0L\0I\0E\0T", 12);
	put_desc_id(img, 17, 1, "IPKVM_TEST");
	put_desc(img, 18, 255);
	*size = 19 * SS;
	return img;
}

static void write_image(const char *path, const uint8_t *img, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, img, size), (ssize_t)size);
	assert_int_equal(close(fd), 0);
}

/* Checks one image both from memory and from a file: same code, label and message. */
static void check_both(const uint8_t *img, size_t size, int want_rc, const char *want)
{
	char label[IPKVM_ISO9660_LABEL_SIZE], err[256];
	char path[512];

	memset(label, 'x', sizeof(label));
	int r = ipkvm_iso9660_label_mem(img, size, label, sizeof(label), err, sizeof(err));
	assert_int_equal(r, want_rc);
	if (want_rc == 0) {
		assert_string_equal(label, want);
		assert_string_equal(err, "");
	} else {
		assert_string_equal(err, want);
		assert_string_equal(label, "");
	}

	snprintf(path, sizeof(path), "%s/image.iso", tmpdir);
	write_image(path, img, size);
	memset(label, 'x', sizeof(label));
	r = ipkvm_iso9660_read_label(path, label, sizeof(label), err, sizeof(err));
	assert_int_equal(r, want_rc);
	if (want_rc == 0) {
		assert_string_equal(label, want);
		assert_string_equal(err, "");
	} else {
		assert_string_equal(err, want);
		assert_string_equal(label, "");
	}
}

static void test_basic_label(void **state)
{
	size_t size;
	uint8_t *img = image_basic(&size);
	check_both(img, size, 0, "IPKVM_TEST");
	/* A larger image (data after the descriptors) reads the same. */
	uint8_t *big = image_new(40);
	memcpy(big, img, size);
	memset(big + size, 0xa5, 40 * SS - size);
	check_both(big, 40 * SS, 0, "IPKVM_TEST");
	free(big);
	free(img);
}

static void test_supplementary_before_primary(void **state)
{
	size_t size;
	uint8_t *img = image_svd_first(&size);
	check_both(img, size, 0, "IPKVM_TEST");
	free(img);

	/* Boot record (El Torito), SVD, then PVD: the scan walks past both. */
	img = image_new(20);
	put_desc(img, 16, 0);
	memcpy(img + 16 * SS + 7, "EL TORITO SPECIFICATION", 23);
	put_desc(img, 17, 2);
	put_desc_id(img, 18, 1, "Debian 12.5.0 amd64 n");
	put_desc(img, 19, 255);
	check_both(img, 20 * SS, 0, "Debian 12.5.0 amd64 n");
	free(img);
}

static void test_label_padding(void **state)
{
	size_t size;
	uint8_t *img = image_basic(&size);

	/* All spaces: an empty label, not an error. */
	memset(img + 16 * SS + 40, ' ', 32);
	check_both(img, size, 0, "");
	/* NUL padding is padding too. */
	memset(img + 16 * SS + 40, 0, 32);
	memcpy(img + 16 * SS + 40, "CDROM", 5);
	check_both(img, size, 0, "CDROM");
	/* Mixed trailing spaces and NULs. */
	memcpy(img + 16 * SS + 40, "CDROM  \0 \0", 10);
	check_both(img, size, 0, "CDROM");
	/* Inner spaces stay; leading spaces stay (shown as-is). */
	memset(img + 16 * SS + 40, ' ', 32);
	memcpy(img + 16 * SS + 40, " MY DISK", 8);
	check_both(img, size, 0, " MY DISK");
	/* All 32 bytes used. */
	memcpy(img + 16 * SS + 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", 32);
	check_both(img, size, 0, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345");
	free(img);
}

static void test_label_buffer_size(void **state)
{
	size_t size;
	uint8_t *img = image_basic(&size);
	char label[64], err[256];

	/* "IPKVM_TEST" is 10 bytes: 11 fits, 10 does not. */
	assert_int_equal(ipkvm_iso9660_label_mem(img, size, label, 11, err, sizeof(err)), 0);
	assert_string_equal(label, "IPKVM_TEST");
	memset(label, 'x', sizeof(label));
	assert_int_equal(ipkvm_iso9660_label_mem(img, size, label, 10, err, sizeof(err)),
			 -ENAMETOOLONG);
	assert_string_equal(err, "label buffer too small (10 bytes for a 10-byte label)");
	assert_string_equal(label, "");
	/* A zero-sized buffer is not written to. */
	label[0] = 'x';
	assert_int_equal(ipkvm_iso9660_label_mem(img, size, label, 0, err, sizeof(err)),
			 -ENAMETOOLONG);
	assert_int_equal(label[0], 'x');
	/* err may be NULL. */
	assert_int_equal(ipkvm_iso9660_label_mem(img, size, label, sizeof(label), NULL, 0), 0);
	assert_string_equal(label, "IPKVM_TEST");
	assert_int_equal(ipkvm_iso9660_label_mem(img, 100, label, sizeof(label), NULL, 0), -EINVAL);
	free(img);
}

/* Every cut length from 0 up to the whole image, around and inside the descriptors. */
static void test_truncated(void **state)
{
	size_t size;
	char want[128];
	uint8_t *img = image_basic(&size);

	/* Cuts far below sector 16. */
	static const size_t small[] = {0, 1, 2047, 2048, 15 * SS, 16 * SS - 1};
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		snprintf(want, sizeof(want), "file too small to be an ISO 9660 image (%zu bytes)",
			 small[i]);
		check_both(img, small[i], -EINVAL, want);
	}
	/* Every cut inside sector 16 (the PVD itself). */
	for (size_t cut = 16 * SS; cut < 17 * SS; cut++) {
		snprintf(want, sizeof(want), "file too small to be an ISO 9660 image (%zu bytes)",
			 cut);
		check_both(img, cut, -EINVAL, want);
	}
	/* A whole PVD is enough: the terminator after it is not needed. */
	for (size_t cut = 17 * SS; cut <= 18 * SS; cut += 256)
		check_both(img, cut, 0, "IPKVM_TEST");
	check_both(img, 17 * SS + 1, 0, "IPKVM_TEST");
	check_both(img, 18 * SS - 1, 0, "IPKVM_TEST");
	free(img);

	/* SVD first: cut anywhere inside the PVD's sector 17. */
	img = image_svd_first(&size);
	for (size_t cut = 17 * SS; cut < 18 * SS; cut++)
		check_both(img, cut, -EINVAL,
			   "volume descriptor set runs past the end of the image (sector 17)");
	check_both(img, 18 * SS, 0, "IPKVM_TEST");
	free(img);

	/* SVD then terminator missing from a cut image: the set runs off the end. */
	img = image_new(17);
	put_desc(img, 16, 2);
	check_both(img, 17 * SS, -EINVAL,
		   "volume descriptor set runs past the end of the image (sector 17)");
	free(img);
}

/* xorshift64: reproducible garbage. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_garbage(void **state)
{
	size_t size = 20 * SS;
	uint8_t *img = image_new(20);
	static const uint64_t seeds[] = {1, 0x9e3779b97f4a7c15ull, 42, 0xdeadbeefull};

	for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
		uint64_t s = seeds[k];
		for (size_t i = 0; i < size; i++)
			img[i] = (uint8_t)(next_rand(&s) >> 56);
		check_both(img, size, -EINVAL, "no ISO 9660 volume descriptor at sector 16");
	}
	/* All zeros (a blank disk image). */
	memset(img, 0, size);
	check_both(img, size, -EINVAL, "no ISO 9660 volume descriptor at sector 16");
	/* Garbage everywhere but sector 16 holding a good PVD: still found. */
	put_desc_id(img, 16, 1, "IPKVM_TEST");
	check_both(img, size, 0, "IPKVM_TEST");
	/* Garbage after an SVD where the PVD should be. */
	uint64_t s = 7;
	for (size_t i = 17 * SS; i < size; i++)
		img[i] = (uint8_t)(next_rand(&s) >> 56);
	put_desc(img, 16, 2);
	check_both(img, size, -EINVAL, "bad volume descriptor at sector 17 (no CD001 identifier)");
	free(img);
}

static void test_wrong_identifier(void **state)
{
	size_t size;
	uint8_t *img = image_basic(&size);

	/* Each byte of "CD001" wrong in turn. */
	for (size_t i = 0; i < 5; i++) {
		uint8_t saved = img[16 * SS + 1 + i];
		img[16 * SS + 1 + i] = 'X';
		check_both(img, size, -EINVAL, "no ISO 9660 volume descriptor at sector 16");
		img[16 * SS + 1 + i] = saved;
	}
	/* Lower case is not the standard identifier. */
	memcpy(img + 16 * SS + 1, "cd001", 5);
	check_both(img, size, -EINVAL, "no ISO 9660 volume descriptor at sector 16");
	/* A UDF-only image: "BEA01" at sector 16. */
	memcpy(img + 16 * SS + 1, "BEA01", 5);
	check_both(img, size, -EINVAL, "no ISO 9660 volume descriptor at sector 16");
	/* The identifier one byte off (at offset 0). */
	memcpy(img + 16 * SS, "CD001", 5);
	check_both(img, size, -EINVAL, "no ISO 9660 volume descriptor at sector 16");
	/* The PVD one sector early (at 15). */
	memset(img + 16 * SS, 0, SS);
	put_desc_id(img, 15, 1, "IPKVM_TEST");
	check_both(img, size, -EINVAL, "no ISO 9660 volume descriptor at sector 16");
	free(img);
}

static void test_missing_primary(void **state)
{
	uint8_t *img = image_new(18);
	/* SVD then terminator. */
	put_desc(img, 16, 2);
	put_desc(img, 17, 255);
	check_both(img, 18 * SS, -EINVAL, "no primary volume descriptor");
	/* Terminator alone. */
	put_desc(img, 16, 255);
	check_both(img, 18 * SS, -EINVAL, "no primary volume descriptor");
	/* A PVD after the terminator does not count. */
	put_desc_id(img, 17, 1, "LATE");
	check_both(img, 18 * SS, -EINVAL, "no primary volume descriptor");
	free(img);

	/* No terminator and no PVD within the cap. */
	size_t n = 16 + IPKVM_ISO9660_MAX_DESCRIPTORS + 1;
	img = image_new(n);
	for (size_t s = 16; s < n; s++)
		put_desc(img, s, 2);
	check_both(img, n * SS, -EINVAL,
		   "no primary volume descriptor in the first 64 descriptors");
	/* The last descriptor within the cap is still looked at. */
	put_desc_id(img, 16 + IPKVM_ISO9660_MAX_DESCRIPTORS - 1, 1, "LAST");
	check_both(img, n * SS, 0, "LAST");
	free(img);
}

static void test_primary_version(void **state)
{
	size_t size;
	uint8_t *img = image_basic(&size);
	img[16 * SS + 6] = 2;
	check_both(img, size, -EINVAL,
		   "primary volume descriptor at sector 16 has version 2 (expected 1)");
	img[16 * SS + 6] = 0;
	check_both(img, size, -EINVAL,
		   "primary volume descriptor at sector 16 has version 0 (expected 1)");
	free(img);

	/* Other descriptors' versions are not ours to check (enhanced SVDs are version 2). */
	img = image_svd_first(&size);
	img[16 * SS + 6] = 2;
	check_both(img, size, 0, "IPKVM_TEST");
	free(img);
}

static void test_non_printable(void **state)
{
	size_t size;
	uint8_t *img = image_basic(&size);
	uint8_t *id = img + 16 * SS + 40;

	id[3] = 0x01;
	check_both(img, size, -EINVAL, "volume label has a non-printable byte 0x01 at position 3");
	id[3] = '\t';
	check_both(img, size, -EINVAL, "volume label has a non-printable byte 0x09 at position 3");
	id[3] = 0x7f;
	check_both(img, size, -EINVAL, "volume label has a non-printable byte 0x7f at position 3");
	id[3] = 0xff;
	check_both(img, size, -EINVAL, "volume label has a non-printable byte 0xff at position 3");
	/* A NUL inside the label (not trailing padding). */
	id[3] = 0x00;
	check_both(img, size, -EINVAL, "volume label has a non-printable byte 0x00 at position 3");
	/* UTF-8 is refused too. */
	memcpy(id, "CAF\xc3\xa9", 5);
	check_both(img, size, -EINVAL, "volume label has a non-printable byte 0xc3 at position 3");
	/* The first and the last byte. */
	memset(id, ' ', 32);
	id[0] = 0x1b;
	check_both(img, size, -EINVAL, "volume label has a non-printable byte 0x1b at position 0");
	id[0] = 'A';
	id[31] = 0x80;
	check_both(img, size, -EINVAL, "volume label has a non-printable byte 0x80 at position 31");
	/* Printable edges are fine. */
	memset(id, ' ', 32);
	memcpy(id, "!~ a", 4);
	check_both(img, size, 0, "!~ a");
	free(img);
}

static void test_paths(void **state)
{
	char label[IPKVM_ISO9660_LABEL_SIZE], err[256], path[512];

	snprintf(path, sizeof(path), "%s/missing.iso", tmpdir);
	assert_int_equal(ipkvm_iso9660_read_label(path, label, sizeof(label), err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "cannot open: No such file or directory");
	assert_string_equal(label, "");

	snprintf(path, sizeof(path), "%s/dir", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(ipkvm_iso9660_read_label(path, label, sizeof(label), err, sizeof(err)),
			 -EISDIR);
	assert_string_equal(err, "is a directory");

	/* A FIFO is refused at once, not waited on. */
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(ipkvm_iso9660_read_label(path, label, sizeof(label), err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "not a regular file or block device");

	/* An empty file. */
	snprintf(path, sizeof(path), "%s/image.iso", tmpdir);
	write_image(path, (const uint8_t *)"", 0);
	assert_int_equal(ipkvm_iso9660_read_label(path, label, sizeof(label), err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "file too small to be an ISO 9660 image (0 bytes)");

	/* An unreadable file (skipped as root, who reads everything). */
	if (geteuid() != 0) {
		size_t size;
		uint8_t *img = image_basic(&size);
		write_image(path, img, size);
		free(img);
		assert_int_equal(chmod(path, 0), 0);
		assert_int_equal(
		    ipkvm_iso9660_read_label(path, label, sizeof(label), err, sizeof(err)),
		    -EACCES);
		assert_string_equal(err, "cannot open: Permission denied");
	}

	/* NULL data with size 0. */
	assert_int_equal(ipkvm_iso9660_label_mem(NULL, 0, label, sizeof(label), err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "file too small to be an ISO 9660 image (0 bytes)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_label),
	    cmocka_unit_test(test_supplementary_before_primary),
	    cmocka_unit_test(test_label_padding),
	    cmocka_unit_test(test_label_buffer_size),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_wrong_identifier),
	    cmocka_unit_test(test_missing_primary),
	    cmocka_unit_test(test_primary_version),
	    cmocka_unit_test(test_non_printable),
	    cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
