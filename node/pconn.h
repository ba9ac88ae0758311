/* pconn — a public connection (HTTP or TCP) and the tunnel stream it rides.
 *
 * HTTP: every request head is parsed (proto/http1.h) and routed by Host; a
 * head for another host on a routed connection first finishes the current
 * stream, then opens one to the new host. Bodies and everything after an
 * Upgrade pass through with the stream's credit as backpressure. TCP: raw
 * bytes both ways, read straight into the mux output buffer.
 *
 * Memory per connection is bounded: at most one head and one window of
 * tunnel data are held, and buffers are given back when drained. */
#ifndef WARREN_PCONN_H
#define WARREN_PCONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct acceptor;
struct mux_stream;

/* Take ownership of an accepted non-blocking fd. */
void pconn_accept_http(struct acceptor *a, int fd);
/* HTTPS listener: routes by SNI to a TLS passthrough tunnel, or terminates
 * TLS (certificate by SNI) and serves HTTP inside. */
void pconn_accept_https(struct acceptor *a, int fd);
void pconn_accept_tcp(struct acceptor *a, int fd, uint64_t session,
    uint32_t tunnel_id);

/* A connection to another node's tcp tunnel on `port`: forwarded over the
 * mesh to the holder claim names. Takes ownership of fd. */
struct route_claim;
void pconn_accept_tcp_remote(struct acceptor *a, int fd, unsigned port,
    const struct route_claim *claim);

/* The load balancer picked a tunnel replica for the client at *peer on
 * fd (l4proxy_replica_cb): relays fd through a stream to its session, here
 * or over the mesh, data[len] first. Raw bytes: a tunnel that wants
 * credentials (--basic-auth) or refuses the address is not reached this
 * way. Returns 0 (fd and b taken) or, with both still the caller's,
 * -EPERM, -EACCES or -ENOENT as l4proxy_replica_cb says. */
struct lbset_backend;
struct sockaddr_storage;
int pconn_accept_replica(void *arg, int fd, const struct sockaddr_storage *peer,
    struct lbset_backend *b, const void *data, size_t len);

/* A health check of a replica (node/probe.h): relays fd raw to the
 * session (node "" = here), without the tunnel's address or credential
 * rules. Returns 0 (fd taken) or -ENOENT (fd still the caller's). */
int pconn_accept_probe(struct acceptor *a, int fd, const char *node,
    uint64_t session, uint32_t tunnel_id);

/* Frees connections closed during this loop iteration (from an ev_check). */
void pconn_reap(struct acceptor *a);

/* Zero-copy path (plain tunnel links): moves up to `left` payload bytes of
 * st from the tunnel socket `from` straight to its connection through a
 * pipe. Returns the bytes moved (> 0; mux_rskip them), 0 when the connection
 * cannot take them this way (read them as usual), -EAGAIN when the socket
 * has nothing now, or -errno (-EPIPE: the link closed). */
ssize_t pconn_splice_in(struct mux_stream *st, int from, size_t left);

/* Stream callbacks, wired into each session's mux (session.c). */
void pconn_on_data(struct mux_stream *st, const uint8_t *p, size_t len);
void pconn_on_fin(struct mux_stream *st);
void pconn_on_reset(struct mux_stream *st, int code, const char *reason);
void pconn_on_writable(struct mux_stream *st);

#endif
