/* SPDX-License-Identifier: MIT */
/* Access templates (tokend/template.c): the strict parser, one case per
 * rule it enforces; source networks; the entitlements ( ) / rpo { }
 * sections and the uid range's overlap check against fixture files. */
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

#include "../../tokend/conf.h"
#include "config-rpo.h"
#include "rpo.h"

#define GOOD                                                                                   \
	"{\"version\":1,\"iss\":\"https://idp.partner.example\",\"group\":\"g-1234\","         \
	"\"entitlements\":[\"db-read\"],\"policy\":{\"max_validity\":604800,"                  \
	"\"services\":[\"sshd\"],\"networks\":[\"192.0.2.0/24\",\"2001:db8::/32\",\"local\"]," \
	"\"acr\":[\"urn:mfa\"],\"amr\":[\"otp\"],\"max_sessions\":2}}"

static int parse(const char *json, char *err, size_t errlen)
{
	struct pt_template t = { 0 };
	int r = pt_template_parse(json, strlen(json), &t, err, errlen);

	pt_template_clear(&t);
	return r;
}

static void test_good(void **state)
{
	struct pt_template t = { 0 };
	char err[256] = "", hash[PT_HASH_LEN];

	(void)state;
	assert_int_equal(pt_template_parse(GOOD, strlen(GOOD), &t, err, sizeof(err)), 0);
	assert_string_equal(t.iss, "https://idp.partner.example");
	assert_string_equal(t.group, "g-1234");
	assert_int_equal(t.n_entitlements, 1);
	assert_string_equal(t.entitlements[0], "db-read");
	assert_int_equal(t.max_validity, 604800);
	assert_int_equal(t.n_services, 1);
	assert_int_equal(t.n_nets, 2);
	assert_true(t.allow_local);
	assert_int_equal(t.max_sessions, 2);
	assert_int_equal(pt_template_hash(GOOD, strlen(GOOD), hash), 0);
	assert_string_equal(t.hash, hash);
	assert_true(pt_template_hash_valid(t.hash));
	assert_true(pt_cidr_contains(&t.nets[0], "192.0.2.77"));
	assert_true(pt_cidr_contains(&t.nets[0], "::ffff:192.0.2.1"));
	assert_false(pt_cidr_contains(&t.nets[0], "192.0.3.1"));
	assert_true(pt_cidr_contains(&t.nets[1], "2001:db8:1::5"));
	assert_false(pt_cidr_contains(&t.nets[1], "2001:db9::5"));
	assert_false(pt_cidr_contains(&t.nets[1], "192.0.2.1"));
	pt_template_clear(&t);
}

/* Each refused with its own message: a table of (text, what err says). */
static void test_refused(void **state)
{
	static const struct {
		const char *json, *err;
	} cases[] = {
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1},\"extra\":1}",
		  "unknown member \"extra\"" },
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1,\"sudo\":true}}",
		  "unknown member \"sudo\"" },
		{ "{\"version\":1,\"iss\":\"a\",\"iss\":\"b\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1}}",
		  "duplicate member \"iss\"" },
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1,\"max_sessio\\u006es\":5}}",
		  "duplicate member \"max_sessions\"" },
		{ "{\"version\":1,\"iss\":5,\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1}}",
		  "\"iss\" must be a string" },
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":\"e\","
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1}}",
		  "\"entitlements\" must be an array of strings" },
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":\"7d\",\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1}}",
		  "\"max_validity\" must be an integer" },
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":0}}",
		  "\"max_sessions\" must be 1 to 1000" },
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"10.0.0.1/8\"],"
		  "\"max_sessions\":1}}",
		  "\"networks\"[0]: \"10.0.0.1/8\" is not ADDR/PREFIX" },
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"]}}",
		  "\"max_sessions\" is missing" },
		{ "{\"version\":2,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1}}",
		  "\"version\" must be 1 to 1" },
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\\u001b[2J\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1}}",
		  "\"group\" holds a control character (byte 1)" },
		{ "{\"version\":1,\"iss\":\"a\\nb\",\"group\":\"g\",\"entitlements\":[\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1}}",
		  "\"iss\" holds a control character (byte 1)" },
		{ "[1,2]", "a template is a JSON object" },
		{ "{\"version\":1,", "not one well-formed JSON value (UTF-8, depth <= 4)" },
		{ "{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"e\",\"e\"],"
		  "\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		  "\"max_sessions\":1}}",
		  "\"entitlements\" names \"e\" twice" },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_not_equal(parse(cases[i].json, err, sizeof(err)), 0);
		if (strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu: wanted \"%s\", got \"%s\"", i, cases[i].err, err);
	}
}

static void test_oversize(void **state)
{
	size_t n = PT_TEMPLATE_MAX + 1;
	char *big = malloc(n + 1), err[256] = "";
	struct pt_template t = { 0 };

	(void)state;
	assert_non_null(big);
	/* a valid template padded with spaces past the cap */
	memset(big, ' ', n);
	memcpy(big, GOOD, strlen(GOOD));
	big[n] = '\0';
	assert_int_equal(pt_template_parse(big, n, &t, err, sizeof(err)), -EFBIG);
	assert_string_equal(err, "template is 16385 bytes, more than 16384");
	/* at the cap it is fine */
	assert_int_equal(pt_template_parse(big, n - 1, &t, err, sizeof(err)), 0);
	pt_template_clear(&t);
	free(big);
}

static const char conf_ents[] =
	"entitlements = ( { name = \"db-read\"; groups = [ \"dbread\" ]; } );\n";

static void test_entitlement_defined(void **state)
{
	struct pt_config *cfg = NULL;
	struct pt_template t = { 0 };
	char err[256] = "";
	static const char other[] =
		"{\"version\":1,\"iss\":\"a\",\"group\":\"g\",\"entitlements\":[\"root-shell\"],"
		"\"policy\":{\"max_validity\":600,\"services\":[\"s\"],\"networks\":[\"local\"],"
		"\"max_sessions\":1}}";

	(void)state;
	assert_int_equal(pt_config_load_string(conf_ents, "t.conf", &cfg, err, sizeof(err)), 0);
	assert_int_equal(pt_template_parse_cfg(cfg, GOOD, strlen(GOOD), &t, err, sizeof(err)), 0);
	pt_template_clear(&t);
	assert_int_equal(pt_template_parse_cfg(cfg, other, strlen(other), &t, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "entitlement \"root-shell\" is not defined by this host "
				 "(entitlements in tokend.conf)");
	pt_config_free(cfg);
}

static void test_config_sections(void **state)
{
	struct pt_config *cfg = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(pt_config_load_string(conf_ents, "t.conf", &cfg, err, sizeof(err)), 0);
	assert_false(cfg->rpo.enabled);
	assert_int_equal(cfg->rpo.uid_min, 0x7FFD0000u);
	assert_int_equal(cfg->rpo.uid_max, 0x7FFDFFFFu);
	assert_string_equal(cfg->rpo.prefix, "rp-");
	assert_int_equal(cfg->entitlements[0].n_groups, 1);
	pt_config_free(cfg);
	cfg = NULL;
	assert_int_equal(pt_config_load_string("rpo = { uid_min = 3000000; uid_max = 3000100; "
					       "prefix = \"ext-\"; reap_delay = 0; };",
					       "t.conf", &cfg, err, sizeof(err)),
			 0);
	assert_true(cfg->rpo.enabled);
	assert_int_equal(cfg->rpo.reap_delay, 0);
	pt_config_free(cfg);
	cfg = NULL;
	assert_int_equal(pt_config_load_string("rpo = { prefix = \"Root\"; };", "t.conf", &cfg, err,
					       sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "rpo.prefix: \"Root\" is not a name prefix"));
	assert_int_equal(pt_config_load_string("rpo = { uid_min = 65000; uid_max = 66000; };",
					       "t.conf", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "must not hold 65534"));
	assert_int_equal(
		pt_config_load_string("entitlements = ( { name = \"a\"; groups = [ \"g\" ]; "
				      "}, { name = \"a\"; groups = [ \"h\" ]; } );",
				      "t.conf", &cfg, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "duplicate entitlement \"a\""));
	assert_int_equal(
		pt_config_load_string("rpo = { uid_mni = 5; };", "t.conf", &cfg, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "unknown setting \"uid_mni\""));
}

/* ---- the uid range against the host's other id ranges (fixture files) */

static char fixdir[64];

static char *fixture(const char *name, const char *text)
{
	static char path[8][256];
	static int k;
	char *p = path[k++ % 8];
	FILE *f;

	snprintf(p, 256, "%s/%s", fixdir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static struct pt_rpo_conf range(uid_t lo, uid_t hi)
{
	/* every check pointed at a missing file unless the test sets one */
	static char missing[128];
	char *m = missing;
	struct pt_rpo_conf rc = { .uid_min = lo, .uid_max = hi };

	snprintf(missing, sizeof(missing), "%s/none", fixdir);
	rc.subuid = rc.subgid = rc.login_defs = rc.sssd_conf = rc.smb_conf = m;
	return rc;
}

static void test_range_overlap(void **state)
{
	struct pt_rpo_conf rc;
	char err[512];

	(void)state;
	assert_non_null(mkdtemp(strcpy(fixdir, "/tmp/pt-range.XXXXXX")));
	/* nothing configured anywhere: only login.defs' built-in defaults
	 * (1000..60000, 101..999) count */
	rc = range(2147287040u, 2147352575u);
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), 0);
	rc = range(50000, 50100);
	rc.login_defs = fixture("login.defs.none", "");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), -EEXIST);

	/* subuid */
	rc = range(165536, 165600);
	rc.subuid = fixture("subuid", "# sub ids\nalice:100000:65536\nbob:165536:65536\n");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "a subordinate id range 165536..231071"));
	assert_non_null(strstr(err, "subuid:3"));
	rc.uid_min = 300000;
	rc.uid_max = 300100;
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), 0);
	/* subgid, the same reader */
	rc = range(100000, 100010);
	rc.subgid = fixture("subgid", "alice:100000:65536\n");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), -EEXIST);

	/* login.defs */
	rc = range(70000, 70100);
	rc.login_defs = fixture("login.defs", "UID_MIN\t1000\nUID_MAX   80000\n");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "login.defs UID_MIN..UID_MAX 1000..80000"));
	rc.login_defs = fixture("login.defs2", "UID_MIN 1000\nUID_MAX 60000\n");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), 0);

	/* sssd.conf: a domain's min_id..max_id, and id mapping */
	rc = range(500000, 500100);
	rc.sssd_conf =
		fixture("sssd.conf", "[sssd]\ndomains = corp\n\n[domain/corp]\n"
				     "id_provider = ldap\nmin_id = 400000\nmax_id = 600000\n");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "an SSSD domain's min_id..max_id 400000..600000"));
	rc.sssd_conf = fixture("sssd2.conf", "[domain/ad]\nid_provider = ad\n");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "SSSD's id-mapping range 200000..2000200000"));
	rc.sssd_conf = fixture("sssd3.conf", "[domain/ad]\nid_provider = ad\nldap_id_mapping = "
					     "false\n[domain/x]\nmin_id = 1\nmax_id = 1000\n");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), 0);

	/* smb.conf: idmap config * : range */
	rc = range(3000000, 3000100);
	rc.smb_conf =
		fixture("smb.conf", "[global]\n   workgroup = X\n   idmap config * : backend = "
				    "tdb\n   idmap config * : range = 3000000-3999999\n");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "a Samba idmap range 3000000..3999999"));
	rc.smb_conf = fixture("smb2.conf", "[global]\nidmap config CORP : range = 10000-20000\n");
	assert_int_equal(pt_rpo_range_check(&rc, err, sizeof(err)), 0);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", fixdir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_entitlement_defined),
		cmocka_unit_test(test_config_sections),
		cmocka_unit_test(test_range_overlap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
