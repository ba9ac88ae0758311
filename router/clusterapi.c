#include "router/clusterapi.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipcmsg.h"
#include "router/table.h"

struct clusterapi {
	sqlite3 *db;
};

int
clusterapi_open(struct clusterapi **out, const char *path)
{
	struct clusterapi *api;

	if ((api = calloc(1, sizeof(*api))) == NULL)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &api->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close(api->db);
		free(api);
		return -EIO;
	}
	sqlite3_busy_timeout(api->db, 1000);
	sqlite3_exec(api->db, "PRAGMA query_only=1", NULL, NULL, NULL);
	*out = api;
	return 0;
}

void
clusterapi_close(struct clusterapi *api)
{
	if (api == NULL)
		return;
	sqlite3_close(api->db);
	free(api);
}

static json_t *
clusterapi_error(int *status, int code, const char *msg)
{
	*status = code;
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* Every column of every row of a query as a JSON array of objects. */
static json_t *
clusterapi_query(struct clusterapi *api, const char *sql, int *status)
{
	sqlite3_stmt *s;
	json_t *arr, *o, *v;
	int i, rc;

	if (sqlite3_prepare_v2(api->db, sql, -1, &s, NULL) != SQLITE_OK)
		return clusterapi_error(status, 500, sqlite3_errmsg(api->db));
	arr = json_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		o = json_object();
		for (i = 0; i < sqlite3_column_count(s); i++) {
			switch (sqlite3_column_type(s, i)) {
			case SQLITE_INTEGER:
				v = json_integer(sqlite3_column_int64(s, i));
				break;
			case SQLITE_FLOAT:
				v = json_real(sqlite3_column_double(s, i));
				break;
			case SQLITE_NULL:
				v = json_null();
				break;
			default:
				v = json_stringn((const char *)sqlite3_column_text(s, i),
				    (size_t)sqlite3_column_bytes(s, i));
				break;
			}
			json_object_set_new(o, sqlite3_column_name(s, i),
			    v != NULL ? v : json_null());
		}
		json_array_append_new(arr, o);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return clusterapi_error(status, 500, sqlite3_errmsg(api->db));
	}
	*status = 200;
	return arr;
}

static json_t *
clusterapi_routes(struct clusterapi *api, const struct clusterapi_conf *c,
    int *status)
{
	json_t *arr = clusterapi_query(api, "SELECT name, kind, host, port, node,"
	    " region, session, client_id, token_id, state, claimed, started_at,"
	    " updated_at FROM tunnels WHERE deleted = 0 ORDER BY name, claimed",
	    status), *o;
	const struct ipcmsg_route *r;
	char sess[17];
	size_t i;
	int64_t now = (int64_t)time(NULL);

	if (*status != 200)
		return arr;
	json_array_foreach(arr, i, o) {
		const char *kind = json_string_value(json_object_get(o, "kind"));
		const char *host = json_string_value(json_object_get(o, "host"));
		const char *node = json_string_value(json_object_get(o, "node"));
		uint64_t session = (uint64_t)json_integer_value(json_object_get(o,
		    "session"));
		bool online = json_string_value(json_object_get(o, "state")) != NULL &&
		    strcmp(json_string_value(json_object_get(o, "state")), "online") == 0;
		uint8_t k = kind != NULL && strcmp(kind, "tcp") == 0 ? TUNNEL_TCP :
		    kind != NULL && strcmp(kind, "tls") == 0 ? TUNNEL_TLS : TUNNEL_HTTP;
		bool live = node != NULL && (strcmp(node, c->self) == 0 ||
		    c->live == NULL || c->live(c->live_arg, node));

		/* 64-bit ids as hex strings, as in the logs */
		snprintf(sess, sizeof(sess), "%016" PRIx64, session);
		json_object_set_new(o, "session", json_string(sess));
		r = table_find(c->table, k, host != NULL ? host : "",
		    (uint16_t)json_integer_value(json_object_get(o, "port")), NULL);
		json_object_set_new(o, "holder", json_boolean(r != NULL &&
		    r->state == ROUTE_ONLINE && r->session == session &&
		    node != NULL && strcmp(r->node, node) == 0));
		json_object_set_new(o, "node_alive", json_boolean(live));
		json_object_set_new(o, "age_s", json_integer(now -
		    json_integer_value(json_object_get(o, "started_at"))));
		(void)online;
	}
	return arr;
}

/* POST a row / DELETE one, through gossip. */
static json_t *
clusterapi_write(const struct clusterapi_conf *c, uint8_t op, const char *table,
    const char *row, int *status)
{
	struct ipcmsg_write w;
	char err[512] = "";
	int st;

	memset(&w, 0, sizeof(w));
	w.op = op;
	w.route.node = (char *)c->self;
	w.route.host = "";
	w.client_id = "";
	w.table = (char *)table;
	w.row = (char *)row;
	st = c->write(c->write_arg, &w, err, sizeof(err));
	if (st != IPCMSG_S_OK)
		return clusterapi_error(status, st == IPCMSG_S_UNAVAILABLE ? 503 : 400,
		    err);
	*status = 200;
	return json_pack("{s:b}", "ok", 1);
}

bool
clusterapi_handle(struct clusterapi *api, const struct clusterapi_conf *c,
    const char *method, const char *path, const char *body, int *status,
    json_t **out)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	bool del = strcmp(method, "DELETE") == 0;
	const char *table = NULL, *rest = NULL;

	*out = NULL;
	if (strcmp(path, "/v1/routes") == 0) {
		*out = get ? clusterapi_routes(api, c, status) :
		    clusterapi_error(status, 405, "only GET is supported");
		return true;
	}
	if (strncmp(path, "/v1/backends", 12) == 0 &&
	    (path[12] == '\0' || path[12] == '/')) {
		table = "backends";
		rest = path[12] == '/' ? path + 13 : NULL;
	} else if (strncmp(path, "/v1/domains", 11) == 0 &&
	    (path[11] == '\0' || path[11] == '/')) {
		table = "domains";
		rest = path[11] == '/' ? path + 12 : NULL;
	} else if (strncmp(path, "/v1/apps", 8) == 0 &&
	    (path[8] == '\0' || path[8] == '/')) {
		table = "apps";         /* per app: its health check */
		rest = path[8] == '/' ? path + 9 : NULL;
	} else {
		return false;
	}
	if (rest == NULL && get)
		*out = clusterapi_query(api, strcmp(table, "backends") == 0 ?
		    "SELECT * FROM backends ORDER BY app, id" :
		    strcmp(table, "apps") == 0 ?
		    "SELECT app, health_check, interval_ms, timeout_ms, rise, fall,"
		    " expect FROM apps WHERE deleted = 0 ORDER BY app" :
		    "SELECT domain, app FROM domains WHERE deleted = 0 ORDER BY domain",
		    status);
	else if (rest == NULL && post)
		*out = clusterapi_write(c, WRITE_ROW_PUT, table, body, status);
	else if (rest != NULL && rest[0] != '\0' && del)
		*out = clusterapi_write(c, WRITE_ROW_DEL, table, rest, status);
	else
		*out = clusterapi_error(status, 405, rest == NULL ?
		    "GET lists, POST adds or updates" : "DELETE removes one");
	return true;
}
