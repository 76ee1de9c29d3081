#!/usr/bin/env bats
# The Debian package: built with dpkg-buildpackage, checked by lintian,
# installed with dpkg -i on this machine, run, and removed leaving nothing.
# `make check-deb` runs this file; it installs a package, so it sits outside
# tests/*.bats, which `make check` runs.
load ../test_helper

BATS_TEST_TIMEOUT=300

setup_file() {
	local t0=$SECONDS
	export DEB_OUT=$BATS_FILE_TMPDIR/deb
	export DEB
	DEB=$("$BATS_TEST_DIRNAME/../../dist/build-deb.sh" "$DEB_OUT")
	echo "# dpkg-buildpackage: $((SECONDS - t0)) s" >&3
	# Someone's own ssed package is not ours to replace.
	if dpkg-query -W -f='${Status}' ssed 2>/dev/null | grep -q installed; then
		echo "# a package named ssed is installed already: remove it first" >&3
		return 1
	fi
}

teardown_file() {
	# Whatever a failed test left: purge it (a no-op when not installed).
	dpkg_wait -P ssed >/dev/null 2>&1 || true
}

# dpkg_wait ARGS... - dpkg, waiting (2 minutes at most) while another
# dpkg or apt holds the lock on this shared machine.
dpkg_wait() {
	local i out rc
	for ((i = 0; i < 120; i++)); do
		out=$(dpkg "$@" 2>&1)
		rc=$?
		if [ $rc -ne 0 ] && [[ "$out" == *"dpkg frontend lock"* || "$out" == *"lock was locked"* ||
			"$out" == *"status database area is locked"* ]]; then
			sleep 1
			continue
		fi
		echo "$out"
		return $rc
	done
	echo "dpkg_wait: the dpkg lock stayed busy for 2 minutes" >&2
	return 1
}

@test "the package holds the three programs, the man pages, the completions, the units and the settings" {
	run dpkg-deb -c "$DEB"
	for f in ./usr/bin/ssed ./usr/bin/sse-pub ./usr/bin/sse-cat \
		./usr/share/man/man1/ssed.1.gz ./usr/share/man/man1/sse-pub.1.gz ./usr/share/man/man1/sse-cat.1.gz \
		./usr/share/man/man7/ssed-deploy.7.gz \
		./usr/share/bash-completion/completions/ssed ./usr/share/zsh/vendor-completions/_ssed \
		./usr/share/fish/vendor_completions.d/ssed.fish \
		./lib/systemd/system/ssed.service ./lib/systemd/system/ssed.socket ./etc/default/ssed \
		./usr/share/doc/ssed/examples/ssed.conf ./usr/share/doc/ssed/examples/Caddyfile; do
		grep -q " $f\$" <<<"$output" || { echo "missing: $f"; false; }
	done
	run dpkg-deb -f "$DEB" Depends
	[[ "$output" == *libmicrohttpd* ]]
	[[ "$output" == *libcurl* ]]
	dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles | grep -qx /etc/default/ssed
}

@test "lintian finds no error and no warning (what remains is explained in debian/)" {
	command -v lintian
	run lintian --fail-on error,warning "$DEB_OUT"/ssed_*.changes
	echo "$output"
	[ "$status" -eq 0 ]
	! grep -E '^[EW]: ' <<<"$output"
}

@test "dpkg -i installs it; the installed ssed serves; dpkg -r and dpkg -P leave nothing behind" {
	run dpkg_wait -i "$DEB"
	echo "$output"
	[ "$status" -eq 0 ]
	files=$BATS_TEST_TMPDIR/files
	dpkg -L ssed >"$files"
	grep -qx /usr/bin/ssed "$files"

	# The installed programs, on a loopback port, stopped by PID.
	SSED=/usr/bin/ssed start_ssed
	run /usr/bin/ssed --version
	[[ "$output" == "ssed 0.1.0 "* ]]
	out=$BATS_TEST_TMPDIR/out
	bg sh -c '/usr/bin/sse-cat -n 1 "$0" >"$1"' "$URL/events/deb" "$out"
	wait_for metric_is ssed_subscribers 1
	/usr/bin/sse-pub "$URL/events/deb" from the package
	wait "$BG_PID"
	[ "$(cat "$out")" = "from the package" ]
	kill "$SSED_PID"
	wait "$SSED_PID"

	# The installed units verify, man pages included, and the pages are found.
	if command -v systemd-analyze >/dev/null; then
		run systemd-analyze verify /lib/systemd/system/ssed.socket /lib/systemd/system/ssed.service
		echo "$output"
		[ "$status" -eq 0 ] && [ -z "$output" ]
	fi
	man -w ssed-deploy >/dev/null
	man -w 1 ssed >/dev/null

	# Removed: only the conffile stays; purged: nothing at all.
	run dpkg_wait -r ssed
	echo "$output"
	[ "$status" -eq 0 ]
	while read -r f; do
		[ -d "$f" ] && continue  # directories shared with other packages
		[ "$f" = /etc/default/ssed ] && continue
		[ ! -e "$f" ] || { echo "left after dpkg -r: $f"; false; }
	done <"$files"
	run dpkg_wait -P ssed
	echo "$output"
	[ "$status" -eq 0 ]
	while read -r f; do
		[ ! -e "$f" ] || [ -d "$f" ] || { echo "left after dpkg -P: $f"; false; }
	done <"$files"
	[ ! -e /etc/default/ssed ]
	run find /etc/systemd /var/lib/systemd -name '*ssed*'
	[ -z "$output" ] || { echo "left: $output"; false; }
	! dpkg-query -W ssed 2>/dev/null
}
