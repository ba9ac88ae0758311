/* replica — the tunnel replicas of grouped names (`warren http --group`)
 * as load-balancing candidates.
 *
 * A group is an app: its replicas join the static backends of the app of
 * the same name (routing.db's `backends`), and one decision (node/lbset,
 * proto/lbpick) picks among them all, whichever way the client came: by
 * the grouped name's Host or SNI, by a `domains` name of the app, or on an
 * --lb-listen listener of the app. Each replica has the region of the node
 * holding its session (or the client's --region), its --weight and limits;
 * the counts are this node's connections to it. A replica here is reached
 * through its session, one on another node over the mesh. */
#ifndef WARREN_REPLICA_H
#define WARREN_REPLICA_H

#include <stdint.h>

struct acceptor;

/* After the route table changed: gives the load balancer the replicas of
 * every group, once each, when they may have changed. */
void replica_sync(struct acceptor *a);

#endif
