/* SPDX-License-Identifier: MIT */
/*
 * tokend as a whole, over its real socket: protocol robustness, who may call
 * what, late-bound reload, durability across kill -9, slow clients and the
 * connection cap. Every test case runs its own tokend in its own temp dir
 * (socket, state, config and log all there), so no case depends on what
 * another left behind and they may run in any order; the teardown checks that
 * every line that tokend logged is in tokend(8)'s key=value form. Needs root: tokend reads shadow and peers' executables, and the
 * test switches to another uid to play an unprivileged user.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "b64.h"
#include "client.h"
#include "io.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define NOBODY 65534

static void write_conf(const char *redeem_action, int max_conns)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; client_timeout = 1000;\n"
		"          max_connections = %d; live_lifetime = \"2m\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; },\n"
		"           { name = \"elsewhere\"; uid = 0; exe = [ \"/nonexistent/bin\" ]; } );\n"
		"issue = ( { name = \"test-issue\"; actors = [ \"tester\", \"self\" ];\n"
		"            holders = [ \"tester\", \"elsewhere\" ]; max_outstanding = 2; } );\n"
		"redeem = ( { name = \"test-redeem\"; holders = [ \"tester\" ]; action = \"%s\";\n"
		"             check_account = false; live_lifetime = \"1m\"; } );\n",
		th.sock, th.dir, max_conns, th.self_exe, redeem_action);
	fclose(f);
}

static int setup(void **state)
{
	if (th_init("tokend") < 0)
		return -1;
	write_conf("allow", 16);
	th_start();
	return 0;
}

static int teardown(void **state)
{
	char bad[512];
	int n;

	th_stop(SIGTERM);
	n = th_check_log_form(bad, sizeof(bad));
	if (n > 0) {
		print_error("%d tokend log line(s) not in the op=... result=... key=value form "
			    "of tokend(8), the first:\n%s\n",
			    n, bad);
		th_remove_dir();
		return -1;
	}
	return th_remove_dir();
}

static void mint_and_exchange_user(const char *user, const char *holder, char **ret_id);

static void mint_and_exchange(const char *holder, char **ret_id)
{
	mint_and_exchange_user("root", holder, ret_id);
}

static void mint_and_exchange_user(const char *user, const char *holder, char **ret_id)
{
	struct pt_req mint = { .type = PT_MINT,
			       .user = (char *)user,
			       .service = (char *)"test",
			       .tty = (char *)"pts/0",
			       .rhost = (char *)"" };
	struct pt_rep rep;
	char *token;

	assert_int_equal(th_call(&mint, &rep), 0);
	if (rep.type != PT_OK)
		fail_msg("mint for %s refused: %s", user, rep.message ? rep.message : "?");
	assert_non_null(rep.token);
	token = rep.token;
	rep.token = NULL;
	pt_rep_clear(&rep);

	struct pt_req ex = { .type = PT_EXCHANGE, .live_token = token, .holder = (char *)holder };
	assert_int_equal(th_call(&ex, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_true(strncmp(rep.id, "pt_", 3) == 0);
	*ret_id = strdup(rep.id);
	pt_rep_clear(&rep);
	pt_free_secret(token);
}

static uint32_t redeem_user(const char *user, const char *holder, char **ret_token);

static uint32_t redeem(const char *holder, char **ret_token)
{
	return redeem_user("root", holder, ret_token);
}

static uint32_t redeem_user(const char *user, const char *holder, char **ret_token)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)user,
			      .holder = (char *)holder,
			      .service = (char *)"test" };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	if (ret_token) {
		*ret_token = rep.token;
		rep.token = NULL;
	}
	pt_rep_clear(&rep);
	return code;
}

/* ------------------------------------------------------------------ raw socket */

static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 3 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", th.sock);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Reads one reply frame; returns its type and the error code if PT_ERR. */
static int raw_reply(int fd, uint32_t *ret_code)
{
	uint8_t buf[4096];
	size_t have = 0;

	for (;;) {
		const uint8_t *payload;
		size_t len, used;
		uint8_t type;
		ssize_t k;

		if (pt_frame_split(buf, have, PT_MAX_FRAME, &type, &payload, &len, &used) == 0) {
			struct pt_rep rep = { 0 };
			if (type == PT_ERR &&
			    pt_rep_decode(PT_HELLO, type, payload, len, &rep) == 0)
				*ret_code = rep.err_code;
			pt_rep_clear(&rep);
			return type;
		}
		k = read(fd, buf + have, sizeof(buf) - have);
		if (k <= 0)
			return -1;
		have += (size_t)k;
	}
}

static bool raw_closed(int fd)
{
	char c;

	return read(fd, &c, 1) == 0;
}

static void send_hello(int fd, uint32_t version)
{
	struct ptbuf *b = ptbuf_new(64);
	struct pt_req h = { .type = PT_HELLO, .version = version };

	assert_int_equal(pt_req_encode(&h, b), 0);
	assert_int_equal(pt_write_all(fd, ptbuf_ptr(b), ptbuf_len(b)), 0);
	ptbuf_free(b);
}

static void still_alive(void)
{
	struct pt_req req = { .type = PT_PUBKEY, .format = PT_PUBKEY_PEM };
	struct pt_rep rep;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	assert_int_equal(kill(th.pid, 0), 0);
}

/* ------------------------------------------------------------------ tests */

static void test_pubkey(void **state)
{
	struct pt_req req = { .type = PT_PUBKEY, .format = PT_PUBKEY_PEM };
	struct pt_rep rep;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_non_null(strstr(rep.text, "-----BEGIN PUBLIC KEY-----"));
	pt_rep_clear(&rep);
	req.format = PT_PUBKEY_JWKS;
	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_non_null(strstr(rep.text, "\"crv\":\"Ed25519\""));
	assert_non_null(strstr(rep.text, "\"kid\""));
	pt_rep_clear(&rep);
	req.format = 7;
	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_ERR);
	pt_rep_clear(&rep);
}

static void test_bad_version(void **state)
{
	uint32_t code = 0;
	int fd = raw_connect();

	send_hello(fd, 99);
	assert_int_equal(raw_reply(fd, &code), PT_ERR);
	assert_int_equal(code, PT_E_VERSION);
	assert_true(raw_closed(fd));
	close(fd);
	still_alive();
}

static void test_request_before_hello(void **state)
{
	struct ptbuf *b = ptbuf_new(256);
	struct pt_req st = { .type = PT_STATUS };
	uint32_t code = 0;
	int fd = raw_connect();

	assert_int_equal(pt_req_encode(&st, b), 0);
	assert_int_equal(pt_write_all(fd, ptbuf_ptr(b), ptbuf_len(b)), 0);
	assert_int_equal(raw_reply(fd, &code), PT_ERR);
	assert_int_equal(code, PT_E_PROTO);
	assert_true(raw_closed(fd));
	close(fd);
	ptbuf_free(b);
	still_alive();
}

static void test_malformed_frames(void **state)
{
	static const struct {
		const char *what;
		uint8_t bytes[16];
		size_t len;
	} cases[] = {
		{ "zero length", { 0, 0, 0, 0 }, 4 },
		{ "oversized length", { 0x7f, 0xff, 0xff, 0xff, PT_LIST }, 5 },
		{ "unknown type", { 0, 0, 0, 1, 0xfe }, 5 },
		{ "truncated string", { 0, 0, 0, 5, PT_REVOKE, 0, 0, 0, 9 }, 9 },
		{ "trailing bytes", { 0, 0, 0, 7, PT_REVOKE, 0, 0, 0, 1, 'x', 'y' }, 11 },
		{ "embedded NUL", { 0, 0, 0, 7, PT_REVOKE, 0, 0, 0, 2, 'x', 0 }, 11 },
	};

	for (size_t i = 0; i < PT_ELEMENTSOF(cases); i++) {
		uint32_t code = 0;
		int fd = raw_connect();

		send_hello(fd, PT_PROTO_VERSION);
		assert_int_equal(raw_reply(fd, &code), PT_OK);
		assert_int_equal(pt_write_all(fd, cases[i].bytes, cases[i].len), 0);
		if (raw_reply(fd, &code) != PT_ERR || code != PT_E_PROTO)
			fail_msg("%s: no protocol error reply", cases[i].what);
		if (!raw_closed(fd))
			fail_msg("%s: connection not closed", cases[i].what);
		close(fd);
		still_alive();
	}
}

static void test_issue_and_redeem(void **state)
{
	char *id = NULL, *token = NULL, *hdr = NULL, *payload = NULL;
	struct pt_req list = { .type = PT_LIST, .user = (char *)"" };
	struct pt_rep rep;
	const char *dot1, *dot2;
	uint8_t *json = NULL;
	size_t jlen;

	mint_and_exchange("tester", &id);
	assert_int_equal(redeem("tester", &token), 0);
	assert_non_null(token);
	/* the claims name the persistable token and the actor chain */
	dot1 = strchr(token, '.');
	assert_non_null(dot1);
	dot2 = strchr(dot1 + 1, '.');
	assert_non_null(dot2);
	assert_int_equal(pt_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &json, &jlen), 0);
	assert_non_null(strstr((char *)json, id));
	assert_non_null(
		strstr((char *)json, "\"act\":{\"sub\":\"tester\",\"act\":{\"sub\":\"tester\"}}"));
	assert_non_null(strstr((char *)json, "\"sub\":\"root\""));
	free(json);
	free(hdr);
	free(payload);
	pt_free_secret(token);

	assert_int_equal(th_call(&list, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_true(rep.n_list >= 1);
	bool found = false;
	for (uint32_t i = 0; i < rep.n_list; i++)
		if (strcmp(rep.list[i].id, id) == 0) {
			found = true;
			assert_true(rep.list[i].uses >= 1);
		}
	assert_true(found);
	pt_rep_clear(&rep);
	free(id);
}

static void test_holder_is_actor(void **state)
{
	char *id = NULL;

	/* a token for holder "elsewhere" exists, but we are actor "tester" */
	mint_and_exchange("elsewhere", &id);
	assert_int_equal(redeem("elsewhere", NULL), PT_E_PERM);
	free(id);
}

static void test_renewal_replaces(void **state)
{
	char *a = NULL, *b = NULL;
	struct pt_req list = { .type = PT_LIST, .user = (char *)"root" };
	struct pt_rep rep;
	int n = 0;

	mint_and_exchange("tester", &a);
	mint_and_exchange("tester", &b);
	assert_string_not_equal(a, b);
	assert_int_equal(th_call(&list, &rep), 0);
	for (uint32_t i = 0; i < rep.n_list; i++) {
		assert_string_not_equal(rep.list[i].id, a);
		if (strcmp(rep.list[i].holder, "tester") == 0)
			n++;
	}
	assert_int_equal(n, 1);
	pt_rep_clear(&rep);
	free(a);
	free(b);
}

/* Runs fn as uid NOBODY in a child; returns its exit status. */
static int as_nobody(int (*fn)(const char *id), const char *id)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		_exit(fn(id));
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 200;
}

static int nobody_checks(const char *id)
{
	struct pt_req status = { .type = PT_STATUS };
	struct pt_req list = { .type = PT_LIST, .user = (char *)"root" };
	struct pt_req revoke = { .type = PT_REVOKE, .id = (char *)id };
	struct pt_req red = { .type = PT_REDEEM,
			      .user = (char *)"root",
			      .holder = (char *)"tester",
			      .service = (char *)"x" };
	struct pt_rep rep;

	if (th_call(&status, &rep) < 0 || rep.type != PT_ERR || rep.err_code != PT_E_PERM)
		return 1;
	pt_rep_clear(&rep);
	if (th_call(&list, &rep) < 0 || rep.type != PT_OK || rep.n_list != 0)
		return 2; /* root's tokens are not nobody's to see */
	pt_rep_clear(&rep);
	if (th_call(&revoke, &rep) < 0 || rep.type != PT_ERR || rep.err_code != PT_E_NOTFOUND)
		return 3;
	pt_rep_clear(&rep);
	if (th_call(&red, &rep) < 0 || rep.type != PT_ERR || rep.err_code != PT_E_PERM)
		return 4; /* uid 65534 is no actor */
	pt_rep_clear(&rep);
	return 0;
}

static void test_unprivileged_peer(void **state)
{
	char *id = NULL;

	mint_and_exchange("tester", &id);
	assert_int_equal(as_nobody(nobody_checks, id), 0);
	assert_int_equal(redeem("tester", NULL), 0); /* untouched by nobody's revoke */
	free(id);
}

/* SIGHUP, then waits for the reload's verdict in the log (an event, not a
 * duration); fails the test when none comes within 10 s. */
static void hup_and_wait(void)
{
	unsigned n =
		th_count_log("op=reload result=allow") + th_count_log("op=reload result=error");

	kill(th.pid, SIGHUP);
	for (int i = 0; i < 1000; i++) {
		if (th_count_log("op=reload result=allow") +
			    th_count_log("op=reload result=error") >
		    n)
			return;
		usleep(10000);
	}
	fail_msg("no op=reload verdict in %s within 10 s of SIGHUP", th.logpath);
}

static void test_reload_late_binding(void **state)
{
	char *id = NULL;
	FILE *f;

	mint_and_exchange("tester", &id);
	assert_int_equal(redeem("tester", NULL), 0);
	/* a broken file is refused: the old policy stays */
	f = fopen(th.conf, "w");
	assert_non_null(f);
	fputs("tokend: { socket = ; };\n", f);
	fclose(f);
	hup_and_wait();
	assert_int_equal(redeem("tester", NULL), 0);
	/* the same token, judged by the new policy at its next redemption */
	write_conf("deny", 16);
	hup_and_wait();
	assert_int_equal(redeem("tester", NULL), PT_E_DENIED);
	write_conf("allow", 16);
	hup_and_wait();
	assert_int_equal(redeem("tester", NULL), 0);
	free(id);
}

static void test_survives_kill9(void **state)
{
	char *id = NULL;
	struct pt_req list = { .type = PT_LIST, .user = (char *)"" };
	struct pt_rep rep;
	bool found = false;

	mint_and_exchange("tester", &id);
	th_stop(SIGKILL);
	th_start();
	assert_int_equal(th_call(&list, &rep), 0);
	for (uint32_t i = 0; i < rep.n_list; i++)
		if (strcmp(rep.list[i].id, id) == 0)
			found = true;
	pt_rep_clear(&rep);
	assert_true(found);
	assert_int_equal(redeem("tester", NULL), 0);
	free(id);
}

static void test_revoke(void **state)
{
	char *id = NULL;
	struct pt_req revoke = { .type = PT_REVOKE };
	struct pt_rep rep;

	mint_and_exchange("tester", &id);
	revoke.id = id;
	assert_int_equal(th_call(&revoke, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	assert_int_equal(redeem("tester", NULL), PT_E_NOTFOUND);
	/* and it stays revoked across a restart */
	th_stop(SIGTERM);
	th_start();
	assert_int_equal(redeem("tester", NULL), PT_E_NOTFOUND);
	free(id);
}

static void test_slow_client(void **state)
{
	uint8_t half[] = { 0, 0, 0, 5, PT_HELLO, 0 };
	uint64_t t0;
	int fd = raw_connect();
	char c;

	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	/* a client that sends half a frame and stalls ... */
	t0 = pt_now_ms_monotonic();
	assert_int_equal(pt_write_all(fd, half, sizeof(half)), 0);
	/* ... does not hold up anyone else: another client is served while the
	 * stalled one is still connected (an order of events, not a time limit) */
	still_alive();
	if (pt_now_ms_monotonic() - t0 < 800) /* (else too loaded to tell) */
		assert_int_equal(poll(&pfd, 1, 0), 0);
	/* and is cut off after client_timeout (1 s), not before: raw_connect's
	 * 3 s receive timeout bounds the wait */
	assert_int_equal(read(fd, &c, 1), 0);
	assert_true(pt_now_ms_monotonic() - t0 >= 800);
	close(fd);
}

static void test_connection_cap(void **state)
{
	int fds[8];
	uint32_t code = 0;
	int fd;

	th_stop(SIGTERM);
	write_conf("allow", 8);
	th_start();
	for (size_t i = 0; i < PT_ELEMENTSOF(fds); i++) {
		fds[i] = raw_connect();
		send_hello(fds[i], PT_PROTO_VERSION);
		assert_int_equal(raw_reply(fds[i], &code), PT_OK);
	}
	fd = raw_connect();
	assert_int_equal(raw_reply(fd, &code), PT_ERR);
	assert_int_equal(code, PT_E_BUSY);
	close(fd);
	for (size_t i = 0; i < PT_ELEMENTSOF(fds); i++)
		close(fds[i]);
	/* the slots come back once tokend has seen the closes: wait for that
	 * (a served request), bounded, instead of sleeping */
	for (int i = 0;; i++) {
		struct pt_req req = { .type = PT_PUBKEY, .format = PT_PUBKEY_PEM };
		struct pt_rep rep;
		int r = th_call(&req, &rep);
		bool ok = r == 0 && rep.type == PT_OK;

		pt_rep_clear(&rep);
		if (ok)
			break;
		if (i == 500)
			fail_msg("connection slots not released 5 s after the clients closed");
		usleep(10000);
	}
	still_alive();
}

static void test_no_token_in_log(void **state)
{
	char *token = NULL, *buf;
	char *id = NULL;

	mint_and_exchange("tester", &id);
	free(id);
	assert_int_equal(redeem("tester", &token), 0);
	assert_non_null(token);
	buf = th_slurp(th.logpath);
	assert_non_null(buf);
	/* decisions are logged ... */
	assert_non_null(strstr(buf, "op=redeem result=allow"));
	assert_non_null(strstr(buf, "rule=test-redeem"));
	/* ... but never a token (nor its signature, the part that makes it one) */
	assert_null(strstr(buf, strrchr(token, '.') + 1));
	assert_null(strstr(buf, "eyJ"));
	free(buf);
	pt_free_secret(token);
}

static void start_fails(void)
{
	assert_int_not_equal(th_start_fails(), 0);
}

/* A configuration error (its message quotes names) is logged in the one line
 * form too, at start and at reload. */
static void test_config_error_logged(void **state)
{
	FILE *f;

	/* at reload: the old policy stays */
	f = fopen(th.conf, "w");
	assert_non_null(f);
	fprintf(f, "tokend: { socket = \"%s\"; bogus_setting = 1; };\n", th.sock);
	fclose(f);
	hup_and_wait();
	assert_true(th_count_log("op=reload result=error reason=\"") >= 1);
	assert_true(th_count_log("\\\"bogus_setting\\\"") >= 1); /* escaped quotes */
	still_alive();
	/* at start: tokend refuses to start, and says why in one line */
	th_stop(SIGTERM);
	start_fails();
	assert_true(th_count_log("op=start result=error reason=\"") >= 1);
	/* (the teardown checks that every line is in the form) */
}

/* A start error that is not a configuration error but names a path holding a
 * quote (a state directory under a directory that does not exist) is one
 * well-formed line too, the quote escaped. */
static void test_start_error_escaped(void **state)
{
	char bad[512] = "";
	FILE *f;

	th_stop(SIGTERM);
	f = fopen(th.conf, "w");
	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/no\\\"such dir/state\"; };\n"
		"seal: { backend = \"software\"; };\n",
		th.sock, th.dir);
	fclose(f);
	start_fails();
	assert_true(th_count_log("op=start result=error reason=\"") >= 1);
	assert_true(th_count_log("no\\\"such dir/state") >= 1); /* the quote escaped */
	if (th_check_log_form(bad, sizeof(bad)) != 0)
		fail_msg("a line not in the one line form: %s", bad);
}

/* An explain is a dry run: its log line says so and carries the decision,
 * never "result=allow" for a redemption that would be denied. */
static void test_explain_logs_decision(void **state)
{
	struct pt_req req = { .type = PT_EXPLAIN,
			      .user = (char *)"root",
			      .holder = (char *)"tester" };
	struct pt_rep rep;
	char *id = NULL;

	/* no token yet: the redemption would be denied */
	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	assert_true(th_wait_log("op=explain result=dry-run", 1, 5000) >= 1);
	assert_int_equal(th_count_log("op=explain result=allow"), 0);
	assert_int_equal(th_count_log("decision=deny"), 1);
	/* with a token it would be allowed */
	mint_and_exchange("tester", &id);
	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	assert_true(th_wait_log("op=explain result=dry-run", 2, 5000) >= 2);
	assert_int_equal(th_count_log("decision=allow"), 1);
	assert_int_equal(th_count_log("op=explain result=allow"), 0);
	free(id);
}

/* ------------------------------------------------------------------ accounts */

/* Private copies of /etc/passwd, group and shadow, bind-mounted over the real
 * ones in this process's own mount namespace (tokend, started after, sees
 * them; the host's files are untouched). */
static char acct_file[3][128];
static const char *const acct_real[3] = { "/etc/passwd", "/etc/group", "/etc/shadow" };

static bool private_account_files(void)
{
	char cmd[400];

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	for (int i = 0; i < 3; i++) {
		snprintf(acct_file[i], sizeof(acct_file[i]), "%s/%s", th.dir,
			 strrchr(acct_real[i], '/') + 1);
		snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", acct_real[i], acct_file[i]);
		if (system(cmd) != 0 || mount(acct_file[i], acct_real[i], NULL, MS_BIND, NULL) < 0)
			return false;
	}
	return true;
}

/* Sets user's lines (uid, shadow password field, expiry day: "" = never) in
 * the private files, or removes them (pw == NULL). Rewrites each file in
 * place (the bind mount stays) with a new mtime, as useradd/usermod would. */
static void set_user(const char *user, unsigned uid, const char *pw, const char *expire)
{
	for (int i = 0; i < 3; i++) {
		char *old = th_slurp(acct_file[i]), *line, *save = NULL;
		size_t n = strlen(user);
		FILE *f;

		assert_non_null(old);
		f = fopen(acct_file[i], "w");
		assert_non_null(f);
		for (line = strtok_r(old, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			if (!(strncmp(line, user, n) == 0 && line[n] == ':'))
				fprintf(f, "%s\n", line);
		if (pw && i == 0)
			fprintf(f, "%s:x:%u:%u::/nonexistent:/usr/sbin/nologin\n", user, uid, uid);
		else if (pw && i == 1)
			fprintf(f, "%s:x:%u:\n", user, uid);
		else if (pw && i == 2)
			fprintf(f, "%s:%s:19000:0:99999:7::%s:\n", user, pw, expire);
		fclose(f);
		free(old);
	}
	usleep(10000); /* a distinct mtime even on a coarse clock */
}

static void write_account_conf(bool password_lock)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"logins\"; actors = [ \"tester\" ]; holders = [ \"tester\" ]; } );\n"
		"redeem = ( { name = \"jobs\"; holders = [ \"tester\" ];%s } );\n",
		th.sock, th.dir, th.self_exe, password_lock ? " check_password_lock = true;" : "");
	fclose(f);
}

/* check_account (the default) at the daemon boundary, with the account as the
 * real shadow file says: a "!" password field (no password: useradd's default,
 * SSH-key users) issues and redeems; an account expired since the login
 * (usermod -e 1, chage -E 0) or removed is refused at the next redemption;
 * check_password_lock = true brings the password-lock check back. */
static void test_account_state(void **state)
{
	char *id = NULL;

	if (!private_account_files()) {
		print_message("# skipped: no private mount namespace here (%s)\n", strerror(errno));
		skip();
	}
	th_stop(SIGTERM);
	write_account_conf(false);
	set_user("ptk-nopw", 61001, "!", "");
	set_user("ptk-exp1", 61002, "$6$salt$hash", "");
	set_user("ptk-exp0", 61003, "$6$salt$hash", "");
	set_user("ptk-gone", 61004, "$6$salt$hash", "");
	th_start();

	/* no password set: issues and redeems */
	mint_and_exchange_user("ptk-nopw", "tester", &id);
	free(id);
	assert_int_equal(redeem_user("ptk-nopw", "tester", NULL), 0);

	/* tokens issued while the accounts were valid ... */
	const char *later[] = { "ptk-exp1", "ptk-exp0", "ptk-gone" };
	for (size_t i = 0; i < PT_ELEMENTSOF(later); i++) {
		mint_and_exchange_user(later[i], "tester", &id);
		free(id);
		assert_int_equal(redeem_user(later[i], "tester", NULL), 0);
	}
	/* ... then usermod -e 1, chage -E 0, userdel */
	set_user("ptk-exp1", 61002, "$6$salt$hash", "1");
	set_user("ptk-exp0", 61003, "$6$salt$hash", "0");
	set_user("ptk-gone", 0, NULL, NULL);
	assert_int_equal(redeem_user("ptk-exp1", "tester", NULL), PT_E_DENIED);
	assert_int_equal(redeem_user("ptk-exp0", "tester", NULL), PT_E_DENIED);
	assert_int_not_equal(redeem_user("ptk-gone", "tester", NULL), 0);
	assert_true(th_wait_log("account ptk-exp1 has expired", 1, 5000) >= 1);
	assert_true(th_wait_log("account ptk-exp0 has expired", 1, 5000) >= 1);
	/* the no-password user is untouched by all that */
	assert_int_equal(redeem_user("ptk-nopw", "tester", NULL), 0);

	/* check_password_lock = true: a "!" field now refuses */
	write_account_conf(true);
	hup_and_wait();
	assert_int_equal(redeem_user("ptk-nopw", "tester", NULL), PT_E_DENIED);
	assert_true(th_wait_log("account ptk-nopw has a locked password", 1, 5000) >= 1);
	th_stop(SIGTERM);
	for (int i = 0; i < 3; i++)
		umount2(acct_real[i], MNT_DETACH);
}

/* Under systemd the socket is systemd's: tokend takes it from LISTEN_FDS and
 * leaves it in place when it stops. */
static void test_socket_activation(void **state)
{
	static const char activator[] = "/usr/bin/systemd-socket-activate";
	struct stat st;
	char *buf;

	if (access(activator, X_OK) != 0) {
		print_message("# skipped: %s not installed (Debian package systemd)\n", activator);
		skip();
	}
	th_stop(SIGTERM);
	unlink(th.sock);
	assert_int_equal(truncate(th.logpath, 0), 0);
	th_start_via(activator);
	still_alive();
	buf = th_slurp(th.logpath);
	assert_non_null(buf);
	assert_non_null(strstr(buf, " activation=systemd"));
	free(buf);
	th_stop(SIGTERM);
	assert_int_equal(lstat(th.sock, &st), 0); /* not ours to remove */
	unlink(th.sock);
}

/* Child side of test_foreign_exe: asks for a redemption and exits with the
 * error code tokend answered (0 when it allowed it). */
static int probe_redeem(const char *socket_path)
{
	struct pt_client *c = NULL;
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)"root",
			      .holder = (char *)"tester",
			      .service = (char *)"x" };
	struct pt_rep rep = { 0 };
	int code;

	if (pt_client_connect(socket_path, 2000, &c) < 0 || pt_client_call(c, &req, &rep) < 0)
		return 100;
	code = rep.type == PT_OK ? 0 : (int)rep.err_code;
	pt_rep_clear(&rep);
	pt_client_free(c);
	return code;
}

/* A program that shows tokend the actor's path from another mount
 * namespace, where that path is another file, is not that actor. */
static void test_foreign_exe(void **state)
{
	char copy[128], cmd[PATH_MAX + 160], *id = NULL;
	pid_t pid;
	int st;

	mint_and_exchange("tester", &id);
	free(id);
	snprintf(copy, sizeof(copy), "%s/impostor", th.dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", th.self_exe, copy);
	assert_int_equal(system(cmd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount(copy, th.self_exe, NULL, MS_BIND, NULL) < 0)
			_exit(101);
		execl(th.self_exe, th.self_exe, "--probe-redeem", th.sock, (char *)NULL);
		_exit(102);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), PT_E_PERM);
	/* the genuine file at the same path still is the actor */
	assert_int_equal(redeem("tester", NULL), 0);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--probe-redeem") == 0)
		return probe_redeem(argv[2]);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pubkey, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_before_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_and_redeem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holder_is_actor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renewal_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unprivileged_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_late_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_kill9, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_token_in_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_logs_decision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_error_logged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_error_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_activation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_exe, setup, teardown),
		/* last: it leaves this process in its own mount namespace */
		cmocka_unit_test_setup_teardown(test_account_state, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-tokend needs root (tokend reads shadow and peers' "
		       "executables; the test switches uid)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
