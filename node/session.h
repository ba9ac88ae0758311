/* session — one tunnel client's connection to this node: the mux over it,
 * the HELLO/REGISTER exchange, its tunnels and their TCP listeners. */
#ifndef WARREN_SESSION_H
#define WARREN_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

struct acceptor;
struct session;
struct mux_stream;

/* What the client asked the node to enforce on a tunnel's public side. */
struct tunnel_policy {
	struct cidr_list allow;         /* empty: every address */
	struct cidr_list deny;
	bool basic;                     /* HTTP basic auth required */
	uint8_t basic_hash[32];         /* SHA-256 of "user:password" */
};

/* The policy of tunnel_id on session, or NULL if there is no such tunnel.
 * Valid until control returns to the loop. */
const struct tunnel_policy *session_policy(struct acceptor *a, uint64_t session,
    uint32_t tunnel_id);
/* True if the address may use the tunnel (deny wins over allow). */
bool tunnel_policy_allows(const struct tunnel_policy *p,
    const struct sockaddr *peer);

/* True if authz[0..len) (an Authorization header value) carries the
 * tunnel's basic auth credentials, or the tunnel asks for none. */
bool tunnel_policy_basic_ok(const struct tunnel_policy *p, const char *authz,
    size_t len);

/* Takes ownership of an accepted, non-blocking fd. Returns 0 or -errno (the
 * fd is closed on failure). */
int session_accept(struct acceptor *a, int fd);
/* Opens a stream to tunnel_id for a public connection from peer, carrying
 * host (http) or "" (tcp). Returns 0 and sets *out (owned by the caller, with
 * the caller's data pointer set), -ENOENT when the tunnel is not registered
 * on s, -EAGAIN when s is draining or full, -ENOMEM. */
int session_open_stream(struct session *s, uint32_t tunnel_id,
    const char *peer, const char *host, void *data, struct mux_stream **out);
/* Sends GOAWAY: the client reconnects elsewhere; streams may finish. */
void session_goaway(struct session *s, const char *reason);
/* Closes the session at once (its streams see MUX_RST_SESSION_GONE). */
void session_close(struct session *s, const char *why);

/* Writes what sessions queued during this loop iteration (ev_prepare). */
void session_flush_queued(struct acceptor *a);

/* GOAWAY to every session (drain), or close every session (exit). */
/* Closes drained sessions whose clients have moved (see session.c). */
void session_release_moved(struct acceptor *a);
void session_goaway_all(struct acceptor *a, const char *reason);
void session_close_all(struct acceptor *a, const char *why);

/* Closes every session whose tunnels were claimed with token_id, telling
 * each client why (a revoked token). */
void session_kick_token(struct acceptor *a, const char *token_id,
    const char *reason);
/* Closes session `id` (if it is here), telling its client why: one of its
 * names went to another client elsewhere in the cluster. */
void session_kick_one(struct acceptor *a, uint64_t id, const char *reason);

#endif
