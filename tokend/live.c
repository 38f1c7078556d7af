/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "jws.h"
#include "live.h"
#include "util.h"

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void pt_live_claims_clear(struct pt_live_claims *c)
{
	if (!c)
		return;
	free(c->iss);
	free(c->sub);
	free(c->aud);
	free(c->jti);
	strv_free(c->groups, c->n_groups);
	strv_free(c->entitlements, c->n_entitlements);
	for (size_t i = 0; i < c->n_act; i++)
		free(c->act[i]);
	free(c->ptk);
	free(c->svc);
	free(c->tty);
	free(c->rhost);
	memset(c, 0, sizeof(*c));
}

int pt_live_set_str(char **field, const char *s)
{
	char *d = NULL;

	if (s && !(d = strdup(s)))
		return -ENOMEM;
	free(*field);
	*field = d;
	return 0;
}

int pt_live_set_strv(char ***field, size_t *n, char *const *v, size_t count)
{
	char **d = calloc(count + 1, sizeof(char *));

	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++)
		if (!(d[i] = strdup(v[i]))) {
			strv_free(d, i);
			return -ENOMEM;
		}
	strv_free(*field, *n);
	*field = d;
	*n = count;
	return 0;
}

int pt_live_new_jti(struct pt_live_claims *c)
{
	uint8_t rnd[16];
	char *jti;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	jti = pt_b64url_encode(rnd, sizeof(rnd));
	if (!jti)
		return -ENOMEM;
	free(c->jti);
	c->jti = jti;
	return 0;
}

/* ------------------------------------------------------------------ JSON */

static int add(json_object *o, const char *key, json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static json_object *str_or_empty(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static int add_strv(json_object *o, const char *key, char *const *v, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_new_string(v[i]);
		if (!s || json_object_array_add(a, s) < 0) {
			json_object_put(s);
			json_object_put(a);
			return -ENOMEM;
		}
	}
	return add(o, key, a);
}

/* The actor chain from index i outwards: {"sub": act[i], "act": {...}}. */
static json_object *act_chain(const struct pt_live_claims *c, size_t i)
{
	json_object *a = json_object_new_object(), *inner;

	if (!a)
		return NULL;
	if (add(a, "sub", str_or_empty(c->act[i])) < 0)
		goto fail;
	if (i + 1 < c->n_act) {
		inner = act_chain(c, i + 1);
		if (!inner || add(a, "act", inner) < 0)
			goto fail;
	}
	return a;
fail:
	json_object_put(a);
	return NULL;
}

static int claims_object(const struct pt_live_claims *c, json_object **ret)
{
	json_object *o = json_object_new_object();
	int r = 0;

	if (!o)
		return -ENOMEM;
	/* the order is the signing input's: never reorder */
	if (r >= 0)
		r = add(o, "iss", str_or_empty(c->iss));
	if (r >= 0)
		r = add(o, "sub", str_or_empty(c->sub));
	if (r >= 0)
		r = add(o, "aud", str_or_empty(c->aud));
	if (r >= 0)
		r = add(o, "exp", json_object_new_int64((int64_t)c->exp));
	if (r >= 0)
		r = add(o, "nbf", json_object_new_int64((int64_t)c->nbf));
	if (r >= 0)
		r = add(o, "iat", json_object_new_int64((int64_t)c->iat));
	if (r >= 0)
		r = add(o, "jti", str_or_empty(c->jti));
	if (r >= 0)
		r = add(o, "uid", json_object_new_int64(c->uid));
	if (r >= 0)
		r = add(o, "gid", json_object_new_int64(c->gid));
	if (r >= 0)
		r = add_strv(o, "groups", c->groups, c->n_groups);
	if (r >= 0 && c->has_entitlements)
		r = add_strv(o, "entitlements", c->entitlements, c->n_entitlements);
	if (r >= 0 && c->n_act)
		r = add(o, "act", act_chain(c, 0));
	if (r >= 0 && c->has_ptk)
		r = add(o, "ptk", str_or_empty(c->ptk));
	if (r >= 0 && c->svc && *c->svc)
		r = add(o, "svc", json_object_new_string(c->svc));
	if (r >= 0 && c->tty && *c->tty)
		r = add(o, "tty", json_object_new_string(c->tty));
	if (r >= 0 && c->rhost && *c->rhost)
		r = add(o, "rhost", json_object_new_string(c->rhost));
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*ret = o;
	return 0;
}

int pt_live_claims_json(const struct pt_live_claims *c, bool pretty, char **ret)
{
	json_object *o = NULL;
	const char *s;
	char *d;
	int r;

	r = claims_object(c, &o);
	if (r < 0)
		return r;
	s = json_object_to_json_string_ext(o, pretty ? JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE :
						       JSON_C_TO_STRING_PLAIN);
	d = s ? strdup(s) : NULL;
	json_object_put(o);
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 0;
}

int pt_live_sign(const struct pt_keys *keys, const char *alg, const struct pt_live_claims *c,
		 char **ret_token)
{
	char *json = NULL;
	int r;

	r = pt_live_claims_json(c, false, &json);
	if (r < 0)
		return r;
	r = pt_jws_sign(keys->sign, alg, PT_LIVE_TYP, keys->kid, json, ret_token);
	free(json);
	return r;
}

/* ------------------------------------------------------------- verifying */

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static bool get_int(json_object *o, const char *key, int64_t *ret)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

/* An array of strings (other members are skipped, as before the struct). */
static int get_strv(json_object *o, const char *key, bool *ret_has, char ***ret, size_t *ret_n)
{
	json_object *a;
	size_t n, k = 0;
	char **v;

	*ret_has = false;
	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
		return 0;
	n = json_object_array_length(a);
	v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(a, i);

		if (!json_object_is_type(s, json_type_string))
			continue;
		if (!(v[k] = strdup(json_object_get_string(s)))) {
			strv_free(v, k);
			return -ENOMEM;
		}
		k++;
	}
	*ret_has = true;
	*ret = v;
	*ret_n = k;
	return 0;
}

static int fill(json_object *o, struct pt_live_claims *c)
{
	json_object *act;
	int64_t t;
	bool has;
	int r;

	if ((r = pt_live_set_str(&c->iss, get_str(o, "iss"))) < 0 ||
	    (r = pt_live_set_str(&c->sub, get_str(o, "sub"))) < 0 ||
	    (r = pt_live_set_str(&c->aud, get_str(o, "aud"))) < 0 ||
	    (r = pt_live_set_str(&c->jti, get_str(o, "jti"))) < 0 ||
	    (r = pt_live_set_str(&c->svc, get_str(o, "svc"))) < 0 ||
	    (r = pt_live_set_str(&c->tty, get_str(o, "tty"))) < 0 ||
	    (r = pt_live_set_str(&c->rhost, get_str(o, "rhost"))) < 0)
		return r;
	c->has_ptk = json_object_object_get_ex(o, "ptk", NULL);
	if ((r = pt_live_set_str(&c->ptk, get_str(o, "ptk"))) < 0)
		return r;
	if (get_int(o, "exp", &t))
		c->exp = (uint64_t)t;
	if (get_int(o, "nbf", &t))
		c->nbf = (uint64_t)t;
	if (get_int(o, "iat", &t))
		c->iat = (uint64_t)t;
	get_int(o, "uid", &c->uid);
	get_int(o, "gid", &c->gid);
	if ((r = get_strv(o, "groups", &has, &c->groups, &c->n_groups)) < 0 ||
	    (r = get_strv(o, "entitlements", &c->has_entitlements, &c->entitlements,
			  &c->n_entitlements)) < 0)
		return r;
	for (act = o; c->n_act < PT_LIVE_MAX_ACT;) {
		const char *s;

		if (!json_object_object_get_ex(act, "act", &act) ||
		    !json_object_is_type(act, json_type_object) || !(s = get_str(act, "sub")))
			break;
		if (!(c->act[c->n_act] = strdup(s)))
			return -ENOMEM;
		c->n_act++;
	}
	return 0;
}

int pt_live_verify(const struct pt_keys *keys, const char *audience, const char *token,
		   uint64_t now, struct pt_live_claims *ret, const char **ret_why)
{
	struct pt_live_claims c = { 0 };
	json_object *o = NULL;
	_cleanup_free_ char *kid = NULL;
	int64_t v;
	const char *s;
	int r;

	r = pt_keys_verify(keys, token, PT_LIVE_TYP, now, (void **)&o, &kid);
	if (r < 0) {
		*ret_why = r == -EKEYREJECTED ? "bad signature" :
			   r == -EPROTOTYPE   ? "not a live token" :
			   r == -ENOTSUP      ? "unsupported alg" :
						"malformed token";
		return -EINVAL;
	}
	*ret_why = NULL;
	if (!kid)
		*ret_why = "signed by another key";
	else if (!(s = get_str(o, "aud")) || strcmp(s, audience) != 0)
		*ret_why = "wrong audience";
	else if (!get_int(o, "exp", &v) || (uint64_t)v <= now)
		*ret_why = "expired";
	else if (!get_int(o, "nbf", &v) || v > (int64_t)(now + PT_LIVE_SKEW))
		*ret_why = "not yet valid";
	else if (!get_str(o, "sub") || !get_int(o, "uid", &v))
		*ret_why = "missing sub or uid";
	if (*ret_why) {
		json_object_put(o);
		return -EINVAL;
	}
	r = fill(o, &c);
	json_object_put(o);
	if (r < 0) {
		pt_live_claims_clear(&c);
		*ret_why = "out of memory";
		return r;
	}
	*ret = c;
	return 0;
}
