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
# VALGRIND_JOBS (default 2): programs run at a time.
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
# One program under memcheck: its verdict line(s) on stdout.
run_one() {
	local p=$1 cmd vg log rc
	[ -x "$p" ] || return 0
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
		return 0 # a preloaded test helper (fault injection), not a program
		;;
	tests/tpm/*)
		echo "skip $p: needs the swtpm instances tests/tpm/test-tpm.sh starts"
		return 0
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
		echo "ok   $p"
	else
		echo "FAIL $p (exit $rc; $log)"
		grep -E '^==[0-9]+==|not ok' "$log" | head -20 | sed 's/^/  | /'
	fi
}

# VALGRIND_JOBS programs at a time (default 2, as make -j2 check runs them);
# the verdicts in the order of the list.
lanes=${VALGRIND_JOBS:-2}
i=0
for p in $progs; do
	while [ "$(jobs -rp | wc -l)" -ge "$lanes" ]; do
		wait -n
	done
	run_one "$p" >"$logs/.verdict.$i" 2>&1 &
	i=$((i + 1))
done
wait
for ((k = 0; k < i; k++)); do
	v=$logs/.verdict.$k
	[ -s "$v" ] || { rm -f "$v"; continue; }
	cat "$v"
	if head -n 1 "$v" | grep -q '^ok '; then
		pass=$((pass + 1))
	elif head -n 1 "$v" | grep -q '^FAIL '; then
		fail=$((fail + 1))
	fi
	rm -f "$v"
done
echo "valgrind: $pass passed, $fail failed"
[ $fail -eq 0 ]
