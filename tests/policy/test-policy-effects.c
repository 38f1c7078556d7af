/* SPDX-License-Identifier: MIT */
/*
 * Redeem-time rule effects, table-driven with an injected clock: hour and
 * day windows (local time, wrapping midnight), max_uses, idle expiry,
 * entitlement / group additions and curtailments, persist_lifetime in
 * redeem rules; the explain trace; the config errors of the new settings;
 * token_services / token_actors / token_entitlements matches and max_age.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "history.h"
#include "record.h"

/* Line numbers matter: reasons quote them. */
/* clang-format off */
static const char conf[] =
	/*  1 */ "actors = ( { name = \"atd\"; uid = 0; exe = [ \"/usr/sbin/atd\" ]; },\n"
	/*  2 */ "           { name = \"cron\"; uid = 0; exe = [ \"/usr/sbin/cron\" ]; } );\n"
	/*  3 */ "issue = ( { name = \"base\"; entitlements = [ \"print\", \"mail\" ]; } );\n"
	/*  4 */ "redeem = (\n"
	/*  5 */ "  { name = \"night-deny\"; action = \"deny\"; hours = \"22:00-06:00\"; users = [ \"owl\" ]; },\n"
	/*  6 */ "  { name = \"office\"; holders = [ \"cron\" ]; hours = \"08:00-18:00\"; days = [ \"mon-fri\" ]; },\n"
	/*  7 */ "  { name = \"weekend\"; holders = [ \"atd\" ]; users = [ \"wendy\" ]; days = [ \"sat\", \"sun\" ];\n"
	/*  8 */ "    groups_add = [ \"weekend\" ]; },\n"
	/*  9 */ "  { name = \"limited\"; users = [ \"lim\" ]; max_uses = 3; },\n"
	/* 10 */ "  { name = \"idle\"; users = [ \"idler\" ]; idle = \"30d\"; },\n"
	/* 11 */ "  { name = \"curtail\"; users = [ \"cur\" ]; entitlements_remove = [ \"mail\" ];\n"
	/* 12 */ "    entitlements_add = [ \"vpn\" ]; groups_remove = [ \"wheel\" ];\n"
	/* 13 */ "    persist_lifetime = \"10d\"; live_lifetime = \"10m\"; },\n"
	/* 14 */ "  { name = \"friday-night\"; users = [ \"fn\" ]; hours = \"22:00-06:00\"; days = \"fri\"; },\n"
	/* 15 */ "  { name = \"rest\"; users = [ \"zed\" ]; check_account = false; }\n"
	/* 16 */ ");\n";
/* clang-format on */

#define MON 1704067200ull /* 2024-01-01T00:00:00Z, a Monday */
#define DAY 86400ull
#define H(h) ((uint64_t)(h)*3600ull)

static int setup(void **state)
{
	struct pt_config *cfg = NULL;
	char err[512];

	setenv("TZ", "UTC", 1);
	tzset();
	if (pt_config_load_string(conf, "e.conf", &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	*state = cfg;
	return 0;
}

static int teardown(void **state)
{
	pt_config_free(*state);
	return 0;
}

static const struct effect_case {
	const char *holder, *user;
	uint64_t now;
	uint64_t iat, last_used;
	uint32_t uses;
	/* expected */
	bool allow;
	const char *rule; /* NULL: none */
	const char *reason;
	bool idle_expired, persist_from_rule;
	uint64_t live, persist;
} cases[] = {
	/* hours and days */
	{ "cron", "bob", MON + H(10), MON, 0, 0, true, "office", "rule \"office\" (line 6) allows",
	  false, false, 300, 30 * DAY },
	{ "cron", "bob", MON + H(8), MON, 0, 0, true, "office", "rule \"office\" (line 6) allows",
	  false, false, 300, 30 * DAY },
	{ "cron", "bob", MON + H(18) - 1, MON, 0, 0, true, "office",
	  "rule \"office\" (line 6) allows", false, false, 300, 30 * DAY },
	{ "cron", "bob", MON + H(18), MON, 0, 0, false, "office",
	  "rule \"office\" (line 6) denies: outside its time window (hours 08:00-18:00, days "
	  "mon,tue,wed,thu,fri)",
	  false, false, 300, 30 * DAY },
	{ "cron", "bob", MON + H(8) - 1, MON, 0, 0, false, "office",
	  "rule \"office\" (line 6) denies: outside its time window (hours 08:00-18:00, days "
	  "mon,tue,wed,thu,fri)",
	  false, false, 300, 30 * DAY },
	{ "cron", "bob", MON + 5 * DAY + H(10), MON, 0, 0, false, "office", /* Saturday */
	  "rule \"office\" (line 6) denies: outside its time window (hours 08:00-18:00, days "
	  "mon,tue,wed,thu,fri)",
	  false, false, 300, 30 * DAY },
	{ "cron", "bob", MON + 4 * DAY + H(17), MON, 0, 0, true, "office", /* Friday */
	  "rule \"office\" (line 6) allows", false, false, 300, 30 * DAY },
	/* a deny rule with a window wrapping midnight; outside it the next rules decide */
	{ "atd", "owl", MON + H(23), MON, 0, 0, false, "night-deny",
	  "rule \"night-deny\" (line 5) denies: it is a deny rule", false, false, 300, 30 * DAY },
	{ "atd", "owl", MON + H(5), MON, 0, 0, false, "night-deny",
	  "rule \"night-deny\" (line 5) denies: it is a deny rule", false, false, 300, 30 * DAY },
	{ "atd", "owl", MON + H(12), MON, 0, 0, false, NULL,
	  "no rule matched (user owl, actor atd, holder atd)", false, false, 300, 30 * DAY },
	/* day lists; a wrapping window belongs to the day it starts on */
	{ "atd", "wendy", MON + 5 * DAY + H(1), MON, 0, 0, true, "weekend",
	  "rule \"weekend\" (line 7) allows", false, false, 300, 30 * DAY },
	{ "atd", "wendy", MON + 6 * DAY + H(23), MON, 0, 0, true, "weekend",
	  "rule \"weekend\" (line 7) allows", false, false, 300, 30 * DAY },
	{ "atd", "wendy", MON + H(12), MON, 0, 0, false, "weekend",
	  "rule \"weekend\" (line 7) denies: outside its time window (days sat,sun)", false, false,
	  300, 30 * DAY },
	{ "atd", "fn", MON + 4 * DAY + H(23), MON, 0, 0, true, "friday-night",
	  "rule \"friday-night\" (line 14) allows", false, false, 300, 30 * DAY },
	{ "atd", "fn", MON + 5 * DAY + H(3), MON, 0, 0, true, "friday-night", /* Sat 03:00 */
	  "rule \"friday-night\" (line 14) allows", false, false, 300, 30 * DAY },
	{ "atd", "fn", MON + 4 * DAY + H(3), MON, 0, 0, false, "friday-night", /* Fri 03:00 */
	  "rule \"friday-night\" (line 14) denies: outside its time window (hours 22:00-06:00, "
	  "days fri)",
	  false, false, 300, 30 * DAY },
	{ "atd", "fn", MON + 5 * DAY + H(7), MON, 0, 0, false, "friday-night",
	  "rule \"friday-night\" (line 14) denies: outside its time window (hours 22:00-06:00, "
	  "days fri)",
	  false, false, 300, 30 * DAY },
	/* max_uses */
	{ "atd", "lim", MON, MON, 0, 0, true, "limited", "rule \"limited\" (line 9) allows", false,
	  false, 300, 30 * DAY },
	{ "atd", "lim", MON, MON, MON, 2, true, "limited", "rule \"limited\" (line 9) allows",
	  false, false, 300, 30 * DAY },
	{ "atd", "lim", MON, MON, MON, 3, false, "limited",
	  "rule \"limited\" (line 9) denies: the token was redeemed 3 times (max_uses 3)", false,
	  false, 300, 30 * DAY },
	{ "atd", "lim", MON, MON, MON, 99, false, "limited",
	  "rule \"limited\" (line 9) denies: the token was redeemed 99 times (max_uses 3)", false,
	  false, 300, 30 * DAY },
	/* idle: counted from the last redemption, or from issuance when never redeemed */
	{ "atd", "idler", MON + 40 * DAY, MON, MON + 11 * DAY, 1, true, "idle",
	  "rule \"idle\" (line 10) allows", false, false, 300, 30 * DAY },
	{ "atd", "idler", MON + 40 * DAY, MON, MON + 10 * DAY, 1, false, "idle",
	  "rule \"idle\" (line 10) denies: the token was not redeemed for 2592000s (idle "
	  "2592000s): it is dead",
	  true, false, 300, 30 * DAY },
	{ "atd", "idler", MON + 30 * DAY - 1, MON, 0, 0, true, "idle",
	  "rule \"idle\" (line 10) allows", false, false, 300, 30 * DAY },
	{ "atd", "idler", MON + 31 * DAY, MON, 0, 0, false, "idle",
	  "rule \"idle\" (line 10) denies: the token was not redeemed for 2678400s (idle "
	  "2592000s): it is dead",
	  true, false, 300, 30 * DAY },
	/* lifetimes of a redeem rule */
	{ "atd", "cur", MON, MON, 0, 0, true, "curtail", "rule \"curtail\" (line 11) allows", false,
	  true, 600, 10 * DAY },
	{ "atd", "zed", MON, MON, 0, 0, true, "rest", "rule \"rest\" (line 15) allows", false,
	  false, 300, 30 * DAY },
};

static void test_eval(void **state)
{
	const struct pt_config *cfg = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct effect_case *c = &cases[i];
		struct pt_policy_ctx ctx = { .actor = c->holder,
					     .user = c->user,
					     .holder = c->holder,
					     .user_exists = true,
					     .now = c->now,
					     .has_token = true,
					     .token_iat = c->iat,
					     .token_last_used = c->last_used,
					     .token_uses = c->uses };
		struct pt_decision d;

		memset(&d, 0xaa, sizeof(d));
		pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
		if (d.allow != c->allow || strcmp(d.reason, c->reason) != 0 ||
		    (c->rule == NULL) != (d.rule == NULL) ||
		    (c->rule && strcmp(d.rule->name, c->rule) != 0) ||
		    d.idle_expired != c->idle_expired ||
		    d.persist_from_rule != c->persist_from_rule || d.live_lifetime != c->live ||
		    d.persist_lifetime != c->persist)
			fail_msg(
				"case %zu: allow=%d rule=%s idle=%d persist_from_rule=%d live=%llu "
				"persist=%llu\n  got:  %s\n  want: %s",
				i, d.allow, d.rule ? d.rule->name : "(none)", d.idle_expired,
				d.persist_from_rule, (unsigned long long)d.live_lifetime,
				(unsigned long long)d.persist_lifetime, d.reason, c->reason);
	}
}

/* No token in the context (issue set, explain of a user without one):
 * max_uses and idle do not apply. */
static void test_no_token(void **state)
{
	const struct pt_config *cfg = *state;
	struct pt_policy_ctx ctx = {
		.actor = "atd", .user = "idler", .holder = "atd", .user_exists = true, .now = MON
	};
	struct pt_decision d;

	pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
	assert_true(d.allow);
	ctx.user = "lim";
	pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
	assert_true(d.allow);
}

/* Windows are local time: the same instant is inside in one zone, outside
 * in another. */
static void test_local_time(void **state)
{
	const struct pt_config *cfg = *state;
	struct pt_policy_ctx ctx = { .actor = "cron",
				     .user = "bob",
				     .holder = "cron",
				     .user_exists = true,
				     .now = MON + H(7) };
	struct pt_decision d;

	pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
	assert_false(d.allow);	  /* 07:00 UTC */
	setenv("TZ", "UTC-2", 1); /* POSIX: two hours east of UTC */
	tzset();
	pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
	setenv("TZ", "UTC", 1);
	tzset();
	assert_true(d.allow); /* 09:00 local */
	assert_string_equal(d.rule->name, "office");
}

#define L(...) ((char *const[]){ __VA_ARGS__, NULL })

static void check_list(char *const *base, size_t nb, char *const *add, size_t na, char *const *rem,
		       size_t nr, const char *want)
{
	char **v = NULL, got[256] = "";
	size_t n = 0;

	assert_int_equal(pt_policy_apply_lists(base, nb, add, na, rem, nr, &v, &n), 0);
	assert_non_null(v);
	assert_null(v[n]);
	for (size_t i = 0; i < n; i++) {
		strcat(got, i ? "," : "");
		strcat(got, v[i]);
	}
	assert_string_equal(got, want);
	pt_policy_strv_free(v, n);
}

static void test_apply_lists(void **state)
{
	(void)state;
	check_list(L("a", "b", "c"), 3, L("d", "b"), 2, L("c"), 1, "a,b,d");
	check_list(L("a", "b"), 2, NULL, 0, NULL, 0, "a,b");
	check_list(NULL, 0, L("x", "x"), 2, NULL, 0, "x");
	check_list(L("a", "b"), 2, L("x"), 1, L("*"), 1, "x");
	check_list(L("a", "b"), 2, NULL, 0, L("*"), 1, "");
	check_list(L("a", "a", "b"), 3, NULL, 0, L("z"), 1, "a,b");
	/* a removal does not undo an addition of the same rule */
	check_list(L("a"), 1, L("b"), 1, L("b", "a"), 2, "b");
	check_list(NULL, 0, NULL, 0, NULL, 0, "");
}

static void test_explain(void **state)
{
	const struct pt_config *cfg = *state;
	struct pt_policy_ctx ctx = { .actor = "atd",
				     .user = "cur",
				     .holder = "atd",
				     .user_exists = true,
				     .now = MON + H(12),
				     .has_token = true,
				     .token_iat = MON };
	struct pt_decision d, d2;
	char buf[4096], small[64];
	size_t n;

	n = pt_policy_explain(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d2);
	assert_true(d.allow && d2.allow);
	assert_string_equal(d.reason, d2.reason);
	assert_non_null(strstr(buf, "rule \"night-deny\" (line 5, deny):\n"
				    "  no: user cur is not one of owl\n"));
	assert_non_null(strstr(buf, "rule \"office\" (line 6, allow):\n"
				    "  no: holder atd is not one of cron\n"));
	assert_non_null(strstr(buf, "rule \"curtail\" (line 11, allow):\n"
				    "  matches: it decides (first match wins)\n"
				    "decision: allow: rule \"curtail\" (line 11) allows\n"));
	assert_null(strstr(buf, "friday-night")); /* rules after the decision are not shown */

	/* a near miss on the window */
	ctx.actor = ctx.holder = "cron";
	ctx.user = "bob";
	ctx.now = MON + H(20);
	pt_policy_explain(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d, buf, sizeof(buf));
	assert_false(d.allow);
	assert_non_null(strstr(buf, "rule \"office\" (line 6, allow):\n  no: the time is outside "
				    "its window (hours 08:00-18:00, days mon,tue,wed,thu,fri)\n"));
	assert_non_null(strstr(buf, "decision: deny: rule \"office\" (line 6) denies: outside"));

	/* truncated, never overflowing */
	memset(small, 'x', sizeof(small));
	n = pt_policy_explain(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d, small, sizeof(small));
	assert_int_equal(n, strlen(small));
	assert_true(n < sizeof(small));
	assert_string_equal(small + n - 4, "...\n");
	assert_false(d.allow);
}

/* ---------------------------------------------------------- config errors */

#define ACTORS "actors = ( { name = \"atd\"; uid = 0; exe = [ \"/usr/sbin/atd\" ]; } );\n"

static const struct {
	const char *text;
	const char *err;
} errors[] = {
	{ ACTORS "issue = (\n  { entitlements_add = [ \"vpn\" ]; } );\n",
	  "t.conf:3: issue[0].entitlements_add is only valid in redeem rules" },
	{ ACTORS "issue = ( { max_uses = 3; } );\n",
	  "t.conf:2: issue[0].max_uses is only valid in redeem rules" },
	{ ACTORS "issue = ( { idle = \"30d\"; } );\n",
	  "t.conf:2: issue[0].idle is only valid in redeem rules" },
	{ ACTORS "issue = ( { groups_remove = [ \"wheel\" ]; } );\n",
	  "t.conf:2: issue[0].groups_remove is only valid in redeem rules" },
	{ ACTORS "redeem = ( { entitlements = [ \"vpn\" ]; } );\n",
	  "t.conf:2: redeem[0].entitlements is only valid in issue rules (use entitlements_add / "
	  "entitlements_remove in redeem rules)" },
	{ "redeem = ( { entitlement_add = [ \"vpn\" ]; } );\n",
	  "t.conf:1: unknown setting \"entitlement_add\" in redeem[0] (did you mean "
	  "\"entitlements_add\"?)" },
	{ "redeem = ( { hour = \"08:00-18:00\"; } );\n",
	  "t.conf:1: unknown setting \"hour\" in redeem[0] (did you mean \"hours\"?)" },
	{ "redeem = ( { hours = \"8-18\"; } );\n",
	  "t.conf:1: redeem[0].hours: \"8-18\" is not a time window \"HH:MM-HH:MM\"" },
	{ "redeem = ( { hours = \"08:00-08:00\"; } );\n",
	  "t.conf:1: redeem[0].hours: \"08:00-08:00\" is not a time window \"HH:MM-HH:MM\"" },
	{ "redeem = ( { hours = \"08:60-09:00\"; } );\n",
	  "t.conf:1: redeem[0].hours: \"08:60-09:00\" is not a time window \"HH:MM-HH:MM\"" },
	{ "redeem = ( { hours = \"24:00-09:00\"; } );\n",
	  "t.conf:1: redeem[0].hours: \"24:00-09:00\" is not a time window \"HH:MM-HH:MM\"" },
	{ "redeem = ( { hours = \"08:00-18:00 \"; } );\n",
	  "t.conf:1: redeem[0].hours: \"08:00-18:00 \" is not a time window \"HH:MM-HH:MM\"" },
	{ "redeem = ( { hours = 8; } );\n",
	  "t.conf:1: redeem[0].hours must be a string, not an integer" },
	{ "redeem = (\n  { days = [ \"mon\", \"funday\" ]; } );\n",
	  "t.conf:2: redeem[0].days: \"funday\" is not a day (sun, mon, tue, wed, thu, fri, sat) "
	  "or a range like \"mon-fri\"" },
	{ "redeem = ( { days = [ \"mon-\" ]; } );\n",
	  "t.conf:1: redeem[0].days: \"mon-\" is not a day (sun, mon, tue, wed, thu, fri, sat) or "
	  "a range like \"mon-fri\"" },
	{ "redeem = ( { days = [ ]; } );\n",
	  "t.conf:1: redeem[0].days must name at least one day" },
	{ "redeem = ( { days = 1; } );\n",
	  "t.conf:1: redeem[0].days must be an array of strings [ \"...\", ... ], not an integer" },
	{ "redeem = ( { max_uses = 0; } );\n",
	  "t.conf:1: redeem[0].max_uses must be between 1 and 4294967295, not 0" },
	{ "redeem = ( { idle = \"0\"; } );\n",
	  "t.conf:1: redeem[0].idle must be at least 1 second" },
	{ "redeem = ( { idle = \"30x\"; } );\n",
	  "t.conf:1: redeem[0].idle: invalid duration \"30x\" (use seconds, or a number followed "
	  "by s, m, h, d or w)" },
	{ "redeem = ( { entitlements_add = [ \"a b\" ]; } );\n",
	  "t.conf:1: redeem[0].entitlements_add: \"a b\" is not a valid entitlement name" },
	{ "redeem = ( { rate = \"10/1h\"; } );\n",
	  "t.conf:1: redeem[0].rate is only valid in issue rules" },
	{ "issue = ( { max_redemptions_per_day = 5; } );\n",
	  "t.conf:1: issue[0].max_redemptions_per_day is only valid in redeem rules" },
	{ "redeem = ( { max_redemptions_per_day = 0; } );\n",
	  "t.conf:1: redeem[0].max_redemptions_per_day must be between 1 and 4294967295, not 0" },
	{ "issue = ( { rate = \"10\"; } );\n",
	  "t.conf:1: issue[0].rate: \"10\" is not a rate \"N/DURATION\" (e.g. \"10/1h\"; N 1 to "
	  "1000000)" },
	{ "issue = ( { rate = \"0/1h\"; } );\n",
	  "t.conf:1: issue[0].rate: \"0/1h\" is not a rate \"N/DURATION\" (e.g. \"10/1h\"; N 1 to "
	  "1000000)" },
	{ "issue = ( { rate = \"-1/1h\"; } );\n",
	  "t.conf:1: issue[0].rate: \"-1/1h\" is not a rate \"N/DURATION\" (e.g. \"10/1h\"; N 1 to "
	  "1000000)" },
	{ "issue = ( { rate = \"5/1y\"; } );\n",
	  "t.conf:1: issue[0].rate: \"5/1y\" is not a rate \"N/DURATION\" (e.g. \"10/1h\"; N 1 to "
	  "1000000)" },
	{ "issue = ( { rate = 10; } );\n",
	  "t.conf:1: issue[0].rate must be a string, not an integer" },
	{ "redeem = ( { persist_lifetime = \"90d\"; } );\n",
	  "t.conf:1: redeem[0].persist_lifetime (90d) exceeds tokend.max_persist_lifetime (60d)" },
	/* token content matches: redeem rules only, checked values */
	{ ACTORS "issue = (\n  { token_services = [ \"sshd\" ]; } );\n",
	  "t.conf:3: issue[0].token_services is only valid in redeem rules (issue rules see no "
	  "persistable token)" },
	{ "issue = ( { token_actors = [ \"self\" ]; } );\n",
	  "t.conf:1: issue[0].token_actors is only valid in redeem rules (issue rules see no "
	  "persistable token)" },
	{ "issue = ( { token_entitlements = [ \"vpn\" ]; } );\n",
	  "t.conf:1: issue[0].token_entitlements is only valid in redeem rules (issue rules see no "
	  "persistable token)" },
	{ "redeem = (\n  { users = [ \"a\" ];\n    token_services = [ \"sshd\", \"a/b\" ]; } );\n",
	  "t.conf:3: redeem[0].token_services: \"a/b\" is not a valid PAM service name or \"*\"" },
	{ "redeem = ( { token_services = 22; } );\n",
	  "t.conf:1: redeem[0].token_services must be an array of strings [ \"...\", ... ], not an "
	  "integer" },
	{ "redeem = ( { token_actors = [ \"\" ]; } );\n",
	  "t.conf:1: redeem[0].token_actors: \"\" is not a valid actor name, \"self\" or \"*\"" },
	{ "redeem = ( { token_actors = [ 1 ]; } );\n",
	  "t.conf:1: redeem[0].token_actors[0] must be a string, not an integer" },
	{ "redeem = ( { token_entitlements = [ \"a:b\" ]; } );\n",
	  "t.conf:1: redeem[0].token_entitlements: \"a:b\" is not a valid entitlement name or "
	  "\"*\"" },
	{ "redeem = ( { token_service = [ \"sshd\" ]; } );\n",
	  "t.conf:1: unknown setting \"token_service\" in redeem[0] (did you mean "
	  "\"token_services\"?)" },
	{ "issue = ( { max_age = \"7d\"; } );\n",
	  "t.conf:1: issue[0].max_age is only valid in redeem rules" },
	{ "redeem = ( { max_age = 0; } );\n",
	  "t.conf:1: redeem[0].max_age must be at least 1 second" },
	{ "redeem = ( { max_age = \"7y\"; } );\n",
	  "t.conf:1: redeem[0].max_age: invalid duration \"7y\" (use seconds, or a number followed "
	  "by s, m, h, d or w)" },
	{ "redeem = ( { token_entitlement = [ \"vpn\" ]; } );\n",
	  "t.conf:1: unknown setting \"token_entitlement\" in redeem[0] (did you mean "
	  "\"token_entitlements\"?)" },
};

static void test_config_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		struct pt_config *cfg = NULL;
		char err[512] = "";
		int r;

		r = pt_config_load_string(errors[i].text, "t.conf", &cfg, err, sizeof(err));
		if (r != -EINVAL || strcmp(err, errors[i].err) != 0)
			fail_msg("case %zu: r=%d\n  got:  %s\n  want: %s", i, r, err,
				 errors[i].err);
		assert_null(cfg);
	}
}

static void test_config_values(void **state)
{
	const struct pt_config *cfg = *state;
	const struct pt_rule *r;
	char text[128];

	assert_int_equal(cfg->n_issue, 1);
	assert_int_equal(cfg->issue[0].n_entitlements, 2);
	assert_string_equal(cfg->issue[0].entitlements[1], "mail");
	r = &cfg->redeem[1];
	assert_true(r->has_hours);
	assert_int_equal(r->hours_from, 8 * 60);
	assert_int_equal(r->hours_to, 18 * 60);
	assert_int_equal(r->days, 0x3e); /* mon..fri */
	pt_policy_window_text(r, text, sizeof(text));
	assert_string_equal(text, "hours 08:00-18:00, days mon,tue,wed,thu,fri");
	assert_int_equal(cfg->redeem[2].days, 0x41); /* sat, sun */
	assert_int_equal(cfg->redeem[3].max_uses, 3);
	assert_int_equal(cfg->redeem[4].idle, 30 * DAY);
	assert_int_equal(cfg->redeem[5].n_entitlements_remove, 1);
	assert_int_equal(cfg->redeem[5].n_groups_remove, 1);
	assert_int_equal(cfg->redeem[5].persist_lifetime, 10 * DAY);
	pt_policy_window_text(&cfg->redeem[6], text, sizeof(text));
	assert_string_equal(text, "hours 22:00-06:00, days fri");
	pt_policy_window_text(&cfg->redeem[7], text, sizeof(text));
	assert_string_equal(text, "");
}

static void test_days_wrap(void **state)
{
	struct pt_config *cfg = NULL;
	char err[256];

	(void)state;
	assert_int_equal(pt_config_load_string("redeem = ( { days = [ \"fri-mon\" ];\n"
					       "  hours = \"00:00-24:00\"; } );\n",
					       "w.conf", &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg->redeem[0].days, 0x63); /* fri, sat, sun, mon */
	assert_int_equal(cfg->redeem[0].hours_to, 24 * 60);
	pt_config_free(cfg);
}

/* The entitlements recorded in a persistable token: optional in the JSON
 * (records written before they existed still load), kept on a round trip. */
static void test_record_entitlements(void **state)
{
#define REC_HEAD                                                                                     \
	"{\"v\":1,\"id\":\"pt_AAAAAAAAAAAAAAAAAAAAAA\",\"user\":\"alice\",\"uid\":1000,\"gid\":100," \
	"\"groups\":[\"users\"],\"gecos\":\"\",\"home\":\"/home/alice\",\"shell\":\"/bin/sh\","      \
	"\"holder\":\"atd\",\"actor\":\"login\",\"service\":\"sshd\",\"tty\":null,\"rhost\":null,"   \
	"\"source_jti\":\"j\",\"iat\":1700000000,\"exp\":1702592000,\"last_used\":0,\"uses\":0"
	static const char old[] = REC_HEAD "}";
	static const char with[] = REC_HEAD ",\"entitlements\":[\"print\",\"vpn\"]}";
	static const char bad[] = REC_HEAD ",\"entitlements\":[\"a b\"]}";
	static const char bad2[] = REC_HEAD ",\"entitlements\":\"print\"}";
	struct pt_record *r = NULL;
	char *json = NULL;

	(void)state;
	assert_int_equal(pt_record_from_json(old, strlen(old), &r), 0);
	assert_int_equal(r->n_entitlements, 0);
	assert_int_equal(pt_record_to_json(r, &json), 0);
	assert_null(strstr(json, "entitlements"));
	free(json);
	pt_record_free(r);

	assert_int_equal(pt_record_from_json(with, strlen(with), &r), 0);
	assert_int_equal(r->n_entitlements, 2);
	assert_string_equal(r->entitlements[1], "vpn");
	assert_int_equal(pt_record_to_json(r, &json), 0);
	assert_non_null(strstr(json, "\"entitlements\":[\"print\",\"vpn\"]"));
	free(json);
	pt_record_free(r);
	r = NULL;

	assert_int_equal(pt_record_from_json(bad, strlen(bad), &r), -EINVAL);
	assert_null(r);
	assert_int_equal(pt_record_from_json(bad2, strlen(bad2), &r), -EINVAL);
	assert_null(r);
#undef REC_HEAD
}

/* max_redemptions_per_day, fed from the usage history. */
static void test_redemptions_per_day(void **state)
{
	struct pt_config *cfg = NULL;
	struct pt_history *h = NULL;
	struct pt_policy_ctx ctx = {
		.actor = "atd", .user = "alice", .holder = "atd", .user_exists = true, .now = MON
	};
	struct pt_decision d;
	char err[256];

	(void)state;
	assert_int_equal(
		pt_config_load_string(
			"actors = ( { name = \"atd\"; uid = 0; exe = \"*\"; } );\n"
			"issue = ( { rate = \"3/1h\"; } );\n"
			"redeem = ( { name = \"twice\"; max_redemptions_per_day = 2; } );\n",
			"d.conf", &cfg, err, sizeof(err)),
		0);
	assert_int_equal(cfg->issue[0].rate_n, 3);
	assert_int_equal(cfg->issue[0].rate_period, 3600);
	assert_int_equal(pt_history_open(NULL, &h, NULL), 0);
	for (int i = 0; i < 3; i++) {
		ctx.redemptions_today =
			pt_history_today(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS, ctx.now);
		pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
		if (i < 2) {
			assert_true(d.allow);
			pt_history_add(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS, ctx.now);
		} else {
			assert_false(d.allow);
			assert_string_equal(d.reason,
					    "rule \"twice\" (line 3) denies: user alice redeemed 2 "
					    "times today (max_redemptions_per_day 2)");
		}
	}
	/* the next day counts from zero; the total stays */
	ctx.now += DAY;
	ctx.redemptions_today =
		pt_history_today(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS, ctx.now);
	assert_int_equal(ctx.redemptions_today, 0);
	pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
	assert_true(d.allow);
	assert_int_equal(pt_history_total(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS), 2);
	pt_history_free(h);
	pt_config_free(cfg);
}

static void test_history(void **state)
{
	char tmpl[] = "/tmp/pertok-history-test.XXXXXX", path[128], *json = NULL;
	struct pt_history *h = NULL, *h2 = NULL;
	bool bad = true;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/history.json", tmpl);
	/* absent file: empty, not bad */
	assert_int_equal(pt_history_open(path, &h, &bad), 0);
	assert_false(bad);
	pt_history_add(h, PT_HIST_USER, "bob", PT_HIST_REQUESTS, MON);
	pt_history_add(h, PT_HIST_USER, "bob", PT_HIST_FAILURES, MON);
	pt_history_add(h, PT_HIST_USER, "alice", PT_HIST_GRANTED, MON);
	pt_history_add(h, PT_HIST_ACTOR, "atd", PT_HIST_REDEMPTIONS, MON);
	pt_history_add(h, PT_HIST_USER, "not valid", PT_HIST_GRANTED, MON); /* ignored */
	pt_history_add(h, PT_HIST_USER, "bob", PT_HIST_REQUESTS, MON + H(1));
	assert_int_equal(pt_history_today(h, PT_HIST_USER, "bob", PT_HIST_REQUESTS, MON), 2);
	assert_int_equal(pt_history_today(h, PT_HIST_ACTOR, "bob", PT_HIST_REQUESTS, MON), 0);
	assert_int_equal(pt_history_today(h, PT_HIST_USER, "nobody", PT_HIST_REQUESTS, MON), 0);
	assert_int_equal(pt_history_flush(h), 0);
	assert_int_equal(pt_history_to_json(h, &json), 0);
	assert_string_equal(
		json, "{\"v\":1,\"users\":[{\"name\":\"alice\",\"day\":2024000,\"today\":[0,1,"
		      "0,0],\"total\":[0,1,0,0]},{\"name\":\"bob\",\"day\":2024000,\"today\":"
		      "[2,0,0,1],\"total\":[2,0,0,1]}],\"actors\":[{\"name\":\"atd\",\"day\":"
		      "2024000,\"today\":[0,0,1,0],\"total\":[0,0,1,0]}]}");
	free(json);
	/* read back at the next start */
	assert_int_equal(pt_history_open(path, &h2, &bad), 0);
	assert_false(bad);
	assert_int_equal(pt_history_today(h2, PT_HIST_USER, "bob", PT_HIST_REQUESTS, MON), 2);
	assert_int_equal(pt_history_total(h2, PT_HIST_ACTOR, "atd", PT_HIST_REDEMPTIONS), 1);
	/* a new day resets today, not the total */
	pt_history_add(h2, PT_HIST_USER, "bob", PT_HIST_REQUESTS, MON + DAY);
	assert_int_equal(pt_history_today(h2, PT_HIST_USER, "bob", PT_HIST_REQUESTS, MON + DAY), 1);
	assert_int_equal(pt_history_total(h2, PT_HIST_USER, "bob", PT_HIST_REQUESTS), 3);
	pt_history_free(h2);
	/* a damaged file: ignored, reported */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"v\":1,", f);
	fclose(f);
	assert_int_equal(pt_history_open(path, &h2, &bad), 0);
	assert_true(bad);
	assert_int_equal(pt_history_total(h2, PT_HIST_USER, "bob", PT_HIST_REQUESTS), 0);
	pt_history_free(h2);
	pt_history_free(h);
	unlink(path);
	rmdir(tmpl);
}

/* The issue-rate token bucket: N at once, then one per period/N. */
static void test_rate(void **state)
{
	struct pt_history *h = NULL;
	uint64_t t = 1000000;

	(void)state;
	assert_int_equal(pt_history_open(NULL, &h, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_true(pt_history_rate_take(h, "alice", 3, 3600, t));
	assert_false(pt_history_rate_take(h, "alice", 3, 3600, t));
	assert_true(pt_history_rate_take(h, "bob", 3, 3600, t)); /* per user */
	assert_false(pt_history_rate_take(h, "alice", 3, 3600, t + 1199 * 1000));
	assert_true(pt_history_rate_take(h, "alice", 3, 3600, t + 1200 * 1000));
	assert_false(pt_history_rate_take(h, "alice", 3, 3600, t + 1200 * 1000));
	/* refills up to the capacity only */
	for (int i = 0; i < 3; i++)
		assert_true(pt_history_rate_take(h, "alice", 3, 3600, t + 100000 * 1000));
	assert_false(pt_history_rate_take(h, "alice", 3, 3600, t + 100000 * 1000));
	assert_true(pt_history_rate_take(h, "alice", 0, 0, t)); /* no limit */
	pt_history_free(h);
}

/* ------------------------------------------------- token content matches */

/* clang-format off */
static const char token_conf[] =
	/*  1 */ "actors = ( { name = \"atd\"; uid = 0; exe = [ \"/usr/sbin/atd\" ]; },\n"
	/*  2 */ "           { name = \"login\"; uid = 0; exe = [ \"*\" ]; } );\n"
	/*  3 */ "redeem = (\n"
	/*  4 */ "  { name = \"no-self\"; action = \"deny\"; token_actors = [ \"self\" ]; },\n"
	/*  5 */ "  { name = \"ssh-only\"; users = [ \"sam\" ]; token_services = [ \"sshd\" ]; },\n"
	/*  6 */ "  { name = \"vpn\"; users = \"vic\"; token_entitlements = [ \"vpn\", \"admin\" ]; },\n"
	/*  7 */ "  { name = \"any\"; users = [ \"ann\" ]; token_services = \"*\"; token_actors = [ ];\n"
	/*  8 */ "    token_entitlements = [ \"*\" ]; },\n"
	/*  9 */ "  { name = \"gone\"; users = [ \"old\" ]; token_actors = [ \"removed-actor\" ]; },\n"
	/* 10 */ "  { name = \"young\"; users = [ \"yan\" ]; max_age = \"7d\"; }\n"
	/* 11 */ ");\n";
/* clang-format on */

static const struct token_case {
	const char *user;
	bool has_token;
	const char *service, *actor;
	const char *ents[3]; /* NULL-terminated */
	bool allow;
	const char *reason;
} token_cases[] = {
	/* clang-format off */
	/* token_actors */
	{ "sam", true, "sshd", "self", { NULL }, false,
	  "rule \"no-self\" (line 4) denies: it is a deny rule" },
	{ "ann", true, "cron", "self", { NULL }, false,
	  "rule \"no-self\" (line 4) denies: it is a deny rule" },
	{ "old", true, "login", "removed-actor", { NULL }, true, "rule \"gone\" (line 9) allows" },
	{ "old", true, "login", "login", { NULL }, false,
	  "no rule matched (user old, actor atd, holder atd)" },
	/* token_services */
	{ "sam", true, "sshd", "login", { NULL }, true, "rule \"ssh-only\" (line 5) allows" },
	{ "sam", true, "login", "login", { NULL }, false,
	  "no rule matched (user sam, actor atd, holder atd)" },
	{ "sam", true, NULL, "login", { NULL }, false,
	  "no rule matched (user sam, actor atd, holder atd)" },
	{ "sam", false, NULL, NULL, { NULL }, false,
	  "no rule matched (user sam, actor atd, holder atd)" },
	/* token_entitlements: any one of them */
	{ "vic", true, "login", "login", { "print", "vpn", NULL }, true,
	  "rule \"vpn\" (line 6) allows" },
	{ "vic", true, "login", "login", { "admin", NULL }, true, "rule \"vpn\" (line 6) allows" },
	{ "vic", true, "login", "login", { "print", "mail", NULL }, false,
	  "no rule matched (user vic, actor atd, holder atd)" },
	{ "vic", true, "login", "login", { NULL }, false,
	  "no rule matched (user vic, actor atd, holder atd)" },
	/* "*" and empty lists match any token, and no token */
	{ "ann", true, "sshd", "login", { NULL }, true, "rule \"any\" (line 7) allows" },
	{ "ann", true, NULL, "atd", { "x", NULL }, true, "rule \"any\" (line 7) allows" },
	{ "ann", false, NULL, NULL, { NULL }, true, "rule \"any\" (line 7) allows" },
	/* clang-format on */
};

static void test_token_match(void **state)
{
	struct pt_config *cfg = NULL;
	struct pt_decision d;
	char err[512] = "", buf[4096];

	(void)state;
	if (pt_config_load_string(token_conf, "k.conf", &cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	assert_int_equal(cfg->redeem[2].n_token_entitlements, 2);
	assert_int_equal(cfg->redeem[3].n_token_actors, 0);
	for (size_t i = 0; i < sizeof(token_cases) / sizeof(token_cases[0]); i++) {
		const struct token_case *c = &token_cases[i];
		size_t n = 0;
		struct pt_policy_ctx ctx = { .actor = "atd",
					     .user = c->user,
					     .holder = "atd",
					     .user_exists = true,
					     .now = MON,
					     .has_token = c->has_token,
					     .token_iat = MON,
					     .token_service = c->service,
					     .token_actor = c->actor };

		while (c->ents[n])
			n++;
		ctx.token_entitlements = c->ents;
		ctx.n_token_entitlements = n;
		pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
		if (d.allow != c->allow || strcmp(d.reason, c->reason) != 0)
			fail_msg("case %zu: allow=%d\n  got:  %s\n  want: %s", i, d.allow, d.reason,
				 c->reason);
	}

	/* the trace says why each token_* list did not match */
	{
		const char *ents[] = { "print", "mail" };
		struct pt_policy_ctx ctx = { .actor = "atd",
					     .user = "vic",
					     .holder = "atd",
					     .user_exists = true,
					     .now = MON,
					     .has_token = true,
					     .token_service = "login",
					     .token_actor = "login",
					     .token_entitlements = ents,
					     .n_token_entitlements = 2 };

		pt_policy_explain(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d, buf, sizeof(buf));
		assert_false(d.allow);
		assert_non_null(strstr(buf, "rule \"no-self\" (line 4, deny):\n"
					    "  no: token actor login is not one of self\n"));
		assert_non_null(strstr(buf,
				       "rule \"vpn\" (line 6, allow):\n"
				       "  no: token entitlements [print, mail] include none of "
				       "vpn, admin\n"));
		ctx.user = "sam";
		pt_policy_explain(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d, buf, sizeof(buf));
		assert_non_null(strstr(buf, "rule \"ssh-only\" (line 5, allow):\n"
					    "  no: token service login is not one of sshd\n"));
		ctx.has_token = false;
		pt_policy_explain(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d, buf, sizeof(buf));
		assert_non_null(strstr(buf, "  no: token service (none) is not one of sshd\n"));
	}

	/* max_age: from the token's iat, whatever its exp or last use */
	{
		struct pt_policy_ctx ctx = { .actor = "atd",
					     .user = "yan",
					     .holder = "atd",
					     .user_exists = true,
					     .now = MON + 7 * DAY - 1,
					     .has_token = true,
					     .token_iat = MON,
					     .token_last_used = MON + 7 * DAY - 2,
					     .token_service = "login",
					     .token_actor = "login" };

		assert_int_equal(cfg->redeem[5].max_age, 7 * DAY);
		pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
		assert_true(d.allow);
		ctx.now = MON + 7 * DAY;
		pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
		assert_false(d.allow);
		assert_string_equal(d.reason,
				    "rule \"young\" (line 10) denies: the token was issued "
				    "604800s ago (max_age 604800s)");
		ctx.now = MON + 30 * DAY;
		pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
		assert_false(d.allow);
		ctx.has_token = false; /* no token: max_age does not apply */
		pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
		assert_true(d.allow);
	}
	pt_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval),
		cmocka_unit_test(test_no_token),
		cmocka_unit_test(test_local_time),
		cmocka_unit_test(test_apply_lists),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_days_wrap),
		cmocka_unit_test(test_record_entitlements),
		cmocka_unit_test(test_redemptions_per_day),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_token_match),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
