/* SPDX-License-Identifier: MIT */
/* The usage journal, see journal.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "util.h"

#define JOURNAL_CHUNK (64u * 1024)

struct pt_journal {
	int fd;
	size_t size;   /* bytes written (the file's length) */
	size_t synced; /* of which known to be on disk */
	char *q;       /* queued lines */
	size_t qlen, qcap;
};

int pt_journal_open(const char *path, struct pt_journal **ret)
{
	struct pt_journal *j;
	struct stat st;

	if (!path || !ret)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (j->fd < 0 || fstat(j->fd, &st) < 0) {
		int r = -errno;
		pt_journal_free(j);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		pt_journal_free(j);
		return -EINVAL;
	}
	j->size = j->synced = (size_t)st.st_size;
	*ret = j;
	return 0;
}

void pt_journal_free(struct pt_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->q);
	free(j);
}

int pt_journal_replay(struct pt_journal *j, void (*fn)(void *u, char *line), void *u)
{
	char *buf;
	size_t have = 0, off = 0;
	bool skip = false; /* inside an over-long line */
	int r = 0;

	if (!j || !fn)
		return -EINVAL;
	buf = malloc(JOURNAL_CHUNK + 1);
	if (!buf)
		return -ENOMEM;
	/* in chunks: a journal that grew while compaction failed still replays */
	while (off < j->size) {
		size_t want = JOURNAL_CHUNK - have, start = 0;
		ssize_t k;

		if (want > j->size - off)
			want = j->size - off;
		k = pread(j->fd, buf + have, want, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		off += (size_t)k;
		have += (size_t)k;
		for (size_t i = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			buf[i] = '\0';
			if (!skip && i > start && i - start < PT_JOURNAL_LINE_MAX &&
			    !memchr(buf + start, '\0', i - start))
				fn(u, buf + start);
			skip = false;
			start = i + 1;
		}
		if (start > 0 && have > start)
			memmove(buf, buf + start, have - start);
		have -= start;
		if (have == JOURNAL_CHUNK) { /* no newline in a whole chunk */
			skip = true;
			have = 0;
		}
	}
	/* bytes after the last newline: a line cut by a crash, never acknowledged */
	free(buf);
	return r;
}

int pt_journal_add(struct pt_journal *j, const char *line)
{
	size_t n;

	if (!j || !line)
		return -EINVAL;
	n = strlen(line);
	if (n == 0 || n >= PT_JOURNAL_LINE_MAX || memchr(line, '\n', n))
		return -EINVAL;
	if (j->qlen + n + 1 > j->qcap) {
		size_t cap = j->qcap ? j->qcap : 4096;
		char *q;

		while (cap < j->qlen + n + 1)
			cap *= 2;
		q = realloc(j->q, cap);
		if (!q)
			return -ENOMEM;
		j->q = q;
		j->qcap = cap;
	}
	memcpy(j->q + j->qlen, line, n);
	j->q[j->qlen + n] = '\n';
	j->qlen += n + 1;
	return 0;
}

bool pt_journal_pending(const struct pt_journal *j)
{
	return j && j->qlen > 0;
}

int pt_journal_write(struct pt_journal *j)
{
	size_t off = 0;
	int r;

	if (!j)
		return -EINVAL;
	while (off < j->qlen) {
		ssize_t k = pwrite(j->fd, j->q + off, j->qlen - off, (off_t)(j->size + off));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			/* no torn line between good ones: the next try writes them here */
			(void)!ftruncate(j->fd, (off_t)j->size);
			return r;
		}
		off += (size_t)k;
	}
	j->size += j->qlen;
	j->qlen = 0;
	return 0;
}

int pt_journal_sync(struct pt_journal *j)
{
	int r;

	r = pt_journal_write(j);
	if (r < 0)
		return r;
	if (j->synced == j->size)
		return 0;
	/* a failure leaves the lines in place (they may hold uses already
	 * granted in batch mode); the next sync tries again */
	if (fdatasync(j->fd) < 0)
		return -errno;
	j->synced = j->size;
	return 0;
}

bool pt_journal_unsynced(const struct pt_journal *j)
{
	return j && (j->qlen > 0 || j->synced != j->size);
}

int pt_journal_reset(struct pt_journal *j)
{
	if (!j)
		return -EINVAL;
	if (j->size == 0)
		return 0;
	if (ftruncate(j->fd, 0) < 0)
		return -errno;
	j->size = j->synced = 0; /* the next lines go to offset 0 whether or not this sync works */
	if (fsync(j->fd) < 0)
		return -errno;
	return 0;
}

size_t pt_journal_size(const struct pt_journal *j)
{
	return j ? j->size : 0;
}
