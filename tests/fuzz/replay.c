/* SPDX-License-Identifier: MIT */
/*
 * Plain driver for a libFuzzer harness: calls LLVMFuzzerTestOneInput once
 * for every regular file named on the command line or found (not
 * recursively) in a directory named there, so that `make check` replays the
 * saved corpus without a fuzzing toolchain. Prints one summary line:
 *   replayed K inputs
 * With -v, also each file's name before it runs (to find a crashing input).
 * Exits 0 when every input ran, 1 when a file could not be read, 2 on usage.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_MAX_INPUT (1024u * 1024u) /* corpus files are small; refuse huge ones */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int verbose;

static int run_file(const char *path, unsigned long *count)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = 0; /* not an input */
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: larger than %u bytes\n", path, REPLAY_MAX_INPUT);
		goto out;
	}
	/* +1 so that a zero-length input still has a valid, distinct pointer. */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + len, (size_t)st.st_size - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
			goto out;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	if (verbose) {
		printf("running %s (%zu bytes)\n", path, len);
		fflush(stdout);
	}
	LLVMFuzzerTestOneInput(buf, len);
	(*count)++;
	ret = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir, in name order (reproducible). */
static int run_dir(const char *dir, unsigned long *count)
{
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*names));

			if (!nn) {
				ret = -1;
				break;
			}
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0) {
			ret = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (ret == 0 && n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (ret == 0 && run_file(names[i], count) < 0)
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	int failed = 0, first = 1;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: %s [-v] DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = first; i < argc; i++) {
		struct stat st;
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			failed = 1;
			continue;
		}
		r = S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_file(argv[i], &count);
		if (r < 0)
			failed = 1;
	}
	printf("replayed %lu inputs\n", count);
	return failed ? 1 : 0;
}
