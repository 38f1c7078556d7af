/* SPDX-License-Identifier: MIT */
/*
 * The usage journal: an append-only file of text lines, one per change of a
 * usage counter (store.h: a token's uses and last_used; history.h: a user's
 * or an actor's counters), each the counter's new absolute value. tokend
 * appends the lines of one event-loop round and syncs them with one
 * fdatasync before the replies of that round go out (group commit), so a
 * counted use survives a crash without rewriting the token files and
 * history.json for every redemption. With audit sync = "batch" the lines
 * are written before the replies and synced every few seconds, like the
 * audit records. Housekeeping writes those files and
 * then empties the journal; at start the lines are replayed over what the
 * files say, which is idempotent (a line only ever raises a counter).
 *
 * A line cut by a crash (no final newline) was never acknowledged and is
 * ignored. The journal is not authenticated: it lives in the root-only state
 * directory, and replaying it can only raise counters (deny more, never
 * allow more); expiry times are never journaled (a moved expiry rewrites the
 * sealed token file before its reply).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PT_JOURNAL_LINE_MAX 1024

struct pt_journal;

/* Opens (creating it 0600) the journal at path. 0 or -errno. */
int pt_journal_open(const char *path, struct pt_journal **ret);
void pt_journal_free(struct pt_journal *j);

/* Calls fn for every complete line (NUL-terminated, without its newline,
 * modifiable) in file order; an over-long line is skipped. 0 or -errno. */
int pt_journal_replay(struct pt_journal *j, void (*fn)(void *u, char *line), void *u);

/* Queues one line (no newline in it) for the next pt_journal_sync.
 * 0 or -errno (-EINVAL: empty, too long or holding a newline). */
int pt_journal_add(struct pt_journal *j, const char *line);

/* Lines queued and not yet written? */
bool pt_journal_pending(const struct pt_journal *j);
/* Lines queued, or written and not known to be on disk? */
bool pt_journal_unsynced(const struct pt_journal *j);

/* Writes the queued lines (they survive a crash of tokend, not a power
 * loss). On failure the file is cut back to its last good length and the
 * lines stay queued. 0 or -errno. */
int pt_journal_write(struct pt_journal *j);

/* pt_journal_write, then fdatasync when anything written is not yet on
 * disk. 0 or -errno (after a failed fdatasync the lines stay in the file
 * and the next sync tries again). */
int pt_journal_sync(struct pt_journal *j);

/* Empties the journal (everything in it is in the files now). Lines queued
 * and not synced stay queued. 0 or -errno. */
int pt_journal_reset(struct pt_journal *j);

/* Bytes on disk (for tests and status). */
size_t pt_journal_size(const struct pt_journal *j);
