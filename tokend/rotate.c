/* SPDX-License-Identifier: MIT */
/* Key generations, rotation and resealing, see rotate.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "conf.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "keys.h"
#include "rotate.h"
#include "seal.h"
#include "fileio.h"
#include "store.h"
#include "grant-internal.h"
#include "util.h"

#define CURRENT_FILE "current"
#define GEN_MAX 999999u

static int join(char *buf, size_t n, const char *a, const char *b)
{
	int k = snprintf(buf, n, "%s/%s", a, b);

	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

/* "gen-N" (1 <= N <= GEN_MAX) -> N, else 0. */
static unsigned gen_parse(const char *s, size_t n)
{
	unsigned v = 0;

	if (n < 5 || n > 10 || strncmp(s, "gen-", 4) != 0 || s[4] == '0')
		return 0;
	for (size_t i = 4; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= GEN_MAX ? v : 0;
}

int pt_keygen_dir(const char *state_dir, char *ret, size_t len, unsigned *ret_gen)
{
	char path[4096];
	uint8_t *b = NULL;
	size_t n = 0;
	unsigned gen;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/" CURRENT_FILE, state_dir) >= sizeof(path))
		return -ENAMETOOLONG;
	r = pt_read_file(path, 32, &b, &n);
	if (r == -ENOENT) {
		DIR *dir = opendir(state_dir);
		struct dirent *de;
		bool gens = false;

		/* generations without a pointer: never start over with a new key */
		while (dir && (de = readdir(dir)))
			if (gen_parse(de->d_name, strlen(de->d_name)))
				gens = true;
		if (dir)
			closedir(dir);
		if (gens)
			return -EBADMSG;
		if ((size_t)snprintf(ret, len, "%s", state_dir) >= len)
			return -ENAMETOOLONG;
		if (ret_gen)
			*ret_gen = 0;
		return 0;
	}
	if (r < 0)
		return r;
	if (n && b[n - 1] == '\n')
		n--;
	gen = gen_parse((const char *)b, n);
	free(b);
	if (!gen)
		return -EBADMSG;
	if ((size_t)snprintf(ret, len, "%s/gen-%u", state_dir, gen) >= len)
		return -ENAMETOOLONG;
	if (ret_gen)
		*ret_gen = gen;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Generation 0's files in STATE_DIR itself. */
static void remove_gen0(const char *state_dir)
{
	static const char *const files[] = { "storekey.sealed", "signing.key", "retired.keys",
					     "audit-hmac.key", PT_STORE_FILE };
	char p[4096];

	for (size_t i = 0; i < PT_ELEMENTSOF(files); i++) {
		if (join(p, sizeof(p), state_dir, files[i]) == 0)
			unlink(p);
	}
	if (join(p, sizeof(p), state_dir, PT_STORE_LEGACY_DIR) == 0)
		rm_rf(p);
}

void pt_keygen_cleanup(const char *state_dir, unsigned gen)
{
	struct dirent *de;
	DIR *dir;

	if (gen == 0)
		return;
	remove_gen0(state_dir);
	dir = opendir(state_dir);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		unsigned g = gen_parse(de->d_name, strlen(de->d_name));
		char p[4096];

		if (!g || g == gen)
			continue;
		if (join(p, sizeof(p), state_dir, de->d_name) == 0)
			rm_rf(p);
	}
	closedir(dir);
}

int pt_rotate(struct pt_daemon *d, char *msg, size_t len)
{
	char newdir[4096], cur[4096], line[32];
	uint8_t key2[PT_STORE_KEYLEN];
	struct pt_keys *nk = NULL;
	struct pt_store *ns = NULL;
	size_t n = 0, bad = 0, nbad = 0;
	unsigned gen;
	uint64_t now = pt_now_s();
	char err[512] = "";
	bool committed = false;
	int r, created;

	r = pt_keygen_dir(d->cfg->state_dir, cur, sizeof(cur), &gen);
	if (r < 0) {
		snprintf(msg, len, "cannot read %s/" CURRENT_FILE ": %s", d->cfg->state_dir,
			 strerror(-r));
		return r;
	}
	if (gen >= GEN_MAX) {
		snprintf(msg, len, "too many key generations");
		return -ERANGE;
	}
	snprintf(newdir, sizeof(newdir), "%s/gen-%u", d->cfg->state_dir, gen + 1);
	rm_rf(newdir); /* a rotation that crashed before its commit */
	if (mkdir(newdir, 0700) < 0) {
		r = -errno;
		snprintf(msg, len, "cannot create %s: %s", newdir, strerror(-r));
		return r;
	}
	r = pt_store_flush(d->store);
	if (r < 0) {
		snprintf(msg, len, "cannot flush the store: %s", strerror(-r));
		goto out;
	}
	if (RAND_bytes(key2, sizeof(key2)) != 1) {
		snprintf(msg, len, "no randomness for a new store key");
		r = -EIO;
		goto out;
	}
	r = pt_seal_store(d->sealer, newdir, key2, err, sizeof(err));
	if (r < 0) {
		snprintf(msg, len, "cannot seal the new store key: %s", err);
		goto out;
	}
	r = pt_keys_write_retired(newdir, key2, d->keys, now, d->cfg->max_live_lifetime);
	if (r < 0) {
		snprintf(msg, len, "cannot write the retired keys: %s", strerror(-r));
		goto out;
	}
	/* the audit's HMAC key is its own secret: the same after the rotation
	 * (pertokctl audit rpo groups one subject across it) */
	r = pt_audit_seed_rewrap(d->keydir, d->storekey, newdir, key2);
	if (r < 0) {
		snprintf(msg, len, "cannot carry the audit HMAC key: %s", strerror(-r));
		goto out;
	}
	r = pt_keys_load_or_create(newdir, key2, d->cfg->alg, &nk, &created, err, sizeof(err));
	if (r < 0) {
		snprintf(msg, len, "cannot create the new signing key: %s", err);
		goto out;
	}
	r = pt_store_rewrap(d->store, newdir, key2, &n, &bad);
	if (r < 0) {
		snprintf(msg, len, "cannot re-wrap the tokens: %s", strerror(-r));
		goto out;
	}
	if (d->grants) {
		struct pt_grants *ng = NULL;
		char gerr[256];

		r = pt_grants_rewrap(d->grants, newdir, key2);
		if (r >= 0)
			r = pt_grants_open(newdir, key2, &ng, gerr, sizeof(gerr));
		if (r >= 0 && pt_grants_count(ng) != pt_grants_count(d->grants))
			r = -EIO;
		pt_grants_free(ng);
		if (r < 0) {
			snprintf(msg, len, "cannot re-wrap the grants: %s; nothing changed",
				 strerror(-r));
			goto out;
		}
	}
	r = pt_store_open(newdir, key2, &ns, &nbad);
	if (r < 0 || pt_store_count(ns) != pt_store_count(d->store)) {
		snprintf(msg, len,
			 "the re-wrapped store does not load as the old one (%zu of %zu "
			 "tokens); nothing changed",
			 ns ? pt_store_count(ns) : 0, pt_store_count(d->store));
		r = r < 0 ? r : -EIO;
		goto out;
	}
	/* the commit: one atomic rename */
	snprintf(line, sizeof(line), "gen-%u\n", gen + 1);
	snprintf(cur, sizeof(cur), "%s/" CURRENT_FILE, d->cfg->state_dir);
	r = pt_atomic_write(cur, line, strlen(line), 0600);
	if (r < 0) {
		snprintf(msg, len, "cannot switch %s: %s; nothing changed", cur, strerror(-r));
		goto out;
	}
	committed = true;
	snprintf(msg, len,
		 "rotated to key generation %u: new store key (%s), %zu token(s) re-wrapped%s, "
		 "new signing kid=%s; the old kid=%s stays published until %llu",
		 gen + 1, d->sealer->name, n, bad ? " (some could not be decrypted: copied)" : "",
		 nk->kid, d->keys->kid, (unsigned long long)(now + d->cfg->max_live_lifetime));
	pt_store_free(d->store);
	d->store = ns;
	ns = NULL;
	nk->prev = d->keys; /* the audit trail still signs with it until the next start */
	d->keys = nk;
	nk = NULL;
	memcpy(d->storekey, key2, PT_STORE_KEYLEN);
	snprintf(d->keydir, sizeof(d->keydir), "%s", newdir);
	if (d->grants)
		pt_grants_set_dir(d->grants, newdir);
	pt_keygen_cleanup(d->cfg->state_dir, gen + 1);
	r = 0;
out:
	OPENSSL_cleanse(key2, sizeof(key2));
	pt_store_free(ns);
	pt_keys_free(nk);
	if (!committed)
		rm_rf(newdir);
	return r;
}

int pt_reseal(struct pt_daemon *d, char *msg, size_t len)
{
	struct pt_sealer s = *d->sealer;
	char err[512] = "";
	int r;

	s.opts.pcr_mask = d->cfg->seal_pcr_mask;
	r = pt_seal_store(&s, d->keydir, d->storekey, err, sizeof(err));
	if (r < 0) {
		snprintf(msg, len, "reseal failed (the previous sealed key is unchanged): %s", err);
		return r;
	}
	if (strcmp(s.name, "tpm2") == 0) {
		char pcrs[96] = "";
		size_t o = 0;

		for (unsigned i = 0; i < 24; i++)
			if (s.opts.pcr_mask & (1u << i))
				o += (size_t)snprintf(pcrs + o, sizeof(pcrs) - o, "%s%u",
						      o ? "," : "", i);
		snprintf(msg, len, "store key sealed again (tpm2, %s%s)",
			 o ? "bound to the current values of PCR " : "no PCR binding", pcrs);
	} else
		snprintf(msg, len, "store key written again (%s backend)", s.name);
	return 0;
}
