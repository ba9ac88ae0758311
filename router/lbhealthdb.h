/* lbhealthdb — every node's health-check results, through routing.db.
 *
 * Each node's router checks the candidates from where it stands
 * (router/lbhealth.h). So that any node can show every node's view, each
 * router writes its own results into the replicated table `lb_health`, one
 * row per (node, app, backend), keyed "node/app/backend" (each part with
 * '%' and '/' percent-escaped). Only the node named in a row writes it, and
 * only when the row no longer says what the node sees: a target's first
 * result, a transition (up <-> down), a target that stopped being checked
 * (its row is deleted). Checks that change nothing write nothing.
 *
 * The writes follow the checker's report hook: a report schedules a sync,
 * which compares this node's rows with its targets and writes the
 * difference through gossip (a few rows per loop turn, so a storm of
 * transitions never stalls the router; a failed write is retried a second
 * later, then backing off to 30 s while gossip keeps failing). A sync also runs at start, which removes rows a previous run left
 * for targets no longer checked, and every 30 s as a safety net.
 *
 * Reading (GET /v1/lb/health/all): this node's live view from the checker,
 * the other nodes' rows, and for each target a node that is live but has
 * not reported state "unknown". Rows of nodes that membership says are
 * dead or gone do not count, as with tunnels (router/routedb.h): nobody
 * writes on their behalf, and their rows count again if they come back.
 * The replicated `healthy` column is never written: it stays the
 * operator's switch. */
#ifndef WARREN_LBHEALTHDB_H
#define WARREN_LBHEALTHDB_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router/lbhealth.h"
#include "router/registry.h"

#define LBHEALTHDB_TABLE        "lb_health"
#define LBHEALTHDB_VIEW_MAX     100000  /* rows read for one view */

struct lbhealthdb;

struct lbhealthdb_stats {
	uint64_t puts, dels;            /* rows written, rows deleted */
	uint64_t failed;                /* writes gossip refused or missed */
	uint64_t skipped;               /* rows too long to write */
	uint64_t syncs;
};

/* Is `node` a live member (alive or suspect)? */
typedef bool lbhealthdb_live_fn(void *arg, const char *node);

/* Writes "node/app/id" with '%' as "%25" and '/' as "%2F" in each part
 * into out. Returns 0, or -ENAMETOOLONG when it does not fit in len. */
int lbhealthdb_key(char *out, size_t len, const char *node, const char *app,
    const char *id);

/* The lb_health row (a JSON object of its columns) for this node's result
 * r, stamped now_ms; a new string (free()), or NULL when r is unchecked or
 * the row would exceed IPCMSG_STR_MAX even without its last error. */
char *lbhealthdb_row(const char *node, const struct lbhealth_result *r,
    int64_t now_ms);

/* Every node's view, a pure function: local is this node's checker view
 * (lbhealth_json(): objects with app, id, addr, check, state, since_s,
 * ...), remote the other nodes' rows as objects of their columns (node,
 * app, backend, addr, health_check, state, since_ms, reported_ms,
 * last_error, ok_run, fail_run); both are consumed. nodes (nnodes) are the
 * live nodes, self included; for each target one of them has no entry for
 * gets {state: "unknown"}; nodes NULL: none added. Returns an array of
 * objects {node, app, id, addr, check, state, since_s, since_ms, last_error,
 * ok_run, fail_run, source: "local"|"replicated"|"none", ...} ordered by
 * app, id and node, or NULL when out of memory. */
json_t *lbhealthdb_merge(const char *self, json_t *local, json_t *remote,
    const char *const *nodes, size_t nnodes, int64_t now_ms);

/* Opens routing.db at db_path read-only for node `self`; writes go through
 * write(write_arg) (the router's gossip write). Returns 0 and sets *out, or
 * -ENOMEM / -EIO. */
int lbhealthdb_new(struct lbhealthdb **out, struct ev_loop *loop,
    const char *db_path, const char *self, registry_write_fn *write,
    void *write_arg);
/* Stops its timers and detaches from the checker. NULL is a no-op. */
void lbhealthdb_free(struct lbhealthdb *d);

/* Follows h's results from now on (sets h's report hook; h must outlive
 * d or be detached with lbhealthdb_free first) and schedules a sync. */
void lbhealthdb_attach(struct lbhealthdb *d, struct lbhealth *h);

/* GET /v1/lb/health/all: every node's view, as lbhealthdb_merge(). live
 * NULL: every row counts and no "unknown" entries are added (membership
 * not known yet). nodes: the live members, self included. Returns a new
 * array, or NULL with a sentence in err. */
json_t *lbhealthdb_view(struct lbhealthdb *d, lbhealthdb_live_fn *live,
    void *live_arg, const char *const *nodes, size_t nnodes, char *err,
    size_t errlen);

const struct lbhealthdb_stats *lbhealthdb_stats(const struct lbhealthdb *d);
/* Its counters as /metrics text (malloc'ed), or NULL. */
char *lbhealthdb_metrics(const struct lbhealthdb *d);

#endif
