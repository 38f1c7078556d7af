/* SPDX-License-Identifier: MIT */
/*
 * pam_pertok against a real tokend, run by tests/pam/test-pam.sh under
 * pam_wrapper (which sets up tokend, the PAM service files and these
 * environment variables):
 *   PERTOK_TEST_SOCKET  tokend's socket
 *   PERTOK_TEST_ABSENT  a socket path nobody listens on
 *   PERTOK_TEST_SLOW    where this program listens and never answers
 *   PERTOK_TEST_DIR     the temporary directory (services/ holds the PAM services)
 *
 * Everything goes through libpamtest and real stacks (the module's entry
 * points cannot be called directly: pam_set_data and pam_modutil refuse to
 * work outside a module dispatch). The "pt-probe-*" services show the
 * module's own return code: its line is
 *   TYPE [success=done ignore=ignore default=die] pam_pertok.so ...
 * followed by pam_debug.so returning PAM_CRED_UNAVAIL, so the stack returns
 * the module's code, with PAM_IGNORE turned into PAM_CRED_UNAVAIL
 * (MODULE_IGNORED below).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <keyutils.h>
#include <limits.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <security/pam_modules.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpamtest.h>

#include "client.h"
#include "jws.h"
#include "proto.h"
#include "util.h"

#define USER "nobody"  /* gets tokens for holders atd and cron */
#define NOTOKEN "root" /* never gets one */
#define NOUSER "pertok-test-no-such-user"
#define MODULE_IGNORED PAM_CRED_UNAVAIL /* what a probe stack returns for PAM_IGNORE */

static struct {
	const char *sock, *absent, *slow;
	int slow_fd;
	uid_t uid;
	gid_t gid;
} env;

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ms(void)
{
	return pt_now_ms_monotonic();
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void fresh_session_keyring(void)
{
	assert_true(keyctl_join_session_keyring(NULL) > 0);
}

static key_serial_t session_keyring_id(void)
{
	return keyctl_get_keyring_ID(KEY_SPEC_SESSION_KEYRING, 0);
}

/* The live token in the session keyring (malloc'd), or NULL. */
static char *read_live_key(key_serial_t *ret_key)
{
	void *buf = NULL;
	long key;

	key = keyctl_search(KEY_SPEC_SESSION_KEYRING, "user", "pertok:live", 0);
	if (key < 0)
		return NULL;
	if (keyctl_read_alloc((key_serial_t)key, &buf) < 0)
		return NULL;
	if (ret_key)
		*ret_key = (key_serial_t)key;
	return buf;
}

/* Drops the live key of this session (keeps the user's key quota low). */
static int drop_live_key(void **state)
{
	long key = keyctl_search(KEY_SPEC_SESSION_KEYRING, "user", "pertok:live", 0);

	if (key >= 0)
		(void)keyctl_invalidate((key_serial_t)key);
	return 0;
}

/* A session keyring of the user's own, as pam_keyinit makes for a login. */
static void user_session_keyring(void)
{
	fresh_session_keyring();
	assert_int_equal(keyctl_chown(KEY_SPEC_SESSION_KEYRING, env.uid, env.gid), 0);
}

static int setup_test(void **state)
{
	user_session_keyring();
	return 0;
}

/* Owner, group and permissions from keyctl_describe: "user;UID;GID;PERM;DESC". */
static void assert_key_shape(key_serial_t key)
{
	char *desc = NULL, type[32], name[64];
	unsigned uid, gid, perm;
	char line[256], hex[16];
	bool found = false;
	FILE *f;

	assert_true(keyctl_describe_alloc(key, &desc) > 0);
	assert_int_equal(sscanf(desc, "%31[^;];%u;%u;%x;%63s", type, &uid, &gid, &perm, name), 5);
	free(desc);
	assert_string_equal(type, "user");
	assert_string_equal(name, "pertok:live");
	assert_int_equal(uid, env.uid);
	assert_int_equal(gid, env.gid);
	assert_int_equal(perm, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH);

	/* a kernel timeout is set: /proc/keys shows it instead of "perm" */
	snprintf(hex, sizeof(hex), "%08x ", (unsigned)key);
	f = fopen("/proc/keys", "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char timeout[16];

		if (strncmp(line, hex, strlen(hex)) != 0)
			continue;
		found = true;
		assert_int_equal(sscanf(line, "%*s %*s %*s %15s", timeout), 1);
		if (strcmp(timeout, "perm") == 0)
			fail_msg("key %08x has no timeout", (unsigned)key);
	}
	fclose(f);
	assert_true(found);
}

/* Decodes a live token's claims (not verified: display only). */
static struct json_object *claims_of(const char *token)
{
	char *header = NULL, *payload = NULL;
	struct json_object *o;

	assert_int_equal(pt_jws_decode_unverified(token, &header, &payload), 0);
	o = json_tokener_parse(payload);
	free(header);
	free(payload);
	assert_non_null(o);
	return o;
}

static const char *claim_str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The current actor (act.sub) and the one before (act.act.sub). */
static void assert_actors(struct json_object *claims, const char *actor, const char *prior)
{
	struct json_object *act, *inner;

	assert_true(json_object_object_get_ex(claims, "act", &act));
	assert_string_equal(claim_str(act, "sub"), actor);
	if (prior) {
		assert_true(json_object_object_get_ex(act, "act", &inner));
		assert_string_equal(claim_str(inner, "sub"), prior);
	} else
		assert_false(json_object_object_get_ex(act, "act", &inner));
}

/* tokend's record of user's persistable token for holder (LIST as root). */
struct tokrec {
	bool found;
	char id[PT_MAX_STR + 1];
	char actor[PT_MAX_STR + 1];
	uint32_t uses;
	uint64_t exp;
};

static struct tokrec lookup_token(const char *user, const char *holder)
{
	struct pt_req req = { .type = PT_LIST, .user = (char *)user };
	struct pt_rep rep = {};
	struct pt_client *c = NULL;
	struct tokrec t = {};

	assert_int_equal(pt_client_connect(env.sock, 3000, &c), 0);
	assert_int_equal(pt_client_call(c, &req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	for (uint32_t i = 0; i < rep.n_list; i++) {
		const struct pt_tokinfo *ti = &rep.list[i];

		if (strcmp(ti->user, user) != 0 || strcmp(ti->holder, holder) != 0)
			continue;
		assert_false(t.found); /* one token per (user, holder) */
		t.found = true;
		snprintf(t.id, sizeof(t.id), "%s", ti->id);
		snprintf(t.actor, sizeof(t.actor), "%s", ti->actor);
		t.uses = ti->uses;
		t.exp = ti->exp;
	}
	pt_rep_clear(&rep);
	pt_client_free(c);
	return t;
}

/* The PAM_TEXT_INFO messages of the last run_stack (pam_debug in the probes
 * sends them too), "" after the last. */
static char info[8][PAM_MAX_MSG_SIZE];

static void run_stack(const char *service, const char *user, struct pam_testcase *tests, size_t n)
{
	static char err[8][PAM_MAX_MSG_SIZE];
	char *out_info[9] = { 0 }, *out_err[9] = { 0 };
	struct pamtest_conv_data conv = { .out_info = out_info, .out_err = out_err };
	enum pamtest_err perr;

	memset(info, 0, sizeof(info));
	for (size_t i = 0; i < 8; i++) {
		out_info[i] = info[i];
		out_err[i] = err[i];
	}
	perr = _pamtest(service, user, &conv, tests, n, NULL);
	if (perr == PAMTEST_ERR_CASE) {
		const struct pam_testcase *f = _pamtest_failed_case(tests, n);

		/* (no pam_strerror: pam_wrapper's needs a handle) */
		fail_msg("%s/%s: operation %d (case %zu) returned %d, expected %d", service, user,
			 f->pam_operation, (size_t)(f - tests), f->op_rv, f->expected_rv);
	}
	if (perr != PAMTEST_ERR_OK)
		fail_msg("%s/%s: %s", service, user, pamtest_strerror(perr));
}

#define RUN_STACK(service, user, ...)                                     \
	do {                                                              \
		struct pam_testcase t_[] = { __VA_ARGS__ };               \
		run_stack(service, user, t_, sizeof(t_) / sizeof(t_[0])); \
	} while (0)

/* Issues tokens for USER (holders atd and cron) through the login stack. */
/* A login: pam_keyinit's session keyring of the user's own, then the module. */
static void issue(void)
{
	user_session_keyring();
	RUN_STACK("pt-issue", USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
		  pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
}

/* ---------------------------------------------------------------- tests */

static void test_issue_puts_token_in_keyring(void **state)
{
	struct json_object *claims, *v;
	key_serial_t key = 0;
	struct tokrec atd, cron;
	char *token;

	issue();

	token = read_live_key(&key);
	assert_non_null(token);
	assert_key_shape(key);
	claims = claims_of(token);
	assert_string_equal(claim_str(claims, "sub"), USER);
	assert_string_equal(claim_str(claims, "aud"), "pertok");
	assert_string_equal(claim_str(claims, "svc"), "pt-issue");
	assert_true(json_object_object_get_ex(claims, "uid", &v));
	assert_int_equal(json_object_get_int64(v), env.uid);
	assert_false(json_object_object_get_ex(claims, "ptk", &v)); /* minted, not redeemed */
	assert_actors(claims, "login", NULL);
	json_object_put(claims);
	pt_free_secret(token);

	/* one EXCHANGE per holder */
	atd = lookup_token(USER, "atd");
	cron = lookup_token(USER, "cron");
	assert_true(atd.found);
	assert_true(cron.found);
	assert_string_equal(atd.actor, "login");
	assert_string_equal(cron.actor, "login");
}

/* A session keyring that is not the user's (su without pam_keyinit: the
 * caller's, here root's): the live token is not placed there, the log says
 * so, and the persistable tokens are still made. */
static void test_issue_foreign_keyring_refused(void **state)
{
	key_serial_t key = 0;
	struct tokrec atd;
	char *token;

	fresh_session_keyring(); /* root's, not USER's */
	/* pt-issue has onerror=fail: the refusal is reported */
	RUN_STACK("pt-issue", USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SESSION_ERR));
	token = read_live_key(&key);
	if (token) {
		pt_free_secret(token);
		fail_msg("the live token was placed in a session keyring owned by uid 0");
	}
	atd = lookup_token(USER, "atd");
	assert_true(atd.found);
}

static void test_issue_again_renews(void **state)
{
	struct tokrec before, after;
	char *live1, *live2;

	issue();
	live1 = read_live_key(NULL);
	assert_non_null(live1);
	/* a job uses the first token once */
	RUN_STACK("atd", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS));
	before = lookup_token(USER, "atd");
	assert_true(before.found);
	assert_int_equal(before.uses, 1);

	issue();
	live2 = read_live_key(NULL);
	assert_non_null(live2);
	after = lookup_token(USER, "atd");
	assert_true(
		after.found); /* still one token for (user, holder): lookup_token asserts that */
	/* the second login renewed it: a new persistable token (new id, uses
	 * counted from zero, expiry not earlier) and a new live token */
	assert_string_not_equal(after.id, before.id);
	assert_int_equal(after.uses, 0);
	assert_true(after.exp >= before.exp);
	assert_string_not_equal(live1, live2);
	pt_free_secret(live1);
	pt_free_secret(live2);
}

static void test_redeem_installs_key(void **state)
{
	key_serial_t ring_before = session_keyring_id(), key = 0;
	struct json_object *claims;
	struct tokrec t;
	char *token;

	issue();
	drop_live_key(state); /* the issue's key: the redeemed one must be new */
	t = lookup_token(USER, "atd");
	assert_true(t.found);

	RUN_STACK("atd", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
		  pam_test(PAMTEST_SETCRED, PAM_SUCCESS),
		  pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));

	/* a fresh session keyring was joined, holding the new live token */
	assert_int_not_equal(session_keyring_id(), ring_before);
	token = read_live_key(&key);
	assert_non_null(token);
	assert_key_shape(key);
	claims = claims_of(token);
	assert_string_equal(claim_str(claims, "sub"), USER);
	assert_string_equal(claim_str(claims, "ptk"), t.id);
	assert_string_equal(claim_str(claims, "svc"), "atd");
	assert_actors(claims, "atd", "login");
	json_object_put(claims);
	pt_free_secret(token);
	assert_int_equal(lookup_token(USER, "atd").uses, t.uses + 1);
}

/* The uses tokend recorded of entitlement name of USER for holder atd
 * (pertokctl recommend --json's "uses"), -1 when none is recorded. */
static int recorded_uses(const char *name)
{
	struct pt_req req = { .type = PT_RECOMMEND,
			      .user = (char *)USER,
			      .holder = (char *)"atd",
			      .format = PT_REC_JSON };
	struct pt_rep rep = {};
	struct pt_client *c = NULL;
	char needle[300];
	const char *p;
	int uses = -1;

	assert_int_equal(pt_client_connect(env.sock, 3000, &c), 0);
	assert_int_equal(pt_client_call(c, &req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	snprintf(needle, sizeof(needle), "\"name\":\"%s\"", name);
	p = strstr(rep.text, needle);
	if (p && (p = strstr(p, "\"uses\":")))
		uses = atoi(p + 7);
	pt_rep_clear(&rep);
	pt_client_free(c);
	return uses;
}

/* accept require=: a job's own live token, from the PAM authtok (the
 * conversation's answer) or the caller's session keyring, is accepted when
 * it carries every entitlement required, each then recorded as used; one
 * it lacks is refused with tokend's reason shown to the user; a login's
 * token (not a job's) is refused. */
static void test_accept_live(void **state)
{
	char *out_err[4] = { 0 }, err[3][PAM_MAX_MSG_SIZE] = { { 0 } };
	const char *in[2] = { NULL, NULL };
	struct pamtest_conv_data conv = { .in_echo_off = in, .out_err = out_err };
	struct pam_testcase ok[] = { pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS) };
	struct pam_testcase denied[] = { pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR) };
	char *token, *login;

	(void)state;
	for (size_t i = 0; i < 3; i++)
		out_err[i] = err[i];
	issue();
	login = read_live_key(NULL);
	assert_non_null(login);
	drop_live_key(state);
	RUN_STACK("atd", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS));
	token = read_live_key(NULL);
	assert_non_null(token);
	assert_int_equal(recorded_uses("reports"), 0); /* granted by the redemption */

	/* the authtok */
	in[0] = token;
	assert_int_equal(_pamtest("pt-accept", USER, &conv, ok, 1, NULL), PAMTEST_ERR_OK);
	assert_int_equal(recorded_uses("reports"), 1);
	/* the keyring, two entitlements */
	RUN_STACK("pt-accept-keyring", USER, pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS));
	assert_int_equal(recorded_uses("reports"), 2);
	assert_int_equal(recorded_uses("db-admin"), 1);
	/* an entitlement the token lacks: refused, the user told why */
	assert_int_equal(_pamtest("pt-accept-root", USER, &conv, denied, 1, NULL), PAMTEST_ERR_OK);
	assert_non_null(strstr(err[0], "does not carry entitlement root-shell"));
	assert_int_equal(recorded_uses("reports"), 2);
	/* a login's token is not a job's */
	in[0] = login;
	memset(err, 0, sizeof(err));
	assert_int_equal(_pamtest("pt-accept", USER, &conv, denied, 1, NULL), PAMTEST_ERR_OK);
	assert_non_null(strstr(err[0], "not a live token from a job"));
	/* another user's name in PAM_USER */
	in[0] = token;
	assert_int_equal(_pamtest("pt-accept", NOTOKEN, &conv, denied, 1, NULL), PAMTEST_ERR_OK);
	assert_int_equal(recorded_uses("reports"), 2);
	pt_free_secret(token);
	pt_free_secret(login);
}

/* Each order of stages redeems exactly once per handle. */
static void test_stage_orders_redeem_once(void **state)
{
	static const enum pamtest_ops orders[][3] = {
		{ PAMTEST_ACCOUNT, PAMTEST_OPEN_SESSION, PAMTEST_SETCRED }, /* atd */
		{ PAMTEST_ACCOUNT, PAMTEST_SETCRED, PAMTEST_OPEN_SESSION }, /* cron, systemd */
		{ PAMTEST_OPEN_SESSION, PAMTEST_ACCOUNT, PAMTEST_SETCRED },
		{ PAMTEST_SETCRED, PAMTEST_OPEN_SESSION, PAMTEST_ACCOUNT },
	};

	issue();
	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		uint32_t before = lookup_token(USER, "atd").uses;
		struct pam_testcase t[] = {
			pam_test(orders[i][0], PAM_SUCCESS),
			pam_test(orders[i][1], PAM_SUCCESS),
			pam_test(orders[i][2], PAM_SUCCESS),
			pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS),
		};
		char *token;

		fresh_session_keyring();
		run_stack("atd", USER, t, sizeof(t) / sizeof(t[0]));
		if (lookup_token(USER, "atd").uses != before + 1)
			fail_msg("order %zu: %u redemptions", i,
				 lookup_token(USER, "atd").uses - before);
		token = read_live_key(NULL);
		assert_non_null(token);
		pt_free_secret(token);
		drop_live_key(state);
	}
	/* and two handles are two redemptions */
	{
		uint32_t before = lookup_token(USER, "atd").uses;

		RUN_STACK("atd", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS));
		RUN_STACK("atd", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS));
		assert_int_equal(lookup_token(USER, "atd").uses, before + 2);
	}
}

static void test_redeem_nokeyring(void **state)
{
	key_serial_t ring_before;
	uint32_t before;

	issue();
	drop_live_key(state);
	ring_before = session_keyring_id();
	before = lookup_token(USER, "atd").uses;
	RUN_STACK("pt-atd-nokeyring", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
		  pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
	assert_int_equal(session_keyring_id(), ring_before);
	assert_null(read_live_key(NULL));
	assert_int_equal(lookup_token(USER, "atd").uses, before + 1);
}

static void test_redeem_no_token_denied(void **state)
{
	key_serial_t ring_before = session_keyring_id();

	assert_false(lookup_token(NOTOKEN, "atd").found);
	RUN_STACK("atd", NOTOKEN, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_PERM_DENIED),
		  pam_test(PAMTEST_SETCRED, PAM_PERM_DENIED));
	/* no keyring touched on failure */
	assert_int_equal(session_keyring_id(), ring_before);
	assert_null(read_live_key(NULL));
}

static void test_redeem_no_token_ignore(void **state)
{
	/* notoken=ignore: the module steps aside; a following pam_permit decides */
	RUN_STACK("pt-atd-notoken", NOTOKEN, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS));
	/* the module's own code */
	RUN_STACK("pt-probe-notoken", NOTOKEN, pam_test(PAMTEST_ACCOUNT, MODULE_IGNORED),
		  pam_test(PAMTEST_OPEN_SESSION, MODULE_IGNORED));
	/* the default is deny */
	RUN_STACK("pt-probe-notoken-deny", NOTOKEN, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED));
	assert_null(read_live_key(NULL));
}

static void test_redeem_denied_by_policy(void **state)
{
	uint32_t before;

	issue();
	drop_live_key(state);
	assert_true(lookup_token(USER, "cron").found);
	before = lookup_token(USER, "cron").uses;
	/* the redeem rule "no-cron" denies holder cron */
	RUN_STACK("cron", USER, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED),
		  pam_test(PAMTEST_SETCRED, PAM_PERM_DENIED),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_PERM_DENIED));
	assert_int_equal(lookup_token(USER, "cron").uses, before);
	assert_null(read_live_key(NULL));
	/* an actor that is not the holder is refused as well */
	RUN_STACK("pt-wrong-actor", USER, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED));
}

/* The info messages of the last stack that contain needle. */
static unsigned count_info(const char *needle)
{
	unsigned n = 0;

	for (size_t i = 0; i < 8 && info[i][0]; i++)
		n += strstr(info[i], needle) != NULL;
	return n;
}

/* A login after a refused job: pam_info tells the user which job was
 * refused, when, by which rule and why, and which token this login did
 * not renew expires soon (persist_lifetime is 1d: within warn_days' 7);
 * quiet says nothing, warn_days=0 leaves out the expiry. */
static void test_issue_tells_refusals(void **state)
{
	static const char *const stacks[] = { "pt-issue-atd", "pt-issue-atd-quiet",
					      "pt-issue-atd-nowarn" };

	for (size_t k = 0; k < 3; k++) {
		issue(); /* fresh tokens for atd and cron */
		drop_live_key(state);
		/* the redeem rule "no-cron" refuses the cron job */
		RUN_STACK("cron", USER, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED));
		user_session_keyring();
		RUN_STACK(stacks[k], USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
			  pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
		drop_live_key(state);
		if (k == 1) {
			if (info[0][0])
				fail_msg("quiet, yet the module said: %s", info[0]);
			continue;
		}
		assert_int_equal(count_info("pertok: a job of holder cron was refused at "), 1);
		assert_int_equal(count_info(" by rule no-cron: "), 1);
		assert_int_equal(count_info("(1 refusal since the token was issued; "
					    "\"pertok status\" shows more)"),
				 1);
		assert_int_equal(count_info("holder atd was refused"), 0);
		/* atd was renewed by this login: only cron's expiry is told */
		assert_int_equal(count_info("pertok: your token for holder cron expires in "),
				 k == 0 ? 1 : 0);
		assert_int_equal(count_info("your token for holder atd"), 0);
	}
	/* a login that gets no token (no issue rule allows actor kiosk) is
	 * still told of the refused job */
	issue();
	drop_live_key(state);
	RUN_STACK("cron", USER, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED));
	user_session_keyring();
	RUN_STACK("pt-issue-kiosk", USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SESSION_ERR));
	drop_live_key(state);
	assert_int_equal(count_info("pertok: a job of holder cron was refused at "), 1);
}

/* A grant request waiting for USER (issue 11): the login tells them (once,
 * with the count), quiet says nothing; once answered, nothing is told. */
static void test_issue_tells_grant_requests(void **state)
{
	static char *args[] = { "hello" };
	struct pt_grant_wire_cmd cmd = { .path = (char *)"/bin/echo", .argv = args, .n_argv = 1 };
	struct pt_grant_spec spec = { .servicer = (char *)"",
				      .servicer_exe = (char *)"",
				      .servicer_unit = (char *)"",
				      .cmds = &cmd,
				      .n_cmds = 1,
				      .lifetime = 3600,
				      .max_uses = 1 };
	struct pt_req req = { .type = PT_GRANT_REQUEST, .user = (char *)USER, .gspec = &spec };
	struct pt_rep rep = {};
	struct pt_client *c = NULL;

	/* root asks nobody (the rule pam-test lets root be nobody's servicer) */
	assert_int_equal(pt_client_connect(env.sock, 3000, &c), 0);
	assert_int_equal(pt_client_call(c, &req, &rep), 0);
	if (rep.type != PT_OK)
		fail_msg("request refused: %s", rep.message);
	pt_rep_clear(&rep);
	pt_client_free(c);
	user_session_keyring();
	RUN_STACK("pt-issue", USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
		  pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
	drop_live_key(state);
	assert_int_equal(count_info("1 pending grant request(s): run pertok grant requests"), 1);
	user_session_keyring();
	RUN_STACK("pt-issue-atd-quiet", USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
		  pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
	drop_live_key(state);
	assert_int_equal(count_info("pending grant request"), 0);
}

static void test_redeem_tokend_down(void **state)
{
	uint64_t t0 = now_ms();

	RUN_STACK("pt-atd-down", USER, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_PERM_DENIED));
	/* refused at connect, not after the 3 s default timeout */
	assert_true(now_ms() - t0 < 2900);
}

/* The failure is cached: a later stage does not retry, even when it could
 * now succeed; and a success is reused without asking tokend again. The
 * services' lines name different sockets per stage to tell. */
static void test_redeem_result_cached(void **state)
{
	key_serial_t ring_before;
	uint32_t before;
	char *token;

	issue();
	drop_live_key(state);
	before = lookup_token(USER, "atd").uses;

	/* account: tokend unreachable; session and setcred could reach it */
	ring_before = session_keyring_id();
	RUN_STACK("pt-cache-fail", USER, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_PERM_DENIED),
		  pam_test(PAMTEST_SETCRED, PAM_PERM_DENIED));
	assert_int_equal(lookup_token(USER, "atd").uses, before);
	assert_int_equal(session_keyring_id(), ring_before);
	assert_null(read_live_key(NULL));

	/* account: redeemed; setcred and session (unreachable socket) reuse it */
	RUN_STACK("pt-cache-ok", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
		  pam_test(PAMTEST_SETCRED, PAM_SUCCESS),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
		  pam_test_flags(PAMTEST_SETCRED, PAM_SUCCESS, PAM_DELETE_CRED),
		  pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
	assert_int_equal(lookup_token(USER, "atd").uses, before + 1);
	token = read_live_key(NULL);
	assert_non_null(token);
	pt_free_secret(token);
	drop_live_key(state);

	/* PAM_DELETE_CRED alone never redeems */
	RUN_STACK("pt-probe-setcred", USER,
		  pam_test_flags(PAMTEST_SETCRED, MODULE_IGNORED, PAM_DELETE_CRED));
	assert_int_equal(lookup_token(USER, "atd").uses, before + 1);
	/* while PAM_ESTABLISH_CRED alone does */
	RUN_STACK("pt-probe-setcred", USER, pam_test(PAMTEST_SETCRED, PAM_SUCCESS));
	assert_int_equal(lookup_token(USER, "atd").uses, before + 2);
}

/* A redemption belongs to the user it was made for: if PAM_USER changes
 * between the stages, the later ones refuse instead of handing user A's
 * token to user B. */
static void test_redeem_user_changed(void **state)
{
	char path[PATH_MAX];
	uint32_t before;

	snprintf(path, sizeof(path), "%s/services/pt-user-change", getenv("PERTOK_TEST_DIR"));
	if (access(path, F_OK) < 0) {
		print_message("# skipped: pam_wrapper's pam_set_items.so is not installed "
			      "(Debian package libpam-wrapper)\n");
		skip();
	}
	issue();
	drop_live_key(state);
	before = lookup_token(USER, "atd").uses;
	assert_int_equal(setenv("PAM_USER", NOTOKEN, 1), 0);
	RUN_STACK("pt-user-change", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_PERM_DENIED));
	assert_int_equal(unsetenv("PAM_USER"), 0);
	assert_int_equal(lookup_token(USER, "atd").uses, before + 1);
	assert_null(read_live_key(NULL));
}

static void test_issue_tokend_down(void **state)
{
	static const struct {
		const char *service;
		int want;
	} t[] = {
		{ "pt-probe-down", MODULE_IGNORED }, /* default: onerror=ignore */
		{ "pt-probe-down-ignore", MODULE_IGNORED },
		{ "pt-probe-down-success", PAM_SUCCESS },
		{ "pt-probe-down-fail", PAM_SESSION_ERR },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t t0 = now_ms();
		struct pam_testcase tc[] = { pam_test(PAMTEST_OPEN_SESSION, t[i].want) };

		run_stack(t[i].service, USER, tc, 1);
		if (now_ms() - t0 > 2900) /* not the 3 s default timeout */
			fail_msg("%s took %llu ms", t[i].service,
				 (unsigned long long)(now_ms() - t0));
	}
	/* in a plain stack, ignored means the other modules decide */
	RUN_STACK("pt-issue-down-ignore", USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS));
	RUN_STACK("pt-issue-down-fail", USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SESSION_ERR));
	assert_null(read_live_key(NULL));
}

/* tokend accepts but never answers: bounded by timeout=. */
static void test_issue_timeout(void **state)
{
	uint64_t t0, dt;

	t0 = now_ms();
	RUN_STACK("pt-probe-slow-ignore", USER, pam_test(PAMTEST_OPEN_SESSION, MODULE_IGNORED));
	dt = now_ms() - t0;
	if (dt < 250 || dt > 2900) /* timeout=300 holds, not the 3 s default */
		fail_msg("timeout=300 took %llu ms", (unsigned long long)dt);

	t0 = now_ms();
	RUN_STACK("pt-issue-slow-fail", USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SESSION_ERR));
	dt = now_ms() - t0;
	if (dt < 250 || dt > 2900) /* timeout=300 holds, not the 3 s default */
		fail_msg("timeout=300 took %llu ms", (unsigned long long)dt);
	assert_null(read_live_key(NULL));
}

static void test_issue_unknown_user(void **state)
{
	RUN_STACK("pt-probe-issue-fail", NOUSER, pam_test(PAMTEST_OPEN_SESSION, PAM_SESSION_ERR));
	assert_null(read_live_key(NULL));
}

static void test_entry_points_outside_mode(void **state)
{
	/* issue does nothing in auth, account and setcred; close_session succeeds */
	RUN_STACK("pt-probe-issue-other", USER, pam_test(PAMTEST_AUTHENTICATE, MODULE_IGNORED),
		  pam_test(PAMTEST_ACCOUNT, MODULE_IGNORED),
		  pam_test(PAMTEST_SETCRED, MODULE_IGNORED),
		  pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
	/* redeem does not authenticate */
	RUN_STACK("pt-probe-setcred", USER, pam_test(PAMTEST_AUTHENTICATE, MODULE_IGNORED));
	/* no mode, or two: a configuration error */
	RUN_STACK("pt-probe-nomode", USER, pam_test(PAMTEST_OPEN_SESSION, PAM_SERVICE_ERR),
		  pam_test(PAMTEST_ACCOUNT, PAM_SERVICE_ERR));
	assert_null(read_live_key(NULL));
}

/* Nothing the module does leaves a descriptor open. */
static void test_no_fd_leak(void **state)
{
	int before, after;

	/* warm up: libraries opened once (NSS, pam_wrapper's copies) stay open */
	issue();
	RUN_STACK("atd", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
		  pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS));
	before = count_fds();
	assert_true(before > 0);
	for (int i = 0; i < 3; i++) {
		issue();
		RUN_STACK("atd", USER, pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
			  pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
			  pam_test(PAMTEST_SETCRED, PAM_SUCCESS));
		RUN_STACK("atd", NOTOKEN, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED));
		RUN_STACK("cron", USER, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED));
		RUN_STACK("pt-atd-down", USER, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED));
		RUN_STACK("pt-issue-down-fail", USER,
			  pam_test(PAMTEST_OPEN_SESSION, PAM_SESSION_ERR));
		RUN_STACK("pt-issue-slow-fail", USER,
			  pam_test(PAMTEST_OPEN_SESSION, PAM_SESSION_ERR));
		drop_live_key(state);
	}
	after = count_fds();
	assert_int_equal(after, before);
}

/* ---------------------------------------------------------------- main */

static int setup_group(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const struct passwd *pw;

	env.sock = getenv("PERTOK_TEST_SOCKET");
	env.absent = getenv("PERTOK_TEST_ABSENT");
	env.slow = getenv("PERTOK_TEST_SLOW");
	if (!env.sock || !env.absent || !env.slow) {
		fprintf(stderr, "# run me through tests/pam/test-pam.sh\n");
		return -1;
	}
	pw = getpwnam(USER);
	if (!pw)
		return -1;
	env.uid = pw->pw_uid;
	env.gid = pw->pw_gid;

	/* a "tokend" that accepts connections and never answers */
	env.slow_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (env.slow_fd < 0 || strlen(env.slow) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, env.slow);
	if (bind(env.slow_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(env.slow_fd, 64) < 0)
		return -1;
	return 0;
}

static int teardown_group(void **state)
{
	if (env.slow_fd > 0)
		close(env.slow_fd);
	return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_test, drop_live_key)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_issue_puts_token_in_keyring),
		T(test_issue_foreign_keyring_refused),
		T(test_issue_again_renews),
		T(test_redeem_installs_key),
		T(test_stage_orders_redeem_once),
		T(test_redeem_nokeyring),
		T(test_redeem_no_token_denied),
		T(test_redeem_no_token_ignore),
		T(test_redeem_denied_by_policy),
		T(test_issue_tells_refusals),
		T(test_issue_tells_grant_requests),
		T(test_redeem_tokend_down),
		T(test_redeem_result_cached),
		T(test_redeem_user_changed),
		T(test_issue_tokend_down),
		T(test_issue_timeout),
		T(test_issue_unknown_user),
		T(test_entry_points_outside_mode),
		T(test_no_fd_leak),
		T(test_accept_live),
	};

	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
