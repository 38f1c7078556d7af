/* SPDX-License-Identifier: MIT */
/*
 * Grants: constrained impersonation (issue 11). A user (the origin) grants a
 * service account (the servicer) a scoped, counted, time-boxed right to run
 * given commands as them; a servicer may ask first (a pending request the
 * user approves or denies), and may pass a grant on (delegate) with a scope
 * that is a subset and one less of depth.
 *
 * The grants and the pending requests of a key generation live in one file,
 * KEYDIR/grants.sealed, AEAD-sealed under the store key (aead.h, the file
 * name as associated data) and replaced atomically (fileio.h) on every
 * change, so what a reply grants is on disk before the reply. Rotation
 * (rotate.c) writes it again under the new key (pt_grants_rewrap).
 *
 * Plaintext of the file: the line "pertok-grants 1", then one record per
 * grant or request, each "record LEN\n" followed by LEN bytes of record text.
 * Record text (pt_grant_parse, strict; fuzz target "grant"): "key=value"
 * lines, "version=1" first, values percent-encoded (bytes < 0x21, > 0x7e and
 * '%' as %XX), keys in this order, each at most once unless marked:
 *   version=1  kind=grant|request  id=  origin=  origin_uid=  servicer=
 *   servicer_uid=  [servicer_exe=]  [servicer_unit=]
 *   (cmd=PATH  sha256=HEX64  prefix=0|1  (arg=A)*)+  (per command)
 *   not_before=  not_after=  [hours=HH-HH]  max_uses=  uses=  max_runtime=
 *   depth=  [no_network=1]  (read=PATH | write=PATH)*  [parent=]  revoked=0|1  created=  [expires=]  (request only:
 *   when it lapses unanswered)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aead.h"
#include "record.h" /* PT_ID_LEN */

struct pt_daemon;

#define PT_GRANT_FILE "grants.sealed"
#define PT_GRANT_MAX_CMDS 8	  /* commands in one grant */
#define PT_GRANT_MAX_ARGS 64	  /* argv entries of one command (argv[0] not included) */
#define PT_GRANT_MAX_ARG 1024	  /* bytes of one argv entry */
#define PT_GRANT_MAX_RECORD 65536 /* bytes of one record's text */
#define PT_GRANT_MAX_FILE (64u * 1024u * 1024u)
#define PT_GRANT_MAX_PATHS 16 /* read= plus write= paths of one grant's confinement */

enum pt_grant_kind {
	PT_GRANT_KIND_GRANT = 0,
	PT_GRANT_KIND_REQUEST = 1, /* a servicer's pending request (not a right) */
};

struct pt_grant_cmd {
	char *path;	    /* absolute; the file itself (tokend opens it O_NOFOLLOW) */
	uint8_t sha256[32]; /* of the file when the grant was made */
	char **argv;	    /* the arguments after argv[0]: exact, or a prefix */
	size_t n_argv;
	bool argv_prefix;
};

struct pt_grant {
	char id[PT_ID_LEN]; /* "gr_" + 22 base64url (a request: "gq_...") */
	char *origin;	    /* the user acted as (fixed along a chain) */
	uid_t origin_uid;
	uid_t servicer_uid;
	char *servicer;
	char *servicer_exe;  /* NULL: any */
	char *servicer_unit; /* NULL: any */
	struct pt_grant_cmd *cmds;
	size_t n_cmds;
	uint64_t not_before, not_after; /* unix s, UTC */
	bool has_hours;			/* local hours [hours_from, hours_to) */
	uint8_t hours_from, hours_to;	/* 0..23; from > to wraps midnight */
	uint32_t max_uses, uses;
	uint64_t max_runtime;	/* seconds, 0: none */
	uint32_t depth;		/* delegations left */
	char parent[PT_ID_LEN]; /* "" : none */
	bool revoked;
	uint64_t created;
	/* added */
	enum pt_grant_kind kind;
	uint64_t expires; /* request: lapses unanswered at this time */
	/* confinement of the command (act-exec.c): with any path, Landlock
	 * allows only these (read: read-only, write: read-write) plus the
	 * implicit start-up set; no_network: a new, empty network namespace */
	char *paths[PT_GRANT_MAX_PATHS];
	bool path_write[PT_GRANT_MAX_PATHS];
	size_t n_paths;
	bool no_network;
};

/* ---------------------------------------------------------- the API */

/* Lookup by id in the daemon's grant store (NULL: none). Requests are not
 * found here (pt_grant_find_request). */
struct pt_grant *pt_grant_find(struct pt_daemon *d, const char *id);
struct pt_grant *pt_grant_find_request(struct pt_daemon *d, const char *id);

/* Decide an act-as: may peer (servicer uid/exe/unit) run argv[0..n) (argv[0]
 * = absolute path of the binary) as user under grant g at now? Checks:
 * exists, not revoked, every ancestor not revoked, origin == user, servicer
 * matches peer, window + hours, uses left, the command + argv match, the
 * file's current sha256 equals the pinned one (digest: what the caller
 * computed from the opened fd; NULL: refused with rule "grant.sha256" once
 * every check before it passed, so a caller can check all of them before it
 * opens the file), admin policy still allows it (late bound).
 * On deny: -EACCES and rule/reason filled (precise text). 0 = allow. */
int pt_grant_decide(struct pt_daemon *d, const struct pt_grant *g, uid_t peer_uid,
		    const char *peer_exe, const char *peer_unit, const char *user,
		    char *const *argv, size_t n_argv, const uint8_t digest[32], uint64_t now,
		    char *rule, size_t rulelen, char *reason, size_t reasonlen);

/* Consumes one use DURABLY (the grants file written and synced before it
 * returns 0): the act-as executor calls it before any fork. -EDQUOT when no
 * use is left, -EACCES when revoked or out of its window, else -errno. */
int pt_grant_consume(struct pt_daemon *d, struct pt_grant *g, uint64_t now);

/* Running uses, so revoke can end them: the executor registers each spawned
 * use, and revoke of a grant (or of an ancestor) calls its kill callback. */
typedef void (*pt_grant_kill_fn)(void *ctx);
int pt_grant_running_add(struct pt_daemon *d, const char *grant_id, pt_grant_kill_fn fn, void *ctx,
			 uint64_t *ret_handle);
void pt_grant_running_remove(struct pt_daemon *d, uint64_t handle);

/* Creates a grant on behalf of origin (the GRANT_CREATE handler, and the
 * SSH-signed path): checks the admin caps, pins the digests (reads each
 * command's file; req's sha256 are ignored), stores durably, audits
 * (grant.create). req->origin/servicer/cmds/window/uses/... are read; the
 * id, uses, created and revoked are set here. -EACCES (reason filled) when
 * policy refuses, -EDQUOT for the per-user cap, else -errno. */
int pt_grant_create(struct pt_daemon *d, const char *origin, const struct pt_grant *req,
		    uint64_t now, char ret_id[PT_ID_LEN], char *reason, size_t reasonlen);

/* ----------------------------------------------- records and the store */

struct pt_grants; /* the daemon's grants and requests (d->grants) */

int pt_grant_new_id(const char *prefix, char ret[PT_ID_LEN]);
bool pt_grant_id_valid(const char *id);
void pt_grant_free(struct pt_grant *g);
/* Deep copy. 0 or -ENOMEM. */
int pt_grant_copy(const struct pt_grant *g, struct pt_grant **ret);

/* Record text (see above). pt_grant_parse: *ret untouched on failure,
 * -EBADMSG with err (may be NULL) saying precisely what is wrong. */
int pt_grant_format(const struct pt_grant *g, char **ret, size_t *ret_len);
int pt_grant_parse(const void *data, size_t len, struct pt_grant **ret, char *err, size_t errlen);

/* Opens KEYDIR/grants.sealed (none: empty). -EBADMSG (err filled) when it
 * does not open or parse. */
int pt_grants_open(const char *keydir, const uint8_t key[PT_STORE_KEYLEN], struct pt_grants **ret,
		   char *err, size_t errlen);
void pt_grants_free(struct pt_grants *s);
/* Key rotation: writes newdir/grants.sealed under key2. 0 or -errno. */
int pt_grants_rewrap(struct pt_grants *s, const char *newdir, const uint8_t key2[PT_STORE_KEYLEN]);
size_t pt_grants_count(const struct pt_grants *s);
struct pt_grant *pt_grants_at(struct pt_grants *s, size_t i);
