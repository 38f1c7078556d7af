/* SPDX-License-Identifier: MIT */
/*
 * Late binding end to end: a private tokend in a temp dir; one persistable
 * token is redeemed, the config is edited and tokend gets SIGHUP, and the
 * next redemption of the same token follows the new policy: live lifetime
 * extended, persistable lifetime extended and shortened, an entitlement
 * added and one curtailed, groups added and removed, deny, max_uses, an hour
 * window, idle expiry (deny, then housekeeping removes it). Then revocation
 * by user / holder / issue time (PT_REVOKE_MATCH, also across a restart and
 * for an unprivileged peer), explain (PT_EXPLAIN) and pertokctl's
 * explain / revoke / check-config; token_* matches on the token's recorded
 * service, actor and entitlements. Needs root (as tests/daemon does).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

#include "b64.h"
#include "client.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define NOBODY 65534

/* issue_extra / redeem_extra: settings added to the one issue / redeem rule */
static void write_conf(const char *issue_extra, const char *redeem_extra)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 1000;\n"
		"          live_lifetime = \"1m\"; expire_grace = 1; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; },\n"
		"           { name = \"other\"; uid = 0; exe = [ \"/nonexistent/bin\" ]; } );\n"
		"issue = ( { name = \"iss\"; actors = [ \"tester\", \"self\" ];\n"
		"            holders = [ \"tester\", \"other\" ]; max_outstanding = 4;\n"
		"            persist_lifetime = \"1h\"; %s } );\n"
		"redeem = ( { name = \"red\"; holders = [ \"tester\" ]; check_account = false;\n"
		"             %s } );\n",
		th.sock, th.dir, th.self_exe, issue_extra, redeem_extra);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (th_init("policy") < 0)
		return -1;
	write_conf("", "");
	th_start();
	return 0;
}

/* Also checks that every line tokend logged is in tokend(8)'s key=value form. */
static int teardown(void **state)
{
	char bad[512];
	int n;

	(void)state;
	th_stop(SIGTERM);
	n = th_check_log_form(bad, sizeof(bad));
	if (n > 0) {
		print_error("%d tokend log line(s) not in the op=... result=... key=value form "
			    "of tokend(8), the first:\n%s\n",
			    n, bad);
		th_remove_dir();
		return -1;
	}
	return th_remove_dir();
}

/* A fresh persistable token of root for holder (a renewal replaces the old one). */
static void issue(const char *holder, char ret_id[PT_MAX_STR + 1])
{
	struct pt_rep rep;
	char *token = th_mint("root", "test", NULL);
	struct pt_req ex = { .type = PT_EXCHANGE, .live_token = token, .holder = (char *)holder };
	assert_int_equal(th_call(&ex, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	snprintf(ret_id, PT_MAX_STR + 1, "%s", rep.id);
	pt_rep_clear(&rep);
	pt_free_secret(token);
}

/* Redeems root's token for holder tester: 0 or the error code; the claims
 * JSON (caller frees) and the live token's exp. */
static uint32_t redeem(char **ret_claims, uint64_t *ret_exp, char **ret_msg)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)"root",
			      .holder = (char *)"tester",
			      .service = (char *)"test" };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	if (code == 0 && ret_claims) {
		const char *d1 = strchr(rep.token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
		uint8_t *json = NULL;
		size_t jlen = 0;

		assert_non_null(d2);
		assert_int_equal(pt_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &json, &jlen), 0);
		*ret_claims = calloc(1, jlen + 1);
		memcpy(*ret_claims, json, jlen);
		free(json);
	}
	if (ret_exp)
		*ret_exp = rep.exp;
	if (ret_msg)
		*ret_msg = rep.message ? strdup(rep.message) : NULL;
	pt_rep_clear(&rep);
	return code;
}

/* How many reloads tokend logged as done. */
static int reloads(void)
{
	FILE *f = fopen(th.logpath, "r");
	char line[4096];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "op=reload result=allow") != NULL;
	fclose(f);
	return n;
}

static void reconfigure(const char *issue_extra, const char *redeem_extra)
{
	int before = reloads();

	char cmd[PATH_MAX + 300];
	const char *b = getenv("top_builddir");

	write_conf(issue_extra, redeem_extra);
	/* a config tokend would refuse would make the test prove nothing */
	snprintf(cmd, sizeof(cmd), "'%s/tokend/tokend' --check-config -c '%s' >/dev/null",
		 b ? b : ".", th.conf);
	assert_int_equal(system(cmd), 0);
	kill(th.pid, SIGHUP);
	for (int i = 0; i < 500 && reloads() == before; i++)
		usleep(10000);
	assert_true(reloads() > before);
}

/* The token's iat, exp and uses as LIST shows them; false if absent. */
static bool find_token(const char *id, uint64_t *iat, uint64_t *exp, uint32_t *uses)
{
	struct pt_req list = { .type = PT_LIST, .user = (char *)"" };
	struct pt_rep rep;
	bool found = false;

	assert_int_equal(th_call(&list, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	for (uint32_t i = 0; i < rep.n_list; i++)
		if (strcmp(rep.list[i].id, id) == 0) {
			found = true;
			if (iat)
				*iat = rep.list[i].iat;
			if (exp)
				*exp = rep.list[i].exp;
			if (uses)
				*uses = rep.list[i].uses;
		}
	pt_rep_clear(&rep);
	return found;
}

static void assert_claim(const char *claims, const char *want)
{
	if (!strstr(claims, want))
		fail_msg("claims lack %s: %s", want, claims);
}

static void assert_no_claim(const char *claims, const char *want)
{
	if (strstr(claims, want))
		fail_msg("claims have %s: %s", want, claims);
}

/* ------------------------------------------------------------ late binding */

static void test_extend_live_lifetime(void **state)
{
	char id[PT_MAX_STR + 1];
	uint64_t exp = 0, now;

	(void)state;
	reconfigure("", "");
	issue("tester", id);
	now = pt_now_s();
	assert_int_equal(redeem(NULL, &exp, NULL), 0);
	assert_true(exp >= now + 60 && exp <= now + 62);
	reconfigure("", "live_lifetime = \"10m\";");
	now = pt_now_s();
	assert_int_equal(redeem(NULL, &exp, NULL), 0);
	assert_true(exp >= now + 600 && exp <= now + 602);
}

static void test_persist_lifetime(void **state)
{
	char id[PT_MAX_STR + 1];
	uint64_t iat = 0, exp = 0;

	(void)state;
	reconfigure("", "");
	issue("tester", id);
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	assert_true(find_token(id, &iat, &exp, NULL));
	assert_int_equal(exp, iat + 3600); /* the issue rule's 1h */
	/* extended */
	reconfigure("", "persist_lifetime = \"2d\";");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	assert_true(find_token(id, &iat, &exp, NULL));
	assert_int_equal(exp, iat + 2 * 86400);
	/* stays extended when the rule no longer says so */
	reconfigure("", "");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	assert_true(find_token(id, NULL, &exp, NULL));
	assert_int_equal(exp, iat + 2 * 86400);
	/* shortened */
	reconfigure("", "persist_lifetime = \"30m\";");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	assert_true(find_token(id, NULL, &exp, NULL));
	assert_int_equal(exp, iat + 1800);
	/* shortened into the past: denied */
	reconfigure("", "persist_lifetime = 1;");
	sleep(1);
	assert_int_equal(redeem(NULL, NULL, NULL), PT_E_DENIED);
	assert_true(find_token(id, NULL, &exp, NULL));
	assert_int_equal(exp, iat + 1800); /* a denial changes nothing */
}

static void test_entitlements(void **state)
{
	char id[PT_MAX_STR + 1], *claims = NULL;

	(void)state;
	reconfigure("entitlements = [ \"print\", \"mail\" ];", "");
	issue("tester", id);
	/* the issue rule's entitlements are recorded in the persistable token... */
	reconfigure("", "");
	assert_int_equal(redeem(&claims, NULL, NULL), 0);
	assert_claim(claims, "\"entitlements\":[\"print\",\"mail\"]");
	free(claims);
	/* ...added to... */
	reconfigure("", "entitlements_add = [ \"vpn\" ];");
	assert_int_equal(redeem(&claims, NULL, NULL), 0);
	assert_claim(claims, "\"entitlements\":[\"print\",\"mail\",\"vpn\"]");
	free(claims);
	/* ...curtailed */
	reconfigure("", "entitlements_remove = [ \"mail\" ];");
	assert_int_equal(redeem(&claims, NULL, NULL), 0);
	assert_claim(claims, "\"entitlements\":[\"print\"]");
	free(claims);
	reconfigure("", "entitlements_remove = [ \"*\" ];");
	assert_int_equal(redeem(&claims, NULL, NULL), 0);
	assert_claim(claims, "\"entitlements\":[]");
	free(claims);
}

static void test_groups(void **state)
{
	char id[PT_MAX_STR + 1], *claims = NULL;

	(void)state;
	reconfigure("", "");
	issue("tester", id);
	assert_int_equal(redeem(&claims, NULL, NULL), 0);
	assert_claim(claims, "\"groups\":[\"root\"");
	assert_no_claim(claims, "\"late-group\"");
	free(claims);
	reconfigure("", "groups_add = [ \"late-group\" ]; groups_remove = [ \"root\" ];");
	assert_int_equal(redeem(&claims, NULL, NULL), 0);
	assert_claim(claims, "\"groups\":[\"late-group\"]");
	free(claims);
}

static void test_deny(void **state)
{
	char id[PT_MAX_STR + 1], *msg = NULL;

	(void)state;
	reconfigure("", "");
	issue("tester", id);
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	reconfigure("", "action = \"deny\";");
	assert_int_equal(redeem(NULL, NULL, &msg), PT_E_DENIED);
	assert_non_null(strstr(msg, "rule \"red\""));
	free(msg);
	reconfigure("", "");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
}

static void test_max_uses(void **state)
{
	char id[PT_MAX_STR + 1], *msg = NULL;
	uint32_t uses = 0;

	(void)state;
	reconfigure("", "");
	issue("tester", id);
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	reconfigure("", "max_uses = 3;");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	assert_int_equal(redeem(NULL, NULL, &msg), PT_E_DENIED);
	assert_non_null(strstr(msg, "redeemed 3 times (max_uses 3)"));
	free(msg);
	assert_true(find_token(id, NULL, NULL, &uses));
	assert_int_equal(uses, 3);
	reconfigure("", "max_uses = 4;");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
}

static void test_hours(void **state)
{
	char id[PT_MAX_STR + 1], *msg = NULL, extra[128];
	time_t t = time(NULL);
	struct tm tm;
	int h;

	(void)state;
	localtime_r(&t, &tm);
	/* a one-hour window two hours from now: closed now */
	h = (tm.tm_hour + 2) % 24;
	snprintf(extra, sizeof(extra), "hours = \"%02d:00-%02d:00\";", h, (h + 1) % 24);
	reconfigure("", "");
	issue("tester", id);
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	reconfigure("", extra);
	assert_int_equal(redeem(NULL, NULL, &msg), PT_E_DENIED);
	assert_non_null(strstr(msg, "outside its time window"));
	free(msg);
	/* the window that holds now */
	snprintf(extra, sizeof(extra), "hours = \"%02d:00-%02d:00\";", tm.tm_hour,
		 (tm.tm_hour + 2) % 24);
	reconfigure("", extra);
	/* (at hh:59:59 the clock may move on; the window covers two hours) */
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
}

static void test_idle(void **state)
{
	char id[PT_MAX_STR + 1], *msg = NULL, cmd[PATH_MAX + 200];
	uint32_t code;
	bool gone = false;

	(void)state;
	reconfigure("", "");
	issue("tester", id);
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	reconfigure("", "idle = \"1h\";");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	reconfigure("", "idle = 1;");
	sleep(1);
	/* dead: denied, unless housekeeping (every 5 s) removed it already */
	code = redeem(NULL, NULL, &msg);
	if (code != PT_E_NOTFOUND) {
		assert_int_equal(code, PT_E_DENIED);
		assert_non_null(strstr(msg, "it is dead"));
	}
	free(msg);
	/* housekeeping (every 5 s) removes the dead token: in the round after the
	 * one that first saw it dead, expire_grace (1 s here) later */
	for (int i = 0; i < 200 && !gone; i++) {
		gone = !find_token(id, NULL, NULL, NULL);
		if (!gone)
			usleep(100000);
	}
	assert_true(gone);
	assert_int_equal(redeem(NULL, NULL, NULL), PT_E_NOTFOUND);
	/* and the log says why */
	snprintf(cmd, sizeof(cmd), "grep -q 'op=expire result=allow .*id=%s reason=idle' '%s'", id,
		 th.logpath);
	assert_int_equal(system(cmd), 0);
}

/* -------------------------------------------------------------- revocation */

static uint32_t revoke_match(const char *user, const char *holder, uint64_t before,
			     uint32_t *ret_count)
{
	struct pt_req req = { .type = PT_REVOKE_MATCH,
			      .user = (char *)user,
			      .holder = (char *)holder,
			      .before = before };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	if (ret_count)
		*ret_count = rep.count;
	pt_rep_clear(&rep);
	return code;
}

static void test_revoke_match(void **state)
{
	char a[PT_MAX_STR + 1], b[PT_MAX_STR + 1];
	uint32_t n = 99;
	uint64_t t;

	(void)state;
	reconfigure("", "");
	/* nothing given: refused */
	assert_int_equal(revoke_match("", "", 0, NULL), PT_E_PROTO);
	assert_int_equal(revoke_match("bad name", "", 0, NULL), PT_E_PROTO);
	/* by holder */
	issue("tester", a);
	issue("other", b);
	assert_int_equal(revoke_match("", "other", 0, &n), 0);
	assert_int_equal(n, 1);
	assert_true(find_token(a, NULL, NULL, NULL));
	assert_false(find_token(b, NULL, NULL, NULL));
	/* by user */
	issue("other", b);
	assert_int_equal(revoke_match("nosuchuser", "", 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(revoke_match("root", "", 0, &n), 0);
	assert_int_equal(n, 2);
	assert_false(find_token(a, NULL, NULL, NULL));
	assert_false(find_token(b, NULL, NULL, NULL));
	assert_int_equal(redeem(NULL, NULL, NULL), PT_E_NOTFOUND);
	/* issued before T: only the older one */
	issue("tester", a);
	sleep(1);
	t = pt_now_s();
	issue("other", b);
	assert_int_equal(revoke_match("", "", t, &n), 0);
	assert_int_equal(n, 1);
	assert_false(find_token(a, NULL, NULL, NULL));
	assert_true(find_token(b, NULL, NULL, NULL));
	/* user and holder together */
	issue("tester", a);
	assert_int_equal(revoke_match("root", "tester", 0, &n), 0);
	assert_int_equal(n, 1);
	assert_true(find_token(b, NULL, NULL, NULL));
	/* survives a restart: the files are gone */
	th_stop(SIGKILL);
	th_start();
	assert_false(find_token(a, NULL, NULL, NULL));
	assert_true(find_token(b, NULL, NULL, NULL));
	assert_int_equal(revoke_match("", "other", 0, &n), 0);
	assert_int_equal(n, 1);
}

/* An unprivileged peer matches only its own tokens, whatever it asks. */
static void test_revoke_match_unprivileged(void **state)
{
	char a[PT_MAX_STR + 1];
	pid_t pid;
	int st;

	(void)state;
	reconfigure("", "");
	issue("tester", a);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pt_req req = { .type = PT_REVOKE_MATCH,
				      .user = (char *)"root",
				      .holder = (char *)"",
				      .before = 0 };
		struct pt_req ex = { .type = PT_EXPLAIN,
				     .user = (char *)"root",
				     .holder = (char *)"tester" };
		struct pt_rep rep;

		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(10);
		if (th_call(&req, &rep) < 0 || rep.type != PT_OK || rep.count != 0)
			_exit(11);
		pt_rep_clear(&rep);
		req.user = (char *)"";
		req.before = pt_now_s() + 100;
		if (th_call(&req, &rep) < 0 || rep.type != PT_OK || rep.count != 0)
			_exit(12);
		pt_rep_clear(&rep);
		/* explain is root's */
		if (th_call(&ex, &rep) < 0 || rep.type != PT_ERR || rep.err_code != PT_E_PERM)
			_exit(13);
		pt_rep_clear(&rep);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(find_token(a, NULL, NULL, NULL));
}

/* ----------------------------------------------------------------- explain */

static char *explain(const char *user, const char *holder, uint64_t at, uint32_t *ret_code)
{
	struct pt_req req = {
		.type = PT_EXPLAIN, .user = (char *)user, .holder = (char *)holder, .at = at
	};
	struct pt_rep rep;
	char *text;

	assert_int_equal(th_call(&req, &rep), 0);
	*ret_code = rep.type == PT_OK ? 0 : rep.err_code;
	text = rep.text;
	rep.text = NULL;
	pt_rep_clear(&rep);
	return text;
}

static void test_explain(void **state)
{
	char id[PT_MAX_STR + 1], *text;
	uint32_t code, uses = 99;

	(void)state;
	reconfigure("entitlements = [ \"print\" ];", "");
	issue("tester", id);
	reconfigure("", "entitlements_add = [ \"vpn\" ]; live_lifetime = \"7m\";");
	text = explain("root", "tester", 0, &code);
	assert_int_equal(code, 0);
	assert_non_null(text);
	assert_non_null(strstr(text, "rule \"red\" (line 9, allow):\n  matches: it decides"));
	assert_non_null(strstr(text, "decision: allow: rule \"red\" (line 9) allows"));
	assert_non_null(strstr(text, id));
	assert_non_null(strstr(text, "account: uid 0, gid 0"));
	assert_non_null(strstr(text, "live token claims"));
	assert_non_null(strstr(text, "\"vpn\""));
	assert_non_null(strstr(text, "\"print\""));
	assert_non_null(strstr(text, "\"ptk\""));
	free(text);
	/* a dry run: no use counted */
	assert_true(find_token(id, NULL, NULL, &uses));
	assert_int_equal(uses, 0);
	/* --at: after the token's expiry */
	text = explain("root", "tester", pt_now_s() + 7200, &code);
	assert_int_equal(code, 0);
	assert_non_null(strstr(text, "it has expired by then"));
	assert_non_null(strstr(text, "no live token would be minted"));
	free(text);
	/* a deny, and a holder the rule does not name */
	reconfigure("", "action = \"deny\";");
	text = explain("root", "tester", 0, &code);
	assert_non_null(strstr(text, "decision: deny: rule \"red\" (line 9) denies: it is a "
				     "deny rule"));
	free(text);
	text = explain("root", "other", 0, &code);
	assert_int_equal(code, 0);
	assert_non_null(strstr(text, "persistable token: none"));
	assert_non_null(strstr(text, "  no: holder other is not one of tester\n"));
	assert_non_null(strstr(text, "decision: deny: no rule matched"));
	free(text);
	text = explain("bad user", "tester", 0, &code);
	assert_int_equal(code, PT_E_PROTO);
	free(text);
}

/* token_services / token_actors / token_entitlements: the same token is
 * allowed, then no longer matches after an edit + SIGHUP, then again. */
static void test_token_match(void **state)
{
	char id[PT_MAX_STR + 1], *msg = NULL, *text;
	uint32_t code;

	(void)state;
	reconfigure("entitlements = [ \"print\" ];", "");
	issue("tester", id); /* service "test", obtained by actor tester */
	reconfigure("", "token_services = [ \"test\" ]; token_actors = [ \"tester\" ];\n"
			"             token_entitlements = [ \"vpn\", \"print\" ];");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	reconfigure("", "token_services = [ \"sshd\" ];");
	assert_int_equal(redeem(NULL, NULL, &msg), PT_E_DENIED);
	assert_non_null(strstr(msg, "no rule matched"));
	free(msg);
	text = explain("root", "tester", 0, &code);
	assert_int_equal(code, 0);
	assert_non_null(strstr(text, "  recorded: service test, entitlements: print\n"));
	assert_non_null(strstr(text, "  no: token service test is not one of sshd\n"));
	free(text);
	reconfigure("", "token_entitlements = [ \"vpn\" ];");
	assert_int_equal(redeem(NULL, NULL, NULL), PT_E_DENIED);
	reconfigure("", "token_actors = [ \"self\" ];");
	assert_int_equal(redeem(NULL, NULL, NULL), PT_E_DENIED);
	reconfigure("", "token_services = [ \"*\" ];");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
}

/* ----------------------------------------------------------------- history */

/* "history: N redemptions of root that day, T in all" from explain */
static void history_counts(uint32_t *ret_today, unsigned long long *ret_total)
{
	uint32_t code;
	char *text = explain("root", "tester", 0, &code), *p;
	unsigned today = 0;

	assert_int_equal(code, 0);
	p = strstr(text, "history: ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "history: %u redemptions of root that day, %llu in all", &today,
				ret_total),
			 2);
	*ret_today = today;
	free(text);
}

static void test_max_redemptions_per_day(void **state)
{
	char id[PT_MAX_STR + 1], extra[96], *msg = NULL;
	uint32_t today = 0, today2 = 0;
	unsigned long long total = 0, total2 = 0;

	(void)state;
	reconfigure("", "");
	issue("tester", id);
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	history_counts(&today, &total);
	assert_true(today >= 1 && total >= today);
	/* the user's redemptions of today are counted across tokens and policies */
	snprintf(extra, sizeof(extra), "max_redemptions_per_day = %u;", today + 1);
	reconfigure("", extra);
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
	assert_int_equal(redeem(NULL, NULL, &msg), PT_E_DENIED);
	assert_non_null(strstr(msg, "times today (max_redemptions_per_day"));
	free(msg);
	/* kept across a restart (written at stop, and by housekeeping) */
	th_stop(SIGTERM);
	th_start();
	history_counts(&today2, &total2);
	assert_int_equal(today2, today + 1);
	assert_int_equal(total2, total + 1);
	assert_int_equal(redeem(NULL, NULL, NULL), PT_E_DENIED);
	reconfigure("", "");
	assert_int_equal(redeem(NULL, NULL, NULL), 0);
}

static void test_issue_rate(void **state)
{
	struct pt_req mint = { .type = PT_MINT,
			       .user = (char *)"root",
			       .service = (char *)"test",
			       .tty = (char *)"",
			       .rhost = (char *)"" };
	struct pt_rep rep;
	char *token;
	uint32_t codes[3];

	(void)state;
	reconfigure("rate = \"2/1h\";", "");
	assert_int_equal(th_call(&mint, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	token = rep.token;
	rep.token = NULL;
	pt_rep_clear(&rep);
	for (int i = 0; i < 3; i++) {
		struct pt_req ex = { .type = PT_EXCHANGE,
				     .live_token = token,
				     .holder = (char *)"tester" };
		assert_int_equal(th_call(&ex, &rep), 0);
		codes[i] = rep.type == PT_OK ? 0 : rep.err_code;
		if (i == 2 && rep.message)
			assert_non_null(strstr(rep.message, "issue rate"));
		pt_rep_clear(&rep);
	}
	pt_free_secret(token);
	assert_int_equal(codes[0], 0);
	assert_int_equal(codes[1], 0); /* renewals count too */
	assert_int_equal(codes[2], PT_E_LIMIT);
	reconfigure("", "");
}

/* ------------------------------------------------------------- pertokctl */

static int run_tool(const char *tool, const char *args, char *out, size_t outlen)
{
	const char *b = getenv("top_builddir");
	char cmd[1024];
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "PERTOK_TOKEND='%s/tokend/tokend' '%s/tools/%s' -s '%s' %s 2>&1",
		 b ? b : ".", b ? b : ".", tool, th.sock, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(const char *args, char *out, size_t outlen)
{
	return run_tool("pertokctl", args, out, outlen);
}

static void test_pertokctl(void **state)
{
	char id[PT_MAX_STR + 1], out[8192], args[512], bad[160];
	FILE *f;

	(void)state;
	reconfigure("", "");
	issue("tester", id);
	/* the rules allow, but the token has expired by then: a deny, exit 1 */
	assert_int_equal(run("explain --user root --holder tester --at 2030-01-01T00:00:00Z", out,
			     sizeof(out)),
			 1);
	assert_non_null(strstr(out, "at 2030-01-01T00:00:00Z"));
	assert_non_null(strstr(out, "decision: allow"));
	assert_non_null(strstr(out, "\ndecision=deny\n"));
	assert_int_equal(
		run("explain --user root --holder tester --at 1893456000", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "at 2030-01-01T00:00:00Z"));
	assert_int_equal(run("explain --user root", out, sizeof(out)), 2);
	assert_int_equal(
		run("explain --user root --holder tester --at yesterday", out, sizeof(out)), 2);
	assert_int_equal(run("revoke --holder other", out, sizeof(out)), 0);
	assert_string_equal(out, "revoked 0 tokens\n");
	assert_int_equal(run("revoke --user root --before 2000-01-01", out, sizeof(out)), 0);
	assert_string_equal(out, "revoked 0 tokens\n");
	assert_int_equal(run("revoke --user root --holder tester", out, sizeof(out)), 0);
	assert_string_equal(out, "revoked 1 token\n");
	assert_false(find_token(id, NULL, NULL, NULL));
	assert_int_equal(run("revoke --user root ID", out, sizeof(out)), 2);
	/* pertok revoke --all: the caller's own tokens, every holder */
	issue("tester", id);
	issue("other", id);
	assert_int_equal(run_tool("pertok", "revoke --all", out, sizeof(out)), 0);
	assert_string_equal(out, "revoked 2 tokens\n");
	assert_int_equal(run_tool("pertok", "revoke --all x", out, sizeof(out)), 2);

	/* check-config: tokend's own loader, the running daemon untouched */
	snprintf(args, sizeof(args), "check-config '%s'", th.conf);
	assert_int_equal(run(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, ": OK"));
	snprintf(bad, sizeof(bad), "%s/bad.conf", th.dir);
	f = fopen(bad, "w");
	assert_non_null(f);
	fputs("redeem = (\n  { hours = \"9-5\"; } );\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "check-config '%s'", bad);
	assert_int_equal(run(args, out, sizeof(out)), 1);
	snprintf(args, sizeof(args),
		 "%s:2: redeem[0].hours: \"9-5\" is not a time window \"HH:MM-HH:MM\"\n", bad);
	assert_string_equal(out, args);
	assert_int_equal(run("check-config", out, sizeof(out)), 2);
}

/* Values holding a quote and a newline, from a client (a token type name)
 * and from the config (a rule's action, quoted by the reload's error), are
 * logged escaped, each line one well-formed key=value line (the teardown
 * checks every line). */
static void test_log_escapes_values(void **state)
{
	struct pt_req q = { .type = PT_CODE_CHECK,
			    .ttype = (char *)"we\"ird\nname",
			    .user = (char *)"root",
			    .code = (char *)"0000" };
	struct pt_rep rep;

	(void)state;
	assert_int_equal(th_call(&q, &rep), 0);
	assert_int_equal(rep.type, PT_ERR);
	assert_int_equal(rep.err_code, PT_E_NOTFOUND);
	pt_rep_clear(&rep);
	assert_true(th_wait_log("rule=\"type:we\\\"ird\\x0aname\"", 1, 5000) >= 1);

	write_conf("", "action = \"de\\\"ny\\nx\";");
	kill(th.pid, SIGHUP);
	assert_true(th_wait_log("op=reload result=error", 1, 5000) >= 1);
	assert_true(th_count_log("de\\\"ny\\x0ax") >= 1);
	write_conf("", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extend_live_lifetime),
		cmocka_unit_test(test_persist_lifetime),
		cmocka_unit_test(test_entitlements),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_deny),
		cmocka_unit_test(test_max_uses),
		cmocka_unit_test(test_hours),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_revoke_match),
		cmocka_unit_test(test_revoke_match_unprivileged),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_token_match),
		cmocka_unit_test(test_max_redemptions_per_day),
		cmocka_unit_test(test_issue_rate),
		cmocka_unit_test(test_pertokctl),
		cmocka_unit_test(test_log_escapes_values),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (tokend reads shadow and peers' executables)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
