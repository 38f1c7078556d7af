/* SPDX-License-Identifier: MIT */
/* tokend's logging: the journal (native protocol, one field per key=value
 * pair and a MESSAGE_ID per event class) where /run/systemd/journal/socket
 * exists, syslog (authpriv, ident "tokend") otherwise, and stderr with -f. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

struct iovec;

/* Chooses the journal or syslog (once, at start: the socket is looked for
 * before the sandbox of the front process hides it). */
void pt_log_open(bool to_stderr);
bool pt_log_to_journal(void);

/* MESSAGE_IDs: fixed forever, explained in data/catalog/pertok.catalog
 * (journalctl -x, journalctl --catalog). */
#define PT_MID_REDEEM_ALLOW "99b15de704ad40869064f2be6b60e110"
#define PT_MID_REDEEM_DENY "8205c6cee1bd44ba8cea5fc90ac5a20f"
#define PT_MID_MINT_ALLOW "9db39aca384948aca3ea68eb57cac020"
#define PT_MID_MINT_DENY "81d1ba0ddf574b3ebc39fad272057bee"
#define PT_MID_EXCHANGE_ALLOW "db59baf341ba445698be6650a010d90a"
#define PT_MID_EXCHANGE_DENY "c7aff6661085491b819c2dcf062fd970"
#define PT_MID_ALLOW "54604a71d9f64b9395962916bade2e39"
#define PT_MID_DENY "2dbfc65567064c22a96a865713d2877f"
#define PT_MID_ERROR "251e5ec8365548719320861f30f2fe0b"
#define PT_MID_START "06a3a33b8c294fdd909496e5a37ebbe8"
#define PT_MID_START_FAILED "100f3afe6c1945478112f13dca1168f3"
#define PT_MID_RELOAD "88ab4e35871f407a85ec5f58d8fd60a1"
#define PT_MID_RELOAD_FAILED "76acb03fb5d948c5bf2e6ae290cfef6d"
#define PT_MID_SUMMARY "b68ba62a791c481b87e1225809a54271"
#define PT_MID_FRONT "932b79bad3d04980a3677f621f7afee8"
#define PT_MID_EVENT "f5a65f170d1e41078b23e321cbbf227b"

/* The MESSAGE_ID of a line of pt_log_kv's (op, result). */
const char *pt_log_message_id(const char *op, const char *result);

/* A key=value pair of a line, as a journal field PERTOK_<KEY>. */
struct pt_log_field {
	const char *key; /* [a-z_], at most PT_LOG_MAX_KEY characters */
	const char *value;
};
#define PT_LOG_MAX_FIELDS 24
#define PT_LOG_MAX_KEY 32

/* The journal entry of a line into iov (iov_max entries; the strings in
 * buf, len bytes): MESSAGE, PRIORITY, SYSLOG_FACILITY, SYSLOG_IDENTIFIER,
 * MESSAGE_ID, then PERTOK_<KEY>=value per field (as many as fit, whole).
 * Returns the number of entries, or -ENOBUFS. */
int pt_log_journal_fields(int prio, const char *line, const char *message_id,
			  const struct pt_log_field *f, size_t n, struct iovec *iov, size_t iov_max,
			  char *buf, size_t len);

/* Splits a line pt_log_kv built (in the front process: untrusted) back into
 * up to max fields, the strings in buf (len bytes): keys [a-z_]{1,32};
 * values bare, or quoted with \" and \\ (a "\\" and "\xNN" are kept as
 * written, as in a journal field). Returns the number of fields, -EBADMSG
 * (not such a line, or cut off) or -E2BIG (more than fits). */
int pt_log_parse_line(const char *line, struct pt_log_field *f, size_t max, char *buf, size_t len);

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
 * printable characters only). In the journal: its fields if the line
 * parses, always MESSAGE_ID PT_MID_FRONT and PERTOK_SRC=front (whatever the
 * line says). Anything else logs with pt_log_kv. */
void pt_log_line(int prio, const char *line);

/* Where lines go instead of syslog and stderr (the front process hands
 * them to the key holder); NULL: back to syslog. */
void pt_log_set_sink(void (*sink)(int prio, const char *line));

/* Copies s into buf as a log-safe value: quoted when it has spaces, with
 * control characters, quotes and backslashes escaped; truncated. */
const char *pt_log_value(const char *s, char *buf, size_t len);
