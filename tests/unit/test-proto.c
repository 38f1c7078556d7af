/* SPDX-License-Identifier: MIT */
/* Unit tests for common/proto.c */
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
#include "proto-server.h"
#include "util.h"

/* ------------------------------------------------------------ helpers */

/*
 * Payload layouts as descriptors, one character per field:
 *   b u8   u u32   q u64
 *   s string <= PT_MAX_STR   t string <= PT_MAX_TOKEN   x string <= PT_MAX_TEXT
 *   c string <= PT_MAX_CODE
 */
struct layout {
	const char *name;
	int is_rep; /* 0: request of type `type`; 1: PT_OK reply to `type`; 2: PT_ERR */
	uint8_t type;
	const char *desc;
};

static const struct layout layouts[] = {
	{ "req hello", 0, PT_HELLO, "u" },
	{ "req mint", 0, PT_MINT, "ssss" },
	{ "req exchange", 0, PT_EXCHANGE, "tsq" },
	{ "req redeem", 0, PT_REDEEM, "sss" },
	{ "req list", 0, PT_LIST, "s" },
	{ "req list-page", 0, PT_LIST_PAGE, "ss" },
	{ "req revoke", 0, PT_REVOKE, "s" },
	{ "req pubkey", 0, PT_PUBKEY, "b" },
	{ "req status", 0, PT_STATUS, "" },
	{ "req explain", 0, PT_EXPLAIN, "ssq" },
	{ "req revoke-match", 0, PT_REVOKE_MATCH, "ssq" },
	{ "req code-issue", 0, PT_CODE_ISSUE, "ss" },
	{ "req code-check", 0, PT_CODE_CHECK, "ssc" },
	{ "req list-status", 0, PT_LIST_STATUS, "ss" },
	{ "req explain-issue", 0, PT_EXPLAIN_ISSUE, "sssq" },
	{ "req code-sheet", 0, PT_CODE_SHEET, "ssu" },
	{ "req code-list", 0, PT_CODE_LIST, "ss" },
	{ "req refresh", 0, PT_REFRESH, "t" },
	{ "req delegate", 0, PT_DELEGATE, "ss" },
	{ "req list-deleg", 0, PT_LIST_DELEG, "ss" },
	{ "ok hello", 1, PT_HELLO, "u" },
	{ "ok mint", 1, PT_MINT, "tqs" },
	{ "ok redeem", 1, PT_REDEEM, "tqs" },
	{ "ok refresh", 1, PT_REFRESH, "tqs" },
	{ "ok exchange", 1, PT_EXCHANGE, "sqb" },
	{ "ok revoke", 1, PT_REVOKE, "u" },
	{ "ok pubkey", 1, PT_PUBKEY, "x" },
	{ "ok status", 1, PT_STATUS, "x" },
	{ "ok explain", 1, PT_EXPLAIN, "x" },
	{ "ok revoke-match", 1, PT_REVOKE_MATCH, "u" },
	{ "ok code-issue", 1, PT_CODE_ISSUE, "cq" },
	{ "ok code-check", 1, PT_CODE_CHECK, "u" },
	{ "ok delegate", 1, PT_DELEGATE, "u" },
	{ "ok explain-issue", 1, PT_EXPLAIN_ISSUE, "x" },
	{ "ok code-sheet (one code)", 1, PT_CODE_SHEET, "quuc" },
	{ "ok code-list (one id)", 1, PT_CODE_LIST, "qququuub" },
	{ "error", 2, PT_HELLO, "ux" },
	{ "error (any request)", 2, PT_LIST, "ux" },
};

static size_t field_max(char c)
{
	switch (c) {
	case 's':
		return PT_MAX_STR;
	case 't':
		return PT_MAX_TOKEN;
	case 'x':
		return PT_MAX_TEXT;
	case 'c':
		return PT_MAX_CODE;
	default:
		return 0;
	}
}

/* Builds a payload for desc. String field number `which` (counting only
 * strings) gets `special` of length special_len instead of "v". */
static struct ptbuf *build(const char *desc, int which, const char *special, size_t special_len)
{
	struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);
	int sidx = 0;

	assert_non_null(b);
	for (const char *d = desc; *d; d++) {
		switch (*d) {
		case 'b':
			assert_int_equal(ptbuf_put_u8(b, 1), 0);
			break;
		case 'u':
			assert_int_equal(ptbuf_put_u32(b, 1), 0);
			break;
		case 'q':
			assert_int_equal(ptbuf_put_u64(b, 1), 0);
			break;
		default:
			if (sidx++ == which)
				assert_int_equal(ptbuf_put_string(b, special, special_len), 0);
			else
				assert_int_equal(ptbuf_put_string(b, "v", 1), 0);
			break;
		}
	}
	return b;
}

/* Decodes with the layout's decoder; on success re-encodes and checks the
 * frame's payload is byte-identical (decoding is canonical), then clears. */
static int decode_layout(const struct layout *l, const uint8_t *p, size_t n)
{
	union {
		struct pt_req q;
		struct pt_rep p;
	} u, saved;
	struct ptbuf *out;
	int r, e;

	memset(&u, 0xa5, sizeof(u));
	saved = u;
	if (l->is_rep == 0)
		r = pt_req_decode(l->type, p, n, &u.q);
	else
		r = pt_rep_decode(l->type, l->is_rep == 1 ? PT_OK : PT_ERR, p, n, &u.p);
	if (r < 0) {
		/* Output untouched on failure. */
		assert_memory_equal(&u, &saved, sizeof(u));
		return r;
	}
	out = ptbuf_new(4 + PT_MAX_FRAME);
	assert_non_null(out);
	e = l->is_rep == 0 ? pt_req_encode(&u.q, out) : pt_rep_encode(l->type, &u.p, out);
	assert_int_equal(e, 0);
	assert_int_equal(ptbuf_len(out), 5 + n);
	assert_int_equal(ptbuf_ptr(out)[4],
			 l->is_rep == 0 ? l->type : (l->is_rep == 1 ? PT_OK : PT_ERR));
	if (n > 0)
		assert_memory_equal(ptbuf_ptr(out) + 5, p, n);
	ptbuf_free(out);
	if (l->is_rep == 0)
		pt_req_clear(&u.q);
	else
		pt_rep_clear(&u.p);
	return 0;
}

/* ------------------------------------------------------------ generic tests */

static void test_layouts_valid_truncated_trailing(void **state)
{
	for (size_t i = 0; i < PT_ELEMENTSOF(layouts); i++) {
		const struct layout *l = &layouts[i];
		struct ptbuf *b = build(l->desc, -1, NULL, 0);
		size_t n = ptbuf_len(b);
		uint8_t *copy;

		if (decode_layout(l, ptbuf_ptr(b), n) != 0)
			fail_msg("%s: valid payload rejected", l->name);
		/* Truncated at every byte. */
		for (size_t cut = 0; cut < n; cut++)
			if (decode_layout(l, ptbuf_ptr(b), cut) != -EBADMSG)
				fail_msg("%s: truncation at %zu accepted", l->name, cut);
		/* One trailing byte. */
		copy = malloc(n + 1);
		assert_non_null(copy);
		memcpy(copy, ptbuf_ptr(b), n);
		copy[n] = 0;
		if (decode_layout(l, copy, n + 1) != -EBADMSG)
			fail_msg("%s: trailing byte accepted", l->name);
		free(copy);
		ptbuf_free(b);
	}
}

static void test_layouts_string_limits(void **state)
{
	char *big = malloc(PT_MAX_TEXT + 2);

	assert_non_null(big);
	memset(big, 'a', PT_MAX_TEXT + 2);
	for (size_t i = 0; i < PT_ELEMENTSOF(layouts); i++) {
		const struct layout *l = &layouts[i];
		int sidx = 0;

		for (const char *d = l->desc; *d; d++) {
			size_t max = field_max(*d);
			struct ptbuf *b;

			if (!max)
				continue;
			/* Exactly the maximum: accepted. */
			b = build(l->desc, sidx, big, max);
			if (decode_layout(l, ptbuf_ptr(b), ptbuf_len(b)) != 0)
				fail_msg("%s: string %d of max length rejected", l->name, sidx);
			ptbuf_free(b);
			/* One over: rejected. */
			b = build(l->desc, sidx, big, max + 1);
			if (decode_layout(l, ptbuf_ptr(b), ptbuf_len(b)) != -EBADMSG)
				fail_msg("%s: string %d over max accepted", l->name, sidx);
			ptbuf_free(b);
			/* Embedded NUL (middle, first, last byte). */
			b = build(l->desc, sidx, "a\0b", 3);
			if (decode_layout(l, ptbuf_ptr(b), ptbuf_len(b)) != -EBADMSG)
				fail_msg("%s: string %d with NUL accepted", l->name, sidx);
			ptbuf_free(b);
			b = build(l->desc, sidx, "\0", 1);
			if (decode_layout(l, ptbuf_ptr(b), ptbuf_len(b)) != -EBADMSG)
				fail_msg("%s: string %d = NUL accepted", l->name, sidx);
			ptbuf_free(b);
			b = build(l->desc, sidx, "ab\0", 3);
			if (decode_layout(l, ptbuf_ptr(b), ptbuf_len(b)) != -EBADMSG)
				fail_msg("%s: string %d ending in NUL accepted", l->name, sidx);
			ptbuf_free(b);
			/* Empty string: fine. */
			b = build(l->desc, sidx, "", 0);
			if (decode_layout(l, ptbuf_ptr(b), ptbuf_len(b)) != 0)
				fail_msg("%s: empty string %d rejected", l->name, sidx);
			ptbuf_free(b);
			sidx++;
		}
	}
	free(big);
}

/* A string whose length field claims more than the payload holds. */
static void test_length_field_lies(void **state)
{
	static const uint8_t p1[] = { 0, 0, 0, 5, 'a', 'b' };
	static const uint8_t p2[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
	static const uint8_t p3[] = { 0x80, 0, 0, 0 };
	struct pt_req q = { 0 };

	assert_int_equal(pt_req_decode(PT_LIST, p1, sizeof(p1), &q), -EBADMSG);
	assert_int_equal(pt_req_decode(PT_REVOKE, p2, sizeof(p2), &q), -EBADMSG);
	assert_int_equal(pt_req_decode(PT_REVOKE, p3, sizeof(p3), &q), -EBADMSG);
	assert_null(q.id);
	assert_null(q.user);
}

/* ------------------------------------------------------------ requests */

static void test_req_roundtrip(void **state)
{
	const struct pt_req reqs[] = {
		{ .type = PT_HELLO, .version = PT_PROTO_VERSION },
		{ .type = PT_HELLO, .version = 2 }, /* wrong version still decodes: tokend judges */
		{ .type = PT_MINT,
		  .user = "alice",
		  .service = "sshd",
		  .tty = "pts/1",
		  .rhost = "10.0.0.1" },
		{ .type = PT_EXCHANGE,
		  .live_token = "aaa.bbb.ccc",
		  .holder = "atd",
		  .lifetime = 7 * 86400 },
		{ .type = PT_REDEEM, .user = "alice", .holder = "atd", .service = "atd" },
		{ .type = PT_LIST, .user = "" },
		{ .type = PT_REVOKE, .id = "pt_abc" },
		{ .type = PT_PUBKEY, .format = PT_PUBKEY_JWKS },
		{ .type = PT_STATUS },
		{ .type = PT_EXPLAIN, .user = "alice", .holder = "atd", .at = 1700000000 },
		{ .type = PT_EXPLAIN, .user = "", .holder = "", .at = UINT64_MAX },
		{ .type = PT_REVOKE_MATCH, .user = "", .holder = "cron", .before = 0 },
		{ .type = PT_REVOKE_MATCH, .user = "bob", .holder = "", .before = 1700000000 },
		{ .type = PT_CODE_ISSUE, .ttype = "recovery", .user = "alice" },
		{ .type = PT_CODE_CHECK,
		  .ttype = "recovery",
		  .user = "alice",
		  .code = "ABCDEFGHIJKLMNOPQRST" },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(reqs); i++) {
		const struct pt_req *in = &reqs[i];
		struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);
		struct pt_req q = { 0 };
		const uint8_t *payload;
		size_t plen, used;
		uint8_t type;

		assert_non_null(b);
		assert_int_equal(pt_req_encode(in, b), 0);
		assert_int_equal(pt_frame_split(ptbuf_ptr(b), ptbuf_len(b), PT_MAX_FRAME, &type,
						&payload, &plen, &used),
				 0);
		assert_int_equal(used, ptbuf_len(b));
		assert_int_equal(type, in->type);
		assert_int_equal(pt_req_decode(type, payload, plen, &q), 0);
		assert_int_equal(q.type, in->type);
		assert_int_equal(q.version, in->version);
		assert_int_equal(q.lifetime, in->lifetime);
		assert_int_equal(q.format, in->format);
		assert_int_equal(q.at, in->at);
		assert_int_equal(q.before, in->before);
#define CHECK_STR(f)                                     \
	do {                                             \
		if (in->f)                               \
			assert_string_equal(q.f, in->f); \
		else                                     \
			assert_null(q.f);                \
	} while (0)
		CHECK_STR(user);
		CHECK_STR(service);
		CHECK_STR(tty);
		CHECK_STR(rhost);
		CHECK_STR(live_token);
		CHECK_STR(holder);
		CHECK_STR(id);
		CHECK_STR(ttype);
		CHECK_STR(code);
#undef CHECK_STR
		pt_req_clear(&q);
		{
			struct pt_req zero = { 0 };

			assert_memory_equal(&q, &zero, sizeof(q));
		}
		ptbuf_free(b);
	}
}

static void test_req_null_strings_encode_empty(void **state)
{
	struct pt_req in = { .type = PT_MINT, .user = "bob" }, q = { 0 };
	struct ptbuf *b = ptbuf_new(1024);

	assert_non_null(b);
	assert_int_equal(pt_req_encode(&in, b), 0);
	assert_int_equal(pt_req_decode(PT_MINT, ptbuf_ptr(b) + 5, ptbuf_len(b) - 5, &q), 0);
	assert_string_equal(q.user, "bob");
	assert_string_equal(q.service, "");
	assert_string_equal(q.tty, "");
	assert_string_equal(q.rhost, "");
	pt_req_clear(&q);
	ptbuf_free(b);
}

/* A grant SPEC's confinement (flag 0x02 in has_hours): carried when asked,
 * absent (and the bytes an older tokend reads) when not; malformed refused. */
static void test_grant_spec_confinement(void **state)
{
	struct pt_grant_wire_cmd cmd = { .path = "/bin/true" };
	struct pt_grant_wire_path paths[2] = { { "/srv/in", 0 }, { "/srv/out", 1 } };
	struct pt_grant_spec spec = { .servicer = "svc",
				      .servicer_exe = "",
				      .servicer_unit = "",
				      .cmds = &cmd,
				      .n_cmds = 1,
				      .lifetime = 60,
				      .has_hours = 1,
				      .hours_from = 1,
				      .hours_to = 5 };
	struct pt_req in = { .type = PT_GRANT_CREATE, .user = "", .gspec = &spec }, q = { 0 };
	struct ptbuf *b = ptbuf_new(4096);
	uint8_t raw[4096];
	size_t plain;

	(void)state;
	assert_non_null(b);
	/* none: no flag, no trailing bytes (an older tokend's layout) */
	assert_int_equal(pt_req_encode(&in, b), 0);
	plain = ptbuf_len(b);
	assert_int_equal(pt_req_decode(in.type, ptbuf_ptr(b) + 5, plain - 5, &q), 0);
	assert_int_equal(q.gspec->has_hours, 1);
	assert_int_equal(q.gspec->no_network, 0);
	assert_int_equal(q.gspec->n_paths, 0);
	pt_req_clear(&q);
	ptbuf_reset(b);
	spec.no_network = 1;
	spec.paths = paths;
	spec.n_paths = 2;
	assert_int_equal(pt_req_encode(&in, b), 0);
	assert_true(ptbuf_len(b) > plain);
	assert_int_equal(pt_req_decode(in.type, ptbuf_ptr(b) + 5, ptbuf_len(b) - 5, &q), 0);
	assert_int_equal(q.gspec->has_hours, 1);
	assert_int_equal(q.gspec->no_network, 1);
	assert_int_equal(q.gspec->n_paths, 2);
	assert_string_equal(q.gspec->paths[0].path, "/srv/in");
	assert_int_equal(q.gspec->paths[0].write, 0);
	assert_string_equal(q.gspec->paths[1].path, "/srv/out");
	assert_int_equal(q.gspec->paths[1].write, 1);
	pt_req_clear(&q);
	/* malformed: a relative path, write not 0/1, truncated */
	size_t n = ptbuf_len(b) - 5;
	memcpy(raw, ptbuf_ptr(b) + 5, n);
	raw[n - 8] = 'x'; /* "/srv/out" -> "xsrv/out" */
	assert_int_equal(pt_req_decode(in.type, raw, n, &q), -EBADMSG);
	raw[n - 8] = '/';
	raw[n - 13] = 2; /* the second path's write byte */
	assert_int_equal(pt_req_decode(in.type, raw, n, &q), -EBADMSG);
	raw[n - 13] = 1;
	assert_int_equal(pt_req_decode(in.type, raw, n, &q), 0);
	pt_req_clear(&q);
	assert_int_equal(pt_req_decode(in.type, raw, n - 1, &q), -EBADMSG);
	ptbuf_free(b);
}

static void test_req_bad_types_and_values(void **state)
{
	static const uint8_t bad_types[] = { 0, 2, 9, 0x7e, 0x7f, PT_OK, PT_ERR, 0xff };
	static const uint8_t fmt_bad[] = { 2 }, fmt_ff[] = { 0xff };
	struct pt_req q = { 0 };

	for (size_t i = 0; i < sizeof(bad_types); i++) {
		assert_int_equal(pt_req_decode(bad_types[i], NULL, 0, &q), -EBADMSG);
		assert_int_equal(pt_req_decode(bad_types[i], fmt_bad, 1, &q), -EBADMSG);
	}
	assert_int_equal(pt_req_decode(PT_PUBKEY, fmt_bad, 1, &q), -EBADMSG);
	assert_int_equal(pt_req_decode(PT_PUBKEY, fmt_ff, 1, &q), -EBADMSG);
	assert_int_equal(pt_req_decode(PT_STATUS, fmt_bad, 1, &q), -EBADMSG);
	assert_int_equal(pt_req_decode(PT_STATUS, NULL, 0, &q), 0);
	assert_int_equal(q.type, PT_STATUS);
	assert_int_equal(pt_req_decode(PT_STATUS, NULL, 1, &q), -EINVAL);
	pt_req_clear(NULL);

	/* Encoding an unknown type. */
	{
		struct pt_req in = { .type = 99 };
		struct ptbuf *b = ptbuf_new(64);

		assert_non_null(b);
		assert_int_equal(pt_req_encode(&in, b), -EINVAL);
		assert_int_equal(ptbuf_len(b), 0);
		ptbuf_free(b);
	}
}

static void test_req_encode_sizes(void **state)
{
	char *big = malloc(PT_MAX_TOKEN + 2);
	struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME), *small = ptbuf_new(8);
	struct pt_req in = { .type = PT_EXCHANGE, .holder = "atd" };

	assert_non_null(big);
	assert_non_null(b);
	assert_non_null(small);
	memset(big, 'x', PT_MAX_TOKEN + 1);
	big[PT_MAX_TOKEN + 1] = '\0';
	assert_int_equal(ptbuf_put_u8(b, 0xee), 0); /* pre-existing content stays */

	in.live_token = big;
	assert_int_equal(pt_req_encode(&in, b), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 1);
	big[PT_MAX_TOKEN] = '\0';
	assert_int_equal(pt_req_encode(&in, b), 0);
	assert_int_equal(ptbuf_len(b), 1 + 5 + 4 + PT_MAX_TOKEN + 4 + 3 + 8);
	assert_int_equal(ptbuf_ptr(b)[0], 0xee);

	/* A name one byte too long. */
	big[PT_MAX_STR + 1] = '\0';
	in = (struct pt_req){ .type = PT_REDEEM, .user = "u", .holder = big, .service = "s" };
	ptbuf_reset(b);
	assert_int_equal(pt_req_encode(&in, b), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 0);
	big[PT_MAX_STR] = '\0';
	assert_int_equal(pt_req_encode(&in, b), 0);

	/* Output buffer too small: all or nothing. */
	in = (struct pt_req){ .type = PT_LIST, .user = "alice" };
	assert_int_equal(pt_req_encode(&in, small), -EMSGSIZE);
	assert_int_equal(ptbuf_len(small), 0);
	in = (struct pt_req){ .type = PT_STATUS };
	assert_int_equal(pt_req_encode(&in, small), 0);
	assert_int_equal(ptbuf_len(small), 5);

	ptbuf_free(small);
	ptbuf_free(b);
	free(big);
}

/* ------------------------------------------------------------ replies */

static void test_rep_roundtrip(void **state)
{
	struct pt_tokinfo list[2] = {
		{ .id = "pt_1",
		  .user = "alice",
		  .uid = 1000,
		  .holder = "atd",
		  .actor = "sshd",
		  .iat = 1,
		  .exp = 2,
		  .last_used = 3,
		  .uses = 4 },
		{ .id = "pt_2",
		  .user = "bob",
		  .uid = 1001,
		  .holder = "cron",
		  .actor = "login",
		  .iat = UINT64_MAX,
		  .exp = 5,
		  .last_used = 0,
		  .uses = UINT32_MAX },
	};
	struct pt_codeinfo sheet[] = { { .id = 1, .code = "ABCDEFGHIJKL" },
				       { .id = 2, .code = "MNOPQRSTUVWX" } };
	struct pt_codeinfo ids[] = { { .id = 1, .uses = 1, .spent = 1 }, { .id = 2 } };
	const struct {
		uint8_t req;
		struct pt_rep rep;
	} reps[] = {
		{ PT_HELLO, { .type = PT_OK, .version = 1 } },
		{ PT_MINT, { .type = PT_OK, .token = "h.p.s", .exp = 1700000000, .id = "" } },
		{ PT_REDEEM, { .type = PT_OK, .token = "h.p.s", .exp = 1700000300, .id = "pt_x" } },
		{ PT_EXCHANGE, { .type = PT_OK, .id = "pt_y", .exp = 99, .renewed = 1 } },
		{ PT_LIST, { .type = PT_OK, .list = list, .n_list = 2 } },
		{ PT_LIST, { .type = PT_OK, .n_list = 0 } },
		{ PT_REVOKE, { .type = PT_OK, .count = 3 } },
		{ PT_PUBKEY, { .type = PT_OK, .text = "-----BEGIN PUBLIC KEY-----\n" } },
		{ PT_STATUS, { .type = PT_OK, .text = "version=0.1.0\npid=1\n" } },
		{ PT_EXPLAIN, { .type = PT_OK, .text = "decision: allow\n" } },
		{ PT_REVOKE_MATCH, { .type = PT_OK, .count = 7 } },
		{ PT_CODE_ISSUE, { .type = PT_OK, .token = "ABCDEFGHIJKLMNOPQRST", .exp = 86400 } },
		{ PT_CODE_CHECK, { .type = PT_OK, .count = UINT32_MAX } },
		{ PT_CODE_SHEET, { .type = PT_OK, .exp = 86400, .codes = sheet, .n_codes = 2 } },
		{ PT_CODE_LIST,
		  { .type = PT_OK,
		    .iat = 5,
		    .exp = 86400,
		    .failures = 2,
		    .locked_until = 7,
		    .codes = ids,
		    .n_codes = 2 } },
		{ PT_CODE_LIST, { .type = PT_OK, .n_codes = 0 } },
		{ PT_CODE_CHECK, { .type = PT_ERR, .err_code = PT_E_LIMIT, .message = "locked" } },
		{ PT_REDEEM, { .type = PT_ERR, .err_code = PT_E_DENIED, .message = "rule x" } },
		{ PT_HELLO, { .type = PT_ERR, .err_code = PT_E_VERSION, .message = "version" } },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(reps); i++) {
		const struct pt_rep *in = &reps[i].rep;
		struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);
		struct pt_rep p = { 0 };
		const uint8_t *payload;
		size_t plen, used;
		uint8_t type;

		assert_non_null(b);
		assert_int_equal(pt_rep_encode(reps[i].req, in, b), 0);
		assert_int_equal(pt_frame_split(ptbuf_ptr(b), ptbuf_len(b), PT_MAX_FRAME, &type,
						&payload, &plen, &used),
				 0);
		assert_int_equal(type, in->type);
		assert_int_equal(pt_rep_decode(reps[i].req, type, payload, plen, &p), 0);
		assert_int_equal(p.type, in->type);
		assert_int_equal(p.err_code, in->err_code);
		assert_int_equal(p.version, in->version);
		assert_int_equal(p.exp, in->exp);
		assert_int_equal(p.renewed, in->renewed);
		assert_int_equal(p.count, in->count);
		assert_int_equal(p.n_list, in->n_list);
		assert_int_equal(p.iat, in->iat);
		assert_int_equal(p.failures, in->failures);
		assert_int_equal(p.locked_until, in->locked_until);
		assert_int_equal(p.n_codes, in->n_codes);
		if (in->n_codes == 0)
			assert_null(p.codes);
		for (uint32_t k = 0; k < in->n_codes; k++) {
			assert_int_equal(p.codes[k].id, in->codes[k].id);
			assert_int_equal(p.codes[k].uses, in->codes[k].uses);
			assert_int_equal(p.codes[k].spent, in->codes[k].spent);
			if (in->codes[k].code)
				assert_string_equal(p.codes[k].code, in->codes[k].code);
			else
				assert_null(p.codes[k].code);
		}
#define CHECK_STR(f)                                     \
	do {                                             \
		if (in->f)                               \
			assert_string_equal(p.f, in->f); \
		else                                     \
			assert_null(p.f);                \
	} while (0)
		CHECK_STR(message);
		CHECK_STR(token);
		CHECK_STR(id);
		CHECK_STR(text);
#undef CHECK_STR
		if (in->n_list == 0)
			assert_null(p.list);
		for (uint32_t k = 0; k < in->n_list; k++) {
			assert_string_equal(p.list[k].id, in->list[k].id);
			assert_string_equal(p.list[k].user, in->list[k].user);
			assert_string_equal(p.list[k].holder, in->list[k].holder);
			assert_string_equal(p.list[k].actor, in->list[k].actor);
			assert_int_equal(p.list[k].uid, in->list[k].uid);
			assert_true(p.list[k].iat == in->list[k].iat);
			assert_int_equal(p.list[k].exp, in->list[k].exp);
			assert_int_equal(p.list[k].last_used, in->list[k].last_used);
			assert_int_equal(p.list[k].uses, in->list[k].uses);
		}
		pt_rep_clear(&p);
		{
			struct pt_rep zero = { 0 };

			assert_memory_equal(&p, &zero, sizeof(p));
		}
		ptbuf_free(b);
	}
	pt_rep_clear(NULL);
}

/* LIST_PAGE: the entries, the "more" flag and the cursor survive a round
 * trip; LIST keeps v0.1's layout (no flag); "more" is 0 or 1. */
static void test_rep_list_page(void **state)
{
	struct pt_tokinfo one = {
		.id = "pt_1", .user = "alice", .uid = 1, .holder = "atd", .actor = "sshd"
	};
	struct pt_rep in = {
		.type = PT_OK, .list = &one, .n_list = 1, .more = 1, .cursor = "00ff"
	};
	struct pt_req rq = { .type = PT_LIST_PAGE, .user = "", .cursor = "abc" }, rq2 = { 0 };
	struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);
	struct pt_rep p = { 0 };
	const uint8_t *payload;
	size_t plen, used;
	uint8_t type;

	assert_non_null(b);
	assert_int_equal(pt_rep_encode(PT_LIST_PAGE, &in, b), 0);
	assert_int_equal(pt_frame_split(ptbuf_ptr(b), ptbuf_len(b), PT_MAX_FRAME, &type, &payload,
					&plen, &used),
			 0);
	assert_int_equal(pt_rep_decode(PT_LIST_PAGE, type, payload, plen, &p), 0);
	assert_int_equal(p.n_list, 1);
	assert_string_equal(p.list[0].user, "alice");
	assert_int_equal(p.more, 1);
	assert_string_equal(p.cursor, "00ff");
	pt_rep_clear(&p);
	/* the same reply as a v0.1 LIST does not decode as a page, and back */
	assert_int_equal(pt_rep_decode(PT_LIST, type, payload, plen, &p), -EBADMSG);
	/* more = 2 is malformed */
	assert_int_equal(((uint8_t *)payload)[plen - 4 - 4 - 1], 1);
	((uint8_t *)payload)[plen - 4 - 4 - 1] = 2;
	assert_int_equal(pt_rep_decode(PT_LIST_PAGE, type, payload, plen, &p), -EBADMSG);
	ptbuf_reset(b);
	assert_int_equal(pt_rep_encode(PT_LIST, &in, b), 0);
	assert_int_equal(pt_frame_split(ptbuf_ptr(b), ptbuf_len(b), PT_MAX_FRAME, &type, &payload,
					&plen, &used),
			 0);
	assert_int_equal(pt_rep_decode(PT_LIST, type, payload, plen, &p), 0);
	assert_int_equal(p.more, 0);
	assert_null(p.cursor);
	pt_rep_clear(&p);
	/* the request */
	ptbuf_reset(b);
	assert_int_equal(pt_req_encode(&rq, b), 0);
	assert_int_equal(pt_frame_split(ptbuf_ptr(b), ptbuf_len(b), PT_MAX_FRAME, &type, &payload,
					&plen, &used),
			 0);
	assert_int_equal(type, PT_LIST_PAGE);
	assert_int_equal(pt_req_decode(type, payload, plen, &rq2), 0);
	assert_string_equal(rq2.cursor, "abc");
	assert_string_equal(rq2.user, "");
	pt_req_clear(&rq2);
	assert_string_equal(pt_msgtype_name(PT_LIST_PAGE), "list");
	ptbuf_free(b);
}

/* Encodes a reply of two entries to req, decodes it into *ret, and checks
 * that the same payload cut by cut bytes (inside the last entry's own part)
 * is refused. */
static void list_roundtrip(uint8_t req, struct pt_tokinfo two[2], size_t cut, struct pt_rep *ret)
{
	struct pt_rep in = { .type = PT_OK, .list = two, .n_list = 2 }, bad = { 0 };
	struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);
	const uint8_t *payload;
	size_t plen, used;
	uint8_t type;

	assert_non_null(b);
	assert_int_equal(pt_rep_encode(req, &in, b), 0);
	assert_int_equal(pt_frame_split(ptbuf_ptr(b), ptbuf_len(b), PT_MAX_FRAME, &type, &payload,
					&plen, &used),
			 0);
	assert_int_equal(pt_rep_decode(req, type, payload, plen, ret), 0);
	assert_int_equal(ret->n_list, 2);
	assert_int_equal(ret->more, 0);
	assert_int_equal(pt_rep_decode(req, type, payload, plen - cut, &bad), -EBADMSG);
	assert_string_equal(pt_msgtype_name(req), "list");
	ptbuf_free(b);
}

/* LIST_STATUS: the LIST_PAGE entries, each with the token's last refusal. */
static void test_rep_list_status(void **state)
{
	struct pt_tokinfo two[2] = {
		{ .id = "pt_1",
		  .user = "alice",
		  .holder = "atd",
		  .actor = "sshd",
		  .refused_at = 7,
		  .refusals = 3,
		  .refusal_rule = "night",
		  .refusal_reason = "outside hours" },
		{ .id = "pt_2", .user = "alice", .holder = "cron", .actor = "sshd" },
	};
	struct pt_rep p = { 0 };

	(void)state;
	list_roundtrip(PT_LIST_STATUS, two, 10, &p);
	assert_int_equal(p.list[0].refused_at, 7);
	assert_int_equal(p.list[0].refusals, 3);
	assert_string_equal(p.list[0].refusal_rule, "night");
	assert_string_equal(p.list[0].refusal_reason, "outside hours");
	assert_int_equal(p.list[1].refused_at, 0);
	assert_string_equal(p.list[1].refusal_rule, "");
	pt_rep_clear(&p);
	assert_string_equal(pt_msgtype_name(PT_EXPLAIN_ISSUE), "explain");
}

/* LIST_DELEG: the LIST_PAGE entries, each with its delegation. */
static void test_rep_list_deleg(void **state)
{
	struct pt_tokinfo two[2] = {
		{ .id = "pt_1",
		  .user = "alice",
		  .holder = "cron",
		  .actor = "sshd",
		  .delegations = 2,
		  .delegated_from = "atd" },
		{ .id = "pt_2", .user = "alice", .holder = "atd", .actor = "sshd" },
	};
	struct pt_rep p = { 0 };

	(void)state;
	list_roundtrip(PT_LIST_DELEG, two, 8, &p);
	assert_int_equal(p.list[0].delegations, 2);
	assert_string_equal(p.list[0].delegated_from, "atd");
	assert_int_equal(p.list[1].delegations, 0);
	assert_string_equal(p.list[1].delegated_from, "");
	assert_string_equal(p.list[0].refusal_rule, ""); /* LIST_STATUS's part too */
	pt_rep_clear(&p);
}

static void test_rep_list_malformed(void **state)
{
	struct pt_tokinfo t = { .id = "i", .user = "u", .holder = "h", .actor = "a" };
	struct pt_rep in = { .type = PT_OK, .list = &t, .n_list = 1 }, p = { 0 };
	struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);
	size_t n;
	uint8_t *copy;

	assert_non_null(b);
	assert_int_equal(pt_rep_encode(PT_LIST, &in, b), 0);
	n = ptbuf_len(b) - 5;
	copy = malloc(n + 1);
	assert_non_null(copy);
	memcpy(copy, ptbuf_ptr(b) + 5, n);

	for (size_t cut = 0; cut < n; cut++)
		if (pt_rep_decode(PT_LIST, PT_OK, copy, cut, &p) != -EBADMSG)
			fail_msg("list truncated at %zu accepted", cut);
	copy[n] = 0;
	assert_int_equal(pt_rep_decode(PT_LIST, PT_OK, copy, n + 1, &p), -EBADMSG);
	/* Count says 2, one entry present. */
	copy[3] = 2;
	assert_int_equal(pt_rep_decode(PT_LIST, PT_OK, copy, n, &p), -EBADMSG);
	/* Count says 0, one entry present (trailing bytes). */
	copy[3] = 0;
	assert_int_equal(pt_rep_decode(PT_LIST, PT_OK, copy, n, &p), -EBADMSG);
	/* Huge count with little data: rejected without a huge allocation. */
	copy[0] = 0xff;
	copy[3] = 0xff;
	assert_int_equal(pt_rep_decode(PT_LIST, PT_OK, copy, n, &p), -EBADMSG);
	assert_null(p.list);
	free(copy);

	/* PT_MAX_LIST entries decode; PT_MAX_LIST + 1 do not. */
	for (uint32_t cnt = PT_MAX_LIST; cnt <= PT_MAX_LIST + 1; cnt++) {
		ptbuf_reset(b);
		assert_int_equal(ptbuf_put_u32(b, cnt), 0);
		for (uint32_t k = 0; k < cnt; k++) {
			for (int s = 0; s < 2; s++)
				assert_int_equal(ptbuf_put_cstring(b, ""), 0);
			assert_int_equal(ptbuf_put_u32(b, k), 0);
			for (int s = 0; s < 2; s++)
				assert_int_equal(ptbuf_put_cstring(b, ""), 0);
			for (int s = 0; s < 3; s++)
				assert_int_equal(ptbuf_put_u64(b, k), 0);
			assert_int_equal(ptbuf_put_u32(b, k), 0);
		}
		n = ptbuf_len(b);
		if (cnt == PT_MAX_LIST) {
			assert_int_equal(pt_rep_decode(PT_LIST, PT_OK, ptbuf_ptr(b), n, &p), 0);
			assert_int_equal(p.n_list, PT_MAX_LIST);
			assert_int_equal(p.list[PT_MAX_LIST - 1].uid, PT_MAX_LIST - 1);
			pt_rep_clear(&p);
		} else
			assert_int_equal(pt_rep_decode(PT_LIST, PT_OK, ptbuf_ptr(b), n, &p),
					 -EBADMSG);
	}
	ptbuf_free(b);
}

static void test_rep_bad_types(void **state)
{
	static const uint8_t ver[] = { 0, 0, 0, 1 };
	static const uint8_t err[] = { 0, 0, 0, 1, 0, 0, 0, 0 };
	struct pt_rep p = { 0 };

	/* A reply must be PT_OK or PT_ERR. */
	assert_int_equal(pt_rep_decode(PT_HELLO, PT_HELLO, ver, sizeof(ver), &p), -EBADMSG);
	assert_int_equal(pt_rep_decode(PT_HELLO, 0x82, ver, sizeof(ver), &p), -EBADMSG);
	assert_int_equal(pt_rep_decode(PT_HELLO, 0, ver, sizeof(ver), &p), -EBADMSG);
	/* PT_OK to a request type that does not exist. */
	assert_int_equal(pt_rep_decode(0, PT_OK, ver, sizeof(ver), &p), -EBADMSG);
	assert_int_equal(pt_rep_decode(PT_OK, PT_OK, ver, sizeof(ver), &p), -EBADMSG);
	/* PT_OK to STATUS/PUBKEY with a u32 is a truncated string header. */
	assert_int_equal(pt_rep_decode(PT_STATUS, PT_OK, ver, sizeof(ver), &p), -EBADMSG);
	/* PT_ERR decodes whatever the request was; unknown codes pass through. */
	assert_int_equal(pt_rep_decode(0, PT_ERR, err, sizeof(err), &p), 0);
	assert_int_equal(p.err_code, 1);
	assert_string_equal(p.message, "");
	pt_rep_clear(&p);
	{
		static const uint8_t err99[] = { 0, 0, 0, 99, 0, 0, 0, 1, 'x' };

		assert_int_equal(pt_rep_decode(PT_MINT, PT_ERR, err99, sizeof(err99), &p), 0);
		assert_int_equal(p.err_code, 99);
		assert_string_equal(pt_errcode_name(p.err_code), "unknown");
		pt_rep_clear(&p);
	}
	assert_int_equal(pt_rep_decode(PT_HELLO, PT_OK, NULL, 4, &p), -EINVAL);
}

static void test_rep_encode_errors(void **state)
{
	struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);
	char *big = malloc(PT_MAX_TEXT + 2);
	struct pt_rep in = { .type = PT_OK }, p = { 0 };
	struct pt_tokinfo *many;

	assert_non_null(b);
	assert_non_null(big);
	memset(big, 'x', PT_MAX_TEXT + 1);
	big[PT_MAX_TEXT + 1] = '\0';

	/* Not PT_OK / PT_ERR. */
	in.type = 5;
	assert_int_equal(pt_rep_encode(PT_HELLO, &in, b), -EINVAL);
	in.type = PT_OK;
	assert_int_equal(pt_rep_encode(0, &in, b), -EINVAL);
	assert_int_equal(ptbuf_len(b), 0);

	/* Text: PT_MAX_TEXT fits, one more does not. */
	in.text = big;
	assert_int_equal(pt_rep_encode(PT_STATUS, &in, b), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 0);
	big[PT_MAX_TEXT] = '\0';
	assert_int_equal(pt_rep_encode(PT_PUBKEY, &in, b), 0);
	ptbuf_reset(b);

	/* Error message: too long, NULL (encodes ""). */
	big[PT_MAX_TEXT] = 'x';
	assert_int_equal(pt_rep_encode_error(b, PT_E_INTERNAL, big), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 0);
	assert_int_equal(pt_rep_encode_error(b, PT_E_PROTO, NULL), 0);
	assert_int_equal(pt_rep_decode(PT_HELLO, PT_ERR, ptbuf_ptr(b) + 5, ptbuf_len(b) - 5, &p),
			 0);
	assert_int_equal(p.err_code, PT_E_PROTO);
	assert_string_equal(p.message, "");
	pt_rep_clear(&p);
	ptbuf_reset(b);

	/* LIST: more than PT_MAX_LIST entries; entries that overflow a frame. */
	many = calloc(PT_MAX_LIST + 1, sizeof(*many));
	assert_non_null(many);
	big[PT_MAX_STR] = '\0';
	for (size_t i = 0; i <= PT_MAX_LIST; i++)
		many[i] =
			(struct pt_tokinfo){ .id = big, .user = big, .holder = big, .actor = big };
	in = (struct pt_rep){ .type = PT_OK, .list = many, .n_list = PT_MAX_LIST + 1 };
	assert_int_equal(pt_rep_encode(PT_LIST, &in, b), -EMSGSIZE);
	in.n_list = PT_MAX_LIST;
	assert_int_equal(pt_rep_encode(PT_LIST, &in, b), -EMSGSIZE);
	assert_int_equal(ptbuf_len(b), 0);
	in.n_list = 60; /* 60 * (4 * 259 + 32) < 64 KiB */
	assert_int_equal(pt_rep_encode(PT_LIST, &in, b), 0);
	in = (struct pt_rep){ .type = PT_OK, .list = NULL, .n_list = 1 };
	assert_int_equal(pt_rep_encode(PT_LIST, &in, b), -EMSGSIZE);
	free(many);
	ptbuf_free(b);
	free(big);
}

/* ------------------------------------------------------------ frames */

static void test_frame_split(void **state)
{
	static const struct {
		const char *name;
		uint8_t bytes[12];
		size_t n;
		size_t max;
		int r;
		uint8_t type;
		size_t plen;
		size_t used;
	} cases[] = {
		{ "empty", { 0 }, 0, PT_MAX_FRAME, -EAGAIN, 0, 0, 0 },
		{ "3 bytes", { 0, 0, 0 }, 3, PT_MAX_FRAME, -EAGAIN, 0, 0, 0 },
		{ "zero length", { 0, 0, 0, 0, 1 }, 5, PT_MAX_FRAME, -EBADMSG, 0, 0, 0 },
		{ "zero length, header only", { 0, 0, 0, 0 }, 4, PT_MAX_FRAME, -EBADMSG, 0, 0, 0 },
		{ "header only", { 0, 0, 0, 1 }, 4, PT_MAX_FRAME, -EAGAIN, 0, 0, 0 },
		{ "type only", { 0, 0, 0, 1, PT_STATUS }, 5, PT_MAX_FRAME, 0, PT_STATUS, 0, 5 },
		{ "partial", { 0, 0, 0, 5, PT_HELLO, 0, 0, 0 }, 8, PT_MAX_FRAME, -EAGAIN, 0, 0, 0 },
		{ "hello",
		  { 0, 0, 0, 5, PT_HELLO, 0, 0, 0, 1 },
		  9,
		  PT_MAX_FRAME,
		  0,
		  PT_HELLO,
		  4,
		  9 },
		{ "hello + next",
		  { 0, 0, 0, 5, PT_HELLO, 0, 0, 0, 1, 0, 0 },
		  11,
		  PT_MAX_FRAME,
		  0,
		  PT_HELLO,
		  4,
		  9 },
		{ "max exactly", { 0, 0, 0, 5, 1, 0, 0, 0, 1 }, 9, 5, 0, 1, 4, 9 },
		{ "over max", { 0, 0, 0, 6, 1, 0, 0, 0, 1, 0 }, 10, 5, -EMSGSIZE, 0, 0, 0 },
		{ "over PT_MAX_FRAME", { 0, 1, 0, 1 }, 4, PT_MAX_FRAME, -EMSGSIZE, 0, 0, 0 },
		{ "huge, incomplete",
		  { 0xff, 0xff, 0xff, 0xff, 1 },
		  5,
		  PT_MAX_FRAME,
		  -EMSGSIZE,
		  0,
		  0,
		  0 },
		{ "at PT_MAX_FRAME, incomplete",
		  { 0, 1, 0, 0, 1 },
		  5,
		  PT_MAX_FRAME,
		  -EAGAIN,
		  0,
		  0,
		  0 },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		uint8_t type = 0xee;
		const uint8_t *payload = NULL;
		size_t plen = 0xeeee, used = 0xeeee;
		int r;

		r = pt_frame_split(cases[i].bytes, cases[i].n, cases[i].max, &type, &payload, &plen,
				   &used);
		if (r != cases[i].r)
			fail_msg("%s: %d, want %d", cases[i].name, r, cases[i].r);
		if (r == 0) {
			assert_int_equal(type, cases[i].type);
			assert_int_equal(plen, cases[i].plen);
			assert_int_equal(used, cases[i].used);
			assert_ptr_equal(payload, cases[i].bytes + 5);
		} else {
			assert_int_equal(type, 0xee);
			assert_null(payload);
			assert_int_equal(plen, 0xeeee);
			assert_int_equal(used, 0xeeee);
		}
	}
}

/* Two frames back to back in one buffer, split one after the other. */
static void test_frame_stream(void **state)
{
	struct pt_req a = { .type = PT_REVOKE, .id = "pt_1" }, c = { .type = PT_STATUS };
	struct ptbuf *b = ptbuf_new(4096);
	const uint8_t *payload;
	size_t plen, used, total;
	uint8_t type;

	assert_non_null(b);
	assert_int_equal(pt_req_encode(&a, b), 0);
	assert_int_equal(pt_req_encode(&c, b), 0);
	total = ptbuf_len(b);
	assert_int_equal(
		pt_frame_split(ptbuf_ptr(b), total, PT_MAX_FRAME, &type, &payload, &plen, &used),
		0);
	assert_int_equal(type, PT_REVOKE);
	assert_int_equal(ptbuf_consume(b, used), 0);
	assert_int_equal(pt_frame_split(ptbuf_ptr(b), ptbuf_len(b), PT_MAX_FRAME, &type, &payload,
					&plen, &used),
			 0);
	assert_int_equal(type, PT_STATUS);
	assert_int_equal(plen, 0);
	assert_int_equal(ptbuf_consume(b, used), 0);
	assert_int_equal(ptbuf_len(b), 0);
	/* Big-endian length on the wire. */
	ptbuf_reset(b);
	assert_int_equal(pt_req_encode(&a, b), 0);
	assert_int_equal(ptbuf_ptr(b)[0], 0);
	assert_int_equal(ptbuf_ptr(b)[3], 1 + 4 + 4);
	ptbuf_free(b);
}

/* ------------------------------------------------------------ names */

/* PT_ACT: the argv round trip, and what its decoder refuses. */
static void act_frame(struct ptbuf *b, uint8_t flags, uint32_t n, const char *const *args,
		      size_t nargs)
{
	ptbuf_reset(b);
	assert_int_equal(ptbuf_put_cstring(b, "alice"), 0);
	assert_int_equal(ptbuf_put_cstring(b, "gr_x"), 0);
	assert_int_equal(ptbuf_put_u8(b, flags), 0);
	assert_int_equal(ptbuf_put_u32(b, n), 0);
	for (size_t i = 0; i < nargs; i++)
		assert_int_equal(ptbuf_put_cstring(b, args[i]), 0);
}

static void test_act(void **state)
{
	static const char *const ok[] = { "/bin/sh", "-c", "" };
	static const char *const rel[] = { "sh" };
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)"", NULL };
	struct pt_req in = { .type = PT_ACT,
			     .user = (char *)"alice",
			     .id = (char *)"gr_x",
			     .flags = PT_ACT_PTY,
			     .argv = argv,
			     .n_argv = 3 };
	struct ptbuf *b = ptbuf_new(PT_MAX_FRAME), *f = ptbuf_new(4 + PT_MAX_FRAME);
	struct pt_req q = { 0 };

	(void)state;
	assert_non_null(b);
	assert_non_null(f);
	assert_int_equal(pt_req_encode(&in, f), 0);
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(f) + 5, ptbuf_len(f) - 5, &q), 0);
	assert_int_equal(q.n_argv, 3);
	assert_string_equal(q.argv[0], "/bin/sh");
	assert_string_equal(q.argv[2], "");
	assert_null(q.argv[3]); /* NULL-terminated, for exec */
	assert_int_equal(q.flags, PT_ACT_PTY);
	pt_req_clear(&q);
	act_frame(b, 0, 3, ok, 3);
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), 0);
	pt_req_clear(&q);
	act_frame(b, 0, 0, NULL, 0); /* no command */
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), -EBADMSG);
	act_frame(b, 4, 3, ok, 3); /* an unknown flag */
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), -EBADMSG);
	act_frame(b, PT_ACT_CRED, 3, ok, 3); /* the credential it announces missing */
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), -EBADMSG);
	assert_int_equal(ptbuf_put_cstring(b, "e30.e30.c2ln"), 0); /* there */
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), 0);
	assert_string_equal(q.credential, "e30.e30.c2ln");
	pt_req_clear(&q);
	act_frame(b, 0, 3, ok, 3); /* a credential without the flag: trailing bytes */
	assert_int_equal(ptbuf_put_cstring(b, "e30.e30.c2ln"), 0);
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), -EBADMSG);
	act_frame(b, 0, 1, rel, 1); /* not an absolute path */
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), -EBADMSG);
	act_frame(b, 0, 1000000, ok, 3); /* a count the bytes cannot hold */
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), -EBADMSG);
	act_frame(b, 0, PT_MAX_ARGV + 1, ok, 3);
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), -EBADMSG);
	act_frame(b, 0, 4, ok, 3); /* one missing */
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(b), ptbuf_len(b), &q), -EBADMSG);
	in.flags = PT_ACT_CRED; /* the client's encoder puts the credential */
	in.credential = (char *)"e30.e30.c2ln";
	ptbuf_reset(f);
	assert_int_equal(pt_req_encode(&in, f), 0);
	assert_int_equal(pt_req_decode(PT_ACT, ptbuf_ptr(f) + 5, ptbuf_len(f) - 5, &q), 0);
	assert_string_equal(q.credential, "e30.e30.c2ln");
	pt_req_clear(&q);
	in.n_argv = PT_MAX_ARGV + 1; /* the client's encoder refuses it too */
	assert_int_equal(pt_req_encode(&in, f), -EINVAL);
	ptbuf_free(b);
	ptbuf_free(f);
}

static void test_names(void **state)
{
	static const struct {
		uint8_t t;
		const char *name;
	} types[] = {
		{ PT_HELLO, "hello" },
		{ PT_MINT, "mint" },
		{ PT_EXCHANGE, "exchange" },
		{ PT_REDEEM, "redeem" },
		{ PT_REFRESH, "refresh" },
		{ PT_LIST, "list" },
		{ PT_REVOKE, "revoke" },
		{ PT_PUBKEY, "pubkey" },
		{ PT_STATUS, "status" },
		{ PT_OK, "ok" },
		{ PT_ERR, "error" },
		{ 0, "unknown" },
		{ 2, "unknown" },
		{ PT_CODE_ISSUE, "code-issue" },
		{ PT_CODE_CHECK, "code-check" },
		{ PT_CODE_SHEET, "code-sheet" },
		{ PT_CODE_LIST, "code-list" },
		{ PT_DELEGATE, "token.delegate" },
		{ PT_LIST_DELEG, "list" },
		{ 0xff, "unknown" },
	};
	static const struct {
		uint32_t c;
		const char *name;
	} codes[] = {
		{ PT_E_PROTO, "protocol" },
		{ PT_E_VERSION, "version" },
		{ PT_E_PERM, "permission" },
		{ PT_E_DENIED, "denied" },
		{ PT_E_NOTFOUND, "not-found" },
		{ PT_E_INVALID, "invalid-token" },
		{ PT_E_LIMIT, "limit" },
		{ PT_E_INTERNAL, "internal" },
		{ PT_E_BUSY, "busy" },
		{ 0, "unknown" },
		{ 10, "unknown" },
		{ UINT32_MAX, "unknown" },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(types); i++)
		assert_string_equal(pt_msgtype_name(types[i].t), types[i].name);
	for (size_t i = 0; i < PT_ELEMENTSOF(codes); i++)
		assert_string_equal(pt_errcode_name(codes[i].c), codes[i].name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layouts_valid_truncated_trailing),
		cmocka_unit_test(test_layouts_string_limits),
		cmocka_unit_test(test_length_field_lies),
		cmocka_unit_test(test_req_roundtrip),
		cmocka_unit_test(test_act),
		cmocka_unit_test(test_req_null_strings_encode_empty),
		cmocka_unit_test(test_grant_spec_confinement),
		cmocka_unit_test(test_req_bad_types_and_values),
		cmocka_unit_test(test_req_encode_sizes),
		cmocka_unit_test(test_rep_roundtrip),
		cmocka_unit_test(test_rep_list_page),
		cmocka_unit_test(test_rep_list_status),
		cmocka_unit_test(test_rep_list_deleg),
		cmocka_unit_test(test_rep_list_malformed),
		cmocka_unit_test(test_rep_bad_types),
		cmocka_unit_test(test_rep_encode_errors),
		cmocka_unit_test(test_frame_split),
		cmocka_unit_test(test_frame_stream),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
