/* SPDX-License-Identifier: MIT */
/*
 * pam_pertok: the PAM side of pertok.
 *
 *   session  optional  pam_pertok.so issue  [holder=atd,cron] [onerror=...]
 *   account  required  pam_pertok.so redeem [holder=NAME] [notoken=ignore]
 *   session  required  pam_pertok.so redeem [nokeyring]
 *   auth     sufficient pam_pertok.so recovery type=NAME [delay=MS]
 *
 * issue (open_session): MINT a live token for PAM_USER, put it in the
 * session keyring, EXCHANGE it once per holder. Failures return per
 * onerror (login never fails because of pertok unless the admin asks).
 *
 * redeem (account, open_session, setcred): one REDEEM per PAM handle,
 * whichever stage comes first; the result, failure included, is kept with
 * pam_set_data and reused by the other stages. open_session joins a fresh
 * session keyring and installs the new live token owned by the user.
 *
 * recovery (authenticate): prompts for a one-time code (echo off), has
 * tokend CODE_CHECK it for (type, PAM_USER), wipes it. A wrong code, a
 * locked-out user, a user without a code and an unknown user are one
 * answer: PAM_AUTH_ERR, the same message, after at least delay= ms; an empty
 * answer skips the module (PAM_IGNORE, nothing counted); tokend unreachable
 * or refusing the caller is PAM_AUTHINFO_UNAVAIL.
 *
 * No global state, no signal handlers, no exit(); the client closes its
 * socket; the token is wiped wherever it is freed and never logged.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "accept.h"
#include "args.h"
#include "client.h"
#include "expiry.h"
#include "keyring.h"
#include "pp.h"
#include "proto.h"
#include "util.h"

#define PP_DATA_REDEEM "pertok_redeem"

/* One redemption per PAM handle, kept with pam_set_data. */
struct pp_redemption {
	int pam_code; /* what every stage returns */
	char *user;   /* PAM_USER it was made for ("" when unset) */
	char *token;  /* the live token (secret), only when pam_code == PAM_SUCCESS */
	uint64_t exp;
};

/* ---------------------------------------------------------------- issue */

static int issue_fail_code(const struct pp_args *a)
{
	switch (a->onerror) {
	case PP_ONERROR_SUCCESS:
		return PAM_SUCCESS;
	case PP_ONERROR_FAIL:
		return PAM_SESSION_ERR;
	case PP_ONERROR_IGNORE:
		break;
	}
	return PAM_IGNORE;
}

static const char *utc_time(uint64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, n, "%llu", (unsigned long long)t);
	return buf;
}

/* What the user is told at login (pam_info; the quiet option silences it),
 * from the user's tokens as they were before this login renewed any
 * (lst): the jobs refused since the last login (the newest token's issue
 * time), and the tokens this login did not renew (renewed[i]: holders[i]
 * was) that expire within warn_days. A user who cannot be told (no
 * conversation) loses only the message. */
static void issue_notices(pam_handle_t *pamh, const struct pp_args *a, const char *user,
			  const struct pt_rep *lst, const char *const *holders, const bool *renewed,
			  size_t n_holders)
{
	uint64_t now = pt_now_s(), last_login = 0;
	char when[64], left[32], rule[128], why[256];

	if (a->quiet || !lst || lst->type != PT_OK)
		return;
	for (uint32_t i = 0; i < lst->n_list; i++)
		if (strcmp(lst->list[i].user, user) == 0 && lst->list[i].iat > last_login)
			last_login = lst->list[i].iat;
	for (uint32_t i = 0; i < lst->n_list; i++) {
		const struct pt_tokinfo *t = &lst->list[i];
		bool again = false;

		if (strcmp(t->user, user) != 0)
			continue;
		if (t->refused_at && t->refused_at >= last_login)
			pam_info(
				pamh,
				"pertok: a job of holder %s was refused at %s%s%s: %s (%u refusal%s "
				"since the token was issued; \"pertok status\" shows more)",
				t->holder, utc_time(t->refused_at, when, sizeof(when)),
				t->refusal_rule && *t->refusal_rule ? " by rule " : "",
				t->refusal_rule && *t->refusal_rule ?
					pp_clean_text(t->refusal_rule, rule, sizeof(rule)) :
					"",
				pp_clean_text(t->refusal_reason, why, sizeof(why)),
				(unsigned)t->refusals, t->refusals == 1 ? "" : "s");
		for (size_t k = 0; k < n_holders; k++)
			again = again || (renewed[k] && strcmp(holders[k], t->holder) == 0);
		if (again || a->warn_days == 0 || t->exp > now + (uint64_t)a->warn_days * 86400)
			continue;
		if (t->exp <= now)
			pam_info(pamh,
				 "pertok: your token for holder %s expired at %s: its jobs are "
				 "refused (\"pertok persist --holder %s\" makes a new one)",
				 t->holder, utc_time(t->exp, when, sizeof(when)), t->holder);
		else
			pam_info(
				pamh,
				"pertok: your token for holder %s expires in %s (%s): its jobs are "
				"refused after that (\"pertok persist --holder %s\" makes a new one)",
				t->holder, pt_left_text(t->exp, now, left, sizeof(left)),
				utc_time(t->exp, when, sizeof(when)), t->holder);
	}
}

/* The grant requests waiting for the user's answer (issue 11), told at
 * login unless quiet. An error (an older tokend, a closed connection)
 * costs only the message. */
static void grant_notice(pam_handle_t *pamh, const struct pp_args *a, struct pt_client *c,
			 const char *user)
{
	struct pt_req req = { .type = PT_GRANT_REQUESTS, .user = (char *)user };
	struct pt_rep rep = { 0 };

	if (a->quiet || !c)
		return;
	if (pt_client_call(c, &req, &rep) >= 0 && rep.type == PT_OK && rep.count > 0)
		pam_info(pamh, "%u pending grant request(s): run pertok grant requests",
			 (unsigned)rep.count);
	pt_rep_clear(&rep);
}

static int do_issue(pam_handle_t *pamh, const struct pp_args *a)
{
	static const char *const default_holders[] = { PP_DEFAULT_ISSUE_HOLDER };
	const char *const *holders = a->n_holders ? a->holders : default_holders;
	size_t n_holders = a->n_holders ? a->n_holders : 1;
	const int fail = issue_fail_code(a);
	const char *user = NULL, *service = NULL;
	const struct passwd *pw;
	struct pt_client *c = NULL;
	struct pt_rep rep = {}, before = {};
	bool renewed[PP_MAX_HOLDERS] = { false };
	char *token = NULL;
	char msg[256], list[sizeof(a->holder_buf)] = "";
	uint64_t exp;
	size_t n_failed = 0;
	int32_t key = 0;
	int code, r;

	r = pp_get_user_service(pamh, &user, &service);
	if (r < 0) {
		code = pp_result(pamh, a, fail, LOG_ERR, "op=issue result=error error=\"%s\"",
				 pp_user_error(r));
		goto out;
	}
	pw = pam_modutil_getpwnam(pamh, user);
	if (!pw) {
		code = pp_result(pamh, a, fail, LOG_ERR,
				 "op=issue result=error user=%s error=\"unknown user\"", user);
		goto out;
	}

	r = pt_client_connect(pp_socket_path(a), a->timeout_ms, &c);
	if (r < 0) {
		code = pp_result(pamh, a, fail, LOG_ERR,
				 "op=issue result=error user=%s socket=%s error=\"%s\"", user,
				 pp_socket_path(a), pp_transport_error(r));
		goto out;
	}

	{
		struct pt_req req = {
			.type = PT_MINT,
			.user = (char *)user,
			.service = (char *)service,
			.tty = (char *)pp_short_item(pamh, PAM_TTY),
			.rhost = (char *)pp_short_item(pamh, PAM_RHOST),
		};

		r = pt_client_call(c, &req, &rep);
	}
	if (r < 0) {
		code = pp_result(pamh, a, fail, LOG_ERR,
				 "op=mint result=error user=%s service=%s error=\"%s\"", user,
				 service, pp_transport_error(r));
		goto out;
	}
	if (rep.type != PT_OK) {
		bool denied = rep.err_code == PT_E_DENIED;

		code = pp_result(pamh, a, fail, denied ? LOG_NOTICE : LOG_ERR,
				 "op=mint result=%s user=%s service=%s error=%s message=\"%s\"",
				 denied ? "deny" : "error", user, service,
				 pt_errcode_name(rep.err_code),
				 pp_clean_text(rep.message, msg, sizeof(msg)));
		/* a login that gets no token must still hear of its refused jobs
		 * (the user's tokens are redeemed, and refused, all the same) */
		if (denied && !a->quiet && pt_client_list(c, user, &before) >= 0)
			issue_notices(pamh, a, user, &before, holders, renewed, n_holders);
		goto out;
	}
	if (!rep.token || !*rep.token) {
		code = pp_result(pamh, a, fail, LOG_ERR,
				 "op=mint result=error user=%s error=\"empty token in reply\"",
				 user);
		goto out;
	}
	token = rep.token;
	rep.token = NULL;
	exp = rep.exp;
	pt_rep_clear(&rep);

	/* The live token goes only into a session keyring that is the user's own
	 * (pam_keyinit earlier in the stack makes one): a keyring inherited from
	 * another user (su without pam_keyinit) is readable by whoever else
	 * possesses it. Refused, not replaced: the stack's own pam_keyinit is the
	 * place to create session keyrings (pam_pertok(8)). */
	{
		uid_t owner = 0;

		r = pk_session_owner(&owner);
		if (r < 0) {
			n_failed++;
			(void)pp_result(pamh, a, fail, LOG_ERR,
					"op=issue step=keyring result=error user=%s "
					"error=\"cannot read the session keyring's owner: %s: live "
					"token not placed\"",
					user, strerror(-r));
			goto exchange;
		}
		if (owner != pw->pw_uid) {
			n_failed++;
			(void)pp_result(pamh, a, fail, LOG_WARNING,
					"op=issue step=keyring result=deny user=%s keyring_uid=%u "
					"error=\"the session keyring belongs to uid %u, not to the "
					"user: live token not placed (pam_keyinit missing before "
					"pam_pertok?)\"",
					user, (unsigned)owner, (unsigned)owner);
			goto exchange;
		}
	}
	r = pk_install_live(token, strlen(token), pw->pw_uid, pw->pw_gid, exp, pt_now_s(), &key);
	if (r < 0) {
		n_failed++;
		(void)pp_result(pamh, a, fail, LOG_ERR,
				"op=issue step=keyring result=error user=%s "
				"error=\"cannot put the live token in the session keyring: %s\"",
				user, strerror(-r));
	} else
		pp_debug(pamh, a, "op=issue step=keyring user=%s key=%d exp=%llu", user, (int)key,
			 (unsigned long long)exp);

exchange:
	/* the user's tokens before this login renews them: what to tell at the
	 * end (an error here costs only the messages) */
	if (!a->quiet && (r = pt_client_list(c, user, &before)) < 0)
		pp_debug(pamh, a, "op=issue step=notices user=%s error=\"%s\"", user,
			 pp_transport_error(r));
	if (!a->quiet && (r < 0 || before.type != PT_OK)) {
		/* tokend may have closed the connection (a tokend older than
		 * the list pt_client_list asks for answers PT_E_PROTO and hangs up): the exchanges
		 * get a fresh one */
		pt_client_free(c);
		c = NULL;
		r = pt_client_connect(pp_socket_path(a), a->timeout_ms, &c);
		if (r < 0) {
			code = pp_result(pamh, a, fail, LOG_ERR,
					 "op=issue result=error user=%s socket=%s error=\"%s\"",
					 user, pp_socket_path(a), pp_transport_error(r));
			goto out;
		}
	}
	for (size_t i = 0; i < n_holders; i++) {
		struct pt_req req = {
			.type = PT_EXCHANGE,
			.live_token = token,
			.holder = (char *)holders[i],
			.lifetime = 0,
		};

		r = pt_client_call(c, &req, &rep);
		if (r < 0) {
			/* The connection is gone: the remaining holders would fail too. */
			n_failed++;
			(void)pp_result(pamh, a, fail, LOG_ERR,
					"op=exchange result=error user=%s holder=%s error=\"%s\"",
					user, holders[i], pp_transport_error(r));
			break;
		}
		if (rep.type != PT_OK) {
			bool denied = rep.err_code == PT_E_DENIED || rep.err_code == PT_E_LIMIT;

			n_failed++;
			(void)pp_result(pamh, a, fail, denied ? LOG_NOTICE : LOG_ERR,
					"op=exchange result=%s user=%s holder=%s error=%s "
					"message=\"%s\"",
					denied ? "deny" : "error", user, holders[i],
					pt_errcode_name(rep.err_code),
					pp_clean_text(rep.message, msg, sizeof(msg)));
		} else {
			pp_debug(pamh, a,
				 "op=exchange result=ok user=%s holder=%s id=%s exp=%llu "
				 "renewed=%u",
				 user, holders[i], rep.id ? rep.id : "",
				 (unsigned long long)rep.exp, (unsigned)rep.renewed);
			renewed[i] = true;
			if (*list)
				strncat(list, ",", sizeof(list) - strlen(list) - 1);
			strncat(list, holders[i], sizeof(list) - strlen(list) - 1);
		}
		pt_rep_clear(&rep);
	}

	issue_notices(pamh, a, user, &before, holders, renewed, n_holders);
	grant_notice(pamh, a, c, user);
	if (n_failed > 0)
		code = fail; /* each failure was logged above */
	else
		code = pp_result(pamh, a, PAM_SUCCESS, LOG_INFO,
				 "op=issue result=ok user=%s service=%s holders=%s exp=%llu", user,
				 service, list, (unsigned long long)exp);
out:
	pt_rep_clear(&rep);
	pt_rep_clear(&before);
	pt_free_secret(token);
	pt_client_free(c);
	return code;
}

/* ---------------------------------------------------------------- redeem */

static void redemption_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	struct pp_redemption *st = data;

	if (!st)
		return;
	pt_free_secret(st->token);
	free(st->user);
	pt_wipe(st, sizeof(*st));
	free(st);
}

/* Performs the REDEEM; returns the PAM code every stage will return, after
 * logging one line. On PAM_SUCCESS, st->token and st->exp are set. */
static int do_redeem(pam_handle_t *pamh, const struct pp_args *a, const char *stage,
		     struct pp_redemption *st)
{
	const char *user = NULL, *service = NULL, *holder;
	struct pt_client *c = NULL;
	struct pt_rep rep = {};
	char msg[256];
	int code, r;

	r = pp_get_user_service(pamh, &user, &service);
	if (r < 0) {
		code = pp_result(pamh, a, PAM_PERM_DENIED, LOG_ERR,
				 "op=redeem stage=%s result=error error=\"%s\"", stage,
				 pp_user_error(r));
		goto out;
	}
	holder = a->n_holders ? a->holders[0] : service;

	r = pt_client_connect(pp_socket_path(a), a->timeout_ms, &c);
	if (r < 0) {
		code = pp_result(pamh, a, PAM_PERM_DENIED, LOG_ERR,
				 "op=redeem stage=%s result=error user=%s holder=%s socket=%s "
				 "error=\"%s\"",
				 stage, user, holder, pp_socket_path(a), pp_transport_error(r));
		goto out;
	}

	{
		struct pt_req req = {
			.type = PT_REDEEM,
			.user = (char *)user,
			.holder = (char *)holder,
			.service = (char *)service,
		};

		r = pt_client_call(c, &req, &rep);
	}
	if (r < 0) {
		code = pp_result(pamh, a, PAM_PERM_DENIED, LOG_ERR,
				 "op=redeem stage=%s result=error user=%s holder=%s error=\"%s\"",
				 stage, user, holder, pp_transport_error(r));
		goto out;
	}
	if (rep.type != PT_OK) {
		const char *result = "error";
		int prio = LOG_ERR;

		code = PAM_PERM_DENIED;
		if (rep.err_code == PT_E_NOTFOUND) {
			result = "notoken";
			prio = LOG_NOTICE;
			if (a->notoken == PP_NOTOKEN_IGNORE) {
				code = PAM_IGNORE;
				prio = LOG_INFO;
			}
		} else if (rep.err_code == PT_E_DENIED) {
			result = "deny";
			prio = LOG_NOTICE;
		}
		code = pp_result(pamh, a, code, prio,
				 "op=redeem stage=%s result=%s user=%s holder=%s service=%s "
				 "error=%s message=\"%s\"",
				 stage, result, user, holder, service,
				 pt_errcode_name(rep.err_code),
				 pp_clean_text(rep.message, msg, sizeof(msg)));
		goto out;
	}
	if (!rep.token || !*rep.token) {
		code = pp_result(pamh, a, PAM_PERM_DENIED, LOG_ERR,
				 "op=redeem stage=%s result=error user=%s holder=%s "
				 "error=\"empty token in reply\"",
				 stage, user, holder);
		goto out;
	}
	st->token = rep.token;
	rep.token = NULL;
	st->exp = rep.exp;
	code = pp_result(pamh, a, PAM_SUCCESS, LOG_INFO,
			 "op=redeem stage=%s result=allow user=%s holder=%s service=%s id=%s "
			 "exp=%llu",
			 stage, user, holder, service, rep.id ? rep.id : "",
			 (unsigned long long)st->exp);
out:
	pt_rep_clear(&rep);
	pt_client_free(c);
	return code;
}

/* The handle's redemption: the cached one, or performed now and cached
 * (failures too). Returns 0, -ENOMEM, or -EPERM when PAM_USER changed since
 * the cached redemption (its token is not this user's). */
static int get_redemption(pam_handle_t *pamh, const struct pp_args *a, const char *stage,
			  const struct pp_redemption **ret)
{
	const char *user = pp_item_str(pamh, PAM_USER);
	const void *data = NULL;
	struct pp_redemption *st;

	if (!user)
		user = "";
	if (pam_get_data(pamh, PP_DATA_REDEEM, &data) == PAM_SUCCESS && data) {
		st = (struct pp_redemption *)data;
		if (strcmp(st->user, user) != 0)
			return -EPERM;
		pp_debug(pamh, a, "op=redeem stage=%s reusing the redemption (%s)", stage,
			 pam_strerror(pamh, st->pam_code));
		*ret = st;
		return 0;
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->user = strdup(user);
	if (!st->user) {
		free(st);
		return -ENOMEM;
	}
	st->pam_code = do_redeem(pamh, a, stage, st);
	if (pam_set_data(pamh, PP_DATA_REDEEM, st, redemption_cleanup) != PAM_SUCCESS) {
		redemption_cleanup(pamh, st, 0);
		return -ENOMEM;
	}
	*ret = st;
	return 0;
}

/* The stage's code: the redemption's, or PAM_PERM_DENIED when it could not
 * even be kept. */
static int redeem_stage(pam_handle_t *pamh, const struct pp_args *a, const char *stage,
			const struct pp_redemption **ret)
{
	int r;

	r = get_redemption(pamh, a, stage, ret);
	if (r < 0)
		return pp_result(pamh, a, PAM_PERM_DENIED, LOG_ERR,
				 "op=redeem stage=%s result=error error=\"%s\"", stage,
				 r == -EPERM ? "PAM_USER changed since the redemption" :
					       strerror(-r));
	return (*ret)->pam_code;
}

static int redeem_open_session(pam_handle_t *pamh, const struct pp_args *a)
{
	const struct pp_redemption *st = NULL;
	const struct passwd *pw;
	const char *user;
	int32_t key = 0;
	char env[32];
	int code, r;

	code = redeem_stage(pamh, a, "session", &st);
	if (code != PAM_SUCCESS)
		return code;
	if (a->nokeyring)
		return pp_result(pamh, a, PAM_SUCCESS, LOG_DEBUG,
				 "op=redeem stage=session nokeyring: live token not installed");

	user = st->user; /* get_redemption checked it is still PAM_USER */
	pw = pam_modutil_getpwnam(pamh, user);
	if (!pw)
		return pp_result(pamh, a, PAM_SESSION_ERR, LOG_ERR,
				 "op=redeem stage=session result=error user=%s "
				 "error=\"unknown user\"",
				 user);

	r = pk_join_fresh_session();
	if (r == -EPERM || r == -ENOSYS || r == -EACCES)
		/* the kernel keyring calls are filtered (nspawn's and Docker's
		 * default seccomp filters): say so once, with the way out */
		return pp_result(
			pamh, a, PAM_SESSION_ERR, LOG_ERR,
			"op=redeem stage=session result=error user=%s "
			"error=\"cannot join a new session keyring: %s: the kernel keyring "
			"is blocked here (a container's seccomp filter?); allow add_key, "
			"keyctl and request_key, or use the option nokeyring and give the "
			"job its token with LoadCredential=pertok:/run/pertok/credential.sock "
			"(pam_pertok(8), SYSTEMD)\"",
			user, strerror(-r));
	if (r < 0)
		return pp_result(pamh, a, PAM_SESSION_ERR, LOG_ERR,
				 "op=redeem stage=session result=error user=%s "
				 "error=\"cannot join a new session keyring: %s\"",
				 user, strerror(-r));
	r = pk_install_live(st->token, strlen(st->token), pw->pw_uid, pw->pw_gid, st->exp,
			    pt_now_s(), &key);
	if (r < 0)
		return pp_result(pamh, a, PAM_SESSION_ERR, LOG_ERR,
				 "op=redeem stage=session result=error user=%s "
				 "error=\"cannot put the live token in the session keyring: %s\"",
				 user, strerror(-r));
	/* A pointer for the job, never the token: schedulers that pass the PAM
	 * environment on (cron, systemd) give the job the key's serial. */
	snprintf(env, sizeof(env), "PERTOK_KEY=%d", (int)key);
	if (pam_putenv(pamh, env) != PAM_SUCCESS)
		pp_debug(pamh, a, "op=redeem stage=session cannot set PERTOK_KEY");
	return pp_result(pamh, a, PAM_SUCCESS, LOG_DEBUG,
			 "op=redeem stage=session user=%s key=%d exp=%llu", user, (int)key,
			 (unsigned long long)st->exp);
}

/* ---------------------------------------------------------------- recovery */

#define PP_RECOVERY_PROMPT "Recovery code (Enter to skip): "
#define PP_RECOVERY_REFUSED "Recovery code not accepted."

/* Sleeps until start_ms + delay_ms (monotonic), through EINTR. */
static void wait_until(uint64_t start_ms, int delay_ms)
{
	uint64_t end = start_ms + (uint64_t)delay_ms, now;

	while ((now = pt_now_ms_monotonic()) < end) {
		struct timespec ts = { .tv_sec = (time_t)((end - now) / 1000),
				       .tv_nsec = (long)((end - now) % 1000) * 1000000L };

		(void)nanosleep(&ts, NULL);
	}
}

/* The one refusal every user-dependent failure ends in: same code, same
 * message, not before start + delay. The log line (for the admin) says why. */
static int recovery_refused(pam_handle_t *pamh, const struct pp_args *a, uint64_t start,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int recovery_refused(pam_handle_t *pamh, const struct pp_args *a, uint64_t start,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pam_vsyslog(pamh, LOG_NOTICE, fmt, ap);
	va_end(ap);
	wait_until(start, a->delay_ms);
	(void)pam_error(pamh, "%s", PP_RECOVERY_REFUSED);
	return PAM_AUTH_ERR;
}

static int do_recovery(pam_handle_t *pamh, const struct pp_args *a)
{
	const char *user = NULL, *tty;
	struct pt_client *c = NULL;
	struct pt_rep rep = {};
	char *code = NULL;
	char msg[256];
	uint64_t start;
	int code_r, r;

	if (!a->type)
		return pp_result(pamh, a, PAM_SERVICE_ERR, LOG_ERR,
				 "op=recovery result=error error=\"no type= given\"");
	r = pam_get_user(pamh, &user, NULL);
	if (r != PAM_SUCCESS || !user)
		return pp_result(pamh, a, r == PAM_SUCCESS ? PAM_AUTH_ERR : r, LOG_ERR,
				 "op=recovery result=error error=\"cannot get the user: %s\"",
				 pam_strerror(pamh, r));
	tty = pp_short_item(pamh, PAM_TTY);

	/* Asked whoever the user is: the prompt says nothing about the user. */
	r = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &code, "%s", PP_RECOVERY_PROMPT);
	if (r != PAM_SUCCESS) {
		code_r = pp_result(pamh, a, r == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_CONV_ERR,
				   LOG_ERR,
				   "op=recovery result=error tty=%s error=\"conversation: %s\"",
				   tty, pam_strerror(pamh, r));
		goto out;
	}
	start = pt_now_ms_monotonic();
	if (!code || !*code) {
		/* Declined: nothing reaches tokend, nothing counts as a failure. */
		code_r = pp_result(pamh, a, PAM_IGNORE, LOG_DEBUG,
				   "op=recovery result=skip tty=%s no code entered", tty);
		goto out;
	}
	if (!pt_name_valid(user) || strlen(code) > PT_MAX_CODE) {
		code_r = recovery_refused(
			pamh, a, start, "op=recovery result=deny tty=%s error=\"%s\"", tty,
			pt_name_valid(user) ? "code too long" : "invalid user name");
		goto out;
	}

	r = pt_client_connect(pp_socket_path(a), a->timeout_ms, &c);
	if (r >= 0) {
		struct pt_req req = {
			.type = PT_CODE_CHECK,
			.ttype = (char *)a->type,
			.user = (char *)user,
			.code = code,
		};

		r = pt_client_call(c, &req, &rep);
	}
	pt_free_secret(code);
	code = NULL;
	if (r < 0) {
		code_r = pp_result(pamh, a, PAM_AUTHINFO_UNAVAIL, LOG_ERR,
				   "op=recovery result=error user=%s tty=%s type=%s socket=%s "
				   "error=\"%s\"",
				   user, tty, a->type, pp_socket_path(a), pp_transport_error(r));
		goto out;
	}
	if (rep.type == PT_OK) {
		code_r = pp_result(pamh, a, PAM_SUCCESS, LOG_NOTICE,
				   "op=recovery result=allow user=%s tty=%s type=%s uses_left=%u",
				   user, tty, a->type, (unsigned)rep.count);
		goto out;
	}
	if (rep.err_code == PT_E_INVALID || rep.err_code == PT_E_LIMIT) {
		/* wrong, spent, expired, no code, locked out: one answer */
		code_r = recovery_refused(pamh, a, start,
					  "op=recovery result=deny user=%s tty=%s type=%s error=%s "
					  "message=\"%s\"",
					  user, tty, a->type, pt_errcode_name(rep.err_code),
					  pp_clean_text(rep.message, msg, sizeof(msg)));
		goto out;
	}
	/* the caller is not root or an actor, no such type, tokend's own failure:
	 * the same for every user */
	code_r =
		pp_result(pamh, a, PAM_AUTHINFO_UNAVAIL, LOG_ERR,
			  "op=recovery result=error user=%s tty=%s type=%s error=%s message=\"%s\"",
			  user, tty, a->type, pt_errcode_name(rep.err_code),
			  pp_clean_text(rep.message, msg, sizeof(msg)));
out:
	pt_free_secret(code);
	pt_rep_clear(&rep);
	pt_client_free(c);
	return code_r;
}

/* ---------------------------------------------------------------- accept */

/* accept require=ENT[,ENT]: a job presents its own live token (the PAM
 * authtok, or with keyring the caller's session keyring) to a service
 * whose stack requires entitlements; tokend checks the token (a job's,
 * PAM_USER's, carrying each one) and records each as used. */
static int do_accept_live(pam_handle_t *pamh, const struct pp_args *a)
{
	struct pt_client *c = NULL;
	struct pt_rep rep = { 0 };
	const char *user = NULL, *service = NULL, *authtok = NULL;
	char *token = NULL, msg[512];
	int r, code;

	if (!a->require)
		return pp_result(pamh, a, PAM_SERVICE_ERR, LOG_ERR,
				 "op=accept result=error error=\"no require= given\"");
	r = pp_get_user_service(pamh, &user, &service);
	if (r < 0)
		return pp_result(pamh, a, PAM_USER_UNKNOWN, LOG_ERR,
				 "op=accept result=error error=\"%s\"", pp_user_error(r));
	if (a->keyring) {
		r = pk_read_live(&token);
		if (r < 0)
			return pp_result(pamh, a, PAM_AUTH_ERR, LOG_NOTICE,
					 "op=accept result=deny user=%s service=%s error=\"no live "
					 "token in the session keyring: %s\"",
					 user, service, strerror(-r));
	} else {
		r = pam_get_authtok(pamh, PAM_AUTHTOK, &authtok, "pertok live token: ");
		if (r != PAM_SUCCESS || !authtok || !*authtok)
			return pp_result(pamh, a, PAM_AUTH_ERR, LOG_NOTICE,
					 "op=accept result=deny user=%s service=%s error=\"no "
					 "token given\"",
					 user, service);
		if (strlen(authtok) > PT_MAX_TOKEN || !(token = strdup(authtok)))
			return pp_result(pamh, a, PAM_AUTH_ERR, LOG_NOTICE,
					 "op=accept result=deny user=%s service=%s error=\"token "
					 "too long\"",
					 user, service);
	}
	r = pt_client_connect(pp_socket_path(a), a->timeout_ms, &c);
	if (r >= 0) {
		struct pt_req req = { .type = PT_ACCEPT_LIVE,
				      .live_token = token,
				      .user = (char *)user,
				      .service = (char *)service,
				      .name = (char *)a->require };

		r = pt_client_call(c, &req, &rep);
	}
	if (r < 0)
		code = pp_result(pamh, a, PAM_AUTHINFO_UNAVAIL, LOG_ERR,
				 "op=accept result=error user=%s service=%s socket=%s error=\"%s\"",
				 user, service, pp_socket_path(a), pp_transport_error(r));
	else if (rep.type == PT_OK)
		code = pp_result(pamh, a, PAM_SUCCESS, LOG_INFO,
				 "op=accept result=allow user=%s service=%s require=%s", user,
				 service, a->require);
	else {
		pp_clean_text(rep.message, msg, sizeof(msg));
		/* the user is told why (a curtailed entitlement names its
		 * recommendation); tokend's own failures are the admin's */
		if (rep.err_code == PT_E_DENIED || rep.err_code == PT_E_INVALID)
			pam_error(pamh, "pertok: %s", msg);
		code = pp_result(pamh, a,
				 rep.err_code == PT_E_DENIED || rep.err_code == PT_E_INVALID ?
					 PAM_AUTH_ERR :
					 PAM_AUTHINFO_UNAVAIL,
				 LOG_NOTICE,
				 "op=accept result=deny user=%s service=%s require=%s error=%s "
				 "message=\"%s\"",
				 user, service, a->require, pt_errcode_name(rep.err_code), msg);
	}
	pt_rep_clear(&rep);
	pt_client_free(c);
	pt_free_secret(token);
	return code;
}

/* ---------------------------------------------------------------- entry points */

PP_EXPORT PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
					     const char **argv)
{
	struct pp_args a;

	if (pp_args_parse(pamh, argc, argv, &a) < 0)
		return PAM_SERVICE_ERR;
	/* accept require=: a job's own live token; accept: an external JWT */
	if (a.mode == PP_MODE_ACCEPT)
		return a.require ? do_accept_live(pamh, &a) : pp_accept_authenticate(pamh, &a);
	if (a.mode != PP_MODE_RECOVERY)
		return PAM_IGNORE; /* issue and redeem do not authenticate */
	return do_recovery(pamh, &a);
}

PP_EXPORT PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const struct pp_redemption *st = NULL;
	const void *data = NULL;
	struct pp_args a;

	if (pp_args_parse(pamh, argc, argv, &a) < 0)
		return PAM_SERVICE_ERR;
	if (a.mode == PP_MODE_RECOVERY || a.mode == PP_MODE_ACCEPT)
		return PAM_SUCCESS; /* no credentials of its own to set */
	if (a.mode != PP_MODE_REDEEM)
		return PAM_IGNORE;
	if (flags & PAM_DELETE_CRED) {
		/* Nothing to delete (the key expires by itself); never redeem here. */
		if (pam_get_data(pamh, PP_DATA_REDEEM, &data) == PAM_SUCCESS && data)
			return ((const struct pp_redemption *)data)->pam_code;
		return PAM_IGNORE;
	}
	return redeem_stage(pamh, &a, "setcred", &st);
}

PP_EXPORT PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
					  const char **argv)
{
	const struct pp_redemption *st = NULL;
	const char *user = NULL;
	struct pp_args a;
	int r;

	if (pp_args_parse(pamh, argc, argv, &a) < 0)
		return PAM_SERVICE_ERR;
	/* a remote principal past its not_after is refused here, in any mode
	 * and whether tokend runs or not (pertok-rpo(7)) */
	if (pam_get_item(pamh, PAM_USER, (const void **)&user) == PAM_SUCCESS && user) {
		r = pp_rpo_expiry(pamh, NSS_CACHE_PATH, user, (uint64_t)time(NULL));
		if (r != PAM_SUCCESS)
			return r;
	}
	if (a.mode == PP_MODE_ACCEPT)
		return a.require ? PAM_IGNORE : pp_accept_acct_mgmt(pamh, &a);
	if (a.mode != PP_MODE_REDEEM)
		return PAM_IGNORE;
	return redeem_stage(pamh, &a, "account", &st);
}

PP_EXPORT PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
					     const char **argv)
{
	struct pp_args a;

	if (pp_args_parse(pamh, argc, argv, &a) < 0)
		return PAM_SERVICE_ERR;
	if (a.mode == PP_MODE_ISSUE)
		return do_issue(pamh, &a);
	if (a.mode == PP_MODE_ACCEPT)
		return a.require ? PAM_IGNORE : pp_accept_open_session(pamh, &a);
	if (a.mode != PP_MODE_REDEEM)
		return PAM_IGNORE;
	return redeem_open_session(pamh, &a);
}

PP_EXPORT PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
					      const char **argv)
{
	struct pp_args a;

	if (pp_args_parse(pamh, argc, argv, &a) < 0)
		return PAM_SERVICE_ERR;
	if (a.mode == PP_MODE_ACCEPT && !a.require)
		return pp_accept_close_session(pamh, &a);
	/* The live token stays in the keyring until it expires. */
	return PAM_SUCCESS;
}

PP_EXPORT PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc,
					  const char **argv)
{
	pam_syslog(pamh, LOG_ERR,
		   "pam_pertok does not change passwords: remove it from the "
		   "password stack");
	return PAM_SERVICE_ERR;
}
