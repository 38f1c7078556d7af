/* SPDX-License-Identifier: MIT */
/*
 * Recommendations from the usage history (usage.h): which entitlements and
 * groups a user's jobs for a holder did not use, as one pure decision that
 * pertokctl recommend, auto_curtail and explain all call. The method
 * (man/pertokctl.8, RECOMMEND):
 *
 * - a pair (user, holder) is judged only once it has been observed for
 *   usage.observation (since its first redemption seen) and while its
 *   history is not full;
 * - the window is the larger of the days asked (usage.unused_days by
 *   default) and the observation period;
 * - an entitlement or group is proposed for removal when it was granted
 *   for at least the whole window and reported used 0 times within it (its
 *   last use, if any, is older); anything used within the window, or seen
 *   for less than it, is kept; what a curtail rule or a curtailment already
 *   removes is shown as curtailed;
 * - evidence: redemptions that carried it, days observed, total uses and
 *   last use, and the holder's baseline: how many of the holder's users used
 *   it within the window.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "usage.h"

enum pt_rec_verdict {
	PT_REC_KEEP_USED, /* used within the window */
	PT_REC_KEEP_NEW,  /* granted for less than the window */
	PT_REC_REMOVE,	  /* proposed for removal */
	PT_REC_CURTAILED, /* already removed (a curtail rule or a curtailment) */
};

enum pt_rec_pair_state {
	PT_REC_READY,
	PT_REC_OBSERVING, /* observed for less than usage.observation */
	PT_REC_FULL,	  /* its history reached the cap: no proposal */
};

struct pt_rec_item {
	enum pt_rec_verdict verdict;
	char id[16];			/* "rec-" + 8 hex: stable for (user, holder, kind, name) */
	const char *by;			/* CURTAILED: the rule's or curtailment's id */
	uint64_t redemptions;		/* that carried it (since it was first seen) */
	uint64_t days;			/* since it was first seen */
	uint32_t base_used, base_users; /* holder baseline: users who used it / all */
	char note[300];			/* "used 0 times in 412 redemptions over 60 days" */
};

/* The window in seconds for days (0: usage.unused_days). */
uint64_t pt_rec_window(const struct pt_config *cfg, uint32_t days);
/* The state of pair (a PT_USAGE_PAIR entry) at now. */
enum pt_rec_pair_state pt_rec_pair(const struct pt_config *cfg, const struct pt_usage_entry *pair,
				   uint64_t now);
/* The holders' baselines at since (now - window), computed once for a
 * whole recommendation in O(n log n): for each (holder, kind, name), how
 * many of the holder's users used it since then, and how many users the
 * holder has. The entries of u must not change while it is used. */
struct pt_rec_baseline;
int pt_rec_baseline_new(const struct pt_usage *u, uint64_t since, struct pt_rec_baseline **ret);
void pt_rec_baseline_free(struct pt_rec_baseline *b);

/* The verdict on item (an entitlement or group entry of pair); b may be
 * NULL (no baseline: 0 of 0). */
void pt_rec_judge(const struct pt_config *cfg, const struct pt_usage *u,
		  const struct pt_rec_baseline *b, const struct pt_usage_entry *pair,
		  const struct pt_usage_entry *item, uint64_t window, uint64_t now,
		  struct pt_rec_item *ret);
/* "rec-" + 8 hex digits of SHA-256(user, holder, kind, name). */
void pt_rec_id(const char *user, const char *holder, char kind, const char *name, char ret[16]);
