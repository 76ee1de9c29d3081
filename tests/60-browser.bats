#!/usr/bin/env bats
# The demo page in a real browser: Debian's chromium driven by playwright-core.
load test_helper

setup_file() {
	# playwright-core from the npm registry, without its browser download;
	# no lock file is written.
	if [ ! -d "$BATS_TEST_DIRNAME/browser/node_modules/playwright-core" ]; then
		(cd "$BATS_TEST_DIRNAME/browser" &&
			npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error) \
			>"$BATS_FILE_TMPDIR/npm.log" 2>&1 || { cat "$BATS_FILE_TMPDIR/npm.log" >&3; return 1; }
	fi
}

@test "the demo page shows messages typed in it and published by sse-pub" {
	command -v chromium
	command -v node
	start_ssed
	shot=$TESTS/.out/demo-page.png
	mkdir -p "$(dirname "$shot")"
	run timeout 90 node "$TESTS/browser/demo.js" "$URL/" "$shot" "$SSE_PUB"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "from sse-pub | typed in the page" ]
	[ -s "$shot" ]
}
