#!/usr/bin/env bats
# Behind a proxy: the client address the proxy passes on (--trust-proxy),
# and Debian's nginx and caddy in front of ssed with TLS and HTTP/2
# (dist/nginx/ssed.conf, dist/caddy/Caddyfile).
load test_helper

@test "--trust-proxy: -v logs the address the trusted proxy put last in X-Forwarded-For" {
	start_ssed -v --trust-proxy 127.0.0.1
	curl -sf -H 'X-Forwarded-For: 203.0.113.9, 198.51.100.7' "$URL/healthz" >/dev/null
	wait_for grep -q 'GET /healthz from 198.51.100.7 via 127.0.0.1$' "$ERR"
	curl -sf "$URL/metrics" >/dev/null  # no header: the peer itself
	wait_for grep -q 'GET /metrics from 127.0.0.1$' "$ERR"
	# Not an address: a client's text never reaches the log.
	curl -sf -H 'X-Forwarded-For: 1.2.3.4, evil text here' "$URL/healthz?x" >/dev/null
	wait_for grep -q 'GET /healthz from ? via 127.0.0.1$' "$ERR"
	! grep -q evil "$ERR"
}

@test "--trust-proxy: from any other peer, or without the option, X-Forwarded-For is ignored" {
	start_ssed -v --trust-proxy ::1
	curl -sf -H 'X-Forwarded-For: 198.51.100.7' "$URL/healthz" >/dev/null
	wait_for grep -q 'GET /healthz from 127.0.0.1$' "$ERR"
	start_ssed -v
	curl -sf -H 'X-Forwarded-For: 198.51.100.7' "$URL/healthz" >/dev/null
	wait_for grep -q 'GET /healthz from 127.0.0.1$' "$ERR"
	! grep -q 198.51.100.7 "$ERR"
}

@test "--trust-proxy unix: a proxy on the Unix socket" {
	sock=$BATS_TEST_TMPDIR/s.sock
	start_ssed -v -u "$sock" --trust-proxy unix
	curl -sf --unix-socket "$sock" -H 'X-Forwarded-For: 2001:db8::7' http://x/healthz >/dev/null
	wait_for grep -q 'GET /healthz from 2001:db8::7 via unix$' "$ERR"
	curl -sf -H 'X-Forwarded-For: 198.51.100.7' "$URL/healthz" >/dev/null
	wait_for grep -q 'GET /healthz from 127.0.0.1$' "$ERR"
}

@test "--trust-proxy takes an address or 'unix', nothing else" {
	run "$SSED" --trust-proxy proxy.example
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "ssed: error: --trust-proxy: 'proxy.example' is not an IP address or 'unix'" ]
}
