/* SPDX-License-Identifier: MIT */
/* A credential peer's cgroup against the one systemd gave the unit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Whether text (len bytes of /proc/PID/cgroup) has the systemd hierarchy's
 * line ("0::PATH" on the unified hierarchy, "N:name=systemd:PATH" on v1)
 * with PATH exactly want (the unit's ControlGroup property). */
bool pt_cred_cgroup_is(const char *text, size_t len, const char *want);
