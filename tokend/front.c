/* SPDX-License-Identifier: MIT */
/*
 * The front process (tokend(8), "PRIVILEGE SEPARATION"): forked before any
 * key is loaded, it keeps only the listening socket and its end of the
 * socketpair, takes an empty root directory, becomes the unprivileged
 * front_user with no capabilities and no way to regain any, installs a
 * seccomp filter of the few system calls its loop makes, and then serves
 * the clients (server.c).
 */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "fileio.h"
#include "front.h"
#include "log.h"
#include "privsep.h"
#include "server.h"

/* Until its loop runs, the front's log lines go straight to the key holder. */
static int early_pair = -1;

static void early_sink(int prio, const char *line)
{
	struct ptbuf *m = ptbuf_new(PS_MAX_MSG);

	if (m && ps_encode_log(m, prio, line) == 0)
		ps_send_msg(early_pair, m, -1);
	ptbuf_free(m);
}

/* The front's root: an empty directory of root's that nobody may write. */
static int empty_dir(const char *state_dir, char *path, size_t len, char *err, size_t errlen)
{
	struct stat st;

	if ((size_t)snprintf(path, len, "%s/empty", state_dir) >= len) {
		snprintf(err, errlen, "state_dir too long for %s/empty", state_dir);
		return -ENAMETOOLONG;
	}
	if (mkdir(path, 0555) == 0)
		(void)chmod(path, 0555); /* whatever the umask (0077 under the unit) */
	else if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -errno;
	}
	if (lstat(path, &st) < 0) {
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0222)) {
		snprintf(err, errlen,
			 "%s must be a directory of uid %u that nobody may write (mode 0555)", path,
			 (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_nlink > 2) {
		snprintf(err, errlen, "%s must be empty (the front's root)", path);
		return -ENOTEMPTY;
	}
	return 0;
}

int pt_front_prepare(const struct pt_config *cfg, struct pt_front *ret, char *err, size_t errlen)
{
	struct pt_front f = { .uid = geteuid(), .gid = getegid() };
	int r;

	snprintf(f.user, sizeof(f.user), "%s", cfg->front_user);
	if (geteuid() != 0) {
		/* not root: nothing to drop to; the front runs as we do */
		struct passwd *pw = getpwuid(f.uid);
		snprintf(f.user, sizeof(f.user), "%s", pw ? pw->pw_name : "-");
		return *ret = f, 0;
	}
	errno = 0;
	struct passwd *pw = getpwnam(cfg->front_user);
	if (!pw) {
		snprintf(err, errlen,
			 "the front's user %s does not exist (tokend.front_user): create it with "
			 "\"adduser --system --group --no-create-home --home /nonexistent %s\"",
			 cfg->front_user, cfg->front_user);
		return -ENOENT;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errlen, "the front's user %s must not be root or of group root",
			 cfg->front_user);
		return -EPERM;
	}
	f.uid = pw->pw_uid;
	f.gid = pw->pw_gid;
	r = empty_dir(cfg->state_dir, f.root, sizeof(f.root), err, errlen);
	if (r < 0)
		return r;
	*ret = f;
	return 0;
}

/* The system calls the front's loop makes (and glibc's malloc under it);
 * anything else kills the process. Files cannot be opened at all.
 * getpeername: the address of a credential socket's peer (credential.h). */
static int install_seccomp(void)
{
	static const int allow[] = {
		SCMP_SYS(read),		 SCMP_SYS(write),	    SCMP_SYS(close),
		SCMP_SYS(recvmsg),	 SCMP_SYS(sendmsg),	    SCMP_SYS(recvfrom),
		SCMP_SYS(sendto),	 SCMP_SYS(accept4),	    SCMP_SYS(setsockopt),
		SCMP_SYS(epoll_wait),	 SCMP_SYS(epoll_pwait),	    SCMP_SYS(epoll_ctl),
		SCMP_SYS(epoll_create1), SCMP_SYS(fcntl),	    SCMP_SYS(dup),
		SCMP_SYS(poll),		 SCMP_SYS(ppoll),	    SCMP_SYS(clock_gettime),
		SCMP_SYS(gettimeofday),	 SCMP_SYS(munmap),	    SCMP_SYS(mremap),
		SCMP_SYS(brk),		 SCMP_SYS(madvise),	    SCMP_SYS(futex),
		SCMP_SYS(getrandom),	 SCMP_SYS(rt_sigreturn),    SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(exit),		 SCMP_SYS(exit_group),	    SCMP_SYS(getpid),
		SCMP_SYS(gettid),	 SCMP_SYS(getppid),	    SCMP_SYS(restart_syscall),
		SCMP_SYS(nanosleep),	 SCMP_SYS(clock_nanosleep), SCMP_SYS(sched_yield),
		SCMP_SYS(newfstatat),	 SCMP_SYS(fstat),	    SCMP_SYS(lseek),
		SCMP_SYS(writev),	 SCMP_SYS(sigaltstack),	    SCMP_SYS(getpeername),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r = ctx ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < sizeof(allow) / sizeof(allow[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow[i], 0);
	/* memory, never executable memory */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* glibc may try to open locale or time zone files: say no, do not die */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

/* Everything but the loop, in the child. Returns an exit status on failure. */
static int become_front(const struct pt_front *f, pid_t holder, int lfd, int cfd, int pair)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[2] = { 0 };
	const int keep[] = { lfd, pair, cfd };
	sigset_t all;
	int r;

	early_pair = pair;
	pt_log_set_sink(early_sink);
	closelog(); /* logs go to the key holder (PS_LOG) */
	pt_close_others(keep, cfd >= 0 ? 3 : 2);
	/* no stdio either: under systemd it is the journal's stream of tokend's
	 * main process, where raw bytes would pass for the key holder's lines */
	{
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			return 1;
		if (null > 2)
			close(null);
	}
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	/* the key holder decides when tokend stops: the front ends when its
	 * socketpair does (or dies with it, PR_SET_PDEATHSIG), not on a SIGTERM
	 * or SIGINT sent to the whole group (a unit's stop, Ctrl-C) */
	signal(SIGHUP, SIG_IGN); /* the key holder reloads; the front gets new limits */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	prctl(PR_SET_NAME, "tokend-front");
	if (geteuid() == 0) {
		if (chroot(f->root) < 0 || chdir("/") < 0) {
			pt_log_kv(LOG_ERR, "front", "error", "reason",
				  PT_LOG_F("chroot %s: %s", f->root, strerror(errno)), NULL);
			return 1;
		}
		for (unsigned cap = 0; cap <= CAP_LAST_CAP; cap++)
			if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
				prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
		if (setgroups(1, &f->gid) < 0 || setresgid(f->gid, f->gid, f->gid) < 0 ||
		    setresuid(f->uid, f->uid, f->uid) < 0) {
			pt_log_kv(LOG_ERR, "front", "error", "reason",
				  PT_LOG_F("cannot become %s: %s", f->user, strerror(errno)), NULL);
			return 1;
		}
		if (setuid(0) == 0 || geteuid() == 0) {
			pt_log_kv(LOG_ERR, "front", "error", "reason", "root came back", NULL);
			return 1;
		}
	} else if (chdir("/") < 0)
		return 1;
	/* what a non-root caller (or a capability left by a unit) may still hold */
	if (syscall(SYS_capset, &hdr, none) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		pt_log_kv(LOG_ERR, "front", "error", "reason",
			  PT_LOG_F("cannot drop capabilities: %s", strerror(errno)), NULL);
		return 1;
	}
	prctl(PR_SET_DUMPABLE, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* after the uid change, which clears it */
	if (getppid() != holder)
		return 1; /* the key holder is gone already */
	if (RUNNING_ON_VALGRIND) {
		pt_log_kv(LOG_WARNING, "front", "warning", "reason",
			  "running under valgrind: no seccomp filter", NULL);
	} else if ((r = install_seccomp()) < 0) {
		pt_log_kv(LOG_ERR, "front", "error", "reason",
			  PT_LOG_F("cannot install the seccomp filter: %s", strerror(-r)), NULL);
		return 1;
	}
	return 0;
}

int pt_front_spawn(const struct pt_front *f, int lfd, int cfd, pid_t *ret_pid, int *ret_pair,
		   char *err, size_t errlen)
{
	pid_t holder = getpid(), pid;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -errno;
	}
	(void)!setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int){ 1 << 20 }, sizeof(int));
	(void)!setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &(int){ 1 << 20 }, sizeof(int));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		int st;

		close(sv[0]);
		st = become_front(f, holder, lfd, cfd, sv[1]);
		if (st == 0)
			st = pt_front_run(lfd, cfd, sv[1]) < 0 ? 1 : 0;
		_exit(st); /* no atexit handlers of the key holder's */
	}
	close(sv[1]);
	*ret_pid = pid;
	*ret_pair = sv[0];
	return 0;
}
