/* SPDX-License-Identifier: MIT */
/*
 * Grants (issue 11) against a real tokend over its socket, with four
 * unprivileged users created in a private mount namespace (alice the
 * origin, svc and svc2 servicers, eve anybody else):
 * - only the user acted as creates a grant (another uid, root: refused);
 * - the admin's caps (servicer, command, window, uses, depth) with their
 *   precise messages; the per-user grant cap; the per-servicer pending cap;
 * - request -> approve (the proposal) -> the grant exists; request -> deny;
 *   a request lapses unanswered; the servicer cannot answer its own request,
 *   nor can another user;
 * - delegation: the subset rule, depth decreases, depth 0 refused, origin
 *   unchanged, only the current servicer delegates;
 * - revoke by the origin and by root; a revoked parent makes the child
 *   refused (explain act-as, which runs pt_grant_decide); a changed file is
 *   refused; pertokctl explain act-as exits 0 on allow, 1 on deny;
 * - grants survive a restart and a key rotation.
 * Needs root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "connlib.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

enum {
	ALICE,
	SVC,
	SVC2,
	EVE,
	N_USERS
};
static const char *const names[N_USERS] = { "pertok-gr-alice", "pertok-gr-svc", "pertok-gr-svc2",
					    "pertok-gr-eve" };
static uid_t uids[N_USERS];
static char tool[PATH_MAX]; /* a copy of /bin/echo in th.dir/bin */
static unsigned n_state;

/* What a call made as another uid came back with (shared with the child). */
struct result {
	int rc;
	uint8_t type;
	uint32_t err;
	uint32_t count;
	char id[64];
	char msg[512];
	char text[16384];
};
static struct result *res;

static void write_conf(const char *extra)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state-%u\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"grant: { max_per_user = 4; max_pending_per_servicer = 2; %s };\n"
		"grants = ( { name = \"ops\"; users = [ \"%s\" ]; servicers = [ \"%s\", \"%s\" ];\n"
		"             commands = [ \"/bin/echo\", \"%s/bin/*\" ]; max_window = \"30d\";\n"
		"             max_uses = 10; max_depth = 2; max_runtime = \"2h\"; } );\n",
		th.sock, th.dir, n_state, th.self_exe, extra ? extra : "", names[ALICE], names[SVC],
		names[SVC2], th.dir);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	n_state++; /* each test its own state */
	write_conf(NULL);
	th_start();
	return 0;
}

static int teardown(void **state)
{
	char bad[512];

	(void)state;
	kill_children();
	th_stop(SIGTERM);
	/* every grant decision logged in tokend(8)'s one-line form */
	if (th_check_log_form(bad, sizeof(bad)) > 0) {
		print_error("a tokend log line not in tokend(8)'s form:\n%s\n", bad);
		return -1;
	}
	return 0;
}

struct call_arg {
	const struct pt_req *req;
};

static int do_call(void *arg)
{
	const struct call_arg *a = arg;
	struct pt_rep rep;

	memset(res, 0, sizeof(*res));
	res->rc = th_call(a->req, &rep);
	if (res->rc < 0)
		return 1;
	res->type = rep.type;
	res->err = rep.err_code;
	res->count = rep.count;
	snprintf(res->id, sizeof(res->id), "%s", rep.id ? rep.id : "");
	snprintf(res->msg, sizeof(res->msg), "%s", rep.message ? rep.message : "");
	snprintf(res->text, sizeof(res->text), "%s", rep.text ? rep.text : "");
	pt_rep_clear(&rep);
	return 0;
}

/* req as user u (or as root: u = -1); the reply in *res. */
static void call(int u, const struct pt_req *req)
{
	struct call_arg a = { req };

	if (u < 0) {
		assert_int_equal(do_call(&a), 0);
		return;
	}
	assert_int_equal(wait_child(spawn_as(uids[u], do_call, &a), 10000), 0);
	assert_int_equal(res->rc, 0);
}

static void expect_ok(void)
{
	if (res->type != PT_OK)
		fail_msg("refused: %u %s", res->err, res->msg);
}

static void expect_err(uint32_t code, const char *msg)
{
	if (res->type != PT_ERR || res->err != code || !strstr(res->msg, msg))
		fail_msg("expected error %u \"%s\", got type %u err %u \"%s\"", code, msg,
			 res->type, res->err, res->msg);
}

/* A scope: one command with args; lifetime in s; uses; depth. */
struct scope {
	struct pt_grant_spec spec;
	struct pt_grant_wire_cmd cmd;
	char *argv[4];
};

static struct pt_grant_spec *scope(struct scope *s, const char *servicer, const char *path,
				   const char *arg, bool prefix, uint64_t lifetime, uint32_t uses,
				   uint32_t depth)
{
	memset(s, 0, sizeof(*s));
	s->argv[0] = (char *)arg;
	s->cmd.path = (char *)path;
	s->cmd.argv = s->argv;
	s->cmd.n_argv = arg ? 1 : 0;
	s->cmd.prefix = prefix;
	s->spec.servicer = (char *)(servicer ? servicer : "");
	s->spec.servicer_exe = (char *)"";
	s->spec.servicer_unit = (char *)"";
	s->spec.cmds = &s->cmd;
	s->spec.n_cmds = 1;
	s->spec.lifetime = lifetime;
	s->spec.max_uses = uses;
	s->spec.depth = depth;
	return &s->spec;
}

/* alice grants servicer; the new id into id. */
static void grant(const char *servicer, const char *path, const char *arg, bool prefix,
		  uint32_t uses, uint32_t depth, char *id)
{
	struct scope s;
	struct pt_req req = { .type = PT_GRANT_CREATE, .user = (char *)"" };

	req.gspec = scope(&s, servicer, path, arg, prefix, 10 * 86400, uses, depth);
	call(ALICE, &req);
	expect_ok();
	assert_int_equal(strncmp(res->id, "gr_", 3), 0);
	strcpy(id, res->id);
}

static void list_as(int u, const char *user)
{
	struct pt_req req = { .type = PT_GRANT_LIST, .user = (char *)user, .holder = (char *)"" };

	call(u, &req);
	expect_ok();
}

/* ------------------------------------------------------------ creation */

static void test_only_origin_creates(void **state)
{
	struct scope s;
	struct pt_req req = { .type = PT_GRANT_CREATE, .user = (char *)names[ALICE] };
	char id[64];

	(void)state;
	req.gspec = scope(&s, names[SVC], "/bin/echo", "hi", false, 86400, 1, 0);
	call(EVE, &req); /* another uid, in alice's name */
	expect_err(PT_E_PERM, "only the user acted as");
	call(-1, &req); /* root, in alice's name */
	expect_err(PT_E_PERM, "root may not create grants");
	call(ALICE, &req);
	expect_ok();
	strcpy(id, res->id);
	list_as(ALICE, "");
	assert_non_null(strstr(res->text, id));
	assert_non_null(strstr(res->text, "user=pertok-gr-alice servicer=pertok-gr-svc"));
	/* the audit trail has it */
	assert_true(th_wait_log("grant.create", 1, 2000) >= 1);
}

static void test_admin_caps(void **state)
{
	struct scope s;
	struct pt_req req = { .type = PT_GRANT_CREATE, .user = (char *)"" };

	(void)state;
	req.gspec = scope(&s, names[EVE], "/bin/echo", NULL, false, 86400, 1, 0);
	call(ALICE, &req);
	expect_err(PT_E_DENIED, "servicer pertok-gr-eve is not allowed");
	req.gspec = scope(&s, names[SVC], "/bin/cat", NULL, false, 86400, 1, 0);
	call(ALICE, &req);
	expect_err(PT_E_DENIED, "command /bin/cat is not allowed");
	req.gspec = scope(&s, names[SVC], "/bin/echo", NULL, false, 60 * 86400, 1, 0);
	call(ALICE, &req);
	expect_err(PT_E_DENIED, "window 60d exceeds max_window 30d of rule ops");
	req.gspec = scope(&s, names[SVC], "/bin/echo", NULL, false, 86400, 11, 0);
	call(ALICE, &req);
	expect_err(PT_E_DENIED, "uses 11 exceed max_uses 10 of rule ops");
	req.gspec = scope(&s, names[SVC], "/bin/echo", NULL, false, 86400, 1, 3);
	call(ALICE, &req);
	expect_err(PT_E_DENIED, "depth 3 exceeds max_depth 2 of rule ops");
	req.gspec = scope(&s, names[SVC], "/bin/echo", NULL, false, 86400, 1, 0);
	req.gspec->max_runtime = 3 * 3600;
	call(ALICE, &req);
	expect_err(PT_E_DENIED, "max runtime 3h exceeds max_runtime 2h");
	/* eve has no rule at all */
	req.gspec = scope(&s, names[SVC], "/bin/echo", NULL, false, 86400, 1, 0);
	call(EVE, &req);
	expect_err(PT_E_DENIED, "no grants rule lets user pertok-gr-eve grant");
}

static void test_user_cap(void **state)
{
	char id[64];
	struct scope s;
	struct pt_req req = { .type = PT_GRANT_CREATE, .user = (char *)"" };

	(void)state;
	for (int i = 0; i < 4; i++)
		grant(names[SVC], "/bin/echo", NULL, false, 1, 0, id);
	req.gspec = scope(&s, names[SVC], "/bin/echo", NULL, false, 86400, 1, 0);
	call(ALICE, &req);
	expect_err(PT_E_LIMIT, "holds 4 grants (grant.max_per_user)");
	/* a revoked one no longer counts */
	{
		struct pt_req rv = { .type = PT_GRANT_REVOKE, .id = id };
		call(ALICE, &rv);
		expect_ok();
	}
	call(ALICE, &req);
	expect_ok();
}

/* ------------------------------------------------------------ requests */

static void request(int u, const char *user, char *id)
{
	struct scope s;
	struct pt_req req = { .type = PT_GRANT_REQUEST, .user = (char *)user };

	req.gspec = scope(&s, NULL, "/bin/echo", "nightly", false, 5 * 86400, 3, 0);
	call(u, &req);
	expect_ok();
	assert_int_equal(strncmp(res->id, "gq_", 3), 0);
	strcpy(id, res->id);
}

static void test_request_approve(void **state)
{
	struct pt_req q = { .type = PT_GRANT_REQUESTS, .user = (char *)"" };
	struct pt_req ap = { .type = PT_GRANT_APPROVE };
	char rq[64], gid[64];

	(void)state;
	request(SVC, names[ALICE], rq);
	call(ALICE, &q);
	expect_ok();
	assert_int_equal(res->count, 1);
	assert_non_null(strstr(res->text, rq));
	/* the proposal: exact argv, one use */
	assert_non_null(strstr(res->text, "proposal: grant"));
	assert_non_null(strstr(res->text, "args=\"nightly\""));
	assert_non_null(strstr(res->text, "uses=0/1"));
	ap.id = rq;
	call(SVC, &ap);
	expect_err(PT_E_PERM, "a servicer cannot answer its own request");
	call(EVE, &ap);
	expect_err(PT_E_PERM, "only the user asked may answer");
	call(ALICE, &ap);
	expect_ok();
	assert_int_equal(strncmp(res->id, "gr_", 3), 0);
	strcpy(gid, res->id);
	list_as(SVC, ""); /* the servicer sees it too */
	assert_non_null(strstr(res->text, gid));
	assert_non_null(strstr(res->text, "uses=0/1"));
	call(ALICE, &q);
	assert_int_equal(res->count, 0);
	call(ALICE, &ap); /* answered: gone */
	expect_err(PT_E_NOTFOUND, "no such pending request");
	assert_true(th_wait_log("grant.approve", 1, 2000) >= 1);
}

/* A servicer chooses the request's arguments, and the user decides on what
 * `grant requests` shows: a newline or a terminal escape in an argument
 * must not forge a line (a fake proposal) or reach the user's terminal. */
static void test_request_text_escaped(void **state)
{
	struct pt_req q = { .type = PT_GRANT_REQUESTS, .user = (char *)"" };
	struct pt_req req = { .type = PT_GRANT_REQUEST, .user = (char *)names[ALICE] };
	struct scope s;
	size_t lines = 0;

	(void)state;
	req.gspec = scope(&s, NULL, "/bin/echo",
			  "x\"\n  proposal: grant id=gq_FAKE args=\"ok\" \033[8m\\", false, 86400,
			  1, 0);
	call(SVC, &req);
	expect_ok();
	call(ALICE, &q);
	expect_ok();
	assert_int_equal(res->count, 1);
	for (const char *p = res->text; *p; p++) {
		lines += *p == '\n';
		assert_true((unsigned char)*p >= 0x20 || *p == '\n');
	}
	assert_int_equal(lines, 2); /* the request and its proposal, no forged line */
	assert_null(strstr(res->text, "gq_FAKE args=\"ok\" "));
	assert_non_null(strstr(res->text,
			       "args=\"x\\x22\\x0a  proposal: grant id=gq_FAKE args=\\x22ok\\x22 "
			       "\\x1b[8m\\x5c\""));
}

static void test_request_narrower(void **state)
{
	struct scope s;
	struct pt_req ap = { .type = PT_GRANT_APPROVE };
	char rq[64];

	(void)state;
	request(SVC, names[ALICE], rq);
	ap.id = rq;
	/* more uses than asked: refused (a window well inside the request's:
	 * under memcheck seconds pass between the request and this approval) */
	ap.gspec = scope(&s, NULL, "/bin/echo", "nightly", false, 86400, 4, 0);
	call(ALICE, &ap);
	expect_err(PT_E_DENIED, "uses 4 exceed");
	ap.gspec = scope(&s, NULL, "/bin/echo", "nightly", false, 86400, 2, 0);
	call(ALICE, &ap);
	expect_ok();
	list_as(ALICE, "");
	assert_non_null(strstr(res->text, "uses=0/2"));
}

static void test_request_deny(void **state)
{
	struct pt_req dn = { .type = PT_GRANT_DENY }, ap = { .type = PT_GRANT_APPROVE };
	char rq[64];

	(void)state;
	request(SVC, names[ALICE], rq);
	dn.id = ap.id = rq;
	call(SVC, &dn);
	expect_err(PT_E_PERM, "cannot answer its own");
	call(ALICE, &dn);
	expect_ok();
	call(ALICE, &ap);
	expect_err(PT_E_NOTFOUND, "no such pending request");
	list_as(ALICE, "");
	assert_null(strstr(res->text, "grant id="));
	assert_true(th_wait_log("grant.deny", 1, 2000) >= 1);
}

static void test_request_lapses(void **state)
{
	struct pt_req q = { .type = PT_GRANT_REQUESTS, .user = (char *)"" };
	struct pt_req ap = { .type = PT_GRANT_APPROVE };
	char rq[64];

	(void)state;
	th_stop(SIGTERM);
	write_conf("request_ttl = \"1s\";");
	th_start();
	request(SVC, names[ALICE], rq);
	sleep(2);
	call(ALICE, &q);
	expect_ok();
	assert_int_equal(res->count, 0);
	ap.id = rq;
	call(ALICE, &ap);
	expect_err(PT_E_NOTFOUND, "no such pending request");
}

static void test_pending_cap(void **state)
{
	struct scope s;
	struct pt_req req = { .type = PT_GRANT_REQUEST, .user = (char *)names[ALICE] };
	char rq[64];

	(void)state;
	request(SVC, names[ALICE], rq);
	request(SVC, names[ALICE], rq);
	req.gspec = scope(&s, NULL, "/bin/echo", NULL, false, 86400, 1, 0);
	call(SVC, &req);
	expect_err(PT_E_LIMIT, "2 pending requests (grant.max_pending_per_servicer)");
	/* another servicer has its own allowance */
	request(SVC2, names[ALICE], rq);
}

/* ---------------------------------------------------------- delegation */

static void delegate_p(int u, const char *parent, const char *to, const char *arg, bool prefix,
		       uint64_t life, uint32_t uses, uint32_t depth)
{
	struct scope s;
	struct pt_req req = { .type = PT_GRANT_DELEGATE, .id = (char *)parent };

	req.gspec = scope(&s, to, "/bin/echo", arg, prefix, life, uses, depth);
	call(u, &req);
}

static void delegate(int u, const char *parent, const char *to, const char *arg, uint64_t life,
		     uint32_t uses, uint32_t depth)
{
	struct scope s;
	struct pt_req req = { .type = PT_GRANT_DELEGATE, .id = (char *)parent };

	req.gspec = scope(&s, to, "/bin/echo", arg, true, life, uses, depth);
	call(u, &req);
}

static void test_delegate(void **state)
{
	char root_id[64], child[64], gc[64], line[256];

	(void)state;
	grant(names[SVC], "/bin/echo", "-n", true, 5, 2, root_id);
	/* broader than the grant: refused */
	delegate(SVC, root_id, names[SVC2], "-e", 86400, 1, 1);
	expect_err(PT_E_DENIED, "is not within the grant's");
	delegate(SVC, root_id, names[SVC2], "-n", 20 * 86400, 1, 1);
	expect_err(PT_E_DENIED, "the window is not within");
	delegate(SVC, root_id, names[SVC2], "-n", 86400, 6, 1);
	expect_err(PT_E_DENIED, "uses 6 exceed the 5 left");
	delegate(SVC, root_id, names[SVC2], "-n", 86400, 1, 2);
	expect_err(PT_E_DENIED, "depth 2 exceeds the 1 left");
	/* only its servicer */
	delegate(EVE, root_id, names[SVC2], "-n", 86400, 1, 1);
	expect_err(PT_E_PERM, "only the grant's current servicer");
	delegate(ALICE, root_id, names[SVC2], "-n", 86400, 1, 1);
	expect_err(PT_E_PERM, "only the grant's current servicer");
	/* within: allowed, depth one less, origin unchanged */
	delegate(SVC, root_id, names[SVC2], "-n", 86400, 2, 1);
	expect_ok();
	strcpy(child, res->id);
	list_as(-1, names[ALICE]);
	snprintf(line, sizeof(line), "id=%s user=%s servicer=%s", child, names[ALICE], names[SVC2]);
	assert_non_null(strstr(res->text, line));
	snprintf(line, sizeof(line), "depth=1 parent=%s", root_id);
	assert_non_null(strstr(res->text, line));
	delegate(SVC2, child, names[SVC], "-n", 3600, 1, 0);
	expect_ok();
	strcpy(gc, res->id);
	delegate(SVC, gc, names[SVC2], "-n", 60, 1, 0);
	expect_err(PT_E_DENIED, "may not be delegated (depth 0)");
	assert_true(th_wait_log("grant.delegate", 1, 2000) >= 1);
}

/* A servicer's delegations count against the servicer, not against the
 * user acted as: svc cannot use up alice's grant.max_per_user. */
static void test_delegations_charged_to_servicer(void **state)
{
	char root_id[64], id[64];

	(void)state;
	grant(names[SVC], "/bin/echo", "-n", true, 10, 1, root_id);
	for (int i = 0; i < 4; i++) {
		delegate(SVC, root_id, names[SVC2], "-n", 86400, 1, 0);
		expect_ok();
	}
	delegate(SVC, root_id, names[SVC2], "-n", 86400, 1, 0);
	expect_err(PT_E_LIMIT, "servicer pertok-gr-svc has delegated 4 grants");
	/* alice still makes her own, up to her cap */
	for (int i = 0; i < 3; i++)
		grant(names[SVC], "/bin/echo", NULL, false, 1, 0, id);
}

/* ---------------------------------------------------- revoke, explain */

static int run_pertokctl_explain(const char *user, const char *servicer, const char *id,
				 const char *path, const char *arg)
{
	const char *b = getenv("top_builddir");
	char bin[PATH_MAX];
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/tools/pertokctl", b ? b : ".");
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execl(bin, "pertokctl", "--socket", th.sock, "explain", "act-as", user,
		      "--servicer", servicer, "--grant", id, "--", path, arg, (char *)NULL);
		_exit(127);
	}
	return wait_child(pid, 10000);
}

static void explain(const char *id, const char *path, const char *arg)
{
	struct scope s;
	struct pt_req req = { .type = PT_GRANT_EXPLAIN,
			      .user = (char *)names[ALICE],
			      .id = (char *)id };

	req.gspec = scope(&s, names[SVC], path, arg, false, 0, 0, 0);
	call(-1, &req);
	expect_ok();
}

static void test_revoke_and_explain(void **state)
{
	char a[64], b[64], child[64];
	struct pt_req rv = { .type = PT_GRANT_REVOKE };

	(void)state;
	grant(names[SVC], "/bin/echo", "x", false, 3, 1, a);
	grant(names[SVC], "/bin/echo", "x", false, 3, 1, b);
	/* a child of a, to svc2 then back: delegation keeps it alive */
	delegate_p(SVC, a, names[SVC], "x", false, 3600, 1, 0);
	expect_ok();
	strcpy(child, res->id);
	explain(child, "/bin/echo", "x");
	assert_non_null(strstr(res->text, "decision=allow"));
	assert_int_equal(run_pertokctl_explain(names[ALICE], names[SVC], child, "/bin/echo", "x"),
			 0);
	explain(child, "/bin/echo", "y");
	assert_non_null(strstr(res->text, "rule=grant.argv"));
	assert_int_equal(run_pertokctl_explain(names[ALICE], names[SVC], child, "/bin/echo", "y"),
			 1);
	/* eve may not revoke; alice (the origin) may */
	rv.id = a;
	call(EVE, &rv);
	expect_err(PT_E_PERM, "only the grant's user, its delegator or root");
	call(ALICE, &rv);
	expect_ok();
	explain(child, "/bin/echo", "x");
	assert_non_null(strstr(res->text, "decision=deny"));
	assert_non_null(strstr(res->text, "rule=grant.parent"));
	assert_non_null(strstr(res->text, "is revoked"));
	assert_int_equal(run_pertokctl_explain(names[ALICE], names[SVC], child, "/bin/echo", "x"),
			 1);
	/* root revokes another */
	rv.id = b;
	call(-1, &rv);
	expect_ok();
	explain(b, "/bin/echo", "x");
	assert_non_null(strstr(res->text, "rule=grant.revoked"));
	assert_true(th_wait_log("grant.revoke", 2, 2000) >= 2);
}

static void test_changed_file(void **state)
{
	char id[64];
	FILE *f;

	(void)state;
	grant(names[SVC], tool, NULL, false, 2, 0, id);
	explain(id, tool, NULL);
	assert_non_null(strstr(res->text, "decision=allow"));
	f = fopen(tool, "a");
	assert_non_null(f);
	fputs("changed", f);
	fclose(f);
	explain(id, tool, NULL);
	assert_non_null(strstr(res->text, "rule=grant.sha256"));
	assert_non_null(strstr(res->text, "decision=deny"));
}

/* ------------------------------------------------- restart, rotation */

static void test_restart_rotate(void **state)
{
	struct pt_req rot = { .type = PT_ROTATE };
	char id[64];

	(void)state;
	grant(names[SVC], "/bin/echo", "keep", false, 2, 0, id);
	th_stop(SIGTERM);
	th_start();
	list_as(ALICE, "");
	assert_non_null(strstr(res->text, id));
	call(-1, &rot);
	expect_ok();
	list_as(ALICE, "");
	assert_non_null(strstr(res->text, id));
	th_stop(SIGTERM);
	th_start(); /* from the new key generation */
	list_as(ALICE, "");
	assert_non_null(strstr(res->text, id));
	explain(id, "/bin/echo", "keep");
	assert_non_null(strstr(res->text, "decision=allow"));
}

/* ------------------------------------------------------------- tools */

/* pertok ARGS... as user u, its stdout into res->text; the exit status. */
struct tool_arg {
	char *const *argv;
};

static int do_tool(void *arg)
{
	const struct tool_arg *a = arg;
	const char *b = getenv("top_builddir");
	char bin[PATH_MAX];
	int p[2], st;
	ssize_t n, off = 0;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/tools/pertok", b ? b : ".");
	if (pipe(p) < 0)
		return 120;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2); /* the error messages too */
		close(p[0]);
		execv(bin, a->argv);
		_exit(127);
	}
	close(p[1]);
	memset(res->text, 0, sizeof(res->text));
	while (off < (ssize_t)sizeof(res->text) - 1 &&
	       (n = read(p[0], res->text + off, sizeof(res->text) - 1 - (size_t)off)) > 0)
		off += n;
	close(p[0]);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return 121;
	return WEXITSTATUS(st);
}

static int tool_as(int u, char *const *argv)
{
	struct tool_arg a = { argv };

	return wait_child(spawn_as(uids[u], do_tool, &a), 10000);
}

/* The user's commands end to end: grant with arguments, list, request,
 * requests with its proposal, approve, revoke; usage errors exit 2. */
/* A grants file that does not open (one byte changed) stops tokend at
 * start with what is wrong: never a start that silently drops the grants. */
static void test_corrupt_file_refused(void **state)
{
	char id[64];

	(void)state;
	grant(names[SVC], "/bin/echo", NULL, false, 1, 0, id);
	th_stop(SIGTERM);
	assert_int_equal(th_run("f=$(find %s/state-%u -name grants.sealed) && [ -s \"$f\" ] && "
				"printf X | dd of=\"$f\" bs=1 seek=40 conv=notrunc 2>/dev/null",
				th.dir, n_state),
			 0);
	assert_int_not_equal(th_start_fails(), 0);
	assert_true(th_count_log("cannot open the grants:") >= 1);
	assert_true(th_count_log("grants.sealed does not open under the store key") >= 1);
}

static void test_pertok_cli(void **state)
{
	char id[64] = "", rq[64] = "";
	char *grant[] = { "pertok", "-s",	 th.sock,     "grant", (char *)names[SVC],
			  "--cmd",  "/bin/echo", "--expires", "2d",    "--uses",
			  "3",	    "--args",	 "--",	      "-n",    "hi",
			  NULL };
	char *grants[] = { "pertok", "-s", th.sock, "grants", NULL };
	char *request[] = { "pertok",  "-s",	    th.sock,
			    "grant",   "request",   (char *)names[ALICE],
			    "--cmd",   "/bin/echo", "--args",
			    "nightly", NULL };
	char *requests[] = { "pertok", "-s", th.sock, "grant", "requests", NULL };
	char *approve[] = { "pertok", "-s", th.sock, "grant", "approve", rq, NULL };
	char *revoke[] = { "pertok", "-s", th.sock, "grant", "revoke", id, NULL };
	char *bad[] = { "pertok",	    "-s",    th.sock,	  "grant",
			(char *)names[SVC], "--cmd", "/bin/echo", NULL }; /* no --expires */

	(void)state;
	assert_int_equal(tool_as(ALICE, grant), 0);
	assert_int_equal(sscanf(res->text, "granted %63s", id), 1);
	assert_int_equal(tool_as(SVC, grants), 0);
	assert_non_null(strstr(res->text, id));
	assert_non_null(strstr(res->text, "args=\"-n\",\"hi\""));
	assert_int_equal(tool_as(SVC, request), 0);
	assert_int_equal(sscanf(res->text, "requested %63s", rq), 1);
	assert_int_equal(tool_as(ALICE, requests), 0);
	assert_non_null(strstr(res->text, "1 pending request(s) to you"));
	assert_non_null(strstr(res->text, "proposal: grant"));
	assert_int_equal(tool_as(ALICE, approve), 0);
	assert_int_equal(strncmp(res->text, "granted gr_", 11), 0);
	assert_int_equal(tool_as(ALICE, revoke), 0);
	assert_non_null(strstr(res->text, "revoked"));
	assert_int_equal(tool_as(ALICE, bad), 2);
	/* says what is missing, not only the usage */
	assert_non_null(strstr(res->text, "pertok: grant: --expires D is required\n"));
}

/* ------------------------------------------------------------- group */

static int group_setup(void **state)
{
	char cmd[3 * PATH_MAX + 64];

	(void)state;
	if (th_init("grants") < 0)
		return -1;
	if (ns_add_users(th.dir, names, N_USERS, uids) < 0)
		return -1;
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return -1;
	snprintf(tool, sizeof(tool), "%s/bin/tool", th.dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/bin' && cp /bin/echo '%s' && chmod 0755 '%s'",
		 th.dir, tool, tool);
	return system(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	th_stop(SIGTERM);
	return th_remove_dir();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_only_origin_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delegations_charged_to_servicer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_approve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_text_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_narrower, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_deny, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_lapses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delegate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_and_explain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pertok_cli, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-grants needs root (private mount namespace, test "
		       "users)\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
