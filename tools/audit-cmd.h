/* SPDX-License-Identifier: MIT */
/* pertokctl audit verify | show (see pertokctl(8)). */
#pragma once

#include "toolutil.h"

/* argv[0] = "audit". Returns an exit code. */
int pertokctl_audit(int argc, char **argv, struct tool_conn *conn);
