/* SPDX-License-Identifier: MIT */
/* One-time codes of a configured code type (tokentype.h): issue, check. */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "log.h"
#include "ratelimit.h"
#include "ops-internal.h"
#include "tokentype.h"
#include "util.h"

/* A code type named by the request, or an error reply (tokentype.h). */
static const struct pt_tokentype *code_type(struct call *c, int *ret_reply)
{
	const struct pt_tokentype *t =
		pt_ttype_find(c->d->cfg->types, c->d->cfg->n_types, c->req->ttype);
	char rule[96];

	snprintf(rule, sizeof(rule), "type:%.64s", c->req->ttype);
	if (!t || t->kind != PT_TTYPE_CODE) {
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
				t ? "not a code type" : "no such type");
		*ret_reply =
			reply_error(c, PT_E_NOTFOUND, "%s: %.64s",
				    t ? "not a code type" : "no such token type", c->req->ttype);
		return NULL;
	}
	if (!pt_name_valid(c->req->user)) {
		record_decision(c, LOG_NOTICE, "deny", NULL, NULL, NULL, rule, "invalid user name");
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
int op_code_issue(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_tokentype *t;
	struct pt_code_rec rec, glob;
	struct pt_rep rep = { .type = PT_OK };
	char rule[96], why[256], reason[320];
	uint64_t now = pt_ops_now(d), wait = 0;
	unsigned bits = 0;
	char *code = NULL;
	int r = 0;

	t = code_type(c, &r);
	if (!t)
		return r;
	snprintf(rule, sizeof(rule), "type:%s", t->name);
	if ((r = pt_codes_load(d->cfg->state_dir, t->name, c->req->user, &rec)) < 0 ||
	    (r = pt_codes_load(d->cfg->state_dir, t->name, "", &glob)) < 0) {
		record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
		return reply_error(c, PT_E_INTERNAL,
				   "cannot read the code records (see tokend's log)");
	}
	if (rec.locked_until > now) {
		snprintf(reason, sizeof(reason), "locked out for %" PRIu64 " more seconds",
			 rec.locked_until - now);
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
		return reply_error(c, PT_E_LIMIT,
				   "user %s is locked out of type %s (%" PRIu64 " more seconds)",
				   c->req->user, t->name, rec.locked_until - now);
	}
	if (!pt_ratelimit_peek(&rec.bucket, t->rate_n, t->rate_period, now, &wait) ||
	    !pt_ratelimit_peek(&glob.bucket, t->global_rate_n, t->global_rate_period, now, &wait)) {
		bool user_limit =
			!pt_ratelimit_peek(&rec.bucket, t->rate_n, t->rate_period, now, NULL);
		snprintf(reason, sizeof(reason),
			 "%s rate limit of type %s reached, retry in %" PRIu64 "s",
			 user_limit ? "per-user" : "global", t->name, wait);
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
		return reply_error(c, PT_E_LIMIT, "%s", reason);
	}
	r = pt_ttype_generate(t, c->req->user, &code, &bits, why, sizeof(why));
	if (r < 0) {
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
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
	(void)pt_ratelimit_take(&rec.bucket, t->rate_n, t->rate_period, now);
	(void)pt_ratelimit_take(&glob.bucket, t->global_rate_n, t->global_rate_period, now);
	if ((t->global_rate_n && (r = pt_codes_save(d->cfg->state_dir, &glob)) < 0) ||
	    (r = pt_codes_save(d->cfg->state_dir, &rec)) < 0)
		goto internal;
	snprintf(reason, sizeof(reason), "issued (%u random bits, %s)", bits,
		 t->num_uses ? "limited uses" : "unlimited uses");
	record_decision(c, LOG_INFO, "allow", c->req->user, NULL, NULL, rule, reason);
	rep.token = code;
	rep.exp = code_exp(t, &rec);
	r = pt_rep_encode(PT_CODE_ISSUE, &rep, c->out);
	pt_free_secret(code);
	OPENSSL_cleanse(&rec, sizeof(rec));
	return r;
internal:
	pt_free_secret(code);
	OPENSSL_cleanse(&rec, sizeof(rec));
	record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
	return reply_error(c, PT_E_INTERNAL, "cannot store the code (see tokend's log)");
}

/* pertokctl code check (root) or an actor (PT_CALLER_ROOT_OR_ACTOR): is this the user's code? Counts a
 * use on success, a failure otherwise; at max_failures the code is revoked
 * and the user locked out of the type for its lockout. */
int op_code_check(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_tokentype *t;
	struct pt_code_rec rec;
	struct pt_rep rep = { .type = PT_OK };
	char rule[96], why[256] = "", reason[320];
	uint8_t h[PT_CODE_HASHLEN];
	uint64_t now = pt_ops_now(d);
	char *code = NULL;
	bool match = false;
	int r = 0;

	t = code_type(c, &r);
	if (!t)
		return r;
	snprintf(rule, sizeof(rule), "type:%s", t->name);
	r = pt_codes_load(d->cfg->state_dir, t->name, c->req->user, &rec);
	if (r < 0) {
		record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
		return reply_error(c, PT_E_INTERNAL,
				   "cannot read the code record (see tokend's log)");
	}
	if (rec.locked_until > now) {
		snprintf(reason, sizeof(reason), "locked out for %" PRIu64 " more seconds",
			 rec.locked_until - now);
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
		r = reply_error(c, PT_E_LIMIT,
				"user %s is locked out of type %s (%" PRIu64 " more seconds)",
				c->req->user, t->name, rec.locked_until - now);
		goto out;
	}
	if (!rec.active) {
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
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
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
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
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
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
	record_decision(c, LOG_INFO, "allow", c->req->user, NULL, NULL, rule, reason);
	r = pt_rep_encode(PT_CODE_CHECK, &rep, c->out);
	goto out;
internal:
	record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
	r = reply_error(c, PT_E_INTERNAL, "cannot update the code record (see tokend's log)");
out:
	pt_free_secret(code);
	OPENSSL_cleanse(&rec, sizeof(rec));
	OPENSSL_cleanse(h, sizeof(h));
	return r;
}
