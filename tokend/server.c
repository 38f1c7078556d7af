/* SPDX-License-Identifier: MIT */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "peer.h"
#include "policy.h"
#include "proto-server.h"
#include "ratelimit.h"
#include "server.h"
#include "util.h"

#define HOUSEKEEPING_MS 5000
#define MAX_EVENTS 64
/* Work per loop round: a connection gets at most this many frames, the
 * listening socket this many accepts, before the others get their turn. */
#define FRAMES_PER_ROUND 8
#define ACCEPTS_PER_ROUND 32
/* Replies queued and not read by the client: past this tokend stops reading
 * the connection's requests until the client has read them. The socket's
 * own send buffer is kept as small (the kernel doubles it): a client that
 * does not read costs at most ~48 KiB of replies, never megabytes of work.
 * A request-reply client never has more than one reply outstanding, and one
 * reply of any size (a frame is at most 64 KiB) is always made. */
#define OUT_HIGH (16u * 1024u)
/* Refusals of one uid are logged at most once per this period (a count). */
#define SUMMARY_MS 60000
#define UID_BUCKETS 256

/* An unprivileged uid: its connections, request rate and refusals. */
struct uidslot {
	uid_t uid;
	unsigned n_conns;
	struct pt_ratelimit rate;
	unsigned refused_conns, refused_reqs; /* not logged yet */
	uint64_t logged;		      /* ms, monotonic: last summary (0: none) */
	struct uidslot *next;
};

struct conn {
	int fd;
	struct pt_peer peer;
	struct uidslot *slot; /* unprivileged peers' uid (NULL: root or an actor) */
	struct ptbuf *in;
	struct ptbuf *out;
	uint64_t deadline; /* ms, monotonic: the current request must complete by then */
	uint64_t expires;  /* ms, monotonic: the connection's end, whatever it does */
	uint64_t round;	   /* the last loop round that ran it */
	uint32_t events;   /* registered with epoll */
	bool hello;	   /* the version exchange happened */
	bool closing;	   /* close once out is flushed */
	bool want_out;	   /* a send would have blocked: wait for EPOLLOUT */
	bool held;	   /* the reply waits for the audit log's group commit */
	bool backlog;	   /* its round ended with work left: run it next round */
	struct conn *prev, *next;
};

static struct conn *conns;
static unsigned n_held;
static unsigned n_backlog;
static unsigned n_unprivileged; /* connections of unprivileged peers */
static uint64_t round_no;
static struct uidslot *uids[UID_BUCKETS];
/* refusals at max_connections (any peer), summarised like a uid's */
static struct uidslot busy_all;

/* ------------------------------------------------------------ the socket */

/*
 * The socket's directory must let every user through (0755), whatever
 * tokend's umask (0077). One that tokend made 0700 itself (v0.1 did, under
 * that umask) is repaired; any other mode is the administrator's choice.
 */
static int socket_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	bool made = true;

	if (mkdir(dir, 0755) < 0) {
		if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			return -errno;
		}
		made = false;
	}
	if (lstat(dir, &st) < 0) {
		snprintf(err, errlen, "cannot stat %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -ENOTDIR;
	}
	if ((made || (st.st_uid == geteuid() && (st.st_mode & 07777) == 0700)) &&
	    (st.st_mode & 07777) != 0755) {
		if (chmod(dir, 0755) < 0) {
			snprintf(err, errlen, "cannot chmod %s to 0755: %s", dir, strerror(errno));
			return -errno;
		}
		if (!made) {
			char v[300];

			pt_log(LOG_NOTICE,
			       "op=start result=warning socket_dir=%s reason=\"mode 0700 changed to "
			       "0755: every user must reach the socket\"",
			       pt_log_value(dir, v, sizeof(v)));
		}
	}
	return 0;
}

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
		r = socket_dir(dir, err, errlen);
		if (r < 0)
			return r;
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

/* ------------------------------------------------------------ per uid */

static struct uidslot *uid_slot(uid_t uid, bool create)
{
	struct uidslot **head = &uids[uid % UID_BUCKETS], *s;

	for (s = *head; s; s = s->next)
		if (s->uid == uid)
			return s;
	if (!create)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->uid = uid;
	s->next = *head;
	*head = s;
	return s;
}

/* One line per uid and kind of refusal per SUMMARY_MS at most: the first
 * refusal at once, the rest counted ("N refusals in the last 60 s"). */
static void uid_summary(struct pt_daemon *d, struct uidslot *s, uint64_t now)
{
	if (s == &busy_all && s->refused_conns)
		pt_log(LOG_WARNING,
		       "op=accept result=busy refused=%u period=%us reason=\"max_connections %u "
		       "reached\"",
		       s->refused_conns, SUMMARY_MS / 1000, d->cfg->max_connections);
	else if (s->refused_conns)
		pt_log(LOG_WARNING,
		       "op=accept result=busy peer_uid=%u refused=%u period=%us "
		       "reason=\"max_connections_per_uid %u or the unprivileged share %u of "
		       "max_connections reached\"",
		       (unsigned)s->uid, s->refused_conns, SUMMARY_MS / 1000,
		       d->cfg->max_connections_per_uid,
		       d->cfg->max_connections - d->cfg->reserved_connections);
	if (s->refused_reqs)
		pt_log(LOG_WARNING,
		       "op=limit result=deny peer_uid=%u refused=%u period=%us "
		       "reason=\"uid_request_rate %u/%llus exceeded\"",
		       (unsigned)s->uid, s->refused_reqs, SUMMARY_MS / 1000, d->cfg->uid_rate_n,
		       (unsigned long long)d->cfg->uid_rate_period);
	s->refused_conns = s->refused_reqs = 0;
	s->logged = now;
}

static void uid_refused(struct pt_daemon *d, struct uidslot *s, bool conn)
{
	uint64_t now = pt_now_ms_monotonic();

	if (conn)
		s->refused_conns++;
	else
		s->refused_reqs++;
	if (s->logged == 0 || now - s->logged >= SUMMARY_MS)
		uid_summary(d, s, now);
}

/* Housekeeping: due summaries out, forgotten uids freed (no connection, a
 * full bucket, nothing left to log). */
static void uid_sweep(struct pt_daemon *d, uint64_t now)
{
	if ((busy_all.refused_conns) && now - busy_all.logged >= SUMMARY_MS)
		uid_summary(d, &busy_all, now);
	for (size_t i = 0; i < UID_BUCKETS; i++)
		for (struct uidslot **pp = &uids[i], *s; (s = *pp);) {
			if ((s->refused_conns || s->refused_reqs) && now - s->logged >= SUMMARY_MS)
				uid_summary(d, s, now);
			if (s->n_conns == 0 && !s->refused_conns && !s->refused_reqs &&
			    (s->logged == 0 || now - s->logged >= SUMMARY_MS) &&
			    pt_ratelimit_full(&s->rate, d->cfg->uid_rate_n,
					      d->cfg->uid_rate_period * 1000, now)) {
				*pp = s->next;
				free(s);
			} else
				pp = &s->next;
		}
}

static void uid_free_all(void)
{
	for (size_t i = 0; i < UID_BUCKETS; i++)
		while (uids[i]) {
			struct uidslot *s = uids[i];
			uids[i] = s->next;
			free(s);
		}
}

/* ------------------------------------------------------------ connections */

static void set_backlog(struct conn *c, bool on)
{
	if (c->backlog == on)
		return;
	c->backlog = on;
	if (on)
		n_backlog++;
	else
		n_backlog--;
}

static void conn_close(struct pt_daemon *d, int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->held)
		n_held--;
	set_backlog(c, false);
	if (c->slot) {
		c->slot->n_conns--;
		n_unprivileged--;
	}
	pt_peer_clear(&c->peer);
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

/* Requests are read while the client reads its replies: a connection whose
 * queued replies pass OUT_HIGH is not read again until they are sent. */
static bool conn_throttled(const struct conn *c)
{
	return ptbuf_len(c->out) >= OUT_HIGH;
}

static void conn_events(int ep, struct conn *c)
{
	uint32_t want =
		(c->closing || conn_throttled(c) ? 0 : EPOLLIN) | (c->want_out ? EPOLLOUT : 0);
	struct epoll_event ev = { .events = want, .data.ptr = c };

	if (want != c->events && epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = want;
}

/* Sends what is queued. Returns false when the connection is finished. */
static bool conn_flush(int ep, struct conn *c)
{
	bool was_throttled = conn_throttled(c);

	c->want_out = false;
	while (ptbuf_len(c->out) > 0) {
		ssize_t k = send(c->fd, ptbuf_ptr(c->out), ptbuf_len(c->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->want_out = true;
				break;
			}
			return false;
		}
		ptbuf_consume(c->out, (size_t)k);
	}
	/* the client read its replies: the requests it queued meanwhile are due */
	if (was_throttled && !conn_throttled(c) && ptbuf_len(c->in) > 0)
		set_backlog(c, true);
	conn_events(ep, c);
	return ptbuf_len(c->out) > 0 || !c->closing;
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

/* A request of a hello'd connection: the uid's rate, the peer's executable,
 * then the dispatch table. */
static void request(struct pt_daemon *d, struct conn *c, uint8_t type, const uint8_t *payload,
		    size_t len)
{
	const struct pt_config *cfg = d->cfg;
	char v[300], msg[128];
	int r;

	if (c->slot && !pt_ratelimit_take(&c->slot->rate, cfg->uid_rate_n,
					  cfg->uid_rate_period * 1000, pt_now_ms_monotonic())) {
		uid_refused(d, c->slot, false);
		snprintf(msg, sizeof(msg), "request rate of uid %u exceeded (uid_request_rate)",
			 (unsigned)c->peer.uid);
		pt_rep_encode_error(c->out, PT_E_LIMIT, msg);
		c->closing = true;
		return;
	}
	r = pt_peer_recheck(&c->peer);
	if (r < 0) {
		/* it connected as one program and asks as another (or is gone and
		 * someone else holds its socket): neither is who connected */
		pt_log(LOG_WARNING,
		       "op=%s result=deny peer_uid=%u peer_pid=%d exe=%s reason=\"%s\"",
		       pt_msgtype_name(type), (unsigned)c->peer.uid, (int)c->peer.pid,
		       pt_log_value(c->peer.exe_known ? c->peer.exe : NULL, v, sizeof(v)),
		       r == -ESTALE ? "the peer runs another executable than when it connected" :
				      "the process that connected is gone");
		pt_rep_encode_error(c->out, PT_E_PERM,
				    r == -ESTALE ?
					    "the executable changed since the connection was made" :
					    "the process that connected is gone");
		c->closing = true;
		return;
	}
	r = pt_ops_dispatch(d, &c->peer, type, payload, len, c->out);
	if (r < 0)
		c->closing = true;
}

/* Handles the next whole frame in c->in. Returns 1 when it did, 0 when there
 * is none yet. */
static int conn_frame(struct pt_daemon *d, struct conn *c)
{
	const uint8_t *payload;
	size_t len, used;
	uint8_t type;
	uint64_t now;
	int r;

	r = pt_frame_split(ptbuf_ptr(c->in), ptbuf_len(c->in), PT_MAX_FRAME, &type, &payload, &len,
			   &used);
	if (r == -EAGAIN)
		return 0;
	if (r < 0) {
		pt_log(LOG_WARNING,
		       "op=frame result=error peer_uid=%u peer_pid=%d "
		       "reason=\"%s\"",
		       (unsigned)c->peer.uid, (int)c->peer.pid,
		       r == -EMSGSIZE ? "frame too large" : "malformed frame");
		pt_rep_encode_error(c->out, PT_E_PROTO,
				    r == -EMSGSIZE ? "frame too large" : "malformed frame");
		c->closing = true;
		return 1;
	}
	if (!c->hello) {
		if (type != PT_HELLO) {
			pt_rep_encode_error(c->out, PT_E_PROTO, "hello expected first");
			c->closing = true;
			return 1;
		}
		hello(c, payload, len);
	} else
		request(d, c, type, payload, len);
	ptbuf_consume(c->in, used);
	now = pt_now_ms_monotonic();
	c->deadline = now + d->cfg->client_timeout_ms;
	if (c->deadline > c->expires)
		c->deadline = c->expires; /* requests do not extend a connection's life */
	return 1;
}

/* Reads what the socket has, once. Returns 1 when it read, 0 when there was
 * nothing, -1 when the connection is over (EOF, error, or no room). */
static int conn_recv(struct conn *c)
{
	size_t room = 16384;
	uint8_t *p;
	ssize_t k;

	if (ptbuf_max(c->in) - ptbuf_len(c->in) < room)
		room = ptbuf_max(c->in) - ptbuf_len(c->in);
	if (room == 0)
		return -1; /* cannot happen with a bounded frame, but never spin */
	if (ptbuf_reserve(c->in, room, &p) < 0)
		return -1;
	for (;;) {
		k = recv(c->fd, p, room, MSG_DONTWAIT);
		if (k >= 0 || errno != EINTR)
			break;
	}
	if (k < 0) {
		ptbuf_unreserve(c->in, room);
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
	ptbuf_unreserve(c->in, room - (size_t)k);
	return k == 0 ? -1 : 1; /* k == 0: the peer closed; answer nothing more */
}

/* One turn of c: at most FRAMES_PER_ROUND frames, reading as they are
 * needed, none while its replies are not being read. */
static void conn_run(struct pt_daemon *d, int ep, struct conn *c)
{
	unsigned budget = FRAMES_PER_ROUND;

	c->round = round_no;
	set_backlog(c, false);
	while (!c->closing && !conn_throttled(c)) {
		int r = conn_frame(d, c);

		if (r > 0) {
			if (--budget == 0) {
				set_backlog(c, true); /* the rest next round */
				break;
			}
			continue;
		}
		r = conn_recv(c);
		if (r < 0) {
			conn_close(d, ep, c);
			return;
		}
		if (r == 0)
			break;
	}
	if (pt_ops_commit_pending(d)) {
		if (!c->held) {
			c->held =
				true; /* sent once its audit records and counted uses are on disk */
			n_held++;
		}
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

/* Says "busy" to a connection tokend will not serve, and closes it. */
static void refuse(int fd, const char *msg)
{
	struct ptbuf *b = ptbuf_new(256);

	if (b && pt_rep_encode_error(b, PT_E_BUSY, msg) == 0)
		(void)!send(fd, ptbuf_ptr(b), ptbuf_len(b), MSG_NOSIGNAL | MSG_DONTWAIT);
	ptbuf_free(b);
	close(fd);
}

/*
 * Who gets a connection: root and actors up to max_connections; every other
 * peer (unprivileged) only while its uid holds fewer than
 * max_connections_per_uid and all unprivileged peers together fewer than
 * max_connections - reserved_connections, so that one user, or all of them,
 * never take the connections the schedulers need.
 */
static void accept_some(struct pt_daemon *d, int ep, int lfd)
{
	const struct pt_config *cfg = d->cfg;

	for (unsigned i = 0; i < ACCEPTS_PER_ROUND; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct uidslot *slot = NULL;
		struct pt_peer peer;
		struct conn *c;
		uint64_t now;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pt_log(LOG_ERR, "op=accept result=error reason=\"%s\"",
				       strerror(errno));
			return;
		}
		if (d->n_conns >= cfg->max_connections) {
			refuse(fd, "too many connections");
			uid_refused(d, &busy_all, true);
			continue;
		}
		pt_peer_read(cfg, fd, &peer);
		if (peer.uid != 0 &&
		    !pt_policy_is_actor(cfg, peer.uid, peer.exe_known ? peer.exe : NULL)) {
			slot = uid_slot(peer.uid, true);
			if (!slot || slot->n_conns >= cfg->max_connections_per_uid ||
			    n_unprivileged >= cfg->max_connections - cfg->reserved_connections) {
				pt_peer_clear(&peer);
				refuse(fd, "too many connections from this user");
				if (slot)
					uid_refused(d, slot, true);
				continue;
			}
		}
		c = calloc(1, sizeof(*c));
		if (c) {
			c->in = ptbuf_new(4 + PT_MAX_FRAME);
			c->out = ptbuf_new(16 * (4 + PT_MAX_FRAME));
		}
		if (!c || !c->in || !c->out) {
			if (c) {
				ptbuf_free(c->in);
				ptbuf_free(c->out);
				free(c);
			}
			pt_peer_clear(&peer);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->peer = peer;
		(void)!setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ OUT_HIGH }, sizeof(int));
		now = pt_now_ms_monotonic();
		c->expires = now + cfg->max_connection_lifetime * 1000;
		c->deadline = now + cfg->client_timeout_ms;
		if (c->deadline > c->expires)
			c->deadline = c->expires;
		c->events = EPOLLIN;
		struct epoll_event ev = { .events = c->events, .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			ptbuf_free(c->in);
			ptbuf_free(c->out);
			pt_peer_clear(&c->peer);
			free(c);
			close(fd);
			continue;
		}
		if (slot) {
			c->slot = slot;
			slot->n_conns++;
			n_unprivileged++;
		}
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
		d->n_conns++;
	}
}

/* Closes connections past their deadline (an unfinished request, an idle
 * connection, unread replies, the end of its lifetime); returns ms until the
 * next one. */
static int expire_conns(struct pt_daemon *d, int ep, uint64_t now)
{
	uint64_t next = now + HOUSEKEEPING_MS;

	for (struct conn *c = conns, *n; c; c = n) {
		n = c->next;
		if (c->deadline <= now) {
			if (ptbuf_len(c->in) > 0 && c->deadline < c->expires)
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

/* The connections whose last turn ended with work left, in list order. */
static void run_backlog(struct pt_daemon *d, int ep)
{
	for (struct conn *c = conns, *n; c && n_backlog; c = n) {
		n = c->next;
		if (c->backlog && c->round != round_no)
			conn_run(d, ep, c); /* may free c */
	}
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
			uid_sweep(d, now);
			next_house = now + HOUSEKEEPING_MS;
		}
		if ((uint64_t)timeout > next_house - now)
			timeout = (int)(next_house - now);
		round_no++;
		if (n_backlog)
			timeout = 0; /* work is waiting: only look for more */
		n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &lfd) {
				accept_some(d, ep, lfd);
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
				uint32_t e = evs[i].events;

				if (e & (EPOLLERR | EPOLLHUP)) {
					/* the client is gone: nobody reads the replies
					 * to what it left queued, so none is made */
					conn_close(d, ep, c);
					continue;
				}
				if ((e & EPOLLOUT) && !c->held && !conn_flush(ep, c)) {
					conn_close(d, ep, c);
					continue;
				}
				if ((e & EPOLLIN) && c->round != round_no)
					conn_run(d, ep, c); /* may free c */
			}
		}
		if (n_backlog)
			run_backlog(d, ep);
		if (n_held)
			release_held(d, ep);
	}
out:
	while (conns)
		conn_close(d, ep, conns);
	uid_free_all();
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	return r;
}
