/* clusterctl — operate a warren cluster through a node's admin API.
 *
 *     clusterctl [--admin ADDR] COMMAND [ARGS]
 *
 * ADDR defaults to WARREN_ADMIN, then 127.0.0.1:7070. Each command is one
 * entry of ctl_cmds[] (client/ctl.h says how to add one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl.h"
#include "client/ctl_mesh.h"
#include "client/ctl_tokens.h"

static const struct ctl_cmd ctl_cmds[] = {
	{ "members", ctl_members_main, "members [--json]",
	    "list the cluster members: name, address, region, state, incarnation, "
	    "RTT, last change" },
	{ "leave", ctl_leave_main, "leave",
	    "make the node leave the cluster gracefully" },
	{ "drain", ctl_drain_main, "drain NODE [--wait]",
	    "drain a node (any member, asked from any node): its clients move to "
	    "other nodes, in-flight requests finish, it leaves the cluster and "
	    "stops; --wait returns once the others see it gone" },
	{ "keys", ctl_keys_main, "keys reload",
	    "reread the node's --cluster-key-file (rotation)" },
	{ "routes", ctl_routes_main, "routes [--json]",
	    "every tunnel claim in the cluster: name or port, kind, node, region, "
	    "client, token, state, age; * marks the holder" },
	{ "sync", ctl_sync_main, "sync [--json]",
	    "replication: per node its change-log version, data digest, rows and "
	    "how far this node is behind it" },
	{ "backends", ctl_backends_main, "backends list|add|rm ...",
	    "static backends (edgeProxy's table), replicated to every node" },
	{ "domains", ctl_domains_main, "domains list|add|rm ...",
	    "custom domain -> app, replicated to every node" },
	{ "lb", ctl_lb_main, "lb explain --app APP --client-ip IP",
	    "which backend a client at IP gets and why: every candidate's tier, "
	    "load and score; lb health [--node NAME] [--json]: every node's "
	    "health checks" },
	{ "apps", ctl_apps_main, "apps set|list|rm ...",
	    "per-app health checks: set APP --check tcp|http:/PATH [--interval "
	    "--timeout --rise --fall --expect], replicated" },
	{ "tokens", ctl_tokens_main, "tokens create|list|revoke ...",
	    "tunnel tokens: create --allow PATTERN [--allow-port LO-HI] [--note "
	    "TEXT], list, revoke ID" },
	{ "mesh", ctl_mesh_main, "mesh init|add|show DIR ...",
	    "plan a WireGuard mesh: each node's WireGuard and warren-node "
	    "configs (offline)" },
	{ NULL, NULL, NULL, NULL }
};

static void
ctl_usage(FILE *f)
{
	const struct ctl_cmd *cmd;

	fprintf(f, "usage: clusterctl [--admin ADDR] COMMAND [ARGS]\n\n"
	    "  --admin ADDR   the node's admin API (env WARREN_ADMIN, default %s)\n\n"
	    "commands:\n", CTL_DEFAULT_ADMIN);
	for (cmd = ctl_cmds; cmd->name != NULL; cmd++)
		fprintf(f, "  %-22s %s\n", cmd->usage, cmd->help);
}

int
main(int argc, char **argv)
{
	const struct ctl_cmd *cmd;
	struct ctl c;
	const char *env = getenv("WARREN_ADMIN");
	int i = 1;

	c.prog = "clusterctl";
	c.admin = env != NULL && env[0] != '\0' ? env : CTL_DEFAULT_ADMIN;
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ctl_usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--admin") == 0 && i + 1 < argc) {
			c.admin = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--admin=", 8) == 0) {
			c.admin = argv[i] + 8;
			i++;
		} else {
			fprintf(stderr, "clusterctl: unknown option '%s'\n", argv[i]);
			ctl_usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		ctl_usage(stderr);
		return 2;
	}
	for (cmd = ctl_cmds; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, argv[i]) == 0)
			return cmd->fn(&c, argc - i, argv + i);
	fprintf(stderr, "clusterctl: unknown command '%s'\n", argv[i]);
	ctl_usage(stderr);
	return 2;
}
