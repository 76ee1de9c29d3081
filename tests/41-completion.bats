#!/usr/bin/env bats
# bash completion of sse-cat and sse-pub in a real interactive bash, driven
# through tmux: what the line shows after TAB, not what COMPREPLY holds.
load test_helper

setup() {
	command -v tmux
	TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	rc=$BATS_TEST_TMPDIR/bashrc
	printf '%s\n' "PS1='$ '" "bind 'set show-all-if-ambiguous on'" \
		"source '$TESTS/../completions/sse-cat.bash'" \
		"source '$TESTS/../completions/sse-pub.bash'" "cd '$BATS_TEST_TMPDIR'" >"$rc"
	mkdir -p "$BATS_TEST_TMPDIR/sub dir/inner"
	touch "$BATS_TEST_TMPDIR/sub dir/inner/token.txt" "$BATS_TEST_TMPDIR/state.id"
	tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 200 -y 20 \
		"env -i HOME='$BATS_TEST_TMPDIR' TERM=xterm PATH=/usr/bin:/bin bash --noprofile --rcfile '$rc' -i"
	wait_for prompt_is ''
}

teardown() {
	tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true
}

# The text after the prompt on the cursor's line.
line() {
	local y
	y=$(tmux -S "$TMUX_SOCK" display-message -p '#{cursor_y}')
	tmux -S "$TMUX_SOCK" capture-pane -p | sed -n "$((y + 1))p" | sed 's/^\$ \{0,1\}//; s/ *$//'
}
prompt_is() { [ "$(line)" = "$1" ]; }

# complete TEXT EXPECTED - type TEXT, press TAB, expect the line to read EXPECTED.
complete_to() {
	tmux -S "$TMUX_SOCK" send-keys -l "$1"
	tmux -S "$TMUX_SOCK" send-keys Tab
	wait_for prompt_is "$2" || { echo "line: '$(line)', wanted '$2'"; return 1; }
	tmux -S "$TMUX_SOCK" send-keys C-u
	wait_for prompt_is ''
}

@test "bash, interactive: URLs with ':' complete" {
	complete_to 'sse-cat http://localhost:80' 'sse-cat http://localhost:8080/events/'
	complete_to 'sse-pub -e x http://local' 'sse-pub -e x http://localhost:8080/events/'
}

@test "bash, interactive: --opt=value completes" {
	complete_to 'sse-cat --format=js' 'sse-cat --format=json'
	complete_to 'sse-cat --sta' 'sse-cat --state'
	complete_to 'sse-cat --state=sta' 'sse-cat --state=state.id'
	complete_to 'sse-pub --fi' 'sse-pub --file'
}

@test "bash, interactive: path options walk into directories" {
	complete_to 'sse-cat --state su' 'sse-cat --state sub\ dir/'
	complete_to 'sse-cat --state sub\ dir/' 'sse-cat --state sub\ dir/inner/'
	complete_to 'sse-pub -f sub\ dir/inner/' 'sse-pub -f sub\ dir/inner/token.txt'
	complete_to 'sse-pub --cacert=sub\ dir/in' 'sse-pub --cacert=sub\ dir/inner/'
}
