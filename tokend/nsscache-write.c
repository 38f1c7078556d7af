/* SPDX-License-Identifier: MIT */
/* tokend writes the NSS cache (nsscache-write.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "nsscache-write.h"
#include "nsscache.h"
#include "record.h"
#include "store.h"
#include "util.h"

static int by_iat_desc(const void *a, const void *b)
{
	const struct pt_record *x = *(const struct pt_record *const *)a;
	const struct pt_record *y = *(const struct pt_record *const *)b;

	if (x->iat != y->iat)
		return x->iat > y->iat ? -1 : 1;
	return strcmp(x->id, y->id); /* a stable order for equal times */
}

/* Groups whose member list the file cannot hold whole: how many members
 * were left out of each (a handful of groups at most, searched linearly). */
struct overfull {
	const char *group; /* a record's string: lives as long as the build */
	size_t left_out;
};

static int overfull_count(struct overfull **v, size_t *n, const char *group)
{
	struct overfull *p;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].group, group) == 0) {
			(*v)[i].left_out++;
			return 0;
		}
	p = realloc(*v, (*n + 1) * sizeof(**v));
	if (!p)
		return -ENOMEM;
	*v = p;
	p[*n] = (struct overfull){ .group = group, .left_out = 1 };
	(*n)++;
	return 0;
}

/* One line per group left incomplete: the rest of the cache is written and
 * keeps answering for everyone (the group's first members, by newest token,
 * are in it). */
static void overfull_log(const struct overfull *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pt_log_kv(LOG_WARNING, "nss-cache", "truncated", "group", v[i].group, "left_out",
			  PT_LOG_U(v[i].left_out), "limit", PT_LOG_U(NSSC_MAX_MEMBERS), "reason",
			  PT_LOG_F("the cache holds at most %u members of a group (or %u MiB "
				   "of names): the rest of group %s is left out",
				   NSSC_MAX_MEMBERS, NSSC_MAX_FILE / 2 / (1024 * 1024), v[i].group),
			  NULL);
}

int pt_nsscache_build(const struct pt_record *const *recs, size_t n, pt_nsscache_gid_fn gid_fn,
		      void *userdata, uint8_t **ret, size_t *ret_len)
{
	return pt_nsscache_build_rpo(recs, n, NULL, 0, gid_fn, userdata, ret, ret_len);
}

/* A remote principal: its passwd entry, its private group (gid = uid), and
 * membership of the local groups its entitlements map to, all expiring at
 * its not_after. Names taken by a token holder keep the holder's entry. */
static int add_rpo(struct nssc_builder *b, const struct pt_nss_rpo *p, pt_nsscache_gid_fn gid_fn,
		   void *userdata)
{
	int r;

	r = nssc_builder_add_passwd_exp(b, p->name, p->uid, (gid_t)p->uid,
					"pertok remote principal", p->home, p->shell, p->expire);
	if (r == -EEXIST || r == -EINVAL)
		return 0;
	if (r < 0)
		return r;
	r = nssc_builder_add_group_exp(b, p->name, (gid_t)p->uid, p->expire);
	if (r < 0 && r != -EEXIST && r != -EINVAL)
		return r;
	for (size_t k = 0; k < p->n_groups; k++) {
		const char *g = p->groups[k];
		gid_t gid;

		r = nssc_builder_add_member(b, g, p->name);
		if (r == -ENOENT) {
			if (!gid_fn || gid_fn(g, &gid, userdata) < 0)
				continue;
			r = nssc_builder_add_group(b, g, gid);
			if (r == 0)
				r = nssc_builder_add_member(b, g, p->name);
		}
		if (r < 0 && r != -EINVAL && r != -E2BIG)
			return r;
	}
	return 0;
}

int pt_nsscache_build_rpo(const struct pt_record *const *recs, size_t n,
			  const struct pt_nss_rpo *rpos, size_t n_rpos, pt_nsscache_gid_fn gid_fn,
			  void *userdata, uint8_t **ret, size_t *ret_len)
{
	struct nssc_builder *b = NULL;
	const struct pt_record **v = NULL;
	struct overfull *over = NULL;
	size_t n_over = 0;
	int r;

	if (n > 0) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, recs, n * sizeof(*v));
		qsort(v, n, sizeof(*v), by_iat_desc);
	}
	r = nssc_builder_new(&b);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct pt_record *rec = v[i];

		r = nssc_builder_add_passwd(b, rec->user, rec->uid, rec->gid, rec->gecos, rec->home,
					    rec->shell);
		if (r == -EEXIST || r == -EINVAL)
			continue; /* an older token of the user; or a name the file cannot hold */
		if (r < 0)
			goto out;
		for (size_t k = 0; k < rec->n_groups; k++) {
			const char *g = rec->groups[k];
			gid_t gid;

			if (k == 0) {
				/* the primary group (account.c lists it first) */
				r = nssc_builder_add_group(b, g, rec->gid);
				if (r < 0 && r != -EEXIST && r != -EINVAL)
					goto out;
				continue;
			}
			r = nssc_builder_add_member(b, g, rec->user);
			if (r == -ENOENT) {
				if (!gid_fn || gid_fn(g, &gid, userdata) < 0)
					continue;
				r = nssc_builder_add_group(b, g, gid);
				if (r == 0)
					r = nssc_builder_add_member(b, g, rec->user);
			}
			/* a group past the format's limit: its member list stays
			 * truncated, the cache is still written for everyone */
			if (r == -E2BIG)
				r = overfull_count(&over, &n_over, g);
			if (r < 0 && r != -EINVAL)
				goto out;
		}
	}
	for (size_t i = 0; i < n_rpos; i++) {
		r = add_rpo(b, &rpos[i], gid_fn, userdata);
		if (r < 0)
			goto out;
	}
	r = nssc_builder_finish(b, ret, ret_len);
	if (r == 0)
		overfull_log(over, n_over);
out:
	nssc_builder_free(b);
	free(over);
	free(v);
	return r;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The file being replaced, opened before the rename (-1: none) */
static int open_old(const char *path)
{
	uint8_t magic[8];
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    memcmp(magic, NSSC_MAGIC, sizeof(magic)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* After the rename: the old file's readers see its stale word at their next
 * look-up and map the path again, which names the new file by then. (Marked
 * after the rename, not before: a reader that re-maps on the mark never
 * finds the old file still in place.) */
static void mark_stale(int fd)
{
	uint32_t one = 1;
	ssize_t k;

	if (fd < 0)
		return;
	k = pwrite(fd, &one, sizeof(one), NSSC_STALE_OFFSET);
	(void)k; /* not marked: its readers keep it until they re-map */
	close(fd);
}

int pt_nsscache_install(const char *path, const uint8_t *data, size_t len)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd = -1, dfd = -1, ofd = -1, r;

	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(dir))
		return -EINVAL;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	r = write_all(fd, data, len);
	if (r < 0)
		goto fail;
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	ofd = open_old(path);
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	mark_stale(ofd);
	ofd = -1;
	(void)fsync(dfd);
	r = 0;
	goto out;
fail:
	(void)unlink(tmp);
out:
	if (ofd >= 0)
		close(ofd);
	if (fd >= 0)
		close(fd);
	close(dfd);
	return r;
}

/* ---------------------------------------------------------------- update */
static uint64_t fnv64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t fnv64_str(uint64_t h, const char *s)
{
	return fnv64(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

/* What a record puts in the file, hashed (the sum over records is the same
 * whatever the store's order) */
static uint64_t rec_sig(const struct pt_record *r)
{
	uint64_t h = 14695981039346656037ull;
	uint32_t ids[2] = { (uint32_t)r->uid, (uint32_t)r->gid };

	h = fnv64_str(h, r->user);
	h = fnv64(h, ids, sizeof(ids));
	h = fnv64(h, &r->iat, sizeof(r->iat));
	h = fnv64_str(h, r->gecos);
	h = fnv64_str(h, r->home);
	h = fnv64_str(h, r->shell);
	for (size_t i = 0; i < r->n_groups; i++)
		h = fnv64_str(h, r->groups[i]);
	return h;
}

struct old_file {
	void *map;
	size_t len;
	struct nssc_view v;
	bool valid;
};

static void old_open(const char *path, struct old_file *o)
{
	struct stat s;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

	memset(o, 0, sizeof(*o));
	if (fd < 0)
		return;
	if (fstat(fd, &s) == 0 && S_ISREG(s.st_mode) && s.st_size >= (off_t)NSSC_HEADER_SIZE &&
	    s.st_size <= (off_t)NSSC_MAX_FILE) {
		o->map = mmap(NULL, (size_t)s.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (o->map == MAP_FAILED) {
			o->map = NULL;
		} else {
			o->len = (size_t)s.st_size;
			o->valid = nssc_open(o->map, o->len, &o->v) == 0;
		}
	}
	close(fd);
}

static void old_close(struct old_file *o)
{
	if (o->map)
		munmap(o->map, o->len);
}

/* getgrnam_r, else the gid the file being replaced has for the name */
static int resolve_gid(const char *group, gid_t *ret, void *userdata)
{
	const struct old_file *o = userdata;
	struct group g, *res = NULL;
	struct nssc_gr e;
	char buf[16384];

	if (getgrnam_r(group, &g, buf, sizeof(buf), &res) == 0 && res) {
		*ret = res->gr_gid;
		return 0;
	}
	if (o && o->valid && nssc_gr_byname(&o->v, group, &e) == 0) {
		*ret = e.gid;
		return 0;
	}
	return -ENOENT;
}

unsigned long pt_nsscache_builds;

/* tokend's key holder is one thread: the last state written, per path */
static char last_path[PATH_MAX];
static uint64_t last_sig;
static bool last_ok;

int pt_nsscache_update(struct pt_store *s, const char *path, uint64_t now)
{
	return pt_nsscache_update_rpo(s, NULL, 0, path, now);
}

static uint64_t rpo_sig(const struct pt_nss_rpo *p)
{
	uint64_t h = fnv64(0, p->name, strlen(p->name));

	h = fnv64(h, &p->uid, sizeof(p->uid));
	h = fnv64(h, &p->expire, sizeof(p->expire));
	h = fnv64(h, p->home, strlen(p->home));
	h = fnv64(h, p->shell, strlen(p->shell));
	for (size_t k = 0; k < p->n_groups; k++)
		h = fnv64(h, p->groups[k], strlen(p->groups[k]) + 1);
	return h;
}

int pt_nsscache_update_rpo(struct pt_store *s, const struct pt_nss_rpo *rpos, size_t n_rpos,
			   const char *path, uint64_t now)
{
	const struct pt_record **live = NULL;
	size_t n = 0, total = pt_store_count(s), len = 0;
	uint64_t sig = 0;
	uint8_t *data = NULL;
	struct old_file old;
	int r;

	if (!path || !*path)
		return 0;
	/* no cache directory: none is wanted here, and nothing to build */
	{
		char dir[PATH_MAX];
		const char *slash = strrchr(path, '/');
		struct stat st;

		if (slash && (size_t)(slash - path) < sizeof(dir)) {
			memcpy(dir, path, (size_t)(slash - path));
			dir[slash - path] = '\0';
			if (slash != path && stat(dir, &st) < 0 && errno == ENOENT)
				return -ENOENT;
		}
	}
	if (total > 0) {
		live = malloc(total * sizeof(*live));
		if (!live)
			return -ENOMEM;
	}
	for (size_t i = 0; i < total; i++) {
		const struct pt_record *rec = pt_store_at(s, i);

		if (rec->exp <= now)
			continue;
		live[n++] = rec;
		sig += rec_sig(rec);
	}
	for (size_t i = 0; i < n_rpos; i++)
		sig += rpo_sig(&rpos[i]);
	sig = fnv64(sig, &n, sizeof(n));
	sig = fnv64(sig, &n_rpos, sizeof(n_rpos));
	if (last_ok && last_sig == sig && strcmp(last_path, path) == 0 && access(path, F_OK) == 0) {
		free(live);
		return 0;
	}
	old_open(path, &old);
	pt_nsscache_builds++;
	r = pt_nsscache_build_rpo(live, n, rpos, n_rpos, resolve_gid, &old, &data, &len);
	old_close(&old);
	free(live);
	if (r < 0)
		return r;
	r = pt_nsscache_install(path, data, len);
	free(data);
	if (r < 0) {
		last_ok = false;
		return r;
	}
	if (strlen(path) < sizeof(last_path)) {
		strcpy(last_path, path);
		last_sig = sig;
		last_ok = true;
	}
	return 0;
}
