/* replica — which replica of a grouped tunnel (`warren http --group`)
 * takes a public connection on this node.
 *
 * The route of a grouped name lists its replicas (routes.h); each is a
 * load-balancing candidate with the region of the node holding its session
 * (or the client's --region), its weight and limits. The decision is the
 * edge's (proto/lbpick): the public client's country from --geoip-db, its
 * region from --region-map, the connections this node holds to each
 * replica, and this node's region for clients without a location. Counts
 * are kept per replica session, for as long as a connection uses it. A
 * client's affinity binding (client address -> replica, --binding-ttl,
 * sliding) wins while that replica is eligible. */
#ifndef WARREN_REPLICA_H
#define WARREN_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "lbpick.h"

struct sockaddr;
struct replica;
struct routes_replica;

/* geoip_db, region_map: files, or "" for none / edgeProxy's table; region:
 * this node's; binding_ttl_ms: how long a client stays with its replica
 * after its last connection. Returns 0 or -errno with a sentence in err. */
int replica_new(struct replica **out, const char *geoip_db,
    const char *region_map, const char *region, uint64_t binding_ttl_ms,
    char *err, size_t errlen);
void replica_free(struct replica *rp);

/* Which of the name key's n replicas v[] (their candidates cands[], sorted
 * and prepared by routes.c; conns are refreshed here, in place) a
 * connection from `client` gets, skipping v[skip] when skip >= 0 (it cannot
 * be reached: its binding goes too). Returns its index or -1 when none is
 * eligible (all at their hard limit). */
long replica_pick(struct replica *rp, const char *key,
    const struct sockaddr *client, const struct routes_replica *v,
    struct lbpick_cand *cands, size_t n, long skip);

/* A connection starts or stops using the replica whose session is sid. */
void replica_hold(struct replica *rp, uint64_t sid);
void replica_release(struct replica *rp, uint64_t sid);
/* Connections this node holds to the replica whose session is sid. */
uint32_t replica_conns(const struct replica *rp, uint64_t sid);

#endif
