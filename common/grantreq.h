/* SPDX-License-Identifier: MIT */
/*
 * The text of an SSH-signed grant request: what a user signs on another
 * machine (`ssh-keygen -Y sign -n pertok-grant`, or `pertok grant --sign`)
 * to consent to a grant on this host, and what tokend checks (tokend/
 * ops-grantsig.c). Small and strict: the header line, then one key=value
 * per line, each line ending in "\n", keys in this order, each once unless
 * marked (the cmd group repeats, arg repeats inside it):
 *
 *   pertok-grant-request 1
 *   host=NAME            tokend's host (its issuer, else the host name)
 *   user=NAME            the user acted as (the signer's account here)
 *   nonce=NONCE          16 to 64 of [A-Za-z0-9_-], never used before
 *   issued=UNIX          seconds; tokend refuses it 10 minutes later
 *   servicer=NAME
 *   [servicer_exe=PATH]
 *   [servicer_unit=UNIT]
 *   cmd=PATH             (1 to PT_MAX_GRANT_CMDS groups of cmd, [prefix=1],
 *   [prefix=1]            arg=A..., up to PT_MAX_GRANT_ARGS args of up to
 *   [arg=A]...            PT_MAX_GRANT_ARG bytes, which may be empty)
 *   [not_before=UNIX]
 *   lifetime=SECONDS     (1 to 10 years)
 *   [max_uses=N]
 *   [max_runtime=SECONDS]
 *   [depth=N]            (1 to 16; absent: 0, no delegation)
 *
 * Values are printable ASCII (0x20..0x7e); only arg may hold spaces or be
 * empty. Numbers are decimal without leading zeros. Nothing else: no
 * comments, no blank lines, no CR. The parser is a decoder of untrusted
 * bytes (fuzz target "grantreq") and says precisely what is wrong.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define PT_GRANTREQ_MAX 8192 /* bytes of a request's text */
#define PT_GRANTREQ_HEADER "pertok-grant-request 1"
#define PT_GRANTREQ_MAX_AGE 600 /* s: a request older than this is refused */
#define PT_GRANTREQ_NONCE_MIN 16
#define PT_GRANTREQ_NONCE_MAX 64

struct pt_grantreq {
	char host[PT_MAX_STR + 1];
	char user[PT_MAX_STR + 1];
	char nonce[PT_GRANTREQ_NONCE_MAX + 1];
	uint64_t issued;
	struct pt_grant_spec *spec; /* owned */
};

/* Parses text[0..len). 0 (*ret filled; pt_grantreq_clear frees it);
 * -EBADMSG (err says what and on which line; *ret untouched); -ENOMEM. */
int pt_grantreq_parse(const char *text, size_t len, struct pt_grantreq *ret, char *err,
		      size_t errlen);
void pt_grantreq_clear(struct pt_grantreq *r);

/* The text of r (caller frees; NUL-terminated, *ret_len without it), which
 * pt_grantreq_parse reads back. -EINVAL when a value cannot be written (a
 * control character, a newline), -ENOMEM. */
int pt_grantreq_format(const struct pt_grantreq *r, char **ret, size_t *ret_len);
