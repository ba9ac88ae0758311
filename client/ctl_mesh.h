/* ctl_mesh — clusterctl mesh: plan a WireGuard mesh for a cluster and write
 * every node's WireGuard and warren-node configuration. Works offline on a
 * directory; it never talks to a node.
 *
 *   mesh init DIR NAME,REGION,ENDPOINT... [--range CIDR] [--port N] ...
 *   mesh add DIR NAME,REGION,ENDPOINT...   a node joins an existing mesh
 *   mesh show DIR [--keys]                 the plan; keys only with --keys
 *
 * DIR holds mesh.ini (the plan: no private key), keys/ (private keys and
 * the cluster key, mode 0600) and nodes/NAME/ with what one node installs:
 * IFACE.conf for /etc/wireguard, node.conf and cluster.keys for
 * /etc/warren. */
#ifndef WARREN_CTL_MESH_H
#define WARREN_CTL_MESH_H

struct ctl;

/* The "mesh" subcommand (argv[0] == "mesh"); returns the exit status: 0,
 * 1 when a file could not be read or written, 2 for a usage error. */
int ctl_mesh_main(struct ctl *c, int argc, char **argv);

#endif
