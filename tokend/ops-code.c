/* SPDX-License-Identifier: MIT */
/*
 * One-time codes of a configured code type (tokentype.h): sheets of codes
 * (issue, sheet), the check, the list of a sheet's ids. A sheet holds up to
 * PT_CODE_MAX_SHEET codes, each with its id (1..N) and its own salted hash
 * (codes.h); a new sheet replaces the user's old one.
 */
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

/* Why the request's type cannot hold codes (NULL: it can; *ret_t is set). */
static const char *code_type_why(struct call *c, const struct pt_tokentype **ret_t)
{
	const struct pt_tokentype *t =
		pt_ttype_find(c->d->cfg->types, c->d->cfg->n_types, c->req->ttype);

	*ret_t = t && t->kind == PT_TTYPE_CODE ? t : NULL;
	return !t ? "no such type" : t->kind != PT_TTYPE_CODE ? "not a code type" : NULL;
}

/* The reply's words for code_type_why's reason. */
static const char *type_error(const char *why)
{
	return strcmp(why, "no such type") == 0 ? "no such token type" : "not a code type";
}

/* A code type named by the request, or an error reply (tokentype.h). */
static const struct pt_tokentype *code_type(struct call *c, int *ret_reply)
{
	const struct pt_tokentype *t;
	const char *why = code_type_why(c, &t);
	char rule[96];

	snprintf(rule, sizeof(rule), "type:%.64s", c->req->ttype);
	if (why) {
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, why);
		*ret_reply =
			reply_error(c, PT_E_NOTFOUND, "%s: %.64s", type_error(why), c->req->ttype);
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

static void free_codes(char **codes, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		pt_free_secret(codes[i]);
}

/* Generates n distinct codes and their slots in rec (a fresh sheet). */
static int fill_sheet(const struct pt_tokentype *t, struct pt_code_rec *rec, uint32_t n,
		      char **codes, unsigned *ret_bits, char *why, size_t whylen)
{
	int r;

	pt_codes_drop_sheet(rec);
	for (uint32_t i = 0; i < n; i++) {
		bool dup;
		int tries = 0;

		do {
			pt_free_secret(codes[i]);
			codes[i] = NULL;
			r = pt_ttype_generate(t, rec->user, &codes[i], ret_bits, why, whylen);
			if (r < 0)
				return r;
			dup = false;
			for (uint32_t j = 0; j < i; j++)
				dup |= strcmp(codes[i], codes[j]) == 0;
		} while (dup && ++tries < 100);
		if (dup) {
			snprintf(why, whylen, "type %s cannot make %u distinct codes", t->name, n);
			return -EAGAIN;
		}
		rec->codes[i].id = i + 1;
		if (RAND_bytes(rec->codes[i].salt, PT_CODE_SALTLEN) != 1 ||
		    pt_codes_hash(rec->codes[i].salt, t->name, rec->user, codes[i],
				  rec->codes[i].hash) < 0)
			return -EIO;
		rec->n_codes = i + 1;
	}
	return 0;
}

/* Makes and stores a sheet of n codes for the request's (type, user),
 * replacing the old sheet; codes[0..n) receive the codes (the caller wipes
 * them). *ret_ok false: the request was refused, the return value is the
 * reply. The codes are in the reply only, never logged or stored. */
static int new_sheet(struct call *c, uint32_t n, char **codes, uint64_t *ret_exp, bool *ret_ok)
{
	struct pt_daemon *d = c->d;
	const struct pt_tokentype *t;
	struct pt_code_rec rec, glob;
	char rule[96], why[256] = "", reason[320], err[160];
	uint64_t now = pt_ops_now(d), wait = 0;
	uint32_t replaced;
	unsigned bits = 0;
	int r = 0;

	*ret_ok = false;
	t = code_type(c, &r);
	if (!t)
		return r;
	snprintf(rule, sizeof(rule), "type:%s", t->name);
	if (n < 1 || n > PT_CODE_MAX_SHEET) {
		snprintf(reason, sizeof(reason), "a sheet holds 1 to %u codes, not %" PRIu32,
			 PT_CODE_MAX_SHEET, n);
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
		return reply_error(c, PT_E_INVALID, "%s", reason);
	}
	if ((r = pt_codes_load(d->cfg->state_dir, t->name, c->req->user, &rec, err, sizeof(err))) <
		    0 ||
	    (r = pt_codes_load(d->cfg->state_dir, t->name, "", &glob, err, sizeof(err))) < 0) {
		snprintf(reason, sizeof(reason), "code record: %s%s%s", strerror(-r),
			 err[0] ? ": " : "", err);
		record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, reason);
		return reply_error(c, PT_E_INTERNAL,
				   "cannot read the code records (see tokend's log)");
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
	if (!pt_ratelimit_peek(&rec.bucket, t->rate_n, t->rate_period, now, &wait) ||
	    !pt_ratelimit_peek(&glob.bucket, t->global_rate_n, t->global_rate_period, now, &wait)) {
		bool user_limit =
			!pt_ratelimit_peek(&rec.bucket, t->rate_n, t->rate_period, now, NULL);
		snprintf(reason, sizeof(reason),
			 "%s rate limit of type %s reached, retry in %" PRIu64 "s",
			 user_limit ? "per-user" : "global", t->name, wait);
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
		r = reply_error(c, PT_E_LIMIT, "%s", reason);
		goto out;
	}
	replaced = pt_codes_unused(&rec);
	r = fill_sheet(t, &rec, n, codes, &bits, why, sizeof(why));
	if (r == -EIO)
		goto internal;
	if (r < 0) {
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
				why[0] ? why : strerror(-r));
		r = reply_error(c, r == -EINVAL || r == -EAGAIN ? PT_E_INVALID : PT_E_INTERNAL,
				"%s", why[0] ? why : "cannot generate a code");
		goto out;
	}
	rec.iat = rec.last_used = now;
	rec.hard_exp = now + t->max_ttl;
	rec.failures = 0;
	(void)pt_ratelimit_take(&rec.bucket, t->rate_n, t->rate_period, now);
	(void)pt_ratelimit_take(&glob.bucket, t->global_rate_n, t->global_rate_period, now);
	if ((t->global_rate_n && (r = pt_codes_save(d->cfg->state_dir, &glob)) < 0) ||
	    (r = pt_codes_save(d->cfg->state_dir, &rec)) < 0)
		goto internal;
	snprintf(reason, sizeof(reason),
		 "issued a sheet of %" PRIu32 " code%s (%u random bits each, %s)%s", n,
		 n == 1 ? "" : "s", bits, t->num_uses ? "limited uses" : "unlimited uses",
		 replaced ? "; the old sheet's unused codes are revoked" : "");
	record_decision(c, LOG_INFO, "allow", c->req->user, NULL, NULL, rule, reason);
	*ret_exp = code_exp(t, &rec);
	*ret_ok = true;
	r = 0;
	goto out;
internal:
	record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
	r = reply_error(c, PT_E_INTERNAL, "cannot store the code (see tokend's log)");
out:
	OPENSSL_cleanse(&rec, sizeof(rec));
	return r;
}

/* pertokctl code issue (v0.2 clients): a sheet of one code, the code alone
 * in the reply. */
int op_code_issue(struct call *c)
{
	struct pt_rep rep = { .type = PT_OK };
	char *codes[1] = { NULL };
	bool ok;
	int r;

	r = new_sheet(c, 1, codes, &rep.exp, &ok);
	if (ok) {
		rep.token = codes[0];
		r = pt_rep_encode(PT_CODE_ISSUE, &rep, c->out);
	}
	free_codes(codes, 1);
	return r;
}

/* pertokctl code issue --count N: a sheet of N codes with their ids. */
int op_code_sheet(struct call *c)
{
	struct pt_rep rep = { .type = PT_OK };
	struct pt_codeinfo info[PT_CODE_MAX_SHEET];
	char *codes[PT_CODE_MAX_SHEET] = { NULL };
	uint32_t n = c->req->count;
	bool ok;
	int r;

	r = new_sheet(c, n, codes, &rep.exp, &ok);
	if (ok) {
		memset(info, 0, sizeof(info));
		for (uint32_t i = 0; i < n; i++)
			info[i] = (struct pt_codeinfo){ .id = i + 1, .code = codes[i] };
		rep.codes = info;
		rep.n_codes = n;
		r = pt_rep_encode(PT_CODE_SHEET, &rep, c->out);
	}
	free_codes(codes, PT_CODE_MAX_SHEET);
	return r;
}

/* pertokctl code list: the sheet's ids, used or not; never a code. */
int op_code_list(struct call *c)
{
	const struct pt_tokentype *t;
	struct pt_code_rec rec;
	struct pt_codeinfo info[PT_CODE_MAX_SHEET];
	struct pt_rep rep = { .type = PT_OK };
	char err[160], reason[320];
	int r = 0;

	t = code_type(c, &r);
	if (!t)
		return r;
	r = pt_codes_load(c->d->cfg->state_dir, t->name, c->req->user, &rec, err, sizeof(err));
	if (r < 0) {
		snprintf(reason, sizeof(reason), "code record: %s%s%s", strerror(-r),
			 err[0] ? ": " : "", err);
		record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, NULL, reason);
		return reply_error(c, PT_E_INTERNAL,
				   "cannot read the code record (see tokend's log)");
	}
	memset(info, 0, sizeof(info));
	for (uint32_t i = 0; i < rec.n_codes; i++)
		info[i] = (struct pt_codeinfo){ .id = rec.codes[i].id,
						.uses = rec.codes[i].uses,
						.spent = rec.codes[i].spent };
	rep.codes = info;
	rep.n_codes = rec.n_codes;
	rep.iat = rec.iat;
	rep.exp = rec.n_codes ? code_exp(t, &rec) : 0;
	rep.failures = rec.failures;
	rep.locked_until = rec.locked_until;
	OPENSSL_cleanse(&rec, sizeof(rec));
	return pt_rep_encode(PT_CODE_LIST, &rep, c->out);
}

/* A wrong code: counts a failure; at max_failures the sheet is revoked and
 * the user locked out of the type for its lockout. Durable before the reply. */
static int code_failed(struct call *c, const struct pt_tokentype *t, struct pt_code_rec *rec,
		       const char *rule, const char *what, uint64_t now)
{
	char reason[400];
	bool locked;
	int r;

	rec->failures++;
	locked = t->max_failures && rec->failures >= t->max_failures;
	if (locked) {
		snprintf(reason, sizeof(reason),
			 "%s; %u failures: code%s revoked, user locked out for %" PRIu64 "s", what,
			 t->max_failures, rec->n_codes > 1 ? "s" : "", t->lockout);
		pt_codes_drop_sheet(rec);
		rec->failures = 0;
		rec->locked_until = now + t->lockout;
	} else if (t->max_failures)
		snprintf(reason, sizeof(reason), "%s (%u of %u attempts left)", what,
			 t->max_failures - rec->failures, t->max_failures);
	else
		snprintf(reason, sizeof(reason), "%s", what);
	if ((r = pt_codes_save(c->d->cfg->state_dir, rec)) < 0) {
		record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, strerror(-r));
		return reply_error(c, PT_E_INTERNAL,
				   "cannot update the code record (see tokend's log)");
	}
	record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, reason);
	return reply_error(c, locked ? PT_E_LIMIT : PT_E_INVALID, "%s", reason);
}

/*
 * pertokctl code check (root) or an actor (PT_CALLER_ROOT_OR_ACTOR): is this
 * one of the user's unused codes? Whatever the request names (an unknown
 * type, an invalid or unknown user, a user without codes, a locked-out one)
 * the code is hashed against PT_CODE_MAX_SHEET slots before anything is
 * decided (pt_codes_match), so the reply's timing does not tell them apart
 * from a wrong code. A match counts a use of that code (spent at the type's
 * num_uses), on disk before the reply; anything else a failure (code_failed).
 */
int op_code_check(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_tokentype *t;
	struct pt_code_rec rec;
	struct pt_code_slot *s;
	struct pt_rep rep = { .type = PT_OK };
	char rule[96], why[256] = "", reason[400], err[160] = "";
	uint64_t now = pt_ops_now(d);
	const char *type_why = code_type_why(c, &t);
	bool name_ok = pt_name_valid(c->req->user), format_ok = false;
	int load_r = 0, slot = -1;
	char *code = NULL;
	int r = 0;

	memset(&rec, 0, sizeof(rec));
	if (t && name_ok)
		load_r = pt_codes_load(d->cfg->state_dir, t->name, c->req->user, &rec, err,
				       sizeof(err));
	code = strdup(c->req->code);
	if (!code) {
		r = -ENOMEM;
		goto internal;
	}
	if (t) {
		pt_ttype_normalize(t, code);
		format_ok = pt_ttype_check_format(t, c->req->user, code, why, sizeof(why)) == 0;
	}
	/* the same work for every request: PT_CODE_MAX_SHEET hashes */
	r = pt_codes_match(t && name_ok && load_r >= 0 ? &rec : NULL, t ? t->name : c->req->ttype,
			   c->req->user, code, &slot);
	if (r < 0)
		goto internal;

	snprintf(rule, sizeof(rule), "type:%.64s", t ? t->name : c->req->ttype);
	if (type_why) {
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule, type_why);
		r = reply_error(c, PT_E_NOTFOUND, "%s: %.64s", type_error(type_why), c->req->ttype);
		goto out;
	}
	if (!name_ok) {
		record_decision(c, LOG_NOTICE, "deny", NULL, NULL, NULL, rule, "invalid user name");
		r = reply_error(c, PT_E_INVALID, "invalid user name");
		goto out;
	}
	if (load_r < 0) {
		snprintf(reason, sizeof(reason), "code record: %s%s%s", strerror(-load_r),
			 err[0] ? ": " : "", err);
		record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, rule, reason);
		r = reply_error(c, PT_E_INTERNAL, "cannot read the code record (see tokend's log)");
		goto out;
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
	if (pt_codes_unused(&rec) == 0) {
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
				rec.n_codes ? "every code on the sheet is used" :
					      "no outstanding code");
		r = reply_error(c, PT_E_INVALID, "no code of type %s is outstanding for %s",
				t->name, c->req->user);
		goto out;
	}
	if (now >= code_exp(t, &rec)) {
		bool many = rec.n_codes > 1;

		pt_codes_drop_sheet(&rec);
		if ((r = pt_codes_save(d->cfg->state_dir, &rec)) < 0)
			goto internal;
		record_decision(c, LOG_NOTICE, "deny", c->req->user, NULL, NULL, rule,
				now >= rec.hard_exp ? "expired (max_ttl)" : "expired (ttl)");
		r = reply_error(c, PT_E_INVALID, "the code%s of type %s for %s ha%s expired",
				many ? "s" : "", t->name, c->req->user, many ? "ve" : "s");
		goto out;
	}
	if (!format_ok || slot < 0) {
		snprintf(reason, sizeof(reason), "wrong code%s%s", why[0] ? ": " : "", why);
		r = code_failed(c, t, &rec, rule, reason, now);
		goto out;
	}
	s = &rec.codes[slot];
	if (s->spent) {
		snprintf(reason, sizeof(reason), "code %" PRIu32 " of the sheet was already used",
			 s->id);
		r = code_failed(c, t, &rec, rule, reason, now);
		goto out;
	}
	s->uses++;
	s->last_used = now;
	s->spent = t->num_uses && s->uses >= t->num_uses;
	rec.failures = 0;
	rec.last_used = now;
	/* counted on disk before the reply that grants it */
	if ((r = pt_codes_save(d->cfg->state_dir, &rec)) < 0)
		goto internal;
	rep.count = t->num_uses ? t->num_uses - s->uses : UINT32_MAX;
	snprintf(reason, sizeof(reason),
		 "code %" PRIu32 " of %" PRIu32 " accepted (use %" PRIu32 "%s; %" PRIu32
		 " unused left)",
		 s->id, rec.n_codes, s->uses, s->spent ? ", now spent" : "", pt_codes_unused(&rec));
	record_decision(c, LOG_INFO, "allow", c->req->user, NULL, NULL, rule, reason);
	r = pt_rep_encode(PT_CODE_CHECK, &rep, c->out);
	goto out;
internal:
	record_decision(c, LOG_ERR, "error", c->req->user, NULL, NULL, NULL, strerror(-r));
	r = reply_error(c, PT_E_INTERNAL, "cannot update the code record (see tokend's log)");
out:
	pt_free_secret(code);
	OPENSSL_cleanse(&rec, sizeof(rec));
	return r;
}
