/* SPDX-License-Identifier: MIT */
/*
 * Grants: the decision, the use counter, creation and the running uses
 * (grant.h). The record codec is grant-record.c, the sealed file
 * grant-store.c.
 */
#include "conf.h"

#include <errno.h>
#include <string.h>

#include "grant.h"
#include "ops.h"

struct pt_grant *pt_grant_find(struct pt_daemon *d, const char *id)
{
	(void)d;
	(void)id;
	return NULL;
}

struct pt_grant *pt_grant_find_request(struct pt_daemon *d, const char *id)
{
	(void)d;
	(void)id;
	return NULL;
}

int pt_grant_decide(struct pt_daemon *d, const struct pt_grant *g, uid_t peer_uid,
		    const char *peer_exe, const char *peer_unit, const char *user,
		    char *const *argv, size_t n_argv, const uint8_t digest[32], uint64_t now,
		    char *rule, size_t rulelen, char *reason, size_t reasonlen)
{
	(void)d, (void)g, (void)peer_uid, (void)peer_exe, (void)peer_unit, (void)user;
	(void)argv, (void)n_argv, (void)digest, (void)now;
	snprintf(rule, rulelen, "grant");
	snprintf(reason, reasonlen, "grants are not implemented yet");
	return -EACCES;
}

int pt_grant_consume(struct pt_daemon *d, struct pt_grant *g, uint64_t now)
{
	(void)d, (void)g, (void)now;
	return -EOPNOTSUPP;
}

int pt_grant_running_add(struct pt_daemon *d, const char *grant_id, pt_grant_kill_fn fn, void *ctx,
			 uint64_t *ret_handle)
{
	(void)d, (void)grant_id, (void)fn, (void)ctx, (void)ret_handle;
	return -EOPNOTSUPP;
}

void pt_grant_running_remove(struct pt_daemon *d, uint64_t handle)
{
	(void)d, (void)handle;
}

int pt_grant_create(struct pt_daemon *d, const char *origin, const struct pt_grant *req,
		    uint64_t now, char ret_id[PT_ID_LEN], char *reason, size_t reasonlen)
{
	(void)d, (void)origin, (void)req, (void)now, (void)ret_id;
	snprintf(reason, reasonlen, "grants are not implemented yet");
	return -EOPNOTSUPP;
}
