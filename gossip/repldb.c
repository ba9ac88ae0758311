#include "gossip/repldb.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "log.h"

#define REPLDB_PARTIAL_MAX      1024    /* versions kept above contig */
#define REPLDB_COLS_MAX         64

static const char *const repldb_tables[] = {
	"apps", "backends", "domains", "drains", "reservations", "tokens", "tunnels",
	"backend_leases", "lb_health",
};
#define REPLDB_NTABLES  (sizeof(repldb_tables) / sizeof(repldb_tables[0]))

static const char repldb_schema[] =
    "CREATE TABLE IF NOT EXISTS __warren_site ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), actor TEXT NOT NULL,"
    " version INTEGER NOT NULL, hlc INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS __warren_heads ("
    " actor TEXT PRIMARY KEY, contig INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS __warren_clock ("
    " tbl TEXT NOT NULL, pk NOT NULL, col TEXT NOT NULL, val,"
    " hlc INTEGER NOT NULL, actor TEXT NOT NULL, ver INTEGER NOT NULL,"
    " PRIMARY KEY (tbl, pk, col)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS __warren_clock_av ON __warren_clock(actor, ver);"
    "CREATE TABLE IF NOT EXISTS __warren_pending ("
    " seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk);"
    "CREATE TABLE IF NOT EXISTS __warren_ctl ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), applying INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO __warren_ctl VALUES (1, 0);"
    "UPDATE __warren_ctl SET applying = 0;";

enum {
	RQ_CLOCK_GET, RQ_CLOCK_ROW, RQ_CLOCK_PUT, RQ_PENDING, RQ_PENDING_DEL,
	RQ_PENDING_ANY, RQ_RANGE, RQ_SITE_PUT, RQ_HEADS_PUT, RQ_APPLYING,
	RQ_CLOCK_MERGE,
	RQ_BEGIN, RQ_COMMIT, RQ_ROLLBACK, RQ_COUNT
};

static const char *const repldb_sql[RQ_COUNT] = {
	[RQ_CLOCK_GET] = "SELECT val FROM __warren_clock"
	    " WHERE tbl = ?1 AND pk = ?2 AND col = ?3",
	[RQ_CLOCK_ROW] = "SELECT col, val FROM __warren_clock"
	    " WHERE tbl = ?1 AND pk = ?2",
	[RQ_CLOCK_PUT] = "INSERT INTO __warren_clock (tbl, pk, col, val, hlc,"
	    " actor, ver) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT (tbl, pk, col) DO UPDATE SET val = excluded.val,"
	    " hlc = excluded.hlc, actor = excluded.actor, ver = excluded.ver",
	[RQ_PENDING] = "SELECT seq, tbl, pk FROM __warren_pending ORDER BY seq"
	    " LIMIT ?1",
	[RQ_PENDING_DEL] = "DELETE FROM __warren_pending WHERE seq <= ?1",
	[RQ_PENDING_ANY] = "SELECT EXISTS (SELECT 1 FROM __warren_pending)",
	[RQ_RANGE] = "SELECT tbl, pk, col, val, hlc, ver FROM __warren_clock"
	    " WHERE actor = ?1 AND ver > ?2 AND ver <= ?3 ORDER BY ver",
	[RQ_SITE_PUT] = "UPDATE __warren_site SET version = ?1, hlc = ?2",
	[RQ_HEADS_PUT] = "INSERT INTO __warren_heads (actor, contig)"
	    " VALUES (?1, ?2) ON CONFLICT (actor) DO UPDATE SET"
	    " contig = max(contig, excluded.contig)",
	[RQ_APPLYING] = "UPDATE __warren_ctl SET applying = ?1",
	/* a peer's change, kept only when it wins: a larger (hlc, actor) than
	 * the stamp held, except that tokens.revoked never goes back to 0 nor
	 * is cleared by a later 0; changes() says whether it won */
	[RQ_CLOCK_MERGE] = "INSERT INTO __warren_clock (tbl, pk, col, val, hlc,"
	    " actor, ver) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT (tbl, pk, col) DO UPDATE SET val = excluded.val,"
	    " hlc = excluded.hlc, actor = excluded.actor, ver = excluded.ver"
	    " WHERE CASE WHEN excluded.tbl = 'tokens' AND excluded.col = 'revoked'"
	    " AND (COALESCE(val, 0) != 0) != (COALESCE(excluded.val, 0) != 0)"
	    " THEN COALESCE(excluded.val, 0) != 0"
	    " ELSE excluded.hlc > hlc OR (excluded.hlc = hlc AND"
	    " excluded.actor > actor) END",
	[RQ_BEGIN] = "BEGIN IMMEDIATE",
	[RQ_COMMIT] = "COMMIT",
	[RQ_ROLLBACK] = "ROLLBACK",
};

struct repldb_table {
	char name[REPLMSG_NAME_MAX + 1];
	int ncols, pkcol;
	char cols[REPLDB_COLS_MAX][REPLMSG_NAME_MAX + 1];
	sqlite3_value *dflt[REPLDB_COLS_MAX];   /* NULL: no default */
	sqlite3_stmt *select_row, *upsert, *del, *all;
};

struct repldb_actor {
	char id[REPLMSG_NAME_MAX + 1];
	uint64_t contig;
	uint64_t *partial;              /* sorted, all > contig */
	size_t npartial;
};

struct repldb {
	sqlite3 *db;
	char actor[REPLDB_ACTOR_LEN + 1];
	uint64_t version;
	struct hlc hlc;
	struct repldb_table tables[REPLDB_NTABLES];
	size_t ntables;
	sqlite3_stmt *q[RQ_COUNT];
	struct repldb_actor *actors;
	size_t nactors;
	struct repldb_stats st;
};

/* --- values ------------------------------------------------------------- */

static void
repldb_value_of(sqlite3_value *sv, struct replmsg_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (sqlite3_value_type(sv)) {
	case SQLITE_INTEGER:
		v->type = REPLMSG_V_INT;
		v->i = sqlite3_value_int64(sv);
		break;
	case SQLITE_FLOAT:
		v->type = REPLMSG_V_REAL;
		v->r = sqlite3_value_double(sv);
		break;
	case SQLITE_TEXT:
		v->type = REPLMSG_V_TEXT;
		v->p = sqlite3_value_text(sv);
		v->len = (uint32_t)sqlite3_value_bytes(sv);
		break;
	case SQLITE_BLOB:
		v->type = REPLMSG_V_BLOB;
		v->p = sqlite3_value_blob(sv);
		v->len = (uint32_t)sqlite3_value_bytes(sv);
		break;
	default:
		v->type = REPLMSG_V_NULL;
	}
}

static void
repldb_bind(sqlite3_stmt *s, int i, const struct replmsg_value *v)
{
	switch (v->type) {
	case REPLMSG_V_INT:
		sqlite3_bind_int64(s, i, v->i);
		break;
	case REPLMSG_V_REAL:
		sqlite3_bind_double(s, i, v->r);
		break;
	case REPLMSG_V_TEXT:
		sqlite3_bind_text(s, i, (const char *)v->p, (int)v->len,
		    SQLITE_TRANSIENT);
		break;
	case REPLMSG_V_BLOB:
		sqlite3_bind_blob(s, i, v->p, (int)v->len, SQLITE_TRANSIENT);
		break;
	default:
		sqlite3_bind_null(s, i);
	}
}

static bool
repldb_value_eq(const struct replmsg_value *a, const struct replmsg_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case REPLMSG_V_INT:
		return a->i == b->i;
	case REPLMSG_V_REAL:
		return memcmp(&a->r, &b->r, sizeof(a->r)) == 0;
	case REPLMSG_V_TEXT:
	case REPLMSG_V_BLOB:
		return a->len == b->len && (a->len == 0 ||
		    memcmp(a->p, b->p, a->len) == 0);
	default:
		return true;
	}
}

static int64_t
repldb_value_int(const struct replmsg_value *v)
{
	return v->type == REPLMSG_V_INT ? v->i :
	    v->type == REPLMSG_V_REAL ? (int64_t)v->r : 0;
}

/* --- change sets -------------------------------------------------------- */

void
repldb_set_init(struct repldb_set *s)
{
	memset(s, 0, sizeof(*s));
}

void
repldb_set_fini(struct repldb_set *s)
{
	size_t i;

	for (i = 0; i < s->nowned; i++)
		free(s->owned[i]);
	free(s->owned);
	replmsg_fini(&s->msg);
	memset(s, 0, sizeof(*s));
}

/* Copies a value's bytes into memory the set owns. */
static int
repldb_set_own(struct repldb_set *s, struct replmsg_value *v)
{
	void *p, *copy;
	size_t cap;

	if (v->type != REPLMSG_V_TEXT && v->type != REPLMSG_V_BLOB)
		return 0;
	if (v->len > REPLMSG_VALUE_MAX)
		return -E2BIG;
	if (s->nowned == s->cap_owned) {
		cap = s->cap_owned ? s->cap_owned * 2 : 64;
		if ((p = realloc(s->owned, cap * sizeof(*s->owned))) == NULL)
			return -ENOMEM;
		s->owned = p;
		s->cap_owned = cap;
	}
	if ((copy = malloc(v->len ? v->len : 1)) == NULL)
		return -ENOMEM;
	if (v->len)
		memcpy(copy, v->p, v->len);
	s->owned[s->nowned++] = copy;
	v->p = copy;
	return 0;
}

/* Appends a change (values copied). Returns 0 or -errno. */
static int
repldb_set_add(struct repldb_set *s, const char *tbl, const struct replmsg_value *pk,
    const char *col, const struct replmsg_value *val, uint64_t hlc,
    const char *actor, uint64_t version)
{
	struct replmsg_change *c;
	size_t cap;
	void *p;
	int ai, rc;

	if ((ai = replmsg_actor_index(&s->msg, actor)) < 0)
		return ai;
	if (s->msg.nchanges == s->cap_changes) {
		cap = s->cap_changes ? s->cap_changes * 2 : 32;
		if ((p = realloc(s->msg.changes, cap * sizeof(*c))) == NULL)
			return -ENOMEM;
		s->msg.changes = p;
		s->cap_changes = cap;
	}
	c = &s->msg.changes[s->msg.nchanges];
	memset(c, 0, sizeof(*c));
	if (strlen(tbl) > REPLMSG_NAME_MAX || strlen(col) > REPLMSG_NAME_MAX)
		return -E2BIG;
	memcpy(c->tbl, tbl, strlen(tbl) + 1);
	memcpy(c->col, col, strlen(col) + 1);
	c->pk = *pk;
	c->val = *val;
	if ((rc = repldb_set_own(s, &c->pk)) != 0 ||
	    (rc = repldb_set_own(s, &c->val)) != 0)
		return rc;
	c->hlc = hlc;
	c->actor = (uint16_t)ai;
	c->version = version;
	s->msg.nchanges++;
	return 0;
}

static int
repldb_set_head(struct repldb_set *s, const char *actor, uint64_t v)
{
	void *p;
	int ai;

	if ((ai = replmsg_actor_index(&s->msg, actor)) < 0)
		return ai;
	if ((p = realloc(s->msg.heads, (s->msg.nheads + 1) *
	    sizeof(*s->msg.heads))) == NULL)
		return -ENOMEM;
	s->msg.heads = p;
	s->msg.heads[s->msg.nheads].actor = (uint16_t)ai;
	s->msg.heads[s->msg.nheads].version = v;
	s->msg.nheads++;
	return 0;
}

/* --- statements --------------------------------------------------------- */

static int
repldb_step(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static int
repldb_exec(struct repldb *r, int which)
{
	if (repldb_step(r->q[which]) != 0) {
		log_error("repl.db", "op=%d err=\"%s\"", which, sqlite3_errmsg(r->db));
		return -EIO;
	}
	return 0;
}

static int
repldb_applying(struct repldb *r, int on)
{
	sqlite3_bind_int(r->q[RQ_APPLYING], 1, on);
	return repldb_exec(r, RQ_APPLYING);
}

static struct repldb_table *
repldb_table(struct repldb *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->ntables; i++)
		if (strcmp(r->tables[i].name, name) == 0)
			return &r->tables[i];
	return NULL;
}

/* --- actors and heads --------------------------------------------------- */

static struct repldb_actor *
repldb_actor_find(const struct repldb *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nactors; i++)
		if (strcmp(r->actors[i].id, id) == 0)
			return &r->actors[i];
	return NULL;
}

static struct repldb_actor *
repldb_actor_get(struct repldb *r, const char *id)
{
	struct repldb_actor *a = repldb_actor_find(r, id);
	void *p;

	if (a != NULL)
		return a;
	if (strlen(id) > REPLMSG_NAME_MAX || r->nactors >= REPLMSG_ACTORS_MAX)
		return NULL;
	if ((p = realloc(r->actors, (r->nactors + 1) * sizeof(*r->actors))) == NULL)
		return NULL;
	r->actors = p;
	a = &r->actors[r->nactors++];
	memset(a, 0, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "%s", id);
	return a;
}

static int
repldb_heads_save(struct repldb *r, const struct repldb_actor *a)
{
	sqlite3_stmt *s = r->q[RQ_HEADS_PUT];

	sqlite3_bind_text(s, 1, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)a->contig);
	return repldb_exec(r, RQ_HEADS_PUT);
}

/* Drops partial versions at or below contig, then advances contig while
 * the next version is there. */
static void
repldb_actor_settle(struct repldb_actor *a)
{
	size_t i = 0, k;

	for (;;) {
		while (i < a->npartial && a->partial[i] <= a->contig)
			i++;
		if (i < a->npartial && a->partial[i] == a->contig + 1) {
			a->contig++;
			continue;
		}
		break;
	}
	for (k = 0; i < a->npartial; i++, k++)
		a->partial[k] = a->partial[i];
	a->npartial = k;
}

bool
repldb_seen(const struct repldb *r, const char *actor, uint64_t v)
{
	const struct repldb_actor *a = repldb_actor_find(r, actor);
	size_t i;

	if (a == NULL)
		return false;
	if (v <= a->contig)
		return true;
	for (i = 0; i < a->npartial; i++)
		if (a->partial[i] == v)
			return true;
	return false;
}

int
repldb_mark(struct repldb *r, const char *actor, uint64_t v)
{
	struct repldb_actor *a = repldb_actor_get(r, actor);
	uint64_t before;
	size_t i;
	void *p;

	if (a == NULL)
		return -ENOMEM;
	if (v <= a->contig || repldb_seen(r, actor, v))
		return 0;
	before = a->contig;
	if (a->npartial >= REPLDB_PARTIAL_MAX)
		return 0;       /* sync will fill the gap */
	if ((p = realloc(a->partial, (a->npartial + 1) * sizeof(*a->partial))) == NULL)
		return -ENOMEM;
	a->partial = p;
	for (i = a->npartial; i > 0 && a->partial[i - 1] > v; i--)
		a->partial[i] = a->partial[i - 1];
	a->partial[i] = v;
	a->npartial++;
	repldb_actor_settle(a);
	return a->contig != before ? repldb_heads_save(r, a) : 0;
}

int
repldb_adopt(struct repldb *r, const char *actor, uint64_t v)
{
	struct repldb_actor *a = repldb_actor_get(r, actor);

	if (a == NULL)
		return -ENOMEM;
	if (v <= a->contig)
		return 0;
	a->contig = v;
	repldb_actor_settle(a);
	return repldb_heads_save(r, a);
}

uint64_t
repldb_contig(const struct repldb *r, const char *actor)
{
	const struct repldb_actor *a = repldb_actor_find(r, actor);

	return a != NULL ? a->contig : 0;
}

size_t
repldb_actor_count(const struct repldb *r)
{
	return r->nactors;
}

const char *
repldb_actor_at(const struct repldb *r, size_t i, uint64_t *contig)
{
	if (i >= r->nactors)
		return NULL;
	if (contig != NULL)
		*contig = r->actors[i].contig;
	return r->actors[i].id;
}

/* --- open --------------------------------------------------------------- */

static int
repldb_fail(struct repldb *r, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "routing.db replication setup failed (%s): %s",
	    what, sqlite3_errmsg(r->db));
	return -EIO;
}

/* Reads a table's columns and primary key, evaluates its defaults and
 * prepares its statements; a table that is missing or has no single-column
 * primary key is not replicated (logged). Returns 0, 1 (skipped) or -EIO. */
static int
repldb_table_setup(struct repldb *r, struct repldb_table *t, const char *name,
    char *err, size_t errlen)
{
	char sql[8192], expr[512];
	sqlite3_stmt *s;
	size_t off;
	int i, npk = 0;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->pkcol = -1;
	snprintf(sql, sizeof(sql), "PRAGMA table_info(\"%s\")", name);
	if (sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) != SQLITE_OK)
		return repldb_fail(r, "table_info", err, errlen);
	while (sqlite3_step(s) == SQLITE_ROW && t->ncols < REPLDB_COLS_MAX) {
		const char *cn = (const char *)sqlite3_column_text(s, 1);
		const char *dv = (const char *)sqlite3_column_text(s, 4);

		if (cn == NULL || strlen(cn) > REPLMSG_NAME_MAX ||
		    strchr(cn, '"') != NULL)
			continue;
		snprintf(t->cols[t->ncols], sizeof(t->cols[0]), "%s", cn);
		if (sqlite3_column_int(s, 5) > 0) {
			npk++;
			t->pkcol = t->ncols;
		}
		if (dv != NULL) {
			sqlite3_stmt *d;

			snprintf(expr, sizeof(expr), "SELECT %s", dv);
			if (sqlite3_prepare_v2(r->db, expr, -1, &d, NULL) == SQLITE_OK &&
			    sqlite3_step(d) == SQLITE_ROW)
				t->dflt[t->ncols] = sqlite3_value_dup(sqlite3_column_value(d, 0));
			sqlite3_finalize(d);
		}
		t->ncols++;
	}
	sqlite3_finalize(s);
	if (t->ncols == 0 || npk != 1) {
		log_warn("repl.table", "table=%s err=\"not replicated: it needs a "
		    "single-column primary key\"", name);
		return 1;
	}
	/* SELECT c1, c2 ... FROM t WHERE pk = ?1 */
	off = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
	for (i = 0; i < t->ncols; i++)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s\"%s\"",
		    i ? ", " : "", t->cols[i]);
	snprintf(sql + off, sizeof(sql) - off, " FROM \"%s\" WHERE \"%s\" = ?1",
	    name, t->cols[t->pkcol]);
	if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &t->select_row, NULL) != SQLITE_OK)
		return repldb_fail(r, "select", err, errlen);
	/* the whole table in key order, for the digest */
	off = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
	for (i = 0; i < t->ncols; i++)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s\"%s\"",
		    i ? ", " : "", t->cols[i]);
	snprintf(sql + off, sizeof(sql) - off, " FROM \"%s\" ORDER BY \"%s\"",
	    name, t->cols[t->pkcol]);
	if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &t->all, NULL) != SQLITE_OK)
		return repldb_fail(r, "select all", err, errlen);
	/* INSERT INTO t (c...) VALUES (?...) ON CONFLICT (pk) DO UPDATE SET c = excluded.c */
	off = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" (", name);
	for (i = 0; i < t->ncols; i++)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s\"%s\"",
		    i ? ", " : "", t->cols[i]);
	off += (size_t)snprintf(sql + off, sizeof(sql) - off, ") VALUES (");
	for (i = 0; i < t->ncols; i++)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s?%d",
		    i ? ", " : "", i + 1);
	off += (size_t)snprintf(sql + off, sizeof(sql) - off,
	    ") ON CONFLICT (\"%s\") DO UPDATE SET ", t->cols[t->pkcol]);
	for (i = 0; i < t->ncols; i++)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off,
		    "%s\"%s\" = excluded.\"%s\"", i ? ", " : "", t->cols[i],
		    t->cols[i]);
	if (off >= sizeof(sql) || sqlite3_prepare_v3(r->db, sql, -1,
	    SQLITE_PREPARE_PERSISTENT, &t->upsert, NULL) != SQLITE_OK)
		return repldb_fail(r, "upsert", err, errlen);
	snprintf(sql, sizeof(sql), "DELETE FROM \"%s\" WHERE \"%s\" = ?1", name,
	    t->cols[t->pkcol]);
	if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &t->del, NULL) != SQLITE_OK)
		return repldb_fail(r, "delete", err, errlen);
	/* capture: every write outside an apply notes the key */
	snprintf(sql, sizeof(sql),
	    "CREATE TRIGGER IF NOT EXISTS \"__warren_%s_ins\" AFTER INSERT ON \"%s\""
	    " WHEN COALESCE((SELECT applying FROM __warren_ctl), 0) = 0 BEGIN"
	    " INSERT INTO __warren_pending (tbl, pk) VALUES ('%s', NEW.\"%s\"); END;"
	    "CREATE TRIGGER IF NOT EXISTS \"__warren_%s_upd\" AFTER UPDATE ON \"%s\""
	    " WHEN COALESCE((SELECT applying FROM __warren_ctl), 0) = 0 BEGIN"
	    " INSERT INTO __warren_pending (tbl, pk) VALUES ('%s', OLD.\"%s\"),"
	    " ('%s', NEW.\"%s\"); END;"
	    "CREATE TRIGGER IF NOT EXISTS \"__warren_%s_del\" AFTER DELETE ON \"%s\""
	    " WHEN COALESCE((SELECT applying FROM __warren_ctl), 0) = 0 BEGIN"
	    " INSERT INTO __warren_pending (tbl, pk) VALUES ('%s', OLD.\"%s\"); END;"
	    /* rows never stamped (a database from before replication) */
	    "INSERT INTO __warren_pending (tbl, pk) SELECT '%s', \"%s\" FROM \"%s\""
	    " WHERE NOT EXISTS (SELECT 1 FROM __warren_clock WHERE tbl = '%s'"
	    " AND pk = \"%s\".\"%s\" AND col = '');",
	    name, name, name, t->cols[t->pkcol],
	    name, name, name, t->cols[t->pkcol], name, t->cols[t->pkcol],
	    name, name, name, t->cols[t->pkcol],
	    name, t->cols[t->pkcol], name, name, name, t->cols[t->pkcol]);
	if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return repldb_fail(r, "triggers", err, errlen);
	return 0;
}

static void
repldb_table_fini(struct repldb_table *t)
{
	int i;

	sqlite3_finalize(t->select_row);
	sqlite3_finalize(t->upsert);
	sqlite3_finalize(t->del);
	sqlite3_finalize(t->all);
	for (i = 0; i < t->ncols; i++)
		sqlite3_value_free(t->dflt[i]);
}

static int
repldb_load_site(struct repldb *r, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	uint8_t rnd[REPLDB_ACTOR_LEN / 2];
	char sql[256];
	size_t i;
	int rc;

	if (sqlite3_prepare_v2(r->db, "SELECT actor, version, hlc FROM "
	    "__warren_site WHERE id = 1", -1, &s, NULL) != SQLITE_OK)
		return repldb_fail(r, "site", err, errlen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		snprintf(r->actor, sizeof(r->actor), "%s",
		    (const char *)sqlite3_column_text(s, 0));
		r->version = (uint64_t)sqlite3_column_int64(s, 1);
		r->hlc.last = (uint64_t)sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW && r->actor[0] != '\0')
		return 0;
	/* a new database (or a wiped one): a new actor */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(err, errlen, "no randomness for the replication actor id");
		return -EIO;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(r->actor + 2 * i, 3, "%02x", rnd[i]);
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO __warren_site VALUES "
	    "(1, '%s', 0, 0)", r->actor);
	if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return repldb_fail(r, "site", err, errlen);
	return 0;
}

static int
repldb_load_heads(struct repldb *r, char *err, size_t errlen)
{
	struct repldb_actor *a;
	sqlite3_stmt *s;
	uint64_t maxhlc = 0;

	if (sqlite3_prepare_v2(r->db, "SELECT actor, contig FROM __warren_heads",
	    -1, &s, NULL) != SQLITE_OK)
		return repldb_fail(r, "heads", err, errlen);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(s, 0);

		if (id == NULL || (a = repldb_actor_get(r, id)) == NULL)
			continue;
		a->contig = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	if ((a = repldb_actor_get(r, r->actor)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->contig = r->version;
	/* the clock never starts below a stamp it already holds */
	if (sqlite3_prepare_v2(r->db, "SELECT max(hlc) FROM __warren_clock", -1,
	    &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		maxhlc = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (maxhlc > r->hlc.last)
		r->hlc.last = maxhlc;
	return 0;
}

int
repldb_open(struct repldb **out, struct sqlite3 *db, char *err, size_t errlen)
{
	struct repldb *r;
	size_t i;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->db = db;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = repldb_fail(r, "begin", err, errlen);
		free(r);
		return rc;
	}
	if (sqlite3_exec(db, repldb_schema, NULL, NULL, NULL) != SQLITE_OK) {
		rc = repldb_fail(r, "schema", err, errlen);
		goto fail;
	}
	for (i = 0; i < REPLDB_NTABLES; i++) {
		rc = repldb_table_setup(r, &r->tables[r->ntables], repldb_tables[i],
		    err, errlen);
		if (rc < 0) {
			repldb_table_fini(&r->tables[r->ntables]);
			goto fail;
		}
		if (rc == 0)
			r->ntables++;
		else
			repldb_table_fini(&r->tables[r->ntables]);
	}
	if ((rc = repldb_load_site(r, err, errlen)) != 0 ||
	    (rc = repldb_load_heads(r, err, errlen)) != 0)
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = repldb_fail(r, "commit", err, errlen);
		goto fail;
	}
	for (i = 0; i < RQ_COUNT; i++) {
		if (sqlite3_prepare_v3(db, repldb_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &r->q[i], NULL) != SQLITE_OK) {
			rc = repldb_fail(r, "prepare", err, errlen);
			repldb_free(r);
			return rc;
		}
	}
	*out = r;
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	repldb_free(r);
	return rc;
}

void
repldb_free(struct repldb *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->ntables; i++)
		repldb_table_fini(&r->tables[i]);
	for (i = 0; i < RQ_COUNT; i++)
		sqlite3_finalize(r->q[i]);
	for (i = 0; i < r->nactors; i++)
		free(r->actors[i].partial);
	free(r->actors);
	free(r);
}

const char *
repldb_actor(const struct repldb *r)
{
	return r->actor;
}

const struct repldb_stats *
repldb_stats(const struct repldb *r)
{
	return &r->st;
}

struct hlc *
repldb_hlc(struct repldb *r)
{
	return &r->hlc;
}

/* --- capture ------------------------------------------------------------ */

bool
repldb_pending(struct repldb *r)
{
	sqlite3_stmt *s = r->q[RQ_PENDING_ANY];
	bool any = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) != 0;

	sqlite3_reset(s);
	return any;
}

/* The stamped value of a column: 1 with *v (bytes valid until the next
 * RQ_CLOCK_GET step), 0 when never stamped, -EIO. */
static int
repldb_clock_get(struct repldb *r, const char *tbl,
    const struct replmsg_value *pk, const char *col, struct replmsg_value *v)
{
	sqlite3_stmt *s = r->q[RQ_CLOCK_GET];
	int rc;

	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, tbl, -1, SQLITE_STATIC);
	repldb_bind(s, 2, pk);
	sqlite3_bind_text(s, 3, col, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return -EIO;
	repldb_value_of(sqlite3_column_value(s, 0), v);
	return 1;
}

static int
repldb_clock_put(struct repldb *r, const char *tbl,
    const struct replmsg_value *pk, const char *col,
    const struct replmsg_value *val, uint64_t hlc, const char *actor,
    uint64_t ver)
{
	sqlite3_stmt *s = r->q[RQ_CLOCK_PUT];

	sqlite3_bind_text(s, 1, tbl, -1, SQLITE_STATIC);
	repldb_bind(s, 2, pk);
	sqlite3_bind_text(s, 3, col, -1, SQLITE_STATIC);
	repldb_bind(s, 4, val);
	sqlite3_bind_int64(s, 5, (int64_t)hlc);
	sqlite3_bind_text(s, 6, actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, (int64_t)ver);
	return repldb_exec(r, RQ_CLOCK_PUT);
}

/* Stamps one column if its value differs from the stamped one. */
static int
repldb_stamp(struct repldb *r, struct repldb_table *t,
    const struct replmsg_value *pk, const char *col,
    const struct replmsg_value *now, uint64_t hlc, struct repldb_set *out)
{
	struct replmsg_value old;
	int rc;

	rc = repldb_clock_get(r, t->name, pk, col, &old);
	if (rc < 0)
		return rc;
	if (rc == 1 && repldb_value_eq(&old, now)) {
		sqlite3_reset(r->q[RQ_CLOCK_GET]);
		return 0;
	}
	sqlite3_reset(r->q[RQ_CLOCK_GET]);
	if ((rc = repldb_clock_put(r, t->name, pk, col, now, hlc, r->actor,
	    r->version + 1)) != 0)
		return rc;
	r->st.captured++;
	return repldb_set_add(out, t->name, pk, col, now, hlc, r->actor,
	    r->version + 1);
}

/* A local write tried to clear tokens.revoked: put the revocation back. */
static int
repldb_keep_revoked(struct repldb *r, struct repldb_table *t,
    const struct replmsg_value *pk, struct replmsg_value *now)
{
	struct replmsg_value old;
	char sql[256];
	sqlite3_stmt *s;
	int rc;

	if (strcmp(t->name, "tokens") != 0 || repldb_value_int(now) != 0)
		return 0;
	rc = repldb_clock_get(r, t->name, pk, "revoked", &old);
	if (rc <= 0 || repldb_value_int(&old) == 0) {
		sqlite3_reset(r->q[RQ_CLOCK_GET]);
		return rc < 0 ? rc : 0;
	}
	*now = old;
	r->st.revoke_kept++;
	log_warn("repl.revoked", "err=\"a revoked token stays revoked; the "
	    "write that cleared it was undone\"");
	snprintf(sql, sizeof(sql), "UPDATE tokens SET revoked = ?1 WHERE \"%s\" = ?2",
	    t->cols[t->pkcol]);
	if (repldb_applying(r, 1) != 0)
		return -EIO;
	rc = sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) == SQLITE_OK ? 0 : -EIO;
	if (rc == 0) {
		repldb_bind(s, 1, now);
		repldb_bind(s, 2, pk);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
	}
	sqlite3_finalize(s);
	/* clock_get's statement holds `old`'s bytes: release after the copy */
	sqlite3_reset(r->q[RQ_CLOCK_GET]);
	if (repldb_applying(r, 0) != 0)
		return -EIO;
	return rc;
}

static int
repldb_capture_row(struct repldb *r, struct repldb_table *t,
    const struct replmsg_value *pk, uint64_t hlc, struct repldb_set *out)
{
	static const struct replmsg_value alive = { .type = REPLMSG_V_INT, .i = 1 };
	static const struct replmsg_value dead = { .type = REPLMSG_V_INT, .i = 0 };
	struct replmsg_value v, old;
	sqlite3_stmt *s = t->select_row;
	int rc, i;

	repldb_bind(s, 1, pk);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		/* gone: a tombstone if it was alive */
		rc = repldb_clock_get(r, t->name, pk, "", &old);
		sqlite3_reset(r->q[RQ_CLOCK_GET]);
		if (rc <= 0)
			return rc;
		return repldb_stamp(r, t, pk, "", &dead, hlc, out);
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return -EIO;
	}
	if ((rc = repldb_stamp(r, t, pk, "", &alive, hlc, out)) != 0)
		goto out;
	for (i = 0; i < t->ncols; i++) {
		if (i == t->pkcol)
			continue;
		repldb_value_of(sqlite3_column_value(s, i), &v);
		if (strcmp(t->cols[i], "revoked") == 0 &&
		    (rc = repldb_keep_revoked(r, t, pk, &v)) != 0)
			goto out;
		if ((rc = repldb_stamp(r, t, pk, t->cols[i], &v, hlc, out)) != 0)
			goto out;
	}
out:
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

struct repldb_key {
	char tbl[REPLMSG_NAME_MAX + 1];
	struct replmsg_value pk;
	void *bytes;
};

int
repldb_capture(struct repldb *r, uint64_t wall_ms, struct repldb_set *out)
{
	struct repldb_key *keys = NULL;
	struct repldb_table *t;
	sqlite3_stmt *s = r->q[RQ_PENDING];
	int64_t maxseq = 0;
	size_t nkeys = 0, i, k;
	uint64_t hlc;
	int rc = 0, left;

	repldb_set_init(out);
	out->msg.type = REPLMSG_CHANGES;
	out->msg.flags = REPLMSG_F_COMPLETE;
	if (repldb_exec(r, RQ_BEGIN) != 0)
		return -EIO;
	if ((keys = calloc(REPLDB_CAPTURE_ROWS, sizeof(*keys))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	sqlite3_bind_int(s, 1, REPLDB_CAPTURE_ROWS);
	while (sqlite3_step(s) == SQLITE_ROW && nkeys < REPLDB_CAPTURE_ROWS) {
		struct repldb_key *kk = &keys[nkeys];
		const char *tbl = (const char *)sqlite3_column_text(s, 1);

		maxseq = sqlite3_column_int64(s, 0);
		if (tbl == NULL || strlen(tbl) > REPLMSG_NAME_MAX)
			continue;
		snprintf(kk->tbl, sizeof(kk->tbl), "%s", tbl);
		repldb_value_of(sqlite3_column_value(s, 2), &kk->pk);
		if (kk->pk.type == REPLMSG_V_NULL)
			continue;
		if (kk->pk.type == REPLMSG_V_TEXT || kk->pk.type == REPLMSG_V_BLOB) {
			if ((kk->bytes = malloc(kk->pk.len + 1)) == NULL) {
				sqlite3_reset(s);
				rc = -ENOMEM;
				goto fail;
			}
			memcpy(kk->bytes, kk->pk.p, kk->pk.len);
			kk->pk.p = kk->bytes;
		}
		for (k = 0; k < nkeys; k++)
			if (strcmp(keys[k].tbl, kk->tbl) == 0 &&
			    repldb_value_eq(&keys[k].pk, &kk->pk))
				break;
		if (k < nkeys) {
			free(kk->bytes);
			kk->bytes = NULL;
			continue;
		}
		nkeys++;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	hlc = hlc_now(&r->hlc, wall_ms);
	for (i = 0; i < nkeys; i++) {
		if ((t = repldb_table(r, keys[i].tbl)) == NULL)
			continue;
		if ((rc = repldb_capture_row(r, t, &keys[i].pk, hlc, out)) != 0)
			goto fail;
	}
	sqlite3_bind_int64(r->q[RQ_PENDING_DEL], 1, maxseq);
	if (repldb_exec(r, RQ_PENDING_DEL) != 0) {
		rc = -EIO;
		goto fail;
	}
	if (out->msg.nchanges > 0) {
		sqlite3_bind_int64(r->q[RQ_SITE_PUT], 1, (int64_t)(r->version + 1));
		sqlite3_bind_int64(r->q[RQ_SITE_PUT], 2, (int64_t)r->hlc.last);
		if (repldb_exec(r, RQ_SITE_PUT) != 0 ||
		    (rc = repldb_set_head(out, r->actor, r->version + 1)) != 0) {
			rc = rc ? rc : -EIO;
			goto fail;
		}
	}
	if (repldb_exec(r, RQ_COMMIT) != 0) {
		rc = -EIO;
		goto fail;
	}
	if (out->msg.nchanges > 0) {
		struct repldb_actor *a = repldb_actor_get(r, r->actor);

		r->version++;
		r->st.versions++;
		if (a != NULL)
			a->contig = r->version;
	}
	for (i = 0; i < nkeys; i++)
		free(keys[i].bytes);
	free(keys);
	left = repldb_pending(r) ? 1 : 0;
	return left;
fail:
	for (i = 0; i < nkeys; i++)
		free(keys[i].bytes);
	free(keys);
	repldb_exec(r, RQ_ROLLBACK);
	repldb_set_fini(out);
	return rc < 0 ? rc : -EIO;
}

/* --- apply -------------------------------------------------------------- */

/* Rewrites one row from its clock: upserted when alive, deleted when dead,
 * left alone while its liveness is unknown. */
static int
repldb_materialize(struct repldb *r, struct repldb_table *t,
    const struct replmsg_value *pk)
{
	sqlite3_stmt *s = r->q[RQ_CLOCK_ROW], *u = t->upsert;
	struct replmsg_value v;
	int alive = -1, i, rc;
	bool bound[REPLDB_COLS_MAX] = { false };

	sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
	repldb_bind(s, 2, pk);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *col = (const char *)sqlite3_column_text(s, 0);

		repldb_value_of(sqlite3_column_value(s, 1), &v);
		if (col == NULL)
			continue;
		if (col[0] == '\0') {
			alive = repldb_value_int(&v) != 0;
			continue;
		}
		for (i = 0; i < t->ncols; i++)
			if (strcmp(t->cols[i], col) == 0) {
				repldb_bind(u, i + 1, &v);
				bound[i] = true;
				break;
			}
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		sqlite3_reset(u);
		sqlite3_clear_bindings(u);
		return -EIO;
	}
	if (alive == 0) {
		sqlite3_reset(u);
		sqlite3_clear_bindings(u);
		repldb_bind(t->del, 1, pk);
		return repldb_step(t->del);
	}
	if (alive < 0) {
		sqlite3_reset(u);
		sqlite3_clear_bindings(u);
		return 0;
	}
	for (i = 0; i < t->ncols; i++) {
		if (i == t->pkcol)
			repldb_bind(u, i + 1, pk);
		else if (!bound[i] && t->dflt[i] != NULL)
			sqlite3_bind_value(u, i + 1, t->dflt[i]);
	}
	rc = sqlite3_step(u);
	sqlite3_reset(u);
	sqlite3_clear_bindings(u);
	if (rc != SQLITE_DONE) {
		r->st.rows_failed++;
		log_warn("repl.row", "table=%s err=\"%s\"", t->name,
		    sqlite3_errmsg(r->db));
	}
	return 0;
}

struct repldb_dirty {
	struct repldb_table *t;
	const struct replmsg_value *pk;
};

/* FNV-1a of a row's identity (table and key value). */
static uint64_t
repldb_row_hash(const struct repldb_table *t, const struct replmsg_value *pk)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)t;
	const uint8_t *p;
	uint32_t i, n;

	h = (h ^ pk->type) * 1099511628211ull;
	if (pk->type == REPLMSG_V_TEXT || pk->type == REPLMSG_V_BLOB) {
		p = pk->p;
		n = pk->len;
	} else {
		p = (const uint8_t *)&pk->i;
		n = sizeof(pk->i);
	}
	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Adds a row to the dirty set (open addressing over slots[cap], cap a
 * power of two above 2 * the changes) unless it is there. */
static void
repldb_dirty_add(struct repldb_dirty *rows, size_t *n, uint32_t *slots,
    size_t cap, struct repldb_table *t, const struct replmsg_value *pk)
{
	size_t i = (size_t)repldb_row_hash(t, pk) & (cap - 1);

	while (slots[i] != 0) {
		struct repldb_dirty *d = &rows[slots[i] - 1];

		if (d->t == t && repldb_value_eq(d->pk, pk))
			return;
		i = (i + 1) & (cap - 1);
	}
	rows[*n].t = t;
	rows[*n].pk = pk;
	slots[i] = (uint32_t)++*n;
}

int
repldb_apply(struct repldb *r, const struct replmsg *m, uint32_t from,
    uint32_t n, uint64_t wall_ms)
{
	struct repldb_dirty *dirty = NULL;
	uint32_t *slots = NULL;
	size_t cap = 16;
	const struct replmsg_change *c;
	struct repldb_table *t;
	size_t ndirty = 0, k;
	uint32_t i;
	int won = 0;

	if (from > m->nchanges || n > m->nchanges - from)
		return -EINVAL;
	if (n == 0)
		return 0;
	while (cap < 2 * (size_t)n)
		cap *= 2;
	if ((dirty = calloc(n, sizeof(*dirty))) == NULL ||
	    (slots = calloc(cap, sizeof(*slots))) == NULL) {
		free(dirty);
		return -ENOMEM;
	}
	if (repldb_exec(r, RQ_BEGIN) != 0) {
		free(dirty);
		free(slots);
		return -EIO;
	}
	/* a local write not yet captured would be overwritten by the rows
	 * rebuilt below: the caller captures it first (the write lock held
	 * since BEGIN IMMEDIATE keeps new ones out until we commit) */
	if (repldb_pending(r)) {
		repldb_exec(r, RQ_ROLLBACK);
		free(dirty);
		free(slots);
		return -EAGAIN;
	}
	if (repldb_applying(r, 1) != 0)
		goto fail;
	for (i = from; i < from + n; i++) {
		c = &m->changes[i];
		r->st.received++;
		hlc_observe(&r->hlc, c->hlc, wall_ms);
		sqlite3_stmt *mq = r->q[RQ_CLOCK_MERGE];

		sqlite3_bind_text(mq, 1, c->tbl, -1, SQLITE_STATIC);
		repldb_bind(mq, 2, &c->pk);
		sqlite3_bind_text(mq, 3, c->col, -1, SQLITE_STATIC);
		repldb_bind(mq, 4, &c->val);
		sqlite3_bind_int64(mq, 5, (int64_t)c->hlc);
		sqlite3_bind_text(mq, 6, m->actors[c->actor], -1, SQLITE_STATIC);
		sqlite3_bind_int64(mq, 7, (int64_t)c->version);
		if (repldb_exec(r, RQ_CLOCK_MERGE) != 0)
			goto fail;
		if (sqlite3_changes(r->db) == 0) {
			r->st.stale++;
			continue;
		}
		r->st.applied++;
		won++;
		if ((t = repldb_table(r, c->tbl)) == NULL) {
			r->st.unknown_table++;
			continue;
		}
		repldb_dirty_add(dirty, &ndirty, slots, cap, t, &c->pk);
	}
	for (k = 0; k < ndirty; k++)
		if (repldb_materialize(r, dirty[k].t, dirty[k].pk) != 0)
			goto fail;
	if (repldb_applying(r, 0) != 0)
		goto fail;
	sqlite3_bind_int64(r->q[RQ_SITE_PUT], 1, (int64_t)r->version);
	sqlite3_bind_int64(r->q[RQ_SITE_PUT], 2, (int64_t)r->hlc.last);
	if (repldb_exec(r, RQ_SITE_PUT) != 0 || repldb_exec(r, RQ_COMMIT) != 0)
		goto fail;
	free(dirty);
	free(slots);
	return won;
fail:
	log_error("repl.apply", "err=\"%s\"", sqlite3_errmsg(r->db));
	repldb_exec(r, RQ_ROLLBACK);
	free(dirty);
	free(slots);
	return -EIO;
}

/* --- sync --------------------------------------------------------------- */

int
repldb_sync_request(struct repldb *r, struct replmsg *out)
{
	size_t i;
	int ai;

	memset(out, 0, sizeof(*out));
	out->type = REPLMSG_SYNC_REQ;
	if (r->nactors > 0 && (out->heads = calloc(r->nactors,
	    sizeof(*out->heads))) == NULL)
		return -ENOMEM;
	for (i = 0; i < r->nactors; i++) {
		if ((ai = replmsg_actor_index(out, r->actors[i].id)) < 0) {
			replmsg_fini(out);
			return ai;
		}
		out->heads[out->nheads].actor = (uint16_t)ai;
		out->heads[out->nheads].version = r->actors[i].contig;
		out->nheads++;
	}
	return 0;
}

/* What the requester has seen of actor, from its heads. */
static uint64_t
repldb_req_contig(const struct replmsg *req, const char *actor)
{
	uint32_t i;

	for (i = 0; i < req->nheads; i++)
		if (strcmp(req->actors[req->heads[i].actor], actor) == 0)
			return req->heads[i].version;
	return 0;
}

int
repldb_sync_answer(struct repldb *r, const struct replmsg *req, size_t budget,
    struct repldb_set *out)
{
	sqlite3_stmt *s = r->q[RQ_RANGE];
	struct replmsg_value pk, val;
	uint64_t have, theirs, through, ver, last_ver;
	size_t i;
	int rc = 0;

	repldb_set_init(out);
	out->msg.type = REPLMSG_SYNC_RESP;
	for (i = 0; i < r->nactors; i++) {
		const struct repldb_actor *a = &r->actors[i];

		/* what lies between their contig and ours, and what we hold
		 * beyond ours: a version after a gap that can never close (its
		 * writer lost its data before anyone got the version before it)
		 * must still reach everyone */
		have = a->contig;
		theirs = repldb_req_contig(req, a->id);
		if (out->msg.nchanges >= budget) {
			if (have > theirs)
				out->msg.flags |= REPLMSG_F_MORE;
			break;
		}
		through = have;
		last_ver = theirs;
		sqlite3_bind_text(s, 1, a->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (int64_t)theirs);
		sqlite3_bind_int64(s, 3, INT64_MAX);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			ver = (uint64_t)sqlite3_column_int64(s, 5);
			if (ver != last_ver) {
				/* a version boundary: stop here when over budget
				 * and at least one version went in; MORE only
				 * while the contiguous part is cut (what lies
				 * beyond it is sent again with every answer) */
				if (out->msg.nchanges >= budget &&
				    out->msg.nchanges > 0 && last_ver > theirs) {
					if (last_ver < have) {
						through = last_ver;
						out->msg.flags |= REPLMSG_F_MORE;
					}
					break;
				}
				last_ver = ver;
					}
			repldb_value_of(sqlite3_column_value(s, 1), &pk);
			repldb_value_of(sqlite3_column_value(s, 3), &val);
			if ((rc = repldb_set_add(out, (const char *)sqlite3_column_text(s, 0),
			    &pk, (const char *)sqlite3_column_text(s, 2), &val,
			    (uint64_t)sqlite3_column_int64(s, 4), a->id, ver)) != 0)
				break;
		}
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		if (rc < 0 || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
			repldb_set_fini(out);
			return rc < 0 ? rc : -EIO;
		}
		if (through > theirs &&
		    (rc = repldb_set_head(out, a->id, through)) != 0) {
			repldb_set_fini(out);
			return rc;
		}
		rc = 0;
		if (out->msg.flags & REPLMSG_F_MORE)
			break;
	}
	return 0;
}

/* --- digest and garbage collection -------------------------------------- */

static void
repldb_hash_value(EVP_MD_CTX *md, sqlite3_value *sv)
{
	struct replmsg_value v;
	uint8_t hdr[9];
	uint64_t u;
	int k;

	repldb_value_of(sv, &v);
	hdr[0] = v.type;
	switch (v.type) {
	case REPLMSG_V_INT:
	case REPLMSG_V_REAL:
		if (v.type == REPLMSG_V_INT)
			u = (uint64_t)v.i;
		else
			memcpy(&u, &v.r, sizeof(u));
		for (k = 0; k < 8; k++)
			hdr[1 + k] = (uint8_t)(u >> (8 * k));
		EVP_DigestUpdate(md, hdr, 9);
		break;
	case REPLMSG_V_TEXT:
	case REPLMSG_V_BLOB:
		for (k = 0; k < 4; k++)
			hdr[1 + k] = (uint8_t)(v.len >> (8 * k));
		EVP_DigestUpdate(md, hdr, 5);
		EVP_DigestUpdate(md, v.p, v.len);
		break;
	default:
		EVP_DigestUpdate(md, hdr, 1);
	}
}

int
repldb_digest(struct repldb *r, char hex[REPLDB_DIGEST_LEN + 1], uint64_t *rows)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0, k;
	EVP_MD_CTX *md;
	uint64_t n = 0;
	size_t i;
	int c, rc = 0;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	if (sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		EVP_MD_CTX_free(md);
		return -EIO;
	}
	for (i = 0; i < r->ntables && rc == 0; i++) {
		struct repldb_table *t = &r->tables[i];

		EVP_DigestUpdate(md, t->name, strlen(t->name) + 1);
		while ((rc = sqlite3_step(t->all)) == SQLITE_ROW) {
			for (c = 0; c < t->ncols; c++)
				repldb_hash_value(md, sqlite3_column_value(t->all, c));
			n++;
		}
		rc = rc == SQLITE_DONE ? 0 : -EIO;
		sqlite3_reset(t->all);
	}
	sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
	EVP_DigestFinal_ex(md, d, &dl);
	EVP_MD_CTX_free(md);
	for (k = 0; k < dl && 2 * k + 2 <= REPLDB_DIGEST_LEN; k++)
		snprintf(hex + 2 * k, 3, "%02x", d[k]);
	hex[2 * k] = '\0';
	if (rows != NULL)
		*rows = n;
	return rc;
}

int
repldb_gc(struct repldb *r, uint64_t before_ms)
{
	sqlite3_stmt *s;
	int rc, n;

	rc = sqlite3_prepare_v2(r->db, "DELETE FROM __warren_clock WHERE"
	    " (tbl, pk) IN (SELECT tbl, pk FROM __warren_clock WHERE col = ''"
	    " AND val = 0 AND hlc < ?1)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, (int64_t)(before_ms << HLC_LOGICAL_BITS));
	rc = sqlite3_step(s);
	n = sqlite3_changes(r->db);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : -EIO;
}
