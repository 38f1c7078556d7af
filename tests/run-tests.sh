#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tests/run-tests.sh — the whole test suite (README command 2; .ci/run).
#
#   1. scripts/install-deps.sh (root; PERTOK_NO_APT=1 skips apt). A missing
#      package fails the run right there (as root when apt cannot install it;
#      with PERTOK_NO_APT=1 or not root, whatever is missing) unless
#      PERTOK_SKIP_MISSING=1 (or --skip-missing): then the tests that need it
#      are left out (configure --without-cmocka / --without-pamtest, or the
#      test skips itself) and the run lists what was left out and why
#   2. autoreconf -fi, configure, make -j2 in ./build
#   3. make -j2 check in ./build: unit, PAM module, fuzz-corpus replay and
#      system tests (real atd in a private mount namespace)
#   4. sanitizer pass: a second build in ./build-asan with
#      -fsanitize=address,undefined, `make check SYSTEM_TESTS=` there (not the
#      system tests: atd and pamtester cannot load an ASan-built PAM module)
#   5. libFuzzer smoke: tests/fuzz/run-fuzz.sh, FUZZ_SECONDS per harness
#   6. valgrind pass: tests/run-valgrind.sh on ./build, every C test program
#      under memcheck (or, for the ones tokend must recognise as actors by
#      their executable, their tokend and pam_pertok.so under memcheck)
#
# Failures do not stop the run: every step runs, the logs of failed tests are
# printed. Every step is bounded (timeout(1); make check's test programs each
# have their own limit, tests/lib/run-test.sh): a hang is a failed step.
#
# Counting. The sanitizer pass runs the same tests again; it is reported on
# its own line ("sanitizer pass: N passed, N failed"). The last line, exactly
# "N passed, N failed" (", N skipped" when N > 0), counts each distinct test
# case once (a .trs file and the case's position in it), with its worst
# result over both passes: a case that passed in ./build but failed under the
# sanitizers counts as failed; plus one failure per failed step (build,
# configure, a timeout, the fuzz smoke) and one pass per fuzz harness. The
# valgrind pass, like the sanitizer pass, reruns tests: it has its own line
# ("valgrind pass: N passed, N failed") and each program it fails adds one
# failure to the last line.
# Exit status 0 only when nothing failed.
#
# Options (environment in brackets):
#   --asan / --no-asan   sanitizer pass [PERTOK_ASAN=1|0]; default on
#   --fuzz / --no-fuzz   libFuzzer smoke [PERTOK_FUZZ=1|0]; default on when
#                        CI=true, off otherwise (it costs ~1-2 minutes)
#   --valgrind / --no-valgrind  valgrind pass [PERTOK_VALGRIND=1|0]; default on
#                        when CI=true, off otherwise (it costs ~2-3 minutes)
#   --quick              none of steps 4-6 (only steps 1-3)
#   --skip-missing       [PERTOK_SKIP_MISSING=1] leave out the tests whose
#                        packages are missing instead of failing
#   [FUZZ_SECONDS=15] [JOBS=2] [PERTOK_NO_APT=1]
#   [PERTOK_STEP_TIMEOUT=1800] seconds per build step; make check gets 3x
set -u

repo=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
	fuzz_default=1 fuzz_why="CI=${CI}"
else
	fuzz_default=0 fuzz_why="not in CI; CI=true or --fuzz turns it on"
fi
ASAN=${PERTOK_ASAN:-1}
asan_why="default"
[ -n "${PERTOK_ASAN:-}" ] && asan_why="PERTOK_ASAN=$PERTOK_ASAN"
FUZZ=${PERTOK_FUZZ:-$fuzz_default}
[ -n "${PERTOK_FUZZ:-}" ] && fuzz_why="PERTOK_FUZZ=$PERTOK_FUZZ"
VALGRIND=${PERTOK_VALGRIND:-$fuzz_default}
valgrind_why=$fuzz_why
[ -n "${PERTOK_VALGRIND:-}" ] && valgrind_why="PERTOK_VALGRIND=$PERTOK_VALGRIND"

for arg in "$@"; do
	case $arg in
	--asan) ASAN=1 asan_why="--asan" ;;
	--no-asan) ASAN=0 asan_why="--no-asan" ;;
	--fuzz) FUZZ=1 fuzz_why="--fuzz" ;;
	--no-fuzz) FUZZ=0 fuzz_why="--no-fuzz" ;;
	--valgrind) VALGRIND=1 valgrind_why="--valgrind" ;;
	--no-valgrind) VALGRIND=0 valgrind_why="--no-valgrind" ;;
	--quick) ASAN=0 FUZZ=0 VALGRIND=0 asan_why="--quick" fuzz_why="--quick" valgrind_why="--quick" ;;
	--skip-missing) PERTOK_SKIP_MISSING=1 ;;
	-h | --help)
		sed -n '3,/^set -u/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -u/d'
		exit 0
		;;
	*)
		echo "run-tests: unknown option $arg (try --help)" >&2
		exit 2
		;;
	esac
done

build=$repo/build
asan_build=$repo/build-asan
logs=$build/run-tests-logs
configure_args=(--sysconfdir=/etc --localstatedir=/var --with-securedir=/lib/x86_64-linux-gnu/security)
SAN_FLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"

STEP_TIMEOUT=${PERTOK_STEP_TIMEOUT:-1800}
SKIP_MISSING=${PERTOK_SKIP_MISSING:-0}
export PERTOK_SKIP_MISSING=$SKIP_MISSING
LEFT_OUT=()     # what was left out for lack of a package (PERTOK_SKIP_MISSING=1)
STEP_FAILS=()   # steps that failed outside any .trs (build, harness, fuzz)
RESULT_DIRS=("$build")   # build trees whose .trs files count
EXTRA_PASS=0 EXTRA_SKIP=0
T_START=$(date +%s)

hr() { printf '\n======== %s\n' "$*"; }
note() { printf 'run-tests: %s\n' "$*"; }
elapsed() { echo "$(($(date +%s) - $1)) s"; }

# run_logged NAME LOGFILE CMD...: runs CMD with its output in LOGFILE; on
# failure prints the last 60 lines and records NAME as a failed step.
run_logged() {
	local name=$1 log=$2 t rc
	shift 2
	t=$(date +%s)
	timeout -k 30 "$STEP_TIMEOUT" "$@" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		note "$name FAILED: TIMEOUT after $STEP_TIMEOUT s (PERTOK_STEP_TIMEOUT); last lines of $log:"
		tail -n 60 "$log" | sed 's/^/  | /'
		STEP_FAILS+=("$name (TIMEOUT after $STEP_TIMEOUT s)")
	elif [ $rc -ne 0 ]; then
		note "$name FAILED (exit $rc, $(elapsed "$t")); last lines of $log:"
		tail -n 60 "$log" | sed 's/^/  | /'
		STEP_FAILS+=("$name (exit $rc)")
	else
		note "$name ok ($(elapsed "$t"))"
	fi
	return $rc
}

# ---------------------------------------------------------------- 1. deps
hr "dependencies"
if [ "$(id -u)" -eq 0 ] && [ "${PERTOK_NO_APT:-0}" != 1 ]; then
	timeout -k 30 "$STEP_TIMEOUT" "$repo/scripts/install-deps.sh" ||
		note "scripts/install-deps.sh failed (exit $?)"
else
	[ "$(id -u)" -eq 0 ] || note "not root: cannot install packages (only checking); the tests" \
		"that need root skip themselves"
fi
mapfile -t MISSING < <("$repo/scripts/install-deps.sh" --list-missing)
if [ ${#MISSING[@]} -gt 0 ]; then
	if [ "$SKIP_MISSING" != 1 ]; then
		note "missing Debian packages: ${MISSING[*]}"
		note "install them (scripts/install-deps.sh as root), or run with --skip-missing" \
			"(PERTOK_SKIP_MISSING=1) to leave out the tests that need them"
		echo "0 passed, 1 failed"
		exit 1
	fi
	for p in "${MISSING[@]}"; do LEFT_OUT+=("package $p missing"); done
	have() { ! printf '%s\n' "${MISSING[@]}" | grep -qx "$1"; }
	if ! have libcmocka-dev; then
		configure_args+=(--without-cmocka)
		LEFT_OUT+=("every cmocka test (configure --without-cmocka: libcmocka-dev missing)")
	fi
	if ! have libpamtest0-dev || ! have libpam-wrapper; then
		configure_args+=(--without-pamtest)
		LEFT_OUT+=("the pam_wrapper tests (configure --without-pamtest)")
	fi
	note "PERTOK_SKIP_MISSING=1: leaving out what needs: ${MISSING[*]}"
fi

# ---------------------------------------------------------------- 2. build
hr "build ($build)"
note "sanitizer pass: $([ "$ASAN" = 1 ] && echo on || echo off) ($asan_why);" \
	"libFuzzer smoke: $([ "$FUZZ" = 1 ] && echo "on, ${FUZZ_SECONDS} s per harness" || echo off) ($fuzz_why)"
mkdir -p "$build" "$logs"
built=0
cd "$repo" &&
	run_logged "autoreconf -fi" "$logs/autoreconf.log" autoreconf -fi &&
	cd "$build" &&
	run_logged "configure" "$logs/configure.log" "$repo/configure" "${configure_args[@]}" &&
	run_logged "make -j$JOBS" "$logs/make.log" make -j"$JOBS" &&
	built=1

# ---------------------------------------------------------------- 3. make check
# run_check DIR LABEL [ENV...]: make -k check $CHECK_MAKE_ARGS in DIR (stale
# results removed first); a failing make with no failing .trs is a failed step
CHECK_MAKE_ARGS=""
run_check() {
	local dir=$1 label=$2 t rc
	shift 2
	find "$dir" -name '*.trs' -delete 2>/dev/null
	rm -f "$dir/test-suite.log"
	t=$(date +%s)
	# shellcheck disable=SC2086
	(cd "$dir" && timeout -k 30 $((STEP_TIMEOUT * 3)) env "$@" make -k -j"$JOBS" check $CHECK_MAKE_ARGS) 2>&1 |
		tee "$logs/check-$label.log" |
		grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):|^# |error:|Error [0-9]'
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		note "make check ($label) FAILED: TIMEOUT after $((STEP_TIMEOUT * 3)) s"
		STEP_FAILS+=("make check ($label, TIMEOUT after $((STEP_TIMEOUT * 3)) s)")
	fi
	if [ "$rc" -ne 0 ] && [ ! -f "$dir/test-suite.log" ]; then
		# check_PROGRAMS did not all build, so make ran no test at all: run
		# each test whose program did build, to collect what can be collected
		note "make check ($label) stopped before the tests (a check program did not" \
			"build); running every test that can run"
		local tl
		tl=$(cd "$dir" && printf 'pt-print-test-logs:\n\t@echo $(TEST_LOGS)\n' |
			make -s -f Makefile -f - pt-print-test-logs)
		# shellcheck disable=SC2086
		(cd "$dir" && env "$@" make -k -j"$JOBS" $tl $CHECK_MAKE_ARGS) 2>&1 | tee -a "$logs/check-$label.log" |
			grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):|error:|Error [0-9]'
	fi
	note "make check ($label): exit $rc ($(elapsed "$t"))"
	# (no .trs at all counts as "no failing result" too: then the step fails)
	if [ "$rc" -ne 0 ] && ! find "$dir" -name '*.trs' -print0 | xargs -0 -r cat |
		grep -qE '^:test-result: *(FAIL|ERROR|XPASS)'; then
		note "make check ($label) failed without a failing test result (a check program" \
			"did not build?); last lines of $logs/check-$label.log:"
		grep -vE '^(PASS|SKIP|XFAIL):' "$logs/check-$label.log" | tail -n 40 | sed 's/^/  | /'
		STEP_FAILS+=("make check ($label, exit $rc)")
	fi
}

find "$build" -name '*.trs' -delete
if [ "$built" = 1 ]; then
	hr "make check ($build)"
	run_check "$build" main
else
	note "make check skipped: the build failed"
fi

# ---------------------------------------------------------------- 4. sanitizers
if [ "$ASAN" = 1 ]; then
	hr "sanitizer pass ($asan_build): CFLAGS=\"$SAN_FLAGS\""
	note "unit, daemon, PAM-module (pam_wrapper) and fuzz-corpus replay tests under" \
		"ASan+UBSan; not the system tests (SYSTEM_TESTS= : the real atd and pamtester" \
		"cannot load an ASan-built PAM module)"
	asan_opts="verify_asan_link_order=0:abort_on_error=0:detect_stack_use_after_return=1"
	# LeakSanitizer needs to stop the world with ptrace; some containers forbid it
	probe=$(mktemp -d)
	printf 'int main(void){return 0;}\n' >"$probe/p.c"
	if gcc -fsanitize=address "$probe/p.c" -o "$probe/p" 2>/dev/null &&
		ASAN_OPTIONS=detect_leaks=1 "$probe/p" >"$probe/out" 2>&1; then
		asan_opts="$asan_opts:detect_leaks=1"
	else
		note "LeakSanitizer does not work here (ptrace restricted?): detect_leaks=0"
		asan_opts="$asan_opts:detect_leaks=0"
	fi
	rm -rf "$probe"
	mkdir -p "$asan_build"
	find "$asan_build" -name '*.trs' -delete
	RESULT_DIRS+=("$asan_build")
	asan_built=0
	cd "$asan_build" &&
		run_logged "configure (asan)" "$logs/configure-asan.log" "$repo/configure" "${configure_args[@]}" \
			CFLAGS="$SAN_FLAGS" LDFLAGS="-fsanitize=address,undefined" &&
		run_logged "make -j$JOBS (asan)" "$logs/make-asan.log" make -j"$JOBS" &&
		asan_built=1
	if [ "$asan_built" = 1 ]; then
		# cwrap's wrappers dlopen with RTLD_DEEPBIND, which ASan refuses;
		# pam_wrapper 1.1.4 reads UID_WRAPPER_DISABLE_DEEPBIND (sic), newer
		# ones PAM_WRAPPER_/NSS_WRAPPER_DISABLE_DEEPBIND
		CHECK_MAKE_ARGS="SYSTEM_TESTS="
		run_check "$asan_build" asan PERTOK_SANITIZER=1 ASAN_OPTIONS="$asan_opts" \
			UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" LSAN_OPTIONS="${LSAN_OPTIONS:-}" \
			UID_WRAPPER_DISABLE_DEEPBIND=1 PAM_WRAPPER_DISABLE_DEEPBIND=1 NSS_WRAPPER_DISABLE_DEEPBIND=1
	fi
else
	hr "sanitizer pass: skipped ($asan_why)"
fi

# ---------------------------------------------------------------- 5. fuzz smoke
if [ "$FUZZ" = 1 ]; then
	hr "libFuzzer smoke (${FUZZ_SECONDS} s per harness)"
	if [ -f "$repo/tests/fuzz/run-fuzz.sh" ]; then
		# one result per harness ("fuzz NAME: ok" / "fuzz NAME: FAILED (...)")
		t=$(date +%s)
		(cd "$build" && FUZZ_SECONDS="$FUZZ_SECONDS" top_srcdir="$repo" top_builddir="$build" \
			timeout -k 30 "$STEP_TIMEOUT" sh "$repo/tests/fuzz/run-fuzz.sh") 2>&1 |
			tee "$logs/fuzz.log" | sed 's/^/  | /'
		rc=${PIPESTATUS[0]}
		np=$(grep -cE '^fuzz [^ ]+: ok' "$logs/fuzz.log")
		nf=$(grep -cE '^fuzz [^ ]+: FAILED' "$logs/fuzz.log")
		EXTRA_PASS=$((EXTRA_PASS + np))
		for h in $(sed -n 's/^fuzz \([^ ]*\): FAILED.*/\1/p' "$logs/fuzz.log"); do
			STEP_FAILS+=("libFuzzer smoke: $h")
		done
		if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
			STEP_FAILS+=("libFuzzer smoke (exit $rc)")
		fi
		note "libFuzzer smoke: $np ok, $nf failed, exit $rc ($(elapsed "$t"))"
	else
		note "libFuzzer smoke: tests/fuzz/run-fuzz.sh not present, skipped"
		EXTRA_SKIP=$((EXTRA_SKIP + 1))
	fi
else
	hr "libFuzzer smoke: skipped ($fuzz_why)"
fi

# ---------------------------------------------------------------- 6. valgrind
VG_LINE=
if [ "$VALGRIND" = 1 ] && [ "$built" = 1 ]; then
	hr "valgrind pass ($build)"
	t=$(date +%s)
	timeout -k 30 "$STEP_TIMEOUT" bash "$repo/tests/run-valgrind.sh" "$build" 2>&1 |
		tee "$logs/valgrind.log" | sed 's/^/  | /'
	rc=${PIPESTATUS[0]}
	for p in $(sed -n 's/^FAIL \([^ ]*\) .*/\1/p' "$logs/valgrind.log"); do
		STEP_FAILS+=("valgrind: $p")
	done
	VG_LINE=$(sed -n 's/^valgrind: \([0-9]* passed, [0-9]* failed\)$/\1/p' "$logs/valgrind.log")
	if [ -z "$VG_LINE" ]; then
		STEP_FAILS+=("valgrind pass (exit $rc, no summary)")
	fi
	note "valgrind pass: ${VG_LINE:-no summary}, exit $rc ($(elapsed "$t"))"
else
	hr "valgrind pass: skipped ($([ "$built" = 1 ] && echo "$valgrind_why" || echo "the build failed"))"
fi

# ---------------------------------------------------------------- results
trs_files() { find "${RESULT_DIRS[@]}" -name '*.trs' 2>/dev/null | sort; }
mapfile -t TRS < <(trs_files)
# each distinct test case once, its worst result over both passes; the
# sanitizer pass alone for its own line (tests/lib/count-results.sh)
counts=$(bash "$repo/tests/lib/count-results.sh" "$build" "$([ "$ASAN" = 1 ] && echo "$asan_build")")
read -r _ pass fail skip < <(sed -n 's/^distinct //p' <<<"$counts" | sed 's/^/x /')
read -r _ apass afail askip < <(sed -n 's/^second //p' <<<"$counts" | sed 's/^/x /')
pass=$((pass + EXTRA_PASS))
skip=$((skip + EXTRA_SKIP))
fail=$((fail + ${#STEP_FAILS[@]}))

hr "results"
for f in "${TRS[@]}"; do
	rel=${f#"$repo"/}
	sum=$(sed -n 's/^:test-result: *\([A-Z]*\).*/\1/p' "$f" | sort | uniq -c | awk '{printf "%s%s %s", s, $1, $2; s=", "}')
	printf '  %-55s %s\n' "${rel%.trs}" "$sum"
done
# why things were skipped (TAP "# SKIP" reasons, once each)
skips=$(for f in "${TRS[@]}"; do
	grep -q '^:test-result: *SKIP' "$f" || continue
	l=${f%.trs}.log
	[ -f "$l" ] && grep -hoE '(# SKIP|# skip).*' "$l" | sed "s|^|${l#"$repo"/}: |"
done | sort -u)
if [ -n "$skips" ]; then
	echo "skipped:"
	printf '%s\n' "$skips" | sed 's/^/  /'
fi

# logs of failed tests
for f in "${TRS[@]}"; do
	if grep -qE '^:test-result: *(FAIL|ERROR|XPASS)' "$f"; then
		l=${f%.trs}.log
		hr "FAILED: ${l#"$repo"/}"
		if [ -f "$l" ]; then cat "$l"; else echo "(no log)"; fi
	fi
done
if [ ${#STEP_FAILS[@]} -gt 0 ]; then
	hr "failed steps"
	printf '  %s\n' "${STEP_FAILS[@]}"
	echo "  (logs in ${logs#"$repo"/}/)"
fi
if [ ${#LEFT_OUT[@]} -gt 0 ]; then
	echo "left out (PERTOK_SKIP_MISSING=1):"
	printf '  %s\n' "${LEFT_OUT[@]}"
fi
note "total time $(elapsed "$T_START")"
if [ "$ASAN" = 1 ]; then
	echo "sanitizer pass: $apass passed, $afail failed$([ "$askip" -gt 0 ] && echo ", $askip skipped")" \
		"(the same tests again; in the line below only through their worst result)"
fi
if [ -n "$VG_LINE" ]; then
	echo "valgrind pass: $VG_LINE (test programs again under memcheck; each failure also counts below)"
fi
line="$pass passed, $fail failed"
[ "$skip" -gt 0 ] && line="$line, $skip skipped"
echo "$line"
[ "$fail" -eq 0 ]
