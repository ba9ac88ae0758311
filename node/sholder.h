/* sholder — who holds a tunnel stream, found through its data pointer.
 *
 * A stream of a client's session or of a mesh link is held by a public
 * connection (pconn.c) or by a stream forwarded from another node (fwd.c).
 * The holder's first member is a struct sholder naming its callbacks, so
 * the session and the mesh hand every stream event on without knowing
 * what holds it. */
#ifndef WARREN_SHOLDER_H
#define WARREN_SHOLDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mux.h"

struct sholder_ops {
	void (*on_data)(struct mux_stream *st, const uint8_t *p, size_t len);
	void (*on_fin)(struct mux_stream *st);
	void (*on_reset)(struct mux_stream *st, int code, const char *reason);
	void (*on_writable)(struct mux_stream *st);
	/* Zero-copy input as pconn_splice_in(); NULL: the holder copies. */
	ssize_t (*splice_in)(struct mux_stream *st, int from, size_t left);
};

/* The first member of a stream's holder; mux_stream_data() points at it. */
struct sholder {
	const struct sholder_ops *ops;
};

/* Stream callbacks that dispatch to the holder, for a mux's table. */
void sholder_on_data(struct mux_stream *st, const uint8_t *p, size_t len);
void sholder_on_fin(struct mux_stream *st);
void sholder_on_reset(struct mux_stream *st, int code, const char *reason);
void sholder_on_writable(struct mux_stream *st);
/* The same four in a table (the other callbacks NULL). */
extern const struct mux_callbacks sholder_mux_cb;

/* The holder's splice_in, or 0 (copy) when it has none. */
ssize_t sholder_splice_in(struct mux_stream *st, int from, size_t left);

#endif
