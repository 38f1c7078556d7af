/* SPDX-License-Identifier: MIT */
/*
 * Least privilege from evidence (issue 13): the usage signals (a redemption's
 * grants, pertok token used), the recommendations (pertokctl recommend), the
 * curtailments (curtail rules, auto_curtail) and their revert. The history
 * is usage.h, the decision recommend.h.
 */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ops-internal.h"
#include "recommend.h"
#include "usage.h"
#include "util.h"

/* --------------------------------------------------------------- signals */

void usage_redeemed(struct pt_daemon *d, const char *user, const char *holder,
		    const struct pt_live_claims *lc, uint64_t now)
{
	int r;

	if (!d->usage)
		return;
	r = pt_usage_redeemed(d->usage, user, holder, lc->entitlements, lc->n_entitlements,
			      lc->groups, lc->n_groups, now);
	if (r == -ENOSPC)
		pt_log_kv(LOG_WARNING, "usage", "limit", "user", user, "holder", holder, "reason",
			  PT_LOG_F("the usage history of %s is full (usage.max_entries_per_user "
				   "= %u): no recommendation for this holder",
				   user, d->cfg->usage_max_entries_per_user),
			  NULL);
	else if (r < 0)
		pt_log_kv(LOG_ERR, "usage", "error", "user", user, "holder", holder, "reason",
			  strerror(-r), NULL);
}

void usage_curtail(const struct pt_daemon *d, const char *user, const char *holder, bool group,
		   char **v, size_t *n)
{
	for (size_t i = 0; v && i < *n;) {
		if (!pt_policy_curtailer(d->cfg, user, holder, group, v[i], NULL) &&
		    !pt_usage_curtailed(d->usage, user, holder,
					group ? PT_USAGE_GROUP : PT_USAGE_ENT, v[i])) {
			i++;
			continue;
		}
		free(v[i]);
		memmove(&v[i], &v[i + 1], (*n - i) * sizeof(*v)); /* the NULL too */
		(*n)--;
	}
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Why live lacks kind name, into why (len bytes): a curtail rule or
 * curtailment that removed it (its id and note), else tail. Returns the
 * rule's or curtailment's id, or NULL. */
static const char *not_carried(const struct pt_daemon *d, const struct pt_live_claims *live,
			       bool group, const char *name, const char *tail, char *why,
			       size_t len)
{
	const char *what = group ? "group" : "entitlement";
	const struct pt_rule *rule;
	const struct pt_usage_entry *e;

	rule = pt_policy_curtailer(d->cfg, live->sub, live->act[0], group, name, NULL);
	e = pt_usage_curtailed(d->usage, live->sub, live->act[0],
			       group ? PT_USAGE_GROUP : PT_USAGE_ENT, name);
	if (rule)
		snprintf(why, len, "%s %s curtailed by %s (%s)", what, name, rule->name,
			 rule->note ? rule->note : "a curtail rule");
	else if (e)
		snprintf(why, len, "%s %s curtailed by %s (%s)", what, name, e->id, e->note);
	else
		snprintf(why, len, "the live token does not carry %s %s%s", what, name, tail);
	return rule ? rule->name : e ? e->id : NULL;
}

/* Whether kind name is curtailed now for live's user and holder: a live
 * token minted before the curtail rule or curtailment still carries it,
 * and must neither pass an accept nor keep it alive by a report. */
static bool curtailed_now(const struct pt_daemon *d, const struct pt_live_claims *live, bool group,
			  const char *name)
{
	return pt_policy_curtailer(d->cfg, live->sub, live->act[0], group, name, NULL) ||
	       pt_usage_curtailed(d->usage, live->sub, live->act[0],
				  group ? PT_USAGE_GROUP : PT_USAGE_ENT, name);
}

/* A live token from a redemption: it names its user and holder. */
static bool from_redemption(const struct pt_live_claims *live)
{
	return live->has_ptk && live->ptk && live->n_act >= 1 && pt_name_valid(live->act[0]) &&
	       pt_name_valid(live->sub);
}

/* USED: the table checked the live token (signature, audience, time) and
 * that the caller's uid is its subject's (a forged or another user's token
 * never gets here). Only what the token carries is recorded: a report keeps
 * a privilege in use, it never adds one. */
int op_used(struct call *c)
{
	const struct pt_live_claims *live = &c->live;
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	bool group = q->format == PT_USED_GROUP;
	const char *what = group ? "group" : "entitlement";
	const struct pt_usage_entry *e;
	struct pt_rep rep = { .type = PT_OK };
	uint64_t now = pt_ops_now(d);
	const char *by;
	char why[600];
	bool carried;
	int r;

	if (!from_redemption(live)) {
		record_decision(c, LOG_NOTICE, "deny", live->sub, NULL, NULL, NULL,
				"not a live token from a redemption");
		return reply_error(c, PT_E_INVALID,
				   "only a live token from a redemption can report a use");
	}
	if (!pt_name_valid(q->name))
		return reply_error(c, PT_E_PROTO, "invalid %s name", what);
	carried = group ? strv_has(live->groups, live->n_groups, q->name) :
			  strv_has(live->entitlements, live->n_entitlements, q->name);
	if (!carried || curtailed_now(d, live, group, q->name)) {
		by = not_carried(d, live, group, q->name,
				 ": a report keeps a privilege, it never adds one", why,
				 sizeof(why));
		record_decision(c, LOG_NOTICE, "deny", live->sub, live->act[0], live->ptk, by, why);
		return reply_error(c, PT_E_DENIED, "%s", why);
	}
	r = pt_usage_used(d->usage, live->sub, live->act[0], group ? PT_USAGE_GROUP : PT_USAGE_ENT,
			  q->name, now);
	if (r == -ENOSPC) {
		snprintf(why, sizeof(why),
			 "the usage history of %s is full (usage.max_entries_per_user = %u): "
			 "the use of %s %s is not recorded",
			 live->sub, d->cfg->usage_max_entries_per_user, what, q->name);
		record_decision(c, LOG_WARNING, "deny", live->sub, live->act[0], live->ptk, NULL,
				why);
		return reply_error(c, PT_E_LIMIT, "%s", why);
	}
	if (r < 0) {
		record_decision(c, LOG_ERR, "error", live->sub, live->act[0], live->ptk, NULL,
				strerror(-r));
		return reply_error(c, PT_E_INTERNAL, "cannot record the use: %s", strerror(-r));
	}
	e = pt_usage_find(d->usage, live->sub, live->act[0], group ? PT_USAGE_GROUP : PT_USAGE_ENT,
			  q->name);
	rep.count = e && e->count < UINT32_MAX ? (uint32_t)e->count : UINT32_MAX;
	snprintf(why, sizeof(why), "%s %s used (%" PRIu32 " uses recorded)", what, q->name,
		 rep.count);
	record_decision(c, LOG_INFO, "allow", live->sub, live->act[0], live->ptk, NULL, why);
	return pt_rep_encode(q->type, &rep, c->out);
}

/* ACCEPT_LIVE: pam_pertok.so accept require=ENT[,ENT] in a service's
 * stack (root or an actor, by the table, which verified the token). The
 * token must come from a redemption, name PAM_USER, and carry every
 * entitlement required; each is then recorded as used by the token's user
 * and holder. A cap that keeps a use out is logged, never refuses the
 * access (the pair is then full: no recommendation can remove it). */
int op_accept_live(struct call *c)
{
	const struct pt_live_claims *live = &c->live;
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	struct pt_rep rep = { .type = PT_OK };
	char list[PT_MAX_STR + 1], why[900], *names[PT_MAX_REQUIRE], *save = NULL, *tok;
	const char *svc = q->service && pt_name_valid(q->service) ? q->service : "-";
	uint64_t now = pt_ops_now(d);
	const char *by;
	size_t n = 0;

	if (!from_redemption(live)) {
		record_decision(c, LOG_NOTICE, "deny", live->sub, NULL, NULL, NULL,
				"not a live token from a redemption");
		return reply_error(c, PT_E_INVALID, "not a live token from a job's redemption");
	}
	if (!q->user || strcmp(q->user, live->sub) != 0) {
		snprintf(why, sizeof(why), "the live token is %s's, not %s's", live->sub,
			 q->user && pt_name_valid(q->user) ? q->user : "the PAM user");
		record_decision(c, LOG_NOTICE, "deny", live->sub, live->act[0], live->ptk, NULL,
				why);
		return reply_error(c, PT_E_DENIED, "%s", why);
	}
	snprintf(list, sizeof(list), "%s", q->name ? q->name : "");
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!pt_name_valid(tok) || n == PT_MAX_REQUIRE)
			return reply_error(c, PT_E_PROTO,
					   "require: 1 to %u valid entitlement names",
					   PT_MAX_REQUIRE);
		names[n++] = tok;
	}
	if (n == 0)
		return reply_error(c, PT_E_PROTO, "require: no entitlement named");
	for (size_t i = 0; i < n; i++) {
		size_t k;

		if (strv_has(live->entitlements, live->n_entitlements, names[i]) &&
		    !curtailed_now(d, live, false, names[i]))
			continue;
		by = not_carried(d, live, false, names[i], "", why, sizeof(why));
		k = strlen(why);
		snprintf(why + k, sizeof(why) - k, "; service %s requires it", svc);
		record_decision(c, LOG_NOTICE, "deny", live->sub, live->act[0], live->ptk, by, why);
		return reply_error(c, PT_E_DENIED, "%s", why);
	}
	for (size_t i = 0; i < n; i++) {
		int r = pt_usage_used(d->usage, live->sub, live->act[0], PT_USAGE_ENT, names[i],
				      now);

		if (r < 0 && d->usage)
			pt_log_kv(LOG_WARNING, "usage", r == -ENOSPC ? "limit" : "error", "user",
				  live->sub, "holder", live->act[0], "reason",
				  r == -ENOSPC ? "the usage history is full: use not recorded" :
						 strerror(-r),
				  NULL);
	}
	rep.count = (uint32_t)n;
	snprintf(why, sizeof(why), "service %s accepted the token requiring %s", svc, q->name);
	record_decision(c, LOG_INFO, "allow", live->sub, live->act[0], live->ptk, NULL, why);
	return pt_rep_encode(q->type, &rep, c->out);
}

/* ------------------------------------------------------------------ text */

struct text {
	char *p;
	size_t n, cap;
	bool cut;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (t->cut)
		return;
	va_start(ap, fmt);
	k = vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= t->cap - t->n) {
		t->p[t->n] = '\0';
		t->cut = true;
		return;
	}
	t->n += (size_t)k;
}

static const char *kind_word(char kind)
{
	return kind == PT_USAGE_GROUP ? "group" : "entitlement";
}

/* The start of the run of (user, holder) the pair entry at index i ends:
 * items sort before their pair ('e' < 'g' < 'r'). */
static size_t run_start(const struct pt_usage *u, size_t i)
{
	const struct pt_usage_entry *p = pt_usage_at(u, i);

	while (i > 0) {
		const struct pt_usage_entry *e = pt_usage_at(u, i - 1);
		if (strcmp(e->user, p->user) != 0 || strcmp(e->holder, p->holder) != 0)
			break;
		i--;
	}
	return i;
}

static bool is_item(const struct pt_usage_entry *e)
{
	return e->kind == PT_USAGE_ENT || e->kind == PT_USAGE_GROUP;
}

size_t usage_explain(const struct pt_daemon *d, const char *user, const char *holder, uint64_t now,
		     char *buf, size_t len)
{
	struct text t = { .p = buf, .cap = len };
	const struct pt_usage_entry *pair =
		pt_usage_find(d->usage, user, holder, PT_USAGE_PAIR, "");
	uint64_t window = pt_rec_window(d->cfg, 0);
	static const char *const verdicts[] = { "keep", "keep", "unused", "curtailed" };
	struct pt_rec_baseline *b = NULL;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (!pair) {
		add(&t, "usage: no redemption of %s for %s observed\n", user, holder);
		return t.n;
	}
	add(&t,
	    "usage: %" PRIu64 " redemptions observed over %" PRIu64 " days%s (window %" PRIu64
	    " days)\n",
	    pair->count, now > pair->first ? (now - pair->first) / 86400 : 0,
	    pair->base ? ", history full" : "", window / 86400);
	/* out of memory: the lines without the holder's baseline */
	(void)pt_rec_baseline_new(d->usage, now > window ? now - window : 0, &b);
	for (size_t i = run_start(d->usage, (size_t)(pair - pt_usage_at(d->usage, 0)));
	     i < pt_usage_count(d->usage); i++) {
		const struct pt_usage_entry *e = pt_usage_at(d->usage, i);
		struct pt_rec_item it;

		if (e == pair)
			break;
		if (!is_item(e))
			continue;
		pt_rec_judge(d->cfg, d->usage, b, pair, e, window, now, &it);
		add(&t, "  %s %s: %s: %s%s%s\n", kind_word(e->kind), e->name, verdicts[it.verdict],
		    it.note, it.by ? " by " : "", it.by ? it.by : "");
	}
	pt_rec_baseline_free(b);
	return t.n;
}

/* ------------------------------------------------------------- recommend */

static int jadd(json_object *o, const char *k, json_object *v)
{
	if (!v || json_object_object_add(o, k, v) != 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static const char *const verdict_names[] = { "keep", "keep", "remove", "curtailed" };
static const char *const state_names[] = { "ready", "observing", "full" };

/* s as the inside of a libconfig string: '"' and '\\' escaped (names may
 * hold them: pt_name_valid; a group name comes from the directory). */
static const char *conf_str(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s && n + 3 < len; s++) {
		if (*s == '"' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n] = '\0';
	return buf;
}

/* One proposal as a curtail rule of the drop-in (recommend --write). A
 * name "*" (valid: pt_name_valid; a group of the directory may be called
 * so) is the wildcard of users, holders, entitlements_remove and
 * groups_remove: written, it would curtail every entitlement or user, not
 * the one judged. Such a proposal is a comment only. Returns whether the
 * rule was written. */
static bool config_rule(struct text *t, const struct pt_usage_entry *e,
			const struct pt_rec_item *it, bool first)
{
	char user[520], holder[520], name[520], note[620];

	if (strcmp(e->user, "*") == 0 || strcmp(e->holder, "*") == 0 || strcmp(e->name, "*") == 0) {
		add(t,
		    "%s  # %s not written: the name \"*\" would match every %s, not the one "
		    "judged\n",
		    first ? "" : "\n", it->id,
		    strcmp(e->name, "*") == 0 ? kind_word(e->kind) : "user or holder");
		return false;
	}
	add(t,
	    "%s  { name = \"%s\"; curtail = true; users = [ \"%s\" ]; holders = [ \"%s\" ];\n"
	    "    %s = [ \"%s\" ];\n"
	    "    note = \"%s\"; }",
	    first ? "" : ",\n", it->id, conf_str(e->user, user, sizeof(user)),
	    conf_str(e->holder, holder, sizeof(holder)),
	    e->kind == PT_USAGE_GROUP ? "groups_remove" : "entitlements_remove",
	    conf_str(e->name, name, sizeof(name)), conf_str(it->note, note, sizeof(note)));
	return true;
}

int op_recommend(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	const struct pt_usage *u = d->usage;
	uint64_t now = pt_ops_now(d), window = pt_rec_window(d->cfg, q->count);
	struct text t = { .cap = PT_MAX_TEXT - 64 };
	struct pt_rep rep = { .type = PT_OK };
	json_object *root = NULL, *pairs = NULL;
	struct pt_rec_baseline *b = NULL;
	size_t proposals = 0, written = 0;
	char when[64];
	int r = -ENOMEM;

	t.p = malloc(t.cap);
	if (!t.p || pt_rec_baseline_new(u, now > window ? now - window : 0, &b) < 0) {
		free(t.p);
		return reply_error(c, PT_E_INTERNAL, "out of memory");
	}
	t.p[0] = '\0';
	if (q->format == PT_REC_JSON) {
		root = json_object_new_object();
		pairs = json_object_new_array();
		if (!root || jadd(root, "pairs", pairs) < 0 ||
		    jadd(root, "now", json_object_new_int64((int64_t)now)) < 0 ||
		    jadd(root, "window_days", json_object_new_int64((int64_t)(window / 86400))) <
			    0 ||
		    jadd(root, "observation_days",
			 json_object_new_int64((int64_t)(d->cfg->usage_observation / 86400))) < 0)
			goto out;
	} else if (q->format == PT_REC_CONFIG)
		add(&t,
		    "# pertokctl recommend --write, %s: curtail rules from the usage history\n"
		    "# (window %" PRIu64 " days, observation %" PRIu64
		    " days; see pertokctl(8), RECOMMEND).\n"
		    "# Each rule removes one entitlement or group from the live tokens of\n"
		    "# later redemptions (late-bound, also of tokens issued before); delete a\n"
		    "# rule and reload tokend (SIGHUP) to give it back.\n"
		    "redeem = (\n",
		    iso_time(now, false, when, sizeof(when)), window / 86400,
		    d->cfg->usage_observation / 86400);
	else
		add(&t,
		    "recommend: window %" PRIu64 " days, observation period %" PRIu64
		    " days, at %s\n",
		    window / 86400, d->cfg->usage_observation / 86400,
		    iso_time(now, false, when, sizeof(when)));
	for (size_t i = 0; i < pt_usage_count(u); i++) {
		const struct pt_usage_entry *p = pt_usage_at(u, i);
		enum pt_rec_pair_state st;
		json_object *po = NULL, *items = NULL;
		uint64_t days;

		if (p->kind != PT_USAGE_PAIR || (q->user && *q->user && strcmp(q->user, p->user)) ||
		    (q->holder && *q->holder && strcmp(q->holder, p->holder)))
			continue;
		st = pt_rec_pair(d->cfg, p, now);
		days = now > p->first ? (now - p->first) / 86400 : 0;
		if (root) {
			po = json_object_new_object();
			items = json_object_new_array();
			if (!po || json_object_array_add(pairs, po) != 0) {
				json_object_put(po);
				json_object_put(items);
				goto out;
			}
			if (jadd(po, "items", items) < 0 ||
			    jadd(po, "user", json_object_new_string(p->user)) < 0 ||
			    jadd(po, "holder", json_object_new_string(p->holder)) < 0 ||
			    jadd(po, "state", json_object_new_string(state_names[st])) < 0 ||
			    jadd(po, "redemptions", json_object_new_int64((int64_t)p->count)) < 0 ||
			    jadd(po, "observed_days", json_object_new_int64((int64_t)days)) < 0 ||
			    jadd(po, "first", json_object_new_int64((int64_t)p->first)) < 0 ||
			    jadd(po, "last", json_object_new_int64((int64_t)p->last)) < 0)
				goto out;
		} else if (q->format == PT_REC_TEXT)
			add(&t,
			    "user %s holder %s: %" PRIu64 " redemptions observed over %" PRIu64
			    " days: %s\n",
			    p->user, p->holder, p->count, days,
			    st == PT_REC_READY ?
				    "judged" :
			    st == PT_REC_FULL ?
				    "history full (usage.max_entries_per_user): no proposal" :
				    "observed for less than the observation period: no "
				    "proposal yet");
		for (size_t j = run_start(u, i); j < i; j++) {
			const struct pt_usage_entry *e = pt_usage_at(u, j);
			struct pt_rec_item it;

			if (!is_item(e))
				continue;
			pt_rec_judge(d->cfg, u, b, p, e, window, now, &it);
			if (st != PT_REC_READY && it.verdict == PT_REC_REMOVE)
				it.verdict = PT_REC_KEEP_NEW; /* nothing proposed before then */
			if (it.verdict == PT_REC_REMOVE && st == PT_REC_READY)
				proposals++;
			if (root) {
				json_object *io = json_object_new_object();

				if (!io || json_object_array_add(items, io) != 0) {
					json_object_put(io);
					goto out;
				}
				if (jadd(io, "kind", json_object_new_string(kind_word(e->kind))) <
					    0 ||
				    jadd(io, "name", json_object_new_string(e->name)) < 0 ||
				    jadd(io, "verdict",
					 json_object_new_string(verdict_names[it.verdict])) < 0 ||
				    jadd(io, "id",
					 json_object_new_string(
						 it.verdict == PT_REC_CURTAILED ? it.by : it.id)) <
					    0 ||
				    jadd(io, "uses", json_object_new_int64((int64_t)e->count)) <
					    0 ||
				    jadd(io, "last_use", json_object_new_int64((int64_t)e->last)) <
					    0 ||
				    jadd(io, "redemptions",
					 json_object_new_int64((int64_t)it.redemptions)) < 0 ||
				    jadd(io, "days", json_object_new_int64((int64_t)it.days)) < 0 ||
				    jadd(io, "holder_users_used",
					 json_object_new_int64(it.base_used)) < 0 ||
				    jadd(io, "holder_users", json_object_new_int64(it.base_users)) <
					    0 ||
				    jadd(io, "note", json_object_new_string(it.note)) < 0)
					goto out;
			} else if (q->format == PT_REC_CONFIG) {
				if (it.verdict == PT_REC_REMOVE &&
				    config_rule(&t, e, &it, written == 0))
					written++;
			} else
				add(&t,
				    "  %s %s %s%s%s: %s; used by %" PRIu32 " of %" PRIu32
				    " users of holder %s in the window\n",
				    verdict_names[it.verdict], kind_word(e->kind), e->name,
				    it.verdict == PT_REC_REMOVE	   ? " " :
				    it.verdict == PT_REC_CURTAILED ? " by " :
								     "",
				    it.verdict == PT_REC_REMOVE	   ? it.id :
				    it.verdict == PT_REC_CURTAILED ? it.by :
								     "",
				    it.note, it.base_used, it.base_users, e->holder);
		}
	}
	if (root) {
		const char *s;

		if (jadd(root, "proposals", json_object_new_int64((int64_t)proposals)) < 0)
			goto out;
		s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!s)
			goto out;
		if (strlen(s) >= t.cap)
			t.cut = true;
		else
			add(&t, "%s", s);
	} else if (q->format == PT_REC_CONFIG)
		add(&t, "%s);\n", written ? "\n" : "");
	else
		add(&t, "proposals: %zu\n", proposals);
	if (t.cut) {
		r = reply_error(c, PT_E_LIMIT,
				"the recommendations do not fit one reply: narrow them with --user "
				"or --holder");
		goto done;
	}
	rep.text = t.p;
	r = pt_rep_encode(q->type, &rep, c->out);
	goto done;
out:
	r = reply_error(c, PT_E_INTERNAL, "out of memory");
done:
	json_object_put(root);
	pt_rec_baseline_free(b);
	free(t.p);
	return r;
}

/* ------------------------------------------------------------- curtail */

/* A curtailment's audit record and log line (no request: housekeeping). */
static void audit_curtail(struct pt_daemon *d, const char *result, const struct pt_usage_entry *e,
			  const char *reason)
{
	struct pt_audit_event ev = {
		.op = "curtail",
		.result = result,
		.user = e->user,
		.holder = e->holder,
		.peer_uid = 0,
		.peer_pid = 0,
		.rule = e->id,
		.reason = reason,
		.id = e->id,
	};
	int r;

	pt_log_kv(LOG_NOTICE, "curtail", result, "user", e->user, "holder", e->holder, "rule",
		  e->id, "reason", reason, NULL);
	r = pt_audit_append(d->audit, &ev);
	if (r < 0)
		pt_log_kv(LOG_ERR, "audit", "error", "reason",
			  pt_audit_failure(d->audit) ?: strerror(-r), NULL);
}

/* A proposal auto_curtail applies (copied: adding one moves the entries). */
struct proposal {
	char user[256], holder[256], name[256], id[16], note[300];
	char kind;
	uint64_t redemptions;
};

/* The proposals due now (at most max), judged against one baseline. */
static size_t due(const struct pt_daemon *d, uint64_t now, struct proposal *v, size_t max)
{
	const struct pt_usage *u = d->usage;
	uint64_t window = pt_rec_window(d->cfg, 0);
	struct pt_rec_baseline *b = NULL;
	size_t n = 0;

	if (pt_rec_baseline_new(u, now > window ? now - window : 0, &b) < 0)
		return 0; /* out of memory: the next round */
	for (size_t i = 0; i < pt_usage_count(u) && n < max; i++) {
		const struct pt_usage_entry *p = pt_usage_at(u, i);

		if (p->kind != PT_USAGE_PAIR || pt_rec_pair(d->cfg, p, now) != PT_REC_READY)
			continue;
		for (size_t j = run_start(u, i); j < i && n < max; j++) {
			const struct pt_usage_entry *e = pt_usage_at(u, j);
			struct pt_rec_item it;
			struct proposal *x = &v[n];

			if (!is_item(e))
				continue;
			pt_rec_judge(d->cfg, u, b, p, e, window, now, &it);
			if (it.verdict != PT_REC_REMOVE)
				continue;
			snprintf(x->user, sizeof(x->user), "%s", e->user);
			snprintf(x->holder, sizeof(x->holder), "%s", e->holder);
			snprintf(x->name, sizeof(x->name), "%s", e->name);
			snprintf(x->id, sizeof(x->id), "%s", it.id);
			snprintf(x->note, sizeof(x->note), "%s", it.note);
			x->kind =
				e->kind == PT_USAGE_GROUP ? PT_USAGE_CURTAIL_G : PT_USAGE_CURTAIL_E;
			x->redemptions = p->count;
			n++;
		}
	}
	pt_rec_baseline_free(b);
	return n;
}

#define AUTO_CURTAIL_MAX 64    /* per pass: the rest the next */
#define AUTO_CURTAIL_EVERY 600 /* s between passes (one judges the whole history) */

void pt_ops_auto_curtail(struct pt_daemon *d)
{
	struct proposal *v;
	uint64_t now = pt_ops_now(d);
	char why[1400];
	size_t n, applied = 0;

	if (!d->usage || !d->cfg->usage_auto_curtail || now < d->auto_curtail_hold)
		return;
	/* days-long windows: a pass every ten minutes is soon enough (a clock
	 * stepped back runs one at once) */
	if (d->auto_curtail_at && now >= d->auto_curtail_at &&
	    now - d->auto_curtail_at < AUTO_CURTAIL_EVERY)
		return;
	d->auto_curtail_at = now;
	v = calloc(AUTO_CURTAIL_MAX, sizeof(*v));
	if (!v)
		return;
	n = due(d, now, v, AUTO_CURTAIL_MAX);
	for (size_t i = 0; i < n; i++) {
		const struct proposal *x = &v[i];
		const struct pt_usage_entry *e;
		int r = pt_usage_curtail(d->usage, x->id, x->user, x->holder, x->kind, x->name,
					 x->note, x->redemptions, now);

		if (r == -EEXIST)
			continue; /* applied before, or reverted: never again */
		if (r < 0) {
			pt_log_kv(LOG_ERR, "curtail", "error", "user", x->user, "holder", x->holder,
				  "reason", strerror(-r), NULL);
			continue;
		}
		e = pt_usage_find(d->usage, x->user, x->holder, x->kind, x->name);
		snprintf(why, sizeof(why),
			 "auto_curtail removes %s %s from %s's live tokens for %s: %s (pertokctl "
			 "recommend --revert %s)",
			 x->kind == PT_USAGE_CURTAIL_G ? "group" : "entitlement", x->name, x->user,
			 x->holder, x->note, x->id);
		if (e)
			audit_curtail(d, "allow", e, why);
		applied++;
	}
	free(v);
	/* each change and its audit record on disk before any redemption the
	 * change governs (the request loop's commit comes after them) */
	if (applied && pt_ops_commit(d) < 0)
		pt_log_kv(LOG_ERR, "curtail", "error", "reason",
			  "the curtailments or their audit records are not synced", NULL);
}

void pt_ops_clock_stepped(struct pt_daemon *d, int64_t jump_s)
{
	uint64_t now = pt_ops_now(d), window = pt_rec_window(d->cfg, 0);

	if (jump_s > -86400 && jump_s < 86400)
		return;
	d->auto_curtail_hold = now + window;
	if (d->usage && d->cfg->usage_auto_curtail)
		pt_log_kv(LOG_WARNING, "curtail", "hold", "reason",
			  PT_LOG_F("the wall clock was stepped by %+" PRId64
				   " s: auto_curtail changes nothing for %" PRIu64
				   " days (a window), as what was used before the step "
				   "would look unused",
				   jump_s, window / 86400),
			  NULL);
}

#define USAGE_IDLE_MIN (365u * 86400u) /* s: a user idle this long is gone */

void pt_ops_usage_prune(struct pt_daemon *d)
{
	uint64_t now = pt_ops_now(d), idle = 4 * pt_rec_window(d->cfg, 0);
	size_t n;

	if (!d->usage)
		return;
	if (d->usage_prune_at && now >= d->usage_prune_at &&
	    now - d->usage_prune_at < AUTO_CURTAIL_EVERY)
		return;
	d->usage_prune_at = now;
	if (idle < USAGE_IDLE_MIN)
		idle = USAGE_IDLE_MIN;
	if (now <= idle)
		return;
	n = pt_usage_prune(d->usage, now - idle);
	if (n)
		pt_log_kv(LOG_NOTICE, "usage", "allow", "reason",
			  PT_LOG_F("%zu entries of users and holders idle for %" PRIu64
				   " days dropped from the usage history",
				   n, idle / 86400),
			  NULL);
}

/* CURTAIL_REVERT (root): a curtailment of auto_curtail no longer applies,
 * and is never applied again (its id stays, reverted). */
int op_curtail_revert(struct call *c)
{
	struct pt_daemon *d = c->d;
	const struct pt_req *q = c->req;
	const struct pt_usage_entry *e = NULL;
	struct pt_rep rep = { .type = PT_OK, .count = 1 };
	char why[1200];
	size_t from = 0;
	const struct pt_rule *rule;
	int r;

	if (!q->id || !*q->id)
		return reply_error(c, PT_E_PROTO, "no recommendation id");
	r = pt_usage_revert(d->usage, q->id, pt_ops_now(d), &e);
	if (r == -EALREADY) {
		record_decision(c, LOG_NOTICE, "deny", NULL, NULL, q->id, q->id,
				"already reverted");
		return reply_error(c, PT_E_NOTFOUND, "%s was reverted before", q->id);
	}
	if (r < 0) {
		for (rule = NULL; from < d->cfg->n_redeem && !rule; from++)
			if (d->cfg->redeem[from].curtail &&
			    strcmp(d->cfg->redeem[from].name, q->id) == 0)
				rule = &d->cfg->redeem[from];
		if (rule)
			snprintf(why, sizeof(why),
				 "%s is a curtail rule of the configuration (line %d): delete it "
				 "there and reload tokend",
				 q->id, rule->line);
		else
			snprintf(why, sizeof(why), "no curtailment %s", q->id);
		record_decision(c, LOG_NOTICE, "deny", NULL, NULL, q->id, q->id, why);
		return reply_error(c, PT_E_NOTFOUND, "%s", why);
	}
	snprintf(why, sizeof(why), "reverted: %s %s is given back to %s's live tokens for %s",
		 e->kind == PT_USAGE_CURTAIL_G ? "group" : "entitlement", e->name, e->user,
		 e->holder);
	record_decision(c, LOG_NOTICE, "allow", e->user, e->holder, e->id, e->id, why);
	return pt_rep_encode(q->type, &rep, c->out);
}
