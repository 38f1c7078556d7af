/* SPDX-License-Identifier: MIT */
/*
 * pertok benchmark of whole commands, end to end (run-bench-act.sh).
 *
 *   bench-cmd LABEL RUNS [-i LINES] -- COMMAND [ARG...]
 *       fork + exec COMMAND RUNS times, one after the other, and wait for
 *       each; a run counts when COMMAND exits 0. With -i, run i reads line
 *       i of the file LINES on its stdin (a fresh token per login: tokend
 *       refuses a replayed one), else /dev/null; its stdout and stderr
 *       go to /dev/null.
 *
 * The same program times the baselines (/bin/true, runuser, pamtester of a
 * pam_permit stack) and what they are compared with (pertok act-as,
 * pamtester of pam_pertok.so accept). Prints runs/s, p50 and p99 in
 * microseconds; no thresholds. Exits 1 when no run succeeded.
 */
#include "config.h"
#include "bench-util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RUNS 100000
#define MAX_LINE 16384

/* One run: COMMAND with line (or nothing) on its stdin. Its exit status,
 * -1 when it could not be started. */
static int one_run(char **argv, const char *line)
{
	int fds[2] = { -1, -1 }, st = 0;
	pid_t pid;

	if (line && pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		if (line) {
			close(fds[0]);
			close(fds[1]);
		}
		return -1;
	}
	if (pid == 0) {
		int in = line ? fds[0] : open("/dev/null", O_RDONLY);
		int null = open("/dev/null", O_WRONLY);

		/* the command's chatter (pamtester's) is not the measurement */
		if (in < 0 || null < 0 || dup2(in, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		if (line)
			close(fds[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	if (line) {
		size_t len = strlen(line);

		close(fds[0]);
		/* a token is far below PIPE_BUF*16: the write does not block
		 * on a child that reads nothing */
		(void)!write(fds[1], line, len);
		close(fds[1]);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	const char *label, *lines_path = NULL;
	uint32_t *lat;
	uint64_t start, count = 0, errors = 0;
	char *line = NULL;
	FILE *lines = NULL;
	long runs;
	int i = 3, first_err = 0, ret = 1;

	if (argc > 4 && strcmp(argv[3], "-i") == 0) {
		lines_path = argv[4];
		i = 5;
	}
	if (argc < 3 || i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
		fprintf(stderr, "usage: bench-cmd LABEL RUNS [-i LINES] -- COMMAND [ARG...]\n");
		return 2;
	}
	/* a command that exits without reading its line (pam_permit's
	 * pamtester) must not end the benchmark */
	signal(SIGPIPE, SIG_IGN);
	label = argv[1];
	runs = strtol(argv[2], NULL, 10);
	if (runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "bench-cmd: RUNS must be 1..%d\n", MAX_RUNS);
		return 2;
	}
	lat = malloc(sizeof(*lat) * (size_t)runs);
	line = malloc(MAX_LINE);
	if (!lat || !line) {
		perror("bench-cmd");
		goto out;
	}
	if (lines_path && !(lines = fopen(lines_path, "r"))) {
		fprintf(stderr, "bench-cmd: %s: %s\n", lines_path, strerror(errno));
		goto out;
	}
	start = now_us();
	for (long n = 0; n < runs; n++) {
		uint64_t t, t2;
		int r;

		if (lines && !fgets(line, MAX_LINE, lines)) {
			fprintf(stderr, "bench-cmd: %s: fewer than %ld lines\n", lines_path, runs);
			break;
		}
		t = now_us();
		r = one_run(argv + i + 1, lines ? line : NULL);
		t2 = now_us();
		if (r != 0) {
			errors++;
			if (!first_err)
				first_err = r;
		} else
			lat[count++] = (uint32_t)(t2 - t);
	}
	qsort(lat, count, sizeof(*lat), cmp_u32);
	printf("%-52s %7.0f/s  p50 %6u us  p99 %6u us  (%llu runs)", label,
	       (double)count * 1e6 / (double)(now_us() - start), count ? lat[count / 2] : 0,
	       count ? lat[count * 99 / 100] : 0, (unsigned long long)count);
	if (errors)
		printf("  (%llu errors, first status: %d)", (unsigned long long)errors, first_err);
	printf("\n");
	/* a benchmark that did nothing is not a measurement */
	ret = count ? 0 : 1;
out:
	if (lines)
		fclose(lines);
	free(line);
	free(lat);
	return ret;
}
