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
#include <inttypes.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "store.h"
#include "util.h"

#define SLOT_LEN 16
#define SLOT_NAME_LEN (SLOT_LEN * 2 + 4) /* hex + ".tok" */
#define TOKENS_DIR "tokens"

#define RECORD_FILE_MAX (PT_RECORD_JSON_MAX + 64)

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
	r = pt_atomic_write_at(s->dfd, name, blob, bloblen, 0600, sync_dir);
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
	if (!pt_record_valid(rec))
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
	r = pt_read_fd(fd, RECORD_FILE_MAX, &blob, &bloblen);
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
		if (pt_is_temp_name(de->d_name)) {
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
