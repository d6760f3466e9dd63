#!/usr/bin/env python3
"""doc_parity.py: keeps the Japanese setup guide in step with the English one.

    python3 tests/tools/doc_parity.py [--root DIR]

Checks, each failure printed as one line naming the file and line:

docs/ja/hardware.md against docs/hardware.md (a full translation):
  - every heading of the Japanese file ends with an HTML comment holding its English
    heading, `## 必要なもの <!-- What you need -->`; the English titles of those comments,
    in order, equal the English file's headings, with the same levels (#, ##, ###);
  - both files have the same number of fenced code blocks, in the same sections, and each
    pair has the same info string (sh, ini, none) and the same lines. Code blocks are not
    translated (commands, paths, diagrams and config snippets stay byte for byte), with one
    exception: a shell comment (`#` at the start of a line or after a blank, to the end of
    the line) in an `sh` block may be translated, so those comments are removed on both
    sides before the lines are compared;
  - every section (the text under one heading, code blocks excepted) has the same inline
    code spans (`[atx] chip`, `sudo scripts/pi-setup.sh`, ...) the same number of times, in
    any order (Japanese word order differs); a span followed by `= value` (a number or a
    word: `[atx] buttons_active_low` = 0) counts with its value;
  - every section has the same number of table rows (the pin table, the parts list...);
  - every relative link resolves: the file exists (relative to the document's folder) and
    an anchor `#x` is a heading of that file (GitHub's slug of the heading) or an explicit
    `<a id="x"></a>` in it.

README.ja.md against README.md (a short guide, not a full translation):
  - a heading of README.ja.md that carries an `<!-- English title -->` comment must name a
    heading of README.md; headings without a comment are the guide's own;
  - it has a section for each README topic in TOPICS (the two commands and the first
    login), and that section (with its subsections) and the English one both contain the
    topic's required strings in code (a code block line or an inline code span), so the
    list fails loudly when README.md moves them;
  - its relative links resolve, as above; README.md links to README.ja.md and
    docs/hardware.md to docs/ja/hardware.md, and back.

Prints `N passed, M failed` (one check per rule above) and exits non-zero on a failure.
Standard library only.
"""

import argparse
import collections
import os
import re
import sys

# README.md topics README.ja.md must cover: the English heading, and strings that must appear
# in code (a code block line or an inline code span) in that section of both files.
TOPICS = [
    ("Quick start", ["make demo", "make check", "https://localhost:8443/"]),
    ("Managing users", ["initial-admin-password"]),
]

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
COMMENT = re.compile(r"^(.*?)\s*<!--\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s]*)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1(?:[ \t]*=[ \t]*([0-9]+|[A-Za-z_][A-Za-z0-9_]*))?")
LINK = re.compile(r"\]\(([^)\s]+)\)")
ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"\s*>\s*</a>")
SH_COMMENT = re.compile(r"(^|\s)#.*$")


class Doc:
    """A Markdown file cut into sections (one per heading, plus the text before the first)."""

    def __init__(self, path):
        self.path = path
        with open(path, encoding="utf-8") as f:
            self.lines = f.read().split("\n")
        # section: {level, title, comment, line, text: [(lineno, line)], blocks: [...]}
        self.sections = [{"level": 0, "title": "", "comment": None, "line": 0, "text": [],
                          "blocks": []}]
        fence = None
        for n, line in enumerate(self.lines, 1):
            sec = self.sections[-1]
            if fence is not None:
                m = FENCE.match(line)
                if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence) \
                        and not line.strip()[len(m.group(2)):].strip():
                    fence = None
                else:
                    sec["blocks"][-1]["lines"].append(line[len(sec["blocks"][-1]["indent"]):]
                                                      if line.startswith(sec["blocks"][-1]["indent"])
                                                      else line.lstrip())
                continue
            m = FENCE.match(line)
            if m:
                fence = m.group(2)
                sec["blocks"].append({"line": n, "info": m.group(3), "indent": m.group(1),
                                      "lines": []})
                continue
            m = HEADING.match(line)
            if m:
                title, comment = m.group(2), None
                c = COMMENT.match(title)
                if c:
                    title, comment = c.group(1), c.group(2)
                self.sections.append({"level": len(m.group(1)), "title": title,
                                      "comment": comment, "line": n, "text": [],
                                      "blocks": []})
                continue
            sec["text"].append((n, line))
        if fence is not None:
            raise ValueError(f"{path}: a code block is never closed")

    def headings(self):
        return self.sections[1:]

    def anchors(self):
        out = set()
        for s in self.headings():
            out.add(slug(s["title"]))
        for line in self.lines:
            out.update(ANCHOR.findall(line))
        return out


def slug(title):
    """GitHub's anchor for a heading: lower case, punctuation dropped, blanks to '-'."""
    t = re.sub(r"<[^>]*>", "", title).strip().lower()
    t = re.sub(r"[^\w\- ]", "", t)
    return t.replace(" ", "-")


def inline_codes(lines):
    c = collections.Counter()
    for _, line in lines:
        for m in INLINE_CODE.finditer(line):
            c[m.group(2).strip() + (f" = {m.group(3)}" if m.group(3) else "")] += 1
    return c


def table_rows(lines):
    return sum(1 for _, line in lines if line.lstrip().startswith("|"))


def code_lines(block):
    lines = block["lines"]
    if block["info"] == "sh":
        lines = [SH_COMMENT.sub("", l).rstrip() for l in lines]
    return lines


class Checker:
    def __init__(self, root):
        self.root = root
        self.passed = 0
        self.failed = 0

    def rel(self, path):
        return os.path.relpath(path, self.root)

    def check(self, name, problems):
        if problems:
            self.failed += 1
            for p in problems:
                print(f"FAIL {name}: {p}")
        else:
            self.passed += 1
            print(f"ok   {name}")

    def headings(self, en, ja):
        problems = []
        for s in ja.headings():
            if s["comment"] is None:
                problems.append(f"{self.rel(ja.path)}:{s['line']}: heading '{s['title']}' has no "
                                "<!-- English heading --> comment")
        e = [(s["level"], s["title"]) for s in en.headings()]
        j = [(s["level"], s["comment"]) for s in ja.headings()]
        for i in range(max(len(e), len(j))):
            if i >= len(e):
                problems.append(f"{self.rel(ja.path)}:{ja.headings()[i]['line']}: extra heading "
                                f"{'#' * j[i][0]} <!-- {j[i][1]} -->")
                break
            if i >= len(j):
                problems.append(f"{self.rel(ja.path)}: missing the heading {'#' * e[i][0]} "
                                f"{e[i][1]} (line {en.headings()[i]['line']} of "
                                f"{self.rel(en.path)})")
                break
            if e[i] != j[i]:
                problems.append(f"{self.rel(ja.path)}:{ja.headings()[i]['line']}: heading "
                                f"{'#' * j[i][0]} <!-- {j[i][1]} --> where {self.rel(en.path)} "
                                f"has {'#' * e[i][0]} {e[i][1]} (line {en.headings()[i]['line']})")
                break  # the rest would only repeat the shift
        self.check("hardware.md headings in step", problems)
        return not problems

    def sections_pairwise(self, en, ja):
        """Code blocks, inline code and table rows, section by section."""
        code, spans, rows = [], [], []
        ne = sum(len(s["blocks"]) for s in en.sections)
        nj = sum(len(s["blocks"]) for s in ja.sections)
        if ne != nj:
            code.append(f"{self.rel(en.path)} has {ne} code blocks, {self.rel(ja.path)} {nj}")
        for se, sj in zip(en.sections, ja.sections):
            where = f"section '{se['title'] or '(top)'}'"
            if len(se["blocks"]) != len(sj["blocks"]):
                code.append(f"{self.rel(ja.path)}:{sj['line']}: {where} has "
                            f"{len(sj['blocks'])} code blocks, the English one "
                            f"{len(se['blocks'])}")
            for be, bj in zip(se["blocks"], sj["blocks"]):
                if be["info"] != bj["info"]:
                    code.append(f"{self.rel(ja.path)}:{bj['line']}: code block is "
                                f"'{bj['info']}', the English one (line {be['line']}) "
                                f"'{be['info']}'")
                le, lj = code_lines(be), code_lines(bj)
                if le != lj:
                    for k in range(max(len(le), len(lj))):
                        a = le[k] if k < len(le) else "(nothing)"
                        b = lj[k] if k < len(lj) else "(nothing)"
                        if a != b:
                            code.append(f"{self.rel(ja.path)}:{bj['line'] + 1 + k}: code "
                                        f"differs from {self.rel(en.path)}:{be['line'] + 1 + k}:"
                                        f" {b!r} instead of {a!r}")
                            break
            ce, cj = inline_codes(se["text"]), inline_codes(sj["text"])
            if ce != cj:
                missing = ce - cj
                extra = cj - ce
                msg = f"{self.rel(ja.path)}:{sj['line']}: {where}:"
                if missing:
                    msg += " missing " + ", ".join(f"`{k}`" + (f" x{v}" if v > 1 else "")
                                                   for k, v in sorted(missing.items()))
                if extra:
                    msg += (";" if missing else "") + " extra " + ", ".join(
                        f"`{k}`" + (f" x{v}" if v > 1 else "") for k, v in sorted(extra.items()))
                spans.append(msg)
            re_, rj = table_rows(se["text"]), table_rows(sj["text"])
            if re_ != rj:
                rows.append(f"{self.rel(ja.path)}:{sj['line']}: {where} has {rj} table rows, "
                            f"the English one {re_}")
        self.check("hardware.md code blocks identical", code)
        self.check("hardware.md inline code per section", spans)
        self.check("hardware.md table rows per section", rows)

    def links(self, doc, name):
        problems = []
        base = os.path.dirname(doc.path)
        cache = {}
        for n, line in enumerate(doc.lines, 1):
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue  # https:, mailto:
                path, _, anchor = target.partition("#")
                full = os.path.normpath(os.path.join(base, path)) if path else doc.path
                if not os.path.exists(full):
                    problems.append(f"{self.rel(doc.path)}:{n}: link to {target}: "
                                    f"{self.rel(full)} does not exist")
                    continue
                if anchor and full.endswith(".md"):
                    if full not in cache:
                        cache[full] = Doc(full).anchors()
                    if anchor not in cache[full]:
                        problems.append(f"{self.rel(doc.path)}:{n}: link to {target}: no "
                                        f"heading or <a id> '{anchor}' in {self.rel(full)}")
        self.check(name, problems)

    def cross_links(self, pairs):
        problems = []
        for a, b in pairs:
            da = Doc(a)
            want = os.path.normpath(b)
            found = any(os.path.normpath(os.path.join(os.path.dirname(a), t.partition("#")[0]))
                        == want for line in da.lines for t in LINK.findall(line))
            if not found:
                problems.append(f"{self.rel(a)} has no link to {self.rel(b)}")
        self.check("English and Japanese docs link each other", problems)

    def readme(self, en, ja):
        problems = []
        en_titles = {s["title"]: s for s in en.headings()}
        ja_by_comment = {}
        for s in ja.headings():
            if s["comment"] is None:
                continue
            if s["comment"] not in en_titles:
                problems.append(f"{self.rel(ja.path)}:{s['line']}: <!-- {s['comment']} --> "
                                f"names no heading of {self.rel(en.path)}")
            ja_by_comment[s["comment"]] = s
        for title, needs in TOPICS:
            if title not in en_titles:
                problems.append(f"{self.rel(en.path)} has no heading '{title}' (update TOPICS "
                                "in tests/tools/doc_parity.py)")
                continue
            if title not in ja_by_comment:
                problems.append(f"{self.rel(ja.path)} has no section <!-- {title} --> (the "
                                f"topic '{title}' of {self.rel(en.path)})")
                continue
            for doc, sec in ((en, en_titles[title]), (ja, ja_by_comment[title])):
                code = section_code(doc, sec)
                for s in needs:
                    if not any(s in c for c in code):
                        problems.append(f"{self.rel(doc.path)}:{sec['line']}: the section "
                                        f"'{sec['title']}' does not contain `{s}`")
        self.check("README.ja.md covers the README topics", problems)


def section_code(doc, sec):
    """The code of a section and of its subsections: code block lines and inline code."""
    out, inside = [], False
    for s in doc.headings():
        if s is sec:
            inside = True
        elif inside and s["level"] <= sec["level"]:
            break
        if inside:
            out += [line for b in s["blocks"] for line in b["lines"]]
            out += list(inline_codes(s["text"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."),
                    help="the repository's top folder (default: this checkout)")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    p = lambda *a: os.path.join(root, *a)
    c = Checker(root)
    try:
        hw_en, hw_ja = Doc(p("docs", "hardware.md")), Doc(p("docs", "ja", "hardware.md"))
        rd_en, rd_ja = Doc(p("README.md")), Doc(p("README.ja.md"))
    except (OSError, ValueError) as e:
        print(f"FAIL {e}")
        print("0 passed, 1 failed")
        return 1
    if c.headings(hw_en, hw_ja):
        c.sections_pairwise(hw_en, hw_ja)
    else:
        c.check("hardware.md sections compared (needs the headings in step)", ["skipped"])
    c.links(hw_en, "docs/hardware.md links resolve")
    c.links(hw_ja, "docs/ja/hardware.md links resolve")
    c.links(rd_ja, "README.ja.md links resolve")
    c.readme(rd_en, rd_ja)
    c.cross_links([(p("README.md"), p("README.ja.md")), (p("README.ja.md"), p("README.md")),
                   (p("docs", "hardware.md"), p("docs", "ja", "hardware.md")),
                   (p("docs", "ja", "hardware.md"), p("docs", "hardware.md"))])
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
