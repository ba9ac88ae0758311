/* lbexplain — the admin API's account of a load-balancing decision:
 *
 *   GET /v1/lb/explain/APP/CLIENT_IP
 *
 * The client's country (--geoip-db) and region (--region-map), this node's
 * region, and every static backend of APP from the replicated `backends`
 * table and every tunnel replica of the group APP with its tier, load and
 * score, computed by the decision the
 * acceptor runs (proto/lbpick.h), and the winner. A backend registered
 * through the backend API (router/backendapi.h) holds a lease in
 * `backend_leases`; once it expires (no heartbeat for the TTL) the backend
 * is not eligible ("why": "no heartbeat"), and the lease's country stands
 * in for a `country` column the table lacks. Connection counts are
 * this node's; the router has none yet, so they show as 0. */
#ifndef WARREN_LBEXPLAIN_H
#define WARREN_LBEXPLAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct lbexplain;

struct lbexplain_conf {
	const char *db_path;            /* routing.db (it must exist) */
	const char *region;             /* this node's region */
	const char *geoip_db;           /* "" or NULL: clients have no country */
	const char *region_map;         /* "" or NULL: edgeProxy's table */
};

/* Opens routing.db read-only, the GeoIP database and the region map.
 * Returns 0 and sets *out, or -errno / -EINVAL with a sentence in err. */
int lbexplain_open(struct lbexplain **out, const struct lbexplain_conf *c,
    char *err, size_t errlen);
void lbexplain_close(struct lbexplain *x);
/* lbexplain_open() from warren-node's options (--region, --geoip-db,
 * --region-map); logs why it failed. Returns 0 or -errno. */
struct node_conf;
int lbexplain_start(struct lbexplain **out, const struct node_conf *nc,
    const char *db_path);

/* The route table whose grouped names' replicas (`warren http --group
 * APP`) are candidates of APP beside its backends; explain shows them
 * ("kind": "replica"). The table must outlive x. */
struct table;
void lbexplain_set_table(struct lbexplain *x, const struct table *t);

/* The decision for a new client of APP at `client` among its static
 * backends only (the DNS answers with addresses; its connection counts
 * as this node's router knows them): 1 and the winner's wg_ip (ip[iplen])
 * and port; 0 when APP has backends but none is eligible; -ENOENT when APP
 * has no backend; -EIO when routing.db cannot be read. */
struct sockaddr;
int lbexplain_decide(struct lbexplain *x, const char *app,
    const struct sockaddr *client, char *ip, size_t iplen, unsigned *port);

/* Handles method + path when it is the endpoint above: sets *status and
 * *out (a JSON value to send) and returns true; false for other paths. */
bool lbexplain_handle(struct lbexplain *x, const char *method,
    const char *path, int *status, json_t **out);

#endif
