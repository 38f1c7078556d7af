/* SPDX-License-Identifier: MIT */
/* tokend's logging: syslog (authpriv, ident "tokend"), and stderr with -f. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

void pt_log_open(bool to_stderr);
void pt_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies s into buf as a log-safe value: quoted when it has spaces, with
 * control characters, quotes and backslashes escaped; truncated. */
const char *pt_log_value(const char *s, char *buf, size_t len);
