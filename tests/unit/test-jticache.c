/* SPDX-License-Identifier: MIT */
/* Unit tests for tokend/jticache.c: the replay cache of external JWTs. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "jticache.h"

#define NOW 1800000000ull
#define ISS "https://idp.example"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-jticache.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A jti is refused a second time, by another instance (a restart) too; the
 * same jti of another issuer is another token. */
static void test_replay_survives_restart(void **state)
{
	struct pt_jticache *c = NULL;
	char sub[128];

	(void)state;
	snprintf(sub, sizeof(sub), "%s/jti", dir);
	assert_int_equal(pt_jticache_open(sub, &c), 0);
	assert_int_equal(pt_jticache_add(c, ISS, "a", NOW + 100, NOW, 10), 0);
	assert_int_equal(pt_jticache_add(c, ISS, "a", NOW + 100, NOW + 1, 10), -EEXIST);
	assert_int_equal(pt_jticache_add(c, "https://other", "a", NOW + 100, NOW, 10), 0);
	pt_jticache_close(c);
	c = NULL;
	assert_int_equal(pt_jticache_open(sub, &c), 0);
	assert_int_equal(pt_jticache_add(c, ISS, "a", NOW + 100, NOW + 2, 10), -EEXIST);
	/* kept until keep_until, forgotten after */
	assert_int_equal(pt_jticache_add(c, ISS, "a", NOW + 300, NOW + 101, 10), 0);
	pt_jticache_close(c);
}

/* A torn last line (a crash mid-append) must not swallow the next entry: a
 * jti recorded after it is still refused after a restart. */
static void test_torn_line(void **state)
{
	struct pt_jticache *c = NULL;
	char sub[128], cmd[512];

	(void)state;
	snprintf(sub, sizeof(sub), "%s/torn", dir);
	assert_int_equal(pt_jticache_open(sub, &c), 0);
	assert_int_equal(pt_jticache_add(c, ISS, "a", NOW + 100, NOW, 10), 0);
	pt_jticache_close(c);
	c = NULL;
	/* the issuer's one file, cut in the middle of a second line */
	snprintf(cmd, sizeof(cmd), "for f in '%s'/*; do printf '1800000100 12ab' >>\"$f\"; done",
		 sub);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(pt_jticache_open(sub, &c), 0);
	assert_int_equal(pt_jticache_add(c, ISS, "b", NOW + 100, NOW, 10), 0);
	pt_jticache_close(c);
	c = NULL;
	assert_int_equal(pt_jticache_open(sub, &c), 0);
	assert_int_equal(pt_jticache_add(c, ISS, "a", NOW + 100, NOW + 1, 10), -EEXIST);
	assert_int_equal(pt_jticache_add(c, ISS, "b", NOW + 100, NOW + 1, 10), -EEXIST);
	pt_jticache_close(c);
}

/* A full cache refuses rather than forgets; lapsed entries make room. */
static void test_full_refuses(void **state)
{
	struct pt_jticache *c = NULL;
	char sub[128], jti[16];

	(void)state;
	snprintf(sub, sizeof(sub), "%s/full", dir);
	assert_int_equal(pt_jticache_open(sub, &c), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(jti, sizeof(jti), "j%d", i);
		assert_int_equal(pt_jticache_add(c, ISS, jti, NOW + 10 + (uint64_t)i, NOW, 3), 0);
	}
	assert_int_equal(pt_jticache_add(c, ISS, "j3", NOW + 50, NOW, 3), -ENOSPC);
	assert_int_equal(pt_jticache_add(c, ISS, "j3", NOW + 50, NOW + 11, 3), 0);
	/* many lapsed lines: the file is rewritten, the live ones kept */
	for (int i = 0; i < 200; i++) {
		snprintf(jti, sizeof(jti), "k%d", i);
		assert_int_equal(pt_jticache_add(c, ISS, jti, NOW + 20, NOW + 19, 1000), 0);
	}
	assert_int_equal(pt_jticache_add(c, ISS, "m", NOW + 100, NOW + 30, 1000), 0);
	pt_jticache_close(c);
	c = NULL;
	assert_int_equal(pt_jticache_open(sub, &c), 0);
	assert_int_equal(pt_jticache_add(c, ISS, "j3", NOW + 50, NOW + 31, 1000), -EEXIST);
	assert_int_equal(pt_jticache_add(c, ISS, "m", NOW + 100, NOW + 31, 1000), -EEXIST);
	pt_jticache_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_survives_restart),
		cmocka_unit_test(test_full_refuses),
		cmocka_unit_test(test_torn_line),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
