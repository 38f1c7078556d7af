#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP test: replays every saved fuzz corpus (tests/fuzz/corpus/NAME/) through
# its harness linked with the plain driver (tests/fuzz/replay-NAME), so that
# inputs the fuzzers once found keep being checked by `make check`.
# Uses $top_srcdir and $top_builddir (exported by the test harness); without
# them, the source tree is found from this script and the build tree is ".".
set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$(pwd)}
names="proto jws config record auditlog tpm2blob history coderec journal privsep live nsscache logline nssconf credaddr grant template act sshsig authkeys grantreq extjwt jwks usage"
n=0

echo "1..$(echo $names | wc -w)"
for name in $names; do
	n=$((n + 1))
	bin=$builddir/tests/fuzz/replay-$name
	corpus=$srcdir/tests/fuzz/corpus/$name
	if [ ! -x "$bin" ]; then
		echo "not ok $n - replay $name (harness not built: $bin)"
		continue
	fi
	if [ ! -d "$corpus" ]; then
		echo "not ok $n - replay $name (no corpus: $corpus)"
		continue
	fi
	files=$(find "$corpus" -maxdepth 1 -type f ! -name '.*' | wc -l)
	if [ "$files" -eq 0 ]; then
		echo "not ok $n - replay $name (empty corpus: $corpus)"
		continue
	fi
	out=$("$bin" "$corpus" 2>&1)
	rc=$?
	k=$(printf '%s\n' "$out" | sed -n 's/^replayed \([0-9][0-9]*\) inputs$/\1/p' | tail -n 1)
	if [ "$rc" -eq 0 ] && [ "${k:-0}" -eq "$files" ]; then
		echo "ok $n - replay $name ($k inputs)"
	else
		echo "not ok $n - replay $name (exit status $rc, ${k:-?} of $files inputs)"
		printf '%s\n' "$out" | tail -n 30 | sed 's/^/# /'
		echo "# rerun: $bin -v $corpus"
	fi
done
# The TAP lines carry the verdict; a non-zero status would only add an ERROR.
exit 0
