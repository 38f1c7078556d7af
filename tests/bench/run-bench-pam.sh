#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The in-process benchmark: one scheduler job's PAM calls (account, session,
# setcred) with pam_pertok.so redeem against a private tokend, beside the
# same calls with pam_permit.so, and the NSS look-ups of a job start
# (getpwnam_r + getgrouplist through nss_files), all in the same run. The
# PAM stacks come from a private directory (pam_start_confdir): the host's
# /etc/pam.d is not read or changed.
# Usage: tests/bench/run-bench-pam.sh BUILDDIR   (as root)
set -euo pipefail
builddir=$(cd "${1:-.}" && pwd)
secs=${BENCH_SECONDS:-5}
if [ "$(id -u)" != 0 ]; then
	echo "bench-pam: needs root (tokend checks its callers' credentials); not run"
	exit 0
fi
module=$builddir/pam_pertok/.libs/pam_pertok.so
bench=$(readlink -f "$builddir/tests/bench/bench")
benchpam=$(readlink -f "$builddir/tests/bench/bench-pam")
tmp=$(mktemp -d /tmp/pertok-bench-pam.XXXXXX)
chmod 700 "$tmp"
tokend_pid=
cleanup() {
	if [ -n "$tokend_pid" ]; then
		kill "$tokend_pid" 2>/dev/null || true
		wait "$tokend_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
cat >"$tmp/tokend.conf" <<CONF
tokend: { socket = "$tmp/tokend.sock"; state_dir = "$tmp/state"; };
seal: { backend = "software"; };
audit: { sync = "record"; };
actors = ( { name = "bench"; uid = 0; exe = [ "$bench", "$benchpam" ]; } );
issue = ( { name = "bench-issue"; actors = [ "bench" ]; holders = [ "bench" ]; } );
redeem = ( { name = "bench-redeem"; holders = [ "bench" ]; check_account = false; } );
CONF
mkdir "$tmp/pam.d"
printf '%s\n' "auth required pam_permit.so" "account required pam_permit.so" \
	"session required pam_permit.so" >"$tmp/pam.d/bench-permit"
printf '%s\n' "auth required pam_permit.so" \
	"account required $module redeem socket=$tmp/tokend.sock holder=bench" \
	"session required $module redeem socket=$tmp/tokend.sock holder=bench" \
	>"$tmp/pam.d/bench-pertok"
"$builddir/tokend/tokend" -c "$tmp/tokend.conf" 2>>"$tmp/tokend.log" &
tokend_pid=$!
for _ in $(seq 400); do "$builddir/tools/pertokctl" -s "$tmp/tokend.sock" status >/dev/null 2>&1 && break; sleep 0.05; done
"$builddir/tools/pertokctl" -s "$tmp/tokend.sock" status >/dev/null 2>&1 || { cat "$tmp/tokend.log"; echo "bench-pam: tokend did not start"; exit 1; }
# root's persistable token for holder "bench" (what a login leaves behind)
"$bench" issue "$tmp/tokend.sock" 1 root bench >/dev/null

echo "== one job's PAM calls (account, session, setcred), one process, sequential"
"$benchpam" nss root "$secs" "baseline nss_files getpwnam_r+getgrouplist"
"$benchpam" pam "$tmp/pam.d" bench-permit root "$secs" "baseline pam_permit.so job"
"$benchpam" pam "$tmp/pam.d" bench-pertok root "$secs" "pam_pertok.so redeem job (tokend, sync=record)"
