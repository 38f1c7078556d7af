/* SPDX-License-Identifier: MIT */
/*
 * The admin's caps on grants (grants ( ) in tokend.conf), the subset rule
 * of delegation, and the digest of a command's file.
 */
#include "grant-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confvalue.h"
#include "util.h"

bool pt_grant_command_allowed(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);

	if (strcmp(pattern, "*") == 0)
		return true;
	if (n >= 2 && strcmp(pattern + n - 2, "/*") == 0)
		return strncmp(path, pattern, n - 1) == 0 && !strchr(path + n - 1, '/') &&
		       path[n - 1] != '\0';
	return strcmp(pattern, path) == 0;
}

static bool name_listed(char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], "*") == 0 || strcmp(v[i], name) == 0)
			return true;
	return false;
}

static bool commands_listed(const struct pt_grant_rule *r, const char *path)
{
	for (size_t i = 0; i < r->n_commands; i++)
		if (pt_grant_command_allowed(r->commands[i], path))
			return true;
	return false;
}

int pt_grant_policy_check(const struct pt_config *cfg, const char *origin, const char *servicer,
			  const struct pt_grant *g, uint64_t now,
			  const struct pt_grant_rule **ret_rule, char *rule, size_t rulelen,
			  char *reason, size_t reasonlen)
{
	const struct pt_grant_rule *users = NULL, *serv = NULL, *cmds = NULL;
	const char *bad_cmd = NULL;
	uint64_t start = g->not_before > now ? g->not_before : now;
	uint64_t window = g->not_after > start ? g->not_after - start : 0;
	uint64_t max_rt;
	char a[32], b[32];

	snprintf(rule, rulelen, "%s", "");
	for (size_t i = 0; i < cfg->n_grant_rules; i++) {
		const struct pt_grant_rule *r = &cfg->grant_rules[i];
		bool all = true;

		if (!name_listed(r->users, r->n_users, origin))
			continue;
		users = users ?: r;
		if (!name_listed(r->servicers, r->n_servicers, servicer))
			continue;
		serv = serv ?: r;
		for (size_t k = 0; k < g->n_cmds && all; k++)
			if (!commands_listed(r, g->cmds[k].path)) {
				all = false;
				bad_cmd = bad_cmd ?: g->cmds[k].path;
			}
		if (all) {
			cmds = r;
			break;
		}
	}
	if (!users) {
		snprintf(reason, reasonlen, "no grants rule lets user %s grant anything", origin);
		return -EACCES;
	}
	if (!serv) {
		snprintf(rule, rulelen, "%s", users->name);
		snprintf(reason, reasonlen,
			 "servicer %s is not allowed for user %s by any grants rule", servicer,
			 origin);
		return -EACCES;
	}
	if (!cmds) {
		snprintf(rule, rulelen, "%s", serv->name);
		snprintf(reason, reasonlen,
			 "command %s is not allowed for servicer %s by any grants rule", bad_cmd,
			 servicer);
		return -EACCES;
	}
	snprintf(rule, rulelen, "%s", cmds->name);
	if (window > cmds->max_window) {
		pt_conf_fmt_duration(window, a, sizeof(a));
		pt_conf_fmt_duration(cmds->max_window, b, sizeof(b));
		snprintf(reason, reasonlen, "window %s exceeds max_window %s of rule %s", a, b,
			 cmds->name);
		return -EACCES;
	}
	if (g->max_uses > cmds->max_uses) {
		snprintf(reason, reasonlen,
			 "uses %" PRIu32 " exceed max_uses %" PRIu32 " of rule %s", g->max_uses,
			 cmds->max_uses, cmds->name);
		return -EACCES;
	}
	if (g->depth > cmds->max_depth) {
		snprintf(reason, reasonlen,
			 "depth %" PRIu32 " exceeds max_depth %" PRIu32 " of rule %s", g->depth,
			 cmds->max_depth, cmds->name);
		return -EACCES;
	}
	max_rt = cmds->max_runtime ? cmds->max_runtime : cfg->max_job_runtime;
	if (g->max_runtime > max_rt) {
		pt_conf_fmt_duration(g->max_runtime, a, sizeof(a));
		pt_conf_fmt_duration(max_rt, b, sizeof(b));
		snprintf(reason, reasonlen, "max runtime %s exceeds max_runtime %s of rule %s", a,
			 b, cmds->name);
		return -EACCES;
	}
	if (ret_rule)
		*ret_rule = cmds;
	return 0;
}

/* Is every hour of child's window within parent's? (no hours: all day) */
static bool hours_within(const struct pt_grant *p, const struct pt_grant *c)
{
	if (!p->has_hours)
		return true;
	if (!c->has_hours)
		return false;
	for (unsigned h = 0; h < 24; h++) {
		bool in_c = c->hours_from < c->hours_to ? h >= c->hours_from && h < c->hours_to :
							  h >= c->hours_from || h < c->hours_to;
		bool in_p = p->hours_from < p->hours_to ? h >= p->hours_from && h < p->hours_to :
							  h >= p->hours_from || h < p->hours_to;
		if (in_c && !in_p)
			return false;
	}
	return true;
}

static bool argv_within(const struct pt_grant_cmd *p, const struct pt_grant_cmd *c)
{
	if (c->n_argv < p->n_argv)
		return false;
	if (!p->argv_prefix && (c->argv_prefix || c->n_argv != p->n_argv))
		return false;
	for (size_t i = 0; i < p->n_argv; i++)
		if (strcmp(p->argv[i], c->argv[i]) != 0)
			return false;
	return true;
}

/* Is path under (or equal to) base? */
static bool path_under(const char *path, const char *base)
{
	size_t n = strlen(base), m = strlen(path);

	if (strstr(path, "/../") || (m >= 3 && strcmp(path + m - 3, "/..") == 0))
		return false; /* textually under, resolved outside */
	while (n > 1 && base[n - 1] == '/')
		n--;
	if (strncmp(path, base, n) != 0)
		return false;
	return path[n] == '\0' || path[n] == '/' || (n == 1 && base[0] == '/');
}

/* Confinement only narrows along a delegation: no_network stays, and with
 * the parent confined to paths, each of the child's paths lies under one of
 * the parent's with at least the access (a write path under a write one). */
static bool confinement_within(const struct pt_grant *p, const struct pt_grant *c, char *reason,
			       size_t reasonlen)
{
	if (p->no_network && !c->no_network) {
		snprintf(reason, reasonlen, "the grant is --no-network: a delegate keeps it");
		return false;
	}
	if (!p->n_paths)
		return true;
	if (!c->n_paths) {
		snprintf(reason, reasonlen,
			 "the grant confines the command to paths: a delegate keeps that");
		return false;
	}
	for (size_t i = 0; i < c->n_paths; i++) {
		bool ok = false;

		for (size_t j = 0; j < p->n_paths && !ok; j++)
			ok = path_under(c->paths[i], p->paths[j]) &&
			     (p->path_write[j] || !c->path_write[i]);
		if (!ok) {
			snprintf(reason, reasonlen, "%s path %s is not within the grant's paths",
				 c->path_write[i] ? "write" : "read", c->paths[i]);
			return false;
		}
	}
	return true;
}

bool pt_grant_subset(const struct pt_grant *p, const struct pt_grant *c, char *reason,
		     size_t reasonlen)
{
	if (!confinement_within(p, c, reason, reasonlen))
		return false;
	for (size_t i = 0; i < c->n_cmds; i++) {
		const struct pt_grant_cmd *cc = &c->cmds[i];
		bool ok = false;

		for (size_t j = 0; j < p->n_cmds && !ok; j++)
			ok = strcmp(p->cmds[j].path, cc->path) == 0 &&
			     memcmp(p->cmds[j].sha256, cc->sha256, 32) == 0 &&
			     argv_within(&p->cmds[j], cc);
		if (!ok) {
			snprintf(reason, reasonlen,
				 "command %s (with these arguments) is not within the grant's",
				 cc->path);
			return false;
		}
	}
	if (c->not_before < p->not_before || c->not_after > p->not_after) {
		snprintf(reason, reasonlen, "the window is not within the grant's");
		return false;
	}
	if (!hours_within(p, c)) {
		snprintf(reason, reasonlen, "the hours are not within the grant's");
		return false;
	}
	if (c->max_uses > p->max_uses - (p->uses < p->max_uses ? p->uses : p->max_uses)) {
		snprintf(reason, reasonlen,
			 "uses %" PRIu32 " exceed the %" PRIu32 " left on the grant", c->max_uses,
			 p->max_uses > p->uses ? p->max_uses - p->uses : 0);
		return false;
	}
	if (p->max_runtime && (!c->max_runtime || c->max_runtime > p->max_runtime)) {
		snprintf(reason, reasonlen, "the max runtime exceeds the grant's");
		return false;
	}
	if (p->depth == 0 || c->depth > p->depth - 1) {
		snprintf(reason, reasonlen, "depth %" PRIu32 " exceeds the %" PRIu32 " left",
			 c->depth, p->depth ? p->depth - 1 : 0);
		return false;
	}
	return true;
}

void pt_grant_digest_error(const char *path, int r, uint64_t max, char *reason, size_t reasonlen)
{
	if (r == -EFBIG)
		snprintf(reason, reasonlen,
			 "%s is larger than %" PRIu64 " bytes (grant.max_command_size): not hashed",
			 path, max);
	else if (r == -EINVAL)
		snprintf(reason, reasonlen, "%s is not a regular file", path);
	else
		snprintf(reason, reasonlen, "cannot read %s: %s", path, strerror(-r));
}

int pt_grant_file_digest(const char *path, uint64_t max, uint8_t ret[32])
{
	_cleanup_close_ int fd = -1;
	EVP_MD_CTX *ctx = NULL;
	uint8_t buf[65536];
	uint64_t total = 0;
	unsigned len = 0;
	struct stat st;
	int r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = -EIO;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > max) {
			r = -EFBIG;
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = -EIO;
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, ret, &len) != 1 || len != 32)
		r = -EIO;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}
