#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rentry {
	struct rentry *next;
	uint8_t state;                  /* enum route_state */
	uint64_t session;
	uint32_t tunnel_id;
	char *node;                     /* table: the holder's node; NULL = here */
	char *alt;                      /* table: --ha, the other node, or NULL */
	uint64_t alt_session;
	uint32_t alt_tunnel_id;
	struct routes_replica *reps;    /* table: --group, or NULL */
	uint32_t nreps;
	char *app;                      /* table: ROUTE_APP, its app; a grouped
	                                 * name, its group */
	char key[];
};

struct rmap {
	struct rentry **tab;
	size_t size, n;
};

struct routes {
	char self[ROUTES_NODE_MAX + 1];
	struct rmap table;              /* router's table (http hosts) */
	struct rmap claims;             /* local claims */
	uint64_t epoch, version;
	uint64_t groups_gen;            /* bumped when any replica list changes */
};

static uint64_t
rmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;     /* FNV-1a */

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct rentry **
rmap_slot(struct rmap *m, const char *key)
{
	struct rentry **pp;

	if (m->size == 0)
		return NULL;
	for (pp = &m->tab[rmap_hash(key) & (m->size - 1)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (strcmp((*pp)->key, key) == 0)
			return pp;
	return pp;
}

static int
rmap_grow(struct rmap *m)
{
	size_t nsize = m->size ? m->size * 2 : 64, i;
	struct rentry **nt, *e, *n;

	if ((nt = calloc(nsize, sizeof(*nt))) == NULL)
		return -ENOMEM;
	for (i = 0; i < m->size; i++) {
		for (e = m->tab[i]; e != NULL; e = n) {
			n = e->next;
			e->next = nt[rmap_hash(e->key) & (nsize - 1)];
			nt[rmap_hash(e->key) & (nsize - 1)] = e;
		}
	}
	free(m->tab);
	m->tab = nt;
	m->size = nsize;
	return 0;
}

static struct rentry *
rmap_get(struct rmap *m, const char *key)
{
	struct rentry **pp = rmap_slot(m, key);

	return pp ? *pp : NULL;
}

static struct rentry *
rmap_put(struct rmap *m, const char *key)
{
	struct rentry **pp, *e;
	size_t len = strlen(key);

	if ((m->n + 1 > m->size) && rmap_grow(m) != 0)
		return NULL;
	pp = rmap_slot(m, key);
	if (*pp != NULL)
		return *pp;
	if ((e = calloc(1, sizeof(*e) + len + 1)) == NULL)
		return NULL;
	memcpy(e->key, key, len + 1);
	*pp = e;
	m->n++;
	return e;
}

static void
rentry_reps_free(struct rentry *e)
{
	uint32_t i;

	for (i = 0; i < e->nreps; i++)
		free(e->reps[i].node);
	free(e->reps);
	e->reps = NULL;
	e->nreps = 0;
}

static void
rentry_free(struct rentry *e)
{
	free(e->node);
	free(e->alt);
	free(e->app);
	rentry_reps_free(e);
	free(e);
}

/* The replicas of a grouped route, as the router lists them. */
static int
rentry_reps_set(struct rentry *e, const struct ipcmsg_route *rt,
    const char *self)
{
	uint32_t i, n = rt->nreplicas;

	rentry_reps_free(e);
	if (n == 0)
		return 0;
	if ((e->reps = calloc(n, sizeof(*e->reps))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct ipcmsg_route *p = &rt->replicas[i];
		const char *node = p->node != NULL ? p->node : "";
		struct routes_replica *v = &e->reps[e->nreps];

		if (node[0] != '\0' && strcmp(node, self) != 0 &&
		    (strlen(node) > ROUTES_NODE_MAX ||
		    (v->node = strdup(node)) == NULL)) {
			rentry_reps_free(e);
			return -ENOMEM;
		}
		v->session = p->session;
		v->tunnel_id = p->tunnel_id;
		snprintf(v->region, sizeof(v->region), "%s",
		    p->grp.region != NULL ? p->grp.region : "");
		v->weight = p->grp.weight;
		v->soft_limit = p->grp.soft_limit;
		v->hard_limit = p->grp.hard_limit;
		e->nreps++;
	}
	return 0;
}

/* Drops the replica whose session closed here; returns how many are left. */
static uint32_t
rentry_reps_drop(struct rentry *e, uint64_t session)
{
	uint32_t i, k = 0;

	for (i = 0; i < e->nreps; i++) {
		if (e->reps[i].node == NULL && e->reps[i].session == session)
			continue;
		e->reps[k++] = e->reps[i];
	}
	e->nreps = k;
	return k;
}

static void
rmap_del(struct rmap *m, const char *key)
{
	struct rentry **pp = rmap_slot(m, key), *e;

	if (pp == NULL || (e = *pp) == NULL)
		return;
	*pp = e->next;
	rentry_free(e);
	m->n--;
}

static void
rmap_clear(struct rmap *m)
{
	struct rentry *e, *n;
	size_t i;

	for (i = 0; i < m->size; i++) {
		for (e = m->tab[i]; e != NULL; e = n) {
			n = e->next;
			rentry_free(e);
		}
		m->tab[i] = NULL;
	}
	m->n = 0;
}

struct routes *
routes_new(const char *self)
{
	struct routes *r = calloc(1, sizeof(struct routes));

	if (r != NULL)
		snprintf(r->self, sizeof(r->self), "%s", self);
	return r;
}

void
routes_free(struct routes *r)
{
	if (r == NULL)
		return;
	rmap_clear(&r->table);
	rmap_clear(&r->claims);
	free(r->table.tab);
	free(r->claims.tab);
	free(r);
}

int
routes_apply(struct routes *r, const struct ipcmsg_table *t)
{
	uint32_t i;

	if (!t->delta) {
		rmap_clear(&r->table);
		r->groups_gen++;
	}
	for (i = 0; i < t->n; i++) {
		const struct ipcmsg_route *rt = &t->routes[i];
		struct rentry *e;

		/* tcp routes are kept under "tcp/<port>": their listener knows
		 * its tunnel, but a port held anywhere in the cluster is not
		 * handed out again */
		char key[300];

		if (rt->kind == TUNNEL_TCP)
			snprintf(key, sizeof(key), "%s%u", ROUTES_TCP_PREFIX,
			    (unsigned)rt->port);
		else if ((rt->kind == TUNNEL_HTTP || rt->kind == TUNNEL_TLS) &&
		    rt->host != NULL)
			snprintf(key, sizeof(key), "%s%s",
			    rt->kind == TUNNEL_TLS ? ROUTES_TLS_PREFIX : "", rt->host);
		else
			continue;
		if (rt->state == ROUTE_DELETED) {
			if ((e = rmap_get(&r->table, key)) != NULL && e->nreps > 0)
				r->groups_gen++;
			rmap_del(&r->table, key);
			continue;
		}
		if ((e = rmap_put(&r->table, key)) == NULL)
			return -ENOMEM;
		e->state = rt->state;
		e->session = rt->session;
		e->tunnel_id = rt->tunnel_id;
		free(e->node);
		e->node = NULL;
		if (rt->node != NULL && rt->node[0] != '\0' &&
		    strcmp(rt->node, r->self) != 0 &&
		    strlen(rt->node) <= ROUTES_NODE_MAX &&
		    (e->node = strdup(rt->node)) == NULL)
			return -ENOMEM;
		if (e->nreps > 0 || rt->nreplicas > 0)
			r->groups_gen++;
		if (rentry_reps_set(e, rt, r->self) != 0)
			return -ENOMEM;
		free(e->app);
		e->app = NULL;
		if ((rt->state == ROUTE_APP || e->nreps > 0) &&
		    (e->app = strdup(rt->grp.name != NULL ? rt->grp.name : "")) == NULL)
			return -ENOMEM;
		free(e->alt);
		e->alt = NULL;
		e->alt_session = rt->alt_session;
		e->alt_tunnel_id = rt->alt_tunnel_id;
		if (rt->alt_node != NULL && rt->alt_node[0] != '\0' &&
		    strcmp(rt->alt_node, r->self) != 0 &&
		    strlen(rt->alt_node) <= ROUTES_NODE_MAX &&
		    (e->alt = strdup(rt->alt_node)) == NULL)
			return -ENOMEM;
	}
	r->epoch = t->epoch;
	r->version = t->version;
	return 0;
}

bool
routes_port_held(struct routes *r, unsigned port)
{
	struct rentry *e;
	char key[32];

	snprintf(key, sizeof(key), "%s%u", ROUTES_TCP_PREFIX, port);
	e = rmap_get(&r->table, key);
	return e != NULL && e->state == ROUTE_ONLINE;
}

void
routes_version(const struct routes *r, uint64_t *epoch, uint64_t *version)
{
	*epoch = r->epoch;
	*version = r->version;
}

int
routes_claim_host(struct routes *r, const char *host, uint64_t session,
    uint32_t tunnel_id)
{
	struct rentry *e = rmap_put(&r->claims, host);

	if (e == NULL)
		return -ENOMEM;
	e->state = ROUTE_ONLINE;
	e->session = session;
	e->tunnel_id = tunnel_id;
	return 0;
}

void
routes_unclaim_session(struct routes *r, uint64_t session)
{
	struct rentry **pp, *e;
	size_t i;

	for (i = 0; i < r->claims.size; i++) {
		for (pp = &r->claims.tab[i]; (e = *pp) != NULL;) {
			if (e->session == session) {
				struct rentry *t = rmap_put(&r->table, e->key);

				/* a replica of a group: the others still serve */
				if (t != NULL && t->nreps > 0)
					r->groups_gen++;
				if (t != NULL && t->nreps > 0 &&
				    rentry_reps_drop(t, session) > 0) {
					*pp = e->next;
					free(e);
					r->claims.n--;
					continue;
				}

				/* we know this tunnel existed: offline (503)
				 * until the router's table says otherwise,
				 * even if its delta for the claim was missed */
				if (t != NULL) {
					free(t->node);
					t->node = NULL;
					t->state = ROUTE_OFFLINE;
					t->session = e->session;
					t->tunnel_id = e->tunnel_id;
				}
				*pp = e->next;
				free(e);
				r->claims.n--;
			} else {
				pp = &e->next;
			}
		}
	}
}

static void
routes_alt(const struct rentry *e, struct route_claim *claim)
{
	if (e->alt == NULL)
		return;
	snprintf(claim->alt_node, sizeof(claim->alt_node), "%s", e->alt);
	claim->alt_session = e->alt_session;
	claim->alt_tunnel_id = e->alt_tunnel_id;
}

const char *
routes_app(struct routes *r, const char *host)
{
	struct rentry *e = rmap_get(&r->table, host);

	if (e == NULL)
		return NULL;
	if (e->state == ROUTE_APP || (e->state == ROUTE_ONLINE && e->nreps > 0))
		return e->app;
	return NULL;
}

uint64_t
routes_groups_gen(const struct routes *r)
{
	return r->groups_gen;
}

void
routes_each_replica(struct routes *r,
    void (*fn)(void *arg, const char *app, const struct routes_replica *rep),
    void *arg)
{
	struct rentry *e;
	size_t i;
	uint32_t k;

	for (i = 0; i < r->table.size; i++)
		for (e = r->table.tab[i]; e != NULL; e = e->next)
			if (e->state == ROUTE_ONLINE && e->app != NULL)
				for (k = 0; k < e->nreps; k++)
					fn(arg, e->app, &e->reps[k]);
}

enum routes_result
routes_lookup_host(struct routes *r, const char *host, struct route_claim *claim)
{
	struct rentry *t = rmap_get(&r->table, host), *e;

	/* a grouped name: the load balancer picks among its replicas */
	if (t != NULL && t->state == ROUTE_ONLINE && t->nreps > 0)
		return ROUTES_GROUP;
	if ((e = rmap_get(&r->claims, host)) != NULL) {
		claim->session = e->session;
		claim->tunnel_id = e->tunnel_id;
		return ROUTES_LOCAL;
	}
	if (t == NULL || t->state == ROUTE_DELETED)
		return ROUTES_UNKNOWN;
	if (t->state == ROUTE_APP && t->app != NULL)
		return ROUTES_APP;
	claim->alt_node[0] = '\0';
	if (t->state == ROUTE_ONLINE && t->node != NULL) {
		claim->session = t->session;
		claim->tunnel_id = t->tunnel_id;
		snprintf(claim->node, sizeof(claim->node), "%s", t->node);
		routes_alt(t, claim);
		return ROUTES_REMOTE;
	}
	if (t->alt != NULL) {
		/* the holder's session was here and is gone: the same client's
		 * other session (--ha) still serves */
		claim->session = t->alt_session;
		claim->tunnel_id = t->alt_tunnel_id;
		snprintf(claim->node, sizeof(claim->node), "%s", t->alt);
		return ROUTES_REMOTE;
	}
	return ROUTES_OFFLINE;
}

void
routes_each_remote_port(struct routes *r,
    void (*fn)(void *arg, unsigned port, const struct route_claim *claim),
    void *arg)
{
	struct route_claim c;
	struct rentry *e;
	size_t i, plen = strlen(ROUTES_TCP_PREFIX);

	for (i = 0; i < r->table.size; i++) {
		for (e = r->table.tab[i]; e != NULL; e = e->next) {
			if (e->state != ROUTE_ONLINE || e->node == NULL ||
			    strncmp(e->key, ROUTES_TCP_PREFIX, plen) != 0)
				continue;
			c.session = e->session;
			c.tunnel_id = e->tunnel_id;
			snprintf(c.node, sizeof(c.node), "%s", e->node);
			c.alt_node[0] = '\0';
			routes_alt(e, &c);
			fn(arg, (unsigned)atoi(e->key + plen), &c);
		}
	}
}


/* Is key held, in the router's table, by something other than session? */
static bool
routes_elsewhere(struct routes *r, const char *key, uint64_t session)
{
	struct rentry *e = rmap_get(&r->table, key);
	uint32_t i;

	if (e == NULL || e->state != ROUTE_ONLINE)
		return false;
	if (e->nreps > 0) {
		for (i = 0; i < e->nreps; i++)
			if (e->reps[i].node == NULL && e->reps[i].session == session)
				return false;
		return true;
	}
	return e->node != NULL || e->session != session;
}

bool
routes_session_moved(struct routes *r, uint64_t session, const unsigned *ports,
    size_t nports)
{
	struct rentry *e;
	char key[32];
	size_t i;

	for (i = 0; i < r->claims.size; i++)
		for (e = r->claims.tab[i]; e != NULL; e = e->next)
			if (e->session == session &&
			    !routes_elsewhere(r, e->key, session))
				return false;
	for (i = 0; i < nports; i++) {
		snprintf(key, sizeof(key), "%s%u", ROUTES_TCP_PREFIX, ports[i]);
		if (!routes_elsewhere(r, key, session))
			return false;
	}
	return true;
}
