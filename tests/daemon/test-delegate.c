/* SPDX-License-Identifier: MIT */
/*
 * Delegation of persistable tokens against a real tokend (a private one per
 * test, temp dir, software seal): PT_DELEGATE moves nobody's token from atd
 * to cron, after which cron redeems it and atd (the original holder) is
 * refused; the chain of holders is in the token's record and survives a
 * SIGKILL and restart; the audit log has a token.delegate record; the
 * token's user may delegate their own token, another user may not (and is
 * told the same as for a token that does not exist); a holder that is not a
 * configured actor and a slot the user already holds are refused with a
 * precise message; pertok list shows the delegation. The test program is
 * the actors. Needs root (tokend reads shadow, the test switches uids).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define USER "nobody"
#define NOBODY 65534
#define OTHER_UID 1 /* daemon: another user */

static void write_conf(void)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 2000;\n"
		"          live_lifetime = \"5m\"; persist_lifetime = \"1h\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"login\"; uid = 0; exe = [ \"%s\" ]; services = [ \"sshd\" ]; },\n"
		"           { name = \"atd\"; uid = 0; exe = [ \"%s\" ]; services = [ \"atd\" ]; },\n"
		"           { name = \"cron\"; uid = 0; exe = [ \"%s\" ]; services = [ \"cron\" ]; } "
		");\n"
		"issue = ( { name = \"iss\"; actors = [ \"login\" ]; holders = [ \"atd\", \"cron\" ]; "
		"} );\n"
		"redeem = ( { name = \"jobs\"; holders = [ \"atd\", \"cron\" ]; check_account = false; "
		"} );\n",
		th.sock, th.dir, th.self_exe, th.self_exe, th.self_exe);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (th_init("delegate") < 0)
		return -1;
	write_conf();
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

/* A login through actor login, exchanged for holder: the token's id. */
static char *login(const char *holder)
{
	char *token = th_mint(USER, "sshd", NULL), *id;
	struct pt_req req = { .type = PT_EXCHANGE, .live_token = token, .holder = (char *)holder };
	struct pt_rep rep;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	id = strdup(rep.id);
	assert_non_null(id);
	pt_rep_clear(&rep);
	pt_free_secret(token);
	return id;
}

/* A job's REDEEM by holder (the service names the actor): 0 or the error. */
static uint32_t redeem(const char *holder)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)USER,
			      .holder = (char *)holder,
			      .service = (char *)holder };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	pt_rep_clear(&rep);
	return code;
}

/* PT_DELEGATE as uid (0: the test itself, else a child with that uid): 0 or
 * the error code; the error's message (or "") to msg. */
static uint32_t delegate_as(uid_t uid, const char *id, const char *holder, char *msg, size_t len)
{
	struct pt_req req = { .type = PT_DELEGATE, .id = (char *)id, .holder = (char *)holder };
	struct pt_rep rep;
	int fds[2], st;
	uint32_t code;
	ssize_t n;
	pid_t pid;

	if (uid == 0) {
		assert_int_equal(th_call(&req, &rep), 0);
		code = rep.type == PT_OK ? 0 : rep.err_code;
		snprintf(msg, len, "%s", rep.message ? rep.message : "");
		pt_rep_clear(&rep);
		return code;
	}
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
			_exit(100);
		if (th_call(&req, &rep) < 0)
			_exit(101);
		if (rep.message && write(fds[1], rep.message, strlen(rep.message)) < 0)
			_exit(102);
		_exit(rep.type == PT_OK ? 0 : (int)rep.err_code);
	}
	close(fds[1]);
	n = read(fds[0], msg, len - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_true(WEXITSTATUS(st) < 100);
	return (uint32_t)WEXITSTATUS(st);
}

/* The token id as PT_LIST_DELEG shows it: holder, delegations, from. */
static bool list_entry(const char *id, char holder[PT_MAX_STR + 1], uint32_t *ret_n,
		       char from[PT_MAX_STR + 1])
{
	struct pt_req req = { .type = PT_LIST_DELEG, .user = (char *)"", .cursor = (char *)"" };
	struct pt_rep rep;
	bool found = false;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	for (uint32_t i = 0; i < rep.n_list; i++)
		if (strcmp(rep.list[i].id, id) == 0) {
			snprintf(holder, PT_MAX_STR + 1, "%s", rep.list[i].holder);
			snprintf(from, PT_MAX_STR + 1, "%s", rep.list[i].delegated_from);
			*ret_n = rep.list[i].delegations;
			found = true;
		}
	pt_rep_clear(&rep);
	return found;
}

static char *audit_log(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/state/audit.log", th.dir);
	return th_slurp(path);
}

/* ---------------------------------------------------------------- tests */

/* atd -> cron by root: cron redeems, atd (the original holder) is refused;
 * the chain and the audit record are there, and survive SIGKILL. */
static void test_atd_to_cron(void **state)
{
	char *id = login("atd"), *log, holder[PT_MAX_STR + 1], from[PT_MAX_STR + 1], msg[512];
	uint32_t n = 0;

	(void)state;
	assert_int_equal(redeem("atd"), 0);
	assert_int_equal(redeem("cron"), PT_E_NOTFOUND); /* not cron's yet */
	assert_true(list_entry(id, holder, &n, from));
	assert_string_equal(holder, "atd");
	assert_int_equal(n, 0);
	assert_string_equal(from, "");

	assert_int_equal(delegate_as(0, id, "cron", msg, sizeof(msg)), 0);
	assert_int_equal(redeem("cron"), 0);
	assert_int_equal(redeem("atd"), PT_E_NOTFOUND);
	assert_true(list_entry(id, holder, &n, from));
	assert_string_equal(holder, "cron");
	assert_int_equal(n, 1);
	assert_string_equal(from, "atd");

	log = audit_log();
	assert_non_null(log);
	assert_non_null(strstr(log, "\"op\":\"token.delegate\",\"result\":\"allow\""));
	assert_non_null(strstr(log, "delegated from atd to cron by root"));
	free(log);

	/* durable before the reply: SIGKILL, restart, still cron's */
	th_stop(SIGKILL);
	th_start();
	assert_true(list_entry(id, holder, &n, from));
	assert_string_equal(holder, "cron");
	assert_int_equal(n, 1);
	assert_string_equal(from, "atd");
	assert_int_equal(redeem("atd"), PT_E_NOTFOUND);
	assert_int_equal(redeem("cron"), 0);
	/* and on again: a chain of two */
	assert_int_equal(delegate_as(0, id, "atd", msg, sizeof(msg)), 0);
	assert_true(list_entry(id, holder, &n, from));
	assert_string_equal(holder, "atd");
	assert_int_equal(n, 2);
	assert_string_equal(from, "cron");
	assert_int_equal(redeem("cron"), PT_E_NOTFOUND);
	free(id);
}

/* The token's user may delegate it; another user may not (and learns
 * nothing: the same answer as for an unknown id). */
static void test_who_may(void **state)
{
	char *id = login("atd"), holder[PT_MAX_STR + 1], from[PT_MAX_STR + 1], msg[512];
	uint32_t n = 0;
	char *log;

	(void)state;
	assert_int_equal(delegate_as(OTHER_UID, id, "cron", msg, sizeof(msg)), PT_E_NOTFOUND);
	assert_non_null(strstr(msg, "no such token"));
	assert_true(list_entry(id, holder, &n, from));
	assert_string_equal(holder, "atd");
	assert_int_equal(redeem("atd"), 0);

	assert_int_equal(delegate_as(NOBODY, id, "cron", msg, sizeof(msg)), 0);
	assert_true(list_entry(id, holder, &n, from));
	assert_string_equal(holder, "cron");
	assert_int_equal(redeem("cron"), 0);
	log = audit_log();
	assert_non_null(log);
	assert_non_null(strstr(log, "delegated from atd to cron by " USER));
	free(log);
	free(id);
}

/* An unknown holder, the holder it has, a slot the user holds already, an
 * unknown id and a malformed name: each refused, the token unchanged. */
static void test_refusals(void **state)
{
	char *id = login("atd"), *other, holder[PT_MAX_STR + 1], from[PT_MAX_STR + 1], msg[512];
	uint32_t n = 0;

	(void)state;
	assert_int_equal(delegate_as(0, id, "nosuch", msg, sizeof(msg)), PT_E_NOTFOUND);
	assert_string_equal(msg, "holder nosuch is not a configured actor");
	assert_int_equal(delegate_as(0, id, "atd", msg, sizeof(msg)), PT_E_DENIED);
	assert_string_equal(msg, "the token's holder is atd already");
	assert_int_equal(delegate_as(0, id, "bad holder", msg, sizeof(msg)), PT_E_PROTO);
	assert_int_equal(delegate_as(0, "pt_AAAAAAAAAAAAAAAAAAAAAA", "cron", msg, sizeof(msg)),
			 PT_E_NOTFOUND);

	/* the user has a token for cron: refused, never replaced */
	other = login("cron");
	assert_int_equal(delegate_as(0, id, "cron", msg, sizeof(msg)), PT_E_LIMIT);
	assert_non_null(strstr(msg, "already has a token for holder cron"));
	assert_non_null(strstr(msg, other));
	assert_true(list_entry(id, holder, &n, from));
	assert_string_equal(holder, "atd");
	assert_int_equal(n, 0);
	assert_true(list_entry(other, holder, &n, from));
	assert_string_equal(holder, "cron");
	assert_int_equal(redeem("atd"), 0);
	free(other);
	free(id);
}

/* pertokctl delegate, and pertok list / pertokctl list showing it. */
static void test_tools(void **state)
{
	char *id = login("atd");

	(void)state;
	assert_int_equal(th_run("%s/tools/pertokctl -s %s delegate %s cron > %s/out", th_bin(),
				th.sock, id, th.dir),
			 0);
	assert_int_equal(
		th_run("grep -qx 'delegated %s to cron (delegation 1)' %s/out", id, th.dir), 0);
	assert_int_equal(th_run("%s/tools/pertokctl -s %s delegate %s nosuch 2> %s/err", th_bin(),
				th.sock, id, th.dir),
			 1);
	assert_int_equal(th_run("grep -q 'not a configured actor' %s/err", th.dir), 0);
	assert_int_equal(th_run("%s/tools/pertok -s %s list | grep -Eq '^%s +" USER
				" +[0-9]+ +cron<-atd '",
				th_bin(), th.sock, id),
			 0);
	assert_int_equal(
		th_run("%s/tools/pertokctl -s %s list --json | timeout 20 /usr/bin/python3 -c "
		       "'import json,sys; d=json.load(sys.stdin); sys.exit(0 if "
		       "[(t[\"holder\"], t[\"delegations\"], t[\"delegated_from\"]) for t in d] "
		       "== [(\"cron\", 1, \"atd\")] else 1)'",
		       th_bin(), th.sock),
		0);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_atd_to_cron, setup, teardown),
		cmocka_unit_test_setup_teardown(test_who_may, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tools, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-delegate needs root (tokend reads shadow; the test "
		       "switches uids)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
