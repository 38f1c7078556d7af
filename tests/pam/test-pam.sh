#!/bin/sh
# SPDX-License-Identifier: MIT
#
# pam_pertok against a real tokend, through pam_wrapper and libpamtest.
#
# Creates a temporary directory with a tokend configuration (state and
# socket inside it), starts tokend in the foreground in the background,
# writes PAM service files that name the built module by absolute path,
# runs tests/pam/test-pam (cmocka, TAP output; or the program named by
# PERTOK_PAM_TEST, e.g. test-recovery) under pam_wrapper and stops tokend by
# its PID. Needs root: tokend reads shadow and matches uid 0
# actors, and the module chowns keys. Uses the existing users root and
# nobody; changes nothing outside the temporary directory.
set -u

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (tokend reads shadow)"
	exit 0
fi

top_builddir=${top_builddir:-$(pwd)}
tokend=$top_builddir/tokend/tokend
test_pam=$top_builddir/tests/pam/${PERTOK_PAM_TEST:-test-pam}
module=$top_builddir/pam_pertok/.libs/pam_pertok.so

for f in "$tokend" "$test_pam" "$module"; do
	if [ ! -x "$f" ] && [ ! -f "$f" ]; then
		echo "Bail out! $f is missing (run make first)"
		exit 1
	fi
done
if ! getent passwd nobody >/dev/null; then
	echo "1..0 # SKIP no user nobody on this host"
	exit 0
fi
wrapper=libpam_wrapper.so
setitems=
if pkg-config --exists pam_wrapper 2>/dev/null; then
	l=$(pkg-config --libs pam_wrapper)
	[ -f "$l" ] && wrapper=$l
	d=$(pkg-config --variable=modules pam_wrapper)
	[ -n "$d" ] && [ -f "$d/pam_set_items.so" ] && setitems=$d/pam_set_items.so
fi
# Linux-PAM's own modules, named by absolute path like ours.
pamdir=
for d in /lib/x86_64-linux-gnu/security /usr/lib/x86_64-linux-gnu/security \
	/lib/security /usr/lib/security /lib64/security /usr/lib64/security; do
	if [ -f "$d/pam_permit.so" ] && [ -f "$d/pam_deny.so" ] && [ -f "$d/pam_debug.so" ]; then
		pamdir=$d
		break
	fi
done
if [ -z "$pamdir" ]; then
	echo "1..0 # SKIP pam_permit.so, pam_deny.so or pam_debug.so not found"
	exit 0
fi
permit=$pamdir/pam_permit.so
deny=$pamdir/pam_deny.so
debug=$pamdir/pam_debug.so

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pertok-pam.XXXXXX") || exit 1
chmod 0700 "$tmp"
tokend_pid=
# shellcheck disable=SC2317 # called through trap
cleanup() {
	if [ -n "$tokend_pid" ]; then
		kill -TERM "$tokend_pid" 2>/dev/null
		wait "$tokend_pid" 2>/dev/null
	fi
	if [ "${PERTOK_TEST_KEEP:-0}" = 1 ]; then
		echo "# kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

sock=$tmp/tokend.sock
absent=$tmp/absent.sock   # nobody listens here: "tokend is down"
slow=$tmp/slow.sock       # test-pam listens here and never answers

# The login actor is the test program itself (peer exe); the others are
# told apart by PAM service, since they all run as uid 0 in one process.
# A libtool wrapper script would make the exe unknowable: then "*".
exe=$(readlink -f "$test_pam")
if [ "$(head -c 2 "$exe")" = "#!" ]; then
	exe="*"
fi
# PERTOK_TEST_VALGRIND=1 (tests/run-valgrind.sh): the module runs inside
# test-pam under memcheck, so the peer tokend sees is valgrind's tool
vg=
if [ -n "${PERTOK_TEST_VALGRIND:-}" ]; then
	vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
	exe=$(readlink -f /usr/libexec/valgrind/memcheck-amd64-linux)
fi

# test-recovery: a program running the stack as uid 65534 (a screen locker,
# say) may check codes only as a configured actor
extra_actors=
if [ "${PERTOK_PAM_TEST:-test-pam}" = test-recovery ]; then
	extra_actors=",
	{ name = \"locker\"; uid = 65534; exe = [ \"$exe\" ]; }"
fi

cat >"$tmp/tokend.conf" <<EOF
tokend: {
	socket = "$sock";
	state_dir = "$tmp/state";
	live_lifetime = "5m";
	persist_lifetime = "1d";
	max_outstanding = 4;
};
seal: { backend = "software"; };
actors = (
	{ name = "atd";   uid = 0; exe = [ "*" ];
	  services = [ "atd", "pt-atd-notoken", "pt-atd-nokeyring", "pt-atd-down",
		       "pt-probe-notoken", "pt-probe-notoken-deny", "pt-probe-setcred",
		       "pt-cache-fail", "pt-cache-ok", "pt-user-change" ]; },
	{ name = "cron";  uid = 0; exe = [ "*" ]; services = [ "cron" ]; },
	{ name = "kiosk"; uid = 0; exe = [ "$exe" ]; services = [ "pt-issue-kiosk" ]; },
	{ name = "login"; uid = 0; exe = [ "$exe" ]; }$extra_actors
);
issue = (
	{ name = "logins"; actors = [ "login" ]; holders = [ "atd", "cron" ];
	  entitlements = [ "reports", "db-admin" ]; }
);
redeem = (
	{ name = "no-cron"; action = "deny"; holders = [ "cron" ]; },
	{ name = "jobs"; holders = [ "atd" ]; live_lifetime = "5m"; }
);
grants = (
	{ name = "pam-test"; users = [ "nobody" ]; servicers = [ "root" ];
	  commands = [ "/bin/echo" ]; }
);
types = (
	{ name = "recovery"; length = 20; case_sensitive = false;
	  charset = { letters = true; digits = false; special = false; };
	  ttl = "1h"; num_uses = 1; max_failures = 3; lockout = "1h"; }
);
EOF

if ! "$tokend" --check-config -c "$tmp/tokend.conf" >"$tmp/check.log" 2>&1; then
	echo "Bail out! tokend --check-config failed: $(cat "$tmp/check.log")"
	exit 1
fi

"$tokend" -f -c "$tmp/tokend.conf" >"$tmp/tokend.log" 2>&1 &
tokend_pid=$!
i=0
# ready = a round trip (the front listens before the key holder is ready)
while ! "$top_builddir/tools/pertokctl" -s "$sock" status >/dev/null 2>&1; do
	if ! kill -0 "$tokend_pid" 2>/dev/null; then
		tokend_pid=
		echo "Bail out! tokend exited: $(tail -n 5 "$tmp/tokend.log")"
		exit 1
	fi
	i=$((i + 1))
	if [ "$i" -gt 100 ]; then
		echo "Bail out! tokend did not answer on $sock within 10 s"
		exit 1
	fi
	sleep 0.1
done

services=$tmp/services
mkdir "$services"
m=$module
s="socket=$sock"
svc() { cat >"$services/$1"; }

# issue (login stacks)
svc pt-issue <<EOF
session required $m issue $s holder=atd,cron onerror=fail debug
EOF
# issue for atd alone (cron's token is not renewed), with its login messages
svc pt-issue-atd <<EOF
session required $m issue $s holder=atd
EOF
# a login no issue rule allows (actor kiosk): no token, but the messages
svc pt-issue-kiosk <<EOF
session required $m issue $s holder=atd onerror=fail
EOF
svc pt-issue-atd-quiet <<EOF
session required $m issue $s holder=atd quiet
EOF
svc pt-issue-atd-nowarn <<EOF
session required $m issue $s holder=atd warn_days=0
EOF
svc pt-issue-down-ignore <<EOF
session required $m issue socket=$absent onerror=ignore
session required $permit
EOF
svc pt-issue-down-fail <<EOF
session required $m issue socket=$absent onerror=fail
EOF
svc pt-issue-slow-fail <<EOF
session required $m issue socket=$slow timeout=300 onerror=fail
EOF
# redeem (scheduler stacks); setcred runs the auth stack
svc atd <<EOF
auth    required $m redeem $s debug
account required $m redeem $s debug
session required $m redeem $s debug
EOF
svc cron <<EOF
auth    required $m redeem $s
account required $m redeem $s
session required $m redeem $s
EOF
svc pt-atd-notoken <<EOF
account required $m redeem $s holder=atd notoken=ignore
account required $permit
EOF
svc pt-atd-nokeyring <<EOF
account required $m redeem $s holder=atd nokeyring
session required $m redeem $s holder=atd nokeyring
EOF
svc pt-atd-down <<EOF
account required $m redeem socket=$absent holder=atd
session required $m redeem socket=$absent holder=atd
EOF
# a service accepting a job's live token (issue 13): from the authtok or the
# caller's session keyring; one requiring an entitlement no token carries
svc pt-accept <<EOF
auth required $m accept require=reports $s
EOF
svc pt-accept-keyring <<EOF
auth required $m accept require=reports,db-admin keyring $s
EOF
svc pt-accept-root <<EOF
auth required $m accept require=reports,root-shell keyring $s
EOF
# served by the login actor, which is not the holder cron
svc pt-wrong-actor <<EOF
account required $m redeem $s holder=cron
EOF
# Probes show the module's own return code: success and errors end the
# stack with that code; PAM_IGNORE goes on to pam_debug, which returns
# PAM_CRED_UNAVAIL (MODULE_IGNORED in test-pam.c).
probe() { # TYPE ARGS...
	type=$1
	shift
	case $type in
	auth) keys="auth=cred_unavail cred=cred_unavail" ;;
	account) keys="acct=cred_unavail" ;;
	session) keys="open_session=cred_unavail close_session=cred_unavail" ;;
	esac
	echo "$type [success=done ignore=ignore default=die] $m $*"
	echo "$type [default=die] $debug $keys"
}
probe session issue socket="$absent" >"$services/pt-probe-down"
probe session issue socket="$absent" onerror=ignore >"$services/pt-probe-down-ignore"
probe session issue socket="$absent" onerror=success >"$services/pt-probe-down-success"
probe session issue socket="$absent" onerror=fail >"$services/pt-probe-down-fail"
probe session issue socket="$slow" timeout=300 onerror=ignore >"$services/pt-probe-slow-ignore"
probe session issue "$s" onerror=fail >"$services/pt-probe-issue-fail"
{
	probe auth issue "$s"
	probe account issue "$s"
	probe session issue "$s"
} >"$services/pt-probe-issue-other"
{
	probe account redeem "$s" holder=atd notoken=ignore
	probe session redeem "$s" holder=atd notoken=ignore
} >"$services/pt-probe-notoken"
probe account redeem "$s" holder=atd >"$services/pt-probe-notoken-deny"
probe auth redeem "$s" holder=atd >"$services/pt-probe-setcred"
{
	probe account "$s"
	probe session "$s"
} >"$services/pt-probe-nomode"
# one redemption per handle, whatever the later stages' options say
svc pt-cache-fail <<EOF
account required $m redeem socket=$absent holder=atd
session required $m redeem $s holder=atd
auth    required $m redeem $s holder=atd
EOF
svc pt-cache-ok <<EOF
account required $m redeem $s holder=atd
session required $m redeem socket=$absent holder=atd
auth    required $m redeem socket=$absent holder=atd
EOF
# pam_wrapper's pam_set_items.so sets PAM_USER from the environment:
# the user changes between the stages
if [ -n "$setitems" ]; then
	svc pt-user-change <<EOF
account required $m redeem $s holder=atd
session required $setitems
session required $m redeem $s holder=atd
EOF
fi
# recovery (test-recovery): probes, and a console stack
probe auth recovery "$s" type=recovery delay=300 >"$services/pt-rec"
probe auth recovery socket="$absent" type=recovery delay=300 >"$services/pt-rec-down"
probe auth recovery "$s" delay=300 >"$services/pt-rec-notype"
probe auth recovery "$s" type=nosuch delay=300 >"$services/pt-rec-badtype"
probe auth recovery "$s" type=recovery >"$services/pt-rec-nodelay"
{
	probe auth recovery "$s" type=recovery delay=300
	probe account recovery "$s" type=recovery
	probe session recovery "$s" type=recovery
} >"$services/pt-rec-all"
if [ -n "$setitems" ]; then # PAM_TTY from the environment
	{
		echo "auth required $setitems"
		probe auth recovery "$s" type=recovery delay=300
	} >"$services/pt-rec-tty"
fi
svc pt-rec-login <<EOF
auth sufficient $m recovery $s type=recovery delay=300
auth required $deny
EOF
# services without a line for a type fall back to "other"
svc other <<EOF
auth     required $deny
account  required $deny
password required $deny
session  required $deny
EOF

PERTOK_TEST_SOCKET=$sock
PERTOK_TEST_ABSENT=$absent
PERTOK_TEST_SLOW=$slow
PERTOK_TEST_DIR=$tmp
export PERTOK_TEST_SOCKET PERTOK_TEST_ABSENT PERTOK_TEST_SLOW PERTOK_TEST_DIR

env PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$services" LD_PRELOAD="$wrapper" \
	CMOCKA_MESSAGE_OUTPUT="${CMOCKA_MESSAGE_OUTPUT:-TAP}" $vg "$test_pam"
rc=$?
if [ "$rc" != 0 ]; then
	echo "# tokend log:"
	sed 's/^/# /' "$tmp/tokend.log"
fi
exit "$rc"
