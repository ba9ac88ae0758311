# shellcheck shell=sh
# What the cloud scripts (docker/aws, docker/gcp, docker/fly) share: run a
# command or, with --dry-run, print it; write a file or print it; keys kept
# out of the output unless asked.
#
# Dry-run output, one item per block:
#   + cmd arg 'arg with spaces'         a command (quoted for sh)
#   --- file PATH MODE                  a file, its content, then
#   --- end
# Commands whose output the script needs print a placeholder instead
# (<sg-sa-east-1>) and the script goes on with it.

DRY_RUN=0
SHOW_KEYS=0
# fd 3: where commands are shown (stdout in a dry run, else stderr), also
# from inside $(...)
exec 3>&1

# sh-quotes one word when it needs it
deploy_quote() {
	case $1 in
	'' | *[!A-Za-z0-9_./:=,@%+-]*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
	*) printf '%s' "$1" ;;
	esac
}

deploy_show() {
	{
		printf '+'
		for a in "$@"; do
			printf ' %s' "$(deploy_quote "$a")"
		done
		printf '\n'
	} | if [ "$DRY_RUN" = 1 ]; then cat >&3; else cat >&2; fi
}

# nth N "a b c": the Nth word
nth() { echo "$2" | awk -v n="$1" '{ print $n }'; }

# run CMD...: runs it (its stdout is the result), or prints it
run() {
	deploy_show "$@"
	[ "$DRY_RUN" = 1 ] || "$@"
}

# query PLACEHOLDER CMD...: the output of CMD, or PLACEHOLDER in a dry run
query() {
	ph=$1
	shift
	deploy_show "$@"
	if [ "$DRY_RUN" = 1 ]; then
		printf '%s\n' "$ph"
	else
		"$@"
	fi
}

# redact: keys out of text on stdin unless --show-keys
redact() {
	if [ "$SHOW_KEYS" = 1 ]; then
		cat
	else
		sed -e 's|^\( *PrivateKey = \).*|\1<redacted>|' \
			-e 's|^\( *\)[A-Za-z0-9+/]\{43\}=$|\1<redacted cluster key>|'
	fi
}

# put PATH MODE < content: writes the file, or prints it (keys redacted)
put() {
	if [ "$DRY_RUN" = 1 ]; then
		{
			printf -- '--- file %s %s\n' "$1" "$2"
			redact
			printf -- '--- end\n'
		} >&3
		return 0
	fi
	cat > "$1"
	chmod "$2" "$1"
}

# make_mesh DIR SPECS ARGS...: clusterctl mesh init, unless DIR holds a mesh
# (used as it is). A dry run writes nothing where it was asked to: it plans
# into a temporary directory. Sets MESH_SRC to the directory to read.
make_mesh() {
	dir=$1
	specs=$2
	shift 2
	MESH_SRC=$dir
	[ -f "$dir/mesh.ini" ] && return 0
	if [ "$DRY_RUN" = 1 ]; then
		DEPLOY_TMP=$(mktemp -d "${TMPDIR:-/tmp}/warren-deploy.XXXXXX")
		trap 'rm -rf "$DEPLOY_TMP"' EXIT
		MESH_SRC=$DEPLOY_TMP/mesh
	fi
	# shellcheck disable=SC2086 # the node list
	deploy_show "$CTL" mesh init "$dir" $specs "$@"
	# shellcheck disable=SC2086
	"$CTL" mesh init "$MESH_SRC" $specs "$@" > /dev/null
}

die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

# clusterctl from PATH, or the build next to the sources
find_clusterctl() {
	if command -v clusterctl > /dev/null; then
		command -v clusterctl
	elif [ -n "${WARREN_BIN:-}" ] && [ -x "$WARREN_BIN/clusterctl" ]; then
		echo "$WARREN_BIN/clusterctl"
	elif [ -x "$DEPLOY_ROOT/build/clusterctl" ]; then
		echo "$DEPLOY_ROOT/build/clusterctl"
	else
		die "clusterctl not found: install warren or run make"
	fi
}

# node_setup MESH NAME PACKAGE_URL: a shell script that installs node NAME of
# the mesh in directory MESH (clusterctl mesh) on a Debian 12 host: the
# package, its WireGuard and warren-node files as they are, public
# listeners on 80/443/7000 and the TCP tunnel ports; then starts WireGuard
# and the node. Idempotent (a GCP startup script runs at every boot).
node_setup() {
	m=$1/nodes/$2
	iface=$(sed -n 's/^interface = //p' "$1/mesh.ini")
	cat << EOS
#!/bin/sh
# warren node $2: written by $(basename "$0") from the mesh of clusterctl mesh
set -eu
export DEBIAN_FRONTEND=noninteractive
mkdir -p /etc/warren /etc/wireguard
umask 077
cat > /etc/wireguard/$iface.conf << 'EOF_WG'
$(cat "$m/$iface.conf")
EOF_WG
cat > /etc/warren/cluster.keys << 'EOF_KEYS'
$(cat "$m/cluster.keys")
EOF_KEYS
umask 022
cat > /etc/warren/node.conf << 'EOF_NODE'
$(cat "$m/node.conf")
http-listen = 0.0.0.0:80
https-listen = 0.0.0.0:443
tunnel-listen = 0.0.0.0:7000
tcp-port-range = $TCP_PORTS
EOF_NODE
if ! dpkg-query -W -f='\${Status}' warren 2> /dev/null | grep -q 'ok installed'; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends curl ca-certificates wireguard-tools
	curl -fsSL --retry 5 -o /tmp/warren.deb '$3'
	apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold /tmp/warren.deb
	rm -f /tmp/warren.deb
fi
chgrp warren /etc/warren/cluster.keys
chmod 0640 /etc/warren/cluster.keys
systemctl enable --now wg-quick@$iface
systemctl enable warren-node
systemctl restart warren-node
EOS
}
