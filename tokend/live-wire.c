/* SPDX-License-Identifier: MIT */
/* The privsep channel's binary form of a presented live token (live.h). */
#include "conf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "util.h"

static int put_strv(struct ptbuf *b, char *const *v, size_t n)
{
	int r;

	r = ptbuf_put_u32(b, (uint32_t)n);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = ptbuf_put_cstring(b, v[i]);
	return r;
}

/* Everything into b (a scratch buffer: a failure half-way is thrown away). */
static int put_all(struct ptbuf *b, const struct pt_live_presented *p)
{
	const struct pt_live_claims *c = &p->claims;
	size_t n_ents = c->has_entitlements ? c->n_entitlements : 0;
	int r;

	if ((r = ptbuf_put_u8(b, p->refused)) < 0 || p->refused != PT_LIVE_OK)
		return r;
	if ((r = ptbuf_put_cstring(b, p->alg)) < 0 || (r = ptbuf_put_cstring(b, p->kid)) < 0 ||
	    (r = ptbuf_put(b, p->sig, sizeof(p->sig))) < 0 ||
	    (r = ptbuf_put_cstring(b, c->iss)) < 0 || (r = ptbuf_put_cstring(b, c->sub)) < 0 ||
	    (r = ptbuf_put_cstring(b, c->aud)) < 0 || (r = ptbuf_put_u64(b, c->exp)) < 0 ||
	    (r = ptbuf_put_u64(b, c->nbf)) < 0 || (r = ptbuf_put_u64(b, c->iat)) < 0 ||
	    (r = ptbuf_put_cstring(b, c->jti)) < 0 ||
	    (r = ptbuf_put_u64(b, (uint64_t)c->uid)) < 0 ||
	    (r = ptbuf_put_u64(b, (uint64_t)c->gid)) < 0 ||
	    (r = put_strv(b, c->groups, c->n_groups)) < 0 ||
	    (r = ptbuf_put_u8(b, c->has_entitlements)) < 0 ||
	    (r = put_strv(b, c->entitlements, n_ents)) < 0 ||
	    (r = ptbuf_put_u8(b, (uint8_t)c->n_act)) < 0)
		return r;
	for (size_t i = 0; i < c->n_act; i++)
		if ((r = ptbuf_put_cstring(b, c->act[i])) < 0)
			return r;
	if ((r = ptbuf_put_u8(b, c->has_ptk)) < 0 ||
	    (r = ptbuf_put_cstring(b, c->has_ptk ? c->ptk : NULL)) < 0 ||
	    (r = ptbuf_put_cstring(b, c->svc)) < 0 || (r = ptbuf_put_cstring(b, c->tty)) < 0 ||
	    (r = ptbuf_put_cstring(b, c->rhost)) < 0 || (r = ptbuf_put_u64(b, c->auth_time)) < 0 ||
	    (r = ptbuf_put_cstring(b, c->tmpl)) < 0)
		return r;
	return 0;
}

int pt_live_wire_put(struct ptbuf *b, const struct pt_live_presented *p)
{
	struct ptbuf *t;
	int r;

	if (p->refused >= PT_LIVE_REFUSAL_MAX)
		return -EINVAL;
	if (p->refused == PT_LIVE_OK &&
	    (!memchr(p->alg, '\0', sizeof(p->alg)) || !pt_live_alg_valid(p->alg) ||
	     !memchr(p->kid, '\0', sizeof(p->kid)) || !pt_live_kid_valid(p->kid) ||
	     !pt_live_claims_valid(&p->claims)))
		return -EINVAL;
	t = ptbuf_new(ptbuf_max(b));
	if (!t)
		return -ENOMEM;
	r = put_all(t, p);
	if (r >= 0)
		r = ptbuf_len(b) + ptbuf_len(t) > ptbuf_max(b) ?
			    -EMSGSIZE :
			    ptbuf_put(b, ptbuf_ptr(t), ptbuf_len(t));
	ptbuf_free(t); /* wiped: it holds the signature */
	return r;
}

/* ------------------------------------------------------------------ get */

static int get_str(struct ptbuf_view *v, char **field)
{
	return ptbuf_view_get_cstring(v, PT_LIVE_MAX_STR, field);
}

/* "" as absent (NULL), as pt_live_claims_json writes it. */
static int get_opt(struct ptbuf_view *v, char **field)
{
	int r = get_str(v, field);

	if (r >= 0 && !**field) {
		free(*field);
		*field = NULL;
	}
	return r;
}

static int get_flag(struct ptbuf_view *v, bool *ret)
{
	uint8_t f;
	int r;

	r = ptbuf_view_get_u8(v, &f);
	if (r < 0)
		return r;
	if (f > 1)
		return -EBADMSG;
	*ret = f;
	return 0;
}

static int get_strv(struct ptbuf_view *v, char ***ret, size_t *ret_n)
{
	uint32_t n;
	char **s;
	int r;

	r = ptbuf_view_get_u32(v, &n);
	if (r < 0)
		return r;
	if (n > PT_LIVE_MAX_LIST)
		return -EBADMSG;
	s = calloc((size_t)n + 1, sizeof(char *));
	if (!s)
		return -ENOMEM;
	/* the list is the struct's as soon as it exists (freed with it) */
	*ret = s;
	for (*ret_n = 0; *ret_n < n; (*ret_n)++)
		if ((r = get_str(v, &s[*ret_n])) < 0)
			return r;
	return 0;
}

/* A string of the form ok() accepts into a fixed array. */
static int get_fixed(struct ptbuf_view *v, char *field, size_t size, bool (*ok)(const char *))
{
	_cleanup_free_ char *s = NULL;
	int r;

	r = ptbuf_view_get_cstring(v, size - 1, &s);
	if (r < 0)
		return r;
	if (!ok(s))
		return -EBADMSG;
	memcpy(field, s, strlen(s) + 1);
	return 0;
}

static int get_bytes(struct ptbuf_view *v, uint8_t *p, size_t n)
{
	if (v->len - v->off < n)
		return -EBADMSG;
	memcpy(p, v->p + v->off, n);
	v->off += n;
	return 0;
}

static int get_all(struct ptbuf_view *v, struct pt_live_presented *p)
{
	struct pt_live_claims *c = &p->claims;
	uint64_t u;
	uint8_t n_act;
	int r;

	if ((r = ptbuf_view_get_u8(v, &p->refused)) < 0)
		return r;
	if (p->refused >= PT_LIVE_REFUSAL_MAX)
		return -EBADMSG;
	if (p->refused != PT_LIVE_OK)
		return 0;
	if ((r = get_fixed(v, p->alg, sizeof(p->alg), pt_live_alg_valid)) < 0 ||
	    (r = get_fixed(v, p->kid, sizeof(p->kid), pt_live_kid_valid)) < 0 ||
	    (r = get_bytes(v, p->sig, sizeof(p->sig))) < 0 || (r = get_str(v, &c->iss)) < 0 ||
	    (r = get_str(v, &c->sub)) < 0 || (r = get_str(v, &c->aud)) < 0 ||
	    (r = ptbuf_view_get_u64(v, &c->exp)) < 0 || (r = ptbuf_view_get_u64(v, &c->nbf)) < 0 ||
	    (r = ptbuf_view_get_u64(v, &c->iat)) < 0 || (r = get_str(v, &c->jti)) < 0)
		return r;
	if ((r = ptbuf_view_get_u64(v, &u)) < 0)
		return r;
	c->uid = (int64_t)u;
	if ((r = ptbuf_view_get_u64(v, &u)) < 0)
		return r;
	c->gid = (int64_t)u;
	if ((r = get_strv(v, &c->groups, &c->n_groups)) < 0 ||
	    (r = get_flag(v, &c->has_entitlements)) < 0 ||
	    (r = get_strv(v, &c->entitlements, &c->n_entitlements)) < 0)
		return r;
	if (!c->has_entitlements && c->n_entitlements)
		return -EBADMSG;
	if ((r = ptbuf_view_get_u8(v, &n_act)) < 0)
		return r;
	if (n_act > PT_LIVE_MAX_ACT)
		return -EBADMSG;
	for (; c->n_act < n_act; c->n_act++)
		if ((r = get_str(v, &c->act[c->n_act])) < 0)
			return r;
	if ((r = get_flag(v, &c->has_ptk)) < 0 || (r = get_opt(v, &c->ptk)) < 0)
		return r;
	if (!c->has_ptk && c->ptk)
		return -EBADMSG;
	if (c->has_ptk && !c->ptk && (r = pt_live_set_str(&c->ptk, "")) < 0)
		return r;
	if ((r = get_opt(v, &c->svc)) < 0 || (r = get_opt(v, &c->tty)) < 0 ||
	    (r = get_opt(v, &c->rhost)) < 0 || (r = ptbuf_view_get_u64(v, &c->auth_time)) < 0 ||
	    (r = get_opt(v, &c->tmpl)) < 0)
		return r;
	return 0;
}

int pt_live_wire_get(struct ptbuf_view *v, struct pt_live_presented *ret)
{
	struct pt_live_presented p = { 0 };
	struct ptbuf_view w = *v;
	int r;

	r = get_all(&w, &p);
	if (r >= 0 && p.refused == PT_LIVE_OK && !pt_live_claims_valid(&p.claims))
		r = -EBADMSG; /* UTF-8 (the lengths were bounded by the reads) */
	if (r < 0) {
		pt_live_presented_clear(&p);
		return r == -ENOMEM ? r : -EBADMSG;
	}
	v->off = w.off;
	*ret = p;
	return 0;
}
