/* lbbind — client affinity bindings (see lbbind.h). */
#include "lbbind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LBBIND_SLOTS_MIN        64

struct lbbind_slot {
	uint8_t addr[16];
	uint64_t app;
	uint64_t cand;
	uint64_t expires;               /* 0: empty slot */
	uint32_t hint;
	uint32_t hash;                  /* low bits give the home slot */
};

struct lbbind {
	struct lbbind_slot *v;
	size_t slots, mask, slots_max;
	size_t count, max;
	size_t cursor;                  /* gc sweep position */
	uint64_t ttl;
	uint64_t k0, k1;                /* SipHash key */
	struct lbbind_stats st;
};

/* SipHash-2-4 of (app, addr), 24 bytes */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

static uint64_t
lbbind_load64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
lbbind_hash(const struct lbbind *b, uint64_t app, const uint8_t addr[16])
{
	uint64_t v0 = b->k0 ^ 0x736f6d6570736575ull, v1 = b->k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = b->k0 ^ 0x6c7967656e657261ull, v3 = b->k1 ^ 0x7465646279746573ull;
	uint64_t m[4];
	int i;

	m[0] = app;
	m[1] = lbbind_load64(addr);
	m[2] = lbbind_load64(addr + 8);
	m[3] = (uint64_t)24 << 56;
	for (i = 0; i < 4; i++) {
		v3 ^= m[i];
		SIPROUND;
		SIPROUND;
		v0 ^= m[i];
	}
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	v0 ^= v1 ^ v2 ^ v3;
	return (uint32_t)(v0 ^ (v0 >> 32));
}

int
lbbind_new(struct lbbind **out, size_t max, uint64_t ttl_ms,
    const uint8_t seed[16])
{
	struct lbbind *b;
	size_t want;

	if (max == 0 || ttl_ms == 0 || max > (SIZE_MAX / sizeof(struct lbbind_slot)) / 2)
		return -EINVAL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ENOMEM;
	/* room for max bindings at a load of at most 3/4 */
	want = max + (max + 2) / 3;
	b->slots_max = LBBIND_SLOTS_MIN;
	while (b->slots_max < want)
		b->slots_max <<= 1;
	b->slots = LBBIND_SLOTS_MIN;
	b->mask = b->slots - 1;
	b->max = max;
	b->ttl = ttl_ms;
	b->k0 = lbbind_load64(seed);
	b->k1 = lbbind_load64(seed + 8);
	if ((b->v = calloc(b->slots, sizeof(*b->v))) == NULL) {
		free(b);
		return -ENOMEM;
	}
	*out = b;
	return 0;
}

void
lbbind_free(struct lbbind *b)
{
	if (b == NULL)
		return;
	free(b->v);
	free(b);
}

void
lbbind_set_ttl(struct lbbind *b, uint64_t ttl_ms)
{
	b->ttl = ttl_ms != 0 ? ttl_ms : 1;
}

static inline bool
lbbind_is(const struct lbbind_slot *s, uint64_t app, const uint8_t addr[16])
{
	return s->expires != 0 && s->app == app && memcmp(s->addr, addr, 16) == 0;
}

/* The slot holding the key, or -1. */
static long
lbbind_find(const struct lbbind *b, uint32_t h, uint64_t app,
    const uint8_t addr[16])
{
	size_t i = h & b->mask;

	for (;;) {
		const struct lbbind_slot *s = &b->v[i];

		if (s->expires == 0)
			return -1;
		if (s->hash == h && lbbind_is(s, app, addr))
			return (long)i;
		i = (i + 1) & b->mask;
	}
}

/* Empties slot i and moves later members of its run back so that every key
 * stays reachable from its home slot without tombstones. */
static void
lbbind_remove(struct lbbind *b, size_t i)
{
	size_t j = i, k;

	for (;;) {
		j = (j + 1) & b->mask;
		if (b->v[j].expires == 0)
			break;
		k = b->v[j].hash & b->mask;
		/* j stays if its home lies cyclically in (i, j] */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		b->v[i] = b->v[j];
		i = j;
	}
	memset(&b->v[i], 0, sizeof(b->v[i]));
	b->count--;
}

static void
lbbind_place(struct lbbind_slot *v, size_t mask, const struct lbbind_slot *s)
{
	size_t i = s->hash & mask;

	while (v[i].expires != 0)
		i = (i + 1) & mask;
	v[i] = *s;
}

/* Doubles the slot array (the sweep restarts). False if there is no memory:
 * the table then stays as it is, which its load allows. */
static bool
lbbind_grow(struct lbbind *b)
{
	size_t n = b->slots * 2, i;
	struct lbbind_slot *v;

	if ((v = calloc(n, sizeof(*v))) == NULL)
		return false;
	for (i = 0; i < b->slots; i++)
		if (b->v[i].expires != 0)
			lbbind_place(v, n - 1, &b->v[i]);
	free(b->v);
	b->v = v;
	b->slots = n;
	b->mask = n - 1;
	b->cursor = 0;
	return true;
}

/* A full table makes room: the binding nearest its end among the slots from
 * the new key's home, or else the next one the sweep finds. */
static void
lbbind_evict(struct lbbind *b, uint32_t h)
{
	size_t i = h & b->mask, n, victim = SIZE_MAX;
	uint64_t soonest = UINT64_MAX;

	for (n = 0; n < LBBIND_EVICT_PROBE && n < b->slots; n++, i = (i + 1) & b->mask) {
		if (b->v[i].expires != 0 && b->v[i].expires < soonest) {
			soonest = b->v[i].expires;
			victim = i;
		}
	}
	if (victim == SIZE_MAX) {
		for (i = b->cursor; b->v[i].expires == 0; i = (i + 1) & b->mask)
			;
		victim = i;
	}
	lbbind_remove(b, victim);
	b->st.evicted++;
}

bool
lbbind_get(struct lbbind *b, uint64_t app, const uint8_t addr[16],
    uint64_t now, uint64_t *cand, uint32_t *hint)
{
	uint32_t h = lbbind_hash(b, app, addr);
	long i = lbbind_find(b, h, app, addr);
	struct lbbind_slot *s;

	if (i < 0) {
		b->st.misses++;
		return false;
	}
	s = &b->v[i];
	if (s->expires <= now) {
		lbbind_remove(b, (size_t)i);
		b->st.expired++;
		b->st.misses++;
		return false;
	}
	s->expires = now + b->ttl;
	*cand = s->cand;
	*hint = s->hint;
	b->st.hits++;
	return true;
}

void
lbbind_put(struct lbbind *b, uint64_t app, const uint8_t addr[16],
    uint64_t cand, uint32_t hint, uint64_t now)
{
	uint32_t h = lbbind_hash(b, app, addr);
	long i = lbbind_find(b, h, app, addr);
	struct lbbind_slot s;

	if (i >= 0) {
		b->v[i].cand = cand;
		b->v[i].hint = hint;
		b->v[i].expires = now + b->ttl;
		return;
	}
	if (b->count >= b->max)
		lbbind_evict(b, h);
	if ((b->count + 1) * 4 > b->slots * 3 && b->slots < b->slots_max &&
	    !lbbind_grow(b) && (b->count + 1) * 8 > b->slots * 7)
		lbbind_evict(b, h);     /* no memory to grow: stay below 7/8 */
	memcpy(s.addr, addr, 16);
	s.app = app;
	s.cand = cand;
	s.hint = hint;
	s.expires = now + b->ttl != 0 ? now + b->ttl : 1;
	s.hash = h;
	lbbind_place(b->v, b->mask, &s);
	b->count++;
}

bool
lbbind_drop(struct lbbind *b, uint64_t app, const uint8_t addr[16])
{
	long i = lbbind_find(b, lbbind_hash(b, app, addr), app, addr);

	if (i < 0)
		return false;
	lbbind_remove(b, (size_t)i);
	b->st.dropped++;
	return true;
}

size_t
lbbind_gc(struct lbbind *b, uint64_t now, size_t slots)
{
	size_t removed = 0, n;

	if (slots > b->slots)
		slots = b->slots;
	for (n = 0; n < slots;) {
		struct lbbind_slot *s = &b->v[b->cursor];

		if (s->expires != 0 && s->expires <= now) {
			/* a later member may move into this slot: look again
			 * (each removal shrinks the table, so this ends) */
			lbbind_remove(b, b->cursor);
			removed++;
			b->st.expired++;
			continue;
		}
		b->cursor = (b->cursor + 1) & b->mask;
		n++;
	}
	return removed;
}

size_t
lbbind_count(const struct lbbind *b)
{
	return b->count;
}

size_t
lbbind_mem(const struct lbbind *b)
{
	return sizeof(*b) + b->slots * sizeof(*b->v);
}

const struct lbbind_stats *
lbbind_stats(const struct lbbind *b)
{
	return &b->st;
}
