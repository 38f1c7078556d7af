/* SPDX-License-Identifier: MIT */
/*
 * The live token in the kernel keyring: key type "user", description
 * "pertok:live", in the calling process's session keyring, owned by the
 * user (uid, gid), permissions possessor all + user view/read/search,
 * kernel timeout = token expiry - now.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PK_KEY_TYPE "user"
#define PK_KEY_DESC "pertok:live"

/* Replaces the calling process's session keyring with a fresh anonymous
 * one (keyctl_join_session_keyring(NULL)). Returns 0 or a negative errno. */
int pk_join_fresh_session(void);

/* The uid that owns the calling process's session keyring (the one
 * pk_install_live writes to), in *ret_uid. 0 or a negative errno. */
int pk_session_owner(uid_t *ret_uid);

/* The live token of the calling process's session keyring (a secret: the
 * caller pt_free_secret()s it). 0, or -ENOKEY (none), -EINVAL (not a
 * token), -errno. */
int pk_read_live(char **ret);

/* Adds (or updates) the live token token[0..len) in the session keyring as
 * described above; exp and now are seconds since the epoch. On failure no
 * half-configured key is left behind. Returns 0 and the key's serial in
 * *ret_key (may be NULL), or a negative errno (-EKEYEXPIRED when exp <= now,
 * -EINVAL for an empty token). */
int pk_install_live(const char *token, size_t len, uid_t uid, gid_t gid, uint64_t exp, uint64_t now,
		    int32_t *ret_key);
