/* probe — health checks of tunnel replicas, for this node's router.
 *
 * The router checks an app's backends itself (router/lbhealth.h); a
 * replica it cannot dial: it is a session, here or on another node. So the
 * acceptor listens on a unix socket in the data directory (probe.sock, mode
 * 0600: this node's processes only), and a check connects there and sends
 * one line naming the replica (proto/probemsg.h), after which the connection is a raw relay into a stream to that session
 * (over the mesh when node is another), and the check's own bytes (an
 * HTTP GET, or nothing) go to the replica's service. The stream skips the
 * tunnel's address and credential rules: it is the node's own check. A
 * line that is bad, late (2 s) or names no reachable session gets the
 * connection closed (counted). */
#ifndef WARREN_PROBE_H
#define WARREN_PROBE_H

#include <stdbool.h>
#include <stdint.h>

struct acceptor;
struct probe;

/* Listens on DATA/probe.sock. Returns 0 and sets *out, or -errno after
 * logging why. */
int probe_new(struct probe **out, struct acceptor *a, const char *data_dir);
/* Closes the listener and the checks still reading their line; NULL is a
 * no-op. */
void probe_free(struct probe *p);
/* Checks relayed (refused false), or lines refused. */
uint64_t probe_count(const struct probe *p, bool refused);

#endif
