#!/usr/bin/env bats
# ssed --store: history and ids that survive a restart (SIGTERM, kill -9),
# retention on disk, damaged and foreign files, a full disk.
load test_helper

setup() {
	DB=$BATS_TEST_TMPDIR/events.db
}

publish_n() {  # publish_n TOPIC FROM TO - data FROM..TO; prints the ids
	local i
	for ((i = $2; i <= $3; i++)); do
		curl -sf -d "$i" "$URL/events/$1"
	done
}

# stop_ssed [SIGNAL] - stop the running ssed and wait for it.
stop_ssed() {
	kill "-${1:-TERM}" "$SSED_PID"
	wait "$SSED_PID" 2>/dev/null || true
}

# The data of a stream read with curl for a moment, one per line.
replay() {  # replay TOPIC LAST_ID
	curl -sN --max-time 1 -H "Last-Event-ID: $2" "$URL/events/$1" | sed -n 's/^data: //p'
}

# sql FILE STATEMENTS - run SQL on an SQLite file (Python's sqlite3 module).
sql() { python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.close()' "$1" "$2"; }

# lines_ge FILE N - FILE has N lines or more (for wait_for).
lines_ge() { [ "$(wc -l <"$1")" -ge "$2" ]; }
# test_data_ge FILE N - FILE has N data: lines or more.
test_data_ge() { [ "$(grep -c '^data: ' "$1")" -ge "$2" ]; }

# Increasing, without a duplicate: each number above the one before.
increasing() { awk 'NR > 1 && $1 + 0 <= prev + 0 { bad = 1 } { prev = $1 } END { exit bad }' "$1"; }

@test "--store: a SIGTERM restart keeps events and ids; a resume gets the rest, no gap, no duplicate" {
	start_ssed --store "$DB"
	mapfile -t ids < <(publish_n r 1 5)
	port=$PORT
	stop_ssed TERM
	start_ssed_on "$port" --store "$DB"
	[ "$(replay r "${ids[1]}" | tr '\n' ,)" = "3,4,5," ]
	run curl -sN --max-time 1 -H "Last-Event-ID: ${ids[4]}" "$URL/events/r"
	[ "$output" = ": ssed" ]
	new=$(curl -sf -d 6 "$URL/events/r")
	[ "$new" -gt "${ids[4]}" ]
	metric_is ssed_gaps_total 0
	metric_is ssed_retained_events 6
	metric_is ssed_store_events 6
	metric_ge ssed_store_size_bytes 4096
	metric_ge ssed_store_commit_seconds_count 1
	metric_is ssed_store_write_errors_total 0
	[ "$(metric 'ssed_store_up{backend="sqlite"}')" = 1 ]
}

@test "--store: without it, a restart forgets (the memory mode is unchanged)" {
	start_ssed
	mapfile -t ids < <(publish_n m 1 2)
	port=$PORT
	stop_ssed TERM
	start_ssed_on "$port"
	run curl -sN --max-time 1 -H "Last-Event-ID: ${ids[0]}" "$URL/events/m"
	[ "${lines[1]}" = "event: ssed-gap" ]
	! curl -sf "$URL/metrics" | grep -q ssed_store_
}

@test "--store: kill -9 in the middle of a burst loses no acknowledged event; sse-cat and curl resume" {
	start_ssed --store "$DB" --history 100000
	port=$PORT
	acked=$BATS_TEST_TMPDIR/acked
	: >"$acked"
	# One request per event; a line per acknowledged one: its id and data.
	bg bash -c 'for i in $(seq 1 100000); do id=$(curl -sf -d "$i" "$0/events/b") || exit 0; echo "$id $i" >>"$1"; done' "$URL" "$acked"
	pub=$BG_PID
	WAIT_SECS=30 wait_for lines_ge "$acked" 60
	kill -9 "$SSED_PID"
	wait "$SSED_PID" 2>/dev/null || true
	wait "$pub" 2>/dev/null || true
	start_ssed_on "$port" --store "$DB" --history 100000
	first=$(head -1 "$acked" | cut -d' ' -f1)
	last=$(tail -1 "$acked" | cut -d' ' -f2)
	# curl: everything after the first acknowledged event.
	replay b "$first" >"$BATS_TEST_TMPDIR/curl"
	increasing "$BATS_TEST_TMPDIR/curl"
	[ "$(head -1 "$BATS_TEST_TMPDIR/curl")" = 2 ]
	for d in $(cut -d' ' -f2 "$acked" | tail -n +2); do
		grep -qx "$d" "$BATS_TEST_TMPDIR/curl"
	done
	[ "$(tail -1 "$BATS_TEST_TMPDIR/curl")" -ge "$last" ]
	# The stored run is 1..K with nothing missing in between.
	[ "$(wc -l <"$BATS_TEST_TMPDIR/curl")" = "$(( $(tail -1 "$BATS_TEST_TMPDIR/curl") - 1 ))" ]
	# sse-cat from the same id, then a new event after the restart.
	n=$(wc -l <"$BATS_TEST_TMPDIR/curl")
	timeout 20 "$SSE_CAT" -n "$((n + 1))" --last-event-id "$first" "$URL/events/b" \
		>"$BATS_TEST_TMPDIR/cat" 3>&- &
	catpid=$!
	PIDS+=("$catpid")
	wait_for metric_is ssed_subscribers 1
	curl -sf -d after "$URL/events/b" >/dev/null
	wait "$catpid"
	diff <(cat "$BATS_TEST_TMPDIR/curl"; echo after) "$BATS_TEST_TMPDIR/cat"
	metric_is ssed_gaps_total 0
}

@test "--store: kill -9 in the middle of a streamed publish; a live sse-cat resumes across it without gap or duplicate" {
	start_ssed --store "$DB" --history 1000000 --history-bytes 256M
	port=$PORT
	out=$BATS_TEST_TMPDIR/cat.out
	"$SSE_CAT" -q "$URL/events/s" >"$out" 2>/dev/null 3>&- &
	PIDS+=($!)
	wait_for metric_is ssed_subscribers 1
	seq 1 2000000 >"$BATS_TEST_TMPDIR/seq"
	# The publisher gives up at once when the broker is gone (it would
	# otherwise retry, and publish the rest into the restarted one).
	bg_in "$BATS_TEST_TMPDIR/seq" "$SSE_PUB" -q --max-retries 1 "$URL/events/s"
	pub=$BG_PID
	WAIT_SECS=30 wait_for lines_ge "$out" 5000
	kill -9 "$SSED_PID"
	wait "$SSED_PID" 2>/dev/null || true
	wait "$pub" 2>/dev/null || true
	got=$(wc -l <"$out")
	[ "$got" -lt 2000000 ]
	start_ssed_on "$port" --store "$DB" --history 1000000 --history-bytes 256M
	stored=$(metric ssed_retained_events)
	[ "$stored" -ge "$got" ]
	# sse-cat reconnects by itself with its last id and gets the rest.
	WAIT_SECS=30 wait_for metric_is ssed_subscribers 1
	curl -sf -d after "$URL/events/s" >/dev/null
	WAIT_SECS=30 wait_for grep -qx after "$out"
	[ "$(wc -l <"$out")" = "$((stored + 1))" ]
	head -n "$stored" "$out" | cmp - <(seq 1 "$stored")
	metric_is ssed_gaps_total 0
}

@test "--store: retention holds after a restart with --history, --history-bytes and --history-age" {
	start_ssed --store "$DB" --history 100
	mapfile -t ids < <(publish_n h 1 100)
	port=$PORT
	stop_ssed TERM
	# The file keeps what the ring holds: --history, and 64 at least.
	start_ssed_on "$port" --store "$DB" --history 3
	metric_is ssed_store_events 64
	run curl -sN --max-time 1 -H "Last-Event-ID: ${ids[0]}" "$URL/events/h"
	[ "${lines[1]}" = "event: ssed-gap" ]
	[ "$(replay h "${ids[96]}" | tr '\n' ,)" = "98,99,100," ]
	stop_ssed TERM
	# Each event is 3 + 17 + 10 + 1 bytes on the wire: 70 bytes keep two.
	start_ssed_on "$port" --store "$DB" --history-bytes 70
	metric_is ssed_store_events 2
	[ "$(replay h "${ids[98]}" | tr '\n' ,)" = "100," ]
	stop_ssed TERM
	start_ssed_on "$port" --store "$DB" --history-age 1s
	WAIT_SECS=10 wait_for metric_is ssed_store_events 0
	metric_is ssed_retained_events 0
	stop_ssed TERM
	start_ssed_on "$port" --store "$DB"
	metric_is ssed_store_events 0
	new=$(curl -sf -d x "$URL/events/h")
	[ "$new" -gt "${ids[99]}" ]
}

@test "--store: a truncated file: ssed starts, keeps the intact events, says so in one line" {
	start_ssed --store "$DB" --history 5000
	body=$(head -c 200 /dev/zero | tr '\0' x)
	for i in $(seq 1 400); do printf 'data: %s %s\n\n' "$i" "$body"; done |
		curl -sf -H 'Content-Type: text/event-stream' --data-binary @- "$URL/events/t" >/dev/null
	port=$PORT
	stop_ssed TERM
	size=$(stat -c %s "$DB")
	truncate -s $((size * 3 / 4)) "$DB"
	start_ssed_on "$port" --store "$DB" --history 5000
	[ "$(grep -c 'warning: store' "$ERR")" = 1 ]
	grep -q 'damaged' "$ERR"
	kept=$(metric ssed_retained_events)
	[ "$kept" -gt 0 ]
	[ "$kept" -lt 400 ]
	curl -sN --max-time 1 "$URL/events/t?last_event_id=1" | sed -n 's/^data: \(.* x\)/\1/p' >"$BATS_TEST_TMPDIR/kept"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/kept")" = "$kept" ]
	not grep -qv " $body\$" "$BATS_TEST_TMPDIR/kept"
	cut -d' ' -f1 "$BATS_TEST_TMPDIR/kept" >"$BATS_TEST_TMPDIR/nums"
	increasing "$BATS_TEST_TMPDIR/nums"
	curl -sf -d more "$URL/events/t" >/dev/null
	metric_is ssed_retained_events $((kept + 1))
}

@test "--store: after a restart, a resume from the newest trimmed event is no gap (the one before it is)" {
	start_ssed --store "$DB" --history 100
	mapfile -t ids < <(publish_n f 1 200)
	port=$PORT
	# Running: from event 100 (trimmed, the newest gone) nothing is missed.
	[ "$(replay f "${ids[99]}" | head -1)" = 101 ]
	for how in TERM KILL; do
		stop_ssed "$how"
		start_ssed_on "$port" --store "$DB" --history 100
		run curl -sN --max-time 1 -H "Last-Event-ID: ${ids[99]}" "$URL/events/f"
		[[ "$output" != *"ssed-gap"* ]]
		[ "$(printf '%s\n' "$output" | sed -n 's/^data: //p' | head -1)" = 101 ]
		# From event 99, event 100 is gone: a gap, then 101.
		run curl -sN --max-time 1 -H "Last-Event-ID: ${ids[98]}" "$URL/events/f"
		[[ "$output" == *"event: ssed-gap"* ]]
	done
}

@test "--store: a topic forgotten while restoring keeps its gap (its stored floor does not hide it)" {
	start_ssed --store "$DB" --history 70
	mapfile -t a < <(publish_n a 1 80)
	publish_n b 1 1 >/dev/null
	publish_n c 1 1 >/dev/null
	publish_n a 81 81 >/dev/null
	port=$PORT
	stop_ssed TERM
	# At start the file keeps a's newest 70 (12 to 81; 11 is its newest
	# trimmed). With two topics at most, restoring c forgets a (12 to
	# 80), and 81 makes it anew: from 11, a gap, not a silent skip to 81.
	start_ssed_on "$port" --store "$DB" --history 70 --max-topics 2
	run curl -sN --max-time 1 -H "Last-Event-ID: ${a[10]}" "$URL/events/a"
	[[ "$output" == *"event: ssed-gap"* ]]
	[[ "$output" == *"data: 81"* ]]
}

@test "--store: a torn acknowledgement log: ssed starts, keeps what reads back, says so in one line" {
	start_ssed --store "$DB"
	mapfile -t ids < <(publish_n l 1 5)
	port=$PORT
	kill -9 "$SSED_PID"
	wait "$SSED_PID" 2>/dev/null || true
	# Every acknowledged event is in the log (it is cut back only past
	# 1 MiB or at a clean stop): cut its last record short.
	size=$(stat -c %s "$DB-log")
	[ "$size" -gt 16 ]
	truncate -s $((size - 3)) "$DB-log"
	start_ssed_on "$port" --store "$DB"
	[ "$(grep -c 'warning: store' "$ERR")" = 1 ]
	grep -q "dropped 0 damaged records and .* bytes at the end of $DB-log" "$ERR"
	[ "$(replay l "${ids[0]}" | head -3 | tr '\n' ,)" = "2,3,4," ]
	# The log is whole again: a clean restart says nothing.
	stop_ssed TERM
	[ "$(stat -c %s "$DB-log")" = 16 ]
	start_ssed_on "$port" --store "$DB"
	! grep -q 'warning' "$ERR"
}

@test "--store: flipped bytes: ssed starts, drops what fails its checksum, says so in one line" {
	start_ssed --store "$DB"
	ids=()
	for i in $(seq 1 20); do ids+=("$(curl -sf -d "event-$i-payload" "$URL/events/f")"); done
	port=$PORT
	stop_ssed TERM
	# Damage one event's data in place.
	off=$(grep -obUa 'event-7-payload' "$DB" | head -1 | cut -d: -f1)
	[ -n "$off" ]
	printf 'EVENT' | dd of="$DB" bs=1 seek="$off" conv=notrunc status=none
	start_ssed_on "$port" --store "$DB"
	[ "$(grep -c 'warning: store' "$ERR")" = 1 ]
	grep -q 'dropped 1 damaged event' "$ERR"
	metric_is ssed_retained_events 19
	run curl -sN --max-time 1 "$URL/events/f?last_event_id=1"
	[[ "$output" != *EVENT* ]]
	[[ "$output" == *event-6-payload* ]]
	[[ "$output" == *event-8-payload* ]]
	# Who saw event 5 missed the dropped event 7: a gap, then 6 and 8 on.
	run curl -sN --max-time 1 -H "Last-Event-ID: ${ids[4]}" "$URL/events/f"
	[[ "$output" == *"event: ssed-gap"* ]]
	[[ "$output" == *event-6-payload* ]]
	[[ "$output" != *event-5-payload* ]]
	# Who saw event 8 missed nothing.
	run curl -sN --max-time 1 -H "Last-Event-ID: ${ids[7]}" "$URL/events/f"
	[[ "$output" != *"ssed-gap"* ]]
	[[ "$output" == *event-9-payload* ]]
}

@test "--store: a file that is not ssed's, an unknown schema version, an unwritable path: refused, exit 1, untouched" {
	printf 'my notes\n' >"$DB"
	cp "$DB" "$DB.orig"
	run -1 "$SSED" -l 127.0.0.1:0 --store "$DB"
	[[ "$output" == *"ssed: error: store $DB: not an ssed store"* ]]
	[ "${#lines[@]}" = 1 ]
	cmp "$DB" "$DB.orig"
	[ ! -e "$DB-wal" ]

	other=$BATS_TEST_TMPDIR/other.db
	sql "$other" 'CREATE TABLE t(x); INSERT INTO t VALUES (1);'
	cp "$other" "$other.orig"
	run -1 "$SSED" -l 127.0.0.1:0 --store "$other"
	[[ "$output" == *"not an ssed store"* ]]
	cmp "$other" "$other.orig"

	start_ssed --store "$BATS_TEST_TMPDIR/v.db"
	stop_ssed TERM
	sql "$BATS_TEST_TMPDIR/v.db" 'PRAGMA user_version=99'
	cp "$BATS_TEST_TMPDIR/v.db" "$BATS_TEST_TMPDIR/v.orig"
	run -1 "$SSED" -l 127.0.0.1:0 --store "$BATS_TEST_TMPDIR/v.db"
	[[ "$output" == *"schema version 99"* ]]
	[ "${#lines[@]}" = 1 ]
	cmp "$BATS_TEST_TMPDIR/v.db" "$BATS_TEST_TMPDIR/v.orig"

	run -1 "$SSED" -l 127.0.0.1:0 --store "$BATS_TEST_TMPDIR/no/such/dir/s.db"
	[[ "$output" == *"ssed: error: store"*"no/such/dir"* ]]
	[ "${#lines[@]}" = 1 ]
	run -1 "$SSED" -l 127.0.0.1:0 --store "$BATS_TEST_TMPDIR"
	[[ "$output" == *"Is a directory"* ]]
	run -1 "$SSED" --store-sync
	[[ "$output" == *"--store-sync needs --store"* ]]
}

@test "--store: a second ssed on the same store is refused while the first runs" {
	start_ssed --store "$DB"
	run -1 "$SSED" -l 127.0.0.1:0 --store "$DB"
	[[ "$output" == *"in use by another process"* ]]
	curl -sf -d still "$URL/events/x" >/dev/null
}

@test "--store: a full disk: 507 with a reason, nothing unstored acknowledged or delivered, then room again" {
	SSED_TEST_STORE_MAX_PAGES=6 start_ssed --store "$DB" --history-age 2s
	out=$BATS_TEST_TMPDIR/sub
	subscribe "$out" /events/d
	body=$(head -c 3000 /dev/zero | tr '\0' y)
	acked=0 code=200
	for i in $(seq 1 100); do
		code=$(curl -s -o "$BATS_TEST_TMPDIR/reply" -w '%{http_code}' -d "$i $body" "$URL/events/d")
		[ "$code" = 200 ] || break
		acked=$i
	done
	[ "$code" = 507 ]
	[ "$(cat "$BATS_TEST_TMPDIR/reply")" = "no room to store the event" ]
	# The file takes about 7 of these events. A fill comes 20 ms after the
	# oldest event it waits for, also while publishes keep coming (not at
	# the writer's next look at the age limit, up to a second later).
	[ "$acked" -ge 1 ]
	[ "$acked" -lt 50 ]
	metric_ge ssed_store_write_errors_total 1
	[ "$(metric 'ssed_store_up{backend="sqlite"}')" = 0 ]
	# The subscriber got exactly the acknowledged events.
	wait_for test_data_ge "$out" "$acked"
	[ "$(sed -n 's/^data: \([0-9]*\) .*/\1/p' "$out" | tr '\n' ,)" = "$(seq -s, 1 "$acked"),"  ]
	metric_is ssed_events_published_total "$acked"
	# The events expire, their pages are free again: publishing works.
	# The first to get through may still wait for room in the file
	# (older events expire one by one), so up follows within seconds.
	WAIT_SECS=15 wait_for curl -sf -o /dev/null -d "again $body" "$URL/events/d"
	WAIT_SECS=15 wait_for metric_is 'ssed_store_up{backend="sqlite"}' 1
	wait_for grep -q '^data: again' "$out"
	! grep -q "^data: $((acked + 1)) " "$out"
}

@test "--store-sync: events survive a restart the same way" {
	start_ssed --store "$DB" --store-sync
	mapfile -t ids < <(publish_n y 1 3)
	port=$PORT
	kill -9 "$SSED_PID"
	wait "$SSED_PID" 2>/dev/null || true
	start_ssed_on "$port" --store "$DB" --store-sync
	[ "$(replay y "${ids[0]}" | tr '\n' ,)" = "2,3," ]
}

@test "--store: a browser resumes across a kill -9 restart with no ssed-gap and no event twice" {
	command -v chromium
	command -v node
	npm_deps playwright-core
	start_ssed --store "$DB" --retry 300
	port=$PORT
	in=$BATS_TEST_TMPDIR/in
	out=$BATS_TEST_TMPDIR/out
	mkfifo "$in"
	timeout 90 node "$TESTS/js/restart.js" "$URL/" <"$in" >"$out" 2>&1 3>&- &
	node_pid=$!
	PIDS+=("$node_pid")
	exec 7>"$in"
	wait_for grep -qx ready "$out"
	curl -sf -d a1 "$URL/events/alpha?event=add" >/dev/null
	curl -sf -d b1 "$URL/events/beta?event=remove" >/dev/null
	echo "expect 2 1" >&7
	wait_for grep -qx 'seen 2' "$out"
	kill -9 "$SSED_PID"
	wait "$SSED_PID" || true
	start_ssed_on "$port" --store "$DB" --retry 300
	# Published before or after the browser is back: seen once either way.
	curl -sf -d a2 "$URL/events/alpha?event=add" >/dev/null
	wait_for metric_is ssed_subscribers 1
	curl -sf -d b2 "$URL/events/beta?event=remove" >/dev/null
	echo "expect 4 2" >&7
	wait_for grep -qx 'seen 4' "$out"
	echo done >&7
	exec 7>&-
	wait "$node_pid"
	cat "$out"
	[ "$(grep '^event ' "$out" | tr '\n' ,)" = "event add:a1,event remove:b1,event add:a2,event remove:b2," ]
	grep -qx 'opens 2 gaps 0' "$out"
	metric_is ssed_gaps_total 0
}

@test "--store and --redis together are a usage error, and nothing is written" {
	run "$SSED" -l 127.0.0.1:0 --store "$DB" --redis redis://127.0.0.1:1
	[ "$status" -eq 1 ]
	[[ "$output" == *"--store and --redis"* ]]
	[ ! -e "$DB" ]
}

# ---- numbered publishers (Ssed-Publisher): nothing published twice

# pub_stream KEY FIRST TOPIC EVENTS... - one streamed upload of the events'
# data, numbered from FIRST for KEY; prints ssed's reply (the count).
pub_stream() {
	local key=$1 first=$2 topic=$3 d
	shift 3
	for d in "$@"; do printf 'data: %s\n\n' "$d"; done |
		curl -sf -H 'Content-Type: text/event-stream' -H "Ssed-Publisher: $key $first" \
			--data-binary @- "$URL/events/$topic"
}

@test "Ssed-Publisher: an event sent again under its number is published once (one POST, an upload, bad headers)" {
	start_ssed
	id=$(curl -sf -H 'Ssed-Publisher: k1 1' -d a "$URL/events/p")
	[[ "$id" =~ ^[0-9]+$ ]]
	# The same number again: 200, no id, nothing published.
	[ "$(curl -sf -H 'Ssed-Publisher: k1 1' -d a "$URL/events/p")" = "" ]
	# An upload from 1: the first was published already, the rest are new.
	[ "$(pub_stream k1 1 p a b c)" = 3 ]
	# Another key numbers on its own.
	[ "$(pub_stream k-2.x_y 1 p z)" = 1 ]
	metric_is ssed_events_published_total 4
	metric_is ssed_events_repeated_total 2
	[ "$(curl -sN --max-time 1 "$URL/events/p?since=all" | sed -n 's/^data: //p' | tr '\n' ,)" = "a,b,c,z," ]
	for h in 'k1' 'k1 0' 'k1 x' 'k/1 1' ' 1' 'k1 1 2' "$(printf 'k%.0s' $(seq 1 65)) 1"; do
		run curl -s -o /dev/null -w '%{http_code}' -H "Ssed-Publisher: $h" -d no "$URL/events/p"
		[ "$output" = 400 ] || { echo "header '$h': $output"; false; }
	done
	[ "$(curl -s -H 'Ssed-Publisher: k1' -d no "$URL/events/p")" = "bad Ssed-Publisher header: KEY N, KEY 1 to 64 letters, digits, '-', '_' or '.', N a number from 1" ]
	metric_is ssed_events_published_total 4
}

@test "--store: a publisher's numbers survive kill -9; events sent again after it are not stored twice" {
	start_ssed --store "$DB"
	port=$PORT
	[ "$(pub_stream k 1 s e1 e2 e3)" = 3 ]
	[ "$(curl -sf -H 'Ssed-Publisher: k 4' -d e4 "$URL/events/s")" != "" ]
	stop_ssed KILL
	start_ssed_on "$port" --store "$DB"
	# The whole run again, and one more: only e5 is new.
	[ "$(pub_stream k 1 s e1 e2 e3 e4 e5)" = 5 ]
	[ "$(curl -sf -H 'Ssed-Publisher: k 2' -d e2 "$URL/events/s")" = "" ]
	metric_is ssed_events_repeated_total 5
	[ "$(curl -sN --max-time 1 "$URL/events/s?since=all" | sed -n 's/^data: //p' | tr '\n' ,)" = "e1,e2,e3,e4,e5," ]
	metric_is ssed_store_events 5
}

@test "--store: seq | sse-pub across a kill -9 of ssed publishes every line exactly once" {
	start_ssed --store "$DB" --history 1000000 --history-bytes 256M
	port=$PORT
	out=$BATS_TEST_TMPDIR/cat.out
	"$SSE_CAT" -q "$URL/events/once" >"$out" 2>/dev/null 3>&- &
	PIDS+=($!)
	wait_for metric_is ssed_subscribers 1
	seq 1 200000 >"$BATS_TEST_TMPDIR/seq"
	errf=$BATS_TEST_TMPDIR/pub.err
	"$SSE_PUB" -v "$URL/events/once" <"$BATS_TEST_TMPDIR/seq" 2>"$errf" 3>&- &
	pub=$!
	PIDS+=("$pub")
	WAIT_SECS=30 wait_for lines_ge "$out" 5000
	kill -9 "$SSED_PID"
	wait "$SSED_PID" 2>/dev/null || true
	start_ssed_on "$port" --store "$DB" --history 1000000 --history-bytes 256M
	rc=0
	wait "$pub" || rc=$?
	cat "$errf"
	[ "$rc" -eq 0 ]
	grep -qx 'sse-pub: published 200000 event(s)' "$errf"
	WAIT_SECS=60 wait_for lines_ge "$out" 200000
	echo "# sent again and not published twice: $(metric ssed_events_repeated_total)" >&3
	cmp "$out" "$BATS_TEST_TMPDIR/seq"
	metric_is ssed_gaps_total 0
}
