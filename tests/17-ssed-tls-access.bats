#!/usr/bin/env bats
# HTTPS served by ssed itself (--tls-listen), and per-topic access with
# signed tokens (--jwt-key-file): certificates and tokens are made here.
load test_helper

# cert NAME [CN SAN] - a key and a self-signed certificate (for
# 127.0.0.1 unless told) in $D/NAME.pem and $D/NAME.key.
cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=${2:-127.0.0.1}" -addext "subjectAltName=${3:-IP:127.0.0.1}" \
		-keyout "$D/$1.key" -out "$D/$1.pem" 2>/dev/null
}

# spki NAME - what chromium's --ignore-certificate-errors-spki-list trusts.
spki() {
	openssl x509 -in "$D/$1.pem" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64
}

# The recipe of ssed(1) and access.h.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# hs256 SECRET_FILE PAYLOAD - an HS256 token.
hs256() {
	local h p s
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
	p=$(printf '%s' "$2" | b64url)
	s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC \
		-macopt key:"$(cat "$1")" -binary | b64url)
	echo "$h.$p.$s"
}

# rs256 PRIVATE_KEY PAYLOAD - an RS256 token.
rs256() {
	local h p s
	h=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
	p=$(printf '%s' "$2" | b64url)
	s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$1" -binary | b64url)
	echo "$h.$p.$s"
}

in_hour() { echo $(($(date +%s) + 3600)); }

setup() {
	D=$BATS_TEST_TMPDIR
	head -c 32 /dev/urandom | base64 >"$D/secret"
}

# start_tls [ARGS...] - ssed with a plain and an HTTPS listener (cert
# "srv"); sets URL (plain) and TLS (https).
start_tls() {
	start_ssed --tls-listen 127.0.0.1:0 --tls-cert "$D/srv.pem" --tls-key "$D/srv.key" "$@"
	TLS=$(grep -o 'https://127.0.0.1:[0-9]*' "$ERR" | head -1)
	[ -n "$TLS" ]
}

@test "HTTPS and HTTP side by side: curl, sse-cat and sse-pub with --cacert" {
	cert srv
	start_tls
	grep -q "listening on $URL" "$ERR"
	grep -q "listening on $TLS" "$ERR"
	[ "$(curl -sf --cacert "$D/srv.pem" "$TLS/healthz")" = ok ]
	[ "$(curl -sf "$URL/healthz")" = ok ]
	# A plain request to the HTTPS port is no HTTP exchange.
	run curl -s --max-time 5 "http://${TLS#https://}/healthz"
	[ "$output" != ok ]
	bg "$SSE_CAT" --cacert "$D/srv.pem" -n 3 -o json "$TLS/events/t"
	cat_pid=$BG_PID
	wait_for metric_is ssed_subscribers 1
	# Events from both listeners, one large enough for several TLS records.
	"$SSE_PUB" --cacert "$D/srv.pem" "$TLS/events/t" first
	big=$(head -c 60000 /dev/zero | tr '\0' x)
	"$SSE_PUB" "$URL/events/t" "$big"
	printf 'third\n' | "$SSE_PUB" --cacert "$D/srv.pem" "$TLS/events/t"
	wait "$cat_pid"
}

@test "HTTPS: a burst reaches a curl stream whole and in order" {
	cert srv
	start_tls
	out=$D/out
	bg curl -sN --cacert "$D/srv.pem" --max-time 30 "$TLS/events/b" -o "$out"
	wait_for grep -q '^: ssed' "$out"
	seq 1 3000 | sed 's/$/ abcdefghijklmnopqrstuvwxyz0123456789/' | "$SSE_PUB" "$URL/events/b"
	wait_for [ "$(grep -c '^data: ' "$out")" -eq 3000 ]
	[ "$(data_lines "$out" | cut -d' ' -f1 | tr '\n' ,)" = "$(seq 1 3000 | tr '\n' ,)" ]
}

# dechunk RAW BODY - write the chunked body RAW decoded to BODY; print the
# size of each chunk, one a line, the last chunk (0) included.
dechunk() {
	python3 - "$1" "$2" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
out = open(sys.argv[2], "wb")
i = 0
while i < len(b):
    j = b.index(b"\r\n", i)
    n = int(b[i:j], 16)
    print(n)
    if n == 0:
        break
    assert b[j + 2 + n:j + 4 + n] == b"\r\n", "chunk not followed by CRLF"
    out.write(b[j + 2:j + 2 + n])
    i = j + 4 + n
PY
}

@test "a stream that is behind gets up to 64 KiB a chunk over HTTP, one TLS record (16 KiB) over HTTPS" {
	cert srv
	start_tls
	body=$(head -c 999 /dev/zero | tr '\0' x)
	mapfile -t bodies < <(yes "$body" | head -200)
	post_all "$URL/events/r" "${bodies[@]}"
	curl -sf --raw --max-time 30 "$URL/events/r?since=all&poll=1" -o "$D/plain.raw"
	curl -sf --raw --max-time 30 --cacert "$D/srv.pem" "$TLS/events/r?since=all&poll=1" -o "$D/tls.raw"
	for f in plain tls; do
		dechunk "$D/$f.raw" "$D/$f.body" >"$D/$f.sizes"
		[ "$(tail -1 "$D/$f.sizes")" = 0 ]
		[ "$(grep -cx "data: $body" "$D/$f.body")" -eq 200 ]
	done
	# A chunk with its framing ("FFF4\r\n", "\r\n") is one 64 KiB write,
	# or over HTTPS one 16 KiB record.
	max_plain=$(sort -n "$D/plain.sizes" | tail -1)
	max_tls=$(sort -n "$D/tls.sizes" | tail -1)
	echo "plain $max_plain tls $max_tls"
	[ "$max_plain" -gt 16384 ]
	[ "$max_plain" -le $((65536 - 12)) ]
	[ "$max_tls" -le $((16384 - 12)) ]
}

@test "HTTPS: a drain ends an HTTPS stream cleanly, its last chunk inside TLS, beside a plain one" {
	cert srv
	start_tls --drain 1
	bg curl -sN --cacert "$D/srv.pem" --max-time 30 "$TLS/events/d" -o "$D/tls.out"
	tls_pid=$BG_PID
	bg curl -sN --max-time 30 "$URL/events/d" -o "$D/plain.out"
	plain_pid=$BG_PID
	wait_for metric_is ssed_subscribers 2
	"$SSE_PUB" "$URL/events/d" one
	wait_for grep -q '^data: one' "$D/tls.out"
	wait_for grep -q '^data: one' "$D/plain.out"
	kill -TERM "$SSED_PID"
	# curl exits 0 only when the chunked body ended with its last chunk
	# (a plain "0" outside TLS broke the session: "wrong version number").
	wait "$tls_pid"
	wait "$plain_pid"
}

@test "HTTPS: an unknown, a wrong and an expired certificate are refused by the clients" {
	cert srv
	cert other other.example DNS:other.example
	start_tls
	run "$SSE_CAT" --no-reconnect "$TLS/events/t"
	[ "$status" -eq 2 ]
	[[ "$output" == *certificate* ]]
	run curl -sf "$TLS/healthz"
	[ "$status" -eq 60 ]
	kill "$SSED_PID"
	wait "$SSED_PID" || true
	# A certificate for another name, trusted: the name does not match.
	cp "$D/other.pem" "$D/srv.pem"
	cp "$D/other.key" "$D/srv.key"
	start_tls
	run "$SSE_PUB" --cacert "$D/srv.pem" "$TLS/events/t" x
	[ "$status" -eq 2 ]
	run curl -sf --cacert "$D/srv.pem" "$TLS/healthz"
	[ "$status" -eq 60 ]
	kill "$SSED_PID"
	wait "$SSED_PID" || true
	# An expired one, trusted.
	mkdir "$D/ca"
	: >"$D/ca/index.txt"
	echo 01 >"$D/ca/serial"
	printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s\nserial=%s\nnew_certs_dir=%s\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\n[p]\ncommonName=supplied\n' \
		"$D/ca/index.txt" "$D/ca/serial" "$D/ca" >"$D/ca.cnf"
	openssl ecparam -name prime256v1 -genkey -noout -out "$D/srv.key"
	openssl req -new -key "$D/srv.key" -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-out "$D/csr.pem"
	openssl ca -batch -config "$D/ca.cnf" -selfsign -keyfile "$D/srv.key" -in "$D/csr.pem" \
		-out "$D/srv.pem" -startdate 20200101000000Z -enddate 20200102000000Z 2>/dev/null
	start_tls
	run "$SSE_CAT" --cacert "$D/srv.pem" --no-reconnect "$TLS/events/t"
	[ "$status" -eq 2 ]
	[[ "$output" == *certificate* ]]
	run curl -sSf --cacert "$D/srv.pem" "$TLS/healthz"
	[ "$status" -eq 60 ]
	[[ "$output" == *expired* ]]
}

@test "HTTPS: SIGHUP renews the certificate, the open stream goes on, a bad renewal keeps the old" {
	cert srv
	cert new
	start_tls
	out=$D/out
	bg curl -sN --cacert "$D/srv.pem" --max-time 30 "$TLS/events/r" -o "$out"
	wait_for grep -q '^: ssed' "$out"
	cp "$D/srv.pem" "$D/old.pem"
	cp "$D/new.pem" "$D/srv.pem"
	cp "$D/new.key" "$D/srv.key"
	kill -HUP "$SSED_PID"
	wait_for grep -q 'certificate reloaded' "$ERR"
	[ "$(curl -sf --cacert "$D/new.pem" "$TLS/healthz")" = ok ]
	run curl -sf --cacert "$D/old.pem" "$TLS/healthz"
	[ "$status" -eq 60 ]
	curl -sf -d after-renewal "$URL/events/r" >/dev/null
	wait_for grep -qx 'data: after-renewal' "$out"
	# A renewal that cannot be read: the certificate in use stays.
	rm "$D/srv.key"
	kill -HUP "$SSED_PID"
	wait_for grep -q 'keeping the old certificate: .*srv.key' "$ERR"
	[ "$(curl -sf --cacert "$D/new.pem" "$TLS/healthz")" = ok ]
	curl -sf -d still "$URL/events/r" >/dev/null
	wait_for grep -qx 'data: still' "$out"
	metric_is ssed_subscribers 1
}

@test "HTTPS: Node's eventsource with the test certificate trusted" {
	command -v node
	npm_deps eventsource
	cert srv
	start_tls
	out=$D/out
	NODE_EXTRA_CA_CERTS=$D/srv.pem timeout 60 node "$TESTS/js/node-es.mjs" "$TLS/events/n" 1 \
		>"$out" 2>&1 3>&- &
	PIDS+=($!)
	node_pid=$!
	wait_for grep -qx open "$out"
	id=$(curl -sf --cacert "$D/srv.pem" -d over-tls "$TLS/events/n")
	wait "$node_pid"
	[ "$(sed -n 2p "$out")" = "message \"over-tls\" $id" ]
}

@test "tokens: publish and subscribe by topic, wildcards, 401 and 403 naming the topics" {
	start_ssed --jwt-key-file "$D/secret" -u "$D/sock"
	hs256 "$D/secret" "{\"exp\":$(in_hour),\"ssed\":{\"publish\":[\"chat.*\"],\"subscribe\":[\"chat.*\",\"news\"]}}" >"$D/tok"
	tok=$(cat "$D/tok")
	# No token, a bad one, an expired one: 401 with WWW-Authenticate.
	run curl -s -o /dev/null -w '%{http_code}' "$URL/events/news"
	[ "$output" = 401 ]
	curl -s -D - -o /dev/null "$URL/events/news" | grep -qi '^WWW-Authenticate: Bearer'
	run curl -s -w ' %{http_code}' -H "Authorization: Bearer ${tok}x" -d x "$URL/events/chat.a"
	[[ "$output" == "invalid token"*" 401" ]]
	hs256 "$D/secret" "{\"exp\":$(($(date +%s) - 10)),\"ssed\":{\"subscribe\":[\"*\"]}}" >"$D/old"
	run "$SSE_CAT" --token-file "$D/old" --no-reconnect "$URL/events/news"
	[ "$status" -eq 2 ]
	[[ "$output" == *"HTTP 401: invalid token"*expired* ]]
	# Allowed: a wildcard for publishing and subscribing, a name.
	subscribe "$D/s1" "/events?topic=chat.room1&topic=news" -H "Authorization: Bearer $tok"
	"$SSE_PUB" --token-file "$D/tok" "$URL/events/chat.room1" hello
	wait_for grep -qx 'data: hello' "$D/s1"
	# Refused: 403 naming exactly the topics refused.
	run "$SSE_PUB" --token-file "$D/tok" "$URL/events/news" x
	[ "$status" -eq 2 ]
	[[ "$output" == "sse-pub: error: "*"HTTP 403: the token does not allow publishing to: news ("* ]]
	run "$SSE_CAT" --token-file "$D/tok" --no-reconnect "$URL/events?topic=news&topic=secret&topic=chat.x&topic=chatroom"
	[ "$status" -eq 2 ]
	[[ "$output" == "sse-cat: error: "*"HTTP 403: the token does not allow subscribing to: secret, chatroom" ]]
	run curl -s -w ' %{http_code}' -H "Authorization: Bearer $tok" "$URL/broadcast?msg=x"
	[ "$output" = $'the token does not allow publishing to: default\n 403' ]
	# Over a Unix socket, as before, no token is asked for.
	curl -sf --unix-socket "$D/sock" -d local http://localhost/events/chat.room1 >/dev/null
	wait_for grep -qx 'data: local' "$D/s1"
}

@test "tokens: GET /topics needs a token and lists only the topics it may read" {
	start_ssed --jwt-key-file "$D/secret" -u "$D/sock"
	for t in chat.a chat.b news secret; do
		curl -sf --unix-socket "$D/sock" -d x "http://localhost/events/$t" >/dev/null
	done
	hs256 "$D/secret" "{\"exp\":$(in_hour),\"ssed\":{\"subscribe\":[\"chat.*\"]}}" >"$D/tok"
	run curl -s -o /dev/null -w '%{http_code}' "$URL/topics"
	[ "$output" = 401 ]
	run curl -sf -H "Authorization: Bearer $(cat "$D/tok")" "$URL/topics"
	[ "$status" -eq 0 ]
	[ "$(cut -d' ' -f1 <<<"$output" | tr '\n' ,)" = "chat.a,chat.b," ]
	# Over the Unix socket, every topic.
	run curl -sf --unix-socket "$D/sock" http://localhost/topics
	[ "$(cut -d' ' -f1 <<<"$output" | tr '\n' ,)" = "chat.a,chat.b,news,secret," ]
}

@test "tokens: an RS256 token under a public key; the token files still let their holders in" {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$D/rsa.key" 2>/dev/null
	openssl pkey -in "$D/rsa.key" -pubout -out "$D/rsa.pub"
	echo "service-token-0123456789" >"$D/pub.tok"
	chmod 600 "$D/pub.tok"
	start_ssed --jwt-key-file "$D/rsa.pub" --publish-token-file "$D/pub.tok"
	tok=$(rs256 "$D/rsa.key" '{"ssed":{"subscribe":["a"]}}')
	subscribe "$D/s" /events/a -H "Authorization: Bearer $tok"
	# The shared publishing token publishes to any topic.
	curl -sf -H "Authorization: Bearer service-token-0123456789" -d via-file "$URL/events/a" >/dev/null
	wait_for grep -qx 'data: via-file' "$D/s"
	# An HS256 token signed with the public key's text is refused.
	hs=$(hs256 "$D/rsa.pub" '{"ssed":{"subscribe":["a"]}}')
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $hs" "$URL/events/a"
	[ "$output" = 401 ]
}

@test "tokens: a stream ends when its token expires, within 80 to 100 % of its time (over TLS)" {
	cert srv
	start_tls --jwt-key-file "$D/secret"
	# A long-lived token's stream beside it is not ended.
	long=$(hs256 "$D/secret" "{\"exp\":$(in_hour),\"ssed\":{\"subscribe\":[\"x\"]}}")
	subscribe "$D/long" /events/x -H "Authorization: Bearer $long"
	# exp is in whole seconds: 4 to 5 s from t0, however long the set-up
	# above took on a busy machine.
	t0=$(date +%s%N)
	exp=$(( t0 / 1000000000 + 5 ))
	tok=$(hs256 "$D/secret" "{\"exp\":$exp,\"ssed\":{\"subscribe\":[\"x\"]}}")
	run curl -sN --max-time 20 --cacert "$D/srv.pem" -H "Authorization: Bearer $tok" "$TLS/events/x"
	t1=$(date +%s%N)
	echo "status $status, output: $output"
	[ "$status" -eq 0 ]   # ended cleanly by the server, not by --max-time
	[ "$output" = ": ssed" ]
	left_ms=$(( exp * 1000 - t0 / 1000000 ))
	took_ms=$(( (t1 - t0) / 1000000 ))
	echo "left $left_ms took $took_ms"
	[ "$took_ms" -ge $(( left_ms * 8 / 10 - 200 )) ]
	[ "$took_ms" -le $(( left_ms + 500 )) ]
	metric_is ssed_subscribers 1
}

@test "tokens: SIGHUP loads a new key and ends the streams it no longer verifies" {
	start_ssed --jwt-key-file "$D/secret" -u "$D/sock"
	cp "$D/secret" "$D/old-secret"
	tok=$(hs256 "$D/secret" '{"ssed":{"subscribe":["k"]}}')
	out=$D/out
	bg curl -sN --max-time 30 -H "Authorization: Bearer $tok" "$URL/events/k" -o "$out"
	curl_pid=$BG_PID
	wait_for metric_is ssed_subscribers 1
	# The same key again: the stream still verifies and stays.
	kill -HUP "$SSED_PID"
	wait_for grep -q 'key reloaded' "$ERR"
	curl -sf --unix-socket "$D/sock" -d same-key http://localhost/events/k >/dev/null
	wait_for grep -qx 'data: same-key' "$out"
	# A renewal that cannot be used keeps the old key, and the stream.
	echo short >"$D/secret"
	kill -HUP "$SSED_PID"
	wait_for grep -q 'keeping the old --jwt-key-file key' "$ERR"
	metric_is ssed_subscribers 1
	head -c 32 /dev/urandom | base64 >"$D/secret"
	kill -HUP "$SSED_PID"
	rc=0
	wait "$curl_pid" || rc=$?
	[ "$rc" -eq 0 ]   # ended cleanly, not by --max-time
	wait_for metric_is ssed_subscribers 0
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$URL/events/k"
	[ "$output" = 401 ]
	new=$(hs256 "$D/secret" '{"ssed":{"subscribe":["k"]}}')
	subscribe "$D/s2" /events/k -H "Authorization: Bearer $new"
}

@test "tokens: a cookie authorises a stream; publishing by cookie needs the page's Origin" {
	start_ssed --jwt-key-file "$D/secret" --jwt-cookie app_tok
	tok=$(hs256 "$D/secret" '{"ssed":{"publish":["p"],"subscribe":["p"]}}')
	subscribe "$D/s" /events/p -H "Cookie: theme=dark; app_tok=$tok"
	run curl -s -w ' %{http_code}' -H "Cookie: app_tok=$tok" -d x "$URL/events/p"
	[ "$output" = $'publishing with a cookie needs the Origin of an allowed page\n 403' ]
	run curl -s -w ' %{http_code}' -H "Cookie: app_tok=$tok" -H "Origin: $URL" -d same-origin "$URL/events/p"
	[[ "$output" == *" 200" ]]
	wait_for grep -qx 'data: same-origin' "$D/s"
	# The default cookie name is not this ssed's.
	run curl -s -o /dev/null -w '%{http_code}' -H "Cookie: ssed_token=$tok" "$URL/events/p"
	[ "$output" = 401 ]
}

@test "tokens: a query token only with --jwt-query, and no token in any log line at -v" {
	start_ssed -v --jwt-key-file "$D/secret"
	tok=$(hs256 "$D/secret" '{"ssed":{"publish":["q"],"subscribe":["q"]}}')
	run curl -s -o /dev/null -w '%{http_code}' "$URL/events/q?access_token=$tok"
	[ "$output" = 401 ]
	kill "$SSED_PID"
	wait "$SSED_PID" || true
	cert srv
	start_tls -v --jwt-key-file "$D/secret" --jwt-query
	subscribe "$D/s" "/events/q?access_token=$tok"
	curl -sf --cacert "$D/srv.pem" -H "Authorization: Bearer $tok" -d one "$TLS/events/q?id=x1" >/dev/null
	wait_for grep -qx 'data: one' "$D/s"
	curl -s "$URL/events/q?access_token=${tok}x&other=1" >/dev/null
	curl -s -H "Cookie: ssed_token=${tok}" -H "Origin: https://evil.example" -d x "$URL/events/q" >/dev/null
	grep -q 'GET /events/q' "$ERR"
	sig=${tok##*.}
	# Both ssed's logs, the one without --jwt-query too.
	[ "$(ls "$BATS_TEST_TMPDIR"/ssed.*.err | wc -l)" -eq 2 ]
	! cat "$BATS_TEST_TMPDIR"/ssed.*.err | grep -F -e "$tok" -e "$sig" -e "${tok%%.*}"
}

@test "tokens: a Chromium page authorised by a cookie gets only its topics, over HTTPS" {
	command -v chromium
	command -v node
	npm_deps playwright-core
	cert srv
	echo "service-token-0123456789" >"$D/pub.tok"
	chmod 600 "$D/pub.tok"
	start_tls --jwt-key-file "$D/secret" --publish-token-file "$D/pub.tok"
	tok=$(hs256 "$D/secret" "{\"exp\":$(in_hour),\"ssed\":{\"subscribe\":[\"room.*\"]}}")
	run timeout 90 node "$TESTS/js/cookie.js" "$TLS" "$(spki srv)" ssed_token "$tok" \
		room.1 secret "$URL" service-token-0123456789
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'publish 200 200' <<<"$output"
	grep -qx 'open allowed' <<<"$output"
	grep -qx 'closed refused' <<<"$output"
	grep -qx 'closed merged' <<<"$output"
	grep -qx 'message allowed one' <<<"$output"
	not grep -q hidden <<<"$output"
	not grep -qx 'open refused' <<<"$output"
	! grep -qx 'open merged' <<<"$output"
}

@test "options: TLS and token files that cannot be used stop ssed at start with a reason" {
	cert srv
	run "$SSED" --tls-listen 127.0.0.1:0
	[ "$status" -eq 1 ]
	[[ "$output" == *"--tls-listen needs --tls-cert and --tls-key"* ]]
	run "$SSED" --tls-cert "$D/srv.pem" --tls-key "$D/srv.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"need --tls-listen"* ]]
	run "$SSED" --tls-listen 127.0.0.1:0 --tls-cert "$D/srv.pem" --tls-key "$D/missing.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"missing.key: No such file"* ]]
	run "$SSED" --jwt-key-file "$D/srv.pem"
	[ "$status" -eq 1 ]
	[[ "$output" == *"holds a certificate"* ]]
	not grep -q BEGIN <<<"$output"
	run "$SSED" --jwt-cookie 'a;b'
	[ "$status" -eq 1 ]
}
