/* SPDX-License-Identifier: MIT */
/*
 * The persistable-token store: one LMDB database per key generation,
 * KEYDIR/tokens.mdb, holding each token AEAD-encrypted (AES-256-GCM) under
 * the store key, keyed by its slot (user + holder), so renewal replaces the
 * old token in the same transaction. Every change is one transaction
 * committed with a sync: an acknowledged put survives kill -9 and power
 * loss, and a crash never leaves a half-written token. tokend is its one
 * writer. The one-file-per-token directory of v0.1/v0.2 (KEYDIR/tokens/)
 * is imported by the first open (store.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aead.h"
#include "journal.h"
#include "record.h"

#define PT_STORE_FILE "tokens.mdb"
#define PT_STORE_LEGACY_DIR "tokens" /* v0.1/v0.2: one file per token */

struct pt_store;

/* Opens (creating STATE_DIR/tokens.mdb 0600 if needed; STATE_DIR must be
 * ours, it is made 0700 if looser) and loads every token, after importing
 * STATE_DIR/tokens/ if there is one (logged through tokend's log).
 * Records and files that fail to decrypt or parse are left in place, not
 * loaded, and counted in *ret_bad (may be NULL). Returns 0 or -errno. */
int pt_store_open(const char *state_dir, const uint8_t key[PT_STORE_KEYLEN], struct pt_store **ret,
		  size_t *ret_bad);
void pt_store_free(struct pt_store *s);
/* Did a commit fail for good (LMDB's MDB_PANIC after a failed write of its
 * meta page)? Then no change will commit again in this process: tokend must
 * stop (systemd starts it again, and the store reopens from its last
 * commit). */
bool pt_store_broken(const struct pt_store *s);

/* How many token files this open imported from STATE_DIR/tokens/. */
size_t pt_store_imported(const struct pt_store *s);
/* Key rotation: writes newdir/tokens.mdb with every record of s sealed
 * under key2 instead (those that do not decrypt are copied as they are and
 * counted in *ret_bad; so are token files that did not import). s is not
 * changed. 0 or -errno. */
int pt_store_rewrap(struct pt_store *s, const char *newdir, const uint8_t key2[PT_STORE_KEYLEN],
		    size_t *ret_n, size_t *ret_bad);

/* Durably stores rec (takes ownership on success; on failure the caller
 * still owns it and the store is unchanged). If a token for the same slot
 * (user, holder) exists it is replaced in the same transaction and
 * *ret_replaced is set to true. rec's strings are moved into one block
 * (pt_record_compact); rec itself stays where it is. */
int pt_store_put(struct pt_store *s, struct pt_record *rec, bool *ret_replaced);
/* Delegation: durably replaces the stored token of rec's id with rec,
 * which names another holder (so another slot), in one transaction (takes
 * ownership on success; on failure the caller still owns it and the store
 * is unchanged). -ENOENT when no token has rec's id, -EEXIST when the new
 * slot (user, holder) is taken by another token, -EINVAL when the slot is
 * the same. */
int pt_store_move(struct pt_store *s, struct pt_record *rec);
/* Durably removes by id. -ENOENT if absent. */
int pt_store_remove(struct pt_store *s, const char *id);

struct pt_record *pt_store_find_id(struct pt_store *s, const char *id);
struct pt_record *pt_store_find_slot(struct pt_store *s, const char *user, const char *holder);
size_t pt_store_count(const struct pt_store *s);
/* A counter that moves with every put, removal and moved expiry: what the
 * set of records (and their identities) may have changed by. Uses, last
 * use and refusals do not move it. */
uint64_t pt_store_changes(const struct pt_store *s);
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
 * the records whose expiry moved written now, in one transaction (expiry is
 * kept only in the sealed record). 0 or -errno (what failed stays pending). */
int pt_store_journal(struct pt_store *s, struct pt_journal *j);
/* Applies one journal line when it is a "T" line of a token in the store
 * and raises its counters (then the record is dirty). Returns 1 when
 * applied, 0 when not (another kind of line, an unknown id, older values),
 * -EINVAL when malformed. */
int pt_store_replay(struct pt_store *s, const char *line);
/* Is every change so far durable? Always, with one transaction per change
 * (kept for the callers of v0.1's directory syncs). */
bool pt_store_synced(const struct pt_store *s);
/* Writes every dirty record (usage counters) in one transaction. 0 or
 * -errno (then they all stay dirty). */
int pt_store_flush(struct pt_store *s);
/* v0.1 reported a directory sync that failed after a change took effect;
 * a transaction's commit is all or nothing: always 0. */
int pt_store_sync_failure(struct pt_store *s);

/* Paging (LIST): a cursor names an entry's position in the store's order
 * (32 hex characters); pt_store_seek gives the index after it ("" = 0),
 * -EINVAL for a malformed cursor. Entries added or removed between two pages
 * do not make a page skip or repeat the others. */
#define PT_STORE_CURSOR_LEN 33
int pt_store_seek(const struct pt_store *s, const char *cursor, size_t *ret);
void pt_store_cursor(const struct pt_store *s, size_t i, char ret[PT_STORE_CURSOR_LEN]);
