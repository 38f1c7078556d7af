/* SPDX-License-Identifier: MIT */
/* The NSS cache file: what tokend writes (the builder) and what
 * libnss_pertok reads (the validator and the look-ups). libc only.
 *
 * Layout (host byte order: the file never leaves the host; a foreign byte
 * order fails the magic/version check):
 *
 *   0  u8  magic[8]   "PTNSSC\0\0"
 *   8  u32 version    NSSC_VERSION
 *  12  u32 stale      0 while current; tokend sets it to 1 in the old file
 *                     (through a writable mapping) before renaming a new one
 *                     in, so a reader notices without a stat() per call
 *  16  u32 checksum   FNV-1a (32 bits) of bytes [20, file_size)
 *  20  u32 file_size
 *  24  u32 n_pw, n_gr
 *  32  u32 pw_slots, gr_slots         hash table sizes, powers of two
 *  40  u32 pw_byname, pw_byuid, gr_byname, gr_bygid   table offsets
 *  56  u32 data_off, data_size        the records
 *  64  tables (u32 slots: 0 = empty, else the file offset of a record)
 *      then records, each 4-aligned:
 *        u32 kind ('P' or 'G'), u32 id (uid/gid), u32 gid (P) or 0 (G),
 *        [version 2: u32 expire (unix s, 0 = never)],
 *        u32 nstr, then nstr strings {u16 len, bytes, NUL};
 *        P: name, gecos, home, shell; G: name, member...
 *
 * Versions: 1 (v0.1 on) and 2, which adds the expiry of remote principals
 * (pertok-rpo(7)): their passwd and group entries are not answered from
 * that second on, and their passwd entries have a shadow entry whose
 * sp_expire is that day. tokend writes version 1 while no entry expires
 * (older modules keep reading it) and version 2 otherwise; the reader takes
 * both and rejects any other version (an older module: "unavailable").
 *
 * Every offset and length is checked before use: nssc_open checks the header,
 * the checksum and that every slot points inside the data area; every look-up
 * decodes its record with bounds checks. A failure is -EBADMSG ("unavailable").
 */
#pragma once

#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NSSC_MAGIC "PTNSSC\0\0"
#define NSSC_VERSION 2u	  /* the newest */
#define NSSC_VERSION_1 1u /* without expiries */
#define NSSC_HEADER_SIZE 64u
#define NSSC_STALE_OFFSET 12u
/* bounds the builder keeps and the reader enforces */
#define NSSC_MAX_FILE (256u * 1024u * 1024u)
#define NSSC_MAX_STR 4096u
#define NSSC_MAX_MEMBERS 65536u

/* ---------------------------------------------------------------- writer */
struct nssc_builder;

int nssc_builder_new(struct nssc_builder **ret);
void nssc_builder_free(struct nssc_builder *b);
/* -EEXIST for a name already added (per kind), -EINVAL for a string that is
 * empty (name), too long or holds ':' or '\n' (it would break getent's
 * output), -ENOMEM */
int nssc_builder_add_passwd(struct nssc_builder *b, const char *name, uid_t uid, gid_t gid,
			    const char *gecos, const char *home, const char *shell);
/* members may repeat across calls: nssc_builder_add_member adds one name to
 * an existing group (no-op when already there), -ENOENT when no such group */
int nssc_builder_add_group(struct nssc_builder *b, const char *name, gid_t gid);
/* The same with an expiry (unix s; 0: none): makes the file version 2. */
int nssc_builder_add_passwd_exp(struct nssc_builder *b, const char *name, uid_t uid, gid_t gid,
				const char *gecos, const char *home, const char *shell,
				uint32_t expire);
int nssc_builder_add_group_exp(struct nssc_builder *b, const char *name, gid_t gid,
			       uint32_t expire);
int nssc_builder_add_member(struct nssc_builder *b, const char *group, const char *member);
/* The file's bytes (malloc'd) in *ret, size in *ret_len. */
int nssc_builder_finish(struct nssc_builder *b, uint8_t **ret, size_t *ret_len);

/* ---------------------------------------------------------------- reader */
struct nssc_view {
	const uint8_t *base;
	size_t len;
	uint32_t n_pw, n_gr;
	uint32_t pw_slots, gr_slots;
	uint32_t pw_byname, pw_byuid, gr_byname, gr_bygid;
	uint32_t data_off, data_end;
	uint32_t version;  /* NSSC_VERSION_1 or NSSC_VERSION */
	uint32_t rec_head; /* bytes before a record's strings */
};

struct nssc_str {
	const char *p; /* NUL-terminated inside the mapping */
	uint16_t len;
};

struct nssc_pw {
	struct nssc_str name, gecos, home, shell;
	uint32_t uid, gid;
	uint32_t expire; /* unix s; 0: never */
};

struct nssc_gr {
	struct nssc_str name;
	uint32_t gid;
	uint32_t expire; /* unix s; 0: never */
	uint32_t n_mem;
	uint32_t mem_off; /* offset of the first member string */
};

/* Validate base[0..len) as a cache file. 0 or -EBADMSG. */
int nssc_open(const void *base, size_t len, struct nssc_view *ret);
/* Has tokend marked this file replaced? (reads the mapped word) */
bool nssc_stale(const struct nssc_view *v);

/* 0, -ENOENT (absent), -EBADMSG (corrupt record) */
int nssc_pw_byname(const struct nssc_view *v, const char *name, struct nssc_pw *ret);
int nssc_pw_byuid(const struct nssc_view *v, uid_t uid, struct nssc_pw *ret);
int nssc_gr_byname(const struct nssc_view *v, const char *name, struct nssc_gr *ret);
int nssc_gr_bygid(const struct nssc_view *v, gid_t gid, struct nssc_gr *ret);
/* Enumeration: *cursor starts at 0; 0 with the next entry, -ENOENT at the end */
int nssc_pw_next(const struct nssc_view *v, uint32_t *cursor, struct nssc_pw *ret);
int nssc_gr_next(const struct nssc_view *v, uint32_t *cursor, struct nssc_gr *ret);
/* The i-th member of g (i < g->n_mem): 0 or -EBADMSG */
int nssc_gr_member(const struct nssc_view *v, const struct nssc_gr *g, uint32_t i,
		   struct nssc_str *ret);
/* Is name a member of g? */
bool nssc_gr_has_member(const struct nssc_view *v, const struct nssc_gr *g, const char *name);

/* Copy into the caller's struct and buffer (the NSS contract): 0, -ERANGE
 * (buf too short), -EBADMSG */
int nssc_pack_passwd(const struct nssc_pw *e, struct passwd *pwd, char *buf, size_t buflen);
int nssc_pack_group(const struct nssc_view *v, const struct nssc_gr *e, struct group *grp,
		    char *buf, size_t buflen);

/* Is an entry with this expiry gone at now (unix s)? */
bool nssc_expired(uint32_t expire, uint64_t now);
/* The shadow entry of a passwd entry with an expiry: 0, -ENOENT (it has
 * none), -ERANGE */
int nssc_pack_shadow(const struct nssc_pw *e, struct spwd *sp, char *buf, size_t buflen);
