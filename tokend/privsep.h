/* SPDX-License-Identifier: MIT */
/*
 * The channel between tokend's two processes (tokend(8), "PRIVILEGE
 * SEPARATION"): the front, which owns the listening socket and parses every
 * byte a client sends, and the key holder, which keeps the keys and the
 * store and decides. They speak over a SOCK_SEQPACKET socketpair, one
 * message per packet, in this small fixed binary form (integers big-endian,
 * strings u32 length + bytes, bounded, no NUL):
 *
 *   u8 kind | u32 conn | body
 *
 * front -> key holder
 *   PS_CONN    (empty)  with the accepted socket as SCM_RIGHTS: the key
 *              holder reads the peer's credentials from the kernel itself
 *   PS_REQ     a decoded request: u8 type, u32 fields (a bit per field
 *              present), then the fields in a fixed order (ps_req_encode),
 *              an ACT's argv last (u32 n, n strings); then u8 live: 1 when
 *              a presented live token follows in its wire form (live.h: the
 *              front split and decoded it; the token's text never reaches
 *              the key holder), 2 when a presented external JWT follows in
 *              its wire form (extjwt.h: the front split and decoded it; the
 *              key holder gets the signing input and signature, and decodes
 *              the input only once the signature verified), else 0; then a
 *              grant's scope and GRANT_APPROVE's flag. A PT_ACT request
 *              comes alone in its packet with exactly the caller's three
 *              descriptors (PT_ACT_NFDS, SCM_RIGHTS; the front checked their
 *              number); no other request ever carries one
 *   PS_BAD     u8 type: a request that did not decode (an unknown type or
 *              a malformed payload; the key holder answers it and counts
 *              it like a refusal)
 *   PS_CLOSE   (empty)  the connection is gone
 *   PS_LOG     u8 priority, str line (a log line of the front's)
 * key holder -> front
 *   PS_IDENT   u32 uid, u32 pid, u8 class (PS_CLASS_*, with PS_CLASS_SYSTEMD
 *              or'ed in), u8 accepted
 *   PS_REP     u8 flags (PS_REP_*), then the reply frame(s) for the client,
 *              as they are to be sent (the front does not look inside)
 *   PS_LIMITS  the front's share of the configuration (struct ps_limits),
 *              at start and after each reload
 *
 * Nothing in a message is trusted beyond its form: the key holder takes the
 * caller's identity only from the socket it was given, never from the front.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "extjwt.h"
#include "live.h"
#include "proto.h"

#define PS_MAX_MSG (4u + 1u + 4u + 8u + PT_MAX_FRAME + 64u)
#define PS_MAX_DGRAM (256u * 1024u) /* a packet of messages */

enum ps_kind {
	PS_CONN = 1,
	PS_REQ = 2,
	PS_CLOSE = 3,
	PS_LOG = 4,
	PS_BAD = 5,
	PS_IDENT = 0x41,
	PS_REP = 0x42,
	PS_LIMITS = 0x43,
};

enum ps_class {
	PS_CLASS_UNPRIVILEGED = 0, /* neither root nor an actor: per-uid caps */
	PS_CLASS_PRIVILEGED = 1,   /* root or a configured actor */
};
/* Or'ed into the class: a connection on the credential socket whose peer runs
 * the executable of the actor "systemd" (pt_cred_actor). Only such a peer is
 * sent the refusal that fails a unit; any other is not systemd, and is closed
 * without a byte. */
#define PS_CLASS_SYSTEMD 0x80u

enum {
	PS_REP_CLOSE = 1, /* close the connection once the reply is sent */
	PS_REP_DROP = 2,  /* close it without sending anything */
};

#define PS_MAX_LOG 2048u
/* Descriptors in one packet: PS_CONN's socket, or PT_ACT's three. */
#define PS_MAX_FDS 3u

/* What the front needs of tokend.conf: connection caps, timeouts, rates. */
struct ps_limits {
	uint32_t max_connections;
	uint32_t max_connections_per_uid;
	uint32_t reserved_connections;
	uint32_t client_timeout_ms;
	uint64_t max_connection_lifetime; /* s */
	uint32_t uid_rate_n;
	uint64_t uid_rate_period; /* s */
};

/* A decoded message. Strings and req are owned (ps_msg_clear frees them;
 * secrets are wiped). */
struct ps_msg {
	uint8_t kind;
	uint32_t conn;
	struct pt_req req; /* PS_REQ (never a live_token) */
	bool has_live;	   /* PS_REQ: live is set */
	struct pt_live_presented live;
	bool has_ext; /* PS_REQ: ext is set (an external JWT, PT_ACCEPT) */
	struct pt_extjwt_presented ext;
	uint8_t type;	    /* PS_BAD */
	uint8_t prio;	    /* PS_LOG */
	char *line;	    /* PS_LOG */
	uint32_t uid, pid;  /* PS_IDENT */
	uint8_t class;	    /* PS_IDENT */
	uint8_t accepted;   /* PS_IDENT */
	uint8_t flags;	    /* PS_REP */
	const uint8_t *rep; /* PS_REP: points into the decoded bytes */
	size_t rep_len;
	struct ps_limits limits; /* PS_LIMITS */
};

/* Encoders: a whole message into out (which is reset first). */
int ps_encode_conn(struct ptbuf *out, uint32_t conn);
int ps_encode_close(struct ptbuf *out, uint32_t conn);
/* req->live_token and req->jwt are not sent: live or ext (NULL for none;
 * at most one of them) stand for them. */
int ps_encode_req(struct ptbuf *out, uint32_t conn, const struct pt_req *req,
		  const struct pt_live_presented *live);
int ps_encode_req_ext(struct ptbuf *out, uint32_t conn, const struct pt_req *req,
		      const struct pt_live_presented *live, const struct pt_extjwt_presented *ext);
int ps_encode_bad(struct ptbuf *out, uint32_t conn, uint8_t type);
int ps_encode_log(struct ptbuf *out, int prio, const char *line);
int ps_encode_ident(struct ptbuf *out, uint32_t conn, uint32_t uid, uint32_t pid, uint8_t class,
		    bool accepted);
int ps_encode_rep(struct ptbuf *out, uint32_t conn, uint8_t flags, const void *rep, size_t len);
int ps_encode_limits(struct ptbuf *out, const struct ps_limits *l);

/* Decodes one message of p[0..n). -EBADMSG for anything malformed (an
 * unknown kind, a field out of bounds, trailing bytes; a log line that is
 * not printable ASCII); *ret is untouched on failure. ret->rep points into
 * p: keep p while using it. */
int ps_decode(const uint8_t *p, size_t n, struct ps_msg *ret);
void ps_msg_clear(struct ps_msg *m);

/* Is fd what a front may pass with PS_CONN: a connected AF_UNIX stream
 * socket whose local address is tokend's listening socket (laddr, from
 * getsockname at start), i.e. a connection accepted there? Not the
 * listening socket itself (its SO_PEERCRED would name tokend), not a
 * socket of another service (the journal's stream on stderr), not a pair.
 * 0 or -EPERM. */
#include <sys/socket.h>
#include <sys/un.h>
int ps_check_client_fd(int fd, const struct sockaddr_un *laddr, socklen_t laddr_len);

/* Packets. ps_dgram_add appends msg (a whole encoded message) to the packet
 * dgram: 0, or -EMSGSIZE when it would pass PS_MAX_DGRAM (dgram unchanged).
 * ps_dgram_next splits the next message off p[*off..n): 1 and the message,
 * 0 at the end, -EBADMSG for a length of 0, over PS_MAX_MSG or past the
 * end (*off unchanged). */
int ps_dgram_add(struct ptbuf *dgram, const struct ptbuf *msg);
int ps_dgram_next(const uint8_t *p, size_t n, size_t *off, const uint8_t **ret_msg,
		  size_t *ret_len);

/* One packet (and at most one descriptor) over a SOCK_SEQPACKET socket.
 * ps_send: fd_pass -1 for none; 0, -EAGAIN (non-blocking socket full) or
 * -errno. ps_send_msg: the same for a packet of the one message msg.
 * ps_recv: fills buf (PS_MAX_DGRAM bytes), *ret_len, *ret_fd (-1 for none;
 * any further descriptors are closed); 0, -EAGAIN, -EPIPE at end of stream,
 * -EMSGSIZE (a truncated packet) or -errno. */
int ps_send_msg(int sock, const struct ptbuf *msg, int fd_pass);
int ps_send(int sock, const struct ptbuf *msg, int fd_pass);
int ps_recv(int sock, uint8_t *buf, size_t *ret_len, int *ret_fd);
/* The same with up to PS_MAX_FDS descriptors: ps_send_fds sends fds[0..n);
 * ps_recv_fds fills ret_fds (PS_MAX_FDS slots) and *ret_n. A packet with
 * more than PS_MAX_FDS is -EBADMSG, and every descriptor it carried is
 * closed (as on any failure). */
int ps_send_fds(int sock, const struct ptbuf *msg, const int *fds, size_t n_fds);
int ps_recv_fds(int sock, uint8_t *buf, size_t *ret_len, int *ret_fds, size_t *ret_n);
