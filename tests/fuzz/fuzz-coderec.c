/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the code record parser (STATE_DIR/codes/ *.code,
 * tokend/codes.c), versions 1 and 2. Whatever parses must format again (as
 * version 2), and that must parse back and format to the same text; what
 * fails says why (a precise message) and leaves the output untouched.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pt_code_rec rec, rec2;
	static char a[32768], b[32768];
	char err[200];
	int n, m, r;

	memset(&rec, 0xa5, sizeof(rec));
	memcpy(&rec2, &rec, sizeof(rec));
	err[0] = '\0';
	r = pt_codes_parse(data, size, "recovery", "alice", &rec, err, sizeof(err));
	if (r != 0) {
		if (memcmp(&rec, &rec2, sizeof(rec)) != 0)
			abort(); /* untouched on failure */
		if (r != -ENOMEM && err[0] == '\0')
			abort(); /* every refusal says why */
		return 0;
	}
	if (rec.n_codes > PT_CODE_MAX_SHEET)
		abort();
	for (uint32_t i = 0; i < rec.n_codes; i++)
		if (rec.codes[i].id != i + 1)
			abort();
	n = pt_codes_format(&rec, a, sizeof(a));
	if (n < 0)
		abort();
	if (pt_codes_parse(a, (size_t)n, "recovery", "alice", &rec2, NULL, 0) != 0)
		abort();
	m = pt_codes_format(&rec2, b, sizeof(b));
	if (m != n || memcmp(a, b, (size_t)n) != 0)
		abort();
	/* another type or user does not own this record */
	if (pt_codes_parse(a, (size_t)n, "recovery", "bob", &rec2, NULL, 0) == 0)
		abort();
	return 0;
}
