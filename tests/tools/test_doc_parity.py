#!/usr/bin/env python3
"""test_doc_parity.py: shows that tests/tools/doc_parity.py fails when it should.

    python3 tests/tools/test_doc_parity.py

Copies README.md, README.ja.md and docs/ into a temporary folder, breaks one thing at a
time (a section removed, a command changed, a heading's English title wrong...) and runs the
checker on the copy: the untouched copy must pass, each broken one must fail with the
expected check, and a translated shell comment must still pass. Prints one line per case
and `N passed, M failed`. Standard library only.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CHECKER = os.path.join(HERE, "doc_parity.py")

HW_JA = os.path.join("docs", "ja", "hardware.md")
HW_EN = os.path.join("docs", "hardware.md")
RD_JA = "README.ja.md"


def edit(path, old, new, count=1):
    """Replaces `old` by `new` in the copy's file; the case is void if `old` is not there."""
    def apply(root):
        p = os.path.join(root, path)
        with open(p, encoding="utf-8") as f:
            s = f.read()
        if old not in s:
            raise AssertionError(f"{path}: the text to change is not there: {old[:60]!r}")
        with open(p, "w", encoding="utf-8") as f:
            f.write(s.replace(old, new, count))
    return apply


def edit_re(path, pattern, new):
    def apply(root):
        p = os.path.join(root, path)
        with open(p, encoding="utf-8") as f:
            s = f.read()
        s2, n = re.subn(pattern, new, s, count=1, flags=re.S | re.M)
        if n != 1:
            raise AssertionError(f"{path}: pattern not found: {pattern[:60]!r}")
        with open(p, "w", encoding="utf-8") as f:
            f.write(s2)
    return apply


# (name, changes, None = must pass, or the name of the check that must fail)
CASES = [
    ("the docs as they are", [], None),
    ("a section removed from the Japanese guide",
     [edit_re(HW_JA, r"^### Wake-on-LAN <!-- Wake-on-LAN -->\n.*?(?=^## )", "")],
     "hardware.md headings in step"),
    ("a section added to the English guide only",
     [edit(HW_EN, "## Troubleshooting\n", "## Backups\n\nCopy /var/lib/ipkvm.\n\n"
           "## Troubleshooting\n")],
     "hardware.md headings in step"),
    ("a heading's English title misspelt",
     [edit(HW_JA, "<!-- First boot -->", "<!-- First Boot -->")],
     "hardware.md headings in step"),
    ("a heading without its English comment",
     [edit(HW_JA, " <!-- Pins -->", "")],
     "hardware.md headings in step"),
    ("a heading at another level",
     [edit(HW_JA, "### HDMI <!-- HDMI -->", "## HDMI <!-- HDMI -->")],
     "hardware.md headings in step"),
    ("a command changed in a code block",
     [edit(HW_JA, "sudo tailscale up\n", "sudo tailscale up --ssh\n")],
     "hardware.md code blocks identical"),
    ("a command removed from a code block",
     [edit(HW_JA, "sudo -u ipkvm ipkvmd user list\n", "")],
     "hardware.md code blocks identical"),
    ("a diagram label translated",
     [edit(HW_JA, "  target PC ──", "  対象 PC ──")],
     "hardware.md code blocks identical"),
    ("a code block dropped",
     [edit_re(HW_JA, r"```sh\nsudo journalctl -u ipkvmd \| grep 'first start'\n.*?```\n", "")],
     "hardware.md code blocks identical"),
    ("a shell comment translated differently (allowed)",
     [edit(HW_JA, "# USB キャプチャードングルの場合", "# USB ドングル")],
     None),
    ("a command hidden behind a comment in the English guide",
     [edit(HW_EN, "sudo scripts/pi-setup.sh --dry-run  #", "sudo scripts/pi-setup.sh --ch9329 #")],
     "hardware.md code blocks identical"),
    ("a setting missing from a section's text",
     [edit(HW_JA, "`[atx] click_ms` で", "click_ms で")],
     "hardware.md inline code per section"),
    ("a setting's value changed in the text",
     [edit(HW_JA, "`[atx] buttons_active_low` = 0", "`[atx] buttons_active_low` = 1")],
     "hardware.md inline code per section"),
    ("a path changed in the text",
     [edit(HW_JA, "`/dev/video11`", "`/dev/video10`")],
     "hardware.md inline code per section"),
    ("a row missing from the pin table",
     [edit_re(HW_JA, r"^\| 3\.3 V（プルアップ用）[^\n]*\n", "")],
     "hardware.md table rows per section"),
    ("a broken relative link in the Japanese guide",
     [edit(HW_JA, "[remote-access.md](../remote-access.md)（英語）で説明",
           "[remote-access.md](remote-access.md)（英語）で説明")],
     "docs/ja/hardware.md links resolve"),
    ("an anchor the Japanese guide does not have",
     [edit(HW_JA, '<a id="power-the-pi-must-not-live-on-the-targets-usb-port"></a>', "")],
     "docs/ja/hardware.md links resolve"),
    ("README.ja.md without make check",
     [edit(RD_JA, "```sh\nmake check\n```\n", "")],
     "README.ja.md covers the README topics"),
    ("README.ja.md without the first login",
     [edit(RD_JA, "## 初回ログイン <!-- Managing users -->", "## 初回ログイン")],
     "README.ja.md covers the README topics"),
    ("README.ja.md naming a heading README.md does not have",
     [edit(RD_JA, "<!-- Documentation -->", "<!-- Docs -->")],
     "README.ja.md covers the README topics"),
    ("README.md without its link to README.ja.md",
     [edit("README.md", "日本語: [README.ja.md](README.ja.md)\n", "")],
     "English and Japanese docs link each other"),
    ("the Japanese guide missing",
     [lambda root: os.remove(os.path.join(root, HW_JA))],
     "(cannot read)"),
]


def run_case(changes):
    with tempfile.TemporaryDirectory(prefix="doc-parity-") as tmp:
        for name in ("README.md", RD_JA, "LICENSE"):
            shutil.copy(os.path.join(ROOT, name), os.path.join(tmp, name))
        shutil.copytree(os.path.join(ROOT, "docs"), os.path.join(tmp, "docs"))
        for change in changes:
            change(tmp)
        r = subprocess.run([sys.executable, CHECKER, "--root", tmp], capture_output=True,
                           text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr


def main():
    passed = failed = 0
    for name, changes, expect in CASES:
        try:
            code, out = run_case(changes)
        except AssertionError as e:
            print(f"FAIL {name}: the case cannot be set up: {e}")
            failed += 1
            continue
        fails = [l for l in out.splitlines() if l.startswith("FAIL ")]
        if expect is None:
            ok = code == 0 and not fails
            why = "the checker failed:\n" + out if not ok else ""
        elif expect == "(cannot read)":
            ok = code != 0 and any("No such file" in l for l in fails)
            why = f"exit {code}, expected an unreadable file:\n{out}" if not ok else ""
        else:
            ok = code != 0 and any(l.startswith(f"FAIL {expect}:") for l in fails)
            why = f"exit {code}, expected FAIL {expect}:\n{out}" if not ok else ""
        if ok:
            passed += 1
            print(f"ok   {name}" + (f" ({fails[0][5:]})" if fails else ""))
        else:
            failed += 1
            print(f"FAIL {name}: {why}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
