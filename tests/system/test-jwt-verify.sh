#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): a live token from a real redemption (login through PAM,
# job run by the real atd) verifies with an independent JWT library: PyJWT
# (Debian's python3-jwt) with the public key from `pertokctl pubkey`; its
# claims are what pertok's policy says (audience, live_lifetime); and pertok
# itself (tokend, at EXCHANGE through `pertok persist` in the job) rejects
# the token tampered with, its signature altered, or re-signed by another key,
# while the untampered one is not rejected as invalid. (Whether PyJWT rejects
# forgeries is PyJWT's business, not tested here.) Own sandbox
# (scripts/sandbox.sh); root only.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_srcdir
# shellcheck source=../../scripts/sandbox.sh
. "$top_srcdir/scripts/sandbox.sh"

sb_test_preflight "the real atd and pamtester"
if ! /usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null; then
	echo "1..0 # SKIP Debian's python3-jwt / python3-cryptography not installed (run scripts/install-deps.sh)"
	exit 0
fi
sb_enter "$@"

trap sb_cleanup EXIT
trap 'exit 130' INT TERM HUP

T=0
ok() {
	T=$((T + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T - $2"; else echo "not ok $T - $2"; fi
}
diag() { sed 's/^/# /'; }
bail() {
	echo "Bail out! $*"
	[ -n "$SB" ] && [ -f "$SB/log/tokend.log" ] && diag <"$SB/log/tokend.log"
	exit 1
}

# Runs a PyJWT check: CHECK-NAME; token in $TOK, keys in $SB/tmp.
pycheck() {
	/usr/bin/python3 - "$1" "$TOK" "$SB/tmp/pub.pem" "$SB/tmp/jwks.json" <<'EOF' 2>&1
import base64, hashlib, json, sys
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

check, tokfile, pemfile, jwksfile = sys.argv[1:5]
tok = open(tokfile).read().strip()
pem = open(pemfile, "rb").read()

def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def b64e(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")

def must_fail(token, key, exc, **kw):
    try:
        jwt.decode(token, key, algorithms=["EdDSA"], audience=kw.get("aud", "pertok"))
    except exc as e:
        print("rejected as expected:", type(e).__name__, e)
        return
    sys.exit("accepted a token that must be rejected")

if check == "pem":
    c = jwt.decode(tok, pem, algorithms=["EdDSA"], audience="pertok")
    print(json.dumps(c, sort_keys=True))
    assert c["sub"] == "pertok-alice", c["sub"]
    assert c["act"]["sub"] == "atd", c["act"]
    assert c.get("ptk"), "no ptk claim"
    for k in ("iss", "exp", "nbf", "iat", "jti", "uid"):
        assert k in c, "missing claim " + k
elif check == "header":
    h = jwt.get_unverified_header(tok)
    print(json.dumps(h, sort_keys=True))
    assert h["alg"] == "EdDSA", h
    assert h["typ"] == "pertok-live+jwt", h
    jwks = json.load(open(jwksfile))
    keys = [k for k in jwks["keys"] if k.get("kid") == h["kid"]]
    assert len(keys) == 1, "kid %s not in the JWKS" % h["kid"]
    k = keys[0]
    assert k["kty"] == "OKP" and k["crv"] == "Ed25519", k
    # RFC 7638 thumbprint, computed here independently
    canon = json.dumps({"crv": k["crv"], "kty": k["kty"], "x": k["x"]},
                       separators=(",", ":"), sort_keys=True)
    tp = b64e(hashlib.sha256(canon.encode()).digest())
    assert tp == h["kid"], "kid %s != RFC 7638 thumbprint %s" % (h["kid"], tp)
elif check == "jwks":
    jwks = json.load(open(jwksfile))
    kid = jwt.get_unverified_header(tok)["kid"]
    key = jwt.PyJWK([k for k in jwks["keys"] if k.get("kid") == kid][0])
    c = jwt.decode(tok, key.key, algorithms=["EdDSA"], audience="pertok")
    assert c["sub"] == "pertok-alice"
    print("verified with the JWKS key", kid)
elif check == "policy":
    # what the sandbox's tokend.conf says: audience "pertok", the redeem
    # rule's live_lifetime 5m, valid from its issue time
    c = jwt.decode(tok, pem, algorithms=["EdDSA"], audience="pertok")
    assert c["aud"] == "pertok", c["aud"]
    assert c["exp"] - c["iat"] == 300, "lifetime %d s, not live_lifetime 5m" % (c["exp"] - c["iat"])
    assert c["nbf"] <= c["iat"], (c["nbf"], c["iat"])
    assert c["svc"] == "atd", c.get("svc")
    print("aud=%s lifetime=%d s svc=%s" % (c["aud"], c["exp"] - c["iat"], c["svc"]))
else:
    sys.exit("unknown check " + check)
EOF
}

echo "1..9"

sb_setup || bail "sandbox setup failed"
sb_tokend_start || bail "tokend did not start"
HA=$(sb_home pertok-alice)

sb_login pertok-alice || diag <"$SB/log/login-pertok-alice.log"
# the forger, run by the job (as alice): KIND claims|sig|otherkey, token on stdin
cat >"$HA/forge.py" <<'EOF'
import base64, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
def b64d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def b64e(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
h, p, s = sys.stdin.read().strip().split(".")
kind = sys.argv[1]
if kind == "claims":
    c = json.loads(b64d(p)); c["sub"] = "root"; c["uid"] = 0
    p = b64e(json.dumps(c, separators=(",", ":")).encode())
elif kind == "sig":
    sig = bytearray(b64d(s)); sig[0] ^= 1; s = b64e(bytes(sig))
elif kind == "otherkey":
    s = b64e(Ed25519PrivateKey.generate().sign((h + "." + p).encode()))
sys.stdout.write(".".join((h, p, s)))
EOF
chmod 0644 "$HA/forge.py"
# The job: its live token, then each forgery put in its session keyring in
# place of the real one and presented to tokend by `pertok persist` (EXCHANGE).
job='pertok token >jwt.tok
pertok persist --holder atd >p-genuine.out 2>&1; echo "rc=$?" >>p-genuine.out
for k in claims sig otherkey; do
	/usr/bin/python3 forge.py $k <jwt.tok | keyctl padd user pertok:live @s >/dev/null
	pertok persist --holder atd >p-$k.out 2>&1; echo "rc=$?" >>p-$k.out
done'
j=$(sb_at_queue pertok-alice jwt "cd $HA && $job")
sb_atd_run | diag
TOK=$HA/jwt.tok
rc=0
if ! [ -s "$TOK" ] || [ "$(tr -cd . <"$TOK" | wc -c)" -ne 2 ]; then
	rc=1
	echo "job $j produced no compact JWS:" | diag
	cat "$HA/jwt.out" 2>/dev/null | diag
fi
ok $rc "a real redemption (pamtester login, atd job $j) yields a compact JWS"

timeout 10 pertokctl pubkey >"$SB/tmp/pub.pem" 2>&1 || diag <"$SB/tmp/pub.pem"
timeout 10 pertokctl pubkey --jwks >"$SB/tmp/jwks.json" 2>&1 || diag <"$SB/tmp/jwks.json"

pycheck pem | diag
ok "${PIPESTATUS[0]}" "PyJWT verifies it with the PEM key from pertokctl pubkey (EdDSA, aud pertok)"
pycheck header | diag
ok "${PIPESTATUS[0]}" "header alg=EdDSA typ=pertok-live+jwt, kid = RFC 7638 thumbprint of the JWKS key"
pycheck jwks | diag
ok "${PIPESTATUS[0]}" "PyJWT verifies it with the key from pertokctl pubkey --jwks"
pycheck policy | diag
ok "${PIPESTATUS[0]}" "its claims follow the policy: aud pertok, live_lifetime 5m, svc atd"
# pertok's own verification: tokend at EXCHANGE
# (the control: the genuine token is not refused for its signature; whether
# tokend lets a redeemed token be exchanged is another matter)
rejected() { grep -q 'live token rejected: bad signature' "$HA/p-$1.out" && grep -q '^rc=1$' "$HA/p-$1.out"; }
rc=0
if [ ! -f "$HA/p-genuine.out" ] || grep -q 'bad signature' "$HA/p-genuine.out"; then rc=1; fi
diag <"$HA/p-genuine.out" 2>/dev/null
ok $rc "tokend does not reject the untampered token's signature (the control)"
for k in claims sig otherkey; do
	rc=0
	rejected $k || rc=1
	diag <"$HA/p-$k.out" 2>/dev/null
	case $k in
	claims) what="with its claims changed (sub root, uid 0)" ;;
	sig) what="with one bit of its signature flipped" ;;
	otherkey) what="re-signed by another Ed25519 key" ;;
	esac
	ok $rc "tokend rejects the live token $what (pertok persist: bad signature)"
done
exit 0
