/* SPDX-License-Identifier: MIT */
/* Remote principals' expiry at the account stage (expiry.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <security/pam_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "expiry.h"
#include "nsscache.h"

int pp_rpo_expiry(pam_handle_t *pamh, const char *path, const char *user, uint64_t now)
{
	struct nssc_view v;
	struct nssc_pw e;
	struct stat st;
	void *map;
	int fd, ret = PAM_SUCCESS;

	if (!path || !user)
		return PAM_SUCCESS;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return PAM_SUCCESS;
	/* tokend's file only: root's, nobody else may write it */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0022) ||
	    st.st_size < (off_t)NSSC_HEADER_SIZE || st.st_size > (off_t)NSSC_MAX_FILE) {
		close(fd);
		return PAM_SUCCESS;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return PAM_SUCCESS;
	if (nssc_open(map, (size_t)st.st_size, &v) == 0 && nssc_pw_byname(&v, user, &e) == 0 &&
	    nssc_expired(e.expire, now)) {
		pam_syslog(pamh, LOG_NOTICE,
			   "remote principal %s expired at %u (pertok cache %s): account refused",
			   user, e.expire, path);
		ret = PAM_ACCT_EXPIRED;
	}
	munmap(map, (size_t)st.st_size);
	return ret;
}
