/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "account.h"
#include "codes.h"
#include "history.h"
#include "journal.h"
#include "b64.h"
#include "fileio.h"
#include "jws.h"
#include "log.h"
#include "ops.h"
#include "policy.h"
#include "proto.h"
#include "rotate.h"
#include "tokentype.h"
#include "util.h"

#define LIVE_TYP "pertok-live+jwt"
#define CLOCK_SKEW 60 /* s of nbf tolerance */

enum who {
	WHO_ANY,   /* any local uid; the handler restricts to own tokens */
	WHO_ACTOR, /* the peer must match a configured actor */
	WHO_ROOT,  /* uid 0 only */
};

/* Everything a handler gets. */
struct call {
	struct pt_daemon *d;
	const struct pt_peer *peer;
	const struct pt_actor *actor; /* WHO_ACTOR: the matched actor */
	const char *actor_name;	      /* for the log: actor->name, "self" or NULL */
	struct pt_req *req;
	struct ptbuf *out;
	const char *token;	  /* the live token decided on (audited as its HMAC) */
	int audit_err;		  /* an allow could not be audited: the reply is refused */
	char audit_id[PT_ID_LEN]; /* ... and the persistable token it created */
};

typedef int (*handler_fn)(struct call *c);

struct handler {
	uint8_t type;
	enum who who;
	handler_fn fn;
};

/* ------------------------------------------------------------------ logging */

/* One line per decision, key=value, never a token. */
static void audit_decision(struct call *c, const char *result, const char *user, const char *holder,
			   const char *id, const char *rule, const char *reason);

/* Usage history: every decided mint, exchange and redeem, per user and
 * per actor (policy.h: max_redemptions_per_day). */
static void count_decision(struct call *c, const char *result, const char *user)
{
	uint8_t t = c->req->type;
	const char *actor = c->actor_name ? c->actor_name : c->actor ? c->actor->name : NULL;
	bool ok = strcmp(result, "allow") == 0 || strcmp(result, "renew") == 0;
	uint64_t now = pt_now_s();

	/* only callers that passed the who-check: names others make up are not kept */
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

/* Summaries of the refusal windows that are over, in
 * the audit trail (pt_audit_refusal_flush writes them) and in the log. */
static void flush_refusals(struct pt_daemon *d)
{
	struct pt_audit_summary sm[16];
	size_t n = 0;
	char v[200];
	int r;

	do {
		r = pt_audit_refusal_flush(d->audit, pt_now_ms_monotonic() / 1000, false, sm,
					   PT_ELEMENTSOF(sm), &n);
		for (size_t i = 0; i < n; i++)
			pt_log(LOG_NOTICE,
			       "op=%s result=summary peer_uid=%d count=%llu recorded=%llu "
			       "window=%llu reason=%s",
			       sm[i].op, sm[i].uid == (uid_t)-1 ? -1 : (int)sm[i].uid,
			       (unsigned long long)sm[i].total, (unsigned long long)sm[i].recorded,
			       (unsigned long long)sm[i].window,
			       pt_log_value(sm[i].text, v, sizeof(v)));
	} while (r >= 0 && n == PT_ELEMENTSOF(sm));
	if (r < 0)
		pt_log(LOG_ERR, "op=audit result=error reason=%s",
		       pt_log_value(pt_audit_failure(d->audit) ?: strerror(-r), v, sizeof(v)));
}

/* Refusals of unprivileged peers (not root, not a configured actor) are
 * rate-limited per uid and op (audit { refusal_burst, refusal_window }):
 * beyond the burst they are only counted, and summarised once per window,
 * so that one user cannot fill the disk with records of refused requests.
 * Allowed decisions, and everything root and actors do, are recorded one by
 * one. Returns true when this decision is to be logged and recorded. */
static bool refusal_admitted(struct call *c, const char *result)
{
	uint64_t now;

	if (strcmp(result, "deny") != 0 && strcmp(result, "error") != 0)
		return true;
	if (c->peer->uid == 0 || c->actor ||
	    pt_policy_match_actor(c->d->cfg, c->peer->uid, c->peer->exe_known ? c->peer->exe : NULL,
				  c->req->service))
		return true;
	flush_refusals(c->d); /* a window that is over: its summary first */
	now = pt_now_ms_monotonic() / 1000;
	return pt_audit_refusal_admit(c->d->audit, c->peer->uid, pt_msgtype_name(c->req->type),
				      now);
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

static void log_decision(struct call *c, int prio, const char *result, const char *user,
			 const char *holder, const char *id, const char *rule, const char *reason)
{
	char v[6][300];

	if (!refusal_admitted(c, result)) {
		count_decision(c, result, user);
		return;
	}

	pt_log(prio,
	       "op=%s result=%s user=%s holder=%s actor=%s rule=%s peer_uid=%u peer_pid=%d "
	       "exe=%s id=%s reason=%s",
	       pt_msgtype_name(c->req->type), result, pt_log_value(user, v[0], sizeof(v[0])),
	       pt_log_value(holder, v[1], sizeof(v[1])),
	       c->actor_name ? c->actor_name :
	       c->actor	     ? c->actor->name :
			       "-",
	       pt_log_value(rule, v[2], sizeof(v[2])), (unsigned)c->peer->uid, (int)c->peer->pid,
	       pt_log_value(c->peer->exe_known ? c->peer->exe : NULL, v[3], sizeof(v[3])),
	       pt_log_value(id, v[4], sizeof(v[4])), pt_log_value(reason, v[5], sizeof(v[5])));
	count_decision(c, result, user);
	audit_decision(c, result, user, holder, id, rule, reason);
}

/* The same decision as one record of the audit trail. When an allow cannot
 * be recorded, the dispatcher refuses the reply (fail closed). */
static void audit_decision(struct call *c, const char *result, const char *user, const char *holder,
			   const char *id, const char *rule, const char *reason)
{
	struct pt_audit_event ev = {
		.op = pt_msgtype_name(c->req->type),
		.result = result,
		.user = user,
		.holder = holder,
		.actor = c->actor_name ? c->actor_name :
			 c->actor      ? c->actor->name :
					 NULL,
		.peer_uid = c->peer->uid,
		.peer_pid = c->peer->pid,
		.exe = c->peer->exe_known ? c->peer->exe : NULL,
		.service = c->req->service && *c->req->service ? c->req->service : NULL,
		.rule = rule,
		.reason = reason,
		.id = id,
		.token = c->token,
	};
	char v[300];
	int r;

	if (strcmp(result, "allow") == 0 || strcmp(result, "renew") == 0)
		snprintf(c->audit_id, sizeof(c->audit_id), "%s", id ? id : "");
	r = pt_audit_append(c->d->audit, &ev);
	if (r >= 0)
		return;
	pt_log(LOG_ERR, "op=audit result=error reason=%s",
	       pt_log_value(pt_audit_failure(c->d->audit) ?: strerror(-r), v, sizeof(v)));
	if (strcmp(result, "allow") == 0 || strcmp(result, "renew") == 0)
		c->audit_err = r;
}

static int reply_error(struct call *c, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int reply_error(struct call *c, uint32_t code, const char *fmt, ...)
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

/* ------------------------------------------------------------- live tokens */

static int add_str_array(json_object *o, const char *key, char *const *v, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	json_object_object_add(o, key, a);
	return 0;
}

struct live_params {
	const struct pt_account *acct;
	char *const *groups; /* the groups claim; NULL: the account's */
	size_t n_groups;
	char *const *entitlements; /* the entitlements claim (omitted when NULL) */
	size_t n_entitlements;
	uint64_t lifetime;
	const char *actor;	 /* current actor (outermost act) */
	const char *prior_actor; /* the actor that issued the persistable token, or NULL */
	const char *ptk;	 /* persistable id, or NULL */
	const char *service;
	const char *tty;
	const char *rhost;
};

/* The claims of a live token (unsigned: explain shows them too). */
static int live_claims(struct pt_daemon *d, const struct live_params *p, uint64_t now,
		       json_object **ret)
{
	uint8_t rnd[16];
	_cleanup_free_ char *jti = NULL;
	json_object *o = NULL, *act, *inner;
	uint64_t exp = now + p->lifetime;
	int r;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	jti = pt_b64url_encode(rnd, sizeof(rnd));
	o = json_object_new_object();
	act = json_object_new_object();
	if (!jti || !o || !act) {
		json_object_put(o);
		json_object_put(act);
		return -ENOMEM;
	}
	json_object_object_add(o, "iss", json_object_new_string(d->cfg->issuer));
	json_object_object_add(o, "sub", json_object_new_string(p->acct->user));
	json_object_object_add(o, "aud", json_object_new_string(d->cfg->audience));
	json_object_object_add(o, "exp", json_object_new_int64((int64_t)exp));
	json_object_object_add(o, "nbf", json_object_new_int64((int64_t)now));
	json_object_object_add(o, "iat", json_object_new_int64((int64_t)now));
	json_object_object_add(o, "jti", json_object_new_string(jti));
	json_object_object_add(o, "uid", json_object_new_int64(p->acct->uid));
	json_object_object_add(o, "gid", json_object_new_int64(p->acct->gid));
	if (p->groups)
		r = add_str_array(o, "groups", p->groups, p->n_groups);
	else
		r = add_str_array(o, "groups", p->acct->groups, p->acct->n_groups);
	if (r >= 0 && p->entitlements)
		r = add_str_array(o, "entitlements", p->entitlements, p->n_entitlements);
	if (r < 0) {
		json_object_put(act);
		json_object_put(o);
		return r;
	}
	json_object_object_add(act, "sub", json_object_new_string(p->actor));
	if (p->prior_actor) {
		inner = json_object_new_object();
		json_object_object_add(inner, "sub", json_object_new_string(p->prior_actor));
		json_object_object_add(act, "act", inner);
	}
	json_object_object_add(o, "act", act);
	if (p->ptk)
		json_object_object_add(o, "ptk", json_object_new_string(p->ptk));
	if (p->service && *p->service)
		json_object_object_add(o, "svc", json_object_new_string(p->service));
	if (p->tty && *p->tty)
		json_object_object_add(o, "tty", json_object_new_string(p->tty));
	if (p->rhost && *p->rhost)
		json_object_object_add(o, "rhost", json_object_new_string(p->rhost));
	*ret = o;
	return 0;
}

static int mint_live(struct pt_daemon *d, const struct live_params *p, char **ret_token,
		     uint64_t *ret_exp)
{
	json_object *o = NULL;
	uint64_t now = pt_now_s();
	int r;

	r = live_claims(d, p, now, &o);
	if (r < 0)
		return r;
	r = pt_jws_sign(d->keys->sign, d->cfg->alg, LIVE_TYP, d->keys->kid,
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), ret_token);
	if (r >= 0)
		*ret_exp = now + p->lifetime;
	json_object_put(o);
	return r;
}

static void policy_ctx_from(struct pt_policy_ctx *ctx, const char *actor, const char *user,
			    const struct pt_account *acct, const char *holder)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->actor = actor;
	ctx->user = user;
	ctx->holder = holder;
	ctx->now = pt_now_s();
	ctx->user_exists = acct != NULL;
	if (acct) {
		ctx->groups = (const char *const *)acct->groups;
		ctx->n_groups = acct->n_groups;
		ctx->account_locked = acct->locked;
		ctx->account_expired = acct->expired;
	}
}

/* ---------------------------------------------------------------- handlers */

static bool printable(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int op_mint(struct call *c)
{
	struct pt_req *q = c->req;
	struct pt_account *acct = NULL;
	struct pt_policy_ctx ctx;
	struct pt_decision dec;
	struct pt_rep rep = { .type = PT_OK, .id = (char *)"" };
	char *token = NULL;
	int r;

	if (!pt_name_valid(q->user))
		return reply_error(c, PT_E_PROTO, "invalid user name");
	/* what ends up in the token and the store: printable, or nothing */
	if (!printable(q->service) || !printable(q->tty) || !printable(q->rhost))
		return reply_error(c, PT_E_PROTO, "service, tty or rhost has control characters");
	r = pt_account_lookup(q->user, &acct);
	if (r == -ENOENT) {
		log_decision(c, LOG_NOTICE, "deny", q->user, NULL, NULL, NULL, "no such user");
		return reply_error(c, PT_E_NOTFOUND, "no such user");
	}
	if (r < 0) {
		log_decision(c, LOG_ERR, "error", q->user, NULL, NULL, NULL, strerror(-r));
		return reply_error(c, PT_E_INTERNAL, "user look-up failed");
	}
	policy_ctx_from(&ctx, c->actor->name, q->user, acct, NULL);
	pt_policy_eval(c->d->cfg, c->d->cfg->issue, c->d->cfg->n_issue, &ctx, &dec);
	if (!dec.allow) {
		log_decision(c, LOG_NOTICE, "deny", q->user, NULL, NULL,
			     dec.rule ? dec.rule->name : NULL, dec.reason);
		r = reply_error(c, PT_E_DENIED, "%s", dec.reason);
		goto out;
	}
	struct live_params lp = { .acct = acct,
				  .lifetime = dec.live_lifetime,
				  .actor = c->actor->name,
				  .service = q->service,
				  .tty = q->tty,
				  .rhost = q->rhost };
	if (dec.rule->n_entitlements) {
		lp.entitlements = dec.rule->entitlements;
		lp.n_entitlements = dec.rule->n_entitlements;
	}
	r = mint_live(c->d, &lp, &token, &rep.exp);
	if (r < 0) {
		log_decision(c, LOG_ERR, "error", q->user, NULL, NULL, dec.rule->name,
			     "cannot sign a live token");
		r = reply_error(c, PT_E_INTERNAL, "cannot sign a live token");
		goto out;
	}
	rep.token = token;
	c->token = token;
	log_decision(c, LOG_INFO, "allow", q->user, NULL, NULL, dec.rule->name, dec.reason);
	r = pt_rep_encode(PT_MINT, &rep, c->out);
out:
	pt_free_secret(token);
	pt_account_free(acct);
	return r;
}

/* Verifies a live token presented for exchange; returns its claims. */
static int verify_live(struct pt_daemon *d, const char *token, json_object **ret,
		       const char **ret_why)
{
	json_object *claims = NULL, *v;
	_cleanup_free_ char *kid = NULL;
	uint64_t now = pt_now_s();
	int r;

	r = pt_keys_verify(d->keys, token, LIVE_TYP, now, (void **)&claims, &kid);
	if (r < 0) {
		*ret_why = r == -EKEYREJECTED ? "bad signature" :
			   r == -EPROTOTYPE   ? "not a live token" :
			   r == -ENOTSUP      ? "unsupported alg" :
						"malformed token";
		return -EINVAL;
	}
	if (!kid) {
		*ret_why = "signed by another key";
		goto bad;
	}
	if (!json_object_object_get_ex(claims, "aud", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), d->cfg->audience) != 0) {
		*ret_why = "wrong audience";
		goto bad;
	}
	if (!json_object_object_get_ex(claims, "exp", &v) ||
	    !json_object_is_type(v, json_type_int) || (uint64_t)json_object_get_int64(v) <= now) {
		*ret_why = "expired";
		goto bad;
	}
	if (!json_object_object_get_ex(claims, "nbf", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) > (int64_t)(now + CLOCK_SKEW)) {
		*ret_why = "not yet valid";
		goto bad;
	}
	if (!json_object_object_get_ex(claims, "sub", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !json_object_object_get_ex(claims, "uid", &v) ||
	    !json_object_is_type(v, json_type_int)) {
		*ret_why = "missing sub or uid";
		goto bad;
	}
	*ret = claims;
	return 0;
bad:
	json_object_put(claims);
	return -EINVAL;
}

static const char *claim_str(json_object *claims, const char *key)
{
	json_object *v;

	if (json_object_object_get_ex(claims, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

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

static void redeem_ctx(struct pt_policy_ctx *ctx, const char *actor, const char *user,
		       const struct pt_account *acct, const char *holder,
		       const struct pt_record *rec, uint64_t now);

/* A live token minted by a redemption names its persistable token ("ptk").
 * EXCHANGE takes it only as a renewal of that very token, and only when the
 * deciding issue rule sets renew_from_redeemed: the same user and holder,
 * the token still stored and unexpired. The renewal keeps the token's id,
 * issue time, identity, usage and provenance (what the login recorded) and
 * moves only its expiry, never past its issue time + max_persist_lifetime
 * (the login's hard maximum), nor past its issue time + the max_age of the
 * redeem rule that decides its redemptions now (which keeps counting from
 * that issue time anyway). Returns the token to renew, its maximum expiry in
 * *ret_cap and the setting that sets it in *ret_cap_by, or NULL after
 * logging and replying (reply in *ret_reply). */
static struct pt_record *renewal_source(struct call *c, const char *ptk, const char *user,
					uid_t tuid, const struct pt_account *acct,
					const struct pt_decision *dec, uint64_t now,
					uint64_t *ret_cap, const char **ret_cap_by, int *ret_reply)
{
	struct pt_daemon *d = c->d;
	const char *holder = c->req->holder;
	struct pt_record *rec = ptk ? pt_store_find_id(d->store, ptk) : NULL;
	struct pt_policy_ctx rctx;
	struct pt_decision rdec;
	const char *cap_by = "max_persist_lifetime";
	uint64_t cap;

	if (!rec) {
		log_decision(c, LOG_NOTICE, "deny", user, holder, ptk, dec->rule->name,
			     "renewal from redeemed token: its persistable token no longer exists");
		*ret_reply = reply_error(c, PT_E_NOTFOUND,
					 "the persistable token this live token was redeemed from "
					 "(%s) no longer exists: log in again",
					 ptk ? ptk : "-");
		return NULL;
	}
	if (rec->uid != tuid || strcmp(rec->user, user) != 0 || strcmp(rec->holder, holder) != 0) {
		log_decision(c, LOG_WARNING, "deny", user, holder, rec->id, dec->rule->name,
			     "renewal from redeemed token: another user or holder than its "
			     "persistable token's");
		*ret_reply = reply_error(c, PT_E_DENIED,
					 "a live token redeemed from %s may only renew that token "
					 "(holder %s), not one for holder %s",
					 rec->id, rec->holder, holder);
		return NULL;
	}
	if (rec->exp <= now) {
		log_decision(c, LOG_NOTICE, "deny", user, holder, rec->id, dec->rule->name,
			     "renewal from redeemed token: persistable token expired");
		*ret_reply =
			reply_error(c, PT_E_INVALID, "the persistable token %s expired", rec->id);
		return NULL;
	}
	cap = rec->iat + d->cfg->max_persist_lifetime;
	if (cap < rec->iat)
		cap = UINT64_MAX;
	redeem_ctx(&rctx, rec->holder, user, acct, rec->holder, rec, now);
	pt_policy_eval(d->cfg, d->cfg->redeem, d->cfg->n_redeem, &rctx, &rdec);
	if (rdec.rule && rdec.rule->max_age && rec->iat + rdec.rule->max_age > rec->iat &&
	    rec->iat + rdec.rule->max_age < cap) {
		cap = rec->iat + rdec.rule->max_age;
		cap_by = "max_age";
	}
	if (cap <= now) {
		log_decision(c, LOG_NOTICE, "deny", user, holder, rec->id, dec->rule->name,
			     "renewal from redeemed token: past its maximum lifetime "
			     "(max_persist_lifetime or max_age from its issue)");
		*ret_reply = reply_error(c, PT_E_LIMIT,
					 "the persistable token %s reached its maximum lifetime "
					 "(max_persist_lifetime or max_age): log in again",
					 rec->id);
		return NULL;
	}
	*ret_cap = cap;
	*ret_cap_by = cap_by;
	return rec;
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

/* The renewal itself: a copy of src with the new expiry (at most cap). It is
 * audited before it is stored: refused for want of an audit record, it
 * leaves the stored token as it was (the dispatcher then removes nothing). */
static int renew_redeemed(struct call *c, const struct pt_record *src, const char *user,
			  const struct pt_decision *dec, uint64_t exp, uint64_t cap,
			  const char *cap_by, struct pt_rep *rep)
{
	struct pt_record *rec = NULL;
	char reason[320];
	bool capped = exp > cap, replaced = false;
	int r;

	r = record_dup(src, &rec);
	if (r < 0)
		goto internal;
	rec->exp = capped ? cap : exp;
	snprintf(reason, sizeof(reason),
		 "renewal from redeemed token: rule \"%s\" (line %d) sets "
		 "renew_from_redeemed%s%s",
		 dec->rule->name, dec->rule->line,
		 capped ? "; expiry capped at its issue time + " : "", capped ? cap_by : "");
	log_decision(c, LOG_NOTICE, "renew", user, c->req->holder, rec->id, dec->rule->name,
		     reason);
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
	log_decision(c, LOG_ERR, "error", user, c->req->holder, src->id, dec->rule->name,
		     strerror(-r));
	r = reply_error(c, PT_E_INTERNAL, "cannot store the persistable token (see tokend's log)");
out:
	pt_record_free(rec);
	return r;
}

static int op_exchange(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_req *q = c->req;
	json_object *claims = NULL;
	struct pt_account *acct = NULL;
	struct pt_record *rec = NULL, *old, *src = NULL;
	struct pt_policy_ctx ctx;
	struct pt_decision dec;
	struct pt_rep rep = { .type = PT_OK };
	const char *why = NULL, *user, *actor, *ptk;
	char reason[400];
	uint64_t now = pt_now_s(), lifetime, cap = 0;
	const char *cap_by = NULL;
	uid_t tuid;
	bool replaced = false, redeemed;
	int r;

	if (!pt_name_valid(q->holder))
		return reply_error(c, PT_E_PROTO, "invalid holder name");
	r = verify_live(d, q->live_token, &claims, &why);
	if (r < 0) {
		log_decision(c, LOG_NOTICE, "deny", NULL, q->holder, NULL, NULL, why);
		return reply_error(c, PT_E_INVALID, "live token rejected: %s", why);
	}
	user = claim_str(claims, "sub");
	c->token = q->live_token;
	tuid = (uid_t)json_object_get_int64(json_object_object_get(claims, "uid"));
	/* minted by a redemption (names its persistable token), not by a login */
	redeemed = json_object_object_get_ex(claims, "ptk", NULL);
	ptk = claim_str(claims, "ptk");

	/* who asks: a configured actor (root-run login stacks) or the user themself */
	c->actor = pt_policy_match_actor(d->cfg, c->peer->uid,
					 c->peer->exe_known ? c->peer->exe : NULL,
					 claim_str(claims, "svc"));
	if (c->actor)
		actor = c->actor->name;
	else if (c->peer->uid == tuid)
		actor = c->actor_name = "self";
	else {
		log_decision(c, LOG_WARNING, "deny", user, q->holder, NULL, NULL,
			     "caller is neither an actor nor the token's user");
		r = reply_error(c, PT_E_PERM, "you may only exchange your own live token");
		goto out;
	}
	if (!pt_config_find_actor(d->cfg, q->holder)) {
		log_decision(c, LOG_NOTICE, "deny", user, q->holder, NULL, NULL, "unknown holder");
		r = reply_error(c, PT_E_DENIED, "holder %s is not a configured actor", q->holder);
		goto out;
	}
	r = pt_account_lookup(user, &acct);
	if (r < 0 || acct->uid != tuid) {
		log_decision(c, LOG_NOTICE, "deny", user, q->holder, NULL, NULL,
			     "user no longer exists or changed uid");
		r = reply_error(c, PT_E_NOTFOUND, "user %s no longer exists or changed uid", user);
		goto out;
	}
	policy_ctx_from(&ctx, actor, user, acct, q->holder);
	pt_policy_eval(d->cfg, d->cfg->issue, d->cfg->n_issue, &ctx, &dec);
	if (redeemed && (!dec.allow || !dec.rule->renew_from_redeemed)) {
		/* only a login mints a live token that can be exchanged (default) */
		char detail[300];

		if (dec.allow)
			snprintf(detail, sizeof(detail),
				 "rule \"%s\" (line %d) does not set renew_from_redeemed",
				 dec.rule->name, dec.rule->line);
		else
			snprintf(detail, sizeof(detail), "%s", dec.reason);
		snprintf(reason, sizeof(reason),
			 "live token minted by a redemption, not a login: %s", detail);
		log_decision(c, LOG_WARNING, "deny", user, q->holder, ptk,
			     dec.rule ? dec.rule->name : NULL, reason);
		r = reply_error(c, PT_E_DENIED,
				"only a live token minted at login can be exchanged; this one was "
				"minted by a redemption of %s (%s)",
				ptk ? ptk : "a persistable token", detail);
		goto out;
	}
	if (!dec.allow) {
		log_decision(c, LOG_NOTICE, "deny", user, q->holder, NULL,
			     dec.rule ? dec.rule->name : NULL, dec.reason);
		r = reply_error(c, PT_E_DENIED, "%s", dec.reason);
		goto out;
	}
	if (redeemed) {
		src = renewal_source(c, ptk, user, tuid, acct, &dec, now, &cap, &cap_by, &r);
		if (!src)
			goto out;
	}
	old = pt_store_find_slot(d->store, user, q->holder);
	if (!old && dec.max_outstanding &&
	    pt_store_count_user(d->store, user) >= dec.max_outstanding) {
		log_decision(c, LOG_NOTICE, "deny", user, q->holder, NULL, dec.rule->name,
			     "max outstanding tokens reached");
		r = reply_error(c, PT_E_LIMIT,
				"user %s already has %u persistable tokens (max_outstanding)", user,
				dec.max_outstanding);
		goto out;
	}
	if (dec.rule->rate_n && d->history &&
	    !pt_history_rate_take(d->history, user, dec.rule->rate_n, dec.rule->rate_period,
				  pt_now_ms_monotonic())) {
		log_decision(c, LOG_NOTICE, "deny", user, q->holder, NULL, dec.rule->name,
			     "issue rate limit reached");
		r = reply_error(c, PT_E_LIMIT,
				"user %s reached the issue rate of rule \"%s\" (%u per %llus)",
				user, dec.rule->name, dec.rule->rate_n,
				(unsigned long long)dec.rule->rate_period);
		goto out;
	}
	lifetime = dec.persist_lifetime;
	if (q->lifetime && q->lifetime < lifetime)
		lifetime = q->lifetime;
	if (src) {
		r = renew_redeemed(c, src, user, &dec, now + lifetime, cap, cap_by, &rep);
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
	rec->service = xstrdup(claim_str(claims, "svc"));
	rec->tty = xstrdup(claim_str(claims, "tty"));
	rec->rhost = xstrdup(claim_str(claims, "rhost"));
	rec->source_jti = xstrdup(claim_str(claims, "jti"));
	if (dec.rule->n_entitlements) {
		r = dup_strv(dec.rule->entitlements, dec.rule->n_entitlements, &rec->entitlements);
		if (r < 0)
			goto internal;
		rec->n_entitlements = dec.rule->n_entitlements;
	}
	rec->iat = now;
	rec->exp = now + lifetime;
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
	log_decision(c, LOG_INFO, replaced ? "renew" : "allow", user, q->holder, rec->id,
		     dec.rule->name, dec.reason);
	rec = NULL; /* owned by the store now */
	r = pt_rep_encode(PT_EXCHANGE, &rep, c->out);
	goto out;
internal:
	log_decision(c, LOG_ERR, "error", user, q->holder, NULL, NULL, strerror(-r));
	r = reply_error(c, PT_E_INTERNAL, "cannot store the persistable token (see tokend's log)");
out:
	pt_record_free(rec);
	pt_account_free(acct);
	json_object_put(claims);
	return r;
}

/* The groups and entitlements claims of a redemption's live token: the
 * account's groups now and the entitlements recorded at issuance, as the
 * deciding redeem rule adds and curtails them (late-bound). */
struct redeem_lists {
	char **groups;
	size_t n_groups;
	char **ents;
	size_t n_ents;
};

static void redeem_lists_clear(struct redeem_lists *l)
{
	pt_policy_strv_free(l->groups, l->n_groups);
	pt_policy_strv_free(l->ents, l->n_ents);
	memset(l, 0, sizeof(*l));
}

static int redeem_lists(const struct pt_record *rec, const struct pt_account *acct,
			const struct pt_rule *r, struct redeem_lists *ret)
{
	struct redeem_lists l = { 0 };
	int k;

	k = pt_policy_apply_lists(acct->groups, acct->n_groups, r->groups_add, r->n_groups_add,
				  r->groups_remove, r->n_groups_remove, &l.groups, &l.n_groups);
	if (k >= 0)
		k = pt_policy_apply_lists(rec->entitlements, rec->n_entitlements,
					  r->entitlements_add, r->n_entitlements_add,
					  r->entitlements_remove, r->n_entitlements_remove, &l.ents,
					  &l.n_ents);
	if (k < 0) {
		redeem_lists_clear(&l);
		return k;
	}
	*ret = l;
	return 0;
}

/* The redeem context: the policy inputs of redeeming rec as user for holder. */
static void redeem_ctx(struct pt_policy_ctx *ctx, const char *actor, const char *user,
		       const struct pt_account *acct, const char *holder,
		       const struct pt_record *rec, uint64_t now)
{
	policy_ctx_from(ctx, actor, user, acct, holder);
	ctx->now = now;
	if (rec) {
		ctx->has_token = true;
		ctx->token_iat = rec->iat;
		ctx->token_last_used = rec->last_used;
		ctx->token_uses = rec->uses;
		ctx->token_service = rec->service;
		ctx->token_actor = rec->actor;
		ctx->token_entitlements = (const char *const *)rec->entitlements;
		ctx->n_token_entitlements = rec->n_entitlements;
	}
}

static int op_redeem(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_req *q = c->req;
	struct pt_record *rec;
	struct pt_account *acct = NULL;
	struct pt_policy_ctx ctx;
	struct pt_decision dec;
	struct pt_rep rep = { .type = PT_OK };
	struct redeem_lists lists = { 0 };
	char *token = NULL;
	uint64_t now = pt_now_s(), new_exp = 0;
	bool moved;
	int r;

	if (!pt_name_valid(q->user) || !pt_name_valid(q->holder))
		return reply_error(c, PT_E_PROTO, "invalid user or holder name");
	/* a holder is an actor: only that actor may redeem for it */
	if (strcmp(c->actor->name, q->holder) != 0) {
		log_decision(c, LOG_WARNING, "deny", q->user, q->holder, NULL, NULL,
			     "caller is another actor than the holder");
		return reply_error(c, PT_E_PERM, "actor %s may not redeem for holder %s",
				   c->actor->name, q->holder);
	}
	rec = pt_store_find_slot(d->store, q->user, q->holder);
	if (!rec) {
		log_decision(c, LOG_NOTICE, "deny", q->user, q->holder, NULL, NULL,
			     "no persistable token");
		return reply_error(c, PT_E_NOTFOUND,
				   "no persistable token for user %s and holder %s", q->user,
				   q->holder);
	}
	if (rec->exp <= now) {
		log_decision(c, LOG_NOTICE, "deny", q->user, q->holder, rec->id, NULL,
			     "persistable token expired");
		return reply_error(c, PT_E_INVALID, "the persistable token %s expired", rec->id);
	}
	r = pt_account_lookup(q->user, &acct);
	if (r < 0 && r != -ENOENT) {
		log_decision(c, LOG_ERR, "error", q->user, q->holder, rec->id, NULL, strerror(-r));
		return reply_error(c, PT_E_INTERNAL, "user look-up failed");
	}
	if (acct && acct->uid != rec->uid) {
		/* the name now belongs to another account: never hand it the old identity */
		pt_account_free(acct);
		acct = NULL;
	}
	/* late binding: the rules in force now, against the account as it is now */
	redeem_ctx(&ctx, c->actor->name, q->user, acct, q->holder, rec, now);
	ctx.redemptions_today =
		pt_history_today(d->history, PT_HIST_USER, q->user, PT_HIST_REDEMPTIONS, now);
	pt_policy_eval(d->cfg, d->cfg->redeem, d->cfg->n_redeem, &ctx, &dec);
	if (dec.allow && !acct) {
		dec.allow = false;
		snprintf(dec.reason, sizeof(dec.reason),
			 "user %s no longer exists (or changed uid)", q->user);
	}
	if (dec.allow && dec.persist_from_rule) {
		/* the rule moves the persistable token's expiry (from its iat) */
		new_exp = rec->iat + dec.persist_lifetime;
		if (new_exp <= now) {
			dec.allow = false;
			snprintf(dec.reason, sizeof(dec.reason),
				 "rule \"%s\" (line %d): persist_lifetime ends the persistable "
				 "token before now",
				 dec.rule->name, dec.rule->line);
		}
	}
	if (!dec.allow) {
		log_decision(c, LOG_NOTICE, "deny", q->user, q->holder, rec->id,
			     dec.rule ? dec.rule->name : NULL, dec.reason);
		r = reply_error(c, PT_E_DENIED, "%s", dec.reason);
		goto out;
	}
	r = redeem_lists(rec, acct, dec.rule, &lists);
	if (r < 0) {
		log_decision(c, LOG_ERR, "error", q->user, q->holder, rec->id, dec.rule->name,
			     strerror(-r));
		r = reply_error(c, PT_E_INTERNAL, "out of memory");
		goto out;
	}
	struct live_params lp = { .acct = acct,
				  .lifetime = dec.live_lifetime,
				  .groups = lists.groups,
				  .n_groups = lists.n_groups,
				  .entitlements = lists.ents,
				  .n_entitlements = lists.n_ents,
				  .actor = c->actor->name,
				  .prior_actor = rec->actor,
				  .ptk = rec->id,
				  .service = q->service };
	r = mint_live(d, &lp, &token, &rep.exp);
	if (r < 0) {
		log_decision(c, LOG_ERR, "error", q->user, q->holder, rec->id, dec.rule->name,
			     "cannot sign a live token");
		r = reply_error(c, PT_E_INTERNAL, "cannot sign a live token");
		goto out;
	}
	/* counted now, on disk before this reply goes out (pt_ops_commit) */
	rec->uses++;
	rec->last_used = now;
	moved = dec.persist_from_rule && rec->exp != new_exp;
	if (moved)
		rec->exp = new_exp;
	pt_store_touch(d->store, rec, moved);
	rep.token = token;
	c->token = token;
	rep.id = rec->id;
	log_decision(c, LOG_INFO, "allow", q->user, q->holder, rec->id, dec.rule->name, dec.reason);
	r = pt_rep_encode(PT_REDEEM, &rep, c->out);
out:
	redeem_lists_clear(&lists);
	pt_free_secret(token);
	pt_account_free(acct);
	return r;
}

/* A directory sync failed after a change took effect (store.h): the change
 * stands and is reported as done; the sync is retried at each commit. */
static void log_sync_failure(struct pt_daemon *d)
{
	int e = pt_store_sync_failure(d->store);
	char v[300];

	if (e)
		pt_log(LOG_ERR,
		       "op=fsync result=error dir=%s reason=\"%s; the change took effect, the "
		       "directory sync is retried\"",
		       pt_log_value(d->keydir, v, sizeof(v)), strerror(e));
}

static bool may_see(const struct call *c, const struct pt_record *rec)
{
	return c->peer->uid == 0 || rec->uid == c->peer->uid;
}

/* LIST and LIST_PAGE: the entries the caller may see, from the cursor on,
 * as many as fit one frame (proto.h). */
static int op_list(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_rep rep = { .type = PT_OK };
	size_t n = pt_store_count(d->store), i = 0, last = 0, k = 0, bytes;
	bool paged = c->req->type == PT_LIST_PAGE;
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
	}
	if (rep.more)
		pt_store_cursor(d->store, last, cursor);
	rep.cursor = cursor;
	rep.n_list = (uint32_t)k;
	r = pt_rep_encode(c->req->type, &rep, c->out);
	free(rep.list);
	return r;
}

static int op_revoke(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_record *rec = pt_store_find_id(d->store, c->req->id);
	struct pt_rep rep = { .type = PT_OK, .count = 1 };
	_cleanup_free_ char *user = NULL, *holder = NULL;
	int r;

	if (!rec || !may_see(c, rec)) {
		/* the same answer whether it exists or is someone else's */
		log_decision(c, LOG_NOTICE, "deny", NULL, NULL, c->req->id, NULL, "no such token");
		return reply_error(c, PT_E_NOTFOUND, "no such token: %s", c->req->id);
	}
	user = strdup(rec->user);
	holder = strdup(rec->holder);
	r = pt_store_remove(d->store, c->req->id);
	if (r < 0) {
		log_decision(c, LOG_ERR, "error", user, holder, c->req->id, NULL, strerror(-r));
		return reply_error(c, PT_E_INTERNAL, "cannot remove the token (see tokend's log)");
	}
	log_sync_failure(d); /* removed, even if the directory sync failed (store.h) */
	log_decision(c, LOG_INFO, "allow", user, holder, c->req->id, NULL, "revoked");
	return pt_rep_encode(PT_REVOKE, &rep, c->out);
}

static int op_pubkey(struct call *c)
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

static int op_status(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_rep rep = { .type = PT_OK };
	char text[4096];
	uint64_t now = pt_now_s();

	snprintf(text, sizeof(text),
		 "version=%s\npid=%d\nuptime=%llu\nconfig=%s\nsocket=%s\nstate_dir=%s\n"
		 "seal_backend=%s\nseal_strength=%s\nsigning_alg=%s\nsigning_kid=%s\n"
		 "signing_key_created=%llu\ntokens=%zu\nconnections=%u\nrequests=%llu\n"
		 "denied=%llu\nactors=%zu\nissue_rules=%zu\nredeem_rules=%zu\n",
		 PACKAGE_VERSION, (int)getpid(), (unsigned long long)(now - d->started),
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
			snprintf(text + o, sizeof(text) - o, "audit_seq=%llu\naudit=%s\n",
				 (unsigned long long)pt_audit_seq(d->audit),
				 pt_audit_failure(d->audit) ? "failing" : "ok");
	}
	rep.text = text;
	return pt_rep_encode(PT_STATUS, &rep, c->out);
}

/* Bulk revocation: every token of a user, of a holder, issued before a
 * time (all given criteria must hold). Root matches anything; others only
 * their own tokens. Effective at once and on disk (survives restarts). */
static int op_revoke_match(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_req *q = c->req;
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
			log_decision(c, LOG_ERR, "error", user, holder, id, NULL, strerror(-r));
			failed++;
			continue;
		}
		log_sync_failure(d);
		log_decision(c, LOG_INFO, "allow", user, holder, id, NULL, why);
		n++;
	}
	if (failed)
		return reply_error(c, PT_E_INTERNAL,
				   "revoked %u tokens, %u could not be removed (see tokend's log)",
				   n, failed);
	rep.count = n;
	return pt_rep_encode(PT_REVOKE_MATCH, &rep, c->out);
}

static const char *iso_time(uint64_t t, bool local, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!(local ? localtime_r(&tt, &tm) : gmtime_r(&tt, &tm)) ||
	    strftime(buf, len, local ? "%Y-%m-%d %H:%M:%S %z %a" : "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%llu", (unsigned long long)t);
	return buf;
}

/* A dry run of a redemption: which redeem rule decides and why, on what
 * account state, and the claims the live token would carry. Nothing is
 * signed, no use is counted, nothing is stored. Root only. */
static int op_explain(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_req *q = c->req;
	struct pt_rep rep = { .type = PT_OK };
	struct pt_record *rec;
	struct pt_account *acct = NULL;
	struct pt_policy_ctx ctx;
	struct pt_decision dec;
	struct redeem_lists lists = { 0 };
	json_object *claims = NULL;
	uint64_t now = pt_now_s(), at = q->at ? q->at : now;
	size_t len = 32 * 1024, off = 0;
	char *text = NULL, t1[64], t2[64], t3[64];
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
	text = calloc(1, len);
	if (!text)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	r = pt_account_lookup(q->user, &acct);
	if (r < 0 && r != -ENOENT) {
		r = reply_error(c, PT_E_INTERNAL, "user look-up failed: %s", strerror(-r));
		goto out;
	}
	rec = pt_store_find_slot(d->store, q->user, q->holder);
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
	if (acct && rec && acct->uid != rec->uid) {
		OUT("account: the name now belongs to uid %u, not the token's uid %u: treated as "
		    "missing\n",
		    (unsigned)acct->uid, (unsigned)rec->uid);
		pt_account_free(acct);
		acct = NULL;
	} else if (acct) {
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

	/* as op_redeem would evaluate it, with the holder as the actor */
	redeem_ctx(&ctx, q->holder, q->user, acct, q->holder, rec, at);
	ctx.redemptions_today =
		pt_history_today(d->history, PT_HIST_USER, q->user, PT_HIST_REDEMPTIONS, at);
	OUT("history: %u redemptions of %s that day, %llu in all\n", ctx.redemptions_today, q->user,
	    (unsigned long long)pt_history_total(d->history, PT_HIST_USER, q->user,
						 PT_HIST_REDEMPTIONS));
	if (off < len)
		off += pt_policy_explain(d->cfg, d->cfg->redeem, d->cfg->n_redeem, &ctx, &dec,
					 text + off, len - off);
	if (dec.allow && !acct) {
		dec.allow = false;
		OUT("but: user %s no longer exists (or changed uid): deny\n", q->user);
	}
	if (dec.allow && rec && dec.persist_from_rule) {
		uint64_t e = rec->iat + dec.persist_lifetime;
		OUT("persistable token: persist_lifetime %llus moves its expiry to %s%s\n",
		    (unsigned long long)dec.persist_lifetime, iso_time(e, false, t1, sizeof(t1)),
		    e <= at ? " (already passed: deny)" : "");
		if (e <= at)
			dec.allow = false;
	}
	if (dec.allow && rec && rec->exp > at) {
		r = redeem_lists(rec, acct, dec.rule, &lists);
		if (r < 0) {
			r = reply_error(c, PT_E_INTERNAL, "out of memory");
			goto out;
		}
		struct live_params lp = { .acct = acct,
					  .lifetime = dec.live_lifetime,
					  .groups = lists.groups,
					  .n_groups = lists.n_groups,
					  .entitlements = lists.ents,
					  .n_entitlements = lists.n_ents,
					  .actor = q->holder,
					  .prior_actor = rec->actor,
					  .ptk = rec->id,
					  .service = q->holder };
		r = live_claims(d, &lp, at, &claims);
		if (r < 0) {
			r = reply_error(c, PT_E_INTERNAL, "cannot build the claims");
			goto out;
		}
		OUT("live token claims (not signed; jti is a sample; svc is the PAM service, "
		    "here the holder's name):\n%s\n",
		    json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	} else
		OUT("no live token would be minted\n");
#undef OUT
	rep.text = text;
	/* result=dry-run: nothing was granted; the reason carries the decision */
	log_decision(c, LOG_INFO, "dry-run", q->user, q->holder, rec ? rec->id : NULL,
		     dec.rule ? dec.rule->name : NULL,
		     dec.allow && rec && rec->exp > at ? "explained (dry run): decision=allow" :
							 "explained (dry run): decision=deny");
	r = pt_rep_encode(PT_EXPLAIN, &rep, c->out);
out:
	json_object_put(claims);
	redeem_lists_clear(&lists);
	pt_account_free(acct);
	free(text);
	return r;
}

/* pertokctl rotate-key: new store key + signing key, tokens re-wrapped. */
static int op_rotate(struct call *c)
{
	struct pt_rep rep = { .type = PT_OK };
	char msg[1024];
	int r;

	r = pt_rotate(c->d, msg, sizeof(msg));
	if (r < 0) {
		pt_log(LOG_ERR, "op=rotate-key result=error peer_uid=%u reason=\"%s\"",
		       (unsigned)c->peer->uid, msg);
		return reply_error(c, PT_E_INTERNAL, "%s", msg);
	}
	pt_log(LOG_NOTICE, "op=rotate-key result=allow peer_uid=%u kid=%s reason=\"%s\"",
	       (unsigned)c->peer->uid, c->d->keys->kid, msg);
	/* recorded, vouched for by the old key, then the new key signs */
	audit_decision(c, "allow", NULL, NULL, NULL, NULL, msg);
	if (pt_audit_set_key(c->d->audit, c->d->keys->sign, c->d->keys->kid) < 0)
		pt_log(LOG_ERR,
		       "op=audit result=error reason=\"checkpoint before the key change: "
		       "%s\"",
		       pt_audit_failure(c->d->audit) ?: "failed");
	rep.text = msg;
	return pt_rep_encode(PT_ROTATE, &rep, c->out);
}

/* pertokctl reseal: seal the store key again (current PCR values). */
static int op_reseal(struct call *c)
{
	struct pt_rep rep = { .type = PT_OK };
	char msg[1024];
	int r;

	r = pt_reseal(c->d, msg, sizeof(msg));
	if (r < 0) {
		pt_log(LOG_ERR, "op=reseal result=error peer_uid=%u reason=\"%s\"",
		       (unsigned)c->peer->uid, msg);
		return reply_error(c, PT_E_INTERNAL, "%s", msg);
	}
	pt_log(LOG_NOTICE, "op=reseal result=allow peer_uid=%u reason=\"%s\"",
	       (unsigned)c->peer->uid, msg);
	rep.text = msg;
	return pt_rep_encode(PT_RESEAL, &rep, c->out);
}

/* ------------------------------------------------------------ code types */

/* A code type named by the request, or an error reply (tokentype.h). */
static const struct pt_tokentype *code_type(struct call *c, int *ret_reply)
{
	const struct pt_tokentype *t =
		pt_ttype_find(c->d->cfg->types, c->d->cfg->n_types, c->req->ttype);
	char rule[96];

	snprintf(rule, sizeof(rule), "type:%.64s", c->req->ttype);
	if (!t || t->kind != PT_TTYPE_CODE) {
		log_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
			     t ? "not a code type" : "no such type");
		*ret_reply =
			reply_error(c, PT_E_NOTFOUND, "%s: %.64s",
				    t ? "not a code type" : "no such token type", c->req->ttype);
		return NULL;
	}
	if (!pt_name_valid(c->req->user)) {
		log_decision(c, LOG_NOTICE, "deny", NULL, NULL, NULL, rule, "invalid user name");
		*ret_reply = reply_error(c, PT_E_INVALID, "invalid user name");
		return NULL;
	}
	return t;
}

/* Expired (idle ttl since the last use, or past the hard maximum)? */
static uint64_t code_exp(const struct pt_tokentype *t, const struct pt_code_rec *rec)
{
	uint64_t idle = rec->last_used + t->ttl;

	return idle < rec->hard_exp ? idle : rec->hard_exp;
}

/* pertokctl code issue: a new code of a code type; replaces the user's
 * outstanding one. The code is in the reply only, never logged or stored. */
static int op_code_issue(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_tokentype *t;
	struct pt_code_rec rec, glob;
	struct pt_rep rep = { .type = PT_OK };
	char rule[96], why[256], reason[320];
	uint64_t now = pt_now_s(), wait = 0;
	unsigned bits = 0;
	char *code = NULL;
	int r = 0;

	t = code_type(c, &r);
	if (!t)
		return r;
	snprintf(rule, sizeof(rule), "type:%s", t->name);
	if ((r = pt_codes_load(d->cfg->state_dir, t->name, c->req->user, &rec)) < 0 ||
	    (r = pt_codes_load(d->cfg->state_dir, t->name, "", &glob)) < 0) {
		log_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
		return reply_error(c, PT_E_INTERNAL,
				   "cannot read the code records (see tokend's log)");
	}
	if (rec.locked_until > now) {
		snprintf(reason, sizeof(reason), "locked out for %" PRIu64 " more seconds",
			 rec.locked_until - now);
		log_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
		return reply_error(c, PT_E_LIMIT,
				   "user %s is locked out of type %s (%" PRIu64 " more seconds)",
				   c->req->user, t->name, rec.locked_until - now);
	}
	if (!pt_bucket_peek(&rec, t->rate_n, t->rate_period, now, &wait) ||
	    !pt_bucket_peek(&glob, t->global_rate_n, t->global_rate_period, now, &wait)) {
		bool user_limit = !pt_bucket_peek(&rec, t->rate_n, t->rate_period, now, NULL);
		snprintf(reason, sizeof(reason),
			 "%s rate limit of type %s reached, retry in %" PRIu64 "s",
			 user_limit ? "per-user" : "global", t->name, wait);
		log_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
		return reply_error(c, PT_E_LIMIT, "%s", reason);
	}
	r = pt_ttype_generate(t, c->req->user, &code, &bits, why, sizeof(why));
	if (r < 0) {
		log_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
			     why[0] ? why : strerror(-r));
		return reply_error(c, r == -EINVAL || r == -EAGAIN ? PT_E_INVALID : PT_E_INTERNAL,
				   "%s", why[0] ? why : "cannot generate a code");
	}
	if (RAND_bytes(rec.salt, sizeof(rec.salt)) != 1 ||
	    pt_codes_hash(rec.salt, t->name, c->req->user, code, rec.hash) < 0) {
		r = -EIO;
		goto internal;
	}
	rec.active = true;
	rec.iat = rec.last_used = now;
	rec.hard_exp = now + t->max_ttl;
	rec.uses = rec.failures = 0;
	pt_bucket_take(&rec, t->rate_n, t->rate_period, now);
	pt_bucket_take(&glob, t->global_rate_n, t->global_rate_period, now);
	if ((t->global_rate_n && (r = pt_codes_save(d->cfg->state_dir, &glob)) < 0) ||
	    (r = pt_codes_save(d->cfg->state_dir, &rec)) < 0)
		goto internal;
	snprintf(reason, sizeof(reason), "issued (%u random bits, %s)", bits,
		 t->num_uses ? "limited uses" : "unlimited uses");
	log_decision(c, LOG_INFO, "allow", c->req->user, NULL, NULL, rule, reason);
	rep.token = code;
	rep.exp = code_exp(t, &rec);
	r = pt_rep_encode(PT_CODE_ISSUE, &rep, c->out);
	pt_free_secret(code);
	OPENSSL_cleanse(&rec, sizeof(rec));
	return r;
internal:
	pt_free_secret(code);
	OPENSSL_cleanse(&rec, sizeof(rec));
	log_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
	return reply_error(c, PT_E_INTERNAL, "cannot store the code (see tokend's log)");
}

/* pertokctl code check (root) or an actor: is this the user's code? Counts a
 * use on success, a failure otherwise; at max_failures the code is revoked
 * and the user locked out of the type for its lockout. */
static int op_code_check(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_tokentype *t;
	struct pt_code_rec rec;
	struct pt_rep rep = { .type = PT_OK };
	char rule[96], why[256] = "", reason[320];
	uint8_t h[PT_CODE_HASHLEN];
	uint64_t now = pt_now_s();
	char *code = NULL;
	bool match = false;
	int r = 0;

	if (c->peer->uid != 0) {
		c->actor = pt_policy_match_actor(d->cfg, c->peer->uid,
						 c->peer->exe_known ? c->peer->exe : NULL, NULL);
		if (!c->actor) {
			log_decision(c, LOG_WARNING, "deny", c->req->user, NULL, NULL, NULL,
				     "caller is neither root nor a configured actor");
			return reply_error(c, PT_E_PERM,
					   "only root or a configured actor may "
					   "check codes");
		}
	}
	t = code_type(c, &r);
	if (!t)
		return r;
	snprintf(rule, sizeof(rule), "type:%s", t->name);
	r = pt_codes_load(d->cfg->state_dir, t->name, c->req->user, &rec);
	if (r < 0) {
		log_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
		return reply_error(c, PT_E_INTERNAL,
				   "cannot read the code record (see tokend's log)");
	}
	if (rec.locked_until > now) {
		snprintf(reason, sizeof(reason), "locked out for %" PRIu64 " more seconds",
			 rec.locked_until - now);
		log_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
		r = reply_error(c, PT_E_LIMIT,
				"user %s is locked out of type %s (%" PRIu64 " more seconds)",
				c->req->user, t->name, rec.locked_until - now);
		goto out;
	}
	if (!rec.active) {
		log_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
			     "no outstanding code");
		r = reply_error(c, PT_E_INVALID, "no code of type %s is outstanding for %s",
				t->name, c->req->user);
		goto out;
	}
	if (now >= code_exp(t, &rec)) {
		rec.active = false;
		OPENSSL_cleanse(rec.hash, sizeof(rec.hash));
		if ((r = pt_codes_save(d->cfg->state_dir, &rec)) < 0)
			goto internal;
		log_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
			     now >= rec.hard_exp ? "expired (max_ttl)" : "expired (ttl)");
		r = reply_error(c, PT_E_INVALID, "the code of type %s for %s has expired", t->name,
				c->req->user);
		goto out;
	}
	code = strdup(c->req->code);
	if (!code) {
		r = -ENOMEM;
		goto internal;
	}
	pt_ttype_normalize(t, code);
	if (pt_ttype_check_format(t, c->req->user, code, why, sizeof(why)) == 0) {
		if (pt_codes_hash(rec.salt, t->name, c->req->user, code, h) < 0) {
			r = -EIO;
			goto internal;
		}
		match = CRYPTO_memcmp(h, rec.hash, sizeof(h)) == 0;
	}
	if (!match) {
		bool locked;

		rec.failures++;
		locked = t->max_failures && rec.failures >= t->max_failures;
		if (locked) {
			rec.active = false;
			OPENSSL_cleanse(rec.hash, sizeof(rec.hash));
			rec.failures = 0;
			rec.locked_until = now + t->lockout;
			snprintf(reason, sizeof(reason),
				 "wrong code; %u failures: code revoked, user locked out "
				 "for %" PRIu64 "s",
				 t->max_failures, t->lockout);
		} else if (t->max_failures)
			snprintf(reason, sizeof(reason), "wrong code%s%s (%u of %u attempts left)",
				 why[0] ? ": " : "", why, t->max_failures - rec.failures,
				 t->max_failures);
		else
			snprintf(reason, sizeof(reason), "wrong code%s%s", why[0] ? ": " : "", why);
		if ((r = pt_codes_save(d->cfg->state_dir, &rec)) < 0)
			goto internal;
		log_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
		r = reply_error(c, locked ? PT_E_LIMIT : PT_E_INVALID, "%s", reason);
		goto out;
	}
	rec.uses++;
	rec.failures = 0;
	rec.last_used = now;
	if (t->num_uses && rec.uses >= t->num_uses) {
		rec.active = false;
		OPENSSL_cleanse(rec.hash, sizeof(rec.hash));
	}
	if ((r = pt_codes_save(d->cfg->state_dir, &rec)) < 0)
		goto internal;
	rep.count = t->num_uses ? t->num_uses - rec.uses : UINT32_MAX;
	snprintf(reason, sizeof(reason), "code accepted (use %u%s)", rec.uses,
		 rec.active ? "" : ", now spent");
	log_decision(c, LOG_INFO, "allow", c->req->user, NULL, NULL, rule, reason);
	r = pt_rep_encode(PT_CODE_CHECK, &rep, c->out);
	goto out;
internal:
	log_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
	r = reply_error(c, PT_E_INTERNAL, "cannot update the code record (see tokend's log)");
out:
	pt_free_secret(code);
	OPENSSL_cleanse(&rec, sizeof(rec));
	OPENSSL_cleanse(h, sizeof(h));
	return r;
}

static const struct handler handlers[] = {
	{ PT_MINT, WHO_ACTOR, op_mint },
	{ PT_EXCHANGE, WHO_ANY, op_exchange },
	{ PT_REDEEM, WHO_ACTOR, op_redeem },
	{ PT_LIST, WHO_ANY, op_list },
	{ PT_LIST_PAGE, WHO_ANY, op_list },
	{ PT_REVOKE, WHO_ANY, op_revoke },
	{ PT_PUBKEY, WHO_ANY, op_pubkey },
	{ PT_STATUS, WHO_ROOT, op_status },
	{ PT_ROTATE, WHO_ROOT, op_rotate },
	{ PT_RESEAL, WHO_ROOT, op_reseal },
	{ PT_EXPLAIN, WHO_ROOT, op_explain },
	{ PT_REVOKE_MATCH, WHO_ANY, op_revoke_match },
	{ PT_CODE_ISSUE, WHO_ROOT, op_code_issue },
	{ PT_CODE_CHECK, WHO_ANY, op_code_check }, /* root or an actor (checked there) */
};

/* MINT, EXCHANGE and REDEEM issue tokens: nothing is issued that is not in
 * the audit log. The handler's reply is held back until its decision was
 * recorded; when the log cannot be written, the request is refused (and a
 * persistable token just stored is removed again). */
static bool issuing(uint8_t type)
{
	return type == PT_MINT || type == PT_EXCHANGE || type == PT_REDEEM ||
	       type == PT_CODE_ISSUE || type == PT_CODE_CHECK;
}

static int run_audited(struct call *c, const struct handler *h)
{
	struct ptbuf *out = c->out, *held;
	char v[300];
	int r;

	if (!pt_audit_usable(c->d->audit)) {
		pt_log(LOG_ERR, "op=%s result=error peer_uid=%u peer_pid=%d reason=%s",
		       pt_msgtype_name(h->type), (unsigned)c->peer->uid, (int)c->peer->pid,
		       pt_log_value(pt_audit_failure(c->d->audit), v, sizeof(v)));
		return pt_rep_encode_error(out, PT_E_INTERNAL, "audit log cannot be written");
	}
	held = ptbuf_new(4 + PT_MAX_FRAME);
	if (!held)
		return pt_rep_encode_error(out, PT_E_INTERNAL, "out of memory");
	c->out = held;
	r = h->fn(c);
	c->out = out;
	/* an exchange stored a persistable token: its record must be on disk
	 * now, or the token goes again (a failed group commit would only
	 * withhold the reply and leave the token in the store) */
	if (!c->audit_err && h->type == PT_EXCHANGE && c->audit_id[0] &&
	    pt_audit_pending(c->d->audit))
		c->audit_err = pt_audit_sync(c->d->audit);
	if (c->audit_err) {
		if (h->type == PT_EXCHANGE && c->audit_id[0] &&
		    pt_store_remove(c->d->store, c->audit_id) < 0)
			pt_log(LOG_ERR,
			       "op=exchange result=error id=%s reason=\"cannot remove the "
			       "unaudited token\"",
			       c->audit_id);
		pt_log(LOG_ERR,
		       "op=%s result=error peer_uid=%u peer_pid=%d id=%s reason=\"refused: "
		       "audit log cannot be written\"",
		       pt_msgtype_name(h->type), (unsigned)c->peer->uid, (int)c->peer->pid,
		       c->audit_id[0] ? c->audit_id : "-");
		r = pt_rep_encode_error(out, PT_E_INTERNAL, "audit log cannot be written");
	} else if (ptbuf_len(held) > 0) {
		int k = ptbuf_put(out, ptbuf_ptr(held), ptbuf_len(held));
		if (k < 0)
			r = k;
	}
	ptbuf_free(held);
	return r;
}

int pt_ops_dispatch(struct pt_daemon *d, const struct pt_peer *peer, uint8_t type,
		    const uint8_t *payload, size_t len, struct ptbuf *out)
{
	const struct handler *h = NULL;
	struct pt_req req = { 0 };
	struct call c = { .d = d, .peer = peer, .req = &req, .out = out };
	int r;

	d->n_requests++;
	for (size_t i = 0; i < PT_ELEMENTSOF(handlers); i++)
		if (handlers[i].type == type)
			h = &handlers[i];
	if (!h) {
		if (bad_request_logged(d, peer, "unknown"))
			pt_log(LOG_WARNING,
			       "op=%s result=error peer_uid=%u peer_pid=%d reason=\"unknown "
			       "request type %u\"",
			       "unknown", (unsigned)peer->uid, (int)peer->pid, type);
		r = pt_rep_encode_error(out, PT_E_PROTO, "unknown request type");
		return r < 0 ? r : -EBADMSG;
	}
	r = pt_req_decode(type, payload, len, &req);
	if (r < 0) {
		if (bad_request_logged(d, peer, pt_msgtype_name(type)))
			pt_log(LOG_WARNING,
			       "op=%s result=error peer_uid=%u peer_pid=%d reason=\"malformed "
			       "request\"",
			       pt_msgtype_name(type), (unsigned)peer->uid, (int)peer->pid);
		r = pt_rep_encode_error(out, PT_E_PROTO, "malformed request");
		return r < 0 ? r : -EBADMSG;
	}
	switch (h->who) {
	case WHO_ROOT:
		if (peer->uid != 0) {
			log_decision(&c, LOG_WARNING, "deny", NULL, NULL, NULL, NULL, "root only");
			r = pt_rep_encode_error(out, PT_E_PERM, "only root may do this");
			goto out;
		}
		break;
	case WHO_ACTOR:
		c.actor = pt_policy_match_actor(d->cfg, peer->uid,
						peer->exe_known ? peer->exe : NULL, req.service);
		if (!c.actor) {
			char why[PATH_MAX + 64];
			snprintf(why, sizeof(why),
				 "caller is not a configured actor (uid %u, exe %s)",
				 (unsigned)peer->uid, peer->exe_known ? peer->exe : "unknown");
			log_decision(&c, LOG_WARNING, "deny", req.user, req.holder, NULL, NULL,
				     why);
			r = pt_rep_encode_error(out, PT_E_PERM, why);
			goto out;
		}
		break;
	case WHO_ANY:
		break;
	}
	r = issuing(type) ? run_audited(&c, h) : h->fn(&c);
out:
	pt_req_clear(&req);
	return r;
}

/* Idle expiry: would the redeem rules call this token dead now? They are
 * evaluated as at a redemption by its holder, with the identity recorded at
 * issuance (no NSS look-ups here); only an idle denial counts. */
static bool idle_dead(struct pt_daemon *d, const struct pt_record *rec, uint64_t now)
{
	struct pt_policy_ctx ctx = { 0 };
	struct pt_decision dec;
	bool any = false;

	for (size_t i = 0; i < d->cfg->n_redeem && !any; i++)
		any = d->cfg->redeem[i].idle != 0;
	if (!any)
		return false;
	ctx.actor = rec->holder;
	ctx.user = rec->user;
	ctx.holder = rec->holder;
	ctx.groups = (const char *const *)rec->groups;
	ctx.n_groups = rec->n_groups;
	ctx.user_exists = true;
	ctx.now = now;
	ctx.has_token = true;
	ctx.token_iat = rec->iat;
	ctx.token_last_used = rec->last_used;
	ctx.token_uses = rec->uses;
	ctx.token_service = rec->service;
	ctx.token_actor = rec->actor;
	ctx.token_entitlements = (const char *const *)rec->entitlements;
	ctx.n_token_entitlements = rec->n_entitlements;
	pt_policy_eval(d->cfg, d->cfg->redeem, d->cfg->n_redeem, &ctx, &dec);
	return dec.idle_expired;
}

/* ------------------------------------------------------------ bookkeeping */

static uint64_t clock_ms(clockid_t id);

/* Writes the token files and history.json, then empties the usage journal
 * once both (and the directory entries) are on disk. */
static void compact(struct pt_daemon *d)
{
	int r, h;

	/* what batch mode only wrote: on disk now, as the audit log's records */
	if (d->journal && pt_journal_unsynced(d->journal) && (r = pt_journal_sync(d->journal)) < 0)
		pt_log(LOG_ERR, "op=flush result=error reason=\"usage journal: %s\"", strerror(-r));
	r = pt_store_flush(d->store);
	if (r < 0)
		pt_log(LOG_ERR, "op=flush result=error reason=\"%s\"", strerror(-r));
	log_sync_failure(d);
	h = pt_history_flush(d->history);
	if (h < 0)
		pt_log(LOG_ERR, "op=flush result=error reason=\"usage history: %s\"", strerror(-h));
	else if (h > 0)
		pt_log(LOG_ERR,
		       "op=fsync result=error reason=\"usage history written, its directory not "
		       "synced: %s\"",
		       strerror(h));
	if (r == 0 && h == 0 && pt_store_synced(d->store) && d->journal &&
	    (r = pt_journal_reset(d->journal)) < 0)
		pt_log(LOG_ERR, "op=flush result=error reason=\"usage journal: %s\"", strerror(-r));
}

bool pt_ops_commit_pending(const struct pt_daemon *d)
{
	return pt_audit_pending(d->audit) || pt_store_pending(d->store) ||
	       pt_history_pending(d->history);
}

struct journal_sync {
	struct pt_journal *j;
	int r;
};

static void *journal_sync_thread(void *u)
{
	struct journal_sync *js = u;

	js->r = pt_journal_sync(js->j);
	return NULL;
}

int pt_ops_commit(struct pt_daemon *d)
{
	struct journal_sync js = { .j = d->journal };
	bool both = false;
	pthread_t t;
	int r = 0, k;

	if (!d->journal) {
		/* no journal (tests): the files themselves */
		if (pt_store_pending(d->store) && (k = pt_store_flush(d->store)) < 0)
			r = k;
		if (pt_history_pending(d->history) && (k = pt_history_flush(d->history)) < 0 &&
		    r == 0)
			r = k;
	} else if (pt_store_pending(d->store) || pt_history_pending(d->history) ||
		   pt_journal_pending(d->journal)) {
		if ((k = pt_store_journal(d->store, d->journal)) < 0)
			r = k;
		if ((k = pt_history_journal(d->history, d->journal)) < 0 && r == 0)
			r = k;
		if (d->cfg->audit_sync_batch) {
			/* audit sync = "batch": written now (a crash of tokend loses
			 * nothing), synced with the audit log every few seconds */
			if ((k = pt_journal_write(d->journal)) < 0 && r == 0)
				r = k;
		} else {
			/* two files to sync: side by side, so that the round waits for
			 * about one disk flush rather than two (the file system commits
			 * both in one journal transaction when it can) */
			both = pt_audit_pending(d->audit) &&
			       pthread_create(&t, NULL, journal_sync_thread, &js) == 0;
			if (!both && (k = pt_journal_sync(d->journal)) < 0 && r == 0)
				r = k;
		}
	}
	/* the audit log's group commit (in batch mode it syncs at housekeeping) */
	k = pt_audit_pending(d->audit) ? pt_audit_sync(d->audit) : 0;
	if (both) {
		pthread_join(t, NULL);
		if (js.r < 0 && r == 0)
			r = js.r;
	}
	if (r < 0)
		pt_log(LOG_ERR, "op=commit result=error reason=\"usage counters: %s\"",
		       strerror(-r));
	log_sync_failure(d);
	if (k < 0 && r == 0)
		r = k;
	return r;
}

static void replay_line(void *u, char *line)
{
	struct pt_daemon *d = u;
	int r = pt_store_replay(d->store, line);

	if (r == 0)
		r = pt_history_replay(d->history, line);
	if (r > 0)
		d->n_replayed++;
}

int pt_ops_usage_open(struct pt_daemon *d)
{
	char path[PATH_MAX], v[300];
	int r;

	snprintf(path, sizeof(path), "%s/usage.journal", d->cfg->state_dir);
	r = pt_journal_open(path, &d->journal);
	if (r >= 0)
		r = pt_journal_replay(d->journal, replay_line, d);
	if (r < 0) {
		pt_log(LOG_ERR, "op=start result=error reason=\"usage journal %s: %s\"",
		       pt_log_value(path, v, sizeof(v)), strerror(-r));
		return r;
	}
	if (d->n_replayed)
		pt_log(LOG_NOTICE,
		       "op=start result=allow reason=\"usage journal: %llu counters newer than "
		       "the files restored\"",
		       (unsigned long long)d->n_replayed);
	compact(d);
	/* the clocks' first reading: a step before the first housekeeping shows */
	d->hk_real_ms = clock_ms(CLOCK_REALTIME);
	d->hk_boot_ms = clock_ms(CLOCK_BOOTTIME);
	return 0;
}

void pt_ops_usage_close(struct pt_daemon *d)
{
	pt_journal_free(d->journal);
	d->journal = NULL;
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A wall-clock step between two housekeeping rounds: CLOCK_REALTIME moved
 * by more than CLOCK_BOOTTIME (which counts suspend and is never set). */
static void check_clock(struct pt_daemon *d, uint64_t real_ms, uint64_t boot_ms)
{
	if (d->hk_boot_ms && boot_ms >= d->hk_boot_ms) {
		int64_t jump = ((int64_t)real_ms - (int64_t)d->hk_real_ms) -
			       (int64_t)(boot_ms - d->hk_boot_ms);

		if (jump >= PT_CLOCK_JUMP_MS || jump <= -PT_CLOCK_JUMP_MS)
			pt_log(LOG_WARNING,
			       "op=clock result=jump delta=%+lld realtime=%llu reason=\"the wall "
			       "clock was stepped; expired tokens are kept for expire_grace\"",
			       (long long)(jump / 1000), (unsigned long long)(real_ms / 1000));
	}
	d->hk_real_ms = real_ms;
	d->hk_boot_ms = boot_ms;
}

void pt_ops_clean_temps(struct pt_daemon *d)
{
	char dirs[3][PATH_MAX], v[300];

	snprintf(dirs[0], sizeof(dirs[0]), "%s", d->cfg->state_dir);
	snprintf(dirs[1], sizeof(dirs[1]), "%s/codes", d->cfg->state_dir);
	snprintf(dirs[2], sizeof(dirs[2]), "%s", d->keydir);
	for (size_t i = 0; i < 3; i++) {
		size_t n = 0;
		int r;

		if (i == 2 && strcmp(dirs[2], dirs[0]) == 0)
			break;
		/* the audit log's own temporaries are the audit writer's */
		r = pt_remove_stale_temps(dirs[i], ".audit.", &n);
		if (r < 0 && r != -ENOENT)
			pt_log(LOG_ERR, "op=cleanup result=error dir=%s reason=\"%s\"",
			       pt_log_value(dirs[i], v, sizeof(v)), strerror(-r));
		if (n)
			pt_log(LOG_NOTICE,
			       "op=cleanup result=allow dir=%s removed=%zu reason=\"temporary "
			       "files of interrupted writes\"",
			       pt_log_value(dirs[i], v, sizeof(v)), n);
	}
}

/* Expiry and idle expiry never delete on the strength of one wall-clock
 * reading: a token that looks dead is refused at once (op_redeem), but
 * removed only after housekeeping has seen it dead for expire_grace of
 * CLOCK_BOOTTIME, which no clock step moves. A step back that makes it
 * live again before that restores it. */
void pt_ops_housekeeping(struct pt_daemon *d)
{
	uint64_t now = pt_now_s(), boot = clock_ms(CLOCK_BOOTTIME);
	uint64_t grace_ms = d->cfg->expire_grace * 1000;
	int r;

	check_clock(d, clock_ms(CLOCK_REALTIME), boot);
	if (d->audit && pt_audit_tick(d->audit, now) < 0)
		pt_log(LOG_ERR, "op=audit result=error reason=\"%s\"",
		       pt_audit_failure(d->audit) ?: "checkpoint failed");
	flush_refusals(d);
	compact(d);
	pt_keys_prune(d->keys, d->cfg->alg, now); /* rotated-out keys past their last token */
	for (size_t i = pt_store_count(d->store); i > 0; i--) {
		struct pt_record *rec = pt_store_at(d->store, i - 1);
		char id[PT_ID_LEN], v[2][300];
		bool idle = false;

		if (rec->exp > now && !(idle = idle_dead(d, rec, now))) {
			rec->dead_since_ms = 0; /* alive (again) */
			continue;
		}
		if (!rec->dead_since_ms) {
			rec->dead_since_ms = boot ? boot : 1;
			continue;
		}
		if (boot - rec->dead_since_ms < grace_ms)
			continue;
		memcpy(id, rec->id, sizeof(id));
		pt_log(LOG_INFO, "op=expire result=allow user=%s holder=%s id=%s reason=%s",
		       pt_log_value(rec->user, v[0], sizeof(v[0])),
		       pt_log_value(rec->holder, v[1], sizeof(v[1])), id,
		       idle ? "idle" : "expired");
		r = pt_store_remove(d->store, id);
		if (r < 0)
			pt_log(LOG_ERR, "op=expire result=error id=%s reason=\"%s\"", id,
			       strerror(-r));
	}
}
