#!/bin/sh
# SPDX-License-Identifier: MIT
# Every man page formats without a groff warning (groff -ww -man -z) and no
# source holds a raw form feed (a "\f" font escape that lost its backslash).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
n=0
pages=$(ls "$top_srcdir"/man/*.[1578] "$top_srcdir"/man/*.[1578].in "$top_builddir"/man/*.[1578] 2>/dev/null | sort -u)
echo "1..$(($(echo "$pages" | wc -l) * 2))"
for p in $pages; do
	name=${p#"$top_srcdir"/}
	name=${name#"$top_builddir"/}
	n=$((n + 1))
	if command -v groff >/dev/null; then
		w=$(groff -ww -man -z "$p" 2>&1)
		if [ -z "$w" ]; then
			echo "ok $n - $name: groff -ww -man -z is silent"
		else
			echo "not ok $n - $name: groff -ww -man -z warns"
			echo "$w" | sed 's/^/# /'
		fi
	else
		echo "ok $n # SKIP groff not installed"
	fi
	n=$((n + 1))
	if LC_ALL=C grep -n "$(printf '\014')" "$p" >/dev/null; then
		echo "not ok $n - $name: raw form feed byte(s)"
		LC_ALL=C grep -n "$(printf '\014')" "$p" | cat -A | sed 's/^/# /'
	else
		echo "ok $n - $name: no raw form feed"
	fi
done
