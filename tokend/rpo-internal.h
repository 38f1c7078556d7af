/* SPDX-License-Identifier: MIT */
/* What rpo.c, rpo-reap.c and the RPO request handlers share (rpo.h). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "rpo.h"

struct pt_rpo_db {
	struct pt_rpo *rpos;	  /* in approval order; never removed (tombstones) */
	struct pt_template *tmpl; /* rpos[i]'s template as last loaded (hash "" if not) */
	size_t n, cap;
	uint64_t gen; /* changes so far (pt_rpo_generation) */
};

/* STATE_DIR/templates/sha256-HEX.EXT of a template hash. */
int pt_rpo_template_path(const struct pt_daemon *d, const char *hash, const char *ext, char *buf,
			 size_t len);
/* A free uid (= gid) for the RPO id: the first candidate from its hash,
 * then the range in order; never one of an RPO or tombstone, nor one the
 * host resolves. -ENOSPC when none. */
int pt_rpo_alloc_uid(struct pt_daemon *d, const char *id, uid_t *ret);
/* HOME_BASE/NAME. */
int pt_rpo_home(const struct pt_daemon *d, const struct pt_rpo *r, char *buf, size_t len);
/* The reaper is done with r: its record becomes the tombstone (durable). */
int pt_rpo_mark_expired(struct pt_daemon *d, const struct pt_rpo *r);
