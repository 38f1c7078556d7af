/* SPDX-License-Identifier: MIT */
/*
 * The naive baseline for the TPM benchmark: "one TPM unseal per token".
 *
 *   bench-tpm naive KEYDIR TCTI SECONDS
 *
 * Each operation does what a redeem would cost if the store key were not
 * kept in tokend's memory: read KEYDIR/storekey.sealed, unseal it through
 * ESYS (TCTI open, SRK, load, salted session, unseal, flush: the tpm2
 * backend's own unseal path), then decrypt one token of KEYDIR/tokens.mdb
 * with it (its sealed value read once, at start). Prints operations/s, p50 and p99 in microseconds, in the same
 * format as bench.
 */
#include "config.h"

#include <errno.h>
#include <lmdb.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seal.h"
#include "aead.h"
#include "fileio.h"
#include "store.h"
#include "bench-util.h"

/* The first token of dir/tokens.mdb: its sealed value and its AEAD name. */
static int first_token(const char *dir, char name[64], uint8_t **ret, size_t *ret_len)
{
	static const char hex[] = "0123456789abcdef";
	char path[4096];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/" PT_STORE_FILE, dir) >= sizeof(path))
		return -ENAMETOOLONG;
	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK | MDB_RDONLY, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, &dbi);
	if (rc == 0)
		rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size != 16)
		rc = MDB_NOTFOUND;
	if (rc == 0 && !(*ret = malloc(v.mv_size)))
		rc = ENOMEM;
	if (rc == 0) {
		for (size_t i = 0; i < 16; i++) {
			name[2 * i] = hex[((const uint8_t *)k.mv_data)[i] >> 4];
			name[2 * i + 1] = hex[((const uint8_t *)k.mv_data)[i] & 15];
		}
		memcpy(name + 32, ".tok", 5);
		memcpy(*ret, v.mv_data, v.mv_size);
		*ret_len = v.mv_size;
	}
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return rc == 0 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	char blobpath[4096], tokname[64] = "", err[1024];
	struct pt_seal_opts o = { .persist_srk = true };
	struct pt_sealer *s = NULL;
	uint8_t *blob = NULL, *tok = NULL;
	size_t bloblen = 0, toklen = 0, n = 0, cap = 1 << 16;
	uint32_t *lat = NULL;
	uint64_t t0, end;
	unsigned secs;
	int r;

	if (argc != 5 || strcmp(argv[1], "naive") != 0) {
		fprintf(stderr, "usage: bench-tpm naive KEYDIR TCTI SECONDS\n");
		return 2;
	}
	secs = (unsigned)atoi(argv[4]);
	snprintf(o.tcti, sizeof(o.tcti), "%s", argv[3]);
	if ((size_t)snprintf(blobpath, sizeof(blobpath), "%s/storekey.sealed", argv[2]) >=
	    sizeof(blobpath))
		return 2;
	if (first_token(argv[2], tokname, &tok, &toklen) < 0) {
		fprintf(stderr, "bench-tpm: no token in %s/" PT_STORE_FILE "\n", argv[2]);
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
			r = pt_aead_open(key, tokname, strlen(tokname), tok, toklen, &plain,
					 &plainlen);
		OPENSSL_cleanse(key, sizeof(key));
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
	free(tok);
	pt_sealer_free(s);
	return 0;
}
