/* SPDX-License-Identifier: MIT */
/*
 * Consent from another machine (PT_GRANT_SIGNED): a grant request (the text
 * of grantreq.h) signed with the user's SSH key (`ssh-keygen -Y sign -n
 * pertok-grant`). Any local uid may submit it: the consent is the
 * signature. tokend checks, in this order, each refusal saying which:
 * the request's form; the signature's form and namespace ("pertok-grant");
 * the host (tokend's issuer or this host's name: a request signed for
 * another host is refused); its age (issued at most PT_GRANTREQ_MAX_AGE
 * ago, at most PT_SIGREPLAY_SKEW ahead); the user's own
 * ~/.ssh/authorized_keys (StrictModes, authkeys.h) holds the signing key on
 * a line that may consent; the signature verifies (native, sshsig.h); the
 * nonce was never seen (sigreplay.h, on disk before the grant is made).
 * Then the grant is made as the user made it (pt_grant_create, origin =
 * the user), under the same admin policy.
 *
 * Like OpenSSH's monitor (mm_answer_keyverify parses the key blob and
 * verifies in the privileged process), the key holder parses the request
 * and the signature itself, with the strict parsers that are fuzzed
 * (grantreq, sshsig, authkeys): the key it verifies with cannot cross from
 * the front.
 */
#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "authkeys.h"
#include "grant.h"
#include "grantreq.h"
#include "log.h"
#include "ops-internal.h"
#include "sigreplay.h"
#include "sshsig.h"
#include "util.h"

/* Is host this tokend's? Its issuer as configured, or the host name. */
static bool host_is_ours(const struct pt_daemon *d, const char *host)
{
	char name[HOST_NAME_MAX + 1];

	if (d->cfg->issuer && strcmp(host, d->cfg->issuer) == 0)
		return true;
	if (gethostname(name, sizeof(name)) < 0)
		return false;
	name[sizeof(name) - 1] = '\0';
	return strcmp(host, name) == 0;
}

static int refuse(struct call *c, uint32_t code, const char *user, const char *servicer,
		  const char *reason)
{
	record_decision(c, LOG_NOTICE, "deny", user, servicer, NULL, NULL, reason);
	return reply_error(c, code, "%s", reason);
}

/* The checks up to the signature's: 0, or the reply. */
static int check_signed(struct call *c, const struct pt_grantreq *q, const struct pt_sshsig *sig,
			const struct pt_account *acct, uint64_t now, bool *ret_ok)
{
	const char *svc = q->spec->servicer;
	char why[800], err[400] = "";
	char *keys = NULL;
	size_t n = 0;
	int r;

	*ret_ok = false;
	if (!host_is_ours(c->d, q->host)) {
		snprintf(why, sizeof(why), "the request is for host %s, not this one", q->host);
		return refuse(c, PT_E_DENIED, q->user, svc, why);
	}
	if (q->issued > now + PT_SIGREPLAY_SKEW) {
		snprintf(why, sizeof(why), "the request is issued %llu s in the future",
			 (unsigned long long)(q->issued - now));
		return refuse(c, PT_E_DENIED, q->user, svc, why);
	}
	if (now > q->issued + PT_GRANTREQ_MAX_AGE) {
		snprintf(why, sizeof(why), "the request is stale: issued %llu s ago (at most %d)",
			 (unsigned long long)(now - q->issued), PT_GRANTREQ_MAX_AGE);
		return refuse(c, PT_E_DENIED, q->user, svc, why);
	}
	r = pt_sshsig_verify(sig, PT_SSHSIG_NAMESPACE, c->req->signed_text,
			     strlen(c->req->signed_text), err, sizeof(err));
	if (r == -ENOMEM)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	if (r < 0) {
		snprintf(why, sizeof(why), "signature refused: %s", err);
		return refuse(c, PT_E_DENIED, q->user, svc, why);
	}
	r = pt_authkeys_read(acct->home, acct->uid, &keys, &n, err, sizeof(err));
	if (r == 0)
		r = pt_authkeys_match(keys, n, sig->pubkey, sig->pubkey_len, err, sizeof(err));
	free(keys);
	if (r == -ENOMEM)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	if (r == -ENOENT && !err[0])
		snprintf(err, sizeof(err), "the signing key is not in ~%s/.ssh/authorized_keys",
			 q->user);
	if (r < 0) {
		snprintf(why, sizeof(why), "%s key of user %s refused: %s",
			 pt_sshkey_type_name(sig->key_type), q->user, err);
		return refuse(c, PT_E_DENIED, q->user, svc, why);
	}
	*ret_ok = true;
	return 0;
}

int op_grant_signed(struct call *c)
{
	struct pt_grantreq q = { 0 };
	struct pt_sshsig *sig = NULL;
	struct pt_account *acct = NULL;
	struct pt_grant *want = NULL;
	struct pt_rep rep = { .type = PT_OK };
	char err[400] = "", why[600] = "", id[PT_ID_LEN];
	uint64_t now = pt_ops_now(c->d);
	bool ok = false;
	int r;

	if (!c->req->signed_text || !c->req->signature)
		return reply_error(c, PT_E_PROTO, "malformed request");
	r = pt_grantreq_parse(c->req->signed_text, strlen(c->req->signed_text), &q, err,
			      sizeof(err));
	if (r == -ENOMEM)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	if (r < 0) {
		snprintf(why, sizeof(why), "malformed request: %s", err);
		return refuse(c, PT_E_PROTO, NULL, NULL, why);
	}
	r = pt_sshsig_parse(c->req->signature, strlen(c->req->signature), &sig, err, sizeof(err));
	if (r == -ENOMEM) {
		r = reply_error(c, PT_E_INTERNAL, "out of memory");
		goto out;
	}
	if (r < 0) {
		snprintf(why, sizeof(why), "malformed signature: %s", err);
		r = refuse(c, PT_E_PROTO, q.user, q.spec->servicer, why);
		goto out;
	}
	r = pt_ops_account(c->d, q.user, &acct);
	if (r < 0 || !acct || !acct->home) {
		snprintf(why, sizeof(why), "no user %s here", q.user);
		r = refuse(c, PT_E_NOTFOUND, q.user, q.spec->servicer, why);
		goto out;
	}
	r = check_signed(c, &q, sig, acct, now, &ok);
	if (!ok)
		goto out;
	if (!c->d->sigreplay &&
	    (r = pt_sigreplay_open(c->d->cfg->state_dir, &c->d->sigreplay)) < 0) {
		pt_log_kv(LOG_ERR, "grant.signed", "error", "reason",
			  "the replay cache (sshsig-nonces) cannot be read", NULL);
		r = reply_error(c, PT_E_INTERNAL, "the replay cache cannot be read (see the log)");
		goto out;
	}
	r = pt_sigreplay_take(c->d->sigreplay, acct->uid, q.nonce, q.issued, now);
	if (r == -ESTALE) {
		snprintf(why, sizeof(why),
			 "the request is older than the replay cache remembers "
			 "(issued %llu; was the clock stepped back?)",
			 (unsigned long long)q.issued);
		r = refuse(c, PT_E_DENIED, q.user, q.spec->servicer, why);
		goto out;
	}
	if (r == -EALREADY || r == -EDQUOT) {
		snprintf(why, sizeof(why),
			 r == -EALREADY ? "replayed: nonce %s was used before" :
					  "too many signed requests of user %s in %d minutes",
			 r == -EALREADY ? q.nonce : q.user, PT_GRANTREQ_MAX_AGE / 60);
		r = refuse(c, r == -EALREADY ? PT_E_DENIED : PT_E_LIMIT, q.user, q.spec->servicer,
			   why);
		goto out;
	}
	if (r < 0) {
		r = reply_error(c, PT_E_INTERNAL, "cannot record the nonce (see the log)");
		goto out;
	}
	r = grant_of_spec(q.spec, now, &want);
	if (r < 0) {
		r = reply_error(c, PT_E_INTERNAL, "out of memory");
		goto out;
	}
	if (!want->max_uses)
		want->max_uses = 1;
	r = pt_grant_create(c->d, q.user, want, now, id, why, sizeof(why));
	if (r < 0) {
		r = refuse(c,
			   r == -EDQUOT ? PT_E_LIMIT :
			   r == -EACCES ? PT_E_DENIED :
					  PT_E_INTERNAL,
			   q.user, q.spec->servicer, why);
		goto out;
	}
	snprintf(why, sizeof(why), "consent by the %s key of %s",
		 pt_sshkey_type_name(sig->key_type), q.user);
	record_decision(c, LOG_NOTICE, "allow", q.user, q.spec->servicer, id, NULL, why);
	rep.id = id;
	r = pt_rep_encode(PT_GRANT_SIGNED, &rep, c->out);
out:
	pt_grant_free(want);
	pt_account_free(acct);
	pt_sshsig_free(sig);
	pt_grantreq_clear(&q);
	return r;
}
