#!/bin/bash
# TPM2 sealing of the token store, against swtpm (two instances = two hosts),
# each started by this test on a free port and stopped at the end.
# TAP. Needs root (tokend checks peer credentials; the actor is uid 0).
set -u
builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
tokend=$builddir/tokend/tokend
ctl=$builddir/tools/pertokctl
client=$builddir/tests/tpm/tpm-client

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (tokend runs as root and checks peer credentials)"
	exit 0
fi
for b in swtpm tpm2_pcrextend python3; do
	if ! command -v "$b" >/dev/null; then
		echo "1..0 # SKIP $b is not installed (apt-get install swtpm swtpm-tools tpm2-tools)"
		exit 0
	fi
done
for f in "$tokend" "$ctl" "$client"; do
	[ -x "$f" ] || { echo "1..0 # SKIP $f not built"; exit 0; }
done

tmp=$(mktemp -d /tmp/pertok-tpm.XXXXXX)
chmod 700 "$tmp"
pids=()
tokend_pid=
cleanup() {
	[ -n "$tokend_pid" ] && kill "$tokend_pid" 2>/dev/null && wait "$tokend_pid" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # check DESC CMD...
	local d=$1; shift
	if "$@"; then ok "$d"; else nok "$d"; fi
}

# Two consecutive free TCP ports (server, ctrl).
free_ports() {
	python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000)
    try:
        ss = []
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); ss.append(s)
        for s in ss: s.close()
        print(p); break
    except OSError:
        for s in ss: s.close()
PY
}

# start_swtpm NAME -> sets port_NAME
start_swtpm() {
	local name=$1 port
	mkdir -p "$tmp/tpm-$name"
	port=$(free_ports)
	swtpm socket --tpm2 --tpmstate dir="$tmp/tpm-$name" \
		--server type=tcp,port="$port",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
		--flags not-need-init,startup-clear 2>"$tmp/swtpm-$name.log" &
	pids+=($!)
	for _ in $(seq 100); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" \
			2>/dev/null && break
		sleep 0.05
	done
	eval "port_$name=$port"
}

# write_conf FILE STATE BACKEND TCTI [PCRS]
write_conf() {
	cat >"$1" <<CONF
tokend: { socket = "$tmp/tokend.sock"; state_dir = "$2"; max_live_lifetime = "1h"; };
seal: { backend = "$3"; tcti = "$4"; ${5:+pcrs = [ $5 ];} };
actors = ( { name = "h"; uid = 0; exe = [ "*" ]; } );
issue = ( { name = "i"; actors = [ "h" ]; holders = [ "h" ]; } );
redeem = ( { name = "r"; holders = [ "h" ]; check_account = false; } );
CONF
}

# start_tokend CONF: background, waits until it answers; 0 when it is up.
start_tokend() {
	rm -f "$tmp/tokend.sock"
	"$tokend" -f -c "$1" 2>"$tmp/tokend.log" &
	tokend_pid=$!
	# Ready means a round trip: the front listens before the key holder
	# has unsealed the store, so the socket alone says nothing.
	for _ in $(seq 400); do
		[ -S "$tmp/tokend.sock" ] &&
			"$ctl" -s "$tmp/tokend.sock" status >/dev/null 2>&1 && return 0
		kill -0 "$tokend_pid" 2>/dev/null || break
		sleep 0.05
	done
	wait "$tokend_pid" 2>/dev/null
	tokend_pid=
	return 1
}

stop_tokend() {
	[ -n "$tokend_pid" ] && kill "$tokend_pid" && wait "$tokend_pid" 2>/dev/null
	tokend_pid=
}

# fail_tokend CONF: tokend must refuse to start (exit 1); its log in $tmp/fail.log
fail_tokend() {
	rm -f "$tmp/tokend.sock"
	timeout 30 "$tokend" -f -c "$1" >/dev/null 2>"$tmp/fail.log"
	local rc=$?
	sed 's/^/# /' "$tmp/fail.log" >&2
	[ $rc = 1 ] && [ ! -S "$tmp/tokend.sock" ]
}

logged() { grep -q -- "$1" "$2"; }

echo "1..32"
start_swtpm a
start_swtpm b
tcti_a="swtpm:host=127.0.0.1,port=$port_a"
tcti_b="swtpm:host=127.0.0.1,port=$port_b"

# ---- issue -> restart -> redeem (the store key is unsealed at start)
write_conf "$tmp/a.conf" "$tmp/state-a" tpm2 "$tcti_a"
check "tokend starts with the tpm2 backend on swtpm" start_tokend "$tmp/a.conf"
check "first start creates and persists the SRK, and says so" \
	logged "persisted it at 0x81000001" "$tmp/tokend.log"
check "storekey.sealed is a tpm2 blob" \
	grep -q "^backend=tpm2$" "$tmp/state-a/storekey.sealed"
id=$("$client" issue "$tmp/tokend.sock" root h 2>&1 | sed -n 's/^id=//p')
check "a persistable token is issued" test -n "$id"
stop_tokend
start_tokend "$tmp/a.conf"
out=$("$client" redeem "$tmp/tokend.sock" root h 2>&1)
check "after a restart (unseal at start) the token redeems" \
	grep -q "^id=$id " <<<"$out"
kid1=$(sed -n 's/.* kid=//p' <<<"$out")
status=$("$ctl" -s "$tmp/tokend.sock" status 2>&1)
check "status shows backend, TPM vendor, SRK handle, key ages" \
	bash -c 'grep -q "^seal_backend=tpm2$" <<<"$1" && grep -q "^tpm_manufacturer=." <<<"$1" &&
		 grep -q "^srk_handle=0x81000001$" <<<"$1" && grep -q "^signing_key_age=" <<<"$1" &&
		 grep -q "^store_key_age=" <<<"$1" && grep -q "^pcr_binding=none$" <<<"$1"' _ "$status"

# ---- rotate-key: tokens survive, the old kid stays in the JWKS
jwks1=$("$ctl" -s "$tmp/tokend.sock" pubkey --jwks)
rot=$("$ctl" -s "$tmp/tokend.sock" rotate-key 2>&1)
check "rotate-key succeeds" grep -q "^rotated to key generation 1" <<<"$rot"
out=$("$client" redeem "$tmp/tokend.sock" root h 2>&1)
kid2=$(sed -n 's/.* kid=//p' <<<"$out")
check "after rotate-key the token still redeems, signed by a new kid" \
	bash -c '[[ $1 == "id=$2 "* ]] && [ -n "$3" ] && [ "$3" != "$4" ]' _ "$out" "$id" "$kid2" "$kid1"
jwks2=$("$ctl" -s "$tmp/tokend.sock" pubkey --jwks)
check "the JWK set has the new kid and still the old one" \
	bash -c 'grep -q "\"kid\":\"$2\"" <<<"$1" && grep -q "\"kid\":\"$3\"" <<<"$1"' _ \
	"$jwks2" "$kid1" "$kid2"
stop_tokend
check "after rotation the old generation is gone, the new one is current" \
	bash -c '[ "$(cat "$1/current")" = gen-1 ] && [ ! -e "$1/storekey.sealed" ] &&
		 [ ! -e "$1/tokens" ] && [ -s "$1/gen-1/storekey.sealed" ]' _ "$tmp/state-a"
# a rotation that crashed before its commit left a half-built generation
mkdir -p "$tmp/state-a/gen-2/tokens"
echo junk >"$tmp/state-a/gen-2/storekey.sealed"
# ... and one that crashed after it, before removing the old generation
mkdir -p "$tmp/state-a/tokens"
echo junk >"$tmp/state-a/storekey.sealed"
start_tokend "$tmp/a.conf"
out=$("$client" redeem "$tmp/tokend.sock" root h 2>&1)
jwks3=$("$ctl" -s "$tmp/tokend.sock" pubkey --jwks)
check "leftovers of an interrupted rotation (before or after its commit) are removed" \
	bash -c '[ ! -e "$1/gen-2" ] && [ "$(cat "$1/current")" = gen-1 ] &&
		 [ ! -e "$1/storekey.sealed" ] && [ ! -e "$1/tokens" ]' _ "$tmp/state-a"
check "after rotation and a restart: redeem works, the old kid is still published" \
	bash -c '[[ $1 == "id=$2 kid=$3" ]] && grep -q "\"kid\":\"$4\"" <<<"$5"' _ "$out" "$id" \
	"$kid2" "$kid1" "$jwks3"
stop_tokend

# ---- a retired key leaves the JWK set once its last live token expired
write_conf "$tmp/exp.conf" "$tmp/state-exp" tpm2 "$tcti_a"
sed -i 's/max_live_lifetime = "1h";/live_lifetime = 1; max_live_lifetime = 1;/' "$tmp/exp.conf"
start_tokend "$tmp/exp.conf"
old=$("$ctl" -s "$tmp/tokend.sock" status | sed -n 's/^signing_kid=//p')
"$ctl" -s "$tmp/tokend.sock" rotate-key >/dev/null
stop_tokend
sleep 2
start_tokend "$tmp/exp.conf"
j=$("$ctl" -s "$tmp/tokend.sock" pubkey --jwks)
stop_tokend
check "a rotated-out key is dropped after max_live_lifetime" \
	bash -c '[ -n "$2" ] && ! grep -q "$2" <<<"$1" && grep -q "\"kid\"" <<<"$1"' _ "$j" "$old"

mv "$tmp/state-exp/current" "$tmp/state-exp/current.lost"
check "generations without the pointer file: refused, never a new key" \
	bash -c 'timeout 30 "$1" -f -c "$2" >/dev/null 2>"$3"; [ $? = 1 ] &&
		 grep -q "missing or corrupt key generation pointer" "$3" &&
		 [ ! -e "$4/storekey.sealed" ]' _ "$tokend" "$tmp/exp.conf" "$tmp/fail6.log" "$tmp/state-exp"

# ---- the state directory copied to another "host" (swtpm b)
cp -a "$tmp/state-a" "$tmp/state-copy"
write_conf "$tmp/copy.conf" "$tmp/state-copy" tpm2 "$tcti_b"
check "a state directory copied to another TPM is refused" fail_tokend "$tmp/copy.conf"
check "... with a clear error (sealed by another TPM)" \
	logged "sealed by another TPM" "$tmp/fail.log"
"$client" redeem "$tmp/tokend.sock" root h >/dev/null 2>&1
check "... and no token can be redeemed there" test $? = 3
write_conf "$tmp/copy-auto.conf" "$tmp/state-copy" auto "$tcti_b"
check "backend auto on the copy is refused too (never re-sealed, never software)" \
	bash -c 'fail_tokend() { rm -f "$2"; timeout 30 "$1" -f -c "$3" >/dev/null 2>"$4"; [ $? = 1 ]; };
		 fail_tokend "$1" "$2" "$3" "$4" && grep -q "sealed by another TPM" "$4"' _ \
	"$tokend" "$tmp/tokend.sock" "$tmp/copy-auto.conf" "$tmp/fail2.log"

# ---- corrupted sealed blob: clear error, nothing overwritten
cp -a "$tmp/state-a" "$tmp/state-bad"
blob=$tmp/state-bad/gen-1/storekey.sealed
size=$(stat -c %s "$blob")
# flip every bit of one byte (a fixed value would be no change when the byte already holds it)
byte=$(od -An -tu1 -j $((size - 20)) -N1 "$blob" | tr -d ' ')
printf "\\$(printf '%03o' $((byte ^ 255)))" | dd of="$blob" bs=1 seek=$((size - 20)) conv=notrunc status=none
cmp -s "$blob" "$tmp/state-a/gen-1/storekey.sealed" && echo "Bail out! the blob was not changed"
cp "$blob" "$tmp/bad.copy"
write_conf "$tmp/bad.conf" "$tmp/state-bad" tpm2 "$tcti_a"
check "a corrupted sealed blob is refused" fail_tokend "$tmp/bad.conf"
check "... with a clear error (corrupted)" logged "corrupted" "$tmp/fail.log"
check "... and the blob was not overwritten" cmp -s "$blob" "$tmp/bad.copy"
head -c $((size - 40)) "$tmp/bad.copy" >"$blob"
check "a truncated blob is refused as corrupted" \
	bash -c 'timeout 30 "$1" -f -c "$2" >/dev/null 2>"$3"; [ $? = 1 ] &&
		 grep -q "corrupted sealed blob" "$3"' _ "$tokend" "$tmp/bad.conf" "$tmp/fail3.log"

# ---- PCR binding: extend after sealing -> refused naming the PCR; reseal path
ext() { tpm2_pcrextend -T "$tcti_a" "16:sha256=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
write_conf "$tmp/pcr.conf" "$tmp/state-pcr" tpm2 "$tcti_a" 16
start_tokend "$tmp/pcr.conf"
id=$("$client" issue "$tmp/tokend.sock" root h 2>&1 | sed -n 's/^id=//p')
check "with pcrs = [16] a token is issued" test -n "$id"
ext
rs=$("$ctl" -s "$tmp/tokend.sock" reseal 2>&1)
st=$("$ctl" -s "$tmp/tokend.sock" status 2>&1)
check "reseal (a trusted change of PCR 16 while the key is unsealed) succeeds" \
	bash -c 'grep -q "bound to the current values of PCR 16" <<<"$1" &&
		 grep -q "^pcr_binding=16$" <<<"$2"' _ "$rs" "$st"
stop_tokend
start_tokend "$tmp/pcr.conf"
out=$("$client" redeem "$tmp/tokend.sock" root h 2>&1)
check "after reseal a restart unseals with the new PCR value and redeems" \
	grep -q "^id=$id " <<<"$out"
stop_tokend
ext
cp "$tmp/state-pcr/storekey.sealed" "$tmp/pcr.copy"
check "PCR 16 extended after sealing: start refused" fail_tokend "$tmp/pcr.conf"
check "... naming the PCR that changed" logged "PCR mismatch: PCR 16 changed" "$tmp/fail.log"
check "... and the blob was not overwritten" cmp -s "$tmp/state-pcr/storekey.sealed" "$tmp/pcr.copy"

# ---- configuration errors and backends
write_conf "$tmp/wrong.conf" "$tmp/state-w" tpm2 "nosuchtcti:foo"
check "a wrong TCTI is named" bash -c 'timeout 30 "$1" -f -c "$2" >/dev/null 2>"$3"; [ $? = 1 ] &&
	grep -q "wrong TCTI" "$3"' _ "$tokend" "$tmp/wrong.conf" "$tmp/fail4.log"
dead=$(free_ports)
write_conf "$tmp/dead.conf" "$tmp/state-d" tpm2 "swtpm:host=127.0.0.1,port=$dead"
check "no TPM answering: refused with \"no TPM\" (no silent software fallback)" \
	bash -c 'timeout 30 "$1" -f -c "$2" >/dev/null 2>"$3"; [ $? = 1 ] &&
	grep -q "no TPM" "$3" && [ ! -e "$4/storekey.sealed" ]' _ "$tokend" "$tmp/dead.conf" \
	"$tmp/fail5.log" "$tmp/state-d"
write_conf "$tmp/auto.conf" "$tmp/state-auto" auto "$tcti_b"
start_tokend "$tmp/auto.conf"
stop_tokend
check "backend auto picks tpm2 when a TPM answers" \
	grep -q "^backend=tpm2$" "$tmp/state-auto/storekey.sealed"
write_conf "$tmp/sw.conf" "$tmp/state-sw" software "$tcti_b"
start_tokend "$tmp/sw.conf"
stop_tokend
check "the software backend warns at start" logged 'op=start result=warning seal=software' "$tmp/tokend.log"

exit 0
