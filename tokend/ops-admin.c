/* SPDX-License-Identifier: MIT */
/* The administrative requests: pubkey, status, revoke by match, explain,
 * rotate-key, reseal. */
#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "history.h"
#include "log.h"
#include "ops-internal.h"
#include "rotate.h"
#include "util.h"

int op_pubkey(struct call *c)
{
	struct pt_rep rep = { .type = PT_OK };

	if (c->req->format == PT_PUBKEY_PEM)
		rep.text = c->d->keys->pem;
	else if (c->req->format == PT_PUBKEY_JWKS)
		rep.text = c->d->keys->jwks;
	else
		return reply_error(c, PT_E_PROTO, "unknown public key format %u", c->req->format);
	return pt_rep_encode(PT_PUBKEY, &rep, c->out);
}

/* The last SIGHUP's outcome, as status lines: reload_time (0: none since
 * the start), reload=none|ok|error, reload_error (one line: control
 * characters become spaces), reload_warning (what an "ok" reload left for
 * the next start; tokend's own text). */
static void status_reload(const struct pt_daemon *d, char *buf, size_t len)
{
	char err[sizeof(d->reload_error)];
	size_t i;

	for (i = 0; d->reload_error[i] && i < sizeof(err) - 1; i++)
		err[i] = (unsigned char)d->reload_error[i] < 0x20 ? ' ' : d->reload_error[i];
	err[i] = '\0';
	snprintf(buf, len, "reload_time=%llu\nreload=%s\nreload_error=%s\nreload_warning=%s\n",
		 (unsigned long long)d->reload_at,
		 !d->reload_at ? "none" :
		 err[0]	       ? "error" :
				 "ok",
		 err, err[0] ? "" : d->reload_warning);
}

int op_status(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_rep rep = { .type = PT_OK };
	char text[8192];
	uint64_t now = pt_ops_now(d);

	snprintf(text, sizeof(text),
		 "version=%s\npid=%d\nfront_pid=%d\nfront_user=%s\nuptime=%llu\nconfig=%s\n"
		 "socket=%s\nstate_dir=%s\n"
		 "seal_backend=%s\nseal_strength=%s\nsigning_alg=%s\nsigning_kid=%s\n"
		 "signing_key_created=%llu\ntokens=%zu\nconnections=%u\nrequests=%llu\n"
		 "denied=%llu\nactors=%zu\nissue_rules=%zu\nredeem_rules=%zu\n",
		 PACKAGE_VERSION, (int)getpid(), (int)d->front_pid,
		 d->front_user[0] ? d->front_user : "-", (unsigned long long)(now - d->started),
		 d->cfg->path ? d->cfg->path : "-", d->cfg->socket_path, d->cfg->state_dir,
		 d->sealer->name, d->sealer->strength, d->cfg->alg, d->keys->kid,
		 (unsigned long long)d->keys->created, pt_store_count(d->store), d->n_conns,
		 (unsigned long long)d->n_requests, (unsigned long long)d->n_denied,
		 d->cfg->n_actors, d->cfg->n_issue, d->cfg->n_redeem);
	{
		size_t o = strlen(text);
		char p[4200];
		struct stat st;
		uint64_t sealed = 0;

		snprintf(p, sizeof(p), "%s/storekey.sealed", d->keydir);
		if (stat(p, &st) == 0)
			sealed = (uint64_t)st.st_mtime;
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "%skey_dir=%s\nstore_key_sealed=%llu\nstore_key_age=%llu\n"
				      "signing_key_age=%llu\nretired_kids=",
				      d->sealer->info, d->keydir, (unsigned long long)sealed,
				      (unsigned long long)(sealed ? now - sealed : 0),
				      (unsigned long long)(now - d->keys->created));
		for (size_t i = 0; i < d->keys->n_retired && o < sizeof(text); i++)
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s(until %llu)",
					      i ? "," : "", d->keys->retired[i].kid,
					      (unsigned long long)d->keys->retired[i].until);
		if (o < sizeof(text))
			o += (size_t)snprintf(text + o, sizeof(text) - o, "\n");
		if (o < sizeof(text) && pt_seal_describe(d->keydir, p, sizeof(p)) == 0)
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s", p);
		if (o < sizeof(text))
			o += (size_t)snprintf(text + o, sizeof(text) - o,
					      "audit_seq=%llu\naudit=%s\n",
					      (unsigned long long)pt_audit_seq(d->audit),
					      pt_audit_failure(d->audit) ? "failing" : "ok");
		if (o < sizeof(text))
			status_reload(d, text + o, sizeof(text) - o);
	}
	rep.text = text;
	return pt_rep_encode(PT_STATUS, &rep, c->out);
}

/* Bulk revocation: every token of a user, of a holder, issued before a
 * time (all given criteria must hold). Root matches anything; others only
 * their own tokens. Effective at once and on disk (survives restarts). */
int op_revoke_match(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	struct pt_rep rep = { .type = PT_OK };
	bool any_user = !q->user || !*q->user, any_holder = !q->holder || !*q->holder;
	uint32_t n = 0, failed = 0;
	char why[64];
	int r;

	if (any_user && any_holder && q->before == 0)
		return reply_error(c, PT_E_PROTO,
				   "revoke by match needs a user, a holder or a time");
	if ((!any_user && !pt_name_valid(q->user)) || (!any_holder && !pt_name_valid(q->holder)))
		return reply_error(c, PT_E_PROTO, "invalid user or holder name");
	snprintf(why, sizeof(why), "revoked by match (before=%llu)", (unsigned long long)q->before);
	for (size_t i = pt_store_count(d->store); i > 0; i--) {
		struct pt_record *rec = pt_store_at(d->store, i - 1);
		_cleanup_free_ char *user = NULL, *holder = NULL;
		char id[PT_ID_LEN];

		if (!may_see(c, rec) || (!any_user && strcmp(rec->user, q->user) != 0) ||
		    (!any_holder && strcmp(rec->holder, q->holder) != 0) ||
		    (q->before && rec->iat >= q->before))
			continue;
		memcpy(id, rec->id, sizeof(id));
		user = strdup(rec->user);
		holder = strdup(rec->holder);
		r = pt_store_remove(d->store, id);
		if (r < 0) {
			record_decision(c, LOG_ERR, "error", user, holder, id, NULL, strerror(-r));
			failed++;
			continue;
		}
		log_sync_failure(d);
		record_decision(c, LOG_INFO, "allow", user, holder, id, NULL, why);
		n++;
	}
	if (failed)
		return reply_error(c, PT_E_INTERNAL,
				   "revoked %u tokens, %u could not be removed (see tokend's log)",
				   n, failed);
	rep.count = n;
	return pt_rep_encode(PT_REVOKE_MATCH, &rep, c->out);
}

const char *iso_time(uint64_t t, bool local, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!(local ? localtime_r(&tt, &tm) : gmtime_r(&tt, &tm)) ||
	    strftime(buf, len, local ? "%Y-%m-%d %H:%M:%S %z %a" : "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%llu", (unsigned long long)t);
	return buf;
}

/* The last line of an explain text (proto.h), after at most len bytes of
 * it, in the DECISION_LINE_MAX bytes kept free for it. */
#define DECISION_LINE_MAX 32
static void decision_line(char *text, size_t len, size_t off, bool allow)
{
	snprintf(text + (off < len ? off : len), DECISION_LINE_MAX, "%sdecision=%s\n",
		 off && text[(off < len ? off : len) - 1] != '\n' ? "\n" : "",
		 allow ? "allow" : "deny");
}

/* What both explains need first: the text buffer (len bytes and the
 * decision line) and the account now (NULL: no such user). 1 to go on;
 * otherwise an error reply was made and its result is returned. */
static int explain_start(struct call *c, size_t len, char **ret_text, struct pt_account **ret_acct)
{
	struct pt_account *acct = NULL;
	char *text = calloc(1, len + DECISION_LINE_MAX);
	int r;

	if (!text)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	r = pt_ops_account(c->d, c->req->user, &acct);
	if (r == PT_ACCOUNT_EUNAVAIL) {
		free(text);
		return reply_error(c, PT_E_DENIED, "the directory is unreachable (%s)",
				   pt_account_error());
	}
	if (r < 0 && r != -ENOENT) {
		free(text);
		return reply_error(c, PT_E_INTERNAL, "user look-up failed: %s", strerror(-r));
	}
	*ret_text = text;
	*ret_acct = r < 0 ? NULL : acct;
	return 1;
}

/* A dry run of a redemption: the very decision op_redeem takes
 * (pt_policy_redeem) with its trace, on what account state, and the claims
 * the live token would carry. Nothing is signed, no use is counted, nothing
 * is stored. */
int op_explain(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	struct pt_rep rep = { .type = PT_OK };
	struct pt_record *rec;
	struct pt_account *acct = NULL;
	struct pt_policy_account pa;
	struct pt_policy_token pt;
	struct pt_redeem_decision rd;
	struct pt_live_claims lc = { 0 };
	uint64_t now = pt_ops_now(d), at = q->at ? q->at : now;
	uint32_t today;
	size_t len = 32 * 1024, off = 0;
	char *text = NULL, *claims = NULL, t1[64], t2[64], t3[64];
	bool cached = false;
	int r;

#define OUT(...)                                                                              \
	do {                                                                                  \
		if (off < len) {                                                              \
			int k_ = snprintf(text + off, len - off, __VA_ARGS__);                \
			off = k_ < 0 ? off : off + (size_t)k_ > len ? len : off + (size_t)k_; \
		}                                                                             \
	} while (0)

	if (!pt_name_valid(q->user) || !pt_name_valid(q->holder))
		return reply_error(c, PT_E_PROTO, "explain needs a valid user and holder");
	text = calloc(1, len + DECISION_LINE_MAX);
	if (!text)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	rec = pt_store_find_slot(d->store, q->user, q->holder);
	if (rec)
		policy_token(&pt, rec);
	r = redeem_account(d, q->user, rec, &acct, &cached);
	if (r == PT_ACCOUNT_EUNAVAIL) {
		/* "cached" needs the token's recorded identity: none here */
		r = reply_error(c, PT_E_DENIED,
				"the directory is unreachable (%s): a redemption is refused "
				"(tokend.offline = \"%s\"%s)",
				pt_account_error(), d->cfg->offline_cached ? "cached" : "deny",
				d->cfg->offline_cached && !rec ? ", and there is no token" : "");
		goto out;
	}
	if (r < 0 && r != -ENOENT) {
		r = reply_error(c, PT_E_INTERNAL, "user look-up failed: %s", strerror(-r));
		goto out;
	}
	policy_account(&pa, acct);
	today = pt_history_today(d->history, PT_HIST_USER, q->user, PT_HIST_REDEMPTIONS, at);
	/* as op_redeem decides it, with the holder as the actor */
	struct pt_redeem_input in = {
		.actor = q->holder,
		.user = q->user,
		.holder = q->holder,
		.token = rec ? &pt : NULL,
		.account = &pa,
		.redemptions_today = today,
		.now = at,
	};
	pt_policy_redeem(d->cfg, &in, &rd, NULL, 0);

	OUT("explain: redemption by holder %s for user %s at %s (%s), config %s\n", q->holder,
	    q->user, iso_time(at, false, t1, sizeof(t1)), iso_time(at, true, t2, sizeof(t2)),
	    d->cfg->path ? d->cfg->path : "-");
	if (rec) {
		OUT("persistable token: %s, issued %s by %s, expires %s, uses %u, last used %s\n",
		    rec->id, iso_time(rec->iat, false, t1, sizeof(t1)), rec->actor,
		    iso_time(rec->exp, false, t2, sizeof(t2)), rec->uses,
		    rec->last_used ? iso_time(rec->last_used, false, t3, sizeof(t3)) : "never");
		OUT("  recorded: service %s, entitlements:", rec->service ? rec->service : "-");
		for (size_t i = 0; i < rec->n_entitlements; i++)
			OUT("%s%s", i ? ", " : " ", rec->entitlements[i]);
		OUT("%s\n", rec->n_entitlements ? "" : " none");
		if (rec->exp <= at)
			OUT("  note: it has expired by then: a redemption fails before any rule\n");
	} else
		OUT("persistable token: none (a redemption fails: no token for this user and "
		    "holder; the rules below use no token state)\n");
	if (rd.account_mismatch)
		OUT("account: the name now belongs to uid %u, not the token's uid %u: treated as "
		    "missing\n",
		    (unsigned)acct->uid, (unsigned)rec->uid);
	else if (acct) {
		if (cached)
			OUT("account: the directory is unreachable (%s): the identity recorded "
			    "with the token (tokend.offline = \"cached\")\n",
			    pt_account_error());
		OUT("account: uid %u, gid %u, %s, %s, groups:", (unsigned)acct->uid,
		    (unsigned)acct->gid,
		    acct->locked ?
			    "password field '!' (locked or none; counts with check_password_lock)" :
			    "password not locked",
		    acct->expired ? "expired" : "not expired");
		for (size_t i = 0; i < acct->n_groups; i++)
			OUT("%s%s", i ? ", " : " ", acct->groups[i]);
		OUT("\n");
	} else
		OUT("account: %s does not exist\n", q->user);
	OUT("history: %u redemptions of %s that day, %llu in all\n", today, q->user,
	    (unsigned long long)pt_history_total(d->history, PT_HIST_USER, q->user,
						 PT_HIST_REDEMPTIONS));
	{
		struct pt_hist_act ha = pt_history_act(d->history, q->user);

		OUT("act-as: %llu runs in %s's name, CPU %llu us, peak memory %llu bytes\n",
		    (unsigned long long)ha.runs, q->user, (unsigned long long)ha.cpu_usec,
		    (unsigned long long)ha.mem_peak);
	}
	if (off < len)
		off += usage_explain(d, q->user, q->holder, at, text + off, len - off);
	/* the same decision again, now with its trace */
	if (off < len)
		off += pt_policy_redeem(d->cfg, &in, &rd, text + off, len - off);
	if (rd.outcome == PT_OUTCOME_ALLOW) {
		r = redeem_claims(d, acct, rec, rd.dec.rule, q->holder, q->holder,
				  rd.dec.live_lifetime, at, &lc);
		if (r >= 0)
			r = pt_live_claims_json(&lc, true, &claims);
		if (r < 0) {
			r = reply_error(c, PT_E_INTERNAL, "cannot build the claims");
			goto out;
		}
		OUT("live token claims (not signed; jti is a sample; svc is the PAM service, "
		    "here the holder's name):\n%s\n",
		    claims);
	} else
		OUT("no live token would be minted\n");
#undef OUT
	decision_line(text, len, off, rd.outcome == PT_OUTCOME_ALLOW);
	rep.text = text;
	/* result=dry-run: nothing was granted; the reason carries the decision */
	record_decision(c, LOG_INFO, "dry-run", q->user, q->holder, rec ? rec->id : NULL,
			rd.dec.rule ? rd.dec.rule->name : NULL,
			rd.outcome == PT_OUTCOME_ALLOW ? "explained (dry run): decision=allow" :
							 "explained (dry run): decision=deny");
	r = pt_rep_encode(PT_EXPLAIN, &rep, c->out);
out:
	free(claims);
	pt_live_claims_clear(&lc);
	pt_account_free(acct);
	free(text);
	return r;
}

/* A dry run of an exchange at login (explain --issue): the very decision
 * op_exchange takes (pt_policy_exchange) with its trace, for a fresh login
 * of user through actor (an exchange of a login's live token, not a
 * renewal from a redeemed one). The issue rate is not taken, only named:
 * a dry run must not spend it. Nothing is stored. */
int op_explain_issue(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	struct pt_rep rep = { .type = PT_OK };
	struct pt_account *acct = NULL;
	struct pt_policy_account pa;
	struct pt_exchange_decision x;
	uint64_t now = pt_ops_now(d), at = q->at ? q->at : now;
	size_t len = 32 * 1024, off = 0;
	char *text = NULL, t1[64], t2[64];
	bool slot;
	int r, k;

	if (!pt_name_valid(q->user) || !pt_name_valid(q->holder) || !pt_name_valid(q->actor))
		return reply_error(c, PT_E_PROTO,
				   "explain --issue needs a valid user, actor and holder");
	/* a misspelt actor is a usage error, not a policy's "deny" */
	if (strcmp(q->actor, "self") != 0 && !pt_config_find_actor(d->cfg, q->actor))
		return reply_error(c, PT_E_INVALID,
				   "no actor named %s in the configuration (nor is it \"self\")",
				   q->actor);
	if ((r = explain_start(c, len, &text, &acct)) <= 0)
		return r;
	policy_account(&pa, acct);
	slot = pt_store_find_slot(d->store, q->user, q->holder) != NULL;
	struct pt_exchange_input in = {
		.actor = q->actor,
		.user = q->user,
		.uid = acct ? acct->uid : (uid_t)-1,
		.holder = q->holder,
		.account = &pa,
		.holder_known = pt_config_find_actor(d->cfg, q->holder) != NULL,
		.now = at,
		.has_slot = slot,
		.outstanding = pt_store_count_user(d->store, q->user),
	};
	k = snprintf(text, len,
		     "explain: issue (login exchange) through actor %s for user %s, holder %s at "
		     "%s (%s), config %s\n"
		     "account: %s\ntokens: %zu outstanding, %s for holder %s\n",
		     q->actor, q->user, q->holder, iso_time(at, false, t1, sizeof(t1)),
		     iso_time(at, true, t2, sizeof(t2)), d->cfg->path ? d->cfg->path : "-",
		     acct ? "exists" : "does not exist", in.outstanding,
		     slot ? "one (a login renews it)" : "none", q->holder);
	off = k < 0 ? 0 : (size_t)k < len ? (size_t)k : len;
	if (off < len)
		off += pt_policy_exchange(d->cfg, &in, &x, text + off, len - off);
	if (off < len && x.outcome == PT_OUTCOME_ALLOW) {
		k = snprintf(text + off, len - off, "persistable token: would expire %s%s\n",
			     iso_time(x.exp, false, t1, sizeof(t1)),
			     x.dec.rule && x.dec.rule->rate_n ?
				     " (if the rule's issue rate is not used up: a dry run does "
				     "not take from it)" :
				     "");
		off = k < 0 ? off : off + (size_t)k < len ? off + (size_t)k : len;
	}
	decision_line(text, len, off, x.outcome == PT_OUTCOME_ALLOW);
	rep.text = text;
	record_decision(c, LOG_INFO, "dry-run", q->user, q->holder, NULL,
			x.dec.rule ? x.dec.rule->name : NULL,
			x.outcome == PT_OUTCOME_ALLOW ?
				"explained issue (dry run): decision=allow" :
				"explained issue (dry run): decision=deny");
	r = pt_rep_encode(PT_EXPLAIN_ISSUE, &rep, c->out);
	pt_account_free(acct);
	free(text);
	return r;
}

/* pertokctl rotate-key: new store key + signing key, tokens re-wrapped. */
int op_rotate(struct call *c)
{
	struct pt_rep rep = { .type = PT_OK };
	char msg[1024];
	int r;

	r = pt_rotate(c->d, msg, sizeof(msg));
	if (r < 0) {
		pt_log_kv(LOG_ERR, "rotate-key", "error", "peer_uid", PT_LOG_U(c->peer->uid),
			  "reason", msg, NULL);
		return reply_error(c, PT_E_INTERNAL, "%s", msg);
	}
	pt_log_kv(LOG_NOTICE, "rotate-key", "allow", "peer_uid", PT_LOG_U(c->peer->uid), "kid",
		  c->d->keys->kid, "reason", msg, NULL);
	/* recorded, vouched for by the old key, then the new key signs */
	audit_decision(c, "allow", NULL, NULL, NULL, NULL, msg);
	if (pt_audit_set_key(c->d->audit, c->d->keys->sign, c->d->keys->kid) < 0) {
		char why[400];

		snprintf(why, sizeof(why), "checkpoint before the key change: %s",
			 pt_audit_failure(c->d->audit) ?: "failed");
		pt_log_kv(LOG_ERR, "audit", "error", "reason", why, NULL);
	}
	rep.text = msg;
	return pt_rep_encode(PT_ROTATE, &rep, c->out);
}

/* pertokctl reseal: seal the store key again (current PCR values). */
int op_reseal(struct call *c)
{
	struct pt_rep rep = { .type = PT_OK };
	char msg[1024];
	int r;

	r = pt_reseal(c->d, msg, sizeof(msg));
	if (r < 0) {
		pt_log_kv(LOG_ERR, "reseal", "error", "peer_uid", PT_LOG_U(c->peer->uid), "reason",
			  msg, NULL);
		return reply_error(c, PT_E_INTERNAL, "%s", msg);
	}
	pt_log_kv(LOG_NOTICE, "reseal", "allow", "peer_uid", PT_LOG_U(c->peer->uid), "reason", msg,
		  NULL);
	rep.text = msg;
	return pt_rep_encode(PT_RESEAL, &rep, c->out);
}
