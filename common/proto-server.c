/* SPDX-License-Identifier: MIT */
/*
 * The server half of the tokend wire protocol (libptserver, linked by
 * tokend and its tests only): decodes requests strictly and encodes
 * replies. The client half is proto-client.c; both follow proto.h.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "proto-server.h"

static int ok_payload(uint8_t req_type, const struct pt_rep *rep, struct ptbuf *b)
{
	int r;

	switch (req_type) {
	case PT_HELLO:
		return ptbuf_put_u32(b, rep->version);
	case PT_GRANT_CREDENTIAL:
		return ptbuf_put_cstring_max(b, rep->token, PT_MAX_TOKEN);
	case PT_MINT:
	case PT_REDEEM:
	case PT_REFRESH:
	case PT_ACCEPT:
		if ((r = ptbuf_put_cstring_max(b, rep->token, PT_MAX_TOKEN)) < 0 ||
		    (r = ptbuf_put_u64(b, rep->exp)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, rep->id, PT_MAX_STR);
	case PT_EXCHANGE:
		if ((r = ptbuf_put_cstring_max(b, rep->id, PT_MAX_STR)) < 0 ||
		    (r = ptbuf_put_u64(b, rep->exp)) < 0)
			return r;
		return ptbuf_put_u8(b, rep->renewed);
	case PT_LIST:
	case PT_LIST_PAGE:
	case PT_LIST_STATUS:
	case PT_LIST_DELEG:
		if (rep->n_list > PT_MAX_LIST || (rep->n_list > 0 && !rep->list))
			return -EMSGSIZE;
		r = ptbuf_put_u32(b, rep->n_list);
		for (uint32_t i = 0; r >= 0 && i < rep->n_list; i++) {
			const struct pt_tokinfo *t = &rep->list[i];

			if ((r = ptbuf_put_cstring_max(b, t->id, PT_MAX_STR)) < 0 ||
			    (r = ptbuf_put_cstring_max(b, t->user, PT_MAX_STR)) < 0 ||
			    (r = ptbuf_put_u32(b, t->uid)) < 0 ||
			    (r = ptbuf_put_cstring_max(b, t->holder, PT_MAX_STR)) < 0 ||
			    (r = ptbuf_put_cstring_max(b, t->actor, PT_MAX_STR)) < 0 ||
			    (r = ptbuf_put_u64(b, t->iat)) < 0 ||
			    (r = ptbuf_put_u64(b, t->exp)) < 0 ||
			    (r = ptbuf_put_u64(b, t->last_used)) < 0 ||
			    (r = ptbuf_put_u32(b, t->uses)) < 0)
				break;
			if ((req_type == PT_LIST_STATUS || req_type == PT_LIST_DELEG) &&
			    ((r = ptbuf_put_u64(b, t->refused_at)) < 0 ||
			     (r = ptbuf_put_u32(b, t->refusals)) < 0 ||
			     (r = ptbuf_put_cstring_max(b, t->refusal_rule ? t->refusal_rule : "",
							PT_MAX_STR)) < 0 ||
			     (r = ptbuf_put_cstring_max(b,
							t->refusal_reason ? t->refusal_reason : "",
							PT_MAX_STR)) < 0))
				break;
			if (req_type == PT_LIST_DELEG &&
			    ((r = ptbuf_put_u32(b, t->delegations)) < 0 ||
			     (r = ptbuf_put_cstring_max(b,
							t->delegated_from ? t->delegated_from : "",
							PT_MAX_STR)) < 0))
				break;
		}
		if (r < 0 || req_type == PT_LIST)
			return r;
		if ((r = ptbuf_put_u8(b, rep->more ? 1 : 0)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, rep->cursor ? rep->cursor : "", PT_MAX_STR);
	case PT_REVOKE:
	case PT_REVOKE_MATCH:
	case PT_DELEGATE:
	case PT_ACCEPT_SESSION:
	case PT_USED:
	case PT_CURTAIL_REVERT:
	case PT_ACCEPT_LIVE:
		return ptbuf_put_u32(b, rep->count);
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
		return ptbuf_put_cstring_max(b, rep->text, PT_MAX_TEXT);
	case PT_CODE_ISSUE:
		if ((r = ptbuf_put_cstring_max(b, rep->token, PT_MAX_CODE)) < 0)
			return r;
		return ptbuf_put_u64(b, rep->exp);
	case PT_CODE_CHECK:
	case PT_GRANT_REVOKE:
	case PT_GRANT_DENY:
		return ptbuf_put_u32(b, rep->count);
	case PT_GRANT_CREATE:
	case PT_GRANT_DELEGATE:
	case PT_GRANT_REQUEST:
	case PT_GRANT_APPROVE:
	case PT_GRANT_SIGNED:
		return ptbuf_put_cstring_max(b, rep->id, PT_MAX_STR);
	case PT_GRANT_LIST:
	case PT_GRANT_EXPLAIN:
		return ptbuf_put_cstring_max(b, rep->text, PT_MAX_TEXT);
	case PT_GRANT_REQUESTS:
		if ((r = ptbuf_put_u32(b, rep->count)) < 0)
			return r;
		return ptbuf_put_cstring_max(b, rep->text, PT_MAX_TEXT);
	case PT_CODE_SHEET:
	case PT_CODE_LIST:
		if (rep->n_codes > PT_MAX_SHEET || (rep->n_codes > 0 && !rep->codes))
			return -EMSGSIZE;
		if (req_type == PT_CODE_SHEET)
			r = ptbuf_put_u64(b, rep->exp);
		else if ((r = ptbuf_put_u64(b, rep->iat)) >= 0 &&
			 (r = ptbuf_put_u64(b, rep->exp)) >= 0 &&
			 (r = ptbuf_put_u32(b, rep->failures)) >= 0)
			r = ptbuf_put_u64(b, rep->locked_until);
		if (r < 0 || (r = ptbuf_put_u32(b, rep->n_codes)) < 0)
			return r;
		for (uint32_t i = 0; r >= 0 && i < rep->n_codes; i++) {
			const struct pt_codeinfo *c = &rep->codes[i];

			if ((r = ptbuf_put_u32(b, c->id)) < 0)
				break;
			if (req_type == PT_CODE_SHEET)
				r = ptbuf_put_cstring_max(b, c->code, PT_MAX_CODE);
			else if ((r = ptbuf_put_u32(b, c->uses)) >= 0)
				r = ptbuf_put_u8(b, c->spent ? 1 : 0);
		}
		return r;
	case PT_ACT:
		if ((r = ptbuf_put_u32(b, rep->status)) < 0 ||
		    (r = ptbuf_put_u8(b, rep->signaled ? 1 : 0)) < 0 ||
		    (r = ptbuf_put_u64(b, rep->cpu_usec)) < 0)
			return r;
		return ptbuf_put_u64(b, rep->mem_peak);
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
		r = pt_frame_append(out, PT_OK, b);
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
		r = ptbuf_put_cstring_max(b, message, PT_MAX_TEXT);
	if (r >= 0)
		r = pt_frame_append(out, PT_ERR, b);
	ptbuf_free(b);
	return r;
}

/* ------------------------------------------------------------------ decode */

/* PT_ACT's argv: 1..PT_MAX_ARGV strings, the first an absolute path; no
 * more entries than the bytes left could hold (4 each), so a forged count
 * allocates nothing beyond the frame's size; then, with PT_ACT_CRED, the
 * grant's credential. */
static int act_decode(struct ptbuf_view *v, struct pt_req *q)
{
	uint32_t n;
	int r;

	if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
	    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id)) < 0 ||
	    (r = ptbuf_view_get_u8(v, &q->flags)) < 0 || (r = ptbuf_view_get_u32(v, &n)) < 0)
		return r;
	if ((q->flags & ~(PT_ACT_PTY | PT_ACT_CRED)) || n < 1 || n > PT_MAX_ARGV ||
	    (size_t)n * 4 > v->len - v->off)
		return -EBADMSG;
	q->argv = calloc(n + 1, sizeof(*q->argv));
	if (!q->argv)
		return -ENOMEM;
	for (; q->n_argv < n; q->n_argv++)
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_ARG, &q->argv[q->n_argv])) < 0)
			return r;
	if ((q->flags & PT_ACT_CRED) &&
	    (r = ptbuf_view_get_cstring(v, PT_MAX_TOKEN, &q->credential)) < 0)
		return r;
	return q->argv[0][0] == '/' ? 0 : -EBADMSG;
}

static bool abs_path(const char *s)
{
	return s[0] == '/';
}

int pt_grant_spec_get(struct ptbuf_view *v, struct pt_grant_spec **ret)
{
	struct pt_grant_spec *s = calloc(1, sizeof(*s));
	uint32_t n_paths;
	int r = -EBADMSG;

	if (!s)
		return -ENOMEM;
	if (ptbuf_view_get_cstring(v, PT_MAX_STR, &s->servicer) < 0 ||
	    ptbuf_view_get_cstring(v, PT_MAX_PATH, &s->servicer_exe) < 0 ||
	    ptbuf_view_get_cstring(v, PT_MAX_STR, &s->servicer_unit) < 0 ||
	    ptbuf_view_get_u32(v, &s->n_cmds) < 0)
		goto out;
	if (s->servicer_exe[0] && !abs_path(s->servicer_exe))
		goto out;
	if (s->n_cmds < 1 || s->n_cmds > PT_MAX_GRANT_CMDS)
		goto out;
	s->cmds = calloc(s->n_cmds, sizeof(*s->cmds));
	if (!s->cmds) {
		s->n_cmds = 0;
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < s->n_cmds; i++) {
		struct pt_grant_wire_cmd *c = &s->cmds[i];
		uint32_t n;

		if (ptbuf_view_get_cstring(v, PT_MAX_PATH, &c->path) < 0 || !abs_path(c->path) ||
		    ptbuf_view_get_u8(v, &c->prefix) < 0 || c->prefix > 1 ||
		    ptbuf_view_get_u32(v, &n) < 0 || n > PT_MAX_GRANT_ARGS)
			goto out;
		c->argv = calloc(n ? n : 1, sizeof(*c->argv));
		if (!c->argv) {
			r = -ENOMEM;
			goto out;
		}
		for (uint32_t j = 0; j < n; j++) {
			if (ptbuf_view_get_cstring(v, PT_MAX_GRANT_ARG, &c->argv[j]) < 0)
				goto out;
			c->n_argv = j + 1;
		}
	}
	if (ptbuf_view_get_u64(v, &s->not_before) < 0 || ptbuf_view_get_u64(v, &s->lifetime) < 0 ||
	    ptbuf_view_get_u8(v, &s->has_hours) < 0 || ptbuf_view_get_u8(v, &s->hours_from) < 0 ||
	    ptbuf_view_get_u8(v, &s->hours_to) < 0 || ptbuf_view_get_u32(v, &s->max_uses) < 0 ||
	    ptbuf_view_get_u64(v, &s->max_runtime) < 0 || ptbuf_view_get_u32(v, &s->depth) < 0)
		goto out;
	if (s->has_hours & ~3u) /* bit 0: hours; bit 1: confinement follows; no other */
		goto out;
	if (s->has_hours & 2) {
		/* confinement follows (proto.h SPEC) */
		s->has_hours &= 1;
		if (ptbuf_view_get_u8(v, &s->no_network) < 0 || s->no_network > 1 ||
		    ptbuf_view_get_u32(v, &n_paths) < 0 || n_paths > PT_MAX_GRANT_PATHS ||
		    (!n_paths && !s->no_network))
			goto out;
		s->paths = calloc(n_paths ? n_paths : 1, sizeof(*s->paths));
		if (!s->paths) {
			r = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < n_paths; i++) {
			struct pt_grant_wire_path *p = &s->paths[i];

			if (ptbuf_view_get_u8(v, &p->write) < 0 || p->write > 1)
				goto out;
			if (ptbuf_view_get_cstring(v, PT_MAX_PATH, &p->path) < 0)
				goto out;
			s->n_paths = i + 1;
			if (!abs_path(p->path))
				goto out;
		}
	}
	if (s->has_hours > 1 || s->hours_from > 23 || s->hours_to > 23 ||
	    (s->has_hours && s->hours_from == s->hours_to) ||
	    (!s->has_hours && (s->hours_from || s->hours_to)))
		goto out;
	if (s->lifetime > UINT64_MAX / 2 || s->not_before > UINT64_MAX / 2)
		goto out;
	*ret = s;
	s = NULL;
	r = 0;
out:
	pt_grant_spec_free(s);
	return r;
}

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
	case PT_REFRESH:
		return ptbuf_view_get_cstring(v, PT_MAX_TOKEN, &q->live_token);
	case PT_ACCEPT:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_TOKEN, &q->jwt)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->service)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->rhost);
	case PT_ACCEPT_SESSION:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->service)) < 0 ||
		    (r = ptbuf_view_get_u32(v, &q->count)) < 0)
			return r;
		return q->count > 1 ? -EBADMSG : 0;
	case PT_USED:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_TOKEN, &q->live_token)) < 0 ||
		    (r = ptbuf_view_get_u8(v, &q->format)) < 0)
			return r;
		if (q->format != PT_USED_ENTITLEMENT && q->format != PT_USED_GROUP)
			return -EBADMSG;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->name);
	case PT_RECOMMEND:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->holder)) < 0 ||
		    (r = ptbuf_view_get_u32(v, &q->count)) < 0 ||
		    (r = ptbuf_view_get_u8(v, &q->format)) < 0)
			return r;
		return q->count <= 3650 && q->format <= PT_REC_CONFIG ? 0 : -EBADMSG;
	case PT_CURTAIL_REVERT:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id);
	case PT_ACCEPT_LIVE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_TOKEN, &q->live_token)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->service)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->name);
	case PT_REDEEM:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->holder)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->service);
	case PT_LIST:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user);
	case PT_LIST_PAGE:
	case PT_LIST_STATUS:
	case PT_LIST_DELEG:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->cursor);
	case PT_REVOKE:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id);
	case PT_DELEGATE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->holder);
	case PT_GRANT_CREDENTIAL:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id);
	case PT_GRANT_SIGNED:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_SIGNED, &q->signed_text)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_SIGNED, &q->signature);
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
	case PT_EXPLAIN_ISSUE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->actor)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->holder)) < 0)
			return r;
		return ptbuf_view_get_u64(v, &q->at);
	case PT_CODE_SHEET:
	case PT_CODE_LIST:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->ttype)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0)
			return r;
		if (q->type == PT_CODE_LIST)
			return 0;
		if ((r = ptbuf_view_get_u32(v, &q->count)) < 0)
			return r;
		return q->count >= 1 && q->count <= PT_MAX_SHEET ? 0 : -EBADMSG;
	case PT_GRANT_CREATE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0)
			return r;
		return pt_grant_spec_get(v, &q->gspec);
	case PT_GRANT_LIST:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->holder);
	case PT_GRANT_REVOKE:
	case PT_GRANT_DENY:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id);
	case PT_GRANT_REQUESTS:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user);
	case PT_GRANT_DELEGATE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id)) < 0)
			return r;
		return pt_grant_spec_get(v, &q->gspec);
	case PT_GRANT_REQUEST:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0)
			return r;
		return pt_grant_spec_get(v, &q->gspec);
	case PT_GRANT_APPROVE:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id)) < 0 ||
		    (r = ptbuf_view_get_u8(v, &q->narrow)) < 0)
			return r;
		if (q->narrow > 1)
			return -EBADMSG;
		return q->narrow ? pt_grant_spec_get(v, &q->gspec) : 0;
	case PT_GRANT_EXPLAIN:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->user)) < 0 ||
		    (r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id)) < 0)
			return r;
		return pt_grant_spec_get(v, &q->gspec);
	case PT_TEMPLATE_IMPORT:
		/* the template's JSON: schema-checked by tokend's front for root's
		 * requests (server.c), then by the key holder against the host's
		 * entitlements before it is stored */
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_TEMPLATE, &q->blob)) < 0)
			return r;
		return ptbuf_view_get_cstring(v, PT_MAX_TEMPLATE_SIG, &q->sig);
	case PT_TEMPLATE_SHOW:
	case PT_RPO_SHOW:
	case PT_RPO_REVOKE:
		return ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id);
	case PT_RPO_APPROVE:
	case PT_RPO_EXTEND:
		if ((r = ptbuf_view_get_cstring(v, PT_MAX_STR, &q->id)) < 0)
			return r;
		return ptbuf_view_get_u64(v, &q->not_after);
	case PT_RPO_LIST:
		return 0;
	case PT_ACT:
		return act_decode(v, q);
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

const char *pt_req_fds_error(uint8_t type, bool hello, bool mine, unsigned n, bool bad)
{
	if (mine && bad)
		return "malformed descriptor set (more than 3, truncated, or not SCM_RIGHTS)";
	if (mine && (type != PT_ACT || !hello)) /* (the hello takes none either) */
		return "descriptors passed with a request that takes none";
	if (type == PT_ACT && !mine)
		return "an act request must carry stdin, stdout and stderr (3 descriptors, "
		       "SCM_RIGHTS); it carried none";
	if (type == PT_ACT && n != PT_ACT_NFDS)
		return "an act request must carry exactly 3 descriptors (stdin, stdout, stderr)";
	return NULL;
}
