/* SPDX-License-Identifier: MIT */
/*
 * pam_pertok.so accept (pam_pertok(8), pertok-rpo(7)): a login as a remote
 * principal with an external issuer's JWT as the PAM authtok.
 *
 *   auth     the JWT (PAM_AUTHTOK, or asked for with the prompt "JWT: ")
 *            goes to tokend (PT_ACCEPT with PAM_USER, PAM_SERVICE,
 *            PAM_RHOST), which verifies it and matches it to the remote
 *            principal PAM_USER names; the live token it mints is kept on
 *            the handle (pam_set_data). Refused: PAM_AUTH_ERR; tokend
 *            unreachable: PAM_AUTHINFO_UNAVAIL.
 *   account  PAM_SUCCESS when this handle's auth accepted PAM_USER, else
 *            PAM_IGNORE.
 *   session  open: the principal's session is counted (max_sessions;
 *            PT_ACCEPT_SESSION) and the live token goes into a fresh
 *            session keyring owned by the principal; close: the count
 *            goes down.
 */
#pragma once

#include <security/pam_modules.h>

#include "args.h"

int pp_accept_authenticate(pam_handle_t *pamh, const struct pp_args *a);
int pp_accept_acct_mgmt(pam_handle_t *pamh, const struct pp_args *a);
int pp_accept_open_session(pam_handle_t *pamh, const struct pp_args *a);
int pp_accept_close_session(pam_handle_t *pamh, const struct pp_args *a);
