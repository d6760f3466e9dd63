/*
 * iso9660: reads the volume label of an ISO 9660 image (ECMA-119), so the virtual target's
 * boot menu can list attached media by file name and label.
 *
 * Only the volume descriptor set is read: descriptors start at sector 16 (2048-byte
 * sectors) and run up to the set terminator (type 255); the label is the 32-byte volume
 * identifier of the primary volume descriptor (type 1, "CD001", version 1), with its
 * trailing padding removed. Nothing else of the image is looked at.
 *
 * Error messages in err are bare ("no primary volume descriptor"): the caller knows which
 * file it asked about and puts its name in front.
 */
#ifndef IPKVM_TARGET_ISO9660_H
#define IPKVM_TARGET_ISO9660_H

#include <stddef.h>
#include <stdint.h>

#define IPKVM_ISO9660_SECTOR_SIZE 2048
/* The volume identifier is 32 bytes; a label buffer of this size always fits it. */
#define IPKVM_ISO9660_LABEL_SIZE 33
/* Descriptors scanned before giving up on finding the primary one (real images have 2-5). */
#define IPKVM_ISO9660_MAX_DESCRIPTORS 64

/* Reads the volume label of the image at path (a regular file or a block device, opened
 * read-only) into label (len bytes, NUL-terminated; IPKVM_ISO9660_LABEL_SIZE is enough).
 * An all-space identifier gives an empty label. Returns 0; -EINVAL when the file is not an
 * ISO 9660 image or its label has a byte outside printable ASCII; -ENAMETOOLONG when the
 * label does not fit in len; -errno from open/read (-ENOENT, -EACCES, -EISDIR, -EIO for a
 * file that shrank while read). err (may be NULL) says what is wrong. */
int ipkvm_iso9660_read_label(const char *path, char *label, size_t len, char *err, size_t errlen);

/* The same on an image held in memory (data, size bytes); never reads past data + size. */
int ipkvm_iso9660_label_mem(const uint8_t *data, size_t size, char *label, size_t len, char *err,
			    size_t errlen);

#endif
