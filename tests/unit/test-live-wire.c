/* SPDX-License-Identifier: MIT */
/*
 * The privsep channel's form of a presented live token (tokend/live-wire.c):
 * put -> get -> put gives the same bytes and a struct that still checks;
 * every truncation, flag, count, string bound and form error is refused with
 * nothing consumed; put refuses what get would and appends nothing then.
 */
#include "conf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jws.h"
#include "keys.h"
#include "live.h"
#include "proto.h"
#include "util.h"

#define NOW 1700000100u
#define AUD "pertok"

static const uint8_t seed[32] = { 0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60 };

static struct pt_keys *test_keys(void)
{
	struct pt_keys *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	k->sign = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	assert_non_null(k->sign);
	assert_int_equal(pt_jwk_thumbprint(k->sign, &k->kid), 0);
	return k;
}

/* A presented token with every member set (full) or the fewest (a login
 * without svc, tty, rhost, entitlements, act). */
static void presented(const struct pt_keys *k, bool full, struct pt_live_presented *ret)
{
	char *groups[] = { "alice", "wh\"eel", "\xc3\xa9" }, *ents[] = { "deploy", "" };
	struct pt_live_claims c = { 0 };
	char *token = NULL;

	assert_int_equal(pt_live_set_str(&c.iss, "pertok:host"), 0);
	assert_int_equal(pt_live_set_str(&c.sub, "alice"), 0);
	assert_int_equal(pt_live_set_str(&c.aud, AUD), 0);
	assert_int_equal(pt_live_new_jti(&c), 0);
	c.exp = NOW + 300;
	c.nbf = c.iat = NOW;
	c.uid = full ? 1000 : -2;
	c.gid = full ? 4294967294 : 0;
	if (full) {
		assert_int_equal(pt_live_set_strv(&c.groups, &c.n_groups, groups, 3), 0);
		c.has_entitlements = true;
		assert_int_equal(pt_live_set_strv(&c.entitlements, &c.n_entitlements, ents, 2), 0);
		assert_int_equal(pt_live_set_str(&c.act[0], "atd"), 0);
		assert_int_equal(pt_live_set_str(&c.act[1], ""), 0);
		c.n_act = 2;
		c.has_ptk = true;
		assert_int_equal(pt_live_set_str(&c.ptk, "pt_x"), 0);
		c.auth_time = NOW - 3600;
		assert_int_equal(pt_live_set_str(&c.svc, "sshd"), 0);
		assert_int_equal(pt_live_set_str(&c.tty, "pts/0"), 0);
		assert_int_equal(pt_live_set_str(&c.tmpl, "sha256:00"), 0);
		assert_int_equal(pt_live_set_str(&c.rhost, "h"), 0);
	}
	assert_int_equal(pt_live_sign(k, "EdDSA", &c, &token), 0);
	assert_int_equal(pt_live_parse(token, ret), 0);
	pt_free_secret(token);
	pt_live_claims_clear(&c);
}

static struct ptbuf *encode(const struct pt_live_presented *p)
{
	struct ptbuf *b = ptbuf_new(PT_MAX_FRAME);

	assert_non_null(b);
	assert_int_equal(pt_live_wire_put(b, p), 0);
	return b;
}

static void test_round_trip(void **state)
{
	struct pt_keys *k = test_keys();

	(void)state;
	for (int full = 0; full < 2; full++) {
		struct pt_live_presented p = { 0 }, q = { 0 };
		struct ptbuf *a, *b;
		struct ptbuf_view v;
		enum pt_live_refusal why;

		presented(k, full, &p);
		a = encode(&p);
		ptbuf_view_init(&v, ptbuf_ptr(a), ptbuf_len(a));
		assert_int_equal(pt_live_wire_get(&v, &q), 0);
		assert_int_equal(ptbuf_view_end(&v), 0);
		b = encode(&q);
		assert_int_equal(ptbuf_len(a), ptbuf_len(b));
		assert_memory_equal(ptbuf_ptr(a), ptbuf_ptr(b), ptbuf_len(a));
		/* what crossed the channel still checks, with the same claims */
		assert_int_equal(pt_live_check(k, AUD, &q, NOW, NULL, &why), 0);
		assert_int_equal(q.claims.uid, p.claims.uid);
		assert_int_equal(q.claims.gid, p.claims.gid);
		assert_int_equal(q.claims.n_act, p.claims.n_act);
		assert_int_equal(q.claims.has_ptk, p.claims.has_ptk);
		assert_int_equal(q.claims.auth_time, p.claims.auth_time);
		assert_true(q.claims.tmpl == p.claims.tmpl ||
			    (q.claims.tmpl && p.claims.tmpl &&
			     strcmp(q.claims.tmpl, p.claims.tmpl) == 0));
		assert_int_equal(q.claims.has_entitlements, p.claims.has_entitlements);
		pt_live_presented_clear(&p);
		pt_live_presented_clear(&q);
		ptbuf_free(a);
		ptbuf_free(b);
	}
	pt_keys_free(k);
}

/* A refusal is one byte and comes back as that refusal. */
static void test_refusal(void **state)
{
	struct pt_live_presented p = { .refused = PT_LIVE_NOT_LIVE }, q = { 0 };
	struct ptbuf *b = encode(&p);
	struct ptbuf_view v;
	static const uint8_t bad[] = { PT_LIVE_REFUSAL_MAX };

	(void)state;
	assert_int_equal(ptbuf_len(b), 1);
	ptbuf_view_init(&v, ptbuf_ptr(b), ptbuf_len(b));
	assert_int_equal(pt_live_wire_get(&v, &q), 0);
	assert_int_equal(q.refused, PT_LIVE_NOT_LIVE);
	ptbuf_view_init(&v, bad, sizeof(bad));
	assert_int_equal(pt_live_wire_get(&v, &q), -EBADMSG);
	assert_int_equal(v.off, 0);
	p.refused = PT_LIVE_REFUSAL_MAX;
	ptbuf_reset(b);
	assert_int_equal(pt_live_wire_put(b, &p), -EINVAL);
	assert_int_equal(ptbuf_len(b), 0);
	ptbuf_free(b);
}

/* Every proper prefix is refused, nothing consumed, the output untouched;
 * trailing bytes are left to ptbuf_view_end. */
static void test_truncated(void **state)
{
	struct pt_keys *k = test_keys();
	struct pt_live_presented p = { 0 }, q;
	struct ptbuf *b;
	struct ptbuf_view v;
	uint8_t *more;

	(void)state;
	presented(k, true, &p);
	b = encode(&p);
	for (size_t n = 0; n < ptbuf_len(b); n++) {
		memset(&q, 0x5a, sizeof(q));
		ptbuf_view_init(&v, ptbuf_ptr(b), n);
		if (pt_live_wire_get(&v, &q) != -EBADMSG)
			fail_msg("a prefix of %zu bytes (of %zu) was taken", n, ptbuf_len(b));
		assert_int_equal(v.off, 0);
		assert_int_equal(q.refused, 0x5a);
	}
	more = malloc(ptbuf_len(b) + 1);
	assert_non_null(more);
	memcpy(more, ptbuf_ptr(b), ptbuf_len(b));
	more[ptbuf_len(b)] = 0;
	ptbuf_view_init(&v, more, ptbuf_len(b) + 1);
	assert_int_equal(pt_live_wire_get(&v, &q), 0);
	assert_int_equal(ptbuf_view_end(&v), -EBADMSG);
	pt_live_presented_clear(&q);
	free(more);
	ptbuf_free(b);
	pt_live_presented_clear(&p);
	pt_keys_free(k);
}

/* Builds the wire form by hand with one field replaced. */
enum field {
	F_NONE,
	F_ALG,
	F_KID,
	F_SUB,
	F_NGROUPS,
	F_HAS_ENTS,
	F_NENTS_WITHOUT,
	F_NACT,
	F_HAS_PTK,
	F_PTK_WITHOUT,
	F_NUL,
};

static struct ptbuf *handmade(enum field f, const char *kid, const char *str)
{
	struct ptbuf *b = ptbuf_new(PT_MAX_FRAME * 4);
	uint8_t sig[PT_LIVE_SIG_LEN] = { 0 };

	assert_non_null(b);
	assert_int_equal(ptbuf_put_u8(b, 0), 0);
	assert_int_equal(ptbuf_put_cstring(b, f == F_ALG ? str : "EdDSA"), 0);
	assert_int_equal(ptbuf_put_cstring(b, f == F_KID ? str : kid), 0);
	assert_int_equal(ptbuf_put(b, sig, sizeof(sig)), 0);
	assert_int_equal(ptbuf_put_cstring(b, "iss"), 0);
	if (f == F_SUB)
		assert_int_equal(ptbuf_put_cstring(b, str), 0);
	else if (f == F_NUL)
		assert_int_equal(ptbuf_put_string(b, "a\0b", 3), 0);
	else
		assert_int_equal(ptbuf_put_cstring(b, "alice"), 0);
	assert_int_equal(ptbuf_put_cstring(b, AUD), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ptbuf_put_u64(b, NOW), 0);
	assert_int_equal(ptbuf_put_cstring(b, "jti"), 0);
	assert_int_equal(ptbuf_put_u64(b, 1000), 0);
	assert_int_equal(ptbuf_put_u64(b, 1000), 0);
	if (f == F_NGROUPS) {
		assert_int_equal(ptbuf_put_u32(b, PT_LIVE_MAX_LIST + 1), 0);
		for (unsigned i = 0; i <= PT_LIVE_MAX_LIST; i++)
			assert_int_equal(ptbuf_put_cstring(b, "g"), 0);
	} else
		assert_int_equal(ptbuf_put_u32(b, 0), 0);
	assert_int_equal(ptbuf_put_u8(b, f == F_HAS_ENTS ? 2 : 0), 0);
	if (f == F_NENTS_WITHOUT) {
		assert_int_equal(ptbuf_put_u32(b, 1), 0);
		assert_int_equal(ptbuf_put_cstring(b, "e"), 0);
	} else
		assert_int_equal(ptbuf_put_u32(b, 0), 0);
	if (f == F_NACT) {
		assert_int_equal(ptbuf_put_u8(b, PT_LIVE_MAX_ACT + 1), 0);
		for (int i = 0; i <= PT_LIVE_MAX_ACT; i++)
			assert_int_equal(ptbuf_put_cstring(b, "a"), 0);
	} else
		assert_int_equal(ptbuf_put_u8(b, 0), 0);
	assert_int_equal(ptbuf_put_u8(b, f == F_HAS_PTK ? 2 : 0), 0);
	assert_int_equal(ptbuf_put_cstring(b, f == F_PTK_WITHOUT ? "pt_x" : ""), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ptbuf_put_cstring(b, ""), 0);
	assert_int_equal(ptbuf_put_u64(b, 0), 0);      /* auth_time */
	assert_int_equal(ptbuf_put_cstring(b, ""), 0); /* tmpl */
	return b;
}

static void test_bounds(void **state)
{
	struct pt_keys *k = test_keys();
	char *long_str = calloc(1, PT_LIVE_MAX_STR + 2);
	static const struct {
		enum field f;
		const char *str; /* NULL: long_str */
		int expect;
	} cases[] = {
		{ F_NONE, "", 0 },
		{ F_SUB, NULL, -EBADMSG },		  /* PT_LIVE_MAX_STR + 1 bytes */
		{ F_SUB, "\xc3\xa9\xf0\x9f\x94\x91", 0 }, /* UTF-8 */
		{ F_SUB, "\xc0\xaf", -EBADMSG },	  /* overlong */
		{ F_SUB, "\xed\xa0\x80", -EBADMSG },	  /* a surrogate */
		{ F_SUB, "\xf4\x90\x80\x80", -EBADMSG },  /* past U+10FFFF */
		{ F_SUB, "\xe9", -EBADMSG },		  /* cut short */
		{ F_ALG, "HS256", -EBADMSG },
		{ F_ALG, "", -EBADMSG },
		{ F_KID, "kid", -EBADMSG },
		{ F_KID, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", -EBADMSG },
		{ F_NGROUPS, "", -EBADMSG },
		{ F_HAS_ENTS, "", -EBADMSG },
		{ F_NENTS_WITHOUT, "", -EBADMSG },
		{ F_NACT, "", -EBADMSG },
		{ F_HAS_PTK, "", -EBADMSG },
		{ F_PTK_WITHOUT, "", -EBADMSG },
		{ F_NUL, "", -EBADMSG },
	};

	(void)state;
	assert_non_null(long_str);
	memset(long_str, 's', PT_LIVE_MAX_STR + 1);
	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		struct ptbuf *b =
			handmade(cases[i].f, k->kid, cases[i].str ? cases[i].str : long_str);
		struct pt_live_presented q = { 0 };
		struct ptbuf_view v;
		int r;

		ptbuf_view_init(&v, ptbuf_ptr(b), ptbuf_len(b));
		r = pt_live_wire_get(&v, &q);
		if (r != cases[i].expect)
			fail_msg("case %zu (field %d): %d, expected %d", i, cases[i].f, r,
				 cases[i].expect);
		if (r < 0)
			assert_int_equal(v.off, 0);
		else
			assert_int_equal(ptbuf_view_end(&v), 0);
		pt_live_presented_clear(&q);
		ptbuf_free(b);
	}
	/* PT_LIVE_MAX_STR bytes pass */
	long_str[PT_LIVE_MAX_STR] = '\0';
	{
		struct ptbuf *b = handmade(F_SUB, k->kid, long_str);
		struct pt_live_presented q = { 0 };
		struct ptbuf_view v;

		ptbuf_view_init(&v, ptbuf_ptr(b), ptbuf_len(b));
		assert_int_equal(pt_live_wire_get(&v, &q), 0);
		pt_live_presented_clear(&q);
		ptbuf_free(b);
	}
	free(long_str);
	pt_keys_free(k);
}

/* put refuses what get would refuse, and what does not fit, appending
 * nothing either way. */
static void test_put_refuses(void **state)
{
	struct pt_keys *k = test_keys();
	struct pt_live_presented p = { 0 };
	struct ptbuf *b = ptbuf_new(64), *big = ptbuf_new(PT_MAX_FRAME);
	char *long_str = calloc(1, PT_LIVE_MAX_STR + 2);

	(void)state;
	assert_true(b && big && long_str);
	presented(k, true, &p);
	assert_int_equal(ptbuf_put_u8(b, 7), 0);
	assert_int_equal(pt_live_wire_put(b, &p), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 1);
	memset(long_str, 's', PT_LIVE_MAX_STR + 1);
	assert_int_equal(pt_live_set_str(&p.claims.tty, long_str), 0);
	assert_int_equal(pt_live_wire_put(big, &p), -EINVAL);
	assert_int_equal(pt_live_set_str(&p.claims.tty, "pts/1"), 0);
	p.claims.n_act = PT_LIVE_MAX_ACT + 1;
	assert_int_equal(pt_live_wire_put(big, &p), -EINVAL);
	p.claims.n_act = PT_LIVE_MAX_ACT;
	snprintf(p.alg, sizeof(p.alg), "none");
	assert_int_equal(pt_live_wire_put(big, &p), -EINVAL);
	snprintf(p.alg, sizeof(p.alg), "EdDSA");
	p.kid[3] = '.';
	assert_int_equal(pt_live_wire_put(big, &p), -EINVAL);
	assert_int_equal(ptbuf_len(big), 0);
	free(long_str);
	ptbuf_free(b);
	ptbuf_free(big);
	pt_live_presented_clear(&p);
	pt_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_refusal),
		cmocka_unit_test(test_truncated),   cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_put_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
