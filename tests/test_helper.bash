# tests/test_helper.bash - shared set-up for the bats suites.
# Programs come from $SSED_BIN (the Makefile points it at bin/ or at the
# sanitizer build). Every ssed listens on 127.0.0.1 port 0; the port comes
# from its start-up line, so no test guesses a free port.

bats_require_minimum_version 1.5.0

# No test may hang a run: bats stops any test that takes longer.
: "${BATS_TEST_TIMEOUT:=120}"
export BATS_TEST_TIMEOUT

SSED_BIN=${SSED_BIN:-$BATS_TEST_DIRNAME/../bin}
SSED=$SSED_BIN/ssed
SSE_PUB=${SSE_PUB:-$SSED_BIN/sse-pub}
SSE_CAT=${SSE_CAT:-$SSED_BIN/sse-cat}
TESTS=$BATS_TEST_DIRNAME
PIDS=()

# wait_for CMD... - run CMD until it succeeds, up to WAIT_SECS (default 10)
# seconds, 0.02 s apart. Steps that open thousands of streams from Python
# set WAIT_SECS=60: the machines are shared, and a busy one is slow.
wait_for() {
	local i
	for ((i = 0; i < ${WAIT_SECS:-10} * 50; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.02
	done
	echo "wait_for: gave up on: $*" >&2
	return 1
}

# start_ssed [ARGS...] - start ssed; sets SSED_PID, PORT, URL and ERR.
start_ssed() {
	ERR=$BATS_TEST_TMPDIR/ssed.$RANDOM.err
	"$SSED" -l 127.0.0.1:0 "$@" 2>"$ERR" 3>&- &
	SSED_PID=$!
	PIDS+=("$SSED_PID")
	wait_for grep -q 'listening on' "$ERR" || { cat "$ERR" >&2; return 1; }
	PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$ERR" | head -1 | grep -o '[0-9]*$')
	URL=http://127.0.0.1:$PORT
}

# start_ssed_on PORT [ARGS...] - the same on a given port (restarts).
start_ssed_on() {
	local port=$1
	shift
	ERR=$BATS_TEST_TMPDIR/ssed.$RANDOM.err
	"$SSED" -l "127.0.0.1:$port" "$@" 2>"$ERR" 3>&- &
	SSED_PID=$!
	PIDS+=("$SSED_PID")
	wait_for grep -q 'listening on' "$ERR" || { cat "$ERR" >&2; return 1; }
	PORT=$port
	URL=http://127.0.0.1:$PORT
}

# bg CMD... - run CMD in the background, killed at teardown; sets BG_PID.
bg() {
	"$@" 3>&- &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# bg_in FILE CMD... - bg with standard input from FILE (a background job's
# stdin is /dev/null otherwise).
bg_in() {
	local file=$1
	shift
	"$@" <"$file" 3>&- &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# metric NAME - the value of one /metrics line.
metric() {
	curl -sf "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

# post_all URL BODY... - POST each BODY to URL in turn over one keep-alive
# connection, each once the one before is answered.
post_all() {
	local url=$1 b
	local -a args=()
	shift
	for b in "$@"; do
		[ ${#args[@]} -eq 0 ] || args+=(--next)
		args+=(-sf -o /dev/null --data-binary "$b" "$url")
	done
	curl "${args[@]}"
}

# not CMD... - succeed when CMD fails. A bare "! CMD" fails a bats test
# only as its last line: set -e ignores a negated command.
not() { ! "$@"; }

metric_is() { [ "$(metric "$1")" = "$2" ]; }
metric_ge() { local v; v=$(metric "$1"); [ -n "$v" ] && [ "$v" -ge "$2" ]; }

# subscribe FILE PATH [CURL ARGS...] - a curl subscriber writing to FILE;
# returns once ssed has sent the stream's opening comment.
subscribe() {
	local file=$1 path=$2
	shift 2
	: >"$file"
	bg curl -sN --max-time 30 "$@" "$URL$path" -o "$file"
	wait_for grep -q '^: ssed' "$file"
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}

# data_lines FILE - the data: lines of a stream, values only.
data_lines() {
	sed -n 's/^data: \{0,1\}//p' "$1"
}

# start_odd - the scripted stream server (tests/odd_server.py); sets ODD.
start_odd() {
	local f=$BATS_TEST_TMPDIR/odd.$RANDOM
	python3 "$TESTS/odd_server.py" >"$f" 3>&- &
	PIDS+=($!)
	wait_for grep -q '^port ' "$f"
	ODD=http://127.0.0.1:$(awk '{ print $2 }' "$f")
}

# npm_deps PACKAGE - make sure tests/js has its npm packages (playwright-core
# without its browser download, eventsource); no lock file is written.
npm_deps() {
	local js=$BATS_TEST_DIRNAME/js
	[ -d "$js/node_modules/$1" ] && return 0
	(cd "$js" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error) \
		>"$BATS_FILE_TMPDIR/npm.log" 2>&1 || { cat "$BATS_FILE_TMPDIR/npm.log" >&3; return 1; }
}
