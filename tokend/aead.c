/* SPDX-License-Identifier: MIT */
/* AES-256-GCM sealing of tokend's secrets at rest, see aead.h. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"

#define AEAD_MAGIC "PTK1"
#define AEAD_MAGIC_LEN 4
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16
#define AEAD_OVERHEAD (AEAD_MAGIC_LEN + AEAD_NONCE_LEN + AEAD_TAG_LEN)
#define AEAD_MAX (64 * 1024 * 1024)

int pt_aead_seal(const uint8_t key[PT_STORE_KEYLEN], const void *aad, size_t aadlen, const void *pt,
		 size_t ptlen, uint8_t **ret, size_t *ret_len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *out = NULL, *nonce, *ct;
	size_t outlen;
	int k, r = -EIO;

	if (!key || (!aad && aadlen) || (!pt && ptlen) || !ret || !ret_len)
		return -EINVAL;
	if (ptlen > AEAD_MAX || aadlen > AEAD_MAX)
		return -EFBIG;
	outlen = AEAD_OVERHEAD + ptlen;
	out = malloc(outlen);
	if (!out)
		return -ENOMEM;
	memcpy(out, AEAD_MAGIC, AEAD_MAGIC_LEN);
	nonce = out + AEAD_MAGIC_LEN;
	ct = nonce + AEAD_NONCE_LEN;
	if (RAND_bytes(nonce, AEAD_NONCE_LEN) != 1)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AEAD_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
		goto out;
	if (aadlen && EVP_EncryptUpdate(ctx, NULL, &k, aad, (int)aadlen) != 1)
		goto out;
	k = 0;
	if (ptlen && EVP_EncryptUpdate(ctx, ct, &k, pt, (int)ptlen) != 1)
		goto out;
	if ((size_t)k != ptlen)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, ct + ptlen, &k) != 1 || k != 0)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_LEN, ct + ptlen) != 1)
		goto out;
	*ret = out;
	*ret_len = outlen;
	out = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (out) {
		OPENSSL_cleanse(out, outlen);
		free(out);
	}
	return r;
}

int pt_aead_open(const uint8_t key[PT_STORE_KEYLEN], const void *aad, size_t aadlen,
		 const uint8_t *blob, size_t bloblen, uint8_t **ret, size_t *ret_len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	const uint8_t *nonce, *ct, *tag;
	uint8_t *out = NULL;
	size_t ctlen = 0;
	int k, r = -EBADMSG;

	if (!key || (!aad && aadlen) || (!blob && bloblen) || !ret || !ret_len)
		return -EINVAL;
	if (bloblen < AEAD_OVERHEAD || memcmp(blob, AEAD_MAGIC, AEAD_MAGIC_LEN) != 0)
		return -EBADMSG;
	if (bloblen - AEAD_OVERHEAD > AEAD_MAX || aadlen > AEAD_MAX)
		return -EFBIG;
	nonce = blob + AEAD_MAGIC_LEN;
	ct = nonce + AEAD_NONCE_LEN;
	ctlen = bloblen - AEAD_OVERHEAD;
	tag = ct + ctlen;
	out = malloc(ctlen + 1);
	if (!out)
		return -ENOMEM;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AEAD_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) {
		r = -EIO;
		goto out;
	}
	if (aadlen && EVP_DecryptUpdate(ctx, NULL, &k, aad, (int)aadlen) != 1)
		goto out;
	k = 0;
	if (ctlen && EVP_DecryptUpdate(ctx, out, &k, ct, (int)ctlen) != 1)
		goto out;
	if ((size_t)k != ctlen)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_LEN, (void *)tag) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, out + ctlen, &k) != 1)
		goto out; /* authentication failed */
	out[ctlen] = '\0';
	*ret = out;
	*ret_len = ctlen;
	out = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (out) {
		OPENSSL_cleanse(out, ctlen + 1);
		free(out);
	}
	return r;
}
