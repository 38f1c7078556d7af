#!/bin/bash
# SPDX-License-Identifier: MIT
# libnss_pertok through the real glibc (TAP). In a private mount namespace:
# a private /etc/nsswitch.conf ("passwd: files pertok", "group: files
# pertok") bound over the host's, a temp dir bound over /var/cache (so the
# cache sits at the module's compiled path, LOCALSTATEDIR/cache/pertok), the
# built module found through LD_LIBRARY_PATH (getent and id are not setuid).
# Nothing of the host's /etc or /var is written. Needs root and unshare(1);
# skips otherwise.
set -u
top_builddir=${top_builddir:-$(pwd)}
tool=$top_builddir/tests/nss/nss-tool
module_dir=$top_builddir/nss_pertok/.libs

if [ "${PERTOK_NSS_NS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "1..0 # SKIP needs root (mount namespace, bind mounts)"
		exit 0
	fi
	if ! command -v unshare >/dev/null || ! command -v getent >/dev/null; then
		echo "1..0 # SKIP unshare(1) or getent(1) missing"
		exit 0
	fi
	if [ ! -x "$tool" ] || [ ! -f "$module_dir/libnss_pertok.so.2" ]; then
		echo "1..0 # SKIP not built: $tool, $module_dir/libnss_pertok.so.2"
		exit 0
	fi
	# getent and id are not ASan programs: they cannot load an ASan-built
	# module (the sanitizer pass): then only nss-tool's checks run (the
	# threads and the fork), nss-tool being built with ASan as well
	PERTOK_NSS_TOOL_ONLY=0
	if command -v objdump >/dev/null &&
		objdump -p "$module_dir/libnss_pertok.so.2" | grep -q 'NEEDED.*libasan'; then
		PERTOK_NSS_TOOL_ONLY=1
	fi
	export PERTOK_NSS_NS=1 PERTOK_NSS_TOOL_ONLY top_builddir
	exec unshare -m --propagation private -- /bin/bash "$0" "$@"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/ptnss.XXXXXX") || exit 1
cleanup() {
	umount -n /var/cache 2>/dev/null
	umount -n /etc/nsswitch.conf 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
chmod 0755 "$T"

cache=$("$tool" path)
case $cache in
/var/cache/*) ;;
*)
	echo "1..0 # SKIP the module reads $cache (not under /var/cache: configure --localstatedir=/var)"
	exit 0
	;;
esac
sed -e 's/^passwd:.*/passwd: files pertok/' -e 's/^group:.*/group: files pertok/' \
	/etc/nsswitch.conf >"$T/nsswitch.conf"
grep -q '^passwd: files pertok' "$T/nsswitch.conf" || echo 'passwd: files pertok' >>"$T/nsswitch.conf"
grep -q '^group: files pertok' "$T/nsswitch.conf" || echo 'group: files pertok' >>"$T/nsswitch.conf"
mkdir -p "$T/var-cache"
mount -n --bind "$T/nsswitch.conf" /etc/nsswitch.conf || exit 1
mount -n --bind "$T/var-cache" /var/cache || exit 1
cachedir=$(dirname "$cache")
mkdir -p "$cachedir" && chmod 0755 "$cachedir"
[ -d /run/nscd ] && mount -n -t tmpfs tmpfs /run/nscd # never ask a host nscd
export LD_LIBRARY_PATH=$module_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

n=0
failed=0
tap() { # tap OK|FAIL description [details]
	n=$((n + 1))
	if [ "$1" = OK ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
		[ $# -gt 2 ] && printf '%s\n' "$3" | sed 's/^/# /'
	fi
}
expect() { # expect DESCRIPTION WANTED command...
	local desc=$1 want=$2 got
	shift 2
	got=$("$@" 2>&1)
	if [ "$got" = "$want" ]; then
		tap OK "$desc"
	else
		tap FAIL "$desc" "wanted: $want
got:    $got"
	fi
}
# a clean "not found": getent's exit status 2, not a crash (>= 128)
absent() { # absent DESCRIPTION command...
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 2 ] && [ -z "$out" ]; then
		tap OK "$desc"
	else
		tap FAIL "$desc" "exit status $rc, output: $out"
	fi
}

long=$(head -c 3000 /dev/zero | tr '\0' 'g')
write_good() {
	printf 'P\tptnss-carol\t39301\t39301\tCarol C\t/home/ptnss-carol\t/bin/sh\n'
	printf 'P\tptnss-dave\t39302\t39302\tDave\t/home/ptnss-dave\t/bin/bash\n'
	printf 'P\tptnss-long\t39303\t39301\t%s\t/home/ptnss-long\t/bin/sh\n' "$long"
	printf 'G\tptnss-carol\t39301\n'
	printf 'G\tptnss-team\t39350\n'
	printf 'M\tptnss-team\tptnss-carol\n'
	printf 'M\tptnss-team\tptnss-dave\n'
}

if [ "${PERTOK_NSS_TOOL_ONLY:-0}" = 1 ]; then
	echo "# the module is built with ASan: getent and id cannot load it; 2 of the 20 checks run"
	echo "1..2"
	write_good | "$tool" write "$cache" || exit 1
	out=$("$tool" threads "$cache" 2>&1)
	[ $? -eq 0 ] && tap OK "4 threads look up while the cache is rewritten 200 times ($out)" ||
		tap FAIL "4 threads look up while the cache is rewritten 200 times" "$out"
	out=$("$tool" fork "$cache" 2>&1)
	[ $? -eq 0 ] && tap OK "a forked child sees a rewrite" || tap FAIL "a forked child sees a rewrite" "$out"
	exit 0
fi
echo "1..20"
write_good | "$tool" write "$cache"
rc=$?
mode=$(stat -c %a "$cache" 2>/dev/null)
[ $rc -eq 0 ] && [ "$mode" = 644 ] && tap OK "the cache is installed 0644 at $cache" ||
	tap FAIL "the cache is installed 0644 at $cache" "status $rc, mode $mode"

carol='ptnss-carol:*:39301:39301:Carol C:/home/ptnss-carol:/bin/sh'
expect "getent passwd NAME answers from the cache" "$carol" getent passwd ptnss-carol
expect "getent passwd UID answers from the cache" "$carol" getent passwd 39301
expect "getent group NAME lists the members" "ptnss-team:*:39350:ptnss-carol,ptnss-dave" \
	getent group ptnss-team
expect "getent group GID" "ptnss-team:*:39350:ptnss-carol,ptnss-dave" getent group 39350
expect "id NAME: initgroups adds the cached groups" \
	"uid=39301(ptnss-carol) gid=39301(ptnss-carol) groups=39301(ptnss-carol),39350(ptnss-team)" \
	id ptnss-carol
expect "getent initgroups: the cached supplementary groups" "ptnss-dave            39350" \
	getent initgroups ptnss-dave
out=$(getent passwd)
if printf '%s\n' "$out" | grep -Fqx "$carol" && printf '%s\n' "$out" | grep -q '^root:' &&
	printf '%s\n' "$out" | grep -q '^ptnss-dave:'; then
	tap OK "getent passwd enumerates files then the cache"
else
	tap FAIL "getent passwd enumerates files then the cache" "$(printf '%s\n' "$out" | tail -n 5)"
fi
out=$(getent group)
printf '%s\n' "$out" | grep -qx 'ptnss-team:\*:39350:ptnss-carol,ptnss-dave' &&
	tap OK "getent group enumerates the cache" ||
	tap FAIL "getent group enumerates the cache" "$(printf '%s\n' "$out" | tail -n 5)"
absent "an absent name is not found" getent passwd ptnss-nobody
out=$(getent passwd ptnss-long)
[ "$out" = "ptnss-long:*:39303:39301:$long:/home/ptnss-long:/bin/sh" ] &&
	tap OK "an entry larger than glibc's first buffer (ERANGE, TRYAGAIN, retried)" ||
	tap FAIL "an entry larger than glibc's first buffer (ERANGE, TRYAGAIN, retried)" "${out:0:200}"
expect "root still comes from files" "root:x:0:0:root:/root:/bin/bash" getent passwd root

out=$(PERTOK_NSS_BYPASS=1 getent passwd ptnss-carol)
[ -z "$out" ] && tap OK "PERTOK_NSS_BYPASS (tokend) is never answered from the cache" ||
	tap FAIL "PERTOK_NSS_BYPASS (tokend) is never answered from the cache" "$out"

out=$("$tool" threads "$cache" 2>&1)
[ $? -eq 0 ] && tap OK "4 threads look up while the cache is rewritten 200 times ($out)" ||
	tap FAIL "4 threads look up while the cache is rewritten 200 times" "$out"
out=$("$tool" fork "$cache" 2>&1)
[ $? -eq 0 ] && tap OK "a forked child sees a rewrite" || tap FAIL "a forked child sees a rewrite" "$out"

# bad files: no answer, no crash, files still answer
write_good | "$tool" write "$cache"
size=$(stat -c %s "$cache")
cp "$cache" "$T/good"
printf '\x41' | dd of="$cache" bs=1 seek=$((size - 10)) conv=notrunc status=none
absent "a corrupt cache (one byte changed): no answer" getent passwd ptnss-carol
cp "$T/good" "$cache.new" && truncate -s $((size / 2)) "$cache.new" && mv "$cache.new" "$cache"
absent "a truncated cache: no answer" getent passwd ptnss-carol
cp "$T/good" "$cache.new" && chmod 0664 "$cache.new" && mv "$cache.new" "$cache"
absent "a group-writable cache is ignored" getent passwd ptnss-carol
rm -f "$cache"
absent "no cache file: no answer" getent passwd 39301
expect "no cache file: files still answer" "root:x:0:0:root:/root:/bin/bash" getent passwd 0
exit 0
