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
