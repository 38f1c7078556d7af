/* SPDX-License-Identifier: MIT */
/*
 * Grants: look-up, the act-as decision, the use counter, creation,
 * revocation and the running uses (grant.h). The record codec is
 * grant-record.c, the sealed file grant-store.c, the admin caps and the
 * subset rule grant-policy.c.
 */
#include "grant-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "account.h"
#include "audit.h"
#include "log.h"
#include "ops-internal.h"
#include "util.h"

#define MAX_CHAIN 32 /* ancestors walked at most (depth is capped at 16) */

struct pt_grant *pt_grant_find(struct pt_daemon *d, const char *id)
{
	return pt_grants_find(d->grants, id, PT_GRANT_KIND_GRANT);
}

struct pt_grant *pt_grant_find_request(struct pt_daemon *d, const char *id)
{
	return pt_grants_find(d->grants, id, PT_GRANT_KIND_REQUEST);
}

static bool hour_in(uint8_t from, uint8_t to, unsigned h)
{
	return from < to ? h >= from && h < to : h >= from || h < to;
}

/* The grant's ancestors, nearest first, into chain (at most MAX_CHAIN).
 * -ENOENT (reason) when one is gone, -ELOOP when the chain is too long. */
static int ancestors(struct pt_daemon *d, const struct pt_grant *g, struct pt_grant **chain,
		     size_t *ret_n, char *reason, size_t reasonlen)
{
	size_t n = 0;

	while (g->parent[0]) {
		struct pt_grant *p = pt_grant_find(d, g->parent);

		if (!p) {
			snprintf(reason, reasonlen, "the grant's ancestor %s no longer exists",
				 g->parent);
			return -ENOENT;
		}
		if (n == MAX_CHAIN) {
			snprintf(reason, reasonlen, "the grant's chain is too long");
			return -ELOOP;
		}
		chain[n++] = p;
		g = p;
	}
	*ret_n = n;
	return 0;
}

static int deny(char *rule, size_t rulelen, const char *field, char *reason, size_t reasonlen,
		const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int deny(char *rule, size_t rulelen, const char *field, char *reason, size_t reasonlen,
		const char *fmt, ...)
{
	va_list ap;

	snprintf(rule, rulelen, "grant.%s", field);
	va_start(ap, fmt);
	vsnprintf(reason, reasonlen, fmt, ap);
	va_end(ap);
	return -EACCES;
}

static bool uses_left(const struct pt_grant *g)
{
	return g->uses < g->max_uses;
}

int pt_grant_decide(struct pt_daemon *d, const struct pt_grant *g, uid_t peer_uid,
		    const char *peer_exe, const char *peer_unit, const char *user,
		    char *const *argv, size_t n_argv, const uint8_t digest[32], uint64_t now,
		    char *rule, size_t rulelen, char *reason, size_t reasonlen)
{
	struct pt_grant *chain[MAX_CHAIN];
	const struct pt_grant_cmd *cmd = NULL;
	const struct pt_grant_rule *pr = NULL;
	char prule[128], preason[256];
	size_t n_chain = 0;
	struct tm tm;
	time_t t = (time_t)now;
	int r;

	if (!g || g->kind != PT_GRANT_KIND_GRANT)
		return deny(rule, rulelen, "id", reason, reasonlen, "no such grant");
	if (g->revoked)
		return deny(rule, rulelen, "revoked", reason, reasonlen, "grant %s is revoked",
			    g->id);
	r = ancestors(d, g, chain, &n_chain, reason, reasonlen);
	if (r < 0) {
		snprintf(rule, rulelen, "grant.parent");
		return -EACCES;
	}
	for (size_t i = 0; i < n_chain; i++)
		if (chain[i]->revoked)
			return deny(rule, rulelen, "parent", reason, reasonlen,
				    "ancestor grant %s is revoked", chain[i]->id);
	if (!user || strcmp(user, g->origin) != 0)
		return deny(rule, rulelen, "origin", reason, reasonlen,
			    "grant %s is for user %s, not %s", g->id, g->origin,
			    user ? user : "(none)");
	if (peer_uid != g->servicer_uid)
		return deny(rule, rulelen, "servicer", reason, reasonlen,
			    "grant %s is for servicer %s (uid %u), not uid %u", g->id, g->servicer,
			    (unsigned)g->servicer_uid, (unsigned)peer_uid);
	if (g->servicer_exe && (!peer_exe || strcmp(peer_exe, g->servicer_exe) != 0))
		return deny(rule, rulelen, "servicer_exe", reason, reasonlen,
			    "grant %s is for executable %s, not %s", g->id, g->servicer_exe,
			    peer_exe ? peer_exe : "an unknown one");
	if (g->servicer_unit && (!peer_unit || strcmp(peer_unit, g->servicer_unit) != 0))
		return deny(rule, rulelen, "servicer_unit", reason, reasonlen,
			    "grant %s is for unit %s, not %s", g->id, g->servicer_unit,
			    peer_unit ? peer_unit : "none");
	if (now < g->not_before)
		return deny(rule, rulelen, "not_before", reason, reasonlen,
			    "grant %s is not valid before %" PRIu64, g->id, g->not_before);
	if (now >= g->not_after)
		return deny(rule, rulelen, "not_after", reason, reasonlen,
			    "grant %s expired at %" PRIu64, g->id, g->not_after);
	if (g->has_hours) {
		if (!localtime_r(&t, &tm))
			return deny(rule, rulelen, "hours", reason, reasonlen,
				    "the local time is unknown");
		if (!hour_in(g->hours_from, g->hours_to, (unsigned)tm.tm_hour))
			return deny(rule, rulelen, "hours", reason, reasonlen,
				    "grant %s allows the hours %02u-%02u only, not %02d:%02d",
				    g->id, g->hours_from, g->hours_to, tm.tm_hour, tm.tm_min);
	}
	if (!uses_left(g))
		return deny(rule, rulelen, "uses", reason, reasonlen,
			    "grant %s has no use left (%" PRIu32 " of %" PRIu32 " used)", g->id,
			    g->uses, g->max_uses);
	for (size_t i = 0; i < n_chain; i++)
		if (!uses_left(chain[i]))
			return deny(rule, rulelen, "uses", reason, reasonlen,
				    "ancestor grant %s has no use left", chain[i]->id);
	if (n_argv == 0 || !argv || !argv[0])
		return deny(rule, rulelen, "cmd", reason, reasonlen, "no command");
	for (size_t i = 0; i < g->n_cmds && !cmd; i++)
		if (strcmp(g->cmds[i].path, argv[0]) == 0)
			cmd = &g->cmds[i];
	if (!cmd)
		return deny(rule, rulelen, "cmd", reason, reasonlen,
			    "command %s is not in grant %s", argv[0], g->id);
	if (cmd->argv_prefix) {
		if (n_argv - 1 < cmd->n_argv)
			return deny(rule, rulelen, "argv", reason, reasonlen,
				    "the arguments are fewer than grant %s's prefix", g->id);
		for (size_t i = 0; i < cmd->n_argv; i++)
			if (strcmp(argv[i + 1], cmd->argv[i]) != 0)
				return deny(rule, rulelen, "argv", reason, reasonlen,
					    "argument %zu differs from grant %s's prefix", i + 1,
					    g->id);
	} else {
		if (n_argv - 1 != cmd->n_argv)
			return deny(rule, rulelen, "argv", reason, reasonlen,
				    "grant %s allows exactly %zu argument(s), not %zu", g->id,
				    cmd->n_argv, n_argv - 1);
		for (size_t i = 0; i < cmd->n_argv; i++)
			if (strcmp(argv[i + 1], cmd->argv[i]) != 0)
				return deny(rule, rulelen, "argv", reason, reasonlen,
					    "argument %zu differs from grant %s's", i + 1, g->id);
	}
	if (!digest || CRYPTO_memcmp(digest, cmd->sha256, 32) != 0)
		return deny(rule, rulelen, "sha256", reason, reasonlen,
			    "the sha256 of %s changed since grant %s was made", cmd->path, g->id);
	/* late bound: the admin's rules now */
	if (pt_grant_policy_check(d->cfg, g->origin, g->servicer, g, g->created, &pr, prule,
				  sizeof(prule), preason, sizeof(preason)) < 0) {
		snprintf(rule, rulelen, "%s", prule[0] ? prule : "grants");
		snprintf(reason, reasonlen, "policy no longer allows it: %s", preason);
		return -EACCES;
	}
	snprintf(rule, rulelen, "%s", pr->name);
	snprintf(reason, reasonlen, "grant %s", g->id);
	return 0;
}

int pt_grant_consume(struct pt_daemon *d, struct pt_grant *g, uint64_t now)
{
	struct pt_grant *chain[MAX_CHAIN + 1];
	char why[256];
	size_t n = 0;
	int r;

	if (!g || g->kind != PT_GRANT_KIND_GRANT)
		return -ENOENT;
	if (g->revoked || now < g->not_before || now >= g->not_after)
		return -EACCES;
	r = ancestors(d, g, chain + 1, &n, why, sizeof(why));
	if (r < 0)
		return -EACCES;
	chain[0] = g;
	n++;
	for (size_t i = 0; i < n; i++) {
		if (chain[i]->revoked)
			return -EACCES;
		if (!uses_left(chain[i]))
			return -EDQUOT;
	}
	/* a use of a delegated grant is a use of each ancestor too */
	for (size_t i = 0; i < n; i++)
		chain[i]->uses++;
	r = pt_grants_save(d->grants, d->storekey);
	if (r < 0)
		for (size_t i = 0; i < n; i++)
			chain[i]->uses--;
	return r;
}

int pt_grant_running_add(struct pt_daemon *d, const char *grant_id, pt_grant_kill_fn fn, void *ctx,
			 uint64_t *ret_handle)
{
	struct pt_grants *s = d->grants;
	struct pt_grant_running *v;

	if (!s || !fn || !pt_grant_id_valid(grant_id))
		return -EINVAL;
	v = realloc(s->running, (s->n_running + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->running = v;
	v = &s->running[s->n_running++];
	memset(v, 0, sizeof(*v));
	v->handle = ++s->next_handle;
	snprintf(v->grant_id, sizeof(v->grant_id), "%s", grant_id);
	v->fn = fn;
	v->ctx = ctx;
	*ret_handle = v->handle;
	return 0;
}

void pt_grant_running_remove(struct pt_daemon *d, uint64_t handle)
{
	struct pt_grants *s = d->grants;

	if (!s)
		return;
	for (size_t i = 0; i < s->n_running; i++)
		if (s->running[i].handle == handle) {
			memmove(&s->running[i], &s->running[i + 1],
				(s->n_running - i - 1) * sizeof(*s->running));
			s->n_running--;
			return;
		}
}

/* Is g, or one of its ancestors, the grant id? */
static bool descends_from(struct pt_daemon *d, const struct pt_grant *g, const char *id)
{
	for (size_t i = 0; g && i <= MAX_CHAIN; i++) {
		if (strcmp(g->id, id) == 0)
			return true;
		g = g->parent[0] ? pt_grant_find(d, g->parent) : NULL;
	}
	return false;
}

int pt_grant_revoke(struct pt_daemon *d, struct pt_grant *g)
{
	struct pt_grants *s = d->grants;
	int r;

	if (!g->revoked) {
		g->revoked = true;
		r = pt_grants_save(s, d->storekey);
		if (r < 0) {
			g->revoked = false;
			return r;
		}
	}
	/* end the running uses of g and of what was delegated from it; a
	 * callback may remove its own entry, so walk by handle */
	for (size_t i = 0; i < s->n_running;) {
		struct pt_grant_running run = s->running[i];
		struct pt_grant *rg = pt_grant_find(d, run.grant_id);

		if (!rg || descends_from(d, rg, g->id)) {
			run.fn(run.ctx);
			if (i < s->n_running && s->running[i].handle == run.handle)
				i++;
		} else
			i++;
	}
	return 0;
}

static bool active(const struct pt_grant *g, uint64_t now)
{
	return !g->revoked && now < g->not_after;
}

/* Whose cap a grant counts against: its origin's, or for a delegated one
 * the delegating servicer's (the parent's servicer), so a servicer cannot
 * use up its origin's grant.max_per_user by delegating. The parent gone:
 * the origin's. */
static const char *charged_to(struct pt_daemon *d, const struct pt_grant *g)
{
	const struct pt_grant *p = g->parent[0] ? pt_grant_find(d, g->parent) : NULL;

	return p ? p->servicer : g->origin;
}

size_t pt_grant_count_origin(struct pt_daemon *d, const char *origin, uint64_t now)
{
	size_t n = 0;

	(void)now;
	for (size_t i = 0; i < pt_grants_count(d->grants); i++) {
		const struct pt_grant *g = d->grants->v[i];

		if (g->kind == PT_GRANT_KIND_GRANT && strcmp(charged_to(d, g), origin) == 0)
			n++;
	}
	return n;
}

size_t pt_grant_count_pending(struct pt_daemon *d, const char *servicer, uint64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < pt_grants_count(d->grants); i++) {
		const struct pt_grant *g = d->grants->v[i];

		if (g->kind == PT_GRANT_KIND_REQUEST && strcmp(g->servicer, servicer) == 0 &&
		    now < g->expires)
			n++;
	}
	return n;
}

/* Drops (in one write) the requests that lapsed and the grants that are
 * revoked or over, of owner (NULL: everyone's); those with running uses or
 * living descendants stay. */
static void prune(struct pt_daemon *d, const char *origin, uint64_t now)
{
	struct pt_grants *s = d->grants;
	struct pt_grant **keep, **old;
	size_t n = 0, old_n;
	bool changed = false;

	if (!s || !s->n)
		return;
	keep = calloc(s->n, sizeof(*keep));
	if (!keep)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct pt_grant *g = s->v[i];
		bool drop = false;

		if (origin && strcmp(g->kind == PT_GRANT_KIND_GRANT ? charged_to(d, g) : g->origin,
				     origin) != 0)
			drop = false;
		else if (g->kind == PT_GRANT_KIND_REQUEST)
			drop = now >= g->expires;
		else if (!active(g, now)) {
			drop = true;
			for (size_t k = 0; k < s->n_running && drop; k++)
				if (strcmp(s->running[k].grant_id, g->id) == 0)
					drop = false;
			for (size_t k = 0; k < s->n && drop; k++)
				if (s->v[k]->kind == PT_GRANT_KIND_GRANT &&
				    strcmp(s->v[k]->parent, g->id) == 0 && active(s->v[k], now))
					drop = false;
		}
		if (drop)
			changed = true;
		else
			keep[n++] = g;
	}
	if (!changed) {
		free(keep);
		return;
	}
	old = s->v;
	old_n = s->n;
	s->v = keep;
	s->n = n;
	if (pt_grants_save(s, d->storekey) < 0) {
		s->v = old;
		s->n = old_n;
		free(keep);
		return;
	}
	for (size_t i = 0; i < old_n; i++) {
		bool kept = false;

		for (size_t k = 0; k < n && !kept; k++)
			kept = keep[k] == old[i];
		if (!kept) {
			pt_log_kv(LOG_INFO, "grant.expire", "allow", "id", old[i]->id, "user",
				  old[i]->origin, "servicer", old[i]->servicer, NULL);
			pt_grant_free(old[i]);
		}
	}
	free(old);
}

void pt_grant_expire(struct pt_daemon *d, uint64_t now)
{
	prune(d, NULL, now);
}

void pt_grant_prune_origin(struct pt_daemon *d, const char *origin, uint64_t now)
{
	prune(d, origin, now);
}

/* The audit record of a grant operation not made by a request handler (the
 * SSH-signed path), or made by one: op "grant.create", ... */
int pt_grant_audit(struct pt_daemon *d, const char *op, const char *result,
		   const struct pt_grant *g, const char *rule, const char *reason, uid_t peer_uid,
		   pid_t peer_pid, const char *exe)
{
	struct pt_audit_event ev = {
		.op = op,
		.result = result,
		.user = g ? g->origin : NULL,
		.holder = g ? g->servicer : NULL,
		.peer_uid = peer_uid,
		.peer_pid = peer_pid,
		.exe = exe,
		.rule = rule,
		.reason = reason,
		.id = g ? g->id : NULL,
	};
	int r;

	if (!d->audit)
		return 0;
	r = pt_audit_append(d->audit, &ev);
	if (r >= 0 && pt_audit_pending(d->audit))
		r = pt_audit_sync(d->audit);
	return r;
}

int pt_grant_check_new(struct pt_daemon *d, const char *origin, struct pt_grant *g, uint64_t now,
		       char *rule, size_t rulelen, char *reason, size_t reasonlen)
{
	struct pt_account *oa = NULL, *sa = NULL;
	int r;

	snprintf(rule, rulelen, "%s", "");
	if (!pt_name_valid(origin) || !g->servicer || !pt_name_valid(g->servicer)) {
		snprintf(reason, reasonlen, "invalid user or servicer name");
		return -EINVAL;
	}
	if (g->n_cmds == 0 || g->n_cmds > PT_GRANT_MAX_CMDS) {
		snprintf(reason, reasonlen, "a grant names 1 to %d commands", PT_GRANT_MAX_CMDS);
		return -EINVAL;
	}
	if (g->max_uses == 0) {
		snprintf(reason, reasonlen, "a grant needs at least one use");
		return -EINVAL;
	}
	if (g->not_after <= now || g->not_after <= g->not_before) {
		snprintf(reason, reasonlen, "the window is empty or over");
		return -EINVAL;
	}
	for (size_t i = 0; i < g->n_cmds; i++)
		if (!g->cmds[i].path || g->cmds[i].path[0] != '/' ||
		    g->cmds[i].n_argv > PT_GRANT_MAX_ARGS) {
			snprintf(reason, reasonlen,
				 "commands are absolute paths with at most %d "
				 "arguments",
				 PT_GRANT_MAX_ARGS);
			return -EINVAL;
		}
	if ((r = pt_ops_account(d, origin, &oa)) < 0 ||
	    (r = pt_ops_account(d, g->servicer, &sa)) < 0) {
		snprintf(reason, reasonlen, "no such user: %s", oa ? g->servicer : origin);
		r = r == -ENOENT ? -ENOENT : r;
		goto out;
	}
	if (sa->uid == oa->uid) {
		snprintf(reason, reasonlen, "a user cannot grant to themself");
		r = -EINVAL;
		goto out;
	}
	g->origin_uid = oa->uid;
	g->servicer_uid = sa->uid;
	r = pt_grant_policy_check(d->cfg, origin, g->servicer, g, now, NULL, rule, rulelen, reason,
				  reasonlen);
out:
	pt_account_free(oa);
	pt_account_free(sa);
	return r;
}

int pt_grant_store_new(struct pt_daemon *d, const char *origin, const struct pt_grant *req,
		       uint64_t now, bool pin, struct pt_grant **ret, char *rule, size_t rulelen,
		       char *reason, size_t reasonlen)
{
	struct pt_grant *g = NULL;
	const char *charge;
	int r;

	if (!d->grants) {
		snprintf(reason, reasonlen, "the grant store is not open");
		return -EIO;
	}
	r = pt_grant_copy(req, &g);
	if (r < 0)
		return r;
	free(g->origin);
	g->origin = strdup(origin ? origin : "");
	if (!g->origin) {
		r = -ENOMEM;
		goto out;
	}
	g->kind = PT_GRANT_KIND_GRANT;
	g->uses = 0;
	g->revoked = false;
	g->created = now;
	g->expires = 0;
	if (g->not_before == 0)
		g->not_before = now;
	r = pt_grant_check_new(d, origin, g, now, rule, rulelen, reason, reasonlen);
	if (r < 0)
		goto out;
	charge = charged_to(d, g);
	if (pt_grant_count_origin(d, charge, now) >= d->cfg->grant_max_per_user)
		pt_grant_prune_origin(d, charge, now);
	if (pt_grant_count_origin(d, charge, now) >= d->cfg->grant_max_per_user) {
		snprintf(rule, rulelen, "grant.max_per_user");
		if (charge == g->origin)
			snprintf(reason, reasonlen,
				 "user %s holds %" PRIu32 " grants (grant.max_per_user)", origin,
				 d->cfg->grant_max_per_user);
		else
			snprintf(reason, reasonlen,
				 "servicer %s has delegated %" PRIu32
				 " grants (grant.max_per_user)",
				 charge, d->cfg->grant_max_per_user);
		r = -EDQUOT;
		goto out;
	}
	for (size_t i = 0; pin && i < g->n_cmds; i++) {
		r = pt_grant_file_digest(g->cmds[i].path, d->cfg->grant_max_command_size,
					 g->cmds[i].sha256);
		if (r < 0) {
			pt_grant_digest_error(g->cmds[i].path, r, d->cfg->grant_max_command_size,
					      reason, reasonlen);
			snprintf(rule, rulelen, "grant.max_command_size");
			r = r == -EFBIG ? -EACCES : r;
			goto out;
		}
	}
	r = pt_grant_new_id("gr_", g->id);
	if (r < 0)
		goto out;
	r = pt_grants_add(d->grants, d->storekey, g);
	if (r < 0) {
		snprintf(reason, reasonlen, "cannot store the grant: %s", strerror(-r));
		goto out;
	}
	*ret = g;
	g = NULL;
out:
	pt_grant_free(g);
	return r;
}

int pt_grant_create(struct pt_daemon *d, const char *origin, const struct pt_grant *req,
		    uint64_t now, char ret_id[PT_ID_LEN], char *reason, size_t reasonlen)
{
	struct pt_grant *g = NULL;
	char rule[128];
	int r;

	r = pt_grant_store_new(d, origin, req, now, true, &g, rule, sizeof(rule), reason,
			       reasonlen);
	if (r < 0) {
		pt_log_kv(LOG_NOTICE, "grant.create", "deny", "user", origin, "servicer",
			  req->servicer, "rule", rule, "reason", reason, NULL);
		pt_grant_audit(d, "grant.create", "deny", req, rule, reason, (uid_t)-1, 0, NULL);
		return r;
	}
	r = pt_grant_audit(d, "grant.create", "allow", g, rule, NULL, g->origin_uid, 0, NULL);
	if (r < 0) {
		snprintf(reason, reasonlen, "audit log cannot be written");
		pt_grants_remove(d->grants, d->storekey, g);
		return r;
	}
	pt_log_kv(LOG_NOTICE, "grant.create", "allow", "user", origin, "servicer", g->servicer,
		  "rule", rule, "id", g->id, NULL);
	memcpy(ret_id, g->id, PT_ID_LEN);
	return 0;
}
