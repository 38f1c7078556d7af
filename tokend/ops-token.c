/* SPDX-License-Identifier: MIT */
/* The token requests: mint, exchange, redeem, list, revoke. */
#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "confvalue.h"
#include "history.h"
#include "log.h"
#include "ops-internal.h"
#include "util.h"

/* ------------------------------------------------------------ policy views */

void policy_account(struct pt_policy_account *ret, const struct pt_account *acct)
{
	memset(ret, 0, sizeof(*ret));
	if (!acct)
		return;
	ret->exists = true;
	ret->uid = acct->uid;
	ret->groups = (const char *const *)acct->groups;
	ret->n_groups = acct->n_groups;
	ret->locked = acct->locked;
	ret->expired = acct->expired;
}

void policy_token(struct pt_policy_token *ret, const struct pt_record *rec)
{
	*ret = (struct pt_policy_token){
		.id = rec->id,
		.uid = rec->uid,
		.user = rec->user,
		.holder = rec->holder,
		.iat = rec->iat,
		.exp = rec->exp,
		.last_used = rec->last_used,
		.uses = rec->uses,
		.service = rec->service,
		.actor = rec->actor,
		.entitlements = (const char *const *)rec->entitlements,
		.n_entitlements = rec->n_entitlements,
	};
}

/* ------------------------------------------------------------------ claims */

/* The claims every live token has: who, for how long, a fresh jti. */
int live_base_claims(const struct pt_daemon *d, const struct pt_account *acct, uint64_t lifetime,
		     uint64_t now, struct pt_live_claims *c)
{
	int r;

	if ((r = pt_live_set_str(&c->iss, d->cfg->issuer)) < 0 ||
	    (r = pt_live_set_str(&c->sub, acct->user)) < 0 ||
	    (r = pt_live_set_str(&c->aud, d->cfg->audience)) < 0 || (r = pt_live_new_jti(c)) < 0)
		return r;
	c->exp = now + lifetime;
	c->nbf = now;
	c->iat = now;
	c->uid = acct->uid;
	c->gid = acct->gid;
	return 0;
}

static int set_opt(char **field, const char *s)
{
	return pt_live_set_str(field, s && *s ? s : NULL);
}

int redeem_claims(const struct pt_daemon *d, const struct pt_account *acct,
		  const struct pt_record *rec, const struct pt_rule *rule, const char *actor,
		  const char *service, uint64_t lifetime, uint64_t now, struct pt_live_claims *ret)
{
	struct pt_live_claims c = { 0 };
	char **groups = NULL, **ents = NULL;
	size_t n_groups = 0, n_ents = 0;
	int r;

	/* late-bound: the account's groups now and the entitlements recorded at
	 * issuance, as the deciding redeem rule adds and curtails them */
	r = pt_policy_apply_lists(acct->groups, acct->n_groups, rule->groups_add,
				  rule->n_groups_add, rule->groups_remove, rule->n_groups_remove,
				  &groups, &n_groups);
	if (r >= 0)
		r = pt_policy_apply_lists(rec->entitlements, rec->n_entitlements,
					  rule->entitlements_add, rule->n_entitlements_add,
					  rule->entitlements_remove, rule->n_entitlements_remove,
					  &ents, &n_ents);
	if (r >= 0) {
		/* then the curtail rules and auto_curtail's curtailments */
		usage_curtail(d, rec->user, rec->holder, true, groups, &n_groups);
		usage_curtail(d, rec->user, rec->holder, false, ents, &n_ents);
		r = live_base_claims(d, acct, lifetime, now, &c);
	}
	if (r >= 0) {
		c.groups = groups;
		c.n_groups = n_groups;
		c.has_entitlements = true;
		c.entitlements = ents;
		c.n_entitlements = n_ents;
		groups = ents = NULL;
		c.has_ptk = true;
		r = pt_live_set_str(&c.ptk, rec->id);
	}
	if (r >= 0 && (r = pt_live_set_str(&c.act[0], actor)) >= 0) {
		c.n_act = 1;
		if (rec->actor && (r = pt_live_set_str(&c.act[1], rec->actor)) >= 0)
			c.n_act = 2;
	}
	if (r >= 0)
		r = set_opt(&c.svc, service);
	pt_policy_strv_free(groups, n_groups);
	pt_policy_strv_free(ents, n_ents);
	if (r < 0) {
		pt_live_claims_clear(&c);
		return r;
	}
	*ret = c;
	return 0;
}

/* ------------------------------------------------------------------- mint */

static bool printable(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int op_mint(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	struct pt_account *acct = NULL;
	struct pt_policy_account pa;
	struct pt_policy_ctx ctx = { 0 };
	struct pt_decision dec;
	struct pt_live_claims lc = { 0 };
	struct pt_rep rep = { .type = PT_OK, .id = (char *)"" };
	uint64_t now = pt_ops_now(d);
	char *token = NULL;
	int r;

	if (!pt_name_valid(q->user))
		return reply_error(c, PT_E_PROTO, "invalid user name");
	/* what ends up in the token and the store: printable, or nothing */
	if (!printable(q->service) || !printable(q->tty) || !printable(q->rhost))
		return reply_error(c, PT_E_PROTO, "service, tty or rhost has control characters");
	r = pt_ops_account(d, q->user, &acct);
	if (r == -ENOENT) {
		record_decision(c, LOG_NOTICE, "deny", q->user, NULL, NULL, NULL, "no such user");
		return reply_error(c, PT_E_NOTFOUND, "no such user");
	}
	if (r < 0) {
		record_decision(c, LOG_ERR, "error", q->user, NULL, NULL, NULL, strerror(-r));
		return reply_error(c, PT_E_INTERNAL, "user look-up failed");
	}
	policy_account(&pa, acct);
	ctx.actor = c->actor->name;
	ctx.user = q->user;
	ctx.now = now;
	ctx.user_exists = true;
	ctx.groups = pa.groups;
	ctx.n_groups = pa.n_groups;
	ctx.account_locked = pa.locked;
	ctx.account_expired = pa.expired;
	pt_policy_eval(d->cfg, d->cfg->issue, d->cfg->n_issue, &ctx, &dec);
	if (!dec.allow) {
		record_decision(c, LOG_NOTICE, "deny", q->user, NULL, NULL,
				dec.rule ? dec.rule->name : NULL, dec.reason);
		r = reply_error(c, PT_E_DENIED, "%s", dec.reason);
		goto out;
	}
	r = live_base_claims(d, acct, dec.live_lifetime, now, &lc);
	if (r >= 0)
		r = pt_live_set_strv(&lc.groups, &lc.n_groups, acct->groups, acct->n_groups);
	if (r >= 0 && dec.rule->n_entitlements) {
		lc.has_entitlements = true;
		r = pt_live_set_strv(&lc.entitlements, &lc.n_entitlements, dec.rule->entitlements,
				     dec.rule->n_entitlements);
	}
	if (r >= 0 && (r = pt_live_set_str(&lc.act[0], c->actor->name)) >= 0)
		lc.n_act = 1;
	if (r >= 0 && (r = set_opt(&lc.svc, q->service)) >= 0 &&
	    (r = set_opt(&lc.tty, q->tty)) >= 0)
		r = set_opt(&lc.rhost, q->rhost);
	if (r >= 0)
		r = pt_live_sign(d->keys, d->cfg->alg, &lc, &token);
	if (r < 0) {
		record_decision(c, LOG_ERR, "error", q->user, NULL, NULL, dec.rule->name,
				"cannot sign a live token");
		r = reply_error(c, PT_E_INTERNAL, "cannot sign a live token");
		goto out;
	}
	rep.token = token;
	rep.exp = lc.exp;
	c->token = token;
	record_decision(c, LOG_INFO, "allow", q->user, NULL, NULL, dec.rule->name, dec.reason);
	r = pt_rep_encode(PT_MINT, &rep, c->out);
out:
	pt_live_claims_clear(&lc);
	pt_free_secret(token);
	pt_account_free(acct);
	return r;
}

/* --------------------------------------------------------------- exchange */

static int dup_strv(char *const *src, size_t n, char ***ret)
{
	char **v = calloc(n + 1, sizeof(char *));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(src[i]);
		if (!v[i]) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return -ENOMEM;
		}
	}
	*ret = v;
	return 0;
}

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

/* A deep copy of a stored token (its JSON form, as the store writes it). */
static int record_dup(const struct pt_record *src, struct pt_record **ret)
{
	char *json = NULL;
	int r;

	r = pt_record_to_json(src, &json);
	if (r < 0)
		return r;
	r = pt_record_from_json(json, strlen(json), ret);
	pt_free_secret(json);
	return r;
}

/* A live token minted by a redemption, renewing its own persistable token
 * (pt_policy_exchange decided it and its expiry): a copy of src with the new
 * expiry. It is audited before it is stored: refused for want of an audit
 * record, it leaves the stored token as it was (the dispatch loop then
 * removes nothing). */
static int renew_redeemed(struct call *c, const struct pt_record *src,
			  const struct pt_exchange_decision *x, struct pt_rep *rep)
{
	const char *user = c->live.sub;
	struct pt_record *rec = NULL;
	bool replaced = false;
	int r;

	r = record_dup(src, &rec);
	if (r < 0)
		goto internal;
	rec->exp = x->exp;
	record_decision(c, LOG_NOTICE, "renew", user, c->req->holder, rec->id, x->dec.rule->name,
			x->reason);
	if (c->audit_err) {
		c->audit_id[0] = '\0'; /* the stored token is the old one: keep it */
		r = 0;
		goto out;
	}
	r = pt_store_put(c->d->store, rec, &replaced); /* frees src */
	if (r < 0)
		goto internal;
	rep->id = rec->id;
	rep->exp = rec->exp;
	rep->renewed = true;
	rec = NULL; /* owned by the store now */
	r = pt_rep_encode(PT_EXCHANGE, rep, c->out);
	goto out;
internal:
	record_decision(c, LOG_ERR, "error", user, c->req->holder, src->id, x->dec.rule->name,
			strerror(-r));
	r = reply_error(c, PT_E_INTERNAL, "cannot store the persistable token (see tokend's log)");
out:
	pt_record_free(rec);
	return r;
}

static bool rate_take(void *u, const char *user, const struct pt_rule *r)
{
	struct pt_daemon *d = u;

	return !d->history || pt_history_rate_take(d->history, user, r->rate_n, r->rate_period,
						   pt_now_ms_monotonic());
}

static uint32_t outcome_code(enum pt_outcome o)
{
	switch (o) {
	case PT_OUTCOME_ALLOW:
		return 0;
	case PT_OUTCOME_DENIED:
		return PT_E_DENIED;
	case PT_OUTCOME_NOTFOUND:
		return PT_E_NOTFOUND;
	case PT_OUTCOME_INVALID:
		return PT_E_INVALID;
	case PT_OUTCOME_LIMIT:
		return PT_E_LIMIT;
	}
	return PT_E_INTERNAL;
}

/* The caller class (PT_CALLER_ACTOR_OR_SELF) verified the live token into
 * c->live and named the actor ("self": the token's own user). */
int op_exchange(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	const struct pt_live_claims *lc = &c->live;
	const char *user = lc->sub, *actor = c->actor ? c->actor->name : c->actor_name;
	struct pt_account *acct = NULL;
	struct pt_record *rec = NULL, *src = NULL;
	struct pt_policy_account pa;
	struct pt_policy_token st;
	struct pt_exchange_decision x;
	struct pt_rep rep = { .type = PT_OK };
	uint64_t now = pt_ops_now(d);
	bool replaced = false;
	int r;

	if (pt_ops_account(d, user, &acct) < 0)
		acct = NULL;
	policy_account(&pa, acct);
	if (lc->has_ptk && lc->ptk)
		src = pt_store_find_id(d->store, lc->ptk);
	if (src)
		policy_token(&st, src);
	struct pt_exchange_input in = {
		.actor = actor,
		.user = user,
		.uid = (uid_t)lc->uid,
		.holder = q->holder,
		.account = &pa,
		.holder_known = pt_config_find_actor(d->cfg, q->holder) != NULL,
		.requested_lifetime = q->lifetime,
		.now = now,
		.redeemed = lc->has_ptk,
		.ptk = lc->ptk,
		.source = src ? &st : NULL,
		.has_slot = pt_store_find_slot(d->store, user, q->holder) != NULL,
		.outstanding = pt_store_count_user(d->store, user),
		.rate_take = rate_take,
		.userdata = d,
	};
	pt_policy_exchange(d->cfg, &in, &x, NULL, 0);
	if (x.outcome != PT_OUTCOME_ALLOW) {
		record_decision(c, x.suspicious ? LOG_WARNING : LOG_NOTICE, "deny", user, q->holder,
				x.log_id, x.dec.rule ? x.dec.rule->name : NULL, x.reason);
		r = reply_error(c, outcome_code(x.outcome), "%s", x.message);
		goto out;
	}
	if (x.renew_source) {
		r = renew_redeemed(c, src, &x, &rep);
		goto out;
	}

	rec = calloc(1, sizeof(*rec));
	if (!rec) {
		r = -ENOMEM;
		goto internal;
	}
	r = pt_record_new_id(rec->id);
	if (r < 0)
		goto internal;
	rec->uid = acct->uid;
	rec->gid = acct->gid;
	rec->n_groups = acct->n_groups;
	r = dup_strv(acct->groups, acct->n_groups, &rec->groups);
	if (r < 0) {
		rec->n_groups = 0;
		goto internal;
	}
	rec->user = xstrdup(acct->user);
	rec->gecos = xstrdup(acct->gecos);
	rec->home = xstrdup(acct->home);
	rec->shell = xstrdup(acct->shell);
	rec->holder = xstrdup(q->holder);
	rec->actor = xstrdup(actor); /* who asked for the persistable token */
	rec->service = xstrdup(lc->svc);
	rec->tty = xstrdup(lc->tty);
	rec->rhost = xstrdup(lc->rhost);
	rec->source_jti = xstrdup(lc->jti);
	if (x.dec.rule->n_entitlements) {
		r = dup_strv(x.dec.rule->entitlements, x.dec.rule->n_entitlements,
			     &rec->entitlements);
		if (r < 0)
			goto internal;
		rec->n_entitlements = x.dec.rule->n_entitlements;
	}
	rec->iat = now;
	rec->exp = x.exp;
	if (!rec->user || !rec->gecos || !rec->home || !rec->shell || !rec->holder || !rec->actor ||
	    !rec->service || !rec->tty || !rec->rhost || !rec->source_jti) {
		r = -ENOMEM;
		goto internal;
	}
	r = pt_store_put(d->store, rec, &replaced);
	if (r < 0)
		goto internal;
	rep.id = rec->id;
	rep.exp = rec->exp;
	rep.renewed = replaced;
	record_decision(c, LOG_INFO, replaced ? "renew" : "allow", user, q->holder, rec->id,
			x.dec.rule->name, x.reason);
	rec = NULL; /* owned by the store now */
	r = pt_rep_encode(PT_EXCHANGE, &rep, c->out);
	goto out;
internal:
	record_decision(c, LOG_ERR, "error", user, q->holder, NULL, NULL, strerror(-r));
	r = reply_error(c, PT_E_INTERNAL, "cannot store the persistable token (see tokend's log)");
out:
	pt_record_free(rec);
	pt_account_free(acct);
	return r;
}

/* ----------------------------------------------------------------- redeem */

/* A refused redemption of rec, kept on the token for its owner (pertok
 * list/status, the login message) and journaled with the round's group
 * commit like a use. A failure to note it costs the note, not the reply.
 * rec NULL: nothing to note (a refused refresh: the job's own retries). */
static void note_refusal(struct pt_daemon *d, struct pt_record *rec, const char *rule,
			 const char *reason, uint64_t now)
{
	uint32_t n;

	if (!rec)
		return;
	n = rec->refusals < UINT32_MAX ? rec->refusals + 1 : UINT32_MAX;
	if (pt_record_set_refusal(rec, now, n, rule, reason ? reason : "") < 0) {
		pt_log_kv(LOG_ERR, "redeem", "error", "id", rec->id, "reason",
			  "cannot record the refusal on the token: out of memory", NULL);
		return;
	}
	rec->refusal_unjournaled = true;
	pt_store_touch(d->store, rec, false);
}

int redeem_account(const struct pt_daemon *d, const char *user, const struct pt_record *rec,
		   struct pt_account **ret, bool *ret_cached)
{
	int r = pt_ops_account(d, user, ret);

	*ret_cached = false;
	if (r != PT_ACCOUNT_EUNAVAIL || !rec || !d->cfg->offline_cached)
		return r;
	r = pt_account_from_record(rec, ret);
	*ret_cached = r >= 0;
	return r;
}

/* The redeem decision for rec (NULL: none) of user and holder now, the
 * account looked up only for a token that may be redeemed. Returns 1 when
 * it allows (*ret_acct, *rd set; the caller frees *ret_acct), else the
 * refusal's reply (recorded, and, for a redemption, noted on the token for
 * its owner). refresh: a running job's refresh, not a new redemption
 * (pt_redeem_input.refresh), whose refusals are not noted on the token.
 * offline (offline_len bytes) gets "" or, when the account came from the
 * identity recorded with the token (the directory down, tokend.offline =
 * "cached"), the note the decision's log line and reason carry. */
static int redeem_decide(struct call *c, struct pt_record *rec, const char *user,
			 const char *holder, const char *actor, bool refresh, uint64_t now,
			 struct pt_account **ret_acct, struct pt_redeem_decision *rd, char *offline,
			 size_t offline_len)
{
	struct pt_daemon *d = c->d;
	struct pt_record *noted = refresh ? NULL : rec;
	struct pt_account *acct = NULL;
	struct pt_policy_account pa;
	struct pt_policy_token pt;
	char reason[700];
	bool cached = false;
	int r;

	offline[0] = '\0';
	if (rec) {
		policy_token(&pt, rec);
		if (rec->exp > now) {
			r = redeem_account(d, user, rec, &acct, &cached);
			if (r == PT_ACCOUNT_EUNAVAIL) {
				snprintf(reason, sizeof(reason),
					 "the directory is unreachable (%s): account %s cannot be "
					 "checked (tokend.offline = \"deny\")",
					 pt_account_error(), user);
				record_decision(c, LOG_WARNING, "deny", user, holder, rec->id, NULL,
						reason);
				note_refusal(d, noted, NULL, reason, now);
				return reply_error(c, PT_E_DENIED, "%s", reason);
			} else if (r < 0 && r != -ENOENT) {
				record_decision(c, LOG_ERR, "error", user, holder, rec->id, NULL,
						strerror(-r));
				return reply_error(c, PT_E_INTERNAL, "user look-up failed");
			}
			if (cached)
				snprintf(offline, offline_len,
					 "; account from the identity recorded with the token "
					 "(uid %u), the directory being unreachable (%s; "
					 "tokend.offline = \"cached\")",
					 (unsigned)rec->uid, pt_account_error());
		}
	}
	policy_account(&pa, acct);
	struct pt_redeem_input in = {
		.actor = actor,
		.user = user,
		.holder = holder,
		.token = rec ? &pt : NULL,
		.account = &pa,
		.redemptions_today =
			pt_history_today(d->history, PT_HIST_USER, user, PT_HIST_REDEMPTIONS, now),
		.now = now,
		.refresh = refresh,
	};
	pt_policy_redeem(d->cfg, &in, rd, NULL, 0);
	switch (rd->outcome) {
	case PT_OUTCOME_ALLOW:
		*ret_acct = acct;
		return 1;
	case PT_OUTCOME_NOTFOUND:
		record_decision(c, LOG_NOTICE, "deny", user, holder, NULL, NULL, rd->dec.reason);
		r = reply_error(c, PT_E_NOTFOUND, "no persistable token for user %s and holder %s",
				user, holder);
		break;
	case PT_OUTCOME_INVALID:
		record_decision(c, LOG_NOTICE, "deny", user, holder, rec->id, NULL, rd->dec.reason);
		note_refusal(d, noted, NULL, rd->dec.reason, now);
		r = reply_error(c, PT_E_INVALID, "the persistable token %s expired", rec->id);
		break;
	default:
		snprintf(reason, sizeof(reason), "%s%s", rd->dec.reason, offline);
		record_decision(c, LOG_NOTICE, "deny", user, holder, rec->id,
				rd->dec.rule ? rd->dec.rule->name : NULL, reason);
		note_refusal(d, noted, rd->dec.rule ? rd->dec.rule->name : NULL, reason, now);
		r = reply_error(c, PT_E_DENIED, "%s", reason);
		break;
	}
	pt_account_free(acct);
	return r;
}

/* An allowed redemption (or refresh) of rec: the live token, the use
 * counted (on disk before the reply goes out: pt_ops_commit), the reply.
 * auth_time: the redemption the job started with (now for a redemption);
 * move_exp: apply the decision's new expiry of rec (a refresh never does);
 * offline: redeem_decide's note ("" when the directory answered). */
static int redeem_grant(struct call *c, struct pt_record *rec, const struct pt_account *acct,
			const struct pt_redeem_decision *rd, const char *actor, const char *service,
			uint64_t lifetime, uint64_t auth_time, bool move_exp, const char *offline,
			uint64_t now)
{
	struct pt_daemon *d = c->d;
	struct pt_live_claims lc = { 0 };
	struct pt_rep rep = { .type = PT_OK };
	char *token = NULL, reason[700];
	int r;

	r = redeem_claims(d, acct, rec, rd->dec.rule, actor, service, lifetime, now, &lc);
	if (r < 0) {
		record_decision(c, LOG_ERR, "error", rec->user, rec->holder, rec->id,
				rd->dec.rule->name, strerror(-r));
		r = reply_error(c, PT_E_INTERNAL, "out of memory");
		goto out;
	}
	lc.auth_time = auth_time;
	r = pt_live_sign(d->keys, d->cfg->alg, &lc, &token);
	if (r < 0) {
		record_decision(c, LOG_ERR, "error", rec->user, rec->holder, rec->id,
				rd->dec.rule->name, "cannot sign a live token");
		r = reply_error(c, PT_E_INTERNAL, "cannot sign a live token");
		goto out;
	}
	rec->uses++;
	rec->last_used = now;
	if (c->req->type != PT_REFRESH)
		usage_redeemed(d, rec->user, rec->holder, &lc, now);
	if (move_exp)
		rec->exp = rd->new_exp;
	pt_store_touch(d->store, rec, move_exp);
	rep.token = token;
	rep.exp = lc.exp;
	c->token = token;
	rep.id = rec->id;
	snprintf(reason, sizeof(reason), "%s%s", rd->dec.reason, offline);
	record_decision(c, offline[0] ? LOG_NOTICE : LOG_INFO, "allow", rec->user, rec->holder,
			rec->id, rd->dec.rule->name, reason);
	r = pt_rep_encode(c->req->type, &rep, c->out);
out:
	pt_live_claims_clear(&lc);
	pt_free_secret(token);
	return r;
}

/* The caller class (PT_CALLER_HOLDER) matched the actor that the request
 * names as holder. */
int op_redeem(struct call *c)
{
	const struct pt_req *q = c->req;
	struct pt_record *rec;
	struct pt_account *acct = NULL;
	struct pt_redeem_decision rd;
	uint64_t now = pt_ops_now(c->d), lifetime, until;
	char offline[400];
	int r;

	rec = pt_store_find_slot(c->d->store, q->user, q->holder);
	r = redeem_decide(c, rec, q->user, q->holder, c->actor->name, false, now, &acct, &rd,
			  offline, sizeof(offline));
	if (r <= 0)
		return r;
	/* never outliving the persistable token, at its expiry after this
	 * decision (both are past now, or the decision denied) */
	lifetime = rd.dec.live_lifetime;
	until = rd.move_exp ? rd.new_exp : rec->exp;
	if (lifetime > until - now)
		lifetime = until - now;
	r = redeem_grant(c, rec, acct, &rd, c->actor->name, q->service, lifetime, now, rd.move_exp,
			 offline, now);
	pt_account_free(acct);
	return r;
}

/* The persistable token a refresh of live is for: the one its ptk names,
 * or, when that one is gone (a login renewed it: a new id, the old one
 * retired; the store keeps no trace of why an id went), the user's current
 * one for the same holder if it is still the same uid's (the redeem rules
 * then decide on it). NULL when there is none; why (len bytes) then says
 * what the store can tell. */
static struct pt_record *refresh_source(struct pt_daemon *d, const struct pt_live_claims *live,
					char *why, size_t len)
{
	struct pt_record *rec = pt_store_find_id(d->store, live->ptk);

	if (rec) {
		if ((int64_t)rec->uid == live->uid && strcmp(rec->user, live->sub) == 0 &&
		    strcmp(rec->holder, live->act[0]) == 0)
			return rec;
		/* only a token signed for another token's id: no stand-in for it */
		snprintf(why, len, "the persistable token %s is not user %s's for holder %s",
			 live->ptk, live->sub, live->act[0]);
		return NULL;
	}
	rec = pt_store_find_slot(d->store, live->sub, live->act[0]);
	if (rec && (int64_t)rec->uid == live->uid)
		return rec;
	if (rec)
		snprintf(why, len,
			 "the persistable token %s is gone, and user %s's current one for "
			 "holder %s is another uid's (%u, not %lld)",
			 live->ptk, live->sub, live->act[0], (unsigned)rec->uid,
			 (long long)live->uid);
	else
		snprintf(why, len,
			 "the persistable token %s is gone and user %s has none for holder %s "
			 "(revoked, or renewed away and then revoked, or expired and removed)",
			 live->ptk, live->sub, live->act[0]);
	return NULL;
}

/* REFRESH: a job that outlives its live token presents it, still valid,
 * for a fresh one. The table checked the token (signature, audience, time)
 * and that the caller's uid is the token's. It must come from a
 * redemption; its persistable token (refresh_source: after a login's
 * renewal, the one that replaced it) must still be there and be that
 * user's; it is refused while more than half of its lifetime is left
 * (pt_refresh_from: what bounds the refreshes of one job, each an audit
 * record and a store write); the redeem rules decide again now
 * (late-bound, for the holder that redeemed it: pt_policy_redeem as a
 * refresh, which is not a new redemption: max_uses and
 * max_redemptions_per_day do not apply), and the refresh is counted as a
 * use. Never later than max_job_runtime after the redemption the job
 * started with (auth_time, kept by every refresh), never past the
 * persistable token's expiry, which it never moves later; a refusal is
 * logged, not noted on the token (the job's own retries). */
int op_refresh(struct call *c)
{
	const struct pt_live_claims *live = &c->live;
	struct pt_daemon *d = c->d;
	struct pt_record *rec;
	struct pt_account *acct = NULL;
	struct pt_redeem_decision rd;
	uint64_t now = pt_ops_now(d), redeemed, end, lifetime, from;
	char why[400], max[32], left[32], of[32], when[64], offline[400];
	int r;

	if (!live->has_ptk || !live->ptk || !*live->ptk || live->n_act < 1 || !live->act[0]) {
		record_decision(c, LOG_NOTICE, "deny", live->sub, NULL, NULL, NULL,
				"not a live token from a redemption");
		return reply_error(c, PT_E_INVALID,
				   "only a live token from a redemption can be refreshed");
	}
	rec = refresh_source(d, live, why, sizeof(why));
	if (!rec) {
		record_decision(c, LOG_NOTICE, "deny", live->sub, live->act[0], live->ptk, NULL,
				why);
		return reply_error(c, PT_E_NOTFOUND, "%s", why);
	}
	/* a token minted before auth_time existed: its iat was the redemption */
	redeemed = live->auth_time ? live->auth_time : live->iat;
	end = redeemed + d->cfg->max_job_runtime;
	if (now >= end) {
		pt_conf_fmt_duration(d->cfg->max_job_runtime, max, sizeof(max));
		snprintf(why, sizeof(why), "max_job_runtime (%s) since the redemption has passed",
			 max);
		record_decision(c, LOG_NOTICE, "deny", rec->user, rec->holder, rec->id, NULL, why);
		return reply_error(c, PT_E_DENIED, "%s", why);
	}
	from = pt_refresh_from(live->iat, live->exp);
	if (now < from) {
		pt_conf_fmt_duration(live->exp - now, left, sizeof(left));
		pt_conf_fmt_duration(live->exp - live->iat, of, sizeof(of));
		snprintf(why, sizeof(why),
			 "too early: this token has %s left of %s; refresh when at most half is "
			 "left (from %s)",
			 left, of, iso_time(from, false, when, sizeof(when)));
		record_decision(c, LOG_NOTICE, "deny", rec->user, rec->holder, rec->id, NULL, why);
		return reply_error(c, PT_E_LIMIT, "%s", why);
	}
	r = redeem_decide(c, rec, rec->user, rec->holder, rec->holder, true, now, &acct, &rd,
			  offline, sizeof(offline));
	if (r <= 0)
		return r;
	lifetime = rd.dec.live_lifetime;
	if (rec->exp < end)
		end = rec->exp;
	/* a rule's persist_lifetime may curtail the persistable token, never
	 * extend it: the fresh token ends by the curtailed expiry too */
	if (rd.move_exp && rd.new_exp < end)
		end = rd.new_exp;
	if (lifetime > end - now)
		lifetime = end - now;
	r = redeem_grant(c, rec, acct, &rd, rec->holder, live->svc, lifetime, redeemed,
			 rd.move_exp && rd.new_exp < rec->exp, offline, now);
	pt_account_free(acct);
	return r;
}

/* ------------------------------------------------------------ list, revoke */

/* LIST, LIST_PAGE and LIST_STATUS: the entries the caller may see, from
 * the cursor on, as many as fit one frame (proto.h). */
int op_list(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_rep rep = { .type = PT_OK };
	size_t n = pt_store_count(d->store), i = 0, last = 0, k = 0, bytes;
	bool deleg = c->req->type == PT_LIST_DELEG;
	bool paged = c->req->type != PT_LIST, status = deleg || c->req->type == PT_LIST_STATUS;
	char cursor[PT_STORE_CURSOR_LEN] = "";
	int r;

	if (paged && pt_store_seek(d->store, c->req->cursor, &i) < 0)
		return reply_error(c, PT_E_PROTO, "invalid list cursor");
	rep.list =
		calloc(n - i < PT_MAX_LIST ? (n - i ? n - i : 1) : PT_MAX_LIST, sizeof(*rep.list));
	if (!rep.list)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	/* u32 n, u8 more, str cursor; one entry: 4 str, 2 u32, 3 u64 */
	bytes = 1 + 4 + 1 + 4 + PT_STORE_CURSOR_LEN;
	for (; i < n; i++) {
		struct pt_record *rec = pt_store_at(d->store, i);
		size_t sz;

		if (!may_see(c, rec))
			continue;
		if (c->req->user && *c->req->user && strcmp(c->req->user, rec->user) != 0)
			continue;
		sz = 4 * 4 + 4 * 2 + 8 * 3 + strlen(rec->id) + strlen(rec->user) +
		     strlen(rec->holder) + strlen(rec->actor);
		if (status)
			sz += 4 * 2 + 4 + 8 + (rec->refusal_rule ? strlen(rec->refusal_rule) : 0) +
			      (rec->refusal_reason ? strlen(rec->refusal_reason) : 0);
		if (deleg)
			sz += 4 + 4 +
			      (rec->n_chain ? strlen(rec->chain[rec->n_chain - 1].holder) : 0);
		if (k == PT_MAX_LIST || bytes + sz > PT_MAX_FRAME) {
			rep.more = 1; /* this one is for the next page */
			break;
		}
		bytes += sz;
		last = i;
		rep.list[k++] = (struct pt_tokinfo){ .id = rec->id,
						     .user = rec->user,
						     .uid = rec->uid,
						     .holder = rec->holder,
						     .actor = rec->actor,
						     .iat = rec->iat,
						     .exp = rec->exp,
						     .last_used = rec->last_used,
						     .uses = rec->uses };
		if (status) {
			rep.list[k - 1].refused_at = rec->refused_at;
			rep.list[k - 1].refusals = rec->refusals;
			rep.list[k - 1].refusal_rule = rec->refusal_rule;
			rep.list[k - 1].refusal_reason = rec->refusal_reason;
		}
		if (deleg && rec->n_chain) {
			rep.list[k - 1].delegations = (uint32_t)rec->n_chain;
			rep.list[k - 1].delegated_from = rec->chain[rec->n_chain - 1].holder;
		}
	}
	if (rep.more)
		pt_store_cursor(d->store, last, cursor);
	rep.cursor = cursor;
	rep.n_list = (uint32_t)k;
	r = pt_rep_encode(c->req->type, &rep, c->out);
	free(rep.list);
	return r;
}

int op_revoke(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_record *rec = pt_store_find_id(d->store, c->req->id);
	struct pt_rep rep = { .type = PT_OK, .count = 1 };
	_cleanup_free_ char *user = NULL, *holder = NULL;
	int r;

	if (!rec || !may_see(c, rec)) {
		/* the same answer whether it exists or is someone else's */
		record_decision(c, LOG_NOTICE, "deny", NULL, NULL, c->req->id, NULL,
				"no such token");
		return reply_error(c, PT_E_NOTFOUND, "no such token: %s", c->req->id);
	}
	user = strdup(rec->user);
	holder = strdup(rec->holder);
	r = pt_store_remove(d->store, c->req->id);
	if (r < 0) {
		record_decision(c, LOG_ERR, "error", user, holder, c->req->id, NULL, strerror(-r));
		return reply_error(c, PT_E_INTERNAL, "cannot remove the token (see tokend's log)");
	}
	log_sync_failure(d); /* removed, even if the directory sync failed (store.h) */
	record_decision(c, LOG_INFO, "allow", user, holder, c->req->id, NULL, "revoked");
	return pt_rep_encode(PT_REVOKE, &rep, c->out);
}
