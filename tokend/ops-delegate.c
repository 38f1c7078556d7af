/* SPDX-License-Identifier: MIT */
/*
 * Delegation (PT_DELEGATE): a persistable token moves to another holder on
 * this host, which alone may redeem it from then on (the store is keyed by
 * (user, holder): the old holder finds nothing). The record keeps the chain
 * of previous holders (record.h), the audit log a "token.delegate" record
 * per move. The token never leaves the host: its store key is this host's.
 *
 * A slot already taken (the user has a token for the new holder) is
 * refused, never replaced: a delegation does not revoke another token
 * behind the user's back (they revoke it first, with pertok revoke).
 */
#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "ops-internal.h"
#include "util.h"

/* Who delegates, for the chain: "root", or the token's user (the only other
 * caller that sees the token, may_see). */
static const char *delegated_by(const struct call *c, const struct pt_record *rec)
{
	return c->peer->uid == 0 ? "root" : rec->user;
}

/* The audit record must be durable before the reply: the move is undone
 * when it cannot be written (run_held then refuses the reply). */
static int audit_synced(struct call *c)
{
	if (c->audit_err)
		return c->audit_err;
	if (pt_audit_pending(c->d->audit))
		c->audit_err = pt_audit_sync(c->d->audit);
	return c->audit_err;
}

int op_delegate(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	struct pt_record *rec = pt_store_find_id(d->store, q->id), *moved = NULL, *undo = NULL;
	struct pt_record *other;
	struct pt_rep rep = { .type = PT_OK };
	char why[400], from[PT_MAX_STR + 1];
	int r;

	if (!pt_name_valid(q->holder))
		return reply_error(c, PT_E_PROTO, "invalid holder name");
	if (!rec || !may_see(c, rec)) {
		/* the same answer whether it exists or is someone else's */
		record_decision(c, LOG_NOTICE, "deny", NULL, q->holder, q->id, NULL,
				"no such token");
		return reply_error(c, PT_E_NOTFOUND, "no such token: %s", q->id);
	}
	if (!pt_config_find_actor(d->cfg, q->holder)) {
		snprintf(why, sizeof(why), "holder %s is not a configured actor", q->holder);
		record_decision(c, LOG_NOTICE, "deny", rec->user, q->holder, rec->id, NULL, why);
		return reply_error(c, PT_E_NOTFOUND, "%s", why);
	}
	if (strcmp(rec->holder, q->holder) == 0) {
		snprintf(why, sizeof(why), "the token's holder is %s already", q->holder);
		record_decision(c, LOG_NOTICE, "deny", rec->user, q->holder, rec->id, NULL, why);
		return reply_error(c, PT_E_DENIED, "%s", why);
	}
	other = pt_store_find_slot(d->store, rec->user, q->holder);
	if (other) {
		snprintf(why, sizeof(why),
			 "user %s already has a token for holder %s (%s): revoke it first",
			 rec->user, q->holder, other->id);
		record_decision(c, LOG_NOTICE, "deny", rec->user, q->holder, rec->id, NULL, why);
		return reply_error(c, PT_E_LIMIT, "%s", why);
	}
	if (rec->n_chain >= PT_MAX_DELEGATIONS) {
		snprintf(why, sizeof(why), "the token was delegated %d times already (the most)",
			 PT_MAX_DELEGATIONS);
		record_decision(c, LOG_NOTICE, "deny", rec->user, q->holder, rec->id, NULL, why);
		return reply_error(c, PT_E_LIMIT, "%s", why);
	}
	snprintf(from, sizeof(from), "%s", rec->holder);
	if ((r = pt_record_copy(rec, &moved)) < 0 || (r = pt_record_copy(rec, &undo)) < 0 ||
	    (r = pt_record_delegate(moved, q->holder, delegated_by(c, rec), pt_ops_now(d))) < 0)
		goto fail;
	r = pt_store_move(d->store, moved);
	if (r < 0)
		goto fail;
	/* rec is gone now: moved is the store's */
	rec = moved;
	moved = NULL;
	rep.count = (uint32_t)rec->n_chain;
	snprintf(why, sizeof(why), "delegated from %s to %s by %s", from, rec->holder,
		 rec->chain[rec->n_chain - 1].by);
	record_decision(c, LOG_INFO, "allow", rec->user, rec->holder, rec->id, NULL, why);
	if (audit_synced(c) < 0) {
		/* back to the old holder: no move that the audit log does not show */
		if (pt_store_move(d->store, undo) < 0)
			pt_log_kv(LOG_ERR, "token.delegate", "error", "id", q->id, "reason",
				  "cannot undo the unaudited delegation", NULL);
		else
			undo = NULL;
		pt_record_free(undo);
		return 0; /* run_held refuses the reply */
	}
	pt_record_free(undo);
	return pt_rep_encode(PT_DELEGATE, &rep, c->out);
fail:
	pt_record_free(moved);
	pt_record_free(undo);
	record_decision(c, LOG_ERR, "error", rec->user, q->holder, rec->id, NULL, strerror(-r));
	return reply_error(c, PT_E_INTERNAL, "cannot delegate the token (see tokend's log)");
}
