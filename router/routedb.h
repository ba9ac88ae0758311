/* routedb — the router's read side of routing.db.
 *
 * The router never writes routing.db (gossip does); it opens it without
 * SQLITE_OPEN_CREATE and with query_only, reads, and closes. */
#ifndef WARREN_ROUTEDB_H
#define WARREN_ROUTEDB_H

struct table;

/* Loads every live tunnels row (deleted = 0) of the database at `path` into
 * the table. The database may not exist yet (gossip creates it at start):
 * retries every 100 ms for up to wait_ms. Returns the number of rows loaded,
 * or -ENOENT when the database or its schema did not appear in time, -EIO
 * on a read failure, -ENOMEM. */
int routedb_load(const char *path, struct table *t, long wait_ms);

#endif
