/* SPDX-License-Identifier: MIT */
/* SSH signatures verified with OpenSSL, see sshsig.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "sshsig.h"
#include "util.h"

#define MAGIC "SSHSIG"
#define MAGIC_LEN 6
#define BEGIN "-----BEGIN SSH SIGNATURE-----"
#define END "-----END SSH SIGNATURE-----"
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

/* ------------------------------------------------------ the SSH wire form */

struct rd {
	const uint8_t *p;
	size_t len, off;
};

static bool get_u32(struct rd *r, uint32_t *ret)
{
	if (r->len - r->off < 4)
		return false;
	*ret = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
	       (uint32_t)r->p[r->off + 2] << 8 | r->p[r->off + 3];
	r->off += 4;
	return true;
}

/* string: u32 length + bytes (at most max) */
static bool get_str(struct rd *r, size_t max, const uint8_t **ret, size_t *ret_len)
{
	struct rd save = *r;
	uint32_t n;

	if (!get_u32(r, &n) || n > max || r->len - r->off < n) {
		*r = save;
		return false;
	}
	*ret = r->p + r->off;
	*ret_len = n;
	r->off += n;
	return true;
}

static bool str_is(const uint8_t *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* An mpint that is positive and minimal (RFC 4251 section 5): its
 * magnitude, without the leading zero that a set top bit needs. */
static bool get_mpint(struct rd *r, size_t max, const uint8_t **ret, size_t *ret_len)
{
	const uint8_t *p;
	size_t n;

	if (!get_str(r, max + 1, &p, &n) || n == 0 || (p[0] & 0x80))
		return false;
	if (p[0] == 0) {
		if (n == 1 || !(p[1] & 0x80))
			return false; /* zero, or a needless leading zero */
		p++;
		n--;
	}
	if (n > max)
		return false;
	*ret = p;
	*ret_len = n;
	return true;
}

/* -------------------------------------------------------------- the keys */

/* The bits of a big-endian magnitude whose first byte is not 0 (a
 * 256-byte modulus starting 0x01 has 2041 bits, not 2048). */
static size_t mag_bits(const uint8_t *p, size_t n)
{
	size_t bits = n * 8;

	for (uint8_t top = p[0]; bits && !(top & 0x80); top = (uint8_t)(top << 1))
		bits--;
	return bits;
}

const char *pt_sshkey_type_name(enum pt_sshkey_type t)
{
	switch (t) {
	case PT_SSHKEY_ED25519:
		return "ssh-ed25519";
	case PT_SSHKEY_ECDSA_P256:
		return "ecdsa-sha2-nistp256";
	case PT_SSHKEY_RSA:
		return "ssh-rsa";
	}
	return "unknown";
}

static EVP_PKEY *from_params(const char *alg, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = bld ? OSSL_PARAM_BLD_to_param(bld) : NULL;
	EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, alg, NULL) : NULL;
	EVP_PKEY *pkey = NULL;

	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

/* The key in blob as an EVP_PKEY (ret may be NULL: only the check). */
static int key_parse(const uint8_t *blob, size_t len, enum pt_sshkey_type *ret_type, EVP_PKEY **ret,
		     char *err, size_t errlen)
{
	struct rd r = { blob, len, 0 };
	const uint8_t *type, *a, *b;
	size_t type_len, alen, blen;
	enum pt_sshkey_type t;
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *n = NULL, *e = NULL;
	int rc = -ENOMEM;

	if (len > PT_SSHKEY_MAX_BLOB)
		return pt_errf(err, errlen, -EBADMSG, "public key blob of %zu bytes (at most %d)",
			       len, PT_SSHKEY_MAX_BLOB);
	if (!get_str(&r, 64, &type, &type_len))
		return pt_errf(err, errlen, -EBADMSG, "public key: no key type");
	if (str_is(type, type_len, "ssh-ed25519")) {
		t = PT_SSHKEY_ED25519;
		if (!get_str(&r, 32, &a, &alen) || alen != 32)
			return pt_errf(err, errlen, -EBADMSG, "ssh-ed25519 key: not 32 bytes");
	} else if (str_is(type, type_len, "ecdsa-sha2-nistp256")) {
		t = PT_SSHKEY_ECDSA_P256;
		if (!get_str(&r, 16, &b, &blen) || !str_is(b, blen, "nistp256"))
			return pt_errf(err, errlen, -EBADMSG,
				       "ecdsa-sha2-nistp256 key: curve is not nistp256");
		if (!get_str(&r, 65, &a, &alen) || alen != 65 || a[0] != 0x04)
			return pt_errf(
				err, errlen, -EBADMSG,
				"ecdsa-sha2-nistp256 key: not an uncompressed point (65 bytes)");
	} else if (str_is(type, type_len, "ssh-rsa")) {
		t = PT_SSHKEY_RSA;
		if (!get_mpint(&r, 8, &b, &blen) || !(b[blen - 1] & 1) || (blen == 1 && b[0] < 3))
			return pt_errf(err, errlen, -EBADMSG, "ssh-rsa key: bad public exponent");
		if (!get_mpint(&r, RSA_MAX_BITS / 8, &a, &alen) || mag_bits(a, alen) < RSA_MIN_BITS)
			return pt_errf(err, errlen, -EBADMSG,
				       "ssh-rsa key: modulus not %d to %d bits", RSA_MIN_BITS,
				       RSA_MAX_BITS);
		if (!(a[alen - 1] & 1))
			return pt_errf(err, errlen, -EBADMSG, "ssh-rsa key: even modulus");
	} else
		return pt_errf(err, errlen, -EBADMSG, "unsupported key type \"%.*s\"",
			       (int)type_len, type);
	if (r.off != r.len)
		return pt_errf(err, errlen, -EBADMSG, "%s key: %zu bytes after the key",
			       pt_sshkey_type_name(t), r.len - r.off);
	if (!ret) {
		*ret_type = t;
		return 0;
	}
	switch (t) {
	case PT_SSHKEY_ED25519:
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, alen);
		break;
	case PT_SSHKEY_ECDSA_P256:
		bld = OSSL_PARAM_BLD_new();
		if (bld &&
		    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1",
						    0) == 1 &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, a, alen) == 1)
			pkey = from_params("EC", bld);
		break;
	case PT_SSHKEY_RSA:
		bld = OSSL_PARAM_BLD_new();
		n = BN_bin2bn(a, (int)alen, NULL);
		e = BN_bin2bn(b, (int)blen, NULL);
		if (bld && n && e && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
			pkey = from_params("RSA", bld);
		break;
	}
	if (!pkey) {
		/* a point off the curve, and the like: the key, not memory */
		rc = pt_errf(err, errlen, -EBADMSG, "%s key: OpenSSL refuses it",
			     pt_sshkey_type_name(t));
		goto out;
	}
	*ret_type = t;
	*ret = pkey;
	rc = 0;
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}

int pt_sshkey_check(const uint8_t *blob, size_t len, enum pt_sshkey_type *ret_type, char *err,
		    size_t errlen)
{
	enum pt_sshkey_type t;
	EVP_PKEY *pkey = NULL;
	int r;

	if (!blob || !ret_type)
		return -EINVAL;
	/* the whole key, OpenSSL's checks included (a point on the curve) */
	r = key_parse(blob, len, &t, &pkey, err, errlen);
	if (r < 0)
		return r;
	EVP_PKEY_free(pkey);
	*ret_type = t;
	return 0;
}

/* -------------------------------------------------------------- the armor */

/* The base64 between the armor lines, without its line breaks. */
static int unarmor(const char *s, size_t len, char **ret, size_t *ret_len, char *err, size_t errlen)
{
	size_t bl = strlen(BEGIN), el = strlen(END), n = 0, i;
	const char *end;
	char *b64;

	if (len > PT_SSHSIG_MAX_ARMOR)
		return pt_errf(err, errlen, -EBADMSG, "signature of %zu bytes (at most %d)", len,
			       PT_SSHSIG_MAX_ARMOR);
	if (memchr(s, '\0', len))
		return pt_errf(err, errlen, -EBADMSG, "signature holds a NUL byte");
	if (len < bl + 1 || memcmp(s, BEGIN, bl) != 0 || s[bl] != '\n')
		return pt_errf(err, errlen, -EBADMSG,
			       "signature does not start with \"" BEGIN "\"");
	/* the end line, then at most one newline */
	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len < bl + 1 + el || memcmp(s + len - el, END, el) != 0 || s[len - el - 1] != '\n')
		return pt_errf(err, errlen, -EBADMSG, "signature does not end with \"" END "\"");
	end = s + len - el;
	b64 = malloc(len + 1);
	if (!b64)
		return -ENOMEM;
	for (i = bl + 1; s + i < end; i++) {
		char c = s[i];

		if (c == '\n')
			continue;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || c == '=')) {
			free(b64);
			return pt_errf(err, errlen, -EBADMSG,
				       "signature: byte 0x%02x is not base64", (unsigned char)c);
		}
		b64[n++] = c;
	}
	b64[n] = '\0';
	*ret = b64;
	*ret_len = n;
	return 0;
}

/* ------------------------------------------------------------- the blob */

void pt_sshsig_free(struct pt_sshsig *s)
{
	if (!s)
		return;
	free(s->pubkey);
	free(s->sig);
	free(s);
}

static int blob_parse(const uint8_t *blob, size_t len, struct pt_sshsig *s, char *err,
		      size_t errlen)
{
	struct rd r = { blob, len, 0 };
	const uint8_t *pk, *ns, *res, *hash, *sig;
	size_t pk_len, ns_len, res_len, hash_len, sig_len;
	uint32_t version;
	int rc;

	if (len < MAGIC_LEN || memcmp(blob, MAGIC, MAGIC_LEN) != 0)
		return pt_errf(err, errlen, -EBADMSG,
			       "signature blob does not start with \"SSHSIG\"");
	r.off = MAGIC_LEN;
	if (!get_u32(&r, &version))
		return pt_errf(err, errlen, -EBADMSG, "signature blob: no version");
	if (version != 1)
		return pt_errf(err, errlen, -EBADMSG,
			       "signature blob: version %u (only 1 is known)", version);
	if (!get_str(&r, PT_SSHKEY_MAX_BLOB, &pk, &pk_len))
		return pt_errf(err, errlen, -EBADMSG, "signature blob: bad public key string");
	if (!get_str(&r, sizeof(s->ns) - 1, &ns, &ns_len) || ns_len == 0 ||
	    memchr(ns, '\0', ns_len))
		return pt_errf(err, errlen, -EBADMSG,
			       "signature blob: bad namespace (1 to %zu bytes, no NUL)",
			       sizeof(s->ns) - 1);
	if (!get_str(&r, 0, &res, &res_len))
		return pt_errf(err, errlen, -EBADMSG,
			       "signature blob: the reserved string is not empty");
	if (!get_str(&r, 16, &hash, &hash_len) ||
	    !(str_is(hash, hash_len, "sha256") || str_is(hash, hash_len, "sha512")))
		return pt_errf(err, errlen, -EBADMSG,
			       "signature blob: hash algorithm is not sha256 or sha512");
	if (!get_str(&r, PT_SSHKEY_MAX_BLOB, &sig, &sig_len))
		return pt_errf(err, errlen, -EBADMSG, "signature blob: bad signature string");
	if (r.off != r.len)
		return pt_errf(err, errlen, -EBADMSG,
			       "signature blob: %zu bytes after the signature", r.len - r.off);
	rc = key_parse(pk, pk_len, &s->key_type, NULL, err, errlen);
	if (rc < 0)
		return rc;
	memcpy(s->ns, ns, ns_len);
	s->ns[ns_len] = '\0';
	memcpy(s->hash_alg, hash, hash_len);
	s->hash_alg[hash_len] = '\0';
	s->pubkey = malloc(pk_len);
	s->sig = malloc(sig_len ? sig_len : 1);
	if (!s->pubkey || !s->sig)
		return -ENOMEM;
	memcpy(s->pubkey, pk, pk_len);
	s->pubkey_len = pk_len;
	memcpy(s->sig, sig, sig_len);
	s->sig_len = sig_len;
	return 0;
}

int pt_sshsig_parse(const char *armor, size_t len, struct pt_sshsig **ret, char *err, size_t errlen)
{
	struct pt_sshsig *s = NULL;
	char *b64 = NULL;
	uint8_t *blob = NULL;
	size_t b64_len = 0, blob_len = 0;
	int r;

	if (!armor || !ret)
		return -EINVAL;
	r = unarmor(armor, len, &b64, &b64_len, err, errlen);
	if (r < 0)
		return r;
	r = pt_b64_decode(b64, b64_len, &blob, &blob_len);
	free(b64);
	if (r == -EINVAL)
		return pt_errf(err, errlen, -EBADMSG, "signature: malformed base64");
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		free(blob);
		return -ENOMEM;
	}
	r = blob_parse(blob, blob_len, s, err, errlen);
	free(blob);
	if (r < 0) {
		pt_sshsig_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* ---------------------------------------------------------- verification */

static int put_str(uint8_t **p, const void *s, size_t n)
{
	(*p)[0] = (uint8_t)(n >> 24);
	(*p)[1] = (uint8_t)(n >> 16);
	(*p)[2] = (uint8_t)(n >> 8);
	(*p)[3] = (uint8_t)n;
	memcpy(*p + 4, s, n);
	*p += 4 + n;
	return 0;
}

/* ECDSA's r and s (two mpints) as the DER OpenSSL verifies. */
static int ecdsa_der(const uint8_t *p, size_t n, uint8_t **ret, size_t *ret_len)
{
	struct rd r = { p, n, 0 };
	const uint8_t *rb, *sb;
	size_t rl, sl;
	ECDSA_SIG *sig = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	uint8_t *der = NULL;
	int len, rc = -EBADMSG;

	if (!get_mpint(&r, 32, &rb, &rl) || !get_mpint(&r, 32, &sb, &sl) || r.off != r.len)
		return -EBADMSG;
	rc = -ENOMEM;
	sig = ECDSA_SIG_new();
	br = BN_bin2bn(rb, (int)rl, NULL);
	bs = BN_bin2bn(sb, (int)sl, NULL);
	if (!sig || !br || !bs || ECDSA_SIG_set0(sig, br, bs) != 1)
		goto out;
	br = bs = NULL; /* sig's now */
	len = i2d_ECDSA_SIG(sig, &der);
	if (len <= 0)
		goto out;
	*ret = der;
	*ret_len = (size_t)len;
	rc = 0;
out:
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(sig);
	return rc;
}

int pt_sshsig_verify(const struct pt_sshsig *s, const char *ns, const void *msg, size_t msglen,
		     char *err, size_t errlen)
{
	const EVP_MD *hmd, *md = NULL;
	uint8_t h[EVP_MAX_MD_SIZE], *signed_data = NULL, *p, *der = NULL;
	unsigned int hlen = 0;
	struct rd r;
	const uint8_t *stype, *sdata, *vsig;
	size_t stype_len, sdata_len, vsig_len, n;
	enum pt_sshkey_type t;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	int rc;

	if (!s || !ns || (!msg && msglen))
		return -EINVAL;
	if (strcmp(s->ns, ns) != 0)
		return pt_errf(err, errlen, -EBADMSG, "signature namespace is \"%s\", not \"%s\"",
			       s->ns, ns);
	r = (struct rd){ s->sig, s->sig_len, 0 };
	if (!get_str(&r, 64, &stype, &stype_len) ||
	    !get_str(&r, PT_SSHKEY_MAX_BLOB, &sdata, &sdata_len) || r.off != r.len)
		return pt_errf(err, errlen, -EBADMSG, "malformed signature (type, data)");
	switch (s->key_type) {
	case PT_SSHKEY_ED25519:
		if (!str_is(stype, stype_len, "ssh-ed25519") || sdata_len != 64)
			return pt_errf(err, errlen, -EBADMSG,
				       "not an ssh-ed25519 signature of 64 bytes");
		break;
	case PT_SSHKEY_ECDSA_P256:
		if (!str_is(stype, stype_len, "ecdsa-sha2-nistp256"))
			return pt_errf(err, errlen, -EBADMSG,
				       "not an ecdsa-sha2-nistp256 signature");
		md = EVP_sha256();
		break;
	case PT_SSHKEY_RSA:
		if (str_is(stype, stype_len, "rsa-sha2-256"))
			md = EVP_sha256();
		else if (str_is(stype, stype_len, "rsa-sha2-512"))
			md = EVP_sha512();
		else
			return pt_errf(
				err, errlen, -EBADMSG,
				"RSA signature type \"%.*s\" (rsa-sha2-256 or rsa-sha2-512 only)",
				(int)stype_len, stype);
		break;
	}
	rc = key_parse(s->pubkey, s->pubkey_len, &t, &pkey, err, errlen);
	if (rc < 0)
		return rc;
	rc = -ENOMEM;
	hmd = strcmp(s->hash_alg, "sha512") == 0 ? EVP_sha512() : EVP_sha256();
	if (EVP_Digest(msg, msglen, h, &hlen, hmd, NULL) != 1)
		goto out;
	/* "SSHSIG" string ns string reserved string hash_alg string H(msg) */
	n = MAGIC_LEN + 4 + strlen(s->ns) + 4 + 4 + strlen(s->hash_alg) + 4 + hlen;
	signed_data = malloc(n);
	if (!signed_data)
		goto out;
	memcpy(signed_data, MAGIC, MAGIC_LEN);
	p = signed_data + MAGIC_LEN;
	put_str(&p, s->ns, strlen(s->ns));
	put_str(&p, "", 0);
	put_str(&p, s->hash_alg, strlen(s->hash_alg));
	put_str(&p, h, hlen);
	vsig = sdata;
	vsig_len = sdata_len;
	if (s->key_type == PT_SSHKEY_ECDSA_P256) {
		rc = ecdsa_der(sdata, sdata_len, &der, &vsig_len);
		if (rc == -EBADMSG)
			pt_errf(err, errlen, -EBADMSG, "malformed ECDSA signature (r, s)");
		if (rc < 0)
			goto out;
		vsig = der;
	}
	rc = -ENOMEM;
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) != 1)
		goto out;
	if (EVP_DigestVerify(ctx, vsig, vsig_len, signed_data, n) != 1) {
		rc = -EKEYREJECTED;
		pt_errf(err, errlen, -EBADMSG, "the %s signature does not verify",
			pt_sshkey_type_name(t));
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	OPENSSL_free(der);
	free(signed_data);
	OPENSSL_cleanse(h, sizeof(h));
	return rc;
}
