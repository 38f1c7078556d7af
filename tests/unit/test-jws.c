/* SPDX-License-Identifier: MIT */
/* Unit tests for common/jws.c */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "b64.h"
#include "jws.h"
#include "util.h"

#define TYP "pertok-live+jwt"

struct keys {
	EVP_PKEY *key;	 /* signing key */
	EVP_PKEY *other; /* another Ed25519 key */
	EVP_PKEY *ec;	 /* not Ed25519 */
};

static int setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	if (!k)
		return -1;
	k->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	k->other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	k->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!k->key || !k->other || !k->ec)
		return -1;
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	struct keys *k = *state;

	EVP_PKEY_free(k->key);
	EVP_PKEY_free(k->other);
	EVP_PKEY_free(k->ec);
	free(k);
	return 0;
}

/* Builds a compact JWS from raw header and payload texts (any bytes, n given),
 * with a genuine Ed25519 signature, so that only the tested property is wrong. */
static char *make_token_n(EVP_PKEY *key, const char *hdr, size_t hn, const char *payload, size_t pn)
{
	char *h64 = pt_b64url_encode(hdr, hn), *p64 = pt_b64url_encode(payload, pn), *s64, *out;
	uint8_t sig[64];
	size_t siglen = sizeof(sig), n;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_non_null(h64);
	assert_non_null(p64);
	assert_non_null(ctx);
	n = strlen(h64) + 1 + strlen(p64);
	out = malloc(n + 1 + 86 + 1);
	assert_non_null(out);
	snprintf(out, n + 1, "%s.%s", h64, p64);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (uint8_t *)out, n), 1);
	s64 = pt_b64url_encode(sig, siglen);
	assert_non_null(s64);
	strcat(out, ".");
	strcat(out, s64);
	free(s64);
	free(h64);
	free(p64);
	EVP_MD_CTX_free(ctx);
	return out;
}

static char *make_token(EVP_PKEY *key, const char *hdr, const char *payload)
{
	return make_token_n(key, hdr, strlen(hdr), payload, strlen(payload));
}

/* Verify with sentinels in the outputs; checks they are untouched on failure. */
static int verify(EVP_PKEY *key, const char *jws, const char *typ)
{
	void *sentinel = (void *)&sentinel, *claims = sentinel;
	char *kid = (char *)sentinel;
	int r = pt_jws_verify(key, jws, typ, &claims, &kid);

	if (r < 0) {
		assert_ptr_equal(claims, sentinel);
		assert_ptr_equal(kid, sentinel);
		return r;
	}
	assert_ptr_not_equal(claims, sentinel);
	assert_true(json_object_is_type(claims, json_type_object));
	json_object_put(claims);
	if (kid != sentinel)
		free(kid);
	return r;
}

/* ------------------------------------------------------------ sign + verify */

static void test_roundtrip_both_algs(void **state)
{
	struct keys *k = *state;
	static const char *const algs[] = { "EdDSA", "Ed25519" };
	const char *payload = "{\"sub\":\"alice\",\"uid\":1000,\"groups\":[\"a\",\"b\"],"
			      "\"act\":{\"sub\":\"atd\",\"act\":{\"sub\":\"sshd\"}}}";

	for (size_t i = 0; i < PT_ELEMENTSOF(algs); i++) {
		struct json_object *claims = NULL, *v;
		char *jws = NULL, *kid = NULL, *h = NULL, *p = NULL;

		assert_int_equal(pt_jws_sign(k->key, algs[i], TYP, "kid-1", payload, &jws), 0);
		assert_non_null(jws);
		assert_true(strlen(jws) <= PT_JWS_MAX);
		assert_int_equal(pt_jws_verify(k->key, jws, TYP, (void **)&claims, &kid), 0);
		assert_string_equal(kid, "kid-1");
		assert_true(json_object_object_get_ex(claims, "sub", &v));
		assert_string_equal(json_object_get_string(v), "alice");
		assert_true(json_object_object_get_ex(claims, "uid", &v));
		assert_int_equal(json_object_get_int64(v), 1000);
		json_object_put(claims);
		free(kid);

		/* ret_kid may be NULL. */
		claims = NULL;
		assert_int_equal(pt_jws_verify(k->key, jws, TYP, (void **)&claims, NULL), 0);
		json_object_put(claims);

		/* The header says what it should, and the payload is the input text. */
		assert_int_equal(pt_jws_decode_unverified(jws, &h, &p), 0);
		assert_non_null(strstr(h, algs[i]));
		assert_non_null(strstr(h, "\"typ\":\"" TYP "\""));
		assert_string_equal(p, payload);
		free(h);
		free(p);
		free(jws);
	}
}

static void test_sign_without_kid(void **state)
{
	struct keys *k = *state;
	void *claims = NULL;
	char *jws = NULL, *kid = (char *)"x", *h = NULL, *p = NULL;

	assert_int_equal(pt_jws_sign(k->key, "EdDSA", TYP, NULL, "{}", &jws), 0);
	assert_int_equal(pt_jws_verify(k->key, jws, TYP, &claims, &kid), 0);
	assert_null(kid); /* absent: NULL */
	json_object_put(claims);
	assert_int_equal(pt_jws_decode_unverified(jws, &h, &p), 0);
	assert_null(strstr(h, "kid"));
	free(h);
	free(p);
	free(jws);
}

static void test_sign_rejects(void **state)
{
	struct keys *k = *state;
	static const char *const bad_algs[] = { "none",	 "HS256",   "RS256", "ES256", "eddsa",
						"EDDSA", "ed25519", "",	     "EdDSA " };
	static const char *const bad_payloads[] = { "",	   "[]",	 "1",		"\"s\"",
						    "{",   "{\"a\":1,}", "{\"a\":NaN}", "{} x",
						    "null" };
	char *jws = (char *)"untouched", *big;

	for (size_t i = 0; i < PT_ELEMENTSOF(bad_algs); i++)
		if (pt_jws_sign(k->key, bad_algs[i], TYP, NULL, "{}", &jws) != -EINVAL)
			fail_msg("signed with alg \"%s\"", bad_algs[i]);
	assert_int_equal(pt_jws_sign(k->key, NULL, TYP, NULL, "{}", &jws), -EINVAL);
	assert_int_equal(pt_jws_sign(k->key, "EdDSA", NULL, NULL, "{}", &jws), -EINVAL);
	assert_int_equal(pt_jws_sign(k->key, "EdDSA", TYP, NULL, NULL, &jws), -EINVAL);
	assert_int_equal(pt_jws_sign(NULL, "EdDSA", TYP, NULL, "{}", &jws), -EINVAL);
	assert_int_equal(pt_jws_sign(k->ec, "EdDSA", TYP, NULL, "{}", &jws), -EINVAL);
	for (size_t i = 0; i < PT_ELEMENTSOF(bad_payloads); i++)
		if (pt_jws_sign(k->key, "EdDSA", TYP, NULL, bad_payloads[i], &jws) != -EINVAL)
			fail_msg("signed payload '%s'", bad_payloads[i]);

	/* A payload whose token would exceed PT_JWS_MAX. */
	big = malloc(PT_JWS_MAX);
	assert_non_null(big);
	memset(big, ' ', PT_JWS_MAX - 1);
	big[0] = '{';
	big[PT_JWS_MAX / 2] = '}';
	big[PT_JWS_MAX / 2 + 1] = '\0';
	assert_int_equal(pt_jws_sign(k->key, "EdDSA", TYP, NULL, big, &jws), 0);
	free(jws);
	jws = (char *)"untouched";
	big[PT_JWS_MAX / 2 + 1] = ' ';
	big[PT_JWS_MAX - 2] = '}';
	big[PT_JWS_MAX - 1] = '\0';
	assert_int_equal(pt_jws_sign(k->key, "EdDSA", TYP, NULL, big, &jws), -EINVAL);
	assert_string_equal(jws, "untouched");
	free(big);
}

/* ------------------------------------------------------------ headers */

static void test_header_table(void **state)
{
	struct keys *k = *state;
	static const struct {
		const char *hdr;
		int r;
	} cases[] = {
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"}", 0 },
		{ "{\"alg\":\"Ed25519\",\"typ\":\"" TYP "\"}", 0 },
		{ "{\"typ\":\"" TYP "\",\"alg\":\"EdDSA\",\"kid\":\"k\"}", 0 },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\",\"extra\":[1,2]}", 0 },
		/* algorithms that must never be accepted */
		{ "{\"alg\":\"none\",\"typ\":\"" TYP "\"}", -ENOTSUP },
		{ "{\"alg\":\"HS256\",\"typ\":\"" TYP "\"}", -ENOTSUP },
		{ "{\"alg\":\"RS256\",\"typ\":\"" TYP "\"}", -ENOTSUP },
		{ "{\"alg\":\"ES256\",\"typ\":\"" TYP "\"}", -ENOTSUP },
		{ "{\"alg\":\"eddsa\",\"typ\":\"" TYP "\"}", -ENOTSUP },
		{ "{\"alg\":\"\",\"typ\":\"" TYP "\"}", -ENOTSUP },
		/* extensions we do not implement */
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\",\"crit\":[\"exp\"]}", -ENOTSUP },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\",\"b64\":false}", -ENOTSUP },
		/* type confusion */
		{ "{\"alg\":\"EdDSA\",\"typ\":\"pertok-persist+jwt\"}", -EPROTOTYPE },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"PERTOK-LIVE+JWT\"}", -EPROTOTYPE },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"pertok-live\"}", -EPROTOTYPE },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", -EPROTOTYPE },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"\"}", -EPROTOTYPE },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\\u0000x\"}", -EBADMSG },
		/* missing or mistyped members */
		{ "{\"typ\":\"" TYP "\"}", -EBADMSG },
		{ "{\"alg\":\"EdDSA\"}", -EBADMSG },
		{ "{}", -EBADMSG },
		{ "{\"alg\":null,\"typ\":\"" TYP "\"}", -EBADMSG },
		{ "{\"alg\":[\"EdDSA\"],\"typ\":\"" TYP "\"}", -EBADMSG },
		{ "{\"alg\":\"EdDSA\",\"typ\":1}", -EBADMSG },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\",\"kid\":7}", -EBADMSG },
		/* not a JSON object */
		{ "[\"EdDSA\"]", -EBADMSG },
		{ "\"EdDSA\"", -EBADMSG },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"", -EBADMSG },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"}x", -EBADMSG },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"}{}", -EBADMSG },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\",}", -EBADMSG },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\",\"n\":NaN}", -EBADMSG },
		{ "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\",\"x\":\"\xff\"}", -EBADMSG },
		{ "garbage", -EBADMSG },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		char *jws = make_token(k->key, cases[i].hdr, "{\"sub\":\"alice\"}");
		int r = verify(k->key, jws, TYP);

		if (r != cases[i].r)
			fail_msg("header %s: %d, want %d", cases[i].hdr, r, cases[i].r);
		free(jws);
	}
	/* Header with a raw NUL byte. */
	{
		static const char hdr[] = "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"}\0";
		char *jws = make_token_n(k->key, hdr, sizeof(hdr) - 1, "{}", 2);

		assert_int_equal(verify(k->key, jws, TYP), -EBADMSG);
		free(jws);
	}
}

/* A hand-made "alg":"none" token with an empty or absent signature. */
static void test_alg_none_unsigned(void **state)
{
	struct keys *k = *state;
	static const char hdr[] = "{\"alg\":\"none\",\"typ\":\"" TYP "\"}";
	char *h = pt_b64url_encode(hdr, sizeof(hdr) - 1);
	char *p = pt_b64url_encode("{}", 2);
	char buf[256];

	assert_non_null(h);
	assert_non_null(p);
	snprintf(buf, sizeof(buf), "%s.%s.", h, p);
	assert_int_equal(verify(k->key, buf, TYP), -EBADMSG); /* empty signature part */
	snprintf(buf, sizeof(buf), "%s.%s.AAAA", h, p);
	assert_int_equal(verify(k->key, buf, TYP), -ENOTSUP);
	snprintf(buf, sizeof(buf), "%s.%s", h, p);
	assert_int_equal(verify(k->key, buf, TYP), -EBADMSG);
	free(h);
	free(p);
}

/* ------------------------------------------------------------ payloads */

static void test_payload_table(void **state)
{
	struct keys *k = *state;
	static const struct {
		const char *payload;
		int r;
	} cases[] = {
		{ "{}", 0 },
		{ "{\"exp\":1,\"groups\":[],\"act\":{\"sub\":\"atd\"}}", 0 },
		{ "{\"d\":1.5e3,\"b\":true,\"n\":null}", 0 },
		{ "{\"s\":\"caf\xc3\xa9\"}", 0 },
		{ "[]", -EBADMSG },
		{ "[{}]", -EBADMSG },
		{ "1", -EBADMSG },
		{ "\"text\"", -EBADMSG },
		{ "null", -EBADMSG },
		{ "{", -EBADMSG },
		{ "{\"a\":1,}", -EBADMSG },
		{ "{\"a\":01}", -EBADMSG },
		{ "{\"a\":NaN}", -EBADMSG },
		{ "{\"a\":[Infinity]}", -EBADMSG },
		{ "{\"a\":\"x\\u0000y\"}", -EBADMSG },
		{ "{\"a\":{\"b\":[\"\\u0000\"]}}", -EBADMSG },
		{ "{\"a\":\"\xc3\"}", -EBADMSG },
		{ "{} {}", -EBADMSG },
		{ "{}x", -EBADMSG },
		{ "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		  "1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		  -EBADMSG },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		char *jws = make_token(k->key, "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"}",
				       cases[i].payload);
		int r = verify(k->key, jws, TYP);

		if (r != cases[i].r)
			fail_msg("payload %s: %d, want %d", cases[i].payload, r, cases[i].r);
		free(jws);
	}
	/* Raw NUL inside the payload bytes. */
	{
		char *jws =
			make_token_n(k->key, "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"}",
				     strlen("{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"}"), "{}\0", 3);

		assert_int_equal(verify(k->key, jws, TYP), -EBADMSG);
		free(jws);
	}
}

/* ------------------------------------------------------------ tampering */

static void test_tamper_every_char(void **state)
{
	struct keys *k = *state;
	char *jws = NULL;
	size_t n, sigstart;

	assert_int_equal(
		pt_jws_sign(k->key, "EdDSA", TYP, "kid", "{\"sub\":\"alice\",\"exp\":99}", &jws),
		0);
	n = strlen(jws);
	sigstart = (size_t)(strrchr(jws, '.') - jws) + 1;
	for (size_t i = 0; i < n; i++) {
		char saved = jws[i];
		int r;

		if (saved == '.')
			continue;
		/* Another base64url character: the token stays well-formed-looking. */
		jws[i] = saved == 'A' ? 'B' : 'A';
		r = verify(k->key, jws, TYP);
		if (r == 0)
			fail_msg("tampered token accepted (char %zu)", i);
		if (i >= sigstart && r != -EKEYREJECTED && r != -EBADMSG)
			fail_msg("signature char %zu: %d", i, r);
		jws[i] = saved;
	}
	assert_int_equal(verify(k->key, jws, TYP), 0);
	free(jws);
}

static void test_wrong_key_and_splice(void **state)
{
	struct keys *k = *state;
	char *a = NULL, *b = NULL, *spliced;
	const char *pa, *pb;

	assert_int_equal(pt_jws_sign(k->key, "EdDSA", TYP, NULL, "{\"sub\":\"alice\"}", &a), 0);
	assert_int_equal(pt_jws_sign(k->key, "EdDSA", TYP, NULL, "{\"sub\":\"root\"}", &b), 0);
	assert_int_equal(verify(k->other, a, TYP), -EKEYREJECTED);
	assert_int_equal(verify(k->ec, a, TYP), -EINVAL);
	assert_int_equal(verify(NULL, a, TYP), -EINVAL);

	/* b's header and payload with a's signature. */
	pa = strrchr(a, '.');
	pb = strrchr(b, '.');
	spliced = malloc(strlen(b) + strlen(a) + 1);
	assert_non_null(spliced);
	memcpy(spliced, b, (size_t)(pb - b));
	strcpy(spliced + (pb - b), pa);
	assert_int_equal(verify(k->key, spliced, TYP), -EKEYREJECTED);

	/* Signature of the wrong length (63 and 65 bytes). */
	{
		uint8_t sig[65] = { 0 };
		char *s63 = pt_b64url_encode(sig, 63), *s65 = pt_b64url_encode(sig, 65);

		assert_non_null(s63);
		assert_non_null(s65);
		strcpy(spliced + (pb - b) + 1, s63);
		assert_int_equal(verify(k->key, spliced, TYP), -EKEYREJECTED);
		spliced = realloc(spliced, strlen(b) + 100);
		assert_non_null(spliced);
		strcpy(spliced + (pb - b) + 1, s65);
		assert_int_equal(verify(k->key, spliced, TYP), -EKEYREJECTED);
		free(s63);
		free(s65);
	}
	free(spliced);
	free(a);
	free(b);
}

static void test_truncation_every_byte(void **state)
{
	struct keys *k = *state;
	char *jws = NULL, *copy;
	size_t n;

	assert_int_equal(pt_jws_sign(k->key, "Ed25519", TYP, "kid", "{\"sub\":\"alice\"}", &jws),
			 0);
	n = strlen(jws);
	copy = malloc(n + 1);
	assert_non_null(copy);
	for (size_t cut = 0; cut < n; cut++) {
		char *h = (char *)"u", *p = (char *)"u";
		int r;

		memcpy(copy, jws, cut);
		copy[cut] = '\0';
		if (verify(k->key, copy, TYP) == 0)
			fail_msg("truncated token (%zu bytes) verified", cut);
		/* Unverified decoding may accept a shortened signature part but never
		 * a cut header or payload. */
		r = pt_jws_decode_unverified(copy, &h, &p);
		if (r == 0) {
			assert_true(cut > (size_t)(strrchr(jws, '.') - jws) + 1);
			free(h);
			free(p);
		} else {
			assert_int_equal(r, -EBADMSG);
			assert_string_equal(h, "u");
			assert_string_equal(p, "u");
		}
	}
	free(copy);
	free(jws);
}

static void test_structure(void **state)
{
	struct keys *k = *state;
	char *jws = NULL, *buf, *big;
	size_t n;
	static const char *const bad[] = {
		"",
		".",
		"..",
		"...",
		"a",
		"a.b",
		"a..c",
		".b.c",
		"a.b.",
		"a.b.c.d",
		"eyJ9.e30.AAAA=",
		"e30=.e30.AAAA",
		"e30.e30.AA AA",
		"e30.e30.AA+A",
		"e30.e30.A",
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(bad); i++)
		if (verify(k->key, bad[i], TYP) != -EBADMSG)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(verify(k->key, NULL, TYP), -EBADMSG);

	assert_int_equal(pt_jws_sign(k->key, "EdDSA", TYP, NULL, "{}", &jws), 0);
	n = strlen(jws);
	buf = malloc(n + 3);
	assert_non_null(buf);
	/* Leading/trailing whitespace, a fourth part, padding. */
	snprintf(buf, n + 3, " %s", jws);
	assert_int_equal(verify(k->key, buf, TYP), -EBADMSG);
	snprintf(buf, n + 3, "%s\n", jws);
	assert_int_equal(verify(k->key, buf, TYP), -EBADMSG);
	snprintf(buf, n + 3, "%s.", jws);
	assert_int_equal(verify(k->key, buf, TYP), -EBADMSG);
	snprintf(buf, n + 3, "%s==", jws);
	assert_int_equal(verify(k->key, buf, TYP), -EBADMSG);
	free(buf);

	/* Longer than PT_JWS_MAX: rejected before anything is decoded. */
	big = malloc(PT_JWS_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', PT_JWS_MAX + 1);
	big[PT_JWS_MAX + 1] = '\0';
	memcpy(big, jws, n);
	assert_int_equal(verify(k->key, big, TYP), -EBADMSG);
	{
		char *h = NULL, *p = NULL;

		assert_int_equal(pt_jws_decode_unverified(big, &h, &p), -EBADMSG);
		assert_null(h);
	}
	free(big);

	/* Wrong expected typ for a good token; NULL arguments. */
	assert_int_equal(verify(k->key, jws, "pertok-persist+jwt"), -EPROTOTYPE);
	assert_int_equal(pt_jws_verify(k->key, jws, NULL, &(void *){ NULL }, NULL), -EINVAL);
	assert_int_equal(pt_jws_verify(k->key, jws, TYP, NULL, NULL), -EINVAL);
	free(jws);
}

/* A token of exactly PT_JWS_MAX characters is accepted. */
static void test_max_length_token(void **state)
{
	struct keys *k = *state;
	const char *hdr = "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"}";
	size_t h64 = (strlen(hdr) * 4 + 2) / 3, room, pn;
	char *payload, *jws;

	/* Token = h64 + 1 + p64 + 1 + 86; choose the payload so that p64 fills it. */
	room = PT_JWS_MAX - h64 - 2 - 86;
	pn = room / 4 * 3;
	while ((pn * 4 + 2) / 3 < room)
		pn++;
	while ((pn * 4 + 2) / 3 > room)
		pn--;
	payload = malloc(pn + 1);
	assert_non_null(payload);
	memset(payload, ' ', pn);
	payload[0] = '{';
	payload[pn - 1] = '}';
	payload[pn] = '\0';
	jws = make_token(k->key, hdr, payload);
	if (strlen(jws) == PT_JWS_MAX)
		assert_int_equal(verify(k->key, jws, TYP), 0);
	else
		assert_true(strlen(jws) < PT_JWS_MAX && verify(k->key, jws, TYP) == 0);
	free(jws);
	/* One more payload byte pushes it over. */
	payload = realloc(payload, pn + 5);
	assert_non_null(payload);
	memset(payload + pn - 1, ' ', 4);
	payload[pn + 3] = '}';
	payload[pn + 4] = '\0';
	jws = make_token(k->key, hdr, payload);
	assert_true(strlen(jws) > PT_JWS_MAX);
	assert_int_equal(verify(k->key, jws, TYP), -EBADMSG);
	free(jws);
	free(payload);
}

/* ------------------------------------------------------------ unverified */

static void test_decode_unverified(void **state)
{
	struct keys *k = *state;
	char *jws, *h = (char *)"u", *p = (char *)"u";
	static const char *const bad[] = {
		"",
		"a.b",
		"e30.e30",
		"e30..AAAA",
		"e30.e30.A",
		"W10.e30.AAAA", /* [] header */
		"e30.W10.AAAA", /* [] payload */
		"e30.e30.AAAA.AAAA",
		"e30=.e30.AAAA",
	};

	jws = make_token(k->key, "{\"alg\":\"none\",\"typ\":\"x\"}", "{\"sub\":\"bob\"}");
	assert_int_equal(pt_jws_decode_unverified(jws, &h, &p), 0);
	assert_string_equal(h, "{\"alg\":\"none\",\"typ\":\"x\"}");
	assert_string_equal(p, "{\"sub\":\"bob\"}");
	free(h);
	free(p);
	free(jws);

	assert_int_equal(pt_jws_decode_unverified("e30.e30.AAAA", &h, &p), 0);
	assert_string_equal(h, "{}");
	assert_string_equal(p, "{}");
	free(h);
	free(p);

	for (size_t i = 0; i < PT_ELEMENTSOF(bad); i++) {
		h = p = (char *)"u";
		if (pt_jws_decode_unverified(bad[i], &h, &p) != -EBADMSG)
			fail_msg("decoded \"%s\"", bad[i]);
		assert_string_equal(h, "u");
		assert_string_equal(p, "u");
	}
	assert_int_equal(pt_jws_decode_unverified(NULL, &h, &p), -EBADMSG);
}

/* ------------------------------------------------------------ JWK */

/* RFC 8037 appendix A.1 / A.3. */
#define RFC8037_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC8037_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC8037_THUMB "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"

static EVP_PKEY *key_from_b64(const char *b64, int priv)
{
	uint8_t *raw = NULL;
	size_t n = 0;
	EVP_PKEY *key;

	assert_int_equal(pt_b64url_decode(b64, strlen(b64), &raw, &n), 0);
	assert_int_equal(n, 32);
	key = priv ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, n) :
		     EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, n);
	assert_non_null(key);
	free(raw);
	return key;
}

static void test_thumbprint_rfc8037(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *pub = key_from_b64(RFC8037_X, 0), *priv = key_from_b64(RFC8037_D, 1);
	char *kid = NULL, *kid2 = (char *)"u";

	assert_int_equal(pt_jwk_thumbprint(pub, &kid), 0);
	assert_string_equal(kid, RFC8037_THUMB);
	free(kid);
	kid = NULL;
	assert_int_equal(pt_jwk_thumbprint(priv, &kid), 0);
	assert_string_equal(kid, RFC8037_THUMB);
	free(kid);
	assert_int_equal(pt_jwk_thumbprint(k->ec, &kid2), -EINVAL);
	assert_int_equal(pt_jwk_thumbprint(NULL, &kid2), -EINVAL);
	assert_string_equal(kid2, "u");

	/* A token signed with the RFC's private key verifies with its public key only. */
	{
		char *jws = NULL;

		assert_int_equal(pt_jws_sign(priv, "EdDSA", TYP, RFC8037_THUMB, "{}", &jws), 0);
		assert_int_equal(verify(pub, jws, TYP), 0);
		assert_int_equal(verify(k->key, jws, TYP), -EKEYREJECTED);
		free(jws);
	}
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
}

static void test_jwk_public_json(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *priv = key_from_b64(RFC8037_D, 1);
	static const char *const algs[] = { "EdDSA", "Ed25519" };
	char *json = (char *)"u";

	for (size_t i = 0; i < PT_ELEMENTSOF(algs); i++) {
		struct json_object *o, *v;

		assert_int_equal(pt_jwk_public_json(priv, algs[i], &json), 0);
		o = json_tokener_parse(json);
		assert_non_null(o);
#define MEMBER(name, want)                                            \
	do {                                                          \
		assert_true(json_object_object_get_ex(o, name, &v));  \
		assert_string_equal(json_object_get_string(v), want); \
	} while (0)
		MEMBER("kty", "OKP");
		MEMBER("crv", "Ed25519");
		MEMBER("x", RFC8037_X);
		MEMBER("kid", RFC8037_THUMB);
		MEMBER("use", "sig");
		MEMBER("alg", algs[i]);
#undef MEMBER
		/* The private part never appears. */
		assert_false(json_object_object_get_ex(o, "d", NULL));
		assert_null(strstr(json, RFC8037_D));
		json_object_put(o);
		free(json);
	}
	json = (char *)"u";
	assert_int_equal(pt_jwk_public_json(priv, "none", &json), -EINVAL);
	assert_int_equal(pt_jwk_public_json(k->ec, "EdDSA", &json), -EINVAL);
	assert_string_equal(json, "u");
	EVP_PKEY_free(priv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_both_algs),
		cmocka_unit_test(test_sign_without_kid),
		cmocka_unit_test(test_sign_rejects),
		cmocka_unit_test(test_header_table),
		cmocka_unit_test(test_alg_none_unsigned),
		cmocka_unit_test(test_payload_table),
		cmocka_unit_test(test_tamper_every_char),
		cmocka_unit_test(test_wrong_key_and_splice),
		cmocka_unit_test(test_truncation_every_byte),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_max_length_token),
		cmocka_unit_test(test_decode_unverified),
		cmocka_unit_test(test_thumbprint_rfc8037),
		cmocka_unit_test(test_jwk_public_json),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
