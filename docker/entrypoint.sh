#!/bin/sh
# Entrypoint of the warren image.
#
#   node        warren-node with /etc/warren/node.conf. When MESH_NODE names
#               a node of the mesh in MESH_DIR (default /mesh; written by
#               mesh-init), its files are installed first as on a host
#               (/etc/wireguard/warren0.conf, /etc/warren/node.conf and
#               cluster.keys), the interface comes up with wg-quick
#               (wireguard-go where the kernel has no WireGuard), and the
#               node then runs as the user warren. That part needs root,
#               NET_ADMIN and /dev/net/tun (compose.yml gives them).
#   fly         warren-node on fly.io, where the private network (6PN) is
#               already WireGuard: gossip on the machine's 6PN address
#               (fly-local-6pn), joining <app>.internal, the cluster key from
#               the secret WARREN_CLUSTER_KEY; name and region from Fly;
#               the tunnel certificate from WARREN_TLS_CERT_PEM and
#               WARREN_TLS_KEY_PEM when set.
#   mesh-init   clusterctl mesh init MESH_DIR $MESH_NODES $MESH_ARGS, once:
#               an existing mesh (same keys) is kept.
#   anything else is run as it is (warren http ..., clusterctl ...).
set -eu
MESH_DIR=${MESH_DIR:-/mesh}

case "${1:-node}" in
node)
	shift || true
	if [ -n "${MESH_NODE:-}" ]; then
		src=$MESH_DIR/nodes/$MESH_NODE
		if [ ! -f "$src/node.conf" ]; then
			echo "entrypoint: no mesh files for node $MESH_NODE in $src" >&2
			exit 1
		fi
		if [ "$(id -u)" != 0 ]; then
			echo "entrypoint: the mesh needs root to set up WireGuard (user: root)" >&2
			exit 1
		fi
		iface=$(sed -n 's/^interface = //p' "$MESH_DIR/mesh.ini")
		install -m 0600 "$src/$iface.conf" "/etc/wireguard/$iface.conf"
		install -m 0640 -g warren "$src/node.conf" /etc/warren/node.conf
		install -m 0640 -g warren "$src/cluster.keys" /etc/warren/cluster.keys
		wg-quick down "$iface" 2> /dev/null || true
		wg-quick up "$iface"
		exec setpriv --reuid=warren --regid=warren --init-groups \
			--inh-caps=-all --bounding-set=-all --no-new-privs \
			warren-node --config /etc/warren/node.conf "$@"
	fi
	exec warren-node --config /etc/warren/node.conf "$@"
	;;
fly)
	shift || true
	addr=$(getent ahostsv6 fly-local-6pn | awk 'NR == 1 { print $1 }')
	if [ -z "$addr" ]; then
		echo "entrypoint: fly-local-6pn does not resolve: not on fly.io?" >&2
		exit 1
	fi
	if [ -z "${WARREN_CLUSTER_KEY:-}" ]; then
		echo "entrypoint: set the secret WARREN_CLUSTER_KEY (fly secrets set)" >&2
		exit 1
	fi
	data=${WARREN_DATA_DIR:-/var/lib/warren}
	(umask 077 && printf '%s\n' "$WARREN_CLUSTER_KEY" > "$data/cluster.keys")
	unset WARREN_CLUSTER_KEY
	# the tunnel listener's certificate, when given as secrets
	if [ -n "${WARREN_TLS_CERT_PEM:-}" ] && [ -n "${WARREN_TLS_KEY_PEM:-}" ]; then
		(umask 077 && printf '%s\n' "$WARREN_TLS_CERT_PEM" > "$data/tls-cert.pem" &&
			printf '%s\n' "$WARREN_TLS_KEY_PEM" > "$data/tls-key.pem")
		unset WARREN_TLS_CERT_PEM WARREN_TLS_KEY_PEM
		export WARREN_TLS_CERT="$data/tls-cert.pem" WARREN_TLS_KEY="$data/tls-key.pem"
	fi
	export WARREN_DATA_DIR="$data"
	export WARREN_CLUSTER_KEY_FILE="$data/cluster.keys"
	export WARREN_NAME="${FLY_MACHINE_ID:-$(hostname)}"
	export WARREN_REGION="${FLY_REGION:-fly}"
	export WARREN_GOSSIP_LISTEN="[$addr]:7946"
	export WARREN_JOIN="${FLY_APP_NAME:?}.internal:7946"
	exec warren-node --config /etc/warren/node.conf "$@"
	;;
mesh-init)
	if [ -f "$MESH_DIR/mesh.ini" ]; then
		echo "entrypoint: keeping the mesh in $MESH_DIR"
		clusterctl mesh show "$MESH_DIR"
		exit 0
	fi
	# shellcheck disable=SC2086 # lists of arguments
	clusterctl mesh init "$MESH_DIR" ${MESH_NODES:?set MESH_NODES} ${MESH_ARGS:-}
	;;
*)
	exec "$@"
	;;
esac
