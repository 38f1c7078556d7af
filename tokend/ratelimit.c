/* SPDX-License-Identifier: MIT */
/* A token bucket: see ratelimit.h. The only one in tokend. */
#include "ratelimit.h"

#define MILLI 1000u /* thousandths per token */

uint64_t pt_ratelimit_level(const struct pt_ratelimit *b, uint32_t n, uint64_t period, uint64_t now)
{
	uint64_t cap = (uint64_t)n * MILLI, lvl;

	if (n == 0 || period == 0)
		return UINT64_MAX;
	if (b->ts == 0)
		return cap;
	lvl = b->milli > cap ? cap : b->milli;
	if (now > b->ts) {
		uint64_t dt = now - b->ts;
		/* refill n tokens per period; a whole period refills all (no overflow) */
		uint64_t add =
			dt >= period ? cap : (uint64_t)((unsigned __int128)dt * cap / period);
		lvl = cap - lvl < add ? cap : lvl + add;
	}
	return lvl;
}

bool pt_ratelimit_peek(const struct pt_ratelimit *b, uint32_t n, uint64_t period, uint64_t now,
		       uint64_t *ret_wait)
{
	uint64_t lvl = pt_ratelimit_level(b, n, period, now);

	if (lvl >= MILLI)
		return true;
	if (ret_wait) {
		uint64_t cap = (uint64_t)n * MILLI;
		/* < period: the product needs 128 bits for periods near UINT64_MAX */
		*ret_wait = (uint64_t)(((unsigned __int128)(MILLI - lvl) * period + cap - 1) / cap);
	}
	return false;
}

bool pt_ratelimit_take(struct pt_ratelimit *b, uint32_t n, uint64_t period, uint64_t now)
{
	uint64_t lvl = pt_ratelimit_level(b, n, period, now);

	if (n == 0 || period == 0)
		return true;
	if (lvl < MILLI)
		return false;
	b->milli = lvl - MILLI;
	b->ts = now ? now : 1;
	return true;
}

bool pt_ratelimit_full(const struct pt_ratelimit *b, uint32_t n, uint64_t period, uint64_t now)
{
	return n == 0 || period == 0 ||
	       pt_ratelimit_level(b, n, period, now) >= (uint64_t)n * MILLI;
}
