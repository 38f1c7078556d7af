/* SPDX-License-Identifier: MIT */
/* tokend's request handlers and the dispatch table. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit.h"
#include "buf.h"
#include "config.h"
#include "keys.h"
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
	int procfd; /* /proc/PID of the process that connected, -1: none */
};

struct pt_daemon {
	struct pt_config *cfg;
	struct pt_store *store;
	struct pt_keys *keys;
	struct pt_audit *audit;	    /* the audit trail (audit.h) */
	struct pt_history *history; /* usage per user and actor (history.h); may be NULL */
	const struct pt_sealer *sealer;
	uint8_t *storekey; /* PT_STORE_KEYLEN bytes in an mlocked page (main.c) */
	char keydir[4096]; /* current key generation (rotate.h): STATE_DIR or STATE_DIR/gen-N */
	uint64_t started;
	uint64_t n_requests;
	uint64_t n_denied;
	unsigned n_conns;
};

/* Handles one request frame (type + payload) from peer and appends exactly
 * one reply frame to out. Returns 0, or -EBADMSG when the request was
 * malformed (the reply is an error and the connection must be closed after
 * it is sent), or another negative errno when no reply could be made. */
int pt_ops_dispatch(struct pt_daemon *d, const struct pt_peer *peer, uint8_t type,
		    const uint8_t *payload, size_t len, struct ptbuf *out);

/* Periodic housekeeping: flush usage counters, drop expired tokens. */
void pt_ops_housekeeping(struct pt_daemon *d);
