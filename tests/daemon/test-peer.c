/* SPDX-License-Identifier: MIT */
/*
 * Who tokend takes a peer for (issue 7, items 4, 6 and 7), against a real
 * tokend over its socket, with two unprivileged users created in a private
 * mount namespace:
 * - the socket directory tokend creates is 0755 whatever its umask, so every
 *   user reaches the socket (pertok list works);
 * - an actor whose binary a package upgrade replaced on disk while it runs
 *   is still that actor, until the next reload;
 * - a process that execs another program after it connected is refused, not
 *   taken for either program.
 * Needs root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "connlib.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define USER_A "pertok-peer-a"
#define USER_B "pertok-peer-b"

static uid_t uid_a;
static char actor_bin[PATH_MAX], other_bin[PATH_MAX];

static void write_conf(void)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; live_lifetime = \"2m\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; },\n"
		"           { name = \"mover\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"i\"; actors = [ \"tester\" ];\n"
		"            holders = [ \"tester\", \"mover\" ]; } );\n"
		"redeem = ( { name = \"r\"; holders = [ \"tester\", \"mover\" ];\n"
		"             check_account = false; } );\n",
		th.sock, th.dir, th.self_exe, actor_bin);
	fclose(f);
}

static int setup(void **state)
{
	snprintf(th.sock, sizeof(th.sock), "%s/tokend.sock", th.dir);
	write_conf();
	th_start();
	return 0;
}

static int teardown(void **state)
{
	kill_children();
	th_stop(SIGTERM);
	return 0;
}

static void copy_file(const char *from, const char *to)
{
	char cmd[2 * PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(chmod(to, 0755), 0);
}

/* A persistable token of USER_B for holder. */
static void issue_token(const char *holder)
{
	struct pt_rep rep;
	char *token = th_mint(USER_B, "test", NULL);
	struct pt_req ex = { .type = PT_EXCHANGE, .live_token = token, .holder = (char *)holder };
	assert_int_equal(th_call(&ex, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	pt_free_secret(token);
}

static int redeem_on(int fd, const char *holder)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)USER_B,
			      .holder = (char *)holder,
			      .service = (char *)"test" };
	struct pt_rep rep;
	int code;

	if (cl_call(fd, &req, 3000, &rep) < 0)
		return 100;
	code = rep.type == PT_OK ? 0 : (int)rep.err_code;
	pt_rep_clear(&rep);
	return code;
}

/* ------------------------------------------------------------ program modes */

/* --wait-redeem SOCK HOLDER: says 'r' once running, then for each byte on
 * stdin redeems on a fresh connection and writes the error code (0: ok). */
static int wait_redeem(const char *sock, const char *holder)
{
	char c;

	if (write(1, "r", 1) != 1)
		return 1;
	while (read(0, &c, 1) == 1) {
		uint32_t err;
		int fd = cl_connect(sock, 3000, &err);
		uint8_t code = fd < 0 ? 101 : (uint8_t)redeem_on(fd, holder);

		if (fd >= 0)
			close(fd);
		if (write(1, &code, 1) != 1)
			return 1;
	}
	return 0;
}

/* --redeem-on-fd FD HOLDER: one redemption on an inherited connection. */
static int redeem_on_fd(const char *fd, const char *holder)
{
	return redeem_on(atoi(fd), holder);
}

/* ------------------------------------------------------------ item 4 */

static int pertok_list(const char *sock)
{
	const char *b = getenv("top_builddir");
	char bin[PATH_MAX];
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/tools/pertok", b ? b : ".");
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (setgroups(0, NULL) < 0 || setgid((gid_t)uid_a) < 0 || setuid(uid_a) < 0)
			_exit(100);
		dup2(null, 1);
		execl(bin, "pertok", "--socket", sock, "list", (char *)NULL);
		_exit(127);
	}
	return wait_child(pid, 10000);
}

/* tokend creates the socket's directory itself (nothing pre-creates it, as
 * on a host without the systemd socket unit): 0755 under its umask 0077,
 * and every user reaches the socket. A 0700 one left by v0.1 is repaired. */
static void test_socket_dir(void **state)
{
	char dir[80];
	struct stat st;

	th_stop(SIGTERM);
	snprintf(dir, sizeof(dir), "%s/run-pertok", th.dir);
	snprintf(th.sock, sizeof(th.sock), "%s/tokend.sock", dir);
	assert_int_equal(stat(dir, &st) < 0 && errno == ENOENT, 1);
	write_conf();
	th_start();
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(pertok_list(th.sock), 0);

	th_stop(SIGTERM);
	assert_int_equal(chmod(dir, 0700), 0); /* as v0.1 left it */
	th_start();
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(pertok_list(th.sock), 0);
	assert_int_equal(wait_for_text(th.logpath, "mode 0700 changed to 0755", 2000), 0);
}

/* ------------------------------------------------------------ item 6 */

static pid_t spawn_waiter(const char *bin, const char *holder, int *ret_in, int *ret_out)
{
	int in[2], out[2];
	char c;
	pid_t pid;

	/* close-on-exec: a later waiter must not hold this one's stdin open */
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(bin, bin, "--wait-redeem", th.sock, holder, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	assert_int_equal(read_timeout(out[0], &c, 1, 5000), 0); /* it runs bin now */
	*ret_in = in[1];
	*ret_out = out[0];
	return pid;
}

static int ask_redeem(int in, int out)
{
	uint8_t code = 255;

	if (write(in, "x", 1) != 1 || read_timeout(out, &code, 1, 5000) < 0)
		return -1;
	return code;
}

/* A package upgrade moves a new binary over the actor's path while the actor
 * runs: the running actor still redeems (its file was pinned when tokend
 * loaded its config), and so does a new process of the new file. After a
 * reload, only the file now at the path is the actor. */
static void test_moved_actor_binary(void **state)
{
	char fresh[PATH_MAX + 8];
	int in, out, reloads;
	pid_t pid, p2;

	issue_token("mover");
	pid = spawn_waiter(actor_bin, "mover", &in, &out);
	assert_int_equal(ask_redeem(in, out), 0);

	snprintf(fresh, sizeof(fresh), "%s.new", actor_bin);
	copy_file(th.self_exe, fresh);
	assert_int_equal(rename(fresh, actor_bin), 0); /* as dpkg does */
	assert_int_equal(ask_redeem(in, out), 0);

	/* the new file at the path is the actor too */
	int in2, out2;
	p2 = spawn_waiter(actor_bin, "mover", &in2, &out2);
	assert_int_equal(ask_redeem(in2, out2), 0);

	/* a reload pins what is at the path now: the old file is nobody */
	reloads = count_text(th.logpath, "op=reload result=allow");
	kill(th.pid, SIGHUP);
	for (int i = 0; i < 500 && count_text(th.logpath, "op=reload result=allow") == reloads; i++)
		usleep(10000); /* the log line is the event */
	assert_int_equal(ask_redeem(in, out), PT_E_PERM);
	assert_int_equal(ask_redeem(in2, out2), 0);
	close(in);
	close(in2);
	assert_int_equal(wait_child(pid, 5000), 0);
	assert_int_equal(wait_child(p2, 5000), 0);
	close(out);
	close(out2);
}

/* ------------------------------------------------------------ item 7 */

/* Runs first, which connects (the hello proves tokend accepted the
 * connection and read who is on the other end), then execs then, which
 * redeems on the inherited connection. Returns the redemption's code. */
static int connect_then_exec(const char *first, const char *then)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execl(first, first, "--connect-then-exec", th.sock, then, (char *)NULL);
		_exit(127);
	}
	return wait_child(pid, 10000);
}

static void test_exec_after_connect(void **state)
{
	issue_token("tester");
	/* the actor, exec'ing its own file again: still the actor */
	assert_int_equal(connect_then_exec(th.self_exe, th.self_exe), 0);
	/* the actor connects, then runs another program on its connection */
	assert_int_equal(connect_then_exec(th.self_exe, other_bin), PT_E_PERM);
	assert_int_equal(wait_for_text(th.logpath, "runs another executable", 2000), 0);
	/* another program connects, then execs the actor's file */
	assert_int_equal(connect_then_exec(other_bin, th.self_exe), PT_E_PERM);
}

/* --connect-then-exec SOCK BIN: see connect_then_exec. */
static int connect_exec(const char *sock, const char *bin)
{
	char fdstr[16];
	uint32_t err;
	int fd = cl_connect(sock, 3000, &err);

	if (fd < 0)
		return 102;
	snprintf(fdstr, sizeof(fdstr), "%d", fd);
	execl(bin, bin, "--redeem-on-fd", fdstr, "tester", (char *)NULL);
	return 127;
}

static int group_setup(void **state)
{
	static const char *const names[] = { USER_A, USER_B };
	uid_t uids[2];

	if (th_init("peer") < 0)
		return -1;
	if (ns_add_users(th.dir, names, 2, uids) < 0)
		return -1;
	uid_a = uids[0];
	snprintf(actor_bin, sizeof(actor_bin), "%s/actor-bin", th.dir);
	snprintf(other_bin, sizeof(other_bin), "%s/other-bin", th.dir);
	copy_file(th.self_exe, actor_bin);
	copy_file(th.self_exe, other_bin);
	return 0;
}

static int group_teardown(void **state)
{
	th_stop(SIGTERM);
	return th_remove_dir();
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--wait-redeem") == 0)
		return wait_redeem(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "--redeem-on-fd") == 0)
		return redeem_on_fd(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "--connect-then-exec") == 0)
		return connect_exec(argv[2], argv[3]);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moved_actor_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_after_connect, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-peer needs root (private mount namespace, test users, "
		       "tokend reads peers' executables)\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
