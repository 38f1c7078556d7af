/* SPDX-License-Identifier: MIT */
/*
 * A persistable token's record (identity snapshot, provenance, usage) and
 * its JSON form, the plaintext the store seals.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PT_RECORD_JSON_MAX (2 * 1024 * 1024)
#define PT_ID_LEN 26	      /* "pt_" + 22 base64url chars (16 random bytes) + NUL */
#define PT_MAX_DELEGATIONS 16 /* the chain of previous holders, at most */

/* One delegation: the token was held by holder until at, when by (a user
 * name: the token's user, or "root") handed it to the next holder (the
 * next entry's holder, or the record's holder for the last one). */
struct pt_delegation {
	char *holder;
	char *by;
	uint64_t at;
};

struct pt_record {
	char id[PT_ID_LEN];
	/* identity snapshot at issuance */
	char *user;
	uid_t uid;
	gid_t gid;
	char **groups;
	size_t n_groups; /* names */
	char *gecos;
	char *home;
	char *shell;
	/* how and where */
	char *holder;
	char *actor;
	char *service;
	char *tty;
	char *rhost;
	char *source_jti; /* jti of the live token it was exchanged from */
	char **entitlements;
	size_t n_entitlements; /* the issue rule's, at issuance (optional
	                                               in the JSON: older records have none) */
	uint64_t iat;
	uint64_t exp;
	/* usage: changed in memory (pt_store_touch), journaled by pt_store_journal
	 * before the reply granting the use is sent, written to the token's file
	 * by pt_store_flush (housekeeping) */
	uint64_t last_used; /* the last success (0: never) */
	uint32_t uses;
	/* the last refusal of a redemption (optional in the JSON: older records
	 * have none): when, how many since issuance, the deciding rule (NULL:
	 * none, e.g. expired) and the reason. The two strings are their own
	 * mallocs, never in pack, so that a refusal can replace them. */
	uint64_t refused_at; /* 0: never refused */
	uint32_t refusals;
	char *refusal_rule;
	char *refusal_reason;
	/* the previous holders, oldest first (optional in the JSON: records
	 * written before delegation existed have none, and neither has a token
	 * never delegated). Own mallocs, never in pack, as the refusal's. */
	struct pt_delegation *chain;
	size_t n_chain;
	bool dirty;		  /* the file is older than this */
	bool unjournaled;	  /* uses/last_used changed since the last pt_store_journal */
	bool exp_moved;		  /* exp changed: pt_store_journal rewrites the file */
	bool refusal_unjournaled; /* the refusal fields changed since pt_store_journal */
	/* memory only: CLOCK_BOOTTIME (ms) when housekeeping first saw the token
	 * expired or idle, 0 when it did not (see pt_ops_housekeeping) */
	uint64_t dead_since_ms;
	/* memory only: the strings and the two lists in one block of pack_len
	 * bytes (pt_record_compact), NULL when each string is its own malloc */
	void *pack;
	size_t pack_len;
};

/* A fresh random id "pt_..." */
int pt_record_new_id(char ret[PT_ID_LEN]);
/* The same with another three-character prefix ("gr_" for grants). */
int pt_record_new_id_prefixed(const char *prefix, char ret[PT_ID_LEN]);
void pt_record_free(struct pt_record *r);
/* The store's compact form, one block for every string and list instead of
 * one malloc each: pt_record_compact moves r's strings into one (r itself
 * stays where it is); pt_record_compact_copy makes a copy of r that is a
 * single allocation. pt_record_free frees either form. 0 or -ENOMEM (r is
 * unchanged then). */
int pt_record_compact(struct pt_record *r);
int pt_record_compact_copy(const struct pt_record *r, struct pt_record **ret);
/* Is id a well-formed token id? Is every field of r within its limits? */
bool pt_record_id_valid(const char *id);
bool pt_record_valid(const struct pt_record *r);

/* Records a refused redemption at time at: refusals + 1, rule (NULL or ""
 * for none) and reason (control characters become '?', cut at
 * PT_REFUSAL_REASON_MAX bytes). The caller marks the record touched.
 * 0 or -ENOMEM (r unchanged). */
#define PT_REFUSAL_REASON_MAX 256 /* with its NUL: fits a protocol string */
int pt_record_set_refusal(struct pt_record *r, uint64_t at, uint32_t refusals, const char *rule,
			  const char *reason);

/* Appends (old holder, by, at) to the chain and makes new_holder the
 * holder. -E2BIG when the chain holds PT_MAX_DELEGATIONS already, -EINVAL for
 * an invalid name, -ENOMEM (r unchanged on failure). r must not be packed
 * (pt_record_compact_copy's copy is: make a copy with pt_record_copy). */
int pt_record_delegate(struct pt_record *r, const char *new_holder, const char *by, uint64_t at);
/* A deep copy whose strings are each their own malloc (not packed). */
int pt_record_copy(const struct pt_record *r, struct pt_record **ret);

/* Serialisation used by the store (exposed for tests and the fuzzer). */
int pt_record_to_json(const struct pt_record *r, char **ret);
int pt_record_from_json(const char *json, size_t len, struct pt_record **ret);
