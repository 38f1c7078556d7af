/* SPDX-License-Identifier: MIT */
/*
 * tokend's request handling without a daemon: the dispatch table, the
 * caller-class matrix (every request type x root, actors, the user
 * themself, another uid) and "explain says X <=> redeem does X", through
 * pt_ops_handle with an injected clock and account look-up over a store,
 * keys and audit log in a temporary directory.
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

#include "account.h"
#include "audit.h"
#include "keys.h"
#include "log.h"
#include "ops-internal.h"
#include "proto.h"
#include "seal.h"
#include "store.h"
#include "util.h"

/* ------------------------------------------------------------ the daemon */

static char dir[64];
static uint8_t storekey[PT_STORE_KEYLEN];
static struct pt_daemon d;
static uint64_t now_s;

static uint64_t fake_clock(void)
{
	return now_s;
}

/* The accounts NSS would answer: name, uid (users missing: none). */
static struct {
	const char *user;
	uid_t uid;
	bool present;
} accounts[] = {
	{ "root", 0, true },
	{ "alice", 1000, true },
	{ "carol", 1003, true },
	{ "dave", 1004, true },
};

static int fake_lookup(const char *user, struct pt_account **ret)
{
	for (size_t i = 0; i < PT_ELEMENTSOF(accounts); i++) {
		struct pt_account *a;

		if (strcmp(accounts[i].user, user) != 0 || !accounts[i].present)
			continue;
		a = calloc(1, sizeof(*a));
		assert_non_null(a);
		a->user = strdup(user);
		a->uid = accounts[i].uid;
		a->gid = accounts[i].uid;
		a->gecos = strdup("");
		a->home = strdup("/nonexistent");
		a->shell = strdup("/bin/sh");
		a->groups = calloc(2, sizeof(char *));
		a->groups[0] = strdup(user);
		a->n_groups = 1;
		*ret = a;
		return 0;
	}
	return -ENOENT;
}

static void set_account(const char *user, bool present, uid_t uid)
{
	for (size_t i = 0; i < PT_ELEMENTSOF(accounts); i++)
		if (strcmp(accounts[i].user, user) == 0) {
			accounts[i].present = present;
			accounts[i].uid = uid;
		}
}

static int setup(void **state)
{
	char conf[2048], err[512], warn[512];
	int created;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pertok-ops-test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(
		conf, sizeof(conf),
		"tokend: { state_dir = \"%s\"; socket = \"%s/sock\"; persist_lifetime = \"1d\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"atd\"; uid = 0; exe = [ \"/usr/sbin/atd\" ]; },\n"
		"           { name = \"cron\"; uid = 0; exe = [ \"/usr/sbin/cron\" ]; },\n"
		"           { name = \"svc\"; uid = 1002; exe = \"*\"; } );\n"
		"issue = ( { name = \"iss\"; actors = [ \"atd\", \"cron\", \"svc\", \"self\" ];\n"
		"            holders = [ \"atd\", \"cron\" ]; check_account = false; } );\n"
		"redeem = ( { name = \"once\"; holders = [ \"atd\" ]; users = [ \"carol\" ];\n"
		"             max_uses = 1; check_account = false; },\n"
		"           { name = \"short\"; holders = [ \"atd\" ]; users = [ \"dave\" ];\n"
		"             persist_lifetime = \"1h\"; check_account = false; },\n"
		"           { name = \"red\"; holders = [ \"atd\" ]; check_account = false; } );\n",
		dir, dir);
	if (pt_config_load_string(conf, "ops.conf", &d.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	memset(storekey, 7, sizeof(storekey));
	d.storekey = storekey;
	snprintf(d.keydir, sizeof(d.keydir), "%s", dir);
	d.sealer = pt_sealer_get("software");
	if (pt_keys_load_or_create(dir, storekey, d.cfg->alg, &d.keys, &created, err, sizeof(err)) <
		    0 ||
	    pt_store_open(dir, storekey, &d.store, NULL) < 0 ||
	    pt_audit_open_config(d.cfg, storekey, d.keys, &d.audit, warn, sizeof(warn), err,
				 sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	now_s = pt_now_s();
	d.clock = fake_clock;
	d.account_lookup = fake_lookup;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	pt_audit_close(d.audit);
	pt_store_free(d.store);
	pt_keys_free(d.keys);
	pt_config_free(d.cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------- callers */

enum who {
	ROOT,
	ATD,
	CRON,
	SVC,
	SELF,
	OTHER,
	N_WHO
};
static const char *const who_name[N_WHO] = { "root", "atd", "cron", "svc", "self", "other" };

static struct pt_peer peer_of(enum who w)
{
	static const struct {
		uid_t uid;
		const char *exe;
	} p[N_WHO] = {
		[ROOT] = { 0, "/bin/bash" },	  [ATD] = { 0, "/usr/sbin/atd" },
		[CRON] = { 0, "/usr/sbin/cron" }, [SVC] = { 1002, "/usr/bin/svc" },
		[SELF] = { 1000, "/bin/sh" },	  [OTHER] = { 1001, "/bin/sh" },
	};
	struct pt_peer peer = { .uid = p[w].uid, .gid = p[w].uid, .pid = 4242, .procfd = -1 };

	peer.exe_known = true;
	snprintf(peer.exe, sizeof(peer.exe), "%s", p[w].exe);
	return peer;
}

/* The one reply frame in out, decoded: its error code (0 for PT_OK). */
static uint32_t reply_of(uint8_t req_type, struct ptbuf *out, struct pt_rep *ret)
{
	const uint8_t *payload;
	size_t len, used;
	uint8_t type;
	struct pt_rep rep = { 0 };
	uint32_t code;

	assert_int_equal(pt_frame_split(ptbuf_ptr(out), ptbuf_len(out), PT_MAX_FRAME, &type,
					&payload, &len, &used),
			 0);
	assert_int_equal(used, ptbuf_len(out)); /* exactly one reply */
	assert_int_equal(pt_rep_decode(req_type, type, payload, len, &rep), 0);
	assert_int_equal(pt_ops_commit(&d), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	if (ret)
		*ret = rep;
	else
		pt_rep_clear(&rep);
	return code;
}

/* Sends req as w with the live token live (the front's struct): the reply's
 * error code (0 for PT_OK). */
static uint32_t call_live(enum who w, const struct pt_req *req,
			  const struct pt_live_presented *live, struct pt_rep *ret)
{
	struct pt_peer peer = peer_of(w);
	struct ptbuf *out = ptbuf_new(4 + PT_MAX_FRAME);
	uint32_t code;
	int r;

	assert_non_null(out);
	r = pt_ops_handle(&d, &peer, req, live, out);
	assert_true(r == 0 || r == -EBADMSG);
	code = reply_of(req->type, out, ret);
	ptbuf_free(out);
	return code;
}

/* Sends req as w: the reply's error code (0 for PT_OK). */
static uint32_t call(enum who w, const struct pt_req *req, struct pt_rep *ret)
{
	struct pt_live_presented live = { 0 };
	uint32_t code;

	/* the front's part of an exchange (a form error is a refusal in live) */
	if (req->type == PT_EXCHANGE)
		assert_int_not_equal(pt_live_parse(req->live_token, &live), -ENOMEM);
	code = call_live(w, req, req->type == PT_EXCHANGE ? &live : NULL, ret);
	pt_live_presented_clear(&live);
	return code;
}

/* A live token of user, minted by atd at login. */
static char *login(const char *user)
{
	struct pt_req q = { .type = PT_MINT,
			    .user = (char *)user,
			    .service = (char *)"sshd",
			    .tty = (char *)"pts/0",
			    .rhost = (char *)"" };
	struct pt_rep rep;
	char *token;

	assert_int_equal(call(ATD, &q, &rep), 0);
	token = rep.token;
	rep.token = NULL;
	pt_rep_clear(&rep);
	return token;
}

static void persist(const char *user)
{
	char *token = login(user);
	struct pt_req q = { .type = PT_EXCHANGE, .live_token = token, .holder = (char *)"atd" };

	assert_int_equal(call(ATD, &q, NULL), 0);
	pt_free_secret(token);
}

/* ----------------------------------------------------------------- table */

/* Every request type of the protocol (pt_msgtype_name knows it) has exactly
 * one row, and every row is a type of the protocol. */
static void test_table_complete(void **state)
{
	size_t n, named = 0;
	const struct pt_ops_row *rows = pt_ops_rows(&n);

	(void)state;
	for (unsigned t = 0; t < 256; t++) {
		size_t k = 0;
		bool is_type = strcmp(pt_msgtype_name((uint8_t)t), "unknown") != 0;

		for (size_t i = 0; i < n; i++)
			k += rows[i].type == t;
		if (is_type && k != 1)
			fail_msg("request type %u (%s) has %zu rows", t,
				 pt_msgtype_name((uint8_t)t), k);
		if (!is_type && k != 0)
			fail_msg("type %u is no protocol type but has a row", t);
		named += is_type;
	}
	assert_int_equal(named, n);
	for (size_t i = 0; i < n; i++) {
		/* a row that serves requests names who may ask, and the reverse */
		assert_true((rows[i].fn != NULL) == (rows[i].caller != PT_CALLER_NONE));
		/* whatever issues a token or a code waits for its audit record */
		if (rows[i].type == PT_MINT || rows[i].type == PT_EXCHANGE ||
		    rows[i].type == PT_REDEEM || rows[i].type == PT_CODE_ISSUE ||
		    rows[i].type == PT_CODE_CHECK)
			assert_int_equal(rows[i].audit, PT_AUDIT_HELD);
	}
}

/* ------------------------------------------------------- caller classes */

enum {
	P = 0,
	A = 1,
	SKIP = 2
}; /* refused (PT_E_PERM) / admitted / not run */

static const struct matrix_row {
	uint8_t type;
	int expect[N_WHO]; /* root atd cron svc self other */
} matrix[] = {
	{ PT_MINT, { P, A, A, A, P, P } },
	{ PT_EXCHANGE, { P, A, A, A, A, P } },
	{ PT_REDEEM, { P, A, P, P, P, P } },
	{ PT_LIST, { A, A, A, A, A, A } },
	{ PT_LIST_PAGE, { A, A, A, A, A, A } },
	{ PT_REVOKE, { A, A, A, A, A, A } },
	{ PT_PUBKEY, { A, A, A, A, A, A } },
	{ PT_STATUS, { A, A, A, P, P, P } },
	/* admitted rotations and reseals would change the keys: only refusals run */
	{ PT_ROTATE, { SKIP, SKIP, SKIP, P, P, P } },
	{ PT_RESEAL, { SKIP, SKIP, SKIP, P, P, P } },
	{ PT_EXPLAIN, { A, A, A, P, P, P } },
	{ PT_REVOKE_MATCH, { A, A, A, A, A, A } },
	{ PT_CODE_ISSUE, { A, A, A, P, P, P } },
	{ PT_CODE_CHECK, { A, A, A, A, P, P } },
	/* only peers on the credential socket (none of these) */
	{ PT_CREDENTIAL, { P, P, P, P, P, P } },
};

static void test_caller_classes(void **state)
{
	char *token;
	size_t n;
	const struct pt_ops_row *rows = pt_ops_rows(&n);

	(void)state;
	persist("alice");
	token = login("alice");
	/* every row of the table that serves requests is in the matrix */
	for (size_t i = 0; i < n; i++) {
		bool found = rows[i].caller == PT_CALLER_NONE;

		for (size_t j = 0; j < PT_ELEMENTSOF(matrix); j++)
			found = found || matrix[j].type == rows[i].type;
		if (!found)
			fail_msg("type %s is not in the caller matrix",
				 pt_msgtype_name(rows[i].type));
	}
	for (size_t j = 0; j < PT_ELEMENTSOF(matrix); j++) {
		struct pt_req q = {
			.type = matrix[j].type,
			.user = (char *)"alice",
			.service = (char *)"atd",
			.tty = (char *)"",
			.rhost = (char *)"",
			.live_token = token,
			.holder = (char *)"atd",
			.id = (char *)"pt_nosuchtoken",
			.format = PT_PUBKEY_PEM,
			.ttype = (char *)"nosuchtype",
			.code = (char *)"0000",
			.cursor = (char *)"",
		};

		for (int w = 0; w < N_WHO; w++) {
			uint32_t code;

			if (matrix[j].expect[w] == SKIP)
				continue;
			code = call((enum who)w, &q, NULL);
			if ((code == PT_E_PERM) != (matrix[j].expect[w] == P))
				fail_msg("%s as %s: %s, expected %s", pt_msgtype_name(q.type),
					 who_name[w], code ? pt_errcode_name(code) : "ok",
					 matrix[j].expect[w] == P ? "refused" : "admitted");
		}
	}
	pt_free_secret(token);
}

/* ANY: root sees every user's tokens, others only their own. */
static void test_any_sees_own(void **state)
{
	struct pt_req q = { .type = PT_LIST, .user = (char *)"" };
	struct pt_rep rep;

	(void)state;
	persist("alice");
	persist("carol");
	assert_int_equal(call(ROOT, &q, &rep), 0);
	assert_true(rep.n_list >= 2);
	pt_rep_clear(&rep);
	assert_int_equal(call(SELF, &q, &rep), 0);
	assert_true(rep.n_list >= 1);
	for (uint32_t i = 0; i < rep.n_list; i++)
		assert_string_equal(rep.list[i].user, "alice");
	pt_rep_clear(&rep);
	assert_int_equal(call(OTHER, &q, &rep), 0);
	assert_int_equal(rep.n_list, 0);
	pt_rep_clear(&rep);
}

/* ------------------------------------------- explain says X <=> redeem does X */

static bool explain_allows(const char *user)
{
	struct pt_req q = { .type = PT_EXPLAIN, .user = (char *)user, .holder = (char *)"atd" };
	struct pt_rep rep;
	bool allow;

	assert_int_equal(call(ROOT, &q, &rep), 0);
	assert_non_null(rep.text);
	allow = strstr(rep.text, "\nredemption: allow: ") != NULL;
	assert_true(allow || strstr(rep.text, "\nredemption: deny: ") != NULL);
	/* claims are shown exactly when a live token would be minted */
	assert_int_equal(allow, strstr(rep.text, "live token claims") != NULL);
	pt_rep_clear(&rep);
	return allow;
}

static bool redeem_allows(const char *user)
{
	struct pt_req q = { .type = PT_REDEEM,
			    .user = (char *)user,
			    .holder = (char *)"atd",
			    .service = (char *)"atd" };

	return call(ATD, &q, NULL) == 0;
}

static const struct agree_case {
	const char *what;
	const char *user;
	bool allow;
} agree_cases[] = {
	{ "no token", "alice", false },
	{ "a token", "alice", true },
	{ "used once of max_uses 1", "carol", false },
	{ "account removed", "alice", false },
	{ "uid changed", "alice", false },
	{ "persist_lifetime passed", "dave", false },
	{ "expired", "alice", false },
};

static void test_explain_agrees(void **state)
{
	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(agree_cases); i++) {
		const struct agree_case *k = &agree_cases[i];
		bool e;

		switch (i) {
		case 0: /* no token for alice yet */
			break;
		case 1:
			persist("alice");
			persist("carol");
			persist("dave");
			break;
		case 2: /* carol's one use */
			assert_true(redeem_allows("carol"));
			break;
		case 3:
			set_account("alice", false, 1000);
			break;
		case 4:
			set_account("alice", true, 2000);
			break;
		case 5: /* dave's rule: 1h from issue */
			set_account("alice", true, 1000);
			now_s += 2 * 3600;
			break;
		case 6: /* persist_lifetime 1d */
			now_s += 2 * 86400;
			break;
		}
		e = explain_allows(k->user);
		if (e != k->allow)
			fail_msg("%s: explain says %s", k->what, e ? "allow" : "deny");
		if (redeem_allows(k->user) != e)
			fail_msg("%s: explain says %s, redeem does not", k->what,
				 e ? "allow" : "deny");
	}
	now_s = pt_now_s();
}

/* ---------------------------------------------------------------- exchange */

/* pt_ops_dispatch with an encoded request (the single-process path: it
 * parses the live token itself). */
static uint32_t dispatch(enum who w, const struct pt_req *req, struct pt_rep *ret)
{
	struct pt_peer peer = peer_of(w);
	struct ptbuf *in = ptbuf_new(4 + PT_MAX_FRAME), *out = ptbuf_new(4 + PT_MAX_FRAME);
	const uint8_t *payload;
	size_t len, used;
	uint8_t type;
	uint32_t code;
	int r;

	assert_true(in && out);
	assert_int_equal(pt_req_encode(req, in), 0);
	assert_int_equal(pt_frame_split(ptbuf_ptr(in), ptbuf_len(in), PT_MAX_FRAME, &type, &payload,
					&len, &used),
			 0);
	r = pt_ops_dispatch(&d, &peer, type, payload, len, out);
	assert_true(r == 0 || r == -EBADMSG);
	code = reply_of(req->type, out, ret);
	ptbuf_free(in);
	ptbuf_free(out);
	return code;
}

static void expect_rejected(uint32_t code, struct pt_rep *rep, const char *why)
{
	char want[128];

	snprintf(want, sizeof(want), "live token rejected: %s", why);
	assert_int_equal(code, PT_E_INVALID);
	assert_string_equal(rep->message, want);
	pt_rep_clear(rep);
}

/* The exchange decides on the front's struct (pt_ops_handle's live), never
 * on req->live_token: a struct whose claims were changed is refused for its
 * signature, the genuine one is taken whatever req->live_token says; a
 * token the parse refuses gets the same refusal by either path. */
static void test_exchange_live(void **state)
{
	char *token = login("alice");
	struct pt_live_presented p = { 0 };
	struct pt_req q = { .type = PT_EXCHANGE, .live_token = token, .holder = (char *)"atd" };
	struct pt_rep rep;

	(void)state;
	assert_int_equal(pt_live_parse(token, &p), 0);
	/* the front says the token is carol's */
	assert_int_equal(pt_live_set_str(&p.claims.sub, "carol"), 0);
	p.claims.uid = 1003;
	expect_rejected(call_live(ATD, &q, &p, &rep), &rep, "bad signature");
	pt_live_presented_clear(&p);
	/* no struct at all: a malformed token */
	expect_rejected(call_live(ATD, &q, NULL, &rep), &rep, "malformed token");
	/* the genuine struct decides, not the request's bytes */
	assert_int_equal(pt_live_parse(token, &p), 0);
	q.live_token = (char *)"not.a.token";
	assert_int_equal(call_live(ATD, &q, &p, &rep), 0);
	assert_non_null(rep.id);
	pt_rep_clear(&rep);
	pt_live_presented_clear(&p);
	/* the single-process path parses: the same refusals, the same exchange */
	expect_rejected(dispatch(ATD, &q, &rep), &rep, "malformed token");
	q.live_token = (char *)"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.e30.AAAA";
	expect_rejected(call(ATD, &q, &rep), &rep, "not a live token");
	expect_rejected(dispatch(ATD, &q, &rep), &rep, "not a live token");
	q.live_token = token;
	assert_int_equal(dispatch(ATD, &q, &rep), 0);
	assert_true(rep.renewed); /* the same slot again */
	pt_rep_clear(&rep);
	pt_free_secret(token);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test_setup_teardown(test_caller_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_sees_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_agrees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exchange_live, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
