/* ipcmsg — messages between the node's processes over nng.
 *
 * Encoding: explicit little-endian, never raw structs. Every message starts
 * with a version byte (IPCMSG_VERSION) and a type byte. Integers are u8/u16/
 * u32/u64 little-endian; strings are u16 length + bytes (no NUL on the wire,
 * at most IPCMSG_STR_MAX). Decoders take untrusted bytes: bounded, never trust
 * a length, and return 0 or -EINVAL (malformed) / -EPROTO (unknown version or
 * type). Decoded strings are NUL-terminated copies owned by the struct
 * (ipcmsg_*_fini frees them).
 *
 * Who sends what:
 *   acceptor -> router  (req/rep, ipc://DATA/router.ipc)
 *       ACCEPTOR_HELLO  -> OK           acceptor (re)started: every tunnel row
 *                                       of this node goes offline
 *       REGISTER        -> REGISTERED   claim a tunnel for a session
 *       UNREGISTER      -> OK           a session ended: its rows go offline
 *       SNAPSHOT_REQ    -> TABLE        the whole route table
 *   router -> acceptor  (pub/sub, ipc://DATA/table.ipc)
 *       TABLE (delta=1)                 changed entries, versioned: each
 *                                       message is version + 1
 *       TABLE (delta=1, n=0)            every second, at the current version
 *                                       (not + 1): a subscriber behind it, or
 *                                       on another epoch, resnapshots
 *       KICK                            a token was revoked: close every
 *                                       session registered with it (their
 *                                       REGISTERED carried its token id);
 *                                       with token_id "", close the one
 *                                       session `session` (its name went to
 *                                       another client), status TAKEN
 *   router -> gossip    (req/rep, ipc://DATA/gossip.ipc)
 *       WRITE           -> OK           a local write to routing.db
 */
#ifndef WARREN_IPCMSG_H
#define WARREN_IPCMSG_H

#include <stddef.h>
#include <stdint.h>

#define IPCMSG_VERSION          1
#define IPCMSG_STR_MAX          1024
#define IPCMSG_TABLE_MAX        100000  /* entries in one TABLE message */

enum ipcmsg_type {
	IPCMSG_OK = 1,                  /* u8 status, str error */
	IPCMSG_ACCEPTOR_HELLO = 2,      /* u64 epoch */
	IPCMSG_REGISTER = 3,
	IPCMSG_REGISTERED = 4,
	IPCMSG_UNREGISTER = 5,          /* u64 session */
	IPCMSG_SNAPSHOT_REQ = 6,        /* (empty) */
	IPCMSG_TABLE = 7,
	IPCMSG_WRITE = 8,
	IPCMSG_KICK = 9,                /* str token_id, str reason */
	IPCMSG_LB = 10,                 /* load-balancing candidates (lbmsg.h) */
	IPCMSG_LB_REQ = 11,             /* (empty) -> LB */
};

enum tunnel_kind {
	TUNNEL_HTTP = 1,
	TUNNEL_TCP = 2,
	TUNNEL_TLS = 3,                 /* TLS passthrough, routed by SNI */
};

/* Status codes in OK and REGISTERED; 0 is success. Shared with the client's
 * ERROR control message. */
enum ipcmsg_status {
	IPCMSG_S_OK = 0,
	IPCMSG_S_TAKEN = 1,             /* name or port held by another client */
	IPCMSG_S_INVALID = 2,           /* bad name, port out of range, ... */
	IPCMSG_S_UNAVAILABLE = 3,       /* control plane or db not reachable */
	IPCMSG_S_DENIED = 4,            /* no token, bad token, name not allowed, cap */
	IPCMSG_S_INTERNAL = 5,
};

struct ipcmsg_ok {
	uint8_t status;
	char *error;                    /* "" when ok */
};

/* Tunnel replicas (`warren http --group NAME`): clients with the same
 * group name and token serve one name together; each replica is a
 * load-balancing candidate with its region, weight and limits. */
#define IPCMSG_REPLICAS_MAX     256     /* replicas of one name in a route */

struct ipcmsg_group {
	char *name;                     /* "" or NULL = exclusive (no group) */
	char *token_id;                 /* routes: the token the group shares
	                                 * (its key, as frp's group_key); "" =
	                                 * anonymous */
	char *region;                   /* the client's --region, "" = its node's */
	uint32_t weight;                /* 0 counts as 1 */
	uint32_t soft_limit;            /* 0 counts as 1 */
	uint32_t hard_limit;            /* 0 = no limit */
};

struct ipcmsg_register {
	uint64_t session;               /* acceptor's session id (unique per node epoch) */
	uint32_t tunnel_id;             /* client's id of the tunnel within the session */
	uint8_t kind;                   /* enum tunnel_kind */
	char *client_id;                /* from HELLO: same client -> may reclaim */
	char *token;                    /* from HELLO: wrn_... token, a JWT, or "" */
	char *subdomain;                /* http: wanted label, "" = pick one */
	char *domains;                  /* http: comma-separated custom domains, "" */
	uint16_t port;                  /* tcp: the port the acceptor bound */
	struct ipcmsg_group grp;
};

struct ipcmsg_registered {
	uint8_t status;                 /* enum ipcmsg_status */
	char *error;                    /* sentence for the user when status != 0 */
	char *hosts;                    /* http: comma-separated full hostnames */
	uint16_t port;                  /* tcp: the public port */
	char *token_id;                 /* OK: id of the token (or JWT identity)
	                                 * the tunnel was claimed with, "" when
	                                 * anonymous; KICK names it */
};

/* ROUTE_APP: a name of the `domains` table, served by the static backends
 * of app grp.name (the edge's load balancer), not by a tunnel */
enum route_state { ROUTE_ONLINE = 1, ROUTE_OFFLINE = 2, ROUTE_DELETED = 3,
	ROUTE_APP = 4 };

/* One route table entry: a hostname (http) or a port (tcp) -> a tunnel. */
struct ipcmsg_route {
	uint8_t kind;                   /* enum tunnel_kind */
	uint8_t state;                  /* enum route_state; DELETED only in deltas */
	char *host;                     /* http: lowercase full hostname; tcp: "" */
	uint16_t port;                  /* tcp: public port; http: 0 */
	char *node;                     /* owner node name */
	uint64_t session;               /* owner's session id */
	uint32_t tunnel_id;
	/* --ha: the same client's session on another node, which forwarding
	 * nodes use when the holder's cannot be reached; alt_node "" or NULL
	 * = none */
	char *alt_node;
	uint64_t alt_session;
	uint32_t alt_tunnel_id;
	/* a replica's own group fields (UPSERT, and in replicas[]); a grouped
	 * name's route lists every replica (node, session, tunnel_id, grp;
	 * region filled from the node when the client gave none), and the
	 * fields above name the first of them */
	struct ipcmsg_group grp;
	uint32_t nreplicas;
	struct ipcmsg_route *replicas;
};

struct ipcmsg_table {
	uint64_t epoch;                 /* router's start id: a change means resnapshot */
	uint64_t version;               /* of the table after this message */
	uint8_t delta;                  /* 0 = snapshot (replace all), 1 = changes */
	uint32_t n;
	struct ipcmsg_route *routes;
};

enum ipcmsg_write_op {
	WRITE_TUNNEL_UPSERT = 1,        /* route + client_id: row online for session */
	WRITE_SESSION_OFFLINE = 2,      /* every row of (node, session) offline */
	WRITE_NODE_OFFLINE = 3,         /* every row of node offline */
	WRITE_TOKEN_CREATE = 4,         /* tok: id, hash, allow, ports, note */
	WRITE_TOKEN_REVOKE = 5,         /* tok.id */
	WRITE_ROW_PUT = 6,              /* table, row: JSON object of columns */
	WRITE_ROW_DEL = 7,              /* table, row: the primary key */
};

/* A tunnel token as stored: never the token itself, only its hash. */
struct ipcmsg_token {
	char *id;                       /* "tok_" + hex */
	char *hash;                     /* hex SHA-256 of the token */
	char *allow;                    /* comma-separated host patterns */
	char *ports;                    /* comma-separated LO-HI ranges */
	char *note;
};

struct ipcmsg_write {
	uint8_t op;                     /* enum ipcmsg_write_op */
	struct ipcmsg_route route;      /* UPSERT: the row; others: node, session */
	char *client_id;                /* UPSERT */
	char *token_id;                 /* UPSERT: token (or JWT identity), "" */
	struct ipcmsg_token tok;        /* TOKEN_*: the token row */
	char *table;                    /* ROW_*: "backends" or "domains" */
	char *row;                      /* ROW_PUT: JSON object; ROW_DEL: key */
};

struct ipcmsg_kick {
	char *token_id;                 /* close every session of this token */
	char *reason;                   /* sentence for the clients */
	uint64_t session;               /* token_id "": close this session */
};

/* Each encoder returns a new nng message (caller owns) or NULL on ENOMEM (or
 * when a string is longer than IPCMSG_STR_MAX or a TABLE has more than
 * IPCMSG_TABLE_MAX entries); NULL strings encode as "".
 * Each decoder takes the body of a received message; on failure the struct
 * is left zeroed (nothing to fini) and scalar outputs are untouched. Trailing
 * bytes after the last field are malformed. */
struct nng_msg;
int ipcmsg_type(const void *buf, size_t len);   /* type byte or -EPROTO/-EINVAL */

struct nng_msg *ipcmsg_ok_encode(const struct ipcmsg_ok *m);
int ipcmsg_ok_decode(struct ipcmsg_ok *m, const void *buf, size_t len);
void ipcmsg_ok_fini(struct ipcmsg_ok *m);

struct nng_msg *ipcmsg_hello_encode(uint64_t epoch);
int ipcmsg_hello_decode(uint64_t *epoch, const void *buf, size_t len);

struct nng_msg *ipcmsg_register_encode(const struct ipcmsg_register *m);
int ipcmsg_register_decode(struct ipcmsg_register *m, const void *buf, size_t len);
void ipcmsg_register_fini(struct ipcmsg_register *m);

struct nng_msg *ipcmsg_registered_encode(const struct ipcmsg_registered *m);
int ipcmsg_registered_decode(struct ipcmsg_registered *m, const void *buf, size_t len);
void ipcmsg_registered_fini(struct ipcmsg_registered *m);

struct nng_msg *ipcmsg_unregister_encode(uint64_t session);
int ipcmsg_unregister_decode(uint64_t *session, const void *buf, size_t len);

struct nng_msg *ipcmsg_snapshot_req_encode(void);
/* Returns 0 for a well-formed (empty) SNAPSHOT_REQ, else -EINVAL/-EPROTO. */
int ipcmsg_snapshot_req_decode(const void *buf, size_t len);

struct nng_msg *ipcmsg_table_encode(const struct ipcmsg_table *m);
int ipcmsg_table_decode(struct ipcmsg_table *m, const void *buf, size_t len);
void ipcmsg_table_fini(struct ipcmsg_table *m);
void ipcmsg_route_fini(struct ipcmsg_route *r);
/* Deep copy of src into dst (NULL strings become ""); returns 0 or -ENOMEM
 * (dst zeroed). dst owns its strings afterwards. */
void ipcmsg_group_fini(struct ipcmsg_group *g);
int ipcmsg_group_copy(struct ipcmsg_group *dst, const struct ipcmsg_group *src);
int ipcmsg_route_copy(struct ipcmsg_route *dst, const struct ipcmsg_route *src);

struct nng_msg *ipcmsg_write_encode(const struct ipcmsg_write *m);
int ipcmsg_write_decode(struct ipcmsg_write *m, const void *buf, size_t len);
void ipcmsg_write_fini(struct ipcmsg_write *m);

struct nng_msg *ipcmsg_kick_encode(const struct ipcmsg_kick *m);
int ipcmsg_kick_decode(struct ipcmsg_kick *m, const void *buf, size_t len);
void ipcmsg_kick_fini(struct ipcmsg_kick *m);

/* ---- membership (gossip <-> router) ----
 *
 *   gossip -> router  (pub/sub, ipc://DATA/members.ipc)
 *       MEMBERS (kind EVENT, n=1)       a membership event; seq = previous + 1
 *       MEMBERS (kind BEACON, n=0)      every second, at the current seq, with
 *                                       gossip's counters: a subscriber behind
 *                                       it, or on another epoch, resnapshots
 *   router -> gossip  (req/rep, ipc://DATA/gossip.ipc)
 *       MEMBERS_REQ     -> MEMBERS (kind SNAPSHOT: every member, self too)
 *       LEAVE           -> OK           leave the cluster gracefully
 *       KEYS_RELOAD     -> OK           reread --cluster-key-file
 *       REPL_INFO_REQ   -> REPL_INFO    replication state as JSON text
 * Types from 32 up, apart from the data-path ones. */
enum ipcmsg_member_type {
	IPCMSG_MEMBERS = 32,
	IPCMSG_MEMBERS_REQ = 33,        /* (empty) */
	IPCMSG_LEAVE = 34,              /* (empty) */
	IPCMSG_KEYS_RELOAD = 35,        /* (empty) */
	IPCMSG_REPL_INFO_REQ = 36,      /* (empty) */
	IPCMSG_REPL_INFO = 37,          /* u32 length + JSON text */
};

#define IPCMSG_TEXT_MAX         (4u << 20)      /* bytes of a text message */

/* A message of `type` carrying one long text (JSON): u32 length + bytes.
 * decode sets *out to a NUL-terminated copy (caller frees). */
struct nng_msg *ipcmsg_text_encode(uint8_t type, const char *text);
int ipcmsg_text_decode(uint8_t type, char **out, const void *buf, size_t len);

/* acceptor -> router (pub/sub, ipc://DATA/stats.ipc): every second the
 * acceptor's counters, as name/value pairs (Prometheus names, labels
 * included), for the admin API's /metrics. */
enum { IPCMSG_STATS = 16 };
#define IPCMSG_STATS_MAX        256     /* counters in one STATS message */

struct ipcmsg_stat {
	char *name;                     /* e.g. http_responses_total{code="404"} */
	uint64_t value;
};

struct ipcmsg_stats {
	uint32_t n;
	struct ipcmsg_stat *items;
};

struct nng_msg *ipcmsg_stats_encode(const struct ipcmsg_stats *m);
int ipcmsg_stats_decode(struct ipcmsg_stats *m, const void *buf, size_t len);
void ipcmsg_stats_fini(struct ipcmsg_stats *m);

#define IPCMSG_MEMBERS_MAX      65536   /* members in one MEMBERS message */

enum ipcmsg_members_kind { MEMBERS_SNAPSHOT = 0, MEMBERS_EVENT = 1, MEMBERS_BEACON = 2 };
/* Member states and events, numbered as gossip/swim.h numbers them. */
enum member_state { MEMBER_ALIVE = 0, MEMBER_SUSPECT = 1, MEMBER_DEAD = 2, MEMBER_LEFT = 3 };
enum member_event { MEMBER_EV_JOIN = 1, MEMBER_EV_ALIVE, MEMBER_EV_SUSPECT,
	MEMBER_EV_DEAD, MEMBER_EV_LEFT, MEMBER_EV_META };

struct ipcmsg_member {
	uint8_t state;                  /* enum member_state */
	uint8_t self;                   /* 1 for the node itself */
	char *name;
	char *region;
	char *addr;                     /* mesh (gossip) address, "ip:port" */
	char *http;                     /* acceptor's public HTTP address, "" */
	char *tunnel;                   /* acceptor's tunnel address, "" */
	char *version;                  /* software version, "" */
	uint64_t incarnation;
	uint64_t changed_ms;            /* unix ms of its last state change seen */
	uint32_t rtt_us;                /* last probe round trip, 0 = none yet */
	char *mesh;                     /* forwarding (mesh) address, "" */
	char *repl;                     /* "<actor>:<version>:<digest>:<rows>", "" */
};

/* gossip's counters, carried by every MEMBERS message. */
struct ipcmsg_gossip_stats {
	uint64_t udp_tx_bytes, udp_rx_bytes;    /* sealed datagrams */
	uint64_t tcp_tx_bytes, tcp_rx_bytes;    /* push-pull, framed */
	uint64_t udp_tx_packets, udp_rx_packets;
	uint64_t drop_unknown_key;              /* sealed under a key we lack */
	uint64_t drop_auth;                     /* failed authentication */
	uint64_t drop_malformed;                /* bad framing or SWIM decode */
};

struct ipcmsg_members {
	uint8_t kind;                   /* enum ipcmsg_members_kind */
	uint8_t event;                  /* EVENT: enum member_event; else 0 */
	uint64_t epoch;                 /* gossip's start id */
	uint64_t seq;                   /* of the last event published */
	struct ipcmsg_gossip_stats stats;
	uint32_t n;
	struct ipcmsg_member *members;
};

struct nng_msg *ipcmsg_members_encode(const struct ipcmsg_members *m);
int ipcmsg_members_decode(struct ipcmsg_members *m, const void *buf, size_t len);
void ipcmsg_members_fini(struct ipcmsg_members *m);
void ipcmsg_member_fini(struct ipcmsg_member *m);
/* Deep copy (NULL strings become ""); 0 or -ENOMEM (dst zeroed). */
int ipcmsg_member_copy(struct ipcmsg_member *dst, const struct ipcmsg_member *src);

/* MEMBERS_REQ, LEAVE, KEYS_RELOAD: a header and nothing else. decode
 * returns 0 for a well-formed message of that type, else -EINVAL/-EPROTO. */
struct nng_msg *ipcmsg_empty_encode(uint8_t type);
int ipcmsg_empty_decode(uint8_t type, const void *buf, size_t len);

/* ---- the codec, for messages defined beside these (lbmsg) ----
 * Little-endian integers, u16-length strings of at most IPCMSG_STR_MAX
 * bytes without NUL; a header of version and type byte. */
/* Reader over untrusted bytes. The first failure sticks in `err`, so the
 * decoders read every field and check once at the end. */
struct ipcmsg_rd {
	const uint8_t *p;
	size_t len, off;
	int err;
};

/* Writer appending to an nng message; the first failure sticks. */
struct ipcmsg_wr {
	struct nng_msg *msg;
	int err;
};

/* Checks version and type; leaves the reader after the header. */
void ipcmsg_rd_init(struct ipcmsg_rd *r, const void *buf, size_t len,
    uint8_t type);
/* Trailing bytes are malformed: a newer layout must bump the version. */
int ipcmsg_rd_end(struct ipcmsg_rd *r);
uint8_t ipcmsg_get_u8(struct ipcmsg_rd *r);
uint64_t ipcmsg_get_le(struct ipcmsg_rd *r, size_t n);
uint16_t ipcmsg_get_u16(struct ipcmsg_rd *r);
uint32_t ipcmsg_get_u32(struct ipcmsg_rd *r);
uint64_t ipcmsg_get_u64(struct ipcmsg_rd *r);
/* A NUL-terminated copy, or NULL with r->err set. */
char *ipcmsg_get_str(struct ipcmsg_rd *r);
/* A message of `type` with room for hint bytes; ipcmsg_wr_end() returns
 * it, or NULL (and frees it) after any failure. */
void ipcmsg_wr_init(struct ipcmsg_wr *w, uint8_t type, size_t hint);
struct nng_msg *ipcmsg_wr_end(struct ipcmsg_wr *w);
void ipcmsg_put(struct ipcmsg_wr *w, const void *p, size_t n);
void ipcmsg_put_le(struct ipcmsg_wr *w, uint64_t v, size_t n);
void ipcmsg_put_u8(struct ipcmsg_wr *w, uint8_t v);
void ipcmsg_put_u16(struct ipcmsg_wr *w, uint16_t v);
void ipcmsg_put_u32(struct ipcmsg_wr *w, uint32_t v);
void ipcmsg_put_u64(struct ipcmsg_wr *w, uint64_t v);
/* NULL encodes as ""; a longer string than IPCMSG_STR_MAX fails. */
void ipcmsg_put_str(struct ipcmsg_wr *w, const char *s);

#endif
