/* SPDX-License-Identifier: MIT */
/*
 * Remote principals (pertok-rpo(7)): access templates and the remote
 * principal objects (RPOs) approved from them.
 *
 * A template is a small JSON document (strict schema, template.c) naming the
 * requesting issuer, the external group (a stable id), the host's
 * entitlements it asks for and the access policy. Its identity is
 * "sha256:" + the hex SHA-256 of the exact bytes submitted; it is stored
 * read-only in STATE_DIR/templates/ under that name and hashed again on every
 * load (one byte changed: refused). An RPO is one local principal per
 * approved template: a name (prefix + short id), a uid (= gid, private
 * group) from the configured range, a validity window; libnss_pertok
 * resolves it from approval until expiry, the reaper (housekeeping) removes
 * it after, and the uid is never given to another RPO (tombstone).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "record.h" /* PT_ID_LEN */

struct pt_daemon;
struct pt_config;

#define PT_TEMPLATE_MAX 16384u	  /* bytes of a template (JSON) */
#define PT_TEMPLATE_SIG_MAX 8192u /* bytes of its detached JWS */
#define PT_HASH_LEN 72		  /* "sha256:" + 64 hex + NUL (71 used) */
#define PT_RPO_NAME_LEN 64
#define PT_RPO_MAX 4096		 /* RPOs and tombstones held (approve refuses past it) */
#define PT_RPO_MAX_SESSIONS 1000 /* open sessions of one RPO (max_sessions at most) */

/* A source network of a template: family AF_INET or AF_INET6, the address
 * (network order, 4 or 16 bytes used) and the prefix length. */
struct pt_cidr {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
};

/* Does the textual address (v4 or v6) fall in c? */
bool pt_cidr_contains(const struct pt_cidr *c, const char *addr);

struct pt_template {
	char hash[PT_HASH_LEN]; /* "sha256:" + 64 hex */
	char *iss;		/* the requesting issuer (exact) */
	char *group;		/* the external group's stable id */
	char **entitlements;	/* names the host defines (entitlements ( )) */
	size_t n_entitlements;
	uint64_t max_validity; /* s: an approval may last at most this long */
	char **services;       /* PAM service names */
	size_t n_services;
	struct pt_cidr *nets; /* source networks */
	size_t n_nets;
	bool allow_local; /* "local" among the networks: no PAM_RHOST is fine */
	char **acr;	  /* acceptable acr values (any one); empty: no requirement */
	size_t n_acr;
	char **amr; /* required amr methods (all of them); empty: none */
	size_t n_amr;
	uint32_t max_sessions; /* concurrent sessions of the RPO */
};

struct pt_rpo {
	char id[PT_ID_LEN];	     /* "rpo_" + 20 hex */
	char name[PT_RPO_NAME_LEN];  /* prefix + the id's first 8 hex digits */
	uid_t uid;		     /* = its private group's gid */
	char tmpl_hash[PT_HASH_LEN]; /* the template it was approved from */
	uint64_t approved, not_after;
	bool revoked, expired; /* expired: the reaper has removed it */
	uint64_t revoked_at;
	uint32_t sessions; /* open sessions (pt_rpo_session_begin/end): n of sess */
	/* each open session's process (the PAM stack that opened it: pid and
	 * its start time in /proc/PID/stat), stored in rpo.json: a restart
	 * keeps the count, a process gone without closing frees its place */
	struct pt_rpo_session {
		int32_t pid;
		uint64_t start;
	} * sess;
	uint64_t dead_since_ms; /* reaper: boot-time ms it was first seen past not_after */
};

/*
 * Parses a template: exactly len bytes of JSON (at most PT_TEMPLATE_MAX), the
 * strict schema of pertok-rpo(7): unknown fields, duplicate keys, wrong
 * types and missing required fields are refused. cfg (may be NULL: no check)
 * is the host's configuration: every entitlement must be one it defines.
 * ret->hash is the hash of the bytes. On failure err says what is wrong and
 * *ret is untouched. 0, -EINVAL, -EFBIG or -ENOMEM.
 */
int pt_template_parse_cfg(const struct pt_config *cfg, const void *json, size_t len,
			  struct pt_template *ret, char *err, size_t errlen);
/* The same without the entitlement check (cfg NULL). */
int pt_template_parse(const void *json, size_t len, struct pt_template *ret, char *err,
		      size_t errlen);
void pt_template_clear(struct pt_template *t);
/* The schema check alone (no hash, no configuration: no crypto), for
 * tokend's front. 0 or as pt_template_parse. */
int pt_template_check(const void *json, size_t len, char *err, size_t errlen);
/* Verifies a template's JWS (sig, NUL-terminated, at most
 * PT_TEMPLATE_SIG_MAX) with the keys of issuer is (its JWKS, its allowed
 * algorithms): the compact form "HEADER..SIGNATURE" (detached, RFC 7515
 * appendix F) or "HEADER.PAYLOAD.SIGNATURE" with PAYLOAD the base64url of
 * exactly json[0..len); the header's alg one accepted and allowed for the
 * issuer, "crit" and "b64" refused, kid (optional) choosing the key as in
 * pt_jwks_find; the signature over HEADER "." base64url(json). 0;
 * -EINVAL (malformed, no key: err says why); -EKEYREJECTED (bad
 * signature); -ENOMEM. */
struct pt_issuer;
int pt_template_sig_verify(const struct pt_issuer *is, const void *json, size_t len,
			   const char *sig, char *err, size_t errlen);
/* "sha256:" + hex SHA-256 of the bytes into ret (PT_HASH_LEN). 0 or -EIO. */
int pt_template_hash(const void *p, size_t n, char ret[PT_HASH_LEN]);
/* Is s a well-formed template hash ("sha256:" + 64 lowercase hex)? */
bool pt_template_hash_valid(const char *s);

/* Pointers to RPOs (pt_rpo_match, pt_rpo_find_*, pt_rpo_all) are valid until
 * the next approval (which may move the set); those to templates
 * (pt_rpo_template) until pt_rpo_close. tokend's key holder is one thread:
 * within one request both hold. */

/* Valid (approved, not revoked, not expired at now) RPOs whose template names
 * iss and group; up to max; returns the count. */
size_t pt_rpo_match(struct pt_daemon *d, const char *iss, const char *group, uint64_t now,
		    const struct pt_rpo **ret, size_t max);
/* The template of r (loaded and hash-checked at start or approval); NULL
 * when it cannot be had (tampered: logged). */
const struct pt_template *pt_rpo_template(struct pt_daemon *d, const struct pt_rpo *r);
/* The RPO of that local name, or by id (any state); NULL: none. */
const struct pt_rpo *pt_rpo_find_name(struct pt_daemon *d, const char *name);
const struct pt_rpo *pt_rpo_find_id(struct pt_daemon *d, const char *id);
/* Is r valid at now (not revoked, not expired, now < not_after)? */
bool pt_rpo_valid(const struct pt_rpo *r, uint64_t now);
/* Sessions counted for max_sessions, each held by the process pid that
 * opened it (the PAM stack's) and stored durably before the call returns:
 * begin (refuses over the cap: -EUSERS; an invalid RPO: -EACCES; a process
 * that is gone: -ESRCH; rpo.json not written: -errno) / end (pid's
 * session). Sessions whose process is gone (killed without closing) are
 * dropped when counted. */
int pt_rpo_session_begin(struct pt_daemon *d, const struct pt_rpo *r, pid_t pid, uint64_t now);
void pt_rpo_session_end(struct pt_daemon *d, const struct pt_rpo *r, pid_t pid);
/* The open sessions of r, those of processes that are gone dropped. */
uint32_t pt_rpo_sessions(struct pt_daemon *d, const struct pt_rpo *r);
/* The local groups (names) the entitlements map to (entitlements ( ) of
 * tokend.conf), without repeats; *ret is a NULL-terminated array the caller
 * frees with pt_rpo_groups_free. 0 or -ENOMEM / -ENOENT (no such RPO). */
int pt_rpo_groups(struct pt_daemon *d, const struct pt_rpo *r, char ***ret, size_t *ret_n);
void pt_rpo_groups_free(char **groups, size_t n);

/* The daemon's side (rpo.c): open reads STATE_DIR/rpo.db and the templates
 * of its RPOs (each hashed again); close frees. 0 or -errno (logged). */
int pt_rpo_open(struct pt_daemon *d);
void pt_rpo_close(struct pt_daemon *d);

/* Stores a template (parsed against the configuration first) and its
 * optional detached JWS; *ret_hash its identity. Importing the same bytes
 * again is not an error. 0, -EINVAL (err says why), -errno. */
int pt_template_import(struct pt_daemon *d, const void *json, size_t len, const char *sig,
		       char ret_hash[PT_HASH_LEN], char *err, size_t errlen);
/* Reads a stored template and checks its hash (a changed byte: -EBADMSG,
 * logged). */
int pt_template_load(struct pt_daemon *d, const char *hash, struct pt_template *ret, char *err,
		     size_t errlen);

/* Approves the template hash until not_after (at most its max_validity
 * from now): a new RPO with its uid allocated and stored. -EINVAL (err),
 * -ERANGE (validity over the template's max), -ENOSPC (no uid left), -errno. */
int pt_rpo_approve(struct pt_daemon *d, const char *hash, uint64_t not_after, uint64_t now,
		   const struct pt_rpo **ret, char *err, size_t errlen);
/* Moves not_after (still at most max_validity from approval... from now). */
int pt_rpo_extend(struct pt_daemon *d, const char *id, uint64_t not_after, uint64_t now, char *err,
		  size_t errlen);
int pt_rpo_revoke(struct pt_daemon *d, const char *id, uint64_t now, char *err, size_t errlen);

/* The RPOs, in approval order (for list, the NSS cache and the reaper). */
const struct pt_rpo *pt_rpo_all(struct pt_daemon *d, size_t *ret_n);

/* Housekeeping: every RPO past not_after or revoked and not yet reaped is
 * locked, its processes ended, its home archived, its uid tombstoned and
 * RPO_EXPIRED recorded. */
void pt_rpo_reap(struct pt_daemon *d, uint64_t now);

/* libnss_pertok's cache: the token holders of the store and the RPOs not
 * revoked nor reaped (each until its not_after). As pt_nsscache_update. */
int pt_rpo_nss_update(struct pt_daemon *d, uint64_t now);
/* Counts the changes of the set (approve, extend, revoke, reap): the NSS
 * cache follows it. */
uint64_t pt_rpo_generation(const struct pt_daemon *d);
