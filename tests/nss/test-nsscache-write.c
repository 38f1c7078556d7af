/* SPDX-License-Identifier: MIT */
/* Unit tests for tokend/nsscache-write.c: what the file says for a set of
 * records (the newest token of a user wins; primary and supplementary
 * groups; unresolvable groups and unholdable strings left out; a group past
 * the format's member limit truncated with one log line, the rest of the
 * file still built) and the atomic replace (mode, the old file marked
 * stale). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "nsscache-write.h"
#include "nsscache.h"
#include "record.h"

static int gids(const char *group, gid_t *ret, void *u)
{
	(void)u;
	if (strcmp(group, "wheel") == 0) {
		*ret = 10;
		return 0;
	}
	if (strcmp(group, "staff") == 0) {
		*ret = 50;
		return 0;
	}
	return -ENOENT;
}

static struct pt_record rec(const char *id, const char *user, uid_t uid, uint64_t iat,
			    char **groups, size_t n_groups, const char *gecos)
{
	struct pt_record r;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.user = (char *)user;
	r.uid = uid;
	r.gid = uid;
	r.groups = groups;
	r.n_groups = n_groups;
	r.gecos = (char *)gecos;
	r.home = (char *)"/home/x";
	r.shell = (char *)"/bin/sh";
	r.iat = iat;
	return r;
}

static void test_build(void **state)
{
	char *ga[] = { "alice", "wheel", "nosuch" };
	char *gb[] = { "bob", "wheel", "staff" };
	char *gc[] = { "carol" };
	struct pt_record r[4] = {
		rec("pt_1", "alice", 1000, 100, ga, 3, "old"),
		rec("pt_2", "alice", 1005, 200, ga, 3, "new"), /* newer: its uid wins */
		rec("pt_3", "bob", 1001, 150, gb, 3, "Bob"),
		rec("pt_4", "carol", 1002, 160, gc, 1, "bad:gecos"), /* the format refuses ':' */
	};
	const struct pt_record *v[4] = { &r[0], &r[1], &r[2], &r[3] };
	struct nssc_view view;
	struct nssc_pw pw;
	struct nssc_gr gr;
	uint8_t *f = NULL;
	size_t len;

	(void)state;
	assert_int_equal(pt_nsscache_build(v, 4, gids, NULL, &f, &len), 0);
	assert_int_equal(nssc_open(f, len, &view), 0);
	assert_int_equal(nssc_pw_byname(&view, "alice", &pw), 0);
	assert_int_equal(pw.uid, 1005);
	assert_string_equal(pw.gecos.p, "new");
	assert_int_equal(nssc_pw_byuid(&view, 1000, &pw), -ENOENT);
	assert_int_equal(nssc_pw_byname(&view, "bob", &pw), 0);
	assert_int_equal(nssc_pw_byname(&view, "carol", &pw), -ENOENT);
	/* primary groups with the records' gids */
	assert_int_equal(nssc_gr_byname(&view, "alice", &gr), 0);
	assert_int_equal(gr.gid, 1005);
	assert_int_equal(gr.n_mem, 0);
	/* supplementary: resolved, with their members */
	assert_int_equal(nssc_gr_byname(&view, "wheel", &gr), 0);
	assert_int_equal(gr.gid, 10);
	assert_true(nssc_gr_has_member(&view, &gr, "alice"));
	assert_true(nssc_gr_has_member(&view, &gr, "bob"));
	assert_int_equal(gr.n_mem, 2);
	assert_int_equal(nssc_gr_bygid(&view, 50, &gr), 0);
	assert_int_equal(gr.n_mem, 1);
	assert_int_equal(nssc_gr_byname(&view, "nosuch", &gr), -ENOENT);
	free(f);

	/* no records: a valid, empty file */
	assert_int_equal(pt_nsscache_build(NULL, 0, gids, NULL, &f, &len), 0);
	assert_int_equal(nssc_open(f, len, &view), 0);
	assert_int_equal(view.n_pw, 0);
	free(f);
}

/* pt_log_kv's lines during a test (pt_log_set_sink) */
static char logged[4][1024];
static size_t n_logged;

static void sink(int prio, const char *line)
{
	(void)prio;
	if (n_logged < 4)
		snprintf(logged[n_logged], sizeof(logged[0]), "%s", line);
	n_logged++;
}

/* More members of one group than the format holds (NSSC_MAX_MEMBERS): the
 * cache is still built, with every user and the group's first
 * NSSC_MAX_MEMBERS members (newest tokens first), and one line names the
 * group, how many were left out and the limit. */
static void test_overfull_group(void **state)
{
	enum {
		N = NSSC_MAX_MEMBERS + 5
	};
	struct pt_record *r = calloc(N, sizeof(*r));
	const struct pt_record **v = calloc(N, sizeof(*v));
	char(*names)[16] = calloc(N, sizeof(*names));
	char *(*groups)[2] = calloc(N, sizeof(*groups));
	char want[160];
	struct nssc_view view;
	struct nssc_pw pw;
	struct nssc_gr gr;
	uint8_t *f = NULL;
	size_t len;

	(void)state;
	assert_true(r && v && names && groups);
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "u%zu", i);
		groups[i][0] = names[i];
		groups[i][1] = (char *)"staff";
		/* u0 is the newest token: the last five (oldest) are left out */
		r[i] = rec("pt_x", names[i], (uid_t)(10000 + i), (uint64_t)(N - i), groups[i], 2,
			   "");
		snprintf(r[i].id, sizeof(r[i].id), "pt_%zu", i);
		v[i] = &r[i];
	}
	n_logged = 0;
	pt_log_set_sink(sink);
	assert_int_equal(pt_nsscache_build(v, N, gids, NULL, &f, &len), 0);
	pt_log_set_sink(NULL);
	assert_int_equal(nssc_open(f, len, &view), 0);
	assert_int_equal(view.n_pw, N);
	assert_int_equal(nssc_gr_byname(&view, "staff", &gr), 0);
	assert_int_equal(gr.n_mem, NSSC_MAX_MEMBERS);
	assert_true(nssc_gr_has_member(&view, &gr, "u0"));
	assert_true(nssc_gr_has_member(&view, &gr, "u65535"));
	assert_false(nssc_gr_has_member(&view, &gr, "u65536"));
	/* a user left out of the group still resolves, with its own group */
	assert_int_equal(nssc_pw_byname(&view, "u65540", &pw), 0);
	assert_int_equal(pw.uid, 10000 + 65540);
	assert_int_equal(nssc_gr_byname(&view, "u65540", &gr), 0);
	/* one line for the group */
	assert_int_equal(n_logged, 1);
	snprintf(want, sizeof(want),
		 "op=nss-cache result=truncated group=staff left_out=5 limit=%u", NSSC_MAX_MEMBERS);
	assert_non_null(strstr(logged[0], want));
	free(f);
	free(groups);
	free(names);
	free(v);
	free(r);
}

static void test_install(void **state)
{
	char dir[] = "/tmp/pertok-nsscache-XXXXXX", path[64];
	struct pt_record r = rec("pt_1", "alice", 1000, 1, NULL, 0, "");
	const struct pt_record *v[1] = { &r };
	struct nssc_view view;
	struct stat s;
	uint8_t *f = NULL;
	size_t len;
	void *old;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nss.cache", dir);
	assert_int_equal(pt_nsscache_build(v, 1, NULL, NULL, &f, &len), 0);
	umask(077); /* the file is 0644 whatever the umask */
	assert_int_equal(pt_nsscache_install(path, f, len), 0);
	assert_int_equal(stat(path, &s), 0);
	assert_int_equal(s.st_mode & 07777, 0644);
	/* a reader's mapping of the first file learns it was replaced */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	old = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(old != MAP_FAILED);
	close(fd);
	assert_int_equal(nssc_open(old, len, &view), 0);
	assert_false(nssc_stale(&view));
	assert_int_equal(pt_nsscache_install(path, f, len), 0);
	assert_true(nssc_stale(&view));
	munmap(old, len);
	/* no temp file left beside it: the directory empties with the file */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	/* a directory that does not exist: -ENOENT, nothing created */
	assert_int_equal(pt_nsscache_install(path, f, len), -ENOENT);
	assert_int_equal(pt_nsscache_install("nss.cache", f, len), -EINVAL);
	free(f);
	/* and no cache is even built for a directory that does not exist (the
	 * key holder asked after every round, and built 100,000 entries each
	 * time to learn that: 21 redemptions/s at that size) */
	{
		unsigned long before = pt_nsscache_builds;

		assert_int_equal(pt_nsscache_update(NULL, path, 1), -ENOENT);
		assert_int_equal(pt_nsscache_builds, before);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_overfull_group),
		cmocka_unit_test(test_install),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
