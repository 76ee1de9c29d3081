#!/usr/bin/env bats
# Node's eventsource package as an independent client.
load test_helper

setup_file() { npm_deps eventsource; }

@test "eventsource (npm): multi-line data, types, ids, and Last-Event-ID after a restart" {
	command -v node
	start_ssed --retry 200
	port=$PORT
	out=$BATS_TEST_TMPDIR/out
	timeout 90 node "$TESTS/js/node-es.mjs" "$URL/events/n" 4 >"$out" 2>&1 3>&- &
	node_pid=$!
	PIDS+=("$node_pid")
	wait_for grep -qx open "$out"
	id1=$(printf 'line one\nline two' | curl -sf --data-binary @- "$URL/events/n")
	curl -sf -d x "$URL/events/n?event=note&id=n-1" >/dev/null
	wait_for grep -q '^note ' "$out"
	kill "$SSED_PID"
	wait "$SSED_PID" || true
	start_ssed_on "$port" --retry 200
	wait_for metric_is ssed_subscribers 1
	id3=$(curl -sf -d after "$URL/events/n")
	wait "$node_pid"
	cat "$out"
	mapfile -t got <"$out"
	[ "${got[0]}" = open ]
	[ "${got[1]}" = "message \"line one\\nline two\" $id1" ]
	[ "${got[2]}" = 'note "x" n-1' ]
	[ "${got[3]}" = open ]
	# The client sent Last-Event-ID: n-1; the new ssed cannot place it and says so.
	[ "${got[4]}" = 'ssed-gap "n-1" n-1' ]
	[ "${got[5]}" = "message \"after\" $id3" ]
}
