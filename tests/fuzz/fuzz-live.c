/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the live token as privilege separation splits it
 * (tokend/live.c, tokend/live-wire.c).
 *
 * The input is tried as the privsep channel's wire form (pt_live_wire_get,
 * the key holder's decoder): what it takes must encode back to the very
 * bytes it took, and, when the claims can be signed, the token signed from
 * them must parse back to the same claims and check (its signature; time
 * and audience are the claims' own business). And as a client's token
 * (pt_live_parse, the front's parser): a refusal is a known reason; what
 * it accepts must cross the wire form and come back the same.
 */
#include "config.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jws.h"
#include "keys.h"
#include "live.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WIRE_MAX (1u << 20)

/* A constant test key (not a secret of anything): RFC 8037 appendix A.1. */
static const uint8_t seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
	0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
	0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};

static struct pt_keys keys;

static void init_keys(void)
{
	if (keys.sign)
		return;
	keys.sign = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	if (!keys.sign || pt_jwk_thumbprint(keys.sign, &keys.kid) < 0)
		abort();
}

static char *claims_json(const struct pt_live_claims *c)
{
	char *s = NULL;

	if (pt_live_claims_json(c, false, &s) < 0)
		abort();
	return s;
}

/* put(p) must be exactly the n bytes at want. */
static void put_equals(const struct pt_live_presented *p, const uint8_t *want, size_t n)
{
	struct ptbuf *b = ptbuf_new(WIRE_MAX);

	if (!b || pt_live_wire_put(b, p) != 0 || ptbuf_len(b) != n ||
	    memcmp(ptbuf_ptr(b), want, n) != 0)
		abort();
	ptbuf_free(b);
}

/* Claims that decode from the wire and can be signed re-check. */
static void sign_and_check(const struct pt_live_presented *p)
{
	struct pt_live_presented q = { 0 };
	enum pt_live_refusal why;
	char *token = NULL, *a, *b;

	if (pt_live_sign(&keys, p->alg, &p->claims, &token) != 0)
		return;
	if (pt_live_parse(token, &q) != 0 || strcmp(q.kid, keys.kid) != 0 ||
	    strcmp(q.alg, p->alg) != 0)
		abort();
	a = claims_json(&p->claims);
	b = claims_json(&q.claims);
	if (strcmp(a, b) != 0)
		abort();
	free(a);
	free(b);
	pt_live_check(&keys, "pertok", &q, p->claims.iat, NULL, &why);
	if (why == PT_LIVE_BAD_SIGNATURE || why == PT_LIVE_MALFORMED)
		abort();
	pt_live_presented_clear(&q);
	pt_free_secret(token);
}

static void as_wire(const uint8_t *data, size_t size)
{
	struct pt_live_presented p;
	struct ptbuf_view v;
	enum pt_live_refusal why;

	memset(&p, 0xa5, sizeof(p));
	ptbuf_view_init(&v, data, size);
	if (pt_live_wire_get(&v, &p) != 0) {
		if (v.off != 0 || p.refused != 0xa5)
			abort(); /* nothing consumed, output untouched */
		return;
	}
	put_equals(&p, data, v.off);
	/* the key holder on whatever the front may send (a seed may be genuine) */
	if (pt_live_check(&keys, "pertok", &p, p.claims.iat, NULL, &why) < 0 && why == PT_LIVE_OK)
		abort();
	if (p.refused == PT_LIVE_OK)
		sign_and_check(&p);
	pt_live_presented_clear(&p);
}

static void as_token(const uint8_t *data, size_t size)
{
	struct pt_live_presented p = { 0 }, q = { 0 };
	struct ptbuf *b;
	struct ptbuf_view v;
	char *s = malloc(size + 1);
	int r;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	r = pt_live_parse(s, &p);
	if (r == -EINVAL && (p.refused == PT_LIVE_OK || p.refused >= PT_LIVE_REFUSAL_MAX))
		abort();
	if (r == 0 && p.refused != PT_LIVE_OK)
		abort();
	if (r == 0 || r == -EINVAL) {
		b = ptbuf_new(WIRE_MAX);
		if (!b || pt_live_wire_put(b, &p) != 0)
			abort();
		ptbuf_view_init(&v, ptbuf_ptr(b), ptbuf_len(b));
		if (pt_live_wire_get(&v, &q) != 0 || ptbuf_view_end(&v) != 0)
			abort();
		put_equals(&q, ptbuf_ptr(b), ptbuf_len(b));
		pt_live_presented_clear(&q);
		ptbuf_free(b);
	}
	pt_live_presented_clear(&p);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_keys();
	as_wire(data, size);
	as_token(data, size);
	return 0;
}
