/* table — the router's in-memory route table.
 *
 * One entry per public name: an http hostname or a tcp port, each pointing
 * at a tunnel (node, session, tunnel_id) with a state, plus the client id
 * that holds it (for reclaim checks; never published). Entries are kept
 * after they go offline: an offline name may be reclaimed, and the acceptor
 * learns the state change from the delta.
 *
 * Changes append copies of the changed routes to a caller's delta
 * (struct ipcmsg_table, freed with ipcmsg_table_fini), which the router
 * publishes as one versioned TABLE message. */
#ifndef WARREN_TABLE_H
#define WARREN_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipcmsg.h"

struct table;

/* Returns 0 and sets *out to an empty table, or -ENOMEM. */
int table_new(struct table **out);
/* Frees the table and its entries; NULL is a no-op. */
void table_free(struct table *t);

/* Entries in the table (any state). */
size_t table_count(const struct table *t);
/* Entries in state `state` (enum route_state). */
size_t table_count_state(const struct table *t, uint8_t state);

/* The entry for an http host (kind TUNNEL_HTTP, host lowercase) or a tcp
 * port (kind TUNNEL_TCP), or NULL. The route is borrowed: valid until the
 * next change. *client_id (if not NULL) gets the holder's client id. */
const struct ipcmsg_route *table_find(const struct table *t, uint8_t kind,
    const char *host, uint16_t port, const char **client_id);

/* Inserts or replaces the entry keyed by r's kind and host/port with a copy
 * of r and client_id. When delta is not NULL and the entry changed, appends
 * a copy of the new route to it. Returns 0 or -ENOMEM (table unchanged). */
int table_put(struct table *t, const struct ipcmsg_route *r,
    const char *client_id, struct ipcmsg_table *delta);

/* Sets every ONLINE entry of `node` (and of `session` when `one_session`)
 * OFFLINE, appending each changed route to delta (if not NULL). Returns the
 * number changed, or -ENOMEM (entries already changed stay changed and are
 * in delta). */
int table_set_offline(struct table *t, const char *node, bool one_session,
    uint64_t session, struct ipcmsg_table *delta);

/* A new array of every route, sorted (http by host, then tcp by port). The
 * entries are shallow: their strings belong to the table and are valid until
 * the next change; free() only the array. Returns NULL with *n = 0 for an
 * empty table or on ENOMEM (then returns NULL with *n = (uint32_t)-1). */
struct ipcmsg_route *table_list(const struct table *t, uint32_t *n);

/* Calls fn for every replica of every online grouped name whose group is
 * app (NULL: any group), with the group's name; a replica serving several
 * names comes once per name. */
void table_each_replica(const struct table *t, const char *app,
    void (*fn)(void *arg, const char *group, const struct ipcmsg_route *rep),
    void *arg);

/* Makes t hold exactly src's entries, appending each changed route to
 * delta (an entry t had and src lacks as ROUTE_DELETED). Returns 0 or
 * -ENOMEM (t may be partly updated; its delta says how). */
int table_sync(struct table *t, const struct table *src,
    struct ipcmsg_table *delta);

/* Appends a deep copy of r to d. Returns 0 or -ENOMEM. */
int table_delta_add(struct ipcmsg_table *d, const struct ipcmsg_route *r);

#endif
