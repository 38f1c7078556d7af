/* SPDX-License-Identifier: MIT */
/*
 * One local user cannot deny the schedulers (issue 7, items 2 and 10): a
 * real tokend over its socket, two unprivileged users created in a private
 * mount namespace, the test process as the actor. Per-uid connection caps
 * with capacity reserved for root and actors, a connection lifetime that
 * requests do not extend, a per-uid request rate, and bounded work per
 * connection per event-loop round. Needs root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "connlib.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define USER_A "pertok-fair-a"
#define USER_B "pertok-fair-b"
#define ACTOR_TIMEOUT_MS 2000 /* what an actor (pam_pertok) would wait */

static uid_t uid_a, uid_b;

/* A private tokend whose tokend { } section ends with extra. */
static void start(const char *extra)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; live_lifetime = \"2m\";\n"
		"          %s };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"i\"; actors = [ \"tester\" ]; holders = [ \"tester\" ]; } );\n"
		"redeem = ( { name = \"r\"; holders = [ \"tester\" ]; check_account = false; } );\n",
		th.sock, th.dir, extra, th.self_exe);
	fclose(f);
	th_start();
}

static int teardown(void **state)
{
	kill_children();
	th_stop(SIGTERM);
	return 0;
}

/* A persistable token of USER_B that the actor "tester" redeems. */
static void issue_token(void)
{
	struct pt_rep rep;
	char *token = th_mint(USER_B, "test", NULL);
	struct pt_req ex = { .type = PT_EXCHANGE, .live_token = token, .holder = (char *)"tester" };
	assert_int_equal(th_call(&ex, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	pt_rep_clear(&rep);
	pt_free_secret(token);
}

/* The actor redeems within the time an actor waits: 0 or the error code. */
static uint32_t actor_redeem(void)
{
	struct pt_req req = { .type = PT_REDEEM,
			      .user = (char *)USER_B,
			      .holder = (char *)"tester",
			      .service = (char *)"test" };
	struct pt_rep rep;
	uint32_t code;
	int r;

	th.timeout_ms = ACTOR_TIMEOUT_MS;
	r = th_call(&req, &rep);
	th.timeout_ms = 2000;
	if (r < 0) {
		print_message("# redeem: transport error %s\n", strerror(-r));
		return 1000;
	}
	code = rep.type == PT_OK ? 0 : rep.err_code;
	pt_rep_clear(&rep);
	return code;
}

static void pubkey_req(struct pt_req *req)
{
	memset(req, 0, sizeof(*req));
	req->type = PT_PUBKEY;
	req->format = PT_PUBKEY_PEM;
}

/* ------------------------------------------------------------ children */

/* Holds as many connections as tokend gives this uid, reports how many on
 * the pipe, then keeps each busy with cheap requests until killed. */
static int hold_max(void *arg)
{
	int wfd = *(int *)arg, fds[64], n = 0;
	struct pt_req req;
	uint8_t count;

	pubkey_req(&req);
	for (;;) {
		uint32_t err = 0;
		int fd = cl_connect(th.sock, 2000, &err);

		if (fd < 0) {
			if (err != PT_E_BUSY)
				return 1;
			break;
		}
		if (n == (int)PT_ELEMENTSOF(fds))
			return 2;
		fds[n++] = fd;
	}
	count = (uint8_t)n;
	if (write(wfd, &count, 1) != 1)
		return 3;
	for (;;)
		for (int i = 0; i < n; i++) {
			struct pt_rep rep;

			if (fds[i] >= 0 && cl_call(fds[i], &req, 2000, &rep) < 0) {
				close(fds[i]);
				fds[i] = -1;
			}
			pt_rep_clear(&rep);
		}
}

/* One connection and one request (its own tokens): exit 0 when served. */
static int list_once(void *arg)
{
	struct pt_client *c = NULL;
	struct pt_req req = { .type = PT_LIST };
	struct pt_rep rep = { 0 };
	int r;

	(void)arg;
	if (pt_client_connect(th.sock, 2000, &c) < 0)
		return 1;
	r = pt_client_call(c, &req, &rep) == 0 && rep.type == PT_OK ? 0 : 2;
	pt_rep_clear(&rep);
	pt_client_free(c);
	return r;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	wait_child(pid, 5000);
}

static pid_t spawn_holder(uid_t uid, int *ret_count)
{
	int p[2];
	uint8_t count = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = spawn_as(uid, hold_max, &p[1]);
	assert_true(pid > 0);
	close(p[1]);
	if (read_timeout(p[0], &count, 1, 10000) < 0) {
		close(p[0]);
		stop_child(pid);
		fail_msg("uid %u: the connection holder did not report", (unsigned)uid);
	}
	close(p[0]);
	*ret_count = count;
	return pid;
}

/* ------------------------------------------------------------ tests */

/*
 * Item 2: while one user holds every connection it can get (and keeps them
 * busy), an actor's redemption succeeds within its timeout and another user
 * still connects; with both users at their limits, the reserved capacity
 * still serves the actor.
 */
static void test_user_cannot_starve_actor(void **state)
{
	int n_a = 0, n_b = 0;
	pid_t a, b;

	start("max_connections = 24; max_connections_per_uid = 10; reserved_connections = 8;\n"
	      "uid_request_rate = \"1000000/1s\";");
	issue_token();

	a = spawn_holder(uid_a, &n_a);
	assert_int_equal(n_a, 10); /* max_connections_per_uid */
	assert_int_equal(actor_redeem(), 0);
	assert_int_equal(wait_child(spawn_as(uid_b, list_once, NULL), 5000), 0);

	/* B takes what is left of the unprivileged share (24 - 8 - 10) ... */
	b = spawn_holder(uid_b, &n_b);
	assert_int_equal(n_b, 6);
	/* ... and the reserved connections still serve root and the actors */
	assert_int_equal(actor_redeem(), 0);
	stop_child(a);
	stop_child(b);
}

/* Item 2: requests do not keep a connection alive past its lifetime. */
static int busy_until_closed(void *arg)
{
	int wfd = *(int *)arg;
	uint64_t t0, dt;
	struct pt_req req;
	uint32_t err;
	int fd = cl_connect(th.sock, 2000, &err);

	if (fd < 0)
		return 1;
	pubkey_req(&req);
	t0 = pt_now_ms_monotonic();
	for (;;) {
		struct pt_rep rep;
		int r = cl_call(fd, &req, 2000, &rep);

		pt_rep_clear(&rep);
		if (r < 0)
			break;
	}
	dt = pt_now_ms_monotonic() - t0;
	return write(wfd, &dt, sizeof(dt)) == sizeof(dt) ? 0 : 2;
}

static void test_connection_lifetime(void **state)
{
	uint64_t dt = 0;
	int p[2];
	pid_t pid;

	start("client_timeout = 1000; max_connection_lifetime = 2;\n"
	      "uid_request_rate = \"1000000/1s\";");
	assert_int_equal(pipe(p), 0);
	pid = spawn_as(uid_a, busy_until_closed, &p[1]);
	close(p[1]);
	/* a request every few microseconds: without a lifetime this never ends */
	if (read_timeout(p[0], &dt, sizeof(dt), 10000) < 0) {
		close(p[0]);
		stop_child(pid);
		fail_msg("a busy connection was not closed within 10 s");
	}
	close(p[0]);
	assert_int_equal(wait_child(pid, 5000), 0);
	print_message("# busy connection closed after %llu ms (lifetime 2 s)\n",
		      (unsigned long long)dt);
	assert_true(dt >= 1500 && dt < 5000);
}

/* Item 2: a uid's requests beyond uid_request_rate are refused (limit), one
 * summary line per uid is logged, other uids and root are not affected. */
static int rate_probe(void *arg)
{
	int n_ok = 0, n_limit = 0;
	struct pt_req req;

	(void)arg;
	pubkey_req(&req);
	for (int i = 0; i < 16; i++) {
		struct pt_rep rep;
		uint32_t err;
		int fd = cl_connect(th.sock, 2000, &err);

		if (fd < 0)
			return 10;
		if (cl_call(fd, &req, 2000, &rep) < 0)
			return 11;
		bool ok = rep.type == PT_OK;

		if (ok)
			n_ok++;
		else if (rep.err_code == PT_E_LIMIT)
			n_limit++;
		pt_rep_clear(&rep);
		/* a refused request ends its connection */
		if (!ok && !cl_wait_closed(fd, 2000))
			return 12;
		close(fd);
	}
	return n_ok == 5 && n_limit == 11 ? 0 : 1;
}

static void test_uid_request_rate(void **state)
{
	char line[128];
	struct pt_req req;
	struct pt_rep rep;

	start("uid_request_rate = \"5/1m\";");
	assert_int_equal(wait_child(spawn_as(uid_a, rate_probe, NULL), 10000), 0);
	/* the other user has a bucket of its own, root is not limited */
	assert_int_equal(wait_child(spawn_as(uid_b, list_once, NULL), 5000), 0);
	pubkey_req(&req);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(th_call(&req, &rep), 0);
		assert_int_equal(rep.type, PT_OK);
		pt_rep_clear(&rep);
	}
	/* 11 refusals, one line (the rest is summarised a minute later) */
	snprintf(line, sizeof(line), "op=limit result=deny peer_uid=%u refused=1 ",
		 (unsigned)uid_a);
	assert_int_equal(wait_for_text(th.logpath, line, 5000), 0);
	snprintf(line, sizeof(line), "op=limit result=deny peer_uid=%u ", (unsigned)uid_a);
	assert_int_equal(count_text(th.logpath, line), 1);
}

/*
 * Item 10: connections stuffed with pipelined requests whose replies are
 * never read (STATUS from a user: each one refused, logged and audited) do
 * not delay an actor's redemption beyond its timeout, and their work ends
 * with the client that queued it. The per-uid limits are lifted here: this
 * is about the event loop, not about them.
 */
#define FLOOD_CONNS 40

static int flood(void *arg)
{
	int wfd = *(int *)arg;
	struct pollfd pf[FLOOD_CONNS];
	struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);
	struct pt_req st = { .type = PT_STATUS };
	uint8_t frames[4096];
	bool ready = false;
	size_t flen, chunk;

	if (!b || pt_req_encode(&st, b) < 0)
		return 1;
	flen = ptbuf_len(b);
	chunk = sizeof(frames) / flen * flen;
	for (size_t o = 0; o + flen <= sizeof(frames); o += flen)
		memcpy(frames + o, ptbuf_ptr(b), flen);
	for (int i = 0; i < FLOOD_CONNS; i++) {
		uint32_t err;

		pf[i].fd = cl_connect(th.sock, 5000, &err);
		if (pf[i].fd < 0)
			return 2;
		fcntl(pf[i].fd, F_SETFL, O_NONBLOCK);
		pf[i].events = POLLOUT;
	}
	/* keep every connection's socket full of requests, never read a reply;
	 * a connection tokend closes is made again */
	for (;;) {
		bool all_full = true;

		for (int i = 0; i < FLOOD_CONNS; i++) {
			ssize_t k;

			while ((k = send(pf[i].fd, frames, chunk, MSG_NOSIGNAL)) > 0)
				all_full = false;
			if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				uint32_t err;

				close(pf[i].fd);
				pf[i].fd = cl_connect(th.sock, 5000, &err);
				if (pf[i].fd < 0)
					return 3;
				fcntl(pf[i].fd, F_SETFL, O_NONBLOCK);
				all_full = false;
			}
		}
		if (!ready && all_full) {
			ready = true;
			if (write(wfd, "r", 1) != 1)
				return 4;
		}
		poll(pf, FLOOD_CONNS, 100);
	}
}

/* A number of tokend's STATUS text ("\nKEY=N"). */
static unsigned status_number(const char *key)
{
	struct pt_req req = { .type = PT_STATUS };
	struct pt_rep rep;
	char want[64];
	const char *p;
	unsigned n;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	snprintf(want, sizeof(want), "\n%s=", key);
	p = strstr(rep.text, want);
	assert_non_null(p);
	n = (unsigned)strtoul(p + strlen(want), NULL, 10);
	pt_rep_clear(&rep);
	return n;
}

static unsigned tokend_connections(void)
{
	return status_number("connections");
}

static void test_pipelined_flood(void **state)
{
	uint64_t t0, dt;
	char c;
	int p[2];
	pid_t pid;

	start("max_connections = 64; max_connections_per_uid = 50; client_timeout = 5000;\n"
	      "uid_request_rate = \"1000000/1s\";");
	issue_token();
	assert_int_equal(pipe(p), 0);
	pid = spawn_as(uid_a, flood, &p[1]);
	close(p[1]);
	if (read_timeout(p[0], &c, 1, 30000) < 0) {
		close(p[0]);
		stop_child(pid);
		fail_msg("the flooding client did not get ready");
	}
	close(p[0]);
	t0 = pt_now_ms_monotonic();
	assert_int_equal(actor_redeem(), 0);
	print_message("# redeem under the flood took %llu ms\n",
		      (unsigned long long)(pt_now_ms_monotonic() - t0));

	/* the attacker leaves: its queued work goes with it */
	stop_child(pid);
	t0 = pt_now_ms_monotonic();
	while (tokend_connections() > 1) {
		assert_true(pt_now_ms_monotonic() - t0 < 1500);
		usleep(20000); /* STATUS is the event source; ask again */
	}
	dt = pt_now_ms_monotonic() - t0;
	print_message("# flood connections gone %llu ms after the client\n",
		      (unsigned long long)dt);
}

/*
 * Privilege separation: a connection the front refuses as busy once the key
 * holder has identified it, from a client that has already hung up, is
 * closed while its own hang-up is still among the round's events. The front
 * must survive that (it once used the freed connection: a crash under load,
 * every client reset). Many such connections in bursts, then the same front
 * still serves and never logged its end.
 */
static int busy_storm(void *arg)
{
	(void)arg;
	for (int round = 0; round < 30; round++) {
		int fds[24];

		for (int i = 0; i < 24; i++) {
			struct sockaddr_un sa = { .sun_family = AF_UNIX };

			fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", th.sock);
			if (fds[i] >= 0 &&
			    connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
		for (int i = 0; i < 24; i++) /* hang up before the front decides */
			if (fds[i] >= 0)
				close(fds[i]);
	}
	return 0;
}

static unsigned front_pid(void)
{
	return status_number("front_pid");
}

static void test_busy_hangups_front_survives(void **state)
{
	unsigned before;

	(void)state;
	start("max_connections_per_uid = 2; uid_request_rate = \"1000000/1s\";");
	issue_token();
	before = front_pid();
	for (int k = 0; k < 3; k++)
		assert_int_equal(wait_child(spawn_as(uid_a, busy_storm, NULL), 20000), 0);
	assert_int_equal(actor_redeem(), 0);
	assert_int_equal(front_pid(), before);
	assert_int_equal(th_count_log("op=front result=error"), 0);
}

static int group_setup(void **state)
{
	static const char *const names[] = { USER_A, USER_B };
	uid_t uids[2];

	if (th_init("fairness") < 0)
		return -1;
	if (ns_add_users(th.dir, names, 2, uids) < 0)
		return -1;
	uid_a = uids[0];
	uid_b = uids[1];
	return 0;
}

static int group_teardown(void **state)
{
	th_stop(SIGTERM);
	return th_remove_dir();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_user_cannot_starve_actor, teardown),
		cmocka_unit_test_teardown(test_busy_hangups_front_survives, teardown),
		cmocka_unit_test_teardown(test_connection_lifetime, teardown),
		cmocka_unit_test_teardown(test_uid_request_rate, teardown),
		cmocka_unit_test_teardown(test_pipelined_flood, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-fairness needs root (private mount namespace, test "
		       "users, tokend reads peers' executables)\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
