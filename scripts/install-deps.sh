#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Installs every Debian 12 package that building pertok, its tests and the
# demo need, and creates the system user of tokend's front process
# (scripts/system-user.sh), as the Debian package would. Must run as root. Set PERTOK_NO_APT=1 to skip apt entirely
# (for instance on a machine prepared by hand or without a mirror): then a
# missing package is an error (exit 3) unless PERTOK_SKIP_MISSING=1 says the
# tests that need it may be left out.
#
#   scripts/install-deps.sh            # apt-get update + install
#   PERTOK_NO_APT=1 scripts/install-deps.sh   # only check; exit 3 if any is missing
#   scripts/install-deps.sh --list-missing    # print the missing ones, one a line
set -euo pipefail

packages=(
	# build
	autoconf automake libtool pkg-config make gcc
	libpam0g-dev libssl-dev libconfig-dev libkeyutils-dev libaudit-dev libjson-c-dev libtss2-dev
	# the front process's system-call filter (tokend(8))
	libseccomp-dev
	# tokend's journal entries (sd_journal_sendv; tokend(8), LOGGING)
	libsystemd-dev
	# the token store (tokend/store.c)
	liblmdb-dev
	# libFuzzer smoke (clang -fsanitize=fuzzer needs the compiler-rt runtime)
	clang libclang-rt-14-dev clang-format
	# unit and PAM module tests (cmocka, cwrap)
	libcmocka-dev libpam-wrapper libpamtest0-dev libnss-wrapper libuid-wrapper
	# TPM tests (software TPM)
	swtpm swtpm-tools tpm2-tools
	# system tests and demo: the real at and cron daemons in a private mount namespace
	at cron pamtester keyutils util-linux mount passwd procps coreutils openssl
	libpam-modules libpam-runtime
	# SSH-signed consent: the real ssh-keygen signs grant requests (tests/unit/test-sshsig)
	openssh-client
	# independent JWT verification (Debian's /usr/bin/python3)
	python3 python3-jwt python3-cryptography
	# memory checks
	valgrind
	# socket-activation test (systemd-socket-activate; systemd need not run)
	systemd
	# tokend asks systemd for a unit's User= (sd-bus, tokend/credential.c)
	libsystemd-dev
	# tests/system/test-systemd.sh: the host's own tree booted under
	# systemd-nspawn --volatile=yes (systemd as PID 1, dbus, logind for
	# lingering users, the PAM module that starts user managers)
	systemd-container dbus libpam-systemd
	# tests that move the clock of one process (faketime, libfaketime)
	faketime libfaketime
	# the Debian packages (debian/, tests/system/test-deb.sh): dh sequencer,
	# dh_installnss (dh-nss), lintian
	debhelper dh-nss dpkg-dev lintian
)

missing() {
	local p st
	for p in "${packages[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$st" = "install ok installed" ] || printf '%s\n' "$p"
	done
}

if [ "${1:-}" = --list-missing ]; then
	missing
	exit 0
fi

if [ "${PERTOK_NO_APT:-0}" = 1 ]; then
	m=$(missing | tr '\n' ' ')
	if [ -n "$m" ]; then
		if [ "${PERTOK_SKIP_MISSING:-0}" = 1 ]; then
			echo "install-deps: PERTOK_NO_APT=1, not installing; missing: $m" \
				"(PERTOK_SKIP_MISSING=1: the tests that need them are left out)" >&2
			exit 0
		fi
		echo "install-deps: PERTOK_NO_APT=1, not installing; missing: $m" >&2
		echo "install-deps: install them, or set PERTOK_SKIP_MISSING=1 to leave out" \
			"the tests that need them" >&2
		exit 3
	else
		echo "install-deps: PERTOK_NO_APT=1, skipping apt (all ${#packages[@]} packages present)"
	fi
	if [ "$(id -u)" -eq 0 ]; then
		"$(dirname "$0")/system-user.sh"
	fi
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get install); run it with sudo," \
		"or set PERTOK_NO_APT=1 to skip installing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: apt-get update"
timeout 600 apt-get update -q </dev/null
echo "install-deps: apt-get install ${#packages[@]} packages"
timeout 1200 apt-get install -y -q --no-install-recommends --no-upgrade "${packages[@]}" </dev/null
m=$(missing | tr '\n' ' ')
if [ -n "$m" ]; then
	echo "install-deps: still missing after apt-get install: $m" >&2
	exit 1
fi
echo "install-deps: all ${#packages[@]} packages installed"
"$(dirname "$0")/system-user.sh"
