/* SPDX-License-Identifier: MIT */
/*
 * Codes of configured token types end to end: a private tokend in a temp dir
 * issues a 20-letter, case-insensitive, one-use recovery code; it is checked
 * once (typed in lower case), the second check fails; wrong codes count as
 * failures, the last one revokes the code and locks the user out; the lockout
 * ends; an idle code expires; num_uses and the global rate limit hold; the
 * failure count survives a restart; an unprivileged peer may do neither;
 * pertokctl code issue / check (code on stdin); pertokctl code issue --count
 * prints a sheet of codes with ids, any one of them works once and code list
 * shows which are used. Finally no code issued
 * appears in tokend's log or anywhere in its state directory. Needs root.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define NOBODY 65534
#define MAX_CODES 64

static char *codes[MAX_CODES]; /* every code issued, for the leak check */
static size_t n_codes;

static void write_conf(void)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 1000; };\n"
		"seal: { backend = \"software\"; };\n"
		"types = (\n"
		"  { name = \"recovery\"; kind = \"code\"; length = 20; case_sensitive = false;\n"
		"    charset = { letters = true; digits = false; special = false; };\n"
		"    prohibit = [ \"aaa\" ]; min_strength = 4; ttl = 2; max_ttl = \"1h\";\n"
		"    num_uses = 1; rate = \"20/1h\"; max_failures = 3; lockout = 2; },\n"
		"  { name = \"vault\"; length = 20; charset = { letters = true; digits = false; };\n"
		"    ttl = \"1h\"; num_uses = 1; max_failures = 3; lockout = \"1h\"; },\n"
		"  { name = \"pin\"; length = 10; charset = { letters = false; digits = true; };\n"
		"    num_uses = 2; global_rate = \"2/1h\"; max_failures = 0; },\n"
		"  { name = \"live\"; ttl = \"2m\"; }\n"
		");\n",
		th.sock, th.dir);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (th_init("types") < 0)
		return -1;
	write_conf();
	th_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	for (size_t i = 0; i < n_codes; i++)
		pt_free_secret(codes[i]);
	return th_remove_dir();
}

/* Issues a code: 0 and the code (kept for the leak check), or the error. */
static uint32_t issue(const char *type, const char *user, const char **ret_code, char *msg,
		      size_t msglen)
{
	struct pt_req req = { .type = PT_CODE_ISSUE, .ttype = (char *)type, .user = (char *)user };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	if (msg)
		snprintf(msg, msglen, "%s", rep.message ? rep.message : "");
	if (code == 0) {
		assert_true(n_codes < MAX_CODES);
		assert_non_null(rep.token);
		codes[n_codes] = rep.token;
		rep.token = NULL;
		if (ret_code)
			*ret_code = codes[n_codes];
		n_codes++;
	}
	pt_rep_clear(&rep);
	return code;
}

/* Checks a code: 0 (and the uses left) or the error code and message. */
static uint32_t check(const char *type, const char *user, const char *code, uint32_t *ret_left,
		      char *msg, size_t msglen)
{
	struct pt_req req = { .type = PT_CODE_CHECK,
			      .ttype = (char *)type,
			      .user = (char *)user,
			      .code = (char *)code };
	struct pt_rep rep;
	uint32_t r;

	assert_int_equal(th_call(&req, &rep), 0);
	r = rep.type == PT_OK ? 0 : rep.err_code;
	if (ret_left)
		*ret_left = rep.count;
	if (msg)
		snprintf(msg, msglen, "%s", rep.message ? rep.message : "");
	pt_rep_clear(&rep);
	return r;
}

static void test_issue_check_once(void **state)
{
	const char *code = NULL;
	char lower[32], msg[512];
	uint32_t left = 99;

	(void)state;
	assert_int_equal(issue("recovery", "alice", &code, NULL, 0), 0);
	assert_int_equal(strlen(code), 20);
	for (size_t i = 0; i < 20; i++) {
		assert_true(code[i] >= 'A' && code[i] <= 'Z');
		lower[i] = (char)tolower((unsigned char)code[i]);
	}
	lower[20] = '\0';
	/* case-insensitive: typed in lower case, accepted; one use */
	assert_int_equal(check("recovery", "alice", lower, &left, msg, sizeof(msg)), 0);
	assert_int_equal(left, 0);
	assert_int_equal(check("recovery", "alice", code, NULL, msg, sizeof(msg)), PT_E_INVALID);
	assert_string_equal(msg, "no code of type recovery is outstanding for alice");
	/* bound to the user */
	assert_int_equal(issue("recovery", "alice", &code, NULL, 0), 0);
	assert_int_equal(check("recovery", "bob", code, NULL, msg, sizeof(msg)), PT_E_INVALID);
	assert_int_equal(check("recovery", "alice", code, NULL, NULL, 0), 0);
	/* unknown types, and types that are not codes */
	assert_int_equal(issue("nope", "alice", NULL, msg, sizeof(msg)), PT_E_NOTFOUND);
	assert_string_equal(msg, "no such token type: nope");
	assert_int_equal(issue("live", "alice", NULL, msg, sizeof(msg)), PT_E_NOTFOUND);
	assert_int_equal(check("live", "alice", "x", NULL, NULL, 0), PT_E_NOTFOUND);
}

static void test_failures_lockout(void **state)
{
	const char *code = NULL;
	char msg[512];

	(void)state;
	assert_int_equal(issue("recovery", "carol", &code, NULL, 0), 0);
	assert_int_equal(check("recovery", "carol", "short", NULL, msg, sizeof(msg)), PT_E_INVALID);
	assert_string_equal(msg, "wrong code: a code of type recovery has 20 characters, not 5 (2 "
				 "of 3 attempts left)");
	assert_int_equal(check("recovery", "carol", "ZZZZZZZZZZZZZZZZZZZZ", NULL, msg, sizeof(msg)),
			 PT_E_INVALID);
	assert_string_equal(msg, "wrong code (1 of 3 attempts left)");
	assert_int_equal(check("recovery", "carol", "YYYYYYYYYYYYYYYYYYYY", NULL, msg, sizeof(msg)),
			 PT_E_LIMIT);
	assert_string_equal(msg, "wrong code; 3 failures: code revoked, user locked out for 2s");
	/* locked out: even the right code, and no new code */
	assert_int_equal(check("recovery", "carol", code, NULL, msg, sizeof(msg)), PT_E_LIMIT);
	assert_non_null(strstr(msg, "user carol is locked out of type recovery"));
	assert_int_equal(issue("recovery", "carol", NULL, msg, sizeof(msg)), PT_E_LIMIT);
	/* another user is not */
	assert_int_equal(issue("recovery", "dave", NULL, NULL, 0), 0);
	/* wait for the lockout to end (the event: tokend stops answering
	 * "locked out"), bounded; it lasts about its 2 s, not much less */
	{
		uint64_t t0 = pt_now_ms_monotonic();
		uint32_t r;

		while ((r = check("recovery", "carol", code, NULL, msg, sizeof(msg))) ==
		       PT_E_LIMIT) {
			if (pt_now_ms_monotonic() - t0 > 10000)
				fail_msg("still locked out 10 s after a 2 s lockout: %s", msg);
			usleep(50 * 1000);
		}
		assert_true(pt_now_ms_monotonic() - t0 >= 900);
		/* the lockout is over; the revoked code stays dead */
		assert_int_equal(r, PT_E_INVALID);
	}
	assert_string_equal(msg, "no code of type recovery is outstanding for carol");
	assert_int_equal(issue("recovery", "carol", &code, NULL, 0), 0);
	assert_int_equal(check("recovery", "carol", code, NULL, NULL, 0), 0);
}

static void test_expiry(void **state)
{
	const char *code = NULL;
	char msg[512];

	(void)state;
	time_t t0 = time(NULL);

	assert_int_equal(issue("recovery", "erin", &code, NULL, 0), 0);
	/* ttl = 2 s, in whole seconds of the wall clock: wait until the clock has
	 * passed it (a deadline, not a window: a slow machine only waits longer) */
	while (time(NULL) <= t0 + 3) /* + 1: issuing may cross a second */
		usleep(50 * 1000);
	assert_int_equal(check("recovery", "erin", code, NULL, msg, sizeof(msg)), PT_E_INVALID);
	assert_string_equal(msg, "the code of type recovery for erin has expired");
	assert_int_equal(check("recovery", "erin", code, NULL, msg, sizeof(msg)), PT_E_INVALID);
	assert_string_equal(msg, "no code of type recovery is outstanding for erin");
}

static void test_uses_and_global_rate(void **state)
{
	const char *code = NULL, *code2 = NULL;
	char msg[512];
	uint32_t left = 99;

	(void)state;
	assert_int_equal(issue("pin", "frank", &code, NULL, 0), 0);
	assert_int_equal(strlen(code), 10);
	assert_int_equal(strspn(code, "0123456789"), 10);
	assert_int_equal(check("pin", "frank", code, &left, NULL, 0), 0);
	assert_int_equal(left, 1);
	assert_int_equal(check("pin", "frank", code, &left, NULL, 0), 0);
	assert_int_equal(left, 0);
	assert_int_equal(check("pin", "frank", code, NULL, NULL, 0), PT_E_INVALID);
	/* global_rate = 2/1h across users */
	assert_int_equal(issue("pin", "gina", &code2, NULL, 0), 0);
	assert_int_equal(issue("pin", "hank", NULL, msg, sizeof(msg)), PT_E_LIMIT);
	assert_non_null(strstr(msg, "global rate limit of type pin reached, retry in 1"));
	/* max_failures = 0: failures never lock out */
	for (int i = 0; i < 6; i++)
		assert_int_equal(check("pin", "gina", "0000000000", NULL, NULL, 0), PT_E_INVALID);
	assert_int_equal(check("pin", "gina", code2, NULL, NULL, 0), 0);
}

static void test_failures_survive_restart(void **state)
{
	const char *code = NULL;
	char msg[512];

	(void)state;
	/* "vault": a long ttl and lockout, so a slow restart (valgrind) cannot
	 * end either before the third failure */
	assert_int_equal(issue("vault", "ivan", &code, NULL, 0), 0);
	assert_int_equal(check("vault", "ivan", "ZZZZZZZZZZZZZZZZZZZZ", NULL, NULL, 0),
			 PT_E_INVALID);
	assert_int_equal(check("vault", "ivan", "ZZZZZZZZZZZZZZZZZZZZ", NULL, NULL, 0),
			 PT_E_INVALID);
	th_stop(SIGTERM);
	th_start();
	assert_int_equal(check("vault", "ivan", "ZZZZZZZZZZZZZZZZZZZZ", NULL, msg, sizeof(msg)),
			 PT_E_LIMIT);
	assert_int_equal(check("vault", "ivan", code, NULL, NULL, 0), PT_E_LIMIT);
}

static void test_unprivileged(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pt_rep rep;
		struct pt_req iss = { .type = PT_CODE_ISSUE,
				      .ttype = (char *)"recovery",
				      .user = (char *)"nobody" };
		struct pt_req chk = { .type = PT_CODE_CHECK,
				      .ttype = (char *)"recovery",
				      .user = (char *)"nobody",
				      .code = (char *)"AAAAAAAAAAAAAAAAAAAA" };
		int bad = 0;

		if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(2);
		if (th_call(&iss, &rep) < 0 || rep.type != PT_ERR || rep.err_code != PT_E_PERM)
			bad |= 4;
		pt_rep_clear(&rep);
		if (th_call(&chk, &rep) < 0 || rep.type != PT_ERR || rep.err_code != PT_E_PERM)
			bad |= 8;
		pt_rep_clear(&rep);
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* pertokctl code issue prints the code; code check reads it from stdin. */
static void test_pertokctl(void **state)
{
	const char *b = getenv("top_builddir");
	char cmd[PATH_MAX * 2], out[128], codefile[128];
	FILE *f;

	(void)state;
	snprintf(codefile, sizeof(codefile), "%s/code.txt", th.dir);
	snprintf(cmd, sizeof(cmd),
		 "'%s/tools/pertokctl' -s '%s' code issue --type recovery --user judy >'%s' "
		 "2>/dev/null",
		 b ? b : ".", th.sock, codefile);
	assert_int_equal(system(cmd), 0);
	f = fopen(codefile, "r");
	assert_non_null(f);
	assert_non_null(fgets(out, sizeof(out), f));
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(strlen(out), 20);
	assert_true(n_codes < MAX_CODES);
	codes[n_codes++] = strdup(out);
	snprintf(cmd, sizeof(cmd),
		 "'%s/tools/pertokctl' -s '%s' code check --type recovery --user judy <'%s' "
		 ">/dev/null 2>&1",
		 b ? b : ".", th.sock, codefile);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(WEXITSTATUS(system(cmd)), 1); /* one use */
	unlink(codefile);
	explicit_bzero(out, sizeof(out));
	/* usage errors */
	snprintf(cmd, sizeof(cmd),
		 "'%s/tools/pertokctl' -s '%s' code check --type recovery "
		 "</dev/null >/dev/null 2>&1",
		 b ? b : ".", th.sock);
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

/* Runs cmd through the shell; its exit status. */
static int sh(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* pertokctl code issue USER --count 4: a sheet (a header, then "ID CODE [ ]"
 * lines); code 2 works once through code check; code list shows code 2 used
 * and the others unused, and no code. */
static void test_pertokctl_sheet(void **state)
{
	const char *b = getenv("top_builddir");
	char cmd[PATH_MAX * 2], line[256], sheet[128], listf[128], code2[64] = "";
	unsigned ids = 0;
	FILE *f;

	(void)state;
	b = b ? b : ".";
	snprintf(sheet, sizeof(sheet), "%s/sheet.txt", th.dir);
	snprintf(listf, sizeof(listf), "%s/list.txt", th.dir);
	snprintf(cmd, sizeof(cmd),
		 "'%s/tools/pertokctl' -s '%s' code issue quinn --type vault --count 4 >'%s' "
		 "2>/dev/null",
		 b, th.sock, sheet);
	assert_int_equal(sh(cmd), 0);
	f = fopen(sheet, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned id;
		char code[64];

		if (strncmp(line, "user:", 5) == 0)
			assert_non_null(strstr(line, "quinn"));
		if (sscanf(line, " %u %63s [ ]", &id, code) != 2)
			continue;
		assert_int_equal(id, ++ids);
		assert_int_equal(strlen(code), 20);
		assert_true(n_codes < MAX_CODES);
		codes[n_codes++] = strdup(code);
		if (id == 2)
			snprintf(code2, sizeof(code2), "%s", code);
	}
	fclose(f);
	unlink(sheet);
	assert_int_equal(ids, 4);
	snprintf(cmd, sizeof(cmd),
		 "echo '%s' | '%s/tools/pertokctl' -s '%s' code check quinn --type vault "
		 ">/dev/null 2>&1",
		 code2, b, th.sock);
	assert_int_equal(sh(cmd), 0);
	assert_int_equal(sh(cmd), 1); /* once */
	explicit_bzero(code2, sizeof(code2));
	snprintf(cmd, sizeof(cmd),
		 "'%s/tools/pertokctl' -s '%s' code list quinn --type vault >'%s' 2>&1", b, th.sock,
		 listf);
	assert_int_equal(sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "grep -Eq '^ +2  used +1$' '%s'", listf);
	assert_int_equal(sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "grep -Ec '^ +[134]  unused +0$' '%s' | grep -qx 3", listf);
	assert_int_equal(sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'sheet of 4 codes' '%s'", listf);
	assert_int_equal(sh(cmd), 0);
	unlink(listf);
	/* --count is bounded, and only for issue */
	snprintf(cmd, sizeof(cmd),
		 "'%s/tools/pertokctl' -s '%s' code issue quinn --type vault --count 21 "
		 ">/dev/null 2>&1",
		 b, th.sock);
	assert_int_equal(sh(cmd), 1);
	snprintf(cmd, sizeof(cmd),
		 "'%s/tools/pertokctl' -s '%s' code list quinn --type vault --count 2 "
		 ">/dev/null 2>&1",
		 b, th.sock);
	assert_int_equal(sh(cmd), 2);
}

/* No code ever appears in the log or in any file under the temp dir
 * (state: store, audit log, history, code records). */
static void test_no_code_leaked(void **state)
{
	char cmd[PATH_MAX + 600];

	(void)state;
	assert_true(n_codes >= 8);
	for (size_t i = 0; i < n_codes; i++) {
		snprintf(cmd, sizeof(cmd), "grep -rqiF -e '%s' '%s'", codes[i], th.dir);
		assert_int_equal(WEXITSTATUS(system(cmd)), 1);
	}
	/* and the log shows the decisions */
	snprintf(cmd, sizeof(cmd), "grep -q 'op=code-check result=deny user=carol' '%s'",
		 th.logpath);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'op=code-issue result=allow user=alice' '%s'",
		 th.logpath);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_check_once),
		cmocka_unit_test(test_failures_lockout),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_uses_and_global_rate),
		cmocka_unit_test(test_failures_survive_restart),
		cmocka_unit_test(test_unprivileged),
		cmocka_unit_test(test_pertokctl),
		cmocka_unit_test(test_pertokctl_sheet),
		cmocka_unit_test(test_no_code_leaked),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (tokend runs as root with a private state dir)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
