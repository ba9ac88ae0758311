/* fwd — streams other nodes forward here over the mesh.
 *
 * Each carries a FWD header (proto/meshmsg.h) naming a session of this
 * node and one of its tunnels. The tunnel's protections are checked here,
 * where its policy lives (allowed and denied addresses against the original
 * client address; basic auth against the Authorization of the request that
 * opened the stream), then a stream is opened in the client's session and
 * bytes are relayed both ways: what one stream delivers is written into the
 * other, and its credit goes back only once the other took it, so flow
 * control holds end to end and memory per stream is bounded by one window
 * each way. Hop limit 1: a stream for a session that is not here is refused
 * with a reason, never forwarded again. */
#ifndef WARREN_FWD_H
#define WARREN_FWD_H

#include <stddef.h>
#include <stdint.h>

struct acceptor;
struct mux_stream;

/* mesh on_open handler (arg: the acceptor). Always takes st: relays it, or
 * resets it with a reason and a counter. Returns 0. */
int fwd_accept(void *arg, const char *peer, struct mux_stream *st,
    const uint8_t *hdr, size_t len);

#endif
