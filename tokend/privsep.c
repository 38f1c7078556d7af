/* SPDX-License-Identifier: MIT */
/* The front <-> key holder messages, see privsep.h. */
#include "conf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privsep.h"
#include "proto-server.h"
#include "util.h"

/* The request's fields in their fixed order, with each one's bound. */
enum {
	F_USER,
	F_SERVICE,
	F_TTY,
	F_RHOST,
	F_LIVE_TOKEN,
	F_HOLDER,
	F_ID,
	F_TTYPE,
	F_CODE,
	F_CURSOR,
	F_ACTOR,       /* EXPLAIN_ISSUE */
	F_BLOB,	       /* TEMPLATE_IMPORT */
	F_SIG,	       /* TEMPLATE_IMPORT */
	F_SIGNED_TEXT, /* GRANT_SIGNED */
	F_SIGNATURE,
	F_NAME,	      /* USED */
	F_CREDENTIAL, /* ACT with PT_ACT_CRED */
	F_N
};
/* The mask's bit after the strings: an argv (ACT) follows them, u32 n then
 * n strings. */
#define F_ARGV_BIT (1u << F_N)

static char **req_field(struct pt_req *r, unsigned i)
{
	switch (i) {
	case F_USER:
		return &r->user;
	case F_SERVICE:
		return &r->service;
	case F_TTY:
		return &r->tty;
	case F_RHOST:
		return &r->rhost;
	case F_LIVE_TOKEN:
		return &r->live_token;
	case F_HOLDER:
		return &r->holder;
	case F_ID:
		return &r->id;
	case F_TTYPE:
		return &r->ttype;
	case F_CODE:
		return &r->code;
	case F_CURSOR:
		return &r->cursor;
	case F_BLOB:
		return &r->blob;
	case F_SIG:
		return &r->sig;
	case F_SIGNED_TEXT:
		return &r->signed_text;
	case F_SIGNATURE:
		return &r->signature;
	case F_NAME:
		return &r->name;
	case F_CREDENTIAL:
		return &r->credential;
	default:
		return &r->actor;
	}
}

static size_t field_max(unsigned i)
{
	return i == F_LIVE_TOKEN || i == F_CREDENTIAL ? PT_MAX_TOKEN :
	       i == F_CODE			      ? PT_MAX_CODE :
	       i == F_BLOB			      ? PT_MAX_TEMPLATE :
	       i == F_SIG			      ? PT_MAX_TEMPLATE_SIG :
	       i == F_SIGNED_TEXT || i == F_SIGNATURE ? PT_MAX_SIGNED :
							PT_MAX_STR;
}

static int header(struct ptbuf *out, uint8_t kind, uint32_t conn)
{
	int r;

	ptbuf_reset(out);
	if ((r = ptbuf_put_u8(out, kind)) < 0 || (r = ptbuf_put_u32(out, conn)) < 0)
		return r;
	return 0;
}

int ps_encode_conn(struct ptbuf *out, uint32_t conn)
{
	return header(out, PS_CONN, conn);
}

int ps_encode_close(struct ptbuf *out, uint32_t conn)
{
	return header(out, PS_CLOSE, conn);
}

int ps_encode_req(struct ptbuf *out, uint32_t conn, const struct pt_req *req,
		  const struct pt_live_presented *live)
{
	return ps_encode_req_ext(out, conn, req, live, NULL);
}

int ps_encode_req_ext(struct ptbuf *out, uint32_t conn, const struct pt_req *req,
		      const struct pt_live_presented *live, const struct pt_extjwt_presented *ext)
{
	struct pt_req *q = (struct pt_req *)req; /* req_field only reads through it here */
	uint32_t mask = 0;
	int r;

	for (unsigned i = 0; i < F_N; i++) {
		const char *s = *req_field(q, i);
		if (s && i != F_LIVE_TOKEN) {
			if (strlen(s) > field_max(i))
				return -EMSGSIZE;
			mask |= 1u << i;
		}
	}
	if (req->argv) {
		if (req->n_argv < 1 || req->n_argv > PT_MAX_ARGV)
			return -EMSGSIZE;
		for (uint32_t i = 0; i < req->n_argv; i++)
			if (!req->argv[i] || strlen(req->argv[i]) > PT_MAX_ARG)
				return -EMSGSIZE;
		mask |= F_ARGV_BIT;
	}
	if ((r = header(out, PS_REQ, conn)) < 0 || (r = ptbuf_put_u8(out, req->type)) < 0 ||
	    (r = ptbuf_put_u32(out, mask)) < 0 || (r = ptbuf_put_u32(out, req->version)) < 0 ||
	    (r = ptbuf_put_u64(out, req->lifetime)) < 0 ||
	    (r = ptbuf_put_u8(out, req->format)) < 0 || (r = ptbuf_put_u64(out, req->at)) < 0 ||
	    (r = ptbuf_put_u64(out, req->before)) < 0 || (r = ptbuf_put_u32(out, req->count)) < 0 ||
	    (r = ptbuf_put_u64(out, req->not_after)) < 0 || (r = ptbuf_put_u8(out, req->flags)) < 0)
		return r;
	for (unsigned i = 0; i < F_N; i++)
		if ((mask & (1u << i)) && (r = ptbuf_put_cstring(out, *req_field(q, i))) < 0)
			return r;
	if (mask & F_ARGV_BIT) {
		if ((r = ptbuf_put_u32(out, req->n_argv)) < 0)
			return r;
		for (uint32_t i = 0; i < req->n_argv; i++)
			if ((r = ptbuf_put_cstring(out, req->argv[i])) < 0)
				return r;
	}
	if (live && ext)
		return -EINVAL;
	if ((r = ptbuf_put_u8(out, live ? 1 :
				   ext	? 2 :
					  0)) < 0 ||
	    (live && (r = pt_live_wire_put(out, live)) < 0) ||
	    (ext && (r = pt_extjwt_wire_put(out, ext)) < 0))
		return r;
	/* a grant's scope (grant requests), then GRANT_APPROVE's flag */
	if ((r = ptbuf_put_u8(out, req->gspec ? 1 : 0)) < 0 ||
	    (req->gspec && (r = pt_grant_spec_put(out, req->gspec)) < 0) ||
	    (r = ptbuf_put_u8(out, req->narrow)) < 0)
		return r;
	return 0;
}

int ps_encode_bad(struct ptbuf *out, uint32_t conn, uint8_t type)
{
	int r;

	if ((r = header(out, PS_BAD, conn)) < 0 || (r = ptbuf_put_u8(out, type)) < 0)
		return r;
	return 0;
}

static bool printable_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int ps_encode_log(struct ptbuf *out, int prio, const char *line)
{
	char buf[PS_MAX_LOG + 1];
	size_t n = strlen(line);
	int r;

	if (n > PS_MAX_LOG)
		n = PS_MAX_LOG;
	memcpy(buf, line, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++) /* the key holder accepts printable lines only */
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] >= 0x7f)
			buf[i] = '?';
	if ((r = header(out, PS_LOG, 0)) < 0 || (r = ptbuf_put_u8(out, (uint8_t)(prio & 7))) < 0 ||
	    (r = ptbuf_put_cstring(out, buf)) < 0)
		return r;
	return 0;
}

int ps_encode_ident(struct ptbuf *out, uint32_t conn, uint32_t uid, uint32_t pid, uint8_t class,
		    bool accepted)
{
	int r;

	if ((r = header(out, PS_IDENT, conn)) < 0 || (r = ptbuf_put_u32(out, uid)) < 0 ||
	    (r = ptbuf_put_u32(out, pid)) < 0 || (r = ptbuf_put_u8(out, class)) < 0 ||
	    (r = ptbuf_put_u8(out, accepted ? 1 : 0)) < 0)
		return r;
	return 0;
}

int ps_encode_rep(struct ptbuf *out, uint32_t conn, uint8_t flags, const void *rep, size_t len)
{
	int r;

	if (len > 4 + PT_MAX_FRAME)
		return -EMSGSIZE;
	if ((r = header(out, PS_REP, conn)) < 0 || (r = ptbuf_put_u8(out, flags)) < 0 ||
	    (len && (r = ptbuf_put(out, rep, len)) < 0))
		return r;
	return 0;
}

int ps_encode_limits(struct ptbuf *out, const struct ps_limits *l)
{
	int r;

	if ((r = header(out, PS_LIMITS, 0)) < 0 ||
	    (r = ptbuf_put_u32(out, l->max_connections)) < 0 ||
	    (r = ptbuf_put_u32(out, l->max_connections_per_uid)) < 0 ||
	    (r = ptbuf_put_u32(out, l->reserved_connections)) < 0 ||
	    (r = ptbuf_put_u32(out, l->client_timeout_ms)) < 0 ||
	    (r = ptbuf_put_u64(out, l->max_connection_lifetime)) < 0 ||
	    (r = ptbuf_put_u32(out, l->uid_rate_n)) < 0 ||
	    (r = ptbuf_put_u64(out, l->uid_rate_period)) < 0)
		return r;
	return 0;
}

static int decode_req(struct ptbuf_view *v, struct ps_msg *m)
{
	struct pt_req q = { 0 };
	uint32_t mask;
	uint8_t has_live, has_spec;

	if (ptbuf_view_get_u8(v, &q.type) < 0 || ptbuf_view_get_u32(v, &mask) < 0 ||
	    ptbuf_view_get_u32(v, &q.version) < 0 || ptbuf_view_get_u64(v, &q.lifetime) < 0 ||
	    ptbuf_view_get_u8(v, &q.format) < 0 || ptbuf_view_get_u64(v, &q.at) < 0 ||
	    ptbuf_view_get_u64(v, &q.before) < 0 || ptbuf_view_get_u32(v, &q.count) < 0 ||
	    ptbuf_view_get_u64(v, &q.not_after) < 0 || ptbuf_view_get_u8(v, &q.flags) < 0)
		return -EBADMSG;
	/* no field the format lacks, and never a live token's text (nor a
	 * JWT's: pt_req's jwt has no field here at all); an argv only for the
	 * request that runs one */
	if ((mask >> (F_N + 1)) || (mask & (1u << F_LIVE_TOKEN)) ||
	    ((mask & F_ARGV_BIT) != 0) != (q.type == PT_ACT) ||
	    (q.flags & ~(PT_ACT_PTY | PT_ACT_CRED)) ||
	    ((mask & (1u << F_CREDENTIAL)) != 0) != ((q.flags & PT_ACT_CRED) != 0))
		return -EBADMSG;
	for (unsigned i = 0; i < F_N; i++)
		if ((mask & (1u << i)) &&
		    ptbuf_view_get_cstring(v, field_max(i), req_field(&q, i)) < 0)
			goto bad;
	if (mask & F_ARGV_BIT) {
		uint32_t n;

		if (ptbuf_view_get_u32(v, &n) < 0 || n < 1 || n > PT_MAX_ARGV ||
		    (size_t)n * 4 > v->len - v->off)
			goto bad;
		q.argv = calloc(n + 1, sizeof(*q.argv));
		if (!q.argv)
			goto bad;
		for (; q.n_argv < n; q.n_argv++)
			if (ptbuf_view_get_cstring(v, PT_MAX_ARG, &q.argv[q.n_argv]) < 0)
				goto bad;
		if (q.argv[0][0] != '/')
			goto bad;
	}
	if (ptbuf_view_get_u8(v, &has_live) < 0 || has_live > 2)
		goto bad;
	if (has_live == 1 && pt_live_wire_get(v, &m->live) < 0)
		goto bad;
	if (has_live == 2 && pt_extjwt_wire_get(v, &m->ext) < 0) {
		pt_live_presented_clear(&m->live);
		goto bad;
	}
	if (ptbuf_view_get_u8(v, &has_spec) < 0 || has_spec > 1 ||
	    (has_spec && pt_grant_spec_get(v, &q.gspec) < 0) ||
	    ptbuf_view_get_u8(v, &q.narrow) < 0 || q.narrow > 1) {
		pt_live_presented_clear(&m->live);
		pt_extjwt_presented_clear(&m->ext);
		goto bad;
	}
	m->has_live = has_live == 1;
	m->has_ext = has_live == 2;
	m->req = q;
	return 0;
bad:
	pt_req_clear(&q);
	return -EBADMSG;
}

int ps_decode(const uint8_t *p, size_t n, struct ps_msg *ret)
{
	struct ps_msg m = { 0 };
	struct ptbuf_view v;
	int r = -EBADMSG;

	if (!p || !ret)
		return -EINVAL;
	ptbuf_view_init(&v, p, n);
	if (ptbuf_view_get_u8(&v, &m.kind) < 0 || ptbuf_view_get_u32(&v, &m.conn) < 0)
		return -EBADMSG;
	switch (m.kind) {
	case PS_CONN:
	case PS_CLOSE:
		break;
	case PS_REQ:
		if (decode_req(&v, &m) < 0)
			return -EBADMSG;
		break;
	case PS_BAD:
		if (ptbuf_view_get_u8(&v, &m.type) < 0)
			goto bad;
		break;
	case PS_LOG:
		if (ptbuf_view_get_u8(&v, &m.prio) < 0 || m.prio > 7 ||
		    ptbuf_view_get_cstring(&v, PS_MAX_LOG, &m.line) < 0)
			goto bad;
		if (!printable_line(m.line))
			goto bad;
		break;
	case PS_IDENT:
		if (ptbuf_view_get_u32(&v, &m.uid) < 0 || ptbuf_view_get_u32(&v, &m.pid) < 0 ||
		    ptbuf_view_get_u8(&v, &m.class) < 0 ||
		    (m.class & ~PS_CLASS_SYSTEMD) > PS_CLASS_PRIVILEGED ||
		    ptbuf_view_get_u8(&v, &m.accepted) < 0 || m.accepted > 1)
			goto bad;
		break;
	case PS_REP:
		if (ptbuf_view_get_u8(&v, &m.flags) < 0 ||
		    (m.flags & ~(PS_REP_CLOSE | PS_REP_DROP)) || v.len - v.off > 4 + PT_MAX_FRAME)
			goto bad;
		m.rep = v.p + v.off;
		m.rep_len = v.len - v.off;
		v.off = v.len;
		break;
	case PS_LIMITS: {
		struct ps_limits *l = &m.limits;
		if (ptbuf_view_get_u32(&v, &l->max_connections) < 0 ||
		    ptbuf_view_get_u32(&v, &l->max_connections_per_uid) < 0 ||
		    ptbuf_view_get_u32(&v, &l->reserved_connections) < 0 ||
		    ptbuf_view_get_u32(&v, &l->client_timeout_ms) < 0 ||
		    ptbuf_view_get_u64(&v, &l->max_connection_lifetime) < 0 ||
		    ptbuf_view_get_u32(&v, &l->uid_rate_n) < 0 ||
		    ptbuf_view_get_u64(&v, &l->uid_rate_period) < 0)
			goto bad;
		if (l->max_connections == 0 || l->reserved_connections >= l->max_connections ||
		    l->max_connections_per_uid == 0 || l->client_timeout_ms == 0 ||
		    l->max_connection_lifetime == 0 || l->max_connection_lifetime > UINT32_MAX ||
		    l->uid_rate_period > UINT32_MAX)
			goto bad;
		break;
	}
	default:
		return -EBADMSG;
	}
	if (ptbuf_view_end(&v) < 0)
		goto bad;
	*ret = m;
	return 0;
bad:
	ps_msg_clear(&m);
	return r;
}

void ps_msg_clear(struct ps_msg *m)
{
	if (!m)
		return;
	pt_req_clear(&m->req);
	pt_live_presented_clear(&m->live);
	pt_extjwt_presented_clear(&m->ext);
	free(m->line);
	memset(m, 0, sizeof(*m));
}

int ps_check_client_fd(int fd, const struct sockaddr_un *laddr, socklen_t laddr_len)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int v;

	if (fd < 0 || !laddr || laddr_len <= offsetof(struct sockaddr_un, sun_path))
		return -EPERM;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX)
		return -EPERM;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM)
		return -EPERM;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || v != 0)
		return -EPERM;
	len = sizeof(sa);
	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || len != laddr_len ||
	    memcmp(&sa, laddr, len) != 0)
		return -EPERM;
	return 0;
}

int ps_dgram_add(struct ptbuf *dgram, const struct ptbuf *msg)
{
	size_t n = ptbuf_len(msg);
	uint8_t *q;

	if (n == 0 || n > PS_MAX_MSG || ptbuf_len(dgram) + 4 + n > PS_MAX_DGRAM ||
	    ptbuf_reserve(dgram, 4 + n, &q) < 0)
		return -EMSGSIZE;
	q[0] = (uint8_t)(n >> 24);
	q[1] = (uint8_t)(n >> 16);
	q[2] = (uint8_t)(n >> 8);
	q[3] = (uint8_t)n;
	memcpy(q + 4, ptbuf_ptr(msg), n);
	return 0;
}

int ps_dgram_next(const uint8_t *p, size_t n, size_t *off, const uint8_t **ret_msg, size_t *ret_len)
{
	size_t o = *off;
	uint32_t len;

	if (o >= n)
		return 0;
	if (n - o < 4)
		return -EBADMSG;
	len = (uint32_t)p[o] << 24 | (uint32_t)p[o + 1] << 16 | (uint32_t)p[o + 2] << 8 | p[o + 3];
	if (len == 0 || len > PS_MAX_MSG || len > n - o - 4)
		return -EBADMSG;
	*ret_msg = p + o + 4;
	*ret_len = len;
	*off = o + 4 + len;
	return 1;
}

int ps_send_msg(int sock, const struct ptbuf *msg, int fd_pass)
{
	struct ptbuf *d = ptbuf_new(PS_MAX_DGRAM);
	int r = d ? ps_dgram_add(d, msg) : -ENOMEM;

	if (r == 0)
		r = ps_send(sock, d, fd_pass);
	ptbuf_free(d);
	return r;
}

int ps_send(int sock, const struct ptbuf *msg, int fd_pass)
{
	return ps_send_fds(sock, msg, &fd_pass, fd_pass >= 0 ? 1 : 0);
}

int ps_send_fds(int sock, const struct ptbuf *msg, const int *fds, size_t n_fds)
{
	union {
		char buf[CMSG_SPACE(PS_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)ptbuf_ptr(msg), .iov_len = ptbuf_len(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n_fds > PS_MAX_FDS)
		return -EINVAL;
	if (n_fds > 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
	}
	for (;;) {
		ssize_t k = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (k >= 0)
			return (size_t)k == iov.iov_len ? 0 : -EMSGSIZE;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

int ps_recv(int sock, uint8_t *buf, size_t *ret_len, int *ret_fd)
{
	int fds[PS_MAX_FDS];
	size_t n = 0;
	int r = ps_recv_fds(sock, buf, ret_len, fds, &n);

	if (r < 0)
		return r;
	for (size_t i = 1; i < n; i++)
		close(fds[i]);
	*ret_fd = n ? fds[0] : -1;
	return 0;
}

static void close_all(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

int ps_recv_fds(int sock, uint8_t *buf, size_t *ret_len, int *ret_fds, size_t *ret_n)
{
	union {
		char buf[CMSG_SPACE((PS_MAX_FDS + 1) * sizeof(int))];
		struct cmsghdr align;
	} u;
	int fds[PS_MAX_FDS];
	size_t n = 0;
	bool extra = false;
	struct iovec iov = { .iov_base = buf, .iov_len = PS_MAX_DGRAM };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	ssize_t k;

	for (;;) {
		k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (k >= 0 || errno != EINTR)
			break;
	}
	if (k < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int x;
			memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n < PS_MAX_FDS)
				fds[n++] = x;
			else {
				close(x);
				extra = true;
			}
		}
	}
	if (k == 0) {
		close_all(fds, n);
		return -EPIPE;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_all(fds, n);
		return -EMSGSIZE;
	}
	if (extra) {
		close_all(fds, n);
		return -EBADMSG;
	}
	*ret_len = (size_t)k;
	memcpy(ret_fds, fds, n * sizeof(int));
	*ret_n = n;
	return 0;
}
