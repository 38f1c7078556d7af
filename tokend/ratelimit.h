/* SPDX-License-Identifier: MIT */
/*
 * A token bucket: n tokens per period, at most n at once (the burst), kept in
 * thousandths of a token so that slow refills are not rounded away. Time is
 * whatever unit the caller uses for both now and period (seconds for
 * persisted buckets, monotonic milliseconds for in-memory ones); the bucket
 * is plain data, so it can live in a record that is saved and loaded
 * (codes.h keeps it as bucket_milli / bucket_ts).
 *
 * It is the only token bucket in tokend: the per-uid request rate
 * (server.c, monotonic ms), the issue rate of a rule (history.c, monotonic
 * ms) and the rates of code types (codes.h, unix seconds) all use it.
 *
 * A time earlier than the bucket's (a wall clock set back) refills nothing;
 * a take then restarts the bucket from that time, so that a clock set back
 * for good does not freeze the bucket until it catches up.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct pt_ratelimit {
	uint64_t milli; /* tokens (thousandths) ... */
	uint64_t ts;	/* ... as at this time; 0 = never used (full) */
};

/* Tokens (thousandths) available at now. n == 0 or period == 0: no limit
 * (UINT64_MAX). */
uint64_t pt_ratelimit_level(const struct pt_ratelimit *b, uint32_t n, uint64_t period,
			    uint64_t now);

/* Would a token be available at now? When not and ret_wait is not NULL, it
 * gets the time until one is (rounded up, in the caller's unit). */
bool pt_ratelimit_peek(const struct pt_ratelimit *b, uint32_t n, uint64_t period, uint64_t now,
		       uint64_t *ret_wait);

/* Takes a token if one is available at now; returns whether it did. */
bool pt_ratelimit_take(struct pt_ratelimit *b, uint32_t n, uint64_t period, uint64_t now);

/* True when the bucket is full at now (it can be forgotten). */
bool pt_ratelimit_full(const struct pt_ratelimit *b, uint32_t n, uint64_t period, uint64_t now);
