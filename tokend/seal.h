/* SPDX-License-Identifier: MIT */
/*
 * The sealing interface: how the store key is protected at rest.
 * A backend turns a 32-byte store key into an opaque blob and back.
 * Backends: "software" (key file, loudly logged as weak); "tpm2" arrives
 * with the TPM issue. The blob file is STATE_DIR/storekey.sealed and starts
 * with the backend's name, so a blob is never opened by the wrong backend.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct pt_sealer {
	const char *name;
	const char *strength; /* one line for logs and status */
	int (*seal)(const struct pt_sealer *s, const uint8_t key[PT_STORE_KEYLEN], uint8_t **ret_blob,
		    size_t *ret_len, char *err, size_t errlen);
	int (*unseal)(const struct pt_sealer *s, const uint8_t *blob, size_t len,
		      uint8_t ret_key[PT_STORE_KEYLEN], char *err, size_t errlen);
};

/* NULL for an unknown backend name. */
const struct pt_sealer *pt_sealer_get(const char *name);

/* Loads STATE_DIR/storekey.sealed and unseals it, or (first start) creates a
 * random key and seals it. *ret_created tells which. On error err says why
 * (never falls back to another backend). */
int pt_seal_load_or_create(const struct pt_sealer *s, const char *state_dir,
			   uint8_t ret_key[PT_STORE_KEYLEN], int *ret_created, char *err, size_t errlen);
