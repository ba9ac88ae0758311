/* lbmsg — the load balancer's candidates, from the router to the acceptor
 * over nng (the router's table.ipc publisher and router.ipc req/rep).
 *
 *   router -> acceptor (pub/sub)
 *       LB (beacon 0)   every candidate of every app, whenever routing.db
 *                       or a health check changes them: a snapshot, with
 *                       version = previous + 1
 *       LB (beacon 1)   every second, n = 0, at the current version: a
 *                       subscriber on another epoch or version asks for it
 *   acceptor -> router (req/rep)
 *       LB_REQ -> LB    the current snapshot
 *
 * Encoding as ipcmsg's (version byte, type byte, little-endian integers,
 * u16-length strings of at most IPCMSG_STR_MAX bytes, no trailing bytes).
 * The decoder takes untrusted bytes: bounded, never trusts a count. */
#ifndef WARREN_LBMSG_H
#define WARREN_LBMSG_H

#include <stddef.h>
#include <stdint.h>

#define LBMSG_MAX               20000   /* candidates in one LB message */

/* What a candidate is, and so how the acceptor reaches it. */
enum lbmsg_kind {
	LBMSG_BACKEND = 1,              /* a static backend: dialled at addr:port */
	LBMSG_REPLICA = 2,              /* a tunnel replica (--group): a session
	                                 * here or on `node`, over the mesh. The
	                                 * acceptor adds these from its own route
	                                 * table; from the router they only
	                                 * carry flags (LBPICK_DOWN: failing its
	                                 * check here) by app and id */
};

struct lbmsg_cand {
	uint8_t kind;                   /* enum lbmsg_kind */
	uint8_t flags;                  /* LBPICK_* as the router sees them:
	                                 * LBPICK_DOWN = failing its health
	                                 * check on this node */
	char *app, *id, *region;
	char *country;                  /* "" = none (no country column) */
	char *addr;                     /* BACKEND: wg_ip (numeric address) */
	char *node;                     /* the node holding it, "" = any */
	uint16_t port;
	uint32_t weight, soft_limit, hard_limit;
	uint64_t session;               /* REPLICA: its session and tunnel */
	uint32_t tunnel_id;
};

struct lbmsg {
	uint64_t epoch;                 /* the router's start id */
	uint64_t version;
	uint8_t beacon;                 /* 1: n = 0, just the version */
	uint32_t n;
	struct lbmsg_cand *c;
};

struct nng_msg;
/* A new message (caller owns) or NULL (no memory, a string over
 * IPCMSG_STR_MAX, n over LBMSG_MAX). NULL strings encode as "". */
struct nng_msg *lbmsg_encode(const struct lbmsg *m);
/* Returns 0, or -EINVAL / -EPROTO / -ENOMEM with *m zeroed. */
int lbmsg_decode(struct lbmsg *m, const void *buf, size_t len);
void lbmsg_fini(struct lbmsg *m);
/* A tunnel replica's candidate id, the same on every node:
 * "NODE/SESSION/TUNNEL" (the session in 16 hex digits). Returns out. */
char *lbmsg_replica_id(char *out, size_t len, const char *node,
    uint64_t session, uint32_t tunnel_id);
/* Frees one candidate's strings (not the candidate). */
void lbmsg_cand_fini(struct lbmsg_cand *c);
/* LB_REQ: a header only. */
struct nng_msg *lbmsg_req_encode(void);

#endif
