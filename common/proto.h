/* SPDX-License-Identifier: MIT */
/*
 * The tokend wire protocol (version 1), spoken on a UNIX stream socket.
 *
 * Frame:   u32 length (big-endian, counts type + payload, 1..PT_MAX_FRAME)
 *          u8  type
 *          payload (type-specific, encoded with ptbuf: u8/u32/u64 big-endian,
 *                   strings = u32 length + bytes, no embedded NUL)
 *
 * The first request on a connection must be PT_HELLO; the server answers
 * PT_OK with its version or PT_ERR (PT_E_VERSION) and closes. Each request
 * gets exactly one reply (PT_OK or PT_ERR). A malformed frame gets PT_ERR
 * (PT_E_PROTO) and the connection is closed.
 *
 * Request payloads:
 *   PT_HELLO     u32 version
 *   PT_MINT      str user, str service, str tty, str rhost
 *   PT_EXCHANGE  str live_token, str holder, u64 lifetime_s (0 = policy default)
 *   PT_REDEEM    str user, str holder, str service
 *   PT_LIST      str user ("" = every token the caller may see)
 *   PT_LIST_PAGE str user (as PT_LIST), str cursor ("" = from the start; else
 *                the cursor of the previous page's reply)
 *   PT_REVOKE    str id
 *   PT_PUBKEY    u8 format (PT_PUBKEY_PEM or PT_PUBKEY_JWKS)
 *   PT_STATUS    (empty)
 *   PT_ROTATE    (empty)
 *   PT_RESEAL    (empty)
 *   PT_EXPLAIN   str user, str holder, u64 at (unix s; 0 = now)
 *   PT_REVOKE_MATCH str user, str holder, u64 before (unix s) ("" / 0 = any;
 *                at least one set)
 *   PT_CODE_ISSUE str type, str user (root only)
 *   PT_CODE_CHECK str type, str user, str code (secret; root or an actor)
 *   PT_LIST_STATUS str user, str cursor (as PT_LIST_PAGE)
 *   PT_EXPLAIN_ISSUE str user, str actor (a configured actor's name, or
 *                "self" for pertok persist), str holder, u64 at (0 = now)
 *   PT_CODE_SHEET str type, str user, u32 count (1..PT_MAX_SHEET; root only)
 *   PT_CODE_LIST  str type, str user (root only)
 *   PT_REFRESH   str live_token (secret: a live token minted by a redemption,
 *                still valid, whose uid is the caller's, from
 *                pt_refresh_from(iat, exp) on)
 *   PT_ACT       str user, str id (the grant), u8 flags (PT_ACT_PTY), u32 n
 *                (1..PT_MAX_ARGV), n x str arg (each at most PT_MAX_ARG; arg 0
 *                is the command's absolute path). The frame's bytes carry
 *                exactly three descriptors as SCM_RIGHTS (the caller's stdin,
 *                stdout, stderr, in that order), sent with its first byte;
 *                fewer, more, none, or a truncated set (MSG_CTRUNC) is a
 *                refused request (PT_E_PROTO), and descriptors sent with any
 *                other request are closed and that request refused. The
 *                reply comes when the command has ended (at most
 *                PT_ACT_MAX_RUNTIME later, whatever max_connection_lifetime
 *                says), and the connection closes after it. Added in v0.4
 *                within version 1 (a new type). With flags PT_ACT_CRED a str
 *                credential follows the args (at most PT_MAX_TOKEN: the
 *                grant as PT_GRANT_CREDENTIAL gave it, bound to the caller's
 *                uid and executable); id is then "" or the grant it stands
 *                for.
 *   PT_DELEGATE  str id, str holder (a configured actor's name): the
 *                persistable token moves to holder, which alone may redeem
 *                it from now on (root: any token; others: their own)
 *   PT_LIST_DELEG str user, str cursor (as PT_LIST_PAGE)
 *   PT_GRANT_SIGNED str request (the text a user signed, grantreq.h; up to
 *                PT_MAX_SIGNED bytes), str signature (its armored SSH
 *                signature, namespace "pertok-grant"; up to PT_MAX_SIGNED):
 *                any uid may submit it, the consent is the signature
 *   PT_GRANT_CREDENTIAL str id (a grant; its origin, its servicer or root)
 *   Grants (issue 11; added in v0.4 within version 1: new request types, so
 *   older peers are unaffected and an older tokend answers PT_E_PROTO).
 *   SPEC, a grant's scope: str servicer, str servicer_exe ("" = any), str
 *                servicer_unit ("" = any), u32 n_cmds (1..PT_MAX_GRANT_CMDS),
 *                n_cmds x { str path (absolute), u8 prefix (0: argv exact,
 *                1: argv a prefix), u32 n_argv (0..PT_MAX_GRANT_ARGS), n_argv
 *                x str arg (up to PT_MAX_GRANT_ARG bytes, may be empty) },
 *                u64 not_before (0 = now), u64 lifetime (s from not_before;
 *                0 = unset), u8 has_hours (0/1), u8 hours_from, u8 hours_to
 *                (0..23, different when has_hours; both 0 otherwise), u32
 *                max_uses (0 = unset), u64 max_runtime (s, 0 = unset), u32
 *                depth. The digests are never sent: tokend reads the files.
 *                Confinement (added later, backward compatible): has_hours
 *                bit 0x02 set means after depth come u8 no_network (0/1),
 *                u32 n_paths (1..PT_MAX_GRANT_PATHS when the bit is set, or
 *                0 with no_network 1), n_paths x { u8 write (0: read-only,
 *                1: read-write), str path (absolute) }. A client sets the
 *                bit only when it asks for confinement, so older tokends
 *                still accept its other grants.
 *   PT_GRANT_CREATE   str user ("" or the caller's own name: nobody, root
 *                     included, creates a grant in another user's name), SPEC
 *   PT_GRANT_LIST     str user ("" = the caller's grants, as origin and as
 *                     servicer; root: any user's), str servicer ("" = any)
 *   PT_GRANT_REVOKE   str id (a grant: its origin, its servicer's delegator,
 *                     or root)
 *   PT_GRANT_DELEGATE str id, SPEC (the new servicer and the narrower scope;
 *                     only the grant's current servicer)
 *   PT_GRANT_REQUEST  str user, SPEC (servicer ""; the caller is the servicer)
 *   PT_GRANT_APPROVE  str id, u8 narrow (0: grant the proposal; 1: SPEC
 *                     follows, within the request; its servicer "")
 *   PT_GRANT_DENY     str id
 *   PT_GRANT_REQUESTS str user ("" = the caller: requests to them and by
 *                     them; root: any user's)
 *   PT_GRANT_EXPLAIN  str user, str id, SPEC (root: dry run of an act-as;
 *                     servicer = the servicer, cmds[0] = the command line)
 *   Remote principals (pertok-rpo(7); root only; added in v0.4 within
 *   version 1 as new types):
 *   PT_TEMPLATE_IMPORT str blob (the template's exact bytes, JSON, at most
 *                PT_MAX_TEMPLATE), str sig (its detached JWS, at most
 *                PT_MAX_TEMPLATE_SIG; "" = none)
 *   PT_TEMPLATE_SHOW str id (a template hash "sha256:HEX")
 *   PT_RPO_APPROVE str id (a template hash), u64 not_after (unix s)
 *   PT_RPO_LIST  (empty)
 *   PT_RPO_SHOW  str id (an RPO id "rpo_HEX" or its name)
 *   PT_RPO_EXTEND str id (as RPO_SHOW), u64 not_after (unix s)
 *   PT_RPO_REVOKE str id (as RPO_SHOW)
 *   PT_ACCEPT    str jwt (secret: a compact JWS of a trusted external issuer,
 *                at most PT_MAX_TOKEN), str user (PAM_USER: the local name
 *                of one of the remote principals it matches), str service,
 *                str rhost ("" = local). An actor (pam_pertok.so accept).
 *                Added in v0.4 within version 1 (a new type).
 *   PT_ACCEPT_SESSION str user (a remote principal's local name), str
 *                service, u32 count (1: a session opens, 0: it closes): the
 *                principal's concurrent sessions (max_sessions of its
 *                template). An actor. v0.4.
 *   PT_USED      str live_token (secret: a live token minted by a redemption,
 *                still valid, whose uid is the caller's), u8 format (kind:
 *                PT_USED_ENTITLEMENT or PT_USED_GROUP), str name: "this job
 *                used entitlement (or group) name" (pertok token used).
 *                Only an entitlement or group the token carries is recorded
 *                (it keeps privileges, never adds them).
 *   PT_RECOMMEND str user, str holder ("" = every one), u32 count (days of
 *                "unused"; 0 = usage.unused_days), u8 format
 *                (PT_REC_TEXT, PT_REC_JSON or PT_REC_CONFIG) (root only)
 *   PT_CURTAIL_REVERT str id ("rec-<hex>": a curtailment auto_curtail
 *                applied; root only)
 *   PT_ACCEPT_LIVE str live_token (secret: a live token minted by a
 *                redemption, still valid), str user (PAM_USER: must be the
 *                token's subject), str service (the PAM service), str name
 *                (require=: entitlements, comma-separated, 1..PT_MAX_REQUIRE,
 *                each of which the token must carry; root or an actor:
 *                pam_pertok.so accept in a service's stack)
 * PT_OK payloads, by request:
 *   PT_HELLO     u32 version
 *   PT_MINT      str token, u64 exp, str id ("")
 *   PT_REDEEM    str token, u64 exp, str id (the persistable token's id)
 *   PT_EXCHANGE  str id, u64 exp, u8 renewed (1 = replaced an older token)
 *   PT_LIST      u32 n, then n x { str id, str user, u32 uid, str holder,
 *                str actor, u64 iat, u64 exp, u64 last_used, u32 uses }
 *                (the entries that fit one frame, at most PT_MAX_LIST, with
 *                nothing saying whether more exist: kept for v0.1 clients)
 *   PT_LIST_PAGE the same entries, then u8 more (1 = further entries exist),
 *                str cursor (pass it in the next PT_LIST_PAGE; "" when more
 *                is 0). A cursor is an opaque position in tokend's order:
 *                tokens added or removed between two pages do not make the
 *                others skip or repeat. Added in v0.2 within version 1 (a
 *                new request type, so v0.1 clients and servers are
 *                unaffected; a v0.1 tokend answers PT_E_PROTO).
 *   PT_REVOKE    u32 count
 *   PT_PUBKEY    str text
 *   PT_STATUS    str text ("key=value\n" lines)
 *   PT_ROTATE    str text (what was done)
 *   PT_RESEAL    str text (what was done)
 *   PT_EXPLAIN   str text (the rules in order, the decision, the claims)
 *   PT_REVOKE_MATCH u32 count
 *   PT_CODE_ISSUE str code (secret, shown once), u64 exp
 *   PT_CODE_CHECK u32 count (uses left; 0 = the code is now spent)
 *   PT_LIST_STATUS as PT_LIST_PAGE, each entry followed by u64 refused_at
 *                (0 = never refused), u32 refusals (since issuance), str
 *                refusal_rule ("" = none), str refusal_reason: the last
 *                refused redemption of the token (its last success is
 *                last_used). Added in v0.3 within version 1 (a new type).
 *   PT_EXPLAIN_ISSUE str text, as PT_EXPLAIN (an exchange's decision)
 *   PT_EXPLAIN and PT_EXPLAIN_ISSUE texts end with a line "decision=allow"
 *   or "decision=deny" (since v0.3) for the tools' exit status and JSON.
 *   PT_CODE_SHEET u64 exp, u32 n, n x { u32 id, str code (secret, shown
 *                once) }: a new sheet that replaces the user's old one
 *   PT_CODE_LIST  u64 iat, u64 exp, u32 failures, u64 locked_until, u32 n,
 *                n x { u32 id, u32 uses, u8 spent (0/1) } (never a code)
 *   CODE_SHEET and CODE_LIST were added in v0.3 within version 1 (new
 *   request types: older peers are unaffected; an older tokend answers
 *   PT_E_PROTO).
 *   PT_REFRESH   str token, u64 exp, str id (as PT_REDEEM: a new live token
 *                for the same persistable token, which is not extended)
 *   PT_ACT       u32 status (the exit code 0..255, or 128 + the signal that
 *                killed it, as shells report), u8 signaled (0/1), u64
 *                cpu_usec and u64 mem_peak (bytes) of its cgroup (0: unknown)
 *   PT_DELEGATE  u32 count (the token's delegations so far, this one included)
 *   PT_LIST_DELEG as PT_LIST_STATUS, each entry followed by u32 delegations
 *                (0 = never delegated) and str delegated_from (the holder it
 *                was last delegated from; "" = never delegated).
 *   PT_GRANT_SIGNED str id (the new grant's)
 *   PT_GRANT_CREDENTIAL str token (secret: the grant as a compact JWS of typ
 *                "pertok-grant+jwt", bound to the servicer's uid and
 *                executable; tokend/grant-cred.h)
 *   DELEGATE, LIST_DELEG and GRANT_SIGNED were added in v0.4 within version
 *   1 (new types).
 *   PT_GRANT_CREATE, PT_GRANT_DELEGATE, PT_GRANT_REQUEST, PT_GRANT_APPROVE
 *                str id (the new grant's, or the request's)
 *   PT_GRANT_REVOKE, PT_GRANT_DENY  u32 count
 *   PT_GRANT_LIST str text (one "key=value ..." line per grant)
 *   PT_GRANT_REQUESTS u32 count (pending requests to the user), str text
 *                (one line per request, each followed by its proposal)
 *   PT_GRANT_EXPLAIN str text, ending "decision=allow" or "decision=deny"
 *   PT_TEMPLATE_IMPORT .. PT_RPO_REVOKE: str text ("key=value\n" lines; the
 *                first of TEMPLATE_IMPORT is "template=sha256:HEX", of
 *                RPO_APPROVE "rpo=ID")
 *   PT_ACCEPT    str token, u64 exp, str id (as PT_MINT; id: the primary
 *                remote principal's id): a live token whose sub is the
 *                remote principal's local name, never the external identity
 *   PT_ACCEPT_SESSION u32 count (the principal's open sessions now)
 *   PT_USED      u32 count (the uses of name recorded so far)
 *   PT_RECOMMEND str text (the proposals with their evidence, as text,
 *                JSON, or a drop-in config of curtail rules)
 *   PT_CURTAIL_REVERT u32 count (1)
 *   PT_ACCEPT_LIVE u32 count (the entitlements recorded as used)
 *   USED, RECOMMEND and CURTAIL_REVERT were added in v0.4 within version 1
 *   (new request types; an older tokend answers PT_E_PROTO).
 * PT_ERR payload: u32 code (enum pt_errcode), str message (human-readable,
 *   never contains a token).
 *
 * This header is the one definition of the format for both ends. The code
 * is split by who needs it: framing, clearing and names (proto.c) and the
 * client half, request encoding and reply decoding (proto-client.c), are in
 * libptclient, linked by pam_pertok, the tools and tokend; the server half,
 * request decoding and reply encoding (proto-server.c, proto-server.h), is
 * in libptserver, linked only by tokend and its tests, so that the modules
 * loaded into other processes do not carry the server's request decoder.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PT_PROTO_VERSION 1
#define PT_MAX_FRAME (64u * 1024u) /* type + payload */
#define PT_MAX_STR 255u		   /* names: user, holder, service, tty, rhost, id */
#define PT_MAX_TOKEN 8192u	   /* a compact JWS */
#define PT_MAX_TEXT (60u * 1024u)  /* pubkey / status text */
#define PT_MAX_LIST 1000u	   /* entries in one PT_LIST reply */
#define PT_MAX_CODE 256u	   /* a code of a configured token type */
#define PT_MAX_SHEET 100u	   /* codes in one CODE_SHEET / CODE_LIST reply */
#define PT_MAX_ARGV 256u	   /* arguments of a PT_ACT command */
#define PT_MAX_ARG 4096u	   /* bytes of one of them */
#define PT_ACT_NFDS 3		   /* descriptors a PT_ACT frame carries */
#define PT_ACT_PTY 1u		   /* PT_ACT flags: a fresh pseudo-terminal */
#define PT_ACT_CRED 2u		   /* PT_ACT flags: the grant by its credential */
#define PT_ACT_MAX_RUNTIME 86400u  /* s: the longest an act-as command runs */
#define PT_MAX_SIGNED 16384u	   /* GRANT_SIGNED: the request, the signature */
#define PT_MAX_GRANT_CMDS 8u	   /* commands in one grant SPEC */
#define PT_MAX_GRANT_PATHS 16u	   /* confinement paths in one grant SPEC */
#define PT_MAX_GRANT_ARGS 64u	   /* arguments of one command */
#define PT_MAX_GRANT_ARG 1024u	   /* bytes of one argument */
#define PT_MAX_PATH 4095u	   /* an absolute path */
#define PT_MAX_TEMPLATE 16384u	   /* an access template (rpo.h PT_TEMPLATE_MAX) */
#define PT_MAX_TEMPLATE_SIG 8192u  /* its detached JWS */
#define PT_MAX_REQUIRE 16u	   /* entitlements one ACCEPT_LIVE requires */

enum pt_msgtype {
	PT_HELLO = 1,
	PT_MINT = 10,
	PT_EXCHANGE = 11,
	PT_REDEEM = 12,
	PT_LIST = 13,
	PT_REVOKE = 14,
	PT_PUBKEY = 15,
	PT_STATUS = 16,
	PT_ROTATE = 17, /* root: new store key + signing key (empty request; OK: str text) */
	PT_RESEAL = 18, /* root: seal the store key again to current PCRs (same) */
	PT_EXPLAIN = 19,
	PT_REVOKE_MATCH = 20,
	PT_CODE_ISSUE = 21,	  /* root: a code of a configured token type */
	PT_CODE_CHECK = 22,	  /* root or actor: check an entered code */
	PT_LIST_PAGE = 23,	  /* LIST, paged (cursor in, more flag + cursor out) */
	PT_REFRESH = 24,	  /* the token's user: a redeemed live token for a fresh one */
	PT_LIST_STATUS = 30,	  /* LIST_PAGE with each token's last refusal */
	PT_EXPLAIN_ISSUE = 31,	  /* root: dry run of an exchange (issue decision) */
	PT_CODE_SHEET = 40,	  /* root: a sheet of codes (replaces the old one) */
	PT_CODE_LIST = 41,	  /* root: the ids on a user's sheet, used or not */
	PT_DELEGATE = 75,	  /* root or the token's user: move a token to another holder */
	PT_LIST_DELEG = 76,	  /* LIST_STATUS with each token's delegation */
	PT_GRANT_SIGNED = 77,	  /* anyone: a grant request signed with the user's SSH key */
	PT_GRANT_CREDENTIAL = 78, /* a grant's origin or servicer: the grant as a JWS */
	/* never on the wire: the front makes it (service = the unit, id = the
	 * credential id) of a connection on the credential socket
	 * (tokend/credential.h); pt_req_decode rejects it. Its reply is
	 * PT_REDEEM's. */
	PT_CREDENTIAL = 50,
	PT_ACT = 70,		/* act as a user under a grant (pertok act-as), with 3 fds */
	PT_GRANT_CREATE = 60,	/* any uid: a grant in the caller's own name */
	PT_GRANT_LIST = 61,	/* any uid: the caller's grants (root: anyone's) */
	PT_GRANT_REVOKE = 62,	/* the origin, root */
	PT_GRANT_DELEGATE = 63, /* the grant's servicer */
	PT_GRANT_REQUEST = 64,	/* any uid: asks a user for a grant */
	PT_GRANT_APPROVE = 65,	/* the user asked */
	PT_GRANT_DENY = 66,	/* the user asked */
	PT_GRANT_REQUESTS = 67, /* any uid: pending requests (root: anyone's) */
	PT_GRANT_EXPLAIN = 68,	/* root: dry run of an act-as */
	/* remote principals (root): tokend/ops-rpo.c */
	PT_TEMPLATE_IMPORT = 80,
	PT_TEMPLATE_SHOW = 81,
	PT_RPO_APPROVE = 82,
	PT_RPO_LIST = 83,
	PT_RPO_SHOW = 84,
	PT_RPO_EXTEND = 85,
	PT_RPO_REVOKE = 86,
	PT_ACCEPT = 90, /* actor: an external issuer's JWT for a remote principal's live token */
	PT_ACCEPT_SESSION = 91, /* actor: a remote principal's session opens / closes */
	PT_USED = 95,		/* the token's user: "my job used entitlement/group X" */
	PT_RECOMMEND = 96,	/* root: curtailments proposed from usage (text/JSON/config) */
	PT_CURTAIL_REVERT = 97, /* root: undo a curtailment auto_curtail applied */
	PT_ACCEPT_LIVE = 98,	/* root/actor: a service accepts a job's live token */
	PT_OK = 0x80,
	PT_ERR = 0x81,
};

enum pt_errcode {
	PT_E_PROTO = 1,	   /* malformed request */
	PT_E_VERSION = 2,  /* unsupported protocol version */
	PT_E_PERM = 3,	   /* caller is not allowed to make this request */
	PT_E_DENIED = 4,   /* a policy denied it (message names the rule) */
	PT_E_NOTFOUND = 5, /* no such user / token */
	PT_E_INVALID = 6,  /* token invalid, expired or of the wrong kind */
	PT_E_LIMIT = 7,	   /* a limit was reached (max outstanding, rate) */
	PT_E_INTERNAL = 8, /* tokend failed (store, crypto); see its log */
	PT_E_BUSY = 9,	   /* too many connections */
};

enum pt_used_kind {
	PT_USED_ENTITLEMENT = 0,
	PT_USED_GROUP = 1,
};

enum pt_rec_format {
	PT_REC_TEXT = 0,
	PT_REC_JSON = 1,
	PT_REC_CONFIG = 2,
};

enum pt_pubkey_format {
	PT_PUBKEY_PEM = 0,
	PT_PUBKEY_JWKS = 1,
};

/* A grant's scope on the wire (SPEC above). */
struct pt_grant_wire_cmd {
	char *path;
	uint8_t prefix;
	char **argv;
	uint32_t n_argv;
};
struct pt_grant_spec {
	char *servicer, *servicer_exe, *servicer_unit; /* "" = none */
	struct pt_grant_wire_cmd *cmds;
	uint32_t n_cmds;
	uint64_t not_before, lifetime;
	uint8_t has_hours, hours_from, hours_to;
	uint32_t max_uses;
	uint64_t max_runtime;
	uint32_t depth;
	uint8_t no_network;
	struct pt_grant_wire_path {
		char *path;
		uint8_t write;
	} * paths;
	uint32_t n_paths;
};
void pt_grant_spec_free(struct pt_grant_spec *s);

/* A decoded request. Strings are heap-allocated, NUL-terminated; NULL when
 * not part of this type. live_token is a secret: pt_req_clear wipes it. */
struct pt_req {
	uint8_t type;
	uint32_t version;	     /* HELLO */
	char *user;		     /* MINT, REDEEM, LIST */
	char *service;		     /* MINT, REDEEM */
	char *tty;		     /* MINT */
	char *rhost;		     /* MINT */
	char *live_token;	     /* EXCHANGE, REFRESH (secret) */
	char *holder;		     /* EXCHANGE, REDEEM, DELEGATE */
	uint64_t lifetime;	     /* EXCHANGE */
	char *id;		     /* REVOKE, DELEGATE */
	uint8_t format;		     /* PUBKEY */
	uint64_t at;		     /* EXPLAIN (0 = now) */
	uint64_t before;	     /* REVOKE_MATCH (0 = any) */
	char *ttype;		     /* CODE_ISSUE, CODE_CHECK: token type name */
	char *code;		     /* CODE_CHECK (secret) */
	char *cursor;		     /* LIST_PAGE, LIST_STATUS, LIST_DELEG ("" = first page) */
	char *actor;		     /* EXPLAIN_ISSUE */
	uint32_t count;		     /* CODE_SHEET: codes wanted */
	uint8_t flags;		     /* ACT: PT_ACT_* */
	char **argv;		     /* ACT: the command */
	uint32_t n_argv;	     /* ACT */
	struct pt_grant_spec *gspec; /* GRANT_CREATE, DELEGATE, REQUEST, APPROVE, EXPLAIN */
	uint8_t narrow;		     /* GRANT_APPROVE: gspec follows */
	char *blob;		     /* TEMPLATE_IMPORT: the template's bytes */
	char *sig;		     /* TEMPLATE_IMPORT: its detached JWS ("" = none) */
	uint64_t not_after;	     /* RPO_APPROVE, RPO_EXTEND */
	char *signed_text;	     /* GRANT_SIGNED: the request signed */
	char *signature;	     /* GRANT_SIGNED: its armored SSH signature */
	char *jwt;		     /* ACCEPT (secret) */
	char *name;		     /* USED: the entitlement or group; ACCEPT_LIVE: "a,b" */
	char *credential;	     /* ACT with PT_ACT_CRED: the grant's credential (secret) */
};

/* One code of a sheet: CODE_SHEET (id, code) or CODE_LIST (id, uses, spent). */
struct pt_codeinfo {
	uint32_t id;
	uint32_t uses;
	uint8_t spent;
	char *code; /* CODE_SHEET only (secret) */
};

struct pt_tokinfo {
	char *id;
	char *user;
	uint32_t uid;
	char *holder;
	char *actor;
	uint64_t iat;
	uint64_t exp;
	uint64_t last_used;
	uint32_t uses;
	/* LIST_STATUS only (0 / NULL otherwise) */
	uint64_t refused_at;
	uint32_t refusals;
	char *refusal_rule;
	char *refusal_reason;
	/* LIST_DELEG only (0 / NULL otherwise) */
	uint32_t delegations;
	char *delegated_from;
};

/* A decoded reply. type is PT_OK or PT_ERR; which fields are set depends on
 * the request (see above). token is a secret: pt_rep_clear wipes it. */
struct pt_rep {
	uint8_t type;
	uint32_t err_code;	 /* PT_ERR */
	char *message;		 /* PT_ERR */
	uint32_t version;	 /* HELLO */
	char *token;		 /* MINT, REDEEM, REFRESH, CODE_ISSUE (secret) */
	uint64_t exp;		 /* MINT, REDEEM, REFRESH, EXCHANGE, CODE_SHEET, CODE_LIST */
	char *id;		 /* MINT (""), REDEEM, REFRESH, EXCHANGE */
	uint8_t renewed;	 /* EXCHANGE */
	uint32_t count;		 /* REVOKE, REVOKE_MATCH, DELEGATE, USED, CURTAIL_REVERT */
	char *text;		 /* PUBKEY, STATUS, EXPLAIN, RECOMMEND */
	struct pt_tokinfo *list; /* LIST, LIST_PAGE */
	uint32_t n_list;	 /* LIST, LIST_PAGE */
	uint8_t more;		 /* LIST_PAGE: further entries exist */
	char *cursor;		 /* LIST_PAGE: where the next page starts */

	/* CODE_SHEET, CODE_LIST */
	struct pt_codeinfo *codes;
	uint32_t n_codes;
	uint64_t iat;	       /* CODE_LIST: when the sheet was issued */
	uint32_t failures;     /* CODE_LIST */
	uint64_t locked_until; /* CODE_LIST (0 = not locked out) */

	/* ACT */
	uint32_t status;   /* exit code, or 128 + signal */
	uint8_t signaled;  /* killed by a signal */
	uint64_t cpu_usec; /* the command's cgroup: CPU time */
	uint64_t mem_peak; /* ... and peak memory, bytes */
};

/*
 * Splits one frame off the front of p[0..n).
 * Returns 0 and sets the outputs when a whole frame is there;
 * -EAGAIN when more bytes are needed; -EMSGSIZE when the announced length
 * exceeds max_frame; -EBADMSG when the announced length is 0.
 * *ret_consumed = 4 + length.
 */
int pt_frame_split(const uint8_t *p, size_t n, size_t max_frame, uint8_t *ret_type,
		   const uint8_t **ret_payload, size_t *ret_len, size_t *ret_consumed);

/* Wraps payload in a frame (length, type, payload) and appends it to out,
 * all or nothing. -EMSGSIZE when type + payload exceed PT_MAX_FRAME. */
int pt_frame_append(struct ptbuf *out, uint8_t type, const struct ptbuf *payload);

/* The client half (common/proto-client.c); the server half, pt_req_decode
 * and pt_rep_encode, is declared in proto-server.h.
 * pt_req_encode appends a whole request frame to out. */
int pt_req_encode(const struct pt_req *req, struct ptbuf *out);
/* Decodes a reply payload. req_type: the request this reply answers (decides
 * the PT_OK layout). Unknown types, missing or trailing bytes, embedded NULs
 * and over-long strings are rejected with -EBADMSG; *ret is untouched on
 * failure. */
int pt_rep_decode(uint8_t req_type, uint8_t type, const uint8_t *payload, size_t len,
		  struct pt_rep *ret);

/* The SPEC of a grant request (proto-client.c) and its strict decoder
 * (proto-server.c; -EBADMSG for anything out of bounds, *ret untouched). */
int pt_grant_spec_put(struct ptbuf *b, const struct pt_grant_spec *s);

/* Free (and wipe secrets of) what decode allocated; zero the struct. */
void pt_req_clear(struct pt_req *req);
void pt_rep_clear(struct pt_rep *rep);

/* The request that presents an external JWT (req.jwt): tokend's front
 * splits it (pt_extjwt_split) and the key holder checks it. */
static inline int pt_req_presents_ext(uint8_t type)
{
	return type == PT_ACCEPT;
}

/* The requests that present a live token (req.live_token): tokend's front
 * splits it (pt_live_parse) and the key holder checks it. */
static inline int pt_req_presents_live(uint8_t type)
{
	return type == PT_EXCHANGE || type == PT_REFRESH || type == PT_USED ||
	       type == PT_ACCEPT_LIVE;
}

/* When a live token (iat, exp) may be refreshed (PT_REFRESH): once at most
 * half of its lifetime is left, rounded in the job's favour (a 1 s token at
 * once). Earlier, tokend refuses (PT_E_LIMIT) and pertok token --refresh
 * does not ask. */
static inline uint64_t pt_refresh_from(uint64_t iat, uint64_t exp)
{
	return exp > iat ? exp - (exp - iat + 1) / 2 : exp;
}

const char *pt_msgtype_name(uint8_t type);  /* "redeem", ... or "unknown" */
const char *pt_errcode_name(uint32_t code); /* "denied", ... or "unknown" */
