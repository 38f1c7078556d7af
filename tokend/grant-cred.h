/* SPDX-License-Identifier: MIT */
/*
 * The grant as a credential (issue 11 part 3 B): besides its id, a grant
 * can be handed to its servicer as a short compact JWS, signed with
 * tokend's key (EdDSA), of its own type PT_GRANT_CRED_TYP so that it is
 * never accepted as a live token (and a live token never as it). Claims:
 *   iss   tokend's issuer        sub     the origin (the user acted as)
 *   grant the grant's id         uid     the servicer's uid
 *   exe   the servicer's executable (the grant's servicer_exe)
 *   iat, exp (the grant's not_after), jti (random)
 * It is bound to the servicer: whoever presents it must be that uid
 * running that executable. It is no substitute for the grant's checks: the
 * grant must still exist, not be revoked, and (at act-as) have uses left
 * and allow the command (pt_grant_decide).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "record.h" /* PT_ID_LEN */

#define PT_GRANT_CRED_TYP "pertok-grant+jwt"

struct pt_daemon;
struct pt_grant;

/* The credential of g (caller frees). 0; -EINVAL (reason: the grant names
 * no servicer executable, or has no expiry); -ENOMEM; -EIO (signing). */
int pt_grant_credential_make(struct pt_daemon *d, const struct pt_grant *g, uint64_t now,
			     char **ret, char *reason, size_t len);

/* The grant a credential presented by uid running exe stands for: 0 and
 * its id in ret_id; -EACCES with reason (not a grant credential, a bad
 * signature, expired, another uid or executable, the grant gone or
 * revoked); -ENOMEM. The act-as executor calls it, then decides on the
 * grant as for an id. */
int pt_grant_credential_resolve(struct pt_daemon *d, const char *jws, uid_t uid, const char *exe,
				char ret_id[PT_ID_LEN], char *reason, size_t len);
