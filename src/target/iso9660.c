/*
 * iso9660: the volume label of an ISO 9660 image (ECMA-119), for the virtual target's boot
 * menu.
 *
 * The volume descriptor set starts at sector 16 of 2048-byte sectors, one descriptor per
 * sector: type byte, "CD001", version byte. It ends with a terminator (type 255). The primary
 * volume descriptor (type 1, version 1) carries the 32-byte volume identifier at offset 40;
 * supplementary descriptors (Joliet, type 2) and boot records (type 0) may come before it,
 * so the set is scanned rather than sector 16 alone being trusted.
 *
 * Files and memory buffers go through the same scan: a tiny "source" reads one whole sector
 * at a time, and the scan checks that each sector lies inside the image before asking for
 * it, so no caller can be made to read past the end. Images are untrusted (operators upload
 * them), hence the printable-ASCII rule for the label and the cap on descriptors scanned.
 */
#define LOG_TAG "iso9660"

#include "target/iso9660.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define FIRST_DESCRIPTOR_SECTOR 16
#define TYPE_PRIMARY		1
#define TYPE_TERMINATOR		255
#define STANDARD_ID		"CD001"
#define STANDARD_ID_OFFSET	1
#define VERSION_OFFSET		6
#define VOLUME_ID_OFFSET	40
#define VOLUME_ID_SIZE		32

/* Where sectors come from: a buffer in memory, or an open file descriptor. */
struct source {
	const uint8_t *mem; /* NULL for a file */
	int fd;
	uint64_t size;
};

/* Reads sector s (already known to lie inside the image) into out. */
static int read_sector(const struct source *src, uint64_t s, uint8_t *out, char *err, size_t errlen)
{
	uint64_t off = s * IPKVM_ISO9660_SECTOR_SIZE;
	if (src->mem) {
		memcpy(out, src->mem + off, IPKVM_ISO9660_SECTOR_SIZE);
		return 0;
	}
	size_t done = 0;
	while (done < IPKVM_ISO9660_SECTOR_SIZE) {
		ssize_t r = pread(src->fd, out + done, IPKVM_ISO9660_SECTOR_SIZE - done,
				  (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			ipkvm_errf(err, errlen, "read error at byte %llu: %s",
				   (unsigned long long)(off + done), strerror(e));
			return -e;
		}
		if (r == 0) {
			/* The size was checked first: the file shrank under us. */
			ipkvm_errf(err, errlen, "image ended early at byte %llu",
				   (unsigned long long)(off + done));
			return -EIO;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Copies the volume identifier of a primary descriptor into label, without its padding. */
static int copy_label(const uint8_t *desc, char *label, size_t len, char *err, size_t errlen)
{
	const uint8_t *id = desc + VOLUME_ID_OFFSET;
	size_t n = VOLUME_ID_SIZE;
	/* The standard pads with spaces; a few authoring tools pad with NULs instead, and
	 * those images are otherwise fine, so trailing NULs count as padding too. */
	while (n > 0 && (id[n - 1] == ' ' || id[n - 1] == '\0'))
		n--;
	/* Strictly the identifier holds d-characters (A-Z 0-9 _), but real images use lower
	 * case, dots and dashes; any printable ASCII is shown as-is. Control and 8-bit bytes
	 * are refused: they would reach the screen and the API unfiltered. */
	for (size_t i = 0; i < n; i++) {
		if (id[i] < 0x20 || id[i] > 0x7e) {
			ipkvm_errf(err, errlen,
				   "volume label has a non-printable byte 0x%02x at position %zu",
				   id[i], i);
			return -EINVAL;
		}
	}
	if (n + 1 > len) {
		ipkvm_errf(err, errlen, "label buffer too small (%zu bytes for a %zu-byte label)",
			   len, n);
		return -ENAMETOOLONG;
	}
	memcpy(label, id, n);
	label[n] = '\0';
	return 0;
}

static int scan(const struct source *src, char *label, size_t len, char *err, size_t errlen)
{
	uint8_t sec[IPKVM_ISO9660_SECTOR_SIZE];
	const uint64_t ss = IPKVM_ISO9660_SECTOR_SIZE;

	if (src->size < (FIRST_DESCRIPTOR_SECTOR + 1) * ss) {
		ipkvm_errf(err, errlen, "file too small to be an ISO 9660 image (%llu bytes)",
			   (unsigned long long)src->size);
		return -EINVAL;
	}
	for (unsigned i = 0; i < IPKVM_ISO9660_MAX_DESCRIPTORS; i++) {
		uint64_t s = FIRST_DESCRIPTOR_SECTOR + i;
		if ((s + 1) * ss > src->size) {
			ipkvm_errf(
			    err, errlen,
			    "volume descriptor set runs past the end of the image (sector %llu)",
			    (unsigned long long)s);
			return -EINVAL;
		}
		int r = read_sector(src, s, sec, err, errlen);
		if (r < 0)
			return r;
		if (memcmp(sec + STANDARD_ID_OFFSET, STANDARD_ID, 5) != 0) {
			if (i == 0)
				ipkvm_errf(err, errlen,
					   "no ISO 9660 volume descriptor at sector 16");
			else
				ipkvm_errf(
				    err, errlen,
				    "bad volume descriptor at sector %llu (no CD001 identifier)",
				    (unsigned long long)s);
			return -EINVAL;
		}
		if (sec[0] == TYPE_TERMINATOR) {
			ipkvm_errf(err, errlen, "no primary volume descriptor");
			return -EINVAL;
		}
		if (sec[0] != TYPE_PRIMARY)
			continue; /* boot record, supplementary, partition: not ours */
		if (sec[VERSION_OFFSET] != 1) {
			ipkvm_errf(
			    err, errlen,
			    "primary volume descriptor at sector %llu has version %u (expected 1)",
			    (unsigned long long)s, sec[VERSION_OFFSET]);
			return -EINVAL;
		}
		return copy_label(sec, label, len, err, errlen);
	}
	ipkvm_errf(err, errlen, "no primary volume descriptor in the first %d descriptors",
		   IPKVM_ISO9660_MAX_DESCRIPTORS);
	return -EINVAL;
}

int ipkvm_iso9660_label_mem(const uint8_t *data, size_t size, char *label, size_t len, char *err,
			    size_t errlen)
{
	ipkvm_errf(err, errlen, "%s", "");
	if (len > 0)
		label[0] = '\0';
	/* A NULL buffer is only valid when empty; it then fails the size check below. */
	static const uint8_t empty[1];
	struct source src = {.mem = data ? data : empty, .fd = -1, .size = data ? size : 0};
	return scan(&src, label, len, err, errlen);
}

int ipkvm_iso9660_read_label(const char *path, char *label, size_t len, char *err, size_t errlen)
{
	int r;
	struct stat st;
	struct source src = {.mem = NULL, .fd = -1, .size = 0};

	ipkvm_errf(err, errlen, "%s", "");
	if (len > 0)
		label[0] = '\0';
	/* O_NONBLOCK so that a FIFO given by mistake is refused below instead of blocking
	 * the open until a writer appears; it changes nothing for files and disks. */
	src.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (src.fd < 0) {
		r = -errno;
		ipkvm_errf(err, errlen, "cannot open: %s", strerror(-r));
		goto out;
	}
	if (fstat(src.fd, &st) < 0) {
		r = -errno;
		ipkvm_errf(err, errlen, "cannot stat: %s", strerror(-r));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		ipkvm_errf(err, errlen, "is a directory");
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		src.size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		/* st_size is 0 for a block device; its end gives the size. */
		off_t end = lseek(src.fd, 0, SEEK_END);
		if (end < 0) {
			r = -errno;
			ipkvm_errf(err, errlen, "cannot find the device size: %s", strerror(-r));
			goto out;
		}
		src.size = (uint64_t)end;
	} else {
		r = -EINVAL;
		ipkvm_errf(err, errlen, "not a regular file or block device");
		goto out;
	}
	r = scan(&src, label, len, err, errlen);
out:
	if (src.fd >= 0)
		close(src.fd);
	if (r < 0)
		LOG_DEBUG("%s: no label: %s", path, err && errlen ? err : strerror(-r));
	else
		LOG_DEBUG("%s: label \"%s\"", path, label);
	return r;
}
