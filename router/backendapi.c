#include "router/backendapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lbpick.h"
#include "log.h"
#include "router/admin.h"

#define BACKENDAPI_VERSION      "warren"
#define BACKENDAPI_PREFIX       "/api/v1/"

struct backendapi {
	struct ev_loop *loop;
	struct admin *http;
	sqlite3 *db;                    /* read-only */
	char *token, *node;
	long long ttl_s;
	registry_write_fn *write;
	void *write_arg;
	ev_timer gc;
	struct backendapi_stats st;
};

/* ---- answers ---- */

static void
backendapi_send(struct admin_resp *resp, int status, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n;

	json_decref(j);
	resp->status = 500;
	resp->content_type = "application/json";
	if (s == NULL)
		return;
	n = strlen(s);
	if ((resp->body = malloc(n + 1)) != NULL) {
		memcpy(resp->body, s, n);
		resp->body[n] = '\n';
		resp->len = n + 1;
		resp->status = status;
	}
	free(s);
}

static void
backendapi_error(struct admin_resp *resp, int status, const char *id,
    const char *msg)
{
	backendapi_send(resp, status, id != NULL ?
	    json_pack("{s:s, s:s}", "id", id, "error", msg) :
	    json_pack("{s:s}", "error", msg));
}

/* ---- writes, through gossip ---- */

static int
backendapi_put(struct backendapi *b, const char *table, json_t *row,
    char *err, size_t errlen)
{
	struct ipcmsg_write w;
	char *s;
	int st;

	if ((s = json_dumps(row, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return IPCMSG_S_INTERNAL;
	}
	memset(&w, 0, sizeof(w));
	w.op = WRITE_ROW_PUT;
	w.route.node = b->node;
	w.route.host = "";
	w.client_id = "";
	w.table = (char *)table;
	w.row = s;
	st = b->write(b->write_arg, &w, err, errlen);
	free(s);
	return st;
}

static int
backendapi_del(struct backendapi *b, const char *table, const char *id,
    char *err, size_t errlen)
{
	struct ipcmsg_write w;

	memset(&w, 0, sizeof(w));
	w.op = WRITE_ROW_DEL;
	w.route.node = b->node;
	w.route.host = "";
	w.client_id = "";
	w.table = (char *)table;
	w.row = (char *)id;
	return b->write(b->write_arg, &w, err, errlen);
}

static int
backendapi_status_http(int st)
{
	return st == IPCMSG_S_OK ? 200 : st == IPCMSG_S_UNAVAILABLE ? 503 :
	    st == IPCMSG_S_INVALID ? 422 : 500;
}

/* ---- reads ---- */

static bool
backendapi_has_country(struct backendapi *b)
{
	sqlite3_stmt *s;
	bool ok = false;

	if (sqlite3_prepare_v2(b->db, "SELECT 1 FROM pragma_table_info('backends')"
	    " WHERE name = 'country'", -1, &s, NULL) != SQLITE_OK)
		return false;
	ok = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return ok;
}

static const char backendapi_sql_status[] =
    "SELECT l.id, COALESCE(b.app, ''), COALESCE(b.region, ''),"
    " COALESCE(b.wg_ip, ''), COALESCE(b.port, 0), COALESCE(b.healthy, 1),"
    " COALESCE(b.deleted, 0), l.node, l.country, l.registered_at,"
    " l.heartbeat_at, l.expires_at, b.id IS NOT NULL"
    " FROM backend_leases l LEFT JOIN backends b ON b.id = l.id";

/* edgeProxy's BackendStatus of the current row, plus node and country. */
static json_t *
backendapi_row(sqlite3_stmt *s, int64_t now)
{
	int64_t hb = sqlite3_column_int64(s, 10);
	int64_t reg = sqlite3_column_int64(s, 9);
	bool healthy = sqlite3_column_int64(s, 11) > now &&
	    sqlite3_column_int64(s, 5) != 0 && sqlite3_column_int64(s, 6) == 0 &&
	    sqlite3_column_int(s, 12) != 0;

	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:I, s:s, s:s}",
	    "id", (const char *)sqlite3_column_text(s, 0),
	    "app", (const char *)sqlite3_column_text(s, 1),
	    "region", (const char *)sqlite3_column_text(s, 2),
	    "ip", (const char *)sqlite3_column_text(s, 3),
	    "port", (json_int_t)sqlite3_column_int64(s, 4),
	    "healthy", healthy,
	    "last_heartbeat_secs", (json_int_t)(now > hb ? now - hb : 0),
	    "registered_secs", (json_int_t)(now > reg ? now - reg : 0),
	    "node", (const char *)sqlite3_column_text(s, 7),
	    "country", (const char *)sqlite3_column_text(s, 8));
}

/* The registration of id: 1 (and *o when o is not NULL), 0 none, -EIO. */
static int
backendapi_find(struct backendapi *b, const char *id, json_t **o)
{
	sqlite3_stmt *s;
	char sql[sizeof(backendapi_sql_status) + 32];
	int rc;

	snprintf(sql, sizeof(sql), "%s WHERE l.id = ?1", backendapi_sql_status);
	if (sqlite3_prepare_v2(b->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && o != NULL)
		*o = backendapi_row(s, (int64_t)time(NULL));
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

/* ---- handlers ---- */

static bool
backendapi_text(json_t *req, const char *key, size_t max, bool required,
    const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(req, key);
	const char *t;
	size_t i;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			snprintf(err, errlen, "missing field `%s`", key);
		return !required;
	}
	if (!json_is_string(v) || (t = json_string_value(v))[0] == '\0' ||
	    json_string_length(v) > max || strlen(t) != json_string_length(v)) {
		snprintf(err, errlen, "`%s` must be a string of 1 to %zu bytes",
		    key, max);
		return false;
	}
	for (i = 0; t[i] != '\0'; i++)
		if ((unsigned char)t[i] < 0x21 || t[i] == '/' || t[i] == 0x7f) {
			snprintf(err, errlen, "`%s` may not hold spaces, control "
			    "characters or '/'", key);
			return false;
		}
	*out = t;
	return true;
}

static bool
backendapi_int(json_t *req, const char *key, long long def, long long lo,
    long long hi, bool required, long long *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(req, key);

	if (v == NULL || json_is_null(v)) {
		if (required) {
			snprintf(err, errlen, "missing field `%s`", key);
			return false;
		}
		*out = def;
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		snprintf(err, errlen, "`%s` must be an integer from %lld to %lld",
		    key, lo, hi);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

static void
backendapi_register(struct backendapi *b, const char *body,
    struct admin_resp *resp)
{
	const char *id, *app, *region, *country, *ip;
	long long port, weight, soft, hard;
	struct lbpick_region rk;
	unsigned char addr[sizeof(struct in6_addr)];
	json_t *req, *row = NULL;
	json_error_t jerr;
	char err[512] = "";
	int64_t now = (int64_t)time(NULL);
	int st;

	if ((req = json_loads(body, 0, &jerr)) == NULL || !json_is_object(req)) {
		json_decref(req);
		backendapi_error(resp, 400, NULL, "the body must be a JSON object");
		return;
	}
	if (!backendapi_text(req, "id", BACKENDAPI_ID_MAX, true, &id, err,
	    sizeof(err)) ||
	    !backendapi_text(req, "app", BACKENDAPI_ID_MAX, true, &app, err,
	    sizeof(err)) ||
	    !backendapi_text(req, "region", LBPICK_REGION_MAX, true, &region, err,
	    sizeof(err)) ||
	    !backendapi_text(req, "country", 2, false, &country, err,
	    sizeof(err)) ||
	    !backendapi_text(req, "ip", 45, true, &ip, err, sizeof(err)) ||
	    !backendapi_int(req, "port", 0, 1, 65535, true, &port, err,
	    sizeof(err)) ||
	    !backendapi_int(req, "weight", 2, 0, 255, false, &weight, err,
	    sizeof(err)) ||
	    !backendapi_int(req, "soft_limit", 100, 0, UINT32_MAX, false, &soft,
	    err, sizeof(err)) ||
	    !backendapi_int(req, "hard_limit", 150, 0, UINT32_MAX, false, &hard,
	    err, sizeof(err)))
		goto bad;
	if (lbpick_region(&rk, region, strlen(region)) != 0) {
		snprintf(err, sizeof(err), "`region` is not a region name");
		goto bad;
	}
	if (country != NULL && lbpick_country(country) == 0) {
		snprintf(err, sizeof(err), "`country` must be a two-letter ISO "
		    "3166-1 code");
		goto bad;
	}
	if (inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1) {
		snprintf(err, sizeof(err), "`ip` must be an IPv4 or IPv6 address");
		goto bad;
	}
	/* the lease first: a backend row without one would be a static
	 * backend that never expires */
	row = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "id", id, "node",
	    b->node, "country", country != NULL ? country : "", "registered_at",
	    (json_int_t)now, "heartbeat_at", (json_int_t)now, "expires_at",
	    (json_int_t)(now + b->ttl_s + 1));
	if ((st = backendapi_put(b, "backend_leases", row, err, sizeof(err))) !=
	    IPCMSG_S_OK)
		goto fail;
	json_decref(row);
	row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:I, s:I, s:I, s:i}",
	    "id", id, "app", app, "region", region, "wg_ip", ip, "port",
	    (json_int_t)port, "healthy", 1, "weight", (json_int_t)weight,
	    "soft_limit", (json_int_t)soft, "hard_limit", (json_int_t)hard,
	    "deleted", 0);
	if (country != NULL && backendapi_has_country(b))
		json_object_set_new(row, "country", json_string(country));
	if ((st = backendapi_put(b, "backends", row, err, sizeof(err))) !=
	    IPCMSG_S_OK)
		goto fail;
	b->st.registered++;
	log_info("backendapi.register", "id=%s app=%s region=%s addr=%s:%lld",
	    id, app, region, ip, port);
	backendapi_send(resp, 201, json_pack("{s:s, s:b, s:s}", "id", id,
	    "registered", 1, "message", "Backend registered successfully"));
	json_decref(row);
	json_decref(req);
	return;
fail:
	log_warn("backendapi.register", "id=%s err=\"%s\"", id, err);
	backendapi_error(resp, backendapi_status_http(st), id, err);
	json_decref(row);
	json_decref(req);
	return;
bad:
	backendapi_error(resp, 422, NULL, err);
	json_decref(req);
}

static void
backendapi_heartbeat(struct backendapi *b, const char *id,
    struct admin_resp *resp)
{
	json_t *cur = NULL, *row;
	char err[512] = "";
	int64_t now = (int64_t)time(NULL);
	int rc, st;

	if ((rc = backendapi_find(b, id, &cur)) < 0) {
		backendapi_error(resp, 503, id, "routing.db cannot be read");
		return;
	}
	/* a registration whose backend row the operator removed is gone */
	if (rc == 0 || json_string_length(json_object_get(cur, "app")) == 0) {
		json_decref(cur);
		backendapi_error(resp, 404, id, "backend not registered");
		return;
	}
	/* one replicated write per second at most: a second heartbeat to
	 * this node within the same second changes nothing */
	if (json_integer_value(json_object_get(cur, "last_heartbeat_secs")) == 0 &&
	    json_is_true(json_object_get(cur, "healthy")) &&
	    strcmp(json_string_value(json_object_get(cur, "node")), b->node) == 0) {
		json_decref(cur);
		b->st.heartbeats++;
		backendapi_send(resp, 200, json_pack("{s:s, s:s}", "id", id,
		    "status", "ok"));
		return;
	}
	json_decref(cur);
	row = json_pack("{s:s, s:s, s:I, s:I}", "id", id, "node", b->node,
	    "heartbeat_at", (json_int_t)now, "expires_at",
	    (json_int_t)(now + b->ttl_s + 1));
	st = backendapi_put(b, "backend_leases", row, err, sizeof(err));
	json_decref(row);
	if (st != IPCMSG_S_OK) {
		backendapi_error(resp, backendapi_status_http(st), id, err);
		return;
	}
	b->st.heartbeats++;
	log_debug("backendapi.heartbeat", "id=%s", id);
	backendapi_send(resp, 200, json_pack("{s:s, s:s}", "id", id, "status",
	    "ok"));
}

/* Removes a registration: its backend row, then its lease. Returns an
 * ipcmsg status. */
static int
backendapi_remove(struct backendapi *b, const char *id, char *err,
    size_t errlen)
{
	int st;

	if ((st = backendapi_del(b, "backends", id, err, errlen)) != IPCMSG_S_OK)
		return st;
	return backendapi_del(b, "backend_leases", id, err, errlen);
}

static void
backendapi_deregister(struct backendapi *b, const char *id,
    struct admin_resp *resp)
{
	char err[512] = "";
	int rc, st;

	if ((rc = backendapi_find(b, id, NULL)) < 0) {
		backendapi_error(resp, 503, id, "routing.db cannot be read");
		return;
	}
	if (rc == 0) {
		backendapi_error(resp, 404, id, "backend not found");
		return;
	}
	if ((st = backendapi_remove(b, id, err, sizeof(err))) != IPCMSG_S_OK) {
		backendapi_error(resp, backendapi_status_http(st), id, err);
		return;
	}
	log_info("backendapi.deregister", "id=%s", id);
	backendapi_send(resp, 200, json_pack("{s:s, s:b}", "id", id,
	    "deregistered", 1));
}

static void
backendapi_list(struct backendapi *b, struct admin_resp *resp)
{
	sqlite3_stmt *s;
	char sql[sizeof(backendapi_sql_status) + 32];
	int64_t now = (int64_t)time(NULL);
	json_t *arr;
	size_t n;
	int rc;

	snprintf(sql, sizeof(sql), "%s ORDER BY l.id", backendapi_sql_status);
	if (sqlite3_prepare_v2(b->db, sql, -1, &s, NULL) != SQLITE_OK) {
		backendapi_error(resp, 503, NULL, "routing.db cannot be read");
		return;
	}
	arr = json_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(arr, backendapi_row(s, now));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		backendapi_error(resp, 503, NULL, "routing.db cannot be read");
		return;
	}
	n = json_array_size(arr);
	backendapi_send(resp, 200, json_pack("{s:o, s:I}", "backends", arr,
	    "total", (json_int_t)n));
}

static void
backendapi_health(struct backendapi *b, struct admin_resp *resp)
{
	sqlite3_stmt *s;
	long long n = 0;

	if (sqlite3_prepare_v2(b->db, "SELECT count(*) FROM backend_leases", -1,
	    &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	backendapi_send(resp, 200, json_pack("{s:s, s:s, s:I}", "status", "ok",
	    "version", BACKENDAPI_VERSION, "registered_backends", (json_int_t)n));
}

/* Constant-time comparison of the Authorization value with "Bearer TOKEN". */
static bool
backendapi_authorized(const struct backendapi *b, const char *auth)
{
	const char *p = auth;
	size_t i, n = strlen(b->token), m;
	unsigned char d = 0;

	if (strncasecmp(p, "Bearer ", 7) != 0)
		return false;
	p += 7;
	while (*p == ' ')
		p++;
	m = strlen(p);
	for (i = 0; i < n; i++)
		d |= (unsigned char)b->token[i] ^ (unsigned char)(i < m ? p[i] : 0);
	return d == 0 && m == n;
}

/* The path's ID after `prefix`, when it is one plain segment. */
static const char *
backendapi_id(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *id = path + n;

	if (strncmp(path, prefix, n) != 0 || id[0] == '\0' ||
	    strchr(id, '/') != NULL || strlen(id) > BACKENDAPI_ID_MAX)
		return NULL;
	return id;
}

/* One dispatch function per peer: the backends that register here. */
static void
backendapi_dispatch(void *arg, const char *method, const char *path,
    struct admin_resp *resp)
{
	struct backendapi *b = arg;
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	bool del = strcmp(method, "DELETE") == 0;
	const char *id;

	b->st.requests++;
	if (strcmp(path, "/health") == 0) {
		if (get)
			backendapi_health(b, resp);
		else
			backendapi_error(resp, 405, NULL, "only GET is supported");
		return;
	}
	if (b->token[0] != '\0' &&
	    !backendapi_authorized(b, admin_authorization(b->http))) {
		b->st.unauthorized++;
		backendapi_error(resp, 401, NULL, "this API needs 'Authorization: "
		    "Bearer TOKEN' with the node's --api-token");
		return;
	}
	if (strcmp(path, BACKENDAPI_PREFIX "register") == 0) {
		if (post)
			backendapi_register(b, admin_body(b->http, NULL), resp);
		else
			backendapi_error(resp, 405, NULL, "only POST is supported");
	} else if ((id = backendapi_id(path, BACKENDAPI_PREFIX "heartbeat/")) !=
	    NULL) {
		if (post)
			backendapi_heartbeat(b, id, resp);
		else
			backendapi_error(resp, 405, id, "only POST is supported");
	} else if (strcmp(path, BACKENDAPI_PREFIX "backends") == 0) {
		if (get)
			backendapi_list(b, resp);
		else
			backendapi_error(resp, 405, NULL, "only GET is supported");
	} else if ((id = backendapi_id(path, BACKENDAPI_PREFIX "backends/")) !=
	    NULL) {
		json_t *o = NULL;
		int rc;

		if (del) {
			backendapi_deregister(b, id, resp);
		} else if (!get) {
			backendapi_error(resp, 405, id, "GET or DELETE");
		} else if ((rc = backendapi_find(b, id, &o)) > 0) {
			backendapi_send(resp, 200, o);
		} else {
			backendapi_error(resp, rc < 0 ? 503 : 404, NULL, rc < 0 ?
			    "routing.db cannot be read" : "backend not found");
		}
	} else {
		backendapi_error(resp, 404, NULL, "not found: /api/v1/register, "
		    "/api/v1/heartbeat/ID, /api/v1/backends[/ID], /health");
	}
}

/* Expired registrations go: this node's after one more TTL, any other
 * node's after two (its node may be gone). */
static void
backendapi_on_gc(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct backendapi *b = w->data;
	sqlite3_stmt *s;
	char (*ids)[BACKENDAPI_ID_MAX + 1] = NULL, err[512];
	int64_t now = (int64_t)time(NULL);
	size_t n = 0, i;

	if (sqlite3_prepare_v2(b->db, "SELECT id FROM backend_leases WHERE"
	    " (node = ?1 AND expires_at + ?2 <= ?3) OR expires_at + 2 * ?2 <= ?3"
	    " LIMIT 64", -1, &s, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(s, 1, b->node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, b->ttl_s);
	sqlite3_bind_int64(s, 3, now);
	if ((ids = calloc(64, sizeof(*ids))) != NULL)
		while (n < 64 && sqlite3_step(s) == SQLITE_ROW)
			snprintf(ids[n++], sizeof(ids[0]), "%s",
			    (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	for (i = 0; i < n; i++) {
		if (backendapi_remove(b, ids[i], err, sizeof(err)) != IPCMSG_S_OK) {
			log_warn("backendapi.expire", "id=%s err=\"%s\"", ids[i], err);
			break;
		}
		b->st.removed++;
		log_info("backendapi.expire", "id=%s", ids[i]);
	}
	free(ids);
}

int
backendapi_open(struct backendapi **out, struct ev_loop *loop,
    const struct backendapi_conf *c, char *bound, size_t boundlen)
{
	struct backendapi *b;
	const char *token = c->token != NULL ? c->token : "";
	double every;
	int rc;

	if (token[0] == '\0' && !admin_loopback(c->listen))
		return -EADDRNOTAVAIL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ENOMEM;
	b->loop = loop;
	b->ttl_s = (c->ttl_ms + 999) / 1000;
	b->write = c->write;
	b->write_arg = c->write_arg;
	if ((b->token = strdup(token)) == NULL ||
	    (b->node = strdup(c->node)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (sqlite3_open_v2(c->db_path, &b->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(b->db, 1000);
	sqlite3_exec(b->db, "PRAGMA query_only=1", NULL, NULL, NULL);
	if ((rc = admin_open_any(&b->http, loop, c->listen, backendapi_dispatch,
	    b, bound, boundlen)) != 0)
		goto fail;
	every = (double)b->ttl_s / 2;
	ev_timer_init(&b->gc, backendapi_on_gc, every < 1 ? 1 : every,
	    every < 1 ? 1 : every);
	b->gc.data = b;
	ev_timer_start(loop, &b->gc);
	*out = b;
	return 0;
fail:
	backendapi_close(b);
	return rc;
}

void
backendapi_close(struct backendapi *b)
{
	if (b == NULL)
		return;
	if (b->http != NULL) {
		ev_timer_stop(b->loop, &b->gc);
		admin_close(b->http);
	}
	sqlite3_close(b->db);
	free(b->token);
	free(b->node);
	free(b);
}

void
backendapi_stats(const struct backendapi *b, struct backendapi_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (b != NULL)
		*out = b->st;
}
