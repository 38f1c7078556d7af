/* SPDX-License-Identifier: MIT */
/*
 * Item 1 of the v0.1 review, at the daemon boundary: a live token minted by
 * a redemption (it names its persistable token in "ptk") cannot be
 * exchanged, by the user ("self") or by an actor, so a job cannot push its
 * own persistable token's expiry forward; a login-minted live token still
 * can (the real `pertok persist` from a session keyring). An issue rule with
 * renew_from_redeemed = true allows the renewal, audited as one, of the same
 * token only (same user and holder, still stored and unexpired), never past
 * its issue time + max_persist_lifetime, however often it is renewed. Each
 * test runs its own tokend (temp dir, software seal). The user is nobody
 * (uid 65534); the test switches to it to play the user. Needs root.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
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

#include "client.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define NOBODY 65534
#define USER "nobody"
#define MAX_PERSIST 3600 /* tokend.max_persist_lifetime below */

/* issue_extra, redeem_extra: settings added to the issue / redeem rule */
static void write_conf(const char *issue_extra, const char *redeem_extra)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 2000;\n"
		"          live_lifetime = \"5m\"; persist_lifetime = \"1h\";\n"
		"          max_persist_lifetime = \"1h\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; },\n"
		"           { name = \"other\"; uid = 0; exe = [ \"/nonexistent/bin\" ]; } );\n"
		"issue = ( { name = \"iss\"; actors = [ \"tester\", \"self\" ];\n"
		"            holders = [ \"tester\", \"other\" ]; %s } );\n"
		"redeem = ( { name = \"red\"; holders = [ \"tester\" ]; check_account = false;\n"
		"             %s } );\n",
		th.sock, th.dir, th.self_exe, issue_extra, redeem_extra);
	fclose(f);
}

static int start(const char *issue_extra, const char *redeem_extra)
{
	if (th_init("renewal") < 0)
		return -1;
	write_conf(issue_extra, redeem_extra);
	th_start();
	return 0;
}

static int setup_default(void **state)
{
	(void)state;
	return start("", "");
}

static int setup_renew(void **state)
{
	(void)state;
	return start("renew_from_redeemed = true;", "");
}

static int setup_renew_max_age(void **state)
{
	(void)state;
	return start("renew_from_redeemed = true;", "max_age = \"30m\";");
}

static int teardown(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	return th_remove_dir();
}

/* ---------------------------------------------------------------- helpers */

/* A login: MINT as actor tester for the user. */
static char *mint(void)
{
	return th_mint(USER, "sshd", NULL);
}

/* EXCHANGE in this process (root: actor tester). Returns 0 or the error
 * code; the reply is left in *rep for the caller to read and clear. */
static uint32_t exchange(const char *token, const char *holder, uint64_t lifetime,
			 struct pt_rep *rep)
{
	struct pt_req req = { .type = PT_EXCHANGE,
			      .live_token = (char *)token,
			      .holder = (char *)holder,
			      .lifetime = lifetime };

	assert_int_equal(th_call(&req, rep), 0);
	return rep->type == PT_OK ? 0 : rep->err_code;
}

static char *exchange_id(const char *token, const char *holder, uint64_t lifetime)
{
	struct pt_rep rep;
	char *id;

	assert_int_equal(exchange(token, holder, lifetime, &rep), 0);
	id = strdup(rep.id);
	pt_rep_clear(&rep);
	assert_non_null(id);
	return id;
}

/* EXCHANGE as the user (actor "self"), in a child running as nobody.
 * Returns 0 or the error code; *ret_exp gets the new expiry when given. */
static uint32_t exchange_as_user(const char *token, const char *holder, uint64_t *ret_exp)
{
	int fds[2];
	uint64_t exp = 0;
	pid_t pid;
	int st;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pt_rep rep;
		uint32_t code;

		close(fds[0]);
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		code = exchange(token, holder, 0, &rep);
		if (write(fds[1], &rep.exp, sizeof(rep.exp)) != (ssize_t)sizeof(rep.exp))
			_exit(101);
		pt_rep_clear(&rep);
		_exit((int)code);
	}
	close(fds[1]);
	if (read(fds[0], &exp, sizeof(exp)) != (ssize_t)sizeof(exp))
		exp = 0;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (ret_exp)
		*ret_exp = exp;
	return (uint32_t)WEXITSTATUS(st);
}

/* REDEEM as actor tester (the holder): what a job gets. */
static char *redeem(void)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)USER,
			      .holder = (char *)"tester",
			      .service = (char *)"atd" };
	struct pt_rep rep;
	char *token;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	token = rep.token;
	rep.token = NULL;
	pt_rep_clear(&rep);
	assert_non_null(token);
	return token;
}

/* The user's token for holder in LIST; fails the test when there is none. */
static struct pt_tokinfo listed(const char *holder)
{
	struct pt_req req = { .type = PT_LIST, .user = (char *)USER };
	struct pt_tokinfo t = { 0 };
	struct pt_rep rep;
	int n = 0;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	for (uint32_t i = 0; i < rep.n_list; i++)
		if (strcmp(rep.list[i].holder, holder) == 0) {
			t = rep.list[i];
			t.id = strdup(t.id); /* the only string the tests read */
			t.user = t.holder = t.actor = NULL;
			n++;
		}
	pt_rep_clear(&rep);
	assert_int_equal(n, 1);
	assert_non_null(t.id);
	return t;
}

static bool log_has(const char *what)
{
	char *log = th_slurp(th.logpath);
	bool found = log && strstr(log, what);

	free(log);
	return found;
}

static bool audit_has(const char *what)
{
	char path[PATH_MAX];
	char *log;
	bool found;

	snprintf(path, sizeof(path), "%s/state/audit.log", th.dir);
	log = th_slurp(path);
	found = log && strstr(log, what);
	free(log);
	return found;
}

/* Blocks until the wall clock reaches t (s): the event a cap is about. */
static void wait_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)t };

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	assert_true(pt_now_s() >= t); /* tokend reads CLOCK_REALTIME too */
}

/* `pertok persist --holder H` as the user, with token as the session
 * keyring's pertok:live (a fresh session keyring of the child's own).
 * Returns its exit status; its output (stdout + stderr) lands in out. */
static int pertok_persist(const char *token, const char *holder, char *out, size_t outlen)
{
	const char *b = getenv("top_builddir");
	char bin[PATH_MAX];
	int fds[2];
	size_t have = 0;
	ssize_t k;
	pid_t pid;
	int st;

	snprintf(bin, sizeof(bin), "%s/tools/pertok", b ? b : ".");
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		if (keyctl_join_session_keyring(NULL) < 0 ||
		    add_key("user", "pertok:live", token, strlen(token), KEY_SPEC_SESSION_KEYRING) <
			    0)
			_exit(101);
		execl(bin, "pertok", "persist", "-s", th.sock, "--holder", holder, (char *)NULL);
		_exit(102);
	}
	close(fds[1]);
	while (have + 1 < outlen && (k = read(fds[0], out + have, outlen - have - 1)) > 0)
		have += (size_t)k;
	out[have] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* ------------------------------------------------------------------ tests */

/* Default: a redeemed live token is refused at EXCHANGE whoever asks, for
 * its own holder or another; the persistable token stays as it was. */
static void test_redeemed_refused(void **state)
{
	struct pt_tokinfo before, after;
	struct pt_rep rep;
	char *login, *id, *job;

	(void)state;
	login = mint();
	id = exchange_id(login, "tester", 600);
	before = listed("tester");
	job = redeem();

	/* as an actor */
	assert_int_equal(exchange(job, "tester", 0, &rep), PT_E_DENIED);
	assert_non_null(strstr(rep.message, "only a live token minted at login can be exchanged"));
	assert_non_null(strstr(rep.message, id));
	pt_rep_clear(&rep);
	assert_int_equal(exchange(job, "other", 0, &rep), PT_E_DENIED);
	pt_rep_clear(&rep);
	/* as the user */
	assert_int_equal(exchange_as_user(job, "tester", NULL), PT_E_DENIED);
	assert_int_equal(exchange_as_user(job, "other", NULL), PT_E_DENIED);

	after = listed("tester");
	assert_string_equal(after.id, id);
	assert_int_equal(after.exp, before.exp);
	assert_int_equal(after.iat, before.iat);
	assert_true(log_has("op=exchange result=deny user=nobody holder=tester actor=tester"));
	assert_true(log_has("op=exchange result=deny user=nobody holder=tester actor=self"));
	assert_true(log_has("reason=\"live token minted by a redemption, not a login: rule "
			    "\\\"iss\\\" (line 7) does not set renew_from_redeemed\""));
	assert_true(audit_has("live token minted by a redemption, not a login"));
	/* no token appeared for the other holder */
	{
		struct pt_req req = { .type = PT_LIST, .user = (char *)USER };

		assert_int_equal(th_call(&req, &rep), 0);
		assert_int_equal(rep.n_list, 1);
		pt_rep_clear(&rep);
	}
	free(before.id);
	free(after.id);
	free(id);
	pt_free_secret(job);
	pt_free_secret(login);
}

/* The login-minted token still works, as `pertok persist` from the user's
 * session keyring; the redeemed one in a job's keyring does not. */
static void test_pertok_persist(void **state)
{
	char out[2048], *login, *job;
	struct pt_tokinfo t;

	(void)state;
	login = mint();
	assert_int_equal(pertok_persist(login, "tester", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "holder=tester"));
	t = listed("tester");
	assert_true(strstr(out, t.id) != NULL);
	assert_true(log_has("op=exchange result=allow user=nobody holder=tester actor=self"));
	job = redeem();
	assert_int_not_equal(pertok_persist(job, "tester", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "only a live token minted at login can be exchanged"));
	free(t.id);
	pt_free_secret(job);
	pt_free_secret(login);
}

/* With renew_from_redeemed: the same token (id, issue time, uses) gets a
 * new expiry, capped at its issue time + max_persist_lifetime, however often
 * and by whichever caller it is renewed; audited as a renewal. */
static void test_renewal_capped(void **state)
{
	struct pt_tokinfo t0, t1, t2;
	struct pt_rep rep;
	uint64_t exp = 0;
	char *login, *id, *job, *job2;

	(void)state;
	login = mint();
	id = exchange_id(login, "tester", 600); /* a short first lifetime */
	t0 = listed("tester");
	assert_int_equal(t0.exp, t0.iat + 600);
	job = redeem();
	/* a second later, now + 1h lies past the login's hard maximum */
	wait_until(t0.iat + 1);

	assert_int_equal(exchange_as_user(job, "tester", &exp), 0);
	assert_int_equal(exp, t0.iat + MAX_PERSIST);
	t1 = listed("tester");
	assert_string_equal(t1.id, id);
	assert_int_equal(t1.iat, t0.iat);
	assert_int_equal(t1.exp, t0.iat + MAX_PERSIST);
	assert_int_equal(t1.uses, 1);
	assert_true(log_has("op=exchange result=renew user=nobody holder=tester actor=self"));
	assert_true(log_has("reason=\"renewal from redeemed token: rule \\\"iss\\\" (line 7) "
			    "sets renew_from_redeemed; expiry capped at its issue time + "
			    "max_persist_lifetime\""));
	assert_true(audit_has("\"result\":\"renew\""));
	assert_true(audit_has("renewal from redeemed token"));

	/* the chain: redeem again, renew as the actor: still the first maximum */
	job2 = redeem();
	wait_until(t0.iat + 2);
	assert_int_equal(exchange(job2, "tester", 0, &rep), 0);
	assert_true(rep.renewed);
	assert_string_equal(rep.id, id);
	assert_int_equal(rep.exp, t0.iat + MAX_PERSIST);
	pt_rep_clear(&rep);
	t2 = listed("tester");
	assert_int_equal(t2.iat, t0.iat);
	assert_int_equal(t2.exp, t0.iat + MAX_PERSIST);
	assert_int_equal(t2.uses, 2);
	assert_true(log_has("op=exchange result=renew user=nobody holder=tester actor=tester"));

	/* a new login starts a new chain (and a new token) */
	assert_int_equal(exchange(login, "tester", 0, &rep), 0);
	assert_string_not_equal(rep.id, id);
	pt_rep_clear(&rep);
	free(t0.id);
	free(t1.id);
	free(t2.id);
	free(id);
	pt_free_secret(job);
	pt_free_secret(job2);
	pt_free_secret(login);
}

/* A redeem rule's max_age caps a renewal too: the token could not be
 * redeemed past its issue time + max_age anyway. */
static void test_renewal_capped_by_max_age(void **state)
{
	struct pt_tokinfo t0, t1;
	uint64_t exp = 0;
	char *login, *id, *job;

	(void)state;
	login = mint();
	id = exchange_id(login, "tester", 600);
	t0 = listed("tester");
	job = redeem();
	assert_int_equal(exchange_as_user(job, "tester", &exp), 0);
	assert_int_equal(exp, t0.iat + 1800);
	t1 = listed("tester");
	assert_string_equal(t1.id, id);
	assert_int_equal(t1.exp, t0.iat + 1800);
	assert_true(log_has("expiry capped at its issue time + max_age\""));
	free(t0.id);
	free(t1.id);
	free(id);
	pt_free_secret(job);
	pt_free_secret(login);
}

/* With renew_from_redeemed: only the slot the token was redeemed from, and
 * only while that token exists. */
static void test_renewal_same_slot_only(void **state)
{
	struct pt_req revoke = { .type = PT_REVOKE };
	struct pt_req list = { .type = PT_LIST, .user = (char *)USER };
	struct pt_rep rep;
	char *login, *id, *job;

	(void)state;
	login = mint();
	id = exchange_id(login, "tester", 0);
	job = redeem();
	/* another holder: refused, no token made for it */
	assert_int_equal(exchange(job, "other", 0, &rep), PT_E_DENIED);
	assert_non_null(strstr(rep.message, "may only renew that token"));
	pt_rep_clear(&rep);
	assert_int_equal(exchange_as_user(job, "other", NULL), PT_E_DENIED);
	assert_int_equal(th_call(&list, &rep), 0);
	assert_int_equal(rep.n_list, 1);
	pt_rep_clear(&rep);
	/* the token it was redeemed from is revoked: nothing to renew */
	revoke.id = id;
	assert_int_equal(th_call(&revoke, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	assert_int_equal(exchange_as_user(job, "tester", NULL), PT_E_NOTFOUND);
	assert_int_equal(exchange(job, "tester", 0, &rep), PT_E_NOTFOUND);
	assert_non_null(strstr(rep.message, "no longer exists"));
	pt_rep_clear(&rep);
	assert_int_equal(th_call(&list, &rep), 0);
	assert_int_equal(rep.n_list, 0);
	pt_rep_clear(&rep);
	/* and a new login's token is not a renewal target of the old job's token */
	free(id);
	id = exchange_id(login, "tester", 0);
	assert_int_equal(exchange_as_user(job, "tester", NULL), PT_E_NOTFOUND);
	free(id);
	pt_free_secret(job);
	pt_free_secret(login);
}

/* With renew_from_redeemed: a live token that outlives the persistable
 * token it was redeemed from cannot bring that token back. (A redemption
 * never gives a live token past its persistable token: this one outlives
 * it because a later job's redemption curtailed it.) */
static void test_renewal_source_expired(void **state)
{
	struct pt_tokinfo t;
	struct pt_rep rep;
	char *login, *id, *job;
	unsigned reloads;

	(void)state;
	login = mint();
	id = exchange_id(login, "tester", 0); /* 1 h */
	job = redeem();			      /* its live token lasts 5 min */
	reloads = th_count_log("op=reload result=allow");
	write_conf("renew_from_redeemed = true;", "persist_lifetime = \"3s\";");
	assert_int_equal(kill(th.pid, SIGHUP), 0);
	assert_true(th_wait_log("op=reload result=allow", reloads + 1, 5000) >= 0);
	pt_free_secret(redeem()); /* the next job's: 3 s after the token's issue */
	t = listed("tester");
	assert_int_equal(t.exp, t.iat + 3);
	wait_until(t.exp);
	assert_int_equal(exchange(job, "tester", 0, &rep), PT_E_INVALID);
	assert_non_null(strstr(rep.message, "expired"));
	pt_rep_clear(&rep);
	assert_true(log_has("renewal from redeemed token: persistable token expired"));
	free((char *)t.id);
	free(id);
	pt_free_secret(job);
	pt_free_secret(login);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_redeemed_refused, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_pertok_persist, setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_renewal_capped, setup_renew, teardown),
		cmocka_unit_test_setup_teardown(test_renewal_capped_by_max_age, setup_renew_max_age,
						teardown),
		cmocka_unit_test_setup_teardown(test_renewal_same_slot_only, setup_renew, teardown),
		cmocka_unit_test_setup_teardown(test_renewal_source_expired, setup_renew, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-renewal needs root (tokend reads shadow and peers' "
		       "executables; the test switches uid)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
