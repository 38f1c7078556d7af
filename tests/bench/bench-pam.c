/* SPDX-License-Identifier: MIT */
/*
 * pertok benchmark of the in-process parts, each beside its baseline.
 *
 *   bench-pam pam CONFDIR SERVICE USER SECONDS
 *       one scheduler job's PAM calls, as atd makes them: pam_start_confdir,
 *       pam_acct_mgmt, pam_open_session, pam_setcred, pam_close_session,
 *       pam_end. With a service of pam_permit.so this is the baseline; with
 *       pam_pertok.so redeem each job is one redemption by a real tokend.
 *   bench-pam nss USER SECONDS
 *       getpwnam_r + getgrouplist of USER through glibc's NSS as nsswitch.conf
 *       says (the baseline of files look-ups that a job start makes).
 *
 * One process, one job at a time (a scheduler runs each job's PAM stack in
 * the job's process). Prints jobs/s, p50 and p99 in microseconds; no
 * thresholds.
 */
#include "config.h"
#include "bench-util.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SAMPLES 4000000

/* No prompts: a scheduler has nobody to ask. */
static int no_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	(void)n;
	(void)msg;
	(void)resp;
	(void)data;
	return PAM_CONV_ERR;
}

struct job {
	const char *confdir, *service, *user;
};

static int one_pam_job(const struct job *j)
{
	const struct pam_conv conv = { no_conv, NULL };
	pam_handle_t *pamh = NULL;
	int r;

	r = pam_start_confdir(j->service, j->user, &conv, j->confdir, &pamh);
	if (r != PAM_SUCCESS)
		return r;
	r = pam_acct_mgmt(pamh, PAM_SILENT);
	if (r == PAM_SUCCESS)
		r = pam_open_session(pamh, PAM_SILENT);
	if (r == PAM_SUCCESS) {
		r = pam_setcred(pamh, PAM_ESTABLISH_CRED | PAM_SILENT);
		(void)pam_close_session(pamh, PAM_SILENT);
	}
	pam_end(pamh, r);
	return r;
}

static int one_nss_lookup(const struct job *j)
{
	struct passwd pw, *res = NULL;
	gid_t groups[256];
	int n = 256;
	char buf[4096];

	if (getpwnam_r(j->user, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -1;
	if (getgrouplist(j->user, pw.pw_gid, groups, &n) < 0)
		return -1;
	return 0;
}

static int run(const char *label, int (*fn)(const struct job *), const struct job *j,
	       unsigned seconds)
{
	uint32_t *lat = malloc(sizeof(uint32_t) * MAX_SAMPLES);
	uint64_t start, end, count = 0, errors = 0;
	int first_err = 0;

	if (!lat) {
		perror("bench-pam");
		return 1;
	}
	start = now_us();
	end = start + (uint64_t)seconds * 1000000u;
	for (uint64_t t = start; t < end;) {
		int r = fn(j);
		uint64_t t2 = now_us();

		if (r != 0) {
			errors++;
			if (!first_err)
				first_err = r;
		} else if (count < MAX_SAMPLES)
			lat[count++] = (uint32_t)(t2 - t);
		t = t2;
	}
	qsort(lat, count, sizeof(*lat), cmp_u32);
	printf("%-44s %9.0f/s  p50 %5u us  p99 %5u us", label,
	       (double)count * 1e6 / (double)(now_us() - start), count ? lat[count / 2] : 0,
	       count ? lat[count * 99 / 100] : 0);
	if (errors)
		printf("  (%llu errors, first: %d)", (unsigned long long)errors, first_err);
	printf("\n");
	free(lat);
	/* a benchmark that did nothing is not a measurement */
	return count ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 7 && strcmp(argv[1], "pam") == 0) {
		struct job j = { .confdir = argv[2], .service = argv[3], .user = argv[4] };
		return run(argv[6], one_pam_job, &j, (unsigned)atoi(argv[5]));
	}
	if (argc == 5 && strcmp(argv[1], "nss") == 0) {
		struct job j = { .user = argv[2] };
		return run(argv[4], one_nss_lookup, &j, (unsigned)atoi(argv[3]));
	}
	fprintf(stderr, "usage: bench-pam pam CONFDIR SERVICE USER SECONDS LABEL\n"
			"       bench-pam nss USER SECONDS LABEL\n");
	return 2;
}
