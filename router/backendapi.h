/* backendapi — edgeProxy's backend API (its "auto-discovery" API), wired to
 * the load balancer: a backend that registers here is a candidate on every
 * node of the cluster.
 *
 *   POST   /api/v1/register        {id, app, region, country?, ip, port,
 *                                  weight?, soft_limit?, hard_limit?} -> 201
 *   POST   /api/v1/heartbeat/ID    -> 200, or 404 when not registered
 *   DELETE /api/v1/backends/ID     -> 200, or 404
 *   GET    /api/v1/backends        {backends: [...], total}
 *   GET    /api/v1/backends/ID
 *   GET    /health                 {status, version, registered_backends}
 *
 * Bodies and answers are edgeProxy's (weight 2, soft_limit 100, hard_limit
 * 150 when left out). Registering writes two replicated rows through gossip:
 * the backend into `backends` (edgeProxy's columns, `country` too when the
 * table has it) and a lease into `backend_leases` (node, country, when
 * registered, last heartbeat, expiry = heartbeat + the TTL). Every node's
 * decision skips a backend whose lease has expired (router/lbexplain.h), so
 * a backend whose heartbeats stop is out everywhere after the TTL, whichever
 * node took them and whether or not that node is still alive. Expired
 * registrations are removed after another TTL by the node that took the last
 * heartbeat, or after two by any other node with the API on (so they go
 * even when that node is gone). Heartbeats may go to any node.
 *
 * Served by the admin HTTP server (router/admin.h) on its own address. With
 * no token it listens on loopback only; with one, every request but /health
 * needs `Authorization: Bearer TOKEN` (401 otherwise). */
#ifndef WARREN_BACKENDAPI_H
#define WARREN_BACKENDAPI_H

#include <ev.h>
#include <stddef.h>

#include "router/registry.h"

#define BACKENDAPI_ID_MAX       128     /* bytes of an id or an app name */

struct backendapi;

struct backendapi_conf {
	const char *listen;             /* "127.0.0.1:8081" */
	const char *token;              /* "" or NULL: none (loopback only) */
	const char *node;               /* this node's name */
	const char *db_path;            /* routing.db (it must exist) */
	long long ttl_ms;               /* heartbeat TTL */
	registry_write_fn *write;       /* to gossip */
	void *write_arg;
};

/* Opens routing.db read-only and listens. Returns 0 and sets *out (bound
 * gets the address, port filled in); -EADDRNOTAVAIL for an address off
 * loopback without a token, -EINVAL for a malformed one, or -errno. */
int backendapi_open(struct backendapi **out, struct ev_loop *loop,
    const struct backendapi_conf *c, char *bound, size_t boundlen);
/* NULL is a no-op. */
void backendapi_close(struct backendapi *b);

/* Counters for /metrics: requests served, refused for want of the token,
 * registrations, heartbeats, expired registrations removed. */
struct backendapi_stats {
	unsigned long long requests, unauthorized, registered, heartbeats;
	unsigned long long removed;
};
void backendapi_stats(const struct backendapi *b, struct backendapi_stats *out);

#endif
