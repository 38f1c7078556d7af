/* SPDX-License-Identifier: MIT */
/*
 * SSH-signed consent (PT_GRANT_SIGNED) against a real tokend, with the real
 * ssh-keygen and users made in a private mount namespace (alice the origin,
 * with a home and ~/.ssh/authorized_keys; svc the servicer; eve, another
 * local user, submits): a request signed by each of alice's ed25519, ecdsa
 * and rsa keys makes a grant with origin alice; a key not in her
 * authorized_keys, another namespace, one byte of the request changed, a
 * replayed request (also after a restart), a stale one, one for another
 * host and a group-writable authorized_keys are each refused with what is
 * wrong. Needs root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "b64.h"
#include "connlib.h"
#include "grantreq.h"
#include "proto.h"
#include "util.h"

#include "tokend-harness.h"

enum {
	ALICE,
	SVC,
	EVE,
	N_USERS
};
static const char *const names[N_USERS] = { "pertok-gs-alice", "pertok-gs-svc", "pertok-gs-eve" };
static uid_t uids[N_USERS];
static char home[PATH_MAX], keys[PATH_MAX + 32], host[256];

struct result {
	int rc;
	uint8_t type;
	uint32_t err;
	char id[64];
	char msg[1024];
};
static struct result *res;

static void write_conf(void)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"grant: { max_per_user = 50; };\n"
		"grants = ( { name = \"ops\"; users = [ \"%s\" ]; servicers = [ \"%s\" ];\n"
		"             commands = [ \"/bin/echo\" ]; max_window = \"30d\";\n"
		"             max_uses = 10; max_depth = 2; } );\n",
		th.sock, th.dir, th.self_exe, names[ALICE], names[SVC]);
	fclose(f);
}

/* alice's home in the namespace's passwd (the file ns_add_users bind-
 * mounted, rewritten in place), with .ssh/authorized_keys of her three
 * keys; the keys in th.dir/keys (and other, not hers). */
static int make_home(void)
{
	char path[PATH_MAX], *pw, *p, from[64], cmd[4 * PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/etc-passwd", th.dir);
	pw = th_slurp(path);
	if (!pw)
		return -1;
	snprintf(from, sizeof(from), "pertok test user:/nonexistent:");
	snprintf(home, sizeof(home), "%s/home-alice", th.dir);
	p = strstr(pw, names[ALICE]);
	if (!p || !(p = strstr(p, from)))
		return -1;
	f = fopen(path, "w"); /* the same inode: the bind mount sees it */
	if (!f)
		return -1;
	fprintf(f, "%.*spertok test user:%s:%s", (int)(p - pw), pw, home, p + strlen(from));
	fclose(f);
	free(pw);
	snprintf(keys, sizeof(keys), "%s/keys", th.dir);
	snprintf(cmd, sizeof(cmd),
		 "set -e; mkdir -p %s %s/.ssh && chmod 0755 %s && cd %s && "
		 "ssh-keygen -q -t ed25519 -N '' -f ed25519 && "
		 "ssh-keygen -q -t ecdsa -b 256 -N '' -f ecdsa && "
		 "ssh-keygen -q -t rsa -b 2048 -N '' -f rsa && "
		 "ssh-keygen -q -t ed25519 -N '' -f other && "
		 "cat ed25519.pub ecdsa.pub rsa.pub > %s/.ssh/authorized_keys && "
		 "chown -R %u:%u %s && chmod 0700 %s/.ssh && chmod 0600 %s/.ssh/authorized_keys",
		 keys, home, home, keys, home, (unsigned)uids[ALICE], (unsigned)uids[ALICE], home,
		 home, home);
	return system(cmd) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
	(void)state;
	if (th_init("grantsig") < 0 || ns_add_users(th.dir, names, N_USERS, uids) < 0)
		return -1;
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED || make_home() < 0 || gethostname(host, sizeof(host)) < 0)
		return -1;
	write_conf();
	th_start();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	kill_children();
	th_stop(SIGTERM);
	return th_remove_dir();
}

/* ---------------------------------------------------------------- helpers */

/* Writes th.dir/req: a request for host h, issued at issued, a fresh nonce. */
static void write_request(const char *h, uint64_t issued)
{
	struct pt_grant_wire_cmd cmd = { .path = (char *)"/bin/echo" };
	struct pt_grant_spec spec = { .servicer = (char *)names[SVC],
				      .cmds = &cmd,
				      .n_cmds = 1,
				      .lifetime = 3600,
				      .max_uses = 2 };
	struct pt_grantreq q = { .issued = issued, .spec = &spec };
	uint8_t raw[16];
	char *nonce, *text = NULL, path[PATH_MAX];
	size_t len = 0;
	FILE *f;

	assert_int_equal(RAND_bytes(raw, sizeof(raw)), 1);
	nonce = pt_b64url_encode(raw, sizeof(raw));
	assert_non_null(nonce);
	snprintf(q.host, sizeof(q.host), "%s", h);
	snprintf(q.user, sizeof(q.user), "%s", names[ALICE]);
	snprintf(q.nonce, sizeof(q.nonce), "%s", nonce);
	free(nonce);
	assert_int_equal(pt_grantreq_format(&q, &text, &len), 0);
	snprintf(path, sizeof(path), "%s/req", th.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	free(text);
}

/* ssh-keygen -Y sign th.dir/req with keys/key, namespace ns: th.dir/req.sig */
static void sign(const char *key, const char *ns)
{
	assert_int_equal(th_run("cd %s && rm -f req.sig && ssh-keygen -q -Y sign -f %s/%s -n %s "
				"req >/dev/null 2>&1",
				th.dir, keys, key, ns),
			 0);
}

static int do_submit(void *arg)
{
	char path[PATH_MAX + 8], *text, *sig;
	struct pt_req req = { .type = PT_GRANT_SIGNED };
	struct pt_rep rep;

	(void)arg;
	snprintf(path, sizeof(path), "%s/req", th.dir);
	text = th_slurp(path);
	snprintf(path, sizeof(path), "%s/req.sig", th.dir);
	sig = th_slurp(path);
	memset(res, 0, sizeof(*res));
	if (!text || !sig)
		return 1;
	req.signed_text = text;
	req.signature = sig;
	res->rc = th_call(&req, &rep);
	free(text);
	free(sig);
	if (res->rc < 0)
		return 1;
	res->type = rep.type;
	res->err = rep.err_code;
	snprintf(res->id, sizeof(res->id), "%s", rep.id ? rep.id : "");
	snprintf(res->msg, sizeof(res->msg), "%s", rep.message ? rep.message : "");
	pt_rep_clear(&rep);
	return 0;
}

/* Submits th.dir/req + req.sig as eve (any local user may): 0 or the error
 * code, the message in res->msg. */
static uint32_t submit(void)
{
	assert_int_equal(wait_child(spawn_as(uids[EVE], do_submit, NULL), 10000), 0);
	assert_int_equal(res->rc, 0);
	return res->type == PT_OK ? 0 : res->err;
}

static void expect_refused(uint32_t code, const char *why)
{
	assert_int_equal(submit(), code);
	if (!strstr(res->msg, why))
		fail_msg("\"%s\" does not say \"%s\"", res->msg, why);
}

/* ------------------------------------------------------------------ tests */

/* In /proc/PID/status after "key": the hex mask (word < 0), or the
 * word-th of its decimal numbers (Uid: real, effective, saved, fs). */
static unsigned long long status_field(pid_t pid, const char *key, int word)
{
	char path[64], text[8192], *p;
	unsigned long long v;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r"); /* (its size is 0: read, not stat) */
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	p = strstr(text, key);
	assert_non_null(p);
	p += strlen(key);
	v = strtoull(p, &p, word < 0 ? 16 : 10);
	for (int i = 0; i < word; i++)
		v = strtoull(p, &p, 10);
	return v;
}

/* Each key type: a grant with origin alice, listed for her. */
static void test_valid_each_type(void **state)
{
	unsigned long long eff_before;
	static const char *const types[] = { "ed25519", "ecdsa", "rsa" };
	char *log;

	(void)state;
	eff_before = status_field(th.pid, "CapEff:", -1);
	for (size_t i = 0; i < 3; i++) {
		write_request(host, pt_now_s());
		sign(types[i], "pertok-grant");
		if (submit() != 0)
			fail_msg("%s: %s", types[i], res->msg);
		assert_memory_equal(res->id, "gr_", 3);
	}
	/* authorized_keys was read as alice (setfsuid, CAP_SETUID raised for
	 * it): afterwards CAP_SETUID is permitted only, the fsuid root again,
	 * and the effective set as before (setfsuid back to 0 raises the
	 * permitted file capabilities: CAP_DAC_OVERRIDE, CAP_CHOWN...) */
	{
		unsigned long long eff = status_field(th.pid, "CapEff:", -1);
		unsigned long long prm = status_field(th.pid, "CapPrm:", -1);

		if (eff & (1ull << 7))
			fail_msg("CAP_SETUID left effective in the key holder (CapEff %llx)", eff);
		assert_true(prm & (1ull << 7));
		if (eff != eff_before)
			fail_msg("the key holder's CapEff went from %llx to %llx", eff_before, eff);
		assert_int_equal(status_field(th.pid, "Uid:", 3), 0); /* the fsuid */
	}
	log = th_slurp(th.logpath);
	assert_non_null(log);
	assert_non_null(strstr(log, "op=grant.signed result=allow"));
	assert_non_null(strstr(log, "consent by the ecdsa-sha2-nistp256 key of pertok-gs-alice"));
	free(log);
}

static void test_refusals(void **state)
{
	char path[PATH_MAX + 32], *text;
	FILE *f;

	(void)state;
	/* a key that is not alice's */
	write_request(host, pt_now_s());
	sign("other", "pertok-grant");
	expect_refused(PT_E_DENIED,
		       "the signing key is not in ~pertok-gs-alice/.ssh/authorized_keys");
	/* another namespace */
	write_request(host, pt_now_s());
	sign("ed25519", "file");
	expect_refused(PT_E_DENIED, "signature namespace is \"file\", not \"pertok-grant\"");
	/* one byte of the request changed after signing */
	write_request(host, pt_now_s());
	sign("ed25519", "pertok-grant");
	snprintf(path, sizeof(path), "%s/req", th.dir);
	text = th_slurp(path);
	assert_non_null(strstr(text, "lifetime=3600"));
	strstr(text, "lifetime=3600")[12] = '1';
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(text);
	expect_refused(PT_E_DENIED, "does not verify");
	/* stale, from the future, for another host */
	write_request(host, pt_now_s() - PT_GRANTREQ_MAX_AGE - 5);
	sign("ed25519", "pertok-grant");
	expect_refused(PT_E_DENIED, "the request is stale");
	write_request(host, pt_now_s() + 600);
	sign("ed25519", "pertok-grant");
	expect_refused(PT_E_DENIED, "in the future");
	write_request("elsewhere.example", pt_now_s());
	sign("ed25519", "pertok-grant");
	expect_refused(PT_E_DENIED, "the request is for host elsewhere.example, not this one");
	/* malformed: precise */
	write_request(host, pt_now_s());
	sign("ed25519", "pertok-grant");
	assert_int_equal(th_run("cd %s && sed -i 's/^nonce=/nonc=/' req", th.dir), 0);
	expect_refused(PT_E_PROTO, "malformed request: line 4: expected nonce=");
}

/* The same request twice: refused the second time, after a restart too. */
static void test_replay(void **state)
{
	(void)state;
	write_request(host, pt_now_s());
	sign("ed25519", "pertok-grant");
	assert_int_equal(submit(), 0);
	expect_refused(PT_E_DENIED, "replayed: nonce");
	th_stop(SIGKILL);
	th_start();
	expect_refused(PT_E_DENIED, "replayed: nonce");
}

/* StrictModes: a group-writable authorized_keys is not read. */
static void test_group_writable(void **state)
{
	char ak[PATH_MAX + 32];

	(void)state;
	snprintf(ak, sizeof(ak), "%s/.ssh/authorized_keys", home);
	assert_int_equal(chmod(ak, 0620), 0);
	write_request(host, pt_now_s());
	sign("ed25519", "pertok-grant");
	expect_refused(PT_E_DENIED, "~/.ssh/authorized_keys is writable by group or others");
	assert_int_equal(chmod(ak, 0600), 0);
	/* the same request, now that the file is fine (its nonce was not taken) */
	assert_int_equal(submit(), 0);
}

/* The tool: --request prints the text, --sign writes it and has ssh-keygen
 * sign it, --signed-request submits the pair. */
static void test_tool(void **state)
{
	(void)state;
	assert_int_equal(th_run("%s/tools/pertok grant --request --host %s --user %s %s --cmd "
				"/bin/echo --expires 1h --uses 2 | head -n 1 | grep -qx "
				"'pertok-grant-request 1'",
				th_bin(), host, names[ALICE], names[SVC]),
			 0);
	assert_int_equal(th_run("%s/tools/pertok grant --sign %s/ecdsa --output %s/treq --user %s "
				"%s --cmd /bin/echo --expires 1h >/dev/null && test -s %s/treq.sig",
				th_bin(), keys, th.dir, names[ALICE], names[SVC], th.dir),
			 0);
	assert_int_equal(th_run("%s/tools/pertok -s %s grant --signed-request %s/treq --signature "
				"%s/treq.sig | grep -Eqx 'granted gr_[A-Za-z0-9_-]+'",
				th_bin(), th.sock, th.dir, th.dir),
			 0);
	/* a grant naming the servicer's executable has a credential (typ
	 * pertok-grant+jwt, bound to svc's uid and that executable) */
	assert_int_equal(
		th_run("%s/tools/pertok grant --sign %s/ed25519 --output %s/creq --user %s "
		       "%s --cmd /bin/echo --exe /usr/bin/svc-agent --expires 1h "
		       ">/dev/null && %s/tools/pertok -s %s grant --signed-request %s/creq "
		       "--signature %s/creq.sig | sed -n 's/^granted //p' > %s/cid && "
		       "%s/tools/pertok -s %s grant credential $(cat %s/cid) > %s/cred",
		       th_bin(), keys, th.dir, names[ALICE], names[SVC], th_bin(), th.sock, th.dir,
		       th.dir, th.dir, th_bin(), th.sock, th.dir, th.dir),
		0);
	assert_int_equal(
		th_run("timeout 20 /usr/bin/python3 -c 'import base64, json, sys\n"
		       "h, p, s = open(\"%s/cred\").read().strip().split(\".\")\n"
		       "d = lambda x: json.loads(base64.urlsafe_b64decode(x + \"=\" * (-len(x) %% 4)))\n"
		       "ok = d(h)[\"typ\"] == \"pertok-grant+jwt\" and d(p)[\"uid\"] == %u and "
		       "d(p)[\"exe\"] == \"/usr/bin/svc-agent\" and d(p)[\"sub\"] == \"%s\"\n"
		       "sys.exit(0 if ok else 1)'",
		       th.dir, (unsigned)uids[SVC], names[ALICE]),
		0);
	/* the same pair again: replayed */
	assert_int_equal(th_run("%s/tools/pertok -s %s grant --signed-request %s/treq --signature "
				"%s/treq.sig 2>&1 | grep -q 'replayed: nonce'",
				th_bin(), th.sock, th.dir, th.dir),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_each_type),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_group_writable),
		cmocka_unit_test(test_tool),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-grantsig needs root (private mount namespace, test "
		       "users)\n");
		return 0;
	}
	if (system("command -v ssh-keygen >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP no ssh-keygen (Debian: openssh-client; "
		       "scripts/install-deps.sh)\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
