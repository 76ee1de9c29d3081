#!/usr/bin/env bash
# tests/run.sh - run test suites, show their TAP output, and print the totals.
# usage: tests/run.sh [unit] [bats [FILE...]]
# Environment: O (object dir, default build), B (program dir, default bin), BATS.
# Under CI (CI=true) a skipped test counts as a failure.
set -u
cd "$(dirname "$0")/.." || exit 2
export O=${O:-build}
export B=${B:-bin}
BATS=${BATS:-bats}
out=tests/.out
mkdir -p "$out"
passed=0 failed=0 skipped=0

# Count the TAP in file $2 for suite $1; a runner that failed without a
# "not ok" line (a crash, a bad plan) counts as one failure.
count() {
	local suite=$1 log=$2 rc=$3 p f s
	p=$(grep -E '^ok [0-9]+' "$log" | grep -vc '# skip' || true)
	s=$(grep -E '^ok [0-9]+' "$log" | grep -c '# skip' || true)
	f=$(grep -cE '^not ok [0-9]+' "$log" || true)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "# $suite: the runner exited $rc with no failing test: counted as one failure"
		f=1
	fi
	if [ "${CI:-}" = true ] && [ "$s" -gt 0 ]; then
		echo "# $suite: $s skipped test(s) count as failures in CI"
		f=$((f + s))
	fi
	echo "# $suite: $p passed, $f failed, $s skipped"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

run_unit() {
	local t rc log=$out/unit.tap
	: >"$log"
	for t in "$O"/tests/test_*; do
		[ -x "$t" ] || continue
		"$t" tests/unit/parse.cases >>"$log" 2>&1
		rc=$?
		[ $rc -eq 0 ] || urc=$rc
	done
	cat "$log"
	count unit "$log" "${urc:-0}"
}

run_bats() {
	local log=$out/bats.tap rc files=("$@")
	[ ${#files[@]} -gt 0 ] || files=(tests/*.bats)
	[ -e "${files[0]}" ] || return 0
	SSED_BIN=$PWD/$B timeout 3000 "$BATS" --tap "${files[@]}" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	count bats "$log" "$rc"
}

# Under `make sanitize`, every report ASan or UBSan wrote is a failure.
run_san() {
	local log=$out/san.tap f n=0
	[ -n "${SAN_LOG:-}" ] || return 0
	: >"$log"
	for f in "$SAN_LOG"/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		echo "not ok $n - sanitizer report $(basename "$f")" >>"$log"
		sed 's/^/# /' "$f" | head -40 >>"$log"
	done
	[ "$n" -gt 0 ] || echo "ok 1 - no sanitizer reports" >>"$log"
	cat "$log"
	count sanitizer "$log" 0
}

[ $# -gt 0 ] || set -- unit bats
while [ $# -gt 0 ]; do
	case $1 in
	unit) run_unit; shift ;;
	bats) shift; files=(); while [ $# -gt 0 ] && [ "$1" != unit ]; do files+=("$1"); shift; done
	      run_bats "${files[@]}" ;;
	*) echo "run.sh: error: unknown suite '$1'" >&2; exit 2 ;;
	esac
done

run_san

if [ "$skipped" -gt 0 ] && [ "${CI:-}" != true ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
