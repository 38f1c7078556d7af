/* SPDX-License-Identifier: MIT */
/*
 * The credential socket's pure parts (credential.h): the peer address the
 * front parses, the cgroup text the key holder checks. No I/O, no state:
 * the fuzz harness (tests/fuzz/fuzz-credaddr.c) and the unit test
 * (tests/unit/test-credential.c) call them as tokend does.
 */
#include "conf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "credential.h"
#include "util.h"

/* ------------------------------------------------------------ the address */

/* The unit types whose units may have LoadCredential= (an exec context). */
static const char *const unit_suffixes[] = { ".service", ".socket", ".mount", ".swap" };

static bool unit_char(char ch)
{
	/* (strchr finds the terminating NUL too: never a NUL) */
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr(":-_.\\@", ch) != NULL);
}

const char *pt_cred_unit_suffix(const char *unit)
{
	size_t n = strlen(unit);

	for (size_t i = 0; i < PT_ELEMENTSOF(unit_suffixes); i++) {
		size_t k = strlen(unit_suffixes[i]);

		if (n > k && strcmp(unit + n - k, unit_suffixes[i]) == 0)
			return unit_suffixes[i];
	}
	return NULL;
}

bool pt_cred_unit_valid(const char *unit)
{
	size_t n = strnlen(unit, PT_CRED_MAX_UNIT + 1);

	if (n == 0 || n > PT_CRED_MAX_UNIT || unit[0] == '.' || unit[0] == '@' ||
	    !pt_cred_unit_suffix(unit))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!unit_char(unit[i]))
			return false;
	return true;
}

#define BAD(...)                                    \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		return -EBADMSG;                    \
	} while (0)

int pt_cred_parse_addr(const char *p, size_t len, struct pt_cred_addr *ret, char *err,
		       size_t errlen)
{
	static const char unit_tag[] = "/unit/";
	struct pt_cred_addr a;
	size_t i = 1, start;

	if (len == 0)
		BAD("the peer bound no address (systemd binds \"@<hex>/unit/<unit>/<id>\")");
	if (p[0] != '\0')
		BAD("the peer's address is a path, not an abstract address");
	if (len > 108)
		BAD("the peer's address is longer than an AF_UNIX address can be");
	/* a random 64-bit number, printed "%" PRIx64: 1 to 16 digits (systemd
	 * does not pad it; a leading zero digit is left out) */
	while (i < len && i < 18 && ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
		i++;
	if (i == 1 || i == 18)
		BAD("the peer's address does not start with 1 to 16 lower-case hex digits");
	if (len - i < sizeof(unit_tag) - 1 || memcmp(p + i, unit_tag, sizeof(unit_tag) - 1) != 0)
		BAD("the peer's address has no \"/unit/\" after its hex digits");
	i += sizeof(unit_tag) - 1;
	for (start = i; i < len && p[i] != '/'; i++)
		if (!unit_char(p[i]))
			BAD("the unit name in the peer's address has a character (0x%02x) no unit "
			    "name has",
			    (unsigned char)p[i]);
	if (i == start)
		BAD("the unit name in the peer's address is empty");
	if (i - start > PT_CRED_MAX_UNIT)
		BAD("the unit name in the peer's address is longer than %u bytes",
		    PT_CRED_MAX_UNIT);
	if (i == len)
		BAD("the peer's address has no \"/<credential id>\" after the unit name");
	memcpy(a.unit, p + start, i - start);
	a.unit[i - start] = '\0';
	if (!pt_cred_unit_valid(a.unit))
		BAD("\"%s\" in the peer's address is not the name of a service, socket, mount "
		    "or swap unit",
		    a.unit);
	/* what systemd's credential_name_valid takes: a file name (no '/', not
	 * "." or "..", at most 255 bytes) that is also a descriptor name (printable
	 * ASCII, the space included, but no ':') */
	for (start = ++i; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e || p[i] == '/' ||
		    p[i] == ':')
			BAD("the credential id in the peer's address has a byte (0x%02x) that "
			    "systemd does not take in a credential name (printable ASCII but "
			    "'/' and ':')",
			    (unsigned char)p[i]);
	if (i == start)
		BAD("the credential id in the peer's address is empty");
	if (i - start > PT_CRED_MAX_ID)
		BAD("the credential id in the peer's address is too long");
	memcpy(a.id, p + start, i - start);
	a.id[i - start] = '\0';
	if (strcmp(a.id, ".") == 0 || strcmp(a.id, "..") == 0)
		BAD("the credential id in the peer's address is \"%s\"", a.id);
	*ret = a;
	return 0;
}

/* ------------------------------------------------------------ the cgroup */

/* The systemd hierarchy's path in /proc/PID/cgroup text: the "name=systemd"
 * line if any, else "0::". 0 and [*ret, *ret + *ret_len), or -ENOENT. */
static int systemd_path(const char *text, size_t len, const char **ret, size_t *ret_len)
{
	const char *unified = NULL, *end = text + len;
	size_t unified_len = 0;

	for (const char *line = text; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end, *c1, *c2;

		c1 = memchr(line, ':', (size_t)(le - line));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
		if (c2) {
			size_t ctl = (size_t)(c2 - c1 - 1);

			if (ctl == strlen("name=systemd") &&
			    memcmp(c1 + 1, "name=systemd", ctl) == 0) {
				*ret = c2 + 1;
				*ret_len = (size_t)(le - c2 - 1);
				return 0;
			}
			if (ctl == 0 && c1 - line == 1 && line[0] == '0') {
				unified = c2 + 1;
				unified_len = (size_t)(le - c2 - 1);
			}
		}
		line = le + 1;
	}
	if (!unified)
		return -ENOENT;
	*ret = unified;
	*ret_len = unified_len;
	return 0;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

int pt_cred_check_cgroup(const char *text, size_t len, const char *unit, uid_t peer_uid, char *why,
			 size_t whylen)
{
	char mgr[64];
	const char *path, *seg[64];
	size_t plen, seglen[64], n = 0, mgr_at = SIZE_MAX;

	if (systemd_path(text, len, &path, &plen) < 0) {
		snprintf(why, whylen, "the peer's /proc/PID/cgroup names no systemd cgroup");
		return -EPERM;
	}
	/* split into its components */
	for (size_t i = 0; i < plen;) {
		size_t j = i;

		while (j < plen && path[j] != '/')
			j++;
		if (j > i) {
			if (n == PT_ELEMENTSOF(seg)) {
				snprintf(why, whylen, "the peer's cgroup is nested too deep");
				return -EPERM;
			}
			seg[n] = path + i;
			seglen[n++] = j - i;
		}
		i = j + 1;
	}
	if (n < 2 || seglen[n - 1] != strlen(unit) ||
	    memcmp(seg[n - 1], unit, seglen[n - 1]) != 0) {
		snprintf(why, whylen, "the peer (uid %u) is not in the cgroup of %s but in %.*s",
			 (unsigned)peer_uid, unit, (int)(plen > 200 ? 200 : plen), path);
		return -EPERM;
	}
	snprintf(mgr, sizeof(mgr), "user@%u.service", (unsigned)peer_uid);
	for (size_t i = 0; i + 1 < n; i++)
		if (seglen[i] > 5 && memcmp(seg[i], "user@", 5) == 0 &&
		    ends_with(seg[i], seglen[i], ".service"))
			mgr_at = i;
	/* between a user manager and the unit: slices only (above a system
	 * unit's slice may be a container's own cgroups) */
	for (size_t i = mgr_at + 1; mgr_at != SIZE_MAX && i + 1 < n; i++)
		if (!ends_with(seg[i], seglen[i], ".slice")) {
			snprintf(why, whylen,
				 "the cgroup of %s is not in a slice of a manager (%.*s)", unit,
				 (int)(plen > 200 ? 200 : plen), path);
			return -EPERM;
		}
	if (mgr_at == SIZE_MAX) {
		if (peer_uid != 0) {
			snprintf(why, whylen,
				 "a system unit's credential is loaded by uid 0, not uid %u",
				 (unsigned)peer_uid);
			return -EPERM;
		}
		if (n < 2 || !ends_with(seg[n - 2], seglen[n - 2], ".slice")) {
			snprintf(why, whylen, "%s is not in a slice", unit);
			return -EPERM;
		}
		return PT_CRED_SYSTEM;
	}
	if (seglen[mgr_at] != strlen(mgr) || memcmp(seg[mgr_at], mgr, seglen[mgr_at]) != 0) {
		snprintf(why, whylen, "%s runs under %.*s, not under the peer's own %s", unit,
			 (int)seglen[mgr_at], seg[mgr_at], mgr);
		return -EPERM;
	}
	if (mgr_at + 2 > n - 1) {
		snprintf(why, whylen, "%s is not in a slice of %s", unit, mgr);
		return -EPERM;
	}
	return PT_CRED_USER;
}
