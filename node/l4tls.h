/* l4tls — TLS ended at the node in front of the L4 load balancer.
 *
 * Two ways in: the --lb-tls-listen ADDR[=APP] listeners (edgeProxy's TLS
 * listener: a client speaks TLS, the node ends it and the plaintext goes to
 * APP's backends), and HTTPS requests for a `domains` name whose TLS the
 * public HTTPS listener already ended (l4tls_adopt).
 *
 * Each connection is bridged to the load balancer through a socketpair:
 * once the handshake is done the load balancer adopts one end
 * (l4proxy_adopt: the same decision, counts, affinity, back-off and
 * failover as a --lb-listen connection, for the client's address), and
 * this module moves bytes between the SSL object and the other end, with
 * half-close (a close_notify or FIN becomes a shutdown, and back). Memory
 * per connection is bounded: one window per direction here (given back when
 * empty), small socket buffers on the pair, and the load balancer's own
 * bounded buffers behind it. A PROXY header from --proxy-protocol-from is
 * read before the handshake; the header and the handshake together must
 * come within --head-timeout. */
#ifndef WARREN_L4TLS_H
#define WARREN_L4TLS_H

#include <ev.h>
#include <stddef.h>

struct l4tls;
struct l4proxy;
struct ipcount;
struct tls_io;
struct cidr_list;
struct node_conf;
struct ipcmsg_stat;
struct sockaddr_storage;

struct l4tls_conf {
	const struct node_conf *nc;     /* lb_tls_listen, lb_tls_cert,
	                                 * lb_tls_key, data_dir, domain,
	                                 * head_timeout, idle_timeout */
	const struct cidr_list *proxy_from;     /* trusted load balancers */
	struct l4proxy *l4;             /* the load balancer (must outlive) */
	struct ipcount *ipcount;        /* --max-conns-per-ip, shared; NULL
	                                 * for none (the balancer counts the
	                                 * bridged connection itself) */
};

/* Opens the listeners (inherited from the supervisor through
 * WARREN_FD_LBTLS, or bound here) and their TLS context (--lb-tls-cert and
 * --lb-tls-key, or the development CA's certificate under DATA/tls).
 * Without --lb-tls-listen it only bridges adopted connections. Returns 0
 * and sets *out, or -1 after logging why. */
int l4tls_new(struct l4tls **out, struct ev_loop *loop,
    const struct l4tls_conf *c);
/* Closes the listeners and every connection. NULL is a no-op. */
void l4tls_free(struct l4tls *t);
/* Loads the listeners' certificate again (SIGHUP); on failure the old one
 * stays. Connections keep the one they started with. */
void l4tls_reload(struct l4tls *t);
/* Stops accepting (drain). */
void l4tls_stop_listening(struct l4tls *t);
/* Open connections (handshaking or bridged); 0 for NULL. */
size_t l4tls_conns(const struct l4tls *t);

/* Takes over a TLS connection whose handshake is done (io, from
 * tls_io_server; not in batch mode) and sends it to a backend of app, for
 * the client at *peer: first[len] then more[more_len] go to the backend
 * before the rest of the plaintext (and what OpenSSL already holds).
 * Returns 0: io's SSL and fd are this module's now, and io is reset to no
 * SSL and fd -1. Returns -1: io is untouched, the caller still owns it. */
int l4tls_adopt(struct l4tls *t, struct tls_io *io,
    const struct sockaddr_storage *peer, const char *app, const void *first,
    size_t len, const void *more, size_t more_len);

/* The counters as /metrics samples into items[n..max); returns the new n. */
size_t l4tls_stats(const struct l4tls *t, struct ipcmsg_stat *items, size_t n,
    size_t max);

#endif
