#!/bin/sh
# SPDX-License-Identifier: MIT
# configure fails, naming the package, when a test dependency is missing, and
# builds without those tests only when asked to (--without-cmocka,
# --without-pamtest), saying so. A pkg-config wrapper plays the missing
# package: it answers "not found" for the modules in $PT_FAKE_MISSING.
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
real=$(command -v pkg-config)
if [ -z "$real" ]; then
	echo "1..0 # SKIP no pkg-config"
	exit 0
fi
if [ -f "$srcdir/config.status" ]; then
	echo "1..0 # SKIP the source tree is configured in place (configure cannot run from another directory)"
	exit 0
fi
tmp=$(mktemp -d /tmp/pertok-configure-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/pkg-config" <<WRAP
#!/bin/sh
for a in "\$@"; do
	for m in \$PT_FAKE_MISSING; do
		case \$a in \$m | \$m\ *) echo "Package \$m was not found (test)" >&2; exit 1 ;; esac
	done
done
exec "$real" "\$@"
WRAP
chmod +x "$tmp/pkg-config"
n=0
# run NAME MISSING EXPECT(fail|ok) GREP [CONFIGURE ARGS...]
run() {
	name=$1 missing=$2 expect=$3 pattern=$4
	shift 4
	n=$((n + 1))
	mkdir -p "$tmp/b$n"
	(cd "$tmp/b$n" && PT_FAKE_MISSING=$missing PKG_CONFIG="$tmp/pkg-config" \
		timeout 240 "$srcdir/configure" --disable-dependency-tracking "$@" >out 2>&1)
	rc=$?
	if { [ "$expect" = fail ] && [ $rc -ne 0 ]; } || { [ "$expect" = ok ] && [ $rc -eq 0 ]; }; then
		if grep -q -- "$pattern" "$tmp/b$n/out"; then
			echo "ok $n - $name"
			return
		fi
	fi
	echo "not ok $n - $name (configure exit $rc)"
	tail -n 5 "$tmp/b$n/out" | sed 's/^/# /'
}
echo "1..3"
run "cmocka missing: configure fails and names libcmocka-dev" cmocka fail "libcmocka-dev"
run "libpamtest missing: configure fails and names libpamtest0-dev" libpamtest fail "libpamtest0-dev"
run "--without-cmocka --without-pamtest: configure succeeds and says what is left out" \
	"cmocka libpamtest" ok "tests left out on request" --without-cmocka --without-pamtest
