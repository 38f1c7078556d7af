/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static bool log_stderr;

void pt_log_open(bool to_stderr)
{
	log_stderr = to_stderr;
	openlog("tokend", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

void pt_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_stderr) {
		va_list aq;
		struct timespec ts;
		struct tm tm;
		char when[32];
		static const char *const names[] = { "emerg",	"alert",  "crit", "err",
						     "warning", "notice", "info", "debug" };

		va_copy(aq, ap);
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ tokend %s: ", when, ts.tv_nsec / 1000000L,
			names[prio & 7]);
		vfprintf(stderr, fmt, aq);
		fputc('\n', stderr);
		fflush(stderr);
		va_end(aq);
	}
	vsyslog(prio, fmt, ap);
	va_end(ap);
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
