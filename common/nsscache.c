/* SPDX-License-Identifier: MIT */
/* The NSS cache file format (nsscache.h describes the layout). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nsscache.h"

#define KIND_PW 0x50u	/* 'P' */
#define KIND_GR 0x47u	/* 'G' */
#define REC_HEAD 16u	/* version 1: kind, id, gid, nstr */
#define REC_HEAD_V2 20u /* version 2: kind, id, gid, expire, nstr */

static uint32_t fnv1a(const void *p, size_t n, uint32_t h)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t hash_name(const char *s)
{
	return fnv1a(s, strlen(s), 2166136261u);
}

static uint32_t hash_id(uint32_t id)
{
	return id * 2654435761u;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* ================================================================ writer */
struct bent {
	uint32_t kind, id, gid;
	uint32_t expire; /* unix s; 0: none (version 2 only) */
	char **str;	 /* P: 4 strings; G: name then members */
	uint32_t nstr;
	uint32_t cap; /* str's room (a group's members grow it twice as large) */
	uint32_t off; /* in the file, set by finish */
};

struct mslot {
	uint32_t ent; /* 1 + the group's position in ent; 0: an empty slot */
	uint32_t mem; /* the member's position in the group's str */
};

struct nssc_builder {
	struct bent *ent;
	size_t n, cap;
	/* index of ent by (kind, name): open addressing, 1 + the entry's
	 * position per used slot, at most half full (find() in O(1), so tokend
	 * builds a file of 100,000 users in linear time) */
	uint32_t *idx;
	size_t idx_slots;
	/* index of the groups' members, the same way: the member check of
	 * nssc_builder_add_member in O(1), whatever the size of the group */
	struct mslot *midx;
	size_t midx_slots, n_members;
	size_t bytes; /* records' size so far */
	size_t n_pw, n_gr;
	bool v2; /* an entry has an expiry: the file is version 2 */
};

static void bent_clear(struct bent *e)
{
	for (uint32_t i = 0; i < e->nstr; i++)
		free(e->str[i]);
	free(e->str);
}

int nssc_builder_new(struct nssc_builder **ret)
{
	struct nssc_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	*ret = b;
	return 0;
}

void nssc_builder_free(struct nssc_builder *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		bent_clear(&b->ent[i]);
	free(b->ent);
	free(b->idx);
	free(b->midx);
	free(b);
}

static bool str_ok(const char *s, bool nonempty)
{
	size_t n;

	if (!s)
		return !nonempty;
	n = strlen(s);
	if (n >= NSSC_MAX_STR || (nonempty && n == 0))
		return false;
	return strpbrk(s, ":\n") == NULL;
}

static size_t ent_hash(uint32_t kind, const char *name)
{
	return fnv1a(name, strlen(name), 2166136261u ^ kind);
}

/* The slot of (kind, name) in the index: its entry's, or the empty one
 * where it would go. */
static uint32_t *idx_slot(const struct nssc_builder *b, uint32_t kind, const char *name)
{
	size_t mask = b->idx_slots - 1, i = ent_hash(kind, name) & mask;

	for (;; i = (i + 1) & mask) {
		const struct bent *e;

		if (b->idx[i] == 0)
			return &b->idx[i];
		e = &b->ent[b->idx[i] - 1];
		if (e->kind == kind && strcmp(e->str[0], name) == 0)
			return &b->idx[i];
	}
}

static struct bent *find(struct nssc_builder *b, uint32_t kind, const char *name)
{
	uint32_t *slot;

	if (b->idx_slots == 0)
		return NULL;
	slot = idx_slot(b, kind, name);
	return *slot ? &b->ent[*slot - 1] : NULL;
}

/* Room in the index for one more entry (rebuilt twice as large when half full) */
static int idx_reserve(struct nssc_builder *b)
{
	size_t slots = b->idx_slots ? b->idx_slots : 64;
	uint32_t *old = b->idx;

	if (2 * (b->n + 1) <= b->idx_slots)
		return 0;
	while (2 * (b->n + 1) > slots)
		slots *= 2;
	b->idx = calloc(slots, sizeof(*b->idx));
	if (!b->idx) {
		b->idx = old;
		return -ENOMEM;
	}
	b->idx_slots = slots;
	for (size_t i = 0; i < b->n; i++)
		*idx_slot(b, b->ent[i].kind, b->ent[i].str[0]) = (uint32_t)(i + 1);
	free(old);
	return 0;
}

static size_t str_size(const char *s)
{
	return 2 + strlen(s) + 1;
}

static size_t align4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static int add_ent(struct nssc_builder *b, uint32_t kind, uint32_t id, uint32_t gid,
		   uint32_t expire, const char *const *s, uint32_t nstr)
{
	struct bent e = { .kind = kind, .id = id, .gid = gid, .expire = expire };
	size_t sz = REC_HEAD_V2; /* the larger head: the bound holds for both */

	if (idx_reserve(b) < 0)
		return -ENOMEM;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct bent *p = realloc(b->ent, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		b->ent = p;
		b->cap = cap;
	}
	e.str = calloc(nstr, sizeof(char *));
	e.cap = nstr;
	if (!e.str)
		return -ENOMEM;
	for (uint32_t i = 0; i < nstr; i++) {
		e.str[i] = strdup(s[i] ? s[i] : "");
		e.nstr = i + 1;
		if (!e.str[i]) {
			bent_clear(&e);
			return -ENOMEM;
		}
		sz += str_size(e.str[i]);
	}
	if (b->bytes + align4(sz) > NSSC_MAX_FILE / 2) {
		bent_clear(&e);
		return -E2BIG;
	}
	b->bytes += align4(sz);
	b->ent[b->n++] = e;
	*idx_slot(b, kind, e.str[0]) = (uint32_t)b->n;
	return 0;
}

int nssc_builder_add_passwd(struct nssc_builder *b, const char *name, uid_t uid, gid_t gid,
			    const char *gecos, const char *home, const char *shell)
{
	return nssc_builder_add_passwd_exp(b, name, uid, gid, gecos, home, shell, 0);
}

int nssc_builder_add_passwd_exp(struct nssc_builder *b, const char *name, uid_t uid, gid_t gid,
				const char *gecos, const char *home, const char *shell,
				uint32_t expire)
{
	const char *s[4] = { name, gecos, home, shell };
	int r;

	if (!str_ok(name, true) || !str_ok(gecos, false) || !str_ok(home, false) ||
	    !str_ok(shell, false))
		return -EINVAL;
	if (find(b, KIND_PW, name))
		return -EEXIST;
	r = add_ent(b, KIND_PW, uid, gid, expire, s, 4);
	if (r == 0)
		b->n_pw++;
	if (r == 0 && expire)
		b->v2 = true;
	return r;
}

int nssc_builder_add_group(struct nssc_builder *b, const char *name, gid_t gid)
{
	return nssc_builder_add_group_exp(b, name, gid, 0);
}

int nssc_builder_add_group_exp(struct nssc_builder *b, const char *name, gid_t gid, uint32_t expire)
{
	const char *s[1] = { name };
	int r;

	if (!str_ok(name, true))
		return -EINVAL;
	if (find(b, KIND_GR, name))
		return -EEXIST;
	r = add_ent(b, KIND_GR, gid, 0, expire, s, 1);
	if (r == 0)
		b->n_gr++;
	if (r == 0 && expire)
		b->v2 = true;
	return r;
}

/* The slot of member in the group ent (1 + its position) in the member
 * index: its own, or the empty one where it would go */
static struct mslot *mem_slot(const struct nssc_builder *b, uint32_t ent, const char *member)
{
	size_t mask = b->midx_slots - 1;
	size_t i = fnv1a(member, strlen(member), 2166136261u ^ (ent * 2654435761u)) & mask;

	for (;; i = (i + 1) & mask) {
		struct mslot *m = &b->midx[i];

		if (m->ent == 0 ||
		    (m->ent == ent && strcmp(b->ent[ent - 1].str[m->mem], member) == 0))
			return m;
	}
}

/* Room in the member index for one more member (rebuilt twice as large
 * when half full) */
static int mem_reserve(struct nssc_builder *b)
{
	size_t slots = b->midx_slots ? b->midx_slots : 64;
	struct mslot *old = b->midx;

	if (2 * (b->n_members + 1) <= b->midx_slots)
		return 0;
	while (2 * (b->n_members + 1) > slots)
		slots *= 2;
	b->midx = calloc(slots, sizeof(*b->midx));
	if (!b->midx) {
		b->midx = old;
		return -ENOMEM;
	}
	b->midx_slots = slots;
	for (size_t i = 0; i < b->n; i++) {
		const struct bent *g = &b->ent[i];

		for (uint32_t k = 1; g->kind == KIND_GR && k < g->nstr; k++)
			*mem_slot(b, (uint32_t)(i + 1), g->str[k]) =
				(struct mslot){ .ent = (uint32_t)(i + 1), .mem = k };
	}
	free(old);
	return 0;
}

int nssc_builder_add_member(struct nssc_builder *b, const char *group, const char *member)
{
	struct bent *e;
	uint32_t ent;
	char **p;
	char *m;

	if (!str_ok(member, true) || strchr(member, ','))
		return -EINVAL;
	e = find(b, KIND_GR, group);
	if (!e)
		return -ENOENT;
	ent = (uint32_t)(e - b->ent) + 1;
	if (b->midx_slots && mem_slot(b, ent, member)->ent)
		return 0; /* already a member */
	if (e->nstr > NSSC_MAX_MEMBERS)
		return -E2BIG;
	if (b->bytes + str_size(member) + 4 > NSSC_MAX_FILE / 2)
		return -E2BIG;
	if (mem_reserve(b) < 0)
		return -ENOMEM;
	if (e->nstr == e->cap) {
		uint32_t cap = e->cap < 4 ? 4 : 2 * e->cap;

		p = realloc(e->str, (size_t)cap * sizeof(char *));
		if (!p)
			return -ENOMEM;
		e->str = p;
		e->cap = cap;
	}
	m = strdup(member);
	if (!m)
		return -ENOMEM;
	e->str[e->nstr++] = m;
	*mem_slot(b, ent, member) = (struct mslot){ .ent = ent, .mem = e->nstr - 1 };
	b->n_members++;
	b->bytes += str_size(member) + 4; /* a bound: alignment may add up to 3 */
	return 0;
}

static uint32_t slots_for(size_t n)
{
	uint32_t s = 8;

	while (s < 2 * n)
		s *= 2;
	return s;
}

static void table_put(uint8_t *file, uint32_t tab, uint32_t slots, uint32_t h, uint32_t off)
{
	uint32_t mask = slots - 1;

	for (uint32_t i = 0; i < slots; i++) {
		uint8_t *slot = file + tab + 4 * ((h + i) & mask);

		if (get32(slot) == 0) {
			put32(slot, off);
			return;
		}
	}
	abort(); /* unreachable: slots >= 2 n */
}

int nssc_builder_finish(struct nssc_builder *b, uint8_t **ret, size_t *ret_len)
{
	uint32_t pw_slots = slots_for(b->n_pw), gr_slots = slots_for(b->n_gr);
	size_t head = b->v2 ? REC_HEAD_V2 : REC_HEAD;
	size_t tabs = 4 * (2 * (size_t)pw_slots + 2 * (size_t)gr_slots);
	size_t data_off = NSSC_HEADER_SIZE + tabs, size, o;
	uint8_t *f;

	/* exact size of the records */
	size = 0;
	for (size_t i = 0; i < b->n; i++) {
		size_t sz = head;

		for (uint32_t k = 0; k < b->ent[i].nstr; k++)
			sz += str_size(b->ent[i].str[k]);
		size += align4(sz);
	}
	if (data_off + size > NSSC_MAX_FILE)
		return -E2BIG;
	f = calloc(1, data_off + size);
	if (!f)
		return -ENOMEM;
	memcpy(f, NSSC_MAGIC, 8);
	/* a file without expiries stays version 1, readable by older modules */
	put32(f + 8, b->v2 ? NSSC_VERSION : NSSC_VERSION_1);
	put32(f + 12, 0);
	put32(f + 20, (uint32_t)(data_off + size));
	put32(f + 24, (uint32_t)b->n_pw);
	put32(f + 28, (uint32_t)b->n_gr);
	put32(f + 32, pw_slots);
	put32(f + 36, gr_slots);
	put32(f + 40, NSSC_HEADER_SIZE);
	put32(f + 44, NSSC_HEADER_SIZE + 4 * pw_slots);
	put32(f + 48, NSSC_HEADER_SIZE + 8 * pw_slots);
	put32(f + 52, NSSC_HEADER_SIZE + 8 * pw_slots + 4 * gr_slots);
	put32(f + 56, (uint32_t)data_off);
	put32(f + 60, (uint32_t)size);
	o = data_off;
	for (size_t i = 0; i < b->n; i++) {
		struct bent *e = &b->ent[i];
		size_t start = o;

		put32(f + o, e->kind);
		put32(f + o + 4, e->id);
		put32(f + o + 8, e->gid);
		if (b->v2) {
			put32(f + o + 12, e->expire);
			put32(f + o + 16, e->nstr);
		} else {
			put32(f + o + 12, e->nstr);
		}
		o += head;
		for (uint32_t k = 0; k < e->nstr; k++) {
			size_t n = strlen(e->str[k]);

			put16(f + o, (uint16_t)n);
			memcpy(f + o + 2, e->str[k], n + 1);
			o += 2 + n + 1;
		}
		o = align4(o);
		if (e->kind == KIND_PW) {
			table_put(f, get32(f + 40), pw_slots, hash_name(e->str[0]),
				  (uint32_t)start);
			table_put(f, get32(f + 44), pw_slots, hash_id(e->id), (uint32_t)start);
		} else {
			table_put(f, get32(f + 48), gr_slots, hash_name(e->str[0]),
				  (uint32_t)start);
			table_put(f, get32(f + 52), gr_slots, hash_id(e->id), (uint32_t)start);
		}
	}
	put32(f + 16, fnv1a(f + 20, data_off + size - 20, 2166136261u));
	*ret = f;
	*ret_len = data_off + size;
	return 0;
}

/* ================================================================ reader */
int nssc_open(const void *base, size_t len, struct nssc_view *ret)
{
	const uint8_t *f = base;
	struct nssc_view v = { .base = f, .len = len };
	uint64_t tabs_end;
	uint32_t fsize, data_size;

	if (!f || len < NSSC_HEADER_SIZE || len > NSSC_MAX_FILE)
		return -EBADMSG;
	if (memcmp(f, NSSC_MAGIC, 8) != 0 ||
	    (get32(f + 8) != NSSC_VERSION && get32(f + 8) != NSSC_VERSION_1))
		return -EBADMSG;
	v.version = get32(f + 8);
	v.rec_head = v.version == NSSC_VERSION_1 ? REC_HEAD : REC_HEAD_V2;
	fsize = get32(f + 20);
	if (fsize != len)
		return -EBADMSG;
	if (get32(f + 16) != fnv1a(f + 20, len - 20, 2166136261u))
		return -EBADMSG;
	v.n_pw = get32(f + 24);
	v.n_gr = get32(f + 28);
	v.pw_slots = get32(f + 32);
	v.gr_slots = get32(f + 36);
	v.pw_byname = get32(f + 40);
	v.pw_byuid = get32(f + 44);
	v.gr_byname = get32(f + 48);
	v.gr_bygid = get32(f + 52);
	v.data_off = get32(f + 56);
	data_size = get32(f + 60);
	/* table sizes: powers of two, with room (a probe always meets an empty
	 * slot or ends after `slots` probes anyway) */
	if (v.pw_slots == 0 || (v.pw_slots & (v.pw_slots - 1)) || v.pw_slots > len / 4 ||
	    v.gr_slots == 0 || (v.gr_slots & (v.gr_slots - 1)) || v.gr_slots > len / 4)
		return -EBADMSG;
	if (v.n_pw > v.pw_slots || v.n_gr > v.gr_slots)
		return -EBADMSG;
	/* the four tables in their fixed places, then the data to the end */
	if (v.pw_byname != NSSC_HEADER_SIZE || v.pw_byuid != v.pw_byname + 4 * v.pw_slots ||
	    v.gr_byname != v.pw_byuid + 4 * v.pw_slots ||
	    v.gr_bygid != v.gr_byname + 4 * v.gr_slots)
		return -EBADMSG;
	tabs_end = (uint64_t)v.gr_bygid + 4 * (uint64_t)v.gr_slots;
	if (v.data_off != tabs_end || (uint64_t)v.data_off + data_size != len)
		return -EBADMSG;
	v.data_end = (uint32_t)len;
	/* every slot empty or a 4-aligned offset of a record head in the data;
	 * each table holds as many entries as the header counts */
	for (int t = 0; t < 4; t++) {
		uint32_t tab = t == 0 ? v.pw_byname :
			       t == 1 ? v.pw_byuid :
			       t == 2 ? v.gr_byname :
					v.gr_bygid;
		uint32_t slots = t < 2 ? v.pw_slots : v.gr_slots, used = 0;

		for (uint32_t i = 0; i < slots; i++) {
			uint32_t s = get32(f + tab + 4 * i);

			if (s == 0)
				continue;
			if (s < v.data_off || (s & 3) || (uint64_t)s + v.rec_head > len)
				return -EBADMSG;
			used++;
		}
		if (used != (t < 2 ? v.n_pw : v.n_gr))
			return -EBADMSG;
	}
	*ret = v;
	return 0;
}

bool nssc_stale(const struct nssc_view *v)
{
	return __atomic_load_n((const uint32_t *)(v->base + NSSC_STALE_OFFSET), __ATOMIC_ACQUIRE) !=
	       0;
}

/* One string at *off (within the data area): 0 and advances *off */
static int get_str(const struct nssc_view *v, uint64_t *off, struct nssc_str *ret)
{
	uint16_t n;

	if (*off + 2 > v->data_end)
		return -EBADMSG;
	n = get16(v->base + *off);
	if (n >= NSSC_MAX_STR || *off + 2 + n + 1 > v->data_end)
		return -EBADMSG;
	if (v->base[*off + 2 + n] != '\0' || memchr(v->base + *off + 2, '\0', n))
		return -EBADMSG;
	if (ret) {
		ret->p = (const char *)v->base + *off + 2;
		ret->len = n;
	}
	*off += 2 + (uint64_t)n + 1;
	return 0;
}

static int rec_pw(const struct nssc_view *v, uint32_t off, struct nssc_pw *ret)
{
	const uint8_t *p = v->base + off;
	uint64_t o = (uint64_t)off + v->rec_head;
	struct nssc_pw e;
	int r;

	if (off < v->data_off || (uint64_t)off + v->rec_head > v->data_end)
		return -EBADMSG;
	if (get32(p) != KIND_PW || get32(p + v->rec_head - 4) != 4)
		return -EBADMSG;
	e.uid = get32(p + 4);
	e.gid = get32(p + 8);
	e.expire = v->rec_head == REC_HEAD_V2 ? get32(p + 12) : 0;
	if ((r = get_str(v, &o, &e.name)) < 0 || (r = get_str(v, &o, &e.gecos)) < 0 ||
	    (r = get_str(v, &o, &e.home)) < 0 || (r = get_str(v, &o, &e.shell)) < 0)
		return r;
	if (e.name.len == 0)
		return -EBADMSG;
	*ret = e;
	return 0;
}

static int rec_gr(const struct nssc_view *v, uint32_t off, struct nssc_gr *ret)
{
	const uint8_t *p = v->base + off;
	uint64_t o = (uint64_t)off + v->rec_head;
	struct nssc_gr e;
	uint32_t nstr;
	int r;

	if (off < v->data_off || (uint64_t)off + v->rec_head > v->data_end)
		return -EBADMSG;
	nstr = get32(p + v->rec_head - 4);
	if (get32(p) != KIND_GR || nstr < 1 || nstr > NSSC_MAX_MEMBERS + 1)
		return -EBADMSG;
	e.gid = get32(p + 4);
	e.expire = v->rec_head == REC_HEAD_V2 ? get32(p + 12) : 0;
	r = get_str(v, &o, &e.name);
	if (r < 0)
		return r;
	if (e.name.len == 0)
		return -EBADMSG;
	e.n_mem = nstr - 1;
	e.mem_off = (uint32_t)o;
	/* every member within bounds now, so later walks need no checks to be
	 * safe (they keep them anyway) */
	for (uint32_t i = 0; i < e.n_mem; i++) {
		r = get_str(v, &o, NULL);
		if (r < 0)
			return r;
	}
	*ret = e;
	return 0;
}

int nssc_pw_byname(const struct nssc_view *v, const char *name, struct nssc_pw *ret)
{
	uint32_t mask = v->pw_slots - 1, h = hash_name(name);

	for (uint32_t i = 0; i < v->pw_slots; i++) {
		uint32_t off = get32(v->base + v->pw_byname + 4 * ((h + i) & mask));
		struct nssc_pw e;
		int r;

		if (off == 0)
			return -ENOENT;
		r = rec_pw(v, off, &e);
		if (r < 0)
			return r;
		if (strcmp(e.name.p, name) == 0) {
			*ret = e;
			return 0;
		}
	}
	return -ENOENT;
}

int nssc_pw_byuid(const struct nssc_view *v, uid_t uid, struct nssc_pw *ret)
{
	uint32_t mask = v->pw_slots - 1, h = hash_id(uid);

	for (uint32_t i = 0; i < v->pw_slots; i++) {
		uint32_t off = get32(v->base + v->pw_byuid + 4 * ((h + i) & mask));
		struct nssc_pw e;
		int r;

		if (off == 0)
			return -ENOENT;
		r = rec_pw(v, off, &e);
		if (r < 0)
			return r;
		if (e.uid == uid) {
			*ret = e;
			return 0;
		}
	}
	return -ENOENT;
}

int nssc_gr_byname(const struct nssc_view *v, const char *name, struct nssc_gr *ret)
{
	uint32_t mask = v->gr_slots - 1, h = hash_name(name);

	for (uint32_t i = 0; i < v->gr_slots; i++) {
		uint32_t off = get32(v->base + v->gr_byname + 4 * ((h + i) & mask));
		struct nssc_gr e;
		int r;

		if (off == 0)
			return -ENOENT;
		r = rec_gr(v, off, &e);
		if (r < 0)
			return r;
		if (strcmp(e.name.p, name) == 0) {
			*ret = e;
			return 0;
		}
	}
	return -ENOENT;
}

int nssc_gr_bygid(const struct nssc_view *v, gid_t gid, struct nssc_gr *ret)
{
	uint32_t mask = v->gr_slots - 1, h = hash_id(gid);

	for (uint32_t i = 0; i < v->gr_slots; i++) {
		uint32_t off = get32(v->base + v->gr_bygid + 4 * ((h + i) & mask));
		struct nssc_gr e;
		int r;

		if (off == 0)
			return -ENOENT;
		r = rec_gr(v, off, &e);
		if (r < 0)
			return r;
		if (e.gid == gid) {
			*ret = e;
			return 0;
		}
	}
	return -ENOENT;
}

int nssc_pw_next(const struct nssc_view *v, uint32_t *cursor, struct nssc_pw *ret)
{
	while (*cursor < v->pw_slots) {
		uint32_t off = get32(v->base + v->pw_byname + 4 * *cursor);

		(*cursor)++;
		if (off != 0)
			return rec_pw(v, off, ret);
	}
	return -ENOENT;
}

int nssc_gr_next(const struct nssc_view *v, uint32_t *cursor, struct nssc_gr *ret)
{
	while (*cursor < v->gr_slots) {
		uint32_t off = get32(v->base + v->gr_byname + 4 * *cursor);

		(*cursor)++;
		if (off != 0)
			return rec_gr(v, off, ret);
	}
	return -ENOENT;
}

int nssc_gr_member(const struct nssc_view *v, const struct nssc_gr *g, uint32_t i,
		   struct nssc_str *ret)
{
	uint64_t o = g->mem_off;
	int r;

	if (i >= g->n_mem)
		return -EBADMSG;
	for (uint32_t k = 0; k < i; k++) {
		r = get_str(v, &o, NULL);
		if (r < 0)
			return r;
	}
	return get_str(v, &o, ret);
}

bool nssc_gr_has_member(const struct nssc_view *v, const struct nssc_gr *g, const char *name)
{
	uint64_t o = g->mem_off;
	struct nssc_str s;

	for (uint32_t k = 0; k < g->n_mem; k++) {
		if (get_str(v, &o, &s) < 0)
			return false;
		if (strcmp(s.p, name) == 0)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------- packing */
static char *copy_str(char **pos, const struct nssc_str *s)
{
	char *d = *pos;

	memcpy(d, s->p, s->len);
	d[s->len] = '\0';
	*pos += s->len + 1;
	return d;
}

int nssc_pack_passwd(const struct nssc_pw *e, struct passwd *pwd, char *buf, size_t buflen)
{
	size_t need = (size_t)e->name.len + e->gecos.len + e->home.len + e->shell.len + 4 + 2;
	char *pos = buf;

	if (!buf || buflen < need)
		return -ERANGE;
	pwd->pw_name = copy_str(&pos, &e->name);
	/* "*", as SSSD answers: no password here, and none in /etc/shadow
	 * either (pam_unix's account stage looks for a shadow line only after
	 * "x", and would refuse a directory user who has none) */
	pwd->pw_passwd = pos;
	*pos++ = '*';
	*pos++ = '\0';
	pwd->pw_gecos = copy_str(&pos, &e->gecos);
	pwd->pw_dir = copy_str(&pos, &e->home);
	pwd->pw_shell = copy_str(&pos, &e->shell);
	pwd->pw_uid = e->uid;
	pwd->pw_gid = e->gid;
	return 0;
}

int nssc_pack_group(const struct nssc_view *v, const struct nssc_gr *e, struct group *grp,
		    char *buf, size_t buflen)
{
	size_t need = (size_t)e->name.len + 1 + 2, align, strs = 0;
	uint64_t o = e->mem_off;
	struct nssc_str s;
	char **mem, *pos;

	for (uint32_t k = 0; k < e->n_mem; k++) {
		if (get_str(v, &o, &s) < 0)
			return -EBADMSG;
		strs += (size_t)s.len + 1;
	}
	if (!buf)
		return -ERANGE;
	/* the member array first, aligned for a pointer */
	align = (sizeof(char *) - ((uintptr_t)buf % sizeof(char *))) % sizeof(char *);
	need += align + ((size_t)e->n_mem + 1) * sizeof(char *) + strs;
	if (buflen < need)
		return -ERANGE;
	mem = (char **)(void *)(buf + align);
	pos = (char *)(mem + e->n_mem + 1);
	grp->gr_name = copy_str(&pos, &e->name);
	grp->gr_passwd = pos;
	*pos++ = '*';
	*pos++ = '\0';
	o = e->mem_off;
	for (uint32_t k = 0; k < e->n_mem; k++) {
		if (get_str(v, &o, &s) < 0)
			return -EBADMSG;
		mem[k] = copy_str(&pos, &s);
	}
	mem[e->n_mem] = NULL;
	grp->gr_mem = mem;
	grp->gr_gid = e->gid;
	return 0;
}

bool nssc_expired(uint32_t expire, uint64_t now)
{
	return expire != 0 && now >= expire;
}

int nssc_pack_shadow(const struct nssc_pw *e, struct spwd *sp, char *buf, size_t buflen)
{
	size_t need = (size_t)e->name.len + 1 + 2;
	char *pos = buf;

	if (e->expire == 0)
		return -ENOENT; /* only entries with an expiry have a shadow entry */
	if (!buf || buflen < need)
		return -ERANGE;
	sp->sp_namp = copy_str(&pos, &e->name);
	/* no password: these accounts log in through pam_pertok only */
	sp->sp_pwdp = pos;
	*pos++ = '*';
	*pos++ = '\0';
	sp->sp_lstchg = -1;
	sp->sp_min = -1;
	sp->sp_max = -1;
	sp->sp_warn = -1;
	sp->sp_inact = -1;
	/* days since the epoch, rounded down: pam_unix refuses from the start
	 * of that day (never later than the exact expiry, which pam_pertok
	 * checks to the second) */
	sp->sp_expire = (long)(e->expire / 86400);
	sp->sp_flag = ~0ul;
	return 0;
}
