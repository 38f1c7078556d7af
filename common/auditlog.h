/* SPDX-License-Identifier: MIT */
/*
 * tokend's audit log format, and its verifier (pertokctl audit verify, the
 * fuzzer, the tests). No logging, no global state.
 *
 * The log is a text file of lines, each one JSON object whose last member
 * is "hash": the lowercase hex SHA-256 of the line's bytes before
 * `,"hash":"` (the "body"). Every line has "seq" (1, 2, 3, ... across the
 * file), "type" and "prev" (the previous line's hash; 64 zeros at the start
 * of a segment), so the lines form a hash chain:
 *
 *   {"seq":7,"time":1700000000,"type":"record","op":"redeem",...,"prev":"ab..","hash":"cd.."}
 *
 * Types: "record" (one decision), "checkpoint" (carries "kid" and "sig", an
 * Ed25519 signature by tokend's signing key over pt_audit_checkpoint_msg(seq,
 * prev): it vouches for every line before it, so a checkpoint by a key the
 * verifier no longer knows (rotated out) is fine when a later valid one
 * covers it), "segment" (a new chain: the
 * first line of a log, or a restart after a break, with "break" true and a
 * "reason"). tokend also keeps the last checkpoint in a separate head file
 * (same directory, "audit.head"): {"seq":S,"prev":..,"kid":..,"sig":..},
 * so a log cut after its last checkpoint is still detected.
 */
#pragma once

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PT_AUDIT_MAX_LINE 16384 /* longest line (without its newline) */
#define PT_AUDIT_HASH_HEX 64
#define PT_AUDIT_HEAD_MAX 4096
#define PT_AUDIT_MAX_KEYS 16
#define PT_AUDIT_MAX_PROBLEMS 32

/* SHA-256 of n bytes as 64 lowercase hex digits + NUL. 0 or -EIO. */
int pt_audit_hash(const void *p, size_t n, char ret[PT_AUDIT_HASH_HEX + 1]);

/* The text a checkpoint at seq (whose prev is prev_hex) signs. Returns its
 * length (< len) or -ENOBUFS. */
int pt_audit_checkpoint_msg(uint64_t seq, const char *prev_hex, char *buf, size_t len);

/* Completes a line: body is a JSON object text without its closing '}'
 * ending with the "prev" member; returns body + ,"hash":"..."}\n (malloc'd)
 * and the hash. -EINVAL for an empty or overlong body, -ENOMEM. */
int pt_audit_line_finish(const char *body, size_t n, char **ret_line,
			 char ret_hash[PT_AUDIT_HASH_HEX + 1]);

/* One line, parsed. The strings are NUL-terminated copies (bounded). */
struct pt_audit_entry {
	uint64_t seq;
	uint64_t time;
	char type[16];
	char prev[PT_AUDIT_HASH_HEX + 1];
	char hash[PT_AUDIT_HASH_HEX + 1];
	char kid[64];  /* checkpoint */
	char sig[128]; /* checkpoint, base64url */
	bool brk;      /* segment: "break" */
	char reason[256];
	/* torn: the cut-off bytes of a crashed write */
	uint64_t torn_offset, torn_length;
	char torn_hash[PT_AUDIT_HASH_HEX + 1];
	/* record fields, for display ("" when absent) */
	char op[32], result[32], user[256], holder[256];
	char id[64], service[64], actor[64];
	/* remote principals' accesses (rpo.accept, rpo.deny: pertok-rpo(7)) */
	char sub_hmac[40], rhost[64], iss[128], acr[64], amr[64];
};

/* Parses one line (without newline). Returns 0; -EBADMSG when it is not an
 * audit line at all (bad JSON, missing or mistyped members, hash member not
 * last); -EILSEQ when it parses but its hash does not match its bytes (the
 * entry is still filled in, with the hash the line claims). */
int pt_audit_parse_line(const char *line, size_t n, struct pt_audit_entry *ret);

/* Verification. */
struct pt_audit_verifier;

struct pt_audit_result {
	uint64_t n_lines;
	uint64_t n_records;	/* type "record" */
	uint64_t n_checkpoints; /* valid ones */
	uint64_t last_seq;
	uint64_t last_checkpoint_seq; /* 0: none */
	uint64_t unsigned_tail;	      /* lines after the last valid checkpoint */
	uint64_t unknown_covered;     /* checkpoints by unknown (e.g. rotated-out) keys that a
				   * later valid checkpoint vouches for */
	bool head_checked;
	size_t n_problems;
	char *problems[PT_AUDIT_MAX_PROBLEMS]; /* the first ones, in order */
	uint64_t n_problems_total;
	/* crash truncations, not tampering: "torn" lines tokend recorded
	 * (n_torn_recorded), and an incomplete last line not yet recorded
	 * (torn_pending: tokend has not restarted since, or a write is in
	 * progress) */
	uint64_t n_torn_recorded;
	bool torn_pending;
	size_t n_crash;
	char *crash[PT_AUDIT_MAX_PROBLEMS]; /* "crash truncation at ..." texts */
	/* the oldest line given is a "continuation": older files were rotated
	 * out (deleted by design); first_seq is its seq */
	bool rotated_out;
	uint64_t first_seq;
	uint64_t n_files;
};

int pt_audit_verifier_new(struct pt_audit_verifier **ret);
void pt_audit_verifier_free(struct pt_audit_verifier *v);
/* Trusted keys for checkpoint signatures (kid = RFC 7638 thumbprint). The
 * key is up-ref'd. -EINVAL not Ed25519, -ENOSPC too many. */
int pt_audit_verifier_add_key(struct pt_audit_verifier *v, EVP_PKEY *pub);
/* Every Ed25519 key of a JWK set {"keys":[...]}. -EBADMSG if none. */
int pt_audit_verifier_add_jwks(struct pt_audit_verifier *v, const char *json, size_t n);
/* The head file's content. Must be given before the first line. -EBADMSG
 * when malformed (the verifier records that as a problem too). */
int pt_audit_verifier_set_head(struct pt_audit_verifier *v, const char *text, size_t n);
/* The lines that follow come from the file named name (shown in problems
 * as NAME:LINE; without a name, "line N"): line numbers restart at 1. A
 * partial last line of the previous file is a problem then (only the last
 * file may end in a crash). -ENOMEM. */
int pt_audit_verifier_file(struct pt_audit_verifier *v, const char *name);
/* Feeds the next line (without its newline); overlong = the line was longer
 * than PT_AUDIT_MAX_LINE and line holds only its start. */
void pt_audit_verifier_line(struct pt_audit_verifier *v, const char *line, size_t n, bool overlong);
/* The input ended with a line that had no newline, n bytes at byte offset
 * off of the current file (not fed as a line): a crash truncation when it
 * stays the end of the input, a problem when more lines follow. */
void pt_audit_verifier_incomplete(struct pt_audit_verifier *v, uint64_t off, uint64_t n);
/* Ends the input and fills in *ret (the problems move to ret: free with
 * pt_audit_result_clear). */
void pt_audit_verifier_finish(struct pt_audit_verifier *v, struct pt_audit_result *ret);
void pt_audit_result_clear(struct pt_audit_result *r);

/* Reads a whole log from f line by line (bounded) into v. 0 or -errno. */
int pt_audit_verify_stream(struct pt_audit_verifier *v, FILE *f);
