/* SPDX-License-Identifier: MIT */
/*
 * The decoder of external JWTs (extjwt.h): the front splits and decodes a
 * presented token; the key holder runs the same decoder again, but only on
 * a signing input whose signature it has verified.
 */
#include "conf.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "extjwt.h"
#include "ptjson.h"
#include "util.h"

#define JSON_DEPTH 16

static const char *const why_text[PT_EXTJWT_REFUSAL_MAX] = {
	[PT_EXTJWT_OK] = "ok",
	[PT_EXTJWT_MALFORMED] = "malformed token (not three base64url parts)",
	[PT_EXTJWT_TOO_LONG] = "token longer than 8192 characters",
	[PT_EXTJWT_BAD_HEADER] = "malformed header",
	[PT_EXTJWT_ALG_REFUSED] = "alg not accepted (none, HS* or unknown)",
	[PT_EXTJWT_CRIT] = "crit header present",
	[PT_EXTJWT_BAD_PAYLOAD] = "malformed claims",
	[PT_EXTJWT_NO_ISS] = "missing or invalid iss",
	[PT_EXTJWT_NO_SUB] = "missing or invalid sub",
	[PT_EXTJWT_NO_AUD] = "missing or invalid aud",
	[PT_EXTJWT_NO_EXP] = "missing or invalid exp",
	[PT_EXTJWT_NO_IAT] = "missing or invalid iat",
	[PT_EXTJWT_BAD_NBF] = "invalid nbf",
	[PT_EXTJWT_NO_JTI] = "missing or invalid jti",
	[PT_EXTJWT_BAD_AUTHN] = "invalid acr or amr",
	[PT_EXTJWT_BAD_GROUPS] = "invalid group claim",
	[PT_EXTJWT_BAD_SIG_FORM] = "signature of the wrong length for alg",
	[PT_EXTJWT_UNKNOWN_ISSUER] = "unknown issuer",
	[PT_EXTJWT_ALG_NOT_ALLOWED] = "alg not allowed for this issuer",
	[PT_EXTJWT_UNKNOWN_KID] = "no key of the issuer matches kid and alg",
	[PT_EXTJWT_BAD_SIGNATURE] = "bad signature",
	[PT_EXTJWT_MISMATCH] = "decoded header or iss differ from the signed ones",
	[PT_EXTJWT_WRONG_AUD] = "wrong audience",
	[PT_EXTJWT_EXPIRED] = "expired",
	[PT_EXTJWT_NOT_YET_VALID] = "not yet valid (nbf)",
	[PT_EXTJWT_TOO_OLD] = "issued too long ago (iat + max_age)",
	[PT_EXTJWT_FUTURE_IAT] = "issued in the future (iat)",
	[PT_EXTJWT_NO_MEMORY] = "out of memory",
};

const char *pt_extjwt_why(enum pt_extjwt_refusal r)
{
	return (unsigned)r < PT_EXTJWT_REFUSAL_MAX ? why_text[r] : "unknown";
}

static const struct {
	const char *name;
	enum pt_extjwt_alg alg;
} algs[] = {
	{ "EdDSA", PT_EXTJWT_EDDSA }, { "Ed25519", PT_EXTJWT_EDDSA }, { "ES256", PT_EXTJWT_ES256 },
	{ "RS256", PT_EXTJWT_RS256 }, { "PS256", PT_EXTJWT_PS256 },
};

enum pt_extjwt_alg pt_extjwt_alg_of(const char *name)
{
	for (size_t i = 0; name && i < PT_ELEMENTSOF(algs); i++)
		if (strcmp(name, algs[i].name) == 0)
			return algs[i].alg;
	return PT_EXTJWT_ALG_NONE;
}

const char *pt_extjwt_alg_name(enum pt_extjwt_alg alg)
{
	for (size_t i = 0; i < PT_ELEMENTSOF(algs); i++)
		if (algs[i].alg == alg)
			return algs[i].name;
	return "none";
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void pt_extjwt_claims_clear(struct pt_extjwt_claims *c)
{
	if (!c)
		return;
	free(c->kid);
	free(c->iss);
	free(c->sub);
	free(c->jti);
	free(c->acr);
	strv_free(c->aud, c->n_aud);
	strv_free(c->amr, c->n_amr);
	strv_free(c->groups, c->n_groups);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ members */

/* A bounded string without NUL (json-c takes \u0000). */
static bool str_ok(json_object *v, size_t max)
{
	size_t n;

	if (!json_object_is_type(v, json_type_string))
		return false;
	n = (size_t)json_object_get_string_len(v);
	return n <= max && strlen(json_object_get_string(v)) == n;
}

/* A string member into *ret (a copy). absent: -ENOENT; of another form or
 * empty when nonempty: -EBADMSG; -ENOMEM. */
static int get_str(json_object *o, const char *key, bool nonempty, char **ret)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return -ENOENT;
	if (!str_ok(v, PT_EXTJWT_MAX_STR) || (nonempty && json_object_get_string_len(v) == 0))
		return -EBADMSG;
	*ret = strdup(json_object_get_string(v));
	return *ret ? 0 : -ENOMEM;
}

/* A NumericDate as an integer in [0, INT64_MAX]. */
static int get_time(json_object *o, const char *key, uint64_t *ret)
{
	json_object *v;
	int64_t t;

	if (!json_object_object_get_ex(o, key, &v))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_int))
		return -EBADMSG;
	t = json_object_get_int64(v);
	if (t < 0 || (t == INT64_MAX && errno == ERANGE))
		return -EBADMSG;
	*ret = (uint64_t)t;
	return 0;
}

/* A string (one element) or an array of strings. -ENOENT, -EBADMSG, -ENOMEM. */
static int get_strv(json_object *o, const char *key, bool allow_string, char ***ret, size_t *ret_n)
{
	json_object *a;
	char **v;
	size_t n;

	if (!json_object_object_get_ex(o, key, &a))
		return -ENOENT;
	if (allow_string && json_object_is_type(a, json_type_string)) {
		if (!str_ok(a, PT_EXTJWT_MAX_STR))
			return -EBADMSG;
		v = calloc(2, sizeof(char *));
		if (!v || !(v[0] = strdup(json_object_get_string(a)))) {
			free(v);
			return -ENOMEM;
		}
		*ret = v;
		*ret_n = 1;
		return 0;
	}
	if (!json_object_is_type(a, json_type_array))
		return -EBADMSG;
	n = json_object_array_length(a);
	if (n > PT_EXTJWT_MAX_LIST)
		return -EBADMSG;
	v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (!str_ok(e, PT_EXTJWT_MAX_STR)) {
			strv_free(v, i);
			return -EBADMSG;
		}
		if (!(v[i] = strdup(json_object_get_string(e)))) {
			strv_free(v, i);
			return -ENOMEM;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* r of a required member: 0 stays, -ENOMEM stays, anything else is why. */
static int need(int r, enum pt_extjwt_refusal why, enum pt_extjwt_refusal *ret_why)
{
	if (r == 0 || r == -ENOMEM)
		return r;
	*ret_why = why;
	return -EINVAL;
}

static int opt(int r, enum pt_extjwt_refusal why, enum pt_extjwt_refusal *ret_why)
{
	return r == -ENOENT ? 0 : need(r, why, ret_why);
}

static int decode_header(json_object *h, struct pt_extjwt_claims *c,
			 enum pt_extjwt_refusal *ret_why)
{
	json_object *v;
	const char *alg;

	*ret_why = PT_EXTJWT_BAD_HEADER;
	if (!json_object_object_get_ex(h, "alg", &v) || !str_ok(v, PT_EXTJWT_MAX_STR))
		return -EINVAL;
	alg = json_object_get_string(v);
	c->alg = pt_extjwt_alg_of(alg);
	if (c->alg == PT_EXTJWT_ALG_NONE) {
		*ret_why = PT_EXTJWT_ALG_REFUSED;
		return -EINVAL;
	}
	snprintf(c->alg_name, sizeof(c->alg_name), "%s", alg);
	/* RFC 7515 4.1.11: a crit we do not understand (we understand none)
	 * must be refused; b64 (RFC 7797) would change the signing input */
	if (json_object_object_get_ex(h, "crit", NULL) ||
	    json_object_object_get_ex(h, "b64", NULL)) {
		*ret_why = PT_EXTJWT_CRIT;
		return -EINVAL;
	}
	if (json_object_object_get_ex(h, "kid", &v)) {
		if (!str_ok(v, PT_EXTJWT_MAX_KID) || json_object_get_string_len(v) == 0)
			return -EINVAL;
		if (!(c->kid = strdup(json_object_get_string(v))))
			return -ENOMEM;
	}
	for (size_t i = 0; i < 2; i++) {
		const char *k = i == 0 ? "typ" : "cty";
		if (json_object_object_get_ex(h, k, &v) && !str_ok(v, PT_EXTJWT_MAX_STR))
			return -EINVAL;
	}
	/* jku, x5u, jwk, x5c: ignored, the key is the configured one */
	return 0;
}

static int decode_payload(json_object *o, const char *group_claim, struct pt_extjwt_claims *c,
			  enum pt_extjwt_refusal *ret_why)
{
	int r;

	if ((r = need(get_str(o, "iss", true, &c->iss), PT_EXTJWT_NO_ISS, ret_why)) < 0 ||
	    (r = need(get_str(o, "sub", true, &c->sub), PT_EXTJWT_NO_SUB, ret_why)) < 0 ||
	    (r = need(get_strv(o, "aud", true, &c->aud, &c->n_aud), PT_EXTJWT_NO_AUD, ret_why)) < 0)
		return r;
	if (c->n_aud == 0)
		return need(-EBADMSG, PT_EXTJWT_NO_AUD, ret_why);
	if ((r = need(get_time(o, "exp", &c->exp), PT_EXTJWT_NO_EXP, ret_why)) < 0 ||
	    (r = need(get_time(o, "iat", &c->iat), PT_EXTJWT_NO_IAT, ret_why)) < 0)
		return r;
	r = get_time(o, "nbf", &c->nbf);
	c->has_nbf = r == 0;
	if ((r = opt(r, PT_EXTJWT_BAD_NBF, ret_why)) < 0 ||
	    (r = need(get_str(o, "jti", true, &c->jti), PT_EXTJWT_NO_JTI, ret_why)) < 0 ||
	    (r = opt(get_str(o, "acr", false, &c->acr), PT_EXTJWT_BAD_AUTHN, ret_why)) < 0 ||
	    (r = opt(get_strv(o, "amr", false, &c->amr, &c->n_amr), PT_EXTJWT_BAD_AUTHN, ret_why)) <
		    0)
		return r;
	if (group_claim && (r = opt(get_strv(o, group_claim, true, &c->groups, &c->n_groups),
				    PT_EXTJWT_BAD_GROUPS, ret_why)) < 0)
		return r;
	return 0;
}

int pt_extjwt_decode(const char *text, size_t len, const char *group_claim,
		     struct pt_extjwt_claims *ret, enum pt_extjwt_refusal *ret_why)
{
	struct pt_extjwt_claims c = { 0 };
	json_object *h = NULL, *o = NULL;
	const char *dot;
	int r;

	*ret_why = PT_EXTJWT_MALFORMED;
	if (!text || len > PT_EXTJWT_MAX || !(dot = memchr(text, '.', len)) || dot == text ||
	    dot + 1 == text + len || memchr(dot + 1, '.', len - (size_t)(dot + 1 - text)))
		return -EINVAL;
	r = pt_json_b64url_object(text, (size_t)(dot - text), PT_EXTJWT_MAX, JSON_DEPTH, &h);
	if (r < 0) {
		*ret_why = PT_EXTJWT_BAD_HEADER;
		goto out;
	}
	r = decode_header(h, &c, ret_why);
	if (r < 0)
		goto out;
	r = pt_json_b64url_object(dot + 1, len - (size_t)(dot + 1 - text), PT_EXTJWT_MAX,
				  JSON_DEPTH, &o);
	if (r < 0) {
		*ret_why = PT_EXTJWT_BAD_PAYLOAD;
		goto out;
	}
	r = decode_payload(o, group_claim, &c, ret_why);
	if (r < 0)
		goto out;
	*ret = c;
	memset(&c, 0, sizeof(c));
	*ret_why = PT_EXTJWT_OK;
out:
	if (r == -ENOMEM)
		*ret_why = PT_EXTJWT_NO_MEMORY;
	pt_extjwt_claims_clear(&c);
	json_object_put(h);
	json_object_put(o);
	return r;
}

/* ------------------------------------------------------------ front */

void pt_extjwt_presented_clear(struct pt_extjwt_presented *p)
{
	if (!p)
		return;
	free(p->iss);
	if (p->input) {
		OPENSSL_cleanse(p->input, p->input_len);
		free(p->input);
	}
	OPENSSL_cleanse(p, sizeof(*p));
}

static bool sig_len_ok(enum pt_extjwt_alg alg, size_t n)
{
	switch (alg) {
	case PT_EXTJWT_EDDSA:
	case PT_EXTJWT_ES256:
		return n == 64;
	case PT_EXTJWT_RS256:
	case PT_EXTJWT_PS256:
		return n >= 256 && n <= PT_EXTJWT_MAX_SIG;
	default:
		return false;
	}
}

int pt_extjwt_split(const char *token, struct pt_extjwt_presented *ret)
{
	struct pt_extjwt_presented p = { 0 };
	struct pt_extjwt_claims c = { 0 };
	enum pt_extjwt_refusal why = PT_EXTJWT_MALFORMED;
	const char *d2;
	uint8_t *sig = NULL;
	size_t n, sn = 0;
	int r;

	n = token ? strnlen(token, PT_EXTJWT_MAX + 1) : 0;
	if (n > PT_EXTJWT_MAX) {
		why = PT_EXTJWT_TOO_LONG;
		goto refuse;
	}
	/* the header first, even of a token with an empty signature: "alg
	 * none" is refused as such, not as a malformed token */
	if (n == 0 || !(d2 = memrchr(token, '.', n)))
		goto refuse;
	r = pt_extjwt_decode(token, (size_t)(d2 - token), NULL, &c, &why);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		goto refuse;
	why = PT_EXTJWT_BAD_SIG_FORM;
	if (d2 + 1 == token + n)
		goto refuse;
	r = pt_b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - token), &sig, &sn);
	if (r == -ENOMEM)
		goto out;
	if (r < 0 || !sig_len_ok(c.alg, sn)) {
		why = r < 0 ? PT_EXTJWT_MALFORMED : PT_EXTJWT_BAD_SIG_FORM;
		goto refuse;
	}
	p.alg = (uint8_t)c.alg;
	memcpy(p.alg_name, c.alg_name, sizeof(p.alg_name));
	snprintf(p.kid, sizeof(p.kid), "%s", c.kid ? c.kid : "");
	memcpy(p.sig, sig, sn);
	p.sig_len = sn;
	p.input_len = (size_t)(d2 - token);
	p.iss = strdup(c.iss);
	p.input = strndup(token, p.input_len);
	if (!p.iss || !p.input) {
		r = -ENOMEM;
		goto out;
	}
	*ret = p;
	memset(&p, 0, sizeof(p));
	r = 0;
	goto out;
refuse:
	pt_extjwt_presented_clear(&p);
	p.refused = (uint8_t)why;
	*ret = p;
	r = -EINVAL;
out:
	if (r == -ENOMEM)
		pt_extjwt_presented_clear(&p);
	pt_extjwt_claims_clear(&c);
	if (sig) {
		OPENSSL_cleanse(sig, sn);
		free(sig);
	}
	return r;
}

/* ------------------------------------------------------------ wire */

static bool b64url_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

/* The form pt_extjwt_split makes: base64url, one '.', neither end empty. */
static bool input_form_ok(const char *s, size_t n)
{
	size_t dots = 0;

	if (n == 0 || n > PT_EXTJWT_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.')
			dots++;
		else if (!b64url_char(s[i]))
			return false;
	}
	return dots == 1;
}

static bool presented_ok(const struct pt_extjwt_presented *p)
{
	return p->alg > PT_EXTJWT_ALG_NONE && p->alg < PT_EXTJWT_ALG_MAX &&
	       memchr(p->alg_name, '\0', sizeof(p->alg_name)) &&
	       pt_extjwt_alg_of(p->alg_name) == p->alg && memchr(p->kid, '\0', sizeof(p->kid)) &&
	       p->iss && *p->iss && strlen(p->iss) <= PT_EXTJWT_MAX_STR && p->input &&
	       strlen(p->input) == p->input_len && input_form_ok(p->input, p->input_len) &&
	       sig_len_ok(p->alg, p->sig_len);
}

int pt_extjwt_wire_put(struct ptbuf *b, const struct pt_extjwt_presented *p)
{
	struct ptbuf *t;
	int r;

	if (p->refused >= PT_EXTJWT_REFUSAL_MAX || (p->refused == PT_EXTJWT_OK && !presented_ok(p)))
		return -EINVAL;
	t = ptbuf_new(ptbuf_max(b));
	if (!t)
		return -ENOMEM;
	r = ptbuf_put_u8(t, p->refused);
	if (r >= 0 && p->refused == PT_EXTJWT_OK &&
	    ((r = ptbuf_put_u8(t, p->alg)) < 0 || (r = ptbuf_put_cstring(t, p->alg_name)) < 0 ||
	     (r = ptbuf_put_cstring(t, p->kid)) < 0 || (r = ptbuf_put_cstring(t, p->iss)) < 0 ||
	     (r = ptbuf_put_cstring(t, p->input)) < 0 ||
	     (r = ptbuf_put_u32(t, (uint32_t)p->sig_len)) < 0 ||
	     (r = ptbuf_put(t, p->sig, p->sig_len)) < 0))
		goto out;
	if (r >= 0)
		r = ptbuf_len(b) + ptbuf_len(t) > ptbuf_max(b) ?
			    -EMSGSIZE :
			    ptbuf_put(b, ptbuf_ptr(t), ptbuf_len(t));
out:
	ptbuf_free(t); /* wiped */
	return r;
}

static int get_fixed(struct ptbuf_view *v, char *field, size_t size)
{
	char *s = NULL;
	int r;

	r = ptbuf_view_get_cstring(v, size - 1, &s);
	if (r < 0)
		return r;
	memcpy(field, s, strlen(s) + 1);
	free(s);
	return 0;
}

int pt_extjwt_wire_get(struct ptbuf_view *v, struct pt_extjwt_presented *ret)
{
	struct pt_extjwt_presented p = { 0 };
	struct ptbuf_view w = *v;
	uint32_t sn;
	int r;

	if ((r = ptbuf_view_get_u8(&w, &p.refused)) < 0)
		goto out;
	if (p.refused >= PT_EXTJWT_REFUSAL_MAX) {
		r = -EBADMSG;
		goto out;
	}
	if (p.refused == PT_EXTJWT_OK) {
		if ((r = ptbuf_view_get_u8(&w, &p.alg)) < 0 ||
		    (r = get_fixed(&w, p.alg_name, sizeof(p.alg_name))) < 0 ||
		    (r = get_fixed(&w, p.kid, sizeof(p.kid))) < 0 ||
		    (r = ptbuf_view_get_cstring(&w, PT_EXTJWT_MAX_STR, &p.iss)) < 0 ||
		    (r = ptbuf_view_get_cstring(&w, PT_EXTJWT_MAX, &p.input)) < 0 ||
		    (r = ptbuf_view_get_u32(&w, &sn)) < 0)
			goto out;
		if (sn > PT_EXTJWT_MAX_SIG || w.len - w.off < sn) {
			r = -EBADMSG;
			goto out;
		}
		memcpy(p.sig, w.p + w.off, sn);
		w.off += sn;
		p.sig_len = sn;
		p.input_len = strlen(p.input);
		if (!presented_ok(&p)) {
			r = -EBADMSG;
			goto out;
		}
	}
	v->off = w.off;
	*ret = p;
	return 0;
out:
	pt_extjwt_presented_clear(&p);
	return r == -ENOMEM ? r : -EBADMSG;
}
