/* SPDX-License-Identifier: MIT */
/*
 * Remote principal objects (rpo.h): the set tokend keeps in STATE_DIR/rpo.json
 * (written durably, whole, before any reply that depends on it), the stored
 * templates in STATE_DIR/templates/ (read-only, content-addressed, hashed
 * again on every load), uid allocation, and the look-ups the accept mode
 * uses. The reaper is rpo-reap.c.
 *
 * rpo.json: { "version": 1, "rpos": [ { "id", "name", "uid", "template",
 *   "approved", "not_after", "revoked_at" (0: not revoked), "expired"
 *   (bool: reaped) }, ... ] }. Records are never removed: an expired one is
 * the tombstone of its uid and name, so no later RPO inherits their files.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "auditlog.h"
#include "config-rpo.h"
#include "confvalue.h"
#include "fileio.h"
#include "issuers.h"
#include "log.h"
#include "nsscache-write.h"
#include "ops.h"
#include "ptjson.h"
#include "rpo-internal.h"
#include "rpo.h"
#include "util.h"

#define DB_NAME "rpo.json"
#define DB_MAX (8u * 1024u * 1024u)
#define TEMPLATES "templates"

/* ------------------------------------------------------------------ helpers */

static int set_err(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int set_err(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

int pt_rpo_template_path(const struct pt_daemon *d, const char *hash, const char *ext, char *buf,
			 size_t len)
{
	int n;

	if (!pt_template_hash_valid(hash))
		return -EINVAL;
	n = snprintf(buf, len, "%s/" TEMPLATES "/sha256-%s.%s", d->cfg->state_dir, hash + 7, ext);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The file at path, checked to be what tokend wrote: a regular file owned by
 * root that nobody may write (0444), at most max bytes. */
static int read_sealed(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0222))
		return -EPERM;
	return pt_read_fd(fd, max, ret, ret_len);
}

int pt_template_load(struct pt_daemon *d, const char *hash, struct pt_template *ret, char *err,
		     size_t errlen)
{
	char path[PATH_MAX], got[PT_HASH_LEN];
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	if (!hash)
		hash = "";
	r = pt_rpo_template_path(d, hash, "json", path, sizeof(path));
	if (r < 0)
		return set_err(err, errlen, r, "\"%.80s\" is not a template hash (sha256:HEX)",
			       hash);
	r = read_sealed(path, PT_TEMPLATE_MAX, &data, &len);
	if (r == -ENOENT)
		return set_err(err, errlen, r, "no template %s", hash);
	if (r < 0) {
		pt_log_kv(LOG_ERR, "template.load", "error", "template", hash, "reason",
			  PT_LOG_F("%s: %s", path,
				   r == -EPERM ? "not a root-owned read-only file" : strerror(-r)),
			  NULL);
		return set_err(err, errlen, r, "template %s cannot be read (see tokend's log)",
			       hash);
	}
	r = pt_template_hash(data, len, got);
	if (r == 0 && strcmp(got, hash) != 0) {
		/* one byte changed since import: never use it */
		pt_log_kv(LOG_ERR, "template.load", "deny", "template", hash, "found", got,
			  "reason", PT_LOG_F("%s does not hash to its name: tampered", path), NULL);
		r = set_err(err, errlen, -EBADMSG, "template %s was modified after import", hash);
	} else if (r == 0) {
		char perr[256];

		r = pt_template_parse(data, len, ret, perr, sizeof(perr));
		if (r < 0)
			set_err(err, errlen, r, "stored template does not parse: %s", perr);
	}
	free(data);
	return r;
}

/* A detached JWS (RFC 7515 appendix F): "HEADER..SIGNATURE", or an attached
 * one; base64url parts only. Verifying it against the issuer's key is the
 * issuers' JWKS code's (accept mode): this checks its form. */
static bool jws_form_ok(const char *s)
{
	size_t dots = 0, len = strlen(s);

	if (len < 5 || len > PT_TEMPLATE_SIG_MAX)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.')
			dots++;
		else if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			   (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	}
	return dots == 2 && s[0] != '.' && s[len - 1] != '.';
}

/* The signature rule (pertok-rpo(7), SIGNATURE): a template whose iss is a
 * configured issuer (issuers ( ) of tokend.conf) must carry a JWS that
 * verifies with that issuer's JWKS; one of an issuer not configured cannot
 * be verified, so a signature on it is refused rather than kept unchecked. */
static int sig_policy(struct pt_daemon *d, const struct pt_template *t, const void *json,
		      size_t len, const char *sig, char *err, size_t errlen)
{
	const struct pt_issuer *is = pt_issuer_find(d->cfg->issuers, d->cfg->n_issuers, t->iss);
	bool has = sig && sig[0];

	if (!is && has)
		return set_err(err, errlen, -EINVAL,
			       "the issuer %.128s is not configured (issuers in tokend.conf): "
			       "its signature cannot be verified",
			       t->iss);
	if (!is)
		return 0;
	if (!has)
		return set_err(err, errlen, -EINVAL,
			       "the issuer %.128s is configured (issuers in tokend.conf): its "
			       "templates must be signed (--signature JWS-FILE)",
			       t->iss);
	return pt_template_sig_verify(is, json, len, sig, err, errlen);
}

/* sig_policy on the stored bytes of t and its stored JWS (if any). */
static int stored_sig_check(struct pt_daemon *d, const struct pt_template *t, char *err,
			    size_t errlen)
{
	char path[PATH_MAX];
	uint8_t *data = NULL, *sig = NULL;
	size_t len = 0, slen = 0;
	int r;

	r = pt_rpo_template_path(d, t->hash, "json", path, sizeof(path));
	if (r == 0)
		r = read_sealed(path, PT_TEMPLATE_MAX, &data, &len);
	if (r == 0)
		r = pt_rpo_template_path(d, t->hash, "jws", path, sizeof(path));
	if (r == 0) {
		r = read_sealed(path, PT_TEMPLATE_SIG_MAX, &sig, &slen);
		if (r == -ENOENT)
			r = 0;
		else if (r == 0 && strlen((char *)sig) != slen)
			r = -EBADMSG;
	}
	if (r < 0)
		set_err(err, errlen, r, "template %s or its signature cannot be read", t->hash);
	else
		r = sig_policy(d, t, data, len, (const char *)sig, err, errlen);
	free(data);
	free(sig);
	return r;
}

int pt_template_import(struct pt_daemon *d, const void *json, size_t len, const char *sig,
		       char ret_hash[PT_HASH_LEN], char *err, size_t errlen)
{
	struct pt_template t = { 0 }, old = { 0 };
	char path[PATH_MAX], dir[PATH_MAX];
	int r;

	r = pt_template_parse_cfg(d->cfg, json, len, &t, err, errlen);
	if (r < 0)
		return r;
	if (sig && sig[0] && !jws_form_ok(sig)) {
		r = set_err(err, errlen, -EINVAL,
			    "the signature is not a compact JWS (HEADER..SIGNATURE)");
		goto out;
	}
	r = sig_policy(d, &t, json, len, sig, err, errlen);
	if (r < 0)
		goto out;
	snprintf(dir, sizeof(dir), "%s/" TEMPLATES, d->cfg->state_dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		r = set_err(err, errlen, -errno, "cannot create %s", dir);
		goto out;
	}
	r = pt_rpo_template_path(d, t.hash, "json", path, sizeof(path));
	if (r < 0)
		goto out;
	if (access(path, F_OK) == 0) {
		/* content-addressed: the same bytes again; still check the copy */
		r = pt_template_load(d, t.hash, &old, err, errlen);
		if (r < 0)
			goto out;
	} else {
		r = pt_atomic_write(path, json, len, 0444);
		if (r < 0) {
			set_err(err, errlen, r, "cannot store %s", path);
			goto out;
		}
	}
	if (sig && sig[0]) {
		r = pt_rpo_template_path(d, t.hash, "jws", path, sizeof(path));
		if (r == 0 && access(path, F_OK) != 0)
			r = pt_atomic_write(path, sig, strlen(sig), 0444);
		if (r < 0) {
			set_err(err, errlen, r, "cannot store %s", path);
			goto out;
		}
	}
	memcpy(ret_hash, t.hash, PT_HASH_LEN);
	r = 0;
out:
	pt_template_clear(&old);
	pt_template_clear(&t);
	return r;
}

/* ------------------------------------------------------------------ the set */

static int db_path(const struct pt_daemon *d, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/" DB_NAME, d->cfg->state_dir);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int db_save(struct pt_daemon *d)
{
	struct pt_rpo_db *db = d->rpo;
	json_object *o, *a;
	char path[PATH_MAX];
	const char *text;
	int r;

	r = db_path(d, path, sizeof(path));
	if (r < 0)
		return r;
	o = json_object_new_object();
	a = json_object_new_array();
	if (!o || !a) {
		json_object_put(o);
		json_object_put(a);
		return -ENOMEM;
	}
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "rpos", a);
	for (size_t i = 0; i < db->n; i++) {
		const struct pt_rpo *p = &db->rpos[i];
		json_object *e = json_object_new_object();

		if (!e) {
			json_object_put(o);
			return -ENOMEM;
		}
		json_object_object_add(e, "id", json_object_new_string(p->id));
		json_object_object_add(e, "name", json_object_new_string(p->name));
		json_object_object_add(e, "uid", json_object_new_int64(p->uid));
		json_object_object_add(e, "template", json_object_new_string(p->tmpl_hash));
		json_object_object_add(e, "approved", json_object_new_int64((int64_t)p->approved));
		json_object_object_add(e, "not_after",
				       json_object_new_int64((int64_t)p->not_after));
		json_object_object_add(e, "revoked_at",
				       json_object_new_int64((int64_t)p->revoked_at));
		json_object_object_add(e, "expired", json_object_new_boolean(p->expired));
		if (p->sessions > 0) {
			json_object *sv = json_object_new_array();

			for (uint32_t k = 0; sv && k < p->sessions; k++) {
				json_object *pair = json_object_new_array();

				if (!pair)
					break;
				json_object_array_add(pair, json_object_new_int64(p->sess[k].pid));
				json_object_array_add(
					pair, json_object_new_int64((int64_t)p->sess[k].start));
				json_object_array_add(sv, pair);
			}
			json_object_object_add(e, "sessions", sv);
		}
		json_object_array_add(a, e);
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	r = text ? pt_atomic_write(path, text, strlen(text), 0600) : -ENOMEM;
	db->gen++; /* even on failure: the caller rolls back, the cache follows */
	json_object_put(o);
	return r;
}

static int get_u64(json_object *e, const char *key, uint64_t max, uint64_t *ret)
{
	json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(e, key, &v) || !json_object_is_type(v, json_type_int))
		return -EBADMSG;
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x > max)
		return -EBADMSG;
	*ret = (uint64_t)x;
	return 0;
}

static int get_s(json_object *e, const char *key, char *buf, size_t len)
{
	json_object *v;

	if (!json_object_object_get_ex(e, key, &v) || !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= len ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return -EBADMSG;
	snprintf(buf, len, "%s", json_object_get_string(v));
	return 0;
}

/* "sessions": [[pid, start], ...] (optional: none open), at most
 * PT_RPO_MAX_SESSIONS. */
static int get_sessions(json_object *e, struct pt_rpo *p)
{
	json_object *a;
	size_t n;

	if (!json_object_object_get_ex(e, "sessions", &a))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -EBADMSG;
	n = json_object_array_length(a);
	if (n == 0)
		return 0;
	if (n > PT_RPO_MAX_SESSIONS)
		return -EBADMSG;
	p->sess = calloc(n, sizeof(*p->sess));
	if (!p->sess)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *pair = json_object_array_get_idx(a, i), *pid, *start;

		if (!json_object_is_type(pair, json_type_array) ||
		    json_object_array_length(pair) != 2 ||
		    !(pid = json_object_array_get_idx(pair, 0)) ||
		    !(start = json_object_array_get_idx(pair, 1)) ||
		    !json_object_is_type(pid, json_type_int) ||
		    !json_object_is_type(start, json_type_int) || json_object_get_int64(pid) <= 0 ||
		    json_object_get_int64(pid) > INT32_MAX || json_object_get_int64(start) < 0)
			return -EBADMSG; /* p->sess freed with the set */
		p->sess[i].pid = (int32_t)json_object_get_int64(pid);
		p->sess[i].start = (uint64_t)json_object_get_int64(start);
	}
	p->sessions = (uint32_t)n;
	return 0;
}

static int db_parse(const uint8_t *data, size_t len, struct pt_rpo **ret, size_t *ret_n)
{
	json_object *o = NULL, *a, *v;
	struct pt_rpo *rpos = NULL;
	size_t n = 0;
	int r = -EBADMSG;

	if (pt_json_parse_strict((const char *)data, len, DB_MAX, 6, &o) < 0)
		return -EBADMSG;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "version", &v) || json_object_get_int(v) != 1 ||
	    !json_object_object_get_ex(o, "rpos", &a) || !json_object_is_type(a, json_type_array))
		goto out;
	n = json_object_array_length(a);
	if (n > 65536)
		goto out;
	rpos = calloc(n ? n : 1, sizeof(*rpos));
	if (!rpos) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i), *ex;
		struct pt_rpo *p = &rpos[i];
		uint64_t uid;

		if (!json_object_is_type(e, json_type_object) ||
		    get_s(e, "id", p->id, sizeof(p->id)) < 0 ||
		    get_s(e, "name", p->name, sizeof(p->name)) < 0 ||
		    get_s(e, "template", p->tmpl_hash, sizeof(p->tmpl_hash)) < 0 ||
		    get_u64(e, "uid", INT32_MAX, &uid) < 0 ||
		    get_u64(e, "approved", INT64_MAX, &p->approved) < 0 ||
		    get_u64(e, "not_after", INT64_MAX, &p->not_after) < 0 ||
		    get_u64(e, "revoked_at", INT64_MAX, &p->revoked_at) < 0 ||
		    !json_object_object_get_ex(e, "expired", &ex) ||
		    !json_object_is_type(ex, json_type_boolean))
			goto out;
		p->uid = (uid_t)uid;
		p->revoked = p->revoked_at != 0;
		p->expired = json_object_get_boolean(ex);
		if (get_sessions(e, p) < 0)
			goto out;
	}
	*ret = rpos;
	*ret_n = n;
	rpos = NULL;
	r = 0;
out:
	for (size_t i = 0; rpos && i < n; i++)
		free(rpos[i].sess);
	free(rpos);
	json_object_put(o);
	return r;
}

static void db_free(struct pt_rpo_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n; i++)
		free(db->rpos[i].sess);
	for (size_t i = 0; db->tmpl && i < db->n; i++) {
		pt_template_clear(db->tmpl[i]);
		free(db->tmpl[i]);
	}
	free(db->tmpl);
	free(db->rpos);
	free(db);
}

/* Loads rpos[i]'s template into its own slot (NULL stays on failure). */
static struct pt_template *load_slot(struct pt_daemon *d, size_t i)
{
	struct pt_template *t = calloc(1, sizeof(*t));
	char err[256];

	if (!t)
		return NULL;
	if (pt_template_load(d, d->rpo->rpos[i].tmpl_hash, t, err, sizeof(err)) < 0) {
		free(t);
		return NULL;
	}
	if (stored_sig_check(d, t, err, sizeof(err)) < 0) {
		/* an issuer configured since: its templates must be signed */
		pt_log_kv(LOG_ERR, "template.load", "deny", "template", t->hash, "reason", err,
			  NULL);
		pt_template_clear(t);
		free(t);
		return NULL;
	}
	d->rpo->tmpl[i] = t;
	return t;
}

/* Room for one more RPO. */
static int db_reserve(struct pt_rpo_db *db)
{
	struct pt_rpo *rp;
	struct pt_template **tp;
	size_t cap;

	if (db->n < db->cap)
		return 0;
	cap = db->cap ? db->cap * 2 : 16;
	rp = realloc(db->rpos, cap * sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	db->rpos = rp;
	tp = realloc(db->tmpl, cap * sizeof(*tp));
	if (!tp)
		return -ENOMEM;
	db->tmpl = tp;
	memset(db->tmpl + db->cap, 0, (cap - db->cap) * sizeof(*tp));
	db->cap = cap;
	return 0;
}

int pt_rpo_open(struct pt_daemon *d)
{
	struct pt_rpo_db *db;
	char path[PATH_MAX];
	uint8_t *data = NULL;
	size_t len = 0, bad = 0;
	int r;

	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	r = db_path(d, path, sizeof(path));
	if (r == 0)
		r = pt_read_file(path, DB_MAX, &data, &len);
	if (r == -ENOENT) {
		r = 0;
	} else if (r == 0) {
		r = db_parse(data, len, &db->rpos, &db->n);
		free(data);
		db->cap = db->n;
		if (r == 0) {
			db->tmpl = calloc(db->n ? db->n : 1, sizeof(*db->tmpl));
			if (!db->tmpl)
				r = -ENOMEM;
		}
	}
	if (r < 0) {
		pt_log_kv(LOG_ERR, "rpo", "error", "reason",
			  PT_LOG_F("%s: %s", path, r == -EBADMSG ? "malformed" : strerror(-r)),
			  NULL);
		db_free(db);
		return r;
	}
	d->rpo = db;
	/* every live RPO's template, hashed again */
	for (size_t i = 0; i < db->n; i++)
		if (!db->rpos[i].expired && !load_slot(d, i))
			bad++;
	if (db->n > 0)
		pt_log_kv(bad ? LOG_ERR : LOG_INFO, "rpo", bad ? "error" : "allow", "rpos",
			  PT_LOG_U(db->n), "bad_templates", PT_LOG_U(bad), NULL);
	return 0;
}

void pt_rpo_close(struct pt_daemon *d)
{
	if (!d)
		return;
	db_free(d->rpo);
	d->rpo = NULL;
}

const struct pt_rpo *pt_rpo_all(struct pt_daemon *d, size_t *ret_n)
{
	*ret_n = d && d->rpo ? d->rpo->n : 0;
	return d && d->rpo ? d->rpo->rpos : NULL;
}

static struct pt_rpo *find_mut(struct pt_daemon *d, const struct pt_rpo *r)
{
	if (!d || !d->rpo || !r || r < d->rpo->rpos || r >= d->rpo->rpos + d->rpo->n)
		return NULL;
	return (struct pt_rpo *)r;
}

const struct pt_rpo *pt_rpo_find_name(struct pt_daemon *d, const char *name)
{
	for (size_t i = 0; d && d->rpo && name && i < d->rpo->n; i++)
		if (strcmp(d->rpo->rpos[i].name, name) == 0)
			return &d->rpo->rpos[i];
	return NULL;
}

const struct pt_rpo *pt_rpo_find_id(struct pt_daemon *d, const char *id)
{
	for (size_t i = 0; d && d->rpo && id && i < d->rpo->n; i++)
		if (strcmp(d->rpo->rpos[i].id, id) == 0 || strcmp(d->rpo->rpos[i].name, id) == 0)
			return &d->rpo->rpos[i];
	return NULL;
}

bool pt_rpo_valid(const struct pt_rpo *r, uint64_t now)
{
	return r && !r->revoked && !r->expired && now < r->not_after;
}

/* The stored file of hash still hashes to its name (the bytes parsed into
 * the cached template are the file's): 0, or -errno (logged). */
static int template_verify(struct pt_daemon *d, const char *hash)
{
	char path[PATH_MAX], got[PT_HASH_LEN];
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	r = pt_rpo_template_path(d, hash, "json", path, sizeof(path));
	if (r == 0)
		r = read_sealed(path, PT_TEMPLATE_MAX, &data, &len);
	if (r == 0)
		r = pt_template_hash(data, len, got);
	if (r == 0 && strcmp(got, hash) != 0)
		r = -EBADMSG;
	free(data);
	if (r < 0)
		pt_log_kv(LOG_ERR, "template.load", "deny", "template", hash, "reason",
			  r == -EBADMSG ? "the stored file does not hash to its name: tampered" :
					  PT_LOG_F("%s: %s", path, strerror(-r)),
			  NULL);
	return r;
}

const struct pt_template *pt_rpo_template(struct pt_daemon *d, const struct pt_rpo *r)
{
	struct pt_template *t;
	size_t i;

	if (!find_mut(d, r))
		return NULL;
	i = (size_t)(r - d->rpo->rpos);
	t = d->rpo->tmpl[i];
	/* parsed once (the bytes cannot change without changing the hash), the
	 * file hashed again on every use: a file changed since is refused. The
	 * struct stays where it is until pt_rpo_close (callers may hold it). */
	if (!t)
		return load_slot(d, i);
	return template_verify(d, r->tmpl_hash) < 0 ? NULL : t;
}

size_t pt_rpo_match(struct pt_daemon *d, const char *iss, const char *group, uint64_t now,
		    const struct pt_rpo **ret, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; d && d->rpo && iss && group && i < d->rpo->n && n < max; i++) {
		const struct pt_rpo *r = &d->rpo->rpos[i];
		const struct pt_template *t;

		if (!pt_rpo_valid(r, now))
			continue;
		t = pt_rpo_template(d, r);
		if (t && strcmp(t->iss, iss) == 0 && strcmp(t->group, group) == 0)
			ret[n++] = r;
	}
	return n;
}

/* The start time of process pid (field 22 of /proc/PID/stat, clock ticks
 * since boot): tells it from a later process with the same pid. 0: gone. */
static uint64_t proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name (field 2) may hold anything */
	if (!p || sscanf(p + 1,
			 " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			 "%*d %*d %*d %llu",
			 &start) != 1)
		return 0;
	return start;
}

/* Drops the sessions whose process is gone (or is another one now); true
 * when any was. */
static bool sessions_prune(struct pt_rpo *m)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < m->sessions; i++)
		if (proc_start(m->sess[i].pid) == m->sess[i].start)
			m->sess[k++] = m->sess[i];
	if (k == m->sessions)
		return false;
	m->sessions = k;
	return true;
}

uint32_t pt_rpo_sessions(struct pt_daemon *d, const struct pt_rpo *r)
{
	struct pt_rpo *m = find_mut(d, r);

	if (!m)
		return 0;
	if (sessions_prune(m))
		(void)db_save(d); /* only what it forgot: the next save has it */
	return m->sessions;
}

int pt_rpo_session_begin(struct pt_daemon *d, const struct pt_rpo *r, pid_t pid, uint64_t now)
{
	struct pt_rpo *m = find_mut(d, r);
	const struct pt_template *t;
	struct pt_rpo_session *v;
	uint64_t start;
	int ret;

	if (!m)
		return -ENOENT;
	if (!pt_rpo_valid(m, now))
		return -EACCES;
	t = pt_rpo_template(d, m);
	if (!t)
		return -EACCES;
	start = proc_start(pid);
	if (start == 0)
		return -ESRCH;
	sessions_prune(m);
	if (m->sessions >= t->max_sessions || m->sessions >= PT_RPO_MAX_SESSIONS)
		return -EUSERS;
	v = realloc(m->sess, (m->sessions + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	m->sess = v;
	m->sess[m->sessions++] = (struct pt_rpo_session){ .pid = (int32_t)pid, .start = start };
	/* counted against max_sessions: durable before the reply that grants it */
	ret = db_save(d);
	if (ret < 0)
		m->sessions--;
	return ret;
}

void pt_rpo_session_end(struct pt_daemon *d, const struct pt_rpo *r, pid_t pid)
{
	struct pt_rpo *m = find_mut(d, r);

	if (!m)
		return;
	for (uint32_t i = 0; i < m->sessions; i++)
		if (m->sess[i].pid == (int32_t)pid) {
			m->sess[i] = m->sess[--m->sessions];
			break;
		}
	sessions_prune(m);
	(void)db_save(d);
}

void pt_rpo_groups_free(char **groups, size_t n)
{
	for (size_t i = 0; groups && i < n; i++)
		free(groups[i]);
	free(groups);
}

int pt_rpo_groups(struct pt_daemon *d, const struct pt_rpo *r, char ***ret, size_t *ret_n)
{
	const struct pt_template *t;
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (!find_mut(d, r))
		return -ENOENT;
	t = pt_rpo_template(d, r);
	if (!t)
		return -ENOENT;
	for (size_t i = 0; i < t->n_entitlements; i++) {
		const struct pt_entitlement *e =
			pt_config_find_entitlement(d->cfg, t->entitlements[i]);

		for (size_t j = 0; e && j < e->n_groups; j++) {
			bool dup = false;

			for (size_t k = 0; k < n; k++)
				dup = dup || strcmp(v[k], e->groups[j]) == 0;
			if (dup)
				continue;
			if (n + 2 > cap) {
				char **nv;

				cap = cap ? cap * 2 : 8;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					goto oom;
				v = nv;
			}
			v[n] = strdup(e->groups[j]);
			if (!v[n])
				goto oom;
			v[++n] = NULL;
		}
	}
	if (!v && !(v = calloc(1, sizeof(*v))))
		return -ENOMEM;
	*ret = v;
	*ret_n = n;
	return 0;
oom:
	pt_rpo_groups_free(v, n);
	return -ENOMEM;
}

/* ------------------------------------------------------------------ approve */

/* Is uid (= gid) free: no account or group on the host, no RPO (live or
 * tombstone) holding it? */
static bool uid_free(struct pt_daemon *d, uid_t uid)
{
	for (size_t i = 0; i < d->rpo->n; i++)
		if (d->rpo->rpos[i].uid == uid)
			return false;
	errno = 0;
	if (getpwuid(uid) || getgrgid((gid_t)uid))
		return false;
	return true;
}

int pt_rpo_alloc_uid(struct pt_daemon *d, const char *id, uid_t *ret)
{
	const struct pt_rpo_conf *rc = &d->cfg->rpo;
	uint64_t span = (uint64_t)rc->uid_max - rc->uid_min + 1, start;
	char hex[65];
	int r;

	/* the first candidate comes from the id (stable for a given id), then
	 * the next ones in the range, wrapping */
	r = pt_audit_hash(id, strlen(id), hex);
	if (r < 0)
		return r;
	start = strtoull((char[9]){ hex[0], hex[1], hex[2], hex[3], hex[4], hex[5], hex[6], hex[7],
				    0 },
			 NULL, 16) %
		span;
	for (uint64_t k = 0; k < span; k++) {
		uid_t uid = (uid_t)(rc->uid_min + (start + k) % span);

		if (uid_free(d, uid)) {
			*ret = uid;
			return 0;
		}
	}
	return -ENOSPC;
}

static int new_id(char ret[PT_ID_LEN])
{
	uint8_t b[10];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	snprintf(ret, PT_ID_LEN, "rpo_%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9]);
	return 0;
}

/* HOME_BASE/NAME for r. */
int pt_rpo_home(const struct pt_daemon *d, const struct pt_rpo *r, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", d->cfg->rpo.home_base, r->name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The home directory of a new RPO: made here, owned by it, 0700. An
 * existing one is refused (it would be someone else's files). */
static int make_home(struct pt_daemon *d, const struct pt_rpo *r, char *err, size_t errlen)
{
	char home[PATH_MAX];
	_cleanup_close_ int fd = -1;
	int r2;

	r2 = pt_rpo_home(d, r, home, sizeof(home));
	if (r2 < 0)
		return r2;
	if (mkdir(home, 0700) < 0)
		return set_err(err, errlen, -errno, "cannot create the home directory %s", home);
	fd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, r->uid, (gid_t)r->uid) < 0) {
		r2 = -errno;
		rmdir(home);
		return set_err(err, errlen, r2, "cannot give the home directory %s to its RPO",
			       home);
	}
	return 0;
}

int pt_rpo_approve(struct pt_daemon *d, const char *hash, uint64_t not_after, uint64_t now,
		   const struct pt_rpo **ret, char *err, size_t errlen)
{
	struct pt_rpo_db *db = d->rpo;
	struct pt_template t = { 0 };
	struct pt_rpo *p;
	char name[PT_RPO_NAME_LEN];
	int r;

	if (!db)
		return set_err(err, errlen, -ENODEV, "remote principals are not open");
	r = pt_template_load(d, hash, &t, err, errlen);
	if (r < 0)
		return r;
	r = stored_sig_check(d, &t, err, errlen);
	if (r < 0)
		goto out;
	if (not_after <= now) {
		r = set_err(err, errlen, -EINVAL, "--not-after is in the past");
		goto out;
	}
	if (not_after - now > t.max_validity) {
		char what[64];

		pt_conf_fmt_duration(t.max_validity, what, sizeof(what));
		r = set_err(err, errlen, -ERANGE,
			    "validity longer than the template's max_validity (%s)", what);
		goto out;
	}
	for (size_t i = 0; i < t.n_entitlements; i++)
		if (!pt_config_find_entitlement(d->cfg, t.entitlements[i])) {
			r = set_err(err, errlen, -EINVAL,
				    "entitlement \"%.64s\" is no longer defined by this host",
				    t.entitlements[i]);
			goto out;
		}
	if (db->n >= d->cfg->rpo.max) {
		r = set_err(err, errlen, -ENOSPC, "rpo.max RPOs (tombstones included) reached");
		goto out;
	}
	r = db_reserve(db);
	if (r < 0)
		goto out;
	p = &db->rpos[db->n];
	memset(p, 0, sizeof(*p));
	r = new_id(p->id);
	if (r < 0)
		goto out;
	snprintf(name, sizeof(name), "%s%.8s", d->cfg->rpo.prefix, p->id + 4);
	if (pt_rpo_find_name(d, name) || getpwnam(name) || getgrnam(name)) {
		r = set_err(err, errlen, -EEXIST, "the name %s is taken; approve again", name);
		goto out;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	r = pt_rpo_alloc_uid(d, p->id, &p->uid);
	if (r < 0) {
		set_err(err, errlen, r, "no free uid left in rpo.uid_min .. uid_max");
		goto out;
	}
	memcpy(p->tmpl_hash, t.hash, PT_HASH_LEN);
	p->approved = now;
	p->not_after = not_after;
	r = make_home(d, p, err, errlen);
	if (r < 0)
		goto out;
	db->tmpl[db->n] = malloc(sizeof(t));
	if (!db->tmpl[db->n]) {
		char home[PATH_MAX];

		if (pt_rpo_home(d, p, home, sizeof(home)) == 0)
			rmdir(home);
		r = -ENOMEM;
		goto out;
	}
	*db->tmpl[db->n] = t;
	memset(&t, 0, sizeof(t));
	db->n++;
	r = db_save(d);
	if (r < 0) {
		char home[PATH_MAX];

		db->n--;
		pt_template_clear(db->tmpl[db->n]);
		free(db->tmpl[db->n]);
		db->tmpl[db->n] = NULL;
		if (pt_rpo_home(d, p, home, sizeof(home)) == 0)
			rmdir(home);
		set_err(err, errlen, r, "cannot write " DB_NAME "");
		goto out;
	}
	*ret = p;
out:
	pt_template_clear(&t);
	return r;
}

static struct pt_rpo *find_live(struct pt_daemon *d, const char *id, uint64_t now, char *err,
				size_t errlen, int *ret_r)
{
	struct pt_rpo *p;

	if (!id)
		id = "";
	p = find_mut(d, pt_rpo_find_id(d, id));

	if (!p)
		*ret_r = set_err(err, errlen, -ENOENT, "no RPO %.64s", id);
	else if (!pt_rpo_valid(p, now))
		*ret_r = set_err(err, errlen, -ESTALE, "RPO %.64s is revoked or expired", id);
	return p && pt_rpo_valid(p, now) ? p : NULL;
}

int pt_rpo_extend(struct pt_daemon *d, const char *id, uint64_t not_after, uint64_t now, char *err,
		  size_t errlen)
{
	const struct pt_template *t;
	struct pt_rpo *p;
	uint64_t old;
	int r = 0;

	p = find_live(d, id, now, err, errlen, &r);
	if (!p)
		return r;
	t = pt_rpo_template(d, p);
	if (!t)
		return set_err(err, errlen, -EBADMSG, "its template cannot be loaded");
	if (not_after <= now)
		return set_err(err, errlen, -EINVAL, "--not-after is in the past");
	if (not_after - now > t->max_validity)
		return set_err(err, errlen, -ERANGE,
			       "validity longer than the template's max_validity");
	old = p->not_after;
	p->not_after = not_after;
	r = db_save(d);
	if (r < 0) {
		p->not_after = old;
		return set_err(err, errlen, r, "cannot write " DB_NAME "");
	}
	return 0;
}

int pt_rpo_revoke(struct pt_daemon *d, const char *id, uint64_t now, char *err, size_t errlen)
{
	struct pt_rpo *p;
	int r = 0;

	p = find_live(d, id, now, err, errlen, &r);
	if (!p)
		return r;
	p->revoked = true;
	p->revoked_at = now;
	r = db_save(d);
	if (r < 0) {
		p->revoked = false;
		p->revoked_at = 0;
		return set_err(err, errlen, r, "cannot write " DB_NAME "");
	}
	return 0;
}

int pt_rpo_mark_expired(struct pt_daemon *d, const struct pt_rpo *r)
{
	struct pt_rpo *p = find_mut(d, r);
	int ret;

	if (!p)
		return -ENOENT;
	p->expired = true;
	ret = db_save(d);
	if (ret < 0)
		p->expired = false;
	return ret;
}

uint64_t pt_rpo_generation(const struct pt_daemon *d)
{
	return d && d->rpo ? d->rpo->gen : 0;
}

int pt_rpo_nss_update(struct pt_daemon *d, uint64_t now)
{
	struct pt_nss_rpo *v = NULL;
	char(*homes)[PATH_MAX] = NULL;
	size_t n = 0, total = d->rpo ? d->rpo->n : 0;
	int r;

	if (total > 0) {
		v = calloc(total, sizeof(*v));
		homes = calloc(total, sizeof(*homes));
		if (!v || !homes) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < total; i++) {
		const struct pt_rpo *p = &d->rpo->rpos[i];
		struct pt_nss_rpo *e = &v[n];

		if (p->revoked || p->expired)
			continue;
		if (pt_rpo_home(d, p, homes[n], sizeof(homes[n])) < 0)
			continue;
		e->name = p->name;
		e->uid = p->uid;
		e->home = homes[n];
		e->shell = d->cfg->rpo.shell;
		e->expire = p->not_after > UINT32_MAX ? UINT32_MAX : (uint32_t)p->not_after;
		if (pt_rpo_groups(d, p, &e->groups, &e->n_groups) < 0) {
			e->groups = NULL;
			e->n_groups = 0;
		}
		n++;
	}
	r = pt_nsscache_update_rpo(d->store, v, n, d->cfg->nss_cache, now);
out:
	for (size_t i = 0; v && i < n; i++)
		pt_rpo_groups_free(v[i].groups, v[i].n_groups);
	free(v);
	free(homes);
	return r;
}
