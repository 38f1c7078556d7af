/* SPDX-License-Identifier: MIT */
/*
 * Token types (tokend/tokentype.c, tokend/codes.c): the "types" list of
 * tokend.conf with golden FILE:LINE errors, the strength scale, generation
 * (every draw satisfies the format), the format check of entered codes, case
 * folding, the token bucket and the code record parser.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tokend/conf.h"
#include "codes.h"
#include "tokentype.h"
#include "util.h"

static struct pt_config *load(const char *text, char *err, size_t errlen)
{
	struct pt_config *cfg = NULL;
	int r = pt_config_load_string(text, "t.conf", &cfg, err, errlen);

	if (r < 0)
		return NULL;
	return cfg;
}

static const struct pt_tokentype *type_of(const struct pt_config *cfg, const char *name)
{
	const struct pt_tokentype *t = pt_ttype_find(cfg->types, cfg->n_types, name);

	assert_non_null(t);
	return t;
}

#define RECOVERY                                                                                \
	"types = ( { name = \"recovery\"; kind = \"code\"; length = 20;\n"                      \
	"  case_sensitive = false;\n"                                                           \
	"  charset = { letters = true; digits = false; special = false; };\n"                   \
	"  prohibit = [ \"aaa\", \"ZZ\" ]; min_strength = 4; ttl = \"1d\"; max_ttl = \"7d\";\n" \
	"  num_uses = 1; rate = \"3/1h\"; global_rate = \"100/1h\"; max_failures = 5;\n"        \
	"  lockout = \"15m\"; } );\n"

static void test_builtins_default(void **state)
{
	char err[512];
	struct pt_config *cfg = load("", err, sizeof(err));
	const struct pt_tokentype *live, *pers;

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(cfg->n_types, 2);
	live = type_of(cfg, "live");
	pers = type_of(cfg, "persistable");
	assert_int_equal(live->kind, PT_TTYPE_JWS);
	assert_int_equal(live->ttl, 300);
	assert_int_equal(pers->kind, PT_TTYPE_PERSISTABLE);
	assert_int_equal(pers->ttl, 30 * 86400);
	assert_int_equal(pers->max_ttl, 60 * 86400);
	pt_config_free(cfg);
}

static void test_builtins_override(void **state)
{
	char err[512];
	struct pt_config *cfg;

	(void)state;
	cfg = load(
		"types = ( { name = \"live\"; ttl = \"2m\"; max_ttl = \"10m\"; },\n"
		"          { name = \"persistable\"; kind = \"persistable\"; ttl = \"7d\"; } );\n",
		err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->live_lifetime, 120);
	assert_int_equal(cfg->max_live_lifetime, 600);
	assert_int_equal(cfg->persist_lifetime, 7 * 86400);
	assert_int_equal(cfg->max_persist_lifetime, 60 * 86400);
	pt_config_free(cfg);

	/* the older tokend.* settings still work and feed the built-ins */
	cfg = load("tokend = { live_lifetime = \"90s\"; };\n", err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(type_of(cfg, "live")->ttl, 90);
	pt_config_free(cfg);
}

static void test_recovery_loads(void **state)
{
	char err[512];
	struct pt_config *cfg = load(RECOVERY, err, sizeof(err));
	const struct pt_tokentype *t;

	(void)state;
	if (!cfg)
		fail_msg("%s", err);
	t = type_of(cfg, "recovery");
	assert_int_equal(t->kind, PT_TTYPE_CODE);
	assert_int_equal(t->min_len, 20);
	assert_int_equal(t->max_len, 20);
	assert_false(t->case_sensitive);
	assert_true(t->letters);
	assert_false(t->digits);
	assert_int_equal(t->ttl, 86400);
	assert_int_equal(t->max_ttl, 7 * 86400);
	assert_int_equal(t->num_uses, 1);
	assert_int_equal(t->rate_n, 3);
	assert_int_equal(t->rate_period, 3600);
	assert_int_equal(t->global_rate_n, 100);
	assert_int_equal(t->max_failures, 5);
	assert_int_equal(t->lockout, 900);
	assert_int_equal(pt_ttype_alphabet(t), 26);
	assert_int_equal(cfg->n_types, 3);
	pt_config_free(cfg);
}

/* Golden errors: each invalid definition is refused with FILE:LINE. */
static const struct {
	const char *text;
	const char *error; /* the whole message */
} bad[] = {
	{ "types = ( { name = \"c\";\n length = 0; } );",
	  "t.conf:2: types[0] (c).length must be between 1 and 256, not 0" },
	{ "types = ( { name = \"c\";\n length = 257; } );",
	  "t.conf:2: types[0] (c).length must be between 1 and 256, not 257" },
	{ "types = ( { name = \"c\"; max_length = 8;\n min_length = 9; } );",
	  "t.conf:2: types[0] (c): min_length (9) exceeds max_length (8)" },
	{ "types = ( { name = \"c\"; length = 8;\n max_length = 9; } );",
	  "t.conf:1: types[0] (c): set length or min_length/max_length, not both" },
	{ "types = (\n { name = \"c\"; } );",
	  "t.conf:2: types[0] (c): length (or max_length) is required for a code type" },
	{ "types = ( { name = \"c\"; length = 8;\n charset = { letters = false; digits = false; }; } "
	  ");",
	  "t.conf:2: types[0] (c).charset permits no character class" },
	{ "types = ( { name = \"c\"; length = 8;\n charset = { leters = true; }; } );",
	  "t.conf:2: unknown setting \"leters\" in types[0] (c).charset (letters, digits, special)" },
	{ "types = ( { name = \"c\"; length = 4;\n require = ( \"ABCDE\" ); } );",
	  "t.conf:2: types[0] (c).require[0]: \"ABCDE\" does not fit in a code of 4 characters" },
	{ "types = ( { name = \"c\"; length = 8;\n require = ( { text = \"AB\"; at = 7; } ); } );",
	  "t.conf:2: types[0] (c).require[0]: \"AB\" at that position does not fit in a code of 8 "
	  "characters" },
	{ "types = ( { name = \"c\"; length = 8; charset = { letters = true; digits = false; };\n "
	  "require = ( \"A1\" ); } );",
	  "t.conf:2: types[0] (c).require[0]: \"A1\" has the character '1', which the charset does "
	  "not permit" },
	{ "types = ( { name = \"c\"; length = 8;\n require = ( \"%x\" ); } );",
	  "t.conf:2: types[0] (c).require[0]: \"%x\": only \"%u\" (the user name) may follow %" },
	{ "types = ( { name = \"c\"; length = 8; prohibit = [ \"BC\" ];\n require = ( \"ABC\" ); } "
	  ");",
	  "t.conf:2: types[0] (c).require[0]: \"ABC\" contains the prohibited text \"BC\"" },
	{ "types = ( { name = \"c\"; length = 8;\n prohibit = [ \"\" ]; } );",
	  "t.conf:2: types[0] (c).prohibit[0] must have 1 to 256 characters" },
	{ "types = ( { name = \"c\"; length = 8;\n min_strength = 6; } );",
	  "t.conf:2: types[0] (c).min_strength must be between 1 and 5, not 6" },
	{ "types = ( { name = \"c\"; length = 8;\n min_strength = 0; } );",
	  "t.conf:2: types[0] (c).min_strength must be between 1 and 5, not 0" },
	{ "types = ( { name = \"c\"; length = 6; charset = { letters = false; digits = true; };\n "
	  "min_strength = 2; } );",
	  "t.conf:2: types[0] (c): min_strength 2 is unreachable: 6 random characters from 10 give "
	  "19 bits, strength 1" },
	{ "types = ( { name = \"c\"; length = 8;\n colour = \"red\"; } );",
	  "t.conf:2: unknown setting \"colour\" in types[0]" },
	{ "types = ( { name = \"c\"; length = 8;\n ttl = \"2d\"; max_ttl = \"1d\"; } );",
	  "t.conf:2: types[0] (c): ttl exceeds max_ttl" },
	{ "types = ( { name = \"c\"; length = 8;\n rate = \"3 per hour\"; } );",
	  "t.conf:2: types[0] (c).rate: \"3 per hour\" is not a rate \"N/DURATION\" (e.g. \"10/1h\"; "
	  "N 1 to 1000000)" },
	{ "types = ( { name = \"c\"; length = 8; max_failures = 0;\n lockout = \"5m\"; } );",
	  "t.conf:2: types[0] (c): lockout needs max_failures" },
	{ "types = ( { name = \"c\"; length = 8; },\n { name = \"c\"; length = 9; } );",
	  "t.conf:2: types[1]: a type named \"c\" is already defined at t.conf:1" },
	{ "types = ( { name = \"c\";\n kind = \"jws\"; length = 8; } );",
	  "t.conf:2: types[0] (c).kind: jws (only the built-in type \"live\" is of kind \"jws\", "
	  "only \"persistable\" of kind \"persistable\", every other type is of kind \"code\")" },
	{ "types = ( { name = \"live\";\n length = 8; } );",
	  "t.conf:2: types[0] (live).length is not supported for the built-in type live (only ttl "
	  "and max_ttl)" },
	{ "types = ( { name = \"live\";\n ttl = \"2h\"; } );",
	  "t.conf:2: types[0] (live): ttl exceeds max_ttl" },
	{ "tokend = { live_lifetime = 60; };\ntypes = ( { name = \"live\";\n ttl = \"2m\"; } );",
	  "t.conf:3: types: live.ttl and tokend.live_lifetime (line 1) set the same lifetime; keep "
	  "one" },
	{ "types = ( {\n length = 8; } );", "t.conf:1: types[0]: name is required" },
	{ "types = ( { name = \"a b\";\n length = 8; } );",
	  "t.conf:1: types[0].name: \"a b\" is not a valid name" },
	{ "types = ( { name = \"c\"; length = 8;\n require = ( { text = \"AB\"; at = 0; },\n "
	  "{ text = \"CD\"; at = 1; } ); } );",
	  "t.conf:1: types[0] (c): required text \"CD\" does not fit in a code of type c" },
	{ "types = { name = \"c\"; };",
	  "t.conf:1: types must be a list ( { name = \"...\"; ... }, ... )" },
};

static void test_bad_definitions(void **state)
{
	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(bad); i++) {
		char err[512] = "";
		struct pt_config *cfg = load(bad[i].text, err, sizeof(err));

		if (cfg) {
			pt_config_free(cfg);
			fail_msg("case %zu was accepted: %s", i, bad[i].text);
		}
		if (strcmp(err, bad[i].error) != 0)
			fail_msg("case %zu:\n got: %s\nwant: %s", i, err, bad[i].error);
	}
}

static void test_strength_scale(void **state)
{
	(void)state;
	assert_int_equal(pt_ttype_bits(1, 2), 1);
	assert_int_equal(pt_ttype_bits(20, 26), 94); /* 20 * 4.70 = 94.0 */
	assert_int_equal(pt_ttype_bits(6, 10), 19);  /* 19.93 */
	assert_int_equal(pt_ttype_bits(8, 16), 32);
	assert_int_equal(pt_ttype_bits(10, 0), 0);
	assert_int_equal(pt_ttype_strength(6, 10), 1);	/* 19 bits */
	assert_int_equal(pt_ttype_strength(7, 16), 2);	/* 28 */
	assert_int_equal(pt_ttype_strength(8, 16), 2);	/* 32 */
	assert_int_equal(pt_ttype_strength(9, 16), 3);	/* 36 */
	assert_int_equal(pt_ttype_strength(14, 16), 3); /* 56 */
	assert_int_equal(pt_ttype_strength(15, 16), 4); /* 60 */
	assert_int_equal(pt_ttype_strength(19, 16), 4); /* 76 */
	assert_int_equal(pt_ttype_strength(20, 16), 5); /* 80 */
	assert_int_equal(pt_ttype_strength(20, 26), 5);
}

/* A table of formats: every generated code passes the format check, has
 * only permitted characters, the required texts in place, no prohibited text. */
static const char *const formats[] = {
	RECOVERY,
	"types = ( { name = \"pin\"; length = 8; charset = { letters = false; digits = true; }; "
	"prohibit = [ \"00\", \"1\" ]; } );",
	"types = ( { name = \"mixed\"; min_length = 10; max_length = 16; case_sensitive = true; "
	"charset = { letters = true; digits = true; special = true; }; min_strength = 5; } );",
	"types = ( { name = \"userc\"; length = 24; case_sensitive = false; "
	"require = ( { text = \"%u-\"; at = 0; }, \"X\" ); "
	"charset = { letters = true; digits = true; special = true; }; min_strength = 3; } );",
	"types = ( { name = \"tiny\"; length = 2; charset = { letters = false; digits = true; }; "
	"prohibit = [ \"0\", \"2\", \"4\", \"6\", \"8\" ]; } );",
};

static void test_generate_satisfies_format(void **state)
{
	(void)state;
	for (size_t f = 0; f < PT_ELEMENTSOF(formats); f++) {
		char err[512];
		struct pt_config *cfg = load(formats[f], err, sizeof(err));
		const struct pt_tokentype *t;
		unsigned seen[256] = { 0 };

		if (!cfg)
			fail_msg("format %zu: %s", f, err);
		t = &cfg->types[0];
		for (int i = 0; i < 2000; i++) {
			char why[256] = "";
			char *code = NULL;
			unsigned bits = 0;
			int r = pt_ttype_generate(t, "alice", &code, &bits, why, sizeof(why));

			if (r < 0)
				fail_msg("format %zu: generate: %s (%d)", f, why, r);
			assert_int_equal(strlen(code), t->max_len);
			if (pt_ttype_check_format(t, "alice", code, why, sizeof(why)) != 0)
				fail_msg("format %zu: %s fails: %s", f, code, why);
			for (size_t k = 0; k < t->n_prohibit; k++)
				assert_null(strcasestr(code, t->prohibit[k]));
			for (const char *c = code; *c; c++) {
				seen[(unsigned char)*c]++;
				if (!t->case_sensitive && *c >= 'a' && *c <= 'z')
					fail_msg("format %zu: lower case in %s", f, code);
			}
			if (strcmp(t->name, "userc") == 0) {
				assert_memory_equal(code, "ALICE-", 6);
				assert_non_null(strchr(code + 6, 'X'));
				assert_int_equal(bits, pt_ttype_bits(17, 26 + 10 + 14));
			}
			if (strcmp(t->name, "tiny") == 0)
				assert_true(strchr("13579", code[0]) && strchr("13579", code[1]));
			pt_free_secret(code);
		}
		/* roughly uniform: every permitted character appears (2000 draws) */
		if (strcmp(t->name, "pin") == 0)
			for (const char *c = "23456789"; *c; c++)
				assert_true(seen[(unsigned char)*c] > 500);
		pt_config_free(cfg);
	}
}

static void test_generate_refuses(void **state)
{
	char err[512], why[256];
	struct pt_config *cfg;
	char *code = NULL;

	(void)state;
	/* a user name that does not fit, or lowers the strength below the minimum */
	cfg = load("types = ( { name = \"u\"; length = 12; min_strength = 4; "
		   "require = ( { text = \"%u\"; at = 0; } ); } );",
		   err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(pt_ttype_generate(&cfg->types[0], "bob", &code, NULL, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "below min_strength 4"));
	assert_int_equal(pt_ttype_generate(&cfg->types[0], "averyveryverylongname", &code, NULL,
					   why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "does not fit"));
	assert_int_equal(pt_ttype_generate(&cfg->types[0], "a.b", &code, NULL, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "not permitted"));
	assert_null(code);
	pt_config_free(cfg);
	/* every code contains a prohibited text: refused at load (a format
	 * without %u is proved by generating one code) */
	cfg = load(
		"types = ( { name = \"p\"; length = 1; charset = { letters = false; digits = "
		"true; };\n prohibit = [ \"0\", \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", "
		"\"8\", \"9\" ]; } );",
		err, sizeof(err));
	assert_null(cfg);
	assert_string_equal(err, "t.conf:1: types[0] (p): no code of type p without a prohibited "
				 "text was found");
	/* with %u: -EAGAIN at issue, nothing returned */
	cfg = load("types = ( { name = \"q\"; length = 2; case_sensitive = false;\n"
		   "charset = { letters = true; digits = "
		   "false; };\n require = ( \"%u\" ); prohibit = [ \"A\", \"B\" ]; } );",
		   err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(pt_ttype_generate(&cfg->types[0], "ab", &code, NULL, why, sizeof(why)),
			 -EAGAIN);
	assert_null(code);
	pt_config_free(cfg);
}

static void test_check_format(void **state)
{
	char err[512], why[256];
	struct pt_config *cfg = load(RECOVERY, err, sizeof(err));
	const struct pt_tokentype *t;
	char code[32];

	(void)state;
	assert_non_null(cfg);
	t = type_of(cfg, "recovery");
	assert_int_equal(pt_ttype_check_format(t, "u", "ABCDEFGHIJKLMNOPQRST", why, sizeof(why)),
			 0);
	/* case-insensitive: lower case is accepted, and folded by normalize */
	assert_int_equal(pt_ttype_check_format(t, "u", "abcdefghijklmnopqrst", why, sizeof(why)),
			 0);
	snprintf(code, sizeof(code), "abcdefghijKLMNOPqrst");
	pt_ttype_normalize(t, code);
	assert_string_equal(code, "ABCDEFGHIJKLMNOPQRST");
	assert_int_equal(pt_ttype_check_format(t, "u", "ABCDEFGHIJKLMNOPQRS", why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "a code of type recovery has 20 characters, not 19");
	assert_int_equal(pt_ttype_check_format(t, "u", "ABCDEFGHIJKLMNOPQRS1", why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "character 20 is not permitted in a code of type recovery");
	/* prohibited, case-folded */
	assert_int_equal(pt_ttype_check_format(t, "u", "ABCDEFGHIJKLMNOPQzzT", why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "the code contains a text prohibited in type recovery");
	pt_config_free(cfg);

	/* case-sensitive, with a required text at a position (from the user name) */
	cfg = load("types = ( { name = \"cs\"; length = 10; case_sensitive = true; "
		   "require = ( { text = \"%u\"; at = 2; } ); } );",
		   err, sizeof(err));
	assert_non_null(cfg);
	t = &cfg->types[0];
	assert_int_equal(pt_ttype_check_format(t, "bob", "xxbobyyyyy", why, sizeof(why)), 0);
	assert_int_equal(pt_ttype_check_format(t, "bob", "xxBOByyyyy", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "the code lacks the required text of type cs");
	assert_int_equal(pt_ttype_check_format(t, "bob", "xbobyyyyyy", why, sizeof(why)), -EINVAL);
	snprintf(code, sizeof(code), "xxBOByyyyy");
	pt_ttype_normalize(t, code);
	assert_string_equal(code, "xxBOByyyyy"); /* case-sensitive: unchanged */
	pt_config_free(cfg);
}

static void test_bucket(void **state)
{
	struct pt_code_rec rec = { 0 };
	uint64_t wait = 0, now = 1000000;

	(void)state;
	/* 3 per hour: three at once, then one every 20 minutes */
	for (int i = 0; i < 3; i++) {
		assert_true(pt_ratelimit_peek(&rec.bucket, 3, 3600, now, NULL));
		assert_true(pt_ratelimit_take(&rec.bucket, 3, 3600, now));
	}
	assert_false(pt_ratelimit_peek(&rec.bucket, 3, 3600, now, &wait));
	assert_int_equal(wait, 1200);
	assert_false(pt_ratelimit_peek(&rec.bucket, 3, 3600, now + 1199, NULL));
	assert_true(pt_ratelimit_peek(&rec.bucket, 3, 3600, now + 1200, NULL));
	assert_true(pt_ratelimit_take(&rec.bucket, 3, 3600, now + 1200));
	assert_false(pt_ratelimit_peek(&rec.bucket, 3, 3600, now + 1200, NULL));
	/* refills to the capacity, not beyond */
	for (int i = 0; i < 3; i++) {
		assert_true(pt_ratelimit_peek(&rec.bucket, 3, 3600, now + 100000, NULL));
		assert_true(pt_ratelimit_take(&rec.bucket, 3, 3600, now + 100000));
	}
	assert_false(pt_ratelimit_peek(&rec.bucket, 3, 3600, now + 100000, NULL));
	/* no limit */
	assert_true(pt_ratelimit_peek(&rec.bucket, 0, 0, now, NULL));
}

static void test_record_parse(void **state)
{
	static const char good[] =
		"type=recovery\nuser=alice\n"
		"salt=000102030405060708090a0b0c0d0e0f\n"
		"hash=000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f\n"
		"iat=10\nlast_used=11\nhard_exp=12\nuses=1\nfailures=2\n"
		"locked_until=0\nbucket_milli=500\nbucket_ts=9\n";
	static const char *const bad_recs[] = {
		"type=other\n",	     "user=bob\n", "salt=00\n", "iat=x\n",
		"uses=4294967296\n", "nonsense\n", "what=1\n",
	};
	struct pt_code_rec rec;
	uint8_t salt[PT_CODE_SALTLEN] = { 0 }, h1[PT_CODE_HASHLEN], h2[PT_CODE_HASHLEN];

	(void)state;
	assert_int_equal(pt_codes_parse(good, strlen(good), "recovery", "alice", &rec, NULL, 0), 0);
	/* a version 1 record: its code is code 1 of a sheet of one */
	assert_int_equal(rec.n_codes, 1);
	assert_int_equal(rec.codes[0].id, 1);
	assert_int_equal(rec.codes[0].uses, 1);
	assert_int_equal(rec.codes[0].salt[15], 15);
	assert_int_equal(rec.iat, 10);
	assert_int_equal(rec.hard_exp, 12);
	assert_int_equal(rec.failures, 2);
	assert_int_equal(rec.bucket.milli, 500);
	assert_int_equal(rec.bucket.ts, 9);
	for (size_t i = 0; i < PT_ELEMENTSOF(bad_recs); i++)
		assert_int_equal(pt_codes_parse(bad_recs[i], strlen(bad_recs[i]), "recovery",
						"alice", &rec, NULL, 0),
				 -EBADMSG);
	assert_int_equal(pt_codes_parse("a\0b", 3, "recovery", "alice", &rec, NULL, 0), -EBADMSG);
	/* the hash binds type and user */
	assert_int_equal(pt_codes_hash(salt, "t", "alice", "CODE", h1), 0);
	assert_int_equal(pt_codes_hash(salt, "t", "bob", "CODE", h2), 0);
	assert_memory_not_equal(h1, h2, sizeof(h1));
	assert_int_equal(pt_codes_hash(salt, "t", "alice", "CODE", h2), 0);
	assert_memory_equal(h1, h2, sizeof(h1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtins_default),
		cmocka_unit_test(test_builtins_override),
		cmocka_unit_test(test_recovery_loads),
		cmocka_unit_test(test_bad_definitions),
		cmocka_unit_test(test_strength_scale),
		cmocka_unit_test(test_generate_satisfies_format),
		cmocka_unit_test(test_generate_refuses),
		cmocka_unit_test(test_check_format),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_record_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
