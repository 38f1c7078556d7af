/* SPDX-License-Identifier: MIT */
/* What pam_pertok's modes share (pp.h). */
#include "config.h"

#include <errno.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdarg.h>
#include <string.h>
#include <syslog.h>

#include "client.h"
#include "pp.h"
#include "proto.h"
#include "util.h"

/* The one place errors become PAM codes: logs one line (LOG_DEBUG lines
 * only with the debug option) and returns code. */
int pp_result(pam_handle_t *pamh, const struct pp_args *a, int code, int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !(a && a->debug))
		return code;
	va_start(ap, fmt);
	pam_vsyslog(pamh, prio, fmt, ap);
	va_end(ap);
	return code;
}

/* tokend's messages go into a quoted log field: keep them on one line. */
const char *pp_clean_text(const char *in, char *out, size_t n)
{
	size_t i = 0;

	if (!in)
		in = "";
	for (; *in && i + 1 < n; in++) {
		unsigned char c = (unsigned char)*in;

		out[i++] = c < ' ' || c >= 0x7f ? '?' : c == '"' || c == '\\' ? '\'' : (char)c;
	}
	out[i] = '\0';
	return out;
}

/* A transport failure, for the log. */
const char *pp_transport_error(int r)
{
	switch (r) {
	case -ENOENT:
	case -ECONNREFUSED:
		return "tokend is not running";
	case -ETIMEDOUT:
		return "tokend did not answer in time";
	case -EPROTO:
	case -EBADMSG:
		return "protocol error";
	case -ENAMETOOLONG:
		return "socket path too long";
	default:
		return strerror(-r);
	}
}

const char *pp_socket_path(const struct pp_args *a)
{
	return a->socket ? a->socket : pt_default_socket();
}

const char *pp_item_str(pam_handle_t *pamh, int item)
{
	const void *v = NULL;

	if (pam_get_item(pamh, item, &v) != PAM_SUCCESS || !v)
		return NULL;
	return v;
}

/* PAM_USER and PAM_SERVICE, both valid names. */
int pp_get_user_service(pam_handle_t *pamh, const char **ret_user, const char **ret_service)
{
	const char *user = pp_item_str(pamh, PAM_USER), *service = pp_item_str(pamh, PAM_SERVICE);

	if (!user || !*user)
		return -ENOENT;
	if (!pt_name_valid(user) || !service || !pt_name_valid(service))
		return -EINVAL;
	*ret_user = user;
	*ret_service = service;
	return 0;
}

const char *pp_user_error(int r)
{
	return r == -ENOENT ? "PAM_USER is not set" : "invalid PAM_USER or PAM_SERVICE";
}

/* tty and rhost as MINT carries them: "" when unset or too long. */
const char *pp_short_item(pam_handle_t *pamh, int item)
{
	const char *v = pp_item_str(pamh, item);

	return v && strlen(v) <= PT_MAX_STR ? v : "";
}
