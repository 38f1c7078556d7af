/* SPDX-License-Identifier: MIT */
/*
 * usage { }: how long usage is observed before pertokctl recommend proposes
 * anything, the default window of "unused", whether tokend applies its
 * recommendations itself, and the per-user cap of the usage history
 * (usage.h).
 */
#include "conf.h"

#include <stdint.h>

#include "config-usage.h"
#include "usage.h"
#include "util.h"

void pt_conf_usage_defaults(struct pt_config *c)
{
	c->usage_observation = PT_USAGE_DEFAULT_OBSERVATION;
	c->usage_unused_days = PT_USAGE_DEFAULT_UNUSED_DAYS;
	c->usage_auto_curtail = false;
	c->usage_max_entries_per_user = PT_USAGE_DEFAULT_PER_USER;
}

int pt_conf_parse_usage(const struct pt_conf_ctx *x, const config_setting_t *g, struct pt_config *c)
{
	static const char *const keys[] = { "observation", "unused_days", "auto_curtail",
					    "max_entries_per_user" };
	int len, r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return pt_conf_fail(x, g, "usage must be a group { ... }, not %s",
				    pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int k = pt_conf_key_index(name, keys, PT_ELEMENTSOF(keys));
		long long v;

		switch (k) {
		case 0:
			/* at least 1 s (pt_conf_duration) */
			r = pt_conf_duration(x, s, "usage", name, &c->usage_observation);
			break;
		case 1:
			r = pt_conf_int(x, s, "usage", name, 1, 3650, &v);
			if (r >= 0)
				c->usage_unused_days = (uint32_t)v;
			break;
		case 2:
			r = pt_conf_bool(x, s, "usage", name, &c->usage_auto_curtail);
			break;
		case 3:
			r = pt_conf_int(x, s, "usage", name, 8, 4096, &v);
			if (r >= 0)
				c->usage_max_entries_per_user = (uint32_t)v;
			break;
		default:
			return pt_conf_unknown_key(x, s, "usage", keys, PT_ELEMENTSOF(keys));
		}
		if (r < 0)
			return r;
	}
	return 0;
}
