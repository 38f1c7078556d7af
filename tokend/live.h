/* SPDX-License-Identifier: MIT */
/*
 * Live tokens: their claims as a binary struct, the compact JWS made from
 * it, and the struct read back from a presented JWS.
 *
 * The claims JSON is produced only from struct pt_live_claims, always in the
 * same order and form (pt_live_claims_json), so that whoever holds the
 * signing key can re-create the exact signing input from the binary claims.
 * That is how the work splits under privilege separation (the key holder
 * never parses client bytes):
 *
 *   front (no key)          pt_live_parse (live-parse.c): the client's compact
 *                           JWS -> struct pt_live_presented (claims, alg, kid,
 *                           raw signature)
 *   channel (live-wire.c)   pt_live_wire_put / pt_live_wire_get: that struct
 *                           in a fixed binary form
 *   key holder              pt_live_check: base64url(header) "." base64url(
 *                           claims JSON) re-made from the struct by the
 *                           serializer pt_live_sign uses, the signature
 *                           checked over it, then audience and time
 *
 * A front that changes anything in the struct makes the signature fail. The
 * price: a token whose bytes this serializer would not produce fails the
 * check although someone once signed it (see pt_live_check).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "keys.h"

#define PT_LIVE_TYP "pertok-live+jwt"
#define PT_LIVE_SKEW 60	  /* s of nbf tolerance */
#define PT_LIVE_MAX_ACT 2 /* actor chain: the current actor, the one that issued before */
/* Bounds of the claims (a token's form; pt_live_sign signs nothing beyond
 * them). Every name pertok puts in a claim is at most 255 bytes (PT_MAX_STR,
 * the configuration's issuer and audience too) except group names, which
 * come from NSS: 1024 leaves room. A list longer than 2048 does not fit a
 * compact JWS of PT_JWS_MAX characters anyway. */
#define PT_LIVE_MAX_STR 1024
#define PT_LIVE_MAX_LIST 2048
#define PT_LIVE_KID_LEN 43 /* base64url SHA-256: an RFC 7638 thumbprint */
#define PT_LIVE_SIG_LEN 64 /* Ed25519 */

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
	/* minted by a redemption: when that redemption was (OIDC's claim; a
	 * refresh keeps it); 0 = absent */
	uint64_t auth_time;
	char *svc;   /* PAM service ("" is left out) */
	char *tty;   /* (same) */
	char *rhost; /* (same) */
	/* minted by an accept (pam_pertok.so accept): the templates of the
	 * remote principals used, "sha256:..." joined by ','; NULL = absent */
	char *tmpl;
};

void pt_live_claims_clear(struct pt_live_claims *c);
/* A deep copy of src. 0 or -ENOMEM (*ret untouched). */
int pt_live_claims_copy(const struct pt_live_claims *src, struct pt_live_claims *ret);

/* Helpers to fill a struct: copies (s NULL or "" leaves the field absent
 * for svc/tty/rhost; pt_live_set_str copies whatever it gets, NULL as NULL). */
int pt_live_set_str(char **field, const char *s);
int pt_live_set_strv(char ***field, size_t *n, char *const *v, size_t count);
/* The form checks pt_live_sign, pt_live_parse, pt_live_check and the wire
 * form share: alg "EdDSA" or "Ed25519"; kid PT_LIVE_KID_LEN base64url
 * characters; every string of c UTF-8 (RFC 3629) of at most PT_LIVE_MAX_STR
 * bytes, every list at most PT_LIVE_MAX_LIST, n_act at most
 * PT_LIVE_MAX_ACT, auth_time at most INT64_MAX. */
bool pt_live_alg_valid(const char *alg);
bool pt_live_kid_valid(const char *kid);
bool pt_live_claims_valid(const struct pt_live_claims *c);

/* A fresh random jti (128 bits, base64url). */
int pt_live_new_jti(struct pt_live_claims *c);

/* The claims as JSON text (malloc'd), deterministically from the struct:
 * fixed member order, optional members only when set. pretty: indented
 * (for explain), else compact (the signing input). */
int pt_live_claims_json(const struct pt_live_claims *c, bool pretty, char **ret);

/* Signs the claims with the current key: a compact JWS (malloc'd; a bearer
 * secret: pt_free_secret). -EINVAL when the claims are not valid
 * (pt_live_claims_valid) or the token would exceed PT_JWS_MAX: it signs
 * only what pt_live_parse accepts (fuzz-live checks that). */
int pt_live_sign(const struct pt_keys *keys, const char *alg, const struct pt_live_claims *c,
		 char **ret_token);

/* Why a presented live token is refused. The text (pt_live_why) is what
 * tokend logs and replies ("live token rejected: %s"). */
enum pt_live_refusal {
	PT_LIVE_OK = 0,
	PT_LIVE_MALFORMED,	 /* "malformed token" */
	PT_LIVE_NOT_LIVE,	 /* "not a live token" (typ) */
	PT_LIVE_UNSUPPORTED_ALG, /* "unsupported alg" (also crit, b64) */
	PT_LIVE_BAD_SIGNATURE,	 /* "bad signature" (also a kid that names no key) */
	PT_LIVE_NO_KID,		 /* "signed by another key" (no kid) */
	PT_LIVE_WRONG_AUDIENCE,	 /* "wrong audience" */
	PT_LIVE_EXPIRED,	 /* "expired" */
	PT_LIVE_NOT_YET_VALID,	 /* "not yet valid" */
	PT_LIVE_NO_SUBJECT,	 /* "missing sub or uid" */
	PT_LIVE_NO_MEMORY,	 /* "out of memory" */
	PT_LIVE_REFUSAL_MAX
};
const char *pt_live_why(enum pt_live_refusal r);

/* A live token as presented, split and decoded by the front: everything
 * the key holder needs to check it, nothing it would have to parse. The
 * signature (and with it the token: it can be re-made from this) is a
 * secret: pt_live_presented_clear wipes it. */
struct pt_live_presented {
	uint8_t refused; /* enum pt_live_refusal: PT_LIVE_OK, or why pt_live_parse refused
			  * it (then nothing else is set: a refusal travels the same path) */
	struct pt_live_claims claims;
	char alg[8];		       /* "EdDSA" or "Ed25519", as in the header */
	char kid[PT_LIVE_KID_LEN + 1]; /* the header's kid */
	uint8_t sig[PT_LIVE_SIG_LEN];  /* the raw signature */
};

void pt_live_presented_clear(struct pt_live_presented *p);

/* The front's side (needs no key): splits the compact JWS, checks its form
 * (three base64url parts within PT_JWS_MAX; header {"alg","typ","kid"} with
 * alg EdDSA or Ed25519, typ PT_LIVE_TYP, no crit or b64, a kid of thumbprint
 * form; a 64-byte signature; payload a JSON object of exactly the claims
 * pt_live_claims_json writes, each of its type and within the bounds above)
 * and decodes it into *ret. 0; -EINVAL when the form is wrong: *ret is then
 * a refusal (ret->refused) that pt_live_check answers with the same reason;
 * -ENOMEM (*ret untouched). Either way pt_live_presented_clear(ret) after. */
int pt_live_parse(const char *token, struct pt_live_presented *ret);

/* The key holder's side: refuses a refusal; re-creates the signing input
 * from p (never from client bytes), verifies p->sig with the key p->kid
 * names (the current key, or a retired one still accepted at now), then
 * audience, exp (> now) and nbf (<= now + PT_LIVE_SKEW). 0, or -EINVAL /
 * -ENOMEM with the reason in *ret_refusal. ret_token (may be NULL): the
 * compact JWS re-made from p (malloc'd, pt_free_secret), byte for byte the
 * one that was presented since the signature covers it.
 *
 * Compatibility: the signature is checked over the bytes this serializer
 * makes from the struct, not over the bytes presented; a token whose bytes
 * it would not make (another member order, spacing or escaping) fails as
 * "bad signature" even if a tokend once signed it. v0.2's serializer (the
 * claims built with json-c in the same order, JSON_C_TO_STRING_PLAIN; the
 * header by pt_jws_sign) makes the same bytes: test-live checks a token
 * minted by it. A serializer change (or a json-c upgrade that escapes
 * differently) would refuse, once, the live tokens minted before the
 * restart (they live minutes). */
int pt_live_check(const struct pt_keys *keys, const char *audience,
		  const struct pt_live_presented *p, uint64_t now, char **ret_token,
		  enum pt_live_refusal *ret_refusal);

/* pt_live_parse + pt_live_check (the single-process path, tools and tests;
 * not for the key holder of a split tokend: it parses the token):
 * verifies a compact JWS and fills *ret with its claims. 0, or -EINVAL with
 * a short reason in *ret_why ("expired", "bad signature", ...; -ENOMEM: "out
 * of memory"); *ret untouched on failure. */
int pt_live_verify(const struct pt_keys *keys, const char *audience, const char *token,
		   uint64_t now, struct pt_live_claims *ret, const char **ret_why);

/* The privsep channel's form of a struct pt_live_presented (live-wire.c),
 * big-endian, strings u32 length + bytes (ptbuf_put_cstring):
 *
 *   u8 refused                    non-zero: a refusal, nothing follows
 *   str alg  str kid  64 bytes sig
 *   str iss  str sub  str aud  u64 exp  u64 nbf  u64 iat  str jti
 *   u64 uid  u64 gid              (two's complement)
 *   u32 n  str groups[n]
 *   u8 has_entitlements  u32 n  str entitlements[n]   (n = 0 without)
 *   u8 n_act (<= PT_LIVE_MAX_ACT)  str act[n_act]
 *   u8 has_ptk  str ptk           ("" without)
 *   str svc  str tty  str rhost   ("" = absent)
 *   u64 auth_time                 (0 = absent)
 *   str tmpl                      ("" = absent)
 *
 * Strings at most PT_LIVE_MAX_STR bytes of UTF-8, no NUL; lists at most
 * PT_LIVE_MAX_LIST; flags 0 or 1; alg and kid of the form pt_live_parse
 * accepts. One encoding per struct: get then put gives back the same bytes.
 * put: 0, -EINVAL (p out of those bounds), -EMSGSIZE or -ENOMEM; nothing is
 * appended on failure. get: 0 or -EBADMSG / -ENOMEM; nothing consumed and
 * *ret untouched on failure; trailing bytes are the caller's
 * (ptbuf_view_end). */
int pt_live_wire_put(struct ptbuf *b, const struct pt_live_presented *p);
int pt_live_wire_get(struct ptbuf_view *v, struct pt_live_presented *ret);
