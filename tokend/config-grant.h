/* SPDX-License-Identifier: MIT */
/*
 * tokend.conf's grant { } settings and grants ( ) rules (config-grant.c),
 * read by config.c; see man/tokend.conf.5, GRANTS.
 */
#pragma once

#include <libconfig.h>

#include "conf.h"
#include "confvalue.h"

#define PT_GRANT_DEFAULT_MAX_PER_USER 20
#define PT_GRANT_DEFAULT_MAX_PENDING 10
#define PT_GRANT_DEFAULT_REQUEST_TTL (7 * 86400)
#define PT_GRANT_DEFAULT_MAX_WINDOW (7 * 86400)
#define PT_GRANT_DEFAULT_MAX_USES 10
/* bytes of a command file tokend hashes in a request (the key holder
 * serves one request at a time) */
#define PT_GRANT_DEFAULT_MAX_COMMAND_SIZE (64ull * 1024 * 1024)

/* grant { max_per_user; max_pending_per_servicer; request_ttl;
 * max_command_size; } */
int pt_config_parse_grant(const struct pt_conf_ctx *x, const config_setting_t *g,
			  struct pt_config *c);
/* grants ( { name; users; servicers; commands; max_window; max_uses;
 * max_depth; max_runtime; }, ... ) */
int pt_config_parse_grants(const struct pt_conf_ctx *x, const config_setting_t *l,
			   struct pt_config *c);
void pt_config_grants_defaults(struct pt_config *c);
void pt_config_grants_free(struct pt_config *c);
