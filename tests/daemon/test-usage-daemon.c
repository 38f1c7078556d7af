/* SPDX-License-Identifier: MIT */
/*
 * Issue 13 against a real tokend over its socket, with the real tools and
 * the kernel keyring: `pertok token used ENT` from a job's session keyring
 * as the token's user (nobody) is recorded, an entitlement the token lacks
 * is refused; the counters survive SIGKILL (durable before the reply); days
 * later (tokend under libfaketime) `pertokctl recommend --write FILE`
 * proposes the unused entitlement, the file passes `tokend --check-config`,
 * and after SIGHUP the next redemption of the OLDER persistable token lacks
 * it (late binding), and a report of it is refused naming the
 * recommendation. Needs root (setuid to nobody, keyrings).
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jws.h"
#include "proto.h"
#include "util.h"

#include "keyring-run.h"
#include "tokend-harness.h"

#define NOBODY 65534

static char ts[PATH_MAX];

static void set_offset(const char *offset)
{
	FILE *f = fopen(ts, "w");

	assert_non_null(f);
	fprintf(f, "%s\n", offset);
	assert_int_equal(fclose(f), 0);
}

static void write_conf(void)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 2000; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"iss\"; actors = [ \"tester\" ]; holders = [ \"tester\" ];\n"
		"            persist_lifetime = \"30d\";\n"
		"            entitlements = [ \"reports\", \"db-admin\" ]; } );\n"
		"redeem = ( { name = \"red\"; holders = [ \"tester\" ]; check_account = false; } );\n"
		"usage: { observation = \"2d\"; unused_days = 1; };\n",
		th.sock, th.dir, th.self_exe);
	fclose(f);
}

/* tokend under libfaketime, its clock offset read from ts at every call */
static void start(void)
{
	th_start_faketime(ts);
}

static int setup(void **state)
{
	(void)state;
	if (th_init("usage") < 0)
		return -1;
	snprintf(ts, sizeof(ts), "%s/faketime", th.dir);
	set_offset("+0");
	write_conf();
	start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	return th_remove_dir();
}

/* ---------------------------------------------------------------- helpers */

static void persist_nobody(void)
{
	char *login = th_mint("nobody", "sshd", NULL);
	struct pt_req req = { .type = PT_EXCHANGE,
			      .live_token = login,
			      .holder = (char *)"tester" };
	struct pt_rep rep;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	pt_free_secret(login);
}

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

static bool carries(const char *token, const char *name)
{
	char *header = NULL, *payload = NULL, quoted[300];
	bool yes;

	assert_int_equal(pt_jws_decode_unverified(token, &header, &payload), 0);
	snprintf(quoted, sizeof(quoted), "\"%s\"", name);
	yes = strstr(payload, quoted) != NULL;
	free(header);
	pt_free_secret(payload);
	return yes;
}

/* `pertok -s SOCKET token used NAME` as nobody, token in a fresh session
 * keyring of the child's: the exit status, stdout and stderr (1024 bytes
 * each). */
static int token_used(const char *token, const char *name, char *out, char *err)
{
	const char *args[] = { "token", "used", name, NULL };

	return th_pertok_as_nobody(token, args, out, 1024, err, 1024);
}

/* A program of the build tree (or tokend) with args, as root: its exit
 * status; stdout and stderr together into out (4096 bytes). */
static int run(char *out, const char *path, char *const argv[])
{
	int p[2], st;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(path, argv);
		_exit(127);
	}
	close(p[1]);
	for (size_t n = 0, k; n + 1 < 4096; n += k) {
		ssize_t got = read(p[0], out + n, 4096 - n - 1);

		if (got <= 0) {
			out[n] = '\0';
			break;
		}
		k = (size_t)got;
		out[n + k] = '\0';
	}
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* PT_RECOMMEND as JSON for nobody: the text (caller frees). */
static char *recommend_json(void)
{
	struct pt_req req = { .type = PT_RECOMMEND,
			      .user = (char *)"nobody",
			      .holder = (char *)"",
			      .format = PT_REC_JSON };
	struct pt_rep rep;
	char *text;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	text = strdup(rep.text);
	pt_rep_clear(&rep);
	return text;
}

/* ------------------------------------------------------------------ tests */

static void test_used_durable_recommend_write_reload(void **state)
{
	const char *b = getenv("top_builddir");
	char out[4096], err[1024], bin[PATH_MAX], dropin[PATH_MAX], tokend[PATH_MAX], *text, *token;

	(void)state;
	persist_nobody();
	token = redeem_nobody();
	assert_true(carries(token, "db-admin"));
	/* the job reports a use: recorded; something the token lacks: refused */
	assert_int_equal(token_used(token, "reports", out, err), 0);
	assert_non_null(strstr(out, "entitlement reports: 1 uses recorded"));
	assert_int_equal(token_used(token, "root-shell", out, err), 1);
	assert_non_null(strstr(err, "does not carry entitlement root-shell"));
	/* durable before the reply: SIGKILL right after, then a fresh start */
	th_stop(SIGKILL);
	start();
	text = recommend_json();
	assert_non_null(strstr(text, "\"name\":\"reports\",\"verdict\":\"keep\""));
	assert_non_null(strstr(text, "\"uses\":1"));
	free(text);
	pt_free_secret(token);

	/* three days later: observed for longer than the 2 days; reports used
	 * again, db-admin never */
	set_offset("+3d");
	token = redeem_nobody();
	assert_int_equal(token_used(token, "reports", out, err), 0);
	assert_non_null(strstr(out, "2 uses recorded"));
	pt_free_secret(token);

	snprintf(bin, sizeof(bin), "%s/tools/pertokctl", b ? b : ".");
	snprintf(dropin, sizeof(dropin), "%s.d", th.conf);
	assert_int_equal(mkdir(dropin, 0755), 0);
	/* a directory in the way: refused with a message, the temporary
	 * file removed (once closed, not twice: run() asserts a normal exit) */
	assert_int_equal(run(out, bin,
			     (char *const[]){ "pertokctl", "-s", th.sock, "recommend", "--user",
					      "nobody", "--write", dropin, NULL }),
			 1);
	assert_non_null(strstr(out, "cannot write"));
	snprintf(dropin, sizeof(dropin), "%s.d/recommend.conf", th.conf);
	assert_int_equal(run(out, bin,
			     (char *const[]){ "pertokctl", "-s", th.sock, "recommend", "--user",
					      "nobody", "--write", dropin, NULL }),
			 0);
	text = th_slurp(dropin);
	assert_non_null(text);
	assert_non_null(strstr(text, "entitlements_remove = [ \"db-admin\" ]"));
	assert_null(strstr(text, "\"reports\""));
	free(text);
	snprintf(tokend, sizeof(tokend), "%s/tokend/tokend", b ? b : ".");
	if (run(out, tokend, (char *const[]){ "tokend", "--check-config", "-c", th.conf, NULL }) !=
	    0)
		fail_msg("tokend --check-config refuses the drop-in: %s", out);
	/* SIGHUP: the new policy governs the next redemption of the token
	 * issued three days before */
	assert_int_equal(kill(th.pid, SIGHUP), 0);
	assert_true(th_wait_log("op=reload result=allow", 1, 5000) >= 1);
	token = redeem_nobody();
	assert_false(carries(token, "db-admin"));
	assert_true(carries(token, "reports"));
	assert_int_equal(token_used(token, "db-admin", out, err), 1);
	assert_non_null(strstr(err, "entitlement db-admin curtailed by rec-"));
	assert_non_null(strstr(err, "used 0 times in"));
	pt_free_secret(token);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_used_durable_recommend_write_reload, setup,
						teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (setuid to nobody, session keyrings)\n");
		return 0;
	}
	if (access(FAKETIME_LIB, R_OK) != 0) {
		printf("1..0 # SKIP %s not installed (Debian packages faketime libfaketime)\n",
		       FAKETIME_LIB);
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
