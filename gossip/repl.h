/* repl — the replication agent of routing.db, sans-IO like swim.h.
 *
 * It owns no socket, timer or clock: the caller gives it the time, the
 * replication datagrams it receives and the answers to the pulls it asked
 * for; it answers through callbacks. The same code runs on libev + UDP/TCP
 * in warren-gossip (gossip/cluster.c) and under the fake clock and network
 * of the tests.
 *
 * Two ways a change travels (Corrosion's):
 *   broadcast  a local version (repldb_capture) goes at once to `fanout`
 *              random live peers as one CHANGES datagram; a peer that had
 *              not seen it applies it and passes it on to `fanout` others
 *              while its ttl lasts. A version too large for a few
 *              datagrams is left to sync.
 *   sync       every sync_interval_ms (with jitter), and at once when a
 *              gap is seen or a peer appears, the agent pulls from one
 *              random live peer: it sends its heads (SYNC_REQ), the peer
 *              answers with what lies between them and its own (SYNC_RESP,
 *              at most `budget` changes, whole versions), and the answer is
 *              applied `batch` changes per repl_tick, so a large catch-up
 *              never holds the loop (SWIM keeps answering probes). An
 *              answer marked MORE is followed by another pull at once.
 *   heads      every heads_interval_ms the agent tells one random peer what
 *              it has seen (HEADS datagram); a peer that finds itself
 *              behind pulls from it at once, so a change a broadcast missed
 *              arrives in a few hundred milliseconds, not a sync interval.
 *
 * Driving it:
 *     repl_new(&r, &cfg, &io, db, now);
 *     after a local write            -> repl_local(r, now, wall)
 *     on a datagram with replmsg_is() -> repl_recv(r, now, wall, from, p, n)
 *     on io.sync(to, req)            -> send req to `to` over TCP; there
 *         repl_serve() makes the answer; back here repl_sync_done(r, now,
 *         answer) (ownership passes) or repl_sync_failed(r, now)
 *     at repl_next_deadline(r)       -> repl_tick(r, now, wall) */
#ifndef WARREN_REPL_H
#define WARREN_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/swimmsg.h"

struct repl;
struct repldb;

struct repl_peer {
	char name[SWIMMSG_NAME_MAX + 1];
	struct swimmsg_addr addr;
};

typedef void repl_send_cb(void *arg, const struct swimmsg_addr *to,
    const uint8_t *pkt, size_t len);
/* Fills out[0..max) with the live peers (ourselves excluded); returns n. */
typedef size_t repl_peers_cb(void *arg, struct repl_peer *out, size_t max);
/* Starts a pull: deliver req (borrowed for the call) to `to`. */
typedef void repl_sync_cb(void *arg, const struct swimmsg_addr *to,
    const uint8_t *req, size_t len);
/* routing.db changed (a local capture or a peer's change applied). */
typedef void repl_changed_cb(void *arg);

struct repl_io {
	void *arg;
	repl_send_cb *send;             /* required */
	repl_peers_cb *peers;           /* required */
	repl_sync_cb *sync;             /* may be NULL: no pulls */
	repl_changed_cb *changed;       /* may be NULL */
};

struct repl_config {
	unsigned fanout;                /* peers per broadcast hop (3) */
	unsigned ttl;                   /* hops a broadcast may take (4) */
	unsigned sync_interval_ms;      /* between pulls (1000) */
	unsigned heads_interval_ms;     /* between HEADS datagrams (200) */
	unsigned sync_timeout_ms;       /* a pull with no answer is dropped */
	unsigned batch;                 /* changes applied per tick (2000) */
	unsigned budget;                /* changes per sync answer (8192) */
	unsigned broadcast_packets;     /* largest version broadcast, in
	                                   datagrams; beyond: sync only (4) */
	size_t max_packet;              /* largest plaintext datagram */
	uint64_t seed;                  /* PRNG seed */
};

struct repl_stats {
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
	uint64_t rx_malformed, rx_duplicate;
	uint64_t broadcasts;            /* local versions broadcast */
	uint64_t versions_big;          /* local versions left to sync */
	uint64_t syncs, sync_failures, sync_tx_bytes, sync_rx_bytes;
	uint64_t served, gaps;
	uint64_t heads_tx, heads_behind; /* HEADS sent; received showing us behind */
	uint64_t last_sync_ms;          /* wall time of the last applied pull */
};

/* Defaults above; identity fields zero. */
void repl_config_default(struct repl_config *c);

/* Returns 0 and sets *out, or -EINVAL / -ENOMEM. db stays the caller's. */
int repl_new(struct repl **out, const struct repl_config *cfg,
    const struct repl_io *io, struct repldb *db, uint64_t now);
/* Frees the agent and any queued answer; NULL is a no-op. */
void repl_free(struct repl *r);

/* Captures what local writes left pending and broadcasts it. Returns 0 or
 * -EIO. */
int repl_local(struct repl *r, uint64_t now, uint64_t wall_ms);
/* Handles one replication datagram. Returns 0, or -EINVAL (malformed,
 * counted) / -EIO. */
int repl_recv(struct repl *r, uint64_t now, uint64_t wall_ms,
    const struct swimmsg_addr *from, const void *pkt, size_t len);
/* Answers a peer's SYNC_REQ: a new buffer in *out (caller frees). Returns
 * 0, -EINVAL (malformed request) or -ENOMEM / -EIO. */
int repl_serve(struct repl *r, const void *req, size_t len, uint8_t **out,
    size_t *outlen);
/* The answer to our pull arrived: buf (malloc'd) is consumed whatever the
 * result. Returns 0 or -EINVAL (malformed, dropped). */
int repl_sync_done(struct repl *r, uint64_t now, uint8_t *buf, size_t len);
/* Our pull failed (connect, timeout, bad peer). */
void repl_sync_failed(struct repl *r, uint64_t now);

/* Runs what is due: batched applies, captures left over, pulls. */
void repl_tick(struct repl *r, uint64_t now, uint64_t wall_ms);
uint64_t repl_next_deadline(const struct repl *r);

/* True while a pull is in flight or an answer is being applied. */
bool repl_busy(const struct repl *r);
const struct repl_stats *repl_stats(const struct repl *r);

#endif
