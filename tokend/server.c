/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "server.h"
#include "util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; Debian 12's headers predate it */
#endif

#define HOUSEKEEPING_MS 5000
#define MAX_EVENTS 64

struct conn {
	int fd;
	struct pt_peer peer;
	struct ptbuf *in;
	struct ptbuf *out;
	uint64_t deadline; /* ms, monotonic: the current request must complete by then */
	bool hello;	   /* the version exchange happened */
	bool closing;	   /* close once out is flushed */
	bool want_out;	   /* EPOLLOUT registered */
	bool held;	   /* the reply waits for the audit log's group commit */
	struct conn *prev, *next;
};

static struct conn *conns;
static unsigned n_held;

/* ------------------------------------------------------------ the socket */

int pt_server_listen(const struct pt_config *cfg, int *ret_fd, int *ret_activated, char *err,
		     size_t errlen)
{
	const char *e = getenv("LISTEN_FDS"), *p = getenv("LISTEN_PID");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *slash;
	struct stat st;
	int fd, r;

	if (e && p && (pid_t)atol(p) == getpid()) {
		if (atoi(e) != 1) {
			snprintf(err, errlen, "systemd passed %s sockets, expected exactly one", e);
			return -EINVAL;
		}
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDNAMES");
		fd = 3;
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
		    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
			snprintf(err, errlen, "socket from systemd: %s", strerror(errno));
			return -errno;
		}
		*ret_fd = fd;
		*ret_activated = 1;
		return 0;
	}

	if (strlen(cfg->socket_path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", cfg->socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, cfg->socket_path);
	strcpy(dir, cfg->socket_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			return -errno;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	if (lstat(sa.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen,
				 "%s exists and is not a socket; refusing to replace it",
				 sa.sun_path);
			close(fd);
			return -EEXIST;
		}
		/* a stale socket, or a running tokend? */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			close(fd);
			snprintf(err, errlen, "another tokend is listening on %s", sa.sun_path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(sa.sun_path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0666) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", sa.sun_path, strerror(errno));
		close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret_activated = 0;
	return 0;
}

/* ------------------------------------------------------------ peers */

/* The peer's executable, pinned through a pidfd when the kernel offers one:
 * read /proc/PID/exe, then check that the pidfd still names a live process,
 * so a recycled pid cannot lend us another program's path. */
static void read_peer(int fd, struct pt_peer *peer)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct stat exe_st, our_st;
	char link[64];
	int pidfd = -1;
	ssize_t n;

	memset(peer, 0, sizeof(*peer));
	peer->uid = (uid_t)-1;
	peer->gid = (gid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return;
	peer->uid = uc.uid;
	peer->gid = uc.gid;
	peer->pid = uc.pid;
	if (uc.pid <= 0)
		return;
	len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		pidfd = -1;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)uc.pid);
	n = readlink(link, peer->exe, sizeof(peer->exe) - 1);
	if (n <= 0)
		goto out;
	peer->exe[n] = '\0';
	/* The path is the one the peer sees: in another mount namespace
	 * "/usr/sbin/atd" may be any file. Only trust it when it names the same
	 * file (device and inode) in ours. */
	if (stat(link, &exe_st) < 0 || stat(peer->exe, &our_st) < 0 ||
	    exe_st.st_dev != our_st.st_dev || exe_st.st_ino != our_st.st_ino)
		goto out;
	/* signal 0 only probes; EPERM still proves the process exists (we keep no CAP_KILL) */
	if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno == ESRCH)
		goto out; /* the process is gone: whatever we read is not its exe */
	peer->exe_known = true;
out:
	if (pidfd >= 0)
		close(pidfd);
}

/* ------------------------------------------------------------ connections */

static void conn_close(struct pt_daemon *d, int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->held)
		n_held--;
	ptbuf_free(c->in);
	ptbuf_free(c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	d->n_conns--;
}

static void conn_set_out(int ep, struct conn *c, bool want)
{
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };

	if (c->want_out == want)
		return;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = want;
}

/* Sends what is queued. Returns false when the connection is finished. */
static bool conn_flush(int ep, struct conn *c)
{
	while (ptbuf_len(c->out) > 0) {
		ssize_t k = send(c->fd, ptbuf_ptr(c->out), ptbuf_len(c->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				conn_set_out(ep, c, true);
				return true;
			}
			return false;
		}
		ptbuf_consume(c->out, (size_t)k);
	}
	conn_set_out(ep, c, false);
	return !c->closing;
}

static void hello(struct conn *c, const uint8_t *payload, size_t len)
{
	struct pt_req req = { 0 };
	struct pt_rep rep = { .type = PT_OK, .version = PT_PROTO_VERSION };

	if (pt_req_decode(PT_HELLO, payload, len, &req) < 0) {
		pt_rep_encode_error(c->out, PT_E_PROTO, "malformed hello");
		c->closing = true;
		return;
	}
	if (req.version != PT_PROTO_VERSION) {
		char msg[96];
		snprintf(msg, sizeof(msg), "protocol version %u not supported (tokend speaks %u)",
			 req.version, PT_PROTO_VERSION);
		pt_log(LOG_WARNING, "op=hello result=error peer_uid=%u peer_pid=%d reason=\"%s\"",
		       (unsigned)c->peer.uid, (int)c->peer.pid, msg);
		pt_rep_encode_error(c->out, PT_E_VERSION, msg);
		c->closing = true;
		return;
	}
	pt_rep_encode(PT_HELLO, &rep, c->out);
	c->hello = true;
}

/* Handles every whole frame in c->in. */
static void conn_process(struct pt_daemon *d, struct conn *c)
{
	while (!c->closing) {
		const uint8_t *payload;
		size_t len, used;
		uint8_t type;
		int r;

		r = pt_frame_split(ptbuf_ptr(c->in), ptbuf_len(c->in), PT_MAX_FRAME, &type,
				   &payload, &len, &used);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			pt_log(LOG_WARNING,
			       "op=frame result=error peer_uid=%u peer_pid=%d "
			       "reason=\"%s\"",
			       (unsigned)c->peer.uid, (int)c->peer.pid,
			       r == -EMSGSIZE ? "frame too large" : "malformed frame");
			pt_rep_encode_error(c->out, PT_E_PROTO,
					    r == -EMSGSIZE ? "frame too large" : "malformed frame");
			c->closing = true;
			return;
		}
		if (!c->hello) {
			if (type != PT_HELLO) {
				pt_rep_encode_error(c->out, PT_E_PROTO, "hello expected first");
				c->closing = true;
				return;
			}
			hello(c, payload, len);
		} else {
			r = pt_ops_dispatch(d, &c->peer, type, payload, len, c->out);
			if (r < 0)
				c->closing = true;
		}
		ptbuf_consume(c->in, used);
		c->deadline = pt_now_ms_monotonic() + d->cfg->client_timeout_ms;
	}
}

static void conn_readable(struct pt_daemon *d, int ep, struct conn *c)
{
	for (;;) {
		uint8_t *p;
		size_t room = 16384;
		ssize_t k;

		if (ptbuf_max(c->in) - ptbuf_len(c->in) < room)
			room = ptbuf_max(c->in) - ptbuf_len(c->in);
		if (room == 0) {
			/* cannot happen with a bounded frame, but never spin */
			c->closing = true;
			break;
		}
		if (ptbuf_reserve(c->in, room, &p) < 0) {
			c->closing = true;
			break;
		}
		k = recv(c->fd, p, room, MSG_DONTWAIT);
		if (k < 0) {
			ptbuf_unreserve(c->in, room);
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(d, ep, c);
			return;
		}
		ptbuf_unreserve(c->in, room - (size_t)k);
		if (k == 0) {
			/* peer closed: answer nothing more */
			conn_close(d, ep, c);
			return;
		}
		conn_process(d, c);
		if (c->closing)
			break;
	}
	if (pt_ops_commit_pending(d)) {
		c->held = true; /* sent once its audit records and counted uses are on disk */
		n_held++;
		return;
	}
	if (!conn_flush(ep, c))
		conn_close(d, ep, c);
}

/* Group commit: one fdatasync of the audit log, then every reply held this
 * round goes out. If the sync fails, none does (fail closed): those
 * connections close without an answer. */
static void release_held(struct pt_daemon *d, int ep)
{
	bool ok = pt_ops_commit(d) == 0;

	if (!ok)
		pt_log(LOG_ERR, "op=audit result=error reason=\"%s; %u replies withheld\"",
		       pt_audit_failure(d->audit) ?: "sync failed", n_held);
	for (struct conn *c = conns, *n; c && n_held; c = n) {
		n = c->next;
		if (!c->held)
			continue;
		c->held = false;
		n_held--;
		if (!ok) {
			ptbuf_reset(c->out);
			conn_close(d, ep, c);
		} else if (!conn_flush(ep, c))
			conn_close(d, ep, c);
	}
	n_held = 0;
}

static void accept_all(struct pt_daemon *d, int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pt_log(LOG_ERR, "op=accept result=error reason=\"%s\"",
				       strerror(errno));
			return;
		}
		if (d->n_conns >= d->cfg->max_connections) {
			struct ptbuf *b = ptbuf_new(256);
			if (b && pt_rep_encode_error(b, PT_E_BUSY, "too many connections") == 0)
				(void)!send(fd, ptbuf_ptr(b), ptbuf_len(b),
					    MSG_NOSIGNAL | MSG_DONTWAIT);
			ptbuf_free(b);
			close(fd);
			pt_log(LOG_WARNING,
			       "op=accept result=busy reason=\"max_connections %u "
			       "reached\"",
			       d->cfg->max_connections);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->in = ptbuf_new(4 + PT_MAX_FRAME);
		c->out = ptbuf_new(16 * (4 + PT_MAX_FRAME));
		if (!c->in || !c->out) {
			ptbuf_free(c->in);
			ptbuf_free(c->out);
			free(c);
			close(fd);
			continue;
		}
		read_peer(fd, &c->peer);
		c->deadline = pt_now_ms_monotonic() + d->cfg->client_timeout_ms;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			ptbuf_free(c->in);
			ptbuf_free(c->out);
			free(c);
			close(fd);
			continue;
		}
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
		d->n_conns++;
	}
}

/* Closes connections past their deadline; returns ms until the next one. */
static int expire_conns(struct pt_daemon *d, int ep, uint64_t now)
{
	uint64_t next = now + HOUSEKEEPING_MS;

	for (struct conn *c = conns, *n; c; c = n) {
		n = c->next;
		if (c->deadline <= now) {
			if (ptbuf_len(c->in) > 0)
				pt_log(LOG_NOTICE,
				       "op=timeout result=error peer_uid=%u peer_pid=%d "
				       "reason=\"request not completed within %u ms\"",
				       (unsigned)c->peer.uid, (int)c->peer.pid,
				       d->cfg->client_timeout_ms);
			conn_close(d, ep, c);
		} else if (c->deadline < next)
			next = c->deadline;
	}
	return (int)(next - now);
}

int pt_server_run(struct pt_daemon *d, int lfd, void (*reload)(struct pt_daemon *d))
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t next_house = pt_now_ms_monotonic() + HOUSEKEEPING_MS;
	sigset_t mask;
	int ep, sfd, r = 0;
	bool running = true;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0) {
		r = -errno;
		goto out;
	}
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &lfd };
	struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &sfd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev) < 0) {
		r = -errno;
		goto out;
	}

	while (running) {
		uint64_t now = pt_now_ms_monotonic();
		int timeout = expire_conns(d, ep, now), n;

		if (now >= next_house) {
			pt_ops_housekeeping(d);
			next_house = now + HOUSEKEEPING_MS;
		}
		if ((uint64_t)timeout > next_house - now)
			timeout = (int)(next_house - now);
		n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &lfd) {
				accept_all(d, ep, lfd);
			} else if (evs[i].data.ptr == &sfd) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						reload(d);
					else {
						pt_log(LOG_INFO,
						       "op=signal result=allow signal=%u "
						       "reason=\"shutting down\"",
						       si.ssi_signo);
						running = false;
					}
				}
			} else {
				struct conn *c = evs[i].data.ptr;
				if (evs[i].events & EPOLLIN)
					conn_readable(d, ep, c); /* may free c */
				else if ((evs[i].events & EPOLLOUT) && !c->held) {
					if (!conn_flush(ep, c))
						conn_close(d, ep, c);
				} else if (evs[i].events & (EPOLLERR | EPOLLHUP))
					conn_close(d, ep, c);
			}
		}
		if (n_held)
			release_held(d, ep);
	}
out:
	while (conns)
		conn_close(d, ep, conns);
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	return r;
}
