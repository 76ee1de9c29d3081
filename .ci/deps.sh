#!/bin/sh
# .ci/deps.sh - install the Debian packages ssed needs, only those missing.
# usage: .ci/deps.sh build|check|bench|deb
# Uses apt-get, through sudo when not root; does nothing when all are there.
set -eu

build="gcc make pkg-config libmicrohttpd-dev libcurl4-openssl-dev libjwt-gnutls-dev libjansson-dev libgnutls28-dev libsqlite3-dev libhiredis-dev"
check="$build bats curl jq strace mandoc groff-base clang procps iproute2 python3 openssl zsh fish chromium systemd nginx caddy redis-server tmux"
bench="$check libnginx-mod-nchan gnuplot-nox"
deb="$check build-essential debhelper dpkg-dev fakeroot lintian man-db"

case "${1:-build}" in
build) want=$build ;;
check) want=$check ;;
bench) want=$bench ;;
deb) want=$deb ;;
*) echo "deps.sh: error: unknown set '$1' (build, check, bench or deb)" >&2; exit 1 ;;
esac

missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
# Node.js may come from elsewhere than Debian; any node and npm will do.
if [ "${1:-build}" != build ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi
[ -n "$missing" ] || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: error: missing packages:$missing (and no apt-get to install them)" >&2
	exit 1
fi
sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "deps.sh: error: missing packages:$missing; run as root or install sudo" >&2
		exit 1
	}
	sudo=sudo
fi
echo "deps.sh: installing:$missing" >&2
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >&2
