/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "jws.h"
#include "live.h"
#include "util.h"

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void pt_live_claims_clear(struct pt_live_claims *c)
{
	if (!c)
		return;
	free(c->iss);
	free(c->sub);
	free(c->aud);
	free(c->jti);
	strv_free(c->groups, c->n_groups);
	strv_free(c->entitlements, c->n_entitlements);
	for (size_t i = 0; i < PT_LIVE_MAX_ACT; i++) /* n_act or not */
		free(c->act[i]);
	free(c->ptk);
	free(c->svc);
	free(c->tty);
	free(c->rhost);
	free(c->tmpl);
	memset(c, 0, sizeof(*c));
}

int pt_live_set_str(char **field, const char *s)
{
	char *d = NULL;

	if (s && !(d = strdup(s)))
		return -ENOMEM;
	free(*field);
	*field = d;
	return 0;
}

int pt_live_set_strv(char ***field, size_t *n, char *const *v, size_t count)
{
	char **d = calloc(count + 1, sizeof(char *));

	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++)
		if (!(d[i] = strdup(v[i]))) {
			strv_free(d, i);
			return -ENOMEM;
		}
	strv_free(*field, *n);
	*field = d;
	*n = count;
	return 0;
}

int pt_live_claims_copy(const struct pt_live_claims *src, struct pt_live_claims *ret)
{
	struct pt_live_claims c = { 0 };
	int r;

	if ((r = pt_live_set_str(&c.iss, src->iss)) < 0 ||
	    (r = pt_live_set_str(&c.sub, src->sub)) < 0 ||
	    (r = pt_live_set_str(&c.aud, src->aud)) < 0 ||
	    (r = pt_live_set_str(&c.jti, src->jti)) < 0 ||
	    (r = pt_live_set_str(&c.ptk, src->ptk)) < 0 ||
	    (r = pt_live_set_str(&c.svc, src->svc)) < 0 ||
	    (r = pt_live_set_str(&c.tty, src->tty)) < 0 ||
	    (r = pt_live_set_str(&c.rhost, src->rhost)) < 0 ||
	    (r = pt_live_set_str(&c.tmpl, src->tmpl)) < 0 ||
	    (r = pt_live_set_strv(&c.groups, &c.n_groups, src->groups, src->n_groups)) < 0 ||
	    (r = pt_live_set_strv(&c.entitlements, &c.n_entitlements, src->entitlements,
				  src->n_entitlements)) < 0)
		goto fail;
	for (; c.n_act < src->n_act && c.n_act < PT_LIVE_MAX_ACT; c.n_act++)
		if ((r = pt_live_set_str(&c.act[c.n_act], src->act[c.n_act])) < 0)
			goto fail;
	c.exp = src->exp;
	c.nbf = src->nbf;
	c.iat = src->iat;
	c.uid = src->uid;
	c.gid = src->gid;
	c.has_entitlements = src->has_entitlements;
	c.has_ptk = src->has_ptk;
	c.auth_time = src->auth_time;
	*ret = c;
	return 0;
fail:
	pt_live_claims_clear(&c);
	return r;
}

int pt_live_new_jti(struct pt_live_claims *c)
{
	uint8_t rnd[16];
	char *jti;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	jti = pt_b64url_encode(rnd, sizeof(rnd));
	if (!jti)
		return -ENOMEM;
	free(c->jti);
	c->jti = jti;
	return 0;
}

/* ------------------------------------------------------------------ form */

bool pt_live_alg_valid(const char *alg)
{
	return alg && (strcmp(alg, "EdDSA") == 0 || strcmp(alg, "Ed25519") == 0);
}

bool pt_live_kid_valid(const char *kid)
{
	size_t n = 0;

	if (!kid)
		return false;
	for (; kid[n]; n++)
		if (!((kid[n] >= 'A' && kid[n] <= 'Z') || (kid[n] >= 'a' && kid[n] <= 'z') ||
		      (kid[n] >= '0' && kid[n] <= '9') || kid[n] == '-' || kid[n] == '_'))
			return false;
	return n == PT_LIVE_KID_LEN;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF
 * (the strict JSON parser takes all of it; json-c writes any bytes as they
 * are, so a claim that is not UTF-8 would make a token nobody can parse). */
static bool utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s++, n, min, v;

		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, min = 0x80, v = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, min = 0x800, v = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, min = 0x10000, v = c & 0x07;
		else
			return false;
		for (; n; n--, s++) {
			if ((*s & 0xc0) != 0x80)
				return false;
			v = v << 6 | (*s & 0x3f);
		}
		if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
			return false;
	}
	return true;
}

static bool str_bounded(const char *s)
{
	return !s ||
	       (strnlen(s, PT_LIVE_MAX_STR + 1) <= PT_LIVE_MAX_STR && utf8_valid((const void *)s));
}

static bool strv_bounded(char *const *v, size_t n)
{
	if (n > PT_LIVE_MAX_LIST || (n && !v))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!v[i] || !str_bounded(v[i]))
			return false;
	return true;
}

bool pt_live_claims_valid(const struct pt_live_claims *c)
{
	if (!str_bounded(c->iss) || !str_bounded(c->sub) || !str_bounded(c->aud) ||
	    !str_bounded(c->jti) || !str_bounded(c->ptk) || !str_bounded(c->svc) ||
	    !str_bounded(c->tty) || !str_bounded(c->rhost) || !str_bounded(c->tmpl) ||
	    c->n_act > PT_LIVE_MAX_ACT || !strv_bounded(c->groups, c->n_groups) ||
	    !strv_bounded(c->entitlements, c->has_entitlements ? c->n_entitlements : 0) ||
	    c->auth_time > INT64_MAX) /* a positive JSON integer (pt_live_parse) */
		return false;
	for (size_t i = 0; i < c->n_act; i++)
		if (!str_bounded(c->act[i]))
			return false;
	return true;
}

/* ------------------------------------------------------------------ JSON */

static int add(json_object *o, const char *key, json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static json_object *str_or_empty(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static int add_strv(json_object *o, const char *key, char *const *v, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_new_string(v[i]);
		if (!s || json_object_array_add(a, s) < 0) {
			json_object_put(s);
			json_object_put(a);
			return -ENOMEM;
		}
	}
	return add(o, key, a);
}

/* The actor chain from index i outwards: {"sub": act[i], "act": {...}}. */
static json_object *act_chain(const struct pt_live_claims *c, size_t i)
{
	json_object *a = json_object_new_object(), *inner;

	if (!a)
		return NULL;
	if (add(a, "sub", str_or_empty(c->act[i])) < 0)
		goto fail;
	if (i + 1 < c->n_act) {
		inner = act_chain(c, i + 1);
		if (!inner || add(a, "act", inner) < 0)
			goto fail;
	}
	return a;
fail:
	json_object_put(a);
	return NULL;
}

static int claims_object(const struct pt_live_claims *c, json_object **ret)
{
	json_object *o = json_object_new_object();
	int r = 0;

	if (!o)
		return -ENOMEM;
	/* the order is the signing input's: never reorder */
	if (r >= 0)
		r = add(o, "iss", str_or_empty(c->iss));
	if (r >= 0)
		r = add(o, "sub", str_or_empty(c->sub));
	if (r >= 0)
		r = add(o, "aud", str_or_empty(c->aud));
	if (r >= 0)
		r = add(o, "exp", json_object_new_int64((int64_t)c->exp));
	if (r >= 0)
		r = add(o, "nbf", json_object_new_int64((int64_t)c->nbf));
	if (r >= 0)
		r = add(o, "iat", json_object_new_int64((int64_t)c->iat));
	if (r >= 0)
		r = add(o, "jti", str_or_empty(c->jti));
	if (r >= 0)
		r = add(o, "uid", json_object_new_int64(c->uid));
	if (r >= 0)
		r = add(o, "gid", json_object_new_int64(c->gid));
	if (r >= 0)
		r = add_strv(o, "groups", c->groups, c->n_groups);
	if (r >= 0 && c->has_entitlements)
		r = add_strv(o, "entitlements", c->entitlements, c->n_entitlements);
	if (r >= 0 && c->n_act)
		r = add(o, "act", act_chain(c, 0));
	if (r >= 0 && c->has_ptk)
		r = add(o, "ptk", str_or_empty(c->ptk));
	if (r >= 0 && c->auth_time)
		r = add(o, "auth_time", json_object_new_int64((int64_t)c->auth_time));
	if (r >= 0 && c->svc && *c->svc)
		r = add(o, "svc", json_object_new_string(c->svc));
	if (r >= 0 && c->tty && *c->tty)
		r = add(o, "tty", json_object_new_string(c->tty));
	if (r >= 0 && c->rhost && *c->rhost)
		r = add(o, "rhost", json_object_new_string(c->rhost));
	if (r >= 0 && c->tmpl && *c->tmpl)
		r = add(o, "tmpl", json_object_new_string(c->tmpl));
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*ret = o;
	return 0;
}

int pt_live_claims_json(const struct pt_live_claims *c, bool pretty, char **ret)
{
	json_object *o = NULL;
	const char *s;
	char *d;
	int r;

	r = claims_object(c, &o);
	if (r < 0)
		return r;
	s = json_object_to_json_string_ext(o, pretty ? JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE :
						       JSON_C_TO_STRING_PLAIN);
	d = s ? strdup(s) : NULL;
	json_object_put(o);
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 0;
}

/* ------------------------------------------------------------ signing input */

/* base64url(header) "." base64url(claims JSON): the bytes a live token's
 * signature covers, made only from alg, kid and the struct. The header is
 * what pt_jws_sign writes ({"alg","typ","kid"}, json-c plain, no slash
 * escaping): alg and kid of valid form need no escaping, so a format string
 * gives the same bytes (test-live compares the two). The one serializer of
 * pt_live_sign, pt_live_check and so pt_live_verify. */
static int signing_input(const char *alg, const char *kid, const struct pt_live_claims *c,
			 char **ret, size_t *ret_len)
{
	_cleanup_free_ char *h64 = NULL;
	_cleanup_secret_ char *json = NULL, *p64 = NULL;
	char header[128];
	char *in;
	int n, r;

	if (!pt_live_alg_valid(alg) || !pt_live_kid_valid(kid) || !pt_live_claims_valid(c))
		return -EINVAL;
	n = snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"%s\",\"kid\":\"%s\"}", alg,
		     PT_LIVE_TYP, kid);
	if (n < 0 || (size_t)n >= sizeof(header))
		return -EINVAL;
	r = pt_live_claims_json(c, false, &json);
	if (r < 0)
		return r;
	h64 = pt_b64url_encode(header, (size_t)n);
	p64 = pt_b64url_encode(json, strlen(json));
	if (!h64 || !p64)
		return -ENOMEM;
	/* with the signature (86 characters) within PT_JWS_MAX, as pt_jws_verify */
	if (strlen(h64) + 1 + strlen(p64) + 1 + 86 > PT_JWS_MAX)
		return -EINVAL;
	if (asprintf(&in, "%s.%s", h64, p64) < 0)
		return -ENOMEM;
	*ret = in;
	*ret_len = strlen(in);
	return 0;
}

/* input "." base64url(sig) */
static int append_sig(const char *input, const uint8_t sig[PT_LIVE_SIG_LEN], char **ret)
{
	_cleanup_free_ char *s64 = pt_b64url_encode(sig, PT_LIVE_SIG_LEN);
	char *t;

	if (!s64 || asprintf(&t, "%s.%s", input, s64) < 0)
		return -ENOMEM;
	*ret = t;
	return 0;
}

int pt_live_sign(const struct pt_keys *keys, const char *alg, const struct pt_live_claims *c,
		 char **ret_token)
{
	_cleanup_secret_ char *input = NULL;
	uint8_t sig[PT_LIVE_SIG_LEN];
	size_t len, siglen = sizeof(sig);
	EVP_MD_CTX *ctx = NULL;
	int r;

	/* out of bounds or not UTF-8: -EINVAL (it signs only what the front
	 * parses; the key holder does not parse its own tokens to find out) */
	r = signing_input(alg, keys->kid, c, &input, &len);
	if (r < 0)
		return r;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, keys->sign) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, len) != 1 ||
	    siglen != sizeof(sig)) {
		r = -EIO;
		goto out;
	}
	r = append_sig(input, sig, ret_token);
out:
	OPENSSL_cleanse(sig, sizeof(sig));
	EVP_MD_CTX_free(ctx);
	return r;
}

/* ---------------------------------------------------------------- refusals */

static const char *const why_text[PT_LIVE_REFUSAL_MAX] = {
	[PT_LIVE_OK] = "ok",
	[PT_LIVE_MALFORMED] = "malformed token",
	[PT_LIVE_NOT_LIVE] = "not a live token",
	[PT_LIVE_UNSUPPORTED_ALG] = "unsupported alg",
	[PT_LIVE_BAD_SIGNATURE] = "bad signature",
	[PT_LIVE_NO_KID] = "signed by another key",
	[PT_LIVE_WRONG_AUDIENCE] = "wrong audience",
	[PT_LIVE_EXPIRED] = "expired",
	[PT_LIVE_NOT_YET_VALID] = "not yet valid",
	[PT_LIVE_NO_SUBJECT] = "missing sub or uid",
	[PT_LIVE_NO_MEMORY] = "out of memory",
};

const char *pt_live_why(enum pt_live_refusal r)
{
	return (unsigned)r < PT_LIVE_REFUSAL_MAX ? why_text[r] : "malformed token";
}

void pt_live_presented_clear(struct pt_live_presented *p)
{
	if (!p)
		return;
	pt_live_claims_clear(&p->claims);
	OPENSSL_cleanse(p, sizeof(*p));
}

/* ---------------------------------------------------------------- checking */

/* The public key kid names: the current key, or a retired one still
 * accepted at now (as pt_keys_verify: the kid must name the key that
 * verifies). */
static EVP_PKEY *key_of(const struct pt_keys *keys, const char *kid, uint64_t now)
{
	if (keys->kid && strcmp(kid, keys->kid) == 0)
		return keys->sign;
	for (size_t i = 0; i < keys->n_retired; i++)
		if (keys->retired[i].until > now && keys->retired[i].kid &&
		    strcmp(kid, keys->retired[i].kid) == 0)
			return keys->retired[i].pub;
	return NULL;
}

static enum pt_live_refusal check(const struct pt_keys *keys, const char *audience,
				  const struct pt_live_presented *p, uint64_t now, char **ret_token)
{
	const struct pt_live_claims *c = &p->claims;
	_cleanup_secret_ char *input = NULL;
	EVP_MD_CTX *ctx;
	EVP_PKEY *key;
	size_t len;
	int r, k;

	if (p->refused != PT_LIVE_OK)
		return p->refused < PT_LIVE_REFUSAL_MAX ? p->refused : PT_LIVE_MALFORMED;
	/* not trusting the front: the forms again (the wire form checked them too) */
	if (!memchr(p->alg, '\0', sizeof(p->alg)) || !pt_live_alg_valid(p->alg) ||
	    !pt_live_claims_valid(c))
		return PT_LIVE_MALFORMED;
	if (!memchr(p->kid, '\0', sizeof(p->kid)) || !pt_live_kid_valid(p->kid) ||
	    !(key = key_of(keys, p->kid, now)))
		return PT_LIVE_BAD_SIGNATURE;
	r = signing_input(p->alg, p->kid, c, &input, &len);
	if (r < 0)
		return r == -ENOMEM ? PT_LIVE_NO_MEMORY : PT_LIVE_MALFORMED;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return PT_LIVE_NO_MEMORY;
	k = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 ?
		    EVP_DigestVerify(ctx, p->sig, sizeof(p->sig), (const unsigned char *)input,
				     len) :
		    -1;
	EVP_MD_CTX_free(ctx);
	if (k != 1)
		return PT_LIVE_BAD_SIGNATURE;
	if (!c->aud || !audience || strcmp(c->aud, audience) != 0)
		return PT_LIVE_WRONG_AUDIENCE;
	if (c->exp <= now)
		return PT_LIVE_EXPIRED;
	if ((int64_t)c->nbf > (int64_t)(now + PT_LIVE_SKEW))
		return PT_LIVE_NOT_YET_VALID;
	if (!c->sub)
		return PT_LIVE_NO_SUBJECT;
	if (ret_token && append_sig(input, p->sig, ret_token) < 0)
		return PT_LIVE_NO_MEMORY;
	return PT_LIVE_OK;
}

int pt_live_check(const struct pt_keys *keys, const char *audience,
		  const struct pt_live_presented *p, uint64_t now, char **ret_token,
		  enum pt_live_refusal *ret_refusal)
{
	enum pt_live_refusal why = check(keys, audience, p, now, ret_token);

	*ret_refusal = why;
	if (why == PT_LIVE_OK)
		return 0;
	return why == PT_LIVE_NO_MEMORY ? -ENOMEM : -EINVAL;
}

int pt_live_verify(const struct pt_keys *keys, const char *audience, const char *token,
		   uint64_t now, struct pt_live_claims *ret, const char **ret_why)
{
	struct pt_live_presented p = { 0 };
	enum pt_live_refusal why;
	int r;

	r = pt_live_parse(token, &p);
	if (r == -ENOMEM) {
		*ret_why = pt_live_why(PT_LIVE_NO_MEMORY);
		return r;
	}
	r = pt_live_check(keys, audience, &p, now, NULL, &why);
	if (r < 0) {
		pt_live_presented_clear(&p);
		*ret_why = pt_live_why(why);
		return r;
	}
	*ret_why = NULL;
	*ret = p.claims;
	memset(&p.claims, 0, sizeof(p.claims));
	pt_live_presented_clear(&p);
	return 0;
}
