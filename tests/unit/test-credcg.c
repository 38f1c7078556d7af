/* SPDX-License-Identifier: MIT */
/* A credential peer's cgroup must be exactly the one systemd reports for
 * the unit (tokend/credential-cg.c): a path that merely ends like it, a
 * controller's line, a prefix or an extension of it are refused. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "credential-cg.h"

static void test_exact(void **state)
{
	static const struct {
		const char *text, *want;
		bool ok;
	} cases[] = {
		{ "0::/system.slice/backup.service\n", "/system.slice/backup.service", true },
		{ "12:cpu,cpuacct:/\n1:name=systemd:/system.slice/backup.service\n0::/\n",
		  "/system.slice/backup.service", true },
		/* a nested manager's unit of the same name: ends alike, is another */
		{ "0::/machine.slice/c.scope/system.slice/backup.service\n",
		  "/system.slice/backup.service", false },
		/* only a controller's line names it */
		{ "4:memory:/system.slice/backup.service\n1:name=systemd:/user.slice\n",
		  "/system.slice/backup.service", false },
		/* a prefix, an extension, a sub-cgroup */
		{ "0::/system.slice/backup.servic\n", "/system.slice/backup.service", false },
		{ "0::/system.slice/backup.service2\n", "/system.slice/backup.service", false },
		{ "0::/system.slice/backup.service/sub\n", "/system.slice/backup.service", false },
		/* no newline at the end; an empty text */
		{ "0::/system.slice/backup.service", "/system.slice/backup.service", true },
		{ "", "/system.slice/backup.service", false },
		/* "10::" is not the unified line */
		{ "10::/system.slice/backup.service\n", "/system.slice/backup.service", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (pt_cred_cgroup_is(cases[i].text, strlen(cases[i].text), cases[i].want) !=
		    cases[i].ok)
			fail_msg("case %zu: %s", i, cases[i].text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
