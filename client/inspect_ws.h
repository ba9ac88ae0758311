/* inspect_ws — counts WebSocket frames (RFC 6455) on one direction of an
 * upgraded connection, for the request inspector.
 *
 * Sans-IO and bounded: it reads only frame headers (2 to 14 bytes, kept
 * across calls) and skips payloads by length; nothing else is held. A
 * length with its top bit set (not allowed by the RFC) stops the count. */
#ifndef WARREN_INSPECT_WS_H
#define WARREN_INSPECT_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct inspect_ws {
	uint8_t hdr[14];
	uint8_t have;           /* header bytes collected */
	uint64_t skip;          /* payload bytes of the current frame left */
	uint64_t frames;        /* frame headers seen */
	uint64_t bytes;         /* payload bytes seen */
	bool bad;               /* not a frame stream: counting stopped */
};

/* Zeroes the counter. */
void inspect_ws_init(struct inspect_ws *w);
/* Counts the frames in p[0..len), which follows the bytes fed before. */
void inspect_ws_feed(struct inspect_ws *w, const uint8_t *p, size_t len);

#endif
