/* SPDX-License-Identifier: MIT */
/*
 * The credential socket's checks (tokend/credential-parse.c), table-driven,
 * with the /proc/PID/cgroup texts of the peers systemd has and of the
 * forgeries it never sends (an emulation of the kernel's answer: the
 * daemon test tests/daemon/test-credential puts real processes in real
 * cgroups where the hierarchy is writable).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "credential.h"
#include "util.h"

#define DENY (-EPERM)

static const struct {
	const char *text;
	const char *unit;
	uid_t uid;
	int expect;
	const char *why; /* part of the reason, for a refusal */
} cgroups[] = {
	/* what systemd's own peers look like */
	{ "0::/system.slice/backup.service\n", "backup.service", 0, PT_CRED_SYSTEM, NULL },
	{ "1:name=systemd:/system.slice/backup.service\n0::/\n", "backup.service", 0,
	  PT_CRED_SYSTEM, NULL },
	{ "0::/custom.slice/backup.service\n", "backup.service", 0, PT_CRED_SYSTEM, NULL },
	{ "0::/user.slice/user-1000.slice/user@1000.service/app.slice/sync.service\n",
	  "sync.service", 1000, PT_CRED_USER, NULL },
	{ "0::/machine.slice/c.scope/payload/system.slice/a@b.service\n", "a@b.service", 0,
	  PT_CRED_SYSTEM, NULL },
	/* forgeries: another unit's cgroup */
	{ "0::/system.slice/evil.service\n", "backup.service", 0, DENY,
	  "not in the cgroup of backup.service" },
	{ "0::/system.slice/backup.service/sub\n", "backup.service", 0, DENY,
	  "not in the cgroup of backup.service" },
	{ "0::/user.slice/user-1000.slice/session-3.scope\n", "backup.service", 0, DENY,
	  "not in the cgroup" },
	/* a name=systemd line decides over the unified one */
	{ "1:name=systemd:/system.slice/evil.service\n0::/system.slice/backup.service\n",
	  "backup.service", 0, DENY, "not in the cgroup" },
	/* a user's process naming a system unit, or another user's */
	{ "0::/system.slice/backup.service\n", "backup.service", 1000, DENY,
	  "loaded by uid 0, not uid 1000" },
	{ "0::/user.slice/user-1001.slice/user@1001.service/app.slice/sync.service\n",
	  "sync.service", 1000, DENY, "not under the peer's own user@1000.service" },
	/* root in a user's tree is not that user's manager */
	{ "0::/user.slice/user-1000.slice/user@1000.service/app.slice/sync.service\n",
	  "sync.service", 0, DENY, "not under the peer's own user@0.service" },
	/* a unit named like a slice component, not in a slice */
	{ "0::/backup.service\n", "backup.service", 0, DENY, "not in the cgroup" },
	{ "0::/user@1000.service/sync.service\n", "sync.service", 1000, DENY, "not in a slice" },
	{ "0::/system.slice/x.scope/backup.service\n", "backup.service", 0, DENY,
	  "backup.service is not in a slice" },
	{ "0::/user.slice/user-1000.slice/user@1000.service/x.scope/sync.service\n", "sync.service",
	  1000, DENY, "not in a slice of a manager" },
	{ "", "backup.service", 0, DENY, "names no systemd cgroup" },
	{ "7:pids:/system.slice/backup.service\n", "backup.service", 0, DENY,
	  "names no systemd cgroup" },
};

static void test_cgroups(void **state)
{
	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(cgroups); i++) {
		char why[512] = "";
		int r = pt_cred_check_cgroup(cgroups[i].text, strlen(cgroups[i].text),
					     cgroups[i].unit, cgroups[i].uid, why, sizeof(why));

		if (r != cgroups[i].expect)
			fail_msg("row %zu: %d, expected %d (%s)", i, r, cgroups[i].expect, why);
		if (cgroups[i].why && !strstr(why, cgroups[i].why))
			fail_msg("row %zu: reason \"%s\" lacks \"%s\"", i, why, cgroups[i].why);
	}
}

/* an abstract address: a NUL, then the name */
#define Z(s) "\0" s
#define A(s) s, sizeof(s) - 1
static const struct {
	const char *addr;
	size_t len;
	const char *unit, *id; /* NULL: refused */
	const char *why;
} addrs[] = {
	{ A(Z("0123456789abcdef/unit/backup.service/pertok")), "backup.service", "pertok", NULL },
	{ A(Z("0123456789abcdef/unit/a@b\\x2d.socket/x.y")), "a@b\\x2d.socket", "x.y", NULL },
	{ A(Z("0123456789abcdef/unit/backup.service/pertok/x")), NULL, NULL, "byte (0x2f)" },
	/* systemd's credential_name_valid: printable ASCII, the space included
	 * (LoadCredential=my cred:...), but no '/' and no ':' */
	{ A(Z("0123456789abcdef/unit/backup.service/my cred")), "backup.service", "my cred", NULL },
	{ A(Z("0123456789abcdef/unit/backup.service/ ")), "backup.service", " ", NULL },
	{ A(Z("0123456789abcdef/unit/backup.service/~!x")), "backup.service", "~!x", NULL },
	{ A(Z("0123456789abcdef/unit/backup.service/a:b")), NULL, NULL, "byte (0x3a)" },
	{ A(Z("0123456789abcdef/unit/backup.service/a\x1f"
	      "b")),
	  NULL, NULL, "byte (0x1f)" },
	{ A(Z("0123456789abcdef/unit/backup.service/a\x7f"
	      "b")),
	  NULL, NULL, "byte (0x7f)" },
	{ A(Z("0123456789abcdef/unit/backup.service/.")), NULL, NULL, "is \".\"" },
	{ A(Z("0123456789abcdef/unit/a b.service/x")), NULL, NULL, "character (0x20)" },
	/* systemd prints its random number unpadded: 1 to 16 digits */
	{ A(Z("123456789abcdef/unit/backup.service/pertok")), "backup.service", "pertok", NULL },
	{ A(Z("7/unit/backup.service/pertok")), "backup.service", "pertok", NULL },
	{ A(Z("0123456789ABCDEF/unit/backup.service/pertok")), NULL, NULL,
	  "no \"/unit/\" after its hex digits" },
	{ A(Z("0123456789abcdef0/unit/backup.service/pertok")), NULL, NULL, "1 to 16 lower-case" },
	{ A(Z("/unit/backup.service/pertok")), NULL, NULL, "1 to 16 lower-case" },
	{ A("/run/pertok/x.sock"), NULL, NULL, "a path, not an abstract address" },
	{ A(Z("0123456789abcdef/unit//pertok")), NULL, NULL,
	  "unit name in the peer's address is empty" },
	{ A(Z("0123456789abcdef/unit/.service/pertok")), NULL, NULL, "not the name of a service" },
	{ A(Z("0123456789abcdef/unit/backup.service/..")), NULL, NULL, "is \"..\"" },
	{ A(Z("0123456789abcdef/unit/backup.service/a\0b")), NULL, NULL, "byte (0x00)" },
	{ A(Z("0123456789abcdef/unit/x.socket\0.service/p")), NULL, NULL, "character (0x00)" },
	{ "", 0, NULL, NULL, "bound no address" },
};
#undef A

static void test_addresses(void **state)
{
	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(addrs); i++) {
		struct pt_cred_addr a;
		char err[256] = "";
		int r = pt_cred_parse_addr(addrs[i].addr, addrs[i].len, &a, err, sizeof(err));

		if (addrs[i].unit) {
			if (r != 0)
				fail_msg("row %zu refused: %s", i, err);
			assert_string_equal(a.unit, addrs[i].unit);
			assert_string_equal(a.id, addrs[i].id);
		} else {
			if (r != -EBADMSG)
				fail_msg("row %zu accepted", i);
			if (!strstr(err, addrs[i].why))
				fail_msg("row %zu: \"%s\" lacks \"%s\"", i, err, addrs[i].why);
		}
	}
}

/* The key holder's second look at the unit name the front hands it: the
 * parser's own rule, so that what one accepts the other does. */
static void test_unit_valid(void **state)
{
	static const struct {
		const char *unit;
		bool ok;
	} units[] = {
		{ "backup.service", true }, { "a@b\\x2d.socket", true },
		{ "x.mount", true },	    { "x.swap", true },
		{ "x.target", false },	    { ".service", false },
		{ "@x.service", false },    { "a b.service", false },
		{ "a/b.service", false },   { "", false },
	};
	char longname[PT_CRED_MAX_UNIT + 2];

	(void)state;
	for (size_t i = 0; i < PT_ELEMENTSOF(units); i++)
		if (pt_cred_unit_valid(units[i].unit) != units[i].ok)
			fail_msg("\"%s\": %s, expected %s", units[i].unit,
				 units[i].ok ? "refused" : "accepted",
				 units[i].ok ? "accepted" : "refused");
	/* PT_CRED_MAX_UNIT bytes pass, one more does not */
	memset(longname, 'a', sizeof(longname));
	strcpy(longname + PT_CRED_MAX_UNIT - strlen(".service"), ".service");
	assert_true(pt_cred_unit_valid(longname));
	memset(longname, 'a', sizeof(longname));
	strcpy(longname + PT_CRED_MAX_UNIT + 1 - strlen(".service"), ".service");
	assert_false(pt_cred_unit_valid(longname));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroups),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_unit_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
