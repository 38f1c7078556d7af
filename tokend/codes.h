/* SPDX-License-Identifier: MIT */
/*
 * Outstanding codes of "code" token types (tokentype.h), one record per
 * (type, user) in STATE_DIR/codes/<sha256(type NUL user)>.code, written
 * atomically. A record holds a salted SHA-256 of the code (never the code),
 * its times, uses and failures, the lockout and the user's rate bucket; the
 * record of (type, "") holds the type's global rate bucket.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"

#define PT_CODE_SALTLEN 16
#define PT_CODE_HASHLEN 32

struct pt_code_rec {
	char type[65];
	char user[256];
	bool active; /* a code is outstanding */
	uint8_t salt[PT_CODE_SALTLEN];
	uint8_t hash[PT_CODE_HASHLEN];
	uint64_t iat, last_used, hard_exp;
	uint32_t uses, failures;
	uint64_t locked_until; /* 0 = not locked out */
	/* the rate bucket (ratelimit.h, unix seconds), kept in the record as
	 * bucket_milli (thousandths of a token) and bucket_ts (0 = full) */
	struct pt_ratelimit bucket;
};

/* Loads the record of (type, user); a fresh (zeroed, named) one when there is
 * none. Returns 0 or a negative errno (-EBADMSG: a corrupt record). */
int pt_codes_load(const char *state_dir, const char *type, const char *user,
		  struct pt_code_rec *ret);
/* Parses the text of a record (for pt_codes_load; fuzzed). */
int pt_codes_parse(const void *data, size_t len, const char *type, const char *user,
		   struct pt_code_rec *ret);
/* The text of a record: its length, or -E2BIG. */
int pt_codes_format(const struct pt_code_rec *rec, char *text, size_t len);
int pt_codes_save(const char *state_dir, const struct pt_code_rec *rec);

/* salted SHA-256 of (type, user, normalized code) */
int pt_codes_hash(const uint8_t salt[PT_CODE_SALTLEN], const char *type, const char *user,
		  const char *code, uint8_t ret[PT_CODE_HASHLEN]);
