/* SPDX-License-Identifier: MIT */
/*
 * A key holder's state for unit tests that run tokend's request handling
 * without a daemon (test-ops, test-holder-cred): the configuration from
 * text, then keys, store and audit log in statedir, under a fixed store key.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ops.h"
#include "store.h"

/* Fills d (storekey: PT_STORE_KEYLEN bytes the caller keeps). 0, or -1 with
 * why printed on stderr. */
int ut_daemon_open(struct pt_daemon *d, const char *conf, const char *statedir, uint8_t *storekey);

/* Frees what ut_daemon_open made. */
void ut_daemon_close(struct pt_daemon *d);
