/* SPDX-License-Identifier: MIT */
/* The credential socket: see credential.h. */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "credential.h"
#include "log.h"
#include "ops-internal.h"
#include "util.h"

/* ------------------------------------------------------------ the key holder */

/* The unit's User=, asked of the system manager: over its private socket
 * (root only, no D-Bus daemon needed), else over the system bus. */
#define BUS_TIMEOUT_USEC (2u * 1000u * 1000u)
static int unit_user(const char *unit, char *ret, size_t len, char *why, size_t whylen)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus *bus = NULL;
	char *path = NULL, *user = NULL, iface[64];
	const char *sfx = pt_cred_unit_suffix(unit);
	int r;

	if (!sfx) {
		snprintf(why, whylen, "%s is not a service, socket, mount or swap unit", unit);
		return -EINVAL;
	}
	snprintf(iface, sizeof(iface), "org.freedesktop.systemd1.%c%s", sfx[1] - 'a' + 'A',
		 sfx + 2);
	r = sd_bus_new(&bus);
	if (r >= 0 && (r = sd_bus_set_address(bus, "unix:path=/run/systemd/private")) >= 0)
		r = sd_bus_start(bus);
	if (r < 0) {
		bus = sd_bus_unref(bus);
		r = sd_bus_open_system(&bus);
	}
	if (r >= 0)
		r = sd_bus_set_method_call_timeout(bus, BUS_TIMEOUT_USEC);
	if (r < 0) {
		snprintf(why, whylen, "cannot ask systemd for the User= of %s: %s", unit,
			 strerror(-r));
		goto out;
	}
	r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path);
	if (r >= 0)
		r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, iface, "User",
					       &e, &user);
	if (r < 0) {
		snprintf(why, whylen, "cannot read the User= of %s from systemd: %s", unit,
			 e.message ? e.message : strerror(-r));
		goto out;
	}
	if (!*user) {
		snprintf(why, whylen, "%s has no User=: tokend gives no credential to root's units",
			 unit);
		r = -EPERM;
		goto out;
	}
	if (user[strspn(user, "0123456789")] == '\0') {
		struct passwd *pw = getpwuid((uid_t)strtoul(user, NULL, 10));

		if (!pw) {
			snprintf(why, whylen, "%s has User=%s, which is no user", unit, user);
			r = -ENOENT;
			goto out;
		}
		free(user);
		user = strdup(pw->pw_name);
	}
	if (!user || !pt_name_valid(user) || strlen(user) >= len) {
		snprintf(why, whylen, "%s has a User= that is not a valid user name", unit);
		r = -EINVAL;
		goto out;
	}
	snprintf(ret, len, "%s", user);
	r = 0;
out:
	sd_bus_error_free(&e);
	free(user);
	free(path);
	sd_bus_flush_close_unref(bus);
	return r;
}

/* The peer's /proc/PID/cgroup, through the /proc/PID held since accept: a
 * process that is gone reads as nothing, never as its pid's next owner. */
static int read_cgroup(const struct pt_peer *peer, char *buf, size_t size, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	size_t n = 0;

	if (peer->procfd < 0)
		return -ESRCH;
	fd = openat(peer->procfd, "cgroup", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (n < size - 1) {
		ssize_t k = read(fd, buf + n, size - 1 - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	if (n == size - 1)
		return -E2BIG;
	buf[n] = '\0';
	*ret_len = n;
	return 0;
}

/* A refusal of the credential request: logged and recorded like every
 * decision, and an error reply (which the key holder turns into a close
 * without data, pt_cred_reply). */
static int cred_refuse(struct call *c, const char *user, const char *why)
{
	record_decision(c, LOG_WARNING, "deny", user, PT_CRED_HOLDER, NULL, NULL, why);
	return reply_error(c, PT_E_PERM, "%s", why);
}

int op_credential(struct call *c)
{
	const struct pt_req *q = c->req; /* service: the unit; id: the credential id */
	char cg[PT_CRED_MAX_CGROUP], why[512], user[PT_MAX_STR + 1];
	struct passwd *pw;
	size_t n = 0;
	int scope, r;

	r = read_cgroup(c->peer, cg, sizeof(cg), &n);
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot read the peer's cgroup: %s", strerror(-r));
		return cred_refuse(c, NULL, why);
	}
	scope = pt_cred_check_cgroup(cg, n, q->service, c->peer->uid, why, sizeof(why));
	if (scope < 0)
		return cred_refuse(c, NULL, why);
	if (scope == PT_CRED_SYSTEM) {
		if (unit_user(q->service, user, sizeof(user), why, sizeof(why)) < 0)
			return cred_refuse(c, NULL, why);
	} else {
		pw = getpwuid(c->peer->uid);
		if (!pw || !pt_name_valid(pw->pw_name) || strlen(pw->pw_name) >= sizeof(user)) {
			snprintf(why, sizeof(why), "uid %u of the user manager has no valid name",
				 (unsigned)c->peer->uid);
			return cred_refuse(c, NULL, why);
		}
		snprintf(user, sizeof(user), "%s", pw->pw_name);
	}
	/* the unit is the peer's, its user known: from here on a redemption
	 * like any other (same decision, counters, audit), holder "systemd" */
	struct pt_req redeem = {
		.type = PT_REDEEM,
		.user = user,
		.holder = (char *)PT_CRED_HOLDER,
		.service = q->service,
	};
	struct call rc = *c;

	rc.req = &redeem;
	r = op_redeem(&rc);
	c->audit_err = rc.audit_err;
	memcpy(c->audit_id, rc.audit_id, sizeof(c->audit_id));
	return r;
}

const struct pt_actor *pt_cred_actor(const struct pt_config *cfg, const struct pt_peer *peer,
				     char *why, size_t whylen)
{
	const struct pt_actor *a = NULL;

	if (!peer->credential) {
		snprintf(why, whylen, "a credential is only served on the credential socket");
		return NULL;
	}
	a = pt_config_find_actor(cfg, PT_CRED_HOLDER);
	if (!a) {
		snprintf(why, whylen, "no actor \"%s\" is configured (tokend.conf actors)",
			 PT_CRED_HOLDER);
		return NULL;
	}
	for (size_t i = 0; i < a->n_exe; i++)
		if (strcmp(a->exe[i], "*") == 0 ||
		    (peer->exe_known && strcmp(a->exe[i], peer->exe) == 0))
			return a;
	snprintf(why, whylen, "the peer runs %s, not an executable of the actor %s",
		 peer->exe_known ? peer->exe : "an unknown executable", PT_CRED_HOLDER);
	return NULL;
}

int pt_cred_reply(struct ptbuf *rep, char *why, size_t whylen)
{
	struct pt_rep r = { 0 };
	const uint8_t *payload;
	size_t plen, used;
	uint8_t type;
	int ok = 0;

	if (pt_frame_split(ptbuf_ptr(rep), ptbuf_len(rep), PT_MAX_FRAME, &type, &payload, &plen,
			   &used) < 0 ||
	    pt_rep_decode(PT_REDEEM, type, payload, plen, &r) < 0) {
		snprintf(why, whylen, "no reply");
	} else if (r.type == PT_OK && r.token && *r.token) {
		ptbuf_reset(rep);
		ok = ptbuf_put(rep, r.token, strlen(r.token)) == 0;
		if (!ok)
			snprintf(why, whylen, "out of memory");
	} else
		snprintf(why, whylen, "%s", r.message ? r.message : "refused");
	pt_rep_clear(&r);
	if (!ok)
		ptbuf_reset(rep);
	return ok;
}
