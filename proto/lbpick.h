/* lbpick — the load-balancing decision: which of an app's candidates serves
 * a new connection. A pure function over arrays the caller owns: no I/O, no
 * clock, no allocation, no globals. The acceptor runs it per connection on
 * its copy of the route table (with its own connection counts and affinity
 * bindings); the router runs the same code to explain a decision.
 *
 * Eligible: not unhealthy (the operator's `healthy` = 0), not deleted, not
 * put out by this node (failed health checks or dials), and under its hard
 * limit (current_connections < hard_limit; hard_limit 0 = no limit).
 *
 * 1. A bound candidate (the client's affinity binding, found by the caller)
 *    wins while it is eligible.
 * 2. Otherwise the eligible candidate with the lowest
 *        score = geo * 100 + (current_connections / soft_limit) / weight
 *    wins (soft_limit or weight 0 count as 1), where geo is
 *        0  the candidate's country is the client's,
 *        1  its region is the client's region,
 *        2  its region is this node's region (also when the client has no
 *           location),
 *        3  otherwise.
 *    A candidate or client without a country never gets tier 0, without a
 *    region never tier 1. Scores are compared exactly (as fractions, not in
 *    floating point), and a tie goes to the candidate earlier in the array.
 *
 * Callers list an app's candidates sorted by region, then id (so a tie goes
 * to the lowest id) and run lbpick_prepare() on the array: the decision then
 * skips whole regions that cannot win, so its cost follows the candidates of
 * the client's country and region rather than the whole table. Within a
 * region every candidate is read (16 bytes of it), in vector registers
 * where the CPU has AVX2: about 1 ns a candidate, bounded by reading them.
 */
#ifndef WARREN_LBPICK_H
#define WARREN_LBPICK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LBPICK_REGION_MAX       16      /* bytes of a region name */
#define LBPICK_LIMIT_MAX        (1u << 24) /* weight and soft_limit are capped
                                         * here (exact comparison fits
                                         * 128 bits) */

/* a region name as a fixed key, NUL-padded; all zero = no region */
struct lbpick_region {
	uint64_t w[2];
};

/* candidate flags */
#define LBPICK_UNHEALTHY        0x01    /* backends.healthy = 0 */
#define LBPICK_DELETED          0x02    /* backends.deleted = 1 */
#define LBPICK_DOWN             0x04    /* out on this node: health check or
                                         * dial back-off */

struct lbpick_cand {
	uint64_t id;                    /* stable identity (lbpick_id() of the
	                                 * backend id or replica), for bindings */
	struct lbpick_region region;
	uint32_t weight;                /* 0 counts as 1 */
	uint32_t soft_limit;            /* 0 counts as 1 */
	uint32_t hard_limit;            /* 0 = no limit */
	/* Filled by lbpick_prepare(), which callers run after changing any
	 * candidate's region, country, weight or soft_limit (conns and flags
	 * change freely between decisions). All zero (never prepared) gives
	 * the same decisions, only slower; stale gives wrong ones. */
	uint32_t run_end;               /* one past the last of the run of
	                                 * consecutive candidates of its region */
	uint64_t cmask;                 /* a bit per country (code % 64) found
	                                 * in the run */
	/* what the decision reads of every candidate, in 16 bytes together */
	uint32_t conns;                 /* current_connections on this node */
	uint16_t country;               /* lbpick_country(); 0 = none */
	uint8_t flags;                  /* LBPICK_* */
	uint8_t small;                  /* prepared: 1 when every soft_limit *
	                                 * weight of the run is at most 2^16 */
	double rden;                    /* prepared: 1 / (soft_limit * weight),
	                                 * capped, 0 as 1 */
};

/* where the client is, and where this node is; zero fields = unknown */
struct lbpick_where {
	uint16_t country;
	struct lbpick_region region;
};

/* why a candidate was or was not chosen (lbpick_explain) */
enum lbpick_why {
	LBPICK_WHY_SCORED = 0,          /* eligible, scored */
	LBPICK_WHY_UNHEALTHY,
	LBPICK_WHY_DELETED,
	LBPICK_WHY_DOWN,
	LBPICK_WHY_FULL,                /* conns >= hard_limit */
};

struct lbpick_score {
	enum lbpick_why why;
	unsigned geo;                   /* 0..3 */
	double load;                    /* conns / soft_limit */
	double score;                   /* geo * 100 + load / weight */
};

/* Sets *out from a region name of up to LBPICK_REGION_MAX printable ASCII
 * bytes (no spaces). Returns 0, or -EINVAL (empty, too long or another
 * byte; *out is then all zero, "no region"). */
int lbpick_region(struct lbpick_region *out, const char *name, size_t len);
/* Writes the region's name into buf[LBPICK_REGION_MAX + 1]; returns buf. */
char *lbpick_region_name(const struct lbpick_region *r, char *buf);
/* A two-letter ISO 3166-1 code (either case) as a key; 0 for anything else. */
uint16_t lbpick_country(const char *code);
/* Writes the code (upper case) into buf[3]; "" for 0. Returns buf. */
char *lbpick_country_name(uint16_t country, char *buf);

/* A candidate identity from its name (backend id, replica name): 64-bit
 * FNV-1a; never 0. */
uint64_t lbpick_id(const char *name, size_t len);
/* The index of the candidate with this id: v[hint] when it matches (a
 * binding remembers where its candidate was), else the first in v[n]; -1
 * when none has it. */
long lbpick_find(const struct lbpick_cand *v, size_t n, uint64_t id,
    size_t hint);

/* Fills the cached fields of v[n] (see struct lbpick_cand). */
void lbpick_prepare(struct lbpick_cand *v, size_t n);

/* True if c may take a new connection (see the top of this file). */
bool lbpick_eligible(const struct lbpick_cand *c);

/* The decision over v[n] for a client at *client on a node at *local.
 * bound: the index of the client's affinity binding, or -1. Returns the
 * index of the chosen candidate, or -1 when none is eligible. */
long lbpick_pick(const struct lbpick_cand *v, size_t n,
    const struct lbpick_where *client, const struct lbpick_where *local,
    long bound);

/* The same decision, also filling out[n] with each candidate's parts
 * (geo, load and score are set for every candidate, eligible or not). */
long lbpick_explain(const struct lbpick_cand *v, size_t n,
    const struct lbpick_where *client, const struct lbpick_where *local,
    long bound, struct lbpick_score *out);

#endif
