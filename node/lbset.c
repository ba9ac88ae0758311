#include "lbset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lbbind.h"
#include "lbmsg.h"
#include "log.h"

#define LBSET_RAW_REFUSED_MAX   64      /* replicas kept out of L4 picks */

struct lbset_app {
	uint64_t key;
	size_t n;
	struct lbpick_cand *v;          /* by region, then id */
	struct lbset_backend **b;       /* b[i] is v[i]'s */
};

struct lbset {
	struct ev_loop *loop;
	struct lbbind *bind;
	uint64_t backoff_ms;
	uint64_t epoch, version;
	struct lbset_backend **backends;        /* sorted by id */
	size_t nbackends;
	struct lbset_app *apps;         /* apps[0] is LBSET_ALL */
	size_t napps;
	struct lbset_stats st;
	uint64_t gen;                   /* of lbset_apply calls */
	struct lbset_backend *raw_refused[LBSET_RAW_REFUSED_MAX];
	size_t nraw_refused;
};

uint64_t
lbset_app_key(const char *app)
{
	return lbpick_id(app, strlen(app));
}

int
lbset_new(struct lbset **out, struct ev_loop *loop, size_t bind_max,
    uint64_t ttl_ms, uint64_t backoff_ms)
{
	struct lbset *s;
	uint8_t seed[16];
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		memset(seed, 0x5a, sizeof(seed));
	if ((rc = lbbind_new(&s->bind, bind_max, ttl_ms, seed)) != 0) {
		free(s);
		return rc;
	}
	s->loop = loop;
	s->backoff_ms = backoff_ms;
	*out = s;
	return 0;
}

static void
lbset_apps_free(struct lbset_app *apps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(apps[i].v);
		free(apps[i].b);
	}
	free(apps);
}

static void
lbset_backend_unref(struct lbset_backend *b)
{
	if (--b->refs > 0)
		return;
	ev_timer_stop(b->set->loop, &b->backoff_timer);
	free(b);
}

void
lbset_free(struct lbset *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nbackends; i++) {
		struct lbset_backend *b = s->backends[i];

		b->slot[0] = b->slot[1] = NULL;
		ev_timer_stop(s->loop, &b->backoff_timer);
		/* held by connections: they free it (their loop is gone too) */
		lbset_backend_unref(b);
	}
	for (i = 0; i < s->nraw_refused; i++)
		lbset_backend_unref(s->raw_refused[i]);
	free(s->backends);
	lbset_apps_free(s->apps, s->napps);
	lbbind_free(s->bind);
	free(s);
}

static uint8_t
lbset_flags(const struct lbset_backend *b)
{
	return (b->health_down || b->backoff) ? LBPICK_DOWN : 0;
}

static void
lbset_sync_slots(struct lbset_backend *b)
{
	int k;

	for (k = 0; k < 2; k++) {
		if (b->slot[k] != NULL) {
			b->slot[k]->conns = b->conns;
			b->slot[k]->flags = lbset_flags(b);
		}
	}
}

static void
lbset_on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lbset_backend *b = w->data;

	b->backoff = false;
	lbset_sync_slots(b);
	log_info("lb.backoff.end", "backend=%s addr=%s", b->name, b->addr_text);
}

static int
lbset_cmp_id(const void *x, const void *y)
{
	const struct lbset_backend *a = *(struct lbset_backend *const *)x;
	const struct lbset_backend *b = *(struct lbset_backend *const *)y;

	return a->id < b->id ? -1 : a->id > b->id;
}

static struct lbset_backend *
lbset_find(struct lbset_backend **v, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid]->id == id)
			return v[mid];
		if (v[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* the decision's order: region, then id (name) */
static int
lbset_cmp_cand(const void *x, const void *y)
{
	const struct lbset_backend *a = *(struct lbset_backend *const *)x;
	const struct lbset_backend *b = *(struct lbset_backend *const *)y;
	struct lbpick_region ra, rb;
	int c;

	ra = a->slot[0] != NULL ? a->slot[0]->region : (struct lbpick_region){ { 0, 0 } };
	rb = b->slot[0] != NULL ? b->slot[0]->region : (struct lbpick_region){ { 0, 0 } };
	if ((c = memcmp(&ra, &rb, sizeof(ra))) != 0)
		return c;
	return strcmp(a->name, b->name);
}

int
lbset_apply(struct lbset *s, const struct lbmsg *m)
{
	struct lbset_backend **nb = NULL, *b;
	struct lbpick_cand *proto = NULL;       /* per new backend */
	struct lbset_app *apps = NULL;
	size_t nn = 0, napps = 0, i, j;
	uint32_t k;

	s->gen++;
	if (m->n > 0 && ((nb = calloc(m->n, sizeof(*nb))) == NULL ||
	    (proto = calloc(m->n, sizeof(*proto))) == NULL))
		goto nomem;
	/* the backends: kept by id, or new */
	for (k = 0; k < m->n; k++) {
		const struct lbmsg_cand *c = &m->c[k];
		uint64_t id = lbpick_id(c->id, strlen(c->id));
		char text[80];

		if (c->kind == LBMSG_REPLICA)
			snprintf(text, sizeof(text), "%s", c->node[0] != '\0' ?
			    c->node : "here");
		else if (strchr(c->addr, ':') != NULL)
			snprintf(text, sizeof(text), "[%s]:%u", c->addr, c->port);
		else
			snprintf(text, sizeof(text), "%s:%u", c->addr, c->port);
		b = lbset_find(s->backends, s->nbackends, id);
		if (b != NULL && b->gen == s->gen)
			continue;       /* a duplicate id: the first wins */
		if (b == NULL) {
			if ((b = calloc(1, sizeof(*b))) == NULL)
				goto nomem;
			b->id = id;
			b->refs = 1;
			b->set = s;
			ev_timer_init(&b->backoff_timer, lbset_on_backoff, 0., 0.);
			b->backoff_timer.data = b;
			b->addr.len = 0;
		} else {
			b->refs++;      /* the new set's; the old one's goes below */
		}
		b->gen = s->gen;
		b->tmp = nn;
		b->kind = c->kind;
		snprintf(b->name, sizeof(b->name), "%s", c->id);
		snprintf(b->app, sizeof(b->app), "%s", c->app);
		snprintf(b->node, sizeof(b->node), "%s", c->kind == LBMSG_REPLICA ?
		    c->node : "");
		b->session = c->session;
		b->tunnel_id = c->tunnel_id;
		b->addr.len = 0;
		if (c->kind == LBMSG_BACKEND &&
		    sock_addr_parse(&b->addr, text, NULL) != 0)
			b->addr.len = 0;        /* not dialable: never picked */
		snprintf(b->addr_text, sizeof(b->addr_text), "%s", text);
		b->health_down = (c->flags & LBPICK_DOWN) != 0;
		proto[nn].id = id;
		lbpick_region(&proto[nn].region, c->region, strlen(c->region));
		proto[nn].country = lbpick_country(c->country);
		proto[nn].weight = c->weight;
		proto[nn].soft_limit = c->soft_limit;
		proto[nn].hard_limit = c->hard_limit;
		if (c->kind == LBMSG_BACKEND && b->addr.len == 0)
			proto[nn].flags |= LBPICK_UNHEALTHY;
		nb[nn++] = b;
	}
	/* apps: [0] every backend, then one per app name */
	if ((apps = calloc(nn + 1, sizeof(*apps))) == NULL)
		goto nomem;
	napps = 1;
	apps[0].key = lbset_app_key(LBSET_ALL);
	for (i = 0; i < nn; i++) {
		uint64_t key = lbset_app_key(nb[i]->app);

		for (j = 1; j < napps && apps[j].key != key; j++)
			;
		if (j == napps)
			apps[napps++].key = key;
		apps[j].n++;
		if (nb[i]->kind == LBMSG_BACKEND)
			apps[0].n++;
	}
	for (j = 0; j < napps; j++) {
		if (apps[j].n == 0)
			continue;
		apps[j].v = calloc(apps[j].n, sizeof(*apps[j].v));
		apps[j].b = calloc(apps[j].n, sizeof(*apps[j].b));
		if (apps[j].v == NULL || apps[j].b == NULL)
			goto nomem;
		apps[j].n = 0;
	}
	for (i = 0; i < nn; i++) {
		uint64_t key = lbset_app_key(nb[i]->app);

		for (j = 1; apps[j].key != key; j++)
			;
		apps[j].b[apps[j].n++] = nb[i];
		if (nb[i]->kind == LBMSG_BACKEND)
			apps[0].b[apps[0].n++] = nb[i];
	}
	/* from here nothing fails: swap in */
	for (i = 0; i < s->nbackends; i++) {
		s->backends[i]->slot[0] = s->backends[i]->slot[1] = NULL;
	}
	for (i = 0; i < nn; i++) {
		/* the region the sort needs, through a temporary slot */
		nb[i]->slot[0] = &proto[i];
	}
	for (j = 0; j < napps; j++)
		if (apps[j].n > 1)
			qsort(apps[j].b, apps[j].n, sizeof(*apps[j].b), lbset_cmp_cand);
	for (j = 0; j < napps; j++) {
		for (i = 0; i < apps[j].n; i++) {
			apps[j].v[i] = proto[apps[j].b[i]->tmp];
		}
	}
	for (j = 0; j < napps; j++) {
		for (i = 0; i < apps[j].n; i++)
			apps[j].b[i]->slot[j == 0 ? 1 : 0] = &apps[j].v[i];
		lbpick_prepare(apps[j].v, apps[j].n);
	}
	for (i = 0; i < s->nbackends; i++) {
		b = s->backends[i];
		if (b->slot[0] == NULL && b->slot[1] == NULL) {
			/* gone from the set: its connections keep it */
			ev_timer_stop(s->loop, &b->backoff_timer);
		}
		lbset_backend_unref(b);
	}
	free(s->backends);
	lbset_apps_free(s->apps, s->napps);
	if (nn > 1)
		qsort(nb, nn, sizeof(*nb), lbset_cmp_id);
	s->backends = nb;
	s->nbackends = nn;
	s->apps = apps;
	s->napps = napps;
	for (i = 0; i < nn; i++)
		lbset_sync_slots(nb[i]);
	s->epoch = m->epoch;
	s->version = m->version;
	s->st.applied++;
	free(proto);
	return 0;
nomem:
	for (i = 0; i < nn; i++)
		lbset_backend_unref(nb[i]);
	if (apps != NULL)
		lbset_apps_free(apps, napps > 0 ? napps : 1);
	free(nb);
	free(proto);
	return -ENOMEM;
}

void
lbset_version(const struct lbset *s, uint64_t *epoch, uint64_t *version)
{
	*epoch = s->epoch;
	*version = s->version;
}

struct lbset_backend *
lbset_pick(struct lbset *s, uint64_t key, const uint8_t addr[16],
    const struct lbpick_where *client, const struct lbpick_where *local,
    uint64_t now_ms)
{
	struct lbset_app *app = NULL;
	struct lbset_backend *b;
	uint64_t cand;
	uint32_t hint;
	long bound = -1, win;
	size_t j;

	for (j = 0; j < s->napps; j++) {
		if (s->apps[j].key == key) {
			app = &s->apps[j];
			break;
		}
	}
	s->st.picks++;
	if (app == NULL || app->n == 0) {
		s->st.no_candidate++;
		return NULL;
	}
	if (lbbind_get(s->bind, key, addr, now_ms, &cand, &hint))
		bound = lbpick_find(app->v, app->n, cand, hint);
	win = lbpick_pick(app->v, app->n, client, local, bound);
	if (win < 0) {
		s->st.no_candidate++;
		return NULL;
	}
	if (win == bound)
		s->st.bound_hits++;
	else
		lbbind_put(s->bind, key, addr, app->v[win].id, (uint32_t)win, now_ms);
	b = app->b[win];
	b->refs++;
	b->conns++;
	b->conns_total++;
	lbset_sync_slots(b);
	return b;
}

struct lbset_backend *
lbset_pick_raw(struct lbset *s, uint64_t key, const uint8_t addr[16],
    const struct lbpick_where *client, const struct lbpick_where *local,
    uint64_t now_ms)
{
	struct lbset_backend *b;
	size_t i, k;

	/* out for this decision only: the list is short (usually empty) */
	for (i = k = 0; i < s->nraw_refused; i++) {
		b = s->raw_refused[i];
		if (b->slot[0] == NULL && b->slot[1] == NULL) {
			lbset_backend_unref(b);         /* gone from the set */
			continue;
		}
		s->raw_refused[k++] = b;
		if (b->slot[0] != NULL)
			b->slot[0]->flags |= LBPICK_DOWN;
	}
	s->nraw_refused = k;
	b = lbset_pick(s, key, addr, client, local, now_ms);
	for (i = 0; i < s->nraw_refused; i++)
		lbset_sync_slots(s->raw_refused[i]);
	return b;
}

void
lbset_refuse_raw(struct lbset *s, uint64_t key, const uint8_t addr[16],
    struct lbset_backend *b)
{
	lbbind_drop(s->bind, key, addr);
	if (b->raw_refused || s->nraw_refused == LBSET_RAW_REFUSED_MAX)
		return;
	log_info("lb.raw_refused", "replica=%s app=%s", b->name, b->app);
	b->raw_refused = true;
	b->refs++;
	s->raw_refused[s->nraw_refused++] = b;
}

void
lbset_dial_failed(struct lbset *s, uint64_t key, const uint8_t addr[16],
    struct lbset_backend *b)
{
	s->st.dial_failures++;
	b->dial_failures++;
	lbbind_drop(s->bind, key, addr);
	if (b->slot[0] == NULL && b->slot[1] == NULL)
		return;         /* no longer in the set */
	if (!b->backoff)
		log_info("lb.backoff", "backend=%s addr=%s backoff_ms=%llu",
		    b->name, b->addr_text, (unsigned long long)s->backoff_ms);
	b->backoff = true;
	ev_timer_stop(s->loop, &b->backoff_timer);
	ev_timer_set(&b->backoff_timer, (double)s->backoff_ms / 1000.0, 0.);
	ev_timer_start(s->loop, &b->backoff_timer);
	lbset_sync_slots(b);
}

void
lbset_count_failover(struct lbset *s)
{
	s->st.failovers++;
}

void
lbset_release(struct lbset_backend *b)
{
	if (b->conns > 0)
		b->conns--;
	lbset_sync_slots(b);
	lbset_backend_unref(b);
}

size_t
lbset_gc(struct lbset *s, uint64_t now_ms)
{
	return lbbind_gc(s->bind, now_ms, SIZE_MAX);
}

size_t
lbset_bindings(const struct lbset *s)
{
	return lbbind_count(s->bind);
}

const struct lbset_stats *
lbset_stats(const struct lbset *s)
{
	return &s->st;
}

static int
lbset_cmp_busy(const void *x, const void *y)
{
	const struct lbset_backend *a = *(struct lbset_backend *const *)x;
	const struct lbset_backend *b = *(struct lbset_backend *const *)y;

	if (a->conns_total != b->conns_total)
		return a->conns_total > b->conns_total ? -1 : 1;
	return strcmp(a->name, b->name);
}

void
lbset_each(struct lbset *s, size_t max,
    void (*fn)(void *arg, const struct lbset_backend *b), void *arg)
{
	struct lbset_backend **v;
	size_t i;

	if (s->nbackends == 0 ||
	    (v = malloc(s->nbackends * sizeof(*v))) == NULL)
		return;
	memcpy(v, s->backends, s->nbackends * sizeof(*v));
	qsort(v, s->nbackends, sizeof(*v), lbset_cmp_busy);
	for (i = 0; i < s->nbackends && i < max; i++)
		fn(arg, v[i]);
	free(v);
}
