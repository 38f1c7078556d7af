/* SPDX-License-Identifier: MIT */
/* The replay cache of SSH-signed grant requests, see sigreplay.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "grantreq.h"
#include "sigreplay.h"
#include "util.h"

#define HEADER "pertok-sshsig-nonces 1\n"
#define LINE_MAX_LEN (10 + 1 + 20 + 1 + PT_GRANTREQ_NONCE_MAX + 1)

struct entry {
	uid_t uid;
	uint64_t issued;
	char nonce[PT_GRANTREQ_NONCE_MAX + 1];
};

struct pt_sigreplay {
	char *path;
	struct entry *e;
	size_t n;
	uint64_t floor; /* the latest issued time of a nonce dropped (0: none) */
};

void pt_sigreplay_free(struct pt_sigreplay *s)
{
	if (!s)
		return;
	free(s->path);
	free(s->e);
	free(s);
}

static int parse(struct pt_sigreplay *s, const char *text, size_t len)
{
	size_t hl = strlen(HEADER), off;

	if (len < hl || memcmp(text, HEADER, hl) != 0)
		return -EBADMSG;
	off = hl;
	if (len - off > 6 && memcmp(text + off, "floor ", 6) == 0) {
		const char *nl = memchr(text + off, '\n', len - off);
		char num[24];
		size_t n = nl ? (size_t)(nl - (text + off)) - 6 : 0;

		if (!nl || n == 0 || n >= sizeof(num))
			return -EBADMSG;
		memcpy(num, text + off + 6, n);
		num[n] = '\0';
		if (pt_parse_u64(num, &s->floor) < 0)
			return -EBADMSG;
		off += 6 + n + 1;
	}
	for (; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off);
		char line[LINE_MAX_LEN + 1], nonce[PT_GRANTREQ_NONCE_MAX + 2];
		unsigned long long issued;
		unsigned uid;
		size_t n;
		int used = 0;

		if (!nl || s->n == PT_SIGREPLAY_MAX)
			return -EBADMSG;
		n = (size_t)(nl - (text + off));
		if (n > LINE_MAX_LEN)
			return -EBADMSG;
		memcpy(line, text + off, n);
		line[n] = '\0';
		if (sscanf(line, "%u %llu %65s%n", &uid, &issued, nonce, &used) != 3 ||
		    (size_t)used != n || strlen(nonce) > PT_GRANTREQ_NONCE_MAX)
			return -EBADMSG;
		s->e[s->n].uid = (uid_t)uid;
		s->e[s->n].issued = issued;
		memcpy(s->e[s->n].nonce, nonce, strlen(nonce) + 1);
		s->n++;
		off += n + 1;
	}
	return 0;
}

int pt_sigreplay_open(const char *dir, struct pt_sigreplay **ret)
{
	struct pt_sigreplay *s = calloc(1, sizeof(*s));
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = -ENOMEM;

	if (!s)
		return -ENOMEM;
	if (asprintf(&s->path, "%s/%s", dir, PT_SIGREPLAY_FILE) < 0) {
		s->path = NULL;
		goto fail;
	}
	s->e = calloc(PT_SIGREPLAY_MAX + 1, sizeof(*s->e));
	if (!s->e)
		goto fail;
	r = pt_read_file(s->path, (size_t)PT_SIGREPLAY_MAX * LINE_MAX_LEN + sizeof(HEADER), &buf,
			 &len);
	if (r == -ENOENT)
		r = 0;
	else if (r == 0)
		r = parse(s, (const char *)buf, len);
	free(buf);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	pt_sigreplay_free(s);
	return r;
}

static bool alive(const struct entry *e, uint64_t now)
{
	return e->issued + PT_GRANTREQ_MAX_AGE + PT_SIGREPLAY_SKEW >= now;
}

/* The file with the live entries (and, when add, one more). */
static int write_all(struct pt_sigreplay *s, const struct entry *add)
{
	size_t cap = sizeof(HEADER) + 32 + (s->n + 1) * (LINE_MAX_LEN + 1), len;
	char *buf = malloc(cap);
	int r;

	if (!buf)
		return -ENOMEM;
	len = (size_t)snprintf(buf, cap, "%s", HEADER);
	if (s->floor)
		len += (size_t)snprintf(buf + len, cap - len, "floor %" PRIu64 "\n", s->floor);
	for (size_t i = 0; i <= s->n; i++) {
		const struct entry *e = i < s->n ? &s->e[i] : add;

		if (e)
			len += (size_t)snprintf(buf + len, cap - len, "%u %" PRIu64 " %s\n",
						(unsigned)e->uid, e->issued, e->nonce);
	}
	/* synced, and the directory too, before the grant is made */
	r = pt_atomic_write(s->path, buf, len, 0600);
	free(buf);
	return r;
}

int pt_sigreplay_take(struct pt_sigreplay *s, uid_t uid, const char *nonce, uint64_t issued,
		      uint64_t now)
{
	struct entry add = { .uid = uid, .issued = issued };
	size_t w = 0, mine = 0;

	if (!s || !nonce || strlen(nonce) > PT_GRANTREQ_NONCE_MAX)
		return -EINVAL;
	/* what aged out goes (on disk with the next write) */
	for (size_t i = 0; i < s->n; i++)
		if (alive(&s->e[i], now))
			s->e[w++] = s->e[i];
		else if (s->e[i].issued > s->floor)
			s->floor = s->e[i].issued;
	s->n = w;
	/* a nonce no longer kept may have been this one: a request issued no
	 * later than the latest dropped is refused, whatever the clock says
	 * now (stepped back, it would find the request fresh again) */
	if (issued <= s->floor)
		return -ESTALE;
	for (size_t i = 0; i < s->n; i++) {
		if (s->e[i].uid != uid)
			continue;
		if (strcmp(s->e[i].nonce, nonce) == 0)
			return -EALREADY;
		mine++;
	}
	if (mine >= PT_SIGREPLAY_PER_UID || s->n >= PT_SIGREPLAY_MAX)
		return -EDQUOT;
	memcpy(add.nonce, nonce, strlen(nonce) + 1);
	{
		int r = write_all(s, &add);

		if (r < 0)
			return r;
	}
	s->e[s->n++] = add;
	return 0;
}
