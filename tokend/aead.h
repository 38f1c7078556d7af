/* SPDX-License-Identifier: MIT */
/*
 * AEAD for tokend's secrets at rest (the token store, the signing key, the
 * retired keys, the audit trail's keys): AES-256-GCM, 12-byte random nonce,
 * 16-byte tag, under the store key.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The store key: the key every sealed file of a key generation is under. */
#define PT_STORE_KEYLEN 32

/* Sealed layout: "PTK1" | nonce | ciphertext | tag; aad is authenticated
 * (callers bind each blob to where it belongs, e.g. its file name).
 * pt_aead_open returns -EBADMSG when the blob is malformed or fails
 * authentication; its output is NUL-terminated (not counted in *ret_len). */
int pt_aead_seal(const uint8_t key[PT_STORE_KEYLEN], const void *aad, size_t aadlen, const void *pt,
		 size_t ptlen, uint8_t **ret, size_t *ret_len);
int pt_aead_open(const uint8_t key[PT_STORE_KEYLEN], const void *aad, size_t aadlen,
		 const uint8_t *blob, size_t bloblen, uint8_t **ret, size_t *ret_len);
