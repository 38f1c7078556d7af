/* SPDX-License-Identifier: MIT */
/*
 * The "tpm2" sealing backend (TPM2-TSS ESYS + tctildr), see seal.h.
 *
 * The 32-byte store key is the sensitive part of a KEYEDHASH object created
 * under the storage root key (SRK): the persistent key at 0x81000001 when
 * the TPM has one (TCG provisioning guidance), else an ECC P-256 SRK from
 * the TCG template, created and persisted once (persist_srk = false: a
 * transient primary per operation, said in the log). The object carries
 * fixedTPM|fixedParent|noDA: it never leaves this TPM, and a power cut during
 * an unseal cannot count toward a dictionary-attack lockout. With a PCR list
 * its authPolicy is PolicyPCR over the SHA-256 bank; otherwise userWithAuth
 * with an empty auth value. Sessions are salted with the SRK and encrypt the
 * key on the bus (Create: decrypt attribute, Unseal: encrypt attribute).
 *
 * Payload after the common header (TSS2 MU marshalling, big-endian):
 *   u32 version (1) | u32 srk_handle | TPM2B_NAME srk_name | u32 pcr_mask |
 *   TPM2B_DIGEST x popcount(pcr_mask) (values at sealing, ascending) |
 *   TPM2B_PUBLIC | TPM2B_PRIVATE
 * The SRK name and PCR values are not secret; they turn the TPM's generic
 * refusals into precise errors (another host, which PCR changed).
 *
 * Every Esys_* result goes through esys_fail() once, which decodes it with
 * Tss2_RC_Decode; TPM outputs holding the key are wiped before Esys_Free.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "seal.h"
#include "aead.h"
#include "util.h"

#define PAYLOAD_VERSION 1u
#define MAX_PCR 24u

struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR srk;
	bool srk_transient;
	const char *tcti_conf;
};

struct payload {
	uint32_t srk_handle;
	TPM2B_NAME srk_name;
	uint32_t pcr_mask;
	TPM2B_DIGEST pcr[MAX_PCR];
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
};

static const TPMT_SYM_DEF session_sym = {
	.algorithm = TPM2_ALG_AES,
	.keyBits.aes = 128,
	.mode.aes = TPM2_ALG_CFB,
};

/* ------------------------------------------------------------------ errors */

/* The TPM response code without the handle/session/parameter number. */
static TSS2_RC rc_base(TSS2_RC rc)
{
	if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
		return rc;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3f);
	return rc;
}

/* The one place an Esys_* failure becomes text (and an errno). */
static int esys_fail(TSS2_RC rc, const char *call, char *err, size_t errlen)
{
	TSS2_RC b = rc_base(rc);

	switch (b) {
	case TPM2_RC_LOCKOUT:
		snprintf(err, errlen,
			 "%s: the TPM is in dictionary-attack lockout (%s); wait for the lockout "
			 "to expire (tpm2_getcap properties-variable shows "
			 "TPM2_PT_LOCKOUT_COUNTER/INTERVAL) or clear it with the lockout "
			 "authorization: tpm2_dictionarylockout --clear-lockout",
			 call, Tss2_RC_Decode(rc));
		return -EBUSY;
	case TPM2_RC_INTEGRITY:
	case TPM2_RC_SIZE:
	case TPM2_RC_INSUFFICIENT:
	case TPM2_RC_BINDING:
		snprintf(err, errlen,
			 "%s: the sealed blob is corrupted (the TPM's integrity check failed: %s); "
			 "it was left untouched",
			 call, Tss2_RC_Decode(rc));
		return -EBADMSG;
	case TPM2_RC_BAD_AUTH:
	case TPM2_RC_AUTH_FAIL:
		snprintf(err, errlen,
			 "%s: authorization refused (%s); pertok needs an empty owner-hierarchy "
			 "authorization to create the SRK, or an SRK provisioned at the configured "
			 "handle",
			 call, Tss2_RC_Decode(rc));
		return -EACCES;
	default:
		break;
	}
	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER ||
	    (rc & ~TSS2_RC_LAYER_MASK) == TSS2_BASE_RC_IO_ERROR ||
	    (rc & ~TSS2_RC_LAYER_MASK) == TSS2_BASE_RC_NO_CONNECTION) {
		snprintf(err, errlen, "%s: the TPM stopped answering (%s)", call,
			 Tss2_RC_Decode(rc));
		return -ENODEV;
	}
	snprintf(err, errlen, "%s failed: %s", call, Tss2_RC_Decode(rc));
	return -EIO;
}

/* ------------------------------------------------------------------ context */

static const char *const known_tctis[] = { "device", "swtpm",	"mssim",      "tabrmd",
					   "cmd",    "libtpms", "spi-helper", "spidev" };

static bool tcti_known(const char *conf)
{
	size_t n = strcspn(conf, ":");

	for (size_t i = 0; i < PT_ELEMENTSOF(known_tctis); i++)
		if (strlen(known_tctis[i]) == n && strncmp(conf, known_tctis[i], n) == 0)
			return true;
	return false;
}

static void tpm_close(struct tpm *t)
{
	if (t->esys) {
		if (t->srk_transient && t->srk != ESYS_TR_NONE)
			Esys_FlushContext(t->esys, t->srk);
		Esys_Finalize(&t->esys);
	}
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	t->srk = ESYS_TR_NONE;
	t->srk_transient = false;
}

static int tpm_open(const struct pt_seal_opts *o, struct tpm *t, char *err, size_t errlen)
{
	const char *conf = o->tcti[0] ? o->tcti : PT_SEAL_DEFAULT_TCTI;
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	int r;

	*t = (struct tpm){ .srk = ESYS_TR_NONE, .tcti_conf = conf };
	/* the TSS logs its own view of every failure to stderr; we report ours */
	setenv("TSS2_LOG", "all+NONE", 0);
	if (!tcti_known(conf)) {
		snprintf(err, errlen,
			 "wrong TCTI \"%.100s\": expected device:/dev/tpmrm0, "
			 "swtpm:host=H,port=P, mssim:... or tabrmd",
			 conf);
		return -EINVAL;
	}
	if (strncmp(conf, "device:", 7) == 0 || strcmp(conf, "device") == 0) {
		const char *dev = conf[6] == ':' && conf[7] ? conf + 7 : "/dev/tpmrm0";
		struct stat st;

		if (stat(dev, &st) < 0) {
			snprintf(err, errlen,
				 "no TPM: %s does not exist (no TPM 2.0 on this host, or its "
				 "driver is not loaded; set seal.backend = \"software\" only if "
				 "this host really has none)",
				 dev);
			return -ENODEV;
		}
	}
	rc = Tss2_TctiLdr_Initialize(conf, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		snprintf(err, errlen, "no TPM answers at TCTI \"%.100s\" (%s)", conf,
			 Tss2_RC_Decode(rc));
		t->tcti = NULL;
		return -ENODEV;
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		t->esys = NULL;
		r = esys_fail(rc, "Esys_Initialize", err, errlen);
		goto fail;
	}
	/* one cheap command: does a TPM 2.0 answer at all? */
	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1, &more, &cap);
	Esys_Free(cap);
	if (rc != TSS2_RC_SUCCESS) {
		char msg[256];

		esys_fail(rc, "Esys_GetCapability", msg, sizeof(msg));
		snprintf(err, errlen, "no TPM 2.0 answers at TCTI \"%.100s\": %s", conf, msg);
		r = -ENODEV;
		goto fail;
	}
	return 0;
fail:
	tpm_close(t);
	return r;
}

/* ------------------------------------------------------------------ SRK */

static const TPM2B_PUBLIC srk_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED |
				    TPMA_OBJECT_DECRYPT,
		.parameters.eccDetail = {
			.symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				       .mode.aes = TPM2_ALG_CFB },
			.scheme.scheme = TPM2_ALG_NULL,
			.curveID = TPM2_ECC_NIST_P256,
			.kdf.scheme = TPM2_ALG_NULL,
		},
	},
};

/* Finds the SRK at o->srk_handle; creates it when absent (persisting it when
 * allowed to). notice (may be NULL) says what was done. */
static int srk_get(struct tpm *t, const struct pt_seal_opts *o, char *notice, size_t noticelen,
		   char *err, size_t errlen)
{
	uint32_t handle = o->srk_handle ? o->srk_handle : PT_SEAL_DEFAULT_SRK;
	TPM2B_SENSITIVE_CREATE in = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION none = { 0 };
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR primary = ESYS_TR_NONE, persisted = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	rc = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   &t->srk);
	if (rc == TSS2_RC_SUCCESS) {
		TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;

		rc = Esys_ReadPublic(t->esys, t->srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				     &pub, NULL, NULL);
		if (rc != TSS2_RC_SUCCESS)
			return esys_fail(rc, "Esys_ReadPublic(SRK)", err, errlen);
		if ((pub->publicArea.objectAttributes & need) != need ||
		    (pub->publicArea.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT)) {
			Esys_Free(pub);
			snprintf(
				err, errlen,
				"handle 0x%08x holds an object that is not a storage key (restricted "
				"decrypt); set seal.srk_handle to the SRK's handle",
				handle);
			return -EINVAL;
		}
		Esys_Free(pub);
		return 0;
	}
	if (rc_base(rc) != TPM2_RC_HANDLE)
		return esys_fail(rc, "Esys_TR_FromTPMPublic(SRK)", err, errlen);
	t->srk = ESYS_TR_NONE;

	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &in, &srk_template, &outside, &none, &primary, NULL,
				NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return esys_fail(rc, "Esys_CreatePrimary(SRK)", err, errlen);
	if (!o->persist_srk) {
		t->srk = primary;
		t->srk_transient = true;
		if (notice)
			snprintf(
				notice, noticelen,
				"no SRK at 0x%08x and seal.persist_srk = false: a transient primary "
				"key is created for every TPM operation",
				handle);
		return 0;
	}
	rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, handle, &persisted);
	if (rc != TSS2_RC_SUCCESS) {
		r = esys_fail(rc, "Esys_EvictControl(SRK)", err, errlen);
		Esys_FlushContext(t->esys, primary);
		return r;
	}
	Esys_FlushContext(t->esys, primary);
	t->srk = persisted;
	if (notice)
		snprintf(notice, noticelen,
			 "created the storage root key (TCG ECC P-256 template) and persisted it "
			 "at 0x%08x",
			 handle);
	return 0;
}

/* ------------------------------------------------------------------ PCRs */

static void pcr_selection(uint32_t mask, TPML_PCR_SELECTION *sel)
{
	*sel = (TPML_PCR_SELECTION){ .count = 1 };
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (unsigned i = 0; i < MAX_PCR; i++)
		if (mask & (1u << i))
			sel->pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Reads the SHA-256 value of every PCR in mask, ascending, into vals[]. */
static int pcr_read(struct tpm *t, uint32_t mask, TPM2B_DIGEST vals[MAX_PCR], char *err,
		    size_t errlen)
{
	size_t n = 0;

	for (unsigned i = 0; i < MAX_PCR; i++) {
		TPML_PCR_SELECTION sel, *selout = NULL;
		TPML_DIGEST *d = NULL;
		uint32_t counter;
		TSS2_RC rc;

		if (!(mask & (1u << i)))
			continue;
		pcr_selection(1u << i, &sel);
		rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
				   &counter, &selout, &d);
		if (rc != TSS2_RC_SUCCESS)
			return esys_fail(rc, "Esys_PCR_Read", err, errlen);
		if (d->count != 1 || d->digests[0].size != SHA256_DIGEST_LENGTH) {
			Esys_Free(selout);
			Esys_Free(d);
			snprintf(err, errlen,
				 "PCR %u cannot be read from the SHA-256 bank (bank not active?)",
				 i);
			return -EIO;
		}
		vals[n++] = d->digests[0];
		Esys_Free(selout);
		Esys_Free(d);
	}
	return 0;
}

static void pcr_list(uint32_t mask, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < MAX_PCR && o < len; i++)
		if (mask & (1u << i))
			o += (size_t)snprintf(buf + o, len - o, "%s%u", o ? "," : "", i);
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* ------------------------------------------------------------------ payload */

static int payload_marshal(const struct payload *p, uint8_t **ret, size_t *ret_len)
{
	size_t cap = sizeof(*p) + 64, off = 0, n = 0;
	uint8_t *b = malloc(cap);
	TSS2_RC rc;

	if (!b)
		return -ENOMEM;
	rc = Tss2_MU_UINT32_Marshal(PAYLOAD_VERSION, b, cap, &off);
	if (!rc)
		rc = Tss2_MU_UINT32_Marshal(p->srk_handle, b, cap, &off);
	if (!rc)
		rc = Tss2_MU_TPM2B_NAME_Marshal(&p->srk_name, b, cap, &off);
	if (!rc)
		rc = Tss2_MU_UINT32_Marshal(p->pcr_mask, b, cap, &off);
	for (unsigned i = 0; !rc && i < MAX_PCR; i++)
		if (p->pcr_mask & (1u << i))
			rc = Tss2_MU_TPM2B_DIGEST_Marshal(&p->pcr[n++], b, cap, &off);
	if (!rc)
		rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&p->pub, b, cap, &off);
	if (!rc)
		rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&p->priv, b, cap, &off);
	if (rc) {
		free(b);
		return -EIO;
	}
	*ret = b;
	*ret_len = off;
	return 0;
}

static int payload_parse(const uint8_t *b, size_t len, struct payload *ret)
{
	struct payload p = { 0 };
	uint32_t version = 0;
	size_t off = 0, n = 0;
	TSS2_RC rc;

	rc = Tss2_MU_UINT32_Unmarshal(b, len, &off, &version);
	if (rc || version != PAYLOAD_VERSION)
		return -EBADMSG;
	rc = Tss2_MU_UINT32_Unmarshal(b, len, &off, &p.srk_handle);
	if (!rc)
		rc = Tss2_MU_TPM2B_NAME_Unmarshal(b, len, &off, &p.srk_name);
	if (!rc)
		rc = Tss2_MU_UINT32_Unmarshal(b, len, &off, &p.pcr_mask);
	if (rc || (p.pcr_mask >> MAX_PCR) != 0)
		return -EBADMSG;
	for (unsigned i = 0; !rc && i < MAX_PCR; i++)
		if (p.pcr_mask & (1u << i)) {
			rc = Tss2_MU_TPM2B_DIGEST_Unmarshal(b, len, &off, &p.pcr[n]);
			if (!rc && p.pcr[n].size != SHA256_DIGEST_LENGTH)
				return -EBADMSG;
			n++;
		}
	if (!rc)
		rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(b, len, &off, &p.pub);
	if (!rc)
		rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(b, len, &off, &p.priv);
	if (rc || off != len || p.pub.publicArea.type != TPM2_ALG_KEYEDHASH ||
	    p.srk_handle < 0x81000000u || p.srk_handle > 0x81ffffffu)
		return -EBADMSG;
	*ret = p;
	return 0;
}

int pt_tpm2_payload_check(const uint8_t *p, size_t len)
{
	struct payload *pl = malloc(sizeof(*pl));
	int r;

	if (!pl)
		return -ENOMEM;
	r = payload_parse(p, len, pl);
	free(pl);
	return r;
}

int pt_tpm2_blob_describe(const uint8_t *blob, size_t len, char *buf, size_t buflen)
{
	struct payload *pl = malloc(sizeof(*pl));
	char name[33], pcrs[96];
	size_t off;
	int r;

	if (!pl)
		return -ENOMEM;
	r = pt_seal_parse_header(blob, len, name, &off);
	if (r >= 0 && strcmp(name, "tpm2") != 0)
		r = -EBADMSG;
	if (r >= 0)
		r = payload_parse(blob + off, len - off, pl);
	if (r >= 0) {
		pcr_list(pl->pcr_mask, pcrs, sizeof(pcrs));
		snprintf(buf, buflen, "sealed_srk_handle=0x%08x\npcr_binding=%s\n", pl->srk_handle,
			 pcrs);
	}
	free(pl);
	return r;
}

/* ------------------------------------------------------------------ sessions */

/* A session salted with the SRK (policy or HMAC). */
static int session_start(struct tpm *t, TPM2_SE type, ESYS_TR *ret, char *err, size_t errlen)
{
	TSS2_RC rc;

	rc = Esys_StartAuthSession(t->esys, t->srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, type, &session_sym, TPM2_ALG_SHA256, ret);
	if (rc != TSS2_RC_SUCCESS)
		return esys_fail(rc, "Esys_StartAuthSession", err, errlen);
	return 0;
}

static int session_attrs(struct tpm *t, ESYS_TR s, TPMA_SESSION a, char *err, size_t errlen)
{
	TSS2_RC rc = Esys_TRSess_SetAttributes(t->esys, s, a, 0xff);

	return rc == TSS2_RC_SUCCESS ? 0 : esys_fail(rc, "Esys_TRSess_SetAttributes", err, errlen);
}

static void pcr_digest(const struct payload *p, TPM2B_DIGEST *ret)
{
	uint8_t cat[MAX_PCR * SHA256_DIGEST_LENGTH];
	size_t n = 0, o = 0;

	for (unsigned i = 0; i < MAX_PCR; i++)
		if (p->pcr_mask & (1u << i)) {
			memcpy(cat + o, p->pcr[n].buffer, p->pcr[n].size);
			o += p->pcr[n].size;
			n++;
		}
	ret->size = SHA256_DIGEST_LENGTH;
	SHA256(cat, o, ret->buffer);
}

/* The authPolicy of PolicyPCR(mask, values in p), computed by a trial session. */
static int policy_digest(struct tpm *t, const struct payload *p, TPM2B_DIGEST *ret, char *err,
			 size_t errlen)
{
	TPML_PCR_SELECTION sel;
	TPM2B_DIGEST pd, *out = NULL;
	ESYS_TR s = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	r = session_start(t, TPM2_SE_TRIAL, &s, err, errlen);
	if (r < 0)
		return r;
	pcr_selection(p->pcr_mask, &sel);
	pcr_digest(p, &pd);
	rc = Esys_PolicyPCR(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pd, &sel);
	if (rc != TSS2_RC_SUCCESS) {
		r = esys_fail(rc, "Esys_PolicyPCR(trial)", err, errlen);
		goto out;
	}
	rc = Esys_PolicyGetDigest(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out);
	if (rc != TSS2_RC_SUCCESS) {
		r = esys_fail(rc, "Esys_PolicyGetDigest", err, errlen);
		goto out;
	}
	*ret = *out;
	Esys_Free(out);
	r = 0;
out:
	Esys_FlushContext(t->esys, s);
	return r;
}

/* ------------------------------------------------------------------ backend */

static int srk_name(struct tpm *t, TPM2B_NAME *ret, char *err, size_t errlen)
{
	TPM2B_NAME *n = NULL;
	TSS2_RC rc = Esys_TR_GetName(t->esys, t->srk, &n);

	if (rc != TSS2_RC_SUCCESS)
		return esys_fail(rc, "Esys_TR_GetName(SRK)", err, errlen);
	*ret = *n;
	Esys_Free(n);
	return 0;
}

static int tpm2_seal(const struct pt_sealer *s, const uint8_t key[PT_STORE_KEYLEN],
		     uint8_t **ret_blob, size_t *ret_len, char *err, size_t errlen)
{
	struct payload *p = calloc(1, sizeof(*p));
	TPM2B_SENSITIVE_CREATE in = { 0 };
	TPM2B_PUBLIC tmpl = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION none = { 0 };
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR sess = ESYS_TR_NONE;
	uint8_t *pl = NULL;
	size_t pllen = 0;
	struct tpm t = { .esys = NULL };
	TSS2_RC rc;
	int r;

	if (!p)
		return -ENOMEM;
	r = tpm_open(&s->opts, &t, err, errlen);
	if (r < 0)
		goto out;
	r = srk_get(&t, &s->opts, NULL, 0, err, errlen);
	if (r < 0)
		goto out;
	p->srk_handle = s->opts.srk_handle ? s->opts.srk_handle : PT_SEAL_DEFAULT_SRK;
	r = srk_name(&t, &p->srk_name, err, errlen);
	if (r < 0)
		goto out;

	tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes =
		TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
	tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	p->pcr_mask = s->opts.pcr_mask;
	if (p->pcr_mask) {
		r = pcr_read(&t, p->pcr_mask, p->pcr, err, errlen);
		if (r >= 0)
			r = policy_digest(&t, p, &tmpl.publicArea.authPolicy, err, errlen);
		if (r < 0)
			goto out;
	} else
		tmpl.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;

	in.sensitive.data.size = PT_STORE_KEYLEN;
	memcpy(in.sensitive.data.buffer, key, PT_STORE_KEYLEN);
	r = session_start(&t, TPM2_SE_HMAC, &sess, err, errlen);
	if (r >= 0)
		r = session_attrs(&t, sess, TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION,
				  err, errlen);
	if (r < 0)
		goto out;
	rc = Esys_Create(t.esys, t.srk, sess, ESYS_TR_NONE, ESYS_TR_NONE, &in, &tmpl, &outside,
			 &none, &priv, &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		r = esys_fail(rc, "Esys_Create(sealed store key)", err, errlen);
		goto out;
	}
	p->priv = *priv;
	p->pub = *pub;
	r = payload_marshal(p, &pl, &pllen);
	if (r >= 0)
		r = pt_seal_header(s->name, pl, pllen, ret_blob, ret_len);
	if (r < 0)
		snprintf(err, errlen, "cannot build the sealed blob: %s", strerror(-r));
out:
	OPENSSL_cleanse(&in, sizeof(in));
	if (sess != ESYS_TR_NONE)
		Esys_FlushContext(t.esys, sess);
	Esys_Free(priv);
	Esys_Free(pub);
	free(pl);
	free(p);
	tpm_close(&t);
	return r;
}

static int tpm2_unseal(const struct pt_sealer *s, const uint8_t *blob, size_t len,
		       uint8_t ret_key[PT_STORE_KEYLEN], char *err, size_t errlen)
{
	uint32_t want = s->opts.srk_handle ? s->opts.srk_handle : PT_SEAL_DEFAULT_SRK;
	struct payload *p = calloc(1, sizeof(*p));
	TPM2B_DIGEST *now = calloc(MAX_PCR, sizeof(TPM2B_DIGEST));
	TPM2B_SENSITIVE_DATA *data = NULL;
	TPML_PCR_SELECTION sel;
	TPM2B_DIGEST empty = { 0 };
	TPM2B_NAME name;
	ESYS_TR obj = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	char name_s[33];
	struct tpm t = { .esys = NULL };
	size_t off;
	TSS2_RC rc;
	int r;

	if (!p || !now) {
		r = -ENOMEM;
		goto out;
	}
	if (pt_seal_parse_header(blob, len, name_s, &off) < 0 || strcmp(name_s, s->name) != 0 ||
	    payload_parse(blob + off, len - off, p) < 0) {
		snprintf(err, errlen,
			 "corrupted sealed blob (the tpm2 payload does not parse); it was left "
			 "untouched: restore it from a backup of this host");
		r = -EBADMSG;
		goto out;
	}
	if (p->srk_handle != want) {
		snprintf(err, errlen,
			 "sealed under the SRK at 0x%08x but seal.srk_handle is 0x%08x; set "
			 "srk_handle back",
			 p->srk_handle, want);
		r = -EINVAL;
		goto out;
	}
	r = tpm_open(&s->opts, &t, err, errlen);
	if (r < 0)
		goto out;
	r = srk_get(&t, &s->opts, NULL, 0, err, errlen);
	if (r >= 0)
		r = srk_name(&t, &name, err, errlen);
	if (r < 0)
		goto out;
	if (name.size != p->srk_name.size || memcmp(name.name, p->srk_name.name, name.size) != 0) {
		snprintf(
			err, errlen,
			"sealed by another TPM: the storage root key at 0x%08x is not the one that "
			"sealed this store (state directory copied from another host, or this "
			"TPM was cleared); its tokens cannot be used here",
			want);
		r = -EXDEV;
		goto out;
	}
	if (p->pcr_mask) {
		char changed[128] = "";
		size_t o = 0, n = 0;

		r = pcr_read(&t, p->pcr_mask, now, err, errlen);
		if (r < 0)
			goto out;
		for (unsigned i = 0; i < MAX_PCR; i++) {
			if (!(p->pcr_mask & (1u << i)))
				continue;
			if (now[n].size != p->pcr[n].size ||
			    memcmp(now[n].buffer, p->pcr[n].buffer, now[n].size) != 0)
				o += (size_t)snprintf(changed + o, sizeof(changed) - o, "%s%u",
						      o ? "," : "", i);
			n++;
			if (o >= sizeof(changed))
				break;
		}
		if (changed[0]) {
			snprintf(
				err, errlen,
				"PCR mismatch: PCR %s changed since the store key was sealed "
				"(firmware/boot change?); boot the measured configuration again, "
				"or after a trusted change restore it once and run pertokctl reseal",
				changed);
			r = -EACCES;
			goto out;
		}
	}
	rc = Esys_Load(t.esys, t.srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &p->priv,
		       &p->pub, &obj);
	if (rc != TSS2_RC_SUCCESS) {
		r = esys_fail(rc, "Esys_Load(sealed store key)", err, errlen);
		goto out;
	}
	if (p->pcr_mask) {
		r = session_start(&t, TPM2_SE_POLICY, &sess, err, errlen);
		if (r < 0)
			goto out;
		pcr_selection(p->pcr_mask, &sel);
		rc = Esys_PolicyPCR(t.esys, sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty,
				    &sel);
		if (rc != TSS2_RC_SUCCESS) {
			r = esys_fail(rc, "Esys_PolicyPCR", err, errlen);
			goto out;
		}
	} else {
		r = session_start(&t, TPM2_SE_HMAC, &sess, err, errlen);
		if (r < 0)
			goto out;
	}
	r = session_attrs(&t, sess, TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION, err,
			  errlen);
	if (r < 0)
		goto out;
	rc = Esys_Unseal(t.esys, obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, &data);
	if (rc != TSS2_RC_SUCCESS) {
		if (rc_base(rc) == TPM2_RC_POLICY_FAIL) {
			snprintf(err, errlen,
				 "PCR mismatch: the TPM refused the PCR policy (a bound PCR "
				 "changed while unsealing?): %s",
				 Tss2_RC_Decode(rc));
			r = -EACCES;
		} else
			r = esys_fail(rc, "Esys_Unseal", err, errlen);
		goto out;
	}
	if (data->size != PT_STORE_KEYLEN) {
		snprintf(err, errlen, "corrupted sealed blob: unsealed %u bytes, expected %d",
			 (unsigned)data->size, PT_STORE_KEYLEN);
		r = -EBADMSG;
		goto out;
	}
	memcpy(ret_key, data->buffer, PT_STORE_KEYLEN);
	r = 0;
out:
	if (data) {
		OPENSSL_cleanse(data, sizeof(*data));
		Esys_Free(data);
	}
	if (t.esys) {
		if (sess != ESYS_TR_NONE)
			Esys_FlushContext(t.esys, sess);
		if (obj != ESYS_TR_NONE)
			Esys_FlushContext(t.esys, obj);
	}
	tpm_close(&t);
	free(now);
	free(p);
	return r;
}

static void fourcc(uint32_t v, char out[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)((v >> (24 - 8 * i)) & 0xff);
		out[i] = c >= 0x21 && c < 0x7f ? c : '\0';
	}
	out[4] = '\0';
}

int pt_tpm2_probe(const struct pt_seal_opts *o, char *info, size_t infolen, char *notice,
		  size_t noticelen, char *err, size_t errlen)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	uint32_t manu = 0, fw1 = 0, fw2 = 0;
	char vendor[5], pcrs[96];
	struct tpm t;
	TPMI_YES_NO more;
	TSS2_RC rc;
	int r;

	r = tpm_open(o, &t, err, errlen);
	if (r < 0)
		return r;
	rc = Esys_GetCapability(t.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 16, &more, &cap);
	if (rc != TSS2_RC_SUCCESS) {
		r = esys_fail(rc, "Esys_GetCapability", err, errlen);
		goto out;
	}
	for (uint32_t i = 0; i < cap->data.tpmProperties.count; i++) {
		const TPMS_TAGGED_PROPERTY *tp = &cap->data.tpmProperties.tpmProperty[i];
		if (tp->property == TPM2_PT_MANUFACTURER)
			manu = tp->value;
		else if (tp->property == TPM2_PT_FIRMWARE_VERSION_1)
			fw1 = tp->value;
		else if (tp->property == TPM2_PT_FIRMWARE_VERSION_2)
			fw2 = tp->value;
	}
	Esys_Free(cap);
	r = srk_get(&t, o, notice, noticelen, err, errlen);
	if (r < 0)
		goto out;
	fourcc(manu, vendor);
	pcr_list(o->pcr_mask, pcrs, sizeof(pcrs));
	snprintf(info, infolen,
		 "tpm_tcti=%s\ntpm_manufacturer=%s\ntpm_firmware=%u.%u.%u.%u\n"
		 "srk_handle=0x%08x\nsrk=%s\npcrs_at_start=%s\n",
		 t.tcti_conf, vendor, fw1 >> 16, fw1 & 0xffff, fw2 >> 16, fw2 & 0xffff,
		 o->srk_handle ? o->srk_handle : PT_SEAL_DEFAULT_SRK,
		 t.srk_transient ? "transient" : "persistent", pcrs);
	r = 0;
out:
	tpm_close(&t);
	return r;
}

const struct pt_sealer pt_tpm2_sealer = {
	.name = "tpm2",
	.strength = "tpm2: the store key is sealed to this host's TPM (fixedTPM, noDA); a copy "
		    "of the state directory is useless elsewhere",
	.seal = tpm2_seal,
	.unseal = tpm2_unseal,
};
