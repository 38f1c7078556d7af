/* SPDX-License-Identifier: MIT */
/*
 * tokend.conf: grant { } (the caps on what users hold and servicers ask)
 * and grants ( ) (who may grant whom what). Deny by default: without a
 * rule no grant can be made. Strict like the rest of config.c: unknown
 * settings are errors, every value is range-checked, errors name FILE:LINE.
 */
#include "config-grant.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define fail(x, s, ...) pt_conf_fail((x), (s), __VA_ARGS__)
#define MAX_COUNT 100000

void pt_config_grants_defaults(struct pt_config *c)
{
	c->grant_max_per_user = PT_GRANT_DEFAULT_MAX_PER_USER;
	c->grant_max_pending = PT_GRANT_DEFAULT_MAX_PENDING;
	c->grant_request_ttl = PT_GRANT_DEFAULT_REQUEST_TTL;
	c->grant_max_command_size = PT_GRANT_DEFAULT_MAX_COMMAND_SIZE;
}

int pt_config_parse_grant(const struct pt_conf_ctx *x, const config_setting_t *g,
			  struct pt_config *c)
{
	static const char *const keys[] = { "max_per_user", "max_pending_per_servicer",
					    "request_ttl", "max_command_size" };
	int len;
	int r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(x, g, "grant must be a group { ... }, not %s",
			    pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int k = pt_conf_key_index(name, keys, PT_ELEMENTSOF(keys));
		long long v;

		if (k < 0)
			return pt_conf_unknown_key(x, s, "grant", keys, PT_ELEMENTSOF(keys));
		switch (k) {
		case 0:
		case 1:
			r = pt_conf_int(x, s, "grant", name, 0, MAX_COUNT, &v);
			if (r >= 0 && k == 0)
				c->grant_max_per_user = (uint32_t)v;
			else if (r >= 0)
				c->grant_max_pending = (uint32_t)v;
			break;
		case 2:
			r = pt_conf_duration(x, s, "grant", name, &c->grant_request_ttl);
			break;
		default:
			r = pt_conf_size(x, s, "grant", name, &c->grant_max_command_size);
			if (r >= 0 && c->grant_max_command_size == 0)
				r = fail(x, s, "grant.max_command_size must be 4K to 1024G, not 0");
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static bool check_name(const char *s)
{
	return pt_name_valid(s) || strcmp(s, "*") == 0;
}

/* an absolute normalized path, "DIR/ *" (the files in DIR) or "*" */
static bool check_command(const char *s)
{
	size_t n = strlen(s);

	if (strcmp(s, "*") == 0)
		return true;
	if (s[0] != '/' || n < 2 || n >= 4096 || strstr(s, "//") || strstr(s, "/./") ||
	    strstr(s, "/../"))
		return false;
	if (n >= 2 && strcmp(s + n - 2, "/.") == 0)
		return false;
	if (n >= 3 && strcmp(s + n - 3, "/..") == 0)
		return false;
	if (s[n - 1] == '/')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x21 || (*p == '*' && p != s + n - 1))
			return false;
	return s[n - 1] != '*' || s[n - 2] == '/';
}

static void rule_clear(struct pt_grant_rule *r)
{
	free(r->name);
	pt_conf_strv_free(r->users, r->n_users);
	pt_conf_strv_free(r->servicers, r->n_servicers);
	pt_conf_strv_free(r->commands, r->n_commands);
	memset(r, 0, sizeof(*r));
}

void pt_config_grants_free(struct pt_config *c)
{
	for (size_t i = 0; i < c->n_grant_rules; i++)
		rule_clear(&c->grant_rules[i]);
	free(c->grant_rules);
	c->grant_rules = NULL;
	c->n_grant_rules = 0;
}

static int parse_rule(const struct pt_conf_ctx *x, const config_setting_t *g, unsigned idx,
		      struct pt_grant_rule *rule)
{
	static const char *const keys[] = { "name",	  "users",    "servicers", "commands",
					    "max_window", "max_uses", "max_depth", "max_runtime" };
	const config_setting_t *seen[PT_ELEMENTSOF(keys)] = { 0 };
	char where[32];
	int len;
	int r;

	snprintf(where, sizeof(where), "grants[%u]", idx);
	rule->line = (int)config_setting_source_line(g);
	rule->max_window = PT_GRANT_DEFAULT_MAX_WINDOW;
	rule->max_uses = PT_GRANT_DEFAULT_MAX_USES;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(x, g,
			    "%s must be a group { users = ...; servicers = ...; ... }, not %s",
			    where, pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s), *str = NULL;
		int k = pt_conf_key_index(name, keys, PT_ELEMENTSOF(keys));
		long long v;

		if (k < 0)
			return pt_conf_unknown_key(x, s, where, keys, PT_ELEMENTSOF(keys));
		seen[k] = s;
		switch (k) {
		case 0:
			r = pt_conf_string(x, s, where, name, &str);
			if (r < 0)
				return r;
			if (!pt_name_valid(str))
				return fail(x, s, "%s.name: \"%.128s\" is not a valid name", where,
					    str);
			rule->name = strdup(str);
			r = rule->name ? 0 : -ENOMEM;
			break;
		case 1:
			r = pt_conf_strv(x, s, where, name, check_name, "a user name or \"*\"",
					 &rule->users, &rule->n_users);
			break;
		case 2:
			r = pt_conf_strv(x, s, where, name, check_name, "a user name or \"*\"",
					 &rule->servicers, &rule->n_servicers);
			break;
		case 3:
			r = pt_conf_strv(x, s, where, name, check_command,
					 "an absolute normalized path, \"DIR/*\" or \"*\"",
					 &rule->commands, &rule->n_commands);
			break;
		case 4:
			r = pt_conf_duration(x, s, where, name, &rule->max_window);
			break;
		case 5:
			r = pt_conf_int(x, s, where, name, 1, MAX_COUNT, &v);
			if (r >= 0)
				rule->max_uses = (uint32_t)v;
			break;
		case 6:
			r = pt_conf_int(x, s, where, name, 0, 16, &v);
			if (r >= 0)
				rule->max_depth = (uint32_t)v;
			break;
		default:
			r = pt_conf_duration(x, s, where, name, &rule->max_runtime);
		}
		if (r < 0)
			return r;
	}
	for (size_t k = 1; k <= 3; k++)
		if (!seen[k] || (k == 1 && !rule->n_users) || (k == 2 && !rule->n_servicers) ||
		    (k == 3 && !rule->n_commands))
			return fail(x, seen[k] ? seen[k] : g,
				    "%s: \"%s\" must list at least one entry (\"*\" for any)",
				    where, keys[k]);
	if (!rule->name) {
		rule->name = strdup(where);
		if (!rule->name)
			return -ENOMEM;
	}
	return 0;
}

int pt_config_parse_grants(const struct pt_conf_ctx *x, const config_setting_t *l,
			   struct pt_config *c)
{
	int t = config_setting_type(l), len;
	int r;

	if (t != CONFIG_TYPE_LIST)
		return fail(x, l, "grants must be a list ( { ... }, ... ), not %s",
			    pt_conf_type_name(t));
	len = config_setting_length(l);
	if (len > PT_CONF_MAX_LIST)
		return fail(x, l, "grants: too many rules (max %d)", PT_CONF_MAX_LIST);
	c->grant_rules = calloc((size_t)len + 1, sizeof(*c->grant_rules));
	if (!c->grant_rules)
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		c->n_grant_rules = (size_t)i + 1;
		r = parse_rule(x, config_setting_get_elem(l, (unsigned)i), (unsigned)i,
			       &c->grant_rules[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < c->n_grant_rules; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->grant_rules[i].name, c->grant_rules[j].name) == 0)
				return fail(x, config_setting_get_elem(l, (unsigned)i),
					    "grants[%zu]: the name \"%s\" is used twice", i,
					    c->grant_rules[i].name);
	return 0;
}
