# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# tests/system/tap.sh — what the sandbox's system tests (test-atd.sh,
# test-cron.sh) share: TAP results and diagnostics, and reading tokend's
# token list, on top of tests/lib/tap.sh. Source it after scripts/sandbox.sh.

# ok and diag: the shell tests' one copy
# shellcheck source=../lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"
bail() {
	echo "Bail out! $*"
	[ -n "$SB" ] && [ -f "$SB/log/tokend.log" ] && diag <"$SB/log/tokend.log"
	exit 1
}

# JSON helpers on Debian's python
pyjson() { /usr/bin/python3 -c "$@"; }

# id of USER's newest persistable token for HOLDER, from pertokctl list --json
token_id() {  # USER HOLDER
	timeout 10 pertokctl list --user "$1" --json 2>/dev/null | pyjson '
import json, sys
u, holder = sys.argv[1], sys.argv[2]
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(1)
if isinstance(d, dict):
    d = d.get("tokens", d.get("list", []))
ids = [t["id"] for t in d if t.get("user") == u and t.get("holder", holder) == holder]
print(ids[-1] if ids else "")
' "$1" "$2"
}

# Logs each USER in through the real PAM stack (sb_login); 1 when one of
# them failed (its pamtester output as diagnostics).
login_all() {  # USER...
	local u rc=0
	for u in "$@"; do
		if ! sb_login "$u"; then
			rc=1
			diag <"$SB/log/login-$u.log"
		fi
	done
	return $rc
}
