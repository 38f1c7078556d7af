#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/lib/run-test.sh turns a hanging test program into a TIMEOUT failure
# within its limit, and passes a finished test's output and status through.
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
wrap=$srcdir/tests/lib/run-test.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..3"
start=$(date +%s)
PERTOK_TEST_TIMEOUT=1 TOKEND_VALGRIND= PERTOK_SANITIZER= sh "$wrap" sleep 60 >"$tmp/out" 2>&1
rc=$?
took=$(($(date +%s) - start))
if [ "$rc" -eq 124 ] && grep -q '^not ok - TIMEOUT' "$tmp/out" && grep -q '^Bail out! TIMEOUT' "$tmp/out"; then
	echo "ok 1 - a hanging test fails with a TIMEOUT line and exit 124"
else
	echo "not ok 1 - a hanging test fails with a TIMEOUT line (exit $rc)"
	sed 's/^/# /' "$tmp/out"
fi
if [ "$took" -lt 15 ]; then
	echo "ok 2 - within the limit (took $took s)"
else
	echo "not ok 2 - the hang was not cut off in time (took $took s)"
fi
PERTOK_TEST_TIMEOUT=30 sh "$wrap" sh -c 'echo hello; exit 3' >"$tmp/out" 2>&1
rc=$?
if [ "$rc" -eq 3 ] && [ "$(cat "$tmp/out")" = hello ]; then
	echo "ok 3 - a finished test keeps its output and exit status"
else
	echo "not ok 3 - a finished test keeps its output and exit status (exit $rc)"
fi
