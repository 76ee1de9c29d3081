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
	[ "${lines[0]}" = "sse-cat: error: --format: 'xml' is not data, json, raw or a template with % fields" ]
	run "$SSE_CAT" -o '%q' http://127.0.0.1:1/
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == *"'%q' is not a template field"* ]]
	run "$SSE_CAT" --max-event-size 10X http://127.0.0.1:1/
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == *"--max-event-size: '10X' is not a size"* ]]
	run "$SSE_CAT" --max-retries 0 http://127.0.0.1:1/
	[ "$status" -eq 1 ]
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
	[ "$gap" -ge 140 ]
	[ "$gap" -lt 2500 ]
}

@test "sse-cat: 204 at once is exit 0; 404 and a wrong type are exit 2 with a reason" {
	start_odd
	run "$SSE_CAT" "$ODD/204"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run "$SSE_CAT" "$ODD/404"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-cat: error: $ODD/404: HTTP 404: no such stream" ]
	run "$SSE_CAT" "$ODD/wrongtype"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-cat: error: $ODD/wrongtype: not an event stream (Content-Type: text/plain)" ]
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

@test "sse-cat: a dead port is said at once, then retried quietly; --max-retries N ends it with exit 2" {
	start_ssed
	port=$PORT
	kill "$SSED_PID"; wait "$SSED_PID" || true
	# The first failure is on stderr at once, naming the URL and the reason.
	err=$BATS_TEST_TMPDIR/err
	bg "$SSE_CAT" "http://127.0.0.1:$port/events/x" 2>"$err"
	wait_for grep -q "warning: http://127.0.0.1:$port/events/x: Couldn't connect to server; retrying" "$err"
	[ "$(wc -l <"$err")" -eq 1 ]
	run "$SSE_CAT" --max-retries 2 "http://127.0.0.1:$port/events/x"
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "sse-cat: warning: http://127.0.0.1:$port/events/x: Couldn't connect to server; retrying" ]
	[ "${lines[1]}" = "sse-cat: error: http://127.0.0.1:$port/events/x: Couldn't connect to server (2 attempts in a row failed, see --max-retries)" ]
	[ "${#lines[@]}" -eq 2 ]
	# Over a Unix socket, the socket is named too.
	run "$SSE_CAT" --max-retries 1 -u "$BATS_TEST_TMPDIR/none.sock" http://localhost/events
	[ "$status" -eq 2 ]
	[[ "$output" == *"http://localhost/events (socket $BATS_TEST_TMPDIR/none.sock): "* ]]
}

@test "sse-cat backs off from retry: 0 and from a server that accepts and closes" {
	start_odd
	# retry: 0 and no event: 100 ms, then doubling; about 5 attempts in 3 s, not thousands.
	run timeout 3 "$SSE_CAT" "$ODD/retry0"
	[ "$status" -eq 124 ]
	[[ "$output" == "sse-cat: warning: $ODD/retry0: the server ended the stream; retrying" ]]
	n=$(curl -sf "$ODD/count?p=/retry0")
	[ "$n" -ge 3 ]
	[ "$n" -le 7 ]
	run "$SSE_CAT" --max-retries 3 "$ODD/retry0"
	[ "$status" -eq 2 ]
	[[ "${lines[-1]}" == *"(3 attempts in a row failed, see --max-retries)" ]]
	run timeout 2 "$SSE_CAT" "$ODD/close"
	[ "$status" -eq 124 ]
	[ "$(curl -sf "$ODD/count?p=/close")" -eq 1 ]
	[[ "$output" == "sse-cat: warning: $ODD/close: Server returned nothing"*"; retrying" ]]
}

@test "sse-cat follows 301, 302, 303, 307 and 308 redirects, a bounded number" {
	start_odd
	run "$SSE_CAT" --no-reconnect -n 1 "$ODD/redirect/5"
	[ "$status" -eq 0 ]
	[ "$output" = $'q"\\\x01\x1f\x7f\t' ]
	[ "$(curl -sf "$ODD/count?p=/redirect/1")" -eq 1 ]
	run "$SSE_CAT" "$ODD/loop"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-cat: error: $ODD/loop: more than 10 redirects" ]
}

@test "sse-cat prints events far over 64 KiB; past --max-event-size, one line and exit 2" {
	start_odd
	run --separate-stderr "$SSE_CAT" -n 1 "$ODD/big?n=3000000"
	[ "$status" -eq 0 ]
	[ "${#output}" -eq 3000000 ]
	run "$SSE_CAT" --max-event-size 1M "$ODD/big?n=3000000"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-cat: error: $ODD/big?n=3000000: an event is larger than 1048576 bytes (see --max-event-size)" ]
	# What ssed takes, sse-cat prints: a 1 MiB line.
	start_ssed
	out=$BATS_TEST_TMPDIR/out
	bg "$SSE_CAT" -n 1 "$URL/events/big"
	"$SSE_CAT" -n 1 "$URL/events/big" >"$out" &
	pid=$!
	PIDS+=("$pid")
	wait_for metric_is ssed_subscribers 2
	head -c 1048576 /dev/zero | tr '\0' y | curl -sf --data-binary @- "$URL/events/big" >/dev/null
	wait "$pid"
	[ "$(wc -c <"$out")" -eq 1048577 ]
}

@test "sse-cat --state FILE: a rerun prints nothing twice and misses nothing" {
	start_ssed
	state=$BATS_TEST_TMPDIR/sub/state
	mkdir -p "${state%/*}"
	for m in 1 2; do curl -sf -d "m$m" "$URL/events/st?id=$m" >/dev/null; done
	# No file yet: start from now, then keep each id.
	bg "$SSE_CAT" -n 1 --state "$state" "$URL/events/st"
	wait_for metric_is ssed_subscribers 1
	curl -sf -d m3 "$URL/events/st?id=3" >/dev/null
	wait "$BG_PID"
	[ "$(cat "$state")" = 3 ]
	# Published while no sse-cat ran: the rerun picks up after 3.
	curl -sf -d m4 "$URL/events/st?id=4" >/dev/null
	curl -sf -d m5 "$URL/events/st?id=5" >/dev/null
	run "$SSE_CAT" -n 2 --state "$state" "$URL/events/st"
	[ "$output" = $'m4\nm5' ]
	[ "$(cat "$state")" = 5 ]
	# Written by rename: no temporary file left behind.
	[ "$(ls "${state%/*}")" = state ]
	printf 'two\nlines\n' >"$state"
	run "$SSE_CAT" --state "$state" "$URL/events/st"
	[ "$status" -eq 2 ]
	[[ "$output" == *"does not hold an event id"* ]]
}

@test "sse-cat -W SECS ends after SECS whatever arrives; -t is the idle limit" {
	start_ssed --heartbeat 0.1
	start=$(date +%s%N)
	run "$SSE_CAT" -W 0.7 "$URL/events/w"
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$status" -eq 3 ]
	[ "$output" = "sse-cat: error: 0.7 s have passed (--deadline)" ]
	[ "$ms" -ge 650 ]
	[ "$ms" -lt 3000 ]
	# Also while waiting to reconnect to a dead port.
	run "$SSE_CAT" -q -W 0.5 http://127.0.0.1:1/events
	[ "$status" -eq 3 ]
	[ -z "$output" ]
}

@test "sse-cat --format TEMPLATE: id, type, data, length, receive time and escapes" {
	start_odd
	run "$SSE_CAT" --no-reconnect -e t -o '%i|%e|%l|%d%%\t%j\n' "$ODD/json"
	[ "$status" -eq 0 ]
	[ "$output" = $'7|t|3|a\nb%\t{"id":"7","event":"t","data":"a\\nb"}' ]
	run "$SSE_CAT" --no-reconnect -n 1 -o '%t %U\n' "$ODD/json"
	[[ "$output" =~ ^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z\ [0-9]{10}\.[0-9]{9}$ ]]
	# \0 ends records for xargs -0.
	run sh -c "'$SSE_CAT' --no-reconnect -e t -o '%d\\0' '$ODD/json' | xargs -0 printf '<%s>'"
	[ "$output" = $'<a\nb>' ]
}

@test "sse-cat --exec CMD: one run per event, in order, data on stdin, id and type in the environment" {
	start_ssed
	log=$BATS_TEST_TMPDIR/log
	bg "$SSE_CAT" -n 3 --exec "sleep 0.1; printf '%s %s ' \"\$SSE_ID\" \"\$SSE_EVENT\" >>'$log'; cat >>'$log'" "$URL/events/x"
	pid=$BG_PID
	wait_for metric_is ssed_subscribers 1
	curl -sf -d one "$URL/events/x?id=a&event=first" >/dev/null
	printf 'two\nlines' | curl -sf --data-binary @- "$URL/events/x?id=b" >/dev/null
	curl -sf -d three "$URL/events/x?id=c&event=third" >/dev/null
	wait "$pid"
	[ "$(cat "$log")" = $'a first one\nb message two\nlines\nc third three' ]
	run "$SSE_CAT" --exec true -o json "$URL/events/x"
	[ "$status" -eq 1 ]
}
