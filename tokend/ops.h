/* SPDX-License-Identifier: MIT */
/*
 * tokend's requests: the dispatch table and its loop (ops.c), the handler
 * families (ops-token.c, ops-admin.c, ops-code.c) and the commit and
 * housekeeping that follow them (ops-commit.c).
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "audit.h"
#include "buf.h"
#include "conf.h"
#include "keys.h"
#include "proto.h"
#include "seal.h"
#include "store.h"

/* Who is on the other end, as the kernel says (read at accept, peer.h). */
struct pt_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool exe_known;
	char exe[PATH_MAX];
	/* the file the process ran at accept, checked again before each request */
	bool exe_seen;
	dev_t exe_dev;
	ino_t exe_ino;
	int procfd;	 /* /proc/PID of the process that connected, -1: none */
	bool credential; /* it connected on the credential socket (credential.h) */
};

struct pt_account;
struct pt_live_presented;
struct pt_rpo_db;
struct pt_req;

struct pt_daemon {
	struct pt_config *cfg;
	struct pt_store *store;
	struct pt_keys *keys;
	struct pt_audit *audit;		/* the audit trail (audit.h) */
	struct pt_history *history;	/* usage per user and actor (history.h); may be NULL */
	struct pt_grants *grants;	/* grants and pending requests (grant.h); may be NULL */
	struct pt_sigreplay *sigreplay; /* SSH-signed requests' nonces (sigreplay.h); NULL
					   until the first one */
	struct pt_usage *usage;		/* entitlement/group use (usage.h); may be NULL */
	uint64_t auto_curtail_at;	/* the last auto_curtail pass (wall clock s; 0: none) */
	uint64_t usage_prune_at;	/* the last pass of pt_ops_usage_prune (same) */
	uint64_t auto_curtail_hold;	/* wall clock s: auto_curtail changes nothing before */
	const struct pt_sealer *sealer;
	uint8_t *storekey; /* PT_STORE_KEYLEN bytes in an mlocked page (main.c) */
	char keydir[4096]; /* current key generation (rotate.h): STATE_DIR or STATE_DIR/gen-N */
	uint64_t started;
	uint64_t n_requests;
	uint64_t n_denied;
	unsigned n_conns;
	uint64_t hk_real_ms, hk_boot_ms; /* clocks at the last housekeeping (jump detection) */
	struct pt_journal *journal;	 /* usage journal (journal.h); NULL: none */
	uint64_t n_replayed;		 /* its lines applied at start */
	struct pt_rpo_db *rpo;		 /* remote principals (rpo.h); NULL: not open */
	/* injectable for tests; NULL: the real ones (pt_now_s, pt_account_lookup) */
	uint64_t (*clock)(void); /* wall clock, unix seconds */
	int (*account_lookup)(const char *user, struct pt_account **ret);
	pid_t front_pid;		/* the front process (privilege separation) */
	struct sockaddr_un listen_addr; /* the listening socket's (getsockname) */
	socklen_t listen_addr_len;
	struct sockaddr_un cred_addr; /* the credential socket's (len 0: none) */
	socklen_t cred_addr_len;
	uid_t front_uid;
	char front_user[64];
	/* the last SIGHUP (pertokctl status): when (0: none yet), and the error
	 * that kept the previous policy ("" when it took effect) */
	uint64_t reload_at;
	char reload_error[1024];
	char reload_warning[256]; /* a reload that left settings for the next start */
	struct pt_jticache *jti;  /* accept's replay cache (jticache.h); opened on first use */
};

/* Handles one decoded request from peer: checks the dispatch table's
 * caller class, runs the handler and appends exactly one reply frame to out.
 * live: for PT_EXCHANGE and PT_REFRESH (pt_req_presents_live), the
 * request's live token as pt_live_parse made it (possibly a refusal; NULL
 * counts as a malformed token); the dispatch loop checks that (pt_live_check) and never looks at req->live_token. Other
 * requests ignore it (NULL). Returns 0, -EBADMSG when the request must close
 * the connection after its error reply, or another negative errno when no
 * reply could be made. */
int pt_ops_handle(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		  const struct pt_live_presented *live, struct ptbuf *out);
/* The same with ext: for PT_ACCEPT (pt_req_presents_ext), the request's
 * external JWT as pt_extjwt_split made it (NULL counts as malformed). */
struct pt_extjwt_presented;
int pt_ops_handle_ext(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		      const struct pt_live_presented *live, const struct pt_extjwt_presented *ext,
		      struct ptbuf *out);

/* pt_ops_handle with the front's connection id and the descriptors the
 * request carried (PT_ACT: the caller's three; the caller closes them after
 * the call, the handler keeps copies of what it uses). *ret_deferred (may be
 * NULL) is set when no reply was made now: it comes later for conn (act.h). */
int pt_ops_handle_act(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		      const struct pt_live_presented *live, uint32_t conn, const int *fds,
		      size_t n_fds, struct ptbuf *out, bool *ret_deferred);
/* All of them: the core the three above call (the key holder's loop calls
 * it with everything the request carried). */
int pt_ops_handle_full(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		       const struct pt_live_presented *live, const struct pt_extjwt_presented *ext,
		       uint32_t conn, const int *fds, size_t n_fds, struct ptbuf *out,
		       bool *ret_deferred);

/* One request frame (type + payload) from peer: decoded (an exchange's live
 * token by pt_live_parse), then handled by pt_ops_handle. Returns as
 * pt_ops_handle; -EBADMSG also when the request is of an unknown type or
 * malformed (the reply is an error and the connection must be closed after
 * it is sent). */
int pt_ops_dispatch(struct pt_daemon *d, const struct pt_peer *peer, uint8_t type,
		    const uint8_t *payload, size_t len, struct ptbuf *out);

/* Root or a configured actor (for the front's connection caps, holder.c)? */
bool pt_ops_privileged_peer(const struct pt_config *cfg, const struct pt_peer *peer);

/* Answers (and logs, as refusals are) a request of this type that did not
 * decode: an unknown type or a malformed payload. Returns -EBADMSG (the
 * connection is to be closed after the reply) or another -errno. */
int pt_ops_bad_request(struct pt_daemon *d, const struct pt_peer *peer, uint8_t type,
		       struct ptbuf *out);

/* Opens STATE_DIR/usage.journal, replays it over the store and the usage
 * history (both open), writes their files and empties it. 0 or -errno
 * (logged). pt_ops_usage_close frees it. */
int pt_ops_usage_open(struct pt_daemon *d);
void pt_ops_usage_close(struct pt_daemon *d);

/* Group commit, before the replies of an event-loop round go out: journals
 * the usage counters of the tokens redeemed (uses, last_used; a moved
 * expiry rewrites the token's file) and the usage history's changes, syncs
 * the journal, then the audit log. Whatever counts
 * against a limit is on disk before the reply granting it is sent. 0, or
 * -errno when something could not be made durable (then the held replies
 * must not be sent; what failed was logged, except the audit log's own
 * failure, see pt_audit_failure). */
int pt_ops_commit(struct pt_daemon *d);
/* Must the replies of this round wait for pt_ops_commit? */
bool pt_ops_commit_pending(const struct pt_daemon *d);

/* At start: removes (and logs) the temporary files of writes interrupted by
 * a crash in the state directory, its codes/ and the key generation's
 * directory (tokens/ is the store's, the audit log's are the audit writer's). */
void pt_ops_clean_temps(struct pt_daemon *d);

/* A wall-clock step of at least this much between two housekeeping rounds is
 * logged (op=clock result=jump). */
#define PT_CLOCK_JUMP_MS 10000

/* Periodic housekeeping: flush usage counters, detect clock steps, drop
 * tokens that have been expired (or idle) for expire_grace. */
void pt_ops_housekeeping(struct pt_daemon *d);

/* usage { auto_curtail }: applies the recommendations that are due (each an
 * audit record "op=curtail result=allow"), at most one pass every ten
 * minutes; housekeeping calls it. */
void pt_ops_auto_curtail(struct pt_daemon *d);

/* The wall clock was stepped by jump_s (housekeeping saw it against
 * CLOCK_BOOTTIME): a step of a day or more holds auto_curtail for one
 * window, as the evidence across the step cannot tell used from unused. */
void pt_ops_clock_stepped(struct pt_daemon *d, int64_t jump_s);

/* Drops from the usage history the users and holders idle for a year or
 * four windows, whichever is longer, that hold no curtailment (at most one
 * pass every ten minutes; housekeeping calls it): users that are gone give
 * back their share of the cap in all. */
void pt_ops_usage_prune(struct pt_daemon *d);
