/*
 * iso9660: the volume label of an uploaded image (src/target/iso9660.c), which reaches the
 * virtual target's boot menu and the API.
 *
 * The first byte picks the label buffer's size (0..39 bytes, allocated exactly, so a write
 * one past it is an ASan report) and whether the rest of the input is the image itself or
 * the volume descriptor set, placed at sector 16 after 32 KiB of zeros (so the fuzzer need
 * not grow inputs past 32 KiB to reach the descriptors). The image is read both from
 * memory (ipkvm_iso9660_label_mem) and as a file (ipkvm_iso9660_read_label on a memfd,
 * read with pread); both must give the same answer. An accepted label is printable ASCII,
 * fits the buffer and has no trailing padding.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "target/iso9660.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SET_START (16 * IPKVM_ISO9660_SECTOR_SIZE)

static int memfd = -1;
static char memfd_path[64];

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "iso9660 harness: %s: %s\n", what, detail ? detail : "");
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	memfd = memfd_create("fuzz-iso", MFD_CLOEXEC);
	if (memfd < 0)
		fail("memfd_create", NULL);
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t labellen = data[0] % 40;
	size_t off = data[0] & 0x80 ? 0 : SET_START;
	size_t n = off + size - 1;
	uint8_t *img = calloc(1, n ? n : 1);
	memcpy(img + off, data + 1, size - 1);

	char *label = malloc(labellen), *label2 = malloc(labellen);
	char err[256], err2[256];
	int r = ipkvm_iso9660_label_mem(img, n, label, labellen, err, sizeof(err));
	if (r == 0) {
		size_t len = strlen(label);
		if (len + 1 > labellen || len > 32)
			fail("label does not fit", label);
		for (size_t i = 0; i < len; i++)
			if (label[i] < 0x20 || label[i] > 0x7e)
				fail("non-printable byte in an accepted label", label);
		if (len && label[len - 1] == ' ')
			fail("padding left on the label", label);
	} else if ((r != -EINVAL && r != -ENAMETOOLONG) || !err[0]) {
		fail("bad error result", err);
	}

	/* The same image as a file. */
	if (ftruncate(memfd, 0) < 0 || (n && pwrite(memfd, img, n, 0) != (ssize_t)n))
		fail("memfd write", NULL);
	int r2 = ipkvm_iso9660_read_label(memfd_path, label2, labellen, err2, sizeof(err2));
	if (r2 != r || (r == 0 && strcmp(label, label2) != 0) || strcmp(err, err2) != 0)
		fail("memory and file readers disagree", err2);
	free(label);
	free(label2);
	free(img);
	return 0;
}
