/* SPDX-License-Identifier: MIT */
/* Unit tests for the external JWT verifier: tokend/extjwt.c (the front's
 * decoder and the wire form), tokend/jwks.c (issuer keys, signatures) and
 * tokend/issuers.c (the key holder's check). Tokens are signed here with
 * OpenSSL directly, keys made fresh for each run. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "b64.h"
#include "extjwt.h"
#include "issuers.h"
#include "jwks.h"
#include "util.h"

#define NOW 1800000000ull /* unsigned long long, as %llu wants */
#define ISS "https://idp.example"
#define AUD "pertok-host"

static EVP_PKEY *ed, *ed2, *ec, *rsa;
static struct pt_issuer iss[2];

static char *b64(const void *p, size_t n)
{
	char *s = pt_b64url_encode(p, n);
	assert_non_null(s);
	return s;
}

static char *bn_b64(EVP_PKEY *k, const char *name, size_t pad)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int n;

	assert_true(EVP_PKEY_get_bn_param(k, name, &bn) == 1);
	n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
	BN_free(bn);
	return b64(buf, (size_t)n);
}

/* A JWK (public) of k, with kid and extra members ("" for none). */
static char *jwk(EVP_PKEY *k, const char *kid, const char *extra)
{
	char *out = NULL, *a, *b = NULL;

	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		uint8_t raw[32];
		size_t n = sizeof(raw);
		assert_true(EVP_PKEY_get_raw_public_key(k, raw, &n) == 1);
		a = b64(raw, n);
		assert_true(asprintf(&out,
				     "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\","
				     "\"kid\":\"%s\"%s}",
				     a, kid, extra) > 0);
	} else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
		a = bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		b = bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		assert_true(asprintf(&out,
				     "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
				     "\"y\":\"%s\",\"kid\":\"%s\"%s}",
				     a, b, kid, extra) > 0);
	} else {
		a = bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0);
		assert_true(asprintf(&out,
				     "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\","
				     "\"kid\":\"%s\"%s}",
				     a, b, kid, extra) > 0);
	}
	free(a);
	free(b);
	return out;
}

static struct pt_jwks *jwks_of(const char *json)
{
	struct pt_jwks *s = NULL;
	char err[256] = "";

	assert_int_equal(pt_jwks_parse(json, strlen(json), &s, err, sizeof(err)), 0);
	return s;
}

/* Signs header.payload (JSON texts) with k for alg; NULL k: HS256 keyed by
 * hkey (the alg-confusion attack). */
static char *sign(EVP_PKEY *k, const char *alg, const char *header, const char *payload,
		  const void *hkey, size_t hkey_len)
{
	char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload)), *in, *s, *tok;
	uint8_t sig[1024];
	size_t sn = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;

	assert_true(asprintf(&in, "%s.%s", h, p) > 0);
	if (!k) {
		unsigned int hn = 0;
		HMAC(EVP_sha256(), hkey, (int)hkey_len, (const uint8_t *)in, strlen(in), sig, &hn);
		sn = hn;
	} else {
		bool ed25519 = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519;
		assert_true(EVP_DigestSignInit(md, &pctx, ed25519 ? NULL : EVP_sha256(), NULL, k) ==
			    1);
		if (strcmp(alg, "PS256") == 0) {
			EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
			EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
		}
		assert_true(EVP_DigestSign(md, sig, &sn, (const uint8_t *)in, strlen(in)) == 1);
		if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) { /* DER -> R || S */
			const uint8_t *q = sig;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sn);
			assert_non_null(es);
			BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
			BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
			ECDSA_SIG_free(es);
			sn = 64;
		}
	}
	EVP_MD_CTX_free(md);
	s = b64(sig, sn);
	assert_true(asprintf(&tok, "%s.%s", in, s) > 0);
	free(h);
	free(p);
	free(in);
	free(s);
	return tok;
}

static char *payload(const char *extra)
{
	char *p;
	assert_true(asprintf(&p,
			     "{\"iss\":\"" ISS "\",\"sub\":\"alice@idp.example\",\"aud\":\"" AUD
			     "\",\"exp\":%llu,\"iat\":%llu,\"jti\":\"j1\",\"groups\":[\"ops\"]%s}",
			     NOW + 300, NOW - 10, extra) > 0);
	return p;
}

static char *header(const char *alg, const char *kid, const char *extra)
{
	char *h;
	assert_true(asprintf(&h, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"%s}", alg, kid,
			     extra) > 0);
	return h;
}

/* Front then key holder, as tokend runs them; the refusal or OK. */
static enum pt_extjwt_refusal run(const char *tok, struct pt_extjwt_claims *ret)
{
	struct pt_extjwt_presented p = { 0 };
	struct pt_extjwt_claims c = { 0 };
	const struct pt_issuer *is = NULL;
	enum pt_extjwt_refusal why = PT_EXTJWT_OK;
	int r;

	r = pt_extjwt_split(tok, &p);
	assert_true(r == 0 || r == -EINVAL);
	r = pt_issuer_check(iss, 2, &p, NOW, &is, &c, &why);
	pt_extjwt_presented_clear(&p);
	if (r == 0) {
		assert_ptr_equal(is, &iss[0]);
		if (ret)
			*ret = c;
		else
			pt_extjwt_claims_clear(&c);
		return PT_EXTJWT_OK;
	}
	assert_int_equal(r, -EINVAL);
	return why;
}

/* Signs header(alg, kid, hx).payload(px) with k and runs it. */
static enum pt_extjwt_refusal try(EVP_PKEY *k, const char *alg, const char *kid, const char *hx,
				  const char *px)
{
	char *h = header(alg, kid, hx), *p = payload(px), *t = sign(k, alg, h, p, NULL, 0);
	enum pt_extjwt_refusal why = run(t, NULL);
	free(h);
	free(p);
	free(t);
	return why;
}

static int setup(void **state)
{
	char *k1, *k2, *k3, *k4, *set;

	(void)state;
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ed2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!ed || !ed2 || !ec || !rsa)
		return -1;
	k1 = jwk(ed, "ed1", ",\"use\":\"sig\",\"alg\":\"EdDSA\"");
	k2 = jwk(ec, "ec1", "");
	k3 = jwk(rsa, "rsa1", "");
	k4 = jwk(ed2, "other", "");
	if (asprintf(&set, "{\"keys\":[%s,%s,%s]}", k1, k2, k3) < 0)
		return -1;
	iss[0].iss = strdup(ISS);
	iss[0].jwks = jwks_of(set);
	iss[0].audience = strdup(AUD);
	iss[0].group_claim = strdup("groups");
	iss[0].max_age = 3600;
	iss[0].leeway = 60;
	for (int a = 1; a < PT_EXTJWT_ALG_MAX; a++)
		iss[0].algs[a] = true;
	free(set);
	/* another issuer, whose key is ed2 */
	if (asprintf(&set, "{\"keys\":[%s]}", k4) < 0)
		return -1;
	iss[1].iss = strdup("https://other.example");
	iss[1].jwks = jwks_of(set);
	iss[1].audience = strdup(AUD);
	iss[1].group_claim = strdup("groups");
	iss[1].max_age = 3600;
	iss[1].algs[PT_EXTJWT_EDDSA] = true;
	free(set);
	free(k1);
	free(k2);
	free(k3);
	free(k4);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		free(iss[i].iss);
		free(iss[i].audience);
		free(iss[i].group_claim);
		pt_jwks_free(iss[i].jwks);
	}
	EVP_PKEY_free(ed);
	EVP_PKEY_free(ed2);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	return 0;
}

static void test_good_each_alg(void **state)
{
	struct pt_extjwt_claims c = { 0 };
	char *h = header("EdDSA", "ed1", ""), *p = payload(",\"acr\":\"mfa\",\"amr\":[\"pwd\"]");
	char *t = sign(ed, "EdDSA", h, p, NULL, 0);

	(void)state;
	assert_int_equal(run(t, &c), PT_EXTJWT_OK);
	assert_string_equal(c.sub, "alice@idp.example");
	assert_int_equal(c.n_groups, 1);
	assert_string_equal(c.groups[0], "ops");
	assert_string_equal(c.acr, "mfa");
	assert_int_equal(c.n_amr, 1);
	pt_extjwt_claims_clear(&c);
	free(h);
	free(p);
	free(t);
	assert_int_equal(try(ec, "ES256", "ec1", "", ""), PT_EXTJWT_OK);
	assert_int_equal(try(rsa, "RS256", "rsa1", "", ""), PT_EXTJWT_OK);
	assert_int_equal(try(rsa, "PS256", "rsa1", "", ""), PT_EXTJWT_OK);
}

static void test_alg_refusals(void **state)
{
	uint8_t der[2048], *q = der;
	char *h, *p, *t;
	int n;

	(void)state;
	/* alg confusion: HS256 keyed with the RSA public key's bytes */
	n = i2d_PUBKEY(rsa, &q);
	assert_true(n > 0);
	h = header("HS256", "rsa1", "");
	p = payload("");
	t = sign(NULL, "HS256", h, p, der, (size_t)n);
	assert_int_equal(run(t, NULL), PT_EXTJWT_ALG_REFUSED);
	free(h);
	free(t);
	/* alg none, with a signature and with an empty one */
	h = header("none", "ed1", "");
	t = sign(NULL, "none", h, p, "k", 1);
	assert_int_equal(run(t, NULL), PT_EXTJWT_ALG_REFUSED);
	*(strrchr(t, '.') + 1) = '\0';
	assert_int_equal(run(t, NULL), PT_EXTJWT_ALG_REFUSED);
	free(h);
	free(t);
	free(p);
	/* EdDSA and its RFC 9864 name are one algorithm */
	assert_int_equal(try(ed, "Ed25519", "ed1", "", ""), PT_EXTJWT_OK);
	/* an RSA key for ES256: no EC key named rsa1 */
	assert_int_equal(try(ec, "ES256", "rsa1", "", ""), PT_EXTJWT_UNKNOWN_KID);
	/* the other issuer allows only EdDSA */
	iss[0].algs[PT_EXTJWT_RS256] = false;
	assert_int_equal(try(rsa, "RS256", "rsa1", "", ""), PT_EXTJWT_ALG_NOT_ALLOWED);
	iss[0].algs[PT_EXTJWT_RS256] = true;
}

static void test_header_rules(void **state)
{
	(void)state;
	assert_int_equal(try(ed, "EdDSA", "ed1", ",\"crit\":[\"exp\"]", ""), PT_EXTJWT_CRIT);
	assert_int_equal(try(ed, "EdDSA", "ed1", ",\"b64\":false", ""), PT_EXTJWT_CRIT);
	/* jku / x5u / jwk pointing elsewhere: ignored, the local key decides */
	assert_int_equal(try(ed, "EdDSA", "ed1",
			     ",\"jku\":\"https://evil.example/jwks\",\"x5u\":\"https://e/\","
			     "\"jwk\":{\"kty\":\"OKP\"}",
			     ""),
			 PT_EXTJWT_OK);
	assert_int_equal(try(ed2, "EdDSA", "ed1", ",\"jku\":\"https://evil.example/jwks\"", ""),
			 PT_EXTJWT_BAD_SIGNATURE);
	assert_int_equal(try(ed, "EdDSA", "nosuchkid", "", ""), PT_EXTJWT_UNKNOWN_KID);
}

/* A token of ISS for AUD, signed by ed1, with these claims (fmt: the
 * members after iss, sub and aud, with exp and iat as %llu). */
static enum pt_extjwt_refusal claims_case(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static enum pt_extjwt_refusal claims_case(const char *fmt, ...)
{
	char *h = header("EdDSA", "ed1", ""), *rest, *p, *t;
	enum pt_extjwt_refusal why;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&rest, fmt, ap) > 0);
	va_end(ap);
	assert_true(asprintf(&p, "{\"iss\":\"" ISS "\",\"sub\":\"a\",%s}", rest) > 0);
	t = sign(ed, "EdDSA", h, p, NULL, 0);
	why = run(t, NULL);
	free(h);
	free(rest);
	free(p);
	free(t);
	return why;
}

#define STD "\"aud\":\"" AUD "\",\"exp\":%llu,\"iat\":%llu,\"jti\":\"j\""

static void test_claim_rules(void **state)
{
	(void)state;
	/* another issuer's key, naming our issuer */
	assert_int_equal(try(ed2, "EdDSA", "ed1", "", ""), PT_EXTJWT_BAD_SIGNATURE);
	assert_int_equal(claims_case(STD, NOW + 10ull, NOW), PT_EXTJWT_OK);
	/* wrong audience (an array) */
	assert_int_equal(claims_case("\"aud\":[\"x\",\"y\"],\"exp\":%llu,\"iat\":%llu,"
				     "\"jti\":\"j\"",
				     NOW + 10ull, NOW),
			 PT_EXTJWT_WRONG_AUD);
	/* expired beyond the leeway, nbf in the future, iat too old, iat in the future */
	assert_int_equal(claims_case(STD, NOW - 61, NOW - 100), PT_EXTJWT_EXPIRED);
	assert_int_equal(claims_case(STD, NOW - 59, NOW - 100), PT_EXTJWT_OK);
	assert_int_equal(try(ed, "EdDSA", "ed1", "", ",\"nbf\":1800000100"),
			 PT_EXTJWT_NOT_YET_VALID);
	assert_int_equal(claims_case(STD, NOW + 100, NOW - 3600 - 61), PT_EXTJWT_TOO_OLD);
	assert_int_equal(claims_case(STD, NOW + 1000, NOW + 61), PT_EXTJWT_FUTURE_IAT);
	/* missing jti, exp as a string */
	assert_int_equal(
		claims_case("\"aud\":\"" AUD "\",\"exp\":%llu,\"iat\":%llu", NOW + 10ull, NOW),
		PT_EXTJWT_NO_JTI);
	assert_int_equal(claims_case("\"aud\":\"" AUD "\",\"exp\":\"%llu\",\"iat\":%llu,"
				     "\"jti\":\"j\"",
				     NOW + 10ull, NOW),
			 PT_EXTJWT_NO_EXP);
}

static void test_tampered_and_malformed(void **state)
{
	char *h = header("EdDSA", "ed1", ""), *p = payload(""),
	     *t = sign(ed, "EdDSA", h, p, NULL, 0);
	char *p2 = payload(",\"groups\":[\"admins\"]"), *pb = b64(p2, strlen(p2)), *t2, *big;
	char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');

	(void)state;
	/* the payload swapped under the same signature */
	assert_true(asprintf(&t2, "%.*s.%s%s", (int)(d1 - t), t, pb, d2) > 0);
	assert_int_equal(run(t2, NULL), PT_EXTJWT_BAD_SIGNATURE);
	free(t2);
	/* oversized */
	big = malloc(PT_EXTJWT_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', PT_EXTJWT_MAX + 1);
	big[10] = '.';
	big[20] = '.';
	big[PT_EXTJWT_MAX + 1] = '\0';
	assert_int_equal(run(big, NULL), PT_EXTJWT_TOO_LONG);
	free(big);
	assert_int_equal(run("a.b", NULL), PT_EXTJWT_MALFORMED);
	assert_int_equal(run("e30.e30.AAAA", NULL), PT_EXTJWT_BAD_HEADER);
	assert_int_equal(run("", NULL), PT_EXTJWT_MALFORMED);
	assert_int_equal(run("abc", NULL), PT_EXTJWT_MALFORMED);
	/* a signature of the wrong length */
	assert_true(asprintf(&t2, "%.*s.AAAA", (int)(d2 - t), t) > 0);
	assert_int_equal(run(t2, NULL), PT_EXTJWT_BAD_SIG_FORM);
	free(t2);
	free(h);
	free(p);
	free(p2);
	free(pb);
	free(t);
}

/* The key holder decides on what it decoded itself: a front that names
 * another issuer than the signed payload (one whose key is the same) is
 * caught by the comparison after the signature. */
static void test_front_lies(void **state)
{
	struct pt_extjwt_presented p = { 0 };
	struct pt_extjwt_claims c = { 0 };
	const struct pt_issuer *is = NULL;
	enum pt_extjwt_refusal why;
	struct pt_issuer two[2] = { iss[0], iss[0] };
	char *h = header("EdDSA", "ed1", ""), *pl = payload(""),
	     *t = sign(ed, "EdDSA", h, pl, NULL, 0);

	(void)state;
	two[1].iss = (char *)"https://twin.example";
	assert_int_equal(pt_extjwt_split(t, &p), 0);
	free(p.iss);
	p.iss = strdup("https://twin.example");
	assert_int_equal(pt_issuer_check(two, 2, &p, NOW, &is, &c, &why), -EINVAL);
	assert_int_equal(why, PT_EXTJWT_MISMATCH);
	pt_extjwt_presented_clear(&p);
	free(h);
	free(pl);
	free(t);
}

static void test_wire_roundtrip(void **state)
{
	struct pt_extjwt_presented p = { 0 }, q = { 0 };
	struct ptbuf *b = ptbuf_new(65536), *b2 = ptbuf_new(65536);
	struct ptbuf_view v;
	char *h = header("ES256", "ec1", ""), *pl = payload(""),
	     *t = sign(ec, "ES256", h, pl, NULL, 0);

	(void)state;
	assert_int_equal(pt_extjwt_split(t, &p), 0);
	assert_int_equal(pt_extjwt_wire_put(b, &p), 0);
	ptbuf_view_init(&v, ptbuf_ptr(b), ptbuf_len(b));
	assert_int_equal(pt_extjwt_wire_get(&v, &q), 0);
	assert_int_equal(v.off, ptbuf_len(b));
	assert_int_equal(pt_extjwt_wire_put(b2, &q), 0);
	assert_int_equal(ptbuf_len(b), ptbuf_len(b2));
	assert_memory_equal(ptbuf_ptr(b), ptbuf_ptr(b2), ptbuf_len(b));
	/* a signature length that alg does not have is refused on get */
	ptbuf_view_init(&v, ptbuf_ptr(b), ptbuf_len(b) - 1);
	assert_int_equal(pt_extjwt_wire_get(&v, &q), -EBADMSG);
	pt_extjwt_presented_clear(&p);
	pt_extjwt_presented_clear(&q);
	ptbuf_free(b);
	ptbuf_free(b2);
	free(h);
	free(pl);
	free(t);
}

static void test_jwks_rules(void **state)
{
	static const char *const bad[] = {
		"{\"keys\":[]}",
		"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}",
		"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}]}",
		"[1]",
	};
	struct pt_jwks *s = NULL;
	char err[256], *k, *set;
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);

	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(bad); i++)
		assert_int_equal(pt_jwks_parse(bad[i], strlen(bad[i]), &s, err, sizeof(err)),
				 -EINVAL);
	struct {
		EVP_PKEY *key;
		const char *extra;
		const char *msg;
	} cases[] = {
		{ small, "", "1024 bits" },
		{ ed, ",\"d\":\"AAAA\"", "private" },
		{ ed, ",\"use\":\"enc\"", "use" },
		{ ec, ",\"alg\":\"EdDSA\"", "does not fit" },
		{ rsa, ",\"alg\":\"HS256\"", "does not fit" },
		{ ed, ",\"key_ops\":[\"sign\"]", "verify" },
	};
	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		k = jwk(cases[i].key, "k", cases[i].extra);
		assert_true(asprintf(&set, "{\"keys\":[%s]}", k) > 0);
		err[0] = '\0';
		assert_int_equal(pt_jwks_parse(set, strlen(set), &s, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, cases[i].msg));
		free(k);
		free(set);
	}
	/* kids are unique */
	k = jwk(ed, "same", "");
	assert_true(asprintf(&set, "{\"keys\":[%s,%s]}", k, k) > 0);
	assert_int_equal(pt_jwks_parse(set, strlen(set), &s, err, sizeof(err)), -EINVAL);
	free(k);
	free(set);
	EVP_PKEY_free(small);
}

/* The JWKS file: a regular file (no symlink) that only root may write. */
static void test_jwks_file(void **state)
{
	char dir[] = "/tmp/test-jwks.XXXXXX", path[64], link[64], err[512];
	struct pt_jwks *s = NULL;
	char *k = jwk(ed, "k", ""), *set = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k.jwks", dir);
	snprintf(link, sizeof(link), "%s/l.jwks", dir);
	assert_true(asprintf(&set, "{\"keys\":[%s]}", k) > 0);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(set, f);
	fclose(f);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(pt_jwks_load(path, &s, err, sizeof(err)), 0);
	pt_jwks_free(s);
	s = NULL;
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(pt_jwks_load(path, &s, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "writable by group or others"));
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(pt_jwks_load(path, &s, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(symlink(path, link), 0);
	assert_true(pt_jwks_load(link, &s, err, sizeof(err)) < 0);
	unlink(link);
	unlink(path);
	rmdir(dir);
	free(k);
	free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_each_alg),
		cmocka_unit_test(test_alg_refusals),
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_claim_rules),
		cmocka_unit_test(test_tampered_and_malformed),
		cmocka_unit_test(test_front_lies),
		cmocka_unit_test(test_wire_roundtrip),
		cmocka_unit_test(test_jwks_rules),
		cmocka_unit_test(test_jwks_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
