/* client_backoff — reconnect delays: exponential growth with jitter.
 *
 * The n-th consecutive failure waits a random time in [base/2, base] where
 * base = min(max, min * 2^n) ("equal jitter": never a hot loop, never a
 * thundering herd). A session that stayed up at least reset_ms resets the
 * sequence. Pure: the caller supplies the randomness. */
#ifndef WARREN_CLIENT_BACKOFF_H
#define WARREN_CLIENT_BACKOFF_H

#include <stdint.h>

struct client_backoff {
	uint32_t min_ms;        /* base of the first delay */
	uint32_t max_ms;        /* cap on the base */
	uint32_t reset_ms;      /* uptime after which the sequence restarts */
	uint32_t attempt;       /* consecutive failures so far */
};

/* Sets the limits (min 0 is taken as 1, max below min as min) and attempt 0. */
void client_backoff_init(struct client_backoff *b, uint32_t min_ms,
    uint32_t max_ms, uint32_t reset_ms);
/* Base delay of the next attempt, before jitter. */
uint32_t client_backoff_base(const struct client_backoff *b);
/* Delay before the next attempt, given how long the last session was up
 * (0 if it never came up) and a random number; advances the sequence. */
uint32_t client_backoff_next(struct client_backoff *b, uint64_t uptime_ms,
    uint32_t rnd);
/* Starts the sequence over. */
void client_backoff_reset(struct client_backoff *b);

#endif
