#!/bin/bash
# TAP: every C source of the tree is formatted as .clang-format says
# (`make format-check`; clang-format -i FILE fixes one).
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
echo "1..1"
if ! command -v clang-format >/dev/null; then
	echo "ok 1 # SKIP clang-format is not installed (Debian package clang-format)"
	exit 0
fi
mapfile -t files < <(cd "$srcdir" && find common pam_pertok nss_pertok tokend tools tests -name '*.[ch]' | sort)
if out=$(cd "$srcdir" && clang-format --dry-run --Werror "${files[@]}" 2>&1); then
	echo "ok 1 - ${#files[@]} C files formatted as .clang-format says"
else
	echo "$out" | grep -E '^[^ ].*(warning|error):' | sed 's/^/# /' | head -20
	echo "not ok 1 - some C files are not formatted (run clang-format -i on them)"
fi
