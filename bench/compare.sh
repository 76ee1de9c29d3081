#!/usr/bin/env bash
# bench/compare.sh OLD NEW - two builds of ssed side by side, alternating,
# for a change that must not make memory mode slower: idle RSS per stream,
# burst fan-out, and one request per event with the server's CPU.
#
#   make build/bench/sse-load
#   git worktree add /tmp/old HEAD~5 && make -C /tmp/old
#   bench/compare.sh /tmp/old/bin/ssed bin/ssed
#
# Environment: REPEAT (default 3), SUBS (default 10000), BURST_EVENTS
# (default 1000). Prints one line per figure and round, then the medians
# and NEW/OLD. Loopback only; every step has a time limit.
set -u
cd "$(dirname "$0")/.." || exit 2
[ $# -eq 2 ] || { echo "usage: bench/compare.sh OLD_SSED NEW_SSED" >&2; exit 1; }
REPEAT=${REPEAT:-3}
SUBS=${SUBS:-10000}
BURST_EVENTS=${BURST_EVENTS:-1000}
LOAD=build/bench/sse-load
out=bench/out/compare
mkdir -p "$out"
raw=$out/raw.txt
: >"$raw"
[ -x "$LOAD" ] || { echo "compare.sh: error: build $LOAD first (make $LOAD)" >&2; exit 1; }

start() {  # start SSED: sets SPID and PORT
	local more=
	# A build with a global memory bound gets one that the load never reaches.
	"$1" --help | grep -q -- --max-memory && more="--max-memory 1G"
	# shellcheck disable=SC2086
	"$1" -q -l 127.0.0.1:0 --history 2000 --history-bytes 256M --heartbeat 60 $more \
		2>"$out/ssed.err" &
	SPID=$!
	for _ in $(seq 1 250); do
		PORT=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$SPID," '$0 ~ p { split($4, a, ":"); print a[2] }')
		[ -n "$PORT" ] && return 0
		sleep 0.02
	done
	return 1
}
stop() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$SPID/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$SPID/stat"; }
ready() { for _ in $(seq 1 3000); do grep -q ready "$1" && return 0; sleep 0.02; done; return 1; }

round() {  # round NAME SSED
	local name=$1 bin=$2 lp base t0 t1
	start "$bin" || { echo "# $name: ssed did not start"; return; }
	base=$(rss_kb)
	timeout 100 "$LOAD" sub 127.0.0.1 "$PORT" /events/idle "$SUBS" 0 60 20 >"$out/idle.out" &
	lp=$!
	if ready "$out/idle.out"; then
		sleep 1
		echo "$name rss_per_sub_bytes $(( ($(rss_kb) - base) * 1024 / SUBS ))" >>"$raw"
	fi
	kill "$lp" 2>/dev/null; wait "$lp" 2>/dev/null
	timeout 200 "$LOAD" sub 127.0.0.1 "$PORT" /events/fan "$SUBS" "$BURST_EVENTS" 180 20 >"$out/fan.out" &
	lp=$!
	ready "$out/fan.out" && timeout 120 "$LOAD" pub 127.0.0.1 "$PORT" /events/fan "$BURST_EVENTS" 0 20 >/dev/null
	wait "$lp"
	set -- $(tail -1 "$out/fan.out")
	echo "$name burst_deliveries_per_s ${8:-NaN}" >>"$raw"
	echo "$name burst_p99_ms ${12:-NaN}" >>"$raw"
	echo "$name burst_lost ${4:-NaN}" >>"$raw"
	timeout 120 "$LOAD" sub 127.0.0.1 "$PORT" /events/req 1 50000 110 >"$out/req.out" &
	lp=$!
	ready "$out/req.out"
	t0=$(ticks)
	timeout 110 "$LOAD" pub 127.0.0.1 "$PORT" /events/req 50000 >/dev/null
	wait "$lp"
	t1=$(ticks)
	set -- $(tail -1 "$out/req.out")
	echo "$name one_req_events_per_s ${8:-NaN}" >>"$raw"
	echo "$name one_req_cpu_us_per_event $(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / 50000 ))" >>"$raw"
	stop
}

for r in $(seq 1 "$REPEAT"); do
	round old "$1"
	round new "$2"
	echo "# round $r of $REPEAT"
	grep . "$raw" | tail -14
done
python3 - "$raw" <<'EOF'
import statistics, sys
from collections import defaultdict
v = defaultdict(list)
for line in open(sys.argv[1]):
    name, metric, value = line.split()
    if value != "NaN":
        v[(name, metric)].append(float(value))
print("| metric | old | new | new / old |")
print("| --- | --- | --- | --- |")
for m in sorted({k[1] for k in v}):
    o = statistics.median(v[("old", m)]) if v[("old", m)] else None
    n = statistics.median(v[("new", m)]) if v[("new", m)] else None
    ratio = f"{n / o:.2f}" if o and n is not None else "—"
    print(f"| {m} | {o} | {n} | {ratio} |")
EOF
