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

#include "credential.h"
#include "log.h"
#include "privsep.h"
#include "proto-server.h"
#include "ratelimit.h"
#include "rpo.h"
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
#define CONN_BUCKETS 256

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
		if (!made)
			pt_log_kv(LOG_NOTICE, "start", "warning", "socket_dir", dir, "reason",
				  "mode 0700 changed to 0755: every user must reach the socket",
				  NULL);
	}
	return 0;
}

/* Binds and listens on path (mode 0666, in a directory made 0755 whatever
 * the umask); refuses when another tokend answers there. */
static int listen_path(const char *path, int *ret_fd, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *slash;
	struct stat st;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
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
		/* a stale socket, or a running tokend? One that answers for a whole
		 * second is running; the front of a tokend just killed (it dies
		 * with its key holder) stops answering within milliseconds */
		bool live = true;
		for (int i = 0; live && i < 20; i++) {
			int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

			live = probe >= 0 &&
			       connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
			if (probe >= 0)
				close(probe);
			if (live)
				usleep(50000);
		}
		if (live) {
			close(fd);
			snprintf(err, errlen, "another tokend is listening on %s", sa.sun_path);
			return -EADDRINUSE;
		}
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
	return 0;
}

int pt_server_cred_path(const struct pt_config *cfg, char *buf, size_t len)
{
	const char *slash = strrchr(cfg->socket_path, '/');
	int dlen = slash ? (int)(slash - cfg->socket_path) : 1;
	int n = snprintf(buf, len, "%.*s/%s", dlen, slash ? cfg->socket_path : ".",
			 PT_CRED_SOCKET_NAME);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The descriptors systemd passed: tokend.socket's, and the credential
 * socket's when a socket unit named it "credential" (FileDescriptorName=). */
static int activated_fds(const char *e, int *ret_fd, int *ret_cfd, char *err, size_t errlen)
{
	const char *names = getenv("LISTEN_FDNAMES");
	int n = atoi(e), cfd = -1, fd = -1;

	if (n != 1 && n != 2) {
		snprintf(err, errlen, "systemd passed %s sockets, expected one or two", e);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names;
		size_t k;

		for (int j = 0; name && j < i; j++)
			name = (name = strchr(name, ':')) ? name + 1 : NULL;
		k = name ? strcspn(name, ":") : 0;
		if (k == strlen("credential") && strncmp(name, "credential", k) == 0)
			cfd = 3 + i;
		else if (fd < 0)
			fd = 3 + i;
		else {
			snprintf(err, errlen,
				 "systemd passed two sockets and neither is named \"credential\" "
				 "(FileDescriptorName=)");
			return -EINVAL;
		}
	}
	if (fd < 0) {
		snprintf(err, errlen, "systemd passed only the credential socket");
		return -EINVAL;
	}
	for (int i = 0; i < n; i++)
		if (fcntl(3 + i, F_SETFD, FD_CLOEXEC) < 0 ||
		    fcntl(3 + i, F_SETFL, fcntl(3 + i, F_GETFL) | O_NONBLOCK) < 0) {
			snprintf(err, errlen, "socket from systemd: %s", strerror(errno));
			return -errno;
		}
	*ret_fd = fd;
	*ret_cfd = cfd;
	return 0;
}

int pt_server_listen(const struct pt_config *cfg, int *ret_fd, int *ret_cfd, int *ret_activated,
		     char *err, size_t errlen)
{
	const char *e = getenv("LISTEN_FDS"), *p = getenv("LISTEN_PID");
	char cpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd = -1, cfd = -1, r;

	if (e && p && (pid_t)atol(p) == getpid()) {
		r = activated_fds(e, &fd, &cfd, err, errlen);
		if (r < 0)
			return r;
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDNAMES");
		*ret_fd = fd;
		*ret_cfd = cfd;
		*ret_activated = 1;
		return 0;
	}
	r = listen_path(cfg->socket_path, &fd, err, errlen);
	if (r < 0)
		return r;
	r = pt_server_cred_path(cfg, cpath, sizeof(cpath));
	if (r < 0)
		snprintf(err, errlen, "credential socket path too long beside %s",
			 cfg->socket_path);
	else
		r = listen_path(cpath, &cfd, err, errlen);
	if (r < 0) {
		close(fd);
		unlink(cfg->socket_path);
		return r;
	}
	*ret_fd = fd;
	*ret_cfd = cfd;
	*ret_activated = 0;
	return 0;
}

/* ------------------------------------------------------------ the front's loop */

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
	uint32_t id; /* the key holder knows the connection by this */
	uid_t uid;   /* as the key holder read it from the kernel */
	pid_t pid;
	struct uidslot *slot; /* unprivileged peers' uid (NULL: root or an actor) */
	struct ptbuf *in;
	struct ptbuf *out;
	uint64_t deadline;	   /* ms, monotonic: the current request must complete by then */
	uint64_t expires;	   /* ms, monotonic: the connection's end, whatever it does */
	uint64_t round;		   /* the last loop round that ran it */
	uint32_t events;	   /* registered with epoll */
	bool identified;	   /* the key holder read the peer's credentials */
	bool hello;		   /* the version exchange happened */
	bool closing;		   /* close once out is flushed */
	bool want_out;		   /* a send would have blocked: wait for EPOLLOUT */
	bool inflight;		   /* a request is with the key holder */
	bool backlog;		   /* its round ended with work left: run it next round */
	bool dead;		   /* closed this round; freed when the round's events are done */
	bool on_cred;		   /* accepted on the credential socket */
	bool systemd;		   /* ... and the key holder found it runs systemd's executable */
	bool refusing;		   /* ... and is being sent the refusal (cred_end) */
	bool unknown;		   /* ... and the key holder has not read its peer yet */
	struct pt_cred_addr *cred; /* on the credential socket: what its address names (NULL:
				    * nothing; cred_end once the peer is known) */
	uint32_t refusal;	   /* credential refused: bytes of the notice still to send */
	/* descriptors the client sent (SCM_RIGHTS), for the frame that holds
	 * byte fds_at of in: a PT_ACT takes exactly PT_ACT_NFDS of them, any
	 * other frame is refused for them (fds_bad: more than PT_ACT_NFDS, a
	 * truncated set or a second set before the first was used) */
	int fds[PT_ACT_NFDS];
	unsigned n_fds;
	bool has_fds, fds_bad;
	size_t fds_at;
	struct conn *prev, *next;
	struct conn *hnext; /* by id */
};

/* A message for the key holder that could not be sent yet. */
struct pending {
	struct ptbuf *msg;
	int fd[PS_MAX_FDS]; /* to pass with it (n_fd of them; PS_CONN: one) */
	size_t n_fd;
	struct pending *next;
};

struct front {
	struct ps_limits lim;
	int pair, ep;
	unsigned n_conns, n_unprivileged, n_backlog;
	uint32_t next_id;
	uint64_t round_no;
	struct conn *conns;
	struct conn *graveyard; /* closed this round (conn_close), by next */
	struct conn *byid[CONN_BUCKETS];
	struct uidslot *uids[UID_BUCKETS];
	struct uidslot busy_all; /* refusals at max_connections (any peer) */
	struct pending *q, **qtail;
	bool pair_out;	     /* EPOLLOUT registered on the pair */
	struct ptbuf *dgram; /* the packet being sent (pair_flush) */
	int lfd;
	int cfd;		 /* the credential socket (credential.h), -1: none */
	bool cfd_on;		 /* ... registered for EPOLLIN (cred_listen) */
	unsigned n_cred_unknown; /* its connections whose peer is not known yet */
	unsigned n_pending_fds;	 /* client sockets queued for the key holder */
	bool listen_paused;	 /* the listening socket is off epoll ... */
	uint64_t listen_resume;	 /* ... until then (ms, monotonic) */
	uint64_t noisy_since;	 /* client errors logged in this window ... */
	unsigned noisy_logged, noisy_suppressed; /* ... and not */
	struct ptbuf *scratch;
};

static struct front F;

static void cred_listen(void);

/* ------------------------------------------------------------ the key holder */

static void pair_events(void)
{
	struct epoll_event ev = { .events = EPOLLIN | (F.q ? EPOLLOUT : 0), .data.ptr = &F.pair };
	bool want = F.q != NULL;

	if (want != F.pair_out && epoll_ctl(F.ep, EPOLL_CTL_MOD, F.pair, &ev) == 0)
		F.pair_out = want;
}

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n_fd; i++)
		close(p->fd[i]);
	if (p->n_fd)
		F.n_pending_fds--;
	ptbuf_free(p->msg);
	free(p);
}

/* Sends what waits, in order, as few packets as it fits in (a message with
 * descriptors goes alone). Returns -1 when the key holder is gone. */
static int pair_flush(void)
{
	while (F.q) {
		struct pending *end, *p = F.q;
		int fd = -1, r;

		ptbuf_reset(F.dgram);
		if (p->n_fd > 0) {
			fd = 0;
			end = p->next;
			r = ps_dgram_add(F.dgram, p->msg);
		} else {
			for (end = p; end && end->n_fd == 0 && ps_dgram_add(F.dgram, end->msg) == 0;
			     end = end->next)
				;
			r = end == p ? -EMSGSIZE : 0; /* cannot be: one message always fits */
		}
		if (r == 0)
			r = ps_send_fds(F.pair, F.dgram, p->fd, fd == 0 ? p->n_fd : 0);
		if (r == -EAGAIN)
			break;
		if (r < 0)
			return -1;
		while (F.q != end) {
			p = F.q;
			F.q = p->next;
			pending_free(p);
		}
	}
	if (!F.q)
		F.qtail = &F.q;
	pair_events();
	cred_listen();
	return 0;
}

/* Queues msg (taken) for the key holder, with copies of fds[0..n) (n 0:
 * none); the round's messages leave together at its end (pair_flush). */
static int to_holder_fds(struct ptbuf *msg, const int *fds, size_t n)
{
	struct pending *p = calloc(1, sizeof(*p));
	int r;

	if (!p || n > PS_MAX_FDS) {
		ptbuf_free(msg);
		free(p);
		return -ENOMEM;
	}
	p->msg = msg;
	for (; p->n_fd < n; p->n_fd++)
		if ((p->fd[p->n_fd] = fcntl(fds[p->n_fd], F_DUPFD_CLOEXEC, 3)) < 0) {
			r = -errno;
			while (p->n_fd > 0)
				close(p->fd[--p->n_fd]);
			ptbuf_free(msg);
			free(p);
			return r;
		}
	if (p->n_fd)
		F.n_pending_fds++;
	*F.qtail = p;
	F.qtail = &p->next;
	return 0;
}

static int to_holder(struct ptbuf *msg, int fd)
{
	return to_holder_fds(msg, &fd, fd >= 0 ? 1 : 0);
}

static struct ptbuf *msgbuf(void)
{
	return ptbuf_new(PS_MAX_MSG);
}

/* The front's log lines go to the key holder, which writes them (the front
 * has no /dev/log in its empty root). */
static void log_sink(int prio, const char *line)
{
	struct ptbuf *m = msgbuf();

	if (m && ps_encode_log(m, prio, line) == 0)
		to_holder(m, -1);
	else
		ptbuf_free(m);
}

/* ------------------------------------------------------------ per uid */

static struct uidslot *uid_slot(uid_t uid, bool create)
{
	struct uidslot **head = &F.uids[uid % UID_BUCKETS], *s;

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
static void uid_summary(struct uidslot *s, uint64_t now)
{
	if (s == &F.busy_all && s->refused_conns)
		pt_log_kv(LOG_WARNING, "accept", "busy", "refused", PT_LOG_U(s->refused_conns),
			  "period", PT_LOG_F("%us", SUMMARY_MS / 1000), "reason",
			  PT_LOG_F("max_connections %u reached", F.lim.max_connections), NULL);
	else if (s->refused_conns)
		pt_log_kv(LOG_WARNING, "accept", "busy", "peer_uid", PT_LOG_U(s->uid), "refused",
			  PT_LOG_U(s->refused_conns), "period", PT_LOG_F("%us", SUMMARY_MS / 1000),
			  "reason",
			  PT_LOG_F("max_connections_per_uid %u or the unprivileged share %u of "
				   "max_connections reached",
				   F.lim.max_connections_per_uid,
				   F.lim.max_connections - F.lim.reserved_connections),
			  NULL);
	if (s->refused_reqs)
		pt_log_kv(LOG_WARNING, "limit", "deny", "peer_uid", PT_LOG_U(s->uid), "refused",
			  PT_LOG_U(s->refused_reqs), "period", PT_LOG_F("%us", SUMMARY_MS / 1000),
			  "reason",
			  PT_LOG_F("uid_request_rate %u/%llus exceeded", F.lim.uid_rate_n,
				   (unsigned long long)F.lim.uid_rate_period),
			  NULL);
	s->refused_conns = s->refused_reqs = 0;
	s->logged = now;
}

static void uid_refused(struct uidslot *s, bool conn)
{
	uint64_t now = pt_now_ms_monotonic();

	if (conn)
		s->refused_conns++;
	else
		s->refused_reqs++;
	if (s->logged == 0 || now - s->logged >= SUMMARY_MS)
		uid_summary(s, now);
}

/* Housekeeping: due summaries out, forgotten uids freed (no connection, a
 * full bucket, nothing left to log). */
static void uid_sweep(uint64_t now)
{
	if ((F.busy_all.refused_conns) && now - F.busy_all.logged >= SUMMARY_MS)
		uid_summary(&F.busy_all, now);
	for (size_t i = 0; i < UID_BUCKETS; i++)
		for (struct uidslot **pp = &F.uids[i], *s; (s = *pp);) {
			if ((s->refused_conns || s->refused_reqs) && now - s->logged >= SUMMARY_MS)
				uid_summary(s, now);
			if (s->n_conns == 0 && !s->refused_conns && !s->refused_reqs &&
			    (s->logged == 0 || now - s->logged >= SUMMARY_MS) &&
			    pt_ratelimit_full(&s->rate, F.lim.uid_rate_n,
					      F.lim.uid_rate_period * 1000, now)) {
				*pp = s->next;
				free(s);
			} else
				pp = &s->next;
		}
}

static void uid_free_all(void)
{
	for (size_t i = 0; i < UID_BUCKETS; i++)
		while (F.uids[i]) {
			struct uidslot *s = F.uids[i];
			F.uids[i] = s->next;
			free(s);
		}
}

/* Lines about what a client did wrong (a bad frame, a bad version, a
 * timeout) or about accept failing: at most NOISY_MAX per SUMMARY_MS, the
 * rest counted and summarised, so that no client fills the log. */
#define NOISY_MAX 10
static bool noisy_admit(void)
{
	uint64_t now = pt_now_ms_monotonic();

	if (F.noisy_since == 0 || now - F.noisy_since >= SUMMARY_MS) {
		if (F.noisy_suppressed)
			pt_log_kv(LOG_WARNING, "client", "summary", "suppressed",
				  PT_LOG_U(F.noisy_suppressed), "period",
				  PT_LOG_F("%us", SUMMARY_MS / 1000), "reason",
				  "more client errors than are logged one by one", NULL);
		F.noisy_since = now;
		F.noisy_logged = F.noisy_suppressed = 0;
	}
	if (F.noisy_logged < NOISY_MAX) {
		F.noisy_logged++;
		return true;
	}
	F.noisy_suppressed++;
	return false;
}

/* ------------------------------------------------------------ connections */

static void set_backlog(struct conn *c, bool on)
{
	if (c->backlog == on)
		return;
	c->backlog = on;
	if (on)
		F.n_backlog++;
	else
		F.n_backlog--;
}

static struct conn *conn_by_id(uint32_t id)
{
	for (struct conn *c = F.byid[id % CONN_BUCKETS]; c; c = c->hnext)
		if (c->id == id)
			return c;
	return NULL;
}

/* The credential socket is accepted on only while a connection can be
 * served: at max_connections (or with as many sockets not yet taken by the
 * key holder, or the unprivileged share of connections whose peer is not
 * known yet) its peers wait in the backlog, where systemd waits for them,
 * rather than be accepted and closed, which would start their units with an
 * empty credential. */
static bool cred_acceptable(void)
{
	/* its peers not known yet never take the reserved connections: anyone
	 * may connect there, and is only counted as a uid once known */
	return F.n_conns < F.lim.max_connections && F.n_pending_fds < F.lim.max_connections &&
	       F.n_cred_unknown < F.lim.max_connections - F.lim.reserved_connections;
}

static void cred_listen(void)
{
	bool want = F.cfd >= 0 && !F.listen_paused && cred_acceptable();
	struct epoll_event cev = { .events = want ? EPOLLIN : 0, .data.ptr = &F.cfd };

	if (F.cfd >= 0 && want != F.cfd_on && epoll_ctl(F.ep, EPOLL_CTL_MOD, F.cfd, &cev) == 0)
		F.cfd_on = want;
}

/* c's peer is known (or c is gone): no longer one of the unknown. */
static void cred_known(struct conn *c)
{
	if (c->unknown) {
		c->unknown = false;
		F.n_cred_unknown--;
	}
}

/* The descriptors c's client sent and no request took. */
static void conn_drop_fds(struct conn *c)
{
	for (unsigned i = 0; i < c->n_fds; i++)
		close(c->fds[i]);
	c->n_fds = 0;
	c->has_fds = c->fds_bad = false;
}

static void conn_close(struct conn *c)
{
	struct ptbuf *m = msgbuf();

	cred_known(c);
	conn_drop_fds(c);

	if (m && ps_encode_close(m, c->id) == 0)
		to_holder(m, -1);
	else
		ptbuf_free(m);
	epoll_ctl(F.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	set_backlog(c, false);
	if (c->slot) {
		c->slot->n_conns--;
		F.n_unprivileged--;
	}
	ptbuf_free(c->in);
	ptbuf_free(c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		F.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	for (struct conn **pp = &F.byid[c->id % CONN_BUCKETS]; *pp; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	/* an event of this round may still name it (a reply of the key holder
	 * can close a connection whose own event comes later in the batch):
	 * the memory stays until the round is over */
	c->dead = true;
	c->next = F.graveyard;
	F.graveyard = c;
	F.n_conns--;
	cred_listen();
}

static void bury(void)
{
	while (F.graveyard) {
		struct conn *c = F.graveyard;

		F.graveyard = c->next;
		free(c->cred);
		free(c);
	}
}

/* Requests are read while the client reads its replies: a connection whose
 * queued replies pass OUT_HIGH is not read again until they are sent. */
static bool conn_throttled(const struct conn *c)
{
	return ptbuf_len(c->out) >= OUT_HIGH;
}

static void conn_events(struct conn *c)
{
	uint32_t want =
		(!c->identified || c->closing || c->inflight || c->on_cred || conn_throttled(c) ?
			 0 :
			 EPOLLIN) |
		(c->want_out ? EPOLLOUT : 0);
	struct epoll_event ev = { .events = want, .data.ptr = c };

	if (want != c->events && epoll_ctl(F.ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = want;
}

/* A credential tokend refuses: systemd (252) takes an empty answer for an
 * empty credential and starts the unit. What makes it fail the unit (status
 * 243/CREDENTIALS) is more than it accepts for a credential (1 MiB), so that
 * is what a refusal sends: this notice, over and over (credential.h), from
 * one static text shared by every connection (refusal_chunk). */
static const char refusal_notice[] = "pertok: tokend refused this credential; its log says why\n";
#define NOTICE_LEN (sizeof(refusal_notice) - 1)
static char refusal_text[NOTICE_LEN * 128];

/* The next bytes of c's refusal: a part of refusal_text that continues the
 * notice where the last send stopped. */
static size_t refusal_chunk(const struct conn *c, const char **ret)
{
	size_t off = (PT_CRED_REFUSAL_BYTES - c->refusal) % NOTICE_LEN;
	size_t n = sizeof(refusal_text) - off;

	if (refusal_text[0] == '\0')
		for (size_t i = 0; i < sizeof(refusal_text); i++)
			refusal_text[i] = refusal_notice[i % NOTICE_LEN];
	*ret = refusal_text + off;
	return n < c->refusal ? n : c->refusal;
}

/* Sends what is queued. Returns false when the connection is finished. */
static bool conn_flush(struct conn *c)
{
	bool was_throttled = conn_throttled(c);

	c->want_out = false;
	while (ptbuf_len(c->out) > 0 || c->refusal > 0) {
		bool queued = ptbuf_len(c->out) > 0;
		const char *p = (const char *)ptbuf_ptr(c->out);
		size_t n = queued ? ptbuf_len(c->out) : refusal_chunk(c, &p);
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->want_out = true;
				break;
			}
			return false;
		}
		if (queued)
			ptbuf_consume(c->out, (size_t)k);
		else {
			/* a refusal being read is not cut short: its deadline
			 * moves on (up to the connection's lifetime) */
			uint64_t next = pt_now_ms_monotonic() + F.lim.client_timeout_ms;

			c->refusal -= (uint32_t)k;
			c->deadline = next < c->expires ? next : c->expires;
		}
	}
	/* the client read its replies: the requests it queued meanwhile are due */
	if (was_throttled && !conn_throttled(c) && ptbuf_len(c->in) > 0)
		set_backlog(c, true);
	conn_events(c);
	return ptbuf_len(c->out) > 0 || c->refusal > 0 || !c->closing;
}

/*
 * Every end of a credential connection that is not a grant comes here. A
 * peer that runs systemd's executable, or one not known yet (it may), gets
 * the whole refusal, so that its unit fails (243/CREDENTIALS) rather than
 * starts with an empty or truncated credential: its deadline starts again
 * (client_timeout, past the connection's lifetime if need be) and is
 * renewed while the peer reads (conn_flush). Any other peer is not systemd:
 * it is closed at once, without a byte, and holds nothing while it does not
 * read.
 */
static void cred_end(struct conn *c)
{
	if (c->identified && !c->systemd) {
		conn_close(c);
		return;
	}
	if (!c->refusing) {
		c->refusing = true;
		c->closing = true;
		c->refusal = PT_CRED_REFUSAL_BYTES;
		ptbuf_reset(c->out); /* never a part of anything else before it */
		c->deadline = pt_now_ms_monotonic() + F.lim.client_timeout_ms;
		if (c->expires < c->deadline)
			c->expires = c->deadline;
	}
	if (!conn_flush(c))
		conn_close(c);
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
		if (noisy_admit())
			pt_log_kv(LOG_WARNING, "hello", "error", "peer_uid", PT_LOG_U(c->uid),
				  "peer_pid", PT_LOG_I(c->pid), "reason", msg, NULL);
		pt_rep_encode_error(c->out, PT_E_VERSION, msg);
		c->closing = true;
		return;
	}
	pt_rep_encode(PT_HELLO, &rep, c->out);
	c->hello = true;
}

/* A request of a hello'd connection: the uid's rate, then it is decoded
 * here and handed to the key holder in binary (privsep.h), which checks the
 * peer's executable and runs the dispatch table. */

/* An access template (root's PT_TEMPLATE_IMPORT) is parsed here first, as a
 * live token is: the key holder parses only templates the front could
 * (and again, against the host's entitlements, before it stores one). A
 * malformed one is answered here with the parser's reason. */
static bool front_template_ok(struct conn *c, const struct pt_req *req)
{
	char why[256] = "";

	if (pt_template_check(req->blob, strlen(req->blob), why, sizeof(why)) == 0)
		return true;
	pt_rep_encode_error(c->out, PT_E_INVALID, why[0] ? why : "malformed template");
	return false;
}

static void request(struct conn *c, uint8_t type, const uint8_t *payload, size_t len,
		    const int *fds, size_t n_fds)
{
	struct pt_live_presented live = { 0 };
	struct pt_req req = { 0 };
	struct ptbuf *m;
	char msg[128];
	int r;

	if (c->slot && !pt_ratelimit_take(&c->slot->rate, F.lim.uid_rate_n,
					  F.lim.uid_rate_period * 1000, pt_now_ms_monotonic())) {
		uid_refused(c->slot, false);
		snprintf(msg, sizeof(msg), "request rate of uid %u exceeded (uid_request_rate)",
			 (unsigned)c->uid);
		pt_rep_encode_error(c->out, PT_E_LIMIT, msg);
		c->closing = true;
		return;
	}
	r = pt_req_decode(type, payload, len, &req);
	if (r == 0 && type == PT_TEMPLATE_IMPORT && c->uid == 0 && !front_template_ok(c, &req)) {
		pt_req_clear(&req);
		return;
	}
	m = msgbuf();
	if (m && r < 0) /* unknown or malformed: the key holder answers and counts it */
		r = ps_encode_bad(m, c->id, type);
	else if (m && pt_req_presents_live(type)) {
		/* the presented live token is split and decoded here; the key
		 * holder gets its parts (or why it does not parse) and checks the
		 * signature over what it rebuilds from them (live.h) */
		r = pt_live_parse(req.live_token, &live);
		if (r != -ENOMEM)
			r = ps_encode_req(m, c->id, &req, &live);
		pt_live_presented_clear(&live);
	} else if (m && pt_req_presents_ext(type)) {
		/* an external JWT is split and decoded here (every malformed one
		 * refused with its reason); the key holder gets the signing input
		 * and the signature and decodes nothing before it verified them */
		struct pt_extjwt_presented ext = { 0 };

		r = pt_extjwt_split(req.jwt, &ext);
		if (r != -ENOMEM)
			r = ps_encode_req_ext(m, c->id, &req, NULL, &ext);
		pt_extjwt_presented_clear(&ext);
	} else if (m)
		r = ps_encode_req(m, c->id, &req, NULL);
	/* (a request that did not decode takes no descriptors: PS_BAD) */
	if (!m || r < 0 || to_holder_fds(m, fds, req.type == PT_ACT ? n_fds : 0) < 0) {
		if (m && r < 0)
			ptbuf_free(m);
		pt_rep_encode_error(c->out, PT_E_INTERNAL, "tokend cannot take the request");
		c->closing = true;
	} else
		c->inflight = true;
	pt_req_clear(&req); /* wipes the token */
}

/* Handles the next whole frame in c->in. Returns 1 when it did, 0 when there
 * is none yet. */
static int conn_frame(struct conn *c)
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
		if (noisy_admit())
			pt_log_kv(LOG_WARNING, "frame", "error", "peer_uid", PT_LOG_U(c->uid),
				  "peer_pid", PT_LOG_I(c->pid), "reason",
				  r == -EMSGSIZE ? "frame too large" : "malformed frame", NULL);
		pt_rep_encode_error(c->out, PT_E_PROTO,
				    r == -EMSGSIZE ? "frame too large" : "malformed frame");
		c->closing = true;
		return 1;
	}
	/* the descriptors sent with this frame's bytes, if any: a PT_ACT
	 * needs exactly its three, no other frame takes any */
	bool mine = c->has_fds && c->fds_at < used;
	const char *fd_err =
		pt_req_fds_error(type, c->hello, mine, mine ? c->n_fds : 0, c->fds_bad);

	if (fd_err) {
		if (noisy_admit())
			pt_log_kv(LOG_WARNING, pt_msgtype_name(type), "error", "peer_uid",
				  PT_LOG_U(c->uid), "peer_pid", PT_LOG_I(c->pid), "reason", fd_err,
				  NULL);
		conn_drop_fds(c);
		pt_rep_encode_error(c->out, PT_E_PROTO, fd_err);
		c->closing = true;
		ptbuf_consume(c->in, used);
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
		request(c, type, payload, len, c->fds, mine ? c->n_fds : 0);
	if (mine)
		conn_drop_fds(c); /* the key holder's copies are queued */
	else if (c->has_fds)
		c->fds_at -= used;
	ptbuf_consume(c->in, used);
	now = pt_now_ms_monotonic();
	c->deadline = now + F.lim.client_timeout_ms;
	/* an act's reply comes when its command ends, which the key holder
	 * bounds (the grant's max_runtime, at most PT_ACT_MAX_RUNTIME): the
	 * connection lives that long (and a minute), not max_connection_lifetime;
	 * the reply closes it (PS_REP_CLOSE) */
	if (type == PT_ACT && c->inflight)
		c->deadline = c->expires = now + (PT_ACT_MAX_RUNTIME + 60) * 1000ull;
	if (c->deadline > c->expires)
		c->deadline = c->expires; /* requests do not extend a connection's life */
	return 1;
}

/* The descriptors of a recvmsg at byte at of c->in: kept for the frame
 * there (conn_frame), every one beyond PT_ACT_NFDS closed at once; a
 * truncated set (MSG_CTRUNC), another control message, or a second set
 * before the first was taken marks them bad, and the frame is refused. */
static void conn_take_fds(struct conn *c, struct msghdr *mh, size_t at)
{
	bool any = (mh->msg_flags & MSG_CTRUNC) != 0, bad = any;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n = 0;

		any = true;
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		else
			bad = true;
		for (size_t i = 0; i < n; i++) {
			int x;

			memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->has_fds || c->n_fds >= PT_ACT_NFDS) {
				close(x);
				bad = true;
			} else
				c->fds[c->n_fds++] = x;
		}
	}
	if (!any)
		return;
	if (c->has_fds) {
		c->fds_bad = true; /* a second set: the first frame is refused */
		return;
	}
	c->has_fds = true;
	c->fds_bad = bad;
	c->fds_at = at;
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
	size_t at = ptbuf_len(c->in);
	if (ptbuf_reserve(c->in, room, &p) < 0)
		return -1;
	/* recvmsg: a PT_ACT's descriptors come with its bytes (the kernel
	 * never joins bytes sent with descriptors to bytes sent before them) */
	union {
		char buf[CMSG_SPACE((PT_ACT_NFDS + 1) * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = p, .iov_len = room };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	for (;;) {
		k = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (k >= 0 || errno != EINTR)
			break;
	}
	if (k < 0) {
		ptbuf_unreserve(c->in, room);
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
	ptbuf_unreserve(c->in, room - (size_t)k);
	conn_take_fds(c, &mh, at);
	return k == 0 ? -1 : 1; /* k == 0: the peer closed; answer nothing more */
}

/* One turn of c: frames until one goes to the key holder (one request at a
 * time per connection keeps the replies in order), at most FRAMES_PER_ROUND,
 * reading as they are needed, none while its replies are not being read. */
static void conn_run(struct conn *c)
{
	unsigned budget = FRAMES_PER_ROUND;

	c->round = F.round_no;
	set_backlog(c, false);
	while (c->identified && !c->closing && !c->inflight && !conn_throttled(c)) {
		int r = conn_frame(c);

		if (r > 0) {
			if (--budget == 0) {
				set_backlog(c, true); /* the rest next round */
				break;
			}
			continue;
		}
		r = conn_recv(c);
		if (r < 0) {
			conn_close(c);
			return;
		}
		if (r == 0)
			break;
	}
	if (!conn_flush(c))
		conn_close(c);
}

/* Says "busy" to a connection on tokend.sock that tokend will not serve,
 * and closes it (never one on the credential socket: cred_end). */
static void refuse(int fd, const char *msg)
{
	struct ptbuf *b = ptbuf_new(256);

	if (b && pt_rep_encode_error(b, PT_E_BUSY, msg) == 0)
		(void)!send(fd, ptbuf_ptr(b), ptbuf_len(b), MSG_NOSIGNAL | MSG_DONTWAIT);
	ptbuf_free(b);
	close(fd);
}

/*
 * Every connection goes to the key holder first, which reads the peer's
 * credentials and executable from the kernel (PS_CONN, PS_IDENT); only then
 * is it read. Who gets a connection: root and actors up to max_connections;
 * every other peer (unprivileged) only while its uid holds fewer than
 * max_connections_per_uid and all unprivileged peers together fewer than
 * max_connections - reserved_connections, so that one user, or all of them,
 * never take the connections the schedulers need.
 */
static void listen_pause(int lfd, unsigned ms)
{
	struct epoll_event ev = { .events = 0, .data.ptr = &F.lfd };

	if (!F.listen_paused && epoll_ctl(F.ep, EPOLL_CTL_MOD, lfd, &ev) == 0)
		F.listen_paused = true;
	F.listen_resume = pt_now_ms_monotonic() + ms;
	cred_listen();
}

static void listen_resume(int lfd, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &F.lfd };

	if (F.listen_paused && now >= F.listen_resume && F.n_pending_fds < F.lim.max_connections &&
	    epoll_ctl(F.ep, EPOLL_CTL_MOD, lfd, &ev) == 0)
		F.listen_paused = false;
	cred_listen();
}

/* A connection on the credential socket: what its peer's address names
 * (credential.h), or NULL when it names nothing (logged; the connection
 * ends in cred_end once the key holder has read the peer: the refusal for
 * systemd, nothing for anyone else). Whether the peer is that unit's is the
 * key holder's to check, from the kernel. */
static struct pt_cred_addr *cred_addr(int fd)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	struct pt_cred_addr *a = calloc(1, sizeof(*a));
	char err[256];

	memset(&sa, 0, sizeof(sa));
	if (!a || getpeername(fd, (struct sockaddr *)&sa, &len) < 0 ||
	    len < offsetof(struct sockaddr_un, sun_path) || len > sizeof(sa)) {
		free(a);
		return NULL;
	}
	if (pt_cred_parse_addr(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path), a, err,
			       sizeof(err)) < 0) {
		if (noisy_admit())
			pt_log_kv(LOG_WARNING, "credential", "deny", "reason", err, NULL);
		free(a);
		return NULL;
	}
	return a;
}

static void conn_free(struct conn *c)
{
	if (c) {
		ptbuf_free(c->in);
		ptbuf_free(c->out);
		free(c->cred);
		free(c);
	}
}

/* A connection's memory, before its accept: a peer of the credential socket
 * must not be accepted only to be closed empty-handed for want of memory. */
static struct conn *conn_alloc(void)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c) {
		c->in = ptbuf_new(4 + PT_MAX_FRAME);
		c->out = ptbuf_new(16 * (4 + PT_MAX_FRAME));
	}
	if (!c || !c->in || !c->out) {
		conn_free(c);
		return NULL;
	}
	return c;
}

static void accept_some(int lfd, int sfd)
{
	for (unsigned i = 0; i < ACCEPTS_PER_ROUND; i++) {
		struct conn *c;
		struct ptbuf *m;
		uint64_t now;
		int fd;

		if (sfd == F.cfd && !cred_acceptable()) {
			/* overloaded: systemd's connections wait in the backlog */
			break;
		}
		c = conn_alloc();
		m = msgbuf();
		if (!c || !m) {
			conn_free(c);
			ptbuf_free(m);
			listen_pause(lfd, 1000); /* out of memory: look again in a second */
			return;
		}
		fd = accept4(sfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			conn_free(c);
			ptbuf_free(m);
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* out of descriptors (or memory): a level-triggered
				 * socket would spin; look again in a second */
				if (noisy_admit())
					pt_log_kv(LOG_ERR, "accept", "error", "reason",
						  strerror(errno), NULL);
				listen_pause(lfd, 1000);
			}
			break;
		}
		if (sfd == F.cfd) {
			c->on_cred = true;
			c->unknown = true;
			F.n_cred_unknown++;
			c->cred = cred_addr(fd); /* NULL: cred_end once identified */
		} else if (F.n_pending_fds >= F.lim.max_connections) {
			/* the key holder has not taken the sockets handed to it
			 * yet: accept no more than it can answer for */
			conn_free(c);
			ptbuf_free(m);
			refuse(fd, "too many connections");
			listen_pause(lfd, 100);
			return;
		} else if (F.n_conns >= F.lim.max_connections) {
			conn_free(c);
			ptbuf_free(m);
			refuse(fd, "too many connections");
			uid_refused(&F.busy_all, true);
			continue;
		}
		c->fd = fd;
		do
			c->id = ++F.next_id;
		while (c->id == 0 || conn_by_id(c->id));
		c->uid = (uid_t)-1;
		c->pid = -1;
		(void)!setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ OUT_HIGH }, sizeof(int));
		now = pt_now_ms_monotonic();
		c->expires = now + F.lim.max_connection_lifetime * 1000;
		c->deadline = now + F.lim.client_timeout_ms;
		if (c->deadline > c->expires)
			c->deadline = c->expires;
		c->events = 0;
		struct epoll_event ev = { .events = 0, .data.ptr = c };
		if (epoll_ctl(F.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			/* (the kernel out of memory: nothing can be sent to it) */
			conn_free(c);
			ptbuf_free(m);
			close(fd);
			continue;
		}
		c->next = F.conns;
		if (F.conns)
			F.conns->prev = c;
		F.conns = c;
		c->hnext = F.byid[c->id % CONN_BUCKETS];
		F.byid[c->id % CONN_BUCKETS] = c;
		F.n_conns++;
		if (ps_encode_conn(m, c->id) < 0) {
			ptbuf_free(m);
			m = NULL;
		}
		if (!m || to_holder(m, fd) < 0) {
			if (c->on_cred)
				cred_end(c); /* not identified: it may be systemd */
			else
				conn_close(c);
		}
	}
	cred_listen();
}

/* A connection on the credential socket sends nothing (systemd shuts its
 * side down): its request is what its address named, one per connection,
 * under the uid's request rate like any other. */
static void cred_request(struct conn *c)
{
	struct pt_req req = { .type = PT_CREDENTIAL, .service = c->cred->unit, .id = c->cred->id };
	struct ptbuf *m;

	if (c->slot && !pt_ratelimit_take(&c->slot->rate, F.lim.uid_rate_n,
					  F.lim.uid_rate_period * 1000, pt_now_ms_monotonic())) {
		uid_refused(c->slot, false);
		cred_end(c);
		return;
	}
	m = msgbuf();
	if (!m || ps_encode_req(m, c->id, &req, NULL) < 0) {
		ptbuf_free(m);
		cred_end(c);
		return;
	}
	if (to_holder(m, -1) < 0) { /* (m taken) */
		cred_end(c);
		return;
	}
	c->inflight = true;
	c->closing = true; /* the reply (the credential, or none) ends it */
}

/* The key holder read the peer: admit it (or not) by its class. */
static void identified(const struct ps_msg *msg)
{
	struct conn *c = conn_by_id(msg->conn);
	struct uidslot *slot = NULL;

	if (!c || c->identified)
		return;
	c->uid = (uid_t)msg->uid;
	c->pid = (pid_t)msg->pid;
	cred_known(c);
	cred_listen();
	if (!msg->accepted) {
		if (c->on_cred)
			cred_end(c); /* the key holder did not read it: it may be systemd */
		else
			conn_close(c);
		return;
	}
	c->systemd = c->on_cred && (msg->class & PS_CLASS_SYSTEMD);
	if (c->refusing) {
		/* refused before its peer was known (the key holder was late):
		 * the rest of the refusal is for systemd only */
		c->identified = true;
		cred_end(c);
		return;
	}
	if ((msg->class & ~PS_CLASS_SYSTEMD) == PS_CLASS_UNPRIVILEGED) {
		slot = uid_slot(c->uid, true);
		if (!slot || slot->n_conns >= F.lim.max_connections_per_uid ||
		    F.n_unprivileged >= F.lim.max_connections - F.lim.reserved_connections) {
			int fd;

			if (c->on_cred) {
				/* not served. A user manager (systemd's executable)
				 * gets the refusal, so that its unit does not start
				 * either, counted against its uid while it lasts;
				 * anyone else is closed at once */
				if (slot)
					uid_refused(slot, true);
				c->identified = true;
				if (slot && c->systemd) {
					c->slot = slot;
					slot->n_conns++;
					F.n_unprivileged++;
				}
				cred_end(c);
				return;
			}
			fd = dup(c->fd);
			conn_close(c);
			if (fd >= 0)
				refuse(fd, "too many connections from this user");
			if (slot)
				uid_refused(slot, true);
			return;
		}
		c->slot = slot;
		slot->n_conns++;
		F.n_unprivileged++;
	}
	c->identified = true;
	if (c->on_cred) {
		if (c->cred)
			cred_request(c);
		else
			cred_end(c); /* its address named nothing (logged) */
		return;
	}
	conn_events(c);
	set_backlog(c, true); /* it may have written already */
}

/* A reply of the key holder: to the client, then its next request. */
static void replied(const struct ps_msg *msg)
{
	struct conn *c = conn_by_id(msg->conn);

	if (!c)
		return; /* it closed meanwhile */
	c->inflight = false;
	if (c->refusing)
		return; /* too late: its refusal is under way */
	if ((msg->flags & PS_REP_DROP) ||
	    (msg->rep_len && ptbuf_put(c->out, msg->rep, msg->rep_len) < 0)) {
		if (c->on_cred)
			cred_end(c);
		else
			conn_close(c);
		return;
	}
	if (msg->flags & PS_REP_CLOSE)
		c->closing = true;
	if (!conn_flush(c)) {
		conn_close(c);
		return;
	}
	if (!c->closing && ptbuf_len(c->in) > 0)
		set_backlog(c, true);
}

/* What the key holder sent. Returns 0, 1 when it stopped (the end of the
 * stream), -1 when it broke the protocol (a key holder that does is not one
 * to serve with). */
static int from_holder(uint8_t *buf)
{
	for (unsigned i = 0; i < 64; i++) {
		const uint8_t *mp;
		size_t len, off = 0, mlen;
		int fd = -1, r, k;

		r = ps_recv(F.pair, buf, &len, &fd);
		if (r == -EAGAIN)
			return 0;
		if (r == -EPIPE || r == -ECONNRESET)
			return 1; /* the key holder stopped (with our messages unread,
				   * ECONNRESET): so do we */
		if (r < 0)
			return -1;
		if (fd >= 0) {
			close(fd);
			return -1; /* the key holder passes no descriptors */
		}
		while ((k = ps_dgram_next(buf, len, &off, &mp, &mlen)) > 0) {
			struct ps_msg msg;

			if (ps_decode(mp, mlen, &msg) < 0)
				return -1;
			switch (msg.kind) {
			case PS_IDENT:
				identified(&msg);
				break;
			case PS_REP:
				replied(&msg);
				break;
			case PS_LIMITS:
				F.lim = msg.limits;
				break;
			default:
				ps_msg_clear(&msg);
				return -1;
			}
			ps_msg_clear(&msg);
		}
		if (k < 0)
			return -1;
	}
	return 0;
}

/* Closes connections past their deadline (an unfinished request, an idle
 * connection, unread replies, the end of its lifetime); returns ms until the
 * next one. */
static int expire_conns(uint64_t now)
{
	uint64_t next = now + HOUSEKEEPING_MS;

	for (struct conn *c = F.conns, *n; c; c = n) {
		n = c->next;
		if (c->deadline <= now) {
			if (ptbuf_len(c->in) > 0 && c->deadline < c->expires && noisy_admit())
				pt_log_kv(LOG_NOTICE, "timeout", "error", "peer_uid",
					  PT_LOG_U(c->uid), "peer_pid", PT_LOG_I(c->pid), "reason",
					  PT_LOG_F("request not completed within %u ms",
						   F.lim.client_timeout_ms),
					  NULL);
			if (c->on_cred && !c->refusing) {
				cred_end(c); /* sets a new deadline (or closes) */
				if (!c->dead && c->deadline < next)
					next = c->deadline;
				continue;
			}
			if (c->refusing && noisy_admit())
				pt_log_kv(LOG_WARNING, "credential", "error", "peer_uid",
					  PT_LOG_U(c->uid), "peer_pid", PT_LOG_I(c->pid), "reason",
					  PT_LOG_F("the refusal was not read within %u ms; "
						   "closed part-way",
						   F.lim.client_timeout_ms),
					  NULL);
			conn_close(c);
		} else if (c->deadline < next)
			next = c->deadline;
	}
	return (int)(next - now);
}

/* The connections whose last turn ended with work left, in list order. */
static void run_backlog(void)
{
	for (struct conn *c = F.conns, *n; c && F.n_backlog; c = n) {
		n = c->next;
		if (c->backlog && c->round != F.round_no)
			conn_run(c); /* may free c */
	}
}

int pt_front_run(int lfd, int cfd, int pair)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t next_house = pt_now_ms_monotonic() + HOUSEKEEPING_MS;
	uint8_t *buf = NULL;
	int r = 0;

	F.pair = pair;
	F.lfd = lfd;
	F.cfd = cfd;
	F.cfd_on = cfd >= 0;
	F.qtail = &F.q;
	pt_log_set_sink(log_sink);
	buf = malloc(PS_MAX_DGRAM);
	F.dgram = ptbuf_new(PS_MAX_DGRAM);
	F.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!buf || !F.dgram || F.ep < 0) {
		r = -ENOMEM;
		goto out;
	}
	/* the key holder's limits come first */
	for (;;) {
		struct ps_msg msg = { 0 };
		size_t len;
		int fd = -1;

		r = ps_recv(pair, buf, &len, &fd);
		if (r == -EPIPE || r == -ECONNRESET) {
			r = 0; /* the key holder stopped before it started */
			goto out;
		}
		if (r < 0)
			goto out;
		const uint8_t *mp;
		size_t off = 0, mlen;

		if (fd >= 0)
			close(fd);
		if (ps_dgram_next(buf, len, &off, &mp, &mlen) == 1 && off == len &&
		    ps_decode(mp, mlen, &msg) == 0 && msg.kind == PS_LIMITS) {
			F.lim = msg.limits;
			ps_msg_clear(&msg);
			break;
		}
		ps_msg_clear(&msg);
		r = -EPROTO;
		goto out;
	}
	if (fcntl(pair, F_SETFL, fcntl(pair, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &F.lfd };
	struct epoll_event pev = { .events = EPOLLIN, .data.ptr = &F.pair };
	struct epoll_event cev = { .events = EPOLLIN, .data.ptr = &F.cfd };
	if (epoll_ctl(F.ep, EPOLL_CTL_ADD, lfd, &lev) < 0 ||
	    epoll_ctl(F.ep, EPOLL_CTL_ADD, pair, &pev) < 0 ||
	    (cfd >= 0 && epoll_ctl(F.ep, EPOLL_CTL_ADD, cfd, &cev) < 0)) {
		r = -errno;
		goto out;
	}

	for (;;) {
		uint64_t now = pt_now_ms_monotonic();
		int timeout = expire_conns(now), n;

		if (now >= next_house) {
			uid_sweep(now);
			next_house = now + HOUSEKEEPING_MS;
		}
		if ((uint64_t)timeout > next_house - now)
			timeout = (int)(next_house - now);
		if (F.listen_paused) {
			listen_resume(lfd, now);
			if (F.listen_paused && (uint64_t)timeout > F.listen_resume - now)
				timeout = F.listen_resume > now ? (int)(F.listen_resume - now) : 10;
		}
		F.round_no++;
		if (F.n_backlog)
			timeout = 0; /* work is waiting: only look for more */
		n = epoll_wait(F.ep, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &F.lfd) {
				accept_some(lfd, lfd);
			} else if (evs[i].data.ptr == &F.cfd) {
				accept_some(lfd, F.cfd);
			} else if (evs[i].data.ptr == &F.pair) {
				int k = 0;

				if ((evs[i].events & EPOLLOUT) && pair_flush() < 0)
					k = 1; /* its end is closed */
				if (k == 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
					k = from_holder(buf);
				if (k != 0) {
					/* the key holder stopped (a clean end), or broke
					 * the protocol */
					r = k > 0 ? 0 : -EPROTO;
					goto out;
				}
			} else {
				struct conn *c = evs[i].data.ptr;
				uint32_t e = evs[i].events;

				if (c->dead)
					continue; /* closed earlier in this round */
				if (e & (EPOLLERR | EPOLLHUP)) {
					/* the client is gone: nobody reads the replies
					 * to what it left queued, so none is made */
					conn_close(c);
					continue;
				}
				if ((e & EPOLLOUT) && !conn_flush(c)) {
					conn_close(c);
					continue;
				}
				if ((e & EPOLLIN) && c->round != F.round_no)
					conn_run(c); /* may free c */
			}
		}
		if (F.n_backlog)
			run_backlog();
		bury();
		if (F.q && pair_flush() < 0) {
			r = 0; /* the key holder is gone: so are we */
			goto out;
		}
	}
out:
	pt_log_set_sink(NULL);
	while (F.conns)
		conn_close(F.conns);
	bury();
	uid_free_all();
	while (F.q) {
		struct pending *p = F.q;
		F.q = p->next;
		pending_free(p);
	}
	if (F.ep >= 0)
		close(F.ep);
	ptbuf_free(F.dgram);
	free(buf);
	return r;
}
