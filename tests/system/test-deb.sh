#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): the Debian packages. Builds them with dpkg-buildpackage
# from `make distdir` output, checks their contents and lintian, installs
# them with dpkg into a private root (an overlay over the host's / in a
# private mount namespace, entered with chroot: nothing reaches the host's
# disk), runs the core of the demo against the INSTALLED files (a login
# through common-session mints a token, an at job redeems it, the installed
# NSS module answers from tokend's cache), then removes and purges them and
# checks what remains.
#
# Root only; prints "1..0 # SKIP why" where it cannot run.
#   PERTOK_KEEP_SANDBOX=1   keep the temp dir (packages, logs, overlay upper)
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/build}

skip() { echo "1..0 # SKIP $*"; exit 0; }

if [ "$(id -u)" -ne 0 ]; then
	skip "needs root (private mount namespace, overlay mount, chroot, dpkg -i)"
fi
if [ "${PERTOK_SANITIZER:-0}" = 1 ]; then
	skip "sanitizer build: the packages are built with Debian's flags, not the sanitizer's"
fi
for p in dpkg-buildpackage dh dh_installnss pam-auth-update pamtester at atd chroot unshare; do
	if ! command -v "$p" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$p" ]; then
		skip "$p not installed (run scripts/install-deps.sh)"
	fi
done
if [ ! -f "$top_builddir/Makefile" ]; then
	skip "$top_builddir is not a configured build tree"
fi
if [ "${PERTOK_DEB_NS:-}" != 1 ]; then
	if ! timeout 10 unshare -m true 2>/dev/null; then
		skip "cannot create a mount namespace (unshare -m failed: container without CAP_SYS_ADMIN?)"
	fi
	export PERTOK_DEB_NS=1
	exec unshare -m --propagation private -- /bin/bash "$0" "$@"
fi

# shellcheck source=../lib/tap.sh
. "$top_srcdir/tests/lib/tap.sh"

W=""
R=""
JOB_OUT=/nonexistent
TOKEND_PID=""
# SIGTERM to the tokend we started, SIGKILL after 5 s; its front follows
stop_tokend() {
	[ -n "$TOKEND_PID" ] || return 0
	kill -TERM "$TOKEND_PID" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$TOKEND_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$TOKEND_PID" 2>/dev/null
	wait "$TOKEND_PID" 2>/dev/null
}
cleanup() {
	stop_tokend
	# the namespace's mounts go with it; unmount anyway, so that rm -rf
	# below never walks into a mount
	if [ -n "$R" ]; then
		umount -n -R "$R" 2>/dev/null
	fi
	if [ -n "$W" ]; then
		umount -n -R "$W/ov" 2>/dev/null
		if [ "${PERTOK_KEEP_SANDBOX:-0}" = 1 ]; then
			echo "# kept $W (PERTOK_KEEP_SANDBOX=1)"
		else
			rm -rf --one-file-system "$W"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mount -n --make-rprivate / || { echo "Bail out! mount --make-rprivate / failed"; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/pertok-deb.XXXXXX") || exit 1
chmod 0755 "$W"
mkdir -p "$W/log" "$W/ov"

# the private root: the host's / as the lower layer of an overlay whose
# upper layer is a tmpfs (every write, dpkg's included, lands there)
if ! mount -n -t tmpfs -o mode=0755 tmpfs "$W/ov" ||
	! mkdir -p "$W/ov/upper" "$W/ov/work" "$W/ov/root" ||
	! mount -n -t overlay overlay -o "lowerdir=/,upperdir=$W/ov/upper,workdir=$W/ov/work" \
		"$W/ov/root" 2>"$W/log/overlay.err"; then
	skip "cannot mount an overlay over / ($(cat "$W/log/overlay.err" 2>/dev/null))"
fi

echo "1..22"

# ---- build
t0=$(date +%s)
VERSION=$(sed -n '1s/^pertok (\([^)]*\)).*/\1/p' "$top_srcdir/debian/changelog")
src=$W/src/pertok-$VERSION
mkdir -p "$W/src"
rc=0
timeout 60 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" distdir \
	distdir="$src" >"$W/log/distdir.log" 2>&1 || rc=1
if [ $rc -eq 0 ]; then
	# nocheck: the unit tests it would run are part of this same suite
	(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" timeout 600 \
		dpkg-buildpackage -us -uc -b) >"$W/log/build.log" 2>&1 || rc=1
fi
t1=$(date +%s)
ARCH=$(dpkg --print-architecture)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
DEB_PAM=$W/src/libpam-pertok_${VERSION}_$ARCH.deb
DEB_NSS=$W/src/libnss-pertok_${VERSION}_$ARCH.deb
DEB_TOK=$W/src/pertok_${VERSION}_$ARCH.deb
for f in "$DEB_PAM" "$DEB_NSS" "$DEB_TOK"; do
	[ -f "$f" ] || rc=1
done
[ $rc -eq 0 ] || { tail -n 30 "$W/log/distdir.log" "$W/log/build.log" | diag; }
ok $rc "dpkg-buildpackage -us -uc -b builds pertok, libpam-pertok and libnss-pertok ($((t1 - t0)) s)"
if [ $rc -ne 0 ]; then
	echo "Bail out! no packages to install"
	exit 1
fi

# ---- contents
contents() { dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./|/|'; }
rc=0
contents "$DEB_NSS" >"$W/nss.list"
contents "$DEB_PAM" >"$W/pam.list"
contents "$DEB_TOK" >"$W/tok.list"
grep -qx "/usr/lib/$MA/libnss_pertok.so.2" "$W/nss.list" || rc=1
# what `make install` left in debian/tmp: no libtool archive at all
find "$src/debian/tmp" -name '*.la' | diag
[ -z "$(find "$src/debian/tmp" -name '*.la')" ] || rc=1
grep -E '\.la$|libnss_pertok\.so$' "$W/nss.list" "$W/pam.list" && rc=1
grep -qx "/lib/$MA/security/pam_pertok.so" "$W/pam.list" || rc=1
grep -qx /usr/share/pam-configs/pertok "$W/pam.list" || rc=1
for f in /usr/sbin/tokend /usr/sbin/pertokctl /usr/bin/pertok /lib/systemd/system/tokend.service \
	/lib/systemd/system/tokend.socket /usr/share/man/man8/tokend.8.gz /etc/pertok/tokend.conf; do
	grep -qx "$f" "$W/tok.list" || { echo "pertok lacks $f" | diag; rc=1; }
done
[ $rc -eq 0 ] || cat "$W/nss.list" "$W/pam.list" "$W/tok.list" | diag
ok $rc "libnss_pertok.so.2 in /usr/lib/$MA (make install leaves no .la, no .so link), pam_pertok.so in /lib/$MA/security with its pam-auth-update profile, tokend, tools, units, pages in pertok"

rc=0
dpkg-deb -e "$DEB_TOK" "$W/ctl-tok"
grep -qx /etc/pertok/tokend.conf "$W/ctl-tok/conffiles" 2>/dev/null || rc=1
grep -q "_dh_action=restart" "$W/ctl-tok/postinst" 2>/dev/null || rc=1
grep -q "deb-systemd-invoke \$_dh_action .*'tokend.service'" "$W/ctl-tok/postinst" 2>/dev/null || rc=1
ok $rc "pertok: /etc/pertok/tokend.conf is a conffile; postinst restarts tokend on upgrade (dh_installsystemd)"

if command -v lintian >/dev/null 2>&1; then
	timeout 120 lintian --fail-on error,warning "$W"/src/*.changes >"$W/log/lintian.log" 2>&1
	rc=$?
	diag <"$W/log/lintian.log"
	ok $rc "lintian: no error or warning tag (overrides explained in debian/*.lintian-overrides)"
else
	ok 0 "# SKIP lintian not installed"
fi

# ---- the private root
rc=0
R=$W/ov/root
mount -n -t proc proc "$R/proc" || rc=1
mount -n --rbind /dev "$R/dev" || rc=1
mount -n -t tmpfs -o mode=0755 tmpfs "$R/run" || rc=1
mount -n -t tmpfs -o mode=1777 tmpfs "$R/tmp" || rc=1
# a host-installed pertok's state and config stay out of reach
for d in /var/lib/pertok /var/cache/pertok /etc/pertok; do
	[ -e "$R$d" ] && rm -rf "${R:?}$d"
done
# no service starts (a chroot has no init), no mail leaves
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"
if [ -e "$R/usr/sbin/sendmail" ]; then
	printf '#!/bin/sh\ncat >>/tmp/mail.log\n' >"$R/usr/sbin/sendmail"
fi
mkdir -p "$R/tmp/debs"
cp "$DEB_PAM" "$DEB_NSS" "$DEB_TOK" "$R/tmp/debs/"
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] || rc=1
ok $rc "private root: overlay over / on a tmpfs, own /proc, /run and /tmp, in a private mount namespace"

in_root() { chroot "$R" "$@"; }

# the stock stacks (to compare with, and to restore)
cp "$R/etc/pam.d/atd" "$W/atd.stock"
if grep -l pam_pertok "$R"/etc/pam.d/common-* >/dev/null 2>&1; then
	echo "Bail out! the host's common-* stacks already name pam_pertok"
	exit 1
fi

# ---- install
t2=$(date +%s)
timeout 120 chroot "$R" dpkg -i "/tmp/debs/${DEB_PAM##*/}" "/tmp/debs/${DEB_NSS##*/}" \
	"/tmp/debs/${DEB_TOK##*/}" >"$W/log/install.log" 2>&1
rc=$?
[ $rc -eq 0 ] || diag <"$W/log/install.log"
ok $rc "dpkg -i of the three packages into the private root ($(($(date +%s) - t2)) s)"

rc=0
grep -Eq '^session[[:space:]]+optional[[:space:]]+pam_pertok\.so issue' "$R/etc/pam.d/common-session" || rc=1
grep -q pam_pertok "$R/etc/pam.d/common-session-noninteractive" && rc=1
[ $rc -eq 0 ] || grep -H pam_pertok "$R"/etc/pam.d/common-* | diag
ok $rc "pam-auth-update: the issue hook is in common-session, not in common-session-noninteractive (cron, sudo, at)"

rc=0
grep -Eq '^passwd:.*[[:space:]]pertok([[:space:]]|$)' "$R/etc/nsswitch.conf" || rc=1
grep -Eq '^group:.*[[:space:]]pertok([[:space:]]|$)' "$R/etc/nsswitch.conf" || rc=1
grep -Eq '^shadow:.*[[:space:]]pertok([[:space:]]|$)' "$R/etc/nsswitch.conf" || rc=1
[ $rc -eq 0 ] || grep -E '^(passwd|group|shadow):' "$R/etc/nsswitch.conf" | diag
ok $rc "dh_installnss: nsswitch.conf's passwd, group and shadow lines end with pertok"

rc=0
in_root getent passwd _pertok >/dev/null || rc=1
in_root getent group pertok >/dev/null || rc=1
[ -L "$R/etc/systemd/system/sockets.target.wants/tokend.socket" ] || rc=1
ok $rc "postinst: system user _pertok and group pertok exist; tokend.socket is enabled"

# ---- the demo's core against the installed files
# the admin's part: a user in group pertok; pamtester allowed as a login
# actor (an edit of the conffile); the at stack with the redeem hooks
rc=0
in_root useradd -m -G pertok -s /bin/sh pertok-alice || rc=1
in_root usermod -p '*' pertok-alice || rc=1
sed -i 's|exe = \[ "/usr/sbin/sshd", |exe = [ "/usr/bin/pamtester", "/usr/sbin/sshd", |' \
	"$R/etc/pertok/tokend.conf"
grep -q '/usr/bin/pamtester' "$R/etc/pertok/tokend.conf" || rc=1
cp "$R/usr/share/pertok/pam.d/atd" "$R/etc/pam.d/atd" || rc=1
cat >"$R/etc/pam.d/pertok-login" <<-EOF
	# a login for pamtester: no password, the session stack of every login
	auth     required  pam_permit.so
	account  required  pam_permit.so
	@include common-session
	password required  pam_deny.so
EOF
install -d -m 0755 "$R/var/cache/pertok"  # systemd's CacheDirectory=pertok
# chroot execs tokend: $! is tokend itself (not a subshell), the pid to stop
chroot "$R" /usr/sbin/tokend -f </dev/null >"$W/log/tokend.log" 2>&1 &
TOKEND_PID=$!
up=1
for _ in $(seq 1 100); do
	if in_root /usr/sbin/pertokctl status >/dev/null 2>&1; then
		up=0
		break
	fi
	kill -0 "$TOKEND_PID" 2>/dev/null || break
	sleep 0.1
done
[ $up -eq 0 ] || { rc=1; diag <"$W/log/tokend.log"; }
ok $rc "the installed tokend starts with the packaged reference policy (one edit: pamtester is a login actor) and answers"

ALICE_UID=$(in_root id -u pertok-alice)
timeout 30 chroot "$R" pamtester -v pertok-login pertok-alice open_session close_session \
	</dev/null >"$W/log/login.log" 2>&1
rc=$?
in_root /usr/sbin/pertokctl list --user pertok-alice >"$W/log/list.log" 2>&1 || rc=1
grep -q 'atd' "$W/log/list.log" || rc=1
[ $rc -eq 0 ] || diag <"$W/log/login.log" "$W/log/list.log"
ok $rc "a login through common-session (the packaged profile) mints alice's persistable token"

# run_job NAME: alice queues an at job, atd -s runs it (and its children,
# reaped by a subreaper) inside the private root
run_job() {
	local home
	JOB_OUT=/nonexistent
	home=$(in_root getent passwd pertok-alice | cut -d: -f6)
	printf 'exec >%s/%s.out 2>&1\nid -u\npertok token --claims\necho "exit=$?"\n' "$home" "$1" |
		timeout 30 chroot "$R" runuser -u pertok-alice -- at now >>"$W/log/at.log" 2>&1 || return 1
	timeout 60 chroot "$R" /usr/bin/python3 -c '
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
pid = os.fork()
if pid == 0:
    os.execv("/usr/sbin/atd", ["atd", "-s"])
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
' </dev/null >>"$W/log/atd.log" 2>&1
	JOB_OUT=$R$home/$1.out
}

rc=0
run_job j1 || rc=1
grep -qx "$ALICE_UID" "$JOB_OUT" 2>/dev/null || rc=1
grep -qx 'exit=0' "$JOB_OUT" 2>/dev/null || rc=1
/usr/bin/python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
c = json.loads("".join(l for l in lines if l.startswith("{") or l.startswith(" ") or l.startswith("}")))
sys.exit(not (c.get("sub") == "pertok-alice" and c.get("act", {}).get("sub") == "atd"))
' "$JOB_OUT" 2>&1 | diag
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
[ $rc -eq 0 ] || cat "$JOB_OUT" "$W/log/atd.log" "$W/log/at.log" 2>/dev/null | diag
ok $rc "an at job of alice (the packaged /etc/pam.d/atd redeem stack) runs as alice with a live token: sub=pertok-alice act.sub=atd"

rc=1
for _ in $(seq 1 30); do
	if in_root getent -s pertok passwd pertok-alice >"$W/log/getent.log" 2>&1; then
		rc=0
		break
	fi
	sleep 0.1
done
cut -d: -f1,3 "$W/log/getent.log" | grep -qx "pertok-alice:$ALICE_UID" || rc=1
[ $rc -eq 0 ] || diag <"$W/log/getent.log"
ok $rc "the installed libnss_pertok.so.2 answers getent -s pertok passwd pertok-alice from tokend's cache"

stop_tokend
TOKEND_PID=""

# ---- reinstall (dpkg's upgrade path: prerm upgrade, postinst configure V)
timeout 120 chroot "$R" dpkg -i "/tmp/debs/${DEB_PAM##*/}" "/tmp/debs/${DEB_NSS##*/}" \
	"/tmp/debs/${DEB_TOK##*/}" >"$W/log/reinstall.log" 2>&1
rc=$?
grep -q '/usr/bin/pamtester' "$R/etc/pertok/tokend.conf" || rc=1
grep -q 'pam_pertok\.so issue' "$R/etc/pam.d/common-session" || rc=1
[ "$(grep -Ec '^(passwd|group):.*[[:space:]]pertok([[:space:]]|$)' "$R/etc/nsswitch.conf")" = 2 ] || rc=1
[ "$(grep -o pertok "$R/etc/nsswitch.conf" | wc -l)" = 3 ] || rc=1 # passwd, group, shadow
[ $rc -eq 0 ] || cat "$W/log/reinstall.log" "$R/etc/nsswitch.conf" | diag
ok $rc "reinstall (upgrade path): the edited conffile kept, the profile still in common-session, pertok once per nsswitch.conf line"

# ---- remove (the redeem stack still in /etc/pam.d/atd: an admin's file)
timeout 120 chroot "$R" dpkg -r pertok libpam-pertok libnss-pertok >"$W/log/remove.log" 2>&1
rc=$?
[ ! -e "$R/lib/$MA/security/pam_pertok.so" ] || rc=1
[ ! -e "$R/usr/lib/$MA/libnss_pertok.so.2" ] || rc=1
[ $rc -eq 0 ] || diag <"$W/log/remove.log"
ok $rc "dpkg -r of the three packages; the modules are gone"

rc=0
if grep -l 'pam_pertok\.so' "$R"/etc/pam.d/common-* 2>/dev/null | diag; [ "${PIPESTATUS[0]}" -eq 0 ]; then
	rc=1
fi
grep -Eq '^(passwd|group):.*[[:space:]]pertok([[:space:]]|$)' "$R/etc/nsswitch.conf" && rc=1
ok $rc "after dpkg -r no common-* stack names pam_pertok.so and nsswitch.conf names no pertok"

rc=0
grep -q 'warning: /etc/pam.d/atd still names pam_pertok.so' "$W/log/remove.log" || rc=1
grep -q 'warning: /etc/pam.d/common' "$W/log/remove.log" && rc=1
[ $rc -eq 0 ] || diag <"$W/log/remove.log"
ok $rc "prerm names the hand-edited /etc/pam.d/atd that still names the module"

rc=0
cp "$W/atd.stock" "$R/etc/pam.d/atd"
run_job j2 || rc=1
grep -qx "$ALICE_UID" "$JOB_OUT" 2>/dev/null || rc=1
timeout 30 chroot "$R" pamtester pertok-login pertok-alice open_session close_session \
	</dev/null >"$W/log/login2.log" 2>&1 || rc=1
grep -q 'Module is unknown' "$W/log/atd.log" "$W/log/login2.log" && rc=1
[ $rc -eq 0 ] || cat "$W/log/atd.log" "$W/log/login2.log" | diag
ok $rc "with the stock /etc/pam.d/atd back, at jobs and logins through common-session work without the module"

rc=0
grep -q '/usr/bin/pamtester' "$R/etc/pertok/tokend.conf" 2>/dev/null || rc=1
[ -d "$R/var/lib/pertok" ] && [ -n "$(ls -A "$R/var/lib/pertok")" ] || rc=1
ok $rc "remove keeps the edited conffile /etc/pertok/tokend.conf and tokend's state in /var/lib/pertok"

# ---- purge
timeout 120 chroot "$R" dpkg -P pertok libpam-pertok libnss-pertok >"$W/log/purge.log" 2>&1
rc=$?
[ $rc -eq 0 ] || diag <"$W/log/purge.log"
ok $rc "dpkg -P of the three packages"

rc=0
for d in /var/lib/pertok /var/cache/pertok /etc/pertok; do
	[ ! -e "$R$d" ] || { echo "$d left after purge" | diag; rc=1; }
done
for p in pertok libpam-pertok libnss-pertok; do
	st=$(in_root dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)
	case $st in
	'' | un*) ;;
	*) echo "$p still known to dpkg: $st" | diag; rc=1 ;;
	esac
done
in_root getent passwd _pertok >/dev/null || rc=1
ok $rc "purge removes /var/lib/pertok, /var/cache/pertok and /etc/pertok; the system user _pertok stays"

rc=0
grep -q pam_pertok /etc/pam.d/common-session 2>/dev/null && rc=1
dpkg-query -W -f='${db:Status-Abbrev}\n' pertok 2>/dev/null | grep -q '^[ir]' && rc=1
for p in /proc/[0-9]*; do
	if [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ]; then
		echo "still running in the private root: $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" | diag
		rc=1
	fi
done
ok $rc "the host was not touched (its common-session names no pam_pertok, its dpkg database no pertok); no process left in the private root"

echo "# build $((t1 - t0)) s, whole test $(($(date +%s) - t0)) s"
exit 0
