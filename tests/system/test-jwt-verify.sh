#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): a live token from a real redemption (login through PAM,
# job run by the real atd) verifies with an independent JWT library: PyJWT
# (Debian's python3-jwt) with the public key from `pertokctl pubkey`, and
# tampered tokens do not. Own sandbox (scripts/sandbox.sh); root only.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_srcdir
# shellcheck source=../../scripts/sandbox.sh
. "$top_srcdir/scripts/sandbox.sh"

if [ "${PERTOK_SANITIZER:-0}" = 1 ]; then
	echo "1..0 # SKIP sanitizer build: the real atd and pamtester cannot load an ASan-instrumented pam_pertok.so"
	exit 0
fi
if ! sb_preflight; then
	echo "1..0 # SKIP $SB_SKIP_REASON"
	exit 0
fi
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
elif check == "tampered":
    h, p, s = tok.split(".")
    c = json.loads(b64d(p))
    c["uid"] = 0
    c["sub"] = "root"
    must_fail(".".join((h, b64e(json.dumps(c).encode()), s)), pem, jwt.InvalidSignatureError)
    sig = bytearray(b64d(s))
    sig[0] ^= 1
    must_fail(".".join((h, p, b64e(bytes(sig)))), pem, jwt.InvalidSignatureError)
elif check == "otherkey":
    h, p, s = tok.split(".")
    forged = b64e(Ed25519PrivateKey.generate().sign((h + "." + p).encode()))
    must_fail(".".join((h, p, forged)), pem, jwt.InvalidSignatureError)
elif check == "audience":
    must_fail(tok, pem, jwt.InvalidAudienceError, aud="some-other-service")
else:
    sys.exit("unknown check " + check)
EOF
}

echo "1..7"

sb_setup || bail "sandbox setup failed"
sb_tokend_start || bail "tokend did not start"
HA=$(sb_home pertok-alice)

sb_login pertok-alice || diag <"$SB/log/login-pertok-alice.log"
j=$(sb_at_queue pertok-alice jwt "pertok token >$HA/jwt.tok")
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
pycheck tampered | diag
ok "${PIPESTATUS[0]}" "tampered claims or signature are rejected (InvalidSignatureError)"
pycheck otherkey | diag
ok "${PIPESTATUS[0]}" "the same claims signed by another Ed25519 key are rejected"
pycheck audience | diag
ok "${PIPESTATUS[0]}" "a verifier expecting another audience rejects it"
exit 0
