/* SPDX-License-Identifier: MIT */
/* Remote principal objects (rpo.h): stubs until the store lands. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "rpo.h"

size_t pt_rpo_match(struct pt_daemon *d, const char *iss, const char *group, uint64_t now,
		    const struct pt_rpo **ret, size_t max)
{
	(void)d, (void)iss, (void)group, (void)now, (void)ret, (void)max;
	return 0;
}

const struct pt_template *pt_rpo_template(struct pt_daemon *d, const struct pt_rpo *r)
{
	(void)d, (void)r;
	return NULL;
}

const struct pt_rpo *pt_rpo_find_name(struct pt_daemon *d, const char *name)
{
	(void)d, (void)name;
	return NULL;
}

const struct pt_rpo *pt_rpo_find_id(struct pt_daemon *d, const char *id)
{
	(void)d, (void)id;
	return NULL;
}

bool pt_rpo_valid(const struct pt_rpo *r, uint64_t now)
{
	return r && !r->revoked && !r->expired && now < r->not_after;
}

int pt_rpo_session_begin(struct pt_daemon *d, const struct pt_rpo *r, uint64_t now)
{
	(void)d, (void)r, (void)now;
	return -EACCES;
}

void pt_rpo_session_end(struct pt_daemon *d, const struct pt_rpo *r)
{
	(void)d, (void)r;
}

int pt_rpo_groups(struct pt_daemon *d, const struct pt_rpo *r, char ***ret, size_t *ret_n)
{
	(void)d, (void)r, (void)ret, (void)ret_n;
	return -ENOENT;
}

void pt_rpo_groups_free(char **groups, size_t n)
{
	for (size_t i = 0; groups && i < n; i++)
		free(groups[i]);
	free(groups);
}
