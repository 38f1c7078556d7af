#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): an offline host (issue 10), through the real glibc, the
# real at daemon and the real PAM stack (pamtester), with a real tokend, in a
# private mount namespace (scripts/sandbox.sh). alice and bob are DIRECTORY
# users: a test-only NSS module (tests/daemon/nss-ptfail.c, libnss_ptfail.so.2)
# stands for LDAP/SSSD, serving a passwd and a group file of the test's and
# switched up, down (UNAVAIL, EHOSTUNREACH: the server unreachable) or gone
# (NOTFOUND: the directory removed them). libnss_ptfail and libnss_pertok are
# installed in the namespace only: a read-only overlay puts them into
# /usr/lib/MULTIARCH (glibc's own search path: setuid at and atd find them
# too); /etc/nsswitch.conf (the sandbox's copy) says "passwd: files ptfail
# pertok", "group: files ptfail pertok"; the cache directory is a temp dir
# bound over /var/cache. alice and bob log in while the directory is up
# (tokend captures their identities and writes the cache), then it goes down:
# glibc answers them from the pertok cache.
#
#   (1) directory down, tokend.offline = "deny" (the default): alice's at job
#       with pam_pertok redeem in atd's stack is refused, tokend naming the
#       unreachable directory; with "cached" (reload) it runs as alice (uid,
#       name, groups from the cache), tokend deciding from the identity
#       recorded with the token and saying so; without pam_pertok in the
#       stack the job runs as alice too (NSS alone)
#   (2) the directory removed alice (gone): her job is refused as a user
#       gone, even with "cached" and though the cache still resolves her
#   (3) after `pertokctl revoke` of her last token alice no longer resolves,
#       within a bounded wait
#   (4) bob's break-glass console login (auth sufficient pam_pertok.so
#       recovery, then pam_deny; Debian's stock pam_unix account, session)
#       with a one-time code while the directory is down: success once, the
#       same code again refused, an unknown user answered exactly like a
#       wrong code, lockout after max_failures
#
# Root only; prints "1..0 # SKIP why" where it cannot run.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_srcdir
# shellcheck source=../../scripts/sandbox.sh
. "$top_srcdir/scripts/sandbox.sh"

sb_test_preflight "atd, at, getent and pamtester"
NSS_MODULE=$(sb_builddir)/nss_pertok/.libs/libnss_pertok.so.2
NSS_TOOL=$(sb_builddir)/tests/nss/nss-tool
# the directory: built by tests/daemon/daemon.inc (check_PROGRAMS)
DIR_MODULE=$(sb_builddir)/tests/daemon/nss-ptfail.so
if [ ! -f "$NSS_MODULE" ] || [ ! -x "$NSS_TOOL" ] || [ ! -f "$DIR_MODULE" ]; then
	echo "1..0 # SKIP not built: $NSS_MODULE, $NSS_TOOL, $DIR_MODULE (make check builds them)"
	exit 0
fi
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
if [ ! -d "/usr/lib/$MULTIARCH" ] || ! [ -f "/usr/lib/$MULTIARCH/security/pam_unix.so" ]; then
	echo "1..0 # SKIP no /usr/lib/$MULTIARCH with Linux-PAM's modules"
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
cleanup() {
	local rc=$?
	[ -n "$OVERLAY" ] && umount -n "/usr/lib/$MULTIARCH" 2>/dev/null
	sb_cleanup
	return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ok, diag, bail: the system tests' one copy
# shellcheck source=tap.sh
. "$top_srcdir/tests/system/tap.sh"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

echo "1..16"
sb_setup || bail "sandbox setup failed"

# ---- the directory: alice, bob, their groups and the group $SB_GROUP move
# from /etc (where sb_setup put them) to the directory's files; no shadow
# lines (a directory user has none)
DIRDB=$SB/directory
mkdir -p "$DIRDB"
chmod 0755 "$DIRDB"
awk -F: '$1 == "pertok-alice" || $1 == "pertok-bob"' /etc/passwd >"$DIRDB/passwd"
awk -F: -v g="$SB_GROUP" '$1 == "pertok-alice" || $1 == "pertok-bob" || $1 == g' /etc/group >"$DIRDB/group"
chmod 0644 "$DIRDB/passwd" "$DIRDB/group"
[ "$(wc -l <"$DIRDB/passwd")" -eq 2 ] && [ "$(wc -l <"$DIRDB/group")" -eq 3 ] ||
	bail "the directory's files: $(cat "$DIRDB/passwd" "$DIRDB/group")"
for u in pertok-alice pertok-bob; do sb_drop_user "$u"; done
sb_rewrite /etc/group awk -F: -v g="$SB_GROUP" '$1 != g'
[ -f /etc/gshadow ] && sb_rewrite /etc/gshadow awk -F: -v g="$SB_GROUP" '$1 != g'
# every process of the test (tokend, atd, at, pamtester, getent) reads them
export PT_NSSFAIL_DIR=$DIRDB PT_NSSFAIL_STATE=$DIRDB/state
directory() { # up | down | gone; then waits out tokend's account cache (2 s)
	echo "$1" >"$PT_NSSFAIL_STATE"
	sleep 2.1
}
echo up >"$PT_NSSFAIL_STATE"

# ---- the modules, installed in the namespace only
mkdir -p "$SB/nsslib" "$SB/var-cache"
install -m 0644 "$NSS_MODULE" "$SB/nsslib/libnss_pertok.so.2" || bail "cannot copy the module"
install -m 0644 "$DIR_MODULE" "$SB/nsslib/libnss_ptfail.so.2" || bail "cannot copy $DIR_MODULE"
mount -n -t overlay overlay -o "lowerdir=$SB/nsslib:/usr/lib/$MULTIARCH" "/usr/lib/$MULTIARCH" ||
	bail "cannot mount an overlay on /usr/lib/$MULTIARCH"
OVERLAY=1
mount -n --bind "$SB/var-cache" /var/cache || bail "cannot bind $SB/var-cache over /var/cache"
install -d -m 0755 "$(dirname "$CACHE")"
sb_rewrite /etc/nsswitch.conf sed -e 's/^passwd:.*/passwd:         files ptfail pertok/' \
	-e 's/^group:.*/group:          files ptfail pertok/'
grep -q '^passwd: *files ptfail pertok$' /etc/nsswitch.conf &&
	grep -q '^group: *files ptfail pertok$' /etc/nsswitch.conf ||
	bail "nsswitch.conf: $(grep -E '^(passwd|group):' /etc/nsswitch.conf)"

# ---- tokend: the sandbox's, plus the cache, a code type, and a redeem rule
# on the group $SB_GROUP (with the directory down, the recorded groups)
write_conf() { # OFFLINE-SETTING
	cat >"$SB_CONF" <<-EOF
		tokend: {
		    socket = "$SB_SOCKET";
		    state_dir = "$SB/var/lib/pertok";
		    nss_cache = "$CACHE";
		    live_lifetime = "5m";
		    persist_lifetime = "1d";
		    $1
		};
		seal: { backend = "software"; };
		actors = (
		    { name = "login"; uid = 0; exe = [ "/usr/bin/pamtester" ]; },
		    { name = "atd";   uid = 0; exe = [ "/usr/sbin/atd" ]; }
		);
		issue = (
		    { name = "logins"; actors = [ "login" ]; groups = [ "$SB_GROUP" ]; holders = [ "atd" ]; }
		);
		redeem = (
		    { name = "jobs"; holders = [ "atd" ]; groups = [ "$SB_GROUP" ]; }
		);
		types = (
		    { name = "recovery"; length = 20; case_sensitive = false;
		      charset = { letters = true; digits = false; special = false; };
		      ttl = "1h"; num_uses = 1; max_failures = 3; lockout = "1h"; }
		);
	EOF
}
write_conf ""
sb_tokend_start || bail "tokend did not start"

# ---- logins while the directory is up
ALICE_UID=$(sb_uid pertok-alice) || bail "the directory does not answer alice"
BOB_UID=$(sb_uid pertok-bob)
HA=$(sb_home pertok-alice)
rc=0
login_all pertok-alice pertok-bob || rc=1
# the cache follows within tokend's next round (at most 100 ms after it)
for _ in $(seq 100); do
	getent -s pertok passwd pertok-alice >/dev/null && getent -s pertok passwd pertok-bob >/dev/null && break
	sleep 0.1
done
# the directory's entry but the password field: the cache says "*" (no
# shadow line to look for), as SSSD does
want_a=$(getent -s ptfail passwd pertok-alice | awk -F: -v OFS=: '{ $2 = "*"; print }')
got_a=$(getent -s pertok passwd pertok-alice)
getent -s files passwd pertok-alice >/dev/null && rc=1
[ -n "$want_a" ] && [ "$got_a" = "$want_a" ] || rc=1
[ $rc -eq 0 ] || printf 'directory: %s\npertok: %s\n' "$want_a" "$got_a" | diag
ok $rc "after their logins tokend's cache answers alice and bob as the directory does (getent -s pertok, -s ptfail; not in /etc/passwd)"

# the admin issues bob a recovery code (one outstanding code per user and type)
issue_code() { timeout 10 pertokctl code issue --type recovery --user pertok-bob 2>>"$SB/tmp/code.err"; }
CODE1=$(issue_code)
[ ${#CODE1} -eq 20 ] || { diag <"$SB/tmp/code.err"; bail "pertokctl code issue failed"; }

# ---- the directory goes down: alice and bob only in the cache
directory down
rc=0
getent -s ptfail passwd pertok-alice >/dev/null && rc=1
[ "$(getent passwd pertok-alice)" = "$want_a" ] || rc=1
[ "$(id -u pertok-bob 2>/dev/null)" = "$BOB_UID" ] || rc=1
ok $rc "the directory down (ptfail UNAVAIL): glibc still resolves alice and bob (files ptfail pertok)"

# ---- (1) an at job of alice's while the directory is down
run_alice_job() { # NAME
	ATD_OUT=
	rm -f "$HA/$1.id"
	J=$(sb_at_queue pertok-alice "$1" "id >$HA/$1.id") || J=
	[ -n "$J" ] && ATD_OUT=$(sb_atd_run)
	[ -n "$ATD_OUT" ] && printf 'atd: %s\n' "$ATD_OUT" | diag >&2
	cat "$HA/$1.id" 2>/dev/null
}
alice_id_ok() { # ID-OUTPUT
	case $1 in
	"uid=$ALICE_UID(pertok-alice) gid=$ALICE_UID(pertok-alice) groups=$ALICE_UID(pertok-alice),"*"($SB_GROUP)"*) return 0 ;;
	esac
	return 1
}
# the job refused; tokend's redeem line for alice after MARK has WORDS
refused_job() { # MARK WORDS ID-OUTPUT
	local line
	line=$(sb_log_since "$1" | grep 'op=redeem' | grep 'user=pertok-alice')
	[ -z "$3" ] && printf '%s\n' "$line" | grep 'result=deny' | grep -qF "$2"
}

# tokend.offline = "deny" (the default): refused, naming the directory
mark=$(sb_log_mark)
got=$(run_alice_job deny)
refused_job "$mark" 'the directory is unreachable (getpwnam_r(pertok-alice): No route to host)' "$got"
rc=$?
[ $rc -eq 0 ] || { printf 'id: %s\n' "$got"; sb_log_since "$mark" | grep 'op=redeem'; } | diag
ok $rc "(1) offline = \"deny\": alice's job with pam_pertok redeem is refused, tokend naming the unreachable directory"

# tokend.offline = "cached" (a reload): the job runs, from the recorded identity
write_conf 'offline = "cached";'
sb_tokend_hup
mark=$(sb_log_mark)
got=$(run_alice_job redeemed)
rc=0
alice_id_ok "$got" || rc=1
sb_log_since "$mark" | grep 'op=redeem' | grep 'user=pertok-alice' | grep 'result=allow' |
	grep -qF 'account from the identity recorded with the token (uid '"$ALICE_UID"'), the directory being unreachable' ||
	rc=1
[ $rc -eq 0 ] || { printf 'id: %s\n' "$got"; sb_log_since "$mark"; } | diag
ok $rc "(1) offline = \"cached\": alice's job with pam_pertok redeem runs as alice (${got:-no output}); tokend says it decided from the recorded identity"

# the same job through atd's stack without pertok: what NSS alone gives
cp /etc/pam.d/atd "$SB/tmp/atd.pam"
printf '%s\n' "auth     required  pam_permit.so" "account  required  pam_permit.so" \
	"session  required  pam_permit.so" "password required  pam_deny.so" >/etc/pam.d/atd
got=$(run_alice_job plain)
rc=0
alice_id_ok "$got" || rc=1
grep -qx 'exit=0' "$HA/plain.out" 2>/dev/null || rc=1
[ $rc -eq 0 ] || { echo "job ${J:-not queued}, id: $got" | diag; diag <"$HA/plain.out"; }
ok $rc "(1) alice's at job (atd stack without pam_pertok) ran as alice, known only to the cache: ${got:-no output}"
cp "$SB/tmp/atd.pam" /etc/pam.d/atd

# ---- (2) the directory removed alice: refused as a user gone, "cached" or
# not, though the cache still answers for her (her token is valid)
directory gone
mark=$(sb_log_mark)
[ "$(getent passwd pertok-alice)" = "$want_a" ]
ok $? "(2) the directory says alice is gone (ptfail NOTFOUND); the cache still resolves her"
got=$(run_alice_job gone)
refused_job "$mark" 'account pertok-alice does not exist' "$got"
rc=$?
sb_log_since "$mark" | grep 'op=redeem' | grep 'user=pertok-alice' | grep -q 'unreachable' && rc=1
[ $rc -eq 0 ] || { printf 'id: %s\n' "$got"; sb_log_since "$mark" | grep 'op=redeem'; } | diag
ok $rc "(2) offline = \"cached\": alice's job is refused as a user gone (account pertok-alice does not exist), not from the recorded identity"
directory down

# ---- (3) revocation of her last token
ID=$(timeout 10 pertokctl list --user pertok-alice --json 2>/dev/null |
	/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("tokens",d) if isinstance(d,dict) else d; print(" ".join(t["id"] for t in d))')
rc=0
[ -n "$ID" ] && [ "${ID#* }" = "$ID" ] || rc=1
timeout 10 pertokctl revoke "$ID" >"$SB/tmp/revoke.log" 2>&1 || { rc=1; diag <"$SB/tmp/revoke.log"; }
ok $rc "(3) pertokctl revoke of alice's only token (${ID:-none})"

t0=$(now_ms)
gone=
while [ $(($(now_ms) - t0)) -lt 5000 ]; do
	if ! getent passwd pertok-alice >/dev/null && ! getent passwd "$ALICE_UID" >/dev/null; then
		gone=$(($(now_ms) - t0))
		break
	fi
	sleep 0.05
done
getent passwd pertok-alice >/dev/null
rc=$?
[ -n "$gone" ] && [ $rc -eq 2 ] && rc=0 || rc=1
ok $rc "(3) alice no longer resolves by name or uid (getent exit 2) ${gone:+after $gone ms} (bound 5000 ms)"
[ "$(id -u pertok-bob 2>/dev/null)" = "$BOB_UID" ]
ok $? "(3) bob, whose token stays, still resolves"

# ---- (4) break-glass console login of bob (known only to the cache: the
# directory is down)
cat >/etc/pam.d/pertok-console <<EOF
# a console (login) stack on an offline host: a recovery code is the way in
auth     requisite   pam_nologin.so
auth     sufficient  $SB/lib/pam_pertok.so recovery type=recovery delay=300
auth     requisite   pam_deny.so
# Debian's stock common-account: pam_unix passes a user from the cache,
# whose password field "*" sends it to no /etc/shadow line
account  [success=1 new_authtok_reqd=done default=ignore] pam_unix.so
account  requisite   pam_deny.so
account  required    pam_permit.so
session  required    pam_env.so readenv=1
session  required    pam_limits.so
session  optional    pam_keyinit.so force revoke
session  required    pam_unix.so
EOF
console() { # USER CODE -> pamtester's output and status
	printf '%s\n' "$2" | timeout 30 pamtester -v -I tty=tty1 pertok-console "$1" \
		authenticate acct_mgmt open_session close_session 2>&1
}
wrong=$(printf '%s' "$CODE1" | tr 'A-Za-z' 'B-ZAb-za')
refused() { printf '%s\n' "$1" | grep -q 'Recovery code not accepted\.$'; }

out=$(console pertok-bob "$CODE1")
rc=$?
printf '%s\n' "$out" | grep -q 'successfully opened a session' || rc=1
[ $rc -eq 0 ] || printf '%s\n' "$out" | diag
ok $rc "(4) bob's console login with a good code: authenticate, acct_mgmt (pam_unix through the cache), open_session"

out=$(console pertok-bob "$CODE1")
rc=$?
[ $rc -ne 0 ] && refused "$out" && rc=0 || rc=1
[ $rc -eq 0 ] || printf '%s\n' "$out" | diag
ok $rc "(4) the same code again is refused (Recovery code not accepted.)"

# with "x" in the password field pam_unix's account stage would look for
# a shadow line bob does not have and refuse him AFTER his code was spent
# (the stock stack above passed him: check why)
rc=0
getent passwd pertok-bob | awk -F: '$2 == "*" { found = 1 } END { exit !found }' || rc=1
[ $rc -eq 0 ] || getent passwd pertok-bob | diag
ok $rc "(4) the cache's password field for bob is \"*\": Debian's stock pam_unix account looks for no shadow line"

# a new code for bob, issued while he is known only to the cache
CODE2=$(issue_code)
[ ${#CODE2} -eq 20 ] || { diag <"$SB/tmp/code.err"; bail "pertokctl code issue (bob known only to the cache) failed"; }

# an unknown user and a wrong code: the same words and PAM code (pamtester
# prints pam_strerror of the stack's result) once the user's name is taken out
a=$(console pertok-bob "$wrong")
ra=$?
b=$(console pertok-nosuch "$wrong")
rb=$?
a=${a//pertok-bob/USER}
b=${b//pertok-nosuch/USER}
rc=0
[ $ra -ne 0 ] && [ $ra -eq $rb ] && [ "$a" = "$b" ] || rc=1
refused "$a" || rc=1
printf '%s\n' "$a" | grep -q 'Authentication failure' || rc=1
[ $rc -eq 0 ] || printf 'wrong code (%s):\n%s\nunknown user (%s):\n%s\n' "$ra" "$a" "$rb" "$b" | diag
ok $rc "(4) an unknown user gets exactly a wrong code's answer (status $ra, same output)"

# max_failures = 3: two more wrong codes lock bob out; then his code 2, good
# until the third failure, is refused with the same answer (tokend: locked out)
for _ in 1 2; do console pertok-bob "$wrong" >/dev/null; done
mark=$(sb_log_mark)
out=$(console pertok-bob "$CODE2")
rc=$?
out=${out//pertok-bob/USER}
[ $rc -ne 0 ] && [ "$out" = "$a" ] && rc=0 || rc=1
sb_log_since "$mark" | grep 'op=code-check' | grep 'user=pertok-bob' | grep -q 'locked out' || rc=1
[ $rc -eq 0 ] || { printf '%s\n' "$out"; sb_log_since "$mark"; } | diag
ok $rc "(4) after 3 failures bob is locked out: his good code is refused with the same answer (tokend: locked out)"

rc=0
grep -i 'recovery' "$SB/log/tokend.log" | grep -q 'pertok-bob' || rc=1
grep -q "$CODE1\|$CODE2" "$SB/log/tokend.log" "$SB/log/syslog" 2>/dev/null && rc=1
[ $rc -eq 0 ] || grep -i 'code\|recovery' "$SB/log/tokend.log" | diag
ok $rc "tokend logged bob's code checks and no log holds a code"
exit 0
