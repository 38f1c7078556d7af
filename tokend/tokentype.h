/* SPDX-License-Identifier: MIT */
/*
 * Token types: the named kinds of token tokend hands out, defined in the
 * config (types = ( { name = ...; ... } )), see man/tokend.conf.5.
 *
 * The built-in types "live" (kind "jws") and "persistable" (kind
 * "persistable") always exist; an entry of the same name overrides their
 * ttl / max_ttl. Types of kind "code" are human-typeable codes with a
 * configurable format: tokend generates them (pt_ttype_generate) and checks an
 * entered code against the format (pt_ttype_check_format) before comparing
 * it with the stored hash.
 *
 * Strength scale (1..5) from the entropy of the random part of a code,
 * random characters x log2(alphabet size):
 *   1: < 28 bits, 2: 28..35, 3: 36..59, 4: 60..79, 5: >= 80 bits.
 */
#pragma once

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PT_TTYPE_MAX_LEN 256
#define PT_TTYPE_MAX_REQUIRE 16
#define PT_TTYPE_MAX_PROHIBIT 256
#define PT_TTYPE_ANYWHERE (-1)
/* The characters of the "special" class (no quotes, no backslash, no space). */
#define PT_TTYPE_SPECIALS "!#$%&*+-=?@^_~"

enum pt_ttype_kind {
	PT_TTYPE_JWS = 0,	  /* "jws": the live token (built-in "live") */
	PT_TTYPE_PERSISTABLE = 1, /* "persistable": the stored token (built-in "persistable") */
	PT_TTYPE_CODE = 2,	  /* "code": a generated, human-typeable code */
};

struct pt_ttype_require {
	char *text; /* may contain "%u" (the user name) */
	int at;	    /* 0-based position, or PT_TTYPE_ANYWHERE */
};

struct pt_tokentype {
	char *name;
	int line; /* 0 for a built-in default */
	enum pt_ttype_kind kind;
	/* format (kind "code") */
	unsigned min_len, max_len;
	bool case_sensitive; /* false: compared case-folded, generated upper case */
	bool letters, digits, special;
	struct pt_ttype_require *require;
	size_t n_require;
	char **prohibit;
	size_t n_prohibit;
	unsigned min_strength; /* 1..5 */
	/* use policies */
	uint64_t ttl;	   /* s: idle expiry (jws: lifetime; persistable: default lifetime) */
	uint64_t max_ttl;  /* s: hard maximum after issuance (jws/persistable: the cap) */
	uint32_t num_uses; /* 0 = unlimited */
	uint32_t rate_n;   /* per user: rate_n codes per rate_period (0 = no limit) */
	uint64_t rate_period;
	uint32_t global_rate_n; /* all users together */
	uint64_t global_rate_period;
	uint32_t max_failures; /* 0 = unlimited */
	uint64_t lockout;      /* s the user is locked out of the type after max_failures */
};

/*
 * Parses the "types" list. fname is FILE in error messages ("FILE:LINE: ...").
 * The result always holds "live" and "persistable" (defaults given as
 * arguments, overridden by entries of those names); ret_set_* tell whether an
 * entry set the built-ins' ttl / max_ttl (the caller checks conflicts with the
 * older tokend.* settings). list may be NULL (only the built-ins).
 */
struct pt_ttype_builtin_set {
	const config_setting_t *live_ttl, *live_max_ttl, *persist_ttl, *persist_max_ttl;
};
int pt_ttypes_parse(const config_setting_t *list, const char *fname, uint64_t live_ttl,
		    uint64_t live_max_ttl, uint64_t persist_ttl, uint64_t persist_max_ttl,
		    struct pt_tokentype **ret, size_t *ret_n, struct pt_ttype_builtin_set *ret_set,
		    char *err, size_t errlen);
void pt_ttypes_free(struct pt_tokentype *t, size_t n);
const struct pt_tokentype *pt_ttype_find(const struct pt_tokentype *t, size_t n, const char *name);

/* Alphabet size of the type's character classes (26/52 letters, 10, 14). */
unsigned pt_ttype_alphabet(const struct pt_tokentype *t);
/* Strength 1..5 of random_chars characters from an alphabet of size alpha. */
unsigned pt_ttype_strength(unsigned random_chars, unsigned alpha);
/* Entropy in bits (rounded down) of such a random part. */
unsigned pt_ttype_bits(unsigned random_chars, unsigned alpha);

/* Expands the "%u" in a required text; ret is a heap string. */
int pt_ttype_expand(const char *text, const char *user, char **ret);

/*
 * Generates a code of type t for user (a heap string, to be wiped with
 * pt_free_secret). -EINVAL with why set when the type cannot be satisfied for
 * this user (required text does not fit, or the strength falls below
 * min_strength); -EAGAIN when no code without a prohibited substring was
 * found. ret_bits: entropy of the random part.
 */
int pt_ttype_generate(const struct pt_tokentype *t, const char *user, char **ret,
		      unsigned *ret_bits, char *why, size_t whylen);

/*
 * Checks an entered code against the format of t (length, classes, required
 * and prohibited substrings). Returns 0 or -EINVAL with why set. The check
 * reveals nothing about the code issued (only the published format).
 */
int pt_ttype_check_format(const struct pt_tokentype *t, const char *user, const char *code,
			  char *why, size_t whylen);

/* Normalizes an entered code in place: upper case when case-insensitive. */
void pt_ttype_normalize(const struct pt_tokentype *t, char *code);
