#!/usr/bin/env bats
# ssed: options, start-up, listeners and shutdown.
load test_helper

@test "ssed --help prints the options to stdout and exits 0" {
	run "$SSED" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--listen"* ]]
	[[ "$output" == *"--unix-socket"* ]]
	[[ "$output" == *"--history"* ]]
}

@test "ssed --version names ssed and libmicrohttpd" {
	run "$SSED" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "ssed "*"libmicrohttpd "* ]]
}

@test "ssed: an unknown option is a usage error (exit 1) with a hint" {
	run "$SSED" --no-such-option
	[ "$status" -eq 1 ]
	[[ "$output" == *"Try 'ssed --help'"* ]]
}

@test "ssed: a bad number names the option and the value" {
	run "$SSED" --history lots
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == "ssed: error: --history: 'lots' is not a whole number" ]]
	run "$SSED" --heartbeat -1
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == *"--heartbeat"* ]]
	run "$SSED" -l 127.0.0.1:99999
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == *"--listen"*"99999"* ]]
}

@test "ssed --delivery-threads: 0 is refused; 3 threads deliver every event to every stream" {
	run "$SSED" --delivery-threads 0
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == *"--delivery-threads"*"0"* ]]
	start_ssed --delivery-threads 3 --threads 1
	for i in 1 2 3 4 5 6; do
		subscribe "$BATS_TEST_TMPDIR/s$i" /events/d
	done
	for i in 1 2 3 4 5; do
		curl -sf -d "m$i" "$URL/events/d" >/dev/null
	done
	for i in 1 2 3 4 5 6; do
		wait_for grep -q '^data: m5$' "$BATS_TEST_TMPDIR/s$i"
		[ "$(grep -c '^data: m' "$BATS_TEST_TMPDIR/s$i")" -eq 5 ]
	done
}

@test "ssed: an unreadable token file is a usage error" {
	run "$SSED" --publish-token-file /nonexistent/token
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == *"--publish-token-file"*"/nonexistent/token"* ]]
}

@test "ssed: a port in use is a one-line error and exit 1" {
	start_ssed
	run "$SSED" -l "127.0.0.1:$PORT"
	[ "$status" -eq 1 ]
	[[ "$output" == "ssed: error: cannot listen on 127.0.0.1:$PORT: Address already in use" ]]
}

@test "ssed: SIGTERM stops it with exit 0 and a closing line" {
	start_ssed
	kill -TERM "$SSED_PID"
	rc=0
	wait "$SSED_PID" || rc=$?
	[ "$rc" -eq 0 ]
	grep -q 'stopped' "$ERR"
}

@test "ssed: SIGINT with open streams and --drain 0 ends them cleanly within a second" {
	start_ssed --drain 0
	subscribe "$BATS_TEST_TMPDIR/a" /events
	subscribe "$BATS_TEST_TMPDIR/b" /events/x
	start=$(date +%s%N)
	kill -INT "$SSED_PID"
	rc=0
	wait "$SSED_PID" || rc=$?
	end=$(date +%s%N)
	[ "$rc" -eq 0 ]
	[ $(( (end - start) / 1000000 )) -lt 1000 ]
}

@test "ssed: a restarted ssed binds the same port again at once" {
	start_ssed
	port=$PORT
	subscribe "$BATS_TEST_TMPDIR/a" /events
	kill "$SSED_PID"
	wait "$SSED_PID" || true
	start_ssed_on "$port"
	run curl -sf "$URL/healthz"
	[ "$output" = ok ]
}

@test "ssed: ids keep increasing across a restart" {
	start_ssed
	port=$PORT
	first=$(curl -sf -d a "$URL/events/t")
	kill "$SSED_PID"
	wait "$SSED_PID" || true
	start_ssed_on "$port"
	second=$(curl -sf -d b "$URL/events/t")
	[ "$second" -gt "$first" ]
}

@test "ssed: a Unix socket serves publish and subscribe, and is removed at exit" {
	sock=$BATS_TEST_TMPDIR/ssed.sock
	ERR=$BATS_TEST_TMPDIR/unix.err
	"$SSED" -u "$sock" 2>"$ERR" &
	pid=$!
	PIDS+=("$pid")
	wait_for grep -q "listening on unix:$sock" "$ERR"
	# Alone: no TCP listener was opened.
	[ "$(grep -c 'listening on' "$ERR")" -eq 1 ]
	out=$BATS_TEST_TMPDIR/out
	bg curl -sN --max-time 10 --unix-socket "$sock" http://x/events/u -o "$out"
	wait_for grep -q '^: ssed' "$out"
	run curl -sf --unix-socket "$sock" -d 'over unix' http://x/events/u
	[ "$status" -eq 0 ]
	wait_for grep -q '^data: over unix$' "$out"
	kill "$pid"
	wait "$pid"
	[ ! -e "$sock" ]
}

@test "ssed: a stale Unix socket file is replaced; another file is refused" {
	sock=$BATS_TEST_TMPDIR/stale.sock
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
	[ -S "$sock" ]
	start_ssed -u "$sock"
	run curl -sf --unix-socket "$sock" http://x/healthz
	[ "$output" = ok ]
	touch "$BATS_TEST_TMPDIR/plain"
	run "$SSED" -u "$BATS_TEST_TMPDIR/plain"
	[ "$status" -eq 1 ]
	[[ "$output" == *"exists and is not a socket"* ]]
}

@test "ssed: -l and -u together serve both" {
	sock=$BATS_TEST_TMPDIR/both.sock
	start_ssed -u "$sock"
	run curl -sf --unix-socket "$sock" -d one http://x/events/both
	[ "$status" -eq 0 ]
	run curl -sf "$URL/metrics"
	[[ "$output" == *"ssed_events_published_total 1"* ]]
}

@test "ssed: -q logs nothing on a clean start and stop" {
	ERR=$BATS_TEST_TMPDIR/q.err
	"$SSED" -q -l 127.0.0.1:0 2>"$ERR" &
	pid=$!
	PIDS+=("$pid")
	# -q hides the start-up line, so readiness is the socket itself.
	wait_for sh -c "ss -ltnp 2>/dev/null | grep -q 'pid=$pid,'"
	kill "$pid"
	wait "$pid"
	[ ! -s "$ERR" ]
}

@test "ssed -v logs each request" {
	start_ssed -v
	curl -sf "$URL/healthz" >/dev/null
	wait_for grep -q 'GET /healthz' "$ERR"
}
