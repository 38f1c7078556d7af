/* SPDX-License-Identifier: MIT */
/*
 * tokend's audit trail writer: one hash-chained JSON line per decision in an
 * append-only file, signed checkpoints (in the log and in audit.head next to
 * it). Format: common/auditlog.h. No logging here: errors come back as
 * -errno plus a message (pt_audit_failure) for the caller to log.
 *
 * Rotation: before a record would go into a log of rotate_size bytes or
 * more, the log gets a checkpoint and becomes LOG.1 (LOG.1 becomes LOG.2 ...,
 * LOG.<rotate_keep> is deleted); the new LOG starts with a "continuation"
 * line chained to the old file's checkpoint. A failed rotation fails closed
 * like a failed write.
 *
 * Fail closed: once a write, a sync or the file's identity check fails,
 * pt_audit_usable() says so, and tokend refuses to issue or redeem until the
 * log can be written again (a removed or replaced log: until restart).
 */
#pragma once

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aead.h"

#define PT_AUDIT_TOKEN_HMAC_HEX 32 /* first 16 bytes of HMAC-SHA256, hex */

struct pt_audit;

struct pt_audit_opts {
	const char *path;	      /* the log; audit.head lives in its directory */
	unsigned checkpoint_every;    /* lines; 0 = only by time and at close */
	uint64_t checkpoint_interval; /* seconds; 0 = only by count and at close */
	bool sync_each;		      /* fdatasync every record before pt_audit_append returns */
	bool group_commit;	      /* the caller syncs (pt_audit_sync) before replying */
	uint64_t rotate_size;	      /* bytes; 0 = never rotate */
	unsigned rotate_keep;	      /* rotated files kept: LOG.1 .. LOG.N (>= 1) */
	unsigned refusal_burst;	      /* refusals recorded one by one per uid, op, window */
	uint64_t refusal_window;      /* seconds (monotonic); 0 = no rate limit */
};

/* One decision. Strings may be NULL (left out of the record). */
struct pt_audit_event {
	const char *op;	    /* mint, exchange, redeem, revoke, ... */
	const char *result; /* allow, renew, deny, error */
	const char *user;
	const char *holder;
	const char *actor;
	uid_t peer_uid;
	pid_t peer_pid;
	const char *exe;
	const char *service; /* PAM service */
	const char *rule;
	const char *reason;
	const char *id;	   /* persistable token id (an accessor, not a secret) */
	const char *token; /* a live token: only its keyed HMAC is recorded */
	/* more fields of this op's own (act.start, act.end): n_detail pairs
	 * of name, value (NULL values left out), recorded as the object
	 * "detail"; each value at most REASON_MAX bytes, escaped */
	const char *const *detail;
	size_t n_detail;
	/* remote principals: ops "rpo.accept" and "rpo.deny" (pam_pertok.so
	 * accept); NULL = left out. Record fields: "rpo" (the local names of
	 * every RPO the login used, joined by ','; the primary, PAM_USER's,
	 * first), "tmpl_hash" (their templates, in the same order), "iss" (the
	 * external issuer), "sub_hmac" (PT_AUDIT_TOKEN_HMAC_HEX hex of the
	 * keyed HMAC of "extsub\n" iss "\n" sub: the same external subject
	 * gives the same value, its identity is never recorded), "rhost",
	 * "acr", "amr" (joined by ','). */
	const char *rpo;
	const char *tmpl_hash;
	const char *ext_iss;
	const char *ext_sub;
	const char *rhost;
	const char *acr;
	const char *amr;
};

/* Opens (creating it 0600) the log and continues its chain; a log whose
 * tail does not verify, or is missing while audit.head exists, gets a
 * "segment" line recording the break, and *warn says what happened (for
 * tokend's log; warn[0] = '\0' when nothing). The HMAC key for token
 * references is derived from storekey. sign/kid are borrowed and must
 * outlive the writer. Returns 0 or -errno with err filled in. */
int pt_audit_open(const struct pt_audit_opts *o, const uint8_t storekey[PT_STORE_KEYLEN],
		  EVP_PKEY *sign, const char *kid, struct pt_audit **ret, char *warn,
		  size_t warnlen, char *err, size_t errlen);

/* Appends a record (durable before returning when sync_each). 0 or -errno
 * (then pt_audit_failure() says why). */
int pt_audit_append(struct pt_audit *a, const struct pt_audit_event *ev);

/* Group commit: records were written but not yet synced, and replies must
 * wait for pt_audit_sync. */
bool pt_audit_pending(const struct pt_audit *a);
/* fdatasync now. 0 or -errno (then the held replies must not be sent). */
int pt_audit_sync(struct pt_audit *a);

/* After a key rotation: a checkpoint with the old key (it vouches for
 * everything so far, the rotation's record included), then the new key
 * signs the checkpoints. sign/kid are borrowed as in pt_audit_open. */
int pt_audit_set_key(struct pt_audit *a, EVP_PKEY *sign, const char *kid);

/* Writes a checkpoint now if anything was written since the last one. */
int pt_audit_checkpoint(struct pt_audit *a);

/* Periodic: checkpoint by interval, sync in batch mode. now: wall seconds. */
int pt_audit_tick(struct pt_audit *a, uint64_t now);

/* May tokend issue? Checks the file is still the one opened (not removed or
 * replaced) and that no write failed since (a failed write is retried by
 * the next append). */
bool pt_audit_usable(struct pt_audit *a);

/* Why the log cannot be written, or NULL when it can. */
const char *pt_audit_failure(const struct pt_audit *a);

/* The token reference as it appears in records (hex, NUL-terminated). */
int pt_audit_token_ref(const struct pt_audit *a, const char *token,
		       char ret[PT_AUDIT_TOKEN_HMAC_HEX + 1]);

uint64_t pt_audit_seq(const struct pt_audit *a);

/* What pt_audit_open repaired (a crash's torn last line cut off and
 * recorded, leftover temporary head files removed, a rotation completed),
 * for tokend's log; NULL when nothing. */
const char *pt_audit_notes(const struct pt_audit *a);

/* Refusals from unprivileged peers are rate-limited: per (uid, op) and
 * window, the first refusal_burst are recorded one by one (returns true:
 * audit and log it), the rest only counted (false). At most
 * PT_AUDIT_REFUSAL_SLOTS (uid, op) pairs are tracked; when all are busy,
 * further uids share one slot (uid -1, op "any"). now: monotonic seconds. */
#define PT_AUDIT_REFUSAL_SLOTS 1024
bool pt_audit_refusal_admit(struct pt_audit *a, uid_t uid, const char *op, uint64_t now);

/* A window that had refusals beyond the burst. */
struct pt_audit_summary {
	uid_t uid; /* (uid_t)-1: the shared slot ("other uids") */
	char op[32];
	uint64_t total;	   /* refusals in the window */
	uint64_t recorded; /* ... of which recorded one by one */
	uint64_t window;   /* seconds */
	char text[160];	   /* "N refusals of OP by uid U in the last minute" */
};

/* Ends the windows over by now (every window when all), writes a summary
 * record into the trail for each that suppressed refusals and returns up to
 * max of them for the caller's log; *ret_n is how many. 0 or -errno (a
 * summary could not be written; the counts are kept for the next try). */
int pt_audit_refusal_flush(struct pt_audit *a, uint64_t now, bool all, struct pt_audit_summary *ret,
			   size_t max, size_t *ret_n);

/* Summarises pending refusals (pt_audit_refusal_flush), checkpoints (when
 * anything is unsigned), closes, wipes. Accepts NULL. */
int pt_audit_close(struct pt_audit *a);

/* pt_audit_open with the settings of cfg (audit { } in tokend.conf) and
 * tokend's signing key; the token-reference HMAC key from the audit seed
 * of keydir (pt_audit_seed_load), so that token_hmac and sub_hmac stay the
 * same across rotations of the store key. */
struct pt_config;
struct pt_keys;
int pt_audit_open_config(const struct pt_config *cfg, const char *keydir,
			 const uint8_t storekey[PT_STORE_KEYLEN], const struct pt_keys *keys,
			 struct pt_audit **ret, char *warn, size_t warnlen, char *err,
			 size_t errlen);

/* The audit seed: the secret the HMAC key of token references (token_hmac,
 * sub_hmac) is derived from, its own secret, kept sealed under the store
 * key in KEYDIR/audit-hmac.key. Made at the first start (from the store
 * key of then, so records written before the file existed keep their
 * references) and carried by every rotation (pt_audit_seed_rewrap): never
 * derived from the current store key again. 0 or -errno (err says why). */
int pt_audit_seed_load(const char *keydir, const uint8_t storekey[PT_STORE_KEYLEN],
		       uint8_t ret[PT_STORE_KEYLEN], char *err, size_t errlen);
/* Seals the seed of olddir (under oldkey) again under newkey into newdir.
 * 0 or -errno. */
int pt_audit_seed_rewrap(const char *olddir, const uint8_t oldkey[PT_STORE_KEYLEN],
			 const char *newdir, const uint8_t newkey[PT_STORE_KEYLEN]);
