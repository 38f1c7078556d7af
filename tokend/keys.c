/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "jws.h"
#include "keys.h"
#include "util.h"

#define KEYFILE "signing.key"
#define ED25519_LEN 32

void pt_keys_free(struct pt_keys *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->sign);
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

static int jwks_json(EVP_PKEY *key, const char *alg, char **ret)
{
	_cleanup_free_ char *jwk = NULL;
	int r;

	r = pt_jwk_public_json(key, alg, &jwk);
	if (r < 0)
		return r;
	if (asprintf(ret, "{\"keys\":[%s]}", jwk) < 0)
		return -ENOMEM;
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
	r = pt_jwk_thumbprint(k->sign, &k->kid);
	if (r >= 0)
		r = public_pem(k->sign, &k->pem);
	if (r >= 0)
		r = jwks_json(k->sign, alg, &k->jwks);
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
