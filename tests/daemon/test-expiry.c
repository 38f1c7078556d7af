/* SPDX-License-Identifier: MIT */
/*
 * Item 16 of the v0.1 review, at the daemon boundary: expired tokens of
 * both kinds presented to a real tokend over its socket. A persistable
 * token past its expiry is not redeemed (refused as expired, or already
 * removed by housekeeping: either way no live token comes back); a live
 * token past its expiry is not exchanged, by an actor or by its user. The
 * tokens get lifetimes of one second and the test waits for the wall clock
 * (CLOCK_REALTIME, which tokend reads) to reach their expiry: the event
 * itself, not a guess. Each test runs its own tokend. Needs root.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
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

static void write_conf(const char *live_lifetime)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 2000;\n"
		"          live_lifetime = \"%s\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"iss\"; actors = [ \"tester\", \"self\" ];\n"
		"            holders = [ \"tester\" ]; } );\n"
		"redeem = ( { name = \"red\"; holders = [ \"tester\" ]; check_account = false; } );\n",
		th.sock, th.dir, live_lifetime, th.self_exe);
	fclose(f);
}

static int start(const char *live_lifetime)
{
	if (th_init("expiry") < 0)
		return -1;
	write_conf(live_lifetime);
	th_start();
	return 0;
}

static int setup_default(void **state)
{
	(void)state;
	return start("5m");
}

static int setup_short_live(void **state)
{
	(void)state;
	return start("1s");
}

static int teardown(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	return th_remove_dir();
}

/* ---------------------------------------------------------------- helpers */

static char *mint(const char *user, uint64_t *ret_exp)
{
	return th_mint(user, "sshd", ret_exp);
}

/* EXCHANGE as actor tester; 0 or the error code, the reply left in *rep. */
static uint32_t exchange(const char *token, uint64_t lifetime, struct pt_rep *rep)
{
	struct pt_req req = { .type = PT_EXCHANGE,
			      .live_token = (char *)token,
			      .holder = (char *)"tester",
			      .lifetime = lifetime };

	assert_int_equal(th_call(&req, rep), 0);
	return rep->type == PT_OK ? 0 : rep->err_code;
}

/* EXCHANGE as the user nobody (actor "self"), in a child. */
static uint32_t exchange_as_nobody(const char *token)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct pt_rep rep;
		uint32_t code;

		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		code = exchange(token, 0, &rep);
		pt_rep_clear(&rep);
		_exit((int)code);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return (uint32_t)WEXITSTATUS(st);
}

/* REDEEM as actor tester; 0 or the error code, the reply left in *rep. */
static uint32_t redeem(const char *user, struct pt_rep *rep)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)user,
			      .holder = (char *)"tester",
			      .service = (char *)"atd" };

	assert_int_equal(th_call(&req, rep), 0);
	return rep->type == PT_OK ? 0 : rep->err_code;
}

static size_t n_tokens(const char *user)
{
	struct pt_req req = { .type = PT_LIST, .user = (char *)user };
	struct pt_rep rep;
	size_t n;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	n = rep.n_list;
	pt_rep_clear(&rep);
	return n;
}

static bool log_has(const char *what)
{
	char *log = th_slurp(th.logpath);
	bool found = log && strstr(log, what);

	free(log);
	return found;
}

/* Blocks until tokend's clock (CLOCK_REALTIME, whole seconds) reaches t. */
static void wait_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)t };

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	assert_true(pt_now_s() >= t);
}

/* ------------------------------------------------------------------ tests */

/* A persistable token past its expiry is not redeemed. Housekeeping may
 * have removed it first (it deletes expired tokens; a grace period may
 * keep them): then it is "not found", and the log says it expired. Either
 * way no live token comes back, while an unexpired token of another user
 * still redeems. */
static void test_expired_persistable_not_redeemed(void **state)
{
	struct pt_rep rep;
	uint64_t exp;
	uint32_t code;
	char *login, *other, *id, line[256];

	(void)state;
	login = mint("nobody", NULL);
	assert_int_equal(exchange(login, 1, &rep), 0); /* one second */
	id = strdup(rep.id);
	exp = rep.exp;
	pt_rep_clear(&rep);
	other = mint("root", NULL);
	assert_int_equal(exchange(other, 0, &rep), 0);
	pt_rep_clear(&rep);

	wait_until(exp);
	code = redeem("nobody", &rep);
	assert_int_not_equal(code, 0);
	assert_null(rep.token);
	if (code == PT_E_NOTFOUND) {
		snprintf(line, sizeof(line),
			 "op=expire result=allow user=nobody holder=tester id=%s", id);
		assert_true(log_has(line));
	} else {
		assert_int_equal(code, PT_E_INVALID);
		assert_non_null(strstr(rep.message, "expired"));
		snprintf(line, sizeof(line),
			 "op=redeem result=deny user=nobody holder=tester actor=tester");
		assert_true(log_has(line));
		assert_true(log_has("reason=\"persistable token expired\""));
	}
	pt_rep_clear(&rep);
	/* not redeemed on a second try either, nor counted as a use */
	assert_int_not_equal(redeem("nobody", &rep), 0);
	assert_null(rep.token);
	pt_rep_clear(&rep);
	/* the control: a token that has not expired redeems */
	assert_int_equal(redeem("root", &rep), 0);
	assert_non_null(rep.token);
	pt_rep_clear(&rep);
	free(id);
	pt_free_secret(login);
	pt_free_secret(other);
}

/* A live token past its expiry is not exchanged, neither by the login's
 * actor nor by its user, and no persistable token appears. */
static void test_expired_live_not_exchanged(void **state)
{
	struct pt_rep rep;
	uint64_t exp = 0;
	char *login;

	(void)state;
	login = mint("nobody", &exp);
	assert_true(exp > 0);
	wait_until(exp);
	assert_int_equal(exchange(login, 0, &rep), PT_E_INVALID);
	assert_string_equal(rep.message, "live token rejected: expired");
	pt_rep_clear(&rep);
	assert_int_equal(exchange_as_nobody(login), PT_E_INVALID);
	assert_int_equal(n_tokens("nobody"), 0);
	assert_true(log_has("op=exchange result=deny user=- holder=tester actor=- rule=- "
			    "peer_uid=0"));
	assert_true(log_has("op=exchange result=deny user=- holder=tester actor=- rule=- "
			    "peer_uid=65534"));
	assert_true(log_has("reason=expired"));
	pt_free_secret(login);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_expired_persistable_not_redeemed,
						setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_expired_live_not_exchanged, setup_short_live,
						teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-expiry needs root (tokend reads shadow; the test "
		       "switches uid)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
