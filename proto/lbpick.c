/* lbpick — the load-balancing decision (see lbpick.h). */
#include "lbpick.h"

#include <errno.h>
#include <math.h>
#include <string.h>

typedef unsigned __int128 lbpick_u128;

int
lbpick_region(struct lbpick_region *out, const char *name, size_t len)
{
	memset(out, 0, sizeof(*out));
	size_t i;

	if (len == 0 || len > LBPICK_REGION_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f)
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

/* What the scan needs from client and node, computed once. Unknown parts
 * are sentinels no candidate can equal: countries are at most 0x5a5a,
 * region names are printable ASCII, never 0xff bytes. */
struct lbpick_ctx {
	uint32_t country;
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
	if (lbpick_same(&x->region, &none))
		memset(&x->region, 0xff, sizeof(x->region));
	if (lbpick_same(&x->local, &none))
		memset(&x->local, 0xff, sizeof(x->local));
}

static inline unsigned
lbpick_geo(const struct lbpick_ctx *x, const struct lbpick_cand *c)
{
	unsigned g = 3;

	g = lbpick_same(&c->region, &x->local) ? 2 : g;
	g = lbpick_same(&c->region, &x->region) ? 1 : g;
	g = c->country == x->country ? 0 : g;
	return g;
}

/*
 * score = geo*100 + conns / (soft * weight) = num / den with
 *   den = soft * weight               <= 2^48
 *   num = geo * 100 * den + conns     <  2^57
 * so a < b is num_a * den_b < num_b * den_a, exact in 128 bits.
 *
 * The common path of the scan is floating point (a multiply by the cached
 * reciprocal, no division, no branch that depends on the data): only a
 * candidate whose float score comes within rounding distance of the best so
 * far takes the slow branch, where eligibility is checked and the score
 * compared exactly, ties going to the lower index. Mispredicted branches and
 * divisions, not arithmetic, are what a scan over mixed regions costs.
 *
 * Runs of one region are visited in two sweeps: first those of the client's
 * region and those that may hold its country (tiers 0 and 1), then the
 * others only while their tier alone (100 or 200 or 300) does not exceed
 * the best score found, which is rarely.
 */
static inline uint64_t
lbpick_den(const struct lbpick_cand *c)
{
	return lbpick_clamp(c->soft_limit) * lbpick_clamp(c->weight);
}

static inline double
lbpick_rden(const struct lbpick_cand *c)
{
	if (__builtin_expect(c->den != 0, 1))
		return c->rden;
	return 1.0 / (double)lbpick_den(c);
}

void
lbpick_prepare(struct lbpick_cand *v, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i = j) {
		uint64_t mask = 0;

		for (j = i; j < n && lbpick_same(&v[j].region, &v[i].region); j++)
			mask |= 1ull << (v[j].country % 64);
		for (size_t k = i; k < j; k++) {
			v[k].run_end = (uint32_t)j;
			v[k].cmask = mask;
			v[k].den = lbpick_den(&v[k]);
			v[k].rden = 1.0 / (double)v[k].den;
		}
	}
}

struct lbpick_best {
	long i;
	uint64_t num, den;
	double near;                    /* floats above this cannot win */
};

static inline void
lbpick_run(const struct lbpick_cand *v, size_t from, size_t to,
    const struct lbpick_ctx *x, unsigned rtier, struct lbpick_best *b)
{
	size_t i;

	for (i = from; i < to; i++) {
		const struct lbpick_cand *c = &v[i];
		unsigned geo = c->country == x->country ? 0 : rtier;
		double s = (double)(geo * 100) + (double)c->conns * lbpick_rden(c);
		uint64_t den, num;
		lbpick_u128 l, r;

		if (__builtin_expect(s > b->near, 1))
			continue;
		if (!lbpick_eligible(c))
			continue;
		den = lbpick_den(c);
		num = (uint64_t)geo * 100 * den + c->conns;
		if (b->i >= 0) {
			l = (lbpick_u128)num * b->den;
			r = (lbpick_u128)b->num * den;
			if (l > r || (l == r && (long)i > b->i))
				continue;
		}
		b->i = (long)i;
		b->num = num;
		b->den = den;
		/* the float error is a few ulps; allow far more, the exact
		 * compare decides */
		b->near = s + s * 1e-9 + 1e-12;
	}
}

/* The end of the run at i, and its region's tier (1, 2 or 3) and whether it
 * may hold the client's country. Unprepared: a run of one that may. */
static inline size_t
lbpick_run_at(const struct lbpick_cand *v, size_t i, size_t n,
    const struct lbpick_ctx *x, uint64_t cbit, unsigned *rtier, bool *maybe0)
{
	const struct lbpick_cand *c = &v[i];
	size_t end = c->run_end;

	*rtier = lbpick_same(&c->region, &x->region) ? 1 :
	    lbpick_same(&c->region, &x->local) ? 2 : 3;
	if (end <= i || end > n) {
		*maybe0 = true;
		return i + 1;
	}
	*maybe0 = (c->cmask & cbit) != 0;
	return end;
}

static long
lbpick_scan(const struct lbpick_cand *v, size_t n, const struct lbpick_ctx *x)
{
	struct lbpick_best b = { .i = -1, .near = HUGE_VAL };
	uint64_t cbit = x->country <= 0xffff ? 1ull << (x->country % 64) : 0;
	size_t i, end;
	unsigned rt;
	bool maybe0;

	for (i = 0; i < n; i = end) {
		end = lbpick_run_at(v, i, n, x, cbit, &rt, &maybe0);
		if (rt == 1 || maybe0)
			lbpick_run(v, i, end, x, rt, &b);
	}
	for (i = 0; i < n; i = end) {
		end = lbpick_run_at(v, i, n, x, cbit, &rt, &maybe0);
		if (rt == 1 || maybe0 || (double)(rt * 100) > b.near)
			continue;
		lbpick_run(v, i, end, x, rt, &b);
	}
	return b.i;
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
