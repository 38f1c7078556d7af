/* SPDX-License-Identifier: MIT */
/*
 * Client side of the tokend protocol. Runs inside PAM host processes:
 * no signals, no global state, every wait bounded by a deadline.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "util.h"

#ifndef RUNDIR
#define RUNDIR "/run"
#endif

#define PT_CLIENT_MAX_TIMEOUT_MS (24 * 3600 * 1000) /* sanity bound */

struct pt_client {
	int fd;
	int timeout_ms;
	int broken; /* 0, or the negative errno that made the stream unusable */
	uint32_t server_version;
	struct ptbuf *in;
};

const char *pt_default_socket(void)
{
	return RUNDIR "/pertok/tokend.sock";
}

/* Waits until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		uint64_t now = pt_now_ms_monotonic();
		int k;

		if (now >= deadline)
			return -ETIMEDOUT;
		k = poll(&pfd, 1, (int)(deadline - now));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -ETIMEDOUT;
		if (pfd.revents & POLLNVAL)
			return -EBADF;
		/* POLLERR / POLLHUP: let the following read or write report it. */
		return 0;
	}
}

static int sleep_until(uint64_t deadline, int ms)
{
	uint64_t now = pt_now_ms_monotonic();

	if (now >= deadline)
		return -ETIMEDOUT;
	if ((uint64_t)ms > deadline - now)
		ms = (int)(deadline - now);
	(void)poll(NULL, 0, ms);
	return 0;
}

static int connect_deadline(int fd, const struct sockaddr_un *sa, socklen_t salen,
			    uint64_t deadline)
{
	int err = 0, r;
	socklen_t elen = sizeof(err);

	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, salen) == 0)
			return 0;
		if (errno == EAGAIN) {
			/* AF_UNIX: the listener's backlog is full; retry shortly. */
			r = sleep_until(deadline, 10);
			if (r < 0)
				return r;
			continue;
		}
		if (errno == EINPROGRESS || errno == EINTR)
			break;
		return -errno;
	}
	r = wait_fd(fd, POLLOUT, deadline);
	if (r < 0)
		return r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -errno;
	return err ? -err : 0;
}

static int send_deadline(int fd, const uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Appends exactly n bytes read from the socket to c->in. */
static int recv_exact(struct pt_client *c, size_t n, uint64_t deadline)
{
	while (n > 0) {
		uint8_t *q;
		ssize_t k;
		int r;

		r = ptbuf_reserve(c->in, n, &q);
		if (r < 0)
			return -EPROTO;
		k = recv(c->fd, q, n, MSG_DONTWAIT);
		if (k > 0) {
			ptbuf_unreserve(c->in, n - (size_t)k);
			n -= (size_t)k;
			continue;
		}
		ptbuf_unreserve(c->in, n);
		if (k == 0)
			return -ECONNRESET; /* closed before a whole reply */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		r = wait_fd(c->fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Sends the first byte of p with fds[0..n) as SCM_RIGHTS (the kernel keeps
 * them with that byte); the rest goes as any bytes do. */
static int send_fds(int fd, const uint8_t *p, size_t len, const int *fds, size_t n,
		    uint64_t deadline)
{
	union {
		char buf[CMSG_SPACE(PT_CLIENT_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (n > PT_CLIENT_MAX_FDS || len == 0)
		return -EINVAL;
	memset(&u, 0, sizeof(u));
	mh.msg_control = u.buf;
	mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	for (;;) {
		ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (k == 1)
			break;
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
	}
	return send_deadline(fd, p + 1, len - 1, deadline);
}

static int transact(struct pt_client *c, const struct pt_req *req, const int *fds, size_t n_fds,
		    int reply_ms, struct pt_rep *ret)
{
	uint64_t deadline = pt_now_ms_monotonic() + (uint64_t)c->timeout_ms;
	struct ptbuf *out = NULL;
	const uint8_t *payload;
	size_t plen, used;
	uint8_t type;
	int send_err, r;

	out = ptbuf_new(4 + PT_MAX_FRAME);
	if (!out)
		return -ENOMEM;
	r = pt_req_encode(req, out);
	if (r < 0)
		goto out; /* nothing was sent: the stream is still usable */
	r = n_fds ? send_fds(c->fd, ptbuf_ptr(out), ptbuf_len(out), fds, n_fds, deadline) :
		    send_deadline(c->fd, ptbuf_ptr(out), ptbuf_len(out), deadline);
	/* A server that answered and closed before the request was written
	 * (tokend refusing a connection over its caps: "busy") leaves its
	 * answer in the socket: read it rather than report a bare EPIPE. */
	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		goto broken;
	send_err = r;
	if (reply_ms > 0) /* the reply may take longer than the request */
		deadline = pt_now_ms_monotonic() + (uint64_t)reply_ms;

	ptbuf_reset(c->in);
	r = recv_exact(c, 4, deadline);
	if (r < 0) {
		r = send_err ? send_err : r;
		goto broken;
	}
	r = pt_frame_split(ptbuf_ptr(c->in), ptbuf_len(c->in), PT_MAX_FRAME, &type, &payload, &plen,
			   &used);
	if (r == -EAGAIN) {
		const uint8_t *h = ptbuf_ptr(c->in);
		size_t flen = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];

		r = recv_exact(c, flen, deadline);
		if (r < 0)
			goto broken;
		r = pt_frame_split(ptbuf_ptr(c->in), ptbuf_len(c->in), PT_MAX_FRAME, &type,
				   &payload, &plen, &used);
	}
	if (r < 0) {
		r = -EPROTO; /* zero or oversized length */
		goto broken;
	}
	r = pt_rep_decode(req->type, type, payload, plen, ret);
	if (r < 0) {
		r = r == -ENOMEM ? r : -EPROTO;
		goto broken;
	}
	r = 0;
	if (send_err)
		c->broken = send_err; /* answered, but the stream is closed */
	goto out;
broken:
	c->broken = r;
out:
	ptbuf_reset(c->in);
	ptbuf_free(out);
	return r;
}

int pt_client_connect(const char *path, int timeout_ms, struct pt_client **ret)
{
	struct pt_req hello = { .type = PT_HELLO, .version = PT_PROTO_VERSION };
	struct pt_rep rep = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pt_client *c = NULL;
	uint64_t deadline;
	socklen_t salen;
	size_t n;
	int r;

	if (!path || !ret || timeout_ms <= 0 || timeout_ms > PT_CLIENT_MAX_TIMEOUT_MS)
		return -EINVAL;
	n = strlen(path);
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n);
	deadline = pt_now_ms_monotonic() + (uint64_t)timeout_ms;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	c->in = ptbuf_new(4 + PT_MAX_FRAME);
	if (!c->in) {
		r = -ENOMEM;
		goto fail;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		r = -errno;
		goto fail;
	}
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	r = connect_deadline(c->fd, &sa, salen, deadline);
	if (r < 0)
		goto fail;

	/* HELLO shares what is left of the connect deadline. */
	{
		uint64_t now = pt_now_ms_monotonic();

		if (now >= deadline) {
			r = -ETIMEDOUT;
			goto fail;
		}
		c->timeout_ms = (int)(deadline - now);
	}
	r = transact(c, &hello, NULL, 0, 0, &rep);
	c->timeout_ms = timeout_ms;
	if (r < 0)
		goto fail;
	if (rep.type != PT_OK || rep.version != PT_PROTO_VERSION) {
		r = -EPROTO;
		goto fail;
	}
	c->server_version = rep.version;
	pt_rep_clear(&rep);
	*ret = c;
	return 0;
fail:
	pt_rep_clear(&rep);
	pt_client_free(c);
	return r;
}

int pt_client_call(struct pt_client *c, const struct pt_req *req, struct pt_rep *ret)
{
	if (!c || !req || !ret)
		return -EINVAL;
	if (c->broken)
		return -EPIPE;
	return transact(c, req, NULL, 0, 0, ret);
}

int pt_client_call_fds(struct pt_client *c, const struct pt_req *req, const int *fds, size_t n_fds,
		       int reply_ms, struct pt_rep *ret)
{
	if (!c || !req || !ret || reply_ms < 0 || reply_ms > PT_CLIENT_MAX_TIMEOUT_MS)
		return -EINVAL;
	if (c->broken)
		return -EPIPE;
	return transact(c, req, fds, n_fds, reply_ms, ret);
}

/* Moves the entries of page to the end of *all. */
static int list_append(struct pt_rep *all, struct pt_rep *page)
{
	struct pt_tokinfo *v;

	if (page->n_list == 0)
		return 0;
	if (all->n_list > UINT32_MAX - page->n_list)
		return -E2BIG;
	v = reallocarray(all->list, (size_t)all->n_list + page->n_list, sizeof(*v));
	if (!v)
		return -ENOMEM;
	all->list = v;
	memcpy(v + all->n_list, page->list, page->n_list * sizeof(*v));
	all->n_list += page->n_list;
	free(page->list); /* the strings now belong to all */
	page->list = NULL;
	page->n_list = 0;
	return 0;
}

int pt_client_list(struct pt_client *c, const char *user, struct pt_rep *ret)
{
	struct pt_rep all = { .type = PT_OK }, page = { 0 };
	char *cursor = NULL;
	int r;

	if (!c || !ret)
		return -EINVAL;
	for (unsigned pages = 0;; pages++) {
		/* with each token's last refusal and delegation (tokend v0.4;
		 * older ones answer PT_E_PROTO) */
		struct pt_req req = { .type = PT_LIST_DELEG,
				      .user = (char *)(user ? user : ""),
				      .cursor = cursor ? cursor : (char *)"" };

		if (pages >= PT_CLIENT_MAX_LIST_PAGES) {
			r = -EPROTO; /* a server that never says "no more" */
			goto out;
		}
		r = pt_client_call(c, &req, &page);
		if (r < 0)
			goto out;
		if (page.type != PT_OK) {
			pt_rep_clear(&all);
			all = page; /* the error reply */
			page = (struct pt_rep){ 0 };
			break;
		}
		r = list_append(&all, &page);
		if (r < 0)
			goto out;
		if (!page.more)
			break;
		if (!page.cursor || !*page.cursor || (cursor && strcmp(cursor, page.cursor) == 0)) {
			r = -EPROTO; /* "more" without a way forward */
			goto out;
		}
		free(cursor);
		cursor = page.cursor;
		page.cursor = NULL;
		pt_rep_clear(&page);
	}
	*ret = all;
	all = (struct pt_rep){ 0 };
	r = 0;
out:
	free(cursor);
	pt_rep_clear(&page);
	pt_rep_clear(&all);
	return r;
}

void pt_client_free(struct pt_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	ptbuf_free(c->in);
	free(c);
}
