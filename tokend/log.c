/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

/* every entry the same fields: no CODE_FILE= etc. of this file */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "log.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static bool log_stderr;
static bool log_journal;
static void (*log_sink)(int prio, const char *line);

void pt_log_set_sink(void (*sink)(int prio, const char *line))
{
	log_sink = sink;
}

void pt_log_open(bool to_stderr)
{
	struct stat st;

	log_stderr = to_stderr;
	/* journald's native socket when there is one (as sd_journal_print
	 * would find it), syslog otherwise */
	log_journal = stat(JOURNAL_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode);
	openlog("tokend", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

bool pt_log_to_journal(void)
{
	return log_journal;
}

/* MESSAGE_ID of an event: the decisions a user or an admin looks for by
 * name first, then a class per result. The ids are fixed forever (the
 * catalog data/catalog/pertok.catalog and admins' queries name them). */
static const struct {
	const char *op; /* NULL: any */
	const char *result;
	const char *id;
} message_ids[] = {
	{ "redeem", "allow", PT_MID_REDEEM_ALLOW },
	{ "redeem", "deny", PT_MID_REDEEM_DENY },
	{ "mint", "allow", PT_MID_MINT_ALLOW },
	{ "mint", "deny", PT_MID_MINT_DENY },
	{ "exchange", "allow", PT_MID_EXCHANGE_ALLOW },
	{ "exchange", "renew", PT_MID_EXCHANGE_ALLOW },
	{ "exchange", "deny", PT_MID_EXCHANGE_DENY },
	{ "start", "allow", PT_MID_START },
	{ "start", "error", PT_MID_START_FAILED },
	{ "reload", "allow", PT_MID_RELOAD },
	{ "reload", "error", PT_MID_RELOAD_FAILED },
	{ NULL, "allow", PT_MID_ALLOW },
	{ NULL, "renew", PT_MID_ALLOW },
	{ NULL, "deny", PT_MID_DENY },
	{ NULL, "error", PT_MID_ERROR },
	{ NULL, "summary", PT_MID_SUMMARY },
};

const char *pt_log_message_id(const char *op, const char *result)
{
	for (size_t i = 0; i < sizeof(message_ids) / sizeof(message_ids[0]); i++)
		if ((!message_ids[i].op || (op && strcmp(op, message_ids[i].op) == 0)) && result &&
		    strcmp(result, message_ids[i].result) == 0)
			return message_ids[i].id;
	return PT_MID_EVENT;
}

static void to_stderr(int prio, const char *line)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	static const char *const names[] = { "emerg",	"alert",  "crit", "err",
					     "warning", "notice", "info", "debug" };

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ tokend %s: %s\n", when, ts.tv_nsec / 1000000L, names[prio & 7],
		line);
	fflush(stderr);
}

/* One journal field "PERTOK_KEY=value" into buf: the key upper-cased (keys
 * are [a-z_], checked by the callers), the value as it is. */
static size_t field(char *buf, size_t len, const char *key, const char *value)
{
	size_t o = 0;

	o += (size_t)snprintf(buf, len, "PERTOK_");
	for (const char *k = key; *k && o + 1 < len; k++)
		buf[o++] = (char)(*k >= 'a' && *k <= 'z' ? *k - 'a' + 'A' : *k);
	o += (size_t)snprintf(buf + o, len - o, "=%s", value);
	return o < len ? o : len - 1;
}

int pt_log_journal_fields(int prio, const char *line, const char *message_id,
			  const struct pt_log_field *f, size_t n, struct iovec *iov, size_t iov_max,
			  char *buf, size_t len)
{
	size_t k = 0, o = 0;

	if (iov_max < 5)
		return -ENOBUFS;
		/* the fixed fields: these never come from a caller's key */
#define FIXED(...)                                                \
	do {                                                      \
		int w_ = snprintf(buf + o, len - o, __VA_ARGS__); \
		if (w_ < 0 || (size_t)w_ >= len - o)              \
			return -ENOBUFS;                          \
		iov[k++] = (struct iovec){ buf + o, (size_t)w_ }; \
		o += (size_t)w_ + 1;                              \
	} while (0)
	FIXED("MESSAGE=%s", line);
	FIXED("PRIORITY=%d", prio & 7);
	FIXED("SYSLOG_FACILITY=%d", LOG_AUTHPRIV >> 3);
	FIXED("SYSLOG_IDENTIFIER=tokend");
	FIXED("MESSAGE_ID=%s", message_id);
#undef FIXED
	for (size_t i = 0; i < n && k < iov_max; i++) {
		size_t w;

		if (len - o < 16)
			break; /* whole fields only, as in the line */
		w = field(buf + o, len - o, f[i].key, f[i].value);
		if (o + w + 1 >= len)
			break;
		iov[k++] = (struct iovec){ buf + o, w };
		o += w + 1;
	}
	return (int)k;
}

/* Where an entry goes: stderr with -f, and the journal (fields) or syslog. */
static void emit(int prio, const char *line, const char *message_id, const struct pt_log_field *f,
		 size_t n)
{
	struct iovec iov[5 + PT_LOG_MAX_FIELDS];
	char buf[8192];
	int k;

	if (log_stderr)
		to_stderr(prio, line);
	if (log_journal) {
		k = pt_log_journal_fields(prio, line, message_id, f, n, iov,
					  sizeof(iov) / sizeof(iov[0]), buf, sizeof(buf));
		if (k > 0 && sd_journal_sendv(iov, k) >= 0)
			return;
		/* journald restarting, or an entry it would not take: syslog
		 * (which journald reads too) rather than nothing */
	}
	syslog(prio, "%s", line);
}

/* s as a log value. quote: the line's form (quoted when it has a space, '"'
 * or '='; '"' escaped); else a journal field's (never quoted, '"' as it
 * is). Both escape control characters (\xNN) and backslashes, so a value
 * never spans two lines nor fakes an escape. */
static const char *escape(const char *s, char *buf, size_t len, bool quote_ok)
{
	size_t o = 0;
	bool quote = false;

	if (len < 8) {
		if (len)
			buf[0] = '\0';
		return "?";
	}
	if (!s || !*s) {
		memcpy(buf, "-", 2);
		return buf;
	}
	if (quote_ok)
		for (const char *p = s; *p; p++)
			if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20)
				quote = true;
	if (quote)
		buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 6 < len; p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
		else if ((*p == '"' && quote_ok) || *p == '\\') {
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

const char *pt_log_value(const char *s, char *buf, size_t len)
{
	return escape(s, buf, len, true);
}

static bool key_ok(const char *k, size_t n)
{
	if (n == 0 || n > PT_LOG_MAX_KEY)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || k[i] == '_'))
			return false;
	return true;
}

int pt_log_parse_line(const char *line, struct pt_log_field *f, size_t max, char *buf, size_t len)
{
	const char *p = line;
	size_t n = 0, o = 0;

	while (*p) {
		const char *eq = strchr(p, '=');
		size_t kl;

		if (n == max)
			return -E2BIG;
		if (!eq || !key_ok(p, (size_t)(eq - p)))
			return -EBADMSG;
		kl = (size_t)(eq - p);
		if (o + kl + 1 > len)
			return -E2BIG;
		memcpy(buf + o, p, kl);
		buf[o + kl] = '\0';
		f[n].key = buf + o;
		o += kl + 1;
		p = eq + 1;
		f[n].value = buf + o;
		if (*p == '"') {
			/* quoted: \" and \\ as pt_log_value writes them;
			 * "\\" stays two characters, as in a journal field */
			for (p++; *p != '"'; p++) {
				if (!*p)
					return -EBADMSG; /* cut off */
				if (o + 3 > len)
					return -E2BIG;
				if (*p == '\\') {
					if (p[1] == '"')
						p++;
					else if (p[1] == '\\')
						buf[o++] = *p++;
					else if (p[1] != 'x')
						return -EBADMSG;
				}
				buf[o++] = *p;
			}
			p++;
		} else {
			if (!*p || *p == ' ')
				return -EBADMSG;
			for (; *p && *p != ' '; p++) {
				if (*p == '"' || *p == '=')
					return -EBADMSG;
				if (o + 2 > len)
					return -E2BIG;
				buf[o++] = *p;
			}
		}
		if (o >= len)
			return -E2BIG; /* an empty value at the very end of buf */
		buf[o++] = '\0';
		n++;
		if (*p == ' ' && p[1])
			p++;
		else if (*p)
			return -EBADMSG;
	}
	return (int)n;
}

void pt_log_line(int prio, const char *line)
{
	struct pt_log_field f[PT_LOG_MAX_FIELDS + 1];
	char buf[4096];
	int n, k = 0;

	if (log_sink) {
		log_sink(prio, line);
		return;
	}
	/* The front's line: its fields if they parse, its own MESSAGE_ID
	 * whatever op and result it names (a front that lies cannot pass for
	 * a decision of the key holder's), and src=front set here only. */
	n = pt_log_parse_line(line, f, PT_LOG_MAX_FIELDS, buf, sizeof(buf));
	for (int i = 0; i < n; i++)
		if (strcmp(f[i].key, "src") != 0)
			f[k++] = f[i];
	f[k++] = (struct pt_log_field){ "src", "front" };
	emit(prio, line, PT_MID_FRONT, f, (size_t)k);
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
	struct pt_log_field f[PT_LOG_MAX_FIELDS];
	char line[4096], v[2048], vals[4096];
	size_t o = 0, vo = 0, n = 0;
	va_list ap;
	const char *key;
	int k;

	k = snprintf(line, sizeof(line), "op=%s", pt_log_value(op, v, sizeof(v)));
	o = k > 0 ? (size_t)k : 0;
	k = snprintf(line + o, sizeof(line) - o, " result=%s", pt_log_value(result, v, sizeof(v)));
	o += k > 0 ? (size_t)k : 0;
	f[n++] = (struct pt_log_field){ "op", escape(op, vals, sizeof(vals) / 2, false) };
	vo = strlen(vals) + 1;
	f[n++] = (struct pt_log_field){ "result", escape(result, vals + vo, 256, false) };
	vo += strlen(vals + vo) + 1;
	va_start(ap, result);
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *raw = va_arg(ap, const char *);
		const char *val = pt_log_value(raw, v, sizeof(v));
		size_t need = 1 + strlen(key) + 1 + strlen(val);

		if (o + need >= sizeof(line))
			break; /* whole fields only: the line stays well-formed */
		o += (size_t)snprintf(line + o, sizeof(line) - o, " %s=%s", key, val);
		if (n < PT_LOG_MAX_FIELDS && key_ok(key, strlen(key)) && vo + 8 < sizeof(vals)) {
			f[n++] = (struct pt_log_field){ key, escape(raw, vals + vo,
								    sizeof(vals) - vo, false) };
			vo += strlen(vals + vo) + 1;
		}
	}
	va_end(ap);
	if (log_sink) {
		log_sink(prio, line);
		return;
	}
	emit(prio, line, pt_log_message_id(op, result), f, n);
}
