#!/bin/sh
# Installs the Debian 12 packages that building, running and testing warren need.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev
 libev-dev libnng-dev libsqlite3-dev sqlite3 libmaxminddb-dev libssl-dev openssl
 libhttp-parser-dev libinih-dev libjansson-dev libcmocka-dev libldns-dev dnsutils
 curl wrk iperf3 nginx-light haproxy python3 python3-websockets procps iproute2
 wireguard-go wireguard-tools
 prometheus tinyproxy microsocks
 shellcheck systemd docker.io docker-compose debootstrap"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# the inspector's browser test: Debian's Chromium, driven by playwright-core
# from npm (tests/browser/install.sh); node and npm from wherever they are
# (npm also fetches the GeoIP test database: tests/geoip_fetch.sh)
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "warren: missing packages:$missing (run 'make deps' as root)" >&2
		exit 1
	fi
	apt-get update -q
	apt-get install -y -q --no-install-recommends $missing
fi
sh "$(dirname "$0")/browser/install.sh"
sh "$(dirname "$0")/geoip_fetch.sh"
