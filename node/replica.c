#include "replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acceptor.h"
#include "l4proxy.h"
#include "lbmsg.h"
#include "log.h"
#include "routes.h"

struct replica_list {
	const char *self;
	struct lbmsg_cand *v;
	size_t n, cap;
	int err;
};

static char *
replica_strdup(struct replica_list *l, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		l->err = -1;
	return d;
}

static void
replica_collect(void *arg, const char *app, const struct routes_replica *rep)
{
	struct replica_list *l = arg;
	struct lbmsg_cand *c, *nv;
	char id[ROUTES_NODE_MAX + 40];

	if (l->err != 0)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap > 0 ? 2 * l->cap : 16;

		if ((nv = realloc(l->v, cap * sizeof(*nv))) == NULL) {
			l->err = -1;
			return;
		}
		l->v = nv;
		l->cap = cap;
	}
	lbmsg_replica_id(id, sizeof(id), rep->node != NULL ? rep->node : l->self,
	    rep->session, rep->tunnel_id);
	c = &l->v[l->n++];
	memset(c, 0, sizeof(*c));
	c->kind = LBMSG_REPLICA;
	c->app = replica_strdup(l, app);
	c->id = replica_strdup(l, id);
	c->region = replica_strdup(l, rep->region);
	c->country = replica_strdup(l, "");
	c->addr = replica_strdup(l, "");
	c->node = replica_strdup(l, rep->node != NULL ? rep->node : "");
	c->session = rep->session;
	c->tunnel_id = rep->tunnel_id;
	c->weight = rep->weight;
	c->soft_limit = rep->soft_limit;
	c->hard_limit = rep->hard_limit;
}

static int
replica_cmp(const void *x, const void *y)
{
	const struct lbmsg_cand *a = x, *b = y;
	int c = strcmp(a->app, b->app);

	return c != 0 ? c : strcmp(a->id, b->id);
}

void
replica_sync(struct acceptor *a)
{
	struct replica_list l = { a->conf.name, NULL, 0, 0, 0 };
	struct lbmsg m;
	size_t i, k;
	uint64_t gen = routes_groups_gen(a->routes);

	if (a->l4 == NULL || gen == a->groups_gen)
		return;
	routes_each_replica(a->routes, replica_collect, &l);
	m.n = (uint32_t)l.n;
	m.c = l.v;
	if (l.err != 0) {
		lbmsg_fini(&m);
		log_error("lb.replicas", "error=\"out of memory\"");
		return;     /* tried again at the next change */
	}
	a->groups_gen = gen;
	/* a replica serving several names (or http and tls) comes once */
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), replica_cmp);
	for (i = k = 0; i < l.n; i++) {
		if (k > 0 && replica_cmp(&l.v[k - 1], &l.v[i]) == 0) {
			lbmsg_cand_fini(&l.v[i]);
			continue;
		}
		l.v[k++] = l.v[i];
	}
	l4proxy_set_replicas(a->l4, l.v, k);
}
