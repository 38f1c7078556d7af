/* SPDX-License-Identifier: MIT */
/* pertok as a job runs it (see keyring-run.h). */
#include "config.h"

#include <grp.h>
#include <keyutils.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "keyring-run.h"
#include "tokend-harness.h"

#define NOBODY 65534
#define MAX_ARGS 16

/* Reads fd to its end into buf (at most len - 1 bytes, NUL-ended). */
static void read_all(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t k;

	while (n + 1 < len && (k = read(fd, buf + n, len - n - 1)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(fd);
}

int th_pertok_as_nobody(const char *token, const char *const *args, char *out, size_t outlen,
			char *err, size_t errlen)
{
	const char *b = getenv("top_builddir");
	const char *argv[MAX_ARGS + 4] = { "pertok", "-s", th.sock };
	char bin[PATH_MAX];
	int po[2], pe[2], st;
	size_t n = 3;
	pid_t pid;

	for (size_t i = 0; args[i]; i++) {
		assert_true(n < MAX_ARGS + 3);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	snprintf(bin, sizeof(bin), "%s/tools/pertok", b ? b : ".");
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(po[0]);
		close(pe[0]);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		if (keyctl_join_session_keyring(NULL) < 0 ||
		    add_key("user", "pertok:live", token, strlen(token), KEY_SPEC_SESSION_KEYRING) <
			    0)
			_exit(101);
		execv(bin, (char *const *)argv);
		_exit(102);
	}
	close(po[1]);
	close(pe[1]);
	read_all(po[0], out, outlen);
	read_all(pe[0], err, errlen);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_true(WEXITSTATUS(st) < 100);
	return WEXITSTATUS(st);
}
