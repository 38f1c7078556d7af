/* SPDX-License-Identifier: MIT */
/* Policy evaluation and actor matching, table-driven over one config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h" /* and tokend's config.h */

/* Line numbers matter: reasons quote them. */
/* clang-format off */
static const char conf[] =
	/*  1 */ "actors = (\n"
	/*  2 */ "  { name = \"login\"; uid = 0; exe = [ \"/usr/sbin/sshd\", \"/usr/bin/login\" ]; },\n"
	/*  3 */ "  { name = \"atd\"; uid = 0; exe = [ \"/usr/sbin/atd\" ]; },\n"
	/*  4 */ "  { name = \"cron\"; uid = 0; exe = [ \"/usr/sbin/cron\" ]; services = [ \"cron\" ]; },\n"
	/*  5 */ "  { name = \"any\"; uid = 1000; exe = \"*\"; },\n"
	/*  6 */ "  { name = \"gdm\"; uid = 0; exe = [ \"/usr/sbin/gdm3\" ];\n"
	/*  7 */ "    services = [ \"gdm-password\", \"gdm-autologin\" ]; },\n"
	/*  8 */ "  { name = \"atd2\"; uid = 0; exe = [ \"/usr/sbin/atd\" ]; }\n"
	/*  9 */ ");\n"
	/* 10 */ "tokend = { live_lifetime = \"5m\"; max_live_lifetime = \"1h\";\n"
	/* 11 */ "  persist_lifetime = \"7d\"; max_persist_lifetime = \"30d\"; max_outstanding = 3; };\n"
	/* 12 */ "issue = (\n"
	/* 13 */ "  { name = \"no-mallory\"; action = \"deny\"; users = [ \"mallory\" ]; },\n"
	/* 14 */ "  { name = \"admins\"; actors = [ \"login\" ]; groups = [ \"wheel\" ];\n"
	/* 15 */ "    live_lifetime = \"1h\"; persist_lifetime = \"30d\"; max_outstanding = 10; check_password_lock = true; },\n"
	/* 16 */ "  { name = \"logins\"; actors = [ \"login\", \"self\" ]; groups = [ \"pertok\", \"staff\" ];\n"
	/* 17 */ "    holders = [ \"atd\", \"cron\" ]; },\n"
	/* 18 */ "  { name = \"gdm-anyone\"; actors = [ \"gdm\" ]; check_account = false; },\n"
	/* 19 */ "  { name = \"star\"; actors = [ \"any\" ]; users = [ \"*\" ]; groups = [ \"*\" ]; }\n"
	/* 20 */ ");\n"
	/* 21 */ "redeem = (\n"
	/* 22 */ "  { name = \"scheduled-jobs\"; holders = [ \"atd\", \"cron\" ]; groups = [ \"pertok\" ];\n"
	/* 23 */ "    live_lifetime = \"10m\"; },\n"
	/* 24 */ "  { name = \"bob-anywhere\"; holders = [ \"*\" ]; users = [ \"bob\" ]; check_account = false; },\n"
	/* 25 */ "  { holders = [ \"atd2\" ]; },\n"
	/* 26 */ "  { name = \"limited\"; holders = [ \"gdm\" ]; check_account = false; max_uses = 1; max_redemptions_per_day = 2; }\n"
	/* 27 */ ");\n";
/* clang-format on */

static int setup(void **state)
{
	struct pt_config *cfg = NULL;
	char err[512];

	if (pt_config_load_string(conf, "p.conf", &cfg, err, sizeof(err)) != 0) {
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

enum set {
	ISSUE,
	REDEEM
};
enum acct {
	OK = 0,
	MISSING,
	LOCKED,
	EXPIRED
};

#define G(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NOG ((const char *const[]){ NULL })

static const struct policy_case {
	enum set set;
	const char *actor, *user;
	const char *const *groups;
	const char *holder;
	enum acct acct;
	/* expected */
	bool allow;
	const char *rule; /* NULL: none */
	const char *reason;
	uint64_t live, persist;
	uint32_t max_outstanding;
} cases[] = {
	/* a deny rule, first: wins over everything below it */
	{ ISSUE, "login", "mallory", G("wheel", "pertok"), NULL, OK, false, "no-mallory",
	  "rule \"no-mallory\" (line 13) denies: it is a deny rule", 300, 7 * 86400, 3 },
	/* first match wins, with its effects */
	{ ISSUE, "login", "alice", G("users", "wheel"), NULL, OK, true, "admins",
	  "rule \"admins\" (line 14) allows", 3600, 30 * 86400, 10 },
	/* holders are ignored at mint (no holder) */
	{ ISSUE, "login", "bob", G("staff"), NULL, OK, true, "logins",
	  "rule \"logins\" (line 16) allows", 300, 7 * 86400, 3 },
	{ ISSUE, "login", "bob", G("staff"), "", OK, true, "logins",
	  "rule \"logins\" (line 16) allows", 300, 7 * 86400, 3 },
	/* actor self and a holder */
	{ ISSUE, "self", "bob", G("bob", "staff"), "atd", OK, true, "logins",
	  "rule \"logins\" (line 16) allows", 300, 7 * 86400, 3 },
	{ ISSUE, "self", "bob", G("bob", "staff"), "cron", OK, true, "logins",
	  "rule \"logins\" (line 16) allows", 300, 7 * 86400, 3 },
	/* holder not allowed: nothing else applies */
	{ ISSUE, "self", "bob", G("staff"), "atd2", OK, false, NULL,
	  "no rule matched (user bob, actor self, holder atd2)", 300, 7 * 86400, 3 },
	/* admins needs actor login; logins needs pertok or staff: the rule the
	 * user fell out of is named */
	{ ISSUE, "self", "alice", G("wheel"), "atd", OK, false, "logins",
	  "rule \"logins\" (line 16) denies: user alice is not in any of the groups pertok, staff",
	  300, 7 * 86400, 3 },
	{ ISSUE, "login", "carol", NOG, "atd", OK, false, "admins",
	  "rule \"admins\" (line 14) denies: user carol is not in any of the groups wheel", 3600,
	  30 * 86400, 10 },
	/* account state on an allow rule with check_account (the default); a '!'
	 * password field only with check_password_lock (admins has it) */
	{ ISSUE, "login", "alice", G("wheel"), NULL, LOCKED, false, "admins",
	  "rule \"admins\" (line 14): account alice has a locked password", 3600, 30 * 86400, 10 },
	{ ISSUE, "login", "bob", G("staff"), NULL, LOCKED, true, "logins",
	  "rule \"logins\" (line 16) allows", 300, 7 * 86400, 3 },
	{ ISSUE, "login", "alice", G("wheel"), NULL, EXPIRED, false, "admins",
	  "rule \"admins\" (line 14): account alice has expired", 3600, 30 * 86400, 10 },
	{ ISSUE, "login", "alice", G("wheel"), NULL, MISSING, false, "admins",
	  "rule \"admins\" (line 14): account alice does not exist", 3600, 30 * 86400, 10 },
	/* check_account = false */
	{ ISSUE, "gdm", "carol", NOG, NULL, MISSING, true, "gdm-anyone",
	  "rule \"gdm-anyone\" (line 18) allows", 300, 7 * 86400, 3 },
	{ ISSUE, "gdm", "carol", NOG, NULL, LOCKED, true, "gdm-anyone",
	  "rule \"gdm-anyone\" (line 18) allows", 300, 7 * 86400, 3 },
	/* "*" lists */
	{ ISSUE, "any", "zed", NOG, "cron", OK, true, "star", "rule \"star\" (line 19) allows", 300,
	  7 * 86400, 3 },
	/* a deny rule is not undone by account checks */
	{ ISSUE, "gdm", "mallory", NOG, NULL, LOCKED, false, "no-mallory",
	  "rule \"no-mallory\" (line 13) denies: it is a deny rule", 300, 7 * 86400, 3 },
	/* no actor */
	{ ISSUE, NULL, "zed", NOG, NULL, OK, false, NULL, "no rule matched (user zed, actor none)",
	  300, 7 * 86400, 3 },
	{ ISSUE, NULL, "zed", NOG, "atd", OK, false, NULL,
	  "no rule matched (user zed, actor none, holder atd)", 300, 7 * 86400, 3 },
	{ ISSUE, "atd", "zed", G("pertok"), "atd", OK, false, NULL,
	  "no rule matched (user zed, actor atd, holder atd)", 300, 7 * 86400, 3 },

	/* redeem: late-bound groups and account state */
	{ REDEEM, "atd", "dave", G("dave", "pertok"), "atd", OK, true, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22) allows", 600, 7 * 86400, 3 },
	{ REDEEM, "cron", "dave", G("pertok"), "cron", OK, true, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22) allows", 600, 7 * 86400, 3 },
	{ REDEEM, "atd", "alice", G("alice", "users"), "atd", OK, false, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22) denies: user alice is not in any of the groups pertok",
	  600, 7 * 86400, 3 },
	/* a '!' password (no password set, SSH keys only) is no reason by default */
	{ REDEEM, "atd", "dave", G("pertok"), "atd", LOCKED, true, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22) allows", 600, 7 * 86400, 3 },
	{ REDEEM, "atd", "dave", G("pertok"), "atd", EXPIRED, false, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22): account dave has expired", 600, 7 * 86400, 3 },
	/* a vanished user has no groups: the reason says the account is gone */
	{ REDEEM, "atd", "eve", NOG, "atd", MISSING, false, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22): account eve does not exist", 600, 7 * 86400, 3 },
	/* a later rule still matches after a near miss */
	{ REDEEM, "atd", "bob", NOG, "atd", MISSING, true, "bob-anywhere",
	  "rule \"bob-anywhere\" (line 24) allows", 300, 7 * 86400, 3 },
	{ REDEEM, "atd2", "bob", NOG, "atd2", OK, true, "bob-anywhere",
	  "rule \"bob-anywhere\" (line 24) allows", 300, 7 * 86400, 3 },
	/* unnamed rule */
	{ REDEEM, "atd2", "frank", NOG, "atd2", OK, true, "redeem[2]",
	  "rule \"redeem[2]\" (line 25) allows", 300, 7 * 86400, 3 },
	{ REDEEM, "atd2", "frank", NOG, "atd2", EXPIRED, false, "redeem[2]",
	  "rule \"redeem[2]\" (line 25): account frank has expired", 300, 7 * 86400, 3 },
	{ REDEEM, "cron", "frank", G("users"), "cron", OK, false, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22) denies: user frank is not in any of the groups pertok",
	  600, 7 * 86400, 3 },
	{ REDEEM, "login", "frank", G("pertok"), "login", OK, false, NULL,
	  "no rule matched (user frank, actor login, holder login)", 300, 7 * 86400, 3 },
};

static size_t count(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static void fill_ctx(const struct policy_case *c, struct pt_policy_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->actor = c->actor;
	ctx->user = c->user;
	ctx->groups = c->groups;
	ctx->n_groups = count(c->groups);
	ctx->holder = c->holder;
	ctx->user_exists = c->acct != MISSING;
	ctx->account_locked = c->acct == LOCKED;
	ctx->account_expired = c->acct == EXPIRED;
}

static void test_eval(void **state)
{
	const struct pt_config *cfg = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct policy_case *c = &cases[i];
		struct pt_policy_ctx ctx;
		struct pt_decision d;

		fill_ctx(c, &ctx);
		memset(&d, 0xaa, sizeof(d));
		if (c->set == ISSUE)
			pt_policy_eval(cfg, cfg->issue, cfg->n_issue, &ctx, &d);
		else
			pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);

		if (d.allow != c->allow || strcmp(d.reason, c->reason) != 0 ||
		    (c->rule == NULL) != (d.rule == NULL) ||
		    (c->rule && strcmp(d.rule->name, c->rule) != 0) || d.live_lifetime != c->live ||
		    d.persist_lifetime != c->persist || d.max_outstanding != c->max_outstanding)
			fail_msg("case %zu: allow=%d rule=%s live=%llu persist=%llu max=%u\n"
				 "  got:  %s\n  want: %s",
				 i, d.allow, d.rule ? d.rule->name : "(none)",
				 (unsigned long long)d.live_lifetime,
				 (unsigned long long)d.persist_lifetime, d.max_outstanding,
				 d.reason, c->reason);
	}
}

/* Late binding: the same request changes answer when the policy changes. */
static void test_reload_changes_answer(void **state)
{
	const struct pt_config *cfg = *state;
	struct pt_config *cfg2 = NULL;
	struct pt_policy_ctx ctx = { .actor = "atd",
				     .user = "dave",
				     .groups = G("pertok"),
				     .n_groups = 1,
				     .holder = "atd",
				     .user_exists = true };
	struct pt_decision d;
	char err[256];

	pt_policy_eval(cfg, cfg->redeem, cfg->n_redeem, &ctx, &d);
	assert_true(d.allow);
	assert_int_equal(
		pt_config_load_string(
			"actors = ( { name = \"atd\"; uid = 0; exe = \"/usr/sbin/atd\"; } );\n"
			"redeem = ( { name = \"off\"; action = \"deny\"; } );\n",
			"p2.conf", &cfg2, err, sizeof(err)),
		0);
	pt_policy_eval(cfg2, cfg2->redeem, cfg2->n_redeem, &ctx, &d);
	assert_false(d.allow);
	assert_string_equal(d.reason, "rule \"off\" (line 2) denies: it is a deny rule");
	pt_config_free(cfg2);
}

/* Effective lifetimes are clamped to the caps even when the rule (or the
 * default) is larger, e.g. caps lowered programmatically. */
static void test_clamp(void **state)
{
	struct pt_config *cfg = *state;
	struct pt_policy_ctx ctx = { .actor = "login",
				     .user = "alice",
				     .groups = G("wheel"),
				     .n_groups = 1,
				     .user_exists = true };
	uint64_t max_live = cfg->max_live_lifetime, max_persist = cfg->max_persist_lifetime;
	struct pt_decision d;

	cfg->max_live_lifetime = 120;
	cfg->max_persist_lifetime = 86400;
	pt_policy_eval(cfg, cfg->issue, cfg->n_issue, &ctx, &d);
	assert_true(d.allow);
	assert_string_equal(d.rule->name, "admins");
	assert_int_equal(d.live_lifetime, 120);	     /* rule 1h */
	assert_int_equal(d.persist_lifetime, 86400); /* rule 30d */
	assert_int_equal(d.max_outstanding, 10);

	ctx.actor = "nobody";
	pt_policy_eval(cfg, cfg->issue, cfg->n_issue, &ctx, &d);
	assert_false(d.allow);
	assert_null(d.rule);
	assert_int_equal(d.live_lifetime, 120);	     /* default 5m */
	assert_int_equal(d.persist_lifetime, 86400); /* default 7d */
	cfg->max_live_lifetime = max_live;
	cfg->max_persist_lifetime = max_persist;
}

static void test_empty_rules(void **state)
{
	const struct pt_config *cfg = *state;
	struct pt_policy_ctx ctx = {
		.actor = "atd", .user = "alice", .holder = "atd", .user_exists = true
	};
	struct pt_decision d;

	pt_policy_eval(cfg, NULL, 0, &ctx, &d);
	assert_false(d.allow);
	assert_null(d.rule);
	assert_string_equal(d.reason, "no rule matched (user alice, actor atd, holder atd)");

	pt_policy_eval(NULL, NULL, 0, &ctx, &d);
	assert_false(d.allow);
	pt_policy_eval(cfg, cfg->issue, cfg->n_issue, NULL, &d);
	assert_false(d.allow);
}

/* Long group lists are truncated in the reason, never overflow it. */
static void test_long_reason(void **state)
{
	struct pt_config *cfg = NULL;
	char text[8192], err[256];
	struct pt_policy_ctx ctx = { .actor = "self", .user = "alice", .user_exists = true };
	struct pt_decision d;
	size_t off;

	off = (size_t)snprintf(text, sizeof(text), "issue = ( { groups = [ ");
	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s\"group-number-%03d\"",
					i ? ", " : "", i);
	snprintf(text + off, sizeof(text) - off, " ]; } );\n");
	assert_int_equal(pt_config_load_string(text, "l.conf", &cfg, err, sizeof(err)), 0);
	pt_policy_eval(cfg, cfg->issue, cfg->n_issue, &ctx, &d);
	assert_false(d.allow);
	assert_true(strlen(d.reason) < sizeof(d.reason));
	assert_true(strncmp(d.reason,
			    "rule \"issue[0]\" (line 1) denies: user alice is not in any of the "
			    "groups group-number-000, group-number-001",
			    100) == 0);
	pt_config_free(cfg);
}

static const struct {
	uid_t uid;
	const char *exe, *service;
	const char *want; /* actor name or NULL */
} actor_cases[] = {
	{ 0, "/usr/sbin/sshd", "sshd", "login" },
	{ 0, "/usr/bin/login", NULL, "login" }, /* no services listed: any, even none */
	{ 1, "/usr/sbin/sshd", "sshd", NULL },	/* uid must match */
	{ 0, "/usr/sbin/atd", "atd", "atd" },	/* first of atd, atd2 */
	{ 0, "/usr/sbin/cron", "cron", "cron" },
	{ 0, "/usr/sbin/cron", "crond", NULL }, /* service not listed */
	{ 0, "/usr/sbin/cron", NULL, NULL },	/* services listed, none given */
	{ 0, "/usr/sbin/gdm3", "gdm-autologin", "gdm" },
	{ 0, "/usr/sbin/gdm3", "gdm-password", "gdm" },
	{ 0, "/usr/sbin/gdm3", "login", NULL },
	{ 1000, NULL, NULL, "any" }, /* exe "*" matches an unknown exe */
	{ 1000, "/bin/sh", "x", "any" },
	{ 0, NULL, NULL, NULL }, /* unknown exe, no "*" actor for uid 0 */
	{ 0, "/usr/sbin/atd/", NULL, NULL },
	{ 0, "/usr/sbin/at", NULL, NULL },
	{ 0, "", NULL, NULL },
	{ 1001, "/usr/sbin/atd", NULL, NULL },
};

static void test_match_actor(void **state)
{
	const struct pt_config *cfg = *state;

	for (size_t i = 0; i < sizeof(actor_cases) / sizeof(actor_cases[0]); i++) {
		const struct pt_actor *a = pt_policy_match_actor(
			cfg, actor_cases[i].uid, actor_cases[i].exe, actor_cases[i].service);
		const char *got = a ? a->name : NULL;

		if ((got == NULL) != (actor_cases[i].want == NULL) ||
		    (got && strcmp(got, actor_cases[i].want) != 0))
			fail_msg("actor case %zu: got %s, want %s", i, got ? got : "(none)",
				 actor_cases[i].want ? actor_cases[i].want : "(none)");
	}
	assert_null(pt_policy_match_actor(NULL, 0, "/usr/sbin/atd", NULL));
}

/* ------------------------------------------------- the whole decisions */

#define NOW 1700000000u
#define DAY 86400u

enum tok {
	NO_TOKEN,
	TOKEN,	  /* uid 1001, issued a day ago, valid for a week */
	EXPIRED_T /* expired an hour ago */
};

static const struct redeem_case {
	const char *holder, *user;
	const char *const *groups;
	enum acct acct;
	uid_t uid; /* the account's uid now */
	enum tok tok;
	/* expected */
	enum pt_outcome outcome;
	const char *rule;
	const char *reason;
	bool mismatch;
	/* the token's uses, the user's redemptions today, a job's refresh */
	uint32_t uses, today;
	bool refresh;
} redeem_cases[] = {
	{ "atd", "dave", G("pertok"), OK, 1001, NO_TOKEN, PT_OUTCOME_NOTFOUND, NULL,
	  "no persistable token", false, 0, 0, false },
	{ "atd", "dave", G("pertok"), OK, 1001, EXPIRED_T, PT_OUTCOME_INVALID, NULL,
	  "persistable token expired", false, 0, 0, false },
	{ "atd", "dave", G("pertok"), OK, 1001, TOKEN, PT_OUTCOME_ALLOW, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22) allows", false, 0, 0, false },
	{ "atd", "dave", G("users"), OK, 1001, TOKEN, PT_OUTCOME_DENIED, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22) denies: user dave is not in any of the groups pertok",
	  false, 0, 0, false },
	/* check_account = false: the rule allows, the missing account still
	 * denies (no rule is named: the account refused it, not the rule) */
	{ "atd", "bob", NOG, MISSING, 1001, TOKEN, PT_OUTCOME_DENIED, NULL,
	  "user bob no longer exists (or changed uid)", false, 0, 0, false },
	/* the name belongs to another uid now: taken as missing */
	{ "atd", "bob", NOG, OK, 2000, TOKEN, PT_OUTCOME_DENIED, NULL,
	  "user bob no longer exists (or changed uid)", true, 0, 0, false },
	{ "atd", "bob", NOG, OK, 1001, TOKEN, PT_OUTCOME_ALLOW, "bob-anywhere",
	  "rule \"bob-anywhere\" (line 24) allows", false, 0, 0, false },
	/* max_uses and max_redemptions_per_day count redemptions... */
	{ "gdm", "carol", NOG, OK, 1001, TOKEN, PT_OUTCOME_DENIED, "limited",
	  "rule \"limited\" (line 26) denies: the token was redeemed 1 times (max_uses 1)", false,
	  1, 0, false },
	{ "gdm", "carol", NOG, OK, 1001, TOKEN, PT_OUTCOME_DENIED, "limited",
	  "rule \"limited\" (line 26) denies: user carol redeemed 2 times today "
	  "(max_redemptions_per_day 2)",
	  false, 0, 2, false },
	/* ... a running job's refresh is not one */
	{ "gdm", "carol", NOG, OK, 1001, TOKEN, PT_OUTCOME_ALLOW, "limited",
	  "rule \"limited\" (line 26) allows", false, 1, 0, true },
	{ "gdm", "carol", NOG, OK, 1001, TOKEN, PT_OUTCOME_ALLOW, "limited",
	  "rule \"limited\" (line 26) allows", false, 7, 9, true },
	/* every other check still applies to a refresh */
	{ "gdm", "carol", NOG, MISSING, 1001, TOKEN, PT_OUTCOME_DENIED, NULL,
	  "user carol no longer exists (or changed uid)", false, 7, 9, true },
	{ "gdm", "carol", NOG, OK, 1001, EXPIRED_T, PT_OUTCOME_INVALID, NULL,
	  "persistable token expired", false, 1, 2, true },
	{ "atd", "dave", G("users"), OK, 1001, TOKEN, PT_OUTCOME_DENIED, "scheduled-jobs",
	  "rule \"scheduled-jobs\" (line 22) denies: user dave is not in any of the groups pertok",
	  false, 0, 0, true },
	{ "login", "carol", NOG, OK, 1001, TOKEN, PT_OUTCOME_DENIED, NULL,
	  "no rule matched (user carol, actor login, holder login)", false, 0, 0, true },
};

static void test_redeem_decision(void **state)
{
	for (size_t i = 0; i < sizeof(redeem_cases) / sizeof(redeem_cases[0]); i++) {
		const struct redeem_case *c = &redeem_cases[i];
		struct pt_policy_account acct = { .exists = c->acct != MISSING,
						  .uid = c->uid,
						  .groups = c->groups,
						  .n_groups = count(c->groups),
						  .locked = c->acct == LOCKED,
						  .expired = c->acct == EXPIRED };
		struct pt_policy_token tok = { .id = "pt_x",
					       .uid = 1001,
					       .user = c->user,
					       .holder = c->holder,
					       .iat = NOW - DAY,
					       .exp = c->tok == EXPIRED_T ? NOW - 3600 :
									    NOW + 7 * DAY,
					       .uses = c->uses,
					       .actor = "login" };
		struct pt_redeem_input in = { .actor = c->holder,
					      .user = c->user,
					      .holder = c->holder,
					      .token = c->tok == NO_TOKEN ? NULL : &tok,
					      .account = &acct,
					      .redemptions_today = c->today,
					      .now = NOW,
					      .refresh = c->refresh };
		struct pt_redeem_decision d, e;
		char trace[4096];

		pt_policy_redeem(*state, &in, &d, NULL, 0);
		if (d.outcome != c->outcome || strcmp(d.dec.reason, c->reason) != 0)
			fail_msg("case %zu: outcome %d \"%s\"", i, d.outcome, d.dec.reason);
		assert_int_equal(d.dec.allow, c->outcome == PT_OUTCOME_ALLOW);
		assert_int_equal(d.account_mismatch, c->mismatch);
		if (c->rule)
			assert_string_equal(d.dec.rule->name, c->rule);
		else
			assert_null(d.dec.rule);
		/* the traced decision (explain) is the same decision */
		pt_policy_redeem(*state, &in, &e, trace, sizeof(trace));
		assert_int_equal(e.outcome, d.outcome);
		assert_string_equal(e.dec.reason, d.dec.reason);
		assert_non_null(strstr(trace, d.dec.allow ? "\nredemption: allow: " :
							    "\nredemption: deny: "));
	}
}

static int rate_calls;
static bool rate_left;

static bool rate_take(void *u, const char *user, const struct pt_rule *r)
{
	(void)u;
	(void)user;
	(void)r;
	rate_calls++;
	return rate_left;
}

static const struct exchange_case {
	const char *actor, *user, *holder;
	const char *const *groups;
	enum acct acct;
	bool redeemed;
	bool has_slot;
	size_t outstanding;
	uint64_t requested;
	/* expected */
	enum pt_outcome outcome;
	const char *reason;
	uint64_t lifetime; /* allow: exp - now */
} exchange_cases[] = {
	{ "login", "alice", "nowhere", G("wheel"), OK, false, false, 0, 0, PT_OUTCOME_DENIED,
	  "unknown holder", 0 },
	{ "login", "alice", "atd", G("wheel"), MISSING, false, false, 0, 0, PT_OUTCOME_NOTFOUND,
	  "user no longer exists or changed uid", 0 },
	{ "login", "alice", "atd", G("wheel"), OK, false, false, 0, 0, PT_OUTCOME_ALLOW,
	  "rule \"admins\" (line 14) allows", 30 * DAY },
	{ "login", "alice", "atd", G("wheel"), OK, false, false, 0, 3600, PT_OUTCOME_ALLOW,
	  "rule \"admins\" (line 14) allows", 3600 },
	{ "login", "bob", "atd", G("staff"), OK, false, false, 3, 0, PT_OUTCOME_LIMIT,
	  "max outstanding tokens reached", 0 },
	/* a renewal of the slot does not count against max_outstanding */
	{ "login", "bob", "atd", G("staff"), OK, false, true, 3, 0, PT_OUTCOME_ALLOW,
	  "rule \"logins\" (line 16) allows", 7 * DAY },
	{ "self", "bob", "atd", G("staff"), OK, true, true, 1, 0, PT_OUTCOME_DENIED,
	  "live token minted by a redemption, not a login: rule \"logins\" (line 16) does not set "
	  "renew_from_redeemed",
	  0 },
	{ "login", "carol", "atd", NOG, OK, false, false, 0, 0, PT_OUTCOME_DENIED,
	  "rule \"admins\" (line 14) denies: user carol is not in any of the groups wheel", 0 },
};

static void test_exchange_decision(void **state)
{
	for (size_t i = 0; i < sizeof(exchange_cases) / sizeof(exchange_cases[0]); i++) {
		const struct exchange_case *c = &exchange_cases[i];
		struct pt_policy_account acct = { .exists = c->acct != MISSING,
						  .uid = 1001,
						  .groups = c->groups,
						  .n_groups = count(c->groups) };
		struct pt_exchange_input in = { .actor = c->actor,
						.user = c->user,
						.uid = 1001,
						.holder = c->holder,
						.account = &acct,
						.holder_known = strcmp(c->holder, "nowhere") != 0,
						.requested_lifetime = c->requested,
						.now = NOW,
						.redeemed = c->redeemed,
						.ptk = c->redeemed ? "pt_x" : NULL,
						.has_slot = c->has_slot,
						.outstanding = c->outstanding,
						.rate_take = rate_take };
		struct pt_exchange_decision d;

		rate_calls = 0;
		pt_policy_exchange(*state, &in, &d, NULL, 0);
		if (d.outcome != c->outcome || strcmp(d.reason, c->reason) != 0)
			fail_msg("case %zu: outcome %d \"%s\"", i, d.outcome, d.reason);
		if (c->outcome == PT_OUTCOME_ALLOW)
			assert_int_equal(d.exp, NOW + c->lifetime);
		else
			assert_true(d.message[0] != '\0');
		assert_int_equal(rate_calls, 0); /* no rule here has a rate */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval),
		cmocka_unit_test(test_reload_changes_answer),
		cmocka_unit_test(test_clamp),
		cmocka_unit_test(test_empty_rules),
		cmocka_unit_test(test_long_reason),
		cmocka_unit_test(test_match_actor),
		cmocka_unit_test(test_redeem_decision),
		cmocka_unit_test(test_exchange_decision),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
