/* SPDX-License-Identifier: MIT */
/*
 * The user's tool as a job runs it (tests/daemon with the tokend harness):
 * pertok as nobody, its live token in a session keyring of its own. Uses
 * cmocka's assertions; links keyutils.
 */
#pragma once

#include <stddef.h>

/* Runs $top_builddir/tools/pertok -s th.sock ARGS... (args NULL-terminated)
 * as nobody (uid and gid 65534, no supplementary groups) with token as
 * pertok:live in a fresh session keyring: its exit status, its standard
 * output in out and standard error in err (NUL-ended, cut to the sizes).
 * Fails the test when it cannot be run. */
int th_pertok_as_nobody(const char *token, const char *const *args, char *out, size_t outlen,
			char *err, size_t errlen);
