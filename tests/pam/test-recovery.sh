#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_pertok's recovery mode (tests/pam/test-recovery.c) with test-pam.sh's
# tokend, PAM services and pam_wrapper set-up.
PERTOK_PAM_TEST=test-recovery
export PERTOK_PAM_TEST
exec sh "$(dirname "$0")/test-pam.sh"
