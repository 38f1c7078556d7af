/* SPDX-License-Identifier: MIT */
/*
 * PT_REFRESH against a real tokend over its socket: a long-running job
 * trades its redeemed live token, still valid, for a fresh one for the
 * same persistable token (pertok(1) "token --refresh"). Refreshed as the
 * token's uid only, and only once at most half of the token's lifetime is
 * left (too early: refused, not noted, no use counted); refused for an
 * expired live token, for a login's token, once max_job_runtime since the
 * redemption has passed, after the persistable token was revoked and after
 * a policy change (late-bound); after a login renewed the persistable
 * token the refresh goes on with the new one; max_uses and
 * max_redemptions_per_day do not count it as a redemption; each refresh is
 * a counted use, and the persistable token's expiry never moves forward,
 * nor does a live token (redeemed or refreshed) outlive it. The tool
 * itself leaves a token that is not due alone. The user is nobody (uid
 * 65534): the refreshes run in a child that switched to that uid. Each
 * test runs its own tokend. Needs root.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <keyutils.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jws.h"
#include "proto.h"
#include "util.h"

#include "keyring-run.h"
#include "tokend-harness.h"

#define NOBODY 65534

/* The issue rule's persist_lifetime. */
static const char *issue_lifetime = "1d";

/* The config: the redeem rule's extra settings, max_job_runtime. */
static void write_conf(const char *rule_extra, const char *max_job_runtime)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 2000;\n"
		"          max_job_runtime = \"%s\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"iss\"; actors = [ \"tester\" ]; holders = [ \"tester\" ];\n"
		"            persist_lifetime = \"%s\"; } );\n"
		"redeem = ( { name = \"red\"; holders = [ \"tester\" ]; check_account = false;\n"
		"             %s } );\n",
		th.sock, th.dir, max_job_runtime, th.self_exe, issue_lifetime, rule_extra);
	fclose(f);
}

static int start(const char *rule_extra, const char *max_job_runtime)
{
	if (th_init("refresh") < 0)
		return -1;
	write_conf(rule_extra, max_job_runtime);
	th_start();
	return 0;
}

/* 6s: due for a refresh 3s after it was made, then 3s to spare */
static int setup_default(void **state)
{
	(void)state;
	return start("live_lifetime = \"6s\";", "12h");
}

static int setup_limited(void **state)
{
	(void)state;
	return start("live_lifetime = \"6s\"; max_uses = 1; max_redemptions_per_day = 1;", "12h");
}

/* the redeem rule curtails the persistable token to 30s after its issue */
static int setup_curtailing(void **state)
{
	(void)state;
	return start("live_lifetime = \"5m\"; persist_lifetime = \"30s\";", "12h");
}

/* the login's persistable token lives 20s, the redeem rule's live token 5m */
static int setup_short_persist(void **state)
{
	(void)state;
	issue_lifetime = "20s";
	return start("live_lifetime = \"5m\";", "12h");
}

static int setup_short_live(void **state)
{
	(void)state;
	return start("live_lifetime = \"1s\";", "12h");
}

/* due 3s after the redemption, max_job_runtime 1s later, still valid 2s more */
static int setup_short_job(void **state)
{
	(void)state;
	return start("live_lifetime = \"6s\";", "4s");
}

static int teardown(void **state)
{
	(void)state;
	issue_lifetime = "1d";
	th_stop(SIGTERM);
	return th_remove_dir();
}

/* ---------------------------------------------------------------- helpers */

/* A login for nobody, exchanged for a persistable token (holder tester):
 * its id (caller frees). */
static char *persist_nobody(void)
{
	char *login = th_mint("nobody", "sshd", NULL), *id;
	struct pt_req req = { .type = PT_EXCHANGE,
			      .live_token = login,
			      .holder = (char *)"tester" };
	struct pt_rep rep;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	id = strdup(rep.id);
	pt_rep_clear(&rep);
	pt_free_secret(login);
	return id;
}

/* REDEEM for nobody as actor tester (as atd would): 0 or the error code,
 * the live token in *ret_token (may be NULL; caller frees). */
static uint32_t redeem_code(char **ret_token)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)"nobody",
			      .holder = (char *)"tester",
			      .service = (char *)"cron" };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	if (ret_token)
		*ret_token = code == 0 ? strdup(rep.token) : NULL;
	pt_rep_clear(&rep);
	return code;
}

/* The same, when it must be allowed: the live token. */
static char *redeem_nobody(void)
{
	char *token = NULL;

	assert_int_equal(redeem_code(&token), 0);
	assert_non_null(token);
	return token;
}

/* REFRESH of token as uid (a child that switched to it): 0 or the error
 * code; the new token in *ret_token (may be NULL; caller frees), or on a
 * refusal its message in *ret_msg (may be NULL; caller frees). */
static uint32_t refresh_msg(uid_t uid, const char *token, char **ret_token, char **ret_msg)
{
	char buf[PT_MAX_TOKEN + 8] = "";
	int fds[2], st;
	ssize_t n, got = 0;
	uint32_t code;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pt_req req = { .type = PT_REFRESH, .live_token = (char *)token };
		struct pt_rep rep;

		close(fds[0]);
		if (setgroups(0, NULL) < 0 || setgid(uid ? NOBODY : 0) < 0 || setuid(uid) < 0)
			_exit(100);
		if (th_call(&req, &rep) != 0)
			_exit(101);
		code = rep.type == PT_OK ? 0 : rep.err_code;
		if (code == 0 && (!rep.token || write(fds[1], rep.token, strlen(rep.token)) < 0))
			_exit(102);
		if (code && (!rep.message || write(fds[1], rep.message, strlen(rep.message)) < 0))
			_exit(103);
		if (code)
			fprintf(stderr, "# refresh as uid %u: %s\n", (unsigned)uid, rep.message);
		pt_rep_clear(&rep);
		_exit((int)code);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	code = (uint32_t)WEXITSTATUS(st);
	assert_true(code < 100);
	if (ret_token)
		*ret_token = code == 0 ? strdup(buf) : NULL;
	if (ret_msg)
		*ret_msg = code != 0 ? strdup(buf) : NULL;
	return code;
}

static uint32_t refresh_as(uid_t uid, const char *token, char **ret_token)
{
	return refresh_msg(uid, token, ret_token, NULL);
}

/* A numeric claim of a token's payload (not verified: tokend made it), or
 * 0 when it is absent. */
static uint64_t claim_u64(const char *token, const char *name)
{
	char *header = NULL, *payload = NULL, key[64];
	const char *p;
	uint64_t v = 0;

	assert_int_equal(pt_jws_decode_unverified(token, &header, &payload), 0);
	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(payload, key);
	if (p)
		v = strtoull(p + strlen(key), NULL, 10);
	free(header);
	free(payload);
	return v;
}

/* A string claim (caller frees; NULL when absent). */
static char *claim_str(const char *token, const char *name)
{
	char *header = NULL, *payload = NULL, key[64], *v = NULL;
	const char *p, *e;

	assert_int_equal(pt_jws_decode_unverified(token, &header, &payload), 0);
	snprintf(key, sizeof(key), "\"%s\":\"", name);
	p = strstr(payload, key);
	if (p && (e = strchr(p + strlen(key), '"')))
		v = strndup(p + strlen(key), (size_t)(e - p - strlen(key)));
	free(header);
	free(payload);
	return v;
}

/* nobody's token as LIST_STATUS shows it (the strings not kept). */
static struct pt_tokinfo token_info(const char *id)
{
	struct pt_req req = { .type = PT_LIST_STATUS,
			      .user = (char *)"nobody",
			      .cursor = (char *)"" };
	struct pt_tokinfo t = { 0 };
	struct pt_rep rep;
	bool found = false;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	for (uint32_t i = 0; i < rep.n_list; i++)
		if (strcmp(rep.list[i].id, id) == 0) {
			t = rep.list[i];
			found = true;
		}
	pt_rep_clear(&rep);
	assert_true(found);
	t.id = t.user = t.holder = t.actor = t.refusal_rule = t.refusal_reason = NULL;
	return t;
}

/* nobody's token as LIST shows it: uses and exp. */
static void token_state(const char *id, uint32_t *ret_uses, uint64_t *ret_exp)
{
	struct pt_tokinfo t = token_info(id);

	*ret_uses = t.uses;
	*ret_exp = t.exp;
}

/* Blocks until tokend's clock (CLOCK_REALTIME, whole seconds) reaches t. */
static void wait_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)t };

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	assert_true(pt_now_s() >= t);
}

/* Blocks until token is due for a refresh (pt_refresh_from). */
static void wait_due(const char *token)
{
	wait_until(pt_refresh_from(claim_u64(token, "iat"), claim_u64(token, "exp")));
}

static void reconfigure(const char *rule_extra, const char *max_job_runtime)
{
	unsigned before = th_count_log("op=reload result=allow");

	write_conf(rule_extra, max_job_runtime);
	assert_int_equal(kill(th.pid, SIGHUP), 0);
	assert_true(th_wait_log("op=reload result=allow", before + 1, 5000) >= 0);
}

/* ------------------------------------------------------------------ tests */

/* The job's uid refreshes: a new token (new jti) for the same persistable
 * token and user, keeping the redemption's auth_time; refreshing the new
 * one works too, and each refresh is a counted use. */
static void test_refresh_works(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL, *t3 = NULL;
	char *ptk1, *ptk2, *jti1, *jti2, *sub2;
	uint64_t at1, exp;
	uint32_t uses0, uses1, uses2;

	(void)state;
	token_state(id, &uses0, &exp);
	at1 = claim_u64(t1, "auth_time");
	assert_true(at1 > 0);
	assert_true(at1 <= pt_now_s());

	wait_due(t1);
	assert_int_equal(refresh_as(NOBODY, t1, &t2), 0);
	assert_non_null(t2);
	assert_string_not_equal(t1, t2);
	ptk1 = claim_str(t1, "ptk");
	ptk2 = claim_str(t2, "ptk");
	jti1 = claim_str(t1, "jti");
	jti2 = claim_str(t2, "jti");
	sub2 = claim_str(t2, "sub");
	assert_non_null(ptk2);
	assert_string_equal(ptk2, id);
	assert_string_equal(ptk1, ptk2);
	assert_string_not_equal(jti1, jti2);
	assert_string_equal(sub2, "nobody");
	assert_int_equal(claim_u64(t2, "uid"), NOBODY);
	assert_int_equal(claim_u64(t2, "auth_time"), at1);
	assert_true(claim_u64(t2, "exp") > pt_now_s());
	token_state(id, &uses1, &exp);
	assert_int_equal(uses1, uses0 + 1);

	wait_due(t2);
	assert_int_equal(refresh_as(NOBODY, t2, &t3), 0);
	assert_int_equal(claim_u64(t3, "auth_time"), at1);
	token_state(id, &uses2, &exp);
	assert_int_equal(uses2, uses0 + 2);
	assert_true(th_wait_log("op=refresh result=allow user=nobody holder=tester", 2, 2000) >= 0);

	free(ptk1), free(ptk2), free(jti1), free(jti2), free(sub2);
	free(id);
	pt_free_secret(t1);
	pt_free_secret(t2);
	pt_free_secret(t3);
}

/* Another uid may not refresh nobody's token, not even root; a login's
 * token (no persistable token behind it) is not refreshed either. */
static void test_refresh_other_uid_refused(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL, *login;
	uint32_t uses0, uses1;
	uint64_t exp;

	(void)state;
	token_state(id, &uses0, &exp);
	assert_int_equal(refresh_as(0, t1, &t2), PT_E_PERM);
	assert_null(t2);
	assert_int_equal(refresh_as(1, t1, &t2), PT_E_PERM); /* daemon */
	assert_null(t2);
	token_state(id, &uses1, &exp);
	assert_int_equal(uses1, uses0);
	assert_true(th_wait_log("op=refresh result=deny user=nobody", 1, 2000) >= 0);

	login = th_mint("nobody", "sshd", NULL);
	assert_int_equal(refresh_as(NOBODY, login, &t2), PT_E_INVALID);
	assert_null(t2);

	free(id);
	pt_free_secret(t1);
	pt_free_secret(login);
}

/* A live token past its expiry is not refreshed (the redeem rule makes
 * them live one second). */
static void test_refresh_expired_live_refused(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL;

	(void)state;
	wait_until(claim_u64(t1, "exp"));
	assert_int_equal(refresh_as(NOBODY, t1, &t2), PT_E_INVALID);
	assert_null(t2);
	assert_true(th_wait_log("reason=expired", 1, 2000) >= 0);
	free(id);
	pt_free_secret(t1);
}

/* max_job_runtime = 4s: a refresh within it gets a token that ends with it;
 * once it has passed since the redemption, the redeemed token (its own
 * lifetime 6s, still valid) is refused. */
static void test_refresh_max_job_runtime(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL, *t3 = NULL;
	uint64_t at1 = claim_u64(t1, "auth_time");

	(void)state;
	wait_due(t1);
	assert_int_equal(refresh_as(NOBODY, t1, &t2), 0);
	assert_true(claim_u64(t2, "exp") <= at1 + 4);
	wait_until(at1 + 4);
	assert_true(claim_u64(t1, "exp") > pt_now_s()); /* t1 itself is still valid */
	assert_int_equal(refresh_as(NOBODY, t1, &t3), PT_E_DENIED);
	assert_null(t3);
	assert_true(th_wait_log("max_job_runtime (4s) since the redemption has passed", 1, 2000) >=
		    0);
	free(id);
	pt_free_secret(t1);
	pt_free_secret(t2);
}

/* Revoked: the persistable token is gone, so is the refresh. */
static void test_refresh_after_revoke_refused(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL, *msg = NULL, expect[256];
	struct pt_req rv = { .type = PT_REVOKE, .id = id };
	struct pt_rep rep;

	(void)state;
	assert_int_equal(th_call(&rv, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_int_equal(rep.count, 1);
	pt_rep_clear(&rep);
	assert_int_equal(refresh_msg(NOBODY, t1, &t2, &msg), PT_E_NOTFOUND);
	assert_null(t2);
	snprintf(expect, sizeof(expect),
		 "the persistable token %s is gone and user nobody has none for holder tester "
		 "(revoked, or renewed away and then revoked, or expired and removed)",
		 id);
	assert_string_equal(msg, expect);
	free(msg);
	free(id);
	pt_free_secret(t1);
}

/* Late-bound: after an edit of the redeem rule + SIGHUP that no longer
 * admits nobody, a still-valid redeemed token is not refreshed. */
static void test_refresh_after_policy_change_refused(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL;

	(void)state;
	wait_due(t1);
	assert_int_equal(refresh_as(NOBODY, t1, &t2), 0);
	pt_free_secret(t2);
	t2 = NULL;
	reconfigure("live_lifetime = \"6s\"; users = [ \"root\" ];", "12h");
	assert_int_equal(refresh_as(NOBODY, t1, &t2), PT_E_DENIED);
	assert_null(t2);
	assert_true(th_wait_log("op=refresh result=deny user=nobody holder=tester", 1, 2000) >= 0);
	free(id);
	pt_free_secret(t1);
}

/* A refresh never moves the persistable token's expiry forward: the rule
 * now says persist_lifetime 3d (a redemption would extend the token to
 * iat + 3d); the refresh leaves it, a redemption then moves it. */
static void test_refresh_never_extends(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL, *t3;
	uint64_t exp0, exp1, exp2;
	uint32_t uses;

	(void)state;
	token_state(id, &uses, &exp0);
	reconfigure("live_lifetime = \"6s\"; persist_lifetime = \"3d\";", "12h");
	wait_due(t1);
	assert_int_equal(refresh_as(NOBODY, t1, &t2), 0);
	token_state(id, &uses, &exp1);
	assert_int_equal(exp1, exp0);
	assert_true(claim_u64(t2, "exp") <= exp0);
	t3 = redeem_nobody(); /* the check above can fail: a redemption extends */
	token_state(id, &uses, &exp2);
	assert_true(exp2 > exp0);
	free(id);
	pt_free_secret(t1);
	pt_free_secret(t2);
	pt_free_secret(t3);
}

/* Too early: while more than half of its lifetime is left, a token is not
 * refreshed (PT_E_LIMIT, saying from when); no use is counted and nothing
 * is noted on the persistable token, but tokend logs it. */
static void test_refresh_too_early(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL, *msg = NULL;
	struct pt_tokinfo before, after;

	(void)state;
	before = token_info(id);
	assert_true(pt_now_s() < pt_refresh_from(claim_u64(t1, "iat"), claim_u64(t1, "exp")));
	assert_int_equal(refresh_msg(NOBODY, t1, &t2, &msg), PT_E_LIMIT);
	assert_null(t2);
	assert_non_null(strstr(msg, "too early: this token has "));
	assert_non_null(strstr(msg, " left of 6s; refresh when at most half is left (from "));
	after = token_info(id);
	assert_int_equal(after.uses, before.uses);
	assert_int_equal(after.refusals, 0);
	assert_int_equal(after.refused_at, 0);
	assert_true(th_wait_log("op=refresh result=deny user=nobody holder=tester", 1, 2000) >= 0);
	assert_true(th_wait_log("too early: this token has ", 1, 2000) >= 0);
	free(msg);
	free(id);
	pt_free_secret(t1);
}

/* The user logs in again while the job runs: the login renews the
 * persistable token (a new id, the old one retired); the job's refresh
 * goes on with the new one, which the fresh token names and which counts
 * the use. */
static void test_refresh_after_renewal(void **state)
{
	char *id1 = persist_nobody(), *t1 = redeem_nobody(), *id2, *t2 = NULL, *ptk;
	uint32_t uses;
	uint64_t exp;

	(void)state;
	id2 = persist_nobody();
	assert_string_not_equal(id1, id2);
	wait_due(t1);
	assert_int_equal(refresh_as(NOBODY, t1, &t2), 0);
	ptk = claim_str(t2, "ptk");
	assert_string_equal(ptk, id2);
	token_state(id2, &uses, &exp);
	assert_int_equal(uses, 1);
	free(ptk);
	free(id1);
	free(id2);
	pt_free_secret(t1);
	pt_free_secret(t2);
}

/* max_uses = 1 and max_redemptions_per_day = 1: the job's own redemption
 * does not block its refresh (not a redemption), which counts as a use;
 * a second redemption is refused (the limits are in force). */
static void test_refresh_not_a_redemption(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL;
	uint32_t uses;
	uint64_t exp;

	(void)state;
	wait_due(t1);
	assert_int_equal(refresh_as(NOBODY, t1, &t2), 0);
	token_state(id, &uses, &exp);
	assert_int_equal(uses, 2);
	assert_int_equal(redeem_code(NULL), PT_E_DENIED);
	assert_true(th_wait_log("max_uses 1", 1, 2000) >= 0);
	free(id);
	pt_free_secret(t1);
	pt_free_secret(t2);
}

/* A redemption never gives a live token that outlives its persistable
 * token, which ends persist_for after its issue. */
static void assert_redeem_capped(uint64_t persist_for)
{
	char *id = persist_nobody(), *t1 = redeem_nobody();
	struct pt_tokinfo t = token_info(id);

	assert_int_equal(t.exp, t.iat + persist_for);
	assert_true(claim_u64(t1, "exp") <= t.exp);
	free(id);
	pt_free_secret(t1);
}

/* Neither when a rule's persist_lifetime curtails it (30s after its issue,
 * a live lifetime of 5m) ... */
static void test_redeem_capped_by_curtailed(void **state)
{
	(void)state;
	assert_redeem_capped(30);
}

/* ... nor when it ends before the live lifetime would (20s, 5m). */
static void test_redeem_capped_by_persist(void **state)
{
	(void)state;
	assert_redeem_capped(20);
}

/* A refresh that the rules' persist_lifetime curtails the persistable
 * token by (now 30s after its issue, the live lifetime 5m) gives a token
 * that ends by the curtailed expiry, not the old one. */
static void test_refresh_capped_by_curtailed(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL;
	struct pt_tokinfo t;

	(void)state;
	wait_due(t1);
	reconfigure("live_lifetime = \"5m\"; persist_lifetime = \"30s\";", "12h");
	assert_int_equal(refresh_as(NOBODY, t1, &t2), 0);
	t = token_info(id);
	assert_int_equal(t.exp, t.iat + 30);
	assert_true(claim_u64(t2, "exp") <= t.exp);
	free(id);
	pt_free_secret(t1);
	pt_free_secret(t2);
}

/* `pertok -s SOCKET token ARG1 ARG2` as nobody (arg1 or arg2 may be NULL),
 * with token as the session keyring's pertok:live (a fresh session keyring
 * of the child's own): its exit status, its stdout in out (PT_MAX_TOKEN + 8
 * bytes) and stderr in err (1024 bytes). */
static int pertok_token(const char *token, const char *arg1, const char *arg2, char *out, char *err)
{
	const char *args[] = { "token", arg1, arg1 ? arg2 : NULL, NULL };

	return th_pertok_as_nobody(token, args, out, PT_MAX_TOKEN + 8, err, 1024);
}

/* pertok token --refresh asks tokend nothing while more than half of the
 * token's lifetime is left: it prints the token it has and exits 0 (the
 * loop of pertok(1) runs on), silently, or with -v one line on stderr;
 * once due, it prints a fresh one. -v without --refresh is a usage error. */
static void test_tool_refresh(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), out[PT_MAX_TOKEN + 8], err[1024];
	char line[PT_MAX_TOKEN + 8], *ptk, *jti1, *jti2;

	(void)state;
	snprintf(line, sizeof(line), "%s\n", t1);
	assert_int_equal(pertok_token(t1, "--refresh", NULL, out, err), 0);
	assert_string_equal(out, line);
	assert_string_equal(err, "");
	assert_int_equal(pertok_token(t1, "--refresh", "-v", out, err), 0);
	assert_string_equal(out, line);
	assert_non_null(strstr(err, "pertok: not refreshed: the live token has "));
	assert_non_null(strstr(err, "(at most half left)\n"));
	assert_int_equal(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
	assert_int_equal(th_count_log("op=refresh"), 0);

	assert_int_equal(pertok_token(t1, "-v", NULL, out, err), 2);
	assert_non_null(strstr(err, "-v (--verbose) goes with --refresh only"));

	wait_due(t1);
	assert_int_equal(pertok_token(t1, "--refresh", NULL, out, err), 0);
	out[strcspn(out, "\n")] = '\0';
	assert_string_not_equal(out, t1);
	ptk = claim_str(out, "ptk");
	jti1 = claim_str(t1, "jti");
	jti2 = claim_str(out, "jti");
	assert_string_equal(ptk, id);
	assert_string_not_equal(jti1, jti2);
	assert_true(th_wait_log("op=refresh result=allow user=nobody holder=tester", 1, 2000) >= 0);
	free(ptk), free(jti1), free(jti2);
	free(id);
	pt_free_secret(t1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refresh_works, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_other_uid_refused, setup_default,
						teardown),
		cmocka_unit_test_setup_teardown(test_refresh_expired_live_refused, setup_short_live,
						teardown),
		cmocka_unit_test_setup_teardown(test_refresh_max_job_runtime, setup_short_job,
						teardown),
		cmocka_unit_test_setup_teardown(test_refresh_after_revoke_refused, setup_default,
						teardown),
		cmocka_unit_test_setup_teardown(test_refresh_after_policy_change_refused,
						setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_never_extends, setup_default,
						teardown),
		cmocka_unit_test_setup_teardown(test_refresh_too_early, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_after_renewal, setup_default,
						teardown),
		cmocka_unit_test_setup_teardown(test_refresh_not_a_redemption, setup_limited,
						teardown),
		cmocka_unit_test_setup_teardown(test_redeem_capped_by_curtailed, setup_curtailing,
						teardown),
		cmocka_unit_test_setup_teardown(test_redeem_capped_by_persist, setup_short_persist,
						teardown),
		cmocka_unit_test_setup_teardown(test_refresh_capped_by_curtailed, setup_default,
						teardown),
		cmocka_unit_test_setup_teardown(test_tool_refresh, setup_default, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (refreshes as another uid)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
