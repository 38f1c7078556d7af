/* SPDX-License-Identifier: MIT */
/*
 * Access templates (rpo.h, pertok-rpo(7)): the strict parser of the JSON a
 * partner submits, its hash, and source network matching. The parser runs
 * on bytes an administrator imports (pertokctl template import) and again
 * on every load; it is fuzzed (tests/fuzz/fuzz-template.c).
 *
 * Schema (every member required unless marked, nothing else allowed):
 *   { "version": 1,
 *     "iss": STR,                 the requesting issuer (exact)
 *     "group": STR,               the external group's stable id
 *     "entitlements": [STR, ...], 1..16 names the host defines
 *     "policy": {
 *       "max_validity": INT,      seconds, 60 .. 366 days
 *       "services": [STR, ...],   1..16 PAM service names
 *       "networks": [STR, ...],   1..32 CIDRs (v4/v6) or "local"
 *       "acr": [STR, ...],        optional, 0..16: acceptable acr values
 *       "amr": [STR, ...],        optional, 0..16: required amr methods
 *       "max_sessions": INT },    1..1000
 *     "description": STR }        optional, free text (not interpreted)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditlog.h"
#include "conf.h"
#include "config-rpo.h"
#include "b64.h"
#include "extjwt.h"
#include "issuers.h"
#include "jwks.h"
#include "ptjson.h"
#include "rpo.h"
#include "util.h"

#define T_DEPTH 4	  /* object > policy > array > string */
#define T_MAX_STR 255u	  /* iss, group, names */
#define T_MAX_DESC 1024u  /* description */
#define T_MAX_LIST 16u	  /* entitlements, services, acr, amr */
#define T_MAX_NETS 32u	  /* networks */
#define T_MAX_KEYS 16u	  /* members of one object */
#define T_MIN_VALIDITY 60 /* s */
#define T_MAX_VALIDITY (366ull * 86400ull)
#define T_MAX_SESSIONS 1000

static void fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int pt_template_hash(const void *p, size_t n, char ret[PT_HASH_LEN])
{
	char hex[65];
	int r;

	r = pt_audit_hash(p, n, hex);
	if (r < 0)
		return r;
	snprintf(ret, PT_HASH_LEN, "sha256:%s", hex);
	return 0;
}

bool pt_template_hash_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/*
 * json-c keeps the last of duplicate keys silently: this walks the text
 * (already accepted by the strict parser, so well formed) and refuses an
 * object that names a key twice. Keys are compared decoded (json-c decodes
 * each key's quoted form), so "a" and "\u0061" are the same key.
 */
struct keyset {
	char *keys[T_MAX_KEYS];
	size_t n;
	bool object;
};

static void keyset_clear(struct keyset *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->keys[i]);
	k->n = 0;
}

/* One JSON string literal of n bytes, decoded by json-c (NULL: malformed). */
static json_object *parse_literal(const char *s, size_t n)
{
	json_tokener *tok;
	json_object *o;

	tok = json_tokener_new();
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)n);
	if (o && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* The end of the string literal starting at text[i] (its opening quote). */
static size_t string_end(const char *text, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (text[i] == '\\')
			i++;
		else if (text[i] == '"')
			return i;
	}
	return len;
}

static int check_duplicates(const char *text, size_t len, char *err, size_t errlen)
{
	struct keyset st[T_DEPTH + 1] = { 0 };
	int depth = -1, r = 0;
	bool expect_key = false;

	for (size_t i = 0; i < len && r == 0; i++) {
		char c = text[i];

		if (c == '{' || c == '[') {
			if (depth + 1 > T_DEPTH) {
				fail(err, errlen, "nested too deeply");
				r = -EINVAL;
				break;
			}
			depth++;
			st[depth].object = c == '{';
			st[depth].n = 0;
			expect_key = c == '{';
		} else if (c == '}' || c == ']') {
			if (depth < 0)
				break;
			keyset_clear(&st[depth]);
			depth--;
			expect_key = false;
		} else if (c == ',') {
			expect_key = depth >= 0 && st[depth].object;
		} else if (c == '"') {
			size_t e = string_end(text, len, i);

			if (expect_key && depth >= 0) {
				json_object *k;
				char *key;

				k = parse_literal(text + i, e + 1 - i);
				if (!k || !json_object_is_type(k, json_type_string)) {
					json_object_put(k);
					fail(err, errlen, "malformed member name");
					r = -EINVAL;
					break;
				}
				for (size_t j = 0; j < st[depth].n; j++)
					if (strcmp(st[depth].keys[j], json_object_get_string(k)) ==
					    0) {
						fail(err, errlen, "duplicate member \"%.64s\"",
						     json_object_get_string(k));
						r = -EINVAL;
					}
				if (r == 0 && st[depth].n == T_MAX_KEYS) {
					fail(err, errlen, "too many members in an object");
					r = -EINVAL;
				}
				if (r == 0) {
					key = strdup(json_object_get_string(k));
					if (!key)
						r = -ENOMEM;
					else
						st[depth].keys[st[depth].n++] = key;
				}
				json_object_put(k);
				expect_key = false;
			}
			i = e;
		}
	}
	for (int j = 0; j <= T_DEPTH; j++)
		keyset_clear(&st[j]);
	return r;
}

/* A string member of o (required unless optional), within max bytes, no NUL,
 * not empty. *ret is a copy (NULL when optional and absent). */
static int get_str(json_object *o, const char *key, bool optional, size_t max, char **ret,
		   char *err, size_t errlen)
{
	json_object *v;
	const char *s;
	size_t n;

	if (!json_object_object_get_ex(o, key, &v)) {
		if (optional)
			return 0;
		fail(err, errlen, "\"%s\" is missing", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		fail(err, errlen, "\"%s\" must be a string", key);
		return -EINVAL;
	}
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || n > max || strlen(s) != n) {
		fail(err, errlen, "\"%s\" must be 1 to %zu bytes without NUL", key, max);
		return -EINVAL;
	}
	/* iss and group are printed to the administrator (rpo show, logs):
	 * no control character (the description is never shown) */
	for (size_t i = 0; i < n && strcmp(key, "description") != 0; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			fail(err, errlen, "\"%s\" holds a control character (byte %zu)", key, i);
			return -EINVAL;
		}
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int get_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret,
		   char *err, size_t errlen)
{
	json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v)) {
		fail(err, errlen, "\"%s\" is missing", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_int)) {
		fail(err, errlen, "\"%s\" must be an integer", key);
		return -EINVAL;
	}
	errno = 0;
	x = json_object_get_int64(v);
	if (errno != 0 || x < min || x > max) {
		fail(err, errlen, "\"%s\" must be %lld to %lld", key, (long long)min,
		     (long long)max);
		return -EINVAL;
	}
	*ret = x;
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Printable ASCII without spaces, 1..T_MAX_STR bytes (networks, acr, amr:
 * URNs and addresses hold ':' and '/', which names may not). */
static bool token_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > T_MAX_STR)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* An array of distinct strings that check accepts, min..max of them. */
static int get_strv(json_object *o, const char *key, size_t min, size_t max,
		    bool (*check)(const char *), char ***ret, size_t *ret_n, char *err,
		    size_t errlen)
{
	json_object *a;
	char **v = NULL;
	size_t n, i;
	int r = -EINVAL;

	if (!json_object_object_get_ex(o, key, &a)) {
		if (min == 0)
			return 0;
		fail(err, errlen, "\"%s\" is missing", key);
		return -EINVAL;
	}
	if (!json_object_is_type(a, json_type_array)) {
		fail(err, errlen, "\"%s\" must be an array of strings", key);
		return -EINVAL;
	}
	n = json_object_array_length(a);
	if (n < min || n > max) {
		fail(err, errlen, "\"%s\" must hold %zu to %zu strings", key, min, max);
		return -EINVAL;
	}
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		const char *s;

		if (!json_object_is_type(e, json_type_string)) {
			fail(err, errlen, "\"%s\"[%zu] must be a string", key, i);
			goto out;
		}
		s = json_object_get_string(e);
		if ((size_t)json_object_get_string_len(e) != strlen(s) || !check(s)) {
			fail(err, errlen, "\"%s\"[%zu] is not a valid name", key, i);
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(v[j], s) == 0) {
				fail(err, errlen, "\"%s\" names \"%.64s\" twice", key, s);
				goto out;
			}
		v[i] = strdup(s);
		if (!v[i]) {
			r = -ENOMEM;
			goto out;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
out:
	strv_free(v, n);
	return r;
}

/* "ADDR/PREFIX" (v4 or v6, prefix required, no host bits set). */
static int parse_cidr(const char *s, struct pt_cidr *ret)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	struct pt_cidr c = { 0 };
	uint32_t prefix;
	size_t n;

	if (!slash)
		return -EINVAL;
	n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, c.addr) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, c.addr) == 1)
		c.family = AF_INET6;
	else
		return -EINVAL;
	if (pt_parse_u32(slash + 1, &prefix) < 0 || (slash[1] == '0' && slash[2] != '\0') ||
	    prefix > (c.family == AF_INET ? 32u : 128u))
		return -EINVAL;
	c.prefix = (uint8_t)prefix;
	for (unsigned bit = prefix; bit < (c.family == AF_INET ? 32u : 128u); bit++)
		if (c.addr[bit / 8] & (0x80 >> (bit % 8)))
			return -EINVAL; /* host bits set: a typo, most likely */
	*ret = c;
	return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool pt_cidr_contains(const struct pt_cidr *c, const char *addr)
{
	uint8_t a[16] = { 0 };

	if (!c || !addr)
		return false;
	if (c->family == AF_INET && inet_pton(AF_INET, addr, a) == 1)
		return prefix_match(a, c->addr, c->prefix);
	if (inet_pton(AF_INET6, addr, a) != 1)
		return false;
	if (c->family == AF_INET6)
		return prefix_match(a, c->addr, c->prefix);
	/* an IPv4-mapped IPv6 address against a v4 network */
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, mapped, 12) == 0 && prefix_match(a + 12, c->addr, c->prefix);
}

static bool only_keys(json_object *o, const char *const *allowed, size_t n, char *err,
		      size_t errlen)
{
	json_object_object_foreach(o, key, val)
	{
		bool ok = false;

		(void)val;
		for (size_t i = 0; i < n; i++)
			ok = ok || strcmp(key, allowed[i]) == 0;
		if (!ok) {
			fail(err, errlen, "unknown member \"%.64s\"", key);
			return false;
		}
	}
	return true;
}

static const char *const top_keys[] = { "version",	"iss",	  "group",
					"entitlements", "policy", "description" };
static const char *const policy_keys[] = { "max_validity", "services", "networks",
					   "acr",	   "amr",      "max_sessions" };

void pt_template_clear(struct pt_template *t)
{
	if (!t)
		return;
	free(t->iss);
	free(t->group);
	strv_free(t->entitlements, t->n_entitlements);
	strv_free(t->services, t->n_services);
	free(t->nets);
	strv_free(t->acr, t->n_acr);
	strv_free(t->amr, t->n_amr);
	memset(t, 0, sizeof(*t));
}

static int parse(const struct pt_config *cfg, const void *json, size_t len, bool hash,
		 struct pt_template *ret, char *err, size_t errlen)
{
	struct pt_template t = { 0 };
	json_object *o = NULL, *pol;
	char **nets = NULL, *desc = NULL;
	size_t n_nets = 0;
	int64_t x;
	int r;

	if (!json || !ret)
		return -EINVAL;
	if (len > PT_TEMPLATE_MAX) {
		fail(err, errlen, "template is %zu bytes, more than %u", len, PT_TEMPLATE_MAX);
		return -EFBIG;
	}
	r = pt_json_parse_strict(json, len, PT_TEMPLATE_MAX, T_DEPTH, &o);
	if (r < 0) {
		fail(err, errlen, "not one well-formed JSON value (UTF-8, depth <= %d)", T_DEPTH);
		return r;
	}
	r = check_duplicates(json, len, err, errlen);
	if (r < 0)
		goto out;
	r = -EINVAL;
	if (!json_object_is_type(o, json_type_object)) {
		fail(err, errlen, "a template is a JSON object");
		goto out;
	}
	if (!only_keys(o, top_keys, PT_ELEMENTSOF(top_keys), err, errlen))
		goto out;
	if ((r = get_int(o, "version", 1, 1, &x, err, errlen)) < 0 ||
	    (r = get_str(o, "iss", false, T_MAX_STR, &t.iss, err, errlen)) < 0 ||
	    (r = get_str(o, "group", false, T_MAX_STR, &t.group, err, errlen)) < 0 ||
	    (r = get_str(o, "description", true, T_MAX_DESC, &desc, err, errlen)) < 0 ||
	    (r = get_strv(o, "entitlements", 1, T_MAX_LIST, pt_name_valid, &t.entitlements,
			  &t.n_entitlements, err, errlen)) < 0)
		goto out;
	r = -EINVAL;
	if (!json_object_object_get_ex(o, "policy", &pol)) {
		fail(err, errlen, "\"policy\" is missing");
		goto out;
	}
	if (!json_object_is_type(pol, json_type_object)) {
		fail(err, errlen, "\"policy\" must be an object");
		goto out;
	}
	if (!only_keys(pol, policy_keys, PT_ELEMENTSOF(policy_keys), err, errlen))
		goto out;
	if ((r = get_int(pol, "max_validity", T_MIN_VALIDITY, (int64_t)T_MAX_VALIDITY, &x, err,
			 errlen)) < 0)
		goto out;
	t.max_validity = (uint64_t)x;
	if ((r = get_int(pol, "max_sessions", 1, T_MAX_SESSIONS, &x, err, errlen)) < 0)
		goto out;
	t.max_sessions = (uint32_t)x;
	if ((r = get_strv(pol, "services", 1, T_MAX_LIST, pt_name_valid, &t.services, &t.n_services,
			  err, errlen)) < 0 ||
	    (r = get_strv(pol, "networks", 1, T_MAX_NETS, token_valid, &nets, &n_nets, err,
			  errlen)) < 0 ||
	    (r = get_strv(pol, "acr", 0, T_MAX_LIST, token_valid, &t.acr, &t.n_acr, err, errlen)) <
		    0 ||
	    (r = get_strv(pol, "amr", 0, T_MAX_LIST, token_valid, &t.amr, &t.n_amr, err, errlen)) <
		    0)
		goto out;
	t.nets = calloc(n_nets, sizeof(*t.nets));
	if (!t.nets) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_nets; i++) {
		if (strcmp(nets[i], "local") == 0) {
			t.allow_local = true;
			continue;
		}
		if (parse_cidr(nets[i], &t.nets[t.n_nets]) < 0) {
			fail(err, errlen, "\"networks\"[%zu]: \"%.64s\" is not ADDR/PREFIX", i,
			     nets[i]);
			r = -EINVAL;
			goto out;
		}
		t.n_nets++;
	}
	if (cfg)
		for (size_t i = 0; i < t.n_entitlements; i++)
			if (!pt_config_find_entitlement(cfg, t.entitlements[i])) {
				fail(err, errlen,
				     "entitlement \"%.64s\" is not defined by this host "
				     "(entitlements in tokend.conf)",
				     t.entitlements[i]);
				r = -EINVAL;
				goto out;
			}
	if (hash && (r = pt_template_hash(json, len, t.hash)) < 0)
		goto out;
	*ret = t;
	memset(&t, 0, sizeof(t));
	r = 0;
out:
	strv_free(nets, n_nets);
	free(desc);
	pt_template_clear(&t);
	json_object_put(o);
	return r;
}

int pt_template_parse_cfg(const struct pt_config *cfg, const void *json, size_t len,
			  struct pt_template *ret, char *err, size_t errlen)
{
	return parse(cfg, json, len, true, ret, err, errlen);
}

int pt_template_parse(const void *json, size_t len, struct pt_template *ret, char *err,
		      size_t errlen)
{
	return parse(NULL, json, len, true, ret, err, errlen);
}

int pt_template_check(const void *json, size_t len, char *err, size_t errlen)
{
	struct pt_template t = { 0 };
	int r = parse(NULL, json, len, false, &t, err, errlen);

	pt_template_clear(&t);
	return r;
}

/* The JWS header of a template's signature: {"alg": one accepted (never
 * none or HS*), "kid": optional string, "typ"/"cty": optional strings};
 * "crit" and "b64" refused (the payload is always the base64url of the
 * template's exact bytes), anything else ignored. */
static int sig_header(const char *h, size_t n, enum pt_extjwt_alg *ret_alg, char *kid,
		      size_t kidlen, char *err, size_t errlen)
{
	json_object *o = NULL, *v;
	int r = -EINVAL;

	if (pt_json_b64url_object(h, n, 2048, 2, &o) < 0) {
		fail(err, errlen, "the signature's header is not base64url of a JSON object");
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "crit", NULL) ||
	    json_object_object_get_ex(o, "b64", NULL)) {
		fail(err, errlen, "the signature's header has \"crit\" or \"b64\" (refused)");
		goto out;
	}
	if (!json_object_object_get_ex(o, "alg", &v) || !json_object_is_type(v, json_type_string) ||
	    (*ret_alg = pt_extjwt_alg_of(json_object_get_string(v))) == PT_EXTJWT_ALG_NONE) {
		fail(err, errlen,
		     "the signature's alg is missing or not accepted (none, HS*, unknown)");
		goto out;
	}
	kid[0] = '\0';
	if (json_object_object_get_ex(o, "kid", &v)) {
		const char *k = json_object_get_string(v);

		if (!json_object_is_type(v, json_type_string) || !k[0] ||
		    strlen(k) != (size_t)json_object_get_string_len(v) || strlen(k) >= kidlen) {
			fail(err, errlen, "the signature's kid is not a string of 1 to %zu bytes",
			     kidlen - 1);
			goto out;
		}
		snprintf(kid, kidlen, "%s", k);
	}
	r = 0;
out:
	json_object_put(o);
	return r;
}

int pt_template_sig_verify(const struct pt_issuer *is, const void *json, size_t len,
			   const char *sig, char *err, size_t errlen)
{
	char kid[PT_EXTJWT_MAX_KID + 1], *payload = NULL, *input = NULL;
	const char *d1, *d2, *end;
	const struct pt_jwk *key;
	enum pt_extjwt_alg alg = PT_EXTJWT_ALG_NONE;
	uint8_t *raw = NULL;
	size_t rawlen = 0, plen;
	int r = -EINVAL;

	if (!is || !json || !sig) {
		fail(err, errlen, "nothing to verify");
		return -EINVAL;
	}
	end = sig + strnlen(sig, PT_TEMPLATE_SIG_MAX + 1);
	d1 = strchr(sig, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (*end || !d1 || !d2 || d1 == sig || d2 + 1 == end || strchr(d2 + 1, '.')) {
		fail(err, errlen, "the signature is not a compact JWS (HEADER..SIGNATURE)");
		return -EINVAL;
	}
	if ((r = sig_header(sig, (size_t)(d1 - sig), &alg, kid, sizeof(kid), err, errlen)) < 0)
		return r;
	r = -EINVAL;
	if (!is->algs[alg]) {
		fail(err, errlen, "the signature's alg %s is not allowed for issuer %.128s",
		     pt_extjwt_alg_name(alg), is->iss);
		return -EINVAL;
	}
	payload = pt_b64url_encode(json, len);
	if (!payload)
		return -ENOMEM;
	plen = strlen(payload);
	/* detached (RFC 7515 appendix F) or the template itself as payload */
	if (d2 != d1 + 1 && ((size_t)(d2 - d1 - 1) != plen || memcmp(d1 + 1, payload, plen) != 0)) {
		fail(err, errlen, "the signature's payload is not this template");
		goto out;
	}
	if (asprintf(&input, "%.*s.%s", (int)(d1 - sig), sig, payload) < 0) {
		input = NULL;
		r = -ENOMEM;
		goto out;
	}
	if (pt_b64url_decode(d2 + 1, (size_t)(end - d2 - 1), &raw, &rawlen) < 0) {
		fail(err, errlen, "the signature part is not base64url");
		goto out;
	}
	key = pt_jwks_find(is->jwks, kid, alg);
	if (!key) {
		fail(err, errlen, "no key of issuer %.128s matches kid \"%.64s\" and alg %s",
		     is->iss, kid, pt_extjwt_alg_name(alg));
		goto out;
	}
	r = pt_jwk_verify(key, alg, input, strlen(input), raw, rawlen);
	if (r == -EKEYREJECTED) {
		fail(err, errlen, "bad signature: the template is not signed by issuer %.128s",
		     is->iss);
		r = -EKEYREJECTED;
	}
out:
	free(raw);
	free(input);
	free(payload);
	return r;
}
