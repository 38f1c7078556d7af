/* SPDX-License-Identifier: MIT */
/*
 * Key generations, rotation and resealing (pertokctl rotate-key / reseal).
 *
 * The store key, the signing key and the token files of one key generation
 * live together: STATE_DIR itself before the first rotation (generation 0),
 * then STATE_DIR/gen-N/{storekey.sealed,signing.key,retired.keys,tokens/}.
 * STATE_DIR/current ("gen-N\n") names the live generation; rotation builds
 * generation N+1 completely (fsync'd) and then replaces "current" with one
 * atomic rename, so a crash at any point leaves a store that opens: the old
 * generation before the rename, the new one after it.
 */
#pragma once

#include <stddef.h>

#include "ops.h"

/* The current generation's directory into ret (and its number). */
int pt_keygen_dir(const char *state_dir, char *ret, size_t len, unsigned *ret_gen);

/* Removes generations other than gen (left over by a crash); best effort. */
void pt_keygen_cleanup(const char *state_dir, unsigned gen);

/* New store key and signing key; every token re-wrapped; the old signing
 * key stays published until max_live_lifetime from now. msg: the outcome. */
int pt_rotate(struct pt_daemon *d, char *msg, size_t len);

/* Seals the store key again with the current config's PCR list and the
 * current PCR values. */
int pt_reseal(struct pt_daemon *d, char *msg, size_t len);
