#include "router/lbexplain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geoip.h"
#include "lbmsg.h"
#include "lbpick.h"
#include "log.h"
#include "nodeconf.h"
#include "regionmap.h"
#include "router/lbrows.h"
#include "router/table.h"

#define LBEXPLAIN_PREFIX        "/v1/lb/explain/"
#define LBEXPLAIN_MAX           65536   /* backends of one app shown */

struct lbexplain {
	sqlite3 *db;
	struct geoip *geoip;            /* NULL: no --geoip-db */
	struct regionmap map;
	struct lbpick_where local;
	char *region;                   /* as configured */
	const struct table *table;      /* the route table: the groups' replicas */
};

void
lbexplain_set_table(struct lbexplain *x, const struct table *t)
{
	x->table = t;
}

int
lbexplain_open(struct lbexplain **out, const struct lbexplain_conf *c,
    char *err, size_t errlen)
{
	struct lbexplain *x;
	int rc;

	if ((x = calloc(1, sizeof(*x))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (sqlite3_open_v2(c->db_path, &x->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", c->db_path,
		    sqlite3_errmsg(x->db));
		rc = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(x->db, 1000);
	if (c->geoip_db != NULL && c->geoip_db[0] != '\0' &&
	    (rc = geoip_open(&x->geoip, c->geoip_db, err, errlen)) != 0)
		goto fail;
	if (c->region_map != NULL && c->region_map[0] != '\0') {
		if ((rc = regionmap_load(&x->map, c->region_map, err, errlen)) != 0)
			goto fail;
	} else {
		regionmap_default(&x->map);
	}
	/* a region name the decision cannot hold leaves the node without
	 * one (no backend is tier 2) rather than stopping the router */
	if (lbpick_region(&x->local.region, c->region, strlen(c->region)) != 0)
		log_warn("lb.region", "region=\"%s\" err=\"not usable for load "
		    "balancing: a region is 1 to %d printable characters without "
		    "spaces\"", c->region, LBPICK_REGION_MAX);
	if ((x->region = strdup(c->region)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	*out = x;
	return 0;
fail:
	lbexplain_close(x);
	return rc;
}

int
lbexplain_start(struct lbexplain **out, const struct node_conf *nc,
    const char *db_path)
{
	struct lbexplain_conf c = { db_path, nc->region, nc->geoip_db,
	    nc->region_map };
	char err[512];
	int rc;

	if ((rc = lbexplain_open(out, &c, err, sizeof(err))) != 0) {
		log_error("lb.start", "err=\"%s\"", err);
		return rc;
	}
	log_info("lb.start", "region=%s geoip=\"%s\" region_map=\"%s\"",
	    nc->region, (*out)->geoip != NULL ? geoip_type((*out)->geoip) : "",
	    nc->region_map[0] != '\0' ? nc->region_map : "edgeProxy's");
	return 0;
}

void
lbexplain_close(struct lbexplain *x)
{
	if (x == NULL)
		return;
	sqlite3_close(x->db);
	geoip_free(x->geoip);
	free(x->region);
	free(x);
}

static json_t *
lbexplain_error(int *status, int code, const char *msg)
{
	*status = code;
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static const char *const lbexplain_why[] = {
	[LBPICK_WHY_SCORED] = "scored",
	[LBPICK_WHY_UNHEALTHY] = "unhealthy",
	[LBPICK_WHY_DELETED] = "deleted",
	[LBPICK_WHY_DOWN] = "down here",
	[LBPICK_WHY_FULL] = "at hard limit",
};

/* The app's backends, by region then id (the order the decision expects),
 * as candidates plus their rows for the answer. Backends registered
 * through the API hold a lease (heartbeats): an expired one is out. */
/* One candidate and its row, while the backends and replicas are sorted
 * together into the decision's order (region, then id). */
struct lbexplain_pair {
	struct lbpick_cand cand;
	json_t *row;
	const char *id;
};

static int
lbexplain_pair_cmp(const void *pa, const void *pb)
{
	const struct lbexplain_pair *a = pa, *b = pb;
	int c = memcmp(&a->cand.region, &b->cand.region, sizeof(a->cand.region));

	return c != 0 ? c : strcmp(a->id, b->id);
}

struct lbexplain_add {
	json_t *rows;
	int err;
};

static void
lbexplain_add_replica(void *arg, const char *group,
    const struct ipcmsg_route *p)
{
	struct lbexplain_add *a = arg;
	const char *reg = p->grp.region != NULL ? p->grp.region : "";
	const char *node = p->node != NULL ? p->node : "";
	char id[300];
	json_t *o;
	size_t j;

	if (a->err != 0)
		return;
	lbmsg_replica_id(id, sizeof(id), node, p->session, p->tunnel_id);
	for (j = 0; j < json_array_size(a->rows); j++)
		if (strcmp(json_string_value(json_object_get(json_array_get(a->rows,
		    j), "id")), id) == 0)
			return;         /* it serves another name too */
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "id", id, "kind",
	    "replica", "node", node, "region", reg, "weight",
	    (json_int_t)p->grp.weight, "soft_limit", (json_int_t)p->grp.soft_limit,
	    "hard_limit", (json_int_t)p->grp.hard_limit);
	if (o == NULL || json_array_append_new(a->rows, o) != 0)
		a->err = -ENOMEM;
}

/* Adds the replicas of the group named app (the acceptor's candidates
 * beside the app's backends, node/replica.h) to rows and *v[*n], all in
 * the decision's order. Returns 0 or -ENOMEM. */
static int
lbexplain_replicas(struct lbexplain *x, const char *app, json_t *rows,
    struct lbpick_cand **v, size_t *n)
{
	struct lbexplain_pair *pv = NULL;
	struct lbpick_cand *nv;
	struct lbexplain_add add = { rows, 0 };
	size_t np, j;
	json_t *o;

	table_each_replica(x->table, app, lbexplain_add_replica, &add);
	if (add.err != 0)
		return add.err;
	np = json_array_size(rows);
	if (np == *n)
		return 0;
	/* backends and replicas, sorted together */
	if ((pv = calloc(np, sizeof(*pv))) == NULL ||
	    (nv = calloc(np, sizeof(*nv))) == NULL) {
		free(pv);
		return -ENOMEM;
	}
	for (j = 0; j < np; j++) {
		o = json_array_get(rows, j);
		pv[j].row = json_incref(o);
		pv[j].id = json_string_value(json_object_get(o, "id"));
		if (j < *n) {
			pv[j].cand = (*v)[j];
		} else {
			const char *reg = json_string_value(json_object_get(o, "region"));

			pv[j].cand.id = lbpick_id(pv[j].id, strlen(pv[j].id));
			lbpick_region(&pv[j].cand.region, reg, strlen(reg));
			pv[j].cand.weight = (uint32_t)json_integer_value(
			    json_object_get(o, "weight"));
			pv[j].cand.soft_limit = (uint32_t)json_integer_value(
			    json_object_get(o, "soft_limit"));
			pv[j].cand.hard_limit = (uint32_t)json_integer_value(
			    json_object_get(o, "hard_limit"));
		}
	}
	qsort(pv, np, sizeof(*pv), lbexplain_pair_cmp);
	json_array_clear(rows);
	for (j = 0; j < np; j++) {
		nv[j] = pv[j].cand;
		json_array_append_new(rows, pv[j].row);
	}
	lbpick_prepare(nv, np);
	free(pv);
	free(*v);
	*v = nv;
	*n = np;
	return 0;
}

static json_t *
lbexplain_load(struct lbexplain *x, const char *app, bool replicas,
    struct lbpick_cand **out, size_t *n, int *status)
{
	struct lbrows lr;
	char err[256];
	json_t *rows;
	int64_t now = (int64_t)time(NULL);
	size_t i;

	*n = 0;
	if (lbrows_load(x->db, app, false, LBEXPLAIN_MAX, now, &lr, err,
	    sizeof(err)) != 0)
		return lbexplain_error(status, 500, err);
	rows = json_array();
	for (i = 0; i < lr.n; i++) {
		const struct lbrow *w = &lr.rows[i];
		const struct lbpick_cand *c = &lr.cands[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:b}", "id", w->id,
		    "region", w->region, "wg_ip", w->wg_ip, "port",
		    (json_int_t)w->port, "healthy", w->healthy);

		if (o == NULL)
			break;
		if (w->country != NULL)
			json_object_set_new(o, "country", json_string(w->country));
		if (w->has_weight)
			json_object_set_new(o, "weight", json_integer(c->weight));
		if (w->has_soft)
			json_object_set_new(o, "soft_limit", json_integer(c->soft_limit));
		if (w->has_hard)
			json_object_set_new(o, "hard_limit", json_integer(c->hard_limit));
		if (w->has_lease)
			json_object_set_new(o, "lease_expires_in",
			    json_integer(w->lease_expires - now));
		if (w->stale)
			json_object_set_new(o, "heartbeat", json_string("stale"));
		json_array_append_new(rows, o);
	}
	if (json_array_size(rows) != lr.n) {    /* out of memory midway */
		lbrows_fini(&lr);
		json_decref(rows);
		return lbexplain_error(status, 500, "out of memory");
	}
	*n = lr.n;
	*out = lr.cands;
	lr.cands = NULL;
	lbrows_fini(&lr);
	if (replicas && x->table != NULL &&
	    lbexplain_replicas(x, app, rows, out, n) != 0) {
		json_decref(rows);
		free(*out);
		*out = NULL;
		return lbexplain_error(status, 500, "out of memory");
	}
	return rows;
}

/* Where a client at sa is: its country and region; returns the region
 * (NULL: none). */
static const struct lbpick_region *
lbexplain_where(struct lbexplain *x, const struct sockaddr *sa,
    struct lbpick_where *client)
{
	const struct lbpick_region *r;

	memset(client, 0, sizeof(*client));
	if (x->geoip != NULL)
		client->country = geoip_country(x->geoip, sa);
	if ((r = regionmap_region(&x->map, client->country)) != NULL)
		client->region = *r;
	return r;
}

static json_t *
lbexplain_run(struct lbexplain *x, const char *app, const char *ip, int *status)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct lbpick_where client;
	struct lbpick_score *sc = NULL;
	struct lbpick_cand *v = NULL;
	const struct lbpick_region *r;
	char cc[3], rn[LBPICK_REGION_MAX + 1];
	json_t *rows, *o, *ans;
	size_t n, i;
	long win;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		return lbexplain_error(status, 400, "the client IP is not an IPv4 "
		    "or IPv6 address");
	r = lbexplain_where(x, (struct sockaddr *)&ss, &client);
	rows = lbexplain_load(x, app, true, &v, &n, status);
	if (!json_is_array(rows))
		return rows;
	if (n > 0 && (sc = calloc(n, sizeof(*sc))) == NULL) {
		free(v);
		json_decref(rows);
		return lbexplain_error(status, 500, "out of memory");
	}
	win = lbpick_explain(v, n, &client, &x->local, -1, sc);
	json_array_foreach(rows, i, o) {
		json_object_set_new(o, "conns", json_integer(v[i].conns));
		json_object_set_new(o, "eligible", json_boolean(sc[i].why ==
		    LBPICK_WHY_SCORED));
		json_object_set_new(o, "why", json_string(sc[i].why ==
		    LBPICK_WHY_UNHEALTHY && json_object_get(o, "heartbeat") != NULL ?
		    "no heartbeat" : lbexplain_why[sc[i].why]));
		json_object_set_new(o, "geo", json_integer(sc[i].geo));
		json_object_set_new(o, "load", json_real(sc[i].load));
		json_object_set_new(o, "score", json_real(sc[i].score));
		json_object_set_new(o, "winner", json_boolean((long)i == win));
	}
	ans = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s?, s:o}", "app", app,
	    "client_ip", ip,
	    "client_country", client.country != 0 ?
	    lbpick_country_name(client.country, cc) : NULL,
	    "client_region", r != NULL ? lbpick_region_name(r, rn) : NULL,
	    "node_region", x->region,
	    "geoip", x->geoip != NULL ? geoip_type(x->geoip) : NULL,
	    "candidates", rows);
	json_object_set_new(ans, "winner", win >= 0 ?
	    json_incref(json_object_get(json_array_get(rows, (size_t)win), "id")) :
	    json_null());
	free(sc);
	free(v);
	*status = 200;
	return ans;
}

bool
lbexplain_handle(struct lbexplain *x, const char *method, const char *path,
    int *status, json_t **out)
{
	char app[256], ip[INET6_ADDRSTRLEN + 1];
	const char *rest, *slash;
	size_t alen;

	if (strncmp(path, LBEXPLAIN_PREFIX, strlen(LBEXPLAIN_PREFIX)) != 0)
		return false;
	if (strcmp(method, "GET") != 0) {
		*out = lbexplain_error(status, 405, "only GET is supported");
		return true;
	}
	rest = path + strlen(LBEXPLAIN_PREFIX);
	if ((slash = strchr(rest, '/')) == NULL || slash == rest ||
	    (alen = (size_t)(slash - rest)) >= sizeof(app) ||
	    strlen(slash + 1) >= sizeof(ip) || slash[1] == '\0') {
		*out = lbexplain_error(status, 400, "use /v1/lb/explain/APP/CLIENT_IP");
		return true;
	}
	memcpy(app, rest, alen);
	app[alen] = '\0';
	snprintf(ip, sizeof(ip), "%s", slash + 1);
	*out = lbexplain_run(x, app, ip, status);
	return true;
}

int
lbexplain_decide(struct lbexplain *x, const char *app,
    const struct sockaddr *client, char *ip, size_t iplen, unsigned *port)
{
	struct lbpick_where where;
	struct lbpick_cand *v = NULL;
	const char *wip;
	json_t *rows, *o;
	size_t n;
	long win;
	int status = 500, rc;

	lbexplain_where(x, client, &where);
	rows = lbexplain_load(x, app, false, &v, &n, &status);
	if (!json_is_array(rows)) {
		json_decref(rows);
		return -EIO;
	}
	if (n == 0) {
		rc = -ENOENT;
	} else if ((win = lbpick_pick(v, n, &where, &x->local, -1)) < 0) {
		rc = 0;
	} else {
		o = json_array_get(rows, (size_t)win);
		wip = json_string_value(json_object_get(o, "wg_ip"));
		snprintf(ip, iplen, "%s", wip != NULL ? wip : "");
		*port = (unsigned)json_integer_value(json_object_get(o, "port"));
		rc = 1;
	}
	free(v);
	json_decref(rows);
	return rc;
}
