/* SPDX-License-Identifier: MIT */
/* A private tokend for the daemon tests: see tokend-harness.h. */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "tokend-harness.h"

struct tokend_harness th = { .pid = -1, .timeout_ms = 2000 };

/* Every daemon this program started and has not reaped yet: th_start stops
 * the previous one before it starts another (a test that starts a daemon per
 * test case used to leak all but the last), and an exit handler stops what a
 * failed test left running, so no tokend outlives its test program. */
static pid_t started[8];
static bool exit_hook;

static void remember(pid_t pid)
{
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
		if (started[i] <= 0) {
			started[i] = pid;
			return;
		}
	fail_msg("the harness tracks at most %zu daemons", sizeof(started) / sizeof(started[0]));
}

static void forget(pid_t pid)
{
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
		if (started[i] == pid)
			started[i] = 0;
}

void th_stop_all(void)
{
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++) {
		if (started[i] <= 0)
			continue;
		kill(started[i], SIGKILL);
		waitpid(started[i], NULL, 0);
		started[i] = 0;
	}
	th.pid = -1;
}

static void stop_all_at_exit(void)
{
	/* only the process that started them (not a forked test child) */
	if (th.owner == getpid())
		th_stop_all();
}

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
	if (th.pid > 0)
		th_stop(SIGTERM); /* never two: the previous one would leak */
	if (!exit_hook) {
		atexit(stop_all_at_exit);
		exit_hook = true;
	}
	th.owner = getpid();
	th.pid = fork();
	assert_true(th.pid >= 0);
	if (th.pid == 0) {
		/* dies with the test program even when that is killed, and never
		 * holds the test's stdout (the TAP pipe) open */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != th.owner)
			_exit(126);
		fd = open(th.logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (activator)
			execl(activator, "systemd-socket-activate", "-l", th.sock, bin, "-f", "-c",
			      th.conf, (char *)NULL);
		else if (getenv("TOKEND_VALGRIND")) {
			/* TOKEND_VALGRIND=1: run the daemon under valgrind (memcheck);
			 * its reports go beside the log (LOG.valgrind), which keeps
			 * only tokend's lines for the tests that read it */
			char vlog[PATH_MAX + 32];

			snprintf(vlog, sizeof(vlog), "--log-file=%s.valgrind", th.logpath);
			execl("/usr/bin/valgrind", "valgrind", "-q", vlog, "--leak-check=full",
			      "--errors-for-leak-kinds=definite", "--error-exitcode=99", bin, "-f",
			      "-c", th.conf, (char *)NULL);
		} else
			execl(bin, "tokend", "-f", "-c", th.conf, (char *)NULL);
		_exit(127);
	}
	remember(th.pid);
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

void th_start_faketime(const char *ts)
{
	setenv("LD_PRELOAD", FAKETIME_LIB, 1);
	setenv("FAKETIME_TIMESTAMP_FILE", ts, 1);
	setenv("FAKETIME_NO_CACHE", "1", 1);
	setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
	th_start();
	unsetenv("LD_PRELOAD");
	unsetenv("FAKETIME_TIMESTAMP_FILE");
	unsetenv("FAKETIME_NO_CACHE");
	unsetenv("FAKETIME_DONT_FAKE_MONOTONIC");
}

void th_stop(int sig)
{
	int st;

	if (th.pid <= 0)
		return;
	kill(th.pid, sig);
	waitpid(th.pid, &st, 0);
	forget(th.pid);
	th.pid = -1;
	/* a clean stop must be clean: valgrind's verdict arrives as exit 99 */
	if (sig == SIGTERM && WIFEXITED(st) && WEXITSTATUS(st) == 99)
		fail_msg("valgrind reported errors in tokend; see %s.valgrind", th.logpath);
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
	/* a tokend under memcheck answers ~20 times slower */
	r = pt_client_connect(th.sock,
			      getenv("TOKEND_VALGRIND") ? th.timeout_ms * 10 : th.timeout_ms, &c);
	if (r < 0)
		return r;
	r = pt_client_call(c, req, rep);
	pt_client_free(c);
	return r;
}

char *th_mint(const char *user, const char *service, uint64_t *ret_exp)
{
	struct pt_req req = { .type = PT_MINT,
			      .user = (char *)user,
			      .service = (char *)service,
			      .tty = (char *)"pts/0",
			      .rhost = (char *)"" };
	struct pt_rep rep;
	char *token;

	assert_int_equal(th_call(&req, &rep), 0);
	if (rep.type != PT_OK)
		fail_msg("mint for %s refused: %s", user, rep.message ? rep.message : "?");
	token = rep.token;
	rep.token = NULL;
	if (ret_exp)
		*ret_exp = rep.exp;
	pt_rep_clear(&rep);
	assert_non_null(token);
	return token;
}

int th_start_fails(void)
{
	const char *b = getenv("top_builddir");
	char bin[PATH_MAX];
	pid_t pid;
	int st;

	snprintf(bin, sizeof(bin), "%s/tokend/tokend", b ? b : ".");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(th.logpath, O_WRONLY | O_APPEND);

		if (fd >= 0)
			dup2(fd, 2);
		execl(bin, "tokend", "-f", "-c", th.conf, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 127);
	return WEXITSTATUS(st);
}

int th_run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *th_bin(void)
{
	const char *b = getenv("top_builddir");

	return b ? b : ".";
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

int th_wait_log(const char *needle, unsigned min_count, int timeout_ms)
{
	uint64_t deadline;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline =
		(uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + (uint64_t)timeout_ms;
	for (;;) {
		char *buf = th_slurp(th.logpath);
		unsigned n = 0;

		for (const char *p = buf; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
			n++;
		free(buf);
		if (n >= min_count)
			return (int)n;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 >= deadline)
			return -1;
		usleep(10000);
	}
}

unsigned th_count_log(const char *needle)
{
	char *buf = th_slurp(th.logpath);
	unsigned n = 0;

	for (const char *p = buf; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(buf);
	return n;
}

int th_check_log_form(char *ret_bad, size_t len)
{
	/* tokend(8), LOGGING: "op=OP result=RESULT" then key=value fields only,
	 * a value bare (no space, quote or '=') or double-quoted with \" and \\
	 * escaped; with -f each line has a "TIME tokend PRIORITY: " prefix */
	static const char prefix[] = "^[0-9T:.-]+Z tokend [a-z]+: ";
	/* op: a request's name, "grant.create" style for the grants */
	static const char form[] = "^[0-9T:.-]+Z tokend [a-z]+: op=[a-z.-]+ result=[a-z-]+"
				   "( [a-z_]+=([^ \"=]+|\"([^\"\\]|\\\\.)*\"))*$";
	regex_t any, ok;
	char *buf = th_slurp(th.logpath), *line, *save = NULL;
	int bad = 0;

	assert_int_equal(regcomp(&any, prefix, REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regcomp(&ok, form, REG_EXTENDED | REG_NOSUB), 0);
	for (line = buf ? strtok_r(buf, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (regexec(&any, line, 0, NULL, 0) != 0)
			continue; /* not tokend's (valgrind, a child's stderr) */
		if (regexec(&ok, line, 0, NULL, 0) == 0)
			continue;
		if (bad++ == 0 && ret_bad)
			snprintf(ret_bad, len, "%s", line);
	}
	regfree(&any);
	regfree(&ok);
	free(buf);
	return bad;
}
