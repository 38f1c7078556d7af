/* SPDX-License-Identifier: MIT */
/*
 * The audit trail: the writer (tokend/audit.c) and the verifier
 * (common/auditlog.c). A log written by the writer verifies; every way of
 * tampering with it in the table below is caught, at the right line, with
 * the right words; the writer continues a chain across restarts, records a
 * break when it finds one, and fails closed when its file goes away.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "auditlog.h"
#include "jws.h"

#define MAX_LINES 256

static const uint8_t storekey[PT_STORE_KEYLEN] = "0123456789abcdef0123456789abcdef";
static const char secret_token[] = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

struct fx {
	char dir[64];
	char log[128];
	char head[128];
	EVP_PKEY *key, *other;
	char *kid, *other_kid;
	char *lines[MAX_LINES];
	size_t n;
	char *headtext;
	struct pt_audit *crashed; /* a writer left open as if tokend had died */
	EVP_PKEY *trust;	  /* the key the verifier knows (NULL: key) */
};

/* ------------------------------------------------------------------ helpers */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pertok-test-audit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->log, sizeof(f->log), "%s/audit.log", f->dir);
	snprintf(f->head, sizeof(f->head), "%s/audit.head", f->dir);
	f->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	f->other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!f->key || !f->other || pt_jwk_thumbprint(f->key, &f->kid) < 0 ||
	    pt_jwk_thumbprint(f->other, &f->other_kid) < 0)
		return -1;
	*state = f;
	return 0;
}

static void reset_dir(struct fx *f);

static void clear_lines(struct fx *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->lines[i]);
	f->n = 0;
	free(f->headtext);
	f->headtext = NULL;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	reset_dir(f);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->other);
	free(f->kid);
	free(f->other_kid);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void reset_dir(struct fx *f)
{
	pt_audit_close(f->crashed); /* its final checkpoint goes to a file removed now */
	f->crashed = NULL;
	unlink(f->log);
	unlink(f->head);
	clear_lines(f);
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *buf;
	long n;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

/* Reads the log back into f->lines (without newlines) and the head. */
static void load(struct fx *f)
{
	char *text = slurp(f->log), *p, *nl;

	assert_non_null(text);
	clear_lines(f);
	for (p = text; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_true(f->n < MAX_LINES);
		f->lines[f->n++] = strndup(p, (size_t)(nl - p));
	}
	free(text);
	f->headtext = slurp(f->head);
}

static struct pt_audit *open_writer(struct fx *f, unsigned every, char *warn, size_t warnlen)
{
	struct pt_audit_opts o = { .path = f->log, .checkpoint_every = every };
	struct pt_audit *a = NULL;
	char err[256];
	int r;

	r = pt_audit_open(&o, storekey, f->key, f->kid, &a, warn, warnlen, err, sizeof(err));
	if (r < 0)
		fail_msg("pt_audit_open: %s", err);
	return a;
}

static void append_n(struct pt_audit *a, int n)
{
	for (int i = 0; i < n; i++) {
		struct pt_audit_event ev = {
			.op = i % 3 == 0 ? "mint" :
			      i % 3 == 1 ? "exchange" :
					   "redeem",
			.result = i % 5 == 4 ? "deny" : "allow",
			.user = "alice",
			.holder = "atd",
			.actor = "atd",
			.peer_uid = 0,
			.peer_pid = 100 + i,
			.exe = "/usr/sbin/atd",
			.service = "atd",
			.rule = "jobs",
			.reason = "rule \"jobs\" allows",
			.id = "pt_AAAAAAAAAAAAAAAAAAAAAA",
			.token = secret_token,
		};
		assert_int_equal(pt_audit_append(a, &ev), 0);
	}
}

/* 1 segment + 23 records with a checkpoint every 5 records (lines 7, 13,
 * 19, 25), closed (final checkpoint, line 29), then 2 more records after a
 * restart (lines 30, 31): the unsigned tail. */
static void make_log(struct fx *f)
{
	struct pt_audit *a;
	char warn[256];

	reset_dir(f);
	a = open_writer(f, 5, warn, sizeof(warn));
	append_n(a, 23);
	assert_int_equal(pt_audit_close(a), 0);
	a = open_writer(f, 5, warn, sizeof(warn));
	assert_string_equal(warn, "");
	append_n(a, 2);
	f->crashed = a; /* not closed: as if tokend had been killed */
	load(f);
}

struct verdict {
	struct pt_audit_result res;
	char all[8192];
};

static void verify_lines(struct fx *f, char **lines, size_t n, const char *head, bool cut_last,
			 struct verdict *v)
{
	struct pt_audit_verifier *ver = NULL;
	size_t cap = 1, off = 0;
	char *text;
	FILE *fp;

	for (size_t i = 0; i < n; i++)
		cap += strlen(lines[i]) + 1;
	text = malloc(cap);
	assert_non_null(text);
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(lines[i]);
		memcpy(text + off, lines[i], k);
		off += k;
		if (!(cut_last && i + 1 == n))
			text[off++] = '\n';
	}
	assert_int_equal(pt_audit_verifier_new(&ver), 0);
	assert_int_equal(pt_audit_verifier_add_key(ver, f->trust ? f->trust : f->key), 0);
	if (head)
		pt_audit_verifier_set_head(ver, head, strlen(head));
	fp = fmemopen(text, off ? off : 1, "r");
	assert_non_null(fp);
	if (off == 0)
		fgetc(fp); /* an empty log: fmemopen wants a size > 0 */
	assert_int_equal(pt_audit_verify_stream(ver, fp), 0);
	fclose(fp);
	memset(v, 0, sizeof(*v));
	pt_audit_verifier_finish(ver, &v->res);
	for (size_t i = 0, o = 0; i < v->res.n_problems; i++)
		o += (size_t)snprintf(v->all + o, sizeof(v->all) - o, "%s\n", v->res.problems[i]);
	pt_audit_verifier_free(ver);
	free(text);
}

/* Replaces the first occurrence of from in *line. */
static void subst(char **line, const char *from, const char *to)
{
	char *p = strstr(*line, from), *n;

	assert_non_null(p);
	n = malloc(strlen(*line) - strlen(from) + strlen(to) + 1);
	assert_non_null(n);
	sprintf(n, "%.*s%s%s", (int)(p - *line), *line, to, p + strlen(from));
	free(*line);
	*line = n;
}

/* Recomputes a line's own hash after its body was changed (what a forger
 * who knows the format does). */
static void rehash(char **line)
{
	char *p = strstr(*line, ",\"hash\":\""), *out = NULL;

	assert_non_null(p);
	assert_int_equal(pt_audit_line_finish(*line, (size_t)(p - *line), &out, NULL), 0);
	out[strlen(out) - 1] = '\0'; /* no newline */
	free(*line);
	*line = out;
}

static char *field(const char *line, const char *key, char *buf, size_t len)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	assert_non_null(p);
	p += strlen(pat);
	if (*p == '"')
		p++;
	e = p + strcspn(p, "\",}");
	snprintf(buf, len, "%.*s", (int)(e - p), p);
	return buf;
}

static size_t find_type(struct fx *f, const char *type, bool last)
{
	char pat[48];
	size_t at = SIZE_MAX;

	snprintf(pat, sizeof(pat), "\"type\":\"%s\"", type);
	for (size_t i = 0; i < f->n; i++)
		if (strstr(f->lines[i], pat)) {
			at = i;
			if (!last)
				break;
		}
	assert_true(at != SIZE_MAX);
	return at;
}

/* ------------------------------------------------------------------ tests */

static void test_clean(void **state)
{
	struct fx *f = *state;
	struct verdict v;
	char buf[128];

	make_log(f);
	/* 1 segment, 23 records, checkpoints, 2 records after the restart */
	verify_lines(f, f->lines, f->n, f->headtext, false, &v);
	assert_string_equal(v.all, "");
	assert_int_equal(v.res.n_records, 25);
	assert_true(v.res.n_checkpoints >= 5);
	assert_int_equal(v.res.unsigned_tail, 2);
	assert_true(v.res.head_checked);
	assert_int_equal(v.res.last_seq, f->n);
	/* seq is the line number; the first line is a segment "new log" */
	assert_string_equal(field(f->lines[0], "type", buf, sizeof(buf)), "segment");
	assert_string_equal(field(f->lines[0], "reason", buf, sizeof(buf)), "new log");
	for (size_t i = 0; i < f->n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "%zu", i + 1);
		assert_string_equal(field(f->lines[i], "seq", buf, sizeof(buf)), want);
		/* the token itself never, its HMAC always */
		assert_null(strstr(f->lines[i], secret_token));
	}
	assert_non_null(strstr(f->lines[1], "\"token_hmac\":\""));
	/* the head holds the final checkpoint of the first run */
	assert_non_null(f->headtext);
}

static void test_token_ref(void **state)
{
	struct fx *f = *state;
	struct pt_audit *a;
	char warn[256], r1[PT_AUDIT_TOKEN_HMAC_HEX + 1], r2[PT_AUDIT_TOKEN_HMAC_HEX + 1],
		r3[PT_AUDIT_TOKEN_HMAC_HEX + 1];

	reset_dir(f);
	a = open_writer(f, 0, warn, sizeof(warn));
	assert_int_equal(pt_audit_token_ref(a, secret_token, r1), 0);
	assert_int_equal(pt_audit_token_ref(a, secret_token, r2), 0);
	assert_int_equal(pt_audit_token_ref(a, "another.token.x", r3), 0);
	assert_string_equal(r1, r2); /* the same token links records */
	assert_string_not_equal(r1, r3);
	assert_int_equal(strlen(r1), PT_AUDIT_TOKEN_HMAC_HEX);
	append_n(a, 1);
	assert_int_equal(pt_audit_close(a), 0);
	load(f);
	assert_non_null(strstr(f->lines[1], r1));
}

/* ------------------------------------------------------------ tamper table */

enum mut {
	M_MODIFY,	 /* change a field of line L, hash left as it was */
	M_MODIFY_REHASH, /* ... and recompute that line's hash */
	M_REWRITE_CHAIN, /* change line L and re-chain every line after it */
	M_DELETE,	 /* delete line L */
	M_REORDER,	 /* swap lines L and L+1 */
	M_CUT_BEFORE_CP, /* cut the log right before its last checkpoint (head kept) */
	M_CUT_TAIL,	 /* cut the unsigned tail after the last checkpoint */
	M_FORGE_SIG,	 /* change the signature of the first checkpoint (re-hashed) */
	M_WRONG_KID,	 /* last checkpoint signed by another key */
	M_GARBAGE,	 /* insert a garbage line before line L */
	M_OVERLONG,	 /* insert an overlong line before line L */
	M_CUT_MID_LINE,	 /* the last line loses its end */
	M_NO_SEGMENT,	 /* the first line (the segment) deleted */
	M_FORGE_HEAD,	 /* audit.head signature changed */
	M_HEAD_AHEAD,	 /* audit.head claims a checkpoint beyond the log */
};

static const struct {
	const char *name;
	enum mut m;
	size_t line;	  /* 1-based, when the mutation needs one */
	const char *want; /* in the first problem */
	bool ok;	  /* undetectable by design: verify passes */
} cases[] = {
	{ "modify a field", M_MODIFY, 9, "line 9 (seq 9): hash mismatch — record modified", false },
	{ "modify and re-hash", M_MODIFY_REHASH, 9,
	  "line 10 (seq 10): chain broken — line 9 before it was modified or replaced", false },
	{ "modify and re-chain", M_REWRITE_CHAIN, 9,
	  "checkpoint signature invalid — forged checkpoint", false },
	{ "delete a middle line", M_DELETE, 9,
	  "seq jumps from 8 to 10 at line 9 — 1 record(s) deleted", false },
	{ "reorder two lines", M_REORDER, 9, "seq jumps from 8 to 10 at line 9", false },
	{ "truncate before the last checkpoint", M_CUT_BEFORE_CP, 0,
	  "but the last checkpoint (audit.head) is seq", false },
	{ "truncate the unsigned tail", M_CUT_TAIL, 0, NULL, true },
	{ "forged checkpoint signature", M_FORGE_SIG, 0,
	  "checkpoint signature invalid — forged checkpoint", false },
	{ "checkpoint by an unknown key", M_WRONG_KID, 0,
	  "line 29 (seq 29): checkpoint signed by an unknown key kid=", false },
	{ "garbage line", M_GARBAGE, 5, "line 5: not a valid audit record", false },
	{ "overlong line", M_OVERLONG, 5, "line 5: longer than 16384 bytes", false },
	/* a crash's torn last line: reported as a crash truncation, not tampering */
	{ "cut mid-line", M_CUT_MID_LINE, 0, NULL, true },
	{ "first line deleted", M_NO_SEGMENT, 0,
	  "line 1 (seq 2): the log does not start with a segment line", false },
	{ "forged head", M_FORGE_HEAD, 0, "audit.head (checkpoint seq", false },
	{ "head beyond the log", M_HEAD_AHEAD, 0, "audit.head (checkpoint seq", false },
};

static void test_tamper(void **state)
{
	struct fx *f = *state;

	make_log(f);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char *lines[MAX_LINES + 2], *head = f->headtext ? strdup(f->headtext) : NULL, *t;
		size_t n = f->n, l = cases[c].line ? cases[c].line - 1 : 0, cp;
		bool cut = false;
		struct verdict v;

		for (size_t i = 0; i < n; i++)
			lines[i] = strdup(f->lines[i]);
		switch (cases[c].m) {
		case M_MODIFY:
			subst(&lines[l], "\"user\":\"alice\"", "\"user\":\"mallory\"");
			break;
		case M_MODIFY_REHASH:
			subst(&lines[l], "\"user\":\"alice\"", "\"user\":\"mallory\"");
			rehash(&lines[l]);
			break;
		case M_REWRITE_CHAIN:
			subst(&lines[l], "\"user\":\"alice\"", "\"user\":\"mallory\"");
			rehash(&lines[l]);
			for (size_t i = l + 1; i < n; i++) {
				char prev[80], old[80], now[80];
				snprintf(old, sizeof(old), "\"prev\":\"%s\"",
					 field(lines[i], "prev", prev, sizeof(prev)));
				snprintf(now, sizeof(now), "\"prev\":\"%s\"",
					 field(lines[i - 1], "hash", prev, sizeof(prev)));
				subst(&lines[i], old, now);
				rehash(&lines[i]);
			}
			break;
		case M_DELETE:
			free(lines[l]);
			for (size_t i = l; i + 1 < n; i++)
				lines[i] = lines[i + 1];
			n--;
			break;
		case M_REORDER:
			t = lines[l];
			lines[l] = lines[l + 1];
			lines[l + 1] = t;
			break;
		case M_CUT_BEFORE_CP:
			cp = find_type(f, "checkpoint", true);
			for (size_t i = cp; i < n; i++)
				free(lines[i]);
			n = cp;
			break;
		case M_CUT_TAIL:
			cp = find_type(f, "checkpoint", true);
			for (size_t i = cp + 1; i < n; i++)
				free(lines[i]);
			n = cp + 1;
			break;
		case M_FORGE_SIG: {
			char sig[128], forged[128];
			cp = find_type(f, "checkpoint", false);
			field(lines[cp], "sig", sig, sizeof(sig));
			snprintf(forged, sizeof(forged), "%s", sig);
			forged[3] = forged[3] == 'A' ? 'B' : 'A';
			subst(&lines[cp], sig, forged);
			rehash(&lines[cp]);
			break;
		}
		case M_WRONG_KID:
			cp = find_type(f, "checkpoint", true);
			subst(&lines[cp], f->kid, f->other_kid);
			rehash(&lines[cp]);
			break;
		case M_GARBAGE:
		case M_OVERLONG:
			for (size_t i = n; i > l; i--)
				lines[i] = lines[i - 1];
			if (cases[c].m == M_GARBAGE)
				lines[l] = strdup("{\"seq\":5,\"this is\":\"not a record\"}");
			else {
				lines[l] = malloc(PT_AUDIT_MAX_LINE + 100);
				memset(lines[l], 'x', PT_AUDIT_MAX_LINE + 99);
				lines[l][PT_AUDIT_MAX_LINE + 99] = '\0';
			}
			n++;
			break;
		case M_CUT_MID_LINE:
			lines[n - 1][strlen(lines[n - 1]) / 2] = '\0';
			cut = true;
			break;
		case M_NO_SEGMENT:
			free(lines[0]);
			for (size_t i = 0; i + 1 < n; i++)
				lines[i] = lines[i + 1];
			n--;
			break;
		case M_FORGE_HEAD: {
			char sig[128], forged[128];
			field(head, "sig", sig, sizeof(sig));
			snprintf(forged, sizeof(forged), "%s", sig);
			forged[5] = forged[5] == 'A' ? 'B' : 'A';
			char *h = head;
			subst(&h, sig, forged);
			head = h;
			break;
		}
		case M_HEAD_AHEAD: {
			char seq[32];
			char *h = head;
			field(head, "seq", seq, sizeof(seq));
			char from[48], to[48];
			snprintf(from, sizeof(from), "\"seq\":%s", seq);
			snprintf(to, sizeof(to), "\"seq\":%s0", seq);
			subst(&h, from, to);
			head = h;
			break;
		}
		}
		verify_lines(f, lines, n, head, cut, &v);
		if (cases[c].ok) {
			if (v.all[0])
				fail_msg("case \"%s\": expected OK, got:\n%s", cases[c].name,
					 v.all);
			if (cases[c].m == M_CUT_MID_LINE &&
			    (!v.res.torn_pending || v.res.n_crash != 1 ||
			     !strstr(v.res.crash[0], "crash truncation at the log byte offset")))
				fail_msg("case \"%s\": no crash truncation reported",
					 cases[c].name);
		} else if (v.res.n_problems == 0 || !strstr(v.all, cases[c].want))
			fail_msg("case \"%s\": expected \"%s\", got:\n%s", cases[c].name,
				 cases[c].want, v.all[0] ? v.all : "(no problem found)");
		print_message("# %s:%s\n", cases[c].name, v.all[0] ? "" : " OK");
		for (const char *p = v.all; *p;) { /* as TAP comments */
			size_t k = strcspn(p, "\n");
			print_message("#   %.*s\n", (int)k, p);
			p += k + (p[k] == '\n');
		}
		pt_audit_result_clear(&v.res);
		for (size_t i = 0; i < n; i++)
			free(lines[i]);
		free(head);
	}
}

/* ------------------------------------------------------------ the writer */

static void test_resume_and_breaks(void **state)
{
	struct fx *f = *state;
	struct pt_audit *a;
	struct verdict v;
	char warn[512], buf[128];
	int fd;

	/* a clean restart continues the chain: no segment, no problem */
	make_log(f);
	verify_lines(f, f->lines, f->n, f->headtext, false, &v);
	assert_string_equal(v.all, "");
	pt_audit_result_clear(&v.res);

	/* a crash's torn last line (killed mid-write): cut off, named by a
	 * "torn" record (offset, length, hash), and the chain goes on */
	pt_audit_close(f->crashed);
	f->crashed = NULL;
	{
		struct stat st;
		char want[96], hash[PT_AUDIT_HASH_HEX + 1];

		assert_int_equal(stat(f->log, &st), 0);
		fd = open(f->log, O_WRONLY | O_APPEND);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "{\"seq\":99,\"half a rec", 21), 21);
		close(fd);
		a = open_writer(f, 0, warn, sizeof(warn));
		assert_string_equal(warn, ""); /* no break */
		assert_non_null(pt_audit_notes(a));
		assert_non_null(strstr(pt_audit_notes(a), "crash truncation"));
		append_n(a, 1);
		assert_int_equal(pt_audit_close(a), 0);
		load(f);
		for (size_t i = 0; i < f->n; i++)
			assert_null(strstr(f->lines[i], "half a rec"));
		assert_string_equal(field(f->lines[f->n - 3], "type", buf, sizeof(buf)), "torn");
		assert_string_equal(field(f->lines[f->n - 3], "length", buf, sizeof(buf)), "21");
		snprintf(want, sizeof(want), "%lld", (long long)st.st_size);
		assert_string_equal(field(f->lines[f->n - 3], "offset", buf, sizeof(buf)), want);
		assert_int_equal(pt_audit_hash("{\"seq\":99,\"half a rec", 21, hash), 0);
		assert_string_equal(field(f->lines[f->n - 3], "torn_hash", buf, sizeof(buf)), hash);
		verify_lines(f, f->lines, f->n, f->headtext, false, &v);
		assert_string_equal(v.all, ""); /* not tampering */
		assert_int_equal(v.res.n_torn_recorded, 1);
		assert_false(v.res.torn_pending);
		assert_int_equal(v.res.n_crash, 1);
		snprintf(want, sizeof(want),
			 "crash truncation at the log byte offset %lld: 21 byte(s)",
			 (long long)st.st_size);
		assert_non_null(strstr(v.res.crash[0], want));
		pt_audit_result_clear(&v.res);
	}

	/* a damaged (not torn) last line still breaks the chain */
	make_log(f);
	fd = open(f->log, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "garbage\n", 8), 8);
	close(fd);
	a = open_writer(f, 0, warn, sizeof(warn));
	assert_non_null(strstr(warn, "not an audit record"));
	assert_int_equal(pt_audit_close(a), 0);

	/* the log removed, audit.head still there: a break, never silence */
	unlink(f->log);
	a = open_writer(f, 0, warn, sizeof(warn));
	assert_non_null(strstr(warn, "audit.head says the last checkpoint was seq"));
	assert_int_equal(pt_audit_close(a), 0);
	load(f);
	assert_int_equal(f->n, 1);
	assert_string_equal(field(f->lines[0], "break", buf, sizeof(buf)), "true");

	/* the last line modified: a break with the reason */
	make_log(f);
	subst(&f->lines[f->n - 1], "\"user\":\"alice\"", "\"user\":\"mallory\"");
	{
		FILE *fp = fopen(f->log, "w");
		for (size_t i = 0; i < f->n; i++)
			fprintf(fp, "%s\n", f->lines[i]);
		fclose(fp);
	}
	a = open_writer(f, 0, warn, sizeof(warn));
	assert_non_null(strstr(warn, "does not match its hash"));
	assert_int_equal(pt_audit_close(a), 0);
}

/* After a key rotation the new key signs; the old key's checkpoints are
 * covered by the new key's, so the current key alone verifies the log. */
static void test_key_rotation(void **state)
{
	struct fx *f = *state;
	struct pt_audit *a;
	struct verdict v;
	char warn[256];

	reset_dir(f);
	a = open_writer(f, 5, warn, sizeof(warn));
	append_n(a, 7); /* a checkpoint by the old key at line 7 */
	assert_int_equal(pt_audit_set_key(a, f->other, f->other_kid), 0);
	append_n(a, 3);
	assert_int_equal(pt_audit_close(a), 0);
	load(f);
	assert_non_null(strstr(f->headtext, f->other_kid));

	f->trust = f->other; /* only the current key, as tokend's JWK set after a while */
	verify_lines(f, f->lines, f->n, f->headtext, false, &v);
	assert_string_equal(v.all, "");
	assert_int_equal(v.res.unknown_covered, 2);
	pt_audit_result_clear(&v.res);

	f->trust = f->key; /* only the old key: the newest checkpoints are unverifiable */
	verify_lines(f, f->lines, f->n, f->headtext, false, &v);
	assert_non_null(strstr(v.all, "checkpoint signed by an unknown key kid="));
	assert_non_null(strstr(v.all, "no later checkpoint by a known key covers it"));
	assert_non_null(
		strstr(v.all, "audit.head (checkpoint seq 14) is signed by an unknown key"));
	pt_audit_result_clear(&v.res);
	f->trust = NULL;
}

static void test_fail_closed(void **state)
{
	struct fx *f = *state;
	struct pt_audit *a;
	char warn[256];
	struct pt_audit_event ev = { .op = "mint", .result = "allow", .user = "alice" };

	reset_dir(f);
	a = open_writer(f, 0, warn, sizeof(warn));
	assert_true(pt_audit_usable(a));
	assert_null(pt_audit_failure(a));
	assert_int_equal(pt_audit_append(a, &ev), 0);

	/* removed: no more records, and it stays so */
	unlink(f->log);
	assert_false(pt_audit_usable(a));
	assert_non_null(strstr(pt_audit_failure(a), "removed or replaced"));
	assert_true(pt_audit_append(a, &ev) < 0);
	assert_false(pt_audit_usable(a));
	assert_true(pt_audit_close(a) <= 0);

	/* replaced by another file of the same name */
	reset_dir(f);
	a = open_writer(f, 0, warn, sizeof(warn));
	assert_int_equal(pt_audit_append(a, &ev), 0);
	{
		char tmp[160];
		FILE *fp;
		snprintf(tmp, sizeof(tmp), "%s.new", f->log);
		fp = fopen(tmp, "w");
		assert_non_null(fp);
		fclose(fp);
		assert_int_equal(rename(tmp, f->log), 0);
	}
	assert_true(pt_audit_append(a, &ev) < 0);
	assert_false(pt_audit_usable(a));
	pt_audit_close(a);
}

static void test_parse_line(void **state)
{
	struct pt_audit_entry e;
	char *line = NULL, hash[PT_AUDIT_HASH_HEX + 1];
	const char *body = "{\"seq\":1,\"time\":5,\"type\":\"segment\",\"break\":false,\"prev\":"
			   "\"0000000000000000000000000000000000000000000000000000000000000000\"";

	(void)state;
	assert_int_equal(pt_audit_line_finish(body, strlen(body), &line, hash), 0);
	assert_int_equal(pt_audit_parse_line(line, strlen(line) - 1, &e), 0);
	assert_int_equal(e.seq, 1);
	assert_string_equal(e.hash, hash);
	/* a second "hash" inside the body, a NUL, a bad type, a short line */
	assert_int_equal(pt_audit_parse_line("{}", 2, &e), -EBADMSG);
	line[10] = '\0';
	assert_int_equal(pt_audit_parse_line(line, strlen(body) + 75, &e), -EBADMSG);
	free(line);
	body = "{\"seq\":1,\"time\":5,\"type\":\"nope\",\"prev\":"
	       "\"0000000000000000000000000000000000000000000000000000000000000000\"";
	assert_int_equal(pt_audit_line_finish(body, strlen(body), &line, hash), 0);
	assert_int_equal(pt_audit_parse_line(line, strlen(line) - 1, &e), -EBADMSG);
	free(line);
	body = "{\"seq\":1,\"time\":5,\"type\":\"record\",\"hash\":\"x\",\"prev\":"
	       "\"0000000000000000000000000000000000000000000000000000000000000000\"";
	assert_int_equal(pt_audit_line_finish(body, strlen(body), &line, hash), 0);
	assert_int_equal(pt_audit_parse_line(line, strlen(line) - 1, &e), -EBADMSG);
	free(line);
}

/* ------------------------------------------------------------- rotation */

/* Verifies the files (oldest first) as pertokctl audit verify does. */
static void verify_files(struct fx *f, const char *const *paths, size_t n, struct verdict *v)
{
	struct pt_audit_verifier *ver = NULL;

	assert_int_equal(pt_audit_verifier_new(&ver), 0);
	assert_int_equal(pt_audit_verifier_add_key(ver, f->key), 0);
	if (f->headtext)
		pt_audit_verifier_set_head(ver, f->headtext, strlen(f->headtext));
	for (size_t i = 0; i < n; i++) {
		FILE *fp = fopen(paths[i], "re");

		assert_non_null(fp);
		assert_int_equal(pt_audit_verifier_file(ver, paths[i]), 0);
		assert_int_equal(pt_audit_verify_stream(ver, fp), 0);
		fclose(fp);
	}
	memset(v, 0, sizeof(*v));
	pt_audit_verifier_finish(ver, &v->res);
	for (size_t i = 0, o = 0; i < v->res.n_problems; i++)
		o += (size_t)snprintf(v->all + o, sizeof(v->all) - o, "%s\n", v->res.problems[i]);
	pt_audit_verifier_free(ver);
}

/* The writer rotates at rotate_size; a start after an interrupted rotation
 * (LOG renamed to LOG.1, no new LOG yet) continues the chain; a partial
 * line anywhere but at the very end is a problem. */
static void test_rotation_writer(void **state)
{
	struct fx *f = *state;
	struct pt_audit_opts o = { .checkpoint_every = 5, .rotate_size = 4096, .rotate_keep = 2 };
	struct pt_audit *a = NULL;
	char err[256], warn[256], l1[160], l2[160], l3[176], buf[128];
	const char *paths[3];
	struct verdict v;
	FILE *fp;

	reset_dir(f);
	snprintf(l1, sizeof(l1), "%s.1", f->log);
	snprintf(l2, sizeof(l2), "%s.2", f->log);
	snprintf(l3, sizeof(l3), "%s.3", f->log); /* must not appear: keep = 2 */
	unlink(l1);
	unlink(l2);
	o.path = f->log;
	assert_int_equal(pt_audit_open(&o, storekey, f->key, f->kid, &a, warn, sizeof(warn), err,
				       sizeof(err)),
			 0);
	append_n(a, 60); /* ~25 KB: five rotations, two files kept */
	assert_int_equal(pt_audit_close(a), 0);
	assert_true(access(l2, F_OK) == 0 && access(l3, F_OK) < 0);
	load(f);
	assert_string_equal(field(f->lines[0], "type", buf, sizeof(buf)), "continuation");
	paths[0] = l2;
	paths[1] = l1;
	paths[2] = f->log;
	verify_files(f, paths, 3, &v);
	assert_string_equal(v.all, "");
	assert_true(v.res.rotated_out);
	pt_audit_result_clear(&v.res);

	/* interrupted: LOG.1 -> LOG.2, LOG -> LOG.1, and no new LOG */
	assert_int_equal(rename(l1, l2), 0);
	assert_int_equal(rename(f->log, l1), 0);
	a = NULL;
	assert_int_equal(pt_audit_open(&o, storekey, f->key, f->kid, &a, warn, sizeof(warn), err,
				       sizeof(err)),
			 0);
	assert_string_equal(warn, ""); /* no break */
	assert_non_null(pt_audit_notes(a));
	assert_non_null(strstr(pt_audit_notes(a), "interrupted rotation was completed"));
	append_n(a, 1);
	assert_int_equal(pt_audit_close(a), 0);
	load(f);
	assert_string_equal(field(f->lines[0], "type", buf, sizeof(buf)), "continuation");
	verify_files(f, paths, 3, &v);
	assert_string_equal(v.all, "");
	pt_audit_result_clear(&v.res);

	/* a partial line at the end of a rotated file: not a crash, damage */
	fp = fopen(l1, "a");
	assert_non_null(fp);
	fputs("{\"seq\":1,\"half", fp);
	fclose(fp);
	verify_files(f, paths, 3, &v);
	snprintf(l3, sizeof(l3), "%s:", l1);
	assert_non_null(strstr(v.all, l3));
	assert_non_null(strstr(v.all, "incomplete line (no newline) inside the log"));
	assert_false(v.res.torn_pending);
	pt_audit_result_clear(&v.res);

	/* the log and audit.head gone, LOG.1 not ending cleanly: a break,
	 * never a silent new chain */
	unlink(f->log);
	unlink(f->head);
	a = NULL;
	assert_int_equal(pt_audit_open(&o, storekey, f->key, f->kid, &a, warn, sizeof(warn), err,
				       sizeof(err)),
			 0);
	assert_non_null(strstr(warn, "does not end with a verifiable line"));
	assert_int_equal(pt_audit_close(a), 0);
	load(f);
	verify_files(f, paths, 3, &v);
	snprintf(l3, sizeof(l3), "%s:1 (seq ", f->log);
	assert_non_null(strstr(v.all, l3));
	assert_non_null(strstr(v.all, "the chain restarts here"));
	pt_audit_result_clear(&v.res);

	/* a well-formed fresh log ("new log", no break) put after rotated
	 * files is a restart too, whatever its own lines say */
	{
		struct pt_audit_opts o2 = { .checkpoint_every = 5 };
		char other[160], cmd[600], want[300];

		snprintf(other, sizeof(other), "%s/other", f->dir);
		mkdir(other, 0700);
		snprintf(l3, sizeof(l3), "%s/audit.log", other);
		unlink(l3);
		o2.path = l3;
		a = NULL;
		assert_int_equal(pt_audit_open(&o2, storekey, f->key, f->kid, &a, warn,
					       sizeof(warn), err, sizeof(err)),
				 0);
		append_n(a, 1);
		assert_int_equal(pt_audit_close(a), 0);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && rm -rf '%s'", l3, f->log, other);
		assert_int_equal(system(cmd), 0);
		free(f->headtext);
		f->headtext = NULL;
		verify_files(f, paths, 3, &v);
		snprintf(want, sizeof(want),
			 "%s:1 (seq 1): the chain restarts here (segment: new log)", f->log);
		assert_non_null(strstr(v.all, want));
		pt_audit_result_clear(&v.res);
	}
	unlink(l1);
	unlink(l2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),	  cmocka_unit_test(test_clean),
		cmocka_unit_test(test_token_ref),	  cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_resume_and_breaks), cmocka_unit_test(test_key_rotation),
		cmocka_unit_test(test_fail_closed),	  cmocka_unit_test(test_rotation_writer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
