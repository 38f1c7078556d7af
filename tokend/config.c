/* SPDX-License-Identifier: MIT */
/*
 * tokend.conf parser: its sections. libconfig does the syntax (on a text
 * that confguard.h checked first); everything else is checked here,
 * strictly: unknown settings (typos) are errors, every value is checked for
 * its type and range by the readers of confvalue.h (types ( ) by
 * tokentype.c, with the same readers), and every error names FILE:LINE of
 * the setting. Loading is all-or-nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "conf.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "confdir.h"
#include "config-grant.h"
#include "config-rpo.h"
#include "config-usage.h"
#include "confvalue.h"
#include "seal.h"
#include "fileio.h"
#include "issuers.h"
#include "tokentype.h"
#include "util.h"

#define CONFIG_MAX_SIZE (1024 * 1024)

#define DEFAULT_SOCKET RUNDIR "/pertok/tokend.sock"
#define DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/pertok"
#define DEFAULT_NSS_CACHE LOCALSTATEDIR "/cache/pertok/nss.cache"
#define DEFAULT_AUDIENCE "pertok"
#define DEFAULT_ALG "EdDSA"
#define DEFAULT_FRONT_USER "_pertok"
#define DEFAULT_MAX_CONNECTIONS 128
#define DEFAULT_CLIENT_TIMEOUT_MS 5000
#define DEFAULT_MAX_CONNECTIONS_PER_UID 8
#define DEFAULT_MAX_CONNECTION_LIFETIME 30
#define DEFAULT_UID_RATE_N 20
#define DEFAULT_UID_RATE_PERIOD 1
#define DEFAULT_LIVE_LIFETIME 300
#define DEFAULT_MAX_LIVE_LIFETIME 3600
#define DEFAULT_PERSIST_LIFETIME (30 * 86400)
#define DEFAULT_MAX_PERSIST_LIFETIME (60 * 86400)
#define DEFAULT_MAX_OUTSTANDING 4
#define DEFAULT_MAX_JOB_RUNTIME (12 * 3600)
#define DEFAULT_SEAL_BACKEND "software"

#define MAX_CONNECTIONS 65536
#define MAX_CLIENT_TIMEOUT_MS 600000
#define MAX_OUTSTANDING 100000

struct parse {
	struct pt_conf_ctx x; /* FILE in messages, the error buffer */
	struct pt_config *cfg;
};

#define fail(p, s, ...) pt_conf_fail(&(p)->x, (s), __VA_ARGS__)

/* ------------------------------------------------------------------ values */

/* path of a setting for messages: "tokend.socket", "actors[1].uid" */
struct where {
	const char *group; /* "tokend", "actors[1]" */
	const char *key;   /* may be NULL */
};

#define W(s) (s).group, (s).key ? "." : "", (s).key ? (s).key : ""
/* where and key for the value readers (confvalue.h) */
#define AT(s) (s).group, (s).key

static bool printable(const char *s, bool allow_space)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < (allow_space ? 0x20 : 0x21) || c >= 0x7f)
			return false;
	}
	return true;
}

static int set_str(char **dst, const char *v)
{
	char *c = strdup(v);

	if (!c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

/* "/a/b", no empty, "." or ".." components, no trailing slash (except "/"). */
static bool path_normalized(const char *s)
{
	if (s[0] != '/' || !printable(s, true) || strlen(s) >= PATH_MAX)
		return false;
	if (s[1] == '\0')
		return true;
	for (const char *c = s; *c;) {
		const char *e;
		size_t n;

		c++; /* skip '/' */
		e = strchrnul(c, '/');
		n = (size_t)(e - c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c = e;
	}
	return true;
}

static bool check_name(const char *s)
{
	return pt_name_valid(s);
}

static bool check_exe(const char *s)
{
	return strcmp(s, "*") == 0 || path_normalized(s);
}

/* ------------------------------------------------------------------ tokend { } */

enum {
	K_SOCKET,
	K_STATE_DIR,
	K_ISSUER,
	K_AUDIENCE,
	K_ALG,
	K_MAX_CONNECTIONS,
	K_CLIENT_TIMEOUT,
	K_LIVE_LIFETIME,
	K_MAX_LIVE_LIFETIME,
	K_PERSIST_LIFETIME,
	K_MAX_PERSIST_LIFETIME,
	K_MAX_OUTSTANDING,
	K_EXPIRE_GRACE,
	K_MAX_CONNECTIONS_PER_UID,
	K_RESERVED_CONNECTIONS,
	K_MAX_CONNECTION_LIFETIME,
	K_UID_REQUEST_RATE,
	K_FRONT_USER,
	K_NSS_CACHE,
	K_OFFLINE,
	K_MAX_JOB_RUNTIME,
	_K_MAX,
};

static const char *const tokend_keys[_K_MAX] = {
	[K_SOCKET] = "socket",
	[K_STATE_DIR] = "state_dir",
	[K_ISSUER] = "issuer",
	[K_AUDIENCE] = "audience",
	[K_ALG] = "alg",
	[K_FRONT_USER] = "front_user",
	[K_NSS_CACHE] = "nss_cache",
	[K_MAX_CONNECTIONS] = "max_connections",
	[K_CLIENT_TIMEOUT] = "client_timeout",
	[K_LIVE_LIFETIME] = "live_lifetime",
	[K_MAX_LIVE_LIFETIME] = "max_live_lifetime",
	[K_PERSIST_LIFETIME] = "persist_lifetime",
	[K_MAX_PERSIST_LIFETIME] = "max_persist_lifetime",
	[K_MAX_OUTSTANDING] = "max_outstanding",
	[K_EXPIRE_GRACE] = "expire_grace",
	[K_MAX_CONNECTIONS_PER_UID] = "max_connections_per_uid",
	[K_RESERVED_CONNECTIONS] = "reserved_connections",
	[K_MAX_CONNECTION_LIFETIME] = "max_connection_lifetime",
	[K_UID_REQUEST_RATE] = "uid_request_rate",
	[K_OFFLINE] = "offline",
	[K_MAX_JOB_RUNTIME] = "max_job_runtime",
};

/* Lifetime default vs. its cap: the error is at whichever of the two was set. */
static int check_cap(struct parse *p, const config_setting_t *val_s, const config_setting_t *cap_s,
		     const config_setting_t *group, const char *val_name, uint64_t val,
		     const char *cap_name, uint64_t cap)
{
	const config_setting_t *at = val_s;
	char a[32], b[32];

	if (val <= cap)
		return 0;
	pt_conf_fmt_duration(val, a, sizeof(a));
	pt_conf_fmt_duration(cap, b, sizeof(b));
	if (!at)
		at = cap_s ? cap_s : group;
	return fail(p, at, "tokend.%s (%s%s) exceeds tokend.%s (%s%s)", val_name, a,
		    val_s ? "" : ", the default", cap_name, b, cap_s ? "" : ", the default");
}

static int parse_tokend(struct parse *p, const config_setting_t *g)
{
	struct pt_config *c = p->cfg;
	const config_setting_t *set[_K_MAX] = { 0 };
	int len;
	int r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(p, g, "tokend must be a group { ... }, not %s",
			    pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s), *str = NULL;
		int k = pt_conf_key_index(name, tokend_keys, _K_MAX);
		struct where w = { "tokend", name };
		long long v;

		if (k < 0)
			return pt_conf_unknown_key(&p->x, s, "tokend", tokend_keys, _K_MAX);
		set[k] = s;
		switch (k) {
		case K_SOCKET:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (!path_normalized(str))
				return fail(p, s,
					    "tokend.socket: \"%.128s\" is not a normalized "
					    "absolute path",
					    str);
			if (strlen(str) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
				return fail(p, s,
					    "tokend.socket is too long for a UNIX socket path "
					    "(max %zu bytes)",
					    sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
			r = set_str(&c->socket_path, str);
			break;
		case K_STATE_DIR:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (!path_normalized(str) || strcmp(str, "/") == 0)
				return fail(p, s,
					    "tokend.state_dir: \"%.128s\" is not a normalized "
					    "absolute path",
					    str);
			r = set_str(&c->state_dir, str);
			break;
		case K_NSS_CACHE:
			/* libnss_pertok's file; "" = tokend writes none */
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (*str && (!path_normalized(str) || strcmp(str, "/") == 0))
				return fail(p, s,
					    "tokend.nss_cache: \"%.128s\" is not a normalized "
					    "absolute path (or \"\" for none)",
					    str);
			r = set_str(&c->nss_cache, str);
			break;
		case K_ISSUER:
		case K_AUDIENCE:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (str[0] == '\0' || strlen(str) > 255 || !printable(str, false))
				return fail(p, s,
					    "tokend.%s must be 1 to 255 printable characters "
					    "without spaces",
					    name);
			r = set_str(k == K_ISSUER ? &c->issuer : &c->audience, str);
			break;
		case K_ALG:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (strcmp(str, "EdDSA") != 0 && strcmp(str, "Ed25519") != 0)
				return fail(p, s,
					    "tokend.alg must be \"EdDSA\" or \"Ed25519\", "
					    "not \"%.64s\"",
					    str);
			r = set_str(&c->alg, str);
			break;
		case K_OFFLINE:
			/* redeem when the name service reports an error (account.h) */
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (strcmp(str, "deny") != 0 && strcmp(str, "cached") != 0)
				return fail(p, s,
					    "tokend.offline must be \"deny\" or \"cached\", "
					    "not \"%.64s\"",
					    str);
			c->offline_cached = strcmp(str, "cached") == 0;
			break;
		case K_FRONT_USER:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (str[0] == '\0' || strlen(str) > 32 || !printable(str, false))
				return fail(p, s,
					    "tokend.front_user must be a user name of 1 to 32 "
					    "printable characters without spaces");
			r = set_str(&c->front_user, str);
			break;
		case K_MAX_CONNECTIONS:
			r = pt_conf_int(&p->x, s, AT(w), 1, MAX_CONNECTIONS, &v);
			if (r >= 0)
				c->max_connections = (unsigned)v;
			break;
		case K_CLIENT_TIMEOUT:
			r = pt_conf_int(&p->x, s, AT(w), 1, MAX_CLIENT_TIMEOUT_MS, &v);
			if (r >= 0)
				c->client_timeout_ms = (unsigned)v;
			break;
		case K_LIVE_LIFETIME:
			r = pt_conf_duration(&p->x, s, AT(w), &c->live_lifetime);
			break;
		case K_MAX_LIVE_LIFETIME:
			r = pt_conf_duration(&p->x, s, AT(w), &c->max_live_lifetime);
			break;
		case K_PERSIST_LIFETIME:
			r = pt_conf_duration(&p->x, s, AT(w), &c->persist_lifetime);
			break;
		case K_MAX_PERSIST_LIFETIME:
			r = pt_conf_duration(&p->x, s, AT(w), &c->max_persist_lifetime);
			break;
		case K_MAX_OUTSTANDING:
			r = pt_conf_int(&p->x, s, AT(w), 1, MAX_OUTSTANDING, &v);
			if (r >= 0)
				c->max_outstanding = (uint32_t)v;
			break;
		case K_EXPIRE_GRACE:
			r = pt_conf_duration(&p->x, s, AT(w), &c->expire_grace);
			break;
		case K_MAX_JOB_RUNTIME:
			r = pt_conf_duration(&p->x, s, AT(w), &c->max_job_runtime);
			break;
		case K_MAX_CONNECTIONS_PER_UID:
			r = pt_conf_int(&p->x, s, AT(w), 1, MAX_CONNECTIONS, &v);
			if (r >= 0)
				c->max_connections_per_uid = (unsigned)v;
			break;
		case K_RESERVED_CONNECTIONS:
			r = pt_conf_int(&p->x, s, AT(w), 0, MAX_CONNECTIONS - 1, &v);
			if (r >= 0)
				c->reserved_connections = (unsigned)v;
			break;
		case K_MAX_CONNECTION_LIFETIME:
			r = pt_conf_duration(&p->x, s, AT(w), &c->max_connection_lifetime);
			if (r >= 0 && c->max_connection_lifetime > 86400)
				r = fail(p, s,
					 "tokend.max_connection_lifetime is too long (max 1d)");
			break;
		case K_UID_REQUEST_RATE:
			r = pt_conf_rate(&p->x, s, AT(w), &c->uid_rate_n, &c->uid_rate_period);
			break;
		default:
			r = -EINVAL;
		}
		if (r < 0)
			return r;
	}

	/* a quarter of the connections stays reserved for root and the actors
	 * unless set; an explicit reservation must leave room for users */
	if (!set[K_RESERVED_CONNECTIONS])
		c->reserved_connections = c->max_connections / 4;
	else if (c->reserved_connections >= c->max_connections)
		return fail(p, set[K_RESERVED_CONNECTIONS],
			    "tokend.reserved_connections (%u) must be less than "
			    "tokend.max_connections (%u%s)",
			    c->reserved_connections, c->max_connections,
			    set[K_MAX_CONNECTIONS] ? "" : ", the default");
	r = check_cap(p, set[K_LIVE_LIFETIME], set[K_MAX_LIVE_LIFETIME], g, "live_lifetime",
		      c->live_lifetime, "max_live_lifetime", c->max_live_lifetime);
	if (r < 0)
		return r;
	return check_cap(p, set[K_PERSIST_LIFETIME], set[K_MAX_PERSIST_LIFETIME], g,
			 "persist_lifetime", c->persist_lifetime, "max_persist_lifetime",
			 c->max_persist_lifetime);
}

/* ------------------------------------------------------------------ seal { } */

static int parse_seal(struct parse *p, const config_setting_t *g)
{
	static const char *const keys[] = { "backend", "tcti", "srk_handle", "persist_srk",
					    "pcrs" };
	int len;
	int r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(p, g, "seal must be a group { ... }, not %s",
			    pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s), *str = NULL;
		struct where w = { "seal", name };
		int k = pt_conf_key_index(name, keys, PT_ELEMENTSOF(keys));

		if (k < 0)
			return pt_conf_unknown_key(&p->x, s, "seal", keys, PT_ELEMENTSOF(keys));
		if (k == 0) {
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (strcmp(str, "auto") != 0 && !pt_sealer_get(str))
				return fail(p, s,
					    "seal.backend: unknown backend \"%.64s\" (known: "
					    "software, tpm2, auto)",
					    str);
			r = set_str(&p->cfg->seal_backend, str);
		} else if (k == 1) {
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (!str[0] || strlen(str) >= 256 || !printable(str, false))
				return fail(p, s,
					    "seal.tcti: \"%.64s\" is not a TCTI (use "
					    "\"device:/dev/tpmrm0\", \"swtpm:host=H,port=P\" or "
					    "\"tabrmd\")",
					    str);
			r = set_str(&p->cfg->seal_tcti, str);
		} else if (k == 2) {
			long long v;

			r = pt_conf_need_type(&p->x, s, AT(w), CONFIG_TYPE_INT);
			if (r < 0)
				return r;
			v = config_setting_get_int64(s);
			if (v < 0 && config_setting_type(s) == CONFIG_TYPE_INT)
				v += 0x100000000LL; /* libconfig reads 0x81000001 as a negative int */
			if (v < 0x81000000LL || v > 0x81ffffffLL)
				return fail(p, s,
					    "seal.srk_handle must be a persistent handle between "
					    "0x81000000 and 0x81ffffff, not 0x%llx",
					    (unsigned long long)v);
			p->cfg->seal_srk_handle = (uint32_t)v;
		} else if (k == 3) {
			r = pt_conf_bool(&p->x, s, AT(w), &p->cfg->seal_persist_srk);
		} else {
			int t = config_setting_type(s), n;
			uint32_t mask = 0;

			if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
				return fail(p, s,
					    "seal.pcrs must be an array of PCR numbers [ 7, ... ], "
					    "not %s",
					    pt_conf_type_name(t));
			n = config_setting_length(s);
			for (int j = 0; j < n; j++) {
				const config_setting_t *e = config_setting_get_elem(s, (unsigned)j);
				long long v;

				if (config_setting_type(e) != CONFIG_TYPE_INT &&
				    config_setting_type(e) != CONFIG_TYPE_INT64)
					return fail(p, e,
						    "seal.pcrs[%d] must be an integer, not %s", j,
						    pt_conf_type_name(config_setting_type(e)));
				v = config_setting_get_int64(e);
				if (v < 0 || v > 23)
					return fail(
						p, e,
						"seal.pcrs[%d]: PCR %lld does not exist (0 to 23)",
						j, v);
				if (mask & (1u << v))
					return fail(p, e, "seal.pcrs[%d]: PCR %lld listed twice", j,
						    v);
				mask |= 1u << v;
			}
			p->cfg->seal_pcr_mask = mask;
			r = 0;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------------ audit { } */

static int parse_audit(struct parse *p, const config_setting_t *g)
{
	static const char *const keys[] = {
		"file",	       "checkpoint_every", "checkpoint_interval", "sync",
		"rotate_size", "rotate_keep",	   "refusal_burst",	  "refusal_window"
	};
	struct pt_config *c = p->cfg;
	int len;
	int r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(p, g, "audit must be a group { ... }, not %s",
			    pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s), *str = NULL;
		int k = pt_conf_key_index(name, keys, PT_ELEMENTSOF(keys));
		struct where w = { "audit", name };
		long long v;

		if (k < 0)
			return pt_conf_unknown_key(&p->x, s, "audit", keys, PT_ELEMENTSOF(keys));
		switch (k) {
		case 0:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (!path_normalized(str) || strcmp(str, "/") == 0)
				return fail(p, s,
					    "audit.file: \"%.128s\" is not a normalized absolute "
					    "path",
					    str);
			r = set_str(&c->audit_file, str);
			break;
		case 1:
			r = pt_conf_int(&p->x, s, AT(w), 1, 1000000, &v);
			if (r >= 0)
				c->audit_checkpoint_every = (uint32_t)v;
			break;
		case 2:
			r = pt_conf_duration(&p->x, s, AT(w), &c->audit_checkpoint_interval);
			break;
		case 3:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (strcmp(str, "record") != 0 && strcmp(str, "batch") != 0)
				return fail(p, s,
					    "audit.sync must be \"record\" or \"batch\", not "
					    "\"%.64s\"",
					    str);
			c->audit_sync_batch = strcmp(str, "batch") == 0;
			break;
		case 4:
			r = pt_conf_size(&p->x, s, AT(w), &c->audit_rotate_size);
			break;
		case 5:
			r = pt_conf_int(&p->x, s, AT(w), 1, 1000, &v);
			if (r >= 0)
				c->audit_rotate_keep = (uint32_t)v;
			break;
		case 6:
			r = pt_conf_int(&p->x, s, AT(w), 0, 1000000, &v);
			if (r >= 0)
				c->audit_refusal_burst = (uint32_t)v;
			break;
		case 7:
			r = pt_conf_duration(&p->x, s, AT(w), &c->audit_refusal_window);
			break;
		default:
			r = -EINVAL;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------------ actors ( ) */

static void actor_clear(struct pt_actor *a)
{
	for (size_t i = 0; a->pins && i < a->n_exe; i++)
		if (a->pins[i].fd >= 0)
			close(a->pins[i].fd);
	free(a->pins);
	free(a->name);
	pt_conf_strv_free(a->exe, a->n_exe);
	pt_conf_strv_free(a->services, a->n_services);
}

static int parse_actor(struct parse *p, const config_setting_t *g, unsigned idx, struct pt_actor *a)
{
	static const char *const keys[] = { "name", "uid", "exe", "services" };
	char where[32];
	const config_setting_t *seen[PT_ELEMENTSOF(keys)] = { 0 };
	int len;
	int r;

	snprintf(where, sizeof(where), "actors[%u]", idx);
	a->line = (int)config_setting_source_line(g);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(p, g,
			    "%s must be a group { name = ...; uid = ...; exe = [ ... ]; }, not %s",
			    where, pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s), *str = NULL;
		int k = pt_conf_key_index(name, keys, PT_ELEMENTSOF(keys));
		struct where w = { where, name };
		long long v;

		if (k < 0)
			return pt_conf_unknown_key(&p->x, s, where, keys, PT_ELEMENTSOF(keys));
		seen[k] = s;
		switch (k) {
		case 0:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (!pt_name_valid(str) || strcmp(str, "*") == 0)
				return fail(p, s, "%s.name: \"%.128s\" is not a valid name", where,
					    str);
			if (strcmp(str, "self") == 0)
				return fail(p, s,
					    "%s.name: \"self\" is reserved for the built-in actor",
					    where);
			r = set_str(&a->name, str);
			break;
		case 1:
			r = pt_conf_int(&p->x, s, AT(w), 0, (long long)UINT32_MAX - 1, &v);
			if (r >= 0)
				a->uid = (uid_t)v;
			break;
		case 2:
			r = pt_conf_strv(&p->x, s, AT(w), check_exe,
					 "an absolute, normalized path or \"*\"", &a->exe,
					 &a->n_exe);
			if (r >= 0 && a->n_exe == 0)
				r = fail(p, s, "%s.exe must list at least one path (or \"*\")",
					 where);
			break;
		case 3:
			r = pt_conf_strv(&p->x, s, AT(w), check_name,
					 "a valid PAM service name or \"*\"", &a->services,
					 &a->n_services);
			break;
		default:
			r = -EINVAL;
		}
		if (r < 0)
			return r;
	}
	for (size_t k = 0; k < 3; k++)
		if (!seen[k])
			return fail(p, g, "%s: missing \"%s\"", where, keys[k]);
	return 0;
}

static int parse_actors(struct parse *p, const config_setting_t *l)
{
	struct pt_config *c = p->cfg;
	int t = config_setting_type(l), len;
	int r;

	if (t != CONFIG_TYPE_LIST)
		return fail(p, l, "actors must be a list ( { ... }, ... ), not %s",
			    pt_conf_type_name(t));
	len = config_setting_length(l);
	if (len > PT_CONF_MAX_LIST)
		return fail(p, l, "actors: too many actors (max %d)", PT_CONF_MAX_LIST);
	c->actors = calloc((size_t)len + 1, sizeof(struct pt_actor));
	if (!c->actors)
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct pt_actor *a = &c->actors[i];

		c->n_actors++;
		r = parse_actor(p, g, (unsigned)i, a);
		if (r < 0)
			return r;
		for (int j = 0; j < i; j++)
			if (strcmp(c->actors[j].name, a->name) == 0)
				return fail(p, g,
					    "duplicate actor name \"%s\" (first defined at %s)",
					    a->name,
					    pt_conf_place(p->x.fname,
							  config_setting_get_elem(l, (unsigned)j),
							  (char[512]){ 0 }, 512));
	}
	return 0;
}

/* ------------------------------------------------------------------ rules ( ) */

enum {
	R_NAME,
	R_ACTION,
	R_ACTORS,
	R_USERS,
	R_GROUPS,
	R_HOLDERS,
	R_LIVE_LIFETIME,
	R_PERSIST_LIFETIME,
	R_MAX_OUTSTANDING,
	R_CHECK_ACCOUNT,
	R_ENTITLEMENTS,
	R_ENTITLEMENTS_ADD,
	R_ENTITLEMENTS_REMOVE,
	R_GROUPS_ADD,
	R_GROUPS_REMOVE,
	R_HOURS,
	R_DAYS,
	R_MAX_USES,
	R_IDLE,
	R_MAX_REDEMPTIONS_PER_DAY,
	R_RATE,
	R_TOKEN_ENTITLEMENTS,
	R_TOKEN_SERVICES,
	R_TOKEN_ACTORS,
	R_MAX_AGE,
	R_RENEW_FROM_REDEEMED,
	R_CHECK_PASSWORD_LOCK,
	R_CURTAIL,
	R_NOTE,
	_R_MAX,
};

static const char *const rule_keys[_R_MAX] = {
	[R_NAME] = "name",
	[R_ACTION] = "action",
	[R_ACTORS] = "actors",
	[R_USERS] = "users",
	[R_GROUPS] = "groups",
	[R_HOLDERS] = "holders",
	[R_LIVE_LIFETIME] = "live_lifetime",
	[R_PERSIST_LIFETIME] = "persist_lifetime",
	[R_MAX_OUTSTANDING] = "max_outstanding",
	[R_CHECK_ACCOUNT] = "check_account",
	[R_ENTITLEMENTS] = "entitlements",
	[R_ENTITLEMENTS_ADD] = "entitlements_add",
	[R_ENTITLEMENTS_REMOVE] = "entitlements_remove",
	[R_GROUPS_ADD] = "groups_add",
	[R_GROUPS_REMOVE] = "groups_remove",
	[R_HOURS] = "hours",
	[R_DAYS] = "days",
	[R_MAX_USES] = "max_uses",
	[R_IDLE] = "idle",
	[R_MAX_REDEMPTIONS_PER_DAY] = "max_redemptions_per_day",
	[R_RATE] = "rate",
	[R_TOKEN_ENTITLEMENTS] = "token_entitlements",
	[R_TOKEN_SERVICES] = "token_services",
	[R_TOKEN_ACTORS] = "token_actors",
	[R_MAX_AGE] = "max_age",
	[R_RENEW_FROM_REDEEMED] = "renew_from_redeemed",
	[R_CHECK_PASSWORD_LOCK] = "check_password_lock",
	[R_CURTAIL] = "curtail",
	[R_NOTE] = "note",
};

static void rule_clear(struct pt_rule *r)
{
	free(r->name);
	pt_conf_strv_free(r->actors, r->n_actors);
	pt_conf_strv_free(r->users, r->n_users);
	pt_conf_strv_free(r->groups, r->n_groups);
	pt_conf_strv_free(r->holders, r->n_holders);
	pt_conf_strv_free(r->token_entitlements, r->n_token_entitlements);
	pt_conf_strv_free(r->token_services, r->n_token_services);
	pt_conf_strv_free(r->token_actors, r->n_token_actors);
	pt_conf_strv_free(r->entitlements, r->n_entitlements);
	pt_conf_strv_free(r->entitlements_add, r->n_entitlements_add);
	pt_conf_strv_free(r->entitlements_remove, r->n_entitlements_remove);
	pt_conf_strv_free(r->groups_add, r->n_groups_add);
	pt_conf_strv_free(r->groups_remove, r->n_groups_remove);
	free(r->note);
}

static const char *const *actor_names(const struct pt_config *c, const char **buf)
{
	for (size_t i = 0; i < c->n_actors; i++)
		buf[i] = c->actors[i].name;
	buf[c->n_actors] = "self";
	return buf;
}

/* Every actor or holder named by a rule must be defined ("self" and "*" too
 * for actors; holders must be real actors: only they can redeem). */
static int check_refs(struct parse *p, const config_setting_t *s, const char *where,
		      char *const *names, size_t n, bool holders)
{
	const struct pt_config *c = p->cfg;
	const char **cands;
	char h[96];
	int r = 0;

	cands = calloc(c->n_actors + 1, sizeof(char *));
	if (!cands)
		return -ENOMEM;
	actor_names(c, cands);
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_type(s) == CONFIG_TYPE_STRING ?
						    s :
						    config_setting_get_elem(s, (unsigned)i);

		if (strcmp(names[i], "*") == 0 || pt_config_find_actor(c, names[i]))
			continue;
		if (!holders && strcmp(names[i], "self") == 0)
			continue;
		if (holders && strcmp(names[i], "self") == 0)
			r = fail(
				p, e,
				"%s.holders: \"self\" cannot be a holder (only a defined actor can "
				"redeem)",
				where);
		else
			r = fail(p, e, "%s.%s: unknown actor \"%s\"%s", where,
				 holders ? "holders" : "actors", names[i],
				 pt_conf_hint(names[i], cands, c->n_actors + (holders ? 0 : 1), h,
					      sizeof(h)));
		break;
	}
	free(cands);
	return r;
}

/* "HH:MM-HH:MM", minutes since midnight; "24:00" only as the end. */
static int parse_hhmm(const char *s, unsigned max_h, uint16_t *ret)
{
	unsigned h, m;

	if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] == ':' &&
	      s[3] >= '0' && s[3] <= '5' && s[4] >= '0' && s[4] <= '9'))
		return -EINVAL;
	h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
	if (h > max_h || (h == 24 && m != 0))
		return -EINVAL;
	*ret = (uint16_t)(h * 60 + m);
	return 0;
}

static int parse_hours(const char *s, uint16_t *ret_from, uint16_t *ret_to)
{
	uint16_t from, to;

	if (strlen(s) != 11 || s[5] != '-' || parse_hhmm(s, 23, &from) < 0 ||
	    parse_hhmm(s + 6, 24, &to) < 0 || from == to)
		return -EINVAL;
	*ret_from = from;
	*ret_to = to;
	return 0;
}

static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static int day_index(const char *s, size_t n)
{
	for (int i = 0; i < 7; i++)
		if (n == 3 && strncmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

/* days = [ "mon", "tue" ] or [ "mon-fri" ] (a range may wrap: "fri-mon"). */
static int parse_days(struct parse *p, const config_setting_t *s, struct where w, uint8_t *ret)
{
	char **v = NULL;
	size_t n = 0;
	uint8_t mask = 0;
	int r;

	r = pt_conf_strv(&p->x, s, AT(w), check_name, "a valid day", &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		const char *dash = strchr(v[i], '-');
		int a = day_index(v[i], dash ? (size_t)(dash - v[i]) : strlen(v[i]));
		int b = dash ? day_index(dash + 1, strlen(dash + 1)) : a;

		if (a < 0 || b < 0) {
			r = fail(p, s,
				 "%s%s%s: \"%.64s\" is not a day (sun, mon, tue, wed, thu, fri, "
				 "sat) or a range like \"mon-fri\"",
				 W(w), v[i]);
			break;
		}
		for (int d = a;; d = (d + 1) % 7) {
			mask |= (uint8_t)(1u << d);
			if (d == b)
				break;
		}
	}
	if (r >= 0 && n == 0)
		r = fail(p, s, "%s%s%s must name at least one day", W(w));
	pt_conf_strv_free(v, n);
	if (r >= 0)
		*ret = mask;
	return r;
}

/* The effects that are only valid in one of the two sets. */
static int parse_rule_effect(struct parse *p, const config_setting_t *s, struct where w, int k,
			     bool is_issue, struct pt_rule *rule)
{
	long long v;
	int r;

	if (k == R_ENTITLEMENTS && !is_issue)
		return fail(p, s,
			    "%s.entitlements is only valid in issue rules (use "
			    "entitlements_add / entitlements_remove in redeem rules)",
			    w.group);
	if (k == R_RATE && !is_issue)
		return fail(p, s, "%s.rate is only valid in issue rules", w.group);
	if (k != R_ENTITLEMENTS && k != R_RATE && is_issue)
		return fail(p, s, "%s.%s is only valid in redeem rules", w.group, w.key);
	switch (k) {
	case R_ENTITLEMENTS:
		return pt_conf_strv(&p->x, s, AT(w), check_name, "a valid entitlement name",
				    &rule->entitlements, &rule->n_entitlements);
	case R_ENTITLEMENTS_ADD:
		return pt_conf_strv(&p->x, s, AT(w), check_name, "a valid entitlement name",
				    &rule->entitlements_add, &rule->n_entitlements_add);
	case R_ENTITLEMENTS_REMOVE:
		return pt_conf_strv(&p->x, s, AT(w), check_name,
				    "a valid entitlement name or \"*\"", &rule->entitlements_remove,
				    &rule->n_entitlements_remove);
	case R_GROUPS_ADD:
		return pt_conf_strv(&p->x, s, AT(w), check_name, "a valid group name",
				    &rule->groups_add, &rule->n_groups_add);
	case R_GROUPS_REMOVE:
		return pt_conf_strv(&p->x, s, AT(w), check_name, "a valid group name or \"*\"",
				    &rule->groups_remove, &rule->n_groups_remove);
	case R_MAX_USES:
		r = pt_conf_int(&p->x, s, AT(w), 1, UINT32_MAX, &v);
		if (r >= 0)
			rule->max_uses = (uint32_t)v;
		return r;
	case R_IDLE:
		return pt_conf_duration(&p->x, s, AT(w), &rule->idle);
	case R_MAX_AGE:
		return pt_conf_duration(&p->x, s, AT(w), &rule->max_age);
	case R_MAX_REDEMPTIONS_PER_DAY:
		r = pt_conf_int(&p->x, s, AT(w), 1, UINT32_MAX, &v);
		if (r >= 0)
			rule->max_redemptions_per_day = (uint32_t)v;
		return r;
	case R_RATE:
		return pt_conf_rate(&p->x, s, AT(w), &rule->rate_n, &rule->rate_period);
	default:
		return -EINVAL;
	}
}

/* token_entitlements / token_services / token_actors: match lists over what
 * the persistable token recorded at issuance. Only redeem rules see a
 * persistable token; issue rules refuse them. Actor names are not checked
 * against the actors ( ) list: tokens of a removed actor can still be
 * matched (denied) by name. */
static int parse_token_match(struct parse *p, const config_setting_t *s, struct where w, int k,
			     bool is_issue, struct pt_rule *rule)
{
	if (is_issue)
		return fail(p, s,
			    "%s.%s is only valid in redeem rules (issue rules see no persistable "
			    "token)",
			    w.group, w.key);
	switch (k) {
	case R_TOKEN_ENTITLEMENTS:
		return pt_conf_strv(&p->x, s, AT(w), check_name,
				    "a valid entitlement name or \"*\"", &rule->token_entitlements,
				    &rule->n_token_entitlements);
	case R_TOKEN_SERVICES:
		return pt_conf_strv(&p->x, s, AT(w), check_name,
				    "a valid PAM service name or \"*\"", &rule->token_services,
				    &rule->n_token_services);
	case R_TOKEN_ACTORS:
		return pt_conf_strv(&p->x, s, AT(w), check_name,
				    "a valid actor name, \"self\" or \"*\"", &rule->token_actors,
				    &rule->n_token_actors);
	default:
		return -EINVAL;
	}
}

/* A curtail rule (usage.h) only matches users and holders and only removes:
 * it never decides, so nothing else it could say would take effect. */
static int check_curtail(struct parse *p, const config_setting_t *g, const char *where,
			 uint64_t seen, const struct pt_rule *rule)
{
	static const int allowed[] = { R_NAME,		R_USERS,   R_HOLDERS, R_ENTITLEMENTS_REMOVE,
				       R_GROUPS_REMOVE, R_CURTAIL, R_NOTE };
	uint64_t ok = 0;

	for (size_t i = 0; i < PT_ELEMENTSOF(allowed); i++)
		ok |= 1ull << allowed[i];
	for (int k = 0; k < _R_MAX; k++)
		if ((seen & ~ok) & (1ull << k))
			return fail(p, g,
				    "%s: a curtail rule only has name, users, holders, "
				    "entitlements_remove, groups_remove and note, not %s",
				    where, rule_keys[k]);
	if (!rule->n_entitlements_remove && !rule->n_groups_remove)
		return fail(p, g, "%s: a curtail rule needs entitlements_remove or groups_remove",
			    where);
	return 0;
}

static int parse_rule(struct parse *p, const config_setting_t *g, const char *set, unsigned idx,
		      struct pt_rule *rule)
{
	struct pt_config *c = p->cfg;
	bool is_issue = strcmp(set, "issue") == 0;
	uint64_t seen = 0;
	char where[32];
	int len;
	int r;

	snprintf(where, sizeof(where), "%s[%u]", set, idx);
	rule->line = (int)config_setting_source_line(g);
	rule->check_account = true;
	rule->action = PT_ACTION_ALLOW;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(p, g, "%s must be a group { ... }, not %s", where,
			    pt_conf_type_name(config_setting_type(g)));
	len = config_setting_length(g);
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s), *str = NULL;
		int k = pt_conf_key_index(name, rule_keys, _R_MAX);
		struct where w = { where, name };
		long long v;
		char a[32], b[32];

		if (k < 0)
			return pt_conf_unknown_key(&p->x, s, where, rule_keys, _R_MAX);
		seen |= 1ull << k;
		switch (k) {
		case R_NAME:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (!pt_name_valid(str))
				return fail(p, s, "%s.name: \"%.128s\" is not a valid name", where,
					    str);
			r = set_str(&rule->name, str);
			break;
		case R_ACTION:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r < 0)
				return r;
			if (strcmp(str, "allow") == 0)
				rule->action = PT_ACTION_ALLOW;
			else if (strcmp(str, "deny") == 0)
				rule->action = PT_ACTION_DENY;
			else
				return fail(
					p, s,
					"%s.action must be \"allow\" or \"deny\", not \"%.64s\"",
					where, str);
			break;
		case R_ACTORS:
			r = pt_conf_strv(&p->x, s, AT(w), check_name, "a valid actor name or \"*\"",
					 &rule->actors, &rule->n_actors);
			if (r >= 0)
				r = check_refs(p, s, where, rule->actors, rule->n_actors, false);
			break;
		case R_USERS:
			r = pt_conf_strv(&p->x, s, AT(w), check_name, "a valid user name or \"*\"",
					 &rule->users, &rule->n_users);
			break;
		case R_GROUPS:
			r = pt_conf_strv(&p->x, s, AT(w), check_name, "a valid group name or \"*\"",
					 &rule->groups, &rule->n_groups);
			break;
		case R_HOLDERS:
			r = pt_conf_strv(&p->x, s, AT(w), check_name,
					 "a valid holder name or \"*\"", &rule->holders,
					 &rule->n_holders);
			if (r >= 0)
				r = check_refs(p, s, where, rule->holders, rule->n_holders, true);
			break;
		case R_TOKEN_ENTITLEMENTS:
		case R_TOKEN_SERVICES:
		case R_TOKEN_ACTORS:
			r = parse_token_match(p, s, w, k, is_issue, rule);
			break;
		case R_LIVE_LIFETIME:
			r = pt_conf_duration(&p->x, s, AT(w), &rule->live_lifetime);
			if (r >= 0 && rule->live_lifetime > c->max_live_lifetime) {
				pt_conf_fmt_duration(rule->live_lifetime, a, sizeof(a));
				pt_conf_fmt_duration(c->max_live_lifetime, b, sizeof(b));
				r = fail(p, s,
					 "%s.live_lifetime (%s) exceeds "
					 "tokend.max_live_lifetime (%s)",
					 where, a, b);
			}
			break;
		case R_PERSIST_LIFETIME:
			r = pt_conf_duration(&p->x, s, AT(w), &rule->persist_lifetime);
			if (r >= 0 && rule->persist_lifetime > c->max_persist_lifetime) {
				pt_conf_fmt_duration(rule->persist_lifetime, a, sizeof(a));
				pt_conf_fmt_duration(c->max_persist_lifetime, b, sizeof(b));
				r = fail(p, s,
					 "%s.persist_lifetime (%s) exceeds "
					 "tokend.max_persist_lifetime (%s)",
					 where, a, b);
			}
			break;
		case R_MAX_OUTSTANDING:
			if (!is_issue)
				return fail(p, s, "%s.max_outstanding is only valid in issue rules",
					    where);
			r = pt_conf_int(&p->x, s, AT(w), 1, MAX_OUTSTANDING, &v);
			if (r >= 0)
				rule->max_outstanding = (uint32_t)v;
			break;
		case R_CHECK_ACCOUNT:
			r = pt_conf_bool(&p->x, s, AT(w), &rule->check_account);
			break;
		case R_RENEW_FROM_REDEEMED:
			if (!is_issue)
				return fail(p, s,
					    "%s.renew_from_redeemed is only valid in issue rules",
					    where);
			r = pt_conf_bool(&p->x, s, AT(w), &rule->renew_from_redeemed);
			break;
		case R_CHECK_PASSWORD_LOCK:
			r = pt_conf_bool(&p->x, s, AT(w), &rule->check_password_lock);
			break;
		case R_CURTAIL:
			if (is_issue)
				return fail(p, s, "%s.curtail is only valid in redeem rules",
					    where);
			r = pt_conf_bool(&p->x, s, AT(w), &rule->curtail);
			break;
		case R_NOTE:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r >= 0 && (!printable(str, true) || strlen(str) > 400))
				r = fail(p, s,
					 "%s.note must be printable text of at most 400 "
					 "characters",
					 where);
			if (r >= 0)
				r = set_str(&rule->note, str);
			break;
		case R_ENTITLEMENTS:
		case R_ENTITLEMENTS_ADD:
		case R_ENTITLEMENTS_REMOVE:
		case R_GROUPS_ADD:
		case R_GROUPS_REMOVE:
		case R_MAX_USES:
		case R_IDLE:
		case R_MAX_AGE:
		case R_MAX_REDEMPTIONS_PER_DAY:
		case R_RATE:
			r = parse_rule_effect(p, s, w, k, is_issue, rule);
			break;
		case R_HOURS:
			r = pt_conf_string(&p->x, s, AT(w), &str);
			if (r >= 0 && parse_hours(str, &rule->hours_from, &rule->hours_to) < 0)
				r = fail(p, s,
					 "%s.hours: \"%.64s\" is not a time window \"HH:MM-HH:MM\"",
					 where, str);
			if (r >= 0)
				rule->has_hours = true;
			break;
		case R_DAYS:
			r = parse_days(p, s, w, &rule->days);
			break;
		default:
			r = -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (rule->curtail && (r = check_curtail(p, g, where, seen, rule)) < 0)
		return r;
	if (!rule->name) {
		char n[32];
		snprintf(n, sizeof(n), "%s[%u]", set, idx);
		r = set_str(&rule->name, n);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_rules(struct parse *p, const config_setting_t *l, const char *set,
		       struct pt_rule **ret, size_t *ret_n)
{
	struct pt_rule *rules;
	int t = config_setting_type(l), len;
	int r;

	if (t != CONFIG_TYPE_LIST)
		return fail(p, l, "%s must be a list of rules ( { ... }, ... ), not %s", set,
			    pt_conf_type_name(t));
	len = config_setting_length(l);
	if (len > PT_CONF_MAX_LIST)
		return fail(p, l, "%s: too many rules (max %d)", set, PT_CONF_MAX_LIST);
	rules = calloc((size_t)len + 1, sizeof(struct pt_rule));
	if (!rules)
		return -ENOMEM;
	*ret = rules; /* owned by the config from here, freed with it */
	for (int i = 0; i < len; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);

		(*ret_n)++;
		r = parse_rule(p, g, set, (unsigned)i, &rules[i]);
		if (r < 0)
			return r;
		for (int j = 0; j < i; j++)
			if (strcmp(rules[j].name, rules[i].name) == 0)
				return fail(p, g, "duplicate rule name \"%s\" in %s (first at %s)",
					    rules[i].name, set,
					    pt_conf_place(p->x.fname,
							  config_setting_get_elem(l, (unsigned)j),
							  (char[512]){ 0 }, 512));
	}
	return 0;
}

/* ------------------------------------------------------------------ types ( ) */

/* The built-in types "live" and "persistable" may set ttl / max_ttl in place
 * of tokend.live_lifetime / max_live_lifetime / persist_lifetime /
 * max_persist_lifetime; setting both is refused. */
static int parse_types(struct parse *p, const config_setting_t *l, const config_setting_t *tokend)
{
	struct pt_config *c = p->cfg;
	struct pt_ttype_builtin_set bs = { 0 };
	const struct pt_tokentype *live, *persist;
	static const char *const tt_keys[4] = { "live.ttl", "live.max_ttl", "persistable.ttl",
						"persistable.max_ttl" };
	static const char *const lt_keys[4] = { "live_lifetime", "max_live_lifetime",
						"persist_lifetime", "max_persist_lifetime" };
	int r;

	r = pt_ttypes_parse(l, p->x.fname, c->live_lifetime, c->max_live_lifetime,
			    c->persist_lifetime, c->max_persist_lifetime, &c->types, &c->n_types,
			    &bs, p->x.err, p->x.errlen);
	if (r < 0)
		return r;
	const config_setting_t *ts[4] = { bs.live_ttl, bs.live_max_ttl, bs.persist_ttl,
					  bs.persist_max_ttl };
	for (size_t i = 0; i < 4; i++) {
		const config_setting_t *o =
			tokend ? config_setting_get_member(tokend, lt_keys[i]) : NULL;
		if (ts[i] && o)
			return fail(p, ts[i],
				    "types: %s and tokend.%s (line %u) set the same lifetime; "
				    "keep one",
				    tt_keys[i], lt_keys[i], config_setting_source_line(o));
	}
	live = pt_ttype_find(c->types, c->n_types, "live");
	persist = pt_ttype_find(c->types, c->n_types, "persistable");
	if (!live || !persist)
		return -EINVAL;
	c->live_lifetime = live->ttl;
	c->max_live_lifetime = live->max_ttl;
	c->persist_lifetime = persist->ttl;
	c->max_persist_lifetime = persist->max_ttl;
	return 0;
}

/* ------------------------------------------------------------------ load */

void pt_config_free(struct pt_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->socket_path);
	free(cfg->state_dir);
	free(cfg->nss_cache);
	free(cfg->issuer);
	free(cfg->audience);
	free(cfg->alg);
	free(cfg->front_user);
	free(cfg->seal_backend);
	free(cfg->seal_tcti);
	free(cfg->audit_file);
	for (size_t i = 0; i < cfg->n_actors; i++)
		actor_clear(&cfg->actors[i]);
	free(cfg->actors);
	for (size_t i = 0; i < cfg->n_issue; i++)
		rule_clear(&cfg->issue[i]);
	free(cfg->issue);
	for (size_t i = 0; i < cfg->n_redeem; i++)
		rule_clear(&cfg->redeem[i]);
	free(cfg->redeem);
	pt_config_grants_free(cfg);
	pt_ttypes_free(cfg->types, cfg->n_types);
	pt_issuers_free(cfg->issuers, cfg->n_issuers);
	pt_conf_rpo_free(cfg);
	pt_conf_files_free(&cfg->files);
	free(cfg);
}

size_t pt_config_pin_actors(struct pt_config *cfg)
{
	size_t missing = 0;

	for (size_t i = 0; cfg && i < cfg->n_actors; i++) {
		struct pt_actor *a = &cfg->actors[i];

		if (a->pins)
			continue; /* pinned already */
		a->pins = calloc(a->n_exe ? a->n_exe : 1, sizeof(*a->pins));
		for (size_t j = 0; j < a->n_exe; j++) {
			struct stat st;

			if (!a->pins) {
				missing++;
				continue;
			}
			a->pins[j].fd = -1;
			if (strcmp(a->exe[j], "*") == 0)
				continue;
			a->pins[j].fd = open(a->exe[j], O_PATH | O_CLOEXEC);
			if (a->pins[j].fd < 0 || fstat(a->pins[j].fd, &st) < 0 ||
			    !S_ISREG(st.st_mode)) {
				if (a->pins[j].fd >= 0)
					close(a->pins[j].fd);
				a->pins[j].fd = -1;
				missing++;
				continue;
			}
			a->pins[j].dev = st.st_dev;
			a->pins[j].ino = st.st_ino;
		}
	}
	return missing;
}

const struct pt_actor *pt_config_find_actor(const struct pt_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_actors; i++)
		if (strcmp(cfg->actors[i].name, name) == 0)
			return &cfg->actors[i];
	return NULL;
}

static int set_defaults(struct pt_config *c)
{
	char host[256] = "";
	char issuer[300];

	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(issuer, sizeof(issuer), "pertok:%s", host);

	pt_conf_usage_defaults(c);
	c->max_connections = DEFAULT_MAX_CONNECTIONS;
	c->client_timeout_ms = DEFAULT_CLIENT_TIMEOUT_MS;
	c->expire_grace = 86400;
	c->max_job_runtime = DEFAULT_MAX_JOB_RUNTIME;
	c->max_connections_per_uid = DEFAULT_MAX_CONNECTIONS_PER_UID;
	c->reserved_connections = DEFAULT_MAX_CONNECTIONS / 4;
	c->max_connection_lifetime = DEFAULT_MAX_CONNECTION_LIFETIME;
	c->uid_rate_n = DEFAULT_UID_RATE_N;
	c->uid_rate_period = DEFAULT_UID_RATE_PERIOD;
	c->live_lifetime = DEFAULT_LIVE_LIFETIME;
	c->max_live_lifetime = DEFAULT_MAX_LIVE_LIFETIME;
	c->persist_lifetime = DEFAULT_PERSIST_LIFETIME;
	c->max_persist_lifetime = DEFAULT_MAX_PERSIST_LIFETIME;
	c->max_outstanding = DEFAULT_MAX_OUTSTANDING;
	c->seal_srk_handle = 0x81000001u;
	c->seal_persist_srk = true;
	c->audit_checkpoint_every = 1000;
	c->audit_checkpoint_interval = 300;
	c->audit_rotate_size = 32ULL << 20;
	c->audit_rotate_keep = 10;
	c->audit_refusal_burst = 10;
	c->audit_refusal_window = 60;
	pt_config_grants_defaults(c);
	if (set_str(&c->socket_path, DEFAULT_SOCKET) < 0 ||
	    set_str(&c->state_dir, DEFAULT_STATE_DIR) < 0 ||
	    set_str(&c->nss_cache, DEFAULT_NSS_CACHE) < 0 || set_str(&c->issuer, issuer) < 0 ||
	    set_str(&c->audience, DEFAULT_AUDIENCE) < 0 || set_str(&c->alg, DEFAULT_ALG) < 0 ||
	    set_str(&c->front_user, DEFAULT_FRONT_USER) < 0 ||
	    set_str(&c->seal_backend, DEFAULT_SEAL_BACKEND) < 0 || pt_conf_rpo_defaults(c) < 0)
		return -ENOMEM;
	return 0;
}

enum {
	TOP_TOKEND,
	TOP_SEAL,
	TOP_ACTORS,
	TOP_ISSUE,
	TOP_REDEEM,
	TOP_AUDIT,
	TOP_TYPES,
	TOP_GRANT,
	TOP_GRANTS,
	TOP_ENTITLEMENTS,
	TOP_RPO,
	TOP_ISSUERS,
	TOP_USAGE,
	_TOP_MAX
};
static const char *const top_keys[_TOP_MAX] = { "tokend", "seal",	  "actors", "issue",
						"redeem", "audit",	  "types",  "grant",
						"grants", "entitlements", "rpo",    "issuers",
						"usage" };

/* A new config with the defaults, named name; NULL: out of memory. */
static struct pt_config *config_new(const char *name)
{
	struct pt_config *c = calloc(1, sizeof(*c));

	if (c && (set_defaults(c) < 0 || !(c->path = strdup(name)))) {
		pt_config_free(c);
		c = NULL;
	}
	return c;
}

/* The sections of the (merged) tree, into p->cfg. */
static int parse_tree(struct parse *p, config_t *lc)
{
	const config_setting_t *top[_TOP_MAX] = { 0 };
	config_setting_t *root = config_root_setting(lc);
	int len = config_setting_length(root);
	int r;

	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		int k = pt_conf_key_index(config_setting_name(s), top_keys, _TOP_MAX);

		if (k < 0)
			return pt_conf_unknown_key(&p->x, s, NULL, top_keys, _TOP_MAX);
		top[k] = s;
	}
	/* tokend first: rules are checked against its caps */
	if (top[TOP_TOKEND] && (r = parse_tokend(p, top[TOP_TOKEND])) < 0)
		return r;
	/* types after tokend: the built-ins' ttl / max_ttl become its lifetimes */
	if ((r = parse_types(p, top[TOP_TYPES], top[TOP_TOKEND])) < 0)
		return r;
	if (top[TOP_SEAL] && (r = parse_seal(p, top[TOP_SEAL])) < 0)
		return r;
	if (top[TOP_AUDIT] && (r = parse_audit(p, top[TOP_AUDIT])) < 0)
		return r;
	if (top[TOP_USAGE] && (r = pt_conf_parse_usage(&p->x, top[TOP_USAGE], p->cfg)) < 0)
		return r;
	if (top[TOP_ACTORS] && (r = parse_actors(p, top[TOP_ACTORS])) < 0)
		return r;
	if (top[TOP_ISSUE] &&
	    (r = parse_rules(p, top[TOP_ISSUE], "issue", &p->cfg->issue, &p->cfg->n_issue)) < 0)
		return r;
	if (top[TOP_REDEEM] &&
	    (r = parse_rules(p, top[TOP_REDEEM], "redeem", &p->cfg->redeem, &p->cfg->n_redeem)) < 0)
		return r;
	if (top[TOP_GRANT] && (r = pt_config_parse_grant(&p->x, top[TOP_GRANT], p->cfg)) < 0)
		return r;
	if (top[TOP_GRANTS] && (r = pt_config_parse_grants(&p->x, top[TOP_GRANTS], p->cfg)) < 0)
		return r;
	if ((r = pt_conf_parse_entitlements(&p->x, top[TOP_ENTITLEMENTS], p->cfg)) < 0 ||
	    (r = pt_conf_parse_rpo(&p->x, top[TOP_RPO], p->cfg)) < 0)
		return r;
	/* after tokend: an issuer may not be tokend's own */
	if (top[TOP_ISSUERS] && (r = pt_issuers_parse(&p->x, top[TOP_ISSUERS], p->cfg->issuer,
						      &p->cfg->issuers, &p->cfg->n_issuers)) < 0)
		return r;
	return 0;
}

int pt_config_load_string(const char *text, const char *name, struct pt_config **ret, char *err,
			  size_t errlen)
{
	struct parse p = {
		.x = { .fname = name ? name : "(config)", .err = err, .errlen = errlen }
	};
	config_t lc;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!text || !ret)
		return -EINVAL;
	p.cfg = config_new(p.x.fname);
	if (!p.cfg)
		return -ENOMEM;
	config_init(&lc);
	if ((r = pt_conf_read_text(text, p.x.fname, &lc, err, errlen)) < 0)
		goto out;
	if ((r = parse_tree(&p, &lc)) < 0)
		goto out;

	*ret = p.cfg;
	p.cfg = NULL;
	r = 0;
out:
	config_destroy(&lc);
	if (r == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: out of memory", p.x.fname);
	pt_config_free(p.cfg);
	return r;
}

int pt_config_load_dirs(const char *path, const struct pt_config_dirs *dirs, struct pt_config **ret,
			char *err, size_t errlen)
{
	struct parse p = { .x = { .fname = path, .err = err, .errlen = errlen } };
	struct pt_conf_files files = { 0 };
	config_t lc;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !dirs || !ret)
		return -EINVAL;
	config_init(&lc);
	if ((r = pt_conf_files_add(&files, path, "config")) < 0)
		goto out;
	if ((dirs->dropin_dir && !(files.dropin_dir = strdup(dirs->dropin_dir))) ||
	    (dirs->types_vendor_dir &&
	     !(files.types_vendor_dir = strdup(dirs->types_vendor_dir))) ||
	    (dirs->types_admin_dir && !(files.types_admin_dir = strdup(dirs->types_admin_dir)))) {
		r = -ENOMEM;
		goto out;
	}
	/* tokend.conf, then its drop-ins, then types.d; all merged into one
	 * tree whose settings remember their file */
	if ((r = pt_conf_read_file(path, CONFIG_MAX_SIZE, &lc, err, errlen)) < 0 ||
	    (r = pt_conf_merge_dropins(config_root_setting(&lc), dirs->dropin_dir, &files, err,
				       errlen)) < 0 ||
	    (r = pt_conf_merge_types(config_root_setting(&lc), dirs->types_vendor_dir,
				     dirs->types_admin_dir, &files, err, errlen)) < 0)
		goto out;
	p.cfg = config_new(path);
	if (!p.cfg) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = parse_tree(&p, &lc)) < 0)
		goto out;
	p.cfg->files = files;
	files = (struct pt_conf_files){ 0 };
	*ret = p.cfg;
	p.cfg = NULL;
	r = 0;
out:
	config_destroy(&lc);
	pt_conf_files_free(&files); /* after the tree: its settings point to these names */
	if (r == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: out of memory", path);
	pt_config_free(p.cfg);
	return r;
}

int pt_config_load(const char *path, struct pt_config **ret, char *err, size_t errlen)
{
	char *dropin = NULL, *admin = NULL;
	const char *slash = path ? strrchr(path, '/') : NULL;
	int r;

	if (!path || !ret)
		return -EINVAL;
	if (asprintf(&dropin, "%s.d", path) < 0)
		return -ENOMEM;
	if (asprintf(&admin, "%.*s/types.d", slash ? (int)(slash - path) : 1, slash ? path : ".") <
	    0) {
		free(dropin);
		return -ENOMEM;
	}
	r = pt_config_load_dirs(path,
				&(struct pt_config_dirs){ .dropin_dir = dropin,
							  .types_vendor_dir = PT_TYPES_VENDOR_DIR,
							  .types_admin_dir = admin },
				ret, err, errlen);
	free(dropin);
	free(admin);
	return r;
}
