#!/usr/bin/env bats
# Socket activation: listening sockets handed over by systemd (or anything
# speaking sd_listen_fds(3)), and restarts that refuse no connection.
load test_helper

# free_port - a loopback port nothing listens on now (for tools that cannot
# take port 0).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "systemd-socket-activate hands ssed a named TCP socket and a named Unix socket" {
	command -v systemd-socket-activate
	port=$(free_port)
	sock=$BATS_TEST_TMPDIR/ssed.sock
	echo s3cret >"$BATS_TEST_TMPDIR/tok"
	err=$BATS_TEST_TMPDIR/act.err
	systemd-socket-activate -l "127.0.0.1:$port" -l "$sock" --fdname=web:local \
		"$SSED" --publish-token-file "$BATS_TEST_TMPDIR/tok" 2>"$err" 3>&- &
	pid=$!
	PIDS+=("$pid")
	wait_for grep -q "as 4" "$err"
	# systemd-socket-activate starts ssed on the first connection; it waits in the queue.
	run curl -sS --max-time 10 "http://127.0.0.1:$port/healthz"
	[ "$output" = ok ]
	grep -qx "ssed: listening on http://127.0.0.1:$port (from systemd: web)" "$err"
	grep -qx "ssed: listening on unix:$sock (from systemd: local)" "$err"
	[ "$(grep -c 'listening on' "$err")" -eq 2 ]  # nothing of its own: no 8080
	# The Unix socket is a Unix listener: publishing needs no token there.
	run curl -s -o /dev/null -w '%{http_code}' -d x "http://127.0.0.1:$port/events/t"
	[ "$output" = 401 ]
	run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" -d x http://x/events/t
	[ "$output" = 200 ]
	kill "$pid"
	wait "$pid" || true
	grep -q 'ssed: stopped' "$err"
	# The socket file is the socket unit's: ssed leaves it alone.
	[ -S "$sock" ]
}

@test "sockets from systemd and sockets of its own, together" {
	command -v systemd-socket-activate
	port=$(free_port)
	err=$BATS_TEST_TMPDIR/act.err
	systemd-socket-activate -l "127.0.0.1:$port" "$SSED" -l 127.0.0.1:0 2>"$err" 3>&- &
	PIDS+=($!)
	wait_for grep -q "as 3" "$err"
	run curl -sS --max-time 10 "http://127.0.0.1:$port/healthz"
	[ "$output" = ok ]
	grep -qx "ssed: listening on http://127.0.0.1:$port (from systemd: unnamed)" "$err"
	own=$(grep -v "from systemd" "$err" | grep -o 'http://127.0.0.1:[0-9]*' | tail -1)
	[ -n "$own" ]
	run curl -sS --max-time 10 "$own/healthz"
	[ "$output" = ok ]
}

@test "LISTEN_FDS meant for another process is left alone" {
	ERR=$BATS_TEST_TMPDIR/ssed.err
	LISTEN_PID=1 LISTEN_FDS=1 LISTEN_FDNAMES=x "$SSED" -l 127.0.0.1:0 2>"$ERR" 3>&- &
	SSED_PID=$!
	PIDS+=("$SSED_PID")
	wait_for grep -q 'listening on' "$ERR"
	[ "$(grep -c 'listening on' "$ERR")" -eq 1 ]
	! grep -q 'from systemd' "$ERR"
}

@test "a handed-over descriptor that is not a listening socket stops ssed with one clear line" {
	run sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" 3</dev/null' "$SSED"
	[ "$status" -eq 1 ]
	[ "$output" = "ssed: error: descriptor 3 from systemd (unnamed) is not a stream socket" ]
	run python3 -c '
import os, socket, sys
c = socket.socket()
c.bind(("127.0.0.1", 0))
os.dup2(c.fileno(), 3)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_FDNAMES"] = "web"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], [sys.argv[1]])' "$SSED"
	[ "$status" -eq 1 ]
	[ "$output" = "ssed: error: descriptor 3 from systemd (web) is not listening (Accept=yes is not supported: use Accept=no)" ]
	run sh -c 'LISTEN_PID=$$ LISTEN_FDS=many exec "$0"' "$SSED"
	[ "$status" -eq 1 ]
	[ "$output" = "ssed: error: LISTEN_FDS=many: not a number of sockets from 0 to 16, with the listeners asked for" ]
}

started_is() { [ "$(grep -c '^started' "$hout")" -eq "$1" ]; }
lines_ge() { [ "$(wc -l <"$1")" -ge "$2" ]; }

# restart_run HOLDER - 500 subscribers and a publisher on $PORT; restarts
# ssed three times (through the holder when HOLDER is 1, by stopping it and
# starting another on the same port otherwise); leaves the counts in $counts.
restart_run() {
	local holder=$1 i out=$BATS_TEST_TMPDIR/clients.out in=$BATS_TEST_TMPDIR/clients.in
	mkfifo "$in"
	timeout 100 python3 "$TESTS/restart_clients.py" 127.0.0.1 "$PORT" 500 <"$in" >"$out" 2>&1 3>&- &
	PIDS+=($!)
	clients=$!
	exec 8>"$in"
	WAIT_SECS=60 wait_for grep -qx ready "$out"
	grep -q 'only' "$out" && { cat "$out"; return 1; }
	for i in 1 2 3; do
		if [ "$holder" = 1 ]; then
			echo restart >&7
			WAIT_SECS=30 wait_for started_is $((i + 1))
		else
			kill "$SSED_PID"
			wait "$SSED_PID" || true
			# Down until a client has been refused: what a restart does without a held socket.
			WAIT_SECS=20 wait_for grep -qx refused "$out"
			start_ssed_on "$PORT" --retry 50 --drain 1
		fi
		# Every subscriber is back on the new ssed before the next restart.
		WAIT_SECS=60 wait_for metric_is ssed_subscribers 500
	done
	echo stop >&8
	exec 8>&-
	wait "$clients"
	counts=$(tail -1 "$out")
	echo "# $counts" >&3
}

@test "restarts behind a held socket refuse no connection (500 subscribers, 1 publisher, 3 restarts)" {
	hout=$BATS_TEST_TMPDIR/holder.out
	hin=$BATS_TEST_TMPDIR/holder.in
	ERR=$BATS_TEST_TMPDIR/ssed.err
	mkfifo "$hin"
	# Each stop drains: the 500 streams end over 2 s, and come back in the
	# held socket's queue, for the next ssed.
	python3 "$TESTS/sock_holder.py" "$ERR" "$SSED" --retry 50 --drain 2 <"$hin" >"$hout" 2>&1 3>&- &
	PIDS+=($!)
	holder=$!
	exec 7>"$hin"
	wait_for grep -q '^port ' "$hout"
	PORT=$(awk '/^port / { print $2 }' "$hout")
	URL=http://127.0.0.1:$PORT
	echo start >&7
	wait_for grep -q '^started' "$hout"
	restart_run 1
	echo stop >&7
	exec 7>&-
	wait "$holder"
	cat "$hout"
	[ "$(grep -c '^started' "$hout")" -eq 4 ]
	[ "$(grep -c '^stopped 0' "$hout")" -eq 4 ]
	[ "$(grep -c 'from systemd: held' "$ERR")" -eq 4 ]
	set -- $counts
	[ "$1" = opens ]
	[ "$2" -ge 2000 ]     # 500 streams, opened four times over
	[ "$5" = refused ]
	[ "$6" -eq 0 ]
	[ "$7" = connect_errors ]
	[ "$8" -eq 0 ]
	[ "${11}" = published ]
	[ "${12}" -gt 0 ]
	# The drain answers every request in flight: no post goes unanswered.
	[ "${13}" = lost_publishes ]
	[ "${14}" -eq 0 ]
	[ "$(grep -c 'draining' "$ERR")" -eq 4 ]
}

@test "without a held socket the same restarts refuse connections (the counter works)" {
	start_ssed --retry 50 --drain 1
	restart_run 0
	set -- $counts
	[ "$5" = refused ]
	[ "$6" -gt 0 ]
}

@test "with --store, restarts behind a held socket lose no acknowledged event and give no ssed-gap" {
	hout=$BATS_TEST_TMPDIR/holder.out
	hin=$BATS_TEST_TMPDIR/holder.in
	ERR=$BATS_TEST_TMPDIR/ssed.err
	mkfifo "$hin"
	python3 "$TESTS/sock_holder.py" "$ERR" "$SSED" --store "$BATS_TEST_TMPDIR/s.db" --retry 50 \
		--drain 1 <"$hin" >"$hout" 2>&1 3>&- &
	PIDS+=($!)
	holder=$!
	exec 7>"$hin"
	wait_for grep -q '^port ' "$hout"
	PORT=$(awk '/^port / { print $2 }' "$hout")
	URL=http://127.0.0.1:$PORT
	echo start >&7
	wait_for grep -q '^started' "$hout"
	# 20 subscribers that resume with Last-Event-ID, each event's type and data a line.
	cats=()
	for i in $(seq 1 20); do
		"$SSE_CAT" -q -o '%e %d\n' "$URL/events/r" >"$BATS_TEST_TMPDIR/sub.$i" 3>&- 7>&- &
		PIDS+=($!)
		cats+=($!)
	done
	wait_for metric_is ssed_subscribers 20
	# One publisher, one event every 10 ms; what got a 200 is acknowledged.
	(for n in $(seq 1 400); do
		curl -sf -o /dev/null -d "$n" "$URL/events/r" && echo "$n"
		sleep 0.01
	done >"$BATS_TEST_TMPDIR/acked") 3>&- &
	pub=$!
	PIDS+=("$pub")
	for i in 1 2 3; do
		wait_for lines_ge "$BATS_TEST_TMPDIR/acked" $((i * 80))
		echo restart >&7
		WAIT_SECS=30 wait_for started_is $((i + 1))
	done
	wait "$pub"
	last=$(tail -1 "$BATS_TEST_TMPDIR/acked")
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acked")" -ge 300 ]
	for i in $(seq 1 20); do
		f=$BATS_TEST_TMPDIR/sub.$i
		WAIT_SECS=30 wait_for grep -qx "message $last" "$f"
		not grep -q '^ssed-gap' "$f"
		# Every acknowledged event, once, in order (an event stored but
		# unanswered while ssed stopped may come too).
		cut -d' ' -f2 "$f" >"$f.n"
		[ "$(sort -n "$f.n" | uniq -d | wc -l)" = 0 ]
		sort -nc "$f.n"
		[ -z "$(comm -23 <(sort "$BATS_TEST_TMPDIR/acked") <(sort "$f.n"))" ]
	done
	kill "${cats[@]}"
	wait "${cats[@]}" 2>/dev/null || true
	echo stop >&7
	exec 7>&-
	wait "$holder"
}
