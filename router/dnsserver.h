/* dnsserver — the internal DNS on the router's loop: UDP and TCP on one
 * address, each query answered by dnsmsg_answer() with the backend that
 * the load-balancing decision (router/lbexplain.h, proto/lbpick.h) picks
 * for the asking address, among APP's backends only.
 *
 * Bounded: a UDP datagram of at most DNSSERVER_UDP_MAX bytes (larger ones
 * are dropped and counted), at most DNSSERVER_TCP_MAX TCP connections, each
 * closed after DNSSERVER_TCP_TIMEOUT seconds idle; a TCP message is at most
 * 65535 bytes by its length prefix, read into a buffer of that size only
 * while it arrives. */
#ifndef WARREN_DNSSERVER_H
#define WARREN_DNSSERVER_H

#include <ev.h>
#include <stddef.h>

#define DNSSERVER_UDP_MAX       4096
#define DNSSERVER_TCP_MAX       64
#define DNSSERVER_TCP_TIMEOUT   10.0

struct dnsserver;
struct lbexplain;

/* Listens on `listen` (TCP and UDP, same port; port 0: the kernel picks
 * one free for both). Answers names under `domain` from x
 * (borrowed; it must outlive the server). Returns 0 and sets *out (bound:
 * the address), -EINVAL for a malformed address, or -errno. */
int dnsserver_open(struct dnsserver **out, struct ev_loop *loop,
    const char *listen, const char *domain, struct lbexplain *x, char *bound,
    size_t boundlen);
/* NULL is a no-op. */
void dnsserver_close(struct dnsserver *d);

struct dnsserver_stats {
	unsigned long long queries, answers, nodata, nxdomain, refused, notimp;
	unsigned long long formerr, servfail, dropped;
};
void dnsserver_stats(const struct dnsserver *d, struct dnsserver_stats *out);

#endif
