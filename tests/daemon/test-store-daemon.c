/* SPDX-License-Identifier: MIT */
/*
 * tokend's bookkeeping, over its real socket, each test with its own tokend
 * and state: counted uses survive SIGKILL right after the reply (max_uses
 * and max_redemptions_per_day hold exactly across kills), LIST pages through
 * more tokens than one frame holds (pertokctl list), temporary files of
 * interrupted writes are removed at start, and a wall-clock step does not
 * delete tokens (run under libfaketime). Needs root like test-tokend.
 */
#include "config.h"

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

/* n_holders extra actors "h0".."hN-1" (never connecting) that may hold tokens;
 * sync: the audit log's (and so the usage journal's) "record" or "batch" */
static void write_conf(const char *redeem_extra, int n_holders, const char *sync)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 2000;\n"
		"          max_outstanding = 5000; };\n"
		"seal: { backend = \"software\"; };\n"
		"audit: { sync = \"%s\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; }",
		th.sock, th.dir, sync, th.self_exe);
	for (int i = 0; i < n_holders; i++)
		fprintf(f, ",\n { name = \"h%d\"; uid = 0; exe = [ \"/nonexistent/h\" ]; }", i);
	fprintf(f, " );\nissue = ( { name = \"test-issue\"; actors = [ \"tester\" ];\n"
		   "            holders = [ \"tester\"");
	for (int i = 0; i < n_holders; i++)
		fprintf(f, ", \"h%d\"", i);
	fprintf(f,
		" ]; max_outstanding = 5000; } );\n"
		"redeem = ( { name = \"test-redeem\"; holders = [ \"tester\" ];\n"
		"             check_account = false; %s } );\n",
		redeem_extra);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	return th_init("store") < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	return th_remove_dir();
}

static char *mint(void)
{
	return th_mint("root", "test", NULL);
}

static void exchange(const char *token, const char *holder)
{
	struct pt_req ex = { .type = PT_EXCHANGE,
			     .live_token = (char *)token,
			     .holder = (char *)holder };
	struct pt_rep rep;

	assert_int_equal(th_call(&ex, &rep), 0);
	if (rep.type != PT_OK)
		fail_msg("exchange for %s: %s", holder, rep.message);
	pt_rep_clear(&rep);
}

/* 0 when allowed, else the error code */
static uint32_t redeem(void)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)"root",
			      .holder = (char *)"tester",
			      .service = (char *)"test" };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	pt_rep_clear(&rep);
	return code;
}

static uint32_t uses_listed(void)
{
	struct pt_req list = { .type = PT_LIST, .user = (char *)"root" };
	struct pt_rep rep;
	uint32_t uses;

	assert_int_equal(th_call(&list, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_int_equal(rep.n_list, 1);
	uses = rep.list[0].uses;
	pt_rep_clear(&rep);
	return uses;
}

static size_t count_in_log(const char *needle)
{
	char *log = th_slurp(th.logpath);
	size_t n = 0;

	for (const char *p = log; p && (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

/* Waits (up to timeout_ms) until needle appears in tokend's log n times. */
static bool wait_log(const char *needle, size_t n, int timeout_ms)
{
	uint64_t end = pt_now_ms_monotonic() + (uint64_t)timeout_ms;

	while (count_in_log(needle) < n) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (pt_now_ms_monotonic() > end)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

/* ------------------------------------------------------------------ tests */

/* max_uses = 3 holds exactly although tokend is killed (SIGKILL) right
 * after every reply that granted a use. */
static void test_uses_survive_kill(void **state)
{
	char *token;

	(void)state;
	write_conf("max_uses = 3;", 0, "record");
	th_start();
	token = mint();
	exchange(token, "tester");
	pt_free_secret(token);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(redeem(), 0);
		th_stop(SIGKILL);
		th_start();
		assert_int_equal(uses_listed(), (uint32_t)i);
	}
	assert_int_equal(redeem(), PT_E_DENIED);
}

/* max_redemptions_per_day (the usage history) holds across kills too, also
 * with audit sync = "batch" (the journal is written before the reply). */
static void test_daily_count_survives_kill(void **state)
{
	char *token;

	(void)state;
	write_conf("max_redemptions_per_day = 2;", 0, "batch");
	th_start();
	token = mint();
	exchange(token, "tester");
	pt_free_secret(token);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(redeem(), 0);
		th_stop(SIGKILL);
		th_start();
	}
	assert_int_equal(redeem(), PT_E_DENIED);
}

/* More tokens than one LIST frame holds: PT_LIST alone stops at one frame,
 * pertokctl list pages through every one of them. */
static void test_list_pages(void **state)
{
	enum {
		N = 1200
	};
	struct pt_req list = { .type = PT_LIST, .user = (char *)"" };
	struct pt_client *c = NULL;
	struct pt_rep rep;
	const char *b = getenv("top_builddir");
	char cmd[PATH_MAX + 256], *token, *out;
	size_t n = 0;

	(void)state;
	write_conf("", N, "batch");
	th_start();
	token = mint();
	for (int i = 0; i < N; i++) {
		char h[16];

		snprintf(h, sizeof(h), "h%d", i);
		exchange(token, h);
	}
	pt_free_secret(token);

	assert_int_equal(th_call(&list, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_true(rep.n_list < N); /* one frame: the old request cannot say more */
	pt_rep_clear(&rep);

	/* the client library's pages: every token once */
	assert_int_equal(pt_client_connect(th.sock, 5000, &c), 0);
	assert_int_equal(pt_client_list(c, "", &rep), 0);
	pt_client_free(c);
	assert_int_equal(rep.type, PT_OK);
	assert_int_equal(rep.n_list, N);
	for (uint32_t i = 0; i < rep.n_list; i++)
		for (uint32_t k = i + 1; k < rep.n_list; k++)
			assert_string_not_equal(rep.list[i].id, rep.list[k].id);
	pt_rep_clear(&rep);

	/* and the tool */
	snprintf(cmd, sizeof(cmd), "%s/tools/pertokctl --socket %s list --json > %s/list.json",
		 b ? b : ".", th.sock, th.dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/list.json", th.dir);
	out = th_slurp(cmd);
	assert_non_null(out);
	for (const char *p = out; (p = strstr(p, "\"id\":")); p++)
		n++;
	free(out);
	assert_int_equal(n, N);
}

/* Temporary files of interrupted writes outside tokens/ are removed at
 * start (and logged); the audit writer's are left to it. */
static void test_temp_files_removed(void **state)
{
	static const char *const gone[] = { "state/.history.json.0123456789ab.tmp",
					    "state/codes/.0123.code.a1b2c3d4e5f6.tmp",
					    "state/.signing.key.00aa00aa00aa.tmp" };
	char p[PATH_MAX];
	int fd;

	(void)state;
	write_conf("", 0, "record");
	th_start();
	th_stop(SIGTERM);
	snprintf(p, sizeof(p), "%s/state/codes", th.dir);
	(void)mkdir(p, 0700);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", th.dir, gone[i]);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	snprintf(p, sizeof(p), "%s/state/.audit.head.0123456789ab.tmp", th.dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	th_start();
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", th.dir, gone[i]);
		assert_int_equal(access(p, F_OK), -1);
	}
	/* the audit writer's own leftover goes too, through its own repair */
	snprintf(p, sizeof(p), "%s/state/.audit.head.0123456789ab.tmp", th.dir);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(count_in_log("op=cleanup result=allow"), 2);
}

static void set_offset(const char *path, const char *offset)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "%s\n", offset);
	assert_int_equal(fclose(f), 0);
}

/* A forward step of the wall clock by a year: the token is refused (its
 * expiry is exact) but not deleted; stepping back restores it. */
static void test_clock_jump_keeps_tokens(void **state)
{
	char ts[PATH_MAX], *token;
	struct pt_req list = { .type = PT_LIST, .user = (char *)"root" };
	struct pt_rep rep;

	(void)state;
	if (access(FAKETIME_LIB, R_OK) != 0) {
		print_message("# skipped: %s not installed (Debian packages faketime "
			      "libfaketime)\n",
			      FAKETIME_LIB);
		skip();
	}
	write_conf("", 0, "record");
	snprintf(ts, sizeof(ts), "%s/faketime", th.dir);
	set_offset(ts, "+0");
	/* only tokend runs under libfaketime; CLOCK_BOOTTIME stays real */
	th_start_faketime(ts);
	token = mint();
	exchange(token, "tester");
	pt_free_secret(token);
	assert_int_equal(redeem(), 0);

	set_offset(ts, "+365d");
	assert_int_equal(redeem(), PT_E_INVALID); /* expired for access, at once */
	/* the next housekeeping round sees the jump (v0.1 deleted the token there) */
	assert_true(wait_log("op=clock result=jump delta=+", 1, 15000) ||
		    wait_log("op=expire", 1, 1));
	assert_int_equal(count_in_log("op=expire"), 0);
	assert_int_equal(th_call(&list, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_int_equal(rep.n_list, 1); /* kept */
	pt_rep_clear(&rep);

	set_offset(ts, "+0");
	assert_int_equal(redeem(), 0); /* restored */
	assert_true(wait_log("op=clock result=jump delta=-", 1, 15000));
	assert_int_equal(redeem(), 0);
	assert_int_equal(count_in_log("op=expire"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_uses_survive_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daily_count_survives_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_temp_files_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_jump_keeps_tokens, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (tokend checks peer credentials)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
