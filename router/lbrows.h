/* lbrows — edgeProxy's `backends` rows as load-balancing candidates, read
 * from routing.db. One reader for the two users: the admin API's account of
 * a decision (lbexplain) and the candidate sets the router publishes to the
 * acceptor (lbpub).
 *
 * The table is taken as it is: a `country` column is read when it exists
 * (edgeProxy's code has one, its README's schema has not); a NULL `healthy`
 * counts as healthy (only an explicit 0 is the operator's "out"). Backends
 * registered through the backend API hold a lease (`backend_leases`,
 * renewed by heartbeats): an expired one is out (UNHEALTHY, `stale`), and
 * the lease's country stands in for a missing one. */
#ifndef WARREN_LBROWS_H
#define WARREN_LBROWS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lbpick.h"

struct lbrow {
	char *id, *app, *region, *wg_ip;
	char *country;                  /* NULL: none */
	long long port;
	bool healthy, deleted;
	bool has_weight, has_soft, has_hard;    /* columns present and not NULL */
	bool has_lease, stale;          /* an API lease; expired */
	int64_t lease_expires;          /* unix s */
};

struct lbrows {
	size_t n;
	struct lbrow *rows;             /* rows[i] is cands[i] */
	struct lbpick_cand *cands;      /* flags UNHEALTHY / DELETED set, ids
	                                 * lbpick_id(row id), prepared */
	int64_t next_expiry;            /* earliest lease still live (unix s),
	                                 * 0 = none */
};

/* Reads the backends of `app` (NULL: every app) ordered by app, region, id
 * (so each app's run is in the order the decision expects). live_only:
 * only rows not deleted, healthy and not stale. now: unix seconds, for the
 * leases. At most max rows. Returns 0 and fills *out (lbrows_fini frees
 * it), or -EIO / -ENOMEM with *out empty; err gets SQLite's sentence. */
int lbrows_load(sqlite3 *db, const char *app, bool live_only, size_t max,
    int64_t now, struct lbrows *out, char *err, size_t errlen);
void lbrows_fini(struct lbrows *r);

#endif
