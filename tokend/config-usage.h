/* SPDX-License-Identifier: MIT */
/* usage { } of tokend.conf (man/tokend.conf.5, USAGE), parsed for config.c. */
#pragma once

#include <libconfig.h>

#include "conf.h"
#include "confvalue.h"

#define PT_USAGE_DEFAULT_OBSERVATION (30u * 86400u)
#define PT_USAGE_DEFAULT_UNUSED_DAYS 30u

void pt_conf_usage_defaults(struct pt_config *c);
int pt_conf_parse_usage(const struct pt_conf_ctx *x, const config_setting_t *g,
			struct pt_config *c);
