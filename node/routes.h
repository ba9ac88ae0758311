/* routes — the acceptor's copy of the route table, and its local claims.
 *
 * Two maps, both keyed by lowercase hostname (http) or port (tcp):
 * - the router's table (snapshot + versioned deltas over nng): every known
 *   tunnel with its owner node, session and state — tells 503 (known, but
 *   offline) from 404 (unknown);
 * - local claims: tunnels registered by sessions on this acceptor, written
 *   when the router confirms a registration and dropped when the session
 *   ends, so a public request never waits for a delta to arrive. */
#ifndef WARREN_ROUTES_H
#define WARREN_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipcmsg.h"
#include "lbpick.h"

struct routes;

/* TLS passthrough tunnels live in the same maps under "tls/" + hostname. */
#define ROUTES_TLS_PREFIX "tls/"
/* TCP tunnels are in the table (only) as "tcp/" + port. */
#define ROUTES_TCP_PREFIX "tcp/"

#define ROUTES_NODE_MAX 128    /* bytes of a node name kept */

struct route_claim {
	uint64_t session;
	uint32_t tunnel_id;
	char node[ROUTES_NODE_MAX + 1]; /* ROUTES_REMOTE: the holder's node */
	/* ROUTES_REMOTE: the same client's session on another node (--ha),
	 * used when the holder's node cannot be reached; "" = none */
	char alt_node[ROUTES_NODE_MAX + 1];
	uint64_t alt_session;
	uint32_t alt_tunnel_id;
};

/* One replica of a grouped name (--group): where it is, and what the load
 * balancer weighs it by (node/lbset.h holds it as a candidate of the app
 * named as its group). */
struct routes_replica {
	char *node;                     /* holder's node; NULL = here */
	uint64_t session;
	uint32_t tunnel_id;
	char region[LBPICK_REGION_MAX + 1];     /* the client's --region, or its
	                                         * node's */
	uint32_t weight, soft_limit, hard_limit;
};

enum routes_result {
	ROUTES_GROUP = 5,       /* served by its group's candidates (routes_app) */
	ROUTES_APP = 6,         /* a `domains` name: its app's backends serve
	                         * it (routes_app() names the app) */
	ROUTES_LOCAL = 1,       /* claimed by a session here: *claim is set */
	ROUTES_OFFLINE,         /* known, but no live session holds it */
	ROUTES_UNKNOWN,         /* no such tunnel */
	ROUTES_REMOTE,          /* held by a session on another node: *claim
	                         * is set, with its node */
};

/* self: this node's name (copied), to tell its routes from other nodes'. */
struct routes *routes_new(const char *self);
void routes_free(struct routes *r);

/* Applies a TABLE message (snapshot replaces, delta upserts/deletes); entries
 * are copied. Returns 0 or -ENOMEM. */
int routes_apply(struct routes *r, const struct ipcmsg_table *t);
/* Table epoch and version last applied (0, 0 before the first snapshot). */
void routes_version(const struct routes *r, uint64_t *epoch, uint64_t *version);

/* Local claims: returns 0 or -ENOMEM. A claim replaces an older one. */
int routes_claim_host(struct routes *r, const char *host, uint64_t session,
    uint32_t tunnel_id);
/* Drops every claim of session; their hosts stay in the table as offline. */
void routes_unclaim_session(struct routes *r, uint64_t session);

/* True when the router's table says tcp port `port` is held online by a
 * tunnel anywhere in the cluster. */
bool routes_port_held(struct routes *r, unsigned port);

/* Calls fn for every tcp port the table says another node's tunnel holds
 * online (the ports this node forwards). */
void routes_each_remote_port(struct routes *r,
    void (*fn)(void *arg, unsigned port, const struct route_claim *claim),
    void *arg);

/* The app of a name routes_lookup_host() said is ROUTES_APP, or the group
 * of one it said is ROUTES_GROUP (valid until the next routes_apply), or
 * NULL. */
const char *routes_app(struct routes *r, const char *host);
/* Changes whenever a grouped name's replicas may have changed. */
uint64_t routes_groups_gen(const struct routes *r);
/* Calls fn for every replica of every online grouped name, with its group
 * (a replica serving several names comes once per name). */
void routes_each_replica(struct routes *r,
    void (*fn)(void *arg, const char *app, const struct routes_replica *rep),
    void *arg);
/* Looks a hostname up (lowercase, no port). */
enum routes_result routes_lookup_host(struct routes *r, const char *host,
    struct route_claim *claim);

/* After a GOAWAY: does the router's table route every name of session
 * (its http/tls claims here, and the tcp ports given) to another session,
 * the client's on another node? Then forwarding nodes no longer need it. */
bool routes_session_moved(struct routes *r, uint64_t session,
    const unsigned *ports, size_t nports);

#endif
