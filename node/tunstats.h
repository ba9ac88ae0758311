/* tunstats — per-tunnel traffic counters for /metrics with a bounded label
 * set: requests and bytes each way by tunnel name ("http:alice.example.com",
 * "tls:secure.example.com", "tcp:20001"), of which only the busiest
 * TUNSTATS_TOP are published by name and the rest summed as "other".
 *
 * At most `max` names are tracked (the first seen); later ones count
 * straight into "other", so memory stays bounded whatever names the public
 * side brings. Entries live as long as the table: pointers to them stay
 * valid, and a connection keeps its entry. */
#ifndef WARREN_TUNSTATS_H
#define WARREN_TUNSTATS_H

#include <stddef.h>
#include <stdint.h>

#define TUNSTATS_TOP            10
#define TUNSTATS_DEFAULT_MAX    1024
#define TUNSTATS_NAME_MAX       260

struct tunstats;

struct tunstats_entry {
	uint64_t requests;
	uint64_t bytes_in, bytes_out;   /* from / to the public client */
	char name[TUNSTATS_NAME_MAX];
};

/* Returns a table tracking up to max names (0: the default), or NULL. */
struct tunstats *tunstats_new(size_t max);
/* NULL is a no-op. */
void tunstats_free(struct tunstats *t);

/* The entry for name, added if new; the "other" entry when the table is
 * full or on ENOMEM. Never NULL. */
struct tunstats_entry *tunstats_get(struct tunstats *t, const char *name);

typedef void tunstats_emit_cb(void *arg, const struct tunstats_entry *e);
/* Calls emit for the `top` entries with the most bytes (then requests),
 * busiest first, and once more for "other" holding the sum of the rest
 * (always, so the series exist from the start). */
void tunstats_top(const struct tunstats *t, size_t top, tunstats_emit_cb *emit,
    void *arg);

#endif
