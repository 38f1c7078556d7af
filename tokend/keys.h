/* SPDX-License-Identifier: MIT */
/*
 * The live-token signing key: Ed25519, generated on first start, kept in
 * STATE_DIR/signing.key encrypted (AEAD) under the store key, so it is as
 * well protected at rest as the store itself. In memory it lives in
 * OpenSSL's secure heap (mlocked, not dumped).
 */
#pragma once

#include <openssl/evp.h>
#include <stdint.h>

#include "aead.h"

/* A signing key replaced by pertokctl rotate-key: its public half stays
 * published (JWKS) and accepted until every live token it signed expired. */
struct pt_retired_key {
	EVP_PKEY *pub;
	char *kid;
	uint64_t until; /* unix time */
};

struct pt_keys {
	EVP_PKEY *sign;			/* private key (also verifies) */
	char *kid;			/* RFC 7638 thumbprint */
	char *pem;			/* public key, SubjectPublicKeyInfo PEM */
	char *jwks;			/* {"keys":[current, retired...]} */
	uint64_t created;		/* mtime of the key file */
	struct pt_retired_key *retired; /* from STATE_DIR/retired.keys, still valid at load */
	size_t n_retired;
	struct pt_keys *prev; /* the keys this rotation replaced: kept alive (and freed with
			       * this) because others (the audit trail) hold pointers into them */
};

int pt_keys_load_or_create(const char *state_dir, const uint8_t storekey[PT_STORE_KEYLEN],
			   const char *alg, struct pt_keys **ret, int *ret_created, char *err,
			   size_t errlen);
void pt_keys_free(struct pt_keys *k);

/* pt_jws_verify with the current key, else a retired key still valid at now;
 * the header's kid must name the key that verified. Same errors. */
int pt_keys_verify(const struct pt_keys *k, const char *jws, const char *typ, uint64_t now,
		   void **ret_claims, char **ret_kid);

/* Drops retired keys expired at now from the JWK set (housekeeping). */
void pt_keys_prune(struct pt_keys *k, const char *alg, uint64_t now);

/* Writes DIR/retired.keys (AEAD under storekey): k's retired keys still valid
 * at now, plus k's current key valid until now + keep. For rotation. */
int pt_keys_write_retired(const char *dir, const uint8_t storekey[PT_STORE_KEYLEN],
			  const struct pt_keys *k, uint64_t now, uint64_t keep);
