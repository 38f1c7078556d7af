# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# scripts/sandbox.sh — a throw-away pertok host inside a private mount
# namespace, shared by demo/run-demo.sh and tests/system/*.sh. Source it from
# bash; nothing here touches the host's /etc, /run, /var/lib or /var/spool:
#
#   sb_preflight                 root? unshare? at, atd, pamtester? built?
#                                (returns 1 with $SB_SKIP_REASON otherwise)
#   sb_enter "$@"                re-executes the calling script ($0) under
#                                `unshare -m` (no-op once inside)
#   sb_setup                     temp root $SB, bind mounts, users, PAM
#                                stacks, tokend.conf, at spool
#   sb_tokend_start / sb_tokend_stop / sb_tokend_hup
#   sb_login USER                a login through the real PAM stack (pamtester)
#   sb_at_queue USER NAME BODY   queue an at job writing to ~USER/NAME.out
#   sb_atd_run                   run the queue once (atd -s), wait for the jobs
#   sb_cron_setup                private crontab spool, no system crontabs,
#                                /etc/pam.d/cron redeeming for holder cron
#   sb_cron_start / sb_cron_stop the real cron daemon (cron -f), by its pid
#   sb_cleanup                   (EXIT trap) stops what we started, rm -rf $SB
#
# Inside the namespace:
#   /etc        bind mount of a private copy of the host's /etc ($SB/etc):
#               users pertok-alice and pertok-bob (homes in $SB/home), group
#               pertok, /etc/pam.d/{atd,pertok-login}, /etc/pertok/tokend.conf
#   /run        bind mount of $SB/run (tokend's socket /run/pertok/tokend.sock)
#   /var/spool/cron/{atjobs,atspool}   private, daemon:daemon 1770, .SEQ 0600
#   /var/lib/pertok (only if the host has one) hidden behind an empty dir;
#               tokend's state_dir is $SB/var/lib/pertok
#   /var/cache/pertok (only if the host has one) hidden behind
#               $SB/var/cache/pertok, where tokend.nss_cache points: the
#               sandbox's tokend never writes the host's libnss_pertok cache
#   /usr/sbin/sendmail (if present) a stub appending to $SB/log/mail.log, so
#               no job output ever reaches the host's MTA
#   /dev/log    (if the host has one) captured into $SB/log/syslog
# The whole of /etc is copied (0.2 s) rather than single files so that tools
# which replace files by rename (gpasswd, useradd) work, and /etc/pertok can
# exist although the host has none.
#
# Inputs (environment): top_builddir (build tree with tokend/tokend,
# tools/pertok, tools/pertokctl, pam_pertok/.libs/pam_pertok.so; `make check`
# exports it), SB_PLAIN=1 (use pam_permit instead of pam_pertok: plumbing
# only), PERTOK_KEEP_SANDBOX=1 (leave $SB for inspection), SB_VERBOSE=1,
# TMPDIR (where $SB is created, default /tmp: it must allow exec and let the
# test users through).
#
# Mount calls use `mount -n`: libmount would otherwise create /run/mount (the
# host's, before /run is replaced) for its utab.

SB_USERS="pertok-alice pertok-bob"
SB_GROUP="pertok"
SB_SOCKET="/run/pertok/tokend.sock"
SB_CONF="/etc/pertok/tokend.conf"
SB_SPOOL_JOBS="/var/spool/cron/atjobs"
SB_SPOOL_OUT="/var/spool/cron/atspool"
SB_CRONTABS="/var/spool/cron/crontabs"
SB_TOKEND_PID=""
SB_CRON_PID=""
SB_SYSLOG_PID=""
SB=""

sb_say() { [ "${SB_VERBOSE:-0}" = 1 ] && printf 'sandbox: %s\n' "$*" >&2; return 0; }
sb_err() { printf 'sandbox: %s\n' "$*" >&2; }

# The build tree to take binaries from.
sb_builddir() {
	local d=${top_builddir:-}
	if [ -z "$d" ]; then
		d=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build
	fi
	printf '%s\n' "$d"
}

# Real ELF file for a built program (libtool may leave a wrapper script).
sb_elf() {
	local f=$1 d b
	d=$(dirname "$f")
	b=$(basename "$f")
	if [ -f "$f" ] && [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
		printf '%s\n' "$f"
	elif [ -f "$d/.libs/$b" ]; then
		printf '%s\n' "$d/.libs/$b"
	elif [ -f "$d/.libs/lt-$b" ]; then
		printf '%s\n' "$d/.libs/lt-$b"
	else
		return 1
	fi
}

# Returns 0 when the sandbox can run here; otherwise 1 and $SB_SKIP_REASON.
# shellcheck disable=SC2034  # SB_SKIP_REASON is for the caller
sb_preflight() {
	local b p
	SB_SKIP_REASON=""
	if [ "$(id -u)" -ne 0 ]; then
		SB_SKIP_REASON="needs root (private mount namespace, bind mounts, the real atd)"
		return 1
	fi
	for p in unshare mount runuser at atd pamtester timeout; do
		if ! command -v "$p" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$p" ]; then
			SB_SKIP_REASON="$p not installed (run scripts/install-deps.sh)"
			return 1
		fi
	done
	if [ ! -x /usr/bin/python3 ]; then
		SB_SKIP_REASON="/usr/bin/python3 not installed (run scripts/install-deps.sh)"
		return 1
	fi
	if [ ! -d "$SB_SPOOL_JOBS" ] || [ ! -d "$SB_SPOOL_OUT" ]; then
		SB_SKIP_REASON="no at spool at $SB_SPOOL_JOBS (package at not installed?)"
		return 1
	fi
	if [ "${PERTOK_SB_NS:-}" != 1 ] && ! timeout 10 unshare -m true 2>/dev/null; then
		SB_SKIP_REASON="cannot create a mount namespace (unshare -m failed: container without CAP_SYS_ADMIN?)"
		return 1
	fi
	if [ "${SB_PLAIN:-0}" != 1 ]; then
		b=$(sb_builddir)
		for p in tokend/tokend tools/pertok tools/pertokctl; do
			if ! sb_elf "$b/$p" >/dev/null; then
				SB_SKIP_REASON="$b/$p not built yet"
				return 1
			fi
		done
		if [ ! -f "$b/pam_pertok/.libs/pam_pertok.so" ]; then
			SB_SKIP_REASON="$b/pam_pertok/.libs/pam_pertok.so not built yet"
			return 1
		fi
	fi
	return 0
}

# Re-executes the calling script inside a new private mount namespace.
# The system tests' start: "1..0 # SKIP why" and exit 0 under a sanitizer
# build (WHAT: the programs that cannot load ASan-built modules) or when
# sb_preflight says this machine cannot run the sandbox.
sb_test_preflight() {
	if [ "${PERTOK_SANITIZER:-0}" = 1 ]; then
		echo "1..0 # SKIP sanitizer build: $1 cannot load ASan-instrumented modules"
		exit 0
	fi
	if ! sb_preflight; then
		echo "1..0 # SKIP $SB_SKIP_REASON"
		exit 0
	fi
}

sb_enter() {
	[ "${PERTOK_SB_NS:-}" = 1 ] && return 0
	PERTOK_SB_OUTER_NS=$(readlink /proc/self/ns/mnt)
	if [ -z "$PERTOK_SB_OUTER_NS" ]; then
		sb_err "cannot read /proc/self/ns/mnt"
		exit 1
	fi
	export PERTOK_SB_NS=1 PERTOK_SB_OUTER_NS
	exec unshare -m --propagation private -- /bin/bash "$0" "$@"
}

# id not used as uid in passwd nor gid in group, from $1 up
sb_free_id() {
	local id=$1
	while getent passwd "$id" >/dev/null || getent group "$id" >/dev/null; do
		id=$((id + 1))
	done
	printf '%s\n' "$id"
}

# Adds a user with a user-private group and a home in $SB/home; the shadow
# password is "*" (no password, but not locked: check_account must pass).
sb_add_user() {
	local u=$1 id day
	id=$(sb_free_id 2900)
	day=$(($(date +%s) / 86400))
	printf '%s:x:%s:%s:pertok test user:%s:/bin/sh\n' "$u" "$id" "$id" "$SB/home/$u" >>/etc/passwd
	printf '%s:*:%s:0:99999:7:::\n' "$u" "$day" >>/etc/shadow
	printf '%s:x:%s:\n' "$u" "$id" >>/etc/group
	printf '%s:!::\n' "$u" >>/etc/gshadow
	install -d -o "$id" -g "$id" -m 0700 "$SB/home/$u"
}

# Rewrites a line-based file in place (keeps the inode: cat >, not sed -i).
sb_rewrite() {
	local f=$1 tmp
	shift
	tmp=$(mktemp "$SB/tmp/rewrite.XXXXXX")
	"$@" <"$f" >"$tmp" && cat "$tmp" >"$f"
	rm -f "$tmp"
}

# Removes every line naming user $1 from passwd, shadow, group and gshadow
# (a host that already has such a user).
sb_drop_user() {
	local u=$1 f
	for f in /etc/passwd /etc/shadow /etc/group /etc/gshadow; do
		[ -f "$f" ] && sb_rewrite "$f" awk -F: -v u="$u" '$1 != u'
	done
}

sb_uid() { id -u "$1"; }
sb_home() { getent passwd "$1" | cut -d: -f6; }

sb_write_pam() {
	local mod=$SB/lib/pam_pertok.so
	if [ "${SB_PLAIN:-0}" = 1 ]; then
		cat >/etc/pam.d/atd <<-EOF
			# pertok sandbox (plain: no pam_pertok)
			auth     required  pam_permit.so
			account  required  pam_permit.so
			session  required  pam_permit.so
			password required  pam_deny.so
		EOF
		cat >/etc/pam.d/pertok-login <<-EOF
			auth     required  pam_permit.so
			account  required  pam_permit.so
			session  required  pam_permit.so
			password required  pam_deny.so
		EOF
		return 0
	fi
	# atd calls pam_acct_mgmt, pam_open_session, pam_setcred (auth stack),
	# never pam_authenticate.
	cat >/etc/pam.d/atd <<-EOF
		# pertok sandbox: every at job must redeem the user's persistable token
		auth     required  pam_permit.so
		account  required  $mod redeem holder=atd
		session  required  $mod redeem holder=atd
		password required  pam_deny.so
	EOF
	# A login: pamtester stands in for login/sshd (tokend's actor "login").
	cat >/etc/pam.d/pertok-login <<-EOF
		# pertok sandbox: a login that mints a live token and persists it for atd
		auth     required  pam_permit.so
		account  required  pam_permit.so
		session  required  pam_permit.so
		session  optional  $mod issue holder=atd
		password required  pam_deny.so
	EOF
}

# The sandbox's tokend.conf (callers may overwrite $SB_CONF afterwards).
sb_write_config() {
	# (a plain heredoc: the file keeps its own indentation)
	cat >"$SB_CONF" <<EOF
# tokend.conf of the pertok sandbox ($SB)
tokend: {
    socket = "$SB_SOCKET";
    state_dir = "$SB/var/lib/pertok";
    nss_cache = "$SB/var/cache/pertok/nss.cache";
    audience = "pertok";
    live_lifetime = "5m";
    persist_lifetime = "1d";
    max_outstanding = 4;
};
seal: {
    backend = "software";
};
actors = (
    { name = "login"; uid = 0; exe = [ "/usr/bin/pamtester" ]; },
    { name = "atd";   uid = 0; exe = [ "/usr/sbin/atd" ]; }
);
issue = (
    { name = "logins"; actors = [ "login", "self" ]; groups = [ "$SB_GROUP" ];
      holders = [ "atd" ]; persist_lifetime = "1d"; max_outstanding = 4; }
);
redeem = (
    { name = "scheduled-jobs"; holders = [ "atd" ]; groups = [ "$SB_GROUP" ];
      live_lifetime = "5m"; check_account = true; }
);
EOF
	chmod 0644 "$SB_CONF"
}

sb_setup() {
	local b u f members=""
	# never bind-mount anything in the caller's mount namespace: sb_enter
	# recorded it before unshare, and this one must be another
	local ns
	ns=$(readlink /proc/self/ns/mnt)
	if [ "${PERTOK_SB_NS:-}" != 1 ] || [ -z "${PERTOK_SB_OUTER_NS:-}" ] || [ -z "$ns" ] ||
		[ "$ns" = "$PERTOK_SB_OUTER_NS" ]; then
		sb_err "sb_setup must run inside the private mount namespace (call sb_enter first)"
		return 1
	fi
	mount -n --make-rprivate / || return 1
	SB=$(mktemp -d "${TMPDIR:-/tmp}/pertok-sb.XXXXXX") || return 1
	chmod 0755 "$SB"
	export SB
	mkdir -p "$SB/bin" "$SB/lib" "$SB/log" "$SB/tmp" "$SB/home" "$SB/run/pertok" \
		"$SB/spool/atjobs" "$SB/spool/atspool" "$SB/var/lib/pertok" "$SB/empty" \
		"$SB/var/cache/pertok"
	chmod 0755 "$SB/bin" "$SB/lib" "$SB/home" "$SB/run" "$SB/run/pertok"
	chmod 0700 "$SB/var/lib/pertok" "$SB/tmp" "$SB/empty"
	chmod 1777 "$SB/log"

	# programs run from $SB (copies of the binaries, the PAM module)
	printf '#!/bin/sh\nexit 0\n' >"$SB/bin/exec-probe"
	chmod 0755 "$SB/bin/exec-probe"
	if ! "$SB/bin/exec-probe" 2>/dev/null; then
		sb_err "cannot execute programs in $SB (is $(dirname "$SB") mounted noexec?);" \
			"set TMPDIR to a directory that allows it"
		return 1
	fi
	rm -f "$SB/bin/exec-probe"

	# /etc: a private copy
	if ! cp -a /etc "$SB/etc" 2>"$SB/log/cp-etc.log"; then
		if [ ! -s "$SB/etc/passwd" ] || [ ! -d "$SB/etc/pam.d" ]; then
			sb_err "copying /etc failed:"
			cat "$SB/log/cp-etc.log" >&2
			return 1
		fi
		sb_err "warning: parts of /etc were not copied (see $SB/log/cp-etc.log)"
	fi
	mount -n --bind "$SB/etc" /etc || return 1
	# /run: private (tokend's socket)
	mkdir -p "$SB/run/lock" "$SB/run/user"
	chmod 1777 "$SB/run/lock"
	ln -s /dev/shm "$SB/run/shm"
	mount -n --bind "$SB/run" /run || return 1
	sb_syslog_start
	# the at spool
	chown daemon:daemon "$SB/spool/atjobs" "$SB/spool/atspool"
	chmod 1770 "$SB/spool/atjobs" "$SB/spool/atspool"
	install -o daemon -g daemon -m 0600 /dev/null "$SB/spool/atjobs/.SEQ"
	mount -n --bind "$SB/spool/atjobs" "$SB_SPOOL_JOBS" || return 1
	mount -n --bind "$SB/spool/atspool" "$SB_SPOOL_OUT" || return 1
	# a host-installed pertok's state stays out of reach
	if [ -d /var/lib/pertok ]; then
		mount -n --bind "$SB/empty" /var/lib/pertok || return 1
	fi
	# ... and its libnss_pertok cache (tokend.nss_cache is the sandbox's)
	chmod 0755 "$SB/var" "$SB/var/cache" "$SB/var/cache/pertok"
	if [ -d /var/cache/pertok ]; then
		mount -n --bind "$SB/var/cache/pertok" /var/cache/pertok || return 1
	fi
	# no mail ever leaves the sandbox
	cat >"$SB/bin/sendmail" <<-EOF
		#!/bin/sh
		{ echo "--- sendmail \$* (uid \$(id -u))"; cat; } >>"$SB/log/mail.log"
	EOF
	chmod 0755 "$SB/bin/sendmail"
	if [ -e /usr/sbin/sendmail ]; then
		mount -n --bind "$SB/bin/sendmail" /usr/sbin/sendmail || return 1
	fi

	# users and the group
	for u in $SB_USERS; do
		getent passwd "$u" >/dev/null && sb_drop_user "$u"
		sb_add_user "$u"
		members=${members:+$members,}$u
	done
	if getent group "$SB_GROUP" >/dev/null; then
		sb_rewrite /etc/group awk -F: -v g="$SB_GROUP" '$1 != g'
		[ -f /etc/gshadow ] && sb_rewrite /etc/gshadow awk -F: -v g="$SB_GROUP" '$1 != g'
	fi
	printf '%s:x:%s:%s\n' "$SB_GROUP" "$(sb_free_id 2900)" "$members" >>/etc/group
	printf '%s:!::%s\n' "$SB_GROUP" "$members" >>/etc/gshadow
	if [ -f /etc/at.allow ]; then
		for u in $SB_USERS; do echo "$u" >>/etc/at.allow; done
	fi
	if [ -f /etc/at.deny ]; then
		sb_rewrite /etc/at.deny awk '$1 !~ /^pertok-/'
	fi

	# binaries: copies, so the users can run them whatever the build dir's
	# permissions
	if [ "${SB_PLAIN:-0}" != 1 ]; then
		b=$(sb_builddir)
		install -m 0755 "$(sb_elf "$b/tokend/tokend")" "$SB/bin/tokend" || return 1
		install -m 0755 "$(sb_elf "$b/tools/pertok")" "$SB/bin/pertok" || return 1
		install -m 0755 "$(sb_elf "$b/tools/pertokctl")" "$SB/bin/pertokctl" || return 1
		install -m 0644 "$b/pam_pertok/.libs/pam_pertok.so" "$SB/lib/pam_pertok.so" || return 1
	fi
	export PATH="$SB/bin:$PATH"

	# the users must reach their homes and the tools through $SB's parents
	if ! timeout 10 runuser -u pertok-alice -- test -x "$SB/home" 2>/dev/null; then
		sb_err "pertok-alice cannot reach $SB (a parent directory without search" \
			"permission for others?); set TMPDIR to a directory like /tmp"
		return 1
	fi

	mkdir -p /etc/pertok
	chmod 0755 /etc/pertok
	sb_write_pam
	sb_write_config
	sb_say "ready in $SB"
}

# Captures syslog (pam_pertok's pam_syslog lines, atd's, tokend's) into
# $SB/log/syslog where the host has a /dev/log: a symlink into /run (journald)
# gets a socket in the private /run; a socket gets one bind-mounted over it.
# Without /dev/log the messages are dropped (nothing reaches the host).
sb_syslog_start() {
	local target sock
	if [ -L /dev/log ]; then
		target=$(readlink /dev/log)
		case $target in
		/run/*) sock=$target ;;
		*)
			echo "(/dev/log -> $target, outside /run: not captured)" >"$SB/log/syslog"
			return 0
			;;
		esac
		mkdir -p "$(dirname "$sock")"
	elif [ -S /dev/log ]; then
		sock=/run/sandbox-devlog.sock
	else
		echo "(no /dev/log on this host: syslog messages are dropped)" >"$SB/log/syslog"
		return 0
	fi
	: >"$SB/log/syslog"
	/usr/bin/python3 -c '
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(out, "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\n\0") + b"\n")
' "$sock" "$SB/log/syslog" </dev/null >/dev/null 2>>"$SB/log/syslog.err" &
	SB_SYSLOG_PID=$!
	for _ in $(seq 1 50); do
		[ -S "$sock" ] && break
		sleep 0.02
	done
	if [ ! -S "$sock" ]; then
		sb_err "syslog receiver did not start (see $SB/log/syslog.err)"
		return 0
	fi
	if [ -S /dev/log ] && [ ! -L /dev/log ]; then
		mount -n --bind "$sock" /dev/log || sb_err "cannot bind the syslog receiver over /dev/log"
	fi
}

sb_tokend_running() {
	[ -n "$SB_TOKEND_PID" ] && kill -0 "$SB_TOKEND_PID" 2>/dev/null
}

# Starts tokend in the foreground mode (-f: stderr logging) in the background
# and waits for its socket. Log: $SB/log/tokend.log.
sb_tokend_start() {
	if sb_tokend_running; then
		sb_err "tokend already running (pid $SB_TOKEND_PID)"
		return 1
	fi
	rm -f "$SB_SOCKET"
	"$SB/bin/tokend" -f -c "$SB_CONF" </dev/null >>"$SB/log/tokend.log" 2>&1 &
	SB_TOKEND_PID=$!
	echo "$SB_TOKEND_PID" >"$SB/tokend.pid"
	for _ in $(seq 1 100); do
		# A round trip, not the socket: the front listens before the key
		# holder has unsealed the store.
		if [ -S "$SB_SOCKET" ] &&
			"$SB/bin/pertokctl" -s "$SB_SOCKET" status >/dev/null 2>&1; then
			sb_say "tokend pid $SB_TOKEND_PID listening on $SB_SOCKET"
			return 0
		fi
		if ! kill -0 "$SB_TOKEND_PID" 2>/dev/null; then
			sb_exited_at_start tokend "$SB_TOKEND_PID" "$SB/log/tokend.log"
			SB_TOKEND_PID=""
			return 1
		fi
		sleep 0.1
	done
	sb_err "tokend did not answer on $SB_SOCKET within 10 s"
	sb_tokend_stop
	return 1
}

# SIGTERM, wait up to 5 s, then SIGKILL. Only the pid we started.
sb_tokend_stop() {
	local rc=0
	[ -n "$SB_TOKEND_PID" ] || return 0
	sb_stop_pid tokend "$SB_TOKEND_PID" || rc=1
	SB_TOKEND_PID=""
	rm -f "$SB/tokend.pid"
	return $rc
}

# sb_stop_pid NAME PID: SIGTERM to a daemon we started, wait up to 5 s, then
# SIGKILL (returns 1 then); reaps it.
sb_stop_pid() {
	local rc=0
	if kill -TERM "$2" 2>/dev/null; then
		for _ in $(seq 1 50); do
			kill -0 "$2" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$2" 2>/dev/null; then
			sb_err "$1 (pid $2) ignored SIGTERM for 5 s; SIGKILL"
			kill -KILL "$2" 2>/dev/null
			rc=1
		fi
	fi
	wait "$2" 2>/dev/null
	return $rc
}

# sb_exited_at_start NAME PID OUTPUT: reaps a daemon that died at its start
# and shows why.
sb_exited_at_start() {
	wait "$2" 2>/dev/null
	sb_err "$1 exited at start (status $?); its output:"
	sed 's/^/  | /' "$3" >&2
}

# SIGHUP (reload) and wait until the log shows the reload (or 3 s).
sb_tokend_hup() {
	local before
	sb_tokend_running || { sb_err "tokend not running"; return 1; }
	before=$(sb_log_mark)
	kill -HUP "$SB_TOKEND_PID" || return 1
	for _ in $(seq 1 30); do
		sleep 0.1
		if sb_log_since "$before" | grep -qiE 'reload|config'; then
			return 0
		fi
	done
	return 0
}

# Line count of tokend's log; sb_log_since MARK prints what came after.
sb_log_mark() { if [ -f "$SB/log/tokend.log" ]; then wc -l <"$SB/log/tokend.log"; else echo 0; fi; }
sb_log_since() { tail -n +"$(($1 + 1))" "$SB/log/tokend.log" 2>/dev/null; }

# A login through the real PAM stack: authenticate, account, open_session,
# close_session as pamtester does for USER. Extra arguments go to pamtester
# before the service (e.g. -I tty=pts/1). Output in $SB/log/login-USER.log.
sb_login() {
	local u=$1
	shift
	timeout 30 pamtester -v "$@" pertok-login "$u" authenticate acct_mgmt open_session close_session \
		</dev/null >"$SB/log/login-$u.log" 2>&1
}

# Queues an at job for USER: BODY runs with stdout+stderr in ~USER/NAME.out
# (the job ends with a line "exit=N"). Prints at's job number.
sb_at_queue() {
	local u=$1 name=$2 body=$3 home out rc
	home=$(sb_home "$u")
	rm -f "$home/$name.out"
	out=$(printf 'exec >%s 2>&1\n%s\necho "exit=$?"\n' "$home/$name.out" "$body" |
		(cd "$home" && timeout 30 runuser -u "$u" -- at now 2>&1))
	rc=$?
	printf '%s\n' "$out" >>"$SB/log/at.log"
	if [ $rc -ne 0 ]; then
		sb_err "at (as $u) failed: $out"
		return 1
	fi
	printf '%s\n' "$out" | sed -n 's/^job \([0-9]*\) at .*/\1/p'
}

# Runs the at queue once (atd -s) and waits until every process it started
# has exited: atd forks per job and returns at once, so it runs under a
# child subreaper that reaps the whole tree. atd's stderr (where a PAM failure
# is reported) goes to $SB/log/atd.log and is also printed to stdout.
sb_atd_run() {
	local rc err
	err=$(mktemp "$SB/tmp/atd.XXXXXX")
	timeout 60 /usr/bin/python3 -c '
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
pid = os.fork()
if pid == 0:
    os.execv("/usr/sbin/atd", ["atd", "-s"])
rc = 0
while True:
    try:
        p, st = os.wait()
    except ChildProcessError:
        break
    if p == pid:
        rc = os.waitstatus_to_exitcode(st)
sys.exit(rc)
' </dev/null 2>"$err"
	rc=$?
	cat "$err" >>"$SB/log/atd.log"
	sed '/^$/d' "$err"
	rm -f "$err"
	return $rc
}

# cron (Debian's cron 3.0pl1) in the sandbox: the crontab spool is private
# (root:crontab 1730, as the package makes it; `crontab -u USER FILE` writes
# there), the private /etc has no system crontab and no /etc/cron.d jobs, and
# /etc/pam.d/cron redeems for holder "cron" (cron calls account, setcred,
# open_session; auth holds only setcred's hook: cron never authenticates).
sb_cron_setup() {
	local mod=$SB/lib/pam_pertok.so
	mkdir -p "$SB/spool/crontabs"
	chown root:crontab "$SB/spool/crontabs" || return 1
	chmod 1730 "$SB/spool/crontabs"
	mount -n --bind "$SB/spool/crontabs" "$SB_CRONTABS" || return 1
	find /etc/cron.d -mindepth 1 -delete 2>/dev/null
	printf '# pertok sandbox: no system jobs\n' >/etc/crontab
	cat >/etc/pam.d/cron <<-EOF
		# pertok sandbox: every cron job must redeem the user's persistable token
		auth     required  pam_permit.so
		auth     required  $mod redeem holder=cron
		account  required  $mod redeem holder=cron
		session  required  $mod redeem holder=cron
		password required  pam_deny.so
	EOF
}

# Starts cron in the foreground (-f; -L 15 logs each job's start and end to
# syslog) in the background; its output in $SB/log/cron.log. cron reads the
# crontabs at start, runs the @reboot entries at once (the private /run has
# no /run/crond.reboot yet) and the others at their minute.
sb_cron_start() {
	if [ -n "$SB_CRON_PID" ]; then
		sb_err "cron already running (pid $SB_CRON_PID)"
		return 1
	fi
	/usr/sbin/cron -f -L 15 </dev/null >>"$SB/log/cron.log" 2>&1 &
	SB_CRON_PID=$!
	sleep 0.2
	if ! kill -0 "$SB_CRON_PID" 2>/dev/null; then
		sb_exited_at_start cron "$SB_CRON_PID" "$SB/log/cron.log"
		SB_CRON_PID=""
		return 1
	fi
}

# SIGTERM to the pid we started (sb_stop_pid).
sb_cron_stop() {
	[ -n "$SB_CRON_PID" ] || return 0
	sb_stop_pid cron "$SB_CRON_PID"
	SB_CRON_PID=""
	return 0
}

sb_cleanup() {
	local rc=$?
	sb_cron_stop
	sb_tokend_stop
	if [ -n "$SB_SYSLOG_PID" ]; then
		kill -TERM "$SB_SYSLOG_PID" 2>/dev/null
		wait "$SB_SYSLOG_PID" 2>/dev/null
		SB_SYSLOG_PID=""
	fi
	if [ -n "$SB" ] && [ -d "$SB" ]; then
		if [ "${PERTOK_KEEP_SANDBOX:-0}" = 1 ]; then
			sb_err "kept $SB (PERTOK_KEEP_SANDBOX=1)"
		else
			rm -rf --one-file-system "$SB"
		fi
	fi
	return $rc
}
