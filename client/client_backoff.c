#include "client_backoff.h"

void
client_backoff_init(struct client_backoff *b, uint32_t min_ms, uint32_t max_ms,
    uint32_t reset_ms)
{
	b->min_ms = min_ms ? min_ms : 1;
	b->max_ms = max_ms < b->min_ms ? b->min_ms : max_ms;
	b->reset_ms = reset_ms;
	b->attempt = 0;
}

uint32_t
client_backoff_base(const struct client_backoff *b)
{
	uint64_t base = b->min_ms;
	uint32_t i;

	for (i = 0; i < b->attempt && base < b->max_ms; i++)
		base *= 2;
	return base > b->max_ms ? b->max_ms : (uint32_t)base;
}

uint32_t
client_backoff_next(struct client_backoff *b, uint64_t uptime_ms, uint32_t rnd)
{
	uint32_t base, half;

	if (uptime_ms >= b->reset_ms && uptime_ms > 0)
		b->attempt = 0;
	base = client_backoff_base(b);
	if (b->attempt < 64)
		b->attempt++;
	half = base / 2;
	return half + rnd % (base - half + 1);
}

void
client_backoff_reset(struct client_backoff *b)
{
	b->attempt = 0;
}
