#!/usr/bin/env bats
# Several ssed share topics through Redis (--redis): one order and one set of
# ids on every node, resume anywhere, and Redis or a node failing. Every test
# starts its own redis-server (a free loopback port and a Unix socket) and its
# own nodes.
load test_helper

# The system's Python: a version manager's shim in PATH costs seconds a call
# on a busy machine.
py() {
	if [ -x /usr/bin/python3 ]; then /usr/bin/python3 "$@"; else python3 "$@"; fi
}

# free_port - a loopback TCP port nobody listens on now (redis-server cannot
# say which port it took, as ssed does).
free_port() {
	py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis [ARGS...] - redis-server on RPORT (a free one the first time)
# and the Unix socket RSOCK, its data (AOF, fsync'd each write) in RDIR;
# sets REDIS_PID, RURL (TCP) and RUNIX.
start_redis() {
	RDIR=${RDIR:-$BATS_TEST_TMPDIR/redis}
	mkdir -p "$RDIR"
	RPORT=${RPORT:-$(free_port)}
	RSOCK=$RDIR/redis.sock
	redis-server --bind 127.0.0.1 --port "$RPORT" --unixsocket "$RSOCK" --unixsocketperm 700 \
		--dir "$RDIR" --save '' --appendonly yes --appendfsync always --daemonize no \
		--logfile "$RDIR/redis.log" "$@" 3>&- &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	wait_for redis_up
	RURL=redis://127.0.0.1:$RPORT
	RUNIX=unix://$RSOCK
}

redis_up() { redis-cli -s "$RSOCK" ping 2>/dev/null | grep -qE "^(PONG|NOAUTH)"; }

stop_redis() {
	kill "$REDIS_PID"
	wait "$REDIS_PID" || true
}

# start_node N [ARGS...] - ssed node N on the test's Redis (node 3 through
# the Unix socket); sets NODE[N] (127.0.0.1:PORT) and NPID[N].
declare -a NODE NPID
start_node() {
	local n=$1 url=$RURL
	shift
	[ "$n" = 3 ] && url=$RUNIX
	start_ssed --redis "$url${RQUERY:-}" --retry 200 "$@"
	NODE[$n]=127.0.0.1:$PORT
	NPID[$n]=$SSED_PID
}

nodes() {
	local n
	for ((n = 1; n <= $1; n++)); do
		start_node "$n" "${@:2}"
	done
}

# on N - point URL (metric, subscribe) at node N.
on() { URL=http://${NODE[$1]}; }

# events FILE - the complete events of a stream, one line each: "ID DATA",
# or "gap ID" for an ssed-gap; an event cut off by a dying node is not one.
events() {
	py -c '
import sys
ev = {}
for line in open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]:
    if line == "":
        if ev.get("event") == "ssed-gap":
            print("gap", ev.get("data", ""))
        elif "data" in ev:
            print(ev.get("id", ""), ev["data"])
        ev = {}
    elif not line.startswith(":"):
        k, _, v = line.partition(":")
        ev[k] = v[1:] if v.startswith(" ") else v
' "$1"
}

# count_is FILE N - FILE holds N events at least (their data lines).
count_is() { [ "$(grep -c '^data:' "$1")" -ge "$2" ]; }

# expect_data FROM TO - "eFROM" to "eTO", one a line (STEP 3 with a third).
expect_data() { seq -f 'e%.0f' "$@"; }

@test "ssed: --redis-password-file without --redis, and an empty --redis URL, are usage errors" {
	run -1 "$SSED" --redis-password-file /dev/null
	[[ "$output" == *"--redis-password-file: only with --redis"* ]]
	run -1 "$SSED" --redis ''
	[[ "$output" == *"--redis: give a URL"* ]]
	run -1 "$SSED" --redis 'http://127.0.0.1:1'
	[[ "$output" == "ssed: error: --redis: "* ]]
}

@test "the password comes from a file or the environment, and is never printed" {
	pw=s3cret-$RANDOM
	start_redis --requirepass "$pw"
	printf '%s\n' "$pw" >"$BATS_TEST_TMPDIR/pw"
	start_node 1 --redis-password-file "$BATS_TEST_TMPDIR/pw"
	SSED_REDIS_PASSWORD=$pw start_node 2
	run curl -sf -d one "http://${NODE[1]}/events/p"
	[ "$status" -eq 0 ]
	run curl -sfN --max-time 1 -H "Last-Event-ID: 0" "http://${NODE[2]}/events/p"
	[[ "$output" == *"data: one"* ]]
	# A wrong password: one line saying why, without either password.
	SSED_REDIS_PASSWORD=wrong-$pw run -1 "$SSED" -l 127.0.0.1:0 --redis "$RURL"
	echo "$output"
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "ssed: error: --redis: "* ]]
	[[ "$output" != *"$pw"* ]]
	run -1 "$SSED" -l 127.0.0.1:0 --redis "$RURL" --redis-password-file "$BATS_TEST_TMPDIR/nope"
	[[ "$output" == *"nope"* ]]
}

@test "1,000 events on 3 topics, round-robin over 3 nodes, reach every node's subscribers byte for byte, merged streams too" {
	start_redis
	nodes 3 --heartbeat 0
	d=$BATS_TEST_TMPDIR
	for n in 1 2 3; do
		on "$n"
		for t in t0 t1 t2; do
			subscribe "$d/$n.$t" "/events/$t"
		done
		subscribe "$d/$n.all" "/events?topic=t0&topic=t1&topic=t2"
	done
	run py "$TESTS/pub_rr.py" 1000 t0,t1,t2 "${NODE[1]},${NODE[2]},${NODE[3]}"
	echo "$output"
	[ "$status" -eq 0 ]
	for n in 1 2 3; do
		wait_for count_is "$d/$n.all" 1000
		wait_for count_is "$d/$n.t0" 334
		wait_for count_is "$d/$n.t1" 333
		wait_for count_is "$d/$n.t2" 333
	done
	for f in t0 t1 t2 all; do
		cmp "$d/1.$f" "$d/2.$f"
		cmp "$d/1.$f" "$d/3.$f"
	done
	# Each topic in publishing order; the merged stream in global order,
	# ids strictly increasing.
	diff <(events "$d/1.t0" | cut -d' ' -f2) <(expect_data 0 3 999)
	diff <(events "$d/1.t2" | cut -d' ' -f2) <(expect_data 2 3 998)
	diff <(events "$d/1.all" | cut -d' ' -f2) <(expect_data 0 999)
	events "$d/1.all" | cut -d' ' -f1 | sort -n -c -u
	on 2
	metric_is ssed_redis_connected 1
	metric_is ssed_redis_behind_events 0
	metric_is ssed_events_published_total 1000
}

@test "a client resumes on any node with no gap and no duplicate, also just after reading an event elsewhere" {
	start_redis
	nodes 3
	d=$BATS_TEST_TMPDIR
	on 1
	subscribe "$d/first" "/events?topic=r&topic=s"
	run py "$TESTS/pub_rr.py" 10 r,s "${NODE[1]},${NODE[2]},${NODE[3]}"
	[ "$status" -eq 0 ]
	wait_for count_is "$d/first" 10
	id4=$(events "$d/first" | awk '$2 == "e4" { print $1 }')
	for n in 2 3; do
		curl -sN --max-time 1 -H "Last-Event-ID: $id4" \
			"http://${NODE[$n]}/events?topic=r&topic=s" -o "$d/resumed.$n" || true
		diff <(events "$d/resumed.$n" | cut -d' ' -f2) <(expect_data 5 9)
		diff <(events "$d/resumed.$n") <(events "$d/first" | tail -5)
	done
	# Read on node 1, resume on node 2 at once: node 2's reader may not have
	# the event yet, and the stream must neither report a gap nor repeat it.
	for i in $(seq 1 10); do
		id=$(curl -sf -d "x$i" "http://${NODE[1]}/events/s")
		curl -sN --max-time 0.3 -H "Last-Event-ID: $id" "http://${NODE[2]}/events/s" \
			-o "$d/ahead" || true
		run events "$d/ahead"
		[ -z "$output" ]
	done
}

@test "Redis stops: publishes get 503 within 2 s, streams stay open; back with its data (AOF): every node catches up, no gap" {
	start_redis
	nodes 3 --heartbeat 1
	d=$BATS_TEST_TMPDIR
	declare -a sub
	for n in 1 2 3; do
		on "$n"
		subscribe "$d/$n" /events/s
		sub[$n]=$BG_PID
	done
	run py "$TESTS/pub_rr.py" 5 s "${NODE[1]},${NODE[2]},${NODE[3]}"
	[ "$status" -eq 0 ]
	for n in 1 2 3; do wait_for count_is "$d/$n" 5; done
	stop_redis
	for n in 1 2 3; do
		t0=$(date +%s%N)
		code=$(curl -s -o "$d/reply" -w '%{http_code}' --max-time 5 -d lost "http://${NODE[$n]}/events/s")
		ms=$((($(date +%s%N) - t0) / 1000000))
		echo "node $n: $code in $ms ms: $(cat "$d/reply")"
		[ "$code" = 503 ]
		[ "$ms" -lt 2000 ]
		grep -q 'cannot store' "$d/reply"
	done
	on 1
	wait_for metric_is ssed_redis_connected 0
	# The streams stay open: heartbeats go on.
	hb=$(grep -c '^:$' "$d/2" || true)
	wait_for eval '[ "$(grep -c "^:\$" "$d/2")" -gt "$hb" ]'
	for n in 1 2 3; do kill -0 "${sub[$n]}"; done
	start_redis
	for n in 1 2 3; do
		on "$n"
		wait_for metric_is ssed_redis_connected 1
		metric_ge ssed_redis_reconnects_total 1
	done
	run py "$TESTS/pub_rr.py" 10 s "${NODE[3]},${NODE[1]},${NODE[2]}"
	[ "$status" -eq 0 ]
	for n in 1 2 3; do
		wait_for count_is "$d/$n" 15
		diff <(events "$d/$n" | cut -d' ' -f2) <(expect_data 0 4; expect_data 0 9)
		cmp "$d/1" "$d/$n" || diff <(grep -v '^:' "$d/1") <(grep -v '^:' "$d/$n")
	done
	# Redis kept the history: a resume from before the outage has no gap.
	id2=$(events "$d/1" | awk '$2 == "e2" { print $1; exit }')
	curl -sN --max-time 1 -H "Last-Event-ID: $id2" "http://${NODE[2]}/events/s" -o "$d/resumed" || true
	diff <(events "$d/resumed" | cut -d' ' -f2) <(expect_data 3 4; expect_data 0 9)
}

# resume_data TOPIC LAST_ID - the data lines of a resume from LAST_ID on URL's
# node, read for a moment ("gap" for an ssed-gap).
resume_data() {
	curl -sN --max-time 1 -H "Last-Event-ID: $2" "$URL/events/$1" -o "$BATS_TEST_TMPDIR/resumed" || true
	events "$BATS_TEST_TMPDIR/resumed" | awk '$1 == "gap" { print "gap"; next } { print $2 }'
}

@test "a node started anew: a resume from the newest event gone from Redis's history is no gap, from older ones it is" {
	start_redis
	start_node 1 --history 10
	on 1
	for i in $(seq 1 20); do ids[$i]=$(curl -sf -d "e$i" "$URL/events/f"); done
	[ "$(resume_data f "${ids[10]}" | head -1)" = e11 ]
	kill "${NPID[1]}"
	wait "${NPID[1]}" || true
	start_node 1 --history 10
	on 1
	# e10 is the newest the history trimmed: nothing is missed after it.
	diff <(resume_data f "${ids[10]}") <(expect_data 11 20)
	diff <(resume_data f "${ids[9]}") <(echo gap; expect_data 11 20)

	# Events left out of the restore because of their age move the floor
	# too: a topic whose older events aged out while no node ran.
	for i in 1 2 3; do ids[$i]=$(curl -sf -d "a$i" "$URL/events/g"); done
	sleep 3  # a1 to a3 are 3 s older than a4 to a6
	for i in 4 5 6; do ids[$i]=$(curl -sf -d "a$i" "$URL/events/g"); done
	kill "${NPID[1]}"
	wait "${NPID[1]}" || true
	sleep 1.5  # at the start, a1 to a3 are past 4 s, a4 to a6 are not
	start_node 1 --history-age 4s
	on 1
	diff <(resume_data g "${ids[3]}") <(printf 'a%s\n' 4 5 6)
	diff <(resume_data g "${ids[2]}") <(echo gap; printf 'a%s\n' 4 5 6)
}

@test "Redis flushed, or restarted empty: resumes across the loss get ssed-gap, live streams end to be told, ids never go backwards" {
	start_redis
	nodes 2
	d=$BATS_TEST_TMPDIR
	on 1
	subscribe "$d/live" /events/f
	live=$BG_PID
	run py "$TESTS/pub_rr.py" 5 f "${NODE[1]},${NODE[2]}"
	[ "$status" -eq 0 ]
	wait_for count_is "$d/live" 5
	old=$(events "$d/live" | tail -1 | cut -d' ' -f1)
	redis-cli -s "$RSOCK" flushall
	id=$(curl -sf -d after-flush "http://${NODE[2]}/events/f")
	[ "$id" -gt "$old" ]
	# Node 1's live stream may have missed events Redis lost: it ends.
	wait_for eval '! kill -0 "$live"'
	for n in 1 2; do
		on "$n"
		wait_for metric_is ssed_events_published_total 6
		wait_for metric_is ssed_redis_behind_events 0
		curl -sN --max-time 1 -H "Last-Event-ID: $old" "$URL/events/f" -o "$d/r$n" || true
		events "$d/r$n" | head -1 | grep -qx "gap $old"
		events "$d/r$n" | grep -qx "$id after-flush"
	done
	# Restarted with no data at all.
	stop_redis
	rm -rf "$RDIR"
	start_redis
	on 2
	wait_for metric_is ssed_redis_connected 1
	id2=$(curl -sf -d after-restart "http://${NODE[1]}/events/f")
	[ "$id2" -gt "$id" ]
	wait_for metric_is ssed_events_published_total 7
	curl -sN --max-time 1 -H "Last-Event-ID: $id" "$URL/events/f" -o "$d/r3" || true
	events "$d/r3" | head -1 | grep -qx "gap $id"
	events "$d/r3" | grep -qx "$id2 after-restart"
}

@test "a node killed with kill -9 under load: its client resumes on another node and loses nothing" {
	start_redis
	nodes 3
	d=$BATS_TEST_TMPDIR
	on 1
	subscribe "$d/a" /events/k
	py "$TESTS/pub_rr.py" 300 k "${NODE[2]},${NODE[3]}" 0.005 >"$d/pub" 2>&1 3>&- &
	pub=$!
	PIDS+=("$pub")
	wait_for count_is "$d/a" 60
	kill -9 "${NPID[1]}"
	last=$(events "$d/a" | tail -1 | cut -d' ' -f1)
	on 3
	subscribe "$d/b" /events/k -H "Last-Event-ID: $last"
	wait "$pub"
	cat "$d/pub"
	wait_for count_is "$d/b" "$((300 - $(events "$d/a" | wc -l)))"
	run events "$d/b"
	[[ "$output" != *gap* ]]
	diff <({ events "$d/a"; events "$d/b"; } | cut -d' ' -f2) <(expect_data 0 299)
}

@test "a node behind Redis's retained log tells its subscribers of the gap instead of skipping it" {
	start_redis
	RQUERY='?log=100'
	nodes 2 --history 10
	d=$BATS_TEST_TMPDIR
	on 2
	subscribe "$d/live" /events/b
	live=$BG_PID
	run py "$TESTS/pub_rr.py" 3 b "${NODE[1]}"
	[ "$status" -eq 0 ]
	wait_for count_is "$d/live" 3
	kill -STOP "${NPID[2]}"
	run py "$TESTS/pub_rr.py" 1000 b "${NODE[1]}"
	kill -CONT "${NPID[2]}"
	[ "$status" -eq 0 ]
	# The stream ends, not skipping 990 events in silence ...
	wait_for eval '! kill -0 "$live"'
	run events "$d/live"
	[ "${#lines[@]}" -lt 1000 ]
	last=$(events "$d/live" | tail -1 | cut -d' ' -f1)
	# ... and its client, back with Last-Event-ID, is told of the gap and
	# gets what is retained, the newest event last.
	curl -sN --max-time 1 -H "Last-Event-ID: $last" "$URL/events/b" -o "$d/resumed" || true
	events "$d/resumed" | head -1 | grep -qx "gap $last"
	[ "$(events "$d/resumed" | tail -1 | cut -d' ' -f2)" = e999 ]
	metric_ge ssed_slow_subscribers_dropped_total 1
	metric_ge ssed_gaps_total 1
}

# start_lb PRIMARY BACKUP - Debian's nginx on a free loopback port in front of
# two nodes (the second one used when the first fails); sets LB.
start_lb() {
	local dir=$BATS_TEST_TMPDIR/nginx port
	mkdir -p "$dir/tmp"
	port=$(free_port)
	cat >"$dir/nginx.conf" <<-CONF
		daemon off;
		worker_processes 1;
		pid $dir/nginx.pid;
		error_log $dir/error.log;
		events { worker_connections 256; }
		http {
			access_log off;
			client_body_temp_path $dir/tmp/body;
			proxy_temp_path $dir/tmp/proxy;
			fastcgi_temp_path $dir/tmp/fastcgi;
			uwsgi_temp_path $dir/tmp/uwsgi;
			scgi_temp_path $dir/tmp/scgi;
			upstream nodes {
				server $1 max_fails=1 fail_timeout=30s;
				server $2 backup;
			}
			server {
				listen 127.0.0.1:$port;
				location / {
					proxy_pass http://nodes;
					proxy_http_version 1.1;
					proxy_set_header Connection "";
					proxy_buffering off;
					proxy_read_timeout 1h;
					proxy_connect_timeout 2s;
					# The nodes answer loopback Host names only.
					proxy_set_header Host 127.0.0.1;
				}
			}
		}
	CONF
	bg nginx -e "$dir/error.log" -c "$dir/nginx.conf"
	LB=http://127.0.0.1:$port
	wait_for curl -sf "$LB/healthz" -o /dev/null || { cat "$dir/error.log"; return 1; }
}

@test "a browser behind nginx: the node serving it is killed, its EventSource resumes on the other node, every event once, no ssed-gap" {
	command -v nginx
	command -v chromium
	npm_deps playwright-core
	start_redis
	nodes 2 --retry 300
	start_lb "${NODE[1]}" "${NODE[2]}"
	in=$BATS_TEST_TMPDIR/in
	out=$BATS_TEST_TMPDIR/out
	mkfifo "$in"
	timeout 90 node "$TESTS/js/restart.js" "$LB/" <"$in" >"$out" 2>&1 3>&- &
	node_pid=$!
	PIDS+=("$node_pid")
	exec 7>"$in"
	wait_for grep -qx ready "$out"
	on 1
	# The page's first EventSource, closed, leaves once the node sees the hang-up.
	wait_for metric_is ssed_subscribers 1
	for i in $(seq 1 20); do
		curl -sf -d "a$i" "http://${NODE[$((i % 2 + 1))]}/events/alpha?event=add" >/dev/null
	done
	echo "expect 20 1" >&7
	wait_for grep -qx 'seen 20' "$out"
	kill -9 "${NPID[1]}"
	# Published while the browser finds its way to node 2.
	for i in $(seq 21 40); do
		curl -sf -d "a$i" "http://${NODE[2]}/events/alpha?event=add" >/dev/null
	done
	echo "expect 40 2" >&7
	wait_for grep -qx 'seen 40' "$out"
	on 2
	metric_is ssed_subscribers 1
	echo done >&7
	exec 7>&-
	wait "$node_pid"
	cat "$out"
	diff <(sed -n 's/^event //p' "$out") <(seq -f 'add:a%.0f' 1 40)
	grep -qx 'opens 2 gaps 0' "$out"
}
