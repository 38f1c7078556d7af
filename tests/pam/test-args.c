/* SPDX-License-Identifier: MIT */
/*
 * pam_pertok's option parser (pam_pertok/args.c, compiled into this test).
 * pam_syslog is stubbed here (libpam is not linked) so the test sees what
 * the parser logs.
 */
#include "config.h"

#include <errno.h>
#include <security/pam_ext.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <cmocka.h>

#include "args.h"

/* ---------------------------------------------------------------- pam_syslog stub */

static struct {
	int n;
	int prio;
	char text[1024]; /* every line, '\n'-separated */
} logs;

void pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
	size_t len = strlen(logs.text);
	va_list ap;

	logs.n++;
	logs.prio = priority;
	va_start(ap, fmt);
	vsnprintf(logs.text + len, sizeof(logs.text) - len, fmt, ap);
	va_end(ap);
	len = strlen(logs.text);
	if (len + 1 < sizeof(logs.text))
		strcat(logs.text, "\n");
}

static int reset_logs(void **state)
{
	memset(&logs, 0, sizeof(logs));
	return 0;
}

static int parse(struct pp_args *a, const char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return pp_args_parse(NULL, argc, argv, a);
}

#define ARGV(...) ((const char *[]){ __VA_ARGS__, NULL })

static void assert_logged(const char *needle)
{
	if (!strstr(logs.text, needle))
		fail_msg("expected a log line with \"%s\", got:\n%s", needle, logs.text);
}

/* ---------------------------------------------------------------- tests */

static void test_issue_defaults(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("issue")), 0);
	assert_int_equal(a.mode, PP_MODE_ISSUE);
	assert_null(a.socket);
	assert_int_equal(a.timeout_ms, PP_TIMEOUT_DEFAULT);
	assert_int_equal(a.timeout_ms, 3000);
	assert_int_equal(a.n_holders, 0);
	assert_int_equal(a.onerror, PP_ONERROR_IGNORE);
	assert_int_equal(a.notoken, PP_NOTOKEN_DENY);
	assert_false(a.nokeyring);
	assert_false(a.debug);
	assert_false(a.quiet);
	assert_int_equal(a.warn_days, PP_WARN_DAYS_DEFAULT);
	assert_int_equal(a.warn_days, 7);
	assert_int_equal(logs.n, 0);
	assert_string_equal(pp_mode_name(a.mode), "issue");
}

static void test_redeem_all_options(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("redeem", "socket=/tmp/x.sock", "timeout=1500",
					"holder=cron", "notoken=ignore", "nokeyring", "debug")),
			 0);
	assert_int_equal(a.mode, PP_MODE_REDEEM);
	assert_string_equal(a.socket, "/tmp/x.sock");
	assert_int_equal(a.timeout_ms, 1500);
	assert_int_equal(a.n_holders, 1);
	assert_string_equal(a.holders[0], "cron");
	assert_int_equal(a.notoken, PP_NOTOKEN_IGNORE);
	assert_true(a.nokeyring);
	assert_true(a.debug);
	assert_int_equal(logs.n, 0);
}

static void test_mode_not_first(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("debug", "holder=atd,cron", "issue")), 0);
	assert_int_equal(a.mode, PP_MODE_ISSUE);
	/* holder= is read as the issue mode's list even though the mode came later */
	assert_int_equal(a.n_holders, 2);
	assert_int_equal(logs.n, 0);
}

static void test_no_mode(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("debug", "socket=/x")), -EINVAL);
	assert_int_equal(logs.n, 1);
	assert_int_equal(logs.prio, LOG_ERR);
	assert_logged("no mode");
	assert_int_equal(pp_args_parse(NULL, 0, NULL, &a), -EINVAL);
}

static void test_two_modes(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("issue", "redeem")), -EINVAL);
	assert_logged("more than one mode");
	assert_int_equal(parse(&a, ARGV("redeem", "redeem")), -EINVAL);
}

static void test_untouched_on_failure(void **state)
{
	struct pp_args a, before;

	memset(&a, 0xa5, sizeof(a));
	memcpy(&before, &a, sizeof(a));
	assert_int_equal(parse(&a, ARGV("holder=atd", "debug")), -EINVAL);
	assert_memory_equal(&a, &before, sizeof(a));
}

static void test_unknown_option_not_fatal(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("redeem", "frobnicate=yes", "debug", "use_first_pass")), 0);
	assert_true(a.debug);
	assert_int_equal(logs.n, 2);
	assert_logged("unknown option: frobnicate=yes");
	assert_logged("unknown option: use_first_pass");
	/* a known key without '=' is unknown too */
	reset_logs(state);
	assert_int_equal(parse(&a, ARGV("issue", "socket")), 0);
	assert_logged("unknown option: socket");
	assert_null(a.socket);
}

static void test_null_argv_entries_skipped(void **state)
{
	const char *argv[] = { NULL, "issue", NULL, "debug" };
	struct pp_args a;

	assert_int_equal(pp_args_parse(NULL, 4, argv, &a), 0);
	assert_int_equal(a.mode, PP_MODE_ISSUE);
	assert_true(a.debug);
}

static void test_socket(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("issue", "socket=relative/path")), 0);
	assert_null(a.socket);
	assert_logged("invalid socket=relative/path");
	reset_logs(state);
	assert_int_equal(parse(&a, ARGV("issue", "socket=")), 0);
	assert_null(a.socket);
	assert_int_equal(logs.n, 1);
	/* the last valid one wins */
	assert_int_equal(parse(&a, ARGV("issue", "socket=/a", "socket=/b")), 0);
	assert_string_equal(a.socket, "/b");
}

/* Table: timeout= values and what they become. */
static void test_timeout_table(void **state)
{
	static const struct {
		const char *arg;
		int want;
		bool logged;
	} t[] = {
		{ "timeout=3000", 3000, false },
		{ "timeout=100", 100, false },
		{ "timeout=30000", 30000, false },
		{ "timeout=250", 250, false },
		{ "timeout=99", 100, true }, /* clamped up */
		{ "timeout=0", 100, true },
		{ "timeout=30001", 30000, true }, /* clamped down */
		{ "timeout=99999999999999999999999", 30000, true },
		{ "timeout=abc", 3000, true }, /* invalid: default kept */
		{ "timeout=", 3000, true },
		{ "timeout=-5", 3000, true },
		{ "timeout=5s", 3000, true },
		{ "timeout= 500", 3000, true },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pp_args a;

		reset_logs(state);
		assert_int_equal(parse(&a, ARGV("redeem", t[i].arg)), 0);
		if (a.timeout_ms != t[i].want || (logs.n > 0) != t[i].logged)
			fail_msg("%s: timeout %d (want %d), %d log lines", t[i].arg, a.timeout_ms,
				 t[i].want, logs.n);
	}
}

static void test_issue_holders(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("issue", "holder=atd,cron,systemd-run")), 0);
	assert_int_equal(a.n_holders, 3);
	assert_string_equal(a.holders[0], "atd");
	assert_string_equal(a.holders[1], "cron");
	assert_string_equal(a.holders[2], "systemd-run");
	/* the names live inside the returned struct, not in a stack copy */
	for (size_t i = 0; i < a.n_holders; i++) {
		assert_true(a.holders[i] >= a.holder_buf);
		assert_true(a.holders[i] < a.holder_buf + sizeof(a.holder_buf));
	}
	assert_int_equal(logs.n, 0);

	/* duplicates dropped */
	assert_int_equal(parse(&a, ARGV("issue", "holder=atd,cron,atd")), 0);
	assert_int_equal(a.n_holders, 2);
	assert_int_equal(logs.n, 0);
}

/* Table: invalid holder= values, each logged and ignored. */
static void test_invalid_holders(void **state)
{
	static const char *const issue_bad[] = {
		"holder=",
		"holder=,atd",
		"holder=atd,",
		"holder=atd,,cron",
		"holder=-atd",
		"holder=a b",
		"holder=a:b",
		"holder=a/b",
		"holder=\tatd",
		"holder=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", /* 17 > PP_MAX_HOLDERS */
	};
	static const char *const redeem_bad[] = {
		"holder=atd,cron", /* redeem takes one holder */
		"holder=",
		"holder=:",
	};
	char toolong[1100] = "holder=";
	struct pp_args a;

	for (size_t i = 0; i < sizeof(issue_bad) / sizeof(issue_bad[0]); i++) {
		reset_logs(state);
		assert_int_equal(parse(&a, ARGV("issue", issue_bad[i])), 0);
		if (a.n_holders != 0 || logs.n != 1)
			fail_msg("%s: %zu holders, %d log lines", issue_bad[i], a.n_holders,
				 logs.n);
		assert_logged("invalid holder=");
	}
	for (size_t i = 0; i < sizeof(redeem_bad) / sizeof(redeem_bad[0]); i++) {
		reset_logs(state);
		assert_int_equal(parse(&a, ARGV("redeem", redeem_bad[i])), 0);
		if (a.n_holders != 0 || logs.n != 1)
			fail_msg("%s: %zu holders, %d log lines", redeem_bad[i], a.n_holders,
				 logs.n);
	}
	/* 16 holders is the maximum */
	assert_int_equal(parse(&a, ARGV("issue", "holder=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p")), 0);
	assert_int_equal(a.n_holders, PP_MAX_HOLDERS);
	/* longer than the buffer */
	memset(toolong + 7, 'x', sizeof(toolong) - 8);
	toolong[sizeof(toolong) - 1] = '\0';
	reset_logs(state);
	assert_int_equal(parse(&a, ARGV("issue", toolong)), 0);
	assert_int_equal(a.n_holders, 0);
	assert_int_equal(logs.n, 1);
	/* an invalid later holder= keeps the earlier valid one */
	assert_int_equal(parse(&a, ARGV("redeem", "holder=atd", "holder=a,b")), 0);
	assert_int_equal(a.n_holders, 1);
	assert_string_equal(a.holders[0], "atd");
}

static void test_onerror(void **state)
{
	static const struct {
		const char *arg;
		enum pp_onerror want;
		bool logged;
	} t[] = {
		{ "onerror=ignore", PP_ONERROR_IGNORE, false },
		{ "onerror=success", PP_ONERROR_SUCCESS, false },
		{ "onerror=fail", PP_ONERROR_FAIL, false },
		{ "onerror=FAIL", PP_ONERROR_IGNORE, true },
		{ "onerror=", PP_ONERROR_IGNORE, true },
		{ "onerror=die", PP_ONERROR_IGNORE, true },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pp_args a;

		reset_logs(state);
		assert_int_equal(parse(&a, ARGV("issue", t[i].arg)), 0);
		if (a.onerror != t[i].want || (logs.n > 0) != t[i].logged)
			fail_msg("%s: onerror %d, %d log lines", t[i].arg, a.onerror, logs.n);
	}
}

static void test_notoken(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("redeem", "notoken=ignore")), 0);
	assert_int_equal(a.notoken, PP_NOTOKEN_IGNORE);
	assert_int_equal(parse(&a, ARGV("redeem", "notoken=ignore", "notoken=deny")), 0);
	assert_int_equal(a.notoken, PP_NOTOKEN_DENY);
	assert_int_equal(logs.n, 0);
	/* a typo fails closed */
	assert_int_equal(parse(&a, ARGV("redeem", "notoken=ignor")), 0);
	assert_int_equal(a.notoken, PP_NOTOKEN_DENY);
	assert_logged("invalid notoken=ignor");
}

static void test_option_of_other_mode(void **state)
{
	struct pp_args a;

	/* logged, not fatal */
	assert_int_equal(parse(&a, ARGV("issue", "nokeyring")), 0);
	assert_int_equal(logs.n, 1);
	assert_int_equal(logs.prio, LOG_NOTICE);
	assert_logged("no effect in issue mode");
	reset_logs(state);
	assert_int_equal(parse(&a, ARGV("redeem", "onerror=fail")), 0);
	assert_logged("no effect in redeem mode");
	reset_logs(state);
	assert_int_equal(parse(&a, ARGV("issue", "notoken=ignore")), 0);
	assert_logged("no effect in issue mode");
}

static void test_recovery(void **state)
{
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("recovery", "type=recovery", "delay=500")), 0);
	assert_int_equal(a.mode, PP_MODE_RECOVERY);
	assert_string_equal(pp_mode_name(a.mode), "recovery");
	assert_string_equal(a.type, "recovery");
	assert_int_equal(a.delay_ms, 500);
	assert_int_equal(logs.n, 0);
	/* defaults: no type (the module refuses to run), 2 s */
	assert_int_equal(parse(&a, ARGV("recovery")), 0);
	assert_null(a.type);
	assert_int_equal(a.delay_ms, PP_DELAY_DEFAULT);
	assert_int_equal(a.delay_ms, 2000);
	/* a third mode is still one mode */
	assert_int_equal(parse(&a, ARGV("recovery", "issue")), -EINVAL);
	assert_logged("more than one mode");
	/* an invalid type name is logged and ignored */
	reset_logs(state);
	assert_int_equal(parse(&a, ARGV("recovery", "type=a b")), 0);
	assert_null(a.type);
	assert_logged("invalid type=a b");
	reset_logs(state);
	assert_int_equal(parse(&a, ARGV("recovery", "type=")), 0);
	assert_null(a.type);
	assert_int_equal(logs.n, 1);
	/* the recovery options mean nothing to the other modes */
	reset_logs(state);
	assert_int_equal(parse(&a, ARGV("redeem", "type=recovery", "delay=5")), 0);
	assert_int_equal(logs.n, 2);
	assert_logged("option type=recovery has no effect in redeem mode");
	assert_logged("option delay=5 has no effect in redeem mode");
}

/* The login messages' options: quiet, and warn_days= (a table). */
static void test_quiet_warn_days(void **state)
{
	static const struct {
		const char *arg;
		uint32_t want;
		bool logged;
	} t[] = {
		{ "warn_days=0", 0, false },	   { "warn_days=30", 30, false },
		{ "warn_days=3650", 3650, false }, { "warn_days=3651", 7, true },
		{ "warn_days=-1", 7, true },	   { "warn_days=7d", 7, true },
		{ "warn_days=", 7, true },
	};
	struct pp_args a;

	assert_int_equal(parse(&a, ARGV("issue", "quiet")), 0);
	assert_true(a.quiet);
	assert_int_equal(logs.n, 0);
	assert_int_equal(parse(&a, ARGV("redeem", "quiet")), 0);
	assert_logged("option quiet has no effect in redeem mode");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		reset_logs(state);
		assert_int_equal(parse(&a, ARGV("issue", t[i].arg)), 0);
		if (a.warn_days != t[i].want || (logs.n > 0) != t[i].logged)
			fail_msg("%s: warn_days %u (want %u), %d log lines", t[i].arg,
				 (unsigned)a.warn_days, (unsigned)t[i].want, logs.n);
	}
	assert_logged("invalid warn_days= (days, 0..3650), using 7");
}

/* Table: delay= values and what they become. */
static void test_delay_table(void **state)
{
	static const struct {
		const char *arg;
		int want;
		bool logged;
	} t[] = {
		{ "delay=0", 0, false },
		{ "delay=2000", 2000, false },
		{ "delay=10000", 10000, false },
		{ "delay=10001", 10000, true }, /* clamped down */
		{ "delay=99999999999999999999999", 10000, true },
		{ "delay=abc", 2000, true }, /* invalid: default kept */
		{ "delay=", 2000, true },
		{ "delay=-1", 2000, true },
		{ "delay=2s", 2000, true },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pp_args a;

		reset_logs(state);
		assert_int_equal(parse(&a, ARGV("recovery", t[i].arg)), 0);
		if (a.delay_ms != t[i].want || (logs.n > 0) != t[i].logged)
			fail_msg("%s: delay %d (want %d), %d log lines", t[i].arg, a.delay_ms,
				 t[i].want, logs.n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_issue_defaults, reset_logs),
		cmocka_unit_test_setup(test_redeem_all_options, reset_logs),
		cmocka_unit_test_setup(test_mode_not_first, reset_logs),
		cmocka_unit_test_setup(test_no_mode, reset_logs),
		cmocka_unit_test_setup(test_two_modes, reset_logs),
		cmocka_unit_test_setup(test_untouched_on_failure, reset_logs),
		cmocka_unit_test_setup(test_unknown_option_not_fatal, reset_logs),
		cmocka_unit_test_setup(test_null_argv_entries_skipped, reset_logs),
		cmocka_unit_test_setup(test_socket, reset_logs),
		cmocka_unit_test_setup(test_timeout_table, reset_logs),
		cmocka_unit_test_setup(test_issue_holders, reset_logs),
		cmocka_unit_test_setup(test_invalid_holders, reset_logs),
		cmocka_unit_test_setup(test_onerror, reset_logs),
		cmocka_unit_test_setup(test_notoken, reset_logs),
		cmocka_unit_test_setup(test_option_of_other_mode, reset_logs),
		cmocka_unit_test_setup(test_recovery, reset_logs),
		cmocka_unit_test_setup(test_quiet_warn_days, reset_logs),
		cmocka_unit_test_setup(test_delay_table, reset_logs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
