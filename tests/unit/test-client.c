/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/client.c: pt_client_* against a small server that
 * runs in a forked child on a socket in a private temporary directory.
 * Each scenario makes the server misbehave in one way.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
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

#include "buf.h"
#include "client.h"
#include "io.h"
#include "proto-server.h"
#include "util.h"

enum scenario {
	SRV_NORMAL,		/* answers everything sensibly */
	SRV_SILENT,		/* accepts, never answers */
	SRV_SILENT_AFTER_HELLO, /* answers HELLO, then nothing */
	SRV_DRIP_AFTER_HELLO,	/* answers HELLO, announces 4 KiB, sends a byte per 100 ms */
	SRV_CLOSE,		/* accepts and closes at once */
	SRV_CLOSE_AFTER_HELLO,	/* answers HELLO, closes on the next request */
	SRV_HELLO_THEN_CLOSE,	/* answers HELLO and closes at once */
	SRV_HELLO_THEN_BUSY,	/* answers HELLO, sends a "busy" error and closes at once */
	SRV_CLOSE_MIDFRAME,	/* sends half a frame header and closes */
	SRV_CLOSE_MIDPAYLOAD,	/* announces 100 bytes, sends 10, closes */
	SRV_OVERSIZE,		/* announces a frame far over PT_MAX_FRAME */
	SRV_OVERSIZE_BY_ONE,	/* announces PT_MAX_FRAME + 1 */
	SRV_ZERO_LEN,		/* a frame of length 0 */
	SRV_MALFORMED,		/* PT_OK to HELLO with a 2-byte payload */
	SRV_TRAILING,		/* PT_OK to HELLO with one byte too many */
	SRV_BAD_TYPE,		/* answers with a request type instead of OK/ERR */
	SRV_VERSION2,		/* PT_OK with version 2 */
	SRV_VERSION_ERR,	/* PT_ERR PT_E_VERSION */
	SRV_BAD_AFTER_HELLO,	/* answers HELLO, then a malformed MINT reply */
};

struct fixture {
	char dir[64];
	char path[128];
	pid_t pid;
	int fds_before;
};

/* ------------------------------------------------------------ helpers */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory stream's own fd */
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pt-client-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/tokend.sock", f->dir);
	f->pid = -1;
	f->fds_before = count_fds();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int leaked;

	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	unlink(f->path);
	rmdir(f->dir);
	/* No descriptor may outlive a test, whatever the client went through. */
	leaked = count_fds() - f->fds_before;
	free(f);
	if (leaked != 0) {
		print_error("%d file descriptor(s) leaked\n", leaked);
		return -1;
	}
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	uint8_t *q = p;

	while (n > 0) {
		ssize_t k = read(fd, q, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads one request; returns its type (and decodes it into *q) or -1. */
static int srv_read_req(int fd, struct pt_req *q)
{
	static uint8_t frame[4 + PT_MAX_FRAME];
	const uint8_t *payload;
	size_t plen, used, len;
	uint8_t type;

	if (read_full(fd, frame, 4) < 0)
		return -1;
	len = (size_t)frame[0] << 24 | (size_t)frame[1] << 16 | (size_t)frame[2] << 8 | frame[3];
	if (len == 0 || len > PT_MAX_FRAME || read_full(fd, frame + 4, len) < 0)
		return -1;
	if (pt_frame_split(frame, 4 + len, PT_MAX_FRAME, &type, &payload, &plen, &used) < 0)
		return -1;
	if (pt_req_decode(type, payload, plen, q) < 0)
		return -1;
	return type;
}

static void srv_send(int fd, const void *p, size_t n)
{
	(void)!pt_write_all(fd, p, n);
}

static void srv_send_rep(int fd, uint8_t req_type, const struct pt_rep *rep)
{
	struct ptbuf *b = ptbuf_new(4 + PT_MAX_FRAME);

	if (!b || pt_rep_encode(req_type, rep, b) < 0)
		_exit(3);
	srv_send(fd, ptbuf_ptr(b), ptbuf_len(b));
	ptbuf_free(b);
}

static void srv_hello_ok(int fd)
{
	struct pt_rep rep = { .type = PT_OK, .version = PT_PROTO_VERSION };
	struct pt_req q = { 0 };

	if (srv_read_req(fd, &q) != PT_HELLO || q.version != PT_PROTO_VERSION)
		_exit(4);
	srv_send_rep(fd, PT_HELLO, &rep);
}

static void srv_normal(int fd)
{
	struct pt_tokinfo list[2] = {
		{ .id = "pt_1",
		  .user = "alice",
		  .uid = 1000,
		  .holder = "atd",
		  .actor = "sshd",
		  .iat = 10,
		  .exp = 20,
		  .last_used = 15,
		  .uses = 2 },
		{ .id = "pt_2", .user = "alice", .uid = 1000, .holder = "cron", .actor = "login" },
	};

	srv_hello_ok(fd);
	for (;;) {
		struct pt_req q = { 0 };
		struct pt_rep rep = { .type = PT_OK };
		char buf[600];
		int t = srv_read_req(fd, &q);

		if (t < 0)
			return;
		switch (t) {
		case PT_MINT:
			/* Echo what arrived, so the client test sees its request intact. */
			snprintf(buf, sizeof(buf), "tok:%s:%s:%s:%s", q.user, q.service, q.tty,
				 q.rhost);
			rep.token = buf;
			rep.exp = 1234;
			rep.id = "";
			break;
		case PT_EXCHANGE:
			rep.id = "pt_new";
			rep.exp = q.lifetime;
			rep.renewed = strlen(q.live_token) == PT_MAX_TOKEN;
			break;
		case PT_LIST:
			rep.list = list;
			rep.n_list = 2;
			break;
		case PT_REDEEM:
			rep = (struct pt_rep){ .type = PT_ERR,
					       .err_code = PT_E_DENIED,
					       .message = "rule scheduled-jobs: not in group" };
			break;
		case PT_STATUS:
			rep.text = "version=0.1.0\n";
			break;
		default:
			rep = (struct pt_rep){ .type = PT_ERR,
					       .err_code = PT_E_PROTO,
					       .message = "unexpected" };
			break;
		}
		srv_send_rep(fd, (uint8_t)t, &rep);
		pt_req_clear(&q);
	}
}

static void serve(int fd, enum scenario sc)
{
	static const uint8_t oversize[] = { 0x00, 0x10, 0x00, 0x00, PT_OK, 0, 0, 0, 1 };
	static const uint8_t by_one[] = { 0x00, 0x01, 0x00, 0x01, PT_OK, 0, 0, 0, 1 };
	static const uint8_t zero[] = { 0, 0, 0, 0, PT_OK };
	static const uint8_t malformed[] = { 0, 0, 0, 3, PT_OK, 0, 1 };
	static const uint8_t trailing[] = { 0, 0, 0, 6, PT_OK, 0, 0, 0, 1, 0 };
	static const uint8_t bad_type[] = { 0, 0, 0, 5, PT_MINT, 0, 0, 0, 1 };
	static const uint8_t midpayload[] = { 0, 0, 0, 100, PT_OK, 0, 0, 0, 1, 0, 0, 0, 0, 0 };
	static const uint8_t bad_mint[] = { 0, 0, 0, 5, PT_OK, 0, 0, 0, 9 };
	struct pt_req q = { 0 };

	switch (sc) {
	case SRV_NORMAL:
		srv_normal(fd);
		break;
	case SRV_SILENT:
		pause();
		break;
	case SRV_SILENT_AFTER_HELLO:
		srv_hello_ok(fd);
		pause();
		break;
	case SRV_DRIP_AFTER_HELLO:
		srv_hello_ok(fd);
		(void)srv_read_req(fd, &q);
		srv_send(fd, "\0\0\x10\0", 4);
		for (;;) {
			srv_send(fd, "x", 1);
			usleep(100 * 1000);
		}
	case SRV_CLOSE:
		break;
	case SRV_CLOSE_AFTER_HELLO:
		srv_hello_ok(fd);
		(void)srv_read_req(fd, &q);
		break;
	case SRV_HELLO_THEN_CLOSE:
		srv_hello_ok(fd);
		break;
	case SRV_HELLO_THEN_BUSY:
		srv_hello_ok(fd);
		{
			struct ptbuf *b = ptbuf_new(256);

			if (!b || pt_rep_encode_error(b, PT_E_BUSY, "too many connections") < 0)
				_exit(3);
			srv_send(fd, ptbuf_ptr(b), ptbuf_len(b));
			ptbuf_free(b);
		}
		break;
	case SRV_CLOSE_MIDFRAME:
		(void)srv_read_req(fd, &q);
		srv_send(fd, "\0\0", 2);
		break;
	case SRV_CLOSE_MIDPAYLOAD:
		(void)srv_read_req(fd, &q);
		srv_send(fd, midpayload, sizeof(midpayload));
		break;
	case SRV_OVERSIZE:
		(void)srv_read_req(fd, &q);
		srv_send(fd, oversize, sizeof(oversize));
		pause();
		break;
	case SRV_OVERSIZE_BY_ONE:
		(void)srv_read_req(fd, &q);
		srv_send(fd, by_one, sizeof(by_one));
		pause();
		break;
	case SRV_ZERO_LEN:
		(void)srv_read_req(fd, &q);
		srv_send(fd, zero, sizeof(zero));
		pause();
		break;
	case SRV_MALFORMED:
		(void)srv_read_req(fd, &q);
		srv_send(fd, malformed, sizeof(malformed));
		pause();
		break;
	case SRV_TRAILING:
		(void)srv_read_req(fd, &q);
		srv_send(fd, trailing, sizeof(trailing));
		pause();
		break;
	case SRV_BAD_TYPE:
		(void)srv_read_req(fd, &q);
		srv_send(fd, bad_type, sizeof(bad_type));
		pause();
		break;
	case SRV_VERSION2: {
		struct pt_rep rep = { .type = PT_OK, .version = 2 };

		(void)srv_read_req(fd, &q);
		srv_send_rep(fd, PT_HELLO, &rep);
		pause();
		break;
	}
	case SRV_VERSION_ERR:
		(void)srv_read_req(fd, &q);
		{
			struct ptbuf *b = ptbuf_new(256);

			if (!b || pt_rep_encode_error(b, PT_E_VERSION, "unsupported version") < 0)
				_exit(3);
			srv_send(fd, ptbuf_ptr(b), ptbuf_len(b));
			ptbuf_free(b);
		}
		pause();
		break;
	case SRV_BAD_AFTER_HELLO:
		srv_hello_ok(fd);
		(void)srv_read_req(fd, &q);
		srv_send(fd, bad_mint, sizeof(bad_mint));
		pause();
		break;
	}
}

/* Listens on f->path and forks a child that serves connections one by one. */
static void start_server(struct fixture *f, enum scenario sc)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd;

	strcpy(sa.sun_path, f->path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		for (;;) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0)
				_exit(1);
			serve(fd, sc);
			close(fd);
		}
	}
	close(lfd);
}

static void expect_connect_fails(struct fixture *f, enum scenario sc, int timeout_ms,
				 const int *allowed, size_t n_allowed)
{
	struct pt_client *c = (struct pt_client *)f; /* sentinel */
	int r;

	start_server(f, sc);
	r = pt_client_connect(f->path, timeout_ms, &c);
	for (size_t i = 0; i < n_allowed; i++)
		if (r == allowed[i])
			goto ok;
	fail_msg("scenario %d: pt_client_connect = %d (%s)", sc, r, strerror(-r));
ok:
	assert_ptr_equal(c, f); /* untouched on failure */
}

/* ------------------------------------------------------------ tests */

static void test_normal(void **state)
{
	struct fixture *f = *state;
	struct pt_client *c = NULL;
	struct pt_req q;
	struct pt_rep rep;
	char *tok;

	start_server(f, SRV_NORMAL);
	assert_int_equal(pt_client_connect(f->path, 2000, &c), 0);
	assert_non_null(c);
	assert_int_equal(count_fds(), f->fds_before + 1);

	q = (struct pt_req){ .type = PT_MINT,
			     .user = "alice",
			     .service = "sshd",
			     .tty = "pts/0",
			     .rhost = "192.0.2.1" };
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(pt_client_call(c, &q, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_string_equal(rep.token, "tok:alice:sshd:pts/0:192.0.2.1");
	assert_int_equal(rep.exp, 1234);
	assert_string_equal(rep.id, "");
	pt_rep_clear(&rep);

	/* A request with a maximal token, larger than one socket write. */
	tok = malloc(PT_MAX_TOKEN + 1);
	assert_non_null(tok);
	memset(tok, 'x', PT_MAX_TOKEN);
	tok[PT_MAX_TOKEN] = '\0';
	q = (struct pt_req){
		.type = PT_EXCHANGE, .live_token = tok, .holder = "atd", .lifetime = 604800
	};
	assert_int_equal(pt_client_call(c, &q, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	assert_string_equal(rep.id, "pt_new");
	assert_int_equal(rep.exp, 604800);
	assert_int_equal(rep.renewed, 1);
	pt_rep_clear(&rep);
	free(tok);

	q = (struct pt_req){ .type = PT_LIST, .user = "" };
	assert_int_equal(pt_client_call(c, &q, &rep), 0);
	assert_int_equal(rep.n_list, 2);
	assert_string_equal(rep.list[0].id, "pt_1");
	assert_string_equal(rep.list[1].holder, "cron");
	assert_int_equal(rep.list[0].uses, 2);
	pt_rep_clear(&rep);

	/* A refusal is a reply, not a transport error. */
	q = (struct pt_req){
		.type = PT_REDEEM, .user = "alice", .holder = "atd", .service = "atd"
	};
	assert_int_equal(pt_client_call(c, &q, &rep), 0);
	assert_int_equal(rep.type, PT_ERR);
	assert_int_equal(rep.err_code, PT_E_DENIED);
	assert_string_equal(rep.message, "rule scheduled-jobs: not in group");
	pt_rep_clear(&rep);

	q = (struct pt_req){ .type = PT_STATUS };
	assert_int_equal(pt_client_call(c, &q, &rep), 0);
	assert_string_equal(rep.text, "version=0.1.0\n");
	pt_rep_clear(&rep);

	/* A request that cannot be encoded is refused locally; the stream stays usable. */
	q = (struct pt_req){ .type = 99 };
	assert_int_equal(pt_client_call(c, &q, &rep), -EINVAL);
	q = (struct pt_req){ .type = PT_STATUS };
	assert_int_equal(pt_client_call(c, &q, &rep), 0);
	pt_rep_clear(&rep);
	assert_int_equal(pt_client_call(NULL, &q, &rep), -EINVAL);

	pt_client_free(c);
	pt_client_free(NULL);
	assert_int_equal(count_fds(), f->fds_before);

	/* Several clients in a row, none leaks. */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(pt_client_connect(f->path, 2000, &c), 0);
		pt_client_free(c);
	}
	assert_int_equal(count_fds(), f->fds_before);
}

static void test_connect_timeout_bounded(void **state)
{
	struct fixture *f = *state;
	struct pt_client *c = NULL;
	uint64_t t0, dt;

	start_server(f, SRV_SILENT);
	t0 = pt_now_ms_monotonic();
	assert_int_equal(pt_client_connect(f->path, 300, &c), -ETIMEDOUT);
	dt = pt_now_ms_monotonic() - t0;
	assert_null(c);
	/* lower bound: not before the timeout; upper: bounded at all (loose, so
	 * a loaded machine does not make it flake) */
	if (dt < 290 || dt > 10000)
		fail_msg("connect timed out after %llu ms (timeout 300)", (unsigned long long)dt);
}

/* Nobody accepts at all: the kernel completes the connection (backlog), the
 * HELLO goes unanswered. */
static void test_connect_backlog_only(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pt_client *c = NULL;
	uint64_t t0, dt;
	int lfd;

	strcpy(sa.sun_path, f->path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	t0 = pt_now_ms_monotonic();
	assert_int_equal(pt_client_connect(f->path, 200, &c), -ETIMEDOUT);
	dt = pt_now_ms_monotonic() - t0;
	assert_true(dt >= 190 && dt <= 10000);
	close(lfd);
}

static void test_call_timeout_bounded(void **state)
{
	struct fixture *f = *state;
	struct pt_req q = { .type = PT_STATUS };
	struct pt_rep rep = { .type = 0x42 };
	struct pt_client *c = NULL;
	uint64_t t0, dt;

	start_server(f, SRV_SILENT_AFTER_HELLO);
	assert_int_equal(pt_client_connect(f->path, 400, &c), 0);
	t0 = pt_now_ms_monotonic();
	assert_int_equal(pt_client_call(c, &q, &rep), -ETIMEDOUT);
	dt = pt_now_ms_monotonic() - t0;
	if (dt < 390 || dt > 10000)
		fail_msg("call timed out after %llu ms (timeout 400)", (unsigned long long)dt);
	assert_int_equal(rep.type, 0x42); /* untouched */
	/* The stream is out of step now: later calls fail at once. */
	t0 = pt_now_ms_monotonic();
	assert_int_equal(pt_client_call(c, &q, &rep), -EPIPE);
	assert_true(pt_now_ms_monotonic() - t0 < 390); /* not after another timeout */
	pt_client_free(c);
}

/* A server that keeps sending a byte now and then must not extend the wait:
 * the timeout is a deadline for the whole call, not per read. */
static void test_call_deadline_not_per_read(void **state)
{
	struct fixture *f = *state;
	struct pt_req q = { .type = PT_STATUS };
	struct pt_rep rep = { 0 };
	struct pt_client *c = NULL;
	uint64_t t0, dt;

	start_server(f, SRV_DRIP_AFTER_HELLO);
	assert_int_equal(pt_client_connect(f->path, 500, &c), 0);
	t0 = pt_now_ms_monotonic();
	assert_int_equal(pt_client_call(c, &q, &rep), -ETIMEDOUT);
	dt = pt_now_ms_monotonic() - t0;
	/* a per-read timeout would never end (the server drips forever) */
	if (dt < 490 || dt > 10000)
		fail_msg("call timed out after %llu ms (timeout 500)", (unsigned long long)dt);
	pt_client_free(c);
}

static void test_close_early(void **state)
{
	static const int allowed[] = { -ECONNRESET, -EPIPE };

	expect_connect_fails(*state, SRV_CLOSE, 2000, allowed, PT_ELEMENTSOF(allowed));
}

static void test_close_midframe(void **state)
{
	static const int allowed[] = { -ECONNRESET };

	expect_connect_fails(*state, SRV_CLOSE_MIDFRAME, 2000, allowed, PT_ELEMENTSOF(allowed));
}

static void test_close_midpayload(void **state)
{
	static const int allowed[] = { -ECONNRESET };

	expect_connect_fails(*state, SRV_CLOSE_MIDPAYLOAD, 2000, allowed, PT_ELEMENTSOF(allowed));
}

static void test_close_after_hello(void **state)
{
	struct fixture *f = *state;
	struct pt_client *c = NULL;
	struct pt_rep rep = { 0 };
	struct pt_req q;
	char *tok;
	int r;

	start_server(f, SRV_CLOSE_AFTER_HELLO);
	assert_int_equal(pt_client_connect(f->path, 2000, &c), 0);
	q = (struct pt_req){ .type = PT_STATUS };
	r = pt_client_call(c, &q, &rep);
	assert_true(r == -ECONNRESET || r == -EPIPE);
	pt_client_free(c);

	tok = malloc(PT_MAX_TOKEN + 1);
	assert_non_null(tok);
	memset(tok, 'y', PT_MAX_TOKEN);
	tok[PT_MAX_TOKEN] = '\0';
	q = (struct pt_req){ .type = PT_EXCHANGE, .live_token = tok, .holder = "atd" };
	assert_int_equal(pt_client_connect(f->path, 2000, &c), 0);
	r = pt_client_call(c, &q, &rep);
	assert_true(r == -ECONNRESET || r == -EPIPE);
	free(tok);
	pt_client_free(c);
}

/* Writing to a peer that has gone: -EPIPE, and no SIGPIPE (which would kill
 * this test: the client must use MSG_NOSIGNAL, not touch signal handlers). */
static void test_write_to_closed_peer(void **state)
{
	struct fixture *f = *state;
	struct pt_req q = { .type = PT_STATUS };
	struct pt_rep rep = { 0 };
	struct pt_client *c = NULL;

	bool open_before[256];
	struct pollfd pfd = { .fd = -1, .events = POLLIN | POLLRDHUP };

	for (int i = 0; i < 256; i++)
		open_before[i] = fcntl(i, F_GETFD) >= 0;
	start_server(f, SRV_HELLO_THEN_CLOSE);
	assert_int_equal(pt_client_connect(f->path, 2000, &c), 0);
	/* the client's socket is the fd that connect opened: wait (bounded) for
	 * the server's close to arrive on it, an event rather than a sleep */
	for (int i = 0; i < 256; i++)
		if (!open_before[i] && fcntl(i, F_GETFD) >= 0)
			pfd.fd = i;
	assert_true(pfd.fd >= 0);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_int_equal(pt_client_call(c, &q, &rep), -EPIPE);
	pt_client_free(c);
}

/* A server that answered and closed before the request was written (tokend
 * refusing a connection over its caps): the write fails, the answer waiting
 * in the socket is still the reply ("busy"), not a bare EPIPE. */
static void test_reply_before_close(void **state)
{
	struct fixture *f = *state;
	struct pt_req q = { .type = PT_STATUS };
	struct pt_rep rep = { 0 };
	struct pt_client *c = NULL;
	bool open_before[256];
	struct pollfd pfd = { .fd = -1,
			      .events = POLLRDHUP }; /* not POLLIN: the reply comes first */

	for (int i = 0; i < 256; i++)
		open_before[i] = fcntl(i, F_GETFD) >= 0;
	start_server(f, SRV_HELLO_THEN_BUSY);
	assert_int_equal(pt_client_connect(f->path, 2000, &c), 0);
	for (int i = 0; i < 256; i++)
		if (!open_before[i] && fcntl(i, F_GETFD) >= 0)
			pfd.fd = i;
	assert_true(pfd.fd >= 0);
	/* the error frame and the close have arrived before the request is sent */
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true(pfd.revents & POLLRDHUP);
	assert_int_equal(pt_client_call(c, &q, &rep), 0);
	assert_int_equal(rep.type, PT_ERR);
	assert_int_equal(rep.err_code, PT_E_BUSY);
	pt_rep_clear(&rep);
	pt_client_free(c);
}

static void test_malformed_replies(void **state)
{
	static const int eproto[] = { -EPROTO };
	static const enum scenario bad[] = {
		SRV_OVERSIZE,  SRV_OVERSIZE_BY_ONE, SRV_ZERO_LEN,
		SRV_MALFORMED, SRV_TRAILING,	    SRV_BAD_TYPE,
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < PT_ELEMENTSOF(bad); i++) {
		uint64_t t0 = pt_now_ms_monotonic();

		expect_connect_fails(f, bad[i], 3000, eproto, PT_ELEMENTSOF(eproto));
		/* Detected from what arrived, not by waiting for the timeout. */
		assert_true(pt_now_ms_monotonic() - t0 < 2900); /* before the 3 s timeout */
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		f->pid = -1;
		unlink(f->path);
		assert_int_equal(count_fds(), f->fds_before);
	}
}

static void test_malformed_call_reply(void **state)
{
	struct fixture *f = *state;
	struct pt_req q = { .type = PT_MINT, .user = "a", .service = "s", .tty = "", .rhost = "" };
	struct pt_rep rep = { .type = 0x42 };
	struct pt_client *c = NULL;

	start_server(f, SRV_BAD_AFTER_HELLO);
	assert_int_equal(pt_client_connect(f->path, 2000, &c), 0);
	assert_int_equal(pt_client_call(c, &q, &rep), -EPROTO);
	assert_int_equal(rep.type, 0x42);
	assert_int_equal(pt_client_call(c, &q, &rep), -EPIPE);
	pt_client_free(c);
}

static void test_version_mismatch(void **state)
{
	static const int eproto[] = { -EPROTO };
	struct fixture *f = *state;

	expect_connect_fails(f, SRV_VERSION2, 2000, eproto, 1);
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	f->pid = -1;
	unlink(f->path);
	expect_connect_fails(f, SRV_VERSION_ERR, 2000, eproto, 1);
}

static void test_no_server(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pt_client *c = NULL;
	char longpath[200];
	int fd;

	/* No socket file. */
	assert_int_equal(pt_client_connect(f->path, 500, &c), -ENOENT);
	/* A socket file nobody listens on. */
	strcpy(sa.sun_path, f->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(pt_client_connect(f->path, 500, &c), -ECONNREFUSED);
	/* Not a socket. */
	assert_int_equal(pt_client_connect(f->dir, 500, &c), -ECONNREFUSED);
	/* Path too long for sun_path. */
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(pt_client_connect(longpath, 500, &c), -ENAMETOOLONG);
	longpath[sizeof(((struct sockaddr_un *)0)->sun_path)] = '\0';
	assert_int_equal(pt_client_connect(longpath, 500, &c), -ENAMETOOLONG);
	/* Bad arguments. */
	assert_int_equal(pt_client_connect(NULL, 500, &c), -EINVAL);
	assert_int_equal(pt_client_connect("", 500, &c), -EINVAL);
	assert_int_equal(pt_client_connect(f->path, 0, &c), -EINVAL);
	assert_int_equal(pt_client_connect(f->path, -1, &c), -EINVAL);
	assert_null(c);
}

static void test_default_socket(void **state)
{
	assert_string_equal(pt_default_socket(), RUNDIR "/pertok/tokend.sock");
	assert_true(pt_default_socket()[0] == '/');
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_normal),
		T(test_connect_timeout_bounded),
		T(test_connect_backlog_only),
		T(test_call_timeout_bounded),
		T(test_call_deadline_not_per_read),
		T(test_close_early),
		T(test_close_midframe),
		T(test_close_midpayload),
		T(test_close_after_hello),
		T(test_write_to_closed_peer),
		T(test_reply_before_close),
		T(test_malformed_replies),
		T(test_malformed_call_reply),
		T(test_version_mismatch),
		T(test_no_server),
		T(test_default_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
