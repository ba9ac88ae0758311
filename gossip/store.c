#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ipcmsg.h"
#include "log.h"

static const char store_schema[] =
    "CREATE TABLE IF NOT EXISTS backends ("
    " id TEXT PRIMARY KEY, app TEXT, region TEXT, wg_ip TEXT, port INTEGER,"
    " healthy INTEGER, weight INTEGER, soft_limit INTEGER, hard_limit INTEGER,"
    " deleted INTEGER DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS tunnels ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL DEFAULT '',"
    " kind TEXT NOT NULL DEFAULT 'http',"
    " host TEXT NOT NULL DEFAULT '',"
    " port INTEGER NOT NULL DEFAULT 0,"
    " node TEXT NOT NULL DEFAULT '',"
    " region TEXT NOT NULL DEFAULT '',"
    " session INTEGER NOT NULL DEFAULT 0,"
    " tunnel_id INTEGER NOT NULL DEFAULT 0,"
    " client_id TEXT NOT NULL DEFAULT '',"
    " token_id TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL DEFAULT 'online',"
    " claimed INTEGER NOT NULL DEFAULT 0,"
    " started_at INTEGER NOT NULL DEFAULT 0,"
    " updated_at INTEGER NOT NULL DEFAULT 0,"
    " deleted INTEGER NOT NULL DEFAULT 0,"
    " grp TEXT NOT NULL DEFAULT '',"
    " weight INTEGER NOT NULL DEFAULT 0,"
    " soft_limit INTEGER NOT NULL DEFAULT 0,"
    " hard_limit INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS tunnels_node_session ON tunnels(node, session);"
    "CREATE INDEX IF NOT EXISTS tunnels_name ON tunnels(name);"
    "CREATE TABLE IF NOT EXISTS reservations ("
    " id TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " host TEXT NOT NULL DEFAULT '',"
    " port INTEGER NOT NULL DEFAULT 0,"
    " client_id TEXT NOT NULL DEFAULT '',"
    " token_id TEXT NOT NULL DEFAULT '',"
    " updated_at INTEGER NOT NULL DEFAULT 0,"
    " deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS tokens ("
    " id TEXT PRIMARY KEY,"
    " hash TEXT NOT NULL,"
    " hosts TEXT NOT NULL DEFAULT '',"
    " ports TEXT NOT NULL DEFAULT '',"
    " note TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0,"
    " deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS tokens_hash ON tokens(hash);"
    "CREATE TABLE IF NOT EXISTS domains ("
    " domain TEXT PRIMARY KEY,"
    " app TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL DEFAULT 0,"
    " deleted INTEGER NOT NULL DEFAULT 0);"
    /* `clusterctl drain NODE` from any node: the named node drains when
     * a request newer than its router's start arrives */
    "CREATE TABLE IF NOT EXISTS drains ("
    " node TEXT PRIMARY KEY,"
    " requested_ms INTEGER NOT NULL DEFAULT 0,"
    " by TEXT NOT NULL DEFAULT '');"
    /* backends registered through edgeProxy's API: the node that took the
     * last heartbeat, and when the backend is out without another */
    "CREATE TABLE IF NOT EXISTS backend_leases ("
    " id TEXT PRIMARY KEY,"
    " node TEXT NOT NULL DEFAULT '',"
    " country TEXT NOT NULL DEFAULT '',"
    " registered_at INTEGER NOT NULL DEFAULT 0,"
    " heartbeat_at INTEGER NOT NULL DEFAULT 0,"
    " expires_at INTEGER NOT NULL DEFAULT 0);"
    /* per app: its active health check ("" none, "tcp", "http:/path") */
    "CREATE TABLE IF NOT EXISTS apps ("
    " app TEXT PRIMARY KEY,"
    " health_check TEXT NOT NULL DEFAULT '',"
    " interval_ms INTEGER NOT NULL DEFAULT 5000,"
    " timeout_ms INTEGER NOT NULL DEFAULT 2000,"
    " rise INTEGER NOT NULL DEFAULT 2,"
    " fall INTEGER NOT NULL DEFAULT 3,"
    " expect INTEGER NOT NULL DEFAULT 200,"
    " updated_at INTEGER NOT NULL DEFAULT 0,"
    " deleted INTEGER NOT NULL DEFAULT 0);"
    /* each node's own health-check results, one row per (node, app,
     * backend) written only by that node, on a target's first result and
     * its transitions (router/lbhealthdb.h); id is "node/app/backend" */
    "CREATE TABLE IF NOT EXISTS lb_health ("
    " id TEXT PRIMARY KEY,"
    " node TEXT NOT NULL DEFAULT '',"
    " app TEXT NOT NULL DEFAULT '',"
    " backend TEXT NOT NULL DEFAULT '',"
    " addr TEXT NOT NULL DEFAULT '',"
    " health_check TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL DEFAULT '',"
    " since_ms INTEGER NOT NULL DEFAULT 0,"
    " reported_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " ok_run INTEGER NOT NULL DEFAULT 0,"
    " fail_run INTEGER NOT NULL DEFAULT 0);";

/* One row per (name, node, session): only the node holding the session
 * writes it. The same session registering again keeps its claim time. */
static const char store_sql_upsert[] =
    "INSERT INTO tunnels (id, name, kind, host, port, node, region, session,"
    " tunnel_id, client_id, token_id, state, claimed, started_at, updated_at,"
    " deleted, grp, weight, soft_limit, hard_limit) VALUES (?1, ?12, ?2, ?3,"
    " ?4, ?5, ?6, ?7, ?8, ?9, ?11, 'online', ?13, ?10, ?10, 0, ?14, ?15, ?16,"
    " ?17)"
    " ON CONFLICT(id) DO UPDATE SET region = excluded.region,"
    " tunnel_id = excluded.tunnel_id, client_id = excluded.client_id,"
    " token_id = excluded.token_id, deleted = 0, grp = excluded.grp,"
    " weight = excluded.weight, soft_limit = excluded.soft_limit,"
    " hard_limit = excluded.hard_limit,"
    " claimed = CASE WHEN tunnels.state = 'online' THEN tunnels.claimed"
    "  ELSE excluded.claimed END,"
    " started_at = CASE WHEN tunnels.state = 'online' THEN tunnels.started_at"
    "  ELSE excluded.started_at END,"
    " state = 'online', updated_at = excluded.updated_at";

static const char store_sql_reserve[] =
    "INSERT INTO reservations (id, kind, host, port, client_id, token_id,"
    " updated_at, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?7, ?6, 0)"
    " ON CONFLICT(id) DO UPDATE SET client_id = excluded.client_id,"
    " token_id = excluded.token_id, updated_at = excluded.updated_at,"
    " deleted = 0";

/* A reservation's updated_at is the last time its holder was online: it is
 * stamped when the name is claimed and again when the holder goes offline,
 * and the grace period counts from there. */
static const char store_sql_session_resv[] =
    "UPDATE reservations SET updated_at = ?3 WHERE id IN (SELECT name FROM"
    " tunnels WHERE node = ?1 AND session = ?2 AND state = 'online'"
    " AND deleted = 0)";

static const char store_sql_node_resv[] =
    "UPDATE reservations SET updated_at = ?2 WHERE id IN (SELECT name FROM"
    " tunnels WHERE node = ?1 AND state = 'online' AND deleted = 0)";

static const char store_sql_token_create[] =
    "INSERT INTO tokens (id, hash, hosts, ports, note, created_at, revoked,"
    " deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0)";

static const char store_sql_token_revoke[] =
    "UPDATE tokens SET revoked = ?2 WHERE id = ?1 AND revoked = 0"
    " AND deleted = 0";

static const char store_sql_session_off[] =
    "UPDATE tunnels SET state = 'offline', updated_at = ?3"
    " WHERE node = ?1 AND session = ?2 AND state = 'online' AND deleted = 0";

static const char store_sql_node_off[] =
    "UPDATE tunnels SET state = 'offline', updated_at = ?2"
    " WHERE node = ?1 AND state = 'online' AND deleted = 0";

enum { ST_UPSERT, ST_RESERVE, ST_SESSION_OFF, ST_NODE_OFF, ST_SESSION_RESV,
    ST_NODE_RESV, ST_TOKEN_CREATE, ST_TOKEN_REVOKE, ST_BEGIN, ST_COMMIT,
    ST_ROLLBACK, ST_COUNT };

struct store {
	sqlite3 *db;
	char *region;
	sqlite3_stmt *st[ST_COUNT];
};

static int
store_fail(struct store *st, const char *what, char *err, size_t errlen)
{
	log_error("store.error", "op=%s err=\"%s\"", what, sqlite3_errmsg(st->db));
	if (err != NULL)
		snprintf(err, errlen, "routing.db %s failed: %s", what,
		    sqlite3_errmsg(st->db));
	return -EIO;
}

static int
store_user_version(sqlite3 *db)
{
	sqlite3_stmt *s;
	int v = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

int
store_open(struct store **out, const char *path, const char *region)
{
	static const char *const sql[ST_COUNT] = {
		[ST_UPSERT] = store_sql_upsert,
		[ST_RESERVE] = store_sql_reserve,
		[ST_SESSION_OFF] = store_sql_session_off,
		[ST_NODE_OFF] = store_sql_node_off,
		[ST_SESSION_RESV] = store_sql_session_resv,
		[ST_NODE_RESV] = store_sql_node_resv,
		[ST_TOKEN_CREATE] = store_sql_token_create,
		[ST_TOKEN_REVOKE] = store_sql_token_revoke,
		[ST_BEGIN] = "BEGIN IMMEDIATE",
		[ST_COMMIT] = "COMMIT",
		[ST_ROLLBACK] = "ROLLBACK",
	};
	struct store *st;
	char buf[64];
	int i, rc;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return -ENOMEM;
	if ((st->region = strdup(region != NULL ? region : "")) == NULL) {
		free(st);
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_error("store.open", "path=%s err=\"%s\"", path,
		    st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 2000);
	if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
	    NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(st, "setup", NULL, 0);
		goto fail;
	}
	snprintf(buf, sizeof(buf), "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
	/* version 1 kept one tunnels row per name, written by whichever node
	 * held it; version 2 keeps one per (name, node, session), written only
	 * by that node. The rows are session state: start them afresh. */
	if (store_user_version(st->db) < 2)
		sqlite3_exec(st->db, "DROP TABLE IF EXISTS tunnels", NULL, NULL, NULL);
	/* databases created before tokens had a note: add the column (fails
	 * harmlessly when the table is new or already has it) */
	sqlite3_exec(st->db, "ALTER TABLE tokens ADD COLUMN note TEXT NOT NULL "
	    "DEFAULT ''", NULL, NULL, NULL);
	/* ... and before tunnels had replicas (--group) */
	sqlite3_exec(st->db, "ALTER TABLE tunnels ADD COLUMN grp TEXT NOT NULL "
	    "DEFAULT ''; ALTER TABLE tunnels ADD COLUMN weight INTEGER NOT NULL "
	    "DEFAULT 0; ALTER TABLE tunnels ADD COLUMN soft_limit INTEGER NOT "
	    "NULL DEFAULT 0; ALTER TABLE tunnels ADD COLUMN hard_limit INTEGER "
	    "NOT NULL DEFAULT 0", NULL, NULL, NULL);
	if (sqlite3_exec(st->db, store_schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(st->db, buf, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(st, "schema", NULL, 0);
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &st->st[i], NULL) != SQLITE_OK) {
			store_fail(st, "prepare", NULL, 0);
			goto fail;
		}
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return -EIO;
}

void
store_close(struct store *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->st[i]);
	sqlite3_close(st->db);
	free(st->region);
	free(st);
}

char *
store_tunnel_name(char *out, size_t len, const struct ipcmsg_route *r)
{
	if (r->kind == TUNNEL_TCP)
		snprintf(out, len, "tcp:%u", (unsigned)r->port);
	else
		snprintf(out, len, "%s:%s", r->kind == TUNNEL_TLS ? "tls" : "http",
		    r->host != NULL ? r->host : "");
	return out;
}

char *
store_tunnel_id(char *out, size_t len, const struct ipcmsg_route *r)
{
	char name[IPCMSG_STR_MAX + 16];

	snprintf(out, len, "%s@%s/%016llx", store_tunnel_name(name, sizeof(name), r),
	    r->node != NULL ? r->node : "", (unsigned long long)r->session);
	return out;
}

struct sqlite3 *
store_db(struct store *st)
{
	return st->db;
}

/* Runs a prepared statement to completion; returns 0 or -EIO. */
static int
store_step(struct store *st, int which)
{
	sqlite3_stmt *s = st->st[which];
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static int
store_upsert(struct store *st, const struct ipcmsg_write *w, int64_t now,
    uint64_t stamp)
{
	const struct ipcmsg_route *r = &w->route;
	const char *kind = r->kind == TUNNEL_TCP ? "tcp" :
	    r->kind == TUNNEL_TLS ? "tls" : "http";
	const char *host = r->kind == TUNNEL_TCP ? "" : r->host;
	int port = r->kind == TUNNEL_TCP ? r->port : 0;
	sqlite3_stmt *s = st->st[ST_UPSERT];
	char id[2 * IPCMSG_STR_MAX + 64], name[IPCMSG_STR_MAX + 16];
	int n;

	store_tunnel_id(id, sizeof(id), r);
	store_tunnel_name(name, sizeof(name), r);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 12, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 13, (int64_t)stamp);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, host, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, port);
	sqlite3_bind_text(s, 5, r->node, -1, SQLITE_STATIC);
	/* a replica's region: the client's --region, else this node's */
	sqlite3_bind_text(s, 6, r->grp.region != NULL && r->grp.region[0] != '\0' ?
	    r->grp.region : st->region, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 14, r->grp.name != NULL ? r->grp.name : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 15, r->grp.weight);
	sqlite3_bind_int64(s, 16, r->grp.soft_limit);
	sqlite3_bind_int64(s, 17, r->grp.hard_limit);
	sqlite3_bind_int64(s, 7, (int64_t)r->session);
	sqlite3_bind_int64(s, 8, r->tunnel_id);
	sqlite3_bind_text(s, 9, w->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 10, now);
	sqlite3_bind_text(s, 11, w->token_id != NULL ? w->token_id : "", -1,
	    SQLITE_STATIC);
	if (store_step(st, ST_UPSERT) != 0)
		return -EIO;
	n = sqlite3_changes(st->db);
	s = st->st[ST_RESERVE];
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, host, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, port);
	sqlite3_bind_text(s, 5, w->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, now);
	sqlite3_bind_text(s, 7, w->token_id != NULL ? w->token_id : "", -1,
	    SQLITE_STATIC);
	if (store_step(st, ST_RESERVE) != 0)
		return -EIO;
	return n;
}

static int
store_offline(struct store *st, const struct ipcmsg_write *w, int64_t now)
{
	sqlite3_stmt *s;

	if (w->op == WRITE_SESSION_OFFLINE) {
		s = st->st[ST_SESSION_RESV];
		sqlite3_bind_text(s, 1, w->route.node, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (int64_t)w->route.session);
		sqlite3_bind_int64(s, 3, now);
		if (store_step(st, ST_SESSION_RESV) != 0)
			return -EIO;
		s = st->st[ST_SESSION_OFF];
		sqlite3_bind_text(s, 1, w->route.node, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (int64_t)w->route.session);
		sqlite3_bind_int64(s, 3, now);
		if (store_step(st, ST_SESSION_OFF) != 0)
			return -EIO;
	} else {
		s = st->st[ST_NODE_RESV];
		sqlite3_bind_text(s, 1, w->route.node, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, now);
		if (store_step(st, ST_NODE_RESV) != 0)
			return -EIO;
		s = st->st[ST_NODE_OFF];
		sqlite3_bind_text(s, 1, w->route.node, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, now);
		if (store_step(st, ST_NODE_OFF) != 0)
			return -EIO;
	}
	return sqlite3_changes(st->db);
}

static const char *
store_str(const char *s)
{
	return s != NULL ? s : "";
}

static int
store_token(struct store *st, const struct ipcmsg_write *w, int64_t now)
{
	sqlite3_stmt *s;

	if (w->op == WRITE_TOKEN_CREATE) {
		s = st->st[ST_TOKEN_CREATE];
		sqlite3_bind_text(s, 1, w->tok.id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, w->tok.hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, store_str(w->tok.allow), -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, store_str(w->tok.ports), -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, store_str(w->tok.note), -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, now);
		if (store_step(st, ST_TOKEN_CREATE) != 0)
			return -EIO;
	} else {
		s = st->st[ST_TOKEN_REVOKE];
		sqlite3_bind_text(s, 1, w->tok.id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, now);
		if (store_step(st, ST_TOKEN_REVOKE) != 0)
			return -EIO;
	}
	return sqlite3_changes(st->db);
}

/* The operator's tables, written through the admin API: backends
 * (edgeProxy's columns) and domains. */
static const struct {
	const char *table, *key;
} store_rows[] = {
	{ "backends", "id" },
	{ "domains", "domain" },
	{ "drains", "node" },
	{ "backend_leases", "id" },
	{ "apps", "app" },
	{ "lb_health", "id" },
};

static bool
store_column_ok(struct store *st, const char *table, const char *col)
{
	sqlite3_stmt *s;
	char sql[128];
	bool ok = false;

	snprintf(sql, sizeof(sql), "SELECT 1 FROM pragma_table_info('%s') WHERE"
	    " name = ?1", table);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(s, 1, col, -1, SQLITE_STATIC);
	ok = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return ok;
}

/* ROW_PUT: INSERT ... ON CONFLICT (key) DO UPDATE for the columns given;
 * ROW_DEL: DELETE by key. Returns rows changed, -EINVAL (sentence in err)
 * or -EIO. */
static int
store_row(struct store *st, const struct ipcmsg_write *w, char *err,
    size_t errlen)
{
	char sql[2048], cols[900] = "", vals[400] = "", sets[1000] = "";
	const char *key = NULL, *col;
	json_t *obj = NULL, *v;
	sqlite3_stmt *s = NULL;
	size_t i, ncols = 0;
	int rc, k;

	for (i = 0; i < sizeof(store_rows) / sizeof(store_rows[0]); i++)
		if (w->table != NULL && strcmp(w->table, store_rows[i].table) == 0)
			key = store_rows[i].key;
	if (key == NULL) {
		snprintf(err, errlen, "rows can be written to backends, domains and apps, "
		    "not '%s'", w->table != NULL ? w->table : "");
		return -EINVAL;
	}
	if (w->op == WRITE_ROW_DEL) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = ?1", w->table,
		    key);
		if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
			return -EIO;
		sqlite3_bind_text(s, 1, w->row != NULL ? w->row : "", -1,
		    SQLITE_STATIC);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
		return rc == SQLITE_DONE ? sqlite3_changes(st->db) : -EIO;
	}
	if (w->row == NULL || (obj = json_loads(w->row, 0, NULL)) == NULL ||
	    !json_is_object(obj)) {
		json_decref(obj);
		snprintf(err, errlen, "a row is a JSON object of columns");
		return -EINVAL;
	}
	if (!json_is_string(json_object_get(obj, key)) ||
	    json_string_length(json_object_get(obj, key)) == 0) {
		json_decref(obj);
		snprintf(err, errlen, "a %s row needs its '%s'", w->table, key);
		return -EINVAL;
	}
	json_object_foreach(obj, col, v) {
		if (ncols >= 16 || strlen(col) > 40 || !store_column_ok(st, w->table,
		    col) || !(json_is_string(v) || json_is_integer(v) ||
		    json_is_real(v) || json_is_null(v) || json_is_boolean(v))) {
			snprintf(err, errlen, "%s has no column '%.40s' (or its value is "
			    "not a string or a number)", w->table, col);
			json_decref(obj);
			return -EINVAL;
		}
		snprintf(cols + strlen(cols), sizeof(cols) - strlen(cols), "%s%s",
		    ncols ? ", " : "", col);
		snprintf(vals + strlen(vals), sizeof(vals) - strlen(vals), "%s?%zu",
		    ncols ? ", " : "", ncols + 1);
		snprintf(sets + strlen(sets), sizeof(sets) - strlen(sets),
		    "%s%s = excluded.%s", ncols ? ", " : "", col, col);
		ncols++;
	}
	snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT"
	    " (%s) DO UPDATE SET %s", w->table, cols, vals, key, sets);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
		json_decref(obj);
		return -EINVAL;
	}
	k = 1;
	json_object_foreach(obj, col, v) {
		if (json_is_string(v))
			sqlite3_bind_text(s, k, json_string_value(v), -1, SQLITE_TRANSIENT);
		else if (json_is_integer(v))
			sqlite3_bind_int64(s, k, json_integer_value(v));
		else if (json_is_real(v))
			sqlite3_bind_double(s, k, json_real_value(v));
		else if (json_is_boolean(v))
			sqlite3_bind_int(s, k, json_is_true(v));
		else
			sqlite3_bind_null(s, k);
		k++;
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	json_decref(obj);
	return rc == SQLITE_DONE ? sqlite3_changes(st->db) : -EINVAL;
}

int
store_apply(struct store *st, const struct ipcmsg_write *w, int64_t now,
    uint64_t stamp, char *err, size_t errlen)
{
	bool token_op = w->op == WRITE_TOKEN_CREATE || w->op == WRITE_TOKEN_REVOKE;
	int n;

	if (w->op == WRITE_ROW_PUT || w->op == WRITE_ROW_DEL) {
		n = store_row(st, w, err, errlen);
		if (n == -EIO)
			return store_fail(st, "row write", err, errlen);
		return n;
	}

	if (token_op) {
		if (w->tok.id == NULL || w->tok.id[0] == '\0' ||
		    (w->op == WRITE_TOKEN_CREATE &&
		    (w->tok.hash == NULL || w->tok.hash[0] == '\0'))) {
			snprintf(err, errlen, "token write op %u needs a token id "
			    "(and a hash to create one)", w->op);
			return -EINVAL;
		}
	} else if (w->route.node == NULL || w->route.node[0] == '\0') {
		snprintf(err, errlen, "write op %u has no node name", w->op);
		return -EINVAL;
	}
	switch (w->op) {
	case WRITE_TUNNEL_UPSERT:
		if (w->client_id == NULL ||
		    (w->route.kind != TUNNEL_TCP &&
		    (w->route.host == NULL || w->route.host[0] == '\0')) ||
		    (w->route.kind == TUNNEL_TCP && w->route.port == 0) ||
		    (w->route.kind != TUNNEL_HTTP && w->route.kind != TUNNEL_TCP &&
		    w->route.kind != TUNNEL_TLS)) {
			snprintf(err, errlen, "tunnel upsert needs a kind, and a host "
			    "(http) or a port (tcp)");
			return -EINVAL;
		}
		break;
	case WRITE_SESSION_OFFLINE:
	case WRITE_NODE_OFFLINE:
	case WRITE_TOKEN_CREATE:
	case WRITE_TOKEN_REVOKE:
		break;
	default:
		snprintf(err, errlen, "unknown write op %u", w->op);
		return -EINVAL;
	}
	if (store_step(st, ST_BEGIN) != 0)
		return store_fail(st, "begin", err, errlen);
	if (w->op == WRITE_TUNNEL_UPSERT)
		n = store_upsert(st, w, now, stamp);
	else if (token_op)
		n = store_token(st, w, now);
	else
		n = store_offline(st, w, now);
	if (n < 0) {
		store_fail(st, "write", err, errlen);
		store_step(st, ST_ROLLBACK);
		return -EIO;
	}
	if (store_step(st, ST_COMMIT) != 0) {
		store_fail(st, "commit", err, errlen);
		store_step(st, ST_ROLLBACK);
		return -EIO;
	}
	return n;
}

int
store_gc(struct store *st, const char *node, int64_t offline_before,
    int64_t reserved_before)
{
	sqlite3_stmt *s;
	int n = 0, rc;

	/* our own offline claims (single writer: nobody else deletes them) */
	rc = sqlite3_prepare_v2(st->db, "DELETE FROM tunnels WHERE node = ?1 AND"
	    " state = 'offline' AND updated_at < ?2", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_fail(st, "gc", NULL, 0);
	sqlite3_bind_text(s, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, offline_before);
	rc = sqlite3_step(s);
	n += sqlite3_changes(st->db);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, "gc", NULL, 0);
	/* reservations past their grace whose name nobody holds online; any
	 * node may delete them, the tombstones agree */
	rc = sqlite3_prepare_v2(st->db, "DELETE FROM reservations WHERE"
	    " updated_at < ?1 AND id NOT IN (SELECT name FROM tunnels WHERE"
	    " state = 'online' AND deleted = 0)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_fail(st, "gc", NULL, 0);
	sqlite3_bind_int64(s, 1, reserved_before);
	rc = sqlite3_step(s);
	n += sqlite3_changes(st->db);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : store_fail(st, "gc", NULL, 0);
}
