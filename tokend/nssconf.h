/* SPDX-License-Identifier: MIT */
/* tokend's name service view: nsswitch.conf without "pertok" (nssconf.c). */
#pragma once

#include <stddef.h>

#define PT_NSSWITCH_CONF "/etc/nsswitch.conf"

/* Tells glibc (__nss_configure_lookup) the passwd, group, initgroups and
 * shadow lines of path with every "pertok" service and its [...] actions
 * removed. 0 (also when path does not exist), or -errno with err set. */
int pt_nssconf_apply(const char *path, char *err, size_t errlen);
/* One line's services without "pertok" into out: the number removed, or
 * -EINVAL (an unterminated '[') / -E2BIG (out too small). */
int pt_nssconf_strip(const char *line, char *out, size_t len);
