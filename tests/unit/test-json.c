/* SPDX-License-Identifier: MIT */
/* Unit tests for common/ptjson.c */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ptjson.h"
#include "util.h"

#define S(x) x, sizeof(x) - 1

struct jcase {
	const char *name;
	const char *text;
	size_t len;
	size_t max_len;
	int max_depth;
	int want; /* 0 or negative errno */
};

static const struct jcase cases[] = {
	{ "valid object", S("{\"a\":1,\"b\":[true,null,\"x\"]}"), 64, 4, 0 },
	{ "valid, leading whitespace", S(" \t{}"), 64, 4, 0 },
	{ "trailing whitespace ok", S("{\"a\":1} \t\r\n"), 64, 4, 0 },
	{ "trailing garbage", S("{\"a\":1}x"), 64, 4, -EINVAL },
	{ "trailing garbage after space", S("{\"a\":1} x"), 64, 4, -EINVAL },
	{ "second value", S("{}{}"), 64, 4, -EINVAL },
	{ "trailing form feed", S("{}\f"), 64, 4, -EINVAL },
	{ "embedded NUL", S("{\"a\":\"b\0c\"}"), 64, 4, -EINVAL },
	{ "NUL after the value", S("{}\0"), 64, 4, -EINVAL },
	{ "too long", S("{\"a\":12345}"), 10, 4, -EINVAL },
	{ "exactly max_len", S("{\"a\":12345}"), 11, 4, 0 },
	{ "too deep", S("[[[[[1]]]]]"), 64, 4, -EINVAL },
	{ "depth within bound", S("[[[1]]]"), 64, 4, 0 },
	{ "invalid UTF-8", S("{\"a\":\"\xc3\x28\"}"), 64, 4, -EINVAL },
	{ "valid UTF-8", S("{\"a\":\"\xc3\xa9\"}"), 64, 4, 0 },
	{ "empty", S(""), 64, 4, -EINVAL },
	{ "whitespace only", S("  "), 64, 4, -EINVAL },
	{ "truncated", S("{\"a\":"), 64, 4, -EINVAL },
	{ "not strict: trailing comma", S("{\"a\":1,}"), 64, 4, -EINVAL },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		const struct jcase *c = &cases[i];
		json_object *o = (json_object *)&o; /* sentinel: must stay untouched on failure */
		int r = pt_json_parse_strict(c->text, c->len, c->max_len, c->max_depth, &o);

		if (r != c->want)
			fail_msg("case \"%s\": got %d, want %d", c->name, r, c->want);
		if (r == 0) {
			assert_non_null(o);
			json_object_put(o);
		} else
			assert_ptr_equal(o, (json_object *)&o);
	}
}

/* pt_json_parse_unique: a member named twice in one object is refused
 * (json-c would keep the last); the same name in two objects, and ':' or
 * '"' inside strings, are fine. */
static void test_unique(void **state)
{
	static const struct jcase u[] = {
		{ "duplicate member", S("{\"at\":1,\"at\":2}"), 64, 4, -EINVAL },
		{ "duplicate, nested", S("{\"a\":[{\"b\":1,\"b\":1}]}"), 64, 4, -EINVAL },
		{ "same name, two objects", S("{\"a\":{\"b\":1},\"b\":{\"b\":2}}"), 64, 4, 0 },
		{ "':' and '\"' in strings", S("{\"a:\\\"\":\"x:y\\\\\",\"b\":2}"), 64, 4, 0 },
		{ "malformed", S("{\"a\":1,}"), 64, 4, -EINVAL },
	};

	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(u); i++) {
		json_object *o = (json_object *)&o;
		int r = pt_json_parse_unique(u[i].text, u[i].len, u[i].max_len, u[i].max_depth, &o);

		if (r != u[i].want)
			fail_msg("case \"%s\": got %d, want %d", u[i].name, r, u[i].want);
		if (r == 0)
			json_object_put(o);
		else
			assert_ptr_equal(o, (json_object *)&o);
	}
}

static void test_null_args(void **state)
{
	json_object *o = NULL;

	(void)state;
	assert_int_equal(pt_json_parse_strict(NULL, 2, 64, 4, &o), -EINVAL);
	assert_int_equal(pt_json_parse_strict("{}", 2, 64, 4, NULL), -EINVAL);
	assert_null(o);
}

static void test_value_kept(void **state)
{
	json_object *o = NULL, *v;

	(void)state;
	assert_int_equal(pt_json_parse_strict(S("{\"k\":\"v\"}\n"), 64, 4, &o), 0);
	assert_true(json_object_is_type(o, json_type_object));
	assert_true(json_object_object_get_ex(o, "k", &v));
	assert_string_equal(json_object_get_string(v), "v");
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_value_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
