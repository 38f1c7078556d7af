/* SPDX-License-Identifier: MIT */
/*
 * Compact JWS (RFC 7515) with Ed25519 (RFC 8037) on OpenSSL EVP and json-c.
 * Header: {"alg":ALG,"typ":TYP,"kid":KID}; ALG is "EdDSA" or "Ed25519"
 * (RFC 9864); both are accepted on input, nothing else is.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>

#define PT_JWS_MAX 8192 /* longest compact JWS accepted */

/* Signs payload_json (a JSON object text) and returns "h.p.s" (malloc'd).
 * alg: "EdDSA" or "Ed25519". Returns 0, -EINVAL or -ENOMEM / -EIO. */
int pt_jws_sign(EVP_PKEY *key, const char *alg, const char *typ, const char *kid,
		const char *payload_json, char **ret_jws);

/* Verifies the signature with pub (Ed25519), checks that the header's
 * "typ" equals expect_typ exactly and its "alg" is EdDSA or Ed25519, and
 * returns the payload as a parsed json-c object (caller json_object_put()s)
 * in *ret_claims (type struct json_object **, void ** to keep json-c out of
 * this header) and the header's kid in *ret_kid (malloc'd, may be NULL when
 * absent; ret_kid may be NULL).
 * Errors: -EBADMSG malformed (not three base64url parts, bad JSON, payload
 * not an object, over PT_JWS_MAX), -EKEYREJECTED bad signature,
 * -EPROTOTYPE wrong typ, -ENOTSUP unknown alg. No claim (exp...) is checked
 * here. */
int pt_jws_verify(EVP_PKEY *pub, const char *jws, const char *expect_typ, void **ret_claims,
		  char **ret_kid);

/* Splits without verifying (for display): returns the decoded header and
 * payload JSON texts (malloc'd). -EBADMSG when malformed. */
int pt_jws_decode_unverified(const char *jws, char **ret_header, char **ret_payload);

/* The RFC 7638 JWK thumbprint (base64url SHA-256) of an Ed25519 public key,
 * used as "kid". */
int pt_jwk_thumbprint(EVP_PKEY *key, char **ret_kid);
/* {"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"use":"sig","alg":ALG} */
int pt_jwk_public_json(EVP_PKEY *key, const char *alg, char **ret_json);
