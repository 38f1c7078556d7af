/* SPDX-License-Identifier: MIT */
/*
 * The tokend wire protocol, what both ends share (libptclient): splitting
 * and writing frames, freeing decoded messages, names for logs. The client
 * half is proto-client.c, the server half proto-server.c (libptserver);
 * the format itself is proto.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "util.h"

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

int pt_frame_append(struct ptbuf *out, uint8_t type, const struct ptbuf *payload)
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

static void tokinfo_clear(struct pt_tokinfo *t)
{
	free(t->id);
	free(t->user);
	free(t->holder);
	free(t->actor);
	free(t->refusal_rule);
	free(t->refusal_reason);
	free(t->delegated_from);
	memset(t, 0, sizeof(*t));
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
	free(req->actor);
	free(req->name);
	pt_free_secret(req->code);
	if (req->argv) {
		for (uint32_t i = 0; i < req->n_argv; i++)
			free(req->argv[i]);
		free(req->argv);
	}
	pt_grant_spec_free(req->gspec);
	pt_free_secret(req->jwt);
	pt_free_secret(req->credential);
	free(req->blob);
	free(req->sig);
	free(req->signed_text);
	free(req->signature);
	memset(req, 0, sizeof(*req));
}

void pt_grant_spec_free(struct pt_grant_spec *s)
{
	if (!s)
		return;
	free(s->servicer);
	free(s->servicer_exe);
	free(s->servicer_unit);
	for (uint32_t i = 0; s->cmds && i < s->n_cmds; i++) {
		free(s->cmds[i].path);
		for (uint32_t j = 0; s->cmds[i].argv && j < s->cmds[i].n_argv; j++)
			free(s->cmds[i].argv[j]);
		free(s->cmds[i].argv);
	}
	free(s->cmds);
	for (uint32_t i = 0; s->paths && i < s->n_paths; i++)
		free(s->paths[i].path);
	free(s->paths);
	free(s);
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
	if (rep->codes) {
		for (uint32_t i = 0; i < rep->n_codes; i++)
			pt_free_secret(rep->codes[i].code);
		free(rep->codes);
	}
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
	{ PT_CODE_SHEET, "code-sheet" },
	{ PT_CODE_LIST, "code-list" },
	{ PT_REFRESH, "refresh" },
	{ PT_CREDENTIAL, "credential" },
	{ PT_ACT, "act" },
	{ PT_ACCEPT, "accept" },
	{ PT_ACCEPT_SESSION, "accept-session" },
	{ PT_ERR, "error" },
	{ PT_LIST_STATUS, "list" },
	{ PT_EXPLAIN_ISSUE, "explain" },
	{ PT_DELEGATE, "token.delegate" },
	{ PT_LIST_DELEG, "list" },
	{ PT_GRANT_SIGNED, "grant.signed" },
	{ PT_GRANT_CREDENTIAL, "grant.credential" },
	{ PT_GRANT_CREATE, "grant.create" },
	{ PT_GRANT_LIST, "grant.list" },
	{ PT_GRANT_REVOKE, "grant.revoke" },
	{ PT_GRANT_DELEGATE, "grant.delegate" },
	{ PT_GRANT_REQUEST, "grant.request" },
	{ PT_GRANT_APPROVE, "grant.approve" },
	{ PT_GRANT_DENY, "grant.deny" },
	{ PT_GRANT_REQUESTS, "grant.requests" },
	{ PT_GRANT_EXPLAIN, "grant.explain" },
	{ PT_TEMPLATE_IMPORT, "template.import" },
	{ PT_TEMPLATE_SHOW, "template.show" },
	{ PT_RPO_APPROVE, "rpo.approve" },
	{ PT_RPO_LIST, "rpo.list" },
	{ PT_RPO_SHOW, "rpo.show" },
	{ PT_RPO_EXTEND, "rpo.extend" },
	{ PT_RPO_REVOKE, "rpo.revoke" },
	{ PT_USED, "used" },
	{ PT_RECOMMEND, "recommend" },
	{ PT_CURTAIL_REVERT, "curtail" },
	{ PT_ACCEPT_LIVE, "accept" },
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
