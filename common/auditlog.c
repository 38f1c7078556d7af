/* SPDX-License-Identifier: MIT */
/* tokend's audit log: line format and verifier (see auditlog.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditlog.h"
#include "b64.h"
#include "jws.h"
#include "ptjson.h"
#include "util.h"

#define HASH_KEY ",\"hash\":\""
#define HASH_KEY_LEN 9
#define SUFFIX_LEN (HASH_KEY_LEN + PT_AUDIT_HASH_HEX + 2) /* ,"hash":"<64>"} */
#define JSON_DEPTH 4
#define ED25519_SIG_LEN 64

static const char zero_hash[PT_AUDIT_HASH_HEX + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

int pt_audit_hash(const void *p, size_t n, char ret[PT_AUDIT_HASH_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t md[32];
	unsigned int mdlen = sizeof(md);

	if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	for (size_t i = 0; i < 32; i++) {
		ret[2 * i] = hex[md[i] >> 4];
		ret[2 * i + 1] = hex[md[i] & 15];
	}
	ret[PT_AUDIT_HASH_HEX] = '\0';
	return 0;
}

int pt_audit_checkpoint_msg(uint64_t seq, const char *prev_hex, char *buf, size_t len)
{
	int k = snprintf(buf, len, "pertok-audit-checkpoint-v1\nseq=%" PRIu64 "\nprev=%s\n", seq,
			 prev_hex ? prev_hex : "");

	if (k < 0 || (size_t)k >= len)
		return -ENOBUFS;
	return k;
}

int pt_audit_line_finish(const char *body, size_t n, char **ret_line,
			 char ret_hash[PT_AUDIT_HASH_HEX + 1])
{
	char hash[PT_AUDIT_HASH_HEX + 1], *line;
	int r;

	if (!body || n < 2 || body[0] != '{' || n + SUFFIX_LEN > PT_AUDIT_MAX_LINE)
		return -EINVAL;
	r = pt_audit_hash(body, n, hash);
	if (r < 0)
		return r;
	line = malloc(n + SUFFIX_LEN + 2);
	if (!line)
		return -ENOMEM;
	memcpy(line, body, n);
	memcpy(line + n, HASH_KEY, HASH_KEY_LEN);
	memcpy(line + n + HASH_KEY_LEN, hash, PT_AUDIT_HASH_HEX);
	memcpy(line + n + HASH_KEY_LEN + PT_AUDIT_HASH_HEX, "\"}\n", 4);
	*ret_line = line;
	if (ret_hash)
		memcpy(ret_hash, hash, sizeof(hash));
	return 0;
}

/* ------------------------------------------------------------------ parsing */

static bool is_hex64(const char *s, size_t n)
{
	if (n != PT_AUDIT_HASH_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A string member copied into buf; absent = "" unless required. */
static int get_str(json_object *o, const char *key, bool required, char *buf, size_t len)
{
	json_object *v;
	const char *s;
	size_t n;

	buf[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v))
		return required ? -EBADMSG : 0;
	if (!json_object_is_type(v, json_type_string))
		return -EBADMSG;
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (strlen(s) != n)
		return -EBADMSG; /* embedded NUL */
	if (n >= len) {
		if (required)
			return -EBADMSG;
		n = len - 1; /* display field: truncate */
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

static int get_u64(json_object *o, const char *key, uint64_t min, uint64_t *ret)
{
	json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -EBADMSG;
	errno = 0;
	i = json_object_get_int64(v);
	if (errno != 0 || i < 0 || (uint64_t)i < min || i == INT64_MAX)
		return -EBADMSG;
	*ret = (uint64_t)i;
	return 0;
}

int pt_audit_parse_line(const char *line, size_t n, struct pt_audit_entry *ret)
{
	struct pt_audit_entry e;
	json_object *o = NULL, *v;
	char *text = NULL, hash[PT_AUDIT_HASH_HEX + 1];
	size_t body;
	int r = -EBADMSG;

	memset(&e, 0, sizeof(e));
	if (!line || n <= SUFFIX_LEN + 2 || n > PT_AUDIT_MAX_LINE || memchr(line, '\0', n))
		return -EBADMSG;
	body = n - SUFFIX_LEN;
	if (line[0] != '{' || memcmp(line + body, HASH_KEY, HASH_KEY_LEN) != 0 ||
	    !is_hex64(line + body + HASH_KEY_LEN, PT_AUDIT_HASH_HEX) ||
	    memcmp(line + n - 2, "\"}", 2) != 0)
		return -EBADMSG;
	memcpy(e.hash, line + body + HASH_KEY_LEN, PT_AUDIT_HASH_HEX);

	/* the body, closed, must be one object without a "hash" of its own */
	text = malloc(body + 2);
	if (!text)
		return -ENOMEM;
	memcpy(text, line, body);
	text[body] = '}';
	text[body + 1] = '\0';
	if (pt_json_parse_strict(text, body + 1, PT_AUDIT_MAX_LINE, JSON_DEPTH, &o) == -ENOMEM) {
		r = -ENOMEM;
		goto out;
	}
	if (!o || !json_object_is_type(o, json_type_object) ||
	    json_object_object_get_ex(o, "hash", NULL))
		goto out;
	if (get_u64(o, "seq", 1, &e.seq) < 0 || get_u64(o, "time", 0, &e.time) < 0 ||
	    get_str(o, "type", true, e.type, sizeof(e.type)) < 0 ||
	    get_str(o, "prev", true, e.prev, sizeof(e.prev)) < 0 ||
	    !is_hex64(e.prev, strlen(e.prev)))
		goto out;
	if (strcmp(e.type, "checkpoint") == 0) {
		if (get_str(o, "kid", true, e.kid, sizeof(e.kid)) < 0 ||
		    get_str(o, "sig", true, e.sig, sizeof(e.sig)) < 0)
			goto out;
	} else if (strcmp(e.type, "segment") == 0) {
		if (!json_object_object_get_ex(o, "break", &v) ||
		    !json_object_is_type(v, json_type_boolean))
			goto out;
		e.brk = json_object_get_boolean(v);
	} else if (strcmp(e.type, "torn") == 0) {
		if (get_u64(o, "offset", 0, &e.torn_offset) < 0 ||
		    get_u64(o, "length", 1, &e.torn_length) < 0 ||
		    get_str(o, "torn_hash", true, e.torn_hash, sizeof(e.torn_hash)) < 0 ||
		    !is_hex64(e.torn_hash, strlen(e.torn_hash)))
			goto out;
	} else if (strcmp(e.type, "record") != 0 && strcmp(e.type, "continuation") != 0)
		goto out;
	if (get_str(o, "reason", false, e.reason, sizeof(e.reason)) < 0 ||
	    get_str(o, "op", false, e.op, sizeof(e.op)) < 0 ||
	    get_str(o, "result", false, e.result, sizeof(e.result)) < 0 ||
	    get_str(o, "user", false, e.user, sizeof(e.user)) < 0 ||
	    get_str(o, "holder", false, e.holder, sizeof(e.holder)) < 0 ||
	    get_str(o, "id", false, e.id, sizeof(e.id)) < 0 ||
	    get_str(o, "service", false, e.service, sizeof(e.service)) < 0 ||
	    get_str(o, "actor", false, e.actor, sizeof(e.actor)) < 0 ||
	    get_str(o, "sub_hmac", false, e.sub_hmac, sizeof(e.sub_hmac)) < 0 ||
	    get_str(o, "rhost", false, e.rhost, sizeof(e.rhost)) < 0 ||
	    get_str(o, "iss", false, e.iss, sizeof(e.iss)) < 0 ||
	    get_str(o, "acr", false, e.acr, sizeof(e.acr)) < 0 ||
	    get_str(o, "amr", false, e.amr, sizeof(e.amr)) < 0)
		goto out;
	r = pt_audit_hash(line, body, hash);
	if (r < 0)
		goto out;
	r = strcmp(hash, e.hash) == 0 ? 0 : -EILSEQ;
	*ret = e;
out:
	json_object_put(o);
	free(text);
	return r;
}

/* ------------------------------------------------------------------ verifier */

struct key {
	EVP_PKEY *pub;
	char *kid;
};

struct head {
	bool present, valid;
	uint64_t seq;
	char prev[PT_AUDIT_HASH_HEX + 1];
	char kid[64], sig[128];
};

struct pt_audit_verifier {
	struct key keys[PT_AUDIT_MAX_KEYS];
	size_t n_keys;
	struct head head;
	bool head_matched;
	uint64_t head_line;
	struct pt_audit_result res;
	uint64_t lineno;
	bool have_prev; /* chain state known (a good line came before) */
	bool resync;	/* the previous line was unreadable: skip link checks once */
	uint64_t expect_seq;
	char prev[PT_AUDIT_HASH_HEX + 1];
	char prev_at[320]; /* where the previous good line was: "line N" or FILE:N */
	bool finished;
	char file[256]; /* the current file's name ("" = unnamed: "line N") */
	bool pend;	/* the previous input ended with an incomplete line */
	uint64_t pend_off, pend_len;
	char pend_at[320];
	char unknown_cp[512]; /* the first checkpoint by an unknown key not yet covered */
	uint64_t n_unknown;
};

static void problem(struct pt_audit_verifier *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends a formatted message to list (at most PT_AUDIT_MAX_PROBLEMS). */
static void vappend(char **list, size_t *n, const char *fmt, va_list ap)
{
	char *s = NULL;

	if (*n >= PT_AUDIT_MAX_PROBLEMS)
		return;
	if (vasprintf(&s, fmt, ap) >= 0)
		list[(*n)++] = s;
}

static void problem(struct pt_audit_verifier *v, const char *fmt, ...)
{
	va_list ap;

	v->res.n_problems_total++;
	va_start(ap, fmt);
	vappend(v->res.problems, &v->res.n_problems, fmt, ap);
	va_end(ap);
}

int pt_audit_verifier_new(struct pt_audit_verifier **ret)
{
	struct pt_audit_verifier *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}

void pt_audit_result_clear(struct pt_audit_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_problems; i++)
		free(r->problems[i]);
	for (size_t i = 0; i < r->n_crash; i++)
		free(r->crash[i]);
	memset(r, 0, sizeof(*r));
}

void pt_audit_verifier_free(struct pt_audit_verifier *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_keys; i++) {
		EVP_PKEY_free(v->keys[i].pub);
		free(v->keys[i].kid);
	}
	pt_audit_result_clear(&v->res);
	free(v);
}

int pt_audit_verifier_add_key(struct pt_audit_verifier *v, EVP_PKEY *pub)
{
	char *kid = NULL;
	int r;

	if (!pub || !EVP_PKEY_is_a(pub, "ED25519"))
		return -EINVAL;
	if (v->n_keys >= PT_AUDIT_MAX_KEYS)
		return -ENOSPC;
	r = pt_jwk_thumbprint(pub, &kid);
	if (r < 0)
		return r;
	if (EVP_PKEY_up_ref(pub) != 1) {
		free(kid);
		return -EIO;
	}
	v->keys[v->n_keys].pub = pub;
	v->keys[v->n_keys].kid = kid;
	v->n_keys++;
	return 0;
}

int pt_audit_verifier_add_jwks(struct pt_audit_verifier *v, const char *json, size_t n)
{
	json_tokener *tok;
	json_object *o, *keys, *k, *x, *kty, *crv;
	size_t added = 0;
	int r = -EBADMSG;

	if (!json || n == 0 || n > 65536 || memchr(json, '\0', n))
		return -EBADMSG;
	tok = json_tokener_new_ex(8);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, json, (int)n);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_object_get_ex(o, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array))
		goto out;
	for (size_t i = 0; i < json_object_array_length(keys); i++) {
		uint8_t *raw = NULL;
		size_t rawlen = 0;
		EVP_PKEY *pub;

		k = json_object_array_get_idx(keys, i);
		if (!json_object_is_type(k, json_type_object) ||
		    !json_object_object_get_ex(k, "kty", &kty) ||
		    !json_object_object_get_ex(k, "crv", &crv) ||
		    !json_object_object_get_ex(k, "x", &x) ||
		    !json_object_is_type(x, json_type_string) ||
		    strcmp(json_object_get_string(kty) ?: "", "OKP") != 0 ||
		    strcmp(json_object_get_string(crv) ?: "", "Ed25519") != 0)
			continue;
		if (pt_b64url_decode(json_object_get_string(x),
				     (size_t)json_object_get_string_len(x), &raw, &rawlen) < 0)
			continue;
		pub = rawlen == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32) :
				     NULL;
		free(raw);
		if (!pub)
			continue;
		r = pt_audit_verifier_add_key(v, pub);
		EVP_PKEY_free(pub);
		if (r < 0)
			goto out;
		added++;
	}
	r = added ? 0 : -EBADMSG;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}

static const struct key *find_key(const struct pt_audit_verifier *v, const char *kid)
{
	for (size_t i = 0; i < v->n_keys; i++)
		if (strcmp(v->keys[i].kid, kid) == 0)
			return &v->keys[i];
	return NULL;
}

/* 0 valid, -ENOKEY unknown kid, -EKEYREJECTED bad signature. */
static int check_sig(const struct pt_audit_verifier *v, uint64_t seq, const char *prev,
		     const char *kid, const char *sig64)
{
	const struct key *k = find_key(v, kid);
	char msg[256];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *ctx;
	int n, r = -EKEYREJECTED;

	if (!k)
		return -ENOKEY;
	n = pt_audit_checkpoint_msg(seq, prev, msg, sizeof(msg));
	if (n < 0)
		return -EKEYREJECTED;
	if (pt_b64url_decode(sig64, strlen(sig64), &sig, &siglen) < 0)
		return -EKEYREJECTED;
	ctx = EVP_MD_CTX_new();
	if (ctx && siglen == ED25519_SIG_LEN &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pub) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const uint8_t *)msg, (size_t)n) == 1)
		r = 0;
	EVP_MD_CTX_free(ctx);
	free(sig);
	return r;
}

int pt_audit_verifier_set_head(struct pt_audit_verifier *v, const char *text, size_t n)
{
	json_tokener *tok;
	json_object *o = NULL;
	struct head h = { .present = true };
	int r = -EBADMSG;

	v->head = h;
	if (text && n > 0 && n <= PT_AUDIT_HEAD_MAX && !memchr(text, '\0', n)) {
		tok = json_tokener_new_ex(JSON_DEPTH);
		if (!tok)
			return -ENOMEM;
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		while (n > 0 && text[n - 1] == '\n')
			n--;
		o = json_tokener_parse_ex(tok, text, (int)n);
		if (o && json_tokener_get_error(tok) == json_tokener_success &&
		    json_tokener_get_parse_end(tok) == n &&
		    json_object_is_type(o, json_type_object) && get_u64(o, "seq", 1, &h.seq) == 0 &&
		    get_str(o, "prev", true, h.prev, sizeof(h.prev)) == 0 &&
		    is_hex64(h.prev, strlen(h.prev)) &&
		    get_str(o, "kid", true, h.kid, sizeof(h.kid)) == 0 &&
		    get_str(o, "sig", true, h.sig, sizeof(h.sig)) == 0)
			r = 0;
		json_object_put(o);
		json_tokener_free(tok);
	}
	if (r < 0) {
		problem(v, "audit.head is malformed: the last checkpoint is unknown");
		v->head.present = false;
		return r;
	}
	h.valid = true;
	v->head = h;
	r = check_sig(v, h.seq, h.prev, h.kid, h.sig);
	if (r == -ENOKEY)
		problem(v,
			"audit.head (checkpoint seq %" PRIu64 ") is signed by an unknown key "
			"kid=%s",
			h.seq, h.kid);
	else if (r < 0)
		problem(v,
			"audit.head (checkpoint seq %" PRIu64 "): signature invalid — forged "
			"head",
			h.seq);
	return 0;
}

static void crash_note(struct pt_audit_verifier *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void crash_note(struct pt_audit_verifier *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend(v->res.crash, &v->res.n_crash, fmt, ap);
	va_end(ap);
}

/* "line N" for an unnamed input, "FILE:N" once files are named. */
static const char *where(const struct pt_audit_verifier *v, uint64_t lineno, char *buf, size_t len)
{
	if (v->file[0])
		snprintf(buf, len, "%s:%" PRIu64, v->file, lineno);
	else
		snprintf(buf, len, "line %" PRIu64, lineno);
	return buf;
}

static void line_label(const struct pt_audit_verifier *v, char *buf, size_t len, uint64_t lineno,
		       uint64_t seq)
{
	char w[300];

	snprintf(buf, len, "%s (seq %" PRIu64 ")", where(v, lineno, w, sizeof(w)), seq);
}

/* An incomplete line with more input after it: damage, not a crash. */
static void pend_problem(struct pt_audit_verifier *v)
{
	if (!v->pend)
		return;
	v->pend = false;
	problem(v,
		"%s: incomplete line (no newline) inside the log, not at its end — cut "
		"mid-record",
		v->pend_at);
	v->resync = true;
}

int pt_audit_verifier_file(struct pt_audit_verifier *v, const char *name)
{
	pend_problem(v);
	snprintf(v->file, sizeof(v->file), "%s", name ? name : "");
	v->lineno = 0;
	v->res.n_files++;
	return 0;
}

void pt_audit_verifier_line(struct pt_audit_verifier *v, const char *line, size_t n, bool overlong)
{
	struct pt_audit_entry e;
	char at[340], w[300];
	bool link_ok = true;
	int r;

	pend_problem(v);
	v->lineno++;
	v->res.n_lines++;
	if (overlong) {
		problem(v, "%s: longer than %d bytes — not an audit record",
			where(v, v->lineno, w, sizeof(w)), PT_AUDIT_MAX_LINE);
		v->resync = true;
		return;
	}
	r = pt_audit_parse_line(line, n, &e);
	if (r == -EBADMSG || r == -ENOMEM || r == -EIO) {
		problem(v, "%s: not a valid audit record (garbage or damaged line)",
			where(v, v->lineno, w, sizeof(w)));
		v->resync = true;
		return;
	}
	line_label(v, at, sizeof(at), v->lineno, e.seq);
	if (r == -EILSEQ)
		problem(v, "%s: hash mismatch — record modified", at);

	if (strcmp(e.type, "segment") == 0) {
		if (v->n_unknown) /* a new chain: nothing later covers the old one */
			problem(v, "%s", v->unknown_cp);
		v->n_unknown = 0;
		/* a fresh chain is fine only at the very start of the input */
		if (e.brk || v->lineno != 1 || v->have_prev || v->resync ||
		    strcmp(e.prev, zero_hash) != 0)
			problem(v, "%s: the chain restarts here (segment: %s)", at,
				e.reason[0] ? e.reason : "no reason given");
	} else if (strcmp(e.type, "continuation") == 0 && v->lineno != 1) {
		link_ok = false;
		problem(v, "%s: a rotation's continuation line in the middle of a file", at);
	} else if (!v->have_prev && strcmp(e.type, "continuation") == 0) {
		/* the oldest file kept: older ones were rotated out by design */
		if (!v->resync) {
			v->res.rotated_out = true;
			v->res.first_seq = e.seq;
		}
	} else if (!v->have_prev) {
		if (!v->resync)
			problem(v,
				"%s: the log does not start with a segment line — records "
				"before it are missing",
				at);
	} else if (v->resync) {
		/* the line before was unreadable: its successor cannot be linked */
	} else if (e.seq > v->expect_seq) {
		link_ok = false;
		problem(v,
			"seq jumps from %" PRIu64 " to %" PRIu64 " at %s — %" PRIu64
			" record(s) deleted",
			v->expect_seq - 1, e.seq, where(v, v->lineno, w, sizeof(w)),
			e.seq - v->expect_seq);
	} else if (e.seq < v->expect_seq) {
		link_ok = false;
		problem(v,
			"%s: seq goes back (expected %" PRIu64 ") — records reordered or "
			"duplicated",
			at, v->expect_seq);
	} else if (strcmp(e.prev, v->prev) != 0) {
		link_ok = false;
		problem(v, "%s: chain broken — %s before it was modified or replaced", at,
			v->prev_at);
	}
	if (strcmp(e.type, "torn") == 0) {
		v->res.n_torn_recorded++;
		crash_note(v,
			   "crash truncation at %s byte offset %" PRIu64 ": %" PRIu64
			   " byte(s) of an interrupted write (sha256 %s) were cut off at "
			   "tokend's restart, recorded at %s",
			   v->file[0] ? v->file : "the log", e.torn_offset, e.torn_length,
			   e.torn_hash, at);
	}

	if (strcmp(e.type, "checkpoint") == 0) {
		r = check_sig(v, e.seq, e.prev, e.kid, e.sig);
		if (r == -ENOKEY) {
			/* fine if a later checkpoint by a known key covers it */
			if (v->n_unknown++ == 0)
				snprintf(
					v->unknown_cp, sizeof(v->unknown_cp),
					"%s: checkpoint signed by an unknown key kid=%.64s, and no "
					"later checkpoint by a known key covers it",
					at, e.kid);
		} else if (r < 0)
			problem(v, "%s: checkpoint signature invalid — forged checkpoint", at);
		else {
			v->res.unknown_covered += v->n_unknown;
			v->n_unknown = 0;
			v->res.n_checkpoints++;
			v->res.last_checkpoint_seq = e.seq;
			v->res.unsigned_tail = 0;
		}
		if (v->head.valid && e.seq == v->head.seq) {
			if (strcmp(e.prev, v->head.prev) == 0 && strcmp(e.sig, v->head.sig) == 0)
				v->head_matched = true;
			v->head_line = v->lineno;
		}
	} else {
		if (strcmp(e.type, "record") == 0)
			v->res.n_records++;
		v->res.unsigned_tail++;
		if (v->head.valid && e.seq == v->head.seq)
			v->head_line = v->lineno;
	}
	(void)link_ok;
	v->have_prev = true;
	v->resync = false;
	v->expect_seq = e.seq + 1;
	memcpy(v->prev, e.hash, sizeof(v->prev));
	where(v, v->lineno, v->prev_at, sizeof(v->prev_at));
	if (e.seq > v->res.last_seq)
		v->res.last_seq = e.seq;
}

void pt_audit_verifier_incomplete(struct pt_audit_verifier *v, uint64_t off, uint64_t n)
{
	pend_problem(v);
	v->pend = true;
	v->pend_off = off;
	v->pend_len = n;
	where(v, v->lineno + 1, v->pend_at, sizeof(v->pend_at));
}

void pt_audit_verifier_finish(struct pt_audit_verifier *v, struct pt_audit_result *ret)
{
	if (v->n_unknown)
		problem(v, "%s", v->unknown_cp);
	v->n_unknown = 0;
	if (v->pend) {
		v->pend = false;
		v->res.torn_pending = true;
		crash_note(v,
			   "crash truncation at %s byte offset %" PRIu64 ": the log ends with an "
			   "incomplete line of %" PRIu64 " byte(s) (%s), not yet recorded: tokend "
			   "was stopped mid-write (its next start records the cut) or is writing "
			   "now",
			   v->file[0] ? v->file : "the log", v->pend_off, v->pend_len, v->pend_at);
	}
	if (v->head.valid) {
		v->res.head_checked = true;
		if (v->res.last_seq < v->head.seq)
			problem(v,
				"log ends at seq %" PRIu64 " but the last checkpoint (audit.head) "
				"is seq %" PRIu64 " — truncated",
				v->res.last_seq, v->head.seq);
		else if (!v->head_matched)
			problem(v,
				"the last checkpoint (audit.head, seq %" PRIu64 ") does not match "
				"%s%" PRIu64 " of the log — log rewritten",
				v->head.seq, v->head_line ? "line " : "seq ",
				v->head_line ? v->head_line : v->head.seq);
	}
	*ret = v->res;
	memset(&v->res, 0, sizeof(v->res));
}

int pt_audit_verify_stream(struct pt_audit_verifier *v, FILE *f)
{
	char *buf = malloc(PT_AUDIT_MAX_LINE + 1);
	size_t n = 0;
	uint64_t off = 0, start = 0; /* byte offsets: here, and of this line */
	bool overlong = false;
	int c;

	if (!buf)
		return -ENOMEM;
	while ((c = getc_unlocked(f)) != EOF) {
		off++;
		if (c == '\n') {
			pt_audit_verifier_line(v, buf, n, overlong);
			n = 0;
			overlong = false;
			start = off;
			continue;
		}
		if (n < PT_AUDIT_MAX_LINE)
			buf[n++] = (char)c;
		else
			overlong = true;
	}
	if (ferror(f)) {
		free(buf);
		return -EIO;
	}
	if (n > 0 || overlong)
		pt_audit_verifier_incomplete(v, start, off - start);
	free(buf);
	return 0;
}
