/* SPDX-License-Identifier: MIT */
/*
 * The credential socket (tokend/credential.h) against a real tokend, with
 * emulated peers for what systemd never sends: processes in real cgroups
 * this test makes in the name=systemd (or unified) hierarchy, connecting
 * from abstract addresses they choose.
 * - a process of one unit's cgroup naming another unit in its address gets
 *   the refusal (no token), and tokend's log names the cgroup mismatch; the
 *   same process naming its own unit gets past that check (to the User=
 *   look-up, which fails without a running systemd: a refusal for another
 *   reason);
 * - addresses that are not systemd's form are refused by the front with a
 *   precise reason;
 * - a peer that does not run the "systemd" actor's executable is refused
 *   before its cgroup is looked at, and closed without a byte (it is not
 *   systemd: only systemd needs the refusal that fails a unit);
 * - a peer that does get the refusal whatever ends its connection: a bad
 *   address, a key holder that does not answer within client_timeout; and
 *   gets all of it when it reads it slower than client_timeout allows;
 * - at max_connections a credential connection waits in the backlog (it
 *   is not accepted and closed empty, which would start the unit);
 * - one user's max_connections credential connections that never read take
 *   nothing from root on tokend.sock nor from systemd's own connections
 *   (they are closed at once, not left to stream a refusal);
 * - a credential id with a space (systemd takes it) is served.
 * The test program itself is the "systemd" actor's executable here, so that
 * only the cgroup decides. Needs root (cgroups, tokend reads its peers'
 * /proc entries); skips when no cgroup hierarchy is writable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"

#include "tokend-harness.h"

#define PT_N_UNITS 5
static char cgroot[PATH_MAX]; /* .../pertok-cred-test-PID.slice */
static char cred_sock[100];
static const char *actor_exe;	       /* the "systemd" actor's exe in tokend.conf */
static uid_t peer_uid;		       /* the emulated peer's uid (0: root's) */
static unsigned client_timeout = 5000; /* ms, tokend.conf's */
static unsigned read_pause_ms;	       /* the emulated peer pauses after each 256 KiB */
#define MAX_CONNECTIONS 16

static void write_conf(void)
{
	FILE *f = fopen(th.conf, "w");

	assert_non_null(f);
	fprintf(f,
		"tokend: { socket = \"%s\"; state_dir = \"%s/state\"; live_lifetime = \"2m\";\n"
		"          max_connections_per_uid = 1; max_connections = %u;\n"
		"          client_timeout = %u; };\n"
		"seal: { backend = \"software\"; };\n"
		"actors = ( { name = \"tester\"; uid = 0; exe = [ \"%s\" ]; },\n"
		"           { name = \"systemd\"; uid = 0; exe = [ \"%s\" ]; } );\n"
		"issue = ( { name = \"i\"; actors = [ \"tester\" ]; holders = [ \"systemd\" ]; } );\n"
		"redeem = ( { name = \"r\"; holders = [ \"systemd\" ]; check_account = false; } );\n",
		th.sock, th.dir, MAX_CONNECTIONS, client_timeout, th.self_exe, actor_exe);
	fclose(f);
}

static int start(const char *exe)
{
	actor_exe = exe;
	write_conf();
	th_start();
	return 0;
}

static int setup(void **state)
{
	return start(th.self_exe);
}

static int setup_other_exe(void **state)
{
	return start("/usr/lib/systemd/systemd");
}

static int setup_short_timeout(void **state)
{
	client_timeout = 1500;
	return start(th.self_exe);
}

static int teardown(void **state)
{
	th_stop(SIGTERM);
	client_timeout = 5000;
	return 0;
}

#define GOT_NOTHING 0
#define GOT_REFUSAL 1 /* the notice that makes systemd fail the unit */
#define GOT_OTHER 2

/* A child in cgroup UNIT (under cgroot; NULL: stays where it is) connects to
 * the credential socket from the abstract address addr[0..alen) (alen 0:
 * none bound) and reads until the end: what it got (GOT_*). */
static pid_t emulated_peer_start(const char *unit, const char *addr, size_t alen)
{
	char path[PATH_MAX + 64];
	pid_t pid;

	if (unit) {
		snprintf(path, sizeof(path), "%s/%s", cgroot, unit);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", path, strerror(errno));
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un me = { .sun_family = AF_UNIX }, to = { .sun_family = AF_UNIX };
		static const char notice[] = "pertok: tokend refused this credential";
		char buf[4096];
		ssize_t k;
		int fd;
		size_t n = 0;
		bool noticed = false;

		alarm(10);
		if (unit) {
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s/cgroup.procs", cgroot, unit);
			f = fopen(path, "w");
			if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0)
				_exit(100);
		}
		if (peer_uid != 0) {
			/* a user's first connection (tokend.sock) takes its whole
			 * max_connections_per_uid before the credential request */
			struct sockaddr_un main_sock = { .sun_family = AF_UNIX };
			int held = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (setgid(peer_uid) < 0 || setuid(peer_uid) < 0)
				_exit(104);
			snprintf(main_sock.sun_path, sizeof(main_sock.sun_path), "%s", th.sock);
			if (held < 0 ||
			    connect(held, (struct sockaddr *)&main_sock, sizeof(main_sock)) < 0)
				_exit(105);
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			_exit(101);
		if (alen) {
			memcpy(me.sun_path, addr, alen);
			if (bind(fd, (struct sockaddr *)&me,
				 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen)) < 0)
				_exit(102);
		}
		snprintf(to.sun_path, sizeof(to.sun_path), "%s", cred_sock);
		if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
			_exit(103);
		shutdown(fd, SHUT_WR); /* as systemd does */
		while ((k = read(fd, buf, sizeof(buf))) > 0) {
			if (n == 0)
				noticed = (size_t)k >= sizeof(notice) - 1 &&
					  memcmp(buf, notice, sizeof(notice) - 1) == 0;
			if (read_pause_ms && n / (256 * 1024) != (n + (size_t)k) / (256 * 1024))
				usleep(read_pause_ms * 1000);
			n += (size_t)k;
		}
		if (n == 0)
			_exit(GOT_NOTHING);
		/* more than systemd takes for a credential (1 MiB) */
		_exit(noticed && n > 1024 * 1024 ? GOT_REFUSAL : GOT_OTHER);
	}
	return pid;
}

static int emulated_peer_wait(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_true(WEXITSTATUS(st) < 100);
	return WEXITSTATUS(st);
}

static int emulated_peer(const char *unit, const char *addr, size_t alen)
{
	return emulated_peer_wait(emulated_peer_start(unit, addr, alen));
}

static size_t addr_for(char *buf, const char *unit)
{
	int n = snprintf(buf + 1, 107, "0123456789abcdef/unit/%s/pertok", unit);

	buf[0] = '\0';
	return 1 + (size_t)n;
}

static void test_forged_unit_refused(void **state)
{
	char a[108];
	size_t n = addr_for(a, "victim.service");

	/* from evil.service's cgroup, naming victim.service: a refusal */
	assert_int_equal(emulated_peer("evil.service", a, n), GOT_REFUSAL);
	assert_true(th_wait_log("not in the cgroup of victim.service", 1, 3000) >= 1);
	assert_true(th_wait_log("no credential: the unit fails to start", 1, 3000) >= 1);
	/* the control: from victim.service's own cgroup the cgroup check
	 * passes; the next step (the unit's User=, asked of systemd) cannot
	 * succeed without a running systemd, so a refusal too, for that reason */
	assert_int_equal(emulated_peer("victim.service", a, n), GOT_REFUSAL);
	assert_true(th_wait_log("User= of victim.service", 1, 3000) >= 1);
	/* (its two lines: the decision's and the credential's) */
	assert_int_equal(th_count_log("not in the cgroup of victim.service"), 2);
}

static void test_bad_addresses(void **state)
{
	static const struct {
		const char *addr;
		size_t len;
		const char *reason;
	} cases[] = {
/* an abstract address: a NUL, then the name */
#define Z(s) "\0" s
#define A(s) s, sizeof(s) - 1
		{ "", 0, "the peer bound no address" },
		{ A(Z("XYZ3456789abcdef/unit/a.service/pertok")), "1 to 16 lower-case hex digits" },
		{ A(Z("0123456789abcdef/unix/a.service/pertok")), "has no \\\"/unit/\\\" after" },
		{ A(Z("0123456789abcdef/unit/a.target/pertok")),
		  "not the name of a service, socket, mount or swap unit" },
		{ A(Z("0123456789abcdef/unit/a.service")),
		  "/<credential id>\\\" after the unit name" },
		{ A(Z("0123456789abcdef/unit/a b.service/x")), "has a character (0x20)" },
		{ A(Z("0123456789abcdef/unit/a.service/")),
		  "credential id in the peer's address is empty" },
		{ A(Z("0123456789abcdef/unit/a.service/a:b")), "has a byte (0x3a)" },
#undef A
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* not systemd's form, from systemd's executable: the refusal
		 * (nothing would start the unit with an empty credential) */
		assert_int_equal(emulated_peer(NULL, cases[i].addr, cases[i].len), GOT_REFUSAL);
		if (th_wait_log(cases[i].reason, 1, 3000) < 1)
			fail_msg("case %zu: no log line with \"%s\"", i, cases[i].reason);
	}
}

/* A user manager's connection over its uid's cap is not served, and gets
 * the refusal, not an empty credential (with which the unit would start). */
static void test_over_uid_cap(void **state)
{
	char a[108], path[PATH_MAX + 64];
	size_t n = addr_for(a, "sync.service");
	int got;

	/* a user unit's place, so that only the cap can refuse it */
	snprintf(path, sizeof(path), "%s/user@65534.service", cgroot);
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/user@65534.service/app.slice", cgroot);
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
	peer_uid = 65534;
	got = emulated_peer("user@65534.service/app.slice/sync.service", a, n);
	peer_uid = 0;
	assert_int_equal(got, GOT_REFUSAL);
	assert_true(th_wait_log("max_connections_per_uid 1", 1, 3000) >= 1);
	assert_int_equal(th_count_log("op=credential result=deny unit=sync.service"), 0);
}

static void test_not_systemd_exe(void **state)
{
	char a[108];
	size_t n = addr_for(a, "victim.service");
	unsigned before = th_count_log("User= of victim.service");

	/* not systemd: closed without a byte, whatever it named */
	assert_int_equal(emulated_peer("victim.service", a, n), GOT_NOTHING);
	assert_true(th_wait_log("not an executable of the actor systemd", 1, 3000) >= 1);
	assert_true(th_wait_log("closed: the peer is not systemd", 1, 3000) >= 1);
	assert_int_equal(th_count_log("User= of victim.service"), before);
	assert_int_equal(emulated_peer(NULL, "\0x/unit/a.target/p", 19), GOT_NOTHING);
	assert_true(th_wait_log("\\\"a.target\\\" in the peer's address", 1, 3000) >= 1);
}

/* systemd takes "LoadCredential=my cred:..." and connects from ".../my cred":
 * the address parses and the request goes on (to the User= look-up). */
static void test_id_with_space(void **state)
{
	static const char a[] = "\0"
				"0123456789abcdef/unit/victim.service/my cred";
	unsigned before = th_count_log("User= of victim.service");

	assert_int_equal(emulated_peer("victim.service", a, sizeof(a) - 1), GOT_REFUSAL);
	assert_true(th_wait_log("User= of victim.service", before + 1, 3000) >= 1);
	assert_int_equal(th_count_log("has a byte (0x20)"), 0);
}

/* The key holder stalls past client_timeout before it has read the peer:
 * the front ends the connection with the refusal, not with nothing. */
static void test_holder_stalled(void **state)
{
	char a[108];
	size_t n = addr_for(a, "victim.service");
	pid_t pid;

	assert_int_equal(kill(th.pid, SIGSTOP), 0);
	pid = emulated_peer_start("victim.service", a, n);
	usleep((client_timeout + 1000) * 1000);
	assert_int_equal(kill(th.pid, SIGCONT), 0);
	assert_int_equal(emulated_peer_wait(pid), GOT_REFUSAL);
}

/* systemd reading the refusal slower than client_timeout allows for the
 * whole: it is not cut short while it reads (a truncated refusal would be
 * the unit's credential). */
static void test_slow_reader(void **state)
{
	char a[108];
	size_t n = addr_for(a, "victim.service");
	int got;

	read_pause_ms = 1000; /* 4 pauses: the refusal takes > 4 s, client_timeout 1.5 s */
	got = emulated_peer("victim.service", a, n);
	read_pause_ms = 0;
	assert_int_equal(got, GOT_REFUSAL);
}

/* At max_connections (root's idle connections on tokend.sock) a credential
 * connection is not accepted and closed empty-handed: it waits in the
 * backlog, and gets its answer once a connection ends. */
static void test_overload_waits(void **state)
{
	struct sockaddr_un to = { .sun_family = AF_UNIX };
	char a[108];
	size_t n = addr_for(a, "victim.service");
	int held[MAX_CONNECTIONS];
	pid_t pid;

	snprintf(to.sun_path, sizeof(to.sun_path), "%s", th.sock);
	for (int i = 0; i < MAX_CONNECTIONS; i++) {
		held[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(held[i] >= 0);
		assert_int_equal(connect(held[i], (struct sockaddr *)&to, sizeof(to)), 0);
	}
	/* all of them accepted and known (the key holder read each peer) */
	usleep(300 * 1000);
	pid = emulated_peer_start("victim.service", a, n);
	usleep(500 * 1000);
	for (int i = 0; i < MAX_CONNECTIONS; i++)
		close(held[i]);
	assert_int_equal(emulated_peer_wait(pid), GOT_REFUSAL);
}

/* The flood: as uid 65534, running another executable than systemd's (a
 * copy of this program), MAX_CONNECTIONS credential connections that never
 * read. Writes a byte to stdout when they are all connected, then waits (up
 * to 5 s) for each to end: 0 when every one ended without a byte. */
static int flood(const char *sock, unsigned n)
{
	int fds[MAX_CONNECTIONS];
	size_t got = 0;

	alarm(15);
	for (unsigned i = 0; i < n && i < MAX_CONNECTIONS; i++) {
		struct sockaddr_un me = { .sun_family = AF_UNIX }, to = { .sun_family = AF_UNIX };
		int len = snprintf(me.sun_path + 1, sizeof(me.sun_path) - 1,
				   "%x%x/unit/a.service/x", (unsigned)getpid(), i);

		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		(void)setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &(int){ 4096 }, sizeof(int));
		snprintf(to.sun_path, sizeof(to.sun_path), "%s", sock);
		if (fds[i] < 0 ||
		    bind(fds[i], (struct sockaddr *)&me,
			 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) <
			    0 ||
		    connect(fds[i], (struct sockaddr *)&to, sizeof(to)) < 0)
			return 2;
	}
	if (write(1, "r", 1) != 1)
		return 3;
	for (unsigned i = 0; i < n && i < MAX_CONNECTIONS; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		char buf[4096];
		ssize_t k;

		if (poll(&p, 1, 5000) != 1)
			return 4; /* still open */
		while ((k = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			got += (size_t)k;
	}
	return got == 0 ? 0 : 1;
}

static void test_flood(void **state)
{
	char copy[PATH_MAX], a[108], r;
	size_t n = addr_for(a, "victim.service");
	struct pt_req req = { .type = PT_STATUS };
	struct pt_rep rep = { 0 };
	int pfd[2], st, fd;
	pid_t pid;

	/* another executable than the "systemd" actor's */
	snprintf(copy, sizeof(copy), "%s/flooder", th.dir);
	{
		char *cmd = NULL;

		assert_true(asprintf(&cmd, "cp '%s' '%s' && chmod 0755 '%s'", th.self_exe, copy,
				     copy) > 0);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char num[16];

		snprintf(num, sizeof(num), "%u", MAX_CONNECTIONS);
		if (dup2(pfd[1], 1) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(100);
		execl(copy, copy, "--flood", cred_sock, num, (char *)NULL);
		_exit(101);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &r, 1), 1);
	close(pfd[0]);
	/* root on tokend.sock is served */
	fd = th_call(&req, &rep);
	assert_int_equal(fd, 0);
	if (rep.type != PT_OK)
		fail_msg("root's status refused during the flood: %s",
			 rep.message ? rep.message : "(no message)");
	pt_rep_clear(&rep);
	/* systemd's own connection gets its answer (the refusal: no User=
	 * without a running systemd), not an empty credential */
	assert_int_equal(emulated_peer("victim.service", a, n), GOT_REFUSAL);
	/* and every connection of the flood was closed without a byte */
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	unlink(copy);
}

/* The writable hierarchy systemd would use: name=systemd (legacy, hybrid),
 * else the unified one. */
static int find_cgroot(void)
{
	static const char *const roots[] = { "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified",
					     "/sys/fs/cgroup" };
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[1024], own[PATH_MAX] = "", sys[PATH_MAX] = "";

	/* our own place in it: the test's cgroups go below, where we may write */
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strrchr(line, ':');

		line[strcspn(line, "\n")] = '\0';
		if (!p)
			continue;
		if (strstr(line, ":name=systemd:"))
			snprintf(sys, sizeof(sys), "%s", p + 1);
		else if (strncmp(line, "0::", 3) == 0)
			snprintf(own, sizeof(own), "%s", p + 1);
	}
	if (f)
		fclose(f);
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		const char *rel = i == 0 ? sys : own;
		struct stat st;

		if (stat(roots[i], &st) < 0 || (i == 0 && !*sys))
			continue;
		snprintf(cgroot, sizeof(cgroot), "%s%s/pertok-cred-test-%d.slice", roots[i],
			 strcmp(rel, "/") == 0 ? "" : rel, (int)getpid());
		if (mkdir(cgroot, 0755) == 0)
			return 0;
	}
	cgroot[0] = '\0';
	return -1;
}

static void rm_cgroups(void)
{
	static const char *const units[] = {
		"evil.service",
		"victim.service",
		"user@65534.service/app.slice/sync.service",
		"user@65534.service/app.slice",
		"user@65534.service",
	};
	char path[PATH_MAX + 64];

	if (!cgroot[0])
		return;
	for (size_t i = 0; i < PT_N_UNITS; i++) {
		snprintf(path, sizeof(path), "%s/%s", cgroot, units[i]);
		rmdir(path);
	}
	rmdir(cgroot);
}

static int group_setup(void **state)
{
	if (th_init("cred") < 0)
		return -1;
	snprintf(cred_sock, sizeof(cred_sock), "%s/credential.sock", th.dir);
	return 0;
}

static int group_teardown(void **state)
{
	th_stop_all();
	rm_cgroups();
	return th_remove_dir();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forged_unit_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_over_uid_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_systemd_exe, setup_other_exe, teardown),
		cmocka_unit_test_setup_teardown(test_id_with_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holder_stalled, setup_short_timeout, teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader, setup_short_timeout, teardown),
		cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overload_waits, setup, teardown),
	};

	if (argc == 4 && strcmp(argv[1], "--flood") == 0)
		return flood(argv[2], (unsigned)atoi(argv[3])); /* test_flood's child */

	if (geteuid() != 0) {
		printf("1..0 # SKIP test-credential needs root (cgroups of its own, tokend reads "
		       "its peers' /proc entries)\n");
		return 0;
	}
	if (find_cgroot() < 0) {
		printf("1..0 # SKIP test-credential: no writable cgroup hierarchy here\n");
		return 0;
	}
	atexit(rm_cgroups);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
