#!/usr/bin/env python3
"""Generates the layout tables of src/hid/layout.c from data/layouts/*.txt.

The layouts are kept as reviewable text (format documented at the top of
data/layouts/us.txt); this script checks them (known key codes, no duplicate characters,
dead-key compositions whose base is directly typeable) and turns them into C arrays, so the
daemon carries its tables with no data files to find at run time.

  python3 scripts/gen_layouts.py data/layouts/*.txt            prints the tables
  python3 scripts/gen_layouts.py data/layouts/*.txt --update src/hid/layout.c
                                                               replaces them in layout.c
                                                               between its BEGIN/END markers
  python3 scripts/gen_layouts.py data/layouts/*.txt --check src/hid/layout.c
                                                               exits 1 if layout.c is stale
"""
import argparse
import sys

BEGIN = "/* BEGIN GENERATED LAYOUTS (scripts/gen_layouts.py) */"
END = "/* END GENERATED LAYOUTS */"

# KeyboardEvent.code -> USB HID usage, keyboard page 0x07 (HID Usage Tables). Only keys that
# type characters are needed here. The ISO/JIS key left of Enter is code "Backslash"; we send
# usage 0x31, which Windows and Linux treat exactly like 0x32 (both are scancode 0x2B /
# KEY_BACKSLASH).
USAGE = {"Key" + chr(ord("A") + i): 0x04 + i for i in range(26)}
USAGE.update({"Digit%d" % d: 0x1E + (d - 1) for d in range(1, 10)})
USAGE.update({
    "Digit0": 0x27, "Enter": 0x28, "Tab": 0x2B, "Space": 0x2C, "Minus": 0x2D, "Equal": 0x2E,
    "BracketLeft": 0x2F, "BracketRight": 0x30, "Backslash": 0x31, "Semicolon": 0x33,
    "Quote": 0x34, "Backquote": 0x35, "Comma": 0x36, "Period": 0x37, "Slash": 0x38,
    "IntlBackslash": 0x64, "IntlRo": 0x87, "IntlYen": 0x89,
})
MODS = {"ctrl": "IPKVM_LAYOUT_MOD_CTRL", "shift": "IPKVM_LAYOUT_MOD_SHIFT",
        "altgr": "IPKVM_LAYOUT_MOD_ALTGR"}


def die(path, lineno, msg):
    sys.exit("%s:%d: %s" % (path, lineno, msg))


def parse_char(path, lineno, tok):
    if tok.startswith("U+") and len(tok) > 2:
        try:
            return int(tok[2:], 16)
        except ValueError:
            die(path, lineno, "bad code point %r" % tok)
    if len(tok) != 1:
        die(path, lineno, "want one character or U+XXXX, got %r" % tok)
    return ord(tok)


def parse_mods(path, lineno, toks):
    out = []
    for t in toks:
        if t not in MODS or MODS[t] in out:
            die(path, lineno, "bad or repeated modifier %r" % t)
        out.append(MODS[t])
    return out


def parse(path):
    lay = {"name": None, "desc": None, "keys": [], "dead": [], "compose": []}
    chars = set()
    accents = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line == "#" or line.startswith("# "):
                continue
            toks = line.split()
            kw = toks[0]
            if kw == "layout":
                if lay["name"] or len(toks) < 3:
                    die(path, lineno, "one `layout <name> <description>` line wanted")
                lay["name"], lay["desc"] = toks[1], " ".join(toks[2:])
                continue
            if not lay["name"]:
                die(path, lineno, "`layout` line must come first")
            if kw in ("key", "dead"):
                if len(toks) < 3:
                    die(path, lineno, "want `%s <char> <Code> [mods]`" % kw)
                cp = parse_char(path, lineno, toks[1])
                if toks[2] not in USAGE:
                    die(path, lineno, "unknown key code %r" % toks[2])
                mods = parse_mods(path, lineno, toks[3:])
                if kw == "key":
                    if cp in chars:
                        die(path, lineno, "character U+%04X listed twice" % cp)
                    chars.add(cp)
                    lay["keys"].append((cp, toks[2], mods))
                else:
                    if cp in accents:
                        die(path, lineno, "dead key U+%04X listed twice" % cp)
                    accents[cp] = True
                    lay["dead"].append((cp, toks[2], mods))
            elif kw == "compose":
                if len(toks) != 4:
                    die(path, lineno, "want `compose <accent> <base> <result>`")
                acc, base, res = (parse_char(path, lineno, t) for t in toks[1:])
                if acc not in accents:
                    die(path, lineno, "compose with undeclared dead key U+%04X" % acc)
                if base not in chars:
                    die(path, lineno, "compose base U+%04X is not directly typeable" % base)
                if any(c[2] == res for c in lay["compose"]):
                    die(path, lineno, "compose result U+%04X listed twice" % res)
                lay["compose"].append((acc, base, res))
            else:
                die(path, lineno, "unknown keyword %r" % kw)
    if not lay["name"]:
        sys.exit("%s: no `layout` line" % path)
    return lay


def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mods_c(mods):
    return " | ".join(mods) if mods else "0"


def emit(layouts):
    out = [BEGIN]
    for lay in layouts:
        n = lay["name"].replace("-", "_")
        out.append("static const struct layout_key keys_%s[] = {" % n)
        for cp, code, mods in sorted(lay["keys"]):
            out.append("\t{0x%04X, 0x%02X, %s, %s}," % (cp, USAGE[code], mods_c(mods), cstr(code)))
        out.append("};")
        out.append("static const struct layout_key dead_%s[] = {" % n)
        for cp, code, mods in sorted(lay["dead"]):
            out.append("\t{0x%04X, 0x%02X, %s, %s}," % (cp, USAGE[code], mods_c(mods), cstr(code)))
        out.append("\t{0, 0, 0, NULL}, /* keeps the array non-empty */")
        out.append("};")
        out.append("static const struct layout_compose compose_%s[] = {" % n)
        for acc, base, res in sorted(lay["compose"], key=lambda c: c[2]):
            out.append("\t{0x%04X, 0x%04X, 0x%04X}," % (res, acc, base))
        out.append("\t{0, 0, 0}, /* keeps the array non-empty */")
        out.append("};")
    out.append("static const struct ipkvm_layout layouts[] = {")
    for lay in layouts:
        n = lay["name"].replace("-", "_")
        out.append("\t{%s, %s, keys_%s, %d, dead_%s, %d, compose_%s, %d}," % (
            cstr(lay["name"]), cstr(lay["desc"]), n, len(lay["keys"]), n, len(lay["dead"]),
            n, len(lay["compose"])))
    out.append("};")
    out.append(END)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--update")
    g.add_argument("--check")
    a = ap.parse_args()
    layouts = [parse(p) for p in a.files]
    names = [l["name"] for l in layouts]
    if len(set(names)) != len(names):
        sys.exit("duplicate layout names")
    table = emit(layouts)
    target = a.update or a.check
    if not target:
        sys.stdout.write(table)
        return
    with open(target, encoding="utf-8") as f:
        src = f.read()
    b, e = src.find(BEGIN), src.find(END)
    if b < 0 or e < b:
        sys.exit("%s: markers not found" % target)
    new = src[:b] + table + src[e + len(END) + 1:]
    if a.check:
        if new != src:
            sys.exit("%s is stale: run scripts/gen_layouts.py --update" % target)
        return
    if new != src:
        with open(target, "w", encoding="utf-8") as f:
            f.write(new)


if __name__ == "__main__":
    main()
