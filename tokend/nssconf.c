/* SPDX-License-Identifier: MIT */
/*
 * tokend's own name service view: the system's nsswitch.conf without
 * "pertok" (its own cache, libnss_pertok).
 *
 * Why not just let libnss_pertok step aside (PERTOK_NSS_BYPASS)? glibc's
 * getpwnam_r reports the status of the LAST module it asked. With the
 * recommended "passwd: files sss pertok", a module that steps aside is that
 * last one, and whatever it answers hides the directory's own answer: a
 * user deleted from the directory (NOTFOUND) and a directory that is down
 * (UNAVAIL) would look the same, and tokend.offline = "cached" would redeem
 * deleted users. So tokend tells glibc, with __nss_configure_lookup(3), the
 * very lines of nsswitch.conf with every "pertok" (and the [...] actions
 * that follow it) taken out, at start and at each reload. (glibc stops
 * re-reading nsswitch.conf by itself once a process has done that; the
 * reload is when tokend sees a change: tokend(8).)
 */
#include "conf.h"

#include <errno.h>
#include <nss.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "nssconf.h"

/* The databases tokend resolves accounts and groups through. */
static const char *const dbs[] = { "passwd", "group", "initgroups", "shadow" };

#define NSSCONF_MAX (64 * 1024)

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* line (NUL-terminated, no newline, comment already cut) without its
 * "pertok" services and their [...] actions, into out. Returns the number
 * of pertok entries removed, or -EINVAL for an unterminated '['. */
int pt_nssconf_strip(const char *line, char *out, size_t len)
{
	size_t o = 0;
	int removed = 0;
	bool skipping = false; /* the actions after a removed "pertok" */

	if (len == 0)
		return -EINVAL;
	out[0] = '\0';
	for (const char *p = line; *p;) {
		const char *s;
		size_t n;

		if (is_space(*p)) {
			p++;
			continue;
		}
		s = p;
		if (*p == '[') {
			const char *e = strchr(p, ']');

			if (!e)
				return -EINVAL;
			p = e + 1;
		} else {
			while (*p && !is_space(*p) && *p != '[')
				p++;
		}
		n = (size_t)(p - s);
		if (*s != '[') {
			skipping = n == 6 && memcmp(s, "pertok", 6) == 0;
			if (skipping) {
				removed++;
				continue;
			}
		} else if (skipping)
			continue;
		if (o + n + 2 > len)
			return -E2BIG;
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, s, n);
		o += n;
		out[o] = '\0';
	}
	return removed;
}

int pt_nssconf_apply(const char *path, char *err, size_t errlen)
{
	uint8_t *raw = NULL;
	char *text, *save = NULL, line[4096];
	size_t size = 0;
	int r;

	r = pt_read_file(path, NSSCONF_MAX, &raw, &size);
	if (r == -ENOENT)
		return 0; /* glibc's defaults name no pertok */
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	text = (char *)raw; /* NUL-terminated by pt_read_file */
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(l, '#'), *colon;
		size_t i;

		if (hash)
			*hash = '\0';
		while (is_space(*l))
			l++;
		colon = strchr(l, ':');
		if (!colon)
			continue;
		*colon = '\0';
		for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++)
			if (strcmp(l, dbs[i]) == 0)
				break;
		if (i == sizeof(dbs) / sizeof(dbs[0]))
			continue;
		r = pt_nssconf_strip(colon + 1, line, sizeof(line));
		if (r < 0) {
			snprintf(err, errlen, "%s: the %s line cannot be read (%s)", path, dbs[i],
				 r == -E2BIG ? "too long" : "unterminated '['");
			goto out;
		}
		/* a line of pertok alone: nothing but the cache, which tokend never
		 * asks; files is what glibc would use without a line */
		if (__nss_configure_lookup(dbs[i], line[0] ? line : "files") < 0) {
			snprintf(err, errlen, "%s: glibc refused the %s line \"%s\"", path, dbs[i],
				 line);
			r = -EINVAL;
			goto out;
		}
	}
	r = 0;
out:
	free(raw);
	return r;
}
