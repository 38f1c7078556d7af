/* SPDX-License-Identifier: MIT */
/*
 * The front <-> key holder messages (tokend/privsep.c): every kind round
 * trips; what a compromised front might send that is not exactly the form
 * is refused (unknown kinds, unknown field bits, over-long strings, trailing
 * bytes, a log line with control characters, absurd limits); a descriptor
 * passes with its message over a real SOCK_SEQPACKET pair.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "privsep.h"

static struct ptbuf *b;

static int setup(void **state)
{
	(void)state;
	b = ptbuf_new(PS_MAX_MSG);
	return b ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ptbuf_free(b);
	return 0;
}

static void test_req_round_trip(void **state)
{
	struct pt_req req = {
		.type = PT_REDEEM, .user = "alice", .holder = "at", .service = "atd"
	};
	struct ps_msg m;

	(void)state;
	assert_int_equal(ps_encode_req(b, 7, &req, NULL), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_int_equal(m.kind, PS_REQ);
	assert_int_equal(m.conn, 7);
	assert_int_equal(m.req.type, PT_REDEEM);
	assert_string_equal(m.req.user, "alice");
	assert_string_equal(m.req.holder, "at");
	assert_string_equal(m.req.service, "atd");
	assert_null(m.req.tty); /* absent stays absent, not "" */
	assert_null(m.req.live_token);
	ps_msg_clear(&m);
	/* a code sheet's count reaches the key holder */
	req = (struct pt_req){
		.type = PT_CODE_SHEET, .ttype = "recovery", .user = "alice", .count = 12
	};
	assert_int_equal(ps_encode_req(b, 7, &req, NULL), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_int_equal(m.req.count, 12);
	ps_msg_clear(&m);
}

/* The live token's text never crosses: its parts do (or why they did not
 * parse), and a message that carries the text is refused. */
static void test_req_live(void **state)
{
	struct pt_req req = { .type = PT_EXCHANGE, .holder = "at", .lifetime = 60 };
	struct pt_live_presented live = { .refused = PT_LIVE_OK };
	struct ptbuf *x;
	struct ps_msg m;
	size_t n;

	(void)state;
	req.live_token = "eyJhbGciOiJFZERTQSJ9.e30.c2ln"; /* not sent */
	live.refused = 1; /* a token the front could not parse travels as its refusal */
	assert_int_equal(ps_encode_req(b, 4, &req, &live), 0);
	assert_null(memmem(ptbuf_ptr(b), ptbuf_len(b), "eyJ", 3));
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_true(m.has_live);
	assert_int_equal(m.live.refused, 1);
	assert_null(m.req.live_token);
	assert_string_equal(m.req.holder, "at");
	assert_int_equal(m.req.lifetime, 60);
	ps_msg_clear(&m);
	/* without a live token: has_live 0 */
	assert_int_equal(ps_encode_req(b, 4, &req, NULL), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_false(m.has_live);
	ps_msg_clear(&m);
	/* hand-made: the live token's text as a field is refused */
	x = ptbuf_new(PS_MAX_MSG);
	assert_non_null(x);
	ptbuf_put_u8(x, PS_REQ);
	ptbuf_put_u32(x, 1);
	ptbuf_put_u8(x, PT_EXCHANGE);
	ptbuf_put_u32(x, 1u << 4); /* the live token's bit */
	ptbuf_put_u32(x, 0);
	ptbuf_put_u64(x, 0);
	ptbuf_put_u8(x, 0);
	ptbuf_put_u64(x, 0);
	ptbuf_put_u64(x, 0);
	ptbuf_put_u32(x, 0); /* count */
	ptbuf_put_cstring(x, "eyJhbGciOiJFZERTQSJ9.e30.c2ln");
	ptbuf_put_u8(x, 0);
	n = ptbuf_len(x);
	assert_int_equal(ps_decode(ptbuf_ptr(x), n, &m), -EBADMSG);
	/* and a live flag that is neither 0 nor 1 */
	ptbuf_reset(x);
	assert_int_equal(ps_encode_req(x, 1, &req, NULL), 0);
	ptbuf_mutable_ptr(x)[ptbuf_len(x) - 1] = 2;
	assert_int_equal(ps_decode(ptbuf_ptr(x), ptbuf_len(x), &m), -EBADMSG);
	ptbuf_free(x);
}

/* An external JWT (PT_ACCEPT) crosses as its split form: never its text
 * (req.jwt), the signing input and signature for the key holder to verify. */
static void test_req_ext(void **state)
{
	struct pt_req req = { .type = PT_ACCEPT, .user = "rpo-1", .service = "sshd", .rhost = "" };
	struct pt_extjwt_presented ext = { .refused = PT_EXTJWT_OK,
					   .alg = PT_EXTJWT_EDDSA,
					   .alg_name = "EdDSA",
					   .kid = "k1",
					   .iss = "https://idp.example",
					   .input = "e30.e30",
					   .input_len = 7,
					   .sig_len = 64 };
	struct pt_live_presented live = { .refused = 1 };
	struct ps_msg m;
	FILE *f;

	(void)state;
	req.jwt = "eyJTECRET.e30.c2ln"; /* not sent */
	assert_int_equal(ps_encode_req_ext(b, 9, &req, NULL, &ext), 0);
	assert_null(memmem(ptbuf_ptr(b), ptbuf_len(b), "eyJTECRET", 9));
	/* a seed for fuzz-privsep when asked (PERTOK_WRITE_SEED=path) */
	if (getenv("PERTOK_WRITE_SEED") && (f = fopen(getenv("PERTOK_WRITE_SEED"), "we"))) {
		fwrite(ptbuf_ptr(b), 1, ptbuf_len(b), f);
		fclose(f);
	}
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_true(m.has_ext);
	assert_false(m.has_live);
	assert_null(m.req.jwt);
	assert_string_equal(m.ext.iss, "https://idp.example");
	assert_string_equal(m.ext.input, "e30.e30");
	assert_string_equal(m.ext.kid, "k1");
	assert_int_equal(m.ext.sig_len, 64);
	ps_msg_clear(&m);
	/* a signing input that is not base64url: refused by the key holder's decoder */
	ext.input = "e30.e30!";
	ext.input_len = 8;
	assert_int_equal(ps_encode_req_ext(b, 9, &req, NULL, &ext), -EINVAL);
	/* never both */
	ext.input = "e30.e30";
	ext.input_len = 7;
	assert_int_equal(ps_encode_req_ext(b, 9, &req, &live, &ext), -EINVAL);
}

static void test_other_kinds(void **state)
{
	struct ps_limits l = { .max_connections = 128,
			       .max_connections_per_uid = 8,
			       .reserved_connections = 32,
			       .client_timeout_ms = 5000,
			       .max_connection_lifetime = 30,
			       .uid_rate_n = 20,
			       .uid_rate_period = 1 };
	uint8_t frame[] = { 0, 0, 0, 1, PT_OK };
	struct ps_msg m;

	(void)state;
	assert_int_equal(ps_encode_ident(b, 3, 1000, 4242, PS_CLASS_PRIVILEGED, true), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_int_equal(m.uid, 1000);
	assert_int_equal(m.pid, 4242);
	assert_int_equal(m.class, PS_CLASS_PRIVILEGED);
	assert_int_equal(m.accepted, 1);
	ps_msg_clear(&m);
	assert_int_equal(ps_encode_rep(b, 3, PS_REP_CLOSE, frame, sizeof(frame)), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_int_equal(m.flags, PS_REP_CLOSE);
	assert_int_equal(m.rep_len, sizeof(frame));
	assert_memory_equal(m.rep, frame, sizeof(frame));
	ps_msg_clear(&m);
	assert_int_equal(ps_encode_limits(b, &l), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_int_equal(m.limits.max_connections, 128);
	assert_int_equal(m.limits.max_connections_per_uid, 8);
	assert_int_equal(m.limits.reserved_connections, 32);
	assert_int_equal(m.limits.client_timeout_ms, 5000);
	assert_int_equal(m.limits.max_connection_lifetime, 30);
	assert_int_equal(m.limits.uid_rate_n, 20);
	assert_int_equal(m.limits.uid_rate_period, 1);
	ps_msg_clear(&m);
	assert_int_equal(ps_encode_bad(b, 9, 99), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_int_equal(m.kind, PS_BAD);
	assert_int_equal(m.type, 99);
	ps_msg_clear(&m);
	/* a log line is made printable before it leaves the front */
	assert_int_equal(ps_encode_log(b, 4, "op=x result=y\nop=forged result=allow"), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_string_equal(m.line, "op=x result=y?op=forged result=allow");
	ps_msg_clear(&m);
}

static void expect_bad(const uint8_t *p, size_t n)
{
	struct ps_msg m = { .kind = 0xee };

	assert_int_equal(ps_decode(p, n, &m), -EBADMSG);
	assert_int_equal(m.kind, 0xee); /* untouched */
}

static void test_rejects(void **state)
{
	struct pt_req req = { .type = PT_REVOKE, .id = "pt_x" };
	uint8_t raw[PS_MAX_MSG];
	size_t n;

	(void)state;
	/* unknown kind; a header cut short */
	expect_bad((const uint8_t *)"\x77\0\0\0\1", 5);
	expect_bad((const uint8_t *)"\x01\0\0", 3);
	/* trailing bytes after a whole message */
	assert_int_equal(ps_encode_conn(b, 1), 0);
	n = ptbuf_len(b);
	memcpy(raw, ptbuf_ptr(b), n);
	raw[n] = 0;
	expect_bad(raw, n + 1);
	/* a field bit the format does not have */
	assert_int_equal(ps_encode_req(b, 1, &req, NULL), 0);
	n = ptbuf_len(b);
	memcpy(raw, ptbuf_ptr(b), n);
	raw[1 + 4 + 1] |= 0x80; /* the top byte of the u32 field mask */
	expect_bad(raw, n);
	/* a string longer than its bound (an id is at most PT_MAX_STR) */
	{
		char *big = malloc(PT_MAX_STR + 2);
		struct ptbuf *x = ptbuf_new(PS_MAX_MSG);
		assert_non_null(big);
		memset(big, 'a', PT_MAX_STR + 1);
		big[PT_MAX_STR + 1] = '\0';
		req.id = big;
		assert_int_equal(ps_encode_req(b, 1, &req, NULL), -EMSGSIZE); /* not sent ... */
		/* ... and not taken when hand-made */
		ptbuf_put_u8(x, PS_REQ);
		ptbuf_put_u32(x, 1);
		ptbuf_put_u8(x, PT_REVOKE);
		ptbuf_put_u32(x, 1u << 6); /* id */
		ptbuf_put_u32(x, 0);
		ptbuf_put_u64(x, 0);
		ptbuf_put_u8(x, 0);
		ptbuf_put_u64(x, 0);
		ptbuf_put_u64(x, 0);
		ptbuf_put_cstring(x, big);
		expect_bad(ptbuf_ptr(x), ptbuf_len(x));
		ptbuf_free(x);
		free(big);
	}
	/* a log line with a newline (a forged second line) */
	{
		struct ptbuf *x = ptbuf_new(PS_MAX_MSG);
		ptbuf_put_u8(x, PS_LOG);
		ptbuf_put_u32(x, 0);
		ptbuf_put_u8(x, 4);
		ptbuf_put_cstring(x, "op=a result=b\nop=c result=allow");
		expect_bad(ptbuf_ptr(x), ptbuf_len(x));
		ptbuf_free(x);
	}
	/* an ident with a class that does not exist */
	assert_int_equal(ps_encode_ident(b, 3, 1000, 1, 2, true), 0);
	expect_bad(ptbuf_ptr(b), ptbuf_len(b));
	/* limits that would let everyone in: reserved >= max */
	{
		struct ps_limits l = { .max_connections = 8,
				       .max_connections_per_uid = 8,
				       .reserved_connections = 8,
				       .client_timeout_ms = 1,
				       .max_connection_lifetime = 1 };
		assert_int_equal(ps_encode_limits(b, &l), 0);
		expect_bad(ptbuf_ptr(b), ptbuf_len(b));
	}
	/* reply flags the format does not have */
	assert_int_equal(ps_encode_rep(b, 3, 0x10, NULL, 0), 0);
	expect_bad(ptbuf_ptr(b), ptbuf_len(b));
}

/* Packets: messages in, the same messages out; bad lengths refused. */
static void test_packets(void **state)
{
	struct ptbuf *d = ptbuf_new(PS_MAX_DGRAM);
	const uint8_t *mp;
	size_t off = 0, mlen, n = 0;
	uint8_t raw[16];
	int k;

	(void)state;
	assert_non_null(d);
	for (uint32_t i = 1; i <= 3; i++) {
		assert_int_equal(ps_encode_close(b, i), 0);
		assert_int_equal(ps_dgram_add(d, b), 0);
	}
	while ((k = ps_dgram_next(ptbuf_ptr(d), ptbuf_len(d), &off, &mp, &mlen)) > 0) {
		struct ps_msg m;

		assert_int_equal(ps_decode(mp, mlen, &m), 0);
		assert_int_equal(m.kind, PS_CLOSE);
		assert_int_equal(m.conn, ++n);
		ps_msg_clear(&m);
	}
	assert_int_equal(k, 0);
	assert_int_equal(n, 3);
	/* a length of 0, one past the end, one over PS_MAX_MSG, a cut length */
	memset(raw, 0, sizeof(raw));
	off = 0;
	assert_int_equal(ps_dgram_next(raw, 8, &off, &mp, &mlen), -EBADMSG);
	raw[3] = 9;
	assert_int_equal(ps_dgram_next(raw, 12, &off, &mp, &mlen), -EBADMSG);
	raw[3] = 0;
	raw[1] = 0x7f;
	assert_int_equal(ps_dgram_next(raw, sizeof(raw), &off, &mp, &mlen), -EBADMSG);
	assert_int_equal(ps_dgram_next(raw, 3, &off, &mp, &mlen), -EBADMSG);
	assert_int_equal(off, 0);
	/* a packet never grows past PS_MAX_DGRAM */
	{
		struct ptbuf *big = ptbuf_new(PS_MAX_MSG);
		uint8_t frame[PT_MAX_FRAME];

		assert_non_null(big);
		memset(frame, 'x', sizeof(frame));
		assert_int_equal(ps_encode_rep(big, 1, 0, frame, sizeof(frame)), 0);
		ptbuf_reset(d);
		for (k = 0; ps_dgram_add(d, big) == 0; k++)
			;
		assert_true(k >= 1 && ptbuf_len(d) <= PS_MAX_DGRAM);
		ptbuf_free(big);
	}
	ptbuf_free(d);
}

static int listen_at(const char *path, struct sockaddr_un *ret, socklen_t *ret_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	*ret_len = sizeof(*ret);
	assert_int_equal(getsockname(fd, (struct sockaddr *)ret, ret_len), 0);
	return fd;
}

static int connect_to(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)sa, len), 0);
	return fd;
}

/* What the key holder takes from its front as a client: only a connection
 * accepted on tokend's own socket. The listening socket's SO_PEERCRED names
 * the process that listened (tokend: root), another service's socket its
 * owner: a compromised front passing those would pass for them. */
static void test_client_fd_check(void **state)
{
	char dir[] = "/tmp/pertok-privsep-XXXXXX", p1[64], p2[64];
	struct sockaddr_un a1, a2;
	socklen_t l1, l2;
	int lfd, other, cli, acc, cli2, acc2, sp[2], dg;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p1, sizeof(p1), "%s/tokend.sock", dir);
	snprintf(p2, sizeof(p2), "%s/other.sock", dir);
	lfd = listen_at(p1, &a1, &l1);
	other = listen_at(p2, &a2, &l2);
	cli = connect_to(&a1, l1);
	acc = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cli2 = connect_to(&a2, l2);
	acc2 = accept4(other, NULL, NULL, SOCK_CLOEXEC);
	assert_true(acc >= 0 && acc2 >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	dg = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_int_equal(ps_check_client_fd(acc, &a1, l1), 0);	      /* accepted here */
	assert_int_equal(ps_check_client_fd(lfd, &a1, l1), -EPERM);   /* the listener */
	assert_int_equal(ps_check_client_fd(cli, &a1, l1), -EPERM);   /* the client's end */
	assert_int_equal(ps_check_client_fd(acc2, &a1, l1), -EPERM);  /* another service */
	assert_int_equal(ps_check_client_fd(sp[0], &a1, l1), -EPERM); /* a pair */
	assert_int_equal(ps_check_client_fd(dg, &a1, l1), -EPERM);    /* not a stream */
	assert_int_equal(ps_check_client_fd(0, &a1, l1), -EPERM);     /* stdin */
	assert_int_equal(ps_check_client_fd(-1, &a1, l1), -EPERM);

	close(lfd);
	close(other);
	close(cli);
	close(acc);
	close(cli2);
	close(acc2);
	close(sp[0]);
	close(sp[1]);
	close(dg);
	unlink(p1);
	unlink(p2);
	rmdir(dir);
}

static void test_fd_passing(void **state)
{
	static uint8_t buf[PS_MAX_DGRAM]; /* what ps_recv may fill */
	struct stat a, c;
	size_t n;
	int sv[2], fd = -1, probe;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	probe = dup(0);
	assert_true(probe >= 0);
	assert_int_equal(ps_encode_conn(b, 5), 0);
	assert_int_equal(ps_send(sv[0], b, probe), 0);
	assert_int_equal(ps_recv(sv[1], buf, &n, &fd), 0);
	assert_true(fd >= 0 && fd != probe);
	assert_int_equal(fstat(probe, &a), 0);
	assert_int_equal(fstat(fd, &c), 0);
	assert_true(a.st_dev == c.st_dev && a.st_ino == c.st_ino);
	assert_int_equal(n, ptbuf_len(b));
	close(fd);
	/* a message without a descriptor gives none */
	assert_int_equal(ps_send(sv[0], b, -1), 0);
	assert_int_equal(ps_recv(sv[1], buf, &n, &fd), 0);
	assert_int_equal(fd, -1);
	/* the other end gone: end of stream */
	close(sv[0]);
	assert_int_equal(ps_recv(sv[1], buf, &n, &fd), -EPIPE);
	close(sv[1]);
	close(probe);
}

/* PT_ACT: its argv crosses; an argv with any other type, or an ACT without
 * one, is refused; three descriptors go in one packet, more are refused. */
static void test_act(void **state)
{
	static uint8_t buf[PS_MAX_DGRAM];
	char *argv[] = { "/bin/sh", "-c", "id", NULL };
	struct pt_req req = { .type = PT_ACT,
			      .user = "alice",
			      .id = "gr_x",
			      .flags = PT_ACT_PTY,
			      .argv = argv,
			      .n_argv = 3 };
	int sv[2], fds[4], got[PS_MAX_FDS];
	struct ps_msg m;
	size_t n, nf;

	(void)state;
	assert_int_equal(ps_encode_req(b, 9, &req, NULL), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_int_equal(m.req.n_argv, 3);
	assert_string_equal(m.req.argv[2], "id");
	assert_null(m.req.argv[3]);
	assert_int_equal(m.req.flags, PT_ACT_PTY);
	ps_msg_clear(&m);
	req.type = PT_REDEEM; /* an argv for another request */
	assert_int_equal(ps_encode_req(b, 9, &req, NULL), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), -EBADMSG);
	/* the grant's credential crosses with PT_ACT_CRED, and only with it */
	req.type = PT_ACT;
	req.flags = PT_ACT_PTY | PT_ACT_CRED;
	req.credential = "e30.e30.c2ln";
	assert_int_equal(ps_encode_req(b, 9, &req, NULL), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), 0);
	assert_string_equal(m.req.credential, "e30.e30.c2ln");
	assert_int_equal(m.req.flags, PT_ACT_PTY | PT_ACT_CRED);
	ps_msg_clear(&m);
	req.flags = PT_ACT_PTY; /* a credential without the flag */
	assert_int_equal(ps_encode_req(b, 9, &req, NULL), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), -EBADMSG);
	req.flags = PT_ACT_CRED; /* the flag without a credential */
	req.credential = NULL;
	assert_int_equal(ps_encode_req(b, 9, &req, NULL), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), -EBADMSG);
	req = (struct pt_req){ .type = PT_ACT, .user = "alice" }; /* an ACT without one */
	assert_int_equal(ps_encode_req(b, 9, &req, NULL), 0);
	assert_int_equal(ps_decode(ptbuf_ptr(b), ptbuf_len(b), &m), -EBADMSG);

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	for (int i = 0; i < 4; i++)
		fds[i] = dup(0);
	assert_int_equal(ps_encode_conn(b, 5), 0);
	assert_int_equal(ps_send_fds(sv[0], b, fds, 3), 0);
	assert_int_equal(ps_recv_fds(sv[1], buf, &n, got, &nf), 0);
	assert_int_equal(nf, 3);
	for (size_t i = 0; i < nf; i++)
		close(got[i]);
	assert_int_equal(ps_send_fds(sv[0], b, fds, 4), -EINVAL);
	close(sv[0]);
	close(sv[1]);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_act, setup, teardown),
		cmocka_unit_test_setup_teardown(test_req_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_req_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_req_ext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_passing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_fd_check, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
