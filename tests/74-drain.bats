#!/usr/bin/env bats
# ssed's drain: on SIGTERM it stops accepting, answers the requests in
# flight, ends the streams spread over --drain SECS and exits; a second
# SIGINT or SIGTERM stops it at once.
load test_helper

now() { date +%s.%N; }

# elapsed T0 - seconds since T0, to a tenth.
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# lt A B - A < B, for decimal numbers.
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

@test "ssed --drain: a value that is not a number of seconds is a usage error" {
	run "$SSED" --drain soon
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == "ssed: error: --drain: "*"soon"* ]]
	run "$SSED" --help
	[[ "$output" == *"--drain SECS"* ]]
}

@test "a drain of 2,000 streams over 5 s: every stream ends cleanly, spread evenly; /healthz says 503 meanwhile" {
	start_ssed
	log=$BATS_TEST_TMPDIR/drain.out
	python3 "$TESTS/drain_clients.py" 127.0.0.1 "$PORT" /events/d 2000 0.25 >"$log" 3>&- &
	clients=$!
	PIDS+=("$clients")
	WAIT_SECS=60 wait_for grep -qx ready "$log"
	t0=$(now)
	kill -TERM "$SSED_PID"
	wait "$SSED_PID"
	took=$(elapsed "$t0")
	wait "$clients"
	cat "$log"
	echo "# $(tail -1 "$log"), ssed exited after $took s" >&3
	grep -qx 'healthz 503' "$log"
	set -- $(tail -1 "$log")
	[ "$2" -eq 2000 ]
	[ "$4" -eq 2000 ]       # all closed, each after its last chunk
	lt 4 "$6"                                      # spread over the 5 s, not at once
	lt "$6" 5.5
	[ "${12}" -le $(( ${10%.*} * 2 )) ]            # no 250 ms slice above twice the mean
	lt "$took" 8                                   # gone once the last stream went
	grep -qx 'ssed: Terminated: draining 2000 stream(s) over 5 s' "$ERR"
	grep -qx 'ssed: stopped' "$ERR"
}

@test "a draining ssed refuses new connections on its own socket and exits once the last stream is gone" {
	start_ssed --drain 30
	subscribe "$BATS_TEST_TMPDIR/s" /events/x
	kill -TERM "$SSED_PID"
	wait_for grep -q 'draining 1 stream' "$ERR"
	run curl -s -o /dev/null --max-time 5 "$URL/healthz"
	[ "$status" -eq 7 ]   # connection refused: nothing listens any more
	# Its last stream hangs up: ssed exits without waiting out the 30 s.
	t0=$(now)
	kill "$BG_PID"
	wait "$SSED_PID"
	lt "$(elapsed "$t0")" 3
	grep -qx 'ssed: stopped' "$ERR"
}

@test "a publish in flight when SIGTERM comes is answered" {
	start_ssed --drain 10
	out=$BATS_TEST_TMPDIR/pub.out
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	# Half the body now, the rest after the signal.
	python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /events/late HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nhello")
print("sent", flush=True)
sys.stdin.readline()
s.sendall(b"world")
s.settimeout(10)
print(s.recv(4096).split(b"\r\n")[0].decode(), flush=True)' "$PORT" <"$BATS_TEST_TMPDIR/fifo" >"$out" 3>&- &
	PIDS+=($!)
	client=$!
	exec 9>"$BATS_TEST_TMPDIR/fifo"
	wait_for grep -qx sent "$out"
	kill -TERM "$SSED_PID"
	wait_for grep -q 'draining 0 stream' "$ERR"
	echo go >&9
	exec 9>&-
	wait "$client"
	cat "$out"
	grep -qx 'HTTP/1.1 200 OK' "$out"
	wait "$SSED_PID"
}

@test "SIGINT twice stops at once; SIGTERM during a drain too" {
	for second in INT TERM; do
		start_ssed --drain 60
		subscribe "$BATS_TEST_TMPDIR/s" /events/x
		subscribe "$BATS_TEST_TMPDIR/s2" /events/x
		kill -INT "$SSED_PID"
		wait_for grep -q 'draining 2 stream' "$ERR"
		t0=$(now)
		kill -"$second" "$SSED_PID"
		wait "$SSED_PID"
		lt "$(elapsed "$t0")" 3
		grep -q 'stopping at once' "$ERR"
		grep -qx 'ssed: stopped' "$ERR"
	done
}

@test "--drain 0 ends every stream at once, as a stop did before" {
	start_ssed --drain 0
	subscribe "$BATS_TEST_TMPDIR/s" /events/x
	t0=$(now)
	kill -TERM "$SSED_PID"
	wait "$SSED_PID"
	lt "$(elapsed "$t0")" 2
	! grep -q draining "$ERR"
}
