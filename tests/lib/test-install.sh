#!/bin/sh
# SPDX-License-Identifier: MIT
# `make install` twice into a DESTDIR, with an edit of tokend.conf in between:
# the edited file stays, the reference policy arrives as tokend.conf.dist.
# Also: the installed pertokctl(8) names the build's sbindir, not a
# hard-coded /usr/sbin.
top_builddir=${top_builddir:-$(pwd)}
tmp=$(mktemp -d /tmp/pertok-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# mkvar VAR: a variable of the build's Makefile, fully expanded
mkvar() {
	printf 'pt-print:\n\t@echo $(%s)\n' "$1" |
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top_builddir" -f Makefile -f - pt-print 2>/dev/null
}
confdir=$(mkvar pertokconfdir)
sbindir=$(mkvar sbindir)
mandir=$(mkvar man8dir)
conf=$tmp$confdir/tokend.conf
echo "1..4"
inst() { timeout 300 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" install DESTDIR="$tmp" >"$tmp/install-$1.log" 2>&1; }
if inst 1 && [ -f "$conf" ] && [ ! -e "$conf.dist" ]; then
	echo "ok 1 - the first install puts the reference policy in place"
else
	echo "not ok 1 - the first install puts the reference policy in place"
	tail -n 5 "$tmp/install-1.log" | sed 's/^/# /'
fi
echo "# edited by the admin" >>"$conf"
if inst 2 && tail -n 1 "$conf" | grep -q '^# edited by the admin$'; then
	echo "ok 2 - a second install keeps the edited tokend.conf"
else
	echo "not ok 2 - a second install keeps the edited tokend.conf"
	tail -n 5 "$tmp/install-2.log" | sed 's/^/# /'
fi
if [ -f "$conf.dist" ] && cmp -s "$conf.dist" "${top_srcdir:-..}/data/tokend.conf"; then
	echo "ok 3 - and puts the reference policy beside it as tokend.conf.dist"
else
	echo "not ok 3 - and puts the reference policy beside it as tokend.conf.dist"
fi
page=$tmp$mandir/pertokctl.8
if [ -f "$page" ] && grep -qF "$sbindir/tokend" "$page" && ! grep -q '@sbindir@' "$page"; then
	echo "ok 4 - pertokctl(8) names $sbindir/tokend"
else
	echo "not ok 4 - pertokctl(8) names $sbindir/tokend"
fi
