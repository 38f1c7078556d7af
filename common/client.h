/* SPDX-License-Identifier: MIT */
/*
 * Client side of the tokend protocol, for pam_pertok and the tools.
 * Safe inside a PAM host process: no signals touched, no global state, the
 * socket is SOCK_CLOEXEC and closed by pt_client_free, every wait is bounded
 * by the timeout given at connect, writes use MSG_NOSIGNAL.
 */
#pragma once

#include "proto.h"

struct pt_client;

/* Connects to the UNIX socket at path and performs the HELLO exchange.
 * timeout_ms bounds connect + hello, and then each pt_client_call.
 * Returns 0 or a negative errno: -ENOENT / -ECONNREFUSED (tokend not
 * running), -ETIMEDOUT, -EPROTO (bad reply / version mismatch),
 * -ENAMETOOLONG. */
int pt_client_connect(const char *path, int timeout_ms, struct pt_client **ret);

/* Sends req and reads its reply into *ret (ret->type is PT_OK or PT_ERR).
 * Returns 0 when a reply was read, or a negative errno on transport failure
 * (-ETIMEDOUT, -EPIPE, -ECONNRESET, -EPROTO for a malformed reply). */
int pt_client_call(struct pt_client *c, const struct pt_req *req, struct pt_rep *ret);

/* pt_client_call with descriptors: fds[0..n_fds) go as SCM_RIGHTS with the
 * request's first byte (PT_ACT: exactly the caller's stdin, stdout, stderr;
 * other counts only for tests of tokend's refusal), and the reply is waited
 * for reply_ms (0: the connect timeout; at most 24 h), not the timeout. */
#define PT_CLIENT_MAX_FDS 8
int pt_client_call_fds(struct pt_client *c, const struct pt_req *req, const int *fds, size_t n_fds,
		       int reply_ms, struct pt_rep *ret);

/* LIST, every page: sends PT_LIST_PAGE requests until the reply says no
 * more and returns one reply with all entries (type PT_OK), or the first
 * PT_ERR reply. user: "" or NULL for every token the caller may see.
 * Returns 0 or a negative errno as pt_client_call (-EPROTO as well when the
 * server pages without end). */
#define PT_CLIENT_MAX_LIST_PAGES 100000
int pt_client_list(struct pt_client *c, const char *user, struct pt_rep *ret);

/* Closes the socket and frees; accepts NULL. */
void pt_client_free(struct pt_client *c);

/* Default socket path (compiled in from configure's rundir). */
const char *pt_default_socket(void);
