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
	/* redeem set: a running job's refresh of its live token, not a new
	 * redemption: max_uses and max_redemptions_per_day do not apply */
	bool refresh;
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

/* ------------------------------------------------------------ decisions
 *
 * The whole decision of a redemption and of an exchange, as pure functions
 * of the config and what the caller looked up: redeem, explain (the same
 * decision with a trace) and housekeeping (idle expiry) all call
 * pt_policy_redeem, so they cannot disagree.
 */

/* The account as the caller looked it up now; NULL or !exists: missing. */
struct pt_policy_account {
	bool exists;
	uid_t uid;
	const char *const *groups; /* names, primary first */
	size_t n_groups;
	bool locked;  /* shadow password starts with '!' */
	bool expired; /* shadow expiry passed */
};

/* A persistable token as stored. */
struct pt_policy_token {
	const char *id;
	uid_t uid;
	const char *user;
	const char *holder;
	uint64_t iat, exp, last_used; /* last_used 0: never redeemed */
	uint32_t uses;
	const char *service; /* recorded PAM service, NULL if none */
	const char *actor;   /* the actor that asked for it */
	const char *const *entitlements;
	size_t n_entitlements;
};

enum pt_outcome {
	PT_OUTCOME_ALLOW,
	PT_OUTCOME_DENIED,   /* a rule (or an account check) denies: PT_E_DENIED */
	PT_OUTCOME_NOTFOUND, /* no token / user: PT_E_NOTFOUND */
	PT_OUTCOME_INVALID,  /* the token expired: PT_E_INVALID */
	PT_OUTCOME_LIMIT,    /* a limit was reached: PT_E_LIMIT */
};

struct pt_redeem_input {
	const char *actor; /* the redeeming actor (the holder) */
	const char *user;
	const char *holder;
	const struct pt_policy_token *token;	 /* the user's token for holder; NULL: none */
	const struct pt_policy_account *account; /* NULL: missing */
	uint32_t redemptions_today;		 /* the user's, on now's local day */
	uint64_t now;
	/* a running job refreshes the live token its redemption gave it
	 * (PT_REFRESH): not a new redemption, so the rule's max_uses and
	 * max_redemptions_per_day are not applied; every other check is */
	bool refresh;
};

struct pt_redeem_decision {
	enum pt_outcome outcome;
	struct pt_decision dec; /* the rules' answer; dec.allow == (outcome == ALLOW),
	                              dec.reason the final reason, dec.rule NULL when no
	                              rule was asked (no token, expired) */
	bool account_mismatch;	/* the name now belongs to another uid: taken as missing */
	bool move_exp;		/* allow: set the token's exp to new_exp */
	uint64_t new_exp;
};

/* Redeeming in->token for in->user and in->holder now: no token (NOTFOUND),
 * expired (INVALID), then the redeem rules (late-bound); an allow still
 * denies when the account is missing or changed uid, or when the deciding
 * rule's persist_lifetime ends the token before now. trace (may be NULL):
 * the rules looked at and the decision, as pt_policy_explain. Returns the
 * trace's length. */
size_t pt_policy_redeem(const struct pt_config *cfg, const struct pt_redeem_input *in,
			struct pt_redeem_decision *ret, char *trace, size_t len);

struct pt_exchange_input {
	const char *actor; /* the asking actor's name, or "self" */
	const char *user;  /* the live token's subject */
	uid_t uid;	   /* ... and uid */
	const char *holder;
	const struct pt_policy_account *account; /* NULL: missing */
	bool holder_known;			 /* holder is a configured actor */
	uint64_t requested_lifetime;		 /* 0: the policy's */
	uint64_t now;
	/* a live token minted by a redemption names its persistable token */
	bool redeemed;
	const char *ptk;
	const struct pt_policy_token *source; /* the token ptk names; NULL: gone */
	/* the user's tokens now */
	bool has_slot;	    /* one for this holder already (it is replaced) */
	size_t outstanding; /* how many in all */
	/* takes one from the user's issue rate bucket of rule r: false when none
	 * is left. Called at most once, last, for an otherwise allowed exchange
	 * with a rate-limited rule; NULL: no rate limits. */
	bool (*rate_take)(void *userdata, const char *user, const struct pt_rule *r);
	void *userdata;
};

struct pt_exchange_decision {
	enum pt_outcome outcome;
	struct pt_decision dec; /* the issue rules' answer */
	char reason[512];	/* what to log */
	char message[512];	/* the reply's message on refusal */
	const char *log_id;	/* the token id the refusal concerns (or NULL) */
	bool suspicious;	/* log at warning: the caller tried something it may not */
	bool renew_source;	/* allow: renew in->source instead of a new token */
	uint64_t exp;		/* allow: the new expiry */
};

/* Exchanging a live token for a persistable one: holder, account, the issue
 * rules, renewal from a redeemed live token (renew_from_redeemed; the
 * source's user, holder, expiry and maximum lifetime), max_outstanding and
 * the issue rate, in that order. trace (may be NULL): the issue rules looked
 * at and the outcome, as pt_policy_redeem's (explain --issue). Returns the
 * trace's length. */
size_t pt_policy_exchange(const struct pt_config *cfg, const struct pt_exchange_input *in,
			  struct pt_exchange_decision *ret, char *trace, size_t len);

/* base + add - remove, without duplicates, in order (base first); remove
 * may hold "*" (remove everything that is not added back). The result is a
 * NULL-terminated array the caller frees with pt_policy_strv_free. */
int pt_policy_apply_lists(char *const *base, size_t n_base, char *const *add, size_t n_add,
			  char *const *remove, size_t n_remove, char ***ret, size_t *ret_n);
void pt_policy_strv_free(char **v, size_t n);

/* The next curtail rule (pt_rule.curtail) from *io_from (NULL: the first)
 * on that matches user and holder and, when name is not NULL, removes it
 * (an entitlement, or a group when group); *io_from is then past it. NULL:
 * none. Curtail rules never decide: redeem_claims applies them after the
 * deciding rule, so they curtail whatever rule allows. */
const struct pt_rule *pt_policy_curtailer(const struct pt_config *cfg, const char *user,
					  const char *holder, bool group, const char *name,
					  size_t *io_from);

/* "08:00-18:00", "mon,tue,fri" style texts of a rule's windows ("" if none). */
void pt_policy_window_text(const struct pt_rule *r, char *buf, size_t len);
