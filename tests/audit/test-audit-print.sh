#!/bin/sh
# SPDX-License-Identifier: MIT
# pertokctl audit show / audit rpo print what the records carry (reasons,
# rhost, acr, amr: chosen by callers, PAM items and external issuers'
# tokens) without a control byte: a JSON "\u001b" or "\n" in a record must
# neither drive the administrator's terminal nor forge an output line.
# A hand-made log (its hashes do not match: printed with [HASH MISMATCH]).
top_builddir=${top_builddir:-$(pwd)}
ctl=$top_builddir/tools/pertokctl
if [ ! -x "$ctl" ]; then
	echo "Bail out! $ctl is missing (run make first)"
	exit 1
fi
tmp=$(mktemp -d /tmp/pertok-audit-print.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
z=0000000000000000000000000000000000000000000000000000000000000000
log=$tmp/audit.log
{
	printf '{"seq":1,"time":1795689280,"type":"record","prev":"%s","op":"rpo.approve","result":"allow","user":"rp-1ce65b5d","id":"rpo_1ce65b5d0f48c3630b9d","reason":"approved","hash":"%s"}\n' $z $z
	printf '{"seq":2,"time":1795689290,"type":"record","prev":"%s","op":"rpo.deny","result":"deny","user":"rp-1ce65b5d","service":"sshd","acr":"a\\u001b]0;owned\\u0007","amr":"otp","rhost":"h\\u001b[2J","reason":"x\\u001b[8m\\n2026-11-26T00:00:00Z rpo.accept   allow    sshd       forged","hash":"%s"}\n' $z $z
} >"$log"
echo "1..4"
n=0
check() { # DESCRIPTION OUTPUT
	n=$((n + 1))
	if printf '%s' "$2" | LC_ALL=C grep -q "$(printf '\033')"; then
		echo "not ok $n - $1: an ESC byte reaches the terminal"
		printf '%s\n' "$2" | cat -A | sed 's/^/# /'
	else
		echo "ok $n - $1: no ESC byte"
	fi
	n=$((n + 1))
	if printf '%s\n' "$2" | grep -q '^2026-11-26T00:00:00Z rpo.accept'; then
		echo "not ok $n - $1: a reason's newline forged a line"
		printf '%s\n' "$2" | sed 's/^/# /'
	else
		echo "ok $n - $1: one line per record"
	fi
}
out=$(timeout 20 "$ctl" audit rpo rp-1ce65b5d --file "$log" 2>&1)
check "audit rpo" "$out"
out=$(timeout 20 "$ctl" audit show --file "$log" 2>&1)
check "audit show" "$out"
