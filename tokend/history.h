/* SPDX-License-Identifier: MIT */
/*
 * Usage history kept per user and per actor: requests, granted, redemptions
 * and failures, today (tokend's local day) and in total, plus each user's
 * issue-rate token bucket. Kept in memory; the changes of an event-loop
 * round go to the usage journal (journal.h) before the round's replies are
 * sent (a redemption counted against max_redemptions_per_day survives a
 * crash of tokend); written atomically to STATE_DIR/history.json by
 * pt_history_flush (housekeeping, stop) and read back at start. It is statistics, not a secret,
 * and a damaged file is ignored (counting starts again). Redeem rules use it
 * through max_redemptions_per_day, issue rules through rate.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pt_hist_counter {
	PT_HIST_REQUESTS = 0, /* mint, exchange, redeem requests decided */
	PT_HIST_GRANTED,      /* of which allowed */
	PT_HIST_REDEMPTIONS,  /* allowed redemptions */
	PT_HIST_FAILURES,     /* denied or failed */
	_PT_HIST_MAX,
};

enum pt_hist_kind {
	PT_HIST_USER = 0,
	PT_HIST_ACTOR = 1,
};

#define PT_HIST_MAX_ENTRIES 65536 /* per kind; names beyond are not counted */

struct pt_history;

/* path: the file (NULL: memory only). Loads it when it exists; a file that
 * cannot be parsed is ignored and *ret_bad (may be NULL) set. */
int pt_history_open(const char *path, struct pt_history **ret, bool *ret_bad);
void pt_history_free(struct pt_history *h);

/* Counts one event for name at time now (unix s; the day is local). */
void pt_history_add(struct pt_history *h, enum pt_hist_kind kind, const char *name,
		    enum pt_hist_counter c, uint64_t now);
/* The count of today (the local day of now) and the total. */
uint32_t pt_history_today(const struct pt_history *h, enum pt_hist_kind kind, const char *name,
			  enum pt_hist_counter c, uint64_t now);
uint64_t pt_history_total(const struct pt_history *h, enum pt_hist_kind kind, const char *name,
			  enum pt_hist_counter c);

/* What act-as runs cost a user (act.c, at act.end): the runs, their CPU time
 * (the cgroup's usage_usec, summed) and the largest memory peak (bytes). */
struct pt_hist_act {
	uint64_t runs;
	uint64_t cpu_usec;
	uint64_t mem_peak;
};

/* Counts one act-as run of user that used cpu_usec and peaked at mem_peak
 * bytes (sums saturate). */
void pt_history_act_add(struct pt_history *h, const char *user, uint64_t cpu_usec,
			uint64_t mem_peak);
/* The act-as figures of user (all zero when none). */
struct pt_hist_act pt_history_act(const struct pt_history *h, const char *user);

/* Token bucket of user (ratelimit.h): capacity n, refilled at n per period
 * seconds. Takes one token and returns true, or returns false when empty.
 * now_ms: milliseconds (any clock that does not jump back). */
bool pt_history_rate_take(struct pt_history *h, const char *user, uint32_t n, uint64_t period,
			  uint64_t now_ms);

/* Writes the file if anything changed since the last write: 0, a positive
 * errno when the file was replaced but its directory not synced, or -errno
 * (then it stays pending). */
int pt_history_flush(struct pt_history *h);
/* Changed since the last pt_history_journal or flush (and kept in a file)? */
bool pt_history_pending(const struct pt_history *h);
/* Queues in j a line "H <kind> <name> <day> <today x4> <total x4>" (the new
 * absolute values) per entry changed since the last call, and a line
 * "A <user> <runs> <cpu_usec> <mem_peak>" per user whose act-as figures
 * changed. 0 or -errno. */
struct pt_journal;
int pt_history_journal(struct pt_history *h, struct pt_journal *j);
/* Applies one journal line when it is an "H" line newer than the entry
 * (the sum of its totals is larger) or an "A" line with more runs than the
 * entry. 1 applied, 0 not, -EINVAL malformed. */
int pt_history_replay(struct pt_history *h, const char *line);

/* Serialisation (exposed for tests and the fuzzer). */
int pt_history_to_json(const struct pt_history *h, char **ret);
int pt_history_from_json(const char *json, size_t len, struct pt_history **ret);
