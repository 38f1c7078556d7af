/* SPDX-License-Identifier: MIT */
/*
 * PT_REFRESH against a real tokend over its socket: a long-running job
 * trades its redeemed live token, still valid, for a fresh one for the
 * same persistable token (pertok(1) "token --refresh"). Refreshed as the
 * token's uid only; refused for an expired live token, for a login's
 * token, once max_job_runtime since the redemption has passed, after the
 * persistable token was revoked and after a policy change (late-bound);
 * each refresh is a counted use, and the persistable token's expiry never
 * moves forward. The user is nobody (uid 65534): the refreshes run in a
 * child that switched to that uid. Each test runs its own tokend. Needs
 * root.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
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

#include "tokend-harness.h"

#define NOBODY 65534

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
		"            persist_lifetime = \"1d\"; } );\n"
		"redeem = ( { name = \"red\"; holders = [ \"tester\" ]; check_account = false;\n"
		"             %s } );\n",
		th.sock, th.dir, max_job_runtime, th.self_exe, rule_extra);
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

static int setup_default(void **state)
{
	(void)state;
	return start("live_lifetime = \"5m\";", "12h");
}

static int setup_short_live(void **state)
{
	(void)state;
	return start("live_lifetime = \"1s\";", "12h");
}

static int setup_short_job(void **state)
{
	(void)state;
	return start("live_lifetime = \"5m\";", "2s");
}

static int teardown(void **state)
{
	(void)state;
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

/* REDEEM for nobody as actor tester (as atd would): the live token. */
static char *redeem_nobody(void)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)"nobody",
			      .holder = (char *)"tester",
			      .service = (char *)"cron" };
	struct pt_rep rep;
	char *token;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	token = strdup(rep.token);
	pt_rep_clear(&rep);
	return token;
}

/* REFRESH of token as uid (a child that switched to it): 0 or the error
 * code; the new token in *ret_token (may be NULL; caller frees). */
static uint32_t refresh_as(uid_t uid, const char *token, char **ret_token)
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
		if (code)
			fprintf(stderr, "# refresh as uid %u: %s\n", (unsigned)uid,
				rep.message ? rep.message : "?");
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
	return code;
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

/* nobody's token as LIST shows it: uses and exp. */
static void token_state(const char *id, uint32_t *ret_uses, uint64_t *ret_exp)
{
	struct pt_req req = { .type = PT_LIST, .user = (char *)"nobody" };
	struct pt_rep rep;
	bool found = false;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	for (uint32_t i = 0; i < rep.n_list; i++)
		if (strcmp(rep.list[i].id, id) == 0) {
			*ret_uses = rep.list[i].uses;
			*ret_exp = rep.list[i].exp;
			found = true;
		}
	pt_rep_clear(&rep);
	assert_true(found);
}

/* Blocks until tokend's clock (CLOCK_REALTIME, whole seconds) reaches t. */
static void wait_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)t };

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	assert_true(pt_now_s() >= t);
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

/* max_job_runtime = 2s: a refresh within it gets a token that ends with it;
 * once it has passed since the redemption, the redeemed token (its own
 * lifetime 5m, still valid) is refused. */
static void test_refresh_max_job_runtime(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL, *t3 = NULL;
	uint64_t at1 = claim_u64(t1, "auth_time");

	(void)state;
	assert_int_equal(refresh_as(NOBODY, t1, &t2), 0);
	assert_true(claim_u64(t2, "exp") <= at1 + 2);
	wait_until(at1 + 2);
	assert_true(claim_u64(t1, "exp") > pt_now_s()); /* t1 itself is still valid */
	assert_int_equal(refresh_as(NOBODY, t1, &t3), PT_E_DENIED);
	assert_null(t3);
	assert_true(th_wait_log("max_job_runtime (2s) since the redemption has passed", 1, 2000) >=
		    0);
	free(id);
	pt_free_secret(t1);
	pt_free_secret(t2);
}

/* Revoked: the persistable token is gone, so is the refresh. */
static void test_refresh_after_revoke_refused(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL;
	struct pt_req rv = { .type = PT_REVOKE, .id = id };
	struct pt_rep rep;

	(void)state;
	assert_int_equal(th_call(&rv, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_int_equal(rep.count, 1);
	pt_rep_clear(&rep);
	assert_int_equal(refresh_as(NOBODY, t1, &t2), PT_E_NOTFOUND);
	assert_null(t2);
	free(id);
	pt_free_secret(t1);
}

/* Late-bound: after an edit of the redeem rule + SIGHUP that no longer
 * admits nobody, a still-valid redeemed token is not refreshed. */
static void test_refresh_after_policy_change_refused(void **state)
{
	char *id = persist_nobody(), *t1 = redeem_nobody(), *t2 = NULL;

	(void)state;
	assert_int_equal(refresh_as(NOBODY, t1, &t2), 0);
	pt_free_secret(t2);
	t2 = NULL;
	reconfigure("live_lifetime = \"5m\"; users = [ \"root\" ];", "12h");
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
	reconfigure("live_lifetime = \"5m\"; persist_lifetime = \"3d\";", "12h");
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
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (refreshes as another uid)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
