#!/usr/bin/env bats
# make install / uninstall into a DESTDIR leave exactly what they should.
load test_helper

@test "make install puts every file in place; make uninstall removes them all" {
	d=$BATS_TEST_TMPDIR/dest
	top=$TESTS/..
	# The programs under test, as built (run.sh passes O and B along).
	make -s -C "$top" install DESTDIR="$d" PREFIX=/usr O="${O:-build}" B="${B:-bin}" >/dev/null
	for f in bin/ssed bin/sse-pub bin/sse-cat \
		share/man/man1/ssed.1 share/man/man1/sse-pub.1 share/man/man1/sse-cat.1 \
		share/man/man7/ssed-deploy.7 \
		share/bash-completion/completions/ssed share/bash-completion/completions/sse-pub \
		share/bash-completion/completions/sse-cat \
		share/zsh/site-functions/_ssed share/zsh/site-functions/_sse-pub \
		share/zsh/site-functions/_sse-cat \
		share/fish/vendor_completions.d/ssed.fish share/fish/vendor_completions.d/sse-pub.fish \
		share/fish/vendor_completions.d/sse-cat.fish; do
		[ -f "$d/usr/$f" ] || { echo "missing $f"; false; }
	done
	[ -x "$d/usr/bin/ssed" ]
	"$d/usr/bin/ssed" --version
	[ "$(find "$d" -type f | wc -l)" -eq 16 ]
	make -s -C "$top" uninstall DESTDIR="$d" PREFIX=/usr >/dev/null
	run find "$d" -type f
	[ -z "$output" ]
}
