#!/usr/bin/env bats
# sse-cat --since and --poll (ssed's ?since= and ?poll=1), and topic names
# completing from a running broker in an interactive bash.
load test_helper

pub() { curl -sf -d "$2" "$URL/events/$1"; }

@test "sse-cat --poll prints what the broker retains and exits 0" {
	start_ssed
	pub p one >/dev/null; pub p two >/dev/null; pub p three >/dev/null
	run timeout 10 "$SSE_CAT" --poll "$URL/events/p"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'one\ntwo\nthree')" ]
	run timeout 10 "$SSE_CAT" --poll "$URL/events/nothing"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "sse-cat --since N, DURATION, all, ID and over merged topics" {
	start_ssed
	a1=$(pub a a1); pub b b1 >/dev/null; pub a a2 >/dev/null; pub b b2 >/dev/null
	run timeout 10 "$SSE_CAT" --since 1 --poll "$URL/events/a"
	[ "$output" = a2 ]
	run timeout 10 "$SSE_CAT" --since 1h --poll "$URL/events/a"
	[ "$output" = "$(printf 'a1\na2')" ]
	run timeout 10 "$SSE_CAT" --since "id:$a1" --poll -o json "$URL/events/a"
	[[ "$output" == '{"id":"'*'","event":"message","data":"a2"}' ]]
	run timeout 10 "$SSE_CAT" --since 3 --poll "$URL/events?topic=a&topic=b"
	[ "$output" = "$(printf 'b1\na2\nb2')" ]
	# --since all, then live events: a follow, not a poll.
	out=$BATS_TEST_TMPDIR/follow
	bg sh -c 'exec timeout 20 "$0" -n 3 --since all "$1" >"$2"' "$SSE_CAT" "$URL/events/a" "$out"
	wait_for grep -q a2 "$out"
	pub a live >/dev/null
	wait "$BG_PID"
	[ "$(cat "$out")" = "$(printf 'a1\na2\nlive')" ]
}

@test "sse-cat --poll --state: each run prints only what came since the last" {
	start_ssed
	state=$BATS_TEST_TMPDIR/state
	pub c one >/dev/null; pub c two >/dev/null
	run timeout 10 "$SSE_CAT" --poll --state "$state" "$URL/events/c"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'one\ntwo')" ]
	pub c three >/dev/null
	run timeout 10 "$SSE_CAT" --poll --state "$state" "$URL/events/c"
	[ "$output" = three ]
	run timeout 10 "$SSE_CAT" --poll --state "$state" "$URL/events/c"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "sse-cat --since: an id the broker no longer holds is said on stderr" {
	start_ssed --history 1
	pub g one >/dev/null; pub g two >/dev/null
	run --separate-stderr timeout 10 "$SSE_CAT" --since id:gone --poll "$URL/events/g"
	[ "$status" -eq 0 ]
	[ "$output" = two ]
	[[ "$stderr" == *"events were missed"*"'gone'"* ]]
}

@test "sse-cat --since: a value that is none of all, N, DURATION or an id is a usage error" {
	run "$SSE_CAT" --since '' http://127.0.0.1:1/events/x
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == "sse-cat: error: --since: '' is not all, N, DURATION or an id" ]]
	run "$SSE_CAT" --since id: http://127.0.0.1:1/events/x
	[ "$status" -eq 1 ]
}

# pane - what the tmux pane shows now.
pane() { tmux -S "$TSOCK" capture-pane -p -t t; }
pane_has() { pane | grep -q -- "$1"; }

@test "bash completion: topic names from a running broker, in an interactive bash under tmux" {
	command -v tmux
	start_ssed
	pub alpha x >/dev/null; pub alps x >/dev/null; pub beta x >/dev/null
	TSOCK=$BATS_TEST_TMPDIR/tmux.sock
	rc=$BATS_TEST_TMPDIR/bashrc
	printf 'PS1="$ "\nsource %q\nsource %q\n' "$TESTS/../completions/sse-cat.bash" \
		"$TESTS/../completions/sse-pub.bash" >"$rc"
	tmux -S "$TSOCK" -f /dev/null new-session -d -s t -x 200 -y 40 \
		env -i HOME="$BATS_TEST_TMPDIR" TERM=xterm PATH="$PATH" bash --rcfile "$rc" -i
	PIDS+=("$(tmux -S "$TSOCK" display -p -t t '#{pid}')")
	wait_for pane_has '^\$'
	# Two TABs list every topic.
	tmux -S "$TSOCK" send-keys -t t "sse-cat $URL/events/" Tab Tab
	wait_for pane_has beta
	pane | grep -q alpha
	pane | grep -q alps
	# A unique prefix completes in place, with the space after it.
	tmux -S "$TSOCK" send-keys -t t C-u "sse-pub $URL/events/b" Tab
	tmux -S "$TSOCK" send-keys -t t "X"
	wait_for pane_has "sse-pub $URL/events/beta X$"
	# A broker that accepts and never answers costs a second, not the shell.
	python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$BATS_TEST_TMPDIR/mute" 3>&- &
	PIDS+=($!)
	wait_for grep -q . "$BATS_TEST_TMPDIR/mute"
	mute=$(cat "$BATS_TEST_TMPDIR/mute")
	tmux -S "$TSOCK" send-keys -t t C-u "sse-cat http://127.0.0.1:$mute/events/" Tab
	tmux -S "$TSOCK" send-keys -t t "zz"
	WAIT_SECS=4 wait_for pane_has "events/zz"
	tmux -S "$TSOCK" kill-server
}
