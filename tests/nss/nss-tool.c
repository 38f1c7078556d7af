/* SPDX-License-Identifier: MIT */
/* Helper of tests/nss/test-nss-glibc.sh (run inside its mount namespace):
 *
 *   nss-tool write PATH < SPEC   the cache for SPEC, installed at PATH the way
 *                                tokend does (pt_nsscache_install: temp file,
 *                                old one marked stale, rename). SPEC lines,
 *                                tab-separated:
 *                                  P name uid gid gecos home shell
 *                                  G name gid
 *                                  M group member
 *   nss-tool threads PATH        4 threads look names up through glibc
 *                                (getpwnam_r, getpwuid_r, getgrnam_r) while
 *                                this thread rewrites PATH 200 times with
 *                                alternating sets: no wrong answer, then the
 *                                last set is what glibc answers
 *   nss-tool fork PATH           a look-up, fork, a look-up in the child
 *   nss-tool path                the path libnss_pertok was built to read
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nsscache-write.h"
#include "nsscache.h"

static int write_spec(const char *path, FILE *in)
{
	struct nssc_builder *b = NULL;
	char line[8192];
	uint8_t *data = NULL;
	size_t len;
	int r;

	if (nssc_builder_new(&b) < 0)
		return 1;
	while (fgets(line, sizeof(line), in)) {
		char *f[8] = { 0 };
		size_t n = 0;
		char *save = NULL, *tok;

		line[strcspn(line, "\n")] = '\0';
		for (tok = strtok_r(line, "\t", &save); tok && n < 8;
		     tok = strtok_r(NULL, "\t", &save))
			f[n++] = tok;
		if (n == 0)
			continue;
		if (strcmp(f[0], "P") == 0 && n == 7)
			r = nssc_builder_add_passwd(b, f[1], (uid_t)strtoul(f[2], NULL, 10),
						    (gid_t)strtoul(f[3], NULL, 10), f[4], f[5],
						    f[6]);
		else if (strcmp(f[0], "G") == 0 && n == 3)
			r = nssc_builder_add_group(b, f[1], (gid_t)strtoul(f[2], NULL, 10));
		else if (strcmp(f[0], "M") == 0 && n == 3)
			r = nssc_builder_add_member(b, f[1], f[2]);
		else
			r = -EINVAL;
		if (r < 0) {
			fprintf(stderr, "nss-tool: line \"%s\": %s\n", f[0], strerror(-r));
			nssc_builder_free(b);
			return 1;
		}
	}
	r = nssc_builder_finish(b, &data, &len);
	nssc_builder_free(b);
	if (r == 0)
		r = pt_nsscache_install(path, data, len);
	free(data);
	if (r < 0) {
		fprintf(stderr, "nss-tool: %s: %s\n", path, strerror(-r));
		return 1;
	}
	return 0;
}

/* set A: ptnss-a0..a9 (uid 39100+i); set B: ptnss-b0..b9 (uid 39200+i) */
static int write_set(const char *path, char set)
{
	struct nssc_builder *b = NULL;
	uint8_t *data = NULL;
	size_t len;
	char name[32];
	int r;

	if (nssc_builder_new(&b) < 0)
		return -ENOMEM;
	r = nssc_builder_add_group(b, set == 'a' ? "ptnss-ga" : "ptnss-gb",
				   set == 'a' ? 39150 : 39250);
	for (int i = 0; i < 10 && r == 0; i++) {
		snprintf(name, sizeof(name), "ptnss-%c%d", set, i);
		r = nssc_builder_add_passwd(b, name, (uid_t)((set == 'a' ? 39100 : 39200) + i),
					    39000, "x", "/nonexistent", "/bin/sh");
		if (r == 0)
			r = nssc_builder_add_member(b, set == 'a' ? "ptnss-ga" : "ptnss-gb", name);
	}
	if (r == 0)
		r = nssc_builder_finish(b, &data, &len);
	nssc_builder_free(b);
	if (r == 0)
		r = pt_nsscache_install(path, data, len);
	free(data);
	return r;
}

static atomic_bool stop;
static atomic_long wrong, hits;

static void *looker(void *u)
{
	unsigned seed = (unsigned)(uintptr_t)u;
	char buf[1024], name[32];

	while (!atomic_load(&stop)) {
		char set = (rand_r(&seed) & 1) ? 'a' : 'b';
		int i = rand_r(&seed) % 10;
		uid_t want = (uid_t)((set == 'a' ? 39100 : 39200) + i);
		struct passwd pw, *res = NULL;
		struct group gr, *gres = NULL;

		snprintf(name, sizeof(name), "ptnss-%c%d", set, i);
		if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 && res) {
			atomic_fetch_add(&hits, 1);
			if (pw.pw_uid != want || strcmp(pw.pw_name, name) != 0)
				atomic_fetch_add(&wrong, 1);
		}
		if (getpwuid_r(want, &pw, buf, sizeof(buf), &res) == 0 && res &&
		    strcmp(pw.pw_name, name) != 0)
			atomic_fetch_add(&wrong, 1);
		if (getgrnam_r(set == 'a' ? "ptnss-ga" : "ptnss-gb", &gr, buf, sizeof(buf),
			       &gres) == 0 &&
		    gres &&
		    (gr.gr_gid != (set == 'a' ? 39150u : 39250u) || !gr.gr_mem[9] || gr.gr_mem[10]))
			atomic_fetch_add(&wrong, 1);
	}
	return NULL;
}

static int threads(const char *path)
{
	pthread_t t[4];
	struct passwd *pw;
	int r;

	if (write_set(path, 'a') < 0)
		return 1;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, looker, (void *)(uintptr_t)(i + 1));
	for (int k = 0; k < 200; k++) {
		r = write_set(path, k % 2 ? 'a' : 'b');
		if (r < 0) {
			fprintf(stderr, "nss-tool: write: %s\n", strerror(-r));
			return 1;
		}
		usleep(2000);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("lookups found %ld, wrong %ld\n", atomic_load(&hits), atomic_load(&wrong));
	if (atomic_load(&wrong) != 0 || atomic_load(&hits) == 0)
		return 1;
	/* the last set written was 'a' (k = 199): it answers, 'b' is gone. Not
	 * at once: a look-up that found each new file replaced again (a rewrite
	 * every 2 ms) keeps the stale mapping for the module's RETRY_MS (100 ms)
	 * before it maps the file again */
	usleep(250 * 1000);
	pw = getpwnam("ptnss-a3");
	if (!pw || pw->pw_uid != 39103) {
		fprintf(stderr, "nss-tool: ptnss-a3 not answered after the last rewrite\n");
		return 1;
	}
	if (getpwnam("ptnss-b3")) {
		fprintf(stderr, "nss-tool: ptnss-b3 still answered after the last rewrite\n");
		return 1;
	}
	return 0;
}

static int forked(const char *path)
{
	int status;
	pid_t pid;

	if (write_set(path, 'a') < 0 || !getpwnam("ptnss-a1"))
		return 1;
	pid = fork();
	if (pid == 0) {
		struct passwd *pw;

		if (write_set(path, 'b') < 0)
			_exit(2);
		pw = getpwnam("ptnss-b1");
		_exit(pw && pw->pw_uid == 39201 && !getpwnam("ptnss-a1") ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "path") == 0)
		return puts(NSS_CACHE_PATH) < 0;
	if (argc == 3 && strcmp(argv[1], "write") == 0)
		return write_spec(argv[2], stdin);
	if (argc == 3 && strcmp(argv[1], "threads") == 0)
		return threads(argv[2]);
	if (argc == 3 && strcmp(argv[1], "fork") == 0)
		return forked(argv[2]);
	fprintf(stderr, "usage: nss-tool write|threads|fork PATH | path\n");
	return 2;
}
