/* lbexplain — the admin API's account of a load-balancing decision:
 *
 *   GET /v1/lb/explain/APP/CLIENT_IP
 *
 * The client's country (--geoip-db) and region (--region-map), this node's
 * region, and every static backend of APP from the replicated `backends`
 * table with its tier, load and score, computed by the decision the
 * acceptor runs (proto/lbpick.h), and the winner. Connection counts are
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

/* Handles method + path when it is the endpoint above: sets *status and
 * *out (a JSON value to send) and returns true; false for other paths. */
bool lbexplain_handle(struct lbexplain *x, const char *method,
    const char *path, int *status, json_t **out);

#endif
