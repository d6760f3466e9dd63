#!/usr/bin/env python3
"""Generates the C font table of src/video/draw.c from data/font8x16.txt.

The font is kept as ASCII art so it can be reviewed and edited as pictures; this script
turns it into `static const uint8_t font[96][16]` (index 0..94 = ASCII 32..126, index 95 =
the replacement glyph), one byte per row, bit 7 = leftmost pixel.

  python3 scripts/gen_font.py data/font8x16.txt            prints the table
  python3 scripts/gen_font.py data/font8x16.txt --update src/video/draw.c
                                                           replaces the table in draw.c
                                                           between its BEGIN/END markers
"""
import argparse
import sys

BEGIN = "/* BEGIN GENERATED FONT (scripts/gen_font.py) */"
END = "/* END GENERATED FONT */"


def parse(path):
    glyphs = {}
    cur = None
    rows = []

    def finish(lineno):
        if cur is None:
            return
        if len(rows) != 16:
            sys.exit("%s:%d: glyph %r has %d rows, want 16" % (path, lineno, cur, len(rows)))
        if cur in glyphs:
            sys.exit("%s:%d: glyph %r defined twice" % (path, lineno, cur))
        glyphs[cur] = list(rows)

    with open(path, encoding="ascii") as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines, 1):
        line = line.rstrip()
        if not line or line.startswith("#") and not set(line) <= set("#."):
            continue
        if line.startswith("char "):
            finish(n)
            word = line.split()[1]
            if word == "replacement":
                cur = 95
            else:
                code = int(word, 16)
                if not 32 <= code <= 126:
                    sys.exit("%s:%d: code 0x%02x outside 32..126" % (path, n, code))
                cur = code - 32
            rows = []
            continue
        if cur is None:
            sys.exit("%s:%d: row outside a glyph" % (path, n))
        if len(line) != 8 or not set(line) <= set("#."):
            sys.exit("%s:%d: a row is 8 characters of '#' and '.'" % (path, n))
        rows.append(line)
    finish(len(lines))
    missing = [i for i in range(96) if i not in glyphs]
    if missing:
        sys.exit("%s: missing glyphs %s" % (path, missing))
    return glyphs


def table(glyphs):
    out = [BEGIN, "/* clang-format off */",
           "static const uint8_t font[96][16] = {"]
    for i in range(96):
        vals = []
        for row in glyphs[i]:
            v = 0
            for bit, ch in enumerate(row):
                if ch == "#":
                    v |= 0x80 >> bit
            vals.append("0x%02x" % v)
        if i == 95:
            name = "replacement"
        elif i == 0:
            name = "space"
        else:
            c = chr(i + 32)
            name = "'%s'" % ("\\\\" if c == "\\" else c)
            if c == "*" or c == "/":
                name = "0x%02x" % (i + 32)
        out.append("\t{%s}, /* %s */" % (",".join(vals), name))
    out.append("};")
    out.append("/* clang-format on */")
    out.append(END)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("font")
    ap.add_argument("--update", metavar="C_FILE")
    args = ap.parse_args()
    text = table(parse(args.font))
    if not args.update:
        print(text)
        return
    with open(args.update, encoding="utf-8") as f:
        src = f.read()
    a, b = src.find(BEGIN), src.find(END)
    if a < 0 or b < a:
        sys.exit("%s: no %r ... %r markers" % (args.update, BEGIN, END))
    src = src[:a] + text + src[b + len(END):]
    with open(args.update, "w", encoding="utf-8") as f:
        f.write(src)


if __name__ == "__main__":
    main()
