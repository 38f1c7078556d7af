/* SPDX-License-Identifier: MIT */
/* The credential socket: see credential.h. */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "credential-cg.h"
#include "credential.h"
#include "log.h"
#include "ops-internal.h"
#include "util.h"

/* ------------------------------------------------------------ the key holder */

/* The unit's User= and ControlGroup, asked of the system manager: over its
 * private socket (root only, no D-Bus daemon needed), else over the system
 * bus. Both calls go out at once and the whole exchange, connecting and
 * authenticating included, gets BUS_DEADLINE_USEC on the monotonic clock:
 * the key holder is single-threaded, and a slow PID 1 (a daemon-reload)
 * must cost one refused credential, not every decision of tokend. */
#define BUS_DEADLINE_USEC (1000u * 1000u)

struct bus_prop {
	char *value; /* the string, once answered */
	int r;	     /* 1 while waiting, 0 answered, -errno failed */
	char err[160];
};

static int prop_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct bus_prop *p = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	const char *v = NULL;
	int r;

	(void)ret_error;
	if (e) {
		snprintf(p->err, sizeof(p->err), "%s", e->message ? e->message : e->name);
		p->r = -EIO;
		return 0;
	}
	r = sd_bus_message_read(m, "v", "s", &v);
	if (r < 0 || !v) {
		snprintf(p->err, sizeof(p->err), "not a string property");
		p->r = r < 0 ? r : -EBADMSG;
		return 0;
	}
	p->value = strdup(v);
	p->r = p->value ? 0 : -ENOMEM;
	return 0;
}

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Both properties of the unit at path on bus, or -ETIMEDOUT at deadline. */
static int get_props(sd_bus *bus, const char *path, const char *iface, struct bus_prop *user,
		     struct bus_prop *cgroup, uint64_t deadline)
{
	sd_bus_slot *s1 = NULL, *s2 = NULL;
	int r;

	r = sd_bus_call_method_async(bus, &s1, "org.freedesktop.systemd1", path,
				     "org.freedesktop.DBus.Properties", "Get", prop_reply, user,
				     "ss", iface, "User");
	if (r >= 0)
		r = sd_bus_call_method_async(bus, &s2, "org.freedesktop.systemd1", path,
					     "org.freedesktop.DBus.Properties", "Get", prop_reply,
					     cgroup, "ss", iface, "ControlGroup");
	while (r >= 0 && (user->r == 1 || cgroup->r == 1)) {
		uint64_t now = mono_usec();

		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		r = sd_bus_process(bus, NULL);
		if (r > 0)
			continue;
		if (r >= 0)
			r = sd_bus_wait(bus, deadline - now);
	}
	sd_bus_slot_unref(s1);
	sd_bus_slot_unref(s2);
	return r < 0 ? r : 0;
}

static int open_bus(sd_bus **ret, bool private_socket)
{
	sd_bus *bus = NULL;
	int r = sd_bus_new(&bus);

	if (r >= 0)
		r = sd_bus_set_address(bus, private_socket ?
						    "unix:path=/run/systemd/private" :
						    "unix:path=/run/dbus/system_bus_socket");
	if (r >= 0 && !private_socket)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus); /* connects; authentication goes on in get_props */
	if (r < 0) {
		sd_bus_unref(bus);
		return r;
	}
	*ret = bus;
	return 0;
}

static int unit_user(const char *unit, char *ret, size_t len, char **ret_cgroup, char *why,
		     size_t whylen)
{
	sd_bus *bus = NULL;
	struct bus_prop user = { .r = 1 }, cg = { .r = 1 };
	char *path = NULL, iface[64];
	const char *sfx = pt_cred_unit_suffix(unit);
	uint64_t deadline = mono_usec() + BUS_DEADLINE_USEC;
	int r;

	if (!sfx) {
		snprintf(why, whylen, "%s is not a service, socket, mount or swap unit", unit);
		return -EINVAL;
	}
	snprintf(iface, sizeof(iface), "org.freedesktop.systemd1.%c%s", sfx[1] - 'a' + 'A',
		 sfx + 2);
	r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path);
	if (r < 0) {
		snprintf(why, whylen, "cannot name %s on the bus: %s", unit, strerror(-r));
		return r;
	}
	for (int k = 0; k < 2; k++) {
		user = (struct bus_prop){ .r = 1 };
		cg = (struct bus_prop){ .r = 1 };
		r = open_bus(&bus, k == 0);
		if (r >= 0)
			r = get_props(bus, path, iface, &user, &cg, deadline);
		sd_bus_close_unref(bus); /* no flush: it would wait on a stuck peer */
		bus = NULL;
		if (r >= 0 || r == -ETIMEDOUT)
			break;
		free(user.value);
		free(cg.value);
		user.value = cg.value = NULL;
	}
	if (r == -ETIMEDOUT) {
		snprintf(why, whylen, "systemd did not tell the User= of %s within %u ms", unit,
			 BUS_DEADLINE_USEC / 1000u);
		goto out;
	}
	if (r < 0 || user.r < 0 || cg.r < 0) {
		snprintf(why, whylen, "cannot read the User= of %s from systemd: %s", unit,
			 r < 0	    ? strerror(-r) :
			 user.r < 0 ? user.err :
				      cg.err);
		r = r < 0 ? r : -EIO;
		goto out;
	}
	if (!*user.value) {
		snprintf(why, whylen, "%s has no User=: tokend gives no credential to root's units",
			 unit);
		r = -EPERM;
		goto out;
	}
	if (user.value[strspn(user.value, "0123456789")] == '\0') {
		struct passwd *pw = getpwuid((uid_t)strtoul(user.value, NULL, 10));

		if (!pw) {
			snprintf(why, whylen, "%s has User=%s, which is no user", unit, user.value);
			r = -ENOENT;
			goto out;
		}
		free(user.value);
		user.value = strdup(pw->pw_name);
	}
	if (!user.value || !pt_name_valid(user.value) || strlen(user.value) >= len) {
		snprintf(why, whylen, "%s has a User= that is not a valid user name", unit);
		r = -EINVAL;
		goto out;
	}
	snprintf(ret, len, "%s", user.value);
	*ret_cgroup = cg.value;
	cg.value = NULL;
	r = 0;
out:
	free(user.value);
	free(cg.value);
	free(path);
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
		char *want = NULL;

		if (unit_user(q->service, user, sizeof(user), &want, why, sizeof(why)) < 0)
			return cred_refuse(c, NULL, why);
		/* the path must be the one systemd gave the unit, not one that
		 * merely ends like it (a nested manager's unit of that name) */
		if (!pt_cred_cgroup_is(cg, n, want)) {
			snprintf(why, sizeof(why),
				 "the peer is not in %s's cgroup %.200s as systemd reports it",
				 q->service, want);
			free(want);
			return cred_refuse(c, NULL, why);
		}
		free(want);
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
