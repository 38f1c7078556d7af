/* SPDX-License-Identifier: MIT */
/* The exact cgroup check of a credential peer: see credential-cg.h. */
#include "conf.h"

#include <string.h>

#include "credential-cg.h"

/* Whether the peer's cgroup text has the systemd hierarchy's line ("0::"
 * on the unified hierarchy, "N:name=systemd:" on v1) naming exactly the
 * cgroup systemd says the unit has. */
bool pt_cred_cgroup_is(const char *text, size_t n, const char *want)
{
	size_t wl = strlen(want);

	for (const char *l = text; l < text + n;) {
		const char *e = memchr(l, '\n', (size_t)(text + n - l));
		const char *c1, *c2;

		if (!e)
			e = text + n;
		c1 = memchr(l, ':', (size_t)(e - l));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(e - c1 - 1)) : NULL;
		if (c2 &&
		    ((c2 == c1 + 1 && l[0] == '0' && c1 == l + 1) ||
		     ((size_t)(c2 - c1 - 1) == 12 && memcmp(c1 + 1, "name=systemd", 12) == 0)) &&
		    (size_t)(e - c2 - 1) == wl && memcmp(c2 + 1, want, wl) == 0)
			return true;
		l = e + 1;
	}
	return false;
}
