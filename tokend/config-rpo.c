/* SPDX-License-Identifier: MIT */
/*
 * entitlements ( ) and rpo { } of tokend.conf (config-rpo.h).
 */
#include "config-rpo.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The RPOs' default uids: 0x7FFD0000 .. 0x7FFDFFFF (tokend.conf(5)): above
 * SSSD's default id mapping (200000 .. 2000200000) and systemd's container
 * range (524288 .. 0x6FFFFFFF), below systemd's foreign range (0x7FFE0000)
 * and 2^31 (some tools treat uids as signed 32-bit). */
#define DEFAULT_UID_MIN 0x7FFD0000u
#define DEFAULT_UID_MAX 0x7FFDFFFFu
#define DEFAULT_PREFIX "rp-"
#define DEFAULT_HOME_BASE "/home"
#define DEFAULT_SHELL "/bin/bash"
#define DEFAULT_MAX 1024
#define MAX_ENTITLEMENTS 256
#define MAX_PREFIX 16

#define fail(x, s, ...) pt_conf_fail((x), (s), __VA_ARGS__)

static int set_str(char **dst, const char *v)
{
	char *c = strdup(v);

	if (!c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

int pt_conf_rpo_defaults(struct pt_config *c)
{
	struct pt_rpo_conf *rc = &c->rpo;

	rc->uid_min = DEFAULT_UID_MIN;
	rc->uid_max = DEFAULT_UID_MAX;
	rc->max = DEFAULT_MAX;
	rc->reap_delay = 60;
	if (set_str(&rc->prefix, DEFAULT_PREFIX) < 0 ||
	    set_str(&rc->home_base, DEFAULT_HOME_BASE) < 0 ||
	    set_str(&rc->shell, DEFAULT_SHELL) < 0 || set_str(&rc->subuid, "/etc/subuid") < 0 ||
	    set_str(&rc->subgid, "/etc/subgid") < 0 ||
	    set_str(&rc->login_defs, "/etc/login.defs") < 0 ||
	    set_str(&rc->sssd_conf, "/etc/sssd/sssd.conf") < 0 ||
	    set_str(&rc->smb_conf, "/etc/samba/smb.conf") < 0)
		return -ENOMEM;
	return 0;
}

void pt_conf_rpo_free(struct pt_config *c)
{
	struct pt_rpo_conf *rc = &c->rpo;

	for (size_t i = 0; i < c->n_entitlements; i++) {
		free(c->entitlements[i].name);
		pt_conf_strv_free(c->entitlements[i].groups, c->entitlements[i].n_groups);
	}
	free(c->entitlements);
	c->entitlements = NULL;
	c->n_entitlements = 0;
	free(rc->prefix);
	free(rc->home_base);
	free(rc->shell);
	free(rc->subuid);
	free(rc->subgid);
	free(rc->login_defs);
	free(rc->sssd_conf);
	free(rc->smb_conf);
	memset(rc, 0, sizeof(*rc));
}

const struct pt_entitlement *pt_config_find_entitlement(const struct pt_config *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->n_entitlements; i++)
		if (strcmp(c->entitlements[i].name, name) == 0)
			return &c->entitlements[i];
	return NULL;
}

static bool check_name(const char *s)
{
	return pt_name_valid(s);
}

static int parse_entitlement(const struct pt_conf_ctx *x, const config_setting_t *g, unsigned idx,
			     struct pt_entitlement *e)
{
	static const char *const keys[] = { "name", "groups" };
	const config_setting_t *seen[PT_ELEMENTSOF(keys)] = { 0 };
	char where[32];
	int len;
	int r;

	snprintf(where, sizeof(where), "entitlements[%u]", idx);
	e->line = (int)config_setting_source_line(g);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(x, g, "%s must be a group { name = ...; groups = [ ... ]; }, not %s",
			    where, pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s), *str = NULL;
		int k = pt_conf_key_index(name, keys, PT_ELEMENTSOF(keys));

		if (k < 0)
			return pt_conf_unknown_key(x, s, where, keys, PT_ELEMENTSOF(keys));
		seen[k] = s;
		if (k == 0) {
			r = pt_conf_string(x, s, where, name, &str);
			if (r < 0)
				return r;
			if (!pt_name_valid(str) || strcmp(str, "*") == 0)
				return fail(x, s, "%s.name: \"%.128s\" is not a valid name", where,
					    str);
			r = set_str(&e->name, str);
		} else {
			r = pt_conf_strv(x, s, where, name, check_name, "a valid group name",
					 &e->groups, &e->n_groups);
		}
		if (r < 0)
			return r;
	}
	for (size_t k = 0; k < PT_ELEMENTSOF(keys); k++)
		if (!seen[k])
			return fail(x, g, "%s: missing \"%s\"", where, keys[k]);
	return 0;
}

int pt_conf_parse_entitlements(const struct pt_conf_ctx *x, const config_setting_t *l,
			       struct pt_config *c)
{
	int len;
	int r;

	if (!l)
		return 0;
	if (config_setting_type(l) != CONFIG_TYPE_LIST)
		return fail(x, l, "entitlements must be a list ( { ... }, ... ), not %s",
			    pt_conf_type_name(config_setting_type(l)));
	len = config_setting_length(l);
	if (len > MAX_ENTITLEMENTS)
		return fail(x, l, "entitlements: too many (max %d)", MAX_ENTITLEMENTS);
	c->entitlements = calloc((size_t)len + 1, sizeof(*c->entitlements));
	if (!c->entitlements)
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct pt_entitlement *e = &c->entitlements[i];

		c->n_entitlements++;
		r = parse_entitlement(x, g, (unsigned)i, e);
		if (r < 0)
			return r;
		for (int j = 0; j < i; j++)
			if (strcmp(c->entitlements[j].name, e->name) == 0)
				return fail(x, g, "duplicate entitlement \"%s\"", e->name);
	}
	return 0;
}

/* "/a/b" without "." or ".." components or "//", or "" (off). */
static bool path_ok(const char *s, bool empty_ok)
{
	if (s[0] == '\0')
		return empty_ok;
	if (s[0] != '/' || strlen(s) >= PATH_MAX || strstr(s, "//") || strstr(s, "/./") ||
	    strstr(s, "/../"))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p >= 0x7f)
			return false;
	size_t n = strlen(s);
	return !(n >= 2 && strcmp(s + n - 2, "/.") == 0) &&
	       !(n >= 3 && strcmp(s + n - 3, "/..") == 0) && (n == 1 || s[n - 1] != '/');
}

/* A name prefix: 1..16 of [a-z0-9_-], starting with a letter. */
static bool prefix_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_PREFIX || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return false;
	return true;
}

enum {
	P_UID_MIN,
	P_UID_MAX,
	P_PREFIX,
	P_HOME_BASE,
	P_SHELL,
	P_MAX,
	P_SUBUID,
	P_SUBGID,
	P_LOGIN_DEFS,
	P_SSSD_CONF,
	P_SMB_CONF,
	P_REAP_DELAY,
	_P_MAX,
};

static const char *const rpo_keys[_P_MAX] = {
	[P_UID_MIN] = "uid_min",
	[P_UID_MAX] = "uid_max",
	[P_PREFIX] = "prefix",
	[P_HOME_BASE] = "home_base",
	[P_SHELL] = "shell",
	[P_MAX] = "max",
	[P_SUBUID] = "subuid_file",
	[P_SUBGID] = "subgid_file",
	[P_LOGIN_DEFS] = "login_defs_file",
	[P_SSSD_CONF] = "sssd_conf_file",
	[P_SMB_CONF] = "smb_conf_file",
	[P_REAP_DELAY] = "reap_delay",
};

int pt_conf_parse_rpo(const struct pt_conf_ctx *x, const config_setting_t *g, struct pt_config *c)
{
	struct pt_rpo_conf *rc = &c->rpo;
	int len;
	int r;

	if (!g)
		return 0;
	rc->enabled = true;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(x, g, "rpo must be a group { ... }, not %s",
			    pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s), *str = NULL;
		int k = pt_conf_key_index(name, rpo_keys, _P_MAX);
		char **dst = NULL;
		long long v;

		if (k < 0)
			return pt_conf_unknown_key(x, s, "rpo", rpo_keys, _P_MAX);
		switch (k) {
		case P_UID_MIN:
		case P_UID_MAX:
			r = pt_conf_int(x, s, "rpo", name, 1000, INT32_MAX - 1, &v);
			if (r < 0)
				return r;
			*(k == P_UID_MIN ? &rc->uid_min : &rc->uid_max) = (uid_t)v;
			continue;
		case P_REAP_DELAY:
			if (config_setting_type(s) == CONFIG_TYPE_INT &&
			    config_setting_get_int(s) == 0) {
				rc->reap_delay = 0;
				continue;
			}
			r = pt_conf_duration(x, s, "rpo", name, &rc->reap_delay);
			if (r < 0)
				return r;
			continue;
		case P_MAX:
			r = pt_conf_int(x, s, "rpo", name, 1, 65536, &v);
			if (r < 0)
				return r;
			rc->max = (uint32_t)v;
			continue;
		case P_PREFIX:
			dst = &rc->prefix;
			break;
		case P_HOME_BASE:
			dst = &rc->home_base;
			break;
		case P_SHELL:
			dst = &rc->shell;
			break;
		case P_SUBUID:
			dst = &rc->subuid;
			break;
		case P_SUBGID:
			dst = &rc->subgid;
			break;
		case P_LOGIN_DEFS:
			dst = &rc->login_defs;
			break;
		case P_SSSD_CONF:
			dst = &rc->sssd_conf;
			break;
		default:
			dst = &rc->smb_conf;
			break;
		}
		r = pt_conf_string(x, s, "rpo", name, &str);
		if (r < 0)
			return r;
		if (k == P_PREFIX ? !prefix_ok(str) :
				    !path_ok(str, k != P_HOME_BASE && k != P_SHELL))
			return fail(x, s, "rpo.%s: \"%.128s\" is not %s", name, str,
				    k == P_PREFIX ?
					    "a name prefix (1 to 16 of a-z 0-9 _ -, "
					    "starting with a letter)" :
				    k == P_HOME_BASE || k == P_SHELL ?
					    "an absolute, normalized path" :
					    "an absolute, normalized path or \"\" (no check)");
		r = set_str(dst, str);
		if (r < 0)
			return r;
	}
	if (rc->uid_min > rc->uid_max || rc->uid_max - rc->uid_min < 15)
		return fail(x, g, "rpo: uid_min .. uid_max (%u .. %u) must hold at least 16 ids",
			    (unsigned)rc->uid_min, (unsigned)rc->uid_max);
	if ((rc->uid_min <= 65534 && rc->uid_max >= 65534) ||
	    (rc->uid_min <= 65535 && rc->uid_max >= 65535))
		return fail(x, g, "rpo: uid_min .. uid_max must not hold 65534 (nobody) or 65535");
	return 0;
}
