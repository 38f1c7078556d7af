/* SPDX-License-Identifier: MIT */
/*
 * The audit seed (audit.h: pt_audit_seed_load, KEYDIR/audit-hmac.key): the
 * HMAC key of token references (token_hmac, sub_hmac) is its own secret,
 * carried by `pertokctl rotate-key` (pt_rotate), so the same external
 * subject has the same sub_hmac before and after a rotation of the store
 * key and `pertokctl audit rpo` groups its accesses across it; a seed file
 * that does not decrypt under the store key is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "daemon-state.h"
#include "rotate.h"

static const char conf_fmt[] = "tokend: { state_dir = \"%s\"; };\n"
			       "seal: { backend = \"software\"; };\n"
			       "audit: { file = \"%s/audit.log\"; };\n";

static void reopen(struct pt_daemon *d, int expect)
{
	char err[512] = "", warn[512];

	pt_audit_close(d->audit);
	d->audit = NULL;
	assert_int_equal(pt_audit_open_config(d->cfg, d->keydir, d->storekey, d->keys, &d->audit,
					      warn, sizeof(warn), err, sizeof(err)),
			 expect);
	if (expect < 0)
		assert_non_null(strstr(err, "does not decrypt under the store key"));
}

static void test_seed_across_rotation(void **state)
{
	char dir[] = "/tmp/pt-aseed.XXXXXX", conf[1024], msg[1024] = "", path[4200];
	char ref1[PT_AUDIT_TOKEN_HMAC_HEX + 1], ref2[PT_AUDIT_TOKEN_HMAC_HEX + 1];
	char ref3[PT_AUDIT_TOKEN_HMAC_HEX + 1], cmd[128];
	uint8_t key[PT_STORE_KEYLEN], old[PT_STORE_KEYLEN];
	struct pt_daemon d;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), conf_fmt, dir, dir);
	memset(&d, 0, sizeof(d));
	assert_int_equal(ut_daemon_open(&d, conf, dir, key), 0);
	assert_int_equal(pt_audit_token_ref(d.audit, "extsub\nhttps://idp\nalice", ref1), 0);
	/* the seed is a file of the key generation */
	snprintf(path, sizeof(path), "%s/audit-hmac.key", d.keydir);
	assert_int_equal(access(path, F_OK), 0);

	memcpy(old, d.storekey, sizeof(old));
	assert_int_equal(pt_rotate(&d, msg, sizeof(msg)), 0);
	assert_memory_not_equal(old, d.storekey, sizeof(old)); /* a new store key */
	assert_string_not_equal(d.keydir, dir);
	/* tokend started again: the same reference for the same subject */
	reopen(&d, 0);
	assert_int_equal(pt_audit_token_ref(d.audit, "extsub\nhttps://idp\nalice", ref2), 0);
	assert_string_equal(ref1, ref2);
	/* and twice */
	assert_int_equal(pt_rotate(&d, msg, sizeof(msg)), 0);
	reopen(&d, 0);
	assert_int_equal(pt_audit_token_ref(d.audit, "extsub\nhttps://idp\nalice", ref3), 0);
	assert_string_equal(ref1, ref3);

	/* a seed file that does not decrypt: refused, never replaced */
	snprintf(path, sizeof(path), "%s/audit-hmac.key", d.keydir);
	fp = fopen(path, "r+");
	assert_non_null(fp);
	fseek(fp, 20, SEEK_SET);
	fputc(0x55, fp);
	fclose(fp);
	reopen(&d, -EBADMSG);
	ut_daemon_close(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_across_rotation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
