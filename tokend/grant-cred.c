/* SPDX-License-Identifier: MIT */
/* The grant as a credential, see grant-cred.h. */
#include "conf.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "grant-cred.h"
#include "grant.h"
#include "jws.h"
#include "keys.h"
#include "log.h"
#include "ops-internal.h"
#include "util.h"

int pt_grant_credential_make(struct pt_daemon *d, const struct pt_grant *g, uint64_t now,
			     char **ret, char *reason, size_t len)
{
	json_object *o;
	uint8_t raw[16];
	char *jti = NULL, *jws = NULL;
	int r = -ENOMEM;

	if (!d || !g || !ret)
		return -EINVAL;
	if (!g->servicer_exe || !*g->servicer_exe)
		return pt_errf(
			reason, len, -EINVAL,
			"grant %s names no servicer executable (--exe): a credential is bound "
			"to one",
			g->id);
	if (!g->not_after || g->not_after <= now)
		return pt_errf(reason, len, -EINVAL, "grant %s has expired", g->id);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	jti = pt_b64url_encode(raw, sizeof(raw));
	o = json_object_new_object();
	if (!jti || !o)
		goto out;
	if (json_object_object_add(o, "iss", json_object_new_string(d->cfg->issuer)) ||
	    json_object_object_add(o, "sub", json_object_new_string(g->origin)) ||
	    json_object_object_add(o, "grant", json_object_new_string(g->id)) ||
	    json_object_object_add(o, "uid", json_object_new_int64(g->servicer_uid)) ||
	    json_object_object_add(o, "exe", json_object_new_string(g->servicer_exe)) ||
	    json_object_object_add(o, "iat", json_object_new_int64((int64_t)now)) ||
	    json_object_object_add(o, "exp", json_object_new_int64((int64_t)g->not_after)) ||
	    json_object_object_add(o, "jti", json_object_new_string(jti)))
		goto out;
	r = pt_jws_sign(d->keys->sign, d->cfg->alg, PT_GRANT_CRED_TYP, d->keys->kid,
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE),
			&jws);
	if (r < 0)
		goto out;
	*ret = jws;
	r = 0;
out:
	json_object_put(o);
	free(jti);
	return r;
}

static const char *claim_str(json_object *c, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(c, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool claim_int(json_object *c, const char *key, int64_t *ret)
{
	json_object *v;

	if (!json_object_object_get_ex(c, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

int pt_grant_credential_resolve(struct pt_daemon *d, const char *jws, uid_t uid, const char *exe,
				char ret_id[PT_ID_LEN], char *reason, size_t len)
{
	uint64_t now = pt_ops_now(d);
	json_object *c = NULL;
	const char *id, *sub, *cexe, *iss;
	char *kid = NULL;
	struct pt_grant *g;
	int64_t cuid, exp;
	int r;

	if (!d || !jws || !ret_id)
		return -EINVAL;
	r = pt_keys_verify(d->keys, jws, PT_GRANT_CRED_TYP, now, (void **)&c, &kid);
	free(kid);
	if (r == -ENOMEM)
		return r;
	if (r == -EPROTOTYPE)
		return pt_errf(reason, len, -EACCES, "not a grant credential (typ is not %s)",
			       PT_GRANT_CRED_TYP);
	if (r < 0)
		return pt_errf(reason, len, -EACCES, "grant credential rejected: %s",
			       r == -EKEYREJECTED ? "bad signature" : "malformed");
	id = claim_str(c, "grant");
	sub = claim_str(c, "sub");
	cexe = claim_str(c, "exe");
	iss = claim_str(c, "iss");
	if (!id || !sub || !cexe || !iss || !claim_int(c, "uid", &cuid) ||
	    !claim_int(c, "exp", &exp)) {
		r = pt_errf(reason, len, -EACCES, "grant credential rejected: a claim is missing");
		goto out;
	}
	if (strcmp(iss, d->cfg->issuer) != 0) {
		r = pt_errf(reason, len, -EACCES, "grant credential of another issuer");
		goto out;
	}
	if (exp <= 0 || (uint64_t)exp <= now) {
		r = pt_errf(reason, len, -EACCES, "grant credential expired");
		goto out;
	}
	if (cuid != (int64_t)uid || !exe || strcmp(cexe, exe) != 0) {
		r = pt_errf(
			reason, len, -EACCES,
			"grant credential is bound to uid %lld running %s, not uid %u running %s",
			(long long)cuid, cexe, (unsigned)uid, exe ? exe : "(unknown)");
		goto out;
	}
	g = pt_grant_find(d, id);
	if (!g || strcmp(g->origin, sub) != 0 || g->servicer_uid != uid) {
		r = pt_errf(reason, len, -EACCES, "no grant %s (any more) for this credential", id);
		goto out;
	}
	/* the credential is no substitute for the grant's state */
	if (g->revoked) {
		r = pt_errf(reason, len, -EACCES, "grant %s is revoked", id);
		goto out;
	}
	memcpy(ret_id, g->id, PT_ID_LEN);
	r = 0;
out:
	json_object_put(c);
	return r;
}

/* PT_GRANT_CREDENTIAL: the grant's origin, its servicer or root asks for
 * the credential of a grant (the servicer is who will present it). */
int op_grant_credential(struct call *c)
{
	struct pt_grant *g = pt_grant_find(c->d, c->req->id);
	struct pt_rep rep = { .type = PT_OK };
	char reason[400];
	_cleanup_secret_ char *jws = NULL;
	int r;

	if (!g || (c->peer->uid != 0 && c->peer->uid != g->origin_uid &&
		   c->peer->uid != g->servicer_uid)) {
		/* the same answer whether it exists or is someone else's */
		record_decision(c, LOG_NOTICE, "deny", NULL, NULL, c->req->id, NULL,
				"no such grant");
		return reply_error(c, PT_E_NOTFOUND, "no such grant: %s", c->req->id);
	}
	if (g->revoked) {
		record_decision(c, LOG_NOTICE, "deny", g->origin, g->servicer, g->id, NULL,
				"the grant is revoked");
		return reply_error(c, PT_E_DENIED, "grant %s is revoked", g->id);
	}
	r = pt_grant_credential_make(c->d, g, pt_ops_now(c->d), &jws, reason, sizeof(reason));
	if (r == -EINVAL) {
		record_decision(c, LOG_NOTICE, "deny", g->origin, g->servicer, g->id, NULL, reason);
		return reply_error(c, PT_E_DENIED, "%s", reason);
	}
	if (r < 0)
		return reply_error(c, PT_E_INTERNAL, "cannot make the credential (see the log)");
	c->token = jws; /* audited as its HMAC, never as itself */
	record_decision(c, LOG_NOTICE, "allow", g->origin, g->servicer, g->id, NULL,
			"grant credential issued");
	rep.token = jws;
	r = pt_rep_encode(PT_GRANT_CREDENTIAL, &rep, c->out);
	c->token = NULL;
	return r;
}
