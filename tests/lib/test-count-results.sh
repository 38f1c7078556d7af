#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/run-tests.sh's closing count (tests/lib/count-results.sh): the
# sanitizer pass reruns the same tests; each case is counted once, and a case
# that fails only in the sanitizer pass still counts as a failure.
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trs() { # trs FILE RESULT...
	mkdir -p "$(dirname "$1")"
	local f=$1
	shift
	printf ':test-result: %s\n' "$@" >"$f"
}
trs "$tmp/main/tests/a.trs" PASS PASS SKIP
trs "$tmp/main/tests/b.trs" PASS
trs "$tmp/asan/tests/a.trs" PASS FAIL SKIP
trs "$tmp/asan/tests/b.trs" PASS
out=$(bash "$srcdir/tests/lib/count-results.sh" "$tmp/main" "$tmp/asan")
echo "1..3"
if grep -qx 'distinct 2 1 1' <<<"$out"; then
	echo "ok 1 - 4 distinct cases: 2 passed, 1 failed (only under the sanitizers), 1 skipped"
else
	echo "not ok 1 - distinct count: $(tr '\n' ';' <<<"$out")"
fi
if grep -qx 'second 2 1 1' <<<"$out"; then
	echo "ok 2 - the sanitizer pass on its own line"
else
	echo "not ok 2 - sanitizer pass count: $(tr '\n' ';' <<<"$out")"
fi
out=$(bash "$srcdir/tests/lib/count-results.sh" "$tmp/main" "")
if grep -qx 'distinct 3 0 1' <<<"$out" && grep -qx 'second 0 0 0' <<<"$out"; then
	echo "ok 3 - without a sanitizer pass"
else
	echo "not ok 3 - single pass: $(tr '\n' ';' <<<"$out")"
fi
