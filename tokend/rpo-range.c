/* SPDX-License-Identifier: MIT */
/*
 * The RPOs' uid range against the id ranges other parts of the host hand
 * out (config-rpo.h, pt_rpo_range_check). Each file is read bounded, line by
 * line; what cannot be understood in it is skipped (these are other
 * programs' files: their own parsers decide what they mean), what can is
 * compared.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-rpo.h"
#include "fileio.h"
#include "util.h"

#define RANGE_FILE_MAX (1024 * 1024)

struct range_ctx {
	const struct pt_rpo_conf *rc;
	const char *path;
	char *err;
	size_t errlen;
};

/* Does [lo, hi] meet the RPO range? Then the error, naming what. */
static int overlap(struct range_ctx *x, unsigned line, const char *what, uint64_t lo, uint64_t hi)
{
	if (hi < lo || hi < x->rc->uid_min || lo > x->rc->uid_max)
		return 0;
	snprintf(x->err, x->errlen,
		 "rpo: uid range %u..%u overlaps %s %llu..%llu (%s:%u); choose rpo.uid_min / "
		 "uid_max outside it",
		 (unsigned)x->rc->uid_min, (unsigned)x->rc->uid_max, what, (unsigned long long)lo,
		 (unsigned long long)hi, x->path, line);
	return -EEXIST;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "A-B" or "A - B" into lo, hi. */
static int parse_dash_range(const char *s, uint64_t *lo, uint64_t *hi)
{
	char buf[64], *dash;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	dash = strchr(buf, '-');
	if (!dash)
		return -EINVAL;
	*dash = '\0';
	if (pt_parse_u64(trim(buf), lo) < 0 || pt_parse_u64(trim(dash + 1), hi) < 0)
		return -EINVAL;
	return 0;
}

/* Calls fn on each line (NUL-terminated, without its newline) of path; a
 * missing file has no lines. */
static int each_line(struct range_ctx *x, int (*fn)(struct range_ctx *, unsigned, char *, void *),
		     void *state)
{
	uint8_t *data = NULL;
	size_t len = 0;
	unsigned no = 0;
	char *p, *nl;
	int r;

	if (!x->path || !x->path[0])
		return 0;
	r = pt_read_file(x->path, RANGE_FILE_MAX, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(x->err, x->errlen, "rpo: cannot read %s: %s", x->path, strerror(-r));
		return r;
	}
	/* pt_read_file leaves room for nothing: copy with a terminator */
	p = malloc(len + 1);
	if (!p) {
		free(data);
		return -ENOMEM;
	}
	memcpy(p, data, len);
	p[len] = '\0';
	free(data);
	data = (uint8_t *)p;
	for (r = 0; p && *p && r == 0; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		r = fn(x, ++no, p, state);
	}
	free(data);
	return r;
}

/* /etc/subuid, /etc/subgid: NAME:START:COUNT */
static int subid_line(struct range_ctx *x, unsigned no, char *line, void *state)
{
	char *a, *b;
	uint64_t start, count;

	(void)state;
	line = trim(line);
	if (!line[0] || line[0] == '#')
		return 0;
	a = strchr(line, ':');
	b = a ? strchr(a + 1, ':') : NULL;
	if (!b)
		return 0;
	*b = '\0';
	if (pt_parse_u64(a + 1, &start) < 0 || pt_parse_u64(b + 1, &count) < 0 || count == 0)
		return 0;
	return overlap(x, no, "a subordinate id range", start, start + count - 1);
}

/* login.defs: KEY VALUE */
struct defs {
	uint64_t v[8];
	unsigned line[8];
};
static const char *const defs_keys[8] = { "UID_MIN", "UID_MAX", "SYS_UID_MIN", "SYS_UID_MAX",
					  "GID_MIN", "GID_MAX", "SYS_GID_MIN", "SYS_GID_MAX" };

static int defs_line(struct range_ctx *x, unsigned no, char *line, void *state)
{
	struct defs *d = state;
	char *key, *val;
	uint64_t v;

	(void)x;
	key = trim(line);
	if (!key[0] || key[0] == '#')
		return 0;
	val = key + strcspn(key, " \t");
	if (!*val)
		return 0;
	*val++ = '\0';
	val = trim(val);
	for (size_t i = 0; i < PT_ELEMENTSOF(defs_keys); i++)
		if (strcmp(key, defs_keys[i]) == 0 && pt_parse_u64(val, &v) == 0) {
			d->v[i] = v;
			d->line[i] = no;
		}
	return 0;
}

/* sssd.conf / smb.conf: INI. One section's settings at a time. */
struct ini {
	bool sssd;
	bool in_domain; /* sssd: a [domain/NAME] section */
	uint64_t min_id, max_id, map_min, map_max;
	bool has_max, mapping, mapping_off, is_ad, has_map;
	unsigned line;
};

static int ini_flush(struct range_ctx *x, struct ini *s)
{
	int r = 0;

	if (s->sssd && s->in_domain) {
		if (s->has_max && s->max_id > 0)
			r = overlap(x, s->line, "an SSSD domain's min_id..max_id",
				    s->min_id ? s->min_id : 1, s->max_id);
		if (r == 0 && !s->mapping_off && (s->mapping || s->is_ad || s->has_map))
			r = overlap(x, s->line, "SSSD's id-mapping range",
				    s->map_min ? s->map_min : 200000,
				    s->map_max ? s->map_max : 2000200000);
	}
	bool sssd = s->sssd;
	memset(s, 0, sizeof(*s));
	s->sssd = sssd;
	return r;
}

static bool is_true(const char *v)
{
	return strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0;
}

static int ini_line(struct range_ctx *x, unsigned no, char *line, void *state)
{
	struct ini *s = state;
	char *key, *eq, *val;
	uint64_t lo, hi;
	bool sssd = s->sssd;
	int r;

	line = trim(line);
	if (!line[0] || line[0] == '#' || line[0] == ';')
		return 0;
	if (line[0] == '[') {
		r = ini_flush(x, s);
		if (r < 0)
			return r;
		s->in_domain = strncasecmp(line, "[domain/", 8) == 0;
		s->line = no;
		return 0;
	}
	eq = strchr(line, '=');
	if (!eq)
		return 0;
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (sssd) {
		if (strcmp(key, "min_id") == 0)
			pt_parse_u64(val, &s->min_id);
		else if (strcmp(key, "max_id") == 0)
			s->has_max = pt_parse_u64(val, &s->max_id) == 0;
		else if (strcmp(key, "ldap_id_mapping") == 0) {
			s->mapping = is_true(val);
			s->mapping_off = !s->mapping;
		} else if (strcmp(key, "id_provider") == 0)
			s->is_ad = strcmp(val, "ad") == 0;
		else if (strcmp(key, "ldap_idmap_range_min") == 0)
			s->has_map = pt_parse_u64(val, &s->map_min) == 0;
		else if (strcmp(key, "ldap_idmap_range_max") == 0)
			s->has_map = pt_parse_u64(val, &s->map_max) == 0;
		return 0;
	}
	/* smb.conf: "idmap config DOMAIN : range = A-B", "idmap uid = A-B" */
	for (char *p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if ((strncmp(key, "idmap config ", 13) == 0 && strstr(key, ": range") &&
	     strcmp(key + strlen(key) - 5, "range") == 0) ||
	    strcmp(key, "idmap uid") == 0 || strcmp(key, "idmap gid") == 0 ||
	    strcmp(key, "winbind uid") == 0 || strcmp(key, "winbind gid") == 0) {
		if (parse_dash_range(val, &lo, &hi) < 0)
			return 0;
		return overlap(x, no, "a Samba idmap range", lo, hi);
	}
	return 0;
}

int pt_rpo_range_check(const struct pt_rpo_conf *rc, char *err, size_t errlen)
{
	struct range_ctx x = { .rc = rc, .err = err, .errlen = errlen };
	struct defs d = { .v = { 1000, 60000, 101, 999, 1000, 60000, 101, 999 } };
	struct ini s = { 0 };
	int r;

	x.path = rc->subuid;
	if ((r = each_line(&x, subid_line, NULL)) < 0)
		return r;
	x.path = rc->subgid;
	if ((r = each_line(&x, subid_line, NULL)) < 0)
		return r;
	x.path = rc->login_defs;
	if (x.path && x.path[0]) {
		if ((r = each_line(&x, defs_line, &d)) < 0)
			return r;
		for (size_t i = 0; i < PT_ELEMENTSOF(defs_keys); i += 2) {
			char what[64];

			snprintf(what, sizeof(what), "login.defs %s..%s", defs_keys[i],
				 defs_keys[i + 1]);
			r = overlap(&x, d.line[i] ? d.line[i] : d.line[i + 1], what, d.v[i],
				    d.v[i + 1]);
			if (r < 0)
				return r;
		}
	}
	x.path = rc->sssd_conf;
	s.sssd = true;
	if ((r = each_line(&x, ini_line, &s)) < 0 || (r = ini_flush(&x, &s)) < 0)
		return r;
	x.path = rc->smb_conf;
	memset(&s, 0, sizeof(s));
	if ((r = each_line(&x, ini_line, &s)) < 0)
		return r;
	return 0;
}
