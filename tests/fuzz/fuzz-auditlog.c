/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the audit log reader and verifier
 * (common/auditlog.c), as pertokctl audit verify runs it on a file an
 * attacker may have written. Input: an optional line "JWKS <json>" (more
 * trusted keys, as given with --jwks), an optional line "HEAD <json>" (the
 * audit.head content), then the log. Each of the first CHECK_LINES lines
 * that parses must re-serialise to exactly itself (its hash covers its
 * bytes), and the verifier must finish with a bounded, well-formed report.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixed key the corpus' checkpoints are signed with (a test key). */
static const uint8_t fuzz_key[32] = "pertok-fuzz-auditlog-test-key!!";

static EVP_PKEY *pub;

#define CHECK_LINES 4 /* lines given to check_line, from the first */

#ifdef FUZZ_MEMO_VERIFY
/*
 * run-fuzz.sh links this harness with -Wl,--wrap=EVP_DigestVerify: one
 * Ed25519 verification (~85 us) cost more than the rest of an execution,
 * and the fuzzer presents the same few signed checkpoints over and over.
 * So the answer for a (public key, message, signature) is remembered, and
 * only a new triple goes to OpenSSL: the verifier sees exactly the results
 * it would get without the cache. (The replay in make check links the
 * plain call.)
 */
int __real_EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen,
			    const unsigned char *tbs, size_t tbslen);
int __wrap_EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen,
			    const unsigned char *tbs, size_t tbslen);

struct memo {
	bool used;
	int result;
	uint8_t pub[32], sig[64], msg[256];
	size_t siglen, msglen;
};

int __wrap_EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen,
			    const unsigned char *tbs, size_t tbslen)
{
	static struct memo memo[1024];
	EVP_PKEY *pk = EVP_PKEY_CTX_get0_pkey(EVP_MD_CTX_get_pkey_ctx(ctx));
	uint8_t pubraw[32];
	size_t publen = sizeof(pubraw);
	uint64_t h = 14695981039346656037ull;
	struct memo *m;

	if (!pk || !sig || !tbs || siglen > sizeof(m->sig) || tbslen > sizeof(m->msg) ||
	    EVP_PKEY_get_raw_public_key(pk, pubraw, &publen) != 1 || publen != sizeof(pubraw))
		return __real_EVP_DigestVerify(ctx, sig, siglen, tbs, tbslen);
	for (size_t i = 0; i < publen; i++)
		h = (h ^ pubraw[i]) * 1099511628211ull;
	for (size_t i = 0; i < siglen; i++)
		h = (h ^ sig[i]) * 1099511628211ull;
	for (size_t i = 0; i < tbslen; i++)
		h = (h ^ tbs[i]) * 1099511628211ull;
	m = &memo[h % (sizeof(memo) / sizeof(memo[0]))];
	if (m->used && m->siglen == siglen && m->msglen == tbslen &&
	    memcmp(m->pub, pubraw, sizeof(pubraw)) == 0 && memcmp(m->sig, sig, siglen) == 0 &&
	    memcmp(m->msg, tbs, tbslen) == 0)
		return m->result;
	m->result = __real_EVP_DigestVerify(ctx, sig, siglen, tbs, tbslen);
	m->used = true;
	memcpy(m->pub, pubraw, sizeof(pubraw));
	memcpy(m->sig, sig, siglen);
	memcpy(m->msg, tbs, tbslen);
	m->siglen = siglen;
	m->msglen = tbslen;
	return m->result;
}
#endif

static void check_line(const char *line, size_t n)
{
	struct pt_audit_entry e;
	char *again = NULL;
	int r;

	r = pt_audit_parse_line(line, n, &e);
	if (r != 0 && r != -EILSEQ && r != -EBADMSG)
		abort();
	if (r != 0)
		return;
	if (e.seq == 0 || strlen(e.hash) != PT_AUDIT_HASH_HEX ||
	    strlen(e.prev) != PT_AUDIT_HASH_HEX)
		abort();
	/* the body before the hash, finished again, is the same line */
	if (pt_audit_line_finish(line, n - (9 + PT_AUDIT_HASH_HEX + 2), &again, NULL) != 0)
		abort();
	if (strlen(again) != n + 1 || memcmp(again, line, n) != 0)
		abort();
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_audit_verifier *v = NULL;
	struct pt_audit_result res;
	const char *log = (const char *)data, *nl;
	size_t loglen = size, checked = 0;
	FILE *f;

	if (!pub) {
		EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, fuzz_key, 32);
		uint8_t raw[32];
		size_t rawlen = sizeof(raw);
		if (!priv || EVP_PKEY_get_raw_public_key(priv, raw, &rawlen) != 1)
			abort();
		pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rawlen);
		EVP_PKEY_free(priv);
		if (!pub)
			abort();
	}
	if (pt_audit_verifier_new(&v) != 0 || pt_audit_verifier_add_key(v, pub) != 0)
		abort();
	if (loglen > 5 && memcmp(log, "JWKS ", 5) == 0) {
		nl = memchr(log, '\n', loglen);
		size_t jl = nl ? (size_t)(nl - log) - 5 : loglen - 5;
		(void)pt_audit_verifier_add_jwks(v, log + 5, jl); /* may hold no key */
		log = nl ? nl + 1 : log + loglen;
		loglen = size - (size_t)(log - (const char *)data);
	}
	if (loglen > 5 && memcmp(log, "HEAD ", 5) == 0) {
		nl = memchr(log, '\n', loglen);
		size_t hl = nl ? (size_t)(nl - log) - 5 : loglen - 5;
		pt_audit_verifier_set_head(v, log + 5, hl);
		log = nl ? nl + 1 : log + loglen;
		loglen = size - (size_t)(log - (const char *)data);
	}
	/* the first lines on their own (the verifier below parses every line
	 * again: checking them all here doubled the harness' time, and the
	 * fuzzer moves any line to the front) */
	for (const char *p = log, *end = log + loglen; p < end && checked < CHECK_LINES;) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
		if (n <= PT_AUDIT_MAX_LINE)
			check_line(p, n);
		p += n + 1;
		checked++;
	}
	/* and the whole log through the verifier */
	if (loglen > 0) {
		f = fmemopen((void *)log, loglen, "r");
		if (!f)
			abort();
		if (pt_audit_verify_stream(v, f) != 0)
			abort();
		fclose(f);
	}
	pt_audit_verifier_finish(v, &res);
	if (res.n_problems > PT_AUDIT_MAX_PROBLEMS || res.n_problems > res.n_problems_total)
		abort();
	for (size_t i = 0; i < res.n_problems; i++)
		if (!res.problems[i] || strlen(res.problems[i]) > 4096)
			abort();
	if (res.n_checkpoints > res.n_lines || res.n_records > res.n_lines)
		abort();
	pt_audit_result_clear(&res);
	pt_audit_verifier_free(v);
	return 0;
}
