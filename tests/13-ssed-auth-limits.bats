#!/usr/bin/env bats
# ssed: tokens, subscriber limits, slow subscribers, many streams.
load test_helper

# not_opened LOG - why streams did not open: the client's words, where the
# others are (waiting to be accepted: the listening socket's Recv-Q;
# accepted: ssed's descriptors; subscribed: ssed's count), ssed's log.
not_opened() {
	cat "$1"
	echo "# clients still connecting (SYN sent): $(ss -Htn state syn-sent "dport = :$PORT" | wc -l)," \
		"connected: $(ss -Htn state established "dport = :$PORT" | wc -l)," \
		"accept queue: $(ss -Hltn "sport = :$PORT" | awk '{ print $2 }')," \
		"ssed's descriptors: $(ls /proc/$SSED_PID/fd | wc -l)," \
		"subscribers: $(metric ssed_subscribers)," \
		"$(nstat -az TcpExtListenOverflows 2>/dev/null | awk '/ListenOverflows/ { print "listen overflows since boot: " $2 }')"
	grep -v -e '^ssed: GET' -e '-> 200 stream' "$ERR" | tail -20
}

# many_streams PATH N COUNT - N streams of PATH in the background, each
# reading until it has COUNT events (sse_clients.py many); returns once all
# are open. Sets MANY_LOG (ends "ok N COUNT" when all came) and MANY_PID.
many_streams() {
	MANY_LOG=$BATS_TEST_TMPDIR/many
	python3 "$TESTS/sse_clients.py" many 127.0.0.1 "$PORT" "$1" "$2" "$3" >"$MANY_LOG" &
	MANY_PID=$!
	PIDS+=("$MANY_PID")
	WAIT_SECS=60 wait_for grep -q ready "$MANY_LOG" || { not_opened "$MANY_LOG"; false; }
}

@test "publish token: 401 without, 403 wrong, 200 right; subscribing stays open" {
	printf 's3cret\n' >"$BATS_TEST_TMPDIR/tok"
	start_ssed --publish-token-file "$BATS_TEST_TMPDIR/tok"
	run curl -s -D - -d x "$URL/events/t"
	[[ "$output" == *"401 Unauthorized"* ]]
	[[ "$output" == *"WWW-Authenticate: Bearer"* ]]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' -d x "$URL/events/t"
	[ "$output" = 403 ]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cre' -d x "$URL/events/t"
	[ "$output" = 403 ]
	run curl -s -o /dev/null -w '%{http_code}' "$URL/broadcast?msg=x"
	[ "$output" = 401 ]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret' -d x "$URL/events/t"
	[ "$output" = 200 ]
	run curl -sN --max-time 1 "$URL/events/t"
	[ "${lines[0]}" = ": ssed" ]
	metric_is ssed_events_published_total 1
}

@test "the token never appears in the log, even with -v" {
	printf 's3cret\n' >"$BATS_TEST_TMPDIR/tok"
	start_ssed -v --publish-token-file "$BATS_TEST_TMPDIR/tok"
	curl -s -H 'Authorization: Bearer s3cret' -d x "$URL/events/t" >/dev/null
	curl -s -H 'Authorization: Bearer nope' -d x "$URL/events/t" >/dev/null
	wait_for grep -q 'wrong token' "$ERR"
	! grep -q s3cret "$ERR"
}

@test "publishing over the Unix socket needs no token" {
	printf 's3cret\n' >"$BATS_TEST_TMPDIR/tok"
	sock=$BATS_TEST_TMPDIR/s.sock
	start_ssed -u "$sock" --publish-token-file "$BATS_TEST_TMPDIR/tok"
	run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" -d x http://x/events/t
	[ "$output" = 200 ]
}

@test "subscribe token: needed when given, as a header or access_token" {
	printf 'sub\n' >"$BATS_TEST_TMPDIR/tok"
	start_ssed --subscribe-token-file "$BATS_TEST_TMPDIR/tok"
	run curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/events"
	[ "$output" = 401 ]
	run curl -sN --max-time 1 -H 'Authorization: Bearer sub' "$URL/events"
	[ "${lines[0]}" = ": ssed" ]
	run curl -sN --max-time 1 "$URL/events?access_token=sub"
	[ "${lines[0]}" = ": ssed" ]
	run curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/events?access_token=bus"
	[ "$output" = 403 ]
}

@test "--max-subscribers: the next subscriber gets 503, publishers still get in" {
	start_ssed --max-subscribers 2
	metric_is ssed_subscribers_limit 2
	subscribe "$BATS_TEST_TMPDIR/a" /events
	subscribe "$BATS_TEST_TMPDIR/b" /events
	run curl -s -D - --max-time 2 "$URL/events"
	[[ "$output" == *"503 Service Unavailable"* ]]
	[[ "$output" == *"too many subscribers"* ]]
	run curl -s -o /dev/null -w '%{http_code}' -d x "$URL/events"
	[ "$output" = 200 ]
	wait_for grep -q '^data: x$' "$BATS_TEST_TMPDIR/b"
}

@test "a killed subscriber is noticed by the heartbeat and freed" {
	start_ssed --heartbeat 0.2
	subscribe "$BATS_TEST_TMPDIR/a" /events
	subscribe "$BATS_TEST_TMPDIR/b" /events
	kill -9 "$BG_PID"
	wait_for metric_is ssed_subscribers 1
	curl -sf -d still "$URL/events" >/dev/null
	wait_for grep -q '^data: still$' "$BATS_TEST_TMPDIR/a"
}

@test "a stalled subscriber does not delay the others and is dropped (behind the history or past --timeout)" {
	start_ssed --history 20 --timeout 2
	python3 "$TESTS/sse_clients.py" stall 127.0.0.1 "$PORT" /events/s >"$BATS_TEST_TMPDIR/stall" &
	PIDS+=($!)
	wait_for grep -q stalled "$BATS_TEST_TMPDIR/stall"
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/s
	wait_for metric_is ssed_subscribers 2
	# 400 events of 16 KiB: far more than the stalled socket's buffers and the history.
	big=$(head -c 16384 /dev/zero | tr '\0' z)
	for i in $(seq 1 400); do printf 'data: %s %s\n\n' "$i" "$big"; done |
		curl -sf -H 'Content-Type: text/event-stream' --data-binary @- "$URL/events/s" >/dev/null
	WAIT_SECS=30 wait_for grep -q "^data: 400 " "$out"
	[ "$(grep -c '^data: ' "$out")" -eq 400 ]
	# Whichever comes first ends it: the upload's wait for room (dropped as
	# slow, counted) or --timeout without progress (on a busy machine the
	# upload can take longer than that to fill the history). The wait for
	# room alone: 21-sse-pub.bats.
	WAIT_SECS=30 wait_for metric_is ssed_subscribers 1
}

@test "1000 concurrent subscribers each receive all of 200 events once and in order" {
	# -v: should a stream fail, libmicrohttpd's own word on it is in the log.
	start_ssed -v
	many_streams /events/m 1000 200
	for i in $(seq 1 200); do printf 'data: %s\n\n' "$i"; done |
		curl -sf -H 'Content-Type: text/event-stream' --data-binary @- "$URL/events/m" >/dev/null
	wait "$MANY_PID"
	[ "$(tail -1 "$MANY_LOG")" = "ok 1000 200" ]
}

@test "--publish-window: a burst of single-event POSTs waits for 300 streams' turns, and loses nothing" {
	run "$SSED" --publish-window x
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == *"--publish-window"*"x"* ]]
	start_ssed --publish-window 1 --delivery-threads 1
	many_streams /events/w 300 100
	metric_is ssed_publish_waits_total 0
	# 100 POSTs over one connection, each as soon as the one before is answered.
	post_all "$URL/events/w" $(seq 1 100)
	wait "$MANY_PID"
	[ "$(tail -1 "$MANY_LOG")" = "ok 300 100" ]
	metric_ge ssed_publish_waits_total 1
}

@test "--publish-window: large events wait at a quarter of --history-bytes, so no stream waiting for its turn is dropped" {
	# 256K of history holds 64 events of 4K: the window of 250 events alone
	# would let a burst push out what streams still wait to read.
	start_ssed --history-bytes 256K --delivery-threads 1
	many_streams /events/w 300 100
	# Each event 4K: its number and padding. One upload, so events come in
	# far faster than one delivery thread serves 300 streams 4K each: the
	# window, not the publisher's pace, is what keeps the ring from
	# overtaking them.
	pad=$(head -c 4000 /dev/zero | tr '\0' x)
	seq 1 100 | sed "s/^/data: /; s/\$/ $pad\n/" |
		curl -sf -H 'Content-Type: text/event-stream' --data-binary @- "$URL/events/w" >/dev/null
	wait "$MANY_PID" || { cat "$MANY_LOG"; false; }
	[ "$(tail -1 "$MANY_LOG")" = "ok 300 100" ]
	metric_is ssed_slow_subscribers_dropped_total 0
	metric_ge ssed_publish_waits_total 1
}

@test "--publish-window: events published before a stream parked do not count against the window" {
	# A window of 25: 100 events go out while nobody listens, then a stream
	# opens at the newest. It is never behind, so no publish waits for it.
	start_ssed --history 100 --delivery-threads 1
	for i in $(seq 1 100); do printf 'data: %s\n\n' "$i"; done |
		curl -sf -H 'Content-Type: text/event-stream' --data-binary @- "$URL/events/q" >/dev/null
	f=$BATS_TEST_TMPDIR/q
	subscribe "$f" /events/q
	# Once a stream has an event it has parked, so the second publish
	# finds it parked whatever the timing of the first.
	for e in e1 e2; do
		curl -sf -d "$e" "$URL/events/q" >/dev/null
		wait_for grep -qx "data: $e" "$f"
	done
	metric_is ssed_publish_window 25
	metric_is ssed_publish_waits_total 0
}

@test "--publish-window: a quarter of --history by default and at most, shown in /metrics" {
	# ARGS=WINDOW; --history has a floor of 64 events in memory.
	for c in "=250" "--history 2000=500" "--history 10=16" "--publish-window 7=7" \
		"--history 100 --publish-window 9999=25" "--publish-window 0=0"; do
		# shellcheck disable=SC2086
		start_ssed ${c%=*}
		metric_is ssed_publish_window "${c##*=}" || { echo "$c: $(metric ssed_publish_window)"; false; }
		kill "$SSED_PID"
		wait "$SSED_PID"
	done
}

@test "streams a full send buffer could not take keep their turn: every stream gets its first 64 KiB before any its second" {
	# One delivery thread reads the hub for up to 64 streams at a time into
	# a 1 MiB buffer: 16 streams 64 KiB behind fill it. The other streams of
	# that batch must come next, not after the 16 have been served again.
	start_ssed --delivery-threads 1 --publish-window 0
	many_streams /events/b 40 1
	wait_for metric_is ssed_subscribers 40
	# Watch ssed's sends: strace says "attached" once it has every thread.
	trace=$BATS_TEST_TMPDIR/sends
	strace -f -e trace=sendto -o "$trace" -p "$SSED_PID" 2>"$trace.err" &
	tracer=$!
	PIDS+=("$tracer")
	wait_for grep -q attached "$trace.err" || { cat "$trace.err"; false; }
	# One event of 200 KB: four sends to each stream.
	{ printf '1 '; head -c 200000 /dev/zero | tr '\0' x; } |
		curl -sf --data-binary @- "$URL/events/b" >/dev/null
	wait "$MANY_PID" || { cat "$MANY_LOG"; false; }
	[ "$(tail -1 "$MANY_LOG")" = "ok 40 1" ]
	# Let ssed go before it ends: its leak check at exit needs to trace it.
	kill "$tracer"
	wait "$tracer" || true
	# The sockets of the first 40 sends of 64 KiB (chunk and framing).
	sed -nE 's/.*sendto\(([0-9]+), .*, ([0-9]+), MSG.*/\1 \2/p' "$trace" |
		awk '$2 > 60000 { print $1 }' | head -40 >"$trace.fds"
	[ "$(wc -l <"$trace.fds")" -eq 40 ]
	[ "$(sort -u "$trace.fds" | wc -l)" -eq 40 ] || { tr '\n' ' ' <"$trace.fds"; false; }
}

@test "graceful shutdown with 1000 open streams: exit 0 within a second" {
	start_ssed -v --drain 0  # should a stream fail to open, the log says what libmicrohttpd saw
	many_streams /events/z 1000 1
	wait_for metric_is ssed_subscribers 1000
	start=$(date +%s%N)
	kill -TERM "$SSED_PID"
	rc=0
	wait "$SSED_PID" || rc=$?
	end=$(date +%s%N)
	[ "$rc" -eq 0 ]
	[ $(( (end - start) / 1000000 )) -lt 1000 ]
	! grep -qi 'fatal' "$ERR"
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$SSED_PID/status"; }
rss_near() { [ "$(rss_kb)" -le $(($1 + 8192)) ]; }
fds_near() { [ "$(ls "/proc/$SSED_PID/fd" | wc -l)" -le $(($1 + 2)) ]; }

@test "5000 connections dropped abruptly, twice: fds and RSS back to the baseline, no log flood" {
	start_ssed --heartbeat 0.5
	wait_for metric_is ssed_subscribers 0
	fds0=$(ls "/proc/$SSED_PID/fd" | wc -l)
	rss0=$(rss_kb)
	for round in 1 2; do
		log=$BATS_TEST_TMPDIR/many.$round
		python3 "$TESTS/sse_clients.py" many 127.0.0.1 "$PORT" /events/gone 5000 1000000 >"$log" 3>&- &
		pid=$!
		PIDS+=("$pid")
		# 45 s each, so that what is printed on a failure comes before the
		# test's own time limit (120 s).
		WAIT_SECS=45 wait_for grep -q ready "$log" || { not_opened "$log"; false; }
		WAIT_SECS=20 wait_for metric_is ssed_subscribers 5000
		echo "round $round: $(rss_kb) KiB with 5000 streams"
		kill -9 "$pid"
		wait "$pid" || true
		wait_for metric_is ssed_subscribers 0
		# Under AddressSanitizer freed memory waits in its quarantine; there
		# LeakSanitizer checks for leaks instead.
		[ -n "${SAN_LOG:-}" ] || wait_for rss_near "$rss0"
		echo "round $round: $(rss_kb) KiB after (baseline $rss0)"
	done
	# A stream leaves the hub a moment before libmicrohttpd closes its socket.
	WAIT_SECS=30 wait_for fds_near "$fds0"
	# One start-up line, nothing per dead client.
	[ "$(wc -l <"$ERR")" -eq 1 ]
}

@test "the open-file limit caps --max-subscribers, and ssed says so" {
	run timeout 2 bash -c "ulimit -n 1000 && ulimit -Hn 1000 && exec '$SSED' -l 127.0.0.1:0 --max-subscribers 5000"
	[ "$status" -eq 124 ]
	[[ "$output" == *"the open-file limit (1000) caps --max-subscribers at 680"* ]]
}

@test "ssed listens on IPv6 loopback" {
	ERR=$BATS_TEST_TMPDIR/v6.err
	"$SSED" -l '[::1]:0' 2>"$ERR" 3>&- &
	PIDS+=($!)
	wait_for grep -q 'listening on http://\[::1\]:' "$ERR"
	port=$(grep -o '\]:[0-9]*' "$ERR" | tr -d ']:')
	run curl -sfg "http://[::1]:$port/healthz"
	[ "$output" = ok ]
}

@test "--conn-memory: a 4 KiB cookie fits by default; every larger head gets 431, none is closed without a reply" {
	# A browser's subscribe: a 4 KiB cookie and the headers around it.
	cookie=$(head -c 4096 /dev/zero | tr '\0' c)
	browser=(-H "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
		-H "Accept: text/event-stream" -H "Accept-Language: en-GB,en;q=0.9" -H "Accept-Encoding: gzip, deflate, br"
		-H "Cache-Control: no-cache" -H "Referer: http://127.0.0.1/page" -H "Sec-Fetch-Dest: empty"
		-H "Sec-Fetch-Mode: cors" -H "Sec-Fetch-Site: same-origin" -H "Last-Event-ID: 1796037881455366")
	start_ssed
	run curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${browser[@]}" -H "Cookie: $cookie" "$URL/events/c"
	[ "$output" = 200 ]
	big=$(head -c 9000 /dev/zero | tr '\0' c)
	run curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Cookie: $big" "$URL/events/c"
	[ "$output" = 431 ]
	kill "$SSED_PID"; wait "$SSED_PID" || true
	# Cookie sizes across the limit, 20 bytes apart: libmicrohttpd alone
	# closed a band of them without a reply. Each is 200 or 431, and once
	# 431, always 431.
	start_ssed --conn-memory 6K
	codes=
	for n in $(seq 1500 20 3500); do
		c=$(head -c "$n" /dev/zero | tr '\0' c)
		codes+="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Cookie: $c" "$URL/healthz") "
	done
	echo "$codes"
	[[ "$codes" =~ ^(200 )+(431 )+$ ]]
	# Many small cookies: libmicrohttpd keeps a copy and a record of each.
	codes=
	for n in $(seq 20 4 140); do
		c=$(python3 -c "import sys; print('; '.join('c%d=v' % i for i in range(int(sys.argv[1]))))" "$n")
		codes+="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Cookie: $c" "$URL/healthz") "
	done
	echo "$codes"
	[[ "$codes" =~ ^(200 )+(431 )+$ ]]
	run curl -s -o /dev/null -w '%{http_code}' --max-time 2 -d x "$URL/events/c"
	[ "$output" = 200 ]
	kill "$SSED_PID"; wait "$SSED_PID" || true
	# ssed's 431 has the CORS header, however long the origin.
	origin="http://$(head -c 120 /dev/zero | tr '\0' a).example"
	start_ssed --conn-memory 6K --cors "$origin"
	# (A head ssed refuses before libmicrohttpd would, whose own 431 has
	# no CORS header.)
	run curl -s -D - --max-time 2 -H "X-Big: $(head -c 5400 /dev/zero | tr '\0' v)" "$URL/events/c"
	[[ "$output" == "HTTP/1.1 431 "* ]]
	[[ "$output" == *"Access-Control-Allow-Origin: $origin"* ]]
	[[ "$output" == *"request headers too large for --conn-memory"* ]]
	run "$SSED" --conn-memory 1K
	[ "$status" -eq 1 ]
	[[ "$output" == *"--conn-memory: 1K is out of range"* ]]
}
