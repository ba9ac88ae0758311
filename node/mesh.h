/* mesh — persistent, authenticated, multiplexed links to the other nodes.
 *
 * One link per pair of nodes: the mux (proto/mux.h) over TCP, opened on the
 * first stream for a peer and kept (PINGs find a dead one), re-dialled with
 * back-off after a failure. Both nodes may dial each other at once; once a
 * node holds two authenticated links to a peer, the one dialled by the node
 * whose name sorts first carries new streams, and the other gets GOAWAY and
 * closes when its streams are done — both nodes pick the same link.
 *
 * Before any mux byte each side proves it holds a cluster key (HELLO and
 * PROOF of proto/meshmsg.h, checked with every key of the ring); a peer that
 * fails is counted and dropped, and never gets to open a stream. Streams
 * opened before the link is up wait in its mux (bounded by its output
 * watermark) and go out once it is.
 *
 * With tls (--mesh-tls, node/meshtls.h) every link is TLS 1.3 from its
 * first byte, the HELLO and PROOF inside it and bound to it; a peer that
 * speaks the other way (plain to a TLS node, or TLS to a plain one) is
 * told apart from a stranger, logged and counted as a mismatch.
 *
 * Streams: mesh_open() opens one to a peer; a peer's streams arrive through
 * on_open(). Stream events of both kinds go to the `stream` callbacks, which
 * find their owner through the stream's data pointer. Nothing here knows
 * what a stream carries. */
#ifndef WARREN_MESH_H
#define WARREN_MESH_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mux.h"

struct mesh;
struct keyring;

struct mesh_conf {
	const char *self;               /* this node's name (copied) */
	int listen_fd;                  /* listening socket (owned), or -1 */
	const struct keyring *kr;       /* cluster keys (borrowed); NULL: the
	                                 * all-zero key, for loopback only */
	const struct mux_conf *mux;     /* per-link mux settings (copied) */
	double handshake_timeout;       /* s for connect + HELLO + PROOF */
	double ping_interval;           /* s; a link silent 3x this is dropped */
	bool tls;                       /* links carry TLS (both ends must) */
};

struct mesh_callbacks {
	/* A peer opened stream st with OPEN payload hdr[len] on the link from
	 * node `peer`. Return 0 to keep it (the callee owns st and sets its data
	 * pointer), -1 to refuse (the mux resets it). */
	int (*on_open)(void *arg, const char *peer, struct mux_stream *st,
	    const uint8_t *hdr, size_t len);
	/* Events of every stream on every link (on_open, on_control, on_pong,
	 * on_goaway and on_output are not used). */
	const struct mux_callbacks *stream;
	/* Optional zero-copy input (see pconn_splice_in): moves up to left
	 * payload bytes of st from socket `from`; NULL: always copy. */
	ssize_t (*splice_in)(struct mux_stream *st, int from, size_t left);
	void *arg;
};

struct mesh_stats {
	uint64_t dials, dial_failed;    /* outbound connects, and failures */
	uint64_t accepted;              /* inbound connections */
	uint64_t links_up;              /* handshakes completed */
	uint64_t auth_failed;           /* PROOF did not verify: dropped */
	uint64_t handshake_bad;         /* not a mesh HELLO, wrong name, timeout */
	uint64_t duplicates;            /* links retired by the double-dial rule */
	uint64_t streams_opened;        /* by us */
	uint64_t streams_accepted;      /* by peers, kept */
	uint64_t protocol_errors;       /* mux errors after the handshake */
	uint64_t tls_mismatch;          /* peer with TLS where we have none, or
	                                 * the other way round */
	uint64_t tls_failed;            /* TLS handshakes that failed otherwise */
};

/* Starts listening (if listen_fd >= 0). Returns 0 and sets *out, or -errno
 * (conf->listen_fd is closed on failure; -EPROTO: TLS could not be set up,
 * logged). */
int mesh_new(struct mesh **out, struct ev_loop *loop, const struct mesh_conf *conf,
    const struct mesh_callbacks *cb);
/* Closes every link (their streams see MUX_RST_SESSION_GONE) and the
 * listener. NULL is a no-op. */
void mesh_free(struct mesh *m);

/* Where node `name` takes mesh links ("ip:port"); "" or NULL forgets it
 * (its links stay until they fail). Returns 0, -EINVAL (bad address) or
 * -ENOMEM. Our own name is ignored. */
int mesh_peer_set(struct mesh *m, const char *name, const char *addr);

/* Opens a stream to node `peer` whose OPEN carries hdr[len]; its data
 * pointer is set to `data`. Returns 0 and sets *out; -ENOENT when the
 * peer's mesh address is unknown, -EHOSTUNREACH when its link failed and the
 * back-off has not passed, -EAGAIN when the link takes no more streams,
 * -ENOMEM. */
int mesh_open(struct mesh *m, const char *peer, const void *hdr, size_t len,
    void *data, struct mux_stream **out);

/* Links that completed the handshake and are open now. */
size_t mesh_links_up(const struct mesh *m);
/* How a stream to peer would fare now: a link is up and takes streams;
 * none yet (one would be dialled); or the last link broke, or a dial
 * failed, and none has come up since (or membership has no address). */
enum mesh_link_state {
	MESH_LINK_FAILING = 0,
	MESH_LINK_UNKNOWN = 1,
	MESH_LINK_READY = 2,
};
enum mesh_link_state mesh_link_state(const struct mesh *m, const char *peer);
/* Peers that membership says are alive or suspect (they have an address). */
size_t mesh_peers_reachable(const struct mesh *m);
const struct mesh_stats *mesh_stats(const struct mesh *m);

#endif
