/* SPDX-License-Identifier: MIT */
/*
 * The value readers of tokend.conf, shared by its section parsers (config.c,
 * tokentype.c): each reads one libconfig setting, checks its type and range
 * and, on failure, writes "FILE:LINE: PATH message" to the context's error
 * buffer, PATH being where.key ("tokend.live_lifetime",
 * "types[0] (c).rate"; key may be NULL: PATH is where alone). They return 0
 * or -EINVAL (-ENOMEM where they allocate); outputs are untouched on failure.
 */
#pragma once

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PT_CONF_MAX_DURATION ((uint64_t)3650 * 86400) /* ten years */
#define PT_CONF_MAX_STRING 4096			      /* bytes of a string value */
#define PT_CONF_MAX_LIST 4096			      /* elements of a list */
#define PT_CONF_MAX_RATE_N 1000000		      /* N of a rate "N/DURATION" */

/* Where errors go: FILE of "FILE:LINE: message" and the buffer. */
struct pt_conf_ctx {
	const char *fname;
	char *err; /* may be NULL */
	size_t errlen;
};

/*
 * Writes "FILE:LINE: message" (LINE of setting s) to the context's buffer, or
 * "FILE: message" when s is NULL or has no line; nothing when the buffer is
 * NULL or empty. Always returns -EINVAL.
 */
int pt_conf_fail(const struct pt_conf_ctx *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "an integer", "a string", ... for messages. */
const char *pt_conf_type_name(int type);
/* 0 when s has type (an int64 counts as an int), else the error "must be X, not Y". */
int pt_conf_need_type(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		      const char *key, int type);

/* A string of at most PT_CONF_MAX_STRING bytes; *ret points into libconfig's tree. */
int pt_conf_string(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		   const char *key, const char **ret);
/* An integer in [min, max]. */
int pt_conf_int(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		const char *key, long long min, long long max, long long *ret);
int pt_conf_bool(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		 const char *key, bool *ret);
/* A duration: an integer number of seconds or a string "30", "5m", "7d"
 * (pt_parse_duration), 1 s to PT_CONF_MAX_DURATION. */
int pt_conf_duration(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		     const char *key, uint64_t *ret);
/* A size: bytes (integer) or a string "512K", "32M", "1G"; 0 (off) or 4K to 1024G. */
int pt_conf_size(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		 const char *key, uint64_t *ret);
/* A rate "N/DURATION" (pt_parse_rate). */
int pt_conf_rate(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		 const char *key, uint32_t *ret_n, uint64_t *ret_period);
/*
 * An array of strings (or a single string), at most PT_CONF_MAX_LIST, each
 * accepted by check (the error says it "is not <what>"). *ret is a heap
 * array of heap strings, free with pt_conf_strv_free.
 */
int pt_conf_strv(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		 const char *key, bool (*check)(const char *), const char *what, char ***ret,
		 size_t *ret_n);
void pt_conf_strv_free(char **v, size_t n);

/*
 * "N/DURATION": N 1 to PT_CONF_MAX_RATE_N (digits only), DURATION as
 * pt_parse_duration, 1 s to PT_CONF_MAX_DURATION. 0 or -EINVAL. The one
 * parser of rates.
 */
int pt_parse_rate(const char *s, uint32_t *ret_n, uint64_t *ret_period);

/* A duration for messages: the largest whole unit ("90d", "2h", "45s"). */
void pt_conf_fmt_duration(uint64_t v, char *buf, size_t len);

/* Formats ` (did you mean "X"?)` for the candidate closest to word (edit
 * distance at most 2), or ""; returns buf. */
const char *pt_conf_hint(const char *word, const char *const *cands, size_t n, char *buf,
			 size_t len);
/* Index of name in keys[0..n) (NULL entries skipped), or -1. */
int pt_conf_key_index(const char *name, const char *const *keys, size_t n);
/* The error for setting s, which is not one of keys: "unknown setting \"X\"
 * in WHERE (did you mean \"Y\"?)"; where NULL: a top-level setting. */
int pt_conf_unknown_key(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
			const char *const *keys, size_t n);
