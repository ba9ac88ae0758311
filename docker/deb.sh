#!/bin/sh
# make deb: B/warren_VERSION_ARCH.deb with dpkg-deb, laid out as make install
# PREFIX=/usr (units in /lib/systemd/system, as Debian 12 packages put them).
# No network: Depends comes from the libraries the binaries link, mapped to
# their packages with dpkg -S.
#
#   B=build VERSION=0.1.0 sh docker/deb.sh
set -eu
die() {
	echo "$*" >&2
	exit 1
}
B=${B:-build}
VERSION=${VERSION:-0.1.0}
here=$(cd "$(dirname "$0")" && pwd)
arch=$(dpkg --print-architecture)
out=$B/warren_${VERSION}_$arch.deb
# staged outside B: the Makefile includes every *.d under B (sysusers.d!)
work=$(mktemp -d "${TMPDIR:-/tmp}/warren-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/DEBIAN"
B=$B PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system DESTDIR=$root \
	sh "$here/install.sh"
for f in "$root"/usr/lib/warren/* "$root/usr/bin/warren" "$root/usr/bin/clusterctl"; do
	strip --strip-unneeded "$f"
done

# every library the binaries link directly -> the package that ships it
bins="$root/usr/lib/warren/* $root/usr/bin/warren $root/usr/bin/clusterctl"
# shellcheck disable=SC2086 # $bins is a glob on purpose
needed=$(objdump -p $bins | awk '$1 == "NEEDED" { print $2 }' | sort -u)
# shellcheck disable=SC2086
libs=$(ldd $bins | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u)
# one dpkg -S for every spelling of every path (merged /usr: a file may be
# recorded under /lib or /usr/lib)
paths=""
for soname in $needed; do
	lib=$(printf '%s\n' "$libs" | awk -v n="$soname" '$1 == n { print $2; exit }')
	[ -n "$lib" ] || die "deb: $soname is not found by ldd"
	real=$(readlink -f "$lib")
	paths="$paths $lib $real /usr$lib /usr$real ${lib#/usr} ${real#/usr}"
done
# shellcheck disable=SC2086 # a list of paths
owners=$(dpkg -S $paths 2> /dev/null || true)
deps=""
for soname in $needed; do
	lib=$(printf '%s\n' "$libs" | awk -v n="$soname" '$1 == n { print $2; exit }')
	real=$(readlink -f "$lib")
	pkg=$(printf '%s\n' "$owners" | awk -F': ' -v a="$lib" -v b="$real" \
		'{ p = $2 } p == a || p == b || p == "/usr" a || p == "/usr" b ||
		"/usr" p == a || "/usr" p == b { sub(/:.*/, "", $1); print $1; exit }')
	[ -n "$pkg" ] || die "deb: no Debian package ships $soname ($lib); install the build dependencies with make deps"
	deps="$deps
$pkg"
done
depends=$(printf '%s\n' "$deps" | sed '/^$/d' | sort -u | paste -sd, - | sed 's/,/, /g')

size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: warren
Version: $VERSION
Architecture: $arch
Maintainer: warren maintainers <warren@localhost>
Installed-Size: $size
Depends: $depends, adduser
Recommends: wireguard-tools
Suggests: wireguard-go
Section: net
Priority: optional
Description: self-hosted tunnelling service with a clustered edge
 warren exposes local services behind NAT through public URLs: the client
 (warren) dials out to an edge node (warren-node), which serves HTTP, HTTPS
 and TCP for it. Nodes in several regions form a cluster over a WireGuard
 mesh (clusterctl mesh writes its configuration).
CONTROL
echo /etc/warren/node.conf > "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$here/debian/$s" "$root/DEBIAN/$s"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
	xargs md5sum) > "$root/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$out" > /dev/null
echo "$out"
