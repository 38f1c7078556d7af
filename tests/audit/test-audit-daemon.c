/* SPDX-License-Identifier: MIT */
/*
 * The audit trail end to end: a private tokend in a temp dir records every
 * decision, `pertokctl audit verify` accepts its log and rejects tampered
 * copies with the right words, and tokend fails closed (refuses to issue,
 * still revokes) when its log is removed or its file system is full (a tiny
 * tmpfs in a private mount namespace). Needs root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

static char state[128], auditlog[160], jwks[128];
static bool have_tmpfs;

static void write_conf(const char *state_dir)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s\"; client_timeout = 2000; };\n"
		"seal: { backend = \"software\"; };\n"
		"audit: { checkpoint_every = 4; checkpoint_interval = \"1h\"; sync = \"record\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; },\n"
		"           { name = \"elsewhere\"; uid = 0; exe = [ \"/nonexistent/bin\" ]; } );\n"
		"issue = ( { name = \"audit-issue\"; actors = [ \"tester\" ];\n"
		"            holders = [ \"tester\", \"elsewhere\" ]; max_outstanding = 4; } );\n"
		"redeem = ( { name = \"audit-redeem\"; holders = [ \"tester\" ];\n"
		"             check_account = false; } );\n",
		th.sock, state_dir, th.self_exe);
	fclose(f);
	snprintf(state, sizeof(state), "%s", state_dir);
	snprintf(auditlog, sizeof(auditlog), "%s/audit.log", state_dir);
}

static int setup(void **state_)
{
	(void)state_;
	if (geteuid() != 0)
		return 0;
	if (th_init("audit") < 0)
		return -1;
	th.timeout_ms = 3000;
	snprintf(jwks, sizeof(jwks), "%s/jwks.json", th.dir);
	return 0;
}

static int teardown(void **state_)
{
	char full[96];

	(void)state_;
	if (geteuid() != 0)
		return 0;
	th_stop(SIGTERM);
	if (have_tmpfs) {
		snprintf(full, sizeof(full), "%s/full", th.dir);
		umount2(full, MNT_DETACH);
	}
	return th_remove_dir();
}

static void need_root(void)
{
	if (geteuid() != 0) {
		print_message("# skipped: needs root (tokend reads shadow and its peers' "
			      "executables)\n");
		skip();
	}
}

/* ------------------------------------------------------------------ calls */

/* MINT; returns the token or NULL with the error in *code / msg. */
static char *mint(uint32_t *code, char *msg, size_t msglen)
{
	struct pt_req req = { .type = PT_MINT,
			      .user = (char *)"root",
			      .service = (char *)"audit",
			      .tty = (char *)"pts/9",
			      .rhost = (char *)"" };
	struct pt_rep rep;
	char *token = NULL;

	assert_int_equal(th_call(&req, &rep), 0);
	*code = rep.type == PT_OK ? 0 : rep.err_code;
	if (msg)
		snprintf(msg, msglen, "%s", rep.message ? rep.message : "");
	if (rep.type == PT_OK) {
		token = rep.token;
		rep.token = NULL;
	}
	pt_rep_clear(&rep);
	return token;
}

static char *exchange(const char *token, const char *holder)
{
	struct pt_req req = { .type = PT_EXCHANGE,
			      .live_token = (char *)token,
			      .holder = (char *)holder };
	struct pt_rep rep;
	char *id;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	id = strdup(rep.id);
	pt_rep_clear(&rep);
	return id;
}

static uint32_t simple(uint8_t type, const char *id, const char *holder)
{
	struct pt_req req = { .type = type,
			      .user = (char *)"root",
			      .holder = (char *)holder,
			      .service = (char *)"audit",
			      .id = (char *)id };
	struct pt_rep rep;
	uint32_t code;

	assert_int_equal(th_call(&req, &rep), 0);
	code = rep.type == PT_OK ? 0 : rep.err_code;
	pt_rep_clear(&rep);
	return code;
}

static void save_jwks(void)
{
	struct pt_req req = { .type = PT_PUBKEY, .format = PT_PUBKEY_JWKS };
	struct pt_rep rep;
	FILE *f;

	assert_int_equal(th_call(&req, &rep), 0);
	assert_int_equal(rep.type, PT_OK);
	f = fopen(jwks, "w");
	assert_non_null(f);
	fputs(rep.text, f);
	fclose(f);
	pt_rep_clear(&rep);
}

/* Runs pertokctl audit verify on file (head: audit.head next to it);
 * returns its exit status and its output in out. */
static int verify(const char *file, char *out, size_t outlen)
{
	const char *b = getenv("top_builddir");
	char cmd[PATH_MAX * 2];
	size_t n = 0;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/tools/pertokctl audit verify --file '%s' --jwks '%s' 2>&1",
		 b ? b : ".", file, jwks);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	st = pclose(p);
	print_message("# verify %s:\n", file);
	for (const char *l = out; *l;) { /* as TAP comments */
		size_t k = strcspn(l, "\n");
		print_message("#   %.*s\n", (int)k, l);
		l += k + (l[k] == '\n');
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The JSON string value of key in line ("" when absent). */
static const char *value(const char *line, const char *key, char *buf, size_t len)
{
	char pat[48];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(line, pat);
	buf[0] = '\0';
	if (!p)
		return buf;
	p += strlen(pat);
	e = strchr(p, '"');
	snprintf(buf, len, "%.*s", (int)(e ? e - p : 0), p);
	return buf;
}

/* The first line of text containing every one of the needles. */
static const char *find_line(const char *text, const char *a, const char *b, char *buf, size_t len)
{
	for (const char *l = text; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		snprintf(buf, len, "%.*s", (int)n, l);
		if (strstr(buf, a) && (!b || strstr(buf, b)))
			return buf;
		l = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* ------------------------------------------------------------------ tests */

static void test_decisions_recorded(void **state_)
{
	char path[160], out[8192], l1[16384], l2[16384], l3[16384], h1[64], h2[64], v[64];
	char *token, *id, *log;
	uint32_t code;

	(void)state_;
	need_root();
	snprintf(path, sizeof(path), "%s/state", th.dir);
	write_conf(path);
	th_start();
	save_jwks();
	token = mint(&code, NULL, 0);
	assert_non_null(token);
	id = exchange(token, "tester");
	assert_int_equal(simple(PT_REDEEM, NULL, "tester"), 0);
	/* a deny: another actor's holder */
	assert_int_equal(simple(PT_REDEEM, NULL, "elsewhere"), PT_E_PERM);
	/* a deny: no such token */
	assert_int_equal(simple(PT_REVOKE, "pt_nosuchtokennosuchtoken", NULL), PT_E_NOTFOUND);
	th_stop(SIGTERM); /* the final checkpoint */

	log = th_slurp(auditlog);
	assert_non_null(log);
	assert_null(strstr(log, token)); /* never a token */
	assert_non_null(
		find_line(log, "\"op\":\"mint\",\"result\":\"allow\"", NULL, l1, sizeof(l1)));
	assert_non_null(
		find_line(log, "\"op\":\"exchange\",\"result\":\"allow\"", id, l2, sizeof(l2)));
	assert_non_null(
		find_line(log, "\"op\":\"redeem\",\"result\":\"allow\"", id, l3, sizeof(l3)));
	/* who: actor, pid, exe, PAM service; which rule */
	assert_string_equal(value(l1, "actor", v, sizeof(v)), "tester");
	assert_string_equal(value(l1, "service", v, sizeof(v)), "audit");
	assert_string_equal(value(l3, "rule", v, sizeof(v)), "audit-redeem");
	assert_non_null(strstr(l1, th.self_exe));
	assert_non_null(strstr(l1, "\"peer_pid\":"));
	/* the login's live token links mint and exchange: the same HMAC */
	assert_true(strlen(value(l1, "token_hmac", h1, sizeof(h1))) == 32);
	assert_string_equal(value(l2, "token_hmac", h2, sizeof(h2)), h1);
	/* the job's live token is another one */
	assert_string_not_equal(value(l3, "token_hmac", h2, sizeof(h2)), h1);
	assert_non_null(find_line(log, "\"op\":\"redeem\",\"result\":\"deny\"", "elsewhere", l1,
				  sizeof(l1)));
	assert_non_null(
		find_line(log, "\"op\":\"revoke\",\"result\":\"deny\"", NULL, l1, sizeof(l1)));
	assert_non_null(find_line(log, "\"type\":\"checkpoint\"", NULL, l1, sizeof(l1)));

	assert_int_equal(verify(auditlog, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "OK: 5 records, "));
	/* audit show: one line per record, the user's only */
	{
		const char *b = getenv("top_builddir");
		char cmd[PATH_MAX * 2];
		size_t k;
		FILE *p;

		snprintf(cmd, sizeof(cmd), "%s/tools/pertokctl audit show --file '%s' --user root",
			 b ? b : ".", auditlog);
		p = popen(cmd, "r");
		assert_non_null(p);
		k = fread(out, 1, sizeof(out) - 1, p);
		out[k] = '\0';
		assert_int_equal(pclose(p), 0);
		assert_non_null(strstr(out, "mint       allow    root"));
		assert_non_null(strstr(out, "redeem     deny     root         elsewhere"));
		assert_null(strstr(out, "(checkpoint)"));
	}
	free(log);
	free(id);
	pt_free_secret(token);
}

/* Writes a copy of the log (and its head) into DIR/copy/, transformed by
 * keeping lines [0, cut) minus line skip (1-based, 0 = none), with line
 * edit's first "allow" changed. Returns the copy's path. */
static const char *tampered(int skip, int edit, int cut)
{
	static char path[200];
	char cmd[600], copy[160];

	snprintf(copy, sizeof(copy), "%s/copy", th.dir);
	mkdir(copy, 0700);
	snprintf(path, sizeof(path), "%s/audit.log", copy);
	snprintf(cmd, sizeof(cmd), "cp '%s/audit.head' '%s/audit.head'", state, copy);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		 "awk -v skip=%d -v edit=%d -v cut=%d 'NR==skip{next} cut&&NR>=cut{exit} "
		 "NR==edit{sub(/\"allow\"/,\"\\\"alloW\\\"\")} {print}' '%s' > '%s'",
		 skip, edit, cut, auditlog, path);
	assert_int_equal(system(cmd), 0);
	return path;
}

static void test_tampered_copies(void **state_)
{
	char out[8192], cp[32];
	char *log;
	int last_cp = 0, line = 0;

	(void)state_;
	need_root();
	/* the untouched copy verifies */
	assert_int_equal(verify(tampered(0, 0, 0), out, sizeof(out)), 0);
	/* a record modified in place */
	assert_int_equal(verify(tampered(0, 3, 0), out, sizeof(out)), 1);
	assert_non_null(strstr(out, "line 3 (seq 3): hash mismatch — record modified"));
	assert_non_null(strstr(out, "FAILED"));
	/* a record deleted in the middle */
	assert_int_equal(verify(tampered(4, 0, 0), out, sizeof(out)), 1);
	assert_non_null(strstr(out, "seq jumps from 3 to 5 at line 4 — 1 record(s) deleted"));
	/* cut before the last checkpoint: audit.head knows better */
	log = th_slurp(auditlog);
	for (char *l = log; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		line++;
		if (strncmp(strstr(l, "\"type\":") ?: "", "\"type\":\"checkpoint\"", 19) == 0)
			last_cp = line;
	}
	free(log);
	assert_true(last_cp > 1);
	assert_int_equal(verify(tampered(0, 0, last_cp), out, sizeof(out)), 1);
	snprintf(cp, sizeof(cp), "is seq %d — truncated", last_cp);
	assert_non_null(strstr(out, "but the last checkpoint (audit.head)"));
	assert_non_null(strstr(out, cp));
}

static void test_fail_closed_removed(void **state_)
{
	char out[8192], msg[256], *token, *id, *tlog;
	uint32_t code;

	(void)state_;
	need_root();
	th_start();
	token = mint(&code, NULL, 0);
	assert_non_null(token);
	id = exchange(token, "elsewhere");
	pt_free_secret(token);

	assert_int_equal(unlink(auditlog), 0);
	token = mint(&code, msg, sizeof(msg));
	assert_null(token);
	assert_int_equal(code, PT_E_INTERNAL);
	assert_string_equal(msg, "audit log cannot be written");
	assert_int_equal(simple(PT_REDEEM, NULL, "tester"), PT_E_INTERNAL);
	/* revocation only reduces access: it still works */
	assert_int_equal(simple(PT_REVOKE, id, NULL), 0);
	th_stop(SIGTERM);
	tlog = th_slurp(th.logpath);
	assert_non_null(strstr(tlog, "removed or replaced"));
	free(tlog);

	/* a restart starts a new segment, and says so */
	th_start();
	token = mint(&code, NULL, 0);
	assert_non_null(token);
	pt_free_secret(token);
	th_stop(SIGTERM);
	tlog = th_slurp(th.logpath);
	assert_non_null(strstr(tlog, "a new segment starts at seq"));
	free(tlog);
	assert_int_equal(verify(auditlog, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "line 1 (seq "));
	assert_non_null(strstr(out, "the chain restarts here (segment: the log was empty or "
				    "missing"));
	free(id);
}

static void test_fail_closed_disk_full(void **state_)
{
	char full[96], st[128], filler[128], out[8192], msg[256], buf[65536], *token, *id, *tlog;
	uint32_t code;
	int fd;

	(void)state_;
	need_root();
	/* a 1 MiB tmpfs for the state directory, in our own mount namespace */
	snprintf(full, sizeof(full), "%s/full", th.dir);
	mkdir(full, 0700);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", full, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700") < 0) {
		print_message("# cannot mount a tmpfs here (%s): skipped\n", strerror(errno));
		skip();
	}
	have_tmpfs = true;
	snprintf(st, sizeof(st), "%s/state", full);
	write_conf(st);
	th_start();
	save_jwks();
	token = mint(&code, NULL, 0);
	assert_non_null(token);
	id = exchange(token, "elsewhere");
	pt_free_secret(token);

	/* fill the file system */
	snprintf(filler, sizeof(filler), "%s/filler", full);
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	memset(buf, 'x', sizeof(buf));
	while (write(fd, buf, sizeof(buf)) > 0)
		;
	while (write(fd, buf, 1) > 0)
		;
	fsync(fd);
	close(fd);

	/* the log's last page may still have room: a few records fit, then none */
	for (int i = 0; i < 40; i++) {
		token = mint(&code, msg, sizeof(msg));
		if (!token)
			break;
		pt_free_secret(token);
	}
	assert_null(token);
	assert_int_equal(code, PT_E_INTERNAL);
	assert_string_equal(msg, "audit log cannot be written");
	tlog = th_slurp(th.logpath);
	assert_non_null(strstr(tlog, "reason=\"refused: audit log cannot be written\""));
	free(tlog);
	/* revoking still works on a full disk (and is audited once possible) */
	assert_int_equal(simple(PT_REVOKE, id, NULL), 0);

	/* space again: issuing resumes, the chain is whole */
	assert_int_equal(unlink(filler), 0);
	token = mint(&code, msg, sizeof(msg));
	if (!token)
		fail_msg("mint after freeing space: %u %s", code, msg);
	pt_free_secret(token);
	th_stop(SIGTERM);
	assert_int_equal(verify(auditlog, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "OK: "));
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decisions_recorded),
		cmocka_unit_test(test_tampered_copies),
		cmocka_unit_test(test_fail_closed_removed),
		cmocka_unit_test(test_fail_closed_disk_full),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
