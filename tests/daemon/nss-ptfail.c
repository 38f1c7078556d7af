/* SPDX-License-Identifier: MIT */
/*
 * libnss_ptfail.so.2: a test-only NSS module (tests/daemon/test-directory)
 * standing for a directory (LDAP, SSSD) that can be up, down or have lost a
 * user. It knows one user, "dirk" (uid 4242, gid 4242), and reads its state
 * on every call from the file named by $PT_NSSFAIL_STATE:
 *   up           dirk resolves
 *   gone         NOTFOUND (the directory answers: no such user)
 *   down         UNAVAIL, errno EHOSTUNREACH (the server is unreachable)
 *   down-enoent  UNAVAIL, errno ENOENT (as SSSD's client when sssd's socket
 *                is missing: an error whose errno reads "not found")
 * With $PT_NSSFAIL_DIR set it serves that directory's passwd and group
 * files (passwd(5), group(5) format) instead of dirk, for passwd, group and
 * initgroups (tests/system/test-offline: directory users behind atd).
 * Loaded only by glibc in a test's private mount namespace, through a
 * private nsswitch.conf ("passwd: files ptfail") and LD_LIBRARY_PATH, or a
 * private overlay on the system's library directory.
 */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define USER "dirk"
#define UID 4242

enum nss_status _nss_ptfail_getpwnam_r(const char *name, struct passwd *pw, char *buf,
				       size_t buflen, int *errnop);
enum nss_status _nss_ptfail_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen,
				       int *errnop);
enum nss_status _nss_ptfail_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
				       int *errnop);
enum nss_status _nss_ptfail_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen,
				       int *errnop);
enum nss_status _nss_ptfail_initgroups_dyn(const char *user, gid_t skip, long int *start,
					   long int *size, gid_t **groupsp, long int limit,
					   int *errnop);

/* The first word of the state file; "up" when there is none. */
static void read_state(char *s, size_t n)
{
	const char *path = getenv("PT_NSSFAIL_STATE");
	FILE *f = path ? fopen(path, "re") : NULL;

	snprintf(s, n, "up");
	if (!f)
		return;
	if (!fgets(s, (int)n, f))
		snprintf(s, n, "up");
	s[strcspn(s, " \n")] = '\0';
	fclose(f);
}

/* The answer the state gives before any lookup: UNAVAIL (down), NOTFOUND
 * (gone), or SUCCESS (up: look the name up). */
static enum nss_status state_answer(int *errnop)
{
	char state[32];

	read_state(state, sizeof(state));
	if (strcmp(state, "down") == 0 || strcmp(state, "down-enoent") == 0) {
		*errnop = strcmp(state, "down") == 0 ? EHOSTUNREACH : ENOENT;
		return NSS_STATUS_UNAVAIL;
	}
	if (strcmp(state, "gone") == 0) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return NSS_STATUS_SUCCESS;
}

/* $PT_NSSFAIL_DIR/NAME opened, or NULL (no such directory configured) */
static FILE *db_open(const char *name)
{
	const char *dir = getenv("PT_NSSFAIL_DIR");
	char path[4096];

	if (!dir || !*dir)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return fopen(path, "re");
}

/* One entry of a file (fgetpwent_r, fgetgrent_r), its address in *ret */
typedef int (*next_fn)(FILE *f, void *ent, char *buf, size_t buflen, void **ret);

static int next_pw(FILE *f, void *ent, char *buf, size_t buflen, void **ret)
{
	return fgetpwent_r(f, ent, buf, buflen, (struct passwd **)ret);
}

static int next_gr(FILE *f, void *ent, char *buf, size_t buflen, void **ret)
{
	return fgetgrent_r(f, ent, buf, buflen, (struct group **)ret);
}

/* The first entry of the directory's file NAME for which match() holds */
static enum nss_status db_find(const char *name, next_fn next,
			       bool (*match)(const void *ent, const void *key), const void *key,
			       void *ent, char *buf, size_t buflen, int *errnop)
{
	enum nss_status s = state_answer(errnop);
	FILE *f;
	void *res;
	int r;

	if (s != NSS_STATUS_SUCCESS)
		return s;
	f = db_open(name);
	if (!f) {
		*errnop = ENOENT;
		return NSS_STATUS_UNAVAIL;
	}
	while ((r = next(f, ent, buf, buflen, &res)) == 0)
		if (match(res, key))
			break;
	fclose(f);
	if (r == ERANGE) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	if (r != 0) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return NSS_STATUS_SUCCESS;
}

static bool pw_name_is(const void *e, const void *k)
{
	return strcmp(((const struct passwd *)e)->pw_name, k) == 0;
}

static bool pw_uid_is(const void *e, const void *k)
{
	return ((const struct passwd *)e)->pw_uid == *(const uid_t *)k;
}

static bool gr_name_is(const void *e, const void *k)
{
	return strcmp(((const struct group *)e)->gr_name, k) == 0;
}

static bool gr_gid_is(const void *e, const void *k)
{
	return ((const struct group *)e)->gr_gid == *(const gid_t *)k;
}

static enum nss_status answer(bool match, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	static const char *const fields[] = { USER, "x", "Dirk", "/nonexistent", "/bin/sh" };
	enum nss_status s = state_answer(errnop);
	char *p = buf;

	if (s != NSS_STATUS_SUCCESS)
		return s;
	if (!match) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	if (buflen < 64) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	for (size_t i = 0; i < 5; i++) {
		char **dst[] = { &pw->pw_name, &pw->pw_passwd, &pw->pw_gecos, &pw->pw_dir,
				 &pw->pw_shell };

		strcpy(p, fields[i]);
		*dst[i] = p;
		p += strlen(fields[i]) + 1;
	}
	pw->pw_uid = UID;
	pw->pw_gid = UID;
	return NSS_STATUS_SUCCESS;
}

static bool have_db(void)
{
	const char *dir = getenv("PT_NSSFAIL_DIR");

	return dir && *dir;
}

enum nss_status _nss_ptfail_getpwnam_r(const char *name, struct passwd *pw, char *buf,
				       size_t buflen, int *errnop)
{
	if (have_db())
		return db_find("passwd", next_pw, pw_name_is, name, pw, buf, buflen, errnop);
	return answer(strcmp(name, USER) == 0, pw, buf, buflen, errnop);
}

enum nss_status _nss_ptfail_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen,
				       int *errnop)
{
	if (have_db())
		return db_find("passwd", next_pw, pw_uid_is, &uid, pw, buf, buflen, errnop);
	return answer(uid == UID, pw, buf, buflen, errnop);
}

/* Groups: only from $PT_NSSFAIL_DIR (dirk has none) */
enum nss_status _nss_ptfail_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
				       int *errnop)
{
	if (!have_db()) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return db_find("group", next_gr, gr_name_is, name, gr, buf, buflen, errnop);
}

enum nss_status _nss_ptfail_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen,
				       int *errnop)
{
	if (!have_db()) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return db_find("group", next_gr, gr_gid_is, &gid, gr, buf, buflen, errnop);
}

/* The groups naming user as a member (but skip), appended to *groupsp */
enum nss_status _nss_ptfail_initgroups_dyn(const char *user, gid_t skip, long int *start,
					   long int *size, gid_t **groupsp, long int limit,
					   int *errnop)
{
	enum nss_status s;
	struct group gr, *res;
	char buf[16384];
	FILE *f;

	if (!have_db()) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	s = state_answer(errnop);
	if (s != NSS_STATUS_SUCCESS)
		return s;
	f = db_open("group");
	if (!f) {
		*errnop = ENOENT;
		return NSS_STATUS_UNAVAIL;
	}
	while (fgetgrent_r(f, &gr, buf, sizeof(buf), &res) == 0) {
		bool member = false;

		for (char **m = res->gr_mem; *m && !member; m++)
			member = strcmp(*m, user) == 0;
		if (!member || res->gr_gid == skip)
			continue;
		if (*start == *size) {
			long int n = limit > 0 && 2 * *size > limit ? limit : 2 * *size;
			gid_t *g;

			if (n <= *size)
				break;
			g = realloc(*groupsp, (size_t)n * sizeof(*g));
			if (!g)
				break;
			*groupsp = g;
			*size = n;
		}
		(*groupsp)[(*start)++] = res->gr_gid;
	}
	fclose(f);
	return NSS_STATUS_SUCCESS;
}
