/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static bool log_stderr;
static void (*log_sink)(int prio, const char *line);

void pt_log_set_sink(void (*sink)(int prio, const char *line))
{
	log_sink = sink;
}

void pt_log_open(bool to_stderr)
{
	log_stderr = to_stderr;
	openlog("tokend", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

void pt_log_line(int prio, const char *line)
{
	if (log_sink) {
		log_sink(prio, line);
		return;
	}
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char when[32];
		static const char *const names[] = { "emerg",	"alert",  "crit", "err",
						     "warning", "notice", "info", "debug" };

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ tokend %s: %s\n", when, ts.tv_nsec / 1000000L,
			names[prio & 7], line);
		fflush(stderr);
	}
	syslog(prio, "%s", line);
}

const char *pt_log_value(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	bool quote = false;

	if (len < 8)
		return "?";
	if (!s || !*s)
		return "-";
	for (const char *p = s; *p; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20)
			quote = true;
	if (quote)
		buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 6 < len; p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
		else if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else
			buf[o++] = (char)*p;
	}
	if (quote)
		buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *pt_log_u64(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

const char *pt_log_i64(int64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64, v);
	return buf;
}

const char *pt_log_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return buf;
}

void pt_log_kv(int prio, const char *op, const char *result, ...)
{
	char line[4096], v[2048];
	size_t o = 0;
	va_list ap;
	const char *key;
	int k;

	k = snprintf(line, sizeof(line), "op=%s", pt_log_value(op, v, sizeof(v)));
	o = k > 0 ? (size_t)k : 0;
	k = snprintf(line + o, sizeof(line) - o, " result=%s", pt_log_value(result, v, sizeof(v)));
	o += k > 0 ? (size_t)k : 0;
	va_start(ap, result);
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *val = pt_log_value(va_arg(ap, const char *), v, sizeof(v));
		size_t need = 1 + strlen(key) + 1 + strlen(val);

		if (o + need >= sizeof(line))
			break; /* whole fields only: the line stays well-formed */
		o += (size_t)snprintf(line + o, sizeof(line) - o, " %s=%s", key, val);
	}
	va_end(ap);
	pt_log_line(prio, line);
}
