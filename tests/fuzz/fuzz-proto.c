/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the wire protocol decoders.
 *
 * The input is a byte stream of frames, split with pt_frame_split as tokend
 * and the client do. Every frame's payload goes through pt_req_decode for its
 * type and through pt_rep_decode as an answer to every request type. Whatever
 * decodes is encoded again and must give back exactly the same bytes: the
 * encoding is canonical, so a difference is a decoder or encoder bug.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "proto-server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t req_types[] = {
	PT_HELLO,
	PT_MINT,
	PT_EXCHANGE,
	PT_REDEEM,
	PT_LIST,
	PT_REVOKE,
	PT_PUBKEY,
	PT_STATUS,
	PT_ROTATE,
	PT_RESEAL,
	PT_EXPLAIN,
	PT_REVOKE_MATCH,
	PT_CODE_ISSUE,
	PT_CODE_CHECK,
	PT_LIST_PAGE,
	PT_LIST_STATUS,
	PT_EXPLAIN_ISSUE,
	PT_CODE_SHEET,
	PT_CODE_LIST,
	PT_REFRESH,
	PT_GRANT_CREATE,
	PT_GRANT_LIST,
	PT_GRANT_REVOKE,
	PT_GRANT_DELEGATE,
	PT_GRANT_REQUEST,
	PT_GRANT_APPROVE,
	PT_GRANT_DENY,
	PT_GRANT_REQUESTS,
	PT_GRANT_EXPLAIN,
	PT_TEMPLATE_IMPORT,
	PT_TEMPLATE_SHOW,
	PT_RPO_APPROVE,
	PT_RPO_LIST,
	PT_RPO_SHOW,
	PT_RPO_EXTEND,
	PT_RPO_REVOKE,
	PT_ACT,
	PT_DELEGATE,
	PT_LIST_DELEG,
	PT_GRANT_SIGNED,
	PT_GRANT_CREDENTIAL,
	PT_ACCEPT,
	PT_ACCEPT_SESSION,
	PT_USED,
	PT_RECOMMEND,
	PT_CURTAIL_REVERT,
	PT_ACCEPT_LIVE,
};

static void check_same(const struct ptbuf *out, uint8_t type, const uint8_t *payload, size_t len)
{
	if (ptbuf_len(out) != 5 + len || ptbuf_ptr(out)[4] != type ||
	    (len > 0 && memcmp(ptbuf_ptr(out) + 5, payload, len) != 0))
		abort();
}

/* One output buffer for the whole run: allocating and freeing it for every
 * frame was a third of the harness' time. Reset after each use. */
static struct ptbuf *out;

static void one_frame(uint8_t type, const uint8_t *payload, size_t len)
{
	struct pt_req q;
	struct pt_rep p;

	if (!out)
		out = ptbuf_new(4 + PT_MAX_FRAME);
	if (!out)
		abort();

	memset(&q, 0, sizeof(q));
	if (pt_req_decode(type, payload, len, &q) == 0) {
		if (q.type != type || pt_req_encode(&q, out) != 0)
			abort();
		check_same(out, type, payload, len);
		(void)pt_msgtype_name(q.type);
		pt_req_clear(&q);
		ptbuf_reset(out);
	}

	for (size_t i = 0; i < sizeof(req_types); i++) {
		memset(&p, 0, sizeof(p));
		if (pt_rep_decode(req_types[i], type, payload, len, &p) != 0)
			continue;
		if (p.type != type || pt_rep_encode(req_types[i], &p, out) != 0)
			abort();
		check_same(out, type, payload, len);
		if (p.type == PT_ERR)
			(void)pt_errcode_name(p.err_code);
		pt_rep_clear(&p);
		ptbuf_reset(out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	/* As a stream of frames. */
	while (off < size) {
		const uint8_t *payload;
		size_t len, used;
		uint8_t type;

		if (pt_frame_split(data + off, size - off, PT_MAX_FRAME, &type, &payload, &len,
				   &used) != 0)
			break;
		if (used < 5 || used > size - off || payload != data + off + 5 || len != used - 5)
			abort();
		one_frame(type, payload, len);
		off += used;
	}

	/* As one bare payload whose type is the first byte. */
	if (size > 0)
		one_frame(data[0], data + 1, size - 1);
	return 0;
}
