/* SPDX-License-Identifier: MIT */
/* tokend's audit trail writer (see audit.h and common/auditlog.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "auditlog.h"
#include "b64.h"
#include "config.h" /* tokend/config.h */
#include "keys.h"
#include "store.h"
#include "util.h"

#define HEAD_NAME "audit.head"
#define HKEY_INFO "pertok audit token-hmac key v1"
#define FIELD_MAX 512
#define REASON_MAX 1024
#define EXE_MAX 2048

static const char zero_hash[PT_AUDIT_HASH_HEX + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

struct pt_audit {
	char *path;
	char *head_path;
	int fd;
	dev_t dev;
	ino_t ino;
	off_t size;   /* bytes written so far (to undo a partial write) */
	uint64_t seq; /* last line written */
	char prev[PT_AUDIT_HASH_HEX + 1];
	unsigned since_cp; /* lines since the last checkpoint */
	uint64_t last_cp;  /* wall time of the last checkpoint (or open) */
	bool unsynced;
	bool failed;
	bool gone; /* removed or replaced under us: until restart */
	char why[256];
	EVP_PKEY *sign;
	const char *kid;
	uint8_t hkey[32];
	struct pt_audit_opts o;
};

static void set_failed(struct pt_audit *a, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_failed(struct pt_audit *a, int err, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(a->why, sizeof(a->why), "%s: %s%s%s", a->path, what, err ? ": " : "",
		 err ? strerror(err) : "");
	a->failed = true;
}

const char *pt_audit_failure(const struct pt_audit *a)
{
	if (!a)
		return "audit log not open";
	return a->failed || a->gone ? a->why : NULL;
}

uint64_t pt_audit_seq(const struct pt_audit *a)
{
	return a ? a->seq : 0;
}

/* Printable ASCII only, at most max bytes: other bytes become \xHH (never
 * cut mid-escape), so a record is plain ASCII and its length is bounded:
 * at most twice the sum of the field bounds once JSON-escaped. */
static char *sanitize(const char *s, size_t max)
{
	char *out = malloc(max + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p >= 0x7f) {
			if (o + 4 > max)
				break;
			o += (size_t)snprintf(out + o, 5, "\\x%02x", *p);
		} else {
			if (o + 1 > max)
				break;
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
	return out;
}

static int add_str(json_object *o, const char *key, const char *val, size_t max)
{
	json_object *v;
	char *s;

	if (!val)
		return 0;
	s = sanitize(val, max);
	if (!s)
		return -ENOMEM;
	v = json_object_new_string(s);
	free(s);
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int add_int(json_object *o, const char *key, int64_t val)
{
	json_object *v = json_object_new_int64(val);

	if (!v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* The file at path is still the one we write to. */
static bool same_file(struct pt_audit *a)
{
	struct stat fst, pst;

	if (fstat(a->fd, &fst) < 0 || fst.st_nlink == 0)
		return false;
	if (stat(a->path, &pst) < 0)
		return false;
	return fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino;
}

/* Writes one finished line (one write(2)); on failure the file is cut back
 * to where it was, so the chain never holds half a line. */
static int write_line(struct pt_audit *a, const char *line, size_t n, bool sync)
{
	ssize_t k;

	if (a->gone)
		return -ESTALE;
	if (!same_file(a)) {
		a->gone = true;
		set_failed(a, 0,
			   "the audit log was removed or replaced (restart tokend to start "
			   "a new segment)");
		return -ESTALE;
	}
	do
		k = write(a->fd, line, n);
	while (k < 0 && errno == EINTR);
	if (k < 0 || (size_t)k != n) {
		int e = k < 0 ? errno : ENOSPC;
		/* if this fails too, the verifier will show the damage */
		(void)!ftruncate(a->fd, a->size);
		set_failed(a, e, "cannot append");
		return -e;
	}
	a->size += (off_t)n;
	a->unsynced = true;
	if (sync) {
		if (fdatasync(a->fd) < 0) {
			int e = errno;
			set_failed(a, e, "cannot sync");
			return -e;
		}
		a->unsynced = false;
	}
	a->failed = false;
	a->why[0] = '\0';
	return 0;
}

/* Serialises o (which gets "prev"), chains, writes. */
static int emit(struct pt_audit *a, json_object *o, bool sync)
{
	char hash[PT_AUDIT_HASH_HEX + 1], *line = NULL;
	const char *text;
	size_t n;
	int r;

	r = add_str(o, "prev", a->prev, PT_AUDIT_HASH_HEX);
	if (r < 0)
		return r;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	if (n < 2 || text[n - 1] != '}')
		return -EINVAL;
	r = pt_audit_line_finish(text, n - 1, &line, hash);
	if (r < 0)
		return r;
	r = write_line(a, line, strlen(line), sync);
	free(line);
	if (r < 0)
		return r;
	memcpy(a->prev, hash, sizeof(a->prev));
	a->since_cp++;
	return 0;
}

static json_object *new_line(struct pt_audit *a, uint64_t seq, const char *type)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (add_int(o, "seq", (int64_t)seq) < 0 || add_int(o, "time", (int64_t)pt_now_s()) < 0 ||
	    add_str(o, "type", type, 16) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int pt_audit_token_ref(const struct pt_audit *a, const char *token,
		       char ret[PT_AUDIT_TOKEN_HMAC_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t md[32];
	unsigned int mdlen = sizeof(md);

	if (!a || !token)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), a->hkey, sizeof(a->hkey), (const uint8_t *)token, strlen(token), md,
		  &mdlen) ||
	    mdlen != 32)
		return -EIO;
	for (size_t i = 0; i < PT_AUDIT_TOKEN_HMAC_HEX / 2; i++) {
		ret[2 * i] = hex[md[i] >> 4];
		ret[2 * i + 1] = hex[md[i] & 15];
	}
	ret[PT_AUDIT_TOKEN_HMAC_HEX] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int pt_audit_append(struct pt_audit *a, const struct pt_audit_event *ev)
{
	char ref[PT_AUDIT_TOKEN_HMAC_HEX + 1];
	json_object *o;
	int r;

	if (!a || !ev)
		return -EINVAL;
	o = new_line(a, a->seq + 1, "record");
	if (!o)
		return -ENOMEM;
	r = 0;
	if (ev->token) {
		r = pt_audit_token_ref(a, ev->token, ref);
		if (r >= 0)
			r = add_str(o, "token_hmac", ref, sizeof(ref));
	}
	if (r >= 0)
		r = add_str(o, "op", ev->op, 32);
	if (r >= 0)
		r = add_str(o, "result", ev->result, 32);
	if (r >= 0)
		r = add_str(o, "user", ev->user, FIELD_MAX);
	if (r >= 0)
		r = add_str(o, "holder", ev->holder, FIELD_MAX);
	if (r >= 0)
		r = add_str(o, "actor", ev->actor, FIELD_MAX);
	if (r >= 0)
		r = add_int(o, "peer_uid", (int64_t)ev->peer_uid);
	if (r >= 0)
		r = add_int(o, "peer_pid", (int64_t)ev->peer_pid);
	if (r >= 0)
		r = add_str(o, "exe", ev->exe, EXE_MAX);
	if (r >= 0)
		r = add_str(o, "service", ev->service, FIELD_MAX);
	if (r >= 0)
		r = add_str(o, "rule", ev->rule, FIELD_MAX);
	if (r >= 0)
		r = add_str(o, "reason", ev->reason, REASON_MAX);
	if (r >= 0)
		r = add_str(o, "id", ev->id, FIELD_MAX);
	if (r >= 0)
		r = emit(a, o, a->o.sync_each);
	json_object_put(o);
	if (r == -ENOMEM && !a->failed)
		set_failed(a, ENOMEM, "cannot build a record");
	if (r < 0)
		return r;
	a->seq++;
	if (a->o.checkpoint_every && a->since_cp >= a->o.checkpoint_every)
		return pt_audit_checkpoint(a);
	return 0;
}

static int sign_b64(struct pt_audit *a, const char *msg, size_t n, char **ret)
{
	uint8_t sig[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = -EIO;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, a->sign) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)msg, n) == 1 && siglen == 64) {
		*ret = pt_b64url_encode(sig, siglen);
		r = *ret ? 0 : -ENOMEM;
	}
	EVP_MD_CTX_free(ctx);
	return r;
}

int pt_audit_checkpoint(struct pt_audit *a)
{
	char msg[256], *sig = NULL, *head = NULL;
	uint64_t seq = a->seq + 1, now = pt_now_s();
	json_object *o = NULL;
	int n, r;

	if (!a)
		return -EINVAL;
	if (a->since_cp == 0)
		return 0;
	if (a->gone)
		return -ESTALE;
	n = pt_audit_checkpoint_msg(seq, a->prev, msg, sizeof(msg));
	if (n < 0)
		return n;
	r = sign_b64(a, msg, (size_t)n, &sig);
	if (r < 0) {
		set_failed(a, -r, "cannot sign a checkpoint");
		return r;
	}
	if (asprintf(&head,
		     "{\"seq\":%" PRIu64 ",\"prev\":\"%s\",\"kid\":\"%s\",\"sig\":\"%s\","
		     "\"time\":%" PRIu64 "}\n",
		     seq, a->prev, a->kid, sig, now) < 0) {
		head = NULL;
		r = -ENOMEM;
		goto out;
	}
	o = new_line(a, seq, "checkpoint");
	if (!o || add_str(o, "kid", a->kid, 63) < 0 || add_str(o, "sig", sig, 127) < 0) {
		r = -ENOMEM;
		goto out;
	}
	/* the log is durable before the head says it reaches this far */
	r = emit(a, o, true);
	if (r < 0)
		goto out;
	a->seq = seq;
	a->since_cp = 0;
	a->last_cp = now;
	r = pt_atomic_write(a->head_path, head, strlen(head), 0600);
	if (r < 0)
		set_failed(a, -r, "cannot write %s", a->head_path);
out:
	json_object_put(o);
	free(sig);
	free(head);
	return r;
}

int pt_audit_set_key(struct pt_audit *a, EVP_PKEY *sign, const char *kid)
{
	int r;

	if (!a || !sign || !kid)
		return -EINVAL;
	r = pt_audit_checkpoint(a);
	a->sign = sign;
	a->kid = kid;
	return r;
}

bool pt_audit_pending(const struct pt_audit *a)
{
	return a && a->o.group_commit && a->unsynced && !a->gone;
}

int pt_audit_sync(struct pt_audit *a)
{
	if (!a || !a->unsynced)
		return 0;
	if (a->gone)
		return -ESTALE;
	if (fdatasync(a->fd) < 0) {
		int e = errno;
		set_failed(a, e, "cannot sync");
		return -e;
	}
	a->unsynced = false;
	return 0;
}

int pt_audit_tick(struct pt_audit *a, uint64_t now)
{
	int r = 0;

	if (!a)
		return -EINVAL;
	if (a->o.checkpoint_interval && a->since_cp > 0 &&
	    now >= a->last_cp + a->o.checkpoint_interval)
		r = pt_audit_checkpoint(a);
	if (r >= 0 && a->unsynced && !a->gone) {
		if (fdatasync(a->fd) < 0) {
			r = -errno;
			set_failed(a, -r, "cannot sync");
		} else
			a->unsynced = false;
	}
	return r;
}

bool pt_audit_usable(struct pt_audit *a)
{
	if (!a || a->gone)
		return false;
	if (!same_file(a)) {
		a->gone = true;
		set_failed(a, 0,
			   "the audit log was removed or replaced (restart tokend to start "
			   "a new segment)");
		return false;
	}
	/* after a failed write, the next append tries again: only it can tell */
	return true;
}

/* ------------------------------------------------------------------ open */

/* The seq in audit.head, 0 when there is none. */
static uint64_t head_seq(const char *path)
{
	uint8_t *text = NULL;
	size_t len = 0;
	json_object *o, *v;
	uint64_t seq = 0;

	if (pt_read_file(path, PT_AUDIT_HEAD_MAX, &text, &len) < 0)
		return 0;
	o = json_tokener_parse((const char *)text);
	if (o && json_object_object_get_ex(o, "seq", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) > 0)
		seq = (uint64_t)json_object_get_int64(v);
	json_object_put(o);
	free(text);
	return seq;
}

/* Reads the tail (at most two maximal lines) and finds the last complete
 * line. Sets *ret_seq / ret_hash when it verifies; *ret_reason otherwise. */
static int read_tail(struct pt_audit *a, off_t size, bool *ret_ok, uint64_t *ret_seq,
		     bool *ret_partial, const char **ret_reason)
{
	size_t want = 2 * (PT_AUDIT_MAX_LINE + 1);
	off_t start = size > (off_t)want ? size - (off_t)want : 0;
	size_t n = (size_t)(size - start), have = 0;
	char *buf = malloc(n + 1), *end, *line;
	struct pt_audit_entry e;
	int r;

	if (!buf)
		return -ENOMEM;
	while (have < n) {
		ssize_t k = pread(a->fd, buf + have, n - have, start + (off_t)have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			free(buf);
			return r;
		}
		have += (size_t)k;
	}
	buf[n] = '\0';
	*ret_ok = false;
	*ret_partial = buf[n - 1] != '\n';
	end = memrchr(buf, '\n', n);
	if (!end) {
		*ret_reason = "the log's last line is unreadable (longer than a record)";
		free(buf);
		return 0;
	}
	*end = '\0';
	line = memrchr(buf, '\n', (size_t)(end - buf));
	line = line ? line + 1 : (start == 0 ? buf : NULL);
	if (!line) {
		*ret_reason = "the log's last line is unreadable (longer than a record)";
		free(buf);
		return 0;
	}
	r = pt_audit_parse_line(line, (size_t)(end - line), &e);
	if (r == 0) {
		*ret_ok = true;
		*ret_seq = e.seq;
		memcpy(a->prev, e.hash, sizeof(a->prev));
		*ret_reason = *ret_partial ?
				      "the log ended with an incomplete line (cut mid-write)" :
				      NULL;
	} else if (r == -EILSEQ) {
		*ret_seq = e.seq;
		*ret_reason = "the log's last line does not match its hash (modified or damaged)";
	} else
		*ret_reason = "the log's last line is not an audit record (damaged or replaced)";
	free(buf);
	return 0;
}

static int write_segment(struct pt_audit *a, bool brk, const char *reason)
{
	json_object *o = new_line(a, a->seq + 1, "segment");
	int r;

	if (!o)
		return -ENOMEM;
	memcpy(a->prev, zero_hash, sizeof(a->prev));
	if (json_object_object_add(o, "break", json_object_new_boolean(brk)) < 0 ||
	    add_str(o, "reason", reason, REASON_MAX) < 0)
		r = -ENOMEM;
	else
		r = emit(a, o, true);
	json_object_put(o);
	if (r >= 0)
		a->seq++;
	return r;
}

int pt_audit_open(const struct pt_audit_opts *o, const uint8_t storekey[PT_STORE_KEYLEN],
		  EVP_PKEY *sign, const char *kid, struct pt_audit **ret, char *warn,
		  size_t warnlen, char *err, size_t errlen)
{
	struct pt_audit *a = NULL;
	const char *slash, *reason = NULL;
	char seg_reason[512];
	struct stat st;
	unsigned int hlen = sizeof(((struct pt_audit *)NULL)->hkey);
	uint64_t hseq, tseq = 0;
	bool ok = false, partial = false, brk = false;
	int r;

	if (warn && warnlen)
		warn[0] = '\0';
	if (!o || !o->path || o->path[0] != '/' || !storekey || !sign || !kid || !ret) {
		snprintf(err, errlen, "invalid audit configuration");
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->fd = -1;
	a->o = *o;
	a->sign = sign;
	a->kid = kid;
	a->path = strdup(o->path);
	slash = strrchr(o->path, '/');
	if (!a->path ||
	    asprintf(&a->head_path, "%.*s/" HEAD_NAME, (int)(slash - o->path), o->path) < 0) {
		a->head_path = NULL;
		r = -ENOMEM;
		goto fail;
	}
	a->o.path = a->path;
	if (!HMAC(EVP_sha256(), storekey, PT_STORE_KEYLEN, (const uint8_t *)HKEY_INFO,
		  strlen(HKEY_INFO), a->hkey, &hlen)) {
		r = -EIO;
		snprintf(err, errlen, "cannot derive the audit HMAC key");
		goto fail;
	}
	a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		     0600);
	if (a->fd < 0 || fstat(a->fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", a->path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		r = -EPERM;
		snprintf(err, errlen, "%s must be a regular file owned by uid %u", a->path,
			 (unsigned)geteuid());
		goto fail;
	}
	if ((st.st_mode & 0077) && fchmod(a->fd, 0600) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot chmod %s: %s", a->path, strerror(errno));
		goto fail;
	}
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->size = st.st_size;
	memcpy(a->prev, zero_hash, sizeof(a->prev));
	hseq = head_seq(a->head_path);

	if (st.st_size == 0) {
		if (hseq) {
			brk = true;
			snprintf(seg_reason, sizeof(seg_reason),
				 "the log was empty or missing, but %s says the last checkpoint "
				 "was seq %" PRIu64,
				 a->head_path, hseq);
			a->seq = hseq;
		} else
			snprintf(seg_reason, sizeof(seg_reason), "new log");
	} else {
		r = read_tail(a, st.st_size, &ok, &tseq, &partial, &reason);
		if (r < 0) {
			snprintf(err, errlen, "cannot read %s: %s", a->path, strerror(-r));
			goto fail;
		}
		a->seq = tseq;
		if (ok && hseq > tseq) {
			ok = false;
			reason =
				"the log ends before the last checkpoint in audit.head (truncated)";
		}
		if (hseq > a->seq)
			a->seq = hseq;
		if (partial) {
			/* end the cut line so the next one starts on its own */
			r = write_line(a, "\n", 1, false);
			if (r < 0) {
				snprintf(err, errlen, "cannot write %s: %s", a->path, strerror(-r));
				goto fail;
			}
		}
		if (!ok || partial) {
			brk = true;
			snprintf(seg_reason, sizeof(seg_reason),
				 "%s; the chain is broken after "
				 "seq %" PRIu64,
				 reason ? reason : "the log's tail does not verify", tseq);
		}
	}
	if (st.st_size == 0 || brk) {
		r = write_segment(a, brk, seg_reason);
		if (r < 0) {
			snprintf(err, errlen, "cannot write %s: %s", a->path,
				 a->failed ? a->why : strerror(-r));
			goto fail;
		}
		if (brk && warn && warnlen)
			snprintf(warn, warnlen, "%s: %s; a new segment starts at seq %" PRIu64,
				 a->path, seg_reason, a->seq);
	}
	a->since_cp = 0;
	a->last_cp = pt_now_s();
	*ret = a;
	return 0;
fail:
	if (r == -ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory");
	if (a->fd >= 0)
		close(a->fd);
	OPENSSL_cleanse(a->hkey, sizeof(a->hkey));
	free(a->path);
	free(a->head_path);
	free(a);
	return r;
}

int pt_audit_close(struct pt_audit *a)
{
	int r = 0;

	if (!a)
		return 0;
	if (!a->gone && a->since_cp > 0)
		r = pt_audit_checkpoint(a);
	if (a->fd >= 0) {
		if (!a->gone && a->unsynced && fdatasync(a->fd) < 0 && r >= 0)
			r = -errno;
		close(a->fd);
	}
	OPENSSL_cleanse(a->hkey, sizeof(a->hkey));
	free(a->path);
	free(a->head_path);
	free(a);
	return r;
}

int pt_audit_open_config(const struct pt_config *cfg, const uint8_t storekey[PT_STORE_KEYLEN],
			 const struct pt_keys *keys, struct pt_audit **ret, char *warn,
			 size_t warnlen, char *err, size_t errlen)
{
	_cleanup_free_ char *path = NULL;
	struct pt_audit_opts o = { .checkpoint_every = cfg->audit_checkpoint_every,
				   .checkpoint_interval = cfg->audit_checkpoint_interval,
				   .group_commit = !cfg->audit_sync_batch };

	if (cfg->audit_file)
		path = strdup(cfg->audit_file);
	else if (asprintf(&path, "%s/audit.log", cfg->state_dir) < 0)
		path = NULL;
	if (!path) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	o.path = path;
	return pt_audit_open(&o, storekey, keys->sign, keys->kid, ret, warn, warnlen, err, errlen);
}
