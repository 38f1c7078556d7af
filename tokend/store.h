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

#define PT_STORE_KEYLEN 32
#define PT_ID_LEN 26 /* "pt_" + 22 base64url chars (16 random bytes) + NUL */

struct pt_record {
	char id[PT_ID_LEN];
	/* identity snapshot at issuance */
	char *user;
	uid_t uid;
	gid_t gid;
	char **groups;
	size_t n_groups; /* names */
	char *gecos;
	char *home;
	char *shell;
	/* how and where */
	char *holder;
	char *actor;
	char *service;
	char *tty;
	char *rhost;
	char *source_jti; /* jti of the live token it was exchanged from */
	char **entitlements;
	size_t n_entitlements; /* the issue rule's, at issuance (optional
	                                               in the JSON: older records have none) */
	uint64_t iat;
	uint64_t exp;
	/* usage (kept in memory, flushed by pt_store_flush) */
	uint64_t last_used;
	uint32_t uses;
	bool dirty;
};

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
 * is set to true. */
int pt_store_put(struct pt_store *s, struct pt_record *rec, bool *ret_replaced);
/* Durably removes by id. -ENOENT if absent. */
int pt_store_remove(struct pt_store *s, const char *id);

struct pt_record *pt_store_find_id(struct pt_store *s, const char *id);
struct pt_record *pt_store_find_slot(struct pt_store *s, const char *user, const char *holder);
size_t pt_store_count(const struct pt_store *s);
size_t pt_store_count_user(const struct pt_store *s, const char *user);
struct pt_record *pt_store_at(struct pt_store *s, size_t i);

/* Writes every dirty record (usage counters). */
int pt_store_flush(struct pt_store *s);

/* A fresh random id "pt_..." */
int pt_record_new_id(char ret[PT_ID_LEN]);
void pt_record_free(struct pt_record *r);

/* Serialisation used by the store (exposed for tests and the fuzzer). */
int pt_record_to_json(const struct pt_record *r, char **ret);
int pt_record_from_json(const char *json, size_t len, struct pt_record **ret);

/* AEAD helpers (AES-256-GCM, 12-byte random nonce, 16-byte tag).
 * Sealed layout: "PTK1" | nonce | ciphertext | tag; aad is authenticated.
 * -EBADMSG when the blob is malformed or fails authentication. */
int pt_aead_seal(const uint8_t key[PT_STORE_KEYLEN], const void *aad, size_t aadlen, const void *pt,
		 size_t ptlen, uint8_t **ret, size_t *ret_len);
int pt_aead_open(const uint8_t key[PT_STORE_KEYLEN], const void *aad, size_t aadlen,
		 const uint8_t *blob, size_t bloblen, uint8_t **ret, size_t *ret_len);

/* Durable atomic file write: temp in the same dir, fsync, rename, fsync dir. */
int pt_atomic_write(const char *path, const void *p, size_t n, mode_t mode);
/* Bounded read of a whole file (max bytes), -EFBIG if larger. */
int pt_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len);
