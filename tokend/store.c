/* SPDX-License-Identifier: MIT */
/*
 * The persistable-token store, see store.h.
 *
 * On disk: one LMDB environment, KEYDIR/tokens.mdb (a single file, mode
 * 0600, in the key generation's directory, mode 0700). Key: the token's
 * slot, the first 16 bytes of SHA-256(user "\0" holder); value:
 * pt_aead_seal(store key, aad = the slot's name "<32 hex>.tok", plaintext =
 * the record's JSON) -- byte for byte what v0.1/v0.2 kept in the file
 * KEYDIR/tokens/<32 hex>.tok. The slot is bound to the record twice: as AEAD
 * associated data, and by checking on load that the record's user and
 * holder hash to it, so a value copied under another key does not load.
 * Every change is one write transaction committed with LMDB's default sync
 * (data fsync'd, then the meta page written with O_DSYNC): a put that
 * returned 0 survives kill -9 and power loss, and a crash leaves either the
 * old or the new state. tokend is the only process that opens it and uses it
 * from one thread (MDB_NOLOCK: no lock file).
 *
 * In memory: an array of (slot, record) sorted by slot (binary search, the
 * order of LIST's cursor), and the same records sorted by id (REVOKE,
 * renewal, journal replay). Records are kept compact (record.h): the struct
 * and its strings in one block. The map's pages that loading touched are
 * handed back after the load and at each flush, so the resident set holds
 * the records, not the file.
 *
 * The one-file-per-token directory of v0.1/v0.2 (KEYDIR/tokens/) is imported
 * by the first open: every file that decrypts and parses is put in the
 * database, in transactions of IMPORT_BATCH (a slot already there is left as
 * it is: only an interrupted import leaves one, with the same value), then,
 * once all are committed, the imported files are removed and the directory
 * synced before the store is used, so no file can come back after a crash
 * and shadow a newer record. Files that do not
 * load stay where they are and are counted as bad, as before; a crash at any
 * point is safe to restart.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include "b64.h"
#include "fileio.h"
#include "io.h"
#include "ptjson.h"
#include "store.h"
#include "util.h"

#define SLOT_LEN 16
#define SLOT_NAME_LEN (SLOT_LEN * 2 + 4) /* hex + ".tok" */
#define RECORD_FILE_MAX (PT_RECORD_JSON_MAX + 64)
#define MAP_INITIAL ((size_t)1 << 30) /* address space, not memory; grows */
#define MAP_GROW_TRIES 8
#define IMPORT_BATCH 2048
#define DISK_RESERVE (64 * 1024) /* allocated past the file's end, see keep_reserve */

struct entry {
	uint8_t slot[SLOT_LEN];
	struct pt_record *rec;
};

struct pt_store {
	char *dir;  /* the key generation's directory */
	char *path; /* dir/tokens.mdb */
	MDB_env *env;
	MDB_dbi dbi;
	size_t mapsize;
	void *map; /* LMDB's map of the file (found in /proc/self/maps), or NULL */
	size_t map_len;
	struct pt_record **touched; /* pt_store_touch'ed, not journaled yet */
	size_t n_touched, cap_touched;
	bool touched_all; /* the list could not grow: every record is a candidate */
	uint8_t *key;	  /* in its own page: mlocked (best effort), not dumped */
	size_t key_map_len;
	struct entry *e; /* by slot */
	struct pt_record **by_id;
	size_t n, cap;	  /* both arrays */
	size_t imported;  /* by this open, from dir/tokens/ */
	bool broken;	  /* a commit failed for good (MDB_PANIC): restart */
	bool pending;	  /* some record is dirty (pt_store_touch) */
	uint64_t changes; /* puts, removals and moved expiries so far (pt_store_changes) */
};

/* One change of a write transaction: a sealed value to put, or a delete. */
struct op {
	uint8_t slot[SLOT_LEN];
	uint8_t *blob; /* NULL: delete */
	size_t len;
};

static int mdb_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EBADMSG;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

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

/* ------------------------------------------------------------- the index */

static int reserve(struct pt_store *s, size_t n)
{
	struct pt_record **b;
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
	b = reallocarray(s->by_id, cap, sizeof(*b));
	if (!b)
		return -ENOMEM; /* s->e is larger now, which is harmless */
	s->by_id = b;
	s->cap = cap;
	return 0;
}

/* Index in by_id[0..n) of the first record whose id is >= id. */
static size_t id_lower_bound(const struct pt_store *s, size_t n, const char *id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->by_id[mid]->id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct pt_record *by_id_find(const struct pt_store *s, const char *id)
{
	size_t i;

	if (!id)
		return NULL;
	i = id_lower_bound(s, s->n, id);
	return i < s->n && strcmp(s->by_id[i]->id, id) == 0 ? s->by_id[i] : NULL;
}

/* by_id holds s->n - 1 records: rec becomes the n-th (capacity reserved). */
static void by_id_insert(struct pt_store *s, struct pt_record *rec)
{
	size_t m = s->n - 1, i = id_lower_bound(s, m, rec->id);

	memmove(&s->by_id[i + 1], &s->by_id[i], (m - i) * sizeof(*s->by_id));
	s->by_id[i] = rec;
}

/* by_id holds s->n records, rec among them: it leaves. */
static void by_id_remove(struct pt_store *s, const struct pt_record *rec)
{
	size_t i = id_lower_bound(s, s->n, rec->id);

	while (i < s->n && s->by_id[i] != rec)
		i++;
	if (i == s->n)
		return;
	memmove(&s->by_id[i], &s->by_id[i + 1], (s->n - i - 1) * sizeof(*s->by_id));
}

/* ------------------------------------------------------------- LMDB */

/* Where LMDB mapped the file: the line of /proc/self/maps with its device
 * and inode. LMDB keeps the address to itself unless the map is fixed. */
static void find_map(struct pt_store *s)
{
	unsigned long lo, hi, ino, off;
	unsigned maj, mnr;
	char line[512];
	struct stat st;
	FILE *f;
	int fd;

	s->map = NULL;
	s->map_len = 0;
	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) < 0)
		return;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu", &lo, &hi, &off, &maj, &mnr, &ino) ==
			    6 &&
		    ino == st.st_ino && maj == major(st.st_dev) && mnr == minor(st.st_dev) &&
		    off == 0) {
			s->map = (void *)lo;
			s->map_len = hi - lo;
			break;
		}
	fclose(f);
}

/* The pages of the map that reading touched are clean copies of the file:
 * hand them back (the next access maps them again from the page cache). */
static void release_map(struct pt_store *s)
{
	MDB_envinfo info;
	MDB_stat st;
	size_t len;

	if (!s->map || mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
		return;
	len = ((size_t)info.me_last_pgno + 1) * st.ms_psize;
	if (len > s->map_len)
		len = s->map_len;
	(void)madvise(s->map, len, MADV_DONTNEED);
}

static int grow_map(struct pt_store *s)
{
	size_t m = s->mapsize * 2;
	int rc;

	if (m < s->mapsize)
		return -ENOSPC;
	rc = mdb_env_set_mapsize(s->env, m);
	if (rc)
		return mdb_errno(rc);
	s->mapsize = m;
	if (s->map)
		find_map(s); /* mapped again elsewhere */
	return 0;
}

/* Keeps room for the next commits allocated past the end of the file (not
 * part of its size: LMDB does not see it), so that a revocation still
 * commits on a full disk, as unlinking a token file did. Best effort. */
static void keep_reserve(struct pt_store *s)
{
	struct stat st;
	int fd;

	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) < 0)
		return;
	if ((uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size + DISK_RESERVE / 2)
		return;
	(void)fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, DISK_RESERVE);
}

/* Applies ops in one durable write transaction (all or nothing), growing
 * the map when it is full. flags: for the puts (MDB_NOOVERWRITE: a slot
 * already there is left as it is). */
static int commit_ops(struct pt_store *s, const struct op *ops, size_t n, unsigned flags)
{
	/* the reserve is for removals: a put that cannot leave it intact is
	 * refused (a full disk still lets a revocation commit) */
	for (size_t i = 0; i < n; i++)
		if (ops[i].blob) {
			int fd;
			struct stat st;

			if (mdb_env_get_fd(s->env, &fd) == 0 && fstat(fd, &st) == 0 &&
			    fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, DISK_RESERVE) < 0 &&
			    (errno == ENOSPC || errno == EDQUOT))
				return -ENOSPC;
			break;
		}
	for (int tries = 0;; tries++) {
		MDB_txn *txn = NULL;
		int rc, r;

		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			MDB_val k = { SLOT_LEN, (void *)ops[i].slot };

			if (ops[i].blob) {
				MDB_val v = { ops[i].len, ops[i].blob };
				rc = mdb_put(txn, s->dbi, &k, &v, flags);
				if (rc == MDB_KEYEXIST && (flags & MDB_NOOVERWRITE))
					rc = 0;
			} else {
				rc = mdb_del(txn, s->dbi, &k, NULL);
				if (rc == MDB_NOTFOUND)
					rc = 0;
			}
		}
		if (rc == 0) {
			rc = mdb_txn_commit(txn);
			if (rc == 0)
				keep_reserve(s);
		} else if (txn)
			mdb_txn_abort(txn);
		if (rc == MDB_PANIC) {
			/* LMDB refuses every write after a failed meta page write
			 * (MDB_PANIC): nothing this process does will commit again */
			s->broken = true;
			return -EIO;
		}
		if (rc != MDB_MAP_FULL || tries >= MAP_GROW_TRIES)
			return mdb_errno(rc);
		r = grow_map(s);
		if (r < 0)
			return r;
	}
}

/* The sealed value of rec in slot. */
static int seal_record(const struct pt_store *s, const struct pt_record *rec,
		       const uint8_t slot[SLOT_LEN], uint8_t **ret, size_t *ret_len)
{
	char name[SLOT_NAME_LEN + 1];
	char *json = NULL;
	int r;

	slot_name(slot, name);
	r = pt_record_to_json(rec, &json);
	if (r < 0)
		return r;
	r = pt_aead_seal(s->key, name, strlen(name), json, strlen(json), ret, ret_len);
	pt_free_secret(json);
	return r;
}

/* Opens a sealed value of slot name: -ENOMEM is fatal, any other error means
 * "bad record". */
static int unseal_record(const uint8_t *key, const char *name, const uint8_t *blob, size_t len,
			 struct pt_record **ret, uint8_t ret_slot[SLOT_LEN])
{
	uint8_t *plain = NULL, slot[SLOT_LEN];
	size_t plainlen = 0;
	struct pt_record *rec = NULL;
	char check[SLOT_NAME_LEN + 1];
	int r;

	r = pt_aead_open(key, name, strlen(name), blob, len, &plain, &plainlen);
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

/* The end of a read-only scan: rc, LMDB's last answer (MDB_NOTFOUND: the
 * end was reached), r, the scan's own error. */
static int scan_end(MDB_cursor *cur, MDB_txn *txn, int rc, int r)
{
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	if (r < 0)
		return r;
	return rc == MDB_NOTFOUND ? 0 : mdb_errno(rc);
}

static void free_ops(struct op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ops[i].blob);
	free(ops);
}

/* rec leaves the store: it leaves the list of touched records too. */
static void untouch(struct pt_store *s, const struct pt_record *rec)
{
	size_t w = 0;

	for (size_t i = 0; i < s->n_touched; i++)
		if (s->touched[i] != rec)
			s->touched[w++] = s->touched[i];
	s->n_touched = w;
}

static void touched_none(struct pt_store *s)
{
	s->n_touched = 0;
	s->touched_all = false;
}

/* ------------------------------------------------------------- the API */

int pt_store_put(struct pt_store *s, struct pt_record *rec, bool *ret_replaced)
{
	struct pt_record *other;
	struct op op = { .blob = NULL };
	size_t i;
	bool found;
	int r;

	if (!s || !rec || !rec->user || !rec->holder)
		return -EINVAL;
	s->changes++;
	if (!pt_record_valid(rec))
		return -EINVAL;
	r = slot_of(rec->user, rec->holder, op.slot);
	if (r < 0)
		return r;
	found = find_slot_index(s, op.slot, &i);
	/* one id, one token: the same id in another slot is a caller bug */
	other = by_id_find(s, rec->id);
	if (other && (!found || other != s->e[i].rec))
		return -EEXIST;
	/* everything that can fail before the commit: nothing can after it */
	if (!found && (r = reserve(s, s->n + 1)) < 0)
		return r;
	r = pt_record_compact(rec);
	if (r < 0)
		return r;
	r = seal_record(s, rec, op.slot, &op.blob, &op.len);
	if (r < 0)
		return r;
	r = commit_ops(s, &op, 1, 0);
	free(op.blob);
	if (r < 0)
		return r;

	rec->dirty = rec->unjournaled = rec->exp_moved = rec->refusal_unjournaled = false;
	if (found) {
		struct pt_record *old = s->e[i].rec;

		if (old != rec) {
			untouch(s, old);
			by_id_remove(s, old);
			s->e[i].rec = rec;
			pt_record_free(old);
			by_id_insert(s, rec);
		}
	} else {
		memmove(&s->e[i + 1], &s->e[i], (s->n - i) * sizeof(*s->e));
		memcpy(s->e[i].slot, op.slot, SLOT_LEN);
		s->e[i].rec = rec;
		s->n++;
		by_id_insert(s, rec);
	}
	if (ret_replaced)
		*ret_replaced = found;
	return 0;
}

int pt_store_remove(struct pt_store *s, const char *id)
{
	struct pt_record *rec;
	struct op op = { .blob = NULL };
	size_t i;
	int r;

	if (!s || !id)
		return -EINVAL;
	s->changes++;
	rec = by_id_find(s, id);
	if (!rec)
		return -ENOENT;
	r = slot_of(rec->user, rec->holder, op.slot);
	if (r < 0)
		return r;
	if (!find_slot_index(s, op.slot, &i) || s->e[i].rec != rec)
		return -EIO; /* the two indexes disagree: cannot happen */
	r = commit_ops(s, &op, 1, 0);
	if (r < 0)
		return r;
	untouch(s, rec);
	by_id_remove(s, rec);
	memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(*s->e));
	s->n--;
	pt_record_free(rec);
	return 0;
}

int pt_store_move(struct pt_store *s, struct pt_record *rec)
{
	struct pt_record *old;
	struct op ops[2] = { { .blob = NULL }, { .blob = NULL } };
	size_t i, j;
	int r;

	if (!s || !rec || !pt_record_valid(rec))
		return -EINVAL;
	s->changes++;
	old = by_id_find(s, rec->id);
	if (!old)
		return -ENOENT;
	if ((r = slot_of(old->user, old->holder, ops[0].slot)) < 0 ||
	    (r = slot_of(rec->user, rec->holder, ops[1].slot)) < 0)
		return r;
	if (memcmp(ops[0].slot, ops[1].slot, SLOT_LEN) == 0)
		return -EINVAL;
	if (!find_slot_index(s, ops[0].slot, &i) || s->e[i].rec != old)
		return -EIO; /* the two indexes disagree: cannot happen */
	if (find_slot_index(s, ops[1].slot, &j))
		return -EEXIST;
	r = pt_record_compact(rec);
	if (r < 0)
		return r;
	r = seal_record(s, rec, ops[1].slot, &ops[1].blob, &ops[1].len);
	if (r < 0)
		return r;
	/* the old slot goes and the new one comes in the same commit */
	r = commit_ops(s, ops, 2, 0);
	free(ops[1].blob);
	if (r < 0)
		return r;
	rec->dirty = rec->unjournaled = rec->exp_moved = rec->refusal_unjournaled = false;
	untouch(s, old);
	by_id_remove(s, old);
	memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(*s->e));
	s->n--;
	pt_record_free(old);
	/* the removal left room for one */
	find_slot_index(s, ops[1].slot, &j);
	memmove(&s->e[j + 1], &s->e[j], (s->n - j) * sizeof(*s->e));
	memcpy(s->e[j].slot, ops[1].slot, SLOT_LEN);
	s->e[j].rec = rec;
	s->n++;
	by_id_insert(s, rec);
	return 0;
}

struct pt_record *pt_store_find_id(struct pt_store *s, const char *id)
{
	return s ? by_id_find(s, id) : NULL;
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

uint64_t pt_store_changes(const struct pt_store *s)
{
	return s ? s->changes : 0;
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

/* Writes, in one transaction, every record that want() selects; done() is
 * called for each once it is committed. 0 or -errno (nothing written). */
static int write_records(struct pt_store *s, bool (*want)(const struct pt_record *),
			 void (*done)(struct pt_record *), size_t *ret_n)
{
	struct op *ops = NULL;
	size_t n = 0, k = 0;
	int r;

	for (size_t i = 0; i < s->n; i++)
		n += want(s->e[i].rec);
	*ret_n = n;
	if (!n)
		return 0;
	ops = calloc(n, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < s->n && k < n; i++) {
		if (!want(s->e[i].rec))
			continue;
		memcpy(ops[k].slot, s->e[i].slot, SLOT_LEN);
		r = seal_record(s, s->e[i].rec, s->e[i].slot, &ops[k].blob, &ops[k].len);
		if (r < 0)
			goto out;
		k++;
	}
	r = commit_ops(s, ops, k, 0);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < s->n; i++)
		if (want(s->e[i].rec))
			done(s->e[i].rec);
out:
	free_ops(ops, k);
	return r;
}

static bool is_dirty(const struct pt_record *rec)
{
	return rec->dirty;
}

static void written(struct pt_record *rec)
{
	/* in the database now: the journal needs no line for it either */
	rec->dirty = rec->unjournaled = rec->exp_moved = rec->refusal_unjournaled = false;
}

int pt_store_flush(struct pt_store *s)
{
	size_t n;
	int r;

	if (!s)
		return -EINVAL;
	r = write_records(s, is_dirty, written, &n);
	if (r == 0) {
		s->pending = false;
		touched_none(s);
	}
	release_map(s);
	return r;
}

void pt_store_touch(struct pt_store *s, struct pt_record *rec, bool exp_moved)
{
	if (!s || !rec)
		return;
	if (exp_moved)
		s->changes++;
	/* journaling goes through the records touched, not the whole store */
	if (!rec->unjournaled && !s->touched_all) {
		if (s->n_touched == s->cap_touched) {
			size_t cap = s->cap_touched ? s->cap_touched * 2 : 64;
			struct pt_record **t = reallocarray(s->touched, cap, sizeof(*t));

			if (t) {
				s->touched = t;
				s->cap_touched = cap;
			}
		}
		if (s->n_touched < s->cap_touched)
			s->touched[s->n_touched++] = rec;
		else
			s->touched_all = true;
	}
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
	return s != NULL; /* every change is one committed transaction */
}

static bool is_moved(const struct pt_record *rec)
{
	return rec->unjournaled && rec->exp_moved;
}

/* The records whose expiry moved, of the n in list (NULL: the store's),
 * written in one transaction. */
static int write_moved(struct pt_store *s, struct pt_record **list, size_t n)
{
	struct op *ops = NULL;
	size_t m = 0, k = 0;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		m += is_moved(list ? list[i] : s->e[i].rec);
	if (!m)
		return 0;
	ops = calloc(m, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < n && k < m && r == 0; i++) {
		struct pt_record *rec = list ? list[i] : s->e[i].rec;

		if (!is_moved(rec))
			continue;
		r = slot_of(rec->user, rec->holder, ops[k].slot);
		if (r == 0)
			r = seal_record(s, rec, ops[k].slot, &ops[k].blob, &ops[k].len);
		if (r == 0)
			k++;
	}
	if (r == 0)
		r = commit_ops(s, ops, k, 0);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct pt_record *rec = list ? list[i] : s->e[i].rec;

		if (is_moved(rec))
			written(rec);
	}
	free_ops(ops, k);
	return r;
}

/* "F <id> <refusals> <refused_at> <rule or -> <reason>": the last refusal
 * (record.h), the reason the rest of the line. */
static int journal_refusal(struct pt_journal *j, const struct pt_record *rec)
{
	char line[PT_JOURNAL_LINE_MAX];

	snprintf(line, sizeof(line), "F %s %" PRIu32 " %" PRIu64 " %s %s", rec->id, rec->refusals,
		 rec->refused_at, rec->refusal_rule ? rec->refusal_rule : "-",
		 rec->refusal_reason ? rec->refusal_reason : "");
	return pt_journal_add(j, line);
}

/* Applies an "F" line (journal_refusal) when it is newer than rec's. */
static int replay_refusal(struct pt_store *s, const char *line)
{
	char id[PT_ID_LEN + 1], rule[256];
	unsigned long long n, at;
	struct pt_record *rec;
	int end = 0, r;

	if (sscanf(line, "F %26s %llu %llu %255s %n", id, &n, &at, rule, &end) != 4 || !end ||
	    !pt_record_id_valid(id) || n > UINT32_MAX || at > INT64_MAX ||
	    (strcmp(rule, "-") != 0 && !pt_name_valid(rule)))
		return -EINVAL;
	rec = pt_store_find_id(s, id);
	if (!rec || n <= rec->refusals)
		return 0; /* revoked or renewed since, or already in the file */
	r = pt_record_set_refusal(rec, at, (uint32_t)n, strcmp(rule, "-") ? rule : NULL,
				  line + end);
	if (r < 0)
		return r;
	rec->dirty = true;
	return 1;
}

int pt_store_journal(struct pt_store *s, struct pt_journal *j)
{
	struct pt_record **list;
	size_t n;
	int r, k;

	if (!s || !j)
		return -EINVAL;
	if (!s->pending)
		return 0;
	list = s->touched_all ? NULL : s->touched;
	n = s->touched_all ? s->n : s->n_touched;
	/* expiry lives only in the sealed record: those are written now */
	r = write_moved(s, list, n);
	for (size_t i = 0; i < n; i++) {
		struct pt_record *rec = list ? list[i] : s->e[i].rec;
		char line[128];

		if (!rec->unjournaled || rec->exp_moved)
			continue;
		if (rec->refusal_unjournaled) {
			k = journal_refusal(j, rec);
			if (k >= 0)
				rec->refusal_unjournaled = false;
			else if (r == 0)
				r = k;
		}
		snprintf(line, sizeof(line), "T %s %" PRIu32 " %" PRIu64, rec->id, rec->uses,
			 rec->last_used);
		k = pt_journal_add(j, line);
		if (k >= 0 && !rec->refusal_unjournaled)
			rec->unjournaled = false;
		else if (k < 0 && r == 0)
			r = k;
	}
	if (r == 0) {
		s->pending = false;
		touched_none(s);
	}
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
	if (line[0] == 'F' && line[1] == ' ')
		return replay_refusal(s, line);
	if (line[0] != 'T' || line[1] != ' ')
		return 0;
	if (sscanf(line, "T %26s %llu %llu%n", id, &uses, &last, &end) != 3 || line[end] ||
	    !pt_record_id_valid(id) || uses > UINT32_MAX)
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
	(void)s;
	return 0; /* a commit either took effect durably or did not happen */
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
	free(s->by_id);
	free(s->touched);
	if (s->env)
		mdb_env_close(s->env);
	if (s->key) {
		OPENSSL_cleanse(s->key, PT_STORE_KEYLEN);
		munlock(s->key, s->key_map_len);
		munmap(s->key, s->key_map_len);
	}
	free(s->dir);
	free(s->path);
	free(s);
}

/* ------------------------------------------------------------- opening */

static int cmp_id(const void *a, const void *b)
{
	const struct pt_record *x = *(const struct pt_record *const *)a,
			       *y = *(const struct pt_record *const *)b;

	return strcmp(x->id, y->id);
}

/* Builds by_id. Two records with the same id cannot come from this code:
 * keep the first by slot and count the others as bad. */
static int index_ids(struct pt_store *s, size_t *bad)
{
	size_t w = 0, dups = 0;

	for (size_t i = 0; i < s->n; i++)
		s->by_id[i] = s->e[i].rec;
	if (s->n > 1)
		qsort(s->by_id, s->n, sizeof(*s->by_id), cmp_id);
	for (size_t i = 1; i < s->n; i++) {
		struct pt_record *a = s->by_id[i - 1], *b = s->by_id[i];
		uint8_t sa[SLOT_LEN], sb[SLOT_LEN];

		if (strcmp(a->id, b->id) != 0)
			continue;
		if (slot_of(a->user, a->holder, sa) < 0 || slot_of(b->user, b->holder, sb) < 0)
			return -ENOMEM;
		/* the later slot goes; the earlier stays in by_id[i] for the next
		 * comparison */
		if (memcmp(sa, sb, SLOT_LEN) < 0) {
			s->by_id[i] = a;
			s->by_id[i - 1] = b;
		}
		s->by_id[i - 1]->dead_since_ms = UINT64_MAX; /* marked: dropped below */
		dups++;
	}
	if (!dups)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->e[i].rec->dead_since_ms == UINT64_MAX) {
			pt_record_free(s->e[i].rec);
			continue;
		}
		s->e[w++] = s->e[i];
	}
	s->n = w;
	*bad += dups;
	return index_ids(s, bad);
}

/* Loads every record of the database; those that do not open or parse, or
 * sit under a key they do not belong to, are counted in *bad and left in
 * place. */
static int load_all(struct pt_store *s, size_t *bad)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_stat st;
	int rc, r = 0;

	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_stat(txn, s->dbi, &st);
	if (rc == 0 && (r = reserve(s, st.ms_entries)) < 0)
		goto out;
	if (rc == 0)
		rc = mdb_cursor_open(txn, s->dbi, &cur);
	if (rc)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct pt_record *tmp = NULL, *rec = NULL;
		uint8_t slot[SLOT_LEN];
		char name[SLOT_NAME_LEN + 1];

		if (k.mv_size != SLOT_LEN) {
			(*bad)++;
			continue;
		}
		slot_name(k.mv_data, name);
		r = unseal_record(s->key, name, v.mv_data, v.mv_size, &tmp, slot);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			(*bad)++;
			r = 0;
			continue;
		}
		r = pt_record_compact_copy(tmp, &rec);
		pt_record_free(tmp);
		if (r == 0)
			r = reserve(s, s->n + 1);
		if (r < 0) {
			pt_record_free(rec);
			goto out;
		}
		/* LMDB's order is memcmp's: the array stays sorted */
		memcpy(s->e[s->n].slot, slot, SLOT_LEN);
		s->e[s->n++].rec = rec;
	}
out:
	r = scan_end(cur, txn, rc, r);
	if (r == 0)
		r = index_ids(s, bad);
	return r;
}

/* Reads and checks one v0.1/v0.2 token file (dfd: its directory). */
static int read_legacy(const struct pt_store *s, int dfd, const char *name, uint8_t **ret,
		       size_t *ret_len, uint8_t ret_slot[SLOT_LEN])
{
	struct pt_record *rec = NULL;
	uint8_t *blob = NULL;
	size_t len = 0;
	struct stat st;
	int fd;
	int r;

	if (!slot_name_valid(name))
		return -EINVAL;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOMEM ? -EIO : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	r = pt_read_fd(fd, RECORD_FILE_MAX, &blob, &len);
	close(fd);
	if (r < 0)
		return r;
	r = unseal_record(s->key, name, blob, len, &rec, ret_slot);
	pt_record_free(rec);
	if (r < 0) {
		free(blob);
		return r;
	}
	*ret = blob;
	*ret_len = len;
	return 0;
}

/* Commits n imported values (a slot already there is left as it is) and
 * frees them: memory stays bounded by one batch, whatever the number of
 * files. */
static int import_batch(struct pt_store *s, struct op *ops, size_t n)
{
	int r = commit_ops(s, ops, n, MDB_NOOVERWRITE);

	for (size_t i = 0; i < n && r == 0; i++) {
		free(ops[i].blob);
		ops[i].blob = NULL;
	}
	return r;
}

/* Imports dir/tokens/ (see the top of this file), in batches: an import
 * interrupted between two is redone from the files, which stay until every
 * batch is committed. */
static int import_legacy(struct pt_store *s, size_t *bad)
{
	struct op *ops = NULL;
	size_t n = 0, done = 0, cap = 0, nbad = 0;
	struct dirent *de;
	DIR *d = NULL;
	int dfd, r = 0;
	bool removed = false;

	dfd = openat(AT_FDCWD, s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	{
		int tfd = openat(dfd, PT_STORE_LEGACY_DIR,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

		close(dfd);
		if (tfd < 0)
			return errno == ENOENT ? 0 : -errno;
		d = fdopendir(tfd);
		if (!d) {
			r = -errno;
			close(tfd);
			return r;
		}
		dfd = tfd;
	}
	while ((errno = 0, de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (pt_is_temp_name(de->d_name)) {
			/* a write that crashed before its rename */
			if (unlinkat(dfd, de->d_name, 0) == 0)
				removed = true;
			continue;
		}
		if (l < 4 || strcmp(de->d_name + l - 4, ".tok") != 0)
			continue; /* not ours */
		if (n == cap) {
			struct op *o = reallocarray(ops, cap ? cap * 2 : 64, sizeof(*ops));

			if (!o) {
				r = -ENOMEM;
				goto out;
			}
			ops = o;
			cap = cap ? cap * 2 : 64;
		}
		r = read_legacy(s, dfd, de->d_name, &ops[n].blob, &ops[n].len, ops[n].slot);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			nbad++;
			r = 0;
			continue;
		}
		n++;
		if (n - done == IMPORT_BATCH) {
			r = import_batch(s, ops + done, n - done);
			if (r < 0)
				goto out;
			done = n;
		}
	}
	if (errno != 0) {
		r = -errno;
		goto out;
	}
	if (n) {
		r = import_batch(s, ops + done, n - done);
		if (r < 0)
			goto out;
		/* all committed: the files go, durably, before the store is used */
		for (size_t i = 0; i < n; i++) {
			char name[SLOT_NAME_LEN + 1];

			slot_name(ops[i].slot, name);
			if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
				r = -errno;
				goto out;
			}
		}
		removed = true;
	}
	if (removed && fsync(dfd) < 0) {
		r = -errno;
		goto out;
	}
	if (n)
		s->imported = n;
	*bad += nbad;
	if (nbad == 0) {
		/* nothing left that is ours: the directory goes too (best effort:
		 * it may hold files that are not the store's) */
		closedir(d);
		d = NULL;
		dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (unlinkat(dfd, PT_STORE_LEGACY_DIR, AT_REMOVEDIR) == 0)
				(void)fsync(dfd);
			close(dfd);
		}
	}
out:
	if (d)
		closedir(d);
	free_ops(ops, n);
	return r;
}

/* A regular file of ours, mode 0600: created so, or made so. */
static int check_file(struct pt_store *s)
{
	struct stat st;
	int fd;

	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) < 0)
		return -EIO;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_uid != geteuid())
		return -EPERM;
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
		return -errno;
	return 0;
}

/* The key generation's directory: a directory, not a link, ours, 0700
 * (tightened when it is looser, as v0.1 did with tokens/). */
static int check_dir(const char *dir)
{
	struct stat st;
	int fd, r = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (st.st_uid != geteuid())
		r = -EPERM;
	else if ((st.st_mode & 0077) && fchmod(fd, st.st_mode & 0700) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int open_env(const char *path, size_t mapsize, MDB_env **ret_env, MDB_dbi *ret_dbi)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	struct stat st;
	int rc;

	/* LMDB opens the path itself: no link in its place */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return S_ISLNK(st.st_mode) ? -ELOOP : -EINVAL;
	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env, mapsize);
	if (rc == 0)
		rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NORDAHEAD | MDB_NOTLS,
				  0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, ret_dbi);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (rc) {
		if (env)
			mdb_env_close(env);
		return mdb_errno(rc);
	}
	*ret_env = env;
	return 0;
}

/* One tokend per store: LMDB runs without its lock file (MDB_NOLOCK), so
 * two processes writing the same file would corrupt it. */
static int lock_file(struct pt_store *s)
{
	int fd;

	if (mdb_env_get_fd(s->env, &fd) != 0)
		return -EIO;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int pt_store_open(const char *state_dir, const uint8_t key[PT_STORE_KEYLEN], struct pt_store **ret,
		  size_t *ret_bad)
{
	struct pt_store *s = NULL;
	MDB_envinfo info;
	size_t bad = 0;
	long pagesz;
	int r;

	if (!state_dir || !key || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;

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

	s->dir = strdup(state_dir);
	if (!s->dir || asprintf(&s->path, "%s/" PT_STORE_FILE, state_dir) < 0) {
		s->path = NULL;
		r = -ENOMEM;
		goto fail;
	}
	r = check_dir(s->dir);
	if (r < 0)
		goto fail;
	{
		struct stat st;
		bool created = lstat(s->path, &st) < 0 && errno == ENOENT;

		r = open_env(s->path, MAP_INITIAL, &s->env, &s->dbi);
		if (r < 0)
			goto fail;
		r = check_file(s);
		if (r < 0)
			goto fail;
		r = lock_file(s);
		if (r < 0)
			goto fail;
		/* a new file's name is durable before anything (an import's
		 * removals) depends on it */
		if (created && (r = sync_dir(s->dir)) < 0)
			goto fail;
	}
	s->mapsize = mdb_env_info(s->env, &info) == 0 ? info.me_mapsize : MAP_INITIAL;
	find_map(s);
	keep_reserve(s);

	r = import_legacy(s, &bad);
	if (r < 0)
		goto fail;
	r = load_all(s, &bad);
	if (r < 0)
		goto fail;
	release_map(s);
	/* what decoding allocated and freed goes back too */
	malloc_trim(0);

	*ret = s;
	if (ret_bad)
		*ret_bad = bad;
	return 0;
fail:
	pt_store_free(s);
	return r;
}

bool pt_store_broken(const struct pt_store *s)
{
	return s && s->broken;
}

size_t pt_store_imported(const struct pt_store *s)
{
	return s ? s->imported : 0;
}

/* ------------------------------------------------------------- rotation */

/* Token files of dir/tokens/ that did not import: copied as they are. */
static int copy_legacy_leftovers(const char *dir, const char *newdir, size_t *bad)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int tfd = -1, r = 0;

	if ((size_t)snprintf(from, sizeof(from), "%s/" PT_STORE_LEGACY_DIR, dir) >= sizeof(from) ||
	    (size_t)snprintf(to, sizeof(to), "%s/" PT_STORE_LEGACY_DIR, newdir) >= sizeof(to))
		return -ENAMETOOLONG;
	d = opendir(from);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (r == 0 && (de = readdir(d))) {
		uint8_t *blob = NULL;
		size_t len = 0;
		int fd;

		if (!slot_name_valid(de->d_name))
			continue;
		if (tfd < 0) {
			if (mkdir(to, 0700) < 0 && errno != EEXIST) {
				r = -errno;
				break;
			}
			tfd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (tfd < 0) {
				r = -errno;
				break;
			}
		}
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0) {
			r = -errno;
			break;
		}
		r = pt_read_fd(fd, RECORD_FILE_MAX, &blob, &len);
		close(fd);
		if (r == 0)
			r = pt_atomic_write_at(tfd, de->d_name, blob, len, 0600, false);
		free(blob);
		if (r > 0)
			r = -r;
		if (r == 0)
			(*bad)++;
	}
	if (r == 0 && tfd >= 0 && fsync(tfd) < 0)
		r = -errno;
	if (tfd >= 0)
		close(tfd);
	closedir(d);
	return r;
}

/* One value under key2; one that does not decrypt is copied as it is
 * (unusable, but nothing is lost). */
static int rewrap_one(const uint8_t *key1, const uint8_t *key2, const MDB_val *k, const MDB_val *v,
		      struct op *op, size_t *bad)
{
	char name[SLOT_NAME_LEN + 1];
	uint8_t *plain = NULL;
	size_t pl = 0;
	int r;

	memcpy(op->slot, k->mv_data, SLOT_LEN);
	slot_name(k->mv_data, name);
	if (pt_aead_open(key1, name, strlen(name), v->mv_data, v->mv_size, &plain, &pl) == 0) {
		r = pt_aead_seal(key2, name, strlen(name), plain, pl, &op->blob, &op->len);
		OPENSSL_cleanse(plain, pl);
		free(plain);
		return r;
	}
	(*bad)++;
	op->blob = malloc(v->mv_size ? v->mv_size : 1);
	if (!op->blob)
		return -ENOMEM;
	memcpy(op->blob, v->mv_data, v->mv_size);
	op->len = v->mv_size;
	return 0;
}

int pt_store_rewrap(struct pt_store *s, const char *newdir, const uint8_t key2[PT_STORE_KEYLEN],
		    size_t *ret_n, size_t *ret_bad)
{
	struct pt_store ns = { .key = (uint8_t *)key2, .mapsize = s ? s->mapsize : 0 };
	struct op *ops = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_stat st;
	size_t n = 0, bad = 0;
	int rc, r = 0;

	if (!s || !newdir || !key2 || !ret_n || !ret_bad)
		return -EINVAL;
	if (asprintf(&ns.path, "%s/" PT_STORE_FILE, newdir) < 0)
		return -ENOMEM;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_stat(txn, s->dbi, &st);
	if (rc == 0)
		rc = mdb_cursor_open(txn, s->dbi, &cur);
	if (rc == 0 && !(ops = calloc(st.ms_entries ? st.ms_entries : 1, sizeof(*ops))))
		r = -ENOMEM;
	if (rc == 0 && r == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && r == 0 && n < st.ms_entries) {
		if (k.mv_size == SLOT_LEN)
			r = rewrap_one(s->key, key2, &k, &v, &ops[n], &bad);
		else
			bad++; /* cannot be put under a slot either */
		if (r == 0 && k.mv_size == SLOT_LEN)
			n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	r = scan_end(cur, txn, rc, r);
	if (r == 0)
		r = open_env(ns.path, ns.mapsize ? ns.mapsize : MAP_INITIAL, &ns.env, &ns.dbi);
	if (r == 0)
		r = commit_ops(&ns, ops, n, 0);
	if (r == 0)
		r = copy_legacy_leftovers(s->dir, newdir, &bad);
	if (r == 0)
		r = sync_dir(newdir); /* the new file's name, before the switch */
	if (ns.env)
		mdb_env_close(ns.env);
	free(ns.path);
	free_ops(ops, n);
	if (r < 0)
		return r;
	*ret_n = n;
	*ret_bad = bad;
	return 0;
}
