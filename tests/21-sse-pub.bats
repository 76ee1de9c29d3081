#!/usr/bin/env bats
# sse-pub: words, lines, whole, raw; failures and what it says about them.
load test_helper

@test "sse-pub --help and --version" {
	run "$SSE_PUB" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--whole"* && "$output" == *"--raw"* ]]
	run "$SSE_PUB" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "sse-pub "*"libcurl"* ]]
}

@test "sse-pub: usage errors exit 1" {
	run "$SSE_PUB"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "sse-pub: error: no URL given" ]
	run "$SSE_PUB" -i 5 http://127.0.0.1:1/events
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == *"--id names one event"* ]]
	run "$SSE_PUB" -s http://127.0.0.1:1/events word
	[ "$status" -eq 1 ]
	run "$SSE_PUB" -e $'a\nb' http://127.0.0.1:1/events word
	[ "$status" -eq 1 ]
	run "$SSE_PUB" --raw -e x http://127.0.0.1:1/events
	[ "$status" -eq 1 ]
}

@test "sse-pub URL words: one event, the words joined by spaces" {
	start_ssed
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/w
	run "$SSE_PUB" "$URL/events/w" hello  big world
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	wait_for grep -q '^data: hello big world$' "$out"
}

@test "sse-pub -e and -i set the type and id" {
	start_ssed
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/w
	"$SSE_PUB" -e note -i 'my id' "$URL/events/w" x
	wait_for grep -q '^data: x$' "$out"
	printf ': ssed\nid: my id\nevent: note\ndata: x\n\n' | cmp - "$out"
}

@test "sse-pub reads stdin: one event per line, a last line without newline too" {
	start_ssed
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/l
	printf 'one\ntwo\r\n\nlast' | "$SSE_PUB" -e line "$URL/events/l"
	wait_for grep -q '^data: last$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "one,two,,last," ]
	[ "$(grep -c '^event: line$' "$out")" -eq 4 ]
}

@test "sse-pub: empty stdin exits 0 at once and publishes nothing" {
	start_ssed
	run "$SSE_PUB" "$URL/events/e" </dev/null
	[ "$status" -eq 0 ]
	metric_is ssed_events_published_total 0
}

@test "sse-pub: each line leaves as it arrives, each acknowledged, over one connection" {
	start_ssed -v
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/f
	fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	bg_in "$fifo" "$SSE_PUB" "$URL/events/f"
	pub=$BG_PID
	exec 7>"$fifo"
	echo first >&7
	wait_for grep -q '^data: first$' "$out"
	echo second >&7
	wait_for grep -q '^data: second$' "$out"
	exec 7>&-
	rc=0
	wait "$pub" || rc=$?
	[ "$rc" -eq 0 ]
	# A quiet stdin ends the upload, so its reply acknowledges the line.
	[ "$(grep -c 'POST /events/f' "$ERR")" -eq 2 ]
}

@test "sse-pub -s: all of stdin is one event" {
	start_ssed
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/s
	printf 'a\nb\n' | "$SSE_PUB" -s -i w1 "$URL/events/s"
	wait_for grep -q '^data: b$' "$out"
	printf ': ssed\nid: w1\ndata: a\ndata: b\n\n' | cmp - "$out"
}

@test "seq 10000 | sse-pub: all delivered, in order" {
	start_ssed --history 20000
	out=$BATS_TEST_TMPDIR/out
	"$SSE_CAT" -n 10000 "$URL/events/seq" >"$out" &
	cat_pid=$!
	PIDS+=("$cat_pid")
	wait_for metric_is ssed_subscribers 1
	seq 1 10000 | "$SSE_PUB" "$URL/events/seq"
	wait "$cat_pid"
	seq 1 10000 | cmp - "$out"
}

@test "a streamed publish waits for a subscriber that pauses, instead of dropping it" {
	# 20 MB through a 64-event history, to a reader that stops for 0.5 s:
	# far more than the socket buffers hold, so the publish must wait.
	start_ssed --history 64
	out=$BATS_TEST_TMPDIR/out
	{ timeout 30 "$SSE_CAT" -n 20000 "$URL/events/bp" | { sleep 0.5; cat; } >"$out"; } 3>&- &
	cat_pid=$!
	PIDS+=("$cat_pid")
	wait_for metric_is ssed_subscribers 1
	seq 1 20000 | awk '{ printf "%s %01000d\n", $1, 0 }' | "$SSE_PUB" "$URL/events/bp"
	wait "$cat_pid"
	[ "$(wc -l <"$out")" -eq 20000 ]
	seq 1 20000 | awk '{ printf "%s %01000d\n", $1, 0 }' | cmp - "$out"
	metric_is ssed_slow_subscribers_dropped_total 0
}

@test "a subscriber that holds a streamed publish back for over a second is dropped" {
	start_ssed --history 64
	python3 "$BATS_TEST_DIRNAME/sse_clients.py" stall 127.0.0.1 "$PORT" /events/bp 3>&- &
	PIDS+=($!)
	wait_for metric_is ssed_subscribers 1
	run bash -c "seq 1 20000 | awk '{ printf \"%s %01000d\\n\", \$1, 0 }' | \"$SSE_PUB\" \"$URL/events/bp\""
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	metric_ge ssed_slow_subscribers_dropped_total 1
	metric_is ssed_events_published_total 20000
}

@test "sse-cat -o raw | sse-pub --raw bridges two ssed, keeping types and ids" {
	start_ssed
	url1=$URL
	start_ssed
	url2=$URL
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/b
	# The pipe is a fifo so that both ends are ours to stop at teardown.
	mkfifo "$BATS_TEST_TMPDIR/pipe"
	bg_in "$BATS_TEST_TMPDIR/pipe" "$SSE_PUB" --raw "$url2/events/b"
	"$SSE_CAT" -o raw "$url1/events/b" >"$BATS_TEST_TMPDIR/pipe" 3>&- &
	PIDS+=($!)
	wait_for sh -c "curl -sf '$url1/metrics' | grep -qx 'ssed_subscribers 1'"
	curl -sf -d hello "$url1/events/b?event=greet&id=g1" >/dev/null
	printf 'two\nlines' | curl -sf --data-binary @- "$url1/events/b" >/dev/null
	wait_for grep -q '^data: lines$' "$out"
	grep -q '^id: g1$' "$out"
	grep -q '^event: greet$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "hello,two,lines," ]
}

@test "sse-pub: HTTP errors are exit 2 naming the status and the reason" {
	start_ssed --max-body 10
	run "$SSE_PUB" "$URL/events/x" this message is too long
	[ "$status" -eq 2 ]
	[ "$output" = "sse-pub: error: $URL/events/x: HTTP 413: body too large (see --max-body) (nothing published)" ]
	run "$SSE_PUB" "$URL/nope" x
	[ "$status" -eq 2 ]
	[[ "$output" == *"HTTP 404: not found"* ]]
	run sh -c "echo x | '$SSE_PUB' '$URL/nope'"
	[ "$status" -eq 2 ]
	[[ "$output" == *"HTTP 404: not found"* ]]
}

@test "sse-pub: a dead port is exit 2" {
	start_ssed
	port=$PORT
	kill "$SSED_PID"; wait "$SSED_PID" || true
	run "$SSE_PUB" "http://127.0.0.1:$port/events" x
	[ "$status" -eq 2 ]
	[[ "$output" == *"onnect"*"(nothing published)" ]]
}

@test "sse-pub --token and SSE_TOKEN; the token is never printed" {
	printf 'tok-5ecret\n' >"$BATS_TEST_TMPDIR/tok"
	start_ssed --publish-token-file "$BATS_TEST_TMPDIR/tok"
	run "$SSE_PUB" "$URL/events/t" x
	[ "$status" -eq 2 ]
	[[ "$output" == *"HTTP 401"* ]]
	run sh -c "echo x | '$SSE_PUB' -v '$URL/events/t'"
	[ "$status" -eq 2 ]
	[[ "$output" == *"HTTP 401"* ]]
	run "$SSE_PUB" -v --token tok-5ecret "$URL/events/t" x
	[ "$status" -eq 0 ]
	[[ "$output" != *5ecret* ]]
	SSE_TOKEN=tok-5ecret run "$SSE_PUB" -v "$URL/events/t" x
	[ "$status" -eq 0 ]
	[[ "$output" != *5ecret* ]]
	SSE_TOKEN=not-this-one run "$SSE_PUB" -v "$URL/events/t" x
	[ "$status" -eq 2 ]
	[[ "$output" == *"HTTP 403"* && "$output" != *not-this-one* ]]
	metric_is ssed_events_published_total 2
}

@test "sse-pub over a Unix socket" {
	sock=$BATS_TEST_TMPDIR/s.sock
	start_ssed -u "$sock"
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/u
	"$SSE_PUB" -u "$sock" http://localhost/events/u over unix
	printf 'a\nb\n' | "$SSE_PUB" -u "$sock" http://localhost/events/u
	wait_for grep -q '^data: b$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "over unix,a,b," ]
}

@test "tail -f | sse-pub across a kill -9 of ssed: nothing lost, the report counts what ssed acknowledged" {
	start_ssed
	port=$PORT
	out=$BATS_TEST_TMPDIR/out
	"$SSE_CAT" "$URL/events/k" >"$out" 3>&- &
	PIDS+=($!)
	wait_for metric_is ssed_subscribers 1
	fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	errf=$BATS_TEST_TMPDIR/err
	"$SSE_PUB" -v "$URL/events/k" <"$fifo" 2>"$errf" 3>&- &
	pub=$!
	PIDS+=("$pub")
	exec 7>"$fifo"
	echo before >&7
	wait_for grep -qx before "$out"
	kill -9 "$SSED_PID"
	wait "$SSED_PID" || true
	# Lines written while the broker is away wait in sse-pub, said once.
	echo during1 >&7
	echo during2 >&7
	wait_for grep -q "warning: http://127.0.0.1:$port/events/k: .*; retrying" "$errf"
	start_ssed_on "$port" 7>&-
	echo after >&7
	wait_for grep -qx after "$out"
	exec 7>&-
	wait "$pub"
	[ "$(cat "$out")" = $'before\nduring1\nduring2\nafter' ]
	grep -q 'published 4 event(s)' "$errf"
	[ "$(grep -c warning "$errf")" -eq 1 ]
}

@test "sse-pub --max-retries N: exit 2 after N failed attempts, counting what was acknowledged" {
	start_ssed
	port=$PORT
	fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	errf=$BATS_TEST_TMPDIR/err
	"$SSE_PUB" --max-retries 3 "$URL/events/m" <"$fifo" 2>"$errf" 3>&- &
	pub=$!
	PIDS+=("$pub")
	exec 7>"$fifo"
	printf 'a\nb\n' >&7
	wait_for metric_is ssed_events_published_total 2
	kill -9 "$SSED_PID"
	wait "$SSED_PID" || true
	echo c >&7
	rc=0
	wait "$pub" || rc=$?
	exec 7>&-
	cat "$errf"
	[ "$rc" -eq 2 ]
	grep -qx "sse-pub: error: http://127.0.0.1:$port/events/m: Couldn't connect to server (3 attempts in a row failed, see --max-retries; 2 event(s) published, 1 not)" "$errf"
}

@test "sse-pub: a line over ssed's --max-body says so, naming the line; the lines before it are published once" {
	start_ssed --max-body 100000
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/mb
	# A line over 64 KiB is sent on its own, so ssed's 413 names it alone.
	run bash -c "{ echo one; echo two; head -c 200000 /dev/zero | tr '\\0' x; echo; echo four; } | '$SSE_PUB' '$URL/events/mb'"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-pub: error: $URL/events/mb: line 3: HTTP 413: body too large (see --max-body) (2 event(s) published)" ]
	wait_for grep -q '^data: two$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "one,two," ]
	# Lines over 64 KiB that fit are published, in order, each once.
	run bash -c "{ echo a; head -c 70000 /dev/zero | tr '\\0' y; echo; echo b; } | '$SSE_PUB' '$URL/events/mb'"
	[ "$status" -eq 0 ]
	wait_for grep -q '^data: b$' "$out"
	[ "$(data_lines "$out" | cut -c1-3 | tr '\n' ,)" = "one,two,a,yyy,b," ]
	# Under 64 KiB and over ssed's limit, the upload is cut: said just as
	# clearly, but the lines before it in the same upload may come twice.
	start_ssed --max-body 100
	out=$BATS_TEST_TMPDIR/out2
	subscribe "$out" /events/mb
	run bash -c "{ echo one; head -c 5000 /dev/zero | tr '\\0' x; echo; echo three; } | '$SSE_PUB' '$URL/events/mb'"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-pub: error: $URL/events/mb: line 2: HTTP 413: body too large (see --max-body) (1 event(s) published)" ]
	wait_for grep -q '^data: one$' "$out"
	[ "$(data_lines "$out" | sort -u | tr '\n' ,)" = "one," ]
	# One event over it: the status and the option.
	head -c 3000 /dev/zero >"$BATS_TEST_TMPDIR/big"
	run "$SSE_PUB" -f "$BATS_TEST_TMPDIR/big" "$URL/events/mb"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-pub: error: $URL/events/mb: HTTP 413: body too large (see --max-body) (nothing published)" ]
}

@test "sse-pub --json: data, event and id from each line; non-string data as its JSON" {
	start_ssed
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/j
	printf '%s\n' '{"data":"plain","event":"note","id":"j1"}' \
		'{"data":{"n":1,"a":[true,null]},"extra":"ignored"}' \
		'{"id":"j3","data":"two\nlines \u00e9\ud83d\ude00"}' \
		'{"data":42,"event":"message","id":""}' | "$SSE_PUB" --json "$URL/events/j"
	wait_for grep -q '^data: 42$' "$out"
	printf ': ssed\nid: j1\nevent: note\ndata: plain\n\nid: %s\ndata: {"n":1,"a":[true,null]}\n\nid: j3\ndata: two\ndata: lines é😀\n\nid: %s\ndata: 42\n\n' \
		"$(sed -n '6s/^id: //p' "$out")" "$(sed -n '13s/^id: //p' "$out")" | diff - "$out"
}

@test "sse-pub --json: an invalid line is named by its number; the lines before it are published" {
	start_ssed
	for bad in '{"data":"x",}' '["data"]' '{"data":"x"} trailing' '{"event":"e"}' '{"data":"\ud800"}' '{"data":"x","id":"a\nb"}' ''; do
		run bash -c "printf '%s\n' '{\"data\":\"ok\"}' '$bad' '{\"data\":\"never\"}' | '$SSE_PUB' --json '$URL/events/bad'"
		echo "$bad => $output"
		[ "$status" -eq 2 ]
		[[ "$output" == "sse-pub: error: line 2: "*" (1 event(s) published)" ]]
	done
	run bash -c "echo '{\"data\":\"x\",}' | '$SSE_PUB' --json '$URL/events/bad'"
	[ "$output" = "sse-pub: error: line 1: expected a key at byte 13 (0 event(s) published)" ]
	metric_is ssed_events_published_total 7
}

@test "sse-cat -o json | jq -c | sse-pub --json bridges two brokers, reshaping on the way" {
	start_ssed
	url1=$URL
	start_ssed
	url2=$URL
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/b
	mkfifo "$BATS_TEST_TMPDIR/pipe"
	bg_in "$BATS_TEST_TMPDIR/pipe" "$SSE_PUB" --json "$url2/events/b"
	# sse-cat's own pid (teardown stops it; jq then ends at its EOF).
	"$SSE_CAT" -o json "$url1/events/a" 3>&- \
		> >(jq --unbuffered -c '{data: (.data | ascii_upcase), event}' >"$BATS_TEST_TMPDIR/pipe" 3>&-) &
	PIDS+=($!)
	wait_for sh -c "curl -sf '$url1/metrics' | grep -qx 'ssed_subscribers 1'"
	curl -sf -d hello "$url1/events/a?event=greet" >/dev/null
	wait_for grep -q '^data: HELLO$' "$out"
	grep -q '^event: greet$' "$out"
}

@test "sse-pub -f FILE: the file is one event; a missing file is exit 2 naming it" {
	start_ssed
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/f
	printf 'line 1\nline 2\n' >"$BATS_TEST_TMPDIR/msg"
	"$SSE_PUB" -f "$BATS_TEST_TMPDIR/msg" -e file -i f1 "$URL/events/f"
	wait_for grep -q '^data: line 2$' "$out"
	printf ': ssed\nid: f1\nevent: file\ndata: line 1\ndata: line 2\n\n' | diff - "$out"
	run "$SSE_PUB" -f "$BATS_TEST_TMPDIR/none" "$URL/events/f"
	[ "$status" -eq 2 ]
	[ "$output" = "sse-pub: error: --file: cannot open $BATS_TEST_TMPDIR/none: No such file or directory" ]
	run "$SSE_PUB" -f "$BATS_TEST_TMPDIR/msg" --json "$URL/events/f"
	[ "$status" -eq 1 ]
}

@test "sse-pub -H adds a header; -q still prints errors" {
	printf 'hdr-tok\n' >"$BATS_TEST_TMPDIR/tok"
	start_ssed --publish-token-file "$BATS_TEST_TMPDIR/tok"
	run "$SSE_PUB" -H 'Authorization: Bearer hdr-tok' "$URL/events/h" x
	[ "$status" -eq 0 ]
	run "$SSE_PUB" -q -v "$URL/events/h" x
	[ "$status" -eq 2 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "sse-pub: error: $URL/events/h: HTTP 401"* ]]
	run "$SSE_PUB" -H 'no colon here' "$URL/events/h" x
	[ "$status" -eq 1 ]
}
