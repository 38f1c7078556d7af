/* SPDX-License-Identifier: MIT */
/*
 * The NSS benchmark's program (tests/bench/run-bench-nss.sh runs it inside
 * its private mount namespace, one process per back end and size):
 *
 *   bench-nss cache PATH N     the libnss_pertok cache for N users, written
 *                              by tokend's own code: N token records through
 *                              pt_nsscache_build, installed by
 *                              pt_nsscache_install (temp file, fsync, rename)
 *   bench-nss passwd N         the same N users as /etc/passwd lines
 *   bench-nss path             the cache path libnss_pertok was built to read
 *   bench-nss time NAME UID SECONDS
 *                              getpwnam_r(NAME) through glibc as the
 *                              namespace's nsswitch.conf says: one call that
 *                              must answer UID (a hit, not a miss), then calls
 *                              in batches of BATCH_US for SECONDS in all;
 *                              prints the least disturbed batch's microseconds
 *                              per call (on a shared machine other work only
 *                              adds time: short batches, the quickest one) and
 *                              the number of calls
 *
 * User i (0 <= i < N) is "ptb<N>-<i>", uid = gid = 200000 + i.
 */
#include "config.h"
#include "bench-util.h"

#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsscache-write.h"
#include "record.h"

#define FIRST_ID 200000u
#define MAX_USERS 1000000u
#define BATCH_US 2000u

static int parse_count(const char *s, unsigned long *ret)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || n == 0 || n > MAX_USERS) {
		fprintf(stderr, "bench-nss: \"%s\": not a count from 1 to %u\n", s, MAX_USERS);
		return -EINVAL;
	}
	*ret = n;
	return 0;
}

static int write_cache(const char *path, unsigned long n)
{
	struct pt_record *recs = calloc(n, sizeof(*recs));
	const struct pt_record **v = calloc(n, sizeof(*v));
	char **names = calloc(n, sizeof(*names));
	uint8_t *data = NULL;
	size_t len = 0;
	int r = -ENOMEM;

	if (!recs || !v || !names)
		goto out;
	for (unsigned long i = 0; i < n; i++) {
		if (asprintf(&names[i], "ptb%lu-%lu", n, i) < 0) {
			names[i] = NULL;
			goto out;
		}
		/* what tokend's store holds for one login's token */
		snprintf(recs[i].id, sizeof(recs[i].id), "pt_bench%lu", i);
		recs[i].user = names[i];
		recs[i].uid = recs[i].gid = (uid_t)(FIRST_ID + i);
		recs[i].groups = &names[i]; /* the primary group, named as the user */
		recs[i].n_groups = 1;
		recs[i].gecos = (char *)"pertok bench";
		recs[i].home = (char *)"/nonexistent";
		recs[i].shell = (char *)"/bin/sh";
		recs[i].iat = 1;
		v[i] = &recs[i];
	}
	r = pt_nsscache_build(v, n, NULL, NULL, &data, &len);
	if (r == 0)
		r = pt_nsscache_install(path, data, len);
	if (r == 0)
		printf("%zu\n", len);
out:
	if (r < 0)
		fprintf(stderr, "bench-nss: cache %s: %s\n", path, strerror(-r));
	if (names)
		for (unsigned long i = 0; i < n; i++)
			free(names[i]);
	free(names);
	free(recs);
	free(v);
	free(data);
	return r < 0 ? 1 : 0;
}

static int write_passwd(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		printf("ptb%lu-%lu:x:%lu:%lu:pertok bench:/nonexistent:/bin/sh\n", n, i,
		       FIRST_ID + i, FIRST_ID + i);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int lookup(const char *name, uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res || pw.pw_uid != uid)
		return -1;
	return 0;
}

static int time_lookups(const char *name, const char *uid_s, const char *secs_s)
{
	double best = 0, seconds = strtod(secs_s, NULL);
	uid_t uid = (uid_t)strtoul(uid_s, NULL, 10);
	uint64_t calls = 0, start, stop;
	int per_reading = 16;

	if (!(seconds > 0 && seconds <= 600)) {
		fprintf(stderr, "bench-nss: \"%s\": not a number of seconds (0 to 600)\n", secs_s);
		return 2;
	}
	/* the first call loads the module (and fills SSSD's memcache) */
	if (lookup(name, uid) < 0 || (start = now_us(), lookup(name, uid) < 0)) {
		fprintf(stderr, "bench-nss: getpwnam_r(%s) did not answer uid %lu\n", name,
			(unsigned long)uid);
		return 1;
	}
	if (now_us() - start > 100)
		per_reading = 1; /* a slow back end: one call per clock reading */
	start = now_us();
	stop = start + (uint64_t)(seconds * 1e6);
	while (calls == 0 || now_us() < stop) {
		uint64_t t0 = now_us(), end = t0 + BATCH_US, t, n = 0;

		do {
			for (int k = 0; k < per_reading; k++)
				if (lookup(name, uid) < 0) {
					fprintf(stderr, "bench-nss: getpwnam_r(%s) failed\n", name);
					return 1;
				}
			n += (uint64_t)per_reading;
			t = now_us();
		} while (t < end);
		if (calls == 0 || (double)(t - t0) / (double)n < best)
			best = (double)(t - t0) / (double)n;
		calls += n;
	}
	printf("%.3f %llu\n", best, (unsigned long long)calls);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long n;

	if (argc == 4 && strcmp(argv[1], "cache") == 0)
		return parse_count(argv[3], &n) < 0 ? 2 : write_cache(argv[2], n);
	if (argc == 3 && strcmp(argv[1], "passwd") == 0)
		return parse_count(argv[2], &n) < 0 ? 2 : write_passwd(n);
	if (argc == 2 && strcmp(argv[1], "path") == 0)
		return puts(NSS_CACHE_PATH) < 0;
	if (argc == 5 && strcmp(argv[1], "time") == 0)
		return time_lookups(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: bench-nss cache PATH N\n"
			"       bench-nss passwd N\n"
			"       bench-nss path\n"
			"       bench-nss time NAME UID SECONDS\n");
	return 2;
}
