/* SPDX-License-Identifier: MIT */
/*
 * The client half of the tokend wire protocol (libptclient): encodes
 * requests and decodes replies. pam_pertok and the tools link it; the
 * server half (proto-server.c) they never carry.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "proto.h"

/* Smallest encoding of one PT_LIST entry: 4 empty strings, 2 u32, 3 u64. */
#define PT_LIST_ENTRY_MIN (4 * 4 + 2 * 4 + 3 * 8)

int pt_grant_spec_put(struct ptbuf *b, const struct pt_grant_spec *s)
{
	bool confined;
	int r;

	if (!s)
		return -EINVAL;
	if ((r = ptbuf_put_cstring_max(b, s->servicer ? s->servicer : "", PT_MAX_STR)) < 0 ||
	    (r = ptbuf_put_cstring_max(b, s->servicer_exe ? s->servicer_exe : "", PT_MAX_PATH)) <
		    0 ||
	    (r = ptbuf_put_cstring_max(b, s->servicer_unit ? s->servicer_unit : "", PT_MAX_STR)) <
		    0 ||
	    (r = ptbuf_put_u32(b, s->n_cmds)) < 0)
		return r;
	for (uint32_t i = 0; i < s->n_cmds; i++) {
		const struct pt_grant_wire_cmd *c = &s->cmds[i];

		if ((r = ptbuf_put_cstring_max(b, c->path, PT_MAX_PATH)) < 0 ||
		    (r = ptbuf_put_u8(b, c->prefix)) < 0 || (r = ptbuf_put_u32(b, c->n_argv)) < 0)
			return r;
		for (uint32_t j = 0; j < c->n_argv; j++)
			if ((r = ptbuf_put_cstring_max(b, c->argv[j], PT_MAX_GRANT_ARG)) < 0)
				return r;
	}
	confined = s->no_network || s->n_paths;
	if ((r = ptbuf_put_u64(b, s->not_before)) < 0 || (r = ptbuf_put_u64(b, s->lifetime)) < 0 ||
	    (r = ptbuf_put_u8(b, (uint8_t)((s->has_hours ? 1 : 0) | (confined ? 2 : 0)))) < 0 ||
	    (r = ptbuf_put_u8(b, s->hours_from)) < 0 || (r = ptbuf_put_u8(b, s->hours_to)) < 0 ||
	    (r = ptbuf_put_u32(b, s->max_uses)) < 0 || (r = ptbuf_put_u64(b, s->max_runtime)) < 0 ||
	    (r = ptbuf_put_u32(b, s->depth)) < 0)
		return r;
	if (!confined)
		return 0;
	if (s->n_paths > PT_MAX_GRANT_PATHS)
		return -E2BIG;
	if ((r = ptbuf_put_u8(b, s->no_network ? 1 : 0)) < 0 ||
	    (r = ptbuf_put_u32(b, s->n_paths)) < 0)
		return r;
	for (uint32_t i = 0; i < s->n_paths; i++)
		if ((r = ptbuf_put_u8(b, s->paths[i].write ? 1 : 0)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, s->paths[i].path, PT_MAX_PATH)) < 0)
			return r;
	return 0;
}

static int req_payload(const struct pt_req *req, struct ptbuf *b)
{
	int r;

	switch (req->type) {
	case PT_HELLO:
		return ptbuf_put_u32(b, req->version);
	case PT_MINT:
		if ((r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->service, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->tty, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->rhost, PT_MAX_STR)) < 0)
			return r;
		return 0;
	case PT_EXCHANGE:
		if ((r = ptbuf_put_cstring_max(b, req->live_token, PT_MAX_TOKEN)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->holder, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_u64(b, req->lifetime);
	case PT_REFRESH:
		return ptbuf_put_cstring_max(b, req->live_token, PT_MAX_TOKEN);
	case PT_ACCEPT:
		if ((r = ptbuf_put_cstring_max(b, req->jwt, PT_MAX_TOKEN)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->service, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, req->rhost, PT_MAX_STR);
	case PT_ACCEPT_SESSION:
		if ((r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->service, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_u32(b, req->count);
	case PT_USED:
		if ((r = ptbuf_put_cstring_max(b, req->live_token, PT_MAX_TOKEN)) < 0 ||
		    (r = ptbuf_put_u8(b, req->format)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, req->name, PT_MAX_STR);
	case PT_RECOMMEND:
		if ((r = ptbuf_put_cstring_max(b, req->user ? req->user : "", PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->holder ? req->holder : "", PT_MAX_STR)) <
			    0 ||
		    (r = ptbuf_put_u32(b, req->count)) < 0)
			return r;
		return ptbuf_put_u8(b, req->format);
	case PT_CURTAIL_REVERT:
		return ptbuf_put_cstring_max(b, req->id, PT_MAX_STR);
	case PT_ACCEPT_LIVE:
		if ((r = ptbuf_put_cstring_max(b, req->live_token, PT_MAX_TOKEN)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->service, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, req->name, PT_MAX_STR);
	case PT_REDEEM:
		if ((r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->holder, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->service, PT_MAX_STR)) < 0)
			return r;
		return 0;
	case PT_LIST:
		return ptbuf_put_cstring_max(b, req->user, PT_MAX_STR);
	case PT_LIST_PAGE:
	case PT_LIST_STATUS:
	case PT_LIST_DELEG:
		if ((r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, req->cursor ? req->cursor : "", PT_MAX_STR);
	case PT_REVOKE:
		return ptbuf_put_cstring_max(b, req->id, PT_MAX_STR);
	case PT_DELEGATE:
		if ((r = ptbuf_put_cstring_max(b, req->id, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, req->holder, PT_MAX_STR);
	case PT_GRANT_CREDENTIAL:
		return ptbuf_put_cstring_max(b, req->id, PT_MAX_STR);
	case PT_GRANT_SIGNED:
		if ((r = ptbuf_put_cstring_max(b, req->signed_text, PT_MAX_SIGNED)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, req->signature, PT_MAX_SIGNED);
	case PT_PUBKEY:
		return ptbuf_put_u8(b, req->format);
	case PT_STATUS:
	case PT_ROTATE:
	case PT_RESEAL:
		return 0;
	case PT_EXPLAIN:
	case PT_REVOKE_MATCH:
		if ((r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->holder, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_u64(b, req->type == PT_EXPLAIN ? req->at : req->before);
	case PT_CODE_ISSUE:
	case PT_CODE_CHECK:
		if ((r = ptbuf_put_cstring_max(b, req->ttype, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0)
			return r;
		if (req->type == PT_CODE_ISSUE)
			return 0;
		return ptbuf_put_cstring_max(b, req->code, PT_MAX_CODE);
	case PT_EXPLAIN_ISSUE:
		if ((r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->actor, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->holder, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_u64(b, req->at);
	case PT_CODE_SHEET:
	case PT_CODE_LIST:
		if ((r = ptbuf_put_cstring_max(b, req->ttype, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0)
			return r;
		return req->type == PT_CODE_SHEET ? ptbuf_put_u32(b, req->count) : 0;
	case PT_ACT:
		if (req->n_argv < 1 || req->n_argv > PT_MAX_ARGV || !req->argv)
			return -EINVAL;
		if ((r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->id, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_u8(b, req->flags)) < 0 ||
		    (r = ptbuf_put_u32(b, req->n_argv)) < 0)
			return r;
		for (uint32_t i = 0; i < req->n_argv; i++)
			if ((r = ptbuf_put_cstring_max(b, req->argv[i], PT_MAX_ARG)) < 0)
				return r;
		return req->flags & PT_ACT_CRED ?
			       ptbuf_put_cstring_max(b, req->credential, PT_MAX_TOKEN) :
			       0;
	case PT_GRANT_CREATE:
		if ((r = ptbuf_put_cstring_max(b, req->user ? req->user : "", PT_MAX_STR)) < 0)
			return r;
		return pt_grant_spec_put(b, req->gspec);
	case PT_GRANT_LIST:
		if ((r = ptbuf_put_cstring_max(b, req->user ? req->user : "", PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, req->holder ? req->holder : "", PT_MAX_STR);
	case PT_GRANT_REVOKE:
	case PT_GRANT_DENY:
		return ptbuf_put_cstring_max(b, req->id, PT_MAX_STR);
	case PT_GRANT_REQUESTS:
		return ptbuf_put_cstring_max(b, req->user ? req->user : "", PT_MAX_STR);
	case PT_GRANT_DELEGATE:
		if ((r = ptbuf_put_cstring_max(b, req->id, PT_MAX_STR)) < 0)
			return r;
		return pt_grant_spec_put(b, req->gspec);
	case PT_GRANT_REQUEST:
		if ((r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0)
			return r;
		return pt_grant_spec_put(b, req->gspec);
	case PT_GRANT_APPROVE:
		if ((r = ptbuf_put_cstring_max(b, req->id, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_u8(b, req->gspec ? 1 : 0)) < 0)
			return r;
		return req->gspec ? pt_grant_spec_put(b, req->gspec) : 0;
	case PT_GRANT_EXPLAIN:
		if ((r = ptbuf_put_cstring_max(b, req->user, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_cstring_max(b, req->id, PT_MAX_STR)) < 0)
			return r;
		return pt_grant_spec_put(b, req->gspec);
	case PT_TEMPLATE_IMPORT:
		if ((r = ptbuf_put_cstring_max(b, req->blob, PT_MAX_TEMPLATE)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, req->sig ? req->sig : "", PT_MAX_TEMPLATE_SIG);
	case PT_TEMPLATE_SHOW:
	case PT_RPO_SHOW:
	case PT_RPO_REVOKE:
		return ptbuf_put_cstring_max(b, req->id, PT_MAX_STR);
	case PT_RPO_APPROVE:
	case PT_RPO_EXTEND:
		if ((r = ptbuf_put_cstring_max(b, req->id, PT_MAX_STR)) < 0)
			return r;
		return ptbuf_put_u64(b, req->not_after);
	case PT_RPO_LIST:
		return 0;
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
		r = pt_frame_append(out, req->type, b);
	ptbuf_free(b);
	return r;
}

/* ------------------------------------------------------------------ decode */

/* ... and of the part a PT_LIST_STATUS entry adds: 2 empty strings, u32, u64 */
#define PT_LIST_STATUS_MIN (2 * 4 + 4 + 8)
/* ... and of the part a PT_LIST_DELEG entry adds: u32, an empty string */
#define PT_LIST_DELEG_MIN (4 + 4)

static int list_decode(struct ptbuf_view *v, struct pt_rep *p, uint8_t req_type)
{
	bool deleg = req_type == PT_LIST_DELEG, status = deleg || req_type == PT_LIST_STATUS;
	size_t min = PT_LIST_ENTRY_MIN + (status ? PT_LIST_STATUS_MIN : 0) +
		     (deleg ? PT_LIST_DELEG_MIN : 0);
	uint32_t n;
	int r;

	r = ptbuf_view_get_u32(v, &n);
	if (r < 0)
		return r;
	if (n > PT_MAX_LIST || (size_t)n > (v->len - v->off) / min)
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
		if (status && ((r = ptbuf_view_get_u64(v, &t->refused_at)) < 0 ||
			       (r = ptbuf_view_get_u32(v, &t->refusals)) < 0 ||
			       (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &t->refusal_rule)) < 0 ||
			       (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &t->refusal_reason)) < 0))
			return r;
		if (deleg && ((r = ptbuf_view_get_u32(v, &t->delegations)) < 0 ||
			      (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &t->delegated_from)) < 0))
			return r;
	}
	return 0;
}

/* CODE_SHEET: n x { id, code }; CODE_LIST: n x { id, uses, spent } */
static int codes_decode(uint8_t req_type, struct ptbuf_view *v, struct pt_rep *p)
{
	uint32_t n;
	int r;

	if ((r = ptbuf_view_get_u32(v, &n)) < 0)
		return r;
	if (n > PT_MAX_SHEET)
		return -EBADMSG;
	if (n == 0)
		return 0;
	p->codes = calloc(n, sizeof(*p->codes));
	if (!p->codes)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct pt_codeinfo *c = &p->codes[i];

		p->n_codes = i + 1; /* so that pt_rep_clear frees what was decoded */
		if ((r = ptbuf_view_get_u32(v, &c->id)) < 0)
			return r;
		if (req_type == PT_CODE_SHEET)
			r = ptbuf_view_get_cstring(v, PT_MAX_CODE, &c->code);
		else if ((r = ptbuf_view_get_u32(v, &c->uses)) >= 0 &&
			 (r = ptbuf_view_get_u8(v, &c->spent)) >= 0 && c->spent > 1)
			r = -EBADMSG;
		if (r < 0)
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
	case PT_GRANT_CREDENTIAL:
		return ptbuf_view_get_cstring(v, PT_MAX_TOKEN, &p->token);
	case PT_MINT:
	case PT_REDEEM:
	case PT_REFRESH:
	case PT_ACCEPT:
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
		return list_decode(v, p, req_type);
	case PT_LIST_PAGE:
	case PT_LIST_STATUS:
	case PT_LIST_DELEG:
		if ((r = list_decode(v, p, req_type)) < 0 ||
		    (r = ptbuf_view_get_u8(v, &p->more)) < 0)
			return r;
		if (p->more > 1)
			return -EBADMSG;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &p->cursor);
	case PT_REVOKE:
	case PT_REVOKE_MATCH:
	case PT_DELEGATE:
	case PT_ACCEPT_SESSION:
	case PT_USED:
	case PT_CURTAIL_REVERT:
	case PT_ACCEPT_LIVE:
		return ptbuf_view_get_u32(v, &p->count);
	case PT_PUBKEY:
	case PT_STATUS:
	case PT_ROTATE:
	case PT_RESEAL:
	case PT_EXPLAIN:
	case PT_EXPLAIN_ISSUE:
	case PT_TEMPLATE_IMPORT:
	case PT_TEMPLATE_SHOW:
	case PT_RPO_APPROVE:
	case PT_RPO_LIST:
	case PT_RPO_SHOW:
	case PT_RPO_EXTEND:
	case PT_RPO_REVOKE:
	case PT_RECOMMEND:
		return ptbuf_view_get_cstring(v, PT_MAX_TEXT, &p->text);
	case PT_CODE_ISSUE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_CODE, &p->token)) < 0)
			return r;
		return ptbuf_view_get_u64(v, &p->exp);
	case PT_CODE_CHECK:
		return ptbuf_view_get_u32(v, &p->count);
	case PT_CODE_SHEET:
		if ((r = ptbuf_view_get_u64(v, &p->exp)) < 0)
			return r;
		return codes_decode(req_type, v, p);
	case PT_GRANT_CREATE:
	case PT_GRANT_DELEGATE:
	case PT_GRANT_REQUEST:
	case PT_GRANT_APPROVE:
	case PT_GRANT_SIGNED:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &p->id);
	case PT_GRANT_REVOKE:
	case PT_GRANT_DENY:
		return ptbuf_view_get_u32(v, &p->count);
	case PT_GRANT_LIST:
	case PT_GRANT_EXPLAIN:
		return ptbuf_view_get_cstring(v, PT_MAX_TEXT, &p->text);
	case PT_GRANT_REQUESTS:
		if ((r = ptbuf_view_get_u32(v, &p->count)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_TEXT, &p->text);
	case PT_CODE_LIST:
		if ((r = ptbuf_view_get_u64(v, &p->iat)) < 0 ||
		    (r = ptbuf_view_get_u64(v, &p->exp)) < 0 ||
		    (r = ptbuf_view_get_u32(v, &p->failures)) < 0 ||
		    (r = ptbuf_view_get_u64(v, &p->locked_until)) < 0)
			return r;
		return codes_decode(req_type, v, p);
	case PT_ACT:
		if ((r = ptbuf_view_get_u32(v, &p->status)) < 0 ||
		    (r = ptbuf_view_get_u8(v, &p->signaled)) < 0 ||
		    (r = ptbuf_view_get_u64(v, &p->cpu_usec)) < 0)
			return r;
		if (p->signaled > 1 || p->status > 255)
			return -EBADMSG;
		return ptbuf_view_get_u64(v, &p->mem_peak);
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
