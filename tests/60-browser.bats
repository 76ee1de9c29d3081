#!/usr/bin/env bats
# The demo page in a real browser: Debian's chromium driven by playwright-core.
load test_helper

setup_file() { npm_deps playwright-core; }

@test "the demo page: topic, state, each event's time, type and id, a failed send, ssed-gap" {
	command -v chromium
	command -v node
	start_ssed --max-body 100 --history 2
	FIRST_ID=$(curl -sf -d old1 "$URL/events")
	curl -sf -d old2 "$URL/events" >/dev/null
	curl -sf -d old3 "$URL/events" >/dev/null
	curl -sf -d old4 "$URL/events" >/dev/null
	export FIRST_ID
	# The screenshot is kept with the test output.
	shot=$TESTS/.out/demo-page.png
	mkdir -p "$(dirname "$shot")"
	rm -f "$shot"
	run timeout 90 node "$TESTS/js/demo.js" "$URL/" "$shot" "$SSE_PUB"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "state connected to /events/default" ]
	[ "${lines[1]}" = "gap ssed-gap: events after id $FIRST_ID were missed (no longer held)" ]
	[ "${lines[2]}" = "event TIME|note|n-1|from sse-pub" ]
	[ "${lines[3]}" = "event TIME|message|NUM|typed in the page" ]
	[ "${lines[4]}" = "event TIME|message|NUM|old4" ]
	[ "${lines[5]}" = "event TIME|message|NUM|old3" ]
	[ "${lines[6]}" = "error send failed: HTTP 413: body too large (see --max-body)" ]
	[ "${lines[7]}" = "state connected to /events/other" ]
	[ -s "$shot" ]
}

@test "a browser on two topics gets typed events, survives an ssed restart, sees no duplicate" {
	command -v chromium
	start_ssed --retry 300
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
	curl -sf -d untyped "$URL/events/alpha" >/dev/null  # "message": no listener
	echo "expect 2 1" >&7
	wait_for grep -qx 'seen 2' "$out"
	kill "$SSED_PID"
	wait "$SSED_PID" || true
	start_ssed_on "$port" --retry 300
	# The browser comes back by itself.
	wait_for metric_is ssed_subscribers 1
	curl -sf -d a2 "$URL/events/alpha?event=add" >/dev/null
	curl -sf -d b2 "$URL/events/beta?event=remove" >/dev/null
	echo "expect 4 2" >&7
	wait_for grep -qx 'seen 4' "$out"
	echo done >&7
	exec 7>&-
	wait "$node_pid"
	cat "$out"
	[ "$(grep '^event ' "$out" | tr '\n' ,)" = "event add:a1,event remove:b1,event add:a2,event remove:b2," ]
	# Two connections; the new ssed could not place the old id and said so.
	grep -qx 'opens 2 gaps 1' "$out"
}
