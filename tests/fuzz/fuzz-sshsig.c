/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the SSH signature decoder (tokend/sshsig.c): the
 * input is an armored signature as `pertok grant --signature FILE` sends
 * it. Whatever parses has a key that pt_sshkey_check accepts and the
 * namespace and hash it claims; it is then verified over a fixed message
 * (almost always a refusal, never a crash), and a failed parse returns
 * nothing and says why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sshsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char msg[] = "pertok-grant-request 1\n";
	struct pt_sshsig *s = NULL;
	enum pt_sshkey_type t;
	char err[256] = "";
	int r;

	r = pt_sshsig_parse((const char *)data, size, &s, err, sizeof(err));
	if (r != 0) {
		if (s || (r == -EBADMSG && !err[0]))
			abort(); /* failure returns nothing, and says why */
		return 0;
	}
	if (pt_sshkey_check(s->pubkey, s->pubkey_len, &t, err, sizeof(err)) == 0 &&
	    t != s->key_type)
		abort();
	if (strcmp(s->hash_alg, "sha256") != 0 && strcmp(s->hash_alg, "sha512") != 0)
		abort();
	r = pt_sshsig_verify(s, s->ns, msg, sizeof(msg) - 1, err, sizeof(err));
	if (r != 0 && r != -EBADMSG && r != -EKEYREJECTED && r != -ENOMEM)
		abort();
	/* another namespace never verifies */
	if (strcmp(s->ns, PT_SSHSIG_NAMESPACE) != 0 &&
	    pt_sshsig_verify(s, PT_SSHSIG_NAMESPACE, msg, sizeof(msg) - 1, err, sizeof(err)) !=
		    -EBADMSG)
		abort();
	pt_sshsig_free(s);
	return 0;
}
