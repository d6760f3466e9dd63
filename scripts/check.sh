#!/usr/bin/env bash
# `make check`: installs what is missing, builds twice (normal and ASan+UBSan), runs the unit
# tests and the integration tests against both builds, the browser tests, the arm64 unit
# tests under qemu, the bench VM, every fuzz harness for a short while (scripts/fuzz.sh), and
# the generated-table, generated-docs, Japanese-guide, API error code, web UI type (tsc),
# language (i18n) and formatting checks, and ends with one line `N passed, N failed`. Exit
# status is non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/deps.sh --test || { echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
summary=()

add() { # name passed failed
	passed=$((passed + $2))
	failed=$((failed + $3))
	summary+=("$(printf '%-34s %4d passed, %d failed' "$1" "$2" "$3")")
}

add_from_log() { # name log: the log's last `N passed, M failed` line; none counts as a failure
	local last p f
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$2" | tail -n1)
	if [ -n "$last" ]; then
		p=${last%% passed*}
		f=${last#*, }
		add "$1" "$p" "${f%% failed}"
	else
		add "$1" 0 1
	fi
}

step() { # name command...: one check that passes or fails as a whole
	local name=$1
	shift
	if "$@"; then add "$name" 1 0; else add "$name" 0 1; fi
}

selftest() { # name log command...: a checker's self-test, which ends with `N passed, M failed`
	local name=$1 log=$2
	shift 2
	mkdir -p "$(dirname "$log")"
	"$@" 2>&1 | tee "$log"
	add_from_log "$name" "$log"
}

for variant in normal asan; do
	dir=build
	[ "$variant" = asan ] && dir=build-asan
	echo "== build ($variant)"
	if ! bash scripts/build.sh "$dir" "$variant"; then
		add "build ($variant)" 0 1
		continue
	fi

	echo "== unit tests ($variant)"
	meson test -C "$dir" --print-errorlogs >"$dir/unit.log" 2>&1
	counts=$(python3 scripts/cmocka_counts.py "$dir/meson-logs/testlog.json")
	add "unit ($variant)" ${counts% *} ${counts#* }
	[ "${counts#* }" = 0 ] || cat "$dir/unit.log"

	echo "== integration tests ($variant)"
	python3 tests/integration/run.py --ipkvmd "$root/$dir/ipkvmd" 2>&1 | tee "$dir/integration.log"
	add_from_log "integration ($variant)" "$dir/integration.log"
done

echo "== browser tests (playwright-core driving Debian's chromium)"
bash tests/e2e/run.sh build 2>&1 | tee build/e2e.log
add_from_log "browser (chromium)" "build/e2e.log"

echo "== arm64 (cross build, unit tests under qemu-aarch64)"
mkdir -p build-arm64
bash scripts/check-arm64.sh build-arm64 2>&1 | tee build-arm64/check.log
add_from_log "unit (arm64, qemu-aarch64)" "build-arm64/check.log"

echo "== bench VM (ipkvmd on a stock Debian kernel under QEMU: dummy_hcd, vivid, gpio-sim)"
mkdir -p build-asan
IPKVM_VM_GPIO=1 IPKVM_VM_KILL9=1 bash tests/bench-vm/run.sh build-asan 2>&1 |
	tee build-asan/bench-vm.log
add_from_log "bench VM (real kernel drivers)" "build-asan/bench-vm.log"

echo "== fuzzing (libFuzzer + ASan/UBSan, every harness of tests/fuzz for ${FUZZ_SECONDS:-30} s)"
mkdir -p build-fuzz
bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}" 2>&1 | tee build-fuzz/fuzz.log
add_from_log "fuzz (libFuzzer harnesses)" "build-fuzz/fuzz.log"

echo "== generated font"
# src/video/draw.c carries the font table made by scripts/gen_font.py from data/font8x16.txt.
if python3 - <<'PY'
import subprocess, sys
gen = subprocess.run([sys.executable, "scripts/gen_font.py", "data/font8x16.txt"],
                     capture_output=True, text=True, check=True).stdout.strip()
src = open("src/video/draw.c").read()
b = src.index("/* BEGIN GENERATED FONT")
e = src.index("/* END GENERATED FONT */") + len("/* END GENERATED FONT */")
sys.exit(0 if src[b:e].strip() == gen else 1)
PY
then add "font table in sync" 1 0; else echo "src/video/draw.c font differs from data/font8x16.txt"; add "font table in sync" 0 1; fi

echo "== generated layouts"
# src/hid/layout.c carries the tables scripts/gen_layouts.py makes from data/layouts/.
step "layout tables in sync" python3 scripts/gen_layouts.py data/layouts/*.txt --check src/hid/layout.c

echo "== generated key codes (browser)"
# web/assets/keycodes.js is made by scripts/gen_keycodes_js.py from data/keymap.csv.
step "browser key codes in sync" python3 scripts/gen_keycodes_js.py data/keymap.csv --check web/assets/keycodes.js

echo "== web UI types (tsc --noEmit over web/assets, tsconfig.json)"
# Every module in web/assets carries // @ts-check and JSDoc types; typescript comes from
# tests/e2e's lockfile (installed by scripts/deps.sh --test).
step "web UI types (tsc)" bash -c 'bash tests/e2e/npm-install.sh && tests/e2e/node_modules/.bin/tsc --noEmit -p tsconfig.json'
missing=$(grep -L '^// @ts-check$' web/assets/*.js || true)
if [ -z "$missing" ]; then
	add "web modules with @ts-check" 1 0
else
	echo "without // @ts-check: $missing"
	add "web modules with @ts-check" 0 1
fi

echo "== web UI languages (catalogs complete, no words outside them)"
# tests/tools/i18n_check.mjs: every catalog of web/i18n has exactly en.json's keys and
# parameters, every key is used, every documented error code has its text, and web/'s HTML
# and JS hold no words for people outside the catalogs. Its self-test breaks small trees.
step "web UI languages (i18n check)" node tests/tools/i18n_check.mjs
selftest "i18n checker self-test" build/i18n-selftest.log node tests/tools/i18n_check_test.mjs

echo "== API error codes documented"
# docs/api.md's table "Status and error codes" lists exactly the codes src/ emits (HTTP
# answers and WebSocket error events), with their statuses: the web UI's messages follow it.
step "API error codes documented" python3 tests/tools/error_codes.py

echo "== generated config docs"
# data/ipkvm.ini and the README's table of keys are written from src/core/config.c's table
# by tests/tools/config_doc.c (`config-doc update README.md data/ipkvm.ini` after a change).
step "config docs in sync" build/tests/tools/config-doc check README.md data/ipkvm.ini

echo "== Japanese setup guide in step with the English one"
# docs/ja/hardware.md and README.ja.md against docs/hardware.md and README.md (headings, code
# blocks, inline code, tables, links); the self-test breaks copies and expects failures.
step "Japanese guide in step" python3 tests/tools/doc_parity.py
selftest "doc parity checker self-test" build/doc-parity-selftest.log python3 tests/tools/test_doc_parity.py

echo "== format"
if git rev-parse --git-dir >/dev/null 2>&1; then
	sources() { git ls-files '*.c' '*.h'; }
else
	sources() { find src tests bench -name '*.[ch]' | sort; }
fi
bad=$(sources | while read -r f; do
	clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
if [ -z "$bad" ]; then add "clang-format" 1 0; else echo "not formatted: $bad"; add "clang-format" 0 1; fi

echo
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
