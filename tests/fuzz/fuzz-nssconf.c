/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for tokend's reading of an nsswitch.conf line
 * (pt_nssconf_strip, tokend/nssconf.c): whatever the line, the result is
 * NUL-terminated inside the buffer and names no "pertok" service.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nssconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[MAX_INPUT + 1], out[MAX_INPUT + 2];
	size_t outlen;
	int r;

	if (size > MAX_INPUT || size == 0)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	/* the output buffer's size comes from the input too: E2BIG paths */
	outlen = 1 + (size_t)data[0] % (MAX_INPUT + 1);
	r = pt_nssconf_strip(line, out, outlen);
	if (r == -EINVAL || r == -E2BIG)
		return 0;
	if (r < 0 || memchr(out, '\0', outlen) == NULL)
		abort();
	/* no service named "pertok" is left (text inside [...] is actions) */
	for (const char *p = out; *p;) {
		const char *q;

		if (*p == ' ') {
			p++;
			continue;
		}
		if (*p == '[') {
			q = strchr(p, ']');
			if (!q)
				abort(); /* an unterminated '[' was refused above */
			p = q + 1;
			continue;
		}
		for (q = p; *q && *q != ' ' && *q != '['; q++)
			;
		if (q - p == 6 && memcmp(p, "pertok", 6) == 0)
			abort();
		p = q;
	}
	return 0;
}
