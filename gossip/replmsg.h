/* replmsg — the binary format of routing.db replication.
 *
 * Three messages share one layout; the keyring seals them like SWIM's:
 *
 *   CHANGES    (UDP broadcast) the changes of one local transaction of one
 *              actor: heads[0] = (actor, version), F_COMPLETE when every
 *              change of that version is in the packet; ttl = hops left.
 *   SYNC_REQ   (TCP) heads = what the sender has seen contiguously, per
 *              actor: every version up to it.
 *   HEADS      (UDP, a few times a second to one random peer) heads = what
 *              the sender has seen contiguously, for up to a datagram's
 *              worth of actors (a rotating window when there are more): a
 *              receiver that is behind for one of them pulls from the sender.
 *   SYNC_RESP  (TCP) changes the requester lacks, ordered by (actor,
 *              version) and cut only between versions; heads = per actor,
 *              the version the requester has seen contiguously once it has
 *              applied them; F_MORE when the responder stopped at its budget.
 *
 * Layout (integers little-endian, strings u8 length + bytes, no NUL):
 *
 *   u8 magic (REPLMSG_MAGIC), u8 type, u8 flags, u8 ttl
 *   u16 nactors, nactors x str actor id
 *   u32 nheads,  nheads x (u16 actor index, u64 version)
 *   u32 nchanges, nchanges x change
 *   change: str table, value pk, str column, value val, u64 hlc,
 *           u16 actor index, u64 version
 *   value:  u8 type (0 null, 1 integer i64, 2 real f64, 3 text, 4 blob),
 *           then nothing / 8 bytes / u32 length + bytes
 *
 * The magic byte differs from SWIM's version byte, so one socket carries
 * both. Column "" is the row's liveness (1 alive, 0 deleted). The decoder
 * never trusts a length: counts are checked against the bytes left before
 * anything is allocated, every actor index against nactors. */
#ifndef WARREN_REPLMSG_H
#define WARREN_REPLMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLMSG_MAGIC           0xa7
#define REPLMSG_NAME_MAX        64      /* table, column and actor bytes */
#define REPLMSG_VALUE_MAX       (64u << 10)
#define REPLMSG_ACTORS_MAX      4096

enum replmsg_type {
	REPLMSG_CHANGES = 1,
	REPLMSG_SYNC_REQ = 2,
	REPLMSG_SYNC_RESP = 3,
	REPLMSG_HEADS = 4,
};

#define REPLMSG_F_COMPLETE      0x01
#define REPLMSG_F_MORE          0x02

enum replmsg_vtype {
	REPLMSG_V_NULL = 0,
	REPLMSG_V_INT = 1,
	REPLMSG_V_REAL = 2,
	REPLMSG_V_TEXT = 3,
	REPLMSG_V_BLOB = 4,
};

/* A column value; text and blob bytes are borrowed (from the decoded
 * buffer, or from the caller when encoding). */
struct replmsg_value {
	uint8_t type;
	int64_t i;
	double r;
	const uint8_t *p;
	uint32_t len;
};

struct replmsg_change {
	char tbl[REPLMSG_NAME_MAX + 1];
	char col[REPLMSG_NAME_MAX + 1];
	struct replmsg_value pk, val;
	uint64_t hlc;
	uint16_t actor;                 /* index into the message's actors */
	uint64_t version;
};

struct replmsg_head {
	uint16_t actor;
	uint64_t version;
};

struct replmsg {
	uint8_t type, flags, ttl;
	uint16_t nactors;
	char (*actors)[REPLMSG_NAME_MAX + 1];
	uint32_t nheads;
	struct replmsg_head *heads;
	uint32_t nchanges;
	struct replmsg_change *changes;
};

/* True when buf looks like a replication message (its first byte). */
bool replmsg_is(const void *buf, size_t len);

/* Decodes buf[0..len) into *m (arrays allocated; values borrow buf, which
 * must outlive m). Returns 0, or -EINVAL (malformed: nothing to fini) /
 * -ENOMEM. */
int replmsg_decode(struct replmsg *m, const void *buf, size_t len);
/* Frees what decode allocated; the struct is zeroed. */
void replmsg_fini(struct replmsg *m);

/* Bytes m encodes to, or 0 when a field is out of bounds. */
size_t replmsg_size(const struct replmsg *m);
/* Bytes one change adds to a message. */
size_t replmsg_change_size(const struct replmsg_change *c);
/* Encodes m into buf[0..cap). Returns the length, or -ENOSPC / -EINVAL. */
int replmsg_encode(const struct replmsg *m, void *buf, size_t cap);

/* Adds an actor to m's list (growing it) unless present; returns its index,
 * or -ENOMEM / -E2BIG. The arrays of a message built this way are freed by
 * replmsg_fini. */
int replmsg_actor_index(struct replmsg *m, const char *actor);

#endif
