#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): tokend's journal entries, as journald would receive
# them. No journald runs on these machines (no systemd as PID 1), so a
# receiver of journald's native protocol (datagrams of "KEY=value\n" or
# "KEY\n<le64 length>value\n"; large entries as a memfd) is bound at
# /run/systemd/journal/socket inside a private mount namespace
# (scripts/sandbox.sh), and a real tokend with real logins (pamtester) and a
# real at job (atd -s) logs to it:
#
#   (1) every entry carries MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=tokend,
#       MESSAGE_ID, PERTOK_OP, PERTOK_RESULT
#   (2) the login's exchange: MESSAGE_ID of "exchange allow", PERTOK_USER
#   (3) a refused job (revoked token): MESSAGE_ID of "redeem deny" with
#       PERTOK_USER and PERTOK_HOLDER, the query journalctl would run
#   (4) start: its MESSAGE_ID
#   (5) every MESSAGE_ID sent is explained in data/catalog/pertok.catalog
#   (6) no field holds the live token the job read, nor any part of it
#   (7) the front's lines: their own MESSAGE_ID, PERTOK_SRC=front
#   (8) reloads: a broken drop-in refused naming its FILE:LINE, a good one
#       read, each with its MESSAGE_ID
#   (9) without the socket, tokend logs to syslog (/dev/log) instead
#
# Root only; prints "1..0 # SKIP why" where it cannot run.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_srcdir
# shellcheck source=../../scripts/sandbox.sh
. "$top_srcdir/scripts/sandbox.sh"

sb_test_preflight "the real atd and pamtester"
sb_enter "$@"

JOURNAL_PID=""
DEV_BOUND=""
cleanup() {
	local rc=$?
	if [ -n "$JOURNAL_PID" ]; then
		kill -TERM "$JOURNAL_PID" 2>/dev/null
		wait "$JOURNAL_PID" 2>/dev/null
	fi
	# the private /dev of (9): its binds go before its directory is removed
	# (sb_cleanup's rm cannot unlink a mount point)
	if [ -n "$DEV_BOUND" ]; then
		sb_tokend_stop
		if [ -n "$SB_SYSLOG_PID" ]; then
			kill -TERM "$SB_SYSLOG_PID" 2>/dev/null
			wait "$SB_SYSLOG_PID" 2>/dev/null
			SB_SYSLOG_PID=""
		fi
		umount -n -R -l /dev 2>/dev/null
		umount -n -R -l "$SB/dev" 2>/dev/null
	fi
	sb_cleanup
	return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

. "$top_srcdir/tests/lib/tap.sh"
bail() {
	echo "Bail out! $*"
	[ -n "$SB" ] && [ -f "$SB/log/tokend.log" ] && diag <"$SB/log/tokend.log"
	exit 1
}

MID() { sed -n "s/^#define PT_MID_$1 \"\([0-9a-f]*\)\"$/\1/p" "$top_srcdir/tokend/log.h"; }
CATALOG=$top_srcdir/data/catalog/pertok.catalog

# journald's native protocol, one JSON object per entry in $1
journal_start() {
	mkdir -p /run/systemd/journal
	/usr/bin/python3 -c '
import array, json, os, socket, struct, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
def parse(b):
    e, i = [], 0
    while i < len(b):
        nl = b.index(b"\n", i)
        line = b[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            n = struct.unpack("<Q", b[nl + 1:nl + 9])[0]
            v = b[nl + 9:nl + 9 + n]
            if b[nl + 9 + n:nl + 10 + n] != b"\n":
                raise ValueError("binary field not ended by a newline")
            i = nl + 10 + n
        e.append([k.decode(), v.decode("utf-8", "backslashreplace")])
    return e
with open(out, "a", buffering=1) as f:
    while True:
        data, anc, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(4))
        for lvl, typ, c in anc:
            if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fd = array.array("i", c[:4])[0]
                data = os.pread(fd, 1 << 24, 0)
                os.close(fd)
        try:
            f.write(json.dumps(parse(data)) + "\n")
        except Exception as x:
            f.write(json.dumps([["BAD", repr(x)], ["RAW", data.hex()]]) + "\n")
' /run/systemd/journal/socket "$1" </dev/null >/dev/null 2>>"$SB/log/journal.err" &
	JOURNAL_PID=$!
	for _ in $(seq 1 50); do
		[ -S /run/systemd/journal/socket ] && return 0
		sleep 0.02
	done
	return 1
}

# query JSON-LINES FIELD=VALUE...: prints the matching entries' MESSAGE
# (what `journalctl FIELD=VALUE ...` would show); status 1 if none
query() {
	/usr/bin/python3 -c '
import json, sys
want = [a.split("=", 1) for a in sys.argv[2:]]
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if all([k, v] in e for k, v in want):
        n += 1
        print(dict(e).get("MESSAGE"))
sys.exit(0 if n else 1)
' "$@"
}

echo "1..10"

sb_setup || bail "sandbox setup failed"
J=$SB/log/journal.jsonl
: >"$J"
journal_start "$J" || bail "the journal receiver did not start (see $SB/log/journal.err)"
sb_tokend_start || bail "tokend did not start"

sb_login pertok-alice || diag <"$SB/log/login-pertok-alice.log"
HA=$(sb_home pertok-alice)
# a job that runs and reads its token, then one refused (revoked token)
j=$(sb_at_queue pertok-alice j1 "pertok token >$HA/j1.tok") && sb_atd_run | diag
ALICE_ID=$(timeout 10 pertokctl list --user pertok-alice --json 2>/dev/null |
	/usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d.get("tokens", d.get("list", [])) if isinstance(d, dict) else d
print(d[-1]["id"] if d else "")')
timeout 10 pertokctl revoke "$ALICE_ID" 2>&1 | diag
j=$(sb_at_queue pertok-alice j2 "echo should-not-run") && sb_atd_run | diag
# a frame longer than any allowed: the front process logs it (a line it
# forwards to the key holder)
timeout 10 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"\xff\xff\xff\xf0\x01")
try:
    s.recv(4096)
except OSError:
    pass
' "$SB_SOCKET" 2>&1 | diag
sleep 0.3
# a reload that a broken drop-in refuses, then one that takes a good one
mkdir -p /etc/pertok/tokend.conf.d
printf 'tokend = {\n live_lifetim = 5; };\n' >/etc/pertok/tokend.conf.d/50-bad.conf
sb_tokend_hup
rm -f /etc/pertok/tokend.conf.d/50-bad.conf
printf 'redeem = ( { name = "dropin-deny"; action = "deny"; users = [ "nobody" ]; } );\n' \
	>/etc/pertok/tokend.conf.d/60-good.conf
sb_tokend_hup
sb_tokend_stop
sleep 0.2

n=$(wc -l <"$J")
/usr/bin/python3 -c '
import json, sys
need = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "MESSAGE_ID", "PERTOK_OP", "PERTOK_RESULT"]
bad = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    d = dict(e)
    miss = [k for k in need if k not in d]
    if miss or d.get("SYSLOG_IDENTIFIER") != "tokend" or len(d["MESSAGE_ID"]) != 32:
        print("entry without", miss, ":", line.strip()[:300])
        bad += 1
sys.exit(1 if bad else 0)
' "$J" | diag
rc=${PIPESTATUS[0]}
[ "$n" -ge 4 ] || rc=1
ok $rc "(1) $n journal entries, each with MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=tokend, MESSAGE_ID, PERTOK_OP, PERTOK_RESULT"

query "$J" "MESSAGE_ID=$(MID EXCHANGE_ALLOW)" PERTOK_USER=pertok-alice PERTOK_OP=exchange | diag
ok "${PIPESTATUS[0]}" "(2) the login's exchange: MESSAGE_ID=$(MID EXCHANGE_ALLOW) PERTOK_USER=pertok-alice"

query "$J" "MESSAGE_ID=$(MID REDEEM_ALLOW)" PERTOK_USER=pertok-alice PERTOK_HOLDER=atd | diag
ok "${PIPESTATUS[0]}" "(3) the job that ran: MESSAGE_ID=$(MID REDEEM_ALLOW) PERTOK_USER=pertok-alice PERTOK_HOLDER=atd"

query "$J" "MESSAGE_ID=$(MID REDEEM_DENY)" PERTOK_USER=pertok-alice PERTOK_HOLDER=atd \
	PERTOK_RESULT=deny | diag
ok "${PIPESTATUS[0]}" "(3) the refused job: journalctl MESSAGE_ID=$(MID REDEEM_DENY) PERTOK_USER=pertok-alice finds it"

query "$J" "MESSAGE_ID=$(MID START)" PERTOK_OP=start PERTOK_RESULT=allow PRIORITY=5 >/dev/null ||
	query "$J" "MESSAGE_ID=$(MID START)" PERTOK_OP=start PERTOK_RESULT=allow >/dev/null
ok $? "(4) tokend's start: MESSAGE_ID=$(MID START)"

rc=0
for id in $(/usr/bin/python3 -c '
import json, sys
print("\n".join(sorted({dict(json.loads(l))["MESSAGE_ID"] for l in open(sys.argv[1])})))' "$J"); do
	if ! grep -qx -- "-- $id" "$CATALOG"; then
		echo "MESSAGE_ID $id is not in $CATALOG" | diag
		rc=1
	fi
done
ok $rc "(5) every MESSAGE_ID tokend sent has an entry in the catalog"

# the token the job read: neither it nor its signature in any entry
rc=1
if [ -s "$HA/j1.tok" ]; then
	rc=0
	tok=$(tr -d '\n' <"$HA/j1.tok")
	sig=${tok##*.}
	grep -qF -- "$sig" "$J" && rc=1
	grep -qF -- "${tok%.*}" "$J" && rc=1
	[ $rc -eq 0 ] || echo "the live token appears in a journal entry" | diag
else
	echo "the job did not write its token" | diag
	cat "$HA/j1.out" 2>/dev/null | diag
fi
ok $rc "(6) the live token the job read is in no journal field"

# the front's line: its own MESSAGE_ID, PERTOK_SRC=front once, its fields
/usr/bin/python3 -c '
import json, sys
mid = sys.argv[2]
found = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    d = dict(e)
    if d.get("PERTOK_OP") != "frame":
        continue
    found += 1
    srcs = [v for k, v in e if k == "PERTOK_SRC"]
    if d.get("MESSAGE_ID") != mid or srcs != ["front"] or d.get("PERTOK_PEER_UID") != "0" \
            or d.get("PERTOK_RESULT") != "error":
        print("front entry wrong:", line.strip())
        sys.exit(1)
if not found:
    print("no entry with PERTOK_OP=frame")
    sys.exit(1)
' "$J" "$(MID FRONT)" | diag
ok "${PIPESTATUS[0]}" "(7) the front's line (a bad frame): MESSAGE_ID=$(MID FRONT), PERTOK_SRC=front once, PERTOK_PEER_UID=0"

/usr/bin/python3 -c '
import json, sys
bad, good = sys.argv[2], sys.argv[3]
ok_bad = ok_good = False
for line in open(sys.argv[1]):
    d = dict(json.loads(line))
    if d.get("MESSAGE_ID") == bad and d.get("PERTOK_OP") == "reload" and \
            "/etc/pertok/tokend.conf.d/50-bad.conf:2: unknown setting" in d.get("PERTOK_REASON", ""):
        ok_bad = True
    if d.get("MESSAGE_ID") == good and d.get("PERTOK_REDEEM_RULES") == "2" and ok_bad:
        ok_good = True
if not (ok_bad and ok_good):
    print("reload entries missing: refused %s, taken %s" % (ok_bad, ok_good))
    sys.exit(1)
' "$J" "$(MID RELOAD_FAILED)" "$(MID RELOAD)" | diag
ok "${PIPESTATUS[0]}" "(8) SIGHUP: a broken drop-in refused (MESSAGE_ID=$(MID RELOAD_FAILED), its FILE:LINE in PERTOK_REASON), then a good one read (MESSAGE_ID=$(MID RELOAD), 2 redeem rules)"

# (9) no journal socket: syslog
kill -TERM "$JOURNAL_PID" 2>/dev/null
wait "$JOURNAL_PID" 2>/dev/null
JOURNAL_PID=""
rm -f /run/systemd/journal/socket
# A host without /dev/log (a container): a private /dev whose log socket is
# a receiver, the rest of /dev bound in from the real one.
if [ ! -e /dev/log ]; then
	# on a tmpfs of its own, so that one recursive unmount undoes it all
	mkdir -p "$SB/dev"
	mount -n -t tmpfs -o mode=0755 tmpfs "$SB/dev" || bail "cannot mount a tmpfs on $SB/dev"
	DEV_BOUND=1
	for f in /dev/*; do
		b=${f#/dev/}
		if [ -d "$f" ] && [ ! -L "$f" ]; then
			mkdir -p "$SB/dev/$b" && mount -n --rbind "$f" "$SB/dev/$b"
		elif [ -L "$f" ]; then
			cp -P "$f" "$SB/dev/$b"
		else
			: >"$SB/dev/$b" && mount -n --bind "$f" "$SB/dev/$b"
		fi
	done
	mount -n --rbind "$SB/dev" /dev || bail "cannot bind a private /dev"
	SB_SYSLOG_PID_OLD=$SB_SYSLOG_PID
	: >"$SB/log/syslog"
	/usr/bin/python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\n\0") + b"\n")
' /dev/log "$SB/log/syslog" </dev/null >/dev/null 2>&1 &
	SB_SYSLOG_PID=$!
	for _ in $(seq 1 50); do [ -S /dev/log ] && break; sleep 0.02; done
	[ -n "$SB_SYSLOG_PID_OLD" ] && kill -TERM "$SB_SYSLOG_PID_OLD" 2>/dev/null
fi
before=$(wc -l <"$J")
sys_before=$(grep -c 'tokend' "$SB/log/syslog" 2>/dev/null)
sb_tokend_start || bail "tokend did not start a second time"
sb_tokend_stop
sleep 0.2
sys_after=$(grep -c 'tokend' "$SB/log/syslog" 2>/dev/null)
rc=0
[ "$(wc -l <"$J")" -eq "$before" ] || rc=1
if [ "${sys_after:-0}" -le "${sys_before:-0}" ]; then
	echo "no tokend line reached syslog ($sys_before before, $sys_after after)" | diag
	rc=1
fi
grep -q 'tokend.*op=start result=allow' "$SB/log/syslog" || rc=1
ok $rc "(9) without /run/systemd/journal/socket: nothing to the journal, op=start to syslog (/dev/log)"
