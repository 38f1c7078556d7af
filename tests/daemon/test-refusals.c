/* SPDX-License-Identifier: MIT */
/*
 * Jobs that fail say why, against a real tokend (a private one per test,
 * temp dir, software seal): a refused redemption is kept on its token (time,
 * rule, reason, count) next to the last success, durably (it survives
 * SIGKILL through the usage journal), and shown by PT_LIST_STATUS, `pertok
 * list` and `pertok status`; `pertokctl status` shows the last reload's
 * outcome (a bad SIGHUP's exact error); `pertokctl explain` exits 1 on deny
 * and 0 on allow, explains issue decisions (--issue), and --json gives
 * valid JSON (checked with Python's json module). The user is nobody; the
 * test program is the actors. Needs root (tokend reads shadow).
 */
#include "config.h"

#include <errno.h>
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

#define USER "nobody"

/* bad: a config tokend refuses (for a bad SIGHUP) */
static void write_conf(bool bad)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	if (bad) {
		fprintf(f,
			"tokend: { socket = \"%s\"; state_dir = \"%s/state\";\n"
			"redeem = ( { name = \"broken\" } );\n",
			th.sock, th.dir);
		fclose(f);
		return;
	}
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 2000;\n"
		"          live_lifetime = \"5m\"; persist_lifetime = \"1h\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; services = [ \"sshd\" ]; },\n"
		"           { name = \"closed\"; uid = 0; exe = [ \"%s\" ]; services = [ \"cron\" ]; } );\n"
		"issue = ( { name = \"iss\"; actors = [ \"tester\" ];\n"
		"            holders = [ \"tester\", \"closed\" ]; } );\n"
		"redeem = ( { name = \"shut\"; action = \"deny\"; holders = [ \"closed\" ]; },\n"
		"           { name = \"red\"; holders = [ \"tester\" ]; check_account = false; } );\n",
		th.sock, th.dir, th.self_exe, th.self_exe);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (th_init("refusals") < 0)
		return -1;
	write_conf(false);
	th_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	return th_remove_dir();
}

/* ---------------------------------------------------------------- helpers */

/* A login: MINT as actor tester, EXCHANGE for both holders. */
static void login(void)
{
	static const char *const holders[] = { "tester", "closed" };
	char *token = th_mint(USER, "sshd", NULL);

	for (size_t i = 0; i < 2; i++) {
		struct pt_req req = { .type = PT_EXCHANGE,
				      .live_token = token,
				      .holder = (char *)holders[i] };
		struct pt_rep rep;

		assert_int_equal(th_call(&req, &rep), 0);
		assert_int_equal(rep.type, PT_OK);
		pt_rep_clear(&rep);
	}
	pt_free_secret(token);
}

/* A job's REDEEM by holder: 0 or the error code; the message to *ret_msg. */
static uint32_t redeem(const char *holder, char **ret_msg)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)USER,
			      .holder = (char *)holder,
			      .service =
				      (char *)(strcmp(holder, "closed") == 0 ? "cron" : "sshd") };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	if (ret_msg)
		*ret_msg = strdup(rep.message ? rep.message : "");
	pt_rep_clear(&rep);
	return code;
}

/* USER's token for holder as PT_LIST_STATUS shows it (copied into *ret). */
static void token_status(const char *holder, struct pt_tokinfo *ret)
{
	struct pt_req req = { .type = PT_LIST_STATUS, .user = (char *)USER, .cursor = (char *)"" };
	struct pt_rep rep;
	bool found = false;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	for (uint32_t i = 0; i < rep.n_list; i++) {
		struct pt_tokinfo *t = &rep.list[i];

		if (strcmp(t->holder, holder) != 0)
			continue;
		assert_false(found);
		found = true;
		*ret = *t;
		ret->id = strdup(t->id);
		ret->user = ret->actor = ret->holder = NULL;
		ret->refusal_rule = strdup(t->refusal_rule);
		ret->refusal_reason = strdup(t->refusal_reason);
	}
	pt_rep_clear(&rep);
	assert_true(found);
}

static void tokinfo_free(struct pt_tokinfo *t)
{
	free(t->id);
	free(t->refusal_rule);
	free(t->refusal_reason);
	memset(t, 0, sizeof(*t));
}

/* A Python expression over the JSON document d that CMD (printf-style)
 * prints: 0 when it parses as JSON and the expression is true. */
static int json_true(const char *expr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int json_true(const char *expr, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return th_run("timeout 20 %s | timeout 20 /usr/bin/python3 -c 'import json,sys; "
		      "d=json.load(sys.stdin); sys.exit(0 if (%s) else 1)'",
		      cmd, expr);
}

static char *status_text(void)
{
	struct pt_req req = { .type = PT_STATUS };
	struct pt_rep rep;
	char *text;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	text = strdup(rep.text);
	pt_rep_clear(&rep);
	assert_non_null(text);
	return text;
}

/* ---------------------------------------------------------------- tests */

/* A refused job is kept on its token with the rule and the reason tokend
 * refused it with, counted, and survives SIGKILL; a success is the last
 * use. */
static void test_refusal_recorded(void **state)
{
	struct pt_tokinfo closed, open;
	uint64_t t0 = pt_now_s();
	char *msg = NULL;

	(void)state;
	login();
	token_status("closed", &closed);
	assert_int_equal(closed.refusals, 0);
	assert_int_equal(closed.refused_at, 0);
	assert_string_equal(closed.refusal_rule, "");
	tokinfo_free(&closed);

	assert_int_equal(redeem("closed", &msg), PT_E_DENIED);
	token_status("closed", &closed);
	assert_int_equal(closed.refusals, 1);
	assert_true(closed.refused_at >= t0 && closed.refused_at <= pt_now_s());
	assert_string_equal(closed.refusal_rule, "shut");
	assert_string_equal(closed.refusal_reason, msg); /* what the job was told */
	assert_int_equal(closed.last_used, 0);
	tokinfo_free(&closed);
	free(msg);

	/* a success is the other token's last use; it has no refusal */
	assert_int_equal(redeem("tester", NULL), 0);
	token_status("tester", &open);
	assert_int_equal(open.uses, 1);
	assert_true(open.last_used >= t0);
	assert_int_equal(open.refusals, 0);
	tokinfo_free(&open);

	/* durable before the reply: a SIGKILL right after loses nothing */
	assert_int_equal(redeem("closed", NULL), PT_E_DENIED);
	th_stop(SIGKILL);
	th_start();
	token_status("closed", &closed);
	assert_int_equal(closed.refusals, 2);
	assert_string_equal(closed.refusal_rule, "shut");
	tokinfo_free(&closed);
	token_status("tester", &open);
	assert_int_equal(open.uses, 1);
	tokinfo_free(&open);
}

/* pertok list and pertok status show the last refusal, the last success
 * and the time left (root sees USER's tokens as its own tools would). */
static void test_user_tools(void **state)
{
	(void)state;
	login();
	assert_int_equal(redeem("closed", NULL), PT_E_DENIED);
	assert_int_equal(redeem("tester", NULL), 0);
	assert_int_equal(
		th_run("%s/tools/pertok -s %s status > %s/status.out", th_bin(), th.sock, th.dir),
		0);
	assert_int_equal(th_run("grep -q 'last refusal  .*, rule shut: .*(1 refusal in all)' "
				"%s/status.out",
				th.dir),
			 0);
	assert_int_equal(th_run("grep -q 'last success  .*(1 use in all)' %s/status.out", th.dir),
			 0);
	/* whose: root's status lists every user's tokens */
	assert_int_equal(th_run("grep -Eq '^pt_[A-Za-z0-9_-]+  user " USER "  holder closed$' "
				"%s/status.out",
				th.dir),
			 0);
	assert_int_equal(
		th_run("grep -Eq 'expires .*\\((59m|1h 0m) left\\)' %s/status.out", th.dir), 0);
	assert_int_equal(th_run("%s/tools/pertok -s %s list | head -n 1 | grep -Eq "
				"'LEFT .*LAST-SUCCESS +LAST-REFUSAL$'",
				th_bin(), th.sock),
			 0);
	assert_int_equal(
		json_true("[t[\"refusals\"] for t in d if t[\"holder\"] == \"closed\"] == [1] "
			  "and all(t[\"left\"] > 3000 for t in d) and "
			  "[t[\"refusal_rule\"] for t in d if t[\"holder\"] == \"closed\"] == "
			  "[\"shut\"] and "
			  "[t[\"refused_at\"] for t in d if t[\"holder\"] == \"tester\"] == [None]",
			  "'%s/tools/pertok' -s '%s' list --json", th_bin(), th.sock),
		0);
}

/* A bad SIGHUP keeps the old policy and says so in pertokctl status, with
 * the exact error; the next good one says ok. */
static void test_reload_status(void **state)
{
	char *text, line[1100], *p;
	int before;

	(void)state;
	text = status_text();
	assert_non_null(strstr(text, "\nreload=none\n"));
	free(text);

	write_conf(true);
	before = (int)th_count_log("op=reload result=error");
	kill(th.pid, SIGHUP);
	assert_true(th_wait_log("op=reload result=error", (unsigned)before + 1, 5000) > before);
	text = status_text();
	assert_non_null(strstr(text, "\nreload=error\n"));
	p = strstr(text, "\nreload_error=");
	assert_non_null(p);
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(p + 14, "\n"), p + 14);
	assert_non_null(strstr(line, "keeping the previous policy"));
	assert_true(strlen(line) > strlen("; keeping the previous policy"));
	/* the same error as the log line (its reason field, escaped there) */
	{
		char *log = th_slurp(th.logpath);

		assert_non_null(log);
		snprintf(line, sizeof(line), "%.20s", p + 14);
		assert_non_null(strstr(log, line));
		free(log);
	}
	free(text);
	assert_int_equal(json_true("d[\"reload\"] == \"error\" and \"previous policy\" in "
				   "d[\"reload_error\"] and d[\"reload_time\"] > 0",
				   "'%s/tools/pertokctl' -s '%s' status --json", th_bin(), th.sock),
			 0);

	write_conf(false);
	before = (int)th_count_log("op=reload result=allow");
	kill(th.pid, SIGHUP);
	assert_true(th_wait_log("op=reload result=allow", (unsigned)before + 1, 5000) > before);
	text = status_text();
	assert_non_null(strstr(text, "\nreload=ok\nreload_error=\nreload_warning=\n"));
	free(text);
	assert_int_equal(json_true("d[\"reload\"] == \"ok\" and d[\"tokens\"] == 0",
				   "'%s/tools/pertokctl' -s '%s' status --json", th_bin(), th.sock),
			 0);

	/* an "ok" reload that leaves a setting for the next start says so */
	{
		char cmd[1200];

		snprintf(cmd, sizeof(cmd), "sed -i 's|socket = \"%s\"|socket = \"%s.next\"|' '%s'",
			 th.sock, th.sock, th.conf);
		assert_int_equal(system(cmd), 0);
	}
	before = (int)th_count_log("op=reload result=warning");
	kill(th.pid, SIGHUP);
	assert_true(th_wait_log("op=reload result=warning", (unsigned)before + 1, 5000) > before);
	text = status_text();
	assert_non_null(strstr(text, "\nreload=ok\nreload_error=\nreload_warning=socket, "));
	assert_non_null(strstr(text, "take effect at the next start\n"));
	free(text);
	write_conf(false);
}

/* explain: the text ends with the decision; the tool's exit status is 0 on
 * allow, 1 on deny; --issue asks the exchange's decision; --json parses. */
static void test_explain(void **state)
{
	struct pt_req req = { .type = PT_EXPLAIN,
			      .user = (char *)USER,
			      .holder = (char *)"closed" };
	struct pt_rep rep;
#define CTL "%s/tools/pertokctl -s %s explain %s >/dev/null"
	size_t n;

	(void)state;
	login();
	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	n = strlen(rep.text);
	assert_true(n > 14);
	assert_string_equal(rep.text + n - 14, "decision=deny\n");
	pt_rep_clear(&rep);

	/* an issue explain names a valid actor: tokend checks, whatever the tool sends */
	{
		struct pt_req bad = { .type = PT_EXPLAIN_ISSUE,
				      .user = (char *)USER,
				      .actor = (char *)"no actor",
				      .holder = (char *)"tester" };

		assert_int_equal(th_call(&bad, &rep), 0);
		assert_int_equal(rep.type, PT_ERR);
		assert_int_equal(rep.err_code, PT_E_PROTO);
		assert_string_equal(rep.message,
				    "explain --issue needs a valid user, actor and holder");
		pt_rep_clear(&rep);
		/* a well-formed name that no actor has: an error, not a "deny" */
		bad.actor = (char *)"sshd";
		assert_int_equal(th_call(&bad, &rep), 0);
		assert_int_equal(rep.type, PT_ERR);
		assert_int_equal(rep.err_code, PT_E_INVALID);
		assert_string_equal(
			rep.message,
			"no actor named sshd in the configuration (nor is it \"self\")");
		pt_rep_clear(&rep);
	}

	assert_int_equal(th_run(CTL, th_bin(), th.sock, "--user " USER " --holder closed"), 1);
	assert_int_equal(th_run(CTL, th_bin(), th.sock, "--user " USER " --holder tester"), 0);
	assert_int_equal(th_run(CTL, th_bin(), th.sock,
				"--issue --actor tester --user " USER " --holder closed"),
			 0);
	assert_int_equal(th_run(CTL, th_bin(), th.sock,
				"--issue --actor closed --user " USER " --holder tester"),
			 1);
	/* an unknown holder is an issue decision too (deny), not an error */
	assert_int_equal(th_run(CTL, th_bin(), th.sock,
				"--issue --actor tester --user " USER " --holder nosuch"),
			 1);
	assert_int_equal(th_run(CTL, th_bin(), th.sock, "--issue --user " USER " --holder tester"),
			 2);

	assert_int_equal(json_true("d[\"kind\"] == \"redeem\" and d[\"decision\"] == \"allow\" and "
				   "d[\"claims\"][\"sub\"] == \"" USER "\" and "
				   "d[\"text\"][-1] == \"decision=allow\"",
				   "'%s/tools/pertokctl' -s '%s' explain --json --user " USER
				   " --holder tester",
				   th_bin(), th.sock),
			 0);
	assert_int_equal(json_true("d[\"kind\"] == \"redeem\" and d[\"decision\"] == \"deny\" and "
				   "d[\"claims\"] is None and "
				   "any(\"shut\" in l for l in d[\"text\"])",
				   "'%s/tools/pertokctl' -s '%s' explain --json --user " USER
				   " --holder closed",
				   th_bin(), th.sock),
			 0);
	assert_int_equal(
		json_true("d[\"kind\"] == \"issue\" and d[\"decision\"] == \"deny\" and "
			  "d[\"actor\"] == \"closed\" and any(\"iss\" in l for l in d[\"text\"])",
			  "'%s/tools/pertokctl' -s '%s' explain --json --issue --actor closed "
			  "--user " USER " --holder tester",
			  th_bin(), th.sock),
		0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refusal_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_tools, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-refusals needs root (tokend reads shadow and peers' "
		       "executables)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
