#!/usr/bin/env bash
# bench/run.sh - ssed on loopback under load; one line per figure.
# Bounded: every step has a time limit; the whole run takes a few minutes.
# Usage: bench/run.sh [quick]   (quick: 1k subscribers only)
set -u
cd "$(dirname "$0")/.." || exit 2
B=${B:-bin}
LOAD=build/bench/sse-load
out=bench/out
mkdir -p "$out"
quick=${1:-}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

start_ssed() {
	"$B/ssed" -l 127.0.0.1:0 "$@" 2>"$out/ssed.err" &
	SSED_PID=$!
	for _ in $(seq 1 250); do
		grep -q 'listening on' "$out/ssed.err" && break
		sleep 0.02
	done
	PORT=$(grep -o '127.0.0.1:[0-9]*' "$out/ssed.err" | head -1 | cut -d: -f2)
}
stop_ssed() { kill "$SSED_PID" 2>/dev/null; wait "$SSED_PID" 2>/dev/null; }

# wait_ready FILE - until the load client says its streams are open (60 s).
wait_ready() {
	for _ in $(seq 1 3000); do
		grep -q ready "$1" && return 0
		sleep 0.02
	done
	return 1
}

echo "# ssed $("$B/ssed" --version | cut -d' ' -f2-), $(nproc) CPUs, $(date -u +%F)"
sizes="1000 10000"
[ "$quick" = quick ] && sizes=1000

for n in $sizes; do
	start_ssed --history 1000 --heartbeat 60
	base=$(rss_kb "$SSED_PID")
	timeout 120 "$LOAD" sub 127.0.0.1 "$PORT" /events/idle "$n" 0 40 20 >"$out/idle.out" &
	lp=$!
	wait_ready "$out/idle.out" || echo "idle $n: streams did not open"
	sleep 1
	rss=$(rss_kb "$SSED_PID")
	t0=$(cpu_ticks "$SSED_PID")
	sleep 10
	t1=$(cpu_ticks "$SSED_PID")
	hz=$(getconf CLK_TCK)
	echo "idle_subscribers $n rss_per_subscriber_bytes $(( (rss - base) * 1024 / n )) idle_cpu_percent $(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.2f", 100 * t / hz / 10 }')"
	kill "$lp" 2>/dev/null; wait "$lp" 2>/dev/null
	stop_ssed
done

for n in $sizes; do
	start_ssed --history 2000 --heartbeat 60
	timeout 180 "$LOAD" sub 127.0.0.1 "$PORT" /events/fan "$n" 1000 150 20 >"$out/fan.out" &
	lp=$!
	wait_ready "$out/fan.out"
	timeout 170 "$LOAD" pub 127.0.0.1 "$PORT" /events/fan 1000 0 >"$out/pub.out"
	wait "$lp"
	echo "fanout_burst subscribers $n events 1000 $(tail -1 "$out/fan.out")"
	stop_ssed
done

start_ssed --history 200000 --history-bytes 64M
timeout 60 "$LOAD" sub 127.0.0.1 "$PORT" /events/one 1 100000 50 >"$out/one.out" &
lp=$!
wait_ready "$out/one.out"
timeout 50 "$LOAD" stream 127.0.0.1 "$PORT" /events/one 100000 >"$out/pub.out"
wait "$lp"
echo "one_subscriber events 100000 $(tail -1 "$out/one.out") publish: $(cat "$out/pub.out")"
stop_ssed

start_ssed --history 1000000 --history-bytes 256M
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
if seq 1 1000000 | cmp -s - "$out/pipe.out"; then ok=intact; else ok=DIFFERENT; fi
pipe_ns=$((e - s))
echo "pipe lines 1000000 seconds $(awk -v d=$pipe_ns 'BEGIN { printf "%.2f", d / 1e9 }') output $ok"

# The same job the slow way: one curl per line, 2,000 lines.
s=$(date +%s%N)
for i in $(seq 1 2000); do
	curl -sf -d "$i" "http://127.0.0.1:$PORT/events/curl" >/dev/null || break
done
e=$(date +%s%N)
echo "curl_per_line lines 2000 seconds $(awk -v d=$((e - s)) 'BEGIN { printf "%.2f", d / 1e9 }')" \
	"sse_pub_speedup $(awk -v c=$((e - s)) -v p=$pipe_ns 'BEGIN { printf "%.0f", (1000000 / (p / 1e9)) / (2000 / (c / 1e9)) }')x"
stop_ssed
