/* lbset — the acceptor's load-balancing candidates and its own state about
 * them: per app, the array the decision (proto/lbpick.h) runs on, and per
 * backend this node's connection count, passive back-off and counters, and
 * the clients' affinity bindings (proto/lbbind.h).
 *
 * The router publishes the candidates (lbmsg); lbset_apply() takes a new
 * set and keeps the state of every backend that is still in it (same id),
 * so counts, back-offs and bindings survive edits of routing.db.
 *
 * A candidate is a `struct lbset_backend` of either kind: a static backend,
 * or a tunnel replica (a session here or on another node) of the group
 * named as the app. The decision sees only lbpick_cand; how a pick is
 * reached is the caller's business (kind). The app-less set (LBSET_ALL,
 * edgeProxy's single listener) holds static backends only. */
#ifndef WARREN_LBSET_H
#define WARREN_LBSET_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lbpick.h"
#include "sock.h"

struct lbset;
struct lbmsg;

#define LBSET_NAME_MAX          128     /* bytes of an app or backend id kept */
#define LBSET_ALL               "*"     /* the app of every backend */

struct lbset_backend {
	uint64_t id;                    /* lbpick_id(name) */
	uint8_t kind;                   /* enum lbmsg_kind */
	char name[LBSET_NAME_MAX + 1];
	char app[LBSET_NAME_MAX + 1];
	struct sock_addr addr;          /* BACKEND: wg_ip:port */
	char addr_text[80];             /* BACKEND: wg_ip:port; REPLICA: node */
	char node[LBSET_NAME_MAX + 1];  /* REPLICA: the holder's node, "" = here */
	uint64_t session;               /* REPLICA: its session and tunnel */
	uint32_t tunnel_id;
	uint32_t conns;                 /* connections from pick until close */
	uint64_t conns_total, dial_failures;
	bool health_down;               /* the router's checks: down here */
	bool backoff;                   /* a dial failed: skipped until the timer */
	bool raw_refused;               /* REPLICA: refuses raw bytes (wants
	                                 * credentials): never an L4 pick */
	/* internal */
	unsigned refs;                  /* connections + 1 while in the set */
	struct lbpick_cand *slot[2];    /* its entries: its app's, all apps' */
	struct lbset *set;
	ev_timer backoff_timer;
	uint64_t gen;                   /* lbset_apply that last listed it */
	size_t tmp;                     /* its index during lbset_apply */
};

struct lbset_stats {
	uint64_t picks, bound_hits;     /* decisions, of them by affinity */
	uint64_t no_candidate;          /* refused: nothing eligible */
	uint64_t dial_failures, failovers;
	uint64_t applied;               /* candidate sets taken */
};

/* bind_max, ttl_ms: the affinity table (lbbind_new); backoff_ms: how long a
 * backend whose dial failed is skipped. Returns 0 and sets *out, or
 * -ENOMEM / -EINVAL. */
int lbset_new(struct lbset **out, struct ev_loop *loop, size_t bind_max,
    uint64_t ttl_ms, uint64_t backoff_ms);
/* Backends still held by connections stay until lbset_release(). */
void lbset_free(struct lbset *s);

/* Takes a new candidate set (from the router). Returns 0 or -ENOMEM (the
 * old set stays). */
int lbset_apply(struct lbset *s, const struct lbmsg *m);
/* The version (and router epoch) of the set held; 0, 0 before the first. */
void lbset_version(const struct lbset *s, uint64_t *epoch, uint64_t *version);

/* The key of an app name (LBSET_ALL: every backend) for lbset_pick. */
uint64_t lbset_app_key(const char *app);

/* The decision for a new connection of a client at addr (16 bytes, IPv4
 * as ::ffff:a.b.c.d) to app `key`: its live affinity binding while that
 * backend is eligible, else the best score; binds the client to it. The
 * chosen backend's count goes up and the caller holds a reference: give
 * both back with lbset_release(). Returns the backend, or NULL when no
 * candidate is eligible (counted). now_ms: a monotonic clock. */
struct lbset_backend *lbset_pick(struct lbset *s, uint64_t key,
    const uint8_t addr[16], const struct lbpick_where *client,
    const struct lbpick_where *local, uint64_t now_ms);
/* lbset_pick for raw bytes (an L4 listener, a handed-over connection):
 * candidates marked with lbset_refuse_raw() are not eligible. */
struct lbset_backend *lbset_pick_raw(struct lbset *s, uint64_t key,
    const uint8_t addr[16], const struct lbpick_where *client,
    const struct lbpick_where *local, uint64_t now_ms);
/* The replica b refused raw bytes (it wants credentials): the client's
 * binding is dropped and b is never again an L4 pick (it stays one by
 * name). Does not release. */
void lbset_refuse_raw(struct lbset *s, uint64_t key, const uint8_t addr[16],
    struct lbset_backend *b);
/* A dial to b for the client failed: its binding is dropped and b is
 * skipped on this node for the back-off (counted). Does not release. */
void lbset_dial_failed(struct lbset *s, uint64_t key, const uint8_t addr[16],
    struct lbset_backend *b);
/* A connection is tried on another candidate after a failed dial. */
void lbset_count_failover(struct lbset *s);
/* The connection on b ended (or its dial failed): count and reference. */
void lbset_release(struct lbset_backend *b);

/* Sweeps expired bindings (all of them); returns how many went. */
size_t lbset_gc(struct lbset *s, uint64_t now_ms);
size_t lbset_bindings(const struct lbset *s);
const struct lbset_stats *lbset_stats(const struct lbset *s);

/* Calls fn for every backend in the set, busiest first by
 * conns_total, at most max of them. */
void lbset_each(struct lbset *s, size_t max,
    void (*fn)(void *arg, const struct lbset_backend *b), void *arg);

#endif
