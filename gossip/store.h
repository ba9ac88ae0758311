/* store — routing.db, the node's replicated state, owned by warren-gossip.
 *
 * gossip is the only writer. The schema is created on first open (WAL mode,
 * so the router reads while gossip writes). Every change goes through
 * store_apply(), one write op per transaction: today the ops come from the
 * local router; replication will feed remote ops through the same function
 * and capture local ones for broadcast there.
 *
 * Tables (DESIGN.md "State"):
 *   backends      edgeProxy's columns, unchanged
 *   tunnels       one row per claim: id = "<name>@<node>/<session hex>",
 *                 name = "http:<host>" | "tls:<host>" | "tcp:<port>";
 *                 kind ('http'|'tls'|'tcp'), host, port, node, region,
 *                 session, tunnel_id, client_id, token_id, state
 *                 ('online'|'offline'), claimed (HLC stamp of the claim),
 *                 started_at, updated_at (unix seconds), deleted.
 *                 Only the node in `node` writes the row (single writer),
 *                 so replication never mixes two owners' columns; who holds
 *                 a name is decided when reading (router/routedb.h).
 *   reservations  same id -> client_id, token_id: who may reclaim the name;
 *                 updated_at = last time its holder was online
 *   tokens        id, hash (hex SHA-256, never the token), hosts (allowed
 *                 patterns, comma-separated), ports ("LO-HI,..."), note,
 *                 created_at, revoked (unix seconds, 0 = valid)
 *   domains       custom domain -> app
 */
#ifndef WARREN_STORE_H
#define WARREN_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_DB_NAME           "routing.db"
#define STORE_SCHEMA_VERSION    2

struct store;
struct sqlite3;
struct ipcmsg_write;
struct ipcmsg_route;

/* Opens (creating if missing) the database at `path`, switches it to WAL and
 * creates the schema. `region` is stamped on rows this node writes.
 * Returns 0 and sets *out, or -errno (-EIO for an SQLite failure, logged). */
int store_open(struct store **out, const char *path, const char *region);
/* Closes the database; NULL is a no-op. */
void store_close(struct store *st);

/* Applies one write op (enum ipcmsg_write_op) in its own transaction at time
 * `now` (unix seconds); `stamp` (an HLC stamp) orders tunnel claims. Returns the number of tunnel (or, for TOKEN_*, token)
 * rows changed (>= 0; a revoke of an unknown or revoked token changes 0), or
 * -EINVAL for a malformed op / -EIO for a database failure, with a sentence
 * for the operator in err. */
int store_apply(struct store *st, const struct ipcmsg_write *w, int64_t now,
    uint64_t stamp, char *err, size_t errlen);

/* The name of a route: "http:<host>", "tls:<host>" or "tcp:<port>" (the
 * reservations row id) into out; returns out. */
char *store_tunnel_name(char *out, size_t len, const struct ipcmsg_route *r);
/* The tunnels row id of a route: "<name>@<node>/<session hex>". */
char *store_tunnel_id(char *out, size_t len, const struct ipcmsg_route *r);

/* Garbage: deletes this node's offline tunnel rows last updated before
 * offline_before, and reservations not refreshed since reserved_before
 * whose name nobody holds online (unix seconds). Returns the rows deleted
 * or -EIO. */
int store_gc(struct store *st, const char *node, int64_t offline_before,
    int64_t reserved_before);

/* The database handle (replication works on it); owned by the store. */
struct sqlite3 *store_db(struct store *st);

#endif
