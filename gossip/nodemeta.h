/* nodemeta — the metadata blob a node gossips about itself.
 *
 * Carried opaquely by the SWIM core (swim_config.meta, SWIMMSG_META_MAX):
 *
 *     u8 version (NODEMETA_VERSION), then strings, each u8 length + bytes:
 *     http address, tunnel address, software version, mesh address,
 *     replication summary ("<actor>:<version>:<digest prefix>:<rows>")
 *
 * Name, region and the mesh address travel in the core's own fields. A
 * later version appends strings; a reader ignores what it does not know. */
#ifndef WARREN_NODEMETA_H
#define WARREN_NODEMETA_H

#include <stddef.h>
#include <stdint.h>

#define NODEMETA_VERSION        1
#define NODEMETA_STR_MAX        128     /* bytes of one field */

struct nodemeta {
	char http[NODEMETA_STR_MAX + 1];        /* "ip:port" or "" */
	char tunnel[NODEMETA_STR_MAX + 1];
	char version[NODEMETA_STR_MAX + 1];
	char mesh[NODEMETA_STR_MAX + 1];        /* forwarding address, "" */
	char repl[NODEMETA_STR_MAX + 1];        /* replication summary, "" */
};

/* Encodes m into buf[0..cap). Returns the length, or -ENOSPC / -EINVAL (a
 * field longer than NODEMETA_STR_MAX). */
int nodemeta_encode(const struct nodemeta *m, uint8_t *buf, size_t cap);
/* Decodes untrusted bytes into *m (fields missing at the end are "").
 * Returns 0, or -EINVAL (truncated, NUL inside, unknown version); on
 * failure *m is all "". An empty blob decodes to all "". */
int nodemeta_decode(struct nodemeta *m, const void *buf, size_t len);

#endif
