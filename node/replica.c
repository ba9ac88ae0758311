#include "replica.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/random.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "geoip.h"
#include "lbbind.h"
#include "regionmap.h"
#include "routes.h"

#define REPLICA_SLOTS_MIN       64
#define REPLICA_BIND_MAX        65536   /* affinity bindings kept */
#define REPLICA_GC_SLOTS        16      /* binding slots swept per pick */

/* open addressing, linear probing; key 0 = empty (session ids are never 0) */
struct replica_slot {
	uint64_t sid;
	uint32_t conns;
};

struct replica {
	struct geoip *geoip;            /* NULL: no --geoip-db */
	struct regionmap map;
	struct lbpick_where local;
	struct replica_slot *slots;
	size_t size, used;
	struct lbbind *bind;
};

int
replica_new(struct replica **out, const char *geoip_db, const char *region_map,
    const char *region, uint64_t binding_ttl_ms, char *err, size_t errlen)
{
	uint8_t seed[16];
	struct replica *rp;
	int rc;

	if ((rp = calloc(1, sizeof(*rp))) == NULL ||
	    (rp->slots = calloc(REPLICA_SLOTS_MIN, sizeof(*rp->slots))) == NULL) {
		free(rp);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rp->size = REPLICA_SLOTS_MIN;
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		memset(seed, 0x5a, sizeof(seed));
	if ((rc = lbbind_new(&rp->bind, REPLICA_BIND_MAX, binding_ttl_ms > 0 ?
	    binding_ttl_ms : LBBIND_TTL_DEFAULT, seed)) != 0) {
		snprintf(err, errlen, "cannot make the affinity table");
		goto fail;
	}
	if (geoip_db != NULL && geoip_db[0] != '\0' &&
	    (rc = geoip_open(&rp->geoip, geoip_db, err, errlen)) != 0)
		goto fail;
	if (region_map != NULL && region_map[0] != '\0') {
		if ((rc = regionmap_load(&rp->map, region_map, err, errlen)) != 0)
			goto fail;
	} else {
		regionmap_default(&rp->map);
	}
	/* a region the decision cannot hold: no replica is this node's */
	if (region != NULL)
		lbpick_region(&rp->local.region, region, strlen(region));
	*out = rp;
	return 0;
fail:
	replica_free(rp);
	return rc;
}

void
replica_free(struct replica *rp)
{
	if (rp == NULL)
		return;
	geoip_free(rp->geoip);
	lbbind_free(rp->bind);
	free(rp->slots);
	free(rp);
}

static struct replica_slot *
replica_slot(const struct replica *rp, uint64_t sid)
{
	size_t i = (size_t)(sid * 0x9e3779b97f4a7c15ull) & (rp->size - 1);

	while (rp->slots[i].sid != 0 && rp->slots[i].sid != sid)
		i = (i + 1) & (rp->size - 1);
	return &rp->slots[i];
}

static int
replica_grow(struct replica *rp)
{
	struct replica_slot *old = rp->slots, *s;
	size_t i, n = rp->size;

	if ((rp->slots = calloc(n * 2, sizeof(*rp->slots))) == NULL) {
		rp->slots = old;
		return -ENOMEM;
	}
	rp->size = n * 2;
	for (i = 0; i < n; i++) {
		if (old[i].sid == 0)
			continue;
		s = replica_slot(rp, old[i].sid);
		*s = old[i];
	}
	free(old);
	return 0;
}

void
replica_hold(struct replica *rp, uint64_t sid)
{
	struct replica_slot *s;

	if (sid == 0 || ((rp->used + 1) * 2 > rp->size && replica_grow(rp) != 0))
		return;
	s = replica_slot(rp, sid);
	if (s->sid == 0) {
		s->sid = sid;
		rp->used++;
	}
	s->conns++;
}

void
replica_release(struct replica *rp, uint64_t sid)
{
	struct replica_slot *s, *t;
	size_t i, j;

	if (sid == 0 || (s = replica_slot(rp, sid))->sid == 0)
		return;
	if (--s->conns > 0)
		return;
	/* delete, then move back the entries that probed past it */
	i = (size_t)(s - rp->slots);
	s->sid = 0;
	rp->used--;
	for (j = (i + 1) & (rp->size - 1); rp->slots[j].sid != 0;
	    j = (j + 1) & (rp->size - 1)) {
		struct replica_slot e = rp->slots[j];

		rp->slots[j].sid = 0;
		t = replica_slot(rp, e.sid);
		*t = e;
	}
}

uint32_t
replica_conns(const struct replica *rp, uint64_t sid)
{
	const struct replica_slot *s = replica_slot(rp, sid);

	return s->sid == sid ? s->conns : 0;
}

static uint64_t
replica_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

long
replica_pick(struct replica *rp, const char *key, const struct sockaddr *client,
    const struct routes_replica *v, struct lbpick_cand *cand, size_t n,
    long skip)
{
	const struct lbpick_region *reg;
	struct lbpick_where where;
	uint64_t app = lbpick_id(key, strlen(key)), id, now = replica_now_ms();
	uint8_t addr[16];
	uint32_t hint;
	long bound = -1, win;
	bool keyed;
	size_t i;

	memset(&where, 0, sizeof(where));
	if (rp->geoip != NULL && client != NULL &&
	    (where.country = geoip_country(rp->geoip, client)) != 0 &&
	    (reg = regionmap_region(&rp->map, where.country)) != NULL)
		where.region = *reg;
	for (i = 0; i < n; i++) {
		cand[i].conns = replica_conns(rp, v[i].session);
		cand[i].flags = (long)i == skip ? LBPICK_DOWN : 0;
	}
	keyed = client != NULL && cidr_key(client, addr);
	if (keyed) {
		lbbind_gc(rp->bind, now, REPLICA_GC_SLOTS);
		if (skip >= 0 && (size_t)skip < n)
			lbbind_drop(rp->bind, app, addr);
		else if (lbbind_get(rp->bind, app, addr, now, &id, &hint))
			bound = lbpick_find(cand, n, id, hint);
	}
	win = lbpick_pick(cand, n, &where, &rp->local, bound);
	if (keyed && win >= 0 && win != bound)
		lbbind_put(rp->bind, app, addr, cand[win].id, (uint32_t)win, now);
	return win;
}
