/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the access template parser (tokend/template.c).
 *
 * The input is parsed as a template, without and with a host
 * configuration (its entitlements); what parses must satisfy the schema's
 * bounds, carry the hash of exactly the input, give the same answer with
 * the configuration as the entitlement check says, and parse again to the
 * same template. Every refusal must say why (a non-empty message).
 *
 * The same input is also a template's JWS (pt_template_sig_verify) against
 * an issuer with one Ed25519 key: it never verifies (nobody but the key's
 * holder can sign), and every refusal says why.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "issuers.h"
#include "jwks.h"
#include "config-rpo.h"
#include "rpo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pt_config *cfg;
static struct pt_issuer issuer;

static const char jwks[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"k1\","
			   "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

/* data as a template's JWS, over a fixed template */
static void fuzz_sig(const uint8_t *data, size_t size)
{
	char err[256] = "", *sig;
	int r;

	if (!issuer.jwks) {
		if (pt_jwks_parse(jwks, strlen(jwks), &issuer.jwks, err, sizeof(err)) < 0)
			abort();
		issuer.iss = (char *)"https://idp.example";
		issuer.algs[PT_EXTJWT_EDDSA] = true;
		issuer.algs[PT_EXTJWT_ES256] = true;
	}
	sig = malloc(size + 1);
	if (!sig)
		return;
	memcpy(sig, data, size);
	sig[size] = '\0';
	r = pt_template_sig_verify(&issuer, "{}", 2, sig, err, sizeof(err));
	if (r == 0 || (r != -ENOMEM && !err[0]))
		abort();
	free(sig);
}

static const char conf[] = "entitlements = ( { name = \"db-read\"; groups = [ \"dbread\" ]; },"
			   " { name = \"e\"; groups = [ \"g\" ]; } );\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_template t = { 0 }, u = { 0 };
	char err[256] = "", hash[PT_HASH_LEN];
	bool defined = true;
	int r, r2;

	if (!cfg && pt_config_load_string(conf, "fuzz.conf", &cfg, err, sizeof(err)) < 0)
		abort();
	fuzz_sig(data, size);
	r = pt_template_parse(data, size, &t, err, sizeof(err));
	if (r < 0) {
		if (!err[0] && r != -ENOMEM)
			abort(); /* a refusal names its reason */
		r2 = pt_template_parse_cfg(cfg, data, size, &u, err, sizeof(err));
		if (r2 == 0)
			abort(); /* the configuration only adds a check */
		return 0;
	}
	if (!t.iss || !t.group || t.n_entitlements < 1 || t.n_entitlements > 16 ||
	    t.n_services < 1 || t.n_services > 16 || t.n_nets > 32 || t.n_acr > 16 ||
	    t.n_amr > 16 || t.max_sessions < 1 || t.max_sessions > 1000 || t.max_validity < 60 ||
	    (t.n_nets == 0 && !t.allow_local))
		abort();
	if (pt_template_hash(data, size, hash) < 0 || strcmp(hash, t.hash) != 0 ||
	    !pt_template_hash_valid(t.hash))
		abort();
	for (size_t i = 0; i < t.n_nets; i++)
		if (t.nets[i].prefix > (t.nets[i].family == AF_INET ? 32 : 128))
			abort();
	for (size_t i = 0; i < t.n_entitlements; i++)
		defined = defined && pt_config_find_entitlement(cfg, t.entitlements[i]);
	r2 = pt_template_parse_cfg(cfg, data, size, &u, err, sizeof(err));
	if ((r2 == 0) != defined)
		abort();
	if (r2 == 0 && (strcmp(u.hash, t.hash) != 0 || strcmp(u.iss, t.iss) != 0 ||
			u.n_nets != t.n_nets || u.max_validity != t.max_validity ||
			(u.n_nets && memcmp(u.nets, t.nets, u.n_nets * sizeof(*u.nets)) != 0)))
		abort();
	pt_template_clear(&u);
	pt_template_clear(&t);
	return 0;
}
