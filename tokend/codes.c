/* SPDX-License-Identifier: MIT */
/* Records of outstanding codes (codes.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "codes.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "util.h"

#define MAX_RECORD 16384

static int sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return -EIO;
	return 0;
}

static int record_path(const char *state_dir, const char *type, const char *user, char *buf,
		       size_t len)
{
	size_t tl = strlen(type), ul = strlen(user);
	uint8_t h[32];
	char hx[65];
	char *k;
	int r;

	k = malloc(tl + ul + 1);
	if (!k)
		return -ENOMEM;
	memcpy(k, type, tl);
	k[tl] = '\0';
	memcpy(k + tl + 1, user, ul);
	r = sha256(k, tl + 1 + ul, h);
	free(k);
	if (r < 0)
		return r;
	pt_hex(h, 20, hx);
	if ((size_t)snprintf(buf, len, "%s/codes/%s.code", state_dir, hx) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static uint64_t hash_count;

uint64_t pt_codes_hash_count(void)
{
	return hash_count;
}

int pt_codes_hash(const uint8_t salt[PT_CODE_SALTLEN], const char *type, const char *user,
		  const char *code, uint8_t ret[PT_CODE_HASHLEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned len = 0;
	int r = -EIO;

	hash_count++;
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, "pertok-code-v1", 15) == 1 &&
	    EVP_DigestUpdate(ctx, salt, PT_CODE_SALTLEN) == 1 &&
	    EVP_DigestUpdate(ctx, type, strlen(type) + 1) == 1 &&
	    EVP_DigestUpdate(ctx, user, strlen(user) + 1) == 1 &&
	    EVP_DigestUpdate(ctx, code, strlen(code)) == 1 &&
	    EVP_DigestFinal_ex(ctx, ret, &len) == 1 && len == PT_CODE_HASHLEN)
		r = 0;
	EVP_MD_CTX_free(ctx);
	return r;
}

int pt_codes_match(const struct pt_code_rec *rec, const char *type, const char *user,
		   const char *code, int *ret_slot)
{
	static const uint8_t no_salt[PT_CODE_SALTLEN], no_hash[PT_CODE_HASHLEN];
	uint8_t h[PT_CODE_HASHLEN];
	uint32_t found = 0, n = rec ? rec->n_codes : 0;
	int r = 0;

	for (uint32_t i = 0; i < PT_CODE_MAX_SHEET; i++) {
		const struct pt_code_slot *s = i < n ? &rec->codes[i] : NULL;
		uint32_t eq, real = (uint32_t)(i < n);

		/* every slot costs one hash, real or not; no branch on the result */
		if (pt_codes_hash(s ? s->salt : no_salt, type, user, code, h) < 0)
			r = -EIO;
		eq = (uint32_t)(CRYPTO_memcmp(h, s ? s->hash : no_hash, PT_CODE_HASHLEN) == 0);
		eq &= real;
		/* keep the first match: found holds i + 1 */
		found |= (0u - (eq & (uint32_t)(found == 0))) & (i + 1);
	}
	OPENSSL_cleanse(h, sizeof(h));
	if (r < 0)
		return r;
	*ret_slot = (int)found - 1;
	return 0;
}

uint32_t pt_codes_unused(const struct pt_code_rec *rec)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < rec->n_codes; i++)
		n += !rec->codes[i].spent;
	return n;
}

void pt_codes_drop_sheet(struct pt_code_rec *rec)
{
	OPENSSL_cleanse(rec->codes, sizeof(rec->codes));
	rec->n_codes = 0;
}

/* Sets err to "line N: " + the message; returns r. */
static int fail(char *err, size_t errlen, int r, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail(char *err, size_t errlen, int r, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return r;
	n = snprintf(err, errlen, "line %u: ", line);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* "ID USES SPENT LAST_USED SALT HASH" of a version 2 "code=" line */
static int parse_slot(char *v, struct pt_code_rec *rec, char *err, size_t errlen, unsigned ln)
{
	struct pt_code_slot *s;
	char *f[6], *save = NULL;
	uint64_t id, uses, spent, last;
	size_t n = 0;

	for (char *w = strtok_r(v, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (n == 6)
			return fail(err, errlen, -EBADMSG, ln, "code: more than 6 fields");
		f[n++] = w;
	}
	if (n != 6)
		return fail(err, errlen, -EBADMSG, ln,
			    "code: needs 6 fields (id uses spent last_used salt hash)");
	if (rec->n_codes == PT_CODE_MAX_SHEET)
		return fail(err, errlen, -EBADMSG, ln, "code: more codes than a sheet holds");
	if (pt_parse_u64(f[0], &id) < 0 || id != rec->n_codes + 1)
		return fail(err, errlen, -EBADMSG, ln,
			    "code: id %s out of order (ids are 1, 2, ...)", f[0]);
	if (pt_parse_u64(f[1], &uses) < 0 || uses > UINT32_MAX || pt_parse_u64(f[2], &spent) < 0 ||
	    spent > 1 || pt_parse_u64(f[3], &last) < 0)
		return fail(err, errlen, -EBADMSG, ln, "code: bad uses, spent or last_used");
	s = &rec->codes[rec->n_codes];
	if (pt_unhex(f[4], s->salt, sizeof(s->salt)) < 0 ||
	    pt_unhex(f[5], s->hash, sizeof(s->hash)) < 0)
		return fail(err, errlen, -EBADMSG, ln, "code: bad salt or hash (hex)");
	s->id = (uint32_t)id;
	s->uses = (uint32_t)uses;
	s->spent = spent == 1;
	s->last_used = last;
	rec->n_codes++;
	return 0;
}

int pt_codes_parse(const void *data, size_t len, const char *type, const char *user,
		   struct pt_code_rec *ret, char *err, size_t errlen)
{
	struct pt_code_rec *rec;
	char *text, *line, *save = NULL;
	bool v1_salt = false, v1_hash = false;
	unsigned version = 1, ln = 0;
	uint32_t v1_uses = 0;
	int r = 0;

	if (err && errlen)
		err[0] = '\0';
	if (strlen(type) >= sizeof(rec->type) || strlen(user) >= sizeof(rec->user))
		return -EINVAL;
	if (len > MAX_RECORD)
		return fail(err, errlen, -EBADMSG, 0, "record longer than 16 KiB");
	if (memchr(data, '\0', len))
		return fail(err, errlen, -EBADMSG, 0, "record holds a NUL byte");
	rec = calloc(1, sizeof(*rec));
	text = malloc(len + 1);
	if (!rec || !text) {
		free(rec);
		free(text);
		return -ENOMEM;
	}
	memcpy(text, data, len);
	text[len] = '\0';
	snprintf(rec->type, sizeof(rec->type), "%s", type);
	snprintf(rec->user, sizeof(rec->user), "%s", user);
	for (line = strtok_r(text, "\n", &save); line && r >= 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		const char *k;
		char *v;
		uint64_t u = 0;

		ln++;
		if (!eq) {
			r = fail(err, errlen, -EBADMSG, ln, "no '=' (lines are key=value)");
			break;
		}
		*eq = '\0';
		k = line;
		v = eq + 1;
		if (strcmp(k, "version") == 0) {
			if (ln != 1)
				r = fail(err, errlen, -EBADMSG, ln, "%s must be the first line", k);
			else if (strcmp(v, "2") != 0)
				r = fail(
					err, errlen, -EPROTONOSUPPORT, ln,
					"record version %s is not supported (this tokend reads 1 and 2)",
					v);
			else
				version = 2;
		} else if (strcmp(k, "type") == 0)
			r = strcmp(v, type) == 0 ?
				    0 :
				    fail(err, errlen, -EBADMSG, ln, "record of another type");
		else if (strcmp(k, "user") == 0)
			r = strcmp(v, user) == 0 ?
				    0 :
				    fail(err, errlen, -EBADMSG, ln, "record of another user");
		else if (version == 2 && strcmp(k, "code") == 0)
			r = parse_slot(v, rec, err, errlen, ln);
		else if (version == 1 && strcmp(k, "salt") == 0) {
			r = pt_unhex(v, rec->codes[0].salt, PT_CODE_SALTLEN);
			v1_salt = r >= 0;
		} else if (version == 1 && strcmp(k, "hash") == 0) {
			r = pt_unhex(v, rec->codes[0].hash, PT_CODE_HASHLEN);
			v1_hash = r >= 0;
		} else if (pt_parse_u64(v, &u) < 0)
			r = fail(err, errlen, -EBADMSG, ln, "%s: not a number", k);
		else if (strcmp(k, "iat") == 0)
			rec->iat = u;
		else if (strcmp(k, "last_used") == 0)
			rec->last_used = u;
		else if (strcmp(k, "hard_exp") == 0)
			rec->hard_exp = u;
		else if (version == 1 && strcmp(k, "uses") == 0 && u <= UINT32_MAX)
			v1_uses = (uint32_t)u;
		else if (strcmp(k, "failures") == 0 && u <= UINT32_MAX)
			rec->failures = (uint32_t)u;
		else if (strcmp(k, "locked_until") == 0)
			rec->locked_until = u;
		else if (strcmp(k, "bucket_milli") == 0)
			rec->bucket.milli = u;
		else if (strcmp(k, "bucket_ts") == 0)
			rec->bucket.ts = u;
		else
			r = fail(err, errlen, -EBADMSG, ln, "unknown or out-of-range key %s", k);
		if (r == -EBADMSG && err && errlen && !err[0])
			fail(err, errlen, r, ln, "%s: bad value", k);
	}
	/* a version 1 record: its one code becomes code 1 of a sheet */
	if (r >= 0 && version == 1 && v1_hash) {
		if (!v1_salt)
			r = fail(err, errlen, -EBADMSG, ln, "hash without salt (version 1)");
		rec->codes[0].id = 1;
		rec->codes[0].uses = v1_uses;
		rec->codes[0].last_used = v1_uses ? rec->last_used : 0;
		rec->n_codes = 1;
	} else if (r >= 0 && version == 1 && v1_salt)
		r = fail(err, errlen, -EBADMSG, ln, "salt without hash (version 1)");
	if (r >= 0)
		*ret = *rec;
	OPENSSL_cleanse(rec, sizeof(*rec));
	free(rec);
	OPENSSL_cleanse(text, len);
	free(text);
	return r;
}

int pt_codes_load(const char *state_dir, const char *type, const char *user,
		  struct pt_code_rec *ret, char *err, size_t errlen)
{
	char path[4096];
	uint8_t *text = NULL;
	size_t len = 0;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (strlen(type) >= sizeof(ret->type) || strlen(user) >= sizeof(ret->user))
		return -EINVAL;
	r = record_path(state_dir, type, user, path, sizeof(path));
	if (r < 0)
		return r;
	r = pt_read_file(path, MAX_RECORD, &text, &len);
	if (r == -ENOENT) {
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->type, sizeof(ret->type), "%s", type);
		snprintf(ret->user, sizeof(ret->user), "%s", user);
		return 0;
	}
	if (r < 0)
		return r;
	r = pt_codes_parse(text, len, type, user, ret, err, errlen);
	OPENSSL_cleanse(text, len);
	free(text);
	return r;
}

int pt_codes_format(const struct pt_code_rec *rec, char *text, size_t len)
{
	char salt[2 * PT_CODE_SALTLEN + 1], hash[2 * PT_CODE_HASHLEN + 1];
	size_t off;
	int n;

	n = snprintf(text, len,
		     "version=2\ntype=%s\nuser=%s\niat=%" PRIu64 "\nlast_used=%" PRIu64
		     "\nhard_exp=%" PRIu64 "\nfailures=%" PRIu32 "\nlocked_until=%" PRIu64
		     "\nbucket_milli=%" PRIu64 "\nbucket_ts=%" PRIu64 "\n",
		     rec->type, rec->user, rec->iat, rec->last_used, rec->hard_exp, rec->failures,
		     rec->locked_until, rec->bucket.milli, rec->bucket.ts);
	if (n < 0 || (size_t)n >= len)
		return -E2BIG;
	off = (size_t)n;
	for (uint32_t i = 0; i < rec->n_codes && i < PT_CODE_MAX_SHEET; i++) {
		const struct pt_code_slot *s = &rec->codes[i];

		pt_hex(s->salt, sizeof(s->salt), salt);
		pt_hex(s->hash, sizeof(s->hash), hash);
		n = snprintf(text + off, len - off,
			     "code=%" PRIu32 " %" PRIu32 " %d %" PRIu64 " %s %s\n", i + 1, s->uses,
			     s->spent ? 1 : 0, s->last_used, salt, hash);
		if (n < 0 || (size_t)n >= len - off)
			return -E2BIG;
		off += (size_t)n;
	}
	return (int)off;
}

int pt_codes_save(const char *state_dir, const struct pt_code_rec *rec)
{
	char path[4096], dir[4096], text[MAX_RECORD];
	int n, r;

	r = record_path(state_dir, rec->type, rec->user, path, sizeof(path));
	if (r < 0)
		return r;
	snprintf(dir, sizeof(dir), "%s/codes", state_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	n = pt_codes_format(rec, text, sizeof(text));
	if (n < 0)
		return n;
	r = pt_atomic_write(path, text, (size_t)n, 0600);
	OPENSSL_cleanse(text, sizeof(text));
	return r;
}
