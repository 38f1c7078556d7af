/* SPDX-License-Identifier: MIT */
/*
 * The sealing interface: how the store key is protected at rest.
 * A backend turns a 32-byte store key into an opaque blob and back.
 * Backends: "software" (key file, loudly logged as weak); "tpm2" arrives
 * with the TPM issue. The blob file is STATE_DIR/storekey.sealed and starts
 * with the backend's name, so a blob is never opened by the wrong backend.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aead.h"

/* Backend settings from the config's seal { } group. */
struct pt_seal_opts {
	char tcti[256];	     /* "" = "device:/dev/tpmrm0" */
	uint32_t srk_handle; /* 0 = 0x81000001 */
	bool persist_srk;    /* create and persist the SRK when absent */
	uint32_t pcr_mask;   /* bit n = bind to SHA-256 PCR n; 0 = no PCR policy */
};

#define PT_SEAL_DEFAULT_TCTI "device:/dev/tpmrm0"
#define PT_SEAL_DEFAULT_SRK 0x81000001u

struct pt_sealer {
	const char *name;
	const char *strength;	  /* one line for logs and status */
	struct pt_seal_opts opts; /* filled by pt_sealer_new() */
	char info[512];		  /* "key=value\n" lines for status (TPM vendor, SRK, PCRs) */
	char notice[256];	  /* something tokend must log at start ("" = nothing) */
	int (*seal)(const struct pt_sealer *s, const uint8_t key[PT_STORE_KEYLEN],
		    uint8_t **ret_blob, size_t *ret_len, char *err, size_t errlen);
	int (*unseal)(const struct pt_sealer *s, const uint8_t *blob, size_t len,
		      uint8_t ret_key[PT_STORE_KEYLEN], char *err, size_t errlen);
};

/* NULL for an unknown backend name ("auto" is not a backend: see pt_sealer_new). */
const struct pt_sealer *pt_sealer_get(const char *name);

/* A configured backend. name "auto": the backend that sealed an existing
 * STATE_DIR/storekey.sealed, else "tpm2" when a TPM answers at o->tcti, else
 * "software" (*ret_auto_software set: the caller must warn). "tpm2" probes
 * the TPM and fails with a precise error when none answers. */
int pt_sealer_new(const char *name, const struct pt_seal_opts *o, const char *state_dir,
		  struct pt_sealer **ret, bool *ret_auto_software, char *err, size_t errlen);
void pt_sealer_free(struct pt_sealer *s);

/* Seals key again with the sealer's current settings (and, for tpm2, the
 * current PCR values) and atomically replaces STATE_DIR/storekey.sealed.
 * The old blob stays in place on any error. */
int pt_seal_store(const struct pt_sealer *s, const char *state_dir,
		  const uint8_t key[PT_STORE_KEYLEN], char *err, size_t errlen);

/* Blob header helpers shared by the backends (seal.c). */
int pt_seal_header(const char *backend, const uint8_t *payload, size_t plen, uint8_t **ret,
		   size_t *ret_len);
int pt_seal_parse_header(const uint8_t *blob, size_t len, char name[33], size_t *ret_off);

/* The tpm2 backend (seal-tpm2.c). */
extern const struct pt_sealer pt_tpm2_sealer;
/* Probes the TPM at o->tcti: 0 when it answers (info filled with
 * "tpm_manufacturer=...\n..." lines), or -errno with err saying why. */
int pt_tpm2_probe(const struct pt_seal_opts *o, char *info, size_t infolen, char *notice,
		  size_t noticelen, char *err, size_t errlen);
/* "sealed_srk_handle=0x...\npcr_binding=7,8|none\n" for a whole tpm2 blob
 * (status). 0 or -EBADMSG. */
int pt_tpm2_blob_describe(const uint8_t *blob, size_t len, char *buf, size_t buflen);
/* The same for STATE_DIR/storekey.sealed; "" for a non-tpm2 blob. */
int pt_seal_describe(const char *dir, char *buf, size_t buflen);
/* Parses the tpm2 payload (after the header); exposed for the fuzzer.
 * 0 or -EBADMSG. */
int pt_tpm2_payload_check(const uint8_t *p, size_t len);

/* Loads STATE_DIR/storekey.sealed and unseals it, or (first start) creates a
 * random key and seals it. *ret_created tells which. On error err says why
 * (never falls back to another backend). */
int pt_seal_load_or_create(const struct pt_sealer *s, const char *state_dir,
			   uint8_t ret_key[PT_STORE_KEYLEN], int *ret_created, char *err,
			   size_t errlen);
