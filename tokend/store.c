/* SPDX-License-Identifier: MIT */
/*
 * The persistable-token store, see store.h.
 *
 * On disk: STATE_DIR/tokens/<slot>.tok, slot = lowercase hex of the first 16
 * bytes of SHA-256(user "\0" holder); content = pt_aead_seal(store key,
 * aad = file name, plaintext = the record's JSON). The file name is bound
 * to the content twice: as AEAD associated data, and by checking on load
 * that the record's user and holder hash to it, so a file renamed or
 * copied into another slot does not load.
 *
 * In memory: an array of (slot, record) sorted by slot (binary search for
 * slot look-ups, O(n log n) load); look-ups by id are linear (REVOKE/LIST).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "io.h"
#include "ptjson.h"
#include "store.h"
#include "util.h"

#define SLOT_LEN 16
#define SLOT_NAME_LEN (SLOT_LEN * 2 + 4) /* hex + ".tok" */
#define TOKENS_DIR "tokens"

/* record limits */
#define RECORD_JSON_MAX (2 * 1024 * 1024)
#define RECORD_FILE_MAX (RECORD_JSON_MAX + 64)
#define MAX_GROUPS 4096
#define MAX_GROUP_NAME 255
#define MAX_GECOS 1024
#define MAX_PATH_FIELD 4096
#define MAX_SHORT_FIELD 255
#define RECORD_VERSION 1

/* AEAD layout */
#define AEAD_MAGIC "PTK1"
#define AEAD_MAGIC_LEN 4
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16
#define AEAD_OVERHEAD (AEAD_MAGIC_LEN + AEAD_NONCE_LEN + AEAD_TAG_LEN)
#define AEAD_MAX (64 * 1024 * 1024)

struct entry {
	uint8_t slot[SLOT_LEN];
	struct pt_record *rec;
};

struct pt_store {
	char *dir; /* STATE_DIR/tokens */
	int dfd;
	uint8_t *key; /* in its own page: mlocked (best effort), not dumped */
	size_t key_map_len;
	struct entry *e;
	size_t n, cap;
	bool pending;	    /* some record is dirty (pt_store_touch) */
	int sync_err;	    /* errno of a failed directory sync not yet repeated with success */
	bool sync_reported; /* ... and pt_store_sync_failure said so */
};

/* ------------------------------------------------------------------ files */

static int read_fd(int fd, size_t max, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t cap, len = 0;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		return -EFBIG;
	/* regular files: one read to EOF (size + 1 sees it); others grow */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	if (cap > max)
		cap = max;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t k;

		if (len == cap) {
			uint8_t probe, *nb;

			if (cap >= max) {
				/* full: anything more means the file is too large */
				k = read(fd, &probe, 1);
				if (k < 0 && errno == EINTR)
					continue;
				if (k < 0) {
					r = -errno;
					goto fail;
				}
				if (k > 0) {
					r = -EFBIG;
					goto fail;
				}
				break;
			}
			size_t ncap = cap ? cap * 2 : 4096;
			if (ncap > max || ncap < cap)
				ncap = max;
			nb = malloc(ncap + 1);
			if (!nb) {
				r = -ENOMEM;
				goto fail;
			}
			memcpy(nb, buf, len);
			pt_wipe(buf, len);
			free(buf);
			buf = nb;
			cap = ncap;
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
fail:
	pt_wipe(buf, len);
	free(buf);
	return r;
}

int pt_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	int fd;
	int r;

	if (!path || !ret || !ret_len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	r = read_fd(fd, max, ret, ret_len);
	close(fd);
	return r;
}

static int random_hex(char *buf, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];

	if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
		return -EIO;
	for (size_t i = 0; i < nbytes; i++) {
		buf[2 * i] = hex[b[i] >> 4];
		buf[2 * i + 1] = hex[b[i] & 15];
	}
	buf[2 * nbytes] = '\0';
	return 0;
}

/* Temp files are ".<name>.<12 hex>.tmp" in the target's directory. */
static bool is_temp_name(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && name[0] == '.' && strcmp(name + n - 4, ".tmp") == 0;
}

/* Returns 0; a positive errno when the file was replaced but the directory
 * could not be synced (and sync_dir); or -errno when nothing changed. */
static int atomic_write_at(int dfd, const char *base, const void *p, size_t n, mode_t mode,
			   bool sync_dir)
{
	char tmp[NAME_MAX + 1], rnd[13];
	int fd = -1;
	int r;

	if (!base[0] || strchr(base, '/'))
		return -EINVAL;
	if (strlen(base) + 1 + 1 + 12 + 4 > NAME_MAX)
		return -ENAMETOOLONG;
	for (int tries = 0;; tries++) {
		r = random_hex(rnd, 6);
		if (r < 0)
			return r;
		snprintf(tmp, sizeof(tmp), ".%s.%s.tmp", base, rnd);
		fd = openat(dfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
			    mode & 07777);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries >= 16)
			return -errno;
	}
	if (fchmod(fd, mode & 07777) < 0) { /* umask must not loosen or tighten it */
		r = -errno;
		goto fail;
	}
	r = pt_write_all(fd, p, n);
	if (r < 0)
		goto fail;
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		goto fail;
	}
	if (renameat(dfd, tmp, dfd, base) < 0) {
		r = -errno;
		goto fail;
	}
	/* the new content is in place and visible: whatever the directory sync
	 * says, the write took effect (only its durability across a power loss
	 * is in doubt) */
	if (sync_dir && fsync(dfd) < 0)
		return errno;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dfd, tmp, 0);
	return r;
}

int pt_atomic_write(const char *path, const void *p, size_t n, mode_t mode)
{
	int r = pt_atomic_replace(path, p, n, mode);

	return r > 0 ? -r : r;
}

int pt_atomic_replace(const char *path, const void *p, size_t n, mode_t mode)
{
	const char *slash, *base;
	char *dir;
	int dfd;
	int r;

	if (!path || (!p && n))
		return -EINVAL;
	slash = strrchr(path, '/');
	if (slash) {
		base = slash + 1;
		dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	} else {
		base = path;
		dir = strdup(".");
	}
	if (!dir)
		return -ENOMEM;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (dfd < 0)
		return -errno;
	r = atomic_write_at(dfd, base, p, n, mode, true);
	close(dfd);
	return r;
}

/* Exactly what atomic_write_at leaves behind: ".<base>.<12 hex>.tmp". */
static bool is_our_temp(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 + 1 + 1 + 12 + 4 || name[0] != '.' || strcmp(name + n - 4, ".tmp") != 0 ||
	    name[n - 4 - 12 - 1] != '.')
		return false;
	for (size_t i = n - 4 - 12; i < n - 4; i++)
		if (!strchr("0123456789abcdef", name[i]) || !name[i])
			return false;
	return true;
}

int pt_remove_stale_temps(const char *dir, const char *skip_prefix, size_t *ret_removed)
{
	struct dirent *de;
	size_t removed = 0;
	DIR *d;
	int r = 0;

	if (!dir)
		return -EINVAL;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		struct stat st;

		if (!is_our_temp(de->d_name) ||
		    (skip_prefix && strncmp(de->d_name, skip_prefix, strlen(skip_prefix)) == 0))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			if (r == 0 && errno != ENOENT)
				r = -errno;
			continue;
		}
		removed++;
	}
	if (errno != 0 && r == 0)
		r = -errno;
	if (removed)
		(void)fsync(dirfd(d));
	closedir(d);
	if (ret_removed)
		*ret_removed = removed;
	return r;
}

/* ------------------------------------------------------------------ AEAD */

int pt_aead_seal(const uint8_t key[PT_STORE_KEYLEN], const void *aad, size_t aadlen, const void *pt,
		 size_t ptlen, uint8_t **ret, size_t *ret_len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *out = NULL, *nonce, *ct;
	size_t outlen;
	int k, r = -EIO;

	if (!key || (!aad && aadlen) || (!pt && ptlen) || !ret || !ret_len)
		return -EINVAL;
	if (ptlen > AEAD_MAX || aadlen > AEAD_MAX)
		return -EFBIG;
	outlen = AEAD_OVERHEAD + ptlen;
	out = malloc(outlen);
	if (!out)
		return -ENOMEM;
	memcpy(out, AEAD_MAGIC, AEAD_MAGIC_LEN);
	nonce = out + AEAD_MAGIC_LEN;
	ct = nonce + AEAD_NONCE_LEN;
	if (RAND_bytes(nonce, AEAD_NONCE_LEN) != 1)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AEAD_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
		goto out;
	if (aadlen && EVP_EncryptUpdate(ctx, NULL, &k, aad, (int)aadlen) != 1)
		goto out;
	k = 0;
	if (ptlen && EVP_EncryptUpdate(ctx, ct, &k, pt, (int)ptlen) != 1)
		goto out;
	if ((size_t)k != ptlen)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, ct + ptlen, &k) != 1 || k != 0)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_LEN, ct + ptlen) != 1)
		goto out;
	*ret = out;
	*ret_len = outlen;
	out = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (out) {
		OPENSSL_cleanse(out, outlen);
		free(out);
	}
	return r;
}

int pt_aead_open(const uint8_t key[PT_STORE_KEYLEN], const void *aad, size_t aadlen,
		 const uint8_t *blob, size_t bloblen, uint8_t **ret, size_t *ret_len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	const uint8_t *nonce, *ct, *tag;
	uint8_t *out = NULL;
	size_t ctlen = 0;
	int k, r = -EBADMSG;

	if (!key || (!aad && aadlen) || (!blob && bloblen) || !ret || !ret_len)
		return -EINVAL;
	if (bloblen < AEAD_OVERHEAD || memcmp(blob, AEAD_MAGIC, AEAD_MAGIC_LEN) != 0)
		return -EBADMSG;
	if (bloblen - AEAD_OVERHEAD > AEAD_MAX || aadlen > AEAD_MAX)
		return -EFBIG;
	nonce = blob + AEAD_MAGIC_LEN;
	ct = nonce + AEAD_NONCE_LEN;
	ctlen = bloblen - AEAD_OVERHEAD;
	tag = ct + ctlen;
	out = malloc(ctlen + 1);
	if (!out)
		return -ENOMEM;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AEAD_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) {
		r = -EIO;
		goto out;
	}
	if (aadlen && EVP_DecryptUpdate(ctx, NULL, &k, aad, (int)aadlen) != 1)
		goto out;
	k = 0;
	if (ctlen && EVP_DecryptUpdate(ctx, out, &k, ct, (int)ctlen) != 1)
		goto out;
	if ((size_t)k != ctlen)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_LEN, (void *)tag) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, out + ctlen, &k) != 1)
		goto out; /* authentication failed */
	out[ctlen] = '\0';
	*ret = out;
	*ret_len = ctlen;
	out = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (out) {
		OPENSSL_cleanse(out, ctlen + 1);
		free(out);
	}
	return r;
}

/* ------------------------------------------------------------------ records */

int pt_record_new_id(char ret[PT_ID_LEN])
{
	uint8_t b[16];
	char *s;

	if (!ret)
		return -EINVAL;
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	s = pt_b64url_encode(b, sizeof(b));
	if (!s)
		return -ENOMEM;
	if (strlen(s) != PT_ID_LEN - 4) {
		free(s);
		return -EIO;
	}
	memcpy(ret, "pt_", 3);
	memcpy(ret + 3, s, PT_ID_LEN - 3); /* 22 chars + NUL */
	free(s);
	return 0;
}

static void free_str(char **s)
{
	pt_free_secret(*s);
	*s = NULL;
}

void pt_record_free(struct pt_record *r)
{
	if (!r)
		return;
	free_str(&r->user);
	if (r->groups) {
		for (size_t i = 0; i < r->n_groups; i++)
			pt_free_secret(r->groups[i]);
		free(r->groups);
	}
	free_str(&r->gecos);
	free_str(&r->home);
	free_str(&r->shell);
	free_str(&r->holder);
	free_str(&r->actor);
	free_str(&r->service);
	free_str(&r->tty);
	free_str(&r->rhost);
	free_str(&r->source_jti);
	if (r->entitlements) {
		for (size_t i = 0; i < r->n_entitlements; i++)
			pt_free_secret(r->entitlements[i]);
		free(r->entitlements);
	}
	pt_wipe(r, sizeof(*r));
	free(r);
}

static bool id_valid(const char *id)
{
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	bool ok;

	if (!id || strnlen(id, PT_ID_LEN) != PT_ID_LEN - 1 || strncmp(id, "pt_", 3) != 0)
		return false;
	if (pt_b64url_decode(id + 3, PT_ID_LEN - 4, &raw, &rawlen) < 0)
		return false;
	ok = rawlen == 16;
	free(raw);
	return ok;
}

/* No control characters (UTF-8 and other bytes >= 0x80 are fine). */
static bool text_valid(const char *s, size_t max, bool allow_empty)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= max || c < 0x20 || c == 0x7f)
			return false;
	}
	return allow_empty || n > 0;
}

static bool u64_ok(uint64_t v)
{
	return v <= (uint64_t)INT64_MAX;
}

static bool record_valid(const struct pt_record *r)
{
	if (!id_valid(r->id) || !pt_name_valid(r->user) || !pt_name_valid(r->holder) ||
	    !pt_name_valid(r->actor))
		return false;
	if (r->uid == (uid_t)-1 || r->gid == (gid_t)-1)
		return false;
	if (r->n_groups > MAX_GROUPS || (r->n_groups && !r->groups))
		return false;
	for (size_t i = 0; i < r->n_groups; i++)
		if (!text_valid(r->groups[i], MAX_GROUP_NAME, false))
			return false;
	if (r->n_entitlements > MAX_GROUPS || (r->n_entitlements && !r->entitlements))
		return false;
	for (size_t i = 0; i < r->n_entitlements; i++)
		if (!pt_name_valid(r->entitlements[i]))
			return false;
	if ((r->gecos && !text_valid(r->gecos, MAX_GECOS, true)) ||
	    (r->home && !text_valid(r->home, MAX_PATH_FIELD, true)) ||
	    (r->shell && !text_valid(r->shell, MAX_PATH_FIELD, true)))
		return false;
	if ((r->service && !text_valid(r->service, MAX_SHORT_FIELD, true)) ||
	    (r->tty && !text_valid(r->tty, MAX_SHORT_FIELD, true)) ||
	    (r->rhost && !text_valid(r->rhost, MAX_SHORT_FIELD, true)) ||
	    (r->source_jti && !text_valid(r->source_jti, MAX_SHORT_FIELD, true)))
		return false;
	if (!u64_ok(r->iat) || !u64_ok(r->exp) || !u64_ok(r->last_used) || r->exp < r->iat)
		return false;
	return true;
}

static int add_str(json_object *o, const char *key, const char *v, bool nullable)
{
	json_object *s;

	if (!v && nullable)
		return json_object_object_add(o, key, NULL) == 0 ? 0 : -ENOMEM;
	s = json_object_new_string(v ? v : "");
	if (!s)
		return -ENOMEM;
	if (json_object_object_add(o, key, s) != 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

static int add_int(json_object *o, const char *key, int64_t v)
{
	json_object *i = json_object_new_int64(v);

	if (!i)
		return -ENOMEM;
	if (json_object_object_add(o, key, i) != 0) {
		json_object_put(i);
		return -ENOMEM;
	}
	return 0;
}

/* key: [v...]; nothing is added on failure */
static int add_strv(json_object *o, const char *key, char *const *v, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_new_string(v[i]);
		if (!e || json_object_array_add(a, e) != 0) {
			json_object_put(e);
			json_object_put(a);
			return -ENOMEM;
		}
	}
	if (json_object_object_add(o, key, a) != 0) {
		json_object_put(a);
		return -ENOMEM;
	}
	return 0;
}

int pt_record_to_json(const struct pt_record *r, char **ret)
{
	json_object *o = NULL;
	const char *s;
	char *out;
	int rc = -ENOMEM;

	if (!r || !ret)
		return -EINVAL;
	if (!record_valid(r))
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	if (add_int(o, "v", RECORD_VERSION) < 0 || add_str(o, "id", r->id, false) < 0 ||
	    add_str(o, "user", r->user, false) < 0 || add_int(o, "uid", (int64_t)r->uid) < 0 ||
	    add_int(o, "gid", (int64_t)r->gid) < 0)
		goto out;
	if (add_strv(o, "groups", r->groups, r->n_groups) < 0 ||
	    (r->n_entitlements > 0 &&
	     add_strv(o, "entitlements", r->entitlements, r->n_entitlements) < 0))
		goto out;
	if (add_str(o, "gecos", r->gecos, false) < 0 || add_str(o, "home", r->home, false) < 0 ||
	    add_str(o, "shell", r->shell, false) < 0 ||
	    add_str(o, "holder", r->holder, false) < 0 ||
	    add_str(o, "actor", r->actor, false) < 0 ||
	    add_str(o, "service", r->service, true) < 0 || add_str(o, "tty", r->tty, true) < 0 ||
	    add_str(o, "rhost", r->rhost, true) < 0 ||
	    add_str(o, "source_jti", r->source_jti, true) < 0 ||
	    add_int(o, "iat", (int64_t)r->iat) < 0 || add_int(o, "exp", (int64_t)r->exp) < 0 ||
	    add_int(o, "last_used", (int64_t)r->last_used) < 0 ||
	    add_int(o, "uses", (int64_t)r->uses) < 0)
		goto out;
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		goto out;
	out = strdup(s);
	if (!out)
		goto out;
	*ret = out;
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

enum field_kind {
	F_STR,
	F_NSTR,
	F_NAME,
	F_INT,
	F_GROUPS,
	F_ENTITLEMENTS, /* optional */
	F_ID,
	F_VERSION
};

static const struct field {
	const char *key;
	enum field_kind kind;
	size_t max; /* strings: max length; ints: max value */
} fields[] = {
	{ "v", F_VERSION, 0 },
	{ "id", F_ID, 0 },
	{ "user", F_NAME, 0 },
	{ "uid", F_INT, UINT32_MAX - 1 },
	{ "gid", F_INT, UINT32_MAX - 1 },
	{ "groups", F_GROUPS, 0 },
	{ "gecos", F_STR, MAX_GECOS },
	{ "home", F_STR, MAX_PATH_FIELD },
	{ "shell", F_STR, MAX_PATH_FIELD },
	{ "holder", F_NAME, 0 },
	{ "actor", F_NAME, 0 },
	{ "service", F_NSTR, MAX_SHORT_FIELD },
	{ "tty", F_NSTR, MAX_SHORT_FIELD },
	{ "rhost", F_NSTR, MAX_SHORT_FIELD },
	{ "source_jti", F_NSTR, MAX_SHORT_FIELD },
	{ "iat", F_INT, INT64_MAX },
	{ "exp", F_INT, INT64_MAX },
	{ "last_used", F_INT, INT64_MAX },
	{ "uses", F_INT, UINT32_MAX },
	{ "entitlements", F_ENTITLEMENTS, 0 },
};

/* The C string of a JSON string, refusing embedded NULs. */
static const char *json_cstr(json_object *v)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (!s || strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}

static int json_uint(json_object *v, uint64_t max, uint64_t *ret)
{
	int64_t i;
	uint64_t u;

	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	i = json_object_get_int64(v);
	if (i < 0)
		return -EINVAL;
	u = json_object_get_uint64(v);
	if (u > max || (i != INT64_MAX && (uint64_t)i != u))
		return -EINVAL;
	*ret = u;
	return 0;
}

static int dup_str(const char *s, char **ret)
{
	char *c = strdup(s);

	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

static int set_field(struct pt_record *r, const struct field *f, json_object *v)
{
	const char *s = NULL;
	uint64_t u;
	int rc;

	switch (f->kind) {
	case F_VERSION:
		if (json_uint(v, RECORD_VERSION, &u) < 0 || u != RECORD_VERSION)
			return -EINVAL;
		return 0;
	case F_ID:
		s = json_cstr(v);
		if (!s || !id_valid(s))
			return -EINVAL;
		memcpy(r->id, s, PT_ID_LEN);
		return 0;
	case F_NAME:
		s = json_cstr(v);
		if (!s || !pt_name_valid(s))
			return -EINVAL;
		break;
	case F_NSTR:
		if (json_object_is_type(v, json_type_null))
			return 0;
		/* fall through */
	case F_STR:
		s = json_cstr(v);
		if (!s || !text_valid(s, f->max, true))
			return -EINVAL;
		break;
	case F_INT:
		rc = json_uint(v, f->max, &u);
		if (rc < 0)
			return rc;
		if (strcmp(f->key, "uid") == 0)
			r->uid = (uid_t)u;
		else if (strcmp(f->key, "gid") == 0)
			r->gid = (gid_t)u;
		else if (strcmp(f->key, "iat") == 0)
			r->iat = u;
		else if (strcmp(f->key, "exp") == 0)
			r->exp = u;
		else if (strcmp(f->key, "last_used") == 0)
			r->last_used = u;
		else
			r->uses = (uint32_t)u;
		return 0;
	case F_GROUPS: {
		size_t n;

		if (!json_object_is_type(v, json_type_array))
			return -EINVAL;
		n = json_object_array_length(v);
		if (n > MAX_GROUPS)
			return -EINVAL;
		r->groups = calloc(n + 1, sizeof(char *));
		if (!r->groups)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const char *g = json_cstr(json_object_array_get_idx(v, i));
			if (!g || !text_valid(g, MAX_GROUP_NAME, false))
				return -EINVAL;
			rc = dup_str(g, &r->groups[i]);
			if (rc < 0)
				return rc;
			r->n_groups++;
		}
		return 0;
	}
	case F_ENTITLEMENTS: {
		size_t n;

		if (!json_object_is_type(v, json_type_array))
			return -EINVAL;
		n = json_object_array_length(v);
		if (n > MAX_GROUPS)
			return -EINVAL;
		r->entitlements = calloc(n + 1, sizeof(char *));
		if (!r->entitlements)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const char *e = json_cstr(json_object_array_get_idx(v, i));
			if (!e || !pt_name_valid(e))
				return -EINVAL;
			rc = dup_str(e, &r->entitlements[i]);
			if (rc < 0)
				return rc;
			r->n_entitlements++;
		}
		return 0;
	}
	}
	if (!s)
		return -EINVAL;

	{
		char **dst = strcmp(f->key, "user") == 0    ? &r->user :
			     strcmp(f->key, "holder") == 0  ? &r->holder :
			     strcmp(f->key, "actor") == 0   ? &r->actor :
			     strcmp(f->key, "gecos") == 0   ? &r->gecos :
			     strcmp(f->key, "home") == 0    ? &r->home :
			     strcmp(f->key, "shell") == 0   ? &r->shell :
			     strcmp(f->key, "service") == 0 ? &r->service :
			     strcmp(f->key, "tty") == 0	    ? &r->tty :
			     strcmp(f->key, "rhost") == 0   ? &r->rhost :
							      &r->source_jti;
		if (*dst)
			return -EINVAL;
		return dup_str(s, dst);
	}
}

int pt_record_from_json(const char *json, size_t len, struct pt_record **ret)
{
	json_object *o = NULL;
	struct pt_record *r = NULL;
	bool seen[PT_ELEMENTSOF(fields)] = { 0 };
	int rc;

	if (!ret)
		return -EINVAL;
	rc = pt_json_parse_strict(json, len, RECORD_JSON_MAX, 4, &o);
	if (rc < 0)
		return rc;
	rc = -EINVAL;
	if (!json_object_is_type(o, json_type_object))
		goto out;

	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	{
		json_object_object_foreach(o, key, val)
		{
			size_t i;

			for (i = 0; i < PT_ELEMENTSOF(fields); i++)
				if (strcmp(fields[i].key, key) == 0)
					break;
			if (i == PT_ELEMENTSOF(fields) || seen[i]) {
				rc = -EINVAL;
				goto out;
			}
			seen[i] = true;
			rc = set_field(r, &fields[i], val);
			if (rc < 0)
				goto out;
		}
	}
	rc = -EINVAL;
	for (size_t i = 0; i < PT_ELEMENTSOF(fields); i++)
		if (!seen[i] && fields[i].kind != F_ENTITLEMENTS)
			goto out;
	if (!record_valid(r))
		goto out;
	*ret = r;
	r = NULL;
	rc = 0;
out:
	pt_record_free(r);
	json_object_put(o);
	return rc;
}

/* ------------------------------------------------------------------ store */

static int slot_of(const char *user, const char *holder, uint8_t ret[SLOT_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx;
	int ok;

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, user, strlen(user) + 1) == 1 && /* with the NUL */
	     EVP_DigestUpdate(ctx, holder, strlen(holder)) == 1 &&
	     EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= SLOT_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	memcpy(ret, md, SLOT_LEN);
	return 0;
}

static void slot_name(const uint8_t slot[SLOT_LEN], char name[SLOT_NAME_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < SLOT_LEN; i++) {
		name[2 * i] = hex[slot[i] >> 4];
		name[2 * i + 1] = hex[slot[i] & 15];
	}
	memcpy(name + 2 * SLOT_LEN, ".tok", 5);
}

static bool slot_name_valid(const char *name)
{
	if (strlen(name) != SLOT_NAME_LEN || strcmp(name + 2 * SLOT_LEN, ".tok") != 0)
		return false;
	for (size_t i = 0; i < 2 * SLOT_LEN; i++)
		if (!strchr("0123456789abcdef", name[i]) || !name[i])
			return false;
	return true;
}

/* Index of the first entry with slot >= the given one. */
static size_t lower_bound(const struct pt_store *s, const uint8_t slot[SLOT_LEN])
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(s->e[mid].slot, slot, SLOT_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool find_slot_index(const struct pt_store *s, const uint8_t slot[SLOT_LEN], size_t *ret)
{
	size_t i = lower_bound(s, slot);

	*ret = i;
	return i < s->n && memcmp(s->e[i].slot, slot, SLOT_LEN) == 0;
}

static bool find_id_index(const struct pt_store *s, const char *id, size_t *ret)
{
	if (!id)
		return false;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].rec->id, id) == 0) {
			*ret = i;
			return true;
		}
	return false;
}

static int reserve(struct pt_store *s, size_t n)
{
	struct entry *e;
	size_t cap;

	if (n <= s->cap)
		return 0;
	cap = s->cap ? s->cap : 16;
	while (cap < n)
		cap *= 2;
	e = reallocarray(s->e, cap, sizeof(*e));
	if (!e)
		return -ENOMEM;
	s->e = e;
	s->cap = cap;
	return 0;
}

static void note_sync(struct pt_store *s, int err)
{
	if (err && !s->sync_err)
		s->sync_reported = false;
	s->sync_err = err;
}

/* 0, a positive errno when written but the directory not synced, or -errno. */
static int write_record(struct pt_store *s, const struct pt_record *rec,
			const uint8_t slot[SLOT_LEN], bool sync_dir)
{
	char name[SLOT_NAME_LEN + 1];
	char *json = NULL;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	int r;

	slot_name(slot, name);
	r = pt_record_to_json(rec, &json);
	if (r < 0)
		return r;
	r = pt_aead_seal(s->key, name, strlen(name), json, strlen(json), &blob, &bloblen);
	pt_free_secret(json);
	if (r < 0)
		return r;
	r = atomic_write_at(s->dfd, name, blob, bloblen, 0600, sync_dir);
	free(blob);
	return r;
}

int pt_store_put(struct pt_store *s, struct pt_record *rec, bool *ret_replaced)
{
	uint8_t slot[SLOT_LEN];
	size_t i, j;
	bool found;
	int r;

	if (!s || !rec || !rec->user || !rec->holder)
		return -EINVAL;
	if (!record_valid(rec))
		return -EINVAL;
	r = slot_of(rec->user, rec->holder, slot);
	if (r < 0)
		return r;
	found = find_slot_index(s, slot, &i);
	/* one id, one token: the same id in another slot is a caller bug */
	if (find_id_index(s, rec->id, &j) && (!found || j != i))
		return -EEXIST;
	if (!found) {
		r = reserve(s, s->n + 1); /* before the write: no failure after it */
		if (r < 0)
			return r;
	}
	r = write_record(s, rec, slot, true);
	if (r < 0)
		return r;
	note_sync(s, r); /* the rename took effect: done, even if the directory sync failed */

	rec->dirty = rec->unjournaled = rec->exp_moved = false;
	if (found) {
		if (s->e[i].rec != rec)
			pt_record_free(s->e[i].rec);
		s->e[i].rec = rec;
	} else {
		memmove(&s->e[i + 1], &s->e[i], (s->n - i) * sizeof(*s->e));
		memcpy(s->e[i].slot, slot, SLOT_LEN);
		s->e[i].rec = rec;
		s->n++;
	}
	if (ret_replaced)
		*ret_replaced = found;
	return 0;
}

int pt_store_remove(struct pt_store *s, const char *id)
{
	char name[SLOT_NAME_LEN + 1];
	size_t i;

	if (!s || !id)
		return -EINVAL;
	if (!find_id_index(s, id, &i))
		return -ENOENT;
	slot_name(s->e[i].slot, name);
	if (unlinkat(s->dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	/* gone: done, even if the directory sync fails (retried by pt_store_flush) */
	note_sync(s, fsync(s->dfd) < 0 ? errno : 0);
	pt_record_free(s->e[i].rec);
	memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(*s->e));
	s->n--;
	return 0;
}

struct pt_record *pt_store_find_id(struct pt_store *s, const char *id)
{
	size_t i;

	if (!s || !find_id_index(s, id, &i))
		return NULL;
	return s->e[i].rec;
}

struct pt_record *pt_store_find_slot(struct pt_store *s, const char *user, const char *holder)
{
	uint8_t slot[SLOT_LEN];
	size_t i;

	if (!s || !user || !holder || slot_of(user, holder, slot) < 0)
		return NULL;
	if (!find_slot_index(s, slot, &i))
		return NULL;
	return s->e[i].rec;
}

size_t pt_store_count(const struct pt_store *s)
{
	return s ? s->n : 0;
}

size_t pt_store_count_user(const struct pt_store *s, const char *user)
{
	size_t n = 0;

	if (!s || !user)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].rec->user, user) == 0 && !s->e[i].rec->dead_since_ms)
			n++;
	return n;
}

struct pt_record *pt_store_at(struct pt_store *s, size_t i)
{
	if (!s || i >= s->n)
		return NULL;
	return s->e[i].rec;
}

int pt_store_flush(struct pt_store *s)
{
	bool wrote = false;
	int r = 0;

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++) {
		int k;

		if (!s->e[i].rec->dirty)
			continue;
		k = write_record(s, s->e[i].rec, s->e[i].slot, false);
		if (k < 0) {
			if (r == 0)
				r = k;
			continue;
		}
		/* in the file now: the journal needs no line for it either */
		s->e[i].rec->dirty = s->e[i].rec->unjournaled = s->e[i].rec->exp_moved = false;
		wrote = true;
	}
	if (r == 0)
		s->pending = false;
	/* one directory sync for every rename of this round, and the retry of
	 * an earlier one that failed */
	if (wrote || s->sync_err)
		note_sync(s, fsync(s->dfd) < 0 ? errno : 0);
	return r;
}

void pt_store_touch(struct pt_store *s, struct pt_record *rec, bool exp_moved)
{
	if (!s || !rec)
		return;
	rec->dirty = true;
	rec->unjournaled = true;
	if (exp_moved)
		rec->exp_moved = true;
	s->pending = true;
}

bool pt_store_pending(const struct pt_store *s)
{
	return s && s->pending;
}

bool pt_store_synced(const struct pt_store *s)
{
	return s && !s->sync_err;
}

int pt_store_journal(struct pt_store *s, struct pt_journal *j)
{
	bool wrote = false;
	int r = 0;

	if (!s || !j)
		return -EINVAL;
	if (!s->pending)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		struct pt_record *rec = s->e[i].rec;
		char line[128];
		int k;

		if (!rec->unjournaled)
			continue;
		if (rec->exp_moved) {
			k = write_record(s, rec, s->e[i].slot, false);
			if (k >= 0) {
				rec->dirty = rec->exp_moved = rec->unjournaled = false;
				wrote = true;
				continue;
			}
		} else {
			snprintf(line, sizeof(line), "T %s %" PRIu32 " %" PRIu64, rec->id,
				 rec->uses, rec->last_used);
			k = pt_journal_add(j, line);
			if (k >= 0) {
				rec->unjournaled = false;
				continue;
			}
		}
		if (r == 0)
			r = k;
	}
	if (wrote)
		note_sync(s, fsync(s->dfd) < 0 ? errno : 0);
	if (r == 0)
		s->pending = false;
	return r;
}

int pt_store_replay(struct pt_store *s, const char *line)
{
	char id[PT_ID_LEN + 1];
	unsigned long long uses, last;
	struct pt_record *rec;
	int end = 0;

	if (!s || !line)
		return -EINVAL;
	if (line[0] != 'T' || line[1] != ' ')
		return 0;
	if (sscanf(line, "T %26s %llu %llu%n", id, &uses, &last, &end) != 3 || line[end] ||
	    !id_valid(id) || uses > UINT32_MAX)
		return -EINVAL;
	rec = pt_store_find_id(s, id);
	if (!rec || uses <= rec->uses)
		return 0; /* revoked or renewed since, or already in the file */
	rec->uses = (uint32_t)uses;
	if (last > rec->last_used)
		rec->last_used = last;
	rec->dirty = true;
	return 1;
}

int pt_store_sync_failure(struct pt_store *s)
{
	if (!s || !s->sync_err || s->sync_reported)
		return 0;
	s->sync_reported = true;
	return s->sync_err;
}

int pt_store_seek(const struct pt_store *s, const char *cursor, size_t *ret)
{
	uint8_t slot[SLOT_LEN];
	size_t i;

	if (!s || !cursor || !ret)
		return -EINVAL;
	if (!*cursor) {
		*ret = 0;
		return 0;
	}
	if (strlen(cursor) != 2 * SLOT_LEN)
		return -EINVAL;
	for (i = 0; i < SLOT_LEN; i++) {
		const char *h = "0123456789abcdef", *a = strchr(h, cursor[2 * i]),
			   *b = strchr(h, cursor[2 * i + 1]);

		if (!cursor[2 * i] || !cursor[2 * i + 1] || !a || !b)
			return -EINVAL;
		slot[i] = (uint8_t)((a - h) << 4 | (b - h));
	}
	i = lower_bound(s, slot);
	if (i < s->n && memcmp(s->e[i].slot, slot, SLOT_LEN) == 0)
		i++; /* the cursor names the last entry already seen */
	*ret = i;
	return 0;
}

void pt_store_cursor(const struct pt_store *s, size_t i, char ret[PT_STORE_CURSOR_LEN])
{
	char name[SLOT_NAME_LEN + 1];

	ret[0] = '\0';
	if (!s || i >= s->n)
		return;
	slot_name(s->e[i].slot, name);
	memcpy(ret, name, 2 * SLOT_LEN);
	ret[2 * SLOT_LEN] = '\0';
}

void pt_store_free(struct pt_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		pt_record_free(s->e[i].rec);
	free(s->e);
	if (s->key) {
		OPENSSL_cleanse(s->key, PT_STORE_KEYLEN);
		munlock(s->key, s->key_map_len);
		munmap(s->key, s->key_map_len);
	}
	if (s->dfd >= 0)
		close(s->dfd);
	free(s->dir);
	free(s);
}

/* Loads one token file; -ENOMEM is fatal, any other error means "bad file". */
static int load_one(struct pt_store *s, const char *name, struct pt_record **ret,
		    uint8_t ret_slot[SLOT_LEN])
{
	uint8_t *blob = NULL, *plain = NULL, slot[SLOT_LEN];
	size_t bloblen = 0, plainlen = 0;
	struct pt_record *rec = NULL;
	char check[SLOT_NAME_LEN + 1];
	int fd;
	int r;

	if (!slot_name_valid(name))
		return -EINVAL;
	fd = openat(s->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOMEM ? -EIO : -errno;
	{
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return -EINVAL;
		}
	}
	r = read_fd(fd, RECORD_FILE_MAX, &blob, &bloblen);
	close(fd);
	if (r < 0)
		return r;
	r = pt_aead_open(s->key, name, strlen(name), blob, bloblen, &plain, &plainlen);
	free(blob);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	r = pt_record_from_json((const char *)plain, plainlen, &rec);
	OPENSSL_cleanse(plain, plainlen);
	free(plain);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	r = slot_of(rec->user, rec->holder, slot);
	if (r < 0) {
		pt_record_free(rec);
		return r;
	}
	slot_name(slot, check);
	if (strcmp(check, name) != 0) {
		pt_record_free(rec);
		return -EBADMSG;
	}
	memcpy(ret_slot, slot, SLOT_LEN);
	*ret = rec;
	return 0;
}

static int cmp_slot(const void *a, const void *b)
{
	return memcmp(((const struct entry *)a)->slot, ((const struct entry *)b)->slot, SLOT_LEN);
}

static int cmp_id(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a,
			   *y = *(const struct entry *const *)b;
	int c = strcmp(x->rec->id, y->rec->id);

	/* equal ids: keep the smaller slot */
	return c ? c : memcmp(x->slot, y->slot, SLOT_LEN);
}

/* Two files with the same id cannot come from this code; keep the first
 * (by slot) and count the others as bad. */
static int drop_duplicate_ids(struct pt_store *s, size_t *bad)
{
	struct entry **by_id;
	size_t w = 0;

	if (s->n < 2)
		return 0;
	by_id = calloc(s->n, sizeof(*by_id));
	if (!by_id)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		by_id[i] = &s->e[i];
	qsort(by_id, s->n, sizeof(*by_id), cmp_id);
	for (size_t i = 1; i < s->n; i++)
		if (strcmp(by_id[i]->rec->id, by_id[i - 1]->rec->id) == 0) {
			pt_record_free(by_id[i]->rec);
			by_id[i]->rec = NULL;
			(*bad)++;
		}
	free(by_id);
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].rec)
			s->e[w++] = s->e[i];
	s->n = w;
	return 0;
}

int pt_store_open(const char *state_dir, const uint8_t key[PT_STORE_KEYLEN], struct pt_store **ret,
		  size_t *ret_bad)
{
	struct pt_store *s = NULL;
	struct stat st;
	DIR *d = NULL;
	struct dirent *de;
	size_t bad = 0;
	bool removed = false;
	long pagesz;
	int r, fd;

	if (!state_dir || !key || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dfd = -1;

	pagesz = sysconf(_SC_PAGESIZE);
	s->key_map_len = pagesz > 0 ? (size_t)pagesz : 4096;
	s->key = mmap(NULL, s->key_map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (s->key == MAP_FAILED) {
		s->key = NULL;
		r = -ENOMEM;
		goto fail;
	}
	(void)mlock(s->key, s->key_map_len);
	(void)madvise(s->key, s->key_map_len, MADV_DONTDUMP);
	memcpy(s->key, key, PT_STORE_KEYLEN);

	if (asprintf(&s->dir, "%s/" TOKENS_DIR, state_dir) < 0) {
		s->dir = NULL;
		r = -ENOMEM;
		goto fail;
	}
	if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto fail;
	}
	s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (s->dfd < 0) {
		r = -errno;
		goto fail;
	}
	if (fstat(s->dfd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if ((st.st_mode & 07777) != 0700 && fchmod(s->dfd, 0700) < 0) {
		r = -errno;
		goto fail;
	}

	fd = dup(s->dfd);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		goto fail;
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d))) {
		struct pt_record *rec = NULL;
		uint8_t slot[SLOT_LEN] = { 0 };
		size_t n = strlen(de->d_name);

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (is_temp_name(de->d_name)) {
			/* a write that crashed before its rename */
			if (unlinkat(s->dfd, de->d_name, 0) == 0)
				removed = true;
			continue;
		}
		if (n < 4 || strcmp(de->d_name + n - 4, ".tok") != 0)
			continue; /* not ours */
		r = load_one(s, de->d_name, &rec, slot);
		if (r == -ENOMEM)
			goto fail;
		if (r < 0) {
			bad++;
			continue;
		}
		r = reserve(s, s->n + 1);
		if (r < 0) {
			pt_record_free(rec);
			goto fail;
		}
		memcpy(s->e[s->n].slot, slot, SLOT_LEN);
		s->e[s->n].rec = rec;
		s->n++;
	}
	if (errno != 0) {
		r = -errno;
		goto fail;
	}
	closedir(d);
	d = NULL;
	if (removed)
		(void)fsync(s->dfd);

	if (s->n > 1)
		qsort(s->e, s->n, sizeof(*s->e), cmp_slot);
	r = drop_duplicate_ids(s, &bad);
	if (r < 0)
		goto fail;

	*ret = s;
	if (ret_bad)
		*ret_bad = bad;
	return 0;
fail:
	if (d)
		closedir(d);
	pt_store_free(s);
	return r;
}
