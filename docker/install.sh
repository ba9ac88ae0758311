#!/bin/sh
# make install: binaries, systemd units, the node's default configuration,
# man pages and the README under DESTDIR/PREFIX.
#
#   B=build PREFIX=/usr/local DESTDIR= SYSCONFDIR=/etc sh docker/install.sh
#
# warren-node runs its three processes from its own directory, so they live
# together in PREFIX/lib/warren and PREFIX/bin/warren-node links there.
# Without DESTDIR, as root, it also creates the user warren.
set -eu
B=${B:-build}
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc}
here=$(dirname "$0")
bindir=$PREFIX/bin
libdir=$PREFIX/lib/warren
unitdir=${UNITDIR:-$PREFIX/lib/systemd/system}
sysusersdir=$PREFIX/lib/sysusers.d
mandir=$PREFIX/share/man
docdir=$PREFIX/share/doc/warren
D=$DESTDIR

for p in warren clusterctl warren-node warren-acceptor warren-router warren-gossip; do
	if [ ! -x "$B/$p" ]; then
		echo "install: $B/$p is missing: run make first" >&2
		exit 1
	fi
done
install -d -m 0755 "$D$bindir" "$D$libdir" "$D$unitdir" "$D$sysusersdir" \
	"$D$mandir/man1" "$D$mandir/man8" "$D$docdir" "$D$SYSCONFDIR/warren"
install -m 0755 "$B/warren" "$B/clusterctl" "$D$bindir/"
install -m 0755 "$B/warren-node" "$B/warren-acceptor" "$B/warren-router" \
	"$B/warren-gossip" "$D$libdir/"
ln -sf ../lib/warren/warren-node "$D$bindir/warren-node"
for u in warren-node.service warren@.service; do
	sed -e "s|@BINDIR@|$bindir|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" \
		"$here/systemd/$u" > "$D$unitdir/$u"
	chmod 0644 "$D$unitdir/$u"
done
install -m 0644 "$here/systemd/warren.sysusers" "$D$sysusersdir/warren.conf"
# an existing configuration is the operator's: never overwritten
if [ ! -e "$D$SYSCONFDIR/warren/node.conf" ]; then
	install -m 0644 "$here/systemd/node.conf" "$D$SYSCONFDIR/warren/node.conf"
fi
sh "$here/mkman.sh" "$B/warren-node" 8 "warren edge node" | gzip -9n > "$D$mandir/man8/warren-node.8.gz"
sh "$here/mkman.sh" "$B/warren" 1 "expose local services through a warren edge" | gzip -9n > "$D$mandir/man1/warren.1.gz"
sh "$here/mkman.sh" "$B/clusterctl" 1 "operate a warren cluster" tokens mesh | gzip -9n > "$D$mandir/man1/clusterctl.1.gz"
chmod 0644 "$D$mandir"/man*/*.gz
install -m 0644 "$here/../README.md" "$D$docdir/README.md"

if [ -z "$D" ] && [ "$(id -u)" = 0 ]; then
	if ! getent passwd warren > /dev/null; then
		if command -v systemd-sysusers > /dev/null; then
			systemd-sysusers "$sysusersdir/warren.conf"
		else
			useradd --system --home-dir /var/lib/warren --no-create-home \
				--shell /usr/sbin/nologin warren
		fi
	fi
	echo "installed under $PREFIX; edit $SYSCONFDIR/warren/node.conf, then:"
	echo "  systemctl daemon-reload && systemctl enable --now warren-node"
fi
