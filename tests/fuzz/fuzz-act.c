/* SPDX-License-Identifier: MIT */
/*
 * The fd-carrying request form (PT_ACT, proto.h): what the front decides
 * about the descriptors a frame came with (pt_req_fds_error) and the
 * request's decoder, over a stream of frames. Input: byte 0 the number of
 * descriptors that came (mod 8), byte 1 flags (bit 0: the set was
 * malformed, bit 1: the hello happened, bits 2-4: the index of the frame
 * they came with), then the frames.
 * Invariants: a frame goes on with descriptors only as a PT_ACT with exactly
 * three of a good set; every PT_ACT that goes on has three; a decoded PT_ACT
 * has 1..PT_MAX_ARGV arguments, an absolute path first, a NULL after the
 * last, and encodes back to the very bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "proto-server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ptbuf *out;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned n, at, idx = 0;
	bool bad, hello;
	size_t off = 2;

	if (size < 2)
		return 0;
	if (!out && !(out = ptbuf_new(4 + PT_MAX_FRAME)))
		abort();
	n = data[0] % 8;
	bad = data[1] & 1;
	hello = data[1] & 2;
	at = (data[1] >> 2) & 7;
	if (n > PT_ACT_NFDS) { /* the front keeps three at most, and calls it bad */
		n = PT_ACT_NFDS;
		bad = true;
	}
	while (off < size) {
		const uint8_t *payload;
		size_t len, used;
		uint8_t type;
		bool mine = idx == at && (n > 0 || bad);
		const char *err;
		struct pt_req q = { 0 };

		if (pt_frame_split(data + off, size - off, PT_MAX_FRAME, &type, &payload, &len,
				   &used) != 0)
			break;
		err = pt_req_fds_error(type, hello, mine, mine ? n : 0, bad);
		if (!err && mine && (type != PT_ACT || n != PT_ACT_NFDS || bad || !hello))
			abort();
		if (!err && type == PT_ACT && !mine)
			abort();
		if (err && !*err)
			abort();
		if (pt_req_decode(type, payload, len, &q) == 0 && type == PT_ACT) {
			if (q.n_argv < 1 || q.n_argv > PT_MAX_ARGV || !q.argv ||
			    q.argv[0][0] != '/' || q.argv[q.n_argv] != NULL)
				abort();
			if (pt_req_encode(&q, out) != 0 || ptbuf_len(out) != used ||
			    memcmp(ptbuf_ptr(out), data + off, used) != 0)
				abort();
			ptbuf_reset(out);
		}
		pt_req_clear(&q);
		off += used;
		idx++;
	}
	return 0;
}
