/* SPDX-License-Identifier: MIT */
/*
 * What the grant files share (grant-store.c, grant.c, grant-policy.c and the
 * GRANT_* handlers of ops-grant.c); not for anything else.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "grant.h"

struct pt_grant_running {
	uint64_t handle;
	char grant_id[PT_ID_LEN];
	pt_grant_kill_fn fn;
	void *ctx;
};

struct pt_grants {
	char dir[PATH_MAX];  /* the key generation's directory */
	struct pt_grant **v; /* grants and requests, in creation order */
	size_t n;
	/* memory only: running uses (pt_grant_running_add) */
	struct pt_grant_running *running;
	size_t n_running;
	uint64_t next_handle;
};

struct pt_grant *pt_grants_find(struct pt_grants *s, const char *id, enum pt_grant_kind kind);
/* The plaintext of the file (fuzzed with the record parser). */
int pt_grants_parse_file(const char *text, size_t len, struct pt_grants **ret, char *err,
			 size_t errlen);
/* Writes the whole file again (after a change in memory). 0 or -errno. */
int pt_grants_save(struct pt_grants *s, const uint8_t key[PT_STORE_KEYLEN]);
/* Adds g and saves (takes g on success; on failure the set is unchanged). */
int pt_grants_add(struct pt_grants *s, const uint8_t key[PT_STORE_KEYLEN], struct pt_grant *g);
/* Removes g, saves and frees it (on failure the set is unchanged). */
int pt_grants_remove(struct pt_grants *s, const uint8_t key[PT_STORE_KEYLEN], struct pt_grant *g);
/* After rotation: the set now lives in dir. */
void pt_grants_set_dir(struct pt_grants *s, const char *dir);

/* ---------------------------------------------------- admin policy */

/* The grants ( ) rule that allows origin to grant servicer every command of
 * g with g's window, uses, depth and runtime at now: 0 and *ret_rule, or
 * -EACCES with rule (the rule that refused, "" when none matched) and a
 * precise reason. */
int pt_grant_policy_check(const struct pt_config *cfg, const char *origin, const char *servicer,
			  const struct pt_grant *g, uint64_t now,
			  const struct pt_grant_rule **ret_rule, char *rule, size_t rulelen,
			  char *reason, size_t reasonlen);
/* Is child's scope within parent's (commands with their digests and argv,
 * window, hours, uses left, runtime, depth one less)? true, or false with
 * reason. The servicer's pins are the child servicer's own. */
bool pt_grant_subset(const struct pt_grant *parent, const struct pt_grant *child, char *reason,
		     size_t reasonlen);
/* Does command path match a rule's commands entry? */
bool pt_grant_command_allowed(const char *pattern, const char *path);
/* The sha256 of the file at path (opened O_NOFOLLOW, regular, at most max
 * bytes: -EFBIG beyond, before anything is read). */
int pt_grant_file_digest(const char *path, uint64_t max, uint8_t ret[32]);
/* Why the digest of path failed (r from pt_grant_file_digest), in reason. */
void pt_grant_digest_error(const char *path, int r, uint64_t max, char *reason, size_t reasonlen);

/* ---------------------------------------------------- operations (grant.c) */

/* Grants counted against user's grant.max_per_user: those they made as
 * the origin, and those they delegated as a servicer (revoked and expired
 * ones until pruned); pending requests by servicer. */
size_t pt_grant_count_origin(struct pt_daemon *d, const char *origin, uint64_t now);
size_t pt_grant_count_pending(struct pt_daemon *d, const char *servicer, uint64_t now);
/* Revokes g (and ends the running uses of g and of its descendants). */
int pt_grant_revoke(struct pt_daemon *d, struct pt_grant *g);
/* Drops requests that lapsed unanswered and grants long over; housekeeping. */
void pt_grant_expire(struct pt_daemon *d, uint64_t now);
void pt_grant_prune_origin(struct pt_daemon *d, const char *origin, uint64_t now);
/* Checks a new grant g of origin (names, commands, window, the accounts;
 * fills g's uids) against the admin policy. 0, or -errno with reason (and
 * rule when a rule refused). */
int pt_grant_check_new(struct pt_daemon *d, const char *origin, struct pt_grant *g, uint64_t now,
		       char *rule, size_t rulelen, char *reason, size_t reasonlen);
/* pt_grant_create without the audit and log: checks, (pin: digests the
 * files), caps, stores; *ret points into the store. */
int pt_grant_store_new(struct pt_daemon *d, const char *origin, const struct pt_grant *req,
		       uint64_t now, bool pin, struct pt_grant **ret, char *rule, size_t rulelen,
		       char *reason, size_t reasonlen);
/* One audit record of a grant operation, synced. 0 or -errno. */
int pt_grant_audit(struct pt_daemon *d, const char *op, const char *result,
		   const struct pt_grant *g, const char *rule, const char *reason, uid_t peer_uid,
		   pid_t peer_pid, const char *exe);
