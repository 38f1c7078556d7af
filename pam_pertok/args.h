/* SPDX-License-Identifier: MIT */
/*
 * pam_pertok module options, parsed once per call into a struct.
 *
 *   issue | redeem | recovery | accept   mode (exactly one, normally the first
 *                          argument)
 *   socket=PATH            tokend's socket (default: the compiled-in path)
 *   timeout=MS             per request, 100..30000 (default 3000; clamped)
 *   holder=NAME[,NAME...]  issue: holders to exchange for (default "atd");
 *                          redeem: one holder (default: the PAM service)
 *   onerror=ignore|success|fail   issue: what a failure returns (default ignore)
 *   notoken=deny|ignore    redeem: no token for the user (default deny)
 *   nokeyring              redeem: do not touch keyrings
 *   type=NAME              recovery: the code type tokend checks (required)
 *   require=ENT[,ENT...]   accept: the entitlements a job's live token must
 *                          carry (required; each is recorded as used)
 *   keyring                accept: the token from the caller's session keyring
 *                          (pertok:live) instead of the PAM authtok
 *   delay=MS               recovery: least time a refusal takes, 0..10000
 *                          (default 2000; clamped)
 *   debug                  LOG_DEBUG lines
 *
 * Unknown options are logged and skipped. An invalid value of a known
 * option is logged and the option ignored (its default stays), so a typo
 * never widens what the module does: onerror falls back to ignore, notoken
 * to deny. Only a missing or repeated mode fails the parse.
 */
#pragma once

#include <security/pam_modules.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define PP_TIMEOUT_DEFAULT 3000
#define PP_TIMEOUT_MIN 100
#define PP_TIMEOUT_MAX 30000
#define PP_MAX_HOLDERS 16
#define PP_DEFAULT_ISSUE_HOLDER "atd"
#define PP_DELAY_DEFAULT 2000
#define PP_DELAY_MAX 10000
#define PP_WARN_DAYS_DEFAULT 7 /* issue: warn of tokens expiring within a week */
#define PP_WARN_DAYS_MAX 3650

enum pp_mode {
	PP_MODE_NONE = 0,
	PP_MODE_ISSUE,
	PP_MODE_REDEEM,
	PP_MODE_RECOVERY,
	PP_MODE_ACCEPT, /* an external JWT (remote principals), or with require= a job's
			   own live token (a usage signal) */
};

enum pp_onerror {
	PP_ONERROR_IGNORE = 0,
	PP_ONERROR_SUCCESS,
	PP_ONERROR_FAIL,
};

enum pp_notoken {
	PP_NOTOKEN_DENY = 0,
	PP_NOTOKEN_IGNORE,
};

struct pp_args {
	enum pp_mode mode;
	const char *socket; /* points into argv; NULL = pt_default_socket() */
	int timeout_ms;
	/* holder= split into names (copies in holder_buf); n_holders == 0 means
	 * the mode's default (issue: "atd", redeem: the PAM service) */
	const char *holders[PP_MAX_HOLDERS];
	size_t n_holders;
	char holder_buf[1024];
	enum pp_onerror onerror;
	enum pp_notoken notoken;
	bool nokeyring;
	const char *type;    /* recovery: points into argv; NULL = not given */
	const char *require; /* accept: points into argv; NULL = not given */
	bool keyring;	     /* accept: token from the session keyring */
	int delay_ms;	     /* recovery: least duration of a refusal */
	bool quiet;	     /* issue: no login messages (refused jobs, expiring tokens) */
	uint32_t warn_days;  /* issue: tell of tokens expiring within this many days (0: never) */
	bool debug;
};

/* Returns 0 and fills *ret, or -EINVAL when the mode is missing or given
 * more than once (logged with pam_syslog; *ret untouched). */
int pp_args_parse(pam_handle_t *pamh, int argc, const char **argv, struct pp_args *ret);

const char *pp_mode_name(enum pp_mode mode);
