/* SPDX-License-Identifier: MIT */
/*
 * Live tokens split as privilege separation splits them (tokend/live.c):
 * pt_live_sign -> pt_live_parse (the front, no key) -> pt_live_check (the
 * key holder, the struct only). A change to any claim in the struct fails
 * the signature; a kid names the key; a retired key is accepted as long as
 * it is published; form errors are refused by the parse with the reasons
 * pt_live_verify gave; a token minted by v0.2's serializer checks.
 */
#include "conf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "jws.h"
#include "keys.h"
#include "live.h"
#include "util.h"

#define NOW 1700000100u
#define AUD "pertok"

/* RFC 8037 appendix A.1 (a published test key, nothing's secret). */
static const uint8_t seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
	0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
	0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};
static const uint8_t seed2[32] = { 2 };

static struct pt_keys *keys_of(const uint8_t s[32])
{
	struct pt_keys *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	k->sign = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, s, 32);
	assert_non_null(k->sign);
	assert_int_equal(pt_jwk_thumbprint(k->sign, &k->kid), 0);
	return k;
}

/* Keys whose current key is seed2's, with old's key retired until until. */
static struct pt_keys *rotated(const struct pt_keys *old, uint64_t until)
{
	struct pt_keys *k = keys_of(seed2);
	uint8_t pub[32];
	size_t n = sizeof(pub);

	k->retired = calloc(1, sizeof(*k->retired));
	assert_non_null(k->retired);
	assert_int_equal(EVP_PKEY_get_raw_public_key(old->sign, pub, &n), 1);
	k->retired[0].pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, n);
	k->retired[0].kid = strdup(old->kid);
	k->retired[0].until = until;
	k->n_retired = 1;
	return k;
}

/* A redemption's claims: every member set. */
static void full_claims(struct pt_live_claims *c)
{
	char *groups[] = { "alice", "wheel" }, *ents[] = { "deploy" };

	memset(c, 0, sizeof(*c));
	assert_int_equal(pt_live_set_str(&c->iss, "pertok:host"), 0);
	assert_int_equal(pt_live_set_str(&c->sub, "alice"), 0);
	assert_int_equal(pt_live_set_str(&c->aud, AUD), 0);
	assert_int_equal(pt_live_new_jti(c), 0);
	c->exp = NOW + 300;
	c->nbf = c->iat = NOW - 10;
	c->uid = 1000;
	c->gid = 100;
	assert_int_equal(pt_live_set_strv(&c->groups, &c->n_groups, groups, 2), 0);
	c->has_entitlements = true;
	assert_int_equal(pt_live_set_strv(&c->entitlements, &c->n_entitlements, ents, 1), 0);
	assert_int_equal(pt_live_set_str(&c->act[0], "atd"), 0);
	assert_int_equal(pt_live_set_str(&c->act[1], "self"), 0);
	c->n_act = 2;
	c->has_ptk = true;
	assert_int_equal(pt_live_set_str(&c->ptk, "pt_0123456789abcdef"), 0);
	c->auth_time = c->iat;
	assert_int_equal(pt_live_set_str(&c->svc, "sshd"), 0);
	assert_int_equal(pt_live_set_str(&c->tty, "pts/0"), 0);
	assert_int_equal(pt_live_set_str(&c->rhost, "host.example"), 0);
}

static char *sign(const struct pt_keys *k, const struct pt_live_claims *c)
{
	char *token = NULL;

	assert_int_equal(pt_live_sign(k, "EdDSA", c, &token), 0);
	return token;
}

static void assert_same_json(const struct pt_live_claims *a, const struct pt_live_claims *b)
{
	char *ja = NULL, *jb = NULL;

	assert_int_equal(pt_live_claims_json(a, false, &ja), 0);
	assert_int_equal(pt_live_claims_json(b, false, &jb), 0);
	assert_string_equal(ja, jb);
	free(ja);
	free(jb);
}

/* ---------------------------------------------------------------- round trip */

static void test_round_trip(void **state)
{
	struct pt_keys *k = keys_of(seed);
	struct pt_live_claims c, v = { 0 };
	struct pt_live_presented p = { 0 };
	enum pt_live_refusal why = PT_LIVE_MALFORMED;
	char *token, *again = NULL;
	const char *vwhy = "unset";

	(void)state;
	full_claims(&c);
	token = sign(k, &c);
	assert_int_equal(pt_live_parse(token, &p), 0);
	assert_int_equal(p.refused, PT_LIVE_OK);
	assert_string_equal(p.alg, "EdDSA");
	assert_string_equal(p.kid, k->kid);
	assert_same_json(&p.claims, &c);
	assert_int_equal(pt_live_check(k, AUD, &p, NOW, &again, &why), 0);
	assert_int_equal(why, PT_LIVE_OK);
	/* the token re-made by the key holder is the one presented */
	assert_string_equal(again, token);
	/* and verify is the two */
	assert_int_equal(pt_live_verify(k, AUD, token, NOW, &v, &vwhy), 0);
	assert_null(vwhy);
	assert_same_json(&v, &c);
	assert_int_equal(v.n_act, 2);
	assert_true(v.has_ptk && v.has_entitlements);
	assert_true(v.auth_time > 0);
	assert_int_equal(v.auth_time, c.auth_time);

	pt_free_secret(again);
	pt_free_secret(token);
	pt_live_presented_clear(&p);
	pt_live_claims_clear(&v);
	pt_live_claims_clear(&c);
	pt_keys_free(k);
}

/* The header the key holder re-makes is pt_jws_sign's (one token, byte for
 * byte: Ed25519 signatures are deterministic), for both alg names, and a
 * login's claims without the optional members round-trip too. */
static void test_same_as_jws_sign(void **state)
{
	static const char *const algs[] = { "EdDSA", "Ed25519" };
	struct pt_keys *k = keys_of(seed);
	struct pt_live_claims c = { 0 };

	(void)state;
	assert_int_equal(pt_live_set_str(&c.sub, "bob"), 0);
	assert_int_equal(pt_live_set_str(&c.aud, AUD), 0);
	c.exp = NOW + 60;
	c.uid = 1001;
	for (size_t i = 0; i < PT_ELEMENTSOF(algs); i++) {
		struct pt_live_presented p = { 0 };
		enum pt_live_refusal why;
		char *mine = NULL, *theirs = NULL, *json = NULL;

		assert_int_equal(pt_live_sign(k, algs[i], &c, &mine), 0);
		assert_int_equal(pt_live_claims_json(&c, false, &json), 0);
		assert_int_equal(pt_jws_sign(k->sign, algs[i], PT_LIVE_TYP, k->kid, json, &theirs),
				 0);
		assert_string_equal(mine, theirs);
		assert_int_equal(pt_live_parse(mine, &p), 0);
		assert_int_equal(p.claims.n_act, 0);
		assert_false(p.claims.has_ptk || p.claims.has_entitlements);
		assert_null(p.claims.svc);
		assert_int_equal(pt_live_check(k, AUD, &p, NOW, NULL, &why), 0);
		pt_live_presented_clear(&p);
		free(json);
		pt_free_secret(mine);
		pt_free_secret(theirs);
	}
	pt_live_claims_clear(&c);
	pt_keys_free(k);
}

/* ------------------------------------------------------------------ tamper */

/* One change to the struct the front hands over. */
typedef void (*tamper_fn)(struct pt_live_presented *p);

static void t_iss(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.iss, "pertok:other"), 0);
}
static void t_sub(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.sub, "root"), 0);
}
static void t_aud(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.aud, "pertok2"), 0);
}
static void t_exp(struct pt_live_presented *p)
{
	p->claims.exp += 86400;
}
static void t_nbf(struct pt_live_presented *p)
{
	p->claims.nbf--;
}
static void t_iat(struct pt_live_presented *p)
{
	p->claims.iat++;
}
static void t_jti(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.jti, "AAAAAAAAAAAAAAAAAAAAAA"), 0);
}
static void t_uid(struct pt_live_presented *p)
{
	p->claims.uid = 0;
}
static void t_gid(struct pt_live_presented *p)
{
	p->claims.gid = 0;
}
static void t_group_changed(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.groups[1], "root"), 0);
}
static void t_group_dropped(struct pt_live_presented *p)
{
	free(p->claims.groups[1]);
	p->claims.groups[1] = NULL;
	p->claims.n_groups = 1;
}
static void t_groups_reordered(struct pt_live_presented *p)
{
	char *g = p->claims.groups[0];

	p->claims.groups[0] = p->claims.groups[1];
	p->claims.groups[1] = g;
}
static void t_ents(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.entitlements[0], "admin"), 0);
}
static void t_no_ents(struct pt_live_presented *p)
{
	p->claims.has_entitlements = false;
}
static void t_act(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.act[0], "cron"), 0);
}
static void t_act_dropped(struct pt_live_presented *p)
{
	p->claims.n_act = 1;
}
static void t_ptk(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.ptk, "pt_other"), 0);
}
static void t_no_ptk(struct pt_live_presented *p)
{
	p->claims.has_ptk = false;
}
static void t_svc(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.svc, "login"), 0);
}
static void t_no_svc(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.svc, NULL), 0);
}
static void t_tty(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.tty, "pts/1"), 0);
}
static void t_rhost(struct pt_live_presented *p)
{
	assert_int_equal(pt_live_set_str(&p->claims.rhost, "evil.example"), 0);
}
static void t_alg(struct pt_live_presented *p)
{
	snprintf(p->alg, sizeof(p->alg), "Ed25519");
}
static void t_sig(struct pt_live_presented *p)
{
	p->sig[17] ^= 0x01;
}

static const struct {
	const char *name;
	tamper_fn fn;
} tampers[] = {
	{ "iss", t_iss },
	{ "sub", t_sub },
	{ "aud", t_aud },
	{ "exp", t_exp },
	{ "nbf", t_nbf },
	{ "iat", t_iat },
	{ "jti", t_jti },
	{ "uid", t_uid },
	{ "gid", t_gid },
	{ "group changed", t_group_changed },
	{ "group dropped", t_group_dropped },
	{ "groups reordered", t_groups_reordered },
	{ "entitlement changed", t_ents },
	{ "entitlements dropped", t_no_ents },
	{ "act changed", t_act },
	{ "inner act dropped", t_act_dropped },
	{ "ptk changed", t_ptk },
	{ "ptk dropped", t_no_ptk },
	{ "svc changed", t_svc },
	{ "svc dropped", t_no_svc },
	{ "tty", t_tty },
	{ "rhost", t_rhost },
	{ "alg name", t_alg },
	{ "signature bit", t_sig },
};

static void test_tampered_struct(void **state)
{
	struct pt_keys *k = keys_of(seed);
	struct pt_live_claims c;
	char *token;

	(void)state;
	full_claims(&c);
	token = sign(k, &c);
	for (size_t i = 0; i < PT_ELEMENTSOF(tampers); i++) {
		struct pt_live_presented p = { 0 };
		enum pt_live_refusal why = PT_LIVE_OK;
		char *again = NULL;

		assert_int_equal(pt_live_parse(token, &p), 0);
		tampers[i].fn(&p);
		if (pt_live_check(k, AUD, &p, NOW, &again, &why) != -EINVAL ||
		    why != PT_LIVE_BAD_SIGNATURE)
			fail_msg("%s changed: %s, not a bad signature", tampers[i].name,
				 pt_live_why(why));
		assert_null(again);
		pt_live_presented_clear(&p);
	}
	pt_free_secret(token);
	pt_live_claims_clear(&c);
	pt_keys_free(k);
}

/* ---------------------------------------------------------------- keys */

static enum pt_live_refusal check_with(const struct pt_keys *k, const struct pt_live_presented *p,
				       uint64_t now)
{
	enum pt_live_refusal why = PT_LIVE_OK;
	int r = pt_live_check(k, AUD, p, now, NULL, &why);

	assert_int_equal(r == 0, why == PT_LIVE_OK);
	return why;
}

static void test_kid(void **state)
{
	struct pt_keys *k = keys_of(seed), *other = keys_of(seed2);
	struct pt_live_claims c;
	struct pt_live_presented p = { 0 };
	char *token;

	(void)state;
	full_claims(&c);
	token = sign(k, &c);
	assert_int_equal(pt_live_parse(token, &p), 0);
	assert_int_equal(check_with(k, &p, NOW), PT_LIVE_OK);
	/* another key, whatever the kid says */
	assert_int_equal(check_with(other, &p, NOW), PT_LIVE_BAD_SIGNATURE);
	/* a kid that names no key, or another key of ours */
	memset(p.kid, 'A', PT_LIVE_KID_LEN);
	assert_int_equal(check_with(k, &p, NOW), PT_LIVE_BAD_SIGNATURE);
	snprintf(p.kid, sizeof(p.kid), "%s", other->kid);
	assert_int_equal(check_with(k, &p, NOW), PT_LIVE_BAD_SIGNATURE);
	/* a kid not of thumbprint form */
	snprintf(p.kid, sizeof(p.kid), "kid");
	assert_int_equal(check_with(k, &p, NOW), PT_LIVE_BAD_SIGNATURE);
	pt_live_presented_clear(&p);
	pt_free_secret(token);
	pt_live_claims_clear(&c);
	pt_keys_free(k);
	pt_keys_free(other);
}

/* After a rotation the old key's tokens check while it is published
 * (until), then no longer; the new key's kid does not verify old tokens. */
static void test_retired_key(void **state)
{
	struct pt_keys *old = keys_of(seed), *k = rotated(old, NOW + 100);
	struct pt_live_claims c, v = { 0 };
	struct pt_live_presented p = { 0 }, q = { 0 };
	const char *why;
	char *token, *fresh;

	(void)state;
	full_claims(&c);
	token = sign(old, &c);
	fresh = sign(k, &c);
	assert_int_equal(pt_live_parse(token, &p), 0);
	assert_int_equal(check_with(k, &p, NOW), PT_LIVE_OK);
	assert_int_equal(check_with(k, &p, NOW + 99), PT_LIVE_OK);
	assert_int_equal(check_with(k, &p, NOW + 100), PT_LIVE_BAD_SIGNATURE);
	/* the old token presented under the new key's kid */
	snprintf(p.kid, sizeof(p.kid), "%s", k->kid);
	assert_int_equal(check_with(k, &p, NOW), PT_LIVE_BAD_SIGNATURE);
	/* the new key's tokens: the current key */
	assert_int_equal(pt_live_parse(fresh, &q), 0);
	assert_int_equal(check_with(k, &q, NOW), PT_LIVE_OK);
	assert_int_equal(pt_live_verify(k, AUD, token, NOW, &v, &why), 0);
	pt_live_claims_clear(&v);
	assert_int_equal(pt_live_verify(k, AUD, token, NOW + 200, &v, &why), -EINVAL);
	assert_string_equal(why, "bad signature");
	pt_live_presented_clear(&p);
	pt_live_presented_clear(&q);
	pt_free_secret(token);
	pt_free_secret(fresh);
	pt_live_claims_clear(&c);
	pt_keys_free(old);
	pt_keys_free(k);
}

/* --------------------------------------------------------- time, audience */

static void test_time_and_audience(void **state)
{
	struct pt_keys *k = keys_of(seed);
	struct pt_live_claims c, v = { 0 };
	const char *why;
	char *token;

	(void)state;
	full_claims(&c);
	token = sign(k, &c);
	assert_int_equal(pt_live_verify(k, AUD, token, c.exp - 1, &v, &why), 0);
	pt_live_claims_clear(&v);
	assert_int_equal(pt_live_verify(k, AUD, token, c.exp, &v, &why), -EINVAL);
	assert_string_equal(why, "expired");
	assert_int_equal(pt_live_verify(k, AUD, token, c.nbf - PT_LIVE_SKEW, &v, &why), 0);
	pt_live_claims_clear(&v);
	assert_int_equal(pt_live_verify(k, AUD, token, c.nbf - PT_LIVE_SKEW - 1, &v, &why),
			 -EINVAL);
	assert_string_equal(why, "not yet valid");
	assert_int_equal(pt_live_verify(k, "other", token, NOW, &v, &why), -EINVAL);
	assert_string_equal(why, "wrong audience");
	assert_null(v.sub); /* untouched on failure */
	pt_free_secret(token);
	pt_live_claims_clear(&c);
	pt_keys_free(k);
}

/* ------------------------------------------------------------------- form */

/* h64 "." p64 "." s64 from raw header and payload texts and signature bytes. */
static char *compose(const char *hdr, const char *payload, size_t sig_len)
{
	uint8_t sig[80] = { 0 };
	char *h64 = pt_b64url_encode(hdr, strlen(hdr));
	char *p64 = pt_b64url_encode(payload, strlen(payload));
	char *s64 = pt_b64url_encode(sig, sig_len), *t = NULL;

	assert_true(h64 && p64 && s64);
	assert_true(asprintf(&t, "%s.%s.%s", h64, p64, s64) > 0);
	free(h64);
	free(p64);
	free(s64);
	return t;
}

#define KID "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
#define HDR "{\"alg\":\"EdDSA\",\"typ\":\"pertok-live+jwt\",\"kid\":\"" KID "\"}"
#define CLAIMS_HEAD                                                                                 \
	"\"iss\":\"i\",\"sub\":\"alice\",\"aud\":\"pertok\",\"exp\":1700000300,\"nbf\":1700000000," \
	"\"iat\":1700000000,\"jti\":\"j\",\"uid\":1000,\"gid\":100,\"groups\":[\"alice\"]"
#define CLAIMS "{" CLAIMS_HEAD "}"

static const struct form_case {
	const char *name;
	const char *header, *payload;
	size_t sig_len;
	const char *why; /* NULL: accepted */
} forms[] = {
	{ "the reference", HDR, CLAIMS, 64, NULL },
	{ "every optional member", HDR,
	  "{" CLAIMS_HEAD ",\"entitlements\":[],\"act\":{\"sub\":\"atd\",\"act\":{\"sub\":\"\"}},"
	  "\"ptk\":\"\",\"auth_time\":1,\"svc\":\"s\",\"tty\":\"t\",\"rhost\":\"r\"}",
	  64, NULL },
	{ "alg Ed25519", "{\"alg\":\"Ed25519\",\"typ\":\"pertok-live+jwt\",\"kid\":\"" KID "\"}",
	  CLAIMS, 64, NULL },
	{ "alg HS256", "{\"alg\":\"HS256\",\"typ\":\"pertok-live+jwt\",\"kid\":\"" KID "\"}",
	  CLAIMS, 64, "unsupported alg" },
	{ "alg none", "{\"alg\":\"none\",\"typ\":\"pertok-live+jwt\",\"kid\":\"" KID "\"}", CLAIMS,
	  64, "unsupported alg" },
	{ "crit", "{\"alg\":\"EdDSA\",\"typ\":\"pertok-live+jwt\",\"kid\":\"" KID "\",\"crit\":[]}",
	  CLAIMS, 64, "unsupported alg" },
	{ "b64",
	  "{\"alg\":\"EdDSA\",\"typ\":\"pertok-live+jwt\",\"kid\":\"" KID "\",\"b64\":false}",
	  CLAIMS, 64, "unsupported alg" },
	{ "no alg", "{\"typ\":\"pertok-live+jwt\",\"kid\":\"" KID "\"}", CLAIMS, 64,
	  "malformed token" },
	{ "another typ", "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"" KID "\"}", CLAIMS, 64,
	  "not a live token" },
	{ "typ a number", "{\"alg\":\"EdDSA\",\"typ\":1,\"kid\":\"" KID "\"}", CLAIMS, 64,
	  "malformed token" },
	{ "no kid", "{\"alg\":\"EdDSA\",\"typ\":\"pertok-live+jwt\"}", CLAIMS, 64,
	  "signed by another key" },
	{ "kid a number", "{\"alg\":\"EdDSA\",\"typ\":\"pertok-live+jwt\",\"kid\":7}", CLAIMS, 64,
	  "malformed token" },
	{ "kid of another form", "{\"alg\":\"EdDSA\",\"typ\":\"pertok-live+jwt\",\"kid\":\"k\"}",
	  CLAIMS, 64, "bad signature" },
	{ "another header member",
	  "{\"alg\":\"EdDSA\",\"typ\":\"pertok-live+jwt\",\"kid\":\"" KID "\",\"x5u\":\"u\"}",
	  CLAIMS, 64, "malformed token" },
	{ "header an array", "[1]", CLAIMS, 64, "malformed token" },
	{ "signature too short", HDR, CLAIMS, 63, "bad signature" },
	{ "signature too long", HDR, CLAIMS, 65, "bad signature" },
	{ "payload an array", HDR, "[" CLAIMS "]", 64, "malformed token" },
	{ "payload not JSON", HDR, "{\"sub\":", 64, "malformed token" },
	{ "no sub", HDR,
	  "{\"iss\":\"i\",\"aud\":\"pertok\",\"exp\":1,\"nbf\":1,\"iat\":1,\"jti\":\"j\","
	  "\"uid\":1,\"gid\":1,\"groups\":[]}",
	  64, "missing sub or uid" },
	{ "uid a string", HDR,
	  "{\"iss\":\"i\",\"sub\":\"a\",\"aud\":\"pertok\",\"exp\":1,\"nbf\":1,\"iat\":1,"
	  "\"jti\":\"j\",\"uid\":\"0\",\"gid\":1,\"groups\":[]}",
	  64, "missing sub or uid" },
	{ "no aud", HDR,
	  "{\"iss\":\"i\",\"sub\":\"a\",\"exp\":1,\"nbf\":1,\"iat\":1,\"jti\":\"j\",\"uid\":1,"
	  "\"gid\":1,\"groups\":[]}",
	  64, "wrong audience" },
	{ "exp a float", HDR,
	  "{\"iss\":\"i\",\"sub\":\"a\",\"aud\":\"pertok\",\"exp\":1.5,\"nbf\":1,\"iat\":1,"
	  "\"jti\":\"j\",\"uid\":1,\"gid\":1,\"groups\":[]}",
	  64, "expired" },
	{ "no nbf", HDR,
	  "{\"iss\":\"i\",\"sub\":\"a\",\"aud\":\"pertok\",\"exp\":1,\"iat\":1,\"jti\":\"j\","
	  "\"uid\":1,\"gid\":1,\"groups\":[]}",
	  64, "not yet valid" },
	{ "no groups", HDR,
	  "{\"iss\":\"i\",\"sub\":\"a\",\"aud\":\"pertok\",\"exp\":1,\"nbf\":1,\"iat\":1,"
	  "\"jti\":\"j\",\"uid\":1,\"gid\":1}",
	  64, "malformed token" },
	{ "a group a number", HDR, "{" CLAIMS_HEAD ",\"entitlements\":[\"a\",2]}", 64,
	  "malformed token" },
	{ "an unknown claim", HDR, "{" CLAIMS_HEAD ",\"admin\":true}", 64, "malformed token" },
	{ "act not an object", HDR, "{" CLAIMS_HEAD ",\"act\":\"atd\"}", 64, "malformed token" },
	{ "act without sub", HDR, "{" CLAIMS_HEAD ",\"act\":{}}", 64, "malformed token" },
	{ "act three deep", HDR,
	  "{" CLAIMS_HEAD
	  ",\"act\":{\"sub\":\"a\",\"act\":{\"sub\":\"b\",\"act\":{\"sub\":\"c\"}}}}",
	  64, "malformed token" },
	{ "act with another member", HDR, "{" CLAIMS_HEAD ",\"act\":{\"sub\":\"a\",\"x\":1}}", 64,
	  "malformed token" },
	{ "svc empty", HDR, "{" CLAIMS_HEAD ",\"svc\":\"\"}", 64, "malformed token" },
	{ "ptk a number", HDR, "{" CLAIMS_HEAD ",\"ptk\":1}", 64, "malformed token" },
	{ "auth_time", HDR, "{" CLAIMS_HEAD ",\"ptk\":\"p\",\"auth_time\":1700000000}", 64, NULL },
	/* pt_live_claims_json leaves 0 out: never a form tokend signs */
	{ "auth_time 0", HDR, "{" CLAIMS_HEAD ",\"auth_time\":0}", 64, "malformed token" },
	{ "auth_time negative", HDR, "{" CLAIMS_HEAD ",\"auth_time\":-5}", 64, "malformed token" },
	{ "auth_time a string", HDR, "{" CLAIMS_HEAD ",\"auth_time\":\"1\"}", 64,
	  "malformed token" },
	/* json-c makes it U+FFFD: parsed, and the check (the bytes re-made) fails */
	{ "a lone surrogate", HDR, "{" CLAIMS_HEAD ",\"tty\":\"\\ud800\"}", 64, NULL },
	{ "non-ASCII", HDR, "{" CLAIMS_HEAD ",\"tty\":\"\\u00e9\xc3\xa9\"}", 64, NULL },
	{ "NUL in a string", HDR, "{" CLAIMS_HEAD ",\"tty\":\"a\\u0000b\"}", 64,
	  "malformed token" },
};

static void test_form(void **state)
{
	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(forms); i++) {
		struct pt_live_presented p = { 0 };
		char *t = compose(forms[i].header, forms[i].payload, forms[i].sig_len);
		int r = pt_live_parse(t, &p);

		if (!forms[i].why) {
			if (r != 0 || p.refused != PT_LIVE_OK)
				fail_msg("%s: refused (%s)", forms[i].name, pt_live_why(p.refused));
		} else if (r != -EINVAL || strcmp(pt_live_why(p.refused), forms[i].why) != 0)
			fail_msg("%s: %d %s, expected %s", forms[i].name, r, pt_live_why(p.refused),
				 forms[i].why);
		pt_live_presented_clear(&p);
		free(t);
	}
}

/* Over-long values, too many groups, and what is not three base64url parts. */
static void test_form_bounds(void **state)
{
	static const char *const raw[] = { "",	   "a.b",  "a.b.c.d", ".b.c",
					   "a..c", "a.b.", "a+b.c.d", "====.abc.def" };
	struct pt_live_presented p = { 0 };
	char *big, *payload, *t;
	size_t n;

	(void)state;
	assert_int_equal(pt_live_parse(NULL, &p), -EINVAL);
	assert_int_equal(p.refused, PT_LIVE_MALFORMED);
	for (size_t i = 0; i < PT_ELEMENTSOF(raw); i++) {
		assert_int_equal(pt_live_parse(raw[i], &p), -EINVAL);
		assert_int_equal(p.refused, PT_LIVE_MALFORMED);
	}
	/* a sub of PT_LIVE_MAX_STR bytes is fine, one more is not */
	for (n = PT_LIVE_MAX_STR; n <= PT_LIVE_MAX_STR + 1; n++) {
		big = malloc(n + 1);
		assert_non_null(big);
		memset(big, 'x', n);
		big[n] = '\0';
		assert_true(asprintf(&payload, "{" CLAIMS_HEAD ",\"svc\":\"%s\"}", big) > 0);
		t = compose(HDR, payload, 64);
		assert_int_equal(pt_live_parse(t, &p), n <= PT_LIVE_MAX_STR ? 0 : -EINVAL);
		pt_live_presented_clear(&p);
		free(t);
		free(payload);
		free(big);
	}
	/* over PT_JWS_MAX */
	big = malloc(PT_JWS_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', PT_JWS_MAX + 1);
	big[PT_JWS_MAX + 1] = '\0';
	big[10] = big[20] = '.';
	assert_int_equal(pt_live_parse(big, &p), -EINVAL);
	assert_int_equal(p.refused, PT_LIVE_MALFORMED);
	free(big);
}

/* The signer refuses what the parser would: out-of-bounds claims and
 * strings json-c writes but strict JSON refuses (invalid UTF-8). */
static void test_sign_refuses(void **state)
{
	struct pt_keys *k = keys_of(seed);
	struct pt_live_claims c;
	char *token = NULL, *big;

	(void)state;
	full_claims(&c);
	assert_int_equal(pt_live_set_str(&c.tty, "\xff\xfe"), 0);
	assert_int_equal(pt_live_sign(k, "EdDSA", &c, &token), -EINVAL);
	big = calloc(1, PT_LIVE_MAX_STR + 2);
	assert_non_null(big);
	memset(big, 'g', PT_LIVE_MAX_STR + 1);
	assert_int_equal(pt_live_set_str(&c.tty, big), 0);
	assert_int_equal(pt_live_sign(k, "EdDSA", &c, &token), -EINVAL);
	assert_int_equal(pt_live_set_str(&c.tty, NULL), 0);
	c.n_act = PT_LIVE_MAX_ACT + 1;
	assert_int_equal(pt_live_sign(k, "EdDSA", &c, &token), -EINVAL);
	c.n_act = PT_LIVE_MAX_ACT;
	c.auth_time = (uint64_t)INT64_MAX + 1; /* negative in JSON: never parsed back */
	assert_int_equal(pt_live_sign(k, "EdDSA", &c, &token), -EINVAL);
	c.auth_time = INT64_MAX;
	assert_int_equal(pt_live_sign(k, "EdDSA", &c, &token), 0);
	pt_free_secret(token);
	token = NULL;
	assert_int_equal(pt_live_sign(k, "HS256", &c, &token), -EINVAL);
	assert_null(token);
	free(big);
	pt_live_claims_clear(&c);
	pt_keys_free(k);
}

/* A refusal from the front is the check's answer, whatever the keys. */
static void test_refusal_travels(void **state)
{
	struct pt_keys *k = keys_of(seed);
	struct pt_live_presented p = { .refused = PT_LIVE_NOT_LIVE };
	enum pt_live_refusal why;

	(void)state;
	assert_int_equal(pt_live_check(k, AUD, &p, NOW, NULL, &why), -EINVAL);
	assert_int_equal(why, PT_LIVE_NOT_LIVE);
	p.refused = 200;
	assert_int_equal(pt_live_check(k, AUD, &p, NOW, NULL, &why), -EINVAL);
	assert_int_equal(why, PT_LIVE_MALFORMED);
	pt_keys_free(k);
}

/* ------------------------------------------------------------------- v0.2 */

/* Minted by v0.2's serializer (ef63a09, tokend/ops.c live_claims +
 * pt_jws_sign over json_object_to_json_string_ext(JSON_C_TO_STRING_PLAIN))
 * with the RFC 8037 key at 1700000000: a login (entitlements, one actor,
 * svc and rhost; the issuer a URL, so "\/" escaping) and a redemption
 * (alg Ed25519; two actors, ptk; a quote, a backslash, "/" and non-ASCII in
 * the issuer and groups). The new serializer makes the same bytes, so such
 * tokens still check after an upgrade. */
static const char *const v02[] = {
	"eyJhbGciOiJFZERTQSIsInR5cCI6InBlcnRvay1saXZlK2p3dCIsImtpZCI6ImtQcktfcW14VldhWVZBOXd3QkY2"
	"SXVvM3ZWeno3VHhIQ1R3WEJ5Z3JTNGsifQ.eyJpc3MiOiJodHRwczpcL1wvaWRwLmV4YW1wbGVcL3BlcnRvayIs"
	"InN1YiI6ImFsaWNlIiwiYXVkIjoicGVydG9rIiwiZXhwIjoxNzAwMDAwMzAwLCJuYmYiOjE3MDAwMDAwMDAsImlh"
	"dCI6MTcwMDAwMDAwMCwianRpIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSIsInVpZCI6MTAwMCwiZ2lkIjoxMDAw"
	"LCJncm91cHMiOlsiYWxpY2UiLCJ3aGVlbCIsImRvY2tlciJdLCJlbnRpdGxlbWVudHMiOlsiZGVwbG95IiwiYmFj"
	"a3VwXC9yZWFkIl0sImFjdCI6eyJzdWIiOiJjcm9uIn0sInN2YyI6ImNyb24iLCJyaG9zdCI6Imhvc3QuZXhhbXBs"
	"ZSJ9.s42-T-M6ZtAuVHrp8pvTfWfAbf0JjUgU8NpRnUwWt7exc3UcE6PNdym36TiJnEeLDMX_zlZcjXSbfiSN5FAj"
	"Aw",
	"eyJhbGciOiJFZDI1NTE5IiwidHlwIjoicGVydG9rLWxpdmUrand0Iiwia2lkIjoia1ByS19xbXhWV2FZVkE5d3dC"
	"RjZJdW8zdlZ6ejdUeEhDVHdYQnlnclM0ayJ9.eyJpc3MiOiJwZXJ0b2s6aFxcXCLDtiIsInN1YiI6ImJvYi54Iiwi"
	"YXVkIjoicGVydG9rIiwiZXhwIjoxNzAwMDAwMzAwLCJuYmYiOjE3MDAwMDAwMDAsImlhdCI6MTcwMDAwMDAwMCwi"
	"anRpIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSIsInVpZCI6MCwiZ2lkIjo0Mjk0OTY3Mjk0LCJncm91cHMiOlsi"
	"ZG9tXFx1c2VycyIsIsOpLWdycCIsImFcL2IiLCJxXCJ0Il0sImVudGl0bGVtZW50cyI6WyJkZXBsb3kiLCJiYWNr"
	"dXBcL3JlYWQiXSwiYWN0Ijp7InN1YiI6ImF0ZCIsImFjdCI6eyJzdWIiOiJzZWxmIn19LCJwdGsiOiJwdF94Iiwi"
	"c3ZjIjoiYXRkIn0.iiSZFou5z0cfZBtE8EcGYwPFRXtfhwgUEmdE3J-HMwGztkRLQ9WuI-_riDhCfEpTlOX-iyzoE"
	"8s3TKjLZmn8DA",
};

static void test_v02_tokens(void **state)
{
	struct pt_keys *k = keys_of(seed);

	(void)state;
	assert_string_equal(k->kid, KID);
	for (size_t i = 0; i < PT_ELEMENTSOF(v02); i++) {
		struct pt_live_presented p = { 0 };
		enum pt_live_refusal why = PT_LIVE_MALFORMED;
		char *again = NULL;

		assert_int_equal(pt_live_parse(v02[i], &p), 0);
		if (pt_live_check(k, AUD, &p, NOW, &again, &why) != 0)
			fail_msg("v0.2 token %zu: %s", i, pt_live_why(why));
		assert_string_equal(again, v02[i]);
		pt_free_secret(again);
		pt_live_presented_clear(&p);
	}
	pt_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_same_as_jws_sign),
		cmocka_unit_test(test_tampered_struct),
		cmocka_unit_test(test_kid),
		cmocka_unit_test(test_retired_key),
		cmocka_unit_test(test_time_and_audience),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_form_bounds),
		cmocka_unit_test(test_sign_refuses),
		cmocka_unit_test(test_refusal_travels),
		cmocka_unit_test(test_v02_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
