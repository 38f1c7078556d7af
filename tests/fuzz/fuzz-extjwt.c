/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the external JWT decoder (tokend/extjwt.c).
 *
 * The input is tried as a presented token (pt_extjwt_split, the front's
 * decoder): a refusal is a known reason and sets nothing else; what it
 * accepts crosses the privsep wire form and comes back byte for byte, and
 * its signing input decodes again (as the key holder decodes it) to the
 * same alg, kid and iss. And as the privsep channel's wire form
 * (pt_extjwt_wire_get, the key holder's decoder): what it takes encodes
 * back to the very bytes it took.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "extjwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WIRE_MAX (1u << 16)

static void as_token(const uint8_t *data, size_t size)
{
	struct pt_extjwt_presented p = { 0 }, q = { 0 };
	struct pt_extjwt_claims c = { 0 };
	enum pt_extjwt_refusal why;
	struct ptbuf *b, *b2;
	struct ptbuf_view v;
	char *tok = malloc(size + 1);
	int r;

	if (!tok)
		return;
	memcpy(tok, data, size);
	tok[size] = '\0';
	r = pt_extjwt_split(tok, &p);
	free(tok);
	if (r == -ENOMEM)
		return;
	if (r < 0) {
		if (p.refused == PT_EXTJWT_OK || p.refused >= PT_EXTJWT_REFUSAL_MAX || p.input ||
		    p.iss)
			abort();
		pt_extjwt_presented_clear(&p);
		return;
	}
	if (pt_extjwt_decode(p.input, p.input_len, "groups", &c, &why) < 0 &&
	    why != PT_EXTJWT_BAD_GROUPS && why != PT_EXTJWT_NO_MEMORY)
		abort();
	if (why == PT_EXTJWT_OK &&
	    (c.alg != p.alg || strcmp(c.iss, p.iss) != 0 || strcmp(c.kid ? c.kid : "", p.kid)))
		abort();
	pt_extjwt_claims_clear(&c);
	b = ptbuf_new(WIRE_MAX);
	b2 = ptbuf_new(WIRE_MAX);
	if (b && b2 && pt_extjwt_wire_put(b, &p) == 0) {
		ptbuf_view_init(&v, ptbuf_ptr(b), ptbuf_len(b));
		if (pt_extjwt_wire_get(&v, &q) == 0) {
			if (v.off != ptbuf_len(b) || pt_extjwt_wire_put(b2, &q) < 0 ||
			    ptbuf_len(b2) != ptbuf_len(b) ||
			    memcmp(ptbuf_ptr(b), ptbuf_ptr(b2), ptbuf_len(b)) != 0)
				abort();
		}
	} else if (b && b2)
		abort(); /* what split accepts, the wire carries */
	pt_extjwt_presented_clear(&q);
	pt_extjwt_presented_clear(&p);
	ptbuf_free(b);
	ptbuf_free(b2);
}

static void as_wire(const uint8_t *data, size_t size)
{
	struct pt_extjwt_presented p = { 0 };
	struct ptbuf_view v;
	struct ptbuf *b = ptbuf_new(WIRE_MAX);

	ptbuf_view_init(&v, data, size);
	if (b && pt_extjwt_wire_get(&v, &p) == 0) {
		if (pt_extjwt_wire_put(b, &p) < 0 || ptbuf_len(b) != v.off ||
		    memcmp(ptbuf_ptr(b), data, v.off) != 0)
			abort();
	}
	pt_extjwt_presented_clear(&p);
	ptbuf_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > PT_EXTJWT_MAX + 16)
		return 0;
	as_token(data, size);
	as_wire(data, size);
	return 0;
}
