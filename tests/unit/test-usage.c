/* SPDX-License-Identifier: MIT */
/*
 * Least privilege from evidence (issue 13) through tokend's request
 * handling with an injected clock (days pass in microseconds): the signals
 * (a redemption's grants, PT_USED as the token's user; refused for an
 * entitlement the token lacks, a forged or another user's token), the
 * observation period and the window (nothing proposed before it, nothing
 * used within it), recommend's three forms, the --write drop-in loaded as
 * configuration curtailing an older token's next redemption with the
 * recommendation's id in the refusal, auto_curtail and its revert in the
 * audit log, the cap (new entries refused, the pair marked full), and the
 * history's file and journal forms.
 */
#include "conf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "account.h"
#include "daemon-state.h"
#include "fileio.h"
#include "journal.h"
#include "jws.h"
#include "live.h"
#include "ops-internal.h"
#include "proto.h"
#include "usage.h"
#include "util.h"

#define DAY 86400u

static char dir[64], conf_path[128];
static uint8_t storekey[PT_STORE_KEYLEN];
static struct pt_daemon d;
static uint64_t now_s;

static uint64_t fake_clock(void)
{
	return now_s;
}

/* alice (1000) and bob (1001), each in a group of their name */
static int fake_lookup(const char *user, struct pt_account **ret)
{
	if (strcmp(user, "alice") != 0 && strcmp(user, "bob") != 0)
		return -ENOENT;
	*ret = ut_account(user, strcmp(user, "alice") == 0 ? 1000 : 1001);
	return 0;
}

static const char base_conf[] =
	"tokend: { state_dir = \"%s\"; socket = \"%s/sock\"; persist_lifetime = \"60d\"; };\n"
	"seal: { backend = \"software\"; };\n"
	"actors = ( { name = \"atd\"; uid = 0; exe = [ \"/usr/sbin/atd\" ]; } );\n"
	"issue = ( { name = \"iss\"; actors = [ \"atd\" ]; holders = [ \"atd\" ];\n"
	"            check_account = false;\n"
	"            entitlements = [ \"reports\", \"db-admin\", \"backup\" ]; } );\n"
	"redeem = ( { name = \"red\"; holders = [ \"atd\" ]; check_account = false; } );\n"
	"usage: { observation = \"30d\"; unused_days = 30; };\n";

static int setup(void **state)
{
	char conf[2048], path[128];
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pertok-usage-test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(conf, sizeof(conf), base_conf, dir, dir);
	snprintf(conf_path, sizeof(conf_path), "%s/tokend.conf", dir);
	f = fopen(conf_path, "w");
	if (!f || fputs(conf, f) < 0 || fclose(f) != 0)
		return -1;
	if (ut_daemon_open(&d, conf, dir, storekey) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/usage.json", dir);
	if (pt_usage_open(path, d.cfg->usage_max_entries_per_user, &d.usage, NULL) < 0)
		return -1;
	now_s = 1700000000;
	d.clock = fake_clock;
	d.account_lookup = fake_lookup;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	pt_usage_free(d.usage);
	d.usage = NULL;
	ut_daemon_close(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------- requests */

enum who {
	ROOT,
	ATD,
	ALICE,
	BOB,
};

static struct pt_peer peer_of(enum who w)
{
	static const uid_t uids[] = { 0, 0, 1000, 1001 };
	struct pt_peer peer = { .uid = uids[w], .gid = uids[w], .pid = 4242, .procfd = -1 };

	peer.exe_known = true;
	snprintf(peer.exe, sizeof(peer.exe), "%s", w == ATD ? "/usr/sbin/atd" : "/bin/sh");
	return peer;
}

/* req as w: the reply's error code (0: PT_OK), *ret the reply (may be
 * NULL). */
static uint32_t call(enum who w, const struct pt_req *req, struct pt_rep *ret)
{
	struct pt_peer peer = peer_of(w);

	return ut_call(&d, &peer, req, ret);
}

/* req as w, which must succeed: the reply's token (token) or text, for the
 * caller to free. */
static char *call_take(enum who w, const struct pt_req *req, bool token)
{
	struct pt_rep rep;
	char *v;

	assert_int_equal(call(w, req, &rep), 0);
	v = token ? rep.token : rep.text;
	if (token)
		rep.token = NULL;
	else
		rep.text = NULL;
	pt_rep_clear(&rep);
	return v;
}

/* req as w: the error code, a refusal's message in msg (len bytes; may be
 * NULL). */
static uint32_t call_msg(enum who w, const struct pt_req *req, char *msg, size_t len)
{
	struct pt_rep rep;
	uint32_t code = call(w, req, &rep);

	if (msg)
		snprintf(msg, len, "%s", rep.message ? rep.message : "");
	pt_rep_clear(&rep);
	return code;
}

static void persist(const char *user)
{
	struct pt_req m = { .type = PT_MINT,
			    .user = (char *)user,
			    .service = (char *)"sshd",
			    .tty = (char *)"pts/0",
			    .rhost = (char *)"" };
	struct pt_rep rep;
	struct pt_req x = { .type = PT_EXCHANGE, .holder = (char *)"atd" };

	assert_int_equal(call(ATD, &m, &rep), 0);
	x.live_token = rep.token;
	assert_int_equal(call(ATD, &x, NULL), 0);
	pt_rep_clear(&rep);
}

/* A redemption by atd for user: its live token (caller frees). */
static char *redeem(const char *user)
{
	struct pt_req q = { .type = PT_REDEEM,
			    .user = (char *)user,
			    .holder = (char *)"atd",
			    .service = (char *)"atd" };

	return call_take(ATD, &q, true);
}

/* PT_USED of name (group or entitlement) with token as w: the error code,
 * the refusal's message in msg (len bytes; may be NULL). */
static uint32_t used(enum who w, const char *token, bool group, const char *name, char *msg,
		     size_t len)
{
	struct pt_req q = { .type = PT_USED,
			    .live_token = (char *)token,
			    .format = group ? PT_USED_GROUP : PT_USED_ENTITLEMENT,
			    .name = (char *)name };

	return call_msg(w, &q, msg, len);
}

/* The live token's payload carries "name" in its entitlements? */
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

/* recommend's text (caller frees) for alice at atd in form f. */
static char *recommend(uint8_t f, uint32_t days)
{
	struct pt_req q = { .type = PT_RECOMMEND,
			    .user = (char *)"alice",
			    .holder = (char *)"",
			    .count = days,
			    .format = f };

	return call_take(ROOT, &q, false);
}

/* Redeems alice's token each day from day `from` to day `to` (inclusive)
 * of the clock, reporting uses on the days named. */
static void days_of_jobs(unsigned from, unsigned to, const char *use, unsigned use_day)
{
	static const uint64_t t0 = 1700000000;

	for (unsigned day = from; day <= to; day++) {
		char *token;

		now_s = t0 + (uint64_t)day * DAY;
		token = redeem("alice");
		if (use && day == use_day) {
			assert_int_equal(used(ALICE, token, false, use, NULL, 0), 0);
			assert_int_equal(used(ALICE, token, true, "alice", NULL, 0), 0);
		}
		pt_free_secret(token);
	}
}

/* 36 days of alice's jobs: "reports" used on days 0 and 10, "backup" on
 * day 34, "db-admin" never; her group "alice" with each use. */
static void history(void)
{
	persist("alice");
	days_of_jobs(0, 0, "reports", 0);
	days_of_jobs(1, 20, "reports", 10);
	days_of_jobs(21, 35, "backup", 34);
}

/* --------------------------------------------------------------- signals */

static void test_signals(void **state)
{
	const struct pt_usage_entry *e;
	char *token, *login, msg[600];
	struct pt_req m = { .type = PT_MINT,
			    .user = (char *)"alice",
			    .service = (char *)"sshd",
			    .tty = (char *)"pts/0",
			    .rhost = (char *)"" };
	struct pt_rep rep;

	(void)state;
	persist("alice");
	token = redeem("alice");
	/* the redemption's grants are recorded, unused */
	e = pt_usage_find(d.usage, "alice", "atd", PT_USAGE_PAIR, "");
	assert_non_null(e);
	assert_int_equal(e->count, 1);
	e = pt_usage_find(d.usage, "alice", "atd", PT_USAGE_ENT, "db-admin");
	assert_non_null(e);
	assert_int_equal(e->count, 0);
	assert_non_null(pt_usage_find(d.usage, "alice", "atd", PT_USAGE_GROUP, "alice"));
	/* a use by the token's user, of what it carries */
	assert_int_equal(used(ALICE, token, false, "reports", NULL, 0), 0);
	assert_int_equal(used(ALICE, token, true, "alice", NULL, 0), 0);
	e = pt_usage_find(d.usage, "alice", "atd", PT_USAGE_ENT, "reports");
	assert_int_equal(e->count, 1);
	assert_int_equal(e->last, now_s);
	/* an entitlement the token lacks: refused, nothing recorded */
	assert_int_equal(used(ALICE, token, false, "root-shell", msg, sizeof(msg)), PT_E_DENIED);
	assert_non_null(strstr(msg, "does not carry entitlement root-shell"));
	assert_null(pt_usage_find(d.usage, "alice", "atd", PT_USAGE_ENT, "root-shell"));
	assert_int_equal(used(ALICE, token, true, "wheel", NULL, 0), PT_E_DENIED);
	/* another user's token: refused by the table */
	assert_int_equal(used(BOB, token, false, "reports", NULL, 0), PT_E_PERM);
	/* a forged token (its signature's last character changed) */
	token[strlen(token) - 2] = token[strlen(token) - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(used(ALICE, token, false, "reports", NULL, 0), PT_E_INVALID);
	e = pt_usage_find(d.usage, "alice", "atd", PT_USAGE_ENT, "reports");
	assert_int_equal(e->count, 1);
	/* a login's token names no persistable token: not a job's */
	assert_int_equal(call(ATD, &m, &rep), 0);
	login = rep.token;
	assert_int_equal(used(ALICE, login, false, "reports", msg, sizeof(msg)), PT_E_INVALID);
	pt_rep_clear(&rep);
	pt_free_secret(token);
}

/* ACCEPT_LIVE (pam_pertok.so accept require=...): as root or an actor;
 * the token must be a job's, name PAM_USER and carry every entitlement
 * required, each then recorded as used. */
static uint32_t accept_live(enum who w, const char *token, const char *user, const char *require,
			    char *msg, size_t len)
{
	struct pt_req q = { .type = PT_ACCEPT_LIVE,
			    .live_token = (char *)token,
			    .user = (char *)user,
			    .service = (char *)"reportd",
			    .name = (char *)require };

	return call_msg(w, &q, msg, len);
}

static void test_accept_live(void **state)
{
	const struct pt_usage_entry *e;
	char *token, msg[900];

	(void)state;
	persist("alice");
	token = redeem("alice");
	assert_int_equal(accept_live(ROOT, token, "alice", "reports,backup", msg, sizeof(msg)), 0);
	e = pt_usage_find(d.usage, "alice", "atd", PT_USAGE_ENT, "reports");
	assert_int_equal(e->count, 1);
	e = pt_usage_find(d.usage, "alice", "atd", PT_USAGE_ENT, "backup");
	assert_int_equal(e->count, 1);
	/* an entitlement the token lacks: refused, naming the service */
	assert_int_equal(accept_live(ATD, token, "alice", "reports,root-shell", msg, sizeof(msg)),
			 PT_E_DENIED);
	assert_non_null(strstr(msg, "does not carry entitlement root-shell; service reportd"));
	e = pt_usage_find(d.usage, "alice", "atd", PT_USAGE_ENT, "reports");
	assert_int_equal(e->count, 1); /* nothing recorded for a refusal */
	/* PAM_USER must be the token's user */
	assert_int_equal(accept_live(ROOT, token, "bob", "reports", msg, sizeof(msg)), PT_E_DENIED);
	assert_non_null(strstr(msg, "the live token is alice's, not bob's"));
	/* a plain user cannot accept (record uses of) tokens */
	assert_int_equal(accept_live(ALICE, token, "alice", "reports", NULL, 0), PT_E_PERM);
	assert_int_equal(accept_live(ROOT, token, "alice", "", NULL, 0), PT_E_PROTO);
	assert_int_equal(accept_live(ROOT, token, "alice", "a b", NULL, 0), PT_E_PROTO);
	/* a forged token */
	token[strlen(token) - 2] = token[strlen(token) - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(accept_live(ROOT, token, "alice", "reports", NULL, 0), PT_E_INVALID);
	pt_free_secret(token);
}

/* -------------------------------------------------------------- recommend */

static void test_observation_and_window(void **state)
{
	char *text;

	(void)state;
	persist("alice");
	days_of_jobs(0, 0, "reports", 0);
	days_of_jobs(1, 20, "reports", 10);
	/* 20 days observed of 30: nothing proposed yet */
	text = recommend(PT_REC_TEXT, 0);
	assert_non_null(strstr(text, "observed for less than the observation period"));
	assert_non_null(strstr(text, "proposals: 0"));
	assert_null(strstr(text, "remove "));
	free(text);
	days_of_jobs(21, 35, "backup", 34);
	/* 35 days: db-admin unused in the window; backup used within it (day
	 * 34), reports used on day 10, within the 30 days before day 35 */
	text = recommend(PT_REC_TEXT, 0);
	assert_non_null(strstr(text, "proposals: 1"));
	assert_non_null(strstr(text, "remove entitlement db-admin rec-"));
	assert_non_null(strstr(text, "used 0 times in 36 redemptions over 35 days"));
	assert_non_null(strstr(text, "keep entitlement backup"));
	assert_non_null(strstr(text, "keep entitlement reports"));
	assert_null(strstr(text, "remove entitlement backup"));
	assert_null(strstr(text, "remove entitlement reports"));
	free(text);
	/* a window of 20 days: reports (last used day 10) is unused within it,
	 * but never a window shorter than the observation period (30 days) */
	text = recommend(PT_REC_TEXT, 20);
	assert_null(strstr(text, "remove entitlement reports"));
	free(text);
	/* 60 days asked, 35 observed: nothing is judged on less than asked */
	text = recommend(PT_REC_TEXT, 60);
	assert_non_null(strstr(text, "proposals: 0"));
	assert_non_null(strstr(text, "granted for 35 days only"));
	free(text);
	/* and explain tells the same evidence */
	{
		struct pt_req q = { .type = PT_EXPLAIN,
				    .user = (char *)"alice",
				    .holder = (char *)"atd" };
		struct pt_rep rep;

		assert_int_equal(call(ROOT, &q, &rep), 0);
		assert_non_null(strstr(rep.text, "usage: 36 redemptions observed over 35 days"));
		assert_non_null(strstr(rep.text, "entitlement db-admin: unused: used 0 times in 36 "
						 "redemptions over 35 days"));
		assert_non_null(strstr(rep.text, "entitlement backup: keep: used 1 times"));
		pt_rep_clear(&rep);
	}
}

/* The holder's baseline: bob used db-admin on day 30, alice never: her
 * proposal says 1 of the holder's 2 users used it in the window. */
static void test_baseline(void **state)
{
	static const uint64_t t0 = 1700000000;
	char *text;

	(void)state;
	persist("alice");
	persist("bob");
	for (unsigned day = 0; day <= 35; day++) {
		char *a, *b;

		now_s = t0 + (uint64_t)day * DAY;
		a = redeem("alice");
		b = redeem("bob");
		if (day == 30)
			assert_int_equal(used(BOB, b, false, "db-admin", NULL, 0), 0);
		pt_free_secret(a);
		pt_free_secret(b);
	}
	text = recommend(PT_REC_TEXT, 0);
	assert_non_null(strstr(text, "remove entitlement db-admin rec-"));
	assert_non_null(strstr(text, "used by 1 of 2 users of holder atd in the window"));
	free(text);
}

static void test_json(void **state)
{
	json_object *o, *pairs, *items, *v;
	char *text;
	int removes = 0;

	(void)state;
	history();
	text = recommend(PT_REC_JSON, 0);
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "proposals", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(o, "pairs", &pairs));
	assert_int_equal(json_object_array_length(pairs), 1);
	assert_true(
		json_object_object_get_ex(json_object_array_get_idx(pairs, 0), "items", &items));
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		json_object *it = json_object_array_get_idx(items, i), *verdict, *name;

		assert_true(json_object_object_get_ex(it, "verdict", &verdict));
		assert_true(json_object_object_get_ex(it, "name", &name));
		if (strcmp(json_object_get_string(verdict), "remove") == 0) {
			removes++;
			assert_string_equal(json_object_get_string(name), "db-admin");
		}
	}
	assert_int_equal(removes, 1);
	json_object_put(o);
	free(text);
}

/* recommend --write's text as a drop-in: loaded with the configuration, the
 * next redemption of alice's token (issued 35 days before) lacks db-admin,
 * and a report of it names the recommendation. */
static void test_write_curtails_older_token(void **state)
{
	char path[160], msg[600], err[512], id[16];
	struct pt_config *cfg = NULL;
	char *text, *token, *p;
	FILE *f;

	(void)state;
	history();
	text = recommend(PT_REC_CONFIG, 0);
	assert_non_null(strstr(text, "curtail = true"));
	assert_non_null(strstr(text, "entitlements_remove = [ \"db-admin\" ]"));
	p = strstr(text, "name = \"rec-");
	assert_non_null(p);
	snprintf(id, sizeof(id), "%.12s", p + 8);
	snprintf(path, sizeof(path), "%s.d", conf_path);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s.d/recommend.conf", conf_path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	free(text);
	assert_int_equal(pt_config_load_dirs(conf_path,
					     &(struct pt_config_dirs){ .dropin_dir = NULL }, &cfg,
					     err, sizeof(err)),
			 0);
	pt_config_free(cfg);
	cfg = NULL;
	snprintf(path, sizeof(path), "%s.d", conf_path);
	if (pt_config_load_dirs(conf_path, &(struct pt_config_dirs){ .dropin_dir = path }, &cfg,
				err, sizeof(err)) < 0)
		fail_msg("the drop-in does not load: %s", err);
	assert_int_equal(cfg->n_redeem, 2);
	assert_true(cfg->redeem[1].curtail);
	/* "reload": the new policy decides the next redemption */
	pt_config_free(d.cfg);
	d.cfg = cfg;
	now_s += DAY;
	token = redeem("alice");
	assert_false(carries(token, "db-admin"));
	assert_true(carries(token, "reports"));
	assert_int_equal(used(ALICE, token, false, "db-admin", msg, sizeof(msg)), PT_E_DENIED);
	assert_non_null(strstr(msg, "entitlement db-admin curtailed by rec-"));
	assert_non_null(strstr(msg, id));
	assert_non_null(strstr(msg, "used 0 times in 36 redemptions over 35 days"));
	pt_free_secret(token);
	/* --revert is for auto_curtail's: a rule of a file is deleted there */
	{
		struct pt_req q = { .type = PT_CURTAIL_REVERT, .id = id };

		assert_int_equal(call_msg(ROOT, &q, msg, sizeof(msg)), PT_E_NOTFOUND);
		assert_non_null(strstr(msg, "is a curtail rule of the configuration"));
	}
	/* and recommend shows it as curtailed, not proposed again */
	text = recommend(PT_REC_TEXT, 0);
	assert_non_null(strstr(text, "curtailed entitlement db-admin by rec-"));
	assert_non_null(strstr(text, "proposals: 0"));
	free(text);
}

/* Names with '"' and '\\' (valid names; a group comes from the directory)
 * are escaped in the drop-in: it loads, and removes exactly those names. */
static void test_write_escapes(void **state)
{
	char *ents[] = { "a\"b", "c\\d", "*", NULL }, *groups[] = { "g\";x", NULL };
	struct pt_config *cfg = NULL;
	char conf[4096], err[512], *text;
	const struct pt_rule *r = NULL;

	(void)state;
	now_s = 1700000000;
	assert_int_equal(pt_usage_redeemed(d.usage, "alice", "atd", ents, 3, groups, 1, now_s), 0);
	now_s += 40 * DAY;
	assert_int_equal(pt_usage_redeemed(d.usage, "alice", "atd", ents, 3, groups, 1, now_s), 0);
	text = recommend(PT_REC_CONFIG, 0);
	snprintf(conf, sizeof(conf),
		 "actors = ( { name = \"atd\"; uid = 0; exe = [ \"/usr/sbin/atd\" ]; } );\n%s",
		 text);
	if (pt_config_load_string(conf, "rec.conf", &cfg, err, sizeof(err)) < 0)
		fail_msg("the drop-in does not load: %s\n%s", err, text);
	assert_int_equal(cfg->n_redeem, 3);
	for (size_t i = 0; i < cfg->n_redeem; i++) {
		assert_true(cfg->redeem[i].curtail);
		if (cfg->redeem[i].n_groups_remove)
			r = &cfg->redeem[i];
	}
	assert_non_null(r);
	assert_string_equal(r->groups_remove[0], "g\";x");
	assert_non_null(pt_policy_curtailer(cfg, "alice", "atd", false, "a\"b", NULL));
	assert_non_null(pt_policy_curtailer(cfg, "alice", "atd", false, "c\\d", NULL));
	/* an entitlement named "*" is the wildcard of entitlements_remove:
	 * proposed, but only as a comment, never a rule removing everything */
	assert_non_null(strstr(text, "not written: the name \"*\" would match every entitlement"));
	assert_null(pt_policy_curtailer(cfg, "alice", "atd", false, "reports", NULL));
	pt_config_free(cfg);
	free(text);
}

/* The audit log's text (caller frees). */
static char *audit_text(void)
{
	char path[128];
	uint8_t *text = NULL, *z;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/audit.log", dir);
	assert_int_equal(pt_read_file(path, 16u << 20, &text, &len), 0);
	z = realloc(text, len + 1);
	assert_non_null(z);
	z[len] = '\0';
	return (char *)z;
}

static void test_auto_curtail_and_revert(void **state)
{
	const struct pt_usage_entry *e;
	struct pt_req q = { .type = PT_CURTAIL_REVERT };
	char id[16], msg[600], *token, *old, *audit;

	(void)state;
	history();
	/* off by default */
	pt_ops_auto_curtail(&d);
	assert_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "db-admin"));
	old = redeem("alice"); /* minted before the curtailment: carries db-admin */
	assert_true(carries(old, "db-admin"));
	d.cfg->usage_auto_curtail = true;
	pt_ops_auto_curtail(&d);
	/* the change and its audit record synced by the pass itself, before
	 * any redemption it governs */
	assert_false(pt_ops_commit_pending(&d));
	e = pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "db-admin");
	assert_non_null(e);
	snprintf(id, sizeof(id), "%s", e->id);
	assert_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "backup"));
	audit = audit_text();
	assert_non_null(strstr(audit, "\"op\":\"curtail\""));
	assert_non_null(strstr(audit, id));
	assert_non_null(strstr(audit, "auto_curtail removes entitlement db-admin"));
	free(audit);
	/* the older live token still carries it: neither a report (which would
	 * keep it alive) nor an accept passes, each naming the curtailment */
	assert_int_equal(used(ALICE, old, false, "db-admin", msg, sizeof(msg)), PT_E_DENIED);
	assert_non_null(strstr(msg, id));
	assert_int_equal(accept_live(ROOT, old, "alice", "reports,db-admin", msg, sizeof(msg)),
			 PT_E_DENIED);
	assert_non_null(strstr(msg, id));
	assert_int_equal(pt_usage_find(d.usage, "alice", "atd", PT_USAGE_ENT, "db-admin")->count,
			 0);
	pt_free_secret(old);
	now_s += DAY;
	token = redeem("alice");
	assert_false(carries(token, "db-admin"));
	assert_int_equal(used(ALICE, token, false, "db-admin", msg, sizeof(msg)), PT_E_DENIED);
	assert_non_null(strstr(msg, id));
	assert_int_equal(accept_live(ROOT, token, "alice", "db-admin", msg, sizeof(msg)),
			 PT_E_DENIED);
	assert_non_null(strstr(msg, "entitlement db-admin curtailed by rec-"));
	assert_non_null(strstr(msg, id));
	pt_free_secret(token);
	/* reverted by root: audited, given back, never applied again */
	q.id = id;
	assert_int_equal(call(ALICE, &q, NULL), PT_E_PERM);
	assert_int_equal(call(ROOT, &q, NULL), 0);
	audit = audit_text();
	assert_non_null(strstr(audit, "reverted: entitlement db-admin is given back"));
	free(audit);
	assert_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "db-admin"));
	token = redeem("alice");
	assert_true(carries(token, "db-admin"));
	pt_free_secret(token);
	pt_ops_auto_curtail(&d);
	assert_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "db-admin"));
	assert_int_equal(call(ROOT, &q, NULL), PT_E_NOTFOUND);
	q.id = (char *)"rec-00000000";
	assert_int_equal(call(ROOT, &q, NULL), PT_E_NOTFOUND);
}

/* The wall clock stepped a year forward (or alice's jobs stopped): no
 * redemption within the window is no evidence, so auto_curtail removes
 * nothing, not even what she used a month "ago", and recommend proposes
 * nothing. */
static void test_auto_curtail_clock_step(void **state)
{
	char *text;

	(void)state;
	history();
	now_s += 365 * DAY;
	d.cfg->usage_auto_curtail = true;
	pt_ops_auto_curtail(&d);
	assert_int_equal(pt_ops_commit(&d), 0);
	assert_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "backup"));
	assert_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "reports"));
	assert_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "db-admin"));
	text = recommend(PT_REC_TEXT, 0);
	assert_non_null(strstr(text, "proposals: 0"));
	assert_non_null(strstr(text, "no redemption in the last 30 days"));
	free(text);
	/* housekeeping saw the step (pt_ops_clock_stepped): jobs redeemed
	 * after it do not make everything used before it look unused; one
	 * window later the evidence is new and the pass judges again */
	pt_ops_clock_stepped(&d, 365 * DAY);
	persist("alice"); /* the old persistable token expired with the step */
	pt_free_secret(redeem("alice"));
	d.auto_curtail_at = 0;
	pt_ops_auto_curtail(&d);
	assert_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "backup"));
	assert_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "db-admin"));
	now_s += 31 * DAY;
	pt_free_secret(redeem("alice"));
	d.auto_curtail_at = 0;
	pt_ops_auto_curtail(&d);
	assert_non_null(pt_usage_curtailed(d.usage, "alice", "atd", PT_USAGE_ENT, "db-admin"));
}

/* ------------------------------------------------------------------ caps */

/* A cap of 4 entries for alice: the pair and 3 entitlements fit, her group
 * does not. The redemption still goes; the pair is full, recommend proposes
 * nothing for it, a report of something new is refused (PT_E_LIMIT). */
static void test_cap(void **state)
{
	const struct pt_usage_entry *p;
	char *token, *text, msg[600];

	(void)state;
	pt_usage_set_cap(d.usage, 4);
	persist("alice");
	token = redeem("alice");
	assert_int_equal(pt_usage_user_entries(d.usage, "alice"), 4);
	assert_null(pt_usage_find(d.usage, "alice", "atd", PT_USAGE_GROUP, "alice"));
	p = pt_usage_find(d.usage, "alice", "atd", PT_USAGE_PAIR, "");
	assert_non_null(p);
	assert_int_equal(p->base, 1); /* full */
	assert_int_equal(used(ALICE, token, true, "alice", msg, sizeof(msg)), PT_E_LIMIT);
	assert_non_null(strstr(msg, "is full"));
	/* what is there still counts */
	assert_int_equal(used(ALICE, token, false, "reports", NULL, 0), 0);
	pt_free_secret(token);
	days_of_jobs(1, 40, NULL, 0);
	text = recommend(PT_REC_TEXT, 0);
	assert_non_null(strstr(text, "history full"));
	assert_non_null(strstr(text, "proposals: 0"));
	free(text);
	/* the global caps hold for the decoder too: nothing above them parses */
	assert_true(pt_usage_count(d.usage) <= PT_USAGE_MAX_ENTRIES);
}

/* ------------------------------------------------------- file and journal */

static int replay_bad, replay_changed;

static void replay_line(void *u, char *line)
{
	int r = pt_usage_replay(u, line);

	replay_bad += r < 0;
	replay_changed += r > 0;
}

/* The cap lowered (usage.max_entries_per_user 256 -> 8) and tokend
 * restarted: the file's 14 entries of alice load whole, her curtailment
 * stays in force, a journaled entry is replayed; only a new use is
 * refused. */
static void test_cap_lowered(void **state)
{
	char *ents[12] = { 0 }, names[12][8], *a = NULL, err[256];
	struct pt_usage *u2 = NULL;

	(void)state;
	for (size_t i = 0; i < 12; i++) {
		snprintf(names[i], sizeof(names[i]), "e%zu", i);
		ents[i] = names[i];
	}
	assert_int_equal(pt_usage_redeemed(d.usage, "alice", "atd", ents, 12, NULL, 0, 1000), 0);
	assert_int_equal(pt_usage_curtail(d.usage, "rec-0000abcd", "alice", "atd",
					  PT_USAGE_CURTAIL_E, "e3", "used 0 times", 1, 2000),
			 0);
	assert_int_equal(pt_usage_user_entries(d.usage, "alice"), 14);
	assert_int_equal(pt_usage_to_json(d.usage, &a), 0);
	if (pt_usage_from_json(a, strlen(a), 8, &u2, err, sizeof(err)) < 0)
		fail_msg("the history does not load under a lower cap: %s", err);
	assert_int_equal(pt_usage_user_entries(u2, "alice"), 14);
	assert_non_null(pt_usage_curtailed(u2, "alice", "atd", PT_USAGE_ENT, "e3"));
	assert_int_equal(pt_usage_replay(u2, "U alice atd e e12 1000 1 1000 0"), 1);
	assert_non_null(pt_usage_find(u2, "alice", "atd", PT_USAGE_ENT, "e12"));
	assert_int_equal(pt_usage_used(u2, "alice", "atd", PT_USAGE_ENT, "e13", 3000), -ENOSPC);
	pt_usage_free(u2);
	free(a);
}

/* A damaged usage.json (it may hold curtailments in force) is kept aside
 * as usage.json.bad, never overwritten by the next flush. */
static void test_damaged_kept(void **state)
{
	char path[160], aside[170];
	struct pt_usage *u = NULL;
	uint8_t *text = NULL;
	size_t len = 0;
	bool bad = false;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/damaged.json", dir);
	snprintf(aside, sizeof(aside), "%s.bad", path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs("{\"v\":1,\"entries\":[{\"u\":", f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(pt_usage_open(path, 0, &u, &bad), 0);
	assert_true(bad);
	assert_int_equal(pt_usage_used(u, "alice", "atd", PT_USAGE_ENT, "reports", 1000), 0);
	assert_int_equal(pt_usage_flush(u), 0);
	pt_usage_free(u);
	assert_int_equal(pt_read_file(aside, 4096, &text, &len), 0);
	assert_int_equal(len, strlen("{\"v\":1,\"entries\":[{\"u\":"));
	free(text);
}

/* Users gone (idle for a year) give back their share of the cap in all,
 * unless they hold a curtailment; a user seen since stays whole. */
static void test_prune(void **state)
{
	char *ents[] = { "reports", NULL };

	(void)state;
	now_s = 1700000000;
	assert_int_equal(pt_usage_redeemed(d.usage, "alice", "atd", ents, 1, NULL, 0, now_s), 0);
	assert_int_equal(pt_usage_redeemed(d.usage, "carol", "atd", ents, 1, NULL, 0, now_s), 0);
	assert_int_equal(pt_usage_curtail(d.usage, "rec-0000abcd", "carol", "atd",
					  PT_USAGE_CURTAIL_E, "reports", "used 0 times", 1, now_s),
			 0);
	assert_int_equal(pt_usage_redeemed(d.usage, "bob", "atd", ents, 1, NULL, 0, now_s), 0);
	now_s += 200 * DAY;
	assert_int_equal(pt_usage_used(d.usage, "bob", "atd", PT_USAGE_ENT, "reports", now_s), 0);
	pt_ops_usage_prune(&d); /* 200 days: nobody gone yet */
	assert_int_equal(pt_usage_count(d.usage), 7);
	now_s += 300 * DAY;
	d.usage_prune_at = 0;
	pt_ops_usage_prune(&d);
	assert_int_equal(pt_usage_user_entries(d.usage, "alice"), 0);
	assert_int_equal(pt_usage_user_entries(d.usage, "bob"), 2);
	assert_int_equal(pt_usage_user_entries(d.usage, "carol"), 3);
	assert_non_null(pt_usage_curtailed(d.usage, "carol", "atd", PT_USAGE_ENT, "reports"));
	assert_int_equal(pt_ops_commit(&d), 0);
	assert_int_equal(pt_usage_flush(d.usage), 0);
}

static void test_file_and_journal(void **state)
{
	struct pt_usage *u2 = NULL, *u3 = NULL;
	struct pt_journal *j = NULL;
	char *a = NULL, *b = NULL, path[128], err[256];
	static const char *const bad[][2] = {
		{ "{\"v\":2,\"entries\":[]}", "\"v\" is not 1" },
		{ "{\"v\":1}", "not an object with the two keys" },
		{ "{\"v\":1,\"entries\":[{\"u\":\"a\",\"h\":\"atd\",\"k\":\"q\",\"n\":\"x\","
		  "\"f\":1,\"c\":0,\"l\":0,\"b\":0}]}",
		  "entries[0].k" },
		{ "{\"v\":1,\"entries\":[{\"u\":\"a\",\"h\":\"atd\",\"k\":\"e\",\"n\":\"x\","
		  "\"f\":-1,\"c\":0,\"l\":0,\"b\":0}]}",
		  "entries[0].f" },
		{ "{\"v\":1,\"entries\":[{\"u\":\"a b\",\"h\":\"atd\",\"k\":\"e\",\"n\":\"x\","
		  "\"f\":1,\"c\":0,\"l\":0,\"b\":0}]}",
		  "invalid user" },
		{ "{\"v\":1,\"entries\":[{\"u\":\"a\",\"h\":\"atd\",\"k\":\"x\",\"n\":\"x\","
		  "\"f\":1,\"c\":0,\"l\":0,\"b\":0,\"id\":\"rec-zz\",\"note\":\"n\"}]}",
		  "entries[0].id" },
		{ "[", "not a JSON document" },
	};

	(void)state;
	history();
	d.cfg->usage_auto_curtail = true;
	pt_ops_auto_curtail(&d);
	assert_int_equal(pt_usage_to_json(d.usage, &a), 0);
	assert_int_equal(pt_usage_from_json(a, strlen(a), 0, &u2, err, sizeof(err)), 0);
	assert_int_equal(pt_usage_to_json(u2, &b), 0);
	assert_string_equal(a, b);
	free(b);
	b = NULL;
	for (size_t i = 0; i < PT_ELEMENTSOF(bad); i++) {
		struct pt_usage *x = NULL;

		assert_true(pt_usage_from_json(bad[i][0], strlen(bad[i][0]), 0, &x, err,
					       sizeof(err)) < 0);
		assert_null(x);
		if (!strstr(err, bad[i][1]))
			fail_msg("bad[%zu]: \"%s\", expected \"%s\"", i, err, bad[i][1]);
	}
	/* the journal's lines rebuild the same history from nothing */
	snprintf(path, sizeof(path), "%s/j", dir);
	assert_int_equal(pt_journal_open(path, &j), 0);
	assert_int_equal(pt_usage_open(NULL, 0, &u3, NULL), 0);
	/* every entry as changed, as after a round that touched them all */
	for (size_t i = 0; i < pt_usage_count(u2); i++)
		((struct pt_usage_entry *)pt_usage_at(u2, i))->unjournaled = true;
	assert_int_equal(pt_usage_used(u2, "alice", "atd", PT_USAGE_ENT, "reports", now_s), 0);
	assert_int_equal(pt_usage_journal(u2, j), 0);
	assert_int_equal(pt_journal_sync(j), 0);
	pt_journal_free(j);
	assert_int_equal(pt_journal_open(path, &j), 0);
	replay_bad = 0;
	assert_int_equal(pt_journal_replay(j, replay_line, u3), 0);
	assert_int_equal(replay_bad, 0);
	free(a);
	assert_int_equal(pt_usage_to_json(u2, &a), 0);
	assert_int_equal(pt_usage_to_json(u3, &b), 0);
	assert_string_equal(a, b);
	/* replaying again changes nothing (a line only raises) */
	replay_changed = 0;
	assert_int_equal(pt_journal_replay(j, replay_line, u3), 0);
	assert_int_equal(replay_changed, 0);
	assert_true(pt_usage_replay(u3, "U alice atd e reports") < 0);
	assert_true(pt_usage_replay(u3, "U alice atd r x 1 1 1 0") < 0);
	pt_journal_free(j);
	pt_usage_free(u2);
	pt_usage_free(u3);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_observation_and_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_baseline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_curtails_older_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_curtail_and_revert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_curtail_clock_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_lowered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_and_journal, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
