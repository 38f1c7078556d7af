/* SPDX-License-Identifier: MIT */
/* tokend's logging: syslog (authpriv, ident "tokend"), and stderr with -f. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

void pt_log_open(bool to_stderr);

/* One log line in tokend(8)'s form: "op=OP result=RESULT key=value ...".
 * After result come pairs of (const char *key, const char *value), ended by
 * a NULL key; every value goes through pt_log_value (NULL or "": "-"), so a
 * value holding quotes, '=' or newlines stays one well-formed field. Keys
 * are the caller's literals ([a-z_]). Every line of tokend goes through
 * here: there is no printf-style line function (a value made of several
 * parts is built with PT_LOG_F below and escaped here like any other). */
void pt_log_kv(int prio, const char *op, const char *result, ...) __attribute__((sentinel));

/* Numbers as values: PT_LOG_U(n), PT_LOG_I(n) (a temporary buffer each). */
const char *pt_log_u64(uint64_t v, char *buf, size_t len);
const char *pt_log_i64(int64_t v, char *buf, size_t len);
#define PT_LOG_U(v) pt_log_u64((uint64_t)(v), (char[24]){ 0 }, 24)
#define PT_LOG_I(v) pt_log_i64((int64_t)(v), (char[24]){ 0 }, 24)

/* A value built from several parts: PT_LOG_F("seal backend %s: %s", a, b)
 * (a temporary buffer, 1024 bytes). Only ever a value of pt_log_kv, which
 * escapes it as a whole like any other. */
const char *pt_log_fmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define PT_LOG_F(...) pt_log_fmt((char[1024]){ 0 }, 1024, __VA_ARGS__)

/* Writes a line that pt_log_kv built in another process as it is: only for
 * the front's lines forwarded to the key holder (PS_LOG, which carries
 * printable characters only). Anything else logs with pt_log_kv. */
void pt_log_line(int prio, const char *line);

/* Where lines go instead of syslog and stderr (the front process hands
 * them to the key holder); NULL: back to syslog. */
void pt_log_set_sink(void (*sink)(int prio, const char *line));

/* Copies s into buf as a log-safe value: quoted when it has spaces, with
 * control characters, quotes and backslashes escaped; truncated. */
const char *pt_log_value(const char *s, char *buf, size_t len);
