#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds each libFuzzer harness (tests/fuzz/fuzz-NAME.c) with clang and the
# sanitizers, straight from the sources (no libtool), and fuzzes it for a
# short time (or a number of runs) over a copy of its saved corpus, then
# prints a table: harness, runs, exec/s, cov and ft (libFuzzer's final
# coverage: code edges and features) and corpus size. Fails if any harness
# does not build or finds a crash, leak, timeout or undefined behaviour.
#
#   tests/fuzz/run-fuzz.sh [NAME...]
#     default: proto jws config record auditlog tpm2blob history coderec journal privsep live nsscache logline nssconf credaddr grant template act sshsig authkeys grantreq extjwt jwks usage
#
# Environment:
#   FUZZ_SECONDS     time per harness (default 20; with FUZZ_RUNS: no limit)
#   FUZZ_RUNS        executions per harness (e.g. 10000000); the run stops at
#                    whichever of FUZZ_RUNS and FUZZ_SECONDS comes first
#   FUZZ_JOBS        harnesses built and run at a time (default 2)
#   FUZZ_SAVE=1      add to the saved corpus (tests/fuzz/corpus/NAME/) the
#                    fewest, smallest new inputs that reach a code edge it
#                    does not (libFuzzer -merge=1 -use_counters=0)
#   FUZZ_MAX_LEN_<NAME>  override -max_len (e.g. FUZZ_MAX_LEN_proto=70000)
#   CC               compiler (default clang)
#   top_srcdir       source tree (default: found from this script)
#   top_builddir     a configured build tree whose config.h to use (default:
#                    ".", else a minimal config.h is generated)
#   FUZZ_WORKDIR     where to build and fuzz (default: a new temporary dir,
#                    removed afterwards unless something failed or FUZZ_KEEP=1)
set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-.}
runs=${FUZZ_RUNS:-}
if [ -n "$runs" ]; then
	seconds=${FUZZ_SECONDS:-0}
else
	seconds=${FUZZ_SECONDS:-20}
fi
cc=${CC:-clang}
names=${*:-proto jws config record auditlog tpm2blob history coderec journal privsep live nsscache logline nssconf credaddr grant template act sshsig authkeys grantreq extjwt jwks usage}

case $seconds in
''|*[!0-9]*) echo "run-fuzz: FUZZ_SECONDS must be a number of seconds" >&2; exit 2 ;;
esac
case $runs in
*[!0-9]*) echo "run-fuzz: FUZZ_RUNS must be a number of executions" >&2; exit 2 ;;
esac
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "run-fuzz: $cc not found (clang with libFuzzer is needed)" >&2
	exit 2
fi

if [ -n "${FUZZ_WORKDIR:-}" ]; then
	work=$FUZZ_WORKDIR
	mkdir -p "$work" || exit 2
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/pertok-fuzz.XXXXXX") || exit 2
fi

# config.h: from a configured build tree, or a minimal stand-in.
if [ -f "$builddir/config.h" ]; then
	confdir=$(cd "$builddir" && pwd)
else
	confdir=$work/include
	mkdir -p "$confdir"
	version=$(sed -n 's/^AC_INIT(\[pertok\], \[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
	cat > "$confdir/config.h" <<EOH
#define _GNU_SOURCE 1
#define PACKAGE "pertok"
#define PACKAGE_NAME "pertok"
#define PACKAGE_VERSION "${version:-0}"
#define PACKAGE_STRING "pertok ${version:-0}"
#define VERSION "${version:-0}"
EOH
fi

pkgflags() {
	pkgs=$1
	for p in tss2-esys tss2-tctildr tss2-rc tss2-mu; do
		if pkg-config --exists "$p" 2>/dev/null; then
			pkgs="$pkgs $p"
		fi
	done
	pkg-config --cflags --libs $pkgs
}

# common/ by library (Makefile.am): libptformat, libptclient, libptserver
format_src="common/util.c common/buf.c common/b64.c common/nsscache.c"
client_src="common/proto.c common/proto-client.c common/client.c common/grantreq.c"
server_src="common/proto-server.c common/io.c"
common_src="$format_src $client_src $server_src"
tokend_src="tokend/config.c tokend/confvalue.c tokend/confguard.c tokend/confdir.c tokend/policy.c tokend/fileio.c tokend/aead.c tokend/record.c tokend/store.c \
tokend/seal.c tokend/seal-tpm2.c tokend/history.c tokend/tokentype.c tokend/codes.c tokend/journal.c \
tokend/ratelimit.c tokend/config-grant.c tokend/grant-record.c tokend/grant-store.c tokend/config-rpo.c tokend/rpo-range.c \
tokend/usage.c tokend/config-usage.c tokend/issuers.c tokend/jwks.c tokend/extjwt.c"

cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
-fno-omit-frame-pointer -include $confdir/config.h -I$confdir -I$srcdir/common -I$srcdir/tokend \
-DSYSCONFDIR=\"/etc\" -DDATADIR=\"/usr/share\" -DLOCALSTATEDIR=\"/var\" -DRUNDIR=\"/run\" \
-DSBINDIR=\"/usr/sbin\" -DBINDIR=\"/usr/bin\""

# One harness: build, run, and leave its lines in $work/NAME.out, its table
# row in NAME.row and, when it failed, NAME.failed.
fuzz_one() {
	name=$1
	case $name in
	proto | act) src="$common_src"; libs=""; maxlen=20000 ;;
	nsscache) src="$format_src"; libs=""; maxlen=65536 ;;
	jws) src="$common_src common/jws.c common/ptjson.c"; libs=$(pkgflags "libcrypto json-c"); maxlen=10000 ;;
	auditlog)
		src="$common_src common/jws.c common/ptjson.c common/auditlog.c"
		# remembers Ed25519 verifications (see the harness)
		libs="-DFUZZ_MEMO_VERIFY -Wl,--wrap=EVP_DigestVerify $(pkgflags "libcrypto json-c")"
		maxlen=40000 ;;
	live | privsep)
		src="$common_src common/jws.c common/ptjson.c tokend/live.c tokend/live-parse.c tokend/live-wire.c tokend/extjwt.c"
		[ "$name" = privsep ] && src="$src tokend/privsep.c"
		libs=$(pkgflags "libcrypto json-c")
		maxlen=16384 ;;
	logline) src="tokend/log.c"; libs=$(pkgflags "libsystemd"); maxlen=8192 ;;
	nssconf) src="$common_src tokend/nssconf.c tokend/fileio.c"; libs=$(pkgflags "libcrypto"); maxlen=4096 ;;
	config | record | tpm2blob | history | coderec | journal | grant | usage)
		src="$common_src common/jws.c common/ptjson.c $tokend_src"
		libs=$(pkgflags "libcrypto json-c libconfig lmdb")
		maxlen=16384 ;;
	credaddr) src="tokend/credential-parse.c"; libs=""; maxlen=512 ;;
	extjwt | jwks)
		src="$common_src common/ptjson.c tokend/extjwt.c tokend/jwks.c tokend/fileio.c"
		libs=$(pkgflags "libcrypto json-c")
		maxlen=9000 ;;
	template)
		src="$common_src common/jws.c common/ptjson.c common/auditlog.c $tokend_src tokend/template.c"
		libs=$(pkgflags "libcrypto json-c libconfig lmdb")
		maxlen=17000 ;;
	grantreq) src="$format_src $client_src"; libs=""; maxlen=8192 ;;
	sshsig | authkeys)
		src="$format_src common/io.c tokend/sshsig.c tokend/authkeys.c tokend/fileio.c"
		libs=$(pkgflags "libcrypto")
		maxlen=16384 ;;
	*) echo "fuzz $name: FAILED (unknown harness)"; : >"$work/$name.failed"; return ;;
	esac
	eval "maxlen=\${FUZZ_MAX_LEN_$name:-$maxlen}"
	harness=$srcdir/tests/fuzz/fuzz-$name.c
	bin=$work/fuzz-$name
	log=$work/$name.log
	if [ ! -f "$harness" ]; then
		echo "fuzz $name: FAILED (no harness $harness)"
		: >"$work/$name.failed"
		return
	fi
	srcs=""
	for s in $src; do
		srcs="$srcs $srcdir/$s"
	done
	# shellcheck disable=SC2086
	if ! $cc $cflags -o "$bin" "$harness" $srcs $libs >"$work/$name.build.log" 2>&1; then
		echo "fuzz $name: FAILED (build; see $work/$name.build.log)"
		sed 's/^/    /' "$work/$name.build.log" | head -n 20
		: >"$work/$name.failed"
		return
	fi

	corpus=$work/corpus-$name
	artifacts=$work/artifacts-$name
	rm -rf "$corpus" "$artifacts"
	mkdir -p "$corpus" "$artifacts"
	seeds=0
	if [ -d "$srcdir/tests/fuzz/corpus/$name" ]; then
		cp -p "$srcdir/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null
		seeds=$(find "$corpus" -type f | wc -l)
	fi

	limit="-max_total_time=$seconds"
	[ -n "$runs" ] && limit="$limit -runs=$runs"
	start=$(date +%s)
	# shellcheck disable=SC2086
	"$bin" $limit -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	# the DONE line's, or the last status line's after a graceful stop (SIGUSR1)
	cov=$(sed -n 's/^#[0-9]*[[:space:]].* cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/p' "$log" | tail -n 1)
	cov=${cov:-"? ?"}
	found=$(find "$corpus" -type f | wc -l)
	crashes=$(find "$artifacts" -type f | wc -l)
	if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] && [ "${FUZZ_SAVE:-0}" = 1 ]; then
		# shellcheck disable=SC2086
		"$bin" -merge=1 -use_counters=0 -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
			"$srcdir/tests/fuzz/corpus/$name" "$corpus" >"$work/$name.merge.log" 2>&1 ||
			{ echo "fuzz $name: FAILED (merge; see $work/$name.merge.log)"; rc=1; }
	fi
	printf '%-9s %10s %8s %6s %7s %6s %6s' "$name" "${done_runs:-?}" \
		"${rate:-?}" "${cov% *}" "${cov#* }" "$found" "$secs" >"$work/$name.row"
	if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]; then
		echo "fuzz $name: ok (${secs}s, ${done_runs:-?} runs, corpus $seeds -> $found inputs)"
	else
		echo "fuzz $name: FAILED (exit status $rc; artifacts in $artifacts; log $log)"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 10 |
			sed 's/^/    /'
		: >"$work/$name.failed"
	fi
}

# FUZZ_JOBS harnesses at a time (default 2: libFuzzer runs one process per
# harness, so two cores halve the wall time); the output in the order named.
jobs=${FUZZ_JOBS:-2}
case $jobs in
'' | *[!0-9]* | 0) echo "run-fuzz: FUZZ_JOBS must be a positive number" >&2; exit 2 ;;
esac
j=1
while [ "$j" -le "$jobs" ]; do
	(
		k=0
		for name in $names; do
			[ $((k % jobs + 1)) -eq "$j" ] && fuzz_one "$name" >"$work/$name.out" 2>&1
			k=$((k + 1))
		done
	) &
	j=$((j + 1))
done
wait
failed=""
table=""
for name in $names; do
	cat "$work/$name.out" 2>/dev/null
	[ -f "$work/$name.failed" ] && failed="$failed $name"
	[ -f "$work/$name.row" ] && table="$table$(cat "$work/$name.row")
"
done

printf '%-9s %10s %8s %6s %7s %6s %6s\n' harness runs exec/s cov ft corpus secs
printf '%s' "$table"
if [ -n "$failed" ]; then
	echo "run-fuzz: FAILED:$failed (work directory kept: $work)"
	exit 1
fi
echo "run-fuzz: no crash in: $names"
if [ -z "${FUZZ_WORKDIR:-}" ] && [ "${FUZZ_KEEP:-0}" != 1 ]; then
	rm -rf "$work"
else
	echo "run-fuzz: work directory: $work"
fi
exit 0
