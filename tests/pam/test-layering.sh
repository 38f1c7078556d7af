#!/bin/sh
# SPDX-License-Identifier: MIT
# What the modules carry, read from the built objects with nm(1):
#  - pam_pertok.so (loaded into sshd, login, cron...) and the two libraries
#    it links whole (libptclient, libptformat) define none of the server
#    side of the protocol (request decoder, reply encoder, write loop);
#  - libptformat (what the NSS module may link) references no socket call,
#    no OpenSSL, no json-c, no logging and holds no writable global data;
#  - pam_pertok.so needs neither libcrypto nor json-c (objdump -p).
# Skips, saying why, only when nm is missing.
top_builddir=${top_builddir:-$(pwd)}
module=$top_builddir/pam_pertok/.libs/pam_pertok.so
format=$top_builddir/.libs/libptformat.a
client=$top_builddir/.libs/libptclient.a
server=$top_builddir/.libs/libptserver.a

if ! command -v nm >/dev/null 2>&1; then
	echo "1..0 # SKIP nm not found (binutils): cannot read the built objects' symbols"
	exit 0
fi
for f in "$module" "$format" "$client" "$server"; do
	if [ ! -f "$f" ]; then
		echo "1..0 # SKIP $f not built (run make first)"
		exit 0
	fi
done

server_side='pt_req_decode|pt_rep_encode|pt_rep_encode_error|pt_write_all'
sockets='socket|socketpair|connect|bind|listen|accept|accept4|send|sendto|sendmsg|recv|recvfrom|recvmsg|getsockopt|setsockopt|shutdown|getpeername|poll|ppoll|select'
crypto='(EVP|OPENSSL|CRYPTO|BIO|ERR|RAND|PEM|SHA[0-9]*|HMAC|d2i|i2d|OSSL)_.*|json_.*'
logging='syslog|vsyslog|openlog|__syslog_chk|__vsyslog_chk|sd_journal_.*|printf|fprintf|vfprintf|dprintf|__printf_chk|__fprintf_chk|__vfprintf_chk|__dprintf_chk|perror|puts|fputs|fwrite|stderr|stdout'

n=0
failed=0
tap() { # tap OK|FAIL description [details...]
	n=$((n + 1))
	res=$1
	desc=$2
	shift 2
	if [ "$res" = OK ]; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		failed=1
		for d in "$@"; do
			printf '%s\n' "$d" | sed 's/^/# /'
		done
	fi
}
# symbols (3rd nm field) of the given kind matching the pattern, one a line
defined() { nm --defined-only "$@" 2>/dev/null | awk 'NF >= 3 { print $3 }' | sort -u; }
undefined() { nm -u "$@" 2>/dev/null | awk '$1 == "U" { print $2 }' | sed 's/@.*//' | sort -u; }
match() { grep -Ex "$1" || true; }

echo "1..8"

# 1. the check can see what it looks for: the server library defines it
hits=$(defined "$server" | match "$server_side")
if [ "$(printf '%s\n' "$hits" | grep -c .)" -eq 4 ]; then
	tap OK "libptserver defines the server side (nm sees: $(echo $hits))"
else
	tap FAIL "libptserver defines the server side" "nm found only: $hits"
fi

# 2. the built module (its full symbol table, locals included)
syms=$(defined "$module")
if [ -z "$syms" ]; then
	syms=$(nm -D --defined-only "$module" 2>/dev/null | awk 'NF >= 3 { print $3 }')
	note=" (stripped: .dynsym only; test 3 reads its libraries)"
else
	note=""
fi
hits=$(printf '%s\n' "$syms" | match "$server_side")
if [ -z "$hits" ] && printf '%s\n' "$syms" | grep -qx pam_sm_open_session; then
	tap OK "pam_pertok.so defines no server-side protocol symbol$note"
else
	tap FAIL "pam_pertok.so defines no server-side protocol symbol" \
		"server side in pam_pertok.so: ${hits:-(none; but pam_sm_open_session not seen)}"
fi

# 3. the libraries pam_pertok links whole
hits=$(defined "$client" "$format" | match "$server_side")
if [ -z "$hits" ]; then
	tap OK "libptclient and libptformat define no server-side protocol symbol"
else
	tap FAIL "libptclient and libptformat define no server-side protocol symbol" "found: $hits"
fi

# 4-6. libptformat: no sockets, no OpenSSL/json-c, no logging
und=$(undefined "$format")
hits=$(printf '%s\n' "$und" | match "$sockets")
if [ -z "$hits" ]; then
	tap OK "libptformat references no socket call"
else
	tap FAIL "libptformat references no socket call" "referenced: $hits"
fi
hits=$(printf '%s\n' "$und" | match "$crypto")
if [ -z "$hits" ]; then
	tap OK "libptformat references no OpenSSL or json-c symbol"
else
	tap FAIL "libptformat references no OpenSSL or json-c symbol" "referenced: $hits"
fi
hits=$(printf '%s\n' "$und" | match "$logging")
if [ -z "$hits" ]; then
	tap OK "libptformat references no logging or stdio output"
else
	tap FAIL "libptformat references no logging or stdio output" "referenced: $hits"
fi

# 7. libptformat: no global state (no writable data, initialised or not,
# thread-local included). objdump names the section, so that constant tables
# of pointers (.data.rel.ro, which nm calls "d") are not taken for state.
if command -v objdump >/dev/null 2>&1; then
	hits=$(objdump -t "$format" 2>/dev/null | awk '{
		for (i = 1; i < NF; i++)
			if ($i ~ /^(\.(data|bss|tdata|tbss)|\*COM\*)/ && $i !~ /^\.data\.rel\.ro/ &&
			    $NF != $i && $(i + 1) ~ /^[0-9a-f]+$/ && $(i + 1) !~ /^0+$/)
				print $i, $NF
	}')
else
	hits=$(nm --defined-only "$format" 2>/dev/null |
		awk 'NF >= 3 && $2 ~ /^[BbDdCGgSsVv]$/ { print $2, $3 }')
fi
if [ -z "$hits" ]; then
	tap OK "libptformat holds no writable global or static data"
else
	tap FAIL "libptformat holds no writable global or static data" "$hits"
fi

# 8. the module does not pull in OpenSSL or json-c
if command -v objdump >/dev/null 2>&1; then
	needed=$(objdump -p "$module" 2>/dev/null | awk '$1 == "NEEDED" { print $2 }')
	hits=$(printf '%s\n' "$needed" | grep -E '^lib(crypto|ssl|json-c)\.' || true)
	if [ -n "$needed" ] && [ -z "$hits" ]; then
		tap OK "pam_pertok.so needs neither libcrypto nor json-c (NEEDED: $(echo $needed))"
	else
		tap FAIL "pam_pertok.so needs neither libcrypto nor json-c" "NEEDED: $needed"
	fi
else
	n=$((n + 1))
	echo "ok $n # SKIP objdump not found: pam_pertok.so's NEEDED entries not read"
fi

exit $failed
