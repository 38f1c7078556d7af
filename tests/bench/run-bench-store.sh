#!/bin/bash
# The token store at scale: USERS x HOLDERS persistable tokens (default
# 20,000 x 5 = 100,000), tokend's start-up to readiness, its resident set
# (VmRSS) then, the store's bytes on disk per token and the redeem latency
# with all of them loaded, beside the same tokend with an empty store (the
# baseline, same run). The tokens are made as v0.1/v0.2 kept them (one
# sealed file each); the first start imports them (timed on its own line),
# the second is the steady state. With BENCH_STORE_BEFORE=BUILDDIR of an
# older pertok, its tokend is measured on the same files too.
# Usage: tests/bench/run-bench-store.sh BUILDDIR   (as root, like run-bench.sh)
# [BENCH_STORE_USERS=20000] [BENCH_STORE_HOLDERS=5] [BENCH_SECONDS=5]
set -euo pipefail
builddir=$(cd "${1:-.}" && pwd)
users=${BENCH_STORE_USERS:-20000}
holders=${BENCH_STORE_HOLDERS:-5}
secs=${BENCH_SECONDS:-5}
if [ "$(id -u)" != 0 ]; then
	echo "bench-store: needs root (tokend runs as root and checks peer credentials); not run"
	exit 0
fi
tmp=$(mktemp -d /tmp/pertok-bench-store.XXXXXX)
chmod 700 "$tmp"
tokend_pid=
cleanup() {
	local rc=$?
	stop
	rm -rf "$tmp"
	exit "$rc"
}
stop() {
	if [ -n "$tokend_pid" ]; then
		kill "$tokend_pid" 2>/dev/null || true
		# not our child (bench-store started it): wait until it is gone
		for _ in $(seq 600); do kill -0 "$tokend_pid" 2>/dev/null || break; sleep 0.05; done
		tokend_pid=
	fi
}
trap cleanup EXIT
bench=$(readlink -f "$builddir/tests/bench/bench")
bstore=$builddir/tests/bench/bench-store
n=$((users * holders + 1))

# run LABEL TOKEND STATE_DIR: start, RSS, redeem; leaves it running
run() {
	local label=$1 tokend=$2 state=$3 out
	cat >"$tmp/tokend.conf" <<CONF
tokend: { socket = "$tmp/tokend.sock"; state_dir = "$state"; max_connections = 256; };
seal: { backend = "software"; };
audit: { sync = "record"; };
actors = ( { name = "bench"; uid = 0; exe = [ "$bench" ]; } );
issue = ( { name = "bench-issue"; actors = [ "bench" ]; holders = [ "bench" ]; max_outstanding = 4; } );
redeem = ( { name = "bench-redeem"; holders = [ "bench" ]; check_account = false; } );
CONF
	rm -f "$tmp/tokend.sock"
	"$bstore" start "$tokend" "$tmp/tokend.conf" "$tmp/tokend.sock" >"$tmp/start.out"
	out=$(cat "$tmp/start.out")
	tokend_pid=$(sed -n 's/^pid=\([0-9]*\).*/\1/p' <<<"$out")
	printf '%-34s start=%6s ms  rss=%7s KiB\n' "$label" \
		"$(sed -n 's/.*start_ms=\([0-9]*\).*/\1/p' <<<"$out")" \
		"$(sed -n 's/.*rss_kib=\([0-9-]*\).*/\1/p' <<<"$out")"
}
redeem() {
	"$bench" redeem "$tmp/tokend.sock" 1 "$secs" root bench | sed "s/^/  $1: /"
}
disk() {
	local label=$1 bytes
	bytes=$(du -s -B1 "${@:2}" | awk '{s += $1} END {print s}')
	printf '%-34s %12s bytes on disk  %6s bytes/token\n' "$label" "$bytes" $((bytes / n))
}

echo "pertok store benchmark: $users users x $holders holders + 1 = $n tokens ($(nproc) cores, $(uname -r))"
t0=$(date +%s%N)
"$bstore" fill "$tmp/files" "$users" "$holders"
echo "generated $n token files in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

echo "== baseline: the same tokend, empty store"
mkdir -m 700 "$tmp/empty"
run "empty store" "$builddir/tokend/tokend" "$tmp/empty"
redeem "empty store (no token: each redeem is refused)" || true
stop

if [ -n "${BENCH_STORE_BEFORE:-}" ]; then
	echo "== before: $BENCH_STORE_BEFORE/tokend/tokend, one file per token"
	cp -a "$tmp/files" "$tmp/before"
	run "before: start, $n tokens" "$BENCH_STORE_BEFORE/tokend/tokend" "$tmp/before"
	redeem "before"
	stop
	disk "before: tokens/" "$tmp/before/tokens"
	rm -rf "$tmp/before"
fi

echo "== this build: $n tokens"
mv "$tmp/files" "$tmp/after"
run "first start (imports tokens/)" "$builddir/tokend/tokend" "$tmp/after"
stop
run "start, $n tokens" "$builddir/tokend/tokend" "$tmp/after"
redeem "after"
stop
disk "after: tokens.mdb" "$tmp/after/tokens.mdb"
