/* SPDX-License-Identifier: MIT */
/*
 * The pieces behind tokend's connection limits (issue 7, item 2), without a
 * daemon: the token bucket (tokend/ratelimit.c), the tokend { } settings
 * for connections, and the actor match that decides who counts as
 * unprivileged (pt_policy_is_actor).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../tokend/conf.h"
#include "policy.h"
#include "ratelimit.h"

static void test_bucket(void **state)
{
	struct pt_ratelimit b = { 0 };

	(void)state;
	/* 3 per 1000 ms: a burst of 3, then one more every 333 ms */
	for (int i = 0; i < 3; i++)
		assert_true(pt_ratelimit_take(&b, 3, 1000, 5000));
	assert_false(pt_ratelimit_take(&b, 3, 1000, 5000));
	assert_false(pt_ratelimit_take(&b, 3, 1000, 5332));
	assert_true(pt_ratelimit_take(&b, 3, 1000, 5334));
	assert_false(pt_ratelimit_full(&b, 3, 1000, 5334));
	assert_true(pt_ratelimit_full(&b, 3, 1000, 6334));
	/* a refused take takes nothing */
	assert_false(pt_ratelimit_take(&b, 3, 1000, 5335));
	uint64_t wait = 0;
	assert_false(pt_ratelimit_peek(&b, 3, 1000, 5335, &wait));
	assert_true(wait > 0 && wait <= 333);
	/* n == 0 or period == 0: no limit */
	assert_true(pt_ratelimit_take(&b, 0, 1000, 1));
	assert_true(pt_ratelimit_take(&b, 3, 0, 1));
	/* large values do not overflow: 1000000 per ten years, in ms */
	struct pt_ratelimit big = { 0 };
	uint64_t ten_years = (uint64_t)3650 * 86400 * 1000;
	assert_true(pt_ratelimit_take(&big, 1000000, ten_years, 1));
	assert_true(pt_ratelimit_level(&big, 1000000, ten_years, ten_years - 2) <=
		    (uint64_t)1000000 * 1000);
	assert_true(pt_ratelimit_full(&big, 1000000, ten_years, ten_years + 10));
}

static struct pt_config *load(const char *text, char *err, size_t errlen)
{
	struct pt_config *cfg = NULL;

	if (pt_config_load_string(text, "t.conf", &cfg, err, errlen) < 0)
		return NULL;
	return cfg;
}

static void test_settings(void **state)
{
	struct pt_config *cfg;
	char err[512];

	(void)state;
	cfg = load("", err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->max_connections_per_uid, 8);
	assert_int_equal(cfg->reserved_connections, 32);
	assert_int_equal(cfg->max_connection_lifetime, 30);
	assert_int_equal(cfg->uid_rate_n, 20);
	assert_int_equal(cfg->uid_rate_period, 1);
	pt_config_free(cfg);

	cfg = load("tokend: { max_connections = 40; max_connections_per_uid = 3;\n"
		   "  max_connection_lifetime = \"2m\"; uid_request_rate = \"100/1h\"; };",
		   err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->reserved_connections, 10); /* a quarter of 40 */
	assert_int_equal(cfg->max_connections_per_uid, 3);
	assert_int_equal(cfg->max_connection_lifetime, 120);
	assert_int_equal(cfg->uid_rate_n, 100);
	assert_int_equal(cfg->uid_rate_period, 3600);
	pt_config_free(cfg);

	static const char *const bad[][2] = {
		{ "tokend: { max_connections = 8; reserved_connections = 8; };",
		  "t.conf:1: tokend.reserved_connections (8) must be less than" },
		{ "tokend: { reserved_connections = 200; };", "(128, the default)" },
		{ "tokend: { uid_request_rate = \"20\"; };", "is not a rate" },
		{ "tokend: { uid_request_rate = \"0/1s\"; };", "is not a rate" },
		{ "tokend: { max_connection_lifetime = \"2d\"; };", "too long (max 1d)" },
		{ "tokend: { max_connections_per_uid = 0; };", "must be between 1" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cfg = load(bad[i][0], err, sizeof(err));
		if (cfg || !strstr(err, bad[i][1]))
			fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i][0], err, bad[i][1]);
	}
}

/* Who shares the reserved connections: root by uid, others by actor. */
static void test_is_actor(void **state)
{
	struct pt_config *cfg;
	char err[512];

	(void)state;
	cfg = load("actors = ( { name = \"svc\"; uid = 1234; exe = [ \"/usr/bin/svc\" ];\n"
		   "              services = [ \"svc\" ]; } );",
		   err, sizeof(err));
	assert_non_null(cfg);
	/* whatever service it would name */
	assert_true(pt_policy_is_actor(cfg, 1234, "/usr/bin/svc"));
	assert_null(pt_policy_match_actor(cfg, 1234, "/usr/bin/svc", "other"));
	assert_false(pt_policy_is_actor(cfg, 1234, "/usr/bin/other"));
	assert_false(pt_policy_is_actor(cfg, 1234, NULL));
	assert_false(pt_policy_is_actor(cfg, 1000, "/usr/bin/svc"));
	pt_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_is_actor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
