# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# TAP helpers for the shell tests (source it): ok STATUS TEXT, skip TEXT WHY,
# diag (stdin as "# " comment lines). T counts the tests printed.
T=0
ok() {
	T=$((T + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T - $2"; else echo "not ok $T - $2"; fi
}
skip() { T=$((T + 1)); echo "ok $T - $1 # SKIP $2"; }
diag() { sed 's/^/# /'; }
