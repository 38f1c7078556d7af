/* SPDX-License-Identifier: MIT */
/*
 * The credential socket (tokend(8), "SYSTEMD CREDENTIALS"): a unit with
 * LoadCredential=pertok:/run/pertok/credential.sock makes systemd connect
 * there, from the abstract address "\0<hex>/unit/<unit>/<credential id>" (a
 * random 64-bit number in 1 to 16 hex digits),
 * and read what tokend writes until it closes: the live token of a
 * redemption for the unit's user with holder "systemd", or a refusal (the
 * unit then fails to start: PT_CRED_REFUSAL_BYTES).
 *
 * An abstract address is chosen by whoever binds it: it names a unit but
 * proves nothing. The front parses it (pt_cred_parse_addr) and hands the
 * unit's name to the key holder as a PT_CREDENTIAL request; the key holder
 * believes only the kernel: the peer connected on the credential socket
 * (pt_peer.credential), runs the executable of the actor "systemd", and
 * its process (SO_PEERCRED pid, held through /proc/PID and checked against
 * a pidfd, peer.h) sits in that very unit's cgroup (pt_cred_check_cgroup):
 *   system units  .../<slice>.slice/<unit>, not under any user@UID.service,
 *                 peer uid 0; the user is the unit's User= (asked of
 *                 systemd over its private bus socket)
 *   user managers .../user@<peer uid>.service/.../<slice>.slice/<unit>; the
 *                 user is the peer uid's
 * Then it redeems exactly as PT_REDEEM does (the same handler, so the same
 * policy decision, counters and audit record).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct pt_config;
struct pt_peer;
struct pt_actor;

#define PT_CRED_SOCKET_NAME "credential.sock" /* beside tokend.sock */
#define PT_CRED_HOLDER "systemd"	      /* the holder and the actor */
#define PT_CRED_MAX_UNIT 255u		      /* systemd's UNIT_NAME_MAX - 1 */
#define PT_CRED_MAX_ID 255u		      /* a credential id is a file name */
#define PT_CRED_MAX_CGROUP 8192u	      /* /proc/PID/cgroup read at most */
/* A refusal: more bytes than systemd takes for a credential (its
 * CREDENTIAL_SIZE_MAX, 1 MiB in 252), so that the unit fails to start
 * (243/CREDENTIALS); an empty answer would start it with an empty one. */
#define PT_CRED_REFUSAL_BYTES (1024u * 1024u + 1u)

struct pt_cred_addr {
	char unit[PT_CRED_MAX_UNIT + 1];
	char id[PT_CRED_MAX_ID + 1];
};

/* Parses the peer address of a connection on the credential socket:
 * sun_path[0..len) as getpeername returned it (len counts from sun_path).
 * 0 and *ret, or -EBADMSG with a precise message in err. */
int pt_cred_parse_addr(const char *sun_path, size_t len, struct pt_cred_addr *ret, char *err,
		       size_t errlen);

/* The unit's type suffix (".service", ".socket", ".mount", ".swap": the
 * types with LoadCredential=), or NULL for any other name. */
const char *pt_cred_unit_suffix(const char *unit);

/* Whether unit is a name the front's parser accepts (unit name characters,
 * 1 to PT_CRED_MAX_UNIT bytes, a suffix above, not starting with '.' or '@'):
 * the key holder checks what the front hands it again. */
bool pt_cred_unit_valid(const char *unit);

enum pt_cred_scope {
	PT_CRED_SYSTEM = 1, /* a unit of the system manager: the user is its User= */
	PT_CRED_USER = 2,   /* a unit of user@<peer uid>.service: the user is the peer's */
};

/* Decides from the text of /proc/PID/cgroup whether the process is in unit's
 * own cgroup, for a peer of peer_uid. The systemd hierarchy is the
 * "name=systemd" line where there is one (legacy and hybrid hosts), else the
 * unified "0::" line. Returns the scope, or -EPERM with why filled. */
int pt_cred_check_cgroup(const char *text, size_t len, const char *unit, uid_t peer_uid, char *why,
			 size_t whylen);

/* Whether rep (a reply frame of the key holder's to a PT_CREDENTIAL request)
 * is a grant: then the live token alone replaces it in rep (the credential's
 * bytes) and 1 is returned; else rep is emptied, why holds the refusal's
 * message, 0 is returned. */
int pt_cred_reply(struct ptbuf *rep, char *why, size_t whylen);

/* The caller class of PT_CREDENTIAL (ops.c): the peer connected on the
 * credential socket and runs an executable of the actor "systemd" (any uid:
 * user managers run as their user). The actor, or NULL with why filled. */
const struct pt_actor *pt_cred_actor(const struct pt_config *cfg, const struct pt_peer *peer,
				     char *why, size_t whylen);
