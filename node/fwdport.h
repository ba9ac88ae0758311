/* fwdport — this node's listeners on the TCP tunnel ports other nodes hold.
 *
 * Every node listens on every live TCP tunnel's public port, so a client
 * may connect to any node. The set follows the route table: after each
 * change (fwdport_sync) a port held online by another node's tunnel gets a
 * listener here, and one no longer held elsewhere loses it. Accepted
 * connections go to the on_accept callback with the holder. */
#ifndef WARREN_FWDPORT_H
#define WARREN_FWDPORT_H

#include <ev.h>
#include <stdbool.h>

struct fwdport;
struct routes;
struct route_claim;
struct sock_addr;

/* Called with an accepted non-blocking fd (the callee owns it). */
typedef void fwdport_accept_cb(void *arg, int fd, unsigned port,
    const struct route_claim *claim);

/* bind: the address the ports are bound on (its port is ignored), as for
 * this node's own tcp tunnels. Returns 0 and sets *out, or -ENOMEM. */
int fwdport_new(struct fwdport **out, struct ev_loop *loop,
    const struct sock_addr *bind, fwdport_accept_cb *cb, void *arg);
/* Closes every listener. NULL is a no-op. */
void fwdport_free(struct fwdport *fp);

/* Brings the listeners in line with the table's remote tcp routes. */
void fwdport_sync(struct fwdport *fp, struct routes *r);
/* Closes our listener on port, if any (a local tunnel wants the port).
 * Returns true if there was one. */
bool fwdport_release(struct fwdport *fp, unsigned port);
/* Listeners open, and ports the last sync could not bind (worth another
 * try later). */
size_t fwdport_count(const struct fwdport *fp);
size_t fwdport_busy(const struct fwdport *fp);

#endif
