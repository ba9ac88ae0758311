/* swim — cluster membership: SWIM with the Lifeguard refinements, sans-IO.
 *
 * The core owns no socket, timer or clock. The caller gives it the time
 * (monotonic microseconds), the plaintext datagrams it receives and the
 * push-pull states that arrive over TCP; the core answers through three
 * callbacks: send a datagram, report a membership event, start a push-pull
 * exchange with an address. The same code runs on libev + UDP in
 * warren-gossip and under a fake clock and network in tests.
 *
 * Driving it:
 *
 *     swim_new(&s, &cfg, &io, now);
 *     loop:
 *         at swim_next_deadline(s)         -> swim_tick(s, now)
 *         on a UDP datagram (opened)       -> swim_recv(s, now, &from, p, n)
 *         on io.pushpull(to) (initiator)   -> connect TCP to `to`, send
 *              swim_state_encode(s, false), read the peer's state, then
 *              swim_state_merge(s, now, state)
 *         on a TCP push-pull (responder)   -> read the state,
 *              swim_state_merge(s, now, state), send swim_state_encode()
 *         after each of these, re-arm the timer at swim_next_deadline(s).
 *
 * Joining is a push-pull with a seed (swim_state_encode(s, true)). Packets
 * are plaintext here: the caller seals and opens them with the keyring.
 *
 * Protocol (memberlist's, with Lifeguard): each probe interval one member,
 * taken round-robin from a shuffled list, is pinged; with no ack within the
 * probe timeout, k members are asked to ping it (ping-req) and answer with a
 * nack when they get no ack either; with no ack by the end of the interval
 * the member is suspected. A suspicion times out to dead after
 *     min = suspicion_mult * max(1, log10(n)) * probe_interval,
 *     max = suspicion_max_mult * min,
 *     timeout = max(min, max - (max - min) * log(c + 1) / log(k + 1))
 * with c independent confirmations and k = suspicion_mult - 2. A member
 * refutes a suspicion of itself with a higher incarnation. The local health
 * score (0 .. awareness_max - 1) scales the probe interval and timeout by
 * (score + 1): +1 per failed probe without nacks expected, +missed nacks per
 * failed probe with them, +1 per refutation, -1 per successful probe. A
 * probe of a suspect carries the suspicion (buddy system). Updates ride on
 * every packet and on gossip rounds, each sent retransmit_mult *
 * ceil(log10(n + 1)) times. Dead members are gossiped to for
 * gossip_to_dead_ms, retried with push-pull every reconnect_interval_ms
 * (so a healed partition merges), and remembered for dead_keep_ms so old
 * gossip cannot bring them back.
 *
 * Beyond memberlist: a gossip round starts as soon as an update is queued
 * (still at most one per gossip interval), and a packet that carries a
 * suspicion or death older than a refutation we hold is answered at once
 * with the fresher ALIVE, so a member that missed a refutation catches up
 * before its suspicion times out.
 *
 * Callbacks run inside swim_* calls: they may read the core (getters) but
 * must not call swim_recv/tick/merge/leave/set_meta/free. */
#ifndef WARREN_SWIM_H
#define WARREN_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/swimmsg.h"

struct swim;

enum swim_state {
	SWIM_ALIVE = SWIMMSG_S_ALIVE,
	SWIM_SUSPECT = SWIMMSG_S_SUSPECT,
	SWIM_DEAD = SWIMMSG_S_DEAD,
	SWIM_LEFT = SWIMMSG_S_LEFT,
};

enum swim_event {
	SWIM_EV_JOIN = 1,       /* new member, or back from dead/left */
	SWIM_EV_ALIVE,          /* a suspect was refuted */
	SWIM_EV_SUSPECT,
	SWIM_EV_DEAD,
	SWIM_EV_LEFT,           /* graceful leave */
	SWIM_EV_META,           /* region, address or metadata changed */
};

/* A read-only view of one member; pointers are valid until the next
 * swim_* call that can change membership. */
struct swim_member {
	const char *name;
	const char *region;
	struct swimmsg_addr addr;
	uint64_t incarnation;
	enum swim_state state;
	const uint8_t *meta;
	size_t meta_len;
};

typedef void swim_send_cb(void *arg, const struct swimmsg_addr *to,
    const uint8_t *pkt, size_t len);
typedef void swim_event_cb(void *arg, enum swim_event ev,
    const struct swim_member *m);
typedef void swim_pushpull_cb(void *arg, const struct swimmsg_addr *to,
    const char *name);

struct swim_io {
	void *arg;                      /* first argument of every callback */
	swim_send_cb *send;             /* send one UDP datagram (required) */
	swim_event_cb *event;           /* membership change (may be NULL) */
	swim_pushpull_cb *pushpull;     /* start a TCP push-pull (may be NULL) */
};

struct swim_config {
	/* identity (copied by swim_new) */
	const char *name;               /* unique node name, 1..SWIMMSG_NAME_MAX */
	const char *region;             /* 0..SWIMMSG_REGION_MAX bytes */
	struct swimmsg_addr addr;       /* address others reach us at */
	const void *meta;               /* opaque blob, 0..SWIMMSG_META_MAX */
	size_t meta_len;
	uint64_t incarnation;           /* start value: pass something that grows
	                                   across restarts (unix seconds) */
	uint64_t seed;                  /* PRNG seed (shuffles, random peers) */

	/* timing and fan-out (memberlist names in parentheses) */
	unsigned probe_interval_ms;     /* (ProbeInterval) */
	unsigned probe_timeout_ms;      /* (ProbeTimeout) */
	unsigned indirect_checks;       /* k (IndirectChecks) */
	unsigned suspicion_mult;        /* (SuspicionMult) */
	unsigned suspicion_max_mult;    /* (SuspicionMaxTimeoutMult) */
	unsigned gossip_interval_ms;    /* (GossipInterval) */
	unsigned gossip_nodes;          /* (GossipNodes) */
	unsigned retransmit_mult;       /* (RetransmitMult) */
	unsigned pushpull_interval_ms;  /* (PushPullInterval), 0 = off */
	unsigned gossip_to_dead_ms;     /* (GossipToTheDeadTime) */
	unsigned awareness_max;         /* (AwarenessMaxMultiplier) */
	unsigned reconnect_interval_ms; /* push-pull with a dead member, 0 = off */
	unsigned reconnect_timeout_ms;  /* stop retrying a member dead this long */
	unsigned dead_keep_ms;          /* forget dead/left members after this */
	unsigned max_packet;            /* largest plaintext datagram, bytes */
	bool lifeguard;                 /* false: plain SWIM with suspicion
	                                   (fixed timeout = min, no health score,
	                                   no nacks, no buddy) */
};

/* memberlist's DefaultLANConfig: probe 1 s / 500 ms, k 3, suspicion 4 x 6,
 * gossip 200 ms to 3, retransmit 4, push-pull 30 s. Identity fields zero. */
void swim_config_lan(struct swim_config *c);
/* memberlist's DefaultWANConfig: probe 5 s / 3 s, suspicion 6, gossip
 * 500 ms to 4, push-pull 60 s, gossip to the dead 60 s. */
void swim_config_wan(struct swim_config *c);

struct swim_stats {
	uint64_t tx_packets, tx_bytes;  /* datagrams handed to io.send */
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_malformed;          /* dropped by the decoder */
	uint64_t rx_misdirected;        /* pings for another name */
	uint64_t state_tx_bytes;        /* push-pull states encoded */
	uint64_t state_rx_bytes;        /* push-pull states merged */
	uint64_t probes, probe_failures, indirect_probes;
	uint64_t nacks_sent, nacks_received;
	uint64_t suspicions;            /* members this node began to suspect */
	uint64_t suspicions_raised;     /* ... because its own probe failed */
	uint64_t deaths_declared;       /* suspicion timeouts that fired here */
	uint64_t refutes;               /* of suspicions/deaths of ourselves */
	uint64_t pushpulls, reconnects;
	uint64_t relay_dropped;         /* ping-reqs dropped: relay table full */
	uint64_t corrections;           /* fresher state sent back to a sender
	                                   of an out-of-date suspicion/death */
};

/* Builds a core from cfg (copied) and io (copied); now is the caller's
 * monotonic clock in microseconds. Returns 0 and sets *out, or -EINVAL
 * (bad name, region, meta, address or timing) / -ENOMEM. */
int swim_new(struct swim **out, const struct swim_config *cfg,
    const struct swim_io *io, uint64_t now);
/* Frees s and everything it owns; NULL is a no-op. Sends nothing. */
void swim_free(struct swim *s);

/* Handles one plaintext datagram from `from`. Returns 0, or -EINVAL when
 * malformed (counted, nothing applied). */
int swim_recv(struct swim *s, uint64_t now, const struct swimmsg_addr *from,
    const void *pkt, size_t len);
/* Runs whatever is due at `now`: probes, suspicion timeouts, gossip rounds,
 * push-pull and reconnect starts. */
void swim_tick(struct swim *s, uint64_t now);
/* The time at which swim_tick must next be called (may be in the past). */
uint64_t swim_next_deadline(const struct swim *s);

/* Encodes our full member state for a push-pull into a new buffer (the
 * caller frees *out). Returns 0 or -ENOMEM. */
int swim_state_encode(struct swim *s, bool join, uint8_t **out, size_t *len);
/* Merges a peer's push-pull state. Returns 0, or -EINVAL when malformed
 * (nothing applied). */
int swim_state_merge(struct swim *s, uint64_t now, const void *buf, size_t len);

/* Announces a graceful leave: the node is marked left (not dead) at every
 * member. Keep calling swim_tick until swim_leave_done() (a few gossip
 * intervals), then free. Returns 0. */
int swim_leave(struct swim *s, uint64_t now);
/* True when the leave has been sent as often as any update is. */
bool swim_leave_done(const struct swim *s);

/* Changes our region and metadata blob (copied) and disseminates them under
 * a new incarnation; once leaving, only keeps them (a newer alive would
 * undo the leave). Returns 0, -EINVAL (too long) or -ENOMEM. */
int swim_set_meta(struct swim *s, uint64_t now, const char *region,
    const void *meta, size_t len);

/* Members other than ourselves, in any state (dead and left ones until they
 * are forgotten). */
size_t swim_member_count(const struct swim *s);
/* Fills *m with member i (0 <= i < count); returns 0 or -ENOENT. */
int swim_member_at(const struct swim *s, size_t i, struct swim_member *m);
/* Fills *m with the member called name (ourselves included); 0 or -ENOENT. */
int swim_member_find(const struct swim *s, const char *name,
    struct swim_member *m);
/* Members alive or suspect, ourselves not counted. */
size_t swim_alive_count(const struct swim *s);
/* Our current incarnation. */
uint64_t swim_incarnation(const struct swim *s);
/* The local health score, 0 = healthy. */
unsigned swim_health(const struct swim *s);
const struct swim_stats *swim_stats(const struct swim *s);

#endif
