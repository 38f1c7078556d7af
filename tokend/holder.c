/* SPDX-License-Identifier: MIT */
/*
 * The key holder's loop (tokend(8), "PRIVILEGE SEPARATION"): it reads the
 * front's messages (privsep.h), identifies each connection from the socket
 * the front passes (SO_PEERCRED and the executable, peer.h), runs the
 * dispatch table on the decoded requests, makes the round's decisions
 * durable (one group commit) and only then sends the replies back.
 */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "act.h"
#include "audit.h"
#include "credential.h"
#include "holder.h"
#include "log.h"
#include "nsscache-write.h"
#include "rpo.h"
#include "ops-internal.h"
#include "peer.h"
#include "policy.h"
#include "privsep.h"
#include "store.h"
#include "proto-server.h"
#include "util.h"

#define HOUSEKEEPING_MS 5000
#define HCONN_BUCKETS 256
/* Packets taken from the front per round before the group commit (each
 * holds a round of the front's messages). */
#define PACKETS_PER_ROUND 16

struct hconn {
	uint32_t id;
	uint64_t since; /* ms, monotonic: when the front handed it over */
	struct pt_peer peer;
	bool systemd; /* on the credential socket, running systemd's executable */
	bool asked;   /* on the credential socket: its one PT_CREDENTIAL came */
	struct hconn *next;
};

/* A message for the front, sent after the round's commit. */
struct out {
	struct ptbuf *msg;
	bool is_rep; /* withheld (PS_REP_DROP) when the commit fails */
	uint32_t conn;
	struct out *next;
};

static struct hconn *hconns[HCONN_BUCKETS];
static struct out *outq, **outtail = &outq;

/* libnss_pertok's cache follows the set of token holders (nsscache-write.h);
 * a cache directory that does not exist means none is wanted here. After
 * request rounds it is brought up to date at most every NSS_CACHE_MS (the
 * check walks the store), and at each housekeeping. */
#define NSS_CACHE_MS 100
static uint64_t nss_cache_due; /* a round asked for an update due then; 0: none */

static void nss_cache_update(struct pt_daemon *d)
{
	int r = pt_rpo_nss_update(d, pt_ops_now(d));

	nss_cache_due = 0;
	if (r < 0 && r != -ENOENT)
		pt_log_kv(LOG_ERR, "nss-cache", "error", "path", d->cfg->nss_cache, "reason",
			  strerror(-r), NULL);
}

static uint64_t nss_cache_last, nss_cache_seen = UINT64_MAX;

/* after a round: now, or at the latest NSS_CACHE_MS after the last update;
 * nothing when no record was put, removed or moved its expiry since (a
 * redemption's counted use changes nothing the cache holds: the check
 * walks the whole store, too much for every round of a busy host) */
static void nss_cache_round(struct pt_daemon *d, uint64_t now)
{
	uint64_t changes = pt_store_changes(d->store) + pt_rpo_generation(d);

	if (changes == nss_cache_seen && !nss_cache_due)
		return;
	nss_cache_seen = changes;
	if (now >= nss_cache_last + NSS_CACHE_MS) {
		nss_cache_last = now;
		nss_cache_update(d);
	} else if (!nss_cache_due) {
		nss_cache_due = nss_cache_last + NSS_CACHE_MS;
	}
}

static struct hconn **hconn_slot(uint32_t id)
{
	struct hconn **pp = &hconns[id % HCONN_BUCKETS];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

static void hconn_drop(struct pt_daemon *d, uint32_t id)
{
	struct hconn **pp = hconn_slot(id), *h = *pp;

	if (!h)
		return;
	*pp = h->next;
	pt_peer_clear(&h->peer);
	free(h);
	d->n_conns--;
}

static void hconn_free_all(struct pt_daemon *d)
{
	for (size_t i = 0; i < HCONN_BUCKETS; i++)
		while (hconns[i])
			hconn_drop(d, hconns[i]->id);
}

static void queue(struct ptbuf *msg, bool is_rep, uint32_t conn)
{
	struct out *o = calloc(1, sizeof(*o));

	if (!o) {
		ptbuf_free(msg);
		return;
	}
	o->msg = msg;
	o->is_rep = is_rep;
	o->conn = conn;
	*outtail = o;
	outtail = &o->next;
}

/* Sends a packet, waiting while the front's queue is full, but not for
 * ever: a front that reads nothing for SEND_WAIT_MS is taken for gone (the
 * key holder must keep hearing signals and doing its housekeeping). */
#define SEND_WAIT_MS 5000
static int send_wait(int pair, const struct ptbuf *msg)
{
	uint64_t end = pt_now_ms_monotonic() + SEND_WAIT_MS;

	for (;;) {
		int r = ps_send(pair, msg, -1);
		struct pollfd p = { .fd = pair, .events = POLLOUT };
		uint64_t now;

		if (r != -EAGAIN)
			return r;
		now = pt_now_ms_monotonic();
		if (now >= end) {
			pt_log_kv(LOG_ERR, "front", "error", "reason",
				  "the front reads nothing from the key holder; stopping", NULL);
			return -ETIMEDOUT;
		}
		if (poll(&p, 1, (int)(end - now)) < 0 && errno != EINTR)
			return -errno;
	}
}

/* The round's messages, in order, in as few packets as they fit in;
 * replies withheld (PS_REP_DROP) when !committed. */
static int flush_out(int pair, bool committed)
{
	struct ptbuf *d = ptbuf_new(PS_MAX_DGRAM);
	int r = d ? 0 : -ENOMEM;

	while (outq) {
		struct out *o = outq;

		outq = o->next;
		if (o->is_rep && !committed) {
			ptbuf_free(o->msg);
			o->msg = ptbuf_new(PS_MAX_MSG);
			if (o->msg && ps_encode_rep(o->msg, o->conn, PS_REP_DROP, NULL, 0) < 0) {
				ptbuf_free(o->msg);
				o->msg = NULL;
			}
		}
		if (o->msg && r == 0 && ps_dgram_add(d, o->msg) < 0) {
			r = send_wait(pair, d); /* full: send it, start the next */
			ptbuf_reset(d);
			if (r == 0 && ps_dgram_add(d, o->msg) < 0)
				r = -EMSGSIZE;
		}
		ptbuf_free(o->msg);
		free(o);
	}
	if (r == 0 && d && ptbuf_len(d) > 0)
		r = send_wait(pair, d);
	ptbuf_free(d);
	outtail = &outq;
	return r;
}

static struct ptbuf *msgbuf(void)
{
	return ptbuf_new(PS_MAX_MSG);
}

int pt_holder_limits(const struct pt_config *cfg, int pair)
{
	struct ps_limits l = { .max_connections = cfg->max_connections,
			       .max_connections_per_uid = cfg->max_connections_per_uid,
			       .reserved_connections = cfg->reserved_connections,
			       .client_timeout_ms = cfg->client_timeout_ms,
			       .max_connection_lifetime = cfg->max_connection_lifetime,
			       .uid_rate_n = cfg->uid_rate_n,
			       .uid_rate_period = cfg->uid_rate_period };
	struct ptbuf *m = msgbuf(), *d = ptbuf_new(PS_MAX_DGRAM);
	int r = m && d ? ps_encode_limits(m, &l) : -ENOMEM;

	if (r == 0)
		r = ps_dgram_add(d, m);
	if (r == 0)
		r = send_wait(pair, d);
	ptbuf_free(m);
	ptbuf_free(d);
	return r;
}

/* PS_CONN: the kernel says who connected; the front learns the class. */
static int on_conn(struct pt_daemon *d, uint32_t id, int fd)
{
	struct hconn *h = NULL;
	struct ptbuf *m;
	bool ok = false, privileged = false, cred = false;
	char why[256];

	/* only a connection accepted on tokend's socket (or on the credential
	 * socket, which the kernel tells apart by its local address) identifies
	 * a caller: the listening socket's SO_PEERCRED would name tokend itself,
	 * a socket of another service its owner. A front that passes anything
	 * else is not one to serve with. */
	if (ps_check_client_fd(fd, &d->listen_addr, d->listen_addr_len) < 0 &&
	    !(cred = d->cred_addr_len > 0 &&
		     ps_check_client_fd(fd, &d->cred_addr, d->cred_addr_len) == 0)) {
		close(fd);
		pt_log_kv(LOG_ERR, "front", "error", "reason",
			  "the front passed a descriptor that is not a connection accepted on "
			  "tokend's socket; stopping",
			  NULL);
		return -EPERM;
	}
	m = msgbuf();

	if (fd >= 0 && !*hconn_slot(id) && d->n_conns < 2 * d->cfg->max_connections + 16) {
		h = calloc(1, sizeof(*h));
		if (h) {
			h->id = id;
			h->since = pt_now_ms_monotonic();
			pt_peer_read(d->cfg, fd, &h->peer);
			h->peer.credential = cred;
			if (h->peer.pid == getpid() || h->peer.pid == d->front_pid) {
				/* tokend's own processes are never its callers */
				pt_peer_clear(&h->peer);
				free(h);
				close(fd);
				ptbuf_free(m);
				pt_log_kv(LOG_ERR, "front", "error", "reason",
					  "the front passed a connection of tokend's own; stopping",
					  NULL);
				return -EPERM;
			}
			privileged = pt_ops_privileged_peer(d->cfg, &h->peer);
			h->systemd = cred && pt_cred_actor(d->cfg, &h->peer, why, sizeof(why));
			*hconn_slot(id) = h;
			d->n_conns++;
			ok = true;
		}
	}
	if (fd >= 0)
		close(fd); /* the front serves the socket; the peer is known now */
	if (m && ps_encode_ident(m, id, h ? (uint32_t)h->peer.uid : UINT32_MAX,
				 h ? (uint32_t)h->peer.pid : 0,
				 (privileged ? PS_CLASS_PRIVILEGED : PS_CLASS_UNPRIVILEGED) |
					 (h && h->systemd ? PS_CLASS_SYSTEMD : 0),
				 ok) == 0)
		queue(m, false, id);
	else
		ptbuf_free(m);
	return 0;
}

/* A connection on the credential socket gets the live token alone and is
 * closed, or nothing at all (the unit fails to start): never a reply frame,
 * whose bytes systemd would take for the credential. */
static uint8_t cred_reply(struct pt_daemon *d, const struct hconn *h, const struct ps_msg *msg,
			  struct ptbuf *rep)
{
	const char *unit = msg->kind == PS_REQ ? msg->req.service : NULL;
	char why[512];

	if (pt_cred_reply(rep, why, sizeof(why)))
		return PS_REP_CLOSE;
	/* an unprivileged peer's refusals under its uid's refusal limit, like
	 * the decision's own record (ops.c refusal_admitted) */
	if (pt_ops_privileged_peer(d->cfg, &h->peer) ||
	    pt_audit_refusal_admit(d->audit, h->peer.uid, "credential",
				   pt_now_ms_monotonic() / 1000))
		pt_log_kv(LOG_WARNING, "credential", "deny", "unit", unit, "peer_uid",
			  PT_LOG_U(h->peer.uid), "peer_pid", PT_LOG_I(h->peer.pid), "reason",
			  PT_LOG_F("%s; %s", why,
				   h->systemd ? "no credential: the unit fails to start" :
						"closed: the peer is not systemd"),
			  NULL);
	return PS_REP_DROP;
}

/* A credential connection asks one thing, once: the PT_CREDENTIAL the front
 * made of its address, for a unit name the front's parser accepts. Anything
 * else is a front that broke its word: the connection gets nothing. */
static bool cred_request_ok(struct hconn *h, const struct ps_msg *msg, char *why, size_t whylen)
{
	if (msg->kind != PS_REQ || msg->req.type != PT_CREDENTIAL) {
		snprintf(why, whylen, "a request other than the credential on its socket");
		return false;
	}
	if (h->asked) {
		snprintf(why, whylen, "a second credential request on one connection");
		return false;
	}
	h->asked = true;
	if (!msg->req.service || !pt_cred_unit_valid(msg->req.service)) {
		snprintf(why, whylen, "the unit name is not one the front accepts");
		return false;
	}
	return true;
}

/* A reply of a command that ended (act.h): with the round's others. */
static void act_emit(uint32_t conn, struct ptbuf *rep)
{
	struct ptbuf *m = msgbuf();

	/* (the connection ends with it: the front kept it open for the run) */
	if (*hconn_slot(conn) && m &&
	    ps_encode_rep(m, conn, PS_REP_CLOSE, ptbuf_ptr(rep), ptbuf_len(rep)) == 0)
		queue(m, true, conn);
	else
		ptbuf_free(m);
	ptbuf_free(rep);
}

/* PS_REQ and PS_BAD: the peer's executable again, then the dispatch table.
 * fds: what the request carried (PT_ACT), closed by the caller. */
static void on_req(struct pt_daemon *d, const struct ps_msg *msg, const int *fds, size_t n_fds)
{
	bool deferred = false;

	struct hconn *h = *hconn_slot(msg->conn);
	struct ptbuf *rep = ptbuf_new(4 + PT_MAX_FRAME), *m = msgbuf();
	uint8_t flags = 0;
	char why[128];
	int r;

	if (!h || !rep || !m) {
		/* a connection the front did not announce: nobody to answer */
		ptbuf_free(rep);
		if (m && ps_encode_rep(m, msg->conn, PS_REP_DROP, NULL, 0) == 0)
			queue(m, false, msg->conn);
		else
			ptbuf_free(m);
		return;
	}
	/* the front ends every connection at max_connection_lifetime; the key
	 * holder holds it to that too (one second's slack for the hop), so that
	 * not even a compromised front keeps using a caller's connection; and a
	 * credential connection asks its one thing only */
	bool expired =
		pt_now_ms_monotonic() - h->since > d->cfg->max_connection_lifetime * 1000 + 1000;

	if (expired || (h->peer.credential && !cred_request_ok(h, msg, why, sizeof(why)))) {
		if (!expired)
			pt_log_kv(LOG_ERR, "credential", "error", "peer_uid", PT_LOG_U(h->peer.uid),
				  "peer_pid", PT_LOG_I(h->peer.pid), "reason",
				  PT_LOG_F("the front passed %s; nothing sent", why), NULL);
		ptbuf_free(rep);
		if (ps_encode_rep(m, msg->conn, PS_REP_DROP, NULL, 0) == 0)
			queue(m, false, msg->conn);
		else
			ptbuf_free(m);
		return;
	}
	r = pt_peer_recheck(&h->peer);
	if (r < 0) {
		/* it connected as one program and asks as another (or is gone and
		 * someone else holds its socket): neither is who connected */
		uint8_t type = msg->kind == PS_REQ ? msg->req.type : msg->type;
		pt_log_kv(LOG_WARNING, pt_msgtype_name(type), "deny", "peer_uid",
			  PT_LOG_U(h->peer.uid), "peer_pid", PT_LOG_I(h->peer.pid), "exe",
			  h->peer.exe_known ? h->peer.exe : NULL, "reason",
			  r == -ESTALE ? "the peer runs another executable than when it connected" :
					 "the process that connected is gone",
			  NULL);
		pt_rep_encode_error(rep, PT_E_PERM,
				    r == -ESTALE ?
					    "the executable changed since the connection was made" :
					    "the process that connected is gone");
		flags = PS_REP_CLOSE;
	} else {
		r = msg->kind == PS_REQ ?
			    pt_ops_handle_full(d, &h->peer, &msg->req,
					       msg->has_live ? &msg->live : NULL,
					       msg->has_ext ? &msg->ext : NULL, msg->conn, fds,
					       n_fds, rep, &deferred) :
			    pt_ops_bad_request(d, &h->peer, msg->type, rep);
		if (r < 0)
			flags = PS_REP_CLOSE;
	}
	if (deferred) {
		/* the command runs: its reply comes when it ends (act.c) */
		ptbuf_free(rep);
		ptbuf_free(m);
		return;
	}
	if (h->peer.credential)
		flags = cred_reply(d, h, msg, rep);
	if (ps_encode_rep(m, msg->conn, flags, ptbuf_ptr(rep), ptbuf_len(rep)) < 0 &&
	    ps_encode_rep(m, msg->conn, PS_REP_DROP, NULL, 0) < 0) {
		ptbuf_free(m);
		m = NULL;
	}
	ptbuf_free(rep); /* wiped: a reply may carry a token */
	if (m)
		queue(m, true, msg->conn);
}

/* A log line of the front's (built by pt_log_kv there, printable): marked
 * as its, and never above LOG_ERR (an emergency is not the front's to
 * declare; rsyslog broadcasts those to every terminal). */
static void front_line(uint8_t prio, const char *line)
{
	char buf[PS_MAX_LOG + 16];

	snprintf(buf, sizeof(buf), "%s src=front", line);
	pt_log_line(prio < LOG_ERR ? LOG_ERR : prio, buf);
}

/* Takes up to MSGS_PER_ROUND messages. 1: some, 0: none, -1: the front is
 * gone or broke the protocol. */
static int take(struct pt_daemon *d, int pair, uint8_t *buf)
{
	int n = 0;

	for (; n < PACKETS_PER_ROUND; n++) {
		const uint8_t *mp;
		size_t len, off = 0, mlen, n_fds = 0;
		int fds[PS_MAX_FDS], fd = -1, r, k, count = 0;

		r = ps_recv_fds(pair, buf, &len, fds, &n_fds);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			if (r != -EPIPE && r != -ECONNRESET)
				pt_log_kv(LOG_ERR, "front", "error", "reason", strerror(-r), NULL);
			return -1;
		}
		if (n_fds == 1)
			fd = fds[0];
		while ((k = ps_dgram_next(buf, len, &off, &mp, &mlen)) > 0) {
			struct ps_msg msg;
			bool act;

			/* a descriptor comes alone, with the PS_CONN it belongs to;
			 * three come alone with the PT_ACT request they belong to */
			r = ps_decode(mp, mlen, &msg);
			act = r == 0 && msg.kind == PS_REQ && msg.req.type == PT_ACT;
			if (r < 0 || (n_fds == 1) != (msg.kind == PS_CONN) ||
			    (n_fds == PT_ACT_NFDS) != act || (n_fds != 0 && n_fds != 1 && !act) ||
			    (n_fds > 0 && (count > 0 || off != len))) {
				if (r == 0)
					ps_msg_clear(&msg);
				k = -EBADMSG;
				break;
			}
			count++;
			switch (msg.kind) {
			case PS_CONN:
				if (on_conn(d, msg.conn, fd) < 0)
					k = -EPERM;
				fd = -1; /* taken (and closed) */
				break;
			case PS_REQ:
			case PS_BAD:
				on_req(d, &msg, fds, act ? n_fds : 0);
				break;
			case PS_CLOSE:
				pt_act_conn_closed(msg.conn);
				hconn_drop(d, msg.conn);
				break;
			case PS_LOG:
				front_line(msg.prio, msg.line);
				break;
			default:
				k = -EBADMSG;
				break;
			}
			ps_msg_clear(&msg);
			if (k < 0)
				break;
		}
		/* the key holder keeps no descriptor of a request's (the
		 * supervisor has its copies) */
		if (fd >= 0)
			close(fd);
		for (size_t i = 0; n_fds == PT_ACT_NFDS && i < n_fds; i++)
			close(fds[i]);
		if (k < 0 || count == 0) {
			if (k != -EPERM) /* (that one said why) */
				pt_log_kv(LOG_ERR, "front", "error", "reason",
					  "malformed message from the front; stopping", NULL);
			return -1;
		}
	}
	return n > 0;
}

bool pt_holder_reap(struct pt_daemon *d, bool wait)
{
	int st;

	if (d->front_pid <= 0)
		return false;
	for (int i = 0; waitpid(d->front_pid, &st, WNOHANG) == 0; i++) {
		if (!wait)
			return false;
		if (i == 200) {
			/* 2 s after its socket closed: it dies with us
			 * (PR_SET_PDEATHSIG); the key holder cannot signal it
			 * (another uid, and no CAP_KILL) and must not hang */
			pt_log_kv(LOG_WARNING, "front", "warning", "pid", PT_LOG_I(d->front_pid),
				  "reason",
				  "the front did not stop within 2 s; it ends with tokend", NULL);
			d->front_pid = 0;
			return true;
		}
		usleep(10000);
	}
	if (wait && WIFSIGNALED(st) && (WTERMSIG(st) == SIGTERM || WTERMSIG(st) == SIGINT))
		; /* stopped with us (systemd signals the whole unit) */
	else if (WIFSIGNALED(st) || WEXITSTATUS(st) != 0)
		pt_log_kv(LOG_ERR, "front", "error", "pid", PT_LOG_I(d->front_pid), "reason",
			  PT_LOG_F("the front process %s %d%s",
				   WIFSIGNALED(st) ? "was killed by signal" : "exited with",
				   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
				   WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS ?
					   " (a system call outside its seccomp filter)" :
					   ""),
			  NULL);
	d->front_pid = 0;
	return true;
}

int pt_holder_run(struct pt_daemon *d, int pair, void (*reload)(struct pt_daemon *d))
{
	uint64_t next_house = pt_now_ms_monotonic() + HOUSEKEEPING_MS;
	uint8_t *buf = malloc(PS_MAX_DGRAM);
	sigset_t mask;
	int ep = -1, sfd = -1, r = 0;
	bool running = true;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	if (!buf || sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		r = -ENOMEM;
		goto out;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0 || fcntl(pair, F_SETFL, fcntl(pair, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}
	struct epoll_event pev = { .events = EPOLLIN, .data.fd = pair };
	struct epoll_event sev = { .events = EPOLLIN, .data.fd = sfd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, pair, &pev) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev) < 0) {
		r = -errno;
		goto out;
	}
	pt_act_init(ep);
	r = pt_holder_limits(d->cfg, pair);
	if (r < 0) {
		(void)take(d, pair, buf); /* the front's last lines say why it ended */
		goto out;
	}

	while (running) {
		struct epoll_event evs[4];
		uint64_t now = pt_now_ms_monotonic(), wake;
		int n;

		if (now >= next_house) {
			pt_ops_housekeeping(d);
			nss_cache_last = now;
			nss_cache_update(d);
			next_house = now + HOUSEKEEPING_MS;
		}
		if (nss_cache_due && now >= nss_cache_due) {
			nss_cache_last = now;
			nss_cache_update(d);
		}
		wake = next_house;
		if (nss_cache_due && nss_cache_due < wake)
			wake = nss_cache_due;
		pt_act_tick(d, now);
		int64_t act_ms = pt_act_next_ms(now);
		if (act_ms >= 0 && now + (uint64_t)act_ms < wake)
			wake = now + (uint64_t)act_ms;
		n = epoll_wait(ep, evs, 4, (int)(wake - now));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						reload(d);
						if (pt_holder_limits(d->cfg, pair) < 0)
							running = false;
					} else if (si.ssi_signo == SIGCHLD) {
						if (pt_holder_reap(d, false)) {
							r = -ECHILD;
							running = false;
						}
					} else {
						pt_log_kv(LOG_INFO, "signal", "allow", "signal",
							  PT_LOG_U(si.ssi_signo), "reason",
							  "shutting down", NULL);
						running = false;
					}
				}
			} else {
				int k = 0;
				bool ok = true;

				if (evs[i].data.fd == pair)
					k = take(d, pair, buf);
				else if (pt_act_owns(evs[i].data.fd))
					pt_act_event(d, evs[i].data.fd, act_emit);
				if (k < 0) {
					if (r == 0)
						r = -EPIPE;
					running = false;
				}
				/* group commit: what the round decided is on disk
				 * before any of its replies leaves */
				if (pt_ops_commit_pending(d)) {
					ok = pt_ops_commit(d) == 0;
					if (!ok)
						pt_log_kv(LOG_ERR, "audit", "error", "reason",
							  PT_LOG_F("%s; replies withheld",
								   pt_audit_failure(d->audit) ?:
									   "sync failed"),
							  NULL);
				}
				if (flush_out(pair, ok) < 0 && running) {
					r = -EPIPE;
					running = false;
				}
				/* after the replies: a put or a removal changes who
				 * libnss_pertok resolves */
				nss_cache_round(d, pt_now_ms_monotonic());
				if (pt_store_broken(d->store) && running) {
					pt_log_kv(
						LOG_CRIT, "store", "error", "reason",
						"the token store cannot commit any more (a failed "
						"write of its meta page); stopping: a restart "
						"reopens it from its last commit",
						NULL);
					r = -EIO;
					running = false;
				}
			}
		}
	}
out:
	pt_act_shutdown(d);
	if (outq)
		flush_out(pair, false);
	hconn_free_all(d);
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	free(buf);
	return r;
}
