/* SPDX-License-Identifier: MIT */
/*
 * A private tokend for the daemon tests (tests/daemon, policy, types, audit):
 * a temp dir holding its socket, config and log; tokend from $top_builddir
 * run in the foreground with -f -c CONF, its stderr appended to the log.
 * TOKEND_VALGRIND=1 runs it under valgrind (memcheck); a clean stop then
 * fails the test when valgrind reported errors. Uses cmocka's assertions.
 */
#pragma once

#include <limits.h>
#include <sys/types.h>

#include "proto.h"

struct tokend_harness {
	char dir[64], sock[100], conf[128], logpath[128];
	char self_exe[PATH_MAX]; /* this test program, for actors' exe lists */
	pid_t pid;		 /* tokend's (or its activator's), -1 when stopped */
	pid_t owner;		 /* the process that started it */
	int timeout_ms;		 /* th_call's connect + call bound (default 2000) */
};

extern struct tokend_harness th;

/* Creates /tmp/pertok-NAME-test.XXXXXX (mode 0711: unprivileged children
 * must reach the socket) and fills th's paths. 0 or -1. */
int th_init(const char *name);

/* Starts tokend (through activator, e.g. systemd-socket-activate, when not
 * NULL) and waits until its socket answers; fails the test if it does not. */
void th_start_via(const char *activator);
void th_start(void);
/* th_start with tokend alone under libfaketime (FAKETIME_LIB), its offset
 * read from the file ts at every clock call (CLOCK_MONOTONIC and
 * CLOCK_BOOTTIME stay real). */
#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
void th_start_faketime(const char *ts);

/* Sends sig to tokend and reaps it; after SIGTERM, valgrind's exit 99 fails
 * the test. Does nothing when it is not running. th_start stops a running
 * one first, and every daemon still running when the test program exits is
 * killed (an exit handler; PR_SET_PDEATHSIG when the program is killed). */
void th_stop(int sig);

/* SIGKILLs and reaps every daemon this program started and has not stopped. */
void th_stop_all(void);

/* Waits until needle occurs at least min_count times in tokend's log; the
 * count, or -1 after timeout_ms. For waiting on an event, not a duration. */
int th_wait_log(const char *needle, unsigned min_count, int timeout_ms);
unsigned th_count_log(const char *needle);

/* Checks every tokend line of the log against tokend(8)'s one line form
 * ("op=OP result=RESULT key=value ..."): the number of lines that are not in
 * it; the first of them copied to ret_bad. */
int th_check_log_form(char *ret_bad, size_t len);

/* Removes th.dir unless PERTOK_TEST_KEEP is set. 0 or -1. */
int th_remove_dir(void);

/* One request on a fresh connection. Returns the transport result. */
int th_call(const struct pt_req *req, struct pt_rep *rep);

/* A login's MINT for user (PAM service service, tty pts/0) through th_call,
 * as the test program (an actor of its tokend): the live token (the caller
 * frees it) and its exp in *ret_exp (may be NULL). Fails the test when
 * tokend refuses. */
char *th_mint(const char *user, const char *service, uint64_t *ret_exp);

/* Runs tokend -f -c th.conf in the foreground, its stderr appended to the
 * log, and returns its exit status; fails the test when it did not exit (or
 * could not be run). For starts that must be refused. */
int th_start_fails(void);

/* Runs sh -c "CMD" (printf-style): its exit status, -1 when killed. */
int th_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The build tree ($top_builddir, else "."): where the tools are. */
const char *th_bin(void);

/* The whole file at path (caller frees), NULL when it cannot be opened. */
char *th_slurp(const char *path);
