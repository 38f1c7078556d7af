/* SPDX-License-Identifier: MIT */
/* What pam_pertok's modes share: the one place errors become PAM codes,
 * and the PAM items as tokend's requests carry them. */
#pragma once

#include <security/pam_modules.h>
#include <stddef.h>

#include "args.h"

#define PP_EXPORT __attribute__((visibility("default")))

/* Logs one line (LOG_DEBUG lines only with the debug option) and returns
 * code. */
int pp_result(pam_handle_t *pamh, const struct pp_args *a, int code, int prio, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
#define pp_debug(pamh, a, ...) (void)pp_result(pamh, a, 0, LOG_DEBUG, __VA_ARGS__)

/* tokend's messages go into a quoted log field: kept on one line (out). */
const char *pp_clean_text(const char *in, char *out, size_t n);
/* A transport failure, for the log. */
const char *pp_transport_error(int r);
const char *pp_socket_path(const struct pp_args *a);
const char *pp_item_str(pam_handle_t *pamh, int item);
/* PAM_USER and PAM_SERVICE, both valid names: 0, -ENOENT (no user), -EINVAL. */
int pp_get_user_service(pam_handle_t *pamh, const char **ret_user, const char **ret_service);
const char *pp_user_error(int r);
/* tty and rhost as MINT carries them: "" when unset or too long. */
const char *pp_short_item(pam_handle_t *pamh, int item);
