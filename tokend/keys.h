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

#include "store.h"

struct pt_keys {
	EVP_PKEY *sign;  /* private key (also verifies) */
	char *kid;       /* RFC 7638 thumbprint */
	char *pem;       /* public key, SubjectPublicKeyInfo PEM */
	char *jwks;      /* {"keys":[...]} */
	uint64_t created; /* mtime of the key file */
};

int pt_keys_load_or_create(const char *state_dir, const uint8_t storekey[PT_STORE_KEYLEN],
			   const char *alg, struct pt_keys **ret, int *ret_created, char *err,
			   size_t errlen);
void pt_keys_free(struct pt_keys *k);
