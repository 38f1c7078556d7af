/* SPDX-License-Identifier: MIT */
/*
 * tokend.conf's remote principal sections (config-rpo.c, tokend.conf(5),
 * pertok-rpo(7)): entitlements ( ), what templates may ask for and the local
 * groups each maps to, and rpo { }, the RPOs' uid range, names and homes.
 */
#pragma once

#include <libconfig.h>

#include "conf.h"
#include "confvalue.h"

/* The defaults of rpo { } into c. 0 or -ENOMEM. */
int pt_conf_rpo_defaults(struct pt_config *c);
/* entitlements ( ) (l may be NULL: none) and rpo { } (g may be NULL). */
int pt_conf_parse_entitlements(const struct pt_conf_ctx *x, const config_setting_t *l,
			       struct pt_config *c);
int pt_conf_parse_rpo(const struct pt_conf_ctx *x, const config_setting_t *g, struct pt_config *c);
void pt_conf_rpo_free(struct pt_config *c);

/* The entitlement of that name, or NULL. */
const struct pt_entitlement *pt_config_find_entitlement(const struct pt_config *c,
							const char *name);

/*
 * The uid range of rpo { } against the id ranges others hand out on this
 * host, each read from its file (a missing file has nothing to overlap):
 * subuid / subgid (NAME:START:COUNT lines), login.defs (UID_MIN..UID_MAX,
 * SYS_UID_MIN..SYS_UID_MAX and the GID_ ones), sssd.conf (min_id..max_id of
 * each domain, and the id-mapping range ldap_idmap_range_min..max where id
 * mapping is on), smb.conf (idmap config DOMAIN : range, idmap uid/gid).
 * 0, or -EEXIST with err naming the file, line and range that overlaps;
 * another -errno when a file cannot be read (err says which).
 */
int pt_rpo_range_check(const struct pt_rpo_conf *rc, char *err, size_t errlen);
