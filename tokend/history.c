/* SPDX-License-Identifier: MIT */
/*
 * Usage history per user and per actor (see history.h). Two sorted arrays
 * (users, actors) searched by name; a day change resets an entry's "today"
 * counters when it is next touched or read.
 *
 * File format (STATE_DIR/history.json, mode 0600):
 *   {"v":1,"users":[E,...],"actors":[E,...]}
 *   E = {"name":"alice","day":2025031,"today":[req,granted,redeemed,failed],
 *        "total":[req,granted,redeemed,failed],"act":[runs,cpu_usec,mem_peak]}
 * "act" (act-as runs, users only) is written only when runs > 0, so that a
 * file without act-as use stays in the form older versions read; files
 * without it load with zero act-as figures.
 * day = year * 1000 + day of the year (local time).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "ptjson.h"
#include "fileio.h"
#include "journal.h"
#include "ratelimit.h"
#include "util.h"

#define HISTORY_VERSION 1
#define HISTORY_JSON_MAX (32u * 1024 * 1024)

struct entry {
	char *name;
	uint32_t day;
	uint32_t today[_PT_HIST_MAX];
	uint64_t total[_PT_HIST_MAX];
	struct pt_hist_act act;	    /* users only */
	bool act_unjournaled;	    /* act changed since the last pt_history_journal */
	struct pt_ratelimit bucket; /* issue rate (users; memory only; monotonic ms) */
	bool unjournaled;	    /* counters changed since the last pt_history_journal */
};

struct table {
	struct entry *v;
	size_t n, cap;
};

struct pt_history {
	char *path;
	struct table t[2];
	bool dirty;	  /* the file is older than this */
	bool unjournaled; /* some entry is */
};

static uint32_t day_of(uint64_t now)
{
	time_t t = (time_t)now;
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return 0;
	return (uint32_t)(tm.tm_year + 1900) * 1000u + (uint32_t)tm.tm_yday;
}

/* Index of name, or where it would go (*found false). */
static size_t find(const struct table *t, const char *name, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->v[mid].name, name);
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

static const struct entry *lookup(const struct pt_history *h, enum pt_hist_kind kind,
				  const char *name)
{
	bool found;
	size_t i;

	if (!h || !name || (unsigned)kind > PT_HIST_ACTOR)
		return NULL;
	i = find(&h->t[kind], name, &found);
	return found ? &h->t[kind].v[i] : NULL;
}

/* The entry of name, created when missing; NULL when full or out of memory. */
static struct entry *get(struct pt_history *h, enum pt_hist_kind kind, const char *name)
{
	struct table *t;
	bool found;
	size_t i;
	char *copy;

	if (!h || !name || !pt_name_valid(name) || (unsigned)kind > PT_HIST_ACTOR)
		return NULL;
	t = &h->t[kind];
	i = find(t, name, &found);
	if (found)
		return &t->v[i];
	if (t->n >= PT_HIST_MAX_ENTRIES)
		return NULL;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct entry *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	copy = strdup(name);
	if (!copy)
		return NULL;
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	memset(&t->v[i], 0, sizeof(*t->v));
	t->v[i].name = copy;
	t->n++;
	return &t->v[i];
}

static void roll(struct entry *e, uint32_t day)
{
	if (e->day != day) {
		memset(e->today, 0, sizeof(e->today));
		e->day = day;
	}
}

void pt_history_add(struct pt_history *h, enum pt_hist_kind kind, const char *name,
		    enum pt_hist_counter c, uint64_t now)
{
	struct entry *e;

	if ((unsigned)c >= _PT_HIST_MAX)
		return;
	e = get(h, kind, name);
	if (!e)
		return;
	roll(e, day_of(now));
	if (e->today[c] < UINT32_MAX)
		e->today[c]++;
	if (e->total[c] < INT64_MAX)
		e->total[c]++;
	e->unjournaled = true;
	h->dirty = h->unjournaled = true;
}

uint32_t pt_history_today(const struct pt_history *h, enum pt_hist_kind kind, const char *name,
			  enum pt_hist_counter c, uint64_t now)
{
	const struct entry *e = lookup(h, kind, name);

	if (!e || (unsigned)c >= _PT_HIST_MAX || e->day != day_of(now))
		return 0;
	return e->today[c];
}

uint64_t pt_history_total(const struct pt_history *h, enum pt_hist_kind kind, const char *name,
			  enum pt_hist_counter c)
{
	const struct entry *e = lookup(h, kind, name);

	if (!e || (unsigned)c >= _PT_HIST_MAX)
		return 0;
	return e->total[c];
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > INT64_MAX - (b > INT64_MAX ? INT64_MAX : b) ? INT64_MAX : a + b;
}

void pt_history_act_add(struct pt_history *h, const char *user, uint64_t cpu_usec,
			uint64_t mem_peak)
{
	struct entry *e = get(h, PT_HIST_USER, user);

	if (!e)
		return;
	e->act.runs = sat_add(e->act.runs, 1);
	e->act.cpu_usec = sat_add(e->act.cpu_usec, cpu_usec);
	if (mem_peak > e->act.mem_peak)
		e->act.mem_peak = mem_peak > INT64_MAX ? INT64_MAX : mem_peak;
	e->act_unjournaled = true;
	h->dirty = h->unjournaled = true;
}

struct pt_hist_act pt_history_act(const struct pt_history *h, const char *user)
{
	const struct entry *e = lookup(h, PT_HIST_USER, user);
	struct pt_hist_act none = { 0 };

	return e ? e->act : none;
}

bool pt_history_rate_take(struct pt_history *h, const char *user, uint32_t n, uint64_t period,
			  uint64_t now_ms)
{
	struct entry *e;

	if (n == 0 || period == 0)
		return true;
	e = get(h, PT_HIST_USER, user);
	if (!e)
		return false; /* cannot track: refuse rather than allow unlimited */
	/* the period in ms; beyond ten thousand years (unreachable from the
	 * config) it saturates, which only slows the refill */
	return pt_ratelimit_take(&e->bucket, n,
				 period > UINT64_MAX / 1000 ? UINT64_MAX : period * 1000, now_ms);
}

/* ------------------------------------------------------------------ life */

static void table_clear(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

void pt_history_free(struct pt_history *h)
{
	if (!h)
		return;
	table_clear(&h->t[0]);
	table_clear(&h->t[1]);
	free(h->path);
	free(h);
}

/* ------------------------------------------------------------------ JSON */

static json_object *counters(const void *v, bool wide)
{
	json_object *a = json_object_new_array_ext(_PT_HIST_MAX);

	if (!a)
		return NULL;
	for (int i = 0; i < _PT_HIST_MAX; i++) {
		int64_t x = wide ? (int64_t)((const uint64_t *)v)[i] :
				   (int64_t)((const uint32_t *)v)[i];
		json_object *e = json_object_new_int64(x);
		if (!e || json_object_array_add(a, e) != 0) {
			json_object_put(e);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

int pt_history_to_json(const struct pt_history *h, char **ret)
{
	static const char *const keys[2] = { "users", "actors" };
	json_object *o;
	const char *s;
	char *out;
	int r = -ENOMEM;

	if (!h || !ret)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	if (json_object_object_add(o, "v", json_object_new_int(HISTORY_VERSION)) != 0)
		goto out;
	for (int k = 0; k < 2; k++) {
		json_object *arr = json_object_new_array_ext((int)h->t[k].n);

		if (!arr || json_object_object_add(o, keys[k], arr) != 0) {
			json_object_put(arr);
			goto out;
		}
		for (size_t i = 0; i < h->t[k].n; i++) {
			const struct entry *e = &h->t[k].v[i];
			json_object *eo = json_object_new_object();

			if (!eo || json_object_array_add(arr, eo) != 0) {
				json_object_put(eo);
				goto out;
			}
			json_object *f[4] = { json_object_new_string(e->name),
					      json_object_new_int64(e->day),
					      counters(e->today, false), counters(e->total, true) };
			static const char *const names[4] = { "name", "day", "today", "total" };
			bool ok = true;

			for (int j = 0; j < 4; j++) {
				if (ok && f[j] && json_object_object_add(eo, names[j], f[j]) == 0)
					continue;
				ok = false;
				json_object_put(f[j]);
			}
			if (!ok)
				goto out;
			if (e->act.runs) {
				const uint64_t av[3] = { e->act.runs, e->act.cpu_usec,
							 e->act.mem_peak };
				json_object *a = json_object_new_array_ext(3);

				if (!a || json_object_object_add(eo, "act", a) != 0) {
					json_object_put(a);
					goto out;
				}
				for (int j = 0; j < 3; j++) {
					json_object *x = json_object_new_int64((int64_t)av[j]);

					if (!x || json_object_array_add(a, x) != 0) {
						json_object_put(x);
						goto out;
					}
				}
			}
		}
	}
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

static int get_uint(json_object *v, uint64_t max, uint64_t *ret)
{
	int64_t i;

	if (!v || !json_object_is_type(v, json_type_int))
		return -EINVAL;
	i = json_object_get_int64(v);
	if (i < 0 || (uint64_t)i > max)
		return -EINVAL;
	*ret = (uint64_t)i;
	return 0;
}

static int parse_counters(json_object *a, void *dst, bool wide)
{
	uint64_t x;

	if (!a || !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) != _PT_HIST_MAX)
		return -EINVAL;
	for (int i = 0; i < _PT_HIST_MAX; i++) {
		if (get_uint(json_object_array_get_idx(a, (size_t)i), wide ? INT64_MAX : UINT32_MAX,
			     &x) < 0)
			return -EINVAL;
		if (wide)
			((uint64_t *)dst)[i] = x;
		else
			((uint32_t *)dst)[i] = (uint32_t)x;
	}
	return 0;
}

static int parse_entry(struct pt_history *h, int kind, json_object *eo)
{
	json_object *name, *day, *today, *total, *act = NULL;
	uint64_t d, av[3] = { 0 };
	struct entry *e;
	const char *s;
	bool found, has_act;

	if (!json_object_is_type(eo, json_type_object))
		return -EINVAL;
	has_act = json_object_object_get_ex(eo, "act", &act);
	if (has_act) {
		/* [runs, cpu_usec, mem_peak], users only, runs > 0 (as written) */
		if (kind != PT_HIST_USER || !json_object_is_type(act, json_type_array) ||
		    json_object_array_length(act) != 3)
			return -EINVAL;
		for (int i = 0; i < 3; i++)
			if (get_uint(json_object_array_get_idx(act, (size_t)i), INT64_MAX, &av[i]) <
			    0)
				return -EINVAL;
		if (av[0] == 0)
			return -EINVAL;
	}
	if (json_object_object_length(eo) != (has_act ? 5 : 4) ||
	    !json_object_object_get_ex(eo, "name", &name) ||
	    !json_object_object_get_ex(eo, "day", &day) ||
	    !json_object_object_get_ex(eo, "today", &today) ||
	    !json_object_object_get_ex(eo, "total", &total) ||
	    !json_object_is_type(name, json_type_string))
		return -EINVAL;
	s = json_object_get_string(name);
	if (!s || strlen(s) != (size_t)json_object_get_string_len(name) || !pt_name_valid(s))
		return -EINVAL;
	find(&h->t[kind], s, &found);
	if (found || get_uint(day, UINT32_MAX, &d) < 0)
		return -EINVAL; /* duplicates are an error */
	e = get(h, (enum pt_hist_kind)kind, s);
	if (!e)
		return h->t[kind].n >= PT_HIST_MAX_ENTRIES ? -EINVAL : -ENOMEM;
	e->day = (uint32_t)d;
	if (parse_counters(today, e->today, false) < 0 || parse_counters(total, e->total, true) < 0)
		return -EINVAL;
	e->act = (struct pt_hist_act){ av[0], av[1], av[2] };
	return 0;
}

int pt_history_from_json(const char *json, size_t len, struct pt_history **ret)
{
	static const char *const keys[2] = { "users", "actors" };
	struct pt_history *h = NULL;
	json_object *o = NULL, *v;
	uint64_t ver;
	int r;

	if (!ret)
		return -EINVAL;
	r = pt_json_parse_strict(json, len, HISTORY_JSON_MAX, 5, &o);
	if (r < 0)
		return r;
	r = -EINVAL;
	if (!json_object_is_type(o, json_type_object) || json_object_object_length(o) != 3 ||
	    !json_object_object_get_ex(o, "v", &v) || get_uint(v, UINT32_MAX, &ver) < 0 ||
	    ver != HISTORY_VERSION)
		goto out;
	h = calloc(1, sizeof(*h));
	if (!h) {
		r = -ENOMEM;
		goto out;
	}
	for (int k = 0; k < 2; k++) {
		size_t n;

		r = -EINVAL;
		if (!json_object_object_get_ex(o, keys[k], &v) ||
		    !json_object_is_type(v, json_type_array))
			goto out;
		n = json_object_array_length(v);
		for (size_t i = 0; i < n; i++) {
			r = parse_entry(h, k, json_object_array_get_idx(v, i));
			if (r < 0)
				goto out;
		}
	}
	*ret = h;
	h = NULL;
	r = 0;
out:
	pt_history_free(h);
	json_object_put(o);
	return r;
}

/* ------------------------------------------------------------------ file */

static int parse_file(const char *text, size_t len, void *u)
{
	return pt_history_from_json(text, len, u);
}

int pt_history_open(const char *path, struct pt_history **ret, bool *ret_bad)
{
	struct pt_history *h = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	if (ret_bad)
		*ret_bad = false;
	if (path && (r = pt_state_read(path, HISTORY_JSON_MAX, parse_file, &h, ret_bad)) < 0)
		return r;
	if (!h && !(h = calloc(1, sizeof(*h))))
		return -ENOMEM;
	if (path && !(h->path = strdup(path))) {
		pt_history_free(h);
		return -ENOMEM;
	}
	*ret = h;
	return 0;
}

int pt_history_flush(struct pt_history *h)
{
	char *json = NULL;
	int r;

	if (!h || !h->path || !h->dirty)
		return 0;
	r = pt_history_to_json(h, &json);
	if (r < 0)
		return r;
	r = pt_state_write(h->path, json);
	if (r >= 0) {
		/* written, even when the directory sync failed (r > 0) */
		h->dirty = h->unjournaled = false;
		for (int k = 0; k < 2; k++)
			for (size_t i = 0; i < h->t[k].n; i++)
				h->t[k].v[i].unjournaled = h->t[k].v[i].act_unjournaled = false;
	}
	return r;
}

bool pt_history_pending(const struct pt_history *h)
{
	return h && h->path && h->unjournaled;
}

static uint64_t total_sum(const uint64_t *t)
{
	uint64_t s = 0;

	for (int i = 0; i < _PT_HIST_MAX; i++)
		s += t[i];
	return s;
}

int pt_history_journal(struct pt_history *h, struct pt_journal *j)
{
	int r = 0;

	if (!h || !j)
		return -EINVAL;
	if (!h->unjournaled)
		return 0;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < h->t[k].n; i++) {
			struct entry *e = &h->t[k].v[i];
			char line[PT_JOURNAL_LINE_MAX];
			int q;

			if (e->act_unjournaled) {
				snprintf(line, sizeof(line),
					 "A %s %" PRIu64 " %" PRIu64 " %" PRIu64, e->name,
					 e->act.runs, e->act.cpu_usec, e->act.mem_peak);
				q = pt_journal_add(j, line);
				if (q < 0 && r == 0)
					r = q;
				if (q >= 0)
					e->act_unjournaled = false;
			}
			if (!e->unjournaled)
				continue;
			snprintf(line, sizeof(line),
				 "H %d %s %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32
				 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
				 k, e->name, e->day, e->today[0], e->today[1], e->today[2],
				 e->today[3], e->total[0], e->total[1], e->total[2], e->total[3]);
			q = pt_journal_add(j, line);
			if (q < 0) {
				if (r == 0)
					r = q;
				continue;
			}
			e->unjournaled = false;
		}
	if (r == 0)
		h->unjournaled = false;
	return r;
}

/* "A <user> <runs> <cpu_usec> <mem_peak>": applied when it has more runs. */
static int replay_act(struct pt_history *h, const char *line)
{
	char name[256];
	unsigned long long v[3];
	struct entry *e;
	int end = 0;

	if (sscanf(line, "A %255s %llu %llu %llu%n", name, &v[0], &v[1], &v[2], &end) != 4 ||
	    line[end] || v[0] == 0 || v[0] > INT64_MAX || v[1] > INT64_MAX || v[2] > INT64_MAX)
		return -EINVAL;
	e = get(h, PT_HIST_USER, name); /* NULL for an invalid name */
	if (!e || v[0] <= e->act.runs)
		return 0; /* the file has this or later */
	e->act = (struct pt_hist_act){ v[0], v[1], v[2] };
	h->dirty = true;
	return 1;
}

int pt_history_replay(struct pt_history *h, const char *line)
{
	char name[256];
	unsigned long long v[2 + 2 * _PT_HIST_MAX];
	struct entry *e;
	int kind, end = 0;

	if (!h || !line)
		return -EINVAL;
	if (line[0] == 'A' && line[1] == ' ')
		return replay_act(h, line);
	if (line[0] != 'H' || line[1] != ' ')
		return 0;
	if (sscanf(line, "H %d %255s %llu %llu %llu %llu %llu %llu %llu %llu %llu%n", &kind, name,
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &end) != 11 ||
	    line[end] || (kind != PT_HIST_USER && kind != PT_HIST_ACTOR) || v[0] > UINT32_MAX)
		return -EINVAL;
	for (int i = 0; i < _PT_HIST_MAX; i++)
		if (v[1 + i] > UINT32_MAX || v[1 + _PT_HIST_MAX + i] > INT64_MAX)
			return -EINVAL;
	e = get(h, (enum pt_hist_kind)kind, name); /* NULL for an invalid name */
	if (!e)
		return 0;
	{
		uint64_t tot[_PT_HIST_MAX];

		for (int i = 0; i < _PT_HIST_MAX; i++)
			tot[i] = v[1 + _PT_HIST_MAX + i];
		if (total_sum(tot) <= total_sum(e->total))
			return 0; /* the file has this or later */
		e->day = (uint32_t)v[0];
		for (int i = 0; i < _PT_HIST_MAX; i++) {
			e->today[i] = (uint32_t)v[1 + i];
			e->total[i] = tot[i];
		}
	}
	h->dirty = true;
	return 1;
}
