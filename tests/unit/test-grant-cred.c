/* SPDX-License-Identifier: MIT */
/*
 * The grant as a credential (tokend/grant-cred.c) in a key holder's state
 * (daemon-state.c: real keys, real sealed grant store) without a daemon:
 * a grant of daemon (origin) to nobody (servicer, /usr/bin/svc) made with
 * pt_grant_create; its credential verifies with an independent JWT library
 * (Debian's PyJWT, with tokend's public key) and carries typ
 * pertok-grant+jwt and the binding; pt_grant_credential_resolve gives the
 * grant back for nobody running /usr/bin/svc and refuses another uid,
 * another executable, a live token presented as a credential, a tampered
 * one, and the credential of a revoked grant although it is still valid.
 */
#include "conf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon-state.h"
#include "grant-cred.h"
#include "grant.h"
#include "keys.h"
#include "live.h"
#include "util.h"

#define NOBODY 65534
#define EXE "/usr/bin/svc"

static struct pt_daemon d;
static uint8_t storekey[PT_STORE_KEYLEN];
static char dir[64];
static char id[PT_ID_LEN];

static int setup(void **state)
{
	struct pt_grant_cmd cmd = { .path = (char *)"/bin/echo" };
	struct pt_grant req = { .servicer = (char *)"nobody",
				.servicer_uid = NOBODY,
				.servicer_exe = (char *)EXE,
				.cmds = &cmd,
				.n_cmds = 1,
				.max_uses = 3 };
	char conf[2048], reason[512] = "";
	uint64_t now = pt_now_s();

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pertok-grant-cred.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(conf, sizeof(conf),
		 "tokend: { state_dir = \"%s\"; socket = \"%s/sock\"; };\n"
		 "seal: { backend = \"software\"; };\n"
		 "grant: { max_per_user = 5; };\n"
		 "grants = ( { name = \"t\"; users = [ \"daemon\" ]; servicers = [ \"nobody\" ];\n"
		 "             commands = [ \"/bin/echo\" ]; max_window = \"30d\"; max_uses = 10; "
		 "} );\n",
		 dir, dir);
	if (ut_daemon_open(&d, conf, dir, storekey) < 0)
		return -1;
	req.not_before = now;
	req.not_after = now + 3600;
	if (pt_grant_create(&d, "daemon", &req, now, id, reason, sizeof(reason)) < 0) {
		fprintf(stderr, "setup: pt_grant_create: %s\n", reason);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	ut_daemon_close(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *credential(void)
{
	struct pt_grant *g = pt_grant_find(&d, id);
	char *jws = NULL, reason[256];

	assert_non_null(g);
	assert_int_equal(pt_grant_credential_make(&d, g, pt_now_s(), &jws, reason, sizeof(reason)),
			 0);
	return jws;
}

static void spit(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* PyJWT verifies it with tokend's public key; typ and claims as documented. */
static void test_independent_verify(void **state)
{
	char *jws = credential(), cmd[1024];

	(void)state;
	if (system("/usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null") != 0) {
		pt_free_secret(jws);
		printf("# skipped: Debian's python3-jwt / python3-cryptography not installed "
		       "(scripts/install-deps.sh)\n");
		skip();
	}
	spit("cred", jws);
	spit("pub.pem", d.keys->pem);
	snprintf(
		cmd, sizeof(cmd),
		"timeout 20 /usr/bin/python3 -c 'import jwt, sys\n"
		"tok = open(\"%s/cred\").read()\n"
		"h = jwt.get_unverified_header(tok)\n"
		"c = jwt.decode(tok, open(\"%s/pub.pem\", \"rb\").read(), algorithms=[\"EdDSA\"])\n"
		"ok = h[\"typ\"] == \"pertok-grant+jwt\" and c[\"grant\"] == \"%s\" and "
		"c[\"sub\"] == \"daemon\" and c[\"uid\"] == %d and c[\"exe\"] == \"%s\" and "
		"c[\"exp\"] > c[\"iat\"]\n"
		"sys.exit(0 if ok else 1)'",
		dir, dir, id, NOBODY, EXE);
	assert_int_equal(system(cmd), 0);
	/* and a signature PyJWT refuses once a byte of the payload changes */
	jws[strlen(jws) / 2] ^= 1;
	spit("cred", jws);
	snprintf(cmd, sizeof(cmd),
		 "timeout 20 /usr/bin/python3 -c 'import jwt\n"
		 "jwt.decode(open(\"%s/cred\").read(), open(\"%s/pub.pem\", \"rb\").read(), "
		 "algorithms=[\"EdDSA\"])' 2>/dev/null",
		 dir, dir);
	assert_int_not_equal(system(cmd), 0);
	pt_free_secret(jws);
}

static void test_resolve_binding(void **state)
{
	char *jws = credential(), got[PT_ID_LEN] = "", reason[300];

	(void)state;
	assert_int_equal(
		pt_grant_credential_resolve(&d, jws, NOBODY, EXE, got, reason, sizeof(reason)), 0);
	assert_string_equal(got, id);
	assert_int_equal(pt_grant_credential_resolve(&d, jws, 1, EXE, got, reason, sizeof(reason)),
			 -EACCES);
	assert_non_null(strstr(reason, "bound to uid 65534 running /usr/bin/svc, not uid 1"));
	assert_int_equal(pt_grant_credential_resolve(&d, jws, NOBODY, "/usr/bin/other", got, reason,
						     sizeof(reason)),
			 -EACCES);
	assert_non_null(strstr(reason, "not uid 65534 running /usr/bin/other"));
	/* tampered */
	jws[strlen(jws) - 3] = jws[strlen(jws) - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(
		pt_grant_credential_resolve(&d, jws, NOBODY, EXE, got, reason, sizeof(reason)),
		-EACCES);
	assert_non_null(strstr(reason, "grant credential rejected"));
	pt_free_secret(jws);
}

/* A live token, signed by the same key, is not a grant credential. */
static void test_live_token_refused(void **state)
{
	struct pt_live_claims lc = { 0 };
	char *token = NULL, got[PT_ID_LEN], reason[300];
	uint64_t now = pt_now_s();

	(void)state;
	lc.iss = d.cfg->issuer;
	lc.sub = (char *)"daemon";
	lc.aud = d.cfg->audience;
	lc.uid = NOBODY;
	lc.iat = lc.nbf = now;
	lc.gid = NOBODY;
	lc.groups = (char *[]){ NULL };
	lc.exp = now + 300;
	lc.jti = (char *)"jti-live-1";
	if (pt_live_sign(d.keys, d.cfg->alg, &lc, &token) < 0)
		fail_msg("cannot sign a live token for the test");
	assert_int_equal(
		pt_grant_credential_resolve(&d, token, NOBODY, EXE, got, reason, sizeof(reason)),
		-EACCES);
	assert_string_equal(reason, "not a grant credential (typ is not pertok-grant+jwt)");
	pt_free_secret(token);
}

/* Revoked: refused although the credential itself is still valid. */
static void test_revoked(void **state)
{
	char *jws = credential(), got[PT_ID_LEN], reason[300];
	struct pt_grant *g = pt_grant_find(&d, id);

	(void)state;
	assert_int_equal(
		pt_grant_credential_resolve(&d, jws, NOBODY, EXE, got, reason, sizeof(reason)), 0);
	g->revoked = true;
	assert_int_equal(
		pt_grant_credential_resolve(&d, jws, NOBODY, EXE, got, reason, sizeof(reason)),
		-EACCES);
	assert_non_null(strstr(reason, "is revoked"));
	g->revoked = false;
	pt_free_secret(jws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_independent_verify),
		cmocka_unit_test(test_resolve_binding),
		cmocka_unit_test(test_live_token_refused),
		cmocka_unit_test(test_revoked),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
