/* acceptor — the data plane process: public listeners, tunnel-client
 * sessions, and the bytes between them.
 *
 * One struct acceptor per process, passed down to every module. */
#ifndef WARREN_ACCEPTOR_H
#define WARREN_ACCEPTOR_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "cidr.h"
#include "mux.h"
#include "nodeconf.h"

struct routes;
struct session;
struct ipc_sock;
struct pconn;
struct certs;
struct mesh;
struct keyring;
struct fwdport;
struct l4proxy;
struct l4tls;

/* Counters exposed in logs (and later /metrics). */
struct acceptor_stats {
	uint64_t sessions_opened, sessions_closed, session_proto_errors;
	uint64_t conns_opened, conns_closed;
	uint64_t http_requests, http_404, http_502, http_503, http_504, http_400,
	    http_408, http_431;
	uint64_t registrations_ok, registrations_failed;
	uint64_t accept_errors;
	uint64_t tls_bad_hello;
	uint64_t refused_per_ip, refused_policy, proxy_errors;
	uint64_t http_401, http_403;
	uint64_t idle_closed;
	uint64_t spliced_bytes;         /* tunnel payload moved without a copy */
	uint64_t bytes_in[3], bytes_out[3];     /* public side, by listener kind
	                                   (http, https, tcp): from / to clients */
	/* HTTP request head forwarded -> first response byte, by listener
	 * kind (http, https): counts per bucket of ACCEPTOR_TTFB_BOUNDS (the
	 * last is +Inf), sum in microseconds */
	uint64_t ttfb_bucket[2][12], ttfb_sum_us[2], ttfb_count[2];
	/* forwarding over the mesh; here as the node the client hit: */
	uint64_t fwd_forwarded;         /* streams sent to the holder's node */
	uint64_t fwd_unreachable;       /* the holder's node could not be reached */
	uint64_t fwd_alternate;         /* --ha: sent to the client's other session */
	uint64_t replica_picks;         /* --group: connections given a replica */
	uint64_t xff_bad;               /* --xff-from: not an address, ignored */
	uint64_t fwd_upstream_gone;     /* the holder said the session is gone */
	/* ... and as the node holding the tunnel: */
	uint64_t fwd_served;            /* forwarded streams relayed to a session */
	uint64_t fwd_gone;              /* refused: the session is not here */
	uint64_t fwd_refused;           /* refused: address, auth, resources */
	uint64_t fwd_bad;               /* refused: malformed header or hop count */
};

/* Upper bounds (seconds) of the first-byte histogram's buckets. */
#define ACCEPTOR_TTFB_BOUNDS { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, \
	    1, 2.5, 5, 10 }

struct acceptor {
	struct ev_loop *loop;
	struct node_conf conf;
	struct mux_conf mux_conf;
	struct routes *routes;
	struct session **sessions;      /* hash by session id */
	size_t sessions_size, nsessions;
	uint64_t session_base, session_seq;
	uint64_t epoch;
	size_t nconns;                  /* public connections open */
	size_t nfwd;                    /* streams other nodes forwarded here, open */
	struct pconn *graveyard;        /* closed, freed by pconn_reap() */
	struct session *flushq;         /* sessions with output to write */
	ev_prepare flusher;
	ev_check reaper;
	int http_fd, tunnel_fd;
	struct ssl_ctx_st *tunnel_ctx;  /* SSL_CTX of the tunnel listener, or NULL */
	struct certs *certs;            /* public HTTPS certificates, by SNI */
	struct ipcount *ipcount;        /* open connections per client address */
	struct cidr_list proxy_from;    /* load balancers whose PROXY header we believe */
	struct cidr_list xff_from;      /* ... whose X-Forwarded-For we believe */
	int https_fd, https_port;
	ev_io https_io;
	ev_signal sighup;
	int http_port;                  /* for URLs */
	ev_io http_io, tunnel_io;
	ev_timer accept_retry;          /* EMFILE back-off */
	ev_signal sigterm, sigint;
	ev_timer drain_timer, drain_check;
	bool draining;
	struct ipc_sock *router;        /* req */
	struct ipc_sock *table;         /* sub */
	struct ipc_sock *stats_pub;     /* counters for /metrics */
	ev_timer stats_timer;
	bool snapshot_pending;
	struct mesh *mesh;              /* links to the other nodes, or NULL */
	uint64_t groups_gen;            /* replicas given to the load balancer */
	struct keyring *kr;             /* cluster keys, or NULL */
	struct fwdport *fwdports;       /* listeners of other nodes' tcp tunnels */
	struct ipc_sock *members;       /* sub: membership (mesh addresses) */
	struct ipc_sock *gossip;        /* req: membership snapshots */
	uint64_t members_epoch, members_seq;
	bool members_pending;
	ev_check table_check;           /* table changed: sync fwdports and
	                                 * the replicas */
	ev_timer ports_timer;
	uint64_t ports_epoch, ports_version;
	struct acceptor_stats stats;
	struct tunstats *tunstats;      /* per-tunnel requests and bytes */
	struct l4proxy *l4;             /* --lb-listen and the LB candidates */
	struct probe *probe;            /* the router's checks of replicas */
	struct l4tls *l4tls;            /* --lb-tls-listen, and HTTPS for domains */
	bool lb_pending;                /* an LB_REQ is out */
};

/* Session registry (session.c). */
struct session *acceptor_session(struct acceptor *a, uint64_t id);
int acceptor_session_add(struct acceptor *a, struct session *s);
void acceptor_session_remove(struct acceptor *a, struct session *s);

/* Accept watchers re-armed after a back-off (acceptor_main.c). */
void acceptor_accept_error(struct acceptor *a, int err);

/* Monotonic microseconds. */
uint64_t acceptor_now_us(struct acceptor *a);

#endif
