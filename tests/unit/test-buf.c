/* SPDX-License-Identifier: MIT */
/* Unit tests for common/buf.c */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "util.h"

static void test_new_free(void **state)
{
	struct ptbuf *b;

	assert_null(ptbuf_new(0));
	b = ptbuf_new(1);
	assert_non_null(b);
	assert_int_equal(ptbuf_len(b), 0);
	assert_int_equal(ptbuf_max(b), 1);
	assert_int_equal(ptbuf_end(b), 0);
	ptbuf_free(b);
	ptbuf_free(NULL);
	ptbuf_reset(NULL);
}

static void test_put_get_layout(void **state)
{
	static const uint8_t want[] = {
		0xab,						/* u8 */
		0x01, 0x02, 0x03, 0x04,				/* u32 */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* u64 */
		0x00, 0x00, 0x00, 0x03, 'a',  'b',  'c',	/* string */
		0x00, 0x00, 0x00, 0x00,				/* NULL cstring */
		0x00, 0x00, 0x00, 0x02, 'h',  'i',		/* cstring */
		'r',  'a',  'w',				/* raw */
	};
	struct ptbuf *b = ptbuf_new(1024);
	const uint8_t *sp;
	size_t sn;
	uint8_t u8 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	char *s = NULL, raw[3];

	assert_non_null(b);
	assert_int_equal(ptbuf_put_u8(b, 0xab), 0);
	assert_int_equal(ptbuf_put_u32(b, 0x01020304), 0);
	assert_int_equal(ptbuf_put_u64(b, 0x0102030405060708ull), 0);
	assert_int_equal(ptbuf_put_string(b, "abc", 3), 0);
	assert_int_equal(ptbuf_put_cstring(b, NULL), 0);
	assert_int_equal(ptbuf_put_cstring(b, "hi"), 0);
	assert_int_equal(ptbuf_put(b, "raw", 3), 0);
	assert_int_equal(ptbuf_put(b, NULL, 0), 0);
	assert_int_equal(ptbuf_len(b), sizeof(want));
	assert_memory_equal(ptbuf_ptr(b), want, sizeof(want));
	assert_int_equal(ptbuf_end(b), -EBADMSG);

	assert_int_equal(ptbuf_get_u8(b, &u8), 0);
	assert_int_equal(u8, 0xab);
	assert_int_equal(ptbuf_get_u32(b, &u32), 0);
	assert_int_equal(u32, 0x01020304);
	assert_int_equal(ptbuf_get_u64(b, &u64), 0);
	assert_true(u64 == 0x0102030405060708ull);
	assert_int_equal(ptbuf_get_string_direct(b, &sp, &sn), 0);
	assert_int_equal(sn, 3);
	assert_memory_equal(sp, "abc", 3);
	assert_int_equal(ptbuf_get_cstring(b, 10, &s), 0);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(ptbuf_get_cstring(b, 2, &s), 0);
	assert_string_equal(s, "hi");
	free(s);
	assert_int_equal(ptbuf_get(b, raw, 3), 0);
	assert_memory_equal(raw, "raw", 3);
	assert_int_equal(ptbuf_len(b), 0);
	assert_int_equal(ptbuf_end(b), 0);

	/* Reading past the end consumes nothing and leaves outputs alone. */
	u8 = 9;
	assert_int_equal(ptbuf_get_u8(b, &u8), -EBADMSG);
	assert_int_equal(u8, 9);
	ptbuf_free(b);
}

/* Every accessor on every truncation of a valid encoding: fails, consumes nothing. */
static void test_truncation(void **state)
{
	struct ptbuf *b = ptbuf_new(64);
	uint8_t enc[64];
	size_t n;

	assert_non_null(b);
	assert_int_equal(ptbuf_put_u64(b, 1), 0);
	n = ptbuf_len(b);
	memcpy(enc, ptbuf_ptr(b), n);
	for (size_t cut = 0; cut < n; cut++) {
		uint64_t v = 77;

		ptbuf_reset(b);
		assert_int_equal(ptbuf_put(b, enc, cut), 0);
		assert_int_equal(ptbuf_get_u64(b, &v), -EBADMSG);
		assert_int_equal(v, 77);
		assert_int_equal(ptbuf_len(b), cut);
	}
	for (size_t cut = 0; cut < 4; cut++) {
		uint32_t v = 77;

		ptbuf_reset(b);
		assert_int_equal(ptbuf_put(b, enc, cut), 0);
		assert_int_equal(ptbuf_get_u32(b, &v), -EBADMSG);
		assert_int_equal(v, 77);
		assert_int_equal(ptbuf_len(b), cut);
	}

	ptbuf_reset(b);
	assert_int_equal(ptbuf_put_cstring(b, "hello"), 0);
	n = ptbuf_len(b);
	memcpy(enc, ptbuf_ptr(b), n);
	for (size_t cut = 0; cut < n; cut++) {
		const uint8_t *sp = (const uint8_t *)"x";
		size_t sn = 99;
		char *s = (char *)"untouched";

		ptbuf_reset(b);
		assert_int_equal(ptbuf_put(b, enc, cut), 0);
		assert_int_equal(ptbuf_get_cstring(b, 100, &s), -EBADMSG);
		assert_string_equal(s, "untouched");
		assert_int_equal(ptbuf_get_string_direct(b, &sp, &sn), -EBADMSG);
		assert_int_equal(sn, 99);
		assert_int_equal(ptbuf_len(b), cut);
	}
	ptbuf_free(b);
}

static void test_cstring_checks(void **state)
{
	struct ptbuf *b = ptbuf_new(1024);
	char *s = NULL;

	assert_non_null(b);
	/* Embedded NUL: rejected, nothing consumed. */
	assert_int_equal(ptbuf_put_string(b, "ab\0cd", 5), 0);
	assert_int_equal(ptbuf_get_cstring(b, 100, &s), -EBADMSG);
	assert_null(s);
	assert_int_equal(ptbuf_len(b), 9);
	/* ... but fine as a binary string. */
	{
		const uint8_t *p;
		size_t n;

		assert_int_equal(ptbuf_get_string_direct(b, &p, &n), 0);
		assert_int_equal(n, 5);
		assert_memory_equal(p, "ab\0cd", 5);
	}
	/* NUL as last byte is embedded too. */
	assert_int_equal(ptbuf_put_string(b, "abc\0", 4), 0);
	assert_int_equal(ptbuf_get_cstring(b, 100, &s), -EBADMSG);
	ptbuf_reset(b);

	/* Length limit: exactly maxlen passes, maxlen + 1 does not. */
	assert_int_equal(ptbuf_put_cstring(b, "12345"), 0);
	assert_int_equal(ptbuf_get_cstring(b, 4, &s), -EBADMSG);
	assert_null(s);
	assert_int_equal(ptbuf_get_cstring(b, 5, &s), 0);
	assert_string_equal(s, "12345");
	free(s);
	s = NULL;

	/* A length field that claims more than there is (and a huge one). */
	assert_int_equal(ptbuf_put_u32(b, 6), 0);
	assert_int_equal(ptbuf_put(b, "12345", 5), 0);
	assert_int_equal(ptbuf_get_cstring(b, 100, &s), -EBADMSG);
	ptbuf_reset(b);
	assert_int_equal(ptbuf_put_u32(b, UINT32_MAX), 0);
	assert_int_equal(ptbuf_put(b, "12345", 5), 0);
	assert_int_equal(ptbuf_get_cstring(b, SIZE_MAX, &s), -EBADMSG);
	assert_null(s);
	assert_int_equal(ptbuf_len(b), 9);
	ptbuf_free(b);
}

static void test_max(void **state)
{
	struct ptbuf *b = ptbuf_new(10);
	uint8_t *q;

	assert_non_null(b);
	assert_int_equal(ptbuf_put(b, "0123456789", 10), 0);
	assert_int_equal(ptbuf_put_u8(b, 1), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 10);
	assert_int_equal(ptbuf_consume(b, 3), 0);
	/* u32 needs 4 bytes, only 3 are free: all or nothing. */
	assert_int_equal(ptbuf_put_u32(b, 1), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 7);
	assert_int_equal(ptbuf_put_string(b, "", 0), -EMSGSIZE); /* 4 bytes: too many */
	assert_int_equal(ptbuf_len(b), 7);
	ptbuf_reset(b);
	assert_int_equal(ptbuf_put_string(b, "1234567", 7), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 0);
	assert_int_equal(ptbuf_put_string(b, "123456", 6), 0);
	assert_int_equal(ptbuf_len(b), 10);
	assert_int_equal(ptbuf_reserve(b, 1, &q), -EMSGSIZE);
	assert_int_equal(ptbuf_put(b, "x", SIZE_MAX), -EMSGSIZE);
	assert_int_equal(ptbuf_put_string(b, "x", SIZE_MAX), -EMSGSIZE);
	ptbuf_free(b);
}

static void test_growth_to_max(void **state)
{
	const size_t max = 100000;
	struct ptbuf *b = ptbuf_new(max);
	uint8_t chunk[333];
	size_t total = 0;

	assert_non_null(b);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	while (total + sizeof(chunk) <= max) {
		assert_int_equal(ptbuf_put(b, chunk, sizeof(chunk)), 0);
		total += sizeof(chunk);
	}
	assert_int_equal(ptbuf_put(b, chunk, sizeof(chunk)), -EMSGSIZE);
	assert_int_equal(ptbuf_put(b, chunk, max - total), 0);
	assert_int_equal(ptbuf_len(b), max);
	for (size_t i = 0; i < total; i++)
		if (ptbuf_ptr(b)[i] != (uint8_t)(i % sizeof(chunk)))
			fail_msg("byte %zu corrupted by growth", i);
	ptbuf_free(b);
}

/* Interleaved appends and reads: contents must survive compaction. */
static void test_compaction(void **state)
{
	struct ptbuf *b = ptbuf_new(1000);
	uint32_t next_put = 0, next_get = 0;

	assert_non_null(b);
	for (int round = 0; round < 2000; round++) {
		int puts = 1 + round % 7, gets = 1 + (round * 3) % 6;

		for (int i = 0; i < puts; i++) {
			int r = ptbuf_put_u32(b, next_put);

			if (r == -EMSGSIZE)
				break;
			assert_int_equal(r, 0);
			next_put++;
		}
		for (int i = 0; i < gets && next_get < next_put; i++) {
			uint32_t v;

			assert_int_equal(ptbuf_get_u32(b, &v), 0);
			assert_int_equal(v, next_get);
			next_get++;
		}
		assert_int_equal(ptbuf_len(b), (next_put - next_get) * 4);
		assert_true(ptbuf_len(b) <= ptbuf_max(b));
	}
	assert_true(next_get > 1000);
	ptbuf_free(b);
}

static void test_reserve(void **state)
{
	struct ptbuf *b = ptbuf_new(64);
	uint8_t *q;

	assert_non_null(b);
	assert_int_equal(ptbuf_put(b, "ab", 2), 0);
	assert_int_equal(ptbuf_reserve(b, 10, &q), 0);
	assert_int_equal(ptbuf_len(b), 12);
	memcpy(q, "cdef", 4);
	ptbuf_unreserve(b, 6);
	assert_int_equal(ptbuf_len(b), 6);
	assert_memory_equal(ptbuf_ptr(b), "abcdef", 6);
	/* Cannot give back more than the last reservation left. */
	ptbuf_unreserve(b, 100);
	assert_int_equal(ptbuf_len(b), 2);
	ptbuf_unreserve(b, 1);
	assert_int_equal(ptbuf_len(b), 2);
	/* Mutable pointer patches in place. */
	ptbuf_mutable_ptr(b)[0] = 'X';
	assert_memory_equal(ptbuf_ptr(b), "Xb", 2);
	assert_int_equal(ptbuf_reserve(b, 63, &q), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 2);
	ptbuf_free(b);
}

static void test_reset_and_consume(void **state)
{
	struct ptbuf *b = ptbuf_new(64);

	assert_non_null(b);
	assert_int_equal(ptbuf_put(b, "secret", 6), 0);
	assert_int_equal(ptbuf_consume(b, 7), -EBADMSG);
	assert_int_equal(ptbuf_len(b), 6);
	assert_int_equal(ptbuf_consume(b, 2), 0);
	assert_memory_equal(ptbuf_ptr(b), "cret", 4);
	ptbuf_reset(b);
	assert_int_equal(ptbuf_len(b), 0);
	assert_int_equal(ptbuf_max(b), 64);
	/* After a reset, the bytes beneath the read pointer were wiped. */
	assert_int_equal(ptbuf_put(b, "", 0), 0);
	{
		uint8_t *q;

		assert_int_equal(ptbuf_reserve(b, 6, &q), 0);
		for (int i = 0; i < 6; i++)
			assert_int_equal(q[i], 0);
	}
	ptbuf_free(b);
}

static void test_view(void **state)
{
	static const uint8_t data[] = {
		0x7f,					  /* u8 */
		0xff, 0xff, 0xff, 0xfe,			  /* u32 */
		0,    0,    0,	  0,	0,   0,	  1,   0, /* u64 */
		0,    0,    0,	  3,	'x', 'y', 'z',	  /* cstring */
		0,    0,    0,	  2,	'a', 0,		  /* cstring with NUL */
	};
	struct ptbuf_view v;
	uint8_t u8 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	char *s = NULL;

	ptbuf_view_init(&v, data, sizeof(data));
	assert_int_equal(ptbuf_view_get_u8(&v, &u8), 0);
	assert_int_equal(u8, 0x7f);
	assert_int_equal(ptbuf_view_get_u32(&v, &u32), 0);
	assert_int_equal(u32, 0xfffffffe);
	assert_int_equal(ptbuf_view_get_u64(&v, &u64), 0);
	assert_int_equal(u64, 256);
	assert_int_equal(ptbuf_view_get_cstring(&v, 2, &s), -EBADMSG);
	assert_null(s);
	assert_int_equal(ptbuf_view_get_cstring(&v, 3, &s), 0);
	assert_string_equal(s, "xyz");
	free(s);
	s = NULL;
	assert_int_equal(ptbuf_view_end(&v), -EBADMSG);
	assert_int_equal(ptbuf_view_get_cstring(&v, 100, &s), -EBADMSG);
	assert_null(s);
	assert_int_equal(v.off, sizeof(data) - 6);
	assert_int_equal(ptbuf_view_get_u64(&v, &u64), -EBADMSG);
	assert_int_equal(u64, 256);
	assert_int_equal(v.off, sizeof(data) - 6);

	/* Empty and NULL views. */
	ptbuf_view_init(&v, NULL, 5);
	assert_int_equal(ptbuf_view_end(&v), 0);
	assert_int_equal(ptbuf_view_get_u8(&v, &u8), -EBADMSG);
	ptbuf_view_init(&v, data, 0);
	assert_int_equal(ptbuf_view_end(&v), 0);
	assert_int_equal(ptbuf_view_get_u32(&v, &u32), -EBADMSG);

	/* Every truncation of the cstring fails without moving. */
	for (size_t cut = 0; cut < 7; cut++) {
		ptbuf_view_init(&v, data + 13, cut);
		assert_int_equal(ptbuf_view_get_cstring(&v, 100, &s), -EBADMSG);
		assert_int_equal(v.off, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_put_get_layout),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_cstring_checks),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_growth_to_max),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_reset_and_consume),
		cmocka_unit_test(test_view),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
