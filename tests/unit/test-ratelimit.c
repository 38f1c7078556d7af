/* SPDX-License-Identifier: MIT */
/*
 * The token bucket (tokend/ratelimit.c), the only one in tokend: one row per
 * case (refill, burst cap, slow refills, time going backwards, no limit,
 * huge periods), then the users of it: the issue rate of history.c (ms)
 * and the code records of codes.c (bucket_milli / bucket_ts on disk).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "codes.h"
#include "history.h"
#include "ratelimit.h"
#include "util.h"

#define TEN_YEARS ((uint64_t)3650 * 86400)
#define NO_LIMIT UINT64_MAX
#define MAX_CAP ((uint64_t)UINT32_MAX * 1000) /* the most thousandths a bucket holds */

struct in {
	uint32_t n;
	uint64_t period;
	struct pt_ratelimit before;
	uint64_t now;
};

struct want {
	uint64_t level; /* pt_ratelimit_level */
	bool full;	/* pt_ratelimit_full */
	uint64_t wait;	/* pt_ratelimit_peek's wait when no token is available, else 0 */
	bool take;	/* pt_ratelimit_take */
	struct pt_ratelimit after;
};

static const struct {
	const char *name;
	struct in in;
	struct want want;
} cases[] = {
	{ "a fresh bucket is full",
	  { 3, 1000, { 0, 0 }, 5000 },
	  { 3000, true, 0, true, { 2000, 5000 } } },
	{ "a take at time 0 still marks the bucket used",
	  { 3, 1000, { 0, 0 }, 0 },
	  { 3000, true, 0, true, { 2000, 1 } } },
	{ "partial refill: 333 of 1000 ms give 0.999 token",
	  { 3, 1000, { 0, 1000 }, 1333 },
	  { 999, false, 1, false, { 0, 1000 } } },
	{ "refill: 334 ms give one token",
	  { 3, 1000, { 0, 1000 }, 1334 },
	  { 1002, false, 0, true, { 2, 1334 } } },
	{ "burst cap: a long idle time refills n tokens, no more",
	  { 3, 1000, { 0, 1000 }, 1000000 },
	  { 3000, true, 0, true, { 2000, 1000000 } } },
	{ "burst cap: a stored level above n counts as n",
	  { 3, 1000, { 99999, 1000 }, 1000 },
	  { 3000, true, 0, true, { 2000, 1000 } } },
	{ "empty: the wait is the time to one token, rounded up",
	  { 3, 1000, { 0, 1000 }, 1000 },
	  { 0, false, 334, false, { 0, 1000 } } },
	{ "slow refill: 1 per ten years gains a thousandth per 1/1000 period",
	  { 1, TEN_YEARS, { 0, 1 }, 1 + TEN_YEARS / 1000 },
	  { 1, false, TEN_YEARS - TEN_YEARS / 1000, false, { 0, 1 } } },
	{ "slow refill: one second short of the period is not a token",
	  { 1, TEN_YEARS, { 0, 1 }, TEN_YEARS },
	  { 999, false, TEN_YEARS / 1000, false, { 0, 1 } } },
	{ "slow refill: the whole period is a token",
	  { 1, TEN_YEARS, { 0, 1 }, 1 + TEN_YEARS },
	  { 1000, true, 0, true, { 0, 1 + TEN_YEARS } } },
	{ "slow refill in ms: 1 per ten years",
	  { 1, TEN_YEARS * 1000, { 0, 1 }, 1 + TEN_YEARS },
	  { 1, false, TEN_YEARS * 1000 - TEN_YEARS, false, { 0, 1 } } },
	{ "time going backwards refills nothing",
	  { 3, 1000, { 1500, 10000 }, 5000 },
	  { 1500, false, 0, true, { 500, 5000 } } },
	{ "time going backwards, empty: no token",
	  { 3, 1000, { 500, 10000 }, 5000 },
	  { 500, false, 167, false, { 500, 10000 } } },
	{ "n == 0: no limit",
	  { 0, 1000, { 0, 10000 }, 5000 },
	  { NO_LIMIT, true, 0, true, { 0, 10000 } } },
	{ "period == 0: no limit",
	  { 3, 0, { 0, 10000 }, 5000 },
	  { NO_LIMIT, true, 0, true, { 0, 10000 } } },
	{ "huge period: the refill does not overflow",
	  { 1000000, UINT64_MAX, { 0, 1 }, UINT64_MAX - 1 },
	  { 999999999, false, 0, true, { 999998999, UINT64_MAX - 1 } } },
	{ "huge period: the wait does not overflow",
	  { 1, UINT64_MAX, { 0, 1 }, 2 },
	  { 0, false, UINT64_MAX, false, { 0, 1 } } },
	{ "huge n and time: a whole period refills n",
	  { UINT32_MAX, UINT64_MAX - 1, { 0, 1 }, UINT64_MAX },
	  { MAX_CAP, true, 0, true, { MAX_CAP - 1000, UINT64_MAX } } },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		const char *name = cases[i].name;
		const struct in *in = &cases[i].in;
		const struct want *w = &cases[i].want;
		struct pt_ratelimit b = in->before;
		uint64_t wait = 0, lvl = pt_ratelimit_level(&b, in->n, in->period, in->now);
		bool avail = pt_ratelimit_peek(&b, in->n, in->period, in->now, &wait);
		bool full = pt_ratelimit_full(&b, in->n, in->period, in->now);
		bool took;

		if (lvl != w->level)
			fail_msg("%s: level %llu, want %llu", name, (unsigned long long)lvl,
				 (unsigned long long)w->level);
		if (full != w->full)
			fail_msg("%s: full %d, want %d", name, full, w->full);
		if (avail == (w->wait != 0) || (!avail && wait != w->wait))
			fail_msg("%s: peek %d wait %llu, want wait %llu", name, avail,
				 (unsigned long long)wait, (unsigned long long)w->wait);
		took = pt_ratelimit_take(&b, in->n, in->period, in->now);
		if (took != w->take || b.milli != w->after.milli || b.ts != w->after.ts)
			fail_msg("%s: take %d -> {%llu, %llu}, want %d -> {%llu, %llu}", name, took,
				 (unsigned long long)b.milli, (unsigned long long)b.ts, w->take,
				 (unsigned long long)w->after.milli,
				 (unsigned long long)w->after.ts);
		/* peek said a token was there exactly when take took it */
		if (in->n && in->period && took != avail)
			fail_msg("%s: peek %d but take %d", name, avail, took);
	}
}

/* A sequence: n at once, then one per period / n, never more than n banked. */
static void test_sequence(void **state)
{
	struct pt_ratelimit b = { 0 };
	uint64_t t = 1000000;

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_true(pt_ratelimit_take(&b, 5, 60, t));
	assert_false(pt_ratelimit_take(&b, 5, 60, t));
	/* refused takes and peeks change nothing: polling does not lose the refill */
	for (uint64_t s = 1; s < 12; s++) {
		assert_false(pt_ratelimit_take(&b, 5, 60, t + s));
		assert_false(pt_ratelimit_peek(&b, 5, 60, t + s, NULL));
	}
	assert_true(pt_ratelimit_take(&b, 5, 60, t + 12));
	assert_false(pt_ratelimit_take(&b, 5, 60, t + 12));
	/* a day later: 5, not 1440 */
	for (int i = 0; i < 5; i++)
		assert_true(pt_ratelimit_take(&b, 5, 60, t + 86400));
	assert_false(pt_ratelimit_take(&b, 5, 60, t + 86400));
}

/* history.c's issue rate: the same bucket in ms; slow rates are not rounded
 * away (the floating-point bucket it replaced kept fractions too). */
static void test_history_rate(void **state)
{
	struct pt_history *h = NULL;
	uint64_t t = 5000, ms = TEN_YEARS * 1000;

	(void)state;
	assert_int_equal(pt_history_open(NULL, &h, NULL), 0);
	assert_true(pt_history_rate_take(h, "alice", 1, TEN_YEARS, t));
	assert_false(pt_history_rate_take(h, "alice", 1, TEN_YEARS, t + ms - 1));
	assert_true(pt_history_rate_take(h, "alice", 1, TEN_YEARS, t + ms));
	assert_false(pt_history_rate_take(h, "alice", 1, TEN_YEARS, t + ms));
	/* 2 per 3 s: the third comes after 1.5 s */
	assert_true(pt_history_rate_take(h, "bob", 2, 3, t));
	assert_true(pt_history_rate_take(h, "bob", 2, 3, t));
	assert_false(pt_history_rate_take(h, "bob", 2, 3, t + 1499));
	assert_true(pt_history_rate_take(h, "bob", 2, 3, t + 1500));
	/* a period too large for ms saturates instead of wrapping to a short one */
	assert_true(pt_history_rate_take(h, "carol", 1, UINT64_MAX / 10, t));
	assert_false(pt_history_rate_take(h, "carol", 1, UINT64_MAX / 10, t + ms));
	pt_history_free(h);
}

/* Code records keep the bucket as bucket_milli / bucket_ts: records written
 * before the bucket moved to ratelimit.h load the same and are written back
 * the same. */
static void test_code_record_bucket(void **state)
{
	static const char old[] = "type=recovery\nuser=alice\n"
				  "iat=10\nlast_used=11\nhard_exp=12\nuses=1\nfailures=2\n"
				  "locked_until=0\nbucket_milli=1500\nbucket_ts=1000000\n";
	struct pt_code_rec rec;
	char text[1024];
	int n;

	(void)state;
	assert_int_equal(pt_codes_parse(old, strlen(old), "recovery", "alice", &rec, NULL, 0), 0);
	assert_int_equal(rec.bucket.milli, 1500);
	assert_int_equal(rec.bucket.ts, 1000000);
	/* 3 per hour: 1.5 tokens banked, one more after 20 minutes */
	assert_true(pt_ratelimit_take(&rec.bucket, 3, 3600, 1000000));
	assert_false(pt_ratelimit_take(&rec.bucket, 3, 3600, 1000000));
	assert_true(pt_ratelimit_take(&rec.bucket, 3, 3600, 1000000 + 600));
	n = pt_codes_format(&rec, text, sizeof(text));
	assert_true(n > 0);
	assert_non_null(strstr(text, "\nbucket_milli=0\nbucket_ts=1000600\n"));
	n = pt_codes_format(&(struct pt_code_rec){ .type = "recovery", .user = "alice" }, text,
			    sizeof(text));
	assert_true(n > 0);
	assert_non_null(strstr(text, "\nbucket_milli=0\nbucket_ts=0\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_history_rate),
		cmocka_unit_test(test_code_record_bucket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
