#!/bin/sh
# SPDX-License-Identifier: MIT
# `make bench`'s scripts exit 0 when every benchmark ran (their cleanup used
# to turn the stopped daemons' SIGTERM into exit 143). One-second runs.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP the benchmarks need root (tokend checks peer credentials)"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..6"
n=0
for s in run-bench.sh run-bench-tpm.sh run-bench-pam.sh run-bench-store.sh run-bench-nss.sh run-bench-act.sh; do
	n=$((n + 1))
	BENCH_SECONDS=1 BENCH_STORE_USERS=100 BENCH_RUNS=10 timeout 300 bash "$top_srcdir/tests/bench/$s" "$top_builddir" >"$tmp/out" 2>&1
	rc=$?
	# every benchmark ran: the last line of each script is one of its results
	case $s in
	run-bench.sh) last='^tokend redeem +clients=16 ' ;;
	run-bench-pam.sh) last='^pam_pertok.so redeem job' ;;
	run-bench-store.sh) last='^after: tokens.mdb' ;;
	run-bench-nss.sh) last='^target (met|missed)' ;;
	run-bench-act.sh) last='^pamtester, pam_pertok.so accept|not run' ;;
	*) last='^== ratio, 1 client, audit sync=batch|not run' ;;
	esac
	if [ $rc -eq 0 ] && grep -Eq "$last" "$tmp/out"; then
		echo "ok $n - $s exits 0 after all its benchmarks"
	else
		echo "not ok $n - $s: exit $rc"
		tail -n 5 "$tmp/out" | sed 's/^/# /'
	fi
done
