/* SPDX-License-Identifier: MIT */
/* Compact JWS (RFC 7515) with Ed25519 (RFC 8037 / RFC 9864) on OpenSSL EVP and json-c. */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "jws.h"
#include "ptjson.h"
#include "util.h"

#define ED25519_SIG_LEN 64
#define ED25519_KEY_LEN 32
#define JWS_JSON_DEPTH 32 /* the act chain nests; nothing legitimate goes deeper */

static bool alg_known(const char *alg)
{
	return alg && (strcmp(alg, "EdDSA") == 0 || strcmp(alg, "Ed25519") == 0);
}

static bool key_is_ed25519(EVP_PKEY *key)
{
	return key && EVP_PKEY_is_a(key, "ED25519");
}

/* json-c's strict mode still takes NaN/Infinity and strings with \u0000 (which
 * C string comparisons would silently truncate): reject both, at any depth
 * (bounded by the tokener's depth limit). */
static bool json_sane(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_double:
		return isfinite(json_object_get_double(o));
	case json_type_string:
		return strlen(json_object_get_string(o)) == (size_t)json_object_get_string_len(o);
	case json_type_array:
		for (size_t i = 0, n = json_object_array_length(o); i < n; i++)
			if (!json_sane(json_object_array_get_idx(o, i)))
				return false;
		return true;
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			if (!json_sane(val))
				return false;
		}
		return true;
	}
	default:
		return true;
	}
}

/* Parses exactly n bytes of strict JSON that must be one object. */
static int parse_object(const char *s, size_t n, struct json_object **ret)
{
	struct json_object *o;
	int r;

	r = pt_json_parse_strict(s, n, PT_JWS_MAX, JWS_JSON_DEPTH, &o);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	if (!json_object_is_type(o, json_type_object) || !json_sane(o)) {
		json_object_put(o);
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

/* A member that must be a string when present. -ENOENT when absent. */
static int get_string_member(struct json_object *o, const char *name, const char **ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_string))
		return -EBADMSG;
	*ret = json_object_get_string(v);
	return 0;
}

/* Splits "h.p.s" into its three parts; every part must be non-empty. */
struct jws_parts {
	const char *h, *p, *s;
	size_t hn, pn, sn;
};

static int jws_split(const char *jws, struct jws_parts *ret)
{
	const char *d1, *d2;
	size_t n;

	if (!jws)
		return -EBADMSG;
	n = strnlen(jws, PT_JWS_MAX + 1);
	if (n > PT_JWS_MAX)
		return -EBADMSG;
	d1 = memchr(jws, '.', n);
	if (!d1)
		return -EBADMSG;
	d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - jws));
	if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - jws)))
		return -EBADMSG;
	ret->h = jws;
	ret->hn = (size_t)(d1 - jws);
	ret->p = d1 + 1;
	ret->pn = (size_t)(d2 - (d1 + 1));
	ret->s = d2 + 1;
	ret->sn = n - (size_t)(d2 + 1 - jws);
	if (ret->hn == 0 || ret->pn == 0 || ret->sn == 0)
		return -EBADMSG;
	return 0;
}

static void free_wiped(uint8_t *p, size_t n)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

/* The three parts, split and base64url-decoded (each NUL-terminated). */
struct jws_decoded {
	struct jws_parts parts;
	uint8_t *h, *p, *s;
	size_t hn, pn, sn;
};

static void jws_decoded_clear(struct jws_decoded *d)
{
	free_wiped(d->h, d->hn);
	free_wiped(d->p, d->pn);
	free_wiped(d->s, d->sn);
	memset(d, 0, sizeof(*d));
}

/* -EBADMSG when jws is not three non-empty base64url parts; on failure
 * nothing stays allocated. */
static int jws_decode(const char *jws, struct jws_decoded *ret)
{
	struct jws_decoded d = { 0 };
	int r;

	r = jws_split(jws, &d.parts);
	if (r < 0)
		return r;
	if (pt_b64url_decode(d.parts.h, d.parts.hn, &d.h, &d.hn) < 0 ||
	    pt_b64url_decode(d.parts.p, d.parts.pn, &d.p, &d.pn) < 0 ||
	    pt_b64url_decode(d.parts.s, d.parts.sn, &d.s, &d.sn) < 0) {
		jws_decoded_clear(&d);
		return -EBADMSG;
	}
	*ret = d;
	return 0;
}

/* Adds a string member; false on allocation failure. */
static bool add_str(struct json_object *o, const char *key, const char *val)
{
	struct json_object *v = json_object_new_string(val);

	if (!v)
		return false;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

static char *json_text(struct json_object *o)
{
	const char *s;

	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	return s ? strdup(s) : NULL;
}

int pt_jws_sign(EVP_PKEY *key, const char *alg, const char *typ, const char *kid,
		const char *payload_json, char **ret_jws)
{
	struct json_object *hdr = NULL, *payload = NULL;
	char *htext = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL, *out = NULL;
	uint8_t sig[ED25519_SIG_LEN];
	size_t siglen = sizeof(sig), plen, hlen, total;
	EVP_MD_CTX *ctx = NULL;
	int r;

	if (!key_is_ed25519(key) || !alg_known(alg) || !typ || !payload_json || !ret_jws)
		return -EINVAL;
	plen = strnlen(payload_json, PT_JWS_MAX + 1);
	if (plen > PT_JWS_MAX)
		return -EINVAL;
	/* Sign only what pt_jws_verify will accept. */
	r = parse_object(payload_json, plen, &payload);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	json_object_put(payload);

	hdr = json_object_new_object();
	if (!hdr || !add_str(hdr, "alg", alg) || !add_str(hdr, "typ", typ) ||
	    (kid && !add_str(hdr, "kid", kid))) {
		r = -ENOMEM;
		goto out;
	}
	htext = json_text(hdr);
	if (!htext) {
		r = -ENOMEM;
		goto out;
	}
	hlen = strlen(htext);
	if (hlen > PT_JWS_MAX) {
		r = -EINVAL;
		goto out;
	}
	h64 = pt_b64url_encode(htext, hlen);
	p64 = pt_b64url_encode(payload_json, plen);
	if (!h64 || !p64) {
		r = -ENOMEM;
		goto out;
	}
	hlen = strlen(h64);
	plen = strlen(p64);
	/* h64 "." p64 "." sig64 (86 characters) */
	total = hlen + 1 + plen + 1 + 86;
	if (total > PT_JWS_MAX) {
		r = -EINVAL;
		goto out;
	}
	out = malloc(total + 1);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(out, h64, hlen);
	out[hlen] = '.';
	memcpy(out + hlen + 1, p64, plen);
	out[hlen + 1 + plen] = '\0';

	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)out, hlen + 1 + plen) != 1 ||
	    siglen != ED25519_SIG_LEN) {
		r = -EIO;
		goto out;
	}
	s64 = pt_b64url_encode(sig, siglen);
	if (!s64 || strlen(s64) != 86) {
		r = -ENOMEM;
		goto out;
	}
	out[hlen + 1 + plen] = '.';
	memcpy(out + hlen + 1 + plen + 1, s64, 87);
	*ret_jws = out;
	out = NULL;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(sig, sizeof(sig));
	json_object_put(hdr);
	free(htext);
	free(h64);
	pt_free_secret(p64);
	free(s64);
	pt_free_secret(out);
	return r;
}

int pt_jws_verify(EVP_PKEY *pub, const char *jws, const char *expect_typ, void **ret_claims,
		  char **ret_kid)
{
	struct json_object *hdr = NULL, *claims = NULL;
	struct jws_decoded d = { 0 };
	const char *alg, *typ, *kid = NULL;
	EVP_MD_CTX *ctx = NULL;
	char *kid_copy = NULL;
	int r;

	if (!key_is_ed25519(pub) || !expect_typ || !ret_claims)
		return -EINVAL;
	r = jws_decode(jws, &d);
	if (r < 0)
		return r;

	r = parse_object((const char *)d.h, d.hn, &hdr);
	if (r < 0)
		goto out;
	r = get_string_member(hdr, "alg", &alg);
	if (r >= 0)
		r = get_string_member(hdr, "typ", &typ);
	if (r >= 0) {
		r = get_string_member(hdr, "kid", &kid);
		if (r == -ENOENT)
			r = 0;
	}
	if (r < 0) {
		r = -EBADMSG; /* alg or typ missing, or a member of the wrong type */
		goto out;
	}
	if (!alg_known(alg)) {
		r = -ENOTSUP;
		goto out;
	}
	/* RFC 7515 4.1.11: extensions we do not understand must not be ignored. */
	if (json_object_object_get_ex(hdr, "crit", NULL) ||
	    json_object_object_get_ex(hdr, "b64", NULL)) {
		r = -ENOTSUP;
		goto out;
	}

	if (d.sn != ED25519_SIG_LEN) {
		r = -EKEYREJECTED;
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) != 1) {
		r = -EIO;
		goto out;
	}
	/* The signing input is the ASCII "h64.p64" as it appears in the token. */
	if (EVP_DigestVerify(ctx, d.s, d.sn, (const unsigned char *)d.parts.h,
			     d.parts.hn + 1 + d.parts.pn) != 1) {
		r = -EKEYREJECTED;
		goto out;
	}

	if (strcmp(typ, expect_typ) != 0) {
		r = -EPROTOTYPE;
		goto out;
	}
	r = parse_object((const char *)d.p, d.pn, &claims);
	if (r < 0)
		goto out;
	if (ret_kid && kid) {
		kid_copy = strdup(kid);
		if (!kid_copy) {
			r = -ENOMEM;
			goto out;
		}
	}
	*ret_claims = claims;
	claims = NULL;
	if (ret_kid)
		*ret_kid = kid_copy;
	kid_copy = NULL;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	json_object_put(hdr);
	json_object_put(claims);
	free(kid_copy);
	jws_decoded_clear(&d);
	return r;
}

int pt_jws_decode_unverified(const char *jws, char **ret_header, char **ret_payload)
{
	struct json_object *o = NULL;
	struct jws_decoded d = { 0 };
	int r;

	if (!ret_header || !ret_payload)
		return -EINVAL;
	r = jws_decode(jws, &d);
	if (r < 0)
		return r;
	/* Both must be JSON objects (the decoded buffers are NUL-terminated). */
	r = parse_object((const char *)d.h, d.hn, &o);
	if (r < 0)
		goto out;
	json_object_put(o);
	r = parse_object((const char *)d.p, d.pn, &o);
	if (r < 0)
		goto out;
	json_object_put(o);
	*ret_header = (char *)d.h;
	*ret_payload = (char *)d.p;
	d.h = d.p = NULL;
	r = 0;
out:
	jws_decoded_clear(&d);
	return r;
}

static int raw_public(EVP_PKEY *key, uint8_t ret[ED25519_KEY_LEN])
{
	size_t n = ED25519_KEY_LEN;

	if (!key_is_ed25519(key))
		return -EINVAL;
	if (EVP_PKEY_get_raw_public_key(key, ret, &n) != 1 || n != ED25519_KEY_LEN)
		return -EIO;
	return 0;
}

int pt_jwk_thumbprint(EVP_PKEY *key, char **ret_kid)
{
	uint8_t raw[ED25519_KEY_LEN], md[32];
	unsigned int mdlen = sizeof(md);
	char *x = NULL, *canon = NULL, *kid;
	int r, k;

	if (!ret_kid)
		return -EINVAL;
	r = raw_public(key, raw);
	if (r < 0)
		return r;
	x = pt_b64url_encode(raw, sizeof(raw));
	if (!x)
		return -ENOMEM;
	/* RFC 7638 3.2: required members only, lexicographic order, no whitespace. */
	k = asprintf(&canon, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
	free(x);
	if (k < 0)
		return -ENOMEM;
	if (EVP_Digest(canon, (size_t)k, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		free(canon);
		return -EIO;
	}
	free(canon);
	kid = pt_b64url_encode(md, mdlen);
	if (!kid)
		return -ENOMEM;
	*ret_kid = kid;
	return 0;
}

int pt_jwk_public_json(EVP_PKEY *key, const char *alg, char **ret_json)
{
	uint8_t raw[ED25519_KEY_LEN];
	struct json_object *o = NULL;
	char *x = NULL, *kid = NULL, *text = NULL;
	int r;

	if (!alg_known(alg) || !ret_json)
		return -EINVAL;
	r = raw_public(key, raw);
	if (r < 0)
		return r;
	r = pt_jwk_thumbprint(key, &kid);
	if (r < 0)
		return r;
	x = pt_b64url_encode(raw, sizeof(raw));
	o = json_object_new_object();
	if (!x || !o || !add_str(o, "kty", "OKP") || !add_str(o, "crv", "Ed25519") ||
	    !add_str(o, "x", x) || !add_str(o, "kid", kid) || !add_str(o, "use", "sig") ||
	    !add_str(o, "alg", alg)) {
		r = -ENOMEM;
		goto out;
	}
	text = json_text(o);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	*ret_json = text;
	r = 0;
out:
	json_object_put(o);
	free(x);
	free(kid);
	return r;
}
