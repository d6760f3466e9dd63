#!/usr/bin/env python3
"""Generates src/hid/keymap.c (build output) from data/keymap.csv, the ipkvm key model.

The CSV is the single source of truth for every key's names: browser KeyboardEvent.code,
USB HID (page, usage), Linux evdev code, X11 keysym and XT scan code ("qnum"). This script
validates it and emits one C file holding the table `ipkvm_keys[]` (sorted by code for binary
search), a (page, usage)-sorted index, a qnum -> key index, and the lookup functions declared
in src/hid/keymap.h.

  python3 scripts/gen_keymap.py data/keymap.csv OUTPUT.c
  python3 scripts/gen_keymap.py data/keymap.csv OUTPUT.c --evdev-header PATH
  python3 scripts/gen_keymap.py data/keymap.csv OUTPUT.c --evdev-header none

Validation (any failure: a message naming file and line on stderr, exit status 1, and
OUTPUT is not written):
  - seven columns per row; code is an identifier-like name, unique;
  - page is hex and one of 0x01 (usages 0x81..0xB7, system control), 0x07 (0x04..0xE7),
    0x0C (0x001..0xFFF); usage is hex; each (page, usage) pair is unique;
  - evdev_name is KEY_*, evdev is decimal 1..767 (KEY_MAX 0x2ff); one name <-> one number
    across the table; and, when the kernel header is available (default
    /usr/include/linux/input-event-codes.h; required if --evdev-header names a path;
    skipped with a note on stderr if the default is missing, or with "none"), each name's
    number equals the header's;
  - keysym is empty or an X11 keysym-name token;
  - qnum is empty or hex 0x01..0xFF, 0x80 itself excluded (E0 00 is no key), unique.

The output is deterministic and already laid out in the repo's C style; it is a build
output, never committed or run through clang-format (it carries "clang-format off").
"""
import argparse
import csv
import os
import re
import sys

DEFAULT_EVDEV_HEADER = "/usr/include/linux/input-event-codes.h"
KEY_MAX = 0x2FF

# Allowed usage ranges per page. Keyboard 0x00..0x03 are error/reserved codes, not keys;
# 0xE8..0xFF are reserved. System control on generic desktop is 0x81..0xB7.
PAGES = {
    0x01: (0x81, 0xB7, "generic desktop"),
    0x07: (0x04, 0xE7, "keyboard"),
    0x0C: (0x001, 0xFFF, "consumer"),
}

CODE_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
HEX_RE = re.compile(r"^0[xX][0-9A-Fa-f]{1,4}$")
DEC_RE = re.compile(r"^[0-9]{1,4}$")
EVNAME_RE = re.compile(r"^KEY_[A-Z0-9_]+$")
KEYSYM_RE = re.compile(r"^[A-Za-z0-9_]+$")


class CsvError(Exception):
    pass


def parse_evdev_header(path):
    """KEY_* name -> number from input-event-codes.h (decimal, hex, or alias defines)."""
    raw = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"^\s*#\s*define\s+(KEY_[A-Z0-9_]+)\s+(\S+)", line)
            if m:
                raw[m.group(1)] = m.group(2)
    out = {}
    for name in raw:
        val, seen = raw[name], set()
        while val in raw and val not in seen:  # alias: #define KEY_HANGUEL KEY_HANGEUL
            seen.add(val)
            val = raw[val]
        try:
            out[name] = int(val, 0)
        except ValueError:
            pass  # expressions such as KEY_CNT (KEY_MAX+1)
    return out


def parse_csv(path):
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = next(csv.reader([line]))
        if len(fields) != 7:
            raise CsvError("%s:%d: want 7 columns (code,page,usage,evdev_name,evdev,keysym,"
                           "qnum), got %d" % (path, lineno, len(fields)))
        rows.append((lineno, [x.strip() for x in fields]))
    if not rows:
        raise CsvError("%s: no key rows" % path)
    return rows


def validate(path, rows, header):
    keys = []
    by_code, by_usage, ev_by_name, name_by_ev, code_by_ev = {}, {}, {}, {}, {}
    by_qnum = {}
    for lineno, (code, page_s, usage_s, evname, ev_s, keysym, qnum_s) in rows:
        where = "%s:%d" % (path, lineno)
        if not CODE_RE.match(code):
            raise CsvError("%s: code %r is not a KeyboardEvent.code name" % (where, code))
        if code in by_code:
            raise CsvError("%s: code %r already defined on line %d" % (where, code, by_code[code]))
        by_code[code] = lineno
        for what, s in (("page", page_s), ("usage", usage_s)):
            if not HEX_RE.match(s):
                raise CsvError("%s: %s %r of %s is not hex like 0x07" % (where, what, s, code))
        page, usage = int(page_s, 16), int(usage_s, 16)
        if page not in PAGES:
            raise CsvError("%s: page 0x%02X of %s is not one of %s" % (
                where, page, code, ", ".join("0x%02X" % p for p in sorted(PAGES))))
        lo, hi, pname = PAGES[page]
        if not lo <= usage <= hi:
            raise CsvError("%s: usage 0x%02X of %s is outside the %s page range 0x%02X..0x%02X"
                           % (where, usage, code, pname, lo, hi))
        if (page, usage) in by_usage:
            raise CsvError("%s: (page 0x%02X, usage 0x%02X) of %s is already used by %s" % (
                where, page, usage, code, by_usage[(page, usage)]))
        by_usage[(page, usage)] = code
        if not EVNAME_RE.match(evname):
            raise CsvError("%s: evdev name %r of %s is not KEY_*" % (where, evname, code))
        if not DEC_RE.match(ev_s):
            raise CsvError("%s: evdev number %r of %s is not decimal" % (where, ev_s, code))
        ev = int(ev_s, 10)
        if not 1 <= ev <= KEY_MAX:
            raise CsvError("%s: evdev number %d of %s is outside 1..%d" % (
                where, ev, code, KEY_MAX))
        if evname in ev_by_name and ev_by_name[evname] != ev:
            raise CsvError("%s: %s is %d here but %d earlier" % (
                where, evname, ev, ev_by_name[evname]))
        if ev in name_by_ev and name_by_ev[ev] != evname:
            raise CsvError("%s: evdev number %d is %s here but %s earlier" % (
                where, ev, evname, name_by_ev[ev]))
        if ev in code_by_ev:
            raise CsvError("%s: evdev %s (%d) of %s is already used by %s" % (
                where, evname, ev, code, code_by_ev[ev]))
        ev_by_name[evname], name_by_ev[ev], code_by_ev[ev] = ev, evname, code
        if header is not None:
            if evname not in header:
                raise CsvError("%s: %s (for %s) is not defined in the kernel header" % (
                    where, evname, code))
            if header[evname] != ev:
                raise CsvError("%s: %s is %d in the kernel header, %d here (for %s)" % (
                    where, evname, header[evname], ev, code))
        if keysym and not KEYSYM_RE.match(keysym):
            raise CsvError("%s: keysym %r of %s is not a keysym name" % (where, keysym, code))
        qnum = 0
        if qnum_s:
            if not HEX_RE.match(qnum_s):
                raise CsvError("%s: qnum %r of %s is not hex like 0x1E" % (where, qnum_s, code))
            qnum = int(qnum_s, 16)
            if not 0x01 <= qnum <= 0xFF or qnum == 0x80:
                raise CsvError("%s: qnum 0x%02X of %s is outside 0x01..0xFF (or is 0x80)" % (
                    where, qnum, code))
            if qnum in by_qnum:
                raise CsvError("%s: qnum 0x%02X of %s is already used by %s" % (
                    where, qnum, code, by_qnum[qnum]))
            by_qnum[qnum] = code
        keys.append((code, page, usage, ev, keysym or None, qnum))
    return keys


def c_str(s):
    return "NULL" if s is None else '"%s"' % s  # validated: [A-Za-z0-9_] only


def render(src_name, keys):
    keys = sorted(keys, key=lambda k: k[0].encode("ascii"))  # strcmp() order
    index = sorted(range(len(keys)), key=lambda i: (keys[i][1], keys[i][2]))
    out = []
    w = out.append
    w("/* Generated by scripts/gen_keymap.py from %s. Do not edit: edit the CSV. */" % src_name)
    w("/* clang-format off */")
    w("/*")
    w(" * keymap (generated): the key table sorted by KeyboardEvent.code for binary search,")
    w(" * a (page, usage)-sorted index into it for the reverse lookup, a direct qnum index")
    w(" * (the XT scan code byte of VNC's QEMU Extended Key Event), and the lookups")
    w(" * declared in hid/keymap.h. Both orders are computed by the generator, so nothing")
    w(" * is sorted or allocated at run time.")
    w(" */")
    w("#include <stdbool.h>")
    w("#include <stddef.h>")
    w("#include <stdint.h>")
    w("#include <string.h>")
    w("")
    w('#include "hid/keymap.h"')
    w("")
    w("const struct ipkvm_key ipkvm_keys[] = {")
    for code, page, usage, ev, keysym, qnum in keys:
        w("\t{%s, 0x%02X, 0x%02X, %d, %s, 0x%02X}," % (c_str(code), page, usage, ev,
                                                   c_str(keysym), qnum))
    w("};")
    w("")
    w("const size_t ipkvm_keys_count = %d;" % len(keys))
    w("")
    w("/* Indexes into ipkvm_keys, ordered by (page, usage). */")
    w("static const uint16_t keymap_usage_index[%d] = {" % len(keys))
    for i in range(0, len(index), 12):
        w("\t" + " ".join("%d," % x for x in index[i:i + 12]))
    w("};")
    w("")
    qindex = [0] * 256
    for i, k in enumerate(keys):
        if k[5]:
            qindex[k[5]] = i + 1
    w("/* qnum -> 1 + index into ipkvm_keys, 0 = no key. */")
    w("static const uint16_t keymap_qnum_index[256] = {")
    for i in range(0, 256, 16):
        w("\t" + " ".join("%d," % x for x in qindex[i:i + 16]))
    w("};")
    w("")
    w("const struct ipkvm_key *ipkvm_key_by_code(const char *code)")
    w("{")
    w("\tsize_t lo = 0;")
    w("\tsize_t hi = %d;" % len(keys))
    w("")
    w("\tif (code == NULL)")
    w("\t\treturn NULL;")
    w("\twhile (lo < hi) {")
    w("\t\tsize_t mid = lo + (hi - lo) / 2;")
    w("\t\tint c = strcmp(code, ipkvm_keys[mid].code);")
    w("")
    w("\t\tif (c == 0)")
    w("\t\t\treturn &ipkvm_keys[mid];")
    w("\t\tif (c < 0)")
    w("\t\t\thi = mid;")
    w("\t\telse")
    w("\t\t\tlo = mid + 1;")
    w("\t}")
    w("\treturn NULL;")
    w("}")
    w("")
    w("const struct ipkvm_key *ipkvm_key_by_usage(uint16_t page, uint16_t usage)")
    w("{")
    w("\tuint32_t want = ((uint32_t)page << 16) | usage;")
    w("\tsize_t lo = 0;")
    w("\tsize_t hi = %d;" % len(keys))
    w("")
    w("\twhile (lo < hi) {")
    w("\t\tsize_t mid = lo + (hi - lo) / 2;")
    w("\t\tconst struct ipkvm_key *k = &ipkvm_keys[keymap_usage_index[mid]];")
    w("\t\tuint32_t have = ((uint32_t)k->page << 16) | k->usage;")
    w("")
    w("\t\tif (have == want)")
    w("\t\t\treturn k;")
    w("\t\tif (want < have)")
    w("\t\t\thi = mid;")
    w("\t\telse")
    w("\t\t\tlo = mid + 1;")
    w("\t}")
    w("\treturn NULL;")
    w("}")
    w("")
    w("const struct ipkvm_key *ipkvm_key_by_qnum(uint32_t qnum)")
    w("{")
    w("\tif (qnum > 0xFF || keymap_qnum_index[qnum] == 0)")
    w("\t\treturn NULL;")
    w("\treturn &ipkvm_keys[keymap_qnum_index[qnum] - 1];")
    w("}")
    w("")
    w("size_t ipkvm_key_count(void)")
    w("{")
    w("\treturn ipkvm_keys_count;")
    w("}")
    w("")
    w("bool ipkvm_key_is_modifier(const struct ipkvm_key *k)")
    w("{")
    w("\treturn k != NULL && k->page == 0x07 && k->usage >= IPKVM_HID_USAGE_MODIFIER_FIRST &&")
    w("\t       k->usage <= IPKVM_HID_USAGE_MODIFIER_LAST;")
    w("}")
    w("")
    w("uint8_t ipkvm_key_modifier_bit(const struct ipkvm_key *k)")
    w("{")
    w("\tif (!ipkvm_key_is_modifier(k))")
    w("\t\treturn 0;")
    w("\treturn (uint8_t)(1u << (k->usage - IPKVM_HID_USAGE_MODIFIER_FIRST));")
    w("}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description="Generate the ipkvm key table C source.")
    ap.add_argument("csv", help="data/keymap.csv")
    ap.add_argument("output", help="C file to write")
    ap.add_argument("--evdev-header", default=None,
                    help="linux/input-event-codes.h to check evdev numbers against "
                         "(default %s if present; 'none' to skip)" % DEFAULT_EVDEV_HEADER)
    args = ap.parse_args()

    header = None
    hpath = args.evdev_header
    if hpath is None:
        if os.path.exists(DEFAULT_EVDEV_HEADER):
            hpath = DEFAULT_EVDEV_HEADER
        else:
            print("gen_keymap: note: %s not found; evdev numbers checked for consistency only"
                  % DEFAULT_EVDEV_HEADER, file=sys.stderr)
    elif hpath == "none":
        hpath = None
    try:
        if hpath is not None:
            try:
                header = parse_evdev_header(hpath)
            except OSError as e:
                raise CsvError("cannot read evdev header %s: %s" % (hpath, e.strerror))
        try:
            rows = parse_csv(args.csv)
        except OSError as e:
            raise CsvError("cannot read %s: %s" % (args.csv, e.strerror))
        except (UnicodeDecodeError, csv.Error) as e:
            raise CsvError("%s: %s" % (args.csv, e))
        keys = validate(args.csv, rows, header)
    except CsvError as e:
        print("gen_keymap: error: %s" % e, file=sys.stderr)
        return 1

    text = render(os.path.basename(args.csv), keys)
    # Write-then-rename so an interrupted run never leaves a half file for the build.
    tmp = args.output + ".tmp"
    try:
        with open(tmp, "w", encoding="ascii") as f:
            f.write(text)
        os.replace(tmp, args.output)
    except OSError as e:
        print("gen_keymap: error: cannot write %s: %s" % (args.output, e.strerror), file=sys.stderr)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
