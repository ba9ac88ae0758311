#include "gossip/hlc.h"

#define HLC_LOGICAL_MASK        ((1ull << HLC_LOGICAL_BITS) - 1)

uint64_t
hlc_ms(uint64_t stamp)
{
	return stamp >> HLC_LOGICAL_BITS;
}

uint64_t
hlc_now(struct hlc *h, uint64_t wall_ms)
{
	uint64_t phys = wall_ms << HLC_LOGICAL_BITS;

	/* the counter overflowing into the millisecond bits is still a
	 * larger stamp: ordering holds */
	h->last = phys > h->last ? phys : h->last + 1;
	return h->last;
}

void
hlc_observe(struct hlc *h, uint64_t stamp, uint64_t wall_ms)
{
	if (hlc_ms(stamp) > wall_ms + HLC_MAX_DRIFT_MS)
		h->drift_seen++;
	if (stamp > h->last)
		h->last = stamp;
}
