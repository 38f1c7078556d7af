/* SPDX-License-Identifier: MIT */
/*
 * PT_ACCEPT: pam_pertok.so accept presents an external issuer's JWT (the
 * PAM authtok) for a login as a remote principal (pertok-rpo(7)).
 *
 * The decision, in order (the first failing step refuses, with its reason
 * in the reply, the log line and the rpo.deny audit record):
 *   1. not tokend's own realm (iss = tokend.issuer)
 *   2. the token (issuers.h: issuer, key, signature, then the authenticated
 *      claims: aud, exp, nbf, iat + max_age with the issuer's leeway)
 *   3. the external identity is absent locally: neither sub nor its part
 *      before '@' is a local account
 *   4. the RPOs of (iss, each group of the group claim); PAM_USER must name
 *      one of them (the primary); each one's template must admit the
 *      service, the source network (PAM_RHOST; none = local) and the
 *      authentication strength (acr one of the template's, amr all of the
 *      template's); the primary must, the others that do not are left out;
 *      the primary's open sessions below max_sessions
 *   5. the jti not seen before (jticache.h), recorded durably
 * Then a live token: sub = the primary RPO's local name, uid/gid its uid,
 * groups the union of the RPOs' groups and the others' private groups,
 * entitlements the union of their templates', tmpl their hashes; no
 * external identifier. rpo.accept names every RPO used.
 */
#include "conf.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "extjwt.h"
#include "issuers.h"
#include "jticache.h"
#include "log.h"
#include "ops-internal.h"
#include "rpo.h"
#include "util.h"

#define MAX_RPOS 16 /* RPOs one login may use */

struct accept_ctx {
	struct call *c;
	const struct pt_issuer *is;
	struct pt_extjwt_claims claims;
	const struct pt_rpo *rpos[MAX_RPOS]; /* [0]: the primary */
	size_t n_rpos;
	char names[1024], hashes[1024], amr[512];
};

/* a, b, c joined by ',' into buf (cut at its size) */
static void join(char *buf, size_t len, const char *const *v, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int k = snprintf(buf + off, len - off, "%s%s", i ? "," : "", v[i]);
		if (k < 0)
			break;
		off += (size_t)k;
	}
}

static void fill_lists(struct accept_ctx *x)
{
	const char *v[MAX_RPOS];

	for (size_t i = 0; i < x->n_rpos; i++)
		v[i] = x->rpos[i]->name;
	join(x->names, sizeof(x->names), v, x->n_rpos);
	for (size_t i = 0; i < x->n_rpos; i++)
		v[i] = x->rpos[i]->tmpl_hash;
	join(x->hashes, sizeof(x->hashes), v, x->n_rpos);
	join(x->amr, sizeof(x->amr), (const char *const *)x->claims.amr, x->claims.n_amr);
}

/* The keyed HMAC of the external subject, as the audit writer records it
 * (sub_hmac, audit.h). 0 or -errno. */
static int sub_ref(struct call *c, const char *iss, const char *sub,
		   char ret[PT_AUDIT_TOKEN_HMAC_HEX + 1])
{
	char *in = NULL;
	int r;

	if (asprintf(&in, "extsub\n%s\n%s", iss ? iss : "", sub) < 0)
		return -ENOMEM;
	r = pt_audit_token_ref(c->d->audit, in, ret);
	pt_free_secret(in);
	return r;
}

/* One log line and one audit record (rpo.accept / rpo.deny). */
static void record(struct accept_ctx *x, int prio, bool allow, const char *reason)
{
	struct call *c = x->c;
	const struct pt_req *q = c->req;
	const char *op = allow ? "rpo.accept" : "rpo.deny";
	const char *iss = x->claims.iss ? x->claims.iss : NULL;
	struct pt_audit_event ev = {
		.op = op,
		.result = allow ? "allow" : "deny",
		.user = q->user,
		.actor = c->actor ? c->actor->name : NULL,
		.peer_uid = c->peer->uid,
		.peer_pid = c->peer->pid,
		.exe = c->peer->exe_known ? c->peer->exe : NULL,
		.service = q->service && *q->service ? q->service : NULL,
		.reason = reason,
		.id = x->n_rpos ? x->rpos[0]->id : NULL,
		.token = c->token,
		.rpo = x->n_rpos ? x->names : NULL,
		.tmpl_hash = x->n_rpos ? x->hashes : NULL,
		.ext_iss = iss,
		.ext_sub = x->claims.sub, /* only after the signature verified */
		.rhost = q->rhost && *q->rhost ? q->rhost : NULL,
		.acr = x->claims.acr,
		.amr = x->claims.n_amr ? x->amr : NULL,
	};
	char why[2400], subfield[64] = "", ref[PT_AUDIT_TOKEN_HMAC_HEX + 1];
	int r;

	fill_lists(x);
	/* the same in the reason too, as pertokctl audit rpo reads them
	 * (pertok-rpo(7), AUDIT): sub= the HMAC, never the subject */
	if (x->claims.sub && !sub_ref(c, x->claims.iss, x->claims.sub, ref))
		snprintf(subfield, sizeof(subfield), " sub=%s", ref);
	snprintf(why, sizeof(why), "%s%s iss=%s rhost=%s acr=%s amr=%s%s%s", reason, subfield,
		 iss ? iss : "-", ev.rhost ? ev.rhost : "-", x->claims.acr ? x->claims.acr : "-",
		 x->claims.n_amr ? x->amr : "-", x->n_rpos ? " rpos=" : "",
		 x->n_rpos ? x->names : "");
	ev.reason = why;
	pt_log_kv(prio, op, allow ? "allow" : "deny", "user", q->user, "actor", ev.actor, "service",
		  ev.service, "rhost", ev.rhost, "iss", iss, "rpo", ev.rpo, "tmpl_hash",
		  ev.tmpl_hash, "peer_uid", PT_LOG_U(c->peer->uid), "peer_pid",
		  PT_LOG_I(c->peer->pid), "reason", reason, NULL);
	r = pt_audit_append(c->d->audit, &ev);
	if (r >= 0)
		return;
	pt_log_kv(LOG_ERR, "audit", "error", "reason",
		  pt_audit_failure(c->d->audit) ?: strerror(-r), NULL);
	if (allow)
		c->audit_err = r;
}

static int deny(struct accept_ctx *x, uint32_t code, const char *reason)
{
	record(x, LOG_NOTICE, false, reason);
	return reply_error(x->c, code, "accept refused: %s", reason);
}

/* getpwnam of the name, and of its part before '@' (files, LDAP, ...:
 * whatever NSS says; the remote principals' own names are pertok's). */
static bool local_account(const char *sub)
{
	char local[256];
	const char *at = strchr(sub, '@');

	if (getpwnam(sub))
		return true;
	if (!at || at == sub || (size_t)(at - sub) >= sizeof(local))
		return false;
	memcpy(local, sub, (size_t)(at - sub));
	local[at - sub] = '\0';
	return getpwnam(local) != NULL;
}

/* Is s in the template's list v ("*" there: any)? */
static bool in_list(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(v[i], s) == 0 || strcmp(v[i], "*") == 0)
			return true;
	return false;
}

/* Is s one of the token's values v (exactly: a "*" the issuer wrote is a
 * value like any other, never a wildcard)? */
static bool in_claims(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Does the template admit this login? NULL, or why not. */
static const char *template_admits(const struct pt_template *t, const struct pt_req *q,
				   const struct pt_extjwt_claims *cl)
{
	bool net = false;

	if (!t)
		return "the remote principal's template cannot be read";
	if (!in_list(t->services, t->n_services, q->service))
		return "service not allowed by the template";
	if (!q->rhost || !*q->rhost)
		net = t->allow_local;
	for (size_t i = 0; q->rhost && *q->rhost && !net && i < t->n_nets; i++)
		net = pt_cidr_contains(&t->nets[i], q->rhost);
	if (!net)
		return q->rhost && *q->rhost ? "source address outside the template's networks" :
					       "local login not allowed by the template";
	if (t->n_acr && (!cl->acr || !in_list(t->acr, t->n_acr, cl->acr)))
		return "authentication strength (acr) below the template's";
	for (size_t i = 0; i < t->n_amr; i++)
		if (!in_claims(cl->amr, cl->n_amr, t->amr[i]))
			return "authentication methods (amr) lack one the template requires";
	return NULL;
}

/* The RPOs of every group of the token, primary (PAM_USER's) first. */
static const char *match_rpos(struct accept_ctx *x, uint64_t now)
{
	struct pt_daemon *d = x->c->d;
	const struct pt_req *q = x->c->req;
	const struct pt_rpo *found[MAX_RPOS], *primary = NULL;
	size_t n = 0;
	const char *why = NULL;

	for (size_t g = 0; g < x->claims.n_groups && n < MAX_RPOS; g++) {
		const struct pt_rpo *m[MAX_RPOS];
		size_t k = pt_rpo_match(d, x->is->iss, x->claims.groups[g], now, m, MAX_RPOS);

		for (size_t i = 0; i < k && n < MAX_RPOS; i++) {
			bool dup = false;
			for (size_t j = 0; j < n; j++)
				dup = dup || found[j] == m[i];
			if (!dup)
				found[n++] = m[i];
		}
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(found[i]->name, q->user) == 0)
			primary = found[i];
	if (!primary)
		return n ? "the user is not a remote principal this token's groups match" :
			   "no approved remote principal for the token's issuer and groups";
	why = template_admits(pt_rpo_template(d, primary), q, &x->claims);
	if (why)
		return why;
	x->rpos[x->n_rpos++] = primary;
	for (size_t i = 0; i < n; i++)
		if (found[i] != primary &&
		    !template_admits(pt_rpo_template(d, found[i]), q, &x->claims))
			x->rpos[x->n_rpos++] = found[i];
	if (pt_rpo_template(d, primary)->max_sessions &&
	    pt_rpo_sessions(d, primary) >= pt_rpo_template(d, primary)->max_sessions)
		return "the remote principal has its maximum of concurrent sessions";
	return NULL;
}

static int add_unique(char ***v, size_t *n, const char *s)
{
	char **w;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return 0;
	w = realloc(*v, (*n + 2) * sizeof(char *));
	if (!w)
		return -ENOMEM;
	*v = w;
	if (!(w[*n] = strdup(s)))
		return -ENOMEM;
	w[++*n] = NULL;
	return 0;
}

/* The live token's claims: the primary's identity, the union of the RPOs'
 * groups and entitlements, their templates; no external identifier. */
static int accept_claims(struct accept_ctx *x, uint64_t now, struct pt_live_claims *ret)
{
	struct pt_daemon *d = x->c->d;
	const struct pt_req *q = x->c->req;
	const struct pt_rpo *p = x->rpos[0];
	struct pt_live_claims c = { .has_entitlements = true };
	int r;

	if ((r = pt_live_set_str(&c.iss, d->cfg->issuer)) < 0 ||
	    (r = pt_live_set_str(&c.sub, p->name)) < 0 ||
	    (r = pt_live_set_str(&c.aud, d->cfg->audience)) < 0 || (r = pt_live_new_jti(&c)) < 0)
		goto fail;
	c.exp = now + d->cfg->live_lifetime;
	c.nbf = c.iat = now;
	c.uid = p->uid;
	c.gid = p->uid; /* its private group */
	for (size_t i = 0; i < x->n_rpos; i++) {
		const struct pt_template *t = pt_rpo_template(d, x->rpos[i]);
		char **g = NULL;
		size_t ng = 0;

		if (i > 0 && (r = add_unique(&c.groups, &c.n_groups, x->rpos[i]->name)) < 0)
			goto fail;
		if (pt_rpo_groups(d, x->rpos[i], &g, &ng) >= 0) {
			for (size_t j = 0; r >= 0 && j < ng; j++)
				r = add_unique(&c.groups, &c.n_groups, g[j]);
			pt_rpo_groups_free(g, ng);
			if (r < 0)
				goto fail;
		}
		for (size_t j = 0; t && j < t->n_entitlements; j++)
			if ((r = add_unique(&c.entitlements, &c.n_entitlements,
					    t->entitlements[j])) < 0)
				goto fail;
	}
	if (!c.groups && !(c.groups = calloc(1, sizeof(char *)))) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = pt_live_set_str(&c.act[0], x->c->actor->name)) < 0)
		goto fail;
	c.n_act = 1;
	if ((r = pt_live_set_str(&c.svc, q->service && *q->service ? q->service : NULL)) < 0 ||
	    (r = pt_live_set_str(&c.rhost, q->rhost && *q->rhost ? q->rhost : NULL)) < 0 ||
	    (r = pt_live_set_str(&c.tmpl, x->hashes)) < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	pt_live_claims_clear(&c);
	return r;
}

static int replay_check(struct accept_ctx *x, uint64_t now, const char **ret_why)
{
	struct pt_daemon *d = x->c->d;
	char dir[4096];
	int r;

	if (!d->jti) {
		snprintf(dir, sizeof(dir), "%s/jti", d->cfg->state_dir);
		if ((r = pt_jticache_open(dir, &d->jti)) < 0) {
			*ret_why = "the replay cache cannot be opened";
			return r;
		}
	}
	r = pt_jticache_add(d->jti, x->is->iss, x->claims.jti, x->claims.exp + x->is->leeway, now,
			    x->is->replay_cache);
	*ret_why = r == -EEXIST ? "token replayed (jti seen before)" :
		   r == -ENOSPC ? "the issuer's replay cache is full" :
		   r < 0	? "the replay cache cannot be written" :
				  NULL;
	return r;
}

int op_accept(struct call *c)
{
	static const struct pt_extjwt_presented malformed = { .refused = PT_EXTJWT_MALFORMED };
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	const struct pt_extjwt_presented *p = c->ext ? c->ext : &malformed;
	struct accept_ctx x = { .c = c };
	struct pt_live_claims lc = { 0 };
	struct pt_rep rep = { .type = PT_OK };
	enum pt_extjwt_refusal why;
	uint64_t now = pt_ops_now(d);
	const char *reason;
	char msg[160];
	char *token = NULL;
	int r;

	if (!pt_name_valid(q->user) || !pt_name_valid(q->service))
		return reply_error(c, PT_E_PROTO, "invalid user or service name");
	for (const char *s = q->rhost; s && *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return reply_error(c, PT_E_PROTO, "rhost has control characters");
	/* 1. our own tokens are not external ones (checked on the front's iss:
	 * a refusal either way, this one says why) */
	if (p->refused == PT_EXTJWT_OK && strcmp(p->iss, d->cfg->issuer) == 0)
		return deny(&x, PT_E_INVALID, "token from tokend's own realm");
	/* 2. */
	r = pt_issuer_check(d->cfg->issuers, d->cfg->n_issuers, p, now, &x.is, &x.claims, &why);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "token rejected: %s", pt_extjwt_why(why));
		r = deny(&x, r == -ENOMEM ? PT_E_INTERNAL : PT_E_INVALID, msg);
		goto out;
	}
	/* 3. */
	if (local_account(x.claims.sub)) {
		r = deny(&x, PT_E_DENIED, "the external subject maps to a local account");
		goto out;
	}
	/* 4. */
	reason = match_rpos(&x, now);
	if (reason) {
		r = deny(&x, PT_E_DENIED, reason);
		goto out;
	}
	/* 5. last: only a login that is granted spends its token */
	r = replay_check(&x, now, &reason);
	if (r < 0) {
		r = deny(&x,
			 r == -EEXIST ? PT_E_INVALID :
			 r == -ENOSPC ? PT_E_LIMIT :
					PT_E_INTERNAL,
			 reason);
		goto out;
	}
	fill_lists(&x);
	r = accept_claims(&x, now, &lc);
	if (r >= 0)
		r = pt_live_sign(d->keys, d->cfg->alg, &lc, &token);
	if (r < 0) {
		r = deny(&x, PT_E_INTERNAL, "cannot sign a live token");
		goto out;
	}
	rep.token = token;
	rep.exp = lc.exp;
	rep.id = (char *)x.rpos[0]->id;
	c->token = token;
	record(&x, LOG_INFO, true, "token verified, remote principal matched");
	r = pt_rep_encode(PT_ACCEPT, &rep, c->out);
out:
	pt_live_claims_clear(&lc);
	pt_free_secret(token);
	pt_extjwt_claims_clear(&x.claims);
	return r;
}

/* PT_ACCEPT_SESSION: pam_pertok.so accept's open_session (count 1) and
 * close_session (0) for a remote principal (max_sessions). */
int op_accept_session(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	const struct pt_rpo *r;
	struct pt_rep rep = { .type = PT_OK };
	int k;

	if (!pt_name_valid(q->user) || !pt_name_valid(q->service))
		return reply_error(c, PT_E_PROTO, "invalid user or service name");
	r = pt_rpo_find_name(d, q->user);
	if (!r) {
		record_decision(c, LOG_NOTICE, "deny", q->user, NULL, NULL, NULL,
				"no such remote principal");
		return reply_error(c, PT_E_NOTFOUND, "no such remote principal");
	}
	if (q->count == 0) {
		pt_rpo_session_end(d, r, c->peer->pid);
		record_decision(c, LOG_INFO, "allow", q->user, NULL, r->id, NULL, "session closed");
	} else {
		k = pt_rpo_session_begin(d, r, c->peer->pid, pt_ops_now(d));
		if (k < 0) {
			const char *why = k == -EUSERS ? "the remote principal has its maximum of "
							 "concurrent sessions" :
					  k == -EACCES ? "the remote principal is not valid" :
					  k == -ESRCH  ? "the calling process is gone" :
							 "the session cannot be recorded";
			record_decision(c, LOG_NOTICE, "deny", q->user, NULL, r->id, NULL, why);
			return reply_error(c,
					   k == -EUSERS		       ? PT_E_LIMIT :
					   k == -EACCES || k == -ESRCH ? PT_E_DENIED :
									 PT_E_INTERNAL,
					   "%s", why);
		}
		record_decision(c, LOG_INFO, "allow", q->user, NULL, r->id, NULL, "session opened");
	}
	rep.count = r->sessions;
	return pt_rep_encode(PT_ACCEPT_SESSION, &rep, c->out);
}
