#!/bin/bash
# Runs pertok's benchmark: a private tokend in a temp dir (its own socket and
# state, nothing of the host's touched), the baseline echo server, then the
# numbers. Usage: tests/bench/run-bench.sh BUILDDIR   (as root: tokend reads
# the account data of the benchmark user like in production)
# BENCH_TOKEND_BEFORE=/path/to/an/older/tokend also runs the redeem lines
# against that binary in the same run (before/after a change).
set -euo pipefail
builddir=$(cd "${1:-.}" && pwd)
secs=${BENCH_SECONDS:-5}
if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (tokend runs as root and checks peer credentials); not run"
	exit 0
fi
tmp=$(mktemp -d /tmp/pertok-bench.XXXXXX)
chmod 700 "$tmp"
tokend_pid=
echo_pid=
# cleanup keeps the script's own exit status: the daemons it stops die of
# SIGTERM (wait reports 143), which under set -e used to become the exit status
# of `make bench` although every benchmark had run
cleanup() {
	local rc=$? p
	for p in "$tokend_pid" "$echo_pid"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
bench=$(readlink -f "$builddir/tests/bench/bench")
user=root
# start_tokend SYNC [BINARY [STATE]]: a fresh tokend whose audit log syncs per SYNC
start_tokend() {
	local bin=${2:-$builddir/tokend/tokend} state=${3:-$tmp/state}
	if [ -n "$tokend_pid" ]; then
		kill "$tokend_pid" 2>/dev/null || true
		wait "$tokend_pid" 2>/dev/null || true
		tokend_pid=
	fi
	cat > "$tmp/tokend.conf" <<CONF
tokend: { socket = "$tmp/tokend.sock"; state_dir = "$state"; max_connections = 256; };
seal: { backend = "software"; };
audit: { sync = "$1"; };
actors = ( { name = "bench"; uid = 0; exe = [ "$bench" ]; } );
issue = ( { name = "bench-issue"; actors = [ "bench" ]; holders = [ "bench" ]; max_outstanding = 4; } );
redeem = ( { name = "bench-redeem"; holders = [ "bench" ]; check_account = false; } );
CONF
	rm -f "$tmp/tokend.sock"
	"$bin" -c "$tmp/tokend.conf" 2>>"$tmp/tokend.log" &
	tokend_pid=$!
	for _ in $(seq 200); do "$builddir/tools/pertokctl" -s "$tmp/tokend.sock" status >/dev/null 2>&1 && break; sleep 0.05; done
	"$builddir/tools/pertokctl" -s "$tmp/tokend.sock" status >/dev/null 2>&1 || { cat "$tmp/tokend.log"; echo "bench: tokend did not start"; exit 1; }
}
start_tokend record
"$bench" echo-server "$tmp/echo.sock" &
echo_pid=$!
for _ in $(seq 100); do [ -S "$tmp/echo.sock" ] && break; sleep 0.05; done

echo "pertok benchmark ($(nproc) cores, $secs s per line, $(uname -r))"
echo "== signing (the key holder signs one live token per redemption)"
"$bench" sign "$secs"
echo "== issue: mint once, then exchange repeatedly (durable write each)"
"$bench" issue "$tmp/tokend.sock" "$secs" "$user" bench
echo "== redeem vs. baseline (audit sync=record: each reply waits for its audit record's fdatasync, one per event-loop round)"
for c in 1 16; do
	"$bench" echo "$tmp/echo.sock" "$c" "$secs"
	"$bench" redeem "$tmp/tokend.sock" "$c" "$secs" "$user" bench
done
start_tokend batch
echo "== redeem, audit sync=batch (audit records synced every 5 s)"
for c in 1 16; do
	"$bench" redeem "$tmp/tokend.sock" "$c" "$secs" "$user" bench
done
if [ -n "${BENCH_TOKEND_BEFORE:-}" ]; then
	echo "== before: the same redeem lines against $BENCH_TOKEND_BEFORE"
	start_tokend record "$BENCH_TOKEND_BEFORE" "$tmp/state-before"
	"$bench" issue "$tmp/tokend.sock" 1 "$user" bench >/dev/null
	for c in 1 16; do
		"$bench" redeem "$tmp/tokend.sock" "$c" "$secs" "$user" bench
	done
	start_tokend batch "$BENCH_TOKEND_BEFORE" "$tmp/state-before"
	echo "== before, audit sync=batch"
	for c in 1 16; do
		"$bench" redeem "$tmp/tokend.sock" "$c" "$secs" "$user" bench
	done
fi
