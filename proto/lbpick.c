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
 * The scan computes every score in floating point, s = off + conns * rden
 * (off 0 or the run's tier * 100, chosen without a branch; rden the cached
 * 1 / den), and compares it with one limit: above it, a candidate cannot
 * win. Where the CPU has AVX2 that is 4 candidates an instruction and one
 * branch per 16 (lbpick_skip_avx2); a group of 4 with a score at or below
 * the limit goes through the scalar loop (lbpick_one), where such a
 * candidate takes the slow branch: eligibility checked, the score compared
 * exactly. With random loads that is a handful of groups per decision.
 * Mispredicted branches and divisions, not arithmetic, are what a scan
 * costs, and past them reading the candidates (16 bytes of each).
 *
 * The limit. s is within S * 2^-51 of the exact score S (a rounded
 * reciprocal, a rounded product, a rounded sum, all of non-negative terms).
 * In general a candidate cannot beat the best b when s > s_b * (1 + 2^-40),
 * and below that the slow branch compares exactly. When both dens are at
 * most 2^16 and both scores below 2^15, the error is under 2^-36, while two
 * different scores differ by at least 1 / (den_a * den_b) >= 2^-32: then
 * doubles closer than T = 2^-33 are equal scores, and farther apart they are
 * in the exact order. The limit is s_b - T when a tie loses (to the earlier
 * best), s_b + T when it wins (a run visited after a later best), and what
 * comes below is better without the exact compare. That keeps ties cheap,
 * and a load balancer makes ties: an idle table, loads equalised per weight.
 *
 * Runs of one region are visited by tier: first the client's region and
 * those that may hold its country (tiers 0 and 1), then this node's region
 * (2), then the others (3), a run only while its tier alone (100, 200,
 * 300) does not exceed the best score found.
 */
#define LBPICK_SMALL_DEN        (1u << 16)
#define LBPICK_SMALL_SCORE      0x1p15
#define LBPICK_TIE              0x1p-33

static inline uint64_t
lbpick_den(const struct lbpick_cand *c)
{
	return lbpick_clamp(c->soft_limit) * lbpick_clamp(c->weight);
}

void
lbpick_prepare(struct lbpick_cand *v, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i = j) {
		uint64_t mask = 0;
		uint8_t small = 1;

		for (j = i; j < n && lbpick_same(&v[j].region, &v[i].region); j++) {
			mask |= 1ull << (v[j].country % 64);
			small &= lbpick_den(&v[j]) <= LBPICK_SMALL_DEN;
		}
		for (size_t k = i; k < j; k++) {
			v[k].run_end = (uint32_t)j;
			v[k].cmask = mask;
			v[k].small = small;
			v[k].rden = 1.0 / (double)lbpick_den(&v[k]);
		}
	}
}

struct lbpick_best {
	long i;
	uint64_t num, den;
	double s;                       /* its score in floating point */
	bool small;                     /* den and s small: doubles are exact */
};

/* The limit for candidates from index from on, of a run whose dens are
 * all small or not (see above): above it, none can win. */
static inline double
lbpick_lim(const struct lbpick_best *b, size_t from, bool small)
{
	if (b->i < 0)
		return HUGE_VAL;
	if (small && b->small)
		return b->i < (long)from ? b->s - LBPICK_TIE : b->s + LBPICK_TIE;
	return b->s + b->s * 0x1p-40;
}

/* The slow branch: c (at i, of geo tier geo) came at or below the limit;
 * exact: the limit already says it is better (see above). Returns true if
 * it is the new best. */
static bool
lbpick_take(const struct lbpick_cand *c, size_t i, unsigned geo, bool exact,
    struct lbpick_best *b)
{
	uint64_t den, num;

	if (!lbpick_eligible(c))
		return false;
	den = lbpick_den(c);
	num = (uint64_t)geo * 100 * den + c->conns;
	if ((!exact || den > LBPICK_SMALL_DEN) && b->i >= 0) {
		lbpick_u128 l = (lbpick_u128)num * b->den;
		lbpick_u128 r = (lbpick_u128)b->num * den;

		if (l > r || (l == r && (long)i > b->i))
			return false;
	}
	b->i = (long)i;
	b->num = num;
	b->den = den;
	/* recomputed: an unprepared candidate has no rden, s was 0 */
	b->s = (double)(geo * 100) + (double)c->conns / (double)den;
	b->small = den <= LBPICK_SMALL_DEN && b->s < LBPICK_SMALL_SCORE;
	return true;
}

/* The scan of a prepared run: its tier, and the limit as it moves. */
struct lbpick_run {
	uint32_t country;               /* the client's (lbpick_ctx) */
	unsigned rt;                    /* the run's tier */
	bool small;                     /* the run's dens are all small */
	bool exact;                     /* small, and so is the best */
	double off[2];                  /* 0, rt * 100 */
	double lim;                     /* above it, none can win */
};

/* v[from, to) one by one: the scalar loop. */
static void
lbpick_one(const struct lbpick_cand *v, size_t from, size_t to,
    struct lbpick_run *r, struct lbpick_best *b)
{
	size_t i;

	for (i = from; i < to; i++) {
		const struct lbpick_cand *c = &v[i];
		bool other = c->country != r->country;
		double s = r->off[other] + (double)c->conns * c->rden;

		if (__builtin_expect(s > r->lim, 1))
			continue;
		/* in the exact case, at or below the limit is better */
		if (!lbpick_take(c, i, other ? r->rt : 0, r->exact, b))
			continue;
		r->exact = r->small && b->small;
		r->lim = lbpick_lim(b, i + 1, r->small);
	}
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* What the scan reads of a candidate is 16 bytes: conns, country, flags,
 * small in the low 8 (little-endian), rden in the high 8. */
_Static_assert(offsetof(struct lbpick_cand, country) ==
    offsetof(struct lbpick_cand, conns) + 4, "lbpick_cand hot layout");
_Static_assert(offsetof(struct lbpick_cand, rden) ==
    offsetof(struct lbpick_cand, conns) + 8, "lbpick_cand hot layout");

/* Four candidates' scores at or below the limit, as lane masks. The lanes
 * come out in the order 0 2 1 3, which does not matter here. */
__attribute__((target("avx2,fma"))) static inline __m256d
lbpick_four(const struct lbpick_cand *c, __m256i country, __m256d off,
    __m256d lim)
{
	const __m256i ccmask = _mm256_set1_epi64x(0xffffll << 32);
	const __m256i magic = _mm256_set1_epi64x(0x4330000000000000ll);
	__m256i a = _mm256_inserti128_si256(_mm256_castsi128_si256(
	    _mm_loadu_si128((const __m128i *)&c[0].conns)),
	    _mm_loadu_si128((const __m128i *)&c[1].conns), 1);
	__m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(
	    _mm_loadu_si128((const __m128i *)&c[2].conns)),
	    _mm_loadu_si128((const __m128i *)&c[3].conns), 1);
	__m256i lo = _mm256_unpacklo_epi64(a, b);
	__m256d rden = _mm256_castsi256_pd(_mm256_unpackhi_epi64(a, b));
	/* conns exactly as a double: its 32 bits under the high 32 of 2^52
	 * make the double 2^52 + conns; minus 2^52 */
	__m256d conns = _mm256_sub_pd(_mm256_castsi256_pd(
	    _mm256_blend_epi32(lo, magic, 0xaa)), _mm256_set1_pd(0x1p52));
	__m256i same = _mm256_cmpeq_epi64(_mm256_and_si256(lo, ccmask), country);
	__m256d s = _mm256_fmadd_pd(conns, rden,
	    _mm256_andnot_pd(_mm256_castsi256_pd(same), off));

	return _mm256_cmp_pd(s, lim, _CMP_LE_OQ);
}

/* From i, the first group of 4 in v[i, to) where a candidate comes at or
 * below the limit, or where fewer than 4 are left: the same filter as
 * lbpick_one's, 16 candidates a branch. */
__attribute__((target("avx2,fma"))) static size_t
lbpick_skip_avx2(const struct lbpick_cand *v, size_t i, size_t to,
    const struct lbpick_run *r)
{
	__m256i country = _mm256_set1_epi64x((long long)r->country << 32);
	__m256d off = _mm256_set1_pd(r->off[1]), lim = _mm256_set1_pd(r->lim);

	for (; i + 16 <= to; i += 16) {
		__m256d h0 = lbpick_four(&v[i], country, off, lim);
		__m256d h1 = lbpick_four(&v[i + 4], country, off, lim);
		__m256d h2 = lbpick_four(&v[i + 8], country, off, lim);
		__m256d h3 = lbpick_four(&v[i + 12], country, off, lim);

		if (__builtin_expect(_mm256_movemask_pd(_mm256_or_pd(
		    _mm256_or_pd(h0, h1), _mm256_or_pd(h2, h3))) != 0, 0)) {
			if (_mm256_movemask_pd(h0) != 0)
				return i;
			if (_mm256_movemask_pd(h1) != 0)
				return i + 4;
			return _mm256_movemask_pd(h2) != 0 ? i + 8 : i + 12;
		}
	}
	for (; i + 4 <= to; i += 4)
		if (_mm256_movemask_pd(lbpick_four(&v[i], country, off, lim)) != 0)
			break;
	return i;
}

static inline bool
lbpick_has_avx2(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static inline size_t
lbpick_skip_avx2(const struct lbpick_cand *v, size_t i, size_t to,
    const struct lbpick_run *r)
{
	return i;
}

static inline bool
lbpick_has_avx2(void)
{
	return false;
}
#endif

/* A prepared run v[from, to) of tier rt: skipped in vector registers
 * where the CPU has them, the group of 4 where one comes below the limit
 * (and the tail) one by one. */
static void
lbpick_run(const struct lbpick_cand *v, size_t from, size_t to,
    uint32_t country, unsigned rt, bool small, struct lbpick_best *b)
{
	struct lbpick_run r = {
		.country = country, .rt = rt, .small = small,
		.exact = small && b->small,
		.off = { 0.0, (double)(rt * 100) },
		.lim = lbpick_lim(b, from, small),
	};
	size_t i = from;

	if (to - from >= 4 && lbpick_has_avx2()) {
		while ((i = lbpick_skip_avx2(v, i, to, &r)) + 4 <= to) {
			lbpick_one(v, i, i + 4, &r, b);
			i += 4;
		}
	}
	lbpick_one(v, i, to, &r, b);
}

/* The end of the run at i, and its region's tier (1, 2 or 3) and whether it
 * may hold the client's country. Unprepared: a run of one that may. */
static inline size_t
lbpick_run_at(const struct lbpick_cand *v, size_t i, size_t n,
    const struct lbpick_ctx *x, uint64_t cbit, unsigned *rtier, bool *maybe0,
    bool *prepared)
{
	const struct lbpick_cand *c = &v[i];
	size_t end = c->run_end;

	*rtier = lbpick_same(&c->region, &x->region) ? 1 :
	    lbpick_same(&c->region, &x->local) ? 2 : 3;
	if (end <= i || end > n) {
		*maybe0 = true;
		*prepared = false;
		return i + 1;
	}
	*maybe0 = (c->cmask & cbit) != 0;
	*prepared = true;
	return end;
}

/* One sweep over the runs: those of tier 1 or that may hold the client's
 * country (sweep 1), or the rest of tier 2 or 3 (sweep 2, 3). */
static void
lbpick_sweep(const struct lbpick_cand *v, size_t n, const struct lbpick_ctx *x,
    unsigned sweep, struct lbpick_best *b)
{
	uint64_t cbit = x->country <= 0xffff ? 1ull << (x->country % 64) : 0;
	size_t i, end;
	unsigned rt;
	bool maybe0, prepared;

	for (i = 0; i < n; i = end) {
		end = lbpick_run_at(v, i, n, x, cbit, &rt, &maybe0, &prepared);
		if (sweep == 1 ? !(rt == 1 || maybe0) :
		    rt == 1 || maybe0 || rt != sweep)
			continue;
		if (!maybe0 && b->i >= 0 &&
		    (double)(rt * 100) > b->s + b->s * 0x1p-40)
			continue;       /* its tier alone is worse than the best */
		if (prepared) {
			lbpick_run(v, i, end, x->country, rt, v[i].small != 0, b);
		} else {
			unsigned geo = v[i].country == x->country ? 0 : rt;

			lbpick_take(&v[i], i, geo, false, b);
		}
	}
}

static long
lbpick_scan(const struct lbpick_cand *v, size_t n, const struct lbpick_ctx *x)
{
	struct lbpick_best b = { .i = -1 };

	lbpick_sweep(v, n, x, 1, &b);
	lbpick_sweep(v, n, x, 2, &b);
	lbpick_sweep(v, n, x, 3, &b);
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
