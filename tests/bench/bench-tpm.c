/* SPDX-License-Identifier: MIT */
/*
 * The naive baseline for the TPM benchmark: "one TPM unseal per token".
 *
 *   bench-tpm naive KEYDIR TCTI SECONDS
 *
 * Each operation does what a redeem would cost if the store key were not
 * kept in tokend's memory: read KEYDIR/storekey.sealed, unseal it through
 * ESYS (TCTI open, SRK, load, salted session, unseal, flush: the tpm2
 * backend's own unseal path), then decrypt one token file of KEYDIR/tokens
 * with it. Prints operations/s, p50 and p99 in microseconds, in the same
 * format as bench.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seal.h"
#include "aead.h"
#include "fileio.h"
#include "bench-util.h"

int main(int argc, char **argv)
{
	char blobpath[4096], tokpath[4096], tokname[256] = "", err[1024];
	struct pt_seal_opts o = { .persist_srk = true };
	struct pt_sealer *s = NULL;
	uint8_t *blob = NULL, *tok = NULL;
	size_t bloblen = 0, toklen = 0, n = 0, cap = 1 << 16;
	uint32_t *lat = NULL;
	uint64_t t0, end;
	struct dirent *de;
	unsigned secs;
	DIR *dir;
	int r;

	if (argc != 5 || strcmp(argv[1], "naive") != 0) {
		fprintf(stderr, "usage: bench-tpm naive KEYDIR TCTI SECONDS\n");
		return 2;
	}
	secs = (unsigned)atoi(argv[4]);
	snprintf(o.tcti, sizeof(o.tcti), "%s", argv[3]);
	if ((size_t)snprintf(blobpath, sizeof(blobpath), "%s/storekey.sealed", argv[2]) >=
		    sizeof(blobpath) ||
	    (size_t)snprintf(tokpath, sizeof(tokpath), "%s/tokens", argv[2]) >= sizeof(tokpath))
		return 2;
	dir = opendir(tokpath);
	while (dir && (de = readdir(dir)))
		if (strlen(de->d_name) > 4 &&
		    strcmp(de->d_name + strlen(de->d_name) - 4, ".tok") == 0)
			snprintf(tokname, sizeof(tokname), "%s", de->d_name);
	if (dir)
		closedir(dir);
	if (!tokname[0] ||
	    (size_t)snprintf(tokpath + strlen(tokpath), sizeof(tokpath) - strlen(tokpath), "/%s",
			     tokname) >= sizeof(tokpath) - strlen(tokpath)) {
		fprintf(stderr, "bench-tpm: no token in %s/tokens\n", argv[2]);
		return 1;
	}
	r = pt_sealer_new("tpm2", &o, argv[2], &s, NULL, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "bench-tpm: %s\n", err);
		return 1;
	}
	lat = malloc(cap * sizeof(*lat));
	if (!lat)
		return 1;
	t0 = now_us();
	end = t0 + (uint64_t)secs * 1000000u;
	while (now_us() < end && n < cap) {
		uint8_t key[PT_STORE_KEYLEN], *plain = NULL;
		size_t plainlen = 0;
		uint64_t a = now_us();

		r = pt_read_file(blobpath, 64 * 1024, &blob, &bloblen);
		if (r >= 0)
			r = s->unseal(s, blob, bloblen, key, err, sizeof(err));
		free(blob);
		blob = NULL;
		if (r >= 0)
			r = pt_read_file(tokpath, 1 << 20, &tok, &toklen);
		if (r >= 0)
			r = pt_aead_open(key, tokname, strlen(tokname), tok, toklen, &plain,
					 &plainlen);
		OPENSSL_cleanse(key, sizeof(key));
		free(tok);
		tok = NULL;
		if (plain) {
			OPENSSL_cleanse(plain, plainlen);
			free(plain);
		}
		if (r < 0) {
			fprintf(stderr, "bench-tpm: %s\n", err[0] ? err : strerror(-r));
			return 1;
		}
		lat[n++] = (uint32_t)(now_us() - a);
	}
	qsort(lat, n, sizeof(*lat), cmp_u32);
	printf("%-28s clients=1   requests=%-8zu errors=0    rate=%9.0f/s p50=%6uus p99=%6uus\n",
	       "naive: ESYS unseal per token", n, n / ((now_us() - t0) / 1e6), n ? lat[n / 2] : 0,
	       n ? lat[n * 99 / 100] : 0);
	free(lat);
	pt_sealer_free(s);
	return 0;
}
