/* SPDX-License-Identifier: MIT */
/*
 * pt_free_secret (common/util.c) wipes a secret before its memory goes back
 * to the allocator: linked with -Wl,--wrap=free, so the bytes are looked at
 * the moment they are freed. Fails if the wipe is removed.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util.h"

void __real_free(void *p);
void __wrap_free(void *p);

static const void *watched;
static size_t watched_len;
static unsigned char seen[256];
static bool freed;

void __wrap_free(void *p)
{
	if (p && p == watched) {
		memcpy(seen, p, watched_len);
		freed = true;
	}
	__real_free(p);
}

static void test_free_secret_wipes(void **state)
{
	static const char secret[] = "eyJhbGciOiJFZERTQSJ9.a-live-token.signature";
	char *s = strdup(secret);
	size_t n = strlen(secret);

	(void)state;
	assert_non_null(s);
	watched = s;
	watched_len = n + 1;
	freed = false;
	memset(seen, 0xa5, sizeof(seen));
	pt_free_secret(s);
	watched = NULL;
	assert_true(freed); /* the memory went back through free() */
	for (size_t i = 0; i < n; i++)
		if (seen[i] != 0)
			fail_msg("byte %zu of the secret survived pt_free_secret: 0x%02x", i,
				 seen[i]);
}

static void test_free_secret_null(void **state)
{
	(void)state;
	freed = false;
	pt_free_secret(NULL); /* accepted, frees nothing */
	assert_false(freed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_secret_wipes),
		cmocka_unit_test(test_free_secret_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
