/* SPDX-License-Identifier: MIT */
/*
 * tokend writes libnss_pertok's cache (tokend/nsscache-write.c): a private
 * tokend (tests/lib/tokend-harness) with nss_cache in its temp dir. After an
 * exchange the user is in the file (0644, the identity captured at issuance,
 * the primary group); after the revocation of the user's only token, gone.
 * A cache directory that does not exist: tokend writes nothing. The user is
 * nobody. Needs root (the harness's actor is uid 0).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nsscache.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define USER "nobody"

static char cache[256];

static void write_conf(const char *nss_cache)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 2000;\n"
		"          nss_cache = \"%s\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"iss\"; actors = [ \"tester\" ]; holders = [ \"tester\" ]; } );\n"
		"redeem = ( { name = \"red\"; holders = [ \"tester\" ]; check_account = false; } );\n",
		th.sock, th.dir, nss_cache, th.self_exe);
	fclose(f);
}

static int setup(void **state)
{
	char dir[200];

	(void)state;
	if (th_init("nss") < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/cache", th.dir);
	if (mkdir(dir, 0755) < 0)
		return -1;
	snprintf(cache, sizeof(cache), "%s/nss.cache", dir);
	write_conf(cache);
	th_start();
	return 0;
}

static int setup_nodir(void **state)
{
	(void)state;
	if (th_init("nss") < 0)
		return -1;
	snprintf(cache, sizeof(cache), "%s/missing/nss.cache", th.dir);
	write_conf(cache);
	th_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	return th_remove_dir();
}

/* Is user in the cache file now? 1, 0, or -1 (no valid file) */
static int cached(const char *user, struct passwd *ret, char *buf, size_t len)
{
	struct nssc_view v;
	struct nssc_pw e;
	struct stat s;
	void *data;
	int fd, r = -1;

	fd = open(cache, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &s) == 0 && s.st_size > 0) {
		data = malloc((size_t)s.st_size);
		if (data && read(fd, data, (size_t)s.st_size) == s.st_size &&
		    nssc_open(data, (size_t)s.st_size, &v) == 0) {
			r = nssc_pw_byname(&v, user, &e) == 0;
			if (r == 1 && ret)
				assert_int_equal(nssc_pack_passwd(&e, ret, buf, len), 0);
		}
		free(data);
	}
	close(fd);
	return r;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits (up to 10 s: tokend may run under valgrind) until cached(user) == want */
static bool wait_cached(const char *user, int want)
{
	for (int i = 0; i < 1000; i++) {
		if (cached(user, NULL, NULL, 0) == want)
			return true;
		sleep_ms(10);
	}
	return false;
}

static char *mint_and_exchange(void)
{
	char *live = th_mint(USER, "sshd", NULL), *id;
	struct pt_req req = { .type = PT_EXCHANGE, .live_token = live, .holder = (char *)"tester" };
	struct pt_rep rep;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	id = strdup(rep.id);
	assert_non_null(id);
	pt_rep_clear(&rep);
	free(live);
	return id;
}

static void test_exchange_then_revoke(void **state)
{
	struct pt_req revoke = { .type = PT_REVOKE };
	struct passwd pw, *sys;
	struct pt_rep rep;
	struct stat s;
	char buf[4096];
	char *id;

	(void)state;
	assert_int_not_equal(cached(USER, NULL, NULL, 0), 1);
	id = mint_and_exchange();
	assert_true(wait_cached(USER, 1));
	assert_int_equal(cached(USER, &pw, buf, sizeof(buf)), 1);
	sys = getpwnam(USER);
	assert_non_null(sys);
	assert_int_equal(pw.pw_uid, sys->pw_uid);
	assert_int_equal(pw.pw_gid, sys->pw_gid);
	assert_string_equal(pw.pw_dir, sys->pw_dir);
	assert_string_equal(pw.pw_shell, sys->pw_shell);
	assert_int_equal(stat(cache, &s), 0);
	assert_int_equal(s.st_mode & 07777, 0644);

	revoke.id = id;
	assert_int_equal(th_call(&revoke, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	assert_true(wait_cached(USER, 0));
	free(id);
}

static void test_no_directory(void **state)
{
	char *id;

	(void)state;
	id = mint_and_exchange();
	sleep_ms(300);
	assert_int_equal(access(cache, F_OK), -1);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exchange_then_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_directory, setup_nodir, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (the harness's actor is uid 0)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
