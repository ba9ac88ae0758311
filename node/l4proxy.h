/* l4proxy — the L4 load balancer: --lb-listen ADDR[=APP] listeners that
 * proxy raw TCP to the app's candidates, as edgeProxy's listener does.
 *
 * Per connection: the client's address (the socket's, or the PROXY v1/v2
 * header's when the peer is a trusted load balancer), its country and
 * region (GeoIP, region map), the decision (lbset: affinity, then score),
 * a non-blocking dial of the backend with a timeout, and then the bytes
 * both ways with half-close, through bounded buffers. A failed dial drops
 * the client's binding, puts the backend in back-off on this node, and
 * tries the next best; with nothing left the client is closed and counted.
 *
 * An app's candidates are its static backends (from the router) and the
 * tunnel replicas of the group of that name (from the acceptor's route
 * table: l4proxy_set_replicas); a replica is reached through the caller
 * (to_replica), which opens a stream to its session.
 *
 * A listener without =APP serves every static backend of the table,
 * whatever its app (edgeProxy's single listener has no notion of app). */
#ifndef WARREN_L4PROXY_H
#define WARREN_L4PROXY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct l4proxy;
struct lbset;
struct lbmsg;
struct lbmsg_cand;
struct ipcount;
struct cidr_list;
struct node_conf;
struct ipcmsg_stat;
struct sockaddr_storage;

/* Called with +1 when a connection is accepted and -1 when it closes (the
 * acceptor's count of public connections, which a drain waits on). */
typedef void l4proxy_count_cb(void *arg, int delta);

struct lbset_backend;
/* The decision picked a tunnel replica (b->kind LBMSG_REPLICA) for the
 * client at *peer on fd: open a stream to its session (here, or over the
 * mesh on b->node) and relay fd through it, data[len] first. Returns 0
 * when the caller took fd and the reference to b; else fd and b stay the
 * load balancer's: -EPERM the tunnel refuses the client's address (the
 * client is closed), -EACCES it wants credentials raw bytes cannot carry
 * (never again an L4 pick), other: it cannot be reached (back-off). */
typedef int l4proxy_replica_cb(void *arg, int fd,
    const struct sockaddr_storage *peer, struct lbset_backend *b,
    const void *data, size_t len);

struct l4proxy_conf {
	const struct node_conf *nc;     /* lb_listen, region, geoip_db, region_map,
	                                 * binding_ttl, binding_gc_interval,
	                                 * lb_connect_timeout, lb_backoff,
	                                 * idle_timeout, head_timeout,
	                                 * max_conns_per_ip */
	const struct cidr_list *proxy_from;     /* trusted load balancers */
	struct ipcount *ipcount;        /* per-address cap, shared */
	l4proxy_count_cb *count;
	l4proxy_replica_cb *to_replica;
	void *arg;
};

/* Opens the listeners (inherited from the supervisor through WARREN_FD_LB,
 * or bound here) and the GeoIP database and region map. Without
 * --lb-listen it still keeps the candidates (*out is set). Returns 0, or
 * -1 after logging why. */
int l4proxy_new(struct l4proxy **out, struct ev_loop *loop,
    const struct l4proxy_conf *c);
/* Closes the listeners and every connection. NULL is a no-op. */
void l4proxy_free(struct l4proxy *p);

/* Takes over a public connection whose name (Host, or SNI) is a `domains`
 * entry or a group: the client at *peer (as the acceptor saw it, PROXY
 * header included) goes to a candidate of app; first[len] are the bytes
 * already read from it (an HTTP head, with its forwarding headers), then
 * more[more_len] (what followed the head in the input), sent before the
 * rest. picked: the candidate l4proxy_pick() already chose for this client
 * (its reference goes with the connection), or NULL to decide here.
 * Returns 0 (fd and picked are the load balancer's now), or -1 (the caller
 * still owns both). */
int l4proxy_adopt(struct l4proxy *p, int fd, const struct sockaddr_storage *peer,
    const char *app, struct lbset_backend *picked, const void *first,
    size_t len, const void *more, size_t more_len);

/* A candidate set from the router (lbmsg: static backends); takes m's
 * candidates (m is left empty). */
void l4proxy_apply(struct l4proxy *p, struct lbmsg *m);
/* The tunnel replicas of every group (LBMSG_REPLICA candidates, app = the
 * group), from the acceptor's route table; takes v[n] (malloc'ed, strings
 * too). They join the router's backends of the same app. */
void l4proxy_set_replicas(struct l4proxy *p, struct lbmsg_cand *v, size_t n);

/* The decision for a connection from *client to app, as the listeners
 * take it (GeoIP, region map, affinity, counts): the chosen candidate,
 * counted and referenced (lbset_release() gives it back), or NULL when
 * none is eligible. */
struct lbset_backend *l4proxy_pick(struct l4proxy *p, const char *app,
    const struct sockaddr_storage *client);
/* The replica l4proxy_pick() gave refused raw bytes (it wants
 * credentials): it is never again an L4 pick; released. */
void l4proxy_refuse_raw(struct l4proxy *p, const char *app,
    const struct sockaddr_storage *client, struct lbset_backend *b);
/* The candidate l4proxy_pick() gave cannot be reached: the client's
 * binding goes, it is skipped here for the back-off, and released. */
void l4proxy_pick_failed(struct l4proxy *p, const char *app,
    const struct sockaddr_storage *client, struct lbset_backend *b);
/* The version held, to compare with the router's beacon. */
void l4proxy_version(const struct l4proxy *p, uint64_t *epoch,
    uint64_t *version);
/* Stops accepting (drain). */
void l4proxy_stop_listening(struct l4proxy *p);
/* Open connections. */
size_t l4proxy_conns(const struct l4proxy *p);

/* The counters as /metrics samples into items[n..max) (names point into
 * p, valid until the next call); returns the new n. */
size_t l4proxy_stats(struct l4proxy *p, struct ipcmsg_stat *items, size_t n,
    size_t max);

#endif
