/* SPDX-License-Identifier: MIT */
/* Unit tests for common/nsscache.c: build -> look up round trip, every kind
 * of corruption and truncation refused, ERANGE for a short buffer. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "nsscache.h"

static uint8_t *build(size_t n_users, size_t *ret_len)
{
	struct nssc_builder *b = NULL;
	uint8_t *f = NULL;
	char name[64], home[64];

	assert_int_equal(nssc_builder_new(&b), 0);
	for (size_t i = 0; i < n_users; i++) {
		snprintf(name, sizeof(name), "user%zu", i);
		snprintf(home, sizeof(home), "/home/user%zu", i);
		assert_int_equal(nssc_builder_add_passwd(b, name, 10000 + (uid_t)i,
							 10000 + (gid_t)i, "User", home, "/bin/sh"),
				 0);
		assert_int_equal(nssc_builder_add_group(b, name, 10000 + (gid_t)i), 0);
	}
	assert_int_equal(nssc_builder_add_group(b, "staff", 50), 0);
	assert_int_equal(nssc_builder_add_group(b, "empty", 51), 0);
	for (size_t i = 0; i < n_users; i += 2) {
		snprintf(name, sizeof(name), "user%zu", i);
		assert_int_equal(nssc_builder_add_member(b, "staff", name), 0);
		assert_int_equal(nssc_builder_add_member(b, "staff", name), 0); /* once */
	}
	assert_int_equal(nssc_builder_finish(b, &f, ret_len), 0);
	nssc_builder_free(b);
	return f;
}

static void test_roundtrip(void **state)
{
	size_t sizes[] = { 0, 1, 7, 100, 5000 };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len, n = sizes[k];
		uint8_t *f = build(n, &len);
		struct nssc_view v;
		struct nssc_pw pw;
		struct nssc_gr gr;
		struct nssc_str s;
		char name[64];
		uint32_t cur = 0, seen = 0;

		assert_int_equal(nssc_open(f, len, &v), 0);
		assert_false(nssc_stale(&v));
		for (size_t i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "user%zu", i);
			assert_int_equal(nssc_pw_byname(&v, name, &pw), 0);
			assert_string_equal(pw.name.p, name);
			assert_int_equal(pw.uid, 10000 + i);
			assert_int_equal(pw.gid, 10000 + i);
			assert_string_equal(pw.shell.p, "/bin/sh");
			assert_string_equal(pw.gecos.p, "User");
			assert_int_equal(nssc_pw_byuid(&v, 10000 + (uid_t)i, &pw), 0);
			assert_string_equal(pw.name.p, name);
			assert_int_equal(nssc_gr_bygid(&v, 10000 + (gid_t)i, &gr), 0);
			assert_string_equal(gr.name.p, name);
			assert_int_equal(nssc_gr_byname(&v, "staff", &gr), 0);
			assert_int_equal(nssc_gr_has_member(&v, &gr, name), i % 2 == 0);
		}
		assert_int_equal(nssc_pw_byname(&v, "nobody-here", &pw), -ENOENT);
		assert_int_equal(nssc_pw_byuid(&v, 9999, &pw), -ENOENT);
		assert_int_equal(nssc_gr_byname(&v, "nogroup-here", &gr), -ENOENT);
		assert_int_equal(nssc_gr_bygid(&v, 52, &gr), -ENOENT);
		assert_int_equal(nssc_gr_bygid(&v, 50, &gr), 0);
		assert_int_equal(gr.n_mem, (n + 1) / 2);
		if (n > 0) {
			assert_int_equal(nssc_gr_member(&v, &gr, 0, &s), 0);
			assert_string_equal(s.p, "user0");
		}
		assert_int_equal(nssc_gr_member(&v, &gr, gr.n_mem, &s), -EBADMSG);
		assert_int_equal(nssc_gr_byname(&v, "empty", &gr), 0);
		assert_int_equal(gr.n_mem, 0);
		while (nssc_pw_next(&v, &cur, &pw) == 0)
			seen++;
		assert_int_equal(seen, n);
		cur = seen = 0;
		while (nssc_gr_next(&v, &cur, &gr) == 0)
			seen++;
		assert_int_equal(seen, n + 2);
		/* the stale word: set by tokend in the old file */
		f[NSSC_STALE_OFFSET] = 1;
		assert_true(nssc_stale(&v));
		free(f);
	}
}

static void test_builder_refuses(void **state)
{
	struct nssc_builder *b = NULL;

	(void)state;
	assert_int_equal(nssc_builder_new(&b), 0);
	assert_int_equal(nssc_builder_add_passwd(b, "a", 1, 1, "", "/", "/bin/sh"), 0);
	assert_int_equal(nssc_builder_add_passwd(b, "a", 2, 2, "", "/", "/bin/sh"), -EEXIST);
	assert_int_equal(nssc_builder_add_passwd(b, "", 2, 2, "", "/", "/bin/sh"), -EINVAL);
	assert_int_equal(nssc_builder_add_passwd(b, "b:c", 2, 2, "", "/", "/bin/sh"), -EINVAL);
	assert_int_equal(nssc_builder_add_passwd(b, "b", 2, 2, "x\ny", "/", "/bin/sh"), -EINVAL);
	assert_int_equal(nssc_builder_add_group(b, "g", 5), 0);
	assert_int_equal(nssc_builder_add_group(b, "g", 6), -EEXIST);
	assert_int_equal(nssc_builder_add_member(b, "nog", "a"), -ENOENT);
	assert_int_equal(nssc_builder_add_member(b, "g", "a,b"), -EINVAL);
	nssc_builder_free(b);
	nssc_builder_free(NULL);
}

/* 100,000 users, each with a group of the same name (what tokend writes for
 * 100,000 token holders), and all in one group as large as the format allows
 * (a "domain users"): every name still unique per kind and per group, each
 * one found, in well under BIG_SECONDS (the builder's duplicate checks used
 * to scan all entries and all members: minutes at this size). The time is
 * not checked under valgrind (TOKEND_VALGRIND, tests/run-valgrind.sh) nor in
 * the sanitizer build (PERTOK_SANITIZER, tests/run-tests.sh): 20 s there. */
#define BIG_USERS 100000
#define BIG_SECONDS 5
static void test_builder_scales(void **state)
{
	struct nssc_builder *b = NULL;
	struct timespec t0, t1;
	struct nssc_view v;
	struct nssc_pw pw;
	struct nssc_gr gr;
	uint8_t *data = NULL;
	size_t len;
	char name[32];
	bool instrumented = getenv("TOKEND_VALGRIND") || getenv("PERTOK_SANITIZER");

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(nssc_builder_new(&b), 0);
	assert_int_equal(nssc_builder_add_group(b, "all", 99), 0);
	for (uint32_t i = 0; i < BIG_USERS; i++) {
		snprintf(name, sizeof(name), "u%u", i);
		assert_int_equal(nssc_builder_add_member(b, "all", name),
				 i < NSSC_MAX_MEMBERS ? 0 : -E2BIG);
		assert_int_equal(nssc_builder_add_passwd(b, name, 100000 + i, 100000 + i, "", "/",
							 "/bin/sh"),
				 0);
		assert_int_equal(nssc_builder_add_group(b, name, 100000 + i), 0);
		assert_int_equal(nssc_builder_add_member(b, name, name), 0);
	}
	/* duplicates are still refused once the index has grown many times */
	assert_int_equal(nssc_builder_add_passwd(b, "u0", 1, 1, "", "/", "/bin/sh"), -EEXIST);
	assert_int_equal(nssc_builder_add_passwd(b, "u99999", 1, 1, "", "/", "/bin/sh"), -EEXIST);
	assert_int_equal(nssc_builder_add_group(b, "u54321", 1), -EEXIST);
	assert_int_equal(nssc_builder_add_member(b, "u777", "u777"), 0); /* already there */
	assert_int_equal(nssc_builder_add_member(b, "u777", "u778"), 0);
	assert_int_equal(nssc_builder_add_member(b, "nog", "u1"), -ENOENT);
	assert_int_equal(nssc_builder_add_member(b, "all", "u4242"), 0); /* already there */
	assert_int_equal(nssc_builder_finish(b, &data, &len), 0);
	nssc_builder_free(b);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!instrumented && t1.tv_sec - t0.tv_sec > BIG_SECONDS)
		fail_msg("building %d users took %ld s", BIG_USERS, (long)(t1.tv_sec - t0.tv_sec));
	assert_int_equal(nssc_open(data, len, &v), 0);
	assert_int_equal(v.n_pw, BIG_USERS);
	assert_int_equal(v.n_gr, BIG_USERS + 1);
	for (uint32_t i = 0; i < BIG_USERS; i += 997) {
		snprintf(name, sizeof(name), "u%u", i);
		assert_int_equal(nssc_pw_byname(&v, name, &pw), 0);
		assert_int_equal(pw.uid, 100000 + i);
		assert_int_equal(nssc_gr_bygid(&v, 100000 + i, &gr), 0);
		assert_string_equal(gr.name.p, name);
		assert_int_equal(gr.n_mem, 1);
	}
	assert_int_equal(nssc_gr_byname(&v, "u777", &gr), 0);
	assert_int_equal(gr.n_mem, 2);
	assert_int_equal(nssc_gr_bygid(&v, 99, &gr), 0);
	assert_int_equal(gr.n_mem, NSSC_MAX_MEMBERS);
	assert_true(nssc_gr_has_member(&v, &gr, "u0"));
	assert_true(nssc_gr_has_member(&v, &gr, "u65535"));
	assert_false(nssc_gr_has_member(&v, &gr, "u65536"));
	free(data);
}

static void test_truncation(void **state)
{
	size_t len;
	uint8_t *f = build(20, &len);
	struct nssc_view v;

	(void)state;
	for (size_t n = 0; n < len; n++)
		assert_int_equal(nssc_open(f, n, &v), -EBADMSG);
	assert_int_equal(nssc_open(NULL, len, &v), -EBADMSG);
	assert_int_equal(nssc_open(f, len, &v), 0);
	free(f);
}

/* Every single-byte change anywhere in the file is refused (the checksum
 * covers everything past it; the header's words before it are checked), and
 * so is every change that also fixes the checksum up in the header's fields
 * (offsets, sizes, counts). */
static void fix_checksum(uint8_t *f, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 20; i < len; i++) {
		h ^= f[i];
		h *= 16777619u;
	}
	memcpy(f + 16, &h, 4);
}

static void lookups_are_safe(const uint8_t *f, size_t len)
{
	struct nssc_view v;
	struct nssc_pw pw;
	struct nssc_gr gr;
	uint32_t cur;
	char buf[1024];
	struct passwd p;
	struct group g;

	if (nssc_open(f, len, &v) < 0)
		return;
	for (int i = 0; i < 30; i++) {
		char name[32];

		snprintf(name, sizeof(name), "user%d", i);
		if (nssc_pw_byname(&v, name, &pw) == 0)
			(void)nssc_pack_passwd(&pw, &p, buf, sizeof(buf));
		(void)nssc_pw_byuid(&v, 10000 + (uid_t)i, &pw);
		if (nssc_gr_bygid(&v, 10000 + (gid_t)i, &gr) == 0)
			(void)nssc_pack_group(&v, &gr, &g, buf, sizeof(buf));
		(void)nssc_gr_byname(&v, name, &gr);
	}
	cur = 0;
	while (nssc_pw_next(&v, &cur, &pw) != -ENOENT)
		;
	cur = 0;
	while (nssc_gr_next(&v, &cur, &gr) != -ENOENT)
		if (nssc_gr_byname(&v, "staff", &gr) == 0)
			(void)nssc_gr_has_member(&v, &gr, "user0");
}

static void test_corruption(void **state)
{
	size_t len;
	uint8_t *f = build(12, &len);
	uint8_t *c = malloc(len);
	struct nssc_view v;
	size_t refused_fixed = 0;

	(void)state;
	assert_non_null(c);
	for (size_t i = 0; i < len; i++) {
		if (i >= NSSC_STALE_OFFSET && i < NSSC_STALE_OFFSET + 4)
			continue; /* the stale word is not covered: tokend writes it */
		memcpy(c, f, len);
		c[i] ^= 0x5a;
		assert_int_equal(nssc_open(c, len, &v), -EBADMSG);
		/* same change with the checksum made right: either refused at open,
		 * or every look-up stays in bounds (ASan/valgrind check) */
		fix_checksum(c, len);
		if (i >= 16 && i < 20)
			continue;
		if (nssc_open(c, len, &v) < 0)
			refused_fixed++;
		lookups_are_safe(c, len);
	}
	/* every header field past the checksum is checked */
	for (size_t i = 20; i < NSSC_HEADER_SIZE; i++) {
		memcpy(c, f, len);
		c[i] ^= 0x01;
		fix_checksum(c, len);
		assert_int_equal(nssc_open(c, len, &v), -EBADMSG);
	}
	/* wrong magic, wrong version */
	memcpy(c, f, len);
	c[0] = 'X';
	assert_int_equal(nssc_open(c, len, &v), -EBADMSG);
	memcpy(c, f, len);
	c[8] = 3; /* 1 and 2 are known (an expiry-less file stays 1) */
	assert_int_equal(nssc_open(c, len, &v), -EBADMSG);
	memcpy(c, f, len);
	c[8] = 0;
	assert_int_equal(nssc_open(c, len, &v), -EBADMSG);
	assert_true(refused_fixed > 0);
	free(c);
	free(f);
}

/* A record that lies (length past the end, missing NUL, wrong kind) behind a
 * valid checksum: the look-up reports -EBADMSG, never reads out of bounds. */
static void test_bad_records(void **state)
{
	size_t len;
	uint8_t *f = build(1, &len);
	struct nssc_view v;
	struct nssc_pw pw;
	uint32_t data_off, kind;
	uint16_t big = 4000;

	(void)state;
	memcpy(&data_off, f + 56, 4);
	memcpy(&kind, f + data_off, 4);
	assert_int_equal(kind, 'P');
	/* name length past the end */
	memcpy(f + data_off + 16, &big, 2);
	fix_checksum(f, len);
	assert_int_equal(nssc_open(f, len, &v), 0);
	assert_int_equal(nssc_pw_byname(&v, "user0", &pw), -EBADMSG);
	free(f);

	f = build(1, &len);
	/* the name's NUL gone */
	f[data_off + 16 + 2 + 5] = 'x';
	fix_checksum(f, len);
	assert_int_equal(nssc_open(f, len, &v), 0);
	assert_int_equal(nssc_pw_byname(&v, "user0", &pw), -EBADMSG);
	free(f);

	f = build(1, &len);
	/* a passwd slot pointing at a group record: wrong kind */
	f[data_off] = 'G';
	fix_checksum(f, len);
	assert_int_equal(nssc_open(f, len, &v), 0);
	assert_int_equal(nssc_pw_byuid(&v, 10000, &pw), -EBADMSG);
	free(f);
}

static void test_erange(void **state)
{
	size_t len;
	uint8_t *f = build(4, &len);
	struct nssc_view v;
	struct nssc_pw pw;
	struct nssc_gr gr;
	struct passwd p;
	struct group g;
	char buf[256];
	size_t need_pw = 0, need_gr = 0;

	(void)state;
	assert_int_equal(nssc_open(f, len, &v), 0);
	assert_int_equal(nssc_pw_byname(&v, "user2", &pw), 0);
	for (size_t n = 0; n <= sizeof(buf); n++) {
		int r = nssc_pack_passwd(&pw, &p, buf, n);

		if (r == 0) {
			need_pw = n;
			break;
		}
		assert_int_equal(r, -ERANGE);
	}
	assert_true(need_pw > 0);
	assert_string_equal(p.pw_name, "user2");
	assert_string_equal(p.pw_dir, "/home/user2");
	assert_string_equal(p.pw_shell, "/bin/sh");
	assert_string_equal(p.pw_passwd, "*");
	assert_int_equal(p.pw_uid, 10002);
	assert_int_equal(nssc_pack_passwd(&pw, &p, NULL, 100), -ERANGE);

	assert_int_equal(nssc_gr_byname(&v, "staff", &gr), 0);
	for (size_t n = 0; n <= sizeof(buf) - 8; n++) {
		int r = nssc_pack_group(&v, &gr, &g, buf + 1, n); /* misaligned */

		if (r == 0) {
			need_gr = n;
			break;
		}
		assert_int_equal(r, -ERANGE);
	}
	assert_true(need_gr > 0);
	assert_string_equal(g.gr_name, "staff");
	assert_int_equal(g.gr_gid, 50);
	assert_string_equal(g.gr_mem[0], "user0");
	assert_string_equal(g.gr_mem[1], "user2");
	assert_null(g.gr_mem[2]);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_builder_refuses),
		cmocka_unit_test(test_truncation),     cmocka_unit_test(test_corruption),
		cmocka_unit_test(test_bad_records),    cmocka_unit_test(test_erange),
		cmocka_unit_test(test_builder_scales),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
