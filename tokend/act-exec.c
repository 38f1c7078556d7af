/* SPDX-License-Identifier: MIT */
/*
 * The act-as supervisor (act.h): forked by the key holder, as root, with the
 * caller's three descriptors, the binary's descriptor and the report pipe.
 * It opens the PAM session (service pertok-act: account, then session; no
 * pam_setcred, since nothing authenticated: the groups are initgroups'
 * and the credential is the keyring's token), forks the command, relays
 * a pseudo-terminal (or the caller's terminals through pipes: the command
 * never holds the servicer's terminal, so TIOCSTI and its kin cannot reach
 * it), waits, closes the session and writes one report.
 *
 * The command's process, in order: into the run's cgroup; a new session;
 * its standard descriptors; loginuid = the servicer; a fresh session keyring
 * with the live token; initgroups, setresgid, setresuid, and a check that
 * root cannot come back; an environment made from nothing; no new privileges;
 * every other descriptor closed at exec; execveat of the very descriptor
 * whose digest was checked.
 */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../pam_pertok/keyring.h"
#ifdef HAVE_LIBAUDIT
#include <libaudit.h>
#endif

#include "act.h"
#include "fileio.h"
#include "util.h"
#include "proto.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* What the command's process tells the supervisor when a step fails. */
struct step_err {
	int32_t err;
	char step[128];
};

static __attribute__((noreturn)) void child_fail(int errfd, const char *step, int err)
{
	struct step_err e = { .err = err };

	snprintf(e.step, sizeof(e.step), "%s", step);
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		r = -errno;
	else if ((size_t)n != strlen(text))
		r = -EIO;
	close(fd);
	return r;
}

/* The command's process: never returns. std[0..3): its descriptors 0, 1, 2. */
int pt_act_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : (int)abi;
}

bool pt_act_can_unshare_net(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return (data[CAP_SYS_ADMIN / 32].permitted & (1u << (CAP_SYS_ADMIN % 32))) != 0;
}

/* ABI 3 (Linux 6.2; Debian 12's headers predate it): truncate(2) is only
 * refused when handled, so it is handled wherever the kernel knows it */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_WRITE                                                         \
	(LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
	 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |  \
	 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SYM |     \
	 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO)
#define LL_ALL                                                                            \
	(LL_READ | LL_WRITE | LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR | \
	 LANDLOCK_ACCESS_FS_MAKE_BLOCK)
#define LL_FILE \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE)

/* What every confined command may read and execute to start at all: the
 * dynamic loader and the libraries (/usr, /lib*, /bin, /sbin), the loader's
 * cache, the time zone; /dev/null read-write. The binary itself is added by
 * its descriptor. Missing ones are skipped. */
static const char *const ll_implicit_rx[] = { "/usr",	       "/lib",	"/lib64",
					      "/bin",	       "/sbin", "/etc/ld.so.cache",
					      "/etc/localtime" };

static int ll_add(int rs, int fd, uint64_t access)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access, .parent_fd = fd };
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		pb.allowed_access &= LL_FILE; /* a file takes only file rights */
	if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
		return -errno;
	return 0;
}

static int ll_add_path(int rs, const char *path, uint64_t access, bool must)
{
	int fd = open(path, O_PATH | O_CLOEXEC), r;

	if (fd < 0)
		return must || errno != ENOENT ? -errno : 0;
	r = ll_add(rs, fd, access);
	close(fd);
	return r;
}

/* Landlock on the command (as the user, after no_new_privs): the grant's
 * read paths read-only, its write paths read-write, plus the implicit set;
 * every other path refused (EACCES). A path that cannot be opened (as the
 * user) fails the run: the grant names it. */
static void confine_fs(const struct pt_act_spec *s, int errfd)
{
	struct landlock_ruleset_attr ra = { .handled_access_fs = LL_ALL };
	int abi = pt_act_landlock_abi(), rs, r;
	uint64_t wr = LL_WRITE;

	if (abi < 1)
		child_fail(errfd, "Landlock (the kernel has none: confined commands do not run)",
			   EOPNOTSUPP);
	if (abi >= 2) { /* else renames and links across directories are refused */
		ra.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
		wr |= LANDLOCK_ACCESS_FS_REFER;
	}
	if (abi >= 3) {
		ra.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
		wr |= LANDLOCK_ACCESS_FS_TRUNCATE;
	}
	rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);
	if (rs < 0)
		child_fail(errfd, "landlock_create_ruleset", errno);
	for (size_t i = 0; i < sizeof(ll_implicit_rx) / sizeof(*ll_implicit_rx); i++)
		if ((r = ll_add_path(rs, ll_implicit_rx[i], LL_READ | LANDLOCK_ACCESS_FS_EXECUTE,
				     false)) < 0)
			child_fail(errfd, "Landlock rule for the implicit paths", -r);
	if ((r = ll_add_path(rs, "/dev/null", LL_READ | (wr & LL_FILE), false)) < 0)
		child_fail(errfd, "Landlock rule for /dev/null", -r);
	if ((r = ll_add(rs, s->exe_fd, LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE)) <
	    0)
		child_fail(errfd, "Landlock rule for the binary", -r);
	for (size_t i = 0; i < s->n_paths; i++)
		if ((r = ll_add_path(rs, s->paths[i], s->path_write[i] ? LL_READ | wr : LL_READ,
				     true)) < 0)
			child_fail(errfd,
				   s->path_write[i] ? "Landlock rule for a write path" :
						      "Landlock rule for a read path",
				   -r);
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		child_fail(errfd, "landlock_restrict_self", errno);
	close(rs);
}

static __attribute__((noreturn)) void run_command(const struct pt_act_spec *s, const int std[3],
						  int tty, int errfd, bool born_in)
{
	char buf[64], home[PATH_MAX + 8], user[PT_MAX_STR + 8], logname[PT_MAX_STR + 16],
		shell[PATH_MAX + 8], key[48], term[80];
	char *envp[9];
	size_t n = 0;
	int32_t serial = 0;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int r;

	if (s->cgroup[0] && !born_in) {
		char procs[PATH_MAX];

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", s->cgroup);
		if ((r = write_file(procs, "0\n")) < 0)
			child_fail(errfd, "joining the run's cgroup", -r);
	}
	if (setsid() < 0)
		child_fail(errfd, "setsid", errno);
	if (tty >= 0 && ioctl(tty, TIOCSCTTY, 0) < 0)
		child_fail(errfd, "making the pseudo-terminal the controlling one", errno);
	/* (dup2 in two steps: a source may sit at 0..2 itself) */
	int hi[3];
	for (int i = 0; i < 3; i++)
		if ((hi[i] = fcntl(std[i], F_DUPFD_CLOEXEC, 10)) < 0)
			child_fail(errfd, "dup", errno);
	for (int i = 0; i < 3; i++)
		if (dup2(hi[i], i) < 0)
			child_fail(errfd, "dup2", errno);
	/* loginuid: the servicer, for the kernel's audit of what follows */
	snprintf(buf, sizeof(buf), "%u", (unsigned)s->servicer_uid);
	r = write_file("/proc/self/loginuid", buf);
	if (r < 0 && r != -ENOENT && r != -EPERM && r != -EACCES && r != -EROFS)
		child_fail(errfd, "setting loginuid", -r);
	/* until exec this process is a copy of the key holder's memory (its
	 * signing keys): the user it becomes must not ptrace it nor make it
	 * dump core. A uid change sets "dumpable" to fs.suid_dumpable (1:
	 * ptrace by the user), so it is set to 0 again right after, and no
	 * signal of the user's (SIGSEGV for a core) is taken before then; the
	 * mask is emptied right before exec */
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* --no-network: its own network namespace (only lo, down), made while
	 * root, so the user owns nothing in it and cannot add a device */
	if (s->no_network && unshare(CLONE_NEWNET) < 0)
		child_fail(
			errfd,
			errno == EPERM ?
				"unshare(CLONE_NEWNET) for --no-network: tokend lacks CAP_SYS_ADMIN or "
				"may not make namespaces" :
				"unshare(CLONE_NEWNET) for --no-network",
			errno);
	if (initgroups(s->user, s->gid) < 0)
		child_fail(errfd, "initgroups", errno);
	if (setresgid(s->gid, s->gid, s->gid) < 0)
		child_fail(errfd, "setresgid", errno);
	if (setresuid(s->uid, s->uid, s->uid) < 0)
		child_fail(errfd, "setresuid", errno);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		child_fail(errfd, "PR_SET_DUMPABLE", errno);
	/* irreversible: root does not come back, every id is the user's */
	if (setresuid(0, 0, 0) == 0 || getresuid(&ru, &eu, &su) < 0 || ru != s->uid ||
	    eu != s->uid || su != s->uid || getresgid(&rg, &eg, &sg) < 0 || rg != s->gid ||
	    eg != s->gid || sg != s->gid)
		child_fail(errfd, "checking that the user's ids cannot be undone", EPERM);
	/* a fresh session keyring, the user's own (made as the user: no key
	 * changes owner), with the live token */
	if ((r = pk_join_fresh_session()) < 0)
		child_fail(errfd, "joining a fresh session keyring", -r);
	if ((r = pk_install_live(s->token, strlen(s->token), s->uid, s->gid, s->token_exp, s->now,
				 &serial)) < 0)
		child_fail(errfd, "placing the live token in the session keyring", -r);
	snprintf(home, sizeof(home), "HOME=%s", s->home);
	snprintf(user, sizeof(user), "USER=%s", s->user);
	snprintf(logname, sizeof(logname), "LOGNAME=%s", s->user);
	snprintf(shell, sizeof(shell), "SHELL=%s", s->shell);
	snprintf(key, sizeof(key), "PERTOK_KEY=%d", (int)serial);
	envp[n++] = home;
	envp[n++] = user;
	envp[n++] = logname;
	envp[n++] = shell;
	envp[n++] = (char *)"PATH=" PT_ACT_PATH;
	envp[n++] = key;
	if (s->pty && s->term) {
		snprintf(term, sizeof(term), "TERM=%s", s->term);
		envp[n++] = term;
	}
	envp[n] = NULL;
	if (chdir(s->home) < 0 && chdir("/") < 0)
		child_fail(errfd, "chdir", errno);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(errfd, "PR_SET_NO_NEW_PRIVS", errno);
	if (s->n_paths)
		confine_fs(s, errfd);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* every descriptor but 0, 1, 2 ends at exec (errfd, exe_fd included) */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(errfd, "close_range", errno);
	syscall(SYS_execveat, s->exe_fd, "", s->argv, envp, AT_EMPTY_PATH);
	child_fail(errfd, "execveat of the checked binary", errno);
}

/* fork(), the child born in the cgroup directory cg where the kernel can
 * (clone3 with CLONE_INTO_CGROUP: *ret_in set); 0 in the child, its pid in
 * the parent, -1 with errno. */
static pid_t spawn_in_cgroup(const char *cg, bool *ret_in)
{
	int fd = cg[0] ? open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	pid_t pid = -1;

	*ret_in = false;
	if (fd >= 0) {
		struct clone_args ca = { .flags = CLONE_INTO_CGROUP,
					 .exit_signal = SIGCHLD,
					 .cgroup = (uint64_t)fd };

		pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
		if (pid == 0) {
			*ret_in = true;
			return 0;
		}
		close(fd);
		if (pid > 0) {
			*ret_in = true;
			return pid;
		}
	}
	return fork();
}

/* ------------------------------------------------------------ the relay */

/* Bytes copied from one descriptor to another while the command runs. */
struct pipe_fwd {
	int from, to;
	bool open;
	bool close_to; /* close to when from ends (the command's stdin) */
};

static void relay_once(struct pipe_fwd *f, size_t n, int timeout_ms, int pidfd)
{
	struct pollfd p[8];
	size_t k = 0;
	int map[8];

	for (size_t i = 0; i < n && k < 7; i++)
		if (f[i].open) {
			p[k] = (struct pollfd){ .fd = f[i].from, .events = POLLIN };
			map[k++] = (int)i;
		}
	if (pidfd >= 0)
		p[k++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
	if (poll(p, k, timeout_ms) <= 0)
		return;
	for (size_t j = 0; j < k; j++) {
		char buf[4096];
		ssize_t r;

		if (p[j].fd == pidfd || !(p[j].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		struct pipe_fwd *x = &f[map[j]];
		r = read(x->from, buf, sizeof(buf));
		if (r <= 0) {
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			x->open = false;
			if (x->close_to)
				close(x->to);
			continue;
		}
		for (ssize_t off = 0; off < r;) {
			ssize_t w = write(x->to, buf + off, (size_t)(r - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				x->open = false; /* nobody reads: drop the rest */
				break;
			}
			off += w;
		}
	}
}

/* The kernel audit's USER_CMD record of the command (as sudo writes one),
 * where libaudit was built in and the audit netlink answers; nothing fails
 * for want of it. */
static void audit_user_cmd(const struct pt_act_spec *s, bool ok)
{
#ifdef HAVE_LIBAUDIT
	char cmd[1024];
	size_t n = 0;
	int fd = audit_open();

	if (fd < 0)
		return;
	cmd[0] = '\0';
	for (size_t i = 0; s->argv[i] && n + 1 < sizeof(cmd); i++) {
		int k = snprintf(cmd + n, sizeof(cmd) - n, "%s%s", i ? " " : "", s->argv[i]);

		if (k < 0)
			break;
		n += (size_t)k;
	}
	(void)audit_log_user_command(fd, AUDIT_USER_CMD, cmd, NULL, ok ? 1 : 0);
	audit_close(fd);
#else
	(void)s;
	(void)ok;
#endif
}

/* ------------------------------------------------------------------ PAM */

static int no_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	(void)n;
	(void)msg;
	(void)resp;
	(void)data;
	return PAM_CONV_ERR; /* nothing here answers a prompt */
}

static void report(const struct pt_act_spec *s, struct pt_act_report *rep)
{
	(void)!write(s->report_fd, rep, sizeof(*rep));
	_exit(0);
}

static __attribute__((noreturn)) void fail(const struct pt_act_spec *s, struct pt_act_report *rep,
					   const char *step, int err)
{
	snprintf(rep->step, sizeof(rep->step), "%s", step);
	rep->err = err ? err : EIO;
	rep->wstatus = 127 << 8;
	report(s, rep);
	_exit(0);
}

int pt_act_raise_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	data[0].effective = data[0].permitted;
	data[1].effective = data[1].permitted;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

void pt_act_supervise(const struct pt_act_spec *s)
{
	struct pt_act_report rep = { .magic = PT_ACT_REPORT_MAGIC };
	struct pam_conv conv = { no_conv, NULL };
	struct pipe_fwd fwd[3];
	pam_handle_t *ph = NULL;
	int std[3], errp[2], tty = -1, master = -1, pidfd = -1, st = 0, pr;
	size_t n_fwd = 0;
	struct rusage ru = { 0 };
	sigset_t none;
	pid_t pid;

	/* dies with the key holder, even one killed before this line (and
	 * so never holds its store's lock past it) */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != s->parent)
		_exit(1);
	prctl(PR_SET_NAME, "tokend-act");
	{
		/* none of the key holder's descriptors (its store, audit log,
		 * socket to the front, other runs' pipes): the caller's three, the
		 * binary and the report pipe only */
		const int keep[] = { s->fds[0], s->fds[1], s->fds[2], s->exe_fd, s->report_fd };

		pt_close_others(keep, PT_ELEMENTSOF(keep));
	}
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (geteuid() == 0 && pt_act_raise_caps() < 0)
		fail(s, &rep, "raising the capabilities tokend keeps for act-as", errno);

	pr = pam_start(PT_ACT_PAM_SERVICE, s->user, &conv, &ph);
	if (pr == PAM_SUCCESS)
		pr = pam_acct_mgmt(ph, PAM_SILENT);
	if (pr == PAM_SUCCESS)
		pr = pam_open_session(ph, PAM_SILENT);
	if (pr != PAM_SUCCESS) {
		char step[128];

		snprintf(step, sizeof(step), "PAM (service %s): %s", PT_ACT_PAM_SERVICE,
			 pam_strerror(ph, pr));
		if (ph)
			pam_end(ph, pr);
		fail(s, &rep, step, EPERM);
	}
	if (s->pty) {
		struct winsize ws;

		master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
			fail(s, &rep, "opening a pseudo-terminal", errno);
		tty = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (tty < 0 || fchown(tty, s->uid, (gid_t)-1) < 0 || fchmod(tty, 0620) < 0)
			fail(s, &rep, "opening the pseudo-terminal's slave", errno);
		if (ioctl(s->fds[1], TIOCGWINSZ, &ws) == 0)
			(void)ioctl(master, TIOCSWINSZ, &ws);
		std[0] = std[1] = std[2] = tty;
		fwd[n_fwd++] = (struct pipe_fwd){ s->fds[0], master, true, false };
		fwd[n_fwd++] = (struct pipe_fwd){ master, s->fds[1], true, false };
	} else {
		/* the caller's descriptors as they are, but never a terminal: a
		 * terminal of the servicer's is read and written through a pipe */
		for (int i = 0; i < 3; i++) {
			int p[2];

			std[i] = s->fds[i];
			if (!isatty(s->fds[i]))
				continue;
			if (pipe2(p, O_CLOEXEC) < 0)
				fail(s, &rep, "pipe", errno);
			if (i == 0) {
				std[i] = p[0];
				fwd[n_fwd++] = (struct pipe_fwd){ s->fds[0], p[1], true, true };
			} else {
				std[i] = p[1];
				fwd[n_fwd++] = (struct pipe_fwd){ p[0], s->fds[i], true, false };
			}
		}
	}
	if (pipe2(errp, O_CLOEXEC) < 0)
		fail(s, &rep, "pipe", errno);
	/* born in the run's cgroup (clone3 CLONE_INTO_CGROUP), so that a kill
	 * of the cgroup never misses a command that has not joined it yet; a
	 * kernel without it: fork, and the command joins first thing */
	bool born_in = false;
	pid = spawn_in_cgroup(s->cgroup, &born_in);
	if (pid < 0)
		fail(s, &rep, "fork", errno);
	if (pid == 0) {
		close(errp[0]);
		run_command(s, std, tty, errp[1], born_in);
	}
	rep.child = pid;
	close(errp[1]);
	/* the command's ends are its own now */
	if (tty >= 0)
		close(tty);
	for (int i = 0; i < 3 && !s->pty; i++)
		if (std[i] != s->fds[i])
			close(std[i]);
	{
		struct step_err e;
		ssize_t k;

		do
			k = read(errp[0], &e, sizeof(e));
		while (k < 0 && errno == EINTR);
		close(errp[0]);
		if (k == (ssize_t)sizeof(e)) {
			e.step[sizeof(e.step) - 1] = '\0';
			snprintf(rep.step, sizeof(rep.step), "%s", e.step);
			rep.err = e.err ? e.err : EIO;
		}
	}
	audit_user_cmd(s, rep.err == 0);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		pid_t w = wait4(pid, &st, WNOHANG, &ru);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		relay_once(fwd, n_fwd, pidfd >= 0 ? 1000 : 100, pidfd);
	}
	/* what the command wrote last (a grandchild that keeps a pipe open
	 * gets 200 ms; the key holder kills what is left in the cgroup) */
	for (int i = 0; i < 20; i++) {
		bool any = false;

		for (size_t j = 0; j < n_fwd; j++)
			if (fwd[j].from != s->fds[0])
				any = any || fwd[j].open;
			else
				fwd[j].open = false;
		if (!any)
			break;
		relay_once(fwd, n_fwd, 10, -1);
	}
	rep.wstatus = st;
	rep.maxrss_kb = (uint64_t)ru.ru_maxrss;
	pam_close_session(ph, PAM_SILENT);
	pam_end(ph, PAM_SUCCESS);
	report(s, &rep);
	_exit(0);
}
