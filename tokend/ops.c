/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "account.h"
#include "b64.h"
#include "jws.h"
#include "log.h"
#include "ops.h"
#include "policy.h"
#include "proto.h"
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
	const char *actor_name;       /* for the log: actor->name, "self" or NULL */
	struct pt_req *req;
	struct ptbuf *out;
};

typedef int (*handler_fn)(struct call *c);

struct handler {
	uint8_t type;
	enum who who;
	handler_fn fn;
};

/* ------------------------------------------------------------------ logging */

/* One line per decision, key=value, never a token. */
static void log_decision(const struct call *c, int prio, const char *result, const char *user,
			 const char *holder, const char *id, const char *rule, const char *reason)
{
	char v[6][300];

	pt_log(prio, "op=%s result=%s user=%s holder=%s actor=%s rule=%s peer_uid=%u peer_pid=%d "
		     "exe=%s id=%s reason=%s",
	       pt_msgtype_name(c->req->type), result, pt_log_value(user, v[0], sizeof(v[0])),
	       pt_log_value(holder, v[1], sizeof(v[1])), c->actor_name ? c->actor_name : c->actor ? c->actor->name : "-",
	       pt_log_value(rule, v[2], sizeof(v[2])), (unsigned)c->peer->uid, (int)c->peer->pid,
	       pt_log_value(c->peer->exe_known ? c->peer->exe : NULL, v[3], sizeof(v[3])),
	       pt_log_value(id, v[4], sizeof(v[4])), pt_log_value(reason, v[5], sizeof(v[5])));
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
	uint64_t lifetime;
	const char *actor;        /* current actor (outermost act) */
	const char *prior_actor;  /* the actor that issued the persistable token, or NULL */
	const char *ptk;          /* persistable id, or NULL */
	const char *service;
	const char *tty;
	const char *rhost;
};

static int mint_live(struct pt_daemon *d, const struct live_params *p, char **ret_token,
		     uint64_t *ret_exp)
{
	uint8_t rnd[16];
	_cleanup_free_ char *jti = NULL;
	json_object *o = NULL, *act, *inner;
	uint64_t now = pt_now_s(), exp = now + p->lifetime;
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
	r = add_str_array(o, "groups", p->acct->groups, p->acct->n_groups);
	if (r < 0) {
		json_object_put(act);
		goto out;
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

	r = pt_jws_sign(d->keys->sign, d->cfg->alg, LIVE_TYP, d->keys->kid,
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), ret_token);
	if (r >= 0)
		*ret_exp = exp;
out:
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
	struct live_params lp = { .acct = acct, .lifetime = dec.live_lifetime,
				  .actor = c->actor->name, .service = q->service, .tty = q->tty,
				  .rhost = q->rhost };
	r = mint_live(c->d, &lp, &token, &rep.exp);
	if (r < 0) {
		log_decision(c, LOG_ERR, "error", q->user, NULL, NULL, dec.rule->name,
			     "cannot sign a live token");
		r = reply_error(c, PT_E_INTERNAL, "cannot sign a live token");
		goto out;
	}
	rep.token = token;
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

	r = pt_jws_verify(d->keys->sign, token, LIVE_TYP, (void **)&claims, &kid);
	if (r < 0) {
		*ret_why = r == -EKEYREJECTED ? "bad signature"
			   : r == -EPROTOTYPE ? "not a live token"
			   : r == -ENOTSUP    ? "unsupported alg"
					      : "malformed token";
		return -EINVAL;
	}
	if (!kid || strcmp(kid, d->keys->kid) != 0) {
		*ret_why = "signed by another key";
		goto bad;
	}
	if (!json_object_object_get_ex(claims, "aud", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), d->cfg->audience) != 0) {
		*ret_why = "wrong audience";
		goto bad;
	}
	if (!json_object_object_get_ex(claims, "exp", &v) || !json_object_is_type(v, json_type_int) ||
	    (uint64_t)json_object_get_int64(v) <= now) {
		*ret_why = "expired";
		goto bad;
	}
	if (!json_object_object_get_ex(claims, "nbf", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) > (int64_t)(now + CLOCK_SKEW)) {
		*ret_why = "not yet valid";
		goto bad;
	}
	if (!json_object_object_get_ex(claims, "sub", &v) || !json_object_is_type(v, json_type_string) ||
	    !json_object_object_get_ex(claims, "uid", &v) || !json_object_is_type(v, json_type_int)) {
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

static int op_exchange(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_req *q = c->req;
	json_object *claims = NULL;
	struct pt_account *acct = NULL;
	struct pt_record *rec = NULL, *old;
	struct pt_policy_ctx ctx;
	struct pt_decision dec;
	struct pt_rep rep = { .type = PT_OK };
	const char *why = NULL, *user, *actor;
	uint64_t now = pt_now_s(), lifetime;
	uid_t tuid;
	bool replaced = false;
	int r;

	if (!pt_name_valid(q->holder))
		return reply_error(c, PT_E_PROTO, "invalid holder name");
	r = verify_live(d, q->live_token, &claims, &why);
	if (r < 0) {
		log_decision(c, LOG_NOTICE, "deny", NULL, q->holder, NULL, NULL, why);
		return reply_error(c, PT_E_INVALID, "live token rejected: %s", why);
	}
	user = claim_str(claims, "sub");
	tuid = (uid_t)json_object_get_int64(json_object_object_get(claims, "uid"));

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
	if (!dec.allow) {
		log_decision(c, LOG_NOTICE, "deny", user, q->holder, NULL,
			     dec.rule ? dec.rule->name : NULL, dec.reason);
		r = reply_error(c, PT_E_DENIED, "%s", dec.reason);
		goto out;
	}
	old = pt_store_find_slot(d->store, user, q->holder);
	if (!old && dec.max_outstanding &&
	    pt_store_count_user(d->store, user) >= dec.max_outstanding) {
		log_decision(c, LOG_NOTICE, "deny", user, q->holder, NULL, dec.rule->name,
			     "max outstanding tokens reached");
		r = reply_error(c, PT_E_LIMIT, "user %s already has %u persistable tokens (max_outstanding)",
				user, dec.max_outstanding);
		goto out;
	}
	lifetime = dec.persist_lifetime;
	if (q->lifetime && q->lifetime < lifetime)
		lifetime = q->lifetime;

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
	rec->iat = now;
	rec->exp = now + lifetime;
	if (!rec->user || !rec->gecos || !rec->home || !rec->shell || !rec->holder ||
	    !rec->actor || !rec->service || !rec->tty || !rec->rhost || !rec->source_jti) {
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

static int op_redeem(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_req *q = c->req;
	struct pt_record *rec;
	struct pt_account *acct = NULL;
	struct pt_policy_ctx ctx;
	struct pt_decision dec;
	struct pt_rep rep = { .type = PT_OK };
	char *token = NULL;
	uint64_t now = pt_now_s();
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
		return reply_error(c, PT_E_NOTFOUND, "no persistable token for user %s and holder %s",
				   q->user, q->holder);
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
	policy_ctx_from(&ctx, c->actor->name, q->user, acct, q->holder);
	pt_policy_eval(d->cfg, d->cfg->redeem, d->cfg->n_redeem, &ctx, &dec);
	if (dec.allow && !acct) {
		dec.allow = false;
		snprintf(dec.reason, sizeof(dec.reason), "user %s no longer exists (or changed uid)",
			 q->user);
	}
	if (!dec.allow) {
		log_decision(c, LOG_NOTICE, "deny", q->user, q->holder, rec->id,
			     dec.rule ? dec.rule->name : NULL, dec.reason);
		r = reply_error(c, PT_E_DENIED, "%s", dec.reason);
		goto out;
	}
	struct live_params lp = { .acct = acct, .lifetime = dec.live_lifetime,
				  .actor = c->actor->name, .prior_actor = rec->actor,
				  .ptk = rec->id, .service = q->service };
	r = mint_live(d, &lp, &token, &rep.exp);
	if (r < 0) {
		log_decision(c, LOG_ERR, "error", q->user, q->holder, rec->id, dec.rule->name,
			     "cannot sign a live token");
		r = reply_error(c, PT_E_INTERNAL, "cannot sign a live token");
		goto out;
	}
	rec->uses++;
	rec->last_used = now;
	rec->dirty = true;
	rep.token = token;
	rep.id = rec->id;
	log_decision(c, LOG_INFO, "allow", q->user, q->holder, rec->id, dec.rule->name, dec.reason);
	r = pt_rep_encode(PT_REDEEM, &rep, c->out);
out:
	pt_free_secret(token);
	pt_account_free(acct);
	return r;
}

static bool may_see(const struct call *c, const struct pt_record *rec)
{
	return c->peer->uid == 0 || rec->uid == c->peer->uid;
}

static int op_list(struct call *c)
{
	struct pt_daemon *d = c->d;
	struct pt_rep rep = { .type = PT_OK };
	size_t n = pt_store_count(d->store), k = 0;
	int r;

	rep.list = calloc(n ? n : 1, sizeof(*rep.list));
	if (!rep.list)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	for (size_t i = 0, bytes = 64; i < n && k < PT_MAX_LIST; i++) {
		struct pt_record *rec = pt_store_at(d->store, i);
		if (!may_see(c, rec))
			continue;
		if (c->req->user && *c->req->user && strcmp(c->req->user, rec->user) != 0)
			continue;
		/* the reply must fit one frame: the first entries that do are sent */
		bytes += 4 * 4 + 8 * 3 + 4 * 2 + strlen(rec->id) + strlen(rec->user) +
			 strlen(rec->holder) + strlen(rec->actor);
		if (bytes > PT_MAX_FRAME)
			break;
		rep.list[k++] = (struct pt_tokinfo){ .id = rec->id, .user = rec->user,
						     .uid = rec->uid, .holder = rec->holder,
						     .actor = rec->actor, .iat = rec->iat,
						     .exp = rec->exp, .last_used = rec->last_used,
						     .uses = rec->uses };
	}
	rep.n_list = (uint32_t)k;
	r = pt_rep_encode(PT_LIST, &rep, c->out);
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
	char text[2048];
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
	rep.text = text;
	return pt_rep_encode(PT_STATUS, &rep, c->out);
}

/* The dispatch table: who may call what. */
static const struct handler handlers[] = {
	{ PT_MINT, WHO_ACTOR, op_mint },
	{ PT_EXCHANGE, WHO_ANY, op_exchange },
	{ PT_REDEEM, WHO_ACTOR, op_redeem },
	{ PT_LIST, WHO_ANY, op_list },
	{ PT_REVOKE, WHO_ANY, op_revoke },
	{ PT_PUBKEY, WHO_ANY, op_pubkey },
	{ PT_STATUS, WHO_ROOT, op_status },
};

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
		pt_log(LOG_WARNING, "op=%s result=error peer_uid=%u peer_pid=%d reason=\"unknown "
				    "request type %u\"",
		       "unknown", (unsigned)peer->uid, (int)peer->pid, type);
		r = pt_rep_encode_error(out, PT_E_PROTO, "unknown request type");
		return r < 0 ? r : -EBADMSG;
	}
	r = pt_req_decode(type, payload, len, &req);
	if (r < 0) {
		pt_log(LOG_WARNING, "op=%s result=error peer_uid=%u peer_pid=%d reason=\"malformed "
				    "request\"",
		       pt_msgtype_name(type), (unsigned)peer->uid, (int)peer->pid);
		r = pt_rep_encode_error(out, PT_E_PROTO, "malformed request");
		return r < 0 ? r : -EBADMSG;
	}
	switch (h->who) {
	case WHO_ROOT:
		if (peer->uid != 0) {
			log_decision(&c, LOG_WARNING, "deny", NULL, NULL, NULL, NULL,
				     "root only");
			r = pt_rep_encode_error(out, PT_E_PERM, "only root may do this");
			goto out;
		}
		break;
	case WHO_ACTOR:
		c.actor = pt_policy_match_actor(d->cfg, peer->uid,
						peer->exe_known ? peer->exe : NULL, req.service);
		if (!c.actor) {
			char why[PATH_MAX + 64];
			snprintf(why, sizeof(why), "caller is not a configured actor (uid %u, exe %s)",
				 (unsigned)peer->uid, peer->exe_known ? peer->exe : "unknown");
			log_decision(&c, LOG_WARNING, "deny", req.user, req.holder, NULL, NULL, why);
			r = pt_rep_encode_error(out, PT_E_PERM, why);
			goto out;
		}
		break;
	case WHO_ANY:
		break;
	}
	r = h->fn(&c);
out:
	pt_req_clear(&req);
	return r;
}

void pt_ops_housekeeping(struct pt_daemon *d)
{
	uint64_t now = pt_now_s();
	int r;

	r = pt_store_flush(d->store);
	if (r < 0)
		pt_log(LOG_ERR, "op=flush result=error reason=\"%s\"", strerror(-r));
	for (size_t i = pt_store_count(d->store); i > 0; i--) {
		struct pt_record *rec = pt_store_at(d->store, i - 1);
		char id[PT_ID_LEN], v[2][300];

		if (rec->exp > now)
			continue;
		memcpy(id, rec->id, sizeof(id));
		pt_log(LOG_INFO, "op=expire result=allow user=%s holder=%s id=%s",
		       pt_log_value(rec->user, v[0], sizeof(v[0])),
		       pt_log_value(rec->holder, v[1], sizeof(v[1])), id);
		r = pt_store_remove(d->store, id);
		if (r < 0)
			pt_log(LOG_ERR, "op=expire result=error id=%s reason=\"%s\"", id,
			       strerror(-r));
	}
}
