#!/bin/bash
# SPDX-License-Identifier: MIT
#
# TAP: the journal message catalog data/catalog/pertok.catalog against the
# MESSAGE_IDs tokend sends (tokend/log.h), and against journalctl itself:
# `journalctl --root=DIR --update-catalog` indexes it in a private root (no
# systemd needed; nothing outside DIR is written), then --list-catalog and
# --dump-catalog show our entries.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
CATALOG=$top_srcdir/data/catalog/pertok.catalog
HDR=$top_srcdir/tokend/log.h

if ! command -v journalctl >/dev/null 2>&1; then
	echo "1..0 # SKIP journalctl not installed (Debian: systemd; scripts/install-deps.sh)"
	exit 0
fi

echo "1..5"
. "$top_srcdir/tests/lib/tap.sh"

D=$(mktemp -d "${TMPDIR:-/tmp}/pertok-catalog.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT

sed -n 's/^#define PT_MID_[A-Z_]* "\([0-9a-f]*\)"$/\1/p' "$HDR" | sort >"$D/ids"
sed -n 's/^-- \([0-9a-f]*\)$/\1/p' "$CATALOG" | sort >"$D/cat"
rc=0
[ "$(wc -l <"$D/ids")" -ge 10 ] || rc=1
diff "$D/ids" "$D/cat" | diag
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
[ -z "$(uniq -d "$D/ids")" ] || rc=1
ok $rc "each of the $(wc -l <"$D/ids") MESSAGE_IDs in tokend/log.h has one catalog entry, and no other"

rc=0
awk '/^-- /{ if (id != "" && (!s || !d || !u)) { print id; bad = 1 } id = $2; s = d = u = 0 }
	/^Subject: ./{ s = 1 } /^Defined-By: pertok$/{ d = 1 } /^Support: man:tokend\(8\)$/{ u = 1 }
	END { if (id != "" && (!s || !d || !u)) { print id; bad = 1 } exit bad }' "$CATALOG" | diag
rc=${PIPESTATUS[0]}
ok $rc "every entry has a Subject, Defined-By: pertok and Support: man:tokend(8)"

mkdir -p "$D/root/usr/lib/systemd/catalog"
cp "$CATALOG" "$D/root/usr/lib/systemd/catalog/pertok.catalog"
timeout 30 journalctl --root="$D/root" --update-catalog >"$D/update.log" 2>&1
rc=$?
diag <"$D/update.log"
[ -s "$D/root/var/lib/systemd/catalog/database" ] || rc=1
# journalctl warns about entries it cannot parse, and still exits 0
grep -qi 'failed\|invalid\|error' "$D/update.log" && rc=1
ok $rc "journalctl --root=DIR --update-catalog indexes it without a complaint"

timeout 30 journalctl --root="$D/root" --list-catalog 2>&1 | sed -n 's/^\([0-9a-f]\{32\}\) pertok: .*/\1/p' |
	sort >"$D/listed"
diff "$D/ids" "$D/listed" | diag
ok "${PIPESTATUS[0]}" "journalctl --list-catalog lists every id as defined by pertok"

id=$(sed -n 's/^#define PT_MID_REDEEM_DENY "\([0-9a-f]*\)"$/\1/p' "$HDR")
timeout 30 journalctl --root="$D/root" --dump-catalog "$id" >"$D/dump" 2>&1
rc=$?
grep -q '^Subject: a job of @PERTOK_USER@ was refused' "$D/dump" || rc=1
[ $rc -eq 0 ] || diag <"$D/dump"
ok $rc "journalctl --dump-catalog $id (redeem deny) shows its text"
