/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the SSH-signed grant request's text (common/
 * grantreq.c): the input is the request file a user signs. Whatever parses
 * is written again by pt_grantreq_format, byte for byte the same text (one
 * form per request: what was signed is what tokend reads), and a refusal
 * says why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grantreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_grantreq q = { 0 };
	char err[256] = "", *text = NULL;
	size_t len = 0;
	int r;

	r = pt_grantreq_parse((const char *)data, size, &q, err, sizeof(err));
	if (r != 0) {
		if (q.spec || (r == -EBADMSG && !err[0]))
			abort(); /* failure returns nothing, and says why */
		return 0;
	}
	if (!q.spec || q.spec->n_cmds == 0 || q.spec->lifetime == 0)
		abort();
	if (pt_grantreq_format(&q, &text, &len) != 0 || len != size ||
	    memcmp(text, data, size) != 0)
		abort();
	free(text);
	pt_grantreq_clear(&q);
	return 0;
}
