/* hlc — a hybrid logical clock (Kulkarni et al.), as Corrosion stamps its
 * changes.
 *
 * A stamp is one u64: the upper 48 bits are unix milliseconds, the lower 16
 * a counter that orders events within one millisecond. hlc_now() never goes
 * backwards even when the wall clock does, and hlc_observe() moves the clock
 * past every stamp seen from a peer, so a change made after seeing another
 * always carries a larger stamp, whatever the skew between the two nodes.
 * The caller passes the wall clock in, so tests run on a fake one. */
#ifndef WARREN_HLC_H
#define WARREN_HLC_H

#include <stdint.h>

#define HLC_LOGICAL_BITS        16
/* A peer's stamp further than this ahead of our wall clock is still taken
 * (refusing it would stop convergence) but counted as skew. */
#define HLC_MAX_DRIFT_MS        60000

struct hlc {
	uint64_t last;                  /* largest stamp issued or observed */
	uint64_t drift_seen;            /* peer stamps beyond HLC_MAX_DRIFT_MS */
};

/* A new stamp at wall time wall_ms, larger than any issued or observed. */
uint64_t hlc_now(struct hlc *h, uint64_t wall_ms);
/* Moves the clock past a peer's stamp. */
void hlc_observe(struct hlc *h, uint64_t stamp, uint64_t wall_ms);
/* The wall-clock milliseconds of a stamp. */
uint64_t hlc_ms(uint64_t stamp);

#endif
