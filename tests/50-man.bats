#!/usr/bin/env bats
# Man pages: lint clean, and every EXAMPLES command runs against a real ssed.
load test_helper

@test "man pages are clean under mandoc -T lint" {
	command -v mandoc
	for f in "$TESTS"/../man/*.[17]; do
		run mandoc -T lint "$f"
		[ -z "$output" ] || { echo "$output"; false; }
	done
}

@test "man pages are clean under groff -ww -z" {
	command -v groff
	for f in "$TESTS"/../man/*.[17]; do
		run groff -man -ww -z "$f"
		[ -z "$output" ] || { echo "$output"; false; }
	done
}

# The EXAMPLES blocks of a page, one file each, made runnable here:
# roff escapes undone, ports pointed at the test's brokers, listeners kept
# on loopback.
examples() {
	local page=$1 dir=$2
	awk -v dir="$dir" '
		/^\.SH EXAMPLES/ { on = 1; next }
		/^\.SH / { on = 0 }
		on && /^\.EX/ { n++; f = sprintf("%s/%02d.sh", dir, n); next }
		on && /^\.EE/ { close(f); f = ""; next }
		on && f { print > f }' "$page"
	sed -i -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" \
		-e "s/localhost:8080/127.0.0.1:$PORT/g" -e "s/localhost:9090/127.0.0.1:$PORT2/g" \
		-e 's/^ssed -l 0\.0\.0\.0:8080/ssed -l 127.0.0.1:0/' -e 's/^ssed &/ssed -l 127.0.0.1:0 \&/' \
		"$dir"/*.sh
}

@test "every EXAMPLES command of the man pages runs against a real ssed" {
	start_ssed
	start_ssed
	PORT2=$PORT
	start_ssed
	work=$BATS_TEST_TMPDIR/work
	mkdir -p "$work"
	printf 'line one\nline two\n' >"$work/app.log"
	printf 'a report\n' >"$work/report.txt"
	# Events keep coming on the topics the examples follow (bounded: 20 s).
	bg bash -c "for i in \$(seq 1 100); do
		curl -s -d tick '$URL/events/logs' >/dev/null
		curl -s -d tick '$URL/events/alerts' >/dev/null
		sleep 0.2; done"
	n=0
	for page in "$TESTS"/../man/*.1; do
		dir=$BATS_TEST_TMPDIR/ex.$(basename "$page")
		mkdir -p "$dir"
		examples "$page" "$dir"
		for ex in "$dir"/*.sh; do
			[ -f "$ex" ] || continue
			n=$((n + 1))
			# Its own process group, so that whatever it starts (a follower,
			# an ssed in the background) is stopped with it after 3 s.
			(cd "$work" && PATH=$SSED_BIN:$PATH exec setsid bash -e "$ex" >"$ex.out" 2>&1 3>&-) &
			pid=$!
			for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
			rc=0
			if kill -0 "$pid" 2>/dev/null; then
				rc=124  # a follower still following when time ran out
				kill -TERM -- -"$pid" 2>/dev/null || kill "$pid"
				wait "$pid" || true
			else
				wait "$pid" || rc=$?
				kill -TERM -- -"$pid" 2>/dev/null || true  # what it left running
			fi
			if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
				echo "$(basename "$page") example $(basename "$ex"): exit $rc"
				cat "$ex" "$ex.out"
				false
			fi
		done
	done
	[ "$n" -ge 8 ]
	# The examples really published: the broker counted their events.
	metric_ge ssed_events_published_total 3
}
