/* SPDX-License-Identifier: MIT */
/*
 * Privilege separation (tokend(8), "PRIVILEGE SEPARATION"), against a real
 * tokend: two processes, the front unprivileged (front_user, no
 * capabilities, NO_NEW_PRIVS, a seccomp filter, an empty root), the store
 * key in the key holder's memory and never in the front's, the key holder
 * stopping when its front dies, and a start refused with a precise error
 * when the front's user is missing. Needs root (the front drops to a system
 * user; the memory of both processes is read through /proc/PID/mem).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define FRONT_USER "_pertok"

static void write_conf(const char *front_user)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; front_user = \"%s\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"i\"; actors = [ \"tester\" ]; holders = [ \"tester\" ]; } );\n"
		"redeem = ( { name = \"r\"; holders = [ \"tester\" ]; check_account = false; } );\n",
		th.sock, th.dir, front_user, th.self_exe);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (th_init("privsep") < 0)
		return -1;
	write_conf(FRONT_USER);
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

/* A "key=value" line of a status text. */
static long status_num(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	if (!p)
		return -1;
	return strtol(p + strlen(key), NULL, 10);
}

static pid_t front_pid(void)
{
	struct pt_req req = { .type = PT_STATUS };
	struct pt_rep rep = { 0 };
	long pid;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_non_null(strstr(rep.text, "\nfront_user=" FRONT_USER "\n"));
	pid = status_num(rep.text, "\nfront_pid=");
	pt_rep_clear(&rep);
	assert_true(pid > 1);
	return (pid_t)pid;
}

/* A /proc file (its size says 0: read until the end). */
static char *proc_read(const char *path)
{
	size_t n = 0, cap = 65536;
	char *buf = calloc(1, cap + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t k;

	assert_non_null(buf);
	assert_true(fd >= 0);
	while (n < cap && (k = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)k;
	close(fd);
	return buf;
}

/* The value of a "Key:\tvalue" line of /proc/PID/status. */
static void proc_status(pid_t pid, const char *key, char *buf, size_t len)
{
	char path[64], *text, *p, *e;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = proc_read(path);
	p = strstr(text, key);
	assert_non_null(p);
	p += strlen(key);
	while (*p == '\t' || *p == ' ')
		p++;
	e = strchr(p, '\n');
	snprintf(buf, len, "%.*s", e ? (int)(e - p) : (int)strlen(p), p);
	free(text);
}

static void test_two_processes(void **state)
{
	struct passwd *pw = getpwnam(FRONT_USER);
	char v[128], want[128], path[64], root[PATH_MAX], empty[PATH_MAX];
	pid_t front;
	ssize_t k;

	(void)state;
	assert_non_null(pw);
	front = front_pid();
	assert_int_not_equal(front, th.pid);
	proc_status(front, "PPid:", v, sizeof(v));
	assert_int_equal(atoi(v), th.pid);
	/* the key holder stays root (with CAP_SYS_PTRACE only) */
	proc_status(th.pid, "Uid:", v, sizeof(v));
	assert_int_equal(atoi(v), 0);
	/* the front: the system user, every id, and nothing more */
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid, (unsigned)pw->pw_uid,
		 (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	proc_status(front, "Uid:", v, sizeof(v));
	assert_string_equal(v, want);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_gid, (unsigned)pw->pw_gid,
		 (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
	proc_status(front, "Gid:", v, sizeof(v));
	assert_string_equal(v, want);
	proc_status(front, "Groups:", v, sizeof(v));
	snprintf(want, sizeof(want), "%u ",
		 (unsigned)pw->pw_gid); /* the kernel ends the list with a space */
	assert_string_equal(v, want);
	proc_status(front, "CapEff:", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	proc_status(front, "CapPrm:", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	proc_status(front, "CapBnd:", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	proc_status(front, "NoNewPrivs:", v, sizeof(v));
	assert_string_equal(v, "1");
	if (!getenv("TOKEND_VALGRIND")) { /* under valgrind the filter is left out */
		proc_status(front, "Seccomp:", v, sizeof(v));
		assert_string_equal(v, "2");
	}
	/* its root is the empty directory */
	snprintf(path, sizeof(path), "/proc/%d/root", (int)front);
	k = readlink(path, root, sizeof(root) - 1);
	assert_true(k > 0);
	root[k] = '\0';
	assert_non_null(realpath(th.dir, empty));
	strncat(empty, "/state/empty", sizeof(empty) - strlen(empty) - 1);
	assert_string_equal(root, empty);
	/* and the comm says which process it is */
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)front);
	{
		char *comm = proc_read(path);
		assert_non_null(strstr(comm, "tokend-front"));
		free(comm);
	}
	/* no standard streams: under systemd they would reach the journal as
	 * the key holder's own lines */
	for (int fd = 0; fd <= 2; fd++) {
		char link[PATH_MAX];

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)front, fd);
		k = readlink(path, link, sizeof(link) - 1);
		assert_true(k > 0);
		link[k] = '\0';
		assert_string_equal(link, "/dev/null");
	}
	/* STATE_DIR/empty is 0555 whatever tokend's umask (0077) */
	{
		struct stat st;

		assert_int_equal(stat(empty, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0555);
	}
	/* a SIGTERM to the whole group (systemd's default stop, Ctrl-C sends
	 * SIGINT so) is the key holder's to act on: the front stays ... */
	assert_int_equal(kill(front, SIGTERM), 0);
	assert_int_equal(kill(front, SIGINT), 0);
	usleep(200000);
	assert_int_equal(kill(front, 0), 0);
	/* ... and a stop by SIGTERM ends both, the front cleanly (no op=front
	 * line) */
	th_stop(SIGTERM);
	assert_int_equal(kill(front, 0), -1);
	assert_int_equal(th_count_log("op=front result=error"), 0);
}

/* A client that sends garbage on many connections: the front's lines
 * reach the log marked as its (src=front), and no more than a few of them
 * one by one. */
static void test_client_errors_bounded(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const uint8_t junk[] = { 0, 0, 0, 0, 1 }; /* a frame of length 0 */

	(void)state;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", th.sock);
	for (int i = 0; i < 40; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		char buf[256];

		assert_true(fd >= 0);
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		(void)!read(fd, buf, sizeof(buf)); /* the error reply, then the end */
		close(fd);
	}
	assert_true(th_wait_log("op=frame result=error", 1, 5000) >= 1);
	/* what the front logs is marked as the front's */
	assert_int_equal(th_count_log("op=frame result=error"),
			 th_count_log("reason=\"malformed frame\" src=front"));
	/* and bounded: 40 bad frames, at most 10 lines one by one */
	assert_true(th_count_log("op=frame result=error") <= 10);
}

/* Does pid's readable memory contain needle? -1 when it cannot be read. */
static int memory_has(pid_t pid, const uint8_t *needle, size_t nlen)
{
	char path[64], line[512];
	FILE *maps;
	int mem, found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (!maps || mem < 0) {
		if (maps)
			fclose(maps);
		if (mem >= 0)
			close(mem);
		return -1;
	}
	while (!found && fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[5];
		uint8_t *buf;

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3 || perms[0] != 'r')
			continue;
		if (hi - lo > (1ul << 30) || strstr(line, "[vvar]"))
			continue; /* sanitizer reservations, the vDSO data page */
		buf = malloc(hi - lo);
		if (!buf)
			continue;
		ssize_t k = pread(mem, buf, hi - lo, (off_t)lo);
		for (ssize_t i = 0; k > 0 && i + (ssize_t)nlen <= k; i++)
			if (buf[i] == needle[0] && memcmp(buf + i, needle, nlen) == 0) {
				found = 1;
				break;
			}
		free(buf);
	}
	fclose(maps);
	close(mem);
	return found;
}

static void test_front_memory_has_no_key(void **state)
{
	struct pt_req ex = { .type = PT_EXCHANGE, .holder = "tester" };
	struct pt_req rd = {
		.type = PT_REDEEM, .user = "root", .holder = "tester", .service = "t"
	};
	struct pt_rep rep = { 0 };
	char path[PATH_MAX];
	uint8_t *blob, key[32];
	size_t n;
	pid_t front;
	char *live;

	(void)state;
	/* a login, an exchange and a redemption went through both processes */
	live = th_mint("root", "login", NULL);
	ex.live_token = live;
	assert_int_equal(th_call(&ex, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	assert_int_equal(th_call(&rd, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	pt_free_secret(live);
	/* the software backend's sealed file ends with the store key itself */
	snprintf(path, sizeof(path), "%s/state/gen-1/storekey.sealed", th.dir);
	if (access(path, F_OK) != 0)
		snprintf(path, sizeof(path), "%s/state/storekey.sealed", th.dir);
	blob = (uint8_t *)th_slurp(path);
	assert_non_null(blob);
	{
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		n = (size_t)st.st_size;
	}
	assert_true(n > sizeof(key));
	memcpy(key, blob + n - sizeof(key), sizeof(key));
	free(blob);
	front = front_pid();
	/* the search finds the key where it is (the key holder's page) ... */
	assert_int_equal(memory_has(th.pid, key, sizeof(key)), 1);
	/* ... and not in the front */
	assert_int_equal(memory_has(front, key, sizeof(key)), 0);
}

/* Without its front the key holder serves nobody: it says so and stops
 * (systemd restarts the pair). */
static void test_front_death_stops_holder(void **state)
{
	pid_t front, pid = th.pid;
	int st = 0, i;

	(void)state;
	front = front_pid();
	assert_int_equal(kill(front, SIGKILL), 0);
	for (i = 0; i < 500 && waitpid(pid, &st, WNOHANG) == 0; i++)
		usleep(10000);
	assert_true(i < 500);
	th.pid = -1;
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	assert_true(th_count_log("op=front result=error") >= 1);
	assert_true(th_count_log("was killed by signal 9") >= 1);
	assert_int_equal(access(th.sock, F_OK), -1); /* its socket is gone too */
}

/* A front_user that does not exist: no start, one precise line, no socket. */
static void test_missing_front_user(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	write_conf("pertok-no-such-user");
	assert_int_equal(th_start_fails(), 1);
	assert_true(th_count_log("the front's user pertok-no-such-user does not exist") >= 1);
	assert_int_equal(access(th.sock, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_front_memory_has_no_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_errors_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_front_death_stops_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_front_user, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (the front drops to the system user %s)\n",
		       FRONT_USER);
		return 0;
	}
	if (!getpwnam(FRONT_USER)) {
		printf("1..0 # SKIP the system user %s does not exist (scripts/system-user.sh "
		       "creates it)\n",
		       FRONT_USER);
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
