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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "util.h"

#define MAX_RECORD 4096

static int sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return -EIO;
	return 0;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EBADMSG;
		out[i] = (uint8_t)v;
	}
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
	hex(h, 20, hx);
	if ((size_t)snprintf(buf, len, "%s/codes/%s.code", state_dir, hx) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int pt_codes_hash(const uint8_t salt[PT_CODE_SALTLEN], const char *type, const char *user,
		  const char *code, uint8_t ret[PT_CODE_HASHLEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned len = 0;
	int r = -EIO;

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

int pt_codes_parse(const void *data, size_t len, const char *type, const char *user,
		   struct pt_code_rec *ret)
{
	struct pt_code_rec rec = { 0 };
	char *text, *line, *save = NULL;
	int r = 0;

	if (strlen(type) >= sizeof(rec.type) || strlen(user) >= sizeof(rec.user))
		return -EINVAL;
	if (len > MAX_RECORD || memchr(data, '\0', len))
		return -EBADMSG;
	text = malloc(len + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text, data, len);
	text[len] = '\0';
	snprintf(rec.type, sizeof(rec.type), "%s", type);
	snprintf(rec.user, sizeof(rec.user), "%s", user);
	for (line = strtok_r(text, "\n", &save); line && r >= 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		const char *k, *v;
		uint64_t u = 0;

		if (!eq) {
			r = -EBADMSG;
			break;
		}
		*eq = '\0';
		k = line;
		v = eq + 1;
		if (strcmp(k, "type") == 0)
			r = strcmp(v, type) == 0 ? 0 : -EBADMSG;
		else if (strcmp(k, "user") == 0)
			r = strcmp(v, user) == 0 ? 0 : -EBADMSG;
		else if (strcmp(k, "salt") == 0)
			r = unhex(v, rec.salt, sizeof(rec.salt));
		else if (strcmp(k, "hash") == 0) {
			r = unhex(v, rec.hash, sizeof(rec.hash));
			rec.active = r >= 0;
		} else if (pt_parse_u64(v, &u) < 0)
			r = -EBADMSG;
		else if (strcmp(k, "iat") == 0)
			rec.iat = u;
		else if (strcmp(k, "last_used") == 0)
			rec.last_used = u;
		else if (strcmp(k, "hard_exp") == 0)
			rec.hard_exp = u;
		else if (strcmp(k, "uses") == 0 && u <= UINT32_MAX)
			rec.uses = (uint32_t)u;
		else if (strcmp(k, "failures") == 0 && u <= UINT32_MAX)
			rec.failures = (uint32_t)u;
		else if (strcmp(k, "locked_until") == 0)
			rec.locked_until = u;
		else if (strcmp(k, "bucket_milli") == 0)
			rec.bucket.milli = u;
		else if (strcmp(k, "bucket_ts") == 0)
			rec.bucket.ts = u;
		else
			r = -EBADMSG;
	}
	if (r >= 0)
		*ret = rec;
	OPENSSL_cleanse(&rec, sizeof(rec));
	OPENSSL_cleanse(text, len);
	free(text);
	return r;
}

int pt_codes_load(const char *state_dir, const char *type, const char *user,
		  struct pt_code_rec *ret)
{
	struct pt_code_rec rec = { 0 };
	char path[4096];
	uint8_t *text = NULL;
	size_t len = 0;
	int r;

	if (strlen(type) >= sizeof(rec.type) || strlen(user) >= sizeof(rec.user))
		return -EINVAL;
	r = record_path(state_dir, type, user, path, sizeof(path));
	if (r < 0)
		return r;
	r = pt_read_file(path, MAX_RECORD, &text, &len);
	if (r == -ENOENT) {
		snprintf(rec.type, sizeof(rec.type), "%s", type);
		snprintf(rec.user, sizeof(rec.user), "%s", user);
		*ret = rec;
		return 0;
	}
	if (r < 0)
		return r;
	r = pt_codes_parse(text, len, type, user, ret);
	free(text);
	return r;
}

int pt_codes_format(const struct pt_code_rec *rec, char *text, size_t len)
{
	char salt[2 * PT_CODE_SALTLEN + 1], hash[2 * PT_CODE_HASHLEN + 1];
	int n;

	hex(rec->salt, sizeof(rec->salt), salt);
	hex(rec->hash, sizeof(rec->hash), hash);
	n = snprintf(text, len,
		     "type=%s\nuser=%s\n%s%s%s%s%siat=%" PRIu64 "\nlast_used=%" PRIu64
		     "\nhard_exp=%" PRIu64 "\nuses=%" PRIu32 "\nfailures=%" PRIu32
		     "\nlocked_until=%" PRIu64 "\nbucket_milli=%" PRIu64 "\nbucket_ts=%" PRIu64
		     "\n",
		     rec->type, rec->user, rec->active ? "salt=" : "", rec->active ? salt : "",
		     rec->active ? "\nhash=" : "", rec->active ? hash : "", rec->active ? "\n" : "",
		     rec->iat, rec->last_used, rec->hard_exp, rec->uses, rec->failures,
		     rec->locked_until, rec->bucket.milli, rec->bucket.ts);
	if (n < 0 || (size_t)n >= len)
		return -E2BIG;
	return n;
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
