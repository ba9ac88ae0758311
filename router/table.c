#include "router/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_BUCKETS_MIN       64

struct table_entry {
	struct table_entry *next;       /* bucket chain */
	uint64_t hash;
	struct ipcmsg_route route;
	char *client_id;
};

struct table {
	struct table_entry **buckets;
	size_t nbuckets;                /* power of two */
	size_t n;
};

/* FNV-1a over the kind and the host or port: the entry's identity. */
static uint64_t
table_hash(uint8_t kind, const char *host, uint16_t port)
{
	uint64_t h = 1469598103934665603ull;
	const unsigned char *p;

	h = (h ^ kind) * 1099511628211ull;
	if (kind == TUNNEL_TCP) {
		h = (h ^ (port & 0xff)) * 1099511628211ull;
		h = (h ^ (port >> 8)) * 1099511628211ull;
	} else {
		for (p = (const unsigned char *)host; *p != '\0'; p++)
			h = (h ^ *p) * 1099511628211ull;
	}
	return h;
}

static bool
table_same_key(const struct ipcmsg_route *r, uint8_t kind, const char *host,
    uint16_t port)
{
	if (r->kind != kind)
		return false;
	if (kind == TUNNEL_TCP)
		return r->port == port;
	return strcmp(r->host, host) == 0;
}

int
table_new(struct table **out)
{
	struct table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->nbuckets = TABLE_BUCKETS_MIN;
	if ((t->buckets = calloc(t->nbuckets, sizeof(*t->buckets))) == NULL) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

static void
table_entry_free(struct table_entry *e)
{
	ipcmsg_route_fini(&e->route);
	free(e->client_id);
	free(e);
}

void
table_free(struct table *t)
{
	struct table_entry *e, *next;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			table_entry_free(e);
		}
	}
	free(t->buckets);
	free(t);
}

size_t
table_count(const struct table *t)
{
	return t->n;
}

size_t
table_count_state(const struct table *t, uint8_t state)
{
	const struct table_entry *e;
	size_t i, n = 0;

	for (i = 0; i < t->nbuckets; i++)
		for (e = t->buckets[i]; e != NULL; e = e->next)
			if (e->route.state == state)
				n++;
	return n;
}

static struct table_entry *
table_lookup(const struct table *t, uint8_t kind, const char *host,
    uint16_t port)
{
	struct table_entry *e;
	uint64_t h;

	if (host == NULL)
		host = "";
	h = table_hash(kind, host, port);
	for (e = t->buckets[h & (t->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && table_same_key(&e->route, kind, host, port))
			return e;
	return NULL;
}

const struct ipcmsg_route *
table_find(const struct table *t, uint8_t kind, const char *host,
    uint16_t port, const char **client_id)
{
	struct table_entry *e = table_lookup(t, kind, host, port);

	if (e == NULL)
		return NULL;
	if (client_id != NULL)
		*client_id = e->client_id;
	return &e->route;
}

/* Doubles the bucket array when the load passes 1; failure only costs
 * speed, so it is ignored. */
static void
table_grow(struct table *t)
{
	struct table_entry **nb, *e, *next;
	size_t i, n = t->nbuckets * 2;

	if (t->n < t->nbuckets || (nb = calloc(n, sizeof(*nb))) == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

static bool
table_str_equal(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static bool
table_group_equal(const struct ipcmsg_group *a, const struct ipcmsg_group *b)
{
	return a->weight == b->weight && a->soft_limit == b->soft_limit &&
	    a->hard_limit == b->hard_limit && table_str_equal(a->name, b->name) &&
	    table_str_equal(a->token_id, b->token_id) &&
	    table_str_equal(a->region, b->region);
}

static bool
table_replicas_equal(const struct ipcmsg_route *a, const struct ipcmsg_route *b)
{
	uint32_t i;

	if (a->nreplicas != b->nreplicas || !table_group_equal(&a->grp, &b->grp))
		return false;
	for (i = 0; i < a->nreplicas; i++) {
		const struct ipcmsg_route *x = &a->replicas[i], *y = &b->replicas[i];

		if (x->session != y->session || x->tunnel_id != y->tunnel_id ||
		    !table_str_equal(x->node, y->node) ||
		    !table_group_equal(&x->grp, &y->grp))
			return false;
	}
	return true;
}

static bool
table_route_equal(const struct ipcmsg_route *a, const struct ipcmsg_route *b)
{
	return a->kind == b->kind && a->state == b->state &&
	    a->port == b->port && a->session == b->session &&
	    a->tunnel_id == b->tunnel_id && strcmp(a->host, b->host) == 0 &&
	    strcmp(a->node, b->node) == 0 &&
	    a->alt_session == b->alt_session &&
	    a->alt_tunnel_id == b->alt_tunnel_id &&
	    table_str_equal(a->alt_node, b->alt_node) &&
	    table_replicas_equal(a, b);
}

int
table_put(struct table *t, const struct ipcmsg_route *r,
    const char *client_id, struct ipcmsg_table *delta)
{
	struct table_entry *e, *old;
	size_t b;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	if (ipcmsg_route_copy(&e->route, r) != 0 ||
	    (e->client_id = strdup(client_id != NULL ? client_id : "")) == NULL) {
		table_entry_free(e);
		return -ENOMEM;
	}
	if (e->route.kind == TUNNEL_TCP)
		e->route.host[0] = '\0';
	else
		e->route.port = 0;
	e->hash = table_hash(e->route.kind, e->route.host, e->route.port);
	old = table_lookup(t, e->route.kind, e->route.host, e->route.port);
	if (old != NULL && table_route_equal(&old->route, &e->route) &&
	    strcmp(old->client_id, e->client_id) == 0) {
		table_entry_free(e);
		return 0;
	}
	if (delta != NULL && table_delta_add(delta, &e->route) != 0) {
		table_entry_free(e);
		return -ENOMEM;
	}
	if (old != NULL) {
		/* swap the contents so the chain stays as it is */
		struct ipcmsg_route tr = old->route;
		char *tc = old->client_id;

		old->route = e->route;
		old->client_id = e->client_id;
		e->route = tr;
		e->client_id = tc;
		table_entry_free(e);
		return 0;
	}
	b = e->hash & (t->nbuckets - 1);
	e->next = t->buckets[b];
	t->buckets[b] = e;
	t->n++;
	table_grow(t);
	return 0;
}

int
table_set_offline(struct table *t, const char *node, bool one_session,
    uint64_t session, struct ipcmsg_table *delta)
{
	struct table_entry *e;
	size_t i;
	int n = 0;

	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = e->next) {
			if (e->route.state != ROUTE_ONLINE ||
			    strcmp(e->route.node, node) != 0 ||
			    (one_session && e->route.session != session))
				continue;
			e->route.state = ROUTE_OFFLINE;
			n++;
			if (delta != NULL && table_delta_add(delta, &e->route) != 0)
				return -ENOMEM;
		}
	}
	return n;
}

static int
table_cmp(const void *pa, const void *pb)
{
	const struct ipcmsg_route *a = pa, *b = pb;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == TUNNEL_TCP)
		return (int)a->port - (int)b->port;
	return strcmp(a->host, b->host);
}

struct ipcmsg_route *
table_list(const struct table *t, uint32_t *n)
{
	struct ipcmsg_route *v;
	const struct table_entry *e;
	size_t i, k = 0;

	*n = 0;
	if (t->n == 0)
		return NULL;
	if ((v = calloc(t->n, sizeof(*v))) == NULL) {
		*n = (uint32_t)-1;
		return NULL;
	}
	for (i = 0; i < t->nbuckets; i++)
		for (e = t->buckets[i]; e != NULL; e = e->next)
			v[k++] = e->route;
	qsort(v, k, sizeof(*v), table_cmp);
	*n = (uint32_t)k;
	return v;
}

void
table_each_replica(const struct table *t, const char *app,
    void (*fn)(void *arg, const char *group, const struct ipcmsg_route *rep),
    void *arg)
{
	const struct table_entry *e;
	const struct ipcmsg_route *r;
	size_t i;
	uint32_t k;

	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = e->next) {
			r = &e->route;
			if (r->state != ROUTE_ONLINE || r->nreplicas == 0 ||
			    r->grp.name == NULL || r->grp.name[0] == '\0' ||
			    (app != NULL && strcmp(r->grp.name, app) != 0))
				continue;
			for (k = 0; k < r->nreplicas; k++)
				fn(arg, r->grp.name, &r->replicas[k]);
		}
	}
}

int
table_delta_add(struct ipcmsg_table *d, const struct ipcmsg_route *r)
{
	struct ipcmsg_route *nr;
	uint32_t cap = d->n < 8 ? 8 : d->n;

	/* capacity is implicit: grow at powers of two */
	if (d->n == 0 || (d->n >= 8 && (d->n & (d->n - 1)) == 0)) {
		nr = realloc(d->routes, (size_t)(d->n == 0 ? 8 : cap * 2) *
		    sizeof(*nr));
		if (nr == NULL)
			return -ENOMEM;
		d->routes = nr;
	}
	if (ipcmsg_route_copy(&d->routes[d->n], r) != 0)
		return -ENOMEM;
	d->n++;
	return 0;
}

/* Unlinks and frees one entry. */
static void
table_remove(struct table *t, struct table_entry *victim)
{
	struct table_entry **pp = &t->buckets[victim->hash & (t->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == victim) {
			*pp = victim->next;
			table_entry_free(victim);
			t->n--;
			return;
		}
	}
}

int
table_sync(struct table *t, const struct table *src, struct ipcmsg_table *delta)
{
	struct table_entry *e, *next;
	struct ipcmsg_route gone;
	size_t i;

	for (i = 0; i < src->nbuckets; i++)
		for (e = src->buckets[i]; e != NULL; e = e->next)
			if (table_put(t, &e->route, e->client_id, delta) != 0)
				return -ENOMEM;
	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			if (table_lookup(src, e->route.kind, e->route.host,
			    e->route.port) != NULL)
				continue;
			gone = e->route;
			gone.state = ROUTE_DELETED;
			if (delta != NULL && table_delta_add(delta, &gone) != 0)
				return -ENOMEM;
			table_remove(t, e);
		}
	}
	return 0;
}
