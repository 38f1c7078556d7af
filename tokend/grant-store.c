/* SPDX-License-Identifier: MIT */
/*
 * The grants file, KEYDIR/grants.sealed: every grant and pending request of
 * a key generation, sealed under the store key and replaced atomically on
 * each change (grant.h). Small by construction: per-user and per-servicer
 * caps (grant { } in tokend.conf) bound what it holds.
 */
#include "grant.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "grant-internal.h"
#include "util.h"

#define MAGIC "pertok-grants 1\n"

void pt_grants_free(struct pt_grants *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		pt_grant_free(s->v[i]);
	free(s->v);
	free(s->running);
	free(s);
}

size_t pt_grants_count(const struct pt_grants *s)
{
	return s ? s->n : 0;
}

struct pt_grant *pt_grants_at(struct pt_grants *s, size_t i)
{
	return s && i < s->n ? s->v[i] : NULL;
}

struct pt_grant *pt_grants_find(struct pt_grants *s, const char *id, enum pt_grant_kind kind)
{
	if (!s || !id)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i]->kind == kind && strcmp(s->v[i]->id, id) == 0)
			return s->v[i];
	return NULL;
}

/* The plaintext: MAGIC, then "record LEN\n" + LEN bytes per entry. */
static int serialize(const struct pt_grants *s, char **ret, size_t *ret_len)
{
	size_t len = strlen(MAGIC), cap = 4096;
	char *p = malloc(cap);
	int r = 0;

	if (!p)
		return -ENOMEM;
	memcpy(p, MAGIC, len);
	for (size_t i = 0; i < s->n; i++) {
		char *rec = NULL, hdr[32];
		size_t rl = 0;
		int hl;

		r = pt_grant_format(s->v[i], &rec, &rl);
		if (r < 0)
			break;
		hl = snprintf(hdr, sizeof(hdr), "record %zu\n", rl);
		while (len + (size_t)hl + rl + 1 > cap) {
			char *q;

			if (cap > PT_GRANT_MAX_FILE) {
				r = -E2BIG;
				break;
			}
			q = realloc(p, cap * 2);
			if (!q) {
				r = -ENOMEM;
				break;
			}
			p = q;
			cap *= 2;
		}
		if (r >= 0) {
			memcpy(p + len, hdr, (size_t)hl);
			memcpy(p + len + (size_t)hl, rec, rl);
			len += (size_t)hl + rl;
		}
		free(rec);
		if (r < 0)
			break;
	}
	if (r < 0) {
		free(p);
		return r;
	}
	p[len] = '\0';
	*ret = p;
	*ret_len = len;
	return 0;
}

int pt_grants_parse_file(const char *text, size_t len, struct pt_grants **ret, char *err,
			 size_t errlen)
{
	struct pt_grants *s = calloc(1, sizeof(*s));
	size_t off = strlen(MAGIC), idx = 0;
	char why[256];
	int r = 0;

	if (!s)
		return -ENOMEM;
	if (len < off || memcmp(text, MAGIC, off) != 0) {
		snprintf(err, errlen, "not a grants file (no \"pertok-grants 1\" line)");
		r = -EBADMSG;
		goto out;
	}
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off > 32 ? 32 : len - off);
		struct pt_grant *g = NULL, **v;
		char num[32];
		uint64_t rl;

		idx++;
		if (!nl || (size_t)(nl - (text + off)) < 8 ||
		    memcmp(text + off, "record ", 7) != 0) {
			snprintf(err, errlen, "entry %zu: no \"record LEN\" line", idx);
			r = -EBADMSG;
			goto out;
		}
		snprintf(num, sizeof(num), "%.*s", (int)(nl - (text + off) - 7), text + off + 7);
		if (pt_parse_u64(num, &rl) < 0 || rl > PT_GRANT_MAX_RECORD ||
		    rl > len - (size_t)(nl + 1 - text)) {
			snprintf(err, errlen, "entry %zu: bad record length", idx);
			r = -EBADMSG;
			goto out;
		}
		off = (size_t)(nl + 1 - text);
		r = pt_grant_parse(text + off, (size_t)rl, &g, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "entry %zu: %s", idx, why);
			goto out;
		}
		off += (size_t)rl;
		if (pt_grants_find(s, g->id, g->kind)) {
			snprintf(err, errlen, "entry %zu: duplicate id %s", idx, g->id);
			pt_grant_free(g);
			r = -EBADMSG;
			goto out;
		}
		v = realloc(s->v, (s->n + 1) * sizeof(*v));
		if (!v) {
			pt_grant_free(g);
			r = -ENOMEM;
			goto out;
		}
		s->v = v;
		s->v[s->n++] = g;
	}
	*ret = s;
	s = NULL;
out:
	pt_grants_free(s);
	return r;
}

static int path_of(const char *dir, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, PT_GRANT_FILE) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int pt_grants_open(const char *keydir, const uint8_t key[PT_STORE_KEYLEN], struct pt_grants **ret,
		   char *err, size_t errlen)
{
	struct pt_grants *s = NULL;
	uint8_t *blob = NULL, *plain = NULL;
	size_t bl = 0, pl = 0;
	char path[PATH_MAX];
	int r;

	if (err && errlen)
		err[0] = '\0';
	r = path_of(keydir, path, sizeof(path));
	if (r < 0)
		return r;
	r = pt_read_file(path, PT_GRANT_MAX_FILE, &blob, &bl);
	if (r == -ENOENT) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		r = 0;
	} else if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	} else {
		r = pt_aead_open(key, PT_GRANT_FILE, strlen(PT_GRANT_FILE), blob, bl, &plain, &pl);
		if (r < 0)
			snprintf(err, errlen, "%s does not open under the store key", path);
		else
			r = pt_grants_parse_file((const char *)plain, pl, &s, err, errlen);
	}
	if (r >= 0) {
		snprintf(s->dir, sizeof(s->dir), "%s", keydir);
		*ret = s;
	}
	if (plain)
		OPENSSL_cleanse(plain, pl);
	free(plain);
	free(blob);
	return r;
}

static int write_to(const struct pt_grants *s, const char *dir, const uint8_t key[PT_STORE_KEYLEN])
{
	char *plain = NULL, path[PATH_MAX];
	uint8_t *blob = NULL;
	size_t pl = 0, bl = 0;
	int r;

	r = path_of(dir, path, sizeof(path));
	if (r < 0)
		return r;
	r = serialize(s, &plain, &pl);
	if (r < 0)
		return r;
	r = pt_aead_seal(key, PT_GRANT_FILE, strlen(PT_GRANT_FILE), plain, pl, &blob, &bl);
	OPENSSL_cleanse(plain, pl);
	free(plain);
	if (r < 0)
		return r;
	r = pt_atomic_write(path, blob, bl, 0600);
	free(blob);
	return r;
}

int pt_grants_save(struct pt_grants *s, const uint8_t key[PT_STORE_KEYLEN])
{
	return write_to(s, s->dir, key);
}

int pt_grants_rewrap(struct pt_grants *s, const char *newdir, const uint8_t key2[PT_STORE_KEYLEN])
{
	return write_to(s, newdir, key2);
}

void pt_grants_set_dir(struct pt_grants *s, const char *dir)
{
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
}

int pt_grants_add(struct pt_grants *s, const uint8_t key[PT_STORE_KEYLEN], struct pt_grant *g)
{
	struct pt_grant **v = realloc(s->v, (s->n + 1) * sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	s->v = v;
	s->v[s->n++] = g;
	r = pt_grants_save(s, key);
	if (r < 0)
		s->n--; /* the caller still owns g */
	return r;
}

int pt_grants_remove(struct pt_grants *s, const uint8_t key[PT_STORE_KEYLEN], struct pt_grant *g)
{
	size_t i;
	int r;

	for (i = 0; i < s->n && s->v[i] != g; i++)
		;
	if (i == s->n)
		return -ENOENT;
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
	r = pt_grants_save(s, key);
	if (r < 0) {
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
		s->v[i] = g;
		s->n++;
		return r;
	}
	pt_grant_free(g);
	return 0;
}
