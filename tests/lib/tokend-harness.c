/* SPDX-License-Identifier: MIT */
/* A private tokend for the daemon tests: see tokend-harness.h. */
#include "config.h"

#include <fcntl.h>
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
#include "tokend-harness.h"

struct tokend_harness th = { .pid = -1, .timeout_ms = 2000 };

int th_init(const char *name)
{
	char tmpl[64];
	ssize_t n;

	snprintf(tmpl, sizeof(tmpl), "/tmp/pertok-%s-test.XXXXXX", name);
	if (!mkdtemp(tmpl))
		return -1;
	chmod(tmpl, 0711); /* the unprivileged child must reach the socket */
	snprintf(th.dir, sizeof(th.dir), "%s", tmpl);
	snprintf(th.sock, sizeof(th.sock), "%s/tokend.sock", th.dir);
	snprintf(th.conf, sizeof(th.conf), "%s/tokend.conf", th.dir);
	snprintf(th.logpath, sizeof(th.logpath), "%s/tokend.log", th.dir);
	n = readlink("/proc/self/exe", th.self_exe, sizeof(th.self_exe) - 1);
	if (n <= 0)
		return -1;
	th.self_exe[n] = '\0';
	return 0;
}

void th_start_via(const char *activator)
{
	const char *b = getenv("top_builddir");
	char bin[PATH_MAX];
	int fd;

	snprintf(bin, sizeof(bin), "%s/tokend/tokend", b ? b : ".");
	th.pid = fork();
	assert_true(th.pid >= 0);
	if (th.pid == 0) {
		fd = open(th.logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		if (activator)
			execl(activator, "systemd-socket-activate", "-l", th.sock, bin, "-f", "-c",
			      th.conf, (char *)NULL);
		else if (getenv("TOKEND_VALGRIND"))
			/* TOKEND_VALGRIND=1: run the daemon under valgrind (memcheck) */
			execl("/usr/bin/valgrind", "valgrind", "-q", "--leak-check=full",
			      "--errors-for-leak-kinds=definite", "--error-exitcode=99", bin, "-f",
			      "-c", th.conf, (char *)NULL);
		else
			execl(bin, "tokend", "-f", "-c", th.conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		struct pt_client *c = NULL;
		if (pt_client_connect(th.sock, 200, &c) == 0) {
			pt_client_free(c);
			return;
		}
		usleep(20000);
	}
	fail_msg("tokend did not come up; see %s", th.logpath);
}

void th_start(void)
{
	th_start_via(NULL);
}

void th_stop(int sig)
{
	int st;

	if (th.pid <= 0)
		return;
	kill(th.pid, sig);
	waitpid(th.pid, &st, 0);
	th.pid = -1;
	/* a clean stop must be clean: valgrind's verdict arrives as exit 99 */
	if (sig == SIGTERM && WIFEXITED(st) && WEXITSTATUS(st) == 99)
		fail_msg("valgrind reported errors in tokend; see %s", th.logpath);
}

int th_remove_dir(void)
{
	char cmd[PATH_MAX + 16];

	if (getenv("PERTOK_TEST_KEEP") != NULL || th.dir[0] == '\0')
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", th.dir);
	return system(cmd) == 0 ? 0 : -1;
}

int th_call(const struct pt_req *req, struct pt_rep *rep)
{
	struct pt_client *c = NULL;
	int r;

	memset(rep, 0, sizeof(*rep));
	r = pt_client_connect(th.sock, th.timeout_ms, &c);
	if (r < 0)
		return r;
	r = pt_client_call(c, req, rep);
	pt_client_free(c);
	return r;
}

char *th_slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}
