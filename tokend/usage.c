/* SPDX-License-Identifier: MIT */
/*
 * Entitlement and group usage per user and holder (see usage.h): one array
 * sorted by (user, holder, kind, name), so a user's entries are adjacent
 * (the per-user cap is a count of one run).
 *
 * File format (STATE_DIR/usage.json, mode 0600):
 *   {"v":1,"entries":[E,...]}
 *   E = {"u":USER,"h":HOLDER,"k":KIND,"n":NAME,"f":FIRST,"c":COUNT,"l":LAST,
 *        "b":BASE} plus, for the curtailments (k "x" or "y"), "id":"rec-<hex>"
 *        and "note":TEXT; KIND one of "r" (n ""), "e", "g", "x", "y".
 * Journal line (journal.h):
 *   U USER HOLDER KIND NAME|- FIRST COUNT LAST BASE [ID NOTE...]
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "journal.h"
#include "ptjson.h"
#include "usage.h"
#include "util.h"

#define USAGE_VERSION 1
#define USAGE_JSON_MAX (32u * 1024 * 1024)

struct pt_usage {
	char *path;
	struct pt_usage_entry *v;
	size_t n, cap;
	uint32_t max_per_user;
	bool dirty;	  /* the file is older than this */
	bool unjournaled; /* some entry is */
	bool restoring;	  /* loading the file or the journal: no per-user cap */
};

static bool kind_valid(char k)
{
	return k == PT_USAGE_PAIR || k == PT_USAGE_ENT || k == PT_USAGE_GROUP ||
	       k == PT_USAGE_CURTAIL_E || k == PT_USAGE_CURTAIL_G;
}

static bool is_curtail(char k)
{
	return k == PT_USAGE_CURTAIL_E || k == PT_USAGE_CURTAIL_G;
}

static bool id_valid(const char *id)
{
	if (!id || strncmp(id, "rec-", 4) != 0 || strlen(id) != 12)
		return false;
	for (const char *p = id + 4; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static bool note_valid(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++, n++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return s && n > 0 && n <= PT_USAGE_NOTE_MAX;
}

/* name must be "" for a pair, a valid name otherwise */
static bool key_valid(const char *user, const char *holder, char kind, const char *name)
{
	if (!pt_name_valid(user) || !pt_name_valid(holder) || !kind_valid(kind) || !name)
		return false;
	return kind == PT_USAGE_PAIR ? name[0] == '\0' : pt_name_valid(name);
}

static int cmp(const struct pt_usage_entry *e, const char *user, const char *holder, char kind,
	       const char *name)
{
	int c = strcmp(e->user, user);

	if (c == 0)
		c = strcmp(e->holder, holder);
	if (c == 0)
		c = (unsigned char)e->kind - (unsigned char)kind;
	if (c == 0)
		c = strcmp(e->name, name);
	return c;
}

static size_t find(const struct pt_usage *u, const char *user, const char *holder, char kind,
		   const char *name, bool *found)
{
	size_t lo = 0, hi = u->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp(&u->v[mid], user, holder, kind, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

size_t pt_usage_user_entries(const struct pt_usage *u, const char *user)
{
	size_t i, n = 0;
	bool found;

	if (!u || !user)
		return 0;
	/* "" sorts before every holder name: the start of user's run */
	i = find(u, user, "", 0, "", &found);
	for (; i < u->n && strcmp(u->v[i].user, user) == 0; i++)
		n++;
	return n;
}

static void entry_clear(struct pt_usage_entry *e)
{
	free(e->user);
	free(e->holder);
	free(e->name);
	free(e->note);
}

/* The entry, created (zeroed) when missing: NULL and *ret_err -ENOSPC at a
 * cap, -ENOMEM, -EINVAL for an invalid key. */
static struct pt_usage_entry *get(struct pt_usage *u, const char *user, const char *holder,
				  char kind, const char *name, int *ret_err)
{
	struct pt_usage_entry e = { 0 };
	bool found;
	size_t i;

	*ret_err = -EINVAL;
	if (!u || !key_valid(user, holder, kind, name))
		return NULL;
	i = find(u, user, holder, kind, name, &found);
	if (found)
		return &u->v[i];
	*ret_err = -ENOSPC;
	/* the per-user cap is for new entries: what the file or the journal
	 * holds stays when the cap was lowered (dropping it would drop the
	 * curtailments in force with the evidence) */
	if (u->n >= PT_USAGE_MAX_ENTRIES ||
	    (!u->restoring && pt_usage_user_entries(u, user) >= u->max_per_user))
		return NULL;
	*ret_err = -ENOMEM;
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 16;
		struct pt_usage_entry *v = realloc(u->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		u->v = v;
		u->cap = cap;
	}
	e.kind = kind;
	if (!(e.user = strdup(user)) || !(e.holder = strdup(holder)) || !(e.name = strdup(name))) {
		entry_clear(&e);
		return NULL;
	}
	memmove(&u->v[i + 1], &u->v[i], (u->n - i) * sizeof(*u->v));
	u->v[i] = e;
	u->n++;
	return &u->v[i];
}

static void changed(struct pt_usage *u, struct pt_usage_entry *e)
{
	e->unjournaled = true;
	u->dirty = u->unjournaled = true;
}

static void mark_full(struct pt_usage *u, const char *user, const char *holder)
{
	bool found;
	size_t i = find(u, user, holder, PT_USAGE_PAIR, "", &found);

	if (found && !u->v[i].base) {
		u->v[i].base = 1;
		changed(u, &u->v[i]);
	}
}

int pt_usage_redeemed(struct pt_usage *u, const char *user, const char *holder, char *const *ents,
		      size_t n_ents, char *const *groups, size_t n_groups, uint64_t now)
{
	struct pt_usage_entry *p;
	uint64_t count;
	int r = 0, k;

	p = get(u, user, holder, PT_USAGE_PAIR, "", &k);
	if (!p)
		return k;
	if (!p->first)
		p->first = now;
	if (p->count < INT64_MAX)
		p->count++;
	if (now > p->last)
		p->last = now;
	changed(u, p);
	count = p->count;
	for (size_t i = 0; i < n_ents + n_groups; i++) {
		bool is_ent = i < n_ents;
		const char *name = is_ent ? ents[i] : groups[i - n_ents];
		char kind = is_ent ? PT_USAGE_ENT : PT_USAGE_GROUP;
		struct pt_usage_entry *e;
		bool found;

		find(u, user, holder, kind, name, &found);
		if (found)
			continue;
		e = get(u, user, holder, kind, name, &k); /* may move p */
		if (!e) {
			if (r == 0 || k == -ENOSPC)
				r = k;
			continue;
		}
		e->first = now;
		e->base = count - 1; /* redemptions before this one */
		changed(u, e);
	}
	if (r == -ENOSPC)
		mark_full(u, user, holder);
	return r;
}

int pt_usage_used(struct pt_usage *u, const char *user, const char *holder, char kind,
		  const char *name, uint64_t now)
{
	struct pt_usage_entry *e, *p;
	int k;

	if (kind != PT_USAGE_ENT && kind != PT_USAGE_GROUP)
		return -EINVAL;
	p = get(u, user, holder, PT_USAGE_PAIR, "", &k);
	if (!p)
		return k;
	if (!p->first) {
		p->first = now;
		changed(u, p);
	}
	e = get(u, user, holder, kind, name, &k);
	if (!e) {
		if (k == -ENOSPC)
			mark_full(u, user, holder);
		return k;
	}
	if (!e->first) {
		bool found;
		size_t i = find(u, user, holder, PT_USAGE_PAIR, "", &found);

		e->first = now;
		e->base = found ? u->v[i].count : 0;
	}
	if (e->count < INT64_MAX)
		e->count++;
	if (now > e->last)
		e->last = now;
	changed(u, e);
	return 0;
}

int pt_usage_curtail(struct pt_usage *u, const char *id, const char *user, const char *holder,
		     char kind, const char *name, const char *note, uint64_t redemptions,
		     uint64_t now)
{
	struct pt_usage_entry *e;
	char *copy;
	int k;

	if (!is_curtail(kind) || !id_valid(id) || !note_valid(note))
		return -EINVAL;
	for (size_t i = 0; i < (u ? u->n : 0); i++)
		if (is_curtail(u->v[i].kind) && strcmp(u->v[i].id, id) == 0)
			return -EEXIST;
	e = get(u, user, holder, kind, name, &k);
	if (!e)
		return k;
	if (e->first)
		return -EEXIST; /* another id for the same removal */
	copy = strdup(note);
	if (!copy)
		return -ENOMEM; /* the empty entry stays: applied at 0, never active */
	free(e->note);
	e->note = copy;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->first = now ? now : 1;
	e->base = redemptions;
	changed(u, e);
	return 0;
}

int pt_usage_revert(struct pt_usage *u, const char *id, uint64_t now,
		    const struct pt_usage_entry **ret)
{
	for (size_t i = 0; i < (u ? u->n : 0); i++) {
		struct pt_usage_entry *e = &u->v[i];

		if (!is_curtail(e->kind) || strcmp(e->id, id) != 0)
			continue;
		if (e->count)
			return -EALREADY;
		e->count = 1;
		e->last = now;
		changed(u, e);
		if (ret)
			*ret = e;
		return 0;
	}
	return -ENOENT;
}

size_t pt_usage_prune(struct pt_usage *u, uint64_t before)
{
	size_t w = 0, dropped = 0;

	for (size_t i = 0, j; u && i < u->n; i = j) {
		bool keep = false, pair = false;

		for (j = i; j < u->n && strcmp(u->v[j].user, u->v[i].user) == 0 &&
			    strcmp(u->v[j].holder, u->v[i].holder) == 0;
		     j++) {
			const struct pt_usage_entry *e = &u->v[j];

			pair |= e->kind == PT_USAGE_PAIR;
			/* a curtailment, in force or reverted, stays (never applied
			 * twice); so does anything seen since before */
			keep |= is_curtail(e->kind) || e->first >= before || e->last >= before;
		}
		if (keep || !pair) {
			for (size_t k = i; k < j; k++)
				u->v[w++] = u->v[k];
			continue;
		}
		for (size_t k = i; k < j; k++)
			entry_clear(&u->v[k]);
		dropped += j - i;
	}
	if (dropped) {
		u->n = w;
		u->dirty = true;
	}
	return dropped;
}

const struct pt_usage_entry *pt_usage_find(const struct pt_usage *u, const char *user,
					   const char *holder, char kind, const char *name)
{
	bool found;
	size_t i;

	if (!u || !key_valid(user, holder, kind, name))
		return NULL;
	i = find(u, user, holder, kind, name, &found);
	return found ? &u->v[i] : NULL;
}

const struct pt_usage_entry *pt_usage_curtailed(const struct pt_usage *u, const char *user,
						const char *holder, char kind, const char *name)
{
	const struct pt_usage_entry *e;

	e = pt_usage_find(u, user, holder,
			  kind == PT_USAGE_GROUP ? PT_USAGE_CURTAIL_G : PT_USAGE_CURTAIL_E, name);
	return e && e->first && !e->count && e->id[0] ? e : NULL;
}

size_t pt_usage_count(const struct pt_usage *u)
{
	return u ? u->n : 0;
}

const struct pt_usage_entry *pt_usage_at(const struct pt_usage *u, size_t i)
{
	return u && i < u->n ? &u->v[i] : NULL;
}

void pt_usage_set_cap(struct pt_usage *u, uint32_t max_per_user)
{
	if (u)
		u->max_per_user = max_per_user ? max_per_user : PT_USAGE_DEFAULT_PER_USER;
}

void pt_usage_free(struct pt_usage *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++)
		entry_clear(&u->v[i]);
	free(u->v);
	free(u->path);
	free(u);
}

static struct pt_usage *usage_new(uint32_t max_per_user)
{
	struct pt_usage *u = calloc(1, sizeof(*u));

	if (u)
		pt_usage_set_cap(u, max_per_user);
	return u;
}

/* ------------------------------------------------------------------ JSON */

static int add(json_object *o, const char *key, json_object *v)
{
	if (!v || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int entry_json(const struct pt_usage_entry *e, json_object *arr)
{
	json_object *o = json_object_new_object();
	char k[2] = { e->kind, '\0' };
	int r;

	if (!o || json_object_array_add(arr, o) != 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	if ((r = add(o, "u", json_object_new_string(e->user))) < 0 ||
	    (r = add(o, "h", json_object_new_string(e->holder))) < 0 ||
	    (r = add(o, "k", json_object_new_string(k))) < 0 ||
	    (r = add(o, "n", json_object_new_string(e->name))) < 0 ||
	    (r = add(o, "f", json_object_new_int64((int64_t)e->first))) < 0 ||
	    (r = add(o, "c", json_object_new_int64((int64_t)e->count))) < 0 ||
	    (r = add(o, "l", json_object_new_int64((int64_t)e->last))) < 0 ||
	    (r = add(o, "b", json_object_new_int64((int64_t)e->base))) < 0)
		return r;
	if (!is_curtail(e->kind))
		return 0;
	if ((r = add(o, "id", json_object_new_string(e->id))) < 0 ||
	    (r = add(o, "note", json_object_new_string(e->note ? e->note : "-"))) < 0)
		return r;
	return 0;
}

int pt_usage_to_json(const struct pt_usage *u, char **ret)
{
	json_object *o, *arr;
	const char *s;
	char *out;
	int r = -ENOMEM;

	if (!u || !ret)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	if (add(o, "v", json_object_new_int(USAGE_VERSION)) < 0)
		goto out;
	arr = json_object_new_array_ext((int)u->n);
	if (add(o, "entries", arr) < 0)
		goto out;
	for (size_t i = 0; i < u->n; i++)
		if (entry_json(&u->v[i], arr) < 0)
			goto out;
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s || !(out = strdup(s)))
		goto out;
	*ret = out;
	r = 0;
out:
	json_object_put(o);
	return r;
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return s && strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

static bool get_u64(json_object *o, const char *key, uint64_t *ret)
{
	json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	i = json_object_get_int64(v);
	if (i < 0 || i == INT64_MAX) /* INT64_MAX: json-c's saturation of larger numbers */
		return false;
	*ret = (uint64_t)i;
	return true;
}

static int parse_entry(struct pt_usage *u, size_t idx, json_object *eo, char *err, size_t errlen)
{
	static const char *const nums[4] = { "f", "c", "l", "b" };
	const char *user, *holder, *k, *name, *id = NULL, *note = NULL;
	struct pt_usage_entry *e;
	uint64_t v[4];
	bool found;
	int r;

	if (!json_object_is_type(eo, json_type_object))
		return bad(err, errlen, "entries[%zu]: not an object", idx);
	user = get_str(eo, "u");
	holder = get_str(eo, "h");
	k = get_str(eo, "k");
	name = get_str(eo, "n");
	if (!user || !holder || !k || !name)
		return bad(err, errlen,
			   "entries[%zu]: \"u\", \"h\", \"k\" and \"n\" must be strings", idx);
	if (strlen(k) != 1 || !kind_valid(k[0]))
		return bad(err, errlen, "entries[%zu].k: \"%.8s\" is not r, e, g, x or y", idx, k);
	if (json_object_object_length(eo) != (is_curtail(k[0]) ? 10 : 8))
		return bad(err, errlen, "entries[%zu]: %d keys, not %d", idx,
			   json_object_object_length(eo), is_curtail(k[0]) ? 10 : 8);
	if (!key_valid(user, holder, k[0], name))
		return bad(err, errlen, "entries[%zu]: invalid user, holder or name", idx);
	for (int i = 0; i < 4; i++)
		if (!get_u64(eo, nums[i], &v[i]))
			return bad(err, errlen, "entries[%zu].%s: not an integer in 0..2^63-2", idx,
				   nums[i]);
	if (is_curtail(k[0])) {
		id = get_str(eo, "id");
		note = get_str(eo, "note");
		if (!id_valid(id))
			return bad(err, errlen, "entries[%zu].id: not \"rec-\" and 8 hex digits",
				   idx);
		if (!note_valid(note))
			return bad(err, errlen,
				   "entries[%zu].note: empty, too long or not printable", idx);
		for (size_t i = 0; i < u->n; i++)
			if (is_curtail(u->v[i].kind) && strcmp(u->v[i].id, id) == 0)
				return bad(err, errlen, "entries[%zu].id: %s twice", idx, id);
	}
	find(u, user, holder, k[0], name, &found);
	if (found)
		return bad(err, errlen, "entries[%zu]: a duplicate of an earlier entry", idx);
	e = get(u, user, holder, k[0], name, &r);
	if (!e)
		return r == -ENOMEM ?
			       r :
			       bad(err, errlen, "entries[%zu]: beyond the cap of entries", idx);
	e->first = v[0];
	e->count = v[1];
	e->last = v[2];
	e->base = v[3];
	if (is_curtail(k[0])) {
		snprintf(e->id, sizeof(e->id), "%s", id);
		if (!(e->note = strdup(note)))
			return -ENOMEM;
	}
	return 0;
}

int pt_usage_from_json(const char *json, size_t len, uint32_t max_per_user, struct pt_usage **ret,
		       char *err, size_t errlen)
{
	struct pt_usage *u = NULL;
	json_object *o = NULL, *arr;
	uint64_t ver;
	size_t n;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!ret)
		return -EINVAL;
	r = pt_json_parse_strict(json, len, USAGE_JSON_MAX, 4, &o);
	if (r < 0)
		return r == -ENOMEM ? r :
				      bad(err, errlen, "not a JSON document (%s)", strerror(-r));
	r = -EINVAL;
	if (!json_object_is_type(o, json_type_object) || json_object_object_length(o) != 2) {
		r = bad(err, errlen, "not an object with the two keys \"v\" and \"entries\"");
		goto out;
	}
	if (!get_u64(o, "v", &ver) || ver != USAGE_VERSION) {
		r = bad(err, errlen, "\"v\" is not %d", USAGE_VERSION);
		goto out;
	}
	if (!json_object_object_get_ex(o, "entries", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		r = bad(err, errlen, "\"entries\" is not an array");
		goto out;
	}
	u = usage_new(max_per_user);
	if (!u) {
		r = -ENOMEM;
		goto out;
	}
	n = json_object_array_length(arr);
	u->restoring = true;
	for (size_t i = 0; i < n; i++) {
		r = parse_entry(u, i, json_object_array_get_idx(arr, i), err, errlen);
		if (r < 0)
			goto out;
	}
	u->restoring = false;
	*ret = u;
	u = NULL;
	r = 0;
out:
	pt_usage_free(u);
	json_object_put(o);
	return r;
}

/* ------------------------------------------------------------------ file */

struct load {
	uint32_t max_per_user;
	struct pt_usage *u;
};

static int parse_file(const char *text, size_t len, void *p)
{
	struct load *l = p;

	return pt_usage_from_json(text, len, l->max_per_user, &l->u, NULL, 0);
}

int pt_usage_open(const char *path, uint32_t max_per_user, struct pt_usage **ret, bool *ret_bad)
{
	struct load l = { .max_per_user = max_per_user };
	struct pt_usage *u;
	bool bad = false;
	int r;

	if (!ret)
		return -EINVAL;
	if (ret_bad)
		*ret_bad = false;
	if (path && (r = pt_state_read(path, USAGE_JSON_MAX, parse_file, &l, &bad)) < 0)
		return r;
	if (bad) {
		/* kept aside, not overwritten by the next flush: it may hold
		 * curtailments in force, and is the evidence of what went wrong */
		char aside[PATH_MAX];

		if (snprintf(aside, sizeof(aside), "%s.bad", path) < (int)sizeof(aside))
			(void)rename(path, aside);
		if (ret_bad)
			*ret_bad = true;
	}
	u = l.u;
	if (!u && !(u = usage_new(max_per_user)))
		return -ENOMEM;
	if (path && !(u->path = strdup(path))) {
		pt_usage_free(u);
		return -ENOMEM;
	}
	*ret = u;
	return 0;
}

int pt_usage_flush(struct pt_usage *u)
{
	char *json = NULL;
	int r;

	if (!u || !u->path || !u->dirty)
		return 0;
	r = pt_usage_to_json(u, &json);
	if (r < 0)
		return r;
	r = pt_state_write(u->path, json);
	if (r >= 0) {
		u->dirty = u->unjournaled = false;
		for (size_t i = 0; i < u->n; i++)
			u->v[i].unjournaled = false;
	}
	return r;
}

bool pt_usage_pending(const struct pt_usage *u)
{
	return u && u->path && u->unjournaled;
}

int pt_usage_journal(struct pt_usage *u, struct pt_journal *j)
{
	int r = 0;

	if (!u || !j)
		return -EINVAL;
	if (!u->unjournaled)
		return 0;
	for (size_t i = 0; i < u->n; i++) {
		struct pt_usage_entry *e = &u->v[i];
		char line[PT_JOURNAL_LINE_MAX];
		int q, n;

		if (!e->unjournaled)
			continue;
		n = snprintf(line, sizeof(line),
			     "U %s %s %c %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, e->user,
			     e->holder, e->kind, e->name[0] ? e->name : "-", e->first, e->count,
			     e->last, e->base);
		if (n > 0 && (size_t)n < sizeof(line) && is_curtail(e->kind))
			snprintf(line + n, sizeof(line) - (size_t)n, " %s %s", e->id,
				 e->note ? e->note : "-");
		q = pt_journal_add(j, line);
		if (q < 0) {
			if (r == 0)
				r = q;
			continue;
		}
		e->unjournaled = false;
	}
	if (r == 0)
		u->unjournaled = false;
	return r;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

int pt_usage_replay(struct pt_usage *u, const char *line)
{
	char user[256], holder[256], name[256], id[16] = "", kind;
	unsigned long long v[4];
	struct pt_usage_entry *e;
	int end = 0, k;
	bool found, ch = false;
	const char *note = NULL;

	if (!u || !line)
		return -EINVAL;
	if (line[0] != 'U' || line[1] != ' ')
		return 0;
	if (sscanf(line, "U %255s %255s %c %255s %llu %llu %llu %llu%n", user, holder, &kind, name,
		   &v[0], &v[1], &v[2], &v[3], &end) != 8)
		return -EINVAL;
	if (is_curtail(kind)) {
		int e2 = 0;

		if (sscanf(line + end, " %15s %n", id, &e2) != 1 || !id_valid(id))
			return -EINVAL;
		note = line + end + e2;
		if (!note_valid(note))
			return -EINVAL;
	} else if (line[end])
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		if (v[i] >= INT64_MAX)
			return -EINVAL;
	if (kind == PT_USAGE_PAIR && strcmp(name, "-") != 0)
		return -EINVAL;
	if (is_curtail(kind) && !v[0])
		return -EINVAL; /* a curtailment is applied at some time */
	if (kind == PT_USAGE_PAIR)
		name[0] = '\0';
	find(u, user, holder, kind, name, &found);
	u->restoring = true;
	e = get(u, user, holder, kind, name, &k);
	u->restoring = false;
	if (!e)
		return k == -EINVAL ? -EINVAL : 0; /* the cap in all: the file keeps what it has */
	if (!found) {
		char *copy = note ? strdup(note) : NULL;

		if (note && !copy)
			return -ENOMEM;
		e->first = v[0];
		e->count = v[1];
		e->last = v[2];
		e->base = v[3];
		e->note = copy;
		if (note)
			snprintf(e->id, sizeof(e->id), "%s", id);
		ch = true;
	} else {
		if (v[0] && (!e->first || v[0] < e->first)) {
			e->first = v[0];
			ch = true;
		}
		if (v[1] > e->count || v[2] > e->last) {
			e->count = max_u64(e->count, v[1]);
			e->last = max_u64(e->last, v[2]);
			ch = true;
		}
		if (kind == PT_USAGE_PAIR && v[3] > e->base) {
			e->base = v[3];
			ch = true;
		}
	}
	if (!ch)
		return 0;
	u->dirty = true;
	return 1;
}
