/* SPDX-License-Identifier: MIT */
/*
 * SSH signatures (OpenSSH's PROTOCOL.sshsig), verified natively with
 * OpenSSL's EVP API: what `ssh-keygen -Y sign -f KEY -n NAMESPACE FILE`
 * writes to FILE.sig. A user consents from another machine by signing a
 * grant request with their SSH key (grantreq.h); tokend checks the
 * signature against the user's own authorized keys (authkeys.h). No
 * ssh-keygen runs as root.
 *
 * The armored form: "-----BEGIN SSH SIGNATURE-----", base64 lines,
 * "-----END SSH SIGNATURE-----". The blob inside:
 *   byte[6] "SSHSIG"  u32 version (1)  string publickey  string namespace
 *   string reserved ("")  string hash_algorithm ("sha256" / "sha512")
 *   string signature
 * and what is signed: "SSHSIG" string namespace string reserved
 * string hash_algorithm string H(message).
 * Key types: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa (2048 to 16384 bits;
 * signatures rsa-sha2-256 / rsa-sha2-512 only, never SHA-1's ssh-rsa).
 *
 * The parsers are strict (fuzz targets "sshsig" and, for the key blob
 * inside authorized_keys, "authkeys"): they reject malformed input with a
 * precise message in err.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PT_SSHSIG_MAX_ARMOR 16384 /* bytes of an armored signature */
#define PT_SSHKEY_MAX_BLOB 4096	  /* bytes of a public key blob (RSA 16384: ~2 KiB) */
#define PT_SSHSIG_NAMESPACE "pertok-grant"

enum pt_sshkey_type {
	PT_SSHKEY_ED25519 = 1,
	PT_SSHKEY_ECDSA_P256 = 2,
	PT_SSHKEY_RSA = 3,
};

struct pt_sshsig {
	uint8_t *pubkey; /* the public key blob, as authorized_keys has it (base64) */
	size_t pubkey_len;
	enum pt_sshkey_type key_type;
	char ns[65];	  /* the namespace */
	char hash_alg[7]; /* "sha256" or "sha512" */
	uint8_t *sig;	  /* the signature blob: string type, string data */
	size_t sig_len;
};

/* The key type of a public key blob (checks its whole form: lengths, the
 * curve, the point's encoding, RSA's size). 0 or -EBADMSG (err says why). */
int pt_sshkey_check(const uint8_t *blob, size_t len, enum pt_sshkey_type *ret_type, char *err,
		    size_t errlen);
/* "ssh-ed25519", ... */
const char *pt_sshkey_type_name(enum pt_sshkey_type t);

/* Parses an armored signature. *ret untouched on failure: -EBADMSG (err
 * says what is wrong), -ENOMEM. */
int pt_sshsig_parse(const char *armor, size_t len, struct pt_sshsig **ret, char *err,
		    size_t errlen);
void pt_sshsig_free(struct pt_sshsig *s);

/* Verifies s over msg[0..msglen): its namespace must be ns exactly, its
 * signature one by its public key. 0; -EBADMSG (the namespace, a malformed
 * signature blob; err says which); -EKEYREJECTED (the signature does not
 * verify); -ENOMEM. */
int pt_sshsig_verify(const struct pt_sshsig *s, const char *ns, const void *msg, size_t msglen,
		     char *err, size_t errlen);
