/* SPDX-License-Identifier: MIT */
/* issuers ( ) of tokend.conf and the key holder's check of an external JWT
 * (issuers.h). */
#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issuers.h"
#include "util.h"

enum {
	I_ISS,
	I_JWKS,
	I_ALGS,
	I_AUDIENCE,
	I_MAX_AGE,
	I_LEEWAY,
	I_GROUP_CLAIM,
	I_REPLAY_CACHE,
	_I_MAX
};

static const char *const keys[_I_MAX] = {
	[I_ISS] = "iss",
	[I_JWKS] = "jwks",
	[I_ALGS] = "algs",
	[I_AUDIENCE] = "audience",
	[I_MAX_AGE] = "max_age",
	[I_LEEWAY] = "leeway",
	[I_GROUP_CLAIM] = "group_claim",
	[I_REPLAY_CACHE] = "replay_cache",
};

static bool alg_name_ok(const char *s)
{
	return pt_extjwt_alg_of(s) != PT_EXTJWT_ALG_NONE;
}

static bool printable(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int dup_to(char **dst, const char *s)
{
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

static void issuer_clear(struct pt_issuer *i)
{
	free(i->iss);
	free(i->jwks_path);
	pt_jwks_free(i->jwks);
	free(i->audience);
	free(i->group_claim);
}

void pt_issuers_free(struct pt_issuer *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		issuer_clear(&v[i]);
	free(v);
}

static int parse_one(const struct pt_conf_ctx *x, const config_setting_t *g, unsigned idx,
		     const char *own, struct pt_issuer *is)
{
	const config_setting_t *seen[_I_MAX] = { 0 };
	char where[32], err[768];
	int len;
	int r;

	snprintf(where, sizeof(where), "issuers[%u]", idx);
	is->line = (int)config_setting_source_line(g);
	is->max_age = PT_ISSUER_DEFAULT_MAX_AGE;
	is->leeway = PT_ISSUER_DEFAULT_LEEWAY;
	is->replay_cache = PT_ISSUER_DEFAULT_REPLAY_CACHE;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return pt_conf_fail(x, g,
				    "%s must be a group { iss = ...; jwks = ...; ... }, not %s",
				    where, pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s), *str = NULL;
		int k = pt_conf_key_index(name, keys, _I_MAX);
		char **v = NULL;
		size_t nv = 0;
		long long ll;

		if (k < 0)
			return pt_conf_unknown_key(x, s, where, keys, _I_MAX);
		seen[k] = s;
		switch (k) {
		case I_ISS:
		case I_JWKS:
		case I_AUDIENCE:
		case I_GROUP_CLAIM:
			r = pt_conf_string(x, s, where, name, &str);
			if (r < 0)
				return r;
			if (!printable(str) || strlen(str) > PT_EXTJWT_MAX_STR)
				return pt_conf_fail(x, s, "%s.%s: empty or not printable", where,
						    name);
			if (k == I_JWKS && str[0] != '/')
				return pt_conf_fail(x, s, "%s.jwks: not an absolute path", where);
			if (k == I_ISS && own && strcmp(str, own) == 0)
				return pt_conf_fail(x, s,
						    "%s.iss: \"%s\" is tokend's own issuer "
						    "(tokend.issuer): its tokens are not external",
						    where, str);
			r = dup_to(k == I_ISS	   ? &is->iss :
				   k == I_JWKS	   ? &is->jwks_path :
				   k == I_AUDIENCE ? &is->audience :
						     &is->group_claim,
				   str);
			break;
		case I_ALGS:
			r = pt_conf_strv(x, s, where, name, alg_name_ok,
					 "one of EdDSA, Ed25519, ES256, RS256, PS256", &v, &nv);
			if (r < 0)
				return r;
			for (size_t j = 0; j < nv; j++)
				is->algs[pt_extjwt_alg_of(v[j])] = true;
			pt_conf_strv_free(v, nv);
			if (nv == 0)
				return pt_conf_fail(x, s, "%s.algs: name at least one algorithm",
						    where);
			break;
		case I_MAX_AGE:
			r = pt_conf_duration(x, s, where, name, &is->max_age);
			break;
		case I_LEEWAY:
			r = pt_conf_int(x, s, where, name, 0, PT_EXTJWT_MAX_LEEWAY, &ll);
			if (r >= 0)
				is->leeway = (uint64_t)ll;
			break;
		case I_REPLAY_CACHE:
			r = pt_conf_int(x, s, where, name, 1, PT_ISSUER_MAX_REPLAY_CACHE, &ll);
			if (r >= 0)
				is->replay_cache = (uint32_t)ll;
			break;
		default:
			r = -EINVAL;
		}
		if (r < 0)
			return r;
	}
	for (size_t k = 0; k < _I_MAX; k++)
		if ((k == I_ISS || k == I_JWKS || k == I_ALGS || k == I_AUDIENCE) && !seen[k])
			return pt_conf_fail(x, g, "%s: missing \"%s\"", where, keys[k]);
	if (!is->group_claim && (r = dup_to(&is->group_claim, "groups")) < 0)
		return r;
	r = pt_jwks_load(is->jwks_path, &is->jwks, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return pt_conf_fail(x, seen[I_JWKS], "%s.jwks: %s", where, err);
	/* every allowed algorithm needs a key that can verify it */
	for (int a = PT_EXTJWT_ALG_NONE + 1; a < PT_EXTJWT_ALG_MAX; a++) {
		bool any = false;
		for (size_t j = 0; is->algs[a] && j < is->jwks->n; j++)
			any = any || pt_jwk_fits(&is->jwks->keys[j], (enum pt_extjwt_alg)a);
		if (is->algs[a] && !any)
			return pt_conf_fail(x, seen[I_ALGS], "%s.algs: no key in %s can verify %s",
					    where, is->jwks_path,
					    pt_extjwt_alg_name((enum pt_extjwt_alg)a));
	}
	return 0;
}

int pt_issuers_parse(const struct pt_conf_ctx *x, const config_setting_t *l, const char *own_issuer,
		     struct pt_issuer **ret, size_t *ret_n)
{
	struct pt_issuer *v;
	size_t n = 0;
	int len, r = 0;

	if (config_setting_type(l) != CONFIG_TYPE_LIST)
		return pt_conf_fail(x, l, "issuers must be a list ( { ... }, ... ), not %s",
				    pt_conf_type_name(config_setting_type(l)));
	len = config_setting_length(l);
	if (len > PT_ISSUERS_MAX)
		return pt_conf_fail(x, l, "issuers: too many (max %d)", PT_ISSUERS_MAX);
	v = calloc((size_t)len + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < len && r >= 0; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);

		n++;
		r = parse_one(x, g, (unsigned)i, own_issuer, &v[i]);
		for (int j = 0; r >= 0 && j < i; j++)
			if (strcmp(v[j].iss, v[i].iss) == 0)
				r = pt_conf_fail(x, g,
						 "issuers[%d]: iss \"%s\" repeats issuers[%d]", i,
						 v[i].iss, j);
	}
	if (r < 0) {
		pt_issuers_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

const struct pt_issuer *pt_issuer_find(const struct pt_issuer *v, size_t n, const char *iss)
{
	for (size_t i = 0; iss && i < n; i++)
		if (strcmp(v[i].iss, iss) == 0)
			return &v[i];
	return NULL;
}

static bool has_aud(const struct pt_extjwt_claims *c, const char *aud)
{
	for (size_t i = 0; i < c->n_aud; i++)
		if (strcmp(c->aud[i], aud) == 0)
			return true;
	return false;
}

/* The time checks, leeway in the token's favour, all in unsigned without
 * overflow (every time is at most INT64_MAX, leeway and max_age bounded). */
static enum pt_extjwt_refusal check_times(const struct pt_issuer *is,
					  const struct pt_extjwt_claims *c, uint64_t now)
{
	if (c->exp + is->leeway <= now)
		return PT_EXTJWT_EXPIRED;
	if (c->has_nbf && c->nbf > now + is->leeway)
		return PT_EXTJWT_NOT_YET_VALID;
	if (c->iat > now + is->leeway)
		return PT_EXTJWT_FUTURE_IAT;
	if (c->iat + is->max_age + is->leeway < now)
		return PT_EXTJWT_TOO_OLD;
	return PT_EXTJWT_OK;
}

int pt_issuer_check(const struct pt_issuer *v, size_t n, const struct pt_extjwt_presented *p,
		    uint64_t now, const struct pt_issuer **ret_issuer, struct pt_extjwt_claims *ret,
		    enum pt_extjwt_refusal *ret_why)
{
	struct pt_extjwt_claims c = { 0 };
	const struct pt_issuer *is;
	const struct pt_jwk *key;
	enum pt_extjwt_refusal why;
	int r;

	if (p->refused != PT_EXTJWT_OK) {
		*ret_why = (enum pt_extjwt_refusal)p->refused;
		return -EINVAL;
	}
	why = PT_EXTJWT_UNKNOWN_ISSUER;
	is = pt_issuer_find(v, n, p->iss);
	if (!is)
		goto refuse;
	why = PT_EXTJWT_ALG_NOT_ALLOWED;
	if (p->alg <= PT_EXTJWT_ALG_NONE || p->alg >= PT_EXTJWT_ALG_MAX || !is->algs[p->alg])
		goto refuse;
	why = PT_EXTJWT_UNKNOWN_KID;
	key = pt_jwks_find(is->jwks, p->kid, (enum pt_extjwt_alg)p->alg);
	if (!key)
		goto refuse;
	r = pt_jwk_verify(key, (enum pt_extjwt_alg)p->alg, p->input, p->input_len, p->sig,
			  p->sig_len);
	if (r == -ENOMEM)
		goto nomem;
	why = PT_EXTJWT_BAD_SIGNATURE;
	if (r < 0)
		goto refuse;
	/* authenticated now: decoded here, not taken from the front */
	r = pt_extjwt_decode(p->input, p->input_len, is->group_claim, &c, &why);
	if (r == -ENOMEM)
		goto nomem;
	if (r < 0)
		goto refuse;
	why = PT_EXTJWT_MISMATCH;
	if (c.alg != p->alg || strcmp(c.alg_name, p->alg_name) != 0 ||
	    strcmp(c.kid ? c.kid : "", p->kid) != 0 || strcmp(c.iss, is->iss) != 0)
		goto refuse;
	why = PT_EXTJWT_WRONG_AUD;
	if (!has_aud(&c, is->audience))
		goto refuse;
	why = check_times(is, &c, now);
	if (why != PT_EXTJWT_OK)
		goto refuse;
	*ret_issuer = is;
	*ret = c;
	return 0;
refuse:
	pt_extjwt_claims_clear(&c);
	*ret_why = why;
	return -EINVAL;
nomem:
	pt_extjwt_claims_clear(&c);
	*ret_why = PT_EXTJWT_NO_MEMORY;
	return -ENOMEM;
}
