/* SPDX-License-Identifier: MIT */
/*
 * pertok act-as's request against a real tokend (act.h): the caller's three
 * descriptors as SCM_RIGHTS through the front and the privsep channel, a
 * wrong set refused with a precise error (none, 2, 4, a set with another
 * request), a refusal of the key holder recorded as act.deny, and no
 * descriptor of the caller's kept by either tokend process afterwards (a
 * pipe's write end passed as "stdout": its read end sees EOF only when every
 * copy is closed, and /proc/PID/fd of both processes counts the same).
 * Needs root (the front drops to its system user).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define FRONT_USER "_pertok"

static void write_conf(void)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; front_user = \"%s\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"i\"; actors = [ \"tester\" ]; holders = [ \"tester\" ]; } );\n"
		"redeem = ( { name = \"r\"; holders = [ \"tester\" ]; check_account = false; } );\n",
		th.sock, th.dir, FRONT_USER, th.self_exe);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (th_init("act") < 0)
		return -1;
	write_conf();
	th_start();
	return 0;
}

static int teardown(void **state)
{
	char bad[512];
	int n;

	(void)state;
	th_stop(SIGTERM);
	n = th_check_log_form(bad, sizeof(bad));
	if (n)
		fprintf(stderr, "# %d log line(s) not in tokend(8)'s form; first: %s\n", n, bad);
	th_remove_dir();
	return n ? -1 : 0;
}

static char *act_argv[] = { (char *)"/usr/bin/id", (char *)"-u", NULL };

static struct pt_req act_req(const char *grant)
{
	return (struct pt_req){ .type = PT_ACT,
				.user = (char *)"nobody",
				.id = (char *)grant,
				.argv = act_argv,
				.n_argv = 2 };
}

/* One request with fds[0..n) on a fresh connection: the reply in *rep. */
static void call_fds(const struct pt_req *req, const int *fds, size_t n, struct pt_rep *rep)
{
	struct pt_client *c = NULL;

	assert_int_equal(pt_client_connect(th.sock, 2000, &c), 0);
	assert_int_equal(pt_client_call_fds(c, req, fds, n, 5000, rep), 0);
	pt_client_free(c);
}

/* Is the read end r at EOF within ms (every copy of the write end closed)? */
static bool eof_within(int r, int ms)
{
	struct pollfd p = { .fd = r, .events = POLLIN };
	char b;

	return poll(&p, 1, ms) == 1 && read(r, &b, 1) == 0;
}

static pid_t front_pid(void)
{
	struct pt_req req = { .type = PT_STATUS };
	struct pt_rep rep = { 0 };
	const char *p;
	long pid;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	p = strstr(rep.text, "\nfront_pid=");
	assert_non_null(p);
	pid = strtol(p + strlen("\nfront_pid="), NULL, 10);
	pt_rep_clear(&rep);
	assert_true(pid > 1);
	return (pid_t)pid;
}

static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A wrong descriptor set is refused by the front, precisely, and the
 * descriptors it carried are closed (the pipe's read end sees EOF). */
static void wrong_set(size_t n, const char *want)
{
	struct pt_req req = act_req("gr_test");
	struct pt_rep rep = { 0 };
	int fds[8], p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	for (size_t i = 0; i < n; i++)
		fds[i] = p[1];
	call_fds(&req, fds, n, &rep);
	assert_int_equal(rep.type, PT_ERR);
	assert_int_equal(rep.err_code, PT_E_PROTO);
	if (!strstr(rep.message, want))
		fail_msg("%zu descriptors: \"%s\" lacks \"%s\"", n, rep.message, want);
	pt_rep_clear(&rep);
	close(p[1]);
	if (!eof_within(p[0], 2000))
		fail_msg("%zu descriptors: tokend still holds one", n);
	close(p[0]);
}

static void test_wrong_sets(void **state)
{
	(void)state;
	wrong_set(0, "it carried none");
	wrong_set(2, "exactly 3 descriptors");
	wrong_set(4, "malformed descriptor set");
	wrong_set(7, "malformed descriptor set"); /* past the front's room: MSG_CTRUNC */
}

/* Descriptors with any other request: closed, and that request refused. */
static void test_fds_with_other_request(void **state)
{
	struct pt_req req = { .type = PT_STATUS };
	struct pt_rep rep = { 0 };
	int p[2], fds[3];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds[0] = fds[1] = fds[2] = p[1];
	call_fds(&req, fds, 3, &rep);
	assert_int_equal(rep.type, PT_ERR);
	assert_int_equal(rep.err_code, PT_E_PROTO);
	assert_non_null(strstr(rep.message, "descriptors passed with a request that takes none"));
	pt_rep_clear(&rep);
	close(p[1]);
	assert_true(eof_within(p[0], 2000));
	close(p[0]);
}

/* The right set reaches the key holder, which refuses an unknown grant,
 * records act.deny, and keeps none of the three. */
static void test_unknown_grant_denied(void **state)
{
	struct pt_req req = act_req("gr_nosuchgrant");
	struct pt_rep rep = { 0 };
	char path[PATH_MAX], *log;
	int p[2], fds[3];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds[0] = fds[1] = fds[2] = p[1];
	call_fds(&req, fds, 3, &rep);
	assert_int_equal(rep.type, PT_ERR);
	assert_int_equal(rep.err_code, PT_E_NOTFOUND);
	assert_string_equal(rep.message, "no such grant");
	pt_rep_clear(&rep);
	close(p[1]);
	assert_true(eof_within(p[0], 2000));
	close(p[0]);
	snprintf(path, sizeof(path), "%s/state/audit.log", th.dir);
	log = th_slurp(path);
	assert_non_null(log);
	assert_non_null(strstr(log, "\"op\":\"act.deny\""));
	assert_non_null(strstr(log, "\"grant\":\"gr_nosuchgrant\""));
	assert_non_null(strstr(log, "\"command\":\"/usr/bin/id\""));
	assert_non_null(strstr(log, "\"argv\":\"/usr/bin/id -u\""));
	free(log);
}

/* Many requests of every kind later, neither process holds more
 * descriptors than before. */
static void test_no_fd_leak(void **state)
{
	pid_t front = front_pid();
	int before_front, before_holder, p[2], fds[4];

	(void)state;
	/* (warm up: the first requests open what stays open, e.g. the log) */
	test_unknown_grant_denied(state);
	usleep(300000); /* (the warm-up's connections closed on both sides) */
	before_front = count_fds(front);
	before_holder = count_fds(th.pid);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds[0] = fds[1] = fds[2] = fds[3] = p[1];
	for (int i = 0; i < 20; i++) {
		struct pt_req req = act_req("gr_nosuchgrant"), st = { .type = PT_STATUS };
		struct pt_rep rep = { 0 };

		call_fds(&req, fds, 3, &rep);
		pt_rep_clear(&rep);
		call_fds(&req, fds, (size_t)(i % 2 ? 2 : 4), &rep);
		pt_rep_clear(&rep);
		call_fds(&st, fds, 3, &rep);
		pt_rep_clear(&rep);
	}
	/* (a file housekeeping writes may be open for a moment: look again) */
	for (int i = 0;
	     i < 50 && (count_fds(front) != before_front || count_fds(th.pid) != before_holder);
	     i++)
		usleep(20000);
	assert_int_equal(count_fds(front), before_front);
	assert_int_equal(count_fds(th.pid), before_holder);
	close(p[1]);
	assert_true(eof_within(p[0], 2000));
	close(p[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wrong_sets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds_with_other_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_grant_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fd_leak, setup, teardown),
	};

	if (geteuid() != 0 || !getpwnam(FRONT_USER)) {
		printf("1..0 # SKIP needs root and the front's user %s\n", FRONT_USER);
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
