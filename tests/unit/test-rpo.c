/* SPDX-License-Identifier: MIT */
/* The RPO set (tokend/rpo.c) without a daemon: template import and the
 * hash check on load, approval's validity cap, uid allocation (probing
 * collisions, stored and never recomputed, tombstones never reused), and
 * the state across a restart. Root: approval makes a home and gives it to
 * the RPO's uid (skipped otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../tokend/conf.h"
#include "b64.h"
#include "ops.h"
#include "rpo-internal.h"
#include "rpo.h"

#define T1                                                                      \
	"{\"version\":1,\"iss\":\"https://idp.example\",\"group\":\"support\"," \
	"\"entitlements\":[\"db-read\"],\"policy\":{\"max_validity\":86400,"    \
	"\"services\":[\"sshd\"],\"networks\":[\"local\"],\"max_sessions\":1}}"

struct fix {
	char dir[64];
	struct pt_daemon d;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char conf[2048], err[512] = "";

	if (!f || !mkdtemp(strcpy(f->dir, "/tmp/pt-rpo.XXXXXX")))
		return -1;
	snprintf(conf, sizeof(conf),
		 "tokend = { state_dir = \"%s\"; nss_cache = \"\"; };\n"
		 "entitlements = ( { name = \"db-read\"; groups = [ \"dbread\" ]; } );\n"
		 "rpo = { home_base = \"%s\"; uid_min = 3000000; uid_max = 3000015; };\n",
		 f->dir, f->dir);
	if (pt_config_load_string(conf, "t.conf", &f->d.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (pt_rpo_open(&f->d) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	pt_rpo_close(&f->d);
	pt_config_free(f->d.cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void import(struct fix *f, const char *json, char hash[PT_HASH_LEN])
{
	char err[512] = "";
	int r = pt_template_import(&f->d, json, strlen(json), NULL, hash, err, sizeof(err));

	if (r != 0)
		fail_msg("import: %d %s", r, err);
}

static void test_import_and_tamper(void **state)
{
	struct fix *f = *state;
	char hash[PT_HASH_LEN], again[PT_HASH_LEN], path[512], err[512] = "";
	struct pt_template t = { 0 };
	struct stat st;
	FILE *fp;

	import(f, T1, hash);
	assert_true(pt_template_hash_valid(hash));
	/* content-addressed, read-only */
	assert_int_equal(pt_rpo_template_path(&f->d, hash, "json", path, sizeof(path)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	import(f, T1, again);
	assert_string_equal(hash, again);
	assert_int_equal(pt_template_load(&f->d, hash, &t, err, sizeof(err)), 0);
	pt_template_clear(&t);
	if (geteuid() != 0) {
		/* the rest rewrites a root-owned file */
		printf("# skipping the tampering half: needs root\n");
		skip();
	}
	/* one byte changed in the stored file: refused on load */
	assert_int_equal(chmod(path, 0644), 0);
	fp = fopen(path, "r+");
	assert_non_null(fp);
	fseek(fp, 30, SEEK_SET);
	fputc('X', fp);
	fclose(fp);
	assert_int_equal(chmod(path, 0444), 0);
	assert_int_equal(pt_template_load(&f->d, hash, &t, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "was modified after import"));
	/* and a file someone may write is refused before it is read */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(pt_template_load(&f->d, hash, &t, err, sizeof(err)), -EPERM);
}

static void test_approve_validity(void **state)
{
	struct fix *f = *state;
	const struct pt_rpo *r = NULL;
	char hash[PT_HASH_LEN], err[512] = "";
	uint64_t now = 1800000000;

	if (geteuid() != 0) {
		printf("# skipped: needs root (root-owned template files, uid allocation)\n");
		skip();
	}
	import(f, T1, hash);
	/* the template allows one day */
	assert_int_equal(pt_rpo_approve(&f->d, hash, now + 86401, now, &r, err, sizeof(err)),
			 -ERANGE);
	assert_non_null(strstr(err, "longer than the template's max_validity (1d)"));
	assert_null(r);
	assert_int_equal(pt_rpo_approve(&f->d, hash, now - 1, now, &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(pt_rpo_approve(&f->d, hash, now + 86400, now, &r, err, sizeof(err)), 0);
	assert_non_null(r);
	assert_int_equal(strncmp(r->name, "rp-", 3), 0);
	assert_int_equal(strlen(r->name), 3 + 8);
	assert_true(r->uid >= 3000000 && r->uid <= 3000015);
	assert_true(pt_rpo_valid(r, now));
	assert_false(pt_rpo_valid(r, now + 86400));
	/* extend: the same cap, from now */
	assert_int_equal(pt_rpo_extend(&f->d, r->id, now + 90000, now + 100, err, sizeof(err)),
			 -ERANGE);
	assert_int_equal(pt_rpo_extend(&f->d, r->id, now + 86000, now + 100, err, sizeof(err)), 0);
	assert_int_equal(pt_rpo_extend(&f->d, r->id, now + 200000, now + 100, err, sizeof(err)),
			 -ERANGE);
	assert_int_equal(r->not_after, now + 86000);
	/* match, sessions, groups (the accept mode's API) */
	{
		const struct pt_rpo *m[4];
		char **g = NULL;
		size_t ng = 0;

		assert_int_equal(pt_rpo_match(&f->d, "https://idp.example", "support", now, m, 4),
				 1);
		assert_ptr_equal(m[0], r);
		assert_int_equal(pt_rpo_match(&f->d, "https://idp.example", "other", now, m, 4), 0);
		assert_int_equal(
			pt_rpo_match(&f->d, "https://idp.example", "support", now + 86000, m, 4),
			0);
		assert_int_equal(pt_rpo_session_begin(&f->d, r, getpid(), now), 0);
		assert_int_equal(pt_rpo_session_begin(&f->d, r, getpid(), now),
				 -EUSERS); /* max_sessions 1 */
		pt_rpo_session_end(&f->d, r, getpid());
		assert_int_equal(pt_rpo_session_begin(&f->d, r, getpid(), now), 0);
		assert_int_equal(pt_rpo_groups(&f->d, r, &g, &ng), 0);
		assert_int_equal(ng, 1);
		assert_string_equal(g[0], "dbread");
		pt_rpo_groups_free(g, ng);
	}
	assert_int_equal(pt_rpo_revoke(&f->d, r->id, now + 10, err, sizeof(err)), 0);
	assert_false(pt_rpo_valid(r, now + 10));
	assert_int_equal(pt_rpo_revoke(&f->d, r->id, now + 10, err, sizeof(err)), -ESTALE);
}

/* Sign "HEADER." + b64url(json) with key into a detached JWS. */
static char *sign_detached(EVP_PKEY *key, const char *header, const char *json)
{
	char *h = pt_b64url_encode(header, strlen(header)),
	     *p = pt_b64url_encode(json, strlen(json));
	char *input = NULL, *sig64, *out = NULL;
	uint8_t sig[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	assert_true(h && p && md);
	assert_true(asprintf(&input, "%s.%s", h, p) > 0);
	assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen, (uint8_t *)input, strlen(input)), 1);
	sig64 = pt_b64url_encode(sig, siglen);
	assert_true(asprintf(&out, "%s..%s", h, sig64) > 0);
	EVP_MD_CTX_free(md);
	free(h);
	free(p);
	free(input);
	free(sig64);
	return out;
}

/* A template naming a configured issuer must carry a JWS that verifies with
 * the issuer's JWKS (import and approval); one naming an issuer that is not
 * configured cannot carry one. */
static void test_template_signature(void **state)
{
	struct fix *f = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
		 *evil = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t pub[32];
	size_t publen = sizeof(pub);
	char path[512], conf[2048], err[512] = "", hash[PT_HASH_LEN], *x, *sig, *bad, *tampered;
	const char *hdr = "{\"alg\":\"EdDSA\",\"kid\":\"idp-1\"}";
	const struct pt_rpo *r = NULL;
	uint64_t now = 1800000000;
	FILE *fp;

	assert_true(key && evil);
	assert_int_equal(EVP_PKEY_get_raw_public_key(key, pub, &publen), 1);
	x = pt_b64url_encode(pub, publen);
	snprintf(path, sizeof(path), "%s/idp.jwks", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp,
		"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"idp-1\"}]}",
		x);
	fclose(fp);
	assert_int_equal(chmod(path, 0644), 0);
	/* the same host, with the template's issuer configured */
	pt_rpo_close(&f->d);
	pt_config_free(f->d.cfg);
	snprintf(conf, sizeof(conf),
		 "tokend = { state_dir = \"%s\"; nss_cache = \"\"; };\n"
		 "entitlements = ( { name = \"db-read\"; groups = [ \"dbread\" ]; } );\n"
		 "rpo = { home_base = \"%s\"; uid_min = 3000000; uid_max = 3000015; };\n"
		 "issuers = ( { iss = \"https://idp.example\"; jwks = \"%s\"; algs = [ \"EdDSA\" ];"
		 " audience = \"host\"; } );\n",
		 f->dir, f->dir, path);
	assert_int_equal(pt_config_load_string(conf, "t.conf", &f->d.cfg, err, sizeof(err)), 0);
	assert_int_equal(pt_rpo_open(&f->d), 0);

	sig = sign_detached(key, hdr, T1);
	bad = sign_detached(evil, hdr, T1);
	tampered = sign_detached(key, hdr, T1 " ");
	/* unsigned: refused */
	assert_int_equal(pt_template_import(&f->d, T1, strlen(T1), NULL, hash, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "must be signed"));
	/* signed by another key, or over other bytes: refused */
	assert_int_equal(pt_template_import(&f->d, T1, strlen(T1), bad, hash, err, sizeof(err)),
			 -EKEYREJECTED);
	assert_non_null(strstr(err, "bad signature"));
	assert_int_equal(
		pt_template_import(&f->d, T1, strlen(T1), tampered, hash, err, sizeof(err)),
		-EKEYREJECTED);
	/* alg none, an unknown kid: refused */
	{
		char *none = sign_detached(key, "{\"alg\":\"none\"}", T1),
		     *kid = sign_detached(key, "{\"alg\":\"EdDSA\",\"kid\":\"other\"}", T1);

		assert_int_equal(
			pt_template_import(&f->d, T1, strlen(T1), none, hash, err, sizeof(err)),
			-EINVAL);
		assert_int_equal(
			pt_template_import(&f->d, T1, strlen(T1), kid, hash, err, sizeof(err)),
			-EINVAL);
		assert_non_null(strstr(err, "no key of issuer"));
		free(none);
		free(kid);
	}
	/* the issuer's signature: stored, approved */
	assert_int_equal(pt_template_import(&f->d, T1, strlen(T1), sig, hash, err, sizeof(err)), 0);
	if (geteuid() == 0) {
		assert_int_equal(pt_rpo_approve(&f->d, hash, now + 600, now, &r, err, sizeof(err)),
				 0);
		/* the stored signature removed: approval refused */
		assert_int_equal(pt_rpo_template_path(&f->d, hash, "jws", path, sizeof(path)), 0);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(pt_rpo_approve(&f->d, hash, now + 600, now, &r, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "must be signed"));
	}
	free(sig);
	free(bad);
	free(tampered);
	free(x);
	EVP_PKEY_free(key);
	EVP_PKEY_free(evil);
}

/* An issuer not configured: a signature cannot be verified, so refused. */
static void test_template_signature_unknown_issuer(void **state)
{
	struct fix *f = *state;
	char err[512] = "", hash[PT_HASH_LEN];

	assert_int_equal(pt_template_import(&f->d, T1, strlen(T1), "eyJhbGciOiJFZERTQSJ9..AAAA",
					    hash, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "is not configured"));
}

/* max_sessions survives a restart of tokend (the count is in rpo.json), and
 * a session whose process died without closing it frees its place. */
static void test_sessions_durable(void **state)
{
	struct fix *f = *state;
	const struct pt_rpo *r = NULL;
	char hash[PT_HASH_LEN], err[512] = "", id[PT_ID_LEN];
	uint64_t now = 1800000000;
	pid_t child;
	int status;

	if (geteuid() != 0) {
		printf("# skipped: needs root (root-owned template files, uid allocation)\n");
		skip();
	}
	import(f, T1, hash);
	assert_int_equal(pt_rpo_approve(&f->d, hash, now + 600, now, &r, err, sizeof(err)), 0);
	memcpy(id, r->id, sizeof(id));
	assert_int_equal(pt_rpo_session_begin(&f->d, r, getpid(), now), 0);
	/* "restart": the open session is still counted (max_sessions 1) */
	pt_rpo_close(&f->d);
	assert_int_equal(pt_rpo_open(&f->d), 0);
	r = pt_rpo_find_id(&f->d, id);
	assert_non_null(r);
	assert_int_equal(pt_rpo_sessions(&f->d, r), 1);
	assert_int_equal(pt_rpo_session_begin(&f->d, r, getpid(), now), -EUSERS);
	pt_rpo_session_end(&f->d, r, getpid());
	assert_int_equal(pt_rpo_sessions(&f->d, r), 0);
	/* a process that opened a session and died (kill -9: no close) */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(pt_rpo_session_begin(&f->d, r, child, now), 0);
	assert_int_equal(pt_rpo_session_begin(&f->d, r, getpid(), now), -EUSERS);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &status, 0), child);
	pt_rpo_close(&f->d);
	assert_int_equal(pt_rpo_open(&f->d), 0);
	r = pt_rpo_find_id(&f->d, id);
	assert_int_equal(pt_rpo_sessions(&f->d, r), 0);
	assert_int_equal(pt_rpo_session_begin(&f->d, r, getpid(), now), 0);
	/* a gone process cannot open one */
	assert_int_equal(pt_rpo_session_begin(&f->d, r, child, now), -ESRCH);
}

/* Stored at approval, read back at start: a changed range or a host account
 * on that uid later changes nothing. */
static void test_uid_stored(void **state)
{
	struct fix *f = *state;
	const struct pt_rpo *r = NULL;
	char hash[PT_HASH_LEN], err[512] = "", id[PT_ID_LEN];
	uint64_t now = 1800000000;
	uid_t uid;

	if (geteuid() != 0) {
		printf("# skipped: needs root (root-owned template files, uid allocation)\n");
		skip();
	}
	import(f, T1, hash);
	assert_int_equal(pt_rpo_approve(&f->d, hash, now + 600, now, &r, err, sizeof(err)), 0);
	uid = r->uid;
	memcpy(id, r->id, sizeof(id));
	/* "restart" with another range: the uid is the stored one */
	pt_rpo_close(&f->d);
	f->d.cfg->rpo.uid_min = 3100000;
	f->d.cfg->rpo.uid_max = 3100015;
	assert_int_equal(pt_rpo_open(&f->d), 0);
	r = pt_rpo_find_id(&f->d, id);
	assert_non_null(r);
	assert_int_equal(r->uid, uid);
	assert_int_equal(r->not_after, now + 600);
	assert_ptr_equal(pt_rpo_find_name(&f->d, r->name), r);
}

/* Every uid of the range is tried; those the host has, or an RPO or a
 * tombstone holds, are skipped; none left: -ENOSPC. */
static void test_uid_probe_and_tombstones(void **state)
{
	struct fix *f = *state;
	const struct pt_rpo *r = NULL;
	char hash[PT_HASH_LEN], err[512] = "";
	uint64_t now = 1800000000;
	uid_t first;
	uid_t got;

	if (geteuid() != 0) {
		printf("# skipped: needs root (root-owned template files, uid allocation)\n");
		skip();
	}
	import(f, T1, hash);
	/* collisions with the host: a range of 0..3 holds root, daemon, bin,
	 * sys on Debian: nothing free */
	f->d.cfg->rpo.uid_min = 0;
	f->d.cfg->rpo.uid_max = 3;
	assert_non_null(getpwuid(0));
	assert_int_equal(pt_rpo_alloc_uid(&f->d, "rpo_00", &got), -ENOSPC);
	/* 0..1000 + 1: only the one uid free of the host's */
	f->d.cfg->rpo.uid_min = 0;
	f->d.cfg->rpo.uid_max = 3000000;
	assert_int_equal(pt_rpo_alloc_uid(&f->d, "rpo_00", &got), 0);
	assert_null(getpwuid(got));
	assert_null(getgrgid(got));
	/* two uids: the first RPO takes one, is reaped (its record stays, the
	 * tombstone), the second takes the other, the third finds none */
	f->d.cfg->rpo.uid_min = 3200000;
	f->d.cfg->rpo.uid_max = 3200001;
	assert_int_equal(pt_rpo_approve(&f->d, hash, now + 600, now, &r, err, sizeof(err)), 0);
	first = r->uid;
	assert_int_equal(pt_rpo_mark_expired(&f->d, r), 0);
	assert_int_equal(pt_rpo_approve(&f->d, hash, now + 600, now, &r, err, sizeof(err)), 0);
	assert_int_not_equal(r->uid, first);
	assert_int_equal(pt_rpo_approve(&f->d, hash, now + 600, now, &r, err, sizeof(err)),
			 -ENOSPC);
	/* after a restart the tombstone still holds its uid */
	pt_rpo_close(&f->d);
	assert_int_equal(pt_rpo_open(&f->d), 0);
	assert_int_equal(pt_rpo_alloc_uid(&f->d, "rpo_x", &got), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import_and_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_approve_validity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_template_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_template_signature_unknown_issuer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_uid_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_probe_and_tombstones, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
