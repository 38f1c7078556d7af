/* SPDX-License-Identifier: MIT */
/* Unit tests for common/util.c (and common/io.c: pt_write_all) */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io.h"
#include "util.h"

struct u64_case {
	const char *s;
	int r;
	uint64_t v;
};

static void test_parse_u64(void **state)
{
	static const struct u64_case cases[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "007", 0, 7 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1x", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1.5", -EINVAL, 0 },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		uint64_t v = 0xdeadbeef;
		int r = pt_parse_u64(cases[i].s, &v);

		if (r != cases[i].r)
			fail_msg("pt_parse_u64(\"%s\") = %d, want %d", cases[i].s, r, cases[i].r);
		assert_int_equal(v, r == 0 ? cases[i].v : 0xdeadbeef);
	}
	assert_int_equal(pt_parse_u64(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_parse_u32(void **state)
{
	uint32_t v = 7;

	assert_int_equal(pt_parse_u32("4294967295", &v), 0);
	assert_int_equal(v, UINT32_MAX);
	v = 7;
	assert_int_equal(pt_parse_u32("4294967296", &v), -ERANGE);
	assert_int_equal(v, 7);
	assert_int_equal(pt_parse_u32("abc", &v), -EINVAL);
	assert_int_equal(pt_parse_u32("", &v), -EINVAL);
	assert_int_equal(v, 7);
	assert_int_equal(pt_parse_u32("42", &v), 0);
	assert_int_equal(v, 42);
}

static void test_parse_duration(void **state)
{
	static const struct u64_case cases[] = {
		{ "300", 0, 300 },
		{ "0", 0, 0 },
		{ "45s", 0, 45 },
		{ "5m", 0, 300 },
		{ "2h", 0, 7200 },
		{ "7d", 0, 7 * 86400 },
		{ "1w", 0, 7 * 86400 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551615s", 0, UINT64_MAX },
		{ "18446744073709551615m", -ERANGE, 0 },
		{ "213503982334602d", -ERANGE, 0 },
		{ "213503982334601d", 0, 213503982334601ull * 86400u },
		{ "", -EINVAL, 0 },
		{ "s", -EINVAL, 0 },
		{ "m", -EINVAL, 0 },
		{ "5x", -EINVAL, 0 },
		{ "5 m", -EINVAL, 0 },
		{ "5mm", -EINVAL, 0 },
		{ "-5m", -EINVAL, 0 },
		{ "5M", -EINVAL, 0 },
		{ "1234567890123456789012345678901234567890", -EINVAL, 0 },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		uint64_t v = 0xdeadbeef;
		int r = pt_parse_duration(cases[i].s, &v);

		if (r != cases[i].r)
			fail_msg("pt_parse_duration(\"%s\") = %d, want %d", cases[i].s, r,
				 cases[i].r);
		assert_int_equal(v, r == 0 ? cases[i].v : 0xdeadbeef);
	}
	assert_int_equal(pt_parse_duration(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_name_valid(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "alice", true },   { "atd", true },		{ "user.name_1-x", true },
		{ "a", true },	     { "a@example.com", true }, { "", false },
		{ "-alice", false }, { "al ice", false },	{ "al:ice", false },
		{ "al/ice", false }, { "al\tice", false },	{ "al\nice", false },
		{ "al\x7f", false }, { "caf\xc3\xa9", false },
	};
	char longname[300];

	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++)
		if (pt_name_valid(cases[i].s) != cases[i].ok)
			fail_msg("pt_name_valid(\"%s\") != %d", cases[i].s, cases[i].ok);
	assert_false(pt_name_valid(NULL));

	memset(longname, 'a', sizeof(longname));
	longname[255] = '\0';
	assert_true(pt_name_valid(longname));
	longname[255] = 'a';
	longname[256] = '\0';
	assert_false(pt_name_valid(longname));
}

/* free() as util.c calls it (linked with -Wl,--wrap=free): the bytes of the
 * watched block as they were when it was freed. */
void __real_free(void *p);
void __wrap_free(void *p);
static const void *watched;
static uint8_t freed_bytes[64];
static size_t freed_len;
static bool watched_freed;

void __wrap_free(void *p)
{
	if (p && p == watched) {
		memcpy(freed_bytes, p, freed_len);
		watched_freed = true;
	}
	__real_free(p);
}

static void test_ct_equal_and_wipe(void **state)
{
	uint8_t a[32], b[32];
	char *s;

	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_true(pt_ct_equal(a, b, sizeof(a)));
	assert_true(pt_ct_equal(a, b, 0));
	for (size_t i = 0; i < sizeof(a); i++) {
		b[i] ^= 1;
		assert_false(pt_ct_equal(a, b, sizeof(a)));
		b[i] ^= 1;
	}

	pt_wipe(a, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(a[i], 0);
	pt_wipe(NULL, 10); /* must not crash */

	/* pt_free_secret wipes every byte before it frees */
	s = strdup("a secret of 24 bytes....");
	assert_non_null(s);
	watched = s;
	freed_len = strlen(s);
	watched_freed = false;
	pt_free_secret(s);
	watched = NULL;
	assert_true(watched_freed);
	for (size_t i = 0; i < freed_len; i++)
		if (freed_bytes[i] != 0)
			fail_msg("byte %zu of a freed secret was not wiped", i);
	pt_free_secret(NULL);
}

static void test_cleanup_helpers(void **state)
{
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	{
		_cleanup_close_ int fd = fds[0];
		_cleanup_free_ char *p = strdup("x");
		_cleanup_secret_ char *q = strdup("y");

		assert_non_null(p);
		assert_non_null(q);
		(void)fd;
	}
	/* fds[0] was closed by the cleanup handler: the peer sees EOF. */
	{
		char c;

		assert_int_equal(read(fds[1], &c, 1), 0);
	}
	close(fds[1]);
}

static void test_clock(void **state)
{
	uint64_t a = pt_now_ms_monotonic(), b;

	usleep(20 * 1000);
	b = pt_now_ms_monotonic();
	assert_true(b >= a + 15);
	assert_true(b < a + 5000);
	assert_true(pt_now_s() > 1600000000u);
}

static void test_write_all(void **state)
{
	uint8_t big[200000], got[sizeof(big)];
	size_t have = 0;
	int sv[2], p[2];
	pid_t pid;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);

	/* On a socket, larger than the socket buffer: needs the loop. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[1]);
		_exit(pt_write_all(sv[0], big, sizeof(big)) == 0 ? 0 : 1);
	}
	close(sv[0]);
	while (have < sizeof(got)) {
		ssize_t k = read(sv[1], got + have, sizeof(got) - have);

		assert_true(k > 0);
		have += (size_t)k;
	}
	close(sv[1]);
	{
		int st;

		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_memory_equal(big, got, sizeof(big));

	/* On a pipe (write(2) path). */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pt_write_all(p[1], "hello", 5), 0);
	assert_int_equal(read(p[0], got, sizeof(got)), 5);
	assert_memory_equal(got, "hello", 5);
	close(p[0]);

	/* Peer gone: -EPIPE on a socket, no SIGPIPE (the test would die). */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(pt_write_all(sv[0], "x", 1), -EPIPE);
	close(sv[0]);

	/* Bad fd. */
	assert_int_equal(pt_write_all(p[1] + 1000, "x", 1), -EBADF);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_u32),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_ct_equal_and_wipe),
		cmocka_unit_test(test_cleanup_helpers),
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_write_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
