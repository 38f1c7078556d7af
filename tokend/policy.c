/* SPDX-License-Identifier: MIT */
/*
 * Policy evaluation: pure functions of the config and a context the caller
 * resolved at evaluation time.
 *
 * A rule applies when its actors, users, holders and groups lists match
 * (an empty list or "*" matches anything; holders are ignored when the
 * context has no holder). The first rule that applies decides. When none
 * applies the answer is deny; if an allow rule matched everything but the
 * user's groups, the denial names that rule ("user alice is not in any of
 * the groups ...") so the log says which rule the user fell out of.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "config.h" /* tokend/config.h */

#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "util.h"

static bool list_has(char *const *v, size_t n, const char *s)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], "*") == 0 || (s && strcmp(v[i], s) == 0))
			return true;
	return false;
}

const struct pt_actor *pt_policy_match_actor(const struct pt_config *cfg, uid_t uid,
					     const char *exe, const char *service)
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
		if (a->n_services > 0 &&
		    !(service && list_has(a->services, a->n_services, service)))
			continue;
		return a;
	}
	return NULL;
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

/* Does the rule select this request (everything but the groups)? */
static bool selects(const struct pt_rule *r, const struct pt_policy_ctx *ctx)
{
	bool has_holder = ctx->holder && ctx->holder[0];

	return list_has(r->actors, r->n_actors, ctx->actor) &&
	       list_has(r->users, r->n_users, ctx->user) &&
	       (!has_holder || list_has(r->holders, r->n_holders, ctx->holder));
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

static void effects(const struct pt_config *cfg, const struct pt_rule *r, struct pt_decision *d)
{
	uint64_t live = r && r->live_lifetime ? r->live_lifetime : cfg->live_lifetime;
	uint64_t persist = r && r->persist_lifetime ? r->persist_lifetime : cfg->persist_lifetime;

	d->live_lifetime = live > cfg->max_live_lifetime ? cfg->max_live_lifetime : live;
	d->persist_lifetime =
		persist > cfg->max_persist_lifetime ? cfg->max_persist_lifetime : persist;
	d->max_outstanding = r && r->max_outstanding ? r->max_outstanding : cfg->max_outstanding;
}

void pt_policy_eval(const struct pt_config *cfg, const struct pt_rule *rules, size_t n_rules,
		    const struct pt_policy_ctx *ctx, struct pt_decision *ret)
{
	const struct pt_rule *near = NULL;
	const char *user = ctx && ctx->user ? ctx->user : "";
	char groups[160];

	memset(ret, 0, sizeof(*ret));
	ret->allow = false;
	if (!cfg || !ctx) {
		snprintf(ret->reason, sizeof(ret->reason), "no policy to evaluate");
		return;
	}

	for (size_t i = 0; i < n_rules; i++) {
		const struct pt_rule *r = &rules[i];

		if (!selects(r, ctx))
			continue;
		if (!groups_match(r, ctx)) {
			if (!near && r->action == PT_ACTION_ALLOW)
				near = r;
			continue;
		}

		ret->rule = r;
		effects(cfg, r, ret);
		if (r->action == PT_ACTION_DENY) {
			snprintf(ret->reason, sizeof(ret->reason),
				 "rule \"%s\" (line %d) denies: it is a deny rule", r->name,
				 r->line);
			return;
		}
		if (r->check_account) {
			const char *why = !ctx->user_exists    ? "does not exist" :
					  ctx->account_locked  ? "is locked" :
					  ctx->account_expired ? "has expired" :
								 NULL;
			if (why) {
				snprintf(ret->reason, sizeof(ret->reason),
					 "rule \"%s\" (line %d): account %s %s", r->name, r->line,
					 user, why);
				return;
			}
		}
		ret->allow = true;
		snprintf(ret->reason, sizeof(ret->reason), "rule \"%s\" (line %d) allows", r->name,
			 r->line);
		return;
	}

	if (near) {
		ret->rule = near;
		effects(cfg, near, ret);
		if (near->check_account && !ctx->user_exists)
			snprintf(ret->reason, sizeof(ret->reason),
				 "rule \"%s\" (line %d): account %s does not exist", near->name,
				 near->line, user);
		else {
			join(near->groups, near->n_groups, groups, sizeof(groups));
			snprintf(ret->reason, sizeof(ret->reason),
				 "rule \"%s\" (line %d) denies: user %s is not in any "
				 "of the groups %s",
				 near->name, near->line, user, groups);
		}
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
}
