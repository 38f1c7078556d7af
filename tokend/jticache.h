/* SPDX-License-Identifier: MIT */
/*
 * The replay cache of external JWTs (pam_pertok.so accept): every accepted
 * (iss, jti) is kept until the token's exp + the issuer's leeway, so that
 * no token is accepted twice, across restarts too.
 *
 * One file per issuer in STATE_DIR/jti/ (named by the SHA-256 of iss), one
 * line per entry "KEEP_UNTIL HEX(SHA-256(jti))"; an entry is appended and
 * fdatasync'd before pt_jticache_add returns (so before the reply that
 * grants the login); the file is rewritten without the lapsed entries
 * (atomically) when it holds twice as many lines as live entries. Bounded:
 * at most max live entries per issuer, and a full cache refuses (-ENOSPC)
 * rather than forgets one that could still be replayed.
 */
#pragma once

#include <stdint.h>

struct pt_jticache;

/* dir is created (0700) when missing. 0 or -errno. */
int pt_jticache_open(const char *dir, struct pt_jticache **ret);
void pt_jticache_close(struct pt_jticache *c);

/* Records jti of iss until keep_until. 0; -EEXIST: seen before and still
 * kept at now (a replay); -ENOSPC: max entries of iss are live; -EIO or
 * another -errno: could not be made durable (refuse). */
int pt_jticache_add(struct pt_jticache *c, const char *iss, const char *jti, uint64_t keep_until,
		    uint64_t now, uint32_t max);
