/* SPDX-License-Identifier: MIT */
/*
 * Bounded byte buffer. Layout of the allocation:
 *
 *   d[0 .. off)        consumed bytes (wiped when the buffer is compacted)
 *   d[off .. end)      unread bytes
 *   d[end .. alloc)    free space (always zero or wiped)
 *
 * The buffer never holds more than max unread bytes. It grows by doubling
 * (never beyond max) and is compacted before growing, or when the consumed
 * prefix passes half of the allocation. Old allocations are wiped before
 * they are freed, so no copy of the contents is ever left on the heap.
 * Compaction happens only when bytes are appended, so pointers returned by
 * the get functions stay valid until the next append or reset.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

#define PTBUF_INITIAL 256u

struct ptbuf {
	uint8_t *d;
	size_t alloc;
	size_t off;
	size_t end;
	size_t max;
	size_t reserved; /* size of the last reservation (for unreserve) */
};

struct ptbuf *ptbuf_new(size_t max)
{
	struct ptbuf *b;

	if (max == 0) {
		errno = EINVAL;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->max = max;
	b->alloc = max < PTBUF_INITIAL ? max : PTBUF_INITIAL;
	b->d = calloc(1, b->alloc);
	if (!b->d) {
		free(b);
		return NULL;
	}
	return b;
}

void ptbuf_free(struct ptbuf *b)
{
	if (!b)
		return;
	pt_wipe(b->d, b->alloc);
	free(b->d);
	pt_wipe(b, sizeof(*b));
	free(b);
}

void ptbuf_reset(struct ptbuf *b)
{
	if (!b)
		return;
	pt_wipe(b->d, b->alloc);
	b->off = b->end = b->reserved = 0;
}

const uint8_t *ptbuf_ptr(const struct ptbuf *b)
{
	return b->d + b->off;
}

uint8_t *ptbuf_mutable_ptr(struct ptbuf *b)
{
	return b->d + b->off;
}

size_t ptbuf_len(const struct ptbuf *b)
{
	return b->end - b->off;
}

size_t ptbuf_max(const struct ptbuf *b)
{
	return b->max;
}

/* Moves the unread bytes to the front and wipes what they leave behind. */
static void buf_compact(struct ptbuf *b)
{
	size_t len = b->end - b->off;

	if (b->off == 0)
		return;
	if (len > 0)
		memmove(b->d, b->d + b->off, len);
	pt_wipe(b->d + len, b->end - len);
	b->off = 0;
	b->end = len;
}

/* Makes room for n more bytes at the end. Nothing changes on failure
 * except that the buffer may have been compacted. */
static int buf_make_room(struct ptbuf *b, size_t n)
{
	size_t len = b->end - b->off, want, nalloc;
	uint8_t *nd;

	if (n > b->max - len)
		return -EMSGSIZE;
	if (b->off > 0 && (b->off == b->end || b->off > b->alloc / 2))
		buf_compact(b);
	if (n <= b->alloc - b->end)
		return 0;
	buf_compact(b);
	if (n <= b->alloc - b->end)
		return 0;

	want = len + n; /* <= max, no overflow */
	nalloc = b->alloc ? b->alloc : PTBUF_INITIAL;
	while (nalloc < want) {
		if (nalloc > b->max / 2) {
			nalloc = b->max;
			break;
		}
		nalloc *= 2;
	}
	if (nalloc > b->max)
		nalloc = b->max;

	/* Not realloc(): the old block must be wiped before it is released. */
	nd = calloc(1, nalloc);
	if (!nd)
		return -ENOMEM;
	if (len > 0)
		memcpy(nd, b->d, len);
	pt_wipe(b->d, b->alloc);
	free(b->d);
	b->d = nd;
	b->alloc = nalloc;
	return 0;
}

int ptbuf_reserve(struct ptbuf *b, size_t n, uint8_t **ret)
{
	int r;

	r = buf_make_room(b, n);
	if (r < 0)
		return r;
	*ret = b->d + b->end;
	b->end += n;
	b->reserved = n;
	return 0;
}

void ptbuf_unreserve(struct ptbuf *b, size_t n)
{
	if (n > b->reserved)
		n = b->reserved;
	b->end -= n;
	b->reserved -= n;
	pt_wipe(b->d + b->end, n);
}

int ptbuf_put(struct ptbuf *b, const void *p, size_t n)
{
	uint8_t *q;
	int r;

	if (n == 0)
		return 0;
	r = ptbuf_reserve(b, n, &q);
	if (r < 0)
		return r;
	memcpy(q, p, n);
	b->reserved = 0;
	return 0;
}

int ptbuf_put_u8(struct ptbuf *b, uint8_t v)
{
	return ptbuf_put(b, &v, 1);
}

static void be32_write(uint8_t *q, uint32_t v)
{
	q[0] = (uint8_t)(v >> 24);
	q[1] = (uint8_t)(v >> 16);
	q[2] = (uint8_t)(v >> 8);
	q[3] = (uint8_t)v;
}

static uint32_t be32_read(const uint8_t *q)
{
	return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | (uint32_t)q[3];
}

int ptbuf_put_u32(struct ptbuf *b, uint32_t v)
{
	uint8_t q[4];

	be32_write(q, v);
	return ptbuf_put(b, q, sizeof(q));
}

int ptbuf_put_u64(struct ptbuf *b, uint64_t v)
{
	uint8_t q[8];

	be32_write(q, (uint32_t)(v >> 32));
	be32_write(q + 4, (uint32_t)v);
	return ptbuf_put(b, q, sizeof(q));
}

int ptbuf_put_string(struct ptbuf *b, const void *p, size_t n)
{
	uint8_t *q;
	int r;

	if (n > UINT32_MAX || n > SIZE_MAX - 4)
		return -EMSGSIZE;
	r = ptbuf_reserve(b, 4 + n, &q);
	if (r < 0)
		return r;
	be32_write(q, (uint32_t)n);
	if (n > 0)
		memcpy(q + 4, p, n);
	b->reserved = 0;
	return 0;
}

int ptbuf_put_cstring(struct ptbuf *b, const char *s)
{
	return ptbuf_put_string(b, s ? s : "", s ? strlen(s) : 0);
}

int ptbuf_put_cstring_max(struct ptbuf *b, const char *s, size_t maxlen)
{
	if (s && strlen(s) > maxlen)
		return -EMSGSIZE;
	return ptbuf_put_cstring(b, s);
}

/*
 * Decoders shared by the buffer and the view. Each parses from p[0..avail)
 * and returns the number of bytes it would consume, or a negative errno;
 * none of them writes its outputs on failure.
 */
static int dec_string(const uint8_t *p, size_t avail, const uint8_t **ret, size_t *ret_len,
		      size_t *ret_used)
{
	uint32_t n;

	if (avail < 4)
		return -EBADMSG;
	n = be32_read(p);
	if (n > avail - 4)
		return -EBADMSG;
	*ret = p + 4;
	*ret_len = n;
	*ret_used = 4 + (size_t)n;
	return 0;
}

static int dec_cstring(const uint8_t *p, size_t avail, size_t maxlen, char **ret, size_t *ret_used)
{
	const uint8_t *s;
	size_t n, used;
	char *c;
	int r;

	r = dec_string(p, avail, &s, &n, &used);
	if (r < 0)
		return r;
	if (n > maxlen || (n > 0 && memchr(s, '\0', n)))
		return -EBADMSG;
	c = malloc(n + 1);
	if (!c)
		return -ENOMEM;
	if (n > 0)
		memcpy(c, s, n);
	c[n] = '\0';
	*ret = c;
	*ret_used = used;
	return 0;
}

static int dec_fixed(const uint8_t *p, size_t avail, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (avail < n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	*ret = v;
	return 0;
}

int ptbuf_consume(struct ptbuf *b, size_t n)
{
	if (n > ptbuf_len(b))
		return -EBADMSG;
	b->off += n;
	b->reserved = 0;
	return 0;
}

int ptbuf_get(struct ptbuf *b, void *p, size_t n)
{
	if (n > ptbuf_len(b))
		return -EBADMSG;
	if (n > 0)
		memcpy(p, ptbuf_ptr(b), n);
	return ptbuf_consume(b, n);
}

int ptbuf_get_u8(struct ptbuf *b, uint8_t *ret)
{
	uint64_t v;
	int r;

	r = dec_fixed(ptbuf_ptr(b), ptbuf_len(b), 1, &v);
	if (r < 0)
		return r;
	*ret = (uint8_t)v;
	return ptbuf_consume(b, 1);
}

int ptbuf_get_u32(struct ptbuf *b, uint32_t *ret)
{
	uint64_t v;
	int r;

	r = dec_fixed(ptbuf_ptr(b), ptbuf_len(b), 4, &v);
	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return ptbuf_consume(b, 4);
}

int ptbuf_get_u64(struct ptbuf *b, uint64_t *ret)
{
	uint64_t v;
	int r;

	r = dec_fixed(ptbuf_ptr(b), ptbuf_len(b), 8, &v);
	if (r < 0)
		return r;
	*ret = v;
	return ptbuf_consume(b, 8);
}

int ptbuf_get_string_direct(struct ptbuf *b, const uint8_t **ret, size_t *ret_len)
{
	const uint8_t *s;
	size_t n, used;
	int r;

	r = dec_string(ptbuf_ptr(b), ptbuf_len(b), &s, &n, &used);
	if (r < 0)
		return r;
	*ret = s;
	*ret_len = n;
	return ptbuf_consume(b, used);
}

int ptbuf_get_cstring(struct ptbuf *b, size_t maxlen, char **ret)
{
	size_t used;
	int r;

	r = dec_cstring(ptbuf_ptr(b), ptbuf_len(b), maxlen, ret, &used);
	if (r < 0)
		return r;
	return ptbuf_consume(b, used);
}

int ptbuf_end(const struct ptbuf *b)
{
	return ptbuf_len(b) == 0 ? 0 : -EBADMSG;
}

void ptbuf_view_init(struct ptbuf_view *v, const void *p, size_t len)
{
	v->p = p;
	v->len = p ? len : 0;
	v->off = 0;
}

static const uint8_t *view_ptr(const struct ptbuf_view *v)
{
	return v->p ? v->p + v->off : NULL;
}

static size_t view_avail(const struct ptbuf_view *v)
{
	return v->off <= v->len ? v->len - v->off : 0;
}

int ptbuf_view_get_u8(struct ptbuf_view *v, uint8_t *ret)
{
	uint64_t x;
	int r;

	r = dec_fixed(view_ptr(v), view_avail(v), 1, &x);
	if (r < 0)
		return r;
	*ret = (uint8_t)x;
	v->off += 1;
	return 0;
}

int ptbuf_view_get_u32(struct ptbuf_view *v, uint32_t *ret)
{
	uint64_t x;
	int r;

	r = dec_fixed(view_ptr(v), view_avail(v), 4, &x);
	if (r < 0)
		return r;
	*ret = (uint32_t)x;
	v->off += 4;
	return 0;
}

int ptbuf_view_get_u64(struct ptbuf_view *v, uint64_t *ret)
{
	uint64_t x;
	int r;

	r = dec_fixed(view_ptr(v), view_avail(v), 8, &x);
	if (r < 0)
		return r;
	*ret = x;
	v->off += 8;
	return 0;
}

int ptbuf_view_get_cstring(struct ptbuf_view *v, size_t maxlen, char **ret)
{
	size_t used;
	int r;

	r = dec_cstring(view_ptr(v), view_avail(v), maxlen, ret, &used);
	if (r < 0)
		return r;
	v->off += used;
	return 0;
}

int ptbuf_view_end(const struct ptbuf_view *v)
{
	return view_avail(v) == 0 ? 0 : -EBADMSG;
}
