/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the credential socket's peer-address parser (the
 * abstract address a client binds, tokend/credential-parse.c) and, on the
 * same bytes, the cgroup check. Whatever parses must name a unit and an id
 * that parse again from the address systemd would build of them, a unit
 * name the key holder's own check (pt_cred_unit_valid) accepts, and an id
 * systemd's credential_name_valid takes (printable ASCII with the space, no
 * '/' or ':', not "." or ".."); a failed parse leaves the output untouched.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credential.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_cred_addr a, b;
	char err[256], why[512], again[400];
	int n;

	memset(&a, 0xa5, sizeof(a));
	memcpy(&b, &a, sizeof(a));
	/* the cgroup check reads any text without harm */
	(void)pt_cred_check_cgroup((const char *)data, size, "a.service", 0, why, sizeof(why));
	(void)pt_cred_check_cgroup((const char *)data, size, "a.service", 1000, why, sizeof(why));
	if (pt_cred_parse_addr((const char *)data, size, &a, err, sizeof(err)) != 0) {
		if (memcmp(&a, &b, sizeof(a)) != 0 || !err[0])
			abort(); /* untouched, and said why */
		return 0;
	}
	if (!pt_cred_unit_suffix(a.unit) || !pt_cred_unit_valid(a.unit) || !a.id[0] ||
	    strlen(a.id) > PT_CRED_MAX_ID || strcmp(a.id, ".") == 0 || strcmp(a.id, "..") == 0)
		abort();
	for (const char *p = a.id; *p; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '/' || *p == ':')
			abort();
	/* systemd's form, with the peer's own number (the digits before "/") */
	const char *slash = memchr(data + 1, '/', size - 1);

	if (!slash || slash - (const char *)data - 1 > 16)
		abort();
	n = snprintf(again, sizeof(again), "%c%.*s/unit/%s/%s", 0,
		     (int)(slash - (const char *)data - 1), (const char *)data + 1, a.unit, a.id);
	if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
		abort(); /* the parse covers every byte */
	if (pt_cred_parse_addr(again, (size_t)n, &b, err, sizeof(err)) != 0 ||
	    strcmp(a.unit, b.unit) != 0 || strcmp(a.id, b.id) != 0)
		abort();
	return 0;
}
