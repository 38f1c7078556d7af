/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the grant record parser (tokend/grant-record.c) and
 * the plaintext of the grants file (tokend/grant-store.c). A record that
 * parses must format again, and that must parse back and format to the same
 * text; what fails says why (a precise message) and leaves the output
 * untouched. The same bytes also go through the file parser.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grant-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_grant *g = (struct pt_grant *)data, *g2 = NULL;
	struct pt_grants *s = (struct pt_grants *)data;
	char *a = NULL, *b = NULL, err[256];
	size_t n = 0, m = 0;
	int r;

	err[0] = '\0';
	r = pt_grant_parse(data, size, &g, err, sizeof(err));
	if (r != 0) {
		if (g != (struct pt_grant *)data)
			abort(); /* untouched on failure */
		if (r != -ENOMEM && err[0] == '\0')
			abort(); /* every refusal says why */
	} else {
		if (pt_grant_format(g, &a, &n) != 0)
			abort();
		if (pt_grant_parse(a, n, &g2, NULL, 0) != 0)
			abort();
		if (pt_grant_format(g2, &b, &m) != 0 || m != n || memcmp(a, b, n) != 0)
			abort();
		if (g->n_cmds < 1 || g->n_cmds > PT_GRANT_MAX_CMDS)
			abort();
		free(a);
		free(b);
		pt_grant_free(g);
		pt_grant_free(g2);
	}
	err[0] = '\0';
	r = pt_grants_parse_file((const char *)data, size, &s, err, sizeof(err));
	if (r != 0) {
		if (s != (struct pt_grants *)data)
			abort();
		if (r != -ENOMEM && err[0] == '\0')
			abort();
		return 0;
	}
	pt_grants_free(s);
	return 0;
}
