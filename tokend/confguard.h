/* SPDX-License-Identifier: MIT */
/*
 * Work-arounds for libconfig, applied to tokend.conf's text before
 * libconfig reads it: "@include" is refused (libconfig 1.5 would open any
 * file it names), brackets may not nest deeper than PT_CONF_MAX_NESTING, and
 * a string where the grammar allows none (which libconfig leaks at the
 * syntax error it causes) is cut off so that libconfig stops at the same
 * line without it.
 */
#pragma once

#include <stddef.h>

#define PT_CONF_MAX_NESTING 256

/*
 * Checks text (name is FILE in "FILE:LINE: message"). Returns 0 with *ret
 * NULL (give libconfig text as it is) or a heap string to give it instead;
 * -EINVAL with err set when the text is refused; -ENOMEM.
 */
int pt_conf_guard(const char *text, const char *name, char **ret, char *err, size_t errlen);
