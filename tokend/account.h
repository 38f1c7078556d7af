/* SPDX-License-Identifier: MIT */
/* The user's account as NSS and shadow describe it now. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pt_account {
	char *user;
	uid_t uid;
	gid_t gid;
	char *gecos;
	char *home;
	char *shell;
	char **groups; /* names, primary group first */
	size_t n_groups;
	bool locked;  /* shadow password starts with '!' (locked, or never set) */
	bool expired; /* shadow account expiry date passed */
};

/* How long a looked-up account may be reused (see account.c). */
#define PT_ACCOUNT_TTL_MS 2000

/* The account as NSS says now (or at most PT_ACCOUNT_TTL_MS ago, never
 * across a change of /etc/passwd, group or shadow); a copy the caller
 * frees. -ENOENT when the user does not exist; -errno on look-up failure. */
int pt_account_lookup(const char *user, struct pt_account **ret);
/* Forget every cached account (config reload). */
void pt_account_cache_flush(void);
void pt_account_free(struct pt_account *a);
