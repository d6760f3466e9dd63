#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz, clang, ASan+UBSan) in build-fuzz and runs each
# for a while, two at a time (one per core), and ends with one line `N passed, N failed`
# (one count per harness). A crash, leak, timeout, out-of-memory or sanitizer report fails a
# harness and its reproducer's path is printed.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]    SECONDS per harness, default $FUZZ_SECONDS or 30
#
# Each harness works on a copy of its seed corpus in build-fuzz/fuzz/corpus/<harness> (kept
# between runs, so a later run starts where the last one got to; the tree is never written)
# and also replays tests/fuzz/regressions/<harness>/ (inputs of bugs found and fixed).
# Environment: FUZZ_JOBS (harnesses at once, default 2), FUZZ_RUNS (also stop a harness
# after this many executions), FUZZ_BUILD (default build-fuzz).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
seconds=${1:-${FUZZ_SECONDS:-30}}
shift || true
build=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-2}
all=(http_request api_json ws_input config users_file tokens_file prefs_file iso9660 edid ch9329 layout rfb)
harnesses=("${@:-${all[@]}}")

# Largest input per harness: room for a request with a body, a few WebSocket messages, a
# volume descriptor set of four sectors; libFuzzer's default (4096) elsewhere.
max_len() {
	case "$1" in
	http_request | ws_input | iso9660 | rfb) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

# libFuzzer's leak check after each input whose mallocs outnumber its frees scans the
# whole heap; a server keeps state between inputs (sessions, a connection closing on its
# own timer), so for the three server harnesses that check fires on most inputs and takes
# 90 % of the time. Their leaks are found at exit instead (the harness destroys the server
# first, so whatever LeakSanitizer reports then is a real leak).
per_input_leaks() {
	case "$1" in
	http_request | api_json | ws_input) echo 0 ;;
	*) echo 1 ;;
	esac
}

if [ ! -f "$build/build.ninja" ]; then
	echo "== configuring $build (clang, -Dfuzz=true)"
	if ! CC=clang meson setup "$build" -Dfuzz=true -Dtests=disabled >"$root/fuzz-setup.log" 2>&1; then
		cat "$root/fuzz-setup.log"
		rm -f "$root/fuzz-setup.log"
		echo "0 passed, ${#harnesses[@]} failed"
		exit 1
	fi
	rm -f "$root/fuzz-setup.log"
fi
echo "== building $build"
if ! ninja -C "$build" >"$build/fuzz-build.log" 2>&1; then
	tail -n 40 "$build/fuzz-build.log"
	echo "0 passed, ${#harnesses[@]} failed"
	exit 1
fi

out=$root/$build/fuzz
mkdir -p "$out/logs" "$out/artifacts"
# Sanitizers: any report ends the run; leaks are checked (libFuzzer does it per input too).
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:symbolize=1}
export UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() { # harness: runs it, writes $out/logs/<harness>.log and .result
	local h=$1 bin=$root/$build/tests/fuzz/fuzz_$1
	local corpus=$out/corpus/$h seeds=$root/tests/fuzz/corpus/$h reg=$root/tests/fuzz/regressions/$h
	local log=$out/logs/$h.log art=$out/artifacts/$h/
	mkdir -p "$corpus" "$art"
	[ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null
	local args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$h")"
		-print_final_stats=1 -artifact_prefix="$art" -detect_leaks="$(per_input_leaks "$h")")
	[ -f "$root/tests/fuzz/$h.dict" ] && args+=(-dict="$root/tests/fuzz/$h.dict")
	[ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
	local dirs=("$corpus")
	[ -d "$reg" ] && dirs+=("$reg")
	"$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
	local rc=$?
	local execs rate cov
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
	cov=$(grep -aE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n1 |
		sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/cov \1, features \2, corpus \3/p')
	local bad=""
	if [ "$rc" -ne 0 ] || grep -aqE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: |ALARM: working on the last Unit|out-of-memory' "$log"; then
		bad=$(grep -ao 'Test unit written to [^ ]*' "$log" | tail -n1 | sed 's/Test unit written to //')
		printf 'FAILED %s (exit %d): %s\n  log %s\n' "$h" "$rc" "${bad:-no reproducer written}" "$log" >"$out/logs/$h.result"
	else
		printf 'passed %-13s %12s execs %8s/s  %s\n' "$h" "${execs:-?}" "${rate:-?}" "$cov" >"$out/logs/$h.result"
	fi
}

echo "== fuzzing ${#harnesses[@]} harness(es) for ${seconds}s each, $jobs at a time"
running=0
for h in "${harnesses[@]}"; do
	if [ ! -x "$build/tests/fuzz/fuzz_$h" ]; then
		echo "FAILED $h: no such harness" >"$out/logs/$h.result"
		continue
	fi
	rm -f "$out/logs/$h.result"
	run_one "$h" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

passed=0
failed=0
for h in "${harnesses[@]}"; do
	r=$out/logs/$h.result
	if [ -f "$r" ] && grep -q '^passed' "$r"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		[ -f "$r" ] || echo "FAILED $h: no result (see $out/logs/$h.log)" >"$r"
		# The sanitizer's or libFuzzer's own report, for the log of the run that called us.
		grep -aE -A12 'ERROR: |runtime error:|SUMMARY: ' "$out/logs/$h.log" 2>/dev/null | head -n 40
	fi
	cat "$r"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
