/* SPDX-License-Identifier: MIT */
/* Unit tests for common/b64.c */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "b64.h"
#include "util.h"

struct vec {
	const char *raw;
	size_t n;
	const char *enc;
};

/* RFC 4648 section 10 (padding dropped) plus the two url-safe characters. */
static const struct vec vectors[] = {
	{ "", 0, "" },
	{ "f", 1, "Zg" },
	{ "fo", 2, "Zm8" },
	{ "foo", 3, "Zm9v" },
	{ "foob", 4, "Zm9vYg" },
	{ "fooba", 5, "Zm9vYmE" },
	{ "foobar", 6, "Zm9vYmFy" },
	{ "\xfb\xff", 2, "-_8" },
	{ "\xff\xff\xff", 3, "____" },
	{ "\x00\x00\x00", 3, "AAAA" },
	{ "\x00", 1, "AA" },
	{ "\x03\xe0", 2, "A-A" },
};

static void test_vectors(void **state)
{
	for (size_t i = 0; i < PT_ELEMENTSOF(vectors); i++) {
		const struct vec *v = &vectors[i];
		char *e = pt_b64url_encode(v->raw, v->n);
		uint8_t *d = NULL;
		size_t dn = 0;

		assert_non_null(e);
		assert_string_equal(e, v->enc);
		free(e);
		assert_int_equal(pt_b64url_decode(v->enc, strlen(v->enc), &d, &dn), 0);
		assert_int_equal(dn, v->n);
		if (dn)
			assert_memory_equal(d, v->raw, dn);
		assert_int_equal(d[dn], '\0'); /* NUL-terminated for convenience */
		free(d);
	}
}

static void test_roundtrip_all_lengths(void **state)
{
	uint8_t raw[300];
	unsigned seed = 12345;

	for (size_t n = 0; n <= sizeof(raw); n++) {
		uint8_t *d = NULL;
		size_t dn = 0;
		char *e;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			raw[i] = (uint8_t)(seed >> 16);
		}
		e = pt_b64url_encode(raw, n);
		assert_non_null(e);
		assert_int_equal(strlen(e), n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0));
		assert_null(strpbrk(e, "+/="));
		assert_int_equal(pt_b64url_decode(e, strlen(e), &d, &dn), 0);
		assert_int_equal(dn, n);
		if (n)
			assert_memory_equal(d, raw, n);
		free(d);
		free(e);
	}
}

static void test_reject(void **state)
{
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
		{ "Zg==", 4 },	     /* padding */
		{ "Zm8=", 4 },	     /* padding */
		{ "Zg=", 3 },	     /* padding */
		{ "Z", 1 },	     /* impossible length */
		{ "Zm9vY", 5 },	     /* impossible length */
		{ "A", 1 },	     /* impossible length, zero bits */
		{ "Zm9vA", 5 },	     /* impossible length, zero bits */
		{ "AAAAAAAAA", 9 },  /* impossible length, zero bits */
		{ "Zh", 2 },	     /* non-zero trailing bits (4 left) */
		{ "Zm9", 3 },	     /* non-zero trailing bits (2 left) */
		{ "Zm+v", 4 },	     /* standard alphabet */
		{ "Zm/v", 4 },	     /* standard alphabet */
		{ "Zm9v YmFy", 9 },  /* space */
		{ "Zm9v\nYmFy", 9 }, /* newline */
		{ "Zm9v\0mFy", 8 },  /* embedded NUL within n */
		{ "Zm9v.mFy", 8 },   /* JWS separator */
		{ "Zm9v\xc3\xa9", 6 },
		{ "\x80\x80", 2 },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(bad); i++) {
		uint8_t *d = (uint8_t *)"untouched";
		size_t dn = 4242;

		if (pt_b64url_decode(bad[i].s, bad[i].n, &d, &dn) != -EINVAL)
			fail_msg("accepted bad input #%zu", i);
		assert_string_equal((char *)d, "untouched");
		assert_int_equal(dn, 4242);
	}
	/* Only n bytes are read: a valid prefix of a longer string is fine. */
	{
		uint8_t *d = NULL;
		size_t dn = 0;

		assert_int_equal(pt_b64url_decode("Zm9v!!!", 4, &d, &dn), 0);
		assert_int_equal(dn, 3);
		assert_memory_equal(d, "foo", 3);
		free(d);
	}
	assert_int_equal(pt_b64url_decode(NULL, 4, &(uint8_t *){ NULL }, &(size_t){ 0 }), -EINVAL);
}

/* Every possible last character after one full quantum: exactly the
 * canonical ones are accepted. */
static void test_trailing_bits_exhaustive(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int ok2 = 0, ok3 = 0;

	for (int c = 0; c < 64; c++) {
		char s2[3] = { 'Q', alphabet[c], 0 };
		char s3[4] = { 'Q', 'Q', alphabet[c], 0 };
		uint8_t *d;
		size_t dn;

		if (pt_b64url_decode(s2, 2, &d, &dn) == 0) {
			ok2++;
			assert_int_equal(c & 15, 0);
			free(d);
		}
		if (pt_b64url_decode(s3, 3, &d, &dn) == 0) {
			ok3++;
			assert_int_equal(c & 3, 0);
			free(d);
		}
	}
	assert_int_equal(ok2, 4);
	assert_int_equal(ok3, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_roundtrip_all_lengths),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_trailing_bits_exhaustive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
