/* SPDX-License-Identifier: MIT */
/*
 * Entitlement and group usage per user and holder (issue 13: least privilege
 * from evidence). Bounded counters, not a log of every use:
 *
 * - a pair entry per (user, holder): redemptions seen, the first and the
 *   last; "full" once an item of the pair could not be recorded (the cap);
 * - an item per (user, holder, entitlement) and (user, holder, group) that a
 *   redemption granted or a signal reported: when it was first granted, the
 *   pair's redemptions then (so "R redemptions carried it" is the pair's
 *   count minus that), how often it was reported used and when last;
 * - a curtailment per recommendation that auto_curtail applied (usage {
 *   auto_curtail }): its id "rec-<hex>", what it removes, its note, when it
 *   was applied and whether it was reverted (pertokctl recommend --revert).
 *
 * Caps: max_per_user entries per user (all holders; usage.max_entries_per_user)
 * and PT_USAGE_MAX_ENTRIES in all. A new entry beyond a cap is refused (never
 * an old one dropped: dropping the evidence of a use could make a later
 * recommendation remove what is used); the pair is then marked full and no
 * recommendation is made for it.
 *
 * Durable like history.h: the changes of an event-loop round go to the usage
 * journal ("U" lines, journal.h) before the round's replies; written
 * atomically to STATE_DIR/usage.json by pt_usage_flush and read back at
 * start. A damaged file is kept as usage.json.bad and ignored (observation
 * starts again; a curtailment applied by auto_curtail is then no longer
 * applied).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pt_usage_kind {
	PT_USAGE_PAIR = 'r',	  /* (user, holder): name "" */
	PT_USAGE_ENT = 'e',	  /* an entitlement */
	PT_USAGE_GROUP = 'g',	  /* a supplementary group */
	PT_USAGE_CURTAIL_E = 'x', /* auto_curtail removed entitlement name */
	PT_USAGE_CURTAIL_G = 'y', /* auto_curtail removed group name */
};

#define PT_USAGE_MAX_ENTRIES 65536
#define PT_USAGE_DEFAULT_PER_USER 256
#define PT_USAGE_NOTE_MAX 400

struct pt_usage_entry {
	char *user, *holder, *name; /* name: "" for a pair */
	char kind;		    /* enum pt_usage_kind */
	/* pair: first redemption seen, redemptions, last redemption, 1 when full;
	 * item: first granted or reported, uses reported, last use (0: never), the
	 * pair's redemptions when first seen;
	 * curtailment: applied at, 1 when reverted, reverted at, redemptions then */
	uint64_t first, count, last, base;
	char *note; /* curtailment: why (NULL otherwise) */
	char id[16];
	bool unjournaled;
};

struct pt_usage;

/* path: STATE_DIR/usage.json (NULL: memory only); max_per_user: 0 for the
 * default. A file that cannot be parsed is ignored and *ret_bad set. */
int pt_usage_open(const char *path, uint32_t max_per_user, struct pt_usage **ret, bool *ret_bad);
void pt_usage_free(struct pt_usage *u);
/* Drops the entries of each user and holder seen last before `before`
 * (wall clock s) and holding no curtailment: a user gone (a reaped remote
 * principal, a deleted account) no longer holds part of the cap in all.
 * Observation of a pair dropped starts again. Returns the entries dropped;
 * the file is rewritten at the next flush. */
size_t pt_usage_prune(struct pt_usage *u, uint64_t before);

void pt_usage_set_cap(struct pt_usage *u, uint32_t max_per_user);

/* An allowed redemption of user's token for holder at now that granted
 * ents and groups: counted on the pair, each not yet seen recorded. 0, or
 * -ENOSPC when a cap kept something from being recorded (the pair is then
 * full), -ENOMEM, -EINVAL (an invalid name). */
int pt_usage_redeemed(struct pt_usage *u, const char *user, const char *holder, char *const *ents,
		      size_t n_ents, char *const *groups, size_t n_groups, uint64_t now);
/* A reported use of entitlement or group (kind) name. 0, -ENOSPC (cap:
 * not recorded, the pair is full), -ENOMEM, -EINVAL. */
int pt_usage_used(struct pt_usage *u, const char *user, const char *holder, char kind,
		  const char *name, uint64_t now);

/* Curtailments (auto_curtail): records one (id "rec-<hex>"), applied at now;
 * -EEXIST when id is already there (applied or reverted). */
int pt_usage_curtail(struct pt_usage *u, const char *id, const char *user, const char *holder,
		     char kind, const char *name, const char *note, uint64_t redemptions,
		     uint64_t now);
/* Marks curtailment id reverted: 0, -ENOENT (none), -EALREADY (reverted). */
int pt_usage_revert(struct pt_usage *u, const char *id, uint64_t now,
		    const struct pt_usage_entry **ret);
/* The active curtailment removing kind name for user and holder, or NULL. */
const struct pt_usage_entry *pt_usage_curtailed(const struct pt_usage *u, const char *user,
						const char *holder, char kind, const char *name);

const struct pt_usage_entry *pt_usage_find(const struct pt_usage *u, const char *user,
					   const char *holder, char kind, const char *name);
/* Entries in (user, holder, kind, name) order; NULL past the end. */
size_t pt_usage_count(const struct pt_usage *u);
const struct pt_usage_entry *pt_usage_at(const struct pt_usage *u, size_t i);
/* Entries of user (all holders). */
size_t pt_usage_user_entries(const struct pt_usage *u, const char *user);

/* As pt_history_flush / pending / journal / replay ("U" lines). */
int pt_usage_flush(struct pt_usage *u);
bool pt_usage_pending(const struct pt_usage *u);
struct pt_journal;
int pt_usage_journal(struct pt_usage *u, struct pt_journal *j);
int pt_usage_replay(struct pt_usage *u, const char *line);

/* Serialisation (exposed for tests and the fuzzer): the decoder rejects
 * malformed input with a message in err (errlen bytes; may be NULL). */
int pt_usage_to_json(const struct pt_usage *u, char **ret);
int pt_usage_from_json(const char *json, size_t len, uint32_t max_per_user, struct pt_usage **ret,
		       char *err, size_t errlen);
