/* SPDX-License-Identifier: MIT */
/*
 * libnss_ptfloor.so.2: the floor of the NSS benchmark (run-bench-nss.sh),
 * built for it only and never installed. getpwnam_r answers one constant
 * entry whatever the name, with no look-up at all, so a call through it
 * costs what glibc's NSS layer itself costs (nsswitch.conf check, dispatch,
 * the copy into the caller's buffer).
 */
#include "config.h"

#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT enum nss_status _nss_ptfloor_getpwnam_r(const char *name, struct passwd *pwd, char *buf,
					       size_t buflen, int *errnop);

static const char entry[] = "ptfloor\0x\0pertok bench floor\0/nonexistent\0/bin/sh";

EXPORT enum nss_status _nss_ptfloor_getpwnam_r(const char *name, struct passwd *pwd, char *buf,
					       size_t buflen, int *errnop)
{
	(void)name;
	if (buflen < sizeof(entry)) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	memcpy(buf, entry, sizeof(entry));
	pwd->pw_name = buf;
	pwd->pw_passwd = buf + 8;
	pwd->pw_gecos = buf + 10;
	pwd->pw_dir = buf + 29;
	pwd->pw_shell = buf + 42;
	pwd->pw_uid = 4242;
	pwd->pw_gid = 4242;
	return NSS_STATUS_SUCCESS;
}
