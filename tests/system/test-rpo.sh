#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): remote principals (pertok-rpo(7)) with a real tokend,
# the real glibc NSS (libnss_pertok) and the real PAM stack (pamtester), in
# a private mount namespace (scripts/sandbox.sh). libnss_pertok is
# installed in the namespace only (a read-only overlay on /usr/lib/MULTIARCH,
# as test-offline.sh does); /etc/nsswitch.conf is the sandbox's copy with
# "pertok" for passwd, group and shadow; the cache directory is a temp dir
# bound over /var/cache.
#
#   - tokend refuses to start when the RPO uid range overlaps login.defs
#   - template import prints the sha256 of the exact bytes; a template
#     asking for an entitlement the host does not define is refused
#   - approval: root only; a validity over the template's max is refused
#   - the RPO resolves through glibc (getent passwd / group / shadow, id
#     with the entitlement's group) until it expires or is revoked, then
#     NOTFOUND, also with tokend stopped (from the cache's expiry)
#   - pam_pertok's account stage: success before expiry, PAM_ACCT_EXPIRED
#     after it, with tokend stopped
#   - a tampered stored template is refused
#   - the reaper: a process running as the RPO's uid killed, the home
#     archived, the uid tombstoned, RPO_EXPIRED in the audit log
#   - pertokctl audit rpo: the RPO's records from approval to expiry
#
# Root only; prints "1..0 # SKIP why" where it cannot run.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_srcdir
# shellcheck source=../../scripts/sandbox.sh
. "$top_srcdir/scripts/sandbox.sh"

sb_test_preflight "pamtester, getent"
NSS_MODULE=$(sb_builddir)/nss_pertok/.libs/libnss_pertok.so.2
NSS_TOOL=$(sb_builddir)/tests/nss/nss-tool
if [ ! -f "$NSS_MODULE" ] || [ ! -x "$NSS_TOOL" ]; then
	echo "1..0 # SKIP not built: $NSS_MODULE, $NSS_TOOL (make check builds them)"
	exit 0
fi
if command -v objdump >/dev/null && objdump -p "$NSS_MODULE" | grep -q 'NEEDED.*libasan'; then
	echo "1..0 # SKIP the NSS module is built with ASan: getent cannot load it"
	exit 0
fi
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
if [ ! -d "/usr/lib/$MULTIARCH" ]; then
	echo "1..0 # SKIP no /usr/lib/$MULTIARCH"
	exit 0
fi
CACHE=$("$NSS_TOOL" path)
case $CACHE in
/var/cache/*) ;;
*)
	echo "1..0 # SKIP the module reads $CACHE (not under /var/cache: configure --localstatedir=/var)"
	exit 0
	;;
esac
sb_enter "$@"

OVERLAY=
PROCS=
cleanup() {
	local rc=$? p
	for p in $PROCS; do kill -KILL "$p" 2>/dev/null; done
	[ -n "$OVERLAY" ] && umount -n "/usr/lib/$MULTIARCH" 2>/dev/null
	sb_cleanup
	return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# shellcheck source=tap.sh
. "$top_srcdir/tests/system/tap.sh"

echo "1..20"
sb_setup || bail "sandbox setup failed"

# ---- NSS: the module in the namespace only, passwd/group/shadow through it
mkdir -p "$SB/nsslib" "$SB/var-cache"
install -m 0644 "$NSS_MODULE" "$SB/nsslib/libnss_pertok.so.2" || bail "cannot copy the module"
mount -n -t overlay overlay -o "lowerdir=$SB/nsslib:/usr/lib/$MULTIARCH" "/usr/lib/$MULTIARCH" ||
	bail "cannot mount an overlay on /usr/lib/$MULTIARCH"
OVERLAY=1
mount -n --bind "$SB/var-cache" /var/cache || bail "cannot bind $SB/var-cache over /var/cache"
install -d -m 0755 "$(dirname "$CACHE")"
sb_rewrite /etc/nsswitch.conf sed -e 's/^passwd:.*/passwd:         files pertok/' \
	-e 's/^group:.*/group:          files pertok/' -e 's/^shadow:.*/shadow:         files pertok/'
grep -q '^shadow: *files pertok$' /etc/nsswitch.conf || echo 'shadow:         files pertok' >>/etc/nsswitch.conf
[ -d /run/nscd ] && mount -n -t tmpfs tmpfs /run/nscd
groupadd -g 39777 ptrpo-dbread || bail "groupadd ptrpo-dbread"

# ---- an account stack: pam_pertok in a mode that has nothing to do here
# (issue), then pam_permit: only the expiry check can refuse
cat >/etc/pam.d/rpo-test <<EOF
auth     required  pam_permit.so
account  required  $SB/lib/pam_pertok.so issue
account  required  pam_permit.so
session  required  pam_permit.so
EOF

write_conf() { # EXTRA-RPO-SETTINGS
	cat >"$SB_CONF" <<-EOF
		tokend: {
		    socket = "$SB_SOCKET";
		    state_dir = "$SB/var/lib/pertok";
		    nss_cache = "$CACHE";
		};
		seal: { backend = "software"; };
		entitlements = (
		    { name = "db-read"; groups = [ "ptrpo-dbread" ]; }
		);
		rpo: {
		    home_base = "$SB/home";
		    reap_delay = 0;
		    $1
		};
	EOF
}

# ---- (1) the uid range must not overlap the host's: tokend refuses to start
printf 'UID_MIN 1000\nUID_MAX 2147483000\n' >"$SB/login.defs"
write_conf "login_defs_file = \"$SB/login.defs\";"
out=$(timeout 10 "$SB/bin/tokend" -f -c "$SB_CONF" 2>&1)
rc=$?
[ $rc -ne 0 ] && printf '%s' "$out" | grep -q 'overlaps login.defs UID_MIN..UID_MAX' &&
	ok 0 "tokend refuses to start when the RPO uid range overlaps login.defs' UID_MIN..UID_MAX" ||
	{ printf '%s\n' "status $rc" "$out" | diag; ok 1 "tokend refuses an overlapping uid range"; }

write_conf ""
sb_tokend_start || bail "tokend did not start"

# ---- (2) templates
cat >"$SB/t1.json" <<'EOF'
{"version":1,"iss":"https://idp.partner.example","group":"0f6e1c2a-support",
 "entitlements":["db-read"],
 "policy":{"max_validity":3600,"services":["rpo-test"],"networks":["192.0.2.0/24","local"],
           "amr":["mfa"],"max_sessions":2}}
EOF
want="sha256:$(sha256sum "$SB/t1.json" | cut -d' ' -f1)"
got=$(timeout 10 pertokctl template import "$SB/t1.json" 2>&1)
H=${got#template=}
[ "$got" = "template=$want" ] && ok 0 "template import prints sha256 of the exact bytes ($want)" ||
	{ echo "$got" | diag; ok 1 "template import prints the hash"; }
stored=$SB/var/lib/pertok/templates/sha256-${want#sha256:}.json
[ "$(stat -c '%a %u' "$stored" 2>&1)" = "444 0" ] && cmp -s "$stored" "$SB/t1.json"
ok $? "the template is stored read-only (0444, root) under its hash, byte for byte"

sed 's/"db-read"/"root-shell"/' "$SB/t1.json" >"$SB/t2.json"
out=$(timeout 10 pertokctl template import "$SB/t2.json" 2>&1)
rc=$?
[ $rc -ne 0 ] && printf '%s' "$out" | grep -q 'entitlement "root-shell" is not defined by this host'
ok $? "a template asking for an entitlement the host does not define is refused"

# ---- (3) approval
out=$(timeout 10 runuser -u pertok-alice -- "$SB/bin/pertokctl" rpo approve "$H" --not-after +30m 2>&1)
rc=$?
[ $rc -ne 0 ] && ! timeout 10 pertokctl rpo list | grep -q rpo_
ok $? "a non-root user cannot approve (status $rc: $(printf '%s' "$out" | head -n 1))"
out=$(timeout 10 pertokctl rpo approve "$H" --not-after +2h 2>&1)
rc=$?
[ $rc -ne 0 ] && printf '%s' "$out" | grep -q "max_validity"
ok $? "approval for longer than the template's max_validity (1h) is refused"

# A: short-lived (expires during the test), B: revoked
NOW=$(date +%s)
A_NOT_AFTER=$((NOW + 25))
outa=$(timeout 10 pertokctl rpo approve "$H" --not-after "$A_NOT_AFTER" 2>&1) || bail "approve A: $outa"
outb=$(timeout 10 pertokctl rpo approve "$H" --not-after +30m 2>&1) || bail "approve B: $outb"
kv() { printf '%s\n' "$1" | sed -n "s/^$2=//p"; }
A=$(kv "$outa" name) A_ID=$(kv "$outa" rpo) A_UID=$(kv "$outa" uid)
B=$(kv "$outb" name) B_ID=$(kv "$outb" rpo) B_UID=$(kv "$outb" uid)
case $A in rp-????????) rc=0 ;; *) rc=1 ;; esac
[ "$A_UID" -ge 2147287040 ] && [ "$A_UID" -le 2147352575 ] && [ "$A_UID" != "$B_UID" ] || rc=1
ok $rc "approval names the RPO rp-<id> with a uid from the default range ($A uid $A_UID, $B uid $B_UID)"

# ---- (4) glibc resolves them (the cache follows within a round)
for _ in $(seq 50); do getent passwd "$A" >/dev/null && break; sleep 0.1; done
rc=0
[ "$(getent passwd "$A")" = "$A:*:$A_UID:$A_UID:pertok remote principal:$SB/home/$A:/bin/bash" ] || rc=1
[ "$(getent passwd "$A_UID" | cut -d: -f1)" = "$A" ] || rc=1
[ "$(getent group "$A")" = "$A:*:$A_UID:" ] || rc=1
[ "$(getent shadow "$A")" = "$A:*::::::$((A_NOT_AFTER / 86400)):" ] || rc=1
getent group ptrpo-dbread | grep -q "$A" || true # files answers the group itself
id "$A" 2>&1 | grep -q "39777(ptrpo-dbread)" || rc=1
[ $rc -eq 0 ] || { getent passwd "$A"; getent group "$A"; getent shadow "$A"; id "$A"; } 2>&1 | diag
ok $rc "getent passwd/group/shadow answer the RPO through glibc (sp_expire its last day), id shows the entitlement's group"
[ "$(stat -c '%u %g %a' "$SB/home/$A")" = "$A_UID $A_UID 700" ]
ok $? "its home $SB/home/$A belongs to it (0700)"

# ---- (5) the account stage before expiry
out=$(timeout 10 pamtester rpo-test "$A" acct_mgmt 2>&1)
ok $? "pam_pertok's account stage lets the RPO in before its not_after ($out)"

# ---- (6) revoke B: gone from NSS at once; the reaper ends its processes,
# archives its home, tombstones its uid
setpriv --reuid="$B_UID" --regid="$B_UID" --clear-groups sleep 300 &
BPID=$!
PROCS="$PROCS $BPID"
echo "$B's file" >"$SB/home/$B/notes"
chown "$B_UID:$B_UID" "$SB/home/$B/notes"
timeout 10 pertokctl rpo revoke "$B_ID" >/dev/null || bail "revoke B"
for _ in $(seq 30); do getent passwd "$B" >/dev/null || break; sleep 0.1; done
getent passwd "$B" >/dev/null
[ $? -eq 2 ] && ! getent shadow "$B" >/dev/null
ok $? "a revoked RPO is not found by getent passwd/shadow"
# housekeeping every 5 s; the record comes after the processes are gone
expired_rec() { # ID RESULT
	grep '"op":"RPO_EXPIRED"' "$SB/var/lib/pertok/audit.log" | grep -q "\"result\":\"$2\".*\"id\":\"$1\""
}
for _ in $(seq 150); do
	! kill -0 "$BPID" 2>/dev/null && expired_rec "$B_ID" revoked && break
	sleep 0.1
done
rc=0
kill -0 "$BPID" 2>/dev/null && rc=1
wait "$BPID" 2>/dev/null
[ $? -eq 137 ] || rc=1
ok $rc "the reaper killed the process running as the revoked RPO's uid"
arch=$(ls -d "$SB/var/lib/pertok/archive/$B-"* 2>/dev/null | head -n 1)
rc=0
[ -d "$SB/home/$B" ] && rc=1
[ -n "$arch" ] && [ "$(cat "$arch/notes" 2>/dev/null)" = "$B's file" ] || rc=1
[ -n "$arch" ] && [ "$(stat -c '%u %a' "$arch")" = "0 700" ] || rc=1
[ $rc -eq 0 ] || { ls -la "$SB/var/lib/pertok" "$SB/home"; grep rpo "$SB/log/tokend.log"; } 2>&1 | diag
ok $rc "its home was moved to the archive ($arch), root's, 0700"
timeout 10 pertokctl rpo show "$B_ID" | grep -q "uid=$B_UID state=expired" &&
	grep -q "\"id\":\"$B_ID\",\"name\":\"$B\",\"uid\":$B_UID,.*\"expired\":true" "$SB/var/lib/pertok/rpo.json" &&
	expired_rec "$B_ID" revoked
ok $? "its record stays as the tombstone of uid $B_UID (rpo.json), RPO_EXPIRED (revoked) is in the audit log"

# ---- (7) a tampered template is refused
chmod 0644 "$stored" && sed -i 's/"max_sessions":2/"max_sessions":9/' "$stored" && chmod 0444 "$stored"
out=$(timeout 10 pertokctl template show "$H" 2>&1)
rc=$?
[ $rc -ne 0 ] && printf '%s' "$out" | grep -q "modified after import" &&
	grep -q 'op=template.load result=deny.*tampered' "$SB/log/tokend.log"
ok $? "one byte changed in the stored template: refused on load, tokend logs the tampering"
chmod 0644 "$stored" && cp "$SB/t1.json" "$stored" && chmod 0444 "$stored"

# ---- (8) A expires with tokend stopped: NSS and PAM refuse it from the cache
setpriv --reuid="$A_UID" --regid="$A_UID" --clear-groups sleep 300 &
APID=$!
PROCS="$PROCS $APID"
sb_tokend_stop
while [ "$(date +%s)" -lt "$A_NOT_AFTER" ]; do sleep 0.5; done
getent passwd "$A" >/dev/null
prc=$?
getent shadow "$A" >/dev/null
src=$?
[ $prc -eq 2 ] && [ $src -eq 2 ]
ok $? "past its not_after, with tokend stopped, getent passwd/shadow do not find the RPO (status $prc, $src)"
out=$(timeout 10 pamtester rpo-test "$A" acct_mgmt 2>&1)
rc=$?
[ $rc -ne 0 ] && printf '%s' "$out" | grep -qi "expired"
ok $? "pam_pertok's account stage returns PAM_ACCT_EXPIRED with tokend stopped ($out)"

# ---- (9) tokend again: the reaper removes A
sb_tokend_start || bail "tokend did not start again"
for _ in $(seq 150); do
	! kill -0 "$APID" 2>/dev/null && expired_rec "$A_ID" expired && break
	sleep 0.1
done
rc=0
kill -0 "$APID" 2>/dev/null && rc=1
expired_rec "$A_ID" expired || rc=1
timeout 10 pertokctl rpo list | grep -q "rpo=$A_ID name=$A uid=$A_UID state=expired" || rc=1
ok $rc "after its not_after the reaper ended its process and recorded RPO_EXPIRED (expired)"

# ---- (10) pertokctl audit rpo
out=$(timeout 10 pertokctl audit rpo "$A" --file "$SB/var/lib/pertok/audit.log" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -q ' rpo.approve  allow .*uid='"$A_UID" &&
	printf '%s\n' "$out" | grep -q ' RPO_EXPIRED  expired .*uid '"$A_UID"' tombstoned' &&
	! printf '%s\n' "$out" | grep -q "$B" && [ $rc -eq 0 ]
ok $? "pertokctl audit rpo $A prints its records from approval to RPO_EXPIRED, none of $B's"
[ $FAILED -eq 0 ] || printf '%s\n' "$out" | diag

# ---- (11) the accept mode's records (rpo.accept, rpo.deny): written here
# as tokend writes them (hash-chained lines), into a copy of the log: one
# login as A, one as another RPO that used A too (rpos=), one of B's
cp "$SB/var/lib/pertok/audit.log" "$SB/tmp/audit.log"
/usr/bin/python3 - "$SB/tmp/audit.log" "$A" "$A_ID" "$B" <<'PY'
import hashlib, json, sys, time
path, a, a_id, b = sys.argv[1:5]
last = [json.loads(l) for l in open(path) if l.strip()][-1]
seq, prev = last["seq"], last["hash"]
def rec(**f):
    global seq, prev
    seq += 1
    body = json.dumps(dict(seq=seq, time=int(time.time()), type="record", **f, prev=prev),
                      separators=(",", ":"))[:-1]
    prev = hashlib.sha256(body.encode()).hexdigest()
    return body + ',"hash":"' + prev + '"}\n'
with open(path, "a") as out:
    out.write(rec(op="rpo.accept", result="allow", user=a, service="sshd", reason="accepted rpos=" + a,
                  id=a_id, sub_hmac="5f" * 16, rhost="192.0.2.7", iss="https://idp.partner.example",
                  amr="otp"))
    out.write(rec(op="rpo.accept", result="allow", user="rp-00000000", service="sshd",
                  reason="accepted rpos=rp-00000000," + a, sub_hmac="6e" * 16, rhost="192.0.2.8"))
    out.write(rec(op="rpo.deny", result="deny", user=b, service="sshd", reason="expired",
                  sub_hmac="7d" * 16, rhost="192.0.2.9"))
PY
out=$(timeout 10 pertokctl audit rpo "$A_ID" --file "$SB/tmp/audit.log" 2>&1)
printf '%s\n' "$out" | grep -q " rpo.accept   allow    sshd       sub=$(printf '5f%.0s' $(seq 16)) iss=https://idp.partner.example from=192.0.2.7 amr=otp accepted" &&
	printf '%s\n' "$out" | grep -q "sub=$(printf '6e%.0s' $(seq 16)) from=192.0.2.8 accepted rpos=rp-00000000,$A" &&
	! printf '%s\n' "$out" | grep -q "192.0.2.9" &&
	! printf '%s\n' "$out" | grep -q "HASH MISMATCH"
rc=$?
[ $rc -eq 0 ] || printf '%s\n' "$out" | diag
ok $rc "pertokctl audit rpo (by id) shows each access: the subject's HMAC, the issuer, where from, amr; a login that used it among others; not B's"
exit 0
