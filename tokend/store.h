/* SPDX-License-Identifier: MIT */
/*
 * The persistable-token store: one file per token under STATE_DIR/tokens/,
 * each AEAD-encrypted (AES-256-GCM) under the store key. Writes are
 * write-to-temp + fsync + rename + fsync(dir): an acknowledged put survives
 * kill -9 and power loss, and a crash never leaves a half-written token.
 * A token's file name is derived from its slot (user + holder), so renewal
 * replaces the old token atomically with the rename.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aead.h"
#include "journal.h"
#include "record.h"

struct pt_store;

/* Opens (creating STATE_DIR/tokens 0700 if needed) and loads every token.
 * Files that fail to decrypt or parse are left in place, not loaded, and
 * counted in *ret_bad (may be NULL). Returns 0 or -errno. */
int pt_store_open(const char *state_dir, const uint8_t key[PT_STORE_KEYLEN], struct pt_store **ret,
		  size_t *ret_bad);
void pt_store_free(struct pt_store *s);

/* Durably stores rec (takes ownership on success; on failure the caller
 * still owns it and the store is unchanged). If a token for the same slot
 * (user, holder) exists it is replaced in the same rename and *ret_replaced
 * is set to true.
 * Once the rename is done the put has taken effect and returns 0, even when
 * the directory fsync that follows fails: the new file is in place, visible
 * and survives a crash of tokend (only a power loss might undo the rename).
 * Reporting a failure for a change that happened would be a lie that callers
 * act on (a retried exchange, an "error" for a revocation that revoked); the
 * failure is kept instead, the sync retried by every pt_store_flush, and
 * pt_store_sync_failure reports it once for the log. */
int pt_store_put(struct pt_store *s, struct pt_record *rec, bool *ret_replaced);
/* Durably removes by id. -ENOENT if absent. A failed directory sync after the
 * unlink is treated as in pt_store_put. */
int pt_store_remove(struct pt_store *s, const char *id);

struct pt_record *pt_store_find_id(struct pt_store *s, const char *id);
struct pt_record *pt_store_find_slot(struct pt_store *s, const char *user, const char *holder);
size_t pt_store_count(const struct pt_store *s);
/* The user's tokens, except those housekeeping found dead (expired or idle)
 * and keeps only for expire_grace: they no longer count towards
 * max_outstanding, as when they were removed at once. */
size_t pt_store_count_user(const struct pt_store *s, const char *user);
struct pt_record *pt_store_at(struct pt_store *s, size_t i);

/* Marks rec's usage changed (uses, last_used; exp_moved: exp too). */
void pt_store_touch(struct pt_store *s, struct pt_record *rec, bool exp_moved);
/* Is a pt_store_touch not yet journaled? */
bool pt_store_pending(const struct pt_store *s);
/* Makes every pt_store_touch since the last call durable with the journal's
 * next sync: a line "T <id> <uses> <last_used>" queued in j per record, and
 * the record's file rewritten now when its expiry moved (expiry is kept only
 * in the sealed file). 0 or -errno (what failed stays pending). */
int pt_store_journal(struct pt_store *s, struct pt_journal *j);
/* Applies one journal line when it is a "T" line of a token in the store
 * and raises its counters (then the record is dirty). Returns 1 when
 * applied, 0 when not (another kind of line, an unknown id, older values),
 * -EINVAL when malformed. */
int pt_store_replay(struct pt_store *s, const char *line);
/* Every rename and unlink so far is synced in the directory? */
bool pt_store_synced(const struct pt_store *s);
/* Writes every dirty record (usage counters), then syncs the directory once
 * (and retries a directory sync that failed before). 0 or the first -errno
 * of a record that could not be written (it stays dirty). */
int pt_store_flush(struct pt_store *s);
/* The errno of a directory sync that failed and was not reported before (it
 * is reported once per failure episode), or 0. */
int pt_store_sync_failure(struct pt_store *s);

/* Paging (LIST): a cursor names an entry's position in the store's order
 * (32 hex characters); pt_store_seek gives the index after it ("" = 0),
 * -EINVAL for a malformed cursor. Entries added or removed between two pages
 * do not make a page skip or repeat the others. */
#define PT_STORE_CURSOR_LEN 33
int pt_store_seek(const struct pt_store *s, const char *cursor, size_t *ret);
void pt_store_cursor(const struct pt_store *s, size_t i, char ret[PT_STORE_CURSOR_LEN]);
