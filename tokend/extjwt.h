/* SPDX-License-Identifier: MIT */
/*
 * External JWTs: a compact JWS (RFC 7515) from a trusted issuer of another
 * domain (tokend.conf issuers ( )), presented through pam_pertok.so accept.
 *
 * Unlike pertok's own live tokens, the signing input cannot be re-made from
 * decoded claims (every issuer serializes its own way), so the work splits
 * this way under privilege separation (the key holder never parses bytes
 * that nobody authenticated):
 *
 *   front (no key)        pt_extjwt_split: the client's text -> struct
 *                         pt_extjwt_presented: alg, kid and iss (to choose
 *                         the key), the raw signing input ("h.p" as sent),
 *                         the raw signature. It decodes header and payload
 *                         completely (pt_extjwt_decode), so every malformed
 *                         token is refused here, with its precise reason.
 *   channel               pt_extjwt_wire_put / get (privsep.h)
 *   key holder            pt_extjwt_check (extjwt-check.c): the issuer named
 *                         by iss, its key named by (kid, alg), the signature
 *                         over the signing input; only then the now
 *                         authenticated input decoded (pt_extjwt_decode
 *                         again) and its alg, kid and iss compared with
 *                         what chose the key; then aud, exp, nbf, iat.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PT_EXTJWT_MAX 8192	 /* characters of a presented token */
#define PT_EXTJWT_MAX_STR 1024	 /* bytes of a string claim */
#define PT_EXTJWT_MAX_LIST 256	 /* elements of aud, amr, groups */
#define PT_EXTJWT_MAX_KID 128	 /* bytes of a kid */
#define PT_EXTJWT_MAX_SIG 512	 /* RSA 4096 */
#define PT_EXTJWT_MAX_LEEWAY 300 /* s: the most an issuer's leeway may be */

/* The algorithms accepted (RFC 7518, RFC 8037, RFC 9864), each tied to one
 * key type (jwks.h). none and HS* never are. */
enum pt_extjwt_alg {
	PT_EXTJWT_ALG_NONE = 0, /* unset */
	PT_EXTJWT_EDDSA,	/* "EdDSA" or "Ed25519": OKP Ed25519 */
	PT_EXTJWT_ES256,	/* EC P-256, SHA-256 */
	PT_EXTJWT_RS256,	/* RSA >= 2048 bits, PKCS#1 v1.5, SHA-256 */
	PT_EXTJWT_PS256,	/* RSA >= 2048 bits, PSS, SHA-256 */
	PT_EXTJWT_ALG_MAX
};
/* "EdDSA" and "Ed25519" -> PT_EXTJWT_EDDSA ...; PT_EXTJWT_ALG_NONE for any
 * other name. */
enum pt_extjwt_alg pt_extjwt_alg_of(const char *name);
const char *pt_extjwt_alg_name(enum pt_extjwt_alg alg);

/* Why a presented token is refused (the reply and the log say the text). */
enum pt_extjwt_refusal {
	PT_EXTJWT_OK = 0,
	PT_EXTJWT_MALFORMED,	   /* "malformed token (not three base64url parts)" */
	PT_EXTJWT_TOO_LONG,	   /* "token longer than 8192 characters" */
	PT_EXTJWT_BAD_HEADER,	   /* "malformed header" */
	PT_EXTJWT_ALG_REFUSED,	   /* "alg not accepted (none, HS* or unknown)" */
	PT_EXTJWT_CRIT,		   /* "crit header present" */
	PT_EXTJWT_BAD_PAYLOAD,	   /* "malformed claims" */
	PT_EXTJWT_NO_ISS,	   /* "missing or invalid iss" */
	PT_EXTJWT_NO_SUB,	   /* "missing or invalid sub" */
	PT_EXTJWT_NO_AUD,	   /* "missing or invalid aud" */
	PT_EXTJWT_NO_EXP,	   /* "missing or invalid exp" */
	PT_EXTJWT_NO_IAT,	   /* "missing or invalid iat" */
	PT_EXTJWT_BAD_NBF,	   /* "invalid nbf" */
	PT_EXTJWT_NO_JTI,	   /* "missing or invalid jti" */
	PT_EXTJWT_BAD_AUTHN,	   /* "invalid acr or amr" */
	PT_EXTJWT_BAD_GROUPS,	   /* "invalid group claim" */
	PT_EXTJWT_BAD_SIG_FORM,	   /* "signature of the wrong length for alg" */
	PT_EXTJWT_UNKNOWN_ISSUER,  /* "unknown issuer" */
	PT_EXTJWT_ALG_NOT_ALLOWED, /* "alg not allowed for this issuer" */
	PT_EXTJWT_UNKNOWN_KID,	   /* "no key of the issuer matches kid and alg" */
	PT_EXTJWT_BAD_SIGNATURE,   /* "bad signature" */
	PT_EXTJWT_MISMATCH,	   /* "decoded header or iss differ from the signed ones" */
	PT_EXTJWT_WRONG_AUD,	   /* "wrong audience" */
	PT_EXTJWT_EXPIRED,	   /* "expired" */
	PT_EXTJWT_NOT_YET_VALID,   /* "not yet valid (nbf)" */
	PT_EXTJWT_TOO_OLD,	   /* "issued too long ago (iat + max_age)" */
	PT_EXTJWT_FUTURE_IAT,	   /* "issued in the future (iat)" */
	PT_EXTJWT_NO_MEMORY,	   /* "out of memory" */
	PT_EXTJWT_REFUSAL_MAX
};
const char *pt_extjwt_why(enum pt_extjwt_refusal r);

/* A token's decoded claims (heap strings owned by the struct; NULL/0 when
 * absent). */
struct pt_extjwt_claims {
	enum pt_extjwt_alg alg; /* the header's */
	char alg_name[8];	/* as written: "EdDSA", "Ed25519", "ES256" ... */
	char *kid;		/* the header's (NULL: none) */
	char *iss, *sub, *jti;
	char **aud; /* a string or an array in the token: always a list here */
	size_t n_aud;
	uint64_t exp, iat;
	bool has_nbf;
	uint64_t nbf;
	char *acr;  /* NULL: absent */
	char **amr; /* NULL: absent */
	size_t n_amr;
	char **groups; /* the issuer's group claim (a string or an array); may be empty */
	size_t n_groups;
};
void pt_extjwt_claims_clear(struct pt_extjwt_claims *c);

/*
 * Decodes header and payload of a signing input "B64(header).B64(payload)"
 * (text[0..len)): header a JSON object with "alg" (one of the accepted
 * ones), optional "kid" (string, at most PT_EXTJWT_MAX_KID), "typ" and
 * "cty" (strings), no "crit" and no "b64"; "jku", "x5u", "jwk", "x5c" and
 * any other member ignored (never used to find a key). Payload a JSON
 * object with iss, sub, jti (non-empty strings), aud (a string or a
 * non-empty array of strings), exp and iat (integers >= 0), optional nbf
 * (integer >= 0), acr (string), amr (array of strings) and, when
 * group_claim is not NULL, that claim (a string or an array of strings;
 * absent = none); other claims are ignored. Strings UTF-8, no NUL, at most
 * PT_EXTJWT_MAX_STR bytes; lists at most PT_EXTJWT_MAX_LIST. 0; -EINVAL
 * with the reason in *ret_why; -ENOMEM. *ret untouched on failure.
 */
int pt_extjwt_decode(const char *text, size_t len, const char *group_claim,
		     struct pt_extjwt_claims *ret, enum pt_extjwt_refusal *ret_why);

/* A token as the front passes it on: enough to choose the key and check
 * the signature, nothing decoded the key holder would rely on unchecked. */
struct pt_extjwt_presented {
	uint8_t refused; /* enum pt_extjwt_refusal: PT_EXTJWT_OK or why pt_extjwt_split
			  * refused (then nothing else is set) */
	uint8_t alg;	 /* enum pt_extjwt_alg */
	char alg_name[8];
	char kid[PT_EXTJWT_MAX_KID + 1]; /* "" = none */
	char *iss;
	char *input; /* the signing input as presented: "B64(header).B64(payload)" */
	size_t input_len;
	uint8_t sig[PT_EXTJWT_MAX_SIG];
	size_t sig_len;
};
/* Frees and wipes (the signature and the input make the token, a bearer
 * secret until it is spent). */
void pt_extjwt_presented_clear(struct pt_extjwt_presented *p);

/* The front's side: splits the compact JWS token (at most PT_EXTJWT_MAX
 * characters), decodes it (pt_extjwt_decode without a group claim) and the
 * signature (base64url, the length alg requires: 64 for EdDSA and ES256,
 * 256 to 512 for RS256/PS256). 0 and *ret; -EINVAL: *ret is a refusal
 * (ret->refused); -ENOMEM (*ret untouched). pt_extjwt_presented_clear(ret)
 * after. */
int pt_extjwt_split(const char *token, struct pt_extjwt_presented *ret);

/* The privsep channel's form:
 *   u8 refused          non-zero: nothing follows
 *   u8 alg  str alg_name  str kid  str iss  str input  u32 n  n bytes sig
 * bounded as above; get checks the form again (alg known and agreeing with
 * alg_name, input of base64url and one '.', signature length for alg).
 * put: 0, -EINVAL, -EMSGSIZE, -ENOMEM (nothing appended on failure). get:
 * 0, -EBADMSG or -ENOMEM (nothing consumed, *ret untouched on failure). */
int pt_extjwt_wire_put(struct ptbuf *b, const struct pt_extjwt_presented *p);
int pt_extjwt_wire_get(struct ptbuf_view *v, struct pt_extjwt_presented *ret);
