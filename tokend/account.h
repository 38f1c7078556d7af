/* SPDX-License-Identifier: MIT */
/* The user's account as NSS and shadow describe it now. */
#pragma once

#include <errno.h>
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

/* The name service answered with an error (glibc's getpwnam_r or
 * getgrgid_r returned one: a module said UNAVAIL or TRYAGAIN, e.g. SSSD or
 * LDAP unreachable), as opposed to -ENOENT (it said the user does not
 * exist). pt_account_error() names the call and the error. */
#define PT_ACCOUNT_EUNAVAIL (-EHOSTDOWN)

/* How long a looked-up account may be reused (see account.c). */
#define PT_ACCOUNT_TTL_MS 2000

/* The account as NSS says now (or at most PT_ACCOUNT_TTL_MS ago, never
 * across a change of /etc/passwd, group or shadow); a copy the caller
 * frees. -ENOENT when NSS says the user does not exist ("user gone");
 * PT_ACCOUNT_EUNAVAIL when NSS reported an error instead ("directory
 * down"); another -errno when tokend itself failed (memory). */
int pt_account_lookup(const char *user, struct pt_account **ret);
/* What the last PT_ACCOUNT_EUNAVAIL was: "getpwnam_r(alice): No route to
 * host", "" before any. */
const char *pt_account_error(void);
/* Sets it (look-ups injected in tests; the real one sets it itself). */
void pt_account_set_error(const char *call, const char *user, int errnum);

struct pt_record;
/* The identity recorded with a persistable token at issuance (the one the
 * NSS cache publishes) as an account: user, uid, gid, gecos, home, shell,
 * groups; never locked or expired (shadow was not recorded). */
int pt_account_from_record(const struct pt_record *rec, struct pt_account **ret);
/* Forget every cached account (config reload). */
void pt_account_cache_flush(void);
void pt_account_free(struct pt_account *a);
