#!/bin/sh
# SPDX-License-Identifier: MIT
#
# LOG_COMPILER of every test (Makefile.am): runs the test program under
# timeout(1), so that a hang becomes a failure instead of a stuck `make check`.
# On a timeout it prints a TAP "not ok ... TIMEOUT" line and "Bail out!" (the
# TAP driver records an ERROR) and exits 124.
#
#   PERTOK_TEST_TIMEOUT  seconds per test program (default 300; x4 under
#                        TOKEND_VALGRIND=1 or PERTOK_SANITIZER=1)
# timeout(1) signals the test's whole process group (TERM, then KILL 10 s
# later); daemons the test started die with it (tests/lib/tokend-harness.c).
limit=${PERTOK_TEST_TIMEOUT:-300}
if [ -n "${TOKEND_VALGRIND:-}" ] || [ -n "${PERTOK_SANITIZER:-}" ]; then
	limit=$((limit * 4))
fi
timeout -k 10 "$limit" "$@"
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	echo "not ok - TIMEOUT: $* did not finish within $limit s (PERTOK_TEST_TIMEOUT)"
	echo "Bail out! TIMEOUT after $limit s: $*"
	exit 124
fi
exit "$rc"
