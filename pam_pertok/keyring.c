/* SPDX-License-Identifier: MIT */
/* The live token in the session keyring (see keyring.h). */
#include "config.h"

#include <errno.h>
#include <keyutils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"
#include "util.h"

#define PK_PERM (KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH)

int pk_join_fresh_session(void)
{
	if (keyctl_join_session_keyring(NULL) < 0)
		return -errno;
	return 0;
}

int pk_session_owner(uid_t *ret_uid)
{
	char *desc = NULL;
	unsigned uid;
	int r = 0;

	/* "type;uid;gid;perm;description" */
	if (keyctl_describe_alloc(KEY_SPEC_SESSION_KEYRING, &desc) < 0)
		return -errno;
	if (sscanf(desc, "%*[^;];%u;", &uid) != 1)
		r = -EBADMSG;
	else
		*ret_uid = (uid_t)uid;
	free(desc);
	return r;
}

int pk_install_live(const char *token, size_t len, uid_t uid, gid_t gid, uint64_t exp, uint64_t now,
		    int32_t *ret_key)
{
	key_serial_t key;
	uint64_t timeout;
	int r;

	if (!token || len == 0)
		return -EINVAL;
	if (exp <= now)
		return -EKEYEXPIRED;
	timeout = exp - now;
	if (timeout > UINT32_MAX)
		timeout = UINT32_MAX;

	key = add_key(PK_KEY_TYPE, PK_KEY_DESC, token, len, KEY_SPEC_SESSION_KEYRING);
	if (key < 0)
		return -errno;
	if (keyctl_setperm(key, PK_PERM) < 0 || keyctl_chown(key, uid, gid) < 0 ||
	    keyctl_set_timeout(key, (unsigned)timeout) < 0) {
		r = -errno;
		goto fail;
	}
	if (ret_key)
		*ret_key = key;
	return 0;

fail:
	/* Never leave a token behind with the wrong owner or no expiry. */
	if (keyctl_invalidate(key) < 0)
		(void)keyctl_revoke(key);
	return r;
}

int pk_read_live(char **ret)
{
	long key = keyctl_search(KEY_SPEC_SESSION_KEYRING, PK_KEY_TYPE, PK_KEY_DESC, 0);
	void *buf = NULL;
	long n;

	if (key < 0)
		return -errno;
	n = keyctl_read_alloc((key_serial_t)key, &buf);
	if (n < 0)
		return -errno;
	if (n == 0 || memchr(buf, '\0', (size_t)n)) {
		pt_free_secret(buf);
		return -EINVAL;
	}
	*ret = buf; /* keyctl_read_alloc NUL-terminates */
	return 0;
}
