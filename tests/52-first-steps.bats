#!/usr/bin/env bats
# The first five minutes: make run with options, the README's tour as written.
load test_helper

@test "make run ARGS='...' passes the options to ssed" {
	top=$TESTS/..
	log=$BATS_TEST_TMPDIR/run.log
	sock=$BATS_TEST_TMPDIR/run.sock
	make -s -C "$top" run O="${O:-build}" B="${B:-bin}" ARGS="-l 127.0.0.1:0 -u $sock" >"$log" 2>&1 3>&- &
	make_pid=$!
	PIDS+=("$make_pid")
	wait_for grep -q 'listening on' "$log"
	# make execs ssed in its recipe's shell: its child is ssed itself.
	ssed_pid=$(pgrep -P "$make_pid")
	PIDS+=("$ssed_pid")
	[ "$(cat /proc/"$ssed_pid"/comm)" = ssed ]
	run curl -sf --unix-socket "$sock" http://localhost/healthz
	[ "$output" = ok ]
}

@test "the README's tour works as written, from the source tree after make" {
	start_ssed
	dir=$BATS_TEST_TMPDIR/tree
	mkdir -p "$dir/bin"
	for p in ssed sse-pub sse-cat; do ln -s "$SSED_BIN/$p" "$dir/bin/$p"; done
	# The tour's first shell block, with this ssed's port for 8080.
	awk '/^## A tour/ { on = 1 } on && /^```sh/ { n++; next } on && /^```/ && n == 1 { exit } on && n == 1' \
		"$TESTS/../README.md" | sed "s/localhost:8080/127.0.0.1:$PORT/g" >"$dir/tour"
	[ "$(wc -l <"$dir/tour")" -eq 7 ]
	out=$BATS_TEST_TMPDIR/out
	subs() { curl -sf "$URL/metrics" | grep -qx "ssed_subscribers $1"; }
	# `sse-cat -n 1` waits for the next event: publish one when it is there.
	bg bash -c "for i in \$(seq 500); do curl -sf '$URL/metrics' | grep -qx 'ssed_subscribers 1' && break; sleep 0.02; done; curl -sf -d next '$URL/events' >/dev/null"
	helper=$BG_PID
	{
		echo 'set -e'
		echo "subs() { for i in \$(seq 500); do curl -sf '$URL/metrics' | grep -qx \"ssed_subscribers \$1\" && return 0; sleep 0.02; done; return 1; }"
		sed -n 1,6p "$dir/tour"
		echo 'subs 1'   # a person types the next line later than a script
		sed -n 7p "$dir/tour"
		echo "for i in \$(seq 500); do tr -d '\\r' <'$out' | grep -qx 'a log line' && break; sleep 0.02; done"
		echo 'kill %1 %2'
	} >"$dir/tour.sh"
	# As in a terminal (script(1) gives it one: jq then flushes each line),
	# with a PATH without the programs: the tour's first line must bring them.
	(cd "$dir" && PATH=/usr/local/bin:/usr/bin:/bin timeout 60 script -qec "bash '$dir/tour.sh'" /dev/null) \
		>"$out" 2>&1 3>&- </dev/null || true
	tr -d '\r' <"$out" >"$out.txt"
	mv "$out.txt" "$out"
	wait "$helper"
	cat "$out"
	grep -qx next "$out"
	grep -qx 'a log line' "$out"
	! grep -q 'command not found' "$out"
}

@test "make install leaves no empty directory" {
	d=$BATS_TEST_TMPDIR/dest
	make -s -C "$TESTS/.." install DESTDIR="$d" PREFIX=/usr O="${O:-build}" B="${B:-bin}" >/dev/null
	run find "$d" -type d -empty
	[ -z "$output" ]
	[ -x "$d/usr/bin/sse-cat" ]
}
