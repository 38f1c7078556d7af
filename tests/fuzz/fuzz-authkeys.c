/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the authorized_keys decoder (tokend/authkeys.c):
 * the input is an authorized_keys file. Each line parses or is refused with
 * a reason; each key found matches itself in the whole file (0, or -EPERM
 * when options refuse it on every line that has it), and a blob that is
 * not there never matches.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t absent[] = "\0\0\0\x0bssh-ed25519\0\0\0\x20 not a key in any file ..";
	const char *text = (const char *)data;
	size_t i = 0;
	char err[256];

	if (size > PT_AUTHKEYS_MAX)
		return 0;
	while (i < size) {
		const char *nl = memchr(text + i, '\n', size - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : size - i;
		struct pt_authkey k;
		int r;

		err[0] = '\0';
		r = pt_authkeys_line(text + i, n, &k, err, sizeof(err));
		i += n + 1;
		if (r == -EBADMSG && !err[0])
			abort();
		if (r != 1)
			continue;
		if (!k.blob || k.may_consent == (k.refused_by[0] != '\0'))
			abort();
		r = pt_authkeys_match(text, size, k.blob, k.blob_len, err, sizeof(err));
		if (r != 0 && r != -EPERM && r != -ENOMEM)
			abort();
		if (k.may_consent && r == -EPERM)
			abort(); /* this very line lets it consent */
		pt_authkey_clear(&k);
	}
	if (pt_authkeys_match(text, size, absent, sizeof(absent) - 1, err, sizeof(err)) == 0)
		abort();
	return 0;
}
