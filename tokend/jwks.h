/* SPDX-License-Identifier: MIT */
/*
 * An external issuer's public keys: a local JWKS file (RFC 7517), read by
 * tokend at start and reload, never fetched over the network. Each key's
 * type decides the one algorithm family it verifies (extjwt.h): OKP
 * Ed25519 -> EdDSA, EC P-256 -> ES256, RSA of 2048 to 4096 bits -> RS256
 * and PS256; a key's own "alg" (when present) must be one of those and is
 * then the only one; "use" (when present) must be "sig"; "key_ops" (when
 * present) must include "verify". A key with private members (d, p, q,
 * dp, dq, qi, oth, k) is refused: the file is meant to be public.
 */
#pragma once

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "extjwt.h"

#define PT_JWKS_MAX_FILE (64u * 1024u) /* bytes */
#define PT_JWKS_MAX_KEYS 32

struct pt_jwk {
	char *kid;		/* "" when the key has none */
	enum pt_extjwt_alg alg; /* the key's "alg"; PT_EXTJWT_ALG_NONE: any of its type's */
	int type;		/* EVP_PKEY_ED25519, EVP_PKEY_EC or EVP_PKEY_RSA */
	EVP_PKEY *pkey;
};

struct pt_jwks {
	struct pt_jwk *keys;
	size_t n;
};

/* Parses a JWKS {"keys": [ ... ]} of text[0..len) (at most PT_JWKS_MAX_FILE
 * bytes, PT_JWKS_MAX_KEYS keys, kids unique). 0; -EINVAL with the reason in
 * err ("keys[1]: RSA key of 1024 bits (at least 2048)"); -ENOMEM. */
int pt_jwks_parse(const char *text, size_t len, struct pt_jwks **ret, char *err, size_t errlen);
/* Reads path: a regular file (not a symlink) owned by root (or tokend's
 * own uid) that neither group nor others may write, then pt_jwks_parse.
 * 0 or -errno with err. */
int pt_jwks_load(const char *path, struct pt_jwks **ret, char *err, size_t errlen);
void pt_jwks_free(struct pt_jwks *s);

/* May key k verify alg? */
bool pt_jwk_fits(const struct pt_jwk *k, enum pt_extjwt_alg alg);
/* The key named kid that fits alg; kid "" (the token names none): the
 * only key that fits alg, NULL when there are several. */
const struct pt_jwk *pt_jwks_find(const struct pt_jwks *s, const char *kid, enum pt_extjwt_alg alg);

/* Verifies sig over input[0..n) with key (which must fit alg: checked
 * again here). ES256 signatures are R || S (RFC 7518 3.4). 0,
 * -EKEYREJECTED (bad signature, or a key that does not fit) or -ENOMEM. */
int pt_jwk_verify(const struct pt_jwk *key, enum pt_extjwt_alg alg, const void *input, size_t n,
		  const uint8_t *sig, size_t sig_len);
