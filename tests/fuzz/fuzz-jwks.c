/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the JWKS reader (tokend/jwks.c, pt_jwks_parse): a
 * refusal says why; an accepted set has 1 to PT_JWKS_MAX_KEYS keys, unique
 * non-empty kids, each of a known type whose own alg (if any) fits it, and
 * a signature check with any of them over any input does not crash and
 * refuses garbage.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t sig[64];
	struct pt_jwks *s = NULL;
	char err[512] = "";
	int r;

	if (size > PT_JWKS_MAX_FILE)
		return 0;
	r = pt_jwks_parse((const char *)data, size, &s, err, sizeof(err));
	if (r == -EINVAL && err[0] == '\0')
		abort();
	if (r < 0)
		return 0;
	if (s->n == 0 || s->n > PT_JWKS_MAX_KEYS)
		abort();
	for (size_t i = 0; i < s->n; i++) {
		const struct pt_jwk *k = &s->keys[i];
		bool fits = false;

		for (int a = PT_EXTJWT_ALG_NONE + 1; a < PT_EXTJWT_ALG_MAX; a++) {
			if (!pt_jwk_fits(k, (enum pt_extjwt_alg)a))
				continue;
			fits = true;
			if (pt_jwk_verify(k, (enum pt_extjwt_alg)a, data, size, sig, sizeof(sig)) ==
			    0)
				abort(); /* an all-zero signature never verifies */
		}
		if (!fits || !k->pkey)
			abort();
		for (size_t j = 0; j < i; j++)
			if (*k->kid && strcmp(k->kid, s->keys[j].kid) == 0)
				abort();
	}
	pt_jwks_free(s);
	return 0;
}
