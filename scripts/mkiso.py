#!/usr/bin/env python3
"""mkiso.py LABEL OUT: writes a tiny ISO 9660 image (system area, primary volume descriptor
with LABEL as its volume identifier, set terminator) for the demo's virtual media.

Only what a boot menu reads is filled in; the image holds no files."""
import struct
import sys

SECTOR = 2048


def both_endian32(v):
    return struct.pack("<I", v) + struct.pack(">I", v)


def both_endian16(v):
    return struct.pack("<H", v) + struct.pack(">H", v)


def image(label):
    if len(label) > 32 or not all(c.isupper() or c.isdigit() or c in " _" for c in label):
        raise ValueError("label: up to 32 of A-Z, 0-9, space and _ (ISO 9660 d-characters)")
    pvd = bytearray(SECTOR)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[8:40] = b"IPKVM".ljust(32)
    pvd[40:72] = label.encode("ascii").ljust(32)
    pvd[80:88] = both_endian32(18)  # volume space size: the sectors written
    pvd[120:124] = both_endian16(1)  # volume set size
    pvd[124:128] = both_endian16(1)  # volume sequence number
    pvd[128:132] = both_endian16(SECTOR)  # logical block size
    pvd[881] = 1  # file structure version
    term = bytearray(SECTOR)
    term[0:7] = b"\xffCD001\x01"
    return bytes(16 * SECTOR) + bytes(pvd) + bytes(term)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: mkiso.py LABEL OUT")
    try:
        data = image(sys.argv[1])
    except ValueError as e:
        sys.exit("mkiso.py: %s" % e)
    with open(sys.argv[2], "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
