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
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "audit.h"
#include "codes.h"
#include "daemon-state.h"
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

/* The accounts NSS would answer: name, uid (users missing: none); unavail:
 * the directory is down for this user (NSS reports an error). */
static struct {
	const char *user;
	uid_t uid;
	bool present;
	bool unavail;
} accounts[] = {
	{ "root", 0, true, false },
	{ "alice", 1000, true, false },
	{ "carol", 1003, true, false },
	{ "dave", 1004, true, false },
};

static int fake_lookup(const char *user, struct pt_account **ret)
{
	for (size_t i = 0; i < PT_ELEMENTSOF(accounts); i++) {
		struct pt_account *a;

		if (strcmp(accounts[i].user, user) == 0 && accounts[i].unavail) {
			pt_account_set_error("getpwnam_r", user, EHOSTUNREACH);
			return PT_ACCOUNT_EUNAVAIL;
		}
		if (strcmp(accounts[i].user, user) != 0 || !accounts[i].present)
			continue;
		*ret = ut_account(user, accounts[i].uid);
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
	char conf[2048];

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
		"           { name = \"red\"; holders = [ \"atd\" ]; check_account = false; } );\n"
		"types = ( { name = \"recovery\"; kind = \"code\"; length = 12;\n"
		"            charset = { letters = true; digits = true; special = false; };\n"
		"            ttl = \"1h\"; max_ttl = \"1d\"; num_uses = 1; rate = \"100/1h\";\n"
		"            max_failures = 3; lockout = \"1h\"; } );\n",
		dir, dir);
	if (ut_daemon_open(&d, conf, dir, storekey) < 0)
		return -1;
	now_s = pt_now_s();
	d.clock = fake_clock;
	d.account_lookup = fake_lookup;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	ut_daemon_close(&d);
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
	return ut_reply(&d, req_type, out, ret);
}

/* Sends req as w with the live token live (the front's struct): the reply's
 * error code (0 for PT_OK). */
static uint32_t call_live(enum who w, const struct pt_req *req,
			  const struct pt_live_presented *live, struct pt_rep *ret)
{
	struct pt_peer peer = peer_of(w);

	return ut_handle(&d, &peer, req, live, ret);
}

/* Sends req as w: the reply's error code (0 for PT_OK). */
static uint32_t call(enum who w, const struct pt_req *req, struct pt_rep *ret)
{
	struct pt_peer peer = peer_of(w);

	return ut_call(&d, &peer, req, ret);
}

/* The token of the reply to q sent as w (the caller frees it). */
static char *token_of(enum who w, const struct pt_req *q)
{
	struct pt_rep rep;
	char *token;

	assert_int_equal(call(w, q, &rep), 0);
	token = rep.token;
	rep.token = NULL;
	pt_rep_clear(&rep);
	return token;
}

/* A live token of user, minted by atd at login. */
static char *login(const char *user)
{
	struct pt_req q = { .type = PT_MINT,
			    .user = (char *)user,
			    .service = (char *)"sshd",
			    .tty = (char *)"pts/0",
			    .rhost = (char *)"" };

	return token_of(ATD, &q);
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
		    rows[i].type == PT_REDEEM || rows[i].type == PT_REFRESH ||
		    rows[i].type == PT_CODE_ISSUE || rows[i].type == PT_CODE_CHECK ||
		    rows[i].type == PT_CODE_SHEET || rows[i].type == PT_ACCEPT)
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
	{ PT_LIST_STATUS, { A, A, A, A, A, A } },
	{ PT_EXPLAIN_ISSUE, { A, A, A, P, P, P } },
	{ PT_CODE_SHEET, { A, A, A, P, P, P } },
	{ PT_CODE_LIST, { A, A, A, P, P, P } },
	/* the token's own uid only (alice's login token: admitted, then invalid) */
	{ PT_REFRESH, { P, P, P, P, A, P } },
	/* only peers on the credential socket (none of these) */
	{ PT_CREDENTIAL, { P, P, P, P, P, P } },
	/* anyone: root any token, others their own (an unknown id here) */
	{ PT_DELEGATE, { A, A, A, A, A, A } },
	{ PT_LIST_DELEG, { A, A, A, A, A, A } },
	/* grants (PT_CALLER_ANY; whose grant it is, is checked on the grant):
	 * nobody, root included, creates a grant in alice's name but alice, and
	 * nobody asks as another servicer; the unprivileged columns depend on
	 * the host's users (tests/daemon/test-grants has them) */
	{ PT_GRANT_CREATE, { P, P, P, SKIP, SKIP, SKIP } },
	{ PT_GRANT_LIST, { A, A, A, SKIP, SKIP, SKIP } },
	{ PT_GRANT_REVOKE, { A, A, A, A, A, A } },   /* no such grant */
	{ PT_GRANT_DELEGATE, { A, A, A, A, A, A } }, /* no such grant */
	{ PT_GRANT_REQUEST, { P, P, P, SKIP, SKIP, SKIP } },
	{ PT_GRANT_APPROVE, { A, A, A, A, A, A } }, /* no such request */
	{ PT_GRANT_DENY, { A, A, A, A, A, A } },
	{ PT_GRANT_REQUESTS, { A, A, A, SKIP, SKIP, SKIP } },
	{ PT_GRANT_EXPLAIN, { A, A, A, P, P, P } },
	/* pam_pertok.so accept: an actor, as for a mint */
	{ PT_ACCEPT, { P, A, A, A, P, P } },
	{ PT_ACCEPT_SESSION, { P, A, A, A, P, P } },
	/* remote principals: root (atd and cron are uid 0) only */
	{ PT_TEMPLATE_IMPORT, { A, A, A, P, P, P } },
	{ PT_TEMPLATE_SHOW, { A, A, A, P, P, P } },
	{ PT_RPO_APPROVE, { A, A, A, P, P, P } },
	{ PT_RPO_LIST, { A, A, A, P, P, P } },
	{ PT_RPO_SHOW, { A, A, A, P, P, P } },
	{ PT_RPO_EXTEND, { A, A, A, P, P, P } },
	{ PT_RPO_REVOKE, { A, A, A, P, P, P } },
	/* any uid asks (the grant decides; these carry no descriptors: refused
	 * as malformed, not by the caller class) */
	{ PT_ACT, { A, A, A, A, A, A } },
	/* anyone: the consent is the signature (none here: malformed) */
	{ PT_GRANT_SIGNED, { A, A, A, A, A, A } },
	/* anyone; the grant's data decides (an unknown id here: not found) */
	{ PT_GRANT_CREDENTIAL, { A, A, A, A, A, A } },
	/* a use is reported with the token's own uid only (then: not redeemed) */
	{ PT_USED, { P, P, P, P, A, P } },
	{ PT_RECOMMEND, { A, A, A, P, P, P } },
	{ PT_CURTAIL_REVERT, { A, A, A, P, P, P } },
	/* root or any actor, then the token is checked (alice's login token) */
	{ PT_ACCEPT_LIVE, { A, A, A, A, P, P } },
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
		static char *args[] = { "hi" };
		struct pt_grant_wire_cmd cmd = { .path = (char *)"/bin/echo",
						 .argv = args,
						 .n_argv = 1 };
		struct pt_grant_spec spec = { .servicer = (char *)"svc",
					      .servicer_exe = (char *)"",
					      .servicer_unit = (char *)"",
					      .cmds = &cmd,
					      .n_cmds = 1,
					      .lifetime = 3600,
					      .max_uses = 1 };
		struct pt_req q = {
			.gspec = &spec,
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
			.actor = (char *)"atd",
			.count = 1,
			.blob = (char *)"{}",
			.sig = (char *)"",
			.not_after = 1,
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

/* The grant types that carry a scope, decoded without one (privsep carries
 * the scope by a flag): a precise refusal, never a NULL dereference. */
static void test_grant_without_spec(void **state)
{
	static const uint32_t types[] = { PT_GRANT_CREATE, PT_GRANT_DELEGATE, PT_GRANT_REQUEST,
					  PT_GRANT_EXPLAIN };
	static const enum who whos[] = { ROOT, SELF, SVC };

	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(types); i++)
		for (size_t w = 0; w < PT_ELEMENTSOF(whos); w++) {
			struct pt_req q = { .type = types[i],
					    .user = (char *)"alice",
					    .holder = (char *)"atd",
					    .id = (char *)"gr_nosuchgrant" };
			struct pt_rep rep = { 0 };
			uint32_t code;

			if (types[i] == PT_GRANT_EXPLAIN && whos[w] != ROOT)
				continue; /* root only: refused before the handler */
			code = call(whos[w], &q, &rep);
			if (code != PT_E_PROTO || !rep.message ||
			    !strstr(rep.message, "no grant scope"))
				fail_msg("%s as %s without a scope: %s (%s)",
					 pt_msgtype_name(q.type), who_name[whos[w]],
					 code ? pt_errcode_name(code) : "ok",
					 rep.message ? rep.message : "");
			pt_rep_clear(&rep);
		}
}

/* A connection on the credential socket is served its credential and
 * nothing else, whoever its peer (root here, who may ask anything on
 * tokend's socket); and the unit name it asks for is checked again. */
static void test_credential_socket_only(void **state)
{
	size_t n;
	const struct pt_ops_row *rows = pt_ops_rows(&n);
	struct pt_peer peer = peer_of(ROOT);
	struct pt_config *cfg = NULL, *saved = d.cfg;
	struct pt_rep rep = { 0 };
	char conf[1024], err[512];

	(void)state;
	peer.credential = true;
	for (size_t i = 0; i < n; i++) {
		struct pt_req q = { .type = rows[i].type,
				    .user = (char *)"alice",
				    .service = (char *)"atd",
				    .holder = (char *)"atd",
				    .id = (char *)"pt_nosuchtoken",
				    .cursor = (char *)"" };
		struct ptbuf *out;
		uint32_t code;

		if (rows[i].caller == PT_CALLER_NONE || rows[i].caller == PT_CALLER_CREDENTIAL)
			continue;
		out = ptbuf_new(4 + PT_MAX_FRAME);
		assert_non_null(out);
		pt_ops_handle(&d, &peer, &q, NULL, out);
		code = reply_of(q.type, out, &rep);
		if (code != PT_E_PERM || !rep.message ||
		    !strstr(rep.message, "only the credential is served"))
			fail_msg("%s on the credential socket: %s", pt_msgtype_name(q.type),
				 code ? pt_errcode_name(code) : "admitted");
		pt_rep_clear(&rep);
		ptbuf_free(out);
	}
	/* the "systemd" actor's executable naming what is not a unit of a type
	 * with credentials: refused before anything is asked of systemd */
	snprintf(
		conf, sizeof(conf),
		"tokend: { state_dir = \"%s\"; socket = \"%s/sock\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"systemd\"; uid = 0; exe = [ \"/bin/bash\" ]; } );\n"
		"redeem = ( { name = \"r\"; holders = [ \"systemd\" ]; check_account = false; } );\n",
		dir, dir);
	assert_int_equal(pt_config_load_string(conf, "cred.conf", &cfg, err, sizeof(err)), 0);
	d.cfg = cfg;
	for (size_t i = 0; i < 3; i++) {
		static const char *const bad[] = { "x.target", "a b.service", ".service" };
		struct pt_req q = { .type = PT_CREDENTIAL,
				    .service = (char *)bad[i],
				    .id = (char *)"pertok" };
		struct ptbuf *out = ptbuf_new(4 + PT_MAX_FRAME);
		uint32_t code;

		assert_non_null(out);
		pt_ops_handle(&d, &peer, &q, NULL, out);
		code = reply_of(q.type, out, &rep);
		if (code != PT_E_PERM || !rep.message ||
		    !strstr(rep.message, "not a valid unit name"))
			fail_msg("credential for \"%s\": %s (%s)", bad[i],
				 code ? pt_errcode_name(code) : "admitted",
				 rep.message ? rep.message : "");
		pt_rep_clear(&rep);
		ptbuf_free(out);
	}
	d.cfg = saved;
	pt_config_free(cfg);
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

/* ------------------------------------------------------ directory down */

/* A name-service error at redemption (emulated here; tests/daemon/
 * test-directory does it through glibc): refused naming the error by
 * default, never taken for a missing account; tokend.offline = "cached"
 * redeems from the identity recorded with the token; explain agrees. */
static void test_directory_down(void **state)
{
	struct pt_req q = { .type = PT_REDEEM,
			    .user = (char *)"alice",
			    .holder = (char *)"atd",
			    .service = (char *)"atd" };
	struct pt_req x = { .type = PT_EXPLAIN, .user = (char *)"alice", .holder = (char *)"atd" };
	struct pt_rep rep;

	(void)state;
	persist("alice");
	accounts[1].unavail = true;
	assert_int_equal(call(ATD, &q, &rep), PT_E_DENIED);
	assert_string_equal(rep.message,
			    "the directory is unreachable (getpwnam_r(alice): No route "
			    "to host): account alice cannot be checked "
			    "(tokend.offline = \"deny\")");
	pt_rep_clear(&rep);
	assert_int_equal(call(ROOT, &x, NULL), PT_E_DENIED);
	d.cfg->offline_cached = true;
	assert_int_equal(call(ATD, &q, NULL), 0);
	assert_int_equal(call(ROOT, &x, &rep), 0);
	assert_non_null(strstr(rep.text, "the identity recorded with the token"));
	assert_non_null(strstr(rep.text, "account: uid 1000"));
	pt_rep_clear(&rep);
	/* the directory back: redeems from NSS again */
	accounts[1].unavail = false;
	d.cfg->offline_cached = false;
	assert_int_equal(call(ATD, &q, NULL), 0);
}

/* ------------------------------------------------------------ code sheets */

static uint32_t sheet(const char *user, uint32_t n, struct pt_rep *rep)
{
	struct pt_req q = {
		.type = PT_CODE_SHEET, .ttype = (char *)"recovery", .user = (char *)user, .count = n
	};

	return call(ROOT, &q, rep);
}

static uint32_t check(const char *type, const char *user, const char *code, struct pt_rep *rep)
{
	struct pt_req q = { .type = PT_CODE_CHECK,
			    .ttype = (char *)type,
			    .user = (char *)user,
			    .code = (char *)code };

	return call(ATD, &q, rep);
}

static uint32_t list_codes(const char *user, struct pt_rep *rep)
{
	struct pt_req q = { .type = PT_CODE_LIST,
			    .ttype = (char *)"recovery",
			    .user = (char *)user };

	return call(ROOT, &q, rep);
}

/* Whether any file under dir/codes holds s. */
static bool codes_dir_holds(const char *s)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "grep -rqF -- '%s' '%s/codes'", s, dir);
	return system(cmd) == 0;
}

/* A sheet: N codes with ids 1..N, any unused one accepted once, a used one
 * refused (as a failure), the ids listed used/unused, never a code stored;
 * a new sheet replaces the old one; N is bounded. */
static void test_code_sheet(void **state)
{
	struct pt_rep rep, lst;
	char *codes[5];

	(void)state;
	assert_int_equal(sheet("alice", 5, &rep), 0);
	assert_int_equal(rep.n_codes, 5);
	assert_true(rep.exp > now_s);
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(rep.codes[i].id, i + 1);
		assert_int_equal(strlen(rep.codes[i].code), 12);
		codes[i] = strdup(rep.codes[i].code);
		for (uint32_t j = 0; j < i; j++)
			assert_string_not_equal(codes[i], codes[j]);
		assert_false(codes_dir_holds(codes[i]));
	}
	pt_rep_clear(&rep);
	assert_true(codes_dir_holds("version=2\n"));

	/* code 3, then code 5: each once */
	assert_int_equal(check("recovery", "alice", codes[2], &rep), 0);
	assert_int_equal(rep.count, 0); /* num_uses = 1: spent */
	pt_rep_clear(&rep);
	assert_int_equal(check("recovery", "alice", codes[2], &rep), PT_E_INVALID);
	assert_non_null(strstr(rep.message, "code 3 of the sheet was already used"));
	pt_rep_clear(&rep);
	assert_int_equal(list_codes("alice", &lst), 0);
	assert_int_equal(lst.failures, 1); /* the reuse counts as a failure */
	pt_rep_clear(&lst);
	assert_int_equal(check("recovery", "alice", codes[4], NULL), 0);

	assert_int_equal(list_codes("alice", &lst), 0);
	assert_int_equal(lst.n_codes, 5);
	assert_int_equal(lst.failures, 0); /* a success resets them */
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(lst.codes[i].id, i + 1);
		assert_null(lst.codes[i].code);
		assert_int_equal(lst.codes[i].spent, i == 2 || i == 4);
		assert_int_equal(lst.codes[i].uses, i == 2 || i == 4 ? 1 : 0);
	}
	pt_rep_clear(&lst);

	/* a new sheet replaces the old one: its unused codes stop working */
	assert_int_equal(sheet("alice", 2, &rep), 0);
	assert_int_equal(check("recovery", "alice", codes[0], NULL), PT_E_INVALID);
	assert_int_equal(check("recovery", "alice", rep.codes[1].code, NULL), 0);
	pt_rep_clear(&rep);
	assert_int_equal(list_codes("alice", &lst), 0);
	assert_int_equal(lst.n_codes, 2);
	assert_int_equal(lst.codes[1].spent, 1);
	pt_rep_clear(&lst);

	/* bounded: 1..PT_CODE_MAX_SHEET */
	assert_int_equal(sheet("alice", PT_CODE_MAX_SHEET + 1, &rep), PT_E_INVALID);
	assert_string_equal(rep.message, "a sheet holds 1 to 20 codes, not 21");
	pt_rep_clear(&rep);
	assert_int_equal(sheet("carol", PT_CODE_MAX_SHEET, &rep), 0);
	assert_int_equal(rep.n_codes, PT_CODE_MAX_SHEET);
	pt_rep_clear(&rep);
	for (int i = 0; i < 5; i++)
		pt_free_secret(codes[i]);
}

/* max_failures wrong codes revoke the whole sheet and lock the user out. */
static void test_code_sheet_lockout(void **state)
{
	struct pt_rep rep, lst;
	char good[16];

	(void)state;
	assert_int_equal(sheet("alice", 3, &rep), 0);
	snprintf(good, sizeof(good), "%s", rep.codes[0].code);
	pt_rep_clear(&rep);
	assert_int_equal(check("recovery", "alice", "AAAAAAAAAAAA", NULL), PT_E_INVALID);
	assert_int_equal(check("recovery", "alice", "AAAAAAAAAAAB", NULL), PT_E_INVALID);
	assert_int_equal(check("recovery", "alice", "AAAAAAAAAAAC", &rep), PT_E_LIMIT);
	assert_non_null(strstr(rep.message, "codes revoked, user locked out"));
	pt_rep_clear(&rep);
	assert_int_equal(check("recovery", "alice", good, NULL), PT_E_LIMIT);
	assert_int_equal(list_codes("alice", &lst), 0);
	assert_int_equal(lst.n_codes, 0);
	assert_true(lst.locked_until > now_s);
	pt_rep_clear(&lst);
	explicit_bzero(good, sizeof(good));
}

/* Every check does PT_CODE_MAX_SHEET hashes before it decides, whatever it
 * names: an unknown type, an unknown user, a user without codes, a wrong
 * code, a good one, a locked-out user. */
static void test_code_equal_work(void **state)
{
	static const struct {
		const char *type, *user;
		bool good;
		uint32_t expect;
	} cases[] = {
		{ "nosuchtype", "alice", false, PT_E_NOTFOUND },
		{ "recovery", "nobody-here", false, PT_E_INVALID },
		{ "recovery", "bad/name", false, PT_E_INVALID },
		{ "recovery", "alice", false, PT_E_INVALID },
		{ "recovery", "alice", true, 0 },
		{ "recovery", "dave", false, PT_E_LIMIT },
	};
	struct pt_rep rep;
	char good[16];

	(void)state;
	assert_int_equal(sheet("alice", 4, &rep), 0);
	snprintf(good, sizeof(good), "%s", rep.codes[3].code);
	pt_rep_clear(&rep);
	assert_int_equal(sheet("dave", 1, NULL), 0);
	for (int i = 0; i < 3; i++)
		(void)check("recovery", "dave", "AAAAAAAAAAAA", NULL);
	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		uint64_t before = pt_codes_hash_count();
		uint32_t code = check(cases[i].type, cases[i].user,
				      cases[i].good ? good : "ZZZZZZZZZZZZ", NULL);

		if (code != cases[i].expect)
			fail_msg("case %zu: %s, expected %s", i, pt_errcode_name(code),
				 pt_errcode_name(cases[i].expect));
		if (pt_codes_hash_count() - before != PT_CODE_MAX_SHEET)
			fail_msg("case %zu (%s, %s): %" PRIu64 " hashes, expected %d", i,
				 cases[i].type, cases[i].user, pt_codes_hash_count() - before,
				 PT_CODE_MAX_SHEET);
	}
	explicit_bzero(good, sizeof(good));
}

/* The path of (type, user)'s record, as codes.c names it. */
static void record_file(const char *type, const char *user, char *path, size_t len)
{
	uint8_t key[128], h[32];
	size_t tl = strlen(type), ul = strlen(user);
	char hx[41];

	memcpy(key, type, tl + 1);
	memcpy(key + tl + 1, user, ul);
	SHA256(key, tl + 1 + ul, h);
	for (int i = 0; i < 20; i++)
		snprintf(hx + 2 * i, 3, "%02x", h[i]);
	snprintf(path, len, "%s/codes/%s.code", dir, hx);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A version 1 record (one code, no id) still works, as code 1 of a sheet,
 * and is written back as version 2; an unknown version is refused with a
 * precise message, the record left as it was. */
static void test_code_record_versions(void **state)
{
	uint8_t salt[PT_CODE_SALTLEN], h[PT_CODE_HASHLEN];
	char path[512], text[1024], hx[65], sx[33], err[160];
	struct pt_code_rec rec;
	struct pt_rep lst;

	(void)state;
	assert_int_equal(sheet("alice", 1, NULL), 0); /* makes STATE/codes */
	memset(salt, 3, sizeof(salt));
	assert_int_equal(pt_codes_hash(salt, "recovery", "alice", "OLDCODE12345", h), 0);
	for (int i = 0; i < 32; i++)
		snprintf(hx + 2 * i, 3, "%02x", h[i]);
	for (int i = 0; i < 16; i++)
		snprintf(sx + 2 * i, 3, "%02x", salt[i]);
	snprintf(text, sizeof(text),
		 "type=recovery\nuser=alice\nsalt=%s\nhash=%s\niat=%" PRIu64 "\nlast_used=%" PRIu64
		 "\nhard_exp=%" PRIu64 "\nuses=0\nfailures=0\n"
		 "locked_until=0\nbucket_milli=0\nbucket_ts=0\n",
		 sx, hx, now_s, now_s, now_s + 3600);
	record_file("recovery", "alice", path, sizeof(path));
	write_text(path, text);
	assert_int_equal(list_codes("alice", &lst), 0);
	assert_int_equal(lst.n_codes, 1);
	assert_int_equal(lst.codes[0].id, 1);
	pt_rep_clear(&lst);
	assert_int_equal(check("recovery", "alice", "OLDCODE12345", NULL), 0);
	assert_int_equal(check("recovery", "alice", "OLDCODE12345", NULL), PT_E_INVALID);
	assert_true(codes_dir_holds("version=2\n"));

	write_text(path, "version=3\ntype=recovery\nuser=alice\n");
	assert_int_equal(check("recovery", "alice", "OLDCODE12345", NULL), PT_E_INTERNAL);
	assert_int_equal(sheet("alice", 1, NULL), PT_E_INTERNAL);
	assert_true(codes_dir_holds("version=3\n")); /* not overwritten */
	assert_int_equal(pt_codes_load(dir, "recovery", "alice", &rec, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_string_equal(err, "line 1: record version 3 is not supported (this tokend reads 1 "
				 "and 2)");
	/* precise messages for broken version 2 lines */
	{
		static const struct {
			const char *text, *err;
		} bad[] = {
			{ "version=2\ncode=1 0 0 0 00 00\n",
			  "line 2: code: bad salt or hash (hex)" },
			{ "version=2\ncode=2 0 0 0 00 00\n",
			  "line 2: code: id 2 out of order (ids are 1, 2, ...)" },
			{ "version=2\ncode=1 0 0 0\n",
			  "line 2: code: needs 6 fields (id uses spent last_used salt hash)" },
			{ "version=2\nuses=1\n", "line 2: unknown or out-of-range key uses" },
			{ "type=recovery\nversion=2\n", "line 2: version must be the first line" },
			{ "version=2\ncode=1 0 2 0 0 0\n",
			  "line 2: code: bad uses, spent or last_used" },
		};
		for (size_t i = 0; i < PT_ELEMENTSOF(bad); i++) {
			assert_int_equal(pt_codes_parse(bad[i].text, strlen(bad[i].text),
							"recovery", "alice", &rec, err,
							sizeof(err)),
					 -EBADMSG);
			assert_string_equal(err, bad[i].err);
		}
	}
}

/* A live token from atd's redemption for user (the caller frees it). */
static char *redeemed(const char *user)
{
	struct pt_req q = { .type = PT_REDEEM,
			    .user = (char *)user,
			    .holder = (char *)"atd",
			    .service = (char *)"atd" };

	return token_of(ATD, &q);
}

/* From when token may be refreshed (pt_refresh_from of its iat and exp). */
static uint64_t due_of(const char *token)
{
	struct pt_live_claims cl = { 0 };
	const char *why = NULL;
	uint64_t due;

	assert_int_equal(pt_live_verify(d.keys, d.cfg->audience, token, now_s, &cl, &why), 0);
	due = pt_refresh_from(cl.iat, cl.exp);
	pt_live_claims_clear(&cl);
	return due;
}

/* The ptk claim of token, verified (caller frees). */
static char *ptk_of(const char *token)
{
	struct pt_live_claims cl = { 0 };
	const char *why = NULL;
	char *ptk;

	assert_int_equal(pt_live_verify(d.keys, d.cfg->audience, token, now_s, &cl, &why), 0);
	assert_non_null(cl.ptk);
	ptk = strdup(cl.ptk);
	pt_live_claims_clear(&cl);
	return ptk;
}

/* SELF's (alice's) refresh of token: the error code (0: ok), the reply in
 * *ret (caller pt_rep_clear()s). */
static uint32_t refresh_self(const char *token, struct pt_rep *ret)
{
	struct pt_req q = { .type = PT_REFRESH, .live_token = (char *)token };

	return call(SELF, &q, ret);
}

/* SELF's refresh of token is refused with code and message. */
static void refresh_refused(const char *token, uint32_t code, const char *message)
{
	struct pt_rep rep;

	assert_int_equal(refresh_self(token, &rep), code);
	assert_string_equal(rep.message, message);
	pt_rep_clear(&rep);
}

/* token's claims changed by change, signed again with tokend's key (what
 * no client can do): the refresh of it by SELF (alice's uid). */
static uint32_t refresh_resigned(const char *token, void (*change)(struct pt_live_claims *))
{
	struct pt_live_claims cl = { 0 };
	const char *why = NULL;
	char *forged = NULL;
	struct pt_req q = { .type = PT_REFRESH };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(pt_live_verify(d.keys, d.cfg->audience, token, now_s, &cl, &why), 0);
	change(&cl);
	assert_int_equal(pt_live_sign(d.keys, d.cfg->alg, &cl, &forged), 0);
	q.live_token = forged;
	code = call(SELF, &q, &rep);
	pt_rep_clear(&rep);
	pt_live_claims_clear(&cl);
	pt_free_secret(forged);
	return code;
}

static char carol_ptk[64];
static void ptk_of_carol(struct pt_live_claims *c)
{
	assert_int_equal(pt_live_set_str(&c->ptk, carol_ptk), 0);
}
static void holder_cron(struct pt_live_claims *c)
{
	assert_int_equal(pt_live_set_str(&c->act[0], "cron"), 0);
}
static void sub_carol(struct pt_live_claims *c)
{
	assert_int_equal(pt_live_set_str(&c->sub, "carol"), 0);
}
static void unchanged(struct pt_live_claims *c)
{
	(void)c;
}
static void no_actor(struct pt_live_claims *c)
{
	for (size_t i = 0; i < c->n_act; i++) {
		free(c->act[i]);
		c->act[i] = NULL;
	}
	c->n_act = 0;
}

/* REFRESH mints only for the persistable token the live token names, and
 * only when that token is the live token's user's and holder's: a live
 * token (validly signed) naming carol's token, another holder, or another
 * user name is refused as if the token were gone; one without the actor
 * that redeemed it is no redemption's. */
static void test_refresh_own_token_only(void **state)
{
	char *alice, *carol, *p;

	(void)state;
	persist("alice");
	persist("carol");
	alice = redeemed("alice");
	carol = redeemed("carol");
	/* carol's ptk, read from her token's claims */
	{
		struct pt_live_claims cl = { 0 };
		const char *why = NULL;

		assert_int_equal(pt_live_verify(d.keys, d.cfg->audience, carol, now_s, &cl, &why),
				 0);
		assert_non_null(cl.ptk);
		snprintf(carol_ptk, sizeof(carol_ptk), "%s", cl.ptk);
		pt_live_claims_clear(&cl);
	}
	now_s = due_of(alice); /* half of its lifetime left: refreshable */
	assert_int_equal(refresh_resigned(alice, unchanged), 0); /* the checks below can fail */
	assert_int_equal(refresh_resigned(alice, ptk_of_carol), PT_E_NOTFOUND);
	assert_int_equal(refresh_resigned(alice, holder_cron), PT_E_NOTFOUND);
	assert_int_equal(refresh_resigned(alice, sub_carol), PT_E_NOTFOUND);
	/* a ptk but no actor: not a redemption's token */
	assert_int_equal(refresh_resigned(alice, no_actor), PT_E_INVALID);
	p = alice;
	pt_free_secret(p);
	pt_free_secret(carol);
}

/* A refresh is refused while more than half of the token's lifetime is
 * left (PT_E_LIMIT, saying until when), from then on granted; the refused
 * ones count no use and are not noted on the persistable token (a job's
 * own retries), and neither is a refresh the rules refuse (a redemption's
 * refusal is). */
static void test_refresh_when_due(void **state)
{
	struct pt_record *rec;
	struct pt_rep rep;
	char *t1, expect[256], when[32];
	uint64_t due;
	uint32_t uses;
	struct tm tm;
	time_t tt;

	(void)state;
	persist("alice");
	t1 = redeemed("alice");
	rec = pt_store_find_slot(d.store, "alice", "atd");
	assert_non_null(rec);
	uses = rec->uses;
	due = due_of(t1);
	assert_int_equal(due, now_s + 150); /* a 5m token, from half of it */
	tt = (time_t)due;
	assert_non_null(gmtime_r(&tt, &tm));
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(expect, sizeof(expect),
		 "too early: this token has 151s left of 5m; refresh when at most half is left "
		 "(from %s)",
		 when);

	now_s = due - 1;
	refresh_refused(t1, PT_E_LIMIT, expect);
	assert_int_equal(rec->uses, uses);
	assert_int_equal(rec->refusals, 0);

	now_s = due;
	assert_int_equal(refresh_self(t1, &rep), 0);
	assert_non_null(rep.token);
	pt_rep_clear(&rep);
	assert_int_equal(rec->uses, uses + 1);

	/* refused by the rules (the account is gone): not noted either... */
	set_account("alice", false, 1000);
	assert_int_equal(refresh_self(t1, NULL), PT_E_DENIED);
	assert_int_equal(rec->refusals, 0);
	/* ... where a redemption's refusal is (the check above can fail) */
	assert_false(redeem_allows("alice"));
	assert_int_equal(rec->refusals, 1);
	set_account("alice", true, 1000);
	pt_free_secret(t1);
}

/* A login renews the persistable token (a new id, the old one gone): the
 * running job's refresh goes on with the new one, which the fresh token
 * names. Gone with no successor of the same uid, the refusal says which. */
static void test_refresh_after_renewal(void **state)
{
	struct pt_record *rec;
	struct pt_rep rep;
	char *t1, *ptk, id1[64], id2[64], expect[512];

	(void)state;
	persist("alice");
	snprintf(id1, sizeof(id1), "%s", pt_store_find_slot(d.store, "alice", "atd")->id);
	t1 = redeemed("alice");
	persist("alice"); /* she logs in again */
	rec = pt_store_find_slot(d.store, "alice", "atd");
	snprintf(id2, sizeof(id2), "%s", rec->id);
	assert_string_not_equal(id1, id2);
	assert_null(pt_store_find_id(d.store, id1));

	now_s = due_of(t1);
	assert_int_equal(refresh_self(t1, &rep), 0);
	ptk = ptk_of(rep.token);
	assert_string_equal(ptk, id2);
	free(ptk);
	pt_rep_clear(&rep);
	assert_int_equal(rec->uses, 1);

	/* the successor revoked: nothing to go on with */
	assert_int_equal(pt_store_remove(d.store, id2), 0);
	snprintf(expect, sizeof(expect),
		 "the persistable token %s is gone and user alice has none for holder atd "
		 "(revoked, or renewed away and then revoked, or expired and removed)",
		 id1);
	refresh_refused(t1, PT_E_NOTFOUND, expect);

	/* the name is another uid's now, and so is its token */
	set_account("alice", true, 2000);
	persist("alice");
	snprintf(expect, sizeof(expect),
		 "the persistable token %s is gone, and user alice's current one for holder "
		 "atd is another uid's (2000, not 1000)",
		 id1);
	refresh_refused(t1, PT_E_NOTFOUND, expect);
	set_account("alice", true, 1000);
	pt_free_secret(t1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test_setup_teardown(test_caller_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credential_socket_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_sees_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_agrees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exchange_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_code_sheet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_code_sheet_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_code_equal_work, setup, teardown),
		cmocka_unit_test_setup_teardown(test_code_record_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grant_without_spec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_own_token_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_when_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_after_renewal, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
