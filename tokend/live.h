/* SPDX-License-Identifier: MIT */
/*
 * Live tokens: their claims as a binary struct, the compact JWS made from
 * it, and the struct read back from a verified JWS.
 *
 * The claims JSON is produced only from struct pt_live_claims, always in the
 * same order and form (pt_live_claims_json), so that whoever holds the
 * signing key can re-create the exact signing input from the binary claims
 * (privilege separation: the key holder never parses client bytes).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define PT_LIVE_TYP "pertok-live+jwt"
#define PT_LIVE_SKEW 60	  /* s of nbf tolerance */
#define PT_LIVE_MAX_ACT 2 /* actor chain: the current actor, the one that issued before */

/* RFC 7519 / RFC 8693 claims of a live token, and pertok's own. Strings are
 * heap copies owned by the struct (pt_live_claims_clear); NULL = absent. */
struct pt_live_claims {
	char *iss;
	char *sub;
	char *aud;
	uint64_t exp, nbf, iat;
	char *jti;
	int64_t uid, gid;
	char **groups; /* always present (may be empty) */
	size_t n_groups;
	bool has_entitlements; /* the claim is there (possibly empty) */
	char **entitlements;
	size_t n_entitlements;
	char *act[PT_LIVE_MAX_ACT]; /* act.sub, act.act.sub: outermost (current) first */
	size_t n_act;
	bool has_ptk; /* minted by a redemption: names its persistable token */
	char *ptk;
	char *svc;   /* PAM service ("" is left out) */
	char *tty;   /* (same) */
	char *rhost; /* (same) */
};

void pt_live_claims_clear(struct pt_live_claims *c);

/* Helpers to fill a struct: copies (s NULL or "" leaves the field absent
 * for svc/tty/rhost; pt_live_set_str copies whatever it gets, NULL as NULL). */
int pt_live_set_str(char **field, const char *s);
int pt_live_set_strv(char ***field, size_t *n, char *const *v, size_t count);
/* A fresh random jti (128 bits, base64url). */
int pt_live_new_jti(struct pt_live_claims *c);

/* The claims as JSON text (malloc'd), deterministically from the struct:
 * fixed member order, optional members only when set. pretty: indented
 * (for explain), else compact (the signing input). */
int pt_live_claims_json(const struct pt_live_claims *c, bool pretty, char **ret);

/* Signs the claims with the current key: a compact JWS (malloc'd). */
int pt_live_sign(const struct pt_keys *keys, const char *alg, const struct pt_live_claims *c,
		 char **ret_token);

/* Verifies a compact JWS (signature by the current or a still-published
 * key, typ, audience, exp, nbf within PT_LIVE_SKEW, sub and uid present) and
 * fills *ret. 0, or -EINVAL with a short reason in *ret_why ("expired",
 * "bad signature", ...); *ret untouched on failure. */
int pt_live_verify(const struct pt_keys *keys, const char *audience, const char *token,
		   uint64_t now, struct pt_live_claims *ret, const char **ret_why);
