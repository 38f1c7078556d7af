#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The bash completion of pertok and pertokctl (data/bash-completion/):
# sourced into a plain bash (no bash-completion package needed), the
# completion functions are asked for a few prefixes as bash would ask them
# (COMP_WORDS, COMP_CWORD) and their answers compared with what the tools
# take. Needs bash only; touches nothing.
set -u
srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
dir=$srcdir/data/bash-completion

if ! command -v bash >/dev/null; then
	echo "1..0 # SKIP no bash"
	exit 0
fi

# Each case: the program, the words (the last is the one being completed,
# '' for an empty one) | the completions expected, in compgen's order.
cases='pertok|token list status revoke persist delegate grant grants act-as
pertok d|delegate
pertokctl de|delegate
pertok grant r|revoke request requests
pertok grant svc --ex|--expires --exe
pertok grant --si|--sign --signed-request --signature
pertok grant c|credential
pertok grant approve gq_x --s|--socket
pertok grant svc --o|--output
pertokctl explain a|act-as
pertokctl explain act-as alice --s|--servicer --socket
pertokctl grants --|--user --servicer --socket --timeout --help --version
pertok st|status
pertok list --j|--json
pertok --socket /run/x s|status
pertok persist --h|--holder --help
pertok act-as root --g|--grant --grant-credential
pertokctl ex|explain
pertokctl r|revoke rotate-key reseal rpo recommend
pertokctl -s /x -t 100 st|status
pertokctl explain --i|--issue
pertokctl explain --a|--at --actor
pertokctl status --|--json --socket --timeout --help --version
pertokctl code |issue check
pertokctl audit s|show
pertokctl audit r|rpo
pertokctl t|template
pertokctl template |import show
pertokctl rpo a|approve
pertokctl rpo approve --n|--not-after
pertokctl audit show --s|--since --socket
pertokctl explain --user root|root
pertokctl check-config --j|
pertokctl rec|recommend
pertokctl recommend --w|--write
pertokctl recommend --r|--revert
pertok token u|used
pertok token used --g|--group'

# The commands each tool's --help lists, all of them completed from nothing
# (so that a new command cannot be forgotten here)
top_builddir=${top_builddir:-$(pwd)}
for tool in pertok pertokctl; do
	if [ ! -x "$top_builddir/tools/$tool" ]; then
		echo "Bail out! $top_builddir/tools/$tool is missing (run make first)"
		exit 1
	fi
	all=$("$top_builddir/tools/$tool" --help | sed -n '/^Commands:/,/^$/p' |
		awk '/^  [a-z]/ { print $1 }' | sort -u | tr '\n' ' ' | sed 's/ $//')
	cases="$cases
$tool (sorted)|$all"
done

n=$(printf '%s\n' "$cases" | wc -l)
echo "1..$((n + 1))"

# shellcheck disable=SC2016 # expanded by the inner bash
out=$(printf '%s\n' "$cases" | timeout 20 bash --norc --noprofile -c '
	. "$1/pertok" || exit 1
	. "$1/pertokctl" || exit 1
	# both functions registered for their commands
	complete -p pertok pertokctl | tr "\n" " "
	echo
	while IFS="|" read -r words want; do
		sorted=
		case $words in *" (sorted)") words=${words% (sorted)} sorted=1 ;; esac
		read -r -a COMP_WORDS <<<"$words"
		case $words in *" ") COMP_WORDS+=("") ;; esac
		[ ${#COMP_WORDS[@]} -eq 1 ] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMPREPLY=()
		if [ "${COMP_WORDS[0]}" = pertok ]; then _pertok; else _pertokctl; fi
		if [ -n "$sorted" ]; then
			printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ \$//"
			echo
		else
			echo "${COMPREPLY[*]}"
		fi
	done
' sh "$dir" 2>&1)
rc=$?

first=$(printf '%s\n' "$out" | head -n 1)
case $first in
*"-F _pertok pertok"*"-F _pertokctl pertokctl"*) echo "ok 1 - both files source and register their completions" ;;
*)
	echo "not ok 1 - sourcing the completion files (bash exited $rc)"
	printf '%s\n' "$out" | sed 's/^/# /'
	;;
esac

i=1
printf '%s\n' "$out" | tail -n +2 >"${TMPDIR:-/tmp}/pertok-completion.$$"
while IFS='|' read -r words want; do
	i=$((i + 1))
	got=$(sed -n "$((i - 1))p" "${TMPDIR:-/tmp}/pertok-completion.$$")
	# compgen -u order is the passwd file's: compare the root case by membership
	if [ "$got" = "$want" ] || { [ "$want" = root ] && printf ' %s ' "$got" | grep -q ' root '; }; then
		echo "ok $i - '$words' completes to '$want'"
	else
		echo "not ok $i - '$words' completes to '$got', expected '$want'"
	fi
done <<EOF
$cases
EOF
rm -f "${TMPDIR:-/tmp}/pertok-completion.$$"
