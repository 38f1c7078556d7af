/* SPDX-License-Identifier: MIT */
/* Recommendations from the usage history (see recommend.h). */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "recommend.h"

#define DAY 86400u

uint64_t pt_rec_window(const struct pt_config *cfg, uint32_t days)
{
	uint64_t w = (uint64_t)(days ? days : cfg->usage_unused_days) * DAY;

	return w > cfg->usage_observation ? w : cfg->usage_observation;
}

enum pt_rec_pair_state pt_rec_pair(const struct pt_config *cfg, const struct pt_usage_entry *pair,
				   uint64_t now)
{
	if (pair->base)
		return PT_REC_FULL;
	if (!pair->first || now < pair->first || now - pair->first < cfg->usage_observation)
		return PT_REC_OBSERVING;
	return PT_REC_READY;
}

void pt_rec_id(const char *user, const char *holder, char kind, const char *name, char ret[16])
{
	unsigned char md[EVP_MAX_MD_SIZE] = { 0 };
	char buf[3 * 256 + 8];
	unsigned int len = 0;
	int n;

	/* names are at most 255 bytes: "user\0holder\0k\0name" always fits */
	n = snprintf(buf, sizeof(buf), "%s%c%s%c%c%c%s", user, 0, holder, 0, kind, 0, name);
	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    EVP_Digest(buf, (size_t)n, md, &len, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md)); /* unreachable for valid names */
	snprintf(ret, 16, "rec-%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

static void date_of(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d", &tm))
		snprintf(buf, len, "%" PRIu64, t);
}

struct pt_rec_baseline {
	const struct pt_usage_entry **items; /* by (holder, kind, name) */
	uint32_t *used;			     /* per item: its group's users who used it */
	size_t n_items;
	const struct pt_usage_entry **pairs; /* by holder */
	uint32_t *users;		     /* per pair: its holder's pairs */
	size_t n_pairs;
};

static int by_item(const void *a, const void *b)
{
	const struct pt_usage_entry *x = *(const struct pt_usage_entry *const *)a;
	const struct pt_usage_entry *y = *(const struct pt_usage_entry *const *)b;
	int c = strcmp(x->holder, y->holder);

	if (c == 0)
		c = (unsigned char)x->kind - (unsigned char)y->kind;
	return c ? c : strcmp(x->name, y->name);
}

static int by_holder(const void *a, const void *b)
{
	return strcmp((*(const struct pt_usage_entry *const *)a)->holder,
		      (*(const struct pt_usage_entry *const *)b)->holder);
}

void pt_rec_baseline_free(struct pt_rec_baseline *b)
{
	if (!b)
		return;
	free(b->items);
	free(b->used);
	free(b->pairs);
	free(b->users);
	free(b);
}

int pt_rec_baseline_new(const struct pt_usage *u, uint64_t since, struct pt_rec_baseline **ret)
{
	struct pt_rec_baseline *b = calloc(1, sizeof(*b));
	size_t n = pt_usage_count(u);

	if (!b || (n && (!(b->items = calloc(n, sizeof(*b->items))) ||
			 !(b->used = calloc(n, sizeof(*b->used))) ||
			 !(b->pairs = calloc(n, sizeof(*b->pairs))) ||
			 !(b->users = calloc(n, sizeof(*b->users)))))) {
		pt_rec_baseline_free(b);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct pt_usage_entry *e = pt_usage_at(u, i);

		if (e->kind == PT_USAGE_PAIR)
			b->pairs[b->n_pairs++] = e;
		else if (e->kind == PT_USAGE_ENT || e->kind == PT_USAGE_GROUP)
			b->items[b->n_items++] = e;
	}
	/* (qsort of an empty, NULL array is undefined behaviour) */
	if (b->n_items)
		qsort(b->items, b->n_items, sizeof(*b->items), by_item);
	if (b->n_pairs)
		qsort(b->pairs, b->n_pairs, sizeof(*b->pairs), by_holder);
	/* each run of one (holder, kind, name): its count of recent users */
	for (size_t i = 0, j; i < b->n_items; i = j) {
		uint32_t used = 0;

		for (j = i; j < b->n_items && by_item(&b->items[i], &b->items[j]) == 0; j++)
			used += b->items[j]->count && b->items[j]->last >= since;
		for (size_t k = i; k < j; k++)
			b->used[k] = used;
	}
	for (size_t i = 0, j; i < b->n_pairs; i = j) {
		for (j = i; j < b->n_pairs && by_holder(&b->pairs[i], &b->pairs[j]) == 0; j++)
			;
		for (size_t k = i; k < j; k++)
			b->users[k] = j - i > UINT32_MAX ? UINT32_MAX : (uint32_t)(j - i);
	}
	*ret = b;
	return 0;
}

/* The first index of the sorted array v (n) not below key, by cmp. */
static size_t lower(const struct pt_usage_entry **v, size_t n, const struct pt_usage_entry *key,
		    int (*cmp)(const void *, const void *))
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp(&v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void baseline(const struct pt_rec_baseline *b, const struct pt_usage_entry *item,
		     uint32_t *ret_used, uint32_t *ret_users)
{
	size_t i;

	*ret_used = *ret_users = 0;
	if (!b)
		return;
	i = lower(b->items, b->n_items, item, by_item);
	if (i < b->n_items && by_item(&b->items[i], &item) == 0)
		*ret_used = b->used[i];
	i = lower(b->pairs, b->n_pairs, item, by_holder);
	if (i < b->n_pairs && strcmp(b->pairs[i]->holder, item->holder) == 0)
		*ret_users = b->users[i];
}

void pt_rec_judge(const struct pt_config *cfg, const struct pt_usage *u,
		  const struct pt_rec_baseline *b, const struct pt_usage_entry *pair,
		  const struct pt_usage_entry *item, uint64_t window, uint64_t now,
		  struct pt_rec_item *ret)
{
	bool group = item->kind == PT_USAGE_GROUP;
	uint64_t since = now > window ? now - window : 0, wdays = window / DAY;
	const struct pt_usage_entry *cur;
	const struct pt_rule *rule;
	char last[32];

	memset(ret, 0, sizeof(*ret));
	pt_rec_id(item->user, item->holder, item->kind, item->name, ret->id);
	ret->redemptions = pair->count > item->base ? pair->count - item->base : 0;
	ret->days = now > item->first ? (now - item->first) / DAY : 0;
	baseline(b, item, &ret->base_used, &ret->base_users);
	date_of(item->last, last, sizeof(last));
	rule = pt_policy_curtailer(cfg, item->user, item->holder, group, item->name, NULL);
	cur = pt_usage_curtailed(u, item->user, item->holder, item->kind, item->name);
	if (rule || cur) {
		ret->verdict = PT_REC_CURTAILED;
		ret->by = rule ? rule->name : cur->id;
		snprintf(ret->note, sizeof(ret->note), "%s",
			 rule ? (rule->note ? rule->note : "a curtail rule") : cur->note);
		return;
	}
	if (item->count && item->last >= since) {
		ret->verdict = PT_REC_KEEP_USED;
		snprintf(ret->note, sizeof(ret->note),
			 "used %" PRIu64 " times in %" PRIu64 " redemptions over %" PRIu64
			 " days, last %s (%" PRIu64 " days ago)",
			 item->count, ret->redemptions, ret->days, last,
			 now > item->last ? (now - item->last) / DAY : 0);
		return;
	}
	if (item->first > since) {
		ret->verdict = PT_REC_KEEP_NEW;
		snprintf(ret->note, sizeof(ret->note),
			 "granted for %" PRIu64 " days only, less than the window of %" PRIu64
			 " days",
			 ret->days, wdays);
		return;
	}
	if (pair->last < since) {
		/* no redemption within the window: nothing tells used from unused
		 * (a job that stopped, or a wall clock stepped forward — then
		 * everything would look unused at once) */
		ret->verdict = PT_REC_KEEP_NEW;
		snprintf(ret->note, sizeof(ret->note),
			 "no redemption in the last %" PRIu64 " days: no evidence to judge by",
			 wdays);
		return;
	}
	ret->verdict = PT_REC_REMOVE;
	if (!item->count)
		snprintf(ret->note, sizeof(ret->note),
			 "used 0 times in %" PRIu64 " redemptions over %" PRIu64 " days",
			 ret->redemptions, ret->days);
	else
		snprintf(ret->note, sizeof(ret->note),
			 "used 0 times in the last %" PRIu64 " days (%" PRIu64 " times in %" PRIu64
			 " redemptions over %" PRIu64 " days, last %s)",
			 wdays, item->count, ret->redemptions, ret->days, last);
}
