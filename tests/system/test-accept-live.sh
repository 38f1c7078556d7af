#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP), issue 13: pam_pertok.so accept require=ENT through the
# real pamtester binary and a real tokend, in a private mount namespace
# (scripts/sandbox.sh): the PAM stacks and tokend.conf are the sandbox's own
# /etc copy, never the host's. A live token is a real one: a login issues
# (pertok-login), the real atd redeems (/etc/pam.d/atd), the job writes its
# live token out (`pertok token`). Then through a private service stack
#   auth required pam_pertok.so accept require=deploy socket=...
#   - the job's token, PAM_USER its subject: accepted; pertokctl recommend
#     --json shows deploy used once by that user and holder, with a last use;
#     tokend logs the use against the token's persistable source (ptk)
#   - require=deploy,dbadmin (the token lacks dbadmin): refused, and no use
#     recorded (deploy still once)
#   - the same token for another user: refused, nothing recorded for anyone
# Root only; skips otherwise.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_srcdir
# shellcheck source=../../scripts/sandbox.sh
. "$top_srcdir/scripts/sandbox.sh"
# shellcheck source=tap.sh
. "$top_srcdir/tests/system/tap.sh"

sb_test_preflight "the real atd and pamtester"
sb_enter "$@"

trap sb_cleanup EXIT
trap 'exit 130' INT TERM HUP

echo "1..9"
sb_setup || bail "sandbox setup failed"
# the logins' tokens carry deploy (and nothing named dbadmin)
sed -i 's/holders = \[ "atd" \]; persist_lifetime/holders = [ "atd" ]; entitlements = [ "deploy" ]; persist_lifetime/' \
	"$SB_CONF"
grep -q 'entitlements = \[ "deploy" \]' "$SB_CONF" || bail "cannot add entitlements to tokend.conf"
"$SB/bin/tokend" --check-config -c "$SB_CONF" >"$SB/log/check.log" 2>&1
ok $? "tokend --check-config accepts the issue rule with entitlements" || diag <"$SB/log/check.log"
sb_tokend_start || bail "tokend did not start"
CTL() { timeout 10 "$SB/bin/pertokctl" -s "$SB_SOCKET" "$@"; }

# a live token from a real redemption: login (issue), at job (atd redeems)
live_token() { # USER: prints the job's live token
	local h j out
	h=$(sb_home "$1")
	sb_login "$1" || { diag <"$SB/log/login-$1.log"; return 1; }
	j=$(sb_at_queue "$1" live "pertok token >$h/live.tok") || return 1
	out=$(sb_atd_run)
	[ -s "$h/live.tok" ] || { echo "job $j of $1: no live token: $out" | diag; return 1; }
	cat "$h/live.tok"
}
A=$(live_token pertok-alice)
ok $? "a login and an at job give pertok-alice a redeemed live token" ||
	tail -n 20 "$SB/log/tokend.log" | diag
B=$(live_token pertok-bob)
[ -n "$B" ] || bail "no live token for pertok-bob"

SVC=pertok-deploy
mod="$SB/lib/pam_pertok.so"
# service STACK-REQUIRE: the private service's stack accepting live tokens
service() {
	printf 'auth required %s accept require=%s socket=%s\n' "$mod" "$1" "$SB_SOCKET" \
		>/etc/pam.d/$SVC
}
# try USER TOKEN: pamtester authenticate, the token on stdin (the authtok)
try() {
	printf '%s\n' "$2" | timeout 20 pamtester $SVC "$1" authenticate \
		>>"$SB/log/pamtester.log" 2>&1
}
# uses USER ENT: "COUNT LAST" from pertokctl recommend --json for holder
# atd, LAST the epoch of its last use ("0 0" when not recorded)
uses() {
	CTL recommend --user "$1" --holder atd --json 2>>"$SB/log/recommend.err" |
		tee -a "$SB/log/recommend.log" | /usr/bin/python3 -c '
import json, sys
u, ent = sys.argv[1], sys.argv[2]
d = json.load(sys.stdin)
hits = [i for p in d["pairs"] if p["user"] == u and p["holder"] == "atd"
        for i in p["items"] if i["kind"] == "entitlement" and i["name"] == ent]
e = hits[0] if hits else {}
print(e.get("uses", 0), e.get("last_use", 0))
' "$1" "$2"
}

service deploy
t0=$(date +%s)
try pertok-alice "$A"
ok $? "pamtester: pertok-alice's job token passes accept require=deploy" ||
	tail -n 5 "$SB/log/tokend.log" | diag
read -r n last < <(uses pertok-alice deploy)
[ "${n:-}" = 1 ] && [ "${last:-0}" -ge "$t0" ] && [ "${last:-0}" -le "$(($(date +%s) + 1))" ]
ok $? "pertokctl recommend --json: deploy used once by pertok-alice for holder atd, a last use" ||
	{ echo "uses=${n:-} last=${last:-}"; tail -n 3 "$SB/log/recommend.log"; } | diag
ptk=$(printf '%s' "$A" | cut -d. -f2 | /usr/bin/python3 -c '
import base64, json, sys
s = sys.stdin.read().strip()
print(json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))["ptk"])')
grep 'op=accept result=allow' "$SB/log/tokend.log" | tail -n 1 |
	grep -q "user=pertok-alice holder=atd .*id=$ptk "
ok $? "tokend's allow line names the token's persistable source (ptk ${ptk:-?})" ||
	grep 'op=accept' "$SB/log/tokend.log" | diag

# refused USER PATTERN DESC: pamtester refuses pertok-alice's token for
# USER, tokend's log since says PATTERN; then nothing was recorded:
# pertok-alice's deploy still once, USER's ENT (4th argument) never
refused() {
	local m n n2
	m=$(sb_log_mark)
	! try "$1" "$A" && sb_log_since "$m" | grep -q "$2"
	ok $? "$3: pamtester refused" || sb_log_since "$m" | diag
	read -r n _ < <(uses pertok-alice deploy)
	read -r n2 _ < <(uses "$1" "$4")
	[ "${n:-}" = 1 ] && [ "${n2:-}" = 0 ]
	ok $? "$3: no use recorded (pertok-alice's deploy still once, $1's $4 none)" ||
		echo "pertok-alice deploy=${n:-} $1 $4=${n2:-}" | diag
}
service deploy,dbadmin
refused pertok-alice 'op=accept.*result=deny.*does not carry entitlement dbadmin' \
	"require=deploy,dbadmin (the token lacks dbadmin)" dbadmin
service deploy
refused pertok-bob "pertok-alice's, not pertok-bob's" \
	"pertok-alice's token for PAM user pertok-bob" deploy

[ "$FAILED" -eq 0 ]
