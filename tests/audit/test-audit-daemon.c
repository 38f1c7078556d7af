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
#include <grp.h>
#include <lmdb.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "auditlog.h"
#include "client.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

#define NOBODY 65534

static char state[128], auditlog[160], jwks[128];
static bool have_tmpfs;
static const char *audit_extra = "";  /* more settings in audit { } */
static const char *tokend_extra = ""; /* more settings in tokend { } */
static int cp_every = 4;	      /* audit { checkpoint_every } */

static void write_conf(const char *state_dir)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s\"; client_timeout = 2000; %s };\n"
		"seal: { backend = \"software\"; };\n"
		"audit: { checkpoint_every = %d; checkpoint_interval = \"1h\"; sync = \"record\";\n"
		"         %s };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; },\n"
		"           { name = \"elsewhere\"; uid = 0; exe = [ \"/nonexistent/bin\" ]; } );\n"
		"issue = ( { name = \"audit-issue\"; actors = [ \"tester\" ];\n"
		"            holders = [ \"tester\", \"elsewhere\" ]; max_outstanding = 4; } );\n"
		"redeem = ( { name = \"audit-redeem\"; holders = [ \"tester\" ];\n"
		"             check_account = false; } );\n",
		th.sock, state_dir, tokend_extra, cp_every, audit_extra, th.self_exe);
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
	assert_non_null(strstr(out, "audit.log:3 (seq 3): hash mismatch — record modified"));
	assert_non_null(strstr(out, "FAILED"));
	/* a record deleted in the middle */
	assert_int_equal(verify(tampered(4, 0, 0), out, sizeof(out)), 1);
	assert_non_null(strstr(out, "seq jumps from 3 to 5 at "));
	assert_non_null(strstr(out, "audit.log:4 — 1 record(s) deleted"));
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
	assert_non_null(strstr(out, "audit.log:1 (seq "));
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

/* ------------------------------------------------ refusals, rotation, crashes */

static off_t size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static unsigned count_lines(const char *text, const char *a, const char *b)
{
	unsigned n = 0;

	for (const char *l = text; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t k = nl ? (size_t)(nl - l) : strlen(l);
		char *line = strndup(l, k);

		assert_non_null(line);
		if (strstr(line, a) && (!b || strstr(line, b)))
			n++;
		free(line);
		l = nl ? nl + 1 : NULL;
	}
	return n;
}

/* Sum of count= (and recorded=) over tokend's summary lines for op and uid. */
static uint64_t summarised(const char *text, const char *op, uint64_t *ret_recorded)
{
	char pat[96];
	uint64_t sum = 0, rec = 0;

	snprintf(pat, sizeof(pat), "op=%s result=summary peer_uid=%d count=", op, NOBODY);
	for (const char *p = text; (p = strstr(p, pat)); p++) {
		unsigned long long c = 0, r = 0;

		if (sscanf(p + strlen(pat), "%llu recorded=%llu", &c, &r) == 2) {
			sum += c;
			rec += r;
		}
	}
	if (ret_recorded)
		*ret_recorded = rec;
	return sum;
}

struct flood {
	unsigned status, redeem; /* refused with PT_E_PERM */
	unsigned other;		 /* anything else (errors, other refusals) */
	unsigned unknown;	 /* unknown request types answered with an error */
};

/* One frame of a request type tokend does not know, after the hello, on a
 * raw connection (the client library only encodes known types). 1 when
 * tokend answered it with an error. */
static int unknown_request(void)
{
	static const uint8_t hello[] = { 0, 0, 0, 5, PT_HELLO, 0, 0, 0, PT_PROTO_VERSION };
	static const uint8_t bogus[] = { 0, 0, 0, 1, 200 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t buf[512];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;
	ssize_t k;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", th.sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, hello, sizeof(hello)) != (ssize_t)sizeof(hello) || read(fd, buf, 4) != 4)
		goto out;
	k = (ssize_t)((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | buf[2] << 8 | buf[3]);
	if (k <= 0 || k > (ssize_t)sizeof(buf) || read(fd, buf, (size_t)k) != k || buf[0] != PT_OK)
		goto out;
	if (write(fd, bogus, sizeof(bogus)) != (ssize_t)sizeof(bogus))
		goto out;
	ok = read(fd, buf, sizeof(buf)) > 4 && buf[4] == PT_ERR;
out:
	if (fd >= 0)
		close(fd);
	return ok;
}

/* n requests as uid NOBODY on one connection (reconnecting when closed):
 * STATUS (root only) and, every 4th, REDEEM (actors only). */
static void flood_as_nobody(unsigned n, struct flood *ret)
{
	int fds[2], st;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flood f = { 0 };
		struct pt_client *c = NULL;

		close(fds[0]);
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		for (unsigned i = 0; i < n; i++) {
			struct pt_req req = { .type = i % 4 == 3 ? PT_REDEEM : PT_STATUS,
					      .user = (char *)"root",
					      .holder = (char *)"tester",
					      .service = (char *)"audit" };
			struct pt_rep rep;

			if (!c && pt_client_connect(th.sock, 2000, &c) < 0) {
				c = NULL;
				f.other++;
				continue;
			}
			if (pt_client_call(c, &req, &rep) < 0) {
				pt_client_free(c);
				c = NULL;
				f.other++;
				continue;
			}
			if (rep.type != PT_OK && rep.err_code == PT_E_PERM) {
				if (req.type == PT_STATUS)
					f.status++;
				else
					f.redeem++;
			} else
				f.other++;
			pt_rep_clear(&rep);
		}
		pt_client_free(c);
		for (unsigned i = 0; i < n / 10; i++)
			f.unknown += (unsigned)unknown_request();
		_exit(write(fds[1], &f, sizeof(f)) == (ssize_t)sizeof(f) ? 0 : 101);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], ret, sizeof(*ret)), (ssize_t)sizeof(*ret));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* One unprivileged user sends thousands of refused requests: the first few
 * per window are recorded, the rest summarised with the right count, and
 * the audit log and tokend's log stay small; an actor's allowed redeem is
 * still recorded on its own. */
static void test_refusal_flood(void **state_)
{
	char path[160], want[256], out[8192], l1[16384], *token, *id, *tlog, *log;
	uint64_t st_sum = 0, rd_sum = 0, st_rec = 0, rd_rec = 0, unknown_sum = 0, t0, windows;
	unsigned records;
	struct flood f;
	uint32_t code;
	off_t log0;

	(void)state_;
	need_root();
	snprintf(path, sizeof(path), "%s/flood", th.dir);
	audit_extra = "refusal_burst = 5; refusal_window = 3;";
	/* the audit trail's own limit, not tokend's per-uid request rate
	 * (tests/daemon/test-fairness.c), which would refuse most of the flood
	 * before it is decided */
	tokend_extra = "uid_request_rate = \"1000000/1s\";";
	write_conf(path);
	audit_extra = tokend_extra = "";
	th_start();
	save_jwks();
	log0 = size_of(th.logpath);
	assert_true(log0 >= 0);

	t0 = pt_now_ms_monotonic();
	flood_as_nobody(4000, &f);
	print_message("# refused: %u status, %u redeem, %u unknown requests; %u other replies\n",
		      f.status, f.redeem, f.unknown, f.other);
	assert_true(f.status >= 1000 && f.redeem >= 300 && f.unknown >= 100);

	/* an actor's allowed redeem is still recorded one by one */
	token = mint(&code, NULL, 0);
	assert_non_null(token);
	id = exchange(token, "tester");
	assert_int_equal(simple(PT_REDEEM, NULL, "tester"), 0);

	/* the summaries come when their windows are over (at the latest with the
	 * next housekeeping round): wait until they account for every refusal */
	for (int i = 0; i < 600; i++) {
		uint64_t indiv;

		tlog = th_slurp(th.logpath);
		assert_non_null(tlog);
		st_sum = summarised(tlog, "status", &st_rec);
		rd_sum = summarised(tlog, "redeem", &rd_rec);
		/* refusals in windows without a summary were logged one by one */
		indiv = count_lines(tlog, "op=status result=deny", "peer_uid=65534");
		st_sum += indiv - st_rec;
		indiv = count_lines(tlog, "op=redeem result=deny", "peer_uid=65534");
		rd_sum += indiv - rd_rec;
		unknown_sum = summarised(tlog, "unknown", NULL);
		free(tlog);
		if (st_sum == f.status && rd_sum == f.redeem && st_rec > 0 && rd_rec > 0 &&
		    unknown_sum > 0)
			break;
		usleep(50000);
	}
	assert_int_equal(st_sum, f.status);
	assert_int_equal(rd_sum, f.redeem);
	/* the flood spans this many 3 s windows at most (one, usually; many
	 * under valgrind): each may record 5 refusals of each op and a summary */
	windows = (pt_now_ms_monotonic() - t0) / 3000 + 2;
	th_stop(SIGTERM);

	tlog = th_slurp(th.logpath);
	assert_non_null(tlog);
	snprintf(want, sizeof(want), "refusals of status by uid %d in the last 3 s", NOBODY);
	assert_non_null(strstr(tlog, want));
	/* unknown request types: a few lines, then a summary too */
	assert_true(count_lines(tlog + log0, "reason=\"unknown request type", "peer_uid=65534") <=
		    10);
	assert_non_null(strstr(tlog + log0, "op=unknown result=summary peer_uid=65534"));
	/* tokend's log: a bound instead of ~100 bytes per refusal */
	print_message("# tokend's log grew by %lld bytes for %u refusals in at most %llu windows\n",
		      (long long)(size_of(th.logpath) - log0), f.status + f.redeem,
		      (unsigned long long)windows);
	assert_true((uint64_t)(size_of(th.logpath) - log0) < 4096 + windows * 3 * 6 * 512);
	free(tlog);

	log = th_slurp(auditlog);
	assert_non_null(log);
	print_message("# audit.log: %lld bytes\n", (long long)size_of(auditlog));
	assert_true((uint64_t)size_of(auditlog) < 8192 + windows * 3 * 6 * 512);
	/* each window: 5 records of each op, then a summary record (the window
	 * the flood ended in may have seen fewer than 5: a slow run, valgrind) */
	records = count_lines(log, "\"op\":\"status\",\"result\":\"deny\"", "\"peer_uid\":65534");
	assert_true(records >= 5 && records <= 5 * windows);
	snprintf(want, sizeof(want), "\"reason\":\"%u refusals of status by uid %d in the last 3 s",
		 f.status, NOBODY);
	if (records == 5) /* the usual case: the whole flood within one window */
		assert_non_null(strstr(log, want));
	assert_true(count_lines(log, "\"result\":\"summary\"", "\"peer_uid\":65534") >= 2);
	assert_non_null(
		find_line(log, "\"op\":\"redeem\",\"result\":\"allow\"", id, l1, sizeof(l1)));
	free(log);
	assert_int_equal(verify(auditlog, out, sizeof(out)), 0);
	free(id);
	pt_free_secret(token);
}

/* The last line of path (without its newline) into buf. */
static const char *last_line(const char *path, char *buf, size_t len)
{
	char *text = th_slurp(path), *p;
	size_t n;

	assert_non_null(text);
	n = strlen(text);
	assert_true(n > 1 && text[n - 1] == '\n');
	text[n - 1] = '\0';
	p = strrchr(text, '\n');
	snprintf(buf, len, "%s", p ? p + 1 : text);
	free(text);
	return buf;
}

/* Size-based rotation: LOG.1 .. LOG.3 at about rotate_size each, the chain
 * going on across them, verify spanning all, a change in a rotated file
 * named FILE:LINE. */
static void test_rotation(void **state_)
{
	char path[160], f1[200], f2[200], f4[200], cmd[700], out[8192], l1[16384], l2[16384];
	char v1[80], v2[80], *text, *token, *id;
	uint32_t code;
	FILE *f;

	(void)state_;
	need_root();
	snprintf(path, sizeof(path), "%s/rot", th.dir);
	audit_extra = "rotate_size = \"4K\"; rotate_keep = 3;";
	write_conf(path);
	audit_extra = "";
	th_start();
	save_jwks();
	/* root's refusals are recorded one by one: ~45 KB of records */
	for (int i = 0; i < 120; i++)
		assert_int_equal(simple(PT_REVOKE, "pt_nosuchtokennosuchtoken", NULL),
				 PT_E_NOTFOUND);
	token = mint(&code, NULL, 0);
	assert_non_null(token);
	id = exchange(token, "tester");
	assert_int_equal(simple(PT_REDEEM, NULL, "tester"), 0);
	th_stop(SIGTERM);

	snprintf(f4, sizeof(f4), "%s.4", auditlog);
	assert_true(size_of(f4) < 0); /* rotate_keep = 3: the oldest went */
	for (int k = 1; k <= 3; k++) {
		snprintf(f1, sizeof(f1), "%s.%d", auditlog, k);
		print_message("# %s: %lld bytes\n", f1, (long long)size_of(f1));
		assert_true(size_of(f1) >= 4096 && size_of(f1) < 4096 + 2048);
		/* every rotated file ends with a signed checkpoint */
		assert_non_null(strstr(last_line(f1, l1, sizeof(l1)), "\"type\":\"checkpoint\""));
	}
	/* the new file's first line chains to the old file's last */
	snprintf(f1, sizeof(f1), "%s.1", auditlog);
	text = th_slurp(auditlog);
	assert_non_null(text);
	snprintf(l2, sizeof(l2), "%.*s", (int)strcspn(text, "\n"), text);
	free(text);
	assert_non_null(strstr(l2, "\"type\":\"continuation\""));
	assert_string_equal(value(l2, "prev", v2, sizeof(v2)),
			    value(last_line(f1, l1, sizeof(l1)), "hash", v1, sizeof(v1)));

	assert_int_equal(verify(auditlog, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "OK: "));
	assert_non_null(strstr(out, "note: 4 files checked in order"));
	assert_non_null(strstr(out, "older files were rotated out and deleted"));
	/* audit show reads the rotated files too, oldest first */
	{
		unsigned in_files = 0;
		char *all;

		for (int k = 3; k >= 0; k--) {
			if (k)
				snprintf(f2, sizeof(f2), "%s.%d", auditlog, k);
			else
				snprintf(f2, sizeof(f2), "%s", auditlog);
			text = th_slurp(f2);
			assert_non_null(text);
			in_files +=
				count_lines(text, "\"op\":\"revoke\",\"result\":\"deny\"", NULL);
			free(text);
		}
		snprintf(cmd, sizeof(cmd), "%s/tools/pertokctl audit show --file '%s'",
			 getenv("top_builddir") ?: ".", auditlog);
		f = popen(cmd, "r");
		assert_non_null(f);
		all = calloc(1, 1 << 20);
		assert_non_null(all);
		assert_true(fread(all, 1, (1 << 20) - 1, f) > 0);
		assert_int_equal(pclose(f), 0);
		assert_true(in_files > 10);
		assert_int_equal(count_lines(all, "revoke     deny", NULL), in_files);
		free(all);
	}

	/* a record changed in a rotated file: named FILE:LINE */
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.orig' && sed -i '3s/\"deny\"/\"denY\"/' '%s'", f1,
		 f1, f1);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(verify(auditlog, out, sizeof(out)), 1);
	snprintf(l1, sizeof(l1), "%s:3 (seq ", f1);
	assert_non_null(strstr(out, l1));
	assert_non_null(strstr(out, "hash mismatch — record modified"));
	/* a whole rotated file deleted from the middle: records missing */
	snprintf(cmd, sizeof(cmd), "mv '%s.orig' '%s'", f1, f1);
	assert_int_equal(system(cmd), 0);
	snprintf(f2, sizeof(f2), "%s.2", auditlog);
	assert_int_equal(unlink(f2), 0);
	assert_int_equal(verify(auditlog, out, sizeof(out)), 1);
	snprintf(l1, sizeof(l1), "at %s:1 — ", f1);
	assert_non_null(strstr(out, l1));
	assert_non_null(strstr(out, "record(s) deleted"));
	free(id);
	pt_free_secret(token);
}

/* A crash (SIGKILL mid-write) leaves half a record at the end: verify
 * calls it a crash truncation (exit 4) until tokend's next start cuts it
 * off and records offset, length and hash; then verify passes and still
 * names it. Leftover .audit.head.*.tmp go at start. Changes in the middle
 * are still tampering. */
static void test_crash_truncation(void **state_)
{
	static const char torn[] =
		"{\"seq\":42,\"time\":1795346498,\"type\":\"record\",\"op\":\"mi";
	char path[160], tmp[200], out[8192], want[256], l1[16384], v[80],
		hash[PT_AUDIT_HASH_HEX + 1];
	char *token, *tlog, *log;
	const char *since;
	uint32_t code;
	off_t size0, log0;
	FILE *f;

	(void)state_;
	need_root();
	snprintf(path, sizeof(path), "%s/crash", th.dir);
	write_conf(path);
	th_start();
	save_jwks();
	token = mint(&code, NULL, 0);
	assert_non_null(token);
	pt_free_secret(token);
	th_stop(SIGTERM);

	/* the crash, deterministically: half a line, no newline */
	size0 = size_of(auditlog);
	f = fopen(auditlog, "a");
	assert_non_null(f);
	fputs(torn, f);
	fclose(f);
	snprintf(tmp, sizeof(tmp), "%s/.audit.head.0123456789ab.tmp", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs("{\"seq\":", f);
	fclose(f);

	assert_int_equal(verify(auditlog, out, sizeof(out)), 4);
	log0 = size_of(th.logpath);
	snprintf(want, sizeof(want),
		 "crash truncation at %s byte offset %lld: the log ends with "
		 "an incomplete line of %zu byte(s)",
		 auditlog, (long long)size0, strlen(torn));
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "CRASH-TRUNCATED: "));
	assert_null(strstr(out, "FAILED"));

	th_start();
	assert_true(access(tmp, F_OK) < 0 && errno == ENOENT);
	token = mint(&code, NULL, 0);
	assert_non_null(token);
	pt_free_secret(token);
	th_stop(SIGTERM);
	tlog = th_slurp(th.logpath);
	assert_non_null(tlog);
	assert_true(strlen(tlog) >= (size_t)log0);
	since = tlog + log0; /* this start's lines */
	assert_non_null(strstr(since, "removed 1 leftover temporary file(s) .audit.head.*.tmp"));
	snprintf(want, sizeof(want),
		 "crash truncation: an incomplete last line of %zu byte(s) at "
		 "offset %lld",
		 strlen(torn), (long long)size0);
	assert_non_null(strstr(since, want));
	assert_null(strstr(since, "a new segment starts")); /* no break */
	free(tlog);

	log = th_slurp(auditlog);
	assert_non_null(log);
	assert_null(strstr(log, "\"op\":\"mi\n"));
	assert_non_null(find_line(log, "\"type\":\"torn\"", NULL, l1, sizeof(l1)));
	snprintf(want, sizeof(want), "\"offset\":%lld,\"length\":%zu,", (long long)size0,
		 strlen(torn));
	assert_non_null(strstr(l1, want));
	assert_int_equal(pt_audit_hash(torn, strlen(torn), hash), 0);
	assert_string_equal(value(l1, "torn_hash", v, sizeof(v)), hash);
	free(log);

	assert_int_equal(verify(auditlog, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "crash truncation at %s byte offset %lld: %zu byte(s)",
		 auditlog, (long long)size0, strlen(torn));
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "OK: "));

	/* a line changed in the middle is tampering, as before */
	assert_int_equal(verify(tampered(0, 2, 0), out, sizeof(out)), 1);
	assert_non_null(strstr(out, "audit.log:2 (seq 2): hash mismatch — record modified"));
	assert_non_null(strstr(out, "FAILED"));
}

/* Persistable tokens in the store under state_dir. */
/* The tokens in the store's database on disk (read while tokend runs: it
 * writes nothing meanwhile). */
static unsigned count_tokens(const char *state_dir)
{
	char path[300];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_stat st;

	snprintf(path, sizeof(path), "%s/tokens.mdb", state_dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK | MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return (unsigned)st.ms_entries;
}

/* One request on a fresh connection: the token, or NULL when tokend refused
 * or closed the connection without an answer (*closed). */
static char *try_call(struct pt_req *req, bool *closed)
{
	struct pt_rep rep;
	char *token = NULL;
	int r = th_call(req, &rep);

	*closed = r < 0;
	if (r == 0 && rep.type == PT_OK && rep.token) {
		token = rep.token;
		rep.token = NULL;
	}
	if (r == 0)
		pt_rep_clear(&rep);
	return token;
}

/* The audit log's fdatasync fails (an LD_PRELOADed shim, tests only): the
 * replies of allowed mints and redeems are withheld (the connection closes
 * without an answer), so no token leaves tokend; once syncs work again,
 * issuing resumes. */
static void test_sync_failure_withholds(void **state_)
{
	struct pt_req mreq = { .type = PT_MINT,
			       .user = (char *)"root",
			       .service = (char *)"audit",
			       .tty = (char *)"pts/9",
			       .rhost = (char *)"" };
	struct pt_req rreq = { .type = PT_REDEEM,
			       .user = (char *)"root",
			       .holder = (char *)"tester",
			       .service = (char *)"audit" };
	const char *b = getenv("top_builddir"), *asan = getenv("ASAN_OPTIONS");
	char path[160], flag[160], shim[PATH_MAX], asan_opts[512], *token, *id, *tlog, *live;
	bool closed;
	FILE *f;

	(void)state_;
	need_root();
	snprintf(shim, sizeof(shim), "%s/tests/audit/fault-sync.so", b ? b : ".");
	assert_true(access(shim, R_OK) == 0);
	snprintf(path, sizeof(path), "%s/sync", th.dir);
	snprintf(flag, sizeof(flag), "%s/fail-sync", th.dir);
	cp_every = 1000; /* only the per-reply syncs */
	write_conf(path);
	cp_every = 4;
	/* ASan wants to be first: the shim does not need that */
	snprintf(asan_opts, sizeof(asan_opts), "%s%sverify_asan_link_order=0", asan ? asan : "",
		 asan ? ":" : "");
	setenv("LD_PRELOAD", shim, 1);
	setenv("PT_FAULT_SYNC_FLAG", flag, 1);
	setenv("ASAN_OPTIONS", asan_opts, 1);
	th_start();
	unsetenv("LD_PRELOAD");
	unsetenv("PT_FAULT_SYNC_FLAG");
	if (asan)
		setenv("ASAN_OPTIONS", asan, 1);
	else
		unsetenv("ASAN_OPTIONS");

	token = try_call(&mreq, &closed);
	assert_non_null(token);
	id = exchange(token, "tester");
	pt_free_secret(token);
	token = try_call(&rreq, &closed);
	assert_non_null(token);
	pt_free_secret(token);

	live = try_call(&mreq, &closed); /* to exchange while the disk fails */
	assert_non_null(live);
	assert_int_equal(count_tokens(path), 1);

	/* the disk fails */
	f = fopen(flag, "w");
	assert_non_null(f);
	fclose(f);
	/* an exchange is refused, and its persistable token removed again */
	{
		struct pt_req xreq = { .type = PT_EXCHANGE,
				       .live_token = live,
				       .holder = (char *)"elsewhere" };
		struct pt_rep rep;
		int r = th_call(&xreq, &rep);

		assert_true(r < 0 || rep.type != PT_OK);
		if (r == 0)
			pt_rep_clear(&rep);
		assert_int_equal(count_tokens(path), 1);
	}
	token = try_call(&mreq, &closed);
	assert_null(token);
	assert_true(closed); /* withheld: no answer at all */
	token = try_call(&rreq, &closed);
	assert_null(token);
	assert_true(closed);

	/* and recovers */
	assert_int_equal(unlink(flag), 0);
	token = try_call(&rreq, &closed);
	assert_non_null(token);
	pt_free_secret(token);
	th_stop(SIGTERM);
	tlog = th_slurp(th.logpath);
	assert_non_null(tlog);
	assert_true(count_lines(tlog, "cannot sync", "replies withheld") >= 2);
	assert_non_null(strstr(tlog, "op=exchange result=error"));
	free(tlog);
	free(id);
	pt_free_secret(live);
}

/* Each of the tests above stops its own tokend, also when it fails. */
static int stop_daemon(void **state_)
{
	(void)state_;
	if (geteuid() == 0)
		th_stop(SIGTERM);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decisions_recorded),
		cmocka_unit_test(test_tampered_copies),
		cmocka_unit_test(test_fail_closed_removed),
		cmocka_unit_test_teardown(test_refusal_flood, stop_daemon),
		cmocka_unit_test_teardown(test_rotation, stop_daemon),
		cmocka_unit_test_teardown(test_crash_truncation, stop_daemon),
		cmocka_unit_test_teardown(test_sync_failure_withholds, stop_daemon),
		cmocka_unit_test(test_fail_closed_disk_full),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
