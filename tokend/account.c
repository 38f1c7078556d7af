/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account.h"
#include "util.h"

#define MAX_GROUPS 4096

void pt_account_free(struct pt_account *a)
{
	if (!a)
		return;
	free(a->user);
	free(a->gecos);
	free(a->home);
	free(a->shell);
	for (size_t i = 0; i < a->n_groups; i++)
		free(a->groups[i]);
	free(a->groups);
	free(a);
}

static int group_name(gid_t gid, char **ret)
{
	struct group gr, *res = NULL;
	char buf[16384];
	int r;

	r = getgrgid_r(gid, &gr, buf, sizeof(buf), &res);
	if (r != 0)
		return -r;
	if (!res) {
		/* a gid without a name: keep it visible as a number */
		if (asprintf(ret, "%u", (unsigned)gid) < 0)
			return -ENOMEM;
		return 0;
	}
	*ret = strdup(gr.gr_name);
	return *ret ? 0 : -ENOMEM;
}

static void shadow_state(const char *user, bool *locked, bool *expired)
{
	struct spwd sp, *res = NULL;
	char buf[4096];
	long today = (long)(time(NULL) / 86400);

	*locked = false;
	*expired = false;
	if (getspnam_r(user, &sp, buf, sizeof(buf), &res) != 0 || !res)
		return; /* no shadow entry: nothing says it is locked */
	if (sp.sp_pwdp && sp.sp_pwdp[0] == '!')
		*locked = true;
	if (sp.sp_expire > 0 && sp.sp_expire <= today)
		*expired = true;
	pt_wipe(buf, sizeof(buf));
}

int pt_account_lookup(const char *user, struct pt_account **ret)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	gid_t *gids = NULL;
	int ngids = 64;
	struct pt_account *a;
	int r;

	r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (r != 0)
		return -r;
	if (!res)
		return -ENOENT;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->uid = pw.pw_uid;
	a->gid = pw.pw_gid;
	a->user = strdup(pw.pw_name);
	a->gecos = strdup(pw.pw_gecos ? pw.pw_gecos : "");
	a->home = strdup(pw.pw_dir ? pw.pw_dir : "");
	a->shell = strdup(pw.pw_shell ? pw.pw_shell : "");
	if (!a->user || !a->gecos || !a->home || !a->shell) {
		r = -ENOMEM;
		goto fail;
	}

	for (;;) {
		int n = ngids;
		gid_t *g = realloc(gids, sizeof(gid_t) * (size_t)ngids);
		if (!g) {
			r = -ENOMEM;
			goto fail;
		}
		gids = g;
		if (getgrouplist(pw.pw_name, pw.pw_gid, gids, &n) >= 0) {
			ngids = n;
			break;
		}
		if (n <= ngids || n > MAX_GROUPS) {
			r = -E2BIG;
			goto fail;
		}
		ngids = n;
	}
	a->groups = calloc((size_t)ngids + 1, sizeof(char *));
	if (!a->groups) {
		r = -ENOMEM;
		goto fail;
	}
	/* primary group first, then the others without duplicates */
	r = group_name(pw.pw_gid, &a->groups[a->n_groups]);
	if (r < 0)
		goto fail;
	a->n_groups++;
	for (int i = 0; i < ngids; i++) {
		if (gids[i] == pw.pw_gid)
			continue;
		r = group_name(gids[i], &a->groups[a->n_groups]);
		if (r < 0)
			goto fail;
		a->n_groups++;
	}
	shadow_state(pw.pw_name, &a->locked, &a->expired);
	free(gids);
	*ret = a;
	return 0;
fail:
	free(gids);
	pt_account_free(a);
	return r;
}
