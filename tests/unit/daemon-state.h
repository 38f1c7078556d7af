/* SPDX-License-Identifier: MIT */
/*
 * A key holder's state for unit tests that run tokend's request handling
 * without a daemon (test-ops, test-holder-cred): the configuration from
 * text, then keys, store and audit log in statedir, under a fixed store key.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "ops.h"
#include "store.h"

/* Fills d (storekey: PT_STORE_KEYLEN bytes the caller keeps). 0, or -1 with
 * why printed on stderr. */
int ut_daemon_open(struct pt_daemon *d, const char *conf, const char *statedir, uint8_t *storekey);

/* Frees what ut_daemon_open made. */
void ut_daemon_close(struct pt_daemon *d);

/* An account as NSS would answer it: user, uid = gid, home /nonexistent,
 * shell /bin/sh, the one group named as the user (for fake look-ups). */
struct pt_account *ut_account(const char *user, uid_t uid);

/* For cmocka tests (a malformed reply fails the test). The one reply frame
 * in out, decoded into *ret (may be NULL), after the round's commit
 * (pt_ops_commit, as the holder's loop does): its error code, 0 for PT_OK. */
uint32_t ut_reply(struct pt_daemon *d, uint8_t req_type, struct ptbuf *out, struct pt_rep *ret);
/* req from peer, live as the front made it (NULL: none), handled and
 * answered: as ut_reply. */
uint32_t ut_handle(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		   const struct pt_live_presented *live, struct pt_rep *ret);
/* The same with the front's part done here (pt_live_parse of a request
 * that presents a live token). */
uint32_t ut_call(struct pt_daemon *d, const struct pt_peer *peer, const struct pt_req *req,
		 struct pt_rep *ret);
