/* SPDX-License-Identifier: MIT */
/* Peer identification: see peer.h. */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "peer.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; Debian 12's headers predate it */
#endif

static bool same_file(const struct stat *a, dev_t dev, ino_t ino)
{
	return a->st_dev == dev && a->st_ino == ino;
}

/* Whether the process behind pidfd still exists: signal 0 only probes, and
 * EPERM proves it exists as well (tokend keeps no CAP_KILL). Without a
 * pidfd (before Linux 6.5) there is nothing better than the pid's /proc
 * entry. */
static bool alive(int pidfd)
{
	if (pidfd < 0)
		return true;
	return !(syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno == ESRCH);
}

/* The actor path whose file, pinned at config load, is (dev, ino). */
static const char *pinned_path(const struct pt_config *cfg, dev_t dev, ino_t ino)
{
	for (size_t i = 0; cfg && i < cfg->n_actors; i++) {
		const struct pt_actor *a = &cfg->actors[i];

		for (size_t j = 0; a->pins && j < a->n_exe; j++)
			if (a->pins[j].fd >= 0 && a->pins[j].dev == dev && a->pins[j].ino == ino)
				return a->exe[j];
	}
	return NULL;
}

void pt_peer_read(const struct pt_config *cfg, int fd, struct pt_peer *peer)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct stat exe_st, path_st;
	const char *pinned;
	char dir[32];
	int pidfd = -1;
	ssize_t n;

	memset(peer, 0, sizeof(*peer));
	peer->uid = (uid_t)-1;
	peer->gid = (gid_t)-1;
	peer->procfd = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return;
	peer->uid = uc.uid;
	peer->gid = uc.gid;
	peer->pid = uc.pid;
	if (uc.pid <= 0)
		return;
	len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
		pidfd = -1;
		/* only a kernel without the option (before 6.5) leaves the /proc
		 * entry as the best there is; any other failure (a peer already
		 * reaped) means the process that connected is gone */
		if (errno != ENOPROTOOPT) {
			peer->exe_known = false;
			return;
		}
	}
	/* /proc/PID, held: it keeps naming this process (lookups in it fail once
	 * the process is gone, whoever gets the pid next) */
	snprintf(dir, sizeof(dir), "/proc/%d", (int)uc.pid);
	peer->procfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	/* everything below is anchored on this file: the one the process runs */
	if (peer->procfd < 0 || fstatat(peer->procfd, "exe", &exe_st, 0) < 0)
		goto out;
	n = readlinkat(peer->procfd, "exe", peer->exe, sizeof(peer->exe) - 1);
	if (n > 0) {
		peer->exe[n] = '\0';
		/* The path is the one the peer sees: in another mount namespace
		 * "/usr/sbin/atd" may be any file. Only trust it when it names the
		 * same file in ours. */
		if (stat(peer->exe, &path_st) == 0 &&
		    same_file(&path_st, exe_st.st_dev, exe_st.st_ino))
			peer->exe_known = true;
	}
	if (!peer->exe_known) {
		/* moved away or replaced on disk since: the file an actor's path held
		 * when the configuration was loaded is still that actor's */
		pinned = pinned_path(cfg, exe_st.st_dev, exe_st.st_ino);
		if (pinned) {
			snprintf(peer->exe, sizeof(peer->exe), "%s", pinned);
			peer->exe_known = true;
		}
	}
	if (!alive(pidfd)) {
		/* the process that connected is gone: whatever we read (and the
		 * /proc entry we hold) is not its */
		peer->exe_known = false;
		goto out;
	}
	peer->exe_seen = true;
	peer->exe_dev = exe_st.st_dev;
	peer->exe_ino = exe_st.st_ino;
out:
	if (pidfd >= 0)
		close(pidfd);
	if (!peer->exe_seen && peer->procfd >= 0) {
		close(peer->procfd);
		peer->procfd = -1;
	}
}

int pt_peer_recheck(const struct pt_peer *peer)
{
	struct stat st;

	if (!peer->exe_seen)
		return 0;
	if (fstatat(peer->procfd, "exe", &st, 0) < 0)
		return -ESRCH; /* the process is gone */
	if (!same_file(&st, peer->exe_dev, peer->exe_ino))
		return -ESTALE;
	return 0;
}

void pt_peer_clear(struct pt_peer *peer)
{
	if (peer->procfd >= 0)
		close(peer->procfd);
	peer->procfd = -1;
}
