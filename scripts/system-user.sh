#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Creates the system user tokend's front process runs as (tokend.front_user,
# default _pertok; tokend(8) "PRIVILEGE SEPARATION"), as the Debian package's
# maintainer script does: no home, no shell, no password. Does nothing when
# the user exists. Must run as root.
#
#   scripts/system-user.sh [NAME]
set -eu

name=${1:-_pertok}
if getent passwd "$name" >/dev/null; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "system-user: the system user $name does not exist and creating it needs root" >&2
	exit 1
fi
if command -v adduser >/dev/null 2>&1; then
	adduser --quiet --system --group --no-create-home --home /nonexistent \
		--gecos "pertok tokend front" "$name"
else
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "pertok tokend front" "$name"
fi
echo "system-user: created the system user $name (tokend's unprivileged front)"
