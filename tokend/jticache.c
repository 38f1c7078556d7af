/* SPDX-License-Identifier: MIT */
/* The replay cache of external JWTs (jticache.h). */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "jticache.h"
#include "util.h"

#define LINE_MAX_LEN 96		       /* "u64 " + 64 hex + "\n" */
#define FILE_MAX (80u * 1024u * 1024u) /* bytes read of one issuer's file */

struct entry {
	uint64_t keep_until;
	uint8_t h[32];
};

struct issuer {
	char name[65]; /* hex SHA-256 of iss: the file name */
	struct entry *e;
	size_t n, cap;
	size_t lines; /* in the file */
};

struct pt_jticache {
	char *dir;
	struct issuer *is;
	size_t n;
};

static int sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;

	return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -EIO;
}

int pt_jticache_open(const char *dir, struct pt_jticache **ret)
{
	struct pt_jticache *c;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->dir = strdup(dir))) {
		free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

void pt_jticache_close(struct pt_jticache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->is[i].e);
	free(c->is);
	free(c->dir);
	free(c);
}

static int push(struct issuer *is, uint64_t keep_until, const uint8_t h[32])
{
	if (is->n == is->cap) {
		size_t cap = is->cap ? 2 * is->cap : 64;
		struct entry *e = reallocarray(is->e, cap, sizeof(*e));
		if (!e)
			return -ENOMEM;
		is->e = e;
		is->cap = cap;
	}
	is->e[is->n].keep_until = keep_until;
	memcpy(is->e[is->n].h, h, 32);
	is->n++;
	return 0;
}

/* Reads the issuer's file: the entries still kept at now. A line that does
 * not parse is skipped (a torn last line after a crash). */
static int load(struct pt_jticache *c, struct issuer *is, uint64_t now)
{
	char path[4096], line[LINE_MAX_LEN];
	FILE *f;
	int r = 0;

	snprintf(path, sizeof(path), "%s/%s", c->dir, is->name);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (r >= 0 && fgets(line, sizeof(line), f)) {
		unsigned long long t;
		char hx[65];
		uint8_t h[32];

		is->lines++;
		if (sscanf(line, "%llu %64s", &t, hx) != 2 || strlen(hx) != 64 ||
		    pt_unhex(hx, h, 32) < 0)
			continue;
		if (t >= now)
			r = push(is, t, h);
		if (ftell(f) > (long)FILE_MAX)
			r = -EFBIG;
	}
	fclose(f);
	return r;
}

static int find_issuer(struct pt_jticache *c, const char *iss, uint64_t now, struct issuer **ret)
{
	uint8_t h[32];
	char name[65];
	struct issuer *v;
	int r;

	if ((r = sha256(iss, strlen(iss), h)) < 0)
		return r;
	pt_hex(h, 32, name);
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->is[i].name, name) == 0) {
			*ret = &c->is[i];
			return 0;
		}
	v = reallocarray(c->is, c->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->is = v;
	memset(&v[c->n], 0, sizeof(v[c->n]));
	memcpy(v[c->n].name, name, sizeof(name));
	r = load(c, &v[c->n], now);
	if (r < 0) {
		free(v[c->n].e);
		return r;
	}
	*ret = &v[c->n++];
	return 0;
}

/* Drops the lapsed entries in memory. */
static void prune(struct issuer *is, uint64_t now)
{
	size_t k = 0;

	for (size_t i = 0; i < is->n; i++)
		if (is->e[i].keep_until >= now)
			is->e[k++] = is->e[i];
	is->n = k;
}

static int rewrite(struct pt_jticache *c, struct issuer *is)
{
	char path[4096], *buf, *p;
	char hx[65];
	int r;

	buf = malloc(is->n * LINE_MAX_LEN + 1);
	if (!buf)
		return -ENOMEM;
	p = buf;
	for (size_t i = 0; i < is->n; i++) {
		pt_hex(is->e[i].h, 32, hx);
		p += sprintf(p, "%llu %s\n", (unsigned long long)is->e[i].keep_until, hx);
	}
	snprintf(path, sizeof(path), "%s/%s", c->dir, is->name);
	r = pt_atomic_write(path, buf, (size_t)(p - buf), 0600);
	free(buf);
	if (r >= 0)
		is->lines = is->n;
	return r;
}

static int append(struct pt_jticache *c, struct issuer *is, uint64_t keep_until,
		  const uint8_t h[32])
{
	char path[4096], line[LINE_MAX_LEN], hx[65];
	_cleanup_close_ int fd = -1;
	bool created;
	int n;

	snprintf(path, sizeof(path), "%s/%s", c->dir, is->name);
	pt_hex(h, 32, hx);
	n = snprintf(line, sizeof(line), "%llu %s\n", (unsigned long long)keep_until, hx);
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	/* a torn last line (a crash or a full disk mid-write) would swallow
	 * this one (joined, the line parses as neither): start a new line */
	if (!created) {
		off_t end = lseek(fd, 0, SEEK_END);
		char last = '\n';

		if (end < 0)
			return -errno;
		if (end > 0 && pread(fd, &last, 1, end - 1) != 1)
			return -EIO;
		if (last != '\n' && write(fd, "\n", 1) != 1)
			return -EIO;
	}
	if (write(fd, line, (size_t)n) != n)
		return -EIO;
	if (fdatasync(fd) < 0)
		return -errno;
	/* a new file: its name must be durable too */
	if (created) {
		_cleanup_close_ int dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0)
			return -errno;
	}
	is->lines++;
	return 0;
}

int pt_jticache_add(struct pt_jticache *c, const char *iss, const char *jti, uint64_t keep_until,
		    uint64_t now, uint32_t max)
{
	struct issuer *is;
	uint8_t h[32];
	int r;

	if ((r = find_issuer(c, iss, now, &is)) < 0 || (r = sha256(jti, strlen(jti), h)) < 0)
		return r;
	prune(is, now);
	for (size_t i = 0; i < is->n; i++)
		if (CRYPTO_memcmp(is->e[i].h, h, 32) == 0)
			return -EEXIST;
	if (is->n >= max)
		return -ENOSPC;
	if (is->lines > 2 * is->n + 64 && (r = rewrite(c, is)) < 0)
		return r;
	/* durable first: an entry only in memory would be forgotten by a crash */
	if ((r = append(c, is, keep_until, h)) < 0)
		return r;
	return push(is, keep_until, h);
}
