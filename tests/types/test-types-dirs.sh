#!/bin/bash
# SPDX-License-Identifier: MIT
#
# TAP: `tokend --check-config` with drop-ins (tokend.conf.d/*.conf) and token
# types (types.d/NAME.conf) in real directories: it lists the files it read
# in order and refuses conflicts naming FILE:LINE. The vendor directory
# (DATADIR/pertok/types.d, compiled in) is made, as root, in a private mount
# namespace on an overlay, so nothing of the host's /usr changes; without
# root those cases are skipped.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
TOKEND=$top_builddir/tokend/tokend
if [ ! -x "$TOKEND" ]; then
	echo "1..0 # SKIP $TOKEND not built"
	exit 0
fi

echo "1..7"
. "$top_srcdir/tests/lib/tap.sh"
skip() { T=$((T + 1)); echo "ok $T - $1 # SKIP $2"; }

D=$(mktemp -d "${TMPDIR:-/tmp}/pertok-typesdirs.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
C=$D/pertok/tokend.conf
mkdir -p "$D/pertok/tokend.conf.d" "$D/pertok/types.d"
cp "$top_srcdir/data/tokend.conf" "$C"
check() { timeout 30 "$TOKEND" -c "$C" --check-config >"$D/out" 2>"$D/err"; }

# (1) order: tokend.conf, drop-ins bytewise, then types by name
printf 'redeem = ( { name = "late"; action = "deny"; users = [ "nobody" ]; } );\n' \
	>"$D/pertok/tokend.conf.d/20-b.conf"
printf 'tokend = { live_lifetime = 120; };\n' >"$D/pertok/tokend.conf.d/10-a.conf"
printf 'this is not read\n' >"$D/pertok/tokend.conf.d/10-a.conf.dpkg-dist"
printf 'kind = "code";\nlength = 12;\n' >"$D/pertok/types.d/recovery.conf"
check
rc=$?
cat >"$D/want" <<W
  $C (config)
  $C.d/10-a.conf (drop-in)
  $C.d/20-b.conf (drop-in)
  $D/pertok/types.d/recovery.conf (type)
W
grep '^  /' "$D/out" | diff "$D/want" - | diag
[ "${PIPESTATUS[1]}" -eq 0 ] || rc=1
grep -q ', 2 redeem rules)' "$D/out" || rc=1
[ $rc -eq 0 ] || diag <"$D/err"
ok $rc "--check-config lists tokend.conf, its drop-ins in name order and types.d; the drop-in's rule is counted"

# (2) two drop-ins set the same setting
printf '\ntokend = { live_lifetime = 240; };\n' >"$D/pertok/tokend.conf.d/30-c.conf"
check
rc=$?
want="$C.d/30-c.conf:2: tokend.live_lifetime is also set at $C.d/10-a.conf:1; set it in one drop-in"
[ $rc -eq 1 ] && [ "$(cat "$D/err")" = "$want" ]
ok $? "two drop-ins setting tokend.live_lifetime: exit 1, '$want'"
[ "$(cat "$D/err")" = "$want" ] || diag <"$D/err"
rm -f "$D/pertok/tokend.conf.d/30-c.conf"

# (3) an error in a types.d file names it and its line
printf 'kind = "code";\nlength = 12;\nlenght = 3;\n' >"$D/pertok/types.d/pin.conf"
check
rc=$?
grep -q "^$D/pertok/types.d/pin.conf:3: unknown setting \"lenght\"" "$D/err" && [ $rc -eq 1 ]
ok $? "a typo in types.d/pin.conf: exit 1 naming pin.conf:3"
diag <"$D/err"
rm -f "$D/pertok/types.d/pin.conf"

# (4)-(7) the vendor directory, in a private mount namespace
vendor=$(check && sed -n 's/^  looked for drop-ins in .*, types in \(.*\) and .*/\1/p' "$D/out")
if [ "$(id -u)" -ne 0 ] || [ -z "$vendor" ] || ! timeout 10 unshare -m true 2>/dev/null; then
	for d in "a vendor type is read" "the admin's file of the same name replaces it" \
		"an empty admin file masks it" "a symbolic link to /dev/null masks it"; do
		skip "$d" "needs root and a mount namespace"
	done
	exit 0
fi
# the deepest existing ancestor of the vendor directory gets an overlay
base=$vendor
while [ ! -d "$base" ]; do base=$(dirname "$base"); done
cat >"$D/ns.sh" <<'NS'
set -e
D=$1 base=$2 vendor=$3 C=$4 TOKEND=$5
mount -n --make-rprivate /
mkdir -p "$D/ov"
mount -n -t tmpfs tmpfs "$D/ov"
mkdir -p "$D/ov/up" "$D/ov/work"
mount -n -t overlay overlay -o "lowerdir=$base,upperdir=$D/ov/up,workdir=$D/ov/work" "$base"
mkdir -p "$vendor"
printf 'kind = "code";\nlength = 10;\n' >"$vendor/recovery.conf"
printf 'kind = "code";\nlength = 10;\n' >"$vendor/vendoronly.conf"
set +e
run() { timeout 30 "$TOKEND" -c "$C" --check-config >"$D/out.$1" 2>&1; echo "rc=$?" >>"$D/out.$1"; }
rm -f "$D/pertok/types.d/recovery.conf"
run 4
printf 'kind = "code";\nlength = 14;\n' >"$D/pertok/types.d/recovery.conf"
run 5
: >"$D/pertok/types.d/recovery.conf"
run 6
rm -f "$D/pertok/types.d/recovery.conf"
ln -s /dev/null "$D/pertok/types.d/recovery.conf"
run 7
NS
timeout 120 unshare -m --propagation private bash "$D/ns.sh" "$D" "$base" "$vendor" "$C" "$TOKEND" 2>&1 | diag
A=$D/pertok/types.d
grep -qx "  $vendor/recovery.conf (type)" "$D/out.4" && grep -qx "  $vendor/vendoronly.conf (type)" "$D/out.4" &&
	grep -qx 'rc=0' "$D/out.4"
ok $? "a vendor type ($vendor/recovery.conf) is read"
[ -f "$D/out.4" ] && grep -qx 'rc=0' "$D/out.4" || diag <"$D/out.4"
grep -qx "  $A/recovery.conf (type)" "$D/out.5" && ! grep -q "$vendor/recovery.conf" "$D/out.5" &&
	grep -qx 'rc=0' "$D/out.5"
ok $? "the admin's types.d/recovery.conf replaces the vendor's (which is not read)"
grep -qx "  $A/recovery.conf (masked type)" "$D/out.6" && ! grep -q "$vendor/recovery.conf" "$D/out.6" &&
	grep -qx "  $vendor/vendoronly.conf (type)" "$D/out.6" && grep -qx 'rc=0' "$D/out.6"
ok $? "an empty admin file masks the vendor's type, the other vendor type stays"
grep -qx "  $A/recovery.conf (masked type)" "$D/out.7" && ! grep -q "$vendor/recovery.conf" "$D/out.7" &&
	grep -qx 'rc=0' "$D/out.7"
ok $? "a symbolic link to /dev/null masks it too"
[ -d "$vendor" ] && [ "$vendor" != "$base" ] && echo "# $vendor exists outside the namespace!" && exit 1
exit 0
