/* SPDX-License-Identifier: MIT */
/*
 * tokend.conf's drop-ins (tokend.conf.d/ *.conf) and token types
 * (types.d/NAME.conf, vendor and admin directories): order, override,
 * append, masking, and one golden "FILE:LINE: message" per error, each
 * in a temporary directory of real files (tokend/confdir.c, config.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../tokend/conf.h"
#include "tokentype.h"

static char top[200];		    /* the temporary directory */
static char conf[300], dropin[300]; /* top/tokend.conf, top/tokend.conf.d */
static char vendor[300], admin[300];

#define BASE                                                                    \
	"tokend = { live_lifetime = 300; };\n"                                  \
	"actors = ( { name = \"atd\"; uid = 0; exe = \"/usr/sbin/atd\"; } );\n" \
	"redeem = ( { name = \"main\"; actors = [ \"atd\" ]; users = [ \"*\" ]; } );\n"

static void put(const char *dir, const char *name, const char *text)
{
	char p[600];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	umask(022); /* files as an administrator's: group and others cannot write */
	snprintf(top, sizeof(top), "%.150s/pertok-confdir.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(top))
		return -1;
	snprintf(conf, sizeof(conf), "%s/tokend.conf", top);
	snprintf(dropin, sizeof(dropin), "%s/tokend.conf.d", top);
	snprintf(vendor, sizeof(vendor), "%s/vendor", top);
	snprintf(admin, sizeof(admin), "%s/types.d", top);
	if (mkdir(dropin, 0755) < 0 || mkdir(vendor, 0755) < 0 || mkdir(admin, 0755) < 0)
		return -1;
	put(top, "tokend.conf", BASE);
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : -1;
}

static int load(struct pt_config **cfg, char *err, size_t errlen)
{
	const struct pt_config_dirs d = { .dropin_dir = dropin,
					  .types_vendor_dir = vendor,
					  .types_admin_dir = admin };

	*cfg = NULL;
	err[0] = '\0';
	return pt_config_load_dirs(conf, &d, cfg, err, errlen);
}

static struct pt_config *load_ok(void)
{
	struct pt_config *cfg;
	char err[1024];

	if (load(&cfg, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	return cfg;
}

/* err must be "PATH:TAIL" with PATH = dir/name (dir "" for top) */
static void load_fails(const char *dir, const char *name, const char *tail)
{
	struct pt_config *cfg;
	char err[1024], want[1200];

	assert_int_equal(load(&cfg, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s/%s%s", dir, name, tail);
	assert_string_equal(err, want);
}

static void test_no_dirs(void **state)
{
	struct pt_config *cfg;

	rmdir(dropin);
	rmdir(vendor);
	rmdir(admin);
	cfg = load_ok();
	assert_int_equal(cfg->files.n, 1);
	assert_string_equal(cfg->files.path[0], conf);
	assert_string_equal(cfg->files.what[0], "config");
	assert_int_equal(cfg->n_redeem, 1);
	pt_config_free(cfg);
}

/* Lists append in the byte order of the file names; other names are not
 * read (a syntax error in them would show). */
static void test_order_and_append(void **state)
{
	struct pt_config *cfg;

	put(dropin, "20-b.conf", "redeem = ( { name = \"b\"; action = \"deny\"; } );\n");
	put(dropin, "10-a.conf",
	    "redeem = ( { name = \"a\"; action = \"deny\"; } );\n"
	    "actors = ( { name = \"cron\"; uid = 0; exe = \"/usr/sbin/cron\"; } );\n");
	put(dropin, "9-c.conf", "issue = ( { name = \"c\"; actors = [ \"cron\" ]; } );\n");
	put(dropin, "ignored.conf.dpkg-old", "syntax error here");
	put(dropin, ".hidden.conf", "syntax error here");
	put(dropin, "README", "syntax error here");
	cfg = load_ok();
	assert_int_equal(cfg->n_redeem, 3);
	assert_string_equal(cfg->redeem[0].name, "main");
	assert_string_equal(cfg->redeem[1].name, "a");
	assert_string_equal(cfg->redeem[2].name, "b");
	assert_int_equal(cfg->n_actors, 2);
	assert_string_equal(cfg->actors[1].name, "cron");
	assert_int_equal(cfg->n_issue, 1); /* 9-c after 20-b: "9" > "2" bytewise */
	assert_int_equal(cfg->files.n, 4);
	assert_true(strstr(cfg->files.path[1], "/10-a.conf") != NULL);
	assert_true(strstr(cfg->files.path[2], "/20-b.conf") != NULL);
	assert_true(strstr(cfg->files.path[3], "/9-c.conf") != NULL);
	assert_string_equal(cfg->files.what[3], "drop-in");
	pt_config_free(cfg);
}

/* A drop-in's setting replaces tokend.conf's; others are kept. */
static void test_override(void **state)
{
	struct pt_config *cfg;

	put(top, "tokend.conf", BASE "audit = { rotate_keep = 3; };\n");
	put(dropin, "50-local.conf",
	    "tokend = { live_lifetime = 600; };\n"
	    "audit = { refusal_burst = 7; };\n");
	cfg = load_ok();
	assert_int_equal(cfg->live_lifetime, 600);
	assert_int_equal(cfg->audit_rotate_keep, 3);
	assert_int_equal(cfg->audit_refusal_burst, 7);
	pt_config_free(cfg);
}

/* Two drop-ins setting the same setting: which wins would depend on file
 * names only; refused, naming both places. */
static void test_dropin_conflict_message(void **state)
{
	struct pt_config *cfg;
	char err[1024], want[1200];

	put(dropin, "50-a.conf", "tokend = {\n live_lifetime = 600; };\n");
	put(dropin, "60-b.conf", "\n\ntokend = { live_lifetime = 700; };\n");
	assert_int_equal(load(&cfg, err, sizeof(err)), -EINVAL);
	snprintf(
		want, sizeof(want),
		"%s/60-b.conf:3: tokend.live_lifetime is also set at %s/50-a.conf:2; set it in one "
		"drop-in",
		dropin, dropin);
	assert_string_equal(err, want);
}

/* Errors inside a drop-in name the drop-in and the line. */
static void test_dropin_errors(void **state)
{
	static const struct {
		const char *text, *tail;
	} t[] = {
		{ "tokend = {\n live_lifetim = 5; };\n",
		  ":2: unknown setting \"live_lifetim\" in tokend (did you mean \"live_lifetime\"?)" },
		{ "\nfoo = 1;\n", ":2: unknown top-level setting \"foo\"" },
		{ "actors = { };\n", ":1: actors must be a list ( ... ) in a drop-in too" },
		{ "tokend = ( );\n", ":1: tokend must be a group { ... } in a drop-in too" },
		{ "redeem = ( 1 );\n", ":1: redeem[0] must be a group { ... }" },
		{ "tokend = { live_lifetime = ; };\n", ":1: syntax error" },
		{ "@include \"/etc/shadow\"\n", ":1: @include is not supported" },
		{ "\nredeem = ( { name = \"main\"; action = \"deny\"; } );\n", NULL },
		{ "\nactors = ( { name = \"atd\"; uid = 0; exe = \"/bin/true\"; } );\n", NULL },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pt_config *cfg;
		char err[1024], want[1200];

		put(dropin, "50-x.conf", t[i].text);
		assert_int_equal(load(&cfg, err, sizeof(err)), -EINVAL);
		if (i == 7)
			snprintf(want, sizeof(want),
				 "%s/50-x.conf:2: duplicate rule name \"main\" in redeem (first at "
				 "%s:3)",
				 dropin, conf);
		else if (i == 8)
			snprintf(want, sizeof(want),
				 "%s/50-x.conf:2: duplicate actor name \"atd\" (first defined at "
				 "%s:2)",
				 dropin, conf);
		else
			snprintf(want, sizeof(want), "%s/50-x.conf%s", dropin, t[i].tail);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu:\n got  %s\n want %s", i, err, want);
	}
}

/* A FIFO (or any non-regular file) is refused at once, not read. */
static void test_dropin_fifo(void **state)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/50-fifo.conf", dropin);
	assert_int_equal(mkfifo(p, 0644), 0);
	load_fails(dropin, "50-fifo.conf", ": not a regular file");
}

/* Policy only from files and directories root alone can change: a
 * group-writable drop-in, a world-writable drop-in directory, a drop-in or
 * types.d file owned by another user are refused, naming the path. */
static void test_untrusted(void **state)
{
	struct pt_config *cfg;
	char err[1024], p[600], want[1200];

	(void)state;
	put(dropin, "50-x.conf", "redeem = ( { name = \"x\"; actors = [ \"atd\" ]; } );\n");
	snprintf(p, sizeof(p), "%s/50-x.conf", dropin);
	assert_int_equal(chmod(p, 0664), 0);
	assert_true(load(&cfg, err, sizeof(err)) < 0);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s: file writable by group or others (mode 0664): refused",
		 p);
	assert_string_equal(err, want);
	assert_int_equal(chmod(p, 0644), 0);
	pt_config_free(load_ok());

	assert_int_equal(chmod(dropin, 0777), 0);
	assert_true(load(&cfg, err, sizeof(err)) < 0);
	snprintf(want, sizeof(want),
		 "%s: directory writable by group or others (mode 0777): refused", dropin);
	assert_string_equal(err, want);
	assert_int_equal(chmod(dropin, 0755), 0);

	if (geteuid() == 0) {
		put(admin, "recovery.conf", "ttl = \"1h\";\n");
		snprintf(p, sizeof(p), "%s/recovery.conf", admin);
		assert_int_equal(chown(p, 65534, 65534), 0);
		assert_true(load(&cfg, err, sizeof(err)) < 0);
		snprintf(want, sizeof(want),
			 "%s: file owned by uid 65534, not root: refused (policy only root may "
			 "write)",
			 p);
		assert_string_equal(err, want);
	} else
		print_message("# not root: the other-owner case needs chown; skipped\n");
}

static void test_dropin_masked(void **state)
{
	struct pt_config *cfg;
	char p[600];

	snprintf(p, sizeof(p), "%s/50-x.conf", dropin);
	assert_int_equal(symlink("/dev/null", p), 0);
	cfg = load_ok();
	assert_int_equal(cfg->files.n, 2);
	assert_string_equal(cfg->files.what[1], "masked drop-in");
	pt_config_free(cfg);
}

#define CODE_TYPE "kind = \"code\";\nlength = 10;\n"

static void test_types_vendor_admin(void **state)
{
	struct pt_config *cfg;
	const struct pt_tokentype *t;
	char p[600];

	put(vendor, "recovery.conf", "kind = \"code\";\nlength = 12;\nnum_uses = 5;\n");
	put(vendor, "pin.conf", CODE_TYPE);
	put(vendor, "gone.conf", CODE_TYPE);
	put(vendor, "gone2.conf", CODE_TYPE);
	/* the admin's recovery replaces the vendor's entirely (no num_uses) */
	put(admin, "recovery.conf", "kind = \"code\";\nlength = 16;\n");
	put(admin, "local.conf", "name = \"local\";\n" CODE_TYPE);
	put(admin, "gone.conf", "");
	snprintf(p, sizeof(p), "%s/gone2.conf", admin);
	assert_int_equal(symlink("/dev/null", p), 0);
	cfg = load_ok();
	t = pt_ttype_find(cfg->types, cfg->n_types, "recovery");
	assert_non_null(t);
	assert_int_equal(t->min_len, 16);
	assert_int_equal(t->num_uses, 1); /* the default, not the vendor's 5 */
	assert_non_null(pt_ttype_find(cfg->types, cfg->n_types, "pin"));
	assert_non_null(pt_ttype_find(cfg->types, cfg->n_types, "local"));
	assert_null(pt_ttype_find(cfg->types, cfg->n_types, "gone"));
	assert_null(pt_ttype_find(cfg->types, cfg->n_types, "gone2"));
	assert_non_null(pt_ttype_find(cfg->types, cfg->n_types, "live"));
	/* files in name order, each from where it was taken */
	assert_int_equal(cfg->files.n, 6);
	snprintf(p, sizeof(p), "%s/gone.conf", admin);
	assert_string_equal(cfg->files.path[1], p);
	assert_string_equal(cfg->files.what[1], "masked type");
	snprintf(p, sizeof(p), "%s/gone2.conf", admin);
	assert_string_equal(cfg->files.path[2], p);
	assert_string_equal(cfg->files.what[2], "masked type");
	snprintf(p, sizeof(p), "%s/local.conf", admin);
	assert_string_equal(cfg->files.path[3], p);
	snprintf(p, sizeof(p), "%s/pin.conf", vendor);
	assert_string_equal(cfg->files.path[4], p);
	assert_string_equal(cfg->files.what[4], "type");
	snprintf(p, sizeof(p), "%s/recovery.conf", admin);
	assert_string_equal(cfg->files.path[5], p);
	pt_config_free(cfg);
}

static void test_types_errors(void **state)
{
	struct pt_config *cfg;

	put(vendor, "pin.conf", "kind = \"code\";\n\nlength = 2000;\n");
	load_fails(vendor, "pin.conf",
		   ":3: types[0] (pin).length must be between 1 and 256, not 2000");
	/* the admin's file replaces the broken one */
	put(admin, "pin.conf", CODE_TYPE);
	cfg = load_ok();
	pt_config_free(cfg);
	put(admin, "pin.conf", "name = \"other\";\n" CODE_TYPE);
	load_fails(admin, "pin.conf", ":1: name must be \"pin\", the file's name, or left out");
	put(admin, "pin.conf", CODE_TYPE);
	put(admin, "live.conf", "ttl = 5;\n");
	load_fails(admin, "live.conf", ": live is a built-in type: set its ttl in tokend.conf");
}

static void test_type_in_both(void **state)
{
	struct pt_config *cfg;
	char err[1024], want[1200];

	put(top, "tokend.conf",
	    BASE "types = ( { name = \"pin\"; kind = \"code\"; length = 8; } );\n");
	put(vendor, "pin.conf", CODE_TYPE);
	assert_int_equal(load(&cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s/pin.conf:1: types[1]: a type named \"pin\" is already defined at %s:4", vendor,
		 conf);
	assert_string_equal(err, want);
}

static void test_bad_type_name(void **state)
{
	put(admin, "no spaces.conf", CODE_TYPE);
	load_fails(admin, "no spaces.conf", ": \"no spaces\" is not a valid type name");
}

/* pt_config_load: PATH.d and the types.d next to PATH. */
static void test_default_dirs(void **state)
{
	struct pt_config *cfg = NULL;
	char err[1024];

	put(dropin, "50-a.conf", "tokend = { live_lifetime = 900; };\n");
	put(admin, "pin.conf", CODE_TYPE);
	assert_int_equal(pt_config_load(conf, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->live_lifetime, 900);
	assert_non_null(pt_ttype_find(cfg->types, cfg->n_types, "pin"));
	pt_config_free(cfg);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_no_dirs),       T(test_order_and_append),
		T(test_override),      T(test_dropin_conflict_message),
		T(test_dropin_errors), T(test_dropin_fifo),
		T(test_dropin_masked), T(test_types_vendor_admin),
		T(test_types_errors),  T(test_type_in_both),
		T(test_bad_type_name), T(test_default_dirs),
		T(test_untrusted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
