/* SPDX-License-Identifier: MIT */
/*
 * The front's side of a live token (live.h): a client's compact JWS split,
 * its form checked and decoded into struct pt_live_presented. Needs no key;
 * the key holder never runs this on client bytes (pt_live_check takes the
 * struct).
 */
#include "conf.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "jws.h"
#include "live.h"
#include "ptjson.h"
#include "util.h"

#define JSON_DEPTH 32 /* as common/jws.c: the act chain nests, nothing else */

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* A member of o: absent -ENOENT, of another type -EBADMSG. */
static int member(json_object *o, const char *key, json_type type, json_object **ret)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return -ENOENT;
	if (!json_object_is_type(v, type))
		return -EBADMSG;
	*ret = v;
	return 0;
}

/* A string member as a copy into *field: within PT_LIVE_MAX_STR, no NUL
 * (json-c takes \u0000). -ENOENT, -EBADMSG, -ENOMEM. */
static int member_str(json_object *o, const char *key, char **field)
{
	json_object *v;
	const char *s;
	size_t n;
	int r;

	r = member(o, key, json_type_string, &v);
	if (r < 0)
		return r;
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n > PT_LIVE_MAX_STR || strlen(s) != n)
		return -EBADMSG;
	return pt_live_set_str(field, s);
}

static int member_int(json_object *o, const char *key, int64_t *ret)
{
	json_object *v;
	int r;

	r = member(o, key, json_type_int, &v);
	if (r < 0)
		return r;
	*ret = json_object_get_int64(v);
	return 0;
}

/* An array of strings (every element a string, bounded). */
static int member_strv(json_object *o, const char *key, char ***ret, size_t *ret_n)
{
	json_object *a;
	char **v;
	size_t n;
	int r;

	r = member(o, key, json_type_array, &a);
	if (r < 0)
		return r;
	n = json_object_array_length(a);
	if (n > PT_LIVE_MAX_LIST)
		return -EBADMSG;
	v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		const char *s = json_object_get_string(e);

		if (!json_object_is_type(e, json_type_string) ||
		    (size_t)json_object_get_string_len(e) > PT_LIVE_MAX_STR ||
		    strlen(s) != (size_t)json_object_get_string_len(e)) {
			strv_free(v, i);
			return -EBADMSG;
		}
		if (!(v[i] = strdup(s))) {
			strv_free(v, i);
			return -ENOMEM;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Every member of o is one of names. */
static bool only_members(json_object *o, const char *const *names, size_t n)
{
	json_object_object_foreach(o, key, val)
	{
		size_t i = 0;

		(void)val;
		while (i < n && strcmp(key, names[i]) != 0)
			i++;
		if (i == n)
			return false;
	}
	return true;
}

/* The act chain: {"sub": S, "act": {...}}, at most PT_LIVE_MAX_ACT deep. */
static int parse_act(json_object *o, struct pt_live_claims *c)
{
	static const char *const names[] = { "sub", "act" };
	json_object *a;
	int r;

	r = member(o, "act", json_type_object, &a);
	while (r == 0) {
		if (c->n_act == PT_LIVE_MAX_ACT || !only_members(a, names, PT_ELEMENTSOF(names)))
			return -EBADMSG;
		r = member_str(a, "sub", &c->act[c->n_act]);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		c->n_act++;
		r = member(a, "act", json_type_object, &a);
	}
	return r == -ENOENT ? 0 : r;
}

/* -ENOENT (absent) is fine for an optional member. */
static int optional(int r)
{
	return r == -ENOENT ? 0 : r;
}

/* The payload into c: the members pt_live_claims_json writes and no other,
 * each of its type. 0, -ENOMEM, or -EBADMSG with the refusal in *ret_why
 * (the reasons pt_live_verify gave for a missing aud, exp, nbf, sub, uid). */
static int parse_claims(json_object *o, struct pt_live_claims *c, enum pt_live_refusal *ret_why)
{
	static const char *const names[] = { "iss",	     "sub",   "aud", "exp",	  "nbf",
					     "iat",	     "jti",   "uid", "gid",	  "groups",
					     "entitlements", "act",   "ptk", "auth_time", "svc",
					     "tty",	     "rhost", "tmpl" };
	int64_t t;
	int r;

	*ret_why = PT_LIVE_MALFORMED;
	if (!only_members(o, names, PT_ELEMENTSOF(names)))
		return -EBADMSG;
	if ((r = member_str(o, "aud", &c->aud)) < 0) {
		*ret_why = PT_LIVE_WRONG_AUDIENCE;
		return r == -ENOMEM ? r : -EBADMSG;
	}
	if ((r = member_int(o, "exp", &t)) < 0) {
		*ret_why = PT_LIVE_EXPIRED;
		return -EBADMSG;
	}
	c->exp = (uint64_t)t;
	if ((r = member_int(o, "nbf", &t)) < 0) {
		*ret_why = PT_LIVE_NOT_YET_VALID;
		return -EBADMSG;
	}
	c->nbf = (uint64_t)t;
	if ((r = member_str(o, "sub", &c->sub)) < 0 || (r = member_int(o, "uid", &c->uid)) < 0) {
		*ret_why = PT_LIVE_NO_SUBJECT;
		return r == -ENOMEM ? r : -EBADMSG;
	}
	*ret_why = PT_LIVE_MALFORMED;
	if ((r = member_str(o, "iss", &c->iss)) < 0 || (r = member_int(o, "iat", &t)) < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	c->iat = (uint64_t)t;
	if ((r = member_str(o, "jti", &c->jti)) < 0 || (r = member_int(o, "gid", &c->gid)) < 0 ||
	    (r = member_strv(o, "groups", &c->groups, &c->n_groups)) < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	r = member_strv(o, "entitlements", &c->entitlements, &c->n_entitlements);
	c->has_entitlements = r == 0;
	if ((r = optional(r)) < 0 || (r = parse_act(o, c)) < 0)
		return r;
	r = member_str(o, "ptk", &c->ptk);
	c->has_ptk = r == 0;
	if ((r = optional(r)) < 0)
		return r;
	/* present: a positive time (pt_live_claims_json leaves 0 out) */
	if ((r = member_int(o, "auth_time", &t)) == 0 && t <= 0)
		return -EBADMSG;
	c->auth_time = r == 0 ? (uint64_t)t : 0;
	if ((r = optional(r)) < 0 || (r = optional(member_str(o, "svc", &c->svc))) < 0 ||
	    (r = optional(member_str(o, "tty", &c->tty))) < 0 ||
	    (r = optional(member_str(o, "rhost", &c->rhost))) < 0 ||
	    (r = optional(member_str(o, "tmpl", &c->tmpl))) < 0)
		return r;
	/* present but empty: pt_live_claims_json leaves them out */
	if ((c->svc && !*c->svc) || (c->tty && !*c->tty) || (c->rhost && !*c->rhost) ||
	    (c->tmpl && !*c->tmpl))
		return -EBADMSG;
	return 0;
}

/* The header: {"alg","typ","kid"} and nothing else; as pt_jws_verify, a
 * member of the wrong type is malformed, crit or b64 unsupported. */
static enum pt_live_refusal parse_header(json_object *h, struct pt_live_presented *p)
{
	static const char *const names[] = { "alg", "typ", "kid" };
	json_object *v;
	const char *alg, *typ, *kid;

	if (member(h, "alg", json_type_string, &v) < 0)
		return PT_LIVE_MALFORMED;
	alg = json_object_get_string(v);
	if (member(h, "typ", json_type_string, &v) < 0)
		return PT_LIVE_MALFORMED;
	typ = json_object_get_string(v);
	switch (member(h, "kid", json_type_string, &v)) {
	case 0:
		kid = json_object_get_string(v);
		break;
	case -ENOENT:
		kid = NULL;
		break;
	default:
		return PT_LIVE_MALFORMED;
	}
	if (!pt_live_alg_valid(alg) || json_object_object_get_ex(h, "crit", NULL) ||
	    json_object_object_get_ex(h, "b64", NULL))
		return PT_LIVE_UNSUPPORTED_ALG;
	if (!only_members(h, names, PT_ELEMENTSOF(names)))
		return PT_LIVE_MALFORMED;
	if (strcmp(typ, PT_LIVE_TYP) != 0)
		return PT_LIVE_NOT_LIVE;
	if (!kid)
		return PT_LIVE_NO_KID;
	/* no key of ours has a kid of another form */
	if (!pt_live_kid_valid(kid))
		return PT_LIVE_BAD_SIGNATURE;
	snprintf(p->alg, sizeof(p->alg), "%s", alg);
	snprintf(p->kid, sizeof(p->kid), "%s", kid);
	return PT_LIVE_OK;
}

int pt_live_parse(const char *token, struct pt_live_presented *ret)
{
	struct pt_live_presented p = { 0 };
	enum pt_live_refusal why = PT_LIVE_MALFORMED;
	json_object *h = NULL, *o = NULL;
	const char *d1, *d2;
	uint8_t *sig = NULL;
	size_t n, sn = 0;
	int r;

	n = token ? strnlen(token, PT_JWS_MAX + 1) : PT_JWS_MAX + 1;
	if (n > PT_JWS_MAX || !(d1 = memchr(token, '.', n)) ||
	    !(d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token))) ||
	    memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - token)) || d1 == token || d2 == d1 + 1 ||
	    d2 + 1 == token + n)
		goto refuse;
	r = pt_json_b64url_object(token, (size_t)(d1 - token), PT_JWS_MAX, JSON_DEPTH, &h);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		goto refuse;
	r = pt_b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - token), &sig, &sn);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		goto refuse;
	why = parse_header(h, &p);
	if (why != PT_LIVE_OK)
		goto refuse;
	if (sn != PT_LIVE_SIG_LEN) {
		why = PT_LIVE_BAD_SIGNATURE;
		goto refuse;
	}
	memcpy(p.sig, sig, sn);
	why = PT_LIVE_MALFORMED;
	r = pt_json_b64url_object(d1 + 1, (size_t)(d2 - (d1 + 1)), PT_JWS_MAX, JSON_DEPTH, &o);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		goto refuse;
	r = parse_claims(o, &p.claims, &why);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		goto refuse;
	if (!pt_live_claims_valid(&p.claims)) /* json-c validated UTF-8 less strictly */
		goto refuse;
	*ret = p;
	memset(&p, 0, sizeof(p));
	r = 0;
	goto out;
refuse:
	pt_live_presented_clear(&p);
	p.refused = (uint8_t)why;
	*ret = p;
	r = -EINVAL;
out:
	if (r == -ENOMEM)
		pt_live_presented_clear(&p);
	json_object_put(h);
	json_object_put(o);
	if (sig) {
		OPENSSL_cleanse(sig, sn);
		free(sig);
	}
	return r;
}
