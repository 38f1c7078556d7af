#!/bin/bash
# The TPM part of `make bench`: redeem through tokend with the tpm2 backend
# (the store key unsealed once, at start) against the naive way, one TPM
# unseal per token, on the same swtpm in the same run:
#   - bench-tpm naive: ESYS (TCTI open, SRK, load, salted session, unseal)
#     + AEAD open of the token, per operation;
#   - tpm2_load + tpm2_unseal per operation (tpm2-tools, as a script would).
# Usage: tests/bench/run-bench-tpm.sh BUILDDIR   (root; needs swtpm, tpm2-tools)
set -euo pipefail
builddir=$(cd "${1:-.}" && pwd)
secs=${BENCH_SECONDS:-5}
if [ "$(id -u)" != 0 ]; then
	echo "bench-tpm: needs root (tokend runs as root and checks peer credentials); not run"
	exit 0
fi
for b in swtpm tpm2_unseal python3; do
	command -v "$b" >/dev/null || { echo "bench-tpm: $b missing; not run"; exit 0; }
done
tmp=$(mktemp -d /tmp/pertok-bench-tpm.XXXXXX)
chmod 700 "$tmp"
tokend_pid=
swtpm_pid=
# cleanup keeps the script's own exit status: the daemons it stops die of
# SIGTERM (wait reports 143), which under set -e used to become the exit status
# of `make bench` although every benchmark had run
cleanup() {
	local rc=$? p
	for p in "$tokend_pid" "$swtpm_pid"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
port=$(python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000); ss = []
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); ss.append(s)
        print(p); break
    except OSError: pass
    finally:
        for s in ss: s.close()
PY
)
mkdir "$tmp/tpm"
swtpm socket --tpm2 --tpmstate dir="$tmp/tpm" --server type=tcp,port="$port",bindaddr=127.0.0.1 \
	--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
	--flags not-need-init,startup-clear 2>"$tmp/swtpm.log" &
swtpm_pid=$!
tcti="swtpm:host=127.0.0.1,port=$port"
for _ in $(seq 100); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
	sleep 0.05
done
bench=$(readlink -f "$builddir/tests/bench/bench")
# run_tokend SYNC: tokend with the tpm2 backend and audit sync = SYNC ("record":
# one fdatasync of the audit log per decision, the default; "batch").
run_tokend() {
	cat > "$tmp/tokend.conf" <<CONF
tokend: { socket = "$tmp/tokend.sock"; state_dir = "$tmp/state"; max_connections = 256; };
seal: { backend = "tpm2"; tcti = "$tcti"; };
audit: { sync = "$1"; };
actors = ( { name = "bench"; uid = 0; exe = [ "$bench" ]; } );
issue = ( { name = "bench-issue"; actors = [ "bench" ]; holders = [ "bench" ]; max_outstanding = 4; } );
redeem = ( { name = "bench-redeem"; holders = [ "bench" ]; check_account = false; } );
CONF
	t0=$(date +%s.%N)
	"$builddir/tokend/tokend" -c "$tmp/tokend.conf" 2>"$tmp/tokend.log" &
	tokend_pid=$!
	for _ in $(seq 400); do "$builddir/tools/pertokctl" -s "$tmp/tokend.sock" status >/dev/null 2>&1 && break; sleep 0.02; done
	"$builddir/tools/pertokctl" -s "$tmp/tokend.sock" status >/dev/null 2>&1 || { cat "$tmp/tokend.log"; echo "bench-tpm: tokend did not start"; exit 1; }
	t1=$(date +%s.%N)
	printf "== tokend, tpm2 backend, audit sync = %s (start incl. unseal: %.0f ms)\n" "$1" \
		"$(echo "($t1 - $t0) * 1000" | bc)"
	"$bench" issue "$tmp/tokend.sock" 1 root bench >/dev/null
	out=$("$bench" redeem "$tmp/tokend.sock" 1 "$secs" root bench)
	echo "$out"
	eval "rate_$1=$(sed -n 's/.*rate= *\([0-9]*\)\/s.*/\1/p' <<<"$out")"
	eval "p50_$1=$(sed -n 's/.*p50= *\([0-9]*\)us.*/\1/p' <<<"$out")"
	"$bench" redeem "$tmp/tokend.sock" 16 "$secs" root bench
	kill "$tokend_pid"; wait "$tokend_pid" 2>/dev/null || true
	tokend_pid=
}

echo "pertok TPM benchmark: tpm2 backend vs one TPM unseal per token, same swtpm ($secs s per line)"
run_tokend record
run_tokend batch
echo "== naive: one TPM unseal per token (same swtpm, same sealed store key)"
out=$("$builddir/tests/bench/bench-tpm" naive "$tmp/state" "$tcti" "$secs")
echo "$out"
rate_n=$(sed -n 's/.*rate= *\([0-9]*\)\/s.*/\1/p' <<<"$out")
p50_n=$(sed -n 's/.*p50= *\([0-9]*\)us.*/\1/p' <<<"$out")

# tpm2-tools per call: a sealed object under the same SRK, load + unseal each time
export TPM2TOOLS_TCTI=$tcti
head -c 32 /dev/urandom >"$tmp/k.bin"
tpm2_create -Q -C 0x81000001 -i "$tmp/k.bin" -u "$tmp/k.pub" -r "$tmp/k.priv" -a "fixedtpm|fixedparent|noda|userwithauth"
k=0
s0=$(date +%s%N)
end=$((s0 + secs * 1000000000))
while [ "$(date +%s%N)" -lt "$end" ]; do
	tpm2_load -Q -C 0x81000001 -u "$tmp/k.pub" -r "$tmp/k.priv" -c "$tmp/k.ctx"
	tpm2_unseal -c "$tmp/k.ctx" >/dev/null
	tpm2_flushcontext -t
	k=$((k + 1))
done
s1=$(date +%s%N)
rate_c=$(echo "$k * 1000000000 / ($s1 - $s0)" | bc)
printf "%-28s clients=1   requests=%-8s errors=0    rate=%9s/s mean=%6sus\n" \
	"naive: tpm2_load+tpm2_unseal" "$k" "$rate_c" "$(( (s1 - s0) / 1000 / (k ? k : 1) ))"

ratio() { echo "scale=1; $1 / $2" | bc; }
for m in record batch; do
	eval "rt=\$rate_$m pt=\$p50_$m"
	[ -n "$rt" ] && [ -n "$rate_n" ] && [ "$rate_n" -gt 0 ] && [ "$pt" -gt 0 ] &&
		echo "== ratio, 1 client, audit sync=$m: tokend redeem vs ESYS unseal per token:" \
			"throughput $(ratio "$rt" "$rate_n")x, p50 latency $(ratio "$p50_n" "$pt")x lower;" \
			"vs tpm2_load+tpm2_unseal: throughput $(ratio "$rt" "$rate_c")x"
done
echo "(swtpm answers in microseconds; a discrete TPM takes 0.1 s to seconds per unseal, so on"
echo " hardware the naive lines drop to a few per second while tokend's redeem does not change)"
