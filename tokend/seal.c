/* SPDX-License-Identifier: MIT */
/*
 * Sealing of the store key, see seal.h.
 *
 * Every sealed blob starts with a common header naming its backend:
 *   "pertok-sealed-v1\n" "backend=NAME\n" payload
 * so a blob is never handed to the wrong backend, and the error says which
 * backend sealed it. Backends are struct pt_sealer entries in sealers[];
 * each one builds and checks the whole blob (with seal_header() and
 * seal_parse_header()), so a "tpm2" backend is one more entry whose payload
 * is its TPM2B_PUBLIC/TPM2B_PRIVATE pair.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal.h"
#include "fileio.h"
#include "util.h"

#define SEALED_FILE "storekey.sealed"
#define SEAL_MAGIC "pertok-sealed-v1\n"
#define SEAL_BACKEND_KEY "backend="
#define SEAL_NAME_MAX 32
#define SEALED_MAX (64 * 1024)

/* ------------------------------------------------------------------ header */

static bool backend_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > SEAL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", s[i]) || !s[i])
			return false;
	return true;
}

/* Builds header + payload. */
int pt_seal_header(const char *backend, const uint8_t *payload, size_t plen, uint8_t **ret,
		   size_t *ret_len)
{
	size_t hlen = strlen(SEAL_MAGIC) + strlen(SEAL_BACKEND_KEY) + strlen(backend) + 1;
	uint8_t *b;

	b = malloc(hlen + plen);
	if (!b)
		return -ENOMEM;
	memcpy(b, SEAL_MAGIC, strlen(SEAL_MAGIC));
	memcpy(b + strlen(SEAL_MAGIC), SEAL_BACKEND_KEY, strlen(SEAL_BACKEND_KEY));
	memcpy(b + strlen(SEAL_MAGIC) + strlen(SEAL_BACKEND_KEY), backend, strlen(backend));
	b[hlen - 1] = '\n';
	if (plen)
		memcpy(b + hlen, payload, plen);
	*ret = b;
	*ret_len = hlen + plen;
	return 0;
}

/* Splits a blob into backend name and payload. -EBADMSG when malformed. */
int pt_seal_parse_header(const uint8_t *blob, size_t len, char name[SEAL_NAME_MAX + 1],
			 size_t *ret_off)
{
	size_t m = strlen(SEAL_MAGIC), k = strlen(SEAL_BACKEND_KEY);
	const uint8_t *nl;
	size_t n;

	if (len < m + k || memcmp(blob, SEAL_MAGIC, m) != 0 ||
	    memcmp(blob + m, SEAL_BACKEND_KEY, k))
		return -EBADMSG;
	nl = memchr(blob + m + k, '\n', len - m - k);
	if (!nl)
		return -EBADMSG;
	n = (size_t)(nl - (blob + m + k));
	if (!backend_name_valid((const char *)blob + m + k, n))
		return -EBADMSG;
	memcpy(name, blob + m + k, n);
	name[n] = '\0';
	*ret_off = m + k + n + 1;
	return 0;
}

/* ------------------------------------------------------------------ software */

static int software_seal(const struct pt_sealer *s, const uint8_t key[PT_STORE_KEYLEN],
			 uint8_t **ret_blob, size_t *ret_len, char *err, size_t errlen)
{
	int r;

	r = pt_seal_header(s->name, key, PT_STORE_KEYLEN, ret_blob, ret_len);
	if (r < 0 && err && errlen)
		snprintf(err, errlen, "cannot seal the store key: %s", strerror(-r));
	return r;
}

static int software_unseal(const struct pt_sealer *s, const uint8_t *blob, size_t len,
			   uint8_t ret_key[PT_STORE_KEYLEN], char *err, size_t errlen)
{
	char name[SEAL_NAME_MAX + 1];
	size_t off;

	if (pt_seal_parse_header(blob, len, name, &off) < 0) {
		if (err && errlen)
			snprintf(err, errlen, "not a pertok sealed key (bad or missing header)");
		return -EBADMSG;
	}
	if (strcmp(name, s->name) != 0) {
		if (err && errlen)
			snprintf(err, errlen, "sealed by backend %s, not %s", name, s->name);
		return -EBADMSG;
	}
	if (len - off != PT_STORE_KEYLEN) {
		if (err && errlen)
			snprintf(err, errlen,
				 "truncated or corrupt: the software backend expects %d key bytes "
				 "after the header, found %zu",
				 PT_STORE_KEYLEN, len - off);
		return -EBADMSG;
	}
	memcpy(ret_key, blob + off, PT_STORE_KEYLEN);
	return 0;
}

static const struct pt_sealer software_sealer = {
	.name = "software",
	.strength = "weak: the store key is a root-only file, anyone who copies the state "
		    "directory can read every stored token (no TPM)",
	.seal = software_seal,
	.unseal = software_unseal,
};

static const struct pt_sealer *const sealers[] = {
	&software_sealer,
	&pt_tpm2_sealer,
};

const struct pt_sealer *pt_sealer_get(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < PT_ELEMENTSOF(sealers); i++)
		if (strcmp(sealers[i]->name, name) == 0)
			return sealers[i];
	return NULL;
}

/* ------------------------------------------------------------------ load/create */

static void wipe_free(uint8_t *p, size_t n)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

static int create_key(const struct pt_sealer *s, const char *state_dir, const char *path,
		      uint8_t key[PT_STORE_KEYLEN], char *err, size_t errlen)
{
	uint8_t *blob = NULL;
	size_t len = 0;
	char msg[256] = "";
	struct stat st;
	int r;

	if (stat(state_dir, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", state_dir, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", state_dir);
		return -ENOTDIR;
	}
	if (RAND_bytes(key, PT_STORE_KEYLEN) != 1) {
		snprintf(err, errlen, "cannot generate a store key: no randomness");
		return -EIO;
	}
	r = s->seal(s, key, &blob, &len, msg, sizeof(msg));
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", path, msg[0] ? msg : strerror(-r));
		return r;
	}
	r = pt_atomic_write(path, blob, len, 0600);
	wipe_free(blob, len);
	if (r < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
		return r;
	}
	return 0;
}

int pt_seal_load_or_create(const struct pt_sealer *s, const char *state_dir,
			   uint8_t ret_key[PT_STORE_KEYLEN], int *ret_created, char *err,
			   size_t errlen)
{
	char path[4096], name[SEAL_NAME_MAX + 1], msg[256] = "", dummy[1];
	uint8_t key[PT_STORE_KEYLEN], *blob = NULL;
	size_t len = 0, off;
	struct stat st;
	int created = 0;
	int r;

	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (!s || !state_dir || !ret_key) {
		snprintf(err, errlen, "invalid arguments");
		return -EINVAL;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/" SEALED_FILE, state_dir) >= sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", state_dir);
		return -ENAMETOOLONG;
	}

	if (lstat(path, &st) < 0) {
		if (errno != ENOENT) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
			return r;
		}
		r = create_key(s, state_dir, path, key, err, errlen);
		if (r < 0)
			goto out;
		created = 1;
	} else {
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s: not a regular file", path);
			r = -EBADMSG;
			goto out;
		}
		if (st.st_uid != geteuid()) {
			snprintf(err, errlen, "%s: owned by uid %u, expected %u", path,
				 (unsigned)st.st_uid, (unsigned)geteuid());
			r = -EPERM;
			goto out;
		}
		if (st.st_mode & 077) {
			snprintf(err, errlen, "%s: permissions %04o are too open (expected 0600)",
				 path, (unsigned)(st.st_mode & 07777));
			r = -EPERM;
			goto out;
		}
		r = pt_read_file(path, SEALED_MAX, &blob, &len);
		if (r == -EFBIG) {
			snprintf(err, errlen, "%s: file too large (max %d bytes)", path,
				 SEALED_MAX);
			goto out;
		}
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
			goto out;
		}
		if (len == 0) {
			snprintf(err, errlen, "%s: empty file (truncated?)", path);
			r = -EBADMSG;
			goto out;
		}
		if (pt_seal_parse_header(blob, len, name, &off) < 0) {
			snprintf(err, errlen, "%s: not a pertok sealed key (bad or missing header)",
				 path);
			r = -EBADMSG;
			goto out;
		}
		if (strcmp(name, s->name) != 0) {
			snprintf(err, errlen, "%s was sealed by backend %s, config says %s", path,
				 name, s->name);
			r = -EBADMSG;
			goto out;
		}
		r = s->unseal(s, blob, len, key, msg, sizeof(msg));
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, msg[0] ? msg : strerror(-r));
			goto out;
		}
	}

	memcpy(ret_key, key, PT_STORE_KEYLEN);
	if (ret_created)
		*ret_created = created;
	r = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	wipe_free(blob, len);
	return r;
}

/* ------------------------------------------------------------------ configured sealers */

/* The backend named in an existing blob's header: 0, -ENOENT (no blob), or
 * -EBADMSG. */
static int existing_backend(const char *state_dir, char name[SEAL_NAME_MAX + 1])
{
	char path[4096];
	uint8_t *blob = NULL;
	size_t len = 0, off;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/" SEALED_FILE, state_dir) >= sizeof(path))
		return -ENAMETOOLONG;
	r = pt_read_file(path, SEALED_MAX, &blob, &len);
	if (r < 0)
		return r;
	r = pt_seal_parse_header(blob, len, name, &off);
	wipe_free(blob, len);
	return r;
}

int pt_sealer_new(const char *name, const struct pt_seal_opts *o, const char *state_dir,
		  struct pt_sealer **ret, bool *ret_auto_software, char *err, size_t errlen)
{
	char found[SEAL_NAME_MAX + 1], info[512] = "", notice[256] = "", msg[512] = "";
	const struct pt_sealer *tmpl = NULL;
	struct pt_sealer *s;
	bool auto_sw = false;
	int r;

	if (!name || !o || !state_dir || !ret) {
		snprintf(err, errlen, "invalid arguments");
		return -EINVAL;
	}
	if (strcmp(name, "auto") == 0) {
		r = existing_backend(state_dir, found);
		if (r == 0) {
			/* the blob decides: never re-seal silently under another backend */
			tmpl = pt_sealer_get(found);
			if (!tmpl) {
				snprintf(err, errlen,
					 "%s/" SEALED_FILE " was sealed by unknown backend %s",
					 state_dir, found);
				return -EBADMSG;
			}
		} else if (r == -ENOENT) {
			r = pt_tpm2_probe(o, info, sizeof(info), notice, sizeof(notice), msg,
					  sizeof(msg));
			if (r == 0)
				tmpl = &pt_tpm2_sealer;
			else {
				tmpl = pt_sealer_get("software");
				auto_sw = true;
				snprintf(notice, sizeof(notice), "auto: %.200s", msg);
			}
		} else {
			snprintf(err, errlen, "%s/" SEALED_FILE ": %s", state_dir,
				 r == -EBADMSG ? "not a pertok sealed key (bad or missing header)" :
						 strerror(-r));
			return r;
		}
	} else {
		tmpl = pt_sealer_get(name);
		if (!tmpl) {
			snprintf(err, errlen, "unknown seal backend %s", name);
			return -EINVAL;
		}
	}
	if (tmpl == &pt_tpm2_sealer && !info[0]) {
		r = pt_tpm2_probe(o, info, sizeof(info), notice, sizeof(notice), err, errlen);
		if (r < 0)
			return r;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = *tmpl;
	s->opts = *o;
	if (!s->opts.tcti[0])
		snprintf(s->opts.tcti, sizeof(s->opts.tcti), "%s", PT_SEAL_DEFAULT_TCTI);
	if (!s->opts.srk_handle)
		s->opts.srk_handle = PT_SEAL_DEFAULT_SRK;
	snprintf(s->info, sizeof(s->info), "%s", info);
	snprintf(s->notice, sizeof(s->notice), "%s", notice);
	*ret = s;
	if (ret_auto_software)
		*ret_auto_software = auto_sw;
	return 0;
}

void pt_sealer_free(struct pt_sealer *s)
{
	free(s);
}

int pt_seal_store(const struct pt_sealer *s, const char *state_dir,
		  const uint8_t key[PT_STORE_KEYLEN], char *err, size_t errlen)
{
	char path[4096], msg[512] = "";
	uint8_t *blob = NULL;
	size_t len = 0;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/" SEALED_FILE, state_dir) >= sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", state_dir);
		return -ENAMETOOLONG;
	}
	r = s->seal(s, key, &blob, &len, msg, sizeof(msg));
	if (r < 0) {
		snprintf(err, errlen, "%s", msg[0] ? msg : strerror(-r));
		return r;
	}
	r = pt_atomic_write(path, blob, len, 0600);
	wipe_free(blob, len);
	if (r < 0)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
	return r;
}

int pt_seal_describe(const char *dir, char *buf, size_t buflen)
{
	char path[4096], name[SEAL_NAME_MAX + 1];
	uint8_t *blob = NULL;
	size_t len = 0, off;
	int r;

	if (!buflen)
		return -EINVAL;
	buf[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/" SEALED_FILE, dir) >= sizeof(path))
		return -ENAMETOOLONG;
	r = pt_read_file(path, SEALED_MAX, &blob, &len);
	if (r < 0)
		return r;
	r = pt_seal_parse_header(blob, len, name, &off);
	if (r >= 0 && strcmp(name, "tpm2") == 0)
		r = pt_tpm2_blob_describe(blob, len, buf, buflen);
	free(blob);
	return r;
}
