#include "router/lbpub.h"

#include <errno.h>
#include <inttypes.h>
#include <nng/nng.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipc.h"
#include "ipcmsg.h"
#include "lbmsg.h"
#include "lbpick.h"
#include "log.h"
#include "router/lbhealth.h"
#include "router/lbrows.h"
#include "router/table.h"

struct lbpub {
	struct ev_loop *loop;
	sqlite3 *db;
	struct ipc_sock *pub;
	struct lbhealth *health;
	char *node;
	struct lbmsg cur;               /* what was last published (owned) */
	uint64_t publishes;
	ev_timer lease;                 /* the next API lease to expire */
	const struct table *table;      /* the groups' replicas, or NULL */
	char *probe_path;               /* the acceptor's probe socket */
};

void
lbpub_set_table(struct lbpub *p, const struct table *t, const char *probe_path)
{
	p->table = t;
	free(p->probe_path);
	p->probe_path = strdup(probe_path);
	lbpub_reload(p);
}

struct lbpub_walk {
	struct lbpub *p;
	void (*fn)(struct lbpub *p, const char *app, const char *id,
	    const struct ipcmsg_route *rep, void *arg);
	void *arg;
};

static void
lbpub_walk_one(void *arg, const char *group, const struct ipcmsg_route *rep)
{
	struct lbpub_walk *w = arg;
	char id[300];

	lbmsg_replica_id(id, sizeof(id), rep->node != NULL ? rep->node : "",
	    rep->session, rep->tunnel_id);
	w->fn(w->p, group, id, rep, w->arg);
}

/* Calls fn for every replica of every online grouped name (a replica of
 * several names once per name), with its candidate id. */
static void
lbpub_each_replica(struct lbpub *p, void (*fn)(struct lbpub *p,
    const char *app, const char *id, const struct ipcmsg_route *rep,
    void *arg), void *arg)
{
	struct lbpub_walk w = { p, fn, arg };

	if (p->table != NULL)
		table_each_replica(p->table, NULL, lbpub_walk_one, &w);
}

static void lbpub_publish(struct lbpub *p);

static void
lbpub_on_health(void *arg)
{
	lbpub_publish(arg);
}

static void
lbpub_on_lease(struct ev_loop *loop, ev_timer *w, int revents)
{
	lbpub_publish(w->data);
}

int
lbpub_new(struct lbpub **out, struct ev_loop *loop, const char *db_path,
    struct ipc_sock *pub, uint64_t epoch, const char *node)
{
	struct lbpub *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	p->loop = loop;
	p->pub = pub;
	ev_timer_init(&p->lease, lbpub_on_lease, 0., 0.);
	p->lease.data = p;
	p->cur.epoch = epoch;
	if ((p->node = strdup(node)) == NULL ||
	    lbhealth_new(&p->health, loop, lbpub_on_health, p) != 0) {
		lbpub_free(p);
		return -ENOMEM;
	}
	if (sqlite3_open_v2(db_path, &p->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("lb.pub", "db=%s err=\"%s\"", db_path, sqlite3_errmsg(p->db));
		lbpub_free(p);
		return -EIO;
	}
	sqlite3_busy_timeout(p->db, 1000);
	*out = p;
	lbpub_reload(p);
	return 0;
}

void
lbpub_free(struct lbpub *p)
{
	if (p == NULL)
		return;
	ev_timer_stop(p->loop, &p->lease);
	lbhealth_free(p->health);
	lbmsg_fini(&p->cur);
	sqlite3_close(p->db);
	free(p->node);
	free(p->probe_path);
	free(p);
}

/* The checks of every app from the apps table into the health checker's
 * targets (the table may be missing in a database gossip has not
 * upgraded yet: no checks then). */
/* The check of app from the apps table (s: its prepared query). Returns
 * true with *c set, false when the app has none (or a bad one). */
static bool
lbpub_app_check(sqlite3_stmt *s, const char *app, struct lbhealth_check *c)
{
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, app, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(s) != SQLITE_ROW)
		return false;
	memset(c, 0, sizeof(*c));
	if (lbhealth_parse(c, (const char *)sqlite3_column_text(s, 0)) != 0) {
		log_warn("lb.health", "app=%s err=\"bad health_check '%s' in "
		    "the apps table (want tcp or http:/path)\"", app,
		    (const char *)sqlite3_column_text(s, 0));
		return false;
	}
	c->interval_ms = (uint32_t)sqlite3_column_int64(s, 1);
	c->timeout_ms = (uint32_t)sqlite3_column_int64(s, 2);
	c->rise = (uint32_t)sqlite3_column_int64(s, 3);
	c->fall = (uint32_t)sqlite3_column_int64(s, 4);
	c->expect = (uint32_t)sqlite3_column_int64(s, 5);
	return true;
}

static void
lbpub_check_replica(struct lbpub *p, const char *app, const char *id,
    const struct ipcmsg_route *rep, void *arg)
{
	struct lbhealth_check c;

	if (p->probe_path != NULL && lbpub_app_check(arg, app, &c))
		lbhealth_set_probe(p->health, app, id, p->probe_path,
		    rep->node != NULL ? rep->node : "", rep->session,
		    rep->tunnel_id, &c);
}

static void
lbpub_checks(struct lbpub *p, const struct lbrows *lr)
{
	sqlite3_stmt *s;
	size_t i;

	lbhealth_begin(p->health);
	if (sqlite3_prepare_v2(p->db, "SELECT health_check, interval_ms,"
	    " timeout_ms, rise, fall, expect FROM apps WHERE app = ?1 AND"
	    " deleted = 0", -1, &s, NULL) != SQLITE_OK) {
		lbhealth_end(p->health);
		return;
	}
	for (i = 0; i < lr->n; i++) {
		const struct lbrow *w = &lr->rows[i];
		struct lbhealth_check c;

		if (!lbpub_app_check(s, w->app, &c))
			continue;
		if (lbhealth_set(p->health, w->app, w->id, w->wg_ip,
		    (unsigned)w->port, &c) == -EINVAL)
			log_warn("lb.health", "app=%s backend=%s err=\"wg_ip '%s' "
			    "port %lld is not an address to check\"", w->app, w->id,
			    w->wg_ip, w->port);
	}
	lbpub_each_replica(p, lbpub_check_replica, s);
	sqlite3_finalize(s);
	lbhealth_end(p->health);
}

/* A replica failing its check here: an entry of kind REPLICA with only
 * its app, id and LBPICK_DOWN (the acceptor knows the replicas from its
 * route table; this is what the checks add). */
static void
lbpub_down_replica(struct lbpub *p, const char *app, const char *id,
    const struct ipcmsg_route *rep, void *arg)
{
	struct lbmsg *m = arg;
	struct lbmsg_cand *o, *nv;
	uint32_t i;

	if (!lbhealth_down(p->health, app, id) || m->n >= LBMSG_MAX)
		return;
	for (i = 0; i < m->n; i++)
		if (m->c[i].kind == LBMSG_REPLICA && !strcmp(m->c[i].id, id) &&
		    !strcmp(m->c[i].app, app))
			return;
	if ((nv = realloc(m->c, (m->n + 1) * sizeof(*nv))) == NULL)
		return;
	m->c = nv;
	o = &m->c[m->n];
	memset(o, 0, sizeof(*o));
	o->kind = LBMSG_REPLICA;
	o->flags = LBPICK_DOWN;
	o->app = strdup(app);
	o->id = strdup(id);
	o->region = strdup("");
	o->country = strdup("");
	o->addr = strdup("");
	o->node = strdup(rep->node != NULL ? rep->node : "");
	if (o->app == NULL || o->id == NULL || o->region == NULL ||
	    o->country == NULL || o->addr == NULL || o->node == NULL) {
		lbmsg_cand_fini(o);
		return;
	}
	m->n++;
}

static bool
lbpub_same_cand(const struct lbmsg_cand *a, const struct lbmsg_cand *b)
{
	return a->kind == b->kind && a->flags == b->flags &&
	    a->port == b->port && a->weight == b->weight &&
	    a->soft_limit == b->soft_limit && a->hard_limit == b->hard_limit &&
	    !strcmp(a->app, b->app) && !strcmp(a->id, b->id) &&
	    !strcmp(a->region, b->region) && !strcmp(a->country, b->country) &&
	    !strcmp(a->addr, b->addr) && !strcmp(a->node, b->node);
}

static void
lbpub_send(struct lbpub *p, const struct lbmsg *m)
{
	nng_msg *msg;
	int rv;

	if ((msg = lbmsg_encode(m)) == NULL) {
		log_error("lb.publish", "version=%" PRIu64 " n=%u err=\"cannot "
		    "encode\"", m->version, m->n);
		return;
	}
	if ((rv = ipc_publish(p->pub, msg)) != 0)
		log_warn("lb.publish", "version=%" PRIu64 " err=\"%s\"", m->version,
		    nng_strerror(rv));
}

/* Builds the candidate list from routing.db and the checks; publishes it
 * as a new version when it differs from the last. */
static void
lbpub_build(struct lbpub *p, bool reload_checks)
{
	struct lbrows lr;
	struct lbmsg m;
	char err[256];
	uint32_t i;
	bool same;

	if (lbrows_load(p->db, NULL, true, LBMSG_MAX, (int64_t)time(NULL), &lr,
	    err, sizeof(err)) != 0) {
		log_warn("lb.load", "err=\"%s\"", err);
		return;
	}
	if (reload_checks)
		lbpub_checks(p, &lr);
	/* an API backend's lease runs out without a write: look again then */
	ev_timer_stop(p->loop, &p->lease);
	if (lr.next_expiry > 0) {
		double in = (double)lr.next_expiry - ev_time() + 0.05;

		ev_timer_set(&p->lease, in > 0.05 ? in : 0.05, 0.);
		ev_timer_start(p->loop, &p->lease);
	}
	memset(&m, 0, sizeof(m));
	m.epoch = p->cur.epoch;
	if (lr.n > 0 && (m.c = calloc(lr.n, sizeof(*m.c))) == NULL) {
		lbrows_fini(&lr);
		return;
	}
	for (i = 0; i < lr.n; i++) {
		struct lbrow *w = &lr.rows[i];
		const struct lbpick_cand *c = &lr.cands[i];
		struct lbmsg_cand *o = &m.c[m.n];

		if (w->port <= 0 || w->port > 65535)
			continue;
		o->kind = LBMSG_BACKEND;
		o->flags = c->flags;
		if (lbhealth_down(p->health, w->app, w->id))
			o->flags |= LBPICK_DOWN;
		/* the strings move into the message */
		o->app = w->app;
		o->id = w->id;
		o->region = w->region;
		o->addr = w->wg_ip;
		o->country = w->country != NULL ? w->country : strdup("");
		o->node = strdup("");
		w->app = w->id = w->region = w->wg_ip = w->country = NULL;
		o->port = (uint16_t)w->port;
		o->weight = c->weight;
		o->soft_limit = c->soft_limit;
		o->hard_limit = c->hard_limit;
		m.n++;
		if (o->country == NULL || o->node == NULL) {
			lbmsg_fini(&m);
			lbrows_fini(&lr);
			return;
		}
	}
	lbrows_fini(&lr);
	lbpub_each_replica(p, lbpub_down_replica, &m);
	same = m.n == p->cur.n;
	for (i = 0; same && i < m.n; i++)
		same = lbpub_same_cand(&m.c[i], &p->cur.c[i]);
	if (same && p->publishes > 0) {
		lbmsg_fini(&m);
		return;
	}
	m.version = p->cur.version + 1;
	lbmsg_fini(&p->cur);
	p->cur = m;
	p->publishes++;
	log_info("lb.publish", "version=%" PRIu64 " candidates=%u", m.version, m.n);
	lbpub_send(p, &p->cur);
}

static void
lbpub_publish(struct lbpub *p)
{
	lbpub_build(p, false);
}

void
lbpub_reload(struct lbpub *p)
{
	lbpub_build(p, true);
}

void
lbpub_beacon(struct lbpub *p)
{
	struct lbmsg b = { p->cur.epoch, p->cur.version, 1, 0, NULL };

	lbpub_send(p, &b);
}

nng_msg *
lbpub_snapshot(struct lbpub *p)
{
	return lbmsg_encode(&p->cur);
}

bool
lbpub_handle(struct lbpub *p, const char *method, const char *path,
    int *status, json_t **out)
{
	json_t *arr;
	size_t i;
	json_t *o;

	if (strcmp(path, "/v1/lb/health") != 0)
		return false;
	if (strcmp(method, "GET") != 0) {
		*status = 405;
		*out = json_pack("{s:b, s:s}", "ok", 0, "error", "only GET is supported");
		return true;
	}
	arr = lbhealth_json(p->health);
	json_array_foreach(arr, i, o)
		json_object_set_new(o, "node", json_string(p->node));
	*status = 200;
	*out = arr;
	return true;
}

char *
lbpub_metrics(struct lbpub *p)
{
	const struct lbhealth_stats *s = lbhealth_stats(p->health);
	size_t targets, down;
	char *out;

	lbhealth_count(p->health, &targets, &down);
	if (asprintf(&out,
	    "# HELP warren_router_lb_health_checks_total Active health checks run by this node, by result.\n"
	    "# TYPE warren_router_lb_health_checks_total counter\n"
	    "warren_router_lb_health_checks_total{result=\"ok\"} %" PRIu64 "\n"
	    "warren_router_lb_health_checks_total{result=\"failed\"} %" PRIu64 "\n"
	    "# HELP warren_router_lb_health_transitions_total Candidates that went down or came back up on this node.\n"
	    "# TYPE warren_router_lb_health_transitions_total counter\n"
	    "warren_router_lb_health_transitions_total{to=\"down\"} %" PRIu64 "\n"
	    "warren_router_lb_health_transitions_total{to=\"up\"} %" PRIu64 "\n"
	    "# HELP warren_router_lb_health_targets Candidates checked by this node, by state.\n"
	    "# TYPE warren_router_lb_health_targets gauge\n"
	    "warren_router_lb_health_targets{state=\"up\"} %zu\n"
	    "warren_router_lb_health_targets{state=\"down\"} %zu\n"
	    "# HELP warren_router_lb_candidates Load-balancing candidates published to the acceptor.\n"
	    "# TYPE warren_router_lb_candidates gauge\n"
	    "warren_router_lb_candidates %u\n"
	    "# HELP warren_router_lb_version Version of the candidate set.\n"
	    "# TYPE warren_router_lb_version gauge\n"
	    "warren_router_lb_version %" PRIu64 "\n",
	    s->checks - s->failed, s->failed, s->went_down, s->went_up,
	    targets - down, down, p->cur.n, p->cur.version) < 0)
		return NULL;
	return out;
}

struct lbhealth *
lbpub_health(struct lbpub *p)
{
	return p->health;
}
