/* SPDX-License-Identifier: MIT */
/* The tokend wire protocol: frame splitting, strict encoding and decoding. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "util.h"

/* Smallest encoding of one PT_LIST entry: 4 empty strings, 2 u32, 3 u64. */
#define PT_LIST_ENTRY_MIN (4 * 4 + 2 * 4 + 3 * 8)

int pt_frame_split(const uint8_t *p, size_t n, size_t max_frame, uint8_t *ret_type,
		   const uint8_t **ret_payload, size_t *ret_len, size_t *ret_consumed)
{
	uint32_t len;

	if (n < 4)
		return -EAGAIN;
	len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
	if (len == 0)
		return -EBADMSG;
	if (len > max_frame)
		return -EMSGSIZE;
	if (n - 4 < len)
		return -EAGAIN;
	*ret_type = p[4];
	*ret_payload = p + 5;
	*ret_len = (size_t)len - 1;
	*ret_consumed = 4 + (size_t)len;
	return 0;
}

/* ------------------------------------------------------------------ encode */

static int put_str(struct ptbuf *b, const char *s, size_t max)
{
	if (s && strlen(s) > max)
		return -EMSGSIZE;
	return ptbuf_put_cstring(b, s);
}

/* Wraps the payload in a frame and appends it to out, all or nothing. */
static int append_frame(struct ptbuf *out, uint8_t type, const struct ptbuf *payload)
{
	size_t len = ptbuf_len(payload);
	uint8_t *q;
	int r;

	if (len + 1 > PT_MAX_FRAME)
		return -EMSGSIZE;
	r = ptbuf_reserve(out, 5 + len, &q);
	if (r < 0)
		return r;
	q[0] = (uint8_t)((len + 1) >> 24);
	q[1] = (uint8_t)((len + 1) >> 16);
	q[2] = (uint8_t)((len + 1) >> 8);
	q[3] = (uint8_t)(len + 1);
	q[4] = type;
	if (len > 0)
		memcpy(q + 5, ptbuf_ptr(payload), len);
	return 0;
}

static int req_payload(const struct pt_req *req, struct ptbuf *b)
{
	int r;

	switch (req->type) {
	case PT_HELLO:
		return ptbuf_put_u32(b, req->version);
	case PT_MINT:
		if ((r = put_str(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = put_str(b, req->service, PT_MAX_STR)) < 0 ||
		    (r = put_str(b, req->tty, PT_MAX_STR)) < 0 ||
		    (r = put_str(b, req->rhost, PT_MAX_STR)) < 0)
			return r;
		return 0;
	case PT_EXCHANGE:
		if ((r = put_str(b, req->live_token, PT_MAX_TOKEN)) < 0 ||
		    (r = put_str(b, req->holder, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_u64(b, req->lifetime);
	case PT_REDEEM:
		if ((r = put_str(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = put_str(b, req->holder, PT_MAX_STR)) < 0 ||
		    (r = put_str(b, req->service, PT_MAX_STR)) < 0)
			return r;
		return 0;
	case PT_LIST:
		return put_str(b, req->user, PT_MAX_STR);
	case PT_LIST_PAGE:
		if ((r = put_str(b, req->user, PT_MAX_STR)) < 0)
			return r;
		return put_str(b, req->cursor ? req->cursor : "", PT_MAX_STR);
	case PT_REVOKE:
		return put_str(b, req->id, PT_MAX_STR);
	case PT_PUBKEY:
		return ptbuf_put_u8(b, req->format);
	case PT_STATUS:
	case PT_ROTATE:
	case PT_RESEAL:
		return 0;
	case PT_EXPLAIN:
	case PT_REVOKE_MATCH:
		if ((r = put_str(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = put_str(b, req->holder, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_u64(b, req->type == PT_EXPLAIN ? req->at : req->before);
	case PT_CODE_ISSUE:
	case PT_CODE_CHECK:
		if ((r = put_str(b, req->ttype, PT_MAX_STR)) < 0 ||
		    (r = put_str(b, req->user, PT_MAX_STR)) < 0)
			return r;
		return req->type == PT_CODE_CHECK ? put_str(b, req->code, PT_MAX_CODE) : 0;
	default:
		return -EINVAL;
	}
}

int pt_req_encode(const struct pt_req *req, struct ptbuf *out)
{
	struct ptbuf *b;
	int r;

	if (!req || !out)
		return -EINVAL;
	b = ptbuf_new(PT_MAX_FRAME);
	if (!b)
		return -ENOMEM;
	r = req_payload(req, b);
	if (r >= 0)
		r = append_frame(out, req->type, b);
	ptbuf_free(b);
	return r;
}

static int ok_payload(uint8_t req_type, const struct pt_rep *rep, struct ptbuf *b)
{
	int r;

	switch (req_type) {
	case PT_HELLO:
		return ptbuf_put_u32(b, rep->version);
	case PT_MINT:
	case PT_REDEEM:
		if ((r = put_str(b, rep->token, PT_MAX_TOKEN)) < 0 ||
		    (r = ptbuf_put_u64(b, rep->exp)) < 0)
			return r;
		return put_str(b, rep->id, PT_MAX_STR);
	case PT_EXCHANGE:
		if ((r = put_str(b, rep->id, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_u64(b, rep->exp)) < 0)
			return r;
		return ptbuf_put_u8(b, rep->renewed);
	case PT_LIST:
	case PT_LIST_PAGE:
		if (rep->n_list > PT_MAX_LIST || (rep->n_list > 0 && !rep->list))
			return -EMSGSIZE;
		r = ptbuf_put_u32(b, rep->n_list);
		for (uint32_t i = 0; r >= 0 && i < rep->n_list; i++) {
			const struct pt_tokinfo *t = &rep->list[i];

			if ((r = put_str(b, t->id, PT_MAX_STR)) < 0 ||
			    (r = put_str(b, t->user, PT_MAX_STR)) < 0 ||
			    (r = ptbuf_put_u32(b, t->uid)) < 0 ||
			    (r = put_str(b, t->holder, PT_MAX_STR)) < 0 ||
			    (r = put_str(b, t->actor, PT_MAX_STR)) < 0 ||
			    (r = ptbuf_put_u64(b, t->iat)) < 0 ||
			    (r = ptbuf_put_u64(b, t->exp)) < 0 ||
			    (r = ptbuf_put_u64(b, t->last_used)) < 0 ||
			    (r = ptbuf_put_u32(b, t->uses)) < 0)
				break;
		}
		if (r < 0 || req_type == PT_LIST)
			return r;
		if ((r = ptbuf_put_u8(b, rep->more ? 1 : 0)) < 0)
			return r;
		return put_str(b, rep->cursor ? rep->cursor : "", PT_MAX_STR);
	case PT_REVOKE:
	case PT_REVOKE_MATCH:
		return ptbuf_put_u32(b, rep->count);
	case PT_PUBKEY:
	case PT_STATUS:
	case PT_ROTATE:
	case PT_RESEAL:
	case PT_EXPLAIN:
		return put_str(b, rep->text, PT_MAX_TEXT);
	case PT_CODE_ISSUE:
		if ((r = put_str(b, rep->token, PT_MAX_CODE)) < 0)
			return r;
		return ptbuf_put_u64(b, rep->exp);
	case PT_CODE_CHECK:
		return ptbuf_put_u32(b, rep->count);
	default:
		return -EINVAL;
	}
}

int pt_rep_encode(uint8_t req_type, const struct pt_rep *rep, struct ptbuf *out)
{
	struct ptbuf *b;
	int r;

	if (!rep || !out)
		return -EINVAL;
	if (rep->type == PT_ERR)
		return pt_rep_encode_error(out, rep->err_code, rep->message);
	if (rep->type != PT_OK)
		return -EINVAL;
	b = ptbuf_new(PT_MAX_FRAME);
	if (!b)
		return -ENOMEM;
	r = ok_payload(req_type, rep, b);
	if (r >= 0)
		r = append_frame(out, PT_OK, b);
	ptbuf_free(b);
	return r;
}

int pt_rep_encode_error(struct ptbuf *out, uint32_t code, const char *message)
{
	struct ptbuf *b;
	int r;

	if (!out)
		return -EINVAL;
	b = ptbuf_new(PT_MAX_FRAME);
	if (!b)
		return -ENOMEM;
	r = ptbuf_put_u32(b, code);
	if (r >= 0)
		r = put_str(b, message, PT_MAX_TEXT);
	if (r >= 0)
		r = append_frame(out, PT_ERR, b);
	ptbuf_free(b);
	return r;
}

/* ------------------------------------------------------------------ decode */

static int req_decode_fields(struct ptbuf_view *v, struct pt_req *q)
{
	int r;

	switch (q->type) {
	case PT_HELLO:
		return ptbuf_view_get_u32(v, &q->version);
	case PT_MINT:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->service)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->tty)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->rhost);
	case PT_EXCHANGE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_TOKEN, &q->live_token)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->holder)) < 0)
			return r;
		return ptbuf_view_get_u64(v, &q->lifetime);
	case PT_REDEEM:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->holder)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->service);
	case PT_LIST:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user);
	case PT_LIST_PAGE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->cursor);
	case PT_REVOKE:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id);
	case PT_PUBKEY:
		r = ptbuf_view_get_u8(v, &q->format);
		if (r < 0)
			return r;
		if (q->format != PT_PUBKEY_PEM && q->format != PT_PUBKEY_JWKS)
			return -EBADMSG;
		return 0;
	case PT_STATUS:
	case PT_ROTATE:
	case PT_RESEAL:
		return 0;
	case PT_EXPLAIN:
	case PT_REVOKE_MATCH:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->holder)) < 0)
			return r;
		return ptbuf_view_get_u64(v, q->type == PT_EXPLAIN ? &q->at : &q->before);
	case PT_CODE_ISSUE:
	case PT_CODE_CHECK:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->ttype)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0)
			return r;
		return q->type == PT_CODE_CHECK ? ptbuf_view_get_cstring(v, PT_MAX_CODE, &q->code) :
						  0;
	default:
		return -EBADMSG;
	}
}

int pt_req_decode(uint8_t type, const uint8_t *payload, size_t len, struct pt_req *ret)
{
	struct pt_req q = { .type = type };
	struct ptbuf_view v;
	int r;

	if (!ret || (!payload && len > 0))
		return -EINVAL;
	ptbuf_view_init(&v, payload, len);
	r = req_decode_fields(&v, &q);
	if (r >= 0)
		r = ptbuf_view_end(&v);
	if (r < 0) {
		pt_req_clear(&q);
		return r == -ENOMEM ? r : -EBADMSG;
	}
	*ret = q;
	return 0;
}

static void tokinfo_clear(struct pt_tokinfo *t)
{
	free(t->id);
	free(t->user);
	free(t->holder);
	free(t->actor);
	memset(t, 0, sizeof(*t));
}

static int list_decode(struct ptbuf_view *v, struct pt_rep *p)
{
	uint32_t n;
	int r;

	r = ptbuf_view_get_u32(v, &n);
	if (r < 0)
		return r;
	if (n > PT_MAX_LIST || (size_t)n > (v->len - v->off) / PT_LIST_ENTRY_MIN)
		return -EBADMSG;
	if (n == 0)
		return 0;
	p->list = calloc(n, sizeof(*p->list));
	if (!p->list)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct pt_tokinfo *t = &p->list[i];

		p->n_list = i + 1; /* so that pt_rep_clear frees what was decoded */
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &t->id)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &t->user)) < 0 ||
		    (r = ptbuf_view_get_u32(v, &t->uid)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &t->holder)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &t->actor)) < 0 ||
		    (r = ptbuf_view_get_u64(v, &t->iat)) < 0 ||
		    (r = ptbuf_view_get_u64(v, &t->exp)) < 0 ||
		    (r = ptbuf_view_get_u64(v, &t->last_used)) < 0 ||
		    (r = ptbuf_view_get_u32(v, &t->uses)) < 0)
			return r;
	}
	return 0;
}

static int ok_decode_fields(uint8_t req_type, struct ptbuf_view *v, struct pt_rep *p)
{
	int r;

	switch (req_type) {
	case PT_HELLO:
		return ptbuf_view_get_u32(v, &p->version);
	case PT_MINT:
	case PT_REDEEM:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_TOKEN, &p->token)) < 0 ||
		    (r = ptbuf_view_get_u64(v, &p->exp)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &p->id);
	case PT_EXCHANGE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &p->id)) < 0 ||
		    (r = ptbuf_view_get_u64(v, &p->exp)) < 0)
			return r;
		return ptbuf_view_get_u8(v, &p->renewed);
	case PT_LIST:
		return list_decode(v, p);
	case PT_LIST_PAGE:
		if ((r = list_decode(v, p)) < 0 || (r = ptbuf_view_get_u8(v, &p->more)) < 0)
			return r;
		if (p->more > 1)
			return -EBADMSG;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &p->cursor);
	case PT_REVOKE:
	case PT_REVOKE_MATCH:
		return ptbuf_view_get_u32(v, &p->count);
	case PT_PUBKEY:
	case PT_STATUS:
	case PT_ROTATE:
	case PT_RESEAL:
	case PT_EXPLAIN:
		return ptbuf_view_get_cstring(v, PT_MAX_TEXT, &p->text);
	case PT_CODE_ISSUE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_CODE, &p->token)) < 0)
			return r;
		return ptbuf_view_get_u64(v, &p->exp);
	case PT_CODE_CHECK:
		return ptbuf_view_get_u32(v, &p->count);
	default:
		return -EBADMSG;
	}
}

int pt_rep_decode(uint8_t req_type, uint8_t type, const uint8_t *payload, size_t len,
		  struct pt_rep *ret)
{
	struct pt_rep p = { .type = type };
	struct ptbuf_view v;
	int r;

	if (!ret || (!payload && len > 0))
		return -EINVAL;
	ptbuf_view_init(&v, payload, len);
	if (type == PT_ERR) {
		r = ptbuf_view_get_u32(&v, &p.err_code);
		if (r >= 0)
			r = ptbuf_view_get_cstring(&v, PT_MAX_TEXT, &p.message);
	} else if (type == PT_OK)
		r = ok_decode_fields(req_type, &v, &p);
	else
		r = -EBADMSG;
	if (r >= 0)
		r = ptbuf_view_end(&v);
	if (r < 0) {
		pt_rep_clear(&p);
		return r == -ENOMEM ? r : -EBADMSG;
	}
	*ret = p;
	return 0;
}

void pt_req_clear(struct pt_req *req)
{
	if (!req)
		return;
	free(req->user);
	free(req->service);
	free(req->tty);
	free(req->rhost);
	pt_free_secret(req->live_token);
	free(req->holder);
	free(req->id);
	free(req->ttype);
	free(req->cursor);
	pt_free_secret(req->code);
	memset(req, 0, sizeof(*req));
}

void pt_rep_clear(struct pt_rep *rep)
{
	if (!rep)
		return;
	free(rep->message);
	pt_free_secret(rep->token);
	free(rep->id);
	free(rep->text);
	free(rep->cursor);
	if (rep->list) {
		for (uint32_t i = 0; i < rep->n_list; i++)
			tokinfo_clear(&rep->list[i]);
		free(rep->list);
	}
	memset(rep, 0, sizeof(*rep));
}

struct pt_name {
	uint32_t value;
	const char *name;
};

static const struct pt_name msgtype_names[] = {
	{ PT_HELLO, "hello" },
	{ PT_MINT, "mint" },
	{ PT_EXCHANGE, "exchange" },
	{ PT_REDEEM, "redeem" },
	{ PT_LIST, "list" },
	{ PT_LIST_PAGE, "list" },
	{ PT_REVOKE, "revoke" },
	{ PT_PUBKEY, "pubkey" },
	{ PT_STATUS, "status" },
	{ PT_OK, "ok" },
	{ PT_EXPLAIN, "explain" },
	{ PT_REVOKE_MATCH, "revoke-match" },
	{ PT_ROTATE, "rotate-key" },
	{ PT_RESEAL, "reseal" },
	{ PT_CODE_ISSUE, "code-issue" },
	{ PT_CODE_CHECK, "code-check" },
	{ PT_ERR, "error" },
};

static const struct pt_name errcode_names[] = {
	{ PT_E_PROTO, "protocol" },	{ PT_E_VERSION, "version" },
	{ PT_E_PERM, "permission" },	{ PT_E_DENIED, "denied" },
	{ PT_E_NOTFOUND, "not-found" }, { PT_E_INVALID, "invalid-token" },
	{ PT_E_LIMIT, "limit" },	{ PT_E_INTERNAL, "internal" },
	{ PT_E_BUSY, "busy" },
};

static const char *lookup_name(const struct pt_name *t, size_t n, uint32_t value)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == value)
			return t[i].name;
	return "unknown";
}

const char *pt_msgtype_name(uint8_t type)
{
	return lookup_name(msgtype_names, PT_ELEMENTSOF(msgtype_names), type);
}

const char *pt_errcode_name(uint32_t code)
{
	return lookup_name(errcode_names, PT_ELEMENTSOF(errcode_names), code);
}
