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
 * Loaded only by glibc in a test's private mount namespace, through a
 * private nsswitch.conf ("passwd: files ptfail") and LD_LIBRARY_PATH.
 */
#include <errno.h>
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

static enum nss_status answer(bool match, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	static const char *const fields[] = { USER, "x", "Dirk", "/nonexistent", "/bin/sh" };
	char state[32];
	char *p = buf;

	read_state(state, sizeof(state));
	if (strcmp(state, "down") == 0 || strcmp(state, "down-enoent") == 0) {
		*errnop = strcmp(state, "down") == 0 ? EHOSTUNREACH : ENOENT;
		return NSS_STATUS_UNAVAIL;
	}
	if (!match || strcmp(state, "gone") == 0) {
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

enum nss_status _nss_ptfail_getpwnam_r(const char *name, struct passwd *pw, char *buf,
				       size_t buflen, int *errnop)
{
	return answer(strcmp(name, USER) == 0, pw, buf, buflen, errnop);
}

enum nss_status _nss_ptfail_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen,
				       int *errnop)
{
	return answer(uid == UID, pw, buf, buflen, errnop);
}
