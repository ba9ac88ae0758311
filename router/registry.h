/* registry — tunnel registration: validate the claim, check it against the
 * route table, write the ownership rows through gossip, update the table.
 *
 * Rules:
 *   http: the subdomain is a DNS label ([a-z0-9-]{1,63}, no leading or
 *         trailing '-'), lowercased; "" picks a random free 8-character
 *         label. The tunnel's hosts are <subdomain>.<domain> plus each custom
 *         domain (comma-separated, lowercased hostnames outside <domain>).
 *   tcp:  the acceptor already bound `port`; it must lie in the node's range.
 *   A name or port held ONLINE by a different client id (or, with an empty
 *   client id, by another session) is TAKEN. Held offline, or by the same
 *   client id, the claim wins: that is a reconnect.
 *   With an auth module (router/auth.h), the claimant is identified by its
 *   token first (DENIED without one unless anonymous is allowed), every
 *   name must match the token's allowed patterns and ports (DENIED), a name
 *   reserved to another token is TAKEN, and the per-token caps apply.
 *   The table stays under IPCMSG_TABLE_MAX names (UNAVAILABLE beyond), so a
 *   snapshot always fits one TABLE message.
 *
 * Writes go through the caller's registry_write_fn (the router sends them to
 * gossip), so the logic runs in tests without processes. */
#ifndef WARREN_REGISTRY_H
#define WARREN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipcmsg.h"

#define REGISTRY_LABEL_MAX      63
#define REGISTRY_HOST_MAX       253
#define REGISTRY_DOMAINS_MAX    16      /* custom domains per tunnel */
#define REGISTRY_RANDOM_LEN     8

struct table;
struct auth;

/* Applies one write to routing.db. Returns IPCMSG_S_OK, or another enum
 * ipcmsg_status with a sentence for the user in err. */
typedef int registry_write_fn(void *arg, const struct ipcmsg_write *w,
    char *err, size_t errlen);

/* Embedded in the router's context; every pointer is borrowed. */
struct registry {
	struct table *table;
	const char *node;               /* this node's name */
	const char *domain;             /* base domain, lowercase */
	int tcp_lo, tcp_hi;             /* tcp port range */
	registry_write_fn *write;
	void *write_arg;
	struct auth *auth;              /* NULL: client-id rule only, no tokens */
	int64_t now;                    /* unix seconds; 0: the clock (tests set it) */
};

/* Handles a REGISTER. Fills *reply (its strings are new, owned by the
 * caller: ipcmsg_registered_fini) and appends changed routes to delta.
 * Returns reply->status. */
int registry_register(const struct registry *r, const struct ipcmsg_register *req,
    struct ipcmsg_registered *reply, struct ipcmsg_table *delta);

/* A session of this node ended: writes SESSION_OFFLINE and sets its routes
 * offline. Returns an enum ipcmsg_status (err filled when not OK); the table
 * is updated even when the write failed (the session is gone either way). */
int registry_unregister(const struct registry *r, uint64_t session,
    struct ipcmsg_table *delta, char *err, size_t errlen);

/* The acceptor (re)started: every route of this node goes offline. Returns
 * as registry_unregister. */
int registry_node_offline(const struct registry *r, struct ipcmsg_table *delta,
    char *err, size_t errlen);

/* True when s is a valid label: [a-z0-9-]{1,63}, no '-' at either end. */
bool registry_label_ok(const char *s);

/* Lowercases a hostname (labels joined by '.', at most 253 bytes) from in
 * into out (>= REGISTRY_HOST_MAX + 1 bytes). Returns 0 or -EINVAL. */
int registry_host_normalize(char *out, size_t len, const char *in);

#endif
