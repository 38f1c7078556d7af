/* SPDX-License-Identifier: MIT */
/*
 * The dispatch table and the loop that enforces it.
 *
 * The table is the authority (OpenSSH monitor.c): each request type has one
 * row saying who may ask (its caller class) and what is recorded (its
 * audit class), and pt_ops_handle checks the class against the peer's
 * credentials before the handler runs. Handlers receive the outcome (the
 * matched actor, "self", whether the caller sees every token) as data and
 * never check the caller again.
 */
#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "credential.h"
#include "history.h"
#include "log.h"
#include "ops-internal.h"
#include "util.h"

/* ------------------------------------------------------------------ table */

static const struct pt_ops_row rows[] = {
	{ PT_HELLO, PT_CALLER_NONE, PT_AUDIT_NONE, NULL }, /* the handshake: server.c */
	{ PT_MINT, PT_CALLER_ACTOR, PT_AUDIT_HELD, op_mint },
	{ PT_EXCHANGE, PT_CALLER_ACTOR_OR_SELF, PT_AUDIT_HELD, op_exchange },
	{ PT_REDEEM, PT_CALLER_HOLDER, PT_AUDIT_HELD, op_redeem },
	{ PT_LIST, PT_CALLER_ANY, PT_AUDIT_NONE, op_list },
	{ PT_LIST_PAGE, PT_CALLER_ANY, PT_AUDIT_NONE, op_list },
	{ PT_REFRESH, PT_CALLER_TOKEN_OWNER, PT_AUDIT_HELD, op_refresh },
	{ PT_REVOKE, PT_CALLER_ANY, PT_AUDIT_RECORD, op_revoke },
	{ PT_PUBKEY, PT_CALLER_ANY, PT_AUDIT_NONE, op_pubkey },
	{ PT_STATUS, PT_CALLER_ROOT, PT_AUDIT_NONE, op_status },
	{ PT_ROTATE, PT_CALLER_ROOT, PT_AUDIT_RECORD, op_rotate },
	{ PT_RESEAL, PT_CALLER_ROOT, PT_AUDIT_NONE, op_reseal },
	{ PT_EXPLAIN, PT_CALLER_ROOT, PT_AUDIT_RECORD, op_explain },
	{ PT_REVOKE_MATCH, PT_CALLER_ANY, PT_AUDIT_RECORD, op_revoke_match },
	{ PT_CODE_ISSUE, PT_CALLER_ROOT, PT_AUDIT_HELD, op_code_issue },
	{ PT_CODE_CHECK, PT_CALLER_ROOT_OR_ACTOR, PT_AUDIT_HELD, op_code_check },
	{ PT_LIST_STATUS, PT_CALLER_ANY, PT_AUDIT_NONE, op_list },
	{ PT_EXPLAIN_ISSUE, PT_CALLER_ROOT, PT_AUDIT_RECORD, op_explain_issue },
	{ PT_CODE_SHEET, PT_CALLER_ROOT, PT_AUDIT_HELD, op_code_sheet },
	{ PT_CODE_LIST, PT_CALLER_ROOT, PT_AUDIT_NONE, op_code_list },
	{ PT_CREDENTIAL, PT_CALLER_CREDENTIAL, PT_AUDIT_HELD, op_credential },
	/* any uid asks; the grant decides (act.c writes act.start, synced,
	 * before the command runs, and act.deny / act.end itself) */
	{ PT_ACT, PT_CALLER_ANY, PT_AUDIT_NONE, op_act },
	{ PT_DELEGATE, PT_CALLER_ANY, PT_AUDIT_HELD, op_delegate },
	{ PT_LIST_DELEG, PT_CALLER_ANY, PT_AUDIT_NONE, op_list },
	/* the consent is the signature, not the caller (ops-grantsig.c) */
	{ PT_GRANT_SIGNED, PT_CALLER_ANY, PT_AUDIT_HELD, op_grant_signed },
	/* whose grant it is, is the grant's data (grant-cred.c) */
	{ PT_GRANT_CREDENTIAL, PT_CALLER_ANY, PT_AUDIT_HELD, op_grant_credential },
	/* grants (ops-grant.c): whose grant it is, is the grant's data */
	{ PT_GRANT_CREATE, PT_CALLER_ANY, PT_AUDIT_HELD, op_grant_create },
	{ PT_GRANT_LIST, PT_CALLER_ANY, PT_AUDIT_NONE, op_grant_list },
	{ PT_GRANT_REVOKE, PT_CALLER_ANY, PT_AUDIT_RECORD, op_grant_revoke },
	{ PT_GRANT_DELEGATE, PT_CALLER_ANY, PT_AUDIT_HELD, op_grant_delegate },
	{ PT_GRANT_REQUEST, PT_CALLER_ANY, PT_AUDIT_HELD, op_grant_request },
	{ PT_GRANT_APPROVE, PT_CALLER_ANY, PT_AUDIT_HELD, op_grant_approve },
	{ PT_GRANT_DENY, PT_CALLER_ANY, PT_AUDIT_RECORD, op_grant_deny },
	{ PT_GRANT_REQUESTS, PT_CALLER_ANY, PT_AUDIT_NONE, op_grant_requests },
	{ PT_GRANT_EXPLAIN, PT_CALLER_ROOT, PT_AUDIT_RECORD, op_grant_explain },
	/* its own rpo.accept / rpo.deny records (ops-accept.c), held like a mint */
	{ PT_ACCEPT, PT_CALLER_ACTOR, PT_AUDIT_HELD, op_accept },
	{ PT_ACCEPT_SESSION, PT_CALLER_ACTOR, PT_AUDIT_RECORD, op_accept_session },
	{ PT_TEMPLATE_IMPORT, PT_CALLER_ROOT, PT_AUDIT_RECORD, op_template_import },
	{ PT_TEMPLATE_SHOW, PT_CALLER_ROOT, PT_AUDIT_NONE, op_template_show },
	{ PT_RPO_APPROVE, PT_CALLER_ROOT, PT_AUDIT_HELD, op_rpo_approve },
	{ PT_RPO_LIST, PT_CALLER_ROOT, PT_AUDIT_NONE, op_rpo_list },
	{ PT_RPO_SHOW, PT_CALLER_ROOT, PT_AUDIT_NONE, op_rpo_show },
	{ PT_RPO_EXTEND, PT_CALLER_ROOT, PT_AUDIT_HELD, op_rpo_extend },
	{ PT_RPO_REVOKE, PT_CALLER_ROOT, PT_AUDIT_HELD, op_rpo_revoke },
	{ PT_USED, PT_CALLER_TOKEN_OWNER, PT_AUDIT_RECORD, op_used },
	{ PT_RECOMMEND, PT_CALLER_ROOT, PT_AUDIT_NONE, op_recommend },
	{ PT_CURTAIL_REVERT, PT_CALLER_ROOT, PT_AUDIT_RECORD, op_curtail_revert },
	{ PT_ACCEPT_LIVE, PT_CALLER_ACCEPTOR, PT_AUDIT_HELD, op_accept_live },
	{ PT_OK, PT_CALLER_NONE, PT_AUDIT_NONE, NULL },	 /* a reply */
	{ PT_ERR, PT_CALLER_NONE, PT_AUDIT_NONE, NULL }, /* a reply */
};

const struct pt_ops_row *pt_ops_rows(size_t *ret_n)
{
	*ret_n = PT_ELEMENTSOF(rows);
	return rows;
}

static const struct pt_ops_row *row_of(uint8_t type)
{
	for (size_t i = 0; i < PT_ELEMENTSOF(rows); i++)
		if (rows[i].type == type)
			return rows[i].fn ? &rows[i] : NULL;
	return NULL;
}

/* ------------------------------------------------------------ injectables */

uint64_t pt_ops_now(const struct pt_daemon *d)
{
	return d->clock ? d->clock() : pt_now_s();
}

int pt_ops_account(const struct pt_daemon *d, const char *user, struct pt_account **ret)
{
	return d->account_lookup ? d->account_lookup(user, ret) : pt_account_lookup(user, ret);
}

/* ---------------------------------------------------------------- logging */

/* Usage history: every decided mint, exchange and redeem, per user and
 * per actor (policy.h: max_redemptions_per_day). */
static void count_decision(struct call *c, const char *result, const char *user)
{
	uint8_t t = c->req->type;
	const char *actor = c->actor_name ? c->actor_name : c->actor ? c->actor->name : NULL;
	bool ok = strcmp(result, "allow") == 0 || strcmp(result, "renew") == 0;
	uint64_t now = pt_ops_now(c->d);

	/* only callers that passed the class check: names others make up are not kept */
	if (!c->d->history || !actor || (t != PT_MINT && t != PT_EXCHANGE && t != PT_REDEEM))
		return;
	for (int k = 0; k < 2; k++) {
		const char *name = k == 0 ? user : actor;
		enum pt_hist_kind kind = k == 0 ? PT_HIST_USER : PT_HIST_ACTOR;

		if (!name)
			continue;
		pt_history_add(c->d->history, kind, name, PT_HIST_REQUESTS, now);
		pt_history_add(c->d->history, kind, name, ok ? PT_HIST_GRANTED : PT_HIST_FAILURES,
			       now);
		if (ok && t == PT_REDEEM)
			pt_history_add(c->d->history, kind, name, PT_HIST_REDEMPTIONS, now);
	}
}

void flush_refusals(struct pt_daemon *d)
{
	struct pt_audit_summary sm[16];
	size_t n = 0;
	int r;

	do {
		r = pt_audit_refusal_flush(d->audit, pt_now_ms_monotonic() / 1000, false, sm,
					   PT_ELEMENTSOF(sm), &n);
		for (size_t i = 0; i < n; i++)
			pt_log_kv(LOG_NOTICE, sm[i].op, "summary", "peer_uid",
				  PT_LOG_I(sm[i].uid == (uid_t)-1 ? -1 : (int64_t)sm[i].uid),
				  "count", PT_LOG_U(sm[i].total), "recorded",
				  PT_LOG_U(sm[i].recorded), "window", PT_LOG_U(sm[i].window),
				  "reason", sm[i].text, NULL);
	} while (r >= 0 && n == PT_ELEMENTSOF(sm));
	if (r < 0)
		pt_log_kv(LOG_ERR, "audit", "error", "reason",
			  pt_audit_failure(d->audit) ?: strerror(-r), NULL);
}

/* Refusals of unprivileged peers (not root, not a configured actor) are
 * rate-limited per uid and op (audit { refusal_burst, refusal_window }):
 * beyond the burst they are only counted, and summarised once per window,
 * so that one user cannot fill the disk with records of refused requests.
 * Allowed decisions, and everything root and actors do, are recorded one by
 * one. Returns true when this decision is to be logged and recorded. */
static bool refusal_admitted(struct call *c, const char *result)
{
	if (strcmp(result, "deny") != 0 && strcmp(result, "error") != 0)
		return true;
	if (c->privileged)
		return true;
	flush_refusals(c->d); /* a window that is over: its summary first */
	return pt_audit_refusal_admit(c->d->audit, c->peer->uid, pt_msgtype_name(c->req->type),
				      pt_now_ms_monotonic() / 1000);
}

static const char *actor_of(const struct call *c)
{
	return c->actor_name ? c->actor_name : c->actor ? c->actor->name : NULL;
}

void record_decision(struct call *c, int prio, const char *result, const char *user,
		     const char *holder, const char *id, const char *rule, const char *reason)
{
	if (!refusal_admitted(c, result)) {
		count_decision(c, result, user);
		return;
	}
	pt_log_kv(prio, pt_msgtype_name(c->req->type), result, "user", user, "holder", holder,
		  "actor", actor_of(c), "rule", rule, "peer_uid", PT_LOG_U(c->peer->uid),
		  "peer_pid", PT_LOG_I(c->peer->pid), "exe",
		  c->peer->exe_known ? c->peer->exe : NULL, "id", id, "reason", reason, NULL);
	count_decision(c, result, user);
	audit_decision(c, result, user, holder, id, rule, reason);
}

void audit_decision(struct call *c, const char *result, const char *user, const char *holder,
		    const char *id, const char *rule, const char *reason)
{
	struct pt_audit_event ev = {
		.op = pt_msgtype_name(c->req->type),
		.result = result,
		.user = user,
		.holder = holder,
		.actor = actor_of(c),
		.peer_uid = c->peer->uid,
		.peer_pid = c->peer->pid,
		.exe = c->peer->exe_known ? c->peer->exe : NULL,
		.service = c->req->service && *c->req->service ? c->req->service : NULL,
		.rule = rule,
		.reason = reason,
		.id = id,
		.token = c->token,
	};
	bool granted = strcmp(result, "allow") == 0 || strcmp(result, "renew") == 0;
	int r;

	if (granted)
		snprintf(c->audit_id, sizeof(c->audit_id), "%s", id ? id : "");
	r = pt_audit_append(c->d->audit, &ev);
	if (r >= 0)
		return;
	pt_log_kv(LOG_ERR, "audit", "error", "reason",
		  pt_audit_failure(c->d->audit) ?: strerror(-r), NULL);
	if (granted)
		c->audit_err = r;
}

int reply_error(struct call *c, uint32_t code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code == PT_E_DENIED)
		c->d->n_denied++;
	return pt_rep_encode_error(c->out, code, msg);
}

void log_sync_failure(struct pt_daemon *d)
{
	int e = pt_store_sync_failure(d->store);
	char why[300];

	if (!e)
		return;
	snprintf(why, sizeof(why), "%s; the change took effect, the directory sync is retried",
		 strerror(e));
	pt_log_kv(LOG_ERR, "fsync", "error", "dir", d->keydir, "reason", why, NULL);
}

bool may_see(const struct call *c, const struct pt_record *rec)
{
	return c->all_tokens || rec->uid == c->peer->uid;
}

/* Unknown or malformed requests (no audit record, the connection closes):
 * their log lines are rate-limited like refusals for every uid but root
 * (no actor can be matched without a decoded request). */
static bool bad_request_logged(struct pt_daemon *d, const struct pt_peer *peer, const char *op)
{
	if (peer->uid == 0)
		return true;
	flush_refusals(d);
	return pt_audit_refusal_admit(d->audit, peer->uid, op, pt_now_ms_monotonic() / 1000);
}

static void log_bad_request(struct pt_daemon *d, const struct pt_peer *peer, const char *op,
			    const char *reason)
{
	if (bad_request_logged(d, peer, op))
		pt_log_kv(LOG_WARNING, op, "error", "peer_uid", PT_LOG_U(peer->uid), "peer_pid",
			  PT_LOG_I(peer->pid), "reason", reason, NULL);
}

/* ------------------------------------------------------------ caller class */

/* The class the front's connection caps use (holder.c): root or a
 * configured actor (any service), or neither. Decided here, with the
 * table's classes, so that no other file reads the caller's class. */
bool pt_ops_privileged_peer(const struct pt_config *cfg, const struct pt_peer *peer)
{
	return peer->uid == 0 ||
	       pt_policy_is_actor(cfg, peer->uid, peer->exe_known ? peer->exe : NULL);
}

static const char *peer_exe(const struct pt_peer *peer)
{
	return peer->exe_known ? peer->exe : NULL;
}

/* A refusal by the table: recorded, and an error reply. */
static int refuse(struct call *c, int prio, uint32_t code, const char *user, const char *holder,
		  const char *reason, const char *message)
{
	record_decision(c, prio, "deny", user, holder, NULL, NULL, reason);
	return reply_error(c, code, "%s", message);
}

/* The exchange's subject: the live token, checked, names the user ("self"
 * is that user's own uid) and the PAM service an actor is matched with.
 * *ret_token: the token re-made from what was checked (c->token points to
 * it; the caller frees it). */
static int exchange_subject(struct call *c, const struct pt_live_presented *live, bool *ret_ok,
			    char **ret_token)
{
	static const struct pt_live_presented malformed = { .refused = PT_LIVE_MALFORMED };
	const struct pt_req *q = c->req;
	enum pt_live_refusal why;
	char *token = NULL;
	char msg[300];
	int r;

	*ret_ok = false;
	if (q->type == PT_EXCHANGE && !pt_name_valid(q->holder))
		return reply_error(c, PT_E_PROTO, "invalid holder name");
	r = pt_live_check(c->d->keys, c->d->cfg->audience, live ? live : &malformed,
			  pt_ops_now(c->d), &token, &why);
	if (r >= 0 && (r = pt_live_claims_copy(&live->claims, &c->live)) < 0)
		why = PT_LIVE_NO_MEMORY;
	if (r < 0) {
		pt_free_secret(token);
		snprintf(msg, sizeof(msg), "live token rejected: %s", pt_live_why(why));
		record_decision(c, LOG_NOTICE, "deny", NULL, q->holder, NULL, NULL,
				pt_live_why(why));
		return reply_error(c, PT_E_INVALID, "%s", msg);
	}
	c->token = *ret_token = token;
	*ret_ok = true;
	return 0;
}

/* Checks the row's caller class against the peer. true: the handler may
 * run (c filled in); false: *ret_reply holds the refusal's reply. */
static bool caller_admitted(struct call *c, const struct pt_ops_row *row,
			    const struct pt_live_presented *live, char **ret_token, int *ret_reply)
{
	const struct pt_peer *peer = c->peer;
	const struct pt_config *cfg = c->d->cfg;
	const struct pt_req *q = c->req;
	char why[PATH_MAX + 64];
	bool ok;

	/* privileged peers' refusals are recorded one by one (refusal_admitted) */
	c->privileged = peer->uid == 0 ||
			pt_policy_match_actor(cfg, peer->uid, peer_exe(peer), q->service) != NULL;
	/* the credential socket's peers have one row, and it only them */
	if (peer->credential && row->caller != PT_CALLER_CREDENTIAL) {
		*ret_reply = refuse(c, LOG_WARNING, PT_E_PERM, NULL, NULL,
				    "only the credential is served on the credential socket",
				    "only the credential is served on the credential socket");
		return false;
	}
	switch (row->caller) {
	case PT_CALLER_NONE:
		break;
	case PT_CALLER_ANY:
		c->all_tokens = peer->uid == 0;
		return true;
	case PT_CALLER_ROOT:
		if (peer->uid == 0)
			return true;
		*ret_reply = refuse(c, LOG_WARNING, PT_E_PERM, NULL, NULL, "root only",
				    "only root may do this");
		return false;
	case PT_CALLER_ACTOR:
	case PT_CALLER_HOLDER:
		c->actor = pt_policy_match_actor(cfg, peer->uid, peer_exe(peer), q->service);
		if (!c->actor) {
			snprintf(why, sizeof(why),
				 "caller is not a configured actor (uid %u, exe %s)",
				 (unsigned)peer->uid, peer->exe_known ? peer->exe : "unknown");
			*ret_reply =
				refuse(c, LOG_WARNING, PT_E_PERM, q->user, q->holder, why, why);
			return false;
		}
		if (row->caller == PT_CALLER_ACTOR)
			return true;
		/* a holder is an actor: only that actor may redeem for it */
		if (!pt_name_valid(q->user) || !pt_name_valid(q->holder)) {
			*ret_reply = reply_error(c, PT_E_PROTO, "invalid user or holder name");
			return false;
		}
		if (strcmp(c->actor->name, q->holder) == 0)
			return true;
		snprintf(why, sizeof(why), "actor %s may not redeem for holder %s", c->actor->name,
			 q->holder);
		*ret_reply = refuse(c, LOG_WARNING, PT_E_PERM, q->user, q->holder,
				    "caller is another actor than the holder", why);
		return false;
	case PT_CALLER_ACTOR_OR_SELF:
		*ret_reply = exchange_subject(c, live, &ok, ret_token);
		if (!ok)
			return false;
		/* a configured actor (root-run login stacks) or the user themself */
		c->actor = pt_policy_match_actor(cfg, peer->uid, peer_exe(peer), c->live.svc);
		c->privileged = c->privileged || c->actor;
		if (c->actor)
			return true;
		if ((int64_t)peer->uid == c->live.uid) {
			c->actor_name = "self";
			return true;
		}
		*ret_reply = refuse(c, LOG_WARNING, PT_E_PERM, c->live.sub, q->holder,
				    "caller is neither an actor nor the token's user",
				    "you may only exchange your own live token");
		return false;
	case PT_CALLER_TOKEN_OWNER:
		*ret_reply = exchange_subject(c, live, &ok, ret_token);
		if (!ok)
			return false;
		if ((int64_t)peer->uid == c->live.uid) {
			c->actor_name = "self";
			return true;
		}
		*ret_reply = refuse(c, LOG_WARNING, PT_E_PERM, c->live.sub, NULL,
				    "caller is not the token's user",
				    "you may only refresh your own live token");
		return false;
	case PT_CALLER_ROOT_OR_ACTOR:
		if (peer->uid == 0)
			return true;
		c->actor = pt_policy_match_actor(cfg, peer->uid, peer_exe(peer), NULL);
		if (c->actor)
			return true;
		*ret_reply = refuse(c, LOG_WARNING, PT_E_PERM, q->user, NULL,
				    "caller is neither root nor a configured actor",
				    "only root or a configured actor may check codes");
		return false;
	case PT_CALLER_ACCEPTOR:
		/* root or an actor (a service's PAM stack), then the token */
		if (peer->uid != 0 &&
		    !(c->actor = pt_policy_match_actor(cfg, peer->uid, peer_exe(peer), NULL))) {
			*ret_reply = refuse(c, LOG_WARNING, PT_E_PERM, q->user, NULL,
					    "caller is neither root nor a configured actor",
					    "only root or a configured actor may accept tokens");
			return false;
		}
		*ret_reply = exchange_subject(c, live, &ok, ret_token);
		return ok;
	case PT_CALLER_CREDENTIAL:
		c->actor = pt_cred_actor(cfg, peer, why, sizeof(why));
		if (c->actor && (!q->service || !pt_cred_unit_valid(q->service))) {
			c->actor = NULL;
			snprintf(why, sizeof(why), "the unit name is not a valid unit name");
		}
		if (c->actor)
			return true;
		*ret_reply = refuse(c, LOG_WARNING, PT_E_PERM, NULL, PT_CRED_HOLDER, why, why);
		return false;
	}
	*ret_reply = reply_error(c, PT_E_PROTO, "unknown request type");
	return false;
}

/* ------------------------------------------------------------------ audit */

/* PT_AUDIT_HELD: nothing is issued that is not in the audit log. The
 * handler's reply is held back until its decision was recorded; when the
 * log cannot be written, the request is refused (and a persistable token
 * just stored is removed again). */
static int run_held(struct call *c, const struct pt_ops_row *row)
{
	struct ptbuf *out = c->out, *held;
	int r;

	if (!pt_audit_usable(c->d->audit)) {
		pt_log_kv(LOG_ERR, pt_msgtype_name(row->type), "error", "peer_uid",
			  PT_LOG_U(c->peer->uid), "peer_pid", PT_LOG_I(c->peer->pid), "reason",
			  pt_audit_failure(c->d->audit), NULL);
		return pt_rep_encode_error(out, PT_E_INTERNAL, "audit log cannot be written");
	}
	held = ptbuf_new(4 + PT_MAX_FRAME);
	if (!held)
		return pt_rep_encode_error(out, PT_E_INTERNAL, "out of memory");
	c->out = held;
	r = row->fn(c);
	c->out = out;
	/* an exchange stored a persistable token: its record must be on disk
	 * now, or the token goes again (a failed group commit would only
	 * withhold the reply and leave the token in the store) */
	if (!c->audit_err && row->type == PT_EXCHANGE && c->audit_id[0] &&
	    pt_audit_pending(c->d->audit))
		c->audit_err = pt_audit_sync(c->d->audit);
	if (c->audit_err) {
		if (row->type == PT_EXCHANGE && c->audit_id[0] &&
		    pt_store_remove(c->d->store, c->audit_id) < 0)
			pt_log_kv(LOG_ERR, "exchange", "error", "id", c->audit_id, "reason",
				  "cannot remove the unaudited token", NULL);
		pt_log_kv(LOG_ERR, pt_msgtype_name(row->type), "error", "peer_uid",
			  PT_LOG_U(c->peer->uid), "peer_pid", PT_LOG_I(c->peer->pid), "id",
			  c->audit_id, "reason", "refused: audit log cannot be written", NULL);
		r = pt_rep_encode_error(out, PT_E_INTERNAL, "audit log cannot be written");
	} else if (ptbuf_len(held) > 0) {
		int k = ptbuf_put(out, ptbuf_ptr(held), ptbuf_len(held));
		if (k < 0)
			r = k;
	}
	ptbuf_free(held);
	return r;
}

/* ------------------------------------------------------------------- loop */

int pt_ops_handle(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		  const struct pt_live_presented *live, struct ptbuf *out)
{
	return pt_ops_handle_full(d, peer, req, live, NULL, 0, NULL, 0, out, NULL);
}

int pt_ops_handle_act(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		      const struct pt_live_presented *live, uint32_t conn, const int *fds,
		      size_t n_fds, struct ptbuf *out, bool *ret_deferred)
{
	return pt_ops_handle_full(d, peer, req, live, NULL, conn, fds, n_fds, out, ret_deferred);
}

int pt_ops_handle_ext(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		      const struct pt_live_presented *live, const struct pt_extjwt_presented *ext,
		      struct ptbuf *out)
{
	return pt_ops_handle_full(d, peer, req, live, ext, 0, NULL, 0, out, NULL);
}

int pt_ops_handle_full(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		       const struct pt_live_presented *live, const struct pt_extjwt_presented *ext,
		       uint32_t conn, const int *fds, size_t n_fds, struct ptbuf *out,
		       bool *ret_deferred)
{
	const struct pt_ops_row *row = row_of(req->type);
	struct call c = { .d = d,
			  .peer = peer,
			  .req = req,
			  .out = out,
			  .ext = ext,
			  .conn = conn,
			  .fds = fds,
			  .n_fds = n_fds };
	_cleanup_secret_ char *token = NULL;
	int r = 0;

	d->n_requests++;
	if (!row) {
		log_bad_request(d, peer, "unknown", "unknown request type");
		r = pt_rep_encode_error(out, PT_E_PROTO, "unknown request type");
		return r < 0 ? r : -EBADMSG;
	}
	if (caller_admitted(&c, row, live, &token, &r))
		r = row->audit == PT_AUDIT_HELD ? run_held(&c, row) : row->fn(&c);
	pt_live_claims_clear(&c.live);
	if (ret_deferred)
		*ret_deferred = c.deferred;
	return r;
}

int pt_ops_bad_request(struct pt_daemon *d, const struct pt_peer *peer, uint8_t type,
		       struct ptbuf *out)
{
	char why[64];
	int r;

	d->n_requests++;
	if (!row_of(type)) {
		snprintf(why, sizeof(why), "unknown request type %u", type);
		log_bad_request(d, peer, "unknown", why);
		r = pt_rep_encode_error(out, PT_E_PROTO, "unknown request type");
	} else {
		log_bad_request(d, peer, pt_msgtype_name(type), "malformed request");
		r = pt_rep_encode_error(out, PT_E_PROTO, "malformed request");
	}
	return r < 0 ? r : -EBADMSG;
}

int pt_ops_dispatch(struct pt_daemon *d, const struct pt_peer *peer, uint8_t type,
		    const uint8_t *payload, size_t len, struct ptbuf *out)
{
	struct pt_req req = { 0 };
	struct pt_live_presented live = { 0 };
	struct pt_extjwt_presented ext = { 0 };
	int r;

	if (!row_of(type) || pt_req_decode(type, payload, len, &req) < 0)
		return pt_ops_bad_request(d, peer, type, out);
	/* the front's part of an exchange: a form error becomes a refusal that
	 * the exchange reports and records as any other invalid token */
	if (pt_req_presents_live(type) && pt_live_parse(req.live_token, &live) == -ENOMEM) {
		d->n_requests++;
		pt_req_clear(&req);
		return pt_rep_encode_error(out, PT_E_INTERNAL, "out of memory");
	}
	/* the same for an external JWT (PT_ACCEPT) */
	if (pt_req_presents_ext(type) && pt_extjwt_split(req.jwt, &ext) == -ENOMEM) {
		d->n_requests++;
		pt_req_clear(&req);
		return pt_rep_encode_error(out, PT_E_INTERNAL, "out of memory");
	}
	r = pt_ops_handle_ext(d, peer, &req, pt_req_presents_live(type) ? &live : NULL,
			      pt_req_presents_ext(type) ? &ext : NULL, out);
	pt_live_presented_clear(&live);
	pt_extjwt_presented_clear(&ext);
	pt_req_clear(&req);
	return r;
}
