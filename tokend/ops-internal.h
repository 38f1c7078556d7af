/* SPDX-License-Identifier: MIT */
/*
 * What the request handlers share (ops.c: the table and the dispatch loop;
 * ops-token.c, ops-admin.c, ops-code.c: the handler families). Not for
 * anything outside tokend's request handling.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "account.h"
#include "extjwt.h"
#include "live.h"
#include "ops.h"
#include "policy.h"
#include "proto-server.h"

/* Everything a handler gets. The dispatch loop fills who is asking (actor,
 * actor_name, all_tokens, the verified live token of an exchange) from the
 * table's caller class before the handler runs; handlers use these as data
 * and never decide again who may call them. */
struct call {
	struct pt_daemon *d;
	const struct pt_peer *peer;
	const struct pt_actor *actor; /* the matched actor, when the class admits one */
	const char *actor_name;	      /* for the log: actor->name, "self" or NULL */
	bool all_tokens;	      /* root: sees (lists, revokes) every user's tokens */
	bool privileged;	      /* root or an actor: refusals recorded one by one */
	const struct pt_req *req;
	struct ptbuf *out;
	struct pt_live_claims live;	       /* EXCHANGE, REFRESH, USED, ACCEPT_LIVE: the verified
				       live token's claims */
	const char *token;		       /* the live token decided on (audited as its HMAC) */
	const struct pt_extjwt_presented *ext; /* ACCEPT: the JWT as the front split it */
	int audit_err;	/* an allow could not be audited: the reply is refused */
	uint32_t conn;	/* the front's connection (a deferred reply names it) */
	const int *fds; /* ACT: the caller's descriptors (the key holder closes
				       them after the handler) */
	size_t n_fds;
	bool deferred;		  /* ACT: no reply now; it comes when the command ends */
	char audit_id[PT_ID_LEN]; /* ... and the persistable token it created */
};

/* Who may ask (checked by the dispatch loop, never by the handler). */
enum pt_caller {
	PT_CALLER_NONE,		 /* nobody: not a request the loop serves */
	PT_CALLER_ANY,		 /* any uid; root's requests cover every user's tokens,
				    others' only their own (call.all_tokens) */
	PT_CALLER_ROOT,		 /* uid 0 */
	PT_CALLER_ACTOR,	 /* a configured actor (uid, exe, the request's service) */
	PT_CALLER_HOLDER,	 /* the actor that the request names as holder */
	PT_CALLER_ACTOR_OR_SELF, /* an actor (the live token's service), or the user the
				    verified live token names (its uid is the peer's) */
	PT_CALLER_ROOT_OR_ACTOR, /* uid 0, or an actor whatever its service */
	PT_CALLER_TOKEN_OWNER,	 /* the user the verified live token names, its uid
				    the peer's (actors and root included: nobody acts
				    for another here) */
	PT_CALLER_CREDENTIAL,	 /* a peer on the credential socket running the actor
				    "systemd"'s executable (credential.h) */
	PT_CALLER_ACCEPTOR,	 /* uid 0 or an actor (a service's PAM stack), with the
				    presented live token verified (call.live) */
};

/* What the request records once admitted (a refusal by its caller class is
 * always logged and recorded, whatever the row says). */
enum pt_audit_class {
	PT_AUDIT_NONE,	 /* nothing is decided: no audit record */
	PT_AUDIT_RECORD, /* each decision is logged and recorded */
	PT_AUDIT_HELD,	 /* it issues something: the reply waits until its record is
			    written, and is refused when the audit log cannot be */
};

struct pt_ops_row {
	uint8_t type;
	enum pt_caller caller;
	enum pt_audit_class audit;
	int (*fn)(struct call *c);
};

/* The dispatch table (for its tests). */
const struct pt_ops_row *pt_ops_rows(size_t *ret_n);

/* The daemon's clock and account look-up (injectable, see struct pt_daemon). */
uint64_t pt_ops_now(const struct pt_daemon *d);
int pt_ops_account(const struct pt_daemon *d, const char *user, struct pt_account **ret);

/* One log line and one audit record for a decision; an allow that cannot be
 * recorded sets c->audit_err, and the dispatch loop then refuses the reply. */
void record_decision(struct call *c, int prio, const char *result, const char *user,
		     const char *holder, const char *id, const char *rule, const char *reason);
/* The audit record alone (rotate logs its own line). */
void audit_decision(struct call *c, const char *result, const char *user, const char *holder,
		    const char *id, const char *rule, const char *reason);
int reply_error(struct call *c, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Summaries of the refusal windows that are over (housekeeping too). */
void flush_refusals(struct pt_daemon *d);
/* A directory sync that failed after a change took effect (store.h). */
void log_sync_failure(struct pt_daemon *d);

/* t as "2026-01-31T12:00:00Z" or, local, "2026-01-31 13:00:00 +0100 Sat"
 * (the number when it cannot be formatted); returns buf. */
const char *iso_time(uint64_t t, bool local, char *buf, size_t len);

/* May this caller see (list, revoke) rec? */
bool may_see(const struct call *c, const struct pt_record *rec);

/* The policy view of an account (NULL: missing) and of a stored token. */
void policy_account(struct pt_policy_account *ret, const struct pt_account *acct);
void policy_token(struct pt_policy_token *ret, const struct pt_record *rec);
/* The account a redemption of rec (may be NULL) decides on, for op_redeem
 * and op_explain alike: NSS's answer now (pt_ops_account); when NSS reports
 * an error (PT_ACCOUNT_EUNAVAIL, "directory down") and tokend.offline =
 * "cached", the identity recorded with the token, *ret_cached then true.
 * Returns as pt_ops_account. */
int redeem_account(const struct pt_daemon *d, const char *user, const struct pt_record *rec,
		   struct pt_account **ret, bool *ret_cached);

/* The claims of the live token a redemption of rec mints (explain shows
 * them unsigned): the deciding rule's lists over the account now. */
int redeem_claims(const struct pt_daemon *d, const struct pt_account *acct,
		  const struct pt_record *rec, const struct pt_rule *rule, const char *actor,
		  const char *service, uint64_t lifetime, uint64_t now, struct pt_live_claims *ret);

/* The claims every live token has (iss, sub, aud, a fresh jti, exp/nbf/iat
 * from now and lifetime, uid, gid), into c (zeroed by the caller). */
int live_base_claims(const struct pt_daemon *d, const struct pt_account *acct, uint64_t lifetime,
		     uint64_t now, struct pt_live_claims *c);

/* handlers: ops-token.c */
int op_mint(struct call *c);
int op_exchange(struct call *c);
int op_redeem(struct call *c);
int op_refresh(struct call *c);
int op_list(struct call *c);
int op_revoke(struct call *c);
/* ops-admin.c */
int op_pubkey(struct call *c);
int op_status(struct call *c);
int op_revoke_match(struct call *c);
int op_explain(struct call *c);
int op_explain_issue(struct call *c);
int op_rotate(struct call *c);
int op_reseal(struct call *c);
/* ops-code.c */
int op_code_issue(struct call *c);
int op_code_check(struct call *c);
int op_code_sheet(struct call *c);
int op_code_list(struct call *c);
/* ops-grant.c */
int op_grant_create(struct call *c);
int op_grant_list(struct call *c);
int op_grant_revoke(struct call *c);
int op_grant_delegate(struct call *c);
int op_grant_request(struct call *c);
int op_grant_approve(struct call *c);
int op_grant_deny(struct call *c);
int op_grant_requests(struct call *c);
int op_grant_explain(struct call *c);
/* credential.c */
int op_credential(struct call *c);
/* ops-accept.c */
int op_accept(struct call *c);
int op_accept_session(struct call *c);
/* ops-rpo.c */
int op_template_import(struct call *c);
int op_template_show(struct call *c);
int op_rpo_approve(struct call *c);
int op_rpo_list(struct call *c);
int op_rpo_show(struct call *c);
int op_rpo_extend(struct call *c);
int op_rpo_revoke(struct call *c);
/* act.c */
int op_act(struct call *c);
/* ops-delegate.c */
int op_delegate(struct call *c);
/* ops-grantsig.c */
int op_grant_signed(struct call *c);
/* grant-cred.c */
int op_grant_credential(struct call *c);
/* ops-grant.c: a grant of the wire's scope (no origin, no id) */
struct pt_grant;
int grant_of_spec(const struct pt_grant_spec *s, uint64_t now, struct pt_grant **ret);
/* ops-usage.c */
int op_used(struct call *c);
int op_recommend(struct call *c);
int op_curtail_revert(struct call *c);
int op_accept_live(struct call *c);

/* Records an allowed redemption's grants in the usage history (usage.h);
 * a cap that keeps something out is logged, never refuses the redemption. */
void usage_redeemed(struct pt_daemon *d, const char *user, const char *holder,
		    const struct pt_live_claims *lc, uint64_t now);
/* Removes from v (n, NULL-terminated) what curtail rules and auto_curtail
 * curtailments take from user's live tokens for holder. */
void usage_curtail(const struct pt_daemon *d, const char *user, const char *holder, bool group,
		   char **v, size_t *n);
/* The "usage:" lines of explain for user and holder into buf (len bytes). */
size_t usage_explain(const struct pt_daemon *d, const char *user, const char *holder, uint64_t now,
		     char *buf, size_t len);
