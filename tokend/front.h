/* SPDX-License-Identifier: MIT */
/* Starting the front process (front.c, tokend(8) "PRIVILEGE SEPARATION"). */
#pragma once

#include <limits.h>
#include <sys/types.h>

#include "conf.h"

struct pt_front {
	uid_t uid; /* what the front becomes */
	gid_t gid;
	char user[64];
	char root[PATH_MAX]; /* its empty root directory ("" when not root) */
};

/* Looks up cfg->front_user and makes STATE_DIR/empty. When tokend does not
 * run as root there is nothing to drop to: the front keeps tokend's uid
 * and root (and still loses capabilities and gets the seccomp filter).
 * 0, or -errno with err set. */
int pt_front_prepare(const struct pt_config *cfg, struct pt_front *ret, char *err, size_t errlen);

/* Forks the front, serving lfd (and cfd, the credential socket, unless -1).
 * The caller keeps *ret_pair (its end of the socketpair) and must not have
 * loaded any key yet. 0 or -errno. */
int pt_front_spawn(const struct pt_front *f, int lfd, int cfd, pid_t *ret_pid, int *ret_pair,
		   char *err, size_t errlen);
