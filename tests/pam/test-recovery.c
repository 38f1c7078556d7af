/* SPDX-License-Identifier: MIT */
/*
 * pam_pertok recovery (break-glass login with a one-time code) against a
 * real tokend, run by tests/pam/test-recovery.sh (test-pam.sh with this
 * program) under pam_wrapper, through libpamtest and real stacks. tokend's
 * type "recovery": 20 letters, case-insensitive, one use, max_failures 3.
 * Codes are issued here as root (PT_CODE_ISSUE, or PT_CODE_SHEET for a sheet
 * of several); the module checks them as root, the caller class a console
 * login has.
 *
 * The "pt-rec-*" probes show the module's own code (see test-pam.c:
 * PAM_IGNORE comes back as MODULE_IGNORED). Each test uses user names of its
 * own: tokend need not know them (a user without a code is "unknown").
 */
#include "config.h"

#include <security/pam_appl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpamtest.h>

#include "client.h"
#include "proto.h"
#include "util.h"

#define MODULE_IGNORED PAM_CRED_UNAVAIL
#define TYPE "recovery"
#define MAX_FAILURES 3 /* as test-pam.sh configures the type */
#define DELAY_MS 300   /* the probes' delay= */
#define REFUSED "Recovery code not accepted."

static struct {
	const char *sock, *dir;
} env;

static uint64_t now_ms(void)
{
	return pt_now_ms_monotonic();
}

/* A new code of TYPE for user (as root), caller frees. */
static char *issue_code(const char *user)
{
	struct pt_req req = { .type = PT_CODE_ISSUE, .ttype = TYPE, .user = (char *)user };
	struct pt_rep rep = {};
	struct pt_client *c = NULL;
	char *code;

	assert_int_equal(pt_client_connect(env.sock, 3000, &c), 0);
	assert_int_equal(pt_client_call(c, &req, &rep), 0);
	if (rep.type != PT_OK)
		fail_msg("code issue for %s: %s", user, rep.message ? rep.message : "?");
	code = rep.token;
	rep.token = NULL;
	pt_rep_clear(&rep);
	pt_client_free(c);
	assert_non_null(code);
	assert_int_equal(strlen(code), 20);
	return code;
}

/* A sheet of n codes of TYPE for user (as root): codes[0..n), caller frees. */
static void issue_sheet(const char *user, uint32_t n, char **codes)
{
	struct pt_req req = {
		.type = PT_CODE_SHEET, .ttype = TYPE, .user = (char *)user, .count = n
	};
	struct pt_rep rep = {};
	struct pt_client *c = NULL;

	assert_int_equal(pt_client_connect(env.sock, 3000, &c), 0);
	assert_int_equal(pt_client_call(c, &req, &rep), 0);
	if (rep.type != PT_OK)
		fail_msg("code sheet for %s: %s", user, rep.message ? rep.message : "?");
	assert_int_equal(rep.n_codes, n);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(rep.codes[i].id, i + 1);
		codes[i] = rep.codes[i].code;
		rep.codes[i].code = NULL;
	}
	pt_rep_clear(&rep);
	pt_client_free(c);
}

/* The same code with one letter changed (still the type's format). */
static char *wrong_code(const char *code)
{
	char *w = strdup(code);

	assert_non_null(w);
	w[0] = w[0] == 'A' || w[0] == 'a' ? 'B' : 'A';
	return w;
}

struct outcome {
	int rv;			    /* pam_authenticate's */
	uint64_t ms;		    /* how long it took */
	char err[PAM_MAX_MSG_SIZE]; /* the first PAM_ERROR_MSG ("" if none) */
	char info[PAM_MAX_MSG_SIZE];
};

/* One pam_authenticate of service for user, answering code to the prompt
 * (NULL: no answer at all). */
static struct outcome auth(const char *service, const char *user, const char *code)
{
	static char info[8][PAM_MAX_MSG_SIZE], err[8][PAM_MAX_MSG_SIZE];
	char *out_info[9] = { 0 }, *out_err[9] = { 0 };
	const char *in[2] = { code, NULL };
	struct pamtest_conv_data conv = { .in_echo_off = in,
					  .out_info = out_info,
					  .out_err = out_err };
	struct pam_testcase t[] = { pam_test(PAMTEST_AUTHENTICATE, 0) };
	struct outcome o = {};
	enum pamtest_err perr;
	uint64_t t0;

	for (size_t i = 0; i < 8; i++) {
		info[i][0] = err[i][0] = '\0';
		out_info[i] = info[i];
		out_err[i] = err[i];
	}
	t0 = now_ms();
	perr = _pamtest(service, user, &conv, t, 1, NULL);
	o.ms = now_ms() - t0;
	if (perr != PAMTEST_ERR_OK && perr != PAMTEST_ERR_CASE)
		fail_msg("%s/%s: %s", service, user, pamtest_strerror(perr));
	o.rv = t[0].op_rv;
	snprintf(o.err, sizeof(o.err), "%s", err[0]);
	snprintf(o.info, sizeof(o.info), "%s", info[0]);
	return o;
}

static void assert_refused(const struct outcome *o)
{
	assert_int_equal(o->rv, PAM_AUTH_ERR);
	assert_string_equal(o->err, REFUSED);
	if (o->ms < DELAY_MS - 10)
		fail_msg("refused after %llu ms, before delay=%d", (unsigned long long)o->ms,
			 DELAY_MS);
}

/* ---------------------------------------------------------------- tests */

/* A good code opens the console once; typed in lower case it is the same
 * code (the type is case-insensitive); the same code again is refused. */
static void test_good_code_once(void **state)
{
	char *code = issue_code("pt-rec-good"), *lower = strdup(code);
	struct outcome o;

	for (char *p = lower; *p; p++)
		*p = (char)(*p | 0x20);
	o = auth("pt-rec", "pt-rec-good", lower);
	assert_int_equal(o.rv, PAM_SUCCESS);
	assert_string_equal(o.err, "");
	o = auth("pt-rec", "pt-rec-good", code);
	assert_refused(&o);
	pt_free_secret(code);
	pt_free_secret(lower);
}

/* A sheet: any of its codes opens the console once, in any order; a used
 * one is refused; when all are used, nothing is left. */
static void test_sheet_codes(void **state)
{
	char *codes[3];
	struct outcome o;

	issue_sheet("pt-rec-sheet", 3, codes);
	assert_int_equal(auth("pt-rec", "pt-rec-sheet", codes[1]).rv, PAM_SUCCESS);
	o = auth("pt-rec", "pt-rec-sheet", codes[1]);
	assert_refused(&o);
	assert_int_equal(auth("pt-rec", "pt-rec-sheet", codes[0]).rv, PAM_SUCCESS);
	assert_int_equal(auth("pt-rec", "pt-rec-sheet", codes[2]).rv, PAM_SUCCESS);
	for (int i = 0; i < 3; i++) {
		o = auth("pt-rec", "pt-rec-sheet", codes[i]);
		assert_refused(&o);
		pt_free_secret(codes[i]);
	}
}

/* In a console stack (sufficient, then pam_deny): the code is the login. */
static void test_login_stack(void **state)
{
	char *code = issue_code("pt-rec-login"), *w = wrong_code(code);
	struct outcome o;

	o = auth("pt-rec-login", "pt-rec-login", w);
	assert_int_equal(o.rv, PAM_AUTH_ERR); /* pam_deny's */
	o = auth("pt-rec-login", "pt-rec-login", code);
	assert_int_equal(o.rv, PAM_SUCCESS);
	pt_free_secret(code);
	pt_free_secret(w);
}

/* max_failures wrong codes lock the user out: the right code is refused
 * then, with the same answer as any wrong code. */
static void test_lockout(void **state)
{
	char *code = issue_code("pt-rec-lock"), *w = wrong_code(code);
	struct outcome o, first;

	first = auth("pt-rec", "pt-rec-lock", w);
	assert_refused(&first);
	for (int i = 1; i < MAX_FAILURES; i++) {
		o = auth("pt-rec", "pt-rec-lock", w);
		assert_refused(&o);
	}
	o = auth("pt-rec", "pt-rec-lock", code);
	assert_refused(&o);
	assert_string_equal(o.err, first.err);
	pt_free_secret(code);
	pt_free_secret(w);
}

/* An unknown user, a user without a code and a wrong code: the same code,
 * the same message, timings within the delay's precision. */
static void test_unknown_user_indistinguishable(void **state)
{
	char *code = issue_code("pt-rec-known"), *w = wrong_code(code);
	struct outcome wrong, unknown, nocode;
	uint64_t lo, hi;

	wrong = auth("pt-rec", "pt-rec-known", w);
	unknown = auth("pt-rec", "pt-rec-no-such-user", w);
	nocode = auth("pt-rec", "root", w);
	assert_refused(&wrong);
	assert_refused(&unknown);
	assert_refused(&nocode);
	assert_string_equal(unknown.err, wrong.err);
	assert_string_equal(nocode.err, wrong.err);
	assert_string_equal(unknown.info, wrong.info);
	lo = wrong.ms < unknown.ms ? wrong.ms : unknown.ms;
	hi = wrong.ms < unknown.ms ? unknown.ms : wrong.ms;
	if (hi - lo > 100)
		fail_msg("wrong code %llu ms, unknown user %llu ms", (unsigned long long)wrong.ms,
			 (unsigned long long)unknown.ms);
	/* and the known user's code still works (one failure counted) */
	assert_int_equal(auth("pt-rec", "pt-rec-known", code).rv, PAM_SUCCESS);
	pt_free_secret(code);
	pt_free_secret(w);
}

/* Names and codes the protocol cannot carry get the same refusal, not an
 * error that tells them apart. */
static void test_overlong_input_refused(void **state)
{
	char longname[301], longcode[301];
	struct outcome o;

	memset(longname, 'u', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longcode, 'A', sizeof(longcode) - 1);
	longcode[sizeof(longcode) - 1] = '\0';
	o = auth("pt-rec", longname, "ABCDEFGHIJKLMNOPQRST");
	assert_refused(&o);
	o = auth("pt-rec", "pt-rec-long", longcode);
	assert_refused(&o);
}

/* Enter alone skips the module and counts no failure. */
static void test_empty_code_skips(void **state)
{
	char *code = issue_code("pt-rec-empty");
	struct outcome o;

	for (int i = 0; i < MAX_FAILURES + 1; i++) {
		o = auth("pt-rec", "pt-rec-empty", "");
		assert_int_equal(o.rv, MODULE_IGNORED);
		assert_string_equal(o.err, "");
	}
	assert_int_equal(auth("pt-rec", "pt-rec-empty", code).rv, PAM_SUCCESS);
	pt_free_secret(code);
}

/* tokend down: PAM_AUTHINFO_UNAVAIL (and the code is not lost: not counted). */
static void test_tokend_down(void **state)
{
	char *code = issue_code("pt-rec-down");
	struct outcome o;

	o = auth("pt-rec-down", "pt-rec-down", code);
	assert_int_equal(o.rv, PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(auth("pt-rec", "pt-rec-down", code).rv, PAM_SUCCESS);
	pt_free_secret(code);
}

/* Configuration errors: no type= is PAM_SERVICE_ERR before any prompt; a
 * type tokend does not know is PAM_AUTHINFO_UNAVAIL for every user. */
static void test_config_errors(void **state)
{
	char *code = issue_code("pt-rec-conf");
	struct outcome o;

	o = auth("pt-rec-notype", "pt-rec-conf", code);
	assert_int_equal(o.rv, PAM_SERVICE_ERR);
	o = auth("pt-rec-badtype", "pt-rec-conf", code);
	assert_int_equal(o.rv, PAM_AUTHINFO_UNAVAIL);
	o = auth("pt-rec-badtype", "pt-rec-no-such-user", code);
	assert_int_equal(o.rv, PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(auth("pt-rec", "pt-rec-conf", code).rv, PAM_SUCCESS);
	pt_free_secret(code);
}

/* Without delay= a refusal takes the default 2 s. */
static void test_default_delay(void **state)
{
	struct outcome o = auth("pt-rec-nodelay", "pt-rec-no-such-user", "ABCDEFGHIJKLMNOPQRST");

	assert_int_equal(o.rv, PAM_AUTH_ERR);
	if (o.ms < 1990)
		fail_msg("refused after %llu ms", (unsigned long long)o.ms);
}

/* setcred succeeds in recovery mode; account and session step aside. */
static void test_other_entry_points(void **state)
{
	char *code = issue_code("pt-rec-cred");
	const char *in[2] = { code, NULL };
	struct pamtest_conv_data conv = { .in_echo_off = in };
	struct pam_testcase t[] = {
		pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
		pam_test(PAMTEST_SETCRED, PAM_SUCCESS),
		pam_test(PAMTEST_ACCOUNT, MODULE_IGNORED),
		pam_test(PAMTEST_OPEN_SESSION, MODULE_IGNORED),
	};
	enum pamtest_err perr;

	perr = _pamtest("pt-rec-all", "pt-rec-cred", &conv, t, 4, NULL);
	if (perr == PAMTEST_ERR_CASE) {
		const struct pam_testcase *f = _pamtest_failed_case(t, 4);

		fail_msg("operation %d returned %d, expected %d", f->pam_operation, f->op_rv,
			 f->expected_rv);
	}
	assert_int_equal(perr, PAMTEST_ERR_OK);
	pt_free_secret(code);
}

/* pam_authenticate of pt-rec in a child running as uid (no groups): its
 * pam_authenticate code, or -1. The code comes back through a pipe, not the
 * exit status (which memcheck replaces when it finds pam_wrapper's leaks). */
static int auth_as(uid_t uid, const char *user, const char *code)
{
	int fds[2], rv = -1;
	pid_t pid;

	fflush(NULL);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct outcome o;

		close(fds[0]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(uid) < 0)
			_exit(1);
		o = auth("pt-rec", user, code);
		if (write(fds[1], &o.rv, sizeof(o.rv)) != sizeof(o.rv))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &rv, sizeof(rv)) != sizeof(rv))
		rv = -1;
	close(fds[0]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return rv;
}

static char *slurp(const char *path);

/* tokend admits code checks from root or a configured actor: a stack run
 * by another uid gets PAM_AUTHINFO_UNAVAIL (the same for every user) and the
 * code is not counted; uid 65534, an actor of test-pam.sh's tokend, is
 * admitted. */
static void test_caller_class(void **state)
{
	char *code = issue_code("pt-rec-caller"), *w = wrong_code(code), path[512], *log;

	assert_int_equal(auth_as(65533, "pt-rec-caller", w), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(auth_as(65533, "pt-rec-caller", code), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(auth_as(65533, "pt-rec-no-such-user", w), PAM_AUTHINFO_UNAVAIL);
	snprintf(path, sizeof(path), "%s/tokend.log", env.dir);
	log = slurp(path);
	assert_non_null(strstr(log, "caller is neither root nor a configured actor"));
	free(log);
	/* the actor's wrong code is counted like root's, its right code opens */
	assert_int_equal(auth_as(65534, "pt-rec-caller", w), PAM_AUTH_ERR);
	assert_int_equal(auth_as(65534, "pt-rec-caller", code), PAM_SUCCESS);
	pt_free_secret(code);
	pt_free_secret(w);
}

/* The whole file at path (caller frees). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

/* The module's log lines (pam_wrapper writes pam_syslog to stderr) name the
 * console, PAM_TTY, for a refusal and a success, and never the code. */
static void test_log_names_tty_not_code(void **state)
{
	char *code = issue_code("pt-rec-tty"), *w = wrong_code(code), path[512], *log;
	int saved, fd;

	snprintf(path, sizeof(path), "%s/services/pt-rec-tty", env.dir);
	if (access(path, F_OK) < 0) {
		print_message("# skipped: pam_wrapper's pam_set_items.so is not installed\n");
		pt_free_secret(code);
		pt_free_secret(w);
		skip();
	}
	snprintf(path, sizeof(path), "%s/module.log", env.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(setenv("PAM_TTY", "tty7", 1), 0);
	assert_int_equal(setenv("PAM_WRAPPER_DEBUGLEVEL", "3", 1), 0);
	fflush(stderr);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	(void)auth("pt-rec-tty", "pt-rec-tty", w);
	(void)auth("pt-rec-tty", "pt-rec-tty", code);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	assert_int_equal(unsetenv("PAM_WRAPPER_DEBUGLEVEL"), 0);
	assert_int_equal(unsetenv("PAM_TTY"), 0);

	log = slurp(path);
	if (!strstr(log, "op=recovery result=deny user=pt-rec-tty tty=tty7") ||
	    !strstr(log, "op=recovery result=allow user=pt-rec-tty tty=tty7"))
		fail_msg("no deny and allow lines naming tty7 in:\n%s", log);
	assert_null(strstr(log, code));
	assert_null(strstr(log, w));
	free(log);
	pt_free_secret(code);
	pt_free_secret(w);
}

/* tokend never logs a code it checked. */
static void test_code_not_in_tokend_log(void **state)
{
	char *code = issue_code("pt-rec-log"), *w = wrong_code(code), path[512], *log;

	(void)auth("pt-rec", "pt-rec-log", w);
	assert_int_equal(auth("pt-rec", "pt-rec-log", code).rv, PAM_SUCCESS);
	snprintf(path, sizeof(path), "%s/tokend.log", env.dir);
	log = slurp(path);
	assert_non_null(strstr(log, "pt-rec-log")); /* the checks were logged */
	assert_null(strstr(log, code));
	assert_null(strstr(log, w));
	free(log);
	pt_free_secret(code);
	pt_free_secret(w);
}

static int setup_group(void **state)
{
	env.sock = getenv("PERTOK_TEST_SOCKET");
	env.dir = getenv("PERTOK_TEST_DIR");
	if (!env.sock || !env.dir) {
		fprintf(stderr, "# run me through tests/pam/test-recovery.sh\n");
		return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_code_once),
		cmocka_unit_test(test_login_stack),
		cmocka_unit_test(test_sheet_codes),
		cmocka_unit_test(test_lockout),
		cmocka_unit_test(test_unknown_user_indistinguishable),
		cmocka_unit_test(test_overlong_input_refused),
		cmocka_unit_test(test_empty_code_skips),
		cmocka_unit_test(test_tokend_down),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_default_delay),
		cmocka_unit_test(test_other_entry_points),
		cmocka_unit_test(test_caller_class),
		cmocka_unit_test(test_log_names_tty_not_code),
		cmocka_unit_test(test_code_not_in_tokend_log),
	};

	return cmocka_run_group_tests(tests, setup_group, NULL);
}
