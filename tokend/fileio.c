/* SPDX-License-Identifier: MIT */
/* File I/O, see fileio.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fileio.h"
#include "io.h"
#include "util.h"

int pt_read_fd(int fd, size_t max, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t cap, len = 0;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		return -EFBIG;
	/* regular files: one read to EOF (size + 1 sees it); others grow */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	if (cap > max)
		cap = max;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t k;

		if (len == cap) {
			uint8_t probe, *nb;

			if (cap >= max) {
				/* full: anything more means the file is too large */
				k = read(fd, &probe, 1);
				if (k < 0 && errno == EINTR)
					continue;
				if (k < 0) {
					r = -errno;
					goto fail;
				}
				if (k > 0) {
					r = -EFBIG;
					goto fail;
				}
				break;
			}
			size_t ncap = cap ? cap * 2 : 4096;
			if (ncap > max || ncap < cap)
				ncap = max;
			nb = malloc(ncap + 1);
			if (!nb) {
				r = -ENOMEM;
				goto fail;
			}
			memcpy(nb, buf, len);
			pt_wipe(buf, len);
			free(buf);
			buf = nb;
			cap = ncap;
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
fail:
	pt_wipe(buf, len);
	free(buf);
	return r;
}

int pt_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	int fd;
	int r;

	if (!path || !ret || !ret_len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	r = pt_read_fd(fd, max, ret, ret_len);
	close(fd);
	return r;
}

static int random_hex(char *buf, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];

	if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
		return -EIO;
	for (size_t i = 0; i < nbytes; i++) {
		buf[2 * i] = hex[b[i] >> 4];
		buf[2 * i + 1] = hex[b[i] & 15];
	}
	buf[2 * nbytes] = '\0';
	return 0;
}

bool pt_is_temp_name(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && name[0] == '.' && strcmp(name + n - 4, ".tmp") == 0;
}

int pt_atomic_write_at(int dfd, const char *base, const void *p, size_t n, mode_t mode,
		       bool sync_dir)
{
	char tmp[NAME_MAX + 1], rnd[13];
	int fd = -1;
	int r;

	if (!base[0] || strchr(base, '/'))
		return -EINVAL;
	if (strlen(base) + 1 + 1 + 12 + 4 > NAME_MAX)
		return -ENAMETOOLONG;
	for (int tries = 0;; tries++) {
		r = random_hex(rnd, 6);
		if (r < 0)
			return r;
		snprintf(tmp, sizeof(tmp), ".%s.%s.tmp", base, rnd);
		fd = openat(dfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
			    mode & 07777);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries >= 16)
			return -errno;
	}
	if (fchmod(fd, mode & 07777) < 0) { /* umask must not loosen or tighten it */
		r = -errno;
		goto fail;
	}
	r = pt_write_all(fd, p, n);
	if (r < 0)
		goto fail;
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		goto fail;
	}
	if (renameat(dfd, tmp, dfd, base) < 0) {
		r = -errno;
		goto fail;
	}
	/* the new content is in place and visible: whatever the directory sync
	 * says, the write took effect (only its durability across a power loss
	 * is in doubt) */
	if (sync_dir && fsync(dfd) < 0)
		return errno;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dfd, tmp, 0);
	return r;
}

int pt_atomic_write(const char *path, const void *p, size_t n, mode_t mode)
{
	int r = pt_atomic_replace(path, p, n, mode);

	return r > 0 ? -r : r;
}

int pt_state_read(const char *path, size_t max, int (*parse)(const char *text, size_t len, void *u),
		  void *u, bool *ret_bad)
{
	uint8_t *text = NULL;
	size_t len = 0;
	int r;

	if (ret_bad)
		*ret_bad = false;
	r = pt_read_file(path, max, &text, &len);
	if (r >= 0) {
		r = parse((const char *)text, len, u);
		free(text);
		if (r == -ENOMEM)
			return r;
	} else if (r == -ENOENT)
		r = 0;
	if (r < 0 && ret_bad)
		*ret_bad = true;
	return 0;
}

int pt_state_write(const char *path, char *json)
{
	int r = pt_atomic_replace(path, json, strlen(json), 0600);

	free(json);
	return r;
}

int pt_atomic_replace(const char *path, const void *p, size_t n, mode_t mode)
{
	const char *slash, *base;
	char *dir;
	int dfd;
	int r;

	if (!path || (!p && n))
		return -EINVAL;
	slash = strrchr(path, '/');
	if (slash) {
		base = slash + 1;
		dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	} else {
		base = path;
		dir = strdup(".");
	}
	if (!dir)
		return -ENOMEM;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (dfd < 0)
		return -errno;
	r = pt_atomic_write_at(dfd, base, p, n, mode, true);
	close(dfd);
	return r;
}

/* Exactly what pt_atomic_write_at leaves behind: ".<base>.<12 hex>.tmp". */
static bool is_our_temp(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 + 1 + 1 + 12 + 4 || name[0] != '.' || strcmp(name + n - 4, ".tmp") != 0 ||
	    name[n - 4 - 12 - 1] != '.')
		return false;
	for (size_t i = n - 4 - 12; i < n - 4; i++)
		if (!strchr("0123456789abcdef", name[i]) || !name[i])
			return false;
	return true;
}

int pt_remove_stale_temps(const char *dir, const char *skip_prefix, size_t *ret_removed)
{
	struct dirent *de;
	size_t removed = 0;
	DIR *d;
	int r = 0;

	if (!dir)
		return -EINVAL;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		struct stat st;

		if (!is_our_temp(de->d_name) ||
		    (skip_prefix && strncmp(de->d_name, skip_prefix, strlen(skip_prefix)) == 0))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			if (r == 0 && errno != ENOENT)
				r = -errno;
			continue;
		}
		removed++;
	}
	if (errno != 0 && r == 0)
		r = -errno;
	if (removed)
		(void)fsync(dirfd(d));
	closedir(d);
	if (ret_removed)
		*ret_removed = removed;
	return r;
}

void pt_close_others(const int *keep, size_t n)
{
	int lo = 3;

	for (;;) {
		int next = -1;

		for (size_t i = 0; i < n; i++)
			if (keep[i] >= lo && (next < 0 || keep[i] < next))
				next = keep[i];
		if (next < 0) {
			syscall(SYS_close_range, (unsigned)lo, ~0U, 0);
			return;
		}
		if (next > lo)
			syscall(SYS_close_range, (unsigned)lo, (unsigned)next - 1, 0);
		lo = next + 1;
	}
}
