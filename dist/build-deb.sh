#!/bin/sh
# dist/build-deb.sh - build the Debian package from a copy of this tree, so
# that nothing lands beside the checkout (dpkg-buildpackage writes into the
# parent directory). usage: dist/build-deb.sh OUTDIR
# Leaves OUTDIR/ssed_VERSION_ARCH.deb (and the .changes, .buildinfo and
# dbgsym package) and prints the .deb's path; the build log is OUTDIR/build.log.
set -eu
out=${1:?usage: dist/build-deb.sh OUTDIR}
cd "$(dirname "$0")/.."
version=$(dpkg-parsechangelog -S Version)
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/ssed-$version
rm -rf "$src"
mkdir -p "$src"
# Tracked files and new ones not ignored: what a commit of this tree would hold.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build --exclude=./bin --exclude=./tests/.out --exclude=node_modules \
		-cf - . | tar -xf - -C "$src"
fi
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
	tail -30 "$out/build.log" >&2
	echo "build-deb.sh: error: dpkg-buildpackage failed; the log is $out/build.log" >&2
	exit 1
}
rm -rf "$src"
ls "$out"/ssed_"$version"_*.deb
