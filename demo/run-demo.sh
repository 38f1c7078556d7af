#!/bin/bash
# SPDX-License-Identifier: MIT
#
# pertok demo (README command 1): a user logs in, queues an at job, the real
# at daemon runs it later under the user's identity with a fresh token; then
# the admin changes the redemption policy and the next job is refused.
#
# Runs as root. Installs the Debian packages (scripts/install-deps.sh; skip
# with PERTOK_NO_APT=1), builds in ./build (only what changed), then plays
# everything in a private mount namespace (scripts/sandbox.sh): the host's
# /etc, /run, /var/lib and at spool are never touched.
#
# Environment: PERTOK_BUILDDIR (default: <repo>/build), PERTOK_NO_APT=1,
# PERTOK_KEEP_SANDBOX=1 (keep the temporary root for inspection).
set -u

repo=$(cd "$(dirname "$0")/.." && pwd)
builddir=${PERTOK_BUILDDIR:-$repo/build}

if [ -t 1 ]; then
	B=$'\033[1m' G=$'\033[32m' R=$'\033[31m' D=$'\033[2m' N=$'\033[0m'
else
	B="" G="" R="" D="" N=""
fi
say() { printf '%s\n' "$*"; }
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
why() { printf '%s    %s%s\n' "$D" "$*" "$N"; }
# show a command, run it, indent its output
run() {
	printf '%s    $ %s%s\n' "$B" "$*" "$N"
	timeout 60 "$@" 2>&1 | sed 's/^/      /'
	return "${PIPESTATUS[0]}"
}
indent() { sed 's/^/      /'; }

# ------------------------------------------------------------ outside: deps + build
if [ "${PERTOK_SB_NS:-}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		say "run-demo: must run as root: it installs packages and runs the real at daemon" \
			"and tokend in a private mount namespace (nothing on the host is changed)." >&2
		exit 1
	fi
	step "Preparing: Debian packages and the build"
	deplog=$(mktemp "${TMPDIR:-/tmp}/pertok-demo-deps.XXXXXX")
	if ! "$repo/scripts/install-deps.sh" >"$deplog" 2>&1; then
		cat "$deplog" >&2
		rm -f "$deplog"
		say "${R}run-demo: installing the dependencies failed${N}" >&2
		exit 1
	fi
	say "    $(tail -n 1 "$deplog")"
	rm -f "$deplog"
	t0=$(date +%s)
	(
		set -e
		cd "$repo"
		if [ ! -x configure ]; then
			say "    autoreconf -fi"
			autoreconf -fi >/dev/null
		fi
		mkdir -p "$builddir"
		cd "$builddir"
		if [ ! -f Makefile ]; then
			say "    configure (in $builddir)"
			"$repo/configure" -q --sysconfdir=/etc --localstatedir=/var \
				--with-securedir=/lib/x86_64-linux-gnu/security
		fi
		say "    make -j2 tokend pertok pertokctl pam_pertok.la (in $builddir; only what changed)"
		make -j2 tokend/tokend tools/pertok tools/pertokctl pam_pertok/pam_pertok.la \
			>"$builddir/demo-build.log" 2>&1 || { tail -40 "$builddir/demo-build.log"; exit 1; }
	) || {
		say "${R}run-demo: the build failed (log: $builddir/demo-build.log)${N}" >&2
		exit 1
	}
	say "    build ready in $(($(date +%s) - t0)) s"
fi

export top_builddir=$builddir top_srcdir=$repo
# shellcheck source=../scripts/sandbox.sh
. "$repo/scripts/sandbox.sh"
if ! sb_preflight; then
	say "${R}run-demo: cannot run the demo here: $SB_SKIP_REASON${N}" >&2
	exit 1
fi
sb_enter "$@"

# ------------------------------------------------------------ inside the namespace
trap sb_cleanup EXIT
trap 'exit 130' INT TERM HUP
T0=$(date +%s%N)
FAIL=""
fail() { FAIL="${FAIL}  - $*"$'\n'; say "    ${R}!! $*${N}"; }

step "Step 0: a throw-away host in a private mount namespace"
sb_setup || { say "${R}sandbox setup failed${N}"; exit 1; }
ALICE=pertok-alice
HA=$(sb_home $ALICE)
why "Temporary root $SB is bind-mounted over /etc (a copy), /run and the at spool:"
why "users, PAM stacks and tokend's configuration below exist only in this namespace."
run id $ALICE
run cat /etc/pam.d/pertok-login
why "pertok-login stands in for login/sshd: pamtester drives it (tokend's actor \"login\")."
run cat /etc/pam.d/atd
why "The at daemon's own PAM stack: every job must redeem the user's persistable token."
say "    $ sed -n '/^actors/,\$p' $SB_CONF"
sed -n '/^actors/,$p' "$SB_CONF" | indent

step "Step 1: start tokend, the root token daemon"
why "tokend -f -c $SB_CONF  (log: $SB/log/tokend.log)"
sb_tokend_start || { say "${R}tokend did not start${N}"; exit 1; }
run pertokctl status

step "Step 2: alice logs in through the real PAM stack"
why "pam_pertok (issue) asks tokend for a live token (actor login = uid 0 + /usr/bin/pamtester),"
why "puts it in the session keyring as \"pertok:live\", then exchanges it for a persistable"
why "token for holder atd. The login runs in a fresh session keyring so we can look at it."
mark=$(sb_log_mark)
say "    $ keyctl session - sh   # a fresh session keyring, as login would have"
timeout 60 keyctl session - /bin/sh -c "
	echo '    \$ pamtester -v pertok-login $ALICE authenticate acct_mgmt open_session close_session'
	pamtester -v pertok-login $ALICE authenticate acct_mgmt open_session close_session >$SB/tmp/pamtester.out 2>&1
	rc=\$?
	sed 's/^/      /' $SB/tmp/pamtester.out
	echo '    \$ keyctl show @s'
	keyctl show @s 2>&1 | sed 's/^/      /'
	echo '    \$ pertok token --claims    # the login token (act: login), read from the keyring'
	pertok token --claims 2>&1 | sed 's/^/      /'
	exit \$rc
" >"$SB/tmp/login.out" 2>&1 || fail "alice's login failed"
grep -v '^Joined session keyring' "$SB/tmp/login.out"
why "tokend's log:"
sb_log_since "$mark" | indent
run pertokctl list
ALICE_ID=$(pertokctl list --user $ALICE --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next((t["id"] for t in d if t.get("holder") == "atd"), ""))' 2>/dev/null)
[ -n "$ALICE_ID" ] || fail "no persistable token for alice after the login"
why "The persistable token never leaves tokend; callers only see its id ($ALICE_ID)."

step "Step 3: alice queues an at job, then logs out"
JOB1='id
pertok token --claims'
say "    $ cd ~$ALICE; runuser -u $ALICE -- at now <<'EOF'"
printf '%s\nEOF\n' "$JOB1" | indent
j1=$(sb_at_queue $ALICE job1 "$JOB1") || fail "at refused the job"
why "queued as at job $j1. atd would mail the output; here the job writes it to"
why "$HA/job1.out instead (the sandbox adds that redirection and a last line exit=N)."

step "Step 4: the at daemon runs the queue (atd -s)"
why "atd's child calls pam_acct_mgmt: pam_pertok (redeem) asks tokend to redeem alice's token"
why "for holder atd under the redeem policy in force now; pam_open_session puts the fresh live"
why "token into the job's session keyring; then atd switches to alice and runs the job."
mark=$(sb_log_mark)
say "    $ atd -s"
sb_atd_run | indent
why "tokend's log:"
sb_log_since "$mark" | indent

step "Step 5: the job's output"
run cat "$HA/job1.out"
if [ -f "$HA/job1.out" ]; then
	/usr/bin/python3 - "$HA/job1.out" "$(sb_uid $ALICE)" "$ALICE_ID" <<-'EOF' || fail "job 1 did not run as alice with the expected token"
		import json, sys
		text = open(sys.argv[1]).read()
		first, rest = text.split("\n", 1)
		c = json.loads(rest[:rest.rindex("}") + 1])
		ok = first.startswith("uid=%s(" % sys.argv[2]) and c["uid"] == int(sys.argv[2]) \
		    and c["ptk"] == sys.argv[3] and c["act"]["sub"] == "atd" and c["sub"] == "pertok-alice"
		print("    -> ran as uid %s; live token sub=%s ptk=%s act=%s" % (sys.argv[2], c["sub"], c["ptk"], json.dumps(c["act"])))
		sys.exit(0 if ok else 1)
	EOF
else
	fail "job 1 produced no output"
fi
why "A fresh live token (5 min) minted at run time: ptk = the persistable token's id,"
why "act = atd acting for the original login actor."

step "Step 6: the admin changes the redemption policy and reloads tokend (SIGHUP)"
why "Late binding: tokens issued earlier are judged by the rules in force when the job runs."
cp "$SB_CONF" "$SB/tmp/tokend.conf.orig"
# insert a deny rule in front of the redeem set (rewritten in place: same inode)
awk '{ print }
/^redeem = \($/ { print "    { name = \"suspend-alice\"; action = \"deny\"; users = [ \"pertok-alice\" ];"
                 print "      holders = [ \"atd\" ]; }," }' "$SB/tmp/tokend.conf.orig" >"$SB/tmp/tokend.conf.new"
cat "$SB/tmp/tokend.conf.new" >"$SB_CONF"
say "    $ diff -u tokend.conf.orig $SB_CONF"
diff -u "$SB/tmp/tokend.conf.orig" "$SB_CONF" | tail -n +3 | indent
mark=$(sb_log_mark)
say "    $ kill -HUP $SB_TOKEND_PID"
sb_tokend_hup
sb_log_since "$mark" | indent
if sb_log_since "$mark" | grep -q 'reload failed'; then
	fail "tokend refused the new configuration"
fi

step "Step 7: alice's next job"
j2=$(sb_at_queue $ALICE job2 "$JOB1") || fail "at refused the job"
why "queued as at job $j2"
mark=$(sb_log_mark)
say "    $ atd -s"
sb_atd_run | sed 's/^/      atd: /'
why "(atd's job process reports the PAM failure and exits: the job never starts)"
why "tokend's log:"
sb_log_since "$mark" | indent
if grep -q 'pam_pertok' "$SB/log/syslog" 2>/dev/null; then
	why "pam_pertok's syslog line in atd:"
	grep 'pam_pertok' "$SB/log/syslog" | tail -n 1 | indent
fi
if [ -e "$HA/job2.out" ]; then
	fail "job 2 ran although the policy denies it:"
	indent <"$HA/job2.out"
else
	say "    -> no $HA/job2.out: the job never ran (atd's PAM account stage failed)"
fi
deny=$(sb_log_since "$mark" | grep 'op=redeem result=deny' | grep "user=$ALICE" | grep 'rule=suspend-alice')
[ -n "$deny" ] || fail "no 'op=redeem result=deny ... rule=suspend-alice' line in tokend's log"

step "Summary"
run pertokctl list
ms=$((($(date +%s%N) - T0) / 1000000))
elapsed=$((ms / 1000)).$((ms % 1000 / 100))
if [ -z "$FAIL" ]; then
	say ""
	say "${G}${B}DEMO PASSED${N}: alice's job ran as alice with a fresh token redeemed by atd;"
	say "after the policy change and SIGHUP her next job was refused (rule suspend-alice). (${elapsed} s)"
	exit 0
fi
say ""
say "${R}${B}DEMO FAILED${N}:"
printf '%s' "$FAIL"
exit 1
