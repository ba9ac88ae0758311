/* lbpick — the load-balancing decision (see lbpick.h). */
#include "lbpick.h"

#include <errno.h>
#include <string.h>

typedef unsigned __int128 lbpick_u128;

int
lbpick_region(struct lbpick_region *out, const char *name, size_t len)
{
	memset(out, 0, sizeof(*out));
	if (len == 0 || len > LBPICK_REGION_MAX || memchr(name, 0, len) != NULL)
		return -EINVAL;
	memcpy(out->w, name, len);
	return 0;
}

char *
lbpick_region_name(const struct lbpick_region *r, char *buf)
{
	memcpy(buf, r->w, LBPICK_REGION_MAX);
	buf[LBPICK_REGION_MAX] = '\0';
	return buf;
}

uint16_t
lbpick_country(const char *code)
{
	unsigned a, b;

	if (code == NULL || code[0] == '\0' || code[1] == '\0' || code[2] != '\0')
		return 0;
	a = (unsigned char)code[0] & ~0x20u;
	b = (unsigned char)code[1] & ~0x20u;
	if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z')
		return 0;
	return (uint16_t)(a << 8 | b);
}

char *
lbpick_country_name(uint16_t country, char *buf)
{
	if (country == 0) {
		buf[0] = '\0';
		return buf;
	}
	buf[0] = (char)(country >> 8);
	buf[1] = (char)(country & 0xff);
	buf[2] = '\0';
	return buf;
}

uint64_t
lbpick_id(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ull;
	}
	return h != 0 ? h : 1;
}

long
lbpick_find(const struct lbpick_cand *v, size_t n, uint64_t id, size_t hint)
{
	size_t i;

	if (hint < n && v[hint].id == id)
		return (long)hint;
	for (i = 0; i < n; i++)
		if (v[i].id == id)
			return (long)i;
	return -1;
}

static inline enum lbpick_why
lbpick_why(const struct lbpick_cand *c)
{
	if (c->flags & LBPICK_DELETED)
		return LBPICK_WHY_DELETED;
	if (c->flags & LBPICK_UNHEALTHY)
		return LBPICK_WHY_UNHEALTHY;
	if (c->flags & LBPICK_DOWN)
		return LBPICK_WHY_DOWN;
	if (c->hard_limit != 0 && c->conns >= c->hard_limit)
		return LBPICK_WHY_FULL;
	return LBPICK_WHY_SCORED;
}

bool
lbpick_eligible(const struct lbpick_cand *c)
{
	return (c->flags & (LBPICK_UNHEALTHY | LBPICK_DELETED | LBPICK_DOWN)) == 0 &&
	    (c->hard_limit == 0 || c->conns < c->hard_limit);
}

static inline uint64_t
lbpick_clamp(uint32_t v)
{
	if (v == 0)
		return 1;
	return v > LBPICK_LIMIT_MAX ? LBPICK_LIMIT_MAX : v;
}

static inline bool
lbpick_same(const struct lbpick_region *a, const struct lbpick_region *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1];
}

/* What the scan needs from client and node, computed once. */
struct lbpick_ctx {
	uint32_t country;               /* 0x10000: never matches */
	bool has_region, has_local;
	struct lbpick_region region, local;
};

static void
lbpick_ctx_init(struct lbpick_ctx *x, const struct lbpick_where *client,
    const struct lbpick_where *local)
{
	static const struct lbpick_region none;

	x->country = client != NULL && client->country != 0 ? client->country :
	    0x10000u;
	x->region = client != NULL ? client->region : none;
	x->local = local != NULL ? local->region : none;
	x->has_region = !lbpick_same(&x->region, &none);
	x->has_local = !lbpick_same(&x->local, &none);
}

static inline unsigned
lbpick_geo(const struct lbpick_ctx *x, const struct lbpick_cand *c)
{
	if (c->country == x->country)
		return 0;
	if (x->has_region && lbpick_same(&c->region, &x->region))
		return 1;
	if (x->has_local && lbpick_same(&c->region, &x->local))
		return 2;
	return 3;
}

/*
 * score = geo*100 + conns / (soft * weight) = num / den with
 *   den = soft * weight               <= 2^48
 *   num = geo * 100 * den + conns     <  2^57
 * so a < b is num_a * den_b < num_b * den_a, exact in 128 bits.
 *
 * A candidate whose tier alone reaches the best score cannot beat it
 * (geo * 100 >= best, ties go to the earlier one), so once a best is known
 * most candidates of worse tiers cost one compare: `bar` is the lowest tier
 * that is skipped, ceil(num_best / (100 * den_best)).
 */
static long
lbpick_scan(const struct lbpick_cand *v, size_t n, const struct lbpick_ctx *x)
{
	uint64_t best_num = 0, best_den = 1;
	unsigned bar = 4;
	long best = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct lbpick_cand *c = &v[i];
		uint64_t den, num;
		unsigned geo;

		if (!lbpick_eligible(c))
			continue;
		geo = lbpick_geo(x, c);
		if (geo >= bar)
			continue;
		den = lbpick_clamp(c->soft_limit) * lbpick_clamp(c->weight);
		num = (uint64_t)geo * 100 * den + c->conns;
		if (best >= 0 && (lbpick_u128)num * best_den >=
		    (lbpick_u128)best_num * den)
			continue;
		best = (long)i;
		best_num = num;
		best_den = den;
		bar = (unsigned)((num + 100 * den - 1) / (100 * den));
	}
	return best;
}

long
lbpick_pick(const struct lbpick_cand *v, size_t n,
    const struct lbpick_where *client, const struct lbpick_where *local,
    long bound)
{
	struct lbpick_ctx x;

	if (bound >= 0 && (size_t)bound < n && lbpick_eligible(&v[bound]))
		return bound;
	lbpick_ctx_init(&x, client, local);
	return lbpick_scan(v, n, &x);
}

long
lbpick_explain(const struct lbpick_cand *v, size_t n,
    const struct lbpick_where *client, const struct lbpick_where *local,
    long bound, struct lbpick_score *out)
{
	struct lbpick_ctx x;
	size_t i;

	lbpick_ctx_init(&x, client, local);
	for (i = 0; i < n; i++) {
		const struct lbpick_cand *c = &v[i];
		struct lbpick_score *s = &out[i];

		s->why = lbpick_why(c);
		s->geo = lbpick_geo(&x, c);
		s->load = (double)c->conns / (double)lbpick_clamp(c->soft_limit);
		s->score = s->geo * 100.0 + s->load / (double)lbpick_clamp(c->weight);
	}
	return lbpick_pick(v, n, client, local, bound);
}
