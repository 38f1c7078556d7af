/* SPDX-License-Identifier: MIT */
/* The persistable-token store: AEAD, record JSON, files, the database, its import. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "history.h"
#include "store.h"
#include "util.h"

static const uint8_t key1[PT_STORE_KEYLEN] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[PT_STORE_KEYLEN] = "fedcba9876543210fedcba9876543210";

/* ------------------------------------------------------------------ helpers */

struct tmp {
	char dir[64];
	char tokens[96];
	char db[96];
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/pertok-test-store-XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->tokens, sizeof(t->tokens), "%s/tokens", t->dir);
	snprintf(t->db, sizeof(t->db), "%s/" PT_STORE_FILE, t->dir);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmp *t = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", t->dir);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

static char *xstrdup(const char *s)
{
	char *c = strdup(s);

	assert_non_null(c);
	return c;
}

static struct pt_record *mkrec(const char *user, const char *holder)
{
	struct pt_record *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(pt_record_new_id(r->id), 0);
	r->user = xstrdup(user);
	r->uid = 1000;
	r->gid = 100;
	r->groups = calloc(3, sizeof(char *));
	assert_non_null(r->groups);
	r->groups[0] = xstrdup("users");
	r->groups[1] = xstrdup("pertok");
	r->n_groups = 2;
	r->gecos = xstrdup("Alice Example,,,");
	r->home = xstrdup("/home/alice");
	r->shell = xstrdup("/bin/bash");
	r->holder = xstrdup(holder);
	r->actor = xstrdup("login");
	r->service = xstrdup("sshd");
	r->tty = xstrdup("pts/0");
	r->rhost = xstrdup("192.0.2.1");
	r->source_jti = xstrdup("jti-1");
	r->iat = 1700000000;
	r->exp = 1700000000 + 30 * 86400;
	return r;
}

static void read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
	assert_int_equal(pt_read_file(path, 64 * 1024 * 1024, ret, ret_len), 0);
}

static void write_all(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static size_t count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), k = strlen(suffix);
		if (de->d_name[0] != '.' && l >= k && strcmp(de->d_name + l - k, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static size_t count_hidden(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The documented file name: hex(SHA-256(user "\0" holder)[0..16]) ".tok" */
static void slot_path(const struct tmp *t, const char *user, const char *holder, char *buf,
		      size_t len)
{
	uint8_t md[32], in[512];
	unsigned mdlen = 0;
	size_t ul = strlen(user), hl = strlen(holder);
	char hex[33];

	memcpy(in, user, ul + 1);
	memcpy(in + ul + 1, holder, hl);
	assert_int_equal(EVP_Digest(in, ul + 1 + hl, md, &mdlen, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(buf, len, "%s/%s.tok", t->tokens, hex);
}

static void assert_records_equal(const struct pt_record *a, const struct pt_record *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->user, b->user);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->n_groups, b->n_groups);
	for (size_t i = 0; i < a->n_groups; i++)
		assert_string_equal(a->groups[i], b->groups[i]);
	assert_string_equal(a->gecos, b->gecos);
	assert_string_equal(a->home, b->home);
	assert_string_equal(a->shell, b->shell);
	assert_string_equal(a->holder, b->holder);
	assert_string_equal(a->actor, b->actor);
#define NSTR_EQ(x, y)                                  \
	do {                                           \
		if ((x) || (y)) {                      \
			assert_non_null(x);            \
			assert_non_null(y);            \
			assert_string_equal((x), (y)); \
		}                                      \
	} while (0)
	NSTR_EQ(a->service, b->service);
	NSTR_EQ(a->tty, b->tty);
	NSTR_EQ(a->rhost, b->rhost);
	NSTR_EQ(a->source_jti, b->source_jti);
	assert_int_equal(a->iat, b->iat);
	assert_int_equal(a->exp, b->exp);
	assert_int_equal(a->last_used, b->last_used);
	assert_int_equal(a->uses, b->uses);
}

/* ------------------------------------------------------------------ AEAD */

static void test_aead(void **state)
{
	static const char msg[] = "the quick brown fox";
	uint8_t *blob = NULL, *blob2 = NULL, *out = NULL;
	size_t bloblen = 0, bloblen2 = 0, outlen = 0;

	assert_int_equal(pt_aead_seal(key1, "aad", 3, msg, sizeof(msg), &blob, &bloblen), 0);
	assert_int_equal(bloblen, 4 + 12 + sizeof(msg) + 16);
	assert_memory_equal(blob, "PTK1", 4);
	assert_int_equal(pt_aead_open(key1, "aad", 3, blob, bloblen, &out, &outlen), 0);
	assert_int_equal(outlen, sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	free(out);
	out = NULL;

	/* random nonce: the same plaintext seals differently */
	assert_int_equal(pt_aead_seal(key1, "aad", 3, msg, sizeof(msg), &blob2, &bloblen2), 0);
	assert_int_equal(bloblen2, bloblen);
	assert_memory_not_equal(blob + 4, blob2 + 4, 12);
	free(blob2);

	/* every single-byte flip, anywhere, fails */
	for (size_t i = 0; i < bloblen; i++) {
		blob[i] ^= 0x01;
		outlen = 12345;
		assert_int_equal(pt_aead_open(key1, "aad", 3, blob, bloblen, &out, &outlen),
				 -EBADMSG);
		assert_null(out);
		assert_int_equal(outlen, 12345); /* untouched */
		blob[i] ^= 0x01;
	}
	/* wrong aad, wrong key, truncated, extended */
	assert_int_equal(pt_aead_open(key1, "aae", 3, blob, bloblen, &out, &outlen), -EBADMSG);
	assert_int_equal(pt_aead_open(key1, NULL, 0, blob, bloblen, &out, &outlen), -EBADMSG);
	assert_int_equal(pt_aead_open(key2, "aad", 3, blob, bloblen, &out, &outlen), -EBADMSG);
	for (size_t n = 0; n < bloblen; n++)
		assert_int_equal(pt_aead_open(key1, "aad", 3, blob, n, &out, &outlen), -EBADMSG);
	{
		uint8_t *longer = malloc(bloblen + 1);
		assert_non_null(longer);
		memcpy(longer, blob, bloblen);
		longer[bloblen] = 0;
		assert_int_equal(pt_aead_open(key1, "aad", 3, longer, bloblen + 1, &out, &outlen),
				 -EBADMSG);
		free(longer);
	}
	assert_null(out);
	free(blob);

	/* empty plaintext and empty aad */
	assert_int_equal(pt_aead_seal(key1, NULL, 0, NULL, 0, &blob, &bloblen), 0);
	assert_int_equal(bloblen, 32);
	assert_int_equal(pt_aead_open(key1, NULL, 0, blob, bloblen, &out, &outlen), 0);
	assert_int_equal(outlen, 0);
	free(out);
	free(blob);
}

/* ------------------------------------------------------------------ ids and JSON */

static void test_record_id(void **state)
{
	char a[PT_ID_LEN], b[PT_ID_LEN];

	assert_int_equal(pt_record_new_id(a), 0);
	assert_int_equal(pt_record_new_id(b), 0);
	assert_int_equal(strlen(a), 25);
	assert_memory_equal(a, "pt_", 3);
	assert_string_not_equal(a, b);
	for (size_t i = 3; i < 25; i++)
		assert_non_null(strchr(
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
}

static void test_record_roundtrip(void **state)
{
	struct pt_record *r = mkrec("alice", "atd"), *back = NULL;
	char *json = NULL, *json2 = NULL;

	assert_int_equal(pt_record_to_json(r, &json), 0);
	assert_int_equal(pt_record_from_json(json, strlen(json), &back), 0);
	assert_records_equal(r, back);
	assert_int_equal(pt_record_to_json(back, &json2), 0);
	assert_string_equal(json, json2);
	pt_record_free(back);
	free(json);
	free(json2);

	/* optional fields absent; no groups; usage counters */
	free(r->tty);
	free(r->rhost);
	free(r->service);
	free(r->source_jti);
	r->tty = r->rhost = r->service = r->source_jti = NULL;
	for (size_t i = 0; i < r->n_groups; i++)
		free(r->groups[i]);
	r->n_groups = 0;
	r->uses = 7;
	r->last_used = 1700001234;
	assert_int_equal(pt_record_to_json(r, &json), 0);
	assert_non_null(strstr(json, "\"tty\":null"));
	assert_non_null(strstr(json, "\"groups\":[]"));
	assert_int_equal(pt_record_from_json(json, strlen(json), &back), 0);
	assert_records_equal(r, back);
	assert_null(back->tty);
	assert_int_equal(back->uses, 7);
	pt_record_free(back);
	free(json);

	/* to_json refuses what from_json would refuse */
	r->id[5] = '!';
	assert_int_equal(pt_record_to_json(r, &json), -EINVAL);
	assert_int_equal(pt_record_new_id(r->id), 0);
	r->exp = r->iat - 1;
	assert_int_equal(pt_record_to_json(r, &json), -EINVAL);
	r->exp = r->iat;
	free(r->user);
	r->user = xstrdup("bad user");
	assert_int_equal(pt_record_to_json(r, &json), -EINVAL);
	pt_record_free(r);
	pt_record_free(NULL);
}

/* A record written before delegation existed (tests/unit/data, as v0.3
 * wrote it: no "delegations") loads, with no chain, and is written back the
 * same; delegating it keeps the old holder in the chain, which survives the
 * JSON; malformed chains are refused. */
static void test_record_delegation(void **state)
{
	const char *top = getenv("top_srcdir");
	struct pt_record *r = NULL, *c = NULL, *back = NULL;
	char path[PATH_MAX], *json = NULL;
	uint8_t *old;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/unit/data/record-v0.3.json", top ? top : "..");
	read_all(path, &old, &len);
	while (len > 0 && old[len - 1] == '\n')
		len--;
	assert_int_equal(pt_record_from_json((const char *)old, len, &r), 0);
	assert_int_equal(r->n_chain, 0);
	assert_null(r->chain);
	assert_string_equal(r->holder, "atd");
	assert_int_equal(pt_record_to_json(r, &json), 0);
	assert_int_equal(strlen(json), len);
	assert_memory_equal(json, old, len); /* never delegated: written as before */
	free(json);

	/* a packed record is never changed in place: its copy is */
	assert_int_equal(pt_record_compact(r), 0);
	assert_int_equal(pt_record_delegate(r, "cron", "alice", 1700000600), -EINVAL);
	assert_int_equal(pt_record_copy(r, &c), 0);
	assert_int_equal(c->uses, 3);
	assert_int_equal(pt_record_delegate(c, "cron", "alice", 1700000600), 0);
	assert_int_equal(pt_record_delegate(c, "systemd", "root", 1700000700), 0);
	assert_string_equal(c->holder, "systemd");
	assert_int_equal(c->n_chain, 2);
	assert_string_equal(c->chain[0].holder, "atd");
	assert_string_equal(c->chain[0].by, "alice");
	assert_int_equal(c->chain[0].at, 1700000600);
	assert_string_equal(c->chain[1].holder, "cron");
	assert_string_equal(c->chain[1].by, "root");
	assert_int_equal(pt_record_to_json(c, &json), 0);
	assert_non_null(strstr(json, "\"delegations\":[{\"holder\":\"atd\",\"by\":\"alice\","
				     "\"at\":1700000600},{\"holder\":\"cron\""));
	assert_int_equal(pt_record_from_json(json, strlen(json), &back), 0);
	assert_int_equal(back->n_chain, 2);
	assert_string_equal(back->chain[1].by, "root");
	assert_string_equal(back->holder, "systemd");
	pt_record_free(back);
	/* a chain entry naming a member twice is refused, not read as the last */
	{
		char *at = strstr(json, "\"at\":1700000600}"), *dup;

		assert_non_null(at);
		assert_true(asprintf(&dup, "%.*s\"at\":1,%s", (int)(at - json), json, at) > 0);
		back = NULL;
		assert_int_equal(pt_record_from_json(dup, strlen(dup), &back), -EINVAL);
		assert_null(back);
		free(dup);
	}
	/* the store's packed copy keeps the chain */
	assert_int_equal(pt_record_compact_copy(c, &back), 0);
	assert_string_equal(back->chain[0].holder, "atd");
	pt_record_free(back);
	free(json);
	/* bounded */
	while (c->n_chain < PT_MAX_DELEGATIONS)
		assert_int_equal(pt_record_delegate(c, c->n_chain % 2 ? "a" : "b", "root", 1), 0);
	assert_int_equal(pt_record_delegate(c, "cron", "root", 1), -E2BIG);
	assert_int_equal(pt_record_delegate(c, "bad name", "root", 1), -EINVAL);
	pt_record_free(c);
	c = NULL;

	/* malformed chains: each refused */
	{
		static const char *const bad[] = {
			"[]",
			"{}",
			"[{\"holder\":\"atd\",\"by\":\"alice\"}]",
			"[{\"holder\":\"atd\",\"by\":\"alice\",\"at\":1,\"x\":1}]",
			"[{\"holder\":\"at d\",\"by\":\"alice\",\"at\":1}]",
			"[{\"holder\":\"atd\",\"by\":\"\",\"at\":1}]",
			"[{\"holder\":\"atd\",\"by\":\"alice\",\"at\":-1}]",
			"[{\"holder\":\"atd\",\"by\":\"alice\",\"at\":\"1\"}]",
			"[\"atd\"]",
		};
		char doc[4096];

		for (size_t i = 0; i < PT_ELEMENTSOF(bad); i++) {
			snprintf(doc, sizeof(doc), "%.*s,\"delegations\":%s}", (int)(len - 1),
				 (const char *)old, bad[i]);
			if (pt_record_from_json(doc, strlen(doc), &back) != -EINVAL)
				fail_msg("accepted: %s", bad[i]);
		}
		snprintf(doc, sizeof(doc), "%.*s,\"delegations\":[", (int)(len - 1),
			 (const char *)old);
		for (size_t i = 0; i <= PT_MAX_DELEGATIONS; i++)
			snprintf(doc + strlen(doc), sizeof(doc) - strlen(doc),
				 "%s{\"holder\":\"atd\",\"by\":\"alice\",\"at\":1}", i ? "," : "");
		snprintf(doc + strlen(doc), sizeof(doc) - strlen(doc), "]}");
		assert_int_equal(pt_record_from_json(doc, strlen(doc), &back), -EINVAL);
	}
	pt_record_free(r);
	free(old);
}

/* pt_store_move: the token leaves its slot for the new holder's in one
 * commit, keeps its id and chain across a reopen, and never takes a slot
 * that another token holds. */
static void test_store_move(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *b = mkrec("alice", "cron"), *m = NULL;
	struct pt_record *found;
	char id[PT_ID_LEN];

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	memcpy(id, a->id, PT_ID_LEN);
	assert_int_equal(pt_store_put(s, a, NULL), 0);
	assert_int_equal(pt_store_put(s, b, NULL), 0);
	/* the slot (alice, cron) is taken */
	assert_int_equal(pt_record_copy(a, &m), 0);
	assert_int_equal(pt_record_delegate(m, "cron", "alice", 1700000001), 0);
	assert_int_equal(pt_store_move(s, m), -EEXIST);
	assert_ptr_equal(pt_store_find_slot(s, "alice", "atd"), a);
	pt_record_free(m);
	/* to systemd: the atd slot is free again */
	assert_int_equal(pt_record_copy(a, &m), 0);
	assert_int_equal(pt_record_delegate(m, "systemd", "root", 1700000002), 0);
	assert_int_equal(pt_store_move(s, m), 0);
	assert_null(pt_store_find_slot(s, "alice", "atd"));
	assert_ptr_equal(pt_store_find_slot(s, "alice", "systemd"), m);
	assert_ptr_equal(pt_store_find_id(s, id), m);
	assert_int_equal(pt_store_count(s), 2);
	/* the same slot, or an id the store lacks */
	assert_int_equal(pt_record_copy(m, &a), 0);
	assert_int_equal(pt_store_move(s, a), -EINVAL);
	assert_int_equal(pt_record_new_id(a->id), 0);
	assert_int_equal(pt_record_delegate(a, "cron2", "root", 1700000003), 0);
	assert_int_equal(pt_store_move(s, a), -ENOENT);
	pt_record_free(a);
	pt_store_free(s);

	/* durable: a reopen finds it in the new slot with its chain */
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_count(s), 2);
	assert_null(pt_store_find_slot(s, "alice", "atd"));
	found = pt_store_find_slot(s, "alice", "systemd");
	assert_non_null(found);
	assert_string_equal(found->id, id);
	assert_int_equal(found->n_chain, 1);
	assert_string_equal(found->chain[0].holder, "atd");
	assert_string_equal(found->chain[0].by, "root");
	assert_int_equal(found->chain[0].at, 1700000002);
	assert_non_null(pt_store_find_slot(s, "alice", "cron"));
	pt_store_free(s);
}

/* Variants of a valid record: each must be rejected. */
enum mut {
	SET,
	DEL
};
static const struct {
	enum mut op;
	const char *key;
	const char *value; /* JSON text */
} bad_json[] = {
	{ DEL, "v", NULL },
	{ DEL, "id", NULL },
	{ DEL, "user", NULL },
	{ DEL, "uid", NULL },
	{ DEL, "groups", NULL },
	{ DEL, "gecos", NULL },
	{ DEL, "tty", NULL }, /* nullable, but required */
	{ DEL, "uses", NULL },
	{ SET, "extra", "1" },
	{ SET, "v", "2" },
	{ SET, "v", "\"1\"" },
	{ SET, "id", "\"pt_AAAAAAAAAAAAAAAAAAAAA\"" },	 /* 21 chars */
	{ SET, "id", "\"pt_AAAAAAAAAAAAAAAAAAAAAAA\"" }, /* 23 chars */
	{ SET, "id", "\"pt_AAAAAAAAAAAAAAAAAAAAAB\"" },	 /* non-zero trailing bits */
	{ SET, "id", "\"pt_AAAAAAAAAAAAAAAAAAAA+A\"" },	 /* not base64url */
	{ SET, "id", "\"xx_AAAAAAAAAAAAAAAAAAAAAA\"" },
	{ SET, "id", "null" },
	{ SET, "user", "\"\"" },
	{ SET, "user", "\"al ice\"" },
	{ SET, "user", "\"al\\u0000ice\"" },
	{ SET, "user", "\"-alice\"" },
	{ SET, "user", "5" },
	{ SET, "user", "null" },
	{ SET, "holder", "\"a/b\"" },
	{ SET, "actor", "[]" },
	{ SET, "uid", "\"1000\"" },
	{ SET, "uid", "-1" },
	{ SET, "uid", "4294967295" },
	{ SET, "uid", "1000.0" },
	{ SET, "gid", "1e3" },
	{ SET, "iat", "18446744073709551615" },
	{ SET, "exp", "9223372036854775808" },
	{ SET, "exp", "1" }, /* before iat */
	{ SET, "uses", "4294967296" },
	{ SET, "last_used", "true" },
	{ SET, "groups", "\"users\"" },
	{ SET, "groups", "[1]" },
	{ SET, "groups", "[\"\"]" },
	{ SET, "groups", "[\"a\\nb\"]" },
	{ SET, "groups", "[[\"users\"]]" },
	{ SET, "groups", "null" },
	{ SET, "gecos", "null" },
	{ SET, "gecos", "\"line\\nbreak\"" },
	{ SET, "home", "{}" },
	{ SET, "tty", "\"\\u0007\"" },
	{ SET, "rhost", "42" },
	{ SET, "source_jti", "false" },
};

static char *mutate(const char *base, size_t i)
{
	json_object *o = json_tokener_parse(base), *v = NULL;
	char *out;

	assert_non_null(o);
	if (bad_json[i].op == DEL)
		json_object_object_del(o, bad_json[i].key);
	else {
		if (strcmp(bad_json[i].value, "null") != 0) {
			v = json_tokener_parse(bad_json[i].value);
			assert_non_null(v);
		}
		json_object_object_add(o, bad_json[i].key, v);
	}
	out = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}

static void test_record_strict(void **state)
{
	struct pt_record *r = mkrec("alice", "atd"), *back = (struct pt_record *)0x1;
	char *base = NULL, buf[8192];
	static const char *const raw_bad[] = {
		"", "[]", "null", "{}", "\"pt_x\"", "{\"v\":1",
	};
	int n;

	assert_int_equal(pt_record_to_json(r, &base), 0);
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		char *j = mutate(base, i);
		int rc = pt_record_from_json(j, strlen(j), &back);
		if (rc != -EINVAL || back != (struct pt_record *)0x1)
			fail_msg("bad_json %zu (%s %s) accepted: %s", i, bad_json[i].key,
				 bad_json[i].value ? bad_json[i].value : "", j);
		free(j);
	}
	for (size_t i = 0; i < sizeof(raw_bad) / sizeof(raw_bad[0]); i++)
		assert_int_equal(pt_record_from_json(raw_bad[i], strlen(raw_bad[i]), &back),
				 -EINVAL);

	/* trailing garbage and embedded NUL bytes are refused, whitespace is fine */
	n = snprintf(buf, sizeof(buf), "%s x", base);
	assert_int_equal(pt_record_from_json(buf, (size_t)n, &back), -EINVAL);
	n = snprintf(buf, sizeof(buf), "%s{}", base);
	assert_int_equal(pt_record_from_json(buf, (size_t)n, &back), -EINVAL);
	n = snprintf(buf, sizeof(buf), "%s", base);
	buf[n] = '\0';
	assert_int_equal(pt_record_from_json(buf, (size_t)n + 1, &back), -EINVAL);
	/* a truncated record */
	assert_int_equal(pt_record_from_json(base, strlen(base) - 1, &back), -EINVAL);
	/* invalid UTF-8 */
	n = snprintf(buf, sizeof(buf), "%s", base);
	{
		char *g = strstr(buf, "Alice");
		assert_non_null(g);
		g[0] = (char)0xff;
	}
	assert_int_equal(pt_record_from_json(buf, (size_t)n, &back), -EINVAL);
	/* deep nesting */
	memset(buf, '[', 4000);
	assert_int_equal(pt_record_from_json(buf, 4000, &back), -EINVAL);
	assert_ptr_equal(back, (struct pt_record *)0x1);

	n = snprintf(buf, sizeof(buf), "\n %s \n", base);
	assert_int_equal(pt_record_from_json(buf, (size_t)n, &back), 0);
	assert_records_equal(r, back);
	pt_record_free(back);

	/* UTF-8 in gecos is fine */
	free(r->gecos);
	r->gecos = xstrdup("J\xc3\xbcrgen M\xc3\xbcller");
	free(base);
	assert_int_equal(pt_record_to_json(r, &base), 0);
	assert_int_equal(pt_record_from_json(base, strlen(base), &back), 0);
	assert_string_equal(back->gecos, r->gecos);
	pt_record_free(back);

	free(base);
	pt_record_free(r);
}

/* ------------------------------------------------------------------ files */

static void test_read_file(void **state)
{
	struct tmp *t = *state;
	char path[128];
	uint8_t *p = (uint8_t *)0x1, data[100];
	size_t n = 99;

	snprintf(path, sizeof(path), "%s/f", t->dir);
	assert_int_equal(pt_read_file(path, 100, &p, &n), -ENOENT);
	memset(data, 'x', sizeof(data));
	write_all(path, data, 100);
	assert_int_equal(pt_read_file(path, 99, &p, &n), -EFBIG);
	assert_ptr_equal(p, (uint8_t *)0x1);
	assert_int_equal(n, 99);
	assert_int_equal(pt_read_file(path, 100, &p, &n), 0);
	assert_int_equal(n, 100);
	assert_memory_equal(p, data, 100);
	assert_int_equal(p[100], 0); /* NUL-terminated for convenience */
	free(p);
	write_all(path, "", 0);
	assert_int_equal(pt_read_file(path, 100, &p, &n), 0);
	assert_int_equal(n, 0);
	free(p);
	assert_int_equal(pt_read_file(t->dir, 100, &p, &n), -EISDIR);
	unlink(path);

	/* non-regular files are bounded too */
	assert_int_equal(pt_read_file("/dev/zero", 5000, &p, &n), -EFBIG);
}

static void test_atomic_write(void **state)
{
	struct tmp *t = *state;
	char path[128], sub[128];
	struct stat st;
	uint8_t *p;
	size_t n;
	mode_t old = umask(0077);

	snprintf(path, sizeof(path), "%s/file", t->dir);
	assert_int_equal(pt_atomic_write(path, "one", 3, 0644), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644); /* the umask does not change it */
	umask(0);
	assert_int_equal(pt_atomic_write(path, "second", 6, 0600), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	read_all(path, &p, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(p, "second", 6);
	free(p);
	assert_int_equal(count_hidden(t->dir), 0); /* no temp left behind */

	/* failures: missing directory; rename onto a directory (temp removed) */
	snprintf(path, sizeof(path), "%s/nodir/file", t->dir);
	assert_int_equal(pt_atomic_write(path, "x", 1, 0600), -ENOENT);
	snprintf(sub, sizeof(sub), "%s/adir", t->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_true(pt_atomic_write(sub, "x", 1, 0600) < 0);
	assert_int_equal(count_hidden(t->dir), 0);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(pt_atomic_write("", "x", 1, 0600), -EINVAL);
}

/* ------------------------------------------------------------------ store */

/* Direct access to the database file (the store must be closed). */
static MDB_env *db_open(const struct tmp *t, MDB_dbi *dbi, MDB_txn **txn, bool write)
{
	MDB_env *env = NULL;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 64 << 20), 0);
	assert_int_equal(mdb_env_open(env, t->db, MDB_NOSUBDIR | MDB_NOLOCK, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, write ? 0 : MDB_RDONLY, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, NULL, 0, dbi), 0);
	return env;
}

static void db_close(MDB_env *env, MDB_txn *txn, bool commit)
{
	if (commit)
		assert_int_equal(mdb_txn_commit(txn), 0);
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
}

static size_t db_count(const struct tmp *t)
{
	MDB_dbi dbi;
	MDB_txn *txn;
	MDB_env *env = db_open(t, &dbi, &txn, false);
	MDB_stat st;

	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	db_close(env, txn, false);
	return st.ms_entries;
}

static void slot_of(const char *user, const char *holder, uint8_t slot[16])
{
	uint8_t md[32], in[512];
	unsigned mdlen = 0;
	size_t ul = strlen(user), hl = strlen(holder);

	memcpy(in, user, ul + 1);
	memcpy(in + ul + 1, holder, hl);
	assert_int_equal(EVP_Digest(in, ul + 1 + hl, md, &mdlen, EVP_sha256(), NULL), 1);
	memcpy(slot, md, 16);
}

/* The value under (user, holder)'s slot into *ret (NULL if none). */
static void db_get(const struct tmp *t, const char *user, const char *holder, uint8_t **ret,
		   size_t *ret_len)
{
	uint8_t slot[16];
	MDB_dbi dbi;
	MDB_txn *txn;
	MDB_env *env = db_open(t, &dbi, &txn, false);
	MDB_val k = { 16, slot }, v;

	slot_of(user, holder, slot);
	*ret = NULL;
	*ret_len = 0;
	if (mdb_get(txn, dbi, &k, &v) == 0) {
		*ret = malloc(v.mv_size);
		assert_non_null(*ret);
		memcpy(*ret, v.mv_data, v.mv_size);
		*ret_len = v.mv_size;
	}
	db_close(env, txn, false);
}

/* Puts raw bytes under a key (key_len 16: a slot; else any key). */
static void db_put_raw(const struct tmp *t, const void *key, size_t key_len, const void *p,
		       size_t n)
{
	MDB_dbi dbi;
	MDB_txn *txn;
	MDB_env *env = db_open(t, &dbi, &txn, true);
	MDB_val k = { key_len, (void *)key }, v = { n, (void *)p };

	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	db_close(env, txn, true);
}

static void db_put(const struct tmp *t, const char *user, const char *holder, const void *p,
		   size_t n)
{
	uint8_t slot[16];

	slot_of(user, holder, slot);
	db_put_raw(t, slot, 16, p, n);
}

/* rec's JSON sealed with the slot name of (user, holder) as AAD. */
static void seal_as(const struct pt_record *rec, const char *user, const char *holder,
		    const uint8_t *key, uint8_t **ret, size_t *ret_len)
{
	char path[256], *json = NULL, *name;
	struct tmp dummy = { .tokens = "" };

	slot_path(&dummy, user, holder, path, sizeof(path));
	name = strrchr(path, '/') + 1;
	assert_int_equal(pt_record_to_json(rec, &json), 0);
	assert_int_equal(pt_aead_seal(key, name, strlen(name), json, strlen(json), ret, ret_len),
			 0);
	free(json);
}

/* A token file of v0.1/v0.2 (one file per token in tokens/). */
static void legacy_write(const struct tmp *t, const struct pt_record *rec, const uint8_t *key)
{
	char path[256];
	uint8_t *blob = NULL;
	size_t n = 0;

	mkdir(t->tokens, 0700);
	slot_path(t, rec->user, rec->holder, path, sizeof(path));
	seal_as(rec, rec->user, rec->holder, key, &blob, &n);
	write_all(path, blob, n);
	free(blob);
}

static void test_store_basic(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *b = mkrec("alice", "cron"),
			 *c = mkrec("bob", "atd"), *a2 = mkrec("alice", "atd");
	char a_id[PT_ID_LEN], a2_id[PT_ID_LEN];
	bool replaced = true;
	size_t bad = 99, n;
	struct stat st;
	uint8_t *v;

	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(stat(t->db, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(access(t->tokens, F_OK), -1); /* no directory of files any more */
	assert_int_equal(pt_store_count(s), 0);

	memcpy(a_id, a->id, PT_ID_LEN);
	memcpy(a2_id, a2->id, PT_ID_LEN);
	assert_int_equal(pt_store_put(s, a, &replaced), 0);
	assert_false(replaced);
	assert_int_equal(pt_store_put(s, b, &replaced), 0);
	assert_false(replaced);
	assert_int_equal(pt_store_put(s, c, NULL), 0);
	assert_int_equal(pt_store_count(s), 3);
	assert_int_equal(pt_store_count_user(s, "alice"), 2);
	assert_int_equal(pt_store_count_user(s, "bob"), 1);
	assert_int_equal(pt_store_count_user(s, "carol"), 0);
	assert_non_null(a->pack); /* compact in memory */

	assert_ptr_equal(pt_store_find_id(s, a_id), a);
	assert_ptr_equal(pt_store_find_slot(s, "alice", "atd"), a);
	assert_ptr_equal(pt_store_find_slot(s, "alice", "cron"), b);
	assert_ptr_equal(pt_store_find_slot(s, "bob", "atd"), c);
	assert_null(pt_store_find_slot(s, "bob", "cron"));
	/* user "\0" holder: no ambiguity between ("ab","c") and ("a","bc") */
	assert_null(pt_store_find_slot(s, "alic", "eatd"));
	assert_null(pt_store_find_id(s, "pt_AAAAAAAAAAAAAAAAAAAAAA"));
	assert_null(pt_store_at(s, 3));
	for (size_t i = 0; i < 3; i++)
		assert_non_null(pt_store_at(s, i));

	/* renewal replaces: same slot, new id, count unchanged */
	assert_int_equal(pt_store_put(s, a2, &replaced), 0);
	assert_true(replaced);
	assert_int_equal(pt_store_count(s), 3);
	assert_int_equal(pt_store_count_user(s, "alice"), 2);
	assert_null(pt_store_find_id(s, a_id));
	assert_ptr_equal(pt_store_find_id(s, a2_id), a2);
	assert_ptr_equal(pt_store_find_slot(s, "alice", "atd"), a2);

	/* re-putting the stored record itself (after an update) is fine */
	a2->uses = 3;
	assert_int_equal(pt_store_put(s, a2, &replaced), 0);
	assert_true(replaced);
	assert_ptr_equal(pt_store_find_slot(s, "alice", "atd"), a2);

	/* what libnss_pertok's cache follows: puts, removals, moved expiries
	 * move the change counter; a counted use does not */
	{
		uint64_t ch = pt_store_changes(s);

		a2->uses = 4;
		pt_store_touch(s, a2, false);
		assert_int_equal(pt_store_changes(s), ch);
		pt_store_touch(s, a2, true);
		assert_int_equal(pt_store_changes(s), ch + 1);
		ch = pt_store_changes(s);
		assert_int_equal(pt_store_remove(s, c->id), 0); /* c is freed now */
		assert_true(pt_store_changes(s) > ch);
	}
	/* remove */
	assert_int_equal(pt_store_count(s), 2);
	assert_null(pt_store_find_slot(s, "bob", "atd"));
	assert_int_equal(pt_store_remove(s, a_id), -ENOENT);
	assert_int_equal(pt_store_remove(s, "pt_nothing"), -ENOENT);
	assert_true(pt_store_synced(s));
	assert_int_equal(pt_store_sync_failure(s), 0);
	pt_store_free(s);
	pt_store_free(NULL);

	/* on disk: one value per slot, keyed by the documented slot hash */
	assert_int_equal(db_count(t), 2);
	db_get(t, "bob", "atd", &v, &n);
	assert_null(v);
	db_get(t, "alice", "atd", &v, &n);
	assert_non_null(v);
	assert_memory_equal(v, "PTK1", 4);
	free(v);

	/* persistence: a new store sees the same tokens */
	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(pt_store_count(s), 2);
	{
		struct pt_record *x = pt_store_find_id(s, a2_id);
		assert_non_null(x);
		assert_string_equal(x->user, "alice");
		assert_string_equal(x->holder, "atd");
		assert_int_equal(x->uses, 3);
		assert_string_equal(x->groups[1], "pertok");
		assert_null(x->groups[2]);
		assert_string_equal(x->rhost, "192.0.2.1");
		assert_ptr_equal(pt_store_find_slot(s, "alice", "atd"), x);
		assert_non_null(pt_store_find_slot(s, "alice", "cron"));
		assert_false(x->dirty);
	}
	pt_store_free(s);
}

/* The file may only grow to its current size: a commit that needs more
 * fails as a full disk would. */
static void limit_file_size(const struct tmp *t, bool on)
{
	struct rlimit rl;
	struct stat st;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
	if (on) {
		assert_int_equal(stat(t->db, &st), 0);
		rl.rlim_cur = (rlim_t)st.st_size;
	} else
		rl.rlim_cur = rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void test_store_put_failures(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *b = mkrec("bob", "atd"), *bad_rec;
	bool replaced = false;

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_put(s, a, &replaced), 0);

	/* the same id in another slot is refused; the caller keeps the record */
	memcpy(b->id, a->id, PT_ID_LEN);
	assert_int_equal(pt_store_put(s, b, &replaced), -EEXIST);
	assert_int_equal(pt_store_count(s), 1);
	assert_null(pt_store_find_slot(s, "bob", "atd"));

	/* invalid records never reach the disk */
	bad_rec = b;
	assert_int_equal(pt_record_new_id(bad_rec->id), 0);
	free(bad_rec->holder);
	bad_rec->holder = xstrdup("no/slash");
	assert_int_equal(pt_store_put(s, bad_rec, &replaced), -EINVAL);
	bad_rec->exp = 0;
	free(bad_rec->holder);
	bad_rec->holder = xstrdup("atd");
	assert_int_equal(pt_store_put(s, bad_rec, &replaced), -EINVAL);
	assert_int_equal(pt_store_count(s), 1);
	assert_int_equal(pt_store_put(s, NULL, &replaced), -EINVAL);
	pt_record_free(bad_rec);

	/* a failed commit (the disk is full) leaves memory and disk unchanged,
	 * and the store goes on working once there is room again */
	{
		struct pt_record *c = mkrec("carol", "atd");
		char id[PT_ID_LEN];

		memcpy(id, c->id, PT_ID_LEN);
		limit_file_size(t, true);
		assert_true(pt_store_put(s, c, &replaced) < 0);
		limit_file_size(t, false);
		assert_int_equal(pt_store_count(s), 1);
		assert_null(pt_store_find_slot(s, "carol", "atd"));
		assert_null(pt_store_find_id(s, id));
		assert_int_equal(pt_store_put(s, c, &replaced), 0);
		assert_int_equal(pt_store_count(s), 2);
	}
	pt_store_free(s);
	assert_int_equal(db_count(t), 2);
}

/* An acknowledged put survives the process being killed right after it. */
static void test_store_put_survives_kill(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd");
	char id[PT_ID_LEN];
	int status = 0;
	pid_t pid;

	memcpy(id, a->id, PT_ID_LEN);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (pt_store_open(t->dir, key1, &s, NULL) < 0 || pt_store_put(s, a, NULL) < 0)
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_non_null(pt_store_find_id(s, id));
	assert_non_null(pt_store_find_slot(s, "alice", "atd"));
	pt_store_free(s);
	pt_record_free(a);
}

static void test_store_flush(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *x;
	char id[PT_ID_LEN];

	memcpy(id, a->id, PT_ID_LEN);
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_put(s, a, NULL), 0);
	a->uses = 42;
	a->last_used = 1700000500;
	pt_store_touch(s, a, false);
	assert_int_equal(pt_store_flush(s), 0);
	assert_false(a->dirty);
	assert_false(pt_store_pending(s));
	pt_store_free(s);

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	x = pt_store_find_id(s, id);
	assert_non_null(x);
	assert_int_equal(x->uses, 42);
	assert_int_equal(x->last_used, 1700000500);
	pt_store_free(s);
}

/* Records that do not open, or sit under a key they do not belong to, are
 * counted and left in place; the others load. */
static void test_store_corruption(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *b = mkrec("bob", "atd"),
			 *d = mkrec("dave", "atd");
	uint8_t *va = NULL, *vb = NULL, *x = NULL, *after = NULL;
	size_t na = 0, nb = 0, nx = 0, nafter = 0, bad = 0;

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_put(s, a, NULL), 0);
	assert_int_equal(pt_store_put(s, b, NULL), 0);
	pt_store_free(s);

	/* flip one byte of alice's token */
	db_get(t, "alice", "atd", &va, &na);
	va[na / 2] ^= 0x20;
	db_put(t, "alice", "atd", va, na);
	/* bob's value copied under carol's slot: its AAD names bob's slot */
	db_get(t, "bob", "atd", &vb, &nb);
	db_put(t, "carol", "atd", vb, nb);
	/* dave's record sealed for erin's slot and put there: the AEAD is
	 * fine, but dave and his holder do not hash to that slot */
	seal_as(d, "erin", "atd", key1, &x, &nx);
	db_put(t, "erin", "atd", x, nx);
	free(x);
	/* dave's record sealed for frank's slot, put under dave's own: the
	 * record hashes to the key, only the AAD tells it is misplaced */
	seal_as(d, "frank", "atd", key1, &x, &nx);
	db_put(t, "dave", "atd", x, nx);
	free(x);
	/* a key that is no slot */
	db_put_raw(t, "short", 5, vb, nb);
	free(vb);

	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(bad, 5); /* flipped, copied, wrong slot, wrong AAD, odd key */
	assert_int_equal(pt_store_count(s), 1);
	assert_null(pt_store_find_slot(s, "alice", "atd"));
	assert_null(pt_store_find_slot(s, "carol", "atd"));
	assert_null(pt_store_find_slot(s, "erin", "atd"));
	assert_null(pt_store_find_slot(s, "dave", "atd"));
	assert_null(pt_store_find_id(s, d->id));
	assert_non_null(pt_store_find_slot(s, "bob", "atd"));
	pt_store_free(s);

	/* bad records are left untouched */
	db_get(t, "alice", "atd", &after, &nafter);
	assert_int_equal(nafter, na);
	assert_memory_equal(after, va, na);
	free(after);
	free(va);
	assert_int_equal(db_count(t), 6);

	/* the wrong key: nothing loads, nothing is touched */
	assert_int_equal(pt_store_open(t->dir, key2, &s, &bad), 0);
	assert_int_equal(pt_store_count(s), 0);
	assert_int_equal(bad, 6);
	pt_store_free(s);
	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(pt_store_count(s), 1);
	pt_store_free(s);
	pt_record_free(d);
}

static void test_store_duplicate_ids_on_disk(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *b = mkrec("bob", "atd");
	size_t bad = 0;

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	pt_store_free(s);

	/* two slots with the same id: only this code's bug could do it */
	memcpy(b->id, a->id, PT_ID_LEN);
	for (int i = 0; i < 2; i++) {
		struct pt_record *r = i ? b : a;
		uint8_t *blob = NULL;
		size_t bloblen = 0;

		seal_as(r, r->user, r->holder, key1, &blob, &bloblen);
		db_put(t, r->user, r->holder, blob, bloblen);
		free(blob);
	}
	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(pt_store_count(s), 1);
	assert_int_equal(bad, 1);
	assert_non_null(pt_store_find_id(s, a->id));
	pt_store_free(s);
	pt_record_free(a);
	pt_record_free(b);
}

/* The database file is 0600 and the directory 0700 (tightened when looser);
 * a link in the file's place is refused. */
static void test_store_modes(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct stat st;
	char other[256];

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_put(s, mkrec("alice", "atd"), NULL), 0);
	pt_store_free(s);
	assert_int_equal(chmod(t->db, 0644), 0);
	assert_int_equal(chmod(t->dir, 0755), 0);
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_count(s), 1);
	pt_store_free(s);
	assert_int_equal(stat(t->db, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(t->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	/* a symlink where the database should be */
	snprintf(other, sizeof(other), "%s/elsewhere.mdb", t->dir);
	assert_int_equal(rename(t->db, other), 0);
	assert_int_equal(symlink(other, t->db), 0);
	s = (struct pt_store *)0x1;
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), -ELOOP);
	assert_ptr_equal(s, (struct pt_store *)0x1);
	assert_int_equal(unlink(t->db), 0);
	assert_int_equal(rename(other, t->db), 0);

	/* someone else's file (root only can make one) */
	if (geteuid() == 0) {
		assert_int_equal(chown(t->db, 1, 1), 0);
		assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), -EPERM);
		assert_int_equal(chown(t->db, 0, 0), 0);
	}
}

/* v0.1/v0.2's tokens/ directory is imported by the first open: the files
 * that load move into the database and are removed; those that do not stay
 * and are counted, as before; stale temporaries go. */
static void test_store_import(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *b = mkrec("bob", "cron"),
			 *c = mkrec("carol", "atd");
	char pc[256], tmp1[256];
	uint8_t *p;
	size_t n, bad = 0;

	c->uses = 5;
	legacy_write(t, a, key1);
	legacy_write(t, b, key1);
	legacy_write(t, c, key2); /* does not decrypt under key1 */
	slot_path(t, "carol", "atd", pc, sizeof(pc));
	snprintf(tmp1, sizeof(tmp1), "%s/.0123456789abcdef0123456789abcdef.tok.a1b2c3d4e5f6.tmp",
		 t->tokens);
	write_all(tmp1, "PTK1half", 8);

	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(pt_store_imported(s), 2);
	assert_int_equal(pt_store_count(s), 2);
	assert_non_null(pt_store_find_id(s, a->id));
	assert_ptr_equal(pt_store_find_slot(s, "bob", "cron"), pt_store_find_id(s, b->id));
	pt_store_free(s);
	assert_int_equal(count_files(t->tokens, ".tok"), 1); /* carol's, untouched */
	assert_int_equal(count_hidden(t->tokens), 0);
	assert_int_equal(access(pc, F_OK), 0);
	assert_int_equal(db_count(t), 2);

	/* the next open imports nothing and still counts the bad file */
	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(pt_store_imported(s), 0);
	assert_int_equal(pt_store_count(s), 2);
	pt_store_free(s);

	/* once the bad file is dealt with, the directory goes */
	assert_int_equal(unlink(pc), 0);
	legacy_write(t, c, key1);
	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(pt_store_count(s), 3);
	assert_int_equal(pt_store_find_id(s, c->id)->uses, 5);
	pt_store_free(s);
	assert_int_equal(access(t->tokens, F_OK), -1);
	db_get(t, "carol", "atd", &p, &n);
	assert_non_null(p);
	free(p);
	pt_record_free(a);
	pt_record_free(b);
	pt_record_free(c);
}

/* An import interrupted before its commit (here: the disk full) leaves the
 * files as they were, and the next start imports them; one interrupted
 * after its commit, before the files were removed, imports them again
 * without a duplicate and without replacing what the database holds. */
static void test_store_import_interrupted(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *recs[40];
	char saved[256], cmd[600];
	size_t bad = 9;

	/* an empty database first, so that the import has to grow the file */
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	pt_store_free(s);
	for (int i = 0; i < 40; i++) {
		char user[16];

		snprintf(user, sizeof(user), "u%02d", i);
		recs[i] = mkrec(user, "atd");
		legacy_write(t, recs[i], key1);
	}
	snprintf(saved, sizeof(saved), "%s/saved", t->dir);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", t->tokens, saved);
	assert_int_equal(system(cmd), 0);

	limit_file_size(t, true);
	assert_true(pt_store_open(t->dir, key1, &s, &bad) < 0);
	limit_file_size(t, false);
	assert_int_equal(count_files(t->tokens, ".tok"), 40);
	assert_int_equal(db_count(t), 0);

	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(pt_store_count(s), 40);
	/* a renewal after the import */
	{
		struct pt_record *r = mkrec("u07", "atd");
		char id[PT_ID_LEN];

		memcpy(id, r->id, PT_ID_LEN);
		assert_int_equal(pt_store_put(s, r, NULL), 0);
		pt_store_free(s);

		/* the files come back, as if the removal had not happened */
		snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", saved, t->tokens);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
		assert_int_equal(bad, 0);
		assert_int_equal(pt_store_count(s), 40);
		assert_non_null(pt_store_find_id(s, id));
		assert_null(pt_store_find_id(s, recs[7]->id));
		assert_non_null(pt_store_find_id(s, recs[8]->id));
		pt_store_free(s);
	}
	assert_int_equal(access(t->tokens, F_OK), -1);
	for (int i = 0; i < 40; i++)
		pt_record_free(recs[i]);
}

/* Key rotation's half: every record sealed again under the new key in a
 * new directory; what does not decrypt is copied as it is. */
static void test_store_rewrap(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL, *ns = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *b = mkrec("bob", "atd");
	char newdir[256], newdb[300], id[PT_ID_LEN];
	size_t n = 0, bad = 0;
	uint8_t *blob = NULL;
	size_t bl = 0;

	memcpy(id, a->id, PT_ID_LEN);
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_put(s, a, NULL), 0);
	pt_store_free(s);
	seal_as(b, "bob", "atd", key2, &blob, &bl); /* unreadable under key1 */
	db_put(t, "bob", "atd", blob, bl);
	free(blob);

	snprintf(newdir, sizeof(newdir), "%s/gen-1", t->dir);
	snprintf(newdb, sizeof(newdb), "%s/" PT_STORE_FILE, newdir);
	assert_int_equal(mkdir(newdir, 0700), 0);
	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(pt_store_rewrap(s, newdir, key2, &n, &bad), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bad, 1);
	assert_int_equal(pt_store_count(s), 1); /* unchanged */
	pt_store_free(s);

	/* under key2, alice's loads and bob's (copied as it was) now too */
	assert_int_equal(pt_store_open(newdir, key2, &ns, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(pt_store_count(ns), 2);
	assert_non_null(pt_store_find_id(ns, id));
	pt_store_free(ns);
	assert_int_equal(pt_store_open(newdir, key1, &ns, &bad), 0);
	assert_int_equal(pt_store_count(ns), 0);
	assert_int_equal(bad, 2);
	pt_store_free(ns);
	pt_record_free(b);
}

static void test_store_many(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	enum {
		N = 1500
	};
	size_t bad = 1;

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	for (int i = 0; i < N; i++) {
		char user[32];
		snprintf(user, sizeof(user), "user%04d", i);
		assert_int_equal(pt_store_put(s, mkrec(user, i % 2 ? "atd" : "cron"), NULL), 0);
	}
	pt_store_free(s);

	assert_int_equal(pt_store_open(t->dir, key1, &s, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(pt_store_count(s), N);
	for (int i = 0; i < N; i++) {
		char user[32];
		struct pt_record *r;
		snprintf(user, sizeof(user), "user%04d", i);
		r = pt_store_find_slot(s, user, i % 2 ? "atd" : "cron");
		assert_non_null(r);
		assert_string_equal(r->user, user);
		assert_ptr_equal(pt_store_find_id(s, r->id), r);
		assert_null(pt_store_find_slot(s, user, i % 2 ? "cron" : "atd"));
	}
	assert_int_equal(pt_store_count_user(s, "user0042"), 1);
	/* a token housekeeping found dead, kept for the grace, does not count */
	pt_store_find_slot(s, "user0042", "cron")->dead_since_ms = 1;
	assert_int_equal(pt_store_count_user(s, "user0042"), 0);
	/* removals keep both indexes right */
	for (int i = 0; i < N; i += 3) {
		char user[32];
		snprintf(user, sizeof(user), "user%04d", i);
		assert_int_equal(
			pt_store_remove(s, pt_store_find_slot(s, user, i % 2 ? "atd" : "cron")->id),
			0);
	}
	assert_int_equal(pt_store_count(s), N - N / 3);
	/* a record touched, then removed or replaced, is not journaled */
	{
		struct pt_record *x = pt_store_find_slot(s, "user0001", "atd"),
				 *y = pt_store_find_slot(s, "user0002", "cron");
		struct pt_journal *j = NULL;
		char jpath[256];

		snprintf(jpath, sizeof(jpath), "%s/usage.journal", t->dir);
		assert_int_equal(pt_journal_open(jpath, &j), 0);
		x->uses++;
		pt_store_touch(s, x, false);
		y->uses++;
		pt_store_touch(s, y, true);
		assert_int_equal(pt_store_remove(s, x->id), 0);
		assert_int_equal(pt_store_put(s, mkrec("user0002", "cron"), NULL), 0);
		assert_int_equal(pt_store_journal(s, j), 0);
		assert_int_equal(pt_journal_size(j), 0);
		assert_false(pt_store_pending(s));
		pt_journal_free(j);
	}
	for (size_t i = 0; i < pt_store_count(s); i++)
		assert_ptr_equal(pt_store_find_id(s, pt_store_at(s, i)->id), pt_store_at(s, i));
	pt_store_free(s);
}

static void test_store_open_errors(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = (struct pt_store *)0x1;
	char path[256];

	snprintf(path, sizeof(path), "%s/missing", t->dir);
	assert_int_equal(pt_store_open(path, key1, &s, NULL), -ENOENT);
	assert_ptr_equal(s, (struct pt_store *)0x1);
	/* tokens (the old directory) is a symlink: refused */
	assert_int_equal(symlink("/tmp", t->tokens), 0);
	assert_true(pt_store_open(t->dir, key1, &s, NULL) < 0);
	assert_ptr_equal(s, (struct pt_store *)0x1);
	assert_int_equal(unlink(t->tokens), 0);
}

/* -Wl,--wrap=fsync: fail_dir_fsync makes the fsync of directories fail. */
int __real_fsync(int fd);
int __wrap_fsync(int fd);
static int fail_dir_fsync;
static unsigned dir_fsyncs_failed;

int __wrap_fsync(int fd)
{
	struct stat st;

	if (fail_dir_fsync && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		dir_fsyncs_failed++;
		errno = fail_dir_fsync;
		return -1;
	}
	return __real_fsync(fd);
}

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
static int fail_fdatasync;

int __wrap_fdatasync(int fd)
{
	if (fail_fdatasync) {
		errno = fail_fdatasync;
		return -1;
	}
	return __real_fdatasync(fd);
}

/* -Wl,--wrap=fallocate: fail_fallocate makes the disk look full for it;
 * -Wl,--wrap=mdb_txn_commit: panic_commit makes commits fail as after a
 * failed write of LMDB's meta page. */
int __real_fallocate(int fd, int mode, off_t off, off_t len);
int __wrap_fallocate(int fd, int mode, off_t off, off_t len);
static int fail_fallocate;

int __wrap_fallocate(int fd, int mode, off_t off, off_t len)
{
	if (fail_fallocate) {
		errno = fail_fallocate;
		return -1;
	}
	return __real_fallocate(fd, mode, off, len);
}

int __real_mdb_txn_commit(MDB_txn *txn);
int __wrap_mdb_txn_commit(MDB_txn *txn);
static int panic_commit;

int __wrap_mdb_txn_commit(MDB_txn *txn)
{
	if (panic_commit) {
		mdb_txn_abort(txn);
		return MDB_PANIC;
	}
	return __real_mdb_txn_commit(txn);
}

/* The disk reserve is the removals': when it cannot be kept a put is
 * refused (-ENOSPC) and a revocation still commits. */
static void test_reserve_for_removals(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *b = mkrec("bob", "atd");
	char id[PT_ID_LEN];

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	memcpy(id, a->id, PT_ID_LEN);
	assert_int_equal(pt_store_put(s, a, NULL), 0);
	fail_fallocate = ENOSPC;
	assert_int_equal(pt_store_put(s, b, NULL), -ENOSPC); /* b still ours */
	assert_int_equal(pt_store_count(s), 1);
	assert_int_equal(pt_store_remove(s, id), 0);
	fail_fallocate = 0;
	assert_int_equal(pt_store_count(s), 0);
	pt_store_free(s);
	/* the removal is on disk */
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_count(s), 0);
	pt_store_free(s);
	pt_record_free(b);
}

/* After LMDB's MDB_PANIC nothing commits again in this process: the store
 * says so (tokend stops) and memory stays as the disk is. */
static void test_panic_is_fatal(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd");

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_false(pt_store_broken(s));
	panic_commit = 1;
	assert_int_equal(pt_store_put(s, a, NULL), -EIO);
	panic_commit = 0;
	assert_true(pt_store_broken(s));
	assert_int_equal(pt_store_count(s), 0);
	pt_store_free(s);
	pt_record_free(a);
}

/* One tokend per store: a second open of the same file is refused. */
static void test_one_opener(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL, *s2 = (struct pt_store *)0x1;

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_open(t->dir, key1, &s2, NULL), -EBUSY);
	assert_ptr_equal(s2, (struct pt_store *)0x1);
	pt_store_free(s);
	assert_int_equal(pt_store_open(t->dir, key1, &s2, NULL), 0); /* released */
	pt_store_free(s2);
}

/* pt_atomic_write reports a directory fsync that failed after the rename as
 * an error; pt_atomic_replace says "done, directory not synced". An import
 * whose removal of the imported files cannot be synced does not open: a
 * file that came back after a crash would shadow a newer record. */
static void test_dir_fsync_failure(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_record *a = mkrec("alice", "atd");
	char path[256];

	snprintf(path, sizeof(path), "%s/f", t->dir);
	fail_dir_fsync = EIO;
	assert_int_equal(pt_atomic_write(path, "x", 1, 0600), -EIO);
	assert_int_equal(pt_atomic_replace(path, "y", 1, 0600), EIO);
	fail_dir_fsync = 0;
	assert_int_equal(pt_atomic_replace(path, "z", 1, 0600), 0);

	legacy_write(t, a, key1);
	fail_dir_fsync = EIO;
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), -EIO);
	fail_dir_fsync = 0;
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_non_null(pt_store_find_id(s, a->id));
	pt_store_free(s);
	pt_record_free(a);
}

struct replay {
	struct pt_store *s;
	int applied, bad;
};

static void replay_fn(void *u, char *l)
{
	struct replay *p = u;
	int r = pt_store_replay(p->s, l);

	if (r > 0)
		p->applied++;
	else if (r < 0)
		p->bad++;
}

static void count_fn(void *u, char *l)
{
	int *n = u;

	assert_string_equal(l, *n == 0 ? "T a 1 1" : *n == 1 ? "T a 2 2" : "T a 3 3");
	(*n)++;
}

/* Usage goes through the journal: one line per touched record, replayed
 * over the files at the next open; older lines never lower a counter. */
static void test_store_journal(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_journal *j = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *b = mkrec("bob", "atd"), *x;
	char ida[PT_ID_LEN], idb[PT_ID_LEN], jpath[256], line[128];
	int fd;

	fail_dir_fsync = fail_fdatasync = 0;
	memcpy(ida, a->id, PT_ID_LEN);
	memcpy(idb, b->id, PT_ID_LEN);
	snprintf(jpath, sizeof(jpath), "%s/usage.journal", t->dir);
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	assert_int_equal(pt_store_put(s, a, NULL), 0);
	assert_int_equal(pt_store_put(s, b, NULL), 0);
	assert_false(pt_store_pending(s));

	a->uses = 1;
	a->last_used = 1700000100;
	pt_store_touch(s, a, false);
	assert_true(pt_store_pending(s));
	assert_int_equal(pt_store_journal(s, j), 0);
	assert_false(pt_store_pending(s));
	assert_int_equal(pt_journal_sync(j), 0);
	a->uses = 2;
	a->last_used = 1700000200;
	pt_store_touch(s, a, false);
	/* a moved expiry is never journaled: the sealed file is rewritten */
	b->uses = 7;
	b->exp = 1700000000 + 99 * 86400;
	pt_store_touch(s, b, true);
	assert_int_equal(pt_store_journal(s, j), 0);
	assert_int_equal(pt_journal_sync(j), 0);
	assert_false(b->dirty);
	assert_true(a->dirty);
	/* a line cut by a crash (never acknowledged) */
	fd = open(jpath, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	snprintf(line, sizeof(line), "T %s 99", ida);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
	pt_journal_free(j);
	pt_store_free(s); /* a crash: nothing flushed */

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	x = pt_store_find_id(s, ida);
	assert_non_null(x);
	assert_int_equal(x->uses, 0); /* the file is old */
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	{
		struct replay rp = { s, 0, 0 };

		assert_int_equal(pt_journal_replay(j, replay_fn, &rp), 0);
		assert_int_equal(rp.applied, 2); /* uses 1, then 2 */
		assert_int_equal(rp.bad, 0);
		/* replaying again changes nothing (idempotent) */
		rp.applied = 0;
		assert_int_equal(pt_journal_replay(j, replay_fn, &rp), 0);
		assert_int_equal(rp.applied, 0);
	}
	assert_int_equal(x->uses, 2);
	assert_int_equal(x->last_used, 1700000200);
	assert_true(x->dirty);
	x = pt_store_find_id(s, idb);
	assert_int_equal(x->uses, 7);
	assert_int_equal(x->exp, 1700000000 + 99 * 86400);
	/* malformed or foreign lines */
	assert_int_equal(pt_store_replay(s, "H 0 alice 1 1 1 1 1 1 1 1 1"), 0);
	assert_int_equal(pt_store_replay(s, "T pt_x 1 2"), -EINVAL);
	snprintf(line, sizeof(line), "T %s 1 2 3", ida);
	assert_int_equal(pt_store_replay(s, line), -EINVAL);
	snprintf(line, sizeof(line), "T %s 1", ida);
	assert_int_equal(pt_store_replay(s, line), -EINVAL);
	/* compaction: files written, journal emptied */
	assert_int_equal(pt_store_flush(s), 0);
	assert_int_equal(pt_journal_reset(j), 0);
	assert_int_equal(pt_journal_size(j), 0);
	pt_journal_free(j);
	pt_store_free(s);
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_find_id(s, ida)->uses, 2);
	pt_store_free(s);
}

/* The last refusal (record.h): optional in the JSON, so that the records
 * of v0.2 load; kept through a round trip and both compact forms; its
 * fields validated; pt_record_set_refusal cleans what it is given. */
static void test_record_refusal(void **state)
{
	/* a v0.2 record, as its store wrote it: no refusal fields */
	static const char old[] =
		"{\"v\":1,\"id\":\"pt_AAAAAAAAAAAAAAAAAAAAAA\",\"user\":\"alice\",\"uid\":1000,"
		"\"gid\":1000,\"groups\":[\"alice\"],\"gecos\":\"\",\"home\":\"/home/alice\","
		"\"shell\":\"/bin/sh\",\"holder\":\"atd\",\"actor\":\"login\",\"service\":null,"
		"\"tty\":null,\"rhost\":null,\"source_jti\":null,\"iat\":1700000000,"
		"\"exp\":1700086400,\"last_used\":0,\"uses\":0}";
	struct pt_record *r = NULL, *back = NULL, *copy = NULL;
	char *json = NULL, long_reason[600], *p;

	(void)state;
	assert_int_equal(pt_record_from_json(old, strlen(old), &r), 0);
	assert_int_equal(r->refusals, 0);
	assert_int_equal(r->refused_at, 0);
	assert_null(r->refusal_rule);
	assert_null(r->refusal_reason);
	/* never refused: written as before */
	assert_int_equal(pt_record_to_json(r, &json), 0);
	assert_null(strstr(json, "refus"));
	free(json);

	assert_int_equal(pt_record_set_refusal(r, 1700000500, 3, "night", "outside\nhours"), 0);
	assert_string_equal(r->refusal_reason, "outside?hours");
	assert_int_equal(pt_record_to_json(r, &json), 0);
	assert_non_null(strstr(json, "\"refusals\":3"));
	assert_int_equal(pt_record_from_json(json, strlen(json), &back), 0);
	assert_int_equal(back->refusals, 3);
	assert_int_equal(back->refused_at, 1700000500);
	assert_string_equal(back->refusal_rule, "night");
	assert_string_equal(back->refusal_reason, "outside?hours");
	free(json);
	/* the compact forms keep them (and free them once: ASan runs this) */
	assert_int_equal(pt_record_compact(back), 0);
	assert_string_equal(back->refusal_rule, "night");
	assert_int_equal(pt_record_compact_copy(back, &copy), 0);
	assert_string_equal(copy->refusal_reason, "outside?hours");
	assert_ptr_not_equal(copy->refusal_reason, back->refusal_reason);
	assert_int_equal(pt_record_set_refusal(back, 1700000600, 4, NULL, "expired"), 0);
	assert_null(back->refusal_rule);
	assert_string_equal(copy->refusal_rule, "night");
	pt_record_free(copy);
	pt_record_free(back);

	/* a reason too long for one protocol string is cut, at a character */
	memset(long_reason, 'x', sizeof(long_reason));
	long_reason[sizeof(long_reason) - 1] = '\0';
	memcpy(long_reason + PT_REFUSAL_REASON_MAX - 2, "\xc3\xa9", 2); /* e-acute across the cut */
	assert_int_equal(pt_record_set_refusal(r, 1700000700, 5, "night", long_reason), 0);
	assert_int_equal(strlen(r->refusal_reason), PT_REFUSAL_REASON_MAX - 2);
	assert_true(pt_record_valid(r));

	/* what the JSON may not hold */
	assert_int_equal(pt_record_set_refusal(r, 1700000700, 5, "night", "why"), 0);
	assert_int_equal(pt_record_to_json(r, &json), 0);
	p = strstr(json, "\"night\"");
	assert_non_null(p);
	memcpy(p, "\"ni ht\"", 7);
	assert_int_equal(pt_record_from_json(json, strlen(json), &back), -EINVAL);
	free(json);
	{
		char bad[1200];

		snprintf(bad, sizeof(bad), "%.*s,\"refusal_reason\":\"a\\u0001b\"}",
			 (int)(strlen(old) - 1), old);
		assert_int_equal(pt_record_from_json(bad, strlen(bad), &back), -EINVAL);
		snprintf(bad, sizeof(bad), "%.*s,\"refusals\":-1}", (int)(strlen(old) - 1), old);
		assert_int_equal(pt_record_from_json(bad, strlen(bad), &back), -EINVAL);
		snprintf(bad, sizeof(bad), "%.*s,\"refused_at\":\"1\"}", (int)(strlen(old) - 1),
			 old);
		assert_int_equal(pt_record_from_json(bad, strlen(bad), &back), -EINVAL);
		snprintf(bad, sizeof(bad), "%.*s,\"refusal_rule\":null,\"refusals\":1}",
			 (int)(strlen(old) - 1), old);
		assert_int_equal(pt_record_from_json(bad, strlen(bad), &back), 0);
		assert_int_equal(back->refusals, 1);
		pt_record_free(back);
	}
	pt_record_free(r);
}

/* A refusal is journaled like a use ("F" line) and replayed at the next
 * open; an older or malformed line changes nothing. */
static void test_store_journal_refusal(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	struct pt_journal *j = NULL;
	struct pt_record *a = mkrec("alice", "atd"), *x;
	char ida[PT_ID_LEN], jpath[256], line[256];

	fail_dir_fsync = fail_fdatasync = 0;
	memcpy(ida, a->id, PT_ID_LEN);
	snprintf(jpath, sizeof(jpath), "%s/usage.journal", t->dir);
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	assert_int_equal(pt_store_put(s, a, NULL), 0);

	assert_int_equal(pt_record_set_refusal(a, 1700000300, 1, "night", "outside 08:00-18:00"),
			 0);
	a->refusal_unjournaled = true;
	pt_store_touch(s, a, false);
	assert_int_equal(pt_store_journal(s, j), 0);
	assert_false(a->refusal_unjournaled);
	assert_int_equal(pt_journal_sync(j), 0);
	pt_journal_free(j);
	pt_store_free(s); /* a crash: nothing flushed */

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	x = pt_store_find_id(s, ida);
	assert_non_null(x);
	assert_int_equal(x->refusals, 0); /* the file is old */
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	{
		struct replay rp = { s, 0, 0 };

		assert_int_equal(pt_journal_replay(j, replay_fn, &rp), 0);
		assert_int_equal(rp.applied, 1);
		assert_int_equal(rp.bad, 0);
	}
	assert_int_equal(x->refusals, 1);
	assert_int_equal(x->refused_at, 1700000300);
	assert_string_equal(x->refusal_rule, "night");
	assert_string_equal(x->refusal_reason, "outside 08:00-18:00");
	/* older: nothing; no rule: "-"; malformed */
	snprintf(line, sizeof(line), "F %s 1 1700000900 other older", ida);
	assert_int_equal(pt_store_replay(s, line), 0);
	assert_string_equal(x->refusal_rule, "night");
	snprintf(line, sizeof(line), "F %s 2 1700000900 - expired", ida);
	assert_int_equal(pt_store_replay(s, line), 1);
	assert_null(x->refusal_rule);
	assert_string_equal(x->refusal_reason, "expired");
	snprintf(line, sizeof(line), "F %s 3 1700000900", ida);
	assert_int_equal(pt_store_replay(s, line), -EINVAL);
	snprintf(line, sizeof(line), "F %s x 1700000900 - y", ida);
	assert_int_equal(pt_store_replay(s, line), -EINVAL);
	snprintf(line, sizeof(line), "F %s 3 1700000900 bad/rule y", ida);
	assert_int_equal(pt_store_replay(s, line), -EINVAL);
	assert_int_equal(x->refusals, 2);
	/* written to the store by the next flush */
	assert_int_equal(pt_store_flush(s), 0);
	pt_journal_free(j);
	pt_store_free(s);
	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	assert_int_equal(pt_store_find_id(s, ida)->refusals, 2);
	pt_store_free(s);
}

/* A failed journal write leaves no torn line: the lines stay queued. */
static void test_journal_sync_failure(void **state)
{
	struct tmp *t = *state;
	struct pt_journal *j = NULL;
	char jpath[256];
	int n = 0;

	snprintf(jpath, sizeof(jpath), "%s/usage.journal", t->dir);
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	assert_int_equal(pt_journal_add(j, "T a 1 1"), 0);
	assert_int_equal(pt_journal_add(j, ""), -EINVAL);
	assert_int_equal(pt_journal_add(j, "a\nb"), -EINVAL);
	assert_true(pt_journal_pending(j));
	assert_int_equal(pt_journal_sync(j), 0);
	assert_false(pt_journal_pending(j));
	assert_int_equal(pt_journal_size(j), 8);
	assert_false(pt_journal_unsynced(j));
	/* the disk fails: the reply must be withheld; the line stays written and
	 * the next sync tries again */
	assert_int_equal(pt_journal_add(j, "T a 2 2"), 0);
	fail_fdatasync = EIO;
	assert_int_equal(pt_journal_sync(j), -EIO);
	fail_fdatasync = 0;
	assert_false(pt_journal_pending(j));
	assert_true(pt_journal_unsynced(j));
	assert_int_equal(pt_journal_size(j), 16);
	assert_int_equal(pt_journal_sync(j), 0);
	assert_false(pt_journal_unsynced(j));
	/* batch mode: written, not synced */
	assert_int_equal(pt_journal_add(j, "T a 3 3"), 0);
	assert_int_equal(pt_journal_write(j), 0);
	assert_true(pt_journal_unsynced(j));
	{
		struct stat st;
		assert_int_equal(stat(jpath, &st), 0);
		assert_int_equal(st.st_size, 24);
	}
	assert_int_equal(pt_journal_sync(j), 0);
	assert_false(pt_journal_unsynced(j));
	assert_int_equal(pt_journal_replay(j, count_fn, &n), 0);
	assert_int_equal(n, 3);
	pt_journal_free(j);
}

static void count_lines_fn(void *u, char *l)
{
	size_t *n = u;
	char want[32];

	snprintf(want, sizeof(want), "T line %zu", *n);
	assert_string_equal(l, want);
	(*n)++;
}

/* Replay reads in chunks: lines across chunk boundaries, a journal far
 * larger than one chunk, an over-long line skipped. */
static void test_journal_large(void **state)
{
	struct tmp *t = *state;
	struct pt_journal *j = NULL;
	char jpath[256], line[32], *junk;
	size_t n = 0;
	int fd;

	fail_dir_fsync = fail_fdatasync = 0;
	snprintf(jpath, sizeof(jpath), "%s/usage.journal", t->dir);
	fd = open(jpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	junk = malloc(200000);
	assert_non_null(junk);
	memset(junk, 'x', 200000);
	assert_int_equal(write(fd, junk, 200000), 200000); /* one over-long line */
	assert_int_equal(write(fd, "\n", 1), 1);
	free(junk);
	close(fd);
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	for (size_t i = 0; i < 30000; i++) {
		snprintf(line, sizeof(line), "T line %zu", i);
		assert_int_equal(pt_journal_add(j, line), 0);
	}
	assert_int_equal(pt_journal_sync(j), 0);
	assert_true(pt_journal_size(j) > 3 * 65536);
	assert_int_equal(pt_journal_replay(j, count_lines_fn, &n), 0);
	assert_int_equal(n, 30000);
	pt_journal_free(j);
}

static void history_replay_fn(void *u, char *l)
{
	assert_true(pt_history_replay(u, l) >= 0);
}

/* The usage history's changes go through the journal as well: a day's
 * redemptions survive a crash between two writes of history.json. */
static void test_history_journal(void **state)
{
	struct tmp *t = *state;
	struct pt_history *h = NULL;
	struct pt_journal *j = NULL;
	char hpath[256], jpath[256];
	const uint64_t now = 1700000000;

	fail_dir_fsync = fail_fdatasync = 0;
	snprintf(hpath, sizeof(hpath), "%s/history.json", t->dir);
	snprintf(jpath, sizeof(jpath), "%s/usage.journal", t->dir);
	assert_int_equal(pt_history_open(hpath, &h, NULL), 0);
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	pt_history_add(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS, now);
	assert_int_equal(pt_history_flush(h), 0); /* the file: 1 */
	assert_false(pt_history_pending(h));
	pt_history_add(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS, now);
	pt_history_add(h, PT_HIST_ACTOR, "atd", PT_HIST_REDEMPTIONS, now);
	assert_true(pt_history_pending(h));
	assert_int_equal(pt_history_journal(h, j), 0);
	assert_false(pt_history_pending(h));
	assert_int_equal(pt_journal_sync(j), 0);
	pt_history_free(h); /* crash: history.json still says 1 */
	pt_journal_free(j);

	assert_int_equal(pt_history_open(hpath, &h, NULL), 0);
	assert_int_equal(pt_history_today(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS, now), 1);
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	assert_int_equal(pt_journal_replay(j, history_replay_fn, h), 0);
	assert_int_equal(pt_history_today(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS, now), 2);
	assert_int_equal(pt_history_today(h, PT_HIST_ACTOR, "atd", PT_HIST_REDEMPTIONS, now), 1);
	/* an older line changes nothing, malformed ones are refused */
	assert_int_equal(pt_history_replay(h, "H 0 alice 2023313 0 0 1 0 0 0 1 0"), 0);
	assert_int_equal(pt_history_today(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS, now), 2);
	assert_int_equal(pt_history_replay(h, "H 2 alice 1 0 0 1 0 0 0 1 0"), -EINVAL);
	assert_int_equal(pt_history_replay(h, "H 0 alice 1 0 0 1 0 0 0 1"), -EINVAL);
	assert_int_equal(pt_history_replay(h, "T x 1 2"), 0);
	pt_history_free(h);
	pt_journal_free(j);
}

/* act-as figures in the history: a file of the old form (no "act") loads
 * with zeros; the new fields round-trip through the file and the journal's
 * "A" line; malformed ones are refused. */
static void test_history_act(void **state)
{
	struct tmp *t = *state;
	static const char old[] =
		"{\"v\":1,\"users\":[{\"name\":\"alice\",\"day\":2023313,"
		"\"today\":[1,1,1,0],\"total\":[5,4,3,1]}],\"actors\":[{\"name\":\"atd\","
		"\"day\":2023313,\"today\":[1,1,1,0],\"total\":[2,2,2,0]}]}";
	struct pt_history *h = NULL, *h2 = NULL;
	struct pt_journal *j = NULL;
	struct pt_hist_act a;
	char hpath[256], jpath[256], *json = NULL, *json2 = NULL;

	fail_dir_fsync = fail_fdatasync = 0;
	/* the old form */
	assert_int_equal(pt_history_from_json(old, strlen(old), &h), 0);
	assert_int_equal(pt_history_total(h, PT_HIST_USER, "alice", PT_HIST_REDEMPTIONS), 3);
	a = pt_history_act(h, "alice");
	assert_true(a.runs == 0 && a.cpu_usec == 0 && a.mem_peak == 0);
	/* without act-as use it is written in the old form again */
	assert_int_equal(pt_history_to_json(h, &json), 0);
	assert_string_equal(json, old);
	free(json);
	/* the new fields: summed CPU, the largest peak */
	pt_history_act_add(h, "alice", 300000, 4096);
	pt_history_act_add(h, "alice", 1000, 1024);
	a = pt_history_act(h, "alice");
	assert_true(a.runs == 2 && a.cpu_usec == 301000 && a.mem_peak == 4096);
	assert_int_equal(pt_history_to_json(h, &json), 0);
	assert_non_null(strstr(json, "\"act\":[2,301000,4096]"));
	assert_int_equal(pt_history_from_json(json, strlen(json), &h2), 0);
	a = pt_history_act(h2, "alice");
	assert_true(a.runs == 2 && a.cpu_usec == 301000 && a.mem_peak == 4096);
	assert_int_equal(pt_history_to_json(h2, &json2), 0);
	assert_string_equal(json, json2);
	free(json);
	free(json2);
	pt_history_free(h);
	pt_history_free(h2);
	h = h2 = NULL;
	/* malformed act fields are refused */
	{
		static const char *const bad[] = {
			/* runs 0 is never written */
			"{\"v\":1,\"users\":[{\"name\":\"a\",\"day\":1,\"today\":[0,0,0,0],"
			"\"total\":[0,0,0,0],\"act\":[0,1,1]}],\"actors\":[]}",
			/* two figures */
			"{\"v\":1,\"users\":[{\"name\":\"a\",\"day\":1,\"today\":[0,0,0,0],"
			"\"total\":[0,0,0,0],\"act\":[1,1]}],\"actors\":[]}",
			/* negative */
			"{\"v\":1,\"users\":[{\"name\":\"a\",\"day\":1,\"today\":[0,0,0,0],"
			"\"total\":[0,0,0,0],\"act\":[1,-1,1]}],\"actors\":[]}",
			/* on an actor */
			"{\"v\":1,\"users\":[],\"actors\":[{\"name\":\"a\",\"day\":1,"
			"\"today\":[0,0,0,0],\"total\":[0,0,0,0],\"act\":[1,1,1]}]}",
			/* an unknown sixth key */
			"{\"v\":1,\"users\":[{\"name\":\"a\",\"day\":1,\"today\":[0,0,0,0],"
			"\"total\":[0,0,0,0],\"act\":[1,1,1],\"x\":1}],\"actors\":[]}",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(pt_history_from_json(bad[i], strlen(bad[i]), &h), -EINVAL);
			assert_null(h);
		}
	}

	/* the journal: an act-as run after the last write survives a crash */
	snprintf(hpath, sizeof(hpath), "%s/history.json", t->dir);
	snprintf(jpath, sizeof(jpath), "%s/usage.journal", t->dir);
	assert_int_equal(pt_history_open(hpath, &h, NULL), 0);
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	pt_history_act_add(h, "alice", 5000, 100);
	assert_int_equal(pt_history_flush(h), 0); /* the file: 1 run */
	pt_history_act_add(h, "alice", 7000, 300);
	assert_true(pt_history_pending(h));
	assert_int_equal(pt_history_journal(h, j), 0);
	assert_false(pt_history_pending(h));
	assert_int_equal(pt_journal_sync(j), 0);
	pt_history_free(h);
	pt_journal_free(j);
	assert_int_equal(pt_history_open(hpath, &h, NULL), 0);
	assert_int_equal(pt_history_act(h, "alice").runs, 1);
	assert_int_equal(pt_journal_open(jpath, &j), 0);
	assert_int_equal(pt_journal_replay(j, history_replay_fn, h), 0);
	a = pt_history_act(h, "alice");
	assert_true(a.runs == 2 && a.cpu_usec == 12000 && a.mem_peak == 300);
	/* an older line changes nothing, malformed ones are refused */
	assert_int_equal(pt_history_replay(h, "A alice 1 1 1"), 0);
	assert_int_equal(pt_history_act(h, "alice").cpu_usec, 12000);
	assert_int_equal(pt_history_replay(h, "A alice 3 1"), -EINVAL);
	assert_int_equal(pt_history_replay(h, "A alice 3 1 1 x"), -EINVAL);
	assert_int_equal(pt_history_replay(h, "A alice 0 1 1"), -EINVAL);
	assert_int_equal(pt_history_replay(h, "A alice 3 9223372036854775808 1"), -EINVAL);
	assert_int_equal(pt_history_replay(h, "A alice 3 20000 50"), 1);
	a = pt_history_act(h, "alice");
	assert_true(a.runs == 3 && a.cpu_usec == 20000 && a.mem_peak == 50);
	pt_history_free(h);
	pt_journal_free(j);
}

/* Temporary files of interrupted atomic writes outside tokens/. */
static void test_remove_stale_temps(void **state)
{
	struct tmp *t = *state;
	static const char *const names[] = {
		".history.json.0123456789ab.tmp", /* ours: removed */
		".current.a1b2c3d4e5f6.tmp",	  /* ours: removed */
		".audit.head.0123456789ab.tmp",	  /* the audit writer's: kept */
		"history.json",			  /* not a temporary */
		".x.tmp",			  /* not of the atomic-write pattern */
		".history.json.0123456789AB.tmp", /* not lowercase hex */
	};
	char p[256];
	size_t n = 9;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", t->dir, names[i]);
		write_all(p, "x", 1);
	}
	snprintf(p, sizeof(p), "%s/.dir.0123456789ab.tmp", t->dir);
	assert_int_equal(mkdir(p, 0700), 0); /* not a file: kept */
	assert_int_equal(pt_remove_stale_temps(t->dir, ".audit.", &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", t->dir, names[i]);
		assert_int_equal(access(p, F_OK) == 0, i >= 2);
	}
	snprintf(p, sizeof(p), "%s/.dir.0123456789ab.tmp", t->dir);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(pt_remove_stale_temps(t->dir, NULL, &n), 0);
	assert_int_equal(n, 1); /* now the audit one too */
	snprintf(p, sizeof(p), "%s/missing", t->dir);
	assert_int_equal(pt_remove_stale_temps(p, NULL, &n), -ENOENT);
}

/* LIST paging: a cursor is a position; pages neither skip nor repeat when
 * entries come and go between them. */
static void test_store_cursor(void **state)
{
	struct tmp *t = *state;
	struct pt_store *s = NULL;
	char cur[PT_STORE_CURSOR_LEN];
	size_t i = 99;

	assert_int_equal(pt_store_open(t->dir, key1, &s, NULL), 0);
	for (int k = 0; k < 10; k++) {
		char user[16];
		snprintf(user, sizeof(user), "u%d", k);
		assert_int_equal(pt_store_put(s, mkrec(user, "atd"), NULL), 0);
	}
	assert_int_equal(pt_store_seek(s, "", &i), 0);
	assert_int_equal(i, 0);
	pt_store_cursor(s, 3, cur);
	assert_int_equal(strlen(cur), 32);
	assert_int_equal(pt_store_seek(s, cur, &i), 0);
	assert_int_equal(i, 4);
	/* the entry at the cursor goes away: the next page still starts after it */
	assert_int_equal(pt_store_remove(s, pt_store_at(s, 3)->id), 0);
	assert_int_equal(pt_store_seek(s, cur, &i), 0);
	assert_int_equal(i, 3);
	pt_store_cursor(s, 8, cur);
	assert_int_equal(pt_store_seek(s, cur, &i), 0);
	assert_int_equal(i, 9);
	pt_store_cursor(s, 9, cur); /* past the end */
	assert_string_equal(cur, "");
	assert_int_equal(pt_store_seek(s, "xyz", &i), -EINVAL);
	assert_int_equal(pt_store_seek(s, "0123456789abcdef0123456789abcdeg", &i), -EINVAL);
	assert_int_equal(pt_store_seek(s, "0123456789ABCDEF0123456789abcdef", &i), -EINVAL);
	pt_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aead),
		cmocka_unit_test_setup_teardown(test_reserve_for_removals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_panic_is_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_opener, setup, teardown),
		cmocka_unit_test(test_record_id),
		cmocka_unit_test(test_record_delegation),
		cmocka_unit_test_setup_teardown(test_store_move, setup, teardown),
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_refusal),
		cmocka_unit_test(test_record_strict),
		cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_put_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_put_survives_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_duplicate_ids_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_import_interrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_rewrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_fsync_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_journal_refusal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_sync_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_act, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_stale_temps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_cursor, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
