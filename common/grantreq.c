/* SPDX-License-Identifier: MIT */
/* The text of an SSH-signed grant request, see grantreq.h. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grantreq.h"
#include "util.h"

#define MAX_LIFETIME (10ull * 366 * 86400)
#define MAX_LINES (16 + PT_MAX_GRANT_CMDS * (2 + PT_MAX_GRANT_ARGS))

struct line {
	const char *key, *val;
	size_t key_len, val_len;
	unsigned no; /* 1-based, the header being line 1 */
};

struct parser {
	struct line *l;
	size_t n, i;
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	char msg[200];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "line %u: %s",
			 p->i < p->n ? p->l[p->i].no : (unsigned)p->n + 2, msg);
	return -EBADMSG;
}

static bool is_key(const struct parser *p, const char *key)
{
	return p->i < p->n && p->l[p->i].key_len == strlen(key) &&
	       memcmp(p->l[p->i].key, key, p->l[p->i].key_len) == 0;
}

/* The value of the current line when its key is key (and moves on):
 * 1; 0 when the line has another key (or there is none). */
static int take(struct parser *p, const char *key, const char **ret, size_t *ret_len)
{
	if (!is_key(p, key))
		return 0;
	*ret = p->l[p->i].val;
	*ret_len = p->l[p->i].val_len;
	p->i++;
	return 1;
}

static int dup_val(struct parser *p, const char *key, const char *v, size_t n, bool spaces,
		   size_t max, char **ret)
{
	if (n > max)
		return fail(p, "%s is longer than %zu bytes", key, max);
	if (!spaces && (n == 0 || memchr(v, ' ', n)))
		return fail(p, "%s is empty or holds a space", key);
	*ret = strndup(v, n);
	return *ret ? 0 : -ENOMEM;
}

static int number(struct parser *p, const char *key, const char *v, size_t n, uint64_t min,
		  uint64_t max, uint64_t *ret)
{
	uint64_t x = 0;

	if (n == 0 || n > 20 || (n > 1 && v[0] == '0'))
		return fail(p, "%s is not a decimal number", key);
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(p, "%s is not a decimal number", key);
		if (x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
			return fail(p, "%s is out of range", key);
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x < min || x > max)
		return fail(p, "%s is not in %llu..%llu", key, (unsigned long long)min,
			    (unsigned long long)max);
	*ret = x;
	return 0;
}

static int name_into(struct parser *p, const char *key, char *dst, size_t dstlen,
		     bool (*valid)(const char *))
{
	const char *v;
	size_t n;

	if (!take(p, key, &v, &n))
		return fail(p, "expected %s=", key);
	if (n >= dstlen)
		return fail(p, "%s is longer than %zu bytes", key, dstlen - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
	if (!valid(dst))
		return fail(p, "%s is not a valid value", key);
	return 0;
}

static bool nonce_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < PT_GRANTREQ_NONCE_MIN || n > PT_GRANTREQ_NONCE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool host_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ' ')
			return false;
	return true;
}

/* Splits the text into lines of key=value (the header checked). */
static int split(struct parser *p, const char *text, size_t len)
{
	size_t hl = strlen(PT_GRANTREQ_HEADER), off;
	unsigned no = 1;

	if (len < hl + 1 || memcmp(text, PT_GRANTREQ_HEADER, hl) != 0 || text[hl] != '\n')
		return fail(p, "not \"" PT_GRANTREQ_HEADER "\"");
	for (off = hl + 1; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off), *eq;
		size_t n;
		struct line *l;

		no++;
		if (!nl) {
			p->i = p->n; /* the line after the last */
			return fail(p, "the last line does not end in a newline");
		}
		n = (size_t)(nl - (text + off));
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)text[off + i] < 0x20 ||
			    (unsigned char)text[off + i] > 0x7e) {
				p->i = p->n;
				return fail(p, "byte 0x%02x is not printable ASCII (line %u)",
					    (unsigned char)text[off + i], no);
			}
		eq = memchr(text + off, '=', n);
		if (!eq || eq == text + off) {
			p->i = p->n;
			return fail(p, "line %u is not key=value", no);
		}
		if (p->n == MAX_LINES) {
			p->i = p->n;
			return fail(p, "more than %d lines", MAX_LINES);
		}
		l = &p->l[p->n++];
		l->key = text + off;
		l->key_len = (size_t)(eq - (text + off));
		l->val = eq + 1;
		l->val_len = n - l->key_len - 1;
		l->no = no;
		off += n + 1;
	}
	return 0;
}

static bool path_valid(const char *s)
{
	return s[0] == '/';
}

/* The cmd groups. */
static int parse_cmds(struct parser *p, struct pt_grant_spec *s)
{
	const char *v;
	size_t n;
	int r;

	s->cmds = calloc(PT_MAX_GRANT_CMDS, sizeof(*s->cmds));
	if (!s->cmds)
		return -ENOMEM;
	while (take(p, "cmd", &v, &n)) {
		struct pt_grant_wire_cmd *c;

		p->i--; /* errors name the cmd line */
		if (s->n_cmds == PT_MAX_GRANT_CMDS)
			return fail(p, "more than %u commands", PT_MAX_GRANT_CMDS);
		c = &s->cmds[s->n_cmds++];
		r = dup_val(p, "cmd", v, n, false, PT_MAX_STR, &c->path);
		if (r < 0)
			return r;
		if (!path_valid(c->path))
			return fail(p, "cmd is not an absolute path");
		p->i++;
		if (take(p, "prefix", &v, &n)) {
			if (n != 1 || v[0] != '1') {
				p->i--;
				return fail(p, "prefix is not 1");
			}
			c->prefix = 1;
		}
		c->argv = calloc(PT_MAX_GRANT_ARGS, sizeof(*c->argv));
		if (!c->argv)
			return -ENOMEM;
		while (is_key(p, "arg")) {
			if (c->n_argv == PT_MAX_GRANT_ARGS)
				return fail(p, "more than %u args", PT_MAX_GRANT_ARGS);
			r = dup_val(p, "arg", p->l[p->i].val, p->l[p->i].val_len, true,
				    PT_MAX_GRANT_ARG, &c->argv[c->n_argv]);
			if (r < 0)
				return r;
			c->n_argv++;
			p->i++;
		}
	}
	if (s->n_cmds == 0)
		return fail(p, "expected cmd=");
	return 0;
}

static int parse_opt_number(struct parser *p, const char *key, uint64_t min, uint64_t max,
			    uint64_t *ret)
{
	const char *v;
	size_t n;

	if (!take(p, key, &v, &n))
		return 0;
	p->i--;
	if (number(p, key, v, n, min, max, ret) < 0)
		return -EBADMSG;
	p->i++;
	return 1;
}

static int parse_body(struct parser *p, struct pt_grantreq *q)
{
	struct pt_grant_spec *s = q->spec;
	const char *v;
	size_t n;
	uint64_t x;
	int r;

	if ((r = name_into(p, "host", q->host, sizeof(q->host), host_valid)) < 0 ||
	    (r = name_into(p, "user", q->user, sizeof(q->user), pt_name_valid)) < 0 ||
	    (r = name_into(p, "nonce", q->nonce, sizeof(q->nonce), nonce_valid)) < 0)
		return r;
	if (!take(p, "issued", &v, &n))
		return fail(p, "expected issued=");
	p->i--;
	if ((r = number(p, "issued", v, n, 1, INT64_MAX, &q->issued)) < 0)
		return r;
	p->i++;
	if (!take(p, "servicer", &v, &n))
		return fail(p, "expected servicer=");
	p->i--;
	if ((r = dup_val(p, "servicer", v, n, false, PT_MAX_STR, &s->servicer)) < 0)
		return r;
	if (!pt_name_valid(s->servicer))
		return fail(p, "servicer is not a valid user name");
	p->i++;
	s->servicer_exe = strdup("");
	s->servicer_unit = strdup("");
	if (!s->servicer_exe || !s->servicer_unit)
		return -ENOMEM;
	if (take(p, "servicer_exe", &v, &n)) {
		p->i--;
		free(s->servicer_exe);
		s->servicer_exe = NULL;
		if ((r = dup_val(p, "servicer_exe", v, n, false, PT_MAX_STR, &s->servicer_exe)) < 0)
			return r;
		if (!path_valid(s->servicer_exe))
			return fail(p, "servicer_exe is not an absolute path");
		p->i++;
	}
	if (take(p, "servicer_unit", &v, &n)) {
		p->i--;
		free(s->servicer_unit);
		s->servicer_unit = NULL;
		if ((r = dup_val(p, "servicer_unit", v, n, false, PT_MAX_STR, &s->servicer_unit)) <
		    0)
			return r;
		p->i++;
	}
	if ((r = parse_cmds(p, s)) < 0)
		return r;
	if ((r = parse_opt_number(p, "not_before", 1, INT64_MAX, &s->not_before)) < 0)
		return r;
	if (!is_key(p, "lifetime"))
		return fail(p, "expected lifetime=");
	if ((r = parse_opt_number(p, "lifetime", 1, MAX_LIFETIME, &s->lifetime)) < 0)
		return r;
	if ((r = parse_opt_number(p, "max_uses", 1, UINT32_MAX, &x)) < 0)
		return r;
	s->max_uses = r ? (uint32_t)x : 0;
	if ((r = parse_opt_number(p, "max_runtime", 1, MAX_LIFETIME, &s->max_runtime)) < 0)
		return r;
	if ((r = parse_opt_number(p, "depth", 1, 16, &x)) < 0)
		return r;
	s->depth = r ? (uint32_t)x : 0;
	if (p->i < p->n)
		return fail(p, "unexpected key \"%.*s\" (or out of order, or twice)",
			    (int)p->l[p->i].key_len, p->l[p->i].key);
	return 0;
}

void pt_grantreq_clear(struct pt_grantreq *r)
{
	if (!r)
		return;
	pt_grant_spec_free(r->spec);
	memset(r, 0, sizeof(*r));
}

int pt_grantreq_parse(const char *text, size_t len, struct pt_grantreq *ret, char *err,
		      size_t errlen)
{
	struct pt_grantreq q = { 0 };
	struct parser p = { .err = err, .errlen = errlen };
	int r;

	if (!text || !ret)
		return -EINVAL;
	if (len > PT_GRANTREQ_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "request of %zu bytes (at most %d)", len,
				 PT_GRANTREQ_MAX);
		return -EBADMSG;
	}
	p.l = calloc(MAX_LINES, sizeof(*p.l));
	q.spec = calloc(1, sizeof(*q.spec));
	if (!p.l || !q.spec) {
		r = -ENOMEM;
		goto out;
	}
	r = split(&p, text, len);
	if (r >= 0) {
		p.i = 0;
		r = parse_body(&p, &q);
	}
	if (r >= 0) {
		*ret = q;
		q.spec = NULL;
	}
out:
	pt_grant_spec_free(q.spec);
	free(p.l);
	return r;
}

/* ------------------------------------------------------------------ format */

struct out {
	char *buf;
	size_t len, cap;
	int err;
};

static void put(struct out *o, const char *key, const char *val, bool spaces)
{
	size_t need;

	if (o->err)
		return;
	for (const char *c = val; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e ||
		    (!spaces && *c == ' ')) {
			o->err = -EINVAL;
			return;
		}
	need = strlen(key) + 1 + strlen(val) + 2;
	if (o->len + need > o->cap) {
		size_t cap = (o->cap + need) * 2;
		char *b = realloc(o->buf, cap);

		if (!b) {
			o->err = -ENOMEM;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	o->len += (size_t)snprintf(o->buf + o->len, o->cap - o->len, "%s%s%s\n", key,
				   *key ? "=" : "", val);
}

static void put_u64(struct out *o, const char *key, uint64_t v)
{
	char n[24];

	snprintf(n, sizeof(n), "%llu", (unsigned long long)v);
	put(o, key, n, false);
}

int pt_grantreq_format(const struct pt_grantreq *r, char **ret, size_t *ret_len)
{
	const struct pt_grant_spec *s;
	struct out o = { 0 };

	if (!r || !r->spec || !ret || !ret_len)
		return -EINVAL;
	s = r->spec;
	put(&o, "", PT_GRANTREQ_HEADER, true);
	put(&o, "host", r->host, false);
	put(&o, "user", r->user, false);
	put(&o, "nonce", r->nonce, false);
	put_u64(&o, "issued", r->issued);
	put(&o, "servicer", s->servicer ? s->servicer : "", false);
	if (s->servicer_exe && *s->servicer_exe)
		put(&o, "servicer_exe", s->servicer_exe, false);
	if (s->servicer_unit && *s->servicer_unit)
		put(&o, "servicer_unit", s->servicer_unit, false);
	for (uint32_t i = 0; i < s->n_cmds; i++) {
		put(&o, "cmd", s->cmds[i].path, false);
		if (s->cmds[i].prefix)
			put(&o, "prefix", "1", false);
		for (uint32_t j = 0; j < s->cmds[i].n_argv; j++)
			put(&o, "arg", s->cmds[i].argv[j], true);
	}
	if (s->not_before)
		put_u64(&o, "not_before", s->not_before);
	put_u64(&o, "lifetime", s->lifetime);
	if (s->max_uses)
		put_u64(&o, "max_uses", s->max_uses);
	if (s->max_runtime)
		put_u64(&o, "max_runtime", s->max_runtime);
	if (s->depth)
		put_u64(&o, "depth", s->depth);
	if (o.err) {
		free(o.buf);
		return o.err;
	}
	*ret = o.buf;
	*ret_len = o.len;
	return 0;
}
