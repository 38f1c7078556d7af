/* SPDX-License-Identifier: MIT */
/* pam_pertok.so accept (accept.h). */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "accept.h"
#include "client.h"
#include "keyring.h"
#include "pp.h"
#include "proto.h"
#include "util.h"

#define PP_DATA_ACCEPT "pertok_accept"
#define PP_ACCEPT_PROMPT "JWT: "

/* What auth got, for the later stages of the same handle. */
struct pp_accepted {
	char *user;  /* PAM_USER it was accepted for */
	char *token; /* the live token (secret) */
	uint64_t exp;
	bool session; /* open_session counted a session */
};

static void accepted_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	struct pp_accepted *st = data;

	(void)pamh, (void)error_status;
	if (!st)
		return;
	pt_free_secret(st->token);
	free(st->user);
	pt_wipe(st, sizeof(*st));
	free(st);
}

/* The handle's accepted login for PAM_USER now, or NULL. */
static struct pp_accepted *accepted(pam_handle_t *pamh)
{
	const char *user = pp_item_str(pamh, PAM_USER);
	const void *data = NULL;
	struct pp_accepted *st;

	if (pam_get_data(pamh, PP_DATA_ACCEPT, &data) != PAM_SUCCESS || !data)
		return NULL;
	st = (struct pp_accepted *)data;
	return user && strcmp(st->user, user) == 0 ? st : NULL;
}

/* One request, one reply. 0 or a transport -errno. */
static int call(const struct pp_args *a, const struct pt_req *req, struct pt_rep *rep)
{
	struct pt_client *c = NULL;
	int r;

	r = pt_client_connect(pp_socket_path(a), a->timeout_ms, &c);
	if (r >= 0)
		r = pt_client_call(c, req, rep);
	pt_client_free(c);
	return r;
}

int pp_accept_authenticate(pam_handle_t *pamh, const struct pp_args *a)
{
	const char *user = NULL, *service = NULL, *jwt = NULL, *rhost;
	struct pp_accepted *st = NULL;
	struct pt_rep rep = {};
	char msg[256];
	int code, r;

	r = pam_get_user(pamh, &user, NULL);
	if (r != PAM_SUCCESS || !user)
		return pp_result(pamh, a, r == PAM_SUCCESS ? PAM_AUTH_ERR : r, LOG_ERR,
				 "op=accept result=error error=\"cannot get the user: %s\"",
				 pam_strerror(pamh, r));
	r = pp_get_user_service(pamh, &user, &service);
	if (r < 0)
		return pp_result(pamh, a, PAM_AUTH_ERR, LOG_ERR,
				 "op=accept result=error error=\"%s\"", pp_user_error(r));
	rhost = pp_short_item(pamh, PAM_RHOST);
	r = pam_get_authtok(pamh, PAM_AUTHTOK, &jwt, PP_ACCEPT_PROMPT);
	if (r != PAM_SUCCESS || !jwt || !*jwt)
		return pp_result(
			pamh, a, PAM_AUTH_ERR, LOG_NOTICE,
			"op=accept result=deny user=%s service=%s error=\"no token given\"", user,
			service);
	if (strlen(jwt) > PT_MAX_TOKEN)
		return pp_result(
			pamh, a, PAM_AUTH_ERR, LOG_NOTICE,
			"op=accept result=deny user=%s service=%s error=\"token too long\"", user,
			service);
	{
		struct pt_req req = {
			.type = PT_ACCEPT,
			.jwt = (char *)jwt,
			.user = (char *)user,
			.service = (char *)service,
			.rhost = (char *)rhost,
		};

		r = call(a, &req, &rep);
	}
	if (r < 0) {
		code = pp_result(pamh, a, PAM_AUTHINFO_UNAVAIL, LOG_ERR,
				 "op=accept result=error user=%s service=%s socket=%s error=\"%s\"",
				 user, service, pp_socket_path(a), pp_transport_error(r));
		goto out;
	}
	if (rep.type != PT_OK) {
		bool refused = rep.err_code == PT_E_INVALID || rep.err_code == PT_E_DENIED ||
			       rep.err_code == PT_E_LIMIT || rep.err_code == PT_E_NOTFOUND;
		code = pp_result(pamh, a, refused ? PAM_AUTH_ERR : PAM_AUTHINFO_UNAVAIL,
				 refused ? LOG_NOTICE : LOG_ERR,
				 "op=accept result=%s user=%s service=%s rhost=%s error=%s "
				 "message=\"%s\"",
				 refused ? "deny" : "error", user, service, rhost,
				 pt_errcode_name(rep.err_code),
				 pp_clean_text(rep.message, msg, sizeof(msg)));
		goto out;
	}
	if (!rep.token || !*rep.token) {
		code = pp_result(pamh, a, PAM_AUTHINFO_UNAVAIL, LOG_ERR,
				 "op=accept result=error user=%s error=\"empty token in reply\"",
				 user);
		goto out;
	}
	st = calloc(1, sizeof(*st));
	if (!st || !(st->user = strdup(user))) {
		free(st);
		code = pp_result(pamh, a, PAM_BUF_ERR, LOG_ERR,
				 "op=accept result=error error=\"out of memory\"");
		goto out;
	}
	st->token = rep.token;
	rep.token = NULL;
	st->exp = rep.exp;
	if (pam_set_data(pamh, PP_DATA_ACCEPT, st, accepted_cleanup) != PAM_SUCCESS) {
		accepted_cleanup(pamh, st, 0);
		code = pp_result(pamh, a, PAM_BUF_ERR, LOG_ERR,
				 "op=accept result=error error=\"cannot keep the token\"");
		goto out;
	}
	code = pp_result(pamh, a, PAM_SUCCESS, LOG_INFO,
			 "op=accept result=allow user=%s service=%s rhost=%s rpo=%s exp=%llu", user,
			 service, rhost, rep.id ? rep.id : "", (unsigned long long)st->exp);
out:
	pt_rep_clear(&rep);
	return code;
}

int pp_accept_acct_mgmt(pam_handle_t *pamh, const struct pp_args *a)
{
	(void)a;
	return accepted(pamh) ? PAM_SUCCESS : PAM_IGNORE;
}

/* PT_ACCEPT_SESSION: count 1 opens, 0 closes. */
static int session_call(pam_handle_t *pamh, const struct pp_args *a, const char *user,
			uint32_t count, char *msg, size_t msglen)
{
	const char *service = pp_item_str(pamh, PAM_SERVICE);
	struct pt_req req = {
		.type = PT_ACCEPT_SESSION,
		.user = (char *)user,
		.service = (char *)(service ? service : ""),
		.count = count,
	};
	struct pt_rep rep = {};
	int r;

	r = call(a, &req, &rep);
	if (r < 0)
		snprintf(msg, msglen, "%s", pp_transport_error(r));
	else if (rep.type != PT_OK) {
		pp_clean_text(rep.message, msg, msglen);
		r = -EPERM;
	}
	pt_rep_clear(&rep);
	return r;
}

int pp_accept_open_session(pam_handle_t *pamh, const struct pp_args *a)
{
	struct pp_accepted *st = accepted(pamh);
	const struct passwd *pw;
	int32_t key = 0;
	char msg[256], env[32];
	int r;

	if (!st)
		return PAM_IGNORE;
	pw = pam_modutil_getpwnam(pamh, st->user);
	if (!pw)
		return pp_result(pamh, a, PAM_SESSION_ERR, LOG_ERR,
				 "op=accept stage=session result=error user=%s "
				 "error=\"the remote principal does not resolve (nsswitch.conf: "
				 "passwd: ... pertok)\"",
				 st->user);
	r = session_call(pamh, a, st->user, 1, msg, sizeof(msg));
	if (r < 0)
		return pp_result(pamh, a, PAM_SESSION_ERR, LOG_NOTICE,
				 "op=accept stage=session result=deny user=%s message=\"%s\"",
				 st->user, msg);
	st->session = true;
	if (a->nokeyring)
		return PAM_SUCCESS;
	r = pk_join_fresh_session();
	if (r >= 0)
		r = pk_install_live(st->token, strlen(st->token), pw->pw_uid, pw->pw_gid, st->exp,
				    pt_now_s(), &key);
	if (r < 0)
		return pp_result(pamh, a, PAM_SESSION_ERR, LOG_ERR,
				 "op=accept stage=session result=error user=%s "
				 "error=\"cannot put the live token in a session keyring: %s\"",
				 st->user, strerror(-r));
	snprintf(env, sizeof(env), "PERTOK_KEY=%d", (int)key);
	if (pam_putenv(pamh, env) != PAM_SUCCESS)
		pp_debug(pamh, a, "op=accept stage=session cannot set PERTOK_KEY");
	return pp_result(pamh, a, PAM_SUCCESS, LOG_DEBUG,
			 "op=accept stage=session user=%s key=%d exp=%llu", st->user, (int)key,
			 (unsigned long long)st->exp);
}

int pp_accept_close_session(pam_handle_t *pamh, const struct pp_args *a)
{
	struct pp_accepted *st = accepted(pamh);
	char msg[256];

	if (!st || !st->session)
		return PAM_IGNORE;
	st->session = false;
	if (session_call(pamh, a, st->user, 0, msg, sizeof(msg)) < 0)
		return pp_result(
			pamh, a, PAM_SESSION_ERR, LOG_ERR,
			"op=accept stage=close_session result=error user=%s message=\"%s\"",
			st->user, msg);
	return PAM_SUCCESS;
}
