/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the connection tests (test-fairness, test-peer): raw protocol
 * calls on a socket the test holds (to keep connections open, pipeline
 * requests or pass a socket across exec), children running as another uid,
 * and two unprivileged users created in a private mount namespace.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

/* Connects to path and exchanges HELLO. Returns the socket (blocking,
 * not close-on-exec) or -1; *ret_err gets the error code when tokend
 * answered the hello with an error (PT_E_BUSY: refused), else 0. */
int cl_connect(const char *path, int timeout_ms, uint32_t *ret_err);

/* Sends req on fd. 0 or -errno. */
int cl_send(int fd, const struct pt_req *req);

/* Reads one reply to a request of type req_type within timeout_ms into rep
 * (pt_rep_clear it). 0, -ETIMEDOUT, -ECONNRESET (closed) or -EPROTO. */
int cl_reply(int fd, uint8_t req_type, int timeout_ms, struct pt_rep *rep);

/* cl_send + cl_reply. */
int cl_call(int fd, const struct pt_req *req, int timeout_ms, struct pt_rep *rep);

/* Whether tokend closed fd within timeout_ms (reads and drops what comes). */
int cl_wait_closed(int fd, int timeout_ms);

/*
 * Enters a private mount namespace (this process and its later children)
 * and adds the users names[0..n-1], each with a private group and a free
 * uid, to private copies of /etc/passwd, group and shadow (in dir) bind-
 * mounted over the originals. The host's files are not touched.
 * Returns 0 or -1 (not root, no namespaces); ret_uids gets the uids.
 */
int ns_add_users(const char *dir, const char *const *names, size_t n, uid_t *ret_uids);

/* Forks a child that drops to uid (its own gid, no supplementary groups)
 * and _exits with fn(arg); it gets SIGKILL when the test process dies. Returns its pid (-1 on failure). */
pid_t spawn_as(uid_t uid, int (*fn)(void *arg), void *arg);

/* SIGKILLs and reaps every child spawn_as started that was not waited for
 * (call it from teardown: a failed assertion skips the test's own cleanup). */
void kill_children(void);

/* Waits for pid (up to timeout_ms; then SIGKILL) and returns its exit
 * status, or 200 + signal number, or -1 when it had to be killed. */
int wait_child(pid_t pid, int timeout_ms);

/* Reads exactly n bytes from fd within timeout_ms. 0 or -1. */
int read_timeout(int fd, void *p, size_t n, int timeout_ms);

/* Waits until the file at path contains needle (up to timeout_ms). */
int wait_for_text(const char *path, const char *needle, int timeout_ms);

/* Number of times needle occurs in the file at path. */
int count_text(const char *path, const char *needle);
