#!/usr/bin/env bats
# ssed: history on request (?since=, ?poll=1) and the topic list (/topics).
load test_helper

# pub TOPIC DATA - publish one event; its id to stdout.
pub() { curl -sf -d "$2" "$URL/events/$1"; }

# poll PATH [CURL ARGS...] - a stream that must end by itself.
poll() {
	local path=$1
	shift
	curl -sS --max-time 10 "$@" "$URL$path"
}

@test "?since=all&poll=1 sends every retained event, in order, and ends the stream" {
	start_ssed
	a1=$(pub a one); a2=$(pub a two); a3=$(pub a three)
	run poll '/events/a?since=all&poll=1'
	[ "$status" -eq 0 ]   # ended by ssed, not by --max-time
	[ "$output" = "$(printf ': ssed\nid: %s\ndata: one\n\nid: %s\ndata: two\n\nid: %s\ndata: three\n' "$a1" "$a2" "$a3")" ]
	# poll alone is since=all
	run poll '/events/a?poll=1'
	[ "$status" -eq 0 ]
	[ "$(grep -c '^data:' <<<"$output")" -eq 3 ]
	# Nothing retained: the opening comment, then the end.
	run poll '/events/empty?poll=1'
	[ "$status" -eq 0 ]
	[ "$output" = ": ssed" ]
}

@test "?since=all replays what is retained (capped by --history), then follows" {
	start_ssed --history 3
	for i in 1 2 3 4 5; do pub h "e$i" >/dev/null; done
	subscribe "$BATS_TEST_TMPDIR/s" '/events/h?since=all'
	wait_for grep -q '^data: e5' "$BATS_TEST_TMPDIR/s"
	pub h live >/dev/null
	wait_for grep -q '^data: live' "$BATS_TEST_TMPDIR/s"
	[ "$(data_lines "$BATS_TEST_TMPDIR/s" | tr '\n' ' ')" = "e3 e4 e5 live " ]
	! grep -q ssed-gap "$BATS_TEST_TMPDIR/s"
}

@test "?since=N: the N newest events; across merged topics, the N newest of all in id order" {
	start_ssed
	pub a a1 >/dev/null; pub b b1 >/dev/null; pub a a2 >/dev/null; pub b b2 >/dev/null; pub a a3 >/dev/null
	run poll '/events/a?since=2&poll=1'
	[ "$(data_lines <(echo "$output") | tr '\n' ' ')" = "a2 a3 " ]
	run poll '/events?topic=a&topic=b&since=3&poll=1'
	[ "$(data_lines <(echo "$output") | tr '\n' ' ')" = "a2 b2 a3 " ]
	run poll '/events?topic=a&topic=b&since=all&poll=1'
	[ "$(data_lines <(echo "$output") | tr '\n' ' ')" = "a1 b1 a2 b2 a3 " ]
	run poll '/events/a?since=0&poll=1'
	[ "$output" = ": ssed" ]
	run poll '/events/a?since=99999999999999999999&poll=1'
	[ "$(grep -c '^data:' <<<"$output")" -eq 3 ]
}

@test "?since=DURATION: only the events published that long ago or later" {
	start_ssed
	pub d old1 >/dev/null; pub d old2 >/dev/null
	sleep 2.2   # the old events age past 2 s
	pub d new >/dev/null
	run poll '/events/d?since=2s&poll=1'
	[ "$(data_lines <(echo "$output") | tr '\n' ' ')" = "new " ]
	run poll '/events/d?since=1m&poll=1'
	[ "$(data_lines <(echo "$output") | tr '\n' ' ')" = "old1 old2 new " ]
	run poll '/events/d?since=1h&poll=1'
	[ "$(grep -c '^data:' <<<"$output")" -eq 3 ]
}

@test "?since=ID resumes after that id like Last-Event-ID; an id not retained opens with ssed-gap" {
	start_ssed --history 1
	a1=$(pub i one); a2=$(pub i two); a3=$(pub i three)
	run poll "/events/i?since=id:$a2&poll=1"
	[ "$output" = "$(printf ': ssed\nid: %s\ndata: three\n' "$a3")" ]
	# two, after a1, fell out of the history: the gap is said, then what is retained.
	run poll "/events/i?since=id:$a1&poll=1"
	[ "$output" = "$(printf ': ssed\nevent: ssed-gap\ndata: %s\n\nid: %s\ndata: three\n' "$a1" "$a3")" ]
	run poll "/events/i?since=id:nosuchid&poll=1"
	[ "$output" = "$(printf ': ssed\nevent: ssed-gap\ndata: nosuchid\n\nid: %s\ndata: three\n' "$a3")" ]
	# An id that is not a number needs no id: prefix.
	curl -sf -d x "$URL/events/j?id=first" >/dev/null
	curl -sf -d y "$URL/events/j?id=second" >/dev/null
	run poll '/events/j?since=first&poll=1'
	[ "$output" = "$(printf ': ssed\nid: second\ndata: y\n')" ]
	# The client's own Last-Event-ID wins (a reconnecting EventSource).
	run poll '/events/i?since=all&poll=1' -H "Last-Event-ID: $a2"
	[ "$output" = "$(printf ': ssed\nid: %s\ndata: three\n' "$a3")" ]
}

@test "?since= and ?poll= refuse what they cannot read (400)" {
	start_ssed
	for q in 'since=' 'since=id:' 'since=%0a' 'since=a%0db' 'poll=2' 'poll=yes'; do
		run curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/events/a?$q"
		[ "$output" = 400 ] || { echo "$q: $output"; false; }
	done
	run curl -s --max-time 5 "$URL/events/a?since=id:"
	[ "$output" = "bad since: all, N, DURATION (90s, 10m, 1h, 2d), or an id" ]
}

@test "a poll ends after what was retained, even while events keep coming" {
	start_ssed
	for i in $(seq 1 200); do echo "data: e$i"; echo; done >"$BATS_TEST_TMPDIR/in"
	curl -sf -H 'Content-Type: text/event-stream' --data-binary @"$BATS_TEST_TMPDIR/in" "$URL/events/busy" >/dev/null
	bg sh -c "while :; do curl -s -d more '$URL/events/busy' >/dev/null; done"
	run poll '/events/busy?since=all&poll=1'
	[ "$status" -eq 0 ]
	[ "$(data_lines <(echo "$output") | head -200 | tail -1)" = e200 ]
	[ "$(grep -c '^data: e' <<<"$output")" -eq 200 ]
}

@test "GET /topics lists the topics by name with subscribers and retained events" {
	start_ssed
	pub beta x >/dev/null; pub beta y >/dev/null; pub alpha z >/dev/null
	subscribe "$BATS_TEST_TMPDIR/s" /events/gamma
	run curl -sf "$URL/topics"
	[ "$output" = "$(printf 'alpha 0 1\nbeta 0 2\ngamma 1 0')" ]
	run curl -sf "$URL/topics?format=json"
	[ "$output" = '{"topics":[{"name":"alpha","subscribers":0,"retained":1},{"name":"beta","subscribers":0,"retained":2},{"name":"gamma","subscribers":1,"retained":0}],"total":3}' ]
	run curl -sf "$URL/topics?prefix=b"
	[ "$output" = "beta 0 2" ]
	run curl -sf -D "$BATS_TEST_TMPDIR/h" "$URL/topics?limit=1"
	[ "$output" = "alpha 0 1" ]
	grep -qi '^X-Total-Count: 3' "$BATS_TEST_TMPDIR/h"
	for q in 'limit=0' 'limit=x' 'format=xml' 'prefix=a/b'; do
		run curl -s -o /dev/null -w '%{http_code}' "$URL/topics?$q"
		[ "$output" = 400 ] || { echo "$q: $output"; false; }
	done
	run curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/topics"
	[ "$output" = 405 ]
}

@test "GET /topics needs the subscribe token when one is set" {
	echo s3cret >"$BATS_TEST_TMPDIR/tok"
	start_ssed --subscribe-token-file "$BATS_TEST_TMPDIR/tok"
	pub t x >/dev/null
	run curl -s -o /dev/null -w '%{http_code}' "$URL/topics"
	[ "$output" = 401 ]
	run curl -sf -H 'Authorization: Bearer s3cret' "$URL/topics"
	[ "$output" = "t 0 1" ]
	run curl -sf "$URL/topics?access_token=s3cret"
	[ "$output" = "t 0 1" ]
}
