/* SPDX-License-Identifier: MIT */
/*
 * Policy evaluation. Pure functions over the config and a context the caller
 * resolved (the caller does the NSS/shadow look-ups at evaluation time; this
 * is what makes redeem-time policy late-bound).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* Matches a peer to the first actor whose uid and executable match and
 * (when the actor lists services) whose services include service.
 * exe may be NULL (unknown): then only actors with exe "*" match.
 * Returns NULL when none matches. */
const struct pt_actor *pt_policy_match_actor(const struct pt_config *cfg, uid_t uid,
					     const char *exe, const char *service);

/* What a rule is matched against. */
struct pt_policy_ctx {
	const char *actor;            /* actor name, NULL if the caller is no actor */
	const char *user;
	const char *const *groups;    /* names of the user's groups now (incl. primary) */
	size_t n_groups;
	const char *holder;           /* NULL/"" at mint */
	/* account state, filled by the caller (redeem set, check_account) */
	bool user_exists;
	bool account_locked;          /* shadow password starts with '!' */
	bool account_expired;         /* shadow sp_expire passed */
};

struct pt_decision {
	bool allow;
	const struct pt_rule *rule;  /* the deciding rule; on "no rule matched", the allow rule
	                                that failed only on groups (to name it), else NULL */
	char reason[256];            /* "rule issue[0] (line 12) allows" / "... denies: ..." */
	uint64_t live_lifetime;      /* effective, clamped to cfg max */
	uint64_t persist_lifetime;   /* effective, clamped to cfg max */
	uint32_t max_outstanding;    /* effective */
};

/* First matching rule wins; no matching rule denies ("no rule matched").
 * A matching allow rule with check_account set still denies when the
 * account does not exist, is locked or expired (reason says which). */
void pt_policy_eval(const struct pt_config *cfg, const struct pt_rule *rules, size_t n_rules,
		    const struct pt_policy_ctx *ctx, struct pt_decision *ret);
