#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The NSS benchmark (issue 10): in-process getpwnam_r hit latency through the
# real glibc at 10, 1,000 and 100,000 entries, all in one run:
#   floor       libnss_ptfloor.so.2 (tests/bench/nss-floor.c, never
#               installed): answers a constant, so it measures glibc's own
#               cost per call
#   nss_pertok  the built libnss_pertok.so.2 on a cache tokend's writer made
#               (pt_nsscache_build + pt_nsscache_install, from N records)
#   nss_files   the same N entries in a private /etc/passwd (the name looked
#               up is the last line: the whole file is read per call)
#   sssd        SSSD's memcache (libnss_sss.so.2) with a real sssd, proxy
#               domain on files, started in the namespace and stopped by its PID
# Everything runs in a private mount namespace: /etc/nsswitch.conf and
# /etc/passwd are bind mounts of files in a temp dir, /var is an overlay whose
# writes go to a tmpfs, /run is a tmpfs. The host's /etc, /var and /run are
# not written.
#
# SSSD: used as installed when the host has sssd-proxy; otherwise Debian's
# packages are fetched with `apt-get download` into BUILDDIR/tests/bench/sssd
# and unpacked there (dpkg -x), and an overlay puts them under /usr inside the
# namespace only. (apt-get install would run their maintainer scripts, which
# start sssd on the host and add sss to the host's nsswitch.conf and PAM.)
# When sssd cannot run the script says why and goes on without it.
# PERTOK_NO_APT=1: nothing is fetched (an unpacked copy already there is used).
#
# Prints a table of microseconds per call, each back end's cost above the
# floor, and nss_pertok's above-floor cost as a fraction of SSSD's. Exit 0
# always (a benchmark, not a test).
# Usage: tests/bench/run-bench-nss.sh BUILDDIR   (as root)
# Environment: BENCH_SECONDS (default 5; each cell of the table takes half of it),
# BENCH_NSS_SIZES (default "10 1000 100000"), BENCH_NSS_SSSD=0 (leave SSSD out)
set -uo pipefail

say() { printf '%s\n' "$*"; }

if [ "${PERTOK_BENCH_NSS_NS:-}" != 1 ]; then
	builddir=$(cd "${1:-.}" && pwd) || exit 0
	if [ "$(id -u)" != 0 ]; then
		say "bench-nss: needs root (mount namespace, bind mounts); not run"
		exit 0
	fi
	for p in unshare mount timeout; do
		if ! command -v "$p" >/dev/null; then
			say "bench-nss: $p not installed; not run"
			exit 0
		fi
	done
	bench=$builddir/tests/bench/bench-nss
	floor=$builddir/tests/bench/.libs/libnss_ptfloor.so.2
	module=$builddir/nss_pertok/.libs/libnss_pertok.so.2
	for f in "$bench" "$floor" "$module"; do
		if [ ! -f "$f" ]; then
			say "bench-nss: $f not built (make bench builds it); not run"
			exit 0
		fi
	done
	# SSSD: the host's, or Debian's packages unpacked into the build tree
	sssd_root=
	sssd_why=
	multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
	if [ "${BENCH_NSS_SSSD:-1}" = 0 ]; then
		sssd_why="BENCH_NSS_SSSD=0"
	elif [ -x /usr/sbin/sssd ] && [ -f "/usr/lib/$multiarch/sssd/libsss_proxy.so" ] &&
		[ -f "/usr/lib/$multiarch/libnss_sss.so.2" ]; then
		say "sssd: the host's (/usr/sbin/sssd, sssd-proxy installed)"
	else
		sssd_root=$builddir/tests/bench/sssd/root
		if [ "${PERTOK_NO_APT:-0}" = 1 ] && [ ! -x "$sssd_root/usr/sbin/sssd" ]; then
			sssd_why="not installed, and PERTOK_NO_APT=1: not fetched"
		elif [ ! -x "$sssd_root/usr/sbin/sssd" ] ||
			[ ! -f "$sssd_root/usr/lib/$multiarch/sssd/libsss_proxy.so" ]; then
			d=$builddir/tests/bench/sssd
			rm -rf "$d" && mkdir -p "$d/debs" "$d/root"
			# what installing sssd-common, sssd-proxy and libnss-sss would add here
			pkgs=$(apt-get install -s --no-install-recommends sssd-common sssd-proxy libnss-sss \
				2>"$d/apt.log" | awk '/^Inst /{print $2}')
			say "sssd: not installed; fetching Debian's packages with apt-get download into $d" \
				"(unpacked there with dpkg -x, used in the namespace only): $(echo $pkgs)"
			if [ -z "$pkgs" ]; then
				sssd_why="apt-get install -s sssd-common sssd-proxy found nothing to fetch: $(tail -n 1 "$d/apt.log")"
			elif ! (cd "$d/debs" && timeout 300 apt-get download $pkgs >>"$d/apt.log" 2>&1); then
				sssd_why="apt-get download failed: $(tail -n 1 "$d/apt.log")"
			else
				for deb in "$d"/debs/*.deb; do dpkg -x "$deb" "$d/root" || sssd_why="dpkg -x $deb failed"; done
				# merged /usr: what the packages ship under /lib lives in /usr/lib
				if [ -d "$d/root/lib" ] && [ ! -L "$d/root/lib" ]; then
					cp -a "$d/root/lib/." "$d/root/usr/lib/" && rm -rf "$d/root/lib"
				fi
				[ -x "$sssd_root/usr/sbin/sssd" ] ||
					sssd_why=${sssd_why:-"the packages hold no /usr/sbin/sssd"}
			fi
		fi
	fi
	export PERTOK_BENCH_NSS_NS=1 builddir bench floor module sssd_root sssd_why multiarch
	exec unshare -m --propagation private -- /bin/bash "$0" "$@"
fi

# ---------------------------------------------------------------- inside the namespace
secs=${BENCH_SECONDS:-5}
rounds=3
per=$(awk -v s="$secs" -v r="$rounds" 'BEGIN { printf "%.2f", s / 2 / r }')
sizes=${BENCH_NSS_SIZES:-10 1000 100000}
W=$(mktemp -d /tmp/pertok-bench-nss.XXXXXX) || exit 0
chmod 0755 "$W"
sssd_pid=
sssd_kids=
stop_sssd() {
	[ -n "$sssd_pid" ] || return 0
	# the monitor's children (sssd_be, sssd_nss), by our PID, before it goes
	sssd_kids=$(cat "/proc/$sssd_pid/task/$sssd_pid/children" 2>/dev/null)
	kill -TERM "$sssd_pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$sssd_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$sssd_pid" 2>/dev/null
	wait "$sssd_pid" 2>/dev/null
	for k in $sssd_kids; do kill -KILL "$k" 2>/dev/null; done
	sssd_pid=
}
cleanup() {
	stop_sssd
	umount -n -l /var /run /usr /etc/passwd /etc/nsswitch.conf "$W/ns" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 0' INT TERM HUP

mkdir "$W/ns" && mount -n -t tmpfs -o mode=0755 tmpfs "$W/ns" || { say "bench-nss: tmpfs failed; not run"; exit 0; }
N=$W/ns
mkdir -p "$N/var-up" "$N/var-work" "$N/lib"
if ! mount -n -t overlay overlay -o "lowerdir=/var,upperdir=$N/var-up,workdir=$N/var-work" /var; then
	say "bench-nss: cannot mount an overlay on /var; not run"
	exit 0
fi
mount -n -t tmpfs -o mode=0755 tmpfs /run
cp /etc/passwd "$N/host-passwd" # system users (sssd resolves root through files)
cp "$N/host-passwd" "$N/passwd"
: >"$N/nsswitch.conf"
chmod 0644 "$N/passwd" "$N/nsswitch.conf"
mount -n --bind "$N/passwd" /etc/passwd && mount -n --bind "$N/nsswitch.conf" /etc/nsswitch.conf ||
	{ say "bench-nss: bind mounts over /etc failed; not run"; exit 0; }
use_nss() { printf 'passwd: %s\ngroup: files\nshadow: files\n' "$1" >/etc/nsswitch.conf; }
use_nss files

# the modules glibc loads (LD_LIBRARY_PATH of bench-nss only)
ln -s "$module" "$N/lib/libnss_pertok.so.2"
ln -s "$floor" "$N/lib/libnss_ptfloor.so.2"
cache=$("$bench" path)
case $cache in
/var/*) mkdir -p "$(dirname "$cache")" && chmod 0755 "$(dirname "$cache")" ;;
*) say "bench-nss: libnss_pertok reads $cache, not under /var (configure --localstatedir=/var); not run"; exit 0 ;;
esac

# SSSD in the namespace
if [ -z "$sssd_why" ] && [ -n "$sssd_root" ]; then
	mount -n -t overlay overlay -o "lowerdir=$sssd_root/usr:/usr" /usr ||
		sssd_why="cannot mount an overlay of $sssd_root/usr on /usr"
fi
if [ -z "$sssd_why" ]; then
	ln -s "/usr/lib/$multiarch/libnss_sss.so.2" "$N/lib/libnss_sss.so.2"
	mkdir -p /var/lib/sss /var/log/sssd
	mount -n -t tmpfs -o mode=0755 tmpfs /var/lib/sss
	mkdir -p /var/lib/sss/db /var/lib/sss/pipes/private /var/lib/sss/mc /var/lib/sss/pubconf \
		/var/lib/sss/gpo_cache
	chmod 0700 /var/lib/sss/pipes/private
	cat >"$N/sssd.conf" <<-EOF
		[sssd]
		services = nss
		domains = bench
		[nss]
		[domain/bench]
		id_provider = proxy
		proxy_lib_name = files
		auth_provider = none
	EOF
	chmod 0600 "$N/sssd.conf"
	/usr/sbin/sssd -i -c "$N/sssd.conf" --logger=stderr -d 0x0070 </dev/null >"$N/sssd.log" 2>&1 &
	sssd_pid=$!
	for _ in $(seq 100); do
		[ -S /var/lib/sss/pipes/nss ] && break
		kill -0 "$sssd_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -S /var/lib/sss/pipes/nss ]; then
		sssd_why="sssd did not start: $(grep -v '^$' "$N/sssd.log" | tail -n 1)"
		stop_sssd
	fi
fi
[ -n "$sssd_why" ] && say "sssd: not measured: $sssd_why"

# bench-nss time NAME UID, through the back end of nsswitch.conf: us per call
measure() { # BACKEND NAME UID
	use_nss "$1"
	LD_LIBRARY_PATH=$N/lib timeout 600 "$bench" time "$2" "$3" "$per" 2>>"$N/measure.err" |
		awk '{ print $1 }'
}
# the smaller of two numbers, either possibly empty
least() { awk -v a="$1" -v b="$2" 'BEGIN {
	if (a == "" || (b != "" && b + 0 < a + 0)) a = b
	print a }'; }

say "== getpwnam_r hit latency through glibc $(ldd --version | head -n 1 | awk '{print $NF}')," \
	"in-process; $rounds interleaved rounds, one process per back end and round, ${per} s each," \
	"in 2 ms batches: the quickest batch (other work on the machine only adds time); us per call (above the floor)"
say "nss_pertok's cache: N token records -> pt_nsscache_build + pt_nsscache_install (tokend's writer)"
say "nss_files: the same N users in a private /etc/passwd after the host's lines; the last one is looked up"
fmt='%-9s %-9s %-17s %-21s %-19s %s\n'
# shellcheck disable=SC2059
printf "$fmt" entries floor nss_pertok nss_files sssd-memcache "pertok/sssd above floor"
missed=
for n in $sizes; do
	name=ptb$n-$((n - 1))
	uid=$((200000 + n - 1))
	bytes=$("$bench" cache "$cache" "$n" 2>"$N/err") || {
		say "- $n: $(cat "$N/err")"
		missed="$missed $n(not run)"
		continue
	}
	{ cat "$N/host-passwd" && "$bench" passwd "$n"; } >"$N/passwd.new"
	cat "$N/passwd.new" >/etc/passwd # same inode: the bind mount stays
	if [ -n "$sssd_pid" ]; then
		use_nss sss
		for _ in $(seq 50); do # the first answer comes through sssd_be (a round trip)
			LD_LIBRARY_PATH=$N/lib getent passwd "$name" >/dev/null && break
			sleep 0.1
		done
	fi
	# interleaved rounds, the least disturbed of each back end's
	f= p= fl= s=
	for _ in $(seq "$rounds"); do
		f=$(least "$f" "$(measure ptfloor ptfloor 4242)")
		p=$(least "$p" "$(measure pertok "$name" "$uid")")
		fl=$(least "$fl" "$(measure files "$name" "$uid")")
		[ -n "$sssd_pid" ] && s=$(least "$s" "$(measure sss "$name" "$uid")")
	done
	row=$(awk -v f="$f" -v p="$p" -v fl="$fl" -v s="$s" -v n="$n" -v fmt="$fmt" '
	function num(x) { return x ~ /^[0-9.]+$/ }
	function cell(x) { return num(x) ? (num(f) ? sprintf("%.3f (+%.3f)", x, x - f) : x) : "-" }
	BEGIN {
		ratio = "-"
		if (num(f) && num(p) && num(s) && s - f > 0)
			ratio = sprintf("%.2f", (p - f) / (s - f))
		printf fmt, n, num(f) ? sprintf("%.3f", f) : "-", cell(p), cell(fl), cell(s), ratio
	}')
	printf '%s\n' "$row"
	r=$(printf '%s\n' "$row" | awk '{ print $NF }')
	case $r in
	-) missed="$missed $n(no ratio)" ;;
	*) awk -v r="$r" 'BEGIN { exit !(r > 0.5) }' && missed="$missed $n" ;;
	esac
	say "   ($n entries: cache $bytes bytes, passwd $(wc -l <"$N/passwd.new") lines)"
	if [ -s "$N/measure.err" ]; then
		sed 's/^/   /' "$N/measure.err"
		: >"$N/measure.err"
	fi
done
if [ -z "$missed" ]; then
	say "target met: nss_pertok's cost above the floor is at most half of SSSD's at every size"
else
	say "target missed or not measured at:$missed (the target: nss_pertok's cost above the floor at most half of SSSD's)"
fi
exit 0
