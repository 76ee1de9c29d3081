#!/usr/bin/env bats
# ssed: Last-Event-ID resume, gaps, history.
load test_helper

publish_n() {  # publish_n TOPIC FROM TO - data FROM..TO; prints the ids
	local i
	for ((i = $2; i <= $3; i++)); do
		curl -sf -d "$i" "$URL/events/$1"
	done
}

@test "resume with Last-Event-ID replays what came after, then goes live: no gap, no duplicate" {
	start_ssed
	mapfile -t ids < <(publish_n r 1 5)
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/r -H "Last-Event-ID: ${ids[1]}"
	wait_for grep -q '^data: 5$' "$out"
	publish_n r 6 7 >/dev/null
	wait_for grep -q '^data: 7$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "3,4,5,6,7," ]
	not grep -q ssed-gap "$out"
	metric_is ssed_gaps_total 0
}

@test "resume works with the last_event_id and lastEventId query parameters" {
	start_ssed
	mapfile -t ids < <(publish_n q 1 3)
	run curl -sN --max-time 1 "$URL/events/q?last_event_id=${ids[0]}"
	[ "$(printf '%s\n' "${lines[@]}" | sed -n 's/^data: //p' | tr '\n' ,)" = "2,3," ]
	run curl -sN --max-time 1 "$URL/events/q?lastEventId=${ids[1]}"
	[ "$(printf '%s\n' "${lines[@]}" | sed -n 's/^data: //p' | tr '\n' ,)" = "3," ]
}

@test "resume from the newest id replays nothing and is not a gap" {
	start_ssed
	mapfile -t ids < <(publish_n n 1 3)
	run curl -sN --max-time 1 -H "Last-Event-ID: ${ids[2]}" "$URL/events/n"
	[ "$output" = ": ssed" ]
}

@test "resume by a publisher's own id works while it is retained" {
	start_ssed
	curl -sf -d one "$URL/events/c?id=alpha" >/dev/null
	curl -sf -d two "$URL/events/c?id=beta" >/dev/null
	curl -sf -d three "$URL/events/c" >/dev/null
	run curl -sN --max-time 1 -H 'Last-Event-ID: alpha' "$URL/events/c"
	[ "$(printf '%s\n' "${lines[@]}" | sed -n 's/^data: //p' | tr '\n' ,)" = "two,three," ]
}

@test "an id older than the history is a gap: an ssed-gap event, then what is retained" {
	start_ssed --history 3
	mapfile -t ids < <(publish_n g 1 10)
	run curl -sN --max-time 1 -H "Last-Event-ID: ${ids[0]}" "$URL/events/g"
	[ "${lines[1]}" = "event: ssed-gap" ]
	[ "${lines[2]}" = "data: ${ids[0]}" ]
	[ "$(printf '%s\n' "${lines[@]}" | sed -n 's/^data: //p' | tail -n +2 | tr '\n' ,)" = "8,9,10," ]
	metric_is ssed_gaps_total 1
}

@test "an unknown id is a gap too" {
	start_ssed
	publish_n u 1 2 >/dev/null
	run curl -sN --max-time 1 -H 'Last-Event-ID: no-such-id' "$URL/events/u"
	[ "${lines[1]}" = "event: ssed-gap" ]
	[ "$(printf '%s\n' "${lines[@]}" | sed -n 's/^data: //p' | tail -n +2 | tr '\n' ,)" = "1,2," ]
}

@test "an id from before a restart is a gap on the new ssed" {
	start_ssed
	port=$PORT
	old=$(curl -sf -d before "$URL/events/x")
	kill "$SSED_PID"; wait "$SSED_PID" || true
	start_ssed_on "$port"
	curl -sf -d after "$URL/events/x" >/dev/null
	run curl -sN --max-time 1 -H "Last-Event-ID: $old" "$URL/events/x"
	[ "${lines[1]}" = "event: ssed-gap" ]
	[[ "$output" == *"data: after"* ]]
}

@test "--history 0 replays nothing but still delivers live" {
	start_ssed --history 0
	id=$(curl -sf -d old "$URL/events/h")
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/h -H "Last-Event-ID: $id"
	curl -sf -d new "$URL/events/h" >/dev/null
	wait_for grep -q '^data: new$' "$out"
	! grep -q '^data: old$' "$out"
}

@test "a new subscriber without Last-Event-ID starts at the newest event" {
	start_ssed
	publish_n s 1 3 >/dev/null
	out=$BATS_TEST_TMPDIR/out
	subscribe "$out" /events/s
	publish_n s 4 4 >/dev/null
	wait_for grep -q '^data: 4$' "$out"
	[ "$(data_lines "$out" | tr '\n' ,)" = "4," ]
}

@test "resume on several topics merges by id with no duplicate" {
	start_ssed
	a1=$(curl -sf -d a1 "$URL/events/a")
	curl -sf -d b1 "$URL/events/b" >/dev/null
	curl -sf -d a2 "$URL/events/a" >/dev/null
	run curl -sN --max-time 1 -H "Last-Event-ID: $a1" "$URL/events?topic=a&topic=b"
	[ "$(printf '%s\n' "${lines[@]}" | sed -n 's/^data: //p' | tr '\n' ,)" = "b1,a2," ]
}

@test "a Last-Event-ID over 256 bytes is 400" {
	start_ssed
	run curl -s -o /dev/null -w '%{http_code}' -H "Last-Event-ID: $(printf 'x%.0s' {1..300})" "$URL/events"
	[ "$output" = 400 ]
}
