/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for tokend/log.c: the journal entry each line becomes (fields,
 * MESSAGE_ID, escaping), the front's forwarded lines (their own MESSAGE_ID
 * whatever they claim), the line parser, and the syslog fallback.
 * sd_journal_sendv, syslog and stat are wrapped (-Wl,--wrap=): the tests see
 * the iovecs tokend would send, and choose whether a journal "exists".
 * tests/system/test-journal.sh checks the same against a real socket.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cmocka.h>

#include "log.h"

/* ---- wraps */
static bool journal_exists;
static int sendv_result;
static int n_sendv, n_syslog;
static char entry[64][1024]; /* the last entry sent, one field a line */
static int n_entry;
static char last_syslog[4096];

int __wrap_stat(const char *path, struct stat *st);
int __real_stat(const char *path, struct stat *st);
int __wrap_stat(const char *path, struct stat *st)
{
	if (strcmp(path, "/run/systemd/journal/socket") == 0) {
		if (!journal_exists) {
			errno = ENOENT;
			return -1;
		}
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFSOCK | 0666;
		return 0;
	}
	return __real_stat(path, st);
}

int __wrap_sd_journal_sendv(const struct iovec *iov, int n);
int __wrap_sd_journal_sendv(const struct iovec *iov, int n)
{
	n_sendv++;
	n_entry = 0;
	for (int i = 0; i < n && i < 64; i++) {
		size_t l = iov[i].iov_len < 1023 ? iov[i].iov_len : 1023;

		memcpy(entry[i], iov[i].iov_base, l);
		entry[i][l] = '\0';
		n_entry++;
	}
	return sendv_result;
}

static void syslog_common(const char *fmt, va_list ap)
{
	n_syslog++;
	vsnprintf(last_syslog, sizeof(last_syslog), fmt, ap);
}

void __wrap_syslog(int prio, const char *fmt, ...);
void __wrap_syslog(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	syslog_common(fmt, ap);
	va_end(ap);
}

void __wrap___syslog_chk(int prio, int flag, const char *fmt, ...);
void __wrap___syslog_chk(int prio, int flag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	syslog_common(fmt, ap);
	va_end(ap);
}

static int setup_journal(void **state)
{
	journal_exists = true;
	sendv_result = 0;
	n_sendv = n_syslog = n_entry = 0;
	pt_log_open(false);
	return 0;
}

/* the value of FIELD in the last entry; NULL if absent. count: how often */
static const char *field(const char *name, int *count)
{
	size_t l = strlen(name);
	const char *v = NULL;
	int c = 0;

	for (int i = 0; i < n_entry; i++)
		if (strncmp(entry[i], name, l) == 0 && entry[i][l] == '=') {
			if (!v)
				v = entry[i] + l + 1;
			c++;
		}
	if (count)
		*count = c;
	return v;
}

static void test_message_ids(void **state)
{
	static const struct {
		const char *op, *result, *id;
	} t[] = {
		{ "redeem", "allow", PT_MID_REDEEM_ALLOW },
		{ "redeem", "deny", PT_MID_REDEEM_DENY },
		{ "mint", "allow", PT_MID_MINT_ALLOW },
		{ "mint", "deny", PT_MID_MINT_DENY },
		{ "exchange", "allow", PT_MID_EXCHANGE_ALLOW },
		{ "exchange", "renew", PT_MID_EXCHANGE_ALLOW },
		{ "exchange", "deny", PT_MID_EXCHANGE_DENY },
		{ "start", "allow", PT_MID_START },
		{ "start", "error", PT_MID_START_FAILED },
		{ "reload", "allow", PT_MID_RELOAD },
		{ "reload", "error", PT_MID_RELOAD_FAILED },
		{ "revoke", "allow", PT_MID_ALLOW },
		{ "code-check", "deny", PT_MID_DENY },
		{ "redeem", "error", PT_MID_ERROR },
		{ "client", "summary", PT_MID_SUMMARY },
		{ "clock", "jump", PT_MID_EVENT },
		{ "reload", "warning", PT_MID_EVENT },
		{ NULL, NULL, PT_MID_EVENT },
	};
	const char *all[] = { PT_MID_REDEEM_ALLOW,  PT_MID_REDEEM_DENY,	   PT_MID_MINT_ALLOW,
			      PT_MID_MINT_DENY,	    PT_MID_EXCHANGE_ALLOW, PT_MID_EXCHANGE_DENY,
			      PT_MID_ALLOW,	    PT_MID_DENY,	   PT_MID_ERROR,
			      PT_MID_START,	    PT_MID_START_FAILED,   PT_MID_RELOAD,
			      PT_MID_RELOAD_FAILED, PT_MID_SUMMARY,	   PT_MID_FRONT,
			      PT_MID_EVENT };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(pt_log_message_id(t[i].op, t[i].result), t[i].id);
	/* 128-bit ids in journald's form, all distinct */
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_int_equal(strlen(all[i]), 32);
		assert_int_equal(strspn(all[i], "0123456789abcdef"), 32);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(all[i], all[j]);
	}
}

static void test_kv_to_journal(void **state)
{
	const char *v;
	int c;

	pt_log_kv(LOG_NOTICE, "redeem", "deny", "user", "bob", "holder", "atd", "rule", "r1",
		  "reason", "a \"quoted\" reason\nwith a newline\\", "id", NULL, NULL);
	assert_int_equal(n_sendv, 1);
	assert_int_equal(n_syslog, 0);
	assert_string_equal(field("MESSAGE_ID", NULL), PT_MID_REDEEM_DENY);
	assert_string_equal(field("PRIORITY", NULL), "5");
	assert_string_equal(field("SYSLOG_IDENTIFIER", NULL), "tokend");
	assert_string_equal(field("SYSLOG_FACILITY", NULL), "10");
	assert_string_equal(field("PERTOK_OP", NULL), "redeem");
	assert_string_equal(field("PERTOK_RESULT", NULL), "deny");
	assert_string_equal(field("PERTOK_USER", &c), "bob");
	assert_int_equal(c, 1);
	assert_string_equal(field("PERTOK_HOLDER", NULL), "atd");
	assert_string_equal(field("PERTOK_RULE", NULL), "r1");
	assert_string_equal(field("PERTOK_ID", NULL), "-");
	/* the field: control characters and backslashes escaped as in the
	 * line, quotes kept, no surrounding quotes */
	assert_string_equal(field("PERTOK_REASON", NULL),
			    "a \"quoted\" reason\\x0awith a newline\\\\");
	v = field("MESSAGE", NULL);
	assert_non_null(v);
	assert_string_equal(v, "op=redeem result=deny user=bob holder=atd rule=r1 reason=\"a "
			       "\\\"quoted\\\" reason\\x0awith a newline\\\\\" id=-");
	/* no field of the entry spans two lines */
	for (int i = 0; i < n_entry; i++)
		assert_null(strchr(entry[i], '\n'));
}

/* Callers' keys never make a journal field of their own choosing: no
 * MESSAGE_ID= or PRIORITY= through a key, and a key that is not [a-z_]
 * gives no field (it stays in the line). */
static void test_keys_are_prefixed(void **state)
{
	int c;

	pt_log_kv(LOG_INFO, "redeem", "allow", "message_id", "x", "Bad-Key", "y", NULL);
	assert_int_equal(n_sendv, 1);
	assert_string_equal(field("MESSAGE_ID", &c), PT_MID_REDEEM_ALLOW);
	assert_int_equal(c, 1);
	assert_string_equal(field("PERTOK_MESSAGE_ID", NULL), "x");
	assert_null(field("PERTOK_BAD-KEY", NULL));
	assert_null(field("PERTOK_BAD_KEY", NULL));
}

/* A line of the front's: it cannot pass for a decision of the key
 * holder's, nor say it came from elsewhere. */
static void test_front_line(void **state)
{
	int c;

	pt_log_line(LOG_NOTICE,
		    "op=redeem result=allow user=bob src=holder reason=\"x y\" src=front");
	assert_int_equal(n_sendv, 1);
	assert_string_equal(field("MESSAGE_ID", NULL), PT_MID_FRONT);
	assert_string_equal(field("PERTOK_SRC", &c), "front");
	assert_int_equal(c, 1);
	assert_string_equal(field("PERTOK_OP", NULL), "redeem");
	assert_string_equal(field("PERTOK_USER", NULL), "bob");
	assert_string_equal(field("PERTOK_REASON", NULL), "x y");
	assert_string_equal(field("MESSAGE", NULL),
			    "op=redeem result=allow user=bob src=holder reason=\"x y\" src=front");

	/* a line that does not parse: the message, the front's id, no fields */
	pt_log_line(LOG_NOTICE, "op=redeem result=allow user=\"cut off");
	assert_int_equal(n_sendv, 2);
	assert_string_equal(field("MESSAGE_ID", NULL), PT_MID_FRONT);
	assert_string_equal(field("PERTOK_SRC", NULL), "front");
	assert_null(field("PERTOK_OP", NULL));
	assert_null(field("PERTOK_USER", NULL));
}

static void test_parse_line(void **state)
{
	static const struct {
		const char *line;
		int n;
	} t[] = {
		{ "", 0 },
		{ "op=a", 1 },
		{ "op=a result=b x=\"a b\"", 3 },
		{ "op=a x=\"\\\"\\\\\\x0a\"", 2 },
		{ "op=a x=\"\"", 2 },
		{ "op", -EBADMSG },
		{ "=a", -EBADMSG },
		{ "Op=a", -EBADMSG },
		{ "op-x=a", -EBADMSG },
		{ "op=a ", -EBADMSG },
		{ "op=a  x=b", -EBADMSG },
		{ " op=a", -EBADMSG },
		{ "op=", -EBADMSG },
		{ "op= x=b", -EBADMSG },
		{ "op=a=b", -EBADMSG },
		{ "op=a\"b", -EBADMSG },
		{ "op=\"abc", -EBADMSG },
		{ "op=\"a\\\"", -EBADMSG },
		{ "op=\"a\\n\"", -EBADMSG },
		{ "op=\"a\"b", -EBADMSG },
		{ "abcdefghijklmnopqrstuvwxyzabcdefg=x", -EBADMSG }, /* 33 */
		{ "abcdefghijklmnopqrstuvwxyzabcdef=x", 1 },	     /* 32 */
		{ "a=1 b=2 c=3 d=4 e=5", -E2BIG },		     /* max 4 */
	};
	struct pt_log_field f[4];
	char buf[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = pt_log_parse_line(t[i].line, f, 4, buf, sizeof(buf));

		if (n != t[i].n)
			fail_msg("'%s': %d, expected %d", t[i].line, n, t[i].n);
	}
	assert_int_equal(pt_log_parse_line("op=a x=\"\\\"\\\\\\x0a\"", f, 4, buf, sizeof(buf)), 2);
	assert_string_equal(f[0].key, "op");
	assert_string_equal(f[0].value, "a");
	assert_string_equal(f[1].key, "x");
	assert_string_equal(f[1].value, "\"\\\\\\x0a");
	/* buffer too small: E2BIG, never an overflow */
	assert_int_equal(pt_log_parse_line("op=abcdefgh", f, 4, buf, 8), -E2BIG);
	/* an empty quoted value that ends exactly at the buffer's end: its
	 * NUL would be one byte past it */
	{
		char *small = malloc(3);

		assert_non_null(small);
		assert_int_equal(pt_log_parse_line("ab=\"\"", f, 4, small, 3), -E2BIG);
		free(small);
	}
}

/* No journal socket: syslog; journald refusing an entry: syslog too. */
static void test_syslog_fallback(void **state)
{
	journal_exists = false;
	pt_log_open(false);
	assert_false(pt_log_to_journal());
	pt_log_kv(LOG_NOTICE, "redeem", "deny", "user", "bob", NULL);
	assert_int_equal(n_sendv, 0);
	assert_int_equal(n_syslog, 1);
	assert_string_equal(last_syslog, "op=redeem result=deny user=bob");

	journal_exists = true;
	pt_log_open(false);
	assert_true(pt_log_to_journal());
	sendv_result = -ECONNREFUSED;
	pt_log_kv(LOG_NOTICE, "redeem", "deny", "user", "carol", NULL);
	assert_int_equal(n_sendv, 1);
	assert_int_equal(n_syslog, 2);
	assert_string_equal(last_syslog, "op=redeem result=deny user=carol");
}

/* Many fields: the entry keeps whole fields only and stays in bounds. */
static void test_many_fields(void **state)
{
	char big[1500];

	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	pt_log_kv(LOG_INFO, "x", "allow", "a", big, "b", big, "c", big, "d", big, "e", "last",
		  NULL);
	assert_int_equal(n_sendv, 1);
	assert_string_equal(field("MESSAGE_ID", NULL), PT_MID_ALLOW);
	assert_non_null(field("PERTOK_A", NULL));
	assert_non_null(field("PERTOK_B", NULL));
	/* c did not fit in the line: not in the entry either, nor what came after */
	assert_null(field("PERTOK_C", NULL));
	assert_null(field("PERTOK_E", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_ids),
		cmocka_unit_test_setup(test_kv_to_journal, setup_journal),
		cmocka_unit_test_setup(test_keys_are_prefixed, setup_journal),
		cmocka_unit_test_setup(test_front_line, setup_journal),
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test_setup(test_syslog_fallback, setup_journal),
		cmocka_unit_test_setup(test_many_fields, setup_journal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
