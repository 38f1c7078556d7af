/* SPDX-License-Identifier: MIT */
/* Persistable-token records and their JSON form, see record.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "ptjson.h"
#include "record.h"
#include "util.h"

#define MAX_GROUPS 4096
#define MAX_GROUP_NAME 255
#define MAX_GECOS 1024
#define MAX_PATH_FIELD 4096
#define MAX_SHORT_FIELD 255
#define RECORD_VERSION 1

int pt_record_new_id_prefixed(const char *prefix, char ret[PT_ID_LEN])
{
	uint8_t b[16];
	char *s;

	if (!ret || !prefix || strlen(prefix) != 3)
		return -EINVAL;
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	s = pt_b64url_encode(b, sizeof(b));
	if (!s)
		return -ENOMEM;
	if (strlen(s) != PT_ID_LEN - 4) {
		free(s);
		return -EIO;
	}
	memcpy(ret, prefix, 3);
	memcpy(ret + 3, s, PT_ID_LEN - 3); /* 22 chars + NUL */
	free(s);
	return 0;
}

int pt_record_new_id(char ret[PT_ID_LEN])
{
	return pt_record_new_id_prefixed("pt_", ret);
}

static void free_str(char **s)
{
	pt_free_secret(*s);
	*s = NULL;
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		pt_free_secret(v[i]);
	free(v);
}

static void free_chain(struct pt_record *r)
{
	for (size_t i = 0; i < r->n_chain; i++) {
		free_str(&r->chain[i].holder);
		free_str(&r->chain[i].by);
	}
	free(r->chain);
	r->chain = NULL;
	r->n_chain = 0;
}

/* The strings and lists of a record that is not packed. */
static void free_fields(struct pt_record *r)
{
	free_str(&r->user);
	free_strv(r->groups, r->n_groups);
	free_str(&r->gecos);
	free_str(&r->home);
	free_str(&r->shell);
	free_str(&r->holder);
	free_str(&r->actor);
	free_str(&r->service);
	free_str(&r->tty);
	free_str(&r->rhost);
	free_str(&r->source_jti);
	free_strv(r->entitlements, r->n_entitlements);
}

void pt_record_free(struct pt_record *r)
{
	if (!r)
		return;
	/* never in the pack (record.h) */
	free_str(&r->refusal_rule);
	free_str(&r->refusal_reason);
	free_chain(r);
	if (r->pack) {
		pt_wipe(r->pack, r->pack_len);
		if (r->pack != (void *)(r + 1))
			free(r->pack);
		pt_wipe(r, sizeof(*r));
		free(r);
		return;
	}
	free_fields(r);
	pt_wipe(r, sizeof(*r));
	free(r);
}

/* The string fields, in one place for the packer. */
#define N_STR_FIELDS 10
static char **str_fields(struct pt_record *r, char **f[N_STR_FIELDS])
{
	f[0] = &r->user;
	f[1] = &r->gecos;
	f[2] = &r->home;
	f[3] = &r->shell;
	f[4] = &r->holder;
	f[5] = &r->actor;
	f[6] = &r->service;
	f[7] = &r->tty;
	f[8] = &r->rhost;
	f[9] = &r->source_jti;
	return f[0];
}

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

/* Bytes of the block for r's strings and lists (pointer arrays first, so
 * that they are aligned when the block is). */
static size_t pack_size(struct pt_record *r)
{
	char **f[N_STR_FIELDS];
	size_t n = (r->n_groups + 1 + r->n_entitlements + 1) * sizeof(char *);

	str_fields(r, f);
	for (size_t i = 0; i < N_STR_FIELDS; i++)
		n += str_size(*f[i]);
	for (size_t i = 0; i < r->n_groups; i++)
		n += str_size(r->groups[i]);
	for (size_t i = 0; i < r->n_entitlements; i++)
		n += str_size(r->entitlements[i]);
	return n;
}

static char *pack_str(char **p, const char *s)
{
	size_t n = str_size(s);
	char *d = *p;

	if (!s)
		return NULL;
	memcpy(d, s, n);
	*p += n;
	return d;
}

/* Points dst's strings and lists (copies of src's) into block. */
static void pack_into(struct pt_record *dst, struct pt_record *src, void *block, size_t len)
{
	char **g = block, **e = g + src->n_groups + 1, *p = (char *)(e + src->n_entitlements + 1);
	char **sf[N_STR_FIELDS], **df[N_STR_FIELDS];

	str_fields(src, sf);
	str_fields(dst, df);
	for (size_t i = 0; i < N_STR_FIELDS; i++)
		*df[i] = pack_str(&p, *sf[i]);
	for (size_t i = 0; i < src->n_groups; i++)
		g[i] = pack_str(&p, src->groups[i]);
	g[src->n_groups] = NULL;
	for (size_t i = 0; i < src->n_entitlements; i++)
		e[i] = pack_str(&p, src->entitlements[i]);
	e[src->n_entitlements] = NULL;
	dst->groups = src->groups ? g : NULL;
	dst->entitlements = src->entitlements ? e : NULL;
	dst->pack = block;
	dst->pack_len = len;
}

int pt_record_compact(struct pt_record *r)
{
	struct pt_record old;
	size_t len;
	void *block;

	if (!r)
		return -EINVAL;
	if (r->pack)
		return 0;
	len = pack_size(r);
	block = malloc(len);
	if (!block)
		return -ENOMEM;
	old = *r;
	pack_into(r, &old, block, len);
	/* the old strings: freed as pt_record_free would */
	free_fields(&old);
	pt_wipe(&old, sizeof(old));
	return 0;
}

/* dst->chain: a copy of src's (dst has none). 0 or -ENOMEM (dst has none). */
static int chain_copy(struct pt_record *dst, const struct pt_record *src)
{
	if (src->n_chain == 0)
		return 0;
	dst->chain = calloc(src->n_chain, sizeof(*dst->chain));
	if (!dst->chain)
		return -ENOMEM;
	for (size_t i = 0; i < src->n_chain; i++) {
		dst->n_chain = i + 1; /* so that free_chain frees what was copied */
		dst->chain[i].at = src->chain[i].at;
		dst->chain[i].holder = strdup(src->chain[i].holder);
		dst->chain[i].by = strdup(src->chain[i].by);
		if (!dst->chain[i].holder || !dst->chain[i].by) {
			free_chain(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

int pt_record_compact_copy(const struct pt_record *r, struct pt_record **ret)
{
	struct pt_record *c;
	size_t len;

	if (!r || !ret)
		return -EINVAL;
	len = pack_size((struct pt_record *)r);
	c = malloc(sizeof(*c) + len);
	if (!c)
		return -ENOMEM;
	*c = *r;
	c->refusal_rule = r->refusal_rule ? strdup(r->refusal_rule) : NULL;
	c->refusal_reason = r->refusal_reason ? strdup(r->refusal_reason) : NULL;
	c->chain = NULL;
	c->n_chain = 0;
	if ((r->refusal_rule && !c->refusal_rule) || (r->refusal_reason && !c->refusal_reason) ||
	    chain_copy(c, r) < 0) {
		free(c->refusal_rule);
		free(c->refusal_reason);
		free_chain(c);
		free(c);
		return -ENOMEM;
	}
	pack_into(c, (struct pt_record *)r, c + 1, len);
	*ret = c;
	return 0;
}

bool pt_record_id_valid(const char *id)
{
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	bool ok;

	if (!id || strnlen(id, PT_ID_LEN) != PT_ID_LEN - 1 || strncmp(id, "pt_", 3) != 0)
		return false;
	if (pt_b64url_decode(id + 3, PT_ID_LEN - 4, &raw, &rawlen) < 0)
		return false;
	ok = rawlen == 16;
	free(raw);
	return ok;
}

/* No control characters (UTF-8 and other bytes >= 0x80 are fine). */
static bool text_valid(const char *s, size_t max, bool allow_empty)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= max || c < 0x20 || c == 0x7f)
			return false;
	}
	return allow_empty || n > 0;
}

static bool u64_ok(uint64_t v)
{
	return v <= (uint64_t)INT64_MAX;
}

bool pt_record_valid(const struct pt_record *r)
{
	if (!pt_record_id_valid(r->id) || !pt_name_valid(r->user) || !pt_name_valid(r->holder) ||
	    !pt_name_valid(r->actor))
		return false;
	if (r->uid == (uid_t)-1 || r->gid == (gid_t)-1)
		return false;
	if (r->n_groups > MAX_GROUPS || (r->n_groups && !r->groups))
		return false;
	for (size_t i = 0; i < r->n_groups; i++)
		if (!text_valid(r->groups[i], MAX_GROUP_NAME, false))
			return false;
	if (r->n_entitlements > MAX_GROUPS || (r->n_entitlements && !r->entitlements))
		return false;
	for (size_t i = 0; i < r->n_entitlements; i++)
		if (!pt_name_valid(r->entitlements[i]))
			return false;
	if ((r->gecos && !text_valid(r->gecos, MAX_GECOS, true)) ||
	    (r->home && !text_valid(r->home, MAX_PATH_FIELD, true)) ||
	    (r->shell && !text_valid(r->shell, MAX_PATH_FIELD, true)))
		return false;
	if ((r->service && !text_valid(r->service, MAX_SHORT_FIELD, true)) ||
	    (r->tty && !text_valid(r->tty, MAX_SHORT_FIELD, true)) ||
	    (r->rhost && !text_valid(r->rhost, MAX_SHORT_FIELD, true)) ||
	    (r->source_jti && !text_valid(r->source_jti, MAX_SHORT_FIELD, true)))
		return false;
	if (!u64_ok(r->iat) || !u64_ok(r->exp) || !u64_ok(r->last_used) || r->exp < r->iat)
		return false;
	if (!u64_ok(r->refused_at) || (r->refusal_rule && !pt_name_valid(r->refusal_rule)) ||
	    (r->refusal_reason && !text_valid(r->refusal_reason, PT_REFUSAL_REASON_MAX, true)))
		return false;
	if (r->n_chain > PT_MAX_DELEGATIONS || (r->n_chain && !r->chain))
		return false;
	for (size_t i = 0; i < r->n_chain; i++)
		if (!pt_name_valid(r->chain[i].holder) || !pt_name_valid(r->chain[i].by) ||
		    !u64_ok(r->chain[i].at))
			return false;
	return true;
}

int pt_record_delegate(struct pt_record *r, const char *new_holder, const char *by, uint64_t at)
{
	struct pt_delegation *chain;
	char *holder, *who;

	if (!r || r->pack || !pt_name_valid(new_holder) || !pt_name_valid(by) || !u64_ok(at))
		return -EINVAL;
	if (r->n_chain >= PT_MAX_DELEGATIONS)
		return -E2BIG;
	chain = reallocarray(r->chain, r->n_chain + 1, sizeof(*chain));
	if (!chain)
		return -ENOMEM;
	r->chain = chain;
	holder = strdup(new_holder);
	who = strdup(by);
	if (!holder || !who) {
		free(holder);
		free(who);
		return -ENOMEM;
	}
	/* the old holder's string moves into the chain */
	chain[r->n_chain] = (struct pt_delegation){ .holder = r->holder, .by = who, .at = at };
	r->n_chain++;
	r->holder = holder;
	return 0;
}

int pt_record_copy(const struct pt_record *r, struct pt_record **ret)
{
	struct pt_record *c = NULL;
	char *json = NULL;
	int rc;

	if (!r || !ret)
		return -EINVAL;
	rc = pt_record_to_json(r, &json);
	if (rc < 0)
		return rc;
	rc = pt_record_from_json(json, strlen(json), &c);
	pt_free_secret(json);
	if (rc < 0)
		return rc;
	/* memory only, not in the JSON */
	c->dead_since_ms = r->dead_since_ms;
	*ret = c;
	return 0;
}

int pt_record_set_refusal(struct pt_record *r, uint64_t at, uint32_t refusals, const char *rule,
			  const char *reason)
{
	char *nrule = NULL, *nreason;
	size_t n;

	if (!r || !reason)
		return -EINVAL;
	if (rule && *rule && !pt_name_valid(rule))
		rule = NULL;
	if (rule && *rule && !(nrule = strdup(rule)))
		return -ENOMEM;
	n = strnlen(reason, PT_REFUSAL_REASON_MAX - 1);
	/* cut at a character boundary (a UTF-8 continuation byte is 10xxxxxx) */
	if (reason[n])
		while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
			n--;
	nreason = strndup(reason, n);
	if (!nreason) {
		free(nrule);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)nreason[i] < 0x20 || nreason[i] == 0x7f)
			nreason[i] = '?';
	free_str(&r->refusal_rule);
	free_str(&r->refusal_reason);
	r->refusal_rule = nrule;
	r->refusal_reason = nreason;
	r->refused_at = at;
	r->refusals = refusals;
	return 0;
}

static int add_str(json_object *o, const char *key, const char *v, bool nullable)
{
	json_object *s;

	if (!v && nullable)
		return json_object_object_add(o, key, NULL) == 0 ? 0 : -ENOMEM;
	s = json_object_new_string(v ? v : "");
	if (!s)
		return -ENOMEM;
	if (json_object_object_add(o, key, s) != 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

static int add_int(json_object *o, const char *key, int64_t v)
{
	json_object *i = json_object_new_int64(v);

	if (!i)
		return -ENOMEM;
	if (json_object_object_add(o, key, i) != 0) {
		json_object_put(i);
		return -ENOMEM;
	}
	return 0;
}

/* "delegations": [{"holder", "by", "at"}...]; nothing is added on failure */
static int add_chain(json_object *o, const struct pt_record *r)
{
	json_object *a = json_object_new_array_ext((int)r->n_chain);

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_chain; i++) {
		json_object *e = json_object_new_object();

		if (!e || json_object_array_add(a, e) != 0) {
			json_object_put(e);
			json_object_put(a);
			return -ENOMEM;
		}
		if (add_str(e, "holder", r->chain[i].holder, false) < 0 ||
		    add_str(e, "by", r->chain[i].by, false) < 0 ||
		    add_int(e, "at", (int64_t)r->chain[i].at) < 0) {
			json_object_put(a);
			return -ENOMEM;
		}
	}
	if (json_object_object_add(o, "delegations", a) != 0) {
		json_object_put(a);
		return -ENOMEM;
	}
	return 0;
}

/* key: [v...]; nothing is added on failure */
static int add_strv(json_object *o, const char *key, char *const *v, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_new_string(v[i]);
		if (!e || json_object_array_add(a, e) != 0) {
			json_object_put(e);
			json_object_put(a);
			return -ENOMEM;
		}
	}
	if (json_object_object_add(o, key, a) != 0) {
		json_object_put(a);
		return -ENOMEM;
	}
	return 0;
}

int pt_record_to_json(const struct pt_record *r, char **ret)
{
	json_object *o = NULL;
	const char *s;
	char *out;
	int rc = -ENOMEM;

	if (!r || !ret)
		return -EINVAL;
	if (!pt_record_valid(r))
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	if (add_int(o, "v", RECORD_VERSION) < 0 || add_str(o, "id", r->id, false) < 0 ||
	    add_str(o, "user", r->user, false) < 0 || add_int(o, "uid", (int64_t)r->uid) < 0 ||
	    add_int(o, "gid", (int64_t)r->gid) < 0)
		goto out;
	if (add_strv(o, "groups", r->groups, r->n_groups) < 0 ||
	    (r->n_entitlements > 0 &&
	     add_strv(o, "entitlements", r->entitlements, r->n_entitlements) < 0))
		goto out;
	if (add_str(o, "gecos", r->gecos, false) < 0 || add_str(o, "home", r->home, false) < 0 ||
	    add_str(o, "shell", r->shell, false) < 0 ||
	    add_str(o, "holder", r->holder, false) < 0 ||
	    add_str(o, "actor", r->actor, false) < 0 ||
	    add_str(o, "service", r->service, true) < 0 || add_str(o, "tty", r->tty, true) < 0 ||
	    add_str(o, "rhost", r->rhost, true) < 0 ||
	    add_str(o, "source_jti", r->source_jti, true) < 0 ||
	    add_int(o, "iat", (int64_t)r->iat) < 0 || add_int(o, "exp", (int64_t)r->exp) < 0 ||
	    add_int(o, "last_used", (int64_t)r->last_used) < 0 ||
	    add_int(o, "uses", (int64_t)r->uses) < 0)
		goto out;
	/* only once refused: the records of tokens never refused stay as before */
	if (r->refusals > 0 &&
	    (add_int(o, "refusals", (int64_t)r->refusals) < 0 ||
	     add_int(o, "refused_at", (int64_t)r->refused_at) < 0 ||
	     add_str(o, "refusal_rule", r->refusal_rule, true) < 0 ||
	     add_str(o, "refusal_reason", r->refusal_reason ? r->refusal_reason : "", false) < 0))
		goto out;
	/* only once delegated: the records of others stay as before */
	if (r->n_chain > 0 && add_chain(o, r) < 0)
		goto out;
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		goto out;
	out = strdup(s);
	if (!out)
		goto out;
	*ret = out;
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

enum field_kind {
	F_STR,
	F_NSTR,
	F_NAME,
	F_INT,
	F_GROUPS,
	F_ENTITLEMENTS, /* optional */
	F_ID,
	F_VERSION,
	F_OPT_INT, /* optional (the last refusal: older records have none) */
	F_OPT_NAME,
	F_OPT_STR,
	F_CHAIN, /* optional: the delegations */
};

static const struct field {
	const char *key;
	enum field_kind kind;
	size_t max; /* strings: max length; ints: max value */
} fields[] = {
	{ "v", F_VERSION, 0 },
	{ "id", F_ID, 0 },
	{ "user", F_NAME, 0 },
	{ "uid", F_INT, UINT32_MAX - 1 },
	{ "gid", F_INT, UINT32_MAX - 1 },
	{ "groups", F_GROUPS, 0 },
	{ "gecos", F_STR, MAX_GECOS },
	{ "home", F_STR, MAX_PATH_FIELD },
	{ "shell", F_STR, MAX_PATH_FIELD },
	{ "holder", F_NAME, 0 },
	{ "actor", F_NAME, 0 },
	{ "service", F_NSTR, MAX_SHORT_FIELD },
	{ "tty", F_NSTR, MAX_SHORT_FIELD },
	{ "rhost", F_NSTR, MAX_SHORT_FIELD },
	{ "source_jti", F_NSTR, MAX_SHORT_FIELD },
	{ "iat", F_INT, INT64_MAX },
	{ "exp", F_INT, INT64_MAX },
	{ "last_used", F_INT, INT64_MAX },
	{ "uses", F_INT, UINT32_MAX },
	{ "entitlements", F_ENTITLEMENTS, 0 },
	{ "refusals", F_OPT_INT, UINT32_MAX },
	{ "refused_at", F_OPT_INT, INT64_MAX },
	{ "refusal_rule", F_OPT_NAME, 0 },
	{ "refusal_reason", F_OPT_STR, PT_REFUSAL_REASON_MAX },
	{ "delegations", F_CHAIN, PT_MAX_DELEGATIONS },
};

static bool field_optional(enum field_kind k)
{
	return k == F_ENTITLEMENTS || k == F_OPT_INT || k == F_OPT_NAME || k == F_OPT_STR ||
	       k == F_CHAIN;
}

/* The C string of a JSON string, refusing embedded NULs. */
static const char *json_cstr(json_object *v)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (!s || strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}

static int json_uint(json_object *v, uint64_t max, uint64_t *ret)
{
	int64_t i;
	uint64_t u;

	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	i = json_object_get_int64(v);
	if (i < 0)
		return -EINVAL;
	u = json_object_get_uint64(v);
	if (u > max || (i != INT64_MAX && (uint64_t)i != u))
		return -EINVAL;
	*ret = u;
	return 0;
}

static int dup_str(const char *s, char **ret)
{
	char *c = strdup(s);

	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

/* One delegation: exactly the keys holder, by (names) and at. */
static int set_delegation(struct pt_delegation *d, json_object *v)
{
	const char *holder = NULL, *by = NULL;
	bool have_at = false;
	uint64_t at = 0;

	if (!json_object_is_type(v, json_type_object) || json_object_object_length(v) != 3)
		return -EINVAL;
	{
		json_object_object_foreach(v, key, val)
		{
			if (strcmp(key, "holder") == 0)
				holder = json_cstr(val);
			else if (strcmp(key, "by") == 0)
				by = json_cstr(val);
			else if (strcmp(key, "at") == 0 && json_uint(val, INT64_MAX, &at) == 0)
				have_at = true;
			else
				return -EINVAL;
		}
	}
	if (!holder || !by || !have_at || !pt_name_valid(holder) || !pt_name_valid(by))
		return -EINVAL;
	d->at = at;
	if (dup_str(holder, &d->holder) < 0 || dup_str(by, &d->by) < 0)
		return -ENOMEM;
	return 0;
}

static int set_chain(struct pt_record *r, json_object *v, size_t max)
{
	size_t n;
	int rc;

	if (!json_object_is_type(v, json_type_array))
		return -EINVAL;
	n = json_object_array_length(v);
	/* an empty list is never written: not accepted either */
	if (n == 0 || n > max)
		return -EINVAL;
	r->chain = calloc(n, sizeof(*r->chain));
	if (!r->chain)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r->n_chain = i + 1; /* so that free_chain frees what was decoded */
		rc = set_delegation(&r->chain[i], json_object_array_get_idx(v, i));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int set_field(struct pt_record *r, const struct field *f, json_object *v)
{
	const char *s = NULL;
	uint64_t u;
	int rc;

	switch (f->kind) {
	case F_CHAIN:
		return set_chain(r, v, f->max);
	case F_OPT_INT:
		rc = json_uint(v, f->max, &u);
		if (rc < 0)
			return rc;
		if (strcmp(f->key, "refusals") == 0)
			r->refusals = (uint32_t)u;
		else
			r->refused_at = u;
		return 0;
	case F_OPT_NAME:
		if (json_object_is_type(v, json_type_null))
			return 0;
		s = json_cstr(v);
		if (!s || !pt_name_valid(s))
			return -EINVAL;
		return dup_str(s, &r->refusal_rule);
	case F_OPT_STR:
		s = json_cstr(v);
		if (!s || !text_valid(s, f->max, true))
			return -EINVAL;
		return dup_str(s, &r->refusal_reason);
	case F_VERSION:
		if (json_uint(v, RECORD_VERSION, &u) < 0 || u != RECORD_VERSION)
			return -EINVAL;
		return 0;
	case F_ID:
		s = json_cstr(v);
		if (!s || !pt_record_id_valid(s))
			return -EINVAL;
		memcpy(r->id, s, PT_ID_LEN);
		return 0;
	case F_NAME:
		s = json_cstr(v);
		if (!s || !pt_name_valid(s))
			return -EINVAL;
		break;
	case F_NSTR:
		if (json_object_is_type(v, json_type_null))
			return 0;
		/* fall through */
	case F_STR:
		s = json_cstr(v);
		if (!s || !text_valid(s, f->max, true))
			return -EINVAL;
		break;
	case F_INT:
		rc = json_uint(v, f->max, &u);
		if (rc < 0)
			return rc;
		if (strcmp(f->key, "uid") == 0)
			r->uid = (uid_t)u;
		else if (strcmp(f->key, "gid") == 0)
			r->gid = (gid_t)u;
		else if (strcmp(f->key, "iat") == 0)
			r->iat = u;
		else if (strcmp(f->key, "exp") == 0)
			r->exp = u;
		else if (strcmp(f->key, "last_used") == 0)
			r->last_used = u;
		else
			r->uses = (uint32_t)u;
		return 0;
	case F_GROUPS: {
		size_t n;

		if (!json_object_is_type(v, json_type_array))
			return -EINVAL;
		n = json_object_array_length(v);
		if (n > MAX_GROUPS)
			return -EINVAL;
		r->groups = calloc(n + 1, sizeof(char *));
		if (!r->groups)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const char *g = json_cstr(json_object_array_get_idx(v, i));
			if (!g || !text_valid(g, MAX_GROUP_NAME, false))
				return -EINVAL;
			rc = dup_str(g, &r->groups[i]);
			if (rc < 0)
				return rc;
			r->n_groups++;
		}
		return 0;
	}
	case F_ENTITLEMENTS: {
		size_t n;

		if (!json_object_is_type(v, json_type_array))
			return -EINVAL;
		n = json_object_array_length(v);
		if (n > MAX_GROUPS)
			return -EINVAL;
		r->entitlements = calloc(n + 1, sizeof(char *));
		if (!r->entitlements)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const char *e = json_cstr(json_object_array_get_idx(v, i));
			if (!e || !pt_name_valid(e))
				return -EINVAL;
			rc = dup_str(e, &r->entitlements[i]);
			if (rc < 0)
				return rc;
			r->n_entitlements++;
		}
		return 0;
	}
	}
	if (!s)
		return -EINVAL;

	{
		char **dst = strcmp(f->key, "user") == 0    ? &r->user :
			     strcmp(f->key, "holder") == 0  ? &r->holder :
			     strcmp(f->key, "actor") == 0   ? &r->actor :
			     strcmp(f->key, "gecos") == 0   ? &r->gecos :
			     strcmp(f->key, "home") == 0    ? &r->home :
			     strcmp(f->key, "shell") == 0   ? &r->shell :
			     strcmp(f->key, "service") == 0 ? &r->service :
			     strcmp(f->key, "tty") == 0	    ? &r->tty :
			     strcmp(f->key, "rhost") == 0   ? &r->rhost :
							      &r->source_jti;
		if (*dst)
			return -EINVAL;
		return dup_str(s, dst);
	}
}

int pt_record_from_json(const char *json, size_t len, struct pt_record **ret)
{
	json_object *o = NULL;
	struct pt_record *r = NULL;
	bool seen[PT_ELEMENTSOF(fields)] = { 0 };
	int rc;

	if (!ret)
		return -EINVAL;
	rc = pt_json_parse_unique(json, len, PT_RECORD_JSON_MAX, 4, &o);
	if (rc < 0)
		return rc;
	rc = -EINVAL;
	if (!json_object_is_type(o, json_type_object))
		goto out;

	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	{
		json_object_object_foreach(o, key, val)
		{
			size_t i;

			for (i = 0; i < PT_ELEMENTSOF(fields); i++)
				if (strcmp(fields[i].key, key) == 0)
					break;
			if (i == PT_ELEMENTSOF(fields) || seen[i]) {
				rc = -EINVAL;
				goto out;
			}
			seen[i] = true;
			rc = set_field(r, &fields[i], val);
			if (rc < 0)
				goto out;
		}
	}
	rc = -EINVAL;
	for (size_t i = 0; i < PT_ELEMENTSOF(fields); i++)
		if (!seen[i] && !field_optional(fields[i].kind))
			goto out;
	if (!pt_record_valid(r))
		goto out;
	*ret = r;
	r = NULL;
	rc = 0;
out:
	pt_record_free(r);
	json_object_put(o);
	return rc;
}
