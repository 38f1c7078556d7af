/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the code record parser (STATE_DIR/codes/ *.code,
 * tokend/codes.c). Whatever parses must format again, and that must parse
 * back and format to the same text.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_code_rec rec, rec2;
	char a[8192], b[8192];
	int n, m;

	memset(&rec, 0xa5, sizeof(rec));
	memcpy(&rec2, &rec, sizeof(rec));
	if (pt_codes_parse(data, size, "recovery", "alice", &rec) != 0) {
		if (memcmp(&rec, &rec2, sizeof(rec)) != 0)
			abort(); /* untouched on failure */
		return 0;
	}
	n = pt_codes_format(&rec, a, sizeof(a));
	if (n < 0)
		abort();
	if (pt_codes_parse(a, (size_t)n, "recovery", "alice", &rec2) != 0)
		abort();
	m = pt_codes_format(&rec2, b, sizeof(b));
	if (m != n || memcmp(a, b, (size_t)n) != 0)
		abort();
	/* another type or user does not own this record */
	if (pt_codes_parse(a, (size_t)n, "recovery", "bob", &rec2) == 0)
		abort();
	return 0;
}
