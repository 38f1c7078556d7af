/* SPDX-License-Identifier: MIT */
/* Private to the tokend.conf parsers (config.c, tokentype.c): libconfig types. */
#pragma once

#include <libconfig.h>
#include <stddef.h>

/*
 * Writes "NAME:LINE: message" (LINE of setting s) to err, or "NAME: message"
 * when s is NULL or has no line; nothing when err is NULL or errlen is 0.
 * Always returns -EINVAL.
 */
int pt_config_error(char *err, size_t errlen, const char *name, const config_setting_t *s,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
