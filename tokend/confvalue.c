/* SPDX-License-Identifier: MIT */
/* The value readers of tokend.conf (confvalue.h). */
#include "confvalue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SIZE_MIN_ON 4096ULL	 /* a size that is not 0 (off): 4K ... */
#define SIZE_MAX_ON (1ULL << 40) /* ... to 1024G */

/* PATH of a setting in messages: "%s%s%s" with PATH(where, key) */
#define PATH(w, k) (w), (k) ? "." : "", (k) ? (k) : ""

/* ------------------------------------------------------------------ errors */

int pt_conf_fail(const struct pt_conf_ctx *x, const config_setting_t *s, const char *fmt, ...)
{
	char msg[768];
	unsigned line = s ? config_setting_source_line(s) : 0;
	/* a setting merged in from a drop-in or types.d names its own file */
	const char *file =
		s && config_setting_source_file(s) ? config_setting_source_file(s) : x->fname;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (x->err && x->errlen > 0) {
		if (line > 0)
			snprintf(x->err, x->errlen, "%s:%u: %s", file, line, msg);
		else
			snprintf(x->err, x->errlen, "%s: %s", x->fname, msg);
	}
	return -EINVAL;
}

const char *pt_conf_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "unknown";
	}
}

/* ------------------------------------------------------------------ keys */

/* Levenshtein distance, for "did you mean" hints; large for long strings. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[65], cur[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t m = del < ins ? del : ins;
			cur[j] = m < sub ? m : sub;
		}
		memcpy(prev, cur, sizeof(size_t) * (lb + 1));
	}
	return prev[lb];
}

const char *pt_conf_hint(const char *word, const char *const *cands, size_t n, char *buf,
			 size_t len)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t d;

		if (!cands[i])
			continue;
		d = edit_distance(word, cands[i]);
		if (d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	if (best && bestd <= 2 && bestd < strlen(word))
		snprintf(buf, len, " (did you mean \"%s\"?)", best);
	return buf;
}

int pt_conf_key_index(const char *name, const char *const *keys, size_t n)
{
	for (size_t i = 0; name && i < n; i++)
		if (keys[i] && strcmp(name, keys[i]) == 0)
			return (int)i;
	return -1;
}

int pt_conf_unknown_key(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
			const char *const *keys, size_t n)
{
	char h[96];
	const char *name = config_setting_name(s);

	if (!name)
		return pt_conf_fail(x, s, "unexpected unnamed element in %s", where ? where : "");
	if (!where)
		return pt_conf_fail(x, s, "unknown top-level setting \"%s\"%s", name,
				    pt_conf_hint(name, keys, n, h, sizeof(h)));
	return pt_conf_fail(x, s, "unknown setting \"%s\" in %s%s", name, where,
			    pt_conf_hint(name, keys, n, h, sizeof(h)));
}

/* ------------------------------------------------------------------ scalars */

int pt_conf_need_type(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		      const char *key, int type)
{
	int t = config_setting_type(s);

	if (t == type || (type == CONFIG_TYPE_INT && t == CONFIG_TYPE_INT64))
		return 0;
	return pt_conf_fail(x, s, "%s%s%s must be %s, not %s", PATH(where, key),
			    pt_conf_type_name(type), pt_conf_type_name(t));
}

int pt_conf_string(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		   const char *key, const char **ret)
{
	const char *v;
	int r;

	r = pt_conf_need_type(x, s, where, key, CONFIG_TYPE_STRING);
	if (r < 0)
		return r;
	v = config_setting_get_string(s);
	if (!v)
		return pt_conf_fail(x, s, "%s%s%s must be a string", PATH(where, key));
	if (strlen(v) > PT_CONF_MAX_STRING)
		return pt_conf_fail(x, s, "%s%s%s is too long (max %d bytes)", PATH(where, key),
				    PT_CONF_MAX_STRING);
	*ret = v;
	return 0;
}

int pt_conf_int(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		const char *key, long long min, long long max, long long *ret)
{
	long long v;
	int r;

	r = pt_conf_need_type(x, s, where, key, CONFIG_TYPE_INT);
	if (r < 0)
		return r;
	v = config_setting_get_int64(s);
	if (v < min || v > max)
		return pt_conf_fail(x, s, "%s%s%s must be between %lld and %lld, not %lld",
				    PATH(where, key), min, max, v);
	*ret = v;
	return 0;
}

int pt_conf_bool(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		 const char *key, bool *ret)
{
	int r;

	r = pt_conf_need_type(x, s, where, key, CONFIG_TYPE_BOOL);
	if (r < 0)
		return r;
	*ret = config_setting_get_bool(s) != 0;
	return 0;
}

/* ------------------------------------------------------------------ durations, sizes, rates */

void pt_conf_fmt_duration(uint64_t v, char *buf, size_t len)
{
	static const struct {
		uint64_t mult;
		char unit;
	} units[] = { { 7 * 86400, 'w' }, { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };

	for (size_t i = 0; i < PT_ELEMENTSOF(units); i++)
		if (v >= units[i].mult && v % units[i].mult == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", v / units[i].mult, units[i].unit);
			return;
		}
	snprintf(buf, len, "%" PRIu64 "s", v);
}

int pt_conf_duration(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		     const char *key, uint64_t *ret)
{
	uint64_t v;
	int t = config_setting_type(s);
	int r;

	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
		long long i = config_setting_get_int64(s);
		if (i < 0)
			return pt_conf_fail(x, s, "%s%s%s must not be negative", PATH(where, key));
		v = (uint64_t)i;
	} else if (t == CONFIG_TYPE_STRING) {
		const char *str = config_setting_get_string(s);
		r = pt_parse_duration(str, &v);
		if (r == -ERANGE)
			return pt_conf_fail(x, s, "%s%s%s: duration \"%.64s\" is out of range",
					    PATH(where, key), str);
		if (r < 0)
			return pt_conf_fail(x, s,
					    "%s%s%s: invalid duration \"%.64s\" (use seconds, or a "
					    "number followed by s, m, h, d or w)",
					    PATH(where, key), str);
	} else
		return pt_conf_fail(
			x, s, "%s%s%s must be a duration (seconds or a string like \"5m\"), not %s",
			PATH(where, key), pt_conf_type_name(t));
	if (v == 0)
		return pt_conf_fail(x, s, "%s%s%s must be at least 1 second", PATH(where, key));
	if (v > PT_CONF_MAX_DURATION)
		return pt_conf_fail(x, s, "%s%s%s is too long (max 3650d)", PATH(where, key));
	*ret = v;
	return 0;
}

int pt_conf_size(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		 const char *key, uint64_t *ret)
{
	int t = config_setting_type(s);
	unsigned long long v;
	char *end = NULL;

	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
		long long i = config_setting_get_int64(s);
		if (i < 0)
			return pt_conf_fail(x, s, "%s%s%s must not be negative", PATH(where, key));
		v = (unsigned long long)i;
	} else if (t == CONFIG_TYPE_STRING) {
		const char *str = config_setting_get_string(s);
		errno = 0;
		v = str[0] >= '0' && str[0] <= '9' ? strtoull(str, &end, 10) : 0;
		if (!end || errno || (end[0] && end[1]) || !strchr("KMG", end[0]) ||
		    v > SIZE_MAX_ON)
			return pt_conf_fail(
				x, s,
				"%s%s%s: invalid size \"%.64s\" (use bytes, or a number "
				"followed by K, M or G)",
				PATH(where, key), str);
		v <<= end[0] == 'K' ? 10 : end[0] == 'M' ? 20 : end[0] == 'G' ? 30 : 0;
	} else
		return pt_conf_fail(
			x, s, "%s%s%s must be a size (bytes or a string like \"32M\"), not %s",
			PATH(where, key), pt_conf_type_name(t));
	if (v != 0 && (v < SIZE_MIN_ON || v > SIZE_MAX_ON))
		return pt_conf_fail(x, s, "%s%s%s must be 0 (off) or between 4K and 1024G",
				    PATH(where, key));
	*ret = v;
	return 0;
}

int pt_parse_rate(const char *s, uint32_t *ret_n, uint64_t *ret_period)
{
	const char *slash;
	char num[16];
	uint64_t per;
	uint32_t n;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash || slash == s || (size_t)(slash - s) >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, (size_t)(slash - s));
	num[slash - s] = '\0';
	if (pt_parse_u32(num, &n) < 0 || n == 0 || n > PT_CONF_MAX_RATE_N ||
	    pt_parse_duration(slash + 1, &per) < 0 || per == 0 || per > PT_CONF_MAX_DURATION)
		return -EINVAL;
	*ret_n = n;
	*ret_period = per;
	return 0;
}

int pt_conf_rate(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		 const char *key, uint32_t *ret_n, uint64_t *ret_period)
{
	const char *str = NULL;
	int r;

	r = pt_conf_string(x, s, where, key, &str);
	if (r < 0)
		return r;
	if (pt_parse_rate(str, ret_n, ret_period) < 0)
		return pt_conf_fail(x, s,
				    "%s%s%s: \"%.64s\" is not a rate \"N/DURATION\" (e.g. "
				    "\"10/1h\"; N 1 to %d)",
				    PATH(where, key), str, PT_CONF_MAX_RATE_N);
	return 0;
}

/* ------------------------------------------------------------------ lists */

void pt_conf_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int pt_conf_strv(const struct pt_conf_ctx *x, const config_setting_t *s, const char *where,
		 const char *key, bool (*check)(const char *), const char *what, char ***ret,
		 size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0;
	int t = config_setting_type(s), len;
	int r;

	if (t == CONFIG_TYPE_STRING)
		len = 1;
	else if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST)
		len = config_setting_length(s);
	else
		return pt_conf_fail(x, s,
				    "%s%s%s must be an array of strings [ \"...\", ... ], not %s",
				    PATH(where, key), pt_conf_type_name(t));
	if (len > PT_CONF_MAX_LIST)
		return pt_conf_fail(x, s, "%s%s%s has too many elements (max %d)", PATH(where, key),
				    PT_CONF_MAX_LIST);
	v = calloc((size_t)len + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		const config_setting_t *e =
			t == CONFIG_TYPE_STRING ? s : config_setting_get_elem(s, (unsigned)i);
		const char *str;
		int et = config_setting_type(e);

		if (et != CONFIG_TYPE_STRING) {
			r = pt_conf_fail(x, e, "%s%s%s[%d] must be a string, not %s",
					 PATH(where, key), i, pt_conf_type_name(et));
			goto out;
		}
		str = config_setting_get_string(e);
		if (!str || strlen(str) > PT_CONF_MAX_STRING || !check(str)) {
			r = pt_conf_fail(x, e, "%s%s%s: \"%.128s\" is not %s", PATH(where, key),
					 str ? str : "", what);
			goto out;
		}
		v[n] = strdup(str);
		if (!v[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
out:
	pt_conf_strv_free(v, n);
	return r;
}
