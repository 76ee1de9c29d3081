#!/usr/bin/env bats
# Faults: a broker killed under its clients, broken and slow requests.
load test_helper

@test "kill -9 of ssed under sse-cat and tail -f | sse-pub: both carry on, nothing lost" {
	start_ssed --retry 200
	port=$PORT
	out=$BATS_TEST_TMPDIR/out
	err=$BATS_TEST_TMPDIR/cat.err
	"$SSE_CAT" "$URL/events/f" >"$out" 2>"$err" 3>&- &
	PIDS+=($!)
	fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	"$SSE_PUB" -v "$URL/events/f" <"$fifo" 2>"$BATS_TEST_TMPDIR/pub.err" 3>&- &
	pub=$!
	PIDS+=("$pub")
	exec 7>"$fifo"
	wait_for metric_is ssed_subscribers 1
	echo before >&7
	wait_for grep -qx before "$out"
	kill -9 "$SSED_PID"
	wait "$SSED_PID" || true
	# The line written while the broker is down waits in the publisher.
	echo after1 >&7
	wait_for grep -q 'retrying (1 event(s) waiting)' "$BATS_TEST_TMPDIR/pub.err"
	start_ssed_on "$port" --retry 200 7>&-
	# The subscriber comes back by itself and prints all that follows.
	wait_for metric_is ssed_subscribers 1
	for m in after2 after3; do echo "$m" >&7; done
	exec 7>&-
	wait "$pub"
	wait_for grep -qx after3 "$out"
	grep -q 'published 4 event(s)' "$BATS_TEST_TMPDIR/pub.err"
	# after1 may reach the new broker before the subscriber is back: then
	# it is missed by the subscriber, and sse-cat says so.
	if grep -qx after1 "$out"; then
		[ "$(cat "$out")" = $'before\nafter1\nafter2\nafter3' ]
	else
		[ "$(cat "$out")" = $'before\nafter2\nafter3' ]
	fi
	grep -q 'events were missed' "$err"
}

@test "kill -9 of a subscriber mid-stream: freed, the others go on" {
	start_ssed --heartbeat 0.2
	out=$BATS_TEST_TMPDIR/keep
	"$SSE_CAT" "$URL/events/m" >"$out" 3>&- &
	PIDS+=($!)
	"$SSE_CAT" "$URL/events/m" >/dev/null 3>&- &
	victim=$!
	PIDS+=("$victim")
	wait_for metric_is ssed_subscribers 2
	seq 1 500 | "$SSE_PUB" "$URL/events/m" 3>&- &
	pub=$!
	kill -9 "$victim"
	wait "$pub"
	wait_for metric_is ssed_subscribers 1
	curl -sf -d last "$URL/events/m" >/dev/null
	wait_for grep -qx last "$out"
	[ "$(grep -cx '[0-9]*' "$out")" -eq 500 ]
}

@test "truncated requests leave the server unaffected" {
	start_ssed
	for req in 'GET /events HTTP/1.1\r\nHost: x\r\n' 'POST /events/t HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort' 'GE'; do
		python3 - "$PORT" "$req" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
s.close()
PY
	done
	run curl -sf "$URL/healthz"
	[ "$output" = ok ]
	metric_is ssed_events_published_total 0
	wait_for metric_is ssed_subscribers 0
}

@test "a slowloris client that never finishes its headers is timed out" {
	start_ssed --timeout 2
	run timeout 30 python3 "$TESTS/sse_clients.py" slowloris 127.0.0.1 "$PORT" 3
	[[ "$output" == "closed after "* ]]
	s=${output#closed after }
	[ "${s%s}" -le 6 ]
	run curl -sf "$URL/healthz"
	[ "$output" = ok ]
}

@test "--header-timeout: headers trickled in faster than --timeout are still cut off" {
	start_ssed --timeout 60 --header-timeout 2
	start=$(date +%s)
	run timeout 30 python3 "$TESTS/sse_clients.py" slowloris 127.0.0.1 "$PORT" 0.3
	[[ "$output" == "closed after "* ]]
	[ $(( $(date +%s) - start )) -le 8 ]
	# A request that is all there is not touched, however long it lasts.
	subscribe "$BATS_TEST_TMPDIR/s" /events/h
	sleep 3  # longer than --header-timeout on purpose
	curl -sf -d still "$URL/events/h" >/dev/null
	wait_for grep -q '^data: still$' "$BATS_TEST_TMPDIR/s"
}

@test "the README's bridge, sse-cat -o raw | sse-pub --raw, rides out a kill -9 of the second broker" {
	start_ssed
	url1=$URL
	start_ssed
	port2=$PORT
	url2=$URL
	out=$BATS_TEST_TMPDIR/out
	"$SSE_CAT" "$url2/events/b" >"$out" 3>&- &
	PIDS+=($!)
	wait_for metric_is ssed_subscribers 1
	mkfifo "$BATS_TEST_TMPDIR/pipe"
	bg_in "$BATS_TEST_TMPDIR/pipe" "$SSE_PUB" --raw "$url2/events/b"
	"$SSE_CAT" -o raw "$url1/events/a" >"$BATS_TEST_TMPDIR/pipe" 3>&- &
	PIDS+=($!)
	wait_for sh -c "curl -sf '$url1/metrics' | grep -qx 'ssed_subscribers 1'"
	curl -sf -d one "$url1/events/a?event=t" >/dev/null
	wait_for grep -qx one "$out"
	kill -9 "$SSED_PID"
	wait "$SSED_PID" || true
	# Published upstream while the second broker is down: held, not lost.
	curl -sf -d two "$url1/events/a?event=t" >/dev/null
	start_ssed_on "$port2"
	wait_for metric_is ssed_subscribers 1
	curl -sf -d three "$url1/events/a?event=t" >/dev/null
	wait_for grep -qx three "$out"
	# "two" reached the new broker: before or after the subscriber came back.
	wait_for sh -c "curl -sf '$url2/metrics' | grep -qx 'ssed_events_published_total 2'"
}
