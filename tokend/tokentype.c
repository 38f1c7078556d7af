/* SPDX-License-Identifier: MIT */
/*
 * Token types (tokentype.h): the "types" list of tokend.conf, and the format
 * engine of kind "code": generation (CSPRNG, rejection sampling) and the
 * format check of an entered code.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "tokentype.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confdir.h"
#include "confvalue.h"
#include "util.h"

#define MAX_ATTEMPTS 1000
#define DEFAULT_CODE_TTL 86400
#define DEFAULT_MAX_FAILURES 5
#define DEFAULT_LOCKOUT 900

static const char letters_uc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
static const char letters_lc[] = "abcdefghijklmnopqrstuvwxyz";
static const char digit_chars[] = "0123456789";

#define fail(p, s, ...) pt_conf_fail((p), (s), __VA_ARGS__)

/* ------------------------------------------------------------------ engine */

unsigned pt_ttype_alphabet(const struct pt_tokentype *t)
{
	unsigned n = 0;

	if (t->letters)
		n += t->case_sensitive ? 52 : 26;
	if (t->digits)
		n += 10;
	if (t->special)
		n += (unsigned)strlen(PT_TTYPE_SPECIALS);
	return n;
}

/* log2(x) in 16.16 fixed point, rounded down (no libm) */
static uint64_t log2_q16(unsigned x)
{
	uint64_t y, r = 0;
	unsigned i = 0;

	while ((x >> (i + 1)) != 0)
		i++;
	r = (uint64_t)i << 16;
	y = ((uint64_t)x << 30) >> i; /* x / 2^i in [1, 2), Q30 */
	for (int b = 15; b >= 0; b--) {
		y = (y * y) >> 30;
		if (y >= (2ull << 30)) {
			y >>= 1;
			r |= 1ull << b;
		}
	}
	return r;
}

unsigned pt_ttype_bits(unsigned random_chars, unsigned alpha)
{
	if (alpha < 2)
		return 0;
	return (unsigned)(((uint64_t)random_chars * log2_q16(alpha)) >> 16);
}

unsigned pt_ttype_strength(unsigned random_chars, unsigned alpha)
{
	unsigned bits = pt_ttype_bits(random_chars, alpha);

	if (bits < 28)
		return 1;
	if (bits < 36)
		return 2;
	if (bits < 60)
		return 3;
	if (bits < 80)
		return 4;
	return 5;
}

static size_t alphabet_chars(const struct pt_tokentype *t, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (t->letters) {
		n += (size_t)snprintf(buf + n, len - n, "%s", letters_uc);
		if (t->case_sensitive)
			n += (size_t)snprintf(buf + n, len - n, "%s", letters_lc);
	}
	if (t->digits)
		n += (size_t)snprintf(buf + n, len - n, "%s", digit_chars);
	if (t->special)
		n += (size_t)snprintf(buf + n, len - n, "%s", PT_TTYPE_SPECIALS);
	return n;
}

/* Is c permitted by the classes of t (either case when case-insensitive)? */
static bool char_ok(const struct pt_tokentype *t, char c)
{
	if (c >= 'A' && c <= 'Z')
		return t->letters;
	if (c >= 'a' && c <= 'z')
		return t->letters;
	if (c >= '0' && c <= '9')
		return t->digits;
	return c != '\0' && t->special && strchr(PT_TTYPE_SPECIALS, c);
}

static char fold(const struct pt_tokentype *t, char c)
{
	return t->case_sensitive ? c : (char)toupper((unsigned char)c);
}

void pt_ttype_normalize(const struct pt_tokentype *t, char *code)
{
	for (; code && *code; code++)
		*code = fold(t, *code);
}

/* Does hay contain needle, compared as t folds case? */
static bool contains(const struct pt_tokentype *t, const char *hay, size_t hlen, const char *needle)
{
	size_t nlen = strlen(needle);

	if (nlen == 0 || nlen > hlen)
		return false;
	for (size_t i = 0; i + nlen <= hlen; i++) {
		size_t k = 0;
		while (k < nlen && fold(t, hay[i + k]) == fold(t, needle[k]))
			k++;
		if (k == nlen)
			return true;
	}
	return false;
}

int pt_ttype_expand(const char *text, const char *user, char **ret)
{
	size_t n = 0, ulen = user ? strlen(user) : 0;
	char *out;

	for (const char *c = text; *c; c++)
		n += c[0] == '%' && c[1] == 'u' ? (c++, ulen) : 1;
	if (n > PT_TTYPE_MAX_LEN * 4)
		return -E2BIG;
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	n = 0;
	for (const char *c = text; *c; c++) {
		if (c[0] == '%' && c[1] == 'u') {
			memcpy(out + n, user ? user : "", ulen);
			n += ulen;
			c++;
		} else
			out[n++] = *c;
	}
	out[n] = '\0';
	*ret = out;
	return 0;
}

/* Uniform index in [0, n) from the CSPRNG: rejection sampling, no modulo bias. */
struct rpool {
	uint8_t b[256];
	size_t used;
};

static int random_index(struct rpool *p, unsigned n, unsigned *ret)
{
	unsigned limit = 256 - 256 % n;

	for (;;) {
		if (p->used >= sizeof(p->b)) {
			if (RAND_bytes(p->b, sizeof(p->b)) != 1)
				return -EIO;
			p->used = 0;
		}
		uint8_t v = p->b[p->used];
		p->b[p->used++] = 0;
		if (v < limit) {
			*ret = v % n;
			return 0;
		}
	}
}

/* Lays the required texts (expanded for user) into tmpl[0..len); fixed[i]
 * marks the laid positions. Positioned texts first, then the others at the
 * first offset where they fit. */
static int lay_required(const struct pt_tokentype *t, const char *user, char *tmpl, bool *fixed,
			size_t len, char *why, size_t whylen)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < t->n_require; i++) {
			const struct pt_ttype_require *q = &t->require[i];
			_cleanup_free_ char *x = NULL;
			size_t xl, at;
			bool placed = false;
			int r;

			if ((pass == 0) != (q->at != PT_TTYPE_ANYWHERE))
				continue;
			r = pt_ttype_expand(q->text, user, &x);
			if (r < 0)
				return r;
			xl = strlen(x);
			for (size_t k = 0; k < xl; k++) {
				if (!char_ok(t, x[k])) {
					snprintf(why, whylen,
						 "required text \"%.64s\" has a character not "
						 "permitted by type %s",
						 x, t->name);
					return -EINVAL;
				}
				x[k] = fold(t, x[k]);
			}
			for (at = q->at == PT_TTYPE_ANYWHERE ? 0 : (size_t)q->at;
			     !placed && at + xl <= len;
			     at = q->at == PT_TTYPE_ANYWHERE ? at + 1 : len) {
				bool fits = true;
				for (size_t k = 0; k < xl && fits; k++)
					fits = !fixed[at + k] || tmpl[at + k] == x[k];
				if (!fits)
					continue;
				for (size_t k = 0; k < xl; k++) {
					tmpl[at + k] = x[k];
					fixed[at + k] = true;
				}
				placed = true;
			}
			if (!placed) {
				snprintf(
					why, whylen,
					"required text \"%.64s\" does not fit in a code of type %s",
					x, t->name);
				return -EINVAL;
			}
		}
	return 0;
}

int pt_ttype_generate(const struct pt_tokentype *t, const char *user, char **ret,
		      unsigned *ret_bits, char *why, size_t whylen)
{
	struct rpool pool = { .used = sizeof(pool.b) };
	char alpha[128];
	char tmpl[PT_TTYPE_MAX_LEN + 1];
	bool fixed[PT_TTYPE_MAX_LEN] = { 0 };
	size_t len, n_alpha, n_random = 0;
	char *code = NULL;
	int r;

	if (why && whylen)
		why[0] = '\0';
	if (!t || t->kind != PT_TTYPE_CODE || t->max_len == 0 || t->max_len > PT_TTYPE_MAX_LEN)
		return -EINVAL;
	len = t->max_len;
	n_alpha = alphabet_chars(t, alpha, sizeof(alpha));
	if (n_alpha < 2)
		return -EINVAL;
	memset(tmpl, 0, sizeof(tmpl));
	r = lay_required(t, user, tmpl, fixed, len, why, whylen);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++)
		n_random += !fixed[i];
	if (pt_ttype_strength((unsigned)n_random, (unsigned)n_alpha) < t->min_strength) {
		snprintf(why, whylen,
			 "a code of type %s for this user would have %u random bits, below "
			 "min_strength %u",
			 t->name, pt_ttype_bits((unsigned)n_random, (unsigned)n_alpha),
			 t->min_strength);
		return -EINVAL;
	}
	code = malloc(len + 1);
	if (!code)
		return -ENOMEM;
	for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		bool bad = false;

		for (size_t i = 0; i < len; i++) {
			unsigned k;

			if (fixed[i]) {
				code[i] = tmpl[i];
				continue;
			}
			r = random_index(&pool, (unsigned)n_alpha, &k);
			if (r < 0)
				goto fail;
			code[i] = alpha[k];
		}
		code[len] = '\0';
		for (size_t i = 0; i < t->n_prohibit && !bad; i++)
			bad = contains(t, code, len, t->prohibit[i]);
		if (bad)
			continue;
		*ret = code;
		if (ret_bits)
			*ret_bits = pt_ttype_bits((unsigned)n_random, (unsigned)n_alpha);
		OPENSSL_cleanse(&pool, sizeof(pool));
		return 0;
	}
	snprintf(why, whylen, "no code of type %s without a prohibited text was found", t->name);
	r = -EAGAIN;
fail:
	OPENSSL_cleanse(&pool, sizeof(pool));
	OPENSSL_cleanse(code, len + 1);
	free(code);
	return r;
}

int pt_ttype_check_format(const struct pt_tokentype *t, const char *user, const char *code,
			  char *why, size_t whylen)
{
	size_t len = strlen(code);

	if (len < t->min_len || len > t->max_len) {
		if (t->min_len == t->max_len)
			snprintf(why, whylen, "a code of type %s has %u characters, not %zu",
				 t->name, t->max_len, len);
		else
			snprintf(why, whylen, "a code of type %s has %u to %u characters, not %zu",
				 t->name, t->min_len, t->max_len, len);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if (!char_ok(t, code[i])) {
			snprintf(why, whylen, "character %zu is not permitted in a code of type %s",
				 i + 1, t->name);
			return -EINVAL;
		}
	for (size_t i = 0; i < t->n_require; i++) {
		const struct pt_ttype_require *q = &t->require[i];
		_cleanup_free_ char *x = NULL;
		bool ok;

		if (pt_ttype_expand(q->text, user, &x) < 0)
			return -ENOMEM;
		if (q->at == PT_TTYPE_ANYWHERE)
			ok = contains(t, code, len, x);
		else {
			size_t xl = strlen(x);
			ok = (size_t)q->at + xl <= len && contains(t, code + q->at, xl, x);
		}
		if (!ok) {
			snprintf(why, whylen, "the code lacks the required text of type %s",
				 t->name);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < t->n_prohibit; i++)
		if (contains(t, code, len, t->prohibit[i])) {
			snprintf(why, whylen, "the code contains a text prohibited in type %s",
				 t->name);
			return -EINVAL;
		}
	return 0;
}

/* ------------------------------------------------------------------ parser */

enum {
	T_NAME,
	T_KIND,
	T_LENGTH,
	T_MIN_LENGTH,
	T_MAX_LENGTH,
	T_CASE_SENSITIVE,
	T_CHARSET,
	T_REQUIRE,
	T_PROHIBIT,
	T_MIN_STRENGTH,
	T_TTL,
	T_MAX_TTL,
	T_NUM_USES,
	T_RATE,
	T_GLOBAL_RATE,
	T_MAX_FAILURES,
	T_LOCKOUT,
	_T_MAX,
};

static const char *const type_keys[_T_MAX] = {
	[T_NAME] = "name",
	[T_KIND] = "kind",
	[T_LENGTH] = "length",
	[T_MIN_LENGTH] = "min_length",
	[T_MAX_LENGTH] = "max_length",
	[T_CASE_SENSITIVE] = "case_sensitive",
	[T_CHARSET] = "charset",
	[T_REQUIRE] = "require",
	[T_PROHIBIT] = "prohibit",
	[T_MIN_STRENGTH] = "min_strength",
	[T_TTL] = "ttl",
	[T_MAX_TTL] = "max_ttl",
	[T_NUM_USES] = "num_uses",
	[T_RATE] = "rate",
	[T_GLOBAL_RATE] = "global_rate",
	[T_MAX_FAILURES] = "max_failures",
	[T_LOCKOUT] = "lockout",
};

static const char *const kind_names[] = { "jws", "persistable", "code" };

static void type_clear(struct pt_tokentype *t)
{
	free(t->name);
	for (size_t i = 0; i < t->n_require; i++)
		free(t->require[i].text);
	free(t->require);
	for (size_t i = 0; i < t->n_prohibit; i++)
		free(t->prohibit[i]);
	free(t->prohibit);
	memset(t, 0, sizeof(*t));
}

void pt_ttypes_free(struct pt_tokentype *t, size_t n)
{
	if (!t)
		return;
	for (size_t i = 0; i < n; i++)
		type_clear(&t[i]);
	free(t);
}

const struct pt_tokentype *pt_ttype_find(const struct pt_tokentype *t, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

static int parse_charset(const struct pt_conf_ctx *p, const config_setting_t *g, const char *w,
			 struct pt_tokentype *t)
{
	static const char *const keys[] = { "letters", "digits", "special" };
	int len;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(p, g,
			    "%s.charset must be a group { letters = ...; digits = ...; "
			    "special = ...; }",
			    w);
	t->letters = t->digits = t->special = false;
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		int k = pt_conf_key_index(config_setting_name(s), keys, 3);
		bool *dst[] = { &t->letters, &t->digits, &t->special };
		int r;

		if (k < 0)
			return fail(p, s,
				    "unknown setting \"%s\" in %s.charset (letters, digits, "
				    "special)",
				    config_setting_name(s) ? config_setting_name(s) : "?", w);
		r = pt_conf_bool(p, s, w, keys[k], dst[k]);
		if (r < 0)
			return r;
	}
	if (!t->letters && !t->digits && !t->special)
		return fail(p, g, "%s.charset permits no character class", w);
	return 0;
}

/* A literal text: characters outside "%u" must be permitted by the classes. */
static int check_literal(const struct pt_conf_ctx *p, const config_setting_t *s, const char *w,
			 const struct pt_tokentype *t, const char *text, bool allow_user,
			 size_t *ret_fixed)
{
	size_t n = 0;

	if (text[0] == '\0')
		return fail(p, s, "%s: the text must not be empty", w);
	for (const char *c = text; *c; c++) {
		if (c[0] == '%') {
			if (!allow_user || c[1] != 'u')
				return fail(p, s,
					    "%s: \"%.64s\": only \"%%u\" (the user name) may "
					    "follow %%",
					    w, text);
			c++;
			n++; /* the user name: at least one character */
			continue;
		}
		if (!char_ok(t, *c))
			return fail(p, s,
				    "%s: \"%.64s\" has the character '%c', which the charset "
				    "does not permit",
				    w, text, isprint((unsigned char)*c) ? *c : '?');
		n++;
	}
	*ret_fixed = n;
	return 0;
}

static int parse_require(const struct pt_conf_ctx *p, const config_setting_t *l, const char *w,
			 struct pt_tokentype *t, size_t *ret_fixed)
{
	int ty = config_setting_type(l), len;
	size_t fixed_total = 0;
	char ew[192];

	if (ty != CONFIG_TYPE_LIST && ty != CONFIG_TYPE_ARRAY)
		return fail(p, l, "%s.require must be a list ( { text = \"...\"; at = N; }, ... )",
			    w);
	len = config_setting_length(l);
	if (len > PT_TTYPE_MAX_REQUIRE)
		return fail(p, l, "%s.require has too many elements (max %d)", w,
			    PT_TTYPE_MAX_REQUIRE);
	t->require = calloc((size_t)len + 1, sizeof(*t->require));
	if (!t->require)
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		struct pt_ttype_require *q = &t->require[t->n_require];
		const char *text = NULL;
		long long at = PT_TTYPE_ANYWHERE;
		size_t fixed = 0;
		int r;

		snprintf(ew, sizeof(ew), "%s.require[%d]", w, i);
		if (config_setting_type(e) == CONFIG_TYPE_STRING)
			text = config_setting_get_string(e);
		else if (config_setting_type(e) == CONFIG_TYPE_GROUP) {
			int n = config_setting_length(e);
			for (int j = 0; j < n; j++) {
				const config_setting_t *s = config_setting_get_elem(e, (unsigned)j);
				const char *name = config_setting_name(s);

				if (name && strcmp(name, "text") == 0)
					r = pt_conf_string(p, s, ew, "text", &text);
				else if (name && strcmp(name, "at") == 0)
					r = pt_conf_int(p, s, ew, "at", 0, PT_TTYPE_MAX_LEN - 1,
							&at);
				else
					r = fail(p, s, "unknown setting \"%s\" in %s (text, at)",
						 name ? name : "?", ew);
				if (r < 0)
					return r;
			}
			if (!text)
				return fail(p, e, "%s: text is required", ew);
		} else
			return fail(p, e, "%s must be a string or a group { text = ...; at = N; }",
				    ew);
		r = check_literal(p, e, ew, t, text, true, &fixed);
		if (r < 0)
			return r;
		if (fixed + (at == PT_TTYPE_ANYWHERE ? 0 : (size_t)at) > t->max_len)
			return fail(p, e, "%s: \"%.64s\"%s does not fit in a code of %u characters",
				    ew, text, at == PT_TTYPE_ANYWHERE ? "" : " at that position",
				    t->max_len);
		if (!strstr(text, "%u"))
			for (size_t k = 0; k < t->n_prohibit; k++)
				if (contains(t, text, strlen(text), t->prohibit[k]))
					return fail(p, e,
						    "%s: \"%.64s\" contains the prohibited "
						    "text \"%.64s\"",
						    ew, text, t->prohibit[k]);
		q->text = strdup(text);
		if (!q->text)
			return -ENOMEM;
		q->at = (int)at;
		t->n_require++;
		fixed_total += fixed;
	}
	if (fixed_total > t->max_len)
		return fail(p, l,
			    "%s.require: the required texts (%zu characters) do not fit in a "
			    "code of %u characters",
			    w, fixed_total, t->max_len);
	*ret_fixed = fixed_total;
	return 0;
}

static int parse_prohibit(const struct pt_conf_ctx *p, const config_setting_t *l, const char *w,
			  struct pt_tokentype *t)
{
	int ty = config_setting_type(l), len;

	if (ty == CONFIG_TYPE_STRING)
		len = 1;
	else if (ty == CONFIG_TYPE_LIST || ty == CONFIG_TYPE_ARRAY)
		len = config_setting_length(l);
	else
		return fail(p, l, "%s.prohibit must be an array of strings [ \"...\", ... ]", w);
	if (len > PT_TTYPE_MAX_PROHIBIT)
		return fail(p, l, "%s.prohibit has too many elements (max %d)", w,
			    PT_TTYPE_MAX_PROHIBIT);
	t->prohibit = calloc((size_t)len + 1, sizeof(char *));
	if (!t->prohibit)
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		const config_setting_t *e =
			ty == CONFIG_TYPE_STRING ? l : config_setting_get_elem(l, (unsigned)i);
		const char *s;

		if (config_setting_type(e) != CONFIG_TYPE_STRING ||
		    !(s = config_setting_get_string(e)))
			return fail(p, e, "%s.prohibit[%d] must be a string", w, i);
		if (s[0] == '\0' || strlen(s) > PT_TTYPE_MAX_LEN)
			return fail(p, e, "%s.prohibit[%d] must have 1 to %d characters", w, i,
				    PT_TTYPE_MAX_LEN);
		t->prohibit[t->n_prohibit] = strdup(s);
		if (!t->prohibit[t->n_prohibit])
			return -ENOMEM;
		t->n_prohibit++;
	}
	return 0;
}

/* One entry of types ( ). Built-in kinds take only name, kind, ttl, max_ttl. */
static int parse_type(const struct pt_conf_ctx *p, const config_setting_t *g, unsigned idx,
		      struct pt_tokentype *t)
{
	const config_setting_t *set[_T_MAX] = { 0 };
	const char *name = NULL, *kind = NULL;
	char w[128];
	long long v;
	size_t fixed = 0;
	int len, r;

	snprintf(w, sizeof(w), "types[%u]", idx);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(p, g, "%s must be a group { name = \"...\"; ... }", w);
	t->line = (int)config_setting_source_line(g);
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		int k = pt_conf_key_index(config_setting_name(s), type_keys, _T_MAX);

		if (k < 0)
			return fail(p, s, "unknown setting \"%s\" in %s",
				    config_setting_name(s) ? config_setting_name(s) : "?", w);
		set[k] = s;
	}
	if (!set[T_NAME])
		return fail(p, g, "%s: name is required", w);
	r = pt_conf_string(p, set[T_NAME], w, "name", &name);
	if (r < 0)
		return r;
	if (!pt_name_valid(name) || strlen(name) > 64)
		return fail(p, set[T_NAME], "%s.name: \"%.64s\" is not a valid name", w, name);
	snprintf(w, sizeof(w), "types[%u] (%s)", idx, name);
	t->name = strdup(name);
	if (!t->name)
		return -ENOMEM;

	t->kind = strcmp(name, "live") == 0	   ? PT_TTYPE_JWS :
		  strcmp(name, "persistable") == 0 ? PT_TTYPE_PERSISTABLE :
						     PT_TTYPE_CODE;
	if (set[T_KIND]) {
		int k;

		r = pt_conf_string(p, set[T_KIND], w, "kind", &kind);
		if (r < 0)
			return r;
		k = pt_conf_key_index(kind, kind_names, 3);
		if (k < 0)
			return fail(p, set[T_KIND],
				    "%s.kind must be \"jws\", \"persistable\" or \"code\", not "
				    "\"%.64s\"",
				    w, kind);
		if ((enum pt_ttype_kind)k != t->kind)
			return fail(p, set[T_KIND],
				    "%s.kind: %s (only the built-in type \"live\" is of kind "
				    "\"jws\", only \"persistable\" of kind \"persistable\", every "
				    "other type is of kind \"code\")",
				    w, kind);
	}
	if (t->kind != PT_TTYPE_CODE) {
		for (int k = 0; k < _T_MAX; k++)
			if (set[k] && k != T_NAME && k != T_KIND && k != T_TTL && k != T_MAX_TTL)
				return fail(p, set[k],
					    "%s.%s is not supported for the built-in type %s "
					    "(only ttl and max_ttl)",
					    w, type_keys[k], name);
		if (set[T_TTL] && (r = pt_conf_duration(p, set[T_TTL], w, "ttl", &t->ttl)) < 0)
			return r;
		if (set[T_MAX_TTL] &&
		    (r = pt_conf_duration(p, set[T_MAX_TTL], w, "max_ttl", &t->max_ttl)) < 0)
			return r;
		return 0;
	}

	/* format */
	if (set[T_LENGTH] && (set[T_MIN_LENGTH] || set[T_MAX_LENGTH]))
		return fail(p, set[T_LENGTH], "%s: set length or min_length/max_length, not both",
			    w);
	if (set[T_LENGTH]) {
		r = pt_conf_int(p, set[T_LENGTH], w, "length", 1, PT_TTYPE_MAX_LEN, &v);
		if (r < 0)
			return r;
		t->min_len = t->max_len = (unsigned)v;
	} else if (set[T_MAX_LENGTH]) {
		r = pt_conf_int(p, set[T_MAX_LENGTH], w, "max_length", 1, PT_TTYPE_MAX_LEN, &v);
		if (r < 0)
			return r;
		t->max_len = (unsigned)v;
		t->min_len = t->max_len;
		if (set[T_MIN_LENGTH]) {
			r = pt_conf_int(p, set[T_MIN_LENGTH], w, "min_length", 1, PT_TTYPE_MAX_LEN,
					&v);
			if (r < 0)
				return r;
			if ((unsigned)v > t->max_len)
				return fail(p, set[T_MIN_LENGTH],
					    "%s: min_length (%lld) exceeds max_length (%u)", w, v,
					    t->max_len);
			t->min_len = (unsigned)v;
		}
	} else
		return fail(p, set[T_MIN_LENGTH] ? set[T_MIN_LENGTH] : g,
			    "%s: length (or max_length) is required for a code type", w);

	t->case_sensitive = true;
	if (set[T_CASE_SENSITIVE] && (r = pt_conf_bool(p, set[T_CASE_SENSITIVE], w,
						       "case_sensitive", &t->case_sensitive)) < 0)
		return r;
	t->letters = t->digits = true;
	if (set[T_CHARSET] && (r = parse_charset(p, set[T_CHARSET], w, t)) < 0)
		return r;
	if (set[T_PROHIBIT] && (r = parse_prohibit(p, set[T_PROHIBIT], w, t)) < 0)
		return r;
	if (set[T_REQUIRE] && (r = parse_require(p, set[T_REQUIRE], w, t, &fixed)) < 0)
		return r;
	t->min_strength = 1;
	if (set[T_MIN_STRENGTH]) {
		unsigned alpha = pt_ttype_alphabet(t), rnd = t->max_len - (unsigned)fixed;

		r = pt_conf_int(p, set[T_MIN_STRENGTH], w, "min_strength", 1, 5, &v);
		if (r < 0)
			return r;
		t->min_strength = (unsigned)v;
		if (pt_ttype_strength(rnd, alpha) < t->min_strength)
			return fail(p, set[T_MIN_STRENGTH],
				    "%s: min_strength %u is unreachable: %u random characters "
				    "from %u give %u bits, strength %u",
				    w, t->min_strength, rnd, alpha, pt_ttype_bits(rnd, alpha),
				    pt_ttype_strength(rnd, alpha));
	}
	if (pt_ttype_alphabet(t) < 2)
		return fail(p, set[T_CHARSET] ? set[T_CHARSET] : g,
			    "%s: the charset has fewer than 2 characters", w);

	/* use policies */
	t->ttl = DEFAULT_CODE_TTL;
	if (set[T_TTL] && (r = pt_conf_duration(p, set[T_TTL], w, "ttl", &t->ttl)) < 0)
		return r;
	t->max_ttl = t->ttl;
	if (set[T_MAX_TTL] &&
	    (r = pt_conf_duration(p, set[T_MAX_TTL], w, "max_ttl", &t->max_ttl)) < 0)
		return r;
	if (t->ttl > t->max_ttl)
		return fail(p, set[T_TTL] ? set[T_TTL] : set[T_MAX_TTL], "%s: ttl exceeds max_ttl",
			    w);
	t->num_uses = 1;
	if (set[T_NUM_USES]) {
		r = pt_conf_int(p, set[T_NUM_USES], w, "num_uses", 0, 1000000, &v);
		if (r < 0)
			return r;
		t->num_uses = (uint32_t)v;
	}
	if (set[T_RATE] &&
	    (r = pt_conf_rate(p, set[T_RATE], w, "rate", &t->rate_n, &t->rate_period)) < 0)
		return r;
	if (set[T_GLOBAL_RATE] && (r = pt_conf_rate(p, set[T_GLOBAL_RATE], w, "global_rate",
						    &t->global_rate_n, &t->global_rate_period)) < 0)
		return r;
	t->max_failures = DEFAULT_MAX_FAILURES;
	if (set[T_MAX_FAILURES]) {
		r = pt_conf_int(p, set[T_MAX_FAILURES], w, "max_failures", 0, 1000000, &v);
		if (r < 0)
			return r;
		t->max_failures = (uint32_t)v;
	}
	t->lockout = DEFAULT_LOCKOUT;
	if (set[T_LOCKOUT] &&
	    (r = pt_conf_duration(p, set[T_LOCKOUT], w, "lockout", &t->lockout)) < 0)
		return r;
	if (set[T_LOCKOUT] && t->max_failures == 0)
		return fail(p, set[T_LOCKOUT], "%s: lockout needs max_failures", w);

	/* A format without "%u" is the same for every user: prove now that a
	 * code can be generated (required texts that overlap, prohibited texts
	 * that leave no code). */
	bool per_user = false;
	for (size_t i = 0; i < t->n_require; i++)
		per_user = per_user || strstr(t->require[i].text, "%u");
	if (!per_user) {
		char why[256] = "";
		char *code = NULL;

		r = pt_ttype_generate(t, "", &code, NULL, why, sizeof(why));
		if (r == -ENOMEM || r == -EIO)
			return r;
		if (r < 0)
			return fail(p, g, "%s: %s", w, why[0] ? why : "no code can be generated");
		pt_free_secret(code);
	}
	return 0;
}

int pt_ttypes_parse(const config_setting_t *list, const char *fname, uint64_t live_ttl,
		    uint64_t live_max_ttl, uint64_t persist_ttl, uint64_t persist_max_ttl,
		    struct pt_tokentype **ret, size_t *ret_n, struct pt_ttype_builtin_set *ret_set,
		    char *err, size_t errlen)
{
	struct pt_conf_ctx p = { .fname = fname ? fname : "(config)",
				 .err = err,
				 .errlen = errlen };
	struct pt_ttype_builtin_set bs = { 0 };
	struct pt_tokentype *v = NULL;
	size_t n = 0;
	int len = 0, r;

	if (list) {
		int ty = config_setting_type(list);
		if (ty != CONFIG_TYPE_LIST)
			return fail(&p, list,
				    "types must be a list ( { name = \"...\"; ... }, ... )");
		len = config_setting_length(list);
		if (len > 256)
			return fail(&p, list, "types has too many elements (max 256)");
	}
	v = calloc((size_t)len + 2, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct pt_tokentype *t = &v[n];

		r = parse_type(&p, g, (unsigned)i, t);
		if (r < 0) {
			n++; /* free what was parsed of it */
			goto fail;
		}
		n++;
		if (pt_ttype_find(v, n - 1, t->name)) {
			const struct pt_tokentype *first = pt_ttype_find(v, n - 1, t->name);

			r = fail(&p, g, "types[%d]: a type named \"%s\" is already defined at %s",
				 i, t->name,
				 pt_conf_place(p.fname,
					       config_setting_get_elem(list, (unsigned)(first - v)),
					       (char[512]){ 0 }, 512));
			goto fail;
		}
		if (t->kind != PT_TTYPE_CODE) {
			const config_setting_t *ts = config_setting_get_member(g, "ttl");
			const config_setting_t *ms = config_setting_get_member(g, "max_ttl");
			bool live = t->kind == PT_TTYPE_JWS;

			*(live ? &bs.live_ttl : &bs.persist_ttl) = ts;
			*(live ? &bs.live_max_ttl : &bs.persist_max_ttl) = ms;
			if (!ts)
				t->ttl = live ? live_ttl : persist_ttl;
			if (!ms)
				t->max_ttl = live ? live_max_ttl : persist_max_ttl;
			if (t->ttl > t->max_ttl) {
				r = fail(&p,
					 ts ? ts :
					 ms ? ms :
					      g,
					 "types[%d] (%s): ttl exceeds max_ttl", i, t->name);
				goto fail;
			}
		}
	}
	/* the built-ins not overridden */
	for (int k = 0; k < 2; k++) {
		const char *name = k == 0 ? "live" : "persistable";
		struct pt_tokentype *t;

		if (pt_ttype_find(v, n, name))
			continue;
		t = &v[n];
		t->name = strdup(name);
		if (!t->name) {
			r = -ENOMEM;
			goto fail;
		}
		n++;
		t->kind = k == 0 ? PT_TTYPE_JWS : PT_TTYPE_PERSISTABLE;
		t->ttl = k == 0 ? live_ttl : persist_ttl;
		t->max_ttl = k == 0 ? live_max_ttl : persist_max_ttl;
	}
	*ret = v;
	*ret_n = n;
	if (ret_set)
		*ret_set = bs;
	return 0;
fail:
	pt_ttypes_free(v, n);
	if (r == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: out of memory", p.fname);
	return r;
}
