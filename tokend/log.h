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
 * here. */
void pt_log_kv(int prio, const char *op, const char *result, ...) __attribute__((sentinel));

/* Numbers as values: PT_LOG_U(n), PT_LOG_I(n) (a temporary buffer each). */
const char *pt_log_u64(uint64_t v, char *buf, size_t len);
const char *pt_log_i64(int64_t v, char *buf, size_t len);
#define PT_LOG_U(v) pt_log_u64((uint64_t)(v), (char[24]){ 0 }, 24)
#define PT_LOG_I(v) pt_log_i64((int64_t)(v), (char[24]){ 0 }, 24)

/* printf-style: only for the lines not yet converted to pt_log_kv (server.c,
 * main.c); the caller must escape every value with pt_log_value. */
void pt_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where lines go instead of syslog and stderr (the front process hands
 * them to the key holder); NULL: back to syslog. */
void pt_log_set_sink(void (*sink)(int prio, const char *line));

/* Copies s into buf as a log-safe value: quoted when it has spaces, with
 * control characters, quotes and backslashes escaped; truncated. */
const char *pt_log_value(const char *s, char *buf, size_t len);
