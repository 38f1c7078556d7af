/* SPDX-License-Identifier: MIT */
/* libnss_pertok.so.2: passwd, group and initgroups for the holders of
 * persistable tokens, answered from the cache file tokend writes
 * (NSS_CACHE_PATH, format in common/nsscache.h). Loaded into every process
 * that resolves a name: libc only, no socket, no I/O beyond that one file,
 * no exit(), no logging.
 *
 * The file is mapped read-only once and kept; tokend sets the header's stale
 * word in the old file before it renames a new one in, so a look-up notices a
 * replaced file by reading one word (no stat() per call). Status: no file or
 * a file that fails validation -> UNAVAIL (*errnop ENOENT or EIO), so
 * nsswitch falls through; an absent name -> NOTFOUND; a short buffer ->
 * TRYAGAIN with *errnop = ERANGE.
 *
 * One mutex guards the mapping (a re-map must not pull it from under another
 * thread); pthread_atfork keeps it usable in a child forked while it was held.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nsscache.h"

#ifndef NSS_CACHE_PATH
#error "NSS_CACHE_PATH must be defined"
#endif

#define EXPORT __attribute__((visibility("default")))
/* how often a missing/invalid/stale file is looked for again (ms) */
#define RETRY_MS 100

/* the entry points glibc looks up (nss.h declares none of them) */
EXPORT enum nss_status _nss_pertok_getpwnam_r(const char *, struct passwd *, char *, size_t, int *);
EXPORT enum nss_status _nss_pertok_getpwuid_r(uid_t, struct passwd *, char *, size_t, int *);
EXPORT enum nss_status _nss_pertok_getgrnam_r(const char *, struct group *, char *, size_t, int *);
EXPORT enum nss_status _nss_pertok_getgrgid_r(gid_t, struct group *, char *, size_t, int *);
EXPORT enum nss_status _nss_pertok_setpwent(int);
EXPORT enum nss_status _nss_pertok_endpwent(void);
EXPORT enum nss_status _nss_pertok_getpwent_r(struct passwd *, char *, size_t, int *);
EXPORT enum nss_status _nss_pertok_setgrent(int);
EXPORT enum nss_status _nss_pertok_endgrent(void);
EXPORT enum nss_status _nss_pertok_getgrent_r(struct group *, char *, size_t, int *);
EXPORT enum nss_status _nss_pertok_initgroups_dyn(const char *, gid_t, long int *, long int *,
						  gid_t **, long int, int *);
EXPORT enum nss_status _nss_pertok_getspnam_r(const char *, struct spwd *, char *, size_t, int *);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct {
	void *map;
	size_t len;
	struct nssc_view v;
	bool valid;
	uint64_t retry_after; /* no new attempt to map before (CLOCK_MONOTONIC_COARSE ms) */
	int err;	      /* its result when it left no valid mapping */
	uint32_t pw_cursor, gr_cursor;
} st;

static void atfork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void atfork_release(void)
{
	pthread_mutex_unlock(&lock);
}

static bool bypass; /* PERTOK_NSS_BYPASS set: this process is tokend */

static void init_once(void)
{
	bypass = getenv("PERTOK_NSS_BYPASS") != NULL;
	pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void unmap(void)
{
	if (st.map)
		munmap(st.map, st.len);
	st.map = NULL;
	st.len = 0;
	st.valid = false;
}

/* Map the file and validate it: 0, -ENOENT (no file), -EIO (invalid) */
static int map_file(void)
{
	struct nssc_view v;
	struct stat s;
	void *m;
	int fd, r;

	fd = open(NSS_CACHE_PATH, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	/* a regular file only root can have written: anyone else could name
	 * themselves uid 0 through it */
	if (fstat(fd, &s) < 0 || !S_ISREG(s.st_mode) || s.st_uid != 0 || (s.st_mode & 022) ||
	    s.st_size < (off_t)NSSC_HEADER_SIZE || s.st_size > (off_t)NSSC_MAX_FILE) {
		close(fd);
		return -EIO;
	}
	m = mmap(NULL, (size_t)s.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -EIO;
	r = nssc_open(m, (size_t)s.st_size, &v);
	if (r < 0) {
		munmap(m, (size_t)s.st_size);
		return -EIO;
	}
	unmap();
	st.map = m;
	st.len = (size_t)s.st_size;
	st.v = v;
	st.valid = true;
	return 0;
}

/* Under the lock: a valid view in st.v, or a negative errno (UNAVAIL). A
 * mapping marked stale is replaced at once by the new file; when there is
 * none yet (tokend marks the old file just before its rename) or no valid
 * file at all, the next attempt waits RETRY_MS, and a stale but valid mapping
 * keeps answering meanwhile. */
static int cache_get(void)
{
	uint64_t t;
	int r;

	if (bypass)
		return -ENOENT;
	if (st.valid && !nssc_stale(&st.v))
		return 0;
	t = now_ms();
	if (st.retry_after != 0 && t < st.retry_after)
		return st.valid ? 0 : st.err;
	/* a file replaced again between our open() and its check is stale too:
	 * the path then already names a newer one */
	for (int i = 0; i < 3; i++) {
		r = map_file();
		if (r == 0 && !nssc_stale(&st.v)) {
			st.retry_after = 0;
			return 0;
		}
		if (r < 0)
			break;
	}
	st.retry_after = t + RETRY_MS;
	if (r < 0 && !st.valid) {
		st.err = r;
		return r;
	}
	return 0;
}

static enum nss_status unavail(int r, int *errnop)
{
	*errnop = r == -ENOENT ? ENOENT : EIO;
	return NSS_STATUS_UNAVAIL;
}

static void enter(void)
{
	pthread_once(&once, init_once);
	pthread_mutex_lock(&lock);
}

static void leave(void)
{
	pthread_mutex_unlock(&lock);
}

/* Wall-clock seconds, for the expiry of remote principals. */
static uint64_t now_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return UINT64_MAX; /* no clock: treat every expiring entry as expired */
	return (uint64_t)ts.tv_sec;
}

static enum nss_status pw_result(int r, const struct nssc_pw *e, struct passwd *pwd, char *buf,
				 size_t buflen, int *errnop)
{
	if (r == -ENOENT || (r == 0 && nssc_expired(e->expire, now_s())))
		return NSS_STATUS_NOTFOUND;
	if (r < 0)
		return unavail(-EIO, errnop);
	r = nssc_pack_passwd(e, pwd, buf, buflen);
	if (r == -ERANGE) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	if (r < 0)
		return unavail(-EIO, errnop);
	return NSS_STATUS_SUCCESS;
}

static enum nss_status gr_result(int r, const struct nssc_gr *e, struct group *grp, char *buf,
				 size_t buflen, int *errnop)
{
	if (r == -ENOENT || (r == 0 && nssc_expired(e->expire, now_s())))
		return NSS_STATUS_NOTFOUND;
	if (r < 0)
		return unavail(-EIO, errnop);
	r = nssc_pack_group(&st.v, e, grp, buf, buflen);
	if (r == -ERANGE) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	if (r < 0)
		return unavail(-EIO, errnop);
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_pertok_getpwnam_r(const char *name, struct passwd *pwd, char *buf,
					      size_t buflen, int *errnop)
{
	int saved = errno, err = 0, r;
	enum nss_status s;
	struct nssc_pw e;

	if (!name || !pwd || !errnop)
		return NSS_STATUS_NOTFOUND;
	enter();
	r = cache_get();
	if (r < 0)
		s = unavail(r, &err);
	else
		s = pw_result(nssc_pw_byname(&st.v, name, &e), &e, pwd, buf, buflen, &err);
	leave();
	/* errnop is &errno in glibc: set after errno is restored */
	errno = saved;
	if (err)
		*errnop = err;
	return s;
}

EXPORT enum nss_status _nss_pertok_getpwuid_r(uid_t uid, struct passwd *pwd, char *buf,
					      size_t buflen, int *errnop)
{
	int saved = errno, err = 0, r;
	enum nss_status s;
	struct nssc_pw e;

	if (!pwd || !errnop)
		return NSS_STATUS_NOTFOUND;
	enter();
	r = cache_get();
	if (r < 0)
		s = unavail(r, &err);
	else
		s = pw_result(nssc_pw_byuid(&st.v, uid, &e), &e, pwd, buf, buflen, &err);
	leave();
	/* errnop is &errno in glibc: set after errno is restored */
	errno = saved;
	if (err)
		*errnop = err;
	return s;
}

EXPORT enum nss_status _nss_pertok_getgrnam_r(const char *name, struct group *grp, char *buf,
					      size_t buflen, int *errnop)
{
	int saved = errno, err = 0, r;
	enum nss_status s;
	struct nssc_gr e;

	if (!name || !grp || !errnop)
		return NSS_STATUS_NOTFOUND;
	enter();
	r = cache_get();
	if (r < 0)
		s = unavail(r, &err);
	else
		s = gr_result(nssc_gr_byname(&st.v, name, &e), &e, grp, buf, buflen, &err);
	leave();
	/* errnop is &errno in glibc: set after errno is restored */
	errno = saved;
	if (err)
		*errnop = err;
	return s;
}

EXPORT enum nss_status _nss_pertok_getgrgid_r(gid_t gid, struct group *grp, char *buf,
					      size_t buflen, int *errnop)
{
	int saved = errno, err = 0, r;
	enum nss_status s;
	struct nssc_gr e;

	if (!grp || !errnop)
		return NSS_STATUS_NOTFOUND;
	enter();
	r = cache_get();
	if (r < 0)
		s = unavail(r, &err);
	else
		s = gr_result(nssc_gr_bygid(&st.v, gid, &e), &e, grp, buf, buflen, &err);
	leave();
	/* errnop is &errno in glibc: set after errno is restored */
	errno = saved;
	if (err)
		*errnop = err;
	return s;
}

/* ---------------------------------------------------------------- enumeration */
EXPORT enum nss_status _nss_pertok_setpwent(int stayopen)
{
	(void)stayopen;
	enter();
	st.pw_cursor = 0;
	leave();
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_pertok_endpwent(void)
{
	enter();
	st.pw_cursor = 0;
	leave();
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_pertok_getpwent_r(struct passwd *pwd, char *buf, size_t buflen,
					      int *errnop)
{
	int saved = errno, err = 0, r;
	enum nss_status s;
	struct nssc_pw e;
	uint32_t cur;

	if (!pwd || !errnop)
		return NSS_STATUS_NOTFOUND;
	enter();
	r = cache_get();
	if (r < 0) {
		s = unavail(r, &err);
	} else {
		cur = st.pw_cursor;
		/* expired entries are skipped, not the end of the enumeration */
		while ((r = nssc_pw_next(&st.v, &cur, &e)) == 0 && nssc_expired(e.expire, now_s()))
			;
		s = pw_result(r, &e, pwd, buf, buflen, &err);
		if (s != NSS_STATUS_TRYAGAIN) /* the caller retries the same entry */
			st.pw_cursor = cur;
	}
	leave();
	/* errnop is &errno in glibc: set after errno is restored */
	errno = saved;
	if (err)
		*errnop = err;
	return s;
}

EXPORT enum nss_status _nss_pertok_setgrent(int stayopen)
{
	(void)stayopen;
	enter();
	st.gr_cursor = 0;
	leave();
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_pertok_endgrent(void)
{
	enter();
	st.gr_cursor = 0;
	leave();
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_pertok_getgrent_r(struct group *grp, char *buf, size_t buflen,
					      int *errnop)
{
	int saved = errno, err = 0, r;
	enum nss_status s;
	struct nssc_gr e;
	uint32_t cur;

	if (!grp || !errnop)
		return NSS_STATUS_NOTFOUND;
	enter();
	r = cache_get();
	if (r < 0) {
		s = unavail(r, &err);
	} else {
		cur = st.gr_cursor;
		while ((r = nssc_gr_next(&st.v, &cur, &e)) == 0 && nssc_expired(e.expire, now_s()))
			;
		s = gr_result(r, &e, grp, buf, buflen, &err);
		if (s != NSS_STATUS_TRYAGAIN)
			st.gr_cursor = cur;
	}
	leave();
	/* errnop is &errno in glibc: set after errno is restored */
	errno = saved;
	if (err)
		*errnop = err;
	return s;
}

/* ---------------------------------------------------------------- initgroups */
/* Every cached group that names user as a member, except `group` (the
 * primary one, which the caller adds), appended to *groupsp (grown as glibc
 * expects, never past limit when limit > 0). */
static bool listed(const gid_t *g, long int n, gid_t gid)
{
	for (long int i = 0; i < n; i++)
		if (g[i] == gid)
			return true;
	return false;
}

EXPORT enum nss_status _nss_pertok_initgroups_dyn(const char *user, gid_t group, long int *start,
						  long int *size, gid_t **groupsp, long int limit,
						  int *errnop)
{
	int saved = errno, err = 0, r;
	enum nss_status s = NSS_STATUS_NOTFOUND;
	struct nssc_gr e;
	uint32_t cur = 0;

	if (!user || !start || !size || !groupsp || !errnop || *start < 0 || *size < *start)
		return NSS_STATUS_NOTFOUND;
	enter();
	r = cache_get();
	if (r < 0) {
		s = unavail(r, &err);
		goto out;
	}
	for (;;) {
		r = nssc_gr_next(&st.v, &cur, &e);
		if (r == -ENOENT)
			break;
		if (r < 0) {
			s = unavail(-EIO, &err);
			goto out;
		}
		if (e.gid == group || nssc_expired(e.expire, now_s()) ||
		    !nssc_gr_has_member(&st.v, &e, user) || listed(*groupsp, *start, e.gid))
			continue;
		if (*start == *size) {
			long int n = *size > 0 ? 2 * *size : 16;
			gid_t *g;

			if (limit > 0 && n > limit)
				n = limit;
			if (n <= *size)
				break; /* at the limit */
			g = realloc(*groupsp, (size_t)n * sizeof(gid_t));
			if (!g) {
				err = ENOMEM;
				s = NSS_STATUS_TRYAGAIN;
				goto out;
			}
			*groupsp = g;
			*size = n;
		}
		(*groupsp)[(*start)++] = e.gid;
		s = NSS_STATUS_SUCCESS;
	}
out:
	leave();
	/* errnop is &errno in glibc: set after errno is restored */
	errno = saved;
	if (err)
		*errnop = err;
	return s;
}

/* ---------------------------------------------------------------- shadow */
/* Remote principals only (pertok-rpo(7)): the entries with an expiry have
 * a shadow entry ("*" password, sp_expire their last day), until then. */
EXPORT enum nss_status _nss_pertok_getspnam_r(const char *name, struct spwd *sp, char *buf,
					      size_t buflen, int *errnop)
{
	int saved = errno, err = 0, r;
	enum nss_status s = NSS_STATUS_NOTFOUND;
	struct nssc_pw e;

	if (!name || !sp || !errnop)
		return NSS_STATUS_NOTFOUND;
	enter();
	r = cache_get();
	if (r < 0) {
		s = unavail(r, &err);
	} else {
		r = nssc_pw_byname(&st.v, name, &e);
		if (r == 0 && !nssc_expired(e.expire, now_s())) {
			r = nssc_pack_shadow(&e, sp, buf, buflen);
			if (r == 0)
				s = NSS_STATUS_SUCCESS;
			else if (r == -ERANGE) {
				err = ERANGE;
				s = NSS_STATUS_TRYAGAIN;
			}
		} else if (r < 0 && r != -ENOENT) {
			s = unavail(-EIO, &err);
		}
	}
	leave();
	/* errnop is &errno in glibc: set after errno is restored */
	errno = saved;
	if (err)
		*errnop = err;
	return s;
}
