#include "router/routedb.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "ipcmsg.h"
#include "log.h"
#include "router/table.h"

#define ROUTEDB_RETRY_MS        100

static const char routedb_sql[] =
    "SELECT kind, host, port, node, session, tunnel_id, client_id, state"
    " FROM tunnels WHERE deleted = 0";

static const char *
routedb_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t != NULL ? (const char *)t : "";
}

/* One attempt: 0.. rows, -ENOENT (not there yet), -EIO, -ENOMEM. */
static int
routedb_try(const char *path, struct table *t)
{
	struct ipcmsg_route r;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int rc, n = 0;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_close(db);
		return -ENOENT;
	}
	sqlite3_busy_timeout(db, 1000);
	sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db, routedb_sql, -1, &s, NULL) != SQLITE_OK) {
		/* no tunnels table yet: gossip is still creating the schema */
		sqlite3_close(db);
		return -ENOENT;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.kind = strcmp(routedb_text(s, 0), "tcp") == 0 ? TUNNEL_TCP :
		    strcmp(routedb_text(s, 0), "tls") == 0 ? TUNNEL_TLS : TUNNEL_HTTP;
		r.host = (char *)routedb_text(s, 1);
		r.port = (uint16_t)sqlite3_column_int(s, 2);
		r.node = (char *)routedb_text(s, 3);
		r.session = (uint64_t)sqlite3_column_int64(s, 4);
		r.tunnel_id = (uint32_t)sqlite3_column_int64(s, 5);
		r.state = strcmp(routedb_text(s, 7), "online") == 0 ?
		    ROUTE_ONLINE : ROUTE_OFFLINE;
		if ((r.kind != TUNNEL_TCP && r.host[0] == '\0') ||
		    (r.kind == TUNNEL_TCP && r.port == 0))
			continue;
		if (table_put(t, &r, routedb_text(s, 6), NULL) != 0) {
			n = -ENOMEM;
			break;
		}
		n++;
	}
	if (n >= 0 && rc != SQLITE_DONE) {
		log_warn("routedb.read", "path=%s err=\"%s\"", path,
		    sqlite3_errmsg(db));
		n = -EIO;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

int
routedb_load(const char *path, struct table *t, long wait_ms)
{
	struct timespec ts = { 0, ROUTEDB_RETRY_MS * 1000000L };
	long waited = 0;
	int rc;

	for (;;) {
		rc = routedb_try(path, t);
		if (rc != -ENOENT && rc != -EIO)
			return rc;
		if (waited >= wait_ms)
			return rc;
		if (waited == 0)
			log_info("routedb.wait", "path=%s", path);
		nanosleep(&ts, NULL);
		waited += ROUTEDB_RETRY_MS;
	}
}
