/* SPDX-License-Identifier: MIT */
/*
 * The remote principal requests (root only, the dispatch table says so):
 * template import/show, RPO approve/list/show/extend/revoke (rpo.h,
 * pertok-rpo(7)). Approve, extend and revoke are held until their audit
 * record is durable (PT_AUDIT_HELD); rpo.json is written before that.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"
#include "ops-internal.h"
#include "rpo-internal.h"
#include "rpo.h"

#define TEXT_MAX 16384

static uint32_t errcode(int r)
{
	switch (r) {
	case -ENOENT:
		return PT_E_NOTFOUND;
	case -EINVAL:
	case -EFBIG:
	case -ESTALE:
		return PT_E_INVALID;
	case -ERANGE:
	case -EBADMSG:
	case -EEXIST:
		return PT_E_DENIED;
	case -ENOSPC:
		return PT_E_LIMIT;
	default:
		return PT_E_INTERNAL;
	}
}

static int reply_text(struct call *c, const char *text)
{
	struct pt_rep rep = { .type = PT_OK, .text = (char *)text };

	return pt_rep_encode(c->req->type, &rep, c->out);
}

/* The refusal: logged and recorded (reason = err), then the error reply. */
static int refuse(struct call *c, int r, const char *user, const char *holder, const char *id,
		  const char *err)
{
	bool internal = errcode(r) == PT_E_INTERNAL;

	record_decision(c, internal ? LOG_ERR : LOG_NOTICE, internal ? "error" : "deny", user,
			holder, id, NULL, err);
	return reply_error(c, errcode(r), "%s", err);
}

int op_template_import(struct call *c)
{
	char hash[PT_HASH_LEN], err[512] = "", text[256];
	int r;

	if (!c->req->blob)
		return reply_error(c, PT_E_PROTO, "no template");
	r = pt_template_import(c->d, c->req->blob, strlen(c->req->blob), c->req->sig, hash, err,
			       sizeof(err));
	if (r < 0)
		return refuse(c, r, NULL, NULL, NULL, err[0] ? err : strerror(-r));
	record_decision(c, LOG_NOTICE, "allow", NULL, hash, NULL, NULL,
			c->req->sig && c->req->sig[0] ? "signature stored" : "unsigned");
	snprintf(text, sizeof(text), "template=%s\n", hash);
	return reply_text(c, text);
}

static size_t put_list(char *buf, size_t o, size_t len, const char *key, char **v, size_t n)
{
	if (o >= len)
		return o;
	o += (size_t)snprintf(buf + o, len - o, "%s=", key);
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", v[i]);
	if (o < len)
		o += (size_t)snprintf(buf + o, len - o, "\n");
	return o;
}

static size_t describe_template(const struct pt_template *t, char *buf, size_t o, size_t len)
{
	char net[64];

	if (o < len)
		o += (size_t)snprintf(buf + o, len - o,
				      "template=%s\niss=%s\ngroup=%s\nmax_validity=%llu\n"
				      "max_sessions=%u\nlocal=%s\n",
				      t->hash, t->iss, t->group,
				      (unsigned long long)t->max_validity, t->max_sessions,
				      t->allow_local ? "yes" : "no");
	o = put_list(buf, o, len, "entitlements", t->entitlements, t->n_entitlements);
	o = put_list(buf, o, len, "services", t->services, t->n_services);
	o = put_list(buf, o, len, "acr", t->acr, t->n_acr);
	o = put_list(buf, o, len, "amr", t->amr, t->n_amr);
	if (o < len)
		o += (size_t)snprintf(buf + o, len - o, "networks=");
	for (size_t i = 0; i < t->n_nets && o < len; i++) {
		if (!inet_ntop(t->nets[i].family, t->nets[i].addr, net, sizeof(net)))
			snprintf(net, sizeof(net), "?");
		o += (size_t)snprintf(buf + o, len - o, "%s%s/%u", i ? "," : "", net,
				      t->nets[i].prefix);
	}
	if (o < len)
		o += (size_t)snprintf(buf + o, len - o, "\n");
	return o;
}

int op_template_show(struct call *c)
{
	struct pt_template t = { 0 };
	char err[512] = "", text[TEXT_MAX];
	int r;

	if (!c->req->id)
		return reply_error(c, PT_E_PROTO, "no template hash");
	r = pt_template_load(c->d, c->req->id, &t, err, sizeof(err));
	if (r < 0)
		return reply_error(c, errcode(r), "%s", err[0] ? err : strerror(-r));
	describe_template(&t, text, 0, sizeof(text));
	pt_template_clear(&t);
	return reply_text(c, text);
}

static const char *state_of(const struct pt_rpo *r, uint64_t now)
{
	return r->expired	   ? "expired" :
	       r->revoked	   ? "revoked" :
	       now >= r->not_after ? "expiring" :
				     "active";
}

static size_t describe_rpo(struct pt_daemon *d, const struct pt_rpo *r, uint64_t now, char *buf,
			   size_t o, size_t len)
{
	char a[64], b[64];

	if (o < len)
		o += (size_t)snprintf(buf + o, len - o,
				      "rpo=%s name=%s uid=%u state=%s template=%s approved=%s "
				      "not_after=%s sessions=%u\n",
				      r->id, r->name, (unsigned)r->uid, state_of(r, now),
				      r->tmpl_hash, iso_time(r->approved, false, a, sizeof(a)),
				      iso_time(r->not_after, false, b, sizeof(b)), r->sessions);
	(void)d;
	return o;
}

int op_rpo_list(struct call *c)
{
	char text[PT_MAX_TEXT - 64];
	size_t n, o = 0;
	const struct pt_rpo *all = pt_rpo_all(c->d, &n);
	uint64_t now = pt_ops_now(c->d);

	text[0] = '\0';
	for (size_t i = 0; i < n && o < sizeof(text); i++)
		o = describe_rpo(c->d, &all[i], now, text, o, sizeof(text));
	if (o >= sizeof(text))
		snprintf(text + sizeof(text) - 16, 16, "\n(truncated)\n");
	return reply_text(c, text);
}

int op_rpo_show(struct call *c)
{
	const struct pt_rpo *r = pt_rpo_find_id(c->d, c->req->id);
	const struct pt_template *t;
	char text[TEXT_MAX], home[PATH_MAX];
	char **groups = NULL;
	size_t n_groups = 0, o;

	if (!r)
		return reply_error(c, PT_E_NOTFOUND, "no RPO %s", c->req->id);
	o = describe_rpo(c->d, r, pt_ops_now(c->d), text, 0, sizeof(text));
	if (pt_rpo_home(c->d, r, home, sizeof(home)) == 0 && o < sizeof(text))
		o += (size_t)snprintf(text + o, sizeof(text) - o, "home=%s\n", home);
	if (pt_rpo_groups(c->d, r, &groups, &n_groups) == 0) {
		o = put_list(text, o, sizeof(text), "groups", groups, n_groups);
		pt_rpo_groups_free(groups, n_groups);
	}
	t = r->expired ? NULL : pt_rpo_template(c->d, r);
	if (t)
		describe_template(t, text, o, sizeof(text));
	return reply_text(c, text);
}

int op_rpo_approve(struct call *c)
{
	const struct pt_rpo *r = NULL;
	char err[512] = "", text[512], reason[128];
	int ret;

	ret = pt_rpo_approve(c->d, c->req->id, c->req->not_after, pt_ops_now(c->d), &r, err,
			     sizeof(err));
	if (ret < 0)
		return refuse(c, ret, NULL, c->req->id, NULL, err[0] ? err : strerror(-ret));
	snprintf(reason, sizeof(reason), "uid=%u not_after=%llu", (unsigned)r->uid,
		 (unsigned long long)r->not_after);
	record_decision(c, LOG_NOTICE, "allow", r->name, r->tmpl_hash, r->id, NULL, reason);
	snprintf(text, sizeof(text), "rpo=%s\nname=%s\nuid=%u\nnot_after=%llu\n", r->id, r->name,
		 (unsigned)r->uid, (unsigned long long)r->not_after);
	return reply_text(c, text);
}

int op_rpo_extend(struct call *c)
{
	const struct pt_rpo *r = pt_rpo_find_id(c->d, c->req->id);
	char err[512] = "", reason[128], text[256];
	int ret;

	ret = pt_rpo_extend(c->d, c->req->id, c->req->not_after, pt_ops_now(c->d), err,
			    sizeof(err));
	if (ret < 0)
		return refuse(c, ret, r ? r->name : NULL, r ? r->tmpl_hash : NULL,
			      r ? r->id : c->req->id, err[0] ? err : strerror(-ret));
	snprintf(reason, sizeof(reason), "not_after=%llu", (unsigned long long)r->not_after);
	record_decision(c, LOG_NOTICE, "allow", r->name, r->tmpl_hash, r->id, NULL, reason);
	snprintf(text, sizeof(text), "rpo=%s\nnot_after=%llu\n", r->id,
		 (unsigned long long)r->not_after);
	return reply_text(c, text);
}

int op_rpo_revoke(struct call *c)
{
	const struct pt_rpo *r = pt_rpo_find_id(c->d, c->req->id);
	char err[512] = "", text[256];
	int ret;

	ret = pt_rpo_revoke(c->d, c->req->id, pt_ops_now(c->d), err, sizeof(err));
	if (ret < 0)
		return refuse(c, ret, r ? r->name : NULL, r ? r->tmpl_hash : NULL,
			      r ? r->id : c->req->id, err[0] ? err : strerror(-ret));
	record_decision(c, LOG_NOTICE, "allow", r->name, r->tmpl_hash, r->id, NULL,
			"revoked: the reaper ends its sessions at the next housekeeping");
	snprintf(text, sizeof(text), "rpo=%s\nstate=revoked\n", r->id);
	return reply_text(c, text);
}
