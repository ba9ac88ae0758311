/* rctl — the acceptor's side of the router link: registration requests,
 * session ends, and the route table (snapshot + deltas over pub/sub). */
#ifndef WARREN_RCTL_H
#define WARREN_RCTL_H

#include <stdint.h>

#include "ipcmsg.h"

struct acceptor;

/* Dials router.ipc (req) and table.ipc (sub), sends ACCEPTOR_HELLO and asks
 * for a snapshot. Returns 0 or -errno. */
int rctl_start(struct acceptor *a);
void rctl_stop(struct acceptor *a);

/* Called with the router's answer (NULL when the router did not answer in
 * time); r is freed by rctl after the call. */
typedef void rctl_register_cb(struct acceptor *a, uint64_t session,
    uint32_t tunnel_id, const struct ipcmsg_registered *r);

/* Sends REGISTER for m; cb is called exactly once. m is copied. */
int rctl_register(struct acceptor *a, const struct ipcmsg_register *m,
    rctl_register_cb *cb);
/* Tells the router a session ended (fire and forget, retried by nng). */
void rctl_unregister(struct acceptor *a, uint64_t session);

#endif
