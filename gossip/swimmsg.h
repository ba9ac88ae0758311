/* swimmsg — the binary format of SWIM gossip packets and push-pull state.
 *
 * A UDP packet (plaintext; the keyring seals it) is one version byte then a
 * sequence of messages, each
 *
 *     u8 type, u16 body length, body
 *
 * The first message is the packet's purpose (PING, ACK, ...); the rest are
 * piggybacked membership updates. A push-pull state (sent over TCP by the
 * caller) has the same framing: version byte, one STATE_HEAD, then `count`
 * STATE messages. Integers are little-endian; names are u8 length + bytes
 * (no NUL, at most SWIMMSG_NAME_MAX); the metadata blob is u16 length +
 * bytes (at most SWIMMSG_META_MAX). An address is u8 family (0 none, 4, 6),
 * 0/4/16 address bytes and a u16 port.
 *
 * Bodies may be longer than this version reads (the rest is ignored) and
 * messages of unknown type are skipped, so a later version can add fields
 * and message kinds. The decoder never trusts a length: every length is
 * checked against the bytes left before it is used. */
#ifndef WARREN_SWIMMSG_H
#define WARREN_SWIMMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct sockaddr_storage;

#define SWIMMSG_VERSION         1
#define SWIMMSG_NAME_MAX        64      /* node name bytes */
#define SWIMMSG_REGION_MAX      32      /* region bytes */
#define SWIMMSG_META_MAX        512     /* opaque metadata blob bytes */
#define SWIMMSG_PACKET_MAX      1400    /* largest plaintext UDP packet we build */
#define SWIMMSG_STATE_MAX_COUNT 65536   /* members in one push-pull state */
#define SWIMMSG_HDR_LEN         3       /* u8 type + u16 length */

enum swimmsg_type {
	SWIMMSG_PING = 1,       /* seq, name = target ("" = whoever listens) */
	SWIMMSG_PING_REQ = 2,   /* seq, name = target, addr, flags (NACK) */
	SWIMMSG_ACK = 3,        /* seq */
	SWIMMSG_NACK = 4,       /* seq */
	SWIMMSG_ALIVE = 5,      /* incarnation, name, region, addr, meta */
	SWIMMSG_SUSPECT = 6,    /* incarnation, name, from (the accuser) */
	SWIMMSG_DEAD = 7,       /* incarnation, name, from */
	SWIMMSG_LEAVE = 8,      /* incarnation, name */
	SWIMMSG_STATE_HEAD = 9, /* flags (JOIN), seq = count, from = sender */
	SWIMMSG_STATE = 10,     /* state, incarnation, name, region, addr, meta */
};

/* Member states as carried in STATE messages. */
enum swimmsg_state {
	SWIMMSG_S_ALIVE = 0,
	SWIMMSG_S_SUSPECT = 1,
	SWIMMSG_S_DEAD = 2,
	SWIMMSG_S_LEFT = 3,
};

#define SWIMMSG_F_NACK          0x01    /* PING_REQ: send a NACK if no ack */
#define SWIMMSG_F_JOIN          0x01    /* STATE_HEAD: sender is joining */

/* Decoder results. */
enum swimmsg_result {
	SWIMMSG_OK = 0,                 /* *m holds the next message */
	SWIMMSG_END = 1,                /* no more messages */
	SWIMMSG_MALFORMED = -1,         /* truncated, overlong or invalid field */
	SWIMMSG_UNSUPPORTED = -2,       /* unknown version byte */
};

struct swimmsg_addr {
	uint8_t family;                 /* 0 = none, 4, 6 */
	uint8_t ip[16];                 /* network order; 4 bytes used for v4 */
	uint16_t port;                  /* host order */
};

/* One decoded (or to-be-encoded) message. Which fields count depends on the
 * type (see enum swimmsg_type). `meta` points into the decoded buffer and is
 * valid as long as that buffer is. */
struct swimmsg {
	uint8_t type;
	uint8_t flags;
	uint8_t state;                  /* enum swimmsg_state */
	uint32_t seq;
	uint64_t incarnation;
	struct swimmsg_addr addr;
	char name[SWIMMSG_NAME_MAX + 1];
	char from[SWIMMSG_NAME_MAX + 1];
	char region[SWIMMSG_REGION_MAX + 1];
	const uint8_t *meta;
	uint16_t meta_len;
};

struct swimmsg_reader {
	const uint8_t *p;
	size_t len, off;
};

struct swimmsg_writer {
	uint8_t *p;
	size_t cap, len;
};

/* Starts reading buf[0..len) (borrowed, must outlive the reader). Returns
 * SWIMMSG_OK, SWIMMSG_MALFORMED (empty) or SWIMMSG_UNSUPPORTED (version). */
int swimmsg_reader_init(struct swimmsg_reader *r, const void *buf, size_t len);
/* Decodes the next message into *m, skipping unknown types. Returns
 * SWIMMSG_OK, SWIMMSG_END or SWIMMSG_MALFORMED (the reader then stays
 * malformed). Never reads outside the buffer. */
int swimmsg_next(struct swimmsg_reader *r, struct swimmsg *m);
/* Checks a whole packet or state: returns SWIMMSG_OK with *count set to
 * the number of known messages, or the first error. */
int swimmsg_validate(const void *buf, size_t len, size_t *count);

/* Starts a packet in buf[0..cap) (cap >= 1): writes the version byte. */
void swimmsg_writer_init(struct swimmsg_writer *w, void *buf, size_t cap);
/* Encoded size of m including its 3-byte header, or 0 if a field is too
 * long or the type unknown. */
size_t swimmsg_size(const struct swimmsg *m);
/* Appends m; returns 0, -ENOSPC (nothing written) or -EINVAL (bad field). */
int swimmsg_put(struct swimmsg_writer *w, const struct swimmsg *m);
/* Appends a message already encoded by swimmsg_encode(); 0 or -ENOSPC. */
int swimmsg_put_raw(struct swimmsg_writer *w, const void *enc, size_t len);
/* Encodes m alone (header included, no version byte) into buf[0..cap);
 * returns its length, or -ENOSPC / -EINVAL. */
int swimmsg_encode(void *buf, size_t cap, const struct swimmsg *m);

/* Conversions to and from socket addresses (AF_INET, AF_INET6). Return 0
 * or -EAFNOSUPPORT; to_sockaddr returns the sockaddr length in *len. */
int swimmsg_addr_from_sockaddr(struct swimmsg_addr *a, const struct sockaddr *sa);
int swimmsg_addr_to_sockaddr(const struct swimmsg_addr *a,
    struct sockaddr_storage *ss, unsigned *len);
/* True when both address family, bytes and port match. */
bool swimmsg_addr_eq(const struct swimmsg_addr *a, const struct swimmsg_addr *b);

#endif
