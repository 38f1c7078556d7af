/* SPDX-License-Identifier: MIT */
/*
 * "Directory down" is not "user gone": a private tokend resolves its users
 * through the real glibc with a private nsswitch.conf ("passwd: files
 * ptfail", bound over /etc/nsswitch.conf in a private mount namespace) whose
 * second source is a test-only NSS module (nss-ptfail.c, linked as
 * libnss_ptfail.so.2 in the temp dir named by LD_LIBRARY_PATH) that is up, down (UNAVAIL with EHOSTUNREACH, or with
 * ENOENT as SSSD's client says when sssd is gone) or has lost the user.
 * A token issued while the directory was up: redeems while it is up; while
 * it is down, tokend.offline = "deny" (the default) refuses naming the
 * error, never as a missing account; a lost user is refused as today;
 * tokend.offline = "cached" redeems from the identity recorded with the
 * token and says so in the log line and the audit record, and still
 * refuses a lost user. Needs root; the host's /etc is not written.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

static char state_path[192], nsswitch[192];
static bool have_ns;

/* Sets the module's state, then waits out tokend's account cache (an answer
 * is reused for at most PT_ACCOUNT_TTL_MS, 2 s: tokend/account.h). */
static void set_state(const char *s)
{
	FILE *f = fopen(state_path, "w");

	assert_non_null(f);
	fprintf(f, "%s\n", s);
	assert_int_equal(fclose(f), 0);
	usleep(2100 * 1000);
}

static void write_conf(const char *offline)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; nss_cache = \"%s/nss.cache\";"
		" %s };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"logins\"; actors = [ \"tester\" ]; holders = [ \"tester\" ]; } );\n"
		"redeem = ( { name = \"jobs\"; holders = [ \"tester\" ]; } );\n",
		th.sock, th.dir, th.dir, offline, th.self_exe);
	assert_int_equal(fclose(f), 0);
}

/* A private mount namespace whose /etc/nsswitch.conf reads "passwd: files
 * ptfail pertok" and "group: files pertok [NOTFOUND=return]"; the modules
 * from the build tree. */
static bool private_nsswitch(void)
{
	const char *b = getenv("top_builddir");
	char dir[PATH_MAX], real[PATH_MAX], cmd[600];

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	snprintf(nsswitch, sizeof(nsswitch), "%s/nsswitch.conf", th.dir);
	snprintf(
		cmd, sizeof(cmd),
		"sed -e 's/^passwd:.*/passwd: files ptfail pertok/' "
		"-e 's/^group:.*/group: files pertok [NOTFOUND=return]/' /etc/nsswitch.conf >'%s' && "
		"grep -q '^passwd: files ptfail pertok$' '%s'",
		nsswitch, nsswitch);
	if (system(cmd) != 0 || mount(nsswitch, "/etc/nsswitch.conf", NULL, MS_BIND, NULL) < 0)
		return false;
	/* glibc loads "libnss_ptfail.so.2" from LD_LIBRARY_PATH */
	snprintf(dir, sizeof(dir), "%s/tests/daemon/nss-ptfail.so", b ? b : ".");
	if (!realpath(dir, real))
		return false;
	snprintf(dir, sizeof(dir), "%s/libnss_ptfail.so.2", th.dir);
	if (symlink(real, dir) < 0)
		return false;
	/* and libnss_pertok last, as libnss_pertok(8) recommends: glibc
	 * answers with the last module's status, so tokend must leave it out
	 * of its own view (tokend/nssconf.c), or "gone" would look "down" */
	snprintf(dir, sizeof(dir), "%s/nss_pertok/.libs/libnss_pertok.so.2", b ? b : ".");
	if (!realpath(dir, real))
		return false;
	snprintf(dir, sizeof(dir), "%s/libnss_pertok.so.2", th.dir);
	if (symlink(real, dir) < 0)
		return false;
	setenv("LD_LIBRARY_PATH", th.dir, 1);
	setenv("PT_NSSFAIL_STATE", state_path, 1);
	return true;
}

/* A redemption (PT_REDEEM) or its dry run (PT_EXPLAIN) for dirk by the
 * holder "tester": the error code (0: PT_OK); the message, or explain's text,
 * in buf. */
static uint32_t ask_dirk(uint8_t type, char *buf, size_t len)
{
	struct pt_req req = { .type = type,
			      .user = (char *)"dirk",
			      .holder = (char *)"tester",
			      .service = type == PT_REDEEM ? (char *)"test" : NULL };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	snprintf(buf, len, "%s", rep.type != PT_OK ? rep.message : rep.text ? rep.text : "");
	pt_rep_clear(&rep);
	return code;
}

#define redeem_dirk(buf, len) ask_dirk(PT_REDEEM, buf, len)
#define explain_dirk(buf, len) ask_dirk(PT_EXPLAIN, buf, len)

static int setup(void **state)
{
	(void)state;
	if (th_init("directory") < 0)
		return -1;
	snprintf(state_path, sizeof(state_path), "%s/nss-state", th.dir);
	have_ns = private_nsswitch();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	if (have_ns)
		umount2("/etc/nsswitch.conf", MNT_DETACH);
	return th_remove_dir();
}

/* Issued while the directory is up, redeemed while it is up. */
static void test_up(void **state)
{
	struct pt_req ex = { .type = PT_EXCHANGE, .holder = (char *)"tester" };
	struct pt_rep rep;
	char msg[512];

	(void)state;
	if (!have_ns) {
		print_message("# skipped: no private mount namespace here (%s)\n", strerror(errno));
		skip();
	}
	set_state("up");
	write_conf("");
	th_start();
	ex.live_token = th_mint("dirk", "login", NULL);
	assert_int_equal(th_call(&ex, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	pt_free_secret(ex.live_token);
	assert_int_equal(redeem_dirk(msg, sizeof(msg)), 0);
}

/* Down: refused, naming the error (both errnos), never "does not exist". */
static void test_down_denies(void **state)
{
	char msg[512];

	(void)state;
	if (!have_ns)
		skip();
	set_state("down");
	assert_int_equal(redeem_dirk(msg, sizeof(msg)), PT_E_DENIED);
	assert_string_equal(msg,
			    "the directory is unreachable (getpwnam_r(dirk): No route to "
			    "host): account dirk cannot be checked (tokend.offline = \"deny\")");
	set_state("down-enoent");
	assert_int_equal(redeem_dirk(msg, sizeof(msg)), PT_E_DENIED);
	assert_non_null(
		strstr(msg, "the directory is unreachable (getpwnam_r(dirk): No such file"));
	assert_null(strstr(msg, "does not exist"));
	assert_true(th_wait_log("result=deny user=dirk", 2, 5000) >= 2);
	/* explain says what a redemption would do */
	assert_int_equal(explain_dirk(msg, sizeof(msg)), PT_E_DENIED);
	assert_non_null(
		strstr(msg, "the directory is unreachable (getpwnam_r(dirk): No such file"));
	assert_int_equal(th_count_log("account dirk does not exist"), 0);
	/* back up: redeems again */
	set_state("up");
	assert_int_equal(redeem_dirk(msg, sizeof(msg)), 0);
}

/* Gone: refused as a missing account, whatever tokend.offline says. */
static void test_gone_denies(void **state)
{
	char msg[512];

	(void)state;
	if (!have_ns)
		skip();
	set_state("gone");
	assert_int_equal(redeem_dirk(msg, sizeof(msg)), PT_E_DENIED);
	assert_non_null(strstr(msg, "account dirk does not exist"));
	set_state("up");
}

/* tokend.offline = "cached": down redeems from the recorded identity, and
 * the log line and the audit record say so; gone is still refused. */
static void test_down_cached(void **state)
{
	char msg[4096], audit[256];
	char *text;

	(void)state;
	if (!have_ns)
		skip();
	th_stop(SIGTERM);
	write_conf("offline = \"cached\";");
	th_start();
	set_state("down-enoent");
	assert_int_equal(redeem_dirk(msg, sizeof(msg)), 0);
	assert_true(th_wait_log("account from the identity recorded with the token (uid 4242), "
				"the directory being unreachable (getpwnam_r(dirk): No such file",
				1, 5000) >= 1);
	snprintf(audit, sizeof(audit), "%s/state/audit.log", th.dir);
	text = th_slurp(audit);
	assert_non_null(text);
	assert_non_null(strstr(text, "account from the identity recorded with the token"));
	free(text);
	assert_int_equal(explain_dirk(msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg,
			       "account: the directory is unreachable (getpwnam_r(dirk): No "
			       "such file or directory): the identity recorded with the token"));
	assert_non_null(strstr(msg, "account: uid 4242, gid 4242"));
	set_state("gone");
	assert_int_equal(redeem_dirk(msg, sizeof(msg)), PT_E_DENIED);
	assert_non_null(strstr(msg, "account dirk does not exist"));
	/* a bad value is refused with a precise message */
	write_conf("offline = \"maybe\";");
	assert_int_not_equal(th_start_fails(), 0);
	/* (the log line escapes the quotes) */
	assert_true(th_wait_log("tokend.offline must be \\\"deny\\\" or \\\"cached\\\", not "
				"\\\"maybe\\\"",
				1, 5000) >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up),
		cmocka_unit_test(test_down_denies),
		cmocka_unit_test(test_gone_denies),
		cmocka_unit_test(test_down_cached),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (a private mount namespace, tokend as root)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
