/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the front <-> key holder messages (tokend/privsep.c):
 * the key holder decodes whatever a compromised front might send. A message
 * that decodes must encode back to the same bytes (a canonical form: nothing
 * the decoder accepts is ambiguous), and a log line that decodes is
 * printable. The same input is also split as a packet of messages
 * (ps_dgram_next): every piece lies within the input and decodes or not.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "privsep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_msg m;
	struct ptbuf *b;
	int r;

	{
		const uint8_t *mp;
		size_t off = 0, mlen;
		int k;

		while ((k = ps_dgram_next(data, size, &off, &mp, &mlen)) > 0) {
			if (mp < data || mp + mlen > data + size || off > size)
				abort();
			if (ps_decode(mp, mlen, &m) == 0)
				ps_msg_clear(&m);
		}
	}
	if (ps_decode(data, size, &m) < 0)
		return 0;
	b = ptbuf_new(PS_MAX_MSG);
	if (!b)
		abort();
	switch (m.kind) {
	case PS_CONN:
		r = ps_encode_conn(b, m.conn);
		break;
	case PS_CLOSE:
		r = ps_encode_close(b, m.conn);
		break;
	case PS_REQ:
		r = ps_encode_req_ext(b, m.conn, &m.req, m.has_live ? &m.live : NULL,
				      m.has_ext ? &m.ext : NULL);
		break;
	case PS_BAD:
		r = ps_encode_bad(b, m.conn, m.type);
		break;
	case PS_LOG:
		for (const char *p = m.line; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				abort();
		r = m.conn == 0 ? ps_encode_log(b, m.prio, m.line) : -1;
		break;
	case PS_IDENT:
		r = ps_encode_ident(b, m.conn, m.uid, m.pid, m.class, m.accepted);
		break;
	case PS_REP:
		r = ps_encode_rep(b, m.conn, m.flags, m.rep, m.rep_len);
		break;
	case PS_LIMITS:
		r = m.conn == 0 ? ps_encode_limits(b, &m.limits) : -1;
		break;
	default:
		abort(); /* decoded a kind that does not exist */
	}
	if (r == 0 && (ptbuf_len(b) != size || memcmp(ptbuf_ptr(b), data, size) != 0))
		abort();
	ptbuf_free(b);
	ps_msg_clear(&m);
	return 0;
}
