/* lbpub — the load balancer's candidates, from routing.db to the acceptor.
 *
 * Whenever routing.db changes (the router notices every commit, edits with
 * the sqlite3 shell included) or one of this node's health checks changes
 * state, every app's live backends (not deleted, healthy = 1) are published
 * to the acceptor as one LB message (proto/lbmsg.h), a candidate failing
 * its check here flagged LBPICK_DOWN, and so is every tunnel replica
 * failing its check here (the acceptor has the replicas themselves from
 * its route table). The per-app checks come from the
 * replicated `apps` table (clusterctl apps set) and run here (lbhealth).
 *
 *   GET /v1/lb/health    this node's view of every checked candidate
 *   GET /v1/apps         the apps table; POST adds or updates a row,
 *                        DELETE /v1/apps/APP removes one (through gossip,
 *                        as /v1/backends does: router/clusterapi.c) */
#ifndef WARREN_LBPUB_H
#define WARREN_LBPUB_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct lbpub;
struct ipc_sock;
struct nng_msg;

/* db_path: routing.db (opened read-only here); pub: the socket the route
 * table goes out on; node: this node's name (shown in /v1/lb/health).
 * Returns 0 and sets *out, or -errno. */
int lbpub_new(struct lbpub **out, struct ev_loop *loop, const char *db_path,
    struct ipc_sock *pub, uint64_t epoch, const char *node);
void lbpub_free(struct lbpub *p);
/* The route table, whose grouped names' replicas are checked too (per the
 * apps table, like their app's backends) through the acceptor's probe
 * socket at probe_path; a replica failing here goes out to the acceptor as
 * a REPLICA entry flagged LBPICK_DOWN. The table must outlive p. */
struct table;
void lbpub_set_table(struct lbpub *p, const struct table *t,
    const char *probe_path);

/* routing.db changed: reread backends and apps, resync the checks, and
 * publish when the candidates changed. */
void lbpub_reload(struct lbpub *p);
/* The one-second beacon (the current version, no candidates). */
void lbpub_beacon(struct lbpub *p);
/* The answer to an acceptor's LB_REQ: the current snapshot (caller owns),
 * or NULL when it cannot be encoded. */
struct nng_msg *lbpub_snapshot(struct lbpub *p);

/* GET /v1/lb/health: sets *status and *out and returns true; false for
 * other paths. */
bool lbpub_handle(struct lbpub *p, const char *method, const char *path,
    int *status, json_t **out);
/* The health checks' counters as /metrics text (malloc'ed), or NULL. */
char *lbpub_metrics(struct lbpub *p);
/* The health checker (p's), for router/lbhealthdb.h. */
struct lbhealth *lbpub_health(struct lbpub *p);

#endif
