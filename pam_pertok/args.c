/* SPDX-License-Identifier: MIT */
/* pam_pertok option parsing (see args.h). */
#include "config.h"

#include <errno.h>
#include <security/pam_ext.h>
#include <string.h>
#include <syslog.h>

#include "args.h"
#include "proto.h"
#include "util.h"

const char *pp_mode_name(enum pp_mode mode)
{
	switch (mode) {
	case PP_MODE_ISSUE:
		return "issue";
	case PP_MODE_REDEEM:
		return "redeem";
	case PP_MODE_RECOVERY:
		return "recovery";
	case PP_MODE_ACCEPT:
		return "accept";
	case PP_MODE_NONE:
		break;
	}
	return "none";
}

/* If arg is "key=..." returns the value, else NULL. */
static const char *opt_value(const char *arg, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(arg, key, n) == 0 && arg[n] == '=')
		return arg + n + 1;
	return NULL;
}

/* Splits a comma list of holder names into a->holder_buf / a->holders.
 * Duplicates are dropped. Returns 0 or -EINVAL (nothing changed). */
static int parse_holders(const char *value, bool single, struct pp_args *a)
{
	char buf[sizeof(a->holder_buf)];
	const char *names[PP_MAX_HOLDERS];
	size_t n = 0;
	char *p, *next;

	if (strlen(value) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, value);
	for (p = buf; p; p = next) {
		bool dup = false;

		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		if (!pt_name_valid(p))
			return -EINVAL;
		for (size_t i = 0; i < n; i++)
			if (strcmp(names[i], p) == 0)
				dup = true;
		if (dup)
			continue;
		if (n == PP_MAX_HOLDERS || (single && n == 1))
			return -EINVAL;
		names[n++] = p;
	}

	memcpy(a->holder_buf, buf, sizeof(buf));
	for (size_t i = 0; i < n; i++)
		a->holders[i] = a->holder_buf + (names[i] - buf);
	a->n_holders = n;
	return 0;
}

/* NAME=value in milliseconds into *dst, clamped to min..max (logged); an
 * invalid value keeps *dst (logged). timeout= and delay=. */
static void parse_ms(pam_handle_t *pamh, const char *name, const char *value, uint32_t min,
		     uint32_t max, int *dst)
{
	uint32_t v;
	int r;

	r = pt_parse_u32(value, &v);
	if (r == -ERANGE)
		v = UINT32_MAX;
	else if (r < 0) {
		pam_syslog(pamh, LOG_ERR, "invalid %s=%s (milliseconds), using %d", name, value,
			   *dst);
		return;
	}
	if (v < min || v > max) {
		uint32_t c = v < min ? min : max;

		pam_syslog(pamh, LOG_NOTICE, "%s=%s out of range %u..%u, using %u", name, value,
			   (unsigned)min, (unsigned)max, (unsigned)c);
		v = c;
	}
	*dst = (int)v;
}

/* Options that only one mode uses: logged, not fatal. */
static void check_mode_option(pam_handle_t *pamh, enum pp_mode mode, enum pp_mode wanted,
			      const char *arg)
{
	if (mode != wanted)
		pam_syslog(pamh, LOG_NOTICE, "option %s has no effect in %s mode", arg,
			   pp_mode_name(mode));
}

int pp_args_parse(pam_handle_t *pamh, int argc, const char **argv, struct pp_args *ret)
{
	struct pp_args a = {
		.mode = PP_MODE_NONE,
		.timeout_ms = PP_TIMEOUT_DEFAULT,
		.onerror = PP_ONERROR_IGNORE,
		.notoken = PP_NOTOKEN_DENY,
		.delay_ms = PP_DELAY_DEFAULT,
		.warn_days = PP_WARN_DAYS_DEFAULT,
	};
	const char *v;

	/* The mode first: what holder= means depends on it. */
	for (int i = 0; i < argc; i++) {
		enum pp_mode m;

		if (!argv[i])
			continue;
		if (strcmp(argv[i], "issue") == 0)
			m = PP_MODE_ISSUE;
		else if (strcmp(argv[i], "redeem") == 0)
			m = PP_MODE_REDEEM;
		else if (strcmp(argv[i], "recovery") == 0)
			m = PP_MODE_RECOVERY;
		else if (strcmp(argv[i], "accept") == 0)
			m = PP_MODE_ACCEPT;
		else
			continue;
		if (a.mode != PP_MODE_NONE) {
			pam_syslog(pamh, LOG_ERR, "more than one mode given (%s and %s)",
				   pp_mode_name(a.mode), argv[i]);
			return -EINVAL;
		}
		a.mode = m;
	}
	if (a.mode == PP_MODE_NONE) {
		pam_syslog(pamh, LOG_ERR, "no mode given (issue, redeem, recovery or accept)");
		return -EINVAL;
	}

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (!arg || strcmp(arg, "issue") == 0 || strcmp(arg, "redeem") == 0 ||
		    strcmp(arg, "recovery") == 0 || strcmp(arg, "accept") == 0)
			continue;
		if (strcmp(arg, "debug") == 0)
			a.debug = true;
		else if (strcmp(arg, "nokeyring") == 0) {
			check_mode_option(pamh, a.mode, PP_MODE_REDEEM, arg);
			a.nokeyring = true;
		} else if ((v = opt_value(arg, "socket"))) {
			if (v[0] != '/')
				pam_syslog(pamh, LOG_ERR,
					   "invalid socket=%s (not an absolute path), ignored", v);
			else
				a.socket = v;
		} else if ((v = opt_value(arg, "timeout")))
			parse_ms(pamh, "timeout", v, PP_TIMEOUT_MIN, PP_TIMEOUT_MAX, &a.timeout_ms);
		else if ((v = opt_value(arg, "holder"))) {
			bool single = a.mode == PP_MODE_REDEEM;

			if (parse_holders(v, single, &a) < 0)
				pam_syslog(pamh, LOG_ERR, "invalid holder=%s (%s), ignored", v,
					   single ? "one holder name" : "comma list of names");
		} else if ((v = opt_value(arg, "onerror"))) {
			check_mode_option(pamh, a.mode, PP_MODE_ISSUE, arg);
			if (strcmp(v, "ignore") == 0)
				a.onerror = PP_ONERROR_IGNORE;
			else if (strcmp(v, "success") == 0)
				a.onerror = PP_ONERROR_SUCCESS;
			else if (strcmp(v, "fail") == 0)
				a.onerror = PP_ONERROR_FAIL;
			else
				pam_syslog(pamh, LOG_ERR,
					   "invalid onerror=%s (ignore, success or fail), ignored",
					   v);
		} else if ((v = opt_value(arg, "type"))) {
			check_mode_option(pamh, a.mode, PP_MODE_RECOVERY, arg);
			if (!pt_name_valid(v))
				pam_syslog(pamh, LOG_ERR, "invalid type=%s (a type name), ignored",
					   v);
			else
				a.type = v;
		} else if ((v = opt_value(arg, "require"))) {
			check_mode_option(pamh, a.mode, PP_MODE_ACCEPT, arg);
			/* never ignored: accept without require= is the external-JWT
			 * path, another trust decision than the one this line asks */
			if (!*v || strlen(v) > PT_MAX_STR) {
				pam_syslog(
					pamh, LOG_ERR,
					"invalid require=%s (entitlement names, comma-separated): "
					"refusing",
					v);
				return -EINVAL;
			}
			a.require = v;
		} else if (strcmp(arg, "require") == 0) {
			pam_syslog(pamh, LOG_ERR,
				   "require without =ENT[,ENT] (entitlement names): refusing");
			return -EINVAL;
		} else if (strcmp(arg, "keyring") == 0) {
			check_mode_option(pamh, a.mode, PP_MODE_ACCEPT, arg);
			a.keyring = true;
		} else if ((v = opt_value(arg, "delay"))) {
			check_mode_option(pamh, a.mode, PP_MODE_RECOVERY, arg);
			parse_ms(pamh, "delay", v, 0, PP_DELAY_MAX, &a.delay_ms);
		} else if (strcmp(arg, "quiet") == 0) {
			check_mode_option(pamh, a.mode, PP_MODE_ISSUE, arg);
			a.quiet = true;
		} else if ((v = opt_value(arg, "warn_days"))) {
			uint32_t d;

			check_mode_option(pamh, a.mode, PP_MODE_ISSUE, arg);
			if (pt_parse_u32(v, &d) < 0 || d > PP_WARN_DAYS_MAX)
				pam_syslog(pamh, LOG_ERR,
					   "invalid warn_days=%s (days, 0..%d), using %u", v,
					   PP_WARN_DAYS_MAX, (unsigned)a.warn_days);
			else
				a.warn_days = d;
		} else if ((v = opt_value(arg, "notoken"))) {
			check_mode_option(pamh, a.mode, PP_MODE_REDEEM, arg);
			if (strcmp(v, "deny") == 0)
				a.notoken = PP_NOTOKEN_DENY;
			else if (strcmp(v, "ignore") == 0)
				a.notoken = PP_NOTOKEN_IGNORE;
			else
				pam_syslog(pamh, LOG_ERR,
					   "invalid notoken=%s (deny or ignore), ignored", v);
		} else
			pam_syslog(pamh, LOG_ERR, "unknown option: %s", arg);
	}

	/* holder_buf moves with the struct: re-point the names into ret. */
	*ret = a;
	for (size_t i = 0; i < a.n_holders; i++)
		ret->holders[i] = ret->holder_buf + (a.holders[i] - a.holder_buf);
	return 0;
}
