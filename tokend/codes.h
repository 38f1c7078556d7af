/* SPDX-License-Identifier: MIT */
/*
 * Outstanding codes of "code" token types (tokentype.h), one record per
 * (type, user) in STATE_DIR/codes/<sha256(type NUL user)>.code, written
 * atomically. A record holds the user's current code sheet: up to
 * PT_CODE_MAX_SHEET codes, each with a short non-secret id (1..N), its own
 * salt, a salted SHA-256 of the code (never the code), its uses and whether it
 * is spent; and, for the whole sheet, its times, the failures, the lockout
 * and the user's rate bucket. The record of (type, "") holds the type's
 * global rate bucket.
 *
 * Record text, version 2 (one "key=value" per line, "version=2" first):
 *   version=2  type=T  user=U  iat=  last_used=  hard_exp=  failures=
 *   locked_until=  bucket_milli=  bucket_ts=
 *   code=ID USES SPENT(0|1) LAST_USED SALT(hex) HASH(hex)   (one per code)
 * Version 1 records (no "version" line; one code in salt= / hash=, its uses
 * in uses=) still load, as a sheet of one code with id 1, and are written
 * back as version 2. Any other version is refused (-EPROTONOSUPPORT).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"

#define PT_CODE_SALTLEN 16
#define PT_CODE_HASHLEN 32
/* Codes on one sheet at most; also the number of hashes every check runs
 * (equal work whatever the sheet, the user or the type). */
#define PT_CODE_MAX_SHEET 20

struct pt_code_slot {
	uint32_t id; /* 1..n_codes, printed next to the code */
	bool spent;  /* used up (num_uses), never accepted again */
	uint32_t uses;
	uint64_t last_used; /* 0 = never */
	uint8_t salt[PT_CODE_SALTLEN];
	uint8_t hash[PT_CODE_HASHLEN];
};

struct pt_code_rec {
	char type[65];
	char user[256];
	uint32_t n_codes; /* codes on the sheet, spent ones included; 0 = none */
	struct pt_code_slot codes[PT_CODE_MAX_SHEET];
	uint64_t iat, last_used, hard_exp;
	uint32_t failures;
	uint64_t locked_until; /* 0 = not locked out */
	/* the rate bucket (ratelimit.h, unix seconds), kept in the record as
	 * bucket_milli (thousandths of a token) and bucket_ts (0 = full) */
	struct pt_ratelimit bucket;
};

/* Loads the record of (type, user); a fresh (zeroed, named) one when there is
 * none. Returns 0 or a negative errno (-EBADMSG: a corrupt record;
 * -EPROTONOSUPPORT: a record version this tokend does not know); err (may be
 * NULL) then says precisely what is wrong. */
int pt_codes_load(const char *state_dir, const char *type, const char *user,
		  struct pt_code_rec *ret, char *err, size_t errlen);
/* Parses the text of a record (for pt_codes_load; fuzzed). *ret is untouched
 * on failure; err (may be NULL) says why. */
int pt_codes_parse(const void *data, size_t len, const char *type, const char *user,
		   struct pt_code_rec *ret, char *err, size_t errlen);
/* The text of a record (always version 2): its length, or -E2BIG. */
int pt_codes_format(const struct pt_code_rec *rec, char *text, size_t len);
int pt_codes_save(const char *state_dir, const struct pt_code_rec *rec);

/* Codes on the sheet not yet spent. */
uint32_t pt_codes_unused(const struct pt_code_rec *rec);
/* Forgets the sheet (revoked, expired, replaced): ids, salts and hashes. */
void pt_codes_drop_sheet(struct pt_code_rec *rec);

/* salted SHA-256 of (type, user, normalized code) */
int pt_codes_hash(const uint8_t salt[PT_CODE_SALTLEN], const char *type, const char *user,
		  const char *code, uint8_t ret[PT_CODE_HASHLEN]);

/*
 * Compares code with every slot of the sheet in constant time: always
 * PT_CODE_MAX_SHEET salted hashes (slots past n_codes, or rec NULL, hash
 * against a throw-away salt and can never match), no early exit. Sets
 * *ret_slot to the index of the matching slot (spent or not), or -1.
 * Returns 0 or -EIO.
 */
int pt_codes_match(const struct pt_code_rec *rec, const char *type, const char *user,
		   const char *code, int *ret_slot);

/* How many times pt_codes_hash ran in this process (tests: the work done for
 * unknown users and types is the same as for a wrong code). */
uint64_t pt_codes_hash_count(void);
