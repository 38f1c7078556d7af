/* SPDX-License-Identifier: MIT */
/* base64url without padding (RFC 4648 section 5), as JWS uses it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Returns a newly allocated NUL-terminated string, or NULL on ENOMEM. */
char *pt_b64url_encode(const void *p, size_t n);
/* Strict: rejects padding, whitespace, characters outside the alphabet,
 * impossible lengths (n % 4 == 1) and non-zero trailing bits.
 * On success *ret is malloc'd (and NUL-terminated for convenience, the NUL
 * not counted in *ret_len). Returns 0, -EINVAL or -ENOMEM. */
int pt_b64url_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_len);
/* base64 with padding (RFC 4648 section 4), as SSH keys and signatures use
 * it; as strict: the length a multiple of 4, '=' only as its last one or
 * two characters, nothing outside the alphabet, zero trailing bits.
 * Returns 0, -EINVAL or -ENOMEM. */
int pt_b64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_len);
