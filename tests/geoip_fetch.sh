#!/bin/sh
# Fetches the IP-to-country database the GeoIP tests read, the way a user's
# machine gets it: `npm pack` of a pinned version from the npm registry, then
# the one file out of the tarball, checked against its SHA-256.
#   tests/data/geo-country.mmdb        (flat `country_code` layout, IPv4+IPv6)
#   tests/data/geo-country.NRO_LICENSE (the data's licence, kept beside it)
# Source and licence: tests/data/README.md. Called by tests/deps.sh.
set -e
cd "$(dirname "$0")/data"
PKG=@ip-location-db/geo-whois-asn-country-mmdb
VER=2.3.2026061719
SHA=c5f7c0e9bd6a6ccb5a2e9634764544a0d08bd0bd8788b8aedfac87bea184c652
OUT=geo-country.mmdb

have() { [ -f "$OUT" ] && echo "$SHA  $OUT" | sha256sum -c --status; }
have && exit 0
command -v npm >/dev/null 2>&1 || {
	echo "warren: npm is missing, cannot fetch $PKG (run 'make deps' as root)" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PKG@$VER" >/dev/null) || {
	echo "warren: 'npm pack $PKG@$VER' failed (is the npm registry reachable?)" >&2
	exit 1
}
tar -xzf "$tmp"/*.tgz -C "$tmp" package/geo-whois-asn-country.mmdb package/NRO_LICENSE
echo "$SHA  package/geo-whois-asn-country.mmdb" | (cd "$tmp" && sha256sum -c --status) || {
	echo "warren: $PKG@$VER: the database does not match its pinned SHA-256" >&2
	exit 1
}
mv "$tmp/package/NRO_LICENSE" geo-country.NRO_LICENSE
mv "$tmp/package/geo-whois-asn-country.mmdb" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "warren: fetched $PKG@$VER into tests/data/$OUT"
