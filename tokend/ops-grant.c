/* SPDX-License-Identifier: MIT */
/*
 * The GRANT_* requests (grant.h, proto.h): create, list, revoke, delegate,
 * request, approve, deny, the pending requests and explain act-as. Who may
 * call is the dispatch table's (PT_CALLER_ANY or ROOT); which grant a caller
 * may touch is data of the grant (its origin's and servicer's uids), checked
 * here.
 */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "grant-internal.h"
#include "log.h"
#include "ops-internal.h"
#include "util.h"

#define DEFAULT_REQUEST_LIFETIME 86400 /* a request that names no window: one day */

/* The caller's user name (NSS). 0 or -ENOENT. */
static int peer_name(const struct call *c, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];

	if (getpwuid_r(c->peer->uid, &pw, tmp, sizeof(tmp), &res) != 0 || !res ||
	    !pt_name_valid(res->pw_name))
		return -ENOENT;
	snprintf(buf, len, "%s", res->pw_name);
	return 0;
}

static int set_opt(char **dst, const char *s)
{
	*dst = NULL;
	if (!s || !*s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

/* A grant of the wire's scope (no origin, no id; digests zero). */
int grant_of_spec(const struct pt_grant_spec *s, uint64_t now, struct pt_grant **ret)
{
	struct pt_grant *g = calloc(1, sizeof(*g));
	int r = -ENOMEM;

	if (!g)
		return -ENOMEM;
	if (set_opt(&g->servicer, s->servicer) < 0 ||
	    set_opt(&g->servicer_exe, s->servicer_exe) < 0 ||
	    set_opt(&g->servicer_unit, s->servicer_unit) < 0)
		goto out;
	g->cmds = calloc(s->n_cmds ? s->n_cmds : 1, sizeof(*g->cmds));
	if (!g->cmds)
		goto out;
	for (uint32_t i = 0; i < s->n_cmds; i++) {
		struct pt_grant_cmd *c = &g->cmds[i];

		g->n_cmds = i + 1;
		c->path = strdup(s->cmds[i].path);
		c->argv_prefix = s->cmds[i].prefix;
		c->argv = calloc(s->cmds[i].n_argv ? s->cmds[i].n_argv : 1, sizeof(*c->argv));
		if (!c->path || !c->argv)
			goto out;
		for (uint32_t j = 0; j < s->cmds[i].n_argv; j++) {
			c->argv[j] = strdup(s->cmds[i].argv[j]);
			if (!c->argv[j])
				goto out;
			c->n_argv = j + 1;
		}
	}
	g->not_before = s->not_before ? s->not_before : now;
	g->not_after = s->lifetime ? g->not_before + s->lifetime : 0;
	g->has_hours = s->has_hours;
	g->hours_from = s->hours_from;
	g->hours_to = s->hours_to;
	g->max_uses = s->max_uses;
	g->max_runtime = s->max_runtime;
	g->depth = s->depth;
	g->no_network = s->no_network;
	for (uint32_t i = 0; i < s->n_paths && i < PT_GRANT_MAX_PATHS; i++) {
		g->paths[i] = strdup(s->paths[i].path);
		if (!g->paths[i])
			goto out;
		g->path_write[i] = s->paths[i].write;
		g->n_paths = i + 1;
	}
	*ret = g;
	return 0;
out:
	pt_grant_free(g);
	return r;
}

static uint32_t refusal_code(int r)
{
	switch (r) {
	case -EACCES:
		return PT_E_DENIED;
	case -EDQUOT:
		return PT_E_LIMIT;
	case -ENOENT:
		return PT_E_NOTFOUND;
	case -EINVAL:
		return PT_E_PROTO;
	default:
		return PT_E_INTERNAL;
	}
}

/* A refusal: logged + recorded (rate-limited for unprivileged peers), then
 * the error reply. */
static int refuse(struct call *c, uint32_t code, const char *user, const char *servicer,
		  const char *id, const char *rule, const char *reason)
{
	record_decision(c, LOG_NOTICE, "deny", user, servicer, id, rule && *rule ? rule : NULL,
			reason);
	return reply_error(c, code, "%s", reason);
}

static int reply_id(struct call *c, const char *id)
{
	struct pt_rep rep = { .type = PT_OK, .id = (char *)id };

	return pt_rep_encode(c->req->type, &rep, c->out);
}

static int reply_count(struct call *c, uint32_t n)
{
	struct pt_rep rep = { .type = PT_OK, .count = n };

	return pt_rep_encode(c->req->type, &rep, c->out);
}

/* A request of a type that carries a scope decoded without one (privsep
 * carries it by a flag): refused before anything reads it. */
#define REQUIRE_SPEC(c)                                                                           \
	do {                                                                                      \
		if (!(c)->req->gspec)                                                             \
			return reply_error((c), PT_E_PROTO, "malformed request: no grant scope"); \
	} while (0)

/* An allowed change recorded; when the record cannot be written the change
 * is undone (undo) and the reply refused by the dispatch loop (c->audit_err). */
static void record_allow(struct call *c, const struct pt_grant *g, const char *rule)
{
	record_decision(c, LOG_NOTICE, "allow", g->origin, g->servicer, g->id, rule, NULL);
}

/* -------------------------------------------------------------- create */

int op_grant_create(struct call *c)
{
	const struct pt_req *q = c->req;
	struct pt_grant *req = NULL, *g = NULL;
	char me[256], rule[128] = "", reason[512];
	uint64_t now = pt_ops_now(c->d);
	int r;

	REQUIRE_SPEC(c);
	if (c->peer->uid == 0)
		return refuse(c, PT_E_PERM, q->user, q->gspec->servicer, NULL, NULL,
			      "root may not create grants (a grant is made by the user acted as)");
	if (peer_name(c, me, sizeof(me)) < 0)
		return refuse(c, PT_E_NOTFOUND, q->user, q->gspec->servicer, NULL, NULL,
			      "the caller's uid has no user name");
	if (q->user && *q->user && strcmp(q->user, me) != 0)
		return refuse(c, PT_E_PERM, q->user, q->gspec->servicer, NULL, NULL,
			      "only the user acted as may create a grant in their name");
	if (!q->gspec->lifetime)
		return refuse(c, PT_E_PROTO, me, q->gspec->servicer, NULL, NULL,
			      "a grant needs an expiry (--expires)");
	r = grant_of_spec(q->gspec, now, &req);
	if (r < 0)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	if (!req->max_uses)
		req->max_uses = 1;
	r = pt_grant_store_new(c->d, me, req, now, true, &g, rule, sizeof(rule), reason,
			       sizeof(reason));
	pt_grant_free(req);
	if (r < 0)
		return refuse(c, refusal_code(r), me, q->gspec->servicer, NULL, rule, reason);
	record_allow(c, g, rule);
	if (c->audit_err) {
		pt_grants_remove(c->d->grants, c->d->storekey, g);
		return 0; /* the dispatch loop refuses the reply */
	}
	return reply_id(c, g->id);
}

/* ---------------------------------------------------------------- list */

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!*buf || *len >= PT_MAX_TEXT - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= *cap - *len) {
		(*buf)[*len] = '\0'; /* cut whole lines only */
		*len = *cap;
		return;
	}
	*len += (size_t)n;
}

/* Appends v with every byte a servicer could use to forge a line or drive
 * the reader's terminal (control bytes, DEL and above, '"', '\') as
 * \xHH: arguments, paths and units come from the requester, and the user
 * who reads them decides on them (pertok grant requests). */
static void append_escaped(char **buf, size_t *len, size_t *cap, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
			append(buf, len, cap, "\\x%02x", *p);
		else
			append(buf, len, cap, "%c", *p);
	}
}

/* One line: the grant's fields, "key=value" (argv values quoted; what the
 * requester chose escaped, see append_escaped()). */
static void describe(char **buf, size_t *len, size_t *cap, const struct pt_grant *g,
		     const char *lead)
{
	append(buf, len, cap, "%s%s id=%s user=%s servicer=%s", lead,
	       g->kind == PT_GRANT_KIND_REQUEST ? "request" : "grant", g->id, g->origin,
	       g->servicer);
	for (size_t i = 0; i < g->n_cmds; i++) {
		append(buf, len, cap, " cmd=");
		append_escaped(buf, len, cap, g->cmds[i].path);
		append(buf, len, cap, "%s", g->cmds[i].argv_prefix ? " args-prefix=" : " args=");
		for (size_t j = 0; j < g->cmds[i].n_argv; j++) {
			append(buf, len, cap, "%s\"", j ? "," : "");
			append_escaped(buf, len, cap, g->cmds[i].argv[j]);
			append(buf, len, cap, "\"");
		}
	}
	append(buf, len, cap, " not_before=%" PRIu64 " not_after=%" PRIu64, g->not_before,
	       g->not_after);
	if (g->has_hours)
		append(buf, len, cap, " hours=%02u-%02u", g->hours_from, g->hours_to);
	append(buf, len, cap,
	       " uses=%" PRIu32 "/%" PRIu32 " max_runtime=%" PRIu64 " depth=%" PRIu32, g->uses,
	       g->max_uses, g->max_runtime, g->depth);
	if (g->parent[0])
		append(buf, len, cap, " parent=%s", g->parent);
	if (g->servicer_exe) {
		append(buf, len, cap, " servicer_exe=");
		append_escaped(buf, len, cap, g->servicer_exe);
	}
	if (g->servicer_unit) {
		append(buf, len, cap, " servicer_unit=");
		append_escaped(buf, len, cap, g->servicer_unit);
	}
	if (g->no_network)
		append(buf, len, cap, " no_network=1");
	for (size_t i = 0; i < g->n_paths; i++) {
		append(buf, len, cap, g->path_write[i] ? " write=" : " read=");
		append_escaped(buf, len, cap, g->paths[i]);
	}
	if (g->kind == PT_GRANT_KIND_REQUEST)
		append(buf, len, cap, " expires=%" PRIu64, g->expires);
	else
		append(buf, len, cap, " revoked=%d", g->revoked ? 1 : 0);
	append(buf, len, cap, "\n");
}

int op_grant_list(struct call *c)
{
	const struct pt_req *q = c->req;
	size_t len = 0, cap = PT_MAX_TEXT;
	char *text = malloc(cap), me[256] = "";
	struct pt_rep rep = { .type = PT_OK };
	int r;

	if (!text)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	text[0] = '\0';
	if (!c->all_tokens && peer_name(c, me, sizeof(me)) < 0) {
		free(text);
		return reply_error(c, PT_E_NOTFOUND, "the caller's uid has no user name");
	}
	if (!c->all_tokens && q->user && *q->user && strcmp(q->user, me) != 0) {
		free(text);
		return reply_error(c, PT_E_PERM, "only root lists another user's grants");
	}
	for (size_t i = 0; i < pt_grants_count(c->d->grants); i++) {
		const struct pt_grant *g = pt_grants_at(c->d->grants, i);
		const char *who = q->user && *q->user ? q->user : me;

		if (g->kind != PT_GRANT_KIND_GRANT)
			continue;
		if (q->holder && *q->holder && strcmp(g->servicer, q->holder) != 0)
			continue;
		if (*who && strcmp(g->origin, who) != 0 && strcmp(g->servicer, who) != 0)
			continue;
		describe(&text, &len, &cap, g, "");
	}
	rep.text = text;
	r = pt_rep_encode(q->type, &rep, c->out);
	free(text);
	return r;
}

/* -------------------------------------------------------------- revoke */

int op_grant_revoke(struct call *c)
{
	const struct pt_req *q = c->req;
	struct pt_grant *g = pt_grant_find(c->d, q->id), *p;
	int r;

	if (!g)
		return refuse(c, PT_E_NOTFOUND, NULL, NULL, q->id, NULL, "no such grant");
	p = g->parent[0] ? pt_grant_find(c->d, g->parent) : NULL;
	/* the origin, root, or whoever delegated it (the parent's servicer) */
	if (!c->all_tokens && c->peer->uid != g->origin_uid &&
	    !(p && c->peer->uid == p->servicer_uid))
		return refuse(c, PT_E_PERM, g->origin, g->servicer, g->id, NULL,
			      "only the grant's user, its delegator or root may revoke it");
	r = pt_grant_revoke(c->d, g);
	if (r < 0)
		return refuse(c, PT_E_INTERNAL, g->origin, g->servicer, g->id, NULL,
			      "cannot store the revocation");
	record_allow(c, g, NULL);
	return reply_count(c, 1);
}

/* ------------------------------------------------------------ delegate */

int op_grant_delegate(struct call *c)
{
	const struct pt_req *q = c->req;
	struct pt_grant *parent = pt_grant_find(c->d, q->id), *child = NULL, *g = NULL;
	char rule[128] = "", reason[512];
	uint64_t now = pt_ops_now(c->d);
	int r;

	REQUIRE_SPEC(c);
	if (!parent)
		return refuse(c, PT_E_NOTFOUND, NULL, q->gspec->servicer, q->id, NULL,
			      "no such grant");
	if (c->peer->uid != parent->servicer_uid)
		return refuse(c, PT_E_PERM, parent->origin, q->gspec->servicer, parent->id, NULL,
			      "only the grant's current servicer may delegate it");
	if (parent->revoked || now >= parent->not_after)
		return refuse(c, PT_E_DENIED, parent->origin, q->gspec->servicer, parent->id,
			      "grant.revoked", "the grant is revoked or over");
	if (parent->depth == 0)
		return refuse(c, PT_E_DENIED, parent->origin, q->gspec->servicer, parent->id,
			      "grant.depth", "the grant may not be delegated (depth 0)");
	r = grant_of_spec(q->gspec, now, &child);
	if (r < 0)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	/* unset: the parent's (what is left of it) */
	if (!q->gspec->lifetime)
		child->not_after = parent->not_after;
	if (!child->max_uses)
		child->max_uses = parent->max_uses - parent->uses;
	if (!child->max_runtime)
		child->max_runtime = parent->max_runtime;
	/* confinement only narrows: none asked, the parent's (pt_grant_subset) */
	child->no_network |= parent->no_network;
	if (!child->n_paths) {
		for (size_t i = 0; i < parent->n_paths; i++) {
			child->paths[i] = strdup(parent->paths[i]);
			if (!child->paths[i]) {
				pt_grant_free(child);
				return reply_error(c, PT_E_INTERNAL, "out of memory");
			}
			child->path_write[i] = parent->path_write[i];
			child->n_paths = i + 1;
		}
	}
	if (!child->has_hours && parent->has_hours) {
		child->has_hours = true;
		child->hours_from = parent->hours_from;
		child->hours_to = parent->hours_to;
	}
	if (child->not_before < parent->not_before)
		child->not_before = parent->not_before;
	for (size_t i = 0; i < child->n_cmds; i++) {
		r = pt_grant_file_digest(child->cmds[i].path, c->d->cfg->grant_max_command_size,
					 child->cmds[i].sha256);
		if (r < 0) {
			pt_grant_digest_error(child->cmds[i].path, r,
					      c->d->cfg->grant_max_command_size, reason,
					      sizeof(reason));
			pt_grant_free(child);
			return refuse(c, PT_E_DENIED, parent->origin, q->gspec->servicer,
				      parent->id, NULL, reason);
		}
	}
	if (!pt_grant_subset(parent, child, reason, sizeof(reason))) {
		pt_grant_free(child);
		return refuse(c, PT_E_DENIED, parent->origin, q->gspec->servicer, parent->id,
			      "grant.subset", reason);
	}
	memcpy(child->parent, parent->id, PT_ID_LEN);
	r = pt_grant_store_new(c->d, parent->origin, child, now, false, &g, rule, sizeof(rule),
			       reason, sizeof(reason));
	pt_grant_free(child);
	if (r < 0)
		return refuse(c, refusal_code(r), parent->origin, q->gspec->servicer, parent->id,
			      rule, reason);
	record_allow(c, g, rule);
	if (c->audit_err) {
		pt_grants_remove(c->d->grants, c->d->storekey, g);
		return 0;
	}
	return reply_id(c, g->id);
}

/* ------------------------------------------------------------- request */

int op_grant_request(struct call *c)
{
	const struct pt_req *q = c->req;
	struct pt_grant *g = NULL;
	char me[256], rule[128] = "", reason[512];
	uint64_t now = pt_ops_now(c->d);
	int r;

	REQUIRE_SPEC(c);
	if (peer_name(c, me, sizeof(me)) < 0)
		return refuse(c, PT_E_NOTFOUND, q->user, NULL, NULL, NULL,
			      "the caller's uid has no user name");
	if (!pt_name_valid(q->user))
		return reply_error(c, PT_E_PROTO, "invalid user name");
	if (q->gspec->servicer[0] && strcmp(q->gspec->servicer, me) != 0)
		return refuse(c, PT_E_PERM, q->user, q->gspec->servicer, NULL, NULL,
			      "a request is made by its servicer itself");
	if (pt_grant_count_pending(c->d, me, now) >= c->d->cfg->grant_max_pending)
		pt_grant_expire(c->d, now);
	if (pt_grant_count_pending(c->d, me, now) >= c->d->cfg->grant_max_pending) {
		snprintf(reason, sizeof(reason),
			 "servicer %s has %" PRIu32 " pending requests "
			 "(grant.max_pending_per_servicer)",
			 me, c->d->cfg->grant_max_pending);
		return refuse(c, PT_E_LIMIT, q->user, me, NULL, "grant.max_pending_per_servicer",
			      reason);
	}
	r = grant_of_spec(q->gspec, now, &g);
	if (r < 0)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	free(g->servicer);
	g->servicer = strdup(me);
	g->origin = strdup(q->user);
	if (!g->servicer || !g->origin) {
		pt_grant_free(g);
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	}
	if (!g->not_after)
		g->not_after = g->not_before + DEFAULT_REQUEST_LIFETIME;
	if (!g->max_uses)
		g->max_uses = 1;
	g->kind = PT_GRANT_KIND_REQUEST;
	g->created = now;
	g->expires = now + c->d->cfg->grant_request_ttl;
	/* what the admin would refuse is refused now, not after the user agreed */
	r = pt_grant_check_new(c->d, q->user, g, now, rule, sizeof(rule), reason, sizeof(reason));
	if (r >= 0)
		r = pt_grant_new_id("gq_", g->id);
	if (r >= 0) {
		r = pt_grants_add(c->d->grants, c->d->storekey, g);
		if (r < 0)
			snprintf(reason, sizeof(reason), "cannot store the request: %s",
				 strerror(-r));
	}
	if (r < 0) {
		pt_grant_free(g);
		return refuse(c, refusal_code(r), q->user, me, NULL, rule, reason);
	}
	record_allow(c, g, rule);
	if (c->audit_err) {
		pt_grants_remove(c->d->grants, c->d->storekey, g);
		return 0;
	}
	return reply_id(c, g->id);
}

/* The narrowest grant serving request rq: its command lines exactly (no
 * prefix), one use, its window cut to the shortest the servicer was given by
 * this user before for the same command, no runtime beyond what it asked,
 * no delegation. */
static int proposal(struct pt_daemon *d, const struct pt_grant *rq, struct pt_grant **ret)
{
	struct pt_grant *p = NULL;
	uint64_t window = rq->not_after - rq->not_before;
	int r;

	r = pt_grant_copy(rq, &p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->n_cmds; i++)
		p->cmds[i].argv_prefix = false;
	p->kind = PT_GRANT_KIND_GRANT;
	p->expires = 0;
	p->max_uses = 1;
	p->depth = 0;
	for (size_t i = 0; i < pt_grants_count(d->grants); i++) {
		const struct pt_grant *g = pt_grants_at(d->grants, i);

		if (g->kind != PT_GRANT_KIND_GRANT || strcmp(g->origin, rq->origin) != 0 ||
		    strcmp(g->servicer, rq->servicer) != 0 || !g->n_cmds ||
		    strcmp(g->cmds[0].path, rq->cmds[0].path) != 0)
			continue;
		if (g->not_after > g->not_before && g->not_after - g->not_before < window)
			window = g->not_after - g->not_before;
	}
	p->not_after = p->not_before + window;
	*ret = p;
	return 0;
}

/* ------------------------------------------------------ approve, deny */

/* The request rq, when the caller is the user it asks. */
static struct pt_grant *asked_of_caller(struct call *c, int *ret_reply)
{
	const struct pt_req *q = c->req;
	struct pt_grant *rq = pt_grant_find_request(c->d, q->id);

	*ret_reply = 0;
	if (!rq || pt_ops_now(c->d) >= rq->expires) {
		*ret_reply = refuse(c, PT_E_NOTFOUND, NULL, NULL, q->id, NULL,
				    "no such pending request");
		return NULL;
	}
	if (c->peer->uid == rq->servicer_uid) {
		*ret_reply = refuse(c, PT_E_PERM, rq->origin, rq->servicer, rq->id, NULL,
				    "a servicer cannot answer its own request");
		return NULL;
	}
	if (c->peer->uid != rq->origin_uid) {
		*ret_reply = refuse(c, PT_E_PERM, rq->origin, rq->servicer, rq->id, NULL,
				    "only the user asked may answer a request");
		return NULL;
	}
	return rq;
}

int op_grant_approve(struct call *c)
{
	const struct pt_req *q = c->req;
	struct pt_grant *rq, *want = NULL, *g = NULL;
	char rule[128] = "", reason[512], rq_id[PT_ID_LEN];
	uint64_t now = pt_ops_now(c->d);
	int reply;
	int r;

	rq = asked_of_caller(c, &reply);
	if (!rq)
		return reply;
	if (q->gspec) {
		struct pt_grant *bound = NULL;

		r = grant_of_spec(q->gspec, now, &want);
		if (r >= 0)
			r = pt_grant_copy(rq, &bound);
		if (r < 0) {
			pt_grant_free(want);
			return reply_error(c, PT_E_INTERNAL, "out of memory");
		}
		if (!q->gspec->lifetime)
			want->not_after = rq->not_after;
		if (!want->max_uses)
			want->max_uses = 1;
		/* within the request: the subset rule with the request as the
		 * parent (one more depth, its digests) */
		bound->depth = rq->depth + 1;
		bound->uses = 0;
		if (want->not_before < bound->not_before)
			bound->not_before = want->not_before; /* now or later is fine */
		for (size_t i = 0; i < want->n_cmds; i++)
			memset(want->cmds[i].sha256, 0, 32);
		for (size_t i = 0; i < bound->n_cmds; i++)
			memset(bound->cmds[i].sha256, 0, 32);
		if (!pt_grant_subset(bound, want, reason, sizeof(reason))) {
			pt_grant_free(bound);
			pt_grant_free(want);
			return refuse(c, PT_E_DENIED, rq->origin, rq->servicer, rq->id,
				      "grant.request", reason);
		}
		pt_grant_free(bound);
		free(want->servicer);
		want->servicer = strdup(rq->servicer);
		/* the pins the servicer asked for stay unless the user names others */
		if (!want->servicer_exe && rq->servicer_exe)
			want->servicer_exe = strdup(rq->servicer_exe);
		if (!want->servicer_unit && rq->servicer_unit)
			want->servicer_unit = strdup(rq->servicer_unit);
		if (!want->servicer || (rq->servicer_exe && !want->servicer_exe) ||
		    (rq->servicer_unit && !want->servicer_unit)) {
			pt_grant_free(want);
			return reply_error(c, PT_E_INTERNAL, "out of memory");
		}
	} else if (proposal(c->d, rq, &want) < 0)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	want->kind = PT_GRANT_KIND_GRANT;
	want->expires = 0;
	r = pt_grant_store_new(c->d, rq->origin, want, now, true, &g, rule, sizeof(rule), reason,
			       sizeof(reason));
	pt_grant_free(want);
	if (r < 0)
		return refuse(c, refusal_code(r), rq->origin, rq->servicer, rq->id, rule, reason);
	memcpy(rq_id, rq->id, PT_ID_LEN);
	record_allow(c, g, rule);
	if (c->audit_err) {
		pt_grants_remove(c->d->grants, c->d->storekey, g);
		return 0;
	}
	if (pt_grants_remove(c->d->grants, c->d->storekey, rq) < 0)
		pt_log_kv(LOG_ERR, "grant.approve", "error", "id", rq_id, "reason",
			  "cannot remove the answered request (it lapses)", NULL);
	return reply_id(c, g->id);
}

int op_grant_deny(struct call *c)
{
	struct pt_grant *rq;
	int reply;
	int r;

	rq = asked_of_caller(c, &reply);
	if (!rq)
		return reply;
	record_decision(c, LOG_NOTICE, "allow", rq->origin, rq->servicer, rq->id, NULL,
			"request denied by the user");
	r = pt_grants_remove(c->d->grants, c->d->storekey, rq);
	if (r < 0)
		return reply_error(c, PT_E_INTERNAL, "cannot remove the request");
	return reply_count(c, 1);
}

/* --------------------------------------------------- pending requests */

int op_grant_requests(struct call *c)
{
	const struct pt_req *q = c->req;
	size_t len = 0, cap = PT_MAX_TEXT;
	char *text, me[256] = "";
	const char *who;
	struct pt_rep rep = { .type = PT_OK };
	uint64_t now = pt_ops_now(c->d);
	uint32_t n = 0;
	int r;

	if (!c->all_tokens && peer_name(c, me, sizeof(me)) < 0)
		return reply_error(c, PT_E_NOTFOUND, "the caller's uid has no user name");
	if (!c->all_tokens && q->user && *q->user && strcmp(q->user, me) != 0)
		return reply_error(c, PT_E_PERM, "only root sees another user's requests");
	who = q->user && *q->user ? q->user : me;
	text = malloc(cap);
	if (!text)
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	text[0] = '\0';
	for (size_t i = 0; i < pt_grants_count(c->d->grants); i++) {
		const struct pt_grant *g = pt_grants_at(c->d->grants, i);
		struct pt_grant *p = NULL;

		if (g->kind != PT_GRANT_KIND_REQUEST || now >= g->expires)
			continue;
		if (*who && strcmp(g->origin, who) != 0 && strcmp(g->servicer, who) != 0)
			continue;
		if (!*who || strcmp(g->origin, who) == 0)
			n++;
		describe(&text, &len, &cap, g, "");
		if (proposal(c->d, g, &p) >= 0) {
			describe(&text, &len, &cap, p, "  proposal: ");
			pt_grant_free(p);
		}
	}
	rep.count = n;
	rep.text = text;
	r = pt_rep_encode(q->type, &rep, c->out);
	free(text);
	return r;
}

/* ------------------------------------------------------------- explain */

int op_grant_explain(struct call *c)
{
	const struct pt_req *q = c->req;
	const struct pt_grant_spec *s = q->gspec;
	struct pt_grant *g = pt_grant_find(c->d, q->id);
	struct pt_account *sa = NULL;
	char rule[128] = "", reason[512] = "", *text = NULL, **argv = NULL;
	uint8_t digest[32] = { 0 };
	struct pt_rep rep = { .type = PT_OK };
	size_t len = 0, cap = PT_MAX_TEXT;
	int dr, r;

	REQUIRE_SPEC(c);
	if (!pt_name_valid(q->user) || !pt_name_valid(s->servicer))
		return reply_error(c, PT_E_PROTO, "invalid user or servicer name");
	argv = calloc(s->cmds[0].n_argv + 2, sizeof(*argv));
	text = malloc(cap);
	if (!argv || !text) {
		free(argv);
		free(text);
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	}
	text[0] = '\0';
	argv[0] = s->cmds[0].path;
	for (uint32_t i = 0; i < s->cmds[0].n_argv; i++)
		argv[i + 1] = s->cmds[0].argv[i];
	append(&text, &len, &cap, "act-as user=%s servicer=%s grant=%s cmd=%s\n", q->user,
	       s->servicer, q->id, argv[0]);
	r = pt_ops_account(c->d, s->servicer, &sa);
	if (r < 0) {
		dr = -EACCES;
		snprintf(rule, sizeof(rule), "grant.servicer");
		snprintf(reason, sizeof(reason), "no such servicer: %s", s->servicer);
	} else {
		r = pt_grant_file_digest(argv[0], c->d->cfg->grant_max_command_size, digest);
		if (r < 0) {
			pt_grant_digest_error(argv[0], r, c->d->cfg->grant_max_command_size, reason,
					      sizeof(reason));
			append(&text, &len, &cap, "file=%s error=%s\n", argv[0], reason);
			reason[0] = '\0';
		}
		dr = pt_grant_decide(c->d, g, sa->uid, s->servicer_exe[0] ? s->servicer_exe : NULL,
				     s->servicer_unit[0] ? s->servicer_unit : NULL, q->user, argv,
				     s->cmds[0].n_argv + 1, digest, pt_ops_now(c->d), rule,
				     sizeof(rule), reason, sizeof(reason));
	}
	pt_account_free(sa);
	append(&text, &len, &cap, "rule=%s\nreason=%s\ndecision=%s\n", rule, reason,
	       dr == 0 ? "allow" : "deny");
	record_decision(c, LOG_INFO, dr == 0 ? "allow" : "deny", q->user, s->servicer, q->id, rule,
			reason);
	rep.text = text;
	r = pt_rep_encode(q->type, &rep, c->out);
	free(text);
	free(argv);
	return r;
}
