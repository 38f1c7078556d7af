/* SPDX-License-Identifier: MIT */
/*
 * The account expiry of remote principals (pertok-rpo(7)), enforced by the
 * module's account stage itself in every mode: read from libnss_pertok's
 * cache (no socket: it works with tokend down), to the second.
 */
#pragma once

#include <security/pam_modules.h>
#include <stdint.h>

/* PAM_ACCT_EXPIRED when user has an entry with an expiry in the cache at
 * path and now is at or past it (logged); PAM_SUCCESS otherwise (no cache,
 * no entry, no expiry: the rest of the stack decides). */
int pp_rpo_expiry(pam_handle_t *pamh, const char *path, const char *user, uint64_t now);
