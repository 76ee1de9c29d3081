#!/usr/bin/env bats
# sse-cat: printing, formats, filters, reconnection, failures.
load test_helper

@test "sse-cat --help and --version" {
	run "$SSE_CAT" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--format"* && "$output" == *"--no-reconnect"* ]]
	run "$SSE_CAT" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "sse-cat "*"libcurl"* ]]
}

@test "sse-cat: usage errors exit 1 with one line and a hint" {
	run "$SSE_CAT"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "sse-cat: error: no URL given" ]
	run "$SSE_CAT" -o xml http://127.0.0.1:1/
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "sse-cat: error: --format: 'xml' is not data, json or raw" ]
	run "$SSE_CAT" -n 0 http://127.0.0.1:1/
	[ "$status" -eq 1 ]
	run "$SSE_CAT" ftp://127.0.0.1/
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == *"not an http:// or https:// URL"* ]]
	run "$SSE_CAT" --bogus http://127.0.0.1:1/
	[ "$status" -eq 1 ]
	[[ "$output" == *"Try 'sse-cat --help'"* ]]
}

@test "sse-cat prints each event's data, flushed as it arrives" {
	start_ssed
	out=$BATS_TEST_TMPDIR/out
	"$SSE_CAT" "$URL/events/c" >"$out" &
	PIDS+=($!)
	wait_for metric_is ssed_subscribers 1
	curl -sf -d one "$URL/events/c" >/dev/null
	wait_for grep -qx one "$out"
	printf 'two\nlines' | curl -sf --data-binary @- "$URL/events/c" >/dev/null
	wait_for grep -qx lines "$out"
	[ "$(cat "$out")" = $'one\ntwo\nlines' ]
}

@test "sse-cat -n N exits 0 after N events" {
	start_ssed
	log=$BATS_TEST_TMPDIR/out
	"$SSE_CAT" -n 2 "$URL/events/n" >"$log" &
	pid=$!
	PIDS+=("$pid")
	wait_for metric_is ssed_subscribers 1
	for m in a b c; do curl -sf -d "$m" "$URL/events/n" >/dev/null; done
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat "$log")" = $'a\nb' ]
}

@test "sse-cat -o json | jq: id, event and data of every event" {
	start_ssed
	log=$BATS_TEST_TMPDIR/out
	"$SSE_CAT" -o json -n 2 "$URL/events/j" >"$log" &
	pid=$!
	PIDS+=("$pid")
	wait_for metric_is ssed_subscribers 1
	curl -sf -d 'x' "$URL/events/j?event=kind&id=i1" >/dev/null
	curl -sf -d 'y' "$URL/events/j" >/dev/null
	wait "$pid"
	run jq -r '[.id, .event, .data] | join("|")' "$log"
	[ "${lines[0]}" = "i1|kind|x" ]
	[[ "${lines[1]}" =~ ^[0-9]+\|message\|y$ ]]
}

@test "sse-cat -o json escapes control characters, quotes, invalid UTF-8 and emoji" {
	start_odd
	run "$SSE_CAT" -o json --no-reconnect "$ODD/json"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = '{"id":"","event":"message","data":"q\"\\\u0001\u001f\u007f\t"}' ]
	[ "${lines[1]}" = '{"id":"","event":"message","data":"�� bad"}' ]
	[ "${lines[2]}" = '{"id":"","event":"message","data":"😀"}' ]
	[ "${lines[3]}" = '{"id":"7","event":"t","data":"a\nb"}' ]
	# Every line is valid JSON whose data decodes back.
	run sh -c "'$SSE_CAT' -o json --no-reconnect '$ODD/json' | jq -r .data | head -1"
	[ "$output" = $'q"\\\x01\x1f\x7f\t' ]
}

@test "sse-cat -o raw prints the wire format" {
	start_odd
	run "$SSE_CAT" -o raw --no-reconnect "$ODD/json"
	[ "$status" -eq 0 ]
	[[ "$output" == *$'id: 7\nevent: t\ndata: a\ndata: b'* ]]
}

@test "sse-cat -e prints only the types asked for" {
	start_odd
	run "$SSE_CAT" -e t --no-reconnect "$ODD/json"
	[ "$output" = $'a\nb' ]
	run "$SSE_CAT" -e t -e message -n 1 --no-reconnect "$ODD/json"
	[ "${lines[0]}" = $'q"\\\x01\x1f\x7f\t' ]
}

@test "sse-cat honours retry and sends Last-Event-ID; 204 stops it with exit 0" {
	start_odd
	run "$SSE_CAT" "$ODD/retry"
	[ "$status" -eq 0 ]
	[ "$output" = $'one\ntwo' ]
	mapfile -t log < <(curl -sf "$ODD/log")
	[ "${log[0]#* }" = "-" ]
	[ "${log[1]#* }" = 1 ]
	[ "${log[2]#* }" = 2 ]
	# retry: 150 was honoured (the default would wait 3 s).
	gap=$(( ${log[1]%% *} - ${log[0]%% *} ))
	[ "$gap" -ge 140 ] && [ "$gap" -lt 2500 ]
}

@test "sse-cat: 204 at once is exit 0; 404 and a wrong type are exit 2 with a reason" {
	start_odd
	run "$SSE_CAT" "$ODD/204"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run "$SSE_CAT" "$ODD/404"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-cat: error: HTTP 404: no such stream" ]
	run "$SSE_CAT" "$ODD/wrongtype"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-cat: error: not an event stream (Content-Type: text/plain)" ]
}

@test "sse-cat: a dead port is exit 2 with --no-reconnect" {
	start_ssed
	port=$PORT
	kill "$SSED_PID"; wait "$SSED_PID" || true
	run "$SSE_CAT" --no-reconnect "http://127.0.0.1:$port/events"
	[ "$status" -eq 2 ]
	[[ "$output" == "sse-cat: error: http://127.0.0.1:$port/events: "*"onnect"* ]]
}

@test "sse-cat -t exits 3 when no event arrives in time" {
	start_odd
	run "$SSE_CAT" -t 0.5 "$ODD/stuck"
	[ "$status" -eq 3 ]
	[ "${lines[0]}" = x ]
	[[ "${lines[1]}" == *"no event for 0.5 s"* ]]
}

@test "sse-cat says so on stderr when the server signals a gap" {
	start_odd
	run --separate-stderr "$SSE_CAT" --no-reconnect "$ODD/gap"
	[ "$status" -eq 0 ]
	[ "$output" = after ]
	[[ "$stderr" == *"events were missed"*"'41'"* ]]
}

@test "sse-cat | head -1 ends quietly" {
	start_ssed
	err=$BATS_TEST_TMPDIR/err
	( "$SSE_CAT" "$URL/events/h" 2>"$err" | head -1 >"$BATS_TEST_TMPDIR/out" ) &
	pid=$!
	PIDS+=("$pid")
	wait_for metric_is ssed_subscribers 1
	curl -sf -d first "$URL/events/h" >/dev/null
	wait_for grep -qx first "$BATS_TEST_TMPDIR/out"
	curl -sf -d second "$URL/events/h" >/dev/null
	wait "$pid"
	[ ! -s "$err" ]
}

@test "sse-cat reconnects across an ssed restart with Last-Event-ID: nothing printed twice" {
	start_ssed --retry 100
	port=$PORT
	out=$BATS_TEST_TMPDIR/out
	"$SSE_CAT" "$URL/events/r" >"$out" &
	PIDS+=($!)
	wait_for metric_is ssed_subscribers 1
	curl -sf -d 1 "$URL/events/r" >/dev/null
	curl -sf -d 2 "$URL/events/r" >/dev/null
	wait_for grep -qx 2 "$out"
	kill "$SSED_PID"; wait "$SSED_PID" || true
	start_ssed_on "$port" --retry 100
	wait_for metric_is ssed_subscribers 1
	curl -sf -d 3 "$URL/events/r" >/dev/null
	wait_for grep -qx 3 "$out"
	[ "$(cat "$out")" = $'1\n2\n3' ]
}

@test "sse-cat resumes without duplicates when ssed still holds the events" {
	start_ssed --retry 100 --heartbeat 0.2
	out=$BATS_TEST_TMPDIR/out
	"$SSE_CAT" "$URL/events/d" >"$out" &
	PIDS+=($!)
	wait_for metric_is ssed_subscribers 1
	curl -sf -d 1 "$URL/events/d" >/dev/null
	wait_for grep -qx 1 "$out"
	# --last-event-id on a fresh sse-cat: replay after it, nothing before.
	id=$(curl -sf -d 2 "$URL/events/d")
	curl -sf -d 3 "$URL/events/d" >/dev/null
	run "$SSE_CAT" -n 1 --last-event-id "$id" "$URL/events/d"
	[ "$output" = 3 ]
}

@test "sse-cat over a Unix socket" {
	sock=$BATS_TEST_TMPDIR/s.sock
	start_ssed -u "$sock"
	out=$BATS_TEST_TMPDIR/out
	"$SSE_CAT" -n 1 -u "$sock" http://localhost/events/u >"$out" &
	pid=$!
	PIDS+=("$pid")
	wait_for metric_is ssed_subscribers 1
	curl -sf -d via-unix "$URL/events/u" >/dev/null
	wait "$pid"
	[ "$(cat "$out")" = via-unix ]
}

@test "sse-cat --token and SSE_TOKEN send a bearer token; -H adds headers" {
	printf 'sub\n' >"$BATS_TEST_TMPDIR/tok"
	start_ssed --subscribe-token-file "$BATS_TEST_TMPDIR/tok"
	run "$SSE_CAT" --no-reconnect -t 0.3 "$URL/events"
	[ "$status" -eq 2 ]
	[[ "$output" == *"HTTP 401"* ]]
	run "$SSE_CAT" -t 0.3 --token sub "$URL/events"
	[ "$status" -eq 3 ]
	SSE_TOKEN=sub run "$SSE_CAT" -t 0.3 "$URL/events"
	[ "$status" -eq 3 ]
	run "$SSE_CAT" -t 0.3 -H 'Authorization: Bearer sub' "$URL/events"
	[ "$status" -eq 3 ]
}

@test "sse-cat -v notes the connection on stderr; -q keeps quiet" {
	start_odd
	run --separate-stderr "$SSE_CAT" -v --no-reconnect "$ODD/json"
	[[ "$stderr" == *"connected: HTTP 200"* ]]
	run --separate-stderr "$SSE_CAT" -q --no-reconnect "$ODD/gap"
	[ -z "$stderr" ]
}
