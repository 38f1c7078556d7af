/* SPDX-License-Identifier: MIT */
/*
 * The daemon-test harness stops every tokend it started: a second th_start
 * stops the first (test-audit-daemon starts one per test case), the program's
 * exit stops the last, and a killed test program takes its daemon with it.
 * Needs root (tokend as root, like the other daemon tests).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tokend-harness.h"

static void write_conf(void)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n",
		th.sock, th.dir, th.self_exe);
	fclose(f);
}

/* true once pid is gone or a zombie (a dead daemon waiting for its reaper) */
static bool gone(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && p[1] == ' ' && p[2] == 'Z';
}

static bool gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (gone(pid))
			return true;
		usleep(10000);
	}
	return gone(pid);
}

/* In a child: starts two daemons one after the other and reports both pids
 * through fd; then exits (how: see mode) without stopping them. */
struct report {
	pid_t pids[2];
	char dir[64];
};

static void child(int fd, int mode)
{
	struct report rp = { { 0, 0 }, "" };

	if (th_init("harness") < 0)
		_exit(90);
	write_conf();
	th_start();
	rp.pids[0] = th.pid;
	th_start();
	rp.pids[1] = th.pid;
	snprintf(rp.dir, sizeof(rp.dir), "%s", th.dir);
	if (write(fd, &rp, sizeof(rp)) != sizeof(rp))
		_exit(91);
	close(fd);
	if (mode == 0)
		exit(0); /* a normal exit: the exit handler stops the daemon */
	raise(SIGKILL);	 /* a test program killed (a timeout) */
}

static void run(int mode)
{
	struct report rp = { { 0, 0 }, "" };
	pid_t pid, *pids = rp.pids;
	int p[2], st;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(p[1], mode);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &rp, sizeof(rp)), sizeof(rp));
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(pids[0] > 0 && pids[1] > 0 && pids[0] != pids[1]);
	if (!gone_within(pids[0], 5000))
		fail_msg("the first tokend (pid %d) still runs after a second th_start", pids[0]);
	if (!gone_within(pids[1], 5000))
		fail_msg("tokend (pid %d) outlived its test program", pids[1]);
	snprintf(th.dir, sizeof(th.dir), "%s", rp.dir);
	th_remove_dir();
}

static void test_exit_stops_every_daemon(void **state)
{
	(void)state;
	run(0);
}

static void test_killed_program_takes_its_daemon(void **state)
{
	(void)state;
	run(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_stops_every_daemon),
		cmocka_unit_test(test_killed_program_takes_its_daemon),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-harness needs root (tokend runs as root)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
