#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): logins through the real PAM stack (pamtester) and jobs
# run by the real at daemon (atd -s), with pam_pertok in /etc/pam.d/atd and a
# real tokend, all inside a private mount namespace (scripts/sandbox.sh).
#
#   (1) a job runs as its user and finds a valid live token in its keyring
#   (2) a revoked token: the next job is refused
#   (3) the user left the allowed group after issuance: refused (late binding)
#   (4) tokend down: logins still succeed, jobs are refused; back up: jobs run
#
# Root only; prints "1..0 # SKIP why" where it cannot run.
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

# base64url helpers for the JWS checks
b64url_decode() { pyjson 'import base64,sys; s=sys.stdin.read().strip(); sys.stdout.buffer.write(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))'; }

# openssl verification of a compact JWS (Ed25519) against a PEM public key
jws_verify_openssl() {  # TOKEN-FILE PEM-FILE
	local d h p s
	d=$(mktemp -d "$SB/tmp/jws.XXXXXX")
	IFS=. read -r h p s <"$1"
	printf '%s.%s' "$h" "$p" >"$d/in"
	printf '%s' "$s" | b64url_decode >"$d/sig"
	timeout 10 openssl pkeyutl -verify -pubin -inkey "$2" -rawin -in "$d/in" -sigfile "$d/sig" >"$d/out" 2>&1
	local rc=$?
	diag <"$d/out"
	rm -rf "$d"
	return $rc
}

# queue a job, run the queue, print atd's complaints as diagnostics
run_job() {  # USER NAME BODY
	local j
	j=$(sb_at_queue "$1" "$2" "$3") || return 1
	ATD_OUT=$(sb_atd_run)
	[ -n "$ATD_OUT" ] && printf 'atd (job %s of %s): %s\n' "$j" "$1" "$ATD_OUT" | diag
	return 0
}

# a refused job: no output file, atd reported the PAM failure
job_refused() {  # USER NAME
	local out
	out="$(sb_home "$1")/$2.out"
	if [ -e "$out" ]; then
		echo "job $2 of $1 ran although it should have been refused:" | diag
		diag <"$out"
		return 1
	fi
	if ! printf '%s\n' "$ATD_OUT" | grep -qiE 'denied|failure|PAM|error'; then
		echo "atd did not report a PAM failure for job $2" | diag
		return 1
	fi
	return 0
}

# job body (for USER, NAME): who am I, and my token, in ~USER/NAME.*
body() {
	local h
	h=$(sb_home "$1")
	printf 'id -u >%s\npertok token >%s\npertok token --claims >%s\n' \
		"$h/$2.uid" "$h/$2.tok" "$h/$2.claims"
}

echo "1..18"

sb_setup || bail "sandbox setup failed"
sb_tokend_start || bail "tokend did not start"
ALICE_UID=$(sb_uid pertok-alice)
BOB_UID=$(sb_uid pertok-bob)
HA=$(sb_home pertok-alice)
HB=$(sb_home pertok-bob)

# ---- logins
rc=0
login_all pertok-alice pertok-bob || rc=1
ok $rc "alice and bob log in through the real PAM stack (pamtester, pam_pertok issue)"

ALICE_ID=$(token_id pertok-alice atd)
BOB_ID=$(token_id pertok-bob atd)
rc=0
[ -n "$ALICE_ID" ] && [ -n "$BOB_ID" ] || rc=1
[ "$ALICE_ID" != "$BOB_ID" ] || rc=1
[ $rc -eq 0 ] || timeout 10 pertokctl list 2>&1 | diag
ok $rc "pertokctl list shows one persistable token for each (alice ${ALICE_ID:-none}, bob ${BOB_ID:-none})"

# the sandbox's tokend writes libnss_pertok's cache inside the sandbox
# (tokend.nss_cache), never the host's /var/cache/pertok
rc=1
for _ in $(seq 1 50); do
	[ -s "$SB/var/cache/pertok/nss.cache" ] && { rc=0; break; }
	sleep 0.1
done
grep -q "nss_cache = \"$SB/" "$SB_CONF" || rc=1
ok $rc "the sandbox's tokend writes its NSS cache under \$SB/var/cache/pertok"

# ---- (1) a job runs as alice and finds a valid live token
run_job pertok-alice j1 "$(body pertok-alice j1)"
rc=0
[ "$(cat "$HA/j1.uid" 2>/dev/null)" = "$ALICE_UID" ] || rc=1
grep -qx 'exit=0' "$HA/j1.out" 2>/dev/null || rc=1
[ $rc -eq 0 ] || { cat "$HA/j1.out" 2>/dev/null | diag; }
ok $rc "(1) alice's at job ran as alice (uid $ALICE_UID) and exited 0"

rc=0
pyjson '
import json, sys
c = json.load(open(sys.argv[1]))
want = {"sub": "pertok-alice", "uid": int(sys.argv[2]), "ptk": sys.argv[3], "aud": "pertok"}
bad = [k for k, v in want.items() if not (c.get(k) == v or (k == "aud" and isinstance(c.get(k), list) and v in c[k]))]
if c.get("act", {}).get("sub") != "atd":
    bad.append("act.sub")
if "groups" in c and "pertok" not in c["groups"]:
    bad.append("groups")
if not (c.get("nbf", 0) <= c.get("iat", 0) < c.get("exp", 0)):
    bad.append("nbf/iat/exp")
if bad:
    print("claims wrong:", bad, json.dumps(c))
    sys.exit(1)
' "$HA/j1.claims" "$ALICE_UID" "$ALICE_ID" 2>&1 | diag
rc=${PIPESTATUS[0]}
ok $rc "(1) the job's token claims: sub=pertok-alice uid=$ALICE_UID ptk=$ALICE_ID aud=pertok act.sub=atd"

timeout 10 pertokctl pubkey >"$SB/tmp/pub.pem" 2>"$SB/tmp/pubkey.err" || cat "$SB/tmp/pubkey.err" | diag
jws_verify_openssl "$HA/j1.tok" "$SB/tmp/pub.pem"
ok $? "(1) the job's token verifies against pertokctl pubkey (openssl pkeyutl, Ed25519)"

# tampered claims (uid 0) must not verify: the check above can fail
rc=1
if [ -s "$HA/j1.tok" ]; then
	pyjson '
import base64, json, sys
h, p, s = open(sys.argv[1]).read().strip().split(".")
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
c["uid"] = 0
p = base64.urlsafe_b64encode(json.dumps(c).encode()).decode().rstrip("=")
print(".".join((h, p, s)))
' "$HA/j1.tok" >"$SB/tmp/tampered.tok"
	jws_verify_openssl "$SB/tmp/tampered.tok" "$SB/tmp/pub.pem" && rc=1 || rc=0
fi
ok $rc "(1) the same token with uid changed to 0 does not verify"

# ---- (2) revoked
rc=0
timeout 10 pertokctl revoke "$ALICE_ID" 2>&1 | diag
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
[ -z "$(token_id pertok-alice atd)" ] || rc=1
ok $rc "(2) pertokctl revoke $ALICE_ID; the token is no longer listed"

mark=$(sb_log_mark)
run_job pertok-alice j2 "$(body pertok-alice j2)"
rc=0
job_refused pertok-alice j2 || rc=1
if ! sb_log_since "$mark" | grep -E 'op=redeem' | grep -E 'user=pertok-alice' | grep -qvE 'result=(allow|ok)'; then
	echo "no refused op=redeem line for pertok-alice in tokend's log:" | diag
	sb_log_since "$mark" | diag
	rc=1
fi
sb_log_since "$mark" | grep 'op=redeem' | diag
ok $rc "(2) after the revocation alice's next job is refused (no output, atd PAM failure, tokend refusal logged)"

# ---- (3) late binding: bob leaves the group after issuance
run_job pertok-bob j3 "$(body pertok-bob j3)"
rc=0
[ "$(cat "$HB/j3.uid" 2>/dev/null)" = "$BOB_UID" ] || rc=1
grep -qx 'exit=0' "$HB/j3.out" 2>/dev/null || { rc=1; cat "$HB/j3.out" 2>/dev/null | diag; }
ok $rc "(3) bob's job runs while bob is in group pertok"

timeout 10 gpasswd -d pertok-bob pertok 2>&1 | diag
rc=0
id -nG pertok-bob | tr " " "\n" | grep -qx pertok && rc=1
ok $rc "(3) the admin removes bob from group pertok (gpasswd -d), no tokend reload"

mark=$(sb_log_mark)
run_job pertok-bob j4 "$(body pertok-bob j4)"
rc=0
job_refused pertok-bob j4 || rc=1
line=$(sb_log_since "$mark" | grep 'op=redeem' | grep 'user=pertok-bob' | grep 'result=deny')
if [ -z "$line" ] || ! printf '%s\n' "$line" | grep -q 'rule='; then
	echo "no 'op=redeem result=deny user=pertok-bob ... rule=' line in tokend's log:" | diag
	sb_log_since "$mark" | diag
	rc=1
fi
printf '%s\n' "$line" | diag
ok $rc "(3) bob's next job is refused by the redeem policy (late binding: op=redeem result=deny ... rule=)"

# ---- (4) tokend down
sb_login pertok-alice || { rc=1; diag <"$SB/log/login-pertok-alice.log"; }
ALICE_ID2=$(token_id pertok-alice atd)
rc=0
[ -n "$ALICE_ID2" ] || rc=1
ok $rc "(4) alice logs in again and holds a new token (${ALICE_ID2:-none})"

sb_tokend_stop
rc=0
[ ! -S "$SB_SOCKET" ] || rc=1
sb_login pertok-alice || { rc=1; diag <"$SB/log/login-pertok-alice.log"; }
ok $rc "(4) tokend stopped: alice's login still succeeds (session optional, onerror=ignore)"

run_job pertok-alice j5 "$(body pertok-alice j5)"
job_refused pertok-alice j5
ok $? "(4) tokend stopped: alice's job is refused (no output, atd PAM failure)"

rc=0
sb_tokend_start || rc=1
run_job pertok-alice j6 "$(body pertok-alice j6)"
[ "$(cat "$HA/j6.uid" 2>/dev/null)" = "$ALICE_UID" ] || rc=1
grep -qx 'exit=0' "$HA/j6.out" 2>/dev/null || { rc=1; cat "$HA/j6.out" 2>/dev/null | diag; }
pyjson 'import json,sys; c=json.load(open(sys.argv[1])); sys.exit(c.get("ptk") != sys.argv[2])' \
	"$HA/j6.claims" "$ALICE_ID2" 2>&1 | diag
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
ok $rc "(4) tokend restarted: the token survived, alice's next job runs with ptk=${ALICE_ID2:-none}"

# ---- (5) late binding of effects: the redeem rule is edited + SIGHUP between
# two jobs of the same token; the second job's live token follows the new rule
rc=0
sed -i 's|^      live_lifetime = "5m"; check_account = true; }|      live_lifetime = "20m"; entitlements_add = [ "late-ent" ]; check_account = true; }|' \
	"$SB_CONF"
grep -q 'late-ent' "$SB_CONF" || rc=1
sb_tokend_hup || rc=1
run_job pertok-alice j7 "$(body pertok-alice j7)"
pyjson '
import json, sys
a, b, ptk = (json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3])
ok = (a.get("ptk") == b.get("ptk") == ptk and a["exp"] - a["iat"] == 300 and
      b["exp"] - b["iat"] == 1200 and "late-ent" in b.get("entitlements", []) and
      "late-ent" not in a.get("entitlements", []))
if not ok:
    print("before:", a, "after:", b)
sys.exit(0 if ok else 1)' "$HA/j6.claims" "$HA/j7.claims" "$ALICE_ID2" 2>&1 | diag
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
ok $rc "(5) redeem rule edited + SIGHUP between two jobs of one token: live lifetime 5m -> 20m, entitlement late-ent added"

rc=0
if [ -s "$SB/log/mail.log" ]; then
	rc=1
	echo "atd sent mail (a job wrote unexpected output):" | diag
	diag <"$SB/log/mail.log"
fi
if grep -rl 'eyJ' "$SB/log/tokend.log" >/dev/null 2>&1; then
	echo "tokend's log contains something that looks like a token (eyJ...)" | diag
	rc=1
fi
ok $rc "no job output escaped to mail; tokend's log holds no token"

if [ "$FAILED" -ne 0 ]; then
	echo "tokend log:" | diag
	diag <"$SB/log/tokend.log"
	echo "syslog (pam_pertok, atd):" | diag
	grep -v 'tokend\[' "$SB/log/syslog" 2>/dev/null | diag
fi
exit 0
