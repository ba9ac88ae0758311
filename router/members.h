/* members — the router's copy of the cluster member list.
 *
 * Fed by gossip's MEMBERS messages (proto/ipcmsg.h): a snapshot replaces
 * the list; events (seq = previous + 1) update one member; beacons carry
 * gossip's counters. A message from another gossip epoch, an event that
 * skips a seq or a beacon ahead of us means something was missed: the
 * caller asks gossip for a snapshot (MEMBERS_REQ). */
#ifndef WARREN_MEMBERS_H
#define WARREN_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>

#include "ipcmsg.h"

struct members;

/* An empty list, not yet in sync. Returns 0 and sets *out, or -ENOMEM. */
int members_new(struct members **out);
/* NULL is a no-op. */
void members_free(struct members *ms);

/* Applies a decoded MEMBERS message (copied; m stays the caller's).
 * Returns 0, 1 when a snapshot is needed (nothing applied but counters),
 * or -ENOMEM. */
int members_apply(struct members *ms, const struct ipcmsg_members *m);
/* True once a snapshot has been applied. */
bool members_synced(const struct members *ms);

/* Members in name order, ourselves included; pointers are valid until the
 * next members_apply(). */
size_t members_count(const struct members *ms);
const struct ipcmsg_member *members_at(const struct members *ms, size_t i);
/* The member called name, or NULL (valid until the next members_apply). */
const struct ipcmsg_member *members_get(const struct members *ms,
    const char *name);
/* Members in a state (enum member_state). */
size_t members_count_state(const struct members *ms, uint8_t state);
/* gossip's counters from its last message. */
const struct ipcmsg_gossip_stats *members_stats(const struct members *ms);
/* Events applied and snapshots taken, for metrics. */
unsigned long long members_events(const struct members *ms);
unsigned long long members_snapshots(const struct members *ms);

#endif
