#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tests/lib/count-results.sh MAIN_BUILD [SANITIZER_BUILD]
# Counts the test-case results of the .trs files of one or two build trees
# for tests/run-tests.sh. Prints two lines:
#   distinct PASS FAIL SKIP   each test case once (KEY = its .trs path below
#                             the build tree + its position in it), with its
#                             worst result over both trees: FAIL (FAIL, ERROR,
#                             XPASS) > PASS (PASS, XFAIL) > SKIP
#   second PASS FAIL SKIP     the second tree's results alone (0 0 0 without)
# A case that passes in the first tree and fails in the second counts as one
# failed case, never as two cases.
set -u
results_of() {
	local dir=$1 f
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	find "$dir" -name '*.trs' 2>/dev/null | sort | while read -r f; do
		sed -n 's/^:test-result: *\([A-Z]*\).*/\1/p' "$f" |
			awk -v k="${f#"$dir"/}" '{ print k "#" NR, $1 }'
	done
}
count() {
	awk '{ if ($2 ~ /^(PASS|XFAIL)$/) p++; else if ($2 ~ /^(FAIL|ERROR|XPASS)$/) f++;
		else if ($2 == "SKIP") s++ } END { printf "%d %d %d\n", p, f, s }'
}
main=$(results_of "${1:?usage: count-results.sh MAIN [SECOND]}")
second=$(results_of "${2:-}")
printf 'distinct %s\n' "$(printf '%s\n%s\n' "$main" "$second" | awk 'NF == 2' | awk '
	function rank(r) { return r ~ /^(FAIL|ERROR|XPASS)$/ ? 3 : r ~ /^(PASS|XFAIL)$/ ? 2 : 1 }
	{ if (!($1 in w) || rank($2) > rank(w[$1])) w[$1] = $2 }
	END { for (k in w) print k, w[k] }' | count)"
printf 'second %s\n' "$(printf '%s\n' "$second" | awk 'NF == 2' | count)"
