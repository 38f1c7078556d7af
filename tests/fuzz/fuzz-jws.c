/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the compact JWS layer.
 *
 * The input is tried as a token (pt_jws_verify against a fixed Ed25519 key,
 * pt_jws_decode_unverified) and as a payload: when pt_jws_sign accepts it,
 * the token it makes must verify with the right typ, be refused with another
 * typ or key, and decode to the same payload text.
 */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TYP "pertok-live+jwt"

/* A constant test key (not a secret of anything): RFC 8037 appendix A.1. */
static const uint8_t seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
	0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
	0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};
static const uint8_t seed2[32] = { 1 };

static EVP_PKEY *key, *key2;

static void init_keys(void)
{
	if (key)
		return;
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	key2 = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed2, sizeof(seed2));
	if (!key || !key2)
		abort();
}

static void as_token(const char *s)
{
	void *claims = NULL;
	char *kid = NULL, *h = NULL, *p = NULL;
	int r;

	r = pt_jws_verify(key, s, TYP, &claims, &kid);
	if (r == 0) {
		if (!claims || !json_object_is_type(claims, json_type_object))
			abort();
		json_object_put(claims);
		free(kid);
	} else if (claims || kid)
		abort(); /* outputs must be untouched on failure */

	r = pt_jws_decode_unverified(s, &h, &p);
	if (r == 0) {
		free(h);
		free(p);
	} else if (r != -EBADMSG || h || p)
		abort();
}

static void as_payload(const char *s)
{
	char *jws = NULL, *h = NULL, *p = NULL;
	void *claims = NULL;
	char *kid = NULL;

	if (pt_jws_sign(key, "EdDSA", TYP, "kid", s, &jws) != 0)
		return;
	if (strlen(jws) > PT_JWS_MAX)
		abort();
	if (pt_jws_verify(key, jws, TYP, &claims, &kid) != 0 || !kid || strcmp(kid, "kid") != 0)
		abort();
	json_object_put(claims);
	free(kid);
	claims = NULL;
	if (pt_jws_verify(key, jws, "other+jwt", &claims, NULL) != -EPROTOTYPE || claims)
		abort();
	if (pt_jws_verify(key2, jws, TYP, &claims, NULL) != -EKEYREJECTED || claims)
		abort();
	if (pt_jws_decode_unverified(jws, &h, &p) != 0 || strcmp(p, s) != 0)
		abort();
	free(h);
	free(p);
	free(jws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	init_keys();
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	as_token(s);
	as_payload(s);
	free(s);
	return 0;
}
