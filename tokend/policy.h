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

#include "conf.h"

/* Matches a peer to the first actor whose uid and executable match and
 * (when the actor lists services) whose services include service.
 * exe may be NULL (unknown): then only actors with exe "*" match.
 * Returns NULL when none matches. */
const struct pt_actor *pt_policy_match_actor(const struct pt_config *cfg, uid_t uid,
					     const char *exe, const char *service);

/* Whether the peer (uid, exe as above) is some actor whatever PAM service it
 * names: such peers share the connections reserved for root and actors. */
bool pt_policy_is_actor(const struct pt_config *cfg, uid_t uid, const char *exe);

/* What a rule is matched against. */
struct pt_policy_ctx {
	const char *actor; /* actor name, NULL if the caller is no actor */
	const char *user;
	const char *const *groups; /* names of the user's groups now (incl. primary) */
	size_t n_groups;
	const char *holder; /* NULL/"" at mint */
	/* account state, filled by the caller (redeem set, check_account) */
	bool user_exists;
	bool account_locked;  /* shadow password starts with '!' (check_password_lock) */
	bool account_expired; /* shadow sp_expire passed */
	/* the clock (hours/days windows in local time, idle): injectable; 0 = now */
	uint64_t now;
	/* redeem set: the persistable token being redeemed (has_token false: none) */
	bool has_token;
	uint64_t token_iat;
	uint64_t token_last_used; /* 0 = never redeemed */
	uint32_t token_uses;
	const char *token_service; /* recorded PAM service / actor, NULL if none */
	const char *token_actor;
	const char *const *token_entitlements; /* recorded at issuance */
	size_t n_token_entitlements;
	/* history (redeem set): the user's allowed redemptions today (local day) */
	uint32_t redemptions_today;
};

struct pt_decision {
	bool allow;
	const struct pt_rule *rule; /* the deciding rule; on "no rule matched", the allow rule
	                                that failed only on groups (to name it), else NULL */
	char reason[256];	    /* "rule issue[0] (line 12) allows" / "... denies: ..." */
	uint64_t live_lifetime;	    /* effective, clamped to cfg max */
	uint64_t persist_lifetime;  /* effective, clamped to cfg max */
	uint32_t max_outstanding;   /* effective */
	bool persist_from_rule;	    /* the deciding rule set persist_lifetime (redeem: move the
	                                persistable token's exp to iat + persist_lifetime) */
	bool idle_expired;	    /* denied because the token was idle past the rule's idle */
};

/* First matching rule wins; no matching rule denies ("no rule matched").
 * A matching allow rule with check_account set still denies when the
 * account does not exist or has expired; with check_password_lock, also when
 * the shadow password field starts with '!' (reason says which). */
void pt_policy_eval(const struct pt_config *cfg, const struct pt_rule *rules, size_t n_rules,
		    const struct pt_policy_ctx *ctx, struct pt_decision *ret);

/* The same evaluation as a human-readable trace: one line per rule in
 * order, saying why it did not apply or that it decides, then the decision
 * (which *ret receives, as from pt_policy_eval). Writes at most len bytes
 * (truncated with "...\n"); returns the length written. */
size_t pt_policy_explain(const struct pt_config *cfg, const struct pt_rule *rules, size_t n_rules,
			 const struct pt_policy_ctx *ctx, struct pt_decision *ret, char *buf,
			 size_t len);

/* base + add - remove, without duplicates, in order (base first); remove
 * may hold "*" (remove everything that is not added back). The result is a
 * NULL-terminated array the caller frees with pt_policy_strv_free. */
int pt_policy_apply_lists(char *const *base, size_t n_base, char *const *add, size_t n_add,
			  char *const *remove, size_t n_remove, char ***ret, size_t *ret_n);
void pt_policy_strv_free(char **v, size_t n);

/* "08:00-18:00", "mon,tue,fri" style texts of a rule's windows ("" if none). */
void pt_policy_window_text(const struct pt_rule *r, char *buf, size_t len);
