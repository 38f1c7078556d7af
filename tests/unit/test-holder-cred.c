/* SPDX-License-Identifier: MIT */
/*
 * The key holder's own rules for connections on the credential socket
 * (holder.c), with this test as the front: the real pt_holder_run in a
 * child process over a SOCK_SEQPACKET pair, real connections accepted on a
 * credential socket in a temporary directory, its log lines through the log
 * sink into a file. What a front that breaks its word sends is what is
 * tested here (tokend's own front never sends it):
 * - a request other than PT_CREDENTIAL, a second PT_CREDENTIAL, a unit name
 *   the front's parser would not accept: dropped (nothing for the peer) by
 *   the key holder before the dispatch table runs, and logged;
 * - the key holder's "no credential" line for an unprivileged peer obeys
 *   the uid's refusal limit (audit refusal_burst), not one line per request.
 */
#include "conf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-state.h"
#include "holder.h"
#include "log.h"
#include "privsep.h"
#include "proto.h"
#include "util.h"

#define N_CONNS 12
#define BURST 2

static char dir[64], statedir[80], logpath[128];
static uint8_t storekey[PT_STORE_KEYLEN];
static struct pt_daemon d;
static int pair = -1, cred_listen = -1, main_listen = -1;
static int conns[N_CONNS]; /* accepted on the credential socket */
static pid_t holder = -1, peer = -1;
static uint8_t buf[PS_MAX_DGRAM];

static int log_fd = -1;
static void file_sink(int prio, const char *line)
{
	(void)prio;
	(void)!write(log_fd, line, strlen(line));
	(void)!write(log_fd, "\n", 1);
}

static int listen_at(const char *name, struct sockaddr_un *ret, socklen_t *ret_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/run/%s", dir, name);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, 0666) < 0 || listen(fd, 64) < 0)
		return -1;
	*ret_len = sizeof(*ret);
	if (getsockname(fd, (struct sockaddr *)ret, ret_len) < 0)
		return -1;
	return fd;
}

/* The peer: another process (the key holder refuses tokend's own), of an
 * unprivileged uid, holding N_CONNS connections to the credential socket. */
static pid_t start_peer(void)
{
	int ready[2];
	pid_t pid;
	char c;

	if (pipe(ready) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_un to = { .sun_family = AF_UNIX };
		int fds[N_CONNS];

		alarm(30);
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(1);
		snprintf(to.sun_path, sizeof(to.sun_path), "%s/run/cred.sock", dir);
		for (int i = 0; i < N_CONNS; i++) {
			fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
			if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&to, sizeof(to)) < 0)
				_exit(2);
		}
		(void)!write(ready[1], "r", 1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	if (pid > 0 && read(ready[0], &c, 1) != 1) {
		int st = 0;

		waitpid(pid, &st, 0);
		fprintf(stderr, "the peer ended with %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		pid = -1;
	}
	close(ready[0]);
	return pid;
}

static int setup(void **state)
{
	char conf[1024];
	int sv[2];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pertok-holder-cred-test.XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0711) < 0) {
		fprintf(stderr, "setup: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	snprintf(statedir, sizeof(statedir), "%s/state", dir);
	if (mkdir(statedir, 0700) < 0) {
		fprintf(stderr, "setup: %s: %s\n", statedir, strerror(errno));
		return -1;
	}
	snprintf(
		conf, sizeof(conf),
		"tokend: { state_dir = \"%s\"; socket = \"%s/sock\"; nss_cache = \"%s/none\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"audit = { refusal_burst = %d; };\n"
		"actors = ( { name = \"systemd\"; uid = 0; exe = [ \"/nonexistent/systemd\" ]; } );\n"
		"redeem = ( { name = \"r\"; holders = [ \"systemd\" ]; check_account = false; } );\n",
		statedir, dir, dir, BURST);
	if (ut_daemon_open(&d, conf, statedir, storekey) < 0)
		return -1;
	/* (the state directory is tokend's, 0700: the sockets are beside it) */
	snprintf(conf, sizeof(conf), "%s/run", dir);
	if (mkdir(conf, 0711) < 0 || chmod(conf, 0711) < 0) {
		fprintf(stderr, "setup: %s: %s\n", conf, strerror(errno));
		return -1;
	}
	main_listen = listen_at("sock", &d.listen_addr, &d.listen_addr_len);
	cred_listen = listen_at("cred.sock", &d.cred_addr, &d.cred_addr_len);
	if (main_listen < 0 || cred_listen < 0) {
		fprintf(stderr, "setup: listen: %s\n", strerror(errno));
		return -1;
	}
	peer = start_peer();
	if (peer < 0) {
		fprintf(stderr, "setup: the peer did not connect\n");
		return -1;
	}
	for (int i = 0; i < N_CONNS; i++)
		if ((conns[i] = accept4(cred_listen, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			fprintf(stderr, "setup: accept: %s\n", strerror(errno));
			return -1;
		}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "setup: socketpair: %s\n", strerror(errno));
		return -1;
	}
	holder = fork();
	if (holder == 0) {
		alarm(30);
		close(sv[0]);
		log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		pt_log_set_sink(file_sink);
		_exit(pt_holder_run(&d, sv[1], NULL) < 0 ? 1 : 0);
	}
	close(sv[1]);
	pair = sv[0];
	return holder < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];
	int st;

	(void)state;
	if (pair >= 0)
		close(pair); /* the key holder's end of stream: it stops */
	if (holder > 0)
		waitpid(holder, &st, 0);
	if (peer > 0) {
		kill(peer, SIGKILL);
		waitpid(peer, &st, 0);
	}
	for (int i = 0; i < N_CONNS; i++)
		if (conns[i] >= 0)
			close(conns[i]);
	close(cred_listen);
	close(main_listen);
	ut_daemon_close(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void send_msg(struct ptbuf *m, int fd)
{
	assert_int_equal(ps_send_msg(pair, m, fd), 0);
	ptbuf_reset(m);
}

/* The key holder's next message of kind about conn (others skipped). */
static void expect(uint8_t kind, uint32_t conn, struct ps_msg *ret)
{
	for (;;) {
		const uint8_t *mp;
		size_t len, off = 0, mlen;
		int fd = -1;

		assert_int_equal(ps_recv(pair, buf, &len, &fd), 0);
		assert_int_equal(fd, -1);
		while (ps_dgram_next(buf, len, &off, &mp, &mlen) > 0) {
			struct ps_msg m;

			assert_int_equal(ps_decode(mp, mlen, &m), 0);
			if (m.kind == kind && m.conn == conn) {
				*ret = m; /* (rep points into buf: only flags are read) */
				return;
			}
			ps_msg_clear(&m);
		}
	}
}

/* Connection id (1-based) i of conns, announced; its PS_IDENT taken. */
static void announce(uint32_t id)
{
	struct ptbuf *m = ptbuf_new(PS_MAX_MSG);
	struct ps_msg r;

	assert_non_null(m);
	assert_int_equal(ps_encode_conn(m, id), 0);
	send_msg(m, conns[id - 1]);
	expect(PS_IDENT, id, &r);
	assert_int_equal(r.accepted, 1);
	/* not systemd's executable: the front closes it without a byte */
	assert_int_equal(r.class & PS_CLASS_SYSTEMD, 0);
	ps_msg_clear(&r);
	ptbuf_free(m);
}

/* A request on conn: the key holder's reply flags. */
static uint8_t ask(uint32_t id, uint8_t type, const char *unit)
{
	struct pt_req req = { .type = type, .service = (char *)unit, .id = (char *)"pertok" };
	struct ptbuf *m = ptbuf_new(PS_MAX_MSG);
	struct ps_msg r;
	uint8_t flags;

	assert_non_null(m);
	assert_int_equal(ps_encode_req(m, id, &req, NULL), 0);
	send_msg(m, -1);
	expect(PS_REP, id, &r);
	flags = r.flags;
	ps_msg_clear(&r);
	ptbuf_free(m);
	return flags;
}

static unsigned count_log(const char *needle)
{
	FILE *f = fopen(logpath, "r");
	char line[4096];
	unsigned n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void test_one_request_only(void **state)
{
	(void)state;
	for (uint32_t id = 1; id <= 4; id++)
		announce(id);
	/* anything but the credential */
	assert_int_equal(ask(1, PT_STATUS, NULL), PS_REP_DROP);
	assert_int_equal(count_log("the front passed a request other than the credential"), 1);
	/* a unit name the front never passes */
	assert_int_equal(ask(2, PT_CREDENTIAL, "x.target"), PS_REP_DROP);
	assert_int_equal(ask(3, PT_CREDENTIAL, "a b.service"), PS_REP_DROP);
	assert_int_equal(count_log("the unit name is not one the front accepts"), 2);
	/* the credential once (refused: not systemd's executable), never twice */
	assert_int_equal(ask(4, PT_CREDENTIAL, "a.service"), PS_REP_DROP);
	assert_int_equal(count_log("a second credential request"), 0);
	assert_int_equal(ask(4, PT_CREDENTIAL, "a.service"), PS_REP_DROP);
	assert_int_equal(count_log("a second credential request"), 1);
	/* only the first went to the dispatch table */
	assert_int_equal(count_log("not an executable of the actor systemd; closed"), 1);
}

static void test_refusal_lines_limited(void **state)
{
	(void)state;
	for (uint32_t id = 1; id <= N_CONNS; id++) {
		announce(id);
		assert_int_equal(ask(id, PT_CREDENTIAL, "a.service"), PS_REP_DROP);
	}
	/* N_CONNS refusals of one unprivileged uid: at most BURST lines of the
	 * key holder's own, not one per connection */
	assert_true(count_log("closed: the peer is not systemd") >= 1);
	assert_true(count_log("closed: the peer is not systemd") <= BURST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_request_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_lines_limited, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(120); /* a key holder that stops answering fails the test */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
