/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "jws.h"
#include "fileio.h"
#include "keys.h"
#include "util.h"

#define KEYFILE "signing.key"
#define RETIREDFILE "retired.keys"
#define RETIRED_REC (8 + 32)
#define RETIRED_MAX 64
#define ED25519_LEN 32

void pt_keys_free(struct pt_keys *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->sign);
	for (size_t i = 0; i < k->n_retired; i++) {
		EVP_PKEY_free(k->retired[i].pub);
		free(k->retired[i].kid);
	}
	free(k->retired);
	pt_keys_free(k->prev);
	free(k->kid);
	free(k->pem);
	free(k->jwks);
	free(k);
}

static int public_pem(EVP_PKEY *key, char **ret)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *s;
	long n;

	if (!bio)
		return -ENOMEM;
	if (PEM_write_bio_PUBKEY(bio, key) != 1) {
		BIO_free(bio);
		return -EIO;
	}
	n = BIO_get_mem_data(bio, &p);
	s = n > 0 ? strndup(p, (size_t)n) : NULL;
	BIO_free(bio);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int jwks_json(const struct pt_keys *k, const char *alg, char **ret)
{
	_cleanup_free_ char *all = NULL;
	int r;

	r = pt_jwk_public_json(k->sign, alg, &all);
	if (r < 0)
		return r;
	for (size_t i = 0; i < k->n_retired; i++) {
		_cleanup_free_ char *jwk = NULL;
		char *joined;

		r = pt_jwk_public_json(k->retired[i].pub, alg, &jwk);
		if (r < 0)
			return r;
		if (asprintf(&joined, "%s,%s", all, jwk) < 0)
			return -ENOMEM;
		free(all);
		all = joined;
	}
	if (asprintf(ret, "{\"keys\":[%s]}", all) < 0)
		return -ENOMEM;
	return 0;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Loads DIR/retired.keys (absent: none); drops keys expired at now. */
static int load_retired(const char *dir, const uint8_t storekey[PT_STORE_KEYLEN], struct pt_keys *k,
			uint64_t now, char *err, size_t errlen)
{
	char path[4096];
	uint8_t *blob = NULL, *plain = NULL;
	size_t bloblen = 0, plainlen = 0;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/" RETIREDFILE, dir) >= sizeof(path))
		return -ENAMETOOLONG;
	r = pt_read_file(path, 4096, &blob, &bloblen);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	r = pt_aead_open(storekey, RETIREDFILE, strlen(RETIREDFILE), blob, bloblen, &plain,
			 &plainlen);
	free(blob);
	if (r < 0 || plainlen % RETIRED_REC || plainlen / RETIRED_REC > RETIRED_MAX) {
		snprintf(err, errlen, "%s does not decrypt under the store key (corrupted)", path);
		r = -EBADMSG;
		goto out;
	}
	k->retired = calloc(plainlen / RETIRED_REC + 1, sizeof(*k->retired));
	if (!k->retired) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t o = 0; o < plainlen; o += RETIRED_REC) {
		struct pt_retired_key *rk = &k->retired[k->n_retired];
		uint64_t until = get_u64(plain + o);

		if (until <= now)
			continue;
		rk->pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, plain + o + 8, 32);
		if (!rk->pub || pt_jwk_thumbprint(rk->pub, &rk->kid) < 0) {
			EVP_PKEY_free(rk->pub);
			rk->pub = NULL;
			snprintf(err, errlen, "%s: a retired key does not load", path);
			r = -EBADMSG;
			goto out;
		}
		rk->until = until;
		k->n_retired++;
	}
	r = 0;
out:
	free(plain);
	return r;
}

void pt_keys_prune(struct pt_keys *k, const char *alg, uint64_t now)
{
	size_t j = 0;
	char *jwks = NULL;

	if (!k)
		return;
	for (size_t i = 0; i < k->n_retired; i++) {
		if (k->retired[i].until > now) {
			k->retired[j++] = k->retired[i];
			continue;
		}
		EVP_PKEY_free(k->retired[i].pub);
		free(k->retired[i].kid);
	}
	if (j == k->n_retired)
		return;
	k->n_retired = j;
	if (jwks_json(k, alg, &jwks) == 0) {
		free(k->jwks);
		k->jwks = jwks;
	}
}

int pt_keys_write_retired(const char *dir, const uint8_t storekey[PT_STORE_KEYLEN],
			  const struct pt_keys *k, uint64_t now, uint64_t keep)
{
	uint8_t plain[RETIRED_REC * (RETIRED_MAX + 1)], *blob = NULL;
	size_t n = 0, bloblen = 0, publen;
	char path[4096];
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/" RETIREDFILE, dir) >= sizeof(path))
		return -ENAMETOOLONG;
	/* newest first: when the list is full the oldest fall off */
	publen = 32;
	put_u64(plain, now + keep);
	if (EVP_PKEY_get_raw_public_key(k->sign, plain + 8, &publen) != 1 || publen != 32)
		return -EIO;
	n = 1;
	for (size_t i = 0; i < k->n_retired && n < RETIRED_MAX; i++) {
		if (k->retired[i].until <= now)
			continue;
		publen = 32;
		put_u64(plain + n * RETIRED_REC, k->retired[i].until);
		if (EVP_PKEY_get_raw_public_key(k->retired[i].pub, plain + n * RETIRED_REC + 8,
						&publen) != 1 ||
		    publen != 32)
			return -EIO;
		n++;
	}
	r = pt_aead_seal(storekey, RETIREDFILE, strlen(RETIREDFILE), plain, n * RETIRED_REC, &blob,
			 &bloblen);
	if (r < 0)
		return r;
	r = pt_atomic_write(path, blob, bloblen, 0600);
	free(blob);
	return r;
}

int pt_keys_verify(const struct pt_keys *k, const char *jws, const char *typ, uint64_t now,
		   void **ret_claims, char **ret_kid)
{
	char *kid = NULL;
	const char *want = k->kid;
	int r;

	r = pt_jws_verify(k->sign, jws, typ, ret_claims, &kid);
	for (size_t i = 0; r == -EKEYREJECTED && i < k->n_retired; i++) {
		if (k->retired[i].until <= now)
			continue;
		r = pt_jws_verify(k->retired[i].pub, jws, typ, ret_claims, &kid);
		want = k->retired[i].kid;
	}
	if (r < 0)
		return r;
	if (kid && strcmp(kid, want) != 0) {
		json_object_put(*ret_claims);
		*ret_claims = NULL;
		free(kid);
		return -EKEYREJECTED;
	}
	*ret_kid = kid;
	return 0;
}

int pt_keys_load_or_create(const char *state_dir, const uint8_t storekey[PT_STORE_KEYLEN],
			   const char *alg, struct pt_keys **ret, int *ret_created, char *err,
			   size_t errlen)
{
	char path[4096];
	uint8_t raw[ED25519_LEN];
	uint8_t *blob = NULL, *plain = NULL;
	size_t bloblen = 0, plainlen = 0, rawlen = sizeof(raw);
	struct pt_keys *k = NULL;
	struct stat st;
	int created = 0;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/" KEYFILE, state_dir) >= sizeof(path)) {
		snprintf(err, errlen, "state directory path too long");
		return -ENAMETOOLONG;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;

	r = pt_read_file(path, 4096, &blob, &bloblen);
	if (r == -ENOENT) {
		/* first start: make a key and store it before using it */
		EVP_PKEY *gen = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		if (!gen || EVP_PKEY_get_raw_private_key(gen, raw, &rawlen) != 1 ||
		    rawlen != ED25519_LEN) {
			EVP_PKEY_free(gen);
			snprintf(err, errlen, "cannot generate an Ed25519 key");
			r = -EIO;
			goto out;
		}
		EVP_PKEY_free(gen);
		r = pt_aead_seal(storekey, KEYFILE, strlen(KEYFILE), raw, sizeof(raw), &blob,
				 &bloblen);
		if (r < 0) {
			snprintf(err, errlen, "cannot encrypt the signing key: %s", strerror(-r));
			goto out;
		}
		r = pt_atomic_write(path, blob, bloblen, 0600);
		if (r < 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
			goto out;
		}
		created = 1;
	} else if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		goto out;
	} else {
		r = pt_aead_open(storekey, KEYFILE, strlen(KEYFILE), blob, bloblen, &plain,
				 &plainlen);
		if (r < 0 || plainlen != ED25519_LEN) {
			snprintf(err, errlen,
				 "%s does not decrypt under the store key (corrupted, or from "
				 "another host); it was left untouched",
				 path);
			r = -EBADMSG;
			goto out;
		}
		memcpy(raw, plain, ED25519_LEN);
	}

	k->sign = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, ED25519_LEN);
	if (!k->sign) {
		snprintf(err, errlen, "cannot load the signing key");
		r = -EIO;
		goto out;
	}
	r = load_retired(state_dir, storekey, k, (uint64_t)time(NULL), err, errlen);
	if (r < 0)
		goto out;
	r = pt_jwk_thumbprint(k->sign, &k->kid);
	if (r >= 0)
		r = public_pem(k->sign, &k->pem);
	if (r >= 0)
		r = jwks_json(k, alg, &k->jwks);
	if (r < 0) {
		snprintf(err, errlen, "cannot export the public key: %s", strerror(-r));
		goto out;
	}
	k->created = stat(path, &st) == 0 ? (uint64_t)st.st_mtime : 0;
	*ret = k;
	k = NULL;
	if (ret_created)
		*ret_created = created;
	r = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	if (plain) {
		OPENSSL_cleanse(plain, plainlen);
		free(plain);
	}
	free(blob);
	pt_keys_free(k);
	return r;
}
