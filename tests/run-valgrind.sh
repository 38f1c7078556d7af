#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tests/run-valgrind.sh BUILDDIR — every C test program of `make check` under
# valgrind's memcheck (definite leaks and memory errors fail), with the
# private tokends the daemon tests start also under memcheck
# (TOKEND_VALGRIND=1, tests/lib/tokend-harness.c). Needs a built tree
# (make check builds the test programs first). Programs whose own executable
# is a configured actor of the tokend they start (the daemon, policy, audit,
# types and PAM tests: tokend identifies its callers by /proc/PID/exe, which
# under valgrind is valgrind's) run natively, their tokend under memcheck.
# Prints one line per program and ends with "N passed, N failed"; exit
# status 1 on any failure.
set -u
build=$(cd "${1:-build}" && pwd) || exit 2
src=$(cd "$(dirname "$0")/.." && pwd)
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
	--show-leak-kinds=definite --track-fds=no)
export CMOCKA_MESSAGE_OUTPUT=TAP top_srcdir=$src top_builddir=$build TOKEND_VALGRIND=1
pass=0 fail=0
logs=$build/valgrind-logs
mkdir -p "$logs"
# the C test programs make check runs (not its shell scripts)
progs=$(make -s -C "$build" -f Makefile -f - print-tests <<<'print-tests: ; @echo $(check_PROGRAMS)' |
	tr ' ' '\n' | grep '^tests/' | grep -v '/bench/\|/fuzz/\|/tpm/tpm-client\|/nss/nss-tool')
cd "$build" || exit 2
for p in $progs; do
	[ -x "$p" ] || continue
	cmd=("./$p")
	case $p in
	tests/pam/test-pam)
		# pam_pertok.so inside test-pam under memcheck; the script sets up
		# pam_wrapper and its tokend (PERTOK_TEST_VALGRIND=1)
		cmd=(env PERTOK_TEST_VALGRIND=1 sh "$src/tests/pam/test-pam.sh")
		;;
	tests/pam/test-recovery)
		# the same set-up, running test-recovery
		cmd=(env PERTOK_TEST_VALGRIND=1 sh "$src/tests/pam/test-recovery.sh")
		;;
	*.so)
		continue # a preloaded test helper (fault injection), not a program
		;;
	tests/tpm/*)
		echo "skip $p: needs the swtpm instances tests/tpm/test-tpm.sh starts"
		continue
		;;
	esac
	log=$logs/$(echo "$p" | tr / _).log
	vg=("$build/libtool" --mode=execute "${VG[@]}")
	if [ "${cmd[0]}" != "./$p" ] ||
		grep -qE 'tokend-harness\.h|TOKEND_VALGRIND' "$src/$p.c" 2>/dev/null; then
		vg=() # an actor itself: only its tokend runs under memcheck
	fi
	timeout 900 "${vg[@]}" "${cmd[@]}" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "ok   $p"
	else
		fail=$((fail + 1))
		echo "FAIL $p (exit $rc; $log)"
		grep -E '^==[0-9]+==|not ok' "$log" | head -20 | sed 's/^/  | /'
	fi
done
echo "valgrind: $pass passed, $fail failed"
[ $fail -eq 0 ]
