#!/usr/bin/env bash
# bench/run.sh - ssed, nchan and the roofline (bench/roofline.c, the least
# an SSE server can do) side by side on loopback, same load, same knobs;
# every scenario alternates the servers REPEAT times and the medians go to
# bench/RESULTS.md (with bench/results.png when gnuplot is there). Every
# step has a time limit.
#
# Environment: REPEAT (default 3), SIZES (default "1000 10000"),
# BURST_EVENTS (default 1000), PUBLISH_SECS (default 20: a publish phase
# stops there, and the subscribers are told how many to expect), LIMIT
# (default 1: the open-file-limit scenario), B (programs, default bin).
# The durable store (ssed --store beside memory mode): STORE (default 1),
# STORE_ONLY (1: only those scenarios), STORE_EVENTS (default 1000000: the
# seq | sse-pub pipe), STORE_REQ_EVENTS (100000: one request per event),
# STORE_LAT_EVENTS (2000: publish latency), STARTUP_EVENTS and
# STARTUP_TOPICS (1000000 over 1000: the restart), STEADY_EVENTS (10000000:
# the file size under a steady load).
# Several nodes: CLUSTER (default 1: three ssed --redis against three nchan
# on one Redis), CLUSTER_N (default 30000 subscribers over them),
# CLUSTER_REQ (default 20000 one-request events through Redis),
# CLUSTER_ONLY=1 (those alone).
set -u
cd "$(dirname "$0")/.." || exit 2
B=${B:-bin}
REPEAT=${REPEAT:-3}
SIZES=${SIZES:-1000 10000}
BURST_EVENTS=${BURST_EVENTS:-1000}
PUBLISH_SECS=${PUBLISH_SECS:-20}
LIMIT=${LIMIT:-1}
STORE=${STORE:-1}
STORE_ONLY=${STORE_ONLY:-0}
STORE_EVENTS=${STORE_EVENTS:-1000000}
STORE_REQ_EVENTS=${STORE_REQ_EVENTS:-100000}
STORE_LAT_EVENTS=${STORE_LAT_EVENTS:-2000}
STARTUP_EVENTS=${STARTUP_EVENTS:-1000000}
STARTUP_TOPICS=${STARTUP_TOPICS:-1000}
STEADY_EVENTS=${STEADY_EVENTS:-10000000}
HISTORY=2000
LOAD=build/bench/sse-load
ROOF=build/bench/roofline
out=bench/out
raw=$out/raw.txt
mkdir -p "$out"
: >"$raw"

have_nchan=0
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] && command -v nginx >/dev/null && have_nchan=1

# ssed -q prints no start-up line: its port comes from the socket table.
ssed_port() {
	for _ in $(seq 1 250); do
		PORT=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$SPID," '$0 ~ p { split($4, a, ":"); print a[2] }')
		[ -n "$PORT" ] && return 0
		sleep 0.02
	done
	return 1
}

# ---- servers: start_server KIND; sets SPID (the process to watch), PORT, PUB
start_server() {
	case $1 in
	ssed|ssed_store)
		local store=()
		if [ "$1" = ssed_store ]; then
			rm -f "$out/store.db" "$out/store.db-wal"
			store=(--store "$out/store.db")
		fi
		"$B/ssed" -q -l 127.0.0.1:0 --history "$HISTORY" --history-bytes 256M --heartbeat 60 \
			"${store[@]}" 2>"$out/ssed.err" &
		SPID=$!
		ssed_port
		PUB=/events
		;;
	nchan)
		# nginx needs a port named in its config: one below the kernel's
		# ephemeral range (32768 up), and another should it be taken.
		for _ in 1 2 3 4 5; do
			PORT=$((20000 + RANDOM % 12000))
			rm -rf "$out/nginx" && mkdir -p "$out/nginx"
			sed -e "s#@DIR@#$PWD/$out/nginx#g; s#@PORT@#$PORT#; s#@HISTORY@#$HISTORY#" \
				bench/nchan.conf.in >"$out/nginx/nginx.conf"
			nginx -c "$PWD/$out/nginx/nginx.conf" -p "$PWD/$out/nginx" 2>>"$out/nginx-start.err" &
			SPID=$!
			for _ in $(seq 1 250); do
				curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break 2
				kill -0 "$SPID" 2>/dev/null || break  # it could not bind: next port
				sleep 0.02
			done
		done
		PUB=/pub
		;;
	roofline)
		"$ROOF" 0 >"$out/roofline.out" 2>&1 &
		SPID=$!
		for _ in $(seq 1 250); do
			PORT=$(awk '/^listening on/ { print $3 }' "$out/roofline.out")
			[ -n "$PORT" ] && break
			sleep 0.02
		done
		PUB=/events
		;;
	esac
}
stop_server() {
	kill "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	pkill -f "nginx -c $PWD/$out/nginx" 2>/dev/null || true
}
# All processes of the server (nginx: master and workers).
server_pids() { echo "$SPID"; pgrep -P "$SPID" 2>/dev/null; }
rss_kb() { local p t=0; for p in $(server_pids); do t=$((t + $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status"))); done; echo "$t"; }
secs_of_ticks() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'; }
cpu_ticks() { local p t=0; for p in $(server_pids); do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }

wait_ready() {
	for _ in $(seq 1 3000); do
		grep -q ready "$1" && return 0
		sleep 0.02
	done
	return 1
}

# record SCENARIO SERVER METRIC VALUE (a value that could not be measured: NaN)
record() { echo "$1 $2 $3 ${4:-NaN}" >>"$raw"; }

# ---- scenarios

# hold_idle SCENARIO KIND N SECS - N idle streams on a started server; once
# all are open, record the RSS each added and the CPU over 10 s. Leaves LP
# (the load client) running; returns 1 when the streams did not open.
hold_idle() {
	local scen=$1 kind=$2 n=$3 secs=$4 base rss t0 t1 hz
	base=$(rss_kb)
	timeout $((secs + 100)) "$LOAD" sub 127.0.0.1 "$PORT" "/events/$scen" "$n" 0 "$secs" 20 \
		>"$out/idle.out" &
	LP=$!
	wait_ready "$out/idle.out" || { echo "$scen $kind $n: streams did not open"; return 1; }
	sleep 1
	rss=$(rss_kb)
	t0=$(cpu_ticks)
	sleep 10
	t1=$(cpu_ticks)
	hz=$(getconf CLK_TCK)
	record "$scen" "$kind" rss_per_sub_bytes $(( (rss - base) * 1024 / n ))
	record "$scen" "$kind" idle_cpu_percent "$(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.2f", 100 * t / hz / 10 }')"
}

idle() {  # idle KIND N
	start_server "$1"
	hold_idle "idle_$2" "$1" "$2" 40
	kill "$LP" 2>/dev/null; wait "$LP" 2>/dev/null
	stop_server
}

# ssed's own figure for the streams it allows: --max-subscribers as capped
# by the open-file limit (the hard limit, which ssed raises itself to).
ssed_limit() {
	"$B/ssed" -q -l 127.0.0.1:0 2>/dev/null &
	SPID=$!
	ssed_port
	curl -sf "http://127.0.0.1:$PORT/metrics" | awk '$1 == "ssed_subscribers_limit" { print $2 }'
	stop_server
}

limit() {  # limit KIND N: N idle streams (ssed's limit), then one more, and a publish
	local kind=$1 n=$2
	start_server "$kind"
	if hold_idle limit "$kind" "$n" 200; then
		record limit "$kind" streams_held "$n"
		record limit "$kind" one_more_status "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
			"http://127.0.0.1:$PORT/events/limit")"
		record limit "$kind" publish_status "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
			-d x "http://127.0.0.1:$PORT$PUB/limit")"
	else
		record limit "$kind" streams_held NaN
	fi
	kill "$LP" 2>/dev/null; wait "$LP" 2>/dev/null
	stop_server
}

# The server's calls that send bytes (send, sendto, sendmsg, writev), counted
# by perf's syscall tracepoints while the events go out (needs perf and
# permission to trace; without, NaN). What a send costs is mostly the kernel's
# TCP path, the same for every server, so deliveries per call says how well
# a server batches. Not write: ssed's eventfd wakes are writes.
SENDS_EV=syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_writev
have_perf=0
perf stat -x, -e "$SENDS_EV" -o /dev/null true 2>/dev/null && have_perf=1
sends_start() {
	SENDS_PID=
	[ "$have_perf" = 1 ] || return 0
	rm -f "$out/sends.txt"
	perf stat -x, -o "$out/sends.txt" -e "$SENDS_EV" -p "$(server_pids | paste -sd,)" &
	SENDS_PID=$!
	# perf counts once it has opened its counters: its output file says so.
	for _ in $(seq 1 250); do
		[ -s "$out/sends.txt" ] && return 0
		sleep 0.02
	done
}
sends_stop() {  # sends_stop SCENARIO KIND
	[ -n "$SENDS_PID" ] || return 0
	kill -INT "$SENDS_PID" 2>/dev/null
	for _ in $(seq 1 250); do
		kill -0 "$SENDS_PID" 2>/dev/null || break
		sleep 0.02
	done
	kill -KILL "$SENDS_PID" 2>/dev/null  # it missed the signal: no count
	wait "$SENDS_PID" 2>/dev/null
	record "$1" "$2" send_calls "$(awk -F, '$3 ~ /sys_enter/ { t += $1; n++ } END { if(n) print t; else print "NaN" }' "$out/sends.txt")"
}

fanout() {  # fanout KIND N EVENTS RATE NAME
	local kind=$1 n=$2 events=$3 rate=$4 name=$5 lp line t0 t1
	start_server "$kind"
	timeout 300 "$LOAD" sub 127.0.0.1 "$PORT" /events/fan "$n" "$events" 280 20 >"$out/fan.out" &
	lp=$!
	wait_ready "$out/fan.out"
	sends_start
	t0=$(cpu_ticks)
	timeout 280 "$LOAD" pub 127.0.0.1 "$PORT" "$PUB/fan" "$events" "$rate" "$PUBLISH_SECS" \
		>"$out/pub.out" || kill "$lp" 2>/dev/null  # no point waiting for events never sent
	wait "$lp"
	t1=$(cpu_ticks)
	sends_stop "$name" "$kind"
	line=$(tail -1 "$out/fan.out")
	set -- $line
	record "$name" "$kind" deliveries_per_s "${8:-0}"
	record "$name" "$kind" p50_ms "${10:-0}"
	record "$name" "$kind" p99_ms "${12:-0}"
	record "$name" "$kind" max_ms "${14:-0}"
	record "$name" "$kind" lost "${4:-0}"
	record "$name" "$kind" events_published "${16:-0}"
	record "$name" "$kind" publish_per_s "$(awk '{ print $4 }' "$out/pub.out")"
	# CPU while the events went out: the server's, and the receiving
	# streams' (sse-load's), which share the machine with it.
	record "$name" "$kind" server_cpu_s "$(secs_of_ticks $((t1 - t0)))"
	record "$name" "$kind" client_cpu_s "$(awk -v ms="${18:-0}" 'BEGIN { printf "%.2f", ms / 1000 }')"
	stop_server
}

one_sub() {  # one_sub KIND: ssed streams its publish, nchan takes one POST each
	local kind=$1 lp mode=pub
	[ "$kind" = ssed ] && mode=stream
	start_server "$kind"
	timeout 120 "$LOAD" sub 127.0.0.1 "$PORT" /events/one 1 100000 110 >"$out/one.out" &
	lp=$!
	wait_ready "$out/one.out"
	timeout 110 "$LOAD" "$mode" 127.0.0.1 "$PORT" "$PUB/one" 100000 >"$out/pub.out" ||
		kill "$lp" 2>/dev/null
	wait "$lp"
	set -- $(tail -1 "$out/one.out")
	record one_sub "$kind" events_per_s "${8:-0}"
	record one_sub "$kind" lost "${4:-0}"
	stop_server
}

one_req() {  # one_req KIND: one POST per event, one subscriber, and the server's CPU for them
	local kind=$1 lp t0 t1
	start_server "$kind"
	timeout 120 "$LOAD" sub 127.0.0.1 "$PORT" /events/req 1 100000 110 >"$out/req.out" &
	lp=$!
	wait_ready "$out/req.out"
	t0=$(cpu_ticks)
	timeout 110 "$LOAD" pub 127.0.0.1 "$PORT" "$PUB/req" 100000 >"$out/pub.out" ||
		kill "$lp" 2>/dev/null
	wait "$lp"
	t1=$(cpu_ticks)
	set -- $(tail -1 "$out/req.out")
	record one_req "$kind" events_per_s "${8:-0}"
	record one_req "$kind" lost "${4:-0}"
	record one_req "$kind" server_cpu_s "$(secs_of_ticks $((t1 - t0)))"
	stop_server
}

pipe() {  # ssed only: seq | sse-pub | sse-cat, against one curl per line
	local cp s e ok pipe_ns
	"$B/ssed" -q -l 127.0.0.1:0 --history 1000000 --history-bytes 256M 2>/dev/null &
	SPID=$!
	ssed_port
	timeout 60 "$B/sse-cat" -n 1000000 "http://127.0.0.1:$PORT/events/pipe" >"$out/pipe.out" &
	cp=$!
	for _ in $(seq 1 250); do
		curl -s "http://127.0.0.1:$PORT/metrics" | grep -qx 'ssed_subscribers 1' && break
		sleep 0.02
	done
	s=$(date +%s%N)
	seq 1 1000000 | timeout 60 "$B/sse-pub" "http://127.0.0.1:$PORT/events/pipe"
	wait "$cp"
	e=$(date +%s%N)
	pipe_ns=$((e - s))
	# One curl per line: 2,000 lines, scaled to a million.
	if seq 1 1000000 | cmp -s - "$out/pipe.out"; then ok=1; else ok=0; fi
	record pipe ssed seconds_1M "$(awk -v d=$pipe_ns 'BEGIN { printf "%.2f", d / 1e9 }')"
	record pipe ssed intact "$ok"
	s=$(date +%s%N)
	for i in $(seq 1 2000); do
		curl -sf -d "$i" "http://127.0.0.1:$PORT/events/curl" >/dev/null || break
	done
	e=$(date +%s%N)
	record pipe curl_per_line seconds_1M "$(awk -v d=$((e - s)) 'BEGIN { printf "%.2f", d / 1e9 * 500 }')"
	stop_server
}

# tls PROTO N - the same ssed with a plain and an HTTPS listener: N idle
# streams (RSS each, idle CPU), then a fan-out burst, with the streams over
# PROTO (http or https; sse-load's SSE_LOAD_TLS=1) and the publishes over
# plain HTTP. Recorded as scenario tls_N, "server" http or https.
tls() {
	local proto=$1 n=$2 lp plain secure line
	[ -s "$out/tls.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 2 -subj /CN=127.0.0.1 -keyout "$out/tls.key" -out "$out/tls.pem" 2>/dev/null
	"$B/ssed" -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 --tls-cert "$out/tls.pem" \
		--tls-key "$out/tls.key" --history "$HISTORY" --history-bytes 256M --heartbeat 60 \
		2>"$out/ssed.err" &
	SPID=$!
	for _ in $(seq 1 250); do
		[ "$(grep -c 'listening on' "$out/ssed.err")" = 2 ] && break
		sleep 0.02
	done
	plain=$(grep -o 'http://127.0.0.1:[0-9]*' "$out/ssed.err" | grep -o '[0-9]*$')
	secure=$(grep -o 'https://127.0.0.1:[0-9]*' "$out/ssed.err" | grep -o '[0-9]*$')
	PORT=$plain
	[ "$proto" = https ] && PORT=$secure
	export SSE_LOAD_TLS=0
	[ "$proto" = https ] && SSE_LOAD_TLS=1
	if hold_idle "tls_$n" "$proto" "$n" 60; then
		kill "$LP" 2>/dev/null; wait "$LP" 2>/dev/null
		timeout 300 "$LOAD" sub 127.0.0.1 "$PORT" /events/fan "$n" "$BURST_EVENTS" 280 20 \
			>"$out/fan.out" &
		lp=$!
		wait_ready "$out/fan.out"
		timeout 280 "$LOAD" pub 127.0.0.1 "$plain" /events/fan "$BURST_EVENTS" 0 "$PUBLISH_SECS" \
			>"$out/pub.out" || kill "$lp" 2>/dev/null
		wait "$lp"
		line=$(tail -1 "$out/fan.out")
		set -- $line
		record "tls_$n" "$proto" deliveries_per_s "${8:-0}"
		record "tls_$n" "$proto" p99_ms "${12:-0}"
		record "tls_$n" "$proto" lost "${4:-0}"
	else
		kill "$LP" 2>/dev/null; wait "$LP" 2>/dev/null
	fi
	unset SSE_LOAD_TLS
	stop_server
}

nchan_pipe() {  # nchan's best publish path: POSTs over one keep-alive connection
	start_server nchan
	timeout 120 "$LOAD" pub 127.0.0.1 "$PORT" /pub/pipe 20000 >"$out/pub.out"
	record pipe nchan seconds_1M "$(awk '{ printf "%.2f", 1000000 / $4 }' "$out/pub.out")"
	stop_server
}

# ---- the durable store: ssed --store (kind ssed_store) beside memory mode

store_pipe() {  # store_pipe KIND: seq | sse-pub into one topic, no subscriber
	local kind=$1 s e
	start_server "$kind"
	s=$(date +%s%N)
	seq 1 "$STORE_EVENTS" | timeout 300 "$B/sse-pub" -q "http://127.0.0.1:$PORT/events/pipe"
	e=$(date +%s%N)
	record store_pipe "$kind" events_per_s "$(awk -v n="$STORE_EVENTS" -v d=$((e - s)) 'BEGIN { printf "%.0f", n / (d / 1e9) }')"
	record store_pipe "$kind" stored "$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '$1 == "ssed_events_published_total" { print $2 }')"
	stop_server
}

store_req() {  # store_req KIND: one POST per event over one connection
	local kind=$1
	start_server "$kind"
	timeout 300 "$LOAD" pub 127.0.0.1 "$PORT" /events/req "$STORE_REQ_EVENTS" >"$out/pub.out"
	record store_req "$kind" events_per_s "$(awk '{ print $4 }' "$out/pub.out")"
	stop_server
}

store_latency() {  # store_latency KIND: publish round trips (curl, one connection), p50/p99
	local kind=$1 i urls=()
	start_server "$kind"
	# Each URL its own -o: curl writes only the timings to stdout.
	for ((i = 0; i < STORE_LAT_EVENTS; i++)); do urls+=(-o /dev/null "http://127.0.0.1:$PORT/events/lat"); done
	timeout 300 curl -s -w '%{time_total}\n' -d x "${urls[@]}" | sort -g >"$out/lat.out"
	record store_latency "$kind" p50_ms "$(awk '{ v[NR] = $1 } END { printf "%.3f", v[int(NR * 0.50) + 1] * 1000 }' "$out/lat.out")"
	record store_latency "$kind" p99_ms "$(awk '{ v[NR] = $1 } END { printf "%.3f", v[int(NR * 0.99) + 1] * 1000 }' "$out/lat.out")"
	stop_server
}

# store_startup: STARTUP_EVENTS over STARTUP_TOPICS, then the time from a
# restart to the listening line, all of them restored.
store_startup() {
	local per=$((STARTUP_EVENTS / STARTUP_TOPICS)) t s e db=$out/startup.db
	rm -f "$db" "$db-wal"
	"$B/ssed" -q -l 127.0.0.1:0 --store "$db" --history "$per" --max-memory 1G 2>"$out/ssed.err" &
	SPID=$!
	ssed_port
	for ((t = 1; t <= STARTUP_TOPICS; t++)); do
		seq 1 "$per" | timeout 60 "$B/sse-pub" -q "http://127.0.0.1:$PORT/events/t$t" || break
	done
	stop_server
	s=$(date +%s%N)
	"$B/ssed" -l 127.0.0.1:0 --store "$db" --history "$per" --max-memory 1G 2>"$out/ssed.err" &
	SPID=$!
	for _ in $(seq 1 6000); do
		grep -q 'listening on' "$out/ssed.err" && break
		sleep 0.01
	done
	e=$(date +%s%N)
	PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$out/ssed.err" | head -1 | grep -o '[0-9]*$')
	record store_startup ssed_store seconds "$(awk -v d=$((e - s)) 'BEGIN { printf "%.2f", d / 1e9 }')"
	record store_startup ssed_store events_restored "$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '$1 == "ssed_retained_events" { print $2 }')"
	record store_startup ssed_store file_bytes "$(stat -c %s "$db")"
	stop_server
	rm -f "$db" "$db-wal"
}

# store_steady: STEADY_EVENTS into one topic (history 2000) in two halves;
# the file's size after each shows it does not grow.
store_steady() {
	local half=$((STEADY_EVENTS / 2))
	start_server ssed_store
	seq 1 "$half" | timeout 600 "$B/sse-pub" -q "http://127.0.0.1:$PORT/events/steady"
	record store_steady ssed_store file_bytes_half "$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '$1 == "ssed_store_size_bytes" { print $2 }')"
	seq 1 "$half" | timeout 600 "$B/sse-pub" -q "http://127.0.0.1:$PORT/events/steady"
	record store_steady ssed_store file_bytes_end "$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '$1 == "ssed_store_size_bytes" { print $2 }')"
	record store_steady ssed_store events_held "$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '$1 == "ssed_store_events" { print $2 }')"
	stop_server
}

store_round() {
	local n=${pass_n:-10000} k
	for k in ssed ssed_store; do store_pipe "$k"; done
	for k in ssed ssed_store; do store_req "$k"; done
	for k in ssed ssed_store; do store_latency "$k"; done
	for k in ssed ssed_store; do fanout "$k" "$n" "$BURST_EVENTS" 0 "store_burst_$n"; done
	store_startup
	store_steady
}

# ---- several nodes through one Redis: ssed --redis against nchan with its
# Redis storage, three of each on this machine (CLUSTER_N subscribers spread
# over them: more than one process can hold here)

NODES=3
CLUSTER_N=${CLUSTER_N:-30000}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A Redis of the run's own, empty, nothing saved (the same for both).
start_redis() {
	RPORT=$(free_port)
	redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --daemonize no \
		--logfile "$PWD/$out/redis.log" &
	RPID=$!
	for _ in $(seq 1 250); do
		[ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.02
	done
	return 1
}

# start_cluster KIND [SSED ARGS...] - KIND ssed (--redis) or nchan
# (nchan_use_redis), NODES of them on one new Redis; sets CPORTS, CPIDS.
start_cluster() {
	local kind=$1 i dir
	shift
	CPORTS=() CPIDS=()
	start_redis || { echo "redis-server did not start"; return 1; }
	for i in $(seq 1 "$NODES"); do
		if [ "$kind" = ssed ]; then
			"$B/ssed" -q -l 127.0.0.1:0 --history "$HISTORY" --history-bytes 256M --heartbeat 60 \
				--redis "redis://127.0.0.1:$RPORT" "$@" 2>>"$out/ssed.err" &
			SPID=$!
			ssed_port
		else
			dir=$out/nginx$i
			for _ in 1 2 3 4 5; do
				PORT=$((20000 + RANDOM % 12000))
				rm -rf "$dir" && mkdir -p "$dir"
				sed -e "s#@DIR@#$PWD/$dir#g; s#@PORT@#$PORT#; s#@HISTORY@#$HISTORY#" \
				    -e "s#^\( *\)nchan_shared_memory_size.*#&\n\1nchan_redis_url redis://127.0.0.1:$RPORT;#" \
				    -e "s#^\( *\)nchan_channel_id.*#&\n\1nchan_use_redis on;#" \
					bench/nchan.conf.in >"$dir/nginx.conf"
				nginx -c "$PWD/$dir/nginx.conf" -p "$PWD/$dir" 2>>"$out/nginx-start.err" &
				SPID=$!
				for _ in $(seq 1 250); do
					curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break 2
					kill -0 "$SPID" 2>/dev/null || break
					sleep 0.02
				done
			done
		fi
		CPORTS+=("$PORT")
		CPIDS+=("$SPID")
	done
}

stop_cluster() {
	local p
	for p in "${CPIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${CPIDS[@]}"; do wait "$p" 2>/dev/null; done
	kill "$RPID" 2>/dev/null
	wait "$RPID" 2>/dev/null
}

# cluster_fanout KIND N EVENTS RATE NAME - N subscribers spread over the
# nodes, EVENTS published to the first node. Deliveries/s and lost are the
# sums over the nodes; p50, p99 and max the worst node's.
cluster_fanout() {
	local kind=$1 n=$2 events=$3 rate=$4 name=$5 i lps=() pub=/events f
	[ "$kind" = nchan ] && pub=/pub
	start_cluster "$kind" || return
	for i in $(seq 0 $((NODES - 1))); do
		timeout 300 "$LOAD" sub 127.0.0.1 "${CPORTS[$i]}" /events/fan $((n / NODES)) "$events" 280 20 \
			>"$out/cfan$i.out" &
		lps+=($!)
	done
	for i in $(seq 0 $((NODES - 1))); do wait_ready "$out/cfan$i.out"; done
	timeout 280 "$LOAD" pub 127.0.0.1 "${CPORTS[0]}" "$pub/fan" "$events" "$rate" "$PUBLISH_SECS" \
		>"$out/pub.out" || kill "${lps[@]}" 2>/dev/null
	wait "${lps[@]}"
	for i in $(seq 0 $((NODES - 1))); do tail -1 "$out/cfan$i.out"; done >"$out/cfan.all"
	record "$name" "$kind" deliveries_per_s "$(awk '{ s += $8 } END { print s + 0 }' "$out/cfan.all")"
	record "$name" "$kind" p50_ms "$(awk '$10 > m { m = $10 } END { print m + 0 }' "$out/cfan.all")"
	record "$name" "$kind" p99_ms "$(awk '$12 > m { m = $12 } END { print m + 0 }' "$out/cfan.all")"
	record "$name" "$kind" max_ms "$(awk '$14 > m { m = $14 } END { print m + 0 }' "$out/cfan.all")"
	record "$name" "$kind" lost "$(awk '{ s += $4 } END { print s + 0 }' "$out/cfan.all")"
	record "$name" "$kind" events_published "$(awk '{ print $2 }' "$out/pub.out")"
	record "$name" "$kind" publish_per_s "$(awk '{ print $4 }' "$out/pub.out")"
	stop_cluster
}

# cluster_req KIND - one POST per event to the first node, one subscriber on
# the second: what one request per event costs through Redis.
cluster_req() {
	local kind=$1 lp pub=/events
	[ "$kind" = nchan ] && pub=/pub
	start_cluster "$kind" || return
	timeout 120 "$LOAD" sub 127.0.0.1 "${CPORTS[1]}" /events/req 1 "$CLUSTER_REQ" 110 >"$out/req.out" &
	lp=$!
	wait_ready "$out/req.out"
	timeout 110 "$LOAD" pub 127.0.0.1 "${CPORTS[0]}" "$pub/req" "$CLUSTER_REQ" >"$out/pub.out" ||
		kill "$lp" 2>/dev/null
	wait "$lp"
	set -- $(tail -1 "$out/req.out")
	record cluster_req "$kind" events_per_s "${8:-0}"
	record cluster_req "$kind" lost "${4:-0}"
	stop_cluster
}

# node_fanout N - one ssed's burst fan-out with --redis against memory mode.
node_fanout() {
	local n=$1 lp line kind
	for kind in ssed_memory ssed; do
		if [ "$kind" = ssed ]; then
			start_cluster ssed || return
			PORT=${CPORTS[0]}
			kill "${CPIDS[1]}" "${CPIDS[2]}" 2>/dev/null  # one node
		else
			start_server ssed
		fi
		timeout 300 "$LOAD" sub 127.0.0.1 "$PORT" /events/fan "$n" "$BURST_EVENTS" 280 20 >"$out/fan.out" &
		lp=$!
		wait_ready "$out/fan.out"
		timeout 280 "$LOAD" pub 127.0.0.1 "$PORT" /events/fan "$BURST_EVENTS" 0 "$PUBLISH_SECS" \
			>"$out/pub.out" || kill "$lp" 2>/dev/null
		wait "$lp"
		set -- $(tail -1 "$out/fan.out")
		record "node_burst_$n" "$kind" deliveries_per_s "${8:-0}"
		record "node_burst_$n" "$kind" p99_ms "${12:-0}"
		record "node_burst_$n" "$kind" lost "${4:-0}"
		if [ "$kind" = ssed ]; then stop_cluster; else stop_server; fi
	done
}

CLUSTER_REQ=${CLUSTER_REQ:-20000}
# cluster_all - the scenarios above, once (a round of their own).
cluster_all() {
	local k ckinds=ssed
	command -v redis-server >/dev/null || { echo "# redis-server is not installed: no cluster scenarios"; return; }
	[ "$have_nchan" = 1 ] && ckinds="ssed nchan"
	for k in $ckinds; do cluster_fanout "$k" "$CLUSTER_N" "$BURST_EVENTS" 0 "cluster_burst_$CLUSTER_N"; done
	for k in $ckinds; do cluster_fanout "$k" "$CLUSTER_N" 1000 100 "cluster_rate100_$CLUSTER_N"; done
	node_fanout "$pass_n"
	for k in $ckinds; do cluster_req "$k"; done
}

# CLUSTER_ONLY=1: only the Redis scenarios (REPEAT rounds), then the report.
if [ "${CLUSTER_ONLY:-0}" = 1 ]; then
	pass_n=$(printf '%s\n' $SIZES | sort -n | tail -1)
	for r in $(seq 1 "$REPEAT"); do
		echo "# round $r of $REPEAT (Redis scenarios only)"
		cluster_all
	done
	CLUSTER_N=$CLUSTER_N PUBLISH_SECS=$PUBLISH_SECS BURST_EVENTS=$BURST_EVENTS python3 bench/report.py "$raw" "$REPEAT" >bench/RESULTS.md
	cat bench/RESULTS.md
	exit 0
fi

# ---- the run
echo "# $(uname -sr), $(nproc) CPUs, $(free -g | awk '/^Mem/ { print $2 }') GiB; ssed $("$B/ssed" --version | cut -d' ' -f2-)"
[ "$have_nchan" = 1 ] || echo "# nchan is not installed (nginx + libnginx-mod-nchan): ssed alone"
all_kinds="ssed roofline"
[ "$have_nchan" = 1 ] && all_kinds="ssed nchan roofline"
pass_n=$(printf '%s\n' $SIZES | sort -n | tail -1)
for r in $(seq 1 "$REPEAT"); do
	# Each round starts with the next server, so none always runs first
	# (or always just after another's burst).
	nk=$(echo $all_kinds | wc -w)
	kinds=$(printf '%s\n' $all_kinds $all_kinds | tail -n +$(((r - 1) % nk + 1)) | head -n "$nk" | tr '\n' ' ')
	echo "# round $r of $REPEAT: $kinds"
	if [ "$STORE_ONLY" = 1 ]; then
		store_round
		continue
	fi
	for n in $SIZES; do
		for k in $kinds; do idle "$k" "$n"; done
		for k in $kinds; do fanout "$k" "$n" "$BURST_EVENTS" 0 "burst_$n"; done
		for k in $kinds; do fanout "$k" "$n" 1000 100 "rate100_$n"; done
	done
	# One event at a time: its p99 is how long one event takes to reach
	# every stream, which bounds the burst's p99 at the same size.
	for k in $kinds; do fanout "$k" "$pass_n" 20 2 "pass_$pass_n"; done
	if [ "$LIMIT" = 1 ]; then
		[ -n "${limit_n:-}" ] || limit_n=$(ssed_limit)
		echo "# ssed's open-file limit: $(ulimit -Hn), so $limit_n streams"
		for k in $kinds; do [ "$k" = roofline ] || limit "$k" "$limit_n"; done
	fi
	for k in $kinds; do one_sub "$k"; done
	for k in $kinds; do one_req "$k"; done
	pipe
	[ "$have_nchan" = 1 ] && nchan_pipe
	for n in $SIZES; do
		for p in http https; do tls "$p" "$n"; done
	done
	[ "$STORE" = 1 ] && store_round
	[ "${CLUSTER:-1}" = 1 ] && cluster_all
done
CLUSTER_N=$CLUSTER_N PUBLISH_SECS=$PUBLISH_SECS BURST_EVENTS=$BURST_EVENTS python3 bench/report.py "$raw" "$REPEAT" >bench/RESULTS.md
cat bench/RESULTS.md
if command -v gnuplot >/dev/null && [ -s "$out/chart.dat" ]; then
	gnuplot bench/chart.gp && echo "# chart: bench/results.png"
fi
