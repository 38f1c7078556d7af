#!/bin/sh
# SPDX-License-Identifier: MIT
# The documentation says what the code does (checkable parts):
#   - every command that `pertok --help` / `pertokctl --help` lists has an
#     entry in pertok(1) / pertokctl(8);
#   - every --option the man pages of pertok, pertokctl and tokend name is
#     one the program knows (its name is in the binary);
#   - every setting the tokend.conf parser accepts (the key tables of
#     tokend/config*.c and issuers.c) is named in tokend.conf(5);
#   - every pam_pertok option the module parses is in pam_pertok(8);
#   - the SEE ALSO of each page names each other page of the package;
#   - no request macro glued to the end of a text line (".TP" after text:
#     an entry that silently does not exist, groff does not warn).
# Needs the build (tools/, tokend/); touches nothing.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
for b in tools/pertok tools/pertokctl tokend/tokend; do
	if [ ! -x "$top_builddir/$b" ]; then
		echo "Bail out! $top_builddir/$b is missing (run make first)"
		exit 1
	fi
done
man=$top_srcdir/man
n=0
# ok|fail DESCRIPTION [DETAILS]
res() {
	n=$((n + 1))
	if [ -z "$3" ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		printf '%s\n' "$3" | sed 's/^/# /'
	fi
}
# plain PAGE: the page's source, font escapes removed and \- as -
plain() { sed 's/\\f[BIRP]//g; s/\\-/-/g; s/"//g' "$1"; }

echo "1..13"

# The command words of a --help (up to the first argument or option);
# "a b|c" gives "a b" and "a c".
help_commands() {
	"$top_builddir/tools/$1" --help | sed -n '/^Commands:/,/^$/p' |
		awk '/^  [a-z]/ {
			line = substr($0, 3); sub(/  .*/, "", line); nf = split(line, f, " ")
			w = f[1]; i = 2
			while (i <= nf && f[i] ~ /^[a-z][a-z|-]*$/) { w = w " " f[i]; i++ }
			n = split(w, parts, " ")
			last = parts[n]; head = ""
			for (j = 1; j < n; j++) head = head parts[j] " "
			m = split(last, alt, "|")
			for (j = 1; j <= m; j++) print head alt[j]
		}' | sort -u
}
for pair in pertok:pertok.1 pertokctl:pertokctl.8.in; do
	tool=${pair%%:*}
	page=$man/${pair#*:}
	missing=""
	# an entry: a .B/.BI/.TP line whose text starts with the command
	heads=$(plain "$page" | grep -E '^\.(B|BI|BR) ' | sed -E 's/^\.(B|BI|BR) //; s/^pertok(ctl)? //')
	for c in $(help_commands "$tool" | tr ' ' '_'); do
		c=$(echo "$c" | tr '_' ' ')
		printf '%s\n' "$heads" | grep -q "^$c\( \|$\)" || missing="$missing
$tool --help lists \"$c\", ${pair#*:} has no entry for it"
	done
	res ok "every command of $tool --help has an entry in ${pair#*:}" "${missing#?}"
done

# The reverse: a "pertok WORD [WORD2]" the page shows as a command line is
# in --help ("grant --request" also as "grant --request|--sign")
for pair in pertok:pertok.1 pertokctl:pertokctl.8.in; do
	tool=${pair%%:*}
	help=$("$top_builddir/tools/$tool" --help)
	help="$help
$(help_commands "$tool" | sed 's/^/  /')"
	missing=""
	for c in $(plain "$man/${pair#*:}" | sed -n "s/^\.B $tool \([a-z-]*\( [a-z-]*\)\{0,1\}\).*/\1/p" | sort -u | tr ' ' '_'); do
		c=$(echo "$c" | tr '_' ' ')
		printf '%s\n' "$help" | grep -qF -- "  $c" || missing="$missing
${pair#*:} shows \"$tool $c\", $tool --help does not list it"
	done
	res ok "every command line ${pair#*:} shows is in $tool --help" "${missing#?}"
done

# README's Tools list names every command of each tool's --help
missing=""
for tool in pertok pertokctl; do
	for c in $(help_commands "$tool" | tr ' ' '_'); do
		c=$(echo "$c" | tr '_' ' ')
		grep -qE -- "^    $tool $c( |\\||$)|^    $tool ${c%% *} [a-z|-]*\\|${c#* }" "$top_srcdir/README" ||
			missing="$missing
README's Tools list has no \"$tool $c\""
	done
done
res ok "README's Tools list names every command of pertok and pertokctl --help" "${missing#?}"

# Options of other programs the pages mention on purpose
foreign='--token-command --list-catalog --update-catalog'
for pair in tools/pertok:pertok.1 tools/pertokctl:pertokctl.8.in tokend/tokend:tokend.8; do
	bin=$top_builddir/${pair%%:*}
	page=${pair#*:}
	missing=""
	for o in $(plain "$man/$page" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
		case " $foreign " in *" $o "*) continue ;; esac
		LC_ALL=C grep -aqF -- "${o#--}" "$bin" || missing="$missing
$page names $o, ${pair%%:*} does not know it"
	done
	prog=${pair%%:*}
	res ok "every option $page names is one ${prog##*/} knows" "${missing#?}"
done

# tokend.conf: the key tables of the parser
keys=$(for f in "$top_srcdir"/tokend/config.c "$top_srcdir"/tokend/config-*.c "$top_srcdir"/tokend/issuers.c; do
	awk '/(keys|_keys)(\[[A-Z_]*\])? = \{/ { on = 1 }
		on { s = $0; while (match(s, /"[a-z_0-9]+"/)) { print substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH) } }
		on && /};/ { on = 0 }' "$f"
done | sort -u)
missing=""
count=0
for k in $keys; do
	count=$((count + 1))
	plain "$man/tokend.conf.5" | grep -qw -- "$k" || missing="$missing
tokend.conf accepts \"$k\", tokend.conf(5) does not name it"
done
[ "$count" -ge 50 ] || missing="only $count settings found in tokend/config*.c: the key tables moved?"
res ok "every setting the tokend.conf parser accepts ($count) is in tokend.conf(5)" "${missing#?}"

# pam_pertok options: opt_value(arg, "x") is x=, strcmp(arg, "x") is x
opts=$(sed -n 's/.*opt_value(arg, "\([a-z_]*\)").*/\1=/p; s/.*strcmp(arg, "\([a-z_]*\)").*/\1/p' \
	"$top_srcdir/pam_pertok/args.c" | sort -u)
missing=""
for o in $opts; do
	plain "$man/pam_pertok.8" | grep -qE -- "(^| )$o" || missing="$missing
pam_pertok.so parses $o, pam_pertok(8) does not name it"
done
[ -n "$opts" ] || missing="no option found in pam_pertok/args.c"
res ok "every option pam_pertok.so parses is in pam_pertok(8)" "${missing#?}"

# SEE ALSO: every other page of the package
pages="pertok(1) pertokctl(8) tokend(8) tokend.conf(5) pam_pertok(8) libnss_pertok(8) pertok-rpo(7)"
missing=""
for f in pertok.1 pertokctl.8.in tokend.8 tokend.conf.5 pam_pertok.8 libnss_pertok.8 pertok-rpo.7; do
	self=$(echo "$f" | sed 's/\.in$//; s/\.\([0-9]\)$/(\1)/')
	see=$(plain "$man/$f" | sed -n '/^\.SH SEE ALSO/,/^\.SH/p' | sed -n 's/^\.BR \([a-z_.-]*\) (\([0-9]\)).*/\1(\2)/p')
	for p in $pages; do
		[ "$p" = "$self" ] && continue
		printf '%s\n' "$see" | grep -qxF "$p" || missing="$missing
$f: SEE ALSO lacks $p"
	done
done
res ok "the SEE ALSO of each page names the package's other pages" "${missing#?}"

# The commented examples of data/tokend.conf ("#   name = (" ... "#   );"),
# each uncommented after the file, pass tokend --check-config; not seal
# (it replaces the active one), rpo (checks the host's subuid, login.defs,
# ...) and issuers (needs its JWKS file)
tmp=$(mktemp -d /tmp/pertok-docs-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
conf=$top_srcdir/data/tokend.conf
awk -v d="$tmp" '/^#   [a-z_]+ *(=|:)/ { on = 1; n++ }
	on { l = $0; sub(/^#/, "", l); print l > (d "/example" n) }
	on && /^#   [)}];/ { on = 0 }' "$conf"
bad=""
count=0
for b in "$tmp"/example*; do
	[ -f "$b" ] || continue
	name=$(sed -n '1s/^ *\([a-z_]*\).*/\1/p' "$b")
	case $name in seal | rpo | issuers) continue ;; esac
	count=$((count + 1))
	cat "$conf" "$b" >"$tmp/t.conf"
	out=$(timeout 20 "$top_builddir/tokend/tokend" --check-config -c "$tmp/t.conf" 2>&1) ||
		bad="$bad
the example \"$name\" of data/tokend.conf: $out"
done
[ "$count" -ge 2 ] || bad="only $count commented examples found in data/tokend.conf"
res ok "the commented examples of data/tokend.conf ($count) pass tokend --check-config" "${bad#?}"

# A macro glued to the end of a text line
glued=$(grep -nE '[^ \\]\.(TP|PP|SH|SS|IP|RS|RE|EX|EE)$' "$man"/*.[1578] "$man"/*.in)
res ok "no request macro glued to the end of a text line" "$glued"
