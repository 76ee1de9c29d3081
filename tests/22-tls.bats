#!/usr/bin/env bats
# sse-cat and sse-pub over https: -k and --cacert.
load test_helper

setup() {
	command -v openssl
	cert=$BATS_TEST_TMPDIR/cert.pem
	key=$BATS_TEST_TMPDIR/key.pem
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$key" -out "$cert" -days 2 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	f=$BATS_TEST_TMPDIR/tls.port
	python3 "$TESTS/odd_server.py" --tls "$cert" "$key" >"$f" 3>&- &
	PIDS+=($!)
	wait_for grep -q '^port ' "$f"
	TLS=https://127.0.0.1:$(awk '{ print $2 }' "$f")
}

@test "sse-cat: an unknown certificate is exit 2 naming the cause" {
	run "$SSE_CAT" --no-reconnect "$TLS/json"
	[ "$status" -eq 2 ]
	[[ "$output" == *"certificate"* ]]
}

@test "sse-cat -k and --cacert read the stream over https" {
	run "$SSE_CAT" -k --no-reconnect -n 1 "$TLS/json"
	[ "$status" -eq 0 ]
	[ "$output" = $'q"\\\x01\x1f\x7f\t' ]
	run "$SSE_CAT" --cacert "$cert" --no-reconnect -e t "$TLS/json"
	[ "$status" -eq 0 ]
	[ "$output" = $'a\nb' ]
}

@test "sse-pub: an unknown certificate is exit 2; -k and --cacert publish" {
	run "$SSE_PUB" "$TLS/events/x" hello
	[ "$status" -eq 2 ]
	[[ "$output" == *"certificate"* ]]
	run "$SSE_PUB" -k "$TLS/events/x" hello
	[ "$status" -eq 0 ]
	run sh -c "echo line | '$SSE_PUB' --cacert '$cert' '$TLS/events/x'"
	[ "$status" -eq 0 ]
}
