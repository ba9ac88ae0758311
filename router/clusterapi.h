/* clusterapi — the admin API's view of the replicated routing.db:
 *
 *   GET    /v1/routes              every claim in the cluster (all nodes),
 *                                  with which one holds its name here
 *   GET    /v1/backends            edgeProxy's backends table
 *   POST   /v1/backends            {id, app, region, wg_ip, port, ...}: add
 *                                  or update one (any node; replicated)
 *   DELETE /v1/backends/ID
 *   GET    /v1/domains             custom domain -> app
 *   POST   /v1/domains             {domain, app}
 *   DELETE /v1/domains/DOMAIN
 *
 * It reads through its own read-only connection; writes go to gossip (the
 * only writer) through the caller's write function. */
#ifndef WARREN_CLUSTERAPI_H
#define WARREN_CLUSTERAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "router/registry.h"
#include "router/routedb.h"

struct clusterapi;
struct table;

struct clusterapi_conf {
	const char *self;               /* this node's name */
	const struct table *table;      /* the compiled route table */
	routedb_live_fn *live;          /* NULL: membership not known yet */
	void *live_arg;
	registry_write_fn *write;       /* to gossip */
	void *write_arg;
};

/* Opens a read-only connection to routing.db at path (it must exist).
 * Returns 0 and sets *out, or -errno. */
int clusterapi_open(struct clusterapi **out, const char *path);
void clusterapi_close(struct clusterapi *api);

/* Handles method + path when it is one of the above: sets *status and *out
 * (a JSON value to send, or NULL) and returns true; false for other paths.
 * body is the request body (JSON) for POST. */
bool clusterapi_handle(struct clusterapi *api, const struct clusterapi_conf *c,
    const char *method, const char *path, const char *body, int *status,
    json_t **out);

#endif
