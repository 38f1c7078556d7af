/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the parser of the front's log lines
 * (pt_log_parse_line, tokend/log.c): the key holder splits whatever a
 * compromised front sends into journal fields. Every field it returns has
 * a key of [a-z_]{1,32} and lies in the caller's buffer; and every line
 * pt_log_value builds (the input as one value) parses back as one field.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_log_field f[PT_LOG_MAX_FIELDS];
	char line[MAX_INPUT + 1], buf[4096], v[2048], l2[2100];
	int n;

	if (size > MAX_INPUT)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';

	n = pt_log_parse_line(line, f, PT_LOG_MAX_FIELDS, buf, sizeof(buf));
	if (n > PT_LOG_MAX_FIELDS)
		abort();
	for (int i = 0; i < n; i++) {
		size_t kl = strlen(f[i].key);

		if (kl == 0 || kl > PT_LOG_MAX_KEY ||
		    strspn(f[i].key, "abcdefghijklmnopqrstuvwxyz_") != kl)
			abort();
		if (f[i].key < buf || f[i].value < buf ||
		    f[i].value + strlen(f[i].value) >= buf + sizeof(buf))
			abort();
	}

	/* the input as a value: what pt_log_kv writes always parses */
	memcpy(l2, "op=", 3);
	strcpy(l2 + 3, pt_log_value(line, v, sizeof(v)));
	if (pt_log_parse_line(l2, f, PT_LOG_MAX_FIELDS, buf, sizeof(buf)) != 1)
		abort();
	return 0;
}
