/* SPDX-License-Identifier: MIT */
/* Issuer keys from a local JWKS file and the signature check (jwks.h). */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "fileio.h"
#include "jwks.h"
#include "ptjson.h"
#include "util.h"

static int failf(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int failf(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

void pt_jwks_free(struct pt_jwks *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->keys[i].kid);
		EVP_PKEY_free(s->keys[i].pkey);
	}
	free(s->keys);
	free(s);
}

/* A base64url member decoded, of exactly want bytes (0: 1 to max). */
static int b64_member(json_object *k, const char *name, size_t want, size_t max, uint8_t **ret,
		      size_t *ret_len)
{
	json_object *v;
	uint8_t *d = NULL;
	size_t n = 0;
	int r;

	if (!json_object_object_get_ex(k, name, &v) || !json_object_is_type(v, json_type_string))
		return -ENOENT;
	r = pt_b64url_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), &d,
			     &n);
	if (r < 0)
		return r;
	if ((want && n != want) || (!want && (n == 0 || n > max))) {
		free(d);
		return -ERANGE;
	}
	*ret = d;
	*ret_len = n;
	return 0;
}

static const char *str_member(json_object *k, const char *name, bool *ret_bad)
{
	json_object *v;

	if (!json_object_object_get_ex(k, name, &v))
		return NULL;
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
		*ret_bad = true;
		return NULL;
	}
	return json_object_get_string(v);
}

static int from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **ret)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pk = NULL;
	int r = -EINVAL;

	if (params && ctx && EVP_PKEY_fromdata_init(ctx) > 0 &&
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) > 0)
		r = 0;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	if (r == 0)
		*ret = pk;
	return r;
}

static int ec_key(json_object *k, const char *where, EVP_PKEY **ret, char *err, size_t errlen)
{
	uint8_t *x = NULL, *y = NULL, pt[65];
	size_t xn = 0, yn = 0;
	bool bad = false;
	const char *crv = str_member(k, "crv", &bad);
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY_CTX *cc = NULL;
	int r;

	if (!crv || strcmp(crv, "P-256") != 0)
		return failf(err, errlen, -EINVAL, "%s: EC key on curve %s (only P-256)", where,
			     crv ? crv : "(none)");
	if (b64_member(k, "x", 32, 0, &x, &xn) < 0 || b64_member(k, "y", 32, 0, &y, &yn) < 0) {
		r = failf(err, errlen, -EINVAL, "%s: EC x and y must be 32 bytes of base64url",
			  where);
		goto out;
	}
	pt[0] = 0x04;
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	bld = OSSL_PARAM_BLD_new();
	r = -ENOMEM;
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)))
		goto out;
	r = from_params("EC", bld, ret);
	if (r == 0) {
		cc = EVP_PKEY_CTX_new_from_pkey(NULL, *ret, NULL);
		if (!cc || EVP_PKEY_public_check(cc) <= 0) {
			EVP_PKEY_free(*ret);
			*ret = NULL;
			r = -EINVAL;
		}
	}
	if (r < 0)
		r = failf(err, errlen, -EINVAL, "%s: EC point is not on P-256", where);
out:
	EVP_PKEY_CTX_free(cc);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return r;
}

static int rsa_key(json_object *k, const char *where, EVP_PKEY **ret, char *err, size_t errlen)
{
	uint8_t *n = NULL, *e = NULL;
	size_t nn = 0, en = 0;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int r, bits;

	if (b64_member(k, "n", 0, 1024, &n, &nn) < 0 || b64_member(k, "e", 0, 8, &e, &en) < 0) {
		r = failf(err, errlen, -EINVAL, "%s: RSA n and e must be base64url", where);
		goto out;
	}
	r = -ENOMEM;
	if (!(bn = BN_bin2bn(n, (int)nn, NULL)) || !(be = BN_bin2bn(e, (int)en, NULL)))
		goto out;
	bits = BN_num_bits(bn);
	if (bits < 2048 || bits > 8 * PT_EXTJWT_MAX_SIG) {
		r = failf(err, errlen, -EINVAL, "%s: RSA key of %d bits (2048 to %d)", where, bits,
			  8 * PT_EXTJWT_MAX_SIG);
		goto out;
	}
	if (!BN_is_odd(be) || BN_is_one(be)) {
		r = failf(err, errlen, -EINVAL, "%s: RSA exponent is not odd and > 1", where);
		goto out;
	}
	if (!(bld = OSSL_PARAM_BLD_new()) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	r = from_params("RSA", bld, ret);
	if (r < 0)
		r = failf(err, errlen, -EINVAL, "%s: not a valid RSA key", where);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return r;
}

static int okp_key(json_object *k, const char *where, EVP_PKEY **ret, char *err, size_t errlen)
{
	bool bad = false;
	const char *crv = str_member(k, "crv", &bad);
	uint8_t *x = NULL;
	size_t xn = 0;

	if (!crv || strcmp(crv, "Ed25519") != 0)
		return failf(err, errlen, -EINVAL, "%s: OKP key on curve %s (only Ed25519)", where,
			     crv ? crv : "(none)");
	if (b64_member(k, "x", 32, 0, &x, &xn) < 0)
		return failf(err, errlen, -EINVAL, "%s: Ed25519 x must be 32 bytes of base64url",
			     where);
	*ret = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xn);
	free(x);
	return *ret ? 0 : -ENOMEM;
}

static int parse_key(json_object *k, const char *where, struct pt_jwk *ret, char *err,
		     size_t errlen)
{
	static const char *const private[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };
	const char *kty, *alg, *use, *kid;
	json_object *ops;
	bool bad = false, verify = false;
	int r;

	if (!json_object_is_type(k, json_type_object))
		return failf(err, errlen, -EINVAL, "%s: not an object", where);
	for (size_t i = 0; i < PT_ELEMENTSOF(private); i++)
		if (json_object_object_get_ex(k, private[i], NULL))
			return failf(err, errlen, -EINVAL,
				     "%s: has private or symmetric key material (\"%s\")", where,
				     private[i]);
	kty = str_member(k, "kty", &bad);
	alg = str_member(k, "alg", &bad);
	use = str_member(k, "use", &bad);
	kid = str_member(k, "kid", &bad);
	if (bad || !kty)
		return failf(err, errlen, -EINVAL, "%s: kty, alg, use and kid must be strings",
			     where);
	if (use && strcmp(use, "sig") != 0)
		return failf(err, errlen, -EINVAL, "%s: use \"%.32s\" (only \"sig\")", where, use);
	if (json_object_object_get_ex(k, "key_ops", &ops)) {
		if (!json_object_is_type(ops, json_type_array))
			return failf(err, errlen, -EINVAL, "%s: key_ops must be an array", where);
		for (size_t i = 0; i < json_object_array_length(ops); i++) {
			json_object *o = json_object_array_get_idx(ops, i);
			verify = verify || (json_object_is_type(o, json_type_string) &&
					    strcmp(json_object_get_string(o), "verify") == 0);
		}
		if (!verify)
			return failf(err, errlen, -EINVAL, "%s: key_ops lacks \"verify\"", where);
	}
	if (kid && strlen(kid) > PT_EXTJWT_MAX_KID)
		return failf(err, errlen, -EINVAL, "%s: kid longer than %d bytes", where,
			     PT_EXTJWT_MAX_KID);
	if (strcmp(kty, "OKP") == 0) {
		ret->type = EVP_PKEY_ED25519;
		r = okp_key(k, where, &ret->pkey, err, errlen);
	} else if (strcmp(kty, "EC") == 0) {
		ret->type = EVP_PKEY_EC;
		r = ec_key(k, where, &ret->pkey, err, errlen);
	} else if (strcmp(kty, "RSA") == 0) {
		ret->type = EVP_PKEY_RSA;
		r = rsa_key(k, where, &ret->pkey, err, errlen);
	} else
		return failf(err, errlen, -EINVAL, "%s: kty \"%.16s\" (only OKP, EC, RSA)", where,
			     kty);
	if (r < 0)
		return r;
	if (alg) {
		ret->alg = pt_extjwt_alg_of(alg);
		if (ret->alg == PT_EXTJWT_ALG_NONE || !pt_jwk_fits(ret, ret->alg))
			return failf(err, errlen, -EINVAL, "%s: alg \"%.16s\" does not fit kty %s",
				     where, alg, kty);
	}
	ret->kid = strdup(kid ? kid : "");
	return ret->kid ? 0 : -ENOMEM;
}

int pt_jwks_parse(const char *text, size_t len, struct pt_jwks **ret, char *err, size_t errlen)
{
	json_object *o = NULL, *keys;
	struct pt_jwks *s = NULL;
	char where[32];
	size_t n;
	int r;

	r = pt_json_parse_strict(text, len, PT_JWKS_MAX_FILE, 8, &o);
	if (r < 0)
		return r == -ENOMEM ? r : failf(err, errlen, -EINVAL, "not a JSON document");
	r = -EINVAL;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array)) {
		r = failf(err, errlen, -EINVAL, "not a JWKS: {\"keys\": [ ... ]} expected");
		goto out;
	}
	n = json_object_array_length(keys);
	if (n == 0 || n > PT_JWKS_MAX_KEYS) {
		r = failf(err, errlen, -EINVAL, "%zu keys (1 to %d)", n, PT_JWKS_MAX_KEYS);
		goto out;
	}
	r = -ENOMEM;
	if (!(s = calloc(1, sizeof(*s))) || !(s->keys = calloc(n, sizeof(*s->keys))))
		goto out;
	for (size_t i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "keys[%zu]", i);
		s->n++;
		r = parse_key(json_object_array_get_idx(keys, i), where, &s->keys[i], err, errlen);
		if (r < 0)
			goto out;
		for (size_t j = 0; j < i; j++)
			if (*s->keys[i].kid && strcmp(s->keys[i].kid, s->keys[j].kid) == 0) {
				r = failf(err, errlen, -EINVAL, "%s: kid \"%s\" repeats keys[%zu]",
					  where, s->keys[i].kid, j);
				goto out;
			}
	}
	*ret = s;
	s = NULL;
	r = 0;
out:
	pt_jwks_free(s);
	json_object_put(o);
	return r;
}

int pt_jwks_load(const char *path, struct pt_jwks **ret, char *err, size_t errlen)
{
	_cleanup_close_ int fd = -1;
	uint8_t *text = NULL;
	size_t len = 0;
	struct stat st;
	int r;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return failf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return failf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return failf(err, errlen, -EINVAL, "%s: not a regular file", path);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return failf(err, errlen, -EPERM, "%s: owned by uid %u (root expected)", path,
			     (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return failf(err, errlen, -EPERM, "%s: writable by group or others", path);
	r = pt_read_fd(fd, PT_JWKS_MAX_FILE, &text, &len);
	if (r < 0)
		return failf(err, errlen, r, "%s: %s", path,
			     r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
	r = pt_jwks_parse((const char *)text, len, ret, err, errlen);
	if (r < 0 && err && errlen) {
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "%s: %s", path, tmp);
	}
	free(text);
	return r;
}

bool pt_jwk_fits(const struct pt_jwk *k, enum pt_extjwt_alg alg)
{
	bool type_ok;

	switch (alg) {
	case PT_EXTJWT_EDDSA:
		type_ok = k->type == EVP_PKEY_ED25519;
		break;
	case PT_EXTJWT_ES256:
		type_ok = k->type == EVP_PKEY_EC;
		break;
	case PT_EXTJWT_RS256:
	case PT_EXTJWT_PS256:
		type_ok = k->type == EVP_PKEY_RSA;
		break;
	default:
		return false;
	}
	return type_ok && (k->alg == PT_EXTJWT_ALG_NONE || k->alg == alg);
}

const struct pt_jwk *pt_jwks_find(const struct pt_jwks *s, const char *kid, enum pt_extjwt_alg alg)
{
	const struct pt_jwk *found = NULL;

	for (size_t i = 0; s && i < s->n; i++) {
		const struct pt_jwk *k = &s->keys[i];

		if (!pt_jwk_fits(k, alg))
			continue;
		if (*kid) {
			if (strcmp(k->kid, kid) == 0)
				return k;
			continue;
		}
		if (found)
			return NULL; /* ambiguous without a kid */
		found = k;
	}
	return found;
}

/* R || S (32 bytes each) as a DER ECDSA-Sig-Value. */
static int es256_der(const uint8_t *sig, uint8_t **ret, size_t *ret_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	int n;

	if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(s);
		return -ENOMEM;
	}
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return -ENOMEM;
	*ret = der;
	*ret_len = (size_t)n;
	return 0;
}

int pt_jwk_verify(const struct pt_jwk *key, enum pt_extjwt_alg alg, const void *input, size_t n,
		  const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int r;

	if (!key || !pt_jwk_fits(key, alg))
		return -EKEYREJECTED;
	if (alg == PT_EXTJWT_ES256) {
		if (sig_len != 64)
			return -EKEYREJECTED;
		r = es256_der(sig, &der, &der_len);
		if (r < 0)
			return r;
		sig = der;
		sig_len = der_len;
	}
	r = -ENOMEM;
	md = EVP_MD_CTX_new();
	if (!md)
		goto out;
	if (EVP_DigestVerifyInit(md, &pctx, alg == PT_EXTJWT_EDDSA ? NULL : EVP_sha256(), NULL,
				 key->pkey) <= 0) {
		r = -EKEYREJECTED;
		goto out;
	}
	if (alg == PT_EXTJWT_PS256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)) {
		r = -EKEYREJECTED;
		goto out;
	}
	if (alg == PT_EXTJWT_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
		r = -EKEYREJECTED;
		goto out;
	}
	r = EVP_DigestVerify(md, sig, sig_len, input, n) == 1 ? 0 : -EKEYREJECTED;
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return r;
}
