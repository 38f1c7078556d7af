#!/bin/bash
# SPDX-License-Identifier: MIT
#
# System test (TAP): pam_pertok.so accept with a real tokend, real Linux-PAM
# (pamtester), real kernel keyrings and glibc NSS (libnss_pertok), in a
# private mount namespace (scripts/sandbox.sh). A test issuer's Ed25519 key
# is made with openssl; tokens are signed with PyJWT (Debian's python3-jwt),
# an independent library, or by hand where PyJWT refuses (alg none, HS256
# keyed with the public key). Two templates of that issuer are approved as
# remote principals (pertokctl template import / rpo approve); then:
#   - a login with a valid token: the session keyring holds a live token
#     whose sub is the RPO, with its template's entitlements, and nothing of
#     the external identity; rpo.accept in the audit log
#   - each refusal, with its reason in tokend's rpo.deny line: alg
#     confusion, alg none, wrong aud, expired, nbf in the future, too old
#     iat, replayed jti (and again after a restart), unknown kid, oversized,
#     crit, jku pointing elsewhere (the local key still decides), another
#     issuer's key, tampered payload, own realm, wrong service, rhost
#     outside the networks, missing acr, over max_sessions, a subject that
#     maps to a local account
#   - a subject in two groups: the union of both templates' entitlements,
#     and both RPOs named in the rpo.accept record
# Root only; skips otherwise.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_srcdir
# shellcheck source=../../scripts/sandbox.sh
. "$top_srcdir/scripts/sandbox.sh"

sb_test_preflight "pamtester and a real tokend"
if ! /usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null; then
	echo "1..0 # SKIP Debian's python3-jwt / python3-cryptography not installed (run scripts/install-deps.sh)"
	exit 0
fi
for t in openssl keyctl; do
	if ! command -v $t >/dev/null; then
		echo "1..0 # SKIP $t not installed (run scripts/install-deps.sh)"
		exit 0
	fi
done
sb_enter "$@"

cleanup_accept() {
	umount -n /var/cache 2>/dev/null
	umount -n /etc/nsswitch.conf 2>/dev/null
	sb_cleanup
}
trap cleanup_accept EXIT
trap 'exit 130' INT TERM HUP

T=0
ok() {
	T=$((T + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T - $2"; else echo "not ok $T - $2"; fi
}
diag() { sed 's/^/# /'; }
bail() {
	echo "Bail out! $*"
	[ -n "$SB" ] && [ -f "$SB/log/tokend.log" ] && tail -n 40 "$SB/log/tokend.log" | diag
	exit 1
}

sb_setup || bail "sandbox setup failed"
builddir=$(sb_builddir)
ISS="https://idp.accept.test"
SVC="pertok-accept"
K="$SB/tmp/keys"
mkdir -p "$K" /etc/pertok/issuers "$SB/var-cache/pertok" "$SB/home-rpo"

# NSS: the remote principals resolve through libnss_pertok (built), from the
# cache tokend writes at its default path, here a private /var/cache
mount -n --bind "$SB/var-cache" /var/cache || bail "cannot bind /var/cache"
sed -e '/^passwd:/d' -e '/^group:/d' /etc/nsswitch.conf >"$SB/tmp/nsswitch.conf"
printf 'passwd: files pertok\ngroup: files pertok\n' >>"$SB/tmp/nsswitch.conf"
mount -n --bind "$SB/tmp/nsswitch.conf" /etc/nsswitch.conf || bail "cannot bind nsswitch.conf"
export LD_LIBRARY_PATH="$builddir/nss_pertok/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# the issuer's key (openssl), another issuer's, an RSA key (alg confusion)
openssl genpkey -algorithm ed25519 -out "$K/idp.pem" 2>/dev/null || bail "openssl genpkey"
openssl genpkey -algorithm ed25519 -out "$K/evil.pem" 2>/dev/null || bail "openssl genpkey"
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa.pem" 2>/dev/null ||
	bail "openssl genpkey rsa"
/usr/bin/python3 - "$K" >/etc/pertok/issuers/idp.jwks <<'EOF' || bail "jwks"
import base64, json, sys
from cryptography.hazmat.primitives import serialization as S
d = sys.argv[1]
def b64(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
ed = S.load_pem_private_key(open(d + "/idp.pem", "rb").read(), None).public_key()
rsa = S.load_pem_private_key(open(d + "/rsa.pem", "rb").read(), None).public_key().public_numbers()
ib = lambda i: i.to_bytes((i.bit_length() + 7) // 8, "big")
print(json.dumps({"keys": [
    {"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_bytes(S.Encoding.Raw, S.PublicFormat.Raw)),
     "kid": "idp-1", "use": "sig", "alg": "EdDSA"},
    {"kty": "RSA", "n": b64(ib(rsa.n)), "e": b64(ib(rsa.e)), "kid": "rsa-1", "alg": "RS256"}]}))
EOF
chmod 0644 /etc/pertok/issuers/idp.jwks

sb_write_config
cat >>"$SB_CONF" <<EOF
tokend: { nss_cache = "/var/cache/pertok/nss.cache"; };
EOF
# one tokend group: put nss_cache and the issuer into the sandbox's
/usr/bin/python3 - "$SB_CONF" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace('tokend: { nss_cache = "/var/cache/pertok/nss.cache"; };\n', '')
s = "".join(l for l in s.splitlines(True) if not l.startswith("    nss_cache = "))
s = s.replace('    max_outstanding = 4;\n};', '    max_outstanding = 4;\n    nss_cache = "/var/cache/pertok/nss.cache";\n    issuer = "pertok:accept-host";\n};', 1)
open(p, "w").write(s)
EOF
cat >>"$SB_CONF" <<EOF
entitlements = (
    { name = "deploy"; groups = [ "$SB_GROUP" ]; },
    { name = "dbread"; groups = [ ]; }
);
rpo = {
    uid_min = 71000; uid_max = 71100; prefix = "ext-"; home_base = "$SB/home-rpo";
    subuid_file = "$SB/tmp/none"; subgid_file = "$SB/tmp/none";
    login_defs_file = "$SB/tmp/none"; sssd_conf_file = "$SB/tmp/none";
    smb_conf_file = "$SB/tmp/none";
};
issuers = (
    { iss = "$ISS"; jwks = "/etc/pertok/issuers/idp.jwks"; algs = [ "EdDSA", "RS256" ];
      audience = "accept-host"; max_age = "1h"; leeway = 30; group_claim = "groups"; }
);
EOF
"$SB/bin/tokend" --check-config -c "$SB_CONF" >"$SB/log/check.log" 2>&1
ok $? "tokend --check-config accepts issuers ( )" || diag <"$SB/log/check.log"

# the PAM service: accept, then a session hook that copies the live token
# out of the session keyring (pam_exec runs in the session pamtester made)
cat >"$SB/tmp/dump-key.sh" <<EOF
#!/bin/sh
id=\$(keyctl search @s user pertok:live 2>/dev/null) || exit 0
keyctl pipe "\$id" >"$SB/tmp/keyring-token" 2>/dev/null
# the max_sessions test holds this session open (its process alive) a while
[ -e "$SB/tmp/hold-session" ] && sleep 6
exit 0
EOF
chmod 0755 "$SB/tmp/dump-key.sh"
mod="$SB/lib/pam_pertok.so"
[ -f "$mod" ] || mod=$(sb_elf "$builddir/pam_pertok/pam_pertok.so")
cat >/etc/pam.d/$SVC <<EOF
auth     required $mod accept socket=$SB_SOCKET
account  required $mod accept socket=$SB_SOCKET
session  required $mod accept socket=$SB_SOCKET
session  optional pam_exec.so $SB/tmp/dump-key.sh
EOF
cp /etc/pam.d/$SVC /etc/pam.d/other-svc

sb_tokend_start || bail "tokend did not start"
CTL() { "$SB/bin/pertokctl" -s "$SB_SOCKET" "$@"; }

# sign_template FILE KEY: FILE.jws, a detached JWS (RFC 7515 appendix F) of
# the template's exact bytes by the issuer's key KEY (PEM)
sign_template() {
	/usr/bin/python3 "$top_srcdir/tests/lib/jws-detached.py" "$1" "$2" >"$1.jws"
}
template() { # GROUP ENTITLEMENT MAX_SESSIONS
	printf '{"version":1,"iss":"%s","group":"%s","entitlements":["%s"],"policy":{"max_validity":86400,"services":["%s"],"networks":["local","10.0.0.0/8"],"acr":["mfa"],"max_sessions":%s}}' \
		"$ISS" "$1" "$2" "$SVC" "$3" >"$SB/tmp/tmpl-$1.json"
	sign_template "$SB/tmp/tmpl-$1.json" "$K/idp.pem"
	CTL template import "$SB/tmp/tmpl-$1.json" --signature "$SB/tmp/tmpl-$1.json.jws" |
		sed -n 's/^template=//p'
}
H1=$(template ops deploy 1)
H2=$(template dba dbread 5)
R1=$(CTL rpo approve "$H1" --not-after +1d 2>&1 | sed -n 's/^name=//p')
R2=$(CTL rpo approve "$H2" --not-after +1d 2>&1 | sed -n 's/^name=//p')
[ -n "$R1" ] && [ -n "$R2" ]
ok $? "two templates approved as remote principals $R1, $R2" ||
	{ CTL rpo list 2>&1 | diag; tail -n 20 "$SB/log/tokend.log" | diag; }

# the issuer is configured: its templates must carry its signature
printf '{"version":1,"iss":"%s","group":"g3","entitlements":["deploy"],"policy":{"max_validity":600,"services":["%s"],"networks":["local"],"max_sessions":1}}' \
	"$ISS" "$SVC" >"$SB/tmp/tmpl-g3.json"
out1=$(CTL template import "$SB/tmp/tmpl-g3.json" 2>&1)
rc1=$?
sign_template "$SB/tmp/tmpl-g3.json" "$K/evil.pem"
out2=$(CTL template import "$SB/tmp/tmpl-g3.json" --signature "$SB/tmp/tmpl-g3.json.jws" 2>&1)
rc2=$?
[ $rc1 -ne 0 ] && printf '%s' "$out1" | grep -q "must be signed" &&
	[ $rc2 -ne 0 ] && printf '%s' "$out2" | grep -q "bad signature"
ok $? "a template of a configured issuer: unsigned or signed by another key, refused at import" ||
	{ echo "$out1"; echo "$out2"; } | diag
# a template that requires an authentication method (amr)
printf '{"version":1,"iss":"%s","group":"g4","entitlements":["deploy"],"policy":{"max_validity":600,"services":["%s"],"networks":["local"],"amr":["hwk"],"max_sessions":5}}' \
	"$ISS" "$SVC" >"$SB/tmp/tmpl-g4.json"
sign_template "$SB/tmp/tmpl-g4.json" "$K/idp.pem"
H4=$(CTL template import "$SB/tmp/tmpl-g4.json" --signature "$SB/tmp/tmpl-g4.json.jws" |
	sed -n 's/^template=//p')
R4=$(CTL rpo approve "$H4" --not-after +5m 2>&1 | sed -n 's/^name=//p')
[ -n "$R4" ] || bail "cannot approve the amr template"

# mint SPEC...: a token (PyJWT unless the spec needs hand-made bytes)
mint() {
	/usr/bin/python3 - "$K" "$ISS" "$@" <<'EOF'
import base64, hashlib, hmac, json, sys, time, uuid
import jwt
from cryptography.hazmat.primitives import serialization as S
k, iss, *spec = sys.argv[1:]
now = int(time.time())
claims = {"iss": iss, "sub": "u-%s@idp.accept.test" % uuid.uuid4().hex[:8], "aud": "accept-host",
          "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex, "groups": ["ops"], "acr": "mfa",
          "amr": ["pwd", "otp"]}
hdr = {"kid": "idp-1"}
key, alg, mode = "idp", "EdDSA", "pyjwt"
for s in spec:
    n, _, v = s.partition("=")
    if n == "hdr":
        a, _, b = v.partition(":")
        hdr[a] = json.loads(b)
    elif n == "key": key = v
    elif n == "alg": alg = v
    elif n == "mode": mode = v
    elif n == "del": claims.pop(v)
    else: claims[n] = json.loads(v)
def b64(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
if mode == "pyjwt":
    pk = S.load_pem_private_key(open("%s/%s.pem" % (k, key), "rb").read(), None)
    print(jwt.encode(claims, pk, algorithm=alg, headers=hdr))
    sys.exit(0)
h = dict(hdr, alg=alg, typ="JWT")
si = b64(json.dumps(h).encode()) + "." + b64(json.dumps(claims).encode())
if mode == "none":
    print(si + ".")
elif mode == "hs256-pubkey":
    pub = S.load_pem_private_key(open(k + "/rsa.pem", "rb").read(), None).public_key()
    pem = pub.public_bytes(S.Encoding.PEM, S.PublicFormat.SubjectPublicKeyInfo)
    print(si + "." + b64(hmac.new(pem, si.encode(), hashlib.sha256).digest()))
elif mode == "tamper":
    pk = S.load_pem_private_key(open(k + "/idp.pem", "rb").read(), None)
    tok = jwt.encode(claims, pk, algorithm="EdDSA", headers=hdr)
    h, p, s = tok.split(".")
    c2 = dict(claims, groups=["ops", "dba"])
    print(h + "." + b64(json.dumps(c2).encode()) + "." + s)
elif mode == "big":
    print(si + "." + "A" * 9000)
EOF
}

# attempt USER TOKEN [pamtester -I items...]: the pamtester exit status
attempt() {
	local u=$1 tok=$2
	shift 2
	rm -f "$SB/tmp/keyring-token"
	printf '%s\n' "$tok" | timeout 30 pamtester "$@" $SVC "$u" authenticate acct_mgmt \
		open_session close_session >>"$SB/log/pamtester.log" 2>&1
}
# refused NAME REASON USER TOKEN [items]: pamtester fails and tokend's last
# rpo.deny says REASON
refused() {
	local name=$1 why=$2 u=$3 tok=$4 n0 line
	shift 4
	n0=$(grep -c 'rpo.deny' "$SB/log/tokend.log")
	if attempt "$u" "$tok" "$@"; then
		ok 1 "$name: refused (pamtester succeeded)"
		return
	fi
	line=$(grep 'rpo.deny' "$SB/log/tokend.log" | tail -n 1)
	[ "$(grep -c 'rpo.deny' "$SB/log/tokend.log")" -gt "$n0" ] &&
		printf '%s\n' "$line" | grep -qF -- "$why"
	ok $? "$name: refused ($why)" || printf '%s\n' "$line" | diag
}

# -------------------------------------------------- a login that is accepted
TOK=$(mint groups='["ops"]' sub='"alice.remote@idp.accept.test"')
attempt "$R1" "$TOK"
ok $? "a valid token logs in as $R1 (authenticate, acct_mgmt, open_session)" ||
	tail -n 5 "$SB/log/tokend.log" | diag
getent passwd "$R1" >"$SB/tmp/getent" 2>&1
ok $? "$R1 resolves through glibc NSS (libnss_pertok)" || diag <"$SB/tmp/getent"
/usr/bin/python3 - "$SB/tmp/keyring-token" "$R1" <<'EOF'
import base64, json, sys
tok = open(sys.argv[1]).read().strip()
p = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))
assert p["sub"] == sys.argv[2], p
assert p["entitlements"] == ["deploy"], p
assert p["tmpl"].startswith("sha256:"), p
assert "alice" not in tok and "idp.accept.test" not in json.dumps(p), p
EOF
ok $? "the session keyring holds a live token: sub $R1, its entitlements, no external identifier"
grep '"rpo.accept"' "$SB/var/lib/pertok/audit.log" | tail -n 1 | grep -q "\"sub_hmac\"" &&
	! grep -q 'alice.remote' "$SB/var/lib/pertok/audit.log"
ok $? "rpo.accept recorded with the HMAC of the external sub, never the sub"
refused "the same token again (replayed jti)" "token replayed" "$R1" "$TOK"
sb_tokend_stop
sb_tokend_start || bail "tokend did not restart"
refused "the same token after a tokend restart" "token replayed" "$R1" "$TOK"

# -------------------------------------------------- the token's refusals
refused "alg confusion (HS256 keyed with the RSA public key)" "alg not accepted" "$R1" \
	"$(mint alg=HS256 mode=hs256-pubkey hdr='kid:"rsa-1"')"
refused "alg none" "alg not accepted" "$R1" "$(mint alg=none mode=none)"
refused "wrong aud" "wrong audience" "$R1" "$(mint aud='"someone-else"')"
refused "expired" "token rejected: expired" "$R1" "$(mint exp="$(($(date +%s) - 100))")"
refused "nbf in the future" "not yet valid" "$R1" "$(mint nbf="$(($(date +%s) + 600))")"
refused "iat too old" "issued too long ago" "$R1" "$(mint iat="$(($(date +%s) - 7200))")"
refused "unknown kid" "no key of the issuer matches" "$R1" "$(mint hdr='kid:"nosuch"')"
# (pamtester's conversation cuts input at 4095 characters: what reaches
# tokend is refused; tokend's own 8192 bound: test-extjwt)
refused "oversized token (cut by the conversation)" "token rejected" "$R1" "$(mint mode=big)"
refused "crit header" "crit header present" "$R1" "$(mint hdr='crit:["exp"]' hdr='exp:1')"
refused "jku pointing elsewhere (its key signed; the local key decides)" "bad signature" "$R1" \
	"$(mint key=evil hdr='jku:"https://evil.example/jwks.json"')"
refused "another issuer's key" "bad signature" "$R1" "$(mint key=evil)"
refused "tampered payload" "bad signature" "$R1" "$(mint mode=tamper)"
refused "a token of tokend's own realm" "own realm" "$R1" "$(mint iss='"pertok:accept-host"')"

# -------------------------------------------------- the matching rules
TOK=$(mint)
printf '%s\n' "$TOK" | timeout 30 pamtester other-svc "$R1" authenticate >>"$SB/log/pamtester.log" 2>&1
[ $? -ne 0 ] && grep 'rpo.deny' "$SB/log/tokend.log" | tail -n 1 | grep -q "service not allowed"
ok $? "wrong service: refused (service not allowed by the template)"
refused "rhost outside the networks" "outside the template's networks" "$R1" "$(mint)" -I rhost=192.0.2.7
attempt "$R1" "$(mint)" -I rhost=10.1.2.3
ok $? "rhost inside the networks: accepted"
refused "acr missing" "acr" "$R1" "$(mint del=acr)"
refused "amr lacking the template's method" "amr" "$R4" "$(mint groups='["g4"]')"
refused "amr [\"*\"] in the token (not a wildcard there)" "amr" "$R4" \
	"$(mint groups='["g4"]' amr='["*"]')"
attempt "$R4" "$(mint groups='["g4"]' amr='["pwd","hwk"]')"
ok $? "amr with the template's method: accepted"
refused "a subject that maps to a local account" "maps to a local account" "$R1" \
	"$(mint sub='"pertok-alice@idp.accept.test"')"
refused "a user the token's groups do not match" "not a remote principal" "$R2" "$(mint)"
# max_sessions 1 for the template of ops: a session held open by a login
# whose process is still running (its session stack waits in pam_exec),
# then another
n0=$(grep -c 'session opened' "$SB/log/tokend.log")
touch "$SB/tmp/hold-session"
printf '%s\n' "$(mint)" | timeout 30 pamtester $SVC "$R1" authenticate acct_mgmt open_session \
	>>"$SB/log/pamtester.log" 2>&1 &
HOLD=$!
for _ in $(seq 1 100); do
	[ "$(grep -c 'session opened' "$SB/log/tokend.log")" -gt "$n0" ] && break
	sleep 0.1
done
printf '%s\n' "$(mint)" | timeout 30 pamtester $SVC "$R1" authenticate >>"$SB/log/pamtester.log" 2>&1
rc2=$?
line=$(grep 'rpo.deny' "$SB/log/tokend.log" | tail -n 1)
rm -f "$SB/tmp/hold-session"
wait $HOLD
rc=$?
[ $rc -eq 0 ] && [ $rc2 -ne 0 ] && printf '%s' "$line" | grep -q "maximum of concurrent sessions"
ok $? "over max_sessions (a session open, its process alive): refused" ||
	tail -n 3 "$SB/log/tokend.log" | diag
# that login ended without close_session (pamtester exits): its process is
# gone, so its place is free again
attempt "$R1" "$(mint)"
ok $? "a session whose process ended without closing it no longer counts" ||
	tail -n 3 "$SB/log/tokend.log" | diag

# -------------------------------------------------- two groups (the session
# still open above counts for $R1 only: $R2 logs in)
attempt "$R2" "$(mint groups='["dba","ops"]')"
ok $? "a subject in two groups logs in as $R2" || tail -n 3 "$SB/log/tokend.log" | diag
/usr/bin/python3 - "$SB/tmp/keyring-token" "$R2" "$R1" <<'EOF'
import base64, json, sys
p = json.loads(base64.urlsafe_b64decode(open(sys.argv[1]).read().strip().split(".")[1] + "=="))
assert p["sub"] == sys.argv[2], p
assert sorted(p["entitlements"]) == ["dbread", "deploy"], p
assert sys.argv[3] in p["groups"], p
assert len(p["tmpl"].split(",")) == 2, p
EOF
ok $? "its token has the union of both templates' entitlements and $R1's group"
grep '"rpo.accept"' "$SB/var/lib/pertok/audit.log" | tail -n 1 | grep -q "\"rpo\":\"$R2,$R1\""
ok $? "the rpo.accept record names both remote principals" ||
	grep '"rpo.accept"' "$SB/var/lib/pertok/audit.log" | tail -n 1 | diag

"$SB/bin/pertokctl" audit rpo "$R1" --file "$SB/var/lib/pertok/audit.log" >"$SB/tmp/audit-rpo" 2>&1
[ "$(grep -c 'rpo.accept' "$SB/tmp/audit-rpo")" -ge 3 ] && grep -q 'rpo.deny' "$SB/tmp/audit-rpo" &&
	grep 'rpo.accept' "$SB/tmp/audit-rpo" | tail -n 1 | grep -q "rpos=$R2,$R1"
ok $? "pertokctl audit rpo $R1 lists its accepts (also the one as a second RPO) and refusals" ||
	tail -n 5 "$SB/tmp/audit-rpo" | diag

# -------------------------------------------------- the two accepts in one stack
# accept require= is the live-token accept in every stage, accept without it
# the external-JWT one; a malformed require never falls back to the latter.
# Each stack is the service the templates allow ($SVC), restored after.
cp /etc/pam.d/$SVC "$SB/tmp/pam-svc"
accepts() { grep -c 'rpo.accept' "$SB/log/tokend.log"; }
# login STACK-LINES...: pamtester authenticate acct_mgmt through $SVC made
# of the lines; sets rc and the rpo.accept records it added (added)
login() {
	local n0
	printf '%s\n' "$@" >/etc/pam.d/$SVC
	n0=$(accepts)
	printf '%s\n' "$(mint groups='["dba"]')" | timeout 30 pamtester $SVC "$R2" \
		authenticate acct_mgmt >>"$SB/log/pamtester.log" 2>&1
	rc=$?
	added=$(($(accepts) - n0))
}
login "auth sufficient $mod accept require=dbread socket=$SB_SOCKET" \
	"auth required $mod accept socket=$SB_SOCKET" \
	"account required $mod accept require=dbread socket=$SB_SOCKET" \
	"account required $mod accept socket=$SB_SOCKET"
[ $rc -eq 0 ] && [ "$added" -eq 1 ] &&
	tail -n 3 "$SB/log/tokend.log" | grep -q 'op=accept result=deny.*not a live token'
r=$?
ok $r "one stack: the require= line refuses the external JWT, the plain accept line takes it"
[ $r -eq 0 ] || { echo "rc=$rc added=$added"; tail -n 5 "$SB/log/tokend.log"; } | diag
login "auth required $mod accept require=dbread socket=$SB_SOCKET" \
	"account required $mod accept require=dbread socket=$SB_SOCKET"
[ $rc -ne 0 ] && [ "$added" -eq 0 ]
ok $? "accept require=: a valid external JWT is refused, never the external-JWT accept"
for bad in "require=" "require"; do
	login "auth required $mod accept $bad socket=$SB_SOCKET" \
		"account required $mod accept $bad socket=$SB_SOCKET"
	[ $rc -ne 0 ] && [ "$added" -eq 0 ]
	ok $? "accept $bad (malformed): refused in every stage, no fallback to the external JWT"
done
# the same line well-formed (the control: this token is good)
login "auth required $mod accept socket=$SB_SOCKET" "account required $mod accept socket=$SB_SOCKET"
[ $rc -eq 0 ] && [ "$added" -eq 1 ]
ok $? "the control: plain accept takes the same kind of token"
cp "$SB/tmp/pam-svc" /etc/pam.d/$SVC

# measured, not asserted: whole logins (pamtester: authenticate, acct_mgmt,
# open_session, close_session; tokend verifies, matches, syncs the jti and
# the audit record), tokens minted beforehand
N=20
for i in $(seq 1 $N); do mint groups='["dba"]' >"$SB/tmp/bench-$i"; done
t0=$(date +%s%N)
fails=0
for i in $(seq 1 $N); do attempt "$R2" "$(cat "$SB/tmp/bench-$i")" || fails=$((fails + 1)); done
t1=$(date +%s%N)
echo "# $N accept logins in $(((t1 - t0) / 1000000)) ms ($(((t1 - t0) / 1000000 / N)) ms each), $fails failed"

echo "1..$T"
