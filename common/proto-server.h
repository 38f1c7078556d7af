/* SPDX-License-Identifier: MIT */
/*
 * The server half of the tokend wire protocol (common/proto-server.c, in
 * libptserver): only tokend and its tests link it. The format, the limits
 * and the client half are in proto.h.
 */
#pragma once

#include "proto.h"

/* Decodes a request payload. Unknown types, missing or trailing bytes,
 * embedded NULs and over-long strings are rejected with -EBADMSG; *ret is
 * untouched on failure. */
int pt_req_decode(uint8_t type, const uint8_t *payload, size_t len, struct pt_req *ret);

/* Appends a whole reply frame to out: rep->type PT_OK (laid out for the
 * request req_type) or PT_ERR. */
int pt_rep_encode(uint8_t req_type, const struct pt_rep *rep, struct ptbuf *out);
/* Convenience: append a PT_ERR frame. */
int pt_rep_encode_error(struct ptbuf *out, uint32_t code, const char *message);

/* Decodes a grant SPEC (proto.h) strictly: bounds, absolute paths, hours;
 * -EBADMSG on anything else, *ret untouched. privsep.c uses it too. */
int pt_grant_spec_get(struct ptbuf_view *v, struct pt_grant_spec **ret);
