/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every part of pertok. No logging, no global state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PT_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Wipe memory the compiler may not optimise away (explicit_bzero). */
void pt_wipe(void *p, size_t n);

/* free() that wipes a NUL-terminated secret first; accepts NULL. */
void pt_free_secret(char *s);

/* Cleanup-attribute helpers: declare `_cleanup_free_ char *x = NULL;`. */
static inline void pt_freep(void *p)
{
	free(*(void **)p);
}
static inline void pt_free_secretp(char **p)
{
	pt_free_secret(*p);
}
static inline void pt_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(pt_freep)
#define _cleanup_secret_ _cleanup_(pt_free_secretp)
#define _cleanup_close_ _cleanup_(pt_closep)

/* Constant-time comparison (no early exit). Returns true when equal. */
bool pt_ct_equal(const void *a, const void *b, size_t n);

/* Monotonic and wall clock in milliseconds / seconds. */
uint64_t pt_now_ms_monotonic(void);
uint64_t pt_now_s(void);

/* Strict decimal parsers: the whole string must be a number in range.
 * Return 0 or -EINVAL / -ERANGE. */
int pt_parse_u64(const char *s, uint64_t *ret);
int pt_parse_u32(const char *s, uint32_t *ret);

/* Parses a duration: plain seconds, or a number followed by s, m, h, d or w
 * ("300", "5m", "7d"). Returns 0 or -EINVAL / -ERANGE. */
int pt_parse_duration(const char *s, uint64_t *ret_seconds);

/* n bytes as 2n lowercase hex digits and a NUL into out (2n + 1 bytes). */
void pt_hex(const uint8_t *p, size_t n, char *out);
/* Exactly 2n hex digits (either case) into out[0..n). 0 or -EBADMSG. */
int pt_unhex(const char *s, uint8_t *out, size_t n);

/* Is s a sane identifier for users, holders, actors, services:
 * 1..255 bytes, printable ASCII without spaces, ':' , '/', or control chars,
 * not starting with '-'. */
bool pt_name_valid(const char *s);
/* Writes the message (printf-style) to err[0..len) when err is not NULL and
 * returns code: for parsers and checks that say precisely why they refuse. */
int pt_errf(char *err, size_t len, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* How long from now until exp, for people, rounded down: "6d 23h",
 * "4h 10m", "3m", "<1m" or "expired". Returns buf. */
const char *pt_left_text(uint64_t exp, uint64_t now, char *buf, size_t n);
