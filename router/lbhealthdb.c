#include "router/lbhealthdb.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipcmsg.h"
#include "log.h"

#define LBHEALTHDB_BATCH        32      /* writes per loop turn */
#define LBHEALTHDB_NEXT_S       0.01    /* the next batch */
#define LBHEALTHDB_RETRY_S      1.0     /* after a failed write, doubling */
#define LBHEALTHDB_RETRY_MAX_S  30.0
#define LBHEALTHDB_SAFETY_S     30.0    /* a sync even without reports */
#define LBHEALTHDB_KEY_MAX      (IPCMSG_STR_MAX + 1)

static const char lbhealthdb_sql_own[] =
    "SELECT id, state, since_ms, addr, health_check FROM lb_health"
    " WHERE node = ?1 ORDER BY id";

static const char lbhealthdb_sql_all[] =
    "SELECT node, app, backend, addr, health_check, state, since_ms,"
    " reported_ms, last_error, ok_run, fail_run FROM lb_health LIMIT ?1";

struct lbhealthdb {
	struct ev_loop *loop;
	sqlite3 *db;
	char *self;
	registry_write_fn *write;
	void *write_arg;
	struct lbhealth *h;             /* attached checker, borrowed */
	ev_timer kick;                  /* the next sync */
	ev_timer safety;
	bool failing;                   /* the last write failed (logged once) */
	double retry_s;                 /* the next retry's delay */
	struct lbhealthdb_stats st;
};

/* ---- keys and rows ---- */

static int
lbhealthdb_part(char **p, char *end, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '%' || *s == '/') {
			if (end - *p < 4)
				return -ENAMETOOLONG;
			*(*p)++ = '%';
			*(*p)++ = '2';
			*(*p)++ = *s == '%' ? '5' : 'F';
		} else {
			if (end - *p < 2)
				return -ENAMETOOLONG;
			*(*p)++ = *s;
		}
	}
	**p = '\0';
	return 0;
}

int
lbhealthdb_key(char *out, size_t len, const char *node, const char *app,
    const char *id)
{
	char *p = out, *end = out + len;

	if (len == 0)
		return -ENAMETOOLONG;
	if (lbhealthdb_part(&p, end, node) != 0 || end - p < 2)
		return -ENAMETOOLONG;
	*p++ = '/';
	if (lbhealthdb_part(&p, end, app) != 0 || end - p < 2)
		return -ENAMETOOLONG;
	*p++ = '/';
	return lbhealthdb_part(&p, end, id);
}

static int64_t
lbhealthdb_ms(double s)
{
	return (int64_t)llround(s * 1000.0);
}

char *
lbhealthdb_row(const char *node, const struct lbhealth_result *r,
    int64_t now_ms)
{
	char key[LBHEALTHDB_KEY_MAX], *out;
	json_t *j;
	int pass;

	if (!r->checked || lbhealthdb_key(key, sizeof(key), node, r->app,
	    r->id) != 0)
		return NULL;
	/* the last error is the part that may go when the row is too long */
	for (pass = 0; pass < 2; pass++) {
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s,"
		    " s:I, s:I}", "id", key, "node", node, "app", r->app,
		    "backend", r->id, "addr", r->addr, "health_check", r->check,
		    "state", r->down ? "down" : "up",
		    "since_ms", (json_int_t)lbhealthdb_ms(r->since),
		    "reported_ms", (json_int_t)now_ms,
		    "last_error", pass == 0 ? r->last_error : "",
		    "ok_run", (json_int_t)r->ok_run,
		    "fail_run", (json_int_t)r->fail_run);
		if (j == NULL)
			return NULL;
		out = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		if (out == NULL || strlen(out) <= IPCMSG_STR_MAX)
			return out;
		free(out);
	}
	return NULL;
}

/* ---- every node's view ---- */

struct lbhealthdb_ent {
	json_t *o;
	const char *app, *id, *node;
};

static const char *
lbhealthdb_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static int
lbhealthdb_ent_cmp(const void *a, const void *b)
{
	const struct lbhealthdb_ent *x = a, *y = b;
	int c;

	if ((c = strcmp(x->app, y->app)) != 0)
		return c;
	if ((c = strcmp(x->id, y->id)) != 0)
		return c;
	return strcmp(x->node, y->node);
}

static int
lbhealthdb_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A replicated row as a view entry (a new object), or NULL. */
static json_t *
lbhealthdb_from_row(json_t *r, int64_t now_ms)
{
	const char *state = lbhealthdb_str(r, "state");
	json_int_t since = json_integer_value(json_object_get(r, "since_ms"));

	if (strcmp(state, "up") != 0 && strcmp(state, "down") != 0)
		state = "unknown";
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:I, s:I, s:s,"
	    " s:I, s:I, s:s}",
	    "node", lbhealthdb_str(r, "node"), "app", lbhealthdb_str(r, "app"),
	    "id", lbhealthdb_str(r, "backend"), "addr", lbhealthdb_str(r, "addr"),
	    "check", lbhealthdb_str(r, "health_check"), "state", state,
	    "since_s", since > 0 ? (double)(now_ms - since) / 1000.0 : 0.0,
	    "since_ms", since,
	    "reported_ms", json_integer_value(json_object_get(r, "reported_ms")),
	    "last_error", lbhealthdb_str(r, "last_error"),
	    "ok_run", json_integer_value(json_object_get(r, "ok_run")),
	    "fail_run", json_integer_value(json_object_get(r, "fail_run")),
	    "source", "replicated");
}

static int
lbhealthdb_add(struct lbhealthdb_ent **v, size_t *n, size_t *cap, json_t *o)
{
	struct lbhealthdb_ent *e;

	if (o == NULL)
		return -ENOMEM;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void *p = realloc(*v, nc * sizeof(**v));

		if (p == NULL) {
			json_decref(o);
			return -ENOMEM;
		}
		*v = p;
		*cap = nc;
	}
	e = &(*v)[(*n)++];
	e->o = o;
	e->app = lbhealthdb_str(o, "app");
	e->id = lbhealthdb_str(o, "id");
	e->node = lbhealthdb_str(o, "node");
	return 0;
}

/* No result from node for the target of e. */
static json_t *
lbhealthdb_unknown(const char *node, const struct lbhealthdb_ent *e)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:I, s:I, s:s,"
	    " s:I, s:I, s:s}", "node", node, "app", e->app, "id", e->id,
	    "addr", lbhealthdb_str(e->o, "addr"),
	    "check", lbhealthdb_str(e->o, "check"), "state", "unknown",
	    "since_s", 0.0, "since_ms", (json_int_t)0, "reported_ms", (json_int_t)0,
	    "last_error", "no result from this node (not checked there yet)",
	    "ok_run", (json_int_t)0, "fail_run", (json_int_t)0, "source", "none");
}

json_t *
lbhealthdb_merge(const char *self, json_t *local, json_t *remote,
    const char *const *nodes, size_t nnodes, int64_t now_ms)
{
	struct lbhealthdb_ent *v = NULL;
	const char **names = NULL;
	size_t n = 0, cap = 0, i, j, k, g;
	json_t *out = NULL, *o;
	bool ok = true;

	json_array_foreach(local, i, o) {
		double since = json_real_value(json_object_get(o, "since_s"));

		if (!json_is_string(json_object_get(o, "app")) ||
		    !json_is_string(json_object_get(o, "id")) ||
		    !json_is_string(json_object_get(o, "state")))
			continue;
		o = json_deep_copy(o);
		if (o == NULL || json_object_set_new(o, "node", json_string(self)) ||
		    json_object_set_new(o, "since_ms", json_integer(now_ms -
		    lbhealthdb_ms(since))) ||
		    json_object_set_new(o, "source", json_string("local")) ||
		    lbhealthdb_add(&v, &n, &cap, o) != 0) {
			json_decref(o);
			ok = false;
			break;
		}
	}
	json_array_foreach(remote, i, o) {
		if (!ok)
			break;
		if (!json_is_object(o) || strcmp(lbhealthdb_str(o, "node"), self) == 0)
			continue;
		if (lbhealthdb_add(&v, &n, &cap, lbhealthdb_from_row(o, now_ms)) != 0)
			ok = false;
	}
	json_decref(local);
	json_decref(remote);
	if (!ok)
		goto out;
	if (n > 1)
		qsort(v, n, sizeof(*v), lbhealthdb_ent_cmp);
	if (nodes != NULL && nnodes > 0) {
		if ((names = malloc(nnodes * sizeof(*names))) == NULL)
			goto out;
		memcpy(names, nodes, nnodes * sizeof(*names));
		qsort(names, nnodes, sizeof(*names), lbhealthdb_name_cmp);
	}
	if ((out = json_array()) == NULL)
		goto out;
	/* each target's entries (sorted by node) beside the live nodes (sorted):
	 * a live node without an entry gets an "unknown" one */
	for (i = 0; i < n; i = g) {
		for (g = i + 1; g < n && strcmp(v[g].app, v[i].app) == 0 &&
		    strcmp(v[g].id, v[i].id) == 0; g++)
			;
		j = i;
		k = 0;
		while (j < g || (names != NULL && k < nnodes)) {
			int c = j >= g ? 1 : names == NULL || k >= nnodes ? -1 :
			    strcmp(v[j].node, names[k]);

			if (c > 0 && k > 0 && strcmp(names[k], names[k - 1]) == 0) {
				k++;    /* a name given twice */
				continue;
			}
			if (c <= 0) {
				o = json_incref(v[j].o);
				j++;
				if (c == 0)
					k++;
			} else {
				o = lbhealthdb_unknown(names[k++], &v[i]);
			}
			if (o == NULL || json_array_append_new(out, o) != 0) {
				json_decref(out);
				out = NULL;
				goto out;
			}
		}
	}
out:
	for (i = 0; i < n; i++)
		json_decref(v[i].o);
	free(v);
	free(names);
	return out;
}

/* ---- the database ---- */

static const char *
lbhealthdb_col(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t != NULL ? (const char *)t : "";
}

static void lbhealthdb_schedule(struct lbhealthdb *d, double after);

/* This node's rows, read for a sync. */
struct lbhealthdb_own {
	char *key, *state, *addr, *check;
	int64_t since_ms;
	bool keep;                      /* matches a target */
};

struct lbhealthdb_sync {
	struct lbhealthdb *d;
	struct lbhealthdb_own *own;
	size_t nown;
	char **puts;                    /* rows to write */
	size_t nputs, cap;
	bool nomem;
	int64_t now_ms;
};

static int
lbhealthdb_own_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct lbhealthdb_own *)elem)->key);
}

static void
lbhealthdb_on_target(void *arg, const struct lbhealth_result *r)
{
	struct lbhealthdb_sync *s = arg;
	struct lbhealthdb_own *o;
	char key[LBHEALTHDB_KEY_MAX], *row;
	bool same_place;

	if (s->nomem || lbhealthdb_key(key, sizeof(key), s->d->self, r->app,
	    r->id) != 0)
		return;
	o = s->nown > 0 ? bsearch(key, s->own, s->nown, sizeof(*s->own),
	    lbhealthdb_own_cmp) : NULL;
	same_place = o != NULL && strcmp(o->addr, r->addr) == 0 &&
	    strcmp(o->check, r->check) == 0;
	if (!r->checked) {
		/* a previous run's row stands until the first result, unless
		 * it is about another address or check */
		if (same_place)
			o->keep = true;
		return;
	}
	if (o != NULL)
		o->keep = true;
	if (same_place && strcmp(o->state, r->down ? "down" : "up") == 0 &&
	    o->since_ms == lbhealthdb_ms(r->since))
		return;
	if ((row = lbhealthdb_row(s->d->self, r, s->now_ms)) == NULL) {
		s->d->st.skipped++;
		log_warn("lb.health_row", "app=%s backend=%s err=\"the result "
		    "cannot be written (names too long for a row)\"", r->app, r->id);
		return;
	}
	if (s->nputs == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		void *p = realloc(s->puts, nc * sizeof(*s->puts));

		if (p == NULL) {
			free(row);
			s->nomem = true;
			return;
		}
		s->puts = p;
		s->cap = nc;
	}
	s->puts[s->nputs++] = row;
}

static int
lbhealthdb_read_own(struct lbhealthdb *d, struct lbhealthdb_sync *s)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	if (sqlite3_prepare_v2(d->db, lbhealthdb_sql_own, -1, &st, NULL) !=
	    SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, d->self, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct lbhealthdb_own *o;

		if (s->nown == cap) {
			size_t nc = cap ? cap * 2 : 16;
			void *p = realloc(s->own, nc * sizeof(*s->own));

			if (p == NULL)
				break;
			s->own = p;
			cap = nc;
		}
		o = &s->own[s->nown];
		memset(o, 0, sizeof(*o));
		o->key = strdup(lbhealthdb_col(st, 0));
		o->state = strdup(lbhealthdb_col(st, 1));
		o->since_ms = sqlite3_column_int64(st, 2);
		o->addr = strdup(lbhealthdb_col(st, 3));
		o->check = strdup(lbhealthdb_col(st, 4));
		s->nown++;
		if (o->key == NULL || o->state == NULL || o->addr == NULL ||
		    o->check == NULL)
			break;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : rc == SQLITE_ROW ? -ENOMEM : -EIO;
}

static void
lbhealthdb_sync_fini(struct lbhealthdb_sync *s)
{
	size_t i;

	for (i = 0; i < s->nown; i++) {
		free(s->own[i].key);
		free(s->own[i].state);
		free(s->own[i].addr);
		free(s->own[i].check);
	}
	free(s->own);
	for (i = 0; i < s->nputs; i++)
		free(s->puts[i]);
	free(s->puts);
}

static int
lbhealthdb_write(struct lbhealthdb *d, uint8_t op, const char *row)
{
	struct ipcmsg_write w;
	char err[512];
	int st;

	memset(&w, 0, sizeof(w));
	w.op = op;
	w.route.node = d->self;
	w.route.host = "";
	w.client_id = "";
	w.table = LBHEALTHDB_TABLE;
	w.row = (char *)row;
	st = d->write(d->write_arg, &w, err, sizeof(err));
	if (st == IPCMSG_S_OK) {
		if (d->failing)
			log_info("lb.health_write", "status=ok");
		d->failing = false;
		d->retry_s = LBHEALTHDB_RETRY_S;
		if (op == WRITE_ROW_PUT)
			d->st.puts++;
		else
			d->st.dels++;
		return 0;
	}
	d->st.failed++;
	if (!d->failing)
		log_warn("lb.health_write", "status=%d err=\"%s\" retry_s=%.0f", st,
		    err, d->retry_s);
	d->failing = true;
	return -EIO;
}

/* Compares this node's rows with its checker's targets and writes up to
 * LBHEALTHDB_BATCH differences; schedules the rest. */
static void
lbhealthdb_sync(struct lbhealthdb *d)
{
	struct lbhealthdb_sync s;
	size_t i, done = 0;
	bool failed = false;

	if (d->h == NULL)
		return;
	d->st.syncs++;
	memset(&s, 0, sizeof(s));
	s.d = d;
	s.now_ms = lbhealthdb_ms(ev_time());
	if (lbhealthdb_read_own(d, &s) != 0) {
		log_warn("lb.health_sync", "err=\"cannot read lb_health: %s\"",
		    sqlite3_errmsg(d->db));
		lbhealthdb_sync_fini(&s);
		lbhealthdb_schedule(d, LBHEALTHDB_RETRY_S);
		return;
	}
	lbhealth_each(d->h, lbhealthdb_on_target, &s);
	for (i = 0; i < s.nputs && done < LBHEALTHDB_BATCH && !failed; i++, done++)
		failed = lbhealthdb_write(d, WRITE_ROW_PUT, s.puts[i]) != 0;
	for (i = 0; i < s.nown && done < LBHEALTHDB_BATCH && !failed; i++) {
		if (s.own[i].keep)
			continue;
		failed = lbhealthdb_write(d, WRITE_ROW_DEL, s.own[i].key) != 0;
		done++;
	}
	if (failed || s.nomem) {
		/* a gossip process that hangs would block each try for the write
		 * timeout: back off */
		lbhealthdb_schedule(d, d->retry_s);
		d->retry_s = d->retry_s * 2 < LBHEALTHDB_RETRY_MAX_S ?
		    d->retry_s * 2 : LBHEALTHDB_RETRY_MAX_S;
	}
	else if (done == LBHEALTHDB_BATCH)
		lbhealthdb_schedule(d, LBHEALTHDB_NEXT_S);
	lbhealthdb_sync_fini(&s);
}

static void
lbhealthdb_on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	lbhealthdb_sync(w->data);
}

static void
lbhealthdb_on_safety(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lbhealthdb *d = w->data;

	if (!ev_is_active(&d->kick))
		lbhealthdb_sync(d);
}

static void
lbhealthdb_schedule(struct lbhealthdb *d, double after)
{
	if (ev_is_active(&d->kick)) {
		if (ev_timer_remaining(d->loop, &d->kick) <= after)
			return;
		ev_timer_stop(d->loop, &d->kick);
	}
	ev_timer_set(&d->kick, after, 0.);
	ev_timer_start(d->loop, &d->kick);
}

static void
lbhealthdb_on_report(void *arg, const struct lbhealth_result *r, bool gone)
{
	/* a short delay gathers the reports of one check round in one sync */
	lbhealthdb_schedule(arg, LBHEALTHDB_NEXT_S);
}

int
lbhealthdb_new(struct lbhealthdb **out, struct ev_loop *loop,
    const char *db_path, const char *self, registry_write_fn *write,
    void *write_arg)
{
	struct lbhealthdb *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	d->loop = loop;
	d->write = write;
	d->write_arg = write_arg;
	d->retry_s = LBHEALTHDB_RETRY_S;
	ev_timer_init(&d->kick, lbhealthdb_on_kick, 0., 0.);
	d->kick.data = d;
	ev_timer_init(&d->safety, lbhealthdb_on_safety, LBHEALTHDB_SAFETY_S,
	    LBHEALTHDB_SAFETY_S);
	d->safety.data = d;
	if ((d->self = strdup(self)) == NULL) {
		free(d);
		return -ENOMEM;
	}
	if (sqlite3_open_v2(db_path, &d->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("lb.health_db", "db=%s err=\"%s\"", db_path,
		    sqlite3_errmsg(d->db));
		sqlite3_close(d->db);
		free(d->self);
		free(d);
		return -EIO;
	}
	sqlite3_busy_timeout(d->db, 1000);
	*out = d;
	return 0;
}

void
lbhealthdb_free(struct lbhealthdb *d)
{
	if (d == NULL)
		return;
	if (d->h != NULL)
		lbhealth_on_report(d->h, NULL, NULL);
	ev_timer_stop(d->loop, &d->kick);
	ev_timer_stop(d->loop, &d->safety);
	sqlite3_close(d->db);
	free(d->self);
	free(d);
}

void
lbhealthdb_attach(struct lbhealthdb *d, struct lbhealth *h)
{
	d->h = h;
	lbhealth_on_report(h, lbhealthdb_on_report, d);
	ev_timer_start(d->loop, &d->safety);
	lbhealthdb_schedule(d, LBHEALTHDB_NEXT_S);
}

json_t *
lbhealthdb_view(struct lbhealthdb *d, lbhealthdb_live_fn *live,
    void *live_arg, const char *const *nodes, size_t nnodes, char *err,
    size_t errlen)
{
	json_t *local, *remote, *o, *out;
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(d->db, lbhealthdb_sql_all, -1, &s, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot read the lb_health table of "
		    "routing.db: %s", sqlite3_errmsg(d->db));
		return NULL;
	}
	sqlite3_bind_int64(s, 1, LBHEALTHDB_VIEW_MAX);
	if ((remote = json_array()) == NULL) {
		sqlite3_finalize(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *node = lbhealthdb_col(s, 0);

		if (strcmp(node, d->self) == 0 ||
		    (live != NULL && !live(live_arg, node)))
			continue;
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I,"
		    " s:I}", "node", node, "app", lbhealthdb_col(s, 1),
		    "backend", lbhealthdb_col(s, 2), "addr", lbhealthdb_col(s, 3),
		    "health_check", lbhealthdb_col(s, 4),
		    "state", lbhealthdb_col(s, 5),
		    "since_ms", (json_int_t)sqlite3_column_int64(s, 6),
		    "reported_ms", (json_int_t)sqlite3_column_int64(s, 7),
		    "last_error", lbhealthdb_col(s, 8),
		    "ok_run", (json_int_t)sqlite3_column_int64(s, 9),
		    "fail_run", (json_int_t)sqlite3_column_int64(s, 10));
		if (o == NULL || json_array_append_new(remote, o) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot read the lb_health table of "
		    "routing.db: %s", rc == SQLITE_NOMEM ? "out of memory" :
		    sqlite3_errmsg(d->db));
		json_decref(remote);
		return NULL;
	}
	local = d->h != NULL ? lbhealth_json(d->h) : json_array();
	out = lbhealthdb_merge(d->self, local, remote, live != NULL ? nodes : NULL,
	    nnodes, lbhealthdb_ms(ev_time()));
	if (out == NULL)
		snprintf(err, errlen, "out of memory");
	return out;
}

const struct lbhealthdb_stats *
lbhealthdb_stats(const struct lbhealthdb *d)
{
	return &d->st;
}

char *
lbhealthdb_metrics(const struct lbhealthdb *d)
{
	char *out;

	if (asprintf(&out,
	    "# HELP warren_router_lb_health_rows_total This node's health-check results written to routing.db (lb_health), by operation.\n"
	    "# TYPE warren_router_lb_health_rows_total counter\n"
	    "warren_router_lb_health_rows_total{op=\"put\"} %" PRIu64 "\n"
	    "warren_router_lb_health_rows_total{op=\"delete\"} %" PRIu64 "\n"
	    "warren_router_lb_health_rows_total{op=\"failed\"} %" PRIu64 "\n"
	    "warren_router_lb_health_rows_total{op=\"skipped\"} %" PRIu64 "\n",
	    d->st.puts, d->st.dels, d->st.failed, d->st.skipped) < 0)
		return NULL;
	return out;
}
