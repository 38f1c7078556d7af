/* SPDX-License-Identifier: MIT */
/*
 * The RPO reaper (pt_rpo_reap, rpo.h), run by tokend's housekeeping. For
 * each RPO past its not_after or revoked, not yet reaped:
 *   1. lock: its home becomes root's (0700), so nothing of the RPO's writes
 *      there any more; libnss_pertok stops resolving it at not_after (the
 *      cache's expiry) and pam_pertok's account stage refuses it already;
 *   2. end its sessions: SIGKILL to every process with the uid as a real,
 *      effective, saved or filesystem uid (through a pidfd: no pid reuse),
 *      and cgroup.kill of its systemd user slice where there is one;
 *   3. entitlements go with it (they are the template's, looked up live);
 *   4. archive the home: renamed to STATE_DIR/archive/NAME-NOT_AFTER (or,
 *      on another file system, HOME_BASE/.pertok-archive/NAME-NOT_AFTER);
 *   5. tombstone: the record is marked expired (durably) and its uid and
 *      name are never given out again;
 *   6. RPO_EXPIRED in the audit trail.
 * A step that fails is logged and retried at the next housekeeping (the
 * record is marked only when the processes are gone and the home moved).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "fileio.h"
#include "log.h"
#include "ops.h"
#include "rpo-internal.h"
#include "util.h"

#define KILL_ROUNDS 5

/* Does /proc/PID/status name uid among Uid: (real, effective, saved, fs)? */
static bool proc_has_uid(int procfd, const char *pid, uid_t uid)
{
	char path[300], buf[4096], *l;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/status", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	l = strstr(buf, "\nUid:");
	if (!l)
		return false;
	for (int i = 0; i < 4; i++) {
		char *end;
		unsigned long v;

		l += strcspn(l, "0123456789");
		v = strtoul(l, &end, 10);
		if (end == l)
			break;
		if (v == uid)
			return true;
		l = end;
	}
	return false;
}

/* SIGKILL to uid's processes; how many were signalled. */
static unsigned kill_uid(uid_t uid)
{
	_cleanup_close_ int procfd = -1;
	unsigned n = 0;
	DIR *dir;
	struct dirent *e;

	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return 0;
	dir = fdopendir(dup(procfd));
	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		pid_t pid;
		int pfd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid = (pid_t)atoi(e->d_name);
		if (pid <= 1 || pid == getpid())
			continue;
		pfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pfd < 0)
			continue;
		/* the uid is read after the pidfd pins the process */
		if (proc_has_uid(procfd, e->d_name, uid) &&
		    syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) == 0)
			n++;
		close(pfd);
	}
	closedir(dir);
	return n;
}

/* systemd's user slice of uid, when there is one: every process in it. */
static void kill_slice(uid_t uid)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/sys/fs/cgroup/user.slice/user-%u.slice/cgroup.kill",
		 (unsigned)uid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1", 1) < 0)
		pt_log_kv(LOG_WARNING, "rpo.reap", "warning", "reason",
			  PT_LOG_F("%s: %s", path, strerror(errno)), NULL);
	close(fd);
}

/* Takes the home from the RPO (root's, 0700) and moves it to the archive.
 * 0, or -errno (logged by the caller). *ret_where: where it went ("" when
 * there was no home). */
static int archive_home(struct pt_daemon *d, const struct pt_rpo *r, char *ret_where, size_t len)
{
	char home[PATH_MAX], dir[PATH_MAX], dst[PATH_MAX];
	_cleanup_close_ int fd = -1;
	struct stat st;
	int n;

	ret_where[0] = '\0';
	if (pt_rpo_home(d, r, home, sizeof(home)) < 0)
		return -ENAMETOOLONG;
	/* O_PATH: the home is the RPO's, 0700, and tokend keeps no
	 * CAP_DAC_OVERRIDE; it takes the directory back (CAP_CHOWN), then it
	 * may open it (home_base is root's: nobody swaps the name meanwhile) */
	fd = open(home, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != r->uid && st.st_uid != 0)
		return -EPERM; /* not the directory tokend made for it */
	if (fchownat(fd, "", 0, 0, AT_EMPTY_PATH) < 0)
		return -errno;
	close(fd);
	fd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0700) < 0)
		return -errno;
	snprintf(dir, sizeof(dir), "%s/archive", d->cfg->state_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	n = snprintf(dst, sizeof(dst), "%s/%s-%llu", dir, r->name,
		     (unsigned long long)r->not_after);
	if (n < 0 || (size_t)n >= sizeof(dst))
		return -ENAMETOOLONG;
	if (rename(home, dst) < 0) {
		if (errno != EXDEV)
			return -errno;
		/* another file system: beside the homes, out of the way */
		snprintf(dir, sizeof(dir), "%s/.pertok-archive", d->cfg->rpo.home_base);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		n = snprintf(dst, sizeof(dst), "%s/%s-%llu", dir, r->name,
			     (unsigned long long)r->not_after);
		if (n < 0 || (size_t)n >= sizeof(dst))
			return -ENAMETOOLONG;
		if (rename(home, dst) < 0)
			return -errno;
	}
	snprintf(ret_where, len, "%s", dst);
	return 0;
}

static void reap_one(struct pt_daemon *d, const struct pt_rpo *r, uint64_t now)
{
	char where[PATH_MAX], reason[PATH_MAX + 128];
	unsigned killed = 0, n;
	int ret;

	/* lock first (a process that forks meanwhile is met by the next round) */
	ret = archive_home(d, r, where, sizeof(where));
	for (int round = 0; round < KILL_ROUNDS; round++) {
		kill_slice(r->uid);
		n = kill_uid(r->uid);
		killed += n;
		if (n == 0)
			break;
		usleep(20000);
	}
	if (ret < 0) {
		pt_log_kv(LOG_ERR, "rpo.reap", "error", "rpo", r->id, "user", r->name, "reason",
			  PT_LOG_F("cannot archive its home: %s; retried at the next housekeeping",
				   strerror(-ret)),
			  NULL);
		return;
	}
	ret = pt_rpo_mark_expired(d, r);
	if (ret < 0) {
		pt_log_kv(LOG_ERR, "rpo.reap", "error", "rpo", r->id, "reason",
			  PT_LOG_F("cannot write its tombstone: %s", strerror(-ret)), NULL);
		return;
	}
	snprintf(reason, sizeof(reason), "%s; uid %u tombstoned; %u process(es) ended; home %s",
		 r->revoked ? "revoked" : "not_after passed", (unsigned)r->uid, killed,
		 where[0] ? where : "(none)");
	{
		struct pt_audit_event ev = {
			.op = "RPO_EXPIRED",
			.result = r->revoked ? "revoked" : "expired",
			.user = r->name,
			.holder = r->tmpl_hash,
			.peer_uid = 0,
			.peer_pid = getpid(),
			.reason = reason,
			.id = r->id,
		};

		if (d->audit && (pt_audit_append(d->audit, &ev) < 0 || pt_audit_sync(d->audit) < 0))
			pt_log_kv(LOG_ERR, "audit", "error", "reason",
				  pt_audit_failure(d->audit) ?: "cannot record RPO_EXPIRED", NULL);
	}
	pt_log_kv(LOG_NOTICE, "rpo.reap", "allow", "rpo", r->id, "user", r->name, "uid",
		  PT_LOG_U(r->uid), "killed", PT_LOG_U(killed), "archive", where[0] ? where : "-",
		  "at", PT_LOG_U(now), NULL);
}

static uint64_t boot_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void pt_rpo_reap(struct pt_daemon *d, uint64_t now)
{
	uint64_t boot = boot_ms(), delay_ms = d->cfg->rpo.reap_delay * 1000;
	size_t n;
	const struct pt_rpo *all = pt_rpo_all(d, &n);

	for (size_t i = 0; i < n; i++) {
		struct pt_rpo *r = (struct pt_rpo *)&all[i];

		if (r->expired)
			continue;
		if (!r->revoked && now < r->not_after) {
			r->dead_since_ms = 0;
			continue;
		}
		/* a revocation is the administrator's word; a passed not_after is
		 * one wall-clock reading, confirmed by reap_delay of boot time
		 * (a clock stepped forward by mistake removes nothing at once;
		 * access is refused from not_after on regardless) */
		if (!r->revoked) {
			if (!r->dead_since_ms) {
				r->dead_since_ms = boot ? boot : 1;
				if (delay_ms)
					continue;
			}
			if (boot - r->dead_since_ms < delay_ms)
				continue;
		}
		reap_one(d, r, now);
	}
}
