#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): pertok under a real systemd. The host's own tree is
# booted with `systemd-nspawn -D / --volatile=yes --boot` (a tmpfs root, the
# host's /usr read-only; systemd as PID 1, journald, dbus, logind), with a
# private copy of /etc, the built files installed (`make install
# DESTDIR=...`, bound on /usr/local) and tokend started by its own units
# (tokend.socket, tokend-credential.socket). Commands run inside through
# nsenter. Nothing of the host's /etc, /run or /var is changed (its /etc is
# copied); on a cgroup v1 host two empty cgroups are made and removed.
#
#   (1)  the container boots (systemctl is-system-running)
#   (2)  tokend answers, started by tokend.socket
#   (3)  logins (pamtester, pam_pertok issue) give three users a
#        persistable token for the holder "systemd"; carol's is revoked
#   (4)  a system timer starts a unit with User= + PAMName=pertok-job: the
#        job finds a valid live token of its user in its session keyring
#   (5)  a unit with LoadCredential=pertok:/run/pertok/credential.sock gets
#        a valid live token of its User= as its credential
#   (5b) a .path unit (a condition trigger) starts the same kind of job
#   (6)  a user timer under a lingering user's manager (loginctl
#        enable-linger) gets that user's token the same way
#   (7)  carol's LoadCredential unit (token revoked) fails to start
#        (243/CREDENTIALS), never runs, and tokend's log names the unit and why
#   (7b) the refusal is a journal entry with MESSAGE_ID and PERTOK_* fields
#   (8)  carol's PAMName=pertok-job unit fails (status 224/PAM), never runs
#   (9)  in a container whose seccomp filter blocks the keyring calls (nspawn's
#        default), the PAMName unit fails with pam_pertok's one line naming
#        the cause and the alternative (nokeyring + the credential socket)
#   (10) there, the same user's LoadCredential unit gets its token
#   (11) there, PAMName= with "nokeyring" on the session line plus
#        LoadCredential= (the documented alternative) runs with its token
#   (8b) act-as under the shipped unit (a grants rule configured): tokend is
#        active, bob runs `pertok act-as alice --grant ID -- /usr/bin/id -u`
#        under alice's grant, gets her uid and 0, and act.end is audited;
#        the command's loginuid is bob's, pam_limits sets its limits
#   (8c) the same grant revoked: act-as is refused and runs nothing
#   (8d) a grant request signed with alice's SSH key (pertok grant --sign,
#        submitted by bob with --signed-request) verifies under the unit
#        (tokend reads ~alice/.ssh/authorized_keys as alice) and runs
#   (8e) with a drop-in ProtectControlGroups=yes, tokend's start line names
#        the setting and act-as is refused with it
#
# Root only; prints "1..0 # SKIP why" where it cannot run (also where
# systemd-nspawn cannot boot the tree at all). Every container is stopped by
# its nspawn PID (SIGTERM, then SIGKILL), also on failure. About 5 s here
# (the boot takes 1-2 s); no network, no debootstrap.
# PERTOK_KEEP_SANDBOX=1 keeps the temp dir (consoles, journals).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/build}

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (systemd-nspawn boots a container)"
if [ "${PERTOK_SANITIZER:-0}" = 1 ]; then
	skip "sanitizer build: systemd's processes cannot load an ASan-instrumented pam_pertok.so"
fi
for p in systemd-nspawn nsenter pamtester runuser python3; do
	command -v "$p" >/dev/null 2>&1 ||
		skip "$p not installed (scripts/install-deps.sh installs systemd-container, pamtester ...)"
done
[ -x /usr/lib/systemd/systemd ] || skip "systemd not installed (scripts/install-deps.sh)"
[ -e /usr/lib/x86_64-linux-gnu/security/pam_systemd.so ] || [ -e /lib/x86_64-linux-gnu/security/pam_systemd.so ] ||
	skip "libpam-systemd not installed (user managers of lingering users need it)"
/usr/bin/python3 -c 'import cryptography' 2>/dev/null ||
	skip "python3-cryptography not installed (the tokens' signatures are checked with it)"
for f in tokend/tokend tools/pertok tools/pertokctl pam_pertok/.libs/pam_pertok.so; do
	[ -e "$top_builddir/$f" ] || skip "$top_builddir/$f not built yet"
done

START=$(date +%s)
TD=$(mktemp -d /tmp/pertok-systemd.XXXXXX) || exit 1
chmod 0755 "$TD"
NSPAWN_PID=""
CGROOT=""  # the systemd cgroup hierarchy (name=systemd on v1, else cgroup2)
CG=""      # this test's cgroup in it: nspawn's "payload" and "supervisor" go below

# ------------------------------------------------------------ the container

stop_container() {
	[ -n "$NSPAWN_PID" ] || return 0
	if kill -0 "$NSPAWN_PID" 2>/dev/null; then
		kill -TERM "$NSPAWN_PID" 2>/dev/null
		for _ in $(seq 1 100); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
	fi
	wait "$NSPAWN_PID" 2>/dev/null
	NSPAWN_PID=""
	SDPID=""
	# what the container left in our cgroup (empty once it is gone)
	for _ in $(seq 1 50); do
		[ -n "$CG" ] && [ -d "$CG" ] && find "$CG" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
		[ -z "$(find "$CG" -mindepth 1 -type d 2>/dev/null)" ] && break
		sleep 0.1
	done
	return 0
}

cleanup() {
	stop_container
	[ -n "$CG" ] && [ -d "$CG" ] && rmdir "$CG" 2>/dev/null
	if [ "${PERTOK_KEEP_SANDBOX:-0}" = 1 ]; then
		echo "# kept $TD"
	else
		rm -rf "$TD"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# nspawn --keep-unit on a host without a running systemd puts the container
# into "payload" and itself into "supervisor" below its own cgroup, as the
# systemd hierarchy mounted at CGROOT shows it: on this kind of host, the
# root, shared by every container booted that way. So each boot runs in a
# cgroup of this test's (CG), in a cgroup namespace and a mount namespace
# where CG is bound over CGROOT: nspawn's "root" is CG. On a cgroup v1
# hierarchy nspawn does not make "payload" and "supervisor" itself ("Failed
# to attach ... to compat systemd cgroup //payload"): made here.
find_cgroup() {
	local rel line
	rel=""
	if [ -d /sys/fs/cgroup/systemd ]; then
		CGROOT=/sys/fs/cgroup/systemd
		while read -r line; do
			case $line in *:name=systemd:*) rel=${line##*:} ;; esac
		done </proc/self/cgroup
	else
		CGROOT=/sys/fs/cgroup
		while read -r line; do
			case $line in 0::*) rel=${line#0::} ;; esac
		done </proc/self/cgroup
	fi
	[ "$rel" = / ] && rel=""
	# One booted container at a time on this host: two at once were seen to
	# disturb each other (a unit's process reading as the root cgroup).
	# Other tests that boot containers are asked to take the same lock.
	exec 9>/tmp/pertok-nspawn.lock
	flock -w 600 9 || skip "another test held /tmp/pertok-nspawn.lock for 10 min"
	CG="$CGROOT$rel/pertok-test-systemd-$$"
	mkdir "$CG" 2>/dev/null || skip "cannot make a cgroup in $CGROOT$rel (read-only cgroupfs?)"
}

# PID is systemd as PID 1 of its own pid namespace (NSpid ends in 1)
is_systemd() {
	[ "$(readlink "/proc/$1/exe" 2>/dev/null)" = /usr/lib/systemd/systemd ] &&
		grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$1/status" 2>/dev/null
}

# boot NAME [nspawn options]: boots the container, sets SDPID (its systemd)
boot() {
	local name=$1 st c g
	shift
	# a cgroup per boot: what a container left behind never meets the next
	mkdir "$CG/$name" || return 1
	(
		echo "$BASHPID" >"$CG/$name/cgroup.procs" || exit 1
		# shellcheck disable=SC2016 # ($1 and $2 are the inner shell's)
		exec unshare -C -m --propagation private sh -c '
			mount --bind "$1" "$2" || exit 1
			[ "$2" = /sys/fs/cgroup/systemd ] && mkdir -p "$2/payload" "$2/supervisor"
			shift 2
			exec "$@"' sh "$CG/$name" "$CGROOT" \
			systemd-nspawn -D / --volatile=yes --register=no --keep-unit --boot \
			--console=pipe -M "$name" \
			--bind="$TD/etc:/etc" --bind-ro="$TD/inst/usr/local:/usr/local" \
			--bind="$TD/home:/home" --bind="$TD/out:/var/tmp/pertok-out" "$@"
	) >"$TD/$name.console" 2>&1 </dev/null &
	NSPAWN_PID=$!
	SDPID=""
	for _ in $(seq 1 600); do # 2 min: a loaded CI machine
		# the container's PID 1: nspawn's child, or (when nspawn runs a child
		# of its own) its grandchild; not the processes systemd forks for its
		# units, which run the same executable for a while
		if [ -z "$SDPID" ]; then
			for c in $(ps -o pid= --ppid "$NSPAWN_PID" 2>/dev/null); do
				is_systemd "$c" && SDPID=$c && break
			done
		fi
		if [ -z "$SDPID" ]; then
			for c in $(ps -o pid= --ppid "$NSPAWN_PID" 2>/dev/null); do
				for g in $(ps -o pid= --ppid "$c" 2>/dev/null); do
					is_systemd "$g" && SDPID=$g && break 2
				done
			done
		fi
		if [ -n "$SDPID" ]; then
			st=$(nsenter -t "$SDPID" -a systemctl is-system-running 2>/dev/null)
			case $st in running | degraded) return 0 ;; esac
		fi
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$NSPAWN_PID" 2>/dev/null; then
		echo "# the container did not boot within 2 min (systemd: ${SDPID:-not found}, state: ${st:-none})"
		ps -o pid,ppid,args --ppid "$NSPAWN_PID" 2>&1 | sed 's/^/#   /'
	else
		wait "$NSPAWN_PID"
		echo "# systemd-nspawn exited with status $? before the container was up (state: ${st:-none})"
	fi
	echo "# its console:"
	sed 's/^/#   /' "$TD/$name.console" | tail -20
	return 1
}

IN() { nsenter -t "$SDPID" -a -- "$@"; }

# ------------------------------------------------------------ TAP

# ok STATUS DESCRIPTION and diag: the shell tests' one copy
# shellcheck source=../lib/tap.sh
. "$top_srcdir/tests/lib/tap.sh"

# wait_file PATH SECONDS
wait_file() {
	for _ in $(seq 1 $(($2 * 5))); do
		[ -s "$1" ] && return 0
		sleep 0.2
	done
	return 1
}

# check_token FILE USER: a live token signed by this tokend, for USER, not expired
check_token() {
	[ -s "$1" ] || { echo "# $1: no token"; return 1; }
	IN pertokctl pubkey >"$TD/pub.pem" 2>"$TD/pub.err" || { diag <"$TD/pub.err"; return 1; }
	/usr/bin/python3 - "$1" "$2" "$TD/pub.pem" <<'EOF'
import base64, json, sys, time
from cryptography.hazmat.primitives.serialization import load_pem_public_key
tok = open(sys.argv[1]).read().strip()
h, p, s = tok.split(".")
d = lambda x: base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
key = load_pem_public_key(open(sys.argv[3], "rb").read())
key.verify(d(s), (h + "." + p).encode())
c = json.loads(d(p))
if c.get("sub") != sys.argv[2] or c.get("exp", 0) <= time.time():
    sys.exit("# claims: %r" % c)
EOF
}

# ------------------------------------------------------------ the tree

find_cgroup
mkdir -p "$TD/inst" "$TD/out" "$TD/home"
chmod 1777 "$TD/out"
if ! make -C "$top_builddir" install DESTDIR="$TD/inst" >"$TD/install.log" 2>&1; then
	echo "# make install failed:"
	tail -20 "$TD/install.log" | diag
	exit 1
fi
mod=/usr/local/lib/security/pam_pertok.so
install -D -m 0644 "$top_builddir/pam_pertok/.libs/pam_pertok.so" "$TD/inst$mod"

# /etc: a copy of the host's, with nothing of its own enabled, our users,
# tokend.conf, the PAM services and the units
cp -a /etc "$TD/etc"
find "$TD/etc/systemd/system" -path '*.wants/*' -type l -delete 2>/dev/null
rm -f "$TD/etc/systemd/system/default.target"
day=$(($(date +%s) / 86400))
uid=4100
for u in alice bob carol; do
	while getent passwd $uid >/dev/null || getent group $uid >/dev/null; do uid=$((uid + 1)); done
	grep -v "^pertok-$u:" "$TD/etc/passwd" >"$TD/x" && cat "$TD/x" >"$TD/etc/passwd"
	printf 'pertok-%s:x:%s:%s:pertok test user:/home/pertok-%s:/bin/sh\n' $u $uid $uid $u >>"$TD/etc/passwd"
	printf 'pertok-%s:*:%s:0:99999:7:::\n' $u $day >>"$TD/etc/shadow"
	printf 'pertok-%s:x:%s:\n' $u $uid >>"$TD/etc/group"
	printf 'pertok-%s:!::\n' $u >>"$TD/etc/gshadow"
	install -d -o $uid -g $uid -m 0755 "$TD/home/pertok-$u"
	[ $u = alice ] && uid_alice=$uid
	[ $u = bob ] && uid_bob=$uid
	uid=$((uid + 1))
done
mkdir -p "$TD/etc/pertok"
cat >"$TD/etc/pertok/tokend.conf" <<EOF
tokend: { socket = "/run/pertok/tokend.sock"; state_dir = "/var/lib/pertok";
          live_lifetime = "5m"; persist_lifetime = "1d"; };
seal: { backend = "software"; };
actors = (
    { name = "login";   uid = 0; exe = [ "/usr/bin/pamtester" ]; },
    { name = "systemd"; uid = 0; exe = [ "/usr/lib/systemd/systemd", "/lib/systemd/systemd" ]; }
);
issue = ( { name = "logins"; actors = [ "login" ]; holders = [ "systemd" ]; } );
redeem = ( { name = "jobs"; holders = [ "systemd" ]; live_lifetime = "5m"; check_account = true; } );
entitlements = ( { name = "logs"; groups = [ ]; } );
rpo = { uid_min = 71000; uid_max = 71100; reap_delay = 0; subuid_file = "/nonexistent";
        subgid_file = "/nonexistent"; login_defs_file = "/nonexistent";
        sssd_conf_file = "/nonexistent"; smb_conf_file = "/nonexistent"; };
grants = ( { name = "runit"; users = [ "pertok-alice" ]; servicers = [ "pertok-bob" ];
             commands = [ "/usr/bin/id", "/usr/bin/cat" ]; max_window = "1d"; max_uses = 10; } );
EOF
printf '{"version":1,"iss":"https://idp.example","group":"support","entitlements":["logs"],"policy":{"max_validity":3600,"services":["sshd"],"networks":["local"],"max_sessions":1}}' \
	>"$TD/etc/pertok/rpo-template.json"
# the shipped PAM service, with the module where this tree has it
sed "s|pam_pertok.so|$mod|" "$TD/inst/etc/pam.d/pertok-job" >"$TD/etc/pam.d/pertok-job"
# act-as's PAM session (the package's, this host's /etc may lack it)
install -m 0644 "$TD/inst/etc/pam.d/pertok-act" "$TD/etc/pam.d/pertok-act"
# the documented variant for hosts without a keyring: nokeyring on the session line
sed '/^session.*pam_pertok/s/$/ nokeyring/' "$TD/etc/pam.d/pertok-job" >"$TD/etc/pam.d/pertok-job-nokeyring"
cat >"$TD/etc/pam.d/pertok-login" <<EOF
auth     required  pam_permit.so
account  required  pam_permit.so
session  required  pam_permit.so
session  required  $mod issue holder=systemd
password required  pam_deny.so
EOF
# user@.service's PAM service, as Debian's systemd package has it (this
# host's /etc may lack it): pam_systemd gives the manager XDG_RUNTIME_DIR
cat >"$TD/etc/pam.d/systemd-user" <<EOF
account  include   common-account
session  required  pam_limits.so
session  optional  pam_systemd.so
EOF
sd=$TD/etc/systemd/system
cat >"$sd/pertok-pam-job.timer" <<EOF
[Timer]
OnActiveSec=1s
AccuracySec=100ms
EOF
# unit NAME USER HOW COMMAND: a oneshot system unit running COMMAND as USER,
# its token from PAM (HOW: PAMName=pertok-job) or the credential socket
# (HOW: LoadCredential=pertok:/run/pertok/credential.sock)
unit() {
	cat >"$sd/$1.service" <<EOF
[Service]
Type=oneshot
User=$2
$3
ExecStart=/bin/sh -c '$4'
EOF
}
pam=PAMName=pertok-job
cred=LoadCredential=pertok:/run/pertok/credential.sock
out=/var/tmp/pertok-out
unit pertok-pam-job pertok-alice "$pam" "pertok token >$out/pam.tok"
unit pertok-cred-job pertok-alice "$cred" "cat \"\$CREDENTIALS_DIRECTORY/pertok\" >$out/cred.tok"
unit pertok-denied pertok-carol "$cred" "cat \"\$CREDENTIALS_DIRECTORY/pertok\" >$out/denied.ran"
unit pertok-denied-pam pertok-carol "$pam" "echo ran >$out/denied-pam.ran"
unit pertok-keyring pertok-alice "$pam" "echo ran >$out/keyring.ran"
# a job started by a condition, not a clock: a .path unit (pam_pertok(8))
cat >"$sd/pertok-watch.path" <<EOF
[Path]
PathModified=$out/trigger
EOF
unit pertok-watch pertok-alice "$pam" "pertok token >$out/watch.tok"
unit pertok-nokeyring pertok-alice "PAMName=pertok-job-nokeyring
$cred" "cat \"\$CREDENTIALS_DIRECTORY/pertok\" >$out/nokeyring.tok"
ud=$TD/home/pertok-bob/.config/systemd/user
mkdir -p "$ud"
cat >"$ud/pertok-sync.timer" <<EOF
[Timer]
OnActiveSec=1s
AccuracySec=100ms
EOF
cat >"$ud/pertok-sync.service" <<EOF
[Service]
Type=oneshot
LoadCredential=pertok:/run/pertok/credential.sock
ExecStart=/bin/sh -c 'cat "\$CREDENTIALS_DIRECTORY/pertok" >/var/tmp/pertok-out/user.tok'
EOF
chown -R "$uid_bob:$uid_bob" "$TD/home/pertok-bob/.config"
echo "# prepared in $(($(date +%s) - START)) s"

# tokend up (socket activation) and the three logins
tokend_up() {
	# enabling the service enables both sockets (Also=)
	IN systemctl enable -q tokend.service || return 1
	IN systemctl is-enabled -q tokend-credential.socket || return 1
	IN systemctl start tokend.socket tokend-credential.socket || return 1
	for _ in $(seq 1 300); do
		IN pertokctl status >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	IN journalctl -u tokend.service --no-pager | tail -20 | diag
	return 1
}
login() { IN timeout 30 pamtester pertok-login "$1" open_session close_session >/dev/null 2>&1; }
tokend_log() { IN journalctl -u tokend.service --no-pager -o cat; }

# ------------------------------------------------------------ with the keyring

# this machine's verdict, not pertok's: where nspawn cannot boot the tree at
# all (no cgroup it may write, no CAP_SYS_ADMIN) there is nothing to test
if ! boot pertok-sd1 --system-call-filter='add_key keyctl request_key'; then
	why=$(grep -v '^$' "$TD/pertok-sd1.console" | tail -1)
	skip "systemd-nspawn cannot boot the host's tree here: ${why:-no output}"
fi
echo "1..18"
ok 0 "the host's tree boots under systemd-nspawn --volatile=yes"
echo "# booted in $(($(date +%s) - START)) s"

tokend_up
ok $? "tokend answers, started by tokend.socket (enabled with tokend-credential.socket)"

r=0
for u in alice bob carol; do login pertok-$u || { echo "# login of pertok-$u failed"; r=1; }; done
IN pertokctl revoke --user pertok-carol >/dev/null || r=1
[ "$(IN pertokctl list | grep -c 'pertok-\(alice\|bob\)')" -ge 2 ] || r=1
ok $r "logins issue tokens for the holder systemd; carol's is revoked"

IN systemctl start pertok-pam-job.timer
wait_file "$TD/out/pam.tok" 60 && check_token "$TD/out/pam.tok" pertok-alice
r=$?
[ $r -eq 0 ] || IN journalctl -u pertok-pam-job.service --no-pager | tail -10 | diag
ok $r "a system timer's User= + PAMName=pertok-job job reads its user's live token from its keyring"

IN systemctl start pertok-cred-job.service
check_token "$TD/out/cred.tok" pertok-alice
r=$?
tokend_log | grep -q 'op=redeem result=allow user=pertok-alice holder=systemd actor=systemd' || r=1
[ $r -eq 0 ] || { IN journalctl -u pertok-cred-job.service --no-pager | tail -5; tokend_log | tail -5; } | diag
ok $r "LoadCredential=pertok:/run/pertok/credential.sock: the credential is a live token of the unit's User="

IN systemctl start pertok-watch.path
IN sh -c "echo go >$out/trigger"
wait_file "$TD/out/watch.tok" 60 && check_token "$TD/out/watch.tok" pertok-alice
r=$?
[ $r -eq 0 ] || IN journalctl -u pertok-watch.service -u pertok-watch.path --no-pager | tail -10 | diag
ok $r "a .path unit (a condition, not a clock) starts a PAMName=pertok-job job that reads its user's token"

IN loginctl enable-linger pertok-bob
r=1
for _ in $(seq 1 150); do
	IN systemctl is-active -q "user@$uid_bob.service" && r=0 && break
	sleep 0.2
done
[ $r -eq 0 ] || { echo "user@$uid_bob.service did not start:"; IN systemctl status "user@$uid_bob.service" --no-pager 2>&1 | tail -12; } | diag
user_ctl() { IN runuser -u pertok-bob -- env XDG_RUNTIME_DIR="/run/user/$uid_bob" systemctl --user "$@"; }
if [ $r -eq 0 ]; then
	# (the manager may still be settling: its socket, its units)
	for _ in $(seq 1 150); do
		user_ctl start pertok-sync.timer 2>"$TD/user.err" &&
			user_ctl is-active -q pertok-sync.timer && break
		sleep 0.2
	done
	wait_file "$TD/out/user.tok" 60 && check_token "$TD/out/user.tok" pertok-bob
	r=$?
	[ $r -eq 0 ] || {
		cat "$TD/user.err"
		user_ctl list-timers --all --no-pager 2>&1
		IN ls -la "/run/user/$uid_bob" "/run/user/$uid_bob/systemd" 2>&1
	} | diag
fi
[ $r -eq 0 ] || { IN journalctl --no-pager | grep -v "kernel:" | tail -25; tokend_log | tail -5; } | diag
ok $r "a user timer under a lingering user's manager gets the user's token by LoadCredential"

IN systemctl start pertok-denied.service 2>/dev/null
st=$?
r=0
[ $st -ne 0 ] || r=1
[ ! -e "$TD/out/denied.ran" ] || r=1
IN systemctl show -p ExecMainStatus pertok-denied.service | grep -q '=243$' || r=1
tokend_log | grep 'op=credential result=deny unit=pertok-denied.service' |
	grep -q 'no credential: the unit fails to start' || r=1
tokend_log | grep -q 'op=redeem result=deny user=pertok-carol holder=systemd.*reason=' || r=1
[ $r -eq 0 ] || tokend_log | tail -6 | diag
tokend_log | grep 'unit=pertok-denied.service' | diag
ok $r "a revoked token: the LoadCredential unit fails to start, and tokend's log says why"

# the same refusal in the real journal as a structured entry: the fields
# and the MESSAGE_ID an admin queries (tokend/log.h, data/catalog)
mid=$(sed -n 's/^#define PT_MID_REDEEM_DENY "\([0-9a-f]*\)"$/\1/p' "$top_srcdir/tokend/log.h")
r=0
[ ${#mid} -eq 32 ] || r=1
n=$(IN journalctl --no-pager -o cat MESSAGE_ID="$mid" PERTOK_USER=pertok-carol \
	PERTOK_HOLDER=systemd PERTOK_RESULT=deny 2>/dev/null | grep -c 'op=redeem result=deny')
[ "${n:-0}" -ge 1 ] || r=1
[ $r -eq 0 ] || IN journalctl --no-pager -o verbose -u tokend.service 2>&1 | tail -30 | diag
ok $r "the real journald has the refusal: journalctl MESSAGE_ID=<redeem deny> PERTOK_USER=pertok-carol finds it ($n)"

IN systemctl start pertok-denied-pam.service 2>/dev/null
st=$?
r=0
[ $st -ne 0 ] && [ ! -e "$TD/out/denied-pam.ran" ] || r=1
IN systemctl show -p ExecMainStatus pertok-denied-pam.service | grep -q '=224$' || r=1
[ $r -eq 0 ] || IN systemctl status pertok-denied-pam.service --no-pager 2>&1 | tail -8 | diag
ok $r "a revoked token: the PAMName=pertok-job unit fails with 224/PAM and does not run"

# act-as under the shipped unit: tokend keeps PT_ACT_CAPS (grants are
# configured), its supervisor makes cgroups below tokend's own, opens a
# pertok-act PAM session, writes the loginuid, fills a session keyring
as_alice() { IN runuser -u pertok-alice -- "$@"; }
as_bob() { IN runuser -u pertok-bob -- "$@"; }
r=0
IN systemctl is-active -q tokend.service || r=1
gid=$(as_alice timeout 30 pertok grant pertok-bob --cmd /usr/bin/id --expires 1h --uses 5 \
	--args -- -u 2>"$TD/grant.err" | sed -n 's/^granted //p')
[ -n "$gid" ] || { r=1; diag <"$TD/grant.err"; }
got=$(as_bob timeout 60 pertok act-as pertok-alice --grant "$gid" -- /usr/bin/id -u 2>"$TD/act.err" </dev/null)
st=$?
[ $st -eq 0 ] && [ "$got" = "$uid_alice" ] || r=1
IN grep '"op":"act.end"' /var/lib/pertok/audit.log 2>/dev/null | grep -q "$gid" || r=1
# the command's loginuid is the servicer's (tokend's is unset under
# systemd, so setting it needs no CAP_AUDIT_CONTROL)
lgid=$(as_alice timeout 30 pertok grant pertok-bob --cmd /usr/bin/cat --expires 1h \
	--args -- /proc/self/loginuid 2>>"$TD/grant.err" | sed -n 's/^granted //p')
lu=$(as_bob timeout 60 pertok act-as pertok-alice --grant "$lgid" -- /usr/bin/cat /proc/self/loginuid \
	2>>"$TD/act.err" </dev/null)
[ "$lu" = "$uid_bob" ] || { r=1; echo "loginuid '$lu' (bob is $uid_bob)" | diag; }
# pam_limits applied the user's limits (above tokend's LimitCORE=0: it
# needs CAP_SYS_RESOURCE, else one error line per run); only where this
# machine has CAP_SYS_RESOURCE to give (some CI sandboxes do not)
bnd=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
if [ $(((16#$bnd >> 24) & 1)) -eq 1 ]; then
	if tokend_log | grep 'pam_limits(pertok-act' | grep -q 'Could not set'; then
		r=1
		tokend_log | grep 'pam_limits(pertok-act' | head -3 | diag
	fi
else
	echo "# no CAP_SYS_RESOURCE on this machine: pam_limits' limits not checked"
fi
if [ $r -ne 0 ]; then
	echo "act-as: status $st, output '$got' (alice is $uid_alice)"
	diag <"$TD/act.err"
	IN systemctl status tokend.service --no-pager 2>&1 | tail -4
	tokend_log | tail -15
fi | diag
ok $r "act-as under the unit: bob runs /usr/bin/id -u as alice under her grant (uid $got, status $st), act.end audited, loginuid $lu"

r=0
as_alice timeout 30 pertok grant revoke "$gid" >/dev/null 2>"$TD/revoke.err" || { r=1; diag <"$TD/revoke.err"; }
got=$(as_bob timeout 60 pertok act-as pertok-alice --grant "$gid" -- /usr/bin/id -u 2>"$TD/act2.err" </dev/null)
st=$?
[ $st -ne 0 ] && [ -z "$got" ] || r=1
grep -qi 'revoked' "$TD/act2.err" || r=1
[ $r -eq 0 ] || { echo "status $st, output '$got'"; cat "$TD/act2.err"; } | diag
ok $r "act-as under the unit: the revoked grant is refused ($(head -1 "$TD/act2.err"))"

# signed consent: alice's key in her authorized_keys, the request signed
# as her, submitted by bob; tokend reads the file as alice (setfsuid)
r=0
h=/home/pertok-alice
as_alice sh -c "umask 077 && mkdir -p $h/.ssh && ssh-keygen -q -t ed25519 -N '' -f $h/.ssh/id_ed25519 &&
	cp $h/.ssh/id_ed25519.pub $h/.ssh/authorized_keys" || r=1
as_alice timeout 30 pertok grant --sign $h/.ssh/id_ed25519 --output $h/req --user pertok-alice \
	pertok-bob --cmd /usr/bin/id --expires 1h >/dev/null 2>"$TD/sign.err" || { r=1; diag <"$TD/sign.err"; }
sgid=$(as_bob timeout 30 pertok grant --signed-request $h/req --signature $h/req.sig 2>"$TD/sreq.err" |
	sed -n 's/^granted //p')
[ -n "$sgid" ] || { r=1; diag <"$TD/sreq.err"; tokend_log | tail -5 | diag; }
if [ -n "$sgid" ]; then
	got=$(as_bob timeout 60 pertok act-as pertok-alice --grant "$sgid" -- /usr/bin/id 2>"$TD/act3.err" </dev/null)
	if ! echo "$got" | grep -q "^uid=$uid_alice(pertok-alice)"; then
		r=1
		{ echo "output '$got'"; cat "$TD/act3.err"; } | diag
	fi
fi
ok $r "signed consent under the unit: bob's --signed-request verifies against ~alice/.ssh/authorized_keys and runs ($sgid)"

# the hardening act-as cannot run under: a drop-in that makes the cgroup
# tree read-only again; tokend says so at start, naming the setting, and
# refuses act-as with the same reason
r=0
mkdir -p "$sd/tokend.service.d"
printf '[Service]\nProtectControlGroups=yes\n' >"$sd/tokend.service.d/pcg.conf"
IN systemctl daemon-reload && IN systemctl restart tokend.service || r=1
gid=$(as_alice timeout 30 pertok grant pertok-bob --cmd /usr/bin/id --expires 1h --args -- -u 2>&1 |
	sed -n 's/^granted //p')
got=$(as_bob timeout 60 pertok act-as pertok-alice --grant "$gid" -- /usr/bin/id -u 2>"$TD/act4.err" </dev/null)
st=$?
[ $st -ne 0 ] && [ -z "$got" ] || r=1
grep -q 'ProtectControlGroups=yes in tokend.service' "$TD/act4.err" || r=1
tokend_log | grep 'op=start result=warning' | grep 'act-as: cannot make the cgroup' |
	grep -q 'ProtectControlGroups=yes in tokend.service? act-as needs ProtectControlGroups=no and Delegate=yes' || r=1
[ $r -eq 0 ] || { echo "status $st, output '$got'"; cat "$TD/act4.err"; tokend_log | grep 'op=start' | tail -3; } | diag
rm -rf "$sd/tokend.service.d"
IN systemctl daemon-reload
ok $r "act-as under ProtectControlGroups=yes (a drop-in): tokend's start line names the setting, act-as is refused"
stop_container
echo "# first container done after $(($(date +%s) - START)) s"

# ------------------------------------------------------------ without it

r=0
boot pertok-sd2 || r=1
[ $r -eq 0 ] && { tokend_up && login pertok-alice; } || r=1
if [ $r -eq 0 ]; then
	IN systemctl start pertok-keyring.service 2>/dev/null && r=1
	[ ! -e "$TD/out/keyring.ran" ] || r=1
	line=$(IN journalctl --no-pager -o cat | grep 'cannot join a new session keyring')
	echo "$line" | grep -q 'keyring is blocked here' || r=1
	echo "$line" | grep -q 'nokeyring' || r=1
	echo "$line" | grep -q 'LoadCredential=pertok:/run/pertok/credential.sock' || r=1
	echo "$line" | head -2 | diag
fi
ok $r "keyring calls blocked: the PAMName unit fails and pam_pertok says why and what to use"

rm -f "$TD/out/cred.tok"
r=1
if [ -n "$SDPID" ]; then
	IN systemctl start pertok-cred-job.service
	check_token "$TD/out/cred.tok" pertok-alice
	r=$?
fi
ok $r "keyring calls blocked: the same user's LoadCredential unit gets its token"

r=1
if [ -n "$SDPID" ]; then
	IN systemctl start pertok-nokeyring.service
	check_token "$TD/out/nokeyring.tok" pertok-alice
	r=$?
	IN journalctl --no-pager -o cat | grep -q 'op=redeem result=allow user=pertok-alice holder=systemd actor=systemd .*peer_pid' || r=1
fi
ok $r "keyring calls blocked: PAMName= with nokeyring plus LoadCredential= runs the job with its token"

# remote principals under the shipped unit: approval makes the RPO's home
# in /home (ProtectHome= must let it) and gives it to the RPO (CAP_CHOWN);
# a revocation's reaper ends a process of the RPO's uid (CAP_KILL)
r=1
if [ -n "$SDPID" ]; then
	r=0
	h=$(IN pertokctl template import /etc/pertok/rpo-template.json 2>&1 | sed -n 's/^template=//p')
	out=$(IN pertokctl rpo approve "$h" --not-after +10m 2>&1) || r=1
	rname=$(printf '%s\n' "$out" | sed -n 's/^name=//p')
	ruid=$(printf '%s\n' "$out" | sed -n 's/^uid=//p')
	rid=$(printf '%s\n' "$out" | sed -n 's/^rpo=//p')
	[ -n "$rname" ] && [ "$(stat -c %u "$TD/home/$rname" 2>/dev/null)" = "$ruid" ] || r=1
	[ $r -eq 0 ] || printf '%s\n' "$out" | diag
	if [ $r -eq 0 ]; then
		IN setpriv --reuid="$ruid" --regid="$ruid" --clear-groups sleep 300 &
		RPOPID=$!
		sleep 0.5
		IN pertokctl rpo revoke "$rid" >/dev/null 2>&1 || r=1
		for _ in $(seq 1 150); do
			kill -0 "$RPOPID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$RPOPID" 2>/dev/null; then
			r=1
			echo "# the RPO's process still runs after the reaper's round" | diag
			kill "$RPOPID" 2>/dev/null
		fi
		wait "$RPOPID" 2>/dev/null
	fi
fi
ok $r "an RPO under the shipped unit: approve makes its home, the reaper ends its process at revocation"
stop_container

echo "# took $(($(date +%s) - START)) s"
[ "$FAILED" -eq 0 ]
