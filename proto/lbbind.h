/* lbbind — client affinity bindings: (app, client address) -> candidate.
 *
 * A binding lives for a TTL that slides with use (every hit moves its end to
 * now + ttl), and is dropped when a dial to its candidate fails. Memory is
 * bounded: at most `max` bindings; a new one into a full table evicts the one
 * closest to expiring among those it probes. Expired bindings go when they
 * are next looked up, or by lbbind_gc() from a timer, a slice at a time.
 *
 * Pure: the caller passes the time (milliseconds on any monotonic clock) and
 * a hash seed; no I/O, no globals. An open-addressing table with linear
 * probing and backward-shift deletion, keyed with SipHash so that clients
 * choosing their addresses cannot pile their bindings into one run of slots.
 */
#ifndef WARREN_LBBIND_H
#define WARREN_LBBIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LBBIND_TTL_DEFAULT      600000  /* ms: edgeProxy's 10 minutes */
#define LBBIND_MAX_DEFAULT      262144  /* bindings per node */
#define LBBIND_EVICT_PROBE      32      /* slots looked at to evict one */

struct lbbind;

struct lbbind_stats {
	uint64_t hits, misses;
	uint64_t expired;               /* found expired (lookup or gc) */
	uint64_t evicted;               /* pushed out by a full table */
	uint64_t dropped;               /* lbbind_drop() */
};

/* Creates a table of at most max bindings (>= 1) living ttl_ms (>= 1),
 * hashing with the 16-byte seed (random in production). Returns 0 and sets
 * *out, or -EINVAL / -ENOMEM. */
int lbbind_new(struct lbbind **out, size_t max, uint64_t ttl_ms,
    const uint8_t seed[16]);
void lbbind_free(struct lbbind *b);
/* A new TTL for bindings made or used from now on. */
void lbbind_set_ttl(struct lbbind *b, uint64_t ttl_ms);

/* Looks up the binding of client addr (16 bytes, IPv4 as ::ffff:a.b.c.d)
 * for app (an app key, e.g. lbpick_id() of its name). A live one: its TTL
 * restarts at now, *cand and *hint are set (the candidate's id and where it
 * was in the table last time), returns true. Expired or absent: false. */
bool lbbind_get(struct lbbind *b, uint64_t app, const uint8_t addr[16],
    uint64_t now, uint64_t *cand, uint32_t *hint);
/* Binds (or rebinds) the client to candidate cand (found at index hint),
 * living until now + ttl. Never fails: a full table evicts a binding. */
void lbbind_put(struct lbbind *b, uint64_t app, const uint8_t addr[16],
    uint64_t cand, uint32_t hint, uint64_t now);
/* Removes the client's binding (a dial to its candidate failed). Returns
 * true if there was one. */
bool lbbind_drop(struct lbbind *b, uint64_t app, const uint8_t addr[16]);
/* Removes expired bindings among the next `slots` slots of a sweep that
 * goes round the table over successive calls (SIZE_MAX: one whole round).
 * Returns how many. */
size_t lbbind_gc(struct lbbind *b, uint64_t now, size_t slots);

size_t lbbind_count(const struct lbbind *b);
/* bytes the table holds (its slot array and header) */
size_t lbbind_mem(const struct lbbind *b);
const struct lbbind_stats *lbbind_stats(const struct lbbind *b);

#endif
