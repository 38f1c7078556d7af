#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): Debian's real cron daemon runs users' crontab jobs with
# pam_pertok redeeming for holder "cron" (/etc/pam.d/cron), a real tokend,
# logins through the real PAM stack (pamtester), all inside a private mount
# namespace (scripts/sandbox.sh).
#
# alice holds a valid persistable token, bob's is revoked before cron
# starts. Each has an @reboot entry (cron runs those at its start: the
# private /run has no /run/crond.reboot) and a `* * * * *` entry (the next
# minute boundary, so the wait is bounded at 75 s); both users' jobs are due
# in the same run and the same minute:
#   - alice's jobs run as alice and read her live token from the keyring;
#   - the job's environment (cron passes PAM's on) holds PERTOK_KEY, the
#     key's serial, and no token;
#   - `pertok token --refresh` in the job trades the token for a fresh one
#     for the same persistable token, keeping the redemption's auth_time;
#   - bob's jobs do not run, and tokend logged the refusals.
# cron is stopped by its pid. Root only; prints "1..0 # SKIP why" otherwise.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_srcdir
# shellcheck source=../../scripts/sandbox.sh
. "$top_srcdir/scripts/sandbox.sh"
# shellcheck source=tap.sh
. "$top_srcdir/tests/system/tap.sh"

sb_test_preflight "the real cron and pamtester"
for p in /usr/sbin/cron /usr/bin/crontab /usr/bin/keyctl; do
	if [ ! -x "$p" ]; then
		echo "1..0 # SKIP $p not installed (run scripts/install-deps.sh)"
		exit 0
	fi
done
if [ ! -d "$SB_CRONTABS" ]; then
	echo "1..0 # SKIP no crontab spool at $SB_CRONTABS (package cron not installed?)"
	exit 0
fi
sb_enter "$@"

trap sb_cleanup EXIT
trap 'exit 130' INT TERM HUP

# Is the job NAME of USER done (its .done file written)?
job_done() { [ -s "$(sb_home "$1")/$2.done" ]; }

echo "1..13"

sb_setup || bail "sandbox setup failed"
sb_cron_setup || bail "cron setup failed"
# tokend: cron is an actor (uid 0 + /usr/sbin/cron) and a holder; logins
# persist for cron; jobs' live tokens live 8s (a refresh is granted once at
# most half of that is left: the job waits 4s for it)
sed -i -e 's|{ name = "atd";   uid = 0; exe = \[ "/usr/sbin/atd" \]; }|&,\n    { name = "cron";  uid = 0; exe = [ "/usr/sbin/cron" ]; }|' \
	-e 's|holders = \[ "atd" \];|holders = [ "atd", "cron" ];|g' \
	-e 's|live_lifetime = "5m"; check_account = true; }|live_lifetime = "8s"; check_account = true; }|' \
	"$SB_CONF"
sed -i 's|issue holder=atd$|issue holder=atd,cron|' /etc/pam.d/pertok-login
rc=0
grep -q '"/usr/sbin/cron"' "$SB_CONF" || rc=1
grep -q 'live_lifetime = "8s"; check_account = true; }' "$SB_CONF" || rc=1
[ "$(grep -c 'holders = \[ "atd", "cron" \];' "$SB_CONF")" -eq 2 ] || rc=1
grep -q 'issue holder=atd,cron$' /etc/pam.d/pertok-login || rc=1
[ $rc -eq 0 ] || bail "could not add cron to the sandbox's tokend.conf and login stack"
sb_tokend_start || bail "tokend did not start"
HA=$(sb_home pertok-alice)
HB=$(sb_home pertok-bob)
ALICE_UID=$(sb_uid pertok-alice)

# ---- logins: one token each for cron; bob's is revoked
rc=0
login_all pertok-alice pertok-bob || rc=1
ALICE_ID=$(token_id pertok-alice cron)
BOB_ID=$(token_id pertok-bob cron)
[ -n "$ALICE_ID" ] && [ -n "$BOB_ID" ] || rc=1
[ $rc -eq 0 ] || timeout 10 pertokctl list 2>&1 | diag
ok $rc "alice and bob log in and hold a token for holder cron (${ALICE_ID:-none}, ${BOB_ID:-none})"

rc=0
timeout 10 pertokctl revoke "$BOB_ID" 2>&1 | diag
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
[ -z "$(token_id pertok-bob cron)" ] || rc=1
ok $rc "bob's token is revoked (pertokctl revoke)"

# ---- the jobs: a script that records who ran it, its environment and token
cat >"$SB/bin/cron-job" <<EOF
#!/bin/sh
# cron-job NAME: run by cron as the crontab's owner
h=\$HOME
exec >"\$h/\$1.out" 2>&1
id -u >"\$h/\$1.uid"
env >"\$h/\$1.env"
$SB/bin/pertok token >"\$h/\$1.tok"
$SB/bin/pertok token --claims >"\$h/\$1.claims"
keyctl pipe "\$PERTOK_KEY" >"\$h/\$1.key"
sleep 4 # until at most half of the token's 8s is left: refreshed, not left alone
$SB/bin/pertok token --refresh --claims >"\$h/\$1.refreshed"
echo "refresh=\$?"
$SB/bin/pertok token --claims >"\$h/\$1.after"
echo done >"\$h/\$1.done"
EOF
chmod 0755 "$SB/bin/cron-job"
rc=0
for u in pertok-alice pertok-bob; do
	printf 'MAILTO=""\n@reboot /bin/sh %s boot\n* * * * * /bin/sh %s minute\n' \
		"$SB/bin/cron-job" "$SB/bin/cron-job" >"$SB/tmp/crontab.$u"
	timeout 10 crontab -u "$u" "$SB/tmp/crontab.$u" 2>&1 | diag
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	[ -s "$SB_CRONTABS/$u" ] || rc=1
done
ok $rc "crontabs installed with crontab -u (an @reboot and a * * * * * entry each)"

# ---- cron runs: @reboot at once, the minute entries at the next boundary
mark=$(sb_log_mark)
sb_cron_start || bail "cron did not start"
start=$(date +%s)
for _ in $(seq 1 750); do
	job_done pertok-alice boot && job_done pertok-alice minute &&
		[ "$(sb_log_since "$mark" | grep 'op=redeem' | grep -c 'user=pertok-bob')" -ge 2 ] &&
		break
	sleep 0.1
done
waited=$(($(date +%s) - start))
sleep 1 # a job of bob's that were wrongly let through has time to write
sb_cron_stop
echo "waited ${waited}s for the @reboot and the minute jobs" | diag

rc=0
for j in boot minute; do
	[ "$(cat "$HA/$j.uid" 2>/dev/null)" = "$ALICE_UID" ] || rc=1
	job_done pertok-alice "$j" || rc=1
done
[ $rc -eq 0 ] || { cat "$SB/log/cron.log" "$HA"/*.out 2>/dev/null | diag; }
ok $rc "alice's @reboot and minute jobs ran as alice (uid $ALICE_UID)"

rc=0
for j in boot minute; do
	pyjson '
import json, sys
c = json.load(open(sys.argv[1]))
want = {"sub": "pertok-alice", "uid": int(sys.argv[2]), "ptk": sys.argv[3]}
bad = [k for k, v in want.items() if c.get(k) != v]
if c.get("act", {}).get("sub") != "cron":
    bad.append("act.sub")
if c.get("svc") != "cron":
    bad.append("svc")
if not c.get("auth_time"):
    bad.append("auth_time")
if bad:
    print(sys.argv[1], "claims wrong:", bad, json.dumps(c))
    sys.exit(1)
' "$HA/$j.claims" "$ALICE_UID" "$ALICE_ID" 2>&1 | diag
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
ok $rc "alice's jobs read her live token from the keyring: sub, uid, ptk=$ALICE_ID, act.sub=cron, svc=cron"

rc=0
for j in boot minute; do
	if grep -q 'eyJ' "$HA/$j.env" 2>/dev/null || [ ! -s "$HA/$j.env" ]; then
		echo "job $j: environment missing or holding a token:" | diag
		sed 's/=\(eyJ[^.]*\).*/=\1.../' "$HA/$j.env" 2>/dev/null | diag
		rc=1
	fi
done
ok $rc "the jobs' environment holds no token (no eyJ... string)"

rc=0
for j in boot minute; do
	if ! grep -Eq '^PERTOK_KEY=[0-9]+$' "$HA/$j.env" 2>/dev/null; then
		echo "job $j: no PERTOK_KEY=<serial> in its environment" | diag
		rc=1
	elif [ ! -s "$HA/$j.tok" ] || [ "$(cat "$HA/$j.key")" != "$(cat "$HA/$j.tok")" ]; then
		echo "job $j: keyctl pipe \$PERTOK_KEY is not its live token" | diag
		rc=1
	fi
done
ok $rc "cron passed PAM's PERTOK_KEY (the key's serial) on; keyctl pipe \$PERTOK_KEY gives the live token"

rc=0
for j in boot minute; do
	grep -qx 'refresh=0' "$HA/$j.out" 2>/dev/null || rc=1
	pyjson '
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:4])
ok = (a["ptk"] == b["ptk"] == c["ptk"] and a["jti"] != b["jti"] and b["jti"] == c["jti"]
      and a["auth_time"] == b["auth_time"] and b["sub"] == a["sub"])
if not ok:
    print("before:", a, "refreshed:", b, "keyring after:", c)
sys.exit(0 if ok else 1)' "$HA/$j.claims" "$HA/$j.refreshed" "$HA/$j.after" 2>&1 | diag
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
[ $rc -eq 0 ] || cat "$HA/boot.out" "$HA/minute.out" 2>/dev/null | diag
ok $rc "pertok token --refresh in the job: a new token (new jti, same ptk and auth_time), now in the keyring"

rc=0
n=$(timeout 10 pertokctl list --user pertok-alice --json 2>/dev/null |
	pyjson 'import json,sys; d=json.load(sys.stdin); d=d.get("tokens",d) if isinstance(d,dict) else d; print(sum(t["uses"] for t in d if t["id"]==sys.argv[1]))' "$ALICE_ID")
[ "${n:-0}" -eq 4 ] || rc=1
ok $rc "alice's token counted 4 uses (2 redemptions + 2 refreshes; got ${n:-none})"

rc=0
for j in boot minute; do
	if [ -e "$HB/$j.out" ] || [ -e "$HB/$j.uid" ]; then
		echo "bob's $j job ran although his token is revoked:" | diag
		diag <"$HB/$j.out" 2>/dev/null
		rc=1
	fi
done
# cron reports the PAM failure (pam_strerror of PAM_PERM_DENIED) on its stderr
if [ "$(grep -c 'Permission denied' "$SB/log/cron.log")" -lt 2 ]; then
	echo "cron did not report two PAM failures:" | diag
	diag <"$SB/log/cron.log"
	rc=1
fi
ok $rc "bob's @reboot and minute jobs did not run (revoked token); cron reported the PAM failures"

lines=$(sb_log_since "$mark" | grep 'op=redeem' | grep 'user=pertok-bob')
rc=0
[ "$(printf '%s\n' "$lines" | grep -c 'result=deny')" -ge 2 ] || rc=1
printf '%s\n' "$lines" | grep -q 'result=allow' && rc=1
[ $rc -eq 0 ] || sb_log_since "$mark" | diag
ok $rc "tokend refused both of bob's redemptions for cron (op=redeem result=deny user=pertok-bob)"

rc=0
if [ "$waited" -gt 75 ]; then
	rc=1
fi
ok $rc "the minute jobs ran within the 75 s bound (${waited}s)"

rc=0
if grep -l 'eyJ' "$SB/log/tokend.log" "$SB/log/cron.log" "$SB/log/syslog" >/dev/null 2>&1; then
	echo "a log contains something that looks like a token (eyJ...)" | diag
	rc=1
fi
ok $rc "no token in tokend's, cron's or syslog's log"

if [ "$FAILED" -ne 0 ]; then
	echo "tokend log:" | diag
	diag <"$SB/log/tokend.log"
	echo "cron output and syslog:" | diag
	diag <"$SB/log/cron.log" 2>/dev/null
	grep -v 'tokend\[' "$SB/log/syslog" 2>/dev/null | diag
fi
exit 0
