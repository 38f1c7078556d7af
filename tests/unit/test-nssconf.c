/* SPDX-License-Identifier: MIT */
/* tokend's name service view: nsswitch.conf lines without "pertok"
 * (tokend/nssconf.c), and the precise errors of a line it cannot read. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nssconf.h"

static void test_strip(void **state)
{
	static const struct {
		const char *in, *out;
		int removed;
	} cases[] = {
		{ " files sss pertok", "files sss", 1 },
		{ "files pertok [NOTFOUND=return] sss", "files sss", 1 },
		{ "pertok files", "files", 1 },
		{ "files [UNAVAIL=return] sss", "files [UNAVAIL=return] sss", 0 },
		{ "files\tsss [NOTFOUND=return] pertok [!UNAVAIL=return] [TRYAGAIN=continue]",
		  "files sss [NOTFOUND=return]", 1 },
		{ "pertok", "", 1 },
		{ "pertokx files", "pertokx files", 0 }, /* only the exact name */
		{ "", "", 0 },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = pt_nssconf_strip(cases[i].in, out, sizeof(out));

		if (r != cases[i].removed || strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu \"%s\": %d \"%s\"", i, cases[i].in, r, out);
	}
	assert_int_equal(pt_nssconf_strip("files [NOTFOUND=return", out, sizeof(out)), -EINVAL);
	assert_int_equal(pt_nssconf_strip("files sss", out, 6), -E2BIG);
	assert_int_equal(pt_nssconf_strip("files", out, 0), -EINVAL);
}

static void test_apply_errors(void **state)
{
	char dir[] = "/tmp/pertok-nssconf.XXXXXX", path[64], err[256] = "";
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nsswitch.conf", dir);
	/* no file: glibc's defaults, nothing to take out */
	assert_int_equal(pt_nssconf_apply(path, err, sizeof(err)), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("# comment\nhosts: files dns\npasswd: files [NOTFOUND=return pertok\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(pt_nssconf_apply(path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the passwd line cannot be read (unterminated '[')"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strip),
		cmocka_unit_test(test_apply_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
