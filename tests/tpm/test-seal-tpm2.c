/* SPDX-License-Identifier: MIT */
/*
 * Error paths of the tpm2 seal backend that swtpm cannot produce on demand
 * (dictionary-attack lockout: every pertok object is noDA), with the TSS
 * stubbed through -Wl,--wrap; and the ones that need no TPM at all (wrong
 * TCTI, missing device, corrupted blob). The real TPM paths are in
 * test-tpm.sh against swtpm.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "fileio.h"
#include "seal.h"

static TSS2_RC tctildr_rc, getcap_rc, frompublic_rc;
static int tctildr_calls;

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx);
void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx);
TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi);
void __wrap_Esys_Finalize(ESYS_CONTEXT **esys);
TSS2_RC __wrap_Esys_GetCapability(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
				  TPM2_CAP cap, UINT32 prop, UINT32 count, TPMI_YES_NO *more,
				  TPMS_CAPABILITY_DATA **data);
TSS2_RC __wrap_Esys_TR_FromTPMPublic(ESYS_CONTEXT *esys, TPM2_HANDLE h, ESYS_TR s1, ESYS_TR s2,
				     ESYS_TR s3, ESYS_TR *obj);

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx)
{
	(void)conf;
	tctildr_calls++;
	if (tctildr_rc)
		return tctildr_rc;
	*ctx = (TSS2_TCTI_CONTEXT *)&tctildr_calls; /* never dereferenced: all stubbed */
	return TSS2_RC_SUCCESS;
}

void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx)
{
	*ctx = NULL;
}

TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi)
{
	(void)tcti;
	(void)abi;
	*esys = (ESYS_CONTEXT *)&getcap_rc;
	return TSS2_RC_SUCCESS;
}

void __wrap_Esys_Finalize(ESYS_CONTEXT **esys)
{
	*esys = NULL;
}

TSS2_RC __wrap_Esys_GetCapability(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
				  TPM2_CAP cap, UINT32 prop, UINT32 count, TPMI_YES_NO *more,
				  TPMS_CAPABILITY_DATA **data)
{
	(void)esys, (void)s1, (void)s2, (void)s3, (void)cap, (void)prop, (void)count;
	if (getcap_rc)
		return getcap_rc;
	*more = 0;
	*data = calloc(1, sizeof(**data));
	return *data ? TSS2_RC_SUCCESS : TSS2_ESYS_RC_MEMORY;
}

TSS2_RC __wrap_Esys_TR_FromTPMPublic(ESYS_CONTEXT *esys, TPM2_HANDLE h, ESYS_TR s1, ESYS_TR s2,
				     ESYS_TR s3, ESYS_TR *obj)
{
	(void)esys, (void)h, (void)s1, (void)s2, (void)s3, (void)obj;
	return frompublic_rc;
}

static int reset(void **state)
{
	(void)state;
	tctildr_rc = getcap_rc = frompublic_rc = TSS2_RC_SUCCESS;
	tctildr_calls = 0;
	return 0;
}

static int probe(const char *tcti, char *err, size_t errlen)
{
	struct pt_seal_opts o = { .persist_srk = true };
	char info[512], notice[256];

	snprintf(o.tcti, sizeof(o.tcti), "%s", tcti);
	err[0] = '\0';
	return pt_tpm2_probe(&o, info, sizeof(info), notice, sizeof(notice), err, errlen);
}

static void test_wrong_tcti(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(probe("tmp:/dev/tpm0", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "wrong TCTI \"tmp:/dev/tpm0\""));
	assert_int_equal(tctildr_calls, 0);
}

static void test_no_device(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(probe("device:/nonexistent/tpmrm0", err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "no TPM: /nonexistent/tpmrm0 does not exist"));
	assert_int_equal(tctildr_calls, 0);
}

static void test_no_answer(void **state)
{
	char err[512];

	(void)state;
	tctildr_rc = TSS2_TCTI_RC_IO_ERROR;
	assert_int_equal(probe("swtpm:host=127.0.0.1,port=1", err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "no TPM answers at TCTI \"swtpm:host=127.0.0.1,port=1\""));
}

static void test_not_a_tpm2(void **state)
{
	char err[512];

	(void)state;
	getcap_rc = TSS2_TCTI_RC_IO_ERROR;
	assert_int_equal(probe("swtpm:host=127.0.0.1,port=1", err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "no TPM 2.0 answers"));
}

static void test_lockout(void **state)
{
	char err[512];

	(void)state;
	frompublic_rc = TPM2_RC_LOCKOUT;
	assert_int_equal(probe("swtpm:host=127.0.0.1,port=1", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "dictionary-attack lockout"));
	assert_non_null(strstr(err, "tpm2_dictionarylockout --clear-lockout"));
}

static void test_corrupted_blob(void **state)
{
	static const uint8_t blob[] = "pertok-sealed-v1\nbackend=tpm2\n\x00\x00\x00\x01garbage";
	const struct pt_sealer *s = pt_sealer_get("tpm2");
	uint8_t key[PT_STORE_KEYLEN];
	char err[512] = "";

	(void)state;
	assert_non_null(s);
	assert_int_equal(s->unseal(s, blob, sizeof(blob) - 1, key, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "corrupted sealed blob"));
	assert_int_equal(tctildr_calls, 0); /* refused before any TPM command */
	assert_int_equal(pt_tpm2_payload_check(blob, sizeof(blob) - 1), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_wrong_tcti, reset),
		cmocka_unit_test_setup(test_no_device, reset),
		cmocka_unit_test_setup(test_no_answer, reset),
		cmocka_unit_test_setup(test_not_a_tpm2, reset),
		cmocka_unit_test_setup(test_lockout, reset),
		cmocka_unit_test_setup(test_corrupted_blob, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
