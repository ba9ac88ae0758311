#include "router/routedb.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipcmsg.h"
#include "log.h"
#include "router/table.h"

#define ROUTEDB_RETRY_MS        100
#define ROUTEDB_STRS            6       /* strings copied per row */

static const char routedb_sql[] =
    "SELECT t.name, t.kind, t.host, t.port, t.node, t.session, t.tunnel_id,"
    " t.client_id, t.token_id, t.state, t.claimed,"
    " COALESCE((SELECT r.token_id FROM reservations r LEFT JOIN tokens k"
    "  ON k.id = r.token_id WHERE r.id = t.name AND r.deleted = 0"
    "  AND COALESCE(k.revoked, 0) = 0 AND COALESCE(k.deleted, 0) = 0), ''),"
    " t.grp, t.region, t.weight, t.soft_limit, t.hard_limit"
    " FROM tunnels t WHERE t.deleted = 0 ORDER BY t.name";

static const char routedb_sql_revoked[] =
    "SELECT revoked FROM tokens WHERE id = ?1";

static const char routedb_sql_domains[] =
    "SELECT lower(domain), app FROM domains WHERE deleted = 0";

static const char routedb_sql_drain[] =
    "SELECT requested_ms, by FROM drains WHERE node = ?1";

struct routedb {
	sqlite3 *db;
	sqlite3_stmt *all, *revoked, *version, *drain, *domains;
	int64_t data_version;
};

/* ---- the holder rule ---- */

static bool
routedb_counts(const struct routedb_row *r, const char *self,
    routedb_live_fn *live, void *arg)
{
	if (!r->online)
		return false;
	if (strcmp(r->node, self) == 0 || live == NULL)
		return true;
	return live(arg, r->node);
}

/* One party: the same client (id and token), or replicas of one group
 * (--group: the same group name and token). */
static bool
routedb_same_client(const struct routedb_row *a, const struct routedb_row *b)
{
	if (a->grp[0] != '\0' || b->grp[0] != '\0')
		return strcmp(a->grp, b->grp) == 0 &&
		    strcmp(a->token_id, b->token_id) == 0;
	return strcmp(a->client_id, b->client_id) == 0 &&
	    strcmp(a->token_id, b->token_id) == 0;
}

/* (claimed, node) order: the earlier claim first. */
static int
routedb_claim_cmp(const struct routedb_row *a, const struct routedb_row *b)
{
	int c;

	if (a->claimed != b->claimed)
		return a->claimed < b->claimed ? -1 : 1;
	if ((c = strcmp(a->node, b->node)) != 0)
		return c;
	return a->session < b->session ? -1 : a->session > b->session;
}

int
routedb_pick(const struct routedb_row *rows, size_t n, const char *self,
    const char *resv_token, routedb_live_fn *live, void *arg)
{
	size_t i, j, first_i, first_best = 0;
	bool res_i, res_best = false;
	int best = -1, route = -1, c;

	/* the winning client: reserved first, then its earliest claim */
	for (i = 0; i < n; i++) {
		if (!routedb_counts(&rows[i], self, live, arg))
			continue;
		first_i = i;
		for (j = 0; j < n; j++)
			if (routedb_counts(&rows[j], self, live, arg) &&
			    routedb_same_client(&rows[j], &rows[i]) &&
			    routedb_claim_cmp(&rows[j], &rows[first_i]) < 0)
				first_i = j;
		res_i = resv_token != NULL && resv_token[0] != '\0' &&
		    strcmp(rows[i].token_id, resv_token) == 0;
		if (best < 0 || (res_i && !res_best)) {
			best = (int)i;
			first_best = first_i;
			res_best = res_i;
			continue;
		}
		if (res_i != res_best)
			continue;
		c = routedb_claim_cmp(&rows[first_i], &rows[first_best]);
		if (c < 0 || (c == 0 && strcmp(rows[i].client_id,
		    rows[best].client_id) < 0)) {
			best = (int)i;
			first_best = first_i;
		}
	}
	if (best < 0)
		return -1;
	/* within it, the newest claim: its latest session */
	for (i = 0; i < n; i++) {
		if (!routedb_counts(&rows[i], self, live, arg) ||
		    !routedb_same_client(&rows[i], &rows[best]))
			continue;
		if (route < 0 || routedb_claim_cmp(&rows[i], &rows[route]) > 0)
			route = (int)i;
	}
	return route;
}

int
routedb_alternate(const struct routedb_row *rows, size_t n, size_t route,
    const char *self, routedb_live_fn *live, void *arg)
{
	const struct routedb_row *w = &rows[route];
	size_t i;
	int alt = -1;

	/* the same client's newest claim on another node (--ha) */
	for (i = 0; i < n; i++) {
		if (i == route || strcmp(rows[i].node, w->node) == 0 ||
		    !routedb_same_client(&rows[i], w) ||
		    rows[i].kind != w->kind ||
		    !routedb_counts(&rows[i], self, live, arg))
			continue;
		if (alt < 0 || routedb_claim_cmp(&rows[i], &rows[alt]) > 0)
			alt = (int)i;
	}
	return alt;
}

/* ---- the database ---- */

static const char *
routedb_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t != NULL ? (const char *)t : "";
}

static int
routedb_try(struct routedb *db, const char *path)
{
	int rc;

	rc = sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_close(db->db);
		db->db = NULL;
		return -ENOENT;
	}
	sqlite3_busy_timeout(db->db, 1000);
	sqlite3_exec(db->db, "PRAGMA query_only=1", NULL, NULL, NULL);
	if (sqlite3_prepare_v3(db->db, routedb_sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &db->all, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db->db, routedb_sql_revoked, -1,
	    SQLITE_PREPARE_PERSISTENT, &db->revoked, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db->db, "PRAGMA data_version", -1,
	    SQLITE_PREPARE_PERSISTENT, &db->version, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db->db, routedb_sql_drain, -1,
	    SQLITE_PREPARE_PERSISTENT, &db->drain, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db->db, routedb_sql_domains, -1,
	    SQLITE_PREPARE_PERSISTENT, &db->domains, NULL) != SQLITE_OK) {
		/* the schema is not there yet: gossip is still creating it */
		sqlite3_finalize(db->all);
		sqlite3_finalize(db->revoked);
		sqlite3_finalize(db->version);
		sqlite3_finalize(db->drain);
		sqlite3_finalize(db->domains);
		db->all = db->revoked = db->version = db->drain = NULL;
		db->domains = NULL;
		sqlite3_close(db->db);
		db->db = NULL;
		return -ENOENT;
	}
	return 0;
}

int
routedb_open(struct routedb **out, const char *path, long wait_ms)
{
	struct timespec ts = { 0, ROUTEDB_RETRY_MS * 1000000L };
	struct routedb *db;
	long waited = 0;

	if ((db = calloc(1, sizeof(*db))) == NULL)
		return -ENOMEM;
	while (routedb_try(db, path) != 0) {
		if (waited >= wait_ms) {
			free(db);
			return -ENOENT;
		}
		if (waited == 0)
			log_info("routedb.wait", "path=%s", path);
		nanosleep(&ts, NULL);
		waited += ROUTEDB_RETRY_MS;
	}
	db->data_version = -1;
	*out = db;
	return 0;
}

void
routedb_close(struct routedb *db)
{
	if (db == NULL)
		return;
	sqlite3_finalize(db->all);
	sqlite3_finalize(db->revoked);
	sqlite3_finalize(db->version);
	sqlite3_finalize(db->drain);
	sqlite3_finalize(db->domains);
	sqlite3_close(db->db);
	free(db);
}

bool
routedb_changed(struct routedb *db)
{
	int64_t v = -1;

	if (sqlite3_step(db->version) == SQLITE_ROW)
		v = sqlite3_column_int64(db->version, 0);
	sqlite3_reset(db->version);
	if (v == db->data_version)
		return false;
	db->data_version = v;
	return true;
}

/* The rows of one name, with their strings copied. */
struct routedb_group {
	char name[IPCMSG_STR_MAX + 16];
	char resv[IPCMSG_STR_MAX + 1];
	struct routedb_row *rows;
	char **strs;                    /* ROUTEDB_STRS per row */
	size_t n, cap;
};

static void
routedb_group_clear(struct routedb_group *g)
{
	size_t i;

	for (i = 0; i < g->n * ROUTEDB_STRS; i++)
		free(g->strs[i]);
	g->n = 0;
}

static int
routedb_group_add(struct routedb_group *g, sqlite3_stmt *s)
{
	struct routedb_row *r;
	const char *kind;
	void *p;
	char **st;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;

		if ((p = realloc(g->rows, cap * sizeof(*g->rows))) == NULL)
			return -ENOMEM;
		g->rows = p;
		if ((p = realloc(g->strs, cap * ROUTEDB_STRS * sizeof(*g->strs))) ==
		    NULL)
			return -ENOMEM;
		g->strs = p;
		g->cap = cap;
	}
	r = &g->rows[g->n];
	st = &g->strs[g->n * ROUTEDB_STRS];
	memset(r, 0, sizeof(*r));
	kind = routedb_text(s, 1);
	r->kind = strcmp(kind, "tcp") == 0 ? TUNNEL_TCP :
	    strcmp(kind, "tls") == 0 ? TUNNEL_TLS : TUNNEL_HTTP;
	st[0] = strdup(routedb_text(s, 2));
	st[1] = strdup(routedb_text(s, 4));
	st[2] = strdup(routedb_text(s, 7));
	st[3] = strdup(routedb_text(s, 8));
	st[4] = strdup(routedb_text(s, 12));
	st[5] = strdup(routedb_text(s, 13));
	g->n++;         /* counted now, so a failure below frees them */
	if (st[0] == NULL || st[1] == NULL || st[2] == NULL || st[3] == NULL ||
	    st[4] == NULL || st[5] == NULL)
		return -ENOMEM;
	r->grp = st[4];
	r->region = st[5];
	r->weight = (uint32_t)sqlite3_column_int64(s, 14);
	r->soft_limit = (uint32_t)sqlite3_column_int64(s, 15);
	r->hard_limit = (uint32_t)sqlite3_column_int64(s, 16);
	r->host = st[0];
	r->node = st[1];
	r->client_id = st[2];
	r->token_id = st[3];
	r->port = (uint16_t)sqlite3_column_int(s, 3);
	r->session = (uint64_t)sqlite3_column_int64(s, 5);
	r->tunnel_id = (uint32_t)sqlite3_column_int64(s, 6);
	r->online = strcmp(routedb_text(s, 9), "online") == 0;
	r->claimed = (uint64_t)sqlite3_column_int64(s, 10);
	return 0;
}

/* The replicas of the group that holds the name (rows[route]'s): the
 * newest counted claim of each of its clients, borrowed strings, into
 * out->replicas (the caller frees the array). Returns 0 or -ENOMEM. */
static int
routedb_replicas(const struct routedb_group *g, size_t route, const char *self,
    routedb_live_fn *live, void *arg, struct ipcmsg_route *out)
{
	const struct routedb_row *w = &g->rows[route], *r;
	struct ipcmsg_route *v;
	size_t i, j, n = 0;

	if ((v = calloc(g->n, sizeof(*v))) == NULL)
		return -ENOMEM;
	for (i = 0; i < g->n && n < IPCMSG_REPLICAS_MAX; i++) {
		r = &g->rows[i];
		if (!routedb_counts(r, self, live, arg) || !routedb_same_client(r, w))
			continue;
		for (j = 0; j < g->n; j++)      /* a newer claim of its client? */
			if (j != i && routedb_same_client(&g->rows[j], w) &&
			    strcmp(g->rows[j].client_id, r->client_id) == 0 &&
			    routedb_counts(&g->rows[j], self, live, arg) &&
			    routedb_claim_cmp(&g->rows[j], r) > 0)
				break;
		if (j < g->n)
			continue;
		v[n].node = (char *)r->node;
		v[n].session = r->session;
		v[n].tunnel_id = r->tunnel_id;
		v[n].grp.name = (char *)r->grp;
		v[n].grp.token_id = (char *)r->token_id;
		v[n].grp.region = (char *)r->region;
		v[n].grp.weight = r->weight;
		v[n].grp.soft_limit = r->soft_limit;
		v[n].grp.hard_limit = r->hard_limit;
		n++;
	}
	out->grp.name = (char *)w->grp;
	out->grp.token_id = (char *)w->token_id;
	out->replicas = v;
	out->nreplicas = (uint32_t)n;
	return 0;
}

/* Puts the group's holder (or its last claim, offline) into the table and
 * notes this node's losing claims. */
static int
routedb_group_flush(struct routedb_group *g, const char *self,
    routedb_live_fn *live, void *arg, struct table *out,
    struct routedb_loser **losers, size_t *nlosers, size_t *cap)
{
	struct ipcmsg_route route;
	const struct routedb_row *w;
	size_t i, last = 0;
	int k, a;

	if (g->n == 0)
		return 0;
	k = routedb_pick(g->rows, g->n, self, g->resv, live, arg);
	if (k < 0) {
		for (i = 1; i < g->n; i++)
			if (routedb_claim_cmp(&g->rows[i], &g->rows[last]) > 0)
				last = i;
	}
	w = &g->rows[k >= 0 ? (size_t)k : last];
	if ((w->kind != TUNNEL_TCP && w->host[0] == '\0') ||
	    (w->kind == TUNNEL_TCP && w->port == 0))
		return 0;
	memset(&route, 0, sizeof(route));
	route.kind = w->kind;
	route.state = k >= 0 ? ROUTE_ONLINE : ROUTE_OFFLINE;
	route.host = (char *)w->host;
	route.port = w->port;
	route.node = (char *)w->node;
	route.session = w->session;
	route.tunnel_id = w->tunnel_id;
	if (k >= 0 && w->grp[0] != '\0') {
		if (routedb_replicas(g, (size_t)k, self, live, arg, &route) != 0)
			return -ENOMEM;
	} else if (k >= 0 && (a = routedb_alternate(g->rows, g->n, (size_t)k,
	    self, live, arg)) >= 0) {
		route.alt_node = (char *)g->rows[a].node;
		route.alt_session = g->rows[a].session;
		route.alt_tunnel_id = g->rows[a].tunnel_id;
	}
	a = table_put(out, &route, w->client_id, NULL);
	free(route.replicas);
	if (a != 0)
		return -ENOMEM;
	for (i = 0; k >= 0 && losers != NULL && i < g->n; i++) {
		const struct routedb_row *r = &g->rows[i];
		struct routedb_loser *l;

		if (!r->online || strcmp(r->node, self) != 0 ||
		    routedb_same_client(r, w))
			continue;
		if (*nlosers == *cap) {
			size_t nc = *cap ? *cap * 2 : 8;
			void *p = realloc(*losers, nc * sizeof(**losers));

			if (p == NULL)
				return -ENOMEM;
			*losers = p;
			*cap = nc;
		}
		l = &(*losers)[(*nlosers)++];
		memset(l, 0, sizeof(*l));
		l->session = r->session;
		l->kind = r->kind;
		snprintf(l->host, sizeof(l->host), "%s", r->host);
		l->port = r->port;
	}
	return 1;
}

/* The names of the `domains` table (edgeProxy's domain -> app) that no
 * tunnel holds: served by their app's backends, by Host (http) and by SNI
 * (TLS passthrough). Returns how many, or -ENOMEM / -EIO. */
static int
routedb_domains(struct routedb *db, struct table *out)
{
	static const uint8_t kinds[] = { TUNNEL_HTTP, TUNNEL_TLS };
	sqlite3_stmt *s = db->domains;
	struct ipcmsg_route route;
	const struct ipcmsg_route *cur;
	int rc, n = 0;
	size_t i;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *host = routedb_text(s, 0), *app = routedb_text(s, 1);

		if (host[0] == '\0' || app[0] == '\0' ||
		    strlen(host) > IPCMSG_STR_MAX || strlen(app) > IPCMSG_STR_MAX)
			continue;
		for (i = 0; i < sizeof(kinds); i++) {
			cur = table_find(out, kinds[i], host, 0, NULL);
			if (cur != NULL && cur->state == ROUTE_ONLINE)
				continue;       /* a live tunnel's name wins */
			memset(&route, 0, sizeof(route));
			route.kind = kinds[i];
			route.state = ROUTE_APP;
			route.host = (char *)host;
			route.node = "";
			route.grp.name = (char *)app;
			if (table_put(out, &route, "", NULL) != 0) {
				sqlite3_reset(s);
				return -ENOMEM;
			}
		}
		n++;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? n : -EIO;
}

int
routedb_compile(struct routedb *db, const char *self, routedb_live_fn *live,
    void *arg, struct table *out, struct routedb_loser **losers,
    size_t *nlosers)
{
	struct routedb_group *g;
	sqlite3_stmt *s = db->all;
	size_t cap = 0;
	int rc, names = 0, k;

	if (losers != NULL) {
		*losers = NULL;
		*nlosers = 0;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -ENOMEM;
	sqlite3_exec(db->db, "BEGIN", NULL, NULL, NULL);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = routedb_text(s, 0);

		if (g->n > 0 && strcmp(name, g->name) != 0) {
			if ((k = routedb_group_flush(g, self, live, arg, out, losers,
			    nlosers, &cap)) < 0) {
				rc = k;
				break;
			}
			names += k;
			routedb_group_clear(g);
		}
		if (g->n == 0) {
			snprintf(g->name, sizeof(g->name), "%s", name);
			snprintf(g->resv, sizeof(g->resv), "%s", routedb_text(s, 11));
		}
		if ((k = routedb_group_add(g, s)) != 0) {
			rc = k;
			break;
		}
	}
	if (rc == SQLITE_DONE) {
		k = routedb_group_flush(g, self, live, arg, out, losers, nlosers, &cap);
		rc = k < 0 ? k : 0;
		names += k > 0 ? k : 0;
	}
	if (rc == 0 && (k = routedb_domains(db, out)) < 0)
		rc = k;
	else if (rc == 0)
		names += k;
	if (rc > 0) {
		log_warn("routedb.read", "err=\"%s\"", sqlite3_errmsg(db->db));
		rc = -EIO;
	}
	sqlite3_reset(s);
	sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL);
	routedb_group_clear(g);
	free(g->rows);
	free(g->strs);
	free(g);
	if (rc < 0 && losers != NULL) {
		free(*losers);
		*losers = NULL;
		*nlosers = 0;
	}
	return rc < 0 ? rc : names;
}

int
routedb_revoked(struct routedb *db, const char *const *ids, size_t n,
    void (*fn)(void *arg, const char *id), void *arg)
{
	sqlite3_stmt *s = db->revoked;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		sqlite3_bind_text(s, 1, ids[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW && sqlite3_column_int64(s, 0) != 0)
			fn(arg, ids[i]);
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return -EIO;
	}
	return 0;
}

int64_t
routedb_drain_requested(struct routedb *db, const char *node, char *by,
    size_t bylen)
{
	sqlite3_stmt *s = db->drain;
	int64_t ms = 0;

	sqlite3_bind_text(s, 1, node, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		ms = sqlite3_column_int64(s, 0);
		snprintf(by, bylen, "%s", routedb_text(s, 1));
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ms;
}
