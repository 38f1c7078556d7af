/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "account.h"
#include "record.h"
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

static char last_error[320];

const char *pt_account_error(void)
{
	return last_error;
}

void pt_account_set_error(const char *call, const char *user, int errnum)
{
	snprintf(last_error, sizeof(last_error), "%s(%.64s): %s", call, user, strerror(errnum));
}

/*
 * glibc's getpwnam_r / getgrgid_r return 0 with no entry when every module
 * said NOTFOUND, and the error a module set (its *errnop) when the last one
 * asked said UNAVAIL or TRYAGAIN: SSSD's client says UNAVAIL with ENOENT
 * when sssd's socket is missing, so an error is never "no such user",
 * whatever its errno. (A module that reports UNAVAIL without setting an
 * error looks like NOTFOUND to its callers; nothing here can tell.)
 */
static int nss_error(const char *call, const char *name, int r)
{
	pt_account_set_error(call, name, r);
	return r == ENOMEM || r == ERANGE ? -r : PT_ACCOUNT_EUNAVAIL;
}

static int group_name(gid_t gid, char **ret)
{
	struct group gr, *res = NULL;
	char buf[16384];
	int r;

	r = getgrgid_r(gid, &gr, buf, sizeof(buf), &res);
	if (r != 0) {
		char g[16];

		snprintf(g, sizeof(g), "%u", (unsigned)gid);
		return nss_error("getgrgid_r", g, r);
	}
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
	/* as pam_unix: -1 (an empty field) is "never"; any other day, 0 included
	 * (chage -E 0), expires the account at its start; usermod -e 1 is day 1 */
	if (sp.sp_expire >= 0 && sp.sp_expire <= today)
		*expired = true;
	pt_wipe(buf, sizeof(buf));
}

static int account_fetch(const char *user, struct pt_account **ret)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	gid_t *gids = NULL;
	int ngids = 64;
	struct pt_account *a;
	int r;

	r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (r != 0)
		return nss_error("getpwnam_r", user, r);
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

/* ------------------------------------------------------------------ cache
 *
 * Redemption is late-bound, so every decision needs the account as it is
 * now; but a name-service round trip (files, sssd, LDAP) per redemption is
 * the largest cost of a redeem. Entries are kept for at most
 * PT_ACCOUNT_TTL_MS and are dropped at once when /etc/passwd, /etc/group or
 * /etc/shadow change (so with the files backend a change is always seen by
 * the next redemption; network backends are at most that much staler than
 * their own caches, which sssd keeps for far longer). Negative answers are
 * never cached.
 */
#define CACHE_SLOTS 512

struct slot {
	struct pt_account *acct;
	uint64_t fetched_ms;
};

static struct slot cache[CACHE_SLOTS];
static struct timespec seen_mtime[3];
static ino_t seen_ino[3];

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void pt_account_cache_flush(void)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		pt_account_free(cache[i].acct);
		cache[i].acct = NULL;
	}
}

/* Flushes the cache when one of the account files changed. */
static void check_files(void)
{
	static const char *const files[3] = { "/etc/passwd", "/etc/group", "/etc/shadow" };
	bool changed = false;

	for (size_t i = 0; i < 3; i++) {
		struct stat st;

		if (stat(files[i], &st) < 0)
			memset(&st, 0, sizeof(st));
		if (st.st_mtim.tv_sec != seen_mtime[i].tv_sec ||
		    st.st_mtim.tv_nsec != seen_mtime[i].tv_nsec || st.st_ino != seen_ino[i]) {
			seen_mtime[i] = st.st_mtim;
			seen_ino[i] = st.st_ino;
			changed = true;
		}
	}
	if (changed)
		pt_account_cache_flush();
}

static size_t slot_of(const char *user)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)user; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % CACHE_SLOTS;
}

static int account_copy(const struct pt_account *a, struct pt_account **ret);

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = strdup(s);

	if (!d)
		*oom = true;
	return d;
}

int pt_account_from_record(const struct pt_record *rec, struct pt_account **ret)
{
	struct pt_account a = {
		.user = rec->user,
		.uid = rec->uid,
		.gid = rec->gid,
		.gecos = rec->gecos ? rec->gecos : (char *)"",
		.home = rec->home ? rec->home : (char *)"",
		.shell = rec->shell ? rec->shell : (char *)"",
		.groups = rec->groups,
		.n_groups = rec->n_groups,
	};

	if (!rec->user)
		return -EINVAL;
	return account_copy(&a, ret);
}

static int account_copy(const struct pt_account *a, struct pt_account **ret)
{
	struct pt_account *c = calloc(1, sizeof(*c));
	bool oom = false;

	if (!c)
		return -ENOMEM;
	*c = (struct pt_account){
		.uid = a->uid, .gid = a->gid, .locked = a->locked, .expired = a->expired
	};
	c->user = dup_or_null(a->user, &oom);
	c->gecos = dup_or_null(a->gecos, &oom);
	c->home = dup_or_null(a->home, &oom);
	c->shell = dup_or_null(a->shell, &oom);
	c->groups = calloc(a->n_groups + 1, sizeof(char *));
	if (!c->groups)
		oom = true;
	for (size_t i = 0; c->groups && i < a->n_groups; i++, c->n_groups++)
		c->groups[i] = dup_or_null(a->groups[i], &oom);
	if (oom) {
		pt_account_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

int pt_account_lookup(const char *user, struct pt_account **ret)
{
	struct slot *s = &cache[slot_of(user)];
	uint64_t now = mono_ms();
	struct pt_account *a;
	int r;

	check_files();
	if (s->acct && strcmp(s->acct->user, user) == 0 && now - s->fetched_ms < PT_ACCOUNT_TTL_MS)
		return account_copy(s->acct, ret);
	r = account_fetch(user, &a);
	if (r < 0)
		return r;
	/* cache under the name asked for, only if NSS answered with that name */
	if (strcmp(a->user, user) == 0) {
		struct pt_account *c;

		if (account_copy(a, &c) == 0) {
			pt_account_free(s->acct);
			s->acct = c;
			s->fetched_ms = now;
		}
	}
	*ret = a;
	return 0;
}
