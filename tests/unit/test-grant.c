/* SPDX-License-Identifier: MIT */
/*
 * Grants without a daemon (issue 11): the record's text form and its strict
 * parser, the grants ( ) config, and pt_grant_decide (each refusal with its
 * field and reason), pt_grant_consume, revocation of a parent, running uses
 * ended by a revoke, the sealed file across a reopen and a rewrap.
 */
#include "conf.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "account.h"
#include "daemon-state.h"
#include "grant-internal.h"
#include "util.h"

static char dir[] = "/tmp/pertok-grant-unit.XXXXXX";
static struct pt_daemon d;
static uint8_t key[PT_STORE_KEYLEN];
static uint64_t fake_now = 1800000000; /* 2027-01-15 */

static uint64_t clock_fake(void)
{
	return fake_now;
}

static const char conf_fmt[] =
	"tokend: { state_dir = \"%s\"; };\n"
	"seal: { backend = \"software\"; };\n"
	"audit: { file = \"%s/audit.log\"; };\n"
	"grant: { max_per_user = 50; };\n"
	"grants = ( { name = \"ops\"; users = [ \"alice\" ]; servicers = [ \"svc\" ];\n"
	"             commands = [ \"/bin/echo\", \"/usr/bin/*\" ]; max_window = \"30d\";\n"
	"             max_uses = 10; max_depth = 2; } );\n";

static uint8_t digest_a[32], digest_b[32];

/* A grant of alice's to svc (uid 2000) for /bin/echo with args. */
static struct pt_grant *mk(const char *const *args, size_t n, bool prefix)
{
	struct pt_grant *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	assert_int_equal(pt_grant_new_id("gr_", g->id), 0);
	g->origin = strdup("alice");
	g->origin_uid = 1000;
	g->servicer = strdup("svc");
	g->servicer_uid = 2000;
	g->cmds = calloc(1, sizeof(*g->cmds));
	g->n_cmds = 1;
	g->cmds[0].path = strdup("/bin/echo");
	memcpy(g->cmds[0].sha256, digest_a, 32);
	g->cmds[0].argv = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		g->cmds[0].argv[i] = strdup(args[i]);
	g->cmds[0].n_argv = n;
	g->cmds[0].argv_prefix = prefix;
	g->not_before = fake_now - 10;
	g->not_after = fake_now + 86400;
	g->max_uses = 2;
	g->depth = 1;
	g->created = fake_now - 10;
	return g;
}

static struct pt_grant *add(struct pt_grant *g)
{
	assert_int_equal(pt_grants_add(d.grants, d.storekey, g), 0);
	return g;
}

static int setup(void **state)
{
	char conf[1024];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), conf_fmt, dir, dir);
	memset(&d, 0, sizeof(d));
	if (ut_daemon_open(&d, conf, dir, key) < 0)
		return -1;
	d.clock = clock_fake;
	memset(digest_a, 0xa1, 32);
	memset(digest_b, 0xb2, 32);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	ut_daemon_close(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int decide(const struct pt_grant *g, uid_t uid, char *const *argv, size_t n,
		  const uint8_t *digest, uint64_t now, char *rule, char *reason)
{
	return pt_grant_decide(&d, g, uid, NULL, NULL, "alice", argv, n, digest, now, rule, 128,
			       reason, 256);
}

static void test_decide(void **state)
{
	static const char *const args[] = { "hello", "world" };
	struct pt_grant *g = add(mk(args, 2, false));
	char *ok[] = { "/bin/echo", "hello", "world" };
	char *other_cmd[] = { "/bin/cat", "hello", "world" };
	char *other_argv[] = { "/bin/echo", "hello", "moon" };
	char *more_argv[] = { "/bin/echo", "hello", "world", "again" };
	char rule[128], reason[256];

	(void)state;
	assert_int_equal(decide(g, 2000, ok, 3, digest_a, fake_now, rule, reason), 0);
	assert_string_equal(rule, "ops");

	assert_int_equal(decide(g, 2000, other_cmd, 3, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.cmd");
	assert_non_null(strstr(reason, "/bin/cat is not in grant"));

	assert_int_equal(decide(g, 2000, other_argv, 3, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.argv");
	assert_non_null(strstr(reason, "argument 2 differs"));

	assert_int_equal(decide(g, 2000, more_argv, 4, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.argv");
	assert_non_null(strstr(reason, "exactly 2 argument"));

	assert_int_equal(decide(g, 2000, ok, 3, digest_b, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.sha256");
	assert_non_null(strstr(reason, "sha256 of /bin/echo changed"));

	assert_int_equal(decide(g, 2001, ok, 3, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.servicer");

	assert_int_equal(pt_grant_decide(&d, g, 2000, NULL, NULL, "bob", ok, 3, digest_a, fake_now,
					 rule, 128, reason, 256),
			 -EACCES);
	assert_string_equal(rule, "grant.origin");

	assert_int_equal(decide(g, 2000, ok, 3, digest_a, fake_now - 3600, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.not_before");
	assert_int_equal(decide(g, 2000, ok, 3, digest_a, fake_now + 86400, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.not_after");
	assert_non_null(strstr(reason, "expired"));
}

static void test_prefix(void **state)
{
	static const char *const args[] = { "-n" };
	struct pt_grant *g = add(mk(args, 1, true));
	char *ok[] = { "/bin/echo", "-n", "anything", "else" };
	char *bad[] = { "/bin/echo", "-e", "x" };
	char *none[] = { "/bin/echo" };
	char rule[128], reason[256];

	(void)state;
	assert_int_equal(decide(g, 2000, ok, 4, digest_a, fake_now, rule, reason), 0);
	assert_int_equal(decide(g, 2000, bad, 3, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.argv");
	assert_non_null(strstr(reason, "prefix"));
	assert_int_equal(decide(g, 2000, none, 1, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.argv");
}

static void test_hours(void **state)
{
	struct pt_grant *g = mk(NULL, 0, false);
	char *ok[] = { "/bin/echo" };
	char rule[128], reason[256];
	time_t t = (time_t)fake_now;
	struct tm tm;
	unsigned h;

	(void)state;
	assert_non_null(localtime_r(&t, &tm));
	h = (unsigned)tm.tm_hour;
	g->has_hours = true;
	g->hours_from = (uint8_t)((h + 1) % 24); /* an hour that is not now */
	g->hours_to = (uint8_t)((h + 2) % 24);
	add(g);
	assert_int_equal(decide(g, 2000, ok, 1, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.hours");
	g->hours_from = (uint8_t)h; /* now */
	assert_int_equal(decide(g, 2000, ok, 1, digest_a, fake_now, rule, reason), 0);
}

static void test_uses_and_consume(void **state)
{
	struct pt_grant *g = add(mk(NULL, 0, false));
	char *ok[] = { "/bin/echo" };
	char rule[128], reason[256];
	struct pt_grants *re = NULL;
	char err[256];

	(void)state;
	assert_int_equal(pt_grant_consume(&d, g, fake_now), 0);
	assert_int_equal(pt_grant_consume(&d, g, fake_now), 0);
	assert_int_equal(g->uses, 2);
	assert_int_equal(pt_grant_consume(&d, g, fake_now), -EDQUOT);
	assert_int_equal(decide(g, 2000, ok, 1, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.uses");
	assert_non_null(strstr(reason, "no use left"));
	/* the uses are on disk */
	assert_int_equal(pt_grants_open(dir, key, &re, err, sizeof(err)), 0);
	assert_int_equal(pt_grants_find(re, g->id, PT_GRANT_KIND_GRANT)->uses, 2);
	pt_grants_free(re);
}

static int killed;
static void kill_cb(void *ctx)
{
	killed += *(int *)ctx;
}

static void test_parent_revoked(void **state)
{
	struct pt_grant *p = add(mk(NULL, 0, false)), *c = mk(NULL, 0, false);
	char *ok[] = { "/bin/echo" };
	char rule[128], reason[256];
	uint64_t h1, h2;
	int one = 1;

	(void)state;
	memcpy(c->parent, p->id, PT_ID_LEN);
	c->depth = 0;
	add(c);
	assert_int_equal(decide(c, 2000, ok, 1, digest_a, fake_now, rule, reason), 0);
	/* a use of the child counts on the parent */
	assert_int_equal(pt_grant_consume(&d, c, fake_now), 0);
	assert_int_equal(p->uses, 1);
	killed = 0;
	assert_int_equal(pt_grant_running_add(&d, c->id, kill_cb, &one, &h1), 0);
	assert_int_equal(pt_grant_running_add(&d, c->id, kill_cb, &one, &h2), 0);
	pt_grant_running_remove(&d, h2);
	assert_int_equal(pt_grant_revoke(&d, p), 0);
	assert_int_equal(killed, 1); /* the child's one running use was ended */
	assert_int_equal(decide(c, 2000, ok, 1, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.parent");
	assert_non_null(strstr(reason, "is revoked"));
	assert_int_equal(decide(p, 2000, ok, 1, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "grant.revoked");
}

static void test_late_policy(void **state)
{
	struct pt_grant *g = add(mk(NULL, 0, false));
	char *ok[] = { "/bin/echo" };
	char rule[128], reason[256], err[512];
	struct pt_config *cfg = NULL, *old = d.cfg;

	(void)state;
	assert_int_equal(pt_config_load_string("grants = ( { name = \"x\"; users = [ \"alice\" ];\n"
					       "  servicers = [ \"svc\" ];\n"
					       "  commands = [ \"/usr/bin/*\" ]; } );\n",
					       "t", &cfg, err, sizeof(err)),
			 0);
	d.cfg = cfg;
	assert_int_equal(decide(g, 2000, ok, 1, digest_a, fake_now, rule, reason), -EACCES);
	assert_string_equal(rule, "x");
	assert_non_null(strstr(reason, "policy no longer allows it"));
	d.cfg = old;
	pt_config_free(cfg);
}

static void test_record_roundtrip(void **state)
{
	static const char *const args[] = { "a b", "%x\n", "" };
	struct pt_grant *g = mk(args, 3, true), *back = NULL;
	char *text = NULL, *text2 = NULL, err[256];
	size_t len = 0, len2 = 0;

	(void)state;
	g->servicer_exe = strdup("/usr/sbin/svc daemon");
	g->has_hours = true;
	g->hours_from = 22;
	g->hours_to = 5;
	assert_int_equal(pt_grant_format(g, &text, &len), 0);
	assert_int_equal(pt_grant_parse(text, len, &back, err, sizeof(err)), 0);
	assert_int_equal(pt_grant_format(back, &text2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(text, text2, len);
	assert_string_equal(back->cmds[0].argv[1], "%x\n");
	assert_string_equal(back->cmds[0].argv[2], "");
	assert_string_equal(back->servicer_exe, "/usr/sbin/svc daemon");
	free(text);
	free(text2);
	pt_grant_free(back);
	pt_grant_free(g);
}

static void expect_bad(const char *text, const char *msg)
{
	struct pt_grant *g = NULL;
	char err[256];

	assert_int_equal(pt_grant_parse(text, strlen(text), &g, err, sizeof(err)), -EBADMSG);
	assert_null(g);
	if (!strstr(err, msg))
		fail_msg("\"%s\" does not say \"%s\"", err, msg);
}

#define HEAD "version=1\nkind=grant\nid=gr_AAAAAAAAAAAAAAAAAAAAAA\norigin=alice\norigin_uid=1\n"
#define SERV "servicer=svc\nservicer_uid=2\n"
#define CMD                      \
	"cmd=/bin/echo\nsha256=" \
	"0000000000000000000000000000000000000000000000000000000000000000\nprefix=0\n"
#define TAIL                                                                                 \
	"not_before=1\nnot_after=2\nmax_uses=1\nuses=0\nmax_runtime=0\ndepth=0\nrevoked=0\n" \
	"created=1\n"

static void test_record_strict(void **state)
{
	struct pt_grant *g = NULL;
	char err[256];

	(void)state;
	assert_int_equal(pt_grant_parse(HEAD SERV CMD TAIL, strlen(HEAD SERV CMD TAIL), &g, err,
					sizeof(err)),
			 0);
	pt_grant_free(g);
	expect_bad("version=2\n", "version");
	expect_bad(HEAD SERV TAIL, "not_before out of place");
	expect_bad(HEAD SERV CMD "arg=a b\n" TAIL, "unescaped");
	expect_bad(HEAD SERV CMD "arg=%4\n" TAIL, "truncated");
	expect_bad(HEAD SERV CMD "arg=%00\n" TAIL, "NUL");
	expect_bad(HEAD SERV CMD TAIL "expires=3\n", "only a request has expires");
	expect_bad(HEAD "origin=bob\n" SERV CMD TAIL, "origin out of place");
	expect_bad(HEAD SERV "cmd=bin/echo\n", "not an absolute path");
	expect_bad(HEAD SERV CMD "hours=25-01\n" TAIL, "out of place");
	expect_bad(HEAD SERV CMD "not_before=1\nnot_after=2\nhours=05-05\n", "hours must be");
	expect_bad(HEAD SERV CMD "not_before=3\nnot_after=2\nmax_uses=1\nuses=0\nmax_runtime=0\n"
				 "depth=0\nrevoked=0\ncreated=1\n",
		   "not_after is before");
	expect_bad(HEAD SERV CMD TAIL "bogus=1\n", "unknown key");
	expect_bad(HEAD SERV CMD "not_before=x\n", "not a number");
	expect_bad(HEAD SERV CMD, "ends before created");
	expect_bad("version=1", "newline");
}

/* Confinement in the record: written only when set (an old record, without
 * the keys, still loads unconfined), read back, strictly checked. */
static void test_record_confinement(void **state)
{
	struct pt_grant *g = mk(NULL, 0, true), *back = NULL;
	char *text = NULL, err[256];
	size_t len = 0;

	(void)state;
	/* an old record (no no_network=, read=, write=): loads, unconfined */
	assert_int_equal(pt_grant_parse(HEAD SERV CMD TAIL, strlen(HEAD SERV CMD TAIL), &back, err,
					sizeof(err)),
			 0);
	assert_false(back->no_network);
	assert_int_equal(back->n_paths, 0);
	pt_grant_free(back);
	back = NULL;
	g->no_network = true;
	g->paths[0] = strdup("/srv/in put");
	g->paths[1] = strdup("/srv/out");
	g->paths[2] = strdup("/etc/hosts");
	g->path_write[1] = true;
	g->n_paths = 3;
	assert_int_equal(pt_grant_format(g, &text, &len), 0);
	assert_non_null(strstr(text, "no_network=1\nread=/srv/in%20put\nwrite=/srv/out\n"
				     "read=/etc/hosts\n"));
	assert_int_equal(pt_grant_parse(text, len, &back, err, sizeof(err)), 0);
	assert_true(back->no_network);
	assert_int_equal(back->n_paths, 3);
	assert_string_equal(back->paths[0], "/srv/in put");
	assert_false(back->path_write[0]);
	assert_true(back->path_write[1]);
	assert_string_equal(back->paths[2], "/etc/hosts");
	free(text);
	pt_grant_free(back);
	pt_grant_free(g);
#define MID "not_before=1\nnot_after=2\nmax_uses=1\nuses=0\nmax_runtime=0\ndepth=0\n"
#define END "revoked=0\ncreated=1\n"
	expect_bad(HEAD SERV CMD MID "no_network=0\n" END, "no_network must be 1");
	expect_bad(HEAD SERV CMD MID "read=etc\n" END, "read: not an absolute path");
	expect_bad(HEAD SERV CMD MID "write=x/y\n" END, "write: not an absolute path");
	expect_bad(HEAD SERV CMD MID "read=/a\nno_network=1\n" END, "out of place");
	expect_bad(HEAD SERV CMD MID
		   "read=/1\nread=/2\nread=/3\nread=/4\nread=/5\nread=/6\nread=/7\nread=/8\n"
		   "read=/9\nread=/10\nread=/11\nread=/12\nread=/13\nread=/14\nread=/15\n"
		   "read=/16\nread=/17\n" END,
		   "more than 16 read/write paths");
#undef MID
#undef END
}

/* Delegation only narrows confinement: no_network stays, paths stay and
 * may only shrink (a read path under a read or write one, a write path
 * under a write one). */
static void test_subset_confinement(void **state)
{
	struct pt_grant *p = mk(NULL, 0, true), *c = mk(NULL, 0, true);
	char reason[256];

	(void)state;
	p->max_uses = c->max_uses = 2;
	c->depth = 0;
	assert_true(pt_grant_subset(p, c, reason, sizeof(reason)));
	/* a child may add confinement */
	c->no_network = true;
	c->paths[0] = strdup("/srv/data");
	c->n_paths = 1;
	assert_true(pt_grant_subset(p, c, reason, sizeof(reason)));
	/* never drop no_network */
	p->no_network = true;
	c->no_network = false;
	assert_false(pt_grant_subset(p, c, reason, sizeof(reason)));
	assert_non_null(strstr(reason, "no-network"));
	c->no_network = true;
	/* never drop the paths */
	p->paths[0] = strdup("/srv");
	p->n_paths = 1;
	assert_true(pt_grant_subset(p, c, reason, sizeof(reason)));
	free(c->paths[0]);
	c->paths[0] = NULL;
	c->n_paths = 0;
	assert_false(pt_grant_subset(p, c, reason, sizeof(reason)));
	assert_non_null(strstr(reason, "confines the command to paths"));
	/* not widen: outside, a sibling prefix, "..", write under read */
	static const char *const bad[] = { "/etc", "/srvx", "/srv/../etc", "/srv/a/.." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		free(c->paths[0]);
		c->paths[0] = strdup(bad[i]);
		c->n_paths = 1;
		assert_false(pt_grant_subset(p, c, reason, sizeof(reason)));
		assert_non_null(strstr(reason, "is not within the grant's paths"));
	}
	free(c->paths[0]);
	c->paths[0] = strdup("/srv/a");
	c->path_write[0] = true;
	assert_false(pt_grant_subset(p, c, reason, sizeof(reason)));
	assert_non_null(strstr(reason, "write path /srv/a"));
	p->path_write[0] = true;
	assert_true(pt_grant_subset(p, c, reason, sizeof(reason)));
	pt_grant_free(p);
	pt_grant_free(c);
}

static void test_file_reopen_and_rewrap(void **state)
{
	struct pt_grant *g = add(mk(NULL, 0, false));
	struct pt_grants *re = NULL;
	uint8_t key2[PT_STORE_KEYLEN];
	char sub[128], err[256];

	(void)state;
	assert_int_equal(pt_grants_open(dir, key, &re, err, sizeof(err)), 0);
	assert_non_null(pt_grants_find(re, g->id, PT_GRANT_KIND_GRANT));
	pt_grants_free(re);
	re = NULL;
	/* another key: refused, precisely */
	memset(key2, 9, sizeof(key2));
	assert_int_equal(pt_grants_open(dir, key2, &re, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "does not open under the store key"));
	/* rewrapped into another directory under key2 */
	snprintf(sub, sizeof(sub), "%s/gen-1", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(pt_grants_rewrap(d.grants, sub, key2), 0);
	assert_int_equal(pt_grants_open(sub, key2, &re, err, sizeof(err)), 0);
	assert_int_equal(pt_grants_count(re), pt_grants_count(d.grants));
	assert_non_null(pt_grants_find(re, g->id, PT_GRANT_KIND_GRANT));
	pt_grants_free(re);
}

static int fake_lookup(const char *user, struct pt_account **ret)
{
	struct pt_account *a;

	if (strcmp(user, "alice") != 0 && strcmp(user, "svc") != 0)
		return -ENOENT;
	a = calloc(1, sizeof(*a));
	assert_non_null(a);
	a->user = strdup(user);
	a->uid = strcmp(user, "alice") == 0 ? 1000 : 2000;
	a->gid = a->uid;
	*ret = a;
	return 0;
}

/* pt_grant_create (also the SSH-signed path's): checks the rules, pins the
 * file's digest itself (whatever the request says), stores, audits. */
static void test_create_api(void **state)
{
	struct pt_grant *req = mk(NULL, 0, false), *g;
	char id[PT_ID_LEN], reason[256];
	uint8_t want[32];
	char *audit;
	char path[300];

	(void)state;
	d.account_lookup = fake_lookup;
	memset(req->cmds[0].sha256, 0x55, 32); /* a client's claim: ignored */
	req->not_before = 0;
	req->not_after = fake_now + 3600;
	req->max_uses = 3;
	assert_int_equal(pt_grant_create(&d, "alice", req, fake_now, id, reason, sizeof(reason)),
			 0);
	g = pt_grant_find(&d, id);
	assert_non_null(g);
	assert_int_equal(pt_grant_file_digest("/bin/echo", 1u << 30, want), 0);
	assert_memory_equal(g->cmds[0].sha256, want, 32);
	assert_int_equal(g->origin_uid, 1000);
	assert_int_equal(g->servicer_uid, 2000);
	assert_int_equal(g->uses, 0);
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	audit = NULL;
	{
		FILE *f = fopen(path, "r");
		char buf[65536];
		size_t n;

		assert_non_null(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		audit = strstr(buf, "\"grant.create\"");
		assert_non_null(audit);
		assert_non_null(strstr(buf, id));
	}
	/* a command file beyond grant.max_command_size is never hashed */
	{
		uint64_t saved = d.cfg->grant_max_command_size;

		d.cfg->grant_max_command_size = 4096; /* /bin/echo is bigger */
		assert_int_equal(
			pt_grant_create(&d, "alice", req, fake_now, id, reason, sizeof(reason)),
			-EACCES);
		assert_non_null(strstr(reason, "/bin/echo is larger than 4096 bytes "
					       "(grant.max_command_size)"));
		assert_int_equal(pt_grant_file_digest("/bin/echo", 4096, want), -EFBIG);
		d.cfg->grant_max_command_size = saved;
	}
	/* a command no rule allows */
	free(req->cmds[0].path);
	req->cmds[0].path = strdup("/bin/cat");
	assert_int_equal(pt_grant_create(&d, "alice", req, fake_now, id, reason, sizeof(reason)),
			 -EACCES);
	assert_non_null(strstr(reason, "command /bin/cat is not allowed"));
	/* nobody grants in the name of a user no rule names */
	free(req->servicer);
	req->servicer = strdup("alice");
	assert_int_equal(pt_grant_create(&d, "svc", req, fake_now, id, reason, sizeof(reason)),
			 -EACCES);
	assert_non_null(strstr(reason, "no grants rule lets user svc"));
	pt_grant_free(req);
	d.account_lookup = NULL;
}

static void test_config(void **state)
{
	struct pt_config *cfg = NULL;
	char err[512];

	(void)state;
	assert_int_equal(pt_config_load_string("grant: { max_per_user = 3; request_ttl = \"2d\"; "
					       "max_pending_per_servicer = 4; };\n",
					       "t", &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg->grant_max_per_user, 3);
	assert_int_equal(cfg->grant_max_pending, 4);
	assert_int_equal(cfg->grant_request_ttl, 2 * 86400);
	assert_int_equal(cfg->grant_max_command_size, 64ull * 1024 * 1024); /* default */
	pt_config_free(cfg);
	cfg = NULL;
	assert_int_equal(pt_config_load_string("grant: { max_command_size = \"1M\"; };\n", "t",
					       &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg->grant_max_command_size, 1024 * 1024);
	assert_int_equal(cfg->n_grant_rules, 0); /* deny by default */
	pt_config_free(cfg);
	cfg = NULL;
	assert_int_equal(pt_config_load_string("grant: { max_per_usr = 3; };\n", "t", &cfg, err,
					       sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "max_per_user"));
	assert_int_equal(
		pt_config_load_string("grants = ( { users = [ \"a\" ]; servicers = [ \"b\" ];\n"
				      " commands = [ \"bin/x\" ]; } );\n",
				      "t", &cfg, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "t:2:"));
	assert_int_equal(pt_config_load_string(
				 "grants = ( { users = [ \"a\" ]; servicers = [ \"b\" ]; } );\n",
				 "t", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "\"commands\" must list"));
	assert_int_equal(
		pt_config_load_string("grants = ( { users = [ \"a\" ]; servicers = [ \"b\" ];\n"
				      " commands = [ \"*\" ]; max_depth = 17; } );\n",
				      "t", &cfg, err, sizeof(err)),
		-EINVAL);
	assert_true(pt_grant_command_allowed("/usr/bin/*", "/usr/bin/rsync"));
	assert_false(pt_grant_command_allowed("/usr/bin/*", "/usr/bin/x/y"));
	assert_false(pt_grant_command_allowed("/usr/bin/*", "/usr/bin/"));
	assert_false(pt_grant_command_allowed("/bin/echo", "/bin/echo2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_hours),
		cmocka_unit_test(test_uses_and_consume),
		cmocka_unit_test(test_parent_revoked),
		cmocka_unit_test(test_late_policy),
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_strict),
		cmocka_unit_test(test_record_confinement),
		cmocka_unit_test(test_subset_confinement),
		cmocka_unit_test(test_file_reopen_and_rewrap),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_create_api),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
