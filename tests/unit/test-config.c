/* SPDX-License-Identifier: MIT */
/* tokend.conf parser: the reference file, defaults, durations, and one
 * golden "FILE:LINE: message" per error case. */
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
#include "confvalue.h"

#define SENTINEL ((struct pt_config *)0x1)

static struct pt_config *load_ok(const char *text)
{
	struct pt_config *cfg = NULL;
	char err[512] = "";
	int r;

	r = pt_config_load_string(text, "t.conf", &cfg, err, sizeof(err));
	if (r != 0)
		fail_msg("unexpected error %d: %s", r, err);
	assert_non_null(cfg);
	return cfg;
}

/* ------------------------------------------------------------------ reference file */

static void test_reference_file(void **state)
{
	const char *top = getenv("top_srcdir");
	char path[4096], host[256] = "", issuer[300];
	struct pt_config *cfg = NULL;
	const struct pt_actor *a;
	char err[512] = "";
	int r;

	snprintf(path, sizeof(path), "%s/data/tokend.conf", top ? top : ".");
	r = pt_config_load(path, &cfg, err, sizeof(err));
	if (r != 0)
		fail_msg("%s does not load: %s", path, err);
	assert_string_equal(err, "");
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->socket_path, "/run/pertok/tokend.sock");
	assert_string_equal(cfg->state_dir, "/var/lib/pertok");
	gethostname(host, sizeof(host) - 1);
	snprintf(issuer, sizeof(issuer), "pertok:%s", host[0] ? host : "localhost");
	assert_string_equal(cfg->issuer, issuer); /* commented out: the default */
	assert_string_equal(cfg->audience, "pertok");
	assert_string_equal(cfg->alg, "EdDSA");
	assert_int_equal(cfg->max_connections, 128);
	assert_int_equal(cfg->client_timeout_ms, 5000);
	assert_int_equal(cfg->usage_observation, 30 * 86400);
	assert_int_equal(cfg->usage_unused_days, 30);
	assert_false(cfg->usage_auto_curtail);
	assert_int_equal(cfg->usage_max_entries_per_user, 256);
	assert_int_equal(cfg->live_lifetime, 300);
	assert_int_equal(cfg->max_live_lifetime, 3600);
	assert_int_equal(cfg->persist_lifetime, 30 * 86400);
	assert_int_equal(cfg->max_persist_lifetime, 60 * 86400);
	assert_int_equal(cfg->max_outstanding, 4);
	assert_string_equal(cfg->seal_backend, "software");

	assert_int_equal(cfg->n_actors, 4);
	assert_string_equal(cfg->actors[0].name, "login");
	assert_int_equal(cfg->actors[0].uid, 0);
	assert_int_equal(cfg->actors[0].n_exe, 4);
	assert_string_equal(cfg->actors[0].exe[0], "/usr/sbin/sshd");
	assert_string_equal(cfg->actors[0].exe[3], "/usr/bin/su");
	assert_int_equal(cfg->actors[0].n_services, 0);
	assert_int_equal(cfg->actors[0].line, 32);
	a = pt_config_find_actor(cfg, "atd");
	assert_non_null(a);
	assert_ptr_equal(a, &cfg->actors[1]);
	assert_int_equal(a->n_exe, 1);
	assert_string_equal(a->exe[0], "/usr/sbin/atd");
	assert_int_equal(a->line, 33);
	assert_string_equal(cfg->actors[2].name, "cron");
	assert_string_equal(cfg->actors[3].name, "systemd"); /* units: pam_pertok(8), SYSTEMD */
	assert_null(pt_config_find_actor(cfg, "self"));	     /* built in, not configured */
	assert_null(pt_config_find_actor(cfg, "nobody"));
	assert_null(pt_config_find_actor(cfg, NULL));

	assert_int_equal(cfg->n_issue, 1);
	assert_string_equal(cfg->issue[0].name, "logins");
	assert_int_equal(cfg->issue[0].line, 41);
	assert_int_equal(cfg->issue[0].action, PT_ACTION_ALLOW);
	assert_int_equal(cfg->issue[0].n_actors, 2);
	assert_string_equal(cfg->issue[0].actors[0], "login");
	assert_string_equal(cfg->issue[0].actors[1], "self");
	assert_int_equal(cfg->issue[0].n_users, 0);
	assert_int_equal(cfg->issue[0].n_groups, 1);
	assert_string_equal(cfg->issue[0].groups[0], "pertok");
	assert_int_equal(cfg->issue[0].n_holders, 3);
	assert_string_equal(cfg->issue[0].holders[1], "cron");
	assert_string_equal(cfg->issue[0].holders[2], "systemd");
	assert_int_equal(cfg->issue[0].persist_lifetime, 30 * 86400);
	assert_int_equal(cfg->issue[0].live_lifetime, 0);
	assert_int_equal(cfg->issue[0].max_outstanding, 4);
	assert_true(cfg->issue[0].check_account);

	assert_int_equal(cfg->n_redeem, 1);
	assert_string_equal(cfg->redeem[0].name, "scheduled-jobs");
	assert_int_equal(cfg->redeem[0].line, 48);
	assert_int_equal(cfg->redeem[0].live_lifetime, 300);
	assert_int_equal(cfg->redeem[0].persist_lifetime, 0);
	assert_int_equal(cfg->redeem[0].n_actors, 0);
	assert_true(cfg->redeem[0].check_account);
	pt_config_free(cfg);
}

/* ------------------------------------------------------------------ defaults */

static void test_defaults(void **state)
{
	struct pt_config *cfg = load_ok("# nothing configured\n");

	assert_string_equal(cfg->path, "t.conf");
	assert_string_equal(cfg->socket_path, RUNDIR "/pertok/tokend.sock");
	assert_string_equal(cfg->state_dir, LOCALSTATEDIR "/lib/pertok");
	assert_true(strncmp(cfg->issuer, "pertok:", 7) == 0 && strlen(cfg->issuer) > 7);
	assert_string_equal(cfg->audience, "pertok");
	assert_string_equal(cfg->alg, "EdDSA");
	assert_int_equal(cfg->max_connections, 128);
	assert_int_equal(cfg->client_timeout_ms, 5000);
	assert_int_equal(cfg->live_lifetime, 300);
	assert_int_equal(cfg->max_live_lifetime, 3600);
	assert_int_equal(cfg->persist_lifetime, 30 * 86400);
	assert_int_equal(cfg->max_persist_lifetime, 60 * 86400);
	assert_int_equal(cfg->max_outstanding, 4);
	assert_string_equal(cfg->seal_backend, "software");
	assert_null(cfg->seal_tcti);
	assert_int_equal(cfg->seal_srk_handle, 0x81000001u);
	assert_true(cfg->seal_persist_srk);
	assert_int_equal(cfg->seal_pcr_mask, 0);
	assert_int_equal(cfg->n_actors, 0);
	assert_int_equal(cfg->n_issue, 0);
	assert_int_equal(cfg->n_redeem, 0);
	assert_null(cfg->audit_file);
	assert_int_equal(cfg->audit_checkpoint_every, 1000);
	assert_int_equal(cfg->audit_checkpoint_interval, 300);
	assert_false(cfg->audit_sync_batch);
	pt_config_free(cfg);

	/* the audit group */
	cfg = load_ok("audit = { file = \"/var/log/pertok/audit.log\"; checkpoint_every = 10;\n"
		      "          checkpoint_interval = \"1h\"; sync = \"batch\"; };\n");
	assert_string_equal(cfg->audit_file, "/var/log/pertok/audit.log");
	assert_int_equal(cfg->audit_checkpoint_every, 10);
	assert_int_equal(cfg->audit_checkpoint_interval, 3600);
	assert_true(cfg->audit_sync_batch);
	pt_config_free(cfg);

	/* empty groups and lists are fine too */
	cfg = load_ok("tokend = { };\nseal = { };\nactors = ( );\nissue = ( );\nredeem = ( );\n");
	assert_int_equal(cfg->n_actors, 0);
	assert_string_equal(cfg->seal_backend, "software");
	pt_config_free(cfg);
}

static void test_values(void **state)
{
	struct pt_config *cfg = load_ok(
		"tokend = { socket = \"/tmp/t/tokend.sock\"; state_dir = \"/tmp/t/state\";\n"
		"  issuer = \"https://idp.example/x\"; audience = \"svc\"; alg = \"Ed25519\";\n"
		"  max_connections = 4; client_timeout = 250; max_outstanding = 9;\n"
		"  live_lifetime = 60; max_live_lifetime = \"2h\";\n"
		"  persist_lifetime = \"1w\"; max_persist_lifetime = \"90d\"; };\n"
		"actors = ( { name = \"svc\"; uid = 1000; exe = \"*\"; "
		"services = [ \"sshd\" ]; },\n"
		"  { name = \"atd\"; uid = 0; exe = ( \"/usr/sbin/atd\" ); } );\n"
		"issue = ( { users = [ \"alice\", \"*\" ]; holders = [ \"*\" ]; },\n"
		"  { action = \"deny\"; live_lifetime = \"2h\"; persist_lifetime = \"90d\"; } );\n"
		"redeem = ( { check_account = false; actors = [ \"self\", \"svc\" ]; },\n"
		"  { name = \"later\"; } );\n");

	assert_string_equal(cfg->socket_path, "/tmp/t/tokend.sock");
	assert_string_equal(cfg->state_dir, "/tmp/t/state");
	assert_string_equal(cfg->issuer, "https://idp.example/x");
	assert_string_equal(cfg->audience, "svc");
	assert_string_equal(cfg->alg, "Ed25519");
	assert_int_equal(cfg->max_connections, 4);
	assert_int_equal(cfg->client_timeout_ms, 250);
	assert_int_equal(cfg->max_outstanding, 9);
	assert_int_equal(cfg->live_lifetime, 60);
	assert_int_equal(cfg->max_live_lifetime, 7200);
	assert_int_equal(cfg->persist_lifetime, 7 * 86400);
	assert_int_equal(cfg->max_persist_lifetime, 90 * 86400);

	assert_int_equal(cfg->n_actors, 2);
	assert_int_equal(cfg->actors[0].uid, 1000);
	assert_int_equal(cfg->actors[0].n_exe, 1);
	assert_string_equal(cfg->actors[0].exe[0], "*");
	assert_int_equal(cfg->actors[0].n_services, 1);
	assert_string_equal(cfg->actors[0].services[0], "sshd");
	assert_string_equal(cfg->actors[1].exe[0], "/usr/sbin/atd");
	assert_int_equal(cfg->actors[1].line, 7);

	assert_int_equal(cfg->n_issue, 2);
	assert_string_equal(cfg->issue[0].name, "issue[0]");
	assert_int_equal(cfg->issue[0].line, 8);
	assert_int_equal(cfg->issue[0].n_users, 2);
	assert_string_equal(cfg->issue[1].name, "issue[1]");
	assert_int_equal(cfg->issue[1].line, 9);
	assert_int_equal(cfg->issue[1].action, PT_ACTION_DENY);
	assert_int_equal(cfg->issue[1].live_lifetime, 7200);
	assert_int_equal(cfg->issue[1].persist_lifetime, 90 * 86400);
	assert_int_equal(cfg->n_redeem, 2);
	assert_string_equal(cfg->redeem[0].name, "redeem[0]");
	assert_false(cfg->redeem[0].check_account);
	assert_string_equal(cfg->redeem[0].actors[0], "self");
	assert_string_equal(cfg->redeem[1].name, "later");
	assert_true(cfg->redeem[1].check_account);
	assert_int_equal(cfg->redeem[1].action, PT_ACTION_ALLOW);
	pt_config_free(cfg);
}

/* ------------------------------------------------------------------ durations */

static const struct {
	const char *value;
	uint64_t seconds;
} durations[] = {
	{ "300", 300 },		 { "\"300\"", 300 },
	{ "\"45s\"", 45 },	 { "\"5m\"", 300 },
	{ "\"2h\"", 7200 },	 { "\"7d\"", 7 * 86400 },
	{ "\"1w\"", 7 * 86400 }, { "\"60d\"", 60 * 86400 },
	{ "86400L", 86400 },	 { "1", 1 },
};

static void test_durations(void **state)
{
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		char text[256];
		struct pt_config *cfg;

		snprintf(text, sizeof(text), "tokend = { persist_lifetime = %s; };\n",
			 durations[i].value);
		cfg = load_ok(text);
		if (cfg->persist_lifetime != durations[i].seconds)
			fail_msg("%s: got %llu, want %llu", durations[i].value,
				 (unsigned long long)cfg->persist_lifetime,
				 (unsigned long long)durations[i].seconds);
		pt_config_free(cfg);
	}
}

/* ------------------------------------------------------------------ errors */

#define ACTORS "actors = ( { name = \"atd\"; uid = 0; exe = [ \"/usr/sbin/atd\" ]; } );\n"

static const struct {
	const char *text;
	const char *err;
} errors[] = {
	/* usage { } and curtail rules (issue 13) */
	{ "usage = { observation = \"0\"; };\n",
	  "t.conf:1: usage.observation must be at least 1 second" },
	{ "usage = { auto_curtail = 1; };\n",
	  "t.conf:1: usage.auto_curtail must be a boolean, not an integer" },
	{ "usage = { max_entries_per_user = 4; };\n",
	  "t.conf:1: usage.max_entries_per_user must be between 8 and 4096, not 4" },
	{ "usage = { obs = \"1d\"; };\n", "t.conf:1: unknown setting \"obs\" in usage" },
	{ "actors = ( { name = \"a\"; uid = 0; exe = [ \"/a\" ]; } );\n"
	  "redeem = ( { name = \"rec-1\"; curtail = true; holders = [ \"a\" ];\n"
	  "             live_lifetime = \"1m\"; entitlements_remove = [ \"x\" ]; } );\n",
	  "t.conf:2: redeem[0]: a curtail rule only has name, users, holders, "
	  "entitlements_remove, groups_remove and note, not live_lifetime" },
	{ "redeem = ( { name = \"rec-1\"; curtail = true; users = [ \"u\" ]; } );\n",
	  "t.conf:1: redeem[0]: a curtail rule needs entitlements_remove or groups_remove" },
	{ "issue = ( { name = \"i\"; curtail = true; } );\n",
	  "t.conf:1: issue[0].curtail is only valid in redeem rules" },
	{ "redeem = ( { name = \"r\"; note = \"a\\nb\"; } );\n",
	  "t.conf:1: redeem[0].note must be printable text of at most 400 characters" },
	/* syntax, reported with libconfig's line and text */
	{ "tokend = {\n  socket = ;\n};\n", "t.conf:2: syntax error" },
	{ "tokend = {\n  alg = \"EdDSA\";\n  alg = \"EdDSA\";\n};\n",
	  "t.conf:3: duplicate setting name" },
	{ "actors = (\n { name = \"a\"; uid = 0; exe = [ \"/a\", 1 ]; } );\n",
	  "t.conf:2: mismatched element type in array" },
	{ "# x\n@include \"/etc/passwd\"\n", "t.conf:2: @include is not supported" },
	{ "  \t@include \"/dev/zero\"\n", "t.conf:1: @include is not supported" },
	/* strings where the grammar allows none (libconfig would leak them) */
	{ "a = 1 \"x\";\n", "t.conf:1: syntax error" },
	{ "\"x\"\n", "t.conf:1: syntax error" },
	{ "tokend = {\n  alg \"Ed\nDSA\";\n};\n", "t.conf:3: syntax error" },
	{ "tokend = { alg = \"EdDSA\", \"x\"; };\n", "t.conf:1: syntax error" },
	{ "tokend = { alg = \"EdDSA\"; } \"x\";\n", "t.conf:1: syntax error" },
	{ "actors = ( { name = \"a\"; uid = 0; exe = [ \"/a\" ] \"/b\"; } );\n",
	  "t.conf:1: syntax error" },
	{ "a = 1;\nb = = \"x\" 2 \"y\";\n", "t.conf:2: syntax error" },

	/* issuers ( ): never tokend's own, bounded leeway, no HS*, a local file */
	{ "tokend = { issuer = \"pertok:h\"; };\nissuers = ( { iss = \"pertok:h\"; jwks = "
	  "\"/x\"; algs = [ \"EdDSA\" ]; audience = \"a\"; } );\n",
	  "t.conf:2: issuers[0].iss: \"pertok:h\" is tokend's own issuer (tokend.issuer): its tokens are not external" },
	{ "issuers = ( { iss = \"i\"; jwks = \"/nonexistent.jwks\"; algs = [ \"EdDSA\" ];\n"
	  "  audience = \"a\"; leeway = 301; } );\n",
	  "t.conf:2: issuers[0].leeway must be between 0 and 300, not 301" },
	{ "issuers = ( { iss = \"i\"; jwks = \"/x\"; algs = [ \"HS256\" ]; audience = \"a\"; } );\n",
	  "t.conf:1: issuers[0].algs: \"HS256\" is not one of EdDSA, Ed25519, ES256, RS256, PS256" },
	{ "issuers = ( { iss = \"i\"; jwks = \"/nonexistent.jwks\"; algs = [ \"EdDSA\" ];\n"
	  "  audience = \"a\"; } );\n",
	  "t.conf:1: issuers[0].jwks: /nonexistent.jwks: No such file or directory" },
	{ "issuers = ( { iss = \"i\"; jwks = \"x.jwks\"; algs = [ \"EdDSA\" ]; audience = \"a\"; } );\n",
	  "t.conf:1: issuers[0].jwks: not an absolute path" },

	/* unknown settings */
	{ "\nacters = ( );\n",
	  "t.conf:2: unknown top-level setting \"acters\" (did you mean \"actors\"?)" },
	{ "isue = ( );\n",
	  "t.conf:1: unknown top-level setting \"isue\" (did you mean \"issue\"?)" },
	{ "frobnicate = 1;\n", "t.conf:1: unknown top-level setting \"frobnicate\"" },
	{ "tokend = {\n  sockt = \"/run/x.sock\";\n};\n",
	  "t.conf:2: unknown setting \"sockt\" in tokend (did you mean \"socket\"?)" },
	{ "seal = {\n  backed = \"software\";\n};\n",
	  "t.conf:2: unknown setting \"backed\" in seal (did you mean \"backend\"?)" },
	{ "actors = (\n  { name = \"a\"; uid = 0;\n    exec = [ \"/a\" ]; } );\n",
	  "t.conf:3: unknown setting \"exec\" in actors[0] (did you mean \"exe\"?)" },
	{ ACTORS "redeem = ( { },\n  { holder = [ \"atd\" ]; } );\n",
	  "t.conf:3: unknown setting \"holder\" in redeem[1] (did you mean \"holders\"?)" },

	/* wrong types */
	{ "tokend = ( );\n", "t.conf:1: tokend must be a group { ... }, not a list" },
	{ "seal = \"software\";\n", "t.conf:1: seal must be a group { ... }, not a string" },
	/* audit { } */
	{ "audit = ( );\n", "t.conf:1: audit must be a group { ... }, not a list" },
	{ "audit = {\n  fille = \"/var/log/x\"; };\n",
	  "t.conf:2: unknown setting \"fille\" in audit (did you mean \"file\"?)" },
	{ "audit = { file = \"var/log/audit\"; };\n",
	  "t.conf:1: audit.file: \"var/log/audit\" is not a normalized absolute path" },
	{ "audit = { file = 5; };\n", "t.conf:1: audit.file must be a string, not an integer" },
	{ "audit = { checkpoint_every = 0; };\n",
	  "t.conf:1: audit.checkpoint_every must be between 1 and 1000000, not 0" },
	{ "audit = { checkpoint_interval = \"5x\"; };\n",
	  "t.conf:1: audit.checkpoint_interval: invalid duration \"5x\" (use seconds, or a number "
	  "followed by s, m, h, d or w)" },
	{ "audit = {\n  sync = \"always\"; };\n",
	  "t.conf:2: audit.sync must be \"record\" or \"batch\", not \"always\"" },
	{ "actors = { };\n", "t.conf:1: actors must be a list ( { ... }, ... ), not a group" },
	{ "actors = ( \"atd\" );\n",
	  "t.conf:1: actors[0] must be a group { name = ...; uid = ...; exe = [ ... ]; }, "
	  "not a string" },
	{ "issue = [ \"x\" ];\n",
	  "t.conf:1: issue must be a list of rules ( { ... }, ... ), not an array" },
	{ "redeem = ( { }, 5 );\n", "t.conf:1: redeem[1] must be a group { ... }, not an integer" },
	{ "tokend = {\n max_connections = \"10\"; };\n",
	  "t.conf:2: tokend.max_connections must be an integer, not a string" },
	{ "tokend = { client_timeout = 1.5; };\n",
	  "t.conf:1: tokend.client_timeout must be an integer, not a float" },
	{ "tokend = { socket = 5; };\n",
	  "t.conf:1: tokend.socket must be a string, not an integer" },
	{ "tokend = { alg = [ \"EdDSA\" ]; };\n",
	  "t.conf:1: tokend.alg must be a string, not an array" },
	{ "actors = ( { name = \"a\"; uid = \"root\"; exe = \"*\"; } );\n",
	  "t.conf:1: actors[0].uid must be an integer, not a string" },
	{ "actors = ( { name = \"a\"; uid = 0; exe = 5; } );\n",
	  "t.conf:1: actors[0].exe must be an array of strings [ \"...\", ... ], not an integer" },
	{ "actors = ( { name = \"a\"; uid = 0; exe = ( \"/a\", 1 ); } );\n",
	  "t.conf:1: actors[0].exe[1] must be a string, not an integer" },
	{ "issue = ( { groups = [ 1 ]; } );\n",
	  "t.conf:1: issue[0].groups[0] must be a string, not an integer" },
	{ "redeem = ( { check_account = \"yes\"; } );\n",
	  "t.conf:1: redeem[0].check_account must be a boolean, not a string" },
	{ "redeem = ( { check_account = 1; } );\n",
	  "t.conf:1: redeem[0].check_account must be a boolean, not an integer" },
	{ "redeem = ( { name = 7; } );\n",
	  "t.conf:1: redeem[0].name must be a string, not an integer" },

	/* ranges and values */
	{ "tokend = { max_connections = 0; };\n",
	  "t.conf:1: tokend.max_connections must be between 1 and 65536, not 0" },
	{ "tokend = { client_timeout = 600001; };\n",
	  "t.conf:1: tokend.client_timeout must be between 1 and 600000, not 600001" },
	{ "tokend = { max_outstanding = -1; };\n",
	  "t.conf:1: tokend.max_outstanding must be between 1 and 100000, not -1" },
	{ "tokend = { alg = \"ES256\"; };\n",
	  "t.conf:1: tokend.alg must be \"EdDSA\" or \"Ed25519\", not \"ES256\"" },
	{ "tokend: { offline = \"maybe\"; };\n",
	  "t.conf:1: tokend.offline must be \"deny\" or \"cached\", not \"maybe\"" },
	{ "tokend: { offline = false; };\n",
	  "t.conf:1: tokend.offline must be a string, not a boolean" },
	{ "tokend = { socket = \"run/x.sock\"; };\n",
	  "t.conf:1: tokend.socket: \"run/x.sock\" is not a normalized absolute path" },
	{ "tokend = { socket = \"/run//x.sock\"; };\n",
	  "t.conf:1: tokend.socket: \"/run//x.sock\" is not a normalized absolute path" },
	{ "tokend = { socket = \"/run/pertok/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\"; };\n",
	  "t.conf:1: tokend.socket is too long for a UNIX socket path (max 107 bytes)" },
	{ "tokend = { state_dir = \"/var/lib/../pertok\"; };\n",
	  "t.conf:1: tokend.state_dir: \"/var/lib/../pertok\" is not a normalized absolute path" },
	{ "tokend = { state_dir = \"/var/lib/pertok/\"; };\n",
	  "t.conf:1: tokend.state_dir: \"/var/lib/pertok/\" is not a normalized absolute path" },
	{ "tokend = { issuer = \"pertok: host\"; };\n",
	  "t.conf:1: tokend.issuer must be 1 to 255 printable characters without spaces" },
	{ "tokend = { audience = \"\"; };\n",
	  "t.conf:1: tokend.audience must be 1 to 255 printable characters without spaces" },
	{ "seal = { backend = \"tpm\"; };\n",
	  "t.conf:1: seal.backend: unknown backend \"tpm\" (known: software, tpm2, auto)" },
	{ "seal = {\n  srk_handle = 0x80000001;\n};\n",
	  "t.conf:2: seal.srk_handle must be a persistent handle between 0x81000000 and "
	  "0x81ffffff, not 0x80000001" },
	{ "seal = { srk_handle = \"0x81000001\"; };\n",
	  "t.conf:1: seal.srk_handle must be an integer, not a string" },
	{ "seal = { pcrs = [ 7, 24 ]; };\n",
	  "t.conf:1: seal.pcrs[1]: PCR 24 does not exist (0 to 23)" },
	{ "seal = {\n pcrs = [ 7, 7 ];\n};\n", "t.conf:2: seal.pcrs[1]: PCR 7 listed twice" },
	{ "seal = { pcrs = 7; };\n",
	  "t.conf:1: seal.pcrs must be an array of PCR numbers [ 7, ... ], not an integer" },
	{ "seal = { tcti = \"\"; };\n",
	  "t.conf:1: seal.tcti: \"\" is not a TCTI (use \"device:/dev/tpmrm0\", "
	  "\"swtpm:host=H,port=P\" or \"tabrmd\")" },
	{ "seal = { persist_srk = 1; };\n",
	  "t.conf:1: seal.persist_srk must be a boolean, not an integer" },
	{ "seal = { pcr = [ 7 ]; };\n",
	  "t.conf:1: unknown setting \"pcr\" in seal (did you mean \"pcrs\"?)" },

	/* durations */
	{ "tokend = {\n live_lifetime = \"5x\"; };\n",
	  "t.conf:2: tokend.live_lifetime: invalid duration \"5x\" (use seconds, or a number followed by s, m, h, d or w)" },
	{ "tokend = { live_lifetime = \"m\"; };\n",
	  "t.conf:1: tokend.live_lifetime: invalid duration \"m\" (use seconds, or a number followed by s, m, h, d or w)" },
	{ "tokend = { live_lifetime = \"-5m\"; };\n",
	  "t.conf:1: tokend.live_lifetime: invalid duration \"-5m\" (use seconds, or a number followed by s, m, h, d or w)" },
	{ "tokend = { live_lifetime = \" 5m\"; };\n",
	  "t.conf:1: tokend.live_lifetime: invalid duration \" 5m\" (use seconds, or a number followed by s, m, h, d or w)" },
	{ "tokend = { live_lifetime = -5; };\n",
	  "t.conf:1: tokend.live_lifetime must not be negative" },
	{ "tokend = { live_lifetime = \"0s\"; };\n",
	  "t.conf:1: tokend.live_lifetime must be at least 1 second" },
	{ "tokend = { persist_lifetime = 0; };\n",
	  "t.conf:1: tokend.persist_lifetime must be at least 1 second" },
	{ "tokend = { max_persist_lifetime = \"3651d\"; };\n",
	  "t.conf:1: tokend.max_persist_lifetime is too long (max 3650d)" },
	{ "tokend = { live_lifetime = \"99999999999999999999\"; };\n",
	  "t.conf:1: tokend.live_lifetime: duration \"99999999999999999999\" is out of range" },
	{ "tokend = { live_lifetime = \"9999999999999999999w\"; };\n",
	  "t.conf:1: tokend.live_lifetime: duration \"9999999999999999999w\" is out of range" },
	{ "tokend = { live_lifetime = true; };\n",
	  "t.conf:1: tokend.live_lifetime must be a duration (seconds or a string like \"5m\"), not a boolean" },
	/* types ( ) reads its values with the same readers, so the same words */
	{ "types = ( { name = \"c\"; length = \"8\"; } );\n",
	  "t.conf:1: types[0] (c).length must be an integer, not a string" },
	{ "types = ( { name = \"c\"; length = 8; case_sensitive = 1; } );\n",
	  "t.conf:1: types[0] (c).case_sensitive must be a boolean, not an integer" },
	{ "types = ( { name = \"c\"; length = 8; lockout = true; } );\n",
	  "t.conf:1: types[0] (c).lockout must be a duration (seconds or a string like \"5m\"), not a boolean" },
	{ "types = ( { name = \"c\"; length = 8; ttl = \"99999999999999999999\"; } );\n",
	  "t.conf:1: types[0] (c).ttl: duration \"99999999999999999999\" is out of range" },
	{ "types = ( { name = \"c\"; length = 8; ttl = \"3651d\"; } );\n",
	  "t.conf:1: types[0] (c).ttl is too long (max 3650d)" },
	{ "types = ( { name = \"c\"; length = 8; global_rate = \"0/1h\"; } );\n",
	  "t.conf:1: types[0] (c).global_rate: \"0/1h\" is not a rate \"N/DURATION\" (e.g. \"10/1h\"; N 1 to 1000000)" },
	{ "tokend = { uid_request_rate = \"1000001/1s\"; };\n",
	  "t.conf:1: tokend.uid_request_rate: \"1000001/1s\" is not a rate \"N/DURATION\" (e.g. \"10/1h\"; N 1 to 1000000)" },

	/* lifetimes above their caps */
	{ "tokend = {\n  live_lifetime = \"2h\";\n};\n",
	  "t.conf:2: tokend.live_lifetime (2h) exceeds tokend.max_live_lifetime (1h, the default)" },
	{ "tokend = {\n  live_lifetime = \"2h\";\n  max_live_lifetime = 5400;\n};\n",
	  "t.conf:2: tokend.live_lifetime (2h) exceeds tokend.max_live_lifetime (90m)" },
	{ "tokend = {\n  max_live_lifetime = \"1m\";\n};\n",
	  "t.conf:2: tokend.live_lifetime (5m, the default) exceeds tokend.max_live_lifetime (1m)" },
	{ "tokend = {\n  persist_lifetime = \"61d\"; };\n",
	  "t.conf:2: tokend.persist_lifetime (61d) exceeds tokend.max_persist_lifetime (60d, the default)" },
	{ ACTORS "redeem = (\n  { holders = [ \"atd\" ];\n    live_lifetime = \"2h\"; } );\n",
	  "t.conf:4: redeem[0].live_lifetime (2h) exceeds tokend.max_live_lifetime (1h)" },
	{ "issue = ( { persist_lifetime = \"90d\"; } );\n",
	  "t.conf:1: issue[0].persist_lifetime (90d) exceeds tokend.max_persist_lifetime (60d)" },
	{ "issue = ( { live_lifetime = \"15m\"; } );\ntokend = { max_live_lifetime = \"10m\"; };\n",
	  "t.conf:1: issue[0].live_lifetime (15m) exceeds tokend.max_live_lifetime (10m)" },
	{ "redeem = ( { persist_lifetime = \"0\"; } );\n",
	  "t.conf:1: redeem[0].persist_lifetime must be at least 1 second" },
	{ "redeem = ( { max_outstanding = 2; } );\n",
	  "t.conf:1: redeem[0].max_outstanding is only valid in issue rules" },
	{ "issue = ( { max_outstanding = 0; } );\n",
	  "t.conf:1: issue[0].max_outstanding must be between 1 and 100000, not 0" },
	{ "redeem = ( { renew_from_redeemed = true; } );\n",
	  "t.conf:1: redeem[0].renew_from_redeemed is only valid in issue rules" },

	/* actors */
	{ "actors = (\n  { name = \"a\";\n    exe = [ \"/a\" ]; } );\n",
	  "t.conf:2: actors[0]: missing \"uid\"" },
	{ "actors = ( { uid = 0; exe = [ \"/a\" ]; } );\n",
	  "t.conf:1: actors[0]: missing \"name\"" },
	{ "actors = ( { name = \"a\"; uid = 0; } );\n", "t.conf:1: actors[0]: missing \"exe\"" },
	{ "actors = ( { name = \"a\"; uid = -1; exe = \"*\"; } );\n",
	  "t.conf:1: actors[0].uid must be between 0 and 4294967294, not -1" },
	{ "actors = ( { name = \"a\"; uid = 4294967295L; exe = \"*\"; } );\n",
	  "t.conf:1: actors[0].uid must be between 0 and 4294967294, not 4294967295" },
	{ "actors = ( { name = \"a\"; uid = 0; exe = [ \"usr/sbin/atd\" ]; } );\n",
	  "t.conf:1: actors[0].exe: \"usr/sbin/atd\" is not an absolute, normalized path or \"*\"" },
	{ "actors = ( { name = \"a\"; uid = 0; exe = [ \"/usr/sbin/./atd\" ]; } );\n",
	  "t.conf:1: actors[0].exe: \"/usr/sbin/./atd\" is not an absolute, normalized path or \"*\"" },
	{ "actors = ( { name = \"a\"; uid = 0; exe = [ ]; } );\n",
	  "t.conf:1: actors[0].exe must list at least one path (or \"*\")" },
	{ "actors = ( { name = \"a b\"; uid = 0; exe = \"*\"; } );\n",
	  "t.conf:1: actors[0].name: \"a b\" is not a valid name" },
	{ "actors = ( { name = \"*\"; uid = 0; exe = \"*\"; } );\n",
	  "t.conf:1: actors[0].name: \"*\" is not a valid name" },
	{ "actors = ( { name = \"self\"; uid = 0; exe = \"*\"; } );\n",
	  "t.conf:1: actors[0].name: \"self\" is reserved for the built-in actor" },
	{ "actors = ( { name = \"a\"; uid = 0; exe = \"*\"; services = [ \"-x\" ]; } );\n",
	  "t.conf:1: actors[0].services: \"-x\" is not a valid PAM service name or \"*\"" },
	{ "actors = (\n  { name = \"atd\"; uid = 0; exe = \"*\"; },\n  { name = \"atd\"; uid = 1; exe = \"*\"; } );\n",
	  "t.conf:3: duplicate actor name \"atd\" (first defined at t.conf:2)" },

	/* rules */
	{ ACTORS "issue = (\n  { actors = [ \"attd\" ]; } );\n",
	  "t.conf:3: issue[0].actors: unknown actor \"attd\" (did you mean \"atd\"?)" },
	{ ACTORS "issue = ( { actors = [ \"selff\" ]; } );\n",
	  "t.conf:2: issue[0].actors: unknown actor \"selff\" (did you mean \"self\"?)" },
	{ ACTORS "issue = ( { actors = [ \"login\" ]; } );\n",
	  "t.conf:2: issue[0].actors: unknown actor \"login\"" },
	{ "redeem = ( { actors = \"atd\"; } );\n",
	  "t.conf:1: redeem[0].actors: unknown actor \"atd\"" },
	{ ACTORS "redeem = ( { holders = [ \"atd\", \"cron\" ]; } );\n",
	  "t.conf:2: redeem[0].holders: unknown actor \"cron\"" },
	{ ACTORS "issue = ( { holders = [ \"self\" ]; } );\n",
	  "t.conf:2: issue[0].holders: \"self\" cannot be a holder (only a defined actor can redeem)" },
	{ "issue = ( { action = \"permit\"; } );\n",
	  "t.conf:1: issue[0].action must be \"allow\" or \"deny\", not \"permit\"" },
	{ "issue = ( { users = [ \"alice\", \"bob smith\" ]; } );\n",
	  "t.conf:1: issue[0].users: \"bob smith\" is not a valid user name or \"*\"" },
	{ "issue = ( { groups = [ \"\" ]; } );\n",
	  "t.conf:1: issue[0].groups: \"\" is not a valid group name or \"*\"" },
	{ "issue = ( { name = \"a:b\"; } );\n",
	  "t.conf:1: issue[0].name: \"a:b\" is not a valid name" },
	{ "redeem = (\n  { name = \"x\"; },\n  { name = \"x\"; } );\n",
	  "t.conf:3: duplicate rule name \"x\" in redeem (first at t.conf:2)" },
	{ "redeem = (\n  { },\n  { name = \"redeem[0]\"; } );\n",
	  "t.conf:3: duplicate rule name \"redeem[0]\" in redeem (first at t.conf:2)" },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		struct pt_config *cfg = SENTINEL;
		char err[512] = "";
		int r;

		r = pt_config_load_string(errors[i].text, "t.conf", &cfg, err, sizeof(err));
		if (r != -EINVAL || strcmp(err, errors[i].err) != 0)
			fail_msg("case %zu: r=%d\n  got:  %s\n  want: %s\n  text: %s", i, r, err,
				 errors[i].err, errors[i].text);
		assert_ptr_equal(cfg, SENTINEL); /* all or nothing: untouched */
	}
}

/* Comments, escapes and concatenation as libconfig reads them. */
static void test_lexical(void **state)
{
	struct pt_config *cfg =
		load_ok("tokend = {\n"
			"  # a \"comment\" with quotes\n"
			"  alg = \"Ed\" /* \"block\"\n \" */ \"DSA\"; // \"trailing\n"
			"  issuer = \"x\\\"y\\\\\";\n"
			"  audience = \"a\"\n\"b\", state_dir : \"/s\"\n"
			"};\n"
			"actors = ( { name = \"a\"; uid = 0; exe = [ \"/a\", \"/b\" ]; } );\n");
	char text[1024];
	char err[256];
	int r;

	assert_string_equal(cfg->alg, "EdDSA");
	assert_string_equal(cfg->issuer, "x\"y\\");
	assert_string_equal(cfg->audience, "ab");
	assert_string_equal(cfg->state_dir, "/s");
	assert_int_equal(cfg->actors[0].n_exe, 2);
	pt_config_free(cfg);

	/* nesting is bounded */
	memset(text, 0, sizeof(text));
	strcpy(text, "a = ");
	memset(text + 4, '(', 300);
	cfg = SENTINEL;
	r = pt_config_load_string(text, "t.conf", &cfg, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	assert_string_equal(err, "t.conf:1: nested too deeply (max 256 levels)");
	assert_ptr_equal(cfg, SENTINEL);
}

/* The same message for the same text, in any err buffer; NULL err is fine. */
static void test_error_buffers(void **state)
{
	struct pt_config *cfg = SENTINEL;
	char small[8];
	int r;

	r = pt_config_load_string("foo = 1;\n", "t.conf", &cfg, small, sizeof(small));
	assert_int_equal(r, -EINVAL);
	assert_string_equal(small, "t.conf:");
	r = pt_config_load_string("foo = 1;\n", "t.conf", &cfg, NULL, 0);
	assert_int_equal(r, -EINVAL);
	assert_ptr_equal(cfg, SENTINEL);
	r = pt_config_load_string(NULL, "t.conf", &cfg, NULL, 0);
	assert_int_equal(r, -EINVAL);
	pt_config_free(NULL);
}

/* ------------------------------------------------------------------ files */

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/pertok-test-config-XXXXXX", path[256], want[512], err[512];
	struct pt_config *cfg = SENTINEL;
	int r;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	r = pt_config_load(path, &cfg, err, sizeof(err));
	assert_int_equal(r, -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);

	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	write_file(path, "tokend = {\n  alg = \"none\";\n};\n", 30);
	r = pt_config_load(path, &cfg, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:2: tokend.alg must be \"EdDSA\" or \"Ed25519\", not \"none\"", path);
	assert_string_equal(err, want);
	unlink(path);

	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	write_file(path, "tokend = { };\n\0foo = 1;\n", 24);
	r = pt_config_load(path, &cfg, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	snprintf(want, sizeof(want), "%s: contains a NUL byte", path);
	assert_string_equal(err, want);
	unlink(path);

	snprintf(path, sizeof(path), "%s/good.conf", dir);
	write_file(path, ACTORS, strlen(ACTORS));
	r = pt_config_load(path, &cfg, err, sizeof(err));
	assert_int_equal(r, 0);
	assert_string_equal(cfg->path, path);
	assert_int_equal(cfg->n_actors, 1);
	pt_config_free(cfg);
	unlink(path);

	/* a directory is no config */
	cfg = SENTINEL;
	r = pt_config_load(dir, &cfg, err, sizeof(err));
	assert_true(r < 0);
	assert_ptr_equal(cfg, SENTINEL);
	snprintf(want, sizeof(want), "%s: ", dir);
	assert_true(strncmp(err, want, strlen(want)) == 0);

	assert_int_equal(rmdir(dir), 0);
}

/* seal { } of the tpm2 backend; 0x81000001 is a negative int to libconfig */
static void test_seal(void **state)
{
	struct pt_config *cfg;
	char err[512];

	(void)state;
	assert_int_equal(
		pt_config_load_string("seal = { backend = \"tpm2\"; tcti = "
				      "\"swtpm:host=127.0.0.1,port=2321\"; srk_handle = "
				      "0x81000002; persist_srk = false; pcrs = [ 7, 0, 23 ]; "
				      "};\n",
				      "t.conf", &cfg, err, sizeof(err)),
		0);
	assert_string_equal(cfg->seal_backend, "tpm2");
	assert_string_equal(cfg->seal_tcti, "swtpm:host=127.0.0.1,port=2321");
	assert_int_equal(cfg->seal_srk_handle, 0x81000002u);
	assert_false(cfg->seal_persist_srk);
	assert_int_equal(cfg->seal_pcr_mask, (1u << 7) | 1u | (1u << 23));
	pt_config_free(cfg);
	assert_int_equal(pt_config_load_string("seal = { backend = \"auto\"; };\n", "t.conf", &cfg,
					       err, sizeof(err)),
			 0);
	assert_string_equal(cfg->seal_backend, "auto");
	pt_config_free(cfg);
}

/* The one rate parser (confvalue.h), used by tokend { }, issue rules and types ( ). */
static void test_parse_rate(void **state)
{
	static const struct {
		const char *s;
		int r;
		uint32_t n;
		uint64_t period;
	} cases[] = {
		{ "10/1h", 0, 10, 3600 },
		{ "1/1", 0, 1, 1 },
		{ "020/90", 0, 20, 90 },
		{ "1000000/1s", 0, 1000000, 1 },
		{ "1/3650d", 0, 1, 3650 * 86400ULL },
		{ "1/3651d", -EINVAL, 0, 0 },
		{ "1000001/1s", -EINVAL, 0, 0 },
		{ "0/1h", -EINVAL, 0, 0 },
		{ "-1/1h", -EINVAL, 0, 0 },
		{ "+1/1h", -EINVAL, 0, 0 },
		{ " 1/1h", -EINVAL, 0, 0 },
		{ "1/0", -EINVAL, 0, 0 },
		{ "1/", -EINVAL, 0, 0 },
		{ "/1h", -EINVAL, 0, 0 },
		{ "10", -EINVAL, 0, 0 },
		{ "1/1h/2", -EINVAL, 0, 0 },
		{ "99999999999999999/1h", -EINVAL, 0, 0 },
		{ "4294967297/1h", -EINVAL, 0, 0 },
		{ "1/1y", -EINVAL, 0, 0 },
		{ "", -EINVAL, 0, 0 },
		{ NULL, -EINVAL, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t n = 7;
		uint64_t period = 7;
		int r = pt_parse_rate(cases[i].s, &n, &period);

		if (r != cases[i].r)
			fail_msg("pt_parse_rate(\"%s\") = %d, want %d",
				 cases[i].s ? cases[i].s : "(null)", r, cases[i].r);
		if (r == 0 && (n != cases[i].n || period != cases[i].period))
			fail_msg("pt_parse_rate(\"%s\") = %u/%llu", cases[i].s, n,
				 (unsigned long long)period);
		if (r < 0 && (n != 7 || period != 7))
			fail_msg("pt_parse_rate(\"%s\") wrote its outputs on failure", cases[i].s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal),	      cmocka_unit_test(test_reference_file),
		cmocka_unit_test(test_defaults),      cmocka_unit_test(test_values),
		cmocka_unit_test(test_durations),     cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_buffers), cmocka_unit_test(test_files),
		cmocka_unit_test(test_lexical),	      cmocka_unit_test(test_parse_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
