#!/usr/bin/env bats
# ssed: the HTTP API, byte for byte where bytes matter.
load test_helper

setup() { start_ssed; }

@test "GET / is the demo page: an EventSource on /events/TOPIC and a POST to it" {
	run curl -sf -D "$BATS_TEST_TMPDIR/h" "$URL/"
	[ "$status" -eq 0 ]
	[[ "$output" == *"new EventSource(url)"* ]]
	[[ "$output" == *"'/events/' + encodeURIComponent(topic)"* ]]
	[[ "$output" == *"method: 'POST'"* ]]
	grep -qi '^content-type: text/html' "$BATS_TEST_TMPDIR/h"
}

@test "GET /events/t opens a stream: status, headers, and the first bytes at once" {
	out=$BATS_TEST_TMPDIR/out
	bg curl -sN --max-time 10 -D "$BATS_TEST_TMPDIR/h" "$URL/events/t" -o "$out"
	wait_for grep -q '^: ssed' "$out"
	grep -q '^HTTP/1.1 200' "$BATS_TEST_TMPDIR/h"
	grep -qi '^content-type: text/event-stream' "$BATS_TEST_TMPDIR/h"
	grep -qi '^cache-control: no-cache' "$BATS_TEST_TMPDIR/h"
	grep -qi '^x-accel-buffering: no' "$BATS_TEST_TMPDIR/h"
}

@test "--retry sends a retry field first" {
	kill "$SSED_PID"; wait "$SSED_PID" || true
	start_ssed --retry 2500
	run curl -sN --max-time 1 "$URL/events"
	[ "${lines[0]}" = ": ssed" ]
	[ "${lines[1]}" = "retry: 2500" ]
}

@test "POST /events/t publishes its body; the reply is the id; subscribers get exact bytes" {
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/t
	id=$(curl -sf --data-binary 'hello world' "$URL/events/t")
	[[ "$id" =~ ^[0-9]+$ ]]
	wait_for grep -q '^data: hello world$' "$out"
	printf ': ssed\nid: %s\ndata: hello world\n\n' "$id" | cmp - "$out"
}

@test "LF, CR and CRLF in a body become several data lines" {
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/t
	printf 'a\nb\rc\r\nd' | curl -sf --data-binary @- "$URL/events/t" >/dev/null
	wait_for grep -q '^data: d$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "a,b,c,d," ]
}

@test "POST /events publishes to the topic default; GET /events reads it" {
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events
	curl -sf -d x "$URL/events" >/dev/null
	curl -sf -d y "$URL/events/default" >/dev/null
	wait_for grep -q '^data: y$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "x,y," ]
}

@test "query event= and id= set those fields" {
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/t
	run curl -sf -d body "$URL/events/t?event=note&id=custom-7"
	[ "$output" = custom-7 ]
	wait_for grep -q '^data: body$' "$out"
	printf ': ssed\nid: custom-7\nevent: note\ndata: body\n\n' | cmp - "$out"
}

@test "CR, LF or NUL in event or id is 400 and nothing is published" {
	for q in 'event=a%0Ab' 'event=a%0Db' 'id=a%0Ab' 'id=a%00b' 'id=' 'event=a%00b'; do
		run curl -s -o /dev/null -w '%{http_code}' -d x "$URL/events/t?$q"
		[ "$output" = 400 ] || { echo "$q gave $output"; false; }
	done
	metric_is ssed_events_published_total 0
}

@test "a text/event-stream POST publishes each event; the reply is the count" {
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/t
	run curl -sf -H 'Content-Type: text/event-stream' --data-binary \
		$'data: one\n\nevent: kind\ndata: two\ndata: lines\n\nid: mine\ndata: three\n\ndata: unterminated' \
		"$URL/events/t"
	[ "$output" = 3 ]
	wait_for grep -q '^data: three$' "$out"
	grep -q '^event: kind$' "$out"
	grep -q '^id: mine$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "one,two,lines,three," ]
}

@test "a long chunked text/event-stream upload publishes each event as it arrives" {
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/live
	fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	bg_in "$fifo" curl -sf -H 'Content-Type: text/event-stream' -H 'Transfer-Encoding: chunked' \
		-T - -X POST "$URL/events/live" -o "$BATS_TEST_TMPDIR/reply"
	exec 7>"$fifo"
	printf 'data: first\n\n' >&7
	wait_for grep -q '^data: first$' "$out"
	printf 'data: second\n\n' >&7
	wait_for grep -q '^data: second$' "$out"
	exec 7>&-
	wait_for grep -qx 2 "$BATS_TEST_TMPDIR/reply"
}

@test "a quiet stream publisher is not timed out" {
	kill "$SSED_PID"; wait "$SSED_PID" || true
	start_ssed --timeout 1
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/q
	fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	bg_in "$fifo" curl -sf -H 'Content-Type: text/event-stream' -H 'Transfer-Encoding: chunked' \
		-T - -X POST "$URL/events/q" -o "$BATS_TEST_TMPDIR/reply"
	exec 7>"$fifo"
	printf 'data: a\n\n' >&7
	wait_for grep -q '^data: a$' "$out"
	sleep 2.5  # longer than --timeout on purpose: the point is to be idle
	printf 'data: b\n\n' >&7
	exec 7>&-
	wait_for grep -qx 2 "$BATS_TEST_TMPDIR/reply"
}

@test "GET /broadcast?msg= publishes to default and replies with the id" {
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events
	run curl -sf "$URL/broadcast?msg=hello%20there"
	[[ "$output" =~ ^[0-9]+$ ]]
	wait_for grep -q '^data: hello there$' "$out"
	run curl -s -o /dev/null -w '%{http_code}' "$URL/broadcast"
	[ "$output" = 400 ]
}

@test "several topics on one stream arrive in publish order" {
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" '/events?topic=a&topic=b'
	for m in a:1 b:2 a:3 c:x b:4 a:5; do
		curl -sf -d "${m#*:}" "$URL/events/${m%%:*}" >/dev/null
	done
	wait_for grep -q '^data: 5$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "1,2,3,4,5," ]
}

@test "heartbeat comments arrive on an idle stream" {
	kill "$SSED_PID"; wait "$SSED_PID" || true
	start_ssed --heartbeat 0.2
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events
	wait_for grep -qx ':' "$out"
}

@test "CORS: preflight answers 204 with the allowed methods and headers" {
	kill "$SSED_PID"; wait "$SSED_PID" || true
	start_ssed --cors https://app.example
	run curl -s -D - -o /dev/null -X OPTIONS -H 'Origin: https://app.example' \
		-H 'Access-Control-Request-Method: POST' "$URL/events/t"
	[[ "$output" == *"HTTP/1.1 204"* ]]
	[[ "$output" == *"Access-Control-Allow-Origin: https://app.example"* ]]
	[[ "$output" == *"Access-Control-Allow-Methods: GET, HEAD, POST, OPTIONS"* ]]
	[[ "$output" == *"Last-Event-ID"* ]]
	# A page on the origin may number its publishes too.
	[[ "$output" == *"Access-Control-Allow-Headers: "*"Ssed-Publisher"* ]]
	run curl -s -D - -o /dev/null -d x "$URL/events/t"
	[[ "$output" == *"Access-Control-Allow-Origin: https://app.example"* ]]
}

@test "no CORS headers without --cors" {
	run curl -s -D - -o /dev/null -d x "$URL/events/t"
	[[ "$output" != *"Access-Control-Allow-Origin"* ]]
}

@test "GET /healthz is ok; GET /metrics is Prometheus text with every counter" {
	run curl -sf "$URL/healthz"
	[ "$output" = ok ]
	curl -sf -d x "$URL/events/m" >/dev/null
	run curl -sf "$URL/metrics"
	for m in ssed_subscribers ssed_subscribers_limit ssed_topics ssed_events_published_total \
		ssed_events_delivered_total ssed_bytes_delivered_total \
		ssed_slow_subscribers_dropped_total ssed_gaps_total ssed_publish_waits_total \
		ssed_publish_window; do
		[[ "$output" == *"# TYPE $m "* ]] || { echo "missing $m"; false; }
	done
	[[ "$output" == *"ssed_events_published_total 1"* ]]
}

@test "events delivered are counted" {
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/c
	curl -sf -d x "$URL/events/c" >/dev/null
	wait_for grep -q '^data: x$' "$out"
	wait_for metric_is ssed_events_delivered_total 1
}

@test "errors: 404 unknown path, 405 with Allow, 400 bad topic" {
	run curl -s -w '%{http_code}' "$URL/nope"
	[ "$output" = $'not found\n404' ]
	run curl -s -D - -X DELETE "$URL/events/t"
	[[ "$output" == *"405 Method Not Allowed"* ]]
	[[ "$output" == *"Allow: GET, HEAD, POST, OPTIONS"* ]]
	run curl -s -X PUT -o /dev/null -w '%{http_code}' "$URL/"
	[ "$output" = 405 ]
	for t in 'a%20b' 'a%2Fb' "$(printf 'x%.0s' {1..129})" 'caf%C3%A9'; do
		run curl -s -o /dev/null -w '%{http_code}' -d x "$URL/events/$t"
		[ "$output" = 400 ] || { echo "topic $t gave $output"; false; }
	done
	run curl -s -o /dev/null -w '%{http_code}' "$URL/events?topic=bad%20one"
	[ "$output" = 400 ]
}

@test "a body over --max-body is 413 and nothing is published" {
	kill "$SSED_PID"; wait "$SSED_PID" || true
	start_ssed --max-body 1K
	run curl -s -w ' %{http_code}' --data-binary "$(head -c 1025 /dev/zero | tr '\0' x)" "$URL/events/t"
	[[ "$output" == *" 413" ]]
	# Chunked, so the size is only known while reading.
	run sh -c "head -c 5000 /dev/zero | tr '\0' x | curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -T - -X POST '$URL/events/t'"
	[ "$output" = 413 ]
	run curl -s -w ' %{http_code}' --data-binary "$(head -c 1024 /dev/zero | tr '\0' x)" "$URL/events/t"
	[[ "$output" == *" 200" ]]
	metric_is ssed_events_published_total 1
}

@test "an event stream upload with an event over --max-body is cut off; earlier events stay" {
	kill "$SSED_PID"; wait "$SSED_PID" || true
	start_ssed --max-body 100
	big=$(head -c 200 /dev/zero | tr '\0' x)
	run curl -s -H 'Content-Type: text/event-stream' --data-binary $'data: ok\n\ndata: '"$big"$'\n\ndata: after\n\n' "$URL/events/t"
	[ "$status" -ne 0 ]
	metric_is ssed_events_published_total 1
	run curl -sf "$URL/healthz"
	[ "$output" = ok ]
}

@test "malformed HTTP gets 400 and the server keeps serving" {
	run python3 "$TESTS/sse_clients.py" raw 127.0.0.1 "$PORT" "$(printf 'POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' | od -An -tx1 | tr -d ' \n')"
	[[ "$output" == "HTTP/1.1 400"* ]]
	# A request line that is not HTTP at all: libmicrohttpd closes without a reply.
	run python3 "$TESTS/sse_clients.py" raw 127.0.0.1 "$PORT" "$(printf 'NONSENSE\r\n\r\n' | od -An -tx1 | tr -d ' \n')"
	[[ "$output" == "HTTP/1.1 400"* || "$output" == "(closed)" ]]
	run python3 "$TESTS/sse_clients.py" raw 127.0.0.1 "$PORT" "$(printf 'GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n' | od -An -tx1 | tr -d ' \n')"
	[[ "$output" == "HTTP/1.1 400"* ]]
	run python3 "$TESTS/sse_clients.py" raw 127.0.0.1 "$PORT" "000102ff0d0a0d0a"
	[[ "$output" == "HTTP/1.1 400"* || "$output" == "(closed)" ]]
	run curl -sf "$URL/healthz"
	[ "$output" = ok ]
}
