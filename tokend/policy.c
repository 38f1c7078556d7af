/* SPDX-License-Identifier: MIT */
/*
 * Policy evaluation: pure functions of the config and a context the caller
 * resolved at evaluation time.
 *
 * A rule applies when its actors, users, holders and groups lists match
 * (an empty list or "*" matches anything; holders are ignored when the
 * context has no holder), and so do its token_services, token_actors and
 * token_entitlements lists over what the persistable token recorded at
 * issuance (without a token only empty or "*" lists match). The first rule
 * that applies decides. When none applies the answer is deny; if an allow
 * rule matched everything but the user's groups, the denial names that rule
 * ("user alice is not in any of the groups ...") so the log says which rule
 * the user fell out of; the same for a rule's time window (hours, days:
 * local time of ctx->now). A deciding allow rule still denies when the
 * account fails its checks (check_account), the token was idle longer than
 * its idle, is older than its max_age, or was redeemed max_uses times
 * already, or the user max_redemptions_per_day times today (these two
 * count redemptions: a job's refresh of its live token is not one).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "util.h"

static bool strv_has(char *const *v, size_t n, const char *s);

static bool list_has(char *const *v, size_t n, const char *s)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], "*") == 0 || (s && strcmp(v[i], s) == 0))
			return true;
	return false;
}

static const struct pt_actor *match_actor(const struct pt_config *cfg, uid_t uid, const char *exe,
					  bool any_service, const char *service)
{
	if (!cfg)
		return NULL;
	for (size_t i = 0; i < cfg->n_actors; i++) {
		const struct pt_actor *a = &cfg->actors[i];
		bool exe_ok = false;

		if (a->uid != uid)
			continue;
		for (size_t j = 0; j < a->n_exe && !exe_ok; j++)
			exe_ok =
				strcmp(a->exe[j], "*") == 0 || (exe && strcmp(a->exe[j], exe) == 0);
		if (!exe_ok)
			continue;
		if (!any_service && a->n_services > 0 &&
		    !(service && list_has(a->services, a->n_services, service)))
			continue;
		return a;
	}
	return NULL;
}

const struct pt_actor *pt_policy_match_actor(const struct pt_config *cfg, uid_t uid,
					     const char *exe, const char *service)
{
	return match_actor(cfg, uid, exe, false, service);
}

bool pt_policy_is_actor(const struct pt_config *cfg, uid_t uid, const char *exe)
{
	return match_actor(cfg, uid, exe, true, NULL) != NULL;
}

static bool groups_match(const struct pt_rule *r, const struct pt_policy_ctx *ctx)
{
	if (r->n_groups == 0)
		return true;
	for (size_t i = 0; i < r->n_groups; i++) {
		if (strcmp(r->groups[i], "*") == 0)
			return true;
		for (size_t j = 0; j < ctx->n_groups; j++)
			if (ctx->groups[j] && strcmp(r->groups[i], ctx->groups[j]) == 0)
				return true;
	}
	return false;
}

/* token_entitlements: the token records at least one of them (empty or "*":
 * any token, even one that records none). */
static bool token_ents_match(const struct pt_rule *r, const struct pt_policy_ctx *ctx)
{
	if (r->n_token_entitlements == 0)
		return true;
	for (size_t i = 0; i < r->n_token_entitlements; i++) {
		if (strcmp(r->token_entitlements[i], "*") == 0)
			return true;
		for (size_t j = 0; j < ctx->n_token_entitlements; j++)
			if (ctx->token_entitlements[j] &&
			    strcmp(r->token_entitlements[i], ctx->token_entitlements[j]) == 0)
				return true;
	}
	return false;
}

static uint64_t ctx_now(const struct pt_policy_ctx *ctx)
{
	return ctx->now ? ctx->now : (uint64_t)time(NULL);
}

/* Is ctx->now inside the rule's hours and days (local time)? A window that
 * wraps midnight ("22:00-06:00") belongs to the day it starts on. */
static bool window_match(const struct pt_rule *r, const struct pt_policy_ctx *ctx)
{
	time_t t;
	struct tm tm;
	unsigned min;
	int wday;

	if (!r->has_hours && r->days == 0)
		return true;
	t = (time_t)ctx_now(ctx);
	if (!localtime_r(&t, &tm))
		return false;
	min = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
	wday = tm.tm_wday;
	if (r->has_hours) {
		if (r->hours_from < r->hours_to) {
			if (min < r->hours_from || min >= r->hours_to)
				return false;
		} else if (min >= r->hours_to && min < r->hours_from) {
			return false;
		} else if (min < r->hours_to) {
			wday = (wday + 6) % 7; /* the early part of a window begun yesterday */
		}
	}
	return r->days == 0 || (r->days & (1u << wday)) != 0;
}

static void join(char *const *v, size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int k = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", v[i]);
		if (k < 0)
			break;
		off += (size_t)k;
	}
}

static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

void pt_policy_window_text(const struct pt_rule *r, char *buf, size_t len)
{
	size_t off = 0;
	int k;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (r->has_hours) {
		k = snprintf(buf, len, "hours %02u:%02u-%02u:%02u", r->hours_from / 60u,
			     r->hours_from % 60u, r->hours_to / 60u, r->hours_to % 60u);
		off = k > 0 ? (size_t)k : 0;
	}
	if (r->days && off < len) {
		k = snprintf(buf + off, len - off, "%sdays ", off ? ", " : "");
		off += k > 0 ? (size_t)k : 0;
		for (int d = 0, first = 1; d < 7 && off < len; d++) {
			int i = (d + 1) % 7; /* monday first */
			if (!(r->days & (1u << i)))
				continue;
			k = snprintf(buf + off, len - off, "%s%s", first ? "" : ",", day_names[i]);
			off += k > 0 ? (size_t)k : 0;
			first = 0;
		}
	}
}

static void effects(const struct pt_config *cfg, const struct pt_rule *r, struct pt_decision *d)
{
	uint64_t live = r && r->live_lifetime ? r->live_lifetime : cfg->live_lifetime;
	uint64_t persist = r && r->persist_lifetime ? r->persist_lifetime : cfg->persist_lifetime;

	d->live_lifetime = live > cfg->max_live_lifetime ? cfg->max_live_lifetime : live;
	d->persist_lifetime =
		persist > cfg->max_persist_lifetime ? cfg->max_persist_lifetime : persist;
	d->max_outstanding = r && r->max_outstanding ? r->max_outstanding : cfg->max_outstanding;
	d->persist_from_rule = r && r->persist_lifetime;
}

/* Why a rule does not apply (NULL: it applies), and whether that is a near
 * miss (it selects the request but fails on groups or its time window). */
static const char *mismatch(const struct pt_rule *r, const struct pt_policy_ctx *ctx,
			    bool *ret_near)
{
	bool has_holder = ctx->holder && ctx->holder[0];

	*ret_near = false;
	if (!list_has(r->actors, r->n_actors, ctx->actor))
		return "actor";
	if (!list_has(r->users, r->n_users, ctx->user))
		return "user";
	if (has_holder && !list_has(r->holders, r->n_holders, ctx->holder))
		return "holder";
	/* the persistable token's recorded content (no token: only empty or "*") */
	if (!list_has(r->token_services, r->n_token_services,
		      ctx->has_token ? ctx->token_service : NULL))
		return "token_service";
	if (!list_has(r->token_actors, r->n_token_actors, ctx->has_token ? ctx->token_actor : NULL))
		return "token_actor";
	if (!(ctx->has_token ? token_ents_match(r, ctx) :
			       list_has(r->token_entitlements, r->n_token_entitlements, NULL)))
		return "token_entitlements";
	*ret_near = r->action == PT_ACTION_ALLOW;
	if (!groups_match(r, ctx))
		return "groups";
	if (!window_match(r, ctx))
		return "window";
	return NULL;
}

/* The reason a deciding (matching) rule gives; sets ret->allow. */
static void decide(const struct pt_rule *r, const struct pt_policy_ctx *ctx, const char *user,
		   struct pt_decision *ret)
{
	uint64_t now = ctx_now(ctx);
	char a[32];

	if (r->action == PT_ACTION_DENY) {
		snprintf(ret->reason, sizeof(ret->reason),
			 "rule \"%s\" (line %d) denies: it is a deny rule", r->name, r->line);
		return;
	}
	/* check_account: removed, or expired (shadow's expiry date: Debian's way
	 * to disable an account, usermod -e 1, chage -E 0). A '!' password field
	 * is no password (useradd, adduser --disabled-password, SSH-key users)
	 * as often as a lock, so it counts only with check_password_lock. */
	if (r->check_account || r->check_password_lock) {
		const char *why =
			!ctx->user_exists			      ? "does not exist" :
			r->check_account && ctx->account_expired      ? "has expired" :
			r->check_password_lock && ctx->account_locked ? "has a locked password" :
									NULL;
		if (why) {
			snprintf(ret->reason, sizeof(ret->reason),
				 "rule \"%s\" (line %d): account %s %s", r->name, r->line, user,
				 why);
			return;
		}
	}
	if (ctx->has_token && r->idle) {
		uint64_t last = ctx->token_last_used > ctx->token_iat ? ctx->token_last_used :
									ctx->token_iat;
		if (now > last && now - last >= r->idle) {
			snprintf(a, sizeof(a), "%" PRIu64 "s", r->idle);
			snprintf(ret->reason, sizeof(ret->reason),
				 "rule \"%s\" (line %d) denies: the token was not redeemed for "
				 "%" PRIu64 "s (idle %s): it is dead",
				 r->name, r->line, now - last, a);
			ret->idle_expired = true;
			return;
		}
	}
	if (ctx->has_token && r->max_age && now > ctx->token_iat &&
	    now - ctx->token_iat >= r->max_age) {
		snprintf(ret->reason, sizeof(ret->reason),
			 "rule \"%s\" (line %d) denies: the token was issued %" PRIu64
			 "s ago (max_age %" PRIu64 "s)",
			 r->name, r->line, now - ctx->token_iat, r->max_age);
		return;
	}
	if (ctx->has_token && r->max_uses && !ctx->refresh && ctx->token_uses >= r->max_uses) {
		snprintf(ret->reason, sizeof(ret->reason),
			 "rule \"%s\" (line %d) denies: the token was redeemed %" PRIu32
			 " times (max_uses %" PRIu32 ")",
			 r->name, r->line, ctx->token_uses, r->max_uses);
		return;
	}
	if (r->max_redemptions_per_day && !ctx->refresh &&
	    ctx->redemptions_today >= r->max_redemptions_per_day) {
		snprintf(ret->reason, sizeof(ret->reason),
			 "rule \"%s\" (line %d) denies: user %s redeemed %" PRIu32
			 " times today (max_redemptions_per_day %" PRIu32 ")",
			 r->name, r->line, user, ctx->redemptions_today,
			 r->max_redemptions_per_day);
		return;
	}
	ret->allow = true;
	snprintf(ret->reason, sizeof(ret->reason), "rule \"%s\" (line %d) allows", r->name,
		 r->line);
}

static void near_miss(const struct pt_config *cfg, const struct pt_rule *near, const char *why,
		      const struct pt_policy_ctx *ctx, const char *user, struct pt_decision *ret)
{
	char text[160];

	ret->rule = near;
	effects(cfg, near, ret);
	if (strcmp(why, "window") == 0) {
		pt_policy_window_text(near, text, sizeof(text));
		snprintf(ret->reason, sizeof(ret->reason),
			 "rule \"%s\" (line %d) denies: outside its time window (%s)", near->name,
			 near->line, text);
	} else if (near->check_account && !ctx->user_exists)
		snprintf(ret->reason, sizeof(ret->reason),
			 "rule \"%s\" (line %d): account %s does not exist", near->name, near->line,
			 user);
	else {
		join(near->groups, near->n_groups, text, sizeof(text));
		snprintf(ret->reason, sizeof(ret->reason),
			 "rule \"%s\" (line %d) denies: user %s is not in any "
			 "of the groups %s",
			 near->name, near->line, user, text);
	}
}

/* The evaluation; trace (may be NULL) gets one line per rule looked at. */
struct trace {
	char *buf;
	size_t len, off;
};

static void tracef(struct trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tracef(struct trace *t, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (!t || t->off >= t->len)
		return;
	va_start(ap, fmt);
	k = vsnprintf(t->buf + t->off, t->len - t->off, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if ((size_t)k >= t->len - t->off) {
		t->off = t->len;
		if (t->len >= 5)
			memcpy(t->buf + t->len - 5, "...\n", 5);
		return;
	}
	t->off += (size_t)k;
}

static void trace_mismatch(struct trace *t, const struct pt_rule *r, const char *why,
			   const struct pt_policy_ctx *ctx)
{
	char list[160];

	if (!t)
		return;
	if (strcmp(why, "actor") == 0) {
		join(r->actors, r->n_actors, list, sizeof(list));
		tracef(t, "  no: actor %s is not one of %s\n", ctx->actor ? ctx->actor : "(none)",
		       list);
	} else if (strcmp(why, "user") == 0) {
		join(r->users, r->n_users, list, sizeof(list));
		tracef(t, "  no: user %s is not one of %s\n", ctx->user ? ctx->user : "", list);
	} else if (strcmp(why, "holder") == 0) {
		join(r->holders, r->n_holders, list, sizeof(list));
		tracef(t, "  no: holder %s is not one of %s\n", ctx->holder, list);
	} else if (strcmp(why, "token_service") == 0) {
		join(r->token_services, r->n_token_services, list, sizeof(list));
		tracef(t, "  no: token service %s is not one of %s\n",
		       ctx->has_token && ctx->token_service ? ctx->token_service : "(none)", list);
	} else if (strcmp(why, "token_actor") == 0) {
		join(r->token_actors, r->n_token_actors, list, sizeof(list));
		tracef(t, "  no: token actor %s is not one of %s\n",
		       ctx->has_token && ctx->token_actor ? ctx->token_actor : "(none)", list);
	} else if (strcmp(why, "token_entitlements") == 0) {
		char has[160];

		join(r->token_entitlements, r->n_token_entitlements, list, sizeof(list));
		join((char *const *)ctx->token_entitlements,
		     ctx->has_token ? ctx->n_token_entitlements : 0, has, sizeof(has));
		tracef(t, "  no: token entitlements [%s] include none of %s\n", has, list);
	} else if (strcmp(why, "groups") == 0) {
		join(r->groups, r->n_groups, list, sizeof(list));
		tracef(t, "  no: user is in none of the groups %s\n", list);
	} else {
		pt_policy_window_text(r, list, sizeof(list));
		tracef(t, "  no: the time is outside its window (%s)\n", list);
	}
}

static void eval(const struct pt_config *cfg, const struct pt_rule *rules, size_t n_rules,
		 const struct pt_policy_ctx *ctx, struct pt_decision *ret, struct trace *t)
{
	const struct pt_rule *near = NULL;
	const char *near_why = NULL;
	const char *user = ctx && ctx->user ? ctx->user : "";

	memset(ret, 0, sizeof(*ret));
	ret->allow = false;
	if (!cfg || !ctx) {
		snprintf(ret->reason, sizeof(ret->reason), "no policy to evaluate");
		tracef(t, "decision: deny: %s\n", ret->reason);
		return;
	}

	for (size_t i = 0; i < n_rules; i++) {
		const struct pt_rule *r = &rules[i];
		bool is_near;
		const char *why;

		if (r->curtail) {
			/* never decides: applied to the claims (pt_policy_curtailer) */
			tracef(t, "rule \"%s\" (line %d, curtail): %s\n", r->name, r->line,
			       list_has(r->users, r->n_users, ctx->user) &&
					       list_has(r->holders, r->n_holders, ctx->holder) ?
				       "matches: removes from the live token after the decision" :
				       "does not match user or holder");
			continue;
		}
		why = mismatch(r, ctx, &is_near);

		tracef(t, "rule \"%s\" (line %d, %s):\n", r->name, r->line,
		       r->action == PT_ACTION_DENY ? "deny" : "allow");
		if (why) {
			trace_mismatch(t, r, why, ctx);
			if (is_near && !near) {
				near = r;
				near_why = why;
			}
			continue;
		}
		ret->rule = r;
		effects(cfg, r, ret);
		decide(r, ctx, user, ret);
		tracef(t, "  matches: it decides (first match wins)\n");
		tracef(t, "decision: %s: %s\n", ret->allow ? "allow" : "deny", ret->reason);
		return;
	}

	if (near) {
		near_miss(cfg, near, near_why, ctx, user, ret);
		tracef(t, "decision: deny: %s\n", ret->reason);
		return;
	}

	effects(cfg, NULL, ret);
	{
		bool has_holder = ctx->holder && ctx->holder[0];
		snprintf(ret->reason, sizeof(ret->reason),
			 "no rule matched (user %s, actor %s%s%s)", user,
			 ctx->actor ? ctx->actor : "none", has_holder ? ", holder " : "",
			 has_holder ? ctx->holder : "");
	}
	tracef(t, "decision: deny: %s\n", ret->reason);
}

void pt_policy_eval(const struct pt_config *cfg, const struct pt_rule *rules, size_t n_rules,
		    const struct pt_policy_ctx *ctx, struct pt_decision *ret)
{
	eval(cfg, rules, n_rules, ctx, ret, NULL);
}

size_t pt_policy_explain(const struct pt_config *cfg, const struct pt_rule *rules, size_t n_rules,
			 const struct pt_policy_ctx *ctx, struct pt_decision *ret, char *buf,
			 size_t len)
{
	struct trace t = { .buf = buf, .len = len, .off = 0 };

	if (!buf || len == 0) {
		eval(cfg, rules, n_rules, ctx, ret, NULL);
		return 0;
	}
	buf[0] = '\0';
	eval(cfg, rules, n_rules, ctx, ret, &t);
	return t.off >= len ? strlen(buf) : t.off;
}

const struct pt_rule *pt_policy_curtailer(const struct pt_config *cfg, const char *user,
					  const char *holder, bool group, const char *name,
					  size_t *io_from)
{
	for (size_t i = io_from ? *io_from : 0; cfg && i < cfg->n_redeem; i++) {
		const struct pt_rule *r = &cfg->redeem[i];

		if (!r->curtail || !list_has(r->users, r->n_users, user) ||
		    !list_has(r->holders, r->n_holders, holder))
			continue;
		if (name &&
		    !(group ? strv_has(r->groups_remove, r->n_groups_remove, name) ||
				      strv_has(r->groups_remove, r->n_groups_remove, "*") :
			      strv_has(r->entitlements_remove, r->n_entitlements_remove, name) ||
				      strv_has(r->entitlements_remove, r->n_entitlements_remove,
					       "*")))
			continue;
		if (io_from)
			*io_from = i + 1;
		return r;
	}
	return NULL;
}

void pt_policy_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

int pt_policy_apply_lists(char *const *base, size_t n_base, char *const *add, size_t n_add,
			  char *const *remove, size_t n_remove, char ***ret, size_t *ret_n)
{
	bool all = strv_has(remove, n_remove, "*");
	char **v;
	size_t n = 0;

	v = calloc(n_base + n_add + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t pass = 0; pass < 2; pass++) {
		char *const *src = pass == 0 ? base : add;
		size_t m = pass == 0 ? n_base : n_add;

		for (size_t i = 0; i < m; i++) {
			if (pass == 0 && (all || strv_has(remove, n_remove, src[i])))
				continue;
			if (strv_has(v, n, src[i]))
				continue;
			v[n] = strdup(src[i]);
			if (!v[n]) {
				pt_policy_strv_free(v, n);
				return -ENOMEM;
			}
			n++;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ------------------------------------------------------------ decisions */

static void ctx_from(struct pt_policy_ctx *ctx, const char *actor, const char *user,
		     const char *holder, const struct pt_policy_account *acct,
		     const struct pt_policy_token *tok, uint64_t now)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->actor = actor;
	ctx->user = user;
	ctx->holder = holder;
	ctx->now = now;
	ctx->user_exists = acct && acct->exists;
	if (ctx->user_exists) {
		ctx->groups = acct->groups;
		ctx->n_groups = acct->n_groups;
		ctx->account_locked = acct->locked;
		ctx->account_expired = acct->expired;
	}
	if (tok) {
		ctx->has_token = true;
		ctx->token_iat = tok->iat;
		ctx->token_last_used = tok->last_used;
		ctx->token_uses = tok->uses;
		ctx->token_service = tok->service;
		ctx->token_actor = tok->actor;
		ctx->token_entitlements = tok->entitlements;
		ctx->n_token_entitlements = tok->n_entitlements;
	}
}

static void iso_utc(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%" PRIu64, t);
}

size_t pt_policy_redeem(const struct pt_config *cfg, const struct pt_redeem_input *in,
			struct pt_redeem_decision *ret, char *buf, size_t len)
{
	struct trace t = { .buf = buf, .len = len, .off = 0 }, *tp = buf && len ? &t : NULL;
	const struct pt_policy_token *tok = in->token;
	struct pt_policy_account acct = { 0 };
	struct pt_policy_ctx ctx;
	struct pt_redeem_decision d = { .outcome = PT_OUTCOME_DENIED };
	const char *user = in->user ? in->user : "";
	char when[64];

	if (tp)
		buf[0] = '\0';
	if (in->account)
		acct = *in->account;
	/* the name now belongs to another account: never hand it the old identity */
	if (acct.exists && tok && acct.uid != tok->uid) {
		d.account_mismatch = true;
		acct.exists = false;
	}
	/* late binding: the rules in force now, against the account as it is now */
	ctx_from(&ctx, in->actor, in->user, in->holder, &acct, tok, in->now);
	ctx.redemptions_today = in->redemptions_today;
	ctx.refresh = in->refresh;
	eval(cfg, cfg ? cfg->redeem : NULL, cfg ? cfg->n_redeem : 0, &ctx, &d.dec, tp);
	if (!tok) {
		d.outcome = PT_OUTCOME_NOTFOUND;
		d.dec.allow = false;
		d.dec.rule = NULL;
		snprintf(d.dec.reason, sizeof(d.dec.reason), "no persistable token");
		tracef(tp, "but: there is no persistable token for user %s and holder %s: deny\n",
		       user, in->holder ? in->holder : "");
		goto done;
	}
	if (tok->exp <= in->now) {
		d.outcome = PT_OUTCOME_INVALID;
		d.dec.allow = false;
		d.dec.rule = NULL;
		snprintf(d.dec.reason, sizeof(d.dec.reason), "persistable token expired");
		tracef(tp, "but: the persistable token has expired by then: deny\n");
		goto done;
	}
	if (d.dec.allow && !acct.exists) {
		d.dec.allow = false;
		d.dec.rule = NULL; /* no rule refused it: the account did */
		snprintf(d.dec.reason, sizeof(d.dec.reason),
			 "user %s no longer exists (or changed uid)", user);
		tracef(tp, "but: user %s no longer exists (or changed uid): deny\n", user);
	}
	if (d.dec.allow && d.dec.persist_from_rule) {
		/* the rule moves the persistable token's expiry (from its iat) */
		d.new_exp = tok->iat + d.dec.persist_lifetime;
		iso_utc(d.new_exp, when, sizeof(when));
		tracef(tp,
		       "persistable token: persist_lifetime %" PRIu64
		       "s moves its expiry to %s%s\n",
		       d.dec.persist_lifetime, when,
		       d.new_exp <= in->now ? " (already passed: deny)" : "");
		if (d.new_exp <= in->now) {
			d.dec.allow = false;
			snprintf(d.dec.reason, sizeof(d.dec.reason),
				 "rule \"%s\" (line %d): persist_lifetime ends the persistable "
				 "token before now",
				 d.dec.rule->name, d.dec.rule->line);
		} else
			d.move_exp = tok->exp != d.new_exp;
	}
	d.outcome = d.dec.allow ? PT_OUTCOME_ALLOW : PT_OUTCOME_DENIED;
done:
	if (!d.dec.allow)
		d.move_exp = false;
	tracef(tp, "redemption: %s: %s\n", d.dec.allow ? "allow" : "deny", d.dec.reason);
	*ret = d;
	if (!tp)
		return 0;
	return t.off >= len ? strlen(buf) : t.off;
}

static void refuse(struct pt_exchange_decision *d, enum pt_outcome o, bool suspicious,
		   const char *log_id, const char *message)
{
	d->outcome = o;
	d->dec.allow = false;
	d->suspicious = suspicious;
	d->log_id = log_id;
	snprintf(d->message, sizeof(d->message), "%s", message);
}

/* The latest expiry a renewal of src may get: its issue time plus
 * max_persist_lifetime, or plus the max_age of the redeem rule that decides
 * its redemptions now, whichever comes first. */
static uint64_t renewal_cap(const struct pt_config *cfg, const struct pt_exchange_input *in,
			    const struct pt_policy_token *src, const char **ret_by)
{
	struct pt_policy_ctx rctx;
	struct pt_decision rdec;
	uint64_t cap = src->iat + cfg->max_persist_lifetime;

	*ret_by = "max_persist_lifetime";
	if (cap < src->iat)
		cap = UINT64_MAX;
	ctx_from(&rctx, src->holder, in->user, src->holder, in->account, src, in->now);
	eval(cfg, cfg->redeem, cfg->n_redeem, &rctx, &rdec, NULL);
	if (rdec.rule && rdec.rule->max_age && src->iat + rdec.rule->max_age > src->iat &&
	    src->iat + rdec.rule->max_age < cap) {
		cap = src->iat + rdec.rule->max_age;
		*ret_by = "max_age";
	}
	return cap;
}

size_t pt_policy_exchange(const struct pt_config *cfg, const struct pt_exchange_input *in,
			  struct pt_exchange_decision *ret, char *buf, size_t len)
{
	struct trace t = { .buf = buf, .len = len, .off = 0 }, *tp = buf && len ? &t : NULL;
	struct pt_exchange_decision d = { .outcome = PT_OUTCOME_DENIED };
	const struct pt_policy_token *src = in->source;
	const struct pt_rule *r;
	struct pt_policy_ctx ctx;
	char msg[512], detail[300];
	const char *user = in->user ? in->user : "", *holder = in->holder ? in->holder : "";
	const char *cap_by = NULL;
	uint64_t lifetime, cap = 0;

	if (tp)
		buf[0] = '\0';
	if (!in->holder_known) {
		snprintf(d.reason, sizeof(d.reason), "unknown holder");
		snprintf(msg, sizeof(msg), "holder %s is not a configured actor", holder);
		refuse(&d, PT_OUTCOME_DENIED, false, NULL, msg);
		goto out;
	}
	if (!in->account || !in->account->exists || in->account->uid != in->uid) {
		snprintf(d.reason, sizeof(d.reason), "user no longer exists or changed uid");
		snprintf(msg, sizeof(msg), "user %s no longer exists or changed uid", user);
		refuse(&d, PT_OUTCOME_NOTFOUND, false, NULL, msg);
		goto out;
	}
	ctx_from(&ctx, in->actor, in->user, in->holder, in->account, NULL, in->now);
	eval(cfg, cfg->issue, cfg->n_issue, &ctx, &d.dec, tp);
	r = d.dec.rule;
	if (in->redeemed && (!d.dec.allow || !r->renew_from_redeemed)) {
		/* only a login mints a live token that can be exchanged (default) */
		if (d.dec.allow)
			snprintf(detail, sizeof(detail),
				 "rule \"%s\" (line %d) does not set renew_from_redeemed", r->name,
				 r->line);
		else
			snprintf(detail, sizeof(detail), "%s", d.dec.reason);
		snprintf(d.reason, sizeof(d.reason),
			 "live token minted by a redemption, not a login: %s", detail);
		snprintf(msg, sizeof(msg),
			 "only a live token minted at login can be exchanged; this one was "
			 "minted by a redemption of %s (%s)",
			 in->ptk ? in->ptk : "a persistable token", detail);
		refuse(&d, PT_OUTCOME_DENIED, true, in->ptk, msg);
		goto out;
	}
	if (!d.dec.allow) {
		snprintf(d.reason, sizeof(d.reason), "%s", d.dec.reason);
		refuse(&d, PT_OUTCOME_DENIED, false, NULL, d.dec.reason);
		goto out;
	}
	if (in->redeemed) {
		/* a renewal of that very token: same user and holder, stored, unexpired */
		if (!src) {
			snprintf(d.reason, sizeof(d.reason),
				 "renewal from redeemed token: its persistable token no longer "
				 "exists");
			snprintf(msg, sizeof(msg),
				 "the persistable token this live token was redeemed from (%s) no "
				 "longer exists: log in again",
				 in->ptk ? in->ptk : "-");
			refuse(&d, PT_OUTCOME_NOTFOUND, false, in->ptk, msg);
			goto out;
		}
		if (src->uid != in->uid || strcmp(src->user, user) != 0 ||
		    strcmp(src->holder, holder) != 0) {
			snprintf(d.reason, sizeof(d.reason),
				 "renewal from redeemed token: another user or holder than its "
				 "persistable token's");
			snprintf(msg, sizeof(msg),
				 "a live token redeemed from %s may only renew that token (holder "
				 "%s), not one for holder %s",
				 src->id, src->holder, holder);
			refuse(&d, PT_OUTCOME_DENIED, true, src->id, msg);
			goto out;
		}
		if (src->exp <= in->now) {
			snprintf(d.reason, sizeof(d.reason),
				 "renewal from redeemed token: persistable token expired");
			snprintf(msg, sizeof(msg), "the persistable token %s expired", src->id);
			refuse(&d, PT_OUTCOME_INVALID, false, src->id, msg);
			goto out;
		}
		cap = renewal_cap(cfg, in, src, &cap_by);
		if (cap <= in->now) {
			snprintf(d.reason, sizeof(d.reason),
				 "renewal from redeemed token: past its maximum lifetime "
				 "(max_persist_lifetime or max_age from its issue)");
			snprintf(msg, sizeof(msg),
				 "the persistable token %s reached its maximum lifetime "
				 "(max_persist_lifetime or max_age): log in again",
				 src->id);
			refuse(&d, PT_OUTCOME_LIMIT, false, src->id, msg);
			goto out;
		}
	}
	if (!in->has_slot && d.dec.max_outstanding && in->outstanding >= d.dec.max_outstanding) {
		snprintf(d.reason, sizeof(d.reason), "max outstanding tokens reached");
		snprintf(msg, sizeof(msg),
			 "user %s already has %u persistable tokens (max_outstanding)", user,
			 d.dec.max_outstanding);
		refuse(&d, PT_OUTCOME_LIMIT, false, NULL, msg);
		goto out;
	}
	if (r->rate_n && in->rate_take && !in->rate_take(in->userdata, user, r)) {
		snprintf(d.reason, sizeof(d.reason), "issue rate limit reached");
		snprintf(msg, sizeof(msg),
			 "user %s reached the issue rate of rule \"%s\" (%u per %llus)", user,
			 r->name, r->rate_n, (unsigned long long)r->rate_period);
		refuse(&d, PT_OUTCOME_LIMIT, false, NULL, msg);
		goto out;
	}
	lifetime = d.dec.persist_lifetime;
	if (in->requested_lifetime && in->requested_lifetime < lifetime)
		lifetime = in->requested_lifetime;
	d.outcome = PT_OUTCOME_ALLOW;
	d.exp = in->now + lifetime;
	snprintf(d.reason, sizeof(d.reason), "%s", d.dec.reason);
	if (in->redeemed) {
		bool capped = d.exp > cap;

		d.renew_source = true;
		d.log_id = src->id;
		if (capped)
			d.exp = cap;
		snprintf(d.reason, sizeof(d.reason),
			 "renewal from redeemed token: rule \"%s\" (line %d) sets "
			 "renew_from_redeemed%s%s",
			 r->name, r->line, capped ? "; expiry capped at its issue time + " : "",
			 capped ? cap_by : "");
	}
out:
	tracef(tp, "exchange: %s: %s\n", d.outcome == PT_OUTCOME_ALLOW ? "allow" : "deny",
	       d.outcome == PT_OUTCOME_ALLOW ? d.reason : d.message);
	*ret = d;
	if (!tp)
		return 0;
	return t.off >= len ? strlen(buf) : t.off;
}
