/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the persistable-token record decoder: the input is
 * record JSON as found in a decrypted token file. Whatever parses must
 * serialise again, and that serialisation must parse back to the same
 * text (the store writes what it reads).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_record *r = NULL, *r2 = NULL;
	char *json = NULL, *json2 = NULL;

	if (pt_record_from_json((const char *)data, size, &r) != 0) {
		if (r)
			abort(); /* failure returns nothing */
		return 0;
	}
	if (pt_record_to_json(r, &json) != 0)
		abort();
	if (pt_record_from_json(json, strlen(json), &r2) != 0)
		abort();
	if (pt_record_to_json(r2, &json2) != 0 || strcmp(json, json2) != 0)
		abort();
	if (strcmp(r->id, r2->id) != 0 || r->uid != r2->uid || r->exp != r2->exp ||
	    r->n_groups != r2->n_groups)
		abort();
	free(json);
	free(json2);
	pt_record_free(r);
	pt_record_free(r2);
	return 0;
}
