/* SPDX-License-Identifier: MIT */
/* tokend's side of the NSS cache (format in common/nsscache.h): build the
 * file from the store's records and replace it atomically. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pt_record;
struct pt_store;

/* Resolves a supplementary group's name to its gid: 0 or a negative errno
 * (the group is then left out of the file) */
typedef int (*pt_nsscache_gid_fn)(const char *group, gid_t *ret, void *userdata);

/* The file for recs[0..n) (the caller passes the live ones): one passwd entry
 * per user, from that user's most recent token (highest iat); a group entry
 * for each user's primary group (groups[0], the record's gid) and for every
 * supplementary group gid_fn resolves, with the users that list it as members.
 * A record whose strings the format cannot hold (':' or a newline) is skipped. */
int pt_nsscache_build(const struct pt_record *const *recs, size_t n, pt_nsscache_gid_fn gid_fn,
		      void *userdata, uint8_t **ret, size_t *ret_len);

/* A remote principal's entries (pertok-rpo(7)): passwd + private group
 * (gid = uid) + membership of groups[], answered until expire (unix s). */
struct pt_nss_rpo {
	const char *name;
	uid_t uid;
	const char *home, *shell;
	uint32_t expire;
	char **groups;
	size_t n_groups;
};

/* pt_nsscache_build with remote principals after the token holders. */
int pt_nsscache_build_rpo(const struct pt_record *const *recs, size_t n,
			  const struct pt_nss_rpo *rpos, size_t n_rpos, pt_nsscache_gid_fn gid_fn,
			  void *userdata, uint8_t **ret, size_t *ret_len);

/* Atomic replace of path: a temp file beside it (0644, fsync), rename, the
 * stale word set in the file it replaced, fsync of the directory. The
 * directory must exist (tokend never creates it). 0 or a negative errno. */
int pt_nsscache_install(const char *path, const uint8_t *data, size_t len);

/* The live tokens of s (exp > now) into path, when the identities they carry
 * changed since the last call for this path (or the file is missing):
 * 0 (written or nothing to do), -ENOENT when path's directory does not exist
 * (nothing written), another negative errno on failure. path NULL or "":
 * disabled, 0. Group ids resolve through getgrnam_r, falling back to the
 * file being replaced when the directory cannot answer. */
int pt_nsscache_update(struct pt_store *s, const char *path, uint64_t now);
/* The same with remote principals. */
int pt_nsscache_update_rpo(struct pt_store *s, const struct pt_nss_rpo *rpos, size_t n_rpos,
			   const char *path, uint64_t now);
/* How many times pt_nsscache_update built a cache (for tests). */
extern unsigned long pt_nsscache_builds;
