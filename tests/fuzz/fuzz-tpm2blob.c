/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the sealed store-key blob as tokend reads it from
 * STATE_DIR/storekey.sealed: the common header ("pertok-sealed-v1",
 * "backend=NAME") and, for backend tpm2, the TSS2-marshalled payload
 * (SRK handle and name, PCR values, TPM2B_PUBLIC, TPM2B_PRIVATE). Parsing
 * must never read out of bounds, and a header that parses must name a
 * backend of at most 32 characters and leave the offset inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[33];
	size_t off = 0;

	if (pt_seal_parse_header(data, size, name, &off) == 0) {
		if (off > size || strlen(name) == 0 || strlen(name) > 32)
			abort();
		if (strcmp(name, "tpm2") == 0)
			(void)pt_tpm2_payload_check(data + off, size - off);
	}
	/* the payload alone, as if the header had been stripped */
	(void)pt_tpm2_payload_check(data, size);
	return 0;
}
