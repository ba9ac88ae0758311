/* routedb — the router's read side of routing.db: who holds each name.
 *
 * The router never writes routing.db (gossip does); it keeps one read-only
 * connection (query_only), notices every commit by anyone through PRAGMA
 * data_version, and compiles the route table from the replicated rows.
 *
 * tunnels holds one row per claim, written only by the node that holds the
 * session (gossip/store.h). Who holds a name is decided here, the same way
 * on every node, from the rows and the membership:
 *   - a row counts when it is online and its node is this node or a member
 *     seen alive or suspect (a dead node's rows stop counting at once, and
 *     count again if it comes back; nobody writes on its behalf);
 *   - the claimants are grouped by client (client id + token id); a group
 *     whose token holds the name's reservation (not revoked) wins first,
 *     then the group with the earliest claim (HLC stamp, then node name);
 *   - within the winning client the newest claim is the route (its latest
 *     session: a reconnect, or one of an --ha pair).
 * A name with no counting row is kept OFFLINE (its last claim), so it can
 * be reclaimed and is not handed out as a random name. */
#ifndef WARREN_ROUTEDB_H
#define WARREN_ROUTEDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct table;
struct routedb;

/* One claim as read from the tunnels table. */
struct routedb_row {
	uint8_t kind;                   /* enum tunnel_kind */
	bool online;
	const char *host;               /* http/tls: the host; tcp: "" */
	uint16_t port;
	const char *node;
	uint64_t session;
	uint32_t tunnel_id;
	const char *client_id, *token_id;
	uint64_t claimed;               /* HLC stamp */
	const char *grp;                /* --group, "" = exclusive */
	const char *region;             /* the client's, else its node's */
	uint32_t weight, soft_limit, hard_limit;
};

/* Is `node` a live member (alive or suspect)? */
typedef bool routedb_live_fn(void *arg, const char *node);

/* The claim forwarding nodes fall back on when rows[route]'s node cannot
 * be reached: the same client's newest counted claim on another node (a
 * client with sessions to two nodes, --ha). Returns its index or -1. */
int routedb_alternate(const struct routedb_row *rows, size_t n, size_t route,
    const char *self, routedb_live_fn *live, void *arg);

/* A claim of this node that lost its name to another client. */
struct routedb_loser {
	uint64_t session;
	uint8_t kind;
	char host[256];
	uint16_t port;
};

/* The holder among n claims of one name (a pure function): the index of
 * the route, or -1 when no claim counts. resv_token is the token that
 * holds the name's reservation ("" or NULL: none). */
int routedb_pick(const struct routedb_row *rows, size_t n, const char *self,
    const char *resv_token, routedb_live_fn *live, void *arg);

/* Opens the database at `path` read-only. It may not exist yet (gossip
 * creates it at start): retries every 100 ms for up to wait_ms. Returns 0
 * and sets *out, or -ENOENT (not there in time) / -EIO / -ENOMEM. */
int routedb_open(struct routedb **out, const char *path, long wait_ms);
void routedb_close(struct routedb *db);

/* True when something committed to the database since the last call. */
bool routedb_changed(struct routedb *db);

/* Fills `out` (an empty table) with one entry per name. live == NULL counts
 * every online row (membership not known yet). When losers is not NULL it
 * gets a new array (free()) of this node's online claims that lost to
 * another client, and *nlosers their count. Returns the number of names,
 * or -EIO / -ENOMEM. */
int routedb_compile(struct routedb *db, const char *self, routedb_live_fn *live,
    void *arg, struct table *out, struct routedb_loser **losers,
    size_t *nlosers);

/* Tokens of `ids` (n of them) that are revoked now: calls fn for each.
 * Returns 0 or -EIO. */
int routedb_revoked(struct routedb *db, const char *const *ids, size_t n,
    void (*fn)(void *arg, const char *id), void *arg);

/* When `clusterctl drain` last asked node to drain (ms since the epoch, by
 * the asking node's clock; 0: never), and which node asked (into by). */
int64_t routedb_drain_requested(struct routedb *db, const char *node, char *by,
    size_t bylen);

#endif
