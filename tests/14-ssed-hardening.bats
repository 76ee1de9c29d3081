#!/usr/bin/env bats
# ssed against hostile or unlucky input: HTTP that a proxy could read
# differently, requests too big for a connection, signals, token files,
# DNS rebinding and cross-site publishing.
load test_helper

# send HEXBYTES - write the bytes on one connection, then print everything
# ssed answers until it closes the connection; "(open)" last when it did
# not close within 3 seconds.
send() {
	python3 - "$PORT" "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(bytes.fromhex(sys.argv[2]))
data, end = b"", time.monotonic() + 3
try:
    while time.monotonic() < end:
        b = s.recv(65536)
        if not b:
            break
        data += b
    else:
        data += b"\n(open)"
except socket.timeout:
    data += b"\n(open)"
sys.stdout.write(data.decode("latin-1"))
PY
}

hex() { printf "$1" | od -An -tx1 | tr -d ' \n'; }

# ---- HTTP that a proxy and ssed could read differently

@test "two different Content-Length headers: 400, closed, the smuggled request is not answered" {
	start_ssed
	run send "$(hex 'POST /events/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhihihGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')"
	[[ "$output" == "HTTP/1.1 400"* ]]
	[ "$(grep -c '^HTTP/1.1 ' <<<"$output")" = 1 ]
	[[ "$output" != *"(open)"* ]]
	metric_is ssed_events_published_total 0
}

@test "Content-Length with Transfer-Encoding, or a coding other than chunked: 400 and closed" {
	start_ssed
	run send "$(hex 'POST /events/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')"
	[[ "$output" == "HTTP/1.1 400"* ]]
	[ "$(grep -c '^HTTP/1.1 ' <<<"$output")" = 1 ]
	[[ "$output" != *"(open)"* ]]
	run send "$(hex 'POST /events/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n')"
	[[ "$output" == "HTTP/1.1 400"* ]]
	[[ "$output" != *"(open)"* ]]
	run send "$(hex 'POST /events/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi')"
	[[ "$output" == "HTTP/1.1 200"* ]]
	metric_is ssed_events_published_total 1
}

@test "a NUL in the path, the query or a header value is 400" {
	printf 's3cret\n' >"$BATS_TEST_TMPDIR/tok"
	start_ssed --publish-token-file "$BATS_TEST_TMPDIR/tok"
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret' -d x "$URL/events/abc%00def"
	[ "$output" = 400 ]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret' "$URL/broadcast?msg=a%00b"
	[ "$output" = 400 ]
	run curl -s -o /dev/null -w '%{http_code}' "$URL/healthz?x=%00"
	[ "$output" = 400 ]
	run send "$(hex 'POST /events/a HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\0junk\r\nContent-Length: 1\r\n\r\nx')"
	[[ "$output" == "HTTP/1.1 400"* ]]
	run send "$(hex 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\0b\r\n\r\n')"
	[[ "$output" == "HTTP/1.1 400"* ]]
	# A raw NUL in the request target, where a proxy reads the whole path.
	run send "$(hex 'POST /events/a\0zz HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\r\nContent-Length: 1\r\n\r\nx')"
	[[ "$output" == "HTTP/1.1 400"* ]]
	metric_is ssed_events_published_total 0
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret' -d x "$URL/events/abc"
	[ "$output" = 200 ]
}

@test "a request too big for the connection's memory gets 414 at once and a close" {
	start_ssed --header-timeout 20
	q=$(python3 -c "print('&'.join('a%d=%d' % (i, i) for i in range(200)))")
	SECONDS=0
	run curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/events/t?$q"
	[ "$output" = 414 ]
	[ "$SECONDS" -lt 5 ]
	q=$(python3 -c "print('&'.join('topic=%s%d' % ('t' * 60, i) for i in range(100)))")
	run curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/events?$q"
	[ "$output" = 414 ]
	# What fits still works: 32 topics and a token.
	q=$(python3 -c "print('&'.join('topic=t%d' % i for i in range(32)))")
	run curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/events?$q&access_token=x"
	[ "$output" = 200 ]
	run curl -s -o /dev/null -w '%{http_code}' "$URL/healthz"
	[ "$output" = 200 ]
}

@test "the topic names . and .. are refused" {
	start_ssed
	for t in . ..; do
		run curl -s --path-as-is -o /dev/null -w '%{http_code}' -d x "$URL/events/$t"
		[ "$output" = 400 ]
		run curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/events?topic=$t"
		[ "$output" = 400 ]
	done
	run curl -s -o /dev/null -w '%{http_code}' -d x "$URL/events/..a"
	[ "$output" = 200 ]
}

@test "an empty Last-Event-ID is no header at all, not a gap" {
	start_ssed
	curl -sf -d one "$URL/events/t" >/dev/null
	subscribe "$BATS_TEST_TMPDIR/s" /events/t -H 'Last-Event-ID;'
	curl -sf -d two "$URL/events/t" >/dev/null
	wait_for grep -q '^data: two$' "$BATS_TEST_TMPDIR/s"
	not grep -q ssed-gap "$BATS_TEST_TMPDIR/s"
	not grep -q '^data: one$' "$BATS_TEST_TMPDIR/s"
	metric_is ssed_gaps_total 0
}

@test "-v escapes control characters from requests in the log" {
	start_ssed -v
	curl -s -o /dev/null "$URL/x%0assed:%20FORGED%0d%1b"
	curl -s -o /dev/null -H 'Last-Event-ID: a' "$URL/healthz"
	wait_for grep -q 'GET /healthz' "$ERR"
	not grep -q '^ssed: FORGED' "$ERR"
	grep -q 'GET /x%0assed: FORGED%0d%1b' "$ERR"
	! grep -q $'\x1b' "$ERR"
}

# ---- signals

@test "SIGHUP reads the token files again, keeps every stream, and logs one line" {
	tok=$BATS_TEST_TMPDIR/tok
	printf 'old\n' >"$tok"
	chmod 600 "$tok"
	start_ssed --publish-token-file "$tok"
	subscribe "$BATS_TEST_TMPDIR/s" /events/t
	printf 'new\n' >"$tok"
	kill -HUP "$SSED_PID"
	wait_for grep -q 'reloaded' "$ERR"
	[ "$(grep -c reloaded "$ERR")" = 1 ]
	kill -0 "$SSED_PID"
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer old' -d x "$URL/events/t"
	[ "$output" = 403 ]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer new' -d after "$URL/events/t"
	[ "$output" = 200 ]
	wait_for grep -q '^data: after$' "$BATS_TEST_TMPDIR/s"
	metric_is ssed_subscribers 1
}

@test "SIGHUP with a token file gone or empty keeps the old token and says why" {
	tok=$BATS_TEST_TMPDIR/tok
	printf 'old\n' >"$tok"
	chmod 600 "$tok"
	start_ssed --publish-token-file "$tok"
	rm "$tok"
	kill -HUP "$SSED_PID"
	wait_for grep -q 'reloaded' "$ERR"
	grep -q "warning: --publish-token-file: cannot read '$tok': No such file" "$ERR"
	printf '  \n' >"$tok"
	chmod 600 "$tok"
	kill -HUP "$SSED_PID"
	wait_for grep -q 'holds no token' "$ERR"
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer old' -d x "$URL/events/t"
	[ "$output" = 200 ]
}

@test "SIGPIPE is ignored; SIGTERM then stops ssed with exit 0" {
	start_ssed
	kill -PIPE "$SSED_PID"
	run curl -sf "$URL/healthz"
	[ "$output" = ok ]
	kill -TERM "$SSED_PID"
	wait "$SSED_PID"
}

# ---- tokens and who may reach what

@test "token files: trailing whitespace is trimmed; empty, blank or over-long tokens are refused" {
	tok=$BATS_TEST_TMPDIR/tok
	printf 's3cret \t\r\n' >"$tok"
	chmod 600 "$tok"
	start_ssed --publish-token-file "$tok"
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret' -d x "$URL/events/t"
	[ "$output" = 200 ]
	not grep -q warning "$ERR"
	for content in '' '\n' ' \t \n' '\nsecond-line\n'; do
		printf "$content" >"$tok"
		run "$SSED" -l 127.0.0.1:0 --publish-token-file "$tok"
		[ "$status" = 1 ]
		[[ "$output" == *"holds no token"* ]]
	done
	python3 -c "print('a' * 5000)" >"$tok"
	run "$SSED" -l 127.0.0.1:0 --publish-token-file "$tok"
	[ "$status" = 1 ]
	[[ "$output" == *"longer than 4096 bytes"* ]]
}

@test "a long token is used whole, never cut to a prefix" {
	tok=$BATS_TEST_TMPDIR/tok
	python3 -c "print('a' * 1500)" >"$tok"
	chmod 600 "$tok"
	start_ssed --publish-token-file "$tok"
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(printf 'a%.0s' $(seq 1023))" -d x "$URL/events/t"
	[ "$output" = 403 ]
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(printf 'a%.0s' $(seq 1500))" -d x "$URL/events/t"
	[ "$output" = 200 ]
}

@test "a token file readable by group or others gets a warning" {
	tok=$BATS_TEST_TMPDIR/tok
	printf 's3cret\n' >"$tok"
	chmod 644 "$tok"
	start_ssed --subscribe-token-file "$tok"
	grep -q "warning: '$tok' may be read by group or others" "$ERR"
	! grep -q s3cret "$ERR"
}

@test "--metrics-token-file: /metrics needs the token; without it /metrics is open" {
	tok=$BATS_TEST_TMPDIR/tok
	printf 'm\n' >"$tok"
	chmod 600 "$tok"
	start_ssed --metrics-token-file "$tok" --publish-token-file "$tok"
	run curl -s -o /dev/null -w '%{http_code}' "$URL/metrics"
	[ "$output" = 401 ]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer m' "$URL/metrics"
	[ "$output" = 200 ]
	run curl -s -o /dev/null -w '%{http_code}' "$URL/healthz"
	[ "$output" = 200 ]
}

@test "DNS rebinding: a loopback-only ssed answers only loopback Host names and --allow-host ones" {
	sock=$BATS_TEST_TMPDIR/s.sock
	start_ssed -u "$sock" --allow-host Box.Example
	for h in evil.example evil.example:$PORT 10.0.0.1 '[::2]:80'; do
		run curl -s -o /dev/null -w '%{http_code}' -H "Host: $h" "$URL/healthz"
		[ "$output" = 421 ]
	done
	run curl -s -o /dev/null -w '%{http_code}' -H "Host: evil.example" --max-time 1 "$URL/events"
	[ "$output" = 421 ]
	for h in localhost localhost:$PORT a.localhost 127.0.0.1 127.1.2.3:9 '[::1]:8080' box.example:1; do
		run curl -s -o /dev/null -w '%{http_code}' -H "Host: $h" "$URL/healthz"
		[ "$output" = 200 ]
	done
	run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" -H "Host: evil.example" http://x/healthz
	[ "$output" = 200 ]
}

@test "DNS rebinding: an ssed that listens beyond loopback answers any Host" {
	# A network namespace of the test's own, where a documentation address
	# (192.0.2.1) sits on its loopback device: no traffic leaves it.
	command -v unshare
	run unshare -n bash -c '
		ip link set lo up && ip addr add 192.0.2.1/32 dev lo || exit 3
		"$1" -l 192.0.2.1:0 2>"$2" &
		pid=$!
		for _ in $(seq 1 250); do grep -q "listening on" "$2" && break; sleep 0.02; done
		port=$(grep -o ":[0-9]*$" "$2" | head -1 | tr -d :)
		curl -s -o /dev/null -w "%{http_code}" -H "Host: box.example" "http://192.0.2.1:$port/healthz"
		kill "$pid"; wait "$pid"' _ "$SSED" "$BATS_TEST_TMPDIR/err"
	[ "$status" -eq 0 ]
	[ "$output" = 200 ]
}

@test "cross-site publishing: a page on another origin may not publish unless --cors admits it" {
	start_ssed
	run curl -s -o /dev/null -w '%{http_code}' -H 'Origin: http://evil.example' -d x "$URL/events/t"
	[ "$output" = 403 ]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Origin: null' -d x "$URL/broadcast?msg=x"
	[ "$output" = 403 ]
	metric_is ssed_events_published_total 0
	run curl -s -o /dev/null -w '%{http_code}' -H "Origin: http://127.0.0.1:$PORT" -d x "$URL/events/t"
	[ "$output" = 200 ]
	# GET /broadcast stays open to any page (the classic example).
	run curl -s -o /dev/null -w '%{http_code}' -H 'Origin: http://evil.example' "$URL/broadcast?msg=x"
	[ "$output" = 200 ]
	kill "$SSED_PID"
	start_ssed --cors http://app.example
	run curl -s -o /dev/null -w '%{http_code}' -H 'Origin: http://app.example' -d x "$URL/events/t"
	[ "$output" = 200 ]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Origin: http://evil.example' -d x "$URL/events/t"
	[ "$output" = 403 ]
}

@test "--no-broadcast turns /broadcast off" {
	start_ssed --no-broadcast
	run curl -s -o /dev/null -w '%{http_code}' "$URL/broadcast?msg=x"
	[ "$output" = 404 ]
	run curl -s -o /dev/null -w '%{http_code}' -d x "$URL/broadcast?msg=x"
	[ "$output" = 404 ]
	metric_is ssed_events_published_total 0
}

# ---- the header deadline measures the client, not ssed

@test "requests that arrived while ssed could not run are served, not cut by the header deadline" {
	# The many-stream tests lost streams now and then before their first
	# byte: the deadline counted from accept, so a request that had
	# arrived but waited for a busy ssed was cut as if its client were slow.
	start_ssed --header-timeout 1
	fifo=$BATS_TEST_TMPDIR/go
	mkfifo "$fifo"
	base=$(ls /proc/$SSED_PID/fd | wc -l)
	python3 - "$PORT" "$fifo" "$BATS_TEST_DIRNAME" >"$BATS_TEST_TMPDIR/out" <<'PY' &
import socket, sys
sys.path.insert(0, sys.argv[3])
from sse_clients import openings
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(200)]
print("connected", flush=True)
open(sys.argv[2]).read()           # ssed is stopped now
for s in socks:
    s.sendall(b"GET /events/t HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
print("sent", flush=True)
# Every socket at once, one deadline for all: a socket ssed cut ends at
# once, one it never answered is counted as silent when the deadline ends.
print("opened %d cut %d silent %d" % openings(socks, 30), flush=True)
PY
	PIDS+=($!)
	wait_for grep -q connected "$BATS_TEST_TMPDIR/out"
	wait_for test "$(ls /proc/$SSED_PID/fd | wc -l)" -ge $((base + 200))  # all accepted
	kill -STOP "$SSED_PID"
	echo go >"$fifo"
	wait_for grep -q sent "$BATS_TEST_TMPDIR/out"
	sleep 2.5  # past the deadline, with ssed stopped
	kill -CONT "$SSED_PID"
	WAIT_SECS=40 wait_for grep -q opened "$BATS_TEST_TMPDIR/out"
	cat "$BATS_TEST_TMPDIR/out" "$ERR"
	grep -qx 'opened 200 cut 0 silent 0' "$BATS_TEST_TMPDIR/out"
}

@test "an HTTP thread that finds exactly 128 requests ready at once serves them all" {
	# libmicrohttpd's own loop takes ready events 128 at a time, and after a
	# full batch it waited again with the events in hand: those requests
	# were answered only when some other event came. Requests that arrive
	# while ssed is stopped are all ready at once when it runs again. One
	# HTTP thread; 128, 256 and 384 requests, each round on fresh
	# connections.
	start_ssed --threads 1
	run python3 - "$PORT" "$SSED_PID" "$BATS_TEST_DIRNAME" <<'PY'
import os, signal, socket, sys, time
sys.path.insert(0, sys.argv[3])
from sse_clients import fd_count, openings, wait_until as wait
port, pid = int(sys.argv[1]), int(sys.argv[2])
def fds():
    return fd_count(pid)
def stopped():
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
            if f.read().rsplit(")", 1)[1].split()[0] != "T":
                return False
    return True
base = fds()
for n in (128, 256, 384):
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    if not wait(lambda: fds() >= base + n):
        print(n, "accepted only", fds() - base); sys.exit(1)
    os.kill(pid, signal.SIGSTOP)
    try:
        # Every thread stopped, not about to stop; then, on loopback, each
        # request is in ssed's socket once sendall returns.
        if not wait(stopped):
            print(n, "ssed did not stop"); sys.exit(1)
        for s in socks:
            s.sendall(b"GET /events/t HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    finally:
        os.kill(pid, signal.SIGCONT)
    opened, cut, silent = openings(socks, 10)
    print(n, "opened", opened, "cut", cut, "silent", silent, flush=True)
    if opened != n:
        sys.exit(1)
    for s in socks:
        s.close()
    if not wait(lambda: fds() <= base):  # all closed before the next round
        print(n, "still open", fds() - base); sys.exit(1)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'opened [0-9]* cut 0 silent 0$' <<<"$output")" -eq 3 ]
}

@test "streams and other connections share one budget: past it, a connection is closed at once" {
	# --max-subscribers 1 leaves room for 1 + 256 connections. A plain
	# stream leaves libmicrohttpd once it is open, so libmicrohttpd's own
	# count no longer holds it: the budget does. With the stream and 256
	# idle connections open, the next connection is closed unanswered;
	# once one goes, a request is served again, and the stream still gets
	# what is published. The Unix socket, the local way in, is not locked
	# out by what TCP clients hold.
	start_ssed --threads 1 --max-subscribers 1 --timeout 60 --header-timeout 60 \
		-u "$BATS_TEST_TMPDIR/sock"
	run python3 - "$PORT" "$SSED_PID" "$BATS_TEST_DIRNAME" "$BATS_TEST_TMPDIR/sock" <<'PY'
import socket, sys
sys.path.insert(0, sys.argv[3])
from sse_clients import fd_count, wait_until as wait
port, pid = int(sys.argv[1]), int(sys.argv[2])
def fds():
    return fd_count(pid)
def read_until(sock, marker, what):
    got = b""
    while marker not in got:
        more = sock.recv(4096)
        if not more:
            print(what, got[:60]); sys.exit(1)
        got += more
    return got
def publish(sock, host, data, what):
    sock.sendall(b"POST /events/b HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n%s" % (host, len(data), data))
    sock.settimeout(10)
    reply = sock.recv(100)
    if not reply.startswith(b"HTTP/1.1 200"):
        print(what, reply[:40]); sys.exit(1)
    sock.close()
base = fds()
stream = socket.create_connection(("127.0.0.1", port))
stream.sendall(b"GET /events/b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
stream.settimeout(10)
head = read_until(stream, b": ssed", "stream closed:")
if not head.startswith(b"HTTP/1.1 200"):
    print("stream:", head[:40]); sys.exit(1)
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(256)]
if not wait(lambda: fds() >= base + 257):
    print("accepted only", fds() - base); sys.exit(1)
late = socket.create_connection(("127.0.0.1", port))
late.settimeout(10)
try:
    got = late.recv(100)
except (socket.timeout, ConnectionResetError) as e:
    got = type(e).__name__.encode()
if got not in (b"", b"ConnectionResetError"):
    print("past the budget:", got); sys.exit(1)
late.close()
local = socket.socket(socket.AF_UNIX)
local.connect(sys.argv[4])
publish(local, b"localhost", b"local", "Unix socket past the budget:")
idle.pop().close()
if not wait(lambda: fds() <= base + 256):
    print("the closed connection is still held"); sys.exit(1)
publish(socket.create_connection(("127.0.0.1", port)), b"127.0.0.1", b"hello", "after one went:")
read_until(stream, b"data: hello", "stream ended:")
print("ok")
PY
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "an HTTP thread at its connection limit accepts again as soon as a connection goes" {
	# --max-subscribers 1 leaves room for 1 + 256 connections. The one past
	# them waits in the listen queue; when one of the others closes, it is
	# answered at once, not at the next timeout (60 s here).
	start_ssed --threads 1 --max-subscribers 1 --timeout 60 --header-timeout 60
	run python3 - "$PORT" "$SSED_PID" "$BATS_TEST_DIRNAME" <<'PY'
import socket, sys, time
sys.path.insert(0, sys.argv[3])
from sse_clients import fd_count, wait_until as wait
port, pid = int(sys.argv[1]), int(sys.argv[2])
def fds():
    return fd_count(pid)
base = fds()
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(257)]
if not wait(lambda: fds() >= base + 257):
    print("accepted only", fds() - base); sys.exit(1)
late = socket.create_connection(("127.0.0.1", port))  # in the listen queue
late.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
late.settimeout(0.5)
try:
    print("answered at the limit:", late.recv(100)); sys.exit(1)
except socket.timeout:
    pass
idle.pop().close()
t0 = time.monotonic()
late.settimeout(10)
try:
    reply = late.recv(100)
except socket.timeout:
    reply = b""
print("late: %r after %.1f s" % (reply[:15], time.monotonic() - t0))
sys.exit(0 if reply.startswith(b"HTTP/1.1 200") else 1)
PY
	echo "$output"
	[ "$status" -eq 0 ]
}
