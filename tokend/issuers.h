/* SPDX-License-Identifier: MIT */
/*
 * Trusted external issuers (tokend.conf issuers ( ), man tokend.conf(5)):
 * whose JWTs pam_pertok.so accept presents, their keys, and the check of a
 * presented token against them (the key holder's side, extjwt.h).
 */
#pragma once

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "confvalue.h"
#include "extjwt.h"
#include "jwks.h"

#define PT_ISSUERS_MAX 64
#define PT_ISSUER_DEFAULT_MAX_AGE 3600
#define PT_ISSUER_DEFAULT_LEEWAY 60
#define PT_ISSUER_DEFAULT_REPLAY_CACHE 10000
#define PT_ISSUER_MAX_REPLAY_CACHE 1000000

struct pt_issuer {
	char *iss;	 /* exact "iss" */
	char *jwks_path; /* a local file, root-owned, not writable by others */
	struct pt_jwks *jwks;
	bool algs[PT_EXTJWT_ALG_MAX]; /* allowed algorithms */
	char *audience;		      /* must be one of the token's aud */
	uint64_t max_age;	      /* s after iat */
	uint64_t leeway;	      /* s, <= PT_EXTJWT_MAX_LEEWAY */
	char *group_claim;	      /* default "groups" */
	uint32_t replay_cache;	      /* jti entries kept at most (a full cache refuses) */
	int line;
};

/* issuers ( { iss = ...; jwks = ...; algs = [ ... ]; audience = ...;
 * max_age = ...; leeway = ...; group_claim = ...; replay_cache = ...; } ).
 * own_issuer: tokend's own (an entry naming it is refused). Loads each
 * JWKS (pt_jwks_load). 0 or -EINVAL (message in x) / -ENOMEM. */
int pt_issuers_parse(const struct pt_conf_ctx *x, const config_setting_t *l, const char *own_issuer,
		     struct pt_issuer **ret, size_t *ret_n);
void pt_issuers_free(struct pt_issuer *v, size_t n);
const struct pt_issuer *pt_issuer_find(const struct pt_issuer *v, size_t n, const char *iss);

/*
 * The key holder's check of a token the front split (extjwt.h): the issuer
 * p->iss names, its algorithm list, its key (p->kid, p->alg), the
 * signature over p->input; then p->input decoded (now authenticated, with
 * the issuer's group claim) into *ret, its alg, kid and iss compared with
 * p's; then aud, exp, nbf, iat and max_age at now, with the issuer's
 * leeway. 0 (*ret_issuer, *ret set); -EINVAL with *ret_why; -ENOMEM.
 * Never looks at anything of p before the signature verified but what
 * chooses the key.
 */
int pt_issuer_check(const struct pt_issuer *v, size_t n, const struct pt_extjwt_presented *p,
		    uint64_t now, const struct pt_issuer **ret_issuer, struct pt_extjwt_claims *ret,
		    enum pt_extjwt_refusal *ret_why);
