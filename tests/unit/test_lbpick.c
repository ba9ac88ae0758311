/* lbpick: the decision, on edgeProxy's own scoring cases, affinity, ties,
 * and against a plain reference over random tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbpick.h"

static struct lbpick_cand
cand(const char *region, const char *country, uint32_t weight,
    uint32_t soft, uint32_t hard, uint32_t conns)
{
	struct lbpick_cand c;

	memset(&c, 0, sizeof(c));
	if (region != NULL)
		assert_int_equal(lbpick_region(&c.region, region, strlen(region)), 0);
	c.country = lbpick_country(country);
	c.weight = weight;
	c.soft_limit = soft;
	c.hard_limit = hard;
	c.conns = conns;
	return c;
}

static struct lbpick_where
where(const char *region, const char *country)
{
	struct lbpick_where w;

	memset(&w, 0, sizeof(w));
	if (region != NULL)
		assert_int_equal(lbpick_region(&w.region, region, strlen(region)), 0);
	w.country = lbpick_country(country);
	return w;
}

static long
pick(const struct lbpick_cand *v, size_t n, const char *creg,
    const char *ccountry, const char *local)
{
	struct lbpick_where c = where(creg, ccountry), l = where(local, NULL);
	struct lbpick_score s[16];
	long a, b;

	a = lbpick_pick(v, n, creg || ccountry ? &c : NULL, &l, -1);
	assert_true(n <= 16);
	b = lbpick_explain(v, n, creg || ccountry ? &c : NULL, &l, -1, s);
	assert_int_equal(a, b);
	return a;
}

static void
test_keys(void **state)
{
	struct lbpick_region r;
	char buf[LBPICK_REGION_MAX + 1];

	assert_int_equal(lbpick_country("BR"), lbpick_country("br"));
	assert_int_not_equal(lbpick_country("BR"), 0);
	assert_int_equal(lbpick_country(""), 0);
	assert_int_equal(lbpick_country("B"), 0);
	assert_int_equal(lbpick_country("BRA"), 0);
	assert_int_equal(lbpick_country("B1"), 0);
	assert_int_equal(lbpick_country(NULL), 0);
	assert_string_equal(lbpick_country_name(lbpick_country("de"), buf), "DE");
	assert_string_equal(lbpick_country_name(0, buf), "");
	assert_int_equal(lbpick_region(&r, "ap-southeast-2", 14), 0);
	assert_string_equal(lbpick_region_name(&r, buf), "ap-southeast-2");
	assert_int_equal(lbpick_region(&r, "0123456789abcdef", 16), 0);
	assert_string_equal(lbpick_region_name(&r, buf), "0123456789abcdef");
	assert_int_equal(lbpick_region(&r, "0123456789abcdefg", 17), -EINVAL);
	assert_int_equal(r.w[0] | r.w[1], 0);
	assert_int_equal(lbpick_region(&r, "", 0), -EINVAL);
}

/* edgeProxy: same country beats same region */
static void
test_country_over_region(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", "AR", 1, 100, 0, 0),
		cand("sa", "BR", 1, 100, 0, 0),
		cand("us", "US", 1, 100, 0, 0),
	};

	assert_int_equal(pick(v, 3, "sa", "BR", "us"), 1);
	/* without a country the candidate still gets the region tier */
	v[1].country = 0;
	assert_int_equal(pick(v, 3, "sa", "BR", "us"), 0);
}

/* edgeProxy: same region beats the local POP's region */
static void
test_region_over_local(void **state)
{
	struct lbpick_cand v[] = {
		cand("us", "US", 1, 100, 0, 0),
		cand("eu", "DE", 1, 100, 0, 0),
	};

	assert_int_equal(pick(v, 2, "eu", "FR", "us"), 1);
}

/* edgeProxy: the local POP's region when the client has no location */
static void
test_local_when_unknown(void **state)
{
	struct lbpick_cand v[] = {
		cand("eu", "DE", 1, 100, 0, 0),
		cand("us", "US", 1, 100, 0, 0),
		cand("ap", "JP", 1, 100, 0, 0),
	};

	assert_int_equal(pick(v, 3, NULL, NULL, "us"), 1);
	assert_int_equal(pick(v, 3, NULL, NULL, "ap"), 2);
	/* a client country with no region still reaches tier 0 */
	assert_int_equal(pick(v, 3, NULL, "JP", "us"), 2);
}

/* edgeProxy: any candidate as the last resort */
static void
test_any_last_resort(void **state)
{
	struct lbpick_cand v[] = {
		cand("eu", "DE", 1, 100, 0, 7),
		cand("ap", "JP", 1, 100, 0, 3),
	};
	struct lbpick_where c = where("sa", "BR"), l = where("us", NULL);
	struct lbpick_score s[2];

	assert_int_equal(pick(v, 2, "sa", "BR", "us"), 1);      /* less loaded */
	assert_int_equal(lbpick_explain(v, 2, &c, &l, -1, s), 1);
	assert_int_equal(s[0].geo, 3);
	assert_int_equal(s[1].geo, 3);
	assert_true(s[1].score < s[0].score);
	/* no local region known: still chosen, tier 3 */
	assert_int_equal(lbpick_pick(v, 2, &c, NULL, -1), 1);
	assert_int_equal(lbpick_pick(v, 2, NULL, NULL, -1), 1);
}

/* edgeProxy: hard limit and unhealthy are skipped (and deleted, down) */
static void
test_skipped(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", "BR", 1, 10, 20, 20),        /* at hard limit */
		cand("sa", "BR", 1, 10, 0, 0),
		cand("sa", "BR", 1, 10, 0, 0),
		cand("sa", "BR", 1, 10, 0, 0),
		cand("us", "US", 1, 10, 0, 0),
	};
	struct lbpick_where c = where("sa", "BR"), l = where("us", NULL);
	struct lbpick_score s[5];

	v[1].flags = LBPICK_UNHEALTHY;
	v[2].flags = LBPICK_DELETED;
	v[3].flags = LBPICK_DOWN;
	assert_int_equal(pick(v, 5, "sa", "BR", "us"), 4);
	assert_int_equal(lbpick_explain(v, 5, &c, &l, -1, s), 4);
	assert_int_equal(s[0].why, LBPICK_WHY_FULL);
	assert_int_equal(s[1].why, LBPICK_WHY_UNHEALTHY);
	assert_int_equal(s[2].why, LBPICK_WHY_DELETED);
	assert_int_equal(s[3].why, LBPICK_WHY_DOWN);
	assert_int_equal(s[4].why, LBPICK_WHY_SCORED);
	assert_int_equal(s[0].geo, 0);
	/* one under the hard limit is eligible again */
	v[0].conns = 19;
	assert_int_equal(pick(v, 5, "sa", "BR", "us"), 0);
}

/* edgeProxy: all at hard limit -> none */
static void
test_all_full(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", "BR", 1, 10, 5, 5),
		cand("us", "US", 1, 10, 1, 9),
	};

	assert_int_equal(pick(v, 2, "sa", "BR", "us"), -1);
	assert_int_equal(pick(v, 0, "sa", "BR", "us"), -1);
	assert_int_equal(lbpick_pick(NULL, 0, NULL, NULL, -1), -1);
}

/* edgeProxy: lower load wins */
static void
test_lower_load(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", "BR", 1, 100, 0, 50),
		cand("sa", "BR", 1, 100, 0, 10),
		cand("sa", "BR", 1, 100, 0, 30),
	};

	assert_int_equal(pick(v, 3, "sa", "BR", "sa"), 1);
	/* load is relative to the soft limit: 30/1000 < 10/100 */
	v[2].soft_limit = 1000;
	assert_int_equal(pick(v, 3, "sa", "BR", "sa"), 2);
}

/* edgeProxy: higher weight wins at equal load */
static void
test_weight(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", "BR", 1, 100, 0, 10),
		cand("sa", "BR", 4, 100, 0, 10),
		cand("sa", "BR", 2, 100, 0, 10),
	};

	assert_int_equal(pick(v, 3, "sa", "BR", "sa"), 1);
	/* weight scales the load: 30/4 > 10/2 */
	v[1].conns = 30;
	assert_int_equal(pick(v, 3, "sa", "BR", "sa"), 2);
}

/* edgeProxy: zero weight and zero soft limit count as one */
static void
test_zero_counts_as_one(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", "BR", 0, 0, 0, 3),           /* 3/1/1 = 3 */
		cand("sa", "BR", 1, 1, 0, 2),           /* 2/1/1 = 2 */
	};
	struct lbpick_where c = where("sa", "BR"), l = where("sa", NULL);
	struct lbpick_score s[2];

	assert_int_equal(lbpick_explain(v, 2, &c, &l, -1, s), 1);
	assert_true(s[0].score == 3.0);
	assert_true(s[1].score == 2.0);
	v[1].conns = 3;                         /* equal: the earlier one */
	assert_int_equal(pick(v, 2, "sa", "BR", "sa"), 0);
	v[0].conns = 4;
	assert_int_equal(pick(v, 2, "sa", "BR", "sa"), 1);
}

/* edgeProxy: zero hard limit is unlimited */
static void
test_zero_hard_unlimited(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", "BR", 1, 10, 0, 4000000000u),
	};

	assert_int_equal(pick(v, 1, "sa", "BR", "sa"), 0);
	v[0].hard_limit = 4000000000u;
	assert_int_equal(pick(v, 1, "sa", "BR", "sa"), -1);
}

/* edgeProxy: geo beats load (at loads under 100 x soft_limit x weight) */
static void
test_geo_over_load(void **state)
{
	struct lbpick_cand v[] = {
		cand("us", "US", 10, 100, 0, 0),        /* idle, other region */
		cand("sa", "BR", 1, 100, 0, 99),        /* busy, client's country */
	};

	assert_int_equal(pick(v, 2, "sa", "BR", "us"), 1);
	/* the formula is kept as it is: a load of 100 soft limits crosses a tier */
	v[1].conns = 10000;
	assert_int_equal(pick(v, 2, "sa", "BR", "us"), 1);      /* 100 vs 200 */
	v[1].conns = 20001;                                     /* 200.01 */
	assert_int_equal(pick(v, 2, "sa", "BR", "us"), 0);
}

static void
test_affinity(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", "BR", 1, 100, 10, 0),
		cand("us", "US", 1, 100, 0, 0),
	};
	struct lbpick_where c = where("sa", "BR"), l = where("sa", NULL);

	/* the binding wins over a better score */
	assert_int_equal(lbpick_pick(v, 2, &c, &l, 1), 1);
	/* ... while its candidate is eligible */
	v[1].flags = LBPICK_DOWN;
	assert_int_equal(lbpick_pick(v, 2, &c, &l, 1), 0);
	v[1].flags = LBPICK_UNHEALTHY;
	assert_int_equal(lbpick_pick(v, 2, &c, &l, 1), 0);
	v[1].flags = 0;
	v[1].hard_limit = 3;
	v[1].conns = 3;
	assert_int_equal(lbpick_pick(v, 2, &c, &l, 1), 0);
	/* a full candidate 0 with everything else out: none */
	v[0].conns = 10;
	assert_int_equal(lbpick_pick(v, 2, &c, &l, 0), -1);
	/* out of range bound: plain decision */
	v[0].conns = 0;
	assert_int_equal(lbpick_pick(v, 2, &c, &l, 2), 0);
	assert_int_equal(lbpick_pick(v, 2, &c, &l, 99), 0);
}

/* equal scores written differently (1/3 and 2/6) tie exactly: the earlier
 * candidate wins, whatever the rounding of 1/3 in floating point */
static void
test_exact_ties(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", NULL, 3, 1, 0, 1),           /* 1/1/3 */
		cand("sa", NULL, 1, 6, 0, 2),           /* 2/6/1 */
		cand("sa", NULL, 2, 3, 0, 2),           /* 2/3/2 */
	};

	assert_int_equal(pick(v, 3, "sa", NULL, "sa"), 0);
	v[0].conns = 2;
	assert_int_equal(pick(v, 3, "sa", NULL, "sa"), 1);
	/* the same table in another order: the earlier in the array again */
	struct lbpick_cand w[] = { v[2], v[1] };
	assert_int_equal(pick(w, 2, "sa", NULL, "sa"), 0);
}

/* limits past LBPICK_LIMIT_MAX are capped, never overflow */
static void
test_big_limits(void **state)
{
	struct lbpick_cand v[] = {
		cand("sa", "BR", UINT32_MAX, UINT32_MAX, 0, UINT32_MAX),
		cand("sa", "BR", UINT32_MAX, UINT32_MAX, 0, UINT32_MAX - 1),
		cand("us", "US", 1, 1, 0, 0),
	};

	assert_int_equal(pick(v, 3, "us", "US", "sa"), 2);
	assert_int_equal(pick(v, 3, "sa", "BR", "sa"), 1);
}

/* the plain reference: every eligible candidate scored in long double
 * fractions compared by cross-multiplication, no shortcuts */
static long
ref_pick(const struct lbpick_cand *v, size_t n, const struct lbpick_where *c,
    const struct lbpick_where *l)
{
	unsigned __int128 bn = 0, bd = 1;
	long best = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct lbpick_cand *x = &v[i];
		uint64_t s = x->soft_limit ? x->soft_limit : 1;
		uint64_t w = x->weight ? x->weight : 1;
		unsigned __int128 num, den;
		unsigned geo;

		if (x->flags || (x->hard_limit && x->conns >= x->hard_limit))
			continue;
		if (x->country && x->country == c->country)
			geo = 0;
		else if ((c->region.w[0] || c->region.w[1]) &&
		    !memcmp(&x->region, &c->region, sizeof(x->region)))
			geo = 1;
		else if ((l->region.w[0] || l->region.w[1]) &&
		    !memcmp(&x->region, &l->region, sizeof(x->region)))
			geo = 2;
		else
			geo = 3;
		den = (unsigned __int128)s * w;
		num = (unsigned __int128)geo * 100 * den + x->conns;
		if (best < 0 || num * bd < bn * den) {
			best = (long)i;
			bn = num;
			bd = den;
		}
	}
	return best;
}

static int
by_region(const void *a, const void *b)
{
	const struct lbpick_cand *x = a, *y = b;

	return memcmp(&x->region, &y->region, sizeof(x->region));
}

static void
test_random_against_reference(void **state)
{
	static const char *regions[] = { "sa", "us", "eu", "ap" };
	static const char *countries[] = { "BR", "AR", "US", "CA", "DE", "FR",
	    "JP", "AU", NULL };
	struct lbpick_cand v[64];
	unsigned seed = 12345;
	int round;

	for (round = 0; round < 30000; round++) {
		struct lbpick_where c, l;
		size_t n = (size_t)(rand_r(&seed) % 64), i;
		long got;

		for (i = 0; i < n; i++) {
			v[i] = cand(rand_r(&seed) % 20 ? regions[rand_r(&seed) % 4] : NULL,
			    countries[rand_r(&seed) % 9],
			    (uint32_t)(rand_r(&seed) % 5),
			    (uint32_t)(rand_r(&seed) % 4),
			    (uint32_t)(rand_r(&seed) % 12),
			    (uint32_t)(rand_r(&seed) % (round % 2 ? 1000 : 12)));
			v[i].flags = rand_r(&seed) % 10 == 0 ? LBPICK_DOWN : 0;
		}
		/* as callers keep them (by region, prepared), prepared in any
		 * order, or never prepared: the same decisions */
		if (round % 3 == 0)
			qsort(v, n, sizeof(v[0]), by_region);
		if (round % 3 != 2)
			lbpick_prepare(v, n);
		c = where(rand_r(&seed) % 5 ? regions[rand_r(&seed) % 4] : NULL,
		    countries[rand_r(&seed) % 9]);
		l = where(regions[rand_r(&seed) % 4], NULL);
		got = lbpick_pick(v, n, &c, &l, -1);
		assert_int_equal(got, ref_pick(v, n, &c, &l));
	}
}

/* The formula as the issue states it, plainly: score = geo * 100 +
 * (conns / soft_limit) / weight, soft_limit and weight 0 counting as 1 and
 * capped at LBPICK_LIMIT_MAX, compared exactly as fractions, a tie to the
 * earlier candidate; the bound candidate while it is eligible. */
static uint64_t
ref_limit(uint32_t v)
{
	return v == 0 ? 1 : v > LBPICK_LIMIT_MAX ? LBPICK_LIMIT_MAX : v;
}

static long
ref_formula(const struct lbpick_cand *v, size_t n, const struct lbpick_where *c,
    const struct lbpick_where *l, long bound)
{
	static const struct lbpick_region none;
	unsigned __int128 bn = 0, bd = 1;
	long best = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct lbpick_cand *x = &v[i];
		bool eligible = !(x->flags & (LBPICK_UNHEALTHY | LBPICK_DELETED |
		    LBPICK_DOWN)) && (x->hard_limit == 0 || x->conns < x->hard_limit);

		if ((long)i == bound && eligible)
			return bound;
	}
	for (i = 0; i < n; i++) {
		const struct lbpick_cand *x = &v[i];
		unsigned __int128 num, den;
		unsigned geo;

		if (x->flags & (LBPICK_UNHEALTHY | LBPICK_DELETED | LBPICK_DOWN))
			continue;
		if (x->hard_limit != 0 && x->conns >= x->hard_limit)
			continue;
		if (c != NULL && c->country != 0 && x->country == c->country)
			geo = 0;
		else if (c != NULL && memcmp(&c->region, &none, sizeof(none)) != 0 &&
		    memcmp(&x->region, &c->region, sizeof(none)) == 0)
			geo = 1;
		else if (l != NULL && memcmp(&l->region, &none, sizeof(none)) != 0 &&
		    memcmp(&x->region, &l->region, sizeof(none)) == 0)
			geo = 2;
		else
			geo = 3;
		/* geo * 100 + conns / (soft * weight) */
		den = (unsigned __int128)ref_limit(x->soft_limit) * ref_limit(x->weight);
		num = geo * 100 * den + x->conns;
		if (best < 0 || num * bd < bn * den) {
			best = (long)i;
			bn = num;
			bd = den;
		}
	}
	return best;
}

/* callers keep candidates by region, then id */
static int
by_region_id(const void *a, const void *b)
{
	const struct lbpick_cand *x = a, *y = b;
	int c = memcmp(&x->region, &y->region, sizeof(x->region));

	return c != 0 ? c : (x->id > y->id) - (x->id < y->id);
}

static uint32_t
rnd32(unsigned *seed)
{
	return (uint32_t)rand_r(seed) << 16 ^ (uint32_t)rand_r(seed);
}

/* Large tables (up to 1,500, long runs of one region, as in production)
 * whose loads make the fast paths work: idle (every load ties), loads
 * equalised per weight (ties written differently, k*c / (k*s*w)), random,
 * huge limits and counts (past the caps), and scores that differ by less
 * than a double can tell (c*d + 1 over d, d near 2^48, or dens near 2^16);
 * some candidates out or full. Against the plain formula, for clients
 * anywhere, nowhere, or with an affinity binding. */
static void
test_random_large_against_formula(void **state)
{
	static const char *regions[] = { "ap", "eu", "sa", "us", "af" };
	static const char *countries[] = { "JP", "DE", "BR", "US", "ZA", "FR",
	    "CA", NULL };
	size_t cap = 1500;
	struct lbpick_cand *v = calloc(cap, sizeof(*v));
	unsigned seed = 4242;
	int round;

	assert_non_null(v);
	for (round = 0; round < 1500; round++) {
		struct lbpick_where c, l;
		size_t n = 1 + rnd32(&seed) % (round % 10 == 0 ? cap : 300), i;
		unsigned mode = (unsigned)round % 6;
		unsigned nreg = 1 + rnd32(&seed) % 5;
		unsigned home = rnd32(&seed) % 5, pct = rnd32(&seed) % 101;
		long bound = -1, got, want;

		for (i = 0; i < n; i++) {
			unsigned r = rnd32(&seed) % 100 < pct ? home :
			    rnd32(&seed) % nreg;
			uint32_t w = 1 + rnd32(&seed) % 4, s = 50 + rnd32(&seed) % 150;
			uint32_t k;

			memset(&v[i], 0, sizeof(v[i]));
			v[i].id = rnd32(&seed);
			if (rnd32(&seed) % 50 != 0)
				assert_int_equal(lbpick_region(&v[i].region,
				    regions[r], 2), 0);
			v[i].country = lbpick_country(countries[(r + rnd32(&seed) % 3) % 8]);
			switch (mode) {
			case 0:         /* idle */
				break;
			case 1:         /* loads equalised per weight */
				k = 1 + rnd32(&seed) % 3;
				w = 1 + rnd32(&seed) % 4;
				s = 100;
				v[i].conns = k * 7 * w * (rnd32(&seed) % 2 + 1);
				v[i].soft_limit = s * (v[i].conns % 2 ? 1 : 2);
				if (v[i].soft_limit == 200)
					v[i].conns *= 2;
				break;
			case 2:         /* random */
				v[i].conns = rnd32(&seed) % 400;
				break;
			case 3:         /* huge limits and counts */
				w = rnd32(&seed) % 3 ? 1 + rnd32(&seed) % 64 : rnd32(&seed);
				s = rnd32(&seed) % 3 ? 1 + rnd32(&seed) % (1u << 26) : 0;
				v[i].conns = rnd32(&seed) % 3 ? rnd32(&seed) : UINT32_MAX - rnd32(&seed) % 3;
				break;
			case 4:         /* near ties with dens near 2^48 */
				w = LBPICK_LIMIT_MAX - rnd32(&seed) % 3;
				s = LBPICK_LIMIT_MAX - rnd32(&seed) % 3;
				v[i].conns = 1000 + rnd32(&seed) % 3;
				break;
			default:        /* near ties with dens near 2^16 */
				w = 1 + rnd32(&seed) % 2;
				s = 32768 - rnd32(&seed) % 4;
				v[i].conns = (uint32_t)(w * s) + rnd32(&seed) % 3 - 1 +
				    (rnd32(&seed) % 4 == 0 ? (uint32_t)(w * s) * 100 : 0);
				break;
			}
			v[i].weight = w;
			if (mode != 1)
				v[i].soft_limit = s;
			if (rnd32(&seed) % 8 == 0)
				v[i].weight = 0;
			if (rnd32(&seed) % 30 == 0)
				v[i].flags = 1u << (rnd32(&seed) % 3);
			if (rnd32(&seed) % 10 == 0)
				v[i].hard_limit = v[i].conns + (rnd32(&seed) % 2);
		}
		/* as callers keep them, mostly; prepared unsorted; never */
		if (round % 7 != 6)
			qsort(v, n, sizeof(v[0]), by_region_id);
		if (round % 11 != 10)
			lbpick_prepare(v, n);
		c = where(rnd32(&seed) % 4 ? regions[rnd32(&seed) % 5] : NULL,
		    countries[rnd32(&seed) % 8]);
		l = where(regions[rnd32(&seed) % 5], NULL);
		if (round % 5 == 0)
			bound = (long)(rnd32(&seed) % (n + 2)) - 1;
		got = lbpick_pick(v, n, &c, &l, bound);
		want = ref_formula(v, n, &c, &l, bound);
		if (got != want)
			print_error("round %d mode %u n %zu: got %ld want %ld\n",
			    round, mode, n, got, want);
		assert_int_equal(got, want);
		/* a client without any location */
		assert_int_equal(lbpick_pick(v, n, NULL, &l, -1),
		    ref_formula(v, n, NULL, &l, -1));
	}
	free(v);
}

/* An equal score in an earlier region, found after the later one: the
 * earlier candidate still wins the tie (the client's region is scanned
 * first, the node's region after). */
static void
test_tie_across_regions(void **state)
{
	struct lbpick_cand v[20];
	size_t i;

	for (i = 0; i < 10; i++)        /* ap, the node's: tier 2 */
		v[i] = cand("ap", "JP", 1, 1, 0, 7);
	for (i = 10; i < 20; i++)       /* us, the client's: 100 + 100 */
		v[i] = cand("us", "US", 1, 1, 0, 100 + (i != 15));
	v[3].conns = 0;                 /* 200 + 0 */
	lbpick_prepare(v, 20);
	assert_int_equal(pick(v, 16, "us", NULL, "ap"), 3);
	assert_int_equal(lbpick_pick(v, 20, &(struct lbpick_where){ 0,
	    v[10].region }, &(struct lbpick_where){ 0, v[0].region }, -1), 3);
	v[3].conns = 1;                 /* now 201: the client's region */
	assert_int_equal(lbpick_pick(v, 20, &(struct lbpick_where){ 0,
	    v[10].region }, &(struct lbpick_where){ 0, v[0].region }, -1), 15);
}

/* Scores whose doubles come out in the wrong order: c is lower than b by
 * 1 / (den_b * den_c), but b's double (rounded once) is below c's (through
 * a rounded reciprocal). The exact compare must still see c, alone, after a
 * block of 8, or among equal scores. */
static void
test_float_inversion(void **state)
{
	static const uint32_t cases[][5] = {
		/* b: conns, soft, weight; c: conns, soft */
		{ 1701339330, 1829381, 4967, 2557067, 13656817 },
		{ 3608469705u, 8034938, 659, 9938297, 14583335 },
		{ 3943420189u, 3503537, 111968, 108506, 10793973 },
	};
	struct lbpick_where c = where("eu", "DE"), l = where("us", NULL);
	struct lbpick_cand v[20];
	size_t k, i;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		for (i = 0; i < 20; i++)
			v[i] = cand("eu", "DE", cases[k][2], cases[k][1], 0, cases[k][0]);
		v[1] = cand("eu", "DE", 1, cases[k][4], 0, cases[k][3]);
		lbpick_prepare(v, 2);
		assert_int_equal(lbpick_pick(v, 2, &c, &l, -1), 1);
		assert_int_equal(ref_formula(v, 2, &c, &l, -1), 1);
		v[1] = v[0];
		v[11] = cand("eu", "DE", 1, cases[k][4], 0, cases[k][3]);
		lbpick_prepare(v, 20);
		assert_int_equal(lbpick_pick(v, 20, &c, &l, -1), 11);
		assert_int_equal(ref_formula(v, 20, &c, &l, -1), 11);
	}
}

/* Dens near 2^16, where the scan trusts doubles to order scores exactly:
 * neighbours 1/(d*(d+1)) apart, and equal scores written differently, in
 * runs long enough for every path (blocks of 8 and the tail). */
static void
test_small_dens_exact(void **state)
{
	struct lbpick_cand v[40];
	struct lbpick_where c = where("eu", NULL), l = where("us", NULL);
	unsigned seed = 99;
	size_t i;
	int round;

	for (round = 0; round < 2000; round++) {
		for (i = 0; i < 40; i++) {
			/* and past 2^16, where doubles no longer tell: (d + 1) / d
			 * and (d + 2) / (d + 1) are 2^-34 apart at 2^17 */
			uint32_t d = (round % 2 ? 65536 : 131072) - rnd32(&seed) % 4;

			v[i] = cand("eu", NULL, 1, d, 0, 0);
			switch (rnd32(&seed) % 4) {
			case 0:         /* (d +- 1) / d */
				v[i].conns = d - 1 + rnd32(&seed) % 3;
				break;
			case 1:         /* 1 exactly, as d / d or 2d / 2d */
				v[i].conns = d / 2;
				v[i].soft_limit = d / 2;
				break;
			case 2:         /* just under 2^15 */
				v[i].conns = (uint32_t)((1ull << 31) - d + rnd32(&seed) % 3);
				break;
			default:
				v[i].conns = d;
				break;
			}
		}
		lbpick_prepare(v, 40);
		assert_int_equal(lbpick_pick(v, 40, &c, &l, -1),
		    ref_formula(v, 40, &c, &l, -1));
		assert_int_equal(lbpick_pick(v, 37, &c, &l, -1),
		    ref_formula(v, 37, &c, &l, -1));
	}
	/* small dens but big scores, where an ulp is coarser than the gap
	 * between scores: X / 1 then d * X / d, an exact tie whose double may
	 * come out an ulp low; the earlier candidate keeps it */
	for (round = 0; round < 20000; round++) {
		uint32_t d = 2 + rnd32(&seed) % 60;
		uint32_t x = (1u << 15) + rnd32(&seed) % (UINT32_MAX / d - (1u << 15));

		v[0] = cand("eu", NULL, 1, 1, 0, x);
		for (i = 1; i < 10; i++)
			v[i] = cand("eu", NULL, 1, d, 0, d * x);
		lbpick_prepare(v, 10);
		assert_int_equal(lbpick_pick(v, 10, &c, &l, -1), 0);
		v[0].conns = x + 1;
		assert_int_equal(lbpick_pick(v, 10, &c, &l, -1), 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_country_over_region),
		cmocka_unit_test(test_region_over_local),
		cmocka_unit_test(test_local_when_unknown),
		cmocka_unit_test(test_any_last_resort),
		cmocka_unit_test(test_skipped),
		cmocka_unit_test(test_all_full),
		cmocka_unit_test(test_lower_load),
		cmocka_unit_test(test_weight),
		cmocka_unit_test(test_zero_counts_as_one),
		cmocka_unit_test(test_zero_hard_unlimited),
		cmocka_unit_test(test_geo_over_load),
		cmocka_unit_test(test_affinity),
		cmocka_unit_test(test_exact_ties),
		cmocka_unit_test(test_big_limits),
		cmocka_unit_test(test_random_against_reference),
		cmocka_unit_test(test_random_large_against_formula),
		cmocka_unit_test(test_tie_across_regions),
		cmocka_unit_test(test_small_dens_exact),
		cmocka_unit_test(test_float_inversion),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
