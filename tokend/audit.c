/* SPDX-License-Identifier: MIT */
/* tokend's audit trail writer (see audit.h and common/auditlog.h). */
#include "conf.h"

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
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aead.h"
#include "audit.h"
#include "auditlog.h"
#include "b64.h"
#include "conf.h"
#include "keys.h"
#include "fileio.h"
#include "util.h"

#define HEAD_NAME "audit.head"
#define HKEY_INFO "pertok audit token-hmac key v1"
#define HSEED_FILE "audit-hmac.key" /* in the key generation's directory */
#define FIELD_MAX 512
#define REASON_MAX 1024
#define EXE_MAX 2048

static const char zero_hash[PT_AUDIT_HASH_HEX + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* Refusals of one (uid, op) in the current window. */
struct refusal {
	bool used;
	uid_t uid;
	char op[32];
	uint64_t start; /* monotonic s */
	uint64_t total, recorded;
};

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
	bool need_cont;	     /* a rotation's continuation line is still to be written */
	bool at_cp;	     /* the last line written is a checkpoint */
	uint64_t next_due;   /* monotonic s: the earliest refusal window with a summary due */
	char notes[1024];    /* what open repaired */
	struct refusal *ref; /* PT_AUDIT_REFUSAL_SLOTS + 1 (the shared slot), lazily */
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
	a->at_cp = false;
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

static void add_note(struct pt_audit *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void add_note(struct pt_audit *a, const char *fmt, ...)
{
	size_t n = strlen(a->notes);
	va_list ap;

	if (n && n + 2 < sizeof(a->notes)) {
		memcpy(a->notes + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(a->notes + n, sizeof(a->notes) - n, fmt, ap);
	va_end(ap);
}

const char *pt_audit_notes(const struct pt_audit *a)
{
	return a && a->notes[0] ? a->notes : NULL;
}

static void fsync_dir(const struct pt_audit *a)
{
	const char *slash = strrchr(a->path, '/');
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%.*s", slash == a->path ? 1 : (int)(slash - a->path), a->path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* The first line of a file after a rotation: chained to the old file's
 * last line (a checkpoint). */
static int write_continuation(struct pt_audit *a, const char *reason)
{
	json_object *o = new_line(a, a->seq + 1, "continuation");
	int r;

	if (!o)
		return -ENOMEM;
	r = add_str(o, "reason", reason, REASON_MAX);
	if (r >= 0)
		r = emit(a, o, true);
	json_object_put(o);
	if (r < 0)
		return r;
	a->seq++;
	a->need_cont = false;
	return 0;
}

/* LOG -> LOG.1 -> LOG.2 ... (LOG.<keep> is replaced: the oldest goes), a
 * new LOG continuing the chain. The old file ends with a checkpoint. */
static int rotate(struct pt_audit *a)
{
	char from[PATH_MAX], to[PATH_MAX], reason[PATH_MAX + 64];
	struct stat st;
	int fd, r;

	if (!a->at_cp) {
		if (a->since_cp == 0)
			a->since_cp = 1; /* a segment or torn line written at open */
		r = pt_audit_checkpoint(a);
		if (r < 0)
			return r;
	}
	for (unsigned i = a->o.rotate_keep; i > 1; i--) {
		snprintf(from, sizeof(from), "%s.%u", a->path, i - 1);
		snprintf(to, sizeof(to), "%s.%u", a->path, i);
		if (rename(from, to) < 0 && errno != ENOENT) {
			r = -errno;
			set_failed(a, -r, "cannot rotate %s", from);
			return r;
		}
	}
	snprintf(to, sizeof(to), "%s.1", a->path);
	if (rename(a->path, to) < 0) {
		r = -errno;
		set_failed(a, -r, "cannot rotate");
		return r;
	}
	fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		  0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		if (fd >= 0) {
			close(fd);
			unlink(a->path);
		}
		(void)rename(to, a->path); /* keep writing the old file */
		set_failed(a, -r, "cannot create a new log to rotate to");
		return r;
	}
	close(a->fd);
	a->fd = fd;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->size = 0;
	a->unsynced = false;
	a->need_cont = true;
	fsync_dir(a);
	snprintf(reason, sizeof(reason), "rotated: %s ends at seq %" PRIu64, to, a->seq);
	return write_continuation(a, reason);
}

/* An op's own fields: the object "detail" of name/value pairs. */
static int add_detail(json_object *o, const char *const *kv, size_t n)
{
	json_object *d = json_object_new_object();
	int r = d ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < n; i++)
		if (kv[2 * i])
			r = add_str(d, kv[2 * i], kv[2 * i + 1], REASON_MAX);
	if (r >= 0 && json_object_object_add(o, "detail", d) < 0)
		r = -ENOMEM;
	if (r < 0)
		json_object_put(d);
	return r;
}

/* The remote principal fields of an rpo.accept / rpo.deny record. */
static int add_rpo(struct pt_audit *a, json_object *o, const struct pt_audit_event *ev)
{
	char ref[PT_AUDIT_TOKEN_HMAC_HEX + 1];
	char *in = NULL;
	int r = 0;

	if (ev->ext_sub) {
		if (asprintf(&in, "extsub\n%s\n%s", ev->ext_iss ? ev->ext_iss : "", ev->ext_sub) <
		    0)
			return -ENOMEM;
		r = pt_audit_token_ref(a, in, ref);
		pt_free_secret(in);
		if (r >= 0)
			r = add_str(o, "sub_hmac", ref, sizeof(ref));
	}
	if (r >= 0)
		r = add_str(o, "rpo", ev->rpo, REASON_MAX);
	if (r >= 0)
		r = add_str(o, "tmpl_hash", ev->tmpl_hash, REASON_MAX);
	if (r >= 0)
		r = add_str(o, "iss", ev->ext_iss, FIELD_MAX);
	if (r >= 0)
		r = add_str(o, "rhost", ev->rhost, FIELD_MAX);
	if (r >= 0)
		r = add_str(o, "acr", ev->acr, FIELD_MAX);
	if (r >= 0)
		r = add_str(o, "amr", ev->amr, FIELD_MAX);
	return r;
}

int pt_audit_append(struct pt_audit *a, const struct pt_audit_event *ev)
{
	char ref[PT_AUDIT_TOKEN_HMAC_HEX + 1], reason[64];
	json_object *o;
	int r;

	if (!a || !ev)
		return -EINVAL;
	if (a->need_cont && !a->gone) {
		snprintf(reason, sizeof(reason), "rotated after seq %" PRIu64, a->seq);
		r = write_continuation(a, reason);
		if (r < 0)
			return r;
	}
	if (a->o.rotate_size && a->size >= (off_t)a->o.rotate_size && !a->gone) {
		r = rotate(a);
		if (r < 0)
			return r;
	}
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
	if (r >= 0 && ev->n_detail)
		r = add_detail(o, ev->detail, ev->n_detail);
	if (r >= 0)
		r = add_rpo(a, o, ev);
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
	a->at_cp = true;
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

/* Reads exactly n bytes at off (a short file is -EIO). 0 or -errno. */
static int pread_full(int fd, char *buf, size_t n, off_t off)
{
	size_t have = 0;

	while (have < n) {
		ssize_t k = pread(fd, buf + have, n - have, off + (off_t)have);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		have += (size_t)k;
	}
	return 0;
}

/* What the end of a log says. */
struct tail {
	bool ok;      /* the last complete line verifies: seq, prev set */
	uint64_t seq; /* its seq (also when its hash does not match) */
	char prev[PT_AUDIT_HASH_HEX + 1];
	bool partial;	    /* the file does not end with a newline */
	off_t torn_off;	    /* partial: where the incomplete last line starts; -1 unknown */
	const char *reason; /* why !ok (or NULL) */
};

/* Reads the tail of fd (at most two maximal lines) and finds the last
 * complete line. */
static int read_tail(int fd, off_t size, struct tail *t)
{
	size_t want = 2 * (PT_AUDIT_MAX_LINE + 1);
	off_t start = size > (off_t)want ? size - (off_t)want : 0;
	size_t n = (size_t)(size - start);
	char *buf = malloc(n + 1), *end, *line;
	struct pt_audit_entry e;
	int r;

	memset(t, 0, sizeof(*t));
	t->torn_off = -1;
	if (!buf)
		return -ENOMEM;
	r = pread_full(fd, buf, n, start);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	t->partial = buf[n - 1] != '\n';
	end = memrchr(buf, '\n', n);
	if (t->partial && (end || start == 0))
		t->torn_off = end ? start + (end - buf) + 1 : 0;
	if (!end) {
		t->reason = start == 0 ? "the log holds no complete line" :
					 "the log's last line is unreadable (longer than a record)";
		free(buf);
		return 0;
	}
	*end = '\0';
	line = memrchr(buf, '\n', (size_t)(end - buf));
	line = line ? line + 1 : (start == 0 ? buf : NULL);
	if (!line) {
		t->reason = "the log's last line is unreadable (longer than a record)";
		free(buf);
		return 0;
	}
	r = pt_audit_parse_line(line, (size_t)(end - line), &e);
	if (r == 0) {
		t->ok = true;
		t->seq = e.seq;
		memcpy(t->prev, e.hash, sizeof(t->prev));
	} else if (r == -EILSEQ) {
		t->seq = e.seq;
		t->reason = "the log's last line does not match its hash (modified or damaged)";
	} else
		t->reason = "the log's last line is not an audit record (damaged or replaced)";
	free(buf);
	return 0;
}

/* A crash's incomplete last line: its bytes [off, size) are hashed, cut
 * off (they were never acknowledged: replies wait for the sync) and named
 * by a "torn" record once the chain is set up. */
struct torn {
	uint64_t off, len;
	char hash[PT_AUDIT_HASH_HEX + 1];
};

static int cut_torn(struct pt_audit *a, off_t off, off_t size, struct torn *ret)
{
	size_t n = (size_t)(size - off);
	char *buf = malloc(n ? n : 1);
	int r;

	if (!buf)
		return -ENOMEM;
	r = pread_full(a->fd, buf, n, off);
	if (r < 0) {
		free(buf);
		return r;
	}
	r = pt_audit_hash(buf, n, ret->hash);
	free(buf);
	if (r < 0)
		return r;
	if (ftruncate(a->fd, off) < 0 || fdatasync(a->fd) < 0)
		return -errno;
	ret->off = (uint64_t)off;
	ret->len = n;
	a->size = off;
	return 0;
}

static int write_torn(struct pt_audit *a, const struct torn *t)
{
	json_object *o = new_line(a, a->seq + 1, "torn");
	int r;

	if (!o)
		return -ENOMEM;
	r = add_int(o, "offset", (int64_t)t->off);
	if (r >= 0)
		r = add_int(o, "length", (int64_t)t->len);
	if (r >= 0)
		r = add_str(o, "torn_hash", t->hash, PT_AUDIT_HASH_HEX);
	if (r >= 0)
		r = add_str(o, "reason",
			    "crash truncation: the log ended with an incomplete line (tokend "
			    "stopped mid-write); its bytes were cut off",
			    REASON_MAX);
	if (r >= 0)
		r = emit(a, o, true);
	json_object_put(o);
	if (r >= 0)
		a->seq++;
	return r;
}

/* Removes .audit.head.*.tmp left by interrupted head writes (tokend is the
 * only writer, and it is starting). Returns how many were removed. */
static unsigned remove_head_temps(const char *head_path)
{
	const char *slash = strrchr(head_path, '/');
	char dir[PATH_MAX];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%.*s", slash == head_path ? 1 : (int)(slash - head_path),
		 head_path);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t k = strlen(de->d_name);

		if (k > strlen("." HEAD_NAME ".") + 4 &&
		    strncmp(de->d_name, "." HEAD_NAME ".", strlen("." HEAD_NAME ".")) == 0 &&
		    strcmp(de->d_name + k - 4, ".tmp") == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* An empty or missing log after a rotation that did not finish (tokend
 * stopped between renaming LOG to LOG.1 and writing the new LOG's first
 * line): LOG.1 ends with the checkpoint audit.head names. true when the
 * chain was continued from it. */
static int continue_rotated(struct pt_audit *a, uint64_t hseq, bool *ret_done)
{
	char old[PATH_MAX + 8], reason[PATH_MAX + 96];
	struct stat st;
	struct tail t;
	int fd, r;

	*ret_done = false;
	snprintf(old, sizeof(old), "%s.1", a->path);
	fd = open(old, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return 0;
	}
	r = read_tail(fd, st.st_size, &t);
	close(fd);
	if (r < 0)
		return r;
	if (!t.ok || t.partial || t.seq < hseq)
		return 0;
	a->seq = t.seq;
	memcpy(a->prev, t.prev, sizeof(a->prev));
	snprintf(reason, sizeof(reason),
		 "rotated: %s ends at seq %" PRIu64 " (rotation completed at start)", old, t.seq);
	r = write_continuation(a, reason);
	if (r < 0)
		return r;
	add_note(a, "%s: an interrupted rotation was completed (the chain continues from %s)",
		 a->path, old);
	*ret_done = true;
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
	const char *slash;
	char seg_reason[512];
	struct stat st;
	struct tail t = { .torn_off = -1 };
	struct torn torn = { 0 };
	unsigned int hlen = sizeof(((struct pt_audit *)NULL)->hkey);
	unsigned k;
	uint64_t hseq;
	bool brk = false, seg = false, have_torn = false;
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
	k = remove_head_temps(a->head_path);
	if (k)
		add_note(a,
			 "removed %u leftover temporary file(s) ." HEAD_NAME ".*.tmp of "
			 "interrupted writes",
			 k);
	hseq = head_seq(a->head_path);

	if (st.st_size > 0) {
		r = read_tail(a->fd, st.st_size, &t);
		if (r < 0) {
			snprintf(err, errlen, "cannot read %s: %s", a->path, strerror(-r));
			goto fail;
		}
		if (t.torn_off >= 0) {
			r = cut_torn(a, t.torn_off, st.st_size, &torn);
			if (r < 0) {
				snprintf(err, errlen, "cannot cut the torn tail of %s: %s", a->path,
					 strerror(-r));
				goto fail;
			}
			have_torn = true;
		}
	}
	if (a->size == 0) {
		bool done = false;

		r = continue_rotated(a, hseq, &done);
		if (r < 0) {
			snprintf(err, errlen, "cannot write %s: %s", a->path,
				 a->failed ? a->why : strerror(-r));
			goto fail;
		}
		if (!done && hseq) {
			brk = true;
			snprintf(seg_reason, sizeof(seg_reason),
				 "the log was empty or missing, but %s says the last checkpoint "
				 "was seq %" PRIu64,
				 a->head_path, hseq);
			a->seq = hseq;
		} else if (!done) {
			char old[PATH_MAX + 8];

			snprintf(old, sizeof(old), "%s.1", a->path);
			if (access(old, F_OK) == 0) { /* rotated files, but no chain to follow */
				brk = true;
				snprintf(
					seg_reason, sizeof(seg_reason),
					"the log was empty or missing and %.256s does not end with "
					"a verifiable line",
					old);
			} else
				snprintf(seg_reason, sizeof(seg_reason), "new log");
		}
		seg = !done;
	} else {
		const char *reason = t.reason;
		bool ok = t.ok;

		a->seq = t.seq;
		if (ok)
			memcpy(a->prev, t.prev, sizeof(a->prev));
		if (ok && hseq > t.seq) {
			ok = false;
			reason =
				"the log ends before the last checkpoint in audit.head (truncated)";
		}
		if (hseq > a->seq)
			a->seq = hseq;
		if (t.partial && !have_torn) {
			/* unreadable cut line: end it so the next one starts on its own */
			r = write_line(a, "\n", 1, false);
			if (r < 0) {
				snprintf(err, errlen, "cannot write %s: %s", a->path, strerror(-r));
				goto fail;
			}
			if (ok) {
				ok = false;
				reason = "the log ended with an incomplete line (cut mid-write)";
			}
		}
		if (!ok) {
			brk = seg = true;
			snprintf(seg_reason, sizeof(seg_reason),
				 "%s; the chain is broken after "
				 "seq %" PRIu64,
				 reason ? reason : "the log's tail does not verify", t.seq);
		}
	}
	if (seg) {
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
	if (have_torn) {
		r = write_torn(a, &torn);
		if (r < 0) {
			snprintf(err, errlen, "cannot write %s: %s", a->path,
				 a->failed ? a->why : strerror(-r));
			goto fail;
		}
		add_note(a,
			 "%s: crash truncation: an incomplete last line of %" PRIu64
			 " byte(s) at offset %" PRIu64 " (sha256 %s) was cut off and recorded "
			 "at seq %" PRIu64,
			 a->path, torn.len, torn.off, torn.hash, a->seq);
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

/* ------------------------------------------------------------------ refusals */

static bool window_over(const struct pt_audit *a, const struct refusal *e, uint64_t now)
{
	return now >= e->start + a->o.refusal_window;
}

bool pt_audit_refusal_admit(struct pt_audit *a, uid_t uid, const char *op, uint64_t now)
{
	struct refusal *e = NULL, *spare = NULL;

	if (!a || !a->o.refusal_window)
		return true;
	if (!a->ref) {
		a->ref = calloc(PT_AUDIT_REFUSAL_SLOTS + 1, sizeof(*a->ref));
		if (!a->ref)
			return true; /* no memory: record, as without a limit */
	}
	for (size_t i = 0; i < PT_AUDIT_REFUSAL_SLOTS; i++) {
		struct refusal *x = &a->ref[i];

		if (x->used && x->uid == uid && strcmp(x->op, op) == 0) {
			e = x;
			break;
		}
		if (!spare && (!x->used || (window_over(a, x, now) && x->total == x->recorded)))
			spare = x;
	}
	if (!e && spare) {
		e = spare;
		memset(e, 0, sizeof(*e));
		e->used = true;
		e->uid = uid;
		snprintf(e->op, sizeof(e->op), "%s", op);
		e->start = now;
	} else if (!e) { /* every slot busy: the uids beyond share one */
		e = &a->ref[PT_AUDIT_REFUSAL_SLOTS];
		if (!e->used) {
			e->used = true;
			e->uid = (uid_t)-1;
			snprintf(e->op, sizeof(e->op), "any");
			e->start = now;
		}
	}
	if (window_over(a, e, now) && e->total == e->recorded) {
		e->start = now; /* a new window (one with a summary due waits for it) */
		e->total = e->recorded = 0;
	}
	e->total++;
	if (e->recorded < a->o.refusal_burst) {
		e->recorded++;
		return true;
	}
	if (!a->next_due || e->start + a->o.refusal_window < a->next_due)
		a->next_due = e->start + a->o.refusal_window;
	return false;
}

int pt_audit_refusal_flush(struct pt_audit *a, uint64_t now, bool all, struct pt_audit_summary *ret,
			   size_t max, size_t *ret_n)
{
	uint64_t due = 0;
	int r = 0;

	*ret_n = 0;
	if (!a || !a->ref || (!all && (!a->next_due || now < a->next_due)))
		return 0;
	for (size_t i = 0; i <= PT_AUDIT_REFUSAL_SLOTS; i++) {
		struct refusal *e = &a->ref[i];
		struct pt_audit_summary sm;
		char why[256], w[32];

		if (!e->used || e->total == e->recorded)
			continue;
		if ((!all && !window_over(a, e, now)) || *ret_n >= max || r < 0) {
			if (!due || e->start + a->o.refusal_window < due)
				due = e->start + a->o.refusal_window;
			continue;
		}
		memset(&sm, 0, sizeof(sm));
		sm.uid = e->uid;
		snprintf(sm.op, sizeof(sm.op), "%s", e->op);
		sm.total = e->total;
		sm.recorded = e->recorded;
		sm.window = a->o.refusal_window;
		if (sm.window == 60)
			snprintf(w, sizeof(w), "the last minute");
		else
			snprintf(w, sizeof(w), "the last %" PRIu64 " s", sm.window);
		if (e->uid == (uid_t)-1)
			snprintf(sm.text, sizeof(sm.text),
				 "%" PRIu64 " refusals of any request by other uids in %s",
				 sm.total, w);
		else
			snprintf(sm.text, sizeof(sm.text),
				 "%" PRIu64 " refusals of %s by uid %u in %s", sm.total, sm.op,
				 (unsigned)sm.uid, w);
		snprintf(why, sizeof(why), "%s (%" PRIu64 " recorded one by one)", sm.text,
			 sm.recorded);
		r = pt_audit_append(a, &(struct pt_audit_event){ .op = sm.op,
								 .result = "summary",
								 .peer_uid = sm.uid,
								 .reason = why });
		if (r < 0) {
			if (!due || e->start + a->o.refusal_window < due)
				due = e->start + a->o.refusal_window;
			continue;
		}
		ret[(*ret_n)++] = sm;
		memset(e, 0, sizeof(*e)); /* free: the next refusal opens a new window */
	}
	a->next_due = due;
	return r;
}

int pt_audit_close(struct pt_audit *a)
{
	struct pt_audit_summary sm[16];
	size_t n;
	int r = 0;

	if (!a)
		return 0;
	/* the last windows' summaries go into the trail (tokend's log has the
	 * ones flushed before) */
	if (!a->gone)
		do
			r = pt_audit_refusal_flush(a, 0, true, sm, PT_ELEMENTSOF(sm), &n);
		while (r >= 0 && n == PT_ELEMENTSOF(sm));
	if (!a->gone && a->since_cp > 0)
		r = pt_audit_checkpoint(a);
	if (a->fd >= 0) {
		if (!a->gone && a->unsynced && fdatasync(a->fd) < 0 && r >= 0)
			r = -errno;
		close(a->fd);
	}
	OPENSSL_cleanse(a->hkey, sizeof(a->hkey));
	free(a->ref);
	free(a->path);
	free(a->head_path);
	free(a);
	return r;
}

/* Reads KEYDIR/audit-hmac.key (sealed under storekey) into ret. 0, -ENOENT,
 * -EBADMSG (does not decrypt or has the wrong length), -errno. */
static int seed_read(const char *keydir, const uint8_t storekey[PT_STORE_KEYLEN],
		     uint8_t ret[PT_STORE_KEYLEN])
{
	_cleanup_free_ char *path = NULL;
	uint8_t *blob = NULL, *plain = NULL;
	size_t bloblen = 0, plainlen = 0;
	int r;

	if (asprintf(&path, "%s/" HSEED_FILE, keydir) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	r = pt_read_file(path, 4096, &blob, &bloblen);
	if (r < 0)
		return r;
	r = pt_aead_open(storekey, HSEED_FILE, strlen(HSEED_FILE), blob, bloblen, &plain,
			 &plainlen);
	free(blob);
	if (r >= 0 && plainlen != PT_STORE_KEYLEN)
		r = -EBADMSG;
	if (r >= 0)
		memcpy(ret, plain, PT_STORE_KEYLEN);
	if (plain) {
		OPENSSL_cleanse(plain, plainlen);
		free(plain);
	}
	return r < 0 ? r : 0;
}

/* Writes seed sealed under storekey to KEYDIR/audit-hmac.key (durable). */
static int seed_write(const char *keydir, const uint8_t storekey[PT_STORE_KEYLEN],
		      const uint8_t seed[PT_STORE_KEYLEN])
{
	_cleanup_free_ char *path = NULL;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	int r;

	if (asprintf(&path, "%s/" HSEED_FILE, keydir) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	r = pt_aead_seal(storekey, HSEED_FILE, strlen(HSEED_FILE), seed, PT_STORE_KEYLEN, &blob,
			 &bloblen);
	if (r < 0)
		return r;
	r = pt_atomic_write(path, blob, bloblen, 0600);
	free(blob);
	return r;
}

int pt_audit_seed_load(const char *keydir, const uint8_t storekey[PT_STORE_KEYLEN],
		       uint8_t ret[PT_STORE_KEYLEN], char *err, size_t errlen)
{
	int r;

	if (!keydir || !storekey || !ret)
		return -EINVAL;
	r = seed_read(keydir, storekey, ret);
	if (r == -ENOENT) {
		/* first start of this state (or one from before the file
		 * existed): the store key of now, so the references already in
		 * the log stay what they were; kept from here on, through every
		 * rotation of the store key */
		memcpy(ret, storekey, PT_STORE_KEYLEN);
		r = seed_write(keydir, storekey, ret);
	}
	if (r < 0) {
		OPENSSL_cleanse(ret, PT_STORE_KEYLEN);
		snprintf(err, errlen, "%s/" HSEED_FILE ": %s", keydir,
			 r == -EBADMSG ? "does not decrypt under the store key" : strerror(-r));
	}
	return r;
}

int pt_audit_seed_rewrap(const char *olddir, const uint8_t oldkey[PT_STORE_KEYLEN],
			 const char *newdir, const uint8_t newkey[PT_STORE_KEYLEN])
{
	uint8_t seed[PT_STORE_KEYLEN];
	char err[256];
	int r;

	r = pt_audit_seed_load(olddir, oldkey, seed, err, sizeof(err));
	if (r == 0)
		r = seed_write(newdir, newkey, seed);
	OPENSSL_cleanse(seed, sizeof(seed));
	return r;
}

int pt_audit_open_config(const struct pt_config *cfg, const char *keydir,
			 const uint8_t storekey[PT_STORE_KEYLEN], const struct pt_keys *keys,
			 struct pt_audit **ret, char *warn, size_t warnlen, char *err,
			 size_t errlen)
{
	_cleanup_free_ char *path = NULL;
	uint8_t seed[PT_STORE_KEYLEN];
	int r;
	struct pt_audit_opts o = { .checkpoint_every = cfg->audit_checkpoint_every,
				   .checkpoint_interval = cfg->audit_checkpoint_interval,
				   .group_commit = !cfg->audit_sync_batch,
				   .rotate_size = cfg->audit_rotate_size,
				   .rotate_keep = cfg->audit_rotate_keep,
				   .refusal_burst = cfg->audit_refusal_burst,
				   .refusal_window = cfg->audit_refusal_window };

	if (cfg->audit_file)
		path = strdup(cfg->audit_file);
	else if (asprintf(&path, "%s/audit.log", cfg->state_dir) < 0)
		path = NULL;
	if (!path) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	o.path = path;
	r = pt_audit_seed_load(keydir, storekey, seed, err, errlen);
	if (r < 0)
		return r;
	r = pt_audit_open(&o, seed, keys->sign, keys->kid, ret, warn, warnlen, err, errlen);
	OPENSSL_cleanse(seed, sizeof(seed));
	return r;
}
