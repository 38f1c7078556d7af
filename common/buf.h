/* SPDX-License-Identifier: MIT */
/*
 * Bounded byte buffer with typed, consume-nothing-on-failure accessors.
 * Every buffer has a maximum size; contents are wiped on free and on reset.
 * All integers on the wire are big-endian. Strings are u32 length + bytes.
 *
 * Errors: -ENOMEM (allocation), -EMSGSIZE (would exceed the maximum),
 * -EBADMSG (truncated, embedded NUL in a C string, string too long,
 * trailing bytes).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct ptbuf;

/* max: the largest number of bytes the buffer may ever hold (> 0). */
struct ptbuf *ptbuf_new(size_t max);
/* Wipes and frees; accepts NULL. */
void ptbuf_free(struct ptbuf *b);
/* Wipes and empties (keeps the allocation and the maximum). */
void ptbuf_reset(struct ptbuf *b);

/* Unread bytes: pointer to the first one, and how many. */
const uint8_t *ptbuf_ptr(const struct ptbuf *b);
size_t ptbuf_len(const struct ptbuf *b);
size_t ptbuf_max(const struct ptbuf *b);
/* Mutable pointer to the unread bytes (to patch a frame length in place). */
uint8_t *ptbuf_mutable_ptr(struct ptbuf *b);

/* Appends. On failure nothing is appended. */
int ptbuf_put(struct ptbuf *b, const void *p, size_t n);
int ptbuf_put_u8(struct ptbuf *b, uint8_t v);
int ptbuf_put_u32(struct ptbuf *b, uint32_t v);
int ptbuf_put_u64(struct ptbuf *b, uint64_t v);
/* u32 length + bytes */
int ptbuf_put_string(struct ptbuf *b, const void *p, size_t n);
/* u32 length + bytes of a C string (without its NUL); s may be NULL = "" */
int ptbuf_put_cstring(struct ptbuf *b, const char *s);
/* The same, refusing (-EMSGSIZE) a string longer than maxlen bytes: the
 * bound the decoder (ptbuf_get_cstring) will apply on the other end. */
int ptbuf_put_cstring_max(struct ptbuf *b, const char *s, size_t maxlen);
/* Reserves n bytes at the end and returns a pointer to them (to read(2) into). */
int ptbuf_reserve(struct ptbuf *b, size_t n, uint8_t **ret);
/* Gives back the tail of the last reservation that was not used. */
void ptbuf_unreserve(struct ptbuf *b, size_t n);

/* Reads. On failure nothing is consumed and outputs are untouched. */
int ptbuf_consume(struct ptbuf *b, size_t n);
int ptbuf_get(struct ptbuf *b, void *p, size_t n);
int ptbuf_get_u8(struct ptbuf *b, uint8_t *ret);
int ptbuf_get_u32(struct ptbuf *b, uint32_t *ret);
int ptbuf_get_u64(struct ptbuf *b, uint64_t *ret);
/* Points into the buffer (valid until the next modification). */
int ptbuf_get_string_direct(struct ptbuf *b, const uint8_t **ret, size_t *ret_len);
/* Newly allocated, NUL-terminated; rejects embedded NUL and strings longer
 * than maxlen bytes (-EBADMSG). Caller frees (pt_free_secret for secrets). */
int ptbuf_get_cstring(struct ptbuf *b, size_t maxlen, char **ret);
/* 0 when every byte was consumed, else -EBADMSG (trailing bytes). */
int ptbuf_end(const struct ptbuf *b);

/* A read-only view over existing memory (for decoding a received frame);
 * not to be freed with ptbuf_free, no allocation. */
struct ptbuf_view {
	const uint8_t *p;
	size_t len;
	size_t off;
};
void ptbuf_view_init(struct ptbuf_view *v, const void *p, size_t len);
int ptbuf_view_get_u8(struct ptbuf_view *v, uint8_t *ret);
int ptbuf_view_get_u32(struct ptbuf_view *v, uint32_t *ret);
int ptbuf_view_get_u64(struct ptbuf_view *v, uint64_t *ret);
int ptbuf_view_get_cstring(struct ptbuf_view *v, size_t maxlen, char **ret);
int ptbuf_view_end(const struct ptbuf_view *v);
