/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the entitlement usage decoders (usage.h): the file
 * STATE_DIR/usage.json and the usage journal's "U" lines. Whatever parses
 * must serialise again, and that must parse back to the same text; a
 * refusal must say why and return nothing; a journal line applied twice
 * changes nothing the second time.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void line(const uint8_t *data, size_t size)
{
	struct pt_usage *u = NULL;
	char *s;

	if (pt_usage_open(NULL, 0, &u, NULL) != 0)
		abort();
	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (pt_usage_replay(u, s) > 0 && pt_usage_replay(u, s) != 0)
		abort(); /* idempotent */
	free(s);
	pt_usage_free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_usage *u = NULL, *u2 = NULL;
	char *json = NULL, *json2 = NULL, err[256] = "";

	if (size > 2 && data[0] == 'U' && data[1] == ' ') {
		line(data, size);
		return 0;
	}
	if (pt_usage_from_json((const char *)data, size, 0, &u, err, sizeof(err)) != 0) {
		if (u || !err[0])
			abort(); /* failure returns nothing; a structural refusal says why */
		return 0;
	}
	if (pt_usage_to_json(u, &json) != 0)
		abort();
	if (pt_usage_from_json(json, strlen(json), 0, &u2, err, sizeof(err)) != 0)
		abort();
	if (pt_usage_to_json(u2, &json2) != 0 || strcmp(json, json2) != 0)
		abort();
	free(json);
	free(json2);
	pt_usage_free(u);
	pt_usage_free(u2);
	return 0;
}
