/* cluster — the SWIM core (gossip/swim.h) on libev, UDP and TCP.
 *
 * Owns the gossip UDP socket and the TCP push-pull listener (same address
 * and port), the keyring that seals every datagram and push-pull frame,
 * the timer driven by swim_next_deadline(), joining (--join, retried with
 * backoff until one seed answers) and what the glue knows beyond the core:
 * when each member last changed state and the round trip of our last
 * direct probe of it.
 *
 * Push-pull over TCP: each side sends one frame, u32 little-endian length
 * then the body (a swim state, sealed when there is a keyring), at most
 * CLUSTER_FRAME_MAX bytes; the initiator first, the responder after it has
 * merged. Each connection gets CLUSTER_PP_TIMEOUT seconds, at most
 * CLUSTER_PP_MAX run at once.
 *
 * Replication (gossip/repl.h) shares both sockets: its datagrams and its
 * pulls start with REPLMSG_MAGIC where SWIM's start with its version byte,
 * and are sealed with the same keys.
 *
 * Without a key file the packets are plaintext; cluster_new() accepts that
 * only when the gossip address is loopback. */
#ifndef WARREN_CLUSTER_H
#define WARREN_CLUSTER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipcmsg.h"

#define CLUSTER_DEFAULT_PORT    7946
#define CLUSTER_FRAME_MAX       (8u << 20)
#define CLUSTER_PP_MAX          32
#define CLUSTER_PP_TIMEOUT      5.0     /* seconds per push-pull */
#define CLUSTER_JOIN_MAX_BACKOFF 30.0   /* seconds between join rounds */

struct cluster;

/* A membership change: ev is an enum member_event, m the member as the
 * router will see it (valid during the call only). */
typedef void cluster_event_cb(void *arg, int ev, const struct ipcmsg_member *m);
/* routing.db changed by replication (a local capture or a peer's change). */
typedef void cluster_changed_cb(void *arg);

struct repldb;
struct repl;
struct repl_config;

struct cluster_conf {
	const char *name, *region;
	const char *listen;             /* "ip:port"; port 0: the kernel picks */
	const char *join;               /* "a:7946,b" or "" */
	const char *key_file;           /* "" = plaintext (loopback only) */
	const char *profile;            /* "lan" or "wan" */
	long long probe_interval_ms, probe_timeout_ms;  /* 0 = profile's */
	long long gossip_interval_ms, suspicion_mult;   /* 0 = profile's */
	const char *incarnation_file;   /* keeps the incarnation growing */
	const char *http, *tunnel, *version;            /* gossiped metadata */
	const char *mesh;                               /* forwarding address */
	cluster_event_cb *on_event;
	cluster_changed_cb *on_db_changed;      /* may be NULL */
	void *arg;
	struct repldb *repldb;          /* replicate this database; NULL: no */
	const struct repl_config *repl; /* NULL: repl_config_default() */
};

/* Binds, loads the keys, builds the core and starts joining. Returns 0 and
 * sets *out, or -errno with a sentence for the operator in err. */
int cluster_new(struct cluster **out, struct ev_loop *loop,
    const struct cluster_conf *conf, char *err, size_t errlen);
/* Stops every watcher, closes the sockets and frees; NULL is a no-op. */
void cluster_free(struct cluster *c);

/* Starts a graceful leave: members see us as left. cluster_left() turns
 * true when the leave was disseminated (or at once when we are alone); the
 * sockets are closed then. Returns 0, or -EALREADY. */
int cluster_leave(struct cluster *c);
bool cluster_left(const struct cluster *c);

/* Rereads the key file into a new keyring and swaps it in only when the
 * whole file is valid. Returns the number of keys, or -errno with a
 * sentence in err (the old keys stay). */
int cluster_keys_reload(struct cluster *c, char *err, size_t errlen);

/* Every member known, ourselves first, into m (caller finis it). Returns 0
 * or -ENOMEM. kind, event, epoch and seq are left to the caller. */
int cluster_snapshot(struct cluster *c, struct ipcmsg_members *m);
void cluster_stats(const struct cluster *c, struct ipcmsg_gossip_stats *st);
/* Captures and broadcasts local writes to routing.db. Returns 0 or -EIO. */
int cluster_repl_local(struct cluster *c);
/* Gossips a new replication summary in our metadata (a no-op when it is
 * unchanged). Returns 0 or -errno. */
int cluster_set_repl_summary(struct cluster *c, const char *summary);
/* The replication agent (stats), or NULL. */
struct repl *cluster_repl(const struct cluster *c);
/* The bound gossip address, "ip:port". */
const char *cluster_addr(const struct cluster *c);

#endif
