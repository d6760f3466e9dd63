#!/usr/bin/env python3
"""error_codes.py [ROOT]: checks that docs/api.md's table "Status and error codes" lists
exactly the error codes the server emits, with the statuses it emits them with.

The codes are read from src/**/*.c: the code argument of every ipkvm_http_reply_error()
call (HTTP answers) and of every send_error() call (the WebSocket `error` event). The
argument must be a string literal, or an expression whose string literals are the codes it
may take (a ternary); anything else fails the check, so no code can hide in a variable.
Where one call has one literal status and one code, that status must be the code's status
in the table ("—" marks codes sent only as WebSocket events).

Prints what is wrong, then one line `N passed, N failed` (one check per code in either
place); the exit status is non-zero on any failure.
"""
import glob
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
CODE = re.compile(r'^[a-z][a-z0-9_]*$')
# function name -> (index of the status argument or None, index of the code argument)
EMITTERS = {"ipkvm_http_reply_error": (1, 2), "send_error": (None, 1)}


def skip_string(text, i):
    """text[i] is '"': the index after the closing quote."""
    j = i + 1
    while text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return j + 1


def strip_comments(text):
    out, i = [], 0
    while i < len(text):
        if text.startswith("/*", i):
            j = text.index("*/", i + 2) + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
        elif text[i] == '"':
            j = skip_string(text, i)
            out.append(text[i:j])
            i = j
        elif text[i] == "'":
            j = i + 1
            while text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def call_args(text, start):
    """text[start] follows the '(' of a call: its top-level arguments and the end index."""
    args, cur, depth, i = [], [], 0, start
    while True:
        c = text[i]
        if c == '"':
            j = skip_string(text, i)
            cur.append(text[i:j])
            i = j
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append("".join(cur).strip())
                return args, i
            depth -= 1
        if c == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1


def emitted(root):
    """{code: {statuses}} and a list of problems."""
    codes, problems = {}, []
    for path in sorted(glob.glob(os.path.join(root, "src", "**", "*.c"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            text = strip_comments(f.read())
        rel = os.path.relpath(path, root)
        for name, (si, ci) in EMITTERS.items():
            for m in re.finditer(r"\b%s\s*\(" % name, text):
                args, _ = call_args(text, m.end())
                line = text.count("\n", 0, m.start()) + 1
                where = "%s:%d" % (rel, line)
                if any(re.match(r"(const\s+)?(char|struct|int)\b", a) for a in args):
                    continue  # the definition or a declaration, not a call
                if len(args) <= ci:
                    problems.append("%s: %s() with too few arguments" % (where, name))
                    continue
                found = re.findall(r'"((?:[^"\\]|\\.)*)"', args[ci])
                if not found or not all(CODE.match(c) for c in found):
                    problems.append("%s: the code of %s() is not a string literal of "
                                    "[a-z0-9_] (or a ternary of them): %s"
                                    % (where, name, args[ci]))
                    continue
                status = None
                if si is not None and re.fullmatch(r"[1-5][0-9][0-9]", args[si]):
                    status = args[si]
                for c in found:
                    st = codes.setdefault(c, {})
                    key = status if status and len(found) == 1 else ("—" if si is None else "?")
                    st.setdefault(key, []).append(where)
    return codes, problems


def documented(root):
    """{code: status} from the table, and problems."""
    path = os.path.join(root, "docs", "api.md")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        start = lines.index("## Status and error codes")
    except ValueError:
        return {}, ["docs/api.md has no section '## Status and error codes'"]
    table, problems, seen_table = {}, [], False
    for n, line in enumerate(lines[start + 1:], start + 2):
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            if seen_table and line.strip():
                break
            continue
        seen_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] in (["status", "code"], ["---", "---"]):
            continue
        m = re.fullmatch(r"`([a-z][a-z0-9_]*)`", cells[1]) if len(cells) == 3 else None
        if not m or not re.fullmatch(r"[1-5][0-9][0-9]|—", cells[0]) or not cells[2]:
            problems.append("docs/api.md:%d: not a row `| status | `code` | when |`: %s"
                            % (n, line))
            continue
        if m.group(1) in table:
            problems.append("docs/api.md:%d: `%s` is listed twice" % (n, m.group(1)))
        table[m.group(1)] = cells[0]
    if not table:
        problems.append("docs/api.md: the table of 'Status and error codes' is empty")
    return table, problems


def main():
    root = os.path.abspath(ROOT)
    codes, problems = emitted(root)
    table, more = documented(root)
    problems += more
    passed, failed = 0, len(problems)
    for code in sorted(set(codes) | set(table)):
        if code not in table:
            where = sorted(w for ws in codes[code].values() for w in ws)
            problems.append("`%s` is emitted (%s) but not in docs/api.md's table"
                            % (code, ", ".join(where)))
            failed += 1
        elif code not in codes:
            problems.append("`%s` is in docs/api.md's table but nothing in src/ emits it" % code)
            failed += 1
        else:
            # A WebSocket event may carry any code of the table; "—" in the table means
            # nothing answers it over HTTP.
            wrong = [(st, ws) for st, ws in codes[code].items()
                     if st not in ("?", "—", table[code])]
            for st, ws in wrong:
                problems.append("`%s` is emitted with status %s (%s); the table says %s"
                                % (code, st, ", ".join(ws), table[code]))
            if wrong:
                failed += 1
            else:
                passed += 1
    for p in problems:
        print("error_codes: " + p)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
