/* SPDX-License-Identifier: MIT */
/*
 * A grant's (or a pending request's) record text: ids, the deep copy and
 * free, the formatter and its strict parser (grant.h; fuzz target "grant").
 */
#include "grant.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ------------------------------------------------------------------ ids */

int pt_grant_new_id(const char *prefix, char ret[PT_ID_LEN])
{
	return pt_record_new_id_prefixed(prefix, ret);
}

bool pt_grant_id_valid(const char *id)
{
	if (!id || strlen(id) != PT_ID_LEN - 1)
		return false;
	if (strncmp(id, "gr_", 3) != 0 && strncmp(id, "gq_", 3) != 0)
		return false;
	for (const char *p = id + 3; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	return true;
}

/* ------------------------------------------------------------ ownership */

static void cmd_clear(struct pt_grant_cmd *c)
{
	free(c->path);
	for (size_t i = 0; i < c->n_argv; i++)
		free(c->argv[i]);
	free(c->argv);
	memset(c, 0, sizeof(*c));
}

void pt_grant_free(struct pt_grant *g)
{
	if (!g)
		return;
	free(g->origin);
	free(g->servicer);
	free(g->servicer_exe);
	free(g->servicer_unit);
	for (size_t i = 0; i < g->n_cmds; i++)
		cmd_clear(&g->cmds[i]);
	free(g->cmds);
	for (size_t i = 0; i < g->n_paths; i++)
		free(g->paths[i]);
	free(g);
}

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int pt_grant_copy(const struct pt_grant *g, struct pt_grant **ret)
{
	struct pt_grant *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	*n = *g;
	n->origin = n->servicer = n->servicer_exe = n->servicer_unit = NULL;
	n->cmds = NULL;
	n->n_cmds = 0;
	n->n_paths = 0;
	for (size_t i = 0; i < g->n_paths; i++) {
		if (dup_opt(g->paths[i], &n->paths[i]) < 0)
			goto nomem;
		n->n_paths = i + 1;
	}
	if (dup_opt(g->origin, &n->origin) < 0 || dup_opt(g->servicer, &n->servicer) < 0 ||
	    dup_opt(g->servicer_exe, &n->servicer_exe) < 0 ||
	    dup_opt(g->servicer_unit, &n->servicer_unit) < 0)
		goto nomem;
	if (g->n_cmds) {
		n->cmds = calloc(g->n_cmds, sizeof(*n->cmds));
		if (!n->cmds)
			goto nomem;
	}
	for (size_t i = 0; i < g->n_cmds; i++) {
		const struct pt_grant_cmd *c = &g->cmds[i];
		struct pt_grant_cmd *d = &n->cmds[i];

		n->n_cmds = i + 1;
		memcpy(d->sha256, c->sha256, sizeof(d->sha256));
		d->argv_prefix = c->argv_prefix;
		if (dup_opt(c->path, &d->path) < 0)
			goto nomem;
		if (c->n_argv) {
			d->argv = calloc(c->n_argv, sizeof(*d->argv));
			if (!d->argv)
				goto nomem;
		}
		for (size_t j = 0; j < c->n_argv; j++) {
			d->n_argv = j + 1;
			if (dup_opt(c->argv[j], &d->argv[j]) < 0)
				goto nomem;
		}
	}
	*ret = n;
	return 0;
nomem:
	pt_grant_free(n);
	return -ENOMEM;
}

/* ------------------------------------------------------------ formatting */

struct out {
	char *p;
	size_t len, cap;
	int err;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->err)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 512;
		char *p;

		while (cap < o->len + n + 1)
			cap *= 2;
		if (cap > PT_GRANT_MAX_RECORD + 1) {
			o->err = -E2BIG;
			return;
		}
		p = realloc(o->p, cap);
		if (!p) {
			o->err = -ENOMEM;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	char b[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(b)) {
		o->err = o->err ?: -E2BIG;
		return;
	}
	put(o, b, (size_t)n);
}

/* key=VALUE\n, VALUE percent-encoded */
static void put_str(struct out *o, const char *key, const char *v)
{
	static const char hx[] = "0123456789ABCDEF";

	put(o, key, strlen(key));
	put(o, "=", 1);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p < 0x21 || *p > 0x7e || *p == '%') {
			char e[3] = { '%', hx[*p >> 4], hx[*p & 15] };
			put(o, e, 3);
		} else
			put(o, (const char *)p, 1);
	}
	put(o, "\n", 1);
}

int pt_grant_format(const struct pt_grant *g, char **ret, size_t *ret_len)
{
	struct out o = { 0 };
	char hex[65];

	putf(&o, "version=1\nkind=%s\n", g->kind == PT_GRANT_KIND_REQUEST ? "request" : "grant");
	put_str(&o, "id", g->id);
	put_str(&o, "origin", g->origin ? g->origin : "");
	putf(&o, "origin_uid=%u\n", (unsigned)g->origin_uid);
	put_str(&o, "servicer", g->servicer ? g->servicer : "");
	putf(&o, "servicer_uid=%u\n", (unsigned)g->servicer_uid);
	if (g->servicer_exe)
		put_str(&o, "servicer_exe", g->servicer_exe);
	if (g->servicer_unit)
		put_str(&o, "servicer_unit", g->servicer_unit);
	for (size_t i = 0; i < g->n_cmds; i++) {
		const struct pt_grant_cmd *c = &g->cmds[i];

		put_str(&o, "cmd", c->path ? c->path : "");
		for (size_t k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", c->sha256[k]);
		putf(&o, "sha256=%s\nprefix=%d\n", hex, c->argv_prefix ? 1 : 0);
		for (size_t j = 0; j < c->n_argv; j++)
			put_str(&o, "arg", c->argv[j]);
	}
	putf(&o, "not_before=%" PRIu64 "\nnot_after=%" PRIu64 "\n", g->not_before, g->not_after);
	if (g->has_hours)
		putf(&o, "hours=%02u-%02u\n", g->hours_from, g->hours_to);
	putf(&o,
	     "max_uses=%" PRIu32 "\nuses=%" PRIu32 "\nmax_runtime=%" PRIu64 "\ndepth=%" PRIu32 "\n",
	     g->max_uses, g->uses, g->max_runtime, g->depth);
	if (g->no_network)
		putf(&o, "no_network=1\n");
	for (size_t i = 0; i < g->n_paths; i++)
		put_str(&o, g->path_write[i] ? "write" : "read", g->paths[i]);
	if (g->parent[0])
		put_str(&o, "parent", g->parent);
	putf(&o, "revoked=%d\ncreated=%" PRIu64 "\n", g->revoked ? 1 : 0, g->created);
	if (g->kind == PT_GRANT_KIND_REQUEST)
		putf(&o, "expires=%" PRIu64 "\n", g->expires);
	if (o.err) {
		free(o.p);
		return o.err;
	}
	*ret = o.p;
	*ret_len = o.len;
	return 0;
}

/* --------------------------------------------------------------- parsing */

static int fail(char *err, size_t errlen, unsigned ln, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, unsigned ln, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (err && errlen) {
		if (ln)
			n = snprintf(err, errlen, "line %u: ", ln);
		if (n < 0 || (size_t)n >= errlen)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static int unhexdig(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes v into a new string; NULL on a malformed escape, a NUL,
 * a raw byte that should have been escaped, or no memory (*ret_nomem). */
static char *decode_value(const char *v, size_t max, bool *ret_nomem, const char **ret_why)
{
	size_t n = strlen(v), o = 0;
	char *s;

	*ret_nomem = false;
	s = malloc(n + 1);
	if (!s) {
		*ret_nomem = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x21 || c > 0x7e) {
			*ret_why = "unescaped control, space or non-ASCII byte";
			goto bad;
		}
		if (c == '%') {
			int a, b;

			if (i + 2 >= n) {
				*ret_why = "truncated %-escape";
				goto bad;
			}
			a = unhexdig(v[i + 1]);
			b = unhexdig(v[i + 2]);
			if (a < 0 || b < 0) {
				*ret_why = "malformed %-escape";
				goto bad;
			}
			c = (unsigned char)(a << 4 | b);
			if (c == 0) {
				*ret_why = "NUL byte";
				goto bad;
			}
			i += 2;
		}
		s[o++] = (char)c;
		if (o > max) {
			*ret_why = "value too long";
			goto bad;
		}
	}
	s[o] = '\0';
	return s;
bad:
	free(s);
	return NULL;
}

enum gkey {
	G_VERSION,
	G_KIND,
	G_ID,
	G_ORIGIN,
	G_ORIGIN_UID,
	G_SERVICER,
	G_SERVICER_UID,
	G_SERVICER_EXE,
	G_SERVICER_UNIT,
	G_CMD,
	G_SHA256,
	G_PREFIX,
	G_ARG,
	G_NOT_BEFORE,
	G_NOT_AFTER,
	G_HOURS,
	G_MAX_USES,
	G_USES,
	G_MAX_RUNTIME,
	G_DEPTH,
	G_NO_NETWORK,
	G_PATH, /* read= or write= (one slot: they interleave) */
	G_PARENT,
	G_REVOKED,
	G_CREATED,
	G_EXPIRES,
	_G_MAX,
};

static const char *const gkeys[_G_MAX] = {
	[G_VERSION] = "version",
	[G_KIND] = "kind",
	[G_ID] = "id",
	[G_ORIGIN] = "origin",
	[G_ORIGIN_UID] = "origin_uid",
	[G_SERVICER] = "servicer",
	[G_SERVICER_UID] = "servicer_uid",
	[G_SERVICER_EXE] = "servicer_exe",
	[G_SERVICER_UNIT] = "servicer_unit",
	[G_CMD] = "cmd",
	[G_SHA256] = "sha256",
	[G_PREFIX] = "prefix",
	[G_ARG] = "arg",
	[G_NOT_BEFORE] = "not_before",
	[G_NOT_AFTER] = "not_after",
	[G_HOURS] = "hours",
	[G_MAX_USES] = "max_uses",
	[G_USES] = "uses",
	[G_MAX_RUNTIME] = "max_runtime",
	[G_DEPTH] = "depth",
	[G_NO_NETWORK] = "no_network",
	[G_PATH] = "read",
	[G_PARENT] = "parent",
	[G_REVOKED] = "revoked",
	[G_CREATED] = "created",
	[G_EXPIRES] = "expires",
};

static bool optional_key(enum gkey k)
{
	return k == G_SERVICER_EXE || k == G_SERVICER_UNIT || k == G_HOURS || k == G_PARENT ||
	       k == G_EXPIRES || k == G_NO_NETWORK || k == G_PATH;
}

/* May key k follow key prev? Keys come in the table's order, optional ones
 * may be left out; the command block (cmd sha256 prefix arg*) repeats. */
static bool order_ok(int prev, enum gkey k)
{
	if (k == G_CMD && (prev == G_PREFIX || prev == G_ARG))
		return true; /* the next command */
	if ((k == G_ARG && prev == G_ARG) || (k == G_PATH && prev == G_PATH))
		return true;
	if (k == G_ARG)
		return prev == G_PREFIX;
	if (k == G_NOT_BEFORE)
		return prev == G_PREFIX || prev == G_ARG;
	if ((int)k <= prev)
		return false;
	for (int i = prev + 1; i < (int)k; i++)
		if (!optional_key((enum gkey)i) && i != G_ARG)
			return false;
	return true;
}

static int parse_uint(const char *v, uint64_t max, uint64_t *ret)
{
	uint64_t u;

	if (pt_parse_u64(v, &u) < 0 || u > max)
		return -EBADMSG;
	*ret = u;
	return 0;
}

static bool path_ok(const char *s)
{
	return s[0] == '/' && strlen(s) < 4096;
}

int pt_grant_parse(const void *data, size_t len, struct pt_grant **ret, char *err, size_t errlen)
{
	struct pt_grant *g = NULL;
	char *text = NULL, *line, *next;
	struct pt_grant_cmd *cmd = NULL;
	unsigned ln = 0;
	int prev = -1;
	int r = 0;

	if (err && errlen)
		err[0] = '\0';
	if (len > PT_GRANT_MAX_RECORD)
		return fail(err, errlen, 0, "record longer than %u bytes", PT_GRANT_MAX_RECORD);
	if (len == 0 || ((const char *)data)[len - 1] != '\n')
		return fail(err, errlen, 0, "record does not end with a newline");
	if (memchr(data, '\0', len))
		return fail(err, errlen, 0, "record holds a NUL byte");
	g = calloc(1, sizeof(*g));
	text = malloc(len + 1);
	if (!g || !text) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(text, data, len);
	text[len] = '\0';
	for (line = text; *line; line = next) {
		char *nl = strchr(line, '\n'), *eq, *v, *s = NULL;
		const char *why = NULL;
		bool nomem = false;
		uint64_t u = 0;
		int k = -1;

		*nl = '\0';
		next = nl + 1;
		ln++;
		eq = strchr(line, '=');
		if (!eq) {
			r = fail(err, errlen, ln, "no '=' (lines are key=value)");
			goto out;
		}
		*eq = '\0';
		v = eq + 1;
		for (int i = 0; i < _G_MAX; i++)
			if (strcmp(line, gkeys[i]) == 0)
				k = i;
		if (strcmp(line, "write") == 0)
			k = G_PATH;
		if (k < 0) {
			r = fail(err, errlen, ln, "unknown key \"%.32s\"", line);
			goto out;
		}
		if (!order_ok(prev, (enum gkey)k)) {
			r = fail(err, errlen, ln, "%s out of place (after %s)", gkeys[k],
				 prev < 0 ? "the start" : gkeys[prev]);
			goto out;
		}
		prev = k;
		switch (k) {
		case G_VERSION:
			if (strcmp(v, "1") != 0) {
				r = fail(err, errlen, ln,
					 "record version \"%.16s\" not supported (1)", v);
				goto out;
			}
			continue;
		case G_KIND:
			if (strcmp(v, "grant") == 0)
				g->kind = PT_GRANT_KIND_GRANT;
			else if (strcmp(v, "request") == 0)
				g->kind = PT_GRANT_KIND_REQUEST;
			else {
				r = fail(err, errlen, ln, "kind must be grant or request");
				goto out;
			}
			continue;
		case G_SHA256:
			if (strlen(v) != 64) {
				r = fail(err, errlen, ln, "sha256 must be 64 hex digits");
				goto out;
			}
			for (size_t i = 0; i < 32; i++) {
				int a = unhexdig(v[2 * i]), b = unhexdig(v[2 * i + 1]);
				if (a < 0 || b < 0) {
					r = fail(err, errlen, ln, "sha256 must be 64 hex digits");
					goto out;
				}
				cmd->sha256[i] = (uint8_t)(a << 4 | b);
			}
			continue;
		case G_NO_NETWORK:
			if (strcmp(v, "1") != 0) {
				r = fail(err, errlen, ln, "no_network must be 1 (or left out)");
				goto out;
			}
			g->no_network = true;
			continue;
		case G_PREFIX:
		case G_REVOKED:
			if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
				r = fail(err, errlen, ln, "%s must be 0 or 1", gkeys[k]);
				goto out;
			}
			if (k == G_PREFIX)
				cmd->argv_prefix = v[0] == '1';
			else
				g->revoked = v[0] == '1';
			continue;
		case G_HOURS: {
			unsigned a, b;
			char tail;

			if (strlen(v) != 5 || sscanf(v, "%2u-%2u%c", &a, &b, &tail) != 2 ||
			    v[2] != '-' || a > 23 || b > 23 || a == b) {
				r = fail(err, errlen, ln,
					 "hours must be HH-HH (00..23, two different)");
				goto out;
			}
			g->has_hours = true;
			g->hours_from = (uint8_t)a;
			g->hours_to = (uint8_t)b;
			continue;
		}
		case G_ORIGIN_UID:
		case G_SERVICER_UID:
		case G_NOT_BEFORE:
		case G_NOT_AFTER:
		case G_MAX_USES:
		case G_USES:
		case G_MAX_RUNTIME:
		case G_DEPTH:
		case G_CREATED:
		case G_EXPIRES: {
			uint64_t max = (k == G_ORIGIN_UID || k == G_SERVICER_UID) ? UINT32_MAX - 1 :
				       (k == G_MAX_USES || k == G_USES || k == G_DEPTH) ?
										    UINT32_MAX :
										    UINT64_MAX;
			if (parse_uint(v, max, &u) < 0) {
				r = fail(err, errlen, ln, "%s: not a number in range", gkeys[k]);
				goto out;
			}
			switch (k) {
			case G_ORIGIN_UID:
				g->origin_uid = (uid_t)u;
				break;
			case G_SERVICER_UID:
				g->servicer_uid = (uid_t)u;
				break;
			case G_NOT_BEFORE:
				g->not_before = u;
				break;
			case G_NOT_AFTER:
				g->not_after = u;
				break;
			case G_MAX_USES:
				g->max_uses = (uint32_t)u;
				break;
			case G_USES:
				g->uses = (uint32_t)u;
				break;
			case G_MAX_RUNTIME:
				g->max_runtime = u;
				break;
			case G_DEPTH:
				g->depth = (uint32_t)u;
				break;
			case G_CREATED:
				g->created = u;
				break;
			default:
				g->expires = u;
			}
			continue;
		}
		default:
			break;
		}
		/* the string values */
		s = decode_value(v, k == G_ARG ? PT_GRANT_MAX_ARG : 4095, &nomem, &why);
		if (!s) {
			r = nomem ? -ENOMEM : fail(err, errlen, ln, "%s: %s", gkeys[k], why);
			goto out;
		}
		switch (k) {
		case G_ID:
		case G_PARENT:
			if (!pt_grant_id_valid(s) ||
			    (k == G_ID &&
			     strncmp(s, g->kind == PT_GRANT_KIND_REQUEST ? "gq_" : "gr_", 3) !=
				     0) ||
			    (k == G_PARENT && strncmp(s, "gr_", 3) != 0)) {
				free(s);
				r = fail(err, errlen, ln, "%s: not a well-formed %s id", gkeys[k],
					 k == G_ID && g->kind == PT_GRANT_KIND_REQUEST ? "request" :
											 "grant");
				goto out;
			}
			memcpy(k == G_ID ? g->id : g->parent, s, PT_ID_LEN);
			free(s);
			break;
		case G_ORIGIN:
		case G_SERVICER:
			if (!pt_name_valid(s)) {
				free(s);
				r = fail(err, errlen, ln, "%s: not a valid user name", gkeys[k]);
				goto out;
			}
			if (k == G_ORIGIN)
				g->origin = s;
			else
				g->servicer = s;
			break;
		case G_PATH:
			if (!path_ok(s)) {
				free(s);
				r = fail(err, errlen, ln, "%s: not an absolute path", line);
				goto out;
			}
			if (g->n_paths >= PT_GRANT_MAX_PATHS) {
				free(s);
				r = fail(err, errlen, ln, "more than %d read/write paths",
					 PT_GRANT_MAX_PATHS);
				goto out;
			}
			g->path_write[g->n_paths] = line[0] == 'w';
			g->paths[g->n_paths++] = s;
			break;
		case G_SERVICER_EXE:
		case G_CMD:
			if (!path_ok(s)) {
				free(s);
				r = fail(err, errlen, ln, "%s: not an absolute path", gkeys[k]);
				goto out;
			}
			if (k == G_SERVICER_EXE) {
				g->servicer_exe = s;
				break;
			}
			if (g->n_cmds >= PT_GRANT_MAX_CMDS) {
				free(s);
				r = fail(err, errlen, ln, "more than %d commands",
					 PT_GRANT_MAX_CMDS);
				goto out;
			}
			{
				struct pt_grant_cmd *c =
					realloc(g->cmds, (g->n_cmds + 1) * sizeof(*g->cmds));
				if (!c) {
					free(s);
					r = -ENOMEM;
					goto out;
				}
				g->cmds = c;
				cmd = &g->cmds[g->n_cmds++];
				memset(cmd, 0, sizeof(*cmd));
				cmd->path = s;
			}
			break;
		case G_SERVICER_UNIT:
			if (!pt_name_valid(s)) {
				free(s);
				r = fail(err, errlen, ln, "servicer_unit: not a valid unit name");
				goto out;
			}
			g->servicer_unit = s;
			break;
		case G_ARG: {
			char **a;

			if (cmd->n_argv >= PT_GRANT_MAX_ARGS) {
				free(s);
				r = fail(err, errlen, ln, "more than %d arguments",
					 PT_GRANT_MAX_ARGS);
				goto out;
			}
			a = realloc(cmd->argv, (cmd->n_argv + 1) * sizeof(*a));
			if (!a) {
				free(s);
				r = -ENOMEM;
				goto out;
			}
			cmd->argv = a;
			cmd->argv[cmd->n_argv++] = s;
			break;
		}
		default:
			free(s);
			r = -EINVAL;
			goto out;
		}
	}
	if (prev != G_CREATED && prev != G_EXPIRES) {
		r = fail(err, errlen, ln, "record ends before %s",
			 prev < G_CMD ? "its first command" : "created");
		goto out;
	}
	if ((g->kind == PT_GRANT_KIND_REQUEST) != (prev == G_EXPIRES)) {
		r = fail(err, errlen, ln,
			 g->kind == PT_GRANT_KIND_REQUEST ? "a request needs expires" :
							    "only a request has expires");
		goto out;
	}
	if (g->not_after < g->not_before) {
		r = fail(err, errlen, 0, "not_after is before not_before");
		goto out;
	}
	*ret = g;
	g = NULL;
out:
	pt_grant_free(g);
	free(text);
	return r;
}
