#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Whole commands, end to end, each beside its baselines from the same run,
# in a private mount namespace (scripts/sandbox.sh: users pertok-alice and
# pertok-bob, a private /etc and /run, a sandbox tokend):
#   1. `pertok act-as pertok-alice --grant ID -- /bin/true` run by
#      pertok-bob (the packaged PAM service pertok-act, real cgroups and
#      keyrings), beside a plain fork+exec of /bin/true and
#      `runuser -u pertok-alice -- /bin/true` (what a sysadmin would use
#      instead).
#   2. an external-JWT login, pamtester `authenticate acct_mgmt
#      open_session` of a stack of pam_pertok.so accept (a fresh token per
#      run: jti replay is refused), beside the same pamtester run of a
#      pam_permit.so stack.
# BENCH_RUNS runs each (default 100). Prints why and exits 0 when it cannot
# run (not root, no namespace, a package missing).
# Usage: tests/bench/run-bench-act.sh BUILDDIR
set -uo pipefail
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${PERTOK_SB_NS:-}" ]; then
	top_builddir=$(cd "${1:-.}" && pwd)
	export top_builddir
fi
runs=${BENCH_RUNS:-100}
# shellcheck source=../../scripts/sandbox.sh
. "$top_srcdir/scripts/sandbox.sh"
if ! sb_preflight; then
	echo "bench-act: $SB_SKIP_REASON; not run"
	exit 0
fi
if ! /usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null || ! command -v openssl >/dev/null; then
	echo "bench-act: needs openssl, python3-jwt, python3-cryptography (scripts/install-deps.sh); not run"
	exit 0
fi
benchcmd=$(sb_elf "$top_builddir/tests/bench/bench-cmd") || {
	echo "bench-act: $top_builddir/tests/bench/bench-cmd not built; not run"
	exit 0
}
sb_enter "$@"
trap 'umount -n /var/cache 2>/dev/null; umount -n /etc/nsswitch.conf 2>/dev/null; sb_cleanup >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM HUP
fail() {
	echo "bench-act: $*"
	[ -f "$SB/log/tokend.log" ] && tail -n 20 "$SB/log/tokend.log"
	exit 1
}

sb_setup || fail "sandbox setup failed"
# the remote principal resolves through libnss_pertok (built), from the
# cache tokend writes ($SB/var/cache, bound at its default path)
mount -n --bind "$SB/var/cache" /var/cache || fail "cannot bind /var/cache"
sed -e '/^passwd:/d' -e '/^group:/d' /etc/nsswitch.conf >"$SB/tmp/nsswitch.conf"
printf 'passwd: files pertok\ngroup: files pertok\n' >>"$SB/tmp/nsswitch.conf"
mount -n --bind "$SB/tmp/nsswitch.conf" /etc/nsswitch.conf || fail "cannot bind nsswitch.conf"
export LD_LIBRARY_PATH="$top_builddir/nss_pertok/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
true_path=$(readlink -f /bin/true) # grants pin files, not symbolic links
ISS="https://idp.bench.test"
SVC="pertok-accept-bench"
K="$SB/tmp/keys"
mkdir -p "$K" /etc/pertok/issuers "$SB/home-rpo"
openssl genpkey -algorithm ed25519 -out "$K/idp.pem" 2>/dev/null || fail "openssl genpkey"
/usr/bin/python3 - "$K" >/etc/pertok/issuers/idp.jwks <<'EOF' || fail "jwks"
import base64, json, sys
from cryptography.hazmat.primitives import serialization as S
def b64(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
k = S.load_pem_private_key(open(sys.argv[1] + "/idp.pem", "rb").read(), None).public_key()
print(json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
    "kid": "idp-1", "x": b64(k.public_bytes(S.Encoding.Raw, S.PublicFormat.Raw))}]}))
EOF
chmod 0644 /etc/pertok/issuers/idp.jwks

# act-as is two requests of the servicer's uid: the default
# uid_request_rate (20/1s) would cap one servicer at 10 runs/s and refuse
# the rest (op=limit); the benchmark measures the run, not that cap
sb_write_config
/usr/bin/python3 - "$SB_CONF" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace('    max_outstanding = 4;\n};', '    max_outstanding = 4;\n    issuer = "pertok:bench-host";\n'
              '    uid_request_rate = "1000/1s";\n};', 1)
open(p, "w").write(s)
EOF
cat >>"$SB_CONF" <<EOF
grants = ( { name = "bench"; users = [ "pertok-alice" ]; servicers = [ "pertok-bob" ];
             commands = [ "$true_path" ]; max_uses = $((runs + 10)); } );
entitlements = ( { name = "deploy"; groups = [ "$SB_GROUP" ]; } );
rpo = {
    uid_min = 71000; uid_max = 71100; prefix = "ext-"; home_base = "$SB/home-rpo";
    subuid_file = "$SB/tmp/none"; subgid_file = "$SB/tmp/none";
    login_defs_file = "$SB/tmp/none"; sssd_conf_file = "$SB/tmp/none";
    smb_conf_file = "$SB/tmp/none";
};
issuers = (
    { iss = "$ISS"; jwks = "/etc/pertok/issuers/idp.jwks"; algs = [ "EdDSA" ];
      audience = "bench-host"; max_age = "1h"; leeway = 30; group_claim = "groups"; }
);
EOF
"$SB/bin/tokend" --check-config -c "$SB_CONF" >"$SB/log/check.log" 2>&1 ||
	fail "tokend --check-config: $(cat "$SB/log/check.log")"
cp "$top_srcdir/data/pam.d/pertok-act" /etc/pam.d/pertok-act
mod="$SB/lib/pam_pertok.so"
[ -f "$mod" ] || mod=$(sb_elf "$top_builddir/pam_pertok/pam_pertok.so")
printf '%s\n' "auth required $mod accept socket=$SB_SOCKET" \
	"account required $mod accept socket=$SB_SOCKET" \
	"session required $mod accept socket=$SB_SOCKET" >/etc/pam.d/$SVC
printf '%s\n' "auth required pam_permit.so" "account required pam_permit.so" \
	"session required pam_permit.so" >/etc/pam.d/pertok-permit-bench
sb_tokend_start || fail "tokend did not start"

echo "== act-as: pertok-bob runs /bin/true as pertok-alice, $runs runs, sequential"
"$benchcmd" "baseline fork+exec /bin/true" "$runs" -- "$true_path"
"$benchcmd" "baseline runuser -u pertok-alice -- /bin/true" "$runs" -- \
	"$(command -v runuser)" -u pertok-alice -- "$true_path"
gid=$(runuser -u pertok-alice -- timeout 30 "$SB/bin/pertok" grant pertok-bob --cmd "$true_path" \
	--expires 1h --uses $((runs + 5)) 2>"$SB/log/grant.err" | sed -n 's/^granted //p')
[ -n "$gid" ] || fail "grant refused: $(cat "$SB/log/grant.err")"
"$benchcmd" "pertok act-as pertok-alice --grant ID -- /bin/true" "$runs" -- \
	"$(command -v runuser)" -u pertok-bob -- "$SB/bin/pertok" act-as pertok-alice \
	--grant "$gid" -- "$true_path" || fail "act-as: no run succeeded"
# a refused run is counted above as an error; tokend says why
grep -E 'op=(act|limit) result=(deny|error)' "$SB/log/tokend.log" | head -n 1 | sed 's/^/  first refusal: /'

echo "== external-JWT login: pamtester authenticate acct_mgmt open_session, $runs runs"
printf '{"version":1,"iss":"%s","group":"ops","entitlements":["deploy"],"policy":{"max_validity":86400,"services":["%s"],"networks":["local"],"max_sessions":5}}' \
	"$ISS" "$SVC" >"$SB/tmp/tmpl.json"
/usr/bin/python3 "$top_srcdir/tests/lib/jws-detached.py" "$SB/tmp/tmpl.json" "$K/idp.pem" \
	>"$SB/tmp/tmpl.json.jws" || fail "sign the template"
CTL() { "$SB/bin/pertokctl" -s "$SB_SOCKET" "$@"; }
H=$(CTL template import "$SB/tmp/tmpl.json" --signature "$SB/tmp/tmpl.json.jws" | sed -n 's/^template=//p')
R=$(CTL rpo approve "$H" --not-after +1d 2>&1 | sed -n 's/^name=//p')
[ -n "$R" ] || fail "cannot approve the template as a remote principal"
# a fresh token per run (PyJWT), minted before the clock starts
/usr/bin/python3 - "$K/idp.pem" "$ISS" "$runs" >"$SB/tmp/tokens" <<'EOF' || fail "mint"
import sys, time, uuid
import jwt
from cryptography.hazmat.primitives import serialization as S
pk = S.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
now = int(time.time())
for _ in range(int(sys.argv[3])):
    print(jwt.encode({"iss": sys.argv[2], "sub": "bench@idp.bench.test", "aud": "bench-host",
                      "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex, "groups": ["ops"]},
                     pk, algorithm="EdDSA", headers={"kid": "idp-1"}))
EOF
pamtester=$(command -v pamtester)
"$benchcmd" "baseline pamtester, pam_permit.so stack" "$runs" -i "$SB/tmp/tokens" -- \
	"$pamtester" pertok-permit-bench "$R" authenticate acct_mgmt open_session
"$benchcmd" "pamtester, pam_pertok.so accept (external JWT)" "$runs" -i "$SB/tmp/tokens" -- \
	"$pamtester" "$SVC" "$R" authenticate acct_mgmt open_session || fail "accept: no login succeeded"
grep -E 'op=(rpo.accept|accept-session) result=(deny|error)' "$SB/log/tokend.log" | head -n 1 |
	sed 's/^/  first refusal: /'
exit 0
