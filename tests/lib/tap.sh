# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# TAP helpers for the shell tests: source it, print the plan, then
#   ok STATUS DESCRIPTION   "ok N - ..." when STATUS is 0, else "not ok N - ..."
#                           (counts the failures in $FAILED)
#   diag                    stdin as "# " comment lines
T=0
FAILED=0
ok() {
	T=$((T + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $T - $2"
	else
		echo "not ok $T - $2"
		FAILED=$((FAILED + 1))
	fi
}
diag() { sed 's/^/# /'; }
