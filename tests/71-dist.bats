#!/usr/bin/env bats
# dist/: the systemd units and their settings file.
load test_helper

DIST=$BATS_TEST_DIRNAME/../dist

# units DIR - copies of the units in DIR, ExecStart pointed at the ssed under
# test (systemd-analyze verify wants the program there and executable).
units() {
	mkdir -p "$1"
	cp "$DIST/ssed.socket" "$DIST/ssed.service" "$1"
	sed -i "s|^ExecStart=/usr/bin/ssed |ExecStart=$SSED |" "$1/ssed.service"
	grep -q "^ExecStart=$SSED " "$1/ssed.service"
}

@test "systemd-analyze verify finds nothing to say about ssed.socket and ssed.service" {
	command -v systemd-analyze
	units "$BATS_TEST_TMPDIR/u"
	# --man=no: the man pages are checked where they are installed (the package test).
	run systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/u/ssed.socket" "$BATS_TEST_TMPDIR/u/ssed.service"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "the verify check speaks up about a misspelt setting (so the test above can fail)" {
	units "$BATS_TEST_TMPDIR/u"
	sed -i 's/^ProtectSystem=strict/ProtectSytem=strict/' "$BATS_TEST_TMPDIR/u/ssed.service"
	run systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/u/ssed.service"
	[[ "$output" == *"Unknown key 'ProtectSytem'"* ]]
}

@test "ssed.service is hardened and sized as the deployment guide says" {
	f=$DIST/ssed.service
	for want in DynamicUser=yes ProtectSystem=strict ProtectHome=yes StateDirectory=ssed \
		NoNewPrivileges=yes PrivateTmp=yes PrivateDevices=yes CapabilityBoundingSet= \
		'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' SystemCallFilter=@system-service \
		EnvironmentFile=-/etc/default/ssed 'ExecStart=/usr/bin/ssed $SSED_OPTS' Requires=ssed.socket; do
		grep -qxF "$want" "$f" || { echo "missing: $want"; false; }
	done
	n=$(sed -n 's/^LimitNOFILE=//p' "$f")
	[ "$n" -ge 65536 ]
	grep -qx 'Accept=no' "$DIST/ssed.socket"
}

@test "the options in ssed.default are ones ssed takes" {
	# shellcheck disable=SC1091
	. "$DIST/ssed.default"
	[ -n "$SSED_OPTS" ]
	# shellcheck disable=SC2086
	start_ssed $SSED_OPTS
	run curl -sf "$URL/healthz"
	[ "$output" = ok ]
}
